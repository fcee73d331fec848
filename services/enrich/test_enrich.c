/* Unit tests for enrich.c: indicator extraction and the risk score, on synthetic
 * values and on the real-shaped samples in ../shared/fixtures/alerts (read in place,
 * never copied; those tests skip when the directory is absent). Run from the repo root,
 * or point HUTCH_ALERT_FIXTURES at the directory. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/severity.h"
#include "services/enrich/enrich.h"

static const char *fixtures_dir(void)
{
    const char *d = getenv("HUTCH_ALERT_FIXTURES");
    return d && *d ? d : "../shared/fixtures/alerts";
}
#define FIXTURES fixtures_dir()

static enrich_ctx *ctx;

static int setup(void **state)
{
    char err[256];
    ctx = enrich_new(err, sizeof err);
    if (!ctx)
        fprintf(stderr, "enrich_new: %s\n", err);
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    enrich_free(ctx);
    return 0;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

static void extract_text(const char *json, enrich_indicators *out)
{
    json_t *j = parse(json);
    memset(out, 0, sizeof *out);
    assert_int_equal(enrich_extract(ctx, j, NULL, 0, out), 0);
    json_decref(j);
}

/* Index of (type, value, path) in list, path NULL = any; -1 if absent. */
static int find(const enrich_indicators *l, const char *type, const char *value, const char *path)
{
    for (size_t i = 0; i < l->count; i++)
        if (!strcmp(l->items[i].type, type) && !strcmp(l->items[i].value, value) &&
            (!path || !strcmp(l->items[i].path, path)))
            return (int)i;
    return -1;
}

static size_t count_type(const enrich_indicators *l, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < l->count; i++)
        n += !strcmp(l->items[i].type, type);
    return n;
}

static void dump(const enrich_indicators *l)
{
    for (size_t i = 0; i < l->count; i++)
        fprintf(stderr, "  %s %s @ %s\n", l->items[i].type, l->items[i].value, l->items[i].path);
}

#define ASSERT_HAS(l, type, value, path)                                                                     \
    do {                                                                                                     \
        if (find((l), (type), (value), (path)) < 0) {                                                        \
            dump(l);                                                                                         \
            fail_msg("missing %s %s @ %s", (type), (value), (path) ? (const char *)(path) : "*");            \
        }                                                                                                    \
    } while (0)
#define ASSERT_HASNT(l, type, value)                                                                         \
    do {                                                                                                     \
        if (find((l), (type), (value), NULL) >= 0) {                                                         \
            dump(l);                                                                                         \
            fail_msg("unexpected %s %s", (type), (value));                                                   \
        }                                                                                                    \
    } while (0)

static void test_whole_values(void **state)
{
    enrich_indicators l;
    extract_text("{\"src\":\"203.0.113.7\",\"v6\":\"2001:DB8:0:0::1\",\"host\":\"Evil.Example.COM\","
                 "\"u\":\"https://evil.example.com:8443/a/b?c=d\",\"mail\":\"Bob@Example.org\","
                 "\"md5\":\"D41D8CD98F00B204E9800998ECF8427E\","
                 "\"sha1\":\"da39a3ee5e6b4b0d3255bfef95601890afd80709\","
                 "\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}",
                 &l);
    ASSERT_HAS(&l, "ipv4", "203.0.113.7", "src");
    ASSERT_HAS(&l, "ipv6", "2001:db8::1", "v6");
    ASSERT_HAS(&l, "domain", "evil.example.com", "host");
    ASSERT_HAS(&l, "url", "https://evil.example.com:8443/a/b?c=d", "u");
    ASSERT_HAS(&l, "domain", "evil.example.com", "u"); /* the URL's host */
    ASSERT_HAS(&l, "email", "bob@example.org", "mail");
    ASSERT_HASNT(&l, "domain", "example.org"); /* an email's domain is part of the email */
    ASSERT_HAS(&l, "md5", "d41d8cd98f00b204e9800998ecf8427e", "md5");
    ASSERT_HAS(&l, "sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1");
    ASSERT_HAS(&l, "sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256");
    assert_int_equal(l.count, 9);
    enrich_indicators_free(&l);
}

