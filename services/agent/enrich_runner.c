/* The enrich policy's prompt tasks on the model (enrich_runner.h).
 *
 * One alert at a time: claim it, run its tasks without a stored result one after
 * another (llm_run_sync on this thread's own client), store each outcome, send the
 * alert back to hutch.alerts.clustered with the results, mark it done. Sessions are
 * recorded like the analyses' (agent_sessions kind "enrich", every turn in
 * agent_messages), so the hour's token budget counts them too. */
#include "services/agent/enrich_runner.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpsl.h>

#include "common/ids.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/mcp.h"
#include "common/msg.h"
#include "common/pg.h"
#include "common/topics.h"
#include "services/agent/agent.h"
#include "services/agent/jobs.h"
#include "services/agent/tools.h"
#include "services/agent/triage.h"
#include "services/agent/triage_store.h"

typedef struct {
    enrich_runner_config *cfg;
    pg *db;
    llm_client *client;
    kafka_producer *producer;
    mcp_set mcp;
    llm_tool *tools; /* agent_tools without hutch_update_finding (a task does not write the
                      * ticket), then the MCP servers' */
    size_t n_tools;
} runner_state;

static void on_message(void *vctx, const char *role, const json_t *content)
{
    agent_tool_ctx *t = vctx;
    agent_session_message(t->db, t->session_id, ++t->seq, role, content);
}

static bool task_settled(const json_t *results, const json_t *skipped, const char *id)
{
    const json_t *lists[] = {results, skipped};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *m;
        json_array_foreach (lists[l], i, m) {
            const char *mid = json_string_value(json_object_get(m, "id"));
            if (mid && !strcmp(mid, id))
                return true;
        }
    }
    return false;
}

static void skip(json_t *skipped, const char *id, const char *reason)
{
    json_array_append_new(skipped, json_pack("{s:s, s:s}", "id", id, "reason", reason));
}

/* Runs one task; appends its result or its skip. */
static void run_task(runner_state *w, triage_enrich_row *row, const json_t *alert, const json_t *task, int64_t ms_left)
{
    const char *id = json_string_value(json_object_get(task, "id"));
    const char *prompt = json_string_value(json_object_get(task, "prompt"));
    const char *format = json_string_value(json_object_get(task, "format"));
    agent_tool_ctx t = {.db = w->db, .psl = psl_builtin()};
    snprintf(t.ticket_id, sizeof t.ticket_id, "%s", row->ticket_id);
    ids_uuid7(t.session_id);
    agent_session_open(w->db, t.session_id, row->ticket_id, "enrich", llm_provider_name(w->cfg->llm.provider),
                       w->cfg->llm.model);
    char *text = triage_enrich_prompt(alert, prompt);
    llm_chat *chat = llm_chat_new(w->cfg->llm.provider, triage_enrich_system);
    if (!text || !chat || llm_chat_add_user(chat, text) != 0) {
        free(text);
        llm_chat_free(chat);
        skip(row->skipped, id, "out of memory");
        return;
    }
    json_t *first = json_string(text);
    on_message(&t, "user", first);
    json_decref(first);
    free(text);
    llm_loop_spec spec = {.tools = w->tools,
                          .n_tools = w->n_tools,
                          .tool_ctx = &t,
                          .limits = w->cfg->limits,
                          .approve = agent_tool_approve,
                          .on_message = on_message};
    if (spec.limits.max_wall_ms <= 0 || spec.limits.max_wall_ms > ms_left)
        spec.limits.max_wall_ms = ms_left;
    llm_run_result r;
    memset(&r, 0, sizeof r);
    llm_run_sync(w->client, chat, &spec, &r); /* chat is the run's now */
    agent_session_close(w->db, t.session_id, r.rc == 0 ? "answered" : "failed", r.reason, r.model_calls, r.input_tokens,
                        r.output_tokens);
    char calls[16], tokens[24];
    snprintf(calls, sizeof calls, "%d", r.model_calls);
    snprintf(tokens, sizeof tokens, "%" PRId64, r.input_tokens + r.output_tokens);
    LOG_INFO("enrich_task_done", "alert_id", row->alert_id, "task", id, "session_id", t.session_id, "reason", r.reason,
             "model_calls", calls, "tokens", tokens, "error", r.rc ? r.err : NULL, NULL);
    if (r.rc == 0 && r.text) {
        json_array_append_new(row->results, json_pack("{s:s, s:s, s:o}", "id", id, "prompt", prompt, "result",
                                                      triage_enrich_result(format, r.text)));
    } else {
        char reason[600];
        snprintf(reason, sizeof reason, "%s%s%s", r.reason, r.err[0] ? ": " : "", r.err);
        skip(row->skipped, id, reason);
    }
    json_decref(t.finding);
    llm_run_result_clear(&r);
}

