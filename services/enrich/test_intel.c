/* Tests of threat intel's pure parts (normalisation and range checks, request
 * builders, verdict reducers on the answers in tests/fixtures/intel, the token
 * bucket, settings) and of its Postgres statements (quota and cache), the latter
 * only with HUTCH_TEST_DATABASE_URL set (a database they may wipe, as test_pg.c).
 * Run from the repository root (fixtures are read by relative path). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "common/log.h"
#include "common/pg.h"
#include "services/enrich/intel_client.h"
#include "services/enrich/intel_indicator.h"
#include "services/enrich/intel_provider.h"
#include "services/enrich/intel_quota.h"

static const psl_ctx_t *psl;

/* ---- normalisation ---- */

typedef struct {
    const char *in;
    int rc;
    const char *kind; /* NULL when rc is INVALID */
    const char *value;
    const char *domain; /* registrable domain, "" for none */
} norm_case;

static const norm_case norm_cases[] = {
    /* IPv4 and its defanged forms */
    {"8.8.8.8", INTEL_NORM_OK, "ip", "8.8.8.8", ""},
    {" 45.155.205.233\n", INTEL_NORM_OK, "ip", "45.155.205.233", ""},
    {"45.155.205[.]233", INTEL_NORM_OK, "ip", "45.155.205.233", ""},
    {"45[.]155[.]205[.]233", INTEL_NORM_OK, "ip", "45.155.205.233", ""},
    {"45(.)155(.)205(.)233", INTEL_NORM_OK, "ip", "45.155.205.233", ""},
    {"45[dot]155[DOT]205{.}233", INTEL_NORM_OK, "ip", "45.155.205.233", ""},
    {"045.155.205.233", INTEL_NORM_INVALID, NULL, NULL, NULL}, /* octal-looking: refused, not guessed */
    {"1.2.3", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"256.1.1.1", INTEL_NORM_INVALID, NULL, NULL, NULL},
    /* ranges never asked about */
    {"10.1.2.3", INTEL_NORM_NOT_PUBLIC, "ip", "10.1.2.3", ""},
    {"172.16.0.1", INTEL_NORM_NOT_PUBLIC, "ip", "172.16.0.1", ""},
    {"172.31.255.255", INTEL_NORM_NOT_PUBLIC, "ip", "172.31.255.255", ""},
    {"172.32.0.1", INTEL_NORM_OK, "ip", "172.32.0.1", ""},
    {"192.168.1[.]1", INTEL_NORM_NOT_PUBLIC, "ip", "192.168.1.1", ""},
    {"127.0.0.1", INTEL_NORM_NOT_PUBLIC, "ip", "127.0.0.1", ""},
    {"169.254.169.254", INTEL_NORM_NOT_PUBLIC, "ip", "169.254.169.254", ""},
    {"100.64.0.1", INTEL_NORM_NOT_PUBLIC, "ip", "100.64.0.1", ""},
    {"100.127.255.254", INTEL_NORM_NOT_PUBLIC, "ip", "100.127.255.254", ""},
    {"100.128.0.1", INTEL_NORM_OK, "ip", "100.128.0.1", ""},
    {"192.0.2.10", INTEL_NORM_NOT_PUBLIC, "ip", "192.0.2.10", ""},
    {"198.51.100.7", INTEL_NORM_NOT_PUBLIC, "ip", "198.51.100.7", ""},
    {"203.0.113.99", INTEL_NORM_NOT_PUBLIC, "ip", "203.0.113.99", ""},
    {"224.0.0.251", INTEL_NORM_NOT_PUBLIC, "ip", "224.0.0.251", ""},
    {"239.255.255.250", INTEL_NORM_NOT_PUBLIC, "ip", "239.255.255.250", ""},
    {"255.255.255.255", INTEL_NORM_NOT_PUBLIC, "ip", "255.255.255.255", ""},
    {"0.0.0.0", INTEL_NORM_NOT_PUBLIC, "ip", "0.0.0.0", ""},
    /* IPv6 forms */
    {"2606:4700:4700::1111", INTEL_NORM_OK, "ip", "2606:4700:4700::1111", ""},
    {"2606:4700:4700:0000:0000:0000:0000:1111", INTEL_NORM_OK, "ip", "2606:4700:4700::1111", ""},
    {"2606:4700:4700:0:0:0:0:1111", INTEL_NORM_OK, "ip", "2606:4700:4700::1111", ""},
    {"2606:4700:4700:0:0:0:0:0001", INTEL_NORM_OK, "ip", "2606:4700:4700::1", ""},
    {"[2a00:1450:4001:82a::200e]", INTEL_NORM_OK, "ip", "2a00:1450:4001:82a::200e", ""},
    {"2A00:1450:4001:082A::200E", INTEL_NORM_OK, "ip", "2a00:1450:4001:82a::200e", ""},
    {"2a00[:]1450[:]4001[:]82a[:][:]200e", INTEL_NORM_OK, "ip", "2a00:1450:4001:82a::200e", ""},
    {"::ffff:8.8.8.8", INTEL_NORM_OK, "ip", "8.8.8.8", ""},
    {"::ffff:10.0.0.1", INTEL_NORM_NOT_PUBLIC, "ip", "10.0.0.1", ""},
    {"::1", INTEL_NORM_NOT_PUBLIC, "ip", "::1", ""},
    {"fe80::1", INTEL_NORM_NOT_PUBLIC, "ip", "fe80::1", ""},
    {"fe80::1%eth0", INTEL_NORM_NOT_PUBLIC, "ip", "fe80::1%eth0", ""},
    {"fd12:3456:789a::1", INTEL_NORM_NOT_PUBLIC, "ip", "fd12:3456:789a::1", ""},
    {"ff02::1", INTEL_NORM_NOT_PUBLIC, "ip", "ff02::1", ""},
    {"2001:db8::1", INTEL_NORM_NOT_PUBLIC, "ip", "2001:db8::1", ""},
    {"2001:0:4136:e378::1", INTEL_NORM_NOT_PUBLIC, "ip", "2001:0:4136:e378::1", ""}, /* Teredo */
    {"::", INTEL_NORM_NOT_PUBLIC, "ip", "::", ""},
    {"2606:4700::1111::1", INTEL_NORM_INVALID, NULL, NULL, NULL},
    /* ip:port (ThreatFox) */
    {"45.155.205.233:50050", INTEL_NORM_OK, "ip_port", "45.155.205.233:50050", ""},
    {"45.155.205[.]233[:]443", INTEL_NORM_OK, "ip_port", "45.155.205.233:443", ""},
    {"[2606:4700:4700:0::1111]:443", INTEL_NORM_OK, "ip_port", "[2606:4700:4700::1111]:443", ""},
    {"10.0.0.1:8080", INTEL_NORM_NOT_PUBLIC, "ip_port", "10.0.0.1:8080", ""},
    {"45.155.205.233:70000", INTEL_NORM_INVALID, NULL, NULL, NULL},
    /* domains and host names */
    {"Example.COM", INTEL_NORM_OK, "domain", "example.com", "example.com"},
    {"example.com.", INTEL_NORM_OK, "domain", "example.com", "example.com"},
    {"evil[.]example[.]com", INTEL_NORM_OK, "hostname", "evil.example.com", "example.com"},
    {"login.microsoftonline.com", INTEL_NORM_OK, "hostname", "login.microsoftonline.com", "microsoftonline.com"},
    {"www.bbc.co.uk", INTEL_NORM_OK, "hostname", "www.bbc.co.uk", "bbc.co.uk"},
    {"bbc.co.uk", INTEL_NORM_OK, "domain", "bbc.co.uk", "bbc.co.uk"},
    {"foo.github.io", INTEL_NORM_OK, "domain", "foo.github.io", "foo.github.io"},
    {"co.uk", INTEL_NORM_NOT_PUBLIC, "domain", "co.uk", ""},
    {"host.corp.local", INTEL_NORM_NOT_PUBLIC, "hostname", "host.corp.local", ""},
    {"db.internal", INTEL_NORM_NOT_PUBLIC, "domain", "db.internal", ""},
    {"localhost", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"-bad.example.com", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"bad-.example.com", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"a..example.com", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"exa mple.com", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"   ", INTEL_NORM_INVALID, NULL, NULL, NULL},
    /* IDN: to punycode (IDNA 2008, NFC first) */
    {"bücher.de", INTEL_NORM_OK, "domain", "xn--bcher-kva.de", "xn--bcher-kva.de"},
    {"BÜCHER.de", INTEL_NORM_OK, "domain", "xn--bcher-kva.de", "xn--bcher-kva.de"},
    {"bu\xcc\x88" "cher.de", INTEL_NORM_OK, "domain", "xn--bcher-kva.de", "xn--bcher-kva.de"}, /* NFD */
    {"www.bücher[.]de", INTEL_NORM_OK, "hostname", "www.xn--bcher-kva.de", "xn--bcher-kva.de"},
    {"пример.рф", INTEL_NORM_OK, "domain", "xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"},
    {"xn--e1afmkfd.xn--p1ai", INTEL_NORM_OK, "domain", "xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"},
    {"例え.jp", INTEL_NORM_OK, "domain", "xn--r8jz45g.jp", "xn--r8jz45g.jp"},
    {"\xff\xfe.com", INTEL_NORM_INVALID, NULL, NULL, NULL}, /* not UTF-8 */
    /* URLs */
    {"hxxp://evil[.]example[.]com/a?b=c", INTEL_NORM_OK, "url", "http://evil.example.com/a?b=c", "example.com"},
    {"hXXps[:]//Evil.Example.com/Path", INTEL_NORM_OK, "url", "https://evil.example.com/Path", "example.com"},
    {"https[:]//evil.example.com", INTEL_NORM_OK, "url", "https://evil.example.com/", "example.com"},
    {"http[://]evil.example.com/x", INTEL_NORM_OK, "url", "http://evil.example.com/x", "example.com"},
    {"HTTP://user:secret@evil.example.com:8080/x", INTEL_NORM_OK, "url", "http://evil.example.com:8080/x",
     "example.com"},
    {"http://45.155.205[.]233/bins/mozi.m", INTEL_NORM_OK, "url", "http://45.155.205.233/bins/mozi.m", ""},
    {"http://[2606:4700:4700:0::1111]:8443/x", INTEL_NORM_OK, "url", "http://[2606:4700:4700::1111]:8443/x", ""},
    {"http://192.168.0.1/admin", INTEL_NORM_NOT_PUBLIC, "url", "http://192.168.0.1/admin", ""},
    {"http://intranet.corp.local/", INTEL_NORM_NOT_PUBLIC, "url", "http://intranet.corp.local/", ""},
    {"https://bücher.de/ä", INTEL_NORM_OK, "url", "https://xn--bcher-kva.de/ä", "xn--bcher-kva.de"},
    {"fxp://files.example.com/x", INTEL_NORM_OK, "url", "ftp://files.example.com/x", "example.com"},
    {"javascript://alert(1)", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"http://", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"http://evil.example.com:99999/", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"http://[::1/", INTEL_NORM_INVALID, NULL, NULL, NULL},
    /* hashes */
    {"44D88612FEA8A8F36DE82E1278ABB02F", INTEL_NORM_OK, "md5", "44d88612fea8a8f36de82e1278abb02f", ""},
    {"3395856ce81f2b7382dee72602f798b642f14140", INTEL_NORM_OK, "sha1", "3395856ce81f2b7382dee72602f798b642f14140", ""},
    {"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", INTEL_NORM_OK, "sha256",
     "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", ""},
    {"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0", INTEL_NORM_INVALID, NULL, NULL, NULL},
    {"44d88612fea8a8f36de82e1278abb02g", INTEL_NORM_INVALID, NULL, NULL, NULL},
    /* ASNs */
    {"AS13335", INTEL_NORM_OK, "asn", "AS13335", ""},
    {"as013335", INTEL_NORM_OK, "asn", "AS13335", ""},
    {"AS64512", INTEL_NORM_NOT_PUBLIC, "asn", "AS64512", ""},
    {"AS0", INTEL_NORM_INVALID, NULL, NULL, NULL},
};

