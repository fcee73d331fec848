/* Unit tests for the policy directory's hot reload (reload.c): the first load, a
 * change noticed by the watcher, a broken change refused while the last good set
 * stays, a fix taken again, and a reload on request (SIGHUP's path). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "services/policy/reload.h"

static char dir[64];

static void write_policy(const char *text)
{
    char path[128], tmp[140];
    snprintf(path, sizeof path, "%s/p.rego", dir);
    snprintf(tmp, sizeof tmp, "%s/.p.rego.tmp", dir); /* hidden: never read half-written */
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static const char *title_of(policy_rules *r)
{
    static char title[64];
    policy_input in = {.event_id = "e", .schema = "s", .source = "t", .payload_json = "{}"};
    policy_decision d = {0};
    char err[256];
    assert_int_equal(policy_rules_decide(r, NULL, &in, &d, err, sizeof err), 0);
    assert_int_equal(d.count, 1);
    snprintf(title, sizeof title, "%s", d.alerts[0].title);
    policy_decision_free(&d);
    return title;
}

/* Waits (up to 5 s) for a new set from the watcher. */
static policy_rules *wait_take(policy_reload *w)
{
    for (int i = 0; i < 500; i++) {
        policy_rules *r = policy_reload_take(w);
        if (r)
            return r;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static json_int_t generation(policy_reload *w, char *state, size_t n, char *error, size_t en)
{
    json_t *s = policy_reload_status(w);
    json_int_t g = json_integer_value(json_object_get(s, "generation"));
    snprintf(state, n, "%s", json_string_value(json_object_get(s, "state")));
    const char *e = json_string_value(json_object_get(s, "error"));
    snprintf(error, en, "%s", e ? e : "");
    json_decref(s);
    return g;
}

static void test_reload(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hutch-test-reload-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char err[1024], st[16], e[1024];

    /* a broken set at start: refused with file:line */
    write_policy("package ingest.s\nalerts contains {\"title\": } if true\n");
    policy_rules *first = NULL;
    assert_null(policy_reload_start(dir, 50, &first, err, sizeof err));
    assert_null(first);
    assert_non_null(strstr(err, "p.rego:2:"));

    write_policy("package ingest.s\nalerts contains {\"title\": \"v1\"} if true\n");
    policy_reload *w = policy_reload_start(dir, 50, &first, err, sizeof err);
    assert_non_null(w);
    assert_string_equal(title_of(first), "v1");
    assert_int_equal(generation(w, st, sizeof st, e, sizeof e), 1);
    assert_string_equal(st, "ok");
    assert_null(policy_reload_take(w)); /* nothing new */

    /* a change is noticed and handed over */
    write_policy("package ingest.s\nalerts contains {\"title\": \"version two\"} if true\n");
    policy_rules *second = wait_take(w);
    assert_non_null(second);
    assert_string_equal(title_of(second), "version two");
    assert_int_equal(generation(w, st, sizeof st, e, sizeof e), 2);

    /* a broken change: nothing handed over, the state says stale with the position */
    write_policy("package ingest.s\n\n\nalerts contains {\"title\": if true\n");
    for (int i = 0; i < 500 && generation(w, st, sizeof st, e, sizeof e) == 2 && strcmp(st, "stale") != 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_string_equal(st, "stale");
    assert_non_null(strstr(e, "p.rego:4:"));
    assert_null(policy_reload_take(w));
    assert_string_equal(title_of(second), "version two"); /* the last good set serves */

    /* fixed: taken again */
    write_policy("package ingest.s\nalerts contains {\"title\": \"v3\"} if true\n");
    policy_rules *third = wait_take(w);
    assert_non_null(third);
    assert_string_equal(title_of(third), "v3");
    assert_int_equal(generation(w, st, sizeof st, e, sizeof e), 3);
    assert_string_equal(st, "ok");
    assert_string_equal(e, "");

    /* on request, even without a change */
    policy_reload_request(w);
    policy_rules *fourth = wait_take(w);
    assert_non_null(fourth);
    assert_int_equal(generation(w, st, sizeof st, e, sizeof e), 4);

    policy_reload_request(w); /* a pending set not taken is freed by stop */
    for (int i = 0; i < 500 && generation(w, st, sizeof st, e, sizeof e) == 4; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    policy_reload_stop(w);
    policy_rules_free(first);
    policy_rules_free(second);
    policy_rules_free(third);
    policy_rules_free(fourth);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_reload)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
