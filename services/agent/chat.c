/* A chat question (chat.h): the direct tool loop or the plan -> tasks -> replan loop,
 * as a state machine advanced by chat_step.
 *
 * States: DIRECT (one tool-loop run on the conversation), PLAN (a planner call: the first
 * plan or a replan), TASKS (the phase's task runs), DONE. Each sub-run's llm_loop_spec
 * tool_ctx is its `sub`, whose first member is the agent_tool_ctx the tools expect, so
 * the tools and on_message share one context. Tool calls, turns and token counts of
 * every sub-run add up in the caller's chat_session. */
#include "services/agent/chat.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/msg.h"
#include "services/agent/analysis.h"
#include "services/agent/requests.h"
#include "services/agent/tools.h"

#define PLANNER_CALLS 5 /* one answer and up to 3 re-asks of invalid JSON, with a spare */

const config_field chat_settings_table[] = {
    {"HUTCH_CHAT_PLANNING", CONFIG_STRING, "auto", offsetof(chat_settings, planning),
     "when a chat question is planned (plan -> parallel tasks -> replan): auto = a question of "
     "HUTCH_CHAT_PLAN_MIN_WORDS words or more, or one about every/each of something; always; never",
     0, 0, "auto|always|never"},
    {"HUTCH_CHAT_PLAN_MIN_WORDS", CONFIG_INT, "40", offsetof(chat_settings, plan_min_words),
     "words from which auto planning plans a question; 0 = only every/each questions", 0, 100000, NULL},
    {"HUTCH_CHAT_MAX_PHASES", CONFIG_INT, "10", offsetof(chat_settings, max_phases),
     "phases of a planned answer at most (Warren's 10)", 1, 100, NULL},
    {"HUTCH_CHAT_MAX_TASKS", CONFIG_INT, "5", offsetof(chat_settings, max_tasks),
     "tasks of one phase at most (they run at once)", 1, 32, NULL},
    {"HUTCH_CHAT_TASK_ITERATIONS", CONFIG_INT, "8", offsetof(chat_settings, task_iterations),
     "model calls of one task (leveret's 8)", 1, 1000, NULL},
    {"HUTCH_CHAT_MAX_ITERATIONS", CONFIG_INT, "16", offsetof(chat_settings, iterations),
     "model calls of a direct answer (the last one must conclude)", 1, 1000, NULL},
    {"HUTCH_CHAT_BUDGET", CONFIG_INT, "200", offsetof(chat_settings, budget),
     "tool cost units of one question, all its tasks together; 0 = no limit", 0, 1000000, NULL},
    {"HUTCH_CHAT_TOKENS", CONFIG_INT, "400000", offsetof(chat_settings, tokens),
     "model tokens of one question, all its calls together; 0 = no limit", 0, INT64_MAX, NULL},
    {"HUTCH_CHAT_TIMEOUT", CONFIG_DURATION_MS, "10m", offsetof(chat_settings, timeout_ms), "wall time of one question",
     0, 0, NULL},
    CONFIG_END,
};

typedef struct sub sub;
struct sub {
    agent_tool_ctx tools; /* first: the tools take the sub as their agent_tool_ctx */
    struct chat_run *c;
    llm_run *run;
    bool active, done;
    int phase;
    const char *task;    /* "planner", a plan task's id, or NULL (direct) */
    llm_tool *own_tools; /* NEW: a task's tools */
};

enum chat_state { ST_DIRECT, ST_PLAN, ST_TASKS, ST_DONE };

struct chat_run {
    chat_env env;
    chat_session *sess;
    enum chat_state st;
    llm_chat *history; /* the conversation; NULL while a direct run has it */
    llm_chat *planner; /* NULL while the planner runs, or before planning */
    char *question;
    char *block; /* the ticket's data block */
    bool first;  /* the ticket's data goes with this question */
    chat_plan plan;
    sub main; /* the direct run or the planner */
    sub *tasks;
    size_t n_tasks;
    double spent;
    int64_t tokens_used;
    int64_t started_ms;
    chat_outcome out;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t chat_tools_select(const llm_tool *all, size_t n, llm_tool *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].name, "hutch_update_finding") != 0)
            out[m++] = all[i];
    return m;
}

