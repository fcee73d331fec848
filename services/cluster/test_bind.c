/* Unit tests for bind.c: actor keys and storm kinds read from alerts, the binding
 * rule as a table of cases (same title / different actor, different title / same
 * actor and cause, storms, namespace, window, status, tie-breaks), and the storm
 * severity table and titles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/cluster/bind.h"

#define MIN 60000LL
#define HOUR 3600000LL
#define NOW 1767225600000LL

typedef struct {
    Hutch__V1__Alert a;
    Hutch__V1__Attribute at[8];
    Hutch__V1__Attribute *atp[8];
    char *tags[8];
} test_alert;

/* schema, tags ("a,b" or NULL), then key/value pairs, NULL-terminated. */
static void make(test_alert *t, const char *schema, const char *tags, ...)
{
    memset(t, 0, sizeof *t);
    hutch__v1__alert__init(&t->a);
    t->a.schema = (char *)schema;
    t->a.title = "t";
    va_list ap;
    va_start(ap, tags);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        size_t i = t->a.n_attributes++;
        hutch__v1__attribute__init(&t->at[i]);
        t->at[i].key = (char *)k;
        t->at[i].value = va_arg(ap, char *);
        t->atp[i] = &t->at[i];
    }
    va_end(ap);
    t->a.attributes = t->atp;
    static char buf[8][32];
    if (tags) {
        char copy[256];
        strncpy(copy, tags, sizeof copy - 1);
        copy[sizeof copy - 1] = 0;
        for (char *s = strtok(copy, ","); s && t->a.n_tags < 8; s = strtok(NULL, ",")) {
            strncpy(buf[t->a.n_tags], s, 31);
            t->tags[t->a.n_tags] = buf[t->a.n_tags];
            t->a.n_tags++;
        }
    }
    t->a.tags = t->tags;
}

static void test_actor_keys(void **state)
{
    test_alert t;
    bind_alert b;
    make(&t, "guardduty", NULL, "instance_id", "i-1", "remote_ip", "198.51.100.7", "finding_type",
         "UnauthorizedAccess:EC2/SSHBruteForce", NULL);
    bind_alert_read(&t.a, "fp", &b);
    assert_int_equal(b.n_keys, 2);
    assert_string_equal(b.keys[0], "resource:i-1");
    assert_string_equal(b.keys[1], "ip:198.51.100.7");
    assert_null(b.storm);

    /* a container alert is about the container only; root is nobody's */
    make(&t, "falco", NULL, "container_id", "abc123", "user", "root", "hostname", "node-1", NULL);
    bind_alert_read(&t.a, "fp", &b);
    assert_int_equal(b.n_keys, 1);
    assert_string_equal(b.keys[0], "container:abc123");
    make(&t, "okta", NULL, "user", "root", NULL);
    bind_alert_read(&t.a, "fpx", &b);
    assert_int_equal(b.n_keys, 1);
    assert_string_equal(b.keys[0], "fp:fpx"); /* no actor: the fingerprint stands in */
}

static void test_storm_kinds(void **state)
{
    test_alert t;
    bind_alert b;
    make(&t, "guardduty", NULL, "instance_id", "i-1", "remote_ip", "198.51.100.7", "finding_type",
         "Recon:EC2/PortProbeUnprotectedPort", NULL);
    bind_alert_read(&t.a, "fp", &b);
    assert_non_null(b.storm);
    assert_string_equal(b.storm->name, "port_scan");
    assert_int_equal(b.n_keys, 1); /* the scanner, not the host it probed */
    assert_string_equal(b.keys[0], "ip:198.51.100.7");
    assert_string_equal(b.storm_target, "i-1");

    make(&t, "wazuh", "wazuh,low,syslog,sshd,authentication_failed", "agent", "web-01", "srcip", "203.0.113.45",
         "dstuser", "alice", NULL);
    bind_alert_read(&t.a, "fp", &b);
    assert_non_null(b.storm);
    assert_string_equal(b.storm->name, "ssh_brute_force");
    assert_string_equal(b.keys[0], "ip:203.0.113.45");
    assert_string_equal(b.storm_target, "alice");

    /* a port probe without a remote address is an ordinary alert */
    make(&t, "guardduty", NULL, "instance_id", "i-1", "finding_type", "Recon:EC2/PortProbeUnprotectedPort", NULL);
    bind_alert_read(&t.a, "fp", &b);
    assert_null(b.storm);
    assert_string_equal(b.keys[0], "resource:i-1");
}

/* One case: the alert (keys, storm kind, namespace), the candidates, the expected
 * decision. */
typedef struct {
    const char *name;
    const char *ns;
    const char *keys[3];
    const char *storm;
    struct {
        const char *id, *ns, *status;
        int64_t age_ms;
        const char *keys[3];
        const char *storm;
        double score;
    } c[3];
    bind_reason reason;
    int index;
} bind_case;

