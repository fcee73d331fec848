/* Unit tests of the chat's planning (plan.h) with a scripted model: the planner's answers
 * are JSON texts checked against the schemas as the client would, the tasks' results
 * plain strings. No database, no model, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/llm.h"
#include "services/agent/plan.h"

/* The planner's answer as the loop would accept it: valid against schema. NEW. */
static json_t *reply(const char *text, json_t *schema /* STOLEN */)
{
    char err[400];
    json_t *v = llm_json_check(text, schema, err, sizeof err);
    json_decref(schema);
    if (!v)
        fail_msg("invalid scripted answer: %s", err);
    return v;
}

/* Runs a whole plan: scripted[0] is the plan, the rest the replans; every task's
 * result is "<id> found <phase>". Returns the step of the last answer; *answer NEW. */
static chat_plan_step run_script(chat_plan *p, const char *const *scripted, size_t n, char **answer)
{
    chat_plan_step step = CHAT_PLAN_CONCLUDE;
    for (size_t k = 0; k < n; k++) {
        json_t *r = reply(scripted[k], k == 0 ? chat_plan_schema() : chat_replan_schema());
        step = chat_plan_next(p, r, answer);
        json_decref(r);
        if (step == CHAT_PLAN_CONCLUDE)
            return step;
        for (size_t i = 0; i < p->n_tasks; i++) {
            char result[128];
            snprintf(result, sizeof result, "%s found %d", p->tasks[i].id, p->phase);
            chat_plan_task_done(p, i, result, "answer");
        }
        assert_true(chat_plan_phase_done(p));
    }
    return step;
}

static void test_should_plan(void **state)
{
    (void)state;
    assert_true(chat_should_plan("analyse every IP in this ticket", CHAT_PLAN_AUTO, 40));
    assert_true(chat_should_plan("Check each user, then tell me", CHAT_PLAN_AUTO, 40));
    assert_false(chat_should_plan("what is going on here?", CHAT_PLAN_AUTO, 40));
    assert_false(chat_should_plan("everyone is fine?", CHAT_PLAN_AUTO, 40)); /* whole words only */
    assert_true(chat_should_plan("one two three four", CHAT_PLAN_AUTO, 4));
    assert_false(chat_should_plan("one two three", CHAT_PLAN_AUTO, 4));
    assert_false(chat_should_plan("analyse every IP", CHAT_PLAN_NEVER, 1));
    assert_true(chat_should_plan("hi", CHAT_PLAN_ALWAYS, 40));
    chat_plan_mode m;
    assert_int_equal(chat_plan_mode_parse("always", &m), 0);
    assert_int_equal(m, CHAT_PLAN_ALWAYS);
    assert_int_equal(chat_plan_mode_parse("sometimes", &m), -1);
}

static void test_plan_two_tasks_then_conclude(void **state)
{
    (void)state;
    chat_plan p;
    chat_plan_init(&p, 10, 5);
    const char *script[] = {
        "{\"message\":\"I will look at both IPs\",\"tasks\":[{\"id\":\"ip1\",\"title\":\"first IP\","
        "\"description\":\"look up 45.1.2.3\",\"tools\":[\"intel_lookup\"]},{\"id\":\"ip2\",\"title\":\"second IP\","
        "\"description\":\"look up 45.1.2.4\"}]}",
        "{\"message\":\"done\",\"tasks\":[],\"answer\":\"Both IPs are scanners.\"}",
    };
    char *answer = NULL;
    /* the plan: two tasks in phase 1 */
    json_t *r = reply(script[0], chat_plan_schema());
    assert_int_equal(chat_plan_next(&p, r, &answer), CHAT_PLAN_RUN);
    json_decref(r);
    assert_null(answer);
    assert_int_equal(p.phase, 1);
    assert_int_equal(p.n_tasks, 2);
    assert_string_equal(p.tasks[0].id, "ip1");
    assert_true(chat_task_allows(&p.tasks[0], "intel_lookup"));
    assert_false(chat_task_allows(&p.tasks[0], "hutch_search_alerts"));
    assert_true(chat_task_allows(&p.tasks[1], "hutch_search_alerts")); /* no list: every tool */
    chat_plan_task_done(&p, 1, "45.1.2.4: malicious (virustotal 7)", "answer");
    assert_false(chat_plan_phase_done(&p));
    chat_plan_task_done(&p, 0, NULL, "iterations");
    assert_true(chat_plan_phase_done(&p));
    /* the replan sees both results, the one without a result says why */
    char *prompt = chat_replan_prompt(&p);
    assert_non_null(strstr(prompt, "Phase 1 is done"));
    assert_non_null(strstr(prompt, "45.1.2.4: malicious (virustotal 7)"));
    assert_non_null(strstr(prompt, "(no result: the task ended by iterations)"));
    assert_non_null(strstr(prompt, "9 phase(s) left"));
    free(prompt);
    r = reply(script[1], chat_replan_schema());
    assert_int_equal(chat_plan_next(&p, r, &answer), CHAT_PLAN_CONCLUDE);
    json_decref(r);
    assert_string_equal(answer, "Both IPs are scanners.");
    assert_string_equal(p.reason, "answer");
    assert_int_equal(json_array_size(p.results), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(p.results, 0), "phase")), 1);
    free(answer);
    chat_plan_free(&p);
}

