/* SQL of the agent's LLM work (jobs.h). Parameterised statements only.
 *
 * Lock order: agent_jobs rows are taken in ticket-id order inside the batch
 * transaction (after the tickets, which store.c locked first); a worker's claim
 * takes rows with SKIP LOCKED and never waits on a batch. */
#include "services/agent/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/severity.h"

/* The order of the levels comes from common/severity.h as a text[] parameter. */
static void severity_levels(pg_array *a)
{
    pg_array_init(a);
    for (int l = SEVERITY_INFO; l <= SEVERITY_CRITICAL; l++)
        pg_array_add(a, severity_name((severity_level)l));
}

static const char sql_request[] =
    "INSERT INTO agent_jobs AS j (ticket_id, state, reason, run_alert_count, run_severity)"
    " SELECT x.t, 'pending', 'new_ticket', x.c, x.s"
    "   FROM unnest($1::uuid[], $2::int[], $3::text[]) AS x(t, c, s) ORDER BY x.t "
    "ON CONFLICT (ticket_id) DO UPDATE SET state = 'pending', requested_at = now(), attempts = 0,"
    "  reason = CASE WHEN COALESCE(array_position($5::text[], EXCLUDED.run_severity), 0)"
    "                   > COALESCE(array_position($5::text[], j.done_severity), 0) THEN 'severity_rose' ELSE 'grew' END"
    " WHERE j.state = 'idle' AND ("
    "   EXCLUDED.run_alert_count >= j.done_alert_count * $4::float8"
    "   OR COALESCE(array_position($5::text[], EXCLUDED.run_severity), 0)"
    "      > COALESCE(array_position($5::text[], j.done_severity), 0))";

int agent_jobs_request(pg *db, const agent_job_request *reqs, size_t n, double factor)
{
    if (n == 0)
        return PG_OK;
    pg_array ids, counts, sevs, levels;
    pg_array_init(&ids);
    pg_array_init(&counts);
    pg_array_init(&sevs);
    severity_levels(&levels);
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&ids, reqs[i].ticket_id);
        pg_array_addf(&counts, "%d", reqs[i].alert_count);
        pg_array_add(&sevs, reqs[i].severity);
    }
    char f[32];
    snprintf(f, sizeof f, "%.6f", factor < 1 ? 1.0 : factor);
    const char *p[] = {pg_array_text(&ids), pg_array_text(&counts), pg_array_text(&sevs), f, pg_array_text(&levels)};
    int rc = p[0] && p[1] && p[2] && p[4] ? pg_exec(db, NULL, sql_request, 5, p) : PG_RETRY;
    pg_array_free(&ids);
    pg_array_free(&counts);
    pg_array_free(&sevs);
    pg_array_free(&levels);
    return rc;
}

static const char sql_give_up[] =
    "UPDATE agent_jobs SET state = 'idle', last_done_at = now(), last_error = 'abandoned: its run was interrupted ' ||"
    " attempts || ' times', result = NULL"
    " WHERE state = 'running' AND lease_until < now() AND attempts >= $1::int";

static const char sql_claim[] =
    "UPDATE agent_jobs j SET state = 'running', started_at = now(),"
    "  lease_until = now() + $2::bigint * interval '1 millisecond', attempts = j.attempts + 1,"
    "  run_alert_count = t.alert_count, run_severity = t.severity "
    "FROM tickets t WHERE t.ticket_id = j.ticket_id AND j.ticket_id IN ("
    "  SELECT ticket_id FROM agent_jobs"
    "   WHERE (state = 'pending' AND (last_done_at IS NULL OR last_done_at <= now() - $3::bigint * interval '1 "
    "millisecond'))"
    "      OR (state = 'running' AND lease_until < now())"
    "   ORDER BY requested_at LIMIT $1::int FOR UPDATE SKIP LOCKED) "
    "RETURNING j.ticket_id::text, j.reason, j.attempts, j.result::text";

