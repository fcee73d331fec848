/* guard.h: the console's rate limiter, cookie reader and path rule. */
#include "services/console/guard.h"

#include <stdio.h>
#include <string.h>

static guard_counter *find(guard_limiter *l, const char *key, int64_t now_ms, bool create)
{
    guard_counter *free_slot = NULL, *oldest = &l->slots[0];
    for (size_t i = 0; i < l->n; i++) {
        guard_counter *k = &l->slots[i];
        if (k->key[0] && now_ms - k->window_start_ms >= l->window_ms)
            k->key[0] = '\0'; /* its window is over */
        if (k->key[0] && !strcmp(k->key, key))
            return k;
        if (!k->key[0] && !free_slot)
            free_slot = k;
        if (k->window_start_ms < oldest->window_start_ms)
            oldest = k;
    }
    if (!create)
        return NULL;
    guard_counter *k = free_slot ? free_slot : oldest;
    snprintf(k->key, sizeof k->key, "%s", key);
    k->window_start_ms = now_ms;
    k->failures = 0;
    return k;
}

int64_t guard_blocked_for(guard_limiter *l, const char *key, int64_t now_ms)
{
    guard_counter *k = find(l, key, now_ms, false);
    if (!k || k->failures < l->limit)
        return 0;
    int64_t left = l->window_ms - (now_ms - k->window_start_ms);
    return left > 0 ? (left + 999) / 1000 : 0;
}

void guard_failed(guard_limiter *l, const char *key, int64_t now_ms) { find(l, key, now_ms, true)->failures++; }

bool guard_cookie(const char *h, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == ';')
            h++;
        const char *end = strchr(h, ';');
        size_t len = end ? (size_t)(end - h) : strlen(h);
        if (len > nlen && !strncmp(h, name, nlen) && h[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            if (vlen >= outlen)
                return false;
            memcpy(out, h + nlen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        h = end;
    }
    return false;
}

bool guard_web_path(const char *p)
{
    if (!p || p[0] != '/' || strstr(p, "..") || strstr(p, "/.") || strlen(p) > 200)
        return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._/-", *p)))
            return false;
    return true;
}
