/* enrich: indicator extraction and risk score (see enrich.h for the API).
 *
 * Extraction walks the payload depth-first in document order (jansson keeps an
 * object's insertion order) and then the attribute values. Every string value is
 * scanned twice over:
 *   - as a whole value: 32/40/64 hex characters (with at least one digit and one
 *     letter) are an MD5/SHA1/SHA256, unless the member's key ends in "id"
 *     (detectorId, FindingId, request_id...), where such strings are identifiers;
 *   - tokenised with one PCRE2 pattern (compiled once, JIT when available) that finds,
 *     left to right and without overlap: URLs (http, https, ftp; their host is also
 *     reported as a domain or IP), emails, IPv6 (validated by inet_pton), IPv4
 *     (inet_pton), domains. A string that is exactly one of these is simply a token
 *     covering the whole value.
 * Domain rule (domain tokens and URL hosts):
 *   - syntax: 2+ labels of letters/digits/hyphens (1-63 chars, no hyphen at either
 *     end), total <= 253, a last label of 2-24 letters (so IP addresses never match);
 *   - public suffix list (libpsl, the newer of its built-in copy and Debian's
 *     publicsuffix file, loaded once by enrich_new): the last label must be a TLD
 *     of the list's ICANN section ("com", "io", "uk", "zip"; not "guardduty",
 *     "xlarge", "doe", "firewall", "local", "internal", "json", "log"), and the name
 *     must have a registrable part under the ICANN rules, i.e. not be a public
 *     suffix itself ("co.uk" alone is not a domain; "github.io" and
 *     "s3.amazonaws.com", suffixes of the PRIVATE section only, still are). So
 *     "aws.guardduty", "m3.xlarge", "john.doe", "google.compute.firewall",
 *     "a.json", "app.log" or "host.corp.local" are not domains;
 *   - names that look like domains but are something else, for domain tokens of
 *     exactly two labels (a URL's host is always a host: "https://evil.zip/"
 *     yields the domain evil.zip):
 *       . a path component: right after a single '/' or '\' ("/tmp/x.com",
 *         "C:\Users\k.suzuki\AppData"; not after "//" or "\\", where hosts
 *         start: "hxxp://evil.com", "\\evil.com\share");
 *       . the key of key=value text: right before '=' ("fd.name=/etc/shadow");
 *       . a user name: the member's key is user, account, login, owner or actor,
 *         or ends in "username"/"accountname" (userName, TargetUserName,
 *         sAMAccountName), where first.last names meet brand TLDs (k.suzuki);
 *       . a file name: some file extensions are real TLDs (zip, py, sh, md, so, pl,
 *         mov, app, java, ...); ending in one of them under a JSON path with a
 *         word that names a file, path, process or command (file, fileName,
 *         FilePath, path, process, proc, Image, CommandLine, cmdline, script, ...).
 *     Trade-off, on purpose: elsewhere ("ping evil.zip" in a description,
 *     {"host": "point.md"}) such a name is a domain, so "README.md" in free text
 *     of a non-file field is reported as the domain readme.md.
 * Emails keep a syntactic rule for their domain (same syntax, last label not one of
 * the file extensions below) without the suffix list: internal addresses such as
 * bob@corp.local are worth keeping as indicators.
 * Values are normalised so that dedupe works: domains, emails and hashes lower-case,
 * IPv6 in inet_ntop's canonical form. Dedupe is on (type, value, path); at most
 * ENRICH_MAX_INDICATORS per alert.
 *
 * Paths: object keys joined by '.', array elements as [i] (detail.resources[0].id);
 * a key holding '.', '[', ']', '"', a space or nothing is written ["key"]. Attribute
 * values get "attributes.<key>".
 *
 * Risk score (0-100), deliberately simple and explainable:
 *     score = min(100, severity_score + min(25, 5 * public_ips))
 *   severity_score = the alert's severity score (common/severity.h: the policy's
 *          severity, else the normaliser's reading of the payload's hints);
 *   public_ips = distinct IPv4/IPv6 indicator values that are globally routable
 *          (enrich_ip_is_public: not private, loopback, link-local, CGNAT,
 *          multicast, reserved or documentation ranges).
 * With threat intel (enrich_risk_with_intel), the one formula for the final score:
 *     risk = min(100, base + intel_bonus)
 *   base = the score above (stored as alerts.risk_base);
 *   intel_bonus = 30 when any provider's verdict on any of the alert's indicators is
 *          malicious, else 15 when one is suspicious, else 0 (harmless and unknown
 *          never lower the score: a provider not knowing an IP proves nothing).
 *   It is computed when the alert is enriched (with the verdicts already cached) and
 *   again each time a pending verdict arrives (services/enrich/intel_store.c).
 *
 * Must stay true: no I/O, no clock, no randomness — the output is a function of
 * the input and of the public suffix list loaded by enrich_new (a process keeps the
 * list it started with; a newer publicsuffix package changes results only after a
 * restart). */