int agent_jobs_claim(pg *db, size_t max, int64_t lease_ms, int64_t interval_ms, agent_job **jobs)
{
    *jobs = NULL;
    char a[16], b[24], c[24], m[16];
    snprintf(a, sizeof a, "%d", AGENT_JOB_MAX_ATTEMPTS);
    snprintf(m, sizeof m, "%zu", max);
    snprintf(b, sizeof b, "%lld", (long long)lease_ms);
    snprintf(c, sizeof c, "%lld", (long long)interval_ms);
    const char *pg1[] = {a};
    int rc = pg_exec(db, NULL, sql_give_up, 1, pg1);
    if (rc != PG_OK)
        return rc;
    PGresult *res = NULL;
    const char *p[] = {m, b, c};
    rc = pg_exec(db, &res, sql_claim, 3, p);
    if (rc != PG_OK)
        return rc;
    int n = PQntuples(res);
    agent_job *out = n ? calloc((size_t)n, sizeof *out) : NULL;
    if (n && !out) {
        PQclear(res);
        return PG_RETRY;
    }
    for (int i = 0; i < n; i++) {
        snprintf(out[i].ticket_id, sizeof out[i].ticket_id, "%s", PQgetvalue(res, i, 0));
        snprintf(out[i].reason, sizeof out[i].reason, "%s", PQgetvalue(res, i, 1));
        out[i].attempts = atoi(PQgetvalue(res, i, 2));
        if (!PQgetisnull(res, i, 3))
            out[i].result = json_loads(PQgetvalue(res, i, 3), 0, NULL);
    }
    PQclear(res);
    *jobs = out;
    return n;
}

void agent_jobs_free(agent_job *jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++)
        json_decref(jobs[i].result);
    free(jobs);
}

int agent_jobs_store_result(pg *db, const char *ticket_id, const json_t *result)
{
    char *text = json_dumps(result, JSON_COMPACT);
    if (!text)
        return PG_RETRY;
    const char *p[] = {ticket_id, text};
    int rc = pg_exec(db, NULL, "UPDATE agent_jobs SET result = $2::jsonb WHERE ticket_id = $1::uuid", 2, p);
    free(text);
    return rc;
}

static const char sql_finish[] =
    "UPDATE agent_jobs j SET last_done_at = now(), result = NULL, last_error = $2::text, runs = j.runs + 1,"
    "  done_alert_count = CASE WHEN $2::text IS NULL THEN j.run_alert_count ELSE j.done_alert_count END,"
    "  done_severity = CASE WHEN $2 IS NULL THEN j.run_severity ELSE j.done_severity END,"
    "  state = CASE WHEN $2 IS NULL AND t.alert_count >= j.run_alert_count * $3::float8"
    "                    AND t.alert_count > j.run_alert_count THEN 'pending' ELSE 'idle' END,"
    "  requested_at = CASE WHEN $2 IS NULL AND t.alert_count >= j.run_alert_count * $3::float8"
    "                    AND t.alert_count > j.run_alert_count THEN now() ELSE j.requested_at END,"
    "  reason = CASE WHEN $2 IS NULL AND t.alert_count >= j.run_alert_count * $3::float8"
    "                    AND t.alert_count > j.run_alert_count THEN 'grew' ELSE j.reason END,"
    "  attempts = 0 "
    "FROM tickets t WHERE t.ticket_id = j.ticket_id AND j.ticket_id = $1::uuid";

int agent_jobs_finish(pg *db, const char *ticket_id, const char *error, double factor)
{
    char f[32];
    snprintf(f, sizeof f, "%.6f", factor < 1 ? 1.0 : factor);
    const char *p[] = {ticket_id, error, f};
    int rc = pg_exec(db, NULL, sql_finish, 3, p);
    if (rc == PG_OK) /* the ticket is gone: the job goes too */
        rc = pg_exec(db, NULL,
                     "DELETE FROM agent_jobs j WHERE j.ticket_id = $1::uuid AND NOT EXISTS "
                     "(SELECT 1 FROM tickets t WHERE t.ticket_id = j.ticket_id)",
                     1, p);
    return rc;
}

