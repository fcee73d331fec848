/* hutchctl action play / run / test: AlertChain's action chains outside the pipeline.
 *
 *   action play --policy DIR --schema S --input EVENT.json [--mock USES=RESULT.json]...
 *               [--env K=V]...     the alert policy, then the chain, WITHOUT side
 *               effects: every action answers from its --mock file, or null;
 *               a --mock for a name that is no built-in action makes it one
 *               for the play (AlertChain's test-only "mock" actions);
 *   action run  (same options but --mock)   the chain with the real actions
 *               (services/agent/actions.h), e.g. to try a webhook by hand;
 *   action test --policy DIR PLAYBOOK...    scenarios with expected actions; exit 1
 *               on a mismatch.
 *
 * The alert policy is hutch-policy's (services/policy/rules.h: alert.S or ingest.S),
 * the action policy is package action in the same directory, the loop is the agent's
 * (services/agent/chain.h), so a play is what the agent would do. Secrets: args named
 * secret_* are masked in every line printed; --env values are only given to the policy.
 *
 * A playbook (JSON) is {"scenarios": [{"name", "schema", "event": {...} | "event_file":
 * "path relative to the playbook", "env": {K: V}, "mocks": {USES: result},
 * "results": {ACTION_ID: result}, "expect": {"actions": [{"uses", "id", "seq",
 * "args": {subset}}], "stopped": "...", "attrs": [{"key", "value"}]}}]}: the
 * actions run must be exactly the expected ones in order (each expected field
 * compared, args as a subset), the attrs expected must be among the final ones. A
 * playbook named *.jsonnet is evaluated first (Debian's libjsonnet), as AlertChain's
 * playbooks are written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libjsonnet.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "rego/bundle.h"
#include "rego/rego.h"
#include "services/agent/actions.h"
#include "services/agent/chain.h"
#include "services/policy/rules.h"

extern char **environ;

#define PLAY_MAX_STEPS 1000000
#define PLAY_MAX_MEMORY (64u * 1024 * 1024)
#define PLAY_EVENT_ID "00000000-0000-7000-8000-000000000000"

/* The compiled action policy of a directory. */
typedef struct {
    rego_bundle bundle;
    rego_policy *pol;
    rego_query *q;
    policy_rules *rules;
} action_policy;

static void action_policy_free(action_policy *p)
{
    rego_query_free(p->q);
    rego_policy_free(p->pol);
    rego_bundle_free(&p->bundle);
    policy_rules_free(p->rules);
}

static int action_policy_load(action_policy *p, const char *dir)
{
    memset(p, 0, sizeof *p);
    char err[2048];
    rego_bundle_init(&p->bundle);
    p->bundle.modules_only = true;
    rego_error e;
    if (rego_bundle_add(&p->bundle, dir, REGO_SYNTAX_AUTO, err, sizeof err) != 0) {
        cli_error("%s", err);
        return -1;
    }
    /* like hutch-policy: v1 when a module says so (if, contains, rego.v1), else v0 (AlertChain's) */
    p->pol = rego_compile(p->bundle.mods, p->bundle.n, REGO_SYNTAX_V0, &e);
    if (p->pol)
        p->q = rego_query_prepare(p->pol, CHAIN_QUERY, &e);
    if (!p->pol || !p->q) {
        cli_error("%s", e.message);
        return -1;
    }
    p->rules = policy_rules_load(dir, err, sizeof err);
    if (!p->rules) {
        cli_error("%s", err);
        return -1;
    }
    return 0;
}

static void spec_init(chain_spec *s, const action_policy *p)
{
    memset(s, 0, sizeof *s);
    s->query = p->q;
    s->data = p->bundle.data;
    s->opts.max_steps = PLAY_MAX_STEPS;
    s->opts.max_memory = PLAY_MAX_MEMORY;
    s->uses_known = actions_known_in;
    s->src_names = (const char *const *)p->bundle.names;
    s->src_texts = (const char *const *)p->bundle.texts;
    s->n_src = p->bundle.n;
    const char *max = getenv("HUTCH_ACTION_MAX_ROUNDS");
    s->max_rounds = max ? atoi(max) : 0;
}

