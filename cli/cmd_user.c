/* hutchctl user add: a web console account (services/console), or a new role and
 * password for an existing one (its sessions end). The password is the first line
 * of stdin when stdin is not a terminal (a script pipes it in); otherwise, or when
 * that line is empty, one is generated and printed once. Stored as scrypt
 * (common/password.h) in console_users. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli/cli.h"
#include "common/password.h"

/* Names: 1-64 of [A-Za-z0-9._@-] (they appear in ticket history as "user:NAME"). */
static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-", *p))
            return 0;
    return 1;
}

int cmd_user_add(cli *c)
{
    const char *name = c->args[0];
    if (!c->role || (strcmp(c->role, "viewer") && strcmp(c->role, "analyst") && strcmp(c->role, "admin"))) {
        cli_error("usage: hutchctl user add --role viewer|analyst|admin NAME (--role is needed)");
        return CLI_USAGE;
    }
    if (!valid_name(name)) {
        cli_error("a user name has 1 to 64 of the characters A-Z a-z 0-9 . _ @ -");
        return CLI_USAGE;
    }
    char password[PASSWORD_MAX_LEN + 2] = "";
    bool generated = false;
    if (!isatty(STDIN_FILENO) && fgets(password, sizeof password, stdin)) {
        password[strcspn(password, "\r\n")] = '\0';
    }
    if (password[0] == '\0') {
        if (password_generate(password) != 0) {
            cli_error("no random bytes for a password");
            return CLI_FAIL;
        }
        generated = true;
    }
    char hash[PASSWORD_HASH_MAX], err[256];
    if (password_hash(password, hash, err, sizeof err) != 0) {
        cli_error("%s", err);
        OPENSSL_cleanse(password, sizeof password);
        return CLI_FAIL;
    }
    pg *db = cli_db(c);
    int rc = CLI_FAIL;
    if (db) {
        const char *params[] = {name, c->role, hash};
        /* one statement: the account, and its sessions end (old password, old role) */
        if (pg_exec(db, NULL,
                    "WITH u AS (INSERT INTO console_users (name, role, password_hash) VALUES ($1, $2, $3)"
                    " ON CONFLICT (name) DO UPDATE SET role = $2, password_hash = $3, updated_at = now()"
                    " RETURNING name)"
                    " DELETE FROM console_sessions WHERE name IN (SELECT name FROM u)",
                    3, params) == PG_OK) {
            if (generated)
                printf("user %s (%s); password: %s\n", name, c->role, password);
            else
                printf("user %s (%s)\n", name, c->role);
            rc = CLI_OK;
        } else {
            cli_error("could not store the user: %s", pg_last_error(db));
        }
    }
    OPENSSL_cleanse(password, sizeof password);
    return rc;
}
