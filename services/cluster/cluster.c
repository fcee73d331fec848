/* cluster: fingerprint and bind-or-open decision (see cluster.h).
 *
 * A candidate ticket can take the alert when all of these hold:
 *   - its status is "open" (a resolved or archived ticket never takes new alerts);
 *   - its last alert is within the window: last_alert_ms >= now_ms - window_ms;
 *   - it has the alert's namespace (both non-empty and equal) OR the alert's
 *     fingerprint.
 * Among those, a namespace match beats a fingerprint-only match (the namespace is
 * the operator's explicit grouping, AlertChain's), then the most recent
 * last_alert_ms, then the smallest ticket id, so the choice never depends on the
 * order the database returned rows in. No candidate: open a ticket.
 *
 * The fingerprint is hex SHA-256 of schema + "\n" + title: the newline keeps
 * ("a", "b\nc") and ("a\nb", "c") apart as long as schemas have no newline. */
#include "services/cluster/cluster.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"

int cluster_fingerprint(const char *schema, const char *title, char out[CLUSTER_FINGERPRINT_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    out[0] = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return -1;
    schema = schema ? schema : "";
    title = title ? title : "";
    int ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, schema, strlen(schema)) &&
             EVP_DigestUpdate(c, "\n", 1) && EVP_DigestUpdate(c, title, strlen(title)) &&
             EVP_DigestFinal_ex(c, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(c);
    if (!ok)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * mdlen] = 0;
    return 0;
}

void cluster_ticket_id(char out[37], const char *alert_id, int64_t alert_created_ms)
{
    char seed[128];
    snprintf(seed, sizeof seed, "%s/ticket/0", alert_id ? alert_id : "");
    ids_uuid7_derived(out, alert_created_ms, seed);
}

static int nonempty(const char *s) { return s && *s; }

/* >0 if a is a better choice than b. */
static int better(const cluster_candidate *a, int a_ns, const cluster_candidate *b, int b_ns)
{
    if (a_ns != b_ns)
        return a_ns - b_ns;
    if (a->last_alert_ms != b->last_alert_ms)
        return a->last_alert_ms > b->last_alert_ms ? 1 : -1;
    return strcmp(b->ticket_id ? b->ticket_id : "", a->ticket_id ? a->ticket_id : "");
}

cluster_decision cluster_decide(const char *ns, const char *fp, const cluster_candidate *candidates, size_t n,
                                int64_t now_ms, int64_t window_ms)
{
    cluster_decision d = {CLUSTER_OPEN, -1, 0};
    for (size_t i = 0; i < n; i++) {
        const cluster_candidate *c = &candidates[i];
        if (!c->ticket_id || !*c->ticket_id)
            continue;
        if (c->status && strcmp(c->status, "open"))
            continue;
        if (c->last_alert_ms < now_ms - window_ms)
            continue;
        int by_ns = nonempty(ns) && nonempty(c->namespace_) && !strcmp(ns, c->namespace_);
        int by_fp = nonempty(fp) && nonempty(c->fingerprint) && !strcmp(fp, c->fingerprint);
        if (!by_ns && !by_fp)
            continue;
        if (d.index < 0 || better(c, by_ns, &candidates[d.index], d.by_namespace) > 0) {
            d.action = CLUSTER_BIND;
            d.index = (int)i;
            d.by_namespace = by_ns;
        }
    }
    return d;
}

/* The clustered Alert: `a` with a new Meta and the cluster fields; the swapped
 * pointers are restored before returning. NEW buffer or NULL. */
uint8_t *cluster_pack_clustered(Hutch__V1__Alert *a, const char *ticket_id, bool new_ticket, char *fingerprint,
                                size_t *len)
{
    char seed[128];
    snprintf(seed, sizeof seed, "%s/clustered/0", a->meta->id);
    msg_meta_buf mb;
    msg_meta_init(&mb, a->meta->trace_id, CLUSTER_PRODUCER, a->meta->created_unix_ms, seed);
    Hutch__V1__Meta *old_meta = a->meta;
    char *old_ticket = a->ticket_id, *old_fp = a->fingerprint;
    protobuf_c_boolean old_new = a->new_ticket;
    a->meta = &mb.meta;
    a->ticket_id = (char *)ticket_id; /* packing never writes through it */
    a->fingerprint = fingerprint;
    a->new_ticket = new_ticket;
    uint8_t *buf = msg_pack(&a->base, len);
    a->meta = old_meta;
    a->ticket_id = old_ticket;
    a->fingerprint = old_fp;
    a->new_ticket = old_new;
    return buf;
}
