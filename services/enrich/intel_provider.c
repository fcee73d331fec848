/* intel_provider: request builders and verdict reducers (rules in the header).
 *
 * Builders percent-encode every value they put in a URL path, query or form (RFC 3986
 * unreserved characters pass), so an indicator can never change the request's shape.
 * Reducers read only the documented fields with jansson and tolerate any of them
 * missing: a missing field counts as zero / empty, a body that is not a JSON object
 * (or lacks the provider's envelope: VirusTotal's data.attributes, AbuseIPDB's data,
 * abuse.ch's query_status) is INTEL_REDUCE_BAD_ANSWER. */
#include "services/enrich/intel_provider.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/strbuf.h"

static const struct {
    const char *name;
    const char *url;
    unsigned kinds; /* bit per intel_kind */
} providers[INTEL_PROVIDER_COUNT] = {
#define K(k) (1u << INTEL_KIND_##k)
    [INTEL_VIRUSTOTAL] = {"virustotal", "https://www.virustotal.com/api/v3",
                          K(IP) | K(DOMAIN) | K(HOSTNAME) | K(URL) | K(MD5) | K(SHA1) | K(SHA256)},
    [INTEL_ABUSEIPDB] = {"abuseipdb", "https://api.abuseipdb.com/api/v2", K(IP)},
    [INTEL_OTX] = {"otx", "https://otx.alienvault.com/api/v1",
                   K(IP) | K(DOMAIN) | K(HOSTNAME) | K(URL) | K(MD5) | K(SHA1) | K(SHA256)},
    [INTEL_SHODAN] = {"shodan", "https://api.shodan.io", K(IP)},
    [INTEL_URLSCAN] = {"urlscan", "https://urlscan.io/api/v1", K(IP) | K(DOMAIN) | K(HOSTNAME) | K(URL)},
    [INTEL_URLHAUS] = {"urlhaus", "https://urlhaus-api.abuse.ch/v1",
                       K(IP) | K(DOMAIN) | K(HOSTNAME) | K(URL) | K(MD5) | K(SHA256)},
    [INTEL_THREATFOX] = {"threatfox", "https://threatfox-api.abuse.ch/api/v1",
                         K(IP_PORT) | K(DOMAIN) | K(HOSTNAME) | K(URL) | K(MD5) | K(SHA256)},
    [INTEL_MALWAREBAZAAR] = {"malwarebazaar", "https://mb-api.abuse.ch/api/v1", K(MD5) | K(SHA1) | K(SHA256)},
    [INTEL_RDAP] = {"rdap", "https://rdap.org", K(IP) | K(DOMAIN) | K(ASN)},
#undef K
};

const char *intel_provider_name(intel_provider p)
{
    return (unsigned)p < INTEL_PROVIDER_COUNT ? providers[p].name : "?";
}

int intel_provider_parse(const char *name)
{
    for (int i = 0; name && i < INTEL_PROVIDER_COUNT; i++)
        if (!strcmp(providers[i].name, name))
            return i;
    return -1;
}

const char *intel_provider_default_url(intel_provider p)
{
    return (unsigned)p < INTEL_PROVIDER_COUNT ? providers[p].url : NULL;
}

bool intel_provider_supports(intel_provider p, intel_kind kind)
{
    return (unsigned)p < INTEL_PROVIDER_COUNT && (providers[p].kinds >> kind & 1u);
}

static const char *const level_names[] = {"unknown", "harmless", "suspicious", "malicious"};

const char *intel_level_name(intel_level v)
{
    return (unsigned)v < 4 ? level_names[v] : "?";
}

int intel_level_parse(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(level_names[i], name))
            return i;
    return -1;
}

/* ---- requests ---- */

static void pct(strbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '.' || *p == '_' || *p == '~') {
            strbuf_add(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            strbuf_add(b, e, 3);
        }
    }
}

/* base64url without padding: VirusTotal's URL identifier. */
static void b64url(strbuf *b, const char *s)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char o[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], tab[v >> 6 & 63], tab[v & 63]};
        strbuf_add(b, o, n - i >= 3 ? 4 : n - i + 1);
    }
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    int rc = vasprintf(&s, f, ap);
    va_end(ap);
    return rc < 0 ? NULL : s;
}

