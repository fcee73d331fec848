/* agent_requests and the chat's turns (requests.h): one parameterised statement each. */
#include "services/agent/requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"

#define REQUEST_COLS 8

int agent_requests_record(pg *db, const agent_request *reqs, size_t n, size_t *inserted)
{
    if (inserted)
        *inserted = 0;
    if (n == 0)
        return PG_OK;
    pg_array cols[REQUEST_COLS];
    for (int c = 0; c < REQUEST_COLS; c++)
        pg_array_init(&cols[c]);
    for (size_t i = 0; i < n; i++) {
        const agent_request *r = &reqs[i];
        pg_array_add(&cols[0], r->request_id);
        pg_array_add(&cols[1], r->ticket_id);
        pg_array_add(&cols[2], r->requester ? r->requester : "");
        pg_array_add(&cols[3], r->question);
        pg_array_add(&cols[4], r->trace_id ? r->trace_id : "");
        pg_array_add(&cols[5], r->reply_channel ? r->reply_channel : "");
        pg_array_add(&cols[6], r->reply_thread_ts ? r->reply_thread_ts : "");
        pg_array_add(&cols[7], r->answer); /* NULL: to be answered */
    }
    const char *p[REQUEST_COLS];
    bool ok = true;
    for (int c = 0; c < REQUEST_COLS; c++)
        ok = (p[c] = pg_array_text(&cols[c])) != NULL && ok;
    PGresult *res = NULL;
    int rc =
        ok ? pg_exec(db, &res,
                     "WITH ins AS (INSERT INTO agent_requests (request_id, ticket_id, requester, question, trace_id,"
                     "  reply_channel, reply_thread_ts, answer, state, answered_at)"
                     " SELECT r, t, u, q, tr, rc, rt, a, CASE WHEN a IS NULL THEN 'pending' ELSE 'answered' END,"
                     "  CASE WHEN a IS NULL THEN NULL ELSE now() END"
                     " FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],"
                     "  $7::text[], $8::text[]) AS x(r, t, u, q, tr, rc, rt, a)"
                     " ON CONFLICT (request_id) DO NOTHING RETURNING 1)"
                     "SELECT count(*) FROM ins",
                     REQUEST_COLS, p)
           : PG_RETRY;
    if (rc == PG_OK && inserted)
        *inserted = (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    for (int c = 0; c < REQUEST_COLS; c++)
        pg_array_free(&cols[c]);
    return rc;
}

int agent_requests_claim(pg *db, size_t max, int64_t lease_ms, agent_request_row **rows)
{
    *rows = NULL;
    char m[16], l[24];
    snprintf(m, sizeof m, "%zu", max);
    snprintf(l, sizeof l, "%lld", (long long)lease_ms);
    const char *p[] = {m, l};
    PGresult *res = NULL;
    int rc = pg_exec(db, &res,
                     "UPDATE agent_requests SET state = 'running', attempts = attempts + 1,"
                     " lease_until = now() + $2::bigint * interval '1 millisecond'"
                     " WHERE request_id IN (SELECT request_id FROM agent_requests"
                     "  WHERE state = 'pending' OR (state = 'running' AND lease_until < now())"
                     "  ORDER BY requested_at LIMIT $1::int FOR UPDATE SKIP LOCKED)"
                     " RETURNING request_id, ticket_id::text, requester, question, trace_id, reply_channel,"
                     "  reply_thread_ts, COALESCE(session_id::text, ''), answer",
                     2, p);
    if (rc != PG_OK)
        return rc;
    int n = PQntuples(res);
    agent_request_row *out = n ? calloc((size_t)n, sizeof *out) : NULL;
    for (int i = 0; out && i < n; i++) {
        agent_request_row *o = &out[i];
        snprintf(o->request_id, sizeof o->request_id, "%s", PQgetvalue(res, i, 0));
        snprintf(o->ticket_id, sizeof o->ticket_id, "%s", PQgetvalue(res, i, 1));
        snprintf(o->requester, sizeof o->requester, "%s", PQgetvalue(res, i, 2));
        o->question = strdup(PQgetvalue(res, i, 3));
        snprintf(o->trace_id, sizeof o->trace_id, "%s", PQgetvalue(res, i, 4));
        snprintf(o->reply_channel, sizeof o->reply_channel, "%s", PQgetvalue(res, i, 5));
        snprintf(o->reply_thread_ts, sizeof o->reply_thread_ts, "%s", PQgetvalue(res, i, 6));
        snprintf(o->session_id, sizeof o->session_id, "%s", PQgetvalue(res, i, 7));
        o->answer = PQgetisnull(res, i, 8) ? NULL : strdup(PQgetvalue(res, i, 8));
    }
    PQclear(res);
    if (n && !out)
        return PG_RETRY;
    *rows = out;
    return n;
}

void agent_request_rows_free(agent_request_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].question);
        free(rows[i].answer);
    }
    free(rows);
}

