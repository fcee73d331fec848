/* The "shape text" of an alert: what is embedded, and the key of the embedding cache.
 *
 * Alerts of one kind differ in who and where (addresses, ports, counts, instance ids,
 * times) but not in what they are. The shape text keeps what they are -- schema, title,
 * description, attribute keys and their values -- with the volatile tokens replaced by
 * placeholders, so that a storm of 900 port probes from one scanner has one shape, one
 * embedding and one model call. Who and where are compared separately and exactly (the
 * indicators), never through the embedding.
 *
 * Masked, in this order of precedence at a position (PCRE2, leftmost match first):
 *   UUIDs <uuid>; ISO 8601 dates and times, and clock times hh:mm:ss <time>;
 *   IPv4 with a port <ipv4>:<port>; IPv4 (CIDR bits stay as a number) <ipv4>; IPv6 <ipv6>;
 *   hex ids (8+ hex digits with a digit and a letter, optional 0x) <hex>;
 *   numbers standing alone, dotted runs as one (not glued to a letter: "ec2", "log4j",
 *   "sha256", "v1.2" stay) <num>.
 * Whitespace runs become one space. Each part is cut (at a character boundary) to a
 * bounded length so that a huge description cannot make a huge model input.
 *
 * Layout of the text (one line each, attributes sorted by key then masked value, so their
 * order in the alert does not matter; empty parts left out):
 *   schema: <schema>
 *   title: <masked title>
 *   description: <masked description>
 *   <key>: <masked value>
 *
 * The hash is SHA-256 over SHAPE_VERSION and the text: changing the masking rules changes
 * every key, so a cache never serves a vector made from an older shape. A cache keyed by it
 * must add the provider, model and dimensions of the embedder to the key. */
#ifndef HUTCH_SHAPE_H
#define HUTCH_SHAPE_H

#include <stddef.h>

#include "common/msg.h"

#define SHAPE_VERSION "shape-v1"
#define SHAPE_HASH_LEN 65 /* 64 hex digits and the NUL */
#define SHAPE_MAX_TITLE 512
#define SHAPE_MAX_DESCRIPTION 1024
#define SHAPE_MAX_VALUE 128
#define SHAPE_MAX_ATTRIBUTES 64

/* text[0..len) masked and its whitespace collapsed, cut to at most max_bytes (at a UTF-8
 * boundary) after masking: NEW (free()), NULL when out of memory. text is borrowed. */
char *shape_mask(const char *text, size_t len, size_t max_bytes);

/* The shape text of a (borrowed): NEW (free()), NULL when out of memory. */
char *shape_text(const Hutch__V1__Alert *a);

/* The hex SHA-256 of SHAPE_VERSION "\n" shape (borrowed) into out. 0, or -1 when
 * OpenSSL fails (out of memory): out is then unchanged. */
int shape_hash(const char *shape, char out[SHAPE_HASH_LEN]);

#endif
