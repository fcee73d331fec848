/* intel_indicator: normalisation of threat-intel indicators (rules in the header).
 *
 * Order of the tests matters: hashes before domains (a hex string of 32 is not a
 * name), URLs (a "://") before ip:port and IPs, IPs before names (inet_pton decides,
 * never a pattern). IDN conversion runs on the whole host after lower-casing, so
 * "BÜCHER.de" and "bücher.de" are the same key. */
#include "services/enrich/intel_indicator.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <idn2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "services/enrich/enrich.h"

static const char *const kind_names[] = {
    [INTEL_KIND_IP] = "ip",         [INTEL_KIND_IP_PORT] = "ip_port", [INTEL_KIND_DOMAIN] = "domain",
    [INTEL_KIND_HOSTNAME] = "hostname", [INTEL_KIND_URL] = "url",     [INTEL_KIND_MD5] = "md5",
    [INTEL_KIND_SHA1] = "sha1",     [INTEL_KIND_SHA256] = "sha256",   [INTEL_KIND_ASN] = "asn",
};

const char *intel_kind_name(intel_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "?";
}

int intel_kind_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (!strcmp(kind_names[i], name))
            return (int)i;
    return -1;
}

/* Undoes the defanging conventions in place-free fashion: src -> dst (dstsz). */
static int undefang(const char *src, char *dst, size_t dstsz)
{
    static const struct {
        const char *from, *to;
    } subs[] = {
        {"[://]", "://"}, {"[:]//", "://"}, {"[:/]/", "://"}, {"[.]", "."}, {"(.)", "."}, {"{.}", "."},
        {"[dot]", "."},   {"(dot)", "."},   {"[:]", ":"},     {"[@]", "@"}, {"[at]", "@"},
    };
    size_t n = 0;
    /* trim surrounding white space */
    while (isspace((unsigned char)*src))
        src++;
    size_t len = strlen(src);
    while (len && isspace((unsigned char)src[len - 1]))
        len--;
    /* defanged schemes, case-insensitively, only at the start */
    static const struct {
        const char *from, *to;
    } schemes[] = {{"hxxps://", "https://"}, {"hxxp://", "http://"}, {"hxxps[://]", "https://"},
                   {"hxxp[://]", "http://"}, {"hxxps[:]//", "https://"}, {"hxxp[:]//", "http://"},
                   {"fxp://", "ftp://"}};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t fl = strlen(schemes[i].from);
        if (len >= fl && !strncasecmp(src, schemes[i].from, fl)) {
            size_t tl = strlen(schemes[i].to);
            if (tl >= dstsz)
                return -1;
            memcpy(dst, schemes[i].to, tl);
            n = tl;
            src += fl;
            len -= fl;
            break;
        }
    }
    for (size_t i = 0; i < len;) {
        bool done = false;
        for (size_t k = 0; k < sizeof subs / sizeof subs[0] && !done; k++) {
            size_t fl = strlen(subs[k].from);
            if (len - i >= fl && !strncasecmp(src + i, subs[k].from, fl)) {
                size_t tl = strlen(subs[k].to);
                if (n + tl >= dstsz)
                    return -1;
                memcpy(dst + n, subs[k].to, tl);
                n += tl;
                i += fl;
                done = true;
            }
        }
        if (!done) {
            if (n + 1 >= dstsz)
                return -1;
            dst[n++] = src[i++];
        }
    }
    dst[n] = 0;
    return 0;
}

static bool all_hex(const char *s)
{
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return false;
    return true;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* IP text -> canonical text and version; IPv4-mapped IPv6 becomes IPv4. 0 or -1. */
static int ip_canon(const char *s, char *out, size_t outsz, int *version)
{
    unsigned char a[16];
    char buf[64];
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        if (n - 2 >= sizeof buf)
            return -1;
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = 0;
        s = buf;
    }
    if (inet_pton(AF_INET, s, a) == 1) {
        *version = 4;
        return inet_ntop(AF_INET, a, out, (socklen_t)outsz) ? 0 : -1;
    }
    if (inet_pton(AF_INET6, s, a) != 1)
        return -1;
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(a, v4mapped, 12)) {
        *version = 4;
        return inet_ntop(AF_INET, a + 12, out, (socklen_t)outsz) ? 0 : -1;
    }
    *version = 6;
    return inet_ntop(AF_INET6, a, out, (socklen_t)outsz) ? 0 : -1;
}

/* A host name: lower case, no trailing dot, IDN -> punycode, LDH labels.
 * 0, or -1 when it is not a name. */