/* Mock answers: by action id first, then by uses; neither: null. */
typedef struct {
    json_t *by_id;   /* BORROWED object or NULL */
    json_t *by_uses; /* BORROWED object or NULL */
} mock_table;

static int mock_exec(void *ctx, const chain_action *a, const json_t *alert, json_t **result, char *err, size_t errlen)
{
    (void)alert;
    mock_table *m = ctx;
    json_t *r = json_object_get(m->by_id, a->id);
    if (r == NULL)
        r = json_object_get(m->by_uses, a->uses);
    /* {"error": "..."} as a whole mock makes the action fail (to test force) */
    if (json_is_object(r) && json_object_size(r) == 1 && json_is_string(json_object_get(r, "$error"))) {
        snprintf(err, errlen, "%s", json_string_value(json_object_get(r, "$error")));
        return -1;
    }
    *result = r ? json_deep_copy(r) : NULL;
    return 0;
}

/* Without side effects, a `uses` with a mock answer is an action too: AlertChain's chain
 * tests register test-only actions ("mock", "mock.after") the same way, so their
 * policies play unchanged. Any other unknown name stays a policy error. */
static bool mock_known(void *ctx, const char *uses)
{
    const mock_table *m = ctx;
    return actions_known(uses) || json_object_get(m->by_uses, uses) != NULL;
}

/* The alerts the policy raises for one event, as chain alert objects. NEW array or NULL. */
static json_t *decide_alerts(action_policy *p, const char *schema, const char *payload)
{
    policy_decision d;
    memset(&d, 0, sizeof d);
    char err[2048];
    policy_rules_options o = {.strict = true, .max_steps = PLAY_MAX_STEPS, .max_memory = PLAY_MAX_MEMORY};
    policy_input in = {.event_id = PLAY_EVENT_ID, .schema = schema, .source = "hutchctl", .payload_json = payload};
    if (policy_rules_decide(p->rules, &o, &in, &d, err, sizeof err) != 0) {
        cli_error("%s", err);
        policy_decision_free(&d);
        return NULL;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < d.count; i++) {
        char id[37];
        policy_alert_id(id, PLAY_EVENT_ID, 0, i);
        const policy_alert *a = &d.alerts[i];
        json_t *doc = chain_alert_new(id, schema, "1970-01-01T00:00:00Z", a->title, a->description, a->source,
                                      a->namespace, a->attributes, payload);
        if (a->severity && *a->severity)
            json_object_set_new(doc, "severity", json_string(a->severity));
        json_array_append_new(out, doc);
    }
    policy_decision_free(&d);
    return out;
}

static json_t *env_doc(cli *c)
{
    const char *allow = getenv("HUTCH_ACTION_ENV_ALLOW");
    json_t *env = chain_env(environ, allow ? allow : "");
    for (int i = 0; i < c->nenvs; i++) {
        const char *eq = strchr(c->envs[i], '=');
        char *name = eq ? strndup(c->envs[i], (size_t)(eq - c->envs[i])) : NULL;
        if (name)
            json_object_set_new(env, name, json_string(eq + 1));
        free(name);
    }
    return env;
}