#include "services/enrich/enrich.h"

#include "common/msg.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <ctype.h>
#include <libpsl.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strbuf.h"

#define WALK_MAX_DEPTH 200

struct enrich_ctx {
    pcre2_code *tokens;
    psl_ctx_t *psl; /* owned (psl_free; a no-op for libpsl's built-in list) */
};

enum { G_URL = 1, G_EMAIL, G_IPV6, G_IPV4, G_DOMAIN };

/* One pattern, alternatives tried in this order at each position. The look-arounds
 * keep a match from starting or ending inside a longer word. */
static const char token_pattern[] =
    /* 1 url */
    "(?<![A-Za-z0-9])((?i:https?|ftp)://[^\\s\\x00-\\x1f\"'<>`{}|\\\\^\\[\\]]+)"
    /* 2 email */
    "|((?<![A-Za-z0-9._%+\\-])[A-Za-z0-9._%+\\-]{1,64}@"
    "(?:[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,24}(?![A-Za-z0-9_\\-]))"
    /* 3 ipv6 candidate: needs a colon in each of its first two groups */
    "|((?<![A-Za-z0-9_:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}"
    "(?:\\.[0-9]{1,3}){0,3}(?![A-Za-z0-9_:]))"
    /* 4 ipv4 */
    "|((?<![A-Za-z0-9_.])(?:[0-9]{1,3}\\.){3}[0-9]{1,3}(?![A-Za-z0-9_]|\\.[0-9]))"
    /* 5 domain */
    "|((?<![A-Za-z0-9_.@\\-])(?:[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?\\.){1,126}"
    "[A-Za-z]{2,24}(?![A-Za-z0-9_@\\-]|\\.[A-Za-z0-9]))";

enrich_ctx *enrich_new(char *err, size_t errlen)
{
    enrich_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int code;
    PCRE2_SIZE off;
    ctx->tokens = pcre2_compile((PCRE2_SPTR)token_pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (!ctx->tokens) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errlen, "token pattern at %zu: %s", (size_t)off, (const char *)msg);
        free(ctx);
        return NULL;
    }
    (void)pcre2_jit_compile(ctx->tokens, PCRE2_JIT_COMPLETE); /* interpreter if JIT is unavailable */
    /* The newer of libpsl's built-in list and the distribution's file; the built-in
     * one alone when the file is absent. */
    ctx->psl = psl_latest(NULL);
    if (!ctx->psl)
        ctx->psl = (psl_ctx_t *)psl_builtin();
    if (!ctx->psl) {
        snprintf(err, errlen, "no public suffix list: libpsl has no built-in list and %s is unreadable "
                              "(install the publicsuffix package)",
                 psl_dist_filename() ? psl_dist_filename() : "the distribution's file");
        pcre2_code_free(ctx->tokens);
        free(ctx);
        return NULL;
    }
    return ctx;
}

void enrich_free(enrich_ctx *ctx)
{
    if (!ctx)
        return;
    pcre2_code_free(ctx->tokens);
    psl_free(ctx->psl);
    free(ctx);
}

/* ---- indicator list with a dedupe set ---- */

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= 0xff; /* separator, so ("ab","c") != ("a","bc") */
    h *= 1099511628211ULL;
    return h;
}

static uint64_t ind_hash(const char *type, const char *value, const char *path)
{
    return fnv1a(fnv1a(fnv1a(1469598103934665603ULL, type), value), path);
}

void enrich_indicators_free(enrich_indicators *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].value);
        free(list->items[i].path);
    }
    free(list->items);
    free(list->slots);
    memset(list, 0, sizeof *list);
}

