/* Unit tests for cluster.c: the fingerprint, the derived ticket id and the
 * bind-or-open decision (window, status, namespace precedence, tie-breaks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ids.h"
#include "services/cluster/cluster.h"

#define HOUR 3600000LL
#define NOW 1767225600000LL /* 2026-01-01 */

static void test_fingerprint(void **state)
{
    char fp[CLUSTER_FINGERPRINT_LEN];
    assert_int_equal(cluster_fingerprint("guardduty", "API was invoked from a Tor exit node.", fp), 0);
    assert_string_equal(fp, "fb9da3801b8676173954bfe7568ecd1553768dd271387a962dccc3b59a397821");
    assert_int_equal(cluster_fingerprint(NULL, NULL, fp), 0); /* "" + "\n" + "" */
    assert_string_equal(fp, "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b");
    char a[CLUSTER_FINGERPRINT_LEN], b[CLUSTER_FINGERPRINT_LEN];
    cluster_fingerprint("guardduty", "x", a);
    cluster_fingerprint("securityhub", "x", b);
    assert_string_not_equal(a, b); /* the schema is part of it */
}

static void test_ticket_id(void **state)
{
    char a[37], b[37], c[37];
    cluster_ticket_id(a, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", NOW);
    cluster_ticket_id(b, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", NOW);
    cluster_ticket_id(c, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", NOW);
    assert_true(ids_is_uuid(a));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

static const char *FP = "fp1";

static void test_no_candidates_opens(void **state)
{
    cluster_decision d = cluster_decide("", FP, NULL, 0, NOW, HOUR);
    assert_int_equal(d.action, CLUSTER_OPEN);
    assert_int_equal(d.index, -1);
}

static void test_fingerprint_within_window(void **state)
{
    cluster_candidate c[] = {
        {"t1", "", "fp1", "open", NOW - HOUR - 1},  /* just outside */
        {"t2", "", "fp1", "open", NOW - HOUR},      /* exactly at the edge: inside */
        {"t3", "", "other", "open", NOW},           /* another fingerprint */
    };
    cluster_decision d = cluster_decide("", FP, c, 3, NOW, HOUR);
    assert_int_equal(d.action, CLUSTER_BIND);
    assert_int_equal(d.index, 1);
    assert_int_equal(d.by_namespace, 0);

    d = cluster_decide("", FP, c, 1, NOW, HOUR);
    assert_int_equal(d.action, CLUSTER_OPEN);
    d = cluster_decide("", FP, c, 1, NOW, 2 * HOUR); /* a longer window takes it */
    assert_int_equal(d.action, CLUSTER_BIND);
}

static void test_resolved_never_binds(void **state)
{
    cluster_candidate c[] = {
        {"t1", "ns", "fp1", "resolved", NOW},
        {"t3", "ns", "fp1", "archived", NOW},
        {"t2", "", "fp1", "open", NOW - 10},
    };
    cluster_decision d = cluster_decide("ns", FP, c, 3, NOW, HOUR);
    assert_int_equal(d.action, CLUSTER_BIND);
    assert_int_equal(d.index, 2);
    d = cluster_decide("ns", FP, c, 2, NOW, HOUR);
    assert_int_equal(d.action, CLUSTER_OPEN);
}

static void test_namespace_beats_fingerprint(void **state)
{
    cluster_candidate c[] = {
        {"t1", "", "fp1", "open", NOW},            /* fingerprint, more recent */
        {"t2", "acct-1", "zzz", "open", NOW - 5},  /* namespace, older, other fingerprint */
        {"t3", "acct-2", "zzz", "open", NOW},      /* another namespace */
    };
    cluster_decision d = cluster_decide("acct-1", FP, c, 3, NOW, HOUR);
    assert_int_equal(d.action, CLUSTER_BIND);
    assert_int_equal(d.index, 1);
    assert_int_equal(d.by_namespace, 1);
    /* without a namespace, only the fingerprint counts */
    d = cluster_decide("", FP, c, 3, NOW, HOUR);
    assert_int_equal(d.index, 0);
    d = cluster_decide(NULL, FP, c, 3, NOW, HOUR);
    assert_int_equal(d.index, 0);
}

static void test_empty_namespaces_do_not_match(void **state)
{
    cluster_candidate c[] = {{"t1", "", "other", "open", NOW}};
    cluster_decision d = cluster_decide("", FP, c, 1, NOW, HOUR);
    assert_int_equal(d.action, CLUSTER_OPEN);
}

static void test_tie_breaks_are_order_free(void **state)
{
    cluster_candidate c1[] = {
        {"t-b", "", "fp1", "open", NOW - 100},
        {"t-a", "", "fp1", "open", NOW - 100},
        {"t-c", "", "fp1", "open", NOW - 200},
    };
    cluster_candidate c2[] = {c1[2], c1[0], c1[1]};
    cluster_decision d1 = cluster_decide("", FP, c1, 3, NOW, HOUR);
    cluster_decision d2 = cluster_decide("", FP, c2, 3, NOW, HOUR);
    assert_string_equal(c1[d1.index].ticket_id, "t-a");
    assert_string_equal(c2[d2.index].ticket_id, "t-a");
    /* the most recent wins before the id */
    c1[2].last_alert_ms = NOW - 1;
    d1 = cluster_decide("", FP, c1, 3, NOW, HOUR);
    assert_string_equal(c1[d1.index].ticket_id, "t-c");
}

static void test_bad_candidates_ignored(void **state)
{
    cluster_candidate c[] = {
        {NULL, "", "fp1", "open", NOW},
        {"", "", "fp1", "open", NOW},
        {"t1", NULL, NULL, NULL, NOW},
    };
    cluster_decision d = cluster_decide("", FP, c, 3, NOW, HOUR);
    assert_int_equal(d.action, CLUSTER_OPEN);
}

/* The outputs of a clustered alert: a redelivered alert packs to the same bytes, and
 * the alert itself is left as it was. */
static void test_pack_redelivery(void **state)
{
    Hutch__V1__Meta meta = HUTCH__V1__META__INIT;
    meta.id = "0190b7c2-7f00-7000-8000-000000000001";
    meta.trace_id = "0190b7c2-7f00-7000-8000-000000000002";
    meta.created_unix_ms = 1720000000000;
    Hutch__V1__Alert a = HUTCH__V1__ALERT__INIT;
    a.meta = &meta;
    a.alert_id = "0190b7c2-7f00-7000-8000-000000000003";
    a.schema = "guardduty";
    a.title = "SSH brute force";
    char fp[CLUSTER_FINGERPRINT_LEN];
    assert_int_equal(cluster_fingerprint(a.schema, a.title, fp), 0);
    const char *ticket = "0190b7c2-7f00-7000-8000-000000000004";
    size_t l1, l2;
    uint8_t *b1 = cluster_pack_clustered(&a, ticket, true, fp, &l1);
    uint8_t *b2 = cluster_pack_clustered(&a, ticket, true, fp, &l2);
    assert_non_null(b1);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    assert_ptr_equal(a.meta, &meta); /* restored */
    assert_string_equal(a.ticket_id, "");
    assert_false(a.new_ticket);
    Hutch__V1__Alert *out = hutch__v1__alert__unpack(NULL, l1, b1);
    assert_non_null(out);
    assert_string_equal(out->ticket_id, ticket);
    assert_string_equal(out->fingerprint, fp);
    assert_true(out->new_ticket);
    assert_string_not_equal(out->meta->id, meta.id); /* its own id, derived from the input's */
    assert_string_equal(out->meta->trace_id, meta.trace_id);
    hutch__v1__alert__free_unpacked(out, NULL);
    free(b1);
    free(b2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_ticket_id),
        cmocka_unit_test(test_no_candidates_opens),
        cmocka_unit_test(test_fingerprint_within_window),
        cmocka_unit_test(test_resolved_never_binds),
        cmocka_unit_test(test_namespace_beats_fingerprint),
        cmocka_unit_test(test_empty_namespaces_do_not_match),
        cmocka_unit_test(test_tie_breaks_are_order_free),
        cmocka_unit_test(test_bad_candidates_ignored),
        cmocka_unit_test(test_pack_redelivery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
