/* The agent's LLM worker thread (worker.h).
 *
 * A job's life: claimed (jobs.c) -> a stored answer from an interrupted run is applied
 * as is; otherwise the ticket context is loaded, a session opened and the run started
 * (or the template summary made at once) -> the answer stored in the job -> applied
 * through the ticket module, skipping what the ticket already holds (a finding's
 * severity above the ticket's raises it) -> the job finished. The apply step is the
 * only writer of the ticket here, and it is idempotent: a crash anywhere repeats at
 * most the model calls, never an effect. */
#include "services/agent/worker.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpsl.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/kafka.h"
#include "common/mcp.h"
#include "common/msg.h"
#include "common/topics.h"
#include "services/agent/agent.h"
#include "common/pg.h"
#include "common/severity.h"
#include "common/ticket.h"
#include "services/agent/analysis.h"
#include "services/agent/jobs.h"
#include "services/agent/tools.h"

#define AGENT_ACTOR "hutch-agent"

typedef struct {
    bool busy, done;
    bool is_request;       /* a question of hutch.agent.requests, not an analysis */
    agent_request_row req; /* its question (req.question OWNED) */
    agent_job job;
    agent_tool_ctx tools;
    llm_run *run;
    struct worker_state *w;
} run_slot;

typedef struct worker_state {
    agent_worker_config *cfg;
    pg *db;
    llm_client *client;
    const psl_ctx_t *psl;
    run_slot *slots;
    bool budget_logged;
    mcp_set mcp;
    kafka_producer *producer; /* answers to questions */
    llm_tool *tools;          /* agent_tools, then the MCP servers' */
    llm_tool *chat_tools;     /* the same without hutch_update_finding */
    size_t n_tools;
} worker_state;

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Applies a stored answer through the ticket module. PG_OK, PG_RETRY, or TICKET_REFUSED
 * (the ticket cannot take it, e.g. archived: logged, the job ends). */
static int apply_result(worker_state *w, const char *ticket_id, const json_t *result)
{
    const char *p[] = {ticket_id};
    PGresult *res = NULL;
    int rc = pg_exec(w->db, &res,
                     "SELECT title, COALESCE(to_jsonb(t)->>'description', ''), (to_jsonb(t)->'finding')::text,"
                     " severity FROM tickets t WHERE ticket_id = $1::uuid",
                     1, p);
    if (rc != PG_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return TICKET_REFUSED; /* gone */
    }
    char err[512] = "";
    const char *title = json_string_value(json_object_get(result, "title"));
    const char *description = json_string_value(json_object_get(result, "description"));
    const char *cur_title = PQgetvalue(res, 0, 0), *cur_desc = PQgetvalue(res, 0, 1);
    json_t *cur_finding = PQgetisnull(res, 0, 2) ? NULL : json_loads(PQgetvalue(res, 0, 2), 0, NULL);
    bool title_same = !title || !strcmp(title, cur_title), desc_same = !description || !strcmp(description, cur_desc);
    rc = PG_OK;
    if (!title_same || !desc_same)
        rc = ticket_edit(w->db, AGENT_ACTOR, ticket_id, title_same ? NULL : title, desc_same ? NULL : description, err,
                         sizeof err);
    json_t *f = json_object_get(result, "finding");
    if (rc == PG_OK && json_is_object(f) && !(cur_finding && json_equal(cur_finding, f))) {
        ticket_finding tf = {.severity = json_string_value(json_object_get(f, "severity")),
                             .summary = json_string_value(json_object_get(f, "summary")),
                             .reason = json_string_value(json_object_get(f, "reason")),
                             .recommendation = json_string_value(json_object_get(f, "recommendation"))};
        rc = ticket_set_finding(w->db, AGENT_ACTOR, ticket_id, &tf, err, sizeof err);
    }
    /* The finding's severity raises the ticket's (never lowers it). Checked apart from
     * the finding so that a replay after a crash between the two still raises it; a
     * refusal (the ticket is no longer open) leaves the rest of the answer applied. */
    const char *fsev = json_is_object(f) ? json_string_value(json_object_get(f, "severity")) : NULL;
    if (rc == PG_OK && fsev && severity_rank(fsev) > severity_rank(PQgetvalue(res, 0, 3))) {
        rc = ticket_raise_severity(w->db, AGENT_ACTOR, ticket_id, fsev, err, sizeof err);
        if (rc == TICKET_REFUSED) {
            LOG_INFO("agent_severity_not_raised", "ticket_id", ticket_id, "reason", err, NULL);
            rc = PG_OK;
        } else if (rc == PG_OK) {
            LOG_INFO("agent_severity_raised", "ticket_id", ticket_id, "severity", fsev, "previous",
                     PQgetvalue(res, 0, 3), NULL);
        }
    }
    json_decref(cur_finding);
    PQclear(res);
    if (rc == TICKET_REFUSED)
        LOG_WARN("agent_result_refused", "ticket_id", ticket_id, "reason", err, NULL);
    return rc;
}

