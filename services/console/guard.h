/* The console's pure checks, apart from HTTP and Postgres so the tests feed them plain
 * inputs: the sign-in rate limiter, the cookie reader and the static-path rule. */
#ifndef HUTCH_CONSOLE_GUARD_H
#define HUTCH_CONSOLE_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Failed sign-ins of one key ("ip:ADDR" or "name:NAME") in its current window. */
typedef struct {
    char key[96];
    int64_t window_start_ms;
    int failures;
} guard_counter;

/* A fixed table of counters (the oldest is reused when it is full). */
typedef struct {
    guard_counter *slots; /* BORROWED array of n, zeroed at first */
    size_t n;
    int limit; /* failures allowed per window */
    int64_t window_ms;
} guard_limiter;

/* Seconds until key may try again (rounded up), 0 if it may now. */
int64_t guard_blocked_for(guard_limiter *l, const char *key, int64_t now_ms);
/* Counts one failure of key (opening its window when it has none). */
void guard_failed(guard_limiter *l, const char *key, int64_t now_ms);

/* The value of cookie `name` in a Cookie header (NULL: none) copied into out; false
 * if absent or longer than outlen - 1. */
bool guard_cookie(const char *header, const char *name, char *out, size_t outlen);

/* True if path may name a static file: starts with '/', only [A-Za-z0-9._/-], no
 * "..", no hidden entry ("/."), at most 200 bytes. */
bool guard_web_path(const char *path);

#endif