/* Prints one chain report as a reader wants it: each round, its actions, why it stopped. */
static void print_report(FILE *out, const json_t *alert, const json_t *report)
{
    fprintf(out, "alert: %s\n", json_string_value(json_object_get(alert, "title")));
    size_t i, j;
    json_t *round, *act;
    json_array_foreach (json_object_get(report, "rounds"), i, round) {
        fprintf(out, "  seq %lld:%s\n", (long long)json_integer_value(json_object_get(round, "seq")),
                json_array_size(json_object_get(round, "actions")) ? "" : " nothing new");
        json_array_foreach (json_object_get(round, "actions"), j, act) {
            char *args = json_dumps(json_object_get(act, "args"), JSON_COMPACT | JSON_SORT_KEYS);
            fprintf(out, "    %s %s args=%s\n",
                    json_string_value(json_object_get(act, "uses"))[0] ? json_string_value(json_object_get(act, "uses"))
                                                                       : "(no uses)",
                    json_string_value(json_object_get(act, "id")), args ? args : "{}");
            free(args);
            json_t *r = json_object_get(act, "error") ? json_object_get(act, "error") : json_object_get(act, "result");
            char *res = r ? json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            fprintf(out, "      %s %.300s\n", json_object_get(act, "error") ? "error:" : "result:", res ? res : "null");
            free(res);
            size_t k;
            json_t *at;
            json_array_foreach (json_object_get(act, "commit"), k, at) {
                char *v = json_dumps(json_object_get(at, "value"), JSON_COMPACT | JSON_ENCODE_ANY);
                fprintf(out, "      commit %s = %.200s%s\n", json_string_value(json_object_get(at, "key")), v ? v : "",
                        json_is_true(json_object_get(at, "persist")) ? " (persist)" : "");
                free(v);
            }
        }
    }
    fprintf(out, "  stopped: %s%s%s\n", json_string_value(json_object_get(report, "stopped")),
            json_object_get(report, "error") ? ": " : "",
            json_object_get(report, "error") ? json_string_value(json_object_get(report, "error")) : "");
}

/* play (mocks != NULL) or run (real actions). */
static int play_or_run(cli *c, bool live)
{
    if (!c->schema || !*c->schema) {
        cli_error("--schema is needed");
        return CLI_USAGE;
    }
    size_t len = 0;
    char *text = cli_read_input(c->input_path, 16 * 1024 * 1024, &len);
    if (!text)
        return CLI_FAIL;
    action_policy p;
    json_t *mocks = json_object(), *alerts = NULL, *env = NULL, *out = json_array();
    llm_settings llm;
    memset(&llm, 0, sizeof llm);
    int rc = CLI_FAIL;
    if (action_policy_load(&p, c->policy_dir) != 0)
        goto done;
    for (int i = 0; i < c->nmocks; i++) {
        const char *eq = strchr(c->mocks[i], '=');
        if (!eq) {
            cli_error("--mock wants USES=RESULT.json");
            rc = CLI_USAGE;
            goto done;
        }
        char err[512];
        json_error_t je;
        json_t *r = json_load_file(eq + 1, JSON_DECODE_ANY, &je);
        if (!r) {
            snprintf(err, sizeof err, "%s: %s", eq + 1, je.text);
            cli_error("--mock %s", err);
            goto done;
        }
        char *uses = strndup(c->mocks[i], (size_t)(eq - c->mocks[i]));
        json_object_set_new(mocks, uses, r);
        free(uses);
    }
    alerts = decide_alerts(&p, c->schema, text);
    if (!alerts)
        goto done;
    env = env_doc(c);
    chain_spec spec;
    spec_init(&spec, &p);
    mock_table mt = {.by_uses = mocks};
    actions_config acfg;
    actions_config_from_env(&acfg);
    /* llm.query asks the model of the HUTCH_LLM_* settings, as the agent does */
    if (live) {
        char err[512];
        if (config_load(llm_settings_table, &llm, err, sizeof err) != 0 ||
            llm_settings_config(&llm, &acfg.llm, err, sizeof err) != 0) {
            cli_error("bad model settings: %s", err);
            rc = CLI_FAIL;
            goto done;
        }
    }
    /* hutch.ticket needs the database: only `action run`, and only when it is set */
    if (live && c->cfg.database_url && *c->cfg.database_url)
        acfg.db = cli_db(c);
    spec.exec = live ? actions_exec : mock_exec;
    spec.exec_ctx = live ? (void *)&acfg : (void *)&mt;
    if (!live)
        spec.uses_known = mock_known;
    rc = CLI_OK;
    size_t i;
    json_t *alert;
    json_array_foreach (alerts, i, alert) {
        json_t *report = NULL;
        int crc = chain_run(&spec, alert, env, &report);
        if (!report) {
            cli_error("out of memory");
            rc = CLI_FAIL;
            break;
        }
        if (crc == CHAIN_POLICY || crc == CHAIN_FAILED)
            rc = CLI_FAIL;
        if (!c->json)
            print_report(stdout, alert, report);
        json_object_set_new(report, "alert",
                            json_pack("{s:O, s:O, s:O}", "id", json_object_get(alert, "id"), "title",
                                      json_object_get(alert, "title"), "namespace",
                                      json_object_get(alert, "namespace")));
        json_array_append_new(out, report);
    }
    if (json_array_size(alerts) == 0 && !c->json)
        printf("no alert: the policy raised none for this event\n");
    if (c->json) {
        json_t *doc = json_pack("{s:O}", "chains", out);
        output_json(stdout, doc);
        json_decref(doc);
    }
done:
    config_free(llm_settings_table, &llm);
    action_policy_free(&p);
    json_decref(mocks);
    json_decref(alerts);
    json_decref(env);
    json_decref(out);
    free(text);
    return rc;
}

