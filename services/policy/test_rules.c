/* Unit tests for the ingest policies (rules.c): which package decides, Warren's and
 * AlertChain's shapes, ignore reasons, strict mode, the checks on what a policy
 * returns, policy errors, and the merge of persisted namespace attributes. Each
 * test writes its policies into a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/policy/rules.h"

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) { /* mkdir -p */
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hutch-test-rules-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static policy_rules *load(void)
{
    char err[1024] = "";
    policy_rules *r = policy_rules_load(dir, err, sizeof err);
    if (!r)
        fail_msg("load: %s", err);
    return r;
}

/* Decides payload for schema; returns the decide status, d filled. */
static int decide(policy_rules *r, const policy_rules_options *o, const char *schema, const char *payload,
                  policy_decision *d, char *err, size_t errlen)
{
    policy_input in = {.event_id = "e", .schema = schema, .source = "test", .payload_json = payload};
    memset(d, 0, sizeof *d);
    return policy_rules_decide(r, o, &in, d, err, errlen);
}

static const char *attr(const policy_alert *a, const char *key, const char *field)
{
    size_t i;
    const json_t *o;
    json_array_foreach(a->attributes, i, o)
        if (strcmp(json_string_value(json_object_get(o, "key")), key) == 0)
            return json_string_value(json_object_get(o, field));
    return NULL;
}

static const char warren[] =
    "package ingest.guardduty\n"
    "alerts contains {\"title\": f.title, \"description\": \"d\", \"channel\": \"#sec\", \"tags\": [\"aws\"],\n"
    "  \"attributes\": [{\"key\": \"instance\", \"value\": f.instance, \"link\": \"https://x/i\"},\n"
    "                  {\"key\": \"severity\", \"value\": f.severity}]} if {\n"
    "  some f in input.findings\n"
    "  f.severity >= 4\n"
    "}\n"
    "ignore contains sprintf(\"low severity %v\", [f.severity]) if {\n"
    "  some f in input.findings\n"
    "  f.severity < 4\n"
    "}\n";

static void test_warren(void **state)
{
    (void)state;
    write_file("ingest/guardduty.rego", warren);
    write_file("test/detect/guardduty/x.json", "{\"not\": \"data\"}"); /* fixtures are not read */
    policy_rules *r = load();
    assert_string_equal(policy_rules_package(r, "guardduty"), "ingest.guardduty");
    assert_null(policy_rules_package(r, "falco"));
    assert_int_equal(policy_rules_module_count(r), 1);

    policy_decision d;
    char err[512];
    assert_int_equal(decide(r, NULL, "guardduty",
                            "{\"findings\":[{\"title\":\"A\",\"instance\":\"i-1\",\"severity\":8},"
                            "{\"title\":\"B\",\"instance\":\"i-2\",\"severity\":5.5},"
                            "{\"title\":\"C\",\"instance\":\"i-3\",\"severity\":2}]}",
                            &d, err, sizeof err),
                     0);
    assert_string_equal(d.package, "ingest.guardduty");
    assert_int_equal(d.count, 2); /* one alert per finding above the threshold, set order */
    assert_string_equal(d.alerts[0].title, "A");
    assert_string_equal(d.alerts[0].description, "d");
    assert_string_equal(d.alerts[0].channel, "#sec");
    assert_string_equal(d.alerts[0].source, "guardduty");
    assert_string_equal(d.alerts[0].namespace, "");
    assert_string_equal(json_string_value(json_array_get(d.alerts[0].tags, 0)), "aws");
    assert_string_equal(attr(&d.alerts[0], "instance", "value"), "i-1");
    assert_string_equal(attr(&d.alerts[0], "instance", "link"), "https://x/i");
    assert_string_equal(attr(&d.alerts[0], "severity", "value"), "8");     /* numbers as text */
    assert_string_equal(attr(&d.alerts[1], "severity", "value"), "5.5");
    assert_null(d.reason);
    policy_decision_free(&d);

    /* nothing above the threshold: ignored, the reason from `ignore` */
    assert_int_equal(decide(r, NULL, "guardduty", "{\"findings\":[{\"title\":\"C\",\"severity\":2},"
                                                   "{\"title\":\"D\",\"severity\":1}]}",
                            &d, err, sizeof err),
                     0);
    assert_int_equal(d.count, 0);
    assert_string_equal(d.package, "ingest.guardduty");
    assert_string_equal(d.reason, "ingest.guardduty: no alert (ignore: low severity 1; low severity 2)");
    policy_decision_free(&d);

    /* no findings at all: ignored, no ignore reason applies */
    assert_int_equal(decide(r, NULL, "guardduty", "{}", &d, err, sizeof err), 0);
    assert_int_equal(d.count, 0);
    assert_string_equal(d.reason, "ingest.guardduty: no alert");
    policy_decision_free(&d);
    policy_rules_free(r);
}