static void test_direct_answer_without_tasks(void **state)
{
    (void)state;
    chat_plan p;
    chat_plan_init(&p, 10, 5);
    const char *script[] = {"{\"message\":\"It is one alert from a scanner.\",\"tasks\":[]}"};
    char *answer = NULL;
    assert_int_equal(run_script(&p, script, 1, &answer), CHAT_PLAN_CONCLUDE);
    assert_string_equal(answer, "It is one alert from a scanner."); /* the message is the answer */
    assert_int_equal(p.phase, 0);
    free(answer);
    chat_plan_free(&p);
}

static void test_phase_cap_ends_cleanly(void **state)
{
    (void)state;
    chat_plan p;
    chat_plan_init(&p, 3, 5);
    const char *more = "{\"message\":\"more\",\"tasks\":[{\"id\":\"x\",\"title\":\"again\",\"description\":\"d\"}],"
                       "\"answer\":\"\"}";
    const char *script[] = {"{\"message\":\"go\",\"tasks\":[{\"id\":\"x\",\"title\":\"again\",\"description\":\"d\"}]}",
                            more, more, more, more};
    char *answer = NULL;
    assert_int_equal(run_script(&p, script, 5, &answer), CHAT_PLAN_CONCLUDE);
    assert_int_equal(p.phase, 3); /* three phases ran, the fourth was refused */
    assert_string_equal(p.reason, "phase_limit");
    assert_string_equal(answer, "more"); /* no answer given: its message */
    assert_int_equal(json_array_size(p.results), 3);
    free(answer);
    /* the replan after the last phase is told so */
    char *prompt = chat_replan_prompt(&p);
    assert_non_null(strstr(prompt, "No phase is left"));
    free(prompt);
    chat_plan_free(&p);
    /* without an answer or a message: the collected results are the answer */
    chat_plan_init(&p, 1, 5);
    const char *mute[] = {"{\"message\":\"\",\"tasks\":[{\"id\":\"a\",\"title\":\"look\",\"description\":\"d\"}]}",
                          "{\"message\":\"\",\"tasks\":[{\"id\":\"b\",\"title\":\"more\",\"description\":\"d\"}],"
                          "\"answer\":\"\"}"};
    assert_int_equal(run_script(&p, mute, 2, &answer), CHAT_PLAN_CONCLUDE);
    assert_string_equal(p.reason, "phase_limit");
    assert_non_null(strstr(answer, "- look: a found 1"));
    free(answer);
    chat_plan_free(&p);
}

static void test_task_limits_and_ids(void **state)
{
    (void)state;
    chat_plan p;
    chat_plan_init(&p, 10, 2);
    const char *text = "{\"message\":\"m\",\"tasks\":[{\"id\":\"a\",\"title\":\"1\",\"description\":\"d\"},"
                       "{\"id\":\"a\",\"title\":\"2\",\"description\":\"d\"},{\"id\":\"c\",\"title\":\"3\","
                       "\"description\":\"d\"}]}";
    json_t *r = reply(text, chat_plan_schema());
    char *answer = NULL;
    assert_int_equal(chat_plan_next(&p, r, &answer), CHAT_PLAN_RUN);
    json_decref(r);
    assert_int_equal(p.n_tasks, 2);
    assert_int_equal(p.dropped, 1);
    assert_string_equal(p.tasks[0].id, "a");
    assert_string_equal(p.tasks[1].id, "t2"); /* a repeated id is replaced */
    for (size_t i = 0; i < p.n_tasks; i++)
        chat_plan_task_done(&p, i, "r", "answer");
    char *prompt = chat_replan_prompt(&p);
    assert_non_null(strstr(prompt, "1 task(s) of that phase were over the limit of 2"));
    free(prompt);
    /* a task listing tools by prefix */
    chat_task t = {.tools = json_pack("[s]", "assets_*")};
    assert_true(chat_task_allows(&t, "assets_lookup_asset"));
    assert_false(chat_task_allows(&t, "intel_lookup"));
    json_decref(t.tools);
    /* an invalid plan is refused by the schema check (the loop re-asks) */
    char err[400];
    json_t *schema = chat_plan_schema();
    assert_null(llm_json_check("{\"message\":\"m\",\"tasks\":[{\"title\":\"no id\"}]}", schema, err, sizeof err));
    assert_null(llm_json_check("not json", schema, err, sizeof err));
    json_decref(schema);
    chat_plan_free(&p);
}

static void test_prompts_carry_the_data_block(void **state)
{
    (void)state;
    const char *block = "<ticket-data>\n{\"ticket\":{}}\n</ticket-data>";
    char *p = chat_plan_prompt(block, "analyse every IP", 10, 5);
    assert_non_null(strstr(p, block));
    assert_non_null(strstr(p, "Question: analyse every IP"));
    assert_non_null(strstr(p, "at most 5 task(s) per phase, at most 10 phase(s)"));
    free(p);
    chat_task t = {.title = "first IP", .description = "look up 45.1.2.3", .criteria = "a verdict"};
    snprintf(t.id, sizeof t.id, "ip1");
    p = chat_task_prompt(&t, block, "analyse every IP");
    assert_non_null(strstr(p, "Your task (ip1): first IP"));
    assert_non_null(strstr(p, "Done when: a verdict"));
    assert_non_null(strstr(p, block));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_should_plan),
        cmocka_unit_test(test_plan_two_tasks_then_conclude),
        cmocka_unit_test(test_direct_answer_without_tasks),
        cmocka_unit_test(test_phase_cap_ends_cleanly),
        cmocka_unit_test(test_task_limits_and_ids),
        cmocka_unit_test(test_prompts_carry_the_data_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
