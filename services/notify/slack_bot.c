/* Slack bot mode (see slack_bot.h): posts, replies and the edit thread. */
#include "services/notify/slack_bot.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "services/notify/blocks.h"
#include "services/notify/slack_api.h"
#include "services/notify/slack_store.h"

#define EDIT_BATCH 20
/* conversations.history starts this long before the recorded attempt (clock skew
 * between Postgres and Slack), 200 messages a page, at most HISTORY_PAGES pages. */
#define HISTORY_MARGIN_S 120
#define HISTORY_PAGES 100

struct slack_bot {
    slack_bot_config cfg;
    slack_limiter *posts; /* per channel */
    slack_limiter *edits; /* global: key "" */
    pg *attempts;         /* the consumer thread's second connection: attempt rows commit at once */
    pthread_t thread;
    bool started;
    volatile int stop;
};

/* hutch_notify_slack_calls_total{method, result}: registered once (slack_bot_new). */
static const char *const methods[] = {"chat.postMessage", "chat.update", "views.open", "views.update",
                                      "conversations.history"};
#define N_METHODS (sizeof methods / sizeof *methods)
static const char *const outcomes[] = {"ok", "ratelimited", "error"};
static metric *call_metrics[N_METHODS][3];

static void register_metrics(void)
{
    for (size_t m = 0; m < N_METHODS; m++)
        for (size_t r = 0; r < 3; r++)
            if (call_metrics[m][r] == NULL) {
                char name[160];
                snprintf(name, sizeof name, "hutch_notify_slack_calls_total{method=\"%s\",result=\"%s\"}", methods[m],
                         outcomes[r]);
                call_metrics[m][r] = metrics_counter(name, "Slack Web API calls by method and result");
            }
}

static void count(const char *method, int rc, const slack_result *res)
{
    size_t r = rc == 0 ? 0 : res->status == 429 ? 1 : 2;
    for (size_t m = 0; m < N_METHODS; m++)
        if (!strcmp(methods[m], method) && call_metrics[m][r] != NULL)
            metrics_add(call_metrics[m][r], 1);
}

/* slack_call, counted. */
static int counted_call(slack_bot *b, const char *method, const json_t *body, slack_result *res)
{
    int rc = slack_call(b->cfg.api_url, b->cfg.token, method, body, b->cfg.timeout_ms, res);
    count(method, rc, res);
    return rc;
}

slack_bot *slack_bot_new(const slack_bot_config *cfg)
{
    slack_bot *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->cfg = *cfg;
    register_metrics();
    b->posts = slack_limiter_new(cfg->post_rate, cfg->post_burst);
    b->edits = slack_limiter_new(cfg->edit_rate, cfg->edit_burst);
    if (b->posts == NULL || b->edits == NULL) {
        slack_bot_free(b);
        return NULL;
    }
    return b;
}

/* One call through a limiter: waits for a token; a 429 blocks the bucket for
 * Retry-After and the call is made again (up to 5 times), so the rate limit is
 * waited out here rather than counted as a failed delivery. */
static int call_limited(slack_bot *b, slack_limiter *l, const char *key, const char *method, const json_t *body,
                        slack_result *res)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (slack_limiter_wait(l, key, &b->stop) != 0) {
            snprintf(res->error, sizeof res->error, "stopping");
            return -1;
        }
        int rc = counted_call(b, method, body, res);
        if (rc == 0 || res->status != 429)
            return rc;
        char wait[16];
        snprintf(wait, sizeof wait, "%d", res->retry_after_s);
        LOG_WARN("slack_rate_limited", "method", method, "channel", key, "retry_after_s", wait, NULL);
        slack_limiter_block(l, key, slack_monotonic_ms(), res->retry_after_s);
    }
    return -1;
}

static notify_outcome outcome_of(const slack_result *res, char *err, size_t errlen)
{
    if (res->ok)
        return NOTIFY_SENT;
    snprintf(err, errlen, "%s", res->error);
    return slack_retryable(res) ? NOTIFY_RETRY : NOTIFY_FAILED;
}

