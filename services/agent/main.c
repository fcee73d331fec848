/* hutch-agent: consumes clustered alerts, triages them (agent.h: the deterministic
 * triage), records the decision (store.h) and asks notify to tell people; and, never
 * in the way of that, analyses tickets with the configured model (worker.h).
 *
 * Batches of alerts on hutch.alerts.clustered come from the frame (common/consumer.h)
 * inside one transaction: each alert's severity as decided upstream (never the
 * payload), the tickets' severity/summary and the alerts' triage stamp (store.c),
 * then outputs produced after the commit: a NotifyRequest on hutch.notify.requests
 * and a TicketEvent "triaged" on hutch.tickets.events, both keyed by ticket id so one
 * ticket's updates stay in order. Output ids derive from
 * the alert id, so a redelivered alert yields the same messages and notify
 * deduplicates on request_id.
 *
 * The same transaction queues the batch's tickets for an analysis (jobs.h: new to the
 * agent, grown by HUTCH_AGENT_GROWTH_FACTOR, or a higher severity); the worker thread
 * does the analyses with its own connection, so a slow or absent model never delays
 * a notification.
 *
 * hutch.agent.requests (questions from Slack/hutchctl) are recorded once (agent_requests,
 * requests.h) for the worker, which answers them with the chat (chat.h: the ticket in
 * context, the tools, a plan for long questions) and sends the answer as a NotifyRequest
 * "agent_answer" to the question's Slack thread; without a model they are answered at
 * once that no model is configured.
 *
 * Warren's enrich and triage policies (triage_batch.h), when the policy directory
 * (HUTCH_POLICY_DIR) has a package enrich or triage: inside the batch, each alert's
 * prompt tasks (an alert with tasks and a model waits for them: enrich_runner.h sends
 * it back with the results), then the triage's decision shapes its NotifyRequest
 * (title, summary, channel, publish, page) or drops it (discard), recorded in
 * triage_decisions; after the commit the decision's effect on the ticket (notice and
 * discard leave no open ticket) goes through the ticket module.
 *
 * Action chains (chain.h, runs.h), when HUTCH_ACTION_POLICY_DIR names a policy
 * directory with a `package action`: after the batch committed (the frame's
 * after_commit: after triage, before the notification is produced), each alert's
 * chain runs, every action recorded in action_runs so that a redelivered alert
 * replays its chain from the records instead of repeating an effect. A chain whose
 * policy is wrong (an evaluation error, an unknown `uses`) dead-letters a part of
 * the alert's message with the reason (file:line); the alert itself goes on.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/service.h"
#include "common/topics.h"
#include "common/llm.h"
#include "common/mcp.h"
#include "common/severity.h"
#include "services/agent/agent.h"
#include "services/agent/jobs.h"
#include "services/agent/requests.h"
#include "rego/bundle.h"
#include "rego/rego.h"
#include "services/agent/actions.h"
#include "services/agent/chain.h"
#include "services/agent/runs.h"
#include "services/agent/enrich_runner.h"
#include "services/agent/store.h"
#include "services/agent/triage.h"
#include "services/agent/triage_batch.h"
#include "services/agent/worker.h"

typedef struct {
    char *default_channel;
    int64_t concurrency;
    int64_t tokens_per_hour;
    int64_t growth_factor;
    int64_t reanalyse_ms;
    int64_t max_iterations;
    int64_t run_timeout_ms;
    int64_t run_tokens;
    int64_t budget;
    int64_t poll_ms;
    int64_t context_alerts;
    bool template_summary;
    char *action_policy_dir;
    char *action_env_allow;
    int64_t action_max_rounds;
    char *policy_dir;
    char *prompt_dir;
    int64_t enrich_wait_ms;
} agent_config;

static const config_field agent_config_table[] = {
    {"HUTCH_AGENT_DEFAULT_CHANNEL", CONFIG_STRING, "", offsetof(agent_config, default_channel),
     "Slack channel for alerts whose policy named none", 0, 0},
    {"HUTCH_AGENT_CONCURRENCY", CONFIG_INT, "4", offsetof(agent_config, concurrency),
     "ticket analyses running at once (one thread drives them)", 1, 256},
    {"HUTCH_AGENT_TOKENS_PER_HOUR", CONFIG_INT, "500000", offsetof(agent_config, tokens_per_hour),
     "model tokens (input + output) all analyses may use per hour; 0 = no limit", 0, INT64_MAX},
    {"HUTCH_AGENT_GROWTH_FACTOR", CONFIG_INT, "10", offsetof(agent_config, growth_factor),
     "a ticket is analysed again when its alert count grew by this factor (or its severity rose)", 2, 1000000},
    {"HUTCH_AGENT_REANALYSE_INTERVAL", CONFIG_DURATION_MS, "60s", offsetof(agent_config, reanalyse_ms),
     "least time between two analyses of one ticket", 0, 0},
    {"HUTCH_AGENT_MAX_ITERATIONS", CONFIG_INT, "32", offsetof(agent_config, max_iterations),
     "model calls per analysis (the last one must conclude)", 1, 1000},
    {"HUTCH_AGENT_RUN_TIMEOUT", CONFIG_DURATION_MS, "5m", offsetof(agent_config, run_timeout_ms),
     "wall time of one analysis", 0, 0},
    {"HUTCH_AGENT_RUN_TOKENS", CONFIG_INT, "200000", offsetof(agent_config, run_tokens),
     "tokens of one analysis; 0 = no limit", 0, INT64_MAX},
    {"HUTCH_AGENT_BUDGET", CONFIG_INT, "100", offsetof(agent_config, budget),
     "tool budget of one analysis in cost units (intel_lookup and http_fetch 6.25, hutch_* 3); over it tools "
     "answer \"budget exhausted\"; 0 = no limit",
     0, 1000000},
    {"HUTCH_AGENT_POLL", CONFIG_DURATION_MS, "500ms", offsetof(agent_config, poll_ms),
     "how often the worker looks for queued tickets", 0, 0},
    {"HUTCH_AGENT_CONTEXT_ALERTS", CONFIG_INT, "20", offsetof(agent_config, context_alerts),
     "most recent alerts of a ticket put in the model's context", 1, 500},
    {"HUTCH_AGENT_TEMPLATE_SUMMARY", CONFIG_BOOL, "true", offsetof(agent_config, template_summary),
     "without a model (HUTCH_LLM_PROVIDER=none): write a summary made from the alerts' fields and cached verdicts "
     "into the ticket's description (a ticket history entry by hutch-agent)",
     0, 0},
    {"HUTCH_ACTION_POLICY_DIR", CONFIG_STRING, "", offsetof(agent_config, action_policy_dir),
     "directory whose package action runs AlertChain's action chains (\"\": none); base URLs of the actions: "
     "HUTCH_ACTION_<NAME>_URL",
     0, 0},
    {"HUTCH_ACTION_ENV_ALLOW", CONFIG_STRING, "", offsetof(agent_config, action_env_allow),
     "environment variables the action policy sees as input.env: comma-separated patterns (e.g. SLACK_*)", 0, 0},
    {"HUTCH_ACTION_MAX_ROUNDS", CONFIG_INT, "32", offsetof(agent_config, action_max_rounds),
     "rounds of an action chain at most (AlertChain's 32)", 1, 1000},
    {"HUTCH_POLICY_DIR", CONFIG_STRING, "policies", offsetof(agent_config, policy_dir),
     "policy directory whose package triage decides each alert's publication (title, description, channel, attr, "
     "publish alert|notice|discard, page) and package enrich its prompt tasks (Warren's contracts); none: every "
     "alert published as an alert",
     0, 0},
    {"HUTCH_PROMPT_DIR", CONFIG_STRING, "prompts", offsetof(agent_config, prompt_dir),
     "directory of the enrich policy's prompt templates (a task's `template`)", 0, 0},
    {"HUTCH_TRIAGE_ENRICH_WAIT", CONFIG_DURATION_MS, "2m", offsetof(agent_config, enrich_wait_ms),
     "how long an alert whose enrich prompts run on the model waits for them before its triage goes on with the "
     "results that came (the others skipped, reason deadline); other alerts never wait",
     0, 0},
    CONFIG_END,
};

typedef struct {
    const agent_config *cfg;
    metric *m_triaged;
    bool analyses; /* a model, or template summaries: tickets are queued for the worker */
    bool model;    /* a model: questions are queued for the worker */
    metric *m_actions, *m_chain_errors;
    /* the action policy, compiled once at start (NULL: no chains) */
    rego_bundle bundle;
    rego_policy *action_pol;
    rego_query *action_q;
    json_t *action_env;
    actions_config actions;
    /* Warren's enrich and triage policies (NULL pol: none) */
    triage_policy *triage_pol;
    triage_step triage;
} agent_ctx;

