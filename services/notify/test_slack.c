/* Unit tests of the Slack app's pure parts: the ticket message's Block Kit (escaping
 * of hostile text, Slack's limits, buttons by state, the LLM disclaimer, threat-intel
 * verdicts), the v0
 * request signature, and the reading of interactions and events into commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ids.h"
#include "common/utf8.h"
#include "services/notify/blocks.h"
#include "services/notify/notify.h"
#include "services/notify/slack_api.h"
#include "services/notify/slack_callback.h"
#include "services/notify/slack_commands.h"
#include "common/ticket.h"

#define TICKET "0190f2a0-0000-7000-8000-000000000003"
#define ALERT "0190f2a0-0000-7000-8000-000000000002"

static slack_ticket_view base_view(void)
{
    slack_ticket_view v;
    memset(&v, 0, sizeof v);
    v.ticket_id = TICKET;
    v.title = "SSH brute force <!channel>";
    v.description = "see <https://evil.example|click> & run";
    v.status = "open";
    v.severity = "high";
    v.alert_count = 12;
    v.first_alert_id = ALERT;
    return v;
}

/* The whole message as text, to look for what must never appear. */
static char *dump(const json_t *m) { return json_dumps(m, JSON_COMPACT); }

static const json_t *find_block(const json_t *m, const char *type, int nth)
{
    size_t i;
    const json_t *b;
    json_array_foreach (json_object_get(m, "blocks"), i, b) {
        if (!strcmp(json_string_value(json_object_get(b, "type")), type) && nth-- == 0)
            return b;
    }
    return NULL;
}

static const json_t *find_action_block(const json_t *m, const char *block_id_prefix)
{
    size_t i;
    const json_t *b;
    json_array_foreach (json_object_get(m, "blocks"), i, b) {
        const char *id = json_string_value(json_object_get(b, "block_id"));
        if (id && !strncmp(id, block_id_prefix, strlen(block_id_prefix)))
            return b;
    }
    return NULL;
}

static void action_ids(const json_t *block, char *out, size_t len)
{
    out[0] = '\0';
    size_t i;
    const json_t *e;
    json_array_foreach (json_object_get(block, "elements"), i, e) {
        strncat(out, json_string_value(json_object_get(e, "action_id")), len - strlen(out) - 2);
        strcat(out, " ");
    }
}

static void test_hostile_text_is_text(void **state)
{
    slack_ticket_view v = base_view();
    v.assignee = "<!here>";
    slack_field f[] = {{"user <!channel>", "<https://evil|x>", NULL}, {"domain", "a.example", "javascript:alert(1)"}};
    v.fields[0] = f[0];
    v.fields[1] = f[1];
    v.n_fields = 2;
    v.finding_summary = "<@U999> owns <https://evil|this>";
    v.finding_by_llm = true;
    json_t *m = slack_render_ticket(&v);
    assert_non_null(m);
    char *s = dump(m);
    /* no mention, no link made of input: every < of the input became &lt; (the header
     * is plain_text, which Slack never parses) */
    const json_t *header = find_block(m, "header", 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(header, "text"), "text")),
                        "\xF0\x9F\x8E\xAB SSH brute force <!channel>");
    json_object_del(json_object_get((json_t *)header, "text"), "text");
    char *rest = dump(m);
    assert_null(strstr(rest, "<!"));
    assert_null(strstr(rest, "<https://evil"));
    assert_null(strstr(rest, "<@U999>"));
    assert_null(strstr(rest, "javascript:"));
    assert_non_null(strstr(rest, "&lt;!channel&gt;"));
    assert_non_null(strstr(rest, "&lt;https://evil.example|click&gt; &amp; run"));
    assert_string_equal(json_string_value(json_object_get(m, "text")), "[high] SSH brute force &lt;!channel&gt;");
    free(s);
    free(rest);
    json_decref(m);
}

static void test_fields_links_and_assignee(void **state)
{
    slack_ticket_view v = base_view();
    v.assignee = "slack:U12345";
    v.fields[0] = (slack_field){"source_ip", "45.227.255.100", "https://intel.example/ip/45.227.255.100"};
    v.fields[1] = (slack_field){"user", "ro`ot", NULL};
    v.n_fields = 2;
    json_t *m = slack_render_ticket(&v);
    assert_non_null(m);
    char *s = dump(m);
    assert_non_null(strstr(s, "*Assignee:*\\n<@U12345>"));
    assert_non_null(strstr(s, "*source_ip:*\\n<https://intel.example/ip/45.227.255.100|45.227.255.100>"));
    assert_non_null(strstr(s, "*user:*\\n`ro'ot`"));
    /* assigned: no alert buttons any more, ticket buttons stay */
    assert_null(find_action_block(m, "alert_actions"));
    char ids[200];
    action_ids(find_action_block(m, "ticket_actions"), ids, sizeof ids);
    assert_string_equal(ids, "edit_ticket resolve_ticket salvage ");
    free(s);
    json_decref(m);
}

