/* Slack callback signature and reading (see slack_callback.h). Pure: the clock is a
 * parameter; HMAC and SHA-256 from OpenSSL, form decoding from libevent. */
#include "services/notify/slack_callback.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/ids.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void slack_sign(const char *secret, const char *timestamp, const void *body, size_t len, char out[68])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    size_t ts_len = strlen(timestamp);
    size_t base_len = 3 + ts_len + 1 + len;
    unsigned char *base = malloc(base_len + 1);
    out[0] = '\0';
    if (base == NULL)
        return;
    memcpy(base, "v0:", 3);
    memcpy(base + 3, timestamp, ts_len);
    base[3 + ts_len] = ':';
    if (len > 0)
        memcpy(base + 4 + ts_len, body, len);
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), base, base_len, md, &md_len) != NULL && md_len == 32) {
        memcpy(out, "v0=", 3);
        hex(md, 32, out + 3);
    }
    free(base);
}

slack_sig_result slack_verify(const char *secret, const char *timestamp, const char *signature, const void *body,
                              size_t len, int64_t now_s)
{
    if (secret == NULL || *secret == '\0' || timestamp == NULL || signature == NULL)
        return SLACK_SIG_MISSING;
    size_t ts_len = strlen(timestamp);
    if (ts_len == 0 || ts_len > 12)
        return SLACK_SIG_MISSING;
    for (size_t i = 0; i < ts_len; i++)
        if (!isdigit((unsigned char)timestamp[i]))
            return SLACK_SIG_MISSING;
    if (strlen(signature) != 67 || strncmp(signature, "v0=", 3) != 0)
        return SLACK_SIG_MISSING;
    int64_t ts = strtoll(timestamp, NULL, 10);
    if (ts > now_s + SLACK_SIG_WINDOW_S || ts < now_s - SLACK_SIG_WINDOW_S)
        return SLACK_SIG_STALE;
    char expected[68];
    slack_sign(secret, timestamp, body, len, expected);
    if (expected[0] == '\0')
        return SLACK_SIG_BAD;
    char given[68];
    memcpy(given, signature, 68);
    for (size_t i = 3; i < 67; i++) /* hex is case-insensitive */
        given[i] = (char)tolower((unsigned char)given[i]);
    return CRYPTO_memcmp(expected, given, 67) == 0 ? SLACK_SIG_OK : SLACK_SIG_BAD;
}

const char *slack_sig_reason(slack_sig_result r)
{
    switch (r) {
    case SLACK_SIG_OK: return "ok";
    case SLACK_SIG_MISSING: return "missing or malformed X-Slack-Signature / X-Slack-Request-Timestamp";
    case SLACK_SIG_STALE: return "request timestamp outside the 5-minute window";
    case SLACK_SIG_BAD: return "signature does not match";
    }
    return "unknown";
}

/* ---- reading ---- */

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* state.values[block][action] (.value, or .selected_option.value). */
static const char *state_value(const json_t *values, const char *block, const char *action)
{
    const json_t *a = json_object_get(json_object_get(values, block), action);
    const char *v = str_at(a, "value");
    return v ? v : str_at(json_object_get(a, "selected_option"), "value");
}

/* Every string field of cmd set to a NEW copy ("" when absent); 0 or -1 (OOM). */
typedef struct {
    const char *action, *actor, *ticket_id, *alert_id, *conclusion, *comment, *title, *description, *threshold,
        *keyword, *channel, *message_ts, *trigger_id, *target_ticket_id, *view_id, *view_hash;
} cmd_fields;

static char *dup_or_empty(const char *s, bool *ok)
{
    char *d = strdup(s ? s : "");
    if (d == NULL)
        *ok = false;
    return d;
}