/* Sends the alert back to triage with its results. 0 or -1 (retry later). */
static int send_back(runner_state *w, const triage_enrich_row *row)
{
    Hutch__V1__Alert *a = hutch__v1__alert__unpack(NULL, row->alert_len, row->alert);
    if (!a)
        return 1; /* cannot happen (the consumer decoded these bytes): dropped below */
    json_t *doc = json_pack("{s:O, s:O}", "results", row->results, "skipped", row->skipped);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    msg_meta_buf meta;
    char seed[160];
    snprintf(seed, sizeof seed, "%s/agent/enriched", a->alert_id);
    int64_t created = a->meta && a->meta->created_unix_ms > 0 ? a->meta->created_unix_ms : a->created_unix_ms;
    msg_meta_init(&meta, a->meta && a->meta->trace_id && *a->meta->trace_id ? a->meta->trace_id : NULL, AGENT_PRODUCER,
                  created, seed);
    Hutch__V1__Meta *saved_meta = a->meta;
    char *saved_enrich = a->triage_enrich_json;
    a->meta = &meta.meta;
    a->triage_enrich_json = text;
    size_t len = 0;
    uint8_t *buf = text ? msg_pack(&a->base, &len) : NULL;
    a->meta = saved_meta;
    a->triage_enrich_json = saved_enrich;
    const char *key = a->namespace_ && *a->namespace_ ? a->namespace_ : a->alert_id;
    int rc = buf && w->producer
                 ? kafka_produce_sync(w->producer, TOPIC_ALERTS_CLUSTERED, key, strlen(key), buf, len, NULL, 10000)
                 : -1;
    free(buf);
    free(text);
    hutch__v1__alert__free_unpacked(a, NULL);
    return rc == 0 ? 0 : -1;
}