/* Stores, applies and finishes; error != NULL ends the job without a result. */
static void conclude(worker_state *w, const char *ticket_id, const json_t *result, const char *error)
{
    int rc = PG_OK;
    if (result) {
        rc = agent_jobs_store_result(w->db, ticket_id, result);
        if (rc == PG_OK)
            rc = apply_result(w, ticket_id, result);
        if (rc == TICKET_REFUSED)
            rc = PG_OK;
    }
    if (rc == PG_OK)
        rc = agent_jobs_finish(w->db, ticket_id, error, w->cfg->growth_factor);
    if (rc != PG_OK) /* the lease expires and the job is taken again: the apply skips what is done */
        LOG_WARN("agent_job_unfinished", "ticket_id", ticket_id, "error", pg_last_error(w->db), NULL);
    else
        LOG_INFO("agent_job_done", "ticket_id", ticket_id, "error", error, NULL);
}

/* A question's progress for the console (hutch.agent.turns, keyed by ticket): a
 * TicketEvent kind "agent_turn" after each stored turn and "agent_answered" at the
 * end, detail {request_id, session_id, seq, role}. Only a hint to read
 * agent_messages again: produced without waiting, a lost one costs a refresh. */
static void publish_turn(worker_state *w, const run_slot *s, const char *kind, const char *role)
{
    if (!w || !w->producer)
        return;
    json_t *d = json_pack("{s:s, s:s, s:i, s:s}", "request_id", s->req.request_id, "session_id", s->tools.session_id,
                          "seq", s->tools.seq, "role", role);
    char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    char seed[160];
    snprintf(seed, sizeof seed, "%s/%s/%d", s->tools.session_id, kind, s->tools.seq);
    msg_meta_buf meta;
    msg_meta_init(&meta, s->req.trace_id[0] ? s->req.trace_id : NULL, AGENT_ACTOR, ids_now_ms(), seed);
    Hutch__V1__TicketEvent ev = HUTCH__V1__TICKET_EVENT__INIT;
    ev.meta = &meta.meta;
    ev.ticket_id = (char *)s->req.ticket_id;
    ev.kind = (char *)kind;
    ev.alert_id = "";
    ev.actor = AGENT_ACTOR;
    ev.detail_json = detail;
    size_t len = 0;
    uint8_t *buf = detail ? msg_pack(&ev.base, &len) : NULL;
    if (buf)
        kafka_produce_async(w->producer, TOPIC_AGENT_TURNS, s->req.ticket_id, strlen(s->req.ticket_id), buf, len, NULL,
                            NULL, NULL);
    kafka_producer_poll(w->producer, 0);
    free(buf);
    free(detail);
}

static void on_message(void *vctx, const char *role, const json_t *content)
{
    agent_tool_ctx *t = vctx;
    agent_session_message(t->db, t->session_id, ++t->seq, role, content);
    const run_slot *s = (const run_slot *)((const char *)t - offsetof(run_slot, tools));
    if (s->is_request)
        publish_turn(s->w, s, "agent_turn", role);
}

