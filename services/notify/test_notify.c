/* Unit tests of notify: Slack escaping and limits, Block Kit structure of both
 * kinds, the PagerDuty and webhook bodies, the outbox plan, the classification of
 * HTTP answers, and real POSTs (post.c) to a tiny evhttp receiver on 127.0.0.1:0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "common/utf8.h"
#include "services/notify/notify.h"
#include "services/notify/post.h"

#define TICKET "0190f2a0-0000-7000-8000-000000000003"
#define ALERT "0190f2a0-0000-7000-8000-000000000002"

static char *indicators[] = {"ipv4:198.51.100.7", "domain:evil`x.example", "url:http://a.example/?a=1&b=<2>"};

static void make_request(Hutch__V1__NotifyRequest *r, const char *kind, const char *severity)
{
    hutch__v1__notify_request__init(r);
    r->request_id = "0190f2a0-0000-7000-8000-0000000000ff";
    r->ticket_id = TICKET;
    r->alert_id = ALERT;
    r->kind = (char *)kind;
    r->title = "Port probe on i-123 <prod>";
    r->summary = "Someone probes <port 22> & more\nIndicators: ipv4:198.51.100.7";
    r->severity = (char *)severity;
    r->channel = "#alerts";
    r->publish = "alert";
    r->alert_count = 3;
    r->indicators = indicators;
    r->n_indicators = 3;
}

static const char *text_of(const json_t *block)
{
    return json_string_value(json_object_get(json_object_get(block, "text"), "text"));
}

static void test_escape(void **state)
{
    char *s = notify_escape_mrkdwn("a & b <c> > d *bold*");
    assert_string_equal(s, "a &amp; b &lt;c&gt; &gt; d *bold*");
    free(s);
    s = notify_escape_mrkdwn("bad \xff byte, caf\xC3\xA9");
    assert_string_equal(s, "bad ? byte, caf\xC3\xA9");
    free(s);
    s = notify_escape_mrkdwn(NULL);
    assert_string_equal(s, "");
    free(s);
}

static void test_truncate(void **state)
{
    char *s = notify_truncate("h\xC3\xA9llo", 3);
    assert_string_equal(s, "h\xC3\xA9\xE2\x80\xA6");
    free(s);
    s = notify_truncate("hello", 5);
    assert_string_equal(s, "hello");
    free(s);
}

static void test_render_new_ticket(void **state)
{
    Hutch__V1__NotifyRequest r;
    make_request(&r, "new_ticket", "high");
    json_t *m = notify_render_slack(&r);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "text")), "[High] Port probe on i-123 &lt;prod&gt;");
    json_t *blocks = json_object_get(m, "blocks");
    assert_int_equal(json_array_size(blocks), 5);

    json_t *header = json_array_get(blocks, 0);
    assert_string_equal(json_string_value(json_object_get(header, "type")), "header");
    assert_string_equal(json_string_value(json_object_get(json_object_get(header, "text"), "type")), "plain_text");
    assert_string_equal(text_of(header), "Port probe on i-123 <prod>"); /* plain_text: not escaped */

    json_t *sev = json_array_get(blocks, 1);
    assert_string_equal(json_string_value(json_object_get(sev, "type")), "section");
    assert_string_equal(text_of(sev), ":red_circle: *High* severity \xC2\xB7 3 alerts");

    json_t *summary = json_array_get(blocks, 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(summary, "text"), "type")), "mrkdwn");
    assert_string_equal(text_of(summary), "Someone probes &lt;port 22&gt; &amp; more\nIndicators: ipv4:198.51.100.7");

    json_t *ctx = json_array_get(blocks, 3);
    assert_string_equal(json_string_value(json_object_get(ctx, "type")), "context");
    json_t *els = json_object_get(ctx, "elements");
    assert_int_equal(json_array_size(els), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(els, 0), "text")), "Ticket `" TICKET "`");
    assert_string_equal(json_string_value(json_object_get(json_array_get(els, 1), "text")),
                        "Indicators: `ipv4:198.51.100.7`, `domain:evil'x.example`, "
                        "`url:http://a.example/?a=1&amp;b=&lt;2&gt;`");

    json_t *actions = json_array_get(blocks, 4);
    assert_string_equal(json_string_value(json_object_get(actions, "type")), "actions");
    json_t *buttons = json_object_get(actions, "elements");
    assert_int_equal(json_array_size(buttons), 2);
    const char *ids[] = {"hutch_ack", "hutch_resolve"};
    const char *labels[] = {"Acknowledge", "Resolve"};
    for (size_t i = 0; i < 2; i++) {
        json_t *b = json_array_get(buttons, i);
        assert_string_equal(json_string_value(json_object_get(b, "type")), "button");
        assert_string_equal(json_string_value(json_object_get(b, "action_id")), ids[i]);
        assert_string_equal(json_string_value(json_object_get(b, "value")), TICKET);
        assert_string_equal(text_of(b), labels[i]);
    }
    json_decref(m);

    /* no summary, no indicators, one alert, severity of our own making */
    r.summary = "";
    r.n_indicators = 0;
    r.alert_count = 0;
    r.severity = "critical";
    m = notify_render_slack(&r);
    blocks = json_object_get(m, "blocks");
    assert_int_equal(json_array_size(blocks), 4);
    assert_string_equal(text_of(json_array_get(blocks, 1)), ":rotating_light: *Critical* severity \xC2\xB7 1 alert");
    assert_int_equal(json_array_size(json_object_get(json_array_get(blocks, 2), "elements")), 1);
    json_decref(m);
}

