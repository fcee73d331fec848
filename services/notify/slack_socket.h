/* Slack Socket Mode: the callbacks of the HTTP endpoints (slack_http.h) over a
 * WebSocket that notify opens itself, for a Hutch without a public HTTPS address.
 *
 * A thread of its own: apps.connections.open (Web API, with the app-level token
 * xapp-..., HUTCH_SLACK_APP_TOKEN) gives a wss:// URL; libwebsockets connects to it and
 * Slack sends envelopes {"envelope_id", "type", "payload", "retry_attempt"}:
 *   hello            nothing to do
 *   events_api       payload = what the Events API would POST: slack_read_event
 *   interactive      payload = the interaction object: slack_read_interaction_json
 *   disconnect       Slack is about to close the link: a new URL is fetched and the
 *                    connection replaced (also after any close or error, with a
 *                    growing pause of 1 s .. 30 s)
 * Each envelope is read by the same readers as the HTTP callbacks, its command published
 * on hutch.slack.commands with the same id (slack_command_pack: a retry of an envelope,
 * or the same event sent over HTTP, is the same command, claimed once), and only once
 * the broker acknowledged it is the envelope acknowledged ({"envelope_id"}), so a crash
 * between the two makes Slack send it again, never lose it. No signature: the link is
 * authenticated by the app token. The token is a secret: never logged. */
#ifndef HUTCH_NOTIFY_SLACK_SOCKET_H
#define HUTCH_NOTIFY_SLACK_SOCKET_H

#include <stddef.h>

typedef struct slack_socket slack_socket;

typedef struct {
    const char *api_url;   /* https://slack.com/api (apps.connections.open) */
    const char *app_token; /* xapp-...: secret */
    const char *brokers;   /* for the thread's own producer */
    long timeout_ms;       /* of the Web API call and of a broker acknowledgement */
} slack_socket_config;

/* Strings of cfg BORROWED for the object's life. Starts the thread. NEW, NULL with err. */
slack_socket *slack_socket_start(const slack_socket_config *cfg, char *err, size_t errlen);
/* Stops and joins the thread, frees. NULL is fine. */
void slack_socket_stop(slack_socket *s);

#endif
