/* Ticket changes from the console: POST /api/tickets/ID/VERB, each one call of the
 * ticket module (common/ticket.h) with actor "user:NAME", so the change is checked,
 * applied and recorded in the ticket's history exactly as from hutchctl or Slack.
 * The body is checked here first: a missing or mistyped field is a 400 and nothing
 * is called; a change the module refuses (forbidden transition, unknown ticket or
 * alert, bad conclusion) is a 409 with its reason, and nothing changed.
 *
 *   assign   {assignee}                      "" unassigns
 *   resolve  {conclusion, reason}            conclusion: ticket_conclusion_check
 *   reopen   {}     archive {}
 *   edit     {title?, description?}          at least one
 *   severity {severity}                      raise only
 *   merge    {source}                        source's alerts join this ticket
 *   unmerge  {alert_ids: [...]}              -> {ticket_id: where they went}
 *   salvage  {threshold, keyword?, window_hours?, dry_run?} -> {count} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/severity.h"
#include "common/ticket.h"
#include "services/console/console.h"

#define MAX_TEXT 10000
#define MAX_UNMERGE 1000

/* An optional string field: true if absent (*out NULL) or a string of at most max
 * bytes; false after replying 400. */
static bool opt_string(struct evhttp_request *req, json_t *body, const char *key, size_t max, const char **out)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) > max) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be a string of at most %zu bytes", key, max);
        http_reply_error(req, 400, msg);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool need_string(struct evhttp_request *req, json_t *body, const char *key, size_t max, const char **out)
{
    if (!opt_string(req, body, key, max, out))
        return false;
    if (!*out) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s is required", key);
        http_reply_error(req, 400, msg);
        return false;
    }
    return true;
}

static void reply_result(struct evhttp_request *req, int rc, const char *err, json_t *extra)
{
    if (rc == TICKET_REFUSED) {
        http_reply_error(req, 409, err[0] ? err : "refused");
    } else if (rc != PG_OK) {
        http_reply_error(req, rc == PG_RETRY ? 503 : 500, rc == PG_RETRY ? "database busy, try again" : err);
    } else {
        json_t *o = extra ? extra : json_object();
        json_object_set_new(o, "ok", json_true());
        char *text = json_dumps(o, JSON_COMPACT);
        console_headers(req, true);
        http_reply_json(req, 200, text);
        free(text);
        json_decref(o);
        return;
    }
    json_decref(extra);
}

