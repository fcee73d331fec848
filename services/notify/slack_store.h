/* Postgres side of Slack bot mode: table slack_messages (migration "slack"), one row
 * per ticket that has (or will have) its message, and the render document of a ticket.
 *
 * Order that keeps "one post per ticket": the row is inserted in the consumer's batch
 * transaction; a post happens only while holding the row's lock (FOR UPDATE) and only
 * when ts is still NULL; ts is written in the same transaction right after the post.
 * Slack has no idempotency key, so a crash between Slack's answer and that commit
 * would post once more; to close that window every post carries message metadata
 * naming the ticket (event_type "hutch_ticket") and is preceded by a committed row in
 * slack_post_attempts (migration "slack_post_attempts", written on a connection of its
 * own so it survives the rollback). A ticket without ts but with an attempt row is
 * first looked for in its channel's history (slack_bot.c); found, its ts is adopted.
 *
 * Order that keeps "no edit lost": every change raises change_seq in the transaction
 * that consumed it; the updater renders the ticket as it is now, and records the
 * change_seq it read as shown_seq only after chat.update succeeded. Every pointer
 * argument is BORROWED. Results: PG_OK, PG_RETRY, PG_FATAL. */
#ifndef HUTCH_NOTIFY_SLACK_STORE_H
#define HUTCH_NOTIFY_SLACK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/pg.h"

/* In the batch transaction: the ticket's row (channel wanted, publish) unless it exists. */
int slack_store_register(pg *db, const char *ticket_id, const char *channel, const char *publish);
/* In the batch transaction: a change to show (no-op for a ticket without a message). */
int slack_store_changed(pg *db, const char *ticket_id);

/* The ticket an alert is bound to (ticket_id "" while it is bound to none): for an
 * enrich "intel" TicketEvent produced before cluster bound the alert. */
int slack_store_ticket_of_alert(pg *db, const char *alert_id, char ticket_id[37]);

/* The render document of a ticket (blocks.h, slack_view_from_json) as NEW JSON text in
 * *doc (free()), and its change_seq; *doc NULL when there is no such ticket. */
int slack_store_doc(pg *db, const char *ticket_id, char **doc, int64_t *change_seq);

/* Inside a transaction: locks the ticket's row (FOR UPDATE) and copies out channel
 * and ts (ts "" while not posted); found false when there is no row. */
typedef struct {
    bool found;
    char channel[96];
    char ts[40];
} slack_row;
int slack_store_lock(pg *db, const char *ticket_id, slack_row *row);
/* In the transaction of slack_store_lock: the post's channel id and ts, the note, and
 * the change_seq the posted message showed; clears the ticket's attempt row. */
int slack_store_posted(pg *db, const char *ticket_id, const char *channel, const char *ts, const char *note,
                       int64_t shown_seq);

/* In the transaction of slack_store_lock, instead of a post: the message a killed
 * notify posted (found in the channel's history) is the ticket's; it is due an edit at
 * once (it shows the ticket as it was then). Clears the attempt row. */
int slack_store_adopted(pg *db, const char *ticket_id, const char *channel, const char *ts, const char *note);

/* Autocommit, on a connection other than the row lock's: a post of the ticket's message
 * to channel (with note, may be NULL) is about to be made. attempted_at stays the time of
 * the first attempt. */
int slack_store_attempt(pg *db, const char *ticket_id, const char *channel, const char *note);
/* The recorded attempt of the ticket (at->found false when none); attempted_at in Unix
 * seconds. */
typedef struct {
    bool found;
    char channel[96];
    char note[200];
    int64_t attempted_at;
} slack_attempt;
int slack_store_attempt_of(pg *db, const char *ticket_id, slack_attempt *at);
/* Deletes the ticket's attempt row (done by slack_store_posted and slack_store_adopted). */
int slack_store_attempt_done(pg *db, const char *ticket_id);

/* Tickets whose message is due an edit: posted, shown_seq < change_seq, first unshown
 * change older than coalesce_ms. Up to max ids into ids[][37]; *n how many. */
int slack_store_due(pg *db, int64_t coalesce_ms, char (*ids)[37], size_t max, size_t *n);
/* The edit showing seq succeeded (shown_seq = max(shown_seq, seq); changed_at cleared
 * when nothing newer is pending). */
int slack_store_shown(pg *db, const char *ticket_id, int64_t seq);

/* Where the ticket's message is (row->found false when it has none); no lock. */
int slack_store_message_of(pg *db, const char *ticket_id, slack_row *row);

/* The ticket whose message is thread_ts in channel (ticket_id "" when none). */
int slack_store_ticket_of_thread(pg *db, const char *channel, const char *thread_ts, char ticket_id[37]);

#endif