int cmd_action_play(cli *c) { return play_or_run(c, false); }

int cmd_action_run(cli *c)
{
    if (c->nmocks) {
        cli_error("action run takes no --mock (use action play)");
        return CLI_USAGE;
    }
    return play_or_run(c, true);
}

/* ------------------------------------------------------------ action test */

/* Is every member of want present and equal in got (objects compared as subsets)? */
static bool subset(const json_t *want, const json_t *got)
{
    if (json_is_object(want)) {
        if (!json_is_object(got))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)want, k, v)
            if (!subset(v, json_object_get(got, k)))
                return false;
        return true;
    }
    return got && json_equal((json_t *)want, (json_t *)got);
}

/* Checks one scenario; prints what differs. true when it passed. */
static bool check_scenario(const json_t *expect, const json_t *reports, const char *name)
{
    bool ok = true;
    json_t *ran = json_array();
    size_t i, j;
    json_t *rep, *round, *act;
    json_array_foreach (reports, i, rep)
        json_array_foreach (json_object_get(rep, "rounds"), j, round) {
            size_t k;
            json_array_foreach (json_object_get(round, "actions"), k, act) {
                json_t *copy = json_deep_copy(act);
                json_object_set(copy, "seq", json_object_get(round, "seq"));
                json_array_append_new(ran, copy);
            }
        }
    const json_t *want = json_object_get(expect, "actions");
    if (json_is_array(want)) {
        if (json_array_size(want) != json_array_size(ran)) {
            printf("FAIL %s: %zu actions ran, %zu expected\n", name, json_array_size(ran), json_array_size(want));
            ok = false;
        }
        for (i = 0; i < json_array_size(want) && i < json_array_size(ran); i++)
            if (!subset(json_array_get(want, i), json_array_get(ran, i))) {
                char *w = json_dumps(json_array_get(want, i), JSON_COMPACT | JSON_SORT_KEYS);
                char *g = json_dumps(json_array_get(ran, i), JSON_COMPACT | JSON_SORT_KEYS);
                printf("FAIL %s: action %zu\n  want %s\n  got  %s\n", name, i, w, g);
                free(w);
                free(g);
                ok = false;
            }
    }
    const json_t *stopped = json_object_get(expect, "stopped");
    json_t *first = json_array_get(reports, 0);
    if (json_is_string(stopped) && !json_equal((json_t *)stopped, json_object_get(first, "stopped"))) {
        printf("FAIL %s: stopped %s, expected %s\n", name, json_string_value(json_object_get(first, "stopped")),
               json_string_value(stopped));
        ok = false;
    }
    json_array_foreach (json_object_get(expect, "attrs"), i, act) {
        bool found = false;
        json_t *at;
        json_array_foreach (json_object_get(first, "attrs"), j, at)
            found |= subset(act, at);
        if (!found) {
            char *w = json_dumps(act, JSON_COMPACT | JSON_SORT_KEYS);
            printf("FAIL %s: no attribute %s\n", name, w);
            free(w);
            ok = false;
        }
    }
    json_decref(ran);
    return ok;
}