/* The batch's tickets for the LLM queue: one request per ticket with the highest
 * severity of its fresh alerts. */
static int queue_analyses(pg *db, const agent_triage_row *rows, size_t n, double factor)
{
    agent_job_request *reqs = calloc(n ? n : 1, sizeof *reqs);
    if (!reqs)
        return PG_RETRY;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].fresh || !rows[i].ticket_found)
            continue;
        size_t j = 0;
        while (j < m && strcasecmp(reqs[j].ticket_id, rows[i].ticket_id))
            j++;
        if (j == m)
            reqs[m++] = (agent_job_request){rows[i].ticket_id, rows[i].alert_count, rows[i].severity};
        else if (severity_rank(rows[i].severity) > severity_rank(reqs[j].severity))
            reqs[j].severity = rows[i].severity;
    }
    /* ticket-id order, as the tickets were locked */
    for (size_t a = 1; a < m; a++)
        for (size_t b = a; b > 0 && strcasecmp(reqs[b - 1].ticket_id, reqs[b].ticket_id) > 0; b--) {
            agent_job_request t = reqs[b];
            reqs[b] = reqs[b - 1];
            reqs[b - 1] = t;
        }
    int rc = agent_jobs_request(db, reqs, m, factor);
    free(reqs);
    return rc;
}

