/* Tests of intel_client against tests/intel/fake_intel.py, which this runner starts
 * on loopback (python3, from the repository root) and stops by closing its stdin.
 * Every provider is asked about a value it knows (a verdict), one it does not (not
 * found), with a wrong key (ERROR), and under each failure the fake can play: 429
 * with Retry-After (RATE_LIMITED and the wait), 500 (RETRY), a slow answer past the
 * timeout (RETRY), malformed JSON (ERROR). The fake counts the calls: one lookup is
 * one request. Keys are secrets: no error text and no cached row holds one (the
 * cache part runs with HUTCH_TEST_DATABASE_URL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/strbuf.h"
#include "services/enrich/intel_client.h"
#include "services/enrich/intel_quota.h"

#define KEY "s3cr3t-KEY-4f1d9a"

static const psl_ctx_t *psl;
static pid_t fake_pid;
static int fake_stdin = -1;
static int fake_port;

static const char *const prefix[INTEL_PROVIDER_COUNT] = {
    [INTEL_VIRUSTOTAL] = "/vt/api/v3", [INTEL_ABUSEIPDB] = "/abuseipdb/api/v2", [INTEL_OTX] = "/otx/api/v1",
    [INTEL_SHODAN] = "/shodan",        [INTEL_URLSCAN] = "/urlscan/api/v1",     [INTEL_URLHAUS] = "/urlhaus/v1",
    [INTEL_THREATFOX] = "/threatfox/api/v1", [INTEL_MALWAREBAZAAR] = "/mb/api/v1", [INTEL_RDAP] = "/rdap",
};

static void base(intel_provider p, char *out, size_t n)
{
    snprintf(out, n, "http://127.0.0.1:%d%s", fake_port, prefix[p]);
}

static size_t sink(char *d, size_t s, size_t n, void *arg)
{
    return strbuf_add(arg, d, s * n) == 0 ? s * n : 0;
}

/* A control call to the fake: POST json (or GET when json is NULL); returns the body (NEW). */
static char *control(const char *what, const char *json)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_control/%s", fake_port, what);
    CURL *c = curl_easy_init();
    strbuf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (json)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    return strbuf_take(&b);
}

static long calls(intel_provider p)
{
    char *body = control("calls", NULL);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    long n = (long)json_integer_value(json_object_get(j, intel_provider_name(p)));
    json_decref(j);
    return n;
}

static void set_mode(intel_provider p, const char *mode, const char *extra)
{
    char json[256];
    snprintf(json, sizeof json, "{\"provider\": \"%s\", \"mode\": \"%s\"%s%s}", intel_provider_name(p), mode,
             extra ? ", " : "", extra ? extra : "");
    free(control("mode", json));
}

static int lookup(intel_provider p, const char *value, const char *key, int64_t timeout_ms, intel_verdict *v,
                  char **raw, int64_t *retry, char *err, size_t errlen)
{
    intel_indicator ind;
    int nrc = intel_normalize(psl, value, &ind);
    if (nrc != INTEL_NORM_OK)
        fail_msg("normalize %s: %d", value, nrc);
    char b[128];
    base(p, b, sizeof b);
    intel_lookup_opts o = {.timeout_ms = timeout_ms, .now_ms = 1796212800000LL};
    int rc = intel_lookup(p, b, key, &ind, &o, v, raw, retry, err, errlen);
    /* whatever happened, the key is in no message */
    if (strstr(err, KEY))
        fail_msg("the key leaked into an error: %s", err);
    return rc;
}

typedef struct {
    intel_provider p;
    const char *known;   /* answered with a verdict */
    const char *verdict; /* of known */
    const char *unknown; /* answered "not found" (RDAP: always answers) */
} provider_case;

static const provider_case cases[] = {
    {INTEL_VIRUSTOTAL, "45.155.205.233", "malicious", "8.8.4.4"},
    {INTEL_VIRUSTOTAL, "hxxp://45.155.205[.]233/bins/mozi.m", "malicious", "http://example.org/x"},
    {INTEL_VIRUSTOTAL, "3395856CE81F2B7382DEE72602F798B642F14140", "malicious", "3395856ce81f2b7382dee72602f798b642f14141"},
    {INTEL_ABUSEIPDB, "45.155.205.233", "malicious", NULL},
    {INTEL_OTX, "45.155.205.233", "malicious", NULL},
    {INTEL_SHODAN, "45.155.205.233", "malicious", "8.8.4.4"},
    {INTEL_URLSCAN, "evil.example.net", "malicious", "example.org"},
    {INTEL_URLHAUS, "http://45.155.205.233/bins/mozi.m", "malicious", "http://example.org/x"},
    {INTEL_URLHAUS, "45.155.205.233", "malicious", "example.org"},
    {INTEL_URLHAUS, "44d88612fea8a8f36de82e1278abb02f", "malicious", "44d88612fea8a8f36de82e1278abb02e"},
    {INTEL_THREATFOX, "45.155.205.233:50050", "malicious", "45.155.205.233:443"},
    {INTEL_THREATFOX, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "malicious", NULL},
    {INTEL_MALWAREBAZAAR, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "malicious",
     "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0e"},
    {INTEL_RDAP, "evil-login.com", "suspicious", NULL},
    {INTEL_RDAP, "45.155.205.233", "unknown", NULL},
    {INTEL_RDAP, "AS13335", "unknown", NULL},
};

