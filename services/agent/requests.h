/* The questions of hutch.agent.requests (agent_requests, migrations 8 and 13) and the
 * storage of a chat's turns (agent_sessions kind 'chat', agent_messages with the plan's
 * phase and task).
 *
 * A question's effects happen once however often it is delivered: the consumer records
 * it once (request_id); a worker takes it on a lease; its answer is stored
 * (agent_requests_store_answer) before it is sent, and a question taken again with a
 * stored answer is sent without asking the model again; the answer's NotifyRequest id
 * derives from the question's, so a re-send after a crash is still one notification.
 * A question taken again without an answer (its agent died mid-run) runs again in a new
 * session, the old one marked 'interrupted'.
 *
 * Every function uses db outside any transaction unless it says otherwise; strings are
 * BORROWED. Results are PG_OK/PG_RETRY/PG_FATAL. */
#ifndef HUTCH_AGENT_REQUESTS_H
#define HUTCH_AGENT_REQUESTS_H

#include <stddef.h>

#include <jansson.h>

#include "common/pg.h"

typedef struct {
    const char *request_id, *ticket_id, *requester, *question, *trace_id;
    const char *reply_channel, *reply_thread_ts; /* Slack: where the answer goes; NULL or "" = none */
    const char *answer;                          /* NULL: to be answered; else recorded answered with it */
} agent_request;

/* Inside the batch transaction: records each question once (request_id); a question
 * seen before is left as it is. *inserted (may be NULL) counts the new ones. */
int agent_requests_record(pg *db, const agent_request *reqs, size_t n, size_t *inserted);

typedef struct {
    char request_id[128];
    char ticket_id[37];
    char requester[128];
    char trace_id[64];
    char reply_channel[64];
    char reply_thread_ts[64];
    char session_id[37]; /* "" or the session of an earlier attempt */
    char *question;      /* NEW */
    char *answer;        /* NEW or NULL: answered by an earlier attempt, not yet sent */
} agent_request_row;

/* Takes up to max pending questions (or running ones whose lease expired) for
 * lease_ms. *rows NEW (agent_request_rows_free). Count or PG_RETRY/PG_FATAL. */
int agent_requests_claim(pg *db, size_t max, int64_t lease_ms, agent_request_row **rows);
void agent_request_rows_free(agent_request_row *rows, size_t n);
/* A new attempt at a question in session session_id: an earlier attempt's session still
 * 'running' becomes 'interrupted', and the question points at the new one. */
int agent_requests_begin(pg *db, const char *request_id, const char *session_id);
/* Stores the answer before it is sent (the first stored answer stays). */
int agent_requests_store_answer(pg *db, const char *request_id, const char *answer);
/* Marks a question answered (after its answer was produced). */
int agent_requests_answered(pg *db, const char *request_id);

/* A chat session: agent_session_open's row with who asked and the question's id (NULL
 * for hutchctl chat). */
int agent_chat_session_open(pg *db, const char *session_id, const char *ticket_id, const char *provider,
                            const char *model, const char *requester, const char *request_id);
/* One turn of a chat: phase 0 and task NULL outside a plan; the planner's turns have
 * task "planner". content BORROWED. */
int agent_chat_message(pg *db, const char *session_id, int seq, const char *role, const json_t *content, int phase,
                       const char *task);
/* Records the phases a planned chat ran. */
int agent_chat_session_phases(pg *db, const char *session_id, int phases);

#endif