static void test_free_text(void **state)
{
    enrich_indicators l;
    extract_text("{\"msg\":\"Blocked http://198.51.100.9/x.php?q=1, then (see https://cdn.bad-site.net/p.js). "
                 "Host 10.1.2.3 talked to fe80::1 and 2606:4700:4700::1111 at 15:32:49; "
                 "ping evil-c2.io. Contact soc@corp.example.com\"}",
                 &l);
    ASSERT_HAS(&l, "url", "http://198.51.100.9/x.php?q=1", "msg");
    ASSERT_HAS(&l, "ipv4", "198.51.100.9", "msg");
    ASSERT_HAS(&l, "url", "https://cdn.bad-site.net/p.js", "msg");
    ASSERT_HAS(&l, "domain", "cdn.bad-site.net", "msg");
    ASSERT_HAS(&l, "ipv4", "10.1.2.3", "msg");
    ASSERT_HAS(&l, "ipv6", "fe80::1", "msg");
    ASSERT_HAS(&l, "ipv6", "2606:4700:4700::1111", "msg");
    ASSERT_HAS(&l, "domain", "evil-c2.io", "msg");
    ASSERT_HAS(&l, "email", "soc@corp.example.com", "msg");
    assert_int_equal(count_type(&l, "ipv6"), 2); /* not the time of day */
    ASSERT_HASNT(&l, "domain", "x.php");
    ASSERT_HASNT(&l, "domain", "p.js");
    assert_int_equal(l.count, 9);
    enrich_indicators_free(&l);
}

static void test_not_domains(void **state)
{
    enrich_indicators l;
    extract_text("[\"a.json\", \"/var/log/app.log\", \"C:\\\\Windows\\\\evil.dll\", \"setup.exe\", \"1.2.3\","
                 "\"version 5.10.215-181.850.amzn2int.x86_64\", \"aws-sdk-java/1.12.720\", \"T1562.008\","
                 "\"Amazon.com_Inc.\", \"x.y\", \"300.1.1.1\", \"::\", \"AWS::EC2::Instance\","
                 "\"00:1a:2b:3c:4d:5e\", \"2017-12-08T15:32:49.862Z\", \"report.PDF\"]",
                 &l);
    if (l.count)
        dump(&l);
    assert_int_equal(l.count, 0);
    enrich_indicators_free(&l);
}

/* The public suffix list: a dotted name is a domain only under an ICANN TLD and
 * with a registrable part. */
static void test_psl_not_domains(void **state)
{
    enrich_indicators l;
    extract_text("{\"source\":\"aws.guardduty\",\"instanceType\":\"m3.xlarge\",\"user\":\"john.doe\","
                 "\"type\":\"google.compute.firewall\",\"host\":\"db1.corp.local\",\"svc\":\"api.svc.internal\","
                 "\"suffix\":\"co.uk\",\"k8s\":\"kube-system.pods\",\"field\":\"process.exe_path\","
                 "\"msg\":\"aws.guardduty flagged m3.xlarge of john.doe via google.compute.firewall on host.localdomain\"}",
                 &l);
    ASSERT_HASNT(&l, "domain", "aws.guardduty");
    ASSERT_HASNT(&l, "domain", "m3.xlarge");
    ASSERT_HASNT(&l, "domain", "john.doe");
    ASSERT_HASNT(&l, "domain", "google.compute.firewall");
    ASSERT_HASNT(&l, "domain", "compute.firewall");
    ASSERT_HASNT(&l, "domain", "db1.corp.local");
    ASSERT_HASNT(&l, "domain", "co.uk");
    if (l.count)
        dump(&l);
    assert_int_equal(l.count, 0);
    enrich_indicators_free(&l);
}

static void test_psl_domains(void **state)
{
    enrich_indicators l;
    extract_text("{\"a\":\"evil.example.com\",\"b\":\"shop.example.co.uk\",\"c\":\"example.co.uk\","
                 "\"d\":\"attacker.github.io\",\"e\":\"sts.amazonaws.com\",\"f\":\"point.md\","
                 "\"g\":\"Login-Portal.ZIP\",\"h\":\"x.y.z.example.name\","
                 "\"msg\":\"beacon to c2.evil.app and files.evil.zip, see https://install.sh/get\","
                 "\"mail\":\"bob@corp.local\"}",
                 &l);
    ASSERT_HAS(&l, "domain", "evil.example.com", "a");
    ASSERT_HAS(&l, "domain", "shop.example.co.uk", "b");
    ASSERT_HAS(&l, "domain", "example.co.uk", "c");
    ASSERT_HAS(&l, "domain", "attacker.github.io", "d");
    ASSERT_HAS(&l, "domain", "sts.amazonaws.com", "e");
    ASSERT_HAS(&l, "domain", "point.md", "f");
    ASSERT_HAS(&l, "domain", "login-portal.zip", "g");
    ASSERT_HAS(&l, "domain", "x.y.z.example.name", "h");
    ASSERT_HAS(&l, "domain", "c2.evil.app", "msg");
    ASSERT_HAS(&l, "domain", "files.evil.zip", "msg");
    ASSERT_HAS(&l, "url", "https://install.sh/get", "msg");
    ASSERT_HAS(&l, "domain", "install.sh", "msg"); /* a URL's host is a host */
    ASSERT_HAS(&l, "email", "bob@corp.local", "mail"); /* emails need no public suffix */
    assert_int_equal(l.count, 13);
    enrich_indicators_free(&l);
}

