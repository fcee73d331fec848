/* Log-router messages -> events: what ingest makes of one message of a Kafka JSON
 * topic, as a pure function of the message (no Kafka, no I/O), so it can be tested
 * with plain inputs and re-wired under any consumer frame.
 *
 * Log routers (rsyslog omkafka, syslog-ng kafka-c(), Fluent Bit, Vector) cannot
 * always set the hutch-schema header, wrap the alert in a record of their own
 * ({"log": "<the alert as a JSON string>", "kubernetes": {...}}) and may batch
 * several records in one message. The router decides, for every record:
 *   - where the alert is: HUTCH_INGEST_UNWRAP (a dotted path; a string value holding
 *     JSON is parsed; a record without that path is the alert itself);
 *   - its schema, first match wins: the hutch-schema header, the value at
 *     HUTCH_INGEST_SCHEMA_FIELD (looked up in the alert, then in the record) mapped
 *     by HUTCH_INGEST_SCHEMA_MAP (or used as is when no map is set and it is a valid
 *     schema name), the topic's schema from HUTCH_INGEST_TOPICS, the default;
 *   - the router's metadata, kept as `router.*` attributes: the record's other
 *     top-level scalar fields (router.<key>) and Fluent Bit's Kubernetes block
 *     (router.kubernetes.pod / namespace / node / container);
 *   - its ids, derived from (topic, partition, offset, index), so a redelivered
 *     message yields the same events (index 0 keeps the ids a one-event message
 *     always had).
 * A message is one JSON value (an array: one record per element) or NDJSON lines
 * (one record per non-blank line, the index is the line's). A line that is not
 * JSON, or whose alert cannot be unwrapped, is a per-line error with its reason:
 * the caller dead-letters it and the rest of the message goes on.
 *
 * What must stay true: the same message and settings give the same events, byte
 * for byte (ids, schema, payload, attributes, in order); every event's payload is
 * one valid JSON value (jansson-validated, so Postgres' jsonb takes it). */
#ifndef HUTCH_INGEST_ROUTER_H
#define HUTCH_INGEST_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "services/ingest/ingest.h"

#define ROUTER_MAX_EVENTS 10000 /* records per message; more is an error for the rest */
#define ROUTER_MAX_ATTRS 32     /* router.* attributes per event */
#define ROUTER_ATTR_VALUE_MAX 512

typedef struct router router;

/* Settings (all BORROWED, copied): topics "topic[=schema],..." (NULL or "" =
 * the hutch.ingest.json topic alone); schema_field a dotted path or NULL/"";
 * schema_map "value=schema,..." or NULL/""; unwrap a dotted path or NULL/"";
 * default_schema for messages nothing else names. NEW (router_free), or NULL with
 * every problem of the settings described in err. */
router *router_new(const char *topics, const char *schema_field, const char *schema_map, const char *unwrap,
                   const char *default_schema, char *err, size_t errlen);
void router_free(router *r); /* NULL is fine */

/* The topics to subscribe to, NULL-terminated, BORROWED until router_free. */
const char *const *router_topics(const router *r);

/* One message, all BORROWED for the call. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;      /* the message's (for the ids' time part); <= 0: none */
    const char *header_schema; /* the hutch-schema header or NULL; need not be NUL-terminated */
    size_t header_schema_len;
    const char *value;         /* need not be NUL-terminated; NULL = empty */
    size_t value_len;
} router_msg;

typedef struct {
    char *key;   /* "router.kubernetes.pod", ... */
    char *value;
} router_attr;

typedef struct {
    size_t index;                        /* element / line of the message */
    char schema[INGEST_SCHEMA_MAX + 1];
    char *payload;                       /* the alert, JSON text, NUL-terminated */
    size_t payload_len;
    ingest_ids ids;
    router_attr *attrs;
    size_t n_attrs;
} router_event;

typedef struct {
    size_t index;        /* element / line of the message */
    char reason[256];
    const char *line;    /* the offending bytes, BORROWED from msg->value */
    size_t line_len;
} router_error;

/* What router_route made; everything NEW, freed by router_result_free. */
typedef struct {
    router_event *events;
    size_t n_events;
    router_error *errors;
    size_t n_errors;
} router_result;

typedef enum {
    ROUTER_OK = 0,     /* events and/or per-line errors in *out */
    ROUTER_BAD = -1,   /* the whole message is refused (bad header, empty): reason in err */
    ROUTER_NOMEM = -2, /* retryable */
} router_status;

/* Splits, unwraps, names and identifies the records of one message. On ROUTER_OK
 * out holds at least one event or one error; otherwise out is empty. */
router_status router_route(const router *r, const router_msg *msg, router_result *out, char *err, size_t errlen);
void router_result_free(router_result *res); /* NULL or an empty result is fine */

#endif