static const bind_case cases[] = {
    {"no candidate opens", "", {"ip:1.1.1.1"}, NULL, {{NULL}}, BIND_OPEN, -1},
    {"same title, different actor: separate",
     "",
     {"ip:198.51.100.7"},
     NULL,
     {{"t1", "", "open", MIN, {"ip:198.51.100.8"}, "", 1.0}},
     BIND_OPEN,
     -1},
    {"different title, same actor and cause: same ticket",
     "",
     {"ip:203.0.113.45"},
     NULL,
     {{"t1", "", "open", MIN, {"ip:203.0.113.45"}, "", 0.93}},
     BIND_BY_SHAPE,
     0},
    {"same actor, another cause: separate",
     "",
     {"ip:203.0.113.45"},
     NULL,
     {{"t1", "", "open", MIN, {"ip:203.0.113.45"}, "", 0.5}},
     BIND_OPEN,
     -1},
    {"threshold is inclusive",
     "",
     {"user:bob"},
     NULL,
     {{"t1", "", "open", MIN, {"user:bob"}, "", 0.9}},
     BIND_BY_SHAPE,
     0},
    {"seed 004: same IP again after 20 min joins",
     "",
     {"ip:185.199.108.153"},
     NULL,
     {{"t1", "", "open", 20 * MIN, {"ip:185.199.108.153"}, "", 1.0}},
     BIND_BY_SHAPE,
     0},
    {"outside the window opens",
     "",
     {"ip:185.199.108.153"},
     NULL,
     {{"t1", "", "open", HOUR + 1, {"ip:185.199.108.153"}, "", 1.0}},
     BIND_OPEN,
     -1},
    {"window edge is inside",
     "",
     {"ip:1.1.1.1"},
     NULL,
     {{"t1", "", "open", HOUR, {"ip:1.1.1.1"}, "", 1.0}},
     BIND_BY_SHAPE,
     0},
    {"resolved and archived never bind",
     "",
     {"ip:1.1.1.1"},
     NULL,
     {{"t1", "", "resolved", MIN, {"ip:1.1.1.1"}, "", 1.0}, {"t2", "", "archived", MIN, {"ip:1.1.1.1"}, "", 1.0}},
     BIND_OPEN,
     -1},
    {"storm joins its kind by actor whatever the shape",
     "",
     {"ip:198.51.100.7"},
     "port_scan",
     {{"t1", "", "open", MIN, {"ip:198.51.100.7"}, "port_scan", 0.2}},
     BIND_BY_STORM,
     0},
    {"storm of another actor: separate",
     "",
     {"ip:198.51.100.7"},
     "port_scan",
     {{"t1", "", "open", MIN, {"ip:198.51.100.9"}, "port_scan", 1.0}},
     BIND_OPEN,
     -1},
    {"storm of another kind: separate",
     "",
     {"ip:198.51.100.7"},
     "port_scan",
     {{"t1", "", "open", MIN, {"ip:198.51.100.7"}, "ssh_brute_force", 1.0}},
     BIND_OPEN,
     -1},
    {"a storm alert does not join an ordinary ticket by shape",
     "",
     {"ip:198.51.100.7"},
     "port_scan",
     {{"t1", "", "open", MIN, {"ip:198.51.100.7"}, "", 1.0}},
     BIND_OPEN,
     -1},
    {"namespace binds whatever the actor and shape, and beats the rest",
     "acct-1",
     {"ip:1.1.1.1"},
     NULL,
     {{"t1", "", "open", 0, {"ip:1.1.1.1"}, "", 1.0}, {"t2", "acct-1", "open", 30 * MIN, {"x"}, "", -1}},
     BIND_BY_NAMESPACE,
     1},
    {"empty namespaces do not match",
     "",
     {"ip:1.1.1.1"},
     NULL,
     {{"t1", "", "open", MIN, {"ip:2.2.2.2"}, "", 1.0}},
     BIND_OPEN,
     -1},
    {"higher similarity wins",
     "",
     {"ip:1.1.1.1"},
     NULL,
     {{"t1", "", "open", 0, {"ip:1.1.1.1"}, "", 0.95}, {"t2", "", "open", 10 * MIN, {"ip:1.1.1.1"}, "", 0.99}},
     BIND_BY_SHAPE,
     1},
    {"equal similarity: most recent, then smaller id",
     "",
     {"ip:1.1.1.1"},
     NULL,
     {{"t3", "", "open", MIN, {"ip:1.1.1.1"}, "", 0.95},
      {"t2", "", "open", 2 * MIN, {"ip:1.1.1.1"}, "", 0.95},
      {"t1", "", "open", MIN, {"ip:1.1.1.1"}, "", 0.95}},
     BIND_BY_SHAPE,
     2},
    {"unknown similarity (no vector) never binds by shape",
     "",
     {"ip:1.1.1.1"},
     NULL,
     {{"t1", "", "open", MIN, {"ip:1.1.1.1"}, "", -1}},
     BIND_OPEN,
     -1},
    {"fingerprint key: alerts without actors group by title",
     "",
     {"fp:abc"},
     NULL,
     {{"t1", "", "open", MIN, {"fp:abc"}, "", 1.0}},
     BIND_BY_SHAPE,
     0},
};