/* File names whose extension is a real TLD: not domains in a path or under a key
 * that names a file, a path, a process or a command. */
static void test_psl_file_names(void **state)
{
    enrich_indicators l;
    extract_text("{\"file\":{\"name\":\"README.md\"},\"TargetFilename\":\"setup.py\","
                 "\"process\":{\"name\":\"miner.sh\",\"args\":[\"payload.zip\"]},"
                 "\"CommandLine\":\"python3 build.py --out dist.zip\","
                 "\"ImageFileName\":\"libx.so\",\"proc.cmdline\":\"perl run.pl\","
                 "\"msg\":\"dropped /tmp/install.sh and C:\\\\Users\\\\x\\\\invoice.zip\"}",
                 &l);
    if (l.count)
        dump(&l);
    assert_int_equal(l.count, 0);
    enrich_indicators_free(&l);
}

/* Two-label names that are path components, keys of key=value text or user names. */
static void test_two_label_names(void **state)
{
    enrich_indicators l;
    extract_text("{\"userName\":\"k.suzuki\",\"TargetUserName\":\"j.smith\",\"sAMAccountName\":\"a.tanaka\","
                 "\"dir\":\"C:\\\\Users\\\\k.suzuki\\\\AppData\",\"p\":\"/home/m.rossi/x.com\","
                 "\"output\":\"fd.name=/etc/shadow fd.sport=443 proc.name=bash\","
                 "\"ioc\":\"hxxp://evil.com/a and \\\\\\\\smb.evil.net\\\\share\"}",
                 &l);
    ASSERT_HAS(&l, "domain", "evil.com", "ioc");     /* after "//": a host */
    ASSERT_HAS(&l, "domain", "smb.evil.net", "ioc"); /* after "\\\\": a host */
    if (l.count != 2)
        dump(&l);
    assert_int_equal(l.count, 2);
    enrich_indicators_free(&l);
}

static void test_paths_and_ids(void **state)
{
    enrich_indicators l;
    extract_text("{\"detail\":{\"resources\":[{\"ip\":\"8.8.8.8\"},{\"ips\":[\"1.1.1.1\",\"8.8.8.8\"]}],"
                 "\"a.b\":\"x.example.net\",\"\":\"y.example.net\","
                 "\"detectorId\":\"c0b018e3eb2130078632d999e41d4f02\",\"id\":\"36b01b60fc22bb4edb19d62d9899e953\","
                 "\"ids\":[\"36b01b60fc22bb4edb19d62d9899e953\"],"
                 "\"hash\":\"11111111111111111111111111111111\"}}",
                 &l);
    ASSERT_HAS(&l, "ipv4", "8.8.8.8", "detail.resources[0].ip");
    ASSERT_HAS(&l, "ipv4", "1.1.1.1", "detail.resources[1].ips[0]");
    ASSERT_HAS(&l, "ipv4", "8.8.8.8", "detail.resources[1].ips[1]");
    ASSERT_HAS(&l, "domain", "x.example.net", "detail[\"a.b\"]");
    ASSERT_HAS(&l, "domain", "y.example.net", "detail[\"\"]");
    /* ids are identifiers, all-digit strings are not hashes */
    assert_int_equal(count_type(&l, "md5"), 1);
    ASSERT_HAS(&l, "md5", "36b01b60fc22bb4edb19d62d9899e953", "detail.ids[0]");
    assert_int_equal(l.count, 6);
    enrich_indicators_free(&l);
}

