/* hutchctl: the operator's command line. This file is the frame: the command table,
 * option parsing, help, settings and the database connection. Commands live in
 * cmd_*.c and only build a JSON document and print it (output.h).
 *
 *   hutchctl [--output json|table] NOUN VERB [options] [args]
 *
 * Settings come from the services' environment variables (HUTCH_DATABASE_URL,
 * HUTCH_INGEST_URL, HUTCH_INGEST_TOKEN), so `. .hutch/env` is all the setup. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/config.h"
#include "common/log.h"
#include "common/llm.h"
#include "common/strbuf.h"
#include "services/agent/chat.h"

typedef struct {
    const char *noun;
    const char *verb;
    unsigned opts;     /* OPT_* accepted */
    int min_args, max_args;
    const char *args;  /* usage text of options and arguments */
    const char *help;
    int (*run)(cli *c);
} cli_command;

static const cli_command cli_commands[] = {
    {"alert", "send", OPT_SCHEMA, 1, 1, "--schema S FILE|-", "post an alert (JSON) to ingest; prints the event id",
     cmd_alert_send},
    {"alert", "list", OPT_LIMIT, 0, 0, "[--limit N]", "latest alerts", cmd_alert_list},
    {"alert", "show", 0, 1, 1, "ID", "one alert with its indicators and ticket", cmd_alert_show},
    {"ticket", "list", OPT_STATUS | OPT_LIMIT | OPT_SEVERITY | OPT_SINCE | OPT_SEARCH, 0, 0,
     "[--status S] [--severity S] [--since D] [--search T] [--limit N]",
     "open tickets first, then by severity and latest activity (status: open, resolved, archived; severity: S "
     "and higher; since: active within D)",
     cmd_ticket_list},
    {"ticket", "show", 0, 1, 1, "ID", "one ticket with its finding, alerts and notifications", cmd_ticket_show},
    {"ticket", "new", OPT_ALERT, 0, 0, "--alert ID...", "a ticket from unbound alerts", cmd_ticket_new},
    {"ticket", "resolve", OPT_CONCLUSION | OPT_REASON, 1, 1, "ID --conclusion C --reason TEXT",
     "resolve (C: intended, unaffected, false_positive, true_positive, escalated)", cmd_ticket_resolve},
    {"ticket", "reopen", 0, 1, 1, "ID", "reopen a resolved or archived ticket", cmd_ticket_reopen},
    {"ticket", "archive", 0, 1, 1, "ID", "archive a ticket", cmd_ticket_archive},
    {"ticket", "assign", 0, 2, 2, "ID USER", "assign (USER - unassigns)", cmd_ticket_assign},
    {"ticket", "edit", OPT_TITLE | OPT_DESCRIPTION, 1, 1, "ID [--title T] [--description D]",
     "change the title or description", cmd_ticket_edit},
    {"ticket", "merge", 0, 2, 2, "A B", "merge ticket B into A (B's alerts move to A; B is resolved, merged into A)",
     cmd_ticket_merge},
    {"ticket", "unmerge", OPT_ALERT, 1, 1, "A --alert ID...",
     "alerts leave A: back to the ticket they were merged from (reopened), else into a new ticket", cmd_ticket_unmerge},
    {"ticket", "salvage", OPT_THRESHOLD | OPT_KEYWORD | OPT_DRY_RUN | OPT_WINDOW, 1, 1,
     "ID [--threshold X] [--keyword K] [--window D] [--dry-run]",
     "bind every unbound alert of the window (24h) whose embedding is as similar as X (0.9) to the ticket's",
     cmd_ticket_salvage},
    {"ticket", "history", 0, 1, 1, "ID",
     "every change of a ticket (when, who, what) and its agent sessions, in time order", cmd_ticket_history},
    {"alert", "similar", OPT_LIMIT, 1, 1, "ID [--limit N]",
     "alerts whose shape is most like this alert's (last 30 days)", cmd_alert_similar},
    {"ticket", "similar", OPT_LIMIT, 1, 1, "ID [--limit N]", "tickets whose alerts look most like this ticket's",
     cmd_ticket_similar},
    {"ticket", "suggest", OPT_LIMIT | OPT_EPS | OPT_MIN_SAMPLES, 0, 0, "[--eps E] [--min-samples N] [--limit N]",
     "DBSCAN over the last 24 h's unbound or open alerts: groups binding kept apart (suggestions only)",
     cmd_ticket_suggest},
    {"event", "list", OPT_LIMIT | OPT_STATUS | OPT_IGNORED, 0, 0, "[--ignored|--status S] [--limit N]",
     "latest raw events and what policy decided (status: received, accepted, ignored, dead)", cmd_event_list},
    {"policy", "eval", OPT_POLICY | OPT_INPUT | OPT_DATA | OPT_V0, 1, 1,
     "--policy DIR [--input F] [--data F] [--v0] QUERY", "evaluate a Rego query like `opa eval` (JSON)",
     cmd_policy_eval},
    {"policy", "test", OPT_POLICY | OPT_V0 | OPT_RUN | OPT_DATA | OPT_DETECT | OPT_IGNORE, 0, 0,
     "--policy DIR [--detect D] [--ignore D] [--data P] [--v0] [--run RE]",
     "run test_* rules (like `opa test`) and detect/ignore fixtures (Warren)", cmd_policy_test},
    {"policy", "decide", OPT_POLICY | OPT_SCHEMA | OPT_INPUT | OPT_STRICT, 0, 0,
     "--policy DIR --schema S [--input F] [--strict]", "decide one event (JSON, FILE or stdin) like hutch-policy",
     cmd_policy_decide},
    {"policy", "coverage", OPT_POLICY, 1, 1, "--policy DIR EVENTS_DIR",
     "decide every event under EVENTS_DIR/<schema>/: per source accepted, ignored (why), unrecognised, errors",
     cmd_policy_coverage},
    {"intel", "lookup", OPT_PROVIDER | OPT_NO_CACHE, 1, 1, "[--provider P] [--no-cache] VALUE",
     "what threat intel says about an IP, domain, URL, hash or ASN (defanged forms accepted)", cmd_intel_lookup},
    {"notify", "render", 0, 1, 1, "TICKET",
     "the Slack Block Kit message of a ticket (bot mode), as JSON for Block Kit Builder; posts nothing",
     cmd_notify_render},
    {"intel", "quota", 0, 0, 0, "", "per provider: requests left this minute and today, cool-down after a 429",
     cmd_intel_quota},
    {"agent", "approvals", OPT_STATUS | OPT_LIMIT, 0, 0, "[--status pending|granted|denied] [--limit N]",
     "risky tool calls the agent asked a person for", cmd_agent_approvals},
    {"agent", "approve", 0, 1, 1, "ID", "grant a pending tool call (the ticket is analysed again)", cmd_agent_approve},
    {"agent", "deny", 0, 1, 1, "ID", "deny a pending tool call", cmd_agent_deny},
    {"agent", "sessions", 0, 1, 1, "TICKET", "the agent's analyses and chats of a ticket", cmd_agent_sessions},
    {"agent", "session", 0, 1, 1, "ID", "every turn and tool call of one session", cmd_agent_session},
    {"chat", "", 0, 1, 1, "TICKET [-m TEXT]",
     "ask the model about a ticket (one question with -m, else one per line of stdin)", cmd_chat},
    {"user", "add", OPT_ROLE, 1, 1, "--role viewer|analyst|admin NAME",
     "add a web console account or change its role and password (password from stdin, else generated and printed)",
     cmd_user_add},
    {"action", "play", OPT_SCHEMA | OPT_POLICY | OPT_INPUT | OPT_MOCK | OPT_ENV, 0, 0,
     "--policy DIR --schema S [--input EVENT.json] [--mock USES=RESULT.json]... [--env K=V]...",
     "the alert policy and the action chain without side effects (actions answer from --mock), round by round",
     cmd_action_play},
    {"action", "run", OPT_SCHEMA | OPT_POLICY | OPT_INPUT | OPT_ENV, 0, 0,
     "--policy DIR --schema S [--input EVENT.json] [--env K=V]...", "the action chain with its real actions",
     cmd_action_run},
    {"action", "test", OPT_POLICY, 1, 4, "--policy DIR PLAYBOOK...",
     "run playbook scenarios (JSON) and compare the actions with the expected ones", cmd_action_test},
};
#define N_COMMANDS (sizeof cli_commands / sizeof cli_commands[0])