static void test_buttons_by_state(void **state)
{
    slack_ticket_view v = base_view();
    char ids[200];
    json_t *m = slack_render_ticket(&v);
    const json_t *alert = find_action_block(m, "alert_actions:");
    assert_non_null(alert);
    assert_string_equal(json_string_value(json_object_get(alert, "block_id")), "alert_actions:" TICKET);
    action_ids(alert, ids, sizeof ids);
    assert_string_equal(ids, "ack_alert bind_alert decline_alert ");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(alert, "elements"), 0), "value")), ALERT);
    json_decref(m);

    v.status = "resolved";
    v.conclusion = "false_positive";
    v.reason = "scanner <b>";
    m = slack_render_ticket(&v);
    action_ids(find_action_block(m, "alert_actions:"), ids, sizeof ids);
    assert_string_equal(ids, "reopen_alert ");
    action_ids(find_action_block(m, "ticket_actions"), ids, sizeof ids);
    assert_string_equal(ids, "edit_ticket ");
    char *s = dump(m);
    assert_non_null(strstr(s, "*Conclusion:*\\nfalse_positive"));
    assert_non_null(strstr(s, "*Reason:*\\nscanner &lt;b&gt;"));
    free(s);
    json_decref(m);

    v = base_view();
    v.notice = true;
    m = slack_render_ticket(&v);
    const json_t *notice = find_action_block(m, "notice_actions");
    assert_non_null(notice);
    const json_t *overflow = json_array_get(json_object_get(notice, "elements"), 0);
    assert_string_equal(json_string_value(json_object_get(overflow, "type")), "overflow");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(overflow, "options"), 0), "value")),
        "escalate:" TICKET);
    assert_null(find_action_block(m, "ticket_actions"));
    json_decref(m);
}

static void test_finding_and_disclaimer(void **state)
{
    slack_ticket_view v = base_view();
    v.finding_severity = "critical";
    v.finding_summary = "Credential stuffing";
    v.finding_reason = "150 failures";
    v.finding_recommendation = "Block the IP";
    v.finding_by_llm = true;
    json_t *m = slack_render_ticket(&v);
    char *s = dump(m);
    assert_non_null(
        strstr(s, "*Finding* \xC2\xB7 :rotating_light: *critical*\\nCredential stuffing\\n*Why:* 150 failures"));
    assert_non_null(strstr(s, "*Suggested response:* Block the IP"));
    assert_non_null(strstr(s, "generated by AI"));
    free(s);
    json_decref(m);
    v.finding_by_llm = false;
    m = slack_render_ticket(&v);
    s = dump(m);
    assert_null(strstr(s, "generated by AI"));
    free(s);
    json_decref(m);

    v.finding_by_llm = true;
    m = slack_render_finding_reply(&v);
    assert_non_null(m);
    s = dump(m);
    assert_non_null(strstr(s, "generated by AI"));
    assert_null(slack_check_limits(m));
    free(s);
    json_decref(m);
}

static void test_limits(void **state)
{
    /* a 10 kB title, description, finding and field values: everything fits */
    char *big = malloc(10001);
    for (size_t i = 0; i < 10000; i++)
        big[i] = "<&>ab"[i % 5];
    big[10000] = '\0';
    slack_ticket_view v = base_view();
    v.title = big;
    v.description = big;
    v.finding_summary = big;
    v.finding_reason = big;
    v.finding_recommendation = big;
    v.reason = big;
    v.conclusion = "true_positive";
    for (size_t i = 0; i < SLACK_MAX_FIELDS; i++)
        v.fields[i] = (slack_field){big, big, NULL};
    v.n_fields = SLACK_MAX_FIELDS;
    v.note = big;
    json_t *m = slack_render_ticket(&v);
    assert_non_null(m);
    assert_null(slack_check_limits(m));
    const json_t *header = find_block(m, "header", 0);
    assert_true(utf8_chars(json_string_value(json_object_get(json_object_get(header, "text"), "text"))) <= 150);
    json_decref(m);
    free(big);

    /* the checker itself refuses what Slack refuses */
    json_t *bad = json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}]}", "text", "x", "blocks", "type", "header", "text", "type",
                            "mrkdwn", "text", "x");
    assert_non_null(slack_check_limits(bad));
    json_decref(bad);
    json_t *many = json_pack("{s:s, s:[]}", "text", "x", "blocks");
    for (int i = 0; i < 51; i++)
        json_array_append_new(json_object_get(many, "blocks"), json_pack("{s:s}", "type", "divider"));
    assert_string_equal(slack_check_limits(many), "more than 50 blocks");
    json_decref(many);
}

