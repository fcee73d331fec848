/* Slack bot mode: one top-level message per ticket (chat.postMessage), edited in place
 * (chat.update) as the ticket changes, thread replies (thread_ts) for what a person
 * should see (the agent's finding, an escalation), and modals (views.open).
 *
 * Posting and replying run on the consumer thread inside the outbox's row lock
 * (main.c's deliver); edits run on the bot's own thread (slack_bot_start) with its own
 * database connection: every HUTCH_SLACK_EDIT_POLL it asks slack_store_due for the
 * messages whose first unshown change is older than HUTCH_SLACK_EDIT_COALESCE, renders
 * each ticket as it is then, and sends one chat.update through the global edit
 * limiter: ten changes within the window are one edit showing the latest state.
 *
 * A ticket's message carries Slack message metadata (event_type "hutch_ticket",
 * event_payload {"ticket_id"}). Before each post a row in slack_post_attempts is
 * committed on the bot's own connection; when the ticket's message has no ts but such
 * a row exists (a post whose ts was never committed: notify killed between Slack's
 * answer and the commit), conversations.history of the attempt's channel (since the
 * attempt less two minutes, all metadata, every page) is searched first: the message
 * found is adopted (its ts recorded, then edited to the ticket's current state), and
 * only a message not found is posted. A history call that fails is retried later,
 * never guessed past.
 *
 * Channel routing: the triage policy's channel when the request has one, else
 * HUTCH_SLACK_CHANNEL; when Slack refuses the policy's channel (channel_not_found,
 * not_in_channel, is_archived) the message goes to the default channel with a note
 * saying so (Warren's behaviour). */
#ifndef HUTCH_NOTIFY_SLACK_BOT_H
#define HUTCH_NOTIFY_SLACK_BOT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pg.h"
#include "services/notify/notify.h"

typedef struct {
    const char *api_url; /* https://slack.com/api */
    const char *token;   /* xoxb-...: secret */
    const char *default_channel;
    const char *database_url; /* the edit thread's and the attempt rows' own connections: secret */
    long timeout_ms;
    double post_rate, post_burst; /* per channel */
    double edit_rate, edit_burst; /* global */
    int64_t coalesce_ms;
    int64_t poll_ms;
} slack_bot_config;

typedef struct slack_bot slack_bot;

/* cfg's strings are BORROWED for the bot's life. NEW, NULL on OOM. */
slack_bot *slack_bot_new(const slack_bot_config *cfg);
/* Starts the edit thread. 0 or -1. */
int slack_bot_start(slack_bot *b);
/* Stops and joins the edit thread, frees. NULL is fine. */
void slack_bot_free(slack_bot *b);

/* In the outbox row's transaction (consumer thread only: it uses the bot's attempt
 * connection): posts the ticket's message unless it was posted (then NOTIFY_SENT
 * without a call) or a killed attempt's message is found in the channel (adopted).
 * err gets the reason of anything but SENT. */
notify_outcome slack_bot_post(slack_bot *b, pg *db, const char *ticket_id, char *err, size_t errlen);
/* In the outbox row's transaction: posts msg (BORROWED) in the ticket's thread;
 * NOTIFY_RETRY while the ticket's message has no ts yet. */
notify_outcome slack_bot_reply(slack_bot *b, pg *db, const char *ticket_id, const json_t *msg, char *err,
                               size_t errlen);
/* Posts msg in channel's thread_ts right away (the agent's answer path, refusals).
 * 0 or -1. */
int slack_bot_say(slack_bot *b, const char *channel, const char *thread_ts, const json_t *msg, char *err,
                  size_t errlen);
/* views.open with trigger_id and view (BORROWED). 0 or -1. */
int slack_bot_open_view(slack_bot *b, const char *trigger_id, const json_t *view, char *err, size_t errlen);
/* views.update of the open modal view_id with view (BORROWED); hash (may be "") as Slack
 * last sent it, so an update of a view changed meanwhile is refused (hash_conflict).
 * 0 or -1. */
int slack_bot_update_view(slack_bot *b, const char *view_id, const char *hash, const json_t *view, char *err,
                          size_t errlen);

#endif