/* 0 added or duplicate or full, -1 OOM. value/path are copied. */
static int ind_add(enrich_indicators *l, const char *type, const char *value, const char *path)
{
    if (strlen(value) > ENRICH_MAX_VALUE_LEN || !*value)
        return 0;
    if (!l->slots) {
        l->nslots = 4096; /* > 2 * ENRICH_MAX_INDICATORS: probing always ends */
        l->slots = calloc(l->nslots, sizeof *l->slots);
        if (!l->slots)
            return -1;
    }
    uint64_t h = ind_hash(type, value, path);
    size_t i = (size_t)(h & (l->nslots - 1));
    while (l->slots[i]) {
        const enrich_indicator *it = &l->items[l->slots[i] - 1];
        if (!strcmp(it->type, type) && !strcmp(it->value, value) && !strcmp(it->path, path))
            return 0;
        i = (i + 1) & (l->nslots - 1);
    }
    if (l->count >= ENRICH_MAX_INDICATORS) {
        l->truncated = true;
        return 0;
    }
    if (l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        enrich_indicator *n = realloc(l->items, ncap * sizeof *n);
        if (!n)
            return -1;
        l->items = n;
        l->cap = ncap;
    }
    char *v = strdup(value), *p = strdup(path);
    if (!v || !p) {
        free(v);
        free(p);
        return -1;
    }
    l->items[l->count] = (enrich_indicator){type, v, p};
    l->slots[i] = ++l->count;
    return 0;
}

/* ---- classification helpers ---- */

/* File extensions. Most are no TLD and the suffix list already rejects them; those
 * that are (zip, py, sh, md, so, pl, pm, rs, ps, cc, mk, ml, mov, app, cab, java)
 * matter for the file-name rule of the header, and every one of them for emails. */
static const char *const file_exts[] = {
    "json", "txt", "exe", "log", "png", "jpg", "jpeg", "gif", "bmp", "ico", "svg", "zip", "gz", "tgz",
    "tar", "rar", "html", "htm", "php", "js", "py", "sh", "dll", "so", "bin", "bat", "cmd", "vbs",
    "msi", "jar", "class", "java", "yaml", "yml", "xml", "csv", "conf", "cfg", "ini", "tmp", "bak",
    "pdf", "doc", "docx", "xls", "xlsx", "css", "sql", "pem", "crt", "key", "dat", "lnk", "md",
    "pl", "pm", "rs", "ps", "cc", "mk", "ml", "mov", "app", "cab",
    NULL};

static bool is_file_ext(const char *tld, size_t n)
{
    for (const char *const *e = file_exts; *e; e++)
        if (strlen(*e) == n && !strncasecmp(*e, tld, n))
            return true;
    return false;
}

/* The syntax of the domain rule on s[0..n): returns the number of labels (>= 2) and
 * sets *tld to the last label, or returns 0. */
static size_t domain_syntax(const char *s, size_t n, const char **tld)
{
    if (n < 4 || n > 253)
        return 0;
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            unsigned char c = (unsigned char)s[i];
            if (!isalnum(c) && c != '-')
                return 0;
            continue;
        }
        size_t len = i - start;
        if (len < 1 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return 0;
        labels++;
        if (i == n) { /* last label: the TLD */
            if (len < 2 || len > 24)
                return 0;
            for (size_t k = start; k < n; k++)
                if (!isalpha((unsigned char)s[k]))
                    return 0;
            *tld = s + start;
        }
        start = i + 1;
    }
    return labels >= 2 ? labels : 0;
}

/* An email's domain: the syntax, and a last label that is not a file extension. */
static bool email_domain_valid(const char *s, size_t n)
{
    const char *tld = NULL;
    return domain_syntax(s, n, &tld) && !is_file_ext(tld, (size_t)(s + n - tld));
}

/* The suffix-list part of the domain rule; name is lower-case and NUL-terminated,
 * tld points into it. */
static bool domain_public(const enrich_ctx *ctx, const char *name, const char *tld)
{
    return psl_is_public_suffix2(ctx->psl, tld, PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE) &&
           !psl_is_public_suffix2(ctx->psl, name, PSL_TYPE_ICANN);
}