int agent_requests_begin(pg *db, const char *request_id, const char *session_id)
{
    const char *p[] = {request_id, session_id};
    return pg_exec(db, NULL,
                   "WITH old AS (UPDATE agent_sessions SET status = 'interrupted', ended_at = now()"
                   "  WHERE session_id = (SELECT session_id FROM agent_requests WHERE request_id = $1)"
                   "  AND status = 'running' RETURNING 1)"
                   "UPDATE agent_requests SET session_id = $2::uuid WHERE request_id = $1",
                   2, p);
}

int agent_requests_store_answer(pg *db, const char *request_id, const char *answer)
{
    const char *p[] = {request_id, answer};
    return pg_exec(db, NULL, "UPDATE agent_requests SET answer = $2 WHERE request_id = $1 AND answer IS NULL", 2, p);
}

int agent_requests_answered(pg *db, const char *request_id)
{
    const char *p[] = {request_id};
    return pg_exec(db, NULL, "UPDATE agent_requests SET state = 'answered', answered_at = now() WHERE request_id = $1",
                   1, p);
}

int agent_chat_session_open(pg *db, const char *session_id, const char *ticket_id, const char *provider,
                            const char *model, const char *requester, const char *request_id)
{
    const char *p[] = {session_id,
                       ticket_id,
                       provider,
                       model,
                       requester ? requester : "",
                       request_id && *request_id ? request_id : NULL};
    return pg_exec(db, NULL,
                   "INSERT INTO agent_sessions (session_id, ticket_id, kind, provider, model, requester, request_id)"
                   " VALUES ($1::uuid, $2::uuid, 'chat', $3, $4, $5, $6)",
                   6, p);
}

int agent_chat_message(pg *db, const char *session_id, int seq, const char *role, const json_t *content, int phase,
                       const char *task)
{
    char id[IDS_UUID_LEN], s[16], ph[16];
    ids_uuid7(id);
    snprintf(s, sizeof s, "%d", seq);
    snprintf(ph, sizeof ph, "%d", phase);
    char *text = json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return PG_RETRY;
    const char *p[] = {id, session_id, role, text, s, phase > 0 || task ? ph : NULL, task};
    int rc = pg_exec(db, NULL,
                     "INSERT INTO agent_messages (message_id, session_id, role, content, seq, phase, task)"
                     " VALUES ($1::uuid, $2::uuid, $3, $4::jsonb, $5::int, $6::int, $7)",
                     7, p);
    free(text);
    return rc;
}

int agent_chat_session_phases(pg *db, const char *session_id, int phases)
{
    char n[16];
    snprintf(n, sizeof n, "%d", phases);
    const char *p[] = {session_id, n};
    return pg_exec(db, NULL, "UPDATE agent_sessions SET phases = $2::int WHERE session_id = $1::uuid", 2, p);
}