static int set_command(slack_callback *cb, const cmd_fields *f, const char *user)
{
    Hutch__V1__SlackCommand *c = &cb->cmd;
    bool ok = true;
    char actor[64] = "";
    if (user != NULL && *user)
        snprintf(actor, sizeof actor, "slack:%s", user);
    c->action = dup_or_empty(f->action, &ok);
    c->actor = dup_or_empty(actor, &ok);
    c->ticket_id = dup_or_empty(f->ticket_id, &ok);
    c->alert_id = dup_or_empty(f->alert_id, &ok);
    c->conclusion = dup_or_empty(f->conclusion, &ok);
    c->comment = dup_or_empty(f->comment, &ok);
    c->title = dup_or_empty(f->title, &ok);
    c->description = dup_or_empty(f->description, &ok);
    c->threshold = dup_or_empty(f->threshold, &ok);
    c->keyword = dup_or_empty(f->keyword, &ok);
    c->channel = dup_or_empty(f->channel, &ok);
    c->message_ts = dup_or_empty(f->message_ts, &ok);
    c->trigger_id = dup_or_empty(f->trigger_id, &ok);
    c->target_ticket_id = dup_or_empty(f->target_ticket_id, &ok);
    c->view_id = dup_or_empty(f->view_id, &ok);
    c->view_hash = dup_or_empty(f->view_hash, &ok);
    cb->kind = SLACK_CB_COMMAND;
    return ok ? 0 : -1;
}

static void init(slack_callback *cb)
{
    memset(cb, 0, sizeof *cb);
    hutch__v1__slack_command__init(&cb->cmd);
}

static int block_action(slack_callback *cb, const json_t *p, const char *user)
{
    const json_t *a = json_array_get(json_object_get(p, "actions"), 0);
    const char *action = str_at(a, "action_id");
    const char *value = str_at(a, "value");
    const char *block = str_at(a, "block_id");
    const json_t *container = json_object_get(p, "container");
    cmd_fields f = {.action = action,
                    .trigger_id = str_at(p, "trigger_id"),
                    .channel = str_at(container, "channel_id"),
                    .message_ts = str_at(container, "message_ts")};
    if (f.channel == NULL)
        f.channel = str_at(json_object_get(p, "channel"), "id");
    if (f.message_ts == NULL)
        f.message_ts = str_at(json_object_get(p, "message"), "ts");
    if (action == NULL)
        return 0;
    char ticket[64] = "";
    if (!strcmp(action, "ack_alert") || !strcmp(action, "bind_alert") || !strcmp(action, "decline_alert") ||
        !strcmp(action, "reopen_alert")) {
        if (block == NULL || strncmp(block, "alert_actions:", 14) != 0 || value == NULL)
            return 0;
        snprintf(ticket, sizeof ticket, "%s", block + 14);
        f.ticket_id = ticket;
        f.alert_id = value;
    } else if (!strcmp(action, "resolve_ticket") || !strcmp(action, "salvage") || !strcmp(action, "edit_ticket")) {
        if (value == NULL)
            return 0;
        f.ticket_id = value;
    } else if (!strcmp(action, "notice_actions")) {
        const char *opt = str_at(json_object_get(a, "selected_option"), "value");
        if (opt == NULL || strncmp(opt, "escalate:", 9) != 0)
            return 0;
        f.action = "escalate";
        f.ticket_id = opt + 9;
    } else if (!strcmp(action, "salvage_refresh_button")) {
        /* in the salvage modal: what is typed now, and the view to update */
        const json_t *view = json_object_get(p, "view");
        const json_t *values = json_object_get(json_object_get(view, "state"), "values");
        f.action = "salvage_refresh";
        f.ticket_id = str_at(view, "private_metadata");
        f.view_id = str_at(view, "id");
        f.view_hash = str_at(view, "hash");
        f.threshold = state_value(values, "salvage_threshold_block", "salvage_threshold_input");
        f.keyword = state_value(values, "salvage_keyword_block", "salvage_keyword_input");
        if (f.ticket_id == NULL || f.view_id == NULL)
            return 0;
    } else {
        return 0; /* not ours: ignored */
    }
    return set_command(cb, &f, user);
}