static const config_field cli_config_table[] = {
    {"HUTCH_DATABASE_URL", CONFIG_SECRET, "", offsetof(cli_config, database_url),
     "Postgres URL (list and show commands)", 0, 0},
    {"HUTCH_INGEST_URL", CONFIG_STRING, "http://127.0.0.1:8081", offsetof(cli_config, ingest_url),
     "ingest's base URL (alert send)", 0, 0},
    {"HUTCH_INGEST_TOKEN", CONFIG_SECRET, "", offsetof(cli_config, ingest_token),
     "bearer token for ingest, when it requires one", 0, 0},
    {"HUTCH_CLUSTER_URL", CONFIG_STRING, "http://127.0.0.1:8084", offsetof(cli_config, cluster_url),
     "hutch-cluster's base URL (alert similar asks its similarity index)", 0, 0},
    CONFIG_END,
};

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hutchctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

char *cli_read_input(const char *path, size_t max, size_t *len)
{
    bool std = !path || strcmp(path, "-") == 0;
    const char *name = std ? "stdin" : path;
    FILE *f = std ? stdin : fopen(path, "rb");
    if (!f) {
        cli_error("cannot open %s: %m", name);
        return NULL;
    }
    strbuf b = {0};
    char chunk[65536];
    size_t n;
    bool ok = true;
    while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > max) {
            cli_error("%s is too large (more than %zu bytes)", name, max);
            ok = false;
        } else if (strbuf_add(&b, chunk, n) != 0) {
            cli_error("out of memory reading %s", name);
            ok = false;
        }
    }
    if (ok && ferror(f)) {
        cli_error("cannot read %s: %m", name);
        ok = false;
    }
    if (!std)
        fclose(f);
    if (!ok) {
        strbuf_free(&b);
        return NULL;
    }
    *len = b.len;
    char *text = strbuf_take(&b);
    if (!text)
        cli_error("out of memory reading %s", name);
    return text;
}

