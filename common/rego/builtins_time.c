/* Rego builtins: time.* (now_ns, parse_ns, parse_rfc3339_ns, parse_duration_ns,
 * format, date, clock, weekday, add_date, diff).
 *
 * OPA works with Go's time package, so policies see Go's layouts ("2006-01-02"),
 * Go's parse rules and Go's error texts; this file reimplements the parts of Go's
 * time package that the builtins expose:
 *  - calendar arithmetic on proleptic Gregorian days (days_from_civil and back),
 *    in 64/128-bit integers, so every int64 nanosecond timestamp converts exactly
 *    and out-of-range results are detected ("time outside of valid range");
 *  - the layout tokenizer (Go's nextStdChunk), formatter and parser;
 *  - time zones read from the system tz database (/usr/share/zoneinfo TZif files,
 *    transitions plus the POSIX TZ footer for instants after the last transition).
 *    We never touch the TZ environment variable or localtime(): setenv/tzset are
 *    process-global and not thread-safe. Loaded zones are immutable and shared;
 *    the cache is a list guarded by a mutex, only successfully loaded zones are
 *    kept (bounded by the files in the database). They are never freed: another
 *    thread may still be formatting a time while the process exits, and the list
 *    stays reachable from a global, so leak checkers do not report it.
 */
#include "rego/builtins.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define NS_PER_SEC INT64_C(1000000000)

/* ---- calendar --------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31), proleptic Gregorian. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

static int days_in_month(int m, int64_t y)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static const char *const month_names[] = {"January", "February", "March",     "April",   "May",      "June",
                                          "July",    "August",   "September", "October", "November", "December"};
static const char *const day_names[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

/* Broken-down time in some zone. */
typedef struct {
    int64_t year;
    int month, day, yday; /* yday 1..366 */
    int hour, min, sec, nsec;
    int wday;   /* 0 = Sunday */
    int offset; /* seconds east of UTC */
    char abbr[16];
} tm_fields;

/* ---- time zones -------------------------------------------------------- */

typedef struct {
    int32_t off;
    bool dst;
    char abbr[16];
} tz_type;

typedef enum { RULE_JULIAN, RULE_DOY, RULE_MWD } rule_kind;

typedef struct {
    rule_kind kind;
    int day, week, mon;
    int time; /* seconds after local midnight */
} tz_rule;

typedef struct {
    bool valid;
    char std_name[16], dst_name[16];
    int std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    tz_rule start, end;
} tz_posix;

typedef struct tz_zone {
    struct tz_zone *next;
    char *name;
    int64_t *when;
    uint8_t *idx;
    size_t ntx;
    tz_type *types;
    size_t ntypes;
    tz_posix extend;
} tz_zone;

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static tz_zone *tz_cache;    /* guarded by tz_lock; entries immutable once linked */
static tz_zone *tz_local;    /* guarded by tz_lock; NULL until first use */
static bool tz_local_loaded; /* guarded by tz_lock */

static const tz_zone tz_utc = {NULL, "UTC", NULL, NULL, 0, NULL, 0, {0}};

static void tz_free(tz_zone *z)
{
    if (z == NULL || z == &tz_utc) return;
    free(z->name);
    free(z->when);
    free(z->idx);
    free(z->types);
    free(z);
}

/* POSIX TZ string parsing (as Go's tzset does). */
static bool tzs_name(const char **s, char *out, size_t outlen)
{
    const char *p = *s;
    size_t n;
    if (*p == '\0') return false;
    if (*p == '<') {
        const char *e = strchr(p, '>');
        if (e == NULL) return false;
        n = (size_t)(e - p - 1);
        if (n >= outlen) n = outlen - 1;
        memcpy(out, p + 1, n);
        out[n] = '\0';
        *s = e + 1;
        return true;
    }
    n = strcspn(p, "0123456789,-+");
    if (n < 3) return false;
    size_t c = n < outlen ? n : outlen - 1;
    memcpy(out, p, c);
    out[c] = '\0';
    *s = p + n;
    return true;
}

static bool tzs_num(const char **s, int min, int max, int *out)
{
    const char *p = *s;
    if (!isdigit((unsigned char)*p)) return false;
    int v = 0;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p - '0');
        if (v > max) return false;
        p++;
    }
    if (v < min) return false;
    *out = v;
    *s = p;
    return true;
}

