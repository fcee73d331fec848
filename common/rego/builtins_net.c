/* Rego builtins: CIDR arithmetic (net.cidr_contains, net.cidr_intersects,
 * net.cidr_is_valid, net.cidr_expand, net.cidr_merge, net.cidr_contains_matches,
 * and the deprecated net.cidr_overlap).
 *
 * Addresses are parsed with inet_pton into a 16-byte big-endian form plus a
 * family; IPv4 lives in the last 4 bytes so prefix arithmetic is the same code for
 * both families (an IPv4 prefix p is IPv6-style prefix 96+p internally). Parsing
 * follows Go's net.ParseCIDR / net.ParseIP as OPA uses them: an IPv4-mapped IPv6
 * literal is treated as IPv4 when matching, zones are refused, and the error text
 * is Go's "invalid CIDR address: <s>".
 *
 * net.lookup_ip_addr is deliberately absent: policies get no DNS.
 * No static mutable state: safe from any number of threads. A string's parses are
 * attached to the value itself (rv_aux, published atomically), so an allow-list of
 * CIDRs in data is parsed once, not on every call.
 */
#include "rego/builtins.h"
#include "rego/value_int.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_EXPAND_MAX (1u << 20) /* refuse to build sets larger than this */

typedef struct {
    unsigned char b[16];
    bool v4;    /* IPv4 (or IPv4-mapped IPv6, as Go's To4 sees it) */
    int prefix; /* 0..128 in the 16-byte space */
} net_cidr;

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses an address (no prefix). Returns false if it is not an IP literal. */
static bool net_parse_ip(const char *s, size_t n, net_cidr *c, bool *literal_v4)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n) != NULL) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(c, 0, sizeof *c);
    if (strchr(buf, ':') == NULL) {
        unsigned char v4[4];
        if (inet_pton(AF_INET, buf, v4) != 1) return false;
        memcpy(c->b, v4_mapped_prefix, 12);
        memcpy(c->b + 12, v4, 4);
        c->v4 = true;
        c->prefix = 128;
        *literal_v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, buf, c->b) != 1) return false;
    c->v4 = memcmp(c->b, v4_mapped_prefix, 12) == 0;
    c->prefix = 128;
    *literal_v4 = false;
    return true;
}

static void net_mask(net_cidr *c)
{
    for (int i = 0; i < 16; i++) {
        int bits = c->prefix - 8 * i;
        unsigned char m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
        c->b[i] &= m;
    }
}

/* Go's net.ParseCIDR: "<ip>/<decimal prefix>", the prefix bounded by the literal's
 * family (32 for dotted quads, 128 for anything with a colon). The address is
 * masked to the network. */
static bool net_parse_cidr(const char *s, size_t n, net_cidr *c)
{
    const char *slash = memchr(s, '/', n);
    if (slash == NULL) return false;
    bool lit4;
    if (!net_parse_ip(s, (size_t)(slash - s), c, &lit4)) return false;
    const char *p = slash + 1, *end = s + n;
    if (p == end) return false;
    long v = 0;
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p)) return false;
        v = v * 10 + (*p - '0');
        if (v > 0xffffff) return false;
    }
    int bits = lit4 ? 32 : 128;
    if (v > bits) return false;
    c->prefix = lit4 ? 96 + (int)v : (int)v;
    /* an IPv4-mapped IPv6 network only behaves as IPv4 if the mask covers ::ffff */
    if (!lit4 && c->v4 && c->prefix < 96) c->v4 = false;
    net_mask(c);
    return true;
}

