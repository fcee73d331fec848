/* Threat intel in the pipeline: the lookup decision (built-in default, a Rego
 * package intel, its errors), the risk formula with verdicts, and the store of
 * alert_lookups, intel_waiting and intel_queue (attach in the batch, one row per
 * alert, due keys, deferral, provider holds, resolve with the recomputed risk score,
 * a resolve racing a batch) against Postgres (HUTCH_TEST_DATABASE_URL;
 * skipped without it). */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "common/log.h"
#include "common/pg.h"
#include "services/enrich/enrich.h"
#include "services/enrich/intel_policy.h"
#include "services/enrich/intel_quota.h"
#include "services/enrich/intel_store.h"

static const psl_ctx_t *psl;

static const char *const sample_values[][2] = {
    {"ipv4", "45.155.205.233"},
    {"ipv4", "10.1.2.3"},
    {"email", "bob@evil-login.com"},
    {"domain", "www.evil-login.com"},
    {"md5", "44d88612fea8a8f36de82e1278abb02f"},
    {"ipv4", "45.155.205[.]233"},
};

static void sample_indicators(enrich_indicators *ind, size_t n)
{
    memset(ind, 0, sizeof *ind);
    ind->items = calloc(n, sizeof *ind->items);
    assert_non_null(ind->items);
    for (size_t i = 0; i < n; i++) {
        ind->items[i].type = sample_values[i][0];
        ind->items[i].value = (char *)sample_values[i][1];
        ind->items[i].path = "p";
    }
    ind->count = n;
}

static bool has_ask(const intel_asks *a, intel_provider p, const char *kind, const char *value)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->items[i].provider == p && !strcmp(intel_kind_name(a->items[i].ind.kind), kind) &&
            !strcmp(a->items[i].ind.value, value))
            return true;
    return false;
}

static Hutch__V1__Alert sample_alert(void)
{
    Hutch__V1__Alert a = HUTCH__V1__ALERT__INIT;
    a.alert_id = "0190b0c4-0000-7000-8000-000000000001";
    a.schema = "guardduty";
    a.title = "SSH brute force";
    return a;
}

/* Every enabled provider that takes the kind, every public indicator, once. */
static void test_default_policy(void **state)
{
    (void)state;
    char err[256];
    intel_policy *pol = intel_policy_load(NULL, err, sizeof err);
    assert_non_null(pol);
    assert_false(intel_policy_is_rego(pol));
    bool enabled[INTEL_PROVIDER_COUNT] = {0};
    enabled[INTEL_VIRUSTOTAL] = enabled[INTEL_ABUSEIPDB] = enabled[INTEL_RDAP] = true;
    enrich_indicators ind;
    sample_indicators(&ind, 6);
    Hutch__V1__Alert a = sample_alert();
    intel_asks asks = {0};
    assert_int_equal(intel_policy_decide(pol, psl, enabled, &a, "high", 75, &ind, &asks, err, sizeof err), 0);
    assert_true(has_ask(&asks, INTEL_VIRUSTOTAL, "ip", "45.155.205.233"));
    assert_true(has_ask(&asks, INTEL_ABUSEIPDB, "ip", "45.155.205.233"));
    assert_true(has_ask(&asks, INTEL_RDAP, "ip", "45.155.205.233"));
    assert_true(has_ask(&asks, INTEL_VIRUSTOTAL, "hostname", "www.evil-login.com"));
    assert_true(has_ask(&asks, INTEL_VIRUSTOTAL, "md5", "44d88612fea8a8f36de82e1278abb02f"));
    /* the defanged copy of the IP is the same lookup; no private IP, no email, RDAP
     * takes no hostname or hash, AbuseIPDB only IPs */
    assert_int_equal(asks.n, 5);
    assert_string_equal(asks.items[0].indicator, "45.155.205.233");
    intel_asks_free(&asks);
    free(ind.items);
    intel_policy_free(pol);
}