static bool tzs_offset(const char **s, int *out)
{
    const char *p = *s;
    int sign = 1, h, m = 0, sec = 0;
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    if (!tzs_num(&p, 0, 24 * 7, &h)) return false;
    if (*p == ':') {
        p++;
        if (!tzs_num(&p, 0, 59, &m)) return false;
        if (*p == ':') {
            p++;
            if (!tzs_num(&p, 0, 59, &sec)) return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    *s = p;
    return true;
}

static bool tzs_rule(const char **s, tz_rule *r)
{
    const char *p = *s;
    if (*p == 'J') {
        p++;
        r->kind = RULE_JULIAN;
        if (!tzs_num(&p, 1, 365, &r->day)) return false;
    } else if (*p == 'M') {
        p++;
        r->kind = RULE_MWD;
        if (!tzs_num(&p, 1, 12, &r->mon) || *p++ != '.' || !tzs_num(&p, 1, 5, &r->week) || *p++ != '.' ||
            !tzs_num(&p, 0, 6, &r->day))
            return false;
    } else if (isdigit((unsigned char)*p)) {
        r->kind = RULE_DOY;
        if (!tzs_num(&p, 0, 365, &r->day)) return false;
    } else {
        return false;
    }
    r->time = 2 * 3600;
    if (*p == '/') {
        p++;
        if (!tzs_offset(&p, &r->time)) return false;
    }
    *s = p;
    return true;
}

static void tz_parse_posix(const char *s, tz_posix *tz)
{
    memset(tz, 0, sizeof *tz);
    int off;
    if (!tzs_name(&s, tz->std_name, sizeof tz->std_name) || !tzs_offset(&s, &off)) return;
    tz->std_off = -off;
    if (*s == '\0' || *s == ',') {
        tz->valid = true;
        return;
    }
    if (!tzs_name(&s, tz->dst_name, sizeof tz->dst_name)) return;
    if (*s == '\0' || *s == ',') {
        tz->dst_off = tz->std_off + 3600;
    } else {
        if (!tzs_offset(&s, &off)) return;
        tz->dst_off = -off;
    }
    if (*s == '\0') s = ",M3.2.0,M11.1.0";
    if (*s != ',' && *s != ';') return;
    s++;
    if (!tzs_rule(&s, &tz->start) || *s != ',') return;
    s++;
    if (!tzs_rule(&s, &tz->end) || *s != '\0') return;
    tz->has_dst = true;
    tz->valid = true;
}

/* Seconds from the start of the year (UTC) at which rule r fires, given the
 * offset in effect before it. */
static int64_t tz_rule_time(int64_t year, const tz_rule *r, int off)
{
    int64_t d = 0;
    switch (r->kind) {
    case RULE_JULIAN:
        d = r->day - 1;
        if (is_leap(year) && r->day >= 60) d++;
        break;
    case RULE_DOY: d = r->day; break;
    case RULE_MWD: {
        int64_t first = days_from_civil(year, r->mon, 1);
        int dow = (int)floor_mod(first + 4, 7); /* weekday of the 1st */
        int dd = r->day - dow;
        if (dd < 0) dd += 7;
        for (int i = 1; i < r->week; i++) {
            if (dd + 7 >= days_in_month(r->mon, year)) break;
            dd += 7;
        }
        d = first - days_from_civil(year, 1, 1) + dd;
        break;
    }
    }
    return d * 86400 + r->time - off;
}

static void tz_posix_lookup(const tz_posix *tz, int64_t sec, int *off, const char **abbr)
{
    if (!tz->has_dst) {
        *off = tz->std_off;
        *abbr = tz->std_name;
        return;
    }
    int64_t days = floor_div(sec, 86400), y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t ysec = sec - days_from_civil(y, 1, 1) * 86400;
    int64_t start = tz_rule_time(y, &tz->start, tz->std_off);
    int64_t end = tz_rule_time(y, &tz->end, tz->dst_off);
    const char *std_name = tz->std_name, *dst_name = tz->dst_name;
    int std_off = tz->std_off, dst_off = tz->dst_off;
    if (end < start) {
        int64_t t = start;
        start = end;
        end = t;
        std_name = tz->dst_name;
        dst_name = tz->std_name;
        std_off = tz->dst_off;
        dst_off = tz->std_off;
    }
    if (ysec < start || ysec >= end) {
        *off = std_off;
        *abbr = std_name;
    } else {
        *off = dst_off;
        *abbr = dst_name;
    }
}

static size_t tz_first_zone(const tz_zone *z)
{
    bool used = false;
    for (size_t i = 0; i < z->ntx; i++)
        if (z->idx[i] == 0) used = true;
    if (!used) return 0;
    if (z->ntx > 0 && z->types[z->idx[0]].dst) {
        for (size_t zi = z->idx[0]; zi-- > 0;)
            if (!z->types[zi].dst) return zi;
    }
    for (size_t zi = 0; zi < z->ntypes; zi++)
        if (!z->types[zi].dst) return zi;
    return 0;
}

/* Offset (seconds east) and abbreviation in effect at UTC second sec. */
static void tz_lookup(const tz_zone *z, int64_t sec, int *off, const char **abbr)
{
    if (z->ntypes == 0) {
        *off = 0;
        *abbr = "UTC";
        return;
    }
    if (z->ntx == 0 || sec < z->when[0]) {
        const tz_type *t = &z->types[tz_first_zone(z)];
        *off = t->off;
        *abbr = t->abbr;
        return;
    }
    size_t lo = 0, hi = z->ntx;
    while (hi - lo > 1) {
        size_t m = (lo + hi) / 2;
        if (sec < z->when[m]) hi = m;
        else lo = m;
    }
    const tz_type *t = &z->types[z->idx[lo]];
    *off = t->off;
    *abbr = t->abbr;
    if (lo == z->ntx - 1 && z->extend.valid) tz_posix_lookup(&z->extend, sec, off, abbr);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

/* Parses TZif data (v1, or the 64-bit v2+ block and its footer). NEW zone or NULL. */
static tz_zone *tz_from_tzif(const char *name, const unsigned char *data, size_t len)
{
    if (len < 44 || memcmp(data, "TZif", 4) != 0) return NULL;
    int version = data[4] == 0 ? 1 : data[4] - '0';
    const unsigned char *p = data, *end = data + len;
    size_t tsize = 4;
    uint32_t cnt[6];
    for (int i = 0; i < 6; i++) cnt[i] = be32(p + 20 + 4 * i);
    if (version >= 2) {
        size_t skip = 44 + (size_t)cnt[3] * 5 + (size_t)cnt[4] * 6 + cnt[5] + (size_t)cnt[2] * 8 + cnt[1] + cnt[0];
        if (skip + 44 > len) return NULL;
        p = data + skip;
        if (memcmp(p, "TZif", 4) != 0) return NULL;
        for (int i = 0; i < 6; i++) cnt[i] = be32(p + 20 + 4 * i);
        tsize = 8;
    }
    uint32_t isutcnt = cnt[0], isstdcnt = cnt[1], leapcnt = cnt[2], timecnt = cnt[3], typecnt = cnt[4],
             charcnt = cnt[5];
    p += 44;
    size_t need = (size_t)timecnt * tsize + timecnt + (size_t)typecnt * 6 + charcnt + (size_t)leapcnt * (tsize + 4) +
                  isstdcnt + isutcnt;
    if (typecnt == 0 || typecnt > 256 || (size_t)(end - p) < need) return NULL;
    tz_zone *z = calloc(1, sizeof *z);
    if (z == NULL) return NULL;
    z->name = strdup(name);
    z->when = calloc(timecnt ? timecnt : 1, sizeof *z->when);
    z->idx = calloc(timecnt ? timecnt : 1, 1);
    z->types = calloc(typecnt, sizeof *z->types);
    if (!z->name || !z->when || !z->idx || !z->types) {
        tz_free(z);
        return NULL;
    }
    const unsigned char *tp = p, *ip = p + (size_t)timecnt * tsize, *ty = ip + timecnt, *ch = ty + (size_t)typecnt * 6;
    for (uint32_t i = 0; i < timecnt; i++) {
        z->when[i] = tsize == 8 ? be64(tp + 8 * i) : (int64_t)(int32_t)be32(tp + 4 * i);
        if (ip[i] >= typecnt) {
            tz_free(z);
            return NULL;
        }
        z->idx[i] = ip[i];
    }
    z->ntx = timecnt;
    for (uint32_t i = 0; i < typecnt; i++) {
        z->types[i].off = (int32_t)be32(ty + 6 * i);
        z->types[i].dst = ty[6 * i + 4] != 0;
        unsigned ai = ty[6 * i + 5];
        if (ai < charcnt) {
            size_t n = strnlen((const char *)ch + ai, charcnt - ai);
            if (n >= sizeof z->types[i].abbr) n = sizeof z->types[i].abbr - 1;
            memcpy(z->types[i].abbr, ch + ai, n);
        }
    }
    z->ntypes = typecnt;
    const unsigned char *foot = p + need;
    if (version >= 2 && foot < end && *foot == '\n') {
        const unsigned char *nl = memchr(foot + 1, '\n', (size_t)(end - foot - 1));
        if (nl && nl - foot - 1 < 128) {
            char buf[128];
            memcpy(buf, foot + 1, (size_t)(nl - foot - 1));
            buf[nl - foot - 1] = '\0';
            tz_parse_posix(buf, &z->extend);
        }
    }
    return z;
}

static tz_zone *tz_load_file(const char *name, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    unsigned char *buf = malloc(1 << 18);
    size_t n = buf ? fread(buf, 1, 1 << 18, f) : 0;
    fclose(f);
    tz_zone *z = buf ? tz_from_tzif(name, buf, n) : NULL;
    free(buf);
    return z;
}

/* Go's LoadLocation validity rule for names. */
static bool tz_name_ok(const char *name)
{
    if (name[0] == '\0' || name[0] == '/' || name[0] == '\\' || strlen(name) > 255) return false;
    for (const char *p = name; *p; p++) {
        if (p[0] == '.' && p[1] == '.') return false;
    }
    return true;
}

/* Returns a BORROWED zone (valid until exit), or NULL with *err set (static text). */
static const tz_zone *tz_get(const char *name, const char **err)
{
    if (strcmp(name, "") == 0 || strcmp(name, "UTC") == 0) return &tz_utc;
    if (strcmp(name, "Local") == 0) {
        pthread_mutex_lock(&tz_lock);
        if (!tz_local_loaded) {
            tz_local_loaded = true;
            const char *env = secure_getenv("TZ");
            if (env == NULL) {
                tz_local = tz_load_file("Local", "/etc/localtime");
            } else if (*env != '\0' && tz_name_ok(*env == ':' ? env + 1 : env)) {
                char path[512];
                snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, *env == ':' ? env + 1 : env);
                tz_local = tz_load_file("Local", path);
            }
        }
        const tz_zone *z = tz_local ? tz_local : &tz_utc;
        pthread_mutex_unlock(&tz_lock);
        return z;
    }
    if (!tz_name_ok(name)) {
        *err = "time: invalid location name";
        return NULL;
    }
    pthread_mutex_lock(&tz_lock);
    for (tz_zone *z = tz_cache; z; z = z->next) {
        if (strcmp(z->name, name) == 0) {
            pthread_mutex_unlock(&tz_lock);
            return z;
        }
    }
    pthread_mutex_unlock(&tz_lock);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, name);
    tz_zone *z = tz_load_file(name, path);
    if (z == NULL) {
        *err = NULL; /* caller reports "unknown time zone <name>" */
        return NULL;
    }
    pthread_mutex_lock(&tz_lock);
    for (tz_zone *o = tz_cache; o; o = o->next) {
        if (strcmp(o->name, name) == 0) { /* another thread won the race */
            pthread_mutex_unlock(&tz_lock);
            tz_free(z);
            return o;
        }
    }
    z->next = tz_cache;
    tz_cache = z;
    pthread_mutex_unlock(&tz_lock);
    return z;
}

/* Splits ns since the epoch into broken-down time in zone z. */
static void time_fields(int64_t ns, const tz_zone *z, tm_fields *f)
{
    int64_t sec = floor_div(ns, NS_PER_SEC);
    f->nsec = (int)floor_mod(ns, NS_PER_SEC);
    int off = 0;
    const char *abbr = "UTC";
    tz_lookup(z, sec, &off, &abbr);
    f->offset = off;
    snprintf(f->abbr, sizeof f->abbr, "%s", abbr);
    int64_t local = sec + off;
    int64_t days = floor_div(local, 86400);
    int64_t tod = local - days * 86400;
    civil_from_days(days, &f->year, &f->month, &f->day);
    f->yday = (int)(days - days_from_civil(f->year, 1, 1)) + 1;
    f->wday = (int)floor_mod(days + 4, 7);
    f->hour = (int)(tod / 3600);
    f->min = (int)(tod / 60 % 60);
    f->sec = (int)(tod % 60);
}

/* Seconds+nanos to int64 ns; false if outside the int64 range. */
static bool time_to_ns(__int128 sec, int64_t nsec, int64_t *out)
{
    __int128 ns = sec * NS_PER_SEC + nsec;
    if (ns < INT64_MIN || ns > INT64_MAX) return false;
    *out = (int64_t)ns;
    return true;
}

/* ---- layouts ----------------------------------------------------------- */

enum {
    STD_NONE = 0,
    STD_LONG_MONTH,
    STD_MONTH,
    STD_NUM_MONTH,
    STD_ZERO_MONTH,
    STD_LONG_WEEKDAY,
    STD_WEEKDAY,
    STD_DAY,
    STD_UNDER_DAY,
    STD_ZERO_DAY,
    STD_UNDER_YEARDAY,
    STD_ZERO_YEARDAY,
    STD_HOUR,
    STD_HOUR12,
    STD_ZERO_HOUR12,
    STD_MINUTE,
    STD_ZERO_MINUTE,
    STD_SECOND,
    STD_ZERO_SECOND,
    STD_LONG_YEAR,
    STD_YEAR,
    STD_PM,
    STD_PM_LOWER,
    STD_TZ,
    STD_ISO_TZ,         /* Z0700 */
    STD_ISO_SECONDS_TZ, /* Z070000 */
    STD_ISO_SHORT_TZ,   /* Z07 */
    STD_ISO_COLON_TZ,   /* Z07:00 */
    STD_ISO_COLON_SECONDS_TZ,
    STD_NUM_TZ,         /* -0700 */
    STD_NUM_SECONDS_TZ, /* -070000 */
    STD_NUM_SHORT_TZ,   /* -07 */
    STD_NUM_COLON_TZ,   /* -07:00 */
    STD_NUM_COLON_SECONDS_TZ,
    STD_FRAC0,
    STD_FRAC9,
};

typedef struct {
    size_t prefix; /* literal bytes before the token */
    size_t toklen; /* bytes of layout the token uses (0 if none) */
    int std;
    int ndigits; /* fractional seconds */
    char sep;    /* '.' or ',' for fractional seconds */
} lay_chunk;

static bool starts_lower(const char *s, size_t n) { return n > 0 && s[0] >= 'a' && s[0] <= 'z'; }

static bool has(const char *l, size_t n, size_t i, const char *tok)
{
    size_t t = strlen(tok);
    return n >= i + t && memcmp(l + i, tok, t) == 0;
}

/* Go's nextStdChunk. */
static void lay_next(const char *l, size_t n, lay_chunk *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        int std = STD_NONE;
        size_t len = 0, pre = i;
        switch (l[i]) {
        case 'J':
            if (has(l, n, i, "Jan")) {
                if (has(l, n, i, "January")) std = STD_LONG_MONTH, len = 7;
                else if (!starts_lower(l + i + 3, n - i - 3)) std = STD_MONTH, len = 3;
            }
            break;
        case 'M':
            if (has(l, n, i, "Mon")) {
                if (has(l, n, i, "Monday")) std = STD_LONG_WEEKDAY, len = 6;
                else if (!starts_lower(l + i + 3, n - i - 3)) std = STD_WEEKDAY, len = 3;
            }
            if (std == STD_NONE && has(l, n, i, "MST")) std = STD_TZ, len = 3;
            break;
        case '0':
            if (n >= i + 2 && l[i + 1] >= '1' && l[i + 1] <= '6') {
                static const int z[] = {STD_ZERO_MONTH,  STD_ZERO_DAY,    STD_ZERO_HOUR12,
                                        STD_ZERO_MINUTE, STD_ZERO_SECOND, STD_YEAR};
                std = z[l[i + 1] - '1'], len = 2;
            } else if (has(l, n, i, "002")) {
                std = STD_ZERO_YEARDAY, len = 3;
            }
            break;
        case '1':
            if (n >= i + 2 && l[i + 1] == '5') std = STD_HOUR, len = 2;
            else std = STD_NUM_MONTH, len = 1;
            break;
        case '2':
            if (has(l, n, i, "2006")) std = STD_LONG_YEAR, len = 4;
            else std = STD_DAY, len = 1;
            break;
        case '_':
            if (n >= i + 2 && l[i + 1] == '2') {
                if (has(l, n, i + 1, "2006")) std = STD_LONG_YEAR, len = 4, pre = i + 1;
                else std = STD_UNDER_DAY, len = 2;
            } else if (has(l, n, i, "__2")) {
                std = STD_UNDER_YEARDAY, len = 3;
            }
            break;
        case '3': std = STD_HOUR12, len = 1; break;
        case '4': std = STD_MINUTE, len = 1; break;
        case '5': std = STD_SECOND, len = 1; break;
        case 'P':
            if (n >= i + 2 && l[i + 1] == 'M') std = STD_PM, len = 2;
            break;
        case 'p':
            if (n >= i + 2 && l[i + 1] == 'm') std = STD_PM_LOWER, len = 2;
            break;
        case '-':
            if (has(l, n, i, "-070000")) std = STD_NUM_SECONDS_TZ, len = 7;
            else if (has(l, n, i, "-07:00:00")) std = STD_NUM_COLON_SECONDS_TZ, len = 9;
            else if (has(l, n, i, "-0700")) std = STD_NUM_TZ, len = 5;
            else if (has(l, n, i, "-07:00")) std = STD_NUM_COLON_TZ, len = 6;
            else if (has(l, n, i, "-07")) std = STD_NUM_SHORT_TZ, len = 3;
            break;
        case 'Z':
            if (has(l, n, i, "Z070000")) std = STD_ISO_SECONDS_TZ, len = 7;
            else if (has(l, n, i, "Z07:00:00")) std = STD_ISO_COLON_SECONDS_TZ, len = 9;
            else if (has(l, n, i, "Z0700")) std = STD_ISO_TZ, len = 5;
            else if (has(l, n, i, "Z07:00")) std = STD_ISO_COLON_TZ, len = 6;
            else if (has(l, n, i, "Z07")) std = STD_ISO_SHORT_TZ, len = 3;
            break;
        case '.':
        case ',':
            if (i + 1 < n && (l[i + 1] == '0' || l[i + 1] == '9')) {
                char ch = l[i + 1];
                size_t j = i + 1;
                while (j < n && l[j] == ch) j++;
                if (!(j < n && isdigit((unsigned char)l[j]))) {
                    std = ch == '0' ? STD_FRAC0 : STD_FRAC9;
                    c->ndigits = (int)(j - (i + 1));
                    c->sep = l[i];
                    len = j - i;
                }
            }
            break;
        default: break;
        }
        if (std != STD_NONE) {
            c->prefix = pre;
            c->toklen = len;
            c->std = std;
            return;
        }
    }
    c->prefix = n;
}