#define ACTION_MAX_STEPS 1000000
#define ACTION_MAX_MEMORY (64u * 1024 * 1024)

/* Compiles the action policy of HUTCH_ACTION_POLICY_DIR (v1 when a module says so,
 * else v0, like hutch-policy). 0, or -1 logged. */
static int load_action_policy(agent_ctx *ctx)
{
    extern char **environ;
    const char *dir = ctx->cfg->action_policy_dir;
    if (!dir || !*dir)
        return 0;
    char err[1024];
    rego_error e;
    rego_bundle_init(&ctx->bundle);
    ctx->bundle.modules_only = true;
    if (rego_bundle_add(&ctx->bundle, dir, REGO_SYNTAX_AUTO, err, sizeof err) != 0) {
        LOG_ERROR("action_policy_error", "error", err, NULL);
        return -1;
    }
    ctx->action_pol = rego_compile(ctx->bundle.mods, ctx->bundle.n, REGO_SYNTAX_V0, &e);
    if (ctx->action_pol)
        ctx->action_q = rego_query_prepare(ctx->action_pol, CHAIN_QUERY, &e);
    if (!ctx->action_q) {
        LOG_ERROR("action_policy_error", "error", e.message, NULL);
        return -1;
    }
    ctx->action_env = chain_env(environ, ctx->cfg->action_env_allow);
    actions_config_from_env(&ctx->actions);
    char n[16];
    snprintf(n, sizeof n, "%zu", ctx->bundle.n);
    LOG_INFO("action_policy_loaded", "dir", dir, "modules", n, NULL);
    return 0;
}

/* The chains of a committed batch (the frame's after_commit). A database error
 * returns PG_RETRY: the frame calls again, and the records make the actions that
 * completed answer from them instead of running again. */