/* Go's net.ParseIP/IPNet.Contains: does network a contain address ip? */
static bool net_contains_ip(const net_cidr *a, const net_cidr *ip)
{
    if (a->v4 != ip->v4) return false;
    /* as two 64-bit big-endian words: the address's bits under the mask must equal
     * the network's, and the network's bits beyond the prefix must be zero */
    uint64_t ah, al, ih, il;
    memcpy(&ah, a->b, 8);
    memcpy(&al, a->b + 8, 8);
    memcpy(&ih, ip->b, 8);
    memcpy(&il, ip->b + 8, 8);
    ah = __builtin_bswap64(ah), al = __builtin_bswap64(al);
    ih = __builtin_bswap64(ih), il = __builtin_bswap64(il);
    int p = a->prefix < 0 ? 0 : a->prefix > 128 ? 128 : a->prefix;
    uint64_t mh = p >= 64 ? ~0ull : p == 0 ? 0 : ~0ull << (64 - p);
    uint64_t ml = p >= 128 ? ~0ull : p <= 64 ? 0 : ~0ull << (128 - p);
    return ((ih & mh) == ah) && ((il & ml) == al);
}

static void net_last(const net_cidr *c, net_cidr *last)
{
    *last = *c;
    for (int i = 0; i < 16; i++) {
        int bits = c->prefix - 8 * i;
        unsigned char m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
        last->b[i] |= (unsigned char)~m;
    }
    last->prefix = 128;
}

/* Go's IP.String(): dotted quad for IPv4 (and IPv4-mapped), otherwise RFC 5952 with
 * the first longest run (>= 2 groups) of zeros shortened and no embedded IPv4
 * (glibc's inet_ntop would print ::192.0.2.1 where Go prints ::c000:201). */
static void net_format_ip(const net_cidr *c, char *out, size_t outlen)
{
    if (c->v4) {
        snprintf(out, outlen, "%u.%u.%u.%u", c->b[12], c->b[13], c->b[14], c->b[15]);
        return;
    }
    unsigned g[8];
    for (int i = 0; i < 8; i++) g[i] = (unsigned)c->b[2 * i] << 8 | c->b[2 * i + 1];
    int best = -1, bestlen = 0;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0) j++;
        if (j - i > bestlen) {
            best = i;
            bestlen = j - i;
        }
        i = j > i ? j : i + 1;
    }
    if (bestlen < 2) best = -1;
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            k += (size_t)snprintf(out + k, outlen - k, "::");
            i += bestlen - 1;
            continue;
        }
        if (i > 0 && !(best >= 0 && i == best + bestlen)) k += (size_t)snprintf(out + k, outlen - k, ":");
        k += (size_t)snprintf(out + k, outlen - k, "%x", g[i]);
    }
}

static rv *net_cidr_text(const net_cidr *c)
{
    char ip[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 8];
    net_format_ip(c, ip, sizeof ip);
    snprintf(buf, sizeof buf, "%s/%d", ip, c->v4 ? c->prefix - 96 : c->prefix);
    return rv_cstring(buf);
}

static int net_bad_cidr(rego_bctx *ctx, const char *name, const rv *s)
{
    return rego_bctx_errorf(ctx, "%s: invalid CIDR address: %s", name, rv_str(s));
}

/* Both parses of a string (as a CIDR and as an address), attached to the string
 * value (rv_aux) on first use: an allow-list of CIDRs in data, or the address being
 * checked against it, is parsed once rather than once per call. */
typedef struct {
    rv_aux base;
    bool is_cidr, is_ip;
    net_cidr cidr, ip;
    /* as 64-bit words (host order): the network, its mask, the address */
    uint64_t nh, nl, mh, ml, ih, il;
} net_parsed;

static void net_words(const unsigned char *b, uint64_t *hi, uint64_t *lo)
{
    uint64_t h = 0, l = 0;
    for (int i = 0; i < 8; i++) {
        h = h << 8 | b[i];
        l = l << 8 | b[8 + i];
    }
    *hi = h;
    *lo = l;
}

static void net_parsed_free(rv_aux *a) { free(a); }