/* OPA accepts Go's layout constant names in place of the layout. */
static const char *lay_named(const char *s)
{
    static const char *const names[][2] = {
        {"ANSIC", "Mon Jan _2 15:04:05 2006"},
        {"UnixDate", "Mon Jan _2 15:04:05 MST 2006"},
        {"RubyDate", "Mon Jan 02 15:04:05 -0700 2006"},
        {"RFC822", "02 Jan 06 15:04 MST"},
        {"RFC822Z", "02 Jan 06 15:04 -0700"},
        {"RFC850", "Monday, 02-Jan-06 15:04:05 MST"},
        {"RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"},
        {"RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"},
        {"RFC3339", "2006-01-02T15:04:05Z07:00"},
        {"RFC3339Nano", "2006-01-02T15:04:05.999999999Z07:00"},
        {"Kitchen", "3:04PM"},
        {"Stamp", "Jan _2 15:04:05"},
        {"StampMilli", "Jan _2 15:04:05.000"},
        {"StampMicro", "Jan _2 15:04:05.000000"},
        {"StampNano", "Jan _2 15:04:05.000000000"},
        {"DateTime", "2006-01-02 15:04:05"},
        {"DateOnly", "2006-01-02"},
        {"TimeOnly", "15:04:05"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i][0]) == 0) return names[i][1];
    return s;
}

