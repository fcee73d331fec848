/* libFuzzer target: the Pub/Sub push envelope decoder (ingest_decode,
 * INGEST_KIND_PUBSUB): jansson for the envelope, base64 (standard or URL-safe) for
 * message.data, the engine's JSON parser for the payload.
 *
 * Checked: an accepted payload is NUL-free JSON that the engine parses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rego/value.h"
#include "services/ingest/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *payload = NULL;
    char err[256];
    ingest_status st = ingest_decode(INGEST_KIND_PUBSUB, (const char *)data, size, &payload, err, sizeof err);
    if (st == INGEST_OK) {
        rv *v = rv_from_json_text(payload, strlen(payload), err, sizeof err);
        if (!v) __builtin_trap();
        rv_unref(v);
    } else if (payload) {
        __builtin_trap();
    }
    free(payload);
    return 0;
}