/* A text turn of ours, stored as a JSON string. */
static void note_text(agent_tool_ctx *t, const char *role, const char *text)
{
    json_t *j = json_string(text);
    if (j)
        on_message(t, role, j);
    json_decref(j);
}

static void on_run_done(void *arg, llm_run *run)
{
    (void)run;
    ((run_slot *)arg)->done = true;
}

/* The model's answer as the stored result: title, the description with the
 * disclaimer, and the finding (the answer's, or the last hutch_update_finding). */
static json_t *model_result(worker_state *w, run_slot *s, const llm_run_result *r)
{
    json_t *finding = json_object_get(r->json, "finding");
    if (!json_is_object(finding))
        finding = s->tools.finding;
    char *described = agent_described(json_string_value(json_object_get(r->json, "summary")), w->cfg->llm.model);
    json_t *out = json_pack("{s:O?, s:s?, s:O?, s:s}", "title", json_object_get(r->json, "title"), "description",
                            described, "finding", finding, "model", w->cfg->llm.model);
    free(described);
    return out;
}

/* A question's answer: produced as a NotifyRequest, then the question marked answered
 * (if the produce fails, the lease expires and the question is answered again). */
static void answer_request(worker_state *w, run_slot *s, const char *answer)
{
    agent_notify n;
    int ok = -1;
    if (agent_answer_build(&n, s->req.request_id, s->req.ticket_id, s->req.requester, s->req.trace_id, answer,
                           ids_now_ms()) == 0) {
        size_t len = 0;
        uint8_t *buf = msg_pack(&n.req.base, &len);
        if (buf && w->producer)
            ok = kafka_produce_sync(w->producer, TOPIC_NOTIFY_REQUESTS, s->req.ticket_id, strlen(s->req.ticket_id), buf,
                                    len, NULL, 10000);
        free(buf);
    }
    agent_notify_free(&n);
    if (ok == 0) {
        agent_requests_answered(w->db, s->req.request_id, answer, s->tools.session_id);
        publish_turn(w, s, "agent_answered", "answer");
    }
    LOG_INFO("agent_request_answered", "request_id", s->req.request_id, "ticket_id", s->req.ticket_id, "sent",
             ok == 0 ? "true" : "false", NULL);
}

static void reap_request(worker_state *w, run_slot *s)
{
    const llm_run_result *r = s->run ? llm_run_outcome(s->run) : NULL;
    if (r)
        agent_session_close(w->db, s->tools.session_id, r->rc == 0 ? "answered" : "failed", r->reason, r->model_calls,
                            r->input_tokens, r->output_tokens);
    char fallback[700];
    snprintf(fallback, sizeof fallback, "The agent could not answer (%s).", r ? (r->err[0] ? r->err : r->reason) : "");
    answer_request(w, s, r && r->rc == 0 && r->text ? r->text : fallback);
    llm_run_free(s->run);
    free(s->req.question);
    memset(s, 0, sizeof *s);
}