/* Go's appendInt: sign, then at least width digits, zero padded. */
static void tb_int(rego_buf *b, int64_t x, int width)
{
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    if (x < 0) rego_buf_putn(b, "-", 1);
    rego_buf_printf(b, "%0*" PRIu64, width, u);
}

static void lay_format(rego_buf *b, const char *layout, const tm_fields *f)
{
    const char *l = layout;
    size_t n = strlen(layout);
    while (n > 0) {
        lay_chunk c;
        lay_next(l, n, &c);
        rego_buf_putn(b, l, c.prefix);
        if (c.std == STD_NONE) break;
        l += c.prefix + c.toklen;
        n -= c.prefix + c.toklen;
        int hr12 = f->hour % 12 == 0 ? 12 : f->hour % 12;
        switch (c.std) {
        case STD_YEAR: tb_int(b, (f->year < 0 ? -f->year : f->year) % 100, 2); break;
        case STD_LONG_YEAR: tb_int(b, f->year, 4); break;
        case STD_MONTH: rego_buf_putn(b, month_names[f->month - 1], 3); break;
        case STD_LONG_MONTH: rego_buf_puts(b, month_names[f->month - 1]); break;
        case STD_NUM_MONTH: tb_int(b, f->month, 0); break;
        case STD_ZERO_MONTH: tb_int(b, f->month, 2); break;
        case STD_WEEKDAY: rego_buf_putn(b, day_names[f->wday], 3); break;
        case STD_LONG_WEEKDAY: rego_buf_puts(b, day_names[f->wday]); break;
        case STD_DAY: tb_int(b, f->day, 0); break;
        case STD_UNDER_DAY:
            if (f->day < 10) rego_buf_putn(b, " ", 1);
            tb_int(b, f->day, 0);
            break;
        case STD_ZERO_DAY: tb_int(b, f->day, 2); break;
        case STD_UNDER_YEARDAY:
            if (f->yday < 100) rego_buf_putn(b, " ", 1);
            if (f->yday < 10) rego_buf_putn(b, " ", 1);
            tb_int(b, f->yday, 0);
            break;
        case STD_ZERO_YEARDAY: tb_int(b, f->yday, 3); break;
        case STD_HOUR: tb_int(b, f->hour, 2); break;
        case STD_HOUR12: tb_int(b, hr12, 0); break;
        case STD_ZERO_HOUR12: tb_int(b, hr12, 2); break;
        case STD_MINUTE: tb_int(b, f->min, 0); break;
        case STD_ZERO_MINUTE: tb_int(b, f->min, 2); break;
        case STD_SECOND: tb_int(b, f->sec, 0); break;
        case STD_ZERO_SECOND: tb_int(b, f->sec, 2); break;
        case STD_PM: rego_buf_puts(b, f->hour >= 12 ? "PM" : "AM"); break;
        case STD_PM_LOWER: rego_buf_puts(b, f->hour >= 12 ? "pm" : "am"); break;
        case STD_ISO_TZ:
        case STD_ISO_COLON_TZ:
        case STD_ISO_SECONDS_TZ:
        case STD_ISO_SHORT_TZ:
        case STD_ISO_COLON_SECONDS_TZ:
        case STD_NUM_TZ:
        case STD_NUM_COLON_TZ:
        case STD_NUM_SECONDS_TZ:
        case STD_NUM_SHORT_TZ:
        case STD_NUM_COLON_SECONDS_TZ: {
            bool iso = c.std >= STD_ISO_TZ && c.std <= STD_ISO_COLON_SECONDS_TZ;
            if (iso && f->offset == 0) {
                rego_buf_putn(b, "Z", 1);
                break;
            }
            int zone = f->offset / 60, abs = f->offset;
            if (zone < 0) {
                rego_buf_putn(b, "-", 1);
                zone = -zone;
                abs = -abs;
            } else {
                rego_buf_putn(b, "+", 1);
            }
            tb_int(b, zone / 60, 2);
            bool colon = c.std == STD_ISO_COLON_TZ || c.std == STD_NUM_COLON_TZ || c.std == STD_ISO_COLON_SECONDS_TZ ||
                         c.std == STD_NUM_COLON_SECONDS_TZ;
            if (colon) rego_buf_putn(b, ":", 1);
            if (c.std != STD_NUM_SHORT_TZ && c.std != STD_ISO_SHORT_TZ) tb_int(b, zone % 60, 2);
            if (c.std == STD_ISO_SECONDS_TZ || c.std == STD_NUM_SECONDS_TZ || c.std == STD_NUM_COLON_SECONDS_TZ ||
                c.std == STD_ISO_COLON_SECONDS_TZ) {
                if (c.std == STD_NUM_COLON_SECONDS_TZ || c.std == STD_ISO_COLON_SECONDS_TZ) rego_buf_putn(b, ":", 1);
                tb_int(b, abs % 60, 2);
            }
            break;
        }
        case STD_TZ:
            if (f->abbr[0] != '\0') {
                rego_buf_puts(b, f->abbr);
            } else {
                int zone = f->offset / 60;
                if (zone < 0) {
                    rego_buf_putn(b, "-", 1);
                    zone = -zone;
                } else {
                    rego_buf_putn(b, "+", 1);
                }
                tb_int(b, zone / 60, 2);
                tb_int(b, zone % 60, 2);
            }
            break;
        case STD_FRAC0:
        case STD_FRAC9: {
            bool trim = c.std == STD_FRAC9;
            if (trim && (c.ndigits == 0 || f->nsec == 0)) break;
            char digits[16];
            snprintf(digits, sizeof digits, "%09d", f->nsec);
            size_t nd = c.ndigits < 9 ? (size_t)c.ndigits : 9;
            if (trim)
                while (nd > 0 && digits[nd - 1] == '0') nd--;
            if (trim && nd == 0) break;
            rego_buf_putn(b, &c.sep, 1);
            rego_buf_putn(b, digits, nd);
            break;
        }
        default: break;
        }
    }
}

/* ---- parsing (Go's time.Parse with UTC as the default location) -------- */