/* Stores one turn and tells on_turn. A failed store is not fatal to the answer. */
static void store(chat_run *c, const char *role, const json_t *content, int phase, const char *task)
{
    chat_session *s = c->sess;
    int seq = ++s->seq;
    if (agent_chat_message(c->env.db, s->session_id, seq, role, content, phase, task) == PG_OK && c->env.on_turn)
        c->env.on_turn(c->env.turn_arg, s->ticket_id, s->session_id, seq, role, phase, task);
}

static void store_text(chat_run *c, const char *role, const char *text, int phase, const char *task)
{
    json_t *j = json_string(text ? text : "");
    if (j)
        store(c, role, j, phase, task);
    json_decref(j);
}

static void on_message(void *ctx, const char *role, const json_t *content)
{
    sub *s = ctx;
    store(s->c, role, content, s->phase, s->task);
}

static void on_done(void *arg, llm_run *run)
{
    (void)run;
    ((sub *)arg)->done = true;
}

/* The limits left for one of n sub-runs starting now. */
static llm_limits share(const chat_run *c, int iterations, size_t n)
{
    const chat_settings *st = c->env.settings;
    llm_limits l = {.max_iterations = iterations};
    int64_t wall = (st->timeout_ms > 0 ? st->timeout_ms : 600000) - (mono_ms() - c->started_ms);
    l.max_wall_ms = wall > 0 ? wall : 1;
    if (st->tokens > 0) {
        int64_t left = st->tokens - c->tokens_used;
        l.max_tokens = left > 0 ? left / (int64_t)(n ? n : 1) : 1;
        if (l.max_tokens < 1)
            l.max_tokens = 1;
    }
    if (st->budget > 0) {
        double left = (double)st->budget - c->spent;
        l.budget = left > 0 ? left / (double)(n ? n : 1) : 1e-9; /* nothing left: every tool call is refused */
    }
    return l;
}

/* Starts sub s on chat (STOLEN) with tools. false when it could not start (OOM). */
static bool sub_start(chat_run *c, sub *s, llm_chat *chat, const llm_tool *tools, size_t n_tools, llm_limits limits,
                      int phase, const char *task)
{
    s->tools = (agent_tool_ctx){.db = c->env.db, .psl = c->env.psl};
    snprintf(s->tools.ticket_id, sizeof s->tools.ticket_id, "%s", c->sess->ticket_id);
    snprintf(s->tools.session_id, sizeof s->tools.session_id, "%s", c->sess->session_id);
    s->c = c;
    s->phase = phase;
    s->task = task;
    s->done = false;
    s->active = true;
    llm_loop_spec spec = {.tools = tools,
                          .n_tools = n_tools,
                          .tool_ctx = s,
                          .limits = limits,
                          .approve = agent_tool_approve,
                          .on_message = on_message,
                          .done = on_done,
                          .done_arg = s};
    s->run = llm_run_start(c->env.client, chat, &spec);
    if (!s->run)
        s->active = false;
    return s->run != NULL;
}

/* Adds a finished sub-run's counts to the session and the question's limits. */
static const llm_run_result *account(chat_run *c, sub *s)
{
    const llm_run_result *r = llm_run_outcome(s->run);
    c->sess->model_calls += r->model_calls;
    c->sess->tool_calls += r->tool_calls;
    c->sess->input_tokens += r->input_tokens;
    c->sess->output_tokens += r->output_tokens;
    c->tokens_used += r->input_tokens + r->output_tokens;
    c->spent += r->spent;
    return r;
}

static void sub_clear(sub *s)
{
    llm_run_free(s->run);
    json_decref(s->tools.finding);
    free(s->own_tools);
    s->run = NULL;
    s->tools.finding = NULL;
    s->own_tools = NULL;
    s->active = s->done = false;
}

/* The end of the question: the outcome, the "answer" (or "error") turn, the answer in
 * the conversation. answer STOLEN. */
