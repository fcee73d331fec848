/* libFuzzer target: ingest's raw webhook decoder (ingest_decode, INGEST_KIND_RAW),
 * which validates the body with the Rego engine's JSON parser.
 *
 * Checked besides the sanitizers: an accepted body is passed on byte for byte, it
 * parses with the engine (what hutch-policy will do with it), and the RawEvent
 * built from it packs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rego/value.h"
#include "services/ingest/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *payload = NULL;
    char err[256];
    ingest_status st = ingest_decode(INGEST_KIND_RAW, (const char *)data, size, &payload, err, sizeof err);
    if (st != INGEST_OK) {
        if (payload) __builtin_trap(); /* no payload on refusal */
        return 0;
    }
    if (strlen(payload) != size || memcmp(payload, data, size) != 0) __builtin_trap();
    rv *v = rv_from_json_text(payload, size, err, sizeof err);
    if (!v) __builtin_trap();
    rv_unref(v);
    ingest_event ev = {.event_id = "0190d6a4-7a2c-7d00-8000-000000000001",
                       .trace_id = "0190d6a4-7a2c-7d00-8000-000000000002", .schema = "fuzz", .source = "http:raw",
                       .payload_json = payload, .received_ms = 1};
    size_t len = 0;
    uint8_t *packed = ingest_raw_event_pack(&ev, &len);
    if (!packed) __builtin_trap();
    free(packed);
    free(payload);
    return 0;
}