static void test_view_from_json(void **state)
{
    json_t *doc = json_pack("{s:{s:s, s:s, s:s, s:s, s:i, s:s, s:{s:s, s:s, s:s}}, s:s, s:s, s:[{s:s, s:s, s:s}]}",
                            "ticket", "ticket_id", TICKET, "title", "t", "summary", "d", "status", "open",
                            "alert_count", 4, "assignee", "slack:U1", "finding", "summary", "fs", "severity", "high",
                            "actor", "user:ann", "first_alert_id", ALERT, "publish", "alert", "attributes", "key", "ip",
                            "value", "1.2.3.4", "link", "https://x.example");
    slack_ticket_view v;
    assert_int_equal(slack_view_from_json(doc, &v), 0);
    assert_string_equal(v.ticket_id, TICKET);
    assert_string_equal(v.description, "d");
    assert_int_equal(v.alert_count, 4);
    assert_string_equal(v.finding_summary, "fs");
    assert_false(v.finding_by_llm);
    assert_false(v.notice);
    assert_int_equal(v.n_fields, 1);
    assert_string_equal(v.fields[0].link, "https://x.example");
    json_decref(doc);
    doc = json_pack("{s:{}}", "ticket");
    assert_int_equal(slack_view_from_json(doc, &v), -1);
    json_decref(doc);
}

/* Threat-intel verdicts: one section, the most serious first as given, hostile values
 * escaped and kept in their code span, only safe provider links, a bounded list. */
static void test_verdicts(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:{s:s, s:s}, s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]}", "ticket", "ticket_id",
                            TICKET, "title", "t", "intel", "value", "45.227.255.100", "provider", "virustotal",
                            "verdict", "malicious", "link", "https://www.virustotal.com/gui/ip-address/45.227.255.100",
                            "value", "<!channel>`evil`.example", "provider", "otx <b>", "verdict", "suspicious", "link",
                            "javascript:alert(1)|<x>");
    slack_ticket_view v;
    assert_int_equal(slack_view_from_json(doc, &v), 0);
    assert_int_equal(v.n_verdicts, 2);
    assert_false(v.more_verdicts);
    json_t *m = slack_render_ticket(&v);
    assert_non_null(m);
    assert_null(slack_check_limits(m));
    char *all = dump(m);
    assert_non_null(strstr(all, "*Threat intel*"));
    assert_non_null(strstr(all, "`45.227.255.100`: *malicious* \u00b7 virustotal \u00b7 "
                                "<https://www.virustotal.com/gui/ip-address/45.227.255.100|details>"));
    assert_non_null(strstr(all, "`&lt;!channel&gt;'evil'.example`: *suspicious* \u00b7 otx &lt;b&gt;"));
    assert_null(strstr(all, "<!channel>"));
    assert_null(strstr(all, "javascript:"));
    free(all);
    json_decref(m);
    json_decref(doc);

    /* more than SLACK_MAX_VERDICTS: the first ones and a line saying there are more */
    doc = json_pack("{s:{s:s}, s:[]}", "ticket", "ticket_id", TICKET, "intel");
    char values[SLACK_MAX_VERDICTS + 3][32];
    for (int i = 0; i < SLACK_MAX_VERDICTS + 3; i++) {
        snprintf(values[i], sizeof values[i], "10.0.0.%d", i);
        json_array_append_new(json_object_get(doc, "intel"), json_pack("{s:s, s:s, s:s}", "value", values[i],
                                                                       "provider", "abuseipdb", "verdict", "harmless"));
    }
    assert_int_equal(slack_view_from_json(doc, &v), 0);
    assert_int_equal(v.n_verdicts, SLACK_MAX_VERDICTS);
    assert_true(v.more_verdicts);
    m = slack_render_ticket(&v);
    all = dump(m);
    assert_non_null(strstr(all, values[SLACK_MAX_VERDICTS - 1]));
    assert_null(strstr(all, values[SLACK_MAX_VERDICTS]));
    assert_non_null(strstr(all, "_and more"));
    free(all);
    json_decref(m);
    json_decref(doc);

    /* long links: whole lines only, within the section limit, "and more" said */
    json_t *longs = json_pack("{s:{s:s}, s:[]}", "ticket", "ticket_id", TICKET, "intel");
    char link[990];
    memcpy(link, "https://x.example/", 18);
    memset(link + 18, 'a', sizeof link - 19);
    link[sizeof link - 1] = '\0';
    for (int i = 0; i < SLACK_MAX_VERDICTS; i++)
        json_array_append_new(json_object_get(longs, "intel"),
                              json_pack("{s:s, s:s, s:s, s:s}", "value", values[i], "provider", "otx", "verdict",
                                        "suspicious", "link", link));
    assert_int_equal(slack_view_from_json(longs, &v), 0);
    assert_false(v.more_verdicts);
    json_t *lm = slack_render_ticket(&v);
    assert_non_null(lm);
    assert_null(slack_check_limits(lm));
    char *lall = dump(lm);
    assert_non_null(strstr(lall, values[1]));
    assert_null(strstr(lall, values[SLACK_MAX_VERDICTS - 1])); /* 8 lines of ~1,000 do not fit in 3,000 */
    assert_non_null(strstr(lall, "_and more"));
    size_t opened = 0, closed = 0; /* every link whole */
    for (const char *p = lall; (p = strstr(p, "<https://x.example/")) != NULL; p++)
        opened++;
    for (const char *p = lall; (p = strstr(p, "|details>")) != NULL; p++)
        closed++;
    assert_true(opened > 0 && opened == closed);
    free(lall);
    json_decref(lm);
    json_decref(longs);

    /* none: no section */
    slack_ticket_view plain = base_view();
    m = slack_render_ticket(&plain);
    all = dump(m);
    assert_null(strstr(all, "Threat intel"));
    free(all);
    json_decref(m);
}