static int view_submission(slack_callback *cb, const json_t *p, const char *user)
{
    const json_t *view = json_object_get(p, "view");
    const char *callback = str_at(view, "callback_id");
    const char *meta = str_at(view, "private_metadata");
    const json_t *values = json_object_get(json_object_get(view, "state"), "values");
    if (callback == NULL || meta == NULL)
        return 0;
    cmd_fields f = {.ticket_id = meta};
    char ticket[64] = "";
    if (!strcmp(callback, "submit_resolve_ticket")) {
        f.action = callback;
        f.conclusion = state_value(values, "ticket_conclusion_block", "ticket_conclusion_input");
        f.comment = state_value(values, "ticket_comment_block", "ticket_comment_input");
    } else if (!strcmp(callback, "submit_bind_alert")) {
        /* private_metadata "<ticket id>:<alert id>" */
        const char *colon = strchr(meta, ':');
        if (colon == NULL || (size_t)(colon - meta) >= sizeof ticket)
            return 0;
        memcpy(ticket, meta, (size_t)(colon - meta));
        f.ticket_id = ticket;
        f.alert_id = colon + 1;
        f.action = callback;
        f.target_ticket_id = state_value(values, "ticket_select_block", "ticket_select_input");
    } else if (!strcmp(callback, "submit_salvage")) {
        f.action = callback;
        f.threshold = state_value(values, "salvage_threshold_block", "salvage_threshold_input");
        f.keyword = state_value(values, "salvage_keyword_block", "salvage_keyword_input");
    } else if (!strcmp(callback, "edit_ticket")) {
        f.action = "submit_edit_ticket";
        f.title = state_value(values, "ticket_title_block", "ticket_title_input");
        f.description = state_value(values, "ticket_description_block", "ticket_description_input");
    } else {
        return 0;
    }
    return set_command(cb, &f, user);
}

static void dedupe_from_bytes(slack_callback *cb, const char *prefix, const void *data, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    char h[2 * SHA256_DIGEST_LENGTH + 1];
    hex(md, sizeof md, h);
    snprintf(cb->dedupe_key, sizeof cb->dedupe_key, "%s:%s", prefix, h);
}

/* Reads the interaction payload p (its raw text: payload, len) into cb. */
static int read_payload(const char *payload, size_t len, slack_callback *cb, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *p = json_loadb(payload, len, 0, &jerr);
    const char *type = str_at(p, "type");
    const char *user = str_at(json_object_get(p, "user"), "id");
    int rc = -1;
    if (!json_is_object(p)) {
        snprintf(err, errlen, "payload is not a JSON object");
    } else if (type == NULL) {
        snprintf(err, errlen, "payload without a type");
    } else {
        dedupe_from_bytes(cb, "interaction", payload, len);
        rc = !strcmp(type, "block_actions")     ? block_action(cb, p, user)
             : !strcmp(type, "view_submission") ? view_submission(cb, p, user)
                                                : 0;
        if (rc != 0)
            snprintf(err, errlen, "out of memory");
    }
    json_decref(p);
    return rc;
}

int slack_read_interaction_json(const char *payload, size_t len, slack_callback *cb, char *err, size_t errlen)
{
    init(cb);
    return read_payload(payload, len, cb, err, errlen);
}

int slack_read_interaction(const char *body, size_t len, slack_callback *cb, char *err, size_t errlen)
{
    init(cb);
    char *copy = strndup(body, len);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct evkeyvalq form;
    TAILQ_INIT(&form);
    const char *payload = NULL;
    if (evhttp_parse_query_str(copy, &form) == 0)
        payload = evhttp_find_header(&form, "payload");
    int rc = -1;
    if (payload == NULL)
        snprintf(err, errlen, "no payload field in the form");
    else
        rc = read_payload(payload, strlen(payload), cb, err, errlen);
    evhttp_clear_headers(&form);
    free(copy);
    return rc;
}

uint8_t *slack_command_pack(slack_callback *cb, char id[37], size_t *len)
{
    msg_meta_buf meta;
    msg_meta_init(&meta, NULL, "hutch-notify", ids_now_ms(), cb->dedupe_key);
    /* the id must not depend on when the retry came: time 0, seed = the dedupe key */
    ids_uuid7_derived(meta.id, 0, cb->dedupe_key);
    snprintf(id, 37, "%s", meta.id);
    cb->cmd.meta = &meta.meta;
    uint8_t *buf = msg_pack(&cb->cmd.base, len);
    cb->cmd.meta = NULL;
    return buf;
}

