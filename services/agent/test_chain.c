/* Unit tests of the action chain's round loop (chain.h) with a recording executor:
 * dedupe by id, abort, force, commit by path and by value, the round cap, a chain
 * that would loop forever, masking of secret_ args, the JSONPath subset, the env
 * whitelist and the location of an unknown `uses`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/agent/chain.h"

/* What the executor saw and what it answers. */
typedef struct {
    char calls[64][64]; /* "uses:id" in call order */
    int n;
    const char *fail_uses; /* this uses fails */
    json_t *answer;        /* result of every successful call (BORROWED) */
} recorder;

static int record_exec(void *ctx, const chain_action *a, const json_t *alert, json_t **result, char *err, size_t errlen)
{
    (void)alert;
    recorder *r = ctx;
    if (r->n < 64)
        snprintf(r->calls[r->n++], sizeof r->calls[0], "%s:%s", a->uses, a->id);
    if (r->fail_uses && strcmp(r->fail_uses, a->uses) == 0) {
        snprintf(err, errlen, "boom");
        return -1;
    }
    *result = r->answer ? json_deep_copy(r->answer) : NULL;
    return 0;
}

static bool known(void *ctx, const char *uses) { return strcmp(uses, "nope.nope") != 0; }

typedef struct {
    rego_policy *pol;
    rego_query *q;
    chain_spec spec;
    const char *name, *text;
} fixture;

static void setup_policy(fixture *f, const char *src, recorder *r)
{
    memset(f, 0, sizeof *f);
    rego_module_src m = {.name = "action.rego", .source = src};
    rego_error e;
    f->pol = rego_compile(&m, 1, REGO_SYNTAX_V1, &e);
    if (!f->pol)
        fail_msg("compile: %s", e.message);
    f->q = rego_query_prepare(f->pol, CHAIN_QUERY, &e);
    assert_non_null(f->q);
    f->name = "action.rego";
    f->text = src;
    f->spec = (chain_spec){.query = f->q,
                           .exec = record_exec,
                           .exec_ctx = r,
                           .uses_known = known,
                           .src_names = &f->name,
                           .src_texts = &f->text,
                           .n_src = 1};
    f->spec.opts.max_steps = 1000000;
}

static void teardown_policy(fixture *f)
{
    rego_query_free(f->q);
    rego_policy_free(f->pol);
}

static json_t *alert_doc(void)
{
    return json_pack("{s:s, s:s, s:s, s:[], s:[], s:{s:i}, s:s}", "id", "a-1", "title", "t", "namespace", "ns", "attrs",
                     "refs", "data", "severity", 8, "raw", "{}");
}

static int run(fixture *f, json_t **report)
{
    json_t *alert = alert_doc();
    int rc = chain_run(&f->spec, alert, NULL, report);
    json_decref(alert);
    assert_non_null(*report);
    return rc;
}

/* An action with an id runs once even though the rule keeps producing it. */
static void test_dedupe_by_id(void **state)
{
    (void)state;
    recorder r = {0};
    fixture f;
    setup_policy(&f, "package action\nrun contains {\"id\": \"one\", \"uses\": \"mock.a\"} if true\n", &r);
    json_t *report = NULL;
    assert_int_equal(run(&f, &report), CHAIN_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.calls[0], "mock.a:one");
    assert_string_equal(json_string_value(json_object_get(report, "stopped")), "no_new_action");
    assert_int_equal(json_array_size(json_object_get(report, "rounds")), 2);
    json_decref(report);
    teardown_policy(&f);
}

/* seq 0 asks, seq 1 posts with the committed answer (AlertChain's documented chain). */
static void test_commit_path_then_next_round(void **state)
{
    (void)state;
    recorder r = {0};
    r.answer = json_pack("{s:[{s:{s:s}}]}", "choices", "message", "content", "looks bad");
    fixture f;
    setup_policy(&f,
                 "package action\n"
                 "run contains {\"id\": \"ask\", \"uses\": \"chatgpt.query\", \"commit\": [\n"
                 "  {\"key\": \"comment\", \"path\": \"choices[0].message.content\"},\n"
                 "  {\"key\": \"fallback\", \"path\": \"$.nothing.here\", \"value\": \"dflt\"},\n"
                 "  {\"key\": \"fixed\", \"value\": 42, \"persist\": true, \"ttl\": 1800}]} if input.seq == 0\n"
                 "run contains {\"id\": \"post\", \"uses\": \"slack.post\", \"args\": {\"text\": a.value}} if {\n"
                 "  some a in input.alert.attrs; a.key == \"comment\"\n"
                 "  input.called[_].id == \"ask\"\n}\n",
                 &r);
    json_t *report = NULL;
    assert_int_equal(run(&f, &report), CHAIN_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.calls[0], "chatgpt.query:ask");
    assert_string_equal(r.calls[1], "slack.post:post");
    json_t *attrs = json_object_get(report, "attrs");
    assert_int_equal(json_array_size(attrs), 3);
    json_t *comment = json_array_get(attrs, 0), *fallback = json_array_get(attrs, 1), *fixed = json_array_get(attrs, 2);
    assert_string_equal(json_string_value(json_object_get(comment, "value")), "looks bad");
    assert_string_equal(json_string_value(json_object_get(fallback, "value")), "dflt");
    assert_int_equal(json_integer_value(json_object_get(fixed, "value")), 42);
    assert_true(json_is_true(json_object_get(fixed, "persist")));
    assert_int_equal(json_integer_value(json_object_get(fixed, "ttl")), 1800);
    json_t *post = json_array_get(json_object_get(json_array_get(json_object_get(report, "rounds"), 1), "actions"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(post, "args"), "text")), "looks bad");
    json_decref(report);
    json_decref(r.answer);
    teardown_policy(&f);
}

