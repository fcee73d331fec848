/* Sign-in of the web console (console.h).
 *
 * Sessions: POST /api/login {name, password} checks the scrypt hash of
 * console_users (common/password.h) and stores a session by the SHA-256 of a random
 * token; the token goes back only in the cookie "hutch_session" (HttpOnly,
 * SameSite=Lax, Path=/, Secure with HUTCH_CONSOLE_SECURE_COOKIES or when a trusted
 * proxy says X-Forwarded-Proto: https). Each session has a CSRF token, returned by
 * login and GET /api/me; every change (POST) must carry it in X-CSRF-Token.
 *
 * Rate limit: failed sign-ins are counted per client address and per user name in a
 * window (HUTCH_CONSOLE_LOGIN_LIMIT per HUTCH_CONSOLE_LOGIN_WINDOW); over the limit
 * every attempt of that key gets 429 with Retry-After, right or wrong password, so
 * guessing goes no faster. Counters live in the process (one console instance).
 *
 * Trusted header: with HUTCH_CONSOLE_TRUSTED_HEADER set, a request from a peer listed
 * in HUTCH_CONSOLE_TRUSTED_PROXIES is signed in as the user that header names (role:
 * the account's, else HUTCH_CONSOLE_TRUSTED_ROLE); from any other peer the header is
 * ignored. Such users' CSRF token is an HMAC of their name with a per-process key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/config.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/password.h"
#include "services/console/console.h"
#include "services/console/guard.h"

#define COOKIE "hutch_session"

static bool from_trusted_proxy(console *c, struct evhttp_request *req)
{
    const char *peer = console_peer(req);
    return peer && *peer && c->cfg->trusted_proxies[0] && config_list_has(c->cfg->trusted_proxies, peer);
}

static bool secure_request(console *c, struct evhttp_request *req)
{
    if (c->cfg->secure_cookies)
        return true;
    const char *proto = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Forwarded-Proto");
    return proto && !strcmp(proto, "https") && from_trusted_proxy(c, req);
}

static bool cookie_value(struct evhttp_request *req, const char *name, char *out, size_t outlen)
{
    return guard_cookie(evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie"), name, out, outlen);
}

/* ---------------------------------------------------------- sessions */

static void header_csrf(console *c, const char *name, char out[PASSWORD_CSRF_MAX])
{
    unsigned char md[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), c->header_secret, sizeof c->header_secret, (const unsigned char *)name, strlen(name), md, &len);
    for (unsigned i = 0; i < len && 2 * i + 2 < PASSWORD_CSRF_MAX; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

bool auth_user(console *c, struct evhttp_request *req, console_user *u)
{
    memset(u, 0, sizeof *u);
    if (c->cfg->trusted_header[0] && from_trusted_proxy(c, req)) {
        const char *name = evhttp_find_header(evhttp_request_get_input_headers(req), c->cfg->trusted_header);
        if (name && *name && strlen(name) < sizeof u->name) {
            snprintf(u->name, sizeof u->name, "%s", name);
            snprintf(u->role, sizeof u->role, "%s", c->cfg->trusted_role);
            const char *params[] = {name};
            PGresult *r = NULL;
            if (pg_exec(c->db, &r, "SELECT role FROM console_users WHERE name = $1", 1, params) == PG_OK &&
                PQntuples(r) == 1)
                snprintf(u->role, sizeof u->role, "%s", PQgetvalue(r, 0, 0));
            PQclear(r);
            header_csrf(c, name, u->csrf);
            u->from_header = true;
            return true;
        }
    }
    char token[128];
    if (!cookie_value(req, COOKIE, token, sizeof token) || strlen(token) != PASSWORD_TOKEN_LEN - 1)
        return false;
    char hash[PASSWORD_SHA256_HEX];
    password_sha256_hex(token, hash);
    const char *params[] = {hash};
    PGresult *r = NULL;
    bool ok = false;
    if (pg_exec(c->db, &r,
                "SELECT s.name, u.role, s.csrf FROM console_sessions s JOIN console_users u USING (name)"
                " WHERE s.token_sha256 = $1 AND s.expires_at > now()",
                1, params) == PG_OK &&
        PQntuples(r) == 1) {
        snprintf(u->name, sizeof u->name, "%s", PQgetvalue(r, 0, 0));
        snprintf(u->role, sizeof u->role, "%s", PQgetvalue(r, 0, 1));
        snprintf(u->csrf, sizeof u->csrf, "%s", PQgetvalue(r, 0, 2));
        ok = true;
    }
    PQclear(r);
    return ok;
}

bool auth_may_change(struct evhttp_request *req, const console_user *u)
{
    const char *token = evhttp_find_header(evhttp_request_get_input_headers(req), "X-CSRF-Token");
    if (!token || !password_equal(token, u->csrf)) {
        http_reply_error(req, 403, "missing or wrong X-CSRF-Token (GET /api/me gives it)");
        return false;
    }
    if (!strcmp(u->role, "viewer")) {
        http_reply_error(req, 403, "viewers cannot change anything");
        return false;
    }
    return true;
}

static void set_cookie(console *c, struct evhttp_request *req, const char *value, int64_t max_age_s)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax%s", COOKIE, value,
             (long long)max_age_s, secure_request(c, req) ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", buf);
}

