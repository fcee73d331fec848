/* The ticket lifecycle: the one module that changes a ticket on behalf of a person or
 * the agent (hutchctl, Slack buttons, the web console, the agent's update_finding).
 * hutch-cluster's batch binding of new alerts (services/cluster/store.c) is the only
 * other writer of tickets, and it follows the rules below.
 *
 * States (Warren + leveret):
 *
 *     open --resolve(conclusion, reason)--> resolved --archive--> archived
 *       ^                                      |                     |
 *       +---------------reopen-----------------+---------------------+
 *     open --archive--> archived;  a merged ticket is resolved with merged_into set.
 *
 * Conclusions: intended, unaffected, false_positive, true_positive, escalated.
 * Operations on an alert: bind (an unbound alert joins a ticket), decline (the alert
 * leaves its ticket and is marked declined: never bound automatically again), unmerge
 * (alerts leave a ticket: back to the ticket they were merged from, reopened, when they
 * came by a merge; else into a new ticket). An alert is never moved otherwise.
 * Severity is the highest of the ticket's alerts' (common/severity.h), raisable (never
 * lowered) by a person or the agent.
 *
 * Every change is one transaction: the ticket rows locked FOR UPDATE in ticket-id order
 * (merge locks both), the change, and one row in ticket_history {ticket_id, seq, at,
 * actor, kind, detail jsonb} (seq counts per ticket). ticket_history is also the outbox of
 * hutch.tickets.events: ticket_relay_publish() sends the rows not yet published as
 * TicketEvents (kind and detail as in the row; Meta id derived from ticket id and seq, so
 * a re-send is the same message) and marks them; hutch-cluster runs it.
 *
 * A refused change (forbidden transition, unknown ticket or alert, bad conclusion, an
 * alert already bound) returns TICKET_REFUSED with the reason in err and changes nothing.
 * PG_RETRY (a deadlock, a lost connection) is retried inside the module a few times
 * before it is returned. The rule per status (ticket_op_refusal): bind, decline,
 * severity, merge, unmerge, salvage need an open ticket; resolve an open one; reopen a
 * resolved or archived one; assign, edit, finding anything not archived; archive
 * anything not archived; a merged ticket allows archive only.
 * Unmerge sends the alerts back to the ticket they were all merged from (reopened, its
 * merged_into cleared) when they share one and it is still merged into this ticket or
 * open; otherwise into a new ticket. A finding does not change the severity: the agent
 * raises it with ticket_raise_severity (refused unless it is higher).
 * Actors are "user:NAME" (hutchctl, console), "slack:USERID", "hutch-agent",
 * "hutch-cluster". Every pointer argument is BORROWED. */
#ifndef HUTCH_TICKET_H
#define HUTCH_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pg.h"

/* Results: PG_OK, PG_RETRY, PG_FATAL (common/pg.h), or: */
enum { TICKET_REFUSED = -3 };

typedef enum { TICKET_OPEN, TICKET_RESOLVED, TICKET_ARCHIVED } ticket_status;

typedef enum {
    TICKET_OP_CREATE,   /* from alerts */
    TICKET_OP_BIND,     /* alerts join */
    TICKET_OP_DECLINE,  /* an alert leaves, declined */
    TICKET_OP_RESOLVE,  /* conclusion + reason */
    TICKET_OP_REOPEN,
    TICKET_OP_ARCHIVE,
    TICKET_OP_ASSIGN,
    TICKET_OP_EDIT,     /* title, description */
    TICKET_OP_FINDING,  /* {severity, summary, reason, recommendation} */
    TICKET_OP_SEVERITY, /* raise */
    TICKET_OP_MERGE,    /* the source's alerts move to the target */
    TICKET_OP_UNMERGE,
    TICKET_OP_SALVAGE,
} ticket_op;

/* The pure rule: may op be applied to a ticket in status `from` (merged: it was merged
 * into another)? NULL if yes, else the reason (static string). */
const char *ticket_op_refusal(ticket_op op, ticket_status from, bool merged);
/* Names <-> values ("open", "resolve", ...). Parsers return 0 or -1 on unknown names. */
const char *ticket_status_name(ticket_status s);
int ticket_status_parse(const char *name, ticket_status *out);
const char *ticket_op_name(ticket_op op);
/* 0 if name is one of the five conclusions, -1 otherwise. */
int ticket_conclusion_check(const char *name);