/* A schema with dots names a nested package, as Warren joins "data.ingest." and it. */
static void test_dotted_schema(void **state)
{
    (void)state;
    write_file("ingest/aws.rego", "package ingest.aws.guardduty\nalerts contains {\"title\": \"nested\"} if true\n");
    policy_rules *r = load();
    assert_string_equal(policy_rules_package(r, "aws.guardduty"), "ingest.aws.guardduty");
    policy_decision d;
    char err[512];
    assert_int_equal(decide(r, NULL, "aws.guardduty", "{}", &d, err, sizeof err), 0);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.alerts[0].title, "nested");
    policy_decision_free(&d);
    /* "aws" alone is the parent package: it exists but has no alerts rule */
    assert_int_equal(decide(r, NULL, "aws", "{}", &d, err, sizeof err), 0);
    assert_int_equal(d.count, 0);
    assert_string_equal(d.package, "ingest.aws");
    policy_decision_free(&d);
    policy_rules_free(r);
}

static void test_no_package(void **state)
{
    (void)state;
    write_file("ingest/guardduty.rego", warren);
    policy_rules *r = load();
    policy_decision d;
    char err[512];
    /* non-strict: Warren's default alert */
    assert_int_equal(decide(r, NULL, "falco", "{\"rule\":\"Terminal shell\",\"output\":\"o\"}", &d, err, sizeof err),
                     0);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.package, "");
    assert_string_equal(d.alerts[0].title, "Terminal shell");
    policy_decision_free(&d);
    /* strict: ignored with the reason */
    policy_rules_options o = {.strict = true};
    assert_int_equal(decide(r, &o, "falco", "{\"rule\":\"x\"}", &d, err, sizeof err), 0);
    assert_int_equal(d.count, 0);
    assert_string_equal(d.package, "");
    assert_non_null(strstr(d.reason, "no policy for schema \"falco\""));
    policy_decision_free(&d);
    policy_rules_free(r);
}

static void test_alertchain(void **state)
{
    (void)state;
    /* AlertChain's v0 syntax, a hyphenated schema, refs, persist/ttl */
    write_file("alert/aws.rego",
               "package alert[\"aws-gd\"]\n"
               "alert[res] {\n"
               "  f := input.Findings[_]\n"
               "  startswith(f.Type, \"Trojan:\")\n"
               "  res := {\"title\": f.Type, \"source\": \"aws\", \"description\": f.Description,\n"
               "    \"namespace\": sprintf(\"gd/instance/%s\", [f.Instance]),\n"
               "    \"attrs\": [{\"key\": \"instance\", \"value\": f.Instance, \"type\": \"instance_id\","
               " \"persist\": true, \"ttl\": 3600},\n"
               "              {\"key\": \"domain\", \"value\": f.Domain, \"persist\": true},\n"
               "              {\"id\": \"a1\", \"key\": \"count\", \"value\": 3}],\n"
               "    \"refs\": [{\"title\": \"console\", \"url\": \"https://console/x\"}]}\n"
               "}\n");
    /* both packages: ingest wins */
    write_file("ingest/both.rego", "package ingest.both\nalerts contains {\"title\": \"warren\"} if true\n");
    write_file("alert/both.rego", "package alert.both\nalert[{\"title\": \"alertchain\"}] { true }\n");
    policy_rules *r = load();
    assert_string_equal(policy_rules_package(r, "aws-gd"), "alert.aws-gd");
    policy_decision d;
    char err[512];
    assert_int_equal(decide(r, NULL, "aws-gd",
                            "{\"Findings\":[{\"Type\":\"Trojan:EC2/DropPoint!DNS\",\"Description\":\"dd\","
                            "\"Instance\":\"i-9\",\"Domain\":\"evil.example\"},{\"Type\":\"Recon:x\"}]}",
                            &d, err, sizeof err),
                     0);
    assert_int_equal(d.count, 1);
    policy_alert *a = &d.alerts[0];
    assert_string_equal(d.package, "alert.aws-gd");
    assert_string_equal(a->title, "Trojan:EC2/DropPoint!DNS");
    assert_string_equal(a->source, "aws");
    assert_string_equal(a->namespace, "gd/instance/i-9");
    assert_string_equal(attr(a, "instance", "type"), "instance_id");
    const json_t *inst = json_array_get(a->attributes, 0);
    assert_true(json_is_true(json_object_get(inst, "persist")));
    assert_int_equal(json_integer_value(json_object_get(inst, "ttl_seconds")), 3600);
    const json_t *dom = json_array_get(a->attributes, 1);
    assert_int_equal(json_integer_value(json_object_get(dom, "ttl_seconds")), POLICY_PERSIST_TTL_DEFAULT);
    assert_string_equal(attr(a, "count", "id"), "a1");
    assert_string_equal(attr(a, "count", "value"), "3");
    assert_null(json_object_get(json_array_get(a->attributes, 2), "persist"));
    assert_string_equal(attr(a, "console", "link"), "https://console/x");
    assert_string_equal(attr(a, "console", "type"), "reference");
    policy_decision_free(&d);

    assert_int_equal(decide(r, NULL, "both", "{}", &d, err, sizeof err), 0);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.alerts[0].title, "warren");
    assert_string_equal(d.package, "ingest.both");
    policy_decision_free(&d);
    policy_rules_free(r);
}