static void usage(FILE *out)
{
    fputs("usage: hutchctl [--output json|table] NOUN VERB [options] [args]\n\ncommands:\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char line[128];
        snprintf(line, sizeof line, "%s %s %s", cli_commands[i].noun, cli_commands[i].verb, cli_commands[i].args);
        if (strlen(line) > 44) /* a long synopsis gets its help on the next line */
            fprintf(out, "  %s\n  %-44s %s\n", line, "", cli_commands[i].help);
        else
            fprintf(out, "  %-44s %s\n", line, cli_commands[i].help);
    }
    fputs("\noptions:\n  --output json|table, -o   one JSON document on stdout, or a readable table (default)\n"
          "  --help, -h                this help\n\n",
          out);
    config_print_settings(out, cli_config_table, "Settings");
    config_print_settings(out, llm_settings_table, "Model settings (chat)");
    config_print_settings(out, chat_settings_table, "Chat settings");
}

pg *cli_db(cli *c)
{
    if (c->db)
        return c->db;
    if (!c->cfg.database_url || !*c->cfg.database_url) {
        cli_error("HUTCH_DATABASE_URL is not set (try `. .hutch/env`)");
        return NULL;
    }
    char err[512];
    c->db = pg_connect(c->cfg.database_url, 0, err, sizeof err);
    if (!c->db)
        cli_error("cannot connect to the database: %s", err);
    return c->db;
}