static char *write_policy(const char *text)
{
    char *dir = strdup("/tmp/hutch-intel-policy-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/intel.rego", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return dir;
}

static void remove_policy(char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/intel.rego", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

/* The package decides; what it may not do is refused and counted as skipped. */
static void test_rego_policy(void **state)
{
    (void)state;
    char *dir = write_policy("package intel\n"
                             "import rego.v1\n"
                             "lookups contains {\"kind\": i.kind, \"value\": i.value, \"providers\": [\"abuseipdb\"]}"
                             " if { some i in input.indicators; i.type == \"ipv4\"; input.severity == \"high\" }\n"
                             "lookups contains {\"kind\": \"ip\", \"value\": \"192.168.1.1\", \"providers\": "
                             "[\"virustotal\"]}\n"
                             "lookups contains {\"kind\": \"domain\", \"value\": \"evil-login.com\", \"providers\": "
                             "[\"shodan\", \"virustotal\", \"nosuch\"]}\n"
                             "lookups contains {\"kind\": \"domain\", \"value\": \"hxxp://evil-login[.]com/x\"}\n");
    char err[256];
    intel_policy *pol = intel_policy_load(dir, err, sizeof err);
    assert_non_null(pol);
    assert_true(intel_policy_is_rego(pol));
    bool enabled[INTEL_PROVIDER_COUNT] = {0};
    enabled[INTEL_VIRUSTOTAL] = enabled[INTEL_ABUSEIPDB] = true;
    enrich_indicators ind;
    sample_indicators(&ind, 2);
    Hutch__V1__Alert a = sample_alert();
    intel_asks asks = {0};
    assert_int_equal(intel_policy_decide(pol, psl, enabled, &a, "high", 75, &ind, &asks, err, sizeof err), 0);
    assert_true(has_ask(&asks, INTEL_ABUSEIPDB, "ip", "45.155.205.233"));
    assert_true(has_ask(&asks, INTEL_VIRUSTOTAL, "domain", "evil-login.com"));
    /* a defanged URL from the policy is normalised; no providers: every one that takes URLs */
    assert_true(has_ask(&asks, INTEL_VIRUSTOTAL, "url", "http://evil-login.com/x"));
    assert_int_equal(asks.n, 3);
    assert_int_equal(asks.skipped[INTEL_VIRUSTOTAL], 1); /* the private IP */
    assert_int_equal(asks.skipped[INTEL_SHODAN], 1);     /* off (and no domains) */
    intel_asks_free(&asks);
    /* the policy sees the severity: a low alert asks no IP */
    assert_int_equal(intel_policy_decide(pol, psl, enabled, &a, "low", 20, &ind, &asks, err, sizeof err), 0);
    assert_false(has_ask(&asks, INTEL_ABUSEIPDB, "ip", "45.155.205.233"));
    intel_asks_free(&asks);
    free(ind.items);
    intel_policy_free(pol);
    remove_policy(dir);
}

static void test_rego_policy_errors(void **state)
{
    (void)state;
    char err[256];
    char *dir = write_policy("package intel\nimport rego.v1\nlookups contains \"8.8.8.8\"\n");
    intel_policy *pol = intel_policy_load(dir, err, sizeof err);
    assert_non_null(pol);
    bool enabled[INTEL_PROVIDER_COUNT] = {[INTEL_VIRUSTOTAL] = true};
    Hutch__V1__Alert a = sample_alert();
    intel_asks asks = {0};
    assert_int_equal(intel_policy_decide(pol, psl, enabled, &a, "high", 75, NULL, &asks, err, sizeof err), -2);
    assert_non_null(strstr(err, "each member must be"));
    intel_asks_free(&asks);
    intel_policy_free(pol);
    remove_policy(dir);

    dir = write_policy("package intel\nlookups contains x if {\n");
    assert_null(intel_policy_load(dir, err, sizeof err));
    assert_non_null(strstr(err, "intel.rego"));
    remove_policy(dir);

    /* other packages only: the built-in default */
    dir = write_policy("package other\nx := 1\n");
    pol = intel_policy_load(dir, err, sizeof err);
    assert_non_null(pol);
    assert_false(intel_policy_is_rego(pol));
    intel_policy_free(pol);
    remove_policy(dir);
}

static void test_risk_with_intel(void **state)
{
    (void)state;
    assert_true(enrich_risk_with_intel(45, INTEL_UNKNOWN) == 45);
    assert_true(enrich_risk_with_intel(45, INTEL_HARMLESS) == 45);
    assert_true(enrich_risk_with_intel(45, INTEL_SUSPICIOUS) == 60);
    assert_true(enrich_risk_with_intel(45, INTEL_MALICIOUS) == 75);
    assert_true(enrich_risk_with_intel(90, INTEL_MALICIOUS) == 100);
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

static const char *const alert_ids[] = {"0190b0c4-0000-7000-8000-000000000001", "0190b0c4-0000-7000-8000-000000000002"};

static void insert_alert(pg *db, const char *id, const char *base)
{
    const char *p[] = {id, base};
    assert_int_equal(pg_exec(db, NULL,
                             "INSERT INTO alerts (alert_id, event_id, trace_id, schema, title, risk_score,"
                             " risk_base) VALUES ($1, $1, 'trace', 'guardduty', 't', $2::float8, $2::float8)",
                             2, p),
                     PG_OK);
}

static intel_ask make_ask(intel_provider p, const char *value)
{
    intel_ask a = {.provider = p, .indicator = (char *)value};
    assert_int_equal(intel_normalize(psl, value, &a.ind), INTEL_NORM_OK);
    return a;
}

static int64_t scalar(pg *db, const char *sql)
{
    PGresult *r = NULL;
    assert_int_equal(pg_exec(db, &r, sql, 0, NULL), PG_OK);
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* Two alerts with the same IP: one cached verdict attached at once, one lookup
 * pending for both, due once, deferred, then resolved: both alerts updated with the
 * risk recomputed, the key's rows settled, the other rows left alone. */
static void test_db_attach_due_resolve(void **state)
{
    (void)state;
    pg *db = db_or_skip();
    insert_alert(db, alert_ids[0], "45");
    insert_alert(db, alert_ids[1], "20");
    intel_ask vt = make_ask(INTEL_VIRUSTOTAL, "45.155.205.233");
    intel_ask ab = make_ask(INTEL_ABUSEIPDB, "45.155.205.233");
    int64_t now = 1760000000000;
    /* a fresh AbuseIPDB verdict in the cache */
    intel_verdict v;
    memset(&v, 0, sizeof v);
    v.provider = INTEL_ABUSEIPDB;
    v.kind = INTEL_KIND_IP;
    snprintf(v.value, sizeof v.value, "45.155.205.233");
    v.verdict = INTEL_SUSPICIOUS;
    v.score = 40;
    snprintf(v.summary, sizeof v.summary, "AbuseIPDB confidence 40%%");
    snprintf(v.link, sizeof v.link, "https://www.abuseipdb.com/check/45.155.205.233");
    assert_int_equal(intel_cache_store(db, &v, "{}", "x", now, 3600000), PG_OK);

    intel_attach_row rows[] = {
        {.alert_id = alert_ids[0], .ask = &vt, .record = true},
        {.alert_id = alert_ids[0], .ask = &ab, .record = true},
        {.alert_id = alert_ids[1], .ask = &vt, .record = true},
        {.alert_id = "0190b0c4-0000-7000-8000-00000000dead", .ask = &vt, .record = true}, /* no such alert */
    };
    assert_int_equal(intel_store_attach(db, rows, 4, now), PG_OK);
    assert_false(rows[0].hit);
    assert_true(rows[1].hit);
    assert_int_equal(rows[1].level, INTEL_SUSPICIOUS);
    assert_int_equal(rows[1].score, 40);
    assert_string_equal(rows[1].link, "https://www.abuseipdb.com/check/45.155.205.233");
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel WHERE state = 'pending'"), 2);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel WHERE state = 'done'"), 1);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel"), 3);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_queue"), 1); /* the key once, for both alerts */
    /* attached again (a redelivery with record set): nothing doubles */
    intel_attach_rows_free(rows, 4);
    assert_int_equal(intel_store_attach(db, rows, 4, now), PG_OK);
    intel_attach_rows_free(rows, 4);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel"), 3);

    intel_due due[4];
    size_t n = 0;
    assert_int_equal(intel_store_due(db, now, due, 4, &n), PG_OK);
    assert_int_equal(n, 1); /* one key for both alerts: asked once */
    assert_int_equal(due[0].provider, INTEL_VIRUSTOTAL);
    assert_string_equal(due[0].value, "45.155.205.233");
    assert_int_equal(intel_store_defer(db, &due[0], now + 5000, true), PG_OK);
    assert_int_equal(intel_store_due(db, now, due, 4, &n), PG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(intel_store_due(db, now + 5000, due, 4, &n), PG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(due[0].attempts, 1);
    /* the provider's bucket is empty: every VirusTotal lookup waits, AbuseIPDB's not */
    assert_int_equal(intel_store_defer_provider(db, INTEL_VIRUSTOTAL, now + 60000), PG_OK);
    assert_int_equal(intel_store_due(db, now + 59999, due, 4, &n), PG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(intel_store_defer_provider(db, INTEL_VIRUSTOTAL, now + 1000), PG_OK); /* never earlier */
    assert_int_equal(intel_store_due(db, now + 60000, due, 4, &n), PG_OK);
    assert_int_equal(n, 1);

    /* the verdict arrives: malicious */
    v.provider = INTEL_VIRUSTOTAL;
    v.verdict = INTEL_MALICIOUS;
    v.score = 90;
    snprintf(v.summary, sizeof v.summary, "VT 9/92 engines malicious");
    assert_int_equal(intel_cache_store(db, &v, "{}", "x", now, 3600000), PG_OK);
    assert_int_equal(pg_begin(db), PG_OK);
    intel_update *u = NULL;
    size_t nu = 0;
    assert_int_equal(intel_store_resolve(db, &due[0], "done", NULL, &u, &nu), PG_OK);
    assert_int_equal(pg_commit(db), PG_OK);
    assert_int_equal(nu, 2);
    assert_string_equal(u[0].alert_id, alert_ids[0]);
    assert_true(u[0].risk_score == 75); /* 45 + 30 (malicious) */
    assert_int_equal(u[0].pending, 0);
    assert_int_equal(u[0].settled, 2);
    assert_true(u[1].risk_score == 50);
    assert_int_equal(u[1].settled, 1);
    json_error_t je;
    json_t *d = json_loads(u[0].detail_json, 0, &je);
    assert_non_null(d);
    assert_int_equal(json_array_size(json_object_get(d, "intel")), 2);
    const json_t *first = json_array_get(json_object_get(d, "intel"), 0); /* abuseipdb sorts first */
    assert_string_equal(json_string_value(json_object_get(first, "verdict")), "suspicious");
    const json_t *second = json_array_get(json_object_get(d, "intel"), 1);
    assert_string_equal(json_string_value(json_object_get(second, "verdict")), "malicious");
    assert_string_equal(json_string_value(json_object_get(second, "state")), "done");
    json_decref(d);
    intel_updates_free(u, nu);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel WHERE state = 'pending'"), 0);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_queue"), 0);
    assert_int_equal(scalar(db, "SELECT risk_score::int FROM alerts WHERE alert_id = "
                                "'0190b0c4-0000-7000-8000-000000000001'"),
                     75);
    /* resolving again settles nothing and publishes nothing */
    assert_int_equal(intel_store_resolve(db, &due[0], "done", NULL, &u, &nu), PG_OK);
    assert_int_equal(nu, 0);
    intel_updates_free(u, nu);
    int64_t pending = -1;
    assert_int_equal(intel_store_pending_count(db, &pending), PG_OK);
    assert_int_equal(pending, 0);
    pg_free(db);
}

/* An error settles the rows with the reason; the risk keeps its base. */
static void test_db_resolve_error(void **state)
{
    (void)state;
    pg *db = db_or_skip();
    insert_alert(db, alert_ids[0], "30");
    intel_ask vt = make_ask(INTEL_VIRUSTOTAL, "evil-login.com");
    intel_attach_row row = {.alert_id = alert_ids[0], .ask = &vt, .record = true};
    assert_int_equal(intel_store_attach(db, &row, 1, 1760000000000), PG_OK);
    intel_due k = {.provider = INTEL_VIRUSTOTAL, .kind = INTEL_KIND_DOMAIN};
    snprintf(k.value, sizeof k.value, "evil-login.com");
    intel_update *u = NULL;
    size_t nu = 0;
    assert_int_equal(intel_store_resolve(db, &k, "error", "HTTP 401 (bad key?)", &u, &nu), PG_OK);
    assert_int_equal(nu, 1);
    assert_true(u[0].risk_score == 30);
    assert_non_null(strstr(u[0].detail_json, "\"error\":\"HTTP 401 (bad key?)\""));
    assert_non_null(strstr(u[0].detail_json, "\"state\":\"error\""));
    intel_updates_free(u, nu);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel WHERE state = 'error' AND error LIKE 'HTTP 401%'"),
                     1);
    pg_free(db);
}