/* The rendered message of a ticket with channel added, and the change_seq it shows. */
static json_t *render(pg *db, const char *ticket_id, const char *note, int64_t *seq, char *err, size_t errlen,
                      int *pg_rc)
{
    char *doc_text = NULL;
    *pg_rc = slack_store_doc(db, ticket_id, &doc_text, seq);
    if (*pg_rc != PG_OK || doc_text == NULL) {
        snprintf(err, errlen, *pg_rc != PG_OK ? "cannot read the ticket" : "no such ticket");
        free(doc_text);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loads(doc_text, 0, &jerr);
    free(doc_text);
    if (doc != NULL && note != NULL)
        json_object_set_new(doc, "note", json_string(note));
    slack_ticket_view v;
    json_t *msg = doc && slack_view_from_json(doc, &v) == 0 ? slack_render_ticket(&v) : NULL;
    json_decref(doc);
    if (msg == NULL)
        snprintf(err, errlen, "cannot render the ticket");
    return msg;
}

/* Whether message (an element of conversations.history's "messages") carries the
 * metadata slack_bot_post gives a ticket's message. */
static bool names_ticket(const json_t *message, const char *ticket_id)
{
    const json_t *meta = json_object_get(message, "metadata");
    const char *type = json_string_value(json_object_get(meta, "event_type"));
    const char *id = json_string_value(json_object_get(json_object_get(meta, "event_payload"), "ticket_id"));
    return type != NULL && id != NULL && !strcmp(type, "hutch_ticket") && !strcmp(id, ticket_id);
}

/* Looks for the ticket's message in channel's history since oldest (Unix seconds):
 * 1 found (ts copied), 0 not there, -1 cannot tell (err says why). */
static int find_posted(slack_bot *b, const char *channel, const char *ticket_id, int64_t oldest, char ts[40], char *err,
                       size_t errlen)
{
    char *chan = curl_easy_escape(NULL, channel, 0);
    char *cursor = NULL;
    int found = -1;
    if (chan == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int page = 0; page < HISTORY_PAGES; page++) {
        char query[1024];
        snprintf(query, sizeof query, "channel=%s&oldest=%lld&include_all_metadata=true&limit=200%s%s", chan,
                 (long long)(oldest > 0 ? oldest : 0), cursor ? "&cursor=" : "", cursor ? cursor : "");
        curl_free(cursor);
        cursor = NULL;
        slack_result res;
        json_t *answer = NULL;
        int rc =
            slack_get(b->cfg.api_url, b->cfg.token, "conversations.history", query, b->cfg.timeout_ms, &res, &answer);
        count("conversations.history", rc, &res);
        if (rc != 0) {
            snprintf(err, errlen, "conversations.history: %s", res.error);
            found = -1;
            break;
        }
        found = 0;
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(answer, "messages"), i, m) {
            const char *t = json_string_value(json_object_get(m, "ts"));
            if (t != NULL && names_ticket(m, ticket_id)) {
                snprintf(ts, 40, "%s", t);
                found = 1;
                break;
            }
        }
        const char *next =
            json_string_value(json_object_get(json_object_get(answer, "response_metadata"), "next_cursor"));
        if (found == 0 && json_is_true(json_object_get(answer, "has_more")) && next != NULL && *next)
            cursor = curl_easy_escape(NULL, next, 0);
        json_decref(answer);
        if (cursor == NULL)
            break;
    }
    curl_free(cursor);
    curl_free(chan);
    return found;
}

/* Commits (on the bot's own connection) that a post of the ticket's message to channel
 * is about to be made. 0 or -1. */
static int record_attempt(slack_bot *b, const char *ticket_id, const char *channel, const char *note)
{
    char err[256];
    if (b->attempts != NULL && !pg_connected(b->attempts)) {
        pg_free(b->attempts);
        b->attempts = NULL;
    }
    if (b->attempts == NULL && (b->attempts = pg_connect(b->cfg.database_url, 1000, err, sizeof err)) == NULL)
        return -1;
    return slack_store_attempt(b->attempts, ticket_id, channel, note) == PG_OK ? 0 : -1;
}

/* The ticket message's body: channel, no unfurling, and the metadata that lets a
 * restarted notify find it in the channel's history. */
static void address(json_t *msg, const char *channel, const char *ticket_id)
{
    json_object_set_new(msg, "channel", json_string(channel));
    json_object_set_new(msg, "unfurl_links", json_false());
    json_object_set_new(
        msg, "metadata",
        json_pack("{s:s, s:{s:s}}", "event_type", "hutch_ticket", "event_payload", "ticket_id", ticket_id));
}

static bool refused_channel(const slack_result *res)
{
    return strstr(res->error, "channel_not_found") || strstr(res->error, "not_in_channel") ||
           strstr(res->error, "is_archived");
}

