/* Severity, decided once: the five levels, their scores, and the normaliser that
 * reads a vendor's fields. The policy service sets Alert.severity when the policy
 * names one; otherwise enrich runs the normaliser; every later service reads
 * Alert.severity / Alert.severity_score and never looks at the payload. Rules in
 * severity.c's header. */
#ifndef HUTCH_SEVERITY_H
#define HUTCH_SEVERITY_H

#include <jansson.h>
#include <stddef.h>

#include "common/msg.h"

typedef enum {
    SEVERITY_INFO = 0,
    SEVERITY_LOW,
    SEVERITY_MEDIUM,
    SEVERITY_HIGH,
    SEVERITY_CRITICAL,
} severity_level;

/* "info" .. "critical" (BORROWED, static). */
const char *severity_name(severity_level level);
/* Exact lower-case name -> level. 0, or -1 if it is not one. */
int severity_parse(const char *name, severity_level *out);
/* The canonical 0-100 score of a level. */
int severity_score(severity_level level);
severity_level severity_from_score(double score);
/* Order of a level name (info 0 .. critical 4), -1 for anything else. */
int severity_rank(const char *name);
/* The normaliser: the highest severity hint (0-100) in payload (may be NULL) and the
 * attributes, or -1 when there is none. */
int severity_score_from_json(const json_t *payload, Hutch__V1__Attribute *const *attrs, size_t n_attrs);

#endif
