/* cluster: the decisions of hutch-cluster, with no Kafka or Postgres in them.
 *
 * - cluster_fingerprint: what makes two alerts "the same" (schema + "\n" + title,
 *   hex SHA-256);
 * - which ticket an alert joins: bind.h (cluster_bind_decide);
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

/* The output of a clustered alert, packed (NEW buffer, free(); NULL on OOM). Its Meta
 * id derives from the input's, so a redelivered alert packs to the same bytes. (The
 * TicketEvents are the ticket history's, relayed: common/ticket.h.) cluster_pack_clustered
 * swaps a's meta/ticket/fingerprint/notify fields while packing and restores them. */
#define CLUSTER_PRODUCER "hutch-cluster"
/* notify and ticket_title: Alert.notify / Alert.ticket_title ("" for ordinary tickets). */
uint8_t *cluster_pack_clustered(Hutch__V1__Alert *a, const char *ticket_id, bool new_ticket, char *fingerprint,
                                const char *notify, const char *ticket_title, size_t *len);

#endif