/* Words of a JSON path that say its value is a file, a path, a process or a command
 * line. The path is cut into words at every character that is not a letter or a
 * digit and at camelCase humps ("TargetFilename" -> target, filename;
 * "ImageFileName" -> image, file, name; "URLPath" -> url, path). */
static bool path_names_file(const char *path)
{
    static const char *const words[] = {
        "file", "files", "filename", "filenames", "filepath", "path", "paths", "pathname", "dir",
        "directory", "folder", "cwd", "fd", "process", "processes", "proc", "exe", "executable", "image",
        "cmd", "cmdline", "command", "commandline", "script", "module", "attachment", "attachments",
        "archive", "binary", "program", "argv", "args", "arguments", NULL};
    char word[32];
    size_t wl = 0;
    for (size_t i = 0;; i++) {
        unsigned char c = (unsigned char)path[i];
        bool boundary = !isalnum(c);
        if (!boundary && isupper(c) && i > 0) {
            unsigned char p = (unsigned char)path[i - 1], nx = (unsigned char)path[i + 1];
            boundary = islower(p) || isdigit(p) || (isupper(p) && islower(nx));
        }
        if (boundary && wl) {
            if (wl < sizeof word) {
                word[wl] = 0;
                for (const char *const *w = words; *w; w++)
                    if (!strcmp(*w, word))
                        return true;
            }
            wl = 0;
        }
        if (!c)
            return false;
        if (isalnum(c)) {
            if (wl < sizeof word)
                word[wl] = (char)tolower(c);
            wl++;
        }
    }
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Copies s[0..n) into a NUL-terminated buffer (buf of bufsz); NULL if too long. */
static char *copy_n(char *buf, size_t bufsz, const char *s, size_t n)
{
    if (n >= bufsz)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = 0;
    return buf;
}

static bool is_hex_hash(const char *s, size_t n)
{
    if (n != 32 && n != 40 && n != 64)
        return false;
    bool digit = false, alpha = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isdigit(c))
            digit = true;
        else if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
            alpha = true;
        else
            return false;
    }
    return digit && alpha;
}

static bool key_is_id(const char *key)
{
    if (!key)
        return false;
    size_t n = strlen(key);
    return n >= 2 && tolower((unsigned char)key[n - 2]) == 'i' && tolower((unsigned char)key[n - 1]) == 'd';
}

/* ---- the walk ---- */

typedef struct {
    const enrich_ctx *ctx;
    enrich_indicators *out;
    pcre2_match_data *md;
    strbuf path; /* where the walk is, e.g. detail.resource[0].name; never NULL during it */
    int oom;
} walk;

static void add(walk *w, const char *type, const char *value)
{
    if (!w->oom && ind_add(w->out, type, value, w->path.p) < 0)
        w->oom = 1;
}

/* Appends to the path; returns the length to restore with path_pop. */
static size_t path_push(walk *w, const char *key, long index)
{
    size_t saved = w->path.len;
    if (!key) {
        strbuf_printf(&w->path, "[%ld]", index);
    } else if (!*key || strpbrk(key, ".[]\" \t\n")) {
        json_t *js = json_string(key);
        char *quoted = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
        json_decref(js);
        if (!quoted) {
            w->oom = 1;
            return saved;
        }
        strbuf_printf(&w->path, "[%s]", quoted);
        free(quoted);
    } else {
        strbuf_printf(&w->path, "%s%s", saved > 0 ? "." : "", key);
    }
    if (w->path.failed) {
        w->oom = 1;
        return saved;
    }
    if (w->path.len > ENRICH_MAX_PATH_LEN) { /* keep it indexable; the prefix still says where */
        memcpy(w->path.p + ENRICH_MAX_PATH_LEN - 3, "...", 4);
        w->path.len = ENRICH_MAX_PATH_LEN;
    }
    return saved;
}

static void path_pop(walk *w, size_t saved)
{
    if (w->path.p && saved <= w->path.len) {
        w->path.len = saved;
        w->path.p[saved] = 0;
    }
}