json_t *cli_query_json(cli *c, const char *sql, int nparams, const char *const *params, bool *found)
{
    *found = true;
    pg *db = cli_db(c);
    if (!db)
        return NULL;
    PGresult *res = NULL;
    if (pg_exec(db, &res, sql, nparams, params) != PG_OK) {
        cli_error("query failed (see the log line above)");
        return NULL;
    }
    json_t *doc = NULL;
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        *found = false;
    } else {
        json_error_t jerr;
        doc = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
        if (!doc)
            cli_error("unexpected answer from the database: %s", jerr.text);
    }
    PQclear(res);
    return doc;
}

static int parse_limit(const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || !end || *end || end == text || v < 1 || v > 100000)
        return -1;
    *out = v;
    return 0;
}

/* getopt_long's val of the long options without a short form. */
enum {
    VAL_SCHEMA = 256,
    VAL_STATUS,
    VAL_LIMIT,
    VAL_POLICY,
    VAL_INPUT,
    VAL_DATA,
    VAL_RUN,
    VAL_DETECT,
    VAL_IGNORE,
    VAL_V0,
    VAL_STRICT,
    VAL_IGNORED,
    VAL_PROVIDER,
    VAL_NO_CACHE,
    VAL_SEVERITY,
    VAL_SINCE,
    VAL_SEARCH,
    VAL_ALERT,
    VAL_CONCLUSION,
    VAL_REASON,
    VAL_TITLE,
    VAL_DESCRIPTION,
    VAL_THRESHOLD,
    VAL_KEYWORD,
    VAL_DRY_RUN,
    VAL_WINDOW,
    VAL_ROLE,
    VAL_EPS,
    VAL_MIN_SAMPLES,
    VAL_MOCK,
    VAL_ENV,
};

static const struct option cli_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"output", required_argument, NULL, 'o'},
    {"schema", required_argument, NULL, VAL_SCHEMA},
    {"status", required_argument, NULL, VAL_STATUS},
    {"limit", required_argument, NULL, VAL_LIMIT},
    {"policy", required_argument, NULL, VAL_POLICY},
    {"input", required_argument, NULL, VAL_INPUT},
    {"data", required_argument, NULL, VAL_DATA},
    {"run", required_argument, NULL, VAL_RUN},
    {"detect", required_argument, NULL, VAL_DETECT},
    {"ignore", required_argument, NULL, VAL_IGNORE},
    {"v0", no_argument, NULL, VAL_V0},
    {"strict", no_argument, NULL, VAL_STRICT},
    {"ignored", no_argument, NULL, VAL_IGNORED},
    {"provider", required_argument, NULL, VAL_PROVIDER},
    {"no-cache", no_argument, NULL, VAL_NO_CACHE},
    {"severity", required_argument, NULL, VAL_SEVERITY},
    {"since", required_argument, NULL, VAL_SINCE},
    {"search", required_argument, NULL, VAL_SEARCH},
    {"alert", required_argument, NULL, VAL_ALERT},
    {"conclusion", required_argument, NULL, VAL_CONCLUSION},
    {"reason", required_argument, NULL, VAL_REASON},
    {"title", required_argument, NULL, VAL_TITLE},
    {"description", required_argument, NULL, VAL_DESCRIPTION},
    {"threshold", required_argument, NULL, VAL_THRESHOLD},
    {"keyword", required_argument, NULL, VAL_KEYWORD},
    {"dry-run", no_argument, NULL, VAL_DRY_RUN},
    {"window", required_argument, NULL, VAL_WINDOW},
    {"message", required_argument, NULL, 'm'},
    {"role", required_argument, NULL, VAL_ROLE},
    {"eps", required_argument, NULL, VAL_EPS},
    {"min-samples", required_argument, NULL, VAL_MIN_SAMPLES},
    {"mock", required_argument, NULL, VAL_MOCK},
    {"env", required_argument, NULL, VAL_ENV},
    {NULL, 0, NULL, 0},
};

/* The usage error for an option given without its value (getopt_long's optopt). */
static void missing_value(int val)
{
    if (val == 'o')
        cli_error("--output wants json or table");
    else if (val == VAL_LIMIT)
        cli_error("--limit wants a number from 1 to 100000");
    else
        for (const struct option *o = cli_options; o->name; o++)
            if (o->val == val)
                cli_error("--%s wants a value", o->name);
}