static void go_quote(rego_buf *b, const char *s, size_t n)
{
    rego_buf_putn(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') rego_buf_putn(b, "\\", 1);
        rego_buf_putn(b, s + i, 1);
    }
    rego_buf_putn(b, "\"", 1);
}

static bool isdig(const char *s, size_t n, size_t i) { return i < n && s[i] >= '0' && s[i] <= '9'; }

static bool getnum(const char **v, size_t *n, bool fixed, int *out)
{
    const char *s = *v;
    if (!isdig(s, *n, 0)) return false;
    if (!isdig(s, *n, 1)) {
        if (fixed) return false;
        *out = s[0] - '0';
        *v += 1;
        *n -= 1;
        return true;
    }
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    *v += 2;
    *n -= 2;
    return true;
}

static bool getnum3(const char **v, size_t *n, bool fixed, int *out)
{
    int x = 0;
    size_t i;
    for (i = 0; i < 3 && isdig(*v, *n, i); i++) x = x * 10 + ((*v)[i] - '0');
    if (i == 0 || (fixed && i != 3)) return false;
    *out = x;
    *v += i;
    *n -= i;
    return true;
}

/* Go's atoi on a short field: optional sign, digits. */
static bool short_atoi(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i >= n) return false;
    int64_t x = 0;
    for (; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) || x > INT64_C(100000000000)) return false;
        x = x * 10 + (s[i] - '0');
    }
    *out = neg ? -x : x;
    return true;
}

static bool lookup_name(const char *const *tab, int count, size_t len_or0, const char **v, size_t *n, int *idx)
{
    for (int i = 0; i < count; i++) {
        size_t l = len_or0 ? len_or0 : strlen(tab[i]);
        if (*n >= l && strncasecmp(*v, tab[i], l) == 0) {
            *idx = i;
            *v += l;
            *n -= l;
            return true;
        }
    }
    return false;
}

/* parseSignedOffset: "+h" / "-hh" with at most 23 hours; returns bytes used or 0. */
static size_t parse_signed_offset(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '-' && s[0] != '+')) return 0;
    size_t i = 1;
    int64_t x = 0;
    while (i < n && isdigit((unsigned char)s[i])) {
        if (x < 1000) x = x * 10 + (s[i] - '0');
        i++;
    }
    if (i == 1 || x > 23) return 0;
    return i;
}

static size_t parse_tz_name(const char *s, size_t n)
{
    if (n < 3) return 0;
    if (n >= 4 && (strncmp(s, "ChST", 4) == 0 || strncmp(s, "MeST", 4) == 0)) return 4;
    if (strncmp(s, "GMT", 3) == 0) return 3 + parse_signed_offset(s + 3, n - 3);
    if (s[0] == '+' || s[0] == '-') return parse_signed_offset(s, n);
    size_t up = 0;
    while (up < 6 && up < n && s[up] >= 'A' && s[up] <= 'Z') up++;
    switch (up) {
    case 3: return 3;
    case 4: return (s[3] == 'T' || strncmp(s, "WITA", 4) == 0) ? 4 : 0;
    case 5: return s[4] == 'T' ? 5 : 0;
    default: return 0;
    }
}

static bool parse_nanos(const char *v, size_t nbytes, int *ns)
{
    if (v[0] != '.' && v[0] != ',') return false;
    if (nbytes > 10) nbytes = 10;
    int64_t x;
    if (!short_atoi(v + 1, nbytes - 1, &x) || x < 0) return false;
    for (size_t i = nbytes; i < 10; i++) x *= 10;
    *ns = (int)x;
    return true;
}

/* Parses value with layout. Returns 0 with *out_ns, -1 with a NEW error text in
 * *err ("parsing time ..." or "time outside of valid range"). */