static const net_parsed *net_parsed_of(const rv *s)
{
    rv_aux *a = rvi_aux(s);
    if (a && a->kind == RV_AUX_CIDR) return (const net_parsed *)a;
    if (!a) {
        net_parsed *p = calloc(1, sizeof *p);
        if (!p) return NULL;
        p->base.kind = RV_AUX_CIDR;
        p->base.free_fn = net_parsed_free;
        bool lit4;
        p->is_cidr = net_parse_cidr(rv_str(s), rv_strlen(s), &p->cidr);
        p->is_ip = net_parse_ip(rv_str(s), rv_strlen(s), &p->ip, &lit4);
        if (p->is_cidr) {
            int pf = p->cidr.prefix < 0 ? 0 : p->cidr.prefix > 128 ? 128 : p->cidr.prefix;
            net_words(p->cidr.b, &p->nh, &p->nl);
            p->mh = pf >= 64 ? ~0ull : pf == 0 ? 0 : ~0ull << (64 - pf);
            p->ml = pf >= 128 ? ~0ull : pf <= 64 ? 0 : ~0ull << (128 - pf);
        }
        if (p->is_ip) net_words(p->ip.b, &p->ih, &p->il);
        a = rv_aux_attach(s, &p->base);
    }
    return a && a->kind == RV_AUX_CIDR ? (const net_parsed *)a : NULL;
}

/* cidr_contains(a, b): b is a CIDR (contained entirely) or an IP. Returns 1/0, or
 * -1 after recording an error. */
static int net_contains(rego_bctx *ctx, const char *name, const rv *a, const rv *b)
{
    net_cidr na, nb;
    const net_parsed *pa = net_parsed_of(a), *pb = pa ? net_parsed_of(b) : NULL;
    if (pa && pb) {
        if (!pa->is_cidr) return net_bad_cidr(ctx, name, a), -1;
        if (!pb->is_cidr && pb->is_ip) /* net_contains_ip on the precomputed words */
            return pa->cidr.v4 == pb->ip.v4 && (pb->ih & pa->mh) == pa->nh && (pb->il & pa->ml) == pa->nl;
    }
    if (!net_parse_cidr(rv_str(a), rv_strlen(a), &na)) return net_bad_cidr(ctx, name, a), -1;
    if (net_parse_cidr(rv_str(b), rv_strlen(b), &nb)) {
        net_cidr last;
        net_last(&nb, &last);
        nb.prefix = 128;
        return net_contains_ip(&na, &nb) && net_contains_ip(&na, &last);
    }
    bool lit4;
    if (!net_parse_ip(rv_str(b), rv_strlen(b), &nb, &lit4)) {
        rego_bctx_errorf(ctx, "%s: invalid IP address: %s", name, rv_str(b));
        return -1;
    }
    return net_contains_ip(&na, &nb);
}

static int bi_cidr_contains(rego_bctx *ctx, rv *const *args, rv **out)
{
    /* both strings already parsed (an allow-list after its first use): no calls */
    rv_aux *xa = rvi_aux(args[0]), *xb = rvi_aux(args[1]);
    if (xa && xb && xa->kind == RV_AUX_CIDR && xb->kind == RV_AUX_CIDR) {
        const net_parsed *pa = (const net_parsed *)xa, *pb = (const net_parsed *)xb;
        if (pa->is_cidr && !pb->is_cidr && pb->is_ip) {
            *out = rvi_bool(pa->cidr.v4 == pb->ip.v4 && (pb->ih & pa->mh) == pa->nh && (pb->il & pa->ml) == pa->nl);
            return REGO_OK;
        }
    }
    int r = net_contains(ctx, "net.cidr_contains", args[0], args[1]);
    if (r < 0) return REGO_ERR;
    *out = rv_bool(r);
    return REGO_OK;
}

static int net_intersects(rego_bctx *ctx, const char *name, rv *const *args, rv **out)
{
    net_cidr a, b;
    if (!net_parse_cidr(rv_str(args[0]), rv_strlen(args[0]), &a)) return net_bad_cidr(ctx, name, args[0]);
    if (!net_parse_cidr(rv_str(args[1]), rv_strlen(args[1]), &b)) return net_bad_cidr(ctx, name, args[1]);
    net_cidr ab = a, bb = b;
    ab.prefix = bb.prefix = 128;
    *out = rv_bool(net_contains_ip(&a, &bb) || net_contains_ip(&b, &ab));
    return REGO_OK;
}

