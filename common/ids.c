/* UUIDv7 identifiers (ids.h), RFC 9562 section 5.7.
 *
 * Layout: 48-bit big-endian unix milliseconds, 4-bit version (7), 12 bits rand_a,
 * 2-bit variant (10), 62 bits rand_b.
 *
 * ids_uuid7 keeps ids made by one process strictly increasing (RFC 9562 6.2,
 * method 1): rand_a is a counter seeded randomly at each new millisecond with its
 * top bit clear, so a burst in one millisecond still sorts; if it overflows, the
 * timestamp borrows the next millisecond. rand_b comes from getrandom(2), through a
 * small per-thread pool.
 *
 * ids_uuid7_derived takes rand_a and rand_b from SHA-256(seed), so the same
 * (unix_ms, seed) always gives the same id: redelivered Kafka messages then produce
 * byte-identical outputs, which is what makes consumers idempotent end to end. */
#include "common/ids.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <errno.h>

int64_t ids_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fill_random_syscall(uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* getrandom cannot fail on Linux >= 3.17 once the pool is ready; keep
             * ids unique-ish anyway rather than abort. */
            uint64_t x = (uint64_t)ids_now_ms() ^ ((uint64_t)(uintptr_t)buf << 17) ^ (uint64_t)clock();
            for (; got < len; got++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[got] = (uint8_t)x;
            }
            return;
        }
        got += (size_t)n;
    }
}

/* Random bytes from a per-thread pool refilled 512 bytes at a time: one getrandom
 * call per 32 ids instead of one per id (ingest makes two ids per request). */
static void fill_random(uint8_t *buf, size_t len)
{
    static __thread uint8_t pool[512];
    static __thread size_t left;
    while (len > 0) {
        if (left == 0) {
            fill_random_syscall(pool, sizeof pool);
            left = sizeof pool;
        }
        size_t n = len < left ? len : left;
        memcpy(buf, pool + sizeof pool - left, n);
        explicit_bzero(pool + sizeof pool - left, n); /* each byte is handed out once */
        left -= n;
        buf += n;
        len -= n;
    }
}

static void format_uuid(char out[IDS_UUID_LEN], const uint8_t b[16])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

static void set_time(uint8_t b[16], int64_t unix_ms)
{
    uint64_t ms = (uint64_t)unix_ms & 0xFFFFFFFFFFFFULL;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (8 * (5 - i)));
}

static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t seq_ms = -1;
static unsigned seq_counter;

void ids_uuid7(char out[IDS_UUID_LEN])
{
    uint8_t b[16];
    fill_random(b, sizeof b);
    int64_t now = ids_now_ms();

    pthread_mutex_lock(&seq_lock);
    if (now > seq_ms) {
        seq_ms = now;
        seq_counter = ((unsigned)b[6] << 8 | b[7]) & 0x7FF; /* top bit clear: room to count */
    } else {
        seq_counter++;
        if (seq_counter > 0xFFF) { /* counter overflow: move into the next millisecond */
            seq_ms++;
            seq_counter = 0;
        }
    }
    int64_t ms = seq_ms;
    unsigned counter = seq_counter;
    pthread_mutex_unlock(&seq_lock);

    set_time(b, ms);
    b[6] = (uint8_t)(0x70 | ((counter >> 8) & 0x0F));
    b[7] = (uint8_t)(counter & 0xFF);
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3F));
    format_uuid(out, b);
}

void ids_uuid7_derived(char out[IDS_UUID_LEN], int64_t unix_ms, const char *seed)
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    const char *s = seed ? seed : "";
    SHA256((const unsigned char *)s, strlen(s), digest);
    uint8_t b[16];
    memcpy(b, digest, sizeof b);
    set_time(b, unix_ms);
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0F));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3F));
    format_uuid(out, b);
}

int ids_is_uuid(const char *text)
{
    if (!text)
        return 0;
    for (int i = 0; i < 36; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return text[36] == '\0';
}
