/* Postgres statements of the agent's triage (triage_store.h). Parameterised; the
 * batch statements take arrays so a batch costs one statement per table. */
#include "services/agent/triage_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/severity.h"
#include "common/ticket.h"

#define AGENT_ACTOR "hutch-agent"

int triage_store_payloads(pg *db, const Hutch__V1__Alert *const *alerts, size_t n, char **payloads)
{
    pg_array ids;
    pg_array_init(&ids);
    for (size_t i = 0; i < n; i++) {
        payloads[i] = NULL;
        if (alerts[i] && !(alerts[i]->payload_json && *alerts[i]->payload_json) && ids_is_uuid(alerts[i]->event_id))
            pg_array_add(&ids, alerts[i]->event_id);
    }
    if (ids.n == 0) {
        pg_array_free(&ids);
        return PG_OK;
    }
    const char *p[] = {pg_array_text(&ids)};
    PGresult *res = NULL;
    int rc = p[0] ? pg_exec(db, &res,
                            "SELECT event_id::text, payload::text FROM events WHERE event_id = ANY($1::uuid[])", 1, p)
                  : PG_RETRY;
    for (int r = 0; rc == PG_OK && r < PQntuples(res); r++)
        for (size_t i = 0; i < n; i++)
            if (alerts[i] && !payloads[i] && alerts[i]->event_id &&
                !strcasecmp(alerts[i]->event_id, PQgetvalue(res, r, 0)) &&
                !(alerts[i]->payload_json && *alerts[i]->payload_json) &&
                !(payloads[i] = strdup(PQgetvalue(res, r, 1))))
                rc = PG_RETRY;
    PQclear(res);
    pg_array_free(&ids);
    return rc;
}

static const char sql_record[] =
    "INSERT INTO triage_decisions (alert_id, ticket_id, publish, page, policy, output, enrich, enrich_skipped) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::boolean[], $5::text[], $6::jsonb[], $7::jsonb[],"
    " $8::jsonb[]) ON CONFLICT (alert_id) DO NOTHING";

static void add_json(pg_array *a, const json_t *v, const char *fallback)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    pg_array_add(a, text ? text : fallback);
    free(text);
}

int triage_store_record(pg *db, const triage_record *recs, size_t n)
{
    if (n == 0)
        return PG_OK;
    pg_array a[8];
    for (int k = 0; k < 8; k++)
        pg_array_init(&a[k]);
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&a[0], recs[i].alert_id);
        pg_array_add(&a[1], recs[i].ticket_id);
        pg_array_add(&a[2], triage_publish_name(recs[i].d->publish));
        pg_array_add(&a[3], recs[i].d->page ? "true" : "false");
        pg_array_add(&a[4], recs[i].policy ? recs[i].policy : "");
        add_json(&a[5], recs[i].d->output, "null");
        add_json(&a[6], recs[i].enrich, "[]");
        add_json(&a[7], recs[i].skipped, "[]");
    }
    const char *p[8];
    bool ok = true;
    for (int k = 0; k < 8; k++)
        ok = (p[k] = pg_array_text(&a[k])) != NULL && ok;
    int rc = ok ? pg_exec(db, NULL, sql_record, 8, p) : PG_RETRY;
    for (int k = 0; k < 8; k++)
        pg_array_free(&a[k]);
    return rc;
}

int triage_store_attr(pg *db, const char *alert_id, const json_t *attr)
{
    json_t *marked = json_array();
    size_t i;
    json_t *m;
    json_array_foreach (attr, i, m) {
        json_t *c = json_copy(m);
        json_object_set_new(c, "auto", json_true());
        json_array_append_new(marked, c);
    }
    char *text = json_dumps(marked, JSON_COMPACT);
    json_decref(marked);
    if (!text)
        return PG_RETRY;
    const char *p[] = {alert_id, text};
    int rc = pg_exec(db, NULL,
                     "UPDATE alerts SET attributes = attributes || $2::jsonb WHERE alert_id = $1::uuid"
                     " AND NOT attributes @> $2::jsonb",
                     2, p);
    free(text);
    return rc;
}

