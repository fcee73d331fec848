/* Unit tests for config.c: defaults, required, parse errors all reported at once,
 * secrets masked in help and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/config.h"

typedef struct {
    char *name;
    char *password;
    int64_t count;
    bool flag;
    int64_t window_ms;
    char *required;
} test_conf;

static const config_field table[] = {
    {"HT_NAME", CONFIG_STRING, "default-name", offsetof(test_conf, name), "a name"},
    {"HT_PASSWORD", CONFIG_SECRET, "hunter2-default", offsetof(test_conf, password), "a password"},
    {"HT_COUNT", CONFIG_INT, "8", offsetof(test_conf, count), "a count", 1, 100},
    {"HT_FLAG", CONFIG_BOOL, "false", offsetof(test_conf, flag), "a flag"},
    {"HT_WINDOW", CONFIG_DURATION_MS, "1h", offsetof(test_conf, window_ms), "a window"},
    {"HT_REQUIRED", CONFIG_STRING, NULL, offsetof(test_conf, required), "must be set"},
    CONFIG_END,
};

static int clear_env(void **state)
{
    const char *names[] = {"HT_NAME", "HT_PASSWORD", "HT_COUNT", "HT_FLAG", "HT_WINDOW", "HT_REQUIRED"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
    return 0;
}

static void test_defaults(void **state)
{
    setenv("HT_REQUIRED", "x", 1);
    test_conf c;
    memset(&c, 0xAB, sizeof c);
    char err[1024];
    assert_int_equal(config_load(table, &c, err, sizeof err), 0);
    assert_string_equal(c.name, "default-name");
    assert_string_equal(c.password, "hunter2-default");
    assert_int_equal(c.count, 8);
    assert_false(c.flag);
    assert_int_equal(c.window_ms, 3600 * 1000);
    assert_string_equal(c.required, "x");
    config_free(table, &c);
    assert_null(c.name);
    assert_null(c.required);
}

static const config_field level_table[] = {
    {"HT_LEVEL", CONFIG_STRING, "info", 0, "a level", 0, 0, "debug|info|warn"},
    CONFIG_END,
};

static void test_choices(void **state)
{
    char *level = NULL;
    char err[1024];
    setenv("HT_LEVEL", "warn", 1);
    assert_int_equal(config_load(level_table, &level, err, sizeof err), 0);
    assert_string_equal(level, "warn");
    config_free(level_table, &level);
    setenv("HT_LEVEL", "war", 1); /* a prefix of a choice is not a choice */
    assert_int_equal(config_load(level_table, &level, err, sizeof err), -1);
    assert_non_null(strstr(err, "HT_LEVEL: \"war\" is not one of debug|info|warn"));
    assert_null(level);
    unsetenv("HT_LEVEL");
}

/* Two sections with one error each: both reported, then exit 78. */
static void test_sections_report_all(void **state)
{
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/tmp/hutch-test-config-sections.err", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        setenv("HT_REQUIRED", "x", 1);
        setenv("HT_COUNT", "1000", 1);
        setenv("HT_LEVEL", "loud", 1);
        test_conf c;
        char *level = NULL;
        config_section sections[] = {{table, &c, "Settings"}, {level_table, &level, "Common settings"}};
        config_sections_load_or_exit(sections, 2, 0, NULL, "prog", NULL);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 78);
    char buf[2048] = {0};
    FILE *f = fopen("/tmp/hutch-test-config-sections.err", "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink("/tmp/hutch-test-config-sections.err");
    buf[n] = 0;
    assert_non_null(strstr(buf, "HT_COUNT: 1000 is out of range"));
    assert_non_null(strstr(buf, "HT_LEVEL: \"loud\" is not one of"));
}

static void test_values_from_env(void **state)
{
    setenv("HT_REQUIRED", "r", 1);
    setenv("HT_NAME", "n", 1);
    setenv("HT_COUNT", " 42 ", 1);
    setenv("HT_FLAG", "Yes", 1);
    setenv("HT_WINDOW", "1m30s", 1);
    test_conf c = {0};
    char err[1024];
    assert_int_equal(config_load(table, &c, err, sizeof err), 0);
    assert_string_equal(c.name, "n");
    assert_int_equal(c.count, 42);
    assert_true(c.flag);
    assert_int_equal(c.window_ms, 90000);
    config_free(table, &c);
}