static void test_normalize_table(void **state)
{
    for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases[0]; i++) {
        const norm_case *c = &norm_cases[i];
        intel_indicator ind;
        int rc = intel_normalize(psl, c->in, &ind);
        if (rc != c->rc)
            fail_msg("case %zu \"%s\": rc %d, want %d (kind %s value %s)", i, c->in, rc, c->rc,
                     intel_kind_name(ind.kind), ind.value);
        if (!c->kind)
            continue;
        if (strcmp(intel_kind_name(ind.kind), c->kind) || strcmp(ind.value, c->value) || strcmp(ind.domain, c->domain))
            fail_msg("case %zu \"%s\": %s \"%s\" domain \"%s\", want %s \"%s\" domain \"%s\"", i, c->in,
                     intel_kind_name(ind.kind), ind.value, ind.domain, c->kind, c->value, c->domain);
    }
}

static void test_normalize_limits(void **state)
{
    intel_indicator ind;
    assert_int_equal(intel_normalize(psl, NULL, &ind), INTEL_NORM_INVALID);
    char *big = malloc(INTEL_VALUE_MAX + 2);
    memset(big, 'a', INTEL_VALUE_MAX + 1);
    big[INTEL_VALUE_MAX + 1] = 0;
    assert_int_equal(intel_normalize(psl, big, &ind), INTEL_NORM_INVALID);
    /* a 254-character name is too long; a 64-character label too */
    memset(big, 'a', 63);
    strcpy(big + 63, ".com");
    assert_int_equal(intel_normalize(psl, big, &ind), INTEL_NORM_OK);
    memset(big, 'a', 64);
    strcpy(big + 64, ".com");
    assert_int_equal(intel_normalize(psl, big, &ind), INTEL_NORM_INVALID);
    free(big);
    /* the kinds' names round-trip */
    for (int k = INTEL_KIND_IP; k <= INTEL_KIND_ASN; k++)
        assert_int_equal(intel_kind_parse(intel_kind_name((intel_kind)k)), k);
    assert_int_equal(intel_kind_parse("nope"), -1);
}

/* ---- requests ---- */

static intel_indicator norm(const char *text)
{
    intel_indicator ind;
    int rc = intel_normalize(psl, text, &ind);
    if (rc != INTEL_NORM_OK)
        fail_msg("normalize %s: %d", text, rc);
    return ind;
}

typedef struct {
    intel_provider p;
    const char *value;
    const char *method;
    const char *url;
    const char *header0, *header1;
    const char *body;
} req_case;