static int time_parse(const char *layout, const char *value, int64_t *out_ns, char **err)
{
    const char *l = layout, *v = value;
    size_t ln = strlen(layout), vn = strlen(value);
    int64_t year = 0;
    int month = -1, day = -1, yday = -1, hour = 0, min = 0, sec = 0, nsec = 0;
    bool pm = false, am = false, utc_z = false, named_zone = false;
    long zone_off = -1;
    const char *range_err = NULL;
    rego_buf eb = REGO_BUF_SOFT;

    for (;;) {
        lay_chunk c;
        lay_next(l, ln, &c);
        const char *stdstr = l + c.prefix;
        /* literal prefix must match */
        if (vn < c.prefix || memcmp(v, l, c.prefix) != 0) {
            rego_buf_puts(&eb, "parsing time ");
            go_quote(&eb, value, strlen(value));
            rego_buf_puts(&eb, " as ");
            go_quote(&eb, layout, strlen(layout));
            rego_buf_puts(&eb, ": cannot parse ");
            go_quote(&eb, v, vn);
            rego_buf_puts(&eb, " as ");
            go_quote(&eb, l, c.prefix);
            goto fail;
        }
        v += c.prefix;
        vn -= c.prefix;
        if (c.std == STD_NONE) {
            if (vn > 0) {
                rego_buf_puts(&eb, "parsing time ");
                go_quote(&eb, value, strlen(value));
                rego_buf_puts(&eb, ": extra text: ");
                go_quote(&eb, v, vn);
                goto fail;
            }
            break;
        }
        l += c.prefix + c.toklen;
        ln -= c.prefix + c.toklen;
        const char *hold = v;
        size_t holdn = vn;
        bool ok = true;
        int64_t tmp;
        int idx = 0;
        switch (c.std) {
        case STD_YEAR:
            if (vn < 2) {
                ok = false;
                break;
            }
            if (short_atoi(v, 2, &tmp)) {
                year = tmp >= 69 ? tmp + 1900 : tmp + 2000;
                v += 2;
                vn -= 2;
            } else {
                ok = false;
            }
            break;
        case STD_LONG_YEAR:
            if (vn < 4 || !isdig(v, vn, 0) || !short_atoi(v, 4, &tmp)) {
                ok = false;
                break;
            }
            year = tmp;
            v += 4;
            vn -= 4;
            break;
        case STD_MONTH:
            ok = lookup_name(month_names, 12, 3, &v, &vn, &idx);
            month = idx + 1;
            break;
        case STD_LONG_MONTH:
            ok = lookup_name(month_names, 12, 0, &v, &vn, &idx);
            month = idx + 1;
            break;
        case STD_NUM_MONTH:
        case STD_ZERO_MONTH:
            ok = getnum(&v, &vn, c.std == STD_ZERO_MONTH, &month);
            if (ok && (month <= 0 || month > 12)) range_err = "month";
            break;
        case STD_WEEKDAY: ok = lookup_name(day_names, 7, 3, &v, &vn, &idx); break;
        case STD_LONG_WEEKDAY: ok = lookup_name(day_names, 7, 0, &v, &vn, &idx); break;
        case STD_DAY:
        case STD_UNDER_DAY:
        case STD_ZERO_DAY:
            if (c.std == STD_UNDER_DAY && vn > 0 && v[0] == ' ') {
                v++;
                vn--;
            }
            ok = getnum(&v, &vn, c.std == STD_ZERO_DAY, &day);
            break;
        case STD_UNDER_YEARDAY:
        case STD_ZERO_YEARDAY:
            for (int i = 0; i < 2; i++)
                if (c.std == STD_UNDER_YEARDAY && vn > 0 && v[0] == ' ') {
                    v++;
                    vn--;
                }
            ok = getnum3(&v, &vn, c.std == STD_ZERO_YEARDAY, &yday);
            break;
        case STD_HOUR:
            ok = getnum(&v, &vn, false, &hour);
            if (ok && hour >= 24) range_err = "hour";
            break;
        case STD_HOUR12:
        case STD_ZERO_HOUR12:
            ok = getnum(&v, &vn, c.std == STD_ZERO_HOUR12, &hour);
            if (ok && hour > 12) range_err = "hour";
            break;
        case STD_MINUTE:
        case STD_ZERO_MINUTE:
            ok = getnum(&v, &vn, c.std == STD_ZERO_MINUTE, &min);
            if (ok && min >= 60) range_err = "minute";
            break;
        case STD_SECOND:
        case STD_ZERO_SECOND:
            ok = getnum(&v, &vn, c.std == STD_ZERO_SECOND, &sec);
            if (!ok) break;
            if (sec >= 60) {
                range_err = "second";
                break;
            }
            /* a fractional second in the value that the layout does not ask for */
            if (vn >= 2 && (v[0] == '.' || v[0] == ',') && isdig(v, vn, 1)) {
                lay_chunk nc;
                lay_next(l, ln, &nc);
                if (nc.std == STD_FRAC0 || nc.std == STD_FRAC9) break;
                size_t k = 2;
                while (k < vn && isdig(v, vn, k)) k++;
                ok = parse_nanos(v, k, &nsec);
                v += k;
                vn -= k;
            }
            break;
        case STD_PM:
        case STD_PM_LOWER: {
            if (vn < 2) {
                ok = false;
                break;
            }
            bool lower = c.std == STD_PM_LOWER;
            if (strncmp(v, lower ? "pm" : "PM", 2) == 0) pm = true;
            else if (strncmp(v, lower ? "am" : "AM", 2) == 0) am = true;
            else ok = false;
            if (ok) {
                v += 2;
                vn -= 2;
            }
            break;
        }
        case STD_ISO_TZ:
        case STD_ISO_SHORT_TZ:
        case STD_ISO_COLON_TZ:
        case STD_ISO_SECONDS_TZ:
        case STD_ISO_COLON_SECONDS_TZ:
            if (vn >= 1 && v[0] == 'Z') {
                v++;
                vn--;
                utc_z = true;
                break;
            }
            /* fall through */
        case STD_NUM_TZ:
        case STD_NUM_SHORT_TZ:
        case STD_NUM_COLON_TZ:
        case STD_NUM_SECONDS_TZ:
        case STD_NUM_COLON_SECONDS_TZ: {
            char hh[2], mm[2] = {'0', '0'}, ss[2] = {'0', '0'};
            char sign;
            size_t used;
            if (c.std == STD_ISO_COLON_TZ || c.std == STD_NUM_COLON_TZ) {
                if (vn < 6 || v[3] != ':') {
                    ok = false;
                    break;
                }
                memcpy(hh, v + 1, 2);
                memcpy(mm, v + 4, 2);
                used = 6;
            } else if (c.std == STD_NUM_SHORT_TZ || c.std == STD_ISO_SHORT_TZ) {
                if (vn < 3) {
                    ok = false;
                    break;
                }
                memcpy(hh, v + 1, 2);
                used = 3;
            } else if (c.std == STD_ISO_COLON_SECONDS_TZ || c.std == STD_NUM_COLON_SECONDS_TZ) {
                if (vn < 9 || v[3] != ':' || v[6] != ':') {
                    ok = false;
                    break;
                }
                memcpy(hh, v + 1, 2);
                memcpy(mm, v + 4, 2);
                memcpy(ss, v + 7, 2);
                used = 9;
            } else if (c.std == STD_ISO_SECONDS_TZ || c.std == STD_NUM_SECONDS_TZ) {
                if (vn < 7) {
                    ok = false;
                    break;
                }
                memcpy(hh, v + 1, 2);
                memcpy(mm, v + 3, 2);
                memcpy(ss, v + 5, 2);
                used = 7;
            } else {
                if (vn < 5) {
                    ok = false;
                    break;
                }
                memcpy(hh, v + 1, 2);
                memcpy(mm, v + 3, 2);
                used = 5;
            }
            sign = v[0];
            int h, m, s;
            const char *p;
            size_t pn;
            p = hh, pn = 2;
            ok = getnum(&p, &pn, true, &h);
            p = mm, pn = 2;
            ok = ok && getnum(&p, &pn, true, &m);
            p = ss, pn = 2;
            ok = ok && getnum(&p, &pn, true, &s);
            if (!ok) break;
            if (h > 24) range_err = "time zone offset hour";
            if (m > 60) range_err = "time zone offset minute";
            if (s > 60) range_err = "time zone offset second";
            zone_off = (h * 60 + m) * 60 + s;
            if (sign == '-') zone_off = -zone_off;
            else if (sign != '+') ok = false;
            v += used;
            vn -= used;
            break;
        }
        case STD_TZ:
            if (vn >= 3 && strncmp(v, "UTC", 3) == 0) {
                utc_z = true;
                v += 3;
                vn -= 3;
                break;
            }
            {
                size_t k = parse_tz_name(v, vn);
                if (k == 0) {
                    ok = false;
                    break;
                }
                /* Go keeps the wall clock and attaches a made-up zone: same instant as UTC. */
                named_zone = true;
                v += k;
                vn -= k;
            }
            break;
        case STD_FRAC0: {
            size_t nd = 1 + (size_t)c.ndigits;
            if (vn < nd) {
                ok = false;
                break;
            }
            ok = parse_nanos(v, nd, &nsec);
            v += nd;
            vn -= nd;
            break;
        }
        case STD_FRAC9: {
            if (vn < 2 || (v[0] != '.' && v[0] != ',') || !isdig(v, vn, 1)) break;
            size_t i = 0;
            while (i + 1 < vn && isdig(v, vn, i + 1)) i++;
            ok = parse_nanos(v, 1 + i, &nsec);
            v += 1 + i;
            vn -= 1 + i;
            break;
        }
        default: break;
        }
        if (range_err) {
            rego_buf_puts(&eb, "parsing time ");
            go_quote(&eb, value, strlen(value));
            rego_buf_puts(&eb, ": ");
            rego_buf_puts(&eb, range_err);
            rego_buf_puts(&eb, " out of range");
            goto fail;
        }
        if (!ok) {
            rego_buf_puts(&eb, "parsing time ");
            go_quote(&eb, value, strlen(value));
            rego_buf_puts(&eb, " as ");
            go_quote(&eb, layout, strlen(layout));
            rego_buf_puts(&eb, ": cannot parse ");
            go_quote(&eb, hold, holdn);
            rego_buf_puts(&eb, " as ");
            go_quote(&eb, stdstr, c.toklen);
            goto fail;
        }
    }
    (void)named_zone;
    if (pm && hour < 12) hour += 12;
    else if (am && hour == 12) hour = 0;
    if (yday >= 0) {
        int maxd = is_leap(year) ? 366 : 365;
        if (yday < 1 || yday > maxd) {
            rego_buf_puts(&eb, "parsing time ");
            go_quote(&eb, value, strlen(value));
            rego_buf_puts(&eb, ": day-of-year out of range");
            goto fail;
        }
        int64_t yy;
        int m, d;
        civil_from_days(days_from_civil(year, 1, 1) + yday - 1, &yy, &m, &d);
        if (month >= 0 && month != m) {
            rego_buf_puts(&eb, "parsing time ");
            go_quote(&eb, value, strlen(value));
            rego_buf_puts(&eb, ": day-of-year does not match month");
            goto fail;
        }
        if (day >= 0 && day != d) {
            rego_buf_puts(&eb, "parsing time ");
            go_quote(&eb, value, strlen(value));
            rego_buf_puts(&eb, ": day-of-year does not match day");
            goto fail;
        }
        month = m;
        day = d;
    } else {
        if (month < 0) month = 1;
        if (day < 0) day = 1;
    }
    if (day < 1 || day > days_in_month(month, year)) {
        rego_buf_puts(&eb, "parsing time ");
        go_quote(&eb, value, strlen(value));
        rego_buf_puts(&eb, ": day out of range");
        goto fail;
    }
    __int128 secs = (__int128)days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
    if (!utc_z && zone_off != -1) secs -= zone_off;
    if (!time_to_ns(secs, nsec, out_ns)) {
        free(eb.p);
        *err = strdup("time outside of valid range");
        return -1;
    }
    free(eb.p);
    return 0;
fail:
    if (eb.oom) {
        free(eb.p);
        *err = NULL;
    } else {
        *err = eb.p;
    }
    return -1;
}