static const char sql_context[] =
    "SELECT jsonb_build_object("
    "  'ticket', to_jsonb(t) - 'fingerprint' - 'history_seq',"
    "  'alerts', COALESCE((SELECT jsonb_agg(a ORDER BY a->>'created_at' DESC) FROM ("
    "     SELECT jsonb_build_object('alert_id', al.alert_id, 'title', al.title, 'description', al.description,"
    "       'schema', al.schema, 'source', al.source, 'severity', al.severity, 'risk_score', al.risk_score,"
    "       'created_at', al.created_at, 'attributes', al.attributes,"
    "       'indicators', COALESCE((SELECT jsonb_agg(jsonb_build_object('type', i.type, 'value', i.value)"
    "                               ORDER BY i.type, i.value) FROM indicators i WHERE i.alert_id = al.alert_id),"
    "                              '[]'::jsonb)) AS a"
    "       FROM alerts al WHERE al.ticket_id = t.ticket_id ORDER BY al.created_at DESC LIMIT $2::int) s),"
    "     '[]'::jsonb),"
    "  'verdicts', COALESCE((SELECT jsonb_agg(jsonb_build_object('provider', c.provider, 'kind', c.kind,"
    "       'value', c.value, 'verdict', c.verdict, 'score', c.score, 'summary', c.summary, 'link', c.link)"
    "       ORDER BY c.kind, c.value, c.provider)"
    "     FROM intel_cache c WHERE c.verdict IS NOT NULL AND c.value IN ("
    "       SELECT i.value FROM indicators i JOIN alerts al ON al.alert_id = i.alert_id"
    "        WHERE al.ticket_id = t.ticket_id ORDER BY al.created_at DESC LIMIT 200)), '[]'::jsonb))::text "
    "FROM tickets t WHERE t.ticket_id = $1::uuid";

json_t *agent_load_context(pg *db, const char *ticket_id, int max_alerts, int *rc)
{
    char m[16];
    snprintf(m, sizeof m, "%d", max_alerts);
    const char *p[] = {ticket_id, m};
    PGresult *res = NULL;
    *rc = pg_exec(db, &res, sql_context, 2, p);
    if (*rc != PG_OK)
        return NULL;
    json_t *ctx = PQntuples(res) ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    if (PQntuples(res) && !ctx)
        *rc = PG_RETRY;
    PQclear(res);
    return ctx;
}

int agent_session_open(pg *db, const char *session_id, const char *ticket_id, const char *kind, const char *provider,
                       const char *model)
{
    const char *p[] = {session_id, ticket_id, kind, provider, model};
    return pg_exec(db, NULL,
                   "INSERT INTO agent_sessions (session_id, ticket_id, kind, provider, model)"
                   " VALUES ($1::uuid, $2::uuid, $3, $4, $5)",
                   5, p);
}

int agent_session_message(pg *db, const char *session_id, int seq, const char *role, const json_t *content)
{
    char id[IDS_UUID_LEN], s[16];
    ids_uuid7(id);
    snprintf(s, sizeof s, "%d", seq);
    char *text = json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return PG_RETRY;
    const char *p[] = {id, session_id, role, text, s};
    int rc = pg_exec(db, NULL,
                     "INSERT INTO agent_messages (message_id, session_id, role, content, seq)"
                     " VALUES ($1::uuid, $2::uuid, $3, $4::jsonb, $5::int)",
                     5, p);
    free(text);
    return rc;
}

int agent_session_close(pg *db, const char *session_id, const char *status, const char *reason, int model_calls,
                        int64_t input_tokens, int64_t output_tokens)
{
    char c[16], in[24], out[24];
    snprintf(c, sizeof c, "%d", model_calls);
    snprintf(in, sizeof in, "%lld", (long long)input_tokens);
    snprintf(out, sizeof out, "%lld", (long long)output_tokens);
    const char *p[] = {session_id, status, reason, c, in, out};
    return pg_exec(db, NULL,
                   "UPDATE agent_sessions SET status = $2, reason = $3, model_calls = $4::int,"
                   " input_tokens = $5::bigint, output_tokens = $6::bigint, ended_at = now()"
                   " WHERE session_id = $1::uuid",
                   6, p);
}

int agent_sessions_interrupt(pg *db, const char *ticket_id)
{
    const char *p[] = {ticket_id};
    return pg_exec(db, NULL,
                   "UPDATE agent_sessions SET status = 'interrupted', ended_at = now()"
                   " WHERE ticket_id = $1::uuid AND status = 'running' AND kind = 'triage'",
                   1, p);
}

