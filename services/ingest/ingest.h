/* Ingest's domain logic, free of HTTP and Kafka I/O so it can be tested with plain
 * inputs: which schema names are acceptable, how each webhook flavour carries its
 * payload (raw JSON body, Pub/Sub push envelope, SNS notification), how a bearer
 * token is checked, and how a RawEvent is built and packed.
 *
 * main.c maps the results onto HTTP status codes (ingest_decode: INGEST_BAD -> 400,
 * INGEST_CONFIRM -> 200 without producing) and onto the Kafka handler's results
 * (INGEST_BAD -> KAFKA_DEAD).
 *
 * What must stay true: a payload that reaches ingest_raw_event_pack has been
 * validated as JSON, and a RawEvent built from the same inputs (same ids, same
 * times) is byte-identical, which is what lets the Kafka path be redelivered
 * without creating a second event. */
#ifndef HUTCH_INGEST_H
#define HUTCH_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INGEST_SCHEMA_MAX 64

/* How the payload is wrapped. */
typedef enum {
    INGEST_KIND_RAW = 0, /* the body is the payload */
    INGEST_KIND_PUBSUB,  /* Google Pub/Sub push: {"message": {"data": base64(payload)}} */
    INGEST_KIND_SNS,     /* AWS SNS: {"Type": "Notification", "Message": "<payload as a JSON string>"} */
} ingest_kind;

typedef enum {
    INGEST_OK = 0,       /* payload extracted and valid JSON */
    INGEST_CONFIRM = 1,  /* SNS SubscriptionConfirmation / UnsubscribeConfirmation: answer 200, produce nothing */
    INGEST_BAD = -1,     /* client error: 400 (HTTP) or dead letter (Kafka) */
    INGEST_NOMEM = -2,   /* out of memory: 500 / retry */
} ingest_status;

/* "raw" | "pubsub" | "sns" -> kind. 0, or -1 for an unknown name. */
int ingest_kind_parse(const char *name, ingest_kind *kind);
/* The `source` a RawEvent carries for this kind: "http:raw", "http:pubsub", "http:sns". */
const char *ingest_kind_source(ingest_kind kind);

/* True if schema matches [a-z0-9][a-z0-9_.-]{0,63}. schema BORROWED, may be NULL. */
bool ingest_schema_valid(const char *schema);
/* Same check on a buffer that is not NUL-terminated (a Kafka header). */
bool ingest_schema_valid_n(const char *schema, size_t len);

/* Splits "/hooks/alert/<kind>/<schema>" (path only, no query). On success returns 0
 * and copies the schema into schema_out (NUL-terminated). Returns -1 when the path
 * is not a hook path or names an unknown kind (404), -2 when the schema segment is
 * not a valid schema name (400). */
int ingest_parse_path(const char *path, ingest_kind *kind, char schema_out[INGEST_SCHEMA_MAX + 1]);

/* Extracts and validates the payload of a request body (body BORROWED, len bytes,
 * need not be NUL-terminated).
 * INGEST_OK: *payload is NEW (free()) JSON text: the body itself for raw, the decoded
 * data for pubsub, the Message string for sns.
 * INGEST_CONFIRM (sns only): *payload is NULL; err holds a short description for the log
 * (the subscription ARN / SubscribeURL is never echoed to the client).
 * INGEST_BAD: err holds the reason, fit for the client. */
ingest_status ingest_decode(ingest_kind kind, const char *body, size_t len, char **payload,
                            char *err, size_t errlen);

/* Validates that text (len bytes) is one JSON value (RFC 8259: numbers of any size
 * and precision, nesting up to 2048), storable as jsonb (no "\u0000"). 0, or -1 with
 * the parser's "line:col: message" in err. */
int ingest_json_validate(const char *text, size_t len, char *err, size_t errlen);

/* Standard or URL-safe base64, padding optional. Returns a NEW buffer (free(), with a
 * trailing NUL not counted in *out_len) or NULL if the text is not base64 / on OOM. */
unsigned char *ingest_base64_decode(const char *text, size_t len, size_t *out_len);

/* Bearer-token check. tokens: comma-separated list (BORROWED; NULL or "" means no
 * authentication: always true). authorization: the Authorization header value or NULL.
 * Compares digests with CRYPTO_memcmp over every token, so timing tells nothing
 * about which token or how much of it matched. */
bool ingest_token_ok(const char *tokens, const char *authorization);

/* Inputs of one RawEvent. All strings BORROWED. */
typedef struct {
    const char *event_id;      /* UUIDv7 */
    const char *trace_id;      /* UUIDv7, starts the trace */
    const char *meta_seed;     /* NULL: random message id; else the id is derived from it */
    const char *schema;
    const char *source;
    const char *payload_json;  /* validated JSON */
    int64_t received_ms;       /* also the message's created time */
    const char *const *attributes; /* NULL, or key, value, key, value, ..., NULL: RawEvent.attributes */
} ingest_event;

/* Ids of one event. */
typedef struct {
    char event_id[37];
    char trace_id[37];
    char meta_seed[160];       /* "" for random message ids */
} ingest_ids;

/* Random event and trace ids (HTTP requests: every POST is a new event). */
void ingest_ids_random(ingest_ids *ids);
/* Ids for record `index` of a message of a Kafka JSON topic: derived from (topic,
 * partition, offset, index, timestamp) so a redelivered message yields the same
 * events. Index 0 gives the ids a one-event message always had. topic BORROWED. */
void ingest_ids_derived(ingest_ids *ids, const char *topic, int32_t partition, int64_t offset, size_t index,
                        int64_t timestamp_ms);

/* Packs a hutch.v1.RawEvent (meta producer "hutch-ingest"). NEW buffer (free()),
 * length in *len; NULL on OOM. */
uint8_t *ingest_raw_event_pack(const ingest_event *ev, size_t *len);

#endif
