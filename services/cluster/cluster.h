/* cluster: the decisions of hutch-cluster, with no Kafka or Postgres in them.
 *
 * - cluster_fingerprint: what makes two alerts "the same" (schema + "\n" + title,
 *   hex SHA-256);
 * - cluster_decide: given the open tickets that might take an alert, bind it to one
 *   or open a new one (rules in cluster.c's header);
 * - cluster_ticket_id: the id of the ticket an alert opens, derived from the alert so
 *   a redelivered alert opens the same ticket (and we can tell, later, that this alert
 *   was the one that opened it). */
#ifndef HUTCH_CLUSTER_H
#define HUTCH_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/msg.h"

#define CLUSTER_FINGERPRINT_LEN 65 /* 64 hex + NUL */

/* out: 64 lower-case hex digits. schema/title BORROWED, NULL reads as "".
 * 0, or -1 if the digest failed (OpenSSL out of memory). */
int cluster_fingerprint(const char *schema, const char *title, char out[CLUSTER_FINGERPRINT_LEN]);

/* The ticket id an alert opens: ids_uuid7_derived(created_ms, "<alert_id>/ticket/0"). */
void cluster_ticket_id(char out[37], const char *alert_id, int64_t alert_created_ms);

/* An existing ticket, as read from the tickets table. All strings BORROWED. */
typedef struct {
    const char *ticket_id;
    const char *namespace_;
    const char *fingerprint;
    const char *status;    /* open | resolved | archived (common/ticket.h) */
    int64_t last_alert_ms;   /* tickets.last_alert_at, unix ms */
} cluster_candidate;

typedef enum { CLUSTER_OPEN = 0, CLUSTER_BIND = 1 } cluster_action;

typedef struct {
    cluster_action action;
    int index;               /* into the candidates, when action == CLUSTER_BIND; else -1 */
    int by_namespace;        /* 1 when bound because of the namespace, 0 by fingerprint */
} cluster_decision;

/* Picks the ticket for an alert with namespace ns ("" or NULL = none) and
 * fingerprint fp, among n candidates (any order), at now_ms with window_ms. */
cluster_decision cluster_decide(const char *ns, const char *fp, const cluster_candidate *candidates, size_t n,
                                int64_t now_ms, int64_t window_ms);

/* The output of a clustered alert, packed (NEW buffer, free(); NULL on OOM). Its Meta
 * id derives from the input's, so a redelivered alert packs to the same bytes. (The
 * TicketEvents are the ticket history's, relayed: common/ticket.h.) cluster_pack_clustered
 * swaps a's meta/ticket/fingerprint fields while packing and restores them. */
#define CLUSTER_PRODUCER "hutch-cluster"
uint8_t *cluster_pack_clustered(Hutch__V1__Alert *a, const char *ticket_id, bool new_ticket, char *fingerprint,
                                size_t *len);

#endif