static int bi_cidr_intersects(rego_bctx *ctx, rv *const *args, rv **out)
{
    return net_intersects(ctx, "net.cidr_intersects", args, out);
}

/* Deprecated: net.cidr_overlap(cidr, ip) is cidr_contains restricted to an IP. */
static int bi_cidr_overlap(rego_bctx *ctx, rv *const *args, rv **out)
{
    net_cidr a, ip;
    bool lit4;
    if (!net_parse_cidr(rv_str(args[0]), rv_strlen(args[0]), &a)) return net_bad_cidr(ctx, "net.cidr_overlap", args[0]);
    if (!net_parse_ip(rv_str(args[1]), rv_strlen(args[1]), &ip, &lit4)) {
        *out = rv_bool(false);
        return REGO_OK;
    }
    *out = rv_bool(net_contains_ip(&a, &ip));
    return REGO_OK;
}

static int bi_cidr_is_valid(rego_bctx *ctx, rv *const *args, rv **out)
{
    (void)ctx;
    net_cidr c;
    *out = rv_bool(net_parse_cidr(rv_str(args[0]), rv_strlen(args[0]), &c));
    return REGO_OK;
}

static void net_incr(net_cidr *c)
{
    for (int i = 15; i >= 0; i--)
        if (++c->b[i] != 0) break;
}

static int bi_cidr_expand(rego_bctx *ctx, rv *const *args, rv **out)
{
    net_cidr c;
    if (!net_parse_cidr(rv_str(args[0]), rv_strlen(args[0]), &c)) return net_bad_cidr(ctx, "net.cidr_expand", args[0]);
    int host_bits = 128 - c.prefix;
    if (host_bits > 20)
        return rego_bctx_errorf(ctx, "net.cidr_expand: CIDR %s has more than %u addresses", rv_str(args[0]),
                                NET_EXPAND_MAX);
    size_t count = (size_t)1 << host_bits;
    rv *set = rv_set_new(count);
    net_cidr ip = c;
    ip.prefix = 128;
    for (size_t i = 0; i < count; i++) {
        char buf[INET6_ADDRSTRLEN];
        net_format_ip(&ip, buf, sizeof buf);
        rv_set_add(set, rv_cstring(buf));
        net_incr(&ip);
    }
    *out = set;
    return REGO_OK;
}

/* ---- cidr_merge ------------------------------------------------------- */

static int net_cmp_cidr(const void *x, const void *y)
{
    const net_cidr *a = x, *b = y;
    if (a->v4 != b->v4) return a->v4 ? -1 : 1;
    int c = memcmp(a->b, b->b, 16);
    if (c != 0) return c;
    return a->prefix - b->prefix;
}

/* Go's ip.DefaultMask(): classful prefix for IPv4, none for IPv6. */
static bool net_default_network(const char *s, size_t n, net_cidr *c)
{
    bool lit4;
    if (!net_parse_ip(s, n, c, &lit4)) return false;
    if (!c->v4) return false;
    unsigned char first = c->b[12];
    c->prefix = 96 + (first < 0x80 ? 8 : first < 0xc0 ? 16 : 24);
    net_mask(c);
    return true;
}

/* Sorts, drops networks covered by an earlier one, and joins sibling halves until
 * nothing changes. Works on one family at a time; v4 sorts before v6. */
static size_t net_merge_list(net_cidr *v, size_t n)
{
    bool changed = true;
    while (changed && n > 0) {
        changed = false;
        qsort(v, n, sizeof *v, net_cmp_cidr);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (k > 0) {
                net_cidr *prev = &v[k - 1];
                net_cidr probe = v[i];
                probe.prefix = 128;
                if (prev->v4 == v[i].v4 && prev->prefix <= v[i].prefix && net_contains_ip(prev, &probe)) {
                    continue; /* covered */
                }
                /* siblings: same prefix, same parent */
                int minp = prev->v4 ? 96 : 0;
                if (prev->v4 == v[i].v4 && prev->prefix == v[i].prefix && prev->prefix > minp) {
                    net_cidr parent = *prev;
                    parent.prefix--;
                    net_mask(&parent);
                    if (net_contains_ip(&parent, &probe)) {
                        *prev = parent;
                        changed = true;
                        continue;
                    }
                }
            }
            v[k++] = v[i];
        }
        n = k;
    }
    return n;
}

