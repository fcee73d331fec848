/* Topic creation (kafka.h): an admin handle made for the call and destroyed after. */
#include "common/kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/kafka_client.h"
#include "common/log.h"

int kafka_create_topics(const char *brokers, const char *const *topics, int partitions, char *err, size_t errlen)
{
    if (!topics || partitions < 1) {
        kafka_set_err(err, errlen, "create topics: bad arguments");
        return -1;
    }
    kafka_client kc = {0};
    kafka_client_init(&kc, "hutch-admin", "admin");
    rd_kafka_conf_t *conf = kafka_base_conf(&kc, brokers, "hutch-admin", err, errlen);
    if (!conf || kafka_conf_passthrough(conf, err, errlen) < 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        kafka_client_destroy(&kc);
        return -1;
    }
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        kafka_set_err(err, errlen, "kafka admin: %s", errstr);
        rd_kafka_conf_destroy(conf);
        kafka_client_destroy(&kc);
        return -1;
    }
    size_t total = 0;
    while (topics[total])
        total++;
    /* Only ask for what is missing: brokers without the Admin API (the dev
     * broker, librdkafka's mock cluster) then start at once when the topics are
     * already there. */
    const char **missing = calloc(total ? total : 1, sizeof *missing);
    size_t n = 0;
    const struct rd_kafka_metadata *md = NULL;
    bool have_md = rd_kafka_metadata(rk, 1, NULL, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; missing && i < total; i++) {
        bool exists = false;
        for (int t = 0; have_md && t < md->topic_cnt && !exists; t++)
            exists = !strcmp(md->topics[t].topic, topics[i]) && md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!exists)
            missing[n++] = topics[i];
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof *nt);
    int rc = nt && missing ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(missing[i], partitions, 1, errstr, sizeof errstr);
        if (!nt[i]) {
            kafka_set_err(err, errlen, "topic %s: %s", missing[i], errstr);
            rc = -1;
        }
    }
    if (rc == 0 && n > 0) {
        rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opts, 10000, errstr, sizeof errstr);
        rd_kafka_AdminOptions_set_operation_timeout(opts, 10000, errstr, sizeof errstr);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, nt, n, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 25000);
        if (!ev) {
            kafka_set_err(err, errlen, "create topics: no answer from the broker");
            rc = -1;
        } else if (rd_kafka_event_error(ev)) {
            kafka_set_err(err, errlen, "create topics: %s", rd_kafka_event_error_string(ev));
            rc = -1;
        } else {
            const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
            size_t cnt = 0;
            const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
            size_t used = 0;
            for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t te = rd_kafka_topic_result_error(tr[i]);
                if (te == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    LOG_INFO("kafka_topic_created", "topic", rd_kafka_topic_result_name(tr[i]), NULL);
                    continue;
                }
                if (te == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                    continue;
                rc = -1;
                if (err && errlen > used + 1) {
                    const char *es = rd_kafka_topic_result_error_string(tr[i]);
                    int w = snprintf(err + used, errlen - used, "%stopic %s: %s", used ? "; " : "",
                                     rd_kafka_topic_result_name(tr[i]), es ? es : rd_kafka_err2str(te));
                    if (w > 0)
                        used = used + (size_t)w < errlen ? used + (size_t)w : errlen - 1;
                }
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_AdminOptions_destroy(opts);
    }
    /* A consumer that subscribes before the broker's metadata shows a new topic sees
     * it as unknown until its next metadata refresh: wait, bounded, until every
     * created topic has a leader for each partition. */
    for (int64_t until = ids_now_ms() + 30000; rc == 0 && n > 0;) {
        size_t ready = 0;
        md = NULL;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            for (size_t i = 0; i < n; i++)
                for (int t = 0; t < md->topic_cnt; t++) {
                    const rd_kafka_metadata_topic_t *mt = &md->topics[t];
                    bool led = mt->err == RD_KAFKA_RESP_ERR_NO_ERROR && mt->partition_cnt > 0;
                    for (int p = 0; led && p < mt->partition_cnt; p++)
                        led = mt->partitions[p].leader >= 0;
                    ready += !strcmp(mt->topic, missing[i]) && led;
                }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (ready == n || ids_now_ms() >= until)
            break;
        kafka_sleep_ms(200);
    }
    for (size_t i = 0; nt && i < n; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    free(missing);
    rd_kafka_destroy(rk);
    kafka_client_destroy(&kc);
    return rc;
}