static const req_case req_cases[] = {
    {INTEL_VIRUSTOTAL, "45.155.205.233", "GET", "https://www.virustotal.com/api/v3/ip_addresses/45.155.205.233",
     "x-apikey: K3Y", NULL, NULL},
    {INTEL_VIRUSTOTAL, "evil.example.com", "GET", "https://www.virustotal.com/api/v3/domains/evil.example.com",
     "x-apikey: K3Y", NULL, NULL},
    {INTEL_VIRUSTOTAL, "44d88612fea8a8f36de82e1278abb02f", "GET",
     "https://www.virustotal.com/api/v3/files/44d88612fea8a8f36de82e1278abb02f", "x-apikey: K3Y", NULL, NULL},
    /* base64url("http://evil.example.com/a?b=c") without padding */
    {INTEL_VIRUSTOTAL, "http://evil.example.com/a?b=c", "GET",
     "https://www.virustotal.com/api/v3/urls/aHR0cDovL2V2aWwuZXhhbXBsZS5jb20vYT9iPWM", "x-apikey: K3Y", NULL, NULL},
    {INTEL_ABUSEIPDB, "2606:4700:4700::1111", "GET",
     "https://api.abuseipdb.com/api/v2/check?ipAddress=2606%3A4700%3A4700%3A%3A1111&maxAgeInDays=90", "Key: K3Y",
     "Accept: application/json", NULL},
    {INTEL_OTX, "45.155.205.233", "GET", "https://otx.alienvault.com/api/v1/indicators/IPv4/45.155.205.233/general",
     "X-OTX-API-KEY: K3Y", NULL, NULL},
    {INTEL_OTX, "2606:4700:4700::1111", "GET",
     "https://otx.alienvault.com/api/v1/indicators/IPv6/2606%3A4700%3A4700%3A%3A1111/general", "X-OTX-API-KEY: K3Y",
     NULL, NULL},
    {INTEL_OTX, "www.example.com", "GET", "https://otx.alienvault.com/api/v1/indicators/hostname/www.example.com/general",
     "X-OTX-API-KEY: K3Y", NULL, NULL},
    {INTEL_OTX, "http://evil.example.com/a?b=c", "GET",
     "https://otx.alienvault.com/api/v1/indicators/url/http%3A%2F%2Fevil.example.com%2Fa%3Fb%3Dc/general",
     "X-OTX-API-KEY: K3Y", NULL, NULL},
    {INTEL_OTX, "3395856ce81f2b7382dee72602f798b642f14140", "GET",
     "https://otx.alienvault.com/api/v1/indicators/file/3395856ce81f2b7382dee72602f798b642f14140/general",
     "X-OTX-API-KEY: K3Y", NULL, NULL},
    {INTEL_SHODAN, "45.155.205.233", "GET", "https://api.shodan.io/shodan/host/45.155.205.233?key=K3Y&minify=true",
     NULL, NULL, NULL},
    {INTEL_URLSCAN, "example.com", "GET", "https://urlscan.io/api/v1/search/?q=domain%3Aexample.com&size=100",
     "API-Key: K3Y", NULL, NULL},
    {INTEL_URLSCAN, "45.155.205.233", "GET",
     "https://urlscan.io/api/v1/search/?q=ip%3A%2245.155.205.233%22&size=100", "API-Key: K3Y", NULL, NULL},
    {INTEL_URLSCAN, "https://evil.example.com/x", "GET",
     "https://urlscan.io/api/v1/search/?q=page.url%3A%22https%3A%2F%2Fevil.example.com%2Fx%22&size=100",
     "API-Key: K3Y", NULL, NULL},
    {INTEL_URLHAUS, "http://45.155.205.233/bins/mozi.m", "POST", "https://urlhaus-api.abuse.ch/v1/url/",
     "Auth-Key: K3Y", "Content-Type: application/x-www-form-urlencoded",
     "url=http%3A%2F%2F45.155.205.233%2Fbins%2Fmozi.m"},
    {INTEL_URLHAUS, "45.155.205.233", "POST", "https://urlhaus-api.abuse.ch/v1/host/", "Auth-Key: K3Y",
     "Content-Type: application/x-www-form-urlencoded", "host=45.155.205.233"},
    {INTEL_URLHAUS, "44d88612fea8a8f36de82e1278abb02f", "POST", "https://urlhaus-api.abuse.ch/v1/payload/",
     "Auth-Key: K3Y", "Content-Type: application/x-www-form-urlencoded",
     "md5_hash=44d88612fea8a8f36de82e1278abb02f"},
    {INTEL_URLHAUS, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "POST",
     "https://urlhaus-api.abuse.ch/v1/payload/", "Auth-Key: K3Y", "Content-Type: application/x-www-form-urlencoded",
     "sha256_hash=275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"},
    {INTEL_THREATFOX, "45.155.205.233:50050", "POST", "https://threatfox-api.abuse.ch/api/v1/", "Auth-Key: K3Y",
     "Content-Type: application/json",
     "{\"query\":\"search_ioc\",\"search_term\":\"45.155.205.233:50050\",\"exact_match\":true}"},
    {INTEL_THREATFOX, "44d88612fea8a8f36de82e1278abb02f", "POST", "https://threatfox-api.abuse.ch/api/v1/",
     "Auth-Key: K3Y", "Content-Type: application/json",
     "{\"query\":\"search_hash\",\"hash\":\"44d88612fea8a8f36de82e1278abb02f\"}"},
    {INTEL_MALWAREBAZAAR, "3395856ce81f2b7382dee72602f798b642f14140", "POST", "https://mb-api.abuse.ch/api/v1/",
     "Auth-Key: K3Y", "Content-Type: application/x-www-form-urlencoded",
     "query=get_info&hash=3395856ce81f2b7382dee72602f798b642f14140"},
    {INTEL_RDAP, "45.155.205.233", "GET", "https://rdap.org/ip/45.155.205.233", "Accept: application/rdap+json", NULL,
     NULL},
    {INTEL_RDAP, "bücher.de", "GET", "https://rdap.org/domain/xn--bcher-kva.de", "Accept: application/rdap+json",
     NULL, NULL},
    {INTEL_RDAP, "AS13335", "GET", "https://rdap.org/autnum/13335", "Accept: application/rdap+json", NULL, NULL},
};

static void test_request_table(void **state)
{
    for (size_t i = 0; i < sizeof req_cases / sizeof req_cases[0]; i++) {
        const req_case *c = &req_cases[i];
        intel_indicator ind = norm(c->value);
        intel_request r;
        assert_int_equal(intel_request_build(c->p, NULL, "K3Y", &ind, &r), INTEL_REQ_OK);
        if (strcmp(r.method, c->method) || strcmp(r.url, c->url))
            fail_msg("case %zu %s %s: %s %s, want %s %s", i, intel_provider_name(c->p), c->value, r.method, r.url,
                     c->method, c->url);
        if (c->header0)
            assert_string_equal(r.headers[0], c->header0);
        else
            assert_null(r.headers[0]);
        if (c->header1)
            assert_string_equal(r.headers[1], c->header1);
        else if (c->header0)
            assert_null(r.headers[1]);
        if (c->body)
            assert_string_equal(r.body, c->body);
        else
            assert_null(r.body);
        /* the loggable path never holds the key */
        assert_null(strstr(r.log_path, "K3Y"));
        intel_request_free(&r);
    }
}

