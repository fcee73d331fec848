/* The one home of severity (severity.h).
 *
 * Levels and their canonical scores: info 0, low 20, medium 40, high 70, critical 90.
 * A score maps back to a level by: < 10 info, < 40 low, < 70 medium, < 90 high, else
 * critical (ASFF's own Normalized bands, and GuardDuty's 0-10 scale times ten:
 * 2.0 low, 5.0 medium, 8.0 high, 9.0 critical).
 *
 * The normaliser (severity_score_from_json) reads vendor fields when the policy gave
 * no severity: the highest hint found anywhere in the payload or attributes. Hints
 * are members named "severity" or "priority" (any case):
 *   number under "severity": 0..10 -> x10 (GuardDuty), 10..100 -> as is;
 *   object under "severity": Normalized (0..100, ASFF) or Label;
 *   string: critical/emergency/alert/fatal 90, high/error/major 70,
 *           medium/moderate/warning/warn 40, low/notice/minor 20,
 *           informational/info/information/debug/none 0; a number in a string
 *           under "severity" reads as a number.
 * Numeric "priority" values are ignored (their scales run both ways). Vendor scales
 * that differ (CrowdStrike 1-5, Wazuh levels 0-15) are mapped by their policies,
 * which set "severity" themselves (policies/README.md). */
#include "common/severity.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEVERITY_WALK_MAX_DEPTH 64

static const struct {
    const char *name;
    int score;
} levels[] = {{"info", 0}, {"low", 20}, {"medium", 40}, {"high", 70}, {"critical", 90}};

const char *severity_name(severity_level level)
{
    return level >= SEVERITY_INFO && level <= SEVERITY_CRITICAL ? levels[level].name : "info";
}

int severity_parse(const char *name, severity_level *out)
{
    for (int i = 0; name && i <= SEVERITY_CRITICAL; i++)
        if (!strcmp(name, levels[i].name)) {
            *out = (severity_level)i;
            return 0;
        }
    return -1;
}

int severity_score(severity_level level) { return levels[level >= 0 && level <= SEVERITY_CRITICAL ? level : 0].score; }

severity_level severity_from_score(double score)
{
    if (!(score >= 10))
        return SEVERITY_INFO;
    if (score < 40)
        return SEVERITY_LOW;
    if (score < 70)
        return SEVERITY_MEDIUM;
    if (score < 90)
        return SEVERITY_HIGH;
    return SEVERITY_CRITICAL;
}

int severity_rank(const char *name)
{
    severity_level l;
    return severity_parse(name, &l) == 0 ? (int)l : -1;
}

static int severity_word(const char *s)
{
    static const struct {
        const char *word;
        int score;
    } words[] = {
        {"critical", 90}, {"emergency", 90},  {"alert", 90},  {"fatal", 90},    {"high", 70},
        {"error", 70},    {"major", 70},      {"medium", 40}, {"moderate", 40}, {"warning", 40},
        {"warn", 40},     {"low", 20},        {"notice", 20}, {"minor", 20},    {"informational", 0},
        {"info", 0},      {"information", 0}, {"debug", 0},   {"none", 0},
    };
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].word) == n && !strncasecmp(words[i].word, s, n))
            return words[i].score;
    return -1;
}

static int severity_number(double x)
{
    if (x >= 0 && x <= 10)
        return (int)(x * 10 + 0.5);
    if (x > 10 && x <= 100)
        return (int)(x + 0.5);
    return -1;
}

static int severity_string(const char *s, bool numeric_ok)
{
    int w = severity_word(s);
    if (w >= 0 || !numeric_ok)
        return w;
    char *end;
    double x = strtod(s, &end);
    if (end == s)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    return *end ? -1 : severity_number(x);
}

static int max_int(int a, int b) { return a > b ? a : b; }

static int hint_of(const char *key, const json_t *v)
{
    bool sev = !strcasecmp(key, "severity");
    if (!sev && strcasecmp(key, "priority"))
        return -1;
    if (json_is_number(v))
        return sev ? severity_number(json_number_value(v)) : -1;
    if (json_is_string(v))
        return severity_string(json_string_value(v), sev);
    if (json_is_object(v) && sev) {
        int best = -1;
        const char *k;
        json_t *c;
        json_object_foreach ((json_t *)v, k, c) {
            if (!strcasecmp(k, "normalized") && json_is_number(c)) {
                double x = json_number_value(c);
                if (x >= 0 && x <= 100)
                    best = max_int(best, (int)(x + 0.5));
            } else if (!strcasecmp(k, "label") && json_is_string(c)) {
                best = max_int(best, severity_word(json_string_value(c)));
            }
        }
        return best;
    }
    return -1;
}

static int hints_walk(const json_t *v, int depth)
{
    if (depth > SEVERITY_WALK_MAX_DEPTH)
        return -1;
    int best = -1;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach ((json_t *)v, k, c) {
            best = max_int(best, hint_of(k, c));
            best = max_int(best, hints_walk(c, depth + 1));
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach (v, i, c)
            best = max_int(best, hints_walk(c, depth + 1));
    }
    return best;
}

int severity_score_from_json(const json_t *payload, Hutch__V1__Attribute *const *attrs, size_t n_attrs)
{
    int best = payload ? hints_walk(payload, 0) : -1;
    for (size_t i = 0; attrs && i < n_attrs; i++) {
        const Hutch__V1__Attribute *a = attrs[i];
        if (!a || !a->key || !a->value)
            continue;
        bool sev = !strcasecmp(a->key, "severity");
        if (sev || !strcasecmp(a->key, "priority"))
            best = max_int(best, severity_string(a->value, sev));
    }
    return best;
}
