/* intel_indicator: what a threat-intel provider is asked about, in the one spelling
 * every provider, the cache key and the agent agree on.
 *
 * intel_normalize turns an analyst's or a payload's text into a kind and a canonical
 * value, or says why it is never asked about:
 *   - defanged forms are undone first: "[.]", "(.)", "{.}", "[dot]", "(dot)" -> ".",
 *     "[:]" -> ":", "[://]" / "[:]//" -> "://", "hxxp"/"hxxps"/"fxp" schemes, "[@]";
 *   - md5/sha1/sha256: 32/40/64 hex digits, lower-cased;
 *   - asn: "AS13335" / "as13335" -> "AS13335";
 *   - ip: IPv4 (inet_pton, so no octal or short forms), IPv6 in inet_ntop's canonical
 *     form ("[...]" brackets stripped), an IPv4-mapped IPv6 address as its IPv4; a
 *     zone ("%eth0") is link-local and never public;
 *   - ip_port: "1.2.3.4:443" / "[2001:db8::1]:443" (ThreatFox's ip:port IOCs);
 *   - domain / hostname: lower-cased, trailing dot dropped, IDN labels to punycode
 *     (libidn2, IDNA 2008 non-transitional), then the public suffix list (libpsl):
 *     a name equal to its registrable domain is a "domain", a longer one a
 *     "hostname" whose registrable domain is given too; a name with no registrable
 *     part (a suffix itself, or an unknown TLD such as "corp.local") is not public;
 *   - url: http, https or ftp; scheme and host normalised as above (an IP host
 *     canonical, an IPv6 host in brackets), userinfo dropped, the rest kept verbatim.
 * Public: an IP (or URL/ip:port host IP) must pass enrich_ip_is_public (enrich.c,
 * the one home of the range rules: private, loopback, link-local, CGNAT,
 * documentation, multicast, reserved are never asked about).
 *
 * Pure: no I/O, no clock; the result depends on the input and the suffix list. */
#ifndef HUTCH_INTEL_INDICATOR_H
#define HUTCH_INTEL_INDICATOR_H

#include <libpsl.h>
#include <stddef.h>

/* Longest normalised value (a URL); longer input is INTEL_NORM_INVALID. */
#define INTEL_VALUE_MAX 2048

typedef enum {
    INTEL_KIND_IP,
    INTEL_KIND_IP_PORT,
    INTEL_KIND_DOMAIN,
    INTEL_KIND_HOSTNAME,
    INTEL_KIND_URL,
    INTEL_KIND_MD5,
    INTEL_KIND_SHA1,
    INTEL_KIND_SHA256,
    INTEL_KIND_ASN,
} intel_kind;

/* "ip", "ip_port", "domain", "hostname", "url", "md5", "sha1", "sha256", "asn"
 * (BORROWED static string). */
const char *intel_kind_name(intel_kind kind);
/* The kind named name, or -1. */
int intel_kind_parse(const char *name);

typedef struct {
    intel_kind kind;
    char value[INTEL_VALUE_MAX + 1];  /* canonical text: the cache key */
    char host[256];                   /* url: its host (IP or name); ip_port: the IP; else "" */
    char domain[256];                 /* hostname/url with a name host: the registrable domain */
    int ip_version;                   /* 4 or 6 for ip, ip_port and URLs with an IP host; else 0 */
} intel_indicator;

enum {
    INTEL_NORM_OK = 0,
    INTEL_NORM_INVALID = -1,    /* not an indicator of any kind */
    INTEL_NORM_NOT_PUBLIC = -2, /* an indicator, never asked about (out->kind/value are set) */
};

/* Normalises text (BORROWED, NUL-terminated) into out. psl is BORROWED (libpsl's
 * built-in or latest list). Returns INTEL_NORM_*. */
int intel_normalize(const psl_ctx_t *psl, const char *text, intel_indicator *out);

#endif
