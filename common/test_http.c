/* Unit tests for http.c against a real server on 127.0.0.1:0, with libcurl as the
 * client: built-in endpoints, prefix routes, 404/405/413, deferred replies from
 * another thread, several loops on one socket, stop/free. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <event2/buffer.h>

#include "common/http.h"
#include "common/metrics.h"
#include "common/strbuf.h"

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    return strbuf_add(arg, p, size * n) == 0 ? size * n : 0;
}

/* Returns the status; *out gets the body (free it) when out != NULL. */
static long request(int port, const char *method, const char *path, const char *post, size_t post_len, char **out)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    strbuf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)post_len);
    }
    if (method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out)
        *out = strbuf_take(&b); /* "" for an empty body */
    else
        strbuf_free(&b);
    return status;
}

static bool ready_flag;
static bool ready_fn(void *ctx, char *reason, size_t len)
{
    if (!ready_flag)
        snprintf(reason, len, "kafka not connected");
    return ready_flag;
}

static void echo_route(struct evhttp_request *req, void *ctx)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    char json[256];
    snprintf(json, sizeof json, "{\"route\":\"%s\",\"len\":%zu}", (const char *)ctx, evbuffer_get_length(in));
    http_reply_json(req, 202, json);
}

/* Deferred reply: a thread answers the request later through http_server_defer. */
typedef struct {
    http_server *s;
    struct evhttp_request *req;
} later;

static void reply_later(void *arg)
{
    later *l = arg;
    http_reply_error(l->req, 503, "try \"later\"");
    free(l);
}

static void *later_thread(void *arg)
{
    later *l = arg;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    if (http_server_defer(l->s, reply_later, l) < 0)
        free(l);
    return NULL;
}

static void deferred_route(struct evhttp_request *req, void *ctx)
{
    later *l = malloc(sizeof *l);
    l->s = ctx;
    l->req = req;
    pthread_t th;
    pthread_create(&th, NULL, later_thread, l);
    pthread_detach(th);
}

static json_t *status_fn(void *ctx)
{
    (void)ctx;
    return json_pack("{s:s,s:{s:i}}", "status", "overridden?", "policy", "generation", 2);
}

static void test_server(void **state)
{
    char err[256];
    http_server *s = http_server_new("127.0.0.1", 0, 1000, err, sizeof err);
    assert_non_null(s);
    int port = http_server_port(s);
    assert_true(port > 0);
    http_server_set_ready(s, ready_fn, NULL);
    http_server_route(s, "/hooks/", echo_route, "hooks");
    http_server_route(s, "/hooks/alert/", echo_route, "alert");
    assert_int_equal(http_server_start(s), 0);
    http_server_route(s, "/later", deferred_route, s); /* added while running */

    char *out = NULL;
    assert_int_equal(request(port, NULL, "/healthz", NULL, 0, &out), 200);
    assert_string_equal(out, "{\"status\":\"ok\"}");
    free(out);

    ready_flag = false;
    assert_int_equal(request(port, NULL, "/readyz", NULL, 0, &out), 503);
    assert_non_null(strstr(out, "kafka not connected"));
    free(out);
    ready_flag = true;
    assert_int_equal(request(port, NULL, "/readyz", NULL, 0, NULL), 200);
    /* a service's own status joins the body, ready or not; "status" stays ours */
    http_server_set_status(s, status_fn, NULL);
    assert_int_equal(request(port, NULL, "/readyz", NULL, 0, &out), 200);
    assert_string_equal(out, "{\"status\":\"ready\",\"policy\":{\"generation\":2}}");
    free(out);
    ready_flag = false;
    assert_int_equal(request(port, NULL, "/readyz", NULL, 0, &out), 503);
    assert_non_null(strstr(out, "\"policy\":{\"generation\":2}"));
    assert_non_null(strstr(out, "\"status\":\"not ready\""));
    free(out);
    ready_flag = true;

    metrics_add(metrics_counter("t_http_total", "x"), 7);
    assert_int_equal(request(port, NULL, "/metrics", NULL, 0, &out), 200);
    assert_non_null(strstr(out, "t_http_total 7\n"));
    assert_non_null(strstr(out, "hutch_http_requests_total"));
    free(out);

    assert_int_equal(request(port, NULL, "/hooks/alert/raw/guardduty", "{}", 2, &out), 202);
    assert_string_equal(out, "{\"route\":\"alert\",\"len\":2}");
    free(out);
    assert_int_equal(request(port, NULL, "/hooks/other?x=1", "abc", 3, &out), 202);
    assert_string_equal(out, "{\"route\":\"hooks\",\"len\":3}");
    free(out);
    assert_int_equal(request(port, NULL, "/nope", NULL, 0, &out), 404);
    assert_string_equal(out, "{\"error\":\"not found\"}");
    free(out);
    assert_int_equal(request(port, NULL, "/healthz", "x", 1, NULL), 405);

    char *big = malloc(5000);
    memset(big, 'a', 5000);
    assert_int_equal(request(port, NULL, "/hooks/alert/raw/x", big, 5000, NULL), 413);
    free(big);
    /* the server still works after a 413 */
    assert_int_equal(request(port, NULL, "/healthz", NULL, 0, NULL), 200);

    http_server_set_max_body(s, 10000);
    big = malloc(5000);
    memset(big, 'a', 5000);
    assert_int_equal(request(port, NULL, "/hooks/alert/raw/x", big, 5000, NULL), 202);
    free(big);

    assert_int_equal(request(port, NULL, "/later", NULL, 0, &out), 503);
    assert_string_equal(out, "{\"error\":\"try \\\"later\\\"\"}");
    free(out);

    http_server_free(s);
    assert_int_equal(request(port, NULL, "/healthz", NULL, 0, NULL), 0); /* gone */
}