static int name_canon(const char *s, char *out, size_t outsz)
{
    char buf[256];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n + 1);
    if (buf[n - 1] == '.')
        buf[--n] = 0;
    bool ascii = true;
    for (size_t i = 0; i < n; i++)
        ascii &= (unsigned char)buf[i] < 0x80;
    if (ascii) {
        lower(buf);
        if (n >= outsz)
            return -1;
        memcpy(out, buf, n + 1);
    } else {
        char *puny = NULL;
        if (idn2_to_ascii_8z(buf, &puny, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK) {
            /* IDNA 2008 rejects some names browsers accept (emoji); the transitional
             * UTS #46 mapping is what a user's browser would have resolved. */
            if (idn2_to_ascii_8z(buf, &puny, IDN2_TRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
                return -1;
        }
        size_t pl = strlen(puny);
        if (pl >= outsz) {
            idn2_free(puny);
            return -1;
        }
        memcpy(out, puny, pl + 1);
        idn2_free(puny);
        lower(out);
    }
    /* LDH labels, 1-63 chars, no hyphen at either end, 2+ labels, total <= 253 */
    size_t len = strlen(out), labels = 0, lab = 0;
    if (len > 253)
        return -1;
    for (size_t i = 0; i <= len; i++) {
        char c = out[i];
        if (c == '.' || c == 0) {
            if (lab == 0 || lab > 63 || out[i - 1] == '-' || out[i - lab] == '-')
                return -1;
            labels++;
            lab = 0;
        } else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
            lab++;
        } else {
            return -1;
        }
    }
    /* no TLD is all digits: "045.155.205.233" is a refused IP, not a name */
    const char *last = strrchr(out, '.') + 1;
    return labels >= 2 && strspn(last, "0123456789") != strlen(last) ? 0 : -1;
}

/* A name host: fills kind/value/domain. INTEL_NORM_OK or _NOT_PUBLIC or _INVALID. */
static int classify_name(const psl_ctx_t *psl, const char *canon, intel_indicator *out, bool set_kind)
{
    const char *reg = psl_registrable_domain(psl, canon);
    /* the last label must be a TLD the list knows (not "local", "internal", "corp") */
    const char *tld = strrchr(canon, '.');
    bool known_tld = tld && psl_is_public_suffix2(psl, tld + 1, PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE);
    if (set_kind) {
        /* a public suffix alone ("co.uk") is a domain name, not a host */
        out->kind = (reg && !strcmp(reg, canon)) || (!reg && psl_is_public_suffix(psl, canon)) ? INTEL_KIND_DOMAIN
                                                                                              : INTEL_KIND_HOSTNAME;
        snprintf(out->value, sizeof out->value, "%s", canon);
    }
    if (!reg || !known_tld)
        return INTEL_NORM_NOT_PUBLIC;
    snprintf(out->domain, sizeof out->domain, "%s", reg);
    return INTEL_NORM_OK;
}

static int normalize_url(const psl_ctx_t *psl, char *s, intel_indicator *out)
{
    char *sep = strstr(s, "://");
    size_t sl = (size_t)(sep - s);
    char scheme[8];
    if (sl == 0 || sl >= sizeof scheme)
        return INTEL_NORM_INVALID;
    memcpy(scheme, s, sl);
    scheme[sl] = 0;
    lower(scheme);
    if (strcmp(scheme, "http") && strcmp(scheme, "https") && strcmp(scheme, "ftp"))
        return INTEL_NORM_INVALID;
    char *auth = sep + 3;
    size_t al = strcspn(auth, "/?#");
    const char *rest = auth + al;
    char authority[512];
    if (al == 0 || al >= sizeof authority)
        return INTEL_NORM_INVALID;
    memcpy(authority, auth, al);
    authority[al] = 0;
    char *host = strrchr(authority, '@'); /* userinfo is dropped: it may hold a password */
    host = host ? host + 1 : authority;
    char *port = NULL;
    if (*host == '[') {
        char *close = strchr(host, ']');
        if (!close)
            return INTEL_NORM_INVALID;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return INTEL_NORM_INVALID;
        close[1] = 0;
    } else if ((port = strchr(host, ':'))) {
        *port++ = 0;
    }
    if (port) {
        if (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
            return INTEL_NORM_INVALID;
    }
    char hostc[256];
    int rc = INTEL_NORM_OK;
    if (ip_canon(host, hostc, sizeof hostc, &out->ip_version) == 0) {
        snprintf(out->host, sizeof out->host, "%s", hostc);
        if (!enrich_ip_is_public(hostc))
            rc = INTEL_NORM_NOT_PUBLIC;
        if (out->ip_version == 6) { /* at most 45 characters: room for the brackets */
            size_t hl = strlen(hostc);
            memmove(hostc + 1, hostc, hl);
            hostc[0] = '[';
            hostc[hl + 1] = ']';
            hostc[hl + 2] = 0;
        }
    } else {
        if (name_canon(host, hostc, sizeof hostc) != 0)
            return INTEL_NORM_INVALID;
        snprintf(out->host, sizeof out->host, "%s", hostc);
        rc = classify_name(psl, hostc, out, false);
    }
    out->kind = INTEL_KIND_URL;
    int w = snprintf(out->value, sizeof out->value, "%s://%s%s%s%s", scheme, hostc, port ? ":" : "", port ? port : "",
                     *rest ? rest : "/");
    if (w < 0 || (size_t)w >= sizeof out->value)
        return INTEL_NORM_INVALID;
    return rc;
}

int intel_normalize(const psl_ctx_t *psl, const char *text, intel_indicator *out)
{
    memset(out, 0, sizeof *out);
    if (!text || strlen(text) > INTEL_VALUE_MAX)
        return INTEL_NORM_INVALID;
    char s[INTEL_VALUE_MAX + 1];
    if (undefang(text, s, sizeof s) != 0 || !*s)
        return INTEL_NORM_INVALID;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == ' ')
            return INTEL_NORM_INVALID;
    size_t n = strlen(s);

    if ((n == 32 || n == 40 || n == 64) && all_hex(s)) {
        out->kind = n == 32 ? INTEL_KIND_MD5 : n == 40 ? INTEL_KIND_SHA1 : INTEL_KIND_SHA256;
        memcpy(out->value, s, n + 1);
        lower(out->value);
        return INTEL_NORM_OK;
    }
    if (n > 2 && n <= 12 && (s[0] == 'a' || s[0] == 'A') && (s[1] == 's' || s[1] == 'S') &&
        strspn(s + 2, "0123456789") == n - 2) {
        unsigned long long asn = strtoull(s + 2, NULL, 10);
        if (asn == 0 || asn > 4294967295ull)
            return INTEL_NORM_INVALID;
        out->kind = INTEL_KIND_ASN;
        snprintf(out->value, sizeof out->value, "AS%llu", asn);
        /* private-use (RFC 6996) and documentation (RFC 5398) ASNs are never asked about */
        if ((asn >= 64496 && asn <= 65551) || (asn >= 4200000000ull) || asn == 23456)
            return INTEL_NORM_NOT_PUBLIC;
        return INTEL_NORM_OK;
    }
    if (strstr(s, "://"))
        return normalize_url(psl, s, out);

    char canon[256];
    if (ip_canon(s, canon, sizeof canon, &out->ip_version) == 0) {
        out->kind = INTEL_KIND_IP;
        snprintf(out->value, sizeof out->value, "%s", canon);
        return enrich_ip_is_public(canon) ? INTEL_NORM_OK : INTEL_NORM_NOT_PUBLIC;
    }
    if (strchr(s, '%')) { /* a zone id: link-local by definition */
        char addr[64];
        size_t al = strcspn(s, "%");
        unsigned char a[16];
        if (al < sizeof addr) {
            memcpy(addr, s, al);
            addr[al] = 0;
            if (inet_pton(AF_INET6, addr, a) == 1) {
                out->kind = INTEL_KIND_IP;
                out->ip_version = 6;
                snprintf(out->value, sizeof out->value, "%s", s);
                return INTEL_NORM_NOT_PUBLIC;
            }
        }
        return INTEL_NORM_INVALID;
    }
    /* ip:port: "[v6]:port" or "v4:port" (a bare IPv6 has several ':' and failed above) */
    char *colon = strrchr(s, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) && strlen(colon + 1) <= 5 &&
        atoi(colon + 1) <= 65535 && atoi(colon + 1) > 0) {
        *colon = 0;
        bool bracketed = s[0] == '[';
        if (ip_canon(s, canon, sizeof canon, &out->ip_version) == 0 && (out->ip_version == 4 || bracketed)) {
            out->kind = INTEL_KIND_IP_PORT;
            snprintf(out->host, sizeof out->host, "%s", canon);
            snprintf(out->value, sizeof out->value, out->ip_version == 6 ? "[%s]:%d" : "%s:%d", canon,
                     atoi(colon + 1));
            return enrich_ip_is_public(canon) ? INTEL_NORM_OK : INTEL_NORM_NOT_PUBLIC;
        }
        *colon = ':';
        out->ip_version = 0;
    }
    if (name_canon(s, canon, sizeof canon) != 0)
        return INTEL_NORM_INVALID;
    return classify_name(psl, canon, out, true);
}