/* A commit with the same id replaces the earlier attribute. */
static void test_commit_same_id_replaces(void **state)
{
    (void)state;
    recorder r = {0};
    fixture f;
    setup_policy(&f,
                 "package action\n"
                 "run contains {\"id\": sprintf(\"c%d\", [input.seq]), \"commit\": [{\"id\": \"n\", \"key\": \"n\", "
                 "\"value\": input.seq}]} if input.seq < 3\n",
                 &r);
    json_t *report = NULL;
    assert_int_equal(run(&f, &report), CHAIN_OK);
    assert_int_equal(r.n, 0); /* no uses: nothing executed */
    json_t *attrs = json_object_get(report, "attrs");
    assert_int_equal(json_array_size(attrs), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(attrs, 0), "value")), 2);
    json_decref(report);
    teardown_policy(&f);
}

/* abort stops after the round: the other action of the round still runs, no next round. */
static void test_abort(void **state)
{
    (void)state;
    recorder r = {0};
    fixture f;
    setup_policy(&f,
                 "package action\n"
                 "run contains {\"id\": \"stop\", \"abort\": true} if input.alert.data.severity > 5\n"
                 "run contains {\"id\": \"x\", \"uses\": \"mock.a\"} if input.seq == 0\n"
                 "run contains {\"id\": \"y\", \"uses\": \"mock.b\"} if input.seq == 1\n",
                 &r);
    json_t *report = NULL;
    assert_int_equal(run(&f, &report), CHAIN_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.calls[0], "mock.a:x");
    assert_string_equal(json_string_value(json_object_get(report, "stopped")), "abort");
    json_decref(report);
    teardown_policy(&f);
}

/* An error stops the chain unless the action says force. */
static void test_force(void **state)
{
    (void)state;
    recorder r = {.fail_uses = "mock.bad"};
    fixture f;
    setup_policy(&f,
                 "package action\n"
                 "run contains {\"id\": \"a\", \"uses\": \"mock.bad\", \"force\": true} if true\n"
                 "run contains {\"id\": \"b\", \"uses\": \"mock.ok\"} if { input.called[x].id == \"a\"; "
                 "input.called[x].error }\n",
                 &r);
    json_t *report = NULL;
    assert_int_equal(run(&f, &report), CHAIN_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.calls[1], "mock.ok:b");
    json_decref(report);
    teardown_policy(&f);

    memset(&r, 0, sizeof r);
    r.fail_uses = "mock.bad";
    setup_policy(&f,
                 "package action\n"
                 "run contains {\"id\": \"a\", \"uses\": \"mock.bad\"} if true\n"
                 "run contains {\"id\": \"b\", \"uses\": \"mock.ok\"} if input.seq == 1\n",
                 &r);
    assert_int_equal(run(&f, &report), CHAIN_FAILED);
    assert_int_equal(r.n, 1);
    assert_string_equal(json_string_value(json_object_get(report, "stopped")), "error");
    assert_non_null(strstr(json_string_value(json_object_get(report, "error")), "boom"));
    json_decref(report);
    teardown_policy(&f);
}

/* An action without id is new every round: the chain would loop forever; the cap stops it. */
static void test_cap_stops_endless_chain(void **state)
{
    (void)state;
    recorder r = {0};
    fixture f;
    setup_policy(&f, "package action\nrun contains {\"uses\": \"mock.a\", \"args\": {\"n\": 1}} if true\n", &r);
    json_t *report = NULL;
    assert_int_equal(run(&f, &report), CHAIN_OK);
    assert_int_equal(r.n, CHAIN_DEFAULT_MAX_ROUNDS);
    assert_string_equal(json_string_value(json_object_get(report, "stopped")), "max_rounds");
    assert_string_not_equal(r.calls[0], r.calls[1]); /* derived ids differ per round */
    json_decref(report);

    /* the cap is a setting; derived ids are the same on a replay */
    char first[64];
    snprintf(first, sizeof first, "%s", r.calls[0]);
    memset(&r, 0, sizeof r);
    f.spec.max_rounds = 3;
    assert_int_equal(run(&f, &report), CHAIN_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.calls[0], first);
    assert_int_equal(json_array_size(json_object_get(report, "rounds")), 3);
    json_decref(report);
    teardown_policy(&f);
}

