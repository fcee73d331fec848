/* intel_policy: which providers enrich asks about which indicators of an alert.
 *
 * The `intel` Rego policy decides when the policy directory (HUTCH_POLICY_DIR, every
 * *.rego below it, loaded once at start) holds a package intel: its set `lookups`,
 * each member {kind, value, providers}, is what is asked. Its input is the alert:
 *
 *   {"alert_id", "schema", "title", "description", "namespace", "source", "tags": [...],
 *    "attributes": [{"key", "value"}], "severity", "severity_score",
 *    "indicators": [{"type", "value", "path", "kind", "normalized", "public"}],
 *    "providers": [{"name": "virustotal", "kinds": ["ip", "domain", ...]}]}
 *
 * where indicators are enrich's (enrich.h) with, when intel_normalize knows them,
 * their intel kind and canonical value, and public = it may be asked about;
 * providers are the enabled ones with the kinds each answers about. A lookup's
 * `providers` may be omitted (every enabled provider that answers about the kind).
 * Without a package intel (or without the directory) the built-in default asks every
 * enabled provider about every public indicator, which is what the shipped
 * policies/intel/intel.rego does too, plus its own choices.
 *
 * What must stay true whatever the policy says: a value is normalised again here
 * and a non-public one is never asked (private, loopback, documentation... ranges:
 * intel_indicator.h); a provider that is off or does not answer about the kind is
 * not asked. Those are counted as skipped. Each (provider, kind, value) once per
 * alert. A policy error (conflict, a member of the wrong shape, a limit) is returned
 * with its message; the caller lets the alert go on without lookups.
 *
 * Evaluation is on one thread at a time (the consumer's); the compiled policy is
 * read-only. */
#ifndef HUTCH_INTEL_POLICY_H
#define HUTCH_INTEL_POLICY_H

#include <libpsl.h>
#include <stdbool.h>
#include <stddef.h>

#include "hutch/v1/alert.pb-c.h"
#include "services/enrich/enrich.h"
#include "services/enrich/intel_indicator.h"
#include "services/enrich/intel_provider.h"

typedef struct intel_policy intel_policy;

/* Loads the *.rego files below dir (NULL, "" or a missing directory: the built-in
 * default). NEW (intel_policy_free), or NULL with "file:line:col: ..." in err when
 * a module does not compile. */
intel_policy *intel_policy_load(const char *dir, char *err, size_t errlen);
void intel_policy_free(intel_policy *pol); /* NULL is fine */
/* True when a package intel decides (false: the built-in default). */
bool intel_policy_is_rego(const intel_policy *pol);

/* One lookup to make. */
typedef struct {
    intel_provider provider;
    intel_indicator ind; /* normalised: ind.kind, ind.value are the cache key */
    char *indicator;     /* NEW: the alert's indicator value it came from (else ind.value) */
} intel_ask;

typedef struct {
    intel_ask *items; /* NEW array of n */
    size_t n, cap;
    size_t skipped[INTEL_PROVIDER_COUNT]; /* per provider: lookups the policy asked that are never asked */
} intel_asks;

/* The lookups for one alert a (BORROWED) whose severity enrich decided (BORROWED
 * level name) and whose indicators are ind (BORROWED). enabled[p]: provider p is on.
 * psl BORROWED. Fills out (zeroed by the caller; intel_asks_free either way).
 * 0; -1 out of memory; -2 a policy error, err says what. */
int intel_policy_decide(const intel_policy *pol, const psl_ctx_t *psl, const bool enabled[INTEL_PROVIDER_COUNT],
                        const Hutch__V1__Alert *a, const char *severity, int severity_score,
                        const enrich_indicators *ind, intel_asks *out, char *err, size_t errlen);
void intel_asks_free(intel_asks *asks); /* frees the contents and zeroes; NULL is fine */

#endif