static void test_request_base_url_and_unsupported(void **state)
{
    intel_indicator ip = norm("45.155.205.233");
    intel_request r;
    assert_int_equal(intel_request_build(INTEL_VIRUSTOTAL, "http://127.0.0.1:8080/vt/api/v3/", "k", &ip, &r),
                     INTEL_REQ_OK);
    assert_string_equal(r.url, "http://127.0.0.1:8080/vt/api/v3/ip_addresses/45.155.205.233");
    assert_string_equal(r.log_path, "/ip_addresses/45.155.205.233");
    intel_request_free(&r);
    intel_request_free(NULL);
    /* OTX without a key asks without the header (general is public) */
    assert_int_equal(intel_request_build(INTEL_OTX, NULL, NULL, &ip, &r), INTEL_REQ_OK);
    assert_null(r.headers[0]);
    intel_request_free(&r);
    intel_indicator h = norm("44d88612fea8a8f36de82e1278abb02f");
    intel_indicator d = norm("example.com");
    intel_indicator ipp = norm("45.155.205.233:443");
    assert_int_equal(intel_request_build(INTEL_ABUSEIPDB, NULL, "k", &h, &r), INTEL_REQ_UNSUPPORTED);
    assert_int_equal(intel_request_build(INTEL_SHODAN, NULL, "k", &d, &r), INTEL_REQ_UNSUPPORTED);
    assert_int_equal(intel_request_build(INTEL_MALWAREBAZAAR, NULL, "k", &ip, &r), INTEL_REQ_UNSUPPORTED);
    assert_int_equal(intel_request_build(INTEL_VIRUSTOTAL, NULL, "k", &ipp, &r), INTEL_REQ_UNSUPPORTED);
    assert_int_equal(intel_request_build(INTEL_RDAP, NULL, "k", &h, &r), INTEL_REQ_UNSUPPORTED);
    /* a value can never change the request's shape */
    intel_indicator u = norm("http://evil.example.com/a&key=x#frag");
    assert_int_equal(intel_request_build(INTEL_URLHAUS, NULL, "k", &u, &r), INTEL_REQ_OK);
    assert_string_equal(r.body, "url=http%3A%2F%2Fevil.example.com%2Fa%26key%3Dx%23frag");
    intel_request_free(&r);
    for (int p = 0; p < INTEL_PROVIDER_COUNT; p++)
        assert_int_equal(intel_provider_parse(intel_provider_name((intel_provider)p)), p);
    assert_int_equal(intel_provider_parse("whois"), -1);
}

/* ---- reducers ---- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (run from the repository root)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

typedef struct {
    intel_provider p;
    const char *value;
    long status;
    const char *fixture;
    const char *verdict;
    int score;
    bool not_found;
    const char *summary;
    const char *link;
} reduce_case;

#define NOW_S 1796212800 /* 2026-12-02T12:00:00Z: after the fixtures' dates */
#define FIX "tests/fixtures/intel/"
static const reduce_case reduce_cases[] = {
    {INTEL_VIRUSTOTAL, "45.155.205.233", 200, FIX "virustotal/ip_malicious.json", "malicious", 100, false,
     "VT 14/92 engines malicious, 2 suspicious; tags: cobaltstrike, c2; AS206728 Example Hosting LLC",
     "https://www.virustotal.com/gui/ip-address/45.155.205.233"},
    {INTEL_VIRUSTOTAL, "example.com", 200, FIX "virustotal/domain_harmless.json", "harmless", 0, false,
     "VT 0/92 engines malicious", "https://www.virustotal.com/gui/domain/example.com"},
    {INTEL_VIRUSTOTAL, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", 200,
     FIX "virustotal/file_malicious.json", "malicious", 100, false,
     "VT 62/70 engines malicious; virus.eicar/test; tags: attachment",
     "https://www.virustotal.com/gui/file/275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"},
    {INTEL_VIRUSTOTAL, "8.8.4.4", 404, FIX "virustotal/not_found.json", "unknown", 0, true, "VT: no information",
     "https://www.virustotal.com/gui/ip-address/8.8.4.4"},
    {INTEL_VIRUSTOTAL, "http://evil.example.com/a?b=c", 404, NULL, "unknown", 0, true, "VT: no information",
     "https://www.virustotal.com/gui/url/aHR0cDovL2V2aWwuZXhhbXBsZS5jb20vYT9iPWM"},
    {INTEL_ABUSEIPDB, "45.155.205.233", 200, FIX "abuseipdb/check_malicious.json", "malicious", 100, false,
     "AbuseIPDB confidence 100%, 1234 reports from 321 users; Example Hosting LLC (NL)",
     "https://www.abuseipdb.com/check/45.155.205.233"},
    {INTEL_ABUSEIPDB, "8.8.8.8", 200, FIX "abuseipdb/check_clean.json", "harmless", 0, false,
     "AbuseIPDB confidence 0%, 12 reports from 4 users; Google LLC (US); whitelisted",
     "https://www.abuseipdb.com/check/8.8.8.8"},
    {INTEL_OTX, "45.155.205.233", 200, FIX "otx/ip_pulses.json", "malicious", 80, false,
     "OTX in 4 pulses; malware: Cobalt Strike; tags: cobaltstrike, c2",
     "https://otx.alienvault.com/indicator/ip/45.155.205.233"},
    {INTEL_OTX, "google.com", 200, FIX "otx/domain_whitelisted.json", "harmless", 0, false,
     "OTX in 0 pulses; whitelisted: majestic", "https://otx.alienvault.com/indicator/domain/google.com"},
    {INTEL_OTX, "8.8.4.4", 200, FIX "otx/none.json", "unknown", 0, false, "OTX in 0 pulses",
     "https://otx.alienvault.com/indicator/ip/8.8.4.4"},
    {INTEL_SHODAN, "45.155.205.233", 200, FIX "shodan/host_c2.json", "malicious", 80, false,
     "Shodan: Example Hosting LLC; ports 22,80,443,50050; 1 vulns; tags: c2, self-signed",
     "https://www.shodan.io/host/45.155.205.233"},
    {INTEL_SHODAN, "93.184.215.14", 200, FIX "shodan/host_plain.json", "unknown", 0, false,
     "Shodan: Edgecast Inc.; ports 80,443; tags: cdn", "https://www.shodan.io/host/93.184.215.14"},
    {INTEL_SHODAN, "8.8.4.4", 404, FIX "shodan/not_found.json", "unknown", 0, true, "Shodan: no information",
     "https://www.shodan.io/host/8.8.4.4"},
    {INTEL_URLSCAN, "evil.example.net", 200, FIX "urlscan/search_malicious.json", "malicious", 100, false,
     "urlscan 2 scans, 1 malicious; last https://evil.example.net/login (2026-12-01T08:00:00.000Z)",
     "https://urlscan.io/result/0e37e828-a9d9-45c0-ac50-1ca579b86c72/"},
    {INTEL_URLSCAN, "example.org", 200, FIX "urlscan/search_empty.json", "unknown", 0, true,
     "urlscan 0 scans, 0 malicious", "https://urlscan.io/search/#example.org"},
    {INTEL_URLHAUS, "http://45.155.205.233/bins/mozi.m", 200, FIX "urlhaus/url_ok.json", "malicious", 100, false,
     "URLhaus: malware_download URL (online); tags: elf, Mozi",
     "https://urlhaus.abuse.ch/browse.php?search=http%3A%2F%2F45.155.205.233%2Fbins%2Fmozi.m"},
    {INTEL_URLHAUS, "45.155.205.233", 200, FIX "urlhaus/host_ok.json", "malicious", 100, false,
     "URLhaus: 2 malware URLs on this host, 1 online; tags: elf, Mozi",
     "https://urlhaus.abuse.ch/browse.php?search=45.155.205.233"},
    {INTEL_URLHAUS, "44d88612fea8a8f36de82e1278abb02f", 200, FIX "urlhaus/payload_ok.json", "malicious", 100, false,
     "URLhaus: payload exe EICAR", "https://urlhaus.abuse.ch/browse.php?search=44d88612fea8a8f36de82e1278abb02f"},
    {INTEL_URLHAUS, "example.com", 200, FIX "urlhaus/no_results.json", "unknown", 0, true, "URLhaus: not listed",
     "https://urlhaus.abuse.ch/browse.php?search=example.com"},
    {INTEL_THREATFOX, "45.155.205.233:50050", 200, FIX "threatfox/ioc_ok.json", "malicious", 100, false,
     "ThreatFox: Cobalt Strike botnet_cc (confidence 100%), first seen 2026-11-30 12:00:00 UTC; tags: CobaltStrike, c2",
     "https://threatfox.abuse.ch/browse.php?search=ioc%3A45.155.205.233%3A50050"},
    {INTEL_THREATFOX, "example.com", 200, FIX "threatfox/no_result.json", "unknown", 0, true, "ThreatFox: not listed",
     "https://threatfox.abuse.ch/browse.php?search=ioc%3Aexample.com"},
    {INTEL_MALWAREBAZAAR, "44d88612fea8a8f36de82e1278abb02f", 200, FIX "malwarebazaar/get_info_ok.json", "malicious",
     100, false, "MalwareBazaar: EICAR com, first seen 2026-11-01 00:00:00; tags: eicar, test",
     "https://bazaar.abuse.ch/sample/275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f/"},
    {INTEL_MALWAREBAZAAR, "3395856ce81f2b7382dee72602f798b642f14141", 200, FIX "malwarebazaar/hash_not_found.json",
     "unknown", 0, true, "MalwareBazaar: not listed",
     "https://bazaar.abuse.ch/browse.php?search=3395856ce81f2b7382dee72602f798b642f14141"},
    {INTEL_RDAP, "45.155.205.233", 200, FIX "rdap/ip.json", "unknown", 0, false,
     "RDAP EXAMPLE-HOSTING-NET 45.155.205.0-45.155.205.255 (NL)", "https://rdap.db.ripe.net/ip/45.155.205.0/24"},
    {INTEL_RDAP, "evil-login.com", 200, FIX "rdap/domain_new.json", "suspicious", 30, false,
     "RDAP EVIL-LOGIN.COM registered 2026-11-28 (4 days ago), registrar NameCheap, Inc.",
     "https://rdap.verisign.com/com/v1/domain/EVIL-LOGIN.COM"},
    {INTEL_RDAP, "example.com", 200, FIX "rdap/domain_old.json", "unknown", 0, false,
     "RDAP EXAMPLE.COM registered 1995-08-14 (11433 days ago)", "https://rdap.org/domain/example.com"},
    {INTEL_RDAP, "AS13335", 200, FIX "rdap/autnum.json", "unknown", 0, false, "RDAP AS13335 CLOUDFLARENET (US)",
     "https://rdap.org/autnum/13335"},
};

