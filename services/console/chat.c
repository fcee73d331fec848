/* Chat with the agent on a ticket, from the console (docs/API.md, "Chat").
 *
 * The console is not a model client of its own: a question is an AgentRequest on
 * hutch.agent.requests, which hutch-agent records (agent_requests, with the signed-in
 * user as requester) and answers like a Slack mention: a chat session with the ticket
 * and its recent alerts in context and the agent's read-only tools. Every turn the
 * agent stores (agent_messages: the model's turns, each tool call with its result) is
 * announced as a TicketEvent "chat" on hutch.tickets.events ({session_id, role, seq});
 * main.c pushes those to the open pages as the Server-Sent Event "chat", and the page
 * reads the conversation again with
 * GET /api/tickets/ID/chat. So an answer appears turn by turn while the agent works,
 * and a page opened later shows the same conversation from the database.
 *
 * Whether a model is configured is the console's HUTCH_LLM_PROVIDER (the same setting
 * as the agent's): with none, asking is refused (409) and the page says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/topics.h"
#include "services/console/console.h"

#define CHAT_MAX_TEXT 4000
#define CHAT_PRODUCE_TIMEOUT_MS 10000

static const char no_model[] = "no model is configured (HUTCH_LLM_PROVIDER=none): the agent cannot answer questions";

void chat_ask(console *c, struct evhttp_request *req, const console_user *u, const char *ticket_id, json_t *body)
{
    json_t *t = json_object_get(body, "text");
    const char *text = json_string_value(t);
    size_t len = text ? json_string_length(t) : 0;
    const char *p = text;
    while (p && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (!text || !*p || len > CHAT_MAX_TEXT || strlen(text) != len) {
        http_reply_error(req, 400, "text (the question: a string of 1 to 4000 bytes, not only spaces) is required");
        return;
    }
    if (!c->chat_model) {
        http_reply_error(req, 409, no_model);
        return;
    }
    const char *params[] = {ticket_id};
    PGresult *r = NULL;
    int rc = pg_exec(c->db, &r, "SELECT 1 FROM tickets WHERE ticket_id = $1::uuid", 1, params);
    bool found = rc == PG_OK && PQntuples(r) == 1;
    PQclear(r);
    if (rc != PG_OK) {
        http_reply_error(req, 503, "database unavailable");
        return;
    }
    if (!found) {
        http_reply_error(req, 404, "no such ticket");
        return;
    }
    char request_id[IDS_UUID_LEN];
    ids_uuid7(request_id);
    msg_meta_buf mb;
    msg_meta_init(&mb, NULL, "hutch-console", ids_now_ms(), NULL);
    Hutch__V1__AgentRequest q = HUTCH__V1__AGENT_REQUEST__INIT;
    q.meta = &mb.meta;
    q.request_id = request_id;
    q.ticket_id = (char *)ticket_id;
    q.user = (char *)u->name;
    q.text = (char *)text;
    size_t packed_len = 0;
    uint8_t *buf = msg_pack(&q.base, &packed_len);
    int sent = buf ? kafka_produce_sync(c->svc->producer, TOPIC_AGENT_REQUESTS, ticket_id, strlen(ticket_id), buf,
                                        packed_len, NULL, CHAT_PRODUCE_TIMEOUT_MS)
                   : -1;
    free(buf);
    if (sent != 0) {
        http_reply_error(req, 503, "the question could not be handed to the agent (Kafka unavailable): try again");
        return;
    }
    LOG_INFO("console_chat_asked", "user", u->name, "ticket_id", ticket_id, "request_id", request_id, "trace_id",
             mb.trace_id, NULL);
    json_t *o = json_pack("{s:s,s:s}", "request_id", request_id, "trace_id", mb.trace_id);
    char *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    console_headers(req, true);
    if (out)
        http_reply_json(req, 202, out);
    else
        http_reply_error(req, 503, "out of memory");
    free(out);
}

void chat_get(console *c, struct evhttp_request *req, const char *ticket_id)
{
    /* the questions of the ticket (the last 50, oldest first), each with the turns of
     * its session the page shows: the model's, the tool calls and a plan's steps (not
     * the context, the question or the answer, which the request row holds) */
    const char *params[] = {ticket_id, c->chat_model ? "true" : "false", c->cfg->llm_provider};
    console_reply_query(
        c, req, "no such ticket",
        "SELECT json_build_object('model', $2::boolean, 'provider', $3::text, 'requests',"
        " (SELECT coalesce(json_agg(x ORDER BY x.requested_at, x.request_id), '[]') FROM (SELECT r.request_id,"
        "  r.requester, r.question, r.state, r.answer, r.session_id, r.requested_at, r.answered_at,"
        "  (SELECT s.status FROM agent_sessions s WHERE s.session_id = r.session_id) AS session_status,"
        "  (SELECT coalesce(json_agg(json_build_object('seq', m.seq, 'role', m.role, 'content', m.content,"
        "    'at', m.created_at) ORDER BY m.seq), '[]') FROM agent_messages m"
        "    WHERE m.session_id = r.session_id AND m.role NOT IN ('context', 'user', 'answer')) AS turns"
        "  FROM agent_requests r WHERE r.ticket_id = $1::uuid ORDER BY r.requested_at DESC LIMIT 50) x))"
        " FROM tickets t WHERE t.ticket_id = $1::uuid",
        3, params);
}

void chat_recent(console *c, struct evhttp_request *req)
{
    console_reply_query(c, req, "no data",
                        "SELECT coalesce(json_agg(x ORDER BY x.requested_at DESC), '[]') FROM (SELECT r.request_id,"
                        " r.ticket_id, t.title, r.requester, r.question, r.state, r.requested_at"
                        " FROM agent_requests r JOIN tickets t ON t.ticket_id = r.ticket_id"
                        " ORDER BY r.requested_at DESC LIMIT 50) x",
                        0, NULL);
}