/* secret_ args reach the executor but never the report. */
static int secret_exec(void *ctx, const chain_action *a, const json_t *alert, json_t **result, char *err, size_t errlen)
{
    (void)ctx, (void)alert, (void)err, (void)errlen;
    assert_string_equal(json_string_value(json_object_get(a->args, "secret_url")), "https://hooks/T0/B0/XXXX");
    *result = json_pack("{s:s, s:s}", "ok", "yes", "secret_token", "t0k3n");
    return 0;
}

static void test_masking(void **state)
{
    (void)state;
    recorder r = {0};
    fixture f;
    setup_policy(&f,
                 "package action\nrun contains {\"id\": \"p\", \"uses\": \"slack.post\", \"args\": {\"secret_url\": "
                 "input.env.HOOK, \"channel\": \"#c\", \"nested\": {\"secret_key\": \"k\"}}} if true\n",
                 &r);
    f.spec.exec = secret_exec;
    json_t *alert = alert_doc(), *env = json_pack("{s:s}", "HOOK", "https://hooks/T0/B0/XXXX"), *report = NULL;
    assert_int_equal(chain_run(&f.spec, alert, env, &report), CHAIN_OK);
    char *text = json_dumps(report, JSON_COMPACT);
    assert_null(strstr(text, "XXXX"));
    assert_null(strstr(text, "t0k3n"));
    assert_null(strstr(text, "\"k\""));
    assert_non_null(strstr(text, "\"secret_url\":\"" CHAIN_MASK "\""));
    assert_non_null(strstr(text, "\"channel\":\"#c\""));
    free(text);
    json_decref(report);
    json_decref(alert);
    json_decref(env);
    teardown_policy(&f);
}

/* An unknown uses is a policy error that says where it is written. */
static void test_unknown_uses(void **state)
{
    (void)state;
    recorder r = {0};
    fixture f;
    setup_policy(&f, "package action\n\nrun contains {\"id\": \"z\",\n  \"uses\": \"nope.nope\"} if true\n", &r);
    json_t *report = NULL;
    assert_int_equal(run(&f, &report), CHAIN_POLICY);
    assert_int_equal(r.n, 0);
    assert_non_null(strstr(json_string_value(json_object_get(report, "error")), "action.rego:4: unknown action"));
    json_decref(report);
    teardown_policy(&f);

    setup_policy(&f, "package action\nrun := 3\n", &r);
    assert_int_equal(run(&f, &report), CHAIN_POLICY);
    assert_non_null(strstr(json_string_value(json_object_get(report, "error")), "not a set"));
    json_decref(report);
    teardown_policy(&f);
}

static void test_jsonpath(void **state)
{
    (void)state;
    json_t *doc =
        json_pack("{s:[{s:{s:s}},{s:i}], s:{s:i}}", "choices", "message", "content", "hi", "n", 2, "a b", "c", 1);
    bool bad;
    assert_string_equal(json_string_value(chain_jsonpath(doc, "choices[0].message.content", &bad)), "hi");
    assert_string_equal(json_string_value(chain_jsonpath(doc, "$.choices[0].message.content", &bad)), "hi");
    assert_int_equal(json_integer_value(chain_jsonpath(doc, "$.choices[-1].n", &bad)), 2);
    assert_int_equal(json_integer_value(chain_jsonpath(doc, "$['a b'].c", &bad)), 1);
    assert_string_equal(json_string_value(chain_jsonpath(doc, "$.choices[*].message.content", &bad)), "hi");
    assert_ptr_equal(chain_jsonpath(doc, "$", &bad), doc);
    assert_null(chain_jsonpath(doc, "$.choices[5]", &bad));
    assert_false(bad);
    assert_null(chain_jsonpath(doc, "$.choices[x", &bad));
    assert_true(bad);
    json_decref(doc);
}

static void test_env_whitelist(void **state)
{
    (void)state;
    char *envp[] = {"SLACK_WEBHOOK_URL=https://h", "SLACK_X=1", "HOME=/root", "GITHUB_APP_ID=7", "BAD", NULL};
    json_t *env = chain_env(envp, "SLACK_*, GITHUB_APP_ID");
    assert_int_equal(json_object_size(env), 3);
    assert_string_equal(json_string_value(json_object_get(env, "SLACK_WEBHOOK_URL")), "https://h");
    assert_null(json_object_get(env, "HOME"));
    json_decref(env);
    env = chain_env(envp, "");
    assert_int_equal(json_object_size(env), 0);
    json_decref(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe_by_id),
        cmocka_unit_test(test_commit_path_then_next_round),
        cmocka_unit_test(test_commit_same_id_replaces),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_force),
        cmocka_unit_test(test_cap_stops_endless_chain),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_unknown_uses),
        cmocka_unit_test(test_jsonpath),
        cmocka_unit_test(test_env_whitelist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