static void test_reduce_table(void **state)
{
    for (size_t i = 0; i < sizeof reduce_cases / sizeof reduce_cases[0]; i++) {
        const reduce_case *c = &reduce_cases[i];
        intel_indicator ind = norm(c->value);
        size_t len = 0;
        char *body = c->fixture ? slurp(c->fixture, &len) : NULL;
        intel_verdict v;
        char err[256] = "";
        int rc = intel_reduce(c->p, &ind, c->status, body, len, NOW_S, &v, err, sizeof err);
        free(body);
        if (rc != INTEL_REDUCE_OK)
            fail_msg("case %zu %s: %s", i, c->fixture ? c->fixture : c->value, err);
        if (strcmp(intel_level_name(v.verdict), c->verdict) || v.score != c->score || v.not_found != c->not_found ||
            strcmp(v.summary, c->summary) || strcmp(v.link, c->link))
            fail_msg("case %zu %s:\n got  %s %d nf=%d \"%s\" %s\n want %s %d nf=%d \"%s\" %s", i,
                     c->fixture ? c->fixture : c->value, intel_level_name(v.verdict), v.score, v.not_found,
                     v.summary, v.link, c->verdict, c->score, c->not_found, c->summary, c->link);
        assert_int_equal(v.provider, c->p);
        assert_string_equal(v.value, ind.value);
    }
}

static void test_reduce_bad_answers(void **state)
{
    intel_indicator ip = norm("45.155.205.233");
    intel_indicator h = norm("44d88612fea8a8f36de82e1278abb02f");
    intel_verdict v;
    char err[256];
    static const struct {
        intel_provider p;
        const char *body;
    } bad[] = {
        {INTEL_VIRUSTOTAL, "{\"data\": {\"attributes\": "},   /* truncated */
        {INTEL_VIRUSTOTAL, "[]"},                             /* not an object */
        {INTEL_VIRUSTOTAL, "{\"data\": {}}"},                 /* no attributes */
        {INTEL_ABUSEIPDB, "{\"errors\": [{\"detail\": \"x\"}]}"},
        {INTEL_SHODAN, "{\"error\": \"Invalid API key\"}"},
        {INTEL_URLSCAN, "{\"message\": \"x\"}"},
        {INTEL_URLHAUS, "{}"},
        {INTEL_URLHAUS, "{\"query_status\": \"invalid_url\"}"},
        {INTEL_THREATFOX, "{\"query_status\": \"illegal_search_term\"}"},
        {INTEL_MALWAREBAZAAR, "{\"query_status\": \"illegal_hash\"}"},
        {INTEL_RDAP, "{\"errorCode\": 400}"},
        {INTEL_OTX, "<html>504 Gateway Time-out</html>"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const intel_indicator *ind = bad[i].p == INTEL_MALWAREBAZAAR ? &h : &ip;
        err[0] = 0;
        if (intel_reduce(bad[i].p, ind, 200, bad[i].body, strlen(bad[i].body), NOW_S, &v, err, sizeof err) !=
            INTEL_REDUCE_BAD_ANSWER)
            fail_msg("case %zu (%s): accepted", i, bad[i].body);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(intel_reduce(INTEL_VIRUSTOTAL, &ip, 200, NULL, 0, 0, &v, err, sizeof err), INTEL_REDUCE_BAD_ANSWER);
    assert_int_equal(intel_reduce(INTEL_VIRUSTOTAL, &ip, 403, "{}", 2, 0, &v, err, sizeof err),
                     INTEL_REDUCE_BAD_ANSWER);
    /* a summary is one line whatever the answer holds */
    const char *nl = "{\"ip_str\": \"45.155.205.233\", \"org\": \"Evil\\nOrg\\r\\tX\"}";
    assert_int_equal(intel_reduce(INTEL_SHODAN, &ip, 200, nl, strlen(nl), 0, &v, err, sizeof err), INTEL_REDUCE_OK);
    assert_null(strpbrk(v.summary, "\n\r\t"));
}

static void test_vt_thresholds(void **state)
{
    intel_indicator ip = norm("45.155.205.233");
    static const struct {
        int m, s, h;
        const char *verdict;
        int score;
    } t[] = {
        {0, 0, 0, "unknown", 0},   {0, 0, 70, "harmless", 0},   {0, 1, 70, "suspicious", 5},
        {1, 0, 70, "suspicious", 10}, {2, 3, 70, "suspicious", 35}, {3, 0, 70, "malicious", 30},
        {20, 0, 50, "malicious", 100},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"data\":{\"attributes\":{\"last_analysis_stats\":{\"malicious\":%d,\"suspicious\":%d,"
                 "\"harmless\":%d,\"undetected\":0,\"timeout\":0}}}}",
                 t[i].m, t[i].s, t[i].h);
        intel_verdict v;
        char err[128];
        assert_int_equal(intel_reduce(INTEL_VIRUSTOTAL, &ip, 200, body, strlen(body), 0, &v, err, sizeof err), 0);
        assert_string_equal(intel_level_name(v.verdict), t[i].verdict);
        assert_int_equal(v.score, t[i].score);
    }
}

/* ---- token bucket ---- */

typedef struct {
    int64_t at_ms;   /* offset from the case's start */
    int64_t cool_ms; /* > 0: a 429 at at_ms asking to cool this long (no take) */
    int64_t wait_ms; /* expected result of the take */
} bucket_step;

#define T0 1764979200000LL /* 2025-12-06T00:00:00Z: a UTC midnight */
#define DAY 86400000LL

typedef struct {
    const char *name;
    intel_limit lim;
    int64_t start_ms;
    bucket_step steps[12];
    int n;
} bucket_case;

static const bucket_case bucket_cases[] = {
    {"vt 4/min: four at once, then one every 15 s",
     {4, 500},
     T0 + 1000,
     {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {0, 0, 15000}, {10000, 0, 5000}, {15000, 0, 0}, {15000, 0, 15000}},
     8},
    {"a full minute refills the bucket, not more",
     {4, 0},
     T0,
     {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {600000, 0, 0}, {600000, 0, 0}, {600000, 0, 0}, {600000, 0, 0},
      {600000, 0, 15000}},
     9},
    {"per day: 3 a day, the fourth waits for UTC midnight",
     {0, 3},
     T0 + DAY - 60000,
     {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {0, 0, 60000}, {59999, 0, 1}, {60000, 0, 0}},
     6},
    {"a cool-down (429 Retry-After 30 s) refuses everything until it ends",
     {60, 1000},
     T0 + 5000,
     {{0, 0, 0}, {1000, 30000, 0}, {1000, 0, 30000}, {20000, 0, 11000}, {31000, 0, 0}},
     5},
    {"a clock that steps back never refills",
     {1, 0},
     T0 + 120000,
     {{0, 0, 0}, {-30000, 0, 60000}, {0, 0, 60000}, {60000, 0, 0}},
     4},
    {"no limit at all",
     {0, 0},
     T0,
     {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}},
     4},
    {"fractional rate: 0.5/min is one every 2 minutes",
     {0.5, 0},
     T0,
     {{0, 0, 0}, {0, 0, 120000}, {60000, 0, 60000}, {120000, 0, 0}, {120000, 0, 120000}},
     5},
};