static void start_request(worker_state *w, run_slot *s)
{
    int rc;
    json_t *ctx = agent_load_context(w->db, s->req.ticket_id, w->cfg->context_alerts, &rc);
    if (!ctx) {
        if (rc == PG_OK)
            answer_request(w, s, "There is no such ticket.");
        free(s->req.question);
        memset(s, 0, sizeof *s);
        return;
    }
    s->is_request = true;
    s->w = w;
    s->tools = (agent_tool_ctx){.db = w->db, .psl = w->psl};
    snprintf(s->tools.ticket_id, sizeof s->tools.ticket_id, "%s", s->req.ticket_id);
    ids_uuid7(s->tools.session_id);
    agent_session_open(w->db, s->tools.session_id, s->req.ticket_id, "chat", llm_provider_name(w->cfg->llm.provider),
                       w->cfg->llm.model);
    agent_requests_session(w->db, s->req.request_id, s->tools.session_id);
    char *prompt = agent_chat_prompt(ctx, s->req.question);
    json_decref(ctx);
    llm_chat *chat = llm_chat_new(w->cfg->llm.provider, agent_chat_system);
    if (!prompt || !chat || llm_chat_add_user(chat, prompt) != 0) {
        free(prompt);
        llm_chat_free(chat);
        free(s->req.question);
        memset(s, 0, sizeof *s);
        return;
    }
    note_text(&s->tools, "user", prompt);
    free(prompt);
    /* questions read; they do not write the finding (the analysis does) */
    size_t n = 0;
    for (size_t i = 0; i < w->n_tools; i++)
        if (strcmp(w->tools[i].name, "hutch_update_finding") != 0)
            w->chat_tools[n++] = w->tools[i];
    llm_loop_spec spec = {.tools = w->chat_tools,
                          .n_tools = n,
                          .tool_ctx = &s->tools,
                          .limits = w->cfg->limits,
                          .approve = agent_tool_approve,
                          .on_message = on_message,
                          .done = on_run_done,
                          .done_arg = s};
    s->busy = true;
    s->run = llm_run_start(w->client, chat, &spec);
    if (!s->run) {
        free(s->req.question);
        memset(s, 0, sizeof *s);
    }
}

static void reap(worker_state *w, run_slot *s)
{
    if (s->is_request) {
        reap_request(w, s);
        return;
    }
    const llm_run_result *r = llm_run_outcome(s->run);
    agent_session_close(w->db, s->tools.session_id, r->rc == 0 ? "answered" : "failed", r->reason, r->model_calls,
                        r->input_tokens, r->output_tokens);
    char calls[16], in[24], out[24];
    snprintf(calls, sizeof calls, "%d", r->model_calls);
    snprintf(in, sizeof in, "%" PRId64, r->input_tokens);
    snprintf(out, sizeof out, "%" PRId64, r->output_tokens);
    LOG_INFO("agent_run_ended", "ticket_id", s->job.ticket_id, "session_id", s->tools.session_id, "reason", r->reason,
             "model_calls", calls, "input_tokens", in, "output_tokens", out, "error", r->rc ? r->err : NULL, NULL);
    json_t *result = r->rc == 0 ? model_result(w, s, r) : NULL;
    conclude(w, s->job.ticket_id, result, r->rc == 0 ? NULL : r->err[0] ? r->err : r->reason);
    json_decref(result);
    llm_run_free(s->run);
    json_decref(s->tools.finding);
    json_decref(s->job.result);
    memset(s, 0, sizeof *s);
}

