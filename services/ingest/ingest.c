/* Ingest's domain logic: schema names, webhook envelopes, bearer tokens, RawEvent
 * building. No I/O here (see ingest.h for the contract, main.c for the wiring).
 *
 * Payloads are validated with the Rego engine's JSON parser (rego/value.h), the one
 * the policies read them with: every RFC 8259 document is accepted (integers beyond
 * int64, numbers beyond double such as 1e400, -0), up to its nesting limit (2048),
 * and the bytes are passed on unchanged. Refused besides malformed JSON: invalid
 * UTF-8, lone surrogates, "\u0000" and numbers beyond Postgres' numeric (131072
 * digits before the point, 16383 after), which its jsonb would refuse later, so
 * an event that passed ingest can always be stored by policy. Envelopes (Pub/Sub,
 * SNS) are read with jansson: their fields are strings. */
#include "services/ingest/ingest.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ids.h"
#include "common/msg.h"
#include "rego/value.h"

#define HOOK_PREFIX "/hooks/alert/"

static const struct {
    const char *name;
    ingest_kind kind;
    const char *source;
} kinds[] = {
    {"raw", INGEST_KIND_RAW, "http:raw"},
    {"pubsub", INGEST_KIND_PUBSUB, "http:pubsub"},
    {"sns", INGEST_KIND_SNS, "http:sns"},
};

int ingest_kind_parse(const char *name, ingest_kind *kind) {
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(name, kinds[i].name) == 0) {
            *kind = kinds[i].kind;
            return 0;
        }
    }
    return -1;
}

const char *ingest_kind_source(ingest_kind kind) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == kind) return kinds[i].source;
    return "http";
}

static bool schema_char(char c, bool first) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    return !first && (c == '_' || c == '.' || c == '-');
}

bool ingest_schema_valid_n(const char *schema, size_t len) {
    if (!schema || len == 0 || len > INGEST_SCHEMA_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (!schema_char(schema[i], i == 0)) return false;
    return true;
}

bool ingest_schema_valid(const char *schema) {
    return schema && ingest_schema_valid_n(schema, strnlen(schema, INGEST_SCHEMA_MAX + 1));
}

int ingest_parse_path(const char *path, ingest_kind *kind, char schema_out[INGEST_SCHEMA_MAX + 1]) {
    if (!path || strncmp(path, HOOK_PREFIX, strlen(HOOK_PREFIX)) != 0) return -1;
    const char *k = path + strlen(HOOK_PREFIX);
    const char *slash = strchr(k, '/');
    if (!slash) return -1; /* /hooks/alert/raw: no schema segment */
    char kind_name[16];
    size_t klen = (size_t)(slash - k);
    if (klen == 0 || klen >= sizeof kind_name) return -1;
    memcpy(kind_name, k, klen);
    kind_name[klen] = '\0';
    if (ingest_kind_parse(kind_name, kind) != 0) return -1;
    const char *schema = slash + 1;
    if (!ingest_schema_valid(schema)) return -2;
    snprintf(schema_out, INGEST_SCHEMA_MAX + 1, "%s", schema);
    return 0;
}

/* Postgres' numeric (inside jsonb) holds up to 131072 digits before the decimal
 * point and 16383 after it; a number beyond is refused when the event is stored
 * ("value overflows numeric format"). The text is the number as it was sent. */
static bool jsonb_storable_number(const rv *n)
{
    /* the text, not rv_number_as_int64: that one answers through a double, for
     * which 1E-16384 is the integer 0 */
    char *t = rv_number_text(n);
    if (!t)
        return false;
    const char *p = t + (*t == '-');
    /* weight: digits before the point counted from the first nonzero one (negative:
     * zeros after the point before it); after: digits written after the point */
    int64_t weight = 0, after = 0, exp = 0;
    bool nonzero = false, point = false;
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            point = true;
            continue;
        }
        if (point)
            after++;
        if (!nonzero && *p != '0') {
            nonzero = true;
            weight = point ? -(after - 1) : 1;
        } else if (nonzero && !point) {
            weight++;
        }
    }
    bool ok = true;
    if (*p == 'e' || *p == 'E') {
        p++;
        bool neg = *p == '-';
        if (*p == '-' || *p == '+')
            p++;
        size_t digits = strspn(p, "0123456789");
        if (digits > 9) {
            ok = false; /* |exponent| >= 1e9: beyond either bound */
        } else {
            exp = strtoll(p, NULL, 10);
            if (neg)
                exp = -exp;
        }
    }
    if (ok) {
        int64_t scale = after - exp; /* digits after the point once the exponent is applied */
        ok = scale <= 16383 && (!nonzero || weight + exp <= 131072);
    }
    free(t);
    return ok;
}

/* Why a valid JSON value cannot be stored as jsonb, or NULL: a string (value or
 * key) holding U+0000, or a number beyond Postgres' numeric. */
