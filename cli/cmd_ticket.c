/* hutchctl ticket: list, show and history are one SQL statement each returning one
 * JSON document (the table view is a column spec over it, output.h); every change
 * (new, resolve, reopen, archive, assign, edit, merge, unmerge, salvage) goes through
 * the lifecycle module (common/ticket.h), which decides what is allowed, writes the
 * history and never half-applies: a refusal exits 1 with the reason on stderr and
 * changes nothing. The actor of a change is "user:" + $HUTCH_USER, or the login name.
 * After a change the ticket is printed (JSON: {"action", "ticket", ...}). */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/config.h"
#include "common/ids.h"
#include "common/severity.h"
#include "common/ticket.h"

#define SALVAGE_THRESHOLD 0.9 /* Warren's salvage threshold */
#define SALVAGE_WINDOW "24h"  /* how far back salvage looks by default */

static const col_spec ticket_cols[] = {
    {"ticket_id", "TICKET", COL_TEXT, 0},
    {"status", "STATUS", COL_TEXT, 0},
    {"severity", "SEVERITY", COL_TEXT, 0},
    {"alert_count", "ALERTS", COL_TEXT, 0},
    {"activity_at", "LAST ACTIVITY", COL_TIME, 0},
    {"assignee", "ASSIGNEE", COL_TEXT, 12},
    {"title", "TITLE", COL_TEXT, 60},
    {NULL},
};

static const col_spec ticket_fields[] = {
    {"ticket_id", "ticket", COL_TEXT, 0},
    {"title", "title", COL_TEXT, 0},
    {"description", "description", COL_TEXT, 300},
    {"status", "status", COL_TEXT, 0},
    {"conclusion", "conclusion", COL_TEXT, 0},
    {"reason", "reason", COL_TEXT, 300},
    {"merged_into", "merged into", COL_TEXT, 0},
    {"severity", "severity", COL_TEXT, 0},
    {"assignee", "assignee", COL_TEXT, 0},
    {"namespace", "namespace", COL_TEXT, 0},
    {"fingerprint", "fingerprint", COL_TEXT, 0},
    {"alert_count", "alerts", COL_TEXT, 0},
    {"created_at", "created", COL_TIME, 0},
    {"updated_at", "updated", COL_TIME, 0},
    {"last_alert_at", "last alert", COL_TIME, 0},
    {"resolved_at", "resolved", COL_TIME, 0},
    {"archived_at", "archived", COL_TIME, 0},
    {"summary", "summary", COL_TEXT, 300},
    {NULL},
};

static const col_spec finding_fields[] = {
    {"severity", "severity", COL_TEXT, 0},
    {"summary", "summary", COL_TEXT, 0},
    {"reason", "reason", COL_TEXT, 0},
    {"recommendation", "recommendation", COL_TEXT, 0},
    {NULL},
};

static const col_spec ticket_alert_cols[] = {
    {"alert_id", "ALERT", COL_TEXT, 0},   {"created_at", "CREATED", COL_TIME, 0},
    {"schema", "SCHEMA", COL_TEXT, 16},   {"severity", "SEVERITY", COL_TEXT, 0},
    {"risk_score", "RISK", COL_SCORE, 0}, {"merged_from", "MERGED FROM", COL_TEXT, 0},
    {"title", "TITLE", COL_TEXT, 60},     {NULL},
};

static const col_spec notification_cols[] = {
    {"created_at", "CREATED", COL_TIME, 0}, {"kind", "KIND", COL_TEXT, 0},         {"target", "TARGET", COL_TEXT, 0},
    {"channel", "CHANNEL", COL_TEXT, 0},    {"status", "STATUS", COL_TEXT, 0},     {"attempts", "TRIES", COL_TEXT, 0},
    {"sent_at", "SENT", COL_TIME, 0},       {"last_error", "ERROR", COL_TEXT, 40}, {NULL},
};

static const col_spec history_cols[] = {
    {"seq", "SEQ", COL_TEXT, 0},   {"at", "AT", COL_TIME, 0},           {"actor", "ACTOR", COL_TEXT, 24},
    {"kind", "KIND", COL_TEXT, 0}, {"detail", "DETAIL", COL_TEXT, 120}, {NULL},
};