static void conclude(chat_run *c, int rc, const char *reason, char *answer, const char *err)
{
    c->out.rc = rc == 0 && answer ? 0 : -1;
    snprintf(c->out.reason, sizeof c->out.reason, "%s", reason);
    if (err)
        snprintf(c->out.err, sizeof c->out.err, "%s", err);
    else if (!answer)
        snprintf(c->out.err, sizeof c->out.err, "out of memory");
    c->out.answer = answer;
    c->out.phases = c->plan.phase;
    c->sess->phases += c->plan.phase;
    if (c->out.rc == 0)
        store_text(c, "answer", answer, 0, NULL);
    else
        store_text(c, "error", c->out.err, 0, NULL);
    if (c->out.planned && c->out.rc == 0) { /* the conversation gets the question and its answer */
        if (!c->history)
            c->history = llm_chat_new(c->env.provider, agent_chat_system);
        char *turn = NULL;
        if (c->history &&
            (c->first ? asprintf(&turn, "Here is the ticket. My question follows it.\n%s\n\n%s", c->block, c->question)
                      : asprintf(&turn, "%s", c->question)) >= 0) {
            llm_chat_add_user(c->history, turn);
            llm_chat_add_assistant_text(c->history, answer);
        }
        free(turn);
    }
    c->st = ST_DONE;
}

/* The tasks of a new phase, all started at once. false: none could start. */
static bool start_tasks(chat_run *c)
{
    chat_plan *p = &c->plan;
    json_t *list = json_array();
    for (size_t i = 0; i < p->n_tasks; i++) {
        const chat_task *t = &p->tasks[i];
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:s, s:O?}", "id", t->id, "title", t->title, "description",
                                        t->description, "acceptance_criteria", t->criteria, "tools", t->tools));
    }
    json_t *turn = json_pack("{s:i, s:o, s:I}", "phase", p->phase, "tasks", list, "dropped", (json_int_t)p->dropped);
    if (turn)
        store(c, "plan", turn, p->phase, "planner");
    json_decref(turn);
    free(c->tasks);
    c->tasks = calloc(p->n_tasks, sizeof *c->tasks);
    c->n_tasks = c->tasks ? p->n_tasks : 0;
    c->out.tasks += (int)c->n_tasks;
    llm_limits limits = share(c, (int)c->env.settings->task_iterations, c->n_tasks);
    bool any = false;
    for (size_t i = 0; i < c->n_tasks; i++) {
        sub *s = &c->tasks[i];
        const chat_task *t = &p->tasks[i];
        size_t n = 0;
        s->own_tools = calloc(c->env.n_tools ? c->env.n_tools : 1, sizeof *s->own_tools);
        for (size_t k = 0; s->own_tools && k < c->env.n_tools; k++)
            if (chat_task_allows(t, c->env.tools[k].name))
                s->own_tools[n++] = c->env.tools[k];
        const llm_tool *tools = s->own_tools;
        if (n == 0) { /* only names the chat does not have: every chat tool */
            tools = c->env.tools;
            n = c->env.n_tools;
        }
        char *prompt = chat_task_prompt(t, c->block, c->question);
        llm_chat *chat = llm_chat_new(c->env.provider, chat_task_system);
        if (!prompt || !chat || llm_chat_add_user(chat, prompt) != 0) {
            free(prompt);
            llm_chat_free(chat);
            sub_clear(s);
            chat_plan_task_done(p, i, NULL, "error");
            continue;
        }
        store_text(c, "user", prompt, p->phase, t->id);
        free(prompt);
        if (sub_start(c, s, chat, tools, n, limits, p->phase, t->id)) {
            any = true;
        } else {
            sub_clear(s);
            chat_plan_task_done(p, i, NULL, "error");
        }
    }
    return any;
}

/* A planner call on c->planner (STOLEN for the run) with schema. */
static bool start_planner(chat_run *c, json_t *schema, const char *name)
{
    llm_chat_set_schema(c->planner, name, schema);
    llm_chat *chat = c->planner;
    c->planner = NULL;
    llm_limits limits = share(c, PLANNER_CALLS, 1);
    limits.budget = 0; /* no tools */
    c->st = ST_PLAN;
    return sub_start(c, &c->main, chat, NULL, 0, limits, c->plan.phase, "planner");
}

