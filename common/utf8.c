/* UTF-8 helpers (utf8.h). The validity rule of utf8_seq_len is RFC 3629's table of
 * well-formed byte sequences; everything else is built on it. */
#include "common/utf8.h"

#include <stdlib.h>
#include <string.h>

static bool is_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

size_t utf8_seq_len(const char *s, size_t avail)
{
    const unsigned char *p = (const unsigned char *)s;
    if (avail == 0)
        return 0;
    unsigned char c = p[0];
    size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || n > avail || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4))
        return 0;
    for (size_t k = 1; k < n; k++)
        if (!is_continuation(p[k]))
            return 0;
    if (n == 3) {
        unsigned cp = ((c & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    if (n == 4) {
        unsigned cp = ((c & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12);
        if (cp < 0x10000 || cp > 0x10FFFF)
            return 0;
    }
    return n;
}

size_t utf8_decode(const char *s, size_t avail, unsigned *cp)
{
    size_t n = utf8_seq_len(s, avail);
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0)
        return 0;
    unsigned v = n == 1 ? p[0] : n == 2 ? p[0] & 0x1Fu : n == 3 ? p[0] & 0x0Fu : p[0] & 0x07u;
    for (size_t k = 1; k < n; k++)
        v = v << 6 | (p[k] & 0x3Fu);
    *cp = v;
    return n;
}

bool utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

char *utf8_sanitize(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0) {
            copy[i++] = '?';
        } else {
            memcpy(copy + i, s + i, n);
            i += n;
        }
    }
    copy[len] = '\0';
    return copy;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && is_continuation((unsigned char)s[max]))
        max--;
    return max;
}

size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (!is_continuation((unsigned char)*s))
            n++;
    return n;
}