static void run_case(const bind_case *k, bool reversed)
{
    bind_alert a = {0};
    for (size_t i = 0; i < 3 && k->keys[i]; i++)
        strcpy(a.keys[a.n_keys++], k->keys[i]);
    a.storm = bind_storm_named(k->storm);
    bind_candidate c[3];
    size_t n = 0;
    for (size_t i = 0; i < 3 && k->c[i].id; i++) {
        size_t nk = 0;
        while (nk < 3 && k->c[i].keys[nk])
            nk++;
        c[n++] = (bind_candidate){k->c[i].id,   k->c[i].ns, k->c[i].status, NOW - k->c[i].age_ms,
                                  k->c[i].keys, nk,         k->c[i].storm,  k->c[i].score};
    }
    if (reversed)
        for (size_t i = 0; i < n / 2; i++) {
            bind_candidate x = c[i];
            c[i] = c[n - 1 - i];
            c[n - 1 - i] = x;
        }
    bind_params p = {.threshold = BIND_DEFAULT_THRESHOLD, .window_ms = HOUR, .now_ms = NOW};
    bind_decision d = cluster_bind_decide(k->ns, &a, c, n, &p);
    if (d.reason != k->reason)
        fail_msg("%s: reason %s, expected %s", k->name, bind_reason_name(d.reason), bind_reason_name(k->reason));
    int want = k->index < 0 || !reversed ? k->index : (int)(n - 1 - (size_t)k->index);
    if (d.index != want)
        fail_msg("%s: index %d, expected %d", k->name, d.index, want);
}

static void test_bind_cases(void **state)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case(&cases[i], false);
        run_case(&cases[i], true); /* the order of the rows never matters */
    }
}

static void test_storm_severity_and_title(void **state)
{
    const bind_storm_kind *ps = bind_storm_named("port_scan"), *bf = bind_storm_named("ssh_brute_force");
    assert_string_equal(bind_storm_severity(ps, 1, 1), "low");
    assert_string_equal(bind_storm_severity(ps, 99, 4), "low");
    assert_string_equal(bind_storm_severity(ps, 100, 1), "medium");
    assert_string_equal(bind_storm_severity(ps, 3, 5), "medium"); /* spread alone */
    assert_string_equal(bind_storm_severity(ps, 900, 10), "medium");
    assert_string_equal(bind_storm_severity(ps, 1000, 10), "high");
    assert_string_equal(bind_storm_severity(bf, 150, 37), "high");
    assert_string_equal(bind_storm_severity(bf, 19, 4), "low");
    char title[256];
    bind_storm_title(ps, "198.51.100.7", 900, 10, title, sizeof title);
    assert_string_equal(title, "Port scan from 198.51.100.7: 900 probes on 10 hosts");
    bind_storm_title(bf, "203.0.113.45", 150, 37, title, sizeof title);
    assert_string_equal(title, "SSH brute force from 203.0.113.45: 150 failed logins, 37 accounts");
    assert_null(bind_storm_named("nope"));
    assert_null(bind_storm_named(NULL));
}

static void test_storm_notifies_once(void **state)
{
    const bind_storm_kind *ps = bind_storm_named("port_scan");
    int64_t counts[] = {98, 99, 100, 101};
    int64_t narrow[] = {3, 3, 3, 3}, widening[] = {3, 4, 5, 5}, wide[] = {5, 5, 5, 5};
    assert_int_equal(bind_storm_notify_index(ps, counts, narrow, 4, false), 2); /* the 100th probe */
    assert_int_equal(bind_storm_notify_index(ps, counts, wide, 4, false), 0);   /* 5 hosts: at once */
    int64_t few[] = {3, 4, 5, 6};
    assert_int_equal(bind_storm_notify_index(ps, few, widening, 4, false), 2);   /* the 5th host */
    assert_int_equal(bind_storm_notify_index(ps, counts, narrow, 4, true), -1);  /* notified before */
    assert_int_equal(bind_storm_notify_index(ps, counts, narrow, 2, false), -1); /* not yet */
    assert_int_equal(bind_storm_notify_index(ps, counts, narrow, 0, false), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actor_keys),          cmocka_unit_test(test_storm_kinds),
        cmocka_unit_test(test_bind_cases),          cmocka_unit_test(test_storm_severity_and_title),
        cmocka_unit_test(test_storm_notifies_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