static void test_bucket_table(void **state)
{
    for (size_t i = 0; i < sizeof bucket_cases / sizeof bucket_cases[0]; i++) {
        const bucket_case *c = &bucket_cases[i];
        intel_bucket b = {0};
        for (int s = 0; s < c->n; s++) {
            int64_t now = c->start_ms + c->steps[s].at_ms;
            if (c->steps[s].cool_ms) {
                intel_bucket_cool(&b, now + c->steps[s].cool_ms);
                continue;
            }
            int64_t w = intel_bucket_take(&b, c->lim, now);
            if (w != c->steps[s].wait_ms)
                fail_msg("%s, step %d: wait %lld, want %lld", c->name, s, (long long)w,
                         (long long)c->steps[s].wait_ms);
        }
    }
}

static void test_bucket_defaults_and_settings(void **state)
{
    intel_limit vt = intel_default_limit(INTEL_VIRUSTOTAL);
    assert_true(vt.per_minute == 4 && vt.per_day == 500);
    /* refill is what `intel quota` shows: 4/min, emptied, 30 s later holds 2 */
    intel_bucket b = {0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(intel_bucket_take(&b, vt, T0), 0);
    intel_bucket_refill(&b, vt, T0 + 30000);
    assert_true(b.tokens > 1.999 && b.tokens < 2.001);
    assert_int_equal(b.day_used, 4);
    intel_bucket_refill(&b, vt, T0 + DAY); /* a new UTC day starts at zero */
    assert_int_equal(b.day_used, 0);
    assert_int_equal(intel_default_limit(INTEL_ABUSEIPDB).per_day, 1000);
    intel_config cfg;
    char err[1024];
    setenv("HUTCH_INTEL_VIRUSTOTAL_KEY", "vt-secret", 1);
    setenv("HUTCH_INTEL_ABUSECH_KEY", "abusech-secret", 1);
    setenv("HUTCH_INTEL_VIRUSTOTAL_PER_MINUTE", "600", 1);
    setenv("HUTCH_INTEL_SHODAN_URL", "http://127.0.0.1:1/shodan", 1);
    setenv("HUTCH_INTEL_NOT_FOUND_TTL", "1h", 1);
    assert_int_equal(config_load(intel_config_table, &cfg, err, sizeof err), 0);
    assert_true(intel_config_enabled(&cfg, INTEL_VIRUSTOTAL));
    assert_false(intel_config_enabled(&cfg, INTEL_ABUSEIPDB));
    assert_true(intel_config_enabled(&cfg, INTEL_THREATFOX));
    assert_string_equal(intel_config_key(&cfg, INTEL_MALWAREBAZAAR), "abusech-secret");
    assert_true(intel_config_enabled(&cfg, INTEL_RDAP));
    intel_limit l = intel_config_limit(&cfg, INTEL_VIRUSTOTAL);
    assert_true(l.per_minute == 600 && l.per_day == 500);
    assert_string_equal(intel_config_url(&cfg, INTEL_SHODAN), "http://127.0.0.1:1/shodan");
    assert_string_equal(intel_config_url(&cfg, INTEL_OTX), "https://otx.alienvault.com/api/v1");
    assert_int_equal(intel_cache_ttl_ms(&cfg, INTEL_VIRUSTOTAL, false), 24 * 3600000LL);
    assert_int_equal(intel_cache_ttl_ms(&cfg, INTEL_VIRUSTOTAL, true), 3600000LL);
    assert_int_equal(intel_cache_ttl_ms(&cfg, INTEL_RDAP, true), 7 * 24 * 3600000LL);
    assert_int_equal(intel_cache_ttl_ms(&cfg, INTEL_RDAP, false), 7 * 24 * 3600000LL);
    config_free(intel_config_table, &cfg);
    setenv("HUTCH_INTEL_RDAP", "0", 1);
    setenv("HUTCH_INTEL_VIRUSTOTAL_PER_DAY", "-7", 1);
    assert_int_equal(config_load(intel_config_table, &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "HUTCH_INTEL_VIRUSTOTAL_PER_DAY"));
    assert_null(strstr(err, "vt-secret"));
    setenv("HUTCH_INTEL_VIRUSTOTAL_PER_DAY", "0", 1);
    assert_int_equal(config_load(intel_config_table, &cfg, err, sizeof err), 0);
    assert_false(intel_config_enabled(&cfg, INTEL_RDAP));
    assert_int_equal(intel_config_limit(&cfg, INTEL_VIRUSTOTAL).per_day, 0);
    config_free(intel_config_table, &cfg);
    for (const config_field *f = intel_config_table; f->env; f++)
        unsetenv(f->env);
}

static void test_retry_after(void **state)
{
    int64_t now = 1445412480000LL; /* Wed, 21 Oct 2015 07:28:00 GMT */
    assert_int_equal(intel_retry_after_ms("Retry-After", "30", now), 30000);
    assert_int_equal(intel_retry_after_ms("retry-after", " 0", now), 0);
    assert_int_equal(intel_retry_after_ms("Retry-After", "Wed, 21 Oct 2015 07:29:00 GMT", now), 60000);
    assert_int_equal(intel_retry_after_ms("Retry-After", "Wed, 21 Oct 2015 07:00:00 GMT", now), 0);
    assert_int_equal(intel_retry_after_ms("Retry-After", "soon", now), -1);
    assert_int_equal(intel_retry_after_ms("X-RateLimit-Reset", "1445412500", now), 20000);
    assert_int_equal(intel_retry_after_ms("X-Rate-Limit-Reset-After", "12.5", now), 12500);
    assert_int_equal(intel_retry_after_ms("Content-Type", "30", now), -1);
    assert_int_equal(intel_retry_after_ms(NULL, "30", now), -1);
}

/* ---- Postgres ---- */

static pg *db_or_skip(void)
{
    const char *u = getenv("HUTCH_TEST_DATABASE_URL");
    if (!u || !*u)
        skip();
    char err[512];
    pg *db = pg_connect(u, 5000, err, sizeof err);
    if (!db)
        fail_msg("connect: %s", err);
    assert_int_equal(pg_exec(db, NULL, "DROP SCHEMA public CASCADE", 0, NULL), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "CREATE SCHEMA public", 0, NULL), PG_OK);
    assert_int_equal(pg_migrate(db, err, sizeof err), PG_OK);
    return db;
}