/* Open first, then severity high to low ($1: the names in order, common/severity.h),
 * then latest activity (a change or an alert). --severity S keeps S and higher. */
static const char sql_ticket_list[] =
    "SELECT coalesce(json_agg(to_jsonb(t) - 'open' - 'rank' ORDER BY t.open DESC, t.rank DESC NULLS LAST,"
    " t.activity_at DESC, t.ticket_id DESC), '[]')::text FROM ("
    " SELECT ticket_id, status, severity, alert_count, assignee, namespace, title, conclusion, merged_into,"
    "  created_at, last_alert_at, updated_at, greatest(updated_at, last_alert_at) AS activity_at,"
    "  status = 'open' AS open, array_position($1::text[], severity) AS rank"
    " FROM tickets"
    " WHERE ($2::text IS NULL OR status = $2)"
    "  AND ($3::int IS NULL OR array_position($1::text[], severity) >= $3::int)"
    "  AND ($4::bigint IS NULL OR greatest(updated_at, last_alert_at) >= now() - $4::bigint * interval '1 millisecond')"
    "  AND ($5::text IS NULL OR ticket_id::text = lower($5)"
    "   OR strpos(lower(title || ' ' || description || ' ' || summary || ' ' || assignee), lower($5)) > 0)"
    " ORDER BY status = 'open' DESC, array_position($1::text[], severity) DESC NULLS LAST,"
    "  greatest(updated_at, last_alert_at) DESC, ticket_id DESC LIMIT $6::int) t";

static const char sql_ticket_show[] =
    "SELECT json_build_object("
    " 'ticket', to_jsonb(t) - 'history_seq' - 'severity_raised',"
    " 'alerts', coalesce((SELECT json_agg(a ORDER BY a.created_at, a.alert_id) FROM"
    "   (SELECT x.alert_id, x.created_at, x.schema, x.title, x.namespace, x.severity, x.risk_score, x.event_id,"
    "    b.bound_at, b.merged_from FROM ticket_alerts b JOIN alerts x USING (alert_id)"
    "    WHERE b.ticket_id = t.ticket_id) a), '[]'),"
    " 'notifications', coalesce((SELECT json_agg(n ORDER BY n.created_at, n.request_id) FROM"
    "   (SELECT request_id, alert_id, kind, target, channel, status, attempts, last_error, slack_ts,"
    "    created_at, sent_at, message FROM notifications WHERE ticket_id = t.ticket_id) n), '[]'))::text"
    " FROM tickets t WHERE t.ticket_id = $1::uuid";

/* The ticket's history rows and its agent sessions (analyses and chats: kind "session",
 * seq null, detail {session_id, kind, status, reason, model, model_calls, tokens, phases,
 * ended_at}) in time order. A history row sorts at the latest time of the rows up to
 * its seq, so the history keeps its seq order even when a later seq has an earlier
 * time (its transaction started first and waited for the ticket's lock). */
static const char sql_ticket_history[] =
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM tickets WHERE ticket_id = $1::uuid) THEN"
    " coalesce((SELECT json_agg(to_jsonb(h) - 'sort_at' ORDER BY h.sort_at, h.seq NULLS LAST) FROM ("
    "  SELECT seq, at, actor, kind, detail, published_at, max(at) OVER (ORDER BY seq) AS sort_at"
    "  FROM ticket_history WHERE ticket_id = $1::uuid"
    "  UNION ALL"
    "  SELECT NULL, created_at, CASE WHEN requester <> '' THEN requester ELSE 'hutch-agent' END, 'session',"
    "   jsonb_build_object('session_id', session_id, 'kind', kind, 'status', status, 'reason', reason,"
    "    'model', model, 'model_calls', model_calls, 'input_tokens', input_tokens, 'output_tokens', output_tokens,"
    "    'phases', phases, 'ended_at', ended_at), NULL, created_at"
    "  FROM agent_sessions WHERE ticket_id = $1::uuid) h), '[]')::text END";

static const char sql_ticket_row[] =
    "SELECT (to_jsonb(t) - 'history_seq' - 'severity_raised')::text FROM tickets t WHERE ticket_id = $1::uuid";

