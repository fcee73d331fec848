/* libFuzzer target: a message of the Kafka JSON topics as ingest's handler decodes it
 * (services/ingest/router.h): the hutch-schema header, then the value split into
 * records (one JSON value, an array, or NDJSON lines), unwrapped, with router
 * metadata, by two routers (plain, and one unwrapping "log" and reading the schema
 * from "source.type"), then each event's RawEvent.
 *
 * Input layout: byte 0 = header length h (255: no header), then h header bytes,
 * then the value. Checked: routing twice gives the same events (a redelivered message
 * yields the same ids and bytes); every event's payload is valid JSON and its schema
 * a valid name; a plain router passes a one-object message on byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/ingest/ingest.h"
#include "services/ingest/router.h"

static router *plain, *wrapping;

static void check(const router *r, const router_msg *m, bool verbatim)
{
    router_result a, b;
    char err[256];
    router_status sa = router_route(r, m, &a, err, sizeof err);
    router_status sb = router_route(r, m, &b, err, sizeof err);
    if (sa != sb) __builtin_trap();
    if (sa != ROUTER_OK) return;
    if (a.n_events != b.n_events || a.n_errors != b.n_errors) __builtin_trap();
    for (size_t i = 0; i < a.n_events; i++) {
        const router_event *x = &a.events[i], *y = &b.events[i];
        if (strcmp(x->ids.event_id, y->ids.event_id) || x->payload_len != y->payload_len ||
            memcmp(x->payload, y->payload, x->payload_len))
            __builtin_trap();
        if (!ingest_schema_valid(x->schema)) __builtin_trap();
        if (ingest_json_validate(x->payload, x->payload_len, err, sizeof err) != 0) __builtin_trap();
    }
    /* one object with nothing around it passes as it came */
    const char *v = m->value;
    size_t vn = m->value_len;
    if (verbatim && a.n_events == 1 && a.n_errors == 0 && vn && v[0] == '{' && v[vn - 1] == '}' &&
        !memchr(v, '\n', vn) && (a.events[0].payload_len != vn || memcmp(a.events[0].payload, v, vn)))
        __builtin_trap();
    router_result_free(&a);
    router_result_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (!plain && !(plain = router_new(NULL, NULL, NULL, NULL, "json", err, sizeof err))) __builtin_trap();
    if (!wrapping &&
        !(wrapping = router_new("hutch.ingest.json=falco", "source.type", NULL, "log", "json", err, sizeof err)))
        __builtin_trap();
    if (size < 1) return 0;
    size_t h = data[0];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    if (h != 255) {
        if (h > n) return 0;
    } else {
        h = 0;
    }
    router_msg m = {.topic = "hutch.ingest.json", .partition = 3, .offset = 42, .timestamp_ms = 1700000000000,
                    .header_schema = data[0] != 255 ? (const char *)rest : NULL, .header_schema_len = h,
                    .value = rest + h, .value_len = n - h};
    check(plain, &m, true);
    check(wrapping, &m, false);
    return 0;
}