/* The SQL function keeps the rule of the pure one: the same table through both. */
static void test_db_quota_matches_bucket(void **state)
{
    pg *db = db_or_skip();
    for (size_t i = 0; i < sizeof bucket_cases / sizeof bucket_cases[0]; i++) {
        const bucket_case *c = &bucket_cases[i];
        intel_provider p = (intel_provider)(i % INTEL_PROVIDER_COUNT);
        assert_int_equal(pg_exec(db, NULL, "DELETE FROM intel_quota", 0, NULL), PG_OK);
        for (int s = 0; s < c->n; s++) {
            int64_t now = c->start_ms + c->steps[s].at_ms;
            if (c->steps[s].cool_ms) {
                assert_int_equal(intel_quota_cool(db, p, now + c->steps[s].cool_ms), PG_OK);
                continue;
            }
            int64_t w = -1;
            assert_int_equal(intel_quota_take(db, p, c->lim, now, &w), PG_OK);
            if (w != c->steps[s].wait_ms)
                fail_msg("SQL: %s, step %d: wait %lld, want %lld", c->name, s, (long long)w,
                         (long long)c->steps[s].wait_ms);
        }
    }
    /* providers are independent */
    int64_t w;
    intel_limit one = {1, 0};
    assert_int_equal(pg_exec(db, NULL, "DELETE FROM intel_quota", 0, NULL), PG_OK);
    assert_int_equal(intel_quota_take(db, INTEL_VIRUSTOTAL, one, T0, &w), PG_OK);
    assert_int_equal(w, 0);
    assert_int_equal(intel_quota_take(db, INTEL_VIRUSTOTAL, one, T0, &w), PG_OK);
    assert_int_equal(w, 60000);
    assert_int_equal(intel_quota_take(db, INTEL_SHODAN, one, T0, &w), PG_OK);
    assert_int_equal(w, 0);
    pg_free(db);
}

static void test_db_cache_single_flight(void **state)
{
    pg *db = db_or_skip();
    intel_indicator ip = norm("45.155.205.233");
    intel_verdict v;
    int64_t now = T0;
    /* first caller claims, the second is busy while the claim lives */
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &ip, "enrich-a", now, 30000, &v), INTEL_CACHE_CLAIMED);
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &ip, "enrich-b", now + 10, 30000, &v), INTEL_CACHE_BUSY);
    /* another provider, the same value: its own flight */
    assert_int_equal(intel_cache_claim(db, INTEL_SHODAN, &ip, "enrich-b", now, 30000, &v), INTEL_CACHE_CLAIMED);
    /* the holder stores a verdict: everyone hits until it expires */
    intel_verdict in = {.provider = INTEL_VIRUSTOTAL, .kind = ip.kind, .verdict = INTEL_MALICIOUS, .score = 100};
    strcpy(in.value, ip.value);
    strcpy(in.summary, "VT 14/92 engines malicious; tags: cobaltstrike");
    strcpy(in.link, "https://www.virustotal.com/gui/ip-address/45.155.205.233");
    assert_int_equal(intel_cache_store(db, &in, "{\"data\": {\"id\": \"45.155.205.233\"}}", "enrich-a", now + 500,
                                       24 * 3600000LL),
                     PG_OK);
    memset(&v, 0, sizeof v);
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &ip, "enrich-b", now + 1000, 30000, &v), INTEL_CACHE_HIT);
    assert_int_equal(v.verdict, INTEL_MALICIOUS);
    assert_int_equal(v.score, 100);
    assert_false(v.not_found);
    assert_string_equal(v.summary, in.summary);
    assert_string_equal(v.link, in.link);
    assert_string_equal(v.value, "45.155.205.233");
    PGresult *r = NULL;
    assert_int_equal(pg_exec(db, &r,
                             "SELECT body->'data'->>'id', claimed_by IS NULL, expires_at - fetched_at = interval '24 h'"
                             " FROM intel_cache WHERE provider = 'virustotal'",
                             0, NULL),
                     PG_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "45.155.205.233");
    assert_string_equal(PQgetvalue(r, 0, 1), "t");
    assert_string_equal(PQgetvalue(r, 0, 2), "t");
    PQclear(r);
    /* expired: the next caller claims again (and meanwhile the others are busy) */
    int64_t later = now + 500 + 24 * 3600000LL;
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &ip, "enrich-b", later, 30000, &v), INTEL_CACHE_CLAIMED);
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &ip, "enrich-a", later + 1, 30000, &v), INTEL_CACHE_BUSY);
    /* a failed lookup releases: the next caller asks at once */
    assert_int_equal(intel_cache_release(db, INTEL_VIRUSTOTAL, &ip, "enrich-b"), PG_OK);
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &ip, "enrich-a", later + 2, 30000, &v),
                     INTEL_CACHE_CLAIMED);
    /* a holder that died: its claim lapses after claim_ms */
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &ip, "enrich-b", later + 29999, 30000, &v),
                     INTEL_CACHE_BUSY);
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &ip, "enrich-b", later + 30002, 30000, &v),
                     INTEL_CACHE_CLAIMED);
    /* a release by someone else than the holder changes nothing */
    assert_int_equal(intel_cache_release(db, INTEL_VIRUSTOTAL, &ip, "enrich-a"), PG_OK);
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &ip, "enrich-c", later + 30003, 30000, &v),
                     INTEL_CACHE_BUSY);
    /* "not found" is a verdict too, kept for its own TTL */
    intel_verdict nf = {.provider = INTEL_SHODAN, .kind = ip.kind, .verdict = INTEL_UNKNOWN, .not_found = true};
    strcpy(nf.value, ip.value);
    strcpy(nf.summary, "Shodan: no information");
    assert_int_equal(intel_cache_store(db, &nf, NULL, "enrich-b", now, 6 * 3600000LL), PG_OK);
    assert_int_equal(intel_cache_claim(db, INTEL_SHODAN, &ip, "enrich-a", now + 6 * 3600000LL - 1, 30000, &v),
                     INTEL_CACHE_HIT);
    assert_true(v.not_found);
    assert_int_equal(intel_cache_claim(db, INTEL_SHODAN, &ip, "enrich-a", now + 6 * 3600000LL, 30000, &v),
                     INTEL_CACHE_CLAIMED);
    pg_free(db);
}

/* Many callers at once on one key: exactly one claims (threads, one connection each). */
#include <pthread.h>
typedef struct {
    int result;
    int64_t now;
} racer;
static void *race(void *arg)
{
    racer *r = arg;
    char err[256];
    pg *db = pg_connect(getenv("HUTCH_TEST_DATABASE_URL"), 5000, err, sizeof err);
    if (!db) {
        r->result = -100;
        return NULL;
    }
    intel_indicator ip;
    intel_normalize(psl, "8.8.4.4", &ip);
    char holder[32];
    snprintf(holder, sizeof holder, "racer-%p", (void *)r);
    r->result = intel_cache_claim(db, INTEL_OTX, &ip, holder, r->now, 30000, NULL);
    pg_free(db);
    return NULL;
}

