/* Unit tests for the parked-request queue (parked.c) on a real libevent base, with
 * delivery reports coming from another thread as librdkafka's would: every request
 * answered exactly once with the right outcome, timeouts only for the overdue ones,
 * late reports handed back without a request, cancel and close/free safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/thread.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/ingest/parked.h"

#define MANY 20000

typedef struct {
    int outcomes[PARKED_LATE_FAIL + 1];
    int answered_with_req;
    int *per_req;             /* answers per request index (requests are &reqs[i]) */
    char *reqs;
    bool req_seen_null;       /* an ACKED/FAILED/TIMED_OUT came without its request */
} tally;

static void on_answer(void *ctx, parked *p, parked_outcome outcome)
{
    tally *t = ctx;
    t->outcomes[outcome]++;
    if (outcome <= PARKED_TIMED_OUT) {
        if (!p->req)
            t->req_seen_null = true;
        else if (t->per_req)
            t->per_req[(char *)p->req - t->reqs]++;
        t->answered_with_req++;
    } else if (p->req) {
        t->req_seen_null = true; /* late outcomes must come without a request */
    }
}

static void run_for_ms(struct event_base *base, int ms)
{
    struct timeval tv = {0, ms * 1000};
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
}

/* Runs the loop until cond() or ~5 s. */
static void run_until(struct event_base *base, bool (*cond)(void *), void *arg)
{
    for (int i = 0; i < 500 && !cond(arg); i++)
        run_for_ms(base, 10);
}

static int setup(void **state)
{
    evthread_use_pthreads();
    struct event_base *base = event_base_new();
    assert_non_null(base);
    *state = base;
    return 0;
}

static int teardown(void **state)
{
    event_base_free(*state);
    return 0;
}

static bool three_answered(void *arg) { return ((tally *)arg)->answered_with_req >= 3; }

static void test_acked_and_failed(void **state)
{
    struct event_base *base = *state;
    tally t = {0};
    parked_queue *q = parked_queue_new(base, 10000, 50, on_answer, &t);
    assert_non_null(q);
    assert_ptr_equal(parked_queue_base(q), base);
    char reqs[3];
    parked *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = parked_add(q, &reqs[i]);
        assert_non_null(p[i]);
    }
    assert_int_equal(parked_count(q), 3);
    parked_delivered(p[0], 0);
    parked_delivered(p[2], -1);
    parked_delivered(p[1], 0);
    run_until(base, three_answered, &t);
    assert_int_equal(t.outcomes[PARKED_ACKED], 2);
    assert_int_equal(t.outcomes[PARKED_FAILED], 1);
    assert_int_equal(t.outcomes[PARKED_TIMED_OUT], 0);
    assert_false(t.req_seen_null);
    assert_int_equal(parked_count(q), 0);
    parked_queue_close(q);
    parked_queue_free(q);
}

static bool one_timed_out(void *arg) { return ((tally *)arg)->outcomes[PARKED_TIMED_OUT] >= 1; }
static bool one_late(void *arg) { return ((tally *)arg)->outcomes[PARKED_LATE_ACK] >= 1; }

static void test_timeout_then_late_report(void **state)
{
    struct event_base *base = *state;
    tally t = {0};
    parked_queue *q = parked_queue_new(base, 300, 10, on_answer, &t);
    char reqs[2];
    parked *late = parked_add(q, &reqs[0]);
    run_until(base, one_timed_out, &t);
    parked *fresh = parked_add(q, &reqs[1]); /* its deadline is 300 ms from now */
    run_for_ms(base, 20);
    assert_int_equal(t.outcomes[PARKED_TIMED_OUT], 1); /* only the overdue one */
    assert_null(late->req);
    assert_int_equal(parked_count(q), 2); /* the overdue entry waits for its report */
    parked_delivered(fresh, 0);
    parked_delivered(late, 0);
    run_until(base, one_late, &t);
    assert_int_equal(t.outcomes[PARKED_ACKED], 1);
    assert_int_equal(t.outcomes[PARKED_LATE_ACK], 1);
    assert_int_equal(t.answered_with_req, 2);
    assert_false(t.req_seen_null);
    assert_int_equal(parked_count(q), 0);
    parked_queue_close(q);
    parked_queue_free(q);
}

static void test_cancel(void **state)
{
    struct event_base *base = *state;
    tally t = {0};
    parked_queue *q = parked_queue_new(base, 10000, 50, on_answer, &t);
    char req;
    parked *p = parked_add(q, &req);
    assert_int_equal(parked_count(q), 1);
    parked_cancel(p);
    assert_int_equal(parked_count(q), 0);
    run_for_ms(base, 20);
    assert_int_equal(t.answered_with_req, 0);
    parked_queue_close(q);
    parked_queue_free(q);
}

/* After close, reports only mark their entries; free takes what is left. */
static void test_close_then_reports(void **state)
{
    struct event_base *base = *state;
    tally t = {0};
    parked_queue *q = parked_queue_new(base, 10000, 50, on_answer, &t);
    char reqs[3];
    parked *a = parked_add(q, &reqs[0]);
    parked_add(q, &reqs[1]);
    parked *c = parked_add(q, &reqs[2]);
    parked_delivered(c, 0); /* ready, but the loop never runs again */
    parked_queue_close(q);
    parked_queue_close(q); /* idempotent */
    parked_delivered(a, 0);
    run_for_ms(base, 20);
    assert_int_equal(t.answered_with_req, 0);
    assert_int_equal(parked_count(q), 3);
    parked_queue_free(q); /* frees all three (ASan/valgrind would tell) */
    parked_queue_free(NULL);
}

typedef struct {
    parked **entries;
    int n;
} reporter;

static void *report_all(void *arg)
{
    reporter *r = arg;
    for (int i = 0; i < r->n; i++) {
        parked_delivered(r->entries[i], i % 100 == 0 ? -1 : 0);
        if (i % 1000 == 0) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static bool all_answered(void *arg) { return ((tally *)arg)->answered_with_req >= MANY; }

/* Reports from another thread while the loop answers: each request exactly once. */
static void test_many_from_another_thread(void **state)
{
    struct event_base *base = *state;
    tally t = {0};
    t.reqs = calloc(MANY, 1);
    t.per_req = calloc(MANY, sizeof *t.per_req);
    parked **entries = calloc(MANY, sizeof *entries);
    assert_non_null(t.reqs);
    assert_non_null(t.per_req);
    assert_non_null(entries);
    parked_queue *q = parked_queue_new(base, 10000, 50, on_answer, &t);
    for (int i = 0; i < MANY; i++) {
        entries[i] = parked_add(q, &t.reqs[i]);
        assert_non_null(entries[i]);
    }
    reporter r = {entries, MANY};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, report_all, &r), 0);
    run_until(base, all_answered, &t);
    pthread_join(th, NULL);
    run_for_ms(base, 10);
    assert_int_equal(t.answered_with_req, MANY);
    assert_int_equal(t.outcomes[PARKED_FAILED], MANY / 100);
    assert_int_equal(t.outcomes[PARKED_ACKED], MANY - MANY / 100);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(t.per_req[i], 1);
    assert_false(t.req_seen_null);
    assert_int_equal(parked_count(q), 0);
    parked_queue_close(q);
    parked_queue_free(q);
    free(entries);
    free(t.per_req);
    free(t.reqs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acked_and_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_then_late_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_then_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_from_another_thread, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