static const char *otx_section(const intel_indicator *ind)
{
    switch (ind->kind) {
    case INTEL_KIND_IP: return ind->ip_version == 6 ? "IPv6" : "IPv4";
    case INTEL_KIND_DOMAIN: return "domain";
    case INTEL_KIND_HOSTNAME: return "hostname";
    case INTEL_KIND_URL: return "url";
    default: return "file";
    }
}

static bool is_hash(intel_kind k)
{
    return k == INTEL_KIND_MD5 || k == INTEL_KIND_SHA1 || k == INTEL_KIND_SHA256;
}

void intel_request_free(intel_request *r)
{
    if (!r)
        return;
    free(r->url);
    for (int i = 0; i < INTEL_MAX_HEADERS; i++)
        free(r->headers[i]);
    free(r->body);
    free(r->log_path);
    memset(r, 0, sizeof *r);
}

int intel_request_build(intel_provider p, const char *base_url, const char *key, const intel_indicator *ind,
                        intel_request *out)
{
    memset(out, 0, sizeof *out);
    if (!intel_provider_supports(p, ind->kind))
        return INTEL_REQ_UNSUPPORTED;
    if (!base_url || !*base_url)
        base_url = providers[p].url;
    size_t bl = strlen(base_url);
    while (bl && base_url[bl - 1] == '/')
        bl--;
    strbuf path = {0}; /* after the base URL, without the secret */
    strbuf query = {0};
    strbuf body = {0};
    const char *k = key ? key : "";
    int nh = 0;
    out->method = "GET";
    switch (p) {
    case INTEL_VIRUSTOTAL:
        switch (ind->kind) {
        case INTEL_KIND_IP: strbuf_puts(&path, "/ip_addresses/"), pct(&path, ind->value); break;
        case INTEL_KIND_URL: strbuf_puts(&path, "/urls/"), b64url(&path, ind->value); break;
        case INTEL_KIND_DOMAIN:
        case INTEL_KIND_HOSTNAME: strbuf_puts(&path, "/domains/"), pct(&path, ind->value); break;
        default: strbuf_puts(&path, "/files/"), pct(&path, ind->value); break;
        }
        out->headers[nh++] = fmt("x-apikey: %s", k);
        break;
    case INTEL_ABUSEIPDB:
        strbuf_puts(&path, "/check");
        strbuf_puts(&query, "?ipAddress="), pct(&query, ind->value), strbuf_puts(&query, "&maxAgeInDays=90");
        out->headers[nh++] = fmt("Key: %s", k);
        out->headers[nh++] = fmt("Accept: application/json");
        break;
    case INTEL_OTX:
        strbuf_printf(&path, "/indicators/%s/", otx_section(ind));
        pct(&path, ind->value);
        strbuf_puts(&path, "/general");
        if (key && *key)
            out->headers[nh++] = fmt("X-OTX-API-KEY: %s", k);
        break;
    case INTEL_SHODAN:
        strbuf_puts(&path, "/shodan/host/"), pct(&path, ind->value);
        strbuf_puts(&query, "?key="), pct(&query, k), strbuf_puts(&query, "&minify=true");
        break;
    case INTEL_URLSCAN: {
        strbuf q = {0};
        if (ind->kind == INTEL_KIND_IP)
            strbuf_printf(&q, "ip:\"%s\"", ind->value);
        else if (ind->kind == INTEL_KIND_URL)
            strbuf_printf(&q, "page.url:\"%s\"", ind->value);
        else
            strbuf_printf(&q, "domain:%s", ind->value);
        strbuf_puts(&path, "/search/");
        strbuf_puts(&query, "?q="), pct(&query, q.p ? q.p : ""), strbuf_puts(&query, "&size=100");
        if (q.failed)
            query.failed = true;
        strbuf_free(&q);
        out->headers[nh++] = fmt("API-Key: %s", k);
        break;
    }
    case INTEL_URLHAUS:
        out->method = "POST";
        if (ind->kind == INTEL_KIND_URL)
            strbuf_puts(&path, "/url/"), strbuf_puts(&body, "url="), pct(&body, ind->value);
        else if (is_hash(ind->kind))
            strbuf_puts(&path, "/payload/"),
                strbuf_puts(&body, ind->kind == INTEL_KIND_MD5 ? "md5_hash=" : "sha256_hash="), pct(&body, ind->value);
        else
            strbuf_puts(&path, "/host/"), strbuf_puts(&body, "host="), pct(&body, ind->value);
        out->headers[nh++] = fmt("Auth-Key: %s", k);
        out->headers[nh++] = fmt("Content-Type: application/x-www-form-urlencoded");
        break;
    case INTEL_THREATFOX: {
        out->method = "POST";
        strbuf_puts(&path, "/");
        json_t *q = is_hash(ind->kind)
                        ? json_pack("{s:s, s:s}", "query", "search_hash", "hash", ind->value)
                        : json_pack("{s:s, s:s, s:b}", "query", "search_ioc", "search_term", ind->value, "exact_match", 1);
        char *txt = q ? json_dumps(q, JSON_COMPACT) : NULL;
        json_decref(q);
        if (txt)
            strbuf_puts(&body, txt);
        else
            body.failed = true;
        free(txt);
        out->headers[nh++] = fmt("Auth-Key: %s", k);
        out->headers[nh++] = fmt("Content-Type: application/json");
        break;
    }
    case INTEL_MALWAREBAZAAR:
        out->method = "POST";
        strbuf_puts(&path, "/");
        strbuf_puts(&body, "query=get_info&hash="), pct(&body, ind->value);
        out->headers[nh++] = fmt("Auth-Key: %s", k);
        out->headers[nh++] = fmt("Content-Type: application/x-www-form-urlencoded");
        break;
    case INTEL_RDAP:
        if (ind->kind == INTEL_KIND_ASN)
            strbuf_puts(&path, "/autnum/"), strbuf_puts(&path, ind->value + 2);
        else
            strbuf_puts(&path, ind->kind == INTEL_KIND_IP ? "/ip/" : "/domain/"), pct(&path, ind->value);
        out->headers[nh++] = fmt("Accept: application/rdap+json");
        break;
    default: break;
    }
    bool oom = path.failed || query.failed || body.failed;
    for (int i = 0; i < nh; i++)
        oom |= !out->headers[i];
    if (!oom) {
        out->url = fmt("%.*s%s%s", (int)bl, base_url, path.p ? path.p : "", query.p ? query.p : "");
        out->log_path = strbuf_take(&path);
        if (body.p)
            out->body = strbuf_take(&body);
        oom = !out->url || !out->log_path || (body.len && !out->body);
    }
    strbuf_free(&path);
    strbuf_free(&query);
    strbuf_free(&body);
    if (oom) {
        intel_request_free(out);
        return INTEL_REQ_NOMEM;
    }
    return INTEL_REQ_OK;
}