static int bi_cidr_merge(rego_bctx *ctx, rv *const *args, rv **out)
{
    const rv *in = args[0];
    size_t n = rv_len(in);
    net_cidr *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL) return rego_bctx_errorf(ctx, "net.cidr_merge: out of memory");
    for (size_t i = 0; i < n; i++) {
        const rv *e = rv_typeof(in) == RV_ARRAY ? rv_array_at(in, i) : rv_set_at(in, i);
        if (rv_typeof(e) != RV_STRING) {
            free(v);
            return rego_bctx_type_errorf(ctx, "net.cidr_merge: operand 1 must be string but got %s", rv_type_name(e));
        }
        const char *s = rv_str(e);
        size_t len = rv_strlen(e);
        if (memchr(s, '/', len)) {
            if (!net_parse_cidr(s, len, &v[i])) {
                free(v);
                return net_bad_cidr(ctx, "net.cidr_merge", e);
            }
        } else if (!net_default_network(s, len, &v[i])) {
            bool lit4;
            net_cidr tmp;
            free(v);
            if (net_parse_ip(s, len, &tmp, &lit4))
                return rego_bctx_errorf(ctx, "net.cidr_merge: IPv6 invalid: needs prefix length");
            return rego_bctx_errorf(ctx, "net.cidr_merge: IP address %s invalid", s);
        }
    }
    /* OPA prints a bare IP that merged with nothing as given ("192.168.0.1" ->
     * "192.168.0.1/24", its classful prefix, host bits kept): remember them */
    net_cidr *bare = NULL;
    size_t nbare = 0;
    for (size_t i = 0; i < n; i++) {
        const rv *e = rv_typeof(in) == RV_ARRAY ? rv_array_at(in, i) : rv_set_at(in, i);
        if (memchr(rv_str(e), '/', rv_strlen(e))) continue;
        if (!bare && !(bare = calloc(n, sizeof *bare))) break;
        bool lit4;
        if (net_parse_ip(rv_str(e), rv_strlen(e), &bare[nbare], &lit4)) {
            bare[nbare].prefix = v[i].prefix;
            nbare++;
        }
    }
    net_cidr *orig = nbare ? malloc(n * sizeof *orig) : NULL;
    if (orig) memcpy(orig, v, n * sizeof *orig);
    size_t m = net_merge_list(v, n);
    rv *arr = rv_array_new(m);
    for (size_t i = 0; i < m; i++) {
        const net_cidr *show = &v[i];
        for (size_t b = 0; orig && b < nbare; b++) {
            net_cidr probe = bare[b];
            probe.prefix = 128;
            if (bare[b].v4 != v[i].v4 || bare[b].prefix != v[i].prefix || !net_contains_ip(&v[i], &probe)) continue;
            size_t inside = 0; /* inputs this output stands for */
            for (size_t k = 0; k < n; k++) {
                net_cidr pk = orig[k];
                pk.prefix = 128;
                inside += orig[k].v4 == v[i].v4 && orig[k].prefix >= v[i].prefix && net_contains_ip(&v[i], &pk);
            }
            if (inside == 1) show = &bare[b];
            break;
        }
        rv_array_push(arr, net_cidr_text(show));
    }
    free(bare);
    free(orig);
    free(v);
    *out = arr;
    return REGO_OK;
}

/* ---- cidr_contains_matches -------------------------------------------- */

typedef struct {
    rv *key; /* BORROWED from the operand, or NEW for array indices */
    const rv *cidr;
    bool own_key;
} net_item;

/* Flattens an operand (string, array, set or object) into (key, cidr string) pairs.
 * Returns count, or -1 after recording an error. */