int64_t agent_tokens_last_hour(pg *db)
{
    PGresult *res = NULL;
    if (pg_exec(db, &res,
                "SELECT COALESCE(sum(input_tokens + output_tokens), 0) FROM agent_sessions"
                " WHERE created_at > now() - interval '1 hour'",
                0, NULL) != PG_OK)
        return -1;
    int64_t n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

bool agent_approval_granted(pg *db, const char *ticket_id, const char *session_id, const char *tool, const json_t *args)
{
    char *text = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return false;
    char id[IDS_UUID_LEN];
    ids_uuid7(id);
    const char *p[] = {id, ticket_id, session_id, tool, text};
    PGresult *res = NULL;
    /* args::text of jsonb is its canonical form, so the same call finds its row. */
    int rc = pg_exec(db, &res,
                     "WITH ins AS (INSERT INTO agent_approvals (approval_id, ticket_id, session_id, tool, args)"
                     "  VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5::jsonb)"
                     "  ON CONFLICT (ticket_id, tool, md5(args::text)) DO NOTHING RETURNING status)"
                     "SELECT status FROM ins UNION ALL SELECT status FROM agent_approvals"
                     " WHERE ticket_id = $2::uuid AND tool = $4 AND md5(args::text) = md5($5::jsonb::text)",
                     5, p);
    free(text);
    bool granted = false;
    for (int i = 0; rc == PG_OK && i < PQntuples(res); i++)
        granted = granted || !strcmp(PQgetvalue(res, i, 0), "granted");
    PQclear(res);
    return granted;
}

int agent_requests_record(pg *db, const agent_request *reqs, size_t n)
{
    if (n == 0)
        return PG_OK;
    pg_array cols[5];
    for (int c = 0; c < 5; c++)
        pg_array_init(&cols[c]);
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&cols[0], reqs[i].request_id);
        pg_array_add(&cols[1], reqs[i].ticket_id);
        pg_array_add(&cols[2], reqs[i].requester ? reqs[i].requester : "");
        pg_array_add(&cols[3], reqs[i].question);
        pg_array_add(&cols[4], reqs[i].trace_id ? reqs[i].trace_id : "");
    }
    const char *p[5];
    bool ok = true;
    for (int c = 0; c < 5; c++)
        ok = (p[c] = pg_array_text(&cols[c])) != NULL && ok;
    int rc = ok ? pg_exec(db, NULL,
                          "INSERT INTO agent_requests (request_id, ticket_id, requester, question, trace_id)"
                          " SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[])"
                          " ON CONFLICT (request_id) DO NOTHING",
                          5, p)
                : PG_RETRY;
    for (int c = 0; c < 5; c++)
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
                     " RETURNING request_id, ticket_id::text, requester, question, trace_id",
                     2, p);
    if (rc != PG_OK)
        return rc;
    int n = PQntuples(res);
    agent_request_row *out = n ? calloc((size_t)n, sizeof *out) : NULL;
    for (int i = 0; out && i < n; i++) {
        snprintf(out[i].request_id, sizeof out[i].request_id, "%s", PQgetvalue(res, i, 0));
        snprintf(out[i].ticket_id, sizeof out[i].ticket_id, "%s", PQgetvalue(res, i, 1));
        snprintf(out[i].requester, sizeof out[i].requester, "%s", PQgetvalue(res, i, 2));
        out[i].question = strdup(PQgetvalue(res, i, 3));
        snprintf(out[i].trace_id, sizeof out[i].trace_id, "%s", PQgetvalue(res, i, 4));
    }
    PQclear(res);
    if (n && !out)
        return PG_RETRY;
    *rows = out;
    return n;
}

void agent_request_rows_free(agent_request_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].question);
    free(rows);
}

int agent_requests_session(pg *db, const char *request_id, const char *session_id)
{
    const char *p[] = {request_id, session_id};
    return pg_exec(db, NULL, "UPDATE agent_requests SET session_id = $2::uuid WHERE request_id = $1", 2, p);
}

int agent_requests_answered(pg *db, const char *request_id, const char *answer, const char *session_id)
{
    const char *p[] = {request_id, answer, session_id && *session_id ? session_id : NULL};
    return pg_exec(db, NULL,
                   "UPDATE agent_requests SET state = 'answered', answer = $2, session_id = $3::uuid,"
                   " answered_at = now() WHERE request_id = $1",
                   3, p);
}