notify_outcome slack_bot_post(slack_bot *b, pg *db, const char *ticket_id, char *err, size_t errlen)
{
    slack_row row;
    int rc = slack_store_lock(db, ticket_id, &row);
    if (rc != PG_OK) {
        snprintf(err, errlen, "cannot lock the ticket's Slack message");
        return NOTIFY_RETRY;
    }
    if (!row.found) {
        snprintf(err, errlen, "no Slack message row for the ticket");
        return NOTIFY_FAILED;
    }
    if (row.ts[0] != '\0')
        return NOTIFY_SENT; /* an earlier request posted it: later changes are edits */
    slack_attempt at;
    if (slack_store_attempt_of(db, ticket_id, &at) != PG_OK) {
        snprintf(err, errlen, "cannot read the ticket's post attempt");
        return NOTIFY_RETRY;
    }
    if (at.found) {
        /* a post was made and its ts never committed (notify killed, or the commit failed):
         * Slack may have the message */
        char ts[40] = "";
        int f = find_posted(b, at.channel, ticket_id, at.attempted_at - HISTORY_MARGIN_S, ts, err, errlen);
        if (f < 0)
            return NOTIFY_RETRY;
        if (f == 1) {
            LOG_INFO("slack_message_adopted", "ticket_id", ticket_id, "channel", at.channel, "ts", ts, NULL);
            if (slack_store_adopted(db, ticket_id, at.channel, ts, at.note[0] ? at.note : NULL) != PG_OK) {
                snprintf(err, errlen, "found the posted message but cannot record its ts");
                return NOTIFY_RETRY;
            }
            return NOTIFY_SENT;
        }
        LOG_INFO("slack_attempt_not_posted", "ticket_id", ticket_id, "channel", at.channel, NULL);
    }
    const char *channel = row.channel[0] ? row.channel : b->cfg.default_channel;
    int64_t seq = 0;
    json_t *msg = render(db, ticket_id, NULL, &seq, err, errlen, &rc);
    if (msg == NULL)
        return rc == PG_OK ? NOTIFY_FAILED : NOTIFY_RETRY;
    address(msg, channel, ticket_id);
    slack_result res;
    if (record_attempt(b, ticket_id, channel, NULL) != 0) {
        json_decref(msg);
        snprintf(err, errlen, "cannot record the post attempt");
        return NOTIFY_RETRY;
    }
    call_limited(b, b->posts, channel, "chat.postMessage", msg, &res);
    char note[200] = "";
    if (!res.ok && refused_channel(&res) && strcmp(channel, b->cfg.default_channel) != 0) {
        /* Warren's fallback: the default channel, saying why */
        snprintf(note, sizeof note, "Posted here because channel %.60s refused the message (%.60s).", channel,
                 res.error);
        LOG_WARN("slack_channel_fallback", "ticket_id", ticket_id, "channel", channel, "error", res.error, NULL);
        json_decref(msg);
        msg = render(db, ticket_id, note, &seq, err, errlen, &rc);
        if (msg == NULL)
            return rc == PG_OK ? NOTIFY_FAILED : NOTIFY_RETRY;
        channel = b->cfg.default_channel;
        address(msg, channel, ticket_id);
        if (record_attempt(b, ticket_id, channel, note) != 0) {
            json_decref(msg);
            snprintf(err, errlen, "cannot record the post attempt");
            return NOTIFY_RETRY;
        }
        call_limited(b, b->posts, channel, "chat.postMessage", msg, &res);
    }
    json_decref(msg);
    notify_outcome out = outcome_of(&res, err, errlen);
    if (out == NOTIFY_SENT && slack_store_posted(db, ticket_id, res.channel[0] ? res.channel : channel, res.ts,
                                                 note[0] ? note : NULL, seq) != PG_OK) {
        snprintf(err, errlen, "posted but cannot record the ts");
        return NOTIFY_RETRY;
    }
    return out;
}

notify_outcome slack_bot_reply(slack_bot *b, pg *db, const char *ticket_id, const json_t *msg, char *err, size_t errlen)
{
    slack_row row;
    if (slack_store_lock(db, ticket_id, &row) != PG_OK) {
        snprintf(err, errlen, "cannot read the ticket's Slack message");
        return NOTIFY_RETRY;
    }
    if (!row.found) {
        snprintf(err, errlen, "the ticket has no Slack message");
        return NOTIFY_FAILED;
    }
    if (row.ts[0] == '\0') {
        snprintf(err, errlen, "the ticket's message is not posted yet");
        return NOTIFY_RETRY;
    }
    json_t *body = json_deep_copy(msg);
    if (body == NULL) {
        snprintf(err, errlen, "out of memory");
        return NOTIFY_RETRY;
    }
    json_object_set_new(body, "channel", json_string(row.channel));
    json_object_set_new(body, "thread_ts", json_string(row.ts));
    json_object_set_new(body, "unfurl_links", json_false());
    slack_result res;
    call_limited(b, b->posts, row.channel, "chat.postMessage", body, &res);
    json_decref(body);
    return outcome_of(&res, err, errlen);
}