static int run_chains(void *vctx, pg *db, consumer_item **items, size_t n)
{
    agent_ctx *ctx = vctx;
    if (!ctx->action_q)
        return PG_OK;
    chain_spec spec = {.query = ctx->action_q,
                       .data = ctx->bundle.data,
                       .opts = {.max_steps = ACTION_MAX_STEPS, .max_memory = ACTION_MAX_MEMORY},
                       .max_rounds = (int)ctx->cfg->action_max_rounds,
                       .exec = agent_runs_exec,
                       .uses_known = actions_known_in,
                       .src_names = (const char *const *)ctx->bundle.names,
                       .src_texts = (const char *const *)ctx->bundle.texts,
                       .n_src = ctx->bundle.n};
    char **policy_errors = calloc(n ? n : 1, sizeof *policy_errors);
    if (!policy_errors)
        return PG_RETRY;
    int rc = PG_OK;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        consumer_item *it = items[i];
        if (it->dead || it->value->descriptor != &hutch__v1__alert__descriptor)
            continue;
        const Hutch__V1__Alert *a = (const Hutch__V1__Alert *)it->value;
        if (a->triage_enrich_json && *a->triage_enrich_json)
            continue; /* back from the enrich runner: its chain ran on its first pass */
        json_t *alert = NULL, *report = NULL;
        rc = agent_runs_alert(db, a, &alert);
        if (rc == PG_OK)
            rc = agent_runs_namespace_begin(db, a->namespace_, alert);
        if (rc != PG_OK) {
            consumer_item_log(LOG_LEVEL_WARN, it, "action_chain_retry", "alert_id", a->alert_id, "reason",
                              alert ? "namespace store unavailable" : "alert object not built (database or memory)",
                              NULL);
            json_decref(alert);
            break;
        }
        ctx->actions.db = db;
        agent_runs runs = {.db = db, .cfg = &ctx->actions, .alert_id = a->alert_id};
        spec.exec_ctx = &runs;
        int crc = chain_run(&spec, alert, ctx->action_env, &report);
        rc = agent_runs_namespace_end(db, a->namespace_, json_object_get(report, "attrs"),
                                      crc == CHAIN_RETRY || !report ? PG_RETRY : PG_OK);
        char rounds[16], ran[16], replayed[16], interrupted[16];
        snprintf(rounds, sizeof rounds, "%zu", json_array_size(json_object_get(report, "rounds")));
        snprintf(ran, sizeof ran, "%d", runs.executed);
        snprintf(replayed, sizeof replayed, "%d", runs.replayed);
        snprintf(interrupted, sizeof interrupted, "%d", runs.interrupted);
        const char *stopped = json_string_value(json_object_get(report, "stopped"));
        const char *error = json_string_value(json_object_get(report, "error"));
        consumer_item_log(crc == CHAIN_OK ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, it, "action_chain_done", "alert_id",
                          a->alert_id, "trace_id", a->meta->trace_id, "rounds", rounds, "executed", ran, "replayed",
                          replayed, "interrupted", interrupted, "stopped", stopped ? stopped : "", "error",
                          error ? error : "", NULL);
        metrics_add(ctx->m_actions, runs.executed);
        if (crc == CHAIN_POLICY || crc == CHAIN_FAILED)
            metrics_add(ctx->m_chain_errors, 1);
        if (crc == CHAIN_POLICY && rc == PG_OK)
            policy_errors[i] = strdup(error ? error : "action policy error");
        json_decref(report);
        json_decref(alert);
    }
    /* dead-letter parts only once every chain of the batch is through: a retried
     * after_commit must not emit them twice */
    for (size_t i = 0; i < n; i++) {
        if (rc == PG_OK && policy_errors[i] &&
            consumer_emit_dead_part(items[i], 0, items[i]->msg.value, items[i]->msg.value_len, policy_errors[i]) != 0)
            rc = PG_RETRY;
        free(policy_errors[i]);
    }
    free(policy_errors);
    return rc;
}

/* The frame's after_commit: the triage decisions' effects on the tickets, then the
 * action chains. */
static int after_commit(void *vctx, pg *db, consumer_item **items, size_t n)
{
    agent_ctx *ctx = vctx;
    int rc = triage_step_apply(&ctx->triage, db, items, n);
    return rc == PG_OK ? run_chains(vctx, db, items, n) : rc;
}

/* One batch of clustered alerts (and agent requests), inside the frame's transaction:
 * read each alert's severity, record the batch's triage (store.c), then queue per
 * alert a NotifyRequest and a TicketEvent "triaged", both keyed by ticket id. */