static void test_every_provider(void **state)
{
    free(control("reset", "{}"));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const provider_case *c = &cases[i];
        intel_verdict v;
        char *raw = NULL, err[512] = "";
        int64_t retry = 0;
        long before = calls(c->p);
        int rc = lookup(c->p, c->known, c->p == INTEL_RDAP ? NULL : KEY, 5000, &v, &raw, &retry, err, sizeof err);
        if (rc != INTEL_LOOKUP_OK)
            fail_msg("%s %s: %s (%s)", intel_provider_name(c->p), c->known, intel_lookup_result_name(rc), err);
        if (strcmp(intel_level_name(v.verdict), c->verdict) || v.not_found)
            fail_msg("%s %s: %s nf=%d, want %s (%s)", intel_provider_name(c->p), c->known,
                     intel_level_name(v.verdict), v.not_found, c->verdict, v.summary);
        assert_true(strlen(v.summary) > 0);
        assert_non_null(raw);
        assert_null(strstr(raw, KEY));
        json_t *j = json_loads(raw, 0, NULL);
        assert_non_null(j);
        json_decref(j);
        free(raw);
        assert_int_equal(calls(c->p), before + 1);
        if (c->unknown) {
            raw = NULL;
            rc = lookup(c->p, c->unknown, KEY, 5000, &v, &raw, &retry, err, sizeof err);
            if (rc != INTEL_LOOKUP_OK || !v.not_found || v.verdict != INTEL_UNKNOWN)
                fail_msg("%s %s: %s nf=%d %s (%s)", intel_provider_name(c->p), c->unknown,
                         intel_lookup_result_name(rc), v.not_found, intel_level_name(v.verdict), err);
            free(raw);
            assert_int_equal(calls(c->p), before + 2);
        }
    }
}

static void test_wrong_key(void **state)
{
    for (int p = 0; p < INTEL_PROVIDER_COUNT; p++) {
        if (p == INTEL_RDAP || p == INTEL_OTX) /* no key / key optional */
            continue;
        const char *value = p == INTEL_MALWAREBAZAAR ? "44d88612fea8a8f36de82e1278abb02f"
                            : p == INTEL_THREATFOX   ? "45.155.205.233:50050"
                                                     : "45.155.205.233";
        intel_verdict v;
        char err[512] = "";
        int64_t retry;
        int rc = lookup((intel_provider)p, value, "wrong-" KEY, 5000, &v, NULL, &retry, err, sizeof err);
        if (rc != INTEL_LOOKUP_ERROR)
            fail_msg("%s with a wrong key: %s (%s)", intel_provider_name(p), intel_lookup_result_name(rc), err);
        assert_non_null(strstr(err, intel_provider_name(p)));
        /* the Shodan URL holds the key: the message has the path only */
        assert_null(strstr(err, "key="));
    }
}

