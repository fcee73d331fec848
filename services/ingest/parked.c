/* Parked requests (parked.h): three TAILQs per queue under one mutex.
 *
 *   waiting  parked, no report yet, not overdue; arrival (= deadline) order
 *   overdue  answered PARKED_TIMED_OUT, still waiting for the report
 *   ready    reported, not yet handed back; the wake event drains it
 *
 * The mutex is taken by the loop thread (add, cancel, the wake and timer
 * callbacks) and by the delivery thread (parked_delivered), each time for a few
 * pointer moves; answers are given outside it, except timeouts (rare), which are
 * answered while the entry is moved. parked_delivered activates the wake event
 * while it holds the mutex, so parked_queue_close (which sets `closed` under the
 * mutex before freeing the event) can never race with it; this is safe because
 * libevent runs callbacks without the base's lock, so the loop thread never waits
 * for our mutex while holding the base's. */
#include "services/ingest/parked.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

enum { LIST_NONE = 0, LIST_WAITING, LIST_OVERDUE, LIST_READY };

TAILQ_HEAD(parked_list, parked);

struct parked_queue {
    struct event_base *base;
    struct event *wake;
    struct event *timer;
    parked_answer_fn answer;
    void *ctx;
    int64_t timeout_ms;
    pthread_mutex_t lock; /* the lists, count, closed */
    struct parked_list waiting, overdue, ready;
    int count;
    bool closed;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct parked_list *list_of(parked_queue *q, int list)
{
    return list == LIST_WAITING ? &q->waiting : list == LIST_OVERDUE ? &q->overdue : &q->ready;
}

/* Loop thread: hands back everything reported, then frees it. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    parked_queue *q = arg;
    struct parked_list done = TAILQ_HEAD_INITIALIZER(done);
    pthread_mutex_lock(&q->lock);
    TAILQ_CONCAT(&done, &q->ready, link);
    pthread_mutex_unlock(&q->lock);
    int n = 0;
    parked *p;
    while ((p = TAILQ_FIRST(&done))) {
        TAILQ_REMOVE(&done, p, link);
        if (p->req)
            q->answer(q->ctx, p, p->err == 0 ? PARKED_ACKED : PARKED_FAILED);
        else
            q->answer(q->ctx, p, p->err == 0 ? PARKED_LATE_ACK : PARKED_LATE_FAIL);
        free(p);
        n++;
    }
    pthread_mutex_lock(&q->lock);
    q->count -= n;
    pthread_mutex_unlock(&q->lock);
}

/* Loop thread: answers the requests whose deadline passed (the oldest first). */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    parked_queue *q = arg;
    int64_t now = mono_ms();
    pthread_mutex_lock(&q->lock);
    parked *p;
    while ((p = TAILQ_FIRST(&q->waiting)) && p->deadline_ms <= now) {
        TAILQ_REMOVE(&q->waiting, p, link);
        TAILQ_INSERT_TAIL(&q->overdue, p, link);
        p->list = LIST_OVERDUE;
        q->answer(q->ctx, p, PARKED_TIMED_OUT);
        p->req = NULL;
    }
    pthread_mutex_unlock(&q->lock);
}

parked_queue *parked_queue_new(struct event_base *base, int64_t timeout_ms, int64_t check_ms,
                               parked_answer_fn answer, void *ctx)
{
    if (!base || !answer)
        return NULL;
    parked_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->base = base;
    q->answer = answer;
    q->ctx = ctx;
    q->timeout_ms = timeout_ms;
    pthread_mutex_init(&q->lock, NULL);
    TAILQ_INIT(&q->waiting);
    TAILQ_INIT(&q->overdue);
    TAILQ_INIT(&q->ready);
    q->wake = event_new(base, -1, 0, on_wake, q);
    q->timer = event_new(base, -1, EV_PERSIST, on_timer, q);
    struct timeval period = {(time_t)(check_ms / 1000), (suseconds_t)(check_ms % 1000) * 1000};
    if (!q->wake || !q->timer || event_add(q->timer, &period) != 0) {
        parked_queue_close(q);
        parked_queue_free(q);
        return NULL;
    }
    return q;
}

struct event_base *parked_queue_base(const parked_queue *q) { return q ? q->base : NULL; }

parked *parked_add(parked_queue *q, void *req)
{
    parked *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->queue = q;
    p->req = req;
    p->deadline_ms = mono_ms() + q->timeout_ms;
    p->list = LIST_WAITING;
    pthread_mutex_lock(&q->lock);
    TAILQ_INSERT_TAIL(&q->waiting, p, link);
    q->count++;
    pthread_mutex_unlock(&q->lock);
    return p;
}

void parked_cancel(parked *p)
{
    parked_queue *q = p->queue;
    pthread_mutex_lock(&q->lock);
    TAILQ_REMOVE(list_of(q, p->list), p, link);
    q->count--;
    pthread_mutex_unlock(&q->lock);
    free(p);
}

void parked_delivered(parked *p, int err)
{
    parked_queue *q = p->queue;
    pthread_mutex_lock(&q->lock);
    TAILQ_REMOVE(list_of(q, p->list), p, link);
    p->err = err;
    p->list = LIST_READY;
    bool was_empty = TAILQ_EMPTY(&q->ready);
    TAILQ_INSERT_TAIL(&q->ready, p, link);
    /* p may be freed by the loop as soon as the mutex is released. */
    if (was_empty && !q->closed)
        event_active(q->wake, 0, 0);
    pthread_mutex_unlock(&q->lock);
}

int parked_count(parked_queue *q)
{
    pthread_mutex_lock(&q->lock);
    int n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void parked_queue_close(parked_queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_mutex_unlock(&q->lock);
    if (q->wake)
        event_free(q->wake);
    if (q->timer)
        event_free(q->timer);
    q->wake = q->timer = NULL;
}

void parked_queue_free(parked_queue *q)
{
    if (!q)
        return;
    struct parked_list *lists[] = {&q->waiting, &q->overdue, &q->ready};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        parked *p;
        while ((p = TAILQ_FIRST(lists[i]))) {
            TAILQ_REMOVE(lists[i], p, link);
            free(p);
        }
    }
    pthread_mutex_destroy(&q->lock);
    free(q);
}
