/* The agent's commands of hutchctl: chat, the approvals of risky tool calls, sessions.
 *
 * hutchctl chat TICKET [-m TEXT]: questions about a ticket answered by the configured
 * model (HUTCH_LLM_*) with the agent's own chat (services/agent/chat.h: the ticket, its
 * recent alerts and their cached verdicts in context, the read-only tools at hand, a
 * plan for long questions; HUTCH_CHAT_*). With -m, one question and its answer;
 * without, one question per line of stdin (a prompt on a terminal) in one conversation,
 * until EOF.
 *
 * Every turn and tool call is stored (agent_sessions kind 'chat', agent_messages) and,
 * when HUTCH_KAFKA_BROKERS is set, announced like the agent's (TicketEvent "chat").
 * With HUTCH_LLM_PROVIDER=none it says that no model is configured and exits 1.
 *
 * hutchctl agent approvals / approve ID / deny ID: the risky tool calls the agent
 * recorded (agent_approvals); a grant queues the ticket for a new analysis.
 * hutchctl agent sessions TICKET / session ID: the stored analyses and chats, turn by
 * turn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpsl.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "common/llm.h"
#include "common/llm_loop.h"
#include "common/mcp.h"
#include "common/topics.h"
#include "services/agent/chat.h"
#include "services/agent/jobs.h"
#include "services/agent/requests.h"
#include "services/agent/tools.h"

static mcp_set chat_mcp; /* the MCP servers' tools, opened once per command */

/* Each stored turn as the agent announces it (TicketEvent "chat"), when
 * HUTCH_KAFKA_BROKERS names a broker; lost events are only logged: agent_messages holds
 * every turn. */
static void publish_turn(void *arg, const char *ticket_id, const char *session_id, int seq, const char *role, int phase,
                         const char *task)
{
    kafka_producer *p = arg;
    size_t len = 0;
    uint8_t *buf = chat_pack_turn_event(ticket_id, session_id, seq, role, phase, task, NULL, ids_now_ms(), &len);
    if (!buf ||
        kafka_produce_async(p, TOPIC_TICKETS_EVENTS, ticket_id, strlen(ticket_id), buf, len, NULL, NULL, NULL) != 0)
        fprintf(stderr, "hutchctl: the TicketEvent of chat turn %d was not queued\n", seq);
    free(buf);
    kafka_producer_poll(p, 0);
}

/* One question: asked with the chat module (services/agent/chat.h, as the agent answers
 * hutch.agent.requests), printed; *history carries the conversation on. */
static int ask(cli *c, const chat_env *env, chat_session *sess, const json_t *ctx, llm_chat **history,
               const char *question)
{
    chat_outcome r;
    llm_chat *next = NULL;
    chat_ask_sync(env, sess, ctx, question, *history, &next, &r);
    *history = next;
    int rc = CLI_OK;
    if (c->json) {
        json_t *o =
            json_pack("{s:s, s:s?, s:s, s:b, s:i, s:i, s:i, s:I, s:I, s:s?}", "session_id", sess->session_id, "answer",
                      r.answer, "reason", r.reason, "planned", r.planned, "phases", r.phases, "model_calls",
                      sess->model_calls, "tool_calls", sess->tool_calls, "input_tokens", (json_int_t)sess->input_tokens,
                      "output_tokens", (json_int_t)sess->output_tokens, "error", r.rc ? r.err : NULL);
        output_json(stdout, o);
        json_decref(o);
    } else if (r.rc == 0) {
        printf("%s\n", r.answer);
    }
    if (r.rc != 0) {
        cli_error("no answer (%s): %s", r.reason, r.err);
        rc = CLI_FAIL;
    }
    free(r.answer);
    return rc;
}

