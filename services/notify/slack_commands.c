/* SlackCommands carried out (see slack_commands.h): the modals and the dispatch. */
#include "services/notify/slack_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/ticket.h"
#include "services/notify/notify.h"

#define SALVAGE_WINDOW_MS (24LL * 3600 * 1000)

static json_t *plain(const char *text) { return json_pack("{s:s, s:s}", "type", "plain_text", "text", text); }

static json_t *input(const char *block, const char *action, const char *label, json_t *element, bool optional)
{
    if (element != NULL)
        json_object_set_new(element, "action_id", json_string(action));
    return element ? json_pack("{s:s, s:s, s:o, s:o, s:b}", "type", "input", "block_id", block, "label", plain(label),
                               "element", element, "optional", optional)
                   : NULL;
}

static json_t *text_input(const char *initial, bool multiline)
{
    json_t *e = json_pack("{s:s, s:b}", "type", "plain_text_input", "multiline", multiline);
    if (e != NULL && initial != NULL && *initial)
        json_object_set_new(e, "initial_value", json_string(initial));
    return e;
}

static json_t *modal(const char *callback_id, const char *title, const char *submit, const char *meta, json_t *blocks)
{
    return blocks ? json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "type", "modal", "callback_id", callback_id,
                              "private_metadata", meta, "title", plain(title), "submit", plain(submit), "close",
                              plain("Cancel"), "blocks", blocks)
                  : NULL;
}

json_t *slack_salvage_modal(const char *ticket_id, const char *threshold, const char *keyword, const char *status)
{
    json_t *refresh = json_pack("{s:s, s:o, s:s, s:s}", "type", "button", "text", plain("Refresh"), "action_id",
                                "salvage_refresh_button", "value", ticket_id);
    char *text = notify_fit(status, NOTIFY_SECTION_MAX, false); /* our own mrkdwn: not escaped */
    if (refresh == NULL || text == NULL) {
        json_decref(refresh);
        free(text);
        return NULL;
    }
    /* json_pack steals every "o", on failure too */
    json_t *blocks =
        json_pack("[o, o, {s:s, s:s, s:{s:s, s:s}}, {s:s, s:s, s:[o]}]",
                  input("salvage_threshold_block", "salvage_threshold_input", "Similarity threshold (0-1)",
                        text_input(threshold, false), false),
                  input("salvage_keyword_block", "salvage_keyword_input", "Keyword", text_input(keyword, false), true),
                  "type", "section", "block_id", "salvage_count", "text", "type", "mrkdwn", "text", text, "type",
                  "actions", "block_id", "refresh_action", "elements", refresh);
    free(text);
    return modal("submit_salvage", "Salvage alerts", "Salvage", ticket_id, blocks);
}

json_t *slack_salvage_refresh(const slack_ticket_ops *ops, pg *db, const Hutch__V1__SlackCommand *c)
{
    char status[700];
    char *end = NULL;
    double threshold = strtod(c->threshold, &end);
    if (end == c->threshold || *end != '\0' || threshold < 0 || threshold > 1) {
        snprintf(status, sizeof status, ":warning: The threshold must be a number from 0 to 1.");
    } else {
        size_t count = 0;
        char err[512] = "";
        int rc = ops->salvage(db, c->actor, c->ticket_id, threshold, c->keyword, SALVAGE_WINDOW_MS, true, &count, err,
                              sizeof err);
        char *kw = notify_fit(c->keyword, 100, true);
        if (rc == PG_OK)
            snprintf(status, sizeof status,
                     "*%zu* unbound alert%s of the last 24 h match%s now (similarity \xE2\x89\xA5 %.2f%s%s%s).", count,
                     count == 1 ? "" : "s", count == 1 ? "es" : "", threshold, *c->keyword ? ", keyword \"" : "",
                     *c->keyword && kw ? kw : "", *c->keyword ? "\"" : "");
        else
            snprintf(status, sizeof status, ":warning: Cannot count the matches: %s", err[0] ? err : "database error");
        free(kw);
    }
    return slack_salvage_modal(c->ticket_id, c->threshold, c->keyword, status);
}