/* The severity names in order, as a Postgres array ("{info,...,critical}"). */
static const char *severity_order(char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "{");
    for (int i = SEVERITY_INFO; i <= SEVERITY_CRITICAL && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "", severity_name(i));
    if (n < len)
        snprintf(buf + n, len - n, "}");
    return buf;
}

/* "user:" + $HUTCH_USER, or the login name. */
static const char *actor(void)
{
    static char buf[160];
    const char *name = getenv("HUTCH_USER");
    if (!name || !*name) {
        struct passwd *pw = getpwuid(geteuid());
        name = pw && pw->pw_name ? pw->pw_name : getenv("USER");
    }
    snprintf(buf, sizeof buf, "user:%s", name && *name ? name : "unknown");
    return buf;
}

static int print_doc(cli *c, const char *sql, int nparams, const char *const *params, const col_spec *cols,
                     const char *what)
{
    bool found;
    json_t *doc = cli_query_json(c, sql, nparams, params, &found);
    if (!doc) {
        if (!found && what)
            cli_error("%s not found", what);
        return CLI_FAIL;
    }
    if (c->json)
        output_json(stdout, doc);
    else
        output_table(stdout, doc, cols);
    json_decref(doc);
    return CLI_OK;
}

int cmd_ticket_list(cli *c)
{
    ticket_status st;
    if (c->status && ticket_status_parse(c->status, &st) != 0) {
        cli_error("--status wants open, resolved or archived");
        return CLI_USAGE;
    }
    char rank[16], since[24], limit[24], order[96];
    int r = c->severity ? severity_rank(c->severity) : 0;
    if (r < 0) {
        cli_error("--severity wants info, low, medium, high or critical");
        return CLI_USAGE;
    }
    snprintf(rank, sizeof rank, "%d", r + 1); /* array_position is 1-based */
    int64_t since_ms = 0;
    if (c->since && (config_parse_duration_ms(c->since, &since_ms) != 0 || since_ms <= 0)) {
        cli_error("--since wants a duration such as 30m, 24h or 1h30m");
        return CLI_USAGE;
    }
    snprintf(since, sizeof since, "%lld", (long long)since_ms);
    snprintf(limit, sizeof limit, "%lld", (long long)c->limit);
    const char *params[] = {severity_order(order, sizeof order),
                            c->status,
                            c->severity ? rank : NULL,
                            c->since ? since : NULL,
                            c->search,
                            limit};
    return print_doc(c, sql_ticket_list, 6, params, ticket_cols, NULL);
}

static bool check_id(const char *id, const char *what)
{
    if (ids_is_uuid(id))
        return true;
    cli_error("not %s id: \"%s\"", what, id);
    return false;
}

int cmd_ticket_show(cli *c)
{
    const char *id = c->args[0];
    if (!check_id(id, "a ticket"))
        return CLI_USAGE;
    const char *params[] = {id};
    bool found;
    json_t *doc = cli_query_json(c, sql_ticket_show, 1, params, &found);
    if (!doc) {
        if (!found)
            cli_error("ticket %s not found", id);
        return CLI_FAIL;
    }
    if (c->json) {
        output_json(stdout, doc);
    } else {
        json_t *t = json_object_get(doc, "ticket");
        output_fields(stdout, t, ticket_fields);
        json_t *finding = json_object_get(t, "finding");
        if (json_is_object(finding)) {
            printf("\nfinding:\n");
            output_fields(stdout, finding, finding_fields);
        }
        printf("\nalerts:\n");
        output_table(stdout, json_object_get(doc, "alerts"), ticket_alert_cols);
        printf("\nnotifications:\n");
        output_table(stdout, json_object_get(doc, "notifications"), notification_cols);
    }
    json_decref(doc);
    return CLI_OK;
}

/* A session row's detail for the table: "chat answered (answer): 6 model calls,
 * 1200+80 tokens, 1 phase, session ID". NEW json string or NULL. */