static void test_required_missing(void **state)
{
    test_conf c = {0};
    char err[1024];
    assert_int_equal(config_load(table, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "HT_REQUIRED"));
    assert_non_null(strstr(err, "required"));
    assert_null(c.name); /* nothing left allocated on failure */
    setenv("HT_REQUIRED", "", 1); /* empty counts as unset */
    assert_int_equal(config_load(table, &c, err, sizeof err), -1);
}

static void test_all_errors_at_once(void **state)
{
    setenv("HT_COUNT", "abc", 1);
    setenv("HT_FLAG", "maybe", 1);
    setenv("HT_WINDOW", "5 parsecs", 1);
    test_conf c = {0};
    char err[2048];
    assert_int_equal(config_load(table, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "HT_COUNT"));
    assert_non_null(strstr(err, "abc"));
    assert_non_null(strstr(err, "HT_FLAG"));
    assert_non_null(strstr(err, "HT_WINDOW"));
    assert_non_null(strstr(err, "HT_REQUIRED"));
    int lines = 1;
    for (const char *p = err; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
}

static void test_int_range(void **state)
{
    setenv("HT_REQUIRED", "r", 1);
    setenv("HT_COUNT", "1000", 1);
    test_conf c = {0};
    char err[1024];
    assert_int_equal(config_load(table, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    setenv("HT_COUNT", "99999999999999999999999", 1);
    assert_int_equal(config_load(table, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "HT_COUNT"));
}

static void test_durations(void **state)
{
    int64_t v;
    assert_int_equal(config_parse_duration_ms("500ms", &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(config_parse_duration_ms("20s", &v), 0);
    assert_int_equal(v, 20000);
    assert_int_equal(config_parse_duration_ms("1500", &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(config_parse_duration_ms("2d", &v), 0);
    assert_int_equal(v, 2 * 86400000LL);
    assert_int_equal(config_parse_duration_ms("", &v), -1);
    assert_int_equal(config_parse_duration_ms("-5s", &v), -1);
    assert_int_equal(config_parse_duration_ms("5x", &v), -1);
    assert_int_equal(config_parse_duration_ms("1m30", &v), -1);
}

/* Runs config_print_help with stdout redirected to a file; returns what it printed. */
static char *capture_help(void)
{
    char path[] = "/tmp/hutch-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    config_print_help(table, "hutch-test", "About text.");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    pread(fd, buf, (size_t)len, 0);
    close(fd);
    unlink(path);
    return buf;
}

static void test_help_masks_secret(void **state)
{
    setenv("HT_PASSWORD", "s3cret-from-env", 1);
    char *help = capture_help();
    assert_non_null(strstr(help, "HT_PASSWORD"));
    assert_non_null(strstr(help, "****"));
    assert_null(strstr(help, "hunter2"));
    assert_null(strstr(help, "s3cret"));
    assert_non_null(strstr(help, "default-name"));
    assert_non_null(strstr(help, "required"));
    assert_non_null(strstr(help, "About text."));
    free(help);
}

static void test_known(void **state)
{
    setenv("HT_REQUIRED", "r", 1);
    test_conf c = {0};
    char err[256];
    assert_int_equal(config_load(table, &c, err, sizeof err), 0);
    config_free(table, &c);
    assert_true(config_is_known("HT_COUNT"));
    assert_false(config_is_known("HT_OTHER"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_values_from_env, clear_env),
        cmocka_unit_test_setup(test_required_missing, clear_env),
        cmocka_unit_test_setup(test_all_errors_at_once, clear_env),
        cmocka_unit_test_setup(test_int_range, clear_env),
        cmocka_unit_test(test_durations),
        cmocka_unit_test_setup(test_choices, clear_env),
        cmocka_unit_test_setup(test_sections_report_all, clear_env),
        cmocka_unit_test_setup(test_help_masks_secret, clear_env),
        cmocka_unit_test_setup(test_known, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
