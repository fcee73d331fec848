/* Carrying out a SlackCommand (hutch.slack.commands) inside notify's batch transaction,
 * the one holding the command's claim: buttons change the ticket through the ticket
 * module (common/ticket.h, a savepoint of that transaction: claim and change commit
 * together, exactly once) as actor "slack:<user id>"; modal buttons open a modal
 * (views.open, after the commit) whose submission comes back as a submit_* command. A
 * refused change is said in the ticket's thread (through the outbox).
 *
 *   ack_alert            ticket_assign(ticket, actor)      (the clicker takes it)
 *   decline_alert        ticket_decline(ticket, alert)
 *   reopen_alert         ticket_reopen(ticket)
 *   escalate             ticket_reopen(ticket) unless open, ticket_raise_severity(ticket, "high")
 *   resolve_ticket, salvage, edit_ticket, bind_alert → the modal
 *   salvage_refresh      the salvage modal updated (views.update) with how many unbound
 *                        alerts match now (ticket_salvage dry run: nothing changes)
 *   submit_resolve_ticket ticket_resolve(conclusion, comment)
 *   submit_salvage       ticket_salvage(threshold, keyword, last 24 h)
 *   submit_edit_ticket   ticket_edit(title, description)
 *   submit_bind_alert    the alert (only it) moves: ticket_decline(its ticket, alert) then
 *                        ticket_bind(chosen ticket, alert) — one change: the caller runs
 *                        the command in one transaction (a refused bind undoes the decline)
 *
 * The ticket operations are reached through a table so this file is tested without a
 * database; slack_ticket_ops_default() (slack_ticket_ops.c) is the ticket module's. */
#ifndef HUTCH_NOTIFY_SLACK_COMMANDS_H
#define HUTCH_NOTIFY_SLACK_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/msg.h"
#include "common/pg.h"

typedef struct {
    int (*assign)(pg *, const char *actor, const char *ticket, const char *assignee, char *err, size_t errlen);
    int (*decline)(pg *, const char *actor, const char *ticket, const char *alert, char *err, size_t errlen);
    int (*reopen)(pg *, const char *actor, const char *ticket, char *err, size_t errlen);
    int (*raise_severity)(pg *, const char *actor, const char *ticket, const char *severity, char *err, size_t errlen);
    int (*resolve)(pg *, const char *actor, const char *ticket, const char *conclusion, const char *reason, char *err,
                   size_t errlen);
    int (*salvage)(pg *, const char *actor, const char *ticket, double threshold, const char *keyword,
                   int64_t window_ms, bool dry_run, size_t *count, char *err, size_t errlen);
    int (*edit)(pg *, const char *actor, const char *ticket, const char *title, const char *description, char *err,
                size_t errlen);
    int (*bind)(pg *, const char *actor, const char *ticket, const char *const *alerts, size_t n, char *err,
                size_t errlen);
} slack_ticket_ops;

/* The ticket module's operations (common/ticket.h). Static. */
const slack_ticket_ops *slack_ticket_ops_default(void);

/* The modal a button opens, or NULL when the action acts at once. open_tickets: for
 * bind, [{ticket_id, title, score?}] best first (BORROWED). NEW json_t. */
json_t *slack_modal_for(const Hutch__V1__SlackCommand *c, const json_t *open_tickets);

/* The salvage modal for ticket_id with the typed threshold and keyword as initial
 * values (strings BORROWED), status (our own mrkdwn: the count, or how to get it)
 * above a Refresh button (block refresh_action, action salvage_refresh_button, Warren's
 * ids). NEW json_t, NULL on OOM. */
json_t *slack_salvage_modal(const char *ticket_id, const char *threshold, const char *keyword, const char *status);
/* The salvage modal again for a salvage_refresh command: how many unbound alerts match
 * c's threshold and keyword now (ops->salvage with dry_run: nothing is bound), or why
 * not (a bad threshold, the module's refusal). NEW json_t, NULL on OOM. */
json_t *slack_salvage_refresh(const slack_ticket_ops *ops, pg *db, const Hutch__V1__SlackCommand *c);

/* Runs an acting command (not a modal opener). A command may be several ticket
 * operations (bind): run it inside a transaction (or savepoint) and roll that back on
 * anything but PG_OK. Returns PG_OK, PG_RETRY (database: run again), or TICKET_REFUSED /
 * PG_FATAL with the reason in err. */
int slack_command_run(const slack_ticket_ops *ops, pg *db, const Hutch__V1__SlackCommand *c, char *err, size_t errlen);

#endif