/* ---- signature ---- */

static void test_signature(void **state)
{
    const char *secret = "8f742231b10e8888abcd99yyyzzz85a5";
    const char *body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fweather";
    char sig[68];
    slack_sign(secret, "1531420618", body, strlen(body), sig);
    /* Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack) */
    const char *full =
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
        "channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
        "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    slack_sign(secret, "1531420618", full, strlen(full), sig);
    assert_string_equal(sig, "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
    int64_t now = 1531420618 + 10;
    assert_int_equal(slack_verify(secret, "1531420618", sig, full, strlen(full), now), SLACK_SIG_OK);
    /* altered body, wrong secret, stale, future, missing, malformed */
    assert_int_equal(slack_verify(secret, "1531420618", sig, full, strlen(full) - 1, now), SLACK_SIG_BAD);
    assert_int_equal(slack_verify("other", "1531420618", sig, full, strlen(full), now), SLACK_SIG_BAD);
    assert_int_equal(slack_verify(secret, "1531420618", sig, full, strlen(full), 1531420618 + 301), SLACK_SIG_STALE);
    assert_int_equal(slack_verify(secret, "1531420618", sig, full, strlen(full), 1531420618 - 301), SLACK_SIG_STALE);
    assert_int_equal(slack_verify(secret, NULL, sig, full, strlen(full), now), SLACK_SIG_MISSING);
    assert_int_equal(slack_verify(secret, "1531420618", NULL, full, strlen(full), now), SLACK_SIG_MISSING);
    assert_int_equal(slack_verify(secret, "15314x0618", sig, full, strlen(full), now), SLACK_SIG_MISSING);
    assert_int_equal(slack_verify(secret, "1531420618", "v1=abc", full, strlen(full), now), SLACK_SIG_MISSING);
    assert_int_equal(slack_verify("", "1531420618", sig, full, strlen(full), now), SLACK_SIG_MISSING);
    char upper[68];
    memcpy(upper, sig, 68);
    for (char *p = upper + 3; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(slack_verify(secret, "1531420618", upper, full, strlen(full), now), SLACK_SIG_OK);
}

/* ---- reading callbacks ---- */

static char *form_of(const char *json)
{
    char *enc = NULL;
    size_t n = strlen(json);
    enc = malloc(n * 3 + 9);
    strcpy(enc, "payload=");
    char *o = enc + 8;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)json[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.')
            *o++ = (char)c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    *o = '\0';
    return enc;
}

static void test_read_block_actions(void **state)
{
    const char *json =
        "{\"type\":\"block_actions\",\"user\":{\"id\":\"U123\"},\"trigger_id\":\"1.2.3\","
        "\"container\":{\"type\":\"message\",\"message_ts\":\"123.456\",\"channel_id\":\"C1\"},"
        "\"actions\":[{\"type\":\"button\",\"action_id\":\"decline_alert\",\"block_id\":\"alert_actions:" TICKET
        "\",\"value\":\"" ALERT "\",\"action_ts\":\"1.1\"}]}";
    char *body = form_of(json);
    slack_callback cb;
    char err[128];
    assert_int_equal(slack_read_interaction(body, strlen(body), &cb, err, sizeof err), 0);
    assert_int_equal(cb.kind, SLACK_CB_COMMAND);
    assert_string_equal(cb.cmd.action, "decline_alert");
    assert_string_equal(cb.cmd.actor, "slack:U123");
    assert_string_equal(cb.cmd.ticket_id, TICKET);
    assert_string_equal(cb.cmd.alert_id, ALERT);
    assert_string_equal(cb.cmd.channel, "C1");
    assert_string_equal(cb.cmd.message_ts, "123.456");
    assert_string_equal(cb.cmd.trigger_id, "1.2.3");
    assert_memory_equal(cb.dedupe_key, "interaction:", 12);
    char first[96];
    strcpy(first, cb.dedupe_key);
    slack_callback_free(&cb);
    /* the same body again (a retry): the same key */
    assert_int_equal(slack_read_interaction(body, strlen(body), &cb, err, sizeof err), 0);
    assert_string_equal(cb.dedupe_key, first);
    slack_callback_free(&cb);
    free(body);

    /* the salvage modal's Refresh: the typed values and the view to update */
    const char *refresh =
        "{\"type\":\"block_actions\",\"user\":{\"id\":\"U7\"},\"trigger_id\":\"4.5\",\"container\":{\"type\":"
        "\"view\",\"view_id\":\"V42\"},\"view\":{\"id\":\"V42\",\"hash\":\"h.1\",\"callback_id\":\"submit_salvage\","
        "\"private_metadata\":\"" TICKET "\",\"state\":{\"values\":{\"salvage_threshold_block\":{"
        "\"salvage_threshold_input\":{\"type\":\"plain_text_input\",\"value\":\"0.75\"}},\"salvage_keyword_block\":"
        "{\"salvage_keyword_input\":{\"type\":\"plain_text_input\",\"value\":\"sshd\"}}}}},\"actions\":[{\"type\":"
        "\"button\",\"action_id\":\"salvage_refresh_button\",\"block_id\":\"refresh_action\",\"value\":\"" TICKET
        "\",\"action_ts\":\"2.2\"}]}";
    body = form_of(refresh);
    assert_int_equal(slack_read_interaction(body, strlen(body), &cb, err, sizeof err), 0);
    assert_int_equal(cb.kind, SLACK_CB_COMMAND);
    assert_string_equal(cb.cmd.action, "salvage_refresh");
    assert_string_equal(cb.cmd.ticket_id, TICKET);
    assert_string_equal(cb.cmd.view_id, "V42");
    assert_string_equal(cb.cmd.view_hash, "h.1");
    assert_string_equal(cb.cmd.threshold, "0.75");
    assert_string_equal(cb.cmd.keyword, "sshd");
    slack_callback_free(&cb);
    free(body);

    /* Socket Mode gives the payload itself: the same command, keyed by its bytes */
    assert_int_equal(slack_read_interaction_json(json, strlen(json), &cb, err, sizeof err), 0);
    assert_string_equal(cb.cmd.action, "decline_alert");
    assert_string_equal(cb.cmd.alert_id, ALERT);
    char id[37], id2[37];
    size_t len = 0, len2 = 0;
    uint8_t *packed = slack_command_pack(&cb, id, &len);
    assert_non_null(packed);
    assert_true(ids_is_uuid(id));
    Hutch__V1__SlackCommand *back = hutch__v1__slack_command__unpack(NULL, len, packed);
    assert_non_null(back);
    assert_string_equal(back->meta->id, id);
    assert_string_equal(back->action, "decline_alert");
    hutch__v1__slack_command__free_unpacked(back, NULL);
    uint8_t *again = slack_command_pack(&cb, id2, &len2);
    assert_string_equal(id, id2); /* a retry is the same message id */
    free(packed);
    free(again);
    slack_callback_free(&cb);
    assert_int_equal(slack_read_interaction_json("[1]", 3, &cb, err, sizeof err), -1);
    slack_callback_free(&cb);

    const char *resolve = "{\"type\":\"view_submission\",\"user\":{\"id\":\"U9\"},\"view\":{\"callback_id\":"
                          "\"submit_resolve_ticket\",\"private_metadata\":\"" TICKET "\",\"state\":{\"values\":{"
                          "\"ticket_conclusion_block\":{\"ticket_conclusion_input\":{\"type\":\"static_select\","
                          "\"selected_option\":{\"value\":\"false_positive\"}}},\"ticket_comment_block\":{"
                          "\"ticket_comment_input\":{\"type\":\"plain_text_input\",\"value\":\"scanner\"}}}}}}";
    body = form_of(resolve);
    assert_int_equal(slack_read_interaction(body, strlen(body), &cb, err, sizeof err), 0);
    assert_string_equal(cb.cmd.action, "submit_resolve_ticket");
    assert_string_equal(cb.cmd.ticket_id, TICKET);
    assert_string_equal(cb.cmd.conclusion, "false_positive");
    assert_string_equal(cb.cmd.comment, "scanner");
    slack_callback_free(&cb);
    free(body);

    assert_int_equal(slack_read_interaction("x=1", 3, &cb, err, sizeof err), -1);
    slack_callback_free(&cb);
    assert_int_equal(slack_read_interaction("payload=%7Bnot", 14, &cb, err, sizeof err), -1);
    slack_callback_free(&cb);
}

static void test_read_events(void **state)
{
    slack_callback cb;
    char err[128];
    const char *challenge = "{\"token\":\"t\",\"challenge\":\"3eZbrw1a\",\"type\":\"url_verification\"}";
    assert_int_equal(slack_read_event(challenge, strlen(challenge), &cb, err, sizeof err), 0);
    assert_int_equal(cb.kind, SLACK_CB_CHALLENGE);
    assert_string_equal(cb.challenge, "3eZbrw1a");
    slack_callback_free(&cb);

    const char *mention = "{\"type\":\"event_callback\",\"event_id\":\"Ev1\",\"event\":{\"type\":\"app_mention\","
                          "\"user\":\"U8\",\"text\":\"<@U0BOT> what is this?\",\"ts\":\"2.0\",\"channel\":\"C7\","
                          "\"thread_ts\":\"1.0\"}}";
    assert_int_equal(slack_read_event(mention, strlen(mention), &cb, err, sizeof err), 0);
    assert_int_equal(cb.kind, SLACK_CB_COMMAND);
    assert_string_equal(cb.dedupe_key, "event:Ev1");
    assert_string_equal(cb.cmd.action, "mention");
    assert_string_equal(cb.cmd.comment, "what is this?");
    assert_string_equal(cb.cmd.message_ts, "1.0");
    assert_string_equal(cb.cmd.actor, "slack:U8");
    slack_callback_free(&cb);

    /* a plain reply in a thread; the message copy of a mention of the app is not one */
    const char *reply = "{\"type\":\"event_callback\",\"event_id\":\"Ev3\",\"authorizations\":[{\"user_id\":"
                        "\"U0BOT\"}],\"event\":{\"type\":\"message\",\"user\":\"U8\",\"text\":\"and this?\","
                        "\"ts\":\"3.0\",\"channel\":\"C7\",\"thread_ts\":\"1.0\"}}";
    assert_int_equal(slack_read_event(reply, strlen(reply), &cb, err, sizeof err), 0);
    assert_int_equal(cb.kind, SLACK_CB_COMMAND);
    assert_string_equal(cb.cmd.action, "thread_reply");
    assert_string_equal(cb.cmd.comment, "and this?");
    slack_callback_free(&cb);
    const char *copy = "{\"type\":\"event_callback\",\"event_id\":\"Ev4\",\"authorizations\":[{\"user_id\":"
                       "\"U0BOT\"}],\"event\":{\"type\":\"message\",\"user\":\"U8\",\"text\":\"<@U0BOT> hi\","
                       "\"ts\":\"4.0\",\"channel\":\"C7\",\"thread_ts\":\"1.0\"}}";
    assert_int_equal(slack_read_event(copy, strlen(copy), &cb, err, sizeof err), 0);
    assert_int_equal(cb.kind, SLACK_CB_IGNORE);
    slack_callback_free(&cb);

    const char *bot = "{\"type\":\"event_callback\",\"event_id\":\"Ev2\",\"event\":{\"type\":\"message\","
                      "\"bot_id\":\"B1\",\"text\":\"hi\",\"channel\":\"C7\",\"thread_ts\":\"1.0\"}}";
    assert_int_equal(slack_read_event(bot, strlen(bot), &cb, err, sizeof err), 0);
    assert_int_equal(cb.kind, SLACK_CB_IGNORE);
    slack_callback_free(&cb);
    assert_int_equal(slack_read_event("[]", 2, &cb, err, sizeof err), -1);
    slack_callback_free(&cb);
}

/* ---- limiters ---- */

static void test_limiter(void **state)
{
    slack_limiter *l = slack_limiter_new(1.0, 3.0); /* 1/s, bursts of 3 */
    int64_t t = 1000000;
    /* a burst of 3 goes at once, the 4th waits about a second */
    assert_int_equal(slack_limiter_take(l, "C1", t), 0);
    assert_int_equal(slack_limiter_take(l, "C1", t), 0);
    assert_int_equal(slack_limiter_take(l, "C1", t), 0);
    int64_t wait = slack_limiter_take(l, "C1", t);
    assert_true(wait > 900 && wait <= 1001);
    /* another channel has its own bucket */
    assert_int_equal(slack_limiter_take(l, "C2", t), 0);
    /* a second later one more token */
    assert_int_equal(slack_limiter_take(l, "C1", t + 1000), 0);
    assert_true(slack_limiter_take(l, "C1", t + 1000) > 0);
    /* ten minutes of 1/s: never more than 3 + elapsed seconds */
    int taken = 0;
    for (int64_t now = t + 2000; now < t + 2000 + 600000; now += 50)
        taken += slack_limiter_take(l, "C3", now) == 0;
    assert_true(taken <= 3 + 600 && taken >= 599);
    /* a 429 blocks the channel for Retry-After, then tokens come back at the rate */
    slack_limiter_block(l, "C2", t, 5);
    assert_int_equal(slack_limiter_take(l, "C2", t + 4000), 1000);
    assert_true(slack_limiter_take(l, "C2", t + 5000) > 0);
    assert_int_equal(slack_limiter_take(l, "C2", t + 6001), 0);
    slack_limiter_free(l);
}

/* ---- commands, against recording ticket operations ---- */

static char last_call[512];
static int fake_result = PG_OK;

static int op_assign(pg *db, const char *actor, const char *t, const char *who, char *err, size_t n)
{
    snprintf(last_call, sizeof last_call, "assign %s %s %s", actor, t, who);
    return fake_result;
}
static int op_decline(pg *db, const char *actor, const char *t, const char *a, char *err, size_t n)
{
    snprintf(last_call, sizeof last_call, "decline %s %s %s", actor, t, a);
    return fake_result;
}
static bool reopen_refused; /* the ticket is open already */
static int op_reopen(pg *db, const char *actor, const char *t, char *err, size_t n)
{
    size_t used = strlen(last_call);
    snprintf(last_call + used, sizeof last_call - used, "%sreopen %s %s", used ? "; " : "", actor, t);
    return reopen_refused ? TICKET_REFUSED : fake_result;
}
static int op_raise(pg *db, const char *actor, const char *t, const char *sev, char *err, size_t n)
{
    size_t used = strlen(last_call);
    snprintf(last_call + used, sizeof last_call - used, "%sraise %s %s %s", used ? "; " : "", actor, t, sev);
    return fake_result;
}
static int op_resolve(pg *db, const char *actor, const char *t, const char *c, const char *r, char *err, size_t n)
{
    snprintf(last_call, sizeof last_call, "resolve %s %s %s %s", actor, t, c, r);
    return fake_result;
}
static int op_salvage(pg *db, const char *actor, const char *t, double th, const char *k, int64_t w, bool dry,
                      size_t *count, char *err, size_t n)
{
    snprintf(last_call, sizeof last_call, "salvage %s %s %.2f %s %lld %d", actor, t, th, k, (long long)w, dry);
    *count = 2;
    return fake_result;
}
static int op_edit(pg *db, const char *actor, const char *t, const char *title, const char *d, char *err, size_t n)
{
    snprintf(last_call, sizeof last_call, "edit %s %s %s %s", actor, t, title ? title : "(same)", d ? d : "(same)");
    return fake_result;
}
static int op_bind(pg *db, const char *actor, const char *t, const char *const *alerts, size_t k, char *err, size_t n)
{
    size_t used = strlen(last_call);
    snprintf(last_call + used, sizeof last_call - used, "%sbind %s %s %s", used ? "; " : "", actor, t,
             k == 1 ? alerts[0] : "?");
    return fake_result;
}

static const slack_ticket_ops fake_ops = {op_assign,  op_decline, op_reopen, op_raise,
                                          op_resolve, op_salvage, op_edit,   op_bind};

static Hutch__V1__SlackCommand command(const char *action)
{
    Hutch__V1__SlackCommand c;
    hutch__v1__slack_command__init(&c);
    c.action = (char *)action;
    c.actor = "slack:U1";
    c.ticket_id = TICKET;
    c.alert_id = ALERT;
    return c;
}

static void test_commands(void **state)
{
    char err[256];
    struct {
        const char *action;
        const char *call;
    } cases[] = {
        {"ack_alert", "assign slack:U1 " TICKET " slack:U1"},
        {"decline_alert", "decline slack:U1 " TICKET " " ALERT},
        {"reopen_alert", "reopen slack:U1 " TICKET},
        {"escalate", "reopen slack:U1 " TICKET "; raise slack:U1 " TICKET " high"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Hutch__V1__SlackCommand c = command(cases[i].action);
        last_call[0] = '\0';
        assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), PG_OK);
        assert_string_equal(last_call, cases[i].call);
    }
    /* escalating an open ticket: the reopen is refused, the severity still raised */
    Hutch__V1__SlackCommand c = command("escalate");
    reopen_refused = true;
    last_call[0] = '\0';
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), PG_OK);
    assert_string_equal(last_call, "reopen slack:U1 " TICKET "; raise slack:U1 " TICKET " high");
    reopen_refused = false;
    c = command("submit_resolve_ticket");
    c.conclusion = "false_positive";
    c.comment = "scanner";
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), PG_OK);
    assert_string_equal(last_call, "resolve slack:U1 " TICKET " false_positive scanner");
    c = command("submit_salvage");
    c.threshold = "0.85";
    c.keyword = "ssh";
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), PG_OK);
    assert_string_equal(last_call, "salvage slack:U1 " TICKET " 0.85 ssh 86400000 0");
    c.threshold = "lots";
    last_call[0] = '\0';
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), TICKET_REFUSED);
    assert_string_equal(last_call, ""); /* refused before the ticket module */
    c = command("submit_edit_ticket");
    c.title = "New title";
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), PG_OK);
    assert_string_equal(last_call, "edit slack:U1 " TICKET " New title (same)");
    /* bind: that alert leaves its ticket and joins the chosen one; the ticket is not merged */
    c = command("submit_bind_alert");
    c.target_ticket_id = "0190f2a0-0000-7000-8000-0000000000aa";
    last_call[0] = '\0';
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), PG_OK);
    assert_string_equal(last_call, "decline slack:U1 " TICKET " " ALERT "; bind slack:U1 "
                                   "0190f2a0-0000-7000-8000-0000000000aa " ALERT);
    c.target_ticket_id = TICKET; /* where it is already */
    last_call[0] = '\0';
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), TICKET_REFUSED);
    assert_string_equal(last_call, "");
    c.target_ticket_id = "0190f2a0-0000-7000-8000-0000000000aa";
    c.alert_id = "";
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), TICKET_REFUSED);
    assert_string_equal(last_call, "");
    fake_result = TICKET_REFUSED; /* a refused decline: no bind */
    c.alert_id = ALERT;
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), TICKET_REFUSED);
    assert_string_equal(last_call, "decline slack:U1 " TICKET " " ALERT);
    fake_result = PG_OK;
    /* the module's refusal and retry come back as they are */
    fake_result = TICKET_REFUSED;
    c = command("reopen_alert");
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), TICKET_REFUSED);
    fake_result = PG_OK;
    c = command("ack_alert");
    c.ticket_id = "not-a-uuid";
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), TICKET_REFUSED);
    c = command("launch_missiles");
    assert_int_equal(slack_command_run(&fake_ops, NULL, &c, err, sizeof err), TICKET_REFUSED);
}