/* ---- reducers ---- */

static long long jint(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : json_is_real(v) ? (long long)json_real_value(v) : 0;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Appends up to max strings of array arr (or of member key of its objects) as
 * "a, b, c" to b. */
static void join(strbuf *b, const json_t *arr, const char *key, size_t max)
{
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = key ? json_string_value(json_object_get(v, key)) : json_string_value(v);
        if (!s || !*s)
            continue;
        if (n == max) {
            strbuf_puts(b, ", ...");
            break;
        }
        strbuf_printf(b, "%s%s", n++ ? ", " : "", s);
    }
}

static void set_link(intel_verdict *out, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void set_link(intel_verdict *out, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(out->link, sizeof out->link, f, ap);
    va_end(ap);
}

static void set_text(char *dst, size_t n, strbuf *b)
{
    snprintf(dst, n, "%s", b->p ? b->p : "");
    for (char *p = dst; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    strbuf_free(b);
}

static int bad(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s", what);
    return INTEL_REDUCE_BAD_ANSWER;
}

static int clamp100(long long v)
{
    return v < 0 ? 0 : v > 100 ? 100 : (int)v;
}

static void vt_link(const intel_indicator *ind, intel_verdict *out)
{
    const char *what = ind->kind == INTEL_KIND_IP ? "ip-address"
                       : ind->kind == INTEL_KIND_URL ? "url"
                       : is_hash(ind->kind) ? "file" : "domain";
    if (ind->kind == INTEL_KIND_URL) {
        strbuf b = {0};
        b64url(&b, ind->value);
        set_link(out, "https://www.virustotal.com/gui/url/%s", b.p ? b.p : "");
        strbuf_free(&b);
    } else {
        set_link(out, "https://www.virustotal.com/gui/%s/%s", what, ind->value);
    }
}

static int reduce_vt(const json_t *root, const intel_indicator *ind, intel_verdict *out, char *err, size_t errlen)
{
    json_t *attrs = json_object_get(json_object_get(root, "data"), "attributes");
    if (!json_is_object(attrs))
        return bad(err, errlen, "VirusTotal answer without data.attributes");
    json_t *st = json_object_get(attrs, "last_analysis_stats");
    long long m = jint(st, "malicious"), s = jint(st, "suspicious");
    long long total = m + s + jint(st, "harmless") + jint(st, "undetected") + jint(st, "timeout");
    out->verdict = m >= 3 ? INTEL_MALICIOUS : m + s >= 1 ? INTEL_SUSPICIOUS : total > 0 ? INTEL_HARMLESS : INTEL_UNKNOWN;
    out->score = clamp100(10 * m + 5 * s);
    strbuf b = {0};
    strbuf_printf(&b, "VT %lld/%lld engines malicious", m, total);
    if (s)
        strbuf_printf(&b, ", %lld suspicious", s);
    const char *label = json_string_value(
        json_object_get(json_object_get(attrs, "popular_threat_classification"), "suggested_threat_label"));
    if (label)
        strbuf_printf(&b, "; %s", label);
    json_t *tags = json_object_get(attrs, "tags");
    if (json_array_size(tags))
        strbuf_puts(&b, "; tags: "), join(&b, tags, NULL, 5);
    if (json_object_get(attrs, "as_owner"))
        strbuf_printf(&b, "; AS%lld %s", jint(attrs, "asn"), jstr(attrs, "as_owner"));
    set_text(out->summary, sizeof out->summary, &b);
    vt_link(ind, out);
    return INTEL_REDUCE_OK;
}

static int reduce_abuseipdb(const json_t *root, const intel_indicator *ind, intel_verdict *out, char *err,
                            size_t errlen)
{
    json_t *d = json_object_get(root, "data");
    if (!json_is_object(d))
        return bad(err, errlen, "AbuseIPDB answer without data");
    long long c = jint(d, "abuseConfidenceScore"), reports = jint(d, "totalReports");
    bool wl = json_is_true(json_object_get(d, "isWhitelisted"));
    out->verdict = c >= 75 ? INTEL_MALICIOUS
                   : c >= 25 ? INTEL_SUSPICIOUS
                   : wl ? INTEL_HARMLESS
                   : reports == 0 ? INTEL_UNKNOWN : INTEL_HARMLESS;
    out->score = clamp100(c);
    strbuf b = {0};
    strbuf_printf(&b, "AbuseIPDB confidence %lld%%, %lld reports from %lld users", c, reports,
                  jint(d, "numDistinctUsers"));
    if (*jstr(d, "isp"))
        strbuf_printf(&b, "; %s", jstr(d, "isp"));
    if (*jstr(d, "countryCode"))
        strbuf_printf(&b, " (%s)", jstr(d, "countryCode"));
    if (json_is_true(json_object_get(d, "isTor")))
        strbuf_puts(&b, "; Tor exit");
    if (wl)
        strbuf_puts(&b, "; whitelisted");
    set_text(out->summary, sizeof out->summary, &b);
    set_link(out, "https://www.abuseipdb.com/check/%s", ind->value);
    return INTEL_REDUCE_OK;
}

static int reduce_otx(const json_t *root, const intel_indicator *ind, intel_verdict *out, char *err, size_t errlen)
{
    if (!json_is_object(root))
        return bad(err, errlen, "OTX answer is not an object");
    json_t *pi = json_object_get(root, "pulse_info");
    long long n = jint(pi, "count");
    bool validated = json_array_size(json_object_get(root, "validation")) > 0;
    out->verdict = validated ? INTEL_HARMLESS : n >= 3 ? INTEL_MALICIOUS : n >= 1 ? INTEL_SUSPICIOUS : INTEL_UNKNOWN;
    out->score = validated ? 0 : clamp100(20 * n);
    strbuf b = {0};
    strbuf_printf(&b, "OTX in %lld pulse%s", n, n == 1 ? "" : "s");
    /* malware families and tags of the first pulses, deduplicated loosely by taking
     * the first pulse that has any */
    size_t i;
    json_t *pulse;
    json_array_foreach(json_object_get(pi, "pulses"), i, pulse)
    {
        json_t *fam = json_object_get(pulse, "malware_families");
        if (json_array_size(fam)) {
            strbuf_puts(&b, "; malware: ");
            join(&b, fam, json_is_object(json_array_get(fam, 0)) ? "display_name" : NULL, 3);
            break;
        }
    }
    json_array_foreach(json_object_get(pi, "pulses"), i, pulse)
    {
        if (json_array_size(json_object_get(pulse, "tags"))) {
            strbuf_puts(&b, "; tags: ");
            join(&b, json_object_get(pulse, "tags"), NULL, 5);
            break;
        }
    }
    if (validated) {
        strbuf_puts(&b, "; whitelisted: ");
        join(&b, json_object_get(root, "validation"), "source", 3);
    }
    set_text(out->summary, sizeof out->summary, &b);
    const char *sec = ind->kind == INTEL_KIND_IP ? "ip" : is_hash(ind->kind) ? "file" : otx_section(ind);
    set_link(out, "https://otx.alienvault.com/indicator/%s/%s", sec, ind->value);
    return INTEL_REDUCE_OK;
}

static bool has_tag(const json_t *tags, const char *const *names)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    for (const char *const *n = names; *n; n++)
        if (json_string_value(t) && !strcmp(json_string_value(t), *n))
            return true;
    return false;
}

static int reduce_shodan(const json_t *root, const intel_indicator *ind, intel_verdict *out, char *err,
                         size_t errlen)
{
    if (!json_is_object(root) || !json_object_get(root, "ip_str"))
        return bad(err, errlen, "Shodan answer without ip_str");
    static const char *const bad_tags[] = {"c2", "malware", "compromised", NULL};
    static const char *const odd_tags[] = {"scanner", "tor", NULL};
    json_t *tags = json_object_get(root, "tags");
    json_t *vulns = json_object_get(root, "vulns");
    size_t nvulns = json_is_array(vulns) ? json_array_size(vulns) : json_object_size(vulns);
    if (has_tag(tags, bad_tags))
        out->verdict = INTEL_MALICIOUS, out->score = 80;
    else if (nvulns || has_tag(tags, odd_tags))
        out->verdict = INTEL_SUSPICIOUS, out->score = 40;
    else
        out->verdict = INTEL_UNKNOWN, out->score = 0;
    strbuf b = {0};
    strbuf_printf(&b, "Shodan: %s", *jstr(root, "org") ? jstr(root, "org") : "unknown org");
    json_t *ports = json_object_get(root, "ports");
    if (json_array_size(ports)) {
        strbuf_puts(&b, "; ports ");
        size_t i;
        json_t *p;
        json_array_foreach(ports, i, p)
        {
            if (i == 10) {
                strbuf_puts(&b, ",...");
                break;
            }
            strbuf_printf(&b, "%s%lld", i ? "," : "", (long long)json_integer_value(p));
        }
    }
    if (nvulns)
        strbuf_printf(&b, "; %zu vulns", nvulns);
    if (json_array_size(tags))
        strbuf_puts(&b, "; tags: "), join(&b, tags, NULL, 5);
    set_text(out->summary, sizeof out->summary, &b);
    set_link(out, "https://www.shodan.io/host/%s", ind->value);
    return INTEL_REDUCE_OK;
}

static int reduce_urlscan(const json_t *root, const intel_indicator *ind, intel_verdict *out, char *err,
                          size_t errlen)
{
    json_t *results = json_object_get(root, "results");
    if (!json_is_array(results))
        return bad(err, errlen, "urlscan answer without results");
    size_t i, mal = 0;
    long long best = 0;
    json_t *r;
    json_array_foreach(results, i, r)
    {
        json_t *v = json_object_get(r, "verdicts");
        json_t *overall = json_object_get(v, "overall");
        json_t *m = overall ? json_object_get(overall, "malicious") : json_object_get(v, "malicious");
        if (json_is_true(m)) {
            mal++;
            long long sc = jint(overall ? overall : v, "score");
            if (sc > best)
                best = sc;
        }
    }
    size_t n = json_array_size(results);
    out->not_found = n == 0;
    out->verdict = mal ? INTEL_MALICIOUS : INTEL_UNKNOWN;
    out->score = mal ? clamp100(best > 70 ? best : 70) : 0;
    strbuf b = {0};
    strbuf_printf(&b, "urlscan %zu scan%s, %zu malicious", n, n == 1 ? "" : "s", mal);
    json_t *first = json_array_get(results, 0);
    if (first) {
        json_t *task = json_object_get(first, "task"), *page = json_object_get(first, "page");
        strbuf_printf(&b, "; last %s (%s)", jstr(page, "url")[0] ? jstr(page, "url") : jstr(task, "url"),
                      jstr(task, "time"));
        if (*jstr(first, "_id"))
            set_link(out, "https://urlscan.io/result/%s/", jstr(first, "_id"));
    }
    if (!out->link[0]) {
        strbuf l = {0};
        strbuf_puts(&l, "https://urlscan.io/search/#");
        pct(&l, ind->value);
        set_text(out->link, sizeof out->link, &l);
    }
    set_text(out->summary, sizeof out->summary, &b);
    return INTEL_REDUCE_OK;
}

static const char *abusech_status(const json_t *root)
{
    return json_string_value(json_object_get(root, "query_status"));
}

static bool abusech_not_found(const char *st)
{
    return !strcmp(st, "no_results") || !strcmp(st, "no_result") || !strcmp(st, "hash_not_found") ||
           !strcmp(st, "not_found");
}

static void abusech_link(intel_verdict *out, const char *site, const char *prefix, const char *value)
{
    strbuf l = {0};
    strbuf_printf(&l, "https://%s/browse.php?search=", site);
    pct(&l, prefix);
    pct(&l, value);
    set_text(out->link, sizeof out->link, &l);
}

static int reduce_urlhaus(const json_t *root, const intel_indicator *ind, intel_verdict *out, char *err,
                          size_t errlen)
{
    const char *st = abusech_status(root);
    if (!st)
        return bad(err, errlen, "URLhaus answer without query_status");
    abusech_link(out, "urlhaus.abuse.ch", "", ind->kind == INTEL_KIND_URL ? ind->value : ind->value);
    if (abusech_not_found(st)) {
        out->not_found = true;
        snprintf(out->summary, sizeof out->summary, "URLhaus: not listed");
        return INTEL_REDUCE_OK;
    }
    if (strcmp(st, "ok"))
        return bad(err, errlen, "URLhaus query_status is not ok");
    strbuf b = {0};
    out->verdict = INTEL_MALICIOUS;
    if (ind->kind == INTEL_KIND_URL) {
        bool online = !strcmp(jstr(root, "url_status"), "online");
        out->score = online ? 100 : 80;
        strbuf_printf(&b, "URLhaus: %s URL (%s)", jstr(root, "threat")[0] ? jstr(root, "threat") : "malicious",
                      jstr(root, "url_status"));
        if (json_array_size(json_object_get(root, "tags")))
            strbuf_puts(&b, "; tags: "), join(&b, json_object_get(root, "tags"), NULL, 5);
    } else if (is_hash(ind->kind)) {
        out->score = 100;
        strbuf_printf(&b, "URLhaus: payload %s %s", jstr(root, "file_type"), jstr(root, "signature"));
    } else {
        json_t *urls = json_object_get(root, "urls");
        size_t i, online = 0;
        json_t *u;
        json_array_foreach(urls, i, u) online += !strcmp(jstr(u, "url_status"), "online");
        out->score = online ? 100 : 80;
        strbuf_printf(&b, "URLhaus: %zu malware URLs on this host, %zu online", json_array_size(urls), online);
        json_t *first = json_array_get(urls, 0);
        if (first && json_array_size(json_object_get(first, "tags")))
            strbuf_puts(&b, "; tags: "), join(&b, json_object_get(first, "tags"), NULL, 5);
    }
    set_text(out->summary, sizeof out->summary, &b);
    return INTEL_REDUCE_OK;
}

static int reduce_threatfox(const json_t *root, const intel_indicator *ind, intel_verdict *out, char *err,
                            size_t errlen)
{
    const char *st = abusech_status(root);
    if (!st)
        return bad(err, errlen, "ThreatFox answer without query_status");
    abusech_link(out, "threatfox.abuse.ch", "ioc:", ind->value);
    json_t *data = json_object_get(root, "data");
    if (abusech_not_found(st) || (!strcmp(st, "ok") && !json_array_size(data))) {
        out->not_found = true;
        snprintf(out->summary, sizeof out->summary, "ThreatFox: not listed");
        return INTEL_REDUCE_OK;
    }
    if (strcmp(st, "ok") || !json_is_array(data))
        return bad(err, errlen, "ThreatFox query_status is not ok");
    long long conf = 0;
    size_t i;
    json_t *d;
    json_t *top = json_array_get(data, 0);
    json_array_foreach(data, i, d) if (jint(d, "confidence_level") > conf) conf = jint(d, "confidence_level"), top = d;
    out->verdict = INTEL_MALICIOUS;
    out->score = clamp100(conf);
    strbuf b = {0};
    strbuf_printf(&b, "ThreatFox: %s %s (confidence %lld%%), first seen %s",
                  jstr(top, "malware_printable")[0] ? jstr(top, "malware_printable") : jstr(top, "malware"),
                  jstr(top, "threat_type"), conf, jstr(top, "first_seen"));
    if (json_array_size(json_object_get(top, "tags")))
        strbuf_puts(&b, "; tags: "), join(&b, json_object_get(top, "tags"), NULL, 5);
    set_text(out->summary, sizeof out->summary, &b);
    return INTEL_REDUCE_OK;
}

static int reduce_bazaar(const json_t *root, const intel_indicator *ind, intel_verdict *out, char *err,
                         size_t errlen)
{
    const char *st = abusech_status(root);
    if (!st)
        return bad(err, errlen, "MalwareBazaar answer without query_status");
    if (abusech_not_found(st)) {
        out->not_found = true;
        snprintf(out->summary, sizeof out->summary, "MalwareBazaar: not listed");
        abusech_link(out, "bazaar.abuse.ch", "", ind->value);
        return INTEL_REDUCE_OK;
    }
    json_t *d = json_array_get(json_object_get(root, "data"), 0);
    if (strcmp(st, "ok") || !json_is_object(d))
        return bad(err, errlen, "MalwareBazaar query_status is not ok");
    out->verdict = INTEL_MALICIOUS;
    out->score = 100;
    strbuf b = {0};
    strbuf_printf(&b, "MalwareBazaar: %s %s, first seen %s", jstr(d, "signature")[0] ? jstr(d, "signature") : "sample",
                  jstr(d, "file_type"), jstr(d, "first_seen"));
    if (json_array_size(json_object_get(d, "tags")))
        strbuf_puts(&b, "; tags: "), join(&b, json_object_get(d, "tags"), NULL, 5);
    set_text(out->summary, sizeof out->summary, &b);
    set_link(out, "https://bazaar.abuse.ch/sample/%s/",
             *jstr(d, "sha256_hash") ? jstr(d, "sha256_hash") : ind->value);
    return INTEL_REDUCE_OK;
}

/* "2024-01-02T03:04:05Z" (RFC 3339, any fraction/offset ignored) -> Unix seconds, or -1 */
static int64_t rfc3339(const char *s)
{
    struct tm tm = {0};
    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                     &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static int reduce_rdap(const json_t *root, const intel_indicator *ind, int64_t now_s, intel_verdict *out, char *err,
                       size_t errlen)
{
    const char *cls = json_string_value(json_object_get(root, "objectClassName"));
    if (!cls)
        return bad(err, errlen, "RDAP answer without objectClassName");
    strbuf b = {0};
    out->verdict = INTEL_UNKNOWN;
    if (!strcmp(cls, "domain")) {
        int64_t reg = -1;
        const char *regdate = "";
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(root, "events"), i, e)
        if (!strcmp(jstr(e, "eventAction"), "registration"))
            regdate = jstr(e, "eventDate"), reg = rfc3339(regdate);
        const char *registrar = "";
        json_t *ent;
        json_array_foreach(json_object_get(root, "entities"), i, ent)
        {
            size_t j;
            json_t *role;
            json_array_foreach(json_object_get(ent, "roles"), j, role)
            if (json_string_value(role) && !strcmp(json_string_value(role), "registrar")) {
                /* vcardArray: ["vcard", [["version",{},"text","4.0"], ["fn",{},"text","Name"], ...]] */
                size_t k;
                json_t *prop;
                json_array_foreach(json_array_get(json_object_get(ent, "vcardArray"), 1), k, prop)
                if (!strcmp(json_string_value(json_array_get(prop, 0)) ? json_string_value(json_array_get(prop, 0)) : "",
                            "fn") &&
                    json_string_value(json_array_get(prop, 3)))
                    registrar = json_string_value(json_array_get(prop, 3));
            }
        }
        strbuf_printf(&b, "RDAP %s", *jstr(root, "ldhName") ? jstr(root, "ldhName") : ind->value);
        if (reg >= 0) {
            int64_t days = (now_s - reg) / 86400;
            strbuf_printf(&b, " registered %.10s (%lld days ago)", regdate, (long long)days);
            if (days < 30)
                out->verdict = INTEL_SUSPICIOUS, out->score = 30;
        }
        if (*registrar)
            strbuf_printf(&b, ", registrar %s", registrar);
    } else if (!strcmp(cls, "ip network")) {
        strbuf_printf(&b, "RDAP %s %s-%s", *jstr(root, "name") ? jstr(root, "name") : jstr(root, "handle"),
                      jstr(root, "startAddress"), jstr(root, "endAddress"));
        if (*jstr(root, "country"))
            strbuf_printf(&b, " (%s)", jstr(root, "country"));
    } else if (!strcmp(cls, "autnum")) {
        strbuf_printf(&b, "RDAP AS%lld %s", jint(root, "startAutnum"), jstr(root, "name"));
        if (*jstr(root, "country"))
            strbuf_printf(&b, " (%s)", jstr(root, "country"));
    } else {
        strbuf_printf(&b, "RDAP %s %s", cls, jstr(root, "handle"));
    }
    set_text(out->summary, sizeof out->summary, &b);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(root, "links"), i, l)
    if (!strcmp(jstr(l, "rel"), "self") && *jstr(l, "href"))
        set_link(out, "%s", jstr(l, "href"));
    if (!out->link[0])
        set_link(out, "https://rdap.org/%s/%s",
                 ind->kind == INTEL_KIND_IP ? "ip" : ind->kind == INTEL_KIND_ASN ? "autnum" : "domain",
                 ind->kind == INTEL_KIND_ASN ? ind->value + 2 : ind->value);
    return INTEL_REDUCE_OK;
}