static void test_limits(void **state)
{
    Hutch__V1__NotifyRequest r;
    make_request(&r, "new_ticket", "medium");
    char title[400], summary[5000];
    memset(title, 'T', sizeof title - 1);
    title[sizeof title - 1] = '\0';
    memset(summary, '&', sizeof summary - 1); /* each becomes 5 characters */
    summary[sizeof summary - 1] = '\0';
    r.title = title;
    r.summary = summary;
    json_t *m = notify_render_slack(&r);
    json_t *blocks = json_object_get(m, "blocks");
    const char *h = text_of(json_array_get(blocks, 0));
    assert_int_equal(utf8_chars(h), NOTIFY_HEADER_MAX);
    const char *s = text_of(json_array_get(blocks, 2));
    assert_true(utf8_chars(s) <= NOTIFY_SECTION_MAX);
    size_t len = strlen(s);
    assert_memory_equal(s + len - 3, "\xE2\x80\xA6", 3);
    assert_memory_equal(s + len - 8, "&amp;", 5); /* never a cut escape */
    json_decref(m);
}

static void test_render_bound(void **state)
{
    Hutch__V1__NotifyRequest r;
    make_request(&r, "alert_bound", "low");
    json_t *m = notify_render_slack(&r);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "text")),
                        "Another alert bound to ticket: Port probe on i-123 &lt;prod&gt;");
    json_t *blocks = json_object_get(m, "blocks");
    assert_int_equal(json_array_size(blocks), 3);
    assert_string_equal(text_of(json_array_get(blocks, 0)),
                        ":link: Another alert bound to *Port probe on i-123 &lt;prod&gt;* \xE2\x80\x94 "
                        ":large_yellow_circle: *Low* \xC2\xB7 3 alerts");
    json_t *ctx = json_array_get(blocks, 2);
    assert_string_equal(json_string_value(json_object_get(ctx, "type")), "context");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(ctx, "elements"), 0), "text")),
                        "Ticket `" TICKET "` \xC2\xB7 alert `" ALERT "`");
    for (size_t i = 0; i < json_array_size(blocks); i++) /* no buttons on an update */
        assert_string_not_equal(json_string_value(json_object_get(json_array_get(blocks, i), "type")), "actions");
    json_decref(m);
}

