/* rego_buf: the engine's one growable string builder (declared in builtins.h).
 *
 * Capacity doubles from 64 bytes; the bytes are kept NUL-terminated so a builder
 * can be read as a C string. Failure policy is per buffer: abort on allocation
 * failure (default, as the value model does), or record it in oom (soft_oom) for
 * builtins that report "out of memory" as an error; a byte limit records over.
 */
#include "rego/builtins.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rego_buf_putn(rego_buf *b, const char *s, size_t n)
{
    if (b->oom || b->over) return;
    if (b->limit && b->len + n > b->limit) {
        b->over = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            if (!b->soft_oom) abort();
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void rego_buf_puts(rego_buf *b, const char *s) { rego_buf_putn(b, s, strlen(s)); }

void rego_buf_putc(rego_buf *b, char c) { rego_buf_putn(b, &c, 1); }

void rego_buf_printf(rego_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        rego_buf_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        if (!b->soft_oom) abort();
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rego_buf_putn(b, big, (size_t)n);
    free(big);
}

rv *rego_buf_take(rego_buf *b)
{
    rv *r = rv_string(b->p ? b->p : "", b->len);
    rego_buf_free(b);
    return r;
}

void rego_buf_free(rego_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
