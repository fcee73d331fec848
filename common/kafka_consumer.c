/* The Kafka consumer (kafka.h): batches out, stored offsets in.
 *
 * Offsets: auto commit of *stored* offsets (enable.auto.commit=true,
 * enable.auto.offset.store=false); the frame (consumer.c) stores an offset only
 * when its message is completely done. Rebalancing is cooperative-sticky; on a
 * revocation what is stored is committed first, asynchronously (a synchronous commit
 * blocks for the whole session timeout when the coordinator is unreachable).
 *
 * Closing right after the start: librdkafka 2.0.2 (Debian's) aborts in
 * rd_kafka_destroy when a consumer that joined its group is destroyed before its
 * first assignment (the cooperative-sticky assignor's state is still NULL:
 * "rd_kafka_sticky_assignor_state_destroy: Assertion `assignor_state' failed",
 * librdkafka #4312, fixed in 2.3.0). So a consumer that was never assigned waits for
 * its first assignment before it closes, up to CLOSE_GRACE_MS (also when it is not
 * connected yet: a consumer stopped right after its start joins within moments);
 * what it fetches meanwhile is dropped with no offset stored (redelivered). This
 * narrows the window, it does not close it: a rebalance that starts during the wait
 * can still meet the bug. */
#include "common/kafka.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/kafka_client.h"
#include "common/log.h"

#define CLOSE_GRACE_MS 10000

struct kafka_consumer {
    kafka_client c;
    bool closed, closed_cleanly;
    atomic_bool assigned_once; /* a first assignment came (see the header) */
    metric *m_consumed;
};

static void fill_msg(kafka_msg *km, rd_kafka_message_t *m)
{
    memset(km, 0, sizeof *km);
    km->topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    km->partition = m->partition;
    km->offset = m->offset;
    km->key = m->key;
    km->key_len = m->key_len;
    km->value = m->payload;
    km->value_len = m->len;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    km->timestamp_ms = ts > 0 ? ts : 0;
    km->rk_message = m;
}

void kafka_msg_release(kafka_msg *msg)
{
    if (msg && msg->rk_message) {
        rd_kafka_message_destroy(msg->rk_message);
        msg->rk_message = NULL;
    }
}

const void *kafka_msg_header(const kafka_msg *msg, const char *name, size_t *len)
{
    if (!msg || !msg->rk_message || !name)
        return NULL;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg->rk_message, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
        return NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !val)
        return NULL;
    if (len)
        *len = size;
    return val;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kafka_consumer *c = opaque;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    bool coop = proto && !strcmp(proto, "COOPERATIVE");
    char count[16];
    snprintf(count, sizeof count, "%d", parts ? parts->cnt : 0);
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        LOG_INFO("kafka_partitions_assigned", "consumer", c->c.name, "count", count, NULL);
        atomic_store(&c->assigned_once, true);
        if (coop)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
    } else {
        LOG_INFO("kafka_partitions_revoked", "consumer", c->c.name, "count", count, "reason", rd_kafka_err2name(err),
                 NULL);
        /* Commit what is stored before the partitions move, to limit redelivery.
         * Asynchronous: a synchronous commit blocks for the whole session timeout
         * when the coordinator is unreachable (closing while the broker is down). */
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk))
            rd_kafka_commit(rk, NULL, 1);
        if (coop)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        LOG_ERROR("kafka_rebalance_error", "consumer", c->c.name, "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    } else if (aerr) {
        LOG_ERROR("kafka_rebalance_error", "consumer", c->c.name, "error", rd_kafka_err2str(aerr), NULL);
    }
}

kafka_consumer *kafka_consumer_new(const char *brokers, const char *group, const char *const *topics, char *err,
                                   size_t errlen)
{
    if (!group || !topics || !topics[0]) {
        kafka_set_err(err, errlen, "kafka consumer: group and topics are required");
        return NULL;
    }
    kafka_consumer *c = calloc(1, sizeof *c);
    if (!c || kafka_client_init(&c->c, group, "consumer") < 0) {
        if (c)
            kafka_client_destroy(&c->c);
        free(c);
        kafka_set_err(err, errlen, "out of memory");
        return NULL;
    }
    char mname[256];
    snprintf(mname, sizeof mname, "hutch_kafka_consumed_total{consumer=\"%s\"}", c->c.name);
    c->m_consumed = metrics_counter(mname, "Messages taken from Kafka.");

    rd_kafka_conf_t *conf = kafka_base_conf(&c->c, brokers, group, err, errlen);
    if (!conf || kafka_conf_set(conf, "group.id", group, err, errlen) < 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "true", err, errlen) < 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, errlen) < 0 ||
        /* A short session (default 45 s): a member killed with SIGKILL gives its
         * partitions back within 10 s, and closing while the broker is down is
         * bounded by it too. HUTCH_KAFKA_SESSION_TIMEOUT_MS overrides. */
        kafka_conf_set(conf, "session.timeout.ms", "10000", err, errlen) < 0 ||
        kafka_conf_set(conf, "heartbeat.interval.ms", "2000", err, errlen) < 0 ||
        /* Prefetch at most 8 MB (default 64 MB): with a backlog the default made a
         * service's RSS 62 MiB for no gain in throughput (make bench-policy). */
        kafka_conf_set(conf, "queued.max.messages.kbytes", "8192", err, errlen) < 0 ||
        /* A subscribed topic that does not exist yet (ingest's router topics, made
         * by an operator after the start) is found at the next refresh: 10 s, not 5 min. */
        kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "10000", err, errlen) < 0 ||
        kafka_conf_passthrough(conf, err, errlen) < 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        kafka_client_destroy(&c->c);
        free(c);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    char errstr[512];
    c->c.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!c->c.rk) {
        kafka_set_err(err, errlen, "kafka consumer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        kafka_client_destroy(&c->c);
        free(c);
        return NULL;
    }
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(c->c.rk);

    size_t n = 0;
    while (topics[n])
        n++;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->c.rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kafka_set_err(err, errlen, "kafka subscribe: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(c->c.rk);
        kafka_client_destroy(&c->c);
        free(c);
        return NULL;
    }
    kafka_watch_start(&c->c);
    return c;
}

