/* Protobuf helpers: fill the Meta every message carries, pack a message into a
 * NEW buffer, and name the generated types in one place. */
#ifndef HUTCH_MSG_H
#define HUTCH_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "hutch/v1/alert.pb-c.h"
#include "hutch/v1/envelope.pb-c.h"
#include "hutch/v1/slack.pb-c.h"
#include "hutch/v1/ticket.pb-c.h"

#define MSG_SCHEMA_VERSION 1

typedef struct {
    Hutch__V1__Meta meta;
    char id[37];
    char trace_id[37];
} msg_meta_buf;

/* Fills buf->meta for a new message: id (derived from seed when seed != NULL, so a
 * redelivered input yields the same id; else random UUIDv7), trace id (copied from
 * the input's, or new when NULL), created time, producer. Strings point into buf. */
void msg_meta_init(msg_meta_buf *buf, const char *trace_id, const char *producer,
                   int64_t created_ms, const char *seed);

/* Packs any protobuf-c message. NEW buffer (free()), length in *len. NULL on OOM. */
uint8_t *msg_pack(const ProtobufCMessage *m, size_t *len);

/* The checks a consumer runs on an input before its handler sees it
 * (consumer_input.check): NULL when m is usable, else why not (static text). */
const char *msg_check_alert(const ProtobufCMessage *m); /* an Alert with a UUID alert_id */

#endif