static void test_pagerduty_and_webhook(void **state)
{
    Hutch__V1__NotifyRequest r;
    make_request(&r, "new_ticket", "high");
    assert_false(notify_pages(&r)); /* high pages only when the triage says so */
    r.page = true;
    assert_true(notify_pages(&r));
    r.page = false;
    r.severity = "critical"; /* critical always */
    assert_true(notify_pages(&r));
    r.severity = NULL;
    assert_false(notify_pages(&r));
    r.severity = "high";
    r.page = true;
    json_t *pd = notify_render_pagerduty(&r);
    assert_non_null(pd);
    assert_null(json_object_get(pd, "routing_key"));
    assert_string_equal(json_string_value(json_object_get(pd, "event_action")), "trigger");
    assert_string_equal(json_string_value(json_object_get(pd, "dedup_key")), TICKET);
    json_t *payload = json_object_get(pd, "payload");
    assert_string_equal(json_string_value(json_object_get(payload, "severity")), "error");
    assert_string_equal(json_string_value(json_object_get(payload, "summary")), "[high] Port probe on i-123 <prod>");
    assert_string_equal(json_string_value(json_object_get(payload, "source")), "hutch");
    assert_int_equal(json_array_size(json_object_get(json_object_get(payload, "custom_details"), "indicators")), 3);
    json_decref(pd);
    r.severity = "critical";
    pd = notify_render_pagerduty(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(pd, "payload"), "severity")), "critical");
    json_decref(pd);

    json_t *w = notify_request_json(&r);
    assert_non_null(w);
    assert_string_equal(json_string_value(json_object_get(w, "request_id")), r.request_id);
    assert_string_equal(json_string_value(json_object_get(w, "kind")), "new_ticket");
    assert_int_equal(json_integer_value(json_object_get(w, "alert_count")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(w, "indicators"), 0)), indicators[0]);
    json_decref(w);
}

static void test_plan(void **state)
{
    Hutch__V1__NotifyRequest r;
    make_request(&r, "new_ticket", "high");
    notify_plan plan;
    notify_settings none = {"", "", ""};
    assert_int_equal(notify_plan_make(&plan, &r, &none), 0);
    assert_int_equal(plan.n, 1);
    assert_string_equal(plan.targets[0].target, NOTIFY_TARGET_LOG);
    assert_string_equal(plan.targets[0].row_id, r.request_id);
    assert_non_null(json_object_get(plan.targets[0].message, "blocks"));
    notify_plan_free(&plan);

    notify_settings all = {"https://hooks.slack.example/x", "key", "https://hook.example/y"};
    assert_int_equal(notify_plan_make(&plan, &r, &all), 0);
    assert_int_equal(plan.n, 2); /* high without the triage's page: no PagerDuty */
    assert_string_equal(plan.targets[1].target, NOTIFY_TARGET_WEBHOOK);
    notify_plan_free(&plan);

    r.page = true;
    assert_int_equal(notify_plan_make(&plan, &r, &all), 0);
    assert_int_equal(plan.n, 3);
    assert_string_equal(plan.targets[0].target, NOTIFY_TARGET_SLACK);
    assert_string_equal(plan.targets[1].target, NOTIFY_TARGET_PAGERDUTY);
    assert_string_equal(plan.targets[1].row_id, TICKET "/pagerduty"); /* once per ticket */
    assert_string_equal(plan.targets[2].target, NOTIFY_TARGET_WEBHOOK);
    assert_string_equal(plan.targets[2].row_id, "0190f2a0-0000-7000-8000-0000000000ff/webhook");
    notify_plan_free(&plan);

    r.page = false;
    r.severity = "critical"; /* pages without being told */
    assert_int_equal(notify_plan_make(&plan, &r, &all), 0);
    assert_int_equal(plan.n, 3);
    assert_string_equal(plan.targets[1].target, NOTIFY_TARGET_PAGERDUTY);
    notify_plan_free(&plan);

    r.severity = "medium"; /* does not page */
    assert_int_equal(notify_plan_make(&plan, &r, &all), 0);
    assert_int_equal(plan.n, 2);
    assert_string_equal(plan.targets[1].target, NOTIFY_TARGET_WEBHOOK);
    notify_plan_free(&plan);
    notify_plan_free(NULL);
}

static void test_classify(void **state)
{
    assert_int_equal(notify_classify(true, 200), NOTIFY_SENT);
    assert_int_equal(notify_classify(true, 202), NOTIFY_SENT);
    assert_int_equal(notify_classify(true, 400), NOTIFY_FAILED);
    assert_int_equal(notify_classify(true, 404), NOTIFY_FAILED);
    assert_int_equal(notify_classify(true, 408), NOTIFY_RETRY);
    assert_int_equal(notify_classify(true, 429), NOTIFY_RETRY);
    assert_int_equal(notify_classify(true, 500), NOTIFY_RETRY);
    assert_int_equal(notify_classify(true, 503), NOTIFY_RETRY);
    assert_int_equal(notify_classify(true, 302), NOTIFY_FAILED);
    assert_int_equal(notify_classify(false, 0), NOTIFY_RETRY);
}