static void reply_blocked(struct evhttp_request *req, int64_t seconds)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)seconds);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", s);
    char msg[128];
    snprintf(msg, sizeof msg, "too many failed sign-ins: try again in %lld s", (long long)seconds);
    http_reply_error(req, 429, msg);
}

void auth_login(console *c, struct evhttp_request *req)
{
    json_t *body = console_body_object(req);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *password = json_string_value(json_object_get(body, "password"));
    if (!name || !password || !*name || strlen(name) > 64 || strlen(password) > PASSWORD_MAX_LEN) {
        json_decref(body);
        http_reply_error(req, 400, "name and password (strings) are required");
        return;
    }
    char ip_key[96], name_key[96];
    snprintf(ip_key, sizeof ip_key, "ip:%s", console_peer(req));
    snprintf(name_key, sizeof name_key, "name:%s", name);
    int64_t now = ids_now_ms();
    int64_t wait_ip = guard_blocked_for(&c->limiter, ip_key, now),
            wait_name = guard_blocked_for(&c->limiter, name_key, now);
    if (wait_ip || wait_name) {
        LOG_WARN("console_login_limited", "user", name, "peer", console_peer(req), NULL); /* name is body's */
        json_decref(body);
        reply_blocked(req, wait_ip > wait_name ? wait_ip : wait_name);
        return;
    }
    const char *params[] = {name};
    PGresult *r = NULL;
    int rc = pg_exec(c->db, &r, "SELECT role, password_hash FROM console_users WHERE name = $1", 1, params);
    if (rc != PG_OK) {
        json_decref(body);
        http_reply_error(req, 503, "database unavailable");
        return;
    }
    bool found = PQntuples(r) == 1;
    /* an unknown name costs a hash too, so timing does not tell which names exist */
    static const char dummy[] = "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    bool ok = password_verify(password, found ? PQgetvalue(r, 0, 1) : dummy) && found;
    char role[16] = "";
    if (found)
        snprintf(role, sizeof role, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!ok) {
        guard_failed(&c->limiter, ip_key, ids_now_ms());
        guard_failed(&c->limiter, name_key, ids_now_ms());
        LOG_WARN("console_login_failed", "user", name, "peer", console_peer(req), NULL); /* name is body's */
        json_decref(body);
        http_reply_error(req, 401, "wrong name or password");
        return;
    }
    char token[PASSWORD_TOKEN_LEN], csrf[PASSWORD_TOKEN_LEN], hash[PASSWORD_SHA256_HEX], ttl[32];
    if (password_token(token) != 0 || password_token(csrf) != 0) {
        json_decref(body);
        http_reply_error(req, 503, "no random bytes");
        return;
    }
    password_sha256_hex(token, hash);
    snprintf(ttl, sizeof ttl, "%lld", (long long)c->cfg->session_ttl_ms);
    const char *p2[] = {hash, name, csrf, ttl};
    rc = pg_exec(c->db, NULL,
                 "WITH gone AS (DELETE FROM console_sessions WHERE expires_at < now())"
                 " INSERT INTO console_sessions (token_sha256, name, csrf, expires_at)"
                 " VALUES ($1, $2, $3, now() + $4::bigint * interval '1 millisecond')",
                 4, p2);
    if (rc != PG_OK) {
        json_decref(body);
        http_reply_error(req, 503, "database unavailable");
        return;
    }
    LOG_INFO("console_login", "user", name, "role", role, "peer", console_peer(req), NULL);
    set_cookie(c, req, token, c->cfg->session_ttl_ms / 1000);
    json_t *out = json_pack("{s:s,s:s,s:s,s:b}", "name", name, "role", role, "csrf", csrf, "trusted_header", 0);
    char *text = json_dumps(out, JSON_COMPACT);
    console_headers(req, true);
    http_reply_json(req, 200, text);
    free(text);
    json_decref(out);
    json_decref(body);
}

void auth_logout(console *c, struct evhttp_request *req, const console_user *u)
{
    char token[128];
    if (!u->from_header && cookie_value(req, COOKIE, token, sizeof token)) {
        char hash[PASSWORD_SHA256_HEX];
        password_sha256_hex(token, hash);
        const char *params[] = {hash};
        pg_exec(c->db, NULL, "DELETE FROM console_sessions WHERE token_sha256 = $1", 1, params);
    }
    set_cookie(c, req, "", 0);
    console_headers(req, true);
    http_reply_json(req, 200, "{\"signed_out\":true}");
}