static int handle_batch(void *vctx, pg *db, consumer_item **items, size_t n)
{
    agent_ctx *ctx = vctx;
    agent_notify *notes = calloc(n, sizeof *notes);
    agent_triage_row *rows = calloc(n, sizeof *rows);
    size_t *row_of = calloc(n, sizeof *row_of);
    triage_outcome *tri = calloc(n, sizeof *tri);
    int rc = notes && rows && row_of && tri ? PG_OK : PG_RETRY;
    if (rc == PG_OK)
        rc = triage_step_decide(&ctx->triage, db, items, n, tri);
    size_t n_rows = 0;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        consumer_item *it = items[i];
        if (it->value->descriptor == &hutch__v1__agent_request__descriptor) {
            const Hutch__V1__AgentRequest *r = (const Hutch__V1__AgentRequest *)it->value;
            if (!ids_is_uuid(r->ticket_id) || !r->text || !*r->text || !r->request_id || !*r->request_id) {
                consumer_item_dead(it, "agent request without a request_id, a valid ticket_id or a text");
                continue;
            }
            consumer_item_log(LOG_LEVEL_INFO, it, "agent_request_received", "request_id", r->request_id, "ticket_id",
                              r->ticket_id, "user", r->user, "trace_id", r->meta->trace_id, NULL);
            /* without a model, answered at once (recorded answered: a redelivery answers nothing new) */
            static const char no_model[] = "No model is configured (HUTCH_LLM_PROVIDER=none): the agent cannot "
                                           "answer questions.";
            agent_request q = {.request_id = r->request_id,
                               .ticket_id = r->ticket_id,
                               .requester = r->user,
                               .question = r->text,
                               .trace_id = r->meta->trace_id,
                               .reply_channel = r->reply_channel,
                               .reply_thread_ts = r->reply_thread_ts,
                               .answer = ctx->model ? NULL : no_model};
            size_t inserted = 0;
            rc = agent_requests_record(db, &q, 1, &inserted);
            if (rc == PG_OK && !ctx->model) {
                /* the answer's request id derives from the question's: notify posts it once */
                if (agent_answer_build(&notes[i], r->request_id, r->ticket_id, r->user, r->meta->trace_id, no_model,
                                       ids_now_ms()) != 0)
                    rc = PG_RETRY;
                notes[i].req.reply_channel = r->reply_channel;
                notes[i].req.reply_thread_ts = r->reply_thread_ts;
                if (rc == PG_OK && consumer_emit(it, TOPIC_NOTIFY_REQUESTS, r->ticket_id, &notes[i].req.base) != 0)
                    rc = PG_RETRY;
            }
            continue;
        }
        const Hutch__V1__Alert *a = (const Hutch__V1__Alert *)it->value;
        if (it->dead) /* a policy error of its triage */
            continue;
        if (!ids_is_uuid(a->ticket_id)) {
            consumer_item_dead(it, "alert without a valid ticket_id");
            continue;
        }
        const char *severity = agent_alert_severity(a);
        int64_t created_ms = agent_input_time_ms(a, it->msg.timestamp_ms > 0 ? it->msg.timestamp_ms : ids_now_ms());
        if (agent_notify_build(&notes[i], a, severity, ctx->cfg->default_channel, 0, created_ms) != 0) {
            rc = PG_RETRY; /* out of memory */
            break;
        }
        triage_step_shape(&tri[i], &notes[i]);
        rows[n_rows] = (agent_triage_row){.alert_id = a->alert_id,
                                          .ticket_id = a->ticket_id,
                                          .severity = severity,
                                          .ticket_summary = a->new_ticket ? notes[i].summary : "",
                                          .fresh = !it->redelivered};
        row_of[i] = ++n_rows; /* 1-based: 0 = no row */
    }
    if (rc == PG_OK && n_rows)
        rc = agent_store_triage(db, rows, n_rows);
    if (rc == PG_OK && n_rows && ctx->analyses)
        rc = queue_analyses(db, rows, n_rows, (double)ctx->cfg->growth_factor);
    if (rc == PG_OK)
        rc = triage_step_store(&ctx->triage, db, items, n, tri);
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        consumer_item *it = items[i];
        if (it->dead || !row_of[i])
            continue;
        const Hutch__V1__Alert *a = (const Hutch__V1__Alert *)it->value;
        const agent_triage_row *row = &rows[row_of[i] - 1];
        if (!row->ticket_found)
            consumer_item_log(LOG_LEVEL_WARN, it, "ticket_missing", "alert_id", a->alert_id, "ticket_id", a->ticket_id,
                              NULL);
        agent_notify *note = &notes[i];
        if (tri[i].waiting) /* its triage comes when its enrich prompts are answered */
            continue;
        note->req.alert_count = row->alert_count < 1 ? 1 : row->alert_count;
        size_t ev_len = 0;
        uint8_t *ev = agent_pack_triaged(a, note->req.severity, note->req.publish, note->req.alert_count,
                                         note->meta.meta.created_unix_ms, &ev_len);
        int taken = consumer_emit_take(it, TOPIC_TICKETS_EVENTS, a->ticket_id, ev, ev_len);
        /* a storm ticket notifies once, on the alert cluster marked (Alert.notify); a
         * discarded alert is recorded (triage_decisions), not posted */
        bool quiet = (a->notify && !strcmp(a->notify, "quiet")) || !strcmp(note->req.publish, "discard");
        if ((!quiet && consumer_emit(it, TOPIC_NOTIFY_REQUESTS, a->ticket_id, &note->req.base) != 0) || taken != 0)
            rc = PG_RETRY;
        consumer_item_log(LOG_LEVEL_INFO, it, "alert_triaged", "alert_id", a->alert_id, "ticket_id", a->ticket_id,
                          "trace_id", a->meta->trace_id, "severity", note->req.severity, "kind",
                          quiet ? "quiet" : note->req.kind, "publish", note->req.publish, "request_id",
                          note->request_id, "redelivered", it->redelivered ? "true" : "false", NULL);
        if (!it->redelivered)
            metrics_add(ctx->m_triaged, 1);
    }
    for (size_t i = 0; notes && i < n; i++)
        agent_notify_free(&notes[i]);
    free(notes);
    triage_outcomes_free(tri, n);
    free(tri);
    free(rows);
    free(row_of);
    return rc;
}

