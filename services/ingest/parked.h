/* Parked requests: HTTP requests of ingest that wait for Kafka's acknowledgement of
 * their RawEvent before they are answered (202 only once the event is durable).
 *
 * One queue per event loop (ingest runs several, see HUTCH_INGEST_HTTP_THREADS):
 * a request is parked on the queue of the loop it arrived on, and is answered on
 * that loop's thread, since libevent's requests belong to their loop. The module
 * knows nothing of HTTP: it hands each entry back to the `answer` callback with
 * an outcome, and the callback replies.
 *
 * How: the loop thread parks (parked_add) and produces with the entry as the
 * delivery callback's context. The delivery callback (librdkafka's poll thread)
 * calls parked_delivered, which only moves the entry to the queue's ready list
 * and, if that list was empty, activates the queue's wake event; the loop thread
 * then answers the whole ready list at once (one wake-up for many deliveries, no
 * allocation, no walk over the waiting requests). A timer on the loop thread
 * answers PARKED_TIMED_OUT to requests whose report is later than the timeout;
 * their entries stay (librdkafka still holds the message and will report) and
 * are handed back a last time, with req NULL, when the report comes
 * (PARKED_LATE_ACK / PARKED_LATE_FAIL, for the log). Entries wait in arrival
 * order, which is deadline order since all share one timeout, so the timer looks
 * only at the oldest ones.
 *
 * What must stay true: every entry is answered at most once with a req (then req
 * is NULL) and freed exactly once, on the loop thread by the wake event, or by
 * parked_queue_free; parked_delivered never touches its entry after it unlocked
 * (the loop may free it at once) and never touches the wake event after
 * parked_queue_close. Stop order: stop the loop, parked_queue_close (no more
 * answers; deliveries only mark), free the producer (its last reports arrive),
 * parked_queue_free (frees what is left, unanswered: the connections are gone). */
#ifndef HUTCH_INGEST_PARKED_H
#define HUTCH_INGEST_PARKED_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/ids.h"
#include "services/ingest/ingest.h"

typedef struct parked_queue parked_queue;

typedef enum {
    PARKED_ACKED = 0,     /* acknowledged in time: answer 202 */
    PARKED_FAILED,        /* delivery failed in time: answer 503 */
    PARKED_TIMED_OUT,     /* no report within the timeout: answer 503 (the entry waits on) */
    PARKED_LATE_ACK,      /* acknowledged after its 503 (req is NULL): log only */
    PARKED_LATE_FAIL,     /* failed after its 503 (req is NULL): log only */
} parked_outcome;

/* One parked request. The caller fills the ids before producing; the module owns
 * the entry from parked_add until it hands it back for the last time. */
typedef struct parked {
    TAILQ_ENTRY(parked) link;      /* in one of the queue's lists */
    parked_queue *queue;
    void *req;                     /* the caller's request (evhttp_request *); NULL once answered */
    int64_t deadline_ms;           /* CLOCK_MONOTONIC */
    int list;                      /* which list holds it (parked.c) */
    int err;                       /* the delivery report: 0 = acknowledged */
    char event_id[IDS_UUID_LEN];
    char trace_id[IDS_UUID_LEN];
    char schema[INGEST_SCHEMA_MAX + 1];
    const char *source;            /* BORROWED, a static string */
} parked;

/* Called on the loop thread (or by parked_queue_close's caller, see there). For
 * PARKED_ACKED, PARKED_FAILED and PARKED_TIMED_OUT, p->req is the request to answer
 * now; the module clears it afterwards. p is BORROWED: it is freed after the call
 * unless the outcome is PARKED_TIMED_OUT. */
typedef void (*parked_answer_fn)(void *ctx, parked *p, parked_outcome outcome);

/* A queue on base (BORROWED; must outlive the queue's events, i.e. until
 * parked_queue_close). timeout_ms: the acknowledgement timeout; check_ms: how
 * often the timer looks for overdue requests. NEW (parked_queue_free), NULL on OOM. */
parked_queue *parked_queue_new(struct event_base *base, int64_t timeout_ms, int64_t check_ms,
                               parked_answer_fn answer, void *ctx);
/* The base the queue answers on (BORROWED). */
struct event_base *parked_queue_base(const parked_queue *q);

/* Loop thread: a NEW entry for req (zeroed ids), parked with its deadline. The caller
 * fills the ids, then produces with the entry as context; if producing fails,
 * parked_cancel. NULL on OOM (nothing parked). */
parked *parked_add(parked_queue *q, void *req);
/* Loop thread: takes back an entry whose produce failed (no report will come) and
 * frees it. */
void parked_cancel(parked *p);
/* Any thread (the delivery callback): the broker's report for p (err 0 = acked). */
void parked_delivered(parked *p, int err);

/* Entries not yet freed (waiting, overdue or ready). Any thread. */
int parked_count(parked_queue *q);
/* After the loop stopped: frees the queue's events; later reports only mark their
 * entries. Answers nothing. Idempotent. */
void parked_queue_close(parked_queue *q);
/* After parked_queue_close and once no report can come any more (the producer is
 * freed): frees the entries left, without answering them, and the queue. NULL ok. */
void parked_queue_free(parked_queue *q);

#endif