json_t *slack_modal_for(const Hutch__V1__SlackCommand *c, const json_t *open_tickets)
{
    const char *a = c->action;
    if (!strcmp(a, "resolve_ticket")) {
        static const char *const conclusions[] = {"intended", "unaffected", "false_positive", "true_positive",
                                                  "escalated"};
        json_t *opts = json_array();
        for (size_t i = 0; i < 5; i++)
            json_array_append_new(opts,
                                  json_pack("{s:o, s:s}", "text", plain(conclusions[i]), "value", conclusions[i]));
        json_t *select = json_pack("{s:s, s:o}", "type", "static_select", "options", opts);
        return modal("submit_resolve_ticket", "Resolve ticket", "Resolve", c->ticket_id,
                     json_pack("[o, o]",
                               input("ticket_conclusion_block", "ticket_conclusion_input", "Conclusion", select, false),
                               input("ticket_comment_block", "ticket_comment_input", "Reason", text_input(NULL, true),
                                     false))); /* the module wants a reason */
    }
    if (!strcmp(a, "salvage"))
        return slack_salvage_modal(c->ticket_id, "0.9", "",
                                   "Press *Refresh* to count the unbound alerts that match now.");
    if (!strcmp(a, "edit_ticket"))
        return modal(
            "edit_ticket", "Edit ticket", "Save", c->ticket_id,
            json_pack("[o, o]",
                      input("ticket_title_block", "ticket_title_input", "Title", text_input(NULL, false), false),
                      input("ticket_description_block", "ticket_description_input", "Description",
                            text_input(NULL, true), true)));
    if (!strcmp(a, "bind_alert")) {
        json_t *opts = json_array();
        size_t i;
        const json_t *t;
        json_array_foreach (open_tickets, i, t) {
            const char *id = json_string_value(json_object_get(t, "ticket_id"));
            const char *title = json_string_value(json_object_get(t, "title"));
            if (id == NULL || !strcmp(id, c->ticket_id) || json_array_size(opts) >= 10)
                continue;
            /* plain_text of an option: at most 75 characters */
            char *cut = notify_truncate(title && *title ? title : id, 60);
            char label[256];
            const json_t *score = json_object_get(t, "score");
            if (json_is_number(score))
                snprintf(label, sizeof label, "%.2f \xC2\xB7 %s", json_number_value(score), cut ? cut : id);
            else
                snprintf(label, sizeof label, "%s", cut ? cut : id);
            free(cut);
            json_array_append_new(opts, json_pack("{s:o, s:s}", "text", plain(label), "value", id));
        }
        if (json_array_size(opts) == 0) {
            json_decref(opts);
            return NULL;
        }
        char meta[128];
        snprintf(meta, sizeof meta, "%s:%s", c->ticket_id, c->alert_id);
        json_t *select = json_pack("{s:s, s:o}", "type", "static_select", "options", opts);
        return modal("submit_bind_alert", "Bind to ticket", "Bind", meta,
                     json_pack("[o]", input("ticket_select_block", "ticket_select_input", "Ticket", select, false)));
    }
    return NULL;
}

int slack_command_run(const slack_ticket_ops *ops, pg *db, const Hutch__V1__SlackCommand *c, char *err, size_t errlen)
{
    const char *a = c->action;
    const char *who = c->actor;
    if (!ids_is_uuid(c->ticket_id)) {
        snprintf(err, errlen, "no valid ticket id");
        return TICKET_REFUSED;
    }
    if (!strcmp(a, "ack_alert"))
        return ops->assign(db, who, c->ticket_id, who, err, errlen);
    if (!strcmp(a, "decline_alert"))
        return ops->decline(db, who, c->ticket_id, c->alert_id, err, errlen);
    if (!strcmp(a, "reopen_alert"))
        return ops->reopen(db, who, c->ticket_id, err, errlen);
    if (!strcmp(a, "escalate")) {
        /* a notice's ticket was archived by the triage (services/agent/triage.h):
         * escalating makes it a live ticket again; an open one is just raised */
        int rc = ops->reopen(db, who, c->ticket_id, err, errlen);
        if (rc == TICKET_REFUSED)
            rc = PG_OK; /* open already (a refusal changed nothing) */
        return rc == PG_OK ? ops->raise_severity(db, who, c->ticket_id, "high", err, errlen) : rc;
    }
    if (!strcmp(a, "submit_resolve_ticket"))
        return ops->resolve(db, who, c->ticket_id, c->conclusion, c->comment, err, errlen);
    if (!strcmp(a, "submit_edit_ticket"))
        return ops->edit(db, who, c->ticket_id, *c->title ? c->title : NULL, *c->description ? c->description : NULL,
                         err, errlen);
    if (!strcmp(a, "submit_bind_alert")) {
        if (!ids_is_uuid(c->target_ticket_id)) {
            snprintf(err, errlen, "no ticket chosen");
            return TICKET_REFUSED;
        }
        if (!ids_is_uuid(c->alert_id)) {
            snprintf(err, errlen, "no valid alert id");
            return TICKET_REFUSED;
        }
        if (!strcmp(c->target_ticket_id, c->ticket_id)) {
            snprintf(err, errlen, "the alert is in that ticket already");
            return TICKET_REFUSED;
        }
        /* the alert leaves its ticket (a person's decision: never bound back
         * automatically) and joins the chosen one */
        int rc = ops->decline(db, who, c->ticket_id, c->alert_id, err, errlen);
        const char *alerts[] = {c->alert_id};
        return rc == PG_OK ? ops->bind(db, who, c->target_ticket_id, alerts, 1, err, errlen) : rc;
    }
    if (!strcmp(a, "submit_salvage")) {
        char *end = NULL;
        double threshold = strtod(c->threshold, &end);
        if (end == c->threshold || *end != '\0' || threshold < 0 || threshold > 1) {
            snprintf(err, errlen, "threshold must be a number from 0 to 1");
            return TICKET_REFUSED;
        }
        size_t count = 0;
        return ops->salvage(db, who, c->ticket_id, threshold, c->keyword, SALVAGE_WINDOW_MS, false, &count, err,
                            errlen);
    }
    snprintf(err, errlen, "unknown action %s", a);
    return TICKET_REFUSED;
}
