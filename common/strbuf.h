/* A growable byte buffer: the one string builder outside the Rego engine (which has
 * its own, rego_buf, tied to its memory limits).
 *
 * Zero-initialise it (`strbuf b = {0};`). p is NULL until the first append and is
 * always NUL-terminated after one, len not counting the NUL. The buffer OWNS p:
 * release it with strbuf_free, or take it with strbuf_take.
 *
 * Allocation failure is sticky: the append that cannot grow the buffer sets failed,
 * and that append and every later one are dropped (p keeps what came before). So a
 * builder appends without checking each call and checks failed (or strbuf_take's
 * NULL) once at the end. */
#ifndef HUTCH_STRBUF_H
#define HUTCH_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;     /* OWNED; NULL until something was appended */
    size_t len;  /* bytes in p, without the NUL */
    size_t cap;  /* bytes allocated */
    bool failed; /* an allocation failed: later appends are dropped */
} strbuf;

/* Appends n bytes of data (borrowed). 0, or -1 when the buffer has failed. */
int strbuf_add(strbuf *b, const void *data, size_t n);
/* Appends the string s (borrowed). 0 or -1, as strbuf_add. */
int strbuf_puts(strbuf *b, const char *s);
/* Appends printf-formatted text. 0 or -1, as strbuf_add (also -1 on a format error,
 * which fails the buffer). */
int strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text as a NEW string (free()); "" when nothing was appended; NULL when the
 * buffer failed (or "" could not be allocated). Leaves b empty and usable. */
char *strbuf_take(strbuf *b);
/* Frees p and leaves b empty and usable (failed cleared). */
void strbuf_free(strbuf *b);

#endif
