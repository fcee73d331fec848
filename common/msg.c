/* Protobuf helpers (msg.h): the Meta every message carries, and packing.
 *
 * Meta strings point into the caller's msg_meta_buf, so a message built on the
 * stack needs no frees. Derived ids (seed != NULL) make a redelivered input produce
 * the same output ids, byte for byte. */
#include "common/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"

void msg_meta_init(msg_meta_buf *buf, const char *trace_id, const char *producer, int64_t created_ms,
                   const char *seed)
{
    hutch__v1__meta__init(&buf->meta);
    if (created_ms <= 0)
        created_ms = ids_now_ms();
    if (seed)
        ids_uuid7_derived(buf->id, created_ms, seed);
    else
        ids_uuid7(buf->id);
    if (trace_id && *trace_id)
        snprintf(buf->trace_id, sizeof buf->trace_id, "%s", trace_id);
    else
        ids_uuid7(buf->trace_id);
    buf->meta.id = buf->id;
    buf->meta.trace_id = buf->trace_id;
    buf->meta.schema_version = MSG_SCHEMA_VERSION;
    buf->meta.created_unix_ms = created_ms;
    /* protobuf-c's field is char *, but packing never writes through it. */
    buf->meta.producer = (char *)(producer ? producer : "");
}

uint8_t *msg_pack(const ProtobufCMessage *m, size_t *len)
{
    if (!m || !len)
        return NULL;
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *out = malloc(n ? n : 1);
    if (!out)
        return NULL;
    *len = protobuf_c_message_pack(m, out);
    return out;
}

const char *msg_check_alert(const ProtobufCMessage *m)
{
    const Hutch__V1__Alert *a = (const Hutch__V1__Alert *)m;
    if (m->descriptor != &hutch__v1__alert__descriptor)
        return "not a hutch.v1.Alert";
    return ids_is_uuid(a->alert_id) ? NULL : "Alert without a valid alert_id";
}