/* ---- durations (Go's time.ParseDuration, plus d/w/y as OPA accepts) ---- */

static int parse_duration(const char *s, int64_t *out, char **err)
{
    const char *orig = s;
    uint64_t d = 0;
    bool neg = false;
    rego_buf eb = REGO_BUF_SOFT;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s == '\0') goto invalid;
    while (*s) {
        uint64_t v = 0, f = 0;
        double scale = 1;
        if (!(*s == '.' || isdigit((unsigned char)*s))) goto invalid;
        const char *pl = s;
        bool overflow = false;
        while (isdigit((unsigned char)*s)) {
            if (v > (UINT64_C(1) << 63) / 10) {
                overflow = true;
            } else {
                v = v * 10 + (uint64_t)(*s - '0');
                if (v > (UINT64_C(1) << 63)) overflow = true;
            }
            s++;
        }
        if (overflow) goto invalid;
        bool pre = s != pl;
        bool post = false;
        if (*s == '.') {
            s++;
            const char *pf = s;
            bool fover = false;
            while (isdigit((unsigned char)*s)) {
                if (!fover) {
                    if (f > (UINT64_MAX - 9) / 10) {
                        fover = true;
                    } else {
                        f = f * 10 + (uint64_t)(*s - '0');
                        scale *= 10;
                    }
                }
                s++;
            }
            post = s != pf;
        }
        if (!pre && !post) goto invalid;
        const char *pu = s;
        while (*s && *s != '.' && !isdigit((unsigned char)*s)) s++;
        size_t ul = (size_t)(s - pu);
        if (ul == 0) {
            rego_buf_puts(&eb, "time: missing unit in duration ");
            go_quote(&eb, orig, strlen(orig));
            goto fail;
        }
        uint64_t unit;
        if (ul == 2 && strncmp(pu, "ns", 2) == 0) unit = 1;
        else if ((ul == 2 && strncmp(pu, "us", 2) == 0) || (ul == 3 && strncmp(pu, "\xc2\xb5s", 3) == 0) ||
                 (ul == 3 && strncmp(pu, "\xce\xbcs", 3) == 0))
            unit = 1000;
        else if (ul == 2 && strncmp(pu, "ms", 2) == 0) unit = 1000000;
        else if (ul == 1 && *pu == 's') unit = 1000000000;
        else if (ul == 1 && *pu == 'm') unit = UINT64_C(60000000000);
        else if (ul == 1 && *pu == 'h') unit = UINT64_C(3600000000000);
        else if (ul == 1 && *pu == 'd') /* OPA extends Go's units with days, weeks, years */
            unit = UINT64_C(86400000000000);
        else if (ul == 1 && *pu == 'w') unit = UINT64_C(604800000000000);
        else if (ul == 1 && *pu == 'y') unit = UINT64_C(31536000000000000);
        else {
            rego_buf_puts(&eb, "time: unknown unit ");
            go_quote(&eb, pu, ul);
            rego_buf_puts(&eb, " in duration ");
            go_quote(&eb, orig, strlen(orig));
            goto fail;
        }
        if (v > (UINT64_C(1) << 63) / unit) goto invalid;
        v *= unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > (UINT64_C(1) << 63)) goto invalid;
        }
        d += v;
        if (d > (UINT64_C(1) << 63)) goto invalid;
    }
    if (neg) {
        *out = (int64_t)(0 - d);
        return 0;
    }
    if (d > (uint64_t)INT64_MAX) goto invalid;
    *out = (int64_t)d;
    return 0;
invalid:
    free(eb.p);
    eb = (rego_buf){0};
    rego_buf_puts(&eb, "time: invalid duration ");
    go_quote(&eb, orig, strlen(orig));
fail:
    *err = eb.oom ? NULL : eb.p;
    if (eb.oom) free(eb.p);
    return -1;
}

/* ---- builtins ---------------------------------------------------------- */

/* OPA's tzTime: number ns, or [ns], [ns, tz], [ns, tz, layout]. On success fills
 * *ns, *zone (BORROWED) and *layout (static or BORROWED from the argument). */
static int tz_time(rego_bctx *ctx, const char *name, const rv *a, int64_t *ns, const tz_zone **zone,
                   const char **layout)
{
    const rv *num = a;
    *zone = &tz_utc;
    if (layout) *layout = "2006-01-02T15:04:05.999999999Z07:00";
    if (rv_typeof(a) == RV_ARRAY) {
        size_t n = rv_len(a);
        if (n == 0)
            return rego_bctx_type_errorf(
                ctx, "%s: operand 1 must be either number (ns) or [number (ns), string (tz)] but got array", name);
        num = rv_array_at(a, 0);
        if (rv_typeof(num) != RV_NUMBER)
            return rego_bctx_type_errorf(ctx, "%s: operand 1 must be number but got %s", name, rv_type_name(num));
        if (n > 1) {
            const rv *tz = rv_array_at(a, 1);
            if (rv_typeof(tz) != RV_STRING)
                return rego_bctx_type_errorf(ctx, "%s: operand 1 must be string but got %s", name, rv_type_name(tz));
            const char *err = NULL;
            if (strlen(rv_str(tz)) != rv_strlen(tz))
                return rego_bctx_errorf(ctx, "%s: time: invalid location name", name);
            *zone = tz_get(rv_str(tz), &err);
            if (*zone == NULL) {
                if (err) return rego_bctx_errorf(ctx, "%s: %s", name, err);
                return rego_bctx_errorf(ctx, "%s: unknown time zone %s", name, rv_str(tz));
            }
        }
        if (n > 2 && layout) {
            const rv *lay = rv_array_at(a, 2);
            if (rv_typeof(lay) != RV_STRING)
                return rego_bctx_type_errorf(ctx, "%s: operand 1 must be string but got %s", name, rv_type_name(lay));
            *layout = lay_named(rv_str(lay));
        }
    } else if (rv_typeof(a) != RV_NUMBER) {
        return rego_bctx_type_errorf(ctx, "%s: operand 1 must be one of {number, array} but got %s", name,
                                     rv_type_name(a));
    }
    if (!rv_number_as_int64(num, ns)) return rego_bctx_errorf(ctx, "%s: timestamp too big", name);
    return REGO_OK;
}

static int bi_now_ns(rego_bctx *ctx, rv *const *args, rv **out)
{
    (void)args;
    *out = rv_int(rego_bctx_now_ns(ctx));
    return REGO_OK;
}

static int parse_common(rego_bctx *ctx, const char *name, const char *layout, const rv *value, rv **out)
{
    if (strlen(layout) > 4096 || strlen(rv_str(value)) != rv_strlen(value))
        return rego_bctx_errorf(ctx, "%s: parsing time %s: invalid input", name, rv_str(value));
    int64_t ns;
    char *err = NULL;
    if (time_parse(layout, rv_str(value), &ns, &err) < 0) {
        int rc = rego_bctx_errorf(ctx, "%s: %s", name, err ? err : "out of memory");
        free(err);
        return rc;
    }
    *out = rv_int(ns);
    return REGO_OK;
}

static int bi_parse_ns(rego_bctx *ctx, rv *const *args, rv **out)
{
    return parse_common(ctx, "time.parse_ns", lay_named(rv_str(args[0])), args[1], out);
}

static int bi_parse_rfc3339_ns(rego_bctx *ctx, rv *const *args, rv **out)
{
    return parse_common(ctx, "time.parse_rfc3339_ns", "2006-01-02T15:04:05Z07:00", args[0], out);
}

