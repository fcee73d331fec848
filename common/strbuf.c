/* The growable byte buffer (strbuf.h). Capacity doubles (at least 64 bytes), so n
 * appends cost O(total length); every size computation is checked for overflow. */
#include "common/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes and the NUL. 0, or -1 (and failed) when it cannot. */
static int reserve(strbuf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n > SIZE_MAX - 1 - b->len) {
        b->failed = true;
        return -1;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *grown = realloc(b->p, cap);
    if (!grown) {
        b->failed = true;
        return -1;
    }
    b->p = grown;
    b->cap = cap;
    return 0;
}

int strbuf_add(strbuf *b, const void *data, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int strbuf_puts(strbuf *b, const char *s)
{
    return strbuf_add(b, s, strlen(s));
}

int strbuf_printf(strbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return -1;
    /* Formats into the room left; only when that is too small, grows and again. */
    size_t room = b->p ? b->cap - b->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        if (b->p)
            b->p[b->len] = '\0';
        return -1;
    }
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    if (reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *strbuf_take(strbuf *b)
{
    char *text = b->failed ? NULL : b->p ? b->p : strdup("");
    if (b->failed)
        free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = false;
    return text;
}

void strbuf_free(strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}
