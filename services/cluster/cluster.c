/* cluster: fingerprint, derived ticket id, output packing (see cluster.h; the
 * binding rules are bind.c's).
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

/* The clustered Alert: `a` with a new Meta and the cluster fields; the swapped
 * pointers are restored before returning. NEW buffer or NULL. */
uint8_t *cluster_pack_clustered(Hutch__V1__Alert *a, const char *ticket_id, bool new_ticket, char *fingerprint,
                                const char *notify, const char *ticket_title, size_t *len)
{
    char seed[128];
    snprintf(seed, sizeof seed, "%s/clustered/0", a->meta->id);
    msg_meta_buf mb;
    msg_meta_init(&mb, a->meta->trace_id, CLUSTER_PRODUCER, a->meta->created_unix_ms, seed);
    Hutch__V1__Meta *old_meta = a->meta;
    char *old_ticket = a->ticket_id, *old_fp = a->fingerprint;
    char *old_notify = a->notify, *old_title = a->ticket_title;
    protobuf_c_boolean old_new = a->new_ticket;
    a->notify = (char *)(notify ? notify : "");
    a->ticket_title = (char *)(ticket_title ? ticket_title : "");
    a->meta = &mb.meta;
    a->ticket_id = (char *)ticket_id; /* packing never writes through it */
    a->fingerprint = fingerprint;
    a->new_ticket = new_ticket;
    uint8_t *buf = msg_pack(&a->base, len);
    a->meta = old_meta;
    a->ticket_id = old_ticket;
    a->fingerprint = old_fp;
    a->new_ticket = old_new;
    a->notify = old_notify;
    a->ticket_title = old_title;
    return buf;
}