/* A provider on hold does not stall the others, however many of its keys wait: the
 * round takes the due keys of the providers that may be asked. */
static void test_db_hold_skips_only_its_provider(void **state)
{
    (void)state;
    pg *db = db_or_skip();
    insert_alert(db, alert_ids[0], "10");
    char values[40][32];
    intel_ask asks[41];
    intel_attach_row rows[41];
    for (int i = 0; i < 40; i++) {
        snprintf(values[i], sizeof values[i], "45.155.%d.%d", 200 + i / 10, 1 + i);
        asks[i] = make_ask(INTEL_VIRUSTOTAL, values[i]);
        rows[i] = (intel_attach_row){.alert_id = alert_ids[0], .ask = &asks[i], .record = true};
    }
    asks[40] = make_ask(INTEL_ABUSEIPDB, "45.155.205.233");
    rows[40] = (intel_attach_row){.alert_id = alert_ids[0], .ask = &asks[40], .record = true};
    int64_t now = 1760000000000;
    assert_int_equal(intel_store_attach(db, rows, 41, now), PG_OK);
    intel_attach_rows_free(rows, 41);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_queue"), 41);
    intel_due due[4];
    size_t n = 0;
    assert_int_equal(intel_store_due(db, now, due, 4, &n), PG_OK);
    assert_int_equal(n, 4);
    assert_int_equal(intel_store_defer_provider(db, INTEL_VIRUSTOTAL, now + 60000), PG_OK);
    assert_int_equal(intel_store_due(db, now, due, 4, &n), PG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(due[0].provider, INTEL_ABUSEIPDB);
    int64_t pending = -1;
    assert_int_equal(intel_store_pending_count(db, &pending), PG_OK);
    assert_int_equal(pending, 41);
    pg_free(db);
}

typedef struct {
    pg *db;
    intel_due key;
    atomic_bool done;
    int rc;
    size_t updates;
} resolver;

static void *resolve_thread(void *arg)
{
    resolver *r = arg;
    intel_update *u = NULL;
    r->rc = pg_begin(r->db);
    if (r->rc == PG_OK)
        r->rc = intel_store_resolve(r->db, &r->key, "done", NULL, &u, &r->updates);
    if (r->rc == PG_OK)
        r->rc = pg_commit(r->db);
    intel_updates_free(u, r->updates);
    atomic_store(&r->done, true);
    return NULL;
}

/* A batch queues a key that a worker resolves before the batch commits: the resolve
 * waits for the batch (the key's queue row is locked) and then settles its rows too,
 * so no pending row is left without a queued key. */
static void test_db_resolve_waits_for_a_batch_queueing_its_key(void **state)
{
    (void)state;
    pg *db = db_or_skip();
    char err[512];
    pg *worker = pg_connect(getenv("HUTCH_TEST_DATABASE_URL"), 5000, err, sizeof err);
    assert_non_null(worker);
    insert_alert(db, alert_ids[0], "10");
    insert_alert(db, alert_ids[1], "20");
    intel_ask vt = make_ask(INTEL_VIRUSTOTAL, "45.155.205.233");
    int64_t now = 1760000000000;
    intel_attach_row first = {.alert_id = alert_ids[0], .ask = &vt, .record = true};
    assert_int_equal(intel_store_attach(db, &first, 1, now), PG_OK); /* queued, committed */
    assert_int_equal(pg_begin(db), PG_OK);                           /* the next batch */
    intel_attach_row second = {.alert_id = alert_ids[1], .ask = &vt, .record = true};
    assert_int_equal(intel_store_attach(db, &second, 1, now), PG_OK);

    resolver r = {.db = worker, .key = {.provider = INTEL_VIRUSTOTAL, .kind = INTEL_KIND_IP}};
    snprintf(r.key.value, sizeof r.key.value, "45.155.205.233");
    atomic_init(&r.done, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, resolve_thread, &r), 0);
    usleep(300 * 1000);
    assert_false(atomic_load(&r.done)); /* waiting for the batch */
    assert_int_equal(pg_commit(db), PG_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.rc, PG_OK);
    assert_int_equal(r.updates, 2); /* both alerts, the batch's too */
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel WHERE state = 'pending'"), 0);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_queue"), 0);
    pg_free(worker);
    pg_free(db);
}