/* The blocks of a modal whose block_id is id (BORROWED), or NULL. */
static json_t *block_of(json_t *modal, const char *id)
{
    size_t i;
    json_t *b;
    json_array_foreach (json_object_get(modal, "blocks"), i, b)
        if (!strcmp(json_string_value(json_object_get(b, "block_id")), id))
            return b;
    return NULL;
}

static void test_salvage_refresh(void **state)
{
    Hutch__V1__SlackCommand c = command("salvage");
    json_t *m = slack_modal_for(&c, NULL);
    json_t *refresh = json_array_get(json_object_get(block_of(m, "refresh_action"), "elements"), 0);
    assert_string_equal(json_string_value(json_object_get(refresh, "action_id")), "salvage_refresh_button");
    assert_string_equal(json_string_value(json_object_get(refresh, "value")), TICKET);
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(block_of(m, "salvage_count"), "text"), "text")), "Refresh"));
    json_decref(m);

    c = command("salvage_refresh");
    c.threshold = "0.75";
    c.keyword = "<sshd>";
    c.view_id = "V42";
    last_call[0] = '\0';
    m = slack_salvage_refresh(&fake_ops, NULL, &c); /* the fake counts 2 */
    assert_non_null(m);
    assert_string_equal(last_call, "salvage slack:U1 " TICKET " 0.75 <sshd> 86400000 1"); /* a dry run */
    const char *text =
        json_string_value(json_object_get(json_object_get(block_of(m, "salvage_count"), "text"), "text"));
    assert_non_null(strstr(text, "*2* unbound alerts"));
    assert_non_null(strstr(text, "&lt;sshd&gt;")); /* the keyword as text */
    /* what was typed stays typed */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(block_of(m, "salvage_threshold_block"), "element"), "initial_value")),
                        "0.75");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(block_of(m, "salvage_keyword_block"), "element"), "initial_value")),
                        "<sshd>");
    assert_string_equal(json_string_value(json_object_get(m, "callback_id")), "submit_salvage");
    json_decref(m);

    c.threshold = "most";
    last_call[0] = '\0';
    m = slack_salvage_refresh(&fake_ops, NULL, &c);
    assert_string_equal(last_call, ""); /* not asked */
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(block_of(m, "salvage_count"), "text"), "text")),
               "number from 0 to 1"));
    json_decref(m);
    c.threshold = "0.9";
    fake_result = TICKET_REFUSED;
    m = slack_salvage_refresh(&fake_ops, NULL, &c);
    fake_result = PG_OK;
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(block_of(m, "salvage_count"), "text"), "text")),
               "Cannot count"));
    json_decref(m);
}

