/* The queue of the agent's LLM work, one agent_jobs row per ticket (migration 8), and
 * the other tables of a run: sessions, messages, approvals, the token budget.
 *
 * Why a row per ticket and not per alert: a storm of alerts into one ticket must cost
 * one analysis, not one per alert. agent_jobs_request runs in the consumer frame's
 * batch transaction and only flips a ticket's row to 'pending' when the ticket is new
 * to the agent, grew by `factor` since the last analysis, or its severity rose; a
 * pending or running row absorbs every further request. A worker takes pending rows
 * (at most once per `interval` per ticket) with FOR UPDATE SKIP LOCKED, so several
 * agents share the queue; a running row whose lease ran out (its agent died) is taken
 * again, at most AGENT_JOB_MAX_ATTEMPTS times.
 *
 * A run's answer is stored (agent_jobs_store_result) before it is applied through the
 * ticket module: a restart after the store applies it and does not ask the model
 * again; the apply step skips what the ticket already holds, so nothing is done twice.
 * Every function uses db outside any transaction unless it says otherwise; strings are
 * BORROWED. */
#ifndef HUTCH_AGENT_JOBS_H
#define HUTCH_AGENT_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/pg.h"

#define AGENT_JOB_MAX_ATTEMPTS 3

/* One ticket of a triaged batch. */
typedef struct {
    const char *ticket_id;
    int32_t alert_count;  /* tickets.alert_count as the batch saw it */
    const char *severity; /* the highest severity of the batch's alerts of this ticket */
} agent_job_request;

/* Inside the batch transaction: queues the tickets that need an analysis (see above).
 * factor: growth that asks for a new analysis (>= 1). PG_OK/PG_RETRY/PG_FATAL. */
int agent_jobs_request(pg *db, const agent_job_request *reqs, size_t n, double factor);

typedef struct {
    char ticket_id[37];
    char reason[32];
    int attempts;
    json_t *result; /* NEW or NULL: an answer stored by a run that did not apply it */
} agent_job;

/* Takes up to max ready jobs (pending, or running with an expired lease) for
 * lease_ms; a ticket analysed less than interval_ms ago waits. Jobs over
 * AGENT_JOB_MAX_ATTEMPTS are closed with an error instead. *jobs NEW (agent_jobs_free).
 * Returns the count or PG_RETRY/PG_FATAL. */
int agent_jobs_claim(pg *db, size_t max, int64_t lease_ms, int64_t interval_ms, agent_job **jobs);
void agent_jobs_free(agent_job *jobs, size_t n);

/* Stores a run's answer before applying it. */
int agent_jobs_store_result(pg *db, const char *ticket_id, const json_t *result);
/* Ends the job: idle, the counts it ran on remembered (or, when error != NULL, the
 * error); pending again at once when the ticket grew by factor during the run. */
int agent_jobs_finish(pg *db, const char *ticket_id, const char *error, double factor);

/* The ticket context of analysis.h (at most max_alerts recent alerts). NEW object,
 * NULL with *rc = PG_RETRY/PG_FATAL, or NULL with rc PG_OK when the ticket is gone. */
json_t *agent_load_context(pg *db, const char *ticket_id, int max_alerts, int *rc);

/* Sessions and their messages. */
int agent_session_open(pg *db, const char *session_id, const char *ticket_id, const char *kind, const char *provider,
                       const char *model);
int agent_session_message(pg *db, const char *session_id, int seq, const char *role, const json_t *content);
int agent_session_close(pg *db, const char *session_id, const char *status, const char *reason, int model_calls,
                        int64_t input_tokens, int64_t output_tokens);
/* Sessions of a ticket still 'running' (their agent died) become 'interrupted'. */
int agent_sessions_interrupt(pg *db, const char *ticket_id);
/* Tokens used by every session started in the last hour, or -1 on a database error. */
int64_t agent_tokens_last_hour(pg *db);

/* hutch.agent.requests, inside the batch transaction: records each question once
 * (request_id). PG_OK/PG_RETRY/PG_FATAL. */
typedef struct {
    const char *request_id, *ticket_id, *requester, *question, *trace_id;
} agent_request;
int agent_requests_record(pg *db, const agent_request *reqs, size_t n);

typedef struct {
    char request_id[128];
    char ticket_id[37];
    char requester[128];
    char trace_id[64];
    char *question; /* NEW */
} agent_request_row;
/* Takes up to max pending questions (or running ones whose lease expired) for
 * lease_ms. *rows NEW (agent_request_rows_free). Count or PG_RETRY/PG_FATAL. */
int agent_requests_claim(pg *db, size_t max, int64_t lease_ms, agent_request_row **rows);
void agent_request_rows_free(agent_request_row *rows, size_t n);
/* Links a question to the chat session that answers it, at the session's start (so
 * the console shows the turns of a question while it runs). */
int agent_requests_session(pg *db, const char *request_id, const char *session_id);
/* Marks a question answered (after its answer was produced). */
int agent_requests_answered(pg *db, const char *request_id, const char *answer, const char *session_id);

/* A risky tool call: true if a person granted it; otherwise records a pending
 * approval (once per ticket, tool and arguments) and returns false. */
bool agent_approval_granted(pg *db, const char *ticket_id, const char *session_id, const char *tool,
                            const json_t *args);

#endif