static const char *unstorable(const rv *v)
{
    switch (rv_typeof(v)) {
    case RV_STRING:
        return memchr(rv_str(v), '\0', rv_strlen(v)) ? "a string holds \\u0000" : NULL;
    case RV_NUMBER:
        return jsonb_storable_number(v) ? NULL
                                        : "a number has more than 131072 digits before the decimal point or 16383 after it";
    case RV_ARRAY:
        for (size_t i = 0; i < rv_len(v); i++) {
            const char *why = unstorable(rv_array_at(v, i));
            if (why) return why;
        }
        return NULL;
    case RV_OBJECT:
        for (size_t i = 0; i < rv_len(v); i++) {
            const char *why = unstorable(rv_object_key_at(v, i));
            if (!why) why = unstorable(rv_object_val_at(v, i));
            if (why) return why;
        }
        return NULL;
    default: return NULL;
    }
}

int ingest_json_validate(const char *text, size_t len, char *err, size_t errlen) {
    char perr[160];
    rv *v = rv_from_json_text(text, len, perr, sizeof perr);
    if (!v) {
        snprintf(err, errlen, "invalid JSON: %s", perr);
        return -1;
    }
    const char *why = unstorable(v);
    if (why)
        snprintf(err, errlen, "JSON that cannot be stored (Postgres jsonb): %s", why);
    rv_unref(v);
    return why ? -1 : 0;
    return 0;
}

unsigned char *ingest_base64_decode(const char *text, size_t len, size_t *out_len) {
    /* Normalise: URL-safe alphabet to standard, drop whitespace, re-pad. */
    char *norm = malloc(len + 4);
    if (!norm) return NULL;
    size_t n = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad) goto bad; /* data after padding */
        if (c == '-') c = '+';
        else if (c == '_') c = '/';
        else if (!(isalnum((unsigned char)c) || c == '+' || c == '/')) goto bad;
        norm[n++] = c;
    }
    if (n % 4 == 1 || pad > 2) goto bad;
    size_t added = (4 - n % 4) % 4;
    for (size_t i = 0; i < added; i++) norm[n++] = '=';
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out) {
        free(norm);
        return NULL;
    }
    int got = n ? EVP_DecodeBlock(out, (const unsigned char *)norm, (int)n) : 0;
    free(norm);
    if (got < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the bytes the padding stands for; they are not data. */
    *out_len = (size_t)got - added;
    out[*out_len] = '\0';
    return out;
bad:
    free(norm);
    return NULL;
}

static ingest_status decode_pubsub(json_t *env, char **payload, char *err, size_t errlen) {
    json_t *message = json_object_get(env, "message");
    if (!json_is_object(message)) {
        snprintf(err, errlen, "Pub/Sub envelope without a \"message\" object");
        return INGEST_BAD;
    }
    json_t *data = json_object_get(message, "data");
    if (!json_is_string(data)) {
        snprintf(err, errlen, "Pub/Sub message without \"data\"");
        return INGEST_BAD;
    }
    size_t n = 0;
    unsigned char *raw = ingest_base64_decode(json_string_value(data), json_string_length(data), &n);
    if (!raw) {
        snprintf(err, errlen, "Pub/Sub message data is not base64");
        return INGEST_BAD;
    }
    if (ingest_json_validate((const char *)raw, n, err, errlen) != 0 || strlen((char *)raw) != n) {
        if (strlen((char *)raw) != n) snprintf(err, errlen, "invalid JSON: NUL byte in Pub/Sub data");
        free(raw);
        return INGEST_BAD;
    }
    *payload = (char *)raw;
    return INGEST_OK;
}

static ingest_status decode_sns(json_t *env, char **payload, char *err, size_t errlen) {
    const char *type = json_string_value(json_object_get(env, "Type"));
    if (!type) {
        snprintf(err, errlen, "SNS message without \"Type\"");
        return INGEST_BAD;
    }
    if (strcmp(type, "SubscriptionConfirmation") == 0 || strcmp(type, "UnsubscribeConfirmation") == 0) {
        const char *topic = json_string_value(json_object_get(env, "TopicArn"));
        snprintf(err, errlen, "%s for %s", type, topic ? topic : "(no TopicArn)");
        return INGEST_CONFIRM;
    }
    if (strcmp(type, "Notification") != 0) {
        snprintf(err, errlen, "unsupported SNS message type");
        return INGEST_BAD;
    }
    json_t *msg = json_object_get(env, "Message");
    if (!json_is_string(msg)) {
        snprintf(err, errlen, "SNS notification without a \"Message\" string");
        return INGEST_BAD;
    }
    const char *text = json_string_value(msg);
    size_t n = json_string_length(msg);
    if (ingest_json_validate(text, n, err, errlen) != 0) return INGEST_BAD;
    *payload = strndup(text, n);
    return *payload ? INGEST_OK : INGEST_NOMEM;
}