int cmd_chat(cli *c)
{
    llm_settings st;
    llm_config cfg;
    chat_settings cs;
    char err[1024];
    memset(&cs, 0, sizeof cs);
    if (config_load(llm_settings_table, &st, err, sizeof err) != 0 || llm_settings_config(&st, &cfg, err, sizeof err) ||
        config_load(chat_settings_table, &cs, err, sizeof err) != 0) {
        cli_error("bad model settings: %s", err);
        config_free(llm_settings_table, &st);
        config_free(chat_settings_table, &cs);
        return CLI_FAIL;
    }
    int rc = CLI_FAIL;
    llm_client *client = NULL;
    json_t *ctx = NULL;
    llm_chat *history = NULL;
    llm_tool *tools = NULL;
    chat_session sess = {0};
    bool opened = false;
    kafka_producer *events = NULL; /* the TicketEvents "chat", when a broker is set */
    if (cfg.provider == LLM_NONE) {
        cli_error("no model configured (HUTCH_LLM_PROVIDER=none): chat needs one");
        goto done;
    }
    if (!ids_is_uuid(c->args[0])) {
        cli_error("%s is not a ticket id", c->args[0]);
        rc = CLI_USAGE;
        goto done;
    }
    pg *db = cli_db(c);
    if (!db)
        goto done;
    int qrc;
    ctx = agent_load_context(db, c->args[0], 20, &qrc);
    if (!ctx) {
        cli_error(qrc == PG_OK ? "no ticket %s" : "could not read ticket %s", c->args[0]);
        goto done;
    }
    if (!(client = llm_client_new(&cfg, err, sizeof err))) {
        cli_error("%s", err);
        goto done;
    }
    mcp_settings ms;
    if (config_load(mcp_settings_table, &ms, err, sizeof err) != 0 ||
        mcp_set_open(&chat_mcp, ms.servers, ms.read_only, (long)ms.timeout_ms, err, sizeof err) != 0) {
        cli_error("MCP servers: %s", err);
        config_free(mcp_settings_table, &ms);
        goto done;
    }
    config_free(mcp_settings_table, &ms);
    /* the agent's tools and the MCP servers', as the agent's worker offers them */
    size_t n_all = agent_tools_count + chat_mcp.n_tools;
    llm_tool *all = calloc(n_all, sizeof *all);
    tools = calloc(n_all, sizeof *tools);
    if (!all || !tools) {
        free(all);
        goto done;
    }
    memcpy(all, agent_tools, agent_tools_count * sizeof *all);
    if (chat_mcp.n_tools)
        memcpy(all + agent_tools_count, chat_mcp.tools, chat_mcp.n_tools * sizeof *all);
    size_t n_tools = chat_tools_select(all, n_all, tools);
    free(all);
    snprintf(sess.ticket_id, sizeof sess.ticket_id, "%s", c->args[0]);
    ids_uuid7(sess.session_id);
    const char *user = getenv("HUTCH_USER");
    if (!user || !*user)
        user = getenv("USER");
    char requester[160];
    snprintf(requester, sizeof requester, "user:%s", user && *user ? user : "unknown");
    if (agent_chat_session_open(db, sess.session_id, sess.ticket_id, st.provider, st.model, requester, NULL) != PG_OK) {
        cli_error("could not record the chat session");
        goto done;
    }
    opened = true;
    const char *brokers = getenv("HUTCH_KAFKA_BROKERS");
    if (brokers && *brokers && !(events = kafka_producer_new(brokers, "hutchctl-chat", err, sizeof err)))
        cli_error("chat turns will not be announced on %s: %s", TOPIC_TICKETS_EVENTS, err);
    chat_env env = {.db = db,
                    .psl = psl_builtin(),
                    .client = client,
                    .provider = cfg.provider,
                    .tools = tools,
                    .n_tools = n_tools,
                    .settings = &cs,
                    .on_turn = events ? publish_turn : NULL,
                    .turn_arg = events};
    if (c->message) {
        rc = ask(c, &env, &sess, ctx, &history, c->message);
    } else {
        bool tty = isatty(STDIN_FILENO);
        char *line = NULL;
        size_t cap = 0;
        rc = CLI_OK;
        for (;;) {
            if (tty) {
                fputs("you> ", stdout);
                fflush(stdout);
            }
            ssize_t n = getline(&line, &cap, stdin);
            if (n < 0)
                break;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (n == 0)
                continue;
            if (ask(c, &env, &sess, ctx, &history, line) != CLI_OK)
                rc = CLI_FAIL;
            fflush(stdout);
        }
        free(line);
    }
done:
    if (opened) {
        agent_session_close(cli_db(c), sess.session_id, rc == CLI_OK ? "answered" : "failed", NULL, sess.model_calls,
                            sess.input_tokens, sess.output_tokens);
        if (sess.phases)
            agent_chat_session_phases(cli_db(c), sess.session_id, sess.phases);
    }
    if (events && kafka_producer_flush(events, 5000) != 0)
        cli_error("some chat turns were not announced on %s (they are stored)", TOPIC_TICKETS_EVENTS);
    kafka_producer_free(events, 0);
    mcp_set_close(&chat_mcp);
    free(tools);
    llm_chat_free(history);
    json_decref(ctx);
    llm_client_free(client);
    config_free(llm_settings_table, &st);
    config_free(chat_settings_table, &cs);
    return rc;
}

/* --- approvals and sessions --- */

static const col_spec approval_cols[] = {
    {"approval_id", "ID", COL_TEXT, 0},   {"requested_at", "REQUESTED", COL_TIME, 0},
    {"ticket_id", "TICKET", COL_TEXT, 0}, {"tool", "TOOL", COL_TEXT, 0},
    {"args", "ARGUMENTS", COL_TEXT, 60},  {"status", "STATUS", COL_TEXT, 0},
    {"decided_by", "BY", COL_TEXT, 0},    {NULL},
};

static const col_spec session_cols[] = {
    {"session_id", "SESSION", COL_TEXT, 0}, {"created_at", "STARTED", COL_TIME, 0},
    {"kind", "KIND", COL_TEXT, 0},          {"status", "STATUS", COL_TEXT, 0},
    {"reason", "END", COL_TEXT, 0},         {"model", "MODEL", COL_TEXT, 0},
    {"model_calls", "CALLS", COL_TEXT, 0},  {"input_tokens", "IN", COL_TEXT, 0},
    {"output_tokens", "OUT", COL_TEXT, 0},  {NULL},
};