static int bi_parse_duration_ns(rego_bctx *ctx, rv *const *args, rv **out)
{
    int64_t d;
    char *err = NULL;
    if (strlen(rv_str(args[0])) != rv_strlen(args[0]))
        return rego_bctx_errorf(ctx, "time.parse_duration_ns: time: invalid duration %s", rv_str(args[0]));
    if (parse_duration(rv_str(args[0]), &d, &err) < 0) {
        int rc = rego_bctx_errorf(ctx, "time.parse_duration_ns: %s", err ? err : "out of memory");
        free(err);
        return rc;
    }
    *out = rv_int(d);
    return REGO_OK;
}

static int bi_format(rego_bctx *ctx, rv *const *args, rv **out)
{
    int64_t ns;
    const tz_zone *z;
    const char *layout;
    int rc = tz_time(ctx, "time.format", args[0], &ns, &z, &layout);
    if (rc != REGO_OK) return rc;
    tm_fields f;
    time_fields(ns, z, &f);
    rego_buf b = REGO_BUF_SOFT;
    lay_format(&b, layout, &f);
    if (b.oom) {
        free(b.p);
        return rego_bctx_errorf(ctx, "time.format: out of memory");
    }
    *out = rego_buf_take(&b);
    return REGO_OK;
}

static int fields_of(rego_bctx *ctx, const char *name, const rv *a, tm_fields *f)
{
    int64_t ns;
    const tz_zone *z;
    int rc = tz_time(ctx, name, a, &ns, &z, NULL);
    if (rc != REGO_OK) return rc;
    time_fields(ns, z, f);
    return REGO_OK;
}

static rv *int_triple(int64_t a, int64_t b, int64_t c)
{
    rv *arr = rv_array_new(3);
    rv_array_push(arr, rv_int(a));
    rv_array_push(arr, rv_int(b));
    rv_array_push(arr, rv_int(c));
    return arr;
}

static int bi_date(rego_bctx *ctx, rv *const *args, rv **out)
{
    tm_fields f;
    int rc = fields_of(ctx, "time.date", args[0], &f);
    if (rc != REGO_OK) return rc;
    *out = int_triple(f.year, f.month, f.day);
    return REGO_OK;
}

static int bi_clock(rego_bctx *ctx, rv *const *args, rv **out)
{
    tm_fields f;
    int rc = fields_of(ctx, "time.clock", args[0], &f);
    if (rc != REGO_OK) return rc;
    *out = int_triple(f.hour, f.min, f.sec);
    return REGO_OK;
}

static int bi_weekday(rego_bctx *ctx, rv *const *args, rv **out)
{
    tm_fields f;
    int rc = fields_of(ctx, "time.weekday", args[0], &f);
    if (rc != REGO_OK) return rc;
    *out = rv_cstring(day_names[f.wday]);
    return REGO_OK;
}

static int bi_add_date(rego_bctx *ctx, rv *const *args, rv **out)
{
    int64_t ns, add[3];
    const tz_zone *z;
    int rc = tz_time(ctx, "time.add_date", args[0], &ns, &z, NULL);
    if (rc != REGO_OK) return rc;
    for (int i = 0; i < 3; i++) {
        if (!rv_number_as_int64(args[i + 1], &add[i]))
            return rego_bctx_type_errorf(
                ctx, "time.add_date: operand %d must be integer number but got floating-point number", i + 2);
    }
    tm_fields f;
    time_fields(ns, z, &f);
    /* Go's Date normalisation: months carry into years, days just add up. */
    __int128 months = (__int128)f.year * 12 + (f.month - 1) + (__int128)add[0] * 12 + add[1];
    __int128 y128 = months / 12, mo = months % 12;
    if (mo < 0) {
        mo += 12;
        y128--;
    }
    if (y128 > INT64_C(1000000000000000) || y128 < -INT64_C(1000000000000000))
        return rego_bctx_errorf(ctx, "time.add_date: time outside of valid range");
    __int128 days = (__int128)days_from_civil((int64_t)y128, (int)mo + 1, 1) + (f.day - 1) + add[2];
    __int128 secs = days * 86400 + f.hour * 3600 + f.min * 60 + f.sec - f.offset;
    int64_t res;
    if (days > INT64_C(1000000000000000000) / 86400 || days < -INT64_C(1000000000000000000) / 86400 ||
        !time_to_ns(secs, f.nsec, &res))
        return rego_bctx_errorf(ctx, "time.add_date: time outside of valid range");
    *out = rv_int(res);
    return REGO_OK;
}

static int bi_diff(rego_bctx *ctx, rv *const *args, rv **out)
{
    int64_t ns1, ns2;
    const tz_zone *z1, *z2;
    int rc = tz_time(ctx, "time.diff", args[0], &ns1, &z1, NULL);
    if (rc != REGO_OK) return rc;
    rc = tz_time(ctx, "time.diff", args[1], &ns2, &z2, NULL);
    if (rc != REGO_OK) return rc;
    /* both in the first operand's zone, earlier one first */
    if (ns1 > ns2) {
        int64_t t = ns1;
        ns1 = ns2;
        ns2 = t;
    }
    tm_fields a, b;
    time_fields(ns1, z1, &a);
    time_fields(ns2, z1, &b);
    int64_t year = b.year - a.year;
    int64_t month = b.month - a.month, day = b.day - a.day, hour = b.hour - a.hour, min = b.min - a.min,
            sec = b.sec - a.sec;
    if (sec < 0) {
        sec += 60;
        min--;
    }
    if (min < 0) {
        min += 60;
        hour--;
    }
    if (hour < 0) {
        hour += 24;
        day--;
    }
    if (day < 0) {
        day += days_in_month(a.month, a.year);
        month--;
    }
    if (month < 0) {
        month += 12;
        year--;
    }
    rv *arr = rv_array_new(6);
    int64_t parts[6] = {year, month, day, hour, min, sec};
    for (int i = 0; i < 6; i++) rv_array_push(arr, rv_int(parts[i]));
    *out = arr;
    return REGO_OK;
}

/* test.sleep: OPA's testing helper. Sleeps for the duration (capped at 1 s, so a
 * policy cannot stall a service's consumer for long) and is always true. */
static int bi_test_sleep(rego_bctx *ctx, rv *const *args, rv **out)
{
    int64_t d;
    char *err = NULL;
    if (parse_duration(rv_str(args[0]), &d, &err) < 0) {
        int rc = rego_bctx_errorf(ctx, "test.sleep: %s", err ? err : "out of memory");
        free(err);
        return rc;
    }
    if (d > 1000000000LL) d = 1000000000LL;
    if (d > 0) {
        struct timespec ts = {d / 1000000000LL, d % 1000000000LL};
        nanosleep(&ts, NULL);
    }
    *out = rv_null();
    return REGO_OK;
}

const rego_builtin_def rego_builtins_time[] = {
    {"time.now_ns", 0, bi_now_ns, {NULL}, REGO_BUILTIN_NONDETERMINISTIC},
    {"time.parse_ns", 2, bi_parse_ns, {"string", "string"}, 0},
    {"time.parse_rfc3339_ns", 1, bi_parse_rfc3339_ns, {"string"}, 0},
    {"time.parse_duration_ns", 1, bi_parse_duration_ns, {"string"}, 0},
    {"time.format", 1, bi_format, {"number|array"}, 0},
    {"time.date", 1, bi_date, {"number|array"}, 0},
    {"time.clock", 1, bi_clock, {"number|array"}, 0},
    {"time.weekday", 1, bi_weekday, {"number|array"}, 0},
    {"time.add_date", 4, bi_add_date, {"number", "number", "number", "number"}, 0},
    {"time.diff", 2, bi_diff, {"number|array", "number|array"}, 0},
    {"test.sleep", 1, bi_test_sleep, {"string"}, 0},
    {NULL, 0, NULL, {NULL}, 0},
};
