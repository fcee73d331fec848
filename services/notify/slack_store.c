/* Statements of Slack bot mode (see slack_store.h). Parameterised queries only. */
#include "services/notify/slack_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/notify/blocks.h"

static int rc_of(int rc) { return rc == PG_OK ? PG_OK : rc == PG_RETRY ? PG_RETRY : PG_FATAL; }

int slack_store_register(pg *db, const char *ticket_id, const char *channel, const char *publish)
{
    const char *p[] = {ticket_id, channel, publish && *publish ? publish : "alert"};
    return rc_of(pg_exec(db, NULL,
                         "INSERT INTO slack_messages (ticket_id, channel, publish) VALUES ($1::uuid, $2, $3)"
                         " ON CONFLICT (ticket_id) DO NOTHING",
                         3, p));
}

int slack_store_changed(pg *db, const char *ticket_id)
{
    const char *p[] = {ticket_id};
    return rc_of(pg_exec(db, NULL,
                         "UPDATE slack_messages SET change_seq = change_seq + 1,"
                         " changed_at = coalesce(changed_at, now()) WHERE ticket_id = $1::uuid",
                         1, p));
}

/* The ticket row as it is (whatever columns the tickets table has), its first alert,
 * up to ten indicators of its alerts as fields, the threat-intel verdicts of its
 * alerts' lookups (done, with a verdict; one per provider and indicator, the most
 * serious first, at most SLACK_MAX_VERDICTS + 1 so the renderer knows there are more),
 * and how it is published. */
static const char sql_doc[] =
    "SELECT json_build_object("
    " 'ticket', to_jsonb(t),"
    " 'first_alert_id', (SELECT ta.alert_id FROM ticket_alerts ta WHERE ta.ticket_id = t.ticket_id"
    "   ORDER BY ta.bound_at, ta.alert_id LIMIT 1),"
    " 'attributes', coalesce((SELECT json_agg(json_build_object('key', x.type, 'value', x.value)"
    "   ORDER BY x.type, x.value) FROM (SELECT DISTINCT i.type, i.value FROM indicators i"
    "   JOIN ticket_alerts ta ON ta.alert_id = i.alert_id WHERE ta.ticket_id = t.ticket_id"
    "   ORDER BY i.type, i.value LIMIT 10) x), '[]'::json),"
    " 'intel', coalesce((SELECT json_agg(json_build_object('value', x.value,"
    "   'kind', x.kind, 'provider', x.provider, 'verdict', x.verdict, 'score', x.score, 'link', x.link)"
    "   ORDER BY x.rank, x.value, x.provider) FROM (SELECT DISTINCT ai.value, ai.kind, ai.provider,"
    "   c.verdict, c.score, c.link, CASE c.verdict WHEN 'malicious' THEN 0 WHEN 'suspicious' THEN 1"
    "   WHEN 'harmless' THEN 2 ELSE 3 END AS rank FROM alert_intel ai"
    "   JOIN ticket_alerts ta ON ta.alert_id = ai.alert_id AND ta.ticket_id = t.ticket_id"
    "   JOIN intel_cache c ON c.provider = ai.provider AND c.kind = ai.kind AND c.value = ai.value"
    "   WHERE ai.state = 'done' AND c.verdict IS NOT NULL"
    "   ORDER BY rank, ai.value, ai.provider LIMIT $2::int) x), '[]'::json),"
    " 'finding_actor', (SELECT h.actor FROM ticket_history h WHERE h.ticket_id = t.ticket_id AND h.kind = 'finding'"
    "   ORDER BY h.seq DESC LIMIT 1),"
    " 'publish', coalesce(m.publish, 'alert'),"
    " 'note', m.note)::text, coalesce(m.change_seq, 0) "
    "FROM tickets t LEFT JOIN slack_messages m ON m.ticket_id = t.ticket_id WHERE t.ticket_id = $1::uuid";

int slack_store_doc(pg *db, const char *ticket_id, char **doc, int64_t *change_seq)
{
    *doc = NULL;
    *change_seq = 0;
    PGresult *res = NULL;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", SLACK_MAX_VERDICTS + 1);
    const char *p[] = {ticket_id, limit};
    int rc = pg_exec(db, &res, sql_doc, 2, p);
    if (rc != PG_OK)
        return rc_of(rc);
    if (PQntuples(res) == 1) {
        *doc = strdup(PQgetvalue(res, 0, 0));
        *change_seq = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        if (*doc == NULL)
            rc = PG_RETRY;
    }
    PQclear(res);
    return rc;
}