static const col_spec message_cols[] = {
    {"seq", "SEQ", COL_TEXT, 0},
    {"created_at", "AT", COL_TIME, 0},
    {"phase", "PHASE", COL_TEXT, 0},
    {"task", "TASK", COL_TEXT, 0},
    {"role", "ROLE", COL_TEXT, 0},
    {"content", "CONTENT", COL_TEXT, 100},
    {NULL},
};

static int print_rows(cli *c, const char *sql, int n, const char *const *p, const col_spec *cols)
{
    bool found;
    json_t *doc = cli_query_json(c, sql, n, p, &found);
    if (!doc)
        return found ? CLI_FAIL : (c->json ? (puts("[]"), CLI_OK) : CLI_OK);
    if (c->json)
        output_json(stdout, doc);
    else
        output_table(stdout, doc, cols);
    json_decref(doc);
    return CLI_OK;
}

int cmd_agent_approvals(cli *c)
{
    const char *st = c->status;
    if (st && strcmp(st, "pending") && strcmp(st, "granted") && strcmp(st, "denied")) {
        cli_error("--status wants pending, granted or denied");
        return CLI_USAGE;
    }
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", (long long)c->limit);
    const char *p[] = {st, lim};
    return print_rows(c,
                      "SELECT json_agg(a ORDER BY a.requested_at DESC) FROM (SELECT approval_id, requested_at,"
                      " ticket_id, session_id, tool, args, status, decided_by, decided_at FROM agent_approvals"
                      " WHERE $1::text IS NULL OR status = $1 ORDER BY requested_at DESC LIMIT $2::int) a",
                      2, p, approval_cols);
}

/* "user:" + $HUTCH_USER, or $USER: who decided. */
static void decider(char *out, size_t len)
{
    const char *name = getenv("HUTCH_USER");
    if (!name || !*name)
        name = getenv("USER");
    snprintf(out, len, "user:%s", name && *name ? name : "unknown");
}

/* Grants or denies a pending approval; a grant queues the ticket again, so its next
 * analysis may make the call (the model has to ask for it again: a grant is for that
 * exact tool and arguments). */
static int decide(cli *c, const char *status)
{
    if (!ids_is_uuid(c->args[0])) {
        cli_error("%s is not an approval id", c->args[0]);
        return CLI_USAGE;
    }
    pg *db = cli_db(c);
    if (!db)
        return CLI_FAIL;
    char who[160];
    decider(who, sizeof who);
    const char *p[] = {c->args[0], status, who};
    PGresult *res = NULL;
    if (pg_exec(db, &res,
                "WITH d AS (UPDATE agent_approvals SET status = $2, decided_by = $3, decided_at = now()"
                "  WHERE approval_id = $1::uuid AND status = 'pending' RETURNING ticket_id, status),"
                " q AS (UPDATE agent_jobs j SET state = 'pending', reason = 'approval', requested_at = now(),"
                "  attempts = 0, last_done_at = NULL FROM d WHERE d.status = 'granted' AND j.ticket_id = d.ticket_id"
                "  AND j.state = 'idle' RETURNING j.ticket_id)"
                "SELECT (SELECT count(*) FROM d), (SELECT status FROM agent_approvals WHERE approval_id = $1::uuid)",
                3, p) != PG_OK) {
        cli_error("could not record the decision");
        return CLI_FAIL;
    }
    int changed = atoi(PQgetvalue(res, 0, 0));
    char now[16];
    snprintf(now, sizeof now, "%s", PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1));
    PQclear(res);
    if (!changed) {
        if (*now)
            cli_error("approval %s was already %s", c->args[0], now);
        else
            cli_error("approval %s not found", c->args[0]);
        return CLI_FAIL;
    }
    if (c->json)
        printf("{\"approval_id\":\"%s\",\"status\":\"%s\"}\n", c->args[0], status);
    else
        printf("%s %s\n", c->args[0], status);
    return CLI_OK;
}

int cmd_agent_approve(cli *c) { return decide(c, "granted"); }

int cmd_agent_deny(cli *c) { return decide(c, "denied"); }

int cmd_agent_sessions(cli *c)
{
    if (!ids_is_uuid(c->args[0])) {
        cli_error("%s is not a ticket id", c->args[0]);
        return CLI_USAGE;
    }
    const char *p[] = {c->args[0]};
    return print_rows(c,
                      "SELECT json_agg(s ORDER BY s.created_at) FROM (SELECT session_id, created_at, kind, status,"
                      " reason, provider, model, model_calls, input_tokens, output_tokens, ended_at, requester,"
                      " request_id, phases"
                      " FROM agent_sessions WHERE ticket_id = $1::uuid) s",
                      1, p, session_cols);
}

int cmd_agent_session(cli *c)
{
    if (!ids_is_uuid(c->args[0])) {
        cli_error("%s is not a session id", c->args[0]);
        return CLI_USAGE;
    }
    const char *p[] = {c->args[0]};
    return print_rows(c,
                      "SELECT json_agg(m ORDER BY m.seq) FROM (SELECT seq, created_at, phase, task, role, content"
                      " FROM agent_messages WHERE session_id = $1::uuid) m",
                      1, p, message_cols);
}
