/* Unit tests for log.c: each line is one valid JSON object with the fixed keys
 * first, values escaped, NULL values skipped, levels filtered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"

static int capture_fd = -1, saved_fd = -1;
static char capture_path[64];

static void capture_begin(void)
{
    snprintf(capture_path, sizeof capture_path, "/tmp/hutch-test-log-XXXXXX");
    capture_fd = mkstemp(capture_path);
    assert_true(capture_fd >= 0);
    saved_fd = dup(2);
    dup2(capture_fd, 2);
}

static char *capture_end(void)
{
    dup2(saved_fd, 2);
    close(saved_fd);
    off_t len = lseek(capture_fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    assert_int_equal(pread(capture_fd, buf, (size_t)len, 0), len);
    close(capture_fd);
    unlink(capture_path);
    return buf;
}

static void test_line_is_json(void **state)
{
    log_init("hutch-test", LOG_LEVEL_INFO);
    capture_begin();
    LOG_INFO("alert_accepted", "alert_id", "a1", "skipped", NULL, "trace_id", "t1", NULL);
    char *out = capture_end();
    size_t len = strlen(out);
    assert_true(len > 0);
    assert_int_equal(out[len - 1], '\n');
    assert_null(strchr(out, '\n') + 1 == out + len ? NULL : "more than one line");
    assert_true(strncmp(out, "{\"ts\":", 6) == 0);
    json_error_t e;
    json_t *o = json_loads(out, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "service")), "hutch-test");
    assert_string_equal(json_string_value(json_object_get(o, "event")), "alert_accepted");
    assert_string_equal(json_string_value(json_object_get(o, "alert_id")), "a1");
    assert_string_equal(json_string_value(json_object_get(o, "trace_id")), "t1");
    assert_null(json_object_get(o, "skipped"));
    const char *ts = json_string_value(json_object_get(o, "ts"));
    assert_int_equal(strlen(ts), 24); /* 2024-01-02T03:04:05.678Z */
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    json_decref(o);
    free(out);
}

static void test_escaping(void **state)
{
    log_init("hutch-test", LOG_LEVEL_DEBUG);
    capture_begin();
    LOG_WARN("odd", "quote", "say \"hi\"\n\tback\\slash", "ctl", "\x01", "utf8", "caf\xc3\xa9", "bad", "x\xff" "y",
             NULL);
    char *out = capture_end();
    assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1); /* one line */
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "quote")), "say \"hi\"\n\tback\\slash");
    assert_string_equal(json_string_value(json_object_get(o, "ctl")), "\x01");
    assert_string_equal(json_string_value(json_object_get(o, "utf8")), "caf\xc3\xa9");
    assert_string_equal(json_string_value(json_object_get(o, "bad")), "x?y");
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    json_decref(o);
    free(out);
}

/* Non-ASCII text comes out as \u escapes (the line is ASCII), astral code points
 * as surrogate pairs, long values whole, a repeated key once with its last value. */
static void test_ascii_and_long_values(void **state)
{
    log_init("hutch-test", LOG_LEVEL_DEBUG);
    size_t long_len = 10000;
    char *long_value = malloc(long_len + 1);
    assert_non_null(long_value);
    for (size_t i = 0; i < long_len; i++)
        long_value[i] = (char)('a' + i % 26);
    long_value[long_len] = '\0';
    capture_begin();
    LOG_INFO("wide", "accent", "first", "word", "caf\xc3\xa9", "emoji", "\xf0\x9f\x98\x80!", "del", "\x7f",
             "long", long_value, "accent", "again", "surrogate", "\xed\xa0\x80", NULL);
    char *out = capture_end();
    for (const char *c = out; *c; c++)
        assert_true((unsigned char)*c < 0x80);
    assert_non_null(strstr(out, "\"caf\\u00e9\""));
    assert_null(strstr(out, "first")); /* replaced by "again" */
    assert_non_null(strstr(out, "\\ud83d\\ude00"));
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 10);
    assert_string_equal(json_string_value(json_object_get(o, "accent")), "again");
    assert_string_equal(json_string_value(json_object_get(o, "word")), "caf\xc3\xa9");
    assert_string_equal(json_string_value(json_object_get(o, "emoji")), "\xf0\x9f\x98\x80!");
    assert_string_equal(json_string_value(json_object_get(o, "del")), "\x7f");
    assert_string_equal(json_string_value(json_object_get(o, "long")), long_value);
    assert_string_equal(json_string_value(json_object_get(o, "surrogate")), "???"); /* not UTF-8 */
    /* the repeated key keeps its first place: right after event */
    assert_true(strstr(out, "\"event\":\"wide\",\"accent\":\"again\"") != NULL);
    json_decref(o);
    free(out);
    free(long_value);
}

static void test_level_filter(void **state)
{
    log_init("hutch-test", LOG_LEVEL_WARN);
    capture_begin();
    LOG_DEBUG("d", NULL);
    LOG_INFO("i", NULL);
    LOG_WARN("w", NULL);
    LOG_ERROR("e", NULL);
    char *out = capture_end();
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    assert_non_null(strstr(out, "\"event\":\"w\""));
    assert_non_null(strstr(out, "\"level\":\"error\""));
    free(out);
}

static void test_level_parse(void **state)
{
    assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("WARN"), LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERROR);
    assert_int_equal(log_level_parse("nonsense"), LOG_LEVEL_INFO);
    assert_int_equal(log_level_parse(NULL), LOG_LEVEL_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_is_json),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_ascii_and_long_values),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