static void test_attributes(void **state)
{
    Hutch__V1__Attribute a1 = HUTCH__V1__ATTRIBUTE__INIT, a2 = HUTCH__V1__ATTRIBUTE__INIT,
                         a3 = HUTCH__V1__ATTRIBUTE__INIT;
    a1.key = "src ip";
    a1.value = "8.8.4.4";
    a2.key = "file";
    a2.value = "44d88612fea8a8f36de82e1278abb02f";
    a3.key = "severity";
    a3.value = "critical";
    Hutch__V1__Attribute *attrs[] = {&a1, &a2, &a3};
    enrich_indicators l = {0};
    assert_int_equal(enrich_extract(ctx, NULL, attrs, 3, &l), 0);
    ASSERT_HAS(&l, "ipv4", "8.8.4.4", "attributes[\"src ip\"]");
    ASSERT_HAS(&l, "md5", "44d88612fea8a8f36de82e1278abb02f", "attributes.file");
    assert_int_equal(l.count, 2);
    assert_int_equal(severity_score_from_json(NULL, attrs, 3), 90);
    assert_true(enrich_risk_score(90, &l) == 95.0);
    enrich_indicators_free(&l);
}

static void test_dedupe_and_cap(void **state)
{
    enrich_indicators l;
    extract_text("{\"a\":\"1.2.3.4 1.2.3.4 1.2.3.4\",\"b\":\"1.2.3.4\"}", &l);
    assert_int_equal(l.count, 2); /* once per path */
    enrich_indicators_free(&l);

    json_t *arr = json_array();
    for (int i = 0; i < 1500; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.0.%d.%d", i / 256, i % 256);
        json_array_append_new(arr, json_string(ip));
    }
    memset(&l, 0, sizeof l);
    assert_int_equal(enrich_extract(ctx, arr, NULL, 0, &l), 0);
    assert_int_equal(l.count, ENRICH_MAX_INDICATORS);
    assert_true(l.truncated);
    assert_string_equal(l.items[999].value, "10.0.3.231");
    enrich_indicators_free(&l);
    json_decref(arr);
}

static void test_deterministic(void **state)
{
    const char *doc = "{\"z\":\"9.9.9.9\",\"a\":{\"q\":\"evil.example.com\",\"b\":\"http://x.example.org/\"},"
                      "\"m\":\"8.8.8.8\"}";
    enrich_indicators a, b;
    extract_text(doc, &a);
    extract_text(doc, &b);
    assert_int_equal(a.count, b.count);
    for (size_t i = 0; i < a.count; i++) {
        assert_string_equal(a.items[i].type, b.items[i].type);
        assert_string_equal(a.items[i].value, b.items[i].value);
        assert_string_equal(a.items[i].path, b.items[i].path);
    }
    /* document order, not hash order */
    assert_string_equal(a.items[0].path, "z");
    assert_string_equal(a.items[a.count - 1].path, "m");
    enrich_indicators_free(&a);
    enrich_indicators_free(&b);
}

static void test_long_values(void **state)
{
    size_t n = 5000;
    char *s = malloc(n + 32);
    strcpy(s, "http://example.com/");
    memset(s + 19, 'a', n);
    s[19 + n] = 0;
    json_t *j = json_pack("{s:s, s:s}", "u", s, "k", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    enrich_indicators l = {0};
    assert_int_equal(enrich_extract(ctx, j, NULL, 0, &l), 0);
    assert_int_equal(l.count, 0); /* too long a URL is skipped (and so is its host) */
    enrich_indicators_free(&l);
    json_decref(j);
    free(s);

    /* a deep path is cut, not dropped */
    char key[100];
    memset(key, 'k', 99);
    key[99] = 0;
    json_t *deep = json_string("8.8.8.8");
    for (int i = 0; i < 10; i++) {
        json_t *o = json_object();
        json_object_set_new(o, key, deep);
        deep = o;
    }
    memset(&l, 0, sizeof l);
    assert_int_equal(enrich_extract(ctx, deep, NULL, 0, &l), 0);
    assert_int_equal(l.count, 1);
    assert_int_equal(strlen(l.items[0].path), ENRICH_MAX_PATH_LEN);
    enrich_indicators_free(&l);
    json_decref(deep);
}

static void test_ip_public(void **state)
{
    assert_true(enrich_ip_is_public("8.8.8.8"));
    assert_true(enrich_ip_is_public("11.1.111.11"));
    assert_true(enrich_ip_is_public("2606:4700:4700::1111"));
    assert_true(enrich_ip_is_public("::ffff:8.8.8.8"));
    const char *private_[] = {"10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "127.0.0.1",
                              "169.254.169.254", "100.64.0.1", "198.51.100.0", "203.0.113.5", "192.0.2.1",
                              "224.0.0.1", "255.255.255.255", "0.0.0.0", "::1", "fe80::1", "fc00::1",
                              "2001:db8::1", "::ffff:10.0.0.1", "not an ip", NULL};
    for (const char **p = private_; *p; p++)
        if (enrich_ip_is_public(*p))
            fail_msg("%s should not be public", *p);
    assert_true(enrich_ip_is_public("172.32.0.1"));
}

static double score(const char *json)
{
    json_t *j = parse(json);
    enrich_indicators l = {0};
    assert_int_equal(enrich_extract(ctx, j, NULL, 0, &l), 0);
    int hint = severity_score_from_json(j, NULL, 0);
    double s = enrich_risk_score(hint >= 0 ? hint : 20, &l);
    enrich_indicators_free(&l);
    json_decref(j);
    return s;
}

static void test_risk_score(void **state)
{
    assert_true(score("{}") == 20.0);
    assert_true(score("{\"a\":\"10.0.0.1\"}") == 20.0);               /* private: no bonus */
    assert_true(score("{\"a\":\"8.8.8.8\",\"b\":\"8.8.8.8\"}") == 25.0); /* one distinct public IP */
    assert_true(score("{\"severity\":9,\"a\":\"8.8.8.8 1.1.1.1\"}") == 100.0);
    assert_true(score("{\"severity\":2,\"a\":\"8.8.8.8 1.1.1.1 9.9.9.9 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7\"}") ==
                45.0); /* bonus capped at 25 */
    assert_true(score("{\"severity\":\"informational\"}") == 0.0);
}

/* ---- real-shaped samples ---- */

static json_t *load_fixture(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, rel);
    json_error_t e;
    return json_load_file(path, 0, &e);
}