/* Several loops: while one loop is stuck in a handler, the others accept and
 * answer; the body limit applies on every loop. */
static http_server *loops_server;
static atomic_int blocked_loop = -1;

static int loop_index(struct evhttp_request *req)
{
    struct event_base *base = evhttp_connection_get_base(evhttp_request_get_connection(req));
    for (int i = 0; i < http_server_loops(loops_server); i++)
        if (http_server_loop_base(loops_server, i) == base)
            return i;
    return -1;
}

static void block_route(struct evhttp_request *req, void *ctx)
{
    atomic_store(&blocked_loop, loop_index(req));
    struct timespec ts = {0, 600 * 1000000L}; /* a test only: never sleep on a loop */
    nanosleep(&ts, NULL);
    http_reply_json(req, 200, "{}");
}

static void which_route(struct evhttp_request *req, void *ctx)
{
    char json[64];
    snprintf(json, sizeof json, "{\"loop\":%d}", loop_index(req));
    http_reply_json(req, 200, json);
}

static void *block_thread(void *arg)
{
    long *status = arg;
    *status = request(http_server_port(loops_server), NULL, "/block", NULL, 0, NULL);
    return NULL;
}

static void test_several_loops(void **state)
{
    char err[256];
    http_server *s = http_server_new("127.0.0.1", 0, 1000, err, sizeof err);
    assert_non_null(s);
    loops_server = s;
    assert_int_equal(http_server_set_loops(s, 3), 0);
    assert_int_equal(http_server_set_loops(s, 0), -1);
    assert_int_equal(http_server_set_loops(s, HTTP_MAX_LOOPS + 1), -1);
    http_server_route(s, "/block", block_route, NULL);
    http_server_route(s, "/which", which_route, NULL);
    assert_int_equal(http_server_start(s), 0);
    assert_int_equal(http_server_set_loops(s, 4), 0); /* added while running */
    assert_int_equal(http_server_loops(s), 4);
    assert_ptr_equal(http_server_loop_base(s, 0), http_server_base(s));
    assert_non_null(http_server_loop_base(s, 3));
    assert_null(http_server_loop_base(s, 4));
    int port = http_server_port(s);

    atomic_store(&blocked_loop, -1);
    long block_status = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, block_thread, &block_status), 0);
    for (int i = 0; i < 500 && atomic_load(&blocked_loop) < 0; i++) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    int stuck = atomic_load(&blocked_loop);
    assert_true(stuck >= 0);
    for (int i = 0; i < 6; i++) { /* a new connection each: another loop takes it */
        char *out = NULL;
        assert_int_equal(request(port, NULL, "/which", NULL, 0, &out), 200);
        int loop = -1;
        assert_int_equal(sscanf(out, "{\"loop\":%d}", &loop), 1);
        assert_true(loop >= 0 && loop < 4);
        assert_int_not_equal(loop, stuck);
        free(out);
    }
    pthread_join(th, NULL);
    assert_int_equal(block_status, 200);

    http_server_set_max_body(s, 100);
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    char big[500];
    memset(big, 'a', sizeof big);
    for (int i = 0; i < 8; i++)
        assert_int_equal(request(port, NULL, "/which", big, sizeof big, NULL), 413);
    http_server_free(s);
    assert_int_equal(request(port, NULL, "/healthz", NULL, 0, NULL), 0); /* every loop gone */
}

static void test_bad_bind(void **state)
{
    char err[256] = "";
    assert_null(http_server_new("203.0.113.1", 1, 0, err, sizeof err));
    assert_non_null(strstr(err, "cannot listen"));
    http_server_free(NULL);
    assert_int_equal(http_server_defer(NULL, NULL, NULL), -1);
}

static void test_free_without_start(void **state)
{
    char err[256];
    http_server *s = http_server_new("127.0.0.1", 0, 0, err, sizeof err);
    assert_non_null(s);
    http_server_stop(s);
    assert_int_equal(http_server_defer(s, reply_later, NULL), -1);
    http_server_free(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server),
        cmocka_unit_test(test_several_loops),
        cmocka_unit_test(test_bad_bind),
        cmocka_unit_test(test_free_without_start),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