void actions_ticket(console *c, struct evhttp_request *req, const console_user *u, const char *ticket_id,
                    const char *verb, json_t *body)
{
    char actor[128], err[512] = "";
    snprintf(actor, sizeof actor, "user:%s", u->name);
    int rc;
    json_t *extra = NULL;
    if (!strcmp(verb, "assign")) {
        const char *assignee;
        if (!need_string(req, body, "assignee", 100, &assignee))
            return;
        rc = ticket_assign(c->db, actor, ticket_id, assignee, err, sizeof err);
    } else if (!strcmp(verb, "resolve")) {
        const char *conclusion, *reason;
        if (!need_string(req, body, "conclusion", 40, &conclusion) ||
            !opt_string(req, body, "reason", MAX_TEXT, &reason))
            return;
        if (ticket_conclusion_check(conclusion) != 0) {
            http_reply_error(req, 400,
                             "conclusion must be intended, unaffected, false_positive, true_positive or escalated");
            return;
        }
        rc = ticket_resolve(c->db, actor, ticket_id, conclusion, reason ? reason : "", err, sizeof err);
    } else if (!strcmp(verb, "reopen")) {
        rc = ticket_reopen(c->db, actor, ticket_id, err, sizeof err);
    } else if (!strcmp(verb, "archive")) {
        rc = ticket_archive(c->db, actor, ticket_id, err, sizeof err);
    } else if (!strcmp(verb, "edit")) {
        const char *title, *description;
        if (!opt_string(req, body, "title", 500, &title) ||
            !opt_string(req, body, "description", MAX_TEXT, &description))
            return;
        if (!title && !description) {
            http_reply_error(req, 400, "edit needs title or description");
            return;
        }
        if (title && !*title) {
            http_reply_error(req, 400, "a title cannot be empty");
            return;
        }
        rc = ticket_edit(c->db, actor, ticket_id, title, description, err, sizeof err);
    } else if (!strcmp(verb, "severity")) {
        const char *severity;
        if (!need_string(req, body, "severity", 20, &severity))
            return;
        if (strcmp(severity, "info") && strcmp(severity, "low") && strcmp(severity, "medium") &&
            strcmp(severity, "high") && strcmp(severity, "critical")) {
            http_reply_error(req, 400, "severity must be info, low, medium, high or critical");
            return;
        }
        rc = ticket_raise_severity(c->db, actor, ticket_id, severity, err, sizeof err);
    } else if (!strcmp(verb, "merge")) {
        const char *source;
        if (!need_string(req, body, "source", 36, &source))
            return;
        if (!ids_is_uuid(source) || !strcmp(source, ticket_id)) {
            http_reply_error(req, 400, "source must be the id (UUID) of another ticket");
            return;
        }
        rc = ticket_merge(c->db, actor, ticket_id, source, err, sizeof err);
    } else if (!strcmp(verb, "unmerge")) {
        json_t *ids = json_object_get(body, "alert_ids");
        size_t n = json_array_size(ids);
        if (!json_is_array(ids) || n == 0 || n > MAX_UNMERGE) {
            http_reply_error(req, 400, "alert_ids must be a list of 1 to 1000 alert ids");
            return;
        }
        const char **list = calloc(n, sizeof *list);
        if (!list) {
            http_reply_error(req, 503, "out of memory");
            return;
        }
        for (size_t i = 0; i < n; i++) {
            list[i] = json_string_value(json_array_get(ids, i));
            if (!list[i] || !ids_is_uuid(list[i])) {
                free(list);
                http_reply_error(req, 400, "every alert id is a UUID");
                return;
            }
        }
        char out[37] = "";
        rc = ticket_unmerge(c->db, actor, ticket_id, list, n, out, err, sizeof err);
        free(list);
        extra = json_pack("{s:s}", "ticket_id", out);
    } else if (!strcmp(verb, "salvage")) {
        json_t *th = json_object_get(body, "threshold"), *win = json_object_get(body, "window_hours");
        json_t *dry = json_object_get(body, "dry_run");
        const char *keyword;
        if (!json_is_number(th) || json_number_value(th) < 0 || json_number_value(th) > 1) {
            http_reply_error(req, 400, "threshold must be a number from 0 to 1");
            return;
        }
        if (win && (!json_is_number(win) || json_number_value(win) <= 0 || json_number_value(win) > 24 * 90)) {
            http_reply_error(req, 400, "window_hours must be a number of hours from 0 to 2160");
            return;
        }
        if (dry && !json_is_boolean(dry)) {
            http_reply_error(req, 400, "dry_run must be true or false");
            return;
        }
        if (!opt_string(req, body, "keyword", 200, &keyword))
            return;
        size_t count = 0;
        int64_t window_ms = (int64_t)((win ? json_number_value(win) : 24.0) * 3600000.0);
        rc = ticket_salvage(c->db, actor, ticket_id, json_number_value(th), keyword, window_ms, json_is_true(dry),
                            &count, err, sizeof err);
        extra = json_pack("{s:I,s:b}", "count", (json_int_t)count, "dry_run", json_is_true(dry));
    } else {
        http_reply_error(req, 404, "no such ticket action");
        return;
    }
    if (rc == PG_OK)
        LOG_INFO("console_ticket_change", "user", u->name, "ticket_id", ticket_id, "action", verb, NULL);
    reply_result(req, rc, err, extra);
}