/* A playbook: JSON, or jsonnet evaluated to JSON. NEW, or NULL with the error printed. */
static json_t *load_playbook(const char *path)
{
    size_t n = strlen(path);
    json_error_t je;
    if (n < 8 || strcmp(path + n - 8, ".jsonnet") != 0) {
        json_t *book = json_load_file(path, 0, &je);
        if (!book)
            cli_error("%s:%d: %s", path, je.line, je.text);
        return book;
    }
    struct JsonnetVm *vm = jsonnet_make();
    int error = 0;
    char *out = jsonnet_evaluate_file(vm, path, &error);
    json_t *book = NULL;
    if (error)
        cli_error("%s", out ? out : "jsonnet failed");
    else if (!(book = json_loads(out, 0, &je)))
        cli_error("%s: %s", path, je.text);
    jsonnet_realloc(vm, out, 0);
    jsonnet_destroy(vm);
    return book;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
}

int cmd_action_test(cli *c)
{
    if (c->nargs < 1) {
        cli_error("usage: hutchctl action test --policy DIR PLAYBOOK...");
        return CLI_USAGE;
    }
    action_policy p;
    if (action_policy_load(&p, c->policy_dir) != 0) {
        action_policy_free(&p);
        return CLI_FAIL;
    }
    chain_spec spec;
    spec_init(&spec, &p);
    int passed = 0, failed = 0;
    for (int f = 0; f < c->nargs; f++) {
        json_error_t je;
        json_t *book = load_playbook(c->args[f]);
        if (!book || !json_is_array(json_object_get(book, "scenarios"))) {
            if (book)
                cli_error("%s: no \"scenarios\" array", c->args[f]);
            json_decref(book);
            failed++;
            continue;
        }
        char *base = dir_of(c->args[f]);
        size_t i;
        json_t *sc;
        json_array_foreach (json_object_get(book, "scenarios"), i, sc) {
            char name[256];
            snprintf(name, sizeof name, "%s#%s", c->args[f],
                     json_string_value(json_object_get(sc, "name")) ?: "(unnamed)");
            const char *schema = json_string_value(json_object_get(sc, "schema"));
            json_t *event = json_incref(json_object_get(sc, "event"));
            const char *event_file = json_string_value(json_object_get(sc, "event_file"));
            if (!event && event_file) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", base, event_file);
                event = json_load_file(path, JSON_DECODE_ANY, &je);
            }
            if (!schema || !event) {
                printf("FAIL %s: a scenario needs \"schema\" and \"event\" (or a readable \"event_file\")\n", name);
                json_decref(event);
                failed++;
                continue;
            }
            size_t k;
            char *payload = json_dumps(event, JSON_COMPACT | JSON_ENCODE_ANY);
            json_decref(event);
            json_t *alerts = payload ? decide_alerts(&p, schema, payload) : NULL;
            free(payload);
            json_t *env = json_object_get(sc, "env");
            /* "persisted": attributes the namespace store holds (the agent merges them in) */
            size_t pi;
            json_t *pa, *al;
            json_array_foreach (alerts, pi, al)
                json_array_foreach (json_object_get(sc, "persisted"), k, pa)
                    json_array_append(json_object_get(al, "attrs"), pa);
            mock_table mt = {.by_id = json_object_get(sc, "results"), .by_uses = json_object_get(sc, "mocks")};
            spec.exec = mock_exec;
            spec.exec_ctx = &mt;
            spec.uses_known = mock_known;
            json_t *reports = json_array();
            json_t *alert;
            json_array_foreach (alerts, k, alert) {
                json_t *report = NULL;
                chain_run(&spec, alert, json_is_object(env) ? env : NULL, &report);
                if (report)
                    json_array_append_new(reports, report);
            }
            bool ok = alerts != NULL && check_scenario(json_object_get(sc, "expect"), reports, name);
            if (ok)
                printf("PASS %s\n", name);
            else if (c->json || alerts == NULL) {
                char *r = json_dumps(reports, JSON_COMPACT);
                printf("  ran: %s\n", r ? r : "");
                free(r);
            }
            ok ? passed++ : failed++;
            json_decref(reports);
            json_decref(alerts);
        }
        free(base);
        json_decref(book);
    }
    printf("%d passed, %d failed\n", passed, failed);
    action_policy_free(&p);
    return failed ? CLI_FAIL : CLI_OK;
}