static json_t *session_line(const json_t *d)
{
    char *line = NULL;
    long long phases = json_integer_value(json_object_get(d, "phases"));
    const char *reason = json_string_value(json_object_get(d, "reason"));
    char ph[32] = "";
    if (phases > 0)
        snprintf(ph, sizeof ph, ", %lld phase%s", phases, phases == 1 ? "" : "s");
    if (asprintf(&line, "%s %s%s%s%s: %lld model calls, %lld+%lld tokens%s, session %s",
                 json_string_value(json_object_get(d, "kind")), json_string_value(json_object_get(d, "status")),
                 reason ? " (" : "", reason ? reason : "", reason ? ")" : "",
                 (long long)json_integer_value(json_object_get(d, "model_calls")),
                 (long long)json_integer_value(json_object_get(d, "input_tokens")),
                 (long long)json_integer_value(json_object_get(d, "output_tokens")), ph,
                 json_string_value(json_object_get(d, "session_id"))) < 0)
        return NULL;
    json_t *j = json_string(line);
    free(line);
    return j;
}

int cmd_ticket_history(cli *c)
{
    const char *id = c->args[0];
    if (!check_id(id, "a ticket"))
        return CLI_USAGE;
    bool found;
    json_t *doc = cli_query_json(c, sql_ticket_history, 1, (const char *const[]){id}, &found);
    if (!doc) {
        if (!found)
            cli_error("ticket %s not found", id);
        return CLI_FAIL;
    }
    if (c->json) {
        output_json(stdout, doc);
    } else {
        size_t i;
        json_t *row;
        json_array_foreach (doc, i, row) {
            const char *kind = json_string_value(json_object_get(row, "kind"));
            if (kind && !strcmp(kind, "session")) {
                json_t *line = session_line(json_object_get(row, "detail"));
                if (line)
                    json_object_set_new(row, "detail", line);
            }
        }
        output_table(stdout, doc, history_cols);
    }
    json_decref(doc);
    return CLI_OK;
}

/* The end of every change: the module's answer to an exit code; on success the
 * ticket as it is now, under {"action", "ticket"} and the extra fields (STOLEN). */
static int finish(cli *c, int rc, const char *err, const char *verb, const char *ticket_id, json_t *extra)
{
    if (rc != PG_OK) {
        json_decref(extra);
        if (rc == TICKET_REFUSED)
            cli_error("%s", err);
        else
            cli_error("%s failed: %s", verb, err && *err ? err : "database error");
        return CLI_FAIL;
    }
    bool found;
    json_t *t = cli_query_json(c, sql_ticket_row, 1, (const char *const[]){ticket_id}, &found);
    json_t *doc = extra ? extra : json_object();
    json_object_set_new(doc, "action", json_string(verb));
    json_object_set_new(doc, "ticket", t ? t : json_null());
    if (c->json) {
        output_json(stdout, doc);
    } else {
        printf("%s: ticket %s", verb, ticket_id);
        const char *keys[] = {"status", "severity", "alert_count", "merged_into", "assignee"};
        for (size_t i = 0; t && i < sizeof keys / sizeof *keys; i++) {
            char cell[128];
            output_cell(json_object_get(t, keys[i]), COL_TEXT, cell, sizeof cell);
            if (strcmp(cell, "-"))
                printf(", %s %s", keys[i], cell);
        }
        const char *k;
        json_t *v;
        json_object_foreach (doc, k, v) {
            if (!strcmp(k, "action") || !strcmp(k, "ticket"))
                continue;
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf(", %s %s", k, text ? text : "?");
            free(text);
        }
        printf("\n");
    }
    json_decref(doc);
    return CLI_OK;
}

static bool need_alerts(cli *c, const char *cmd)
{
    if (c->n_alerts)
        return true;
    cli_error("usage: hutchctl ticket %s: give the alerts with --alert ID (one or more)", cmd);
    return false;
}

int cmd_ticket_new(cli *c)
{
    if (!need_alerts(c, "new"))
        return CLI_USAGE;
    if (!cli_db(c))
        return CLI_FAIL;
    char id[37], err[512] = "";
    int rc = ticket_create(c->db, actor(), c->alerts, c->n_alerts, id, err, sizeof err);
    return finish(c, rc, err, "new", id, NULL);
}