/* True when the member key names a user (the user-name rule of the header). */
static bool key_names_user(const char *key)
{
    if (!key)
        return false;
    char k[64];
    size_t n = 0;
    for (const char *p = key; *p; p++)
        if (isalnum((unsigned char)*p)) {
            if (n + 1 >= sizeof k)
                return false;
            k[n++] = (char)tolower((unsigned char)*p);
        }
    k[n] = 0;
    static const char *const exact[] = {"user", "account", "login", "owner", "actor", NULL};
    for (const char *const *e = exact; *e; e++)
        if (!strcmp(k, *e))
            return true;
    return (n >= 8 && !strcmp(k + n - 8, "username")) || (n >= 11 && !strcmp(k + n - 11, "accountname"));
}

/* How a domain candidate was found, for the rules on two-label names of the header. */
enum { AS_HOST, AS_TOKEN, AS_PATH_COMPONENT, AS_KEY };

static void add_ip_or_domain(walk *w, const char *s, size_t n, int found, const char *key)
{
    const char *tld = NULL;
    size_t labels;
    char buf[300], canon[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    if (!copy_n(buf, sizeof buf, s, n))
        return;
    if (inet_pton(AF_INET, buf, addr) == 1) {
        add(w, "ipv4", buf);
    } else if (inet_pton(AF_INET6, buf, addr) == 1) {
        static const unsigned char zero[16];
        if (memcmp(addr, zero, 16) && inet_ntop(AF_INET6, addr, canon, sizeof canon))
            add(w, "ipv6", canon);
    } else if ((labels = domain_syntax(buf, n, &tld)) != 0) {
        lower(buf);
        if (!domain_public(w->ctx, buf, tld))
            return;
        if (found != AS_HOST && labels == 2) {
            if (found == AS_PATH_COMPONENT || found == AS_KEY || key_names_user(key))
                return; /* /tmp/x.com, C:\Users\k.suzuki, fd.name=..., {"userName": "k.suzuki"} */
            if (is_file_ext(tld, (size_t)(buf + n - tld)) && path_names_file(w->path.p))
                return; /* a file name: install.sh, setup.py, README.md */
        }
        add(w, "domain", buf);
    }
}

static void add_url(walk *w, const char *s, size_t n)
{
    while (n > 0 && strchr(".,;:!?)'", s[n - 1]))
        n--;
    if (n > ENRICH_MAX_VALUE_LEN)
        return;
    const char *sep = memchr(s, ':', n);
    if (!sep || (size_t)(sep - s) + 3 >= n)
        return; /* nothing after "://" */
    char buf[ENRICH_MAX_VALUE_LEN + 1];
    copy_n(buf, sizeof buf, s, n);
    add(w, "url", buf);
    /* host: between "://" (after any userinfo@) and the first of / ? # (or :port) */
    const char *a = sep + 3, *end = s + n, *e = a;
    while (e < end && *e != '/' && *e != '?' && *e != '#')
        e++;
    for (const char *q = e; q > a; q--)
        if (q[-1] == '@') {
            a = q;
            break;
        }
    if (a < e && *a == '[') {
        const char *rb = memchr(a, ']', (size_t)(e - a));
        if (rb)
            add_ip_or_domain(w, a + 1, (size_t)(rb - a - 1), AS_HOST, NULL);
        return;
    }
    const char *colon = memchr(a, ':', (size_t)(e - a));
    if (colon)
        e = colon;
    if (e > a && e[-1] == '.')
        e--;
    add_ip_or_domain(w, a, (size_t)(e - a), AS_HOST, NULL);
}

static void scan_string(walk *w, const char *s, size_t n, const char *key)
{
    /* whole-value hash */
    size_t a = 0, b = n;
    while (a < b && isspace((unsigned char)s[a]))
        a++;
    while (b > a && isspace((unsigned char)s[b - 1]))
        b--;
    if (is_hex_hash(s + a, b - a) && !key_is_id(key)) {
        char buf[65];
        copy_n(buf, sizeof buf, s + a, b - a);
        lower(buf);
        add(w, b - a == 32 ? "md5" : b - a == 40 ? "sha1" : "sha256", buf);
        return;
    }
    /* tokens */
    PCRE2_SIZE off = 0;
    while (off < n && !w->oom && !w->out->truncated) {
        int rc = pcre2_match(w->ctx->tokens, (PCRE2_SPTR)s, n, off, 0, w->md, NULL);
        if (rc <= 0)
            break; /* no match, or match limit: stop scanning this string */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
        int g = rc - 1; /* the only set group is the last one reported */
        const char *t = s + ov[2 * g];
        size_t tl = ov[2 * g + 1] - ov[2 * g];
        char buf[ENRICH_MAX_VALUE_LEN + 1];
        switch (g) {
        case G_URL:
            add_url(w, t, tl);
            break;
        case G_EMAIL:
            if (copy_n(buf, sizeof buf, t, tl)) {
                const char *at = strrchr(buf, '@');
                if (at && email_domain_valid(at + 1, strlen(at + 1)) && buf[0] != '.') {
                    lower(buf);
                    add(w, "email", buf);
                }
            }
            break;
        case G_IPV6: {
            while (tl > 0 && t[tl - 1] == '.')
                tl--;
            if (memchr(t, ':', tl))
                add_ip_or_domain(w, t, tl, AS_TOKEN, key); /* inet_pton decides; times like 15:32:49 fail */
            break;
        }
        case G_IPV4:
            add_ip_or_domain(w, t, tl, AS_TOKEN, key);
            break;
        case G_DOMAIN: {
            size_t at = (size_t)(t - s);
            bool in_path = at >= 1 && (s[at - 1] == '/' || s[at - 1] == '\\') &&
                           !(at >= 2 && s[at - 2] == s[at - 1]);
            bool is_key = at + tl < n && s[at + tl] == '=';
            add_ip_or_domain(w, t, tl, in_path ? AS_PATH_COMPONENT : is_key ? AS_KEY : AS_TOKEN, key);
            break;
        }
        default:
            break;
        }
        PCRE2_SIZE next = ov[1];
        off = next > off ? next : off + 1;
    }
}

static void walk_value(walk *w, const json_t *v, const char *key, int depth)
{
    if (w->oom || depth > WALK_MAX_DEPTH || w->out->truncated)
        return;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child) {
            size_t saved = path_push(w, k, 0);
            walk_value(w, child, k, depth + 1);
            path_pop(w, saved);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            size_t saved = path_push(w, NULL, (long)i);
            walk_value(w, child, key, depth + 1); /* elements inherit the key: ids stay ids */
            path_pop(w, saved);
        }
        break;
    }
    case JSON_STRING:
        scan_string(w, json_string_value(v), strlen(json_string_value(v)), key);
        break;
    default:
        break;
    }
}

