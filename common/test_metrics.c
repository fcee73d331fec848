/* Unit tests for metrics.c: registration idempotence, atomic updates, text rendering
 * with HELP/TYPE once per family. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/metrics.h"

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_render(void **state)
{
    metric *ok = metrics_counter("t_messages_total{result=\"ok\"}", "Messages.");
    metric *dead = metrics_counter("t_messages_total{result=\"dead\"}", "Messages.");
    metric *g = metrics_gauge("t_connected", "Connected.");
    assert_ptr_equal(ok, metrics_counter("t_messages_total{result=\"ok\"}", "Messages."));
    metrics_add(ok, 3);
    metrics_add(ok, 2);
    metrics_add(dead, 1);
    metrics_set(g, 1);
    metrics_set(g, 0);
    metrics_set(g, 1);
    char *text = metrics_render();
    assert_non_null(text);
    assert_int_equal(count(text, "# HELP t_messages_total Messages.\n"), 1);
    assert_int_equal(count(text, "# TYPE t_messages_total counter\n"), 1);
    assert_non_null(strstr(text, "t_messages_total{result=\"ok\"} 5\n"));
    assert_non_null(strstr(text, "t_messages_total{result=\"dead\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE t_connected gauge\nt_connected 1\n"));
    assert_non_null(strstr(text, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "));
    assert_null(strstr(text, "process_resident_memory_bytes 0\n"));
    /* both series of the family follow its header */
    char *head = strstr(text, "# TYPE t_messages_total");
    assert_true(strstr(text, "t_messages_total{result=\"dead\"}") > head);
    assert_true(strstr(text, "# TYPE t_connected") > strstr(text, "t_messages_total{result=\"dead\"}"));
    free(text);
    assert_null(metrics_counter(NULL, "x"));
    metrics_add(NULL, 1); /* harmless */
}

static metric *shared;
static void *adder(void *arg)
{
    for (int i = 0; i < 100000; i++)
        metrics_add(shared, 1);
    return NULL;
}

static void test_concurrent_adds(void **state)
{
    shared = metrics_counter("t_concurrent_total", "Concurrent adds.");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, adder, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(metrics_value(shared), 400000);
}

static void test_many(void **state)
{
    char name[64];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "t_many{i=\"%d\"}", i);
        metrics_add(metrics_counter(name, "Many."), i);
    }
    char *text = metrics_render();
    assert_int_equal(count(text, "# TYPE t_many counter"), 1);
    assert_non_null(strstr(text, "t_many{i=\"299\"} 299\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_concurrent_adds),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