static long net_items(rego_bctx *ctx, const rv *op, int opno, net_item **items)
{
    const char *name = "net.cidr_contains_matches";
    size_t n = rv_typeof(op) == RV_STRING ? 1 : rv_len(op);
    net_item *it = calloc(n ? n : 1, sizeof *it);
    if (it == NULL) {
        rego_bctx_errorf(ctx, "%s: out of memory", name);
        return -1;
    }
    if (rv_typeof(op) == RV_STRING) {
        it[0].key = (rv *)op;
        it[0].cidr = op;
        *items = it;
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        rv *elem;
        switch (rv_typeof(op)) {
        case RV_ARRAY:
            elem = rv_array_at(op, i);
            it[i].key = rv_int((int64_t)i);
            it[i].own_key = true;
            break;
        case RV_SET:
            elem = rv_set_at(op, i);
            it[i].key = elem;
            break;
        case RV_OBJECT:
            elem = rv_object_val_at(op, i);
            it[i].key = rv_object_key_at(op, i);
            break;
        default: elem = NULL; break;
        }
        const rv *c = NULL;
        if (elem && rv_typeof(elem) == RV_STRING) c = elem;
        else if (elem && rv_typeof(elem) == RV_ARRAY && rv_len(elem) > 0 &&
                 rv_typeof(rv_array_at(elem, 0)) == RV_STRING)
            c = rv_array_at(elem, 0);
        if (c == NULL) {
            for (size_t j = 0; j <= i; j++)
                if (it[j].own_key) rv_unref(it[j].key);
            free(it);
            rego_bctx_errorf(ctx, "%s: operand %d: element must be string or non-empty array", name, opno);
            return -1;
        }
        it[i].cidr = c;
    }
    *items = it;
    return (long)n;
}

static void net_items_free(net_item *it, long n)
{
    for (long i = 0; i < n; i++)
        if (it[i].own_key) rv_unref(it[i].key);
    free(it);
}

static int bi_cidr_contains_matches(rego_bctx *ctx, rv *const *args, rv **out)
{
    net_item *a = NULL, *b = NULL;
    long na = net_items(ctx, args[0], 1, &a);
    if (na < 0) return REGO_ERR;
    long nb = net_items(ctx, args[1], 2, &b);
    if (nb < 0) {
        net_items_free(a, na);
        return REGO_ERR;
    }
    rv *set = rv_set_new(0);
    int rc = REGO_OK;
    for (long i = 0; i < na && rc == REGO_OK; i++) {
        for (long j = 0; j < nb; j++) {
            int r = net_contains(ctx, "net.cidr_contains_matches", a[i].cidr, b[j].cidr);
            if (r < 0) {
                rc = REGO_ERR;
                break;
            }
            if (r) {
                rv *pair = rv_array_new(2);
                rv_array_push(pair, rv_ref(a[i].key));
                rv_array_push(pair, rv_ref(b[j].key));
                rv_set_add(set, pair);
            }
        }
    }
    net_items_free(a, na);
    net_items_free(b, nb);
    if (rc != REGO_OK) {
        rv_unref(set);
        return rc;
    }
    *out = set;
    return REGO_OK;
}

const rego_builtin_def rego_builtins_net[] = {
    {"net.cidr_contains", 2, bi_cidr_contains, {"string", "string"}, 0},
    {"net.cidr_intersects", 2, bi_cidr_intersects, {"string", "string"}, 0},
    {"net.cidr_overlap", 2, bi_cidr_overlap, {"string", "string"}, 0},
    {"net.cidr_is_valid", 1, bi_cidr_is_valid, {"string"}, 0},
    {"net.cidr_expand", 1, bi_cidr_expand, {"string"}, 0},
    {"net.cidr_merge", 1, bi_cidr_merge, {"array|set"}, 0},
    {"net.cidr_contains_matches",
     2,
     bi_cidr_contains_matches,
     {"string|array|set|object", "string|array|set|object"},
     0},
    {NULL, 0, NULL, {NULL}, 0},
};
