/* hutchctl's shared pieces: the parsed command line, settings, and the command
 * table entries every command file contributes.
 *
 * A command is one row of cli_commands (hutchctl.c): noun, verb, which options it
 * takes, how many positional arguments, and its run function. Adding `policy eval`
 * or `dlq replay` is a new row and a new function; parsing, --help, usage errors
 * (exit 2) and --output are handled once, in hutchctl.c.
 *
 * Exit codes: 0 success, 1 failure (unreachable service, not found, refused),
 * 2 usage error. */
#ifndef HUTCH_CLI_H
#define HUTCH_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/pg.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Options a command may accept (bit set in its table row). */
enum {
    OPT_SCHEMA = 1 << 0, /* --schema S */
    OPT_LIMIT = 1 << 1,  /* --limit N */
    OPT_STATUS = 1 << 2, /* --status S */
    OPT_POLICY = 1 << 3, /* --policy DIR (required by the policy commands) */
    OPT_INPUT = 1 << 4,  /* --input FILE */
    OPT_DATA = 1 << 5,   /* --data FILE */
    OPT_V0 = 1 << 6,     /* --v0 */
    OPT_RUN = 1 << 7,    /* --run REGEX */
    OPT_STRICT = 1 << 8, /* --strict */
    OPT_DETECT = 1 << 9, /* --detect DIR */
    OPT_IGNORE = 1 << 10, /* --ignore DIR */
    OPT_IGNORED = 1 << 11, /* --ignored */
    OPT_PROVIDER = 1 << 12, /* --provider P */
    OPT_NO_CACHE = 1 << 13, /* --no-cache */
    OPT_SEVERITY = 1 << 14, /* --severity S */
    OPT_SINCE = 1 << 15,    /* --since DURATION */
    OPT_SEARCH = 1 << 16,   /* --search TEXT */
    OPT_ALERT = 1 << 17,    /* --alert ID, repeatable */
    OPT_CONCLUSION = 1 << 18, /* --conclusion C */
    OPT_REASON = 1 << 19,   /* --reason TEXT */
    OPT_TITLE = 1 << 20,    /* --title T */
    OPT_DESCRIPTION = 1 << 21, /* --description D */
    OPT_THRESHOLD = 1 << 22, /* --threshold X */
    OPT_KEYWORD = 1 << 23,  /* --keyword K */
    OPT_DRY_RUN = 1 << 24,  /* --dry-run */
    OPT_WINDOW = 1 << 25,   /* --window DURATION */
    OPT_ROLE = 1 << 26,  /* --role R (user add) */
    OPT_EPS = 1 << 27,      /* --eps E (ticket suggest) */
    OPT_MIN_SAMPLES = 1 << 28, /* --min-samples N (ticket suggest) */
    OPT_MOCK = 1 << 29,     /* --mock USES=FILE (repeatable) */
    OPT_ENV = 1 << 30,      /* --env K=V (repeatable) */
};

typedef struct {
    char *database_url; /* HUTCH_DATABASE_URL (secret) */
    char *ingest_url;   /* HUTCH_INGEST_URL */
    char *cluster_url;  /* HUTCH_CLUSTER_URL */
    char *ingest_token; /* HUTCH_INGEST_TOKEN (secret) */
} cli_config;

typedef struct {
    cli_config cfg;
    bool json;          /* --output json */
    const char *schema; /* BORROWED from argv */
    const char *status;
    int64_t limit;      /* default 50 */
    const char *policy_dir; /* --policy, BORROWED from argv */
    const char *input_path; /* --input */
    const char *data_path;  /* --data */
    const char *run;        /* --run */
    bool v0;                /* --v0: modules default to Rego v0 syntax */
    bool strict;            /* --strict: no package means ignored, not the default alert */
    const char *detect_dir; /* --detect DIR: fixtures that must yield an alert */
    const char *ignore_dir; /* --ignore DIR: fixtures that must yield none */
    bool ignored;           /* --ignored: only events policy ignored */
    const char *provider;   /* --provider P (intel lookup), BORROWED from argv */
    bool no_cache;          /* --no-cache: ask the provider, not the cache */
    const char *eps;         /* --eps (ticket suggest), BORROWED from argv; NULL = 0.3 */
    const char *min_samples; /* --min-samples; NULL = 2 */
    /* ticket commands (cmd_ticket.c); strings BORROWED from argv */
    const char *severity, *since, *search, *conclusion, *reason, *title, *description, *threshold, *keyword, *window;
    const char **alerts; /* --alert values: OWNED array (free), strings BORROWED from argv */
    size_t n_alerts;
    bool dry_run;
    const char *message;    /* -m/--message TEXT (chat), BORROWED from argv */
    const char *role;       /* --role R (user add), BORROWED from argv */
    const char *mocks[32];  /* --mock USES=FILE, BORROWED from argv */
    int nmocks;
    const char *envs[32];   /* --env K=V, BORROWED from argv */
    int nenvs;
    const char *args[4];/* positional arguments, BORROWED from argv */
    int nargs;
    pg *db;             /* opened on first use by cli_db */
} cli;

/* The database connection, opened on first use; NULL (with the error printed) when
 * it cannot be reached. */
pg *cli_db(cli *c);

/* Runs sql (one row, one column of JSON text) and returns the parsed document (NEW,
 * json_decref) or NULL: *found is false when there was no row or a NULL value
 * (nothing printed); on a database error the error is printed and found is true. */
json_t *cli_query_json(cli *c, const char *sql, int nparams, const char *const *params, bool *found);

/* Prints "hutchctl: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The whole of path ("-" or NULL: stdin) as a NEW NUL-terminated buffer, *len its
 * size; NULL with the error printed when it cannot be opened or read, or holds more
 * than max bytes. */
char *cli_read_input(const char *path, size_t max, size_t *len);

/* Commands (cmd_*.c). Each returns CLI_OK / CLI_FAIL / CLI_USAGE. */
int cmd_alert_send(cli *c);
int cmd_alert_list(cli *c);
int cmd_alert_show(cli *c);
int cmd_ticket_list(cli *c);
int cmd_ticket_show(cli *c);
int cmd_ticket_history(cli *c);
int cmd_ticket_new(cli *c);
int cmd_ticket_resolve(cli *c);
int cmd_ticket_reopen(cli *c);
int cmd_ticket_archive(cli *c);
int cmd_ticket_assign(cli *c);
int cmd_ticket_edit(cli *c);
int cmd_ticket_merge(cli *c);
int cmd_ticket_unmerge(cli *c);
int cmd_ticket_salvage(cli *c);
int cmd_event_list(cli *c);
int cmd_policy_eval(cli *c);
int cmd_policy_test(cli *c);
int cmd_policy_decide(cli *c);
int cmd_policy_coverage(cli *c);
int cmd_intel_lookup(cli *c);
int cmd_intel_quota(cli *c);
int cmd_notify_render(cli *c);
int cmd_chat(cli *c);
int cmd_agent_approvals(cli *c);
int cmd_agent_approve(cli *c);
int cmd_agent_deny(cli *c);
int cmd_agent_sessions(cli *c);
int cmd_agent_session(cli *c);
int cmd_user_add(cli *c);
int cmd_alert_similar(cli *c);
int cmd_ticket_similar(cli *c);
int cmd_ticket_suggest(cli *c);
int cmd_action_play(cli *c);
int cmd_action_run(cli *c);
int cmd_action_test(cli *c);

#endif