static char *text_of(pg *db, const char *sql)
{
    PGresult *r = NULL;
    assert_int_equal(pg_exec(db, &r, sql, 0, NULL), PG_OK);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    assert_non_null(v);
    return v;
}

static void cache_verdict(pg *db, intel_provider p, const char *ip, intel_level level, int64_t now)
{
    intel_verdict v;
    memset(&v, 0, sizeof v);
    v.provider = p;
    v.kind = INTEL_KIND_IP;
    snprintf(v.value, sizeof v.value, "%s", ip);
    v.verdict = level;
    v.score = level == INTEL_MALICIOUS ? 90 : 0;
    snprintf(v.summary, sizeof v.summary, "s");
    snprintf(v.link, sizeof v.link, "https://example.com/%s", ip);
    assert_int_equal(intel_cache_store(db, &v, "{}", "x", now, 3600000), PG_OK);
}

static void resolve_one(pg *db, intel_provider p, const char *ip, const char *state, const char *error,
                        size_t want_pending)
{
    intel_due k = {.provider = p, .kind = INTEL_KIND_IP};
    snprintf(k.value, sizeof k.value, "%s", ip);
    intel_update *u = NULL;
    size_t nu = 0;
    assert_int_equal(pg_begin(db), PG_OK);
    assert_int_equal(intel_store_resolve(db, &k, state, error, &u, &nu), PG_OK);
    assert_int_equal(pg_commit(db), PG_OK);
    assert_int_equal(nu, 1);
    assert_int_equal(u[0].pending, want_pending);
    assert_int_equal(u[0].settled, 6 - want_pending);
    intel_updates_free(u, nu);
}