static void start_job(worker_state *w, run_slot *s, int64_t tokens_left)
{
    const char *tid = s->job.ticket_id;
    LOG_INFO("agent_job_started", "ticket_id", tid, "reason", s->job.reason, NULL);
    if (s->job.result) { /* answered before a crash: apply, do not ask again */
        conclude(w, tid, s->job.result, NULL);
        json_decref(s->job.result);
        memset(s, 0, sizeof *s);
        return;
    }
    agent_sessions_interrupt(w->db, tid);
    int rc;
    json_t *ctx = agent_load_context(w->db, tid, w->cfg->context_alerts, &rc);
    if (!ctx) {
        if (rc == PG_OK)
            conclude(w, tid, NULL, "the ticket is gone");
        memset(s, 0, sizeof *s); /* a database error: the lease expires, the job is taken again */
        return;
    }
    if (!w->client) {
        char *summary = agent_template_summary(ctx);
        json_t *result = summary ? json_pack("{s:s, s:b}", "description", summary, "template", 1) : NULL;
        conclude(w, tid, result, result ? NULL : "out of memory");
        json_decref(result);
        free(summary);
        json_decref(ctx);
        memset(s, 0, sizeof *s);
        return;
    }
    s->w = w;
    s->tools = (agent_tool_ctx){.db = w->db, .psl = w->psl};
    snprintf(s->tools.ticket_id, sizeof s->tools.ticket_id, "%s", tid);
    ids_uuid7(s->tools.session_id);
    agent_session_open(w->db, s->tools.session_id, tid, "triage", llm_provider_name(w->cfg->llm.provider),
                       w->cfg->llm.model);
    char *prompt = agent_analysis_prompt(ctx);
    json_decref(ctx);
    llm_chat *chat = llm_chat_new(w->cfg->llm.provider, agent_analysis_system);
    if (!prompt || !chat || llm_chat_add_user(chat, prompt) != 0) {
        free(prompt);
        llm_chat_free(chat);
        memset(s, 0, sizeof *s);
        return;
    }
    note_text(&s->tools, "user", prompt);
    free(prompt);
    llm_chat_set_schema(chat, "ticket_analysis", agent_analysis_schema());
    llm_loop_spec spec = {.tools = w->tools,
                          .n_tools = w->n_tools,
                          .tool_ctx = &s->tools,
                          .limits = w->cfg->limits,
                          .approve = agent_tool_approve,
                          .on_message = on_message,
                          .done = on_run_done,
                          .done_arg = s};
    if (tokens_left > 0 && (spec.limits.max_tokens == 0 || spec.limits.max_tokens > tokens_left))
        spec.limits.max_tokens = tokens_left;
    s->busy = true;
    s->run = llm_run_start(w->client, chat, &spec);
    if (!s->run)
        memset(s, 0, sizeof *s);
}