static void expect_error(policy_rules *r, const policy_rules_options *o, const char *schema, const char *payload,
                         const char *want)
{
    policy_decision d;
    char err[512] = "";
    assert_int_equal(decide(r, o, schema, payload, &d, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
    policy_decision_free(&d);
}

static void test_errors(void **state)
{
    (void)state;
    write_file("ingest/bad.rego",
               "package ingest.conflict\n"
               "alerts := {\"a\"} if input.x\n"
               "alerts := {\"b\"} if input.y\n");
    write_file("ingest/shape.rego",
               "package ingest.shape\n"
               "alerts contains input.alert if true\n");
    write_file("ingest/notset.rego", "package ingest.notset\nalerts := \"all of them\"\n");
    write_file("ingest/loop.rego",
               "package ingest.loop\n"
               "alerts contains {\"title\": sprintf(\"%d\", [n])} if { some n in numbers.range(1, 100000000) ; n < 0 }\n");
    write_file("ingest/builtin.rego",
               "package ingest.builtin\n"
               "alerts contains {\"title\": \"x\"} if regex.match(\"(\", input.s)\n");
    policy_rules *r = load();
    expect_error(r, NULL, "conflict", "{\"x\":1,\"y\":1}", "ingest.conflict: ");
    expect_error(r, NULL, "conflict", "{\"x\":1,\"y\":1}", "eval_conflict_error");
    expect_error(r, NULL, "shape", "{\"alert\":\"just text\"}", "ingest.shape: alert 0: must be an object, not string");
    expect_error(r, NULL, "shape", "{\"alert\":{\"title\":7}}", "\"title\" must be a string, not number");
    expect_error(r, NULL, "shape", "{\"alert\":{\"attributes\":{\"k\":1}}}", "\"attributes\" must be an array");
    expect_error(r, NULL, "shape", "{\"alert\":{\"attributes\":[{\"value\":1}]}}",
                 "attributes[0] needs a non-empty string \"key\"");
    expect_error(r, NULL, "shape", "{\"alert\":{\"attributes\":[{\"key\":\"k\",\"link\":5}]}}",
                 "attributes[0].link must be a string");
    expect_error(r, NULL, "shape", "{\"alert\":{\"tags\":[1]}}", "tags[0] must be a string");
    expect_error(r, NULL, "notset", "{}", "ingest.notset: alerts must be a set of objects, not string");
    policy_rules_options limits = {.max_steps = 10000, .max_memory = 64 << 20};
    expect_error(r, &limits, "loop", "{}", "eval_limit_error");
    policy_rules_options strict = {.strict_builtin_errors = true};
    expect_error(r, &strict, "builtin", "{\"s\":\"a\"}", "eval_builtin_error");
    /* without strict builtin errors the expression is undefined: no alert */
    policy_decision d;
    char err[512];
    assert_int_equal(decide(r, NULL, "builtin", "{\"s\":\"a\"}", &d, err, sizeof err), 0);
    assert_int_equal(d.count, 0);
    policy_decision_free(&d);
    /* a missing title falls back to the default's choice */
    assert_int_equal(decide(r, NULL, "shape", "{\"alert\":{\"description\":\"only\"},\"rule\":\"R\"}", &d, err,
                            sizeof err),
                     0);
    assert_string_equal(d.alerts[0].title, "R");
    policy_decision_free(&d);
    policy_rules_free(r);
}

static void test_load_errors(void **state)
{
    (void)state;
    char err[1024] = "";
    write_file("ingest/ok.rego", "package ingest.ok\nalerts contains {\"title\": \"t\"} if true\n");
    write_file("ingest/broken.rego", "package ingest.broken\n\nalerts contains {\"title\": } if true\n");
    assert_null(policy_rules_load(dir, err, sizeof err));
    assert_non_null(strstr(err, "broken.rego:3:"));
    assert_non_null(strstr(err, "rego_parse_error"));
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    assert_null(policy_rules_load(missing, err, sizeof err));
    assert_non_null(strstr(err, "nope"));
}

static void test_merge(void **state)
{
    (void)state;
    policy_decision d = {0};
    policy_alert *a = policy_decision_add(&d);
    assert_non_null(a);
    json_array_append_new(a->attributes, json_pack("{s:s,s:s}", "key", "instance", "value", "i-new"));
    json_t *stored = json_loads("[{\"key\":\"instance\",\"value\":\"i-old\",\"persist\":true},"
                                "{\"key\":\"user\",\"value\":\"alice\",\"persist\":true,\"ttl_seconds\":60},"
                                "{\"value\":\"no key: skipped\"}]",
                                0, NULL);
    assert_int_equal(policy_merge_attributes(a, stored), 0);
    assert_int_equal(json_array_size(a->attributes), 2);
    assert_string_equal(attr(a, "instance", "value"), "i-new"); /* the alert's own wins */
    assert_string_equal(attr(a, "user", "value"), "alice");
    json_decref(stored);
    policy_decision_free(&d);
}

/* Numbers beyond int64/double copied from the input into attribute values arrive
 * as their exact text (Warren stringifies attribute values), both contracts. */
static void test_exact_numbers(void **state)
{
    (void)state;
    write_file("ingest/num.rego", "package ingest.num\nimport rego.v1\n"
                                  "alerts contains {\"title\": \"n\", \"attributes\": [\n"
                                  "  {\"key\": \"u64\", \"value\": input.u64}, {\"key\": \"big\", \"value\": input.big},\n"
                                  "  {\"key\": \"huge\", \"value\": input.huge}, {\"key\": \"tiny\", \"value\": input.tiny},\n"
                                  "  {\"key\": \"dec\", \"value\": input.dec}, {\"key\": \"obj\", \"value\": {\"b\": input.u64, \"a\": 1}},\n"
                                  "  {\"key\": \"s\", \"value\": \"text\"}]}\n");
    write_file("alert/num.rego", "package alert.numc\n"
                                 "alert[{\"title\": \"c\", \"attrs\": [{\"key\": \"big\", \"value\": input.big}]}]\n");
    policy_rules *r = load();
    policy_rules_options o = {0};
    policy_decision d;
    char err[512];
    const char *in = "{\"u64\": 18446744073709551615, \"big\": 1234567890123456789012345678901234567890,"
                     " \"huge\": 1e400, \"tiny\": 1E-400, \"dec\": 0.1}";
    assert_int_equal(decide(r, &o, "num", in, &d, err, sizeof err), 0);
    assert_int_equal(d.count, 1);
    assert_string_equal(attr(&d.alerts[0], "u64", "value"), "18446744073709551615");
    assert_string_equal(attr(&d.alerts[0], "big", "value"), "1234567890123456789012345678901234567890");
    assert_string_equal(attr(&d.alerts[0], "huge", "value"), "1e400");
    assert_string_equal(attr(&d.alerts[0], "tiny", "value"), "1E-400");
    assert_string_equal(attr(&d.alerts[0], "dec", "value"), "0.1");
    assert_string_equal(attr(&d.alerts[0], "obj", "value"), "{\"a\":1,\"b\":18446744073709551615}");
    assert_string_equal(attr(&d.alerts[0], "s", "value"), "text");
    policy_decision_free(&d);
    assert_int_equal(decide(r, &o, "numc", in, &d, err, sizeof err), 0);
    assert_int_equal(d.count, 1);
    assert_string_equal(attr(&d.alerts[0], "big", "value"), "1234567890123456789012345678901234567890");
    policy_decision_free(&d);
    policy_rules_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_warren, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotted_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_package, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertchain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
        cmocka_unit_test(test_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