/* The ticket as the apply step needs it. PG_OK (found set), PG_RETRY. */
static int read_ticket(pg *db, const char *ticket_id, const char *alert_id, bool *found, char *status, size_t slen,
                       char **title, char **description, char *severity, size_t sevlen, int *alert_count,
                       bool *alert_in)
{
    const char *p[] = {ticket_id, alert_id};
    PGresult *res = NULL;
    int rc = pg_exec(db, &res,
                     "SELECT status, title, description, coalesce(severity, ''), alert_count,"
                     " EXISTS (SELECT 1 FROM ticket_alerts a WHERE a.ticket_id = t.ticket_id AND a.alert_id = $2::uuid)"
                     " FROM tickets t WHERE ticket_id = $1::uuid",
                     2, p);
    if (rc != PG_OK)
        return rc;
    *found = PQntuples(res) > 0;
    if (*found) {
        snprintf(status, slen, "%s", PQgetvalue(res, 0, 0));
        *title = strdup(PQgetvalue(res, 0, 1));
        *description = strdup(PQgetvalue(res, 0, 2));
        snprintf(severity, sevlen, "%s", PQgetvalue(res, 0, 3));
        *alert_count = atoi(PQgetvalue(res, 0, 4));
        *alert_in = PQgetvalue(res, 0, 5)[0] == 't';
        if (!*title || !*description)
            rc = PG_RETRY;
    }
    PQclear(res);
    return rc;
}

/* A ticket module result: a refusal is logged and ends the step (PG_OK). */
static int settle(int rc, const char *step, const char *ticket_id, const char *alert_id, const char *err)
{
    if (rc == TICKET_REFUSED) {
        LOG_INFO("triage_ticket_step_refused", "step", step, "ticket_id", ticket_id, "alert_id", alert_id, "reason",
                 err, NULL);
        return PG_OK;
    }
    return rc == PG_OK ? PG_OK : PG_RETRY;
}

int triage_store_apply(pg *db, const char *alert_id, const char *ticket_id, bool new_ticket, const triage_decision *d)
{
    bool quiet = d->publish != TRIAGE_PUBLISH_ALERT;
    if (!quiet && !d->severity && !(new_ticket && (d->title || d->description)))
        return PG_OK; /* nothing for the ticket */
    bool found = false, alert_in = false;
    char status[16] = "", severity[16] = "", err[512] = "";
    char *title = NULL, *description = NULL;
    int count = 0;
    int rc = read_ticket(db, ticket_id, alert_id, &found, status, sizeof status, &title, &description, severity,
                         sizeof severity, &count, &alert_in);
    if (rc != PG_OK || !found)
        goto out;
    if (new_ticket && (d->title || d->description)) {
        bool title_same = !d->title || !strcmp(d->title, title);
        bool desc_same = !d->description || !strcmp(d->description, description);
        if (!title_same || !desc_same)
            rc = settle(ticket_edit(db, AGENT_ACTOR, ticket_id, title_same ? NULL : d->title,
                                    desc_same ? NULL : d->description, err, sizeof err),
                        "edit", ticket_id, alert_id, err);
    }
    if (rc == PG_OK && d->severity && severity_rank(d->severity) > severity_rank(severity))
        rc = settle(ticket_raise_severity(db, AGENT_ACTOR, ticket_id, d->severity, err, sizeof err), "severity",
                    ticket_id, alert_id, err);
    const char *action = "";
    if (rc == PG_OK && quiet && !strcmp(status, "open") && alert_in) {
        if (count <= 1) {
            action = "archived";
            rc = settle(ticket_archive(db, AGENT_ACTOR, ticket_id, err, sizeof err), "archive", ticket_id, alert_id,
                        err);
        } else {
            action = "declined";
            rc = settle(ticket_decline(db, AGENT_ACTOR, ticket_id, alert_id, err, sizeof err), "decline", ticket_id,
                        alert_id, err);
        }
    }
    if (rc == PG_OK && *action) {
        const char *p[] = {alert_id, action};
        rc = pg_exec(db, NULL, "UPDATE triage_decisions SET ticket_action = $2 WHERE alert_id = $1::uuid", 2, p);
        LOG_INFO("triage_ticket_closed", "alert_id", alert_id, "ticket_id", ticket_id, "publish",
                 triage_publish_name(d->publish), "action", action, NULL);
    }
out:
    free(title);
    free(description);
    return rc == PG_OK ? PG_OK : PG_RETRY;
}

/* --- the enrich queue --- */

