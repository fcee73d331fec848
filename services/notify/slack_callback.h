/* Slack's callbacks to notify's HTTP server (POST /hooks/slack/interaction and
 * /hooks/slack/event), as pure functions: the v0 request signature, and the reading
 * of a verified body into one SlackCommand for hutch.slack.commands.
 *
 * Signature (EXTERNAL-APIS §3.1): X-Slack-Signature = "v0=" + hex(HMAC-SHA256(signing
 * secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)), compared in constant
 * time; a timestamp more than 300 s from now is stale. The handler checks it before
 * reading anything of the body, and answers 401 on every failure.
 *
 * Dedupe: Slack retries a callback it thinks was not answered (X-Slack-Retry-Num)
 * with the same body. The command's id derives from "event:<event_id>" for events
 * and "interaction:<sha256 of the payload>" for interactions (each click carries its
 * own action_ts, so two clicks are two commands and a retry is the same one); the
 * consumer frame's claim then acts once per id. */
#ifndef HUTCH_NOTIFY_SLACK_CALLBACK_H
#define HUTCH_NOTIFY_SLACK_CALLBACK_H

#include <stddef.h>
#include <stdint.h>

#include "common/msg.h"

#define SLACK_SIG_WINDOW_S 300

typedef enum {
    SLACK_SIG_OK = 0,
    SLACK_SIG_MISSING, /* a header is missing or malformed */
    SLACK_SIG_STALE,   /* |now - timestamp| > 300 s */
    SLACK_SIG_BAD,     /* the HMAC does not match */
} slack_sig_result;

/* Strings BORROWED; body is the raw bytes as received. */
slack_sig_result slack_verify(const char *secret, const char *timestamp, const char *signature, const void *body,
                              size_t len, int64_t now_s);
const char *slack_sig_reason(slack_sig_result r);

/* "v0=<hex>" for (secret, timestamp, body) into out (68 bytes). For tests and fakes. */
void slack_sign(const char *secret, const char *timestamp, const void *body, size_t len, char out[68]);

typedef enum {
    SLACK_CB_IGNORE = 0, /* nothing to do (a bot's own message, an unknown action): 200 */
    SLACK_CB_CHALLENGE,  /* url_verification: answer the challenge */
    SLACK_CB_COMMAND,    /* publish cmd on hutch.slack.commands */
} slack_cb_kind;

/* A read callback. cmd's strings are NEW (slack_callback_free). */
typedef struct {
    slack_cb_kind kind;
    char *challenge;
    char dedupe_key[96];
    Hutch__V1__SlackCommand cmd; /* meta unset: the handler fills it from dedupe_key */
} slack_callback;

/* body: the raw form body "payload=<urlencoded JSON>" of an interaction. 0, or -1 with
 * err (a body that is not an interaction: 400). */
int slack_read_interaction(const char *body, size_t len, slack_callback *cb, char *err, size_t errlen);
/* body: the JSON of an Events API request. app_mention becomes action "mention", a
 * person's plain message in a thread "thread_reply" (comment = the text without the
 * leading mention, channel, message_ts = the thread's ts, or the message's own ts
 * outside a thread); bots' messages and the message-event copy of a mention of the
 * app (authorizations[0].user_id) are ignored. */
int slack_read_event(const char *body, size_t len, slack_callback *cb, char *err, size_t errlen);
/* The interaction payload itself (JSON text, as Socket Mode delivers it). The dedupe key
 * is the SHA-256 of exactly these bytes. */
int slack_read_interaction_json(const char *payload, size_t len, slack_callback *cb, char *err, size_t errlen);
void slack_callback_free(slack_callback *cb);

/* cb's command (SLACK_CB_COMMAND) packed for hutch.slack.commands with its Meta: id
 * derived from the dedupe key (a retry is the same message), into id[37]. NEW bytes
 * (free()), length in *len; NULL on OOM. cb is left as it was. */
uint8_t *slack_command_pack(slack_callback *cb, char id[37], size_t *len);

#endif
