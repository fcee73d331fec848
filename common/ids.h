/* Identifiers: UUIDv7 (time-ordered) as 36-char text.
 *
 * ids_uuid7_derived makes the same id for the same (time, seed) — used so that a
 * redelivered Kafka message produces byte-identical output ids, which is what makes
 * consumers idempotent end to end. */
#ifndef HUTCH_IDS_H
#define HUTCH_IDS_H

#include <stdint.h>

#define IDS_UUID_LEN 37 /* 36 + NUL */

void ids_uuid7(char out[IDS_UUID_LEN]);
void ids_uuid7_derived(char out[IDS_UUID_LEN], int64_t unix_ms, const char *seed);
int64_t ids_now_ms(void);
/* Returns 1 if text is a canonical UUID (any version), else 0. */
int ids_is_uuid(const char *text);

#endif
