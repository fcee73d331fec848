/* enrich: the domain logic of hutch-enrich, with no Kafka, HTTP or Postgres in it.
 *
 * Two pure functions on an alert's payload (a jansson value) and attributes:
 * - enrich_extract: deterministic indicator extraction (IPv4, IPv6, domain, URL,
 *   MD5/SHA1/SHA256, email), each with the JSON path where it was found;
 * - enrich_risk_score: a transparent 0-100 score from the alert's severity and public IPs,
 *   and enrich_risk_with_intel: the same once threat-intel verdicts are known.
 * The same input always yields the same indicators in the same order, which is what
 * lets a redelivered alert produce byte-identical output (docs/ARCHITECTURE.md, "Delivery").
 * See enrich.c's header for the exact rules. */
#ifndef HUTCH_ENRICH_H
#define HUTCH_ENRICH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hutch/v1/alert.pb-c.h"

/* At most this many indicators per alert; the rest are dropped (truncated = true). */
#define ENRICH_MAX_INDICATORS 1000
/* Values longer than this are skipped (they would not fit the indicators index). */
#define ENRICH_MAX_VALUE_LEN 1024
/* Paths longer than this are cut and end in "..." */
#define ENRICH_MAX_PATH_LEN 512

typedef struct {
    const char *type; /* BORROWED static string: "ipv4", "ipv6", "domain", "url", "md5", "sha1", "sha256", "email" */
    char *value;      /* owned by the list */
    char *path;       /* owned by the list; "" for the root value */
} enrich_indicator;

typedef struct {
    enrich_indicator *items; /* owned; count entries, in discovery order */
    size_t count;
    size_t cap;
    bool truncated;          /* more than ENRICH_MAX_INDICATORS were found */
    /* dedupe set on (type, value, path): open addressing over indices + 1 */
    size_t *slots;
    size_t nslots;
} enrich_indicators;

/* Compiled patterns and the public suffix list (libpsl: the newer of its built-in
 * list and the publicsuffix package's file), made once per process and shared
 * read-only by any number of threads. NEW (enrich_free), or NULL with a message in
 * err (e.g. no suffix list available). */
typedef struct enrich_ctx enrich_ctx;
enrich_ctx *enrich_new(char *err, size_t errlen);
void enrich_free(enrich_ctx *ctx); /* NULL is fine */

/* Fills `out` (zero it first, or reuse after enrich_indicators_free) with the
 * indicators of payload (BORROWED, may be NULL) and of attribute values (BORROWED,
 * attrs may be NULL when n_attrs is 0; their path is "attributes.<key>").
 * Returns 0, or -1 on out of memory (out then holds what was found so far). */
int enrich_extract(const enrich_ctx *ctx, const json_t *payload, Hutch__V1__Attribute *const *attrs,
                   size_t n_attrs, enrich_indicators *out);
void enrich_indicators_free(enrich_indicators *list); /* frees contents, zeroes; NULL is fine */

/* True if text is an IPv4/IPv6 address that is globally routable (not private,
 * loopback, link-local, CGNAT, multicast, reserved or a documentation range). */
bool enrich_ip_is_public(const char *text);
/* The risk score (formula in enrich.c's header), 0..100, from the alert's severity
 * score (common/severity.h) and its indicators. */
double enrich_risk_score(int severity_score, const enrich_indicators *indicators);
/* The risk score once threat-intel verdicts are in (formula in enrich.c's header):
 * base is enrich_risk_score's, worst the most severe verdict among the alert's
 * (an intel_level of intel_provider.h: 0 unknown, 1 harmless, 2 suspicious, 3
 * malicious; unknown when there is none yet). */
double enrich_risk_with_intel(double base, int worst);

#define ENRICH_PRODUCER "hutch-enrich"
/* The severity score of an alert with no severity at all (low). */
#define ENRICH_DEFAULT_SEVERITY_SCORE 20

/* The enriched Alert: a with the indicators, severity, scores and a new Meta derived
 * from its own (so a redelivered alert packs to the same bytes), without the payload.
 * a is not changed. NEW buffer (free()) or NULL on OOM. */
uint8_t *enrich_pack(Hutch__V1__Alert *a, const enrich_indicators *ind, const char *severity, int severity_score,
                     double risk_score, size_t *len);
/* The same with the threat-intel verdicts attached (intel: n BORROWED messages). */
uint8_t *enrich_pack_intel(Hutch__V1__Alert *a, const enrich_indicators *ind, const char *severity, int severity_score,
                           double risk_score, Hutch__V1__IntelVerdict **intel, size_t n_intel, size_t *len);

#endif
