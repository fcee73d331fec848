/* intel_provider: for each threat-intel provider, the HTTP request that asks it about
 * one indicator and the reduction of its JSON answer to a compact verdict.
 *
 * Both halves are pure (no I/O, no clock but the `now` given): intel_client.c does the
 * HTTP, the cache (intel_quota.h) keeps the verdict and the raw body. Request shapes
 * and answer fields are those of ../shared/reference/EXTERNAL-APIS.md §5:
 *   virustotal   GET  {base}/ip_addresses/<ip> | domains/<d> | files/<hash> | urls/<b64url>, x-apikey
 *   abuseipdb    GET  {base}/check?ipAddress=<ip>&maxAgeInDays=90, Key + Accept: application/json
 *   otx          GET  {base}/indicators/{IPv4|IPv6|domain|hostname|url|file}/<v>/general, X-OTX-API-KEY
 *   shodan       GET  {base}/shodan/host/<ip>?key=<key>&minify=true  (the key is in the URL:
 *                     an intel_request's url is a secret as a whole and is never logged)
 *   urlscan      GET  {base}/search/?q=<ip:|domain:|page.url:"...">&size=100, API-Key
 *   urlhaus      POST {base}/url/ (url=) | host/ (host=) | payload/ (md5_hash= / sha256_hash=), Auth-Key
 *   threatfox    POST {base}/ JSON search_ioc (exact_match) or search_hash, Auth-Key
 *   malwarebazaar POST {base}/ form query=get_info&hash=, Auth-Key
 *   rdap         GET  {base}/ip/<ip> | domain/<d> | autnum/<n>, Accept: application/rdap+json
 * Verdict rules (score 0-100; "unknown" = the provider has nothing that judges it):
 *   virustotal   m = malicious engines, s = suspicious: m >= 3 malicious, m + s >= 1
 *                suspicious, some engines and none flagging harmless; score min(100, 10m + 5s)
 *   abuseipdb    abuseConfidenceScore c: >= 75 malicious, >= 25 suspicious, whitelisted
 *                harmless, no reports unknown, else harmless; score c
 *   otx          pulses n: validation[] (a whitelist) harmless; n >= 3 malicious, n >= 1
 *                suspicious, else unknown; score min(100, 20n)
 *   shodan       tags c2/malware/compromised malicious (80); vulns or tags scanner/tor
 *                suspicious (40); else unknown (0): Shodan describes, it does not judge
 *   urlscan      any result with verdicts malicious -> malicious (score max(70, its
 *                score)); results but none malicious unknown; none: not found
 *   urlhaus      query_status ok: malicious (online 100, else 80); no_results: not found
 *   threatfox    ok with data: malicious, score the highest confidence_level
 *   malwarebazaar ok: malicious 100; hash_not_found: not found
 *   rdap         descriptive; a domain registered less than 30 days before now is
 *                suspicious (30), else unknown
 * An HTTP 404 is "not found" for every provider (VirusTotal's NotFoundError, Shodan's
 * "no information"); abuse.ch says it in query_status. */
#ifndef HUTCH_INTEL_PROVIDER_H
#define HUTCH_INTEL_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/enrich/intel_indicator.h"

typedef enum {
    INTEL_VIRUSTOTAL,
    INTEL_ABUSEIPDB,
    INTEL_OTX,
    INTEL_SHODAN,
    INTEL_URLSCAN,
    INTEL_URLHAUS,
    INTEL_THREATFOX,
    INTEL_MALWAREBAZAAR,
    INTEL_RDAP,
    INTEL_PROVIDER_COUNT
} intel_provider;

/* "virustotal", "abuseipdb", "otx", "shodan", "urlscan", "urlhaus", "threatfox",
 * "malwarebazaar", "rdap" (BORROWED static). */
const char *intel_provider_name(intel_provider p);
int intel_provider_parse(const char *name); /* the provider or -1 */
/* The public endpoint, without a trailing '/' (BORROWED static), e.g.
 * "https://www.virustotal.com/api/v3". */
const char *intel_provider_default_url(intel_provider p);
/* True if p answers about that kind. */
bool intel_provider_supports(intel_provider p, intel_kind kind);

#define INTEL_MAX_HEADERS 4

typedef struct {
    const char *method;                   /* BORROWED static: "GET" or "POST" */
    char *url;                            /* NEW; a secret (Shodan's key is in it): never log it */
    char *headers[INTEL_MAX_HEADERS];     /* NEW "Name: value" lines, NULL-terminated; may hold the key */
    char *body;                           /* NEW or NULL */
    char *log_path;                       /* NEW: the URL without query or host, safe to log */
} intel_request;

enum {
    INTEL_REQ_OK = 0,
    INTEL_REQ_UNSUPPORTED = -1, /* the provider does not answer about this kind */
    INTEL_REQ_NOMEM = -2,
};

/* Builds the request asking provider p about ind (BORROWED). base_url (BORROWED) is the
 * setting, a trailing '/' allowed; key (BORROWED) may be NULL for RDAP and OTX.
 * Returns INTEL_REQ_*; on success out holds NEW strings (intel_request_free). */
int intel_request_build(intel_provider p, const char *base_url, const char *key, const intel_indicator *ind,
                        intel_request *out);
void intel_request_free(intel_request *r); /* frees the strings and zeroes; NULL is fine */

typedef enum {
    INTEL_UNKNOWN,
    INTEL_HARMLESS,
    INTEL_SUSPICIOUS,
    INTEL_MALICIOUS,
} intel_level;
const char *intel_level_name(intel_level v); /* "unknown", "harmless", "suspicious", "malicious" */
int intel_level_parse(const char *name);     /* or -1 */

#define INTEL_SUMMARY_MAX 256
/* a link percent-encodes the value at worst: 3 bytes a byte */
#define INTEL_LINK_MAX (3 * INTEL_VALUE_MAX + 128)

typedef struct {
    intel_provider provider;
    intel_kind kind;
    char value[INTEL_VALUE_MAX + 1];
    intel_level verdict;
    int score;                       /* 0..100 */
    char summary[INTEL_SUMMARY_MAX]; /* one line */
    char link[INTEL_LINK_MAX];       /* the provider's web page for the value */
    bool not_found;                  /* the provider knows nothing about it */
} intel_verdict;

enum {
    INTEL_REDUCE_OK = 0,          /* out is the verdict (not_found included) */
    INTEL_REDUCE_BAD_ANSWER = -1, /* unparsable or unexpected answer: err says what */
};

/* Reduces the answer of p about ind to out. status is the HTTP status (200 or 404 come
 * here; the caller handles 429/5xx), body (BORROWED, len bytes, may be NULL on 404).
 * now_s (Unix seconds) is only used for RDAP's registration age. err gets a one-line
 * reason on INTEL_REDUCE_BAD_ANSWER. */
int intel_reduce(intel_provider p, const intel_indicator *ind, long status, const char *body, size_t len,
                 int64_t now_s, intel_verdict *out, char *err, size_t errlen);

#endif