static void *worker_main(void *arg)
{
    agent_worker *aw = arg;
    worker_state w = {.cfg = &aw->cfg};
    char err[512];
    w.db = pg_connect(w.cfg->database_url, 60000, err, sizeof err);
    if (!w.db) {
        LOG_ERROR("agent_worker_no_database", "error", err, NULL);
        return NULL;
    }
    if (w.cfg->llm.provider != LLM_NONE && !(w.client = llm_client_new(&w.cfg->llm, err, sizeof err))) {
        LOG_ERROR("agent_worker_no_model", "error", err, NULL);
        pg_free(w.db);
        return NULL;
    }
    w.psl = psl_builtin();
    if (w.client &&
        mcp_set_open(&w.mcp, w.cfg->mcp_servers, w.cfg->mcp_read_only, w.cfg->mcp_timeout_ms, err, sizeof err) != 0)
        LOG_ERROR("agent_mcp_unavailable", "error", err, "note", "analyses run without the MCP servers' tools", NULL);
    w.tools = calloc(agent_tools_count + w.mcp.n_tools, sizeof *w.tools);
    if (w.tools) {
        memcpy(w.tools, agent_tools, agent_tools_count * sizeof *w.tools);
        if (w.mcp.n_tools) /* no MCP servers: mcp.tools is NULL */
            memcpy(w.tools + agent_tools_count, w.mcp.tools, w.mcp.n_tools * sizeof *w.tools);
        w.n_tools = agent_tools_count + w.mcp.n_tools;
    }
    w.chat_tools = calloc(w.n_tools ? w.n_tools : 1, sizeof *w.chat_tools);
    w.slots = w.tools && w.chat_tools ? calloc((size_t)w.cfg->concurrency, sizeof *w.slots) : NULL;
    if (w.client && w.cfg->brokers &&
        !(w.producer = kafka_producer_new(w.cfg->brokers, "hutch-agent-answers", err, sizeof err)))
        LOG_ERROR("agent_answers_no_producer", "error", err, NULL);
    /* a run ends by its wall time; the margin covers applying its answer */
    int64_t wall = w.cfg->limits.max_wall_ms, lease = wall + (wall < 60000 ? wall : 60000);
    LOG_INFO("agent_worker_started", "provider", llm_provider_name(w.cfg->llm.provider), "model", w.cfg->llm.model,
             NULL);
    while (w.slots && !*w.cfg->stop) {
        int free_slots = 0;
        for (int i = 0; i < w.cfg->concurrency; i++)
            free_slots += !w.slots[i].busy;
        int64_t left = 0;
        if (free_slots > 0 && w.client && w.cfg->tokens_per_hour > 0) {
            int64_t used = agent_tokens_last_hour(w.db);
            left = used < 0 ? 0 : w.cfg->tokens_per_hour - used;
            if (left <= 0) {
                if (!w.budget_logged)
                    LOG_WARN("agent_token_budget_exhausted", "note", "no analysis starts until the hour frees tokens",
                             NULL);
                w.budget_logged = true;
                free_slots = 0;
            } else {
                w.budget_logged = false;
            }
        }
        agent_job *jobs = NULL;
        int n = free_slots > 0 ? agent_jobs_claim(w.db, (size_t)free_slots, lease, w.cfg->reanalyse_ms, &jobs) : 0;
        for (int j = 0, i = 0; j < n && i < w.cfg->concurrency; i++) {
            if (w.slots[i].busy)
                continue;
            w.slots[i].job = jobs[j];
            jobs[j].result = NULL; /* now the slot's */
            start_job(&w, &w.slots[i], left);
            j++;
        }
        agent_jobs_free(jobs, n > 0 ? (size_t)n : 0);
        /* questions, in the slots the analyses left */
        int free_now = 0;
        for (int i = 0; i < w.cfg->concurrency; i++)
            free_now += !w.slots[i].busy;
        agent_request_row *reqs = NULL;
        bool out_of_tokens = w.cfg->tokens_per_hour > 0 && w.budget_logged; /* the hour's tokens are spent */
        int nq =
            w.client && free_now > 0 && !out_of_tokens ? agent_requests_claim(w.db, (size_t)free_now, lease, &reqs) : 0;
        for (int j = 0, i = 0; j < nq && i < w.cfg->concurrency; i++) {
            if (w.slots[i].busy)
                continue;
            w.slots[i].req = reqs[j];
            reqs[j].question = NULL; /* now the slot's */
            start_request(&w, &w.slots[i]);
            j++;
        }
        agent_request_rows_free(reqs, nq > 0 ? (size_t)nq : 0);
        if (nq > 0)
            n = n > 0 ? n + nq : nq;
        bool active = false;
        for (int i = 0; i < w.cfg->concurrency; i++)
            active = active || w.slots[i].busy;
        if (active)
            llm_client_run(w.client, (int)w.cfg->poll_ms);
        else if (n <= 0)
            sleep_ms(w.cfg->poll_ms);
        for (int i = 0; i < w.cfg->concurrency; i++)
            if (w.slots[i].busy && w.slots[i].done)
                reap(&w, &w.slots[i]);
    }
    for (int i = 0; w.slots && i < w.cfg->concurrency; i++)
        if (w.slots[i].busy) { /* abandoned: the lease expires and the job is taken again */
            llm_run_free(w.slots[i].run);
            json_decref(w.slots[i].tools.finding);
            free(w.slots[i].req.question);
        }
    llm_client_free(w.client); /* after the runs: their transfers are removed first */
    mcp_set_close(&w.mcp);
    kafka_producer_free(w.producer, 5000);
    free(w.tools);
    free(w.chat_tools);
    free(w.slots);
    pg_free(w.db);
    return NULL;
}

int agent_worker_start(agent_worker *w, const agent_worker_config *cfg)
{
    w->cfg = *cfg;
    if (w->cfg.concurrency < 1)
        w->cfg.concurrency = 1;
    if (w->cfg.poll_ms <= 0)
        w->cfg.poll_ms = 500;
    if (w->cfg.limits.max_wall_ms <= 0)
        w->cfg.limits.max_wall_ms = 300000;
    w->started = pthread_create(&w->thread, NULL, worker_main, w) == 0;
    return w->started ? 0 : -1;
}

void agent_worker_join(agent_worker *w)
{
    if (w->started)
        pthread_join(w->thread, NULL);
    w->started = false;
}