int slack_store_lock(pg *db, const char *ticket_id, slack_row *row)
{
    memset(row, 0, sizeof *row);
    PGresult *res = NULL;
    const char *p[] = {ticket_id};
    int rc = pg_exec(
        db, &res, "SELECT channel, coalesce(ts, '') FROM slack_messages WHERE ticket_id = $1::uuid FOR UPDATE", 1, p);
    if (rc == PG_OK && PQntuples(res) == 1) {
        row->found = true;
        snprintf(row->channel, sizeof row->channel, "%s", PQgetvalue(res, 0, 0));
        snprintf(row->ts, sizeof row->ts, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return rc_of(rc);
}

int slack_store_message_of(pg *db, const char *ticket_id, slack_row *row)
{
    memset(row, 0, sizeof *row);
    PGresult *res = NULL;
    const char *p[] = {ticket_id};
    int rc =
        pg_exec(db, &res, "SELECT channel, ts FROM slack_messages WHERE ticket_id = $1::uuid AND ts IS NOT NULL", 1, p);
    if (rc == PG_OK && PQntuples(res) == 1) {
        row->found = true;
        snprintf(row->channel, sizeof row->channel, "%s", PQgetvalue(res, 0, 0));
        snprintf(row->ts, sizeof row->ts, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return rc_of(rc);
}

int slack_store_posted(pg *db, const char *ticket_id, const char *channel, const char *ts, const char *note,
                       int64_t shown_seq)
{
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", (long long)shown_seq);
    const char *p[] = {ticket_id, channel, ts, note, seq};
    int rc = rc_of(pg_exec(db, NULL,
                           "UPDATE slack_messages SET channel = $2, ts = $3, note = coalesce($4, note),"
                           " shown_seq = greatest(shown_seq, $5::bigint), edited_at = now(),"
                           " changed_at = CASE WHEN change_seq > $5::bigint THEN changed_at END"
                           " WHERE ticket_id = $1::uuid",
                           5, p));
    if (rc == PG_OK)
        rc = slack_store_attempt_done(db, ticket_id);
    return rc;
}

int slack_store_adopted(pg *db, const char *ticket_id, const char *channel, const char *ts, const char *note)
{
    const char *p[] = {ticket_id, channel, ts, note};
    int rc = rc_of(pg_exec(db, NULL,
                           "UPDATE slack_messages SET channel = $2, ts = $3, note = coalesce($4, note),"
                           " shown_seq = -1, edited_at = now(), changed_at = now() WHERE ticket_id = $1::uuid",
                           4, p));
    if (rc == PG_OK)
        rc = slack_store_attempt_done(db, ticket_id);
    return rc;
}

int slack_store_attempt(pg *db, const char *ticket_id, const char *channel, const char *note)
{
    const char *p[] = {ticket_id, channel, note};
    return rc_of(pg_exec(db, NULL,
                         "INSERT INTO slack_post_attempts (ticket_id, channel, note) VALUES ($1::uuid, $2, $3)"
                         " ON CONFLICT (ticket_id) DO UPDATE SET channel = excluded.channel, note = excluded.note",
                         3, p));
}

int slack_store_attempt_of(pg *db, const char *ticket_id, slack_attempt *at)
{
    memset(at, 0, sizeof *at);
    PGresult *res = NULL;
    const char *p[] = {ticket_id};
    int rc = pg_exec(db, &res,
                     "SELECT channel, coalesce(note, ''), extract(epoch FROM attempted_at)::bigint"
                     " FROM slack_post_attempts WHERE ticket_id = $1::uuid",
                     1, p);
    if (rc == PG_OK && PQntuples(res) == 1) {
        at->found = true;
        snprintf(at->channel, sizeof at->channel, "%s", PQgetvalue(res, 0, 0));
        snprintf(at->note, sizeof at->note, "%s", PQgetvalue(res, 0, 1));
        at->attempted_at = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    }
    PQclear(res);
    return rc_of(rc);
}

int slack_store_attempt_done(pg *db, const char *ticket_id)
{
    const char *p[] = {ticket_id};
    return rc_of(pg_exec(db, NULL, "DELETE FROM slack_post_attempts WHERE ticket_id = $1::uuid", 1, p));
}

int slack_store_due(pg *db, int64_t coalesce_ms, char (*ids)[37], size_t max, size_t *n)
{
    *n = 0;
    char ms[24], lim[24];
    snprintf(ms, sizeof ms, "%lld", (long long)coalesce_ms);
    snprintf(lim, sizeof lim, "%zu", max);
    const char *p[] = {ms, lim};
    PGresult *res = NULL;
    int rc = pg_exec(db, &res,
                     "SELECT ticket_id FROM slack_messages WHERE change_seq > shown_seq AND ts IS NOT NULL"
                     " AND changed_at <= now() - $1::bigint * interval '1 millisecond'"
                     " ORDER BY changed_at LIMIT $2::int",
                     2, p);
    if (rc != PG_OK)
        return rc_of(rc);
    for (int r = 0; r < PQntuples(res) && *n < max; r++)
        snprintf(ids[(*n)++], 37, "%s", PQgetvalue(res, r, 0));
    PQclear(res);
    return PG_OK;
}

int slack_store_shown(pg *db, const char *ticket_id, int64_t seq)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)seq);
    const char *p[] = {ticket_id, s};
    return rc_of(pg_exec(db, NULL,
                         "UPDATE slack_messages SET shown_seq = greatest(shown_seq, $2::bigint), edited_at = now(),"
                         " changed_at = CASE WHEN change_seq > greatest(shown_seq, $2::bigint) THEN now() END"
                         " WHERE ticket_id = $1::uuid",
                         2, p));
}

int slack_store_ticket_of_thread(pg *db, const char *channel, const char *thread_ts, char ticket_id[37])
{
    ticket_id[0] = '\0';
    const char *p[] = {channel, thread_ts};
    PGresult *res = NULL;
    int rc = pg_exec(db, &res, "SELECT ticket_id FROM slack_messages WHERE channel = $1 AND ts = $2 LIMIT 1", 2, p);
    if (rc == PG_OK && PQntuples(res) == 1)
        snprintf(ticket_id, 37, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc_of(rc);
}

int slack_store_ticket_of_alert(pg *db, const char *alert_id, char ticket_id[37])
{
    ticket_id[0] = '\0';
    PGresult *res = NULL;
    const char *p[] = {alert_id};
    int rc = pg_exec(db, &res, "SELECT ticket_id FROM ticket_alerts WHERE alert_id = $1::uuid", 1, p);
    if (rc == PG_OK && PQntuples(res) == 1)
        snprintf(ticket_id, 37, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc_of(rc);
}