/* The text after the first <@...> mention, trimmed. NEW. */
static char *after_mention(const char *text)
{
    const char *p = text ? text : "";
    if (strncmp(p, "<@", 2) == 0) {
        const char *end = strchr(p, '>');
        if (end != NULL)
            p = end + 1;
    }
    while (*p == ' ')
        p++;
    return strdup(p);
}

int slack_read_event(const char *body, size_t len, slack_callback *cb, char *err, size_t errlen)
{
    init(cb);
    json_error_t jerr;
    json_t *p = json_loadb(body, len, 0, &jerr);
    const char *type = str_at(p, "type");
    int rc = 0;
    if (!json_is_object(p) || type == NULL) {
        snprintf(err, errlen, "not an Events API request");
        rc = -1;
    } else if (!strcmp(type, "url_verification")) {
        const char *challenge = str_at(p, "challenge");
        cb->challenge = challenge ? strdup(challenge) : NULL;
        cb->kind = SLACK_CB_CHALLENGE;
        if (cb->challenge == NULL) {
            snprintf(err, errlen, "url_verification without a challenge");
            rc = -1;
        }
    } else if (!strcmp(type, "event_callback")) {
        const json_t *e = json_object_get(p, "event");
        const char *etype = str_at(e, "type");
        const char *event_id = str_at(p, "event_id");
        const char *thread = str_at(e, "thread_ts");
        bool from_bot = json_object_get(e, "bot_id") != NULL || str_at(e, "subtype") != NULL;
        bool mention = etype && !strcmp(etype, "app_mention");
        bool thread_reply = etype && !strcmp(etype, "message") && thread != NULL;
        /* a mention of the app in a thread also arrives as a message event: the
         * app_mention one is acted on, this one is not (the bot's id is in authorizations) */
        const char *bot = str_at(json_array_get(json_object_get(p, "authorizations"), 0), "user_id");
        const char *text = str_at(e, "text");
        char bot_mention[80];
        if (thread_reply && bot != NULL && text != NULL &&
            snprintf(bot_mention, sizeof bot_mention, "<@%s>", bot) < (int)sizeof bot_mention &&
            strstr(text, bot_mention) != NULL)
            thread_reply = false;
        if (event_id == NULL || strlen(event_id) > 64) {
            snprintf(err, errlen, "event_callback without an event_id");
            rc = -1;
        } else if (!from_bot && (mention || thread_reply)) {
            snprintf(cb->dedupe_key, sizeof cb->dedupe_key, "event:%s", event_id);
            char *text = after_mention(str_at(e, "text"));
            cmd_fields f = {.action = mention ? "mention" : "thread_reply",
                            .channel = str_at(e, "channel"),
                            .message_ts = thread ? thread : str_at(e, "ts"),
                            .comment = text};
            rc = text ? set_command(cb, &f, str_at(e, "user")) : -1;
            free(text);
            if (rc != 0)
                snprintf(err, errlen, "out of memory");
        }
    }
    json_decref(p);
    return rc;
}

void slack_callback_free(slack_callback *cb)
{
    if (cb == NULL)
        return;
    free(cb->challenge);
    char **fields[] = {
        &cb->cmd.action,   &cb->cmd.actor,      &cb->cmd.ticket_id,   &cb->cmd.alert_id,         &cb->cmd.conclusion,
        &cb->cmd.comment,  &cb->cmd.title,      &cb->cmd.description, &cb->cmd.threshold,        &cb->cmd.keyword,
        &cb->cmd.channel,  &cb->cmd.message_ts, &cb->cmd.trigger_id,  &cb->cmd.target_ticket_id, &cb->cmd.view_id,
        &cb->cmd.view_hash};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (*fields[i] != NULL && *fields[i] != protobuf_c_empty_string)
            free(*fields[i]);
    init(cb);
}