static const char *const display[INTEL_PROVIDER_COUNT] = {
    "VT", "AbuseIPDB", "OTX", "Shodan", "urlscan", "URLhaus", "ThreatFox", "MalwareBazaar", "RDAP",
};

int intel_reduce(intel_provider p, const intel_indicator *ind, long status, const char *body, size_t len,
                 int64_t now_s, intel_verdict *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->provider = p;
    out->kind = ind->kind;
    snprintf(out->value, sizeof out->value, "%s", ind->value);
    out->verdict = INTEL_UNKNOWN;
    if ((unsigned)p >= INTEL_PROVIDER_COUNT)
        return bad(err, errlen, "unknown provider");
    if (status == 404) {
        out->not_found = true;
        snprintf(out->summary, sizeof out->summary, "%s: no information", display[p]);
        /* the provider's page for the value exists even when it knows nothing */
        if (p == INTEL_VIRUSTOTAL)
            vt_link(ind, out);
        else if (p == INTEL_SHODAN)
            set_link(out, "https://www.shodan.io/host/%s", ind->value);
        else if (p == INTEL_ABUSEIPDB)
            set_link(out, "https://www.abuseipdb.com/check/%s", ind->value);
        return INTEL_REDUCE_OK;
    }
    if (status != 200) {
        snprintf(err, errlen, "%s answered HTTP %ld", display[p], status);
        return INTEL_REDUCE_BAD_ANSWER;
    }
    json_error_t je;
    json_t *root = body ? json_loadb(body, len, 0, &je) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, errlen, "%s answer is not a JSON object%s%s", display[p], body ? ": " : "",
                 body ? je.text : "");
        return INTEL_REDUCE_BAD_ANSWER;
    }
    int rc;
    switch (p) {
    case INTEL_VIRUSTOTAL: rc = reduce_vt(root, ind, out, err, errlen); break;
    case INTEL_ABUSEIPDB: rc = reduce_abuseipdb(root, ind, out, err, errlen); break;
    case INTEL_OTX: rc = reduce_otx(root, ind, out, err, errlen); break;
    case INTEL_SHODAN: rc = reduce_shodan(root, ind, out, err, errlen); break;
    case INTEL_URLSCAN: rc = reduce_urlscan(root, ind, out, err, errlen); break;
    case INTEL_URLHAUS: rc = reduce_urlhaus(root, ind, out, err, errlen); break;
    case INTEL_THREATFOX: rc = reduce_threatfox(root, ind, out, err, errlen); break;
    case INTEL_MALWAREBAZAAR: rc = reduce_bazaar(root, ind, out, err, errlen); break;
    default: rc = reduce_rdap(root, ind, now_s, out, err, errlen); break;
    }
    json_decref(root);
    return rc;
}