int slack_bot_say(slack_bot *b, const char *channel, const char *thread_ts, const json_t *msg, char *err, size_t errlen)
{
    json_t *body = json_deep_copy(msg);
    if (body == NULL)
        return -1;
    json_object_set_new(body, "channel", json_string(channel));
    if (thread_ts != NULL && *thread_ts)
        json_object_set_new(body, "thread_ts", json_string(thread_ts));
    slack_result res;
    int rc = call_limited(b, b->posts, channel, "chat.postMessage", body, &res);
    json_decref(body);
    if (rc != 0)
        snprintf(err, errlen, "%s", res.error);
    return rc;
}

int slack_bot_open_view(slack_bot *b, const char *trigger_id, const json_t *view, char *err, size_t errlen)
{
    json_t *body = json_pack("{s:s, s:O}", "trigger_id", trigger_id, "view", view);
    if (body == NULL)
        return -1;
    slack_result res;
    int rc = counted_call(b, "views.open", body, &res);
    json_decref(body);
    if (rc != 0)
        snprintf(err, errlen, "%s", res.error);
    return rc;
}

int slack_bot_update_view(slack_bot *b, const char *view_id, const char *hash, const json_t *view, char *err,
                          size_t errlen)
{
    json_t *body = json_pack("{s:s, s:O}", "view_id", view_id, "view", view);
    if (body != NULL && hash != NULL && *hash)
        json_object_set_new(body, "hash", json_string(hash));
    if (body == NULL)
        return -1;
    slack_result res;
    int rc = counted_call(b, "views.update", body, &res);
    json_decref(body);
    if (rc != 0)
        snprintf(err, errlen, "%s", res.error);
    return rc;
}

/* ---- the edit thread ---- */

/* One due edit: render now, chat.update, record what it showed. The limiter's token
 * is taken before the transaction: the row lock is held for one HTTP call only, never
 * while waiting for the rate (the consumer's batch updates the same row). */
static void edit_one(slack_bot *b, pg *db, const char *ticket_id)
{
    char err[256] = "";
    if (slack_limiter_wait(b->edits, "", &b->stop) != 0 || pg_begin(db) != PG_OK)
        return;
    slack_row row;
    int rc = slack_store_lock(db, ticket_id, &row);
    int64_t seq = 0;
    json_t *msg =
        rc == PG_OK && row.found && row.ts[0] ? render(db, ticket_id, NULL, &seq, err, sizeof err, &rc) : NULL;
    if (msg == NULL) {
        pg_rollback(db);
        return;
    }
    json_object_set_new(msg, "channel", json_string(row.channel));
    json_object_set_new(msg, "ts", json_string(row.ts));
    slack_result res;
    counted_call(b, "chat.update", msg, &res);
    json_decref(msg);
    if (res.status == 429)
        slack_limiter_block(b->edits, "", slack_monotonic_ms(), res.retry_after_s);
    char seq_text[24];
    snprintf(seq_text, sizeof seq_text, "%lld", (long long)seq);
    if (res.ok || !slack_retryable(&res)) {
        /* a refused edit (message_not_found, bad blocks) is not tried for ever */
        if (!res.ok)
            LOG_WARN("slack_edit_refused", "ticket_id", ticket_id, "error", res.error, NULL);
        else
            LOG_INFO("slack_message_edited", "ticket_id", ticket_id, "change_seq", seq_text, NULL);
        if (slack_store_shown(db, ticket_id, seq) != PG_OK || pg_commit(db) != PG_OK)
            pg_rollback(db);
    } else {
        LOG_WARN("slack_edit_retry", "ticket_id", ticket_id, "error", res.error, NULL);
        pg_rollback(db);
    }
}

static void *edit_thread(void *arg)
{
    slack_bot *b = arg;
    char err[256];
    pg *db = NULL;
    while (!b->stop) {
        if (db == NULL)
            db = pg_connect(b->cfg.database_url, 1000, err, sizeof err);
        char ids[EDIT_BATCH][37];
        size_t n = 0;
        if (db != NULL && slack_store_due(db, b->cfg.coalesce_ms, ids, EDIT_BATCH, &n) == PG_OK)
            for (size_t i = 0; i < n && !b->stop; i++)
                edit_one(b, db, ids[i]);
        if (db != NULL && !pg_connected(db)) {
            pg_free(db);
            db = NULL;
        }
        int64_t wait = b->cfg.poll_ms > 0 ? b->cfg.poll_ms : 250;
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    pg_free(db);
    return NULL;
}

int slack_bot_start(slack_bot *b)
{
    if (pthread_create(&b->thread, NULL, edit_thread, b) != 0)
        return -1;
    b->started = true;
    return 0;
}

void slack_bot_free(slack_bot *b)
{
    if (b == NULL)
        return;
    b->stop = 1;
    if (b->started)
        pthread_join(b->thread, NULL);
    slack_limiter_free(b->posts);
    slack_limiter_free(b->edits);
    pg_free(b->attempts);
    free(b);
}