static void test_guardduty_tor(void **state)
{
    json_t *j = load_fixture("guardduty/c7n_eventbridge_unauthorizedaccess_iamuser_toripcaller.json");
    if (!j)
        skip();
    enrich_indicators l = {0};
    assert_int_equal(enrich_extract(ctx, j, NULL, 0, &l), 0);
    ASSERT_HAS(&l, "ipv4", "198.51.100.0", "detail.service.action.awsApiCallAction.remoteIpDetails.ipAddressV4");
    ASSERT_HAS(&l, "ipv4", "198.51.100.0", "detail.description");
    ASSERT_HAS(&l, "domain", "amazon.com", "detail.service.additionalInfo.unusual.isps");
    assert_int_equal(count_type(&l, "md5"), 0); /* detectorId and id are identifiers */
    assert_true(enrich_risk_score(severity_score_from_json(j, NULL, 0), &l) == 50.0); /* severity 5, documentation IP */
    enrich_indicators_free(&l);
    json_decref(j);
}

static void test_guardduty_dns(void **state)
{
    json_t *j = load_fixture("guardduty/c7n_eventbridge_backdoor_ec2_ccactivity_b_dns.json");
    if (!j)
        skip();
    enrich_indicators l = {0};
    assert_int_equal(enrich_extract(ctx, j, NULL, 0, &l), 0);
    ASSERT_HAS(&l, "domain", "example.com", "detail.service.action.dnsRequestAction.domain");
    assert_true(enrich_risk_score(severity_score_from_json(j, NULL, 0), &l) == 50.0);
    enrich_indicators_free(&l);
    json_decref(j);
}

static void test_guardduty_attack_sequence(void **state)
{
    json_t *j = load_fixture("guardduty/panther_attacksequence_iam_compromisedcredentials.json");
    if (!j)
        skip();
    enrich_indicators l = {0};
    assert_int_equal(enrich_extract(ctx, j, NULL, 0, &l), 0);
    ASSERT_HAS(&l, "ipv4", "10.0.0.1", "description");
    assert_true(enrich_risk_score(severity_score_from_json(j, NULL, 0), &l) == 90.0);
    enrich_indicators_free(&l);
    json_decref(j);
}

static void test_securityhub_asff(void **state)
{
    json_t *j = load_fixture("securityhub/panther_asff_decoy_iam_assumed.json");
    if (!j)
        skip();
    enrich_indicators l = {0};
    assert_int_equal(enrich_extract(ctx, j, NULL, 0, &l), 0);
    ASSERT_HAS(&l, "ipv4", "11.1.111.11", "Action.AwsApiCallAction.RemoteIpDetails.IpAddressV4");
    ASSERT_HAS(&l, "domain", "sts.amazonaws.com", "Action.AwsApiCallAction.ServiceName");
    assert_true(enrich_risk_score(severity_score_from_json(j, NULL, 0), &l) == 75.0); /* HIGH/70 + one public IP */
    enrich_indicators_free(&l);
    json_decref(j);
}