int main(int argc, char **argv)
{
    static cli c;
    c.limit = 50;
    const char *schema = NULL, *status = NULL;
    bool help = false, saw_limit = false;
    unsigned seen = 0; /* OPT_* of the policy options given */

    /* Options may come anywhere (getopt_long moves the operands after them); "-"
     * alone is an operand (stdin), "--" ends the options. */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":ho:m:", cli_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            help = true;
            break;
        case 'm':
            c.message = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
                cli_error("--output wants json or table");
                return CLI_USAGE;
            }
            c.json = strcmp(optarg, "json") == 0;
            break;
        case VAL_SCHEMA:
            schema = optarg;
            break;
        case VAL_STATUS:
            status = optarg;
            break;
        case VAL_LIMIT:
            saw_limit = true;
            if (parse_limit(optarg, &c.limit) != 0) {
                missing_value(VAL_LIMIT);
                return CLI_USAGE;
            }
            break;
        case VAL_POLICY:
            c.policy_dir = optarg;
            seen |= OPT_POLICY;
            break;
        case VAL_INPUT:
            c.input_path = optarg;
            seen |= OPT_INPUT;
            break;
        case VAL_DATA:
            c.data_path = optarg;
            seen |= OPT_DATA;
            break;
        case VAL_RUN:
            c.run = optarg;
            seen |= OPT_RUN;
            break;
        case VAL_DETECT:
            c.detect_dir = optarg;
            seen |= OPT_DETECT;
            break;
        case VAL_IGNORE:
            c.ignore_dir = optarg;
            seen |= OPT_IGNORE;
            break;
        case VAL_V0:
            c.v0 = true;
            seen |= OPT_V0;
            break;
        case VAL_STRICT:
            c.strict = true;
            seen |= OPT_STRICT;
            break;
        case VAL_IGNORED:
            c.ignored = true;
            seen |= OPT_IGNORED;
            break;
        case VAL_PROVIDER:
            c.provider = optarg;
            seen |= OPT_PROVIDER;
            break;
        case VAL_NO_CACHE:
            c.no_cache = true;
            seen |= OPT_NO_CACHE;
            break;
        case VAL_SEVERITY:
            c.severity = optarg;
            seen |= OPT_SEVERITY;
            break;
        case VAL_SINCE:
            c.since = optarg;
            seen |= OPT_SINCE;
            break;
        case VAL_SEARCH:
            c.search = optarg;
            seen |= OPT_SEARCH;
            break;
        case VAL_ALERT: {
            const char **grown = realloc(c.alerts, (c.n_alerts + 1) * sizeof *grown);
            if (!grown) {
                cli_error("out of memory");
                return CLI_FAIL;
            }
            c.alerts = grown;
            c.alerts[c.n_alerts++] = optarg;
            seen |= OPT_ALERT;
            break;
        }
        case VAL_CONCLUSION:
            c.conclusion = optarg;
            seen |= OPT_CONCLUSION;
            break;
        case VAL_REASON:
            c.reason = optarg;
            seen |= OPT_REASON;
            break;
        case VAL_TITLE:
            c.title = optarg;
            seen |= OPT_TITLE;
            break;
        case VAL_DESCRIPTION:
            c.description = optarg;
            seen |= OPT_DESCRIPTION;
            break;
        case VAL_THRESHOLD:
            c.threshold = optarg;
            seen |= OPT_THRESHOLD;
            break;
        case VAL_KEYWORD:
            c.keyword = optarg;
            seen |= OPT_KEYWORD;
            break;
        case VAL_DRY_RUN:
            c.dry_run = true;
            seen |= OPT_DRY_RUN;
            break;
        case VAL_WINDOW:
            c.window = optarg;
            seen |= OPT_WINDOW;
            break;
        case VAL_ROLE:
            c.role = optarg;
            seen |= OPT_ROLE;
            break;
        case VAL_EPS:
            c.eps = optarg;
            seen |= OPT_EPS;
            break;
        case VAL_MIN_SAMPLES:
            c.min_samples = optarg;
            seen |= OPT_MIN_SAMPLES;
            break;
        case VAL_MOCK:
        case VAL_ENV: {
            const char **list = opt == VAL_MOCK ? c.mocks : c.envs;
            int *n = opt == VAL_MOCK ? &c.nmocks : &c.nenvs;
            if (*n >= 32 || !strchr(optarg, '=')) {
                cli_error("--%s wants %s (at most 32)", opt == VAL_MOCK ? "mock" : "env",
                          opt == VAL_MOCK ? "USES=RESULT.json" : "K=V");
                return CLI_USAGE;
            }
            list[(*n)++] = optarg;
            seen |= opt == VAL_MOCK ? OPT_MOCK : OPT_ENV;
            break;
        }
        case ':':
            missing_value(optopt);
            return CLI_USAGE;
        case '?':
            if (optopt > 0 && optopt < VAL_SCHEMA) /* a short option */
                cli_error("unknown option -%c (see hutchctl --help)", optopt);
            else /* unknown, ambiguous, or a value given to a flag (--v0=1) */
                cli_error("unknown option %s (see hutchctl --help)", argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    const char *words[2] = {NULL, NULL};
    int nwords = 0;
    for (int i = optind; i < argc; i++) {
        if (nwords < 2) {
            words[nwords++] = argv[i];
        } else if (c.nargs < (int)(sizeof c.args / sizeof c.args[0])) {
            c.args[c.nargs++] = argv[i];
        } else {
            cli_error("too many arguments");
            return CLI_USAGE;
        }
    }
    /* `chat TICKET`: a noun without a verb (leveret's spelling) */
    if (nwords == 2 && strcmp(words[0], "chat") == 0) {
        if (c.nargs > 0) {
            cli_error("usage: hutchctl chat TICKET [-m TEXT]");
            return CLI_USAGE;
        }
        c.args[c.nargs++] = words[1];
        words[1] = "";
    }
    if (help && nwords == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (nwords < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const cli_command *cmd = NULL;
    bool noun_known = false;
    for (size_t i = 0; i < N_COMMANDS && !cmd; i++) {
        noun_known |= strcmp(cli_commands[i].noun, words[0]) == 0;
        if (strcmp(cli_commands[i].noun, words[0]) == 0 && strcmp(cli_commands[i].verb, words[1]) == 0)
            cmd = &cli_commands[i];
    }
    if (!cmd) {
        if (noun_known)
            cli_error("unknown command \"%s %s\" (see hutchctl --help)", words[0], words[1]);
        else
            cli_error("unknown command \"%s\" (see hutchctl --help)", words[0]);
        return CLI_USAGE;
    }
    if (help) {
        printf("usage: hutchctl %s %s %s\n  %s\n", cmd->noun, cmd->verb, cmd->args, cmd->help);
        return CLI_OK;
    }
    if ((c.message && strcmp(cmd->noun, "chat") != 0) || (schema && !(cmd->opts & OPT_SCHEMA)) || (status && !(cmd->opts & OPT_STATUS)) ||
        (saw_limit && !(cmd->opts & OPT_LIMIT)) || (seen & ~cmd->opts) ||
        ((cmd->opts & OPT_POLICY) && !(seen & OPT_POLICY)) || c.nargs < cmd->min_args || c.nargs > cmd->max_args) {
        cli_error("usage: hutchctl %s %s %s", cmd->noun, cmd->verb, cmd->args);
        return CLI_USAGE;
    }
    c.schema = schema;
    c.status = status;

    log_init("hutchctl", LOG_LEVEL_WARN);
    char err[1024];
    if (config_load(cli_config_table, &c.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "hutchctl: bad settings:\n%s", err);
        config_free(cli_config_table, &c.cfg);
        return CLI_FAIL;
    }
    int rc = cmd->run(&c);
    fflush(stdout);
    pg_free(c.db);
    free(c.alerts);
    config_free(cli_config_table, &c.cfg);
    return rc;
}