/* One transition; true if the state changed (another may follow at once). */
static bool advance(chat_run *c)
{
    if (c->st == ST_DIRECT) {
        if (!c->main.done)
            return false;
        const llm_run_result *r = account(c, &c->main);
        c->history = llm_run_release_chat(c->main.run);
        char *text = r->rc == 0 && r->text ? strdup(r->text) : NULL;
        conclude(c, r->rc, r->reason, text, r->rc ? (r->err[0] ? r->err : r->reason) : NULL);
        sub_clear(&c->main);
        return true;
    }
    if (c->st == ST_PLAN) {
        if (!c->main.done)
            return false;
        const llm_run_result *r = account(c, &c->main);
        c->planner = llm_run_release_chat(c->main.run);
        if (r->rc != 0 || !r->json) {
            char err[600];
            snprintf(err, sizeof err, "the planner gave no plan (%s): %s", r->reason, r->err);
            conclude(c, -1, r->reason, NULL, err);
            sub_clear(&c->main);
            return true;
        }
        char *answer = NULL;
        json_t *reply = json_incref(r->json);
        sub_clear(&c->main);
        chat_plan_step step = chat_plan_next(&c->plan, reply, &answer);
        json_decref(reply);
        if (step == CHAT_PLAN_CONCLUDE) {
            conclude(c, 0, c->plan.reason, answer, NULL);
            return true;
        }
        c->st = ST_TASKS;
        if (!start_tasks(c) && chat_plan_phase_done(&c->plan))
            return true; /* nothing runs: replan at once with what failed */
        return true;
    }
    if (c->st == ST_TASKS) {
        bool changed = false;
        for (size_t i = 0; i < c->n_tasks; i++) {
            sub *s = &c->tasks[i];
            if (!s->active || !s->done)
                continue;
            const llm_run_result *r = account(c, s);
            chat_plan_task_done(&c->plan, i, r->text, r->reason);
            const chat_task *t = &c->plan.tasks[i];
            json_t *turn =
                json_pack("{s:s, s:s, s:s, s:i, s:i}", "title", t->title, "result", t->result ? t->result : "",
                          "reason", t->reason, "model_calls", r->model_calls, "tool_calls", r->tool_calls);
            if (turn)
                store(c, "task_result", turn, c->plan.phase, t->id);
            json_decref(turn);
            sub_clear(s);
            changed = true;
        }
        if (!chat_plan_phase_done(&c->plan))
            return changed;
        char *prompt = chat_replan_prompt(&c->plan);
        if (!prompt || llm_chat_add_user(c->planner, prompt) != 0) {
            free(prompt);
            conclude(c, -1, "error", NULL, "out of memory");
            return true;
        }
        store_text(c, "user", prompt, c->plan.phase, "planner");
        free(prompt);
        if (!start_planner(c, chat_replan_schema(), "chat_replan"))
            conclude(c, -1, "error", NULL, "out of memory");
        return true;
    }
    return false;
}