#define LOOKUPS_VIEW                                                                                                   \
    "SELECT string_agg(provider || ' ' || value || ' ' || indicator || ' ' || state || coalesce(' ' || error, ''),"    \
    " ', ' ORDER BY provider, value) FROM alert_intel WHERE alert_id = '0190b0c4-0000-7000-8000-000000000001'"

/* An alert's lookups are one alert_lookups row whatever their number (3 providers x 2
 * IPs, 3 hits and 3 misses here); the alert_intel view shows each lookup with its
 * state as the resolves settle them; a redelivery writes nothing; only the misses
 * wait, and the waiting list empties as their keys resolve. */
static void test_db_one_row_per_alert(void **state)
{
    (void)state;
    pg *db = db_or_skip();
    insert_alert(db, alert_ids[0], "40");
    int64_t now = 1760000000000;
    const char *ip1 = "45.155.205.233", *ip2 = "185.220.101.1";
    cache_verdict(db, INTEL_ABUSEIPDB, ip1, INTEL_HARMLESS, now);
    cache_verdict(db, INTEL_ABUSEIPDB, ip2, INTEL_HARMLESS, now);
    cache_verdict(db, INTEL_VIRUSTOTAL, ip1, INTEL_HARMLESS, now);
    intel_ask asks[] = {
        make_ask(INTEL_VIRUSTOTAL, ip1), make_ask(INTEL_ABUSEIPDB, ip1), make_ask(INTEL_RDAP, ip1),
        make_ask(INTEL_VIRUSTOTAL, ip2), make_ask(INTEL_ABUSEIPDB, ip2), make_ask(INTEL_RDAP, ip2),
    };
    for (size_t i = 3; i < 6; i++)
        asks[i].indicator = "185.220.101[.]1"; /* the alert's defanged copy */
    intel_attach_row rows[6];
    for (size_t i = 0; i < 6; i++)
        rows[i] = (intel_attach_row){.alert_id = alert_ids[0], .ask = &asks[i], .record = true};
    assert_int_equal(intel_store_attach(db, rows, 6, now), PG_OK);
    intel_attach_rows_free(rows, 6);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_lookups"), 1);
    assert_int_equal(scalar(db, "SELECT jsonb_array_length(lookups) FROM alert_lookups"), 6);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_waiting"), 3);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_queue"), 3);
    char *v = text_of(db, LOOKUPS_VIEW);
    assert_string_equal(v,
                        "abuseipdb 185.220.101.1 185.220.101[.]1 done, abuseipdb 45.155.205.233 45.155.205.233 done, "
                        "rdap 185.220.101.1 185.220.101[.]1 pending, rdap 45.155.205.233 45.155.205.233 pending, "
                        "virustotal 185.220.101.1 185.220.101[.]1 pending, "
                        "virustotal 45.155.205.233 45.155.205.233 done");
    free(v);
    /* the lookups keep the policy's order */
    v = text_of(db, "SELECT lookups->0->>0 || ' ' || (lookups->3->>2) FROM alert_lookups");
    assert_string_equal(v, "virustotal 185.220.101.1");
    free(v);

    /* redelivered with record set: the alert has its lookups, nothing is written */
    assert_int_equal(intel_store_attach(db, rows, 6, now), PG_OK);
    intel_attach_rows_free(rows, 6);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_lookups"), 1);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel"), 6);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_waiting"), 3);

    cache_verdict(db, INTEL_VIRUSTOTAL, ip2, INTEL_MALICIOUS, now);
    resolve_one(db, INTEL_VIRUSTOTAL, ip2, "done", NULL, 2);
    resolve_one(db, INTEL_RDAP, ip1, "error", "HTTP 500", 1);
    v = text_of(db, LOOKUPS_VIEW);
    assert_string_equal(v,
                        "abuseipdb 185.220.101.1 185.220.101[.]1 done, abuseipdb 45.155.205.233 45.155.205.233 done, "
                        "rdap 185.220.101.1 185.220.101[.]1 pending, "
                        "rdap 45.155.205.233 45.155.205.233 error HTTP 500, "
                        "virustotal 185.220.101.1 185.220.101[.]1 done, "
                        "virustotal 45.155.205.233 45.155.205.233 done");
    free(v);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_waiting"), 1);
    assert_int_equal(scalar(db, "SELECT risk_score::int FROM alerts"), 70); /* 40 + 30 (malicious) */
    cache_verdict(db, INTEL_RDAP, ip2, INTEL_UNKNOWN, now);
    resolve_one(db, INTEL_RDAP, ip2, "done", NULL, 0);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel WHERE state = 'pending'"), 0);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_intel WHERE state = 'done'"), 5);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_waiting"), 0);
    assert_int_equal(scalar(db, "SELECT count(*) FROM intel_queue"), 0);
    assert_int_equal(scalar(db, "SELECT count(*) FROM alert_lookups"), 1);
    pg_free(db);
}

static int setup(void **state)
{
    (void)state;
    log_init("test-intel-pipeline", LOG_LEVEL_ERROR);
    psl = psl_latest(NULL);
    if (!psl)
        psl = psl_builtin();
    return psl ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    psl_free((psl_ctx_t *)psl);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_policy),
        cmocka_unit_test(test_rego_policy),
        cmocka_unit_test(test_rego_policy_errors),
        cmocka_unit_test(test_risk_with_intel),
        cmocka_unit_test(test_db_attach_due_resolve),
        cmocka_unit_test(test_db_resolve_error),
        cmocka_unit_test(test_db_hold_skips_only_its_provider),
        cmocka_unit_test(test_db_resolve_waits_for_a_batch_queueing_its_key),
        cmocka_unit_test(test_db_one_row_per_alert),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