/* Commits synchronously and leaves the group, but never for longer than the
 * broker's state allows: librdkafka's close waits up to session.timeout.ms
 * for an unreachable coordinator, which would outlast a SIGTERM grace period. The
 * close runs on a queue we serve with a deadline; if it does not finish, the
 * handle is destroyed without it (offsets stored but not committed are then
 * redelivered: at least once, never lost). */
void kafka_consumer_close(kafka_consumer *c)
{
    if (c->closed)
        return;
    c->closed = true;
    /* No explicit rd_kafka_commit: with enable.auto.commit the close itself
     * commits the stored offsets, and a synchronous commit would block for the
     * whole session timeout when the coordinator is unreachable. */
    bool up = atomic_load(&c->c.connected);
    int64_t until = ids_now_ms() + CLOSE_GRACE_MS;
    bool waited = false;
    while (!atomic_load(&c->assigned_once) && ids_now_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->c.rk, 100); /* serves rebalance_cb */
        if (m)
            rd_kafka_message_destroy(m);
        waited = true;
    }
    if (waited)
        LOG_INFO("kafka_close_waited_for_assignment", "consumer", c->c.name, "assigned",
                 atomic_load(&c->assigned_once) ? "true" : "false", NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->c.rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(c->c.rk, q);
    if (error) {
        LOG_WARN("kafka_close_failed", "consumer", c->c.name, "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    } else {
        int64_t deadline = ids_now_ms() + (up ? CLOSE_GRACE_MS : 1000);
        /* Served as events, not callbacks: messages prefetched before the close
         * still arrive here, and librdkafka aborts when a callback-served queue
         * meets one. They are dropped unprocessed (offsets not stored: redelivered);
         * the revocation comes as an event too and goes to our rebalance callback. */
        while (!rd_kafka_consumer_closed(c->c.rk) && ids_now_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rebalance_cb(c->c.rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), c);
            if (ev)
                rd_kafka_event_destroy(ev);
        }
    }
    c->closed_cleanly = rd_kafka_consumer_closed(c->c.rk);
    rd_kafka_queue_destroy(q);
    LOG_INFO("kafka_consumer_closed", "consumer", c->c.name, "clean", c->closed_cleanly ? "true" : "false", NULL);
}

/* Takes a consumed message into the batch, or logs and drops a consumer event. */

size_t kafka_consumer_poll(kafka_consumer *c, kafka_msg *msgs, size_t max, int first_wait_ms, int fill_ms)
{
    size_t n = 0;
    if (!c || c->closed || !max)
        return 0;
    int64_t fill_until = -1;
    while (n < max) {
        int wait;
        if (n == 0) {
            wait = first_wait_ms;
        } else {
            if (fill_until < 0)
                fill_until = ids_now_ms() + fill_ms;
            int64_t left = fill_until - ids_now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->c.rk, wait);
        if (!m) {
            if (n == 0 || wait == 0)
                break;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LOG_WARN("kafka_consume_error", "consumer", c->c.name, "topic",
                         m->rkt ? rd_kafka_topic_name(m->rkt) : "", "error", rd_kafka_message_errstr(m), NULL);
            rd_kafka_message_destroy(m);
            if (n == 0)
                break;
            continue;
        }
        metrics_add(c->m_consumed, 1);
        fill_msg(&msgs[n++], m);
    }
    return n;
}

void kafka_consumer_store(kafka_consumer *c, const kafka_msg *msgs, const bool *done, size_t n)
{
    rd_kafka_topic_partition_list_t *store = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_list_t *blocked = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *topic = msgs[i].topic;
        int32_t partition = msgs[i].partition;
        if (rd_kafka_topic_partition_list_find(blocked, topic, partition))
            continue;
        if (!done[i]) {
            rd_kafka_topic_partition_list_add(blocked, topic, partition);
            continue;
        }
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(store, topic, partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(store, topic, partition);
        tp->offset = msgs[i].offset + 1;
    }
    if (store->cnt > 0 && rd_kafka_offsets_store(c->c.rk, store) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Typically a partition revoked meanwhile: its new owner redelivers. */
        for (int i = 0; i < store->cnt; i++)
            if (store->elems[i].err) {
                char part[16];
                snprintf(part, sizeof part, "%d", (int)store->elems[i].partition);
                LOG_INFO("offset_store_skipped", "consumer", c->c.name, "topic", store->elems[i].topic, "partition",
                         part, "error", rd_kafka_err2str(store->elems[i].err), NULL);
            }
    }
    rd_kafka_topic_partition_list_destroy(store);
    rd_kafka_topic_partition_list_destroy(blocked);
}

bool kafka_consumer_connected(kafka_consumer *c)
{
    return c && atomic_load(&c->c.connected) && !atomic_load(&c->c.fatal);
}

bool kafka_consumer_failed(kafka_consumer *c) { return c && atomic_load(&c->c.fatal); }

void kafka_consumer_free(kafka_consumer *c)
{
    if (!c)
        return;
    kafka_watch_stop(&c->c);
    kafka_consumer_close(c);
    rd_kafka_destroy_flags(c->c.rk, c->closed_cleanly ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    kafka_client_destroy(&c->c);
    free(c);
}