ingest_status ingest_decode(ingest_kind kind, const char *body, size_t len, char **payload,
                            char *err, size_t errlen) {
    *payload = NULL;
    if (len == 0) {
        snprintf(err, errlen, "empty body");
        return INGEST_BAD;
    }
    if (kind == INGEST_KIND_RAW) {
        if (memchr(body, '\0', len)) {
            snprintf(err, errlen, "invalid JSON: NUL byte in body");
            return INGEST_BAD;
        }
        if (ingest_json_validate(body, len, err, errlen) != 0) return INGEST_BAD;
        *payload = strndup(body, len);
        return *payload ? INGEST_OK : INGEST_NOMEM;
    }
    json_error_t jerr;
    json_t *env = json_loadb(body, len, 0, &jerr);
    if (!env) {
        snprintf(err, errlen, "invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        return INGEST_BAD;
    }
    ingest_status st = kind == INGEST_KIND_PUBSUB ? decode_pubsub(env, payload, err, errlen)
                                                  : decode_sns(env, payload, err, errlen);
    json_decref(env);
    return st;
}

static void sha256(const char *text, size_t len, unsigned char out[32]) {
    unsigned int n = 32;
    if (!EVP_Digest(text, len, out, &n, EVP_sha256(), NULL)) memset(out, 0, 32);
}

bool ingest_token_ok(const char *tokens, const char *authorization) {
    if (!tokens || !*tokens) return true;
    if (!authorization) return false;
    while (*authorization == ' ') authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) != 0) return false;
    const char *given = authorization + 7;
    while (*given == ' ') given++;
    size_t glen = strlen(given);
    while (glen && (given[glen - 1] == ' ' || given[glen - 1] == '\t')) glen--;
    if (glen == 0) return false;

    /* Digests have a fixed length, so the comparison time does not depend on how
     * many characters matched nor on the lengths of the configured tokens. */
    unsigned char want[32], have[32];
    sha256(given, glen, have);
    int matched = 0;
    const char *p = tokens;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (e > s) {
            sha256(s, (size_t)(e - s), want);
            matched |= CRYPTO_memcmp(want, have, sizeof want) == 0;
        }
        p = *end ? end + 1 : end;
    }
    OPENSSL_cleanse(have, sizeof have);
    OPENSSL_cleanse(want, sizeof want);
    return matched != 0;
}

void ingest_ids_random(ingest_ids *ids) {
    ids_uuid7(ids->event_id);
    ids_uuid7(ids->trace_id);
    ids->meta_seed[0] = '\0';
}

void ingest_ids_derived(ingest_ids *ids, const char *topic, int32_t partition, int64_t offset, size_t index,
                        int64_t timestamp_ms) {
    char at[300], seed[320];
    int64_t ts = timestamp_ms > 0 ? timestamp_ms : 0;
    /* index 0 keeps the seed of the ids before messages held several events, so a
     * message redelivered across an upgrade still yields the same event */
    if (index == 0)
        snprintf(at, sizeof at, "kafka:%s/%d/%lld", topic, (int)partition, (long long)offset);
    else
        snprintf(at, sizeof at, "kafka:%s/%d/%lld/%zu", topic, (int)partition, (long long)offset, index);
    snprintf(seed, sizeof seed, "%s/event", at);
    ids_uuid7_derived(ids->event_id, ts, seed);
    snprintf(seed, sizeof seed, "%s/trace", at);
    ids_uuid7_derived(ids->trace_id, ts, seed);
    snprintf(ids->meta_seed, sizeof ids->meta_seed, "%s/raw-event/0", ids->event_id);
}

uint8_t *ingest_raw_event_pack(const ingest_event *ev, size_t *len) {
    msg_meta_buf mb;
    msg_meta_init(&mb, ev->trace_id, "hutch-ingest", ev->received_ms,
                  ev->meta_seed && *ev->meta_seed ? ev->meta_seed : NULL);
    Hutch__V1__RawEvent m = HUTCH__V1__RAW_EVENT__INIT;
    m.meta = &mb.meta;
    m.event_id = (char *)ev->event_id;
    m.schema = (char *)ev->schema;
    m.source = (char *)ev->source;
    m.payload_json = (char *)ev->payload_json;
    m.received_unix_ms = ev->received_ms;
    size_t n = 0;
    while (ev->attributes && ev->attributes[2 * n] && ev->attributes[2 * n + 1])
        n++;
    Hutch__V1__Attribute *attrs = calloc(n ? n : 1, sizeof *attrs);
    Hutch__V1__Attribute **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    uint8_t *out = NULL;
    if (attrs && ptrs) {
        for (size_t i = 0; i < n; i++) {
            hutch__v1__attribute__init(&attrs[i]);
            attrs[i].key = (char *)ev->attributes[2 * i];
            attrs[i].value = (char *)ev->attributes[2 * i + 1];
            ptrs[i] = &attrs[i];
        }
        m.n_attributes = n;
        m.attributes = ptrs;
        out = msg_pack(&m.base, len);
    }
    free(attrs);
    free(ptrs);
    return out;
}