int main(int argc, char **argv)
{
    agent_config cfg;
    memset(&cfg, 0, sizeof cfg);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_print_settings(stdout, llm_settings_table, "Model settings");
            config_print_settings(stdout, mcp_settings_table, "MCP servers");
            config_print_settings(stdout, chat_settings_table, "Chat (hutch.agent.requests)");
        }
    service_config_or_exit(agent_config_table, &cfg, argc, argv, "hutch-agent",
                           "Triages clustered alerts (severity, summary), asks notify to tell people, and analyses "
                           "tickets with the configured model.");
    llm_settings llm;
    llm_config llm_cfg;
    mcp_settings mcp;
    chat_settings chat;
    char err[1024];
    if (config_load(llm_settings_table, &llm, err, sizeof err) != 0 ||
        llm_settings_config(&llm, &llm_cfg, err, sizeof err) != 0 ||
        config_load(mcp_settings_table, &mcp, err, sizeof err) != 0 ||
        config_load(chat_settings_table, &chat, err, sizeof err) != 0) {
        fprintf(stderr, "hutch-agent: %s\n", err);
        return 78;
    }
    service svc;
    memset(&svc, 0, sizeof svc);
    int rc = 1;
    if (service_start(&svc, "agent", argc, argv) == 0) {
        agent_ctx ctx = {.cfg = &cfg,
                         .m_triaged =
                             metrics_counter("hutch_agent_alerts_triaged_total", "Alerts triaged (first delivery)"),
                         .m_actions = metrics_counter("hutch_agent_actions_total", "Chain actions run (not replays)"),
                         .m_chain_errors = metrics_counter("hutch_agent_action_chain_errors_total",
                                                           "Action chains stopped by an error or a policy error")};
        if (load_action_policy(&ctx) != 0) {
            service_stop(&svc);
            config_free(agent_config_table, &cfg);
            return 1;
        }
        ctx.actions.llm = llm_cfg; /* llm.query asks the agent's own model */
        ctx.triage_pol = triage_policy_load(cfg.policy_dir, cfg.prompt_dir, err, sizeof err);
        if (!ctx.triage_pol) {
            LOG_ERROR("triage_policy_error", "dir", cfg.policy_dir, "error", err, NULL);
            rego_query_free(ctx.action_q);
            rego_policy_free(ctx.action_pol);
            rego_bundle_free(&ctx.bundle);
            json_decref(ctx.action_env);
            service_stop(&svc);
            config_free(agent_config_table, &cfg);
            return 1;
        }
        ctx.triage = (triage_step){
            .pol = ctx.triage_pol, .model = llm_cfg.provider != LLM_NONE, .enrich_wait_ms = cfg.enrich_wait_ms};
        LOG_INFO("triage_policy_loaded", "dir", cfg.policy_dir, "triage", triage_policy_source(ctx.triage_pol),
                 "enrich", triage_policy_has_enrich(ctx.triage_pol) ? "data.enrich" : "", NULL);
        static const consumer_input inputs[] = {
            {TOPIC_ALERTS_CLUSTERED, &hutch__v1__alert__descriptor, msg_check_alert},
            {TOPIC_AGENT_REQUESTS, &hutch__v1__agent_request__descriptor},
            {NULL, NULL}};
        consumer_spec spec = {.inputs = inputs, .handle = handle_batch, .after_commit = after_commit};
        agent_worker worker;
        memset(&worker, 0, sizeof worker);
        agent_worker_config wc = {.database_url = svc.common.database_url,
                                  .llm = llm_cfg,
                                  .concurrency = (int)cfg.concurrency,
                                  .tokens_per_hour = cfg.tokens_per_hour,
                                  .growth_factor = (double)cfg.growth_factor,
                                  .reanalyse_ms = cfg.reanalyse_ms,
                                  .poll_ms = cfg.poll_ms,
                                  .context_alerts = (int)cfg.context_alerts,
                                  .limits = {.max_iterations = (int)cfg.max_iterations,
                                             .max_wall_ms = cfg.run_timeout_ms,
                                             .max_tokens = cfg.run_tokens,
                                             .budget = (double)cfg.budget},
                                  .mcp_servers = mcp.servers,
                                  .mcp_read_only = mcp.read_only,
                                  .mcp_timeout_ms = (long)mcp.timeout_ms,
                                  .chat = &chat,
                                  .brokers = svc.common.kafka_brokers,
                                  .stop = &svc.stop};
        ctx.model = llm_cfg.provider != LLM_NONE;
        ctx.analyses = ctx.model || cfg.template_summary;
        if (ctx.analyses && agent_worker_start(&worker, &wc) != 0)
            LOG_ERROR("agent_worker_not_started", NULL);
        /* the enrich policy's prompt tasks, when a model can answer them */
        enrich_runner runner;
        memset(&runner, 0, sizeof runner);
        enrich_runner_config rc_cfg = {.database_url = svc.common.database_url,
                                       .brokers = svc.common.kafka_brokers,
                                       .llm = llm_cfg,
                                       .limits = wc.limits,
                                       .tokens_per_hour = cfg.tokens_per_hour,
                                       .wait_ms = cfg.enrich_wait_ms,
                                       .mcp_servers = mcp.servers,
                                       .mcp_read_only = mcp.read_only,
                                       .mcp_timeout_ms = (long)mcp.timeout_ms,
                                       .poll_ms = cfg.poll_ms,
                                       .stop = &svc.stop};
        if (ctx.model && triage_policy_has_enrich(ctx.triage_pol) && enrich_runner_start(&runner, &rc_cfg) != 0)
            LOG_ERROR("enrich_runner_not_started", NULL);
        rc = service_consume(&svc, &spec, &ctx) == 0 ? 0 : 1;
        svc.stop = 1;
        agent_worker_join(&worker);
        enrich_runner_join(&runner);
        triage_policy_free(ctx.triage_pol);
        rego_query_free(ctx.action_q);
        rego_policy_free(ctx.action_pol);
        rego_bundle_free(&ctx.bundle);
        json_decref(ctx.action_env);
    }
    service_stop(&svc);
    config_free(agent_config_table, &cfg);
    config_free(llm_settings_table, &llm);
    config_free(mcp_settings_table, &mcp);
    config_free(chat_settings_table, &chat);
    return rc;
}
