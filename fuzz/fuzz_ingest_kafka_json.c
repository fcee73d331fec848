/* libFuzzer target: the decoding of a hutch.ingest.json message as ingest's Kafka
 * handler does it: the hutch-schema header (checked with ingest_schema_valid_n)
 * and the value (ingest_decode, INGEST_KIND_RAW), then the RawEvent with ids derived
 * from (topic, partition, offset).
 *
 * Input layout: byte 0 = header length h (255: no header), then h header bytes,
 * then the value. Checked: an accepted value is passed on byte for byte; a valid
 * schema is one the HTTP path would accept too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/ingest/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t h = data[0];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    char schema[INGEST_SCHEMA_MAX + 1] = "json";
    if (h != 255) {
        if (h > n) return 0;
        bool ok = ingest_schema_valid_n((const char *)rest, h);
        if (ok) {
            memcpy(schema, rest, h);
            schema[h] = '\0';
            if (!ingest_schema_valid(schema)) __builtin_trap();
        }
        rest += h;
        n -= h;
        if (!ok) return 0;
    }
    char *payload = NULL;
    char err[256];
    if (ingest_decode(INGEST_KIND_RAW, (const char *)rest, n, &payload, err, sizeof err) != INGEST_OK) return 0;
    if (strlen(payload) != n || memcmp(payload, rest, n) != 0) __builtin_trap();
    ingest_ids ids;
    ingest_ids_derived(&ids, "hutch.ingest.json", 3, 42, 1700000000000);
    ingest_event ev = {.event_id = ids.event_id, .trace_id = ids.trace_id, .meta_seed = ids.meta_seed,
                       .schema = schema, .source = "kafka:hutch.ingest.json", .payload_json = payload,
                       .received_ms = 1700000000000};
    size_t l1 = 0, l2 = 0;
    uint8_t *a = ingest_raw_event_pack(&ev, &l1), *b = ingest_raw_event_pack(&ev, &l2);
    /* a redelivered message yields the same bytes */
    if (!a || !b || l1 != l2 || memcmp(a, b, l1) != 0) __builtin_trap();
    free(a);
    free(b);
    free(payload);
    return 0;
}