int cmd_ticket_resolve(cli *c)
{
    if (!c->conclusion || !c->reason) {
        cli_error("usage: hutchctl ticket resolve ID --conclusion C --reason TEXT "
                  "(C: intended, unaffected, false_positive, true_positive, escalated)");
        return CLI_USAGE;
    }
    if (!cli_db(c))
        return CLI_FAIL;
    char err[512] = "";
    int rc = ticket_resolve(c->db, actor(), c->args[0], c->conclusion, c->reason, err, sizeof err);
    return finish(c, rc, err, "resolve", c->args[0], NULL);
}

int cmd_ticket_reopen(cli *c)
{
    if (!cli_db(c))
        return CLI_FAIL;
    char err[512] = "";
    int rc = ticket_reopen(c->db, actor(), c->args[0], err, sizeof err);
    return finish(c, rc, err, "reopen", c->args[0], NULL);
}

int cmd_ticket_archive(cli *c)
{
    if (!cli_db(c))
        return CLI_FAIL;
    char err[512] = "";
    int rc = ticket_archive(c->db, actor(), c->args[0], err, sizeof err);
    return finish(c, rc, err, "archive", c->args[0], NULL);
}

int cmd_ticket_assign(cli *c)
{
    if (!cli_db(c))
        return CLI_FAIL;
    char err[512] = "";
    const char *who = !strcmp(c->args[1], "-") ? "" : c->args[1]; /* "-" or "" unassigns */
    int rc = ticket_assign(c->db, actor(), c->args[0], who, err, sizeof err);
    return finish(c, rc, err, "assign", c->args[0], NULL);
}

int cmd_ticket_edit(cli *c)
{
    if (!c->title && !c->description) {
        cli_error("usage: hutchctl ticket edit ID [--title T] [--description D]: give at least one");
        return CLI_USAGE;
    }
    if (!cli_db(c))
        return CLI_FAIL;
    char err[512] = "";
    int rc = ticket_edit(c->db, actor(), c->args[0], c->title, c->description, err, sizeof err);
    return finish(c, rc, err, "edit", c->args[0], NULL);
}

int cmd_ticket_merge(cli *c)
{
    if (!cli_db(c))
        return CLI_FAIL;
    char err[512] = "";
    int rc = ticket_merge(c->db, actor(), c->args[0], c->args[1], err, sizeof err);
    return finish(c, rc, err, "merge", c->args[0], json_pack("{s:s}", "merged", c->args[1]));
}

int cmd_ticket_unmerge(cli *c)
{
    if (!need_alerts(c, "unmerge"))
        return CLI_USAGE;
    if (!cli_db(c))
        return CLI_FAIL;
    char to[37] = "", err[512] = "";
    int rc = ticket_unmerge(c->db, actor(), c->args[0], c->alerts, c->n_alerts, to, err, sizeof err);
    return finish(c, rc, err, "unmerge", c->args[0], json_pack("{s:s}", "moved_to", to));
}

int cmd_ticket_salvage(cli *c)
{
    double threshold = SALVAGE_THRESHOLD;
    if (c->threshold) {
        char *end = NULL;
        threshold = strtod(c->threshold, &end);
        if (!end || *end || end == c->threshold || !(threshold > 0 && threshold <= 1)) {
            cli_error("--threshold wants a similarity in (0, 1], e.g. 0.9");
            return CLI_USAGE;
        }
    }
    int64_t window_ms = 0;
    if (config_parse_duration_ms(c->window ? c->window : SALVAGE_WINDOW, &window_ms) != 0 || window_ms <= 0) {
        cli_error("--window wants a duration such as 24h or 30m");
        return CLI_USAGE;
    }
    if (!cli_db(c))
        return CLI_FAIL;
    char err[512] = "";
    size_t n = 0;
    int rc =
        ticket_salvage(c->db, actor(), c->args[0], threshold, c->keyword, window_ms, c->dry_run, &n, err, sizeof err);
    return finish(c, rc, err, "salvage", c->args[0],
                  json_pack("{s:I, s:b, s:f}", c->dry_run ? "would_bind" : "bound", (json_int_t)n, "dry_run",
                            c->dry_run, "threshold", threshold));
}