/* A receiver on 127.0.0.1:0 answering every request with `status` and `reply`
 * (or never, when hang), remembering the last body and Content-Type. */
typedef struct {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    int status;
    const char *reply;
    bool hang;
    int hits;
    char body[8192];
    char content_type[128];
} receiver;

static void on_request(struct evhttp_request *req, void *arg)
{
    receiver *rv = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n >= sizeof rv->body)
        n = sizeof rv->body - 1;
    evbuffer_copyout(in, rv->body, n);
    rv->body[n] = '\0';
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    snprintf(rv->content_type, sizeof rv->content_type, "%s", ct ? ct : "");
    rv->hits++;
    if (rv->hang)
        return; /* the client times out; the request is freed with the server */
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "%s", rv->reply);
    evhttp_send_reply(req, rv->status, "whatever", out);
    evbuffer_free(out);
}

static void *receiver_loop(void *arg)
{
    receiver *rv = arg;
    event_base_loop(rv->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int receiver_setup(void **state)
{
    receiver *rv = calloc(1, sizeof *rv);
    rv->base = event_base_new();
    rv->http = evhttp_new(rv->base);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(rv->http, "127.0.0.1", 0);
    if (s == NULL)
        return -1;
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sa, &len);
    rv->port = ntohs(sa.sin_port);
    evhttp_set_gencb(rv->http, on_request, rv);
    rv->status = 200;
    rv->reply = "ok";
    pthread_create(&rv->thread, NULL, receiver_loop, rv);
    *state = rv;
    return 0;
}

static int receiver_teardown(void **state)
{
    receiver *rv = *state;
    event_base_loopbreak(rv->base);
    pthread_join(rv->thread, NULL);
    evhttp_free(rv->http);
    event_base_free(rv->base);
    free(rv);
    return 0;
}

static void test_post(void **state)
{
    receiver *rv = *state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/services/T/B/x", rv->port);
    notify_post_result res;

    Hutch__V1__NotifyRequest r;
    make_request(&r, "new_ticket", "high");
    json_t *m = notify_render_slack(&r);
    char *body = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    assert_int_equal(notify_post_json(url, body, 5000, &res), 0);
    assert_true(res.answered);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "ok");
    assert_string_equal(rv->body, body); /* the receiver got exactly the rendered message */
    assert_string_equal(rv->content_type, "application/json");
    assert_int_equal(notify_classify(res.answered, res.status), NOTIFY_SENT);

    rv->status = 400;
    rv->reply = "invalid_blocks";
    assert_int_equal(notify_post_json(url, body, 5000, &res), 0);
    assert_int_equal(res.status, 400);
    assert_string_equal(res.body, "invalid_blocks");
    assert_int_equal(notify_classify(res.answered, res.status), NOTIFY_FAILED);

    rv->status = 503;
    rv->reply = "later";
    assert_int_equal(notify_post_json(url, body, 5000, &res), 0);
    assert_int_equal(notify_classify(res.answered, res.status), NOTIFY_RETRY);

    rv->hang = true; /* no answer within the timeout */
    assert_int_equal(notify_post_json(url, body, 300, &res), -1);
    assert_false(res.answered);
    assert_true(res.error[0] != '\0');
    assert_null(strstr(res.error, "127.0.0.1")); /* the URL may be secret */
    assert_int_equal(notify_classify(res.answered, res.status), NOTIFY_RETRY);
    assert_int_equal(rv->hits, 4);
    free(body);

    /* nobody listening */
    assert_int_equal(notify_post_json("http://127.0.0.1:1/x", "{}", 2000, &res), -1);
    assert_false(res.answered);
    /* only http(s) */
    assert_int_equal(notify_post_json("file:///etc/passwd", "{}", 2000, &res), -1);
}

int main(void)
{
    evthread_use_pthreads();
    notify_post_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_render_new_ticket),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_render_bound),
        cmocka_unit_test(test_pagerduty_and_webhook),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_classify),
        cmocka_unit_test_setup_teardown(test_post, receiver_setup, receiver_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    notify_post_cleanup();
    libevent_global_shutdown();
    return rc;
}