/* One queued alert. */
static void run_alert(runner_state *w, triage_enrich_row *row)
{
    Hutch__V1__Alert *a = hutch__v1__alert__unpack(NULL, row->alert_len, row->alert);
    json_t *alert = a ? triage_alert_object(a, NULL) : NULL;
    int64_t deadline = ids_now_ms() + row->ms_left;
    size_t i;
    json_t *task;
    json_array_foreach (row->tasks, i, task) {
        if (*w->cfg->stop)
            break;
        const char *id = json_string_value(json_object_get(task, "id"));
        if (!id || task_settled(row->results, row->skipped, id))
            continue;
        int64_t left = deadline - ids_now_ms();
        if (row->expired || left <= 0) {
            skip(row->skipped, id, "deadline: HUTCH_TRIAGE_ENRICH_WAIT passed before the task ran");
        } else if (!alert) {
            skip(row->skipped, id, "the queued alert could not be read");
        } else if (w->cfg->tokens_per_hour > 0 && agent_tokens_last_hour(w->db) >= w->cfg->tokens_per_hour) {
            skip(row->skipped, id, "token budget: HUTCH_AGENT_TOKENS_PER_HOUR used in the last hour");
        } else {
            run_task(w, row, alert, task, left);
        }
        if (triage_enrich_progress(w->db, row->alert_id, row->results, row->skipped) != PG_OK)
            break; /* the lease expires and the alert is taken again */
    }
    json_decref(alert);
    if (a)
        hutch__v1__alert__free_unpacked(a, NULL);
    if (*w->cfg->stop)
        return;
    int sent = send_back(w, row);
    if (sent < 0 || triage_enrich_done(w->db, row->alert_id) != PG_OK) {
        LOG_WARN("enrich_alert_not_sent", "alert_id", row->alert_id, "note", "taken again when its lease ends", NULL);
        return;
    }
    if (sent > 0) {
        LOG_ERROR("enrich_alert_unreadable", "alert_id", row->alert_id, "note", "the queued bytes do not decode", NULL);
        return;
    }
    char n_res[16], n_skip[16];
    snprintf(n_res, sizeof n_res, "%zu", json_array_size(row->results));
    snprintf(n_skip, sizeof n_skip, "%zu", json_array_size(row->skipped));
    LOG_INFO("enrich_alert_sent_to_triage", "alert_id", row->alert_id, "ticket_id", row->ticket_id, "results", n_res,
             "skipped", n_skip, NULL);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *runner_main(void *arg)
{
    enrich_runner *er = arg;
    runner_state w = {.cfg = &er->cfg};
    char err[512];
    if (!(w.db = pg_connect(w.cfg->database_url, 60000, err, sizeof err)) ||
        !(w.client = llm_client_new(&w.cfg->llm, err, sizeof err)) ||
        !(w.producer = kafka_producer_new(w.cfg->brokers, "hutch-agent-enrich", err, sizeof err))) {
        LOG_ERROR("enrich_runner_not_started", "error", err, NULL);
        goto out;
    }
    if (w.cfg->mcp_servers && *w.cfg->mcp_servers &&
        mcp_set_open(&w.mcp, w.cfg->mcp_servers, w.cfg->mcp_read_only, w.cfg->mcp_timeout_ms, err, sizeof err) != 0)
        LOG_ERROR("enrich_mcp_unavailable", "error", err, "note", "prompt tasks run without the MCP servers' tools",
                  NULL);
    w.tools = calloc(agent_tools_count + w.mcp.n_tools, sizeof *w.tools);
    for (size_t i = 0; w.tools && i < agent_tools_count; i++)
        if (strcmp(agent_tools[i].name, "hutch_update_finding") != 0)
            w.tools[w.n_tools++] = agent_tools[i];
    for (size_t i = 0; w.tools && i < w.mcp.n_tools; i++)
        w.tools[w.n_tools++] = w.mcp.tools[i];
    /* an alert's tasks end by its deadline (each task's wall time is cut to it); the
     * margin covers a task started just before it and sending the alert back */
    int64_t wall = w.cfg->limits.max_wall_ms > 0 ? w.cfg->limits.max_wall_ms : 300000;
    int64_t lease = w.cfg->wait_ms + (wall < 60000 ? wall : 60000) + 60000;
    LOG_INFO("enrich_runner_started", "provider", llm_provider_name(w.cfg->llm.provider), "model", w.cfg->llm.model,
             NULL);
    while (w.tools && !*w.cfg->stop) {
        triage_enrich_row row;
        int n = triage_enrich_claim(w.db, lease, &row);
        if (n == 1) {
            run_alert(&w, &row);
            triage_enrich_row_clear(&row);
        } else {
            sleep_ms(w.cfg->poll_ms > 0 ? w.cfg->poll_ms : 500);
        }
    }
out:
    free(w.tools);
    llm_client_free(w.client);
    mcp_set_close(&w.mcp);
    kafka_producer_free(w.producer, 5000);
    pg_free(w.db);
    return NULL;
}

int enrich_runner_start(enrich_runner *r, const enrich_runner_config *cfg)
{
    r->cfg = *cfg;
    r->started = pthread_create(&r->thread, NULL, runner_main, r) == 0;
    return r->started ? 0 : -1;
}

void enrich_runner_join(enrich_runner *r)
{
    if (r->started)
        pthread_join(r->thread, NULL);
    r->started = false;
}