static void test_db_cache_race(void **state)
{
    pg *db = db_or_skip();
    enum { N = 16 };
    pthread_t t[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){0, T0 + i};
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    int claimed = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        claimed += r[i].result == INTEL_CACHE_CLAIMED;
        busy += r[i].result == INTEL_CACHE_BUSY;
    }
    assert_int_equal(claimed, 1);
    assert_int_equal(busy, N - 1);
    pg_free(db);
}

static void test_db_cache_claim_many(void **state)
{
    pg *db = db_or_skip();
    intel_indicator fresh = norm("45.155.205.233"), fresh2 = norm("8.8.8.8"), held = norm("1.1.1.1"),
                    expired = norm("9.9.9.9"), hash = norm("44d88612fea8a8f36de82e1278abb02f");
    int64_t now = T0;
    intel_verdict v = {.provider = INTEL_VIRUSTOTAL, .kind = fresh.kind, .verdict = INTEL_MALICIOUS, .score = 90};
    strcpy(v.value, fresh.value);
    strcpy(v.summary, "VT 9/92 engines malicious");
    assert_int_equal(intel_cache_store(db, &v, NULL, "x", now - 1000, 3600000), PG_OK);
    strcpy(v.value, expired.value);
    assert_int_equal(intel_cache_store(db, &v, NULL, "x", now - 7200000, 3600000), PG_OK);
    assert_int_equal(intel_cache_claim(db, INTEL_VIRUSTOTAL, &held, "other", now - 10, 30000, NULL),
                     INTEL_CACHE_CLAIMED);
    intel_cache_key keys[] = {
        {INTEL_VIRUSTOTAL, &fresh},   /* hit */
        {INTEL_VIRUSTOTAL, &held},    /* busy: another holder */
        {INTEL_VIRUSTOTAL, &expired}, /* claimed: stale */
        {INTEL_VIRUSTOTAL, &fresh2},  /* claimed: new */
        {INTEL_OTX, &fresh},          /* claimed: same value, other provider */
        {INTEL_VIRUSTOTAL, &fresh2},  /* the same key twice: the same answer */
        {INTEL_MALWAREBAZAAR, &hash}, /* claimed */
    };
    size_t n = sizeof keys / sizeof keys[0];
    assert_int_equal(intel_cache_claim_many(db, keys, n, "me", now, 30000), PG_OK);
    static const int want[] = {INTEL_CACHE_HIT,     INTEL_CACHE_BUSY,    INTEL_CACHE_CLAIMED, INTEL_CACHE_CLAIMED,
                               INTEL_CACHE_CLAIMED, INTEL_CACHE_CLAIMED, INTEL_CACHE_CLAIMED};
    for (size_t i = 0; i < n; i++)
        if (keys[i].result != want[i])
            fail_msg("key %zu: %d, want %d", i, keys[i].result, want[i]);
    assert_int_equal(keys[0].verdict.score, 90);
    assert_string_equal(keys[0].verdict.summary, "VT 9/92 engines malicious");
    /* what this batch claimed is busy for the next one */
    for (size_t i = 0; i < n; i++)
        keys[i].result = 0;
    assert_int_equal(intel_cache_claim_many(db, keys, n, "next", now + 1, 30000), PG_OK);
    static const int want2[] = {INTEL_CACHE_HIT,  INTEL_CACHE_BUSY, INTEL_CACHE_BUSY, INTEL_CACHE_BUSY,
                                INTEL_CACHE_BUSY, INTEL_CACHE_BUSY, INTEL_CACHE_BUSY};
    for (size_t i = 0; i < n; i++)
        if (keys[i].result != want2[i])
            fail_msg("second batch, key %zu: %d, want %d", i, keys[i].result, want2[i]);
    assert_int_equal(intel_cache_claim_many(db, keys, 0, "none", now, 30000), PG_OK);
    pg_free(db);
}

/* Batches over the same 40 keys in different orders, at once: every key is claimed
 * exactly once, and no batch fails (no deadlock: rows are locked in key order). */
enum { MANY_KEYS = 40, MANY_THREADS = 6 };
static intel_indicator many_ind[MANY_KEYS];
typedef struct {
    int seed;
    int rc;
    int claimed[MANY_KEYS];
} many_racer;
static void *race_many(void *arg)
{
    many_racer *m = arg;
    char err[256];
    pg *db = pg_connect(getenv("HUTCH_TEST_DATABASE_URL"), 5000, err, sizeof err);
    if (!db) {
        m->rc = -100;
        return NULL;
    }
    intel_cache_key keys[MANY_KEYS];
    int order[MANY_KEYS];
    for (int i = 0; i < MANY_KEYS; i++)
        order[i] = i;
    unsigned s = (unsigned)m->seed;
    for (int i = MANY_KEYS - 1; i > 0; i--) { /* Fisher-Yates with rand_r */
        int j = (int)(rand_r(&s) % (unsigned)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < MANY_KEYS; i++)
        keys[i] = (intel_cache_key){INTEL_URLHAUS, &many_ind[order[i]]};
    char holder[32];
    snprintf(holder, sizeof holder, "batch-%d", m->seed);
    m->rc = intel_cache_claim_many(db, keys, MANY_KEYS, holder, T0, 30000);
    for (int i = 0; i < MANY_KEYS; i++)
        m->claimed[order[i]] = keys[i].result == INTEL_CACHE_CLAIMED;
    pg_free(db);
    return NULL;
}

static void test_db_cache_claim_many_race(void **state)
{
    pg *db = db_or_skip();
    for (int i = 0; i < MANY_KEYS; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "45.155.%d.%d", 200 + i / 200, 1 + i % 200);
        many_ind[i] = norm(ip);
    }
    pthread_t t[MANY_THREADS];
    many_racer m[MANY_THREADS];
    for (int i = 0; i < MANY_THREADS; i++) {
        memset(&m[i], 0, sizeof m[i]);
        m[i].seed = i + 1;
        pthread_create(&t[i], NULL, race_many, &m[i]);
    }
    for (int i = 0; i < MANY_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < MANY_THREADS; i++)
        assert_int_equal(m[i].rc, PG_OK);
    for (int k = 0; k < MANY_KEYS; k++) {
        int claims = 0;
        for (int i = 0; i < MANY_THREADS; i++)
            claims += m[i].claimed[k];
        if (claims != 1)
            fail_msg("key %d claimed %d times", k, claims);
    }
    pg_free(db);
}

static int setup(void **state)
{
    log_init("test-intel", LOG_LEVEL_ERROR);
    psl = psl_latest(NULL);
    if (!psl)
        psl = psl_builtin();
    return psl ? 0 : -1;
}

static int teardown(void **state)
{
    psl_free((psl_ctx_t *)psl);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_table),
        cmocka_unit_test(test_normalize_limits),
        cmocka_unit_test(test_request_table),
        cmocka_unit_test(test_request_base_url_and_unsupported),
        cmocka_unit_test(test_reduce_table),
        cmocka_unit_test(test_reduce_bad_answers),
        cmocka_unit_test(test_vt_thresholds),
        cmocka_unit_test(test_bucket_table),
        cmocka_unit_test(test_bucket_defaults_and_settings),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_db_quota_matches_bucket),
        cmocka_unit_test(test_db_cache_single_flight),
        cmocka_unit_test(test_db_cache_race),
        cmocka_unit_test(test_db_cache_claim_many),
        cmocka_unit_test(test_db_cache_claim_many_race),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