int enrich_extract(const enrich_ctx *ctx, const json_t *payload, Hutch__V1__Attribute *const *attrs,
                   size_t n_attrs, enrich_indicators *out)
{
    if (!ctx || !out)
        return -1;
    walk w = {.ctx = ctx, .out = out};
    w.md = pcre2_match_data_create_from_pattern(ctx->tokens, NULL);
    if (!w.md || strbuf_add(&w.path, "", 0) != 0) { /* the path starts as "" */
        pcre2_match_data_free(w.md);
        strbuf_free(&w.path);
        return -1;
    }
    if (payload)
        walk_value(&w, payload, NULL, 0);
    if (n_attrs && attrs) {
        size_t saved = path_push(&w, "attributes", 0);
        for (size_t i = 0; i < n_attrs && !w.oom; i++) {
            const Hutch__V1__Attribute *at = attrs[i];
            if (!at || !at->value || !*at->value)
                continue;
            const char *k = at->key ? at->key : "";
            size_t s2 = path_push(&w, k, 0);
            scan_string(&w, at->value, strlen(at->value), k);
            path_pop(&w, s2);
        }
        path_pop(&w, saved);
    }
    pcre2_match_data_free(w.md);
    strbuf_free(&w.path);
    return w.oom ? -1 : 0;
}

/* ---- risk score ---- */

static bool v4_in(uint32_t ip, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (ip & mask) == net;
}

static bool v4_public(uint32_t ip)
{
    static const struct {
        uint32_t net;
        int bits;
    } special[] = {
        {0x00000000, 8},  /* this network */
        {0x0a000000, 8},  /* private */
        {0x64400000, 10}, /* CGNAT */
        {0x7f000000, 8},  /* loopback */
        {0xa9fe0000, 16}, /* link-local */
        {0xac100000, 12}, /* private */
        {0xc0000000, 24}, /* IETF protocol assignments */
        {0xc0000200, 24}, /* TEST-NET-1 */
        {0xc0a80000, 16}, /* private */
        {0xc6120000, 15}, /* benchmarking */
        {0xc6336400, 24}, /* TEST-NET-2 */
        {0xcb007100, 24}, /* TEST-NET-3 */
        {0xe0000000, 4},  /* multicast */
        {0xf0000000, 4},  /* reserved, broadcast */
    };
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (v4_in(ip, special[i].net, special[i].bits))
            return false;
    return true;
}