/* Every sample of every source: extraction succeeds, paths are set, no duplicates. */
static void test_all_fixtures(void **state)
{
    DIR *top = opendir(FIXTURES);
    if (!top)
        skip();
    int files = 0;
    struct dirent *d;
    while ((d = readdir(top))) {
        if (d->d_name[0] == '.')
            continue;
        char dir[600];
        snprintf(dir, sizeof dir, "%s/%s", FIXTURES, d->d_name);
        DIR *sub = opendir(dir);
        if (!sub)
            continue;
        struct dirent *f;
        while ((f = readdir(sub))) {
            size_t n = strlen(f->d_name);
            if (n < 6 || strcmp(f->d_name + n - 5, ".json"))
                continue;
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", dir, f->d_name);
            json_error_t e;
            json_t *j = json_load_file(path, 0, &e);
            if (!j)
                continue;
            enrich_indicators l = {0};
            assert_int_equal(enrich_extract(ctx, j, NULL, 0, &l), 0);
            for (size_t i = 0; i < l.count; i++)
                for (size_t k = i + 1; k < l.count; k++)
                    assert_false(!strcmp(l.items[i].type, l.items[k].type) &&
                                 !strcmp(l.items[i].value, l.items[k].value) &&
                                 !strcmp(l.items[i].path, l.items[k].path));
            int hint = severity_score_from_json(j, NULL, 0);
    double s = enrich_risk_score(hint >= 0 ? hint : 20, &l);
            assert_true(s >= 0 && s <= 100);
            if (getenv("ENRICH_TEST_VERBOSE")) {
                fprintf(stderr, "%s: score %.0f\n", path, s);
                dump(&l);
            }
            enrich_indicators_free(&l);
            json_decref(j);
            files++;
        }
        closedir(sub);
    }
    closedir(top);
    assert_true(files > 0);
}

/* The enriched Alert: a redelivered alert packs to the same bytes; the payload stops
 * at enrich; the severity and scores are carried. */
static void test_pack_redelivery(void **state)
{
    Hutch__V1__Meta meta = HUTCH__V1__META__INIT;
    meta.id = "0190b7c2-7f00-7000-8000-000000000001";
    meta.trace_id = "0190b7c2-7f00-7000-8000-000000000002";
    meta.created_unix_ms = 1720000000000;
    Hutch__V1__Alert a = HUTCH__V1__ALERT__INIT;
    a.meta = &meta;
    a.alert_id = "0190b7c2-7f00-7000-8000-000000000003";
    a.payload_json = "{\"ip\": \"8.8.8.8\"}";
    json_t *payload = parse(a.payload_json);
    enrich_indicators l = {0};
    assert_int_equal(enrich_extract(ctx, payload, NULL, 0, &l), 0);
    size_t l1, l2;
    uint8_t *b1 = enrich_pack(&a, &l, "high", 70, 75, &l1);
    uint8_t *b2 = enrich_pack(&a, &l, "high", 70, 75, &l2);
    assert_non_null(b1);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    Hutch__V1__Alert *out = hutch__v1__alert__unpack(NULL, l1, b1);
    assert_non_null(out);
    assert_string_equal(out->payload_json, "");
    assert_string_equal(out->severity, "high");
    assert_int_equal(out->severity_score, 70);
    assert_true(out->risk_score == 75);
    assert_int_equal(out->n_indicators, 1);
    assert_string_equal(out->indicators[0]->value, "8.8.8.8");
    assert_string_equal(a.payload_json, "{\"ip\": \"8.8.8.8\"}"); /* the input is not changed */
    hutch__v1__alert__free_unpacked(out, NULL);
    free(b1);
    free(b2);
    enrich_indicators_free(&l);
    json_decref(payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_values),
        cmocka_unit_test(test_free_text),
        cmocka_unit_test(test_not_domains),
        cmocka_unit_test(test_psl_not_domains),
        cmocka_unit_test(test_psl_domains),
        cmocka_unit_test(test_psl_file_names),
        cmocka_unit_test(test_two_label_names),
        cmocka_unit_test(test_paths_and_ids),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_dedupe_and_cap),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_ip_public),
        cmocka_unit_test(test_risk_score),
        cmocka_unit_test(test_guardduty_tor),
        cmocka_unit_test(test_guardduty_dns),
        cmocka_unit_test(test_guardduty_attack_sequence),
        cmocka_unit_test(test_securityhub_asff),
        cmocka_unit_test(test_all_fixtures),
        cmocka_unit_test(test_pack_redelivery),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