static void test_failures(void **state)
{
    free(control("reset", "{}"));
    intel_verdict v;
    char err[512];
    int64_t retry = 0;
    for (int p = 0; p < INTEL_PROVIDER_COUNT; p++) {
        const char *value = p == INTEL_MALWAREBAZAAR ? "44d88612fea8a8f36de82e1278abb02f"
                            : p == INTEL_THREATFOX   ? "45.155.205.233:50050"
                                                     : "45.155.205.233";
        intel_provider pv = (intel_provider)p;
        set_mode(pv, "429", "\"retry_after\": \"7\"");
        assert_int_equal(lookup(pv, value, KEY, 5000, &v, NULL, &retry, err, sizeof err), INTEL_LOOKUP_RATE_LIMITED);
        assert_int_equal(retry, 7000);
        set_mode(pv, "500", NULL);
        assert_int_equal(lookup(pv, value, KEY, 5000, &v, NULL, &retry, err, sizeof err), INTEL_LOOKUP_RETRY);
        assert_non_null(strstr(err, "HTTP 500"));
        set_mode(pv, "malformed", NULL);
        assert_int_equal(lookup(pv, value, KEY, 5000, &v, NULL, &retry, err, sizeof err), INTEL_LOOKUP_ERROR);
        set_mode(pv, "ok", NULL);
        assert_int_equal(lookup(pv, value, KEY, 5000, &v, NULL, &retry, err, sizeof err), INTEL_LOOKUP_OK);
        assert_int_equal(calls(pv), 4);
    }
    /* slow: past the timeout is RETRY, and the call returns near the timeout */
    set_mode(INTEL_OTX, "slow", "\"delay\": 2.0");
    int64_t t0 = ids_now_ms();
    assert_int_equal(lookup(INTEL_OTX, "45.155.205.233", KEY, 300, &v, NULL, &retry, err, sizeof err),
                     INTEL_LOOKUP_RETRY);
    int64_t took = ids_now_ms() - t0;
    assert_true(took >= 250 && took < 1500);
    /* slow but within the timeout is an answer */
    set_mode(INTEL_OTX, "slow", "\"delay\": 0.2");
    assert_int_equal(lookup(INTEL_OTX, "45.155.205.233", KEY, 5000, &v, NULL, &retry, err, sizeof err),
                     INTEL_LOOKUP_OK);
    set_mode(INTEL_OTX, "ok", NULL);
    /* nobody listening: RETRY */
    intel_indicator ind;
    intel_normalize(psl, "45.155.205.233", &ind);
    intel_lookup_opts o = {.timeout_ms = 2000, .now_ms = 0};
    assert_int_equal(intel_lookup(INTEL_VIRUSTOTAL, "http://127.0.0.1:1/vt", KEY, &ind, &o, &v, NULL, &retry, err,
                                  sizeof err),
                     INTEL_LOOKUP_RETRY);
    assert_null(strstr(err, KEY));
    /* a kind the provider does not take: ERROR without a request */
    long before = calls(INTEL_SHODAN);
    assert_int_equal(lookup(INTEL_SHODAN, "example.com", KEY, 5000, &v, NULL, &retry, err, sizeof err),
                     INTEL_LOOKUP_ERROR);
    assert_int_equal(calls(INTEL_SHODAN), before);
}

/* The whole path with the cache: verdict and raw answer stored, the key nowhere in
 * the database. */
static void test_cache_holds_no_key(void **state)
{
    const char *u = getenv("HUTCH_TEST_DATABASE_URL");
    if (!u || !*u)
        skip();
    char err[512];
    pg *db = pg_connect(u, 5000, err, sizeof err);
    assert_non_null(db);
    assert_int_equal(pg_exec(db, NULL, "DROP SCHEMA public CASCADE", 0, NULL), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "CREATE SCHEMA public", 0, NULL), PG_OK);
    assert_int_equal(pg_migrate(db, err, sizeof err), PG_OK);
    free(control("reset", "{}"));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const provider_case *c = &cases[i];
        intel_indicator ind;
        assert_int_equal(intel_normalize(psl, c->known, &ind), INTEL_NORM_OK);
        intel_verdict v;
        int cl = intel_cache_claim(db, c->p, &ind, "test", 1000, 30000, &v);
        if (cl == INTEL_CACHE_HIT)
            continue;
        assert_int_equal(cl, INTEL_CACHE_CLAIMED);
        char *raw = NULL;
        int64_t retry;
        assert_int_equal(lookup(c->p, c->known, KEY, 5000, &v, &raw, &retry, err, sizeof err), INTEL_LOOKUP_OK);
        assert_int_equal(intel_cache_store(db, &v, raw, "test", 1000, 3600000), PG_OK);
        free(raw);
    }
    PGresult *r = NULL;
    const char *params[] = {"%" KEY "%"};
    assert_int_equal(pg_exec(db, &r,
                             "SELECT count(*), count(*) FILTER (WHERE c::text LIKE $1)"
                             " FROM intel_cache c",
                             1, params),
                     PG_OK);
    assert_int_equal(atoi(PQgetvalue(r, 0, 0)), 16);
    assert_string_equal(PQgetvalue(r, 0, 1), "0");
    PQclear(r);
    pg_free(db);
}

static int setup(void **state)
{
    log_init("test-intel-client", LOG_LEVEL_ERROR);
    psl = psl_latest(NULL);
    if (!psl)
        psl = psl_builtin();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    fake_pid = fork();
    if (fake_pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("python3", "python3", "tests/intel/fake_intel.py", "--key", KEY, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    fake_stdin = in[1];
    FILE *f = fdopen(out[0], "r");
    if (!f || fscanf(f, "%d", &fake_port) != 1) {
        fprintf(stderr, "the fake did not start (run from the repository root)\n");
        return -1;
    }
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    if (fake_stdin >= 0)
        close(fake_stdin); /* the fake ends when its stdin closes */
    if (fake_pid > 0)
        waitpid(fake_pid, NULL, 0);
    psl_free((psl_ctx_t *)psl);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_provider),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_cache_holds_no_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