static void test_modals(void **state)
{
    Hutch__V1__SlackCommand c = command("salvage");
    json_t *m = slack_modal_for(&c, NULL);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "callback_id")), "submit_salvage");
    assert_string_equal(json_string_value(json_object_get(m, "private_metadata")), TICKET);
    json_t *b0 = json_array_get(json_object_get(m, "blocks"), 0);
    assert_string_equal(json_string_value(json_object_get(b0, "block_id")), "salvage_threshold_block");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b0, "element"), "action_id")),
                        "salvage_threshold_input");
    json_decref(m);
    c = command("edit_ticket");
    m = slack_modal_for(&c, NULL);
    assert_string_equal(json_string_value(json_object_get(m, "callback_id")), "edit_ticket");
    json_decref(m);
    c = command("bind_alert");
    assert_null(slack_modal_for(&c, NULL)); /* nothing to bind to */
    json_t *open =
        json_pack("[{s:s, s:s, s:f}, {s:s, s:s, s:f}]", "ticket_id", TICKET, "title", "itself", "score", 1.0,
                  "ticket_id", "0190f2a0-0000-7000-8000-0000000000aa", "title",
                  "\xC3\xA9t\xC3\xA9 port scan from a host with a very long name that goes on and on", "score", 0.9312);
    m = slack_modal_for(&c, open);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "private_metadata")), TICKET ":" ALERT);
    json_t *opts =
        json_object_get(json_object_get(json_array_get(json_object_get(m, "blocks"), 0), "element"), "options");
    assert_int_equal(json_array_size(opts), 1); /* not the alert's own ticket */
    const char *label = json_string_value(json_object_get(json_object_get(json_array_get(opts, 0), "text"), "text"));
    assert_non_null(strstr(label, "0.93 \xC2\xB7 \xC3\xA9t\xC3\xA9 port scan")); /* the score, then the title */
    assert_true(utf8_chars(label) <= 75);
    json_decref(m);
    json_decref(open);
    c = command("ack_alert");
    assert_null(slack_modal_for(&c, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_text_is_text),
        cmocka_unit_test(test_fields_links_and_assignee),
        cmocka_unit_test(test_buttons_by_state),
        cmocka_unit_test(test_finding_and_disclaimer),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_view_from_json),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_read_block_actions),
        cmocka_unit_test(test_read_events),
        cmocka_unit_test(test_limiter),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_modals),
        cmocka_unit_test(test_salvage_refresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