int triage_enrich_queue(pg *db, const char *alert_id, const char *ticket_id, const uint8_t *alert, size_t len,
                        const json_t *tasks, int64_t wait_ms)
{
    char *hex = malloc(2 * len + 3);
    char *tj = json_dumps(tasks, JSON_COMPACT);
    char wait[24];
    snprintf(wait, sizeof wait, "%lld", (long long)wait_ms);
    int rc = PG_RETRY;
    if (hex && tj) {
        static const char digits[] = "0123456789abcdef";
        hex[0] = '\\';
        hex[1] = 'x';
        for (size_t i = 0; i < len; i++) {
            hex[2 + 2 * i] = digits[alert[i] >> 4];
            hex[3 + 2 * i] = digits[alert[i] & 15];
        }
        hex[2 + 2 * len] = '\0';
        const char *p[] = {alert_id, ticket_id, hex, tj, wait};
        rc = pg_exec(db, NULL,
                     "INSERT INTO triage_enrich (alert_id, ticket_id, alert, tasks, deadline) VALUES ($1::uuid,"
                     " $2::uuid, $3::bytea, $4::jsonb, now() + $5::bigint * interval '1 millisecond')"
                     " ON CONFLICT (alert_id) DO NOTHING",
                     5, p);
    }
    free(hex);
    free(tj);
    return rc;
}

static const char sql_enrich_claim[] =
    "UPDATE triage_enrich SET state = 'running', lease_until = now() + $1::bigint * interval '1 millisecond',"
    " attempts = attempts + 1 WHERE alert_id = (SELECT alert_id FROM triage_enrich WHERE state = 'pending'"
    " OR (state = 'running' AND lease_until < now()) ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING alert_id::text, ticket_id::text, encode(alert, 'hex'), tasks::text, results::text, skipped::text,"
    " deadline <= now(), greatest(0, floor(extract(epoch FROM deadline - now()) * 1000))::bigint";

static int unhex(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0; }

int triage_enrich_claim(pg *db, int64_t lease_ms, triage_enrich_row *row)
{
    memset(row, 0, sizeof *row);
    char lease[24];
    snprintf(lease, sizeof lease, "%lld", (long long)lease_ms);
    const char *p[] = {lease};
    PGresult *res = NULL;
    int rc = pg_exec(db, &res, sql_enrich_claim, 1, p);
    if (rc != PG_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    snprintf(row->alert_id, sizeof row->alert_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(row->ticket_id, sizeof row->ticket_id, "%s", PQgetvalue(res, 0, 1));
    const char *hex = PQgetvalue(res, 0, 2);
    row->alert_len = strlen(hex) / 2;
    row->alert = malloc(row->alert_len ? row->alert_len : 1);
    for (size_t i = 0; row->alert && i < row->alert_len; i++)
        row->alert[i] = (uint8_t)(unhex(hex[2 * i]) << 4 | unhex(hex[2 * i + 1]));
    row->tasks = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
    row->results = json_loads(PQgetvalue(res, 0, 4), 0, NULL);
    row->skipped = json_loads(PQgetvalue(res, 0, 5), 0, NULL);
    row->expired = PQgetvalue(res, 0, 6)[0] == 't';
    row->ms_left = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
    PQclear(res);
    if (!row->alert || !row->tasks || !row->results || !row->skipped) {
        triage_enrich_row_clear(row);
        return PG_RETRY;
    }
    return 1;
}

void triage_enrich_row_clear(triage_enrich_row *row)
{
    free(row->alert);
    json_decref(row->tasks);
    json_decref(row->results);
    json_decref(row->skipped);
    memset(row, 0, sizeof *row);
}

int triage_enrich_progress(pg *db, const char *alert_id, const json_t *results, const json_t *skipped)
{
    char *r = json_dumps(results, JSON_COMPACT), *s = json_dumps(skipped, JSON_COMPACT);
    const char *p[] = {alert_id, r, s};
    int rc =
        r && s ? pg_exec(db, NULL,
                         "UPDATE triage_enrich SET results = $2::jsonb, skipped = $3::jsonb WHERE alert_id = $1::uuid",
                         3, p)
               : PG_RETRY;
    free(r);
    free(s);
    return rc;
}

int triage_enrich_done(pg *db, const char *alert_id)
{
    const char *p[] = {alert_id};
    return pg_exec(db, NULL, "UPDATE triage_enrich SET state = 'done', done_at = now() WHERE alert_id = $1::uuid", 1,
                   p);
}
