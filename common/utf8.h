/* UTF-8 helpers: the one place outside the Rego engine that knows how UTF-8 is
 * encoded (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
 *
 * Used where text crosses into something that requires valid UTF-8 or counts
 * characters: log lines (JSON), Slack messages, length-limited columns, terminal
 * tables. All functions take borrowed input and keep no state. */
#ifndef HUTCH_UTF8_H
#define HUTCH_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence that starts at s, looking at no more than
 * avail bytes; 0 when the bytes there are not one (avail 0, a stray continuation
 * byte, a truncated, overlong or surrogate sequence, or a code point > U+10FFFF). */
size_t utf8_seq_len(const char *s, size_t avail);

/* utf8_seq_len that also gives the code point of a valid sequence in *cp. */
size_t utf8_decode(const char *s, size_t avail, unsigned *cp);
/* True when s[0..len) is valid UTF-8 as a whole. */
bool utf8_valid(const char *s, size_t len);

/* A copy of s[0..len) in which every byte that is not part of a valid sequence is
 * '?', NUL-terminated: NEW (free()), NULL when out of memory. Same length as s. */
char *utf8_sanitize(const char *s, size_t len);

/* The largest n <= max (and <= len) such that s[0..n) does not end inside a sequence:
 * where to cut s to at most max bytes without splitting a character. */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* Number of characters of the NUL-terminated s: its bytes that are not continuation
 * bytes (each invalid byte counts as one). */
size_t utf8_chars(const char *s);

#endif