bool enrich_ip_is_public(const char *text)
{
    unsigned char a[16];
    if (!text)
        return false;
    if (inet_pton(AF_INET, text, a) == 1)
        return v4_public((uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3]);
    if (inet_pton(AF_INET6, text, a) != 1)
        return false;
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(a, v4mapped, 12))
        return v4_public((uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15]);
    if ((a[0] & 0xe0) != 0x20) /* global unicast is 2000::/3 */
        return false;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* 2001:db8::/32 documentation */
        return false;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) /* 2001::/32 Teredo */
        return false;
    return true;
}

double enrich_risk_score(int severity_score, const enrich_indicators *ind)
{
    int base = severity_score;
    int public_ips = 0;
    for (size_t i = 0; ind && i < ind->count; i++) {
        const enrich_indicator *it = &ind->items[i];
        if (strcmp(it->type, "ipv4") && strcmp(it->type, "ipv6"))
            continue;
        bool seen = false; /* distinct values: the same IP at two paths counts once */
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(ind->items[j].type, it->type) && !strcmp(ind->items[j].value, it->value);
        if (!seen && enrich_ip_is_public(it->value) && ++public_ips >= 5)
            break;
    }
    int bonus = 5 * public_ips;
    if (bonus > 25)
        bonus = 25;
    int score = base + bonus;
    return score > 100 ? 100 : score < 0 ? 0 : score;
}

double enrich_risk_with_intel(double base, int worst)
{
    double bonus = worst >= 3 ? 30 : worst == 2 ? 15 : 0;
    double score = base + bonus;
    return score > 100 ? 100 : score < 0 ? 0 : score;
}

/* ---- output ---- */

uint8_t *enrich_pack(Hutch__V1__Alert *a, const enrich_indicators *ind, const char *severity, int severity_score,
                     double risk_score, size_t *len)
{
    return enrich_pack_intel(a, ind, severity, severity_score, risk_score, NULL, 0, len);
}

uint8_t *enrich_pack_intel(Hutch__V1__Alert *a, const enrich_indicators *ind, const char *severity, int severity_score,
                           double risk_score, Hutch__V1__IntelVerdict **intel, size_t n_intel, size_t *len)
{
    Hutch__V1__Indicator *items = calloc(ind->count ? ind->count : 1, sizeof *items);
    Hutch__V1__Indicator **ptrs = calloc(ind->count ? ind->count : 1, sizeof *ptrs);
    uint8_t *buf = NULL;
    if (!items || !ptrs)
        goto out;
    for (size_t i = 0; i < ind->count; i++) {
        hutch__v1__indicator__init(&items[i]);
        /* protobuf-c's fields are char *, but packing never writes through them */
        items[i].type = (char *)ind->items[i].type;
        items[i].value = ind->items[i].value;
        items[i].path = ind->items[i].path;
        ptrs[i] = &items[i];
    }
    char seed[128];
    snprintf(seed, sizeof seed, "%s/enriched/0", a->meta->id);
    int64_t created = a->meta->created_unix_ms ? a->meta->created_unix_ms : a->created_unix_ms;
    msg_meta_buf mb;
    msg_meta_init(&mb, a->meta->trace_id, ENRICH_PRODUCER, created, seed);

    /* The copy shares a's strings: packing never writes through them. The payload stops
     * here: nothing after enrich reads it (events.payload keeps it). */
    Hutch__V1__Alert out = *a;
    out.meta = &mb.meta;
    out.n_indicators = ind->count;
    out.indicators = ptrs;
    out.risk_score = risk_score;
    out.severity = (char *)severity;
    out.severity_score = severity_score;
    out.payload_json = "";
    out.n_intel = n_intel;
    out.intel = intel;
    buf = msg_pack(&out.base, len);
out:
    free(items);
    free(ptrs);
    return buf;
}