typedef struct {
    const char *severity; /* info..critical */
    const char *summary;
    const char *reason;
    const char *recommendation;
} ticket_finding;

/* Each runs its own transaction on db, retried on PG_RETRY a few times. When the caller
 * has a transaction open on db (pg_begin), the operation is a savepoint of it instead:
 * the change commits or rolls back with the caller's transaction (so a consumer's claim
 * of the message that asked for it and the change are one commit: effect exactly once),
 * a refusal rolls back to the savepoint and leaves the caller's transaction usable, and
 * PG_RETRY is returned at once for the caller to run its whole transaction again.
 * err gets the reason of TICKET_REFUSED or of a database error. */
int ticket_create(pg *db, const char *actor, const char *const *alert_ids, size_t n, char out_ticket_id[37],
                  char *err, size_t errlen);
int ticket_bind(pg *db, const char *actor, const char *ticket_id, const char *const *alert_ids, size_t n, char *err,
                size_t errlen);
int ticket_decline(pg *db, const char *actor, const char *ticket_id, const char *alert_id, char *err, size_t errlen);
int ticket_resolve(pg *db, const char *actor, const char *ticket_id, const char *conclusion, const char *reason,
                   char *err, size_t errlen);
int ticket_reopen(pg *db, const char *actor, const char *ticket_id, char *err, size_t errlen);
int ticket_archive(pg *db, const char *actor, const char *ticket_id, char *err, size_t errlen);
/* assignee "" = unassigned. */
int ticket_assign(pg *db, const char *actor, const char *ticket_id, const char *assignee, char *err, size_t errlen);
/* title or description NULL = unchanged. */
int ticket_edit(pg *db, const char *actor, const char *ticket_id, const char *title, const char *description,
                char *err, size_t errlen);
int ticket_set_finding(pg *db, const char *actor, const char *ticket_id, const ticket_finding *f, char *err,
                       size_t errlen);
int ticket_raise_severity(pg *db, const char *actor, const char *ticket_id, const char *severity, char *err,
                          size_t errlen);
/* source's alerts move to target; source is resolved with merged_into = target. */
int ticket_merge(pg *db, const char *actor, const char *target_id, const char *source_id, char *err, size_t errlen);
/* out_ticket_id: where the alerts went (a reopened source or a new ticket). */
int ticket_unmerge(pg *db, const char *actor, const char *ticket_id, const char *const *alert_ids, size_t n,
                   char out_ticket_id[37], char *err, size_t errlen);
/* Binds every unbound, undeclined alert of the last `window_ms` whose embedding scores
 * >= threshold against the ticket's (and whose title or description contains keyword,
 * case-insensitively, when not NULL/""); with dry_run, binds nothing and only counts.
 * *out_count: how many. The ticket's vector is the L2-normalised mean of its alerts'
 * embeddings of the model (and dims) most of them have; alerts are compared within
 * that model only. TICKET_REFUSED when the ticket has no embedded alert. */
int ticket_salvage(pg *db, const char *actor, const char *ticket_id, double threshold, const char *keyword,
                   int64_t window_ms, bool dry_run, size_t *out_count, char *err, size_t errlen);

/* One event of a relay round (key = ticket id, value = packed TicketEvent), and
 * whether the broker acknowledged it (set by the publish callback). */
typedef struct {
    const char *ticket_id;
    const uint8_t *value;
    size_t len;
    bool acked;
} ticket_relay_event;
/* Sends the round's n events at once, in order, and waits until each is acknowledged
 * or failed, setting acked. */
typedef void (*ticket_publish_fn)(ticket_relay_event *events, size_t n, void *arg);

/* Publishes up to `max` unpublished ticket_history rows (oldest first) in one call of
 * publish (value = packed TicketEvent: kind, actor and detail_json of the row,
 * alert_id when the detail has one, trace id = the ticket id, Meta id derived from
 * ticket id and seq), and marks the acknowledged ones published, each ticket's only
 * up to its first unacknowledged event (the rest of that ticket waits for the next
 * round, so its events stay in order; a later one sent already goes out again: at
 * least once). One relay at a time across instances (a transaction advisory lock;
 * another instance's call returns 0). Runs its own transaction. Returns how many were
 * published, or PG_RETRY/PG_FATAL. */
int ticket_relay_publish(pg *db, size_t max, ticket_publish_fn publish, void *arg);

#endif