chat_run *chat_start(const chat_env *env, chat_session *sess, const json_t *ctx, const char *question,
                     llm_chat *history)
{
    chat_run *c = calloc(1, sizeof *c);
    char *data = agent_analysis_prompt(ctx);
    const char *block = data ? strstr(data, "<ticket-data>") : NULL;
    if (!c || !block || !(c->block = strdup(block)) || !(c->question = strdup(question))) {
        free(data);
        if (c)
            free(c->block);
        free(c);
        llm_chat_free(history);
        return NULL;
    }
    free(data);
    c->env = *env;
    c->sess = sess;
    c->history = history;
    c->first = history == NULL;
    c->started_ms = mono_ms();
    const chat_settings *st = env->settings;
    chat_plan_init(&c->plan, (int)st->max_phases, (int)st->max_tasks);
    chat_plan_mode mode = CHAT_PLAN_AUTO;
    chat_plan_mode_parse(st->planning, &mode);
    if (c->first)
        store_text(c, "context", c->block, 0, NULL);
    store_text(c, "user", question, 0, NULL);
    c->out.planned = chat_should_plan(question, mode, (int)st->plan_min_words);
    bool ok;
    if (c->out.planned) {
        char *prompt = chat_plan_prompt(c->block, question, c->plan.max_phases, c->plan.max_tasks);
        c->planner = llm_chat_new(env->provider, chat_planner_system);
        ok = prompt && c->planner && llm_chat_add_user(c->planner, prompt) == 0;
        free(prompt);
        ok = ok && start_planner(c, chat_plan_schema(), "chat_plan");
    } else {
        c->st = ST_DIRECT;
        if (!c->history)
            c->history = llm_chat_new(env->provider, agent_chat_system);
        char *turn = c->first ? agent_chat_prompt(ctx, question) : strdup(question);
        ok = c->history && turn && llm_chat_add_user(c->history, turn) == 0;
        free(turn);
        if (ok) {
            llm_chat *chat = c->history; /* the run's until it ends */
            c->history = NULL;
            ok = sub_start(c, &c->main, chat, env->tools, env->n_tools, share(c, (int)st->iterations, 1), 0, NULL);
        }
    }
    if (!ok)
        conclude(c, -1, "error", NULL, "out of memory");
    return c;
}

bool chat_step(chat_run *c)
{
    while (c->st != ST_DONE && advance(c))
        ;
    return c->st == ST_DONE;
}

const chat_outcome *chat_result(const chat_run *c) { return &c->out; }

llm_chat *chat_release_history(chat_run *c)
{
    llm_chat *h = c->history;
    c->history = NULL;
    return h;
}

void chat_free(chat_run *c)
{
    if (!c)
        return;
    if (c->main.run)
        sub_clear(&c->main);
    for (size_t i = 0; i < c->n_tasks; i++)
        if (c->tasks[i].run)
            sub_clear(&c->tasks[i]);
    free(c->tasks);
    chat_plan_free(&c->plan);
    llm_chat_free(c->history);
    llm_chat_free(c->planner);
    free(c->out.answer);
    free(c->question);
    free(c->block);
    free(c);
}

int chat_ask_sync(const chat_env *env, chat_session *sess, const json_t *ctx, const char *question, llm_chat *history,
                  llm_chat **next, chat_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (next)
        *next = NULL;
    chat_run *c = chat_start(env, sess, ctx, question, history);
    if (!c) {
        out->rc = -1;
        snprintf(out->reason, sizeof out->reason, "error");
        snprintf(out->err, sizeof out->err, "out of memory");
        return -1;
    }
    while (!chat_step(c))
        llm_client_run(env->client, 1000);
    *out = c->out;
    c->out.answer = NULL;
    if (next)
        *next = chat_release_history(c);
    chat_free(c);
    return out->rc;
}

uint8_t *chat_pack_turn_event(const char *ticket_id, const char *session_id, int seq, const char *role, int phase,
                              const char *task, const char *trace_id, int64_t created_ms, size_t *len)
{
    json_t *d = json_pack("{s:s, s:s, s:i}", "session_id", session_id, "role", role, "seq", seq);
    if (d && phase > 0)
        json_object_set_new(d, "phase", json_integer(phase));
    if (d && task)
        json_object_set_new(d, "task", json_string(task));
    char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (!detail)
        return NULL;
    char seed[128];
    snprintf(seed, sizeof seed, "%s/chat/%d", session_id, seq);
    msg_meta_buf meta;
    msg_meta_init(&meta, trace_id && *trace_id ? trace_id : NULL, "hutch-agent", created_ms, seed);
    Hutch__V1__TicketEvent ev = HUTCH__V1__TICKET_EVENT__INIT;
    ev.meta = &meta.meta;
    ev.ticket_id = (char *)ticket_id;
    ev.kind = "chat";
    ev.alert_id = "";
    ev.actor = "hutch-agent";
    ev.detail_json = detail;
    uint8_t *buf = msg_pack(&ev.base, len);
    free(detail);
    return buf;
}
