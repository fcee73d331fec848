/* The MCP client (mcp.h): JSON-RPC over a child's pipes or Streamable HTTP.
 *
 * What must stay true: a request's answer is the message with its id (server
 * notifications and requests in between are skipped; a server ping is answered);
 * every wait is bounded by the timeout; a stdio child is always reaped. */
#include "common/mcp.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/config.h"
#include "common/strbuf.h"

#define MCP_MAX_MESSAGE (16u << 20)
#define MCP_MAX_PAGES 100

struct mcp_server {
    char *name;
    bool http;
    long timeout_ms;
    int next_id;
    json_t *tools;
    /* stdio */
    pid_t pid;
    int to_child, from_child;
    strbuf inbuf;
    /* http */
    char *url;
    char session[256];
    bool initialized;
    CURL *curl;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const config_field mcp_settings_table[] = {
    {"HUTCH_MCP_SERVERS", CONFIG_STRING, "", offsetof(mcp_settings, servers),
     "MCP servers whose tools the model may call: name=https://host/mcp;name=command args (stdio)", 0, 0, NULL},
    {"HUTCH_MCP_READ_ONLY", CONFIG_STRING, "", offsetof(mcp_settings, read_only),
     "MCP tools that run without a person's approval: server_tool or server_*, comma-separated", 0, 0, NULL},
    {"HUTCH_MCP_TIMEOUT", CONFIG_DURATION_MS, "30s", offsetof(mcp_settings, timeout_ms), "per MCP request", 0, 0, NULL},
    CONFIG_END,
};

/* --- stdio --- */

static int spawn(mcp_server *s, const char *command, char *err, size_t errlen)
{
    char *copy = strdup(command);
    char *argv[64];
    int argc = 0;
    for (char *tok = strtok(copy, " \t"); tok && argc < 63; tok = strtok(NULL, " \t"))
        argv[argc++] = tok;
    argv[argc] = NULL;
    int in[2], out[2];
    if (argc == 0 || pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "%s: %s", s->name, argc == 0 ? "empty command" : strerror(errno));
        free(copy);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    free(copy);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        snprintf(err, errlen, "%s: fork: %s", s->name, strerror(errno));
        return -1;
    }
    s->pid = pid;
    s->to_child = in[1];
    s->from_child = out[0];
    signal(SIGPIPE, SIG_IGN); /* a dead server is an error result, not our death */
    return 0;
}

static int stdio_send(mcp_server *s, const json_t *msg)
{
    char *line = json_dumps(msg, JSON_COMPACT); /* compact JSON has no newline */
    if (!line)
        return -1;
    size_t len = strlen(line);
    line[len] = '\n';
    size_t off = 0;
    int rc = 0;
    while (off < len + 1) {
        ssize_t n = write(s->to_child, line + off, len + 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    free(line);
    return rc;
}

/* One line from the child (NEW, without the newline) or NULL (timeout, EOF). */
static char *stdio_line(mcp_server *s, int64_t deadline)
{
    for (;;) {
        char *nl = s->inbuf.p ? memchr(s->inbuf.p, '\n', s->inbuf.len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - s->inbuf.p);
            char *line = strndup(s->inbuf.p, n);
            memmove(s->inbuf.p, nl + 1, s->inbuf.len - n - 1);
            s->inbuf.len -= n + 1;
            s->inbuf.p[s->inbuf.len] = '\0';
            return line;
        }
        int64_t left = deadline - mono_ms();
        if (left <= 0 || s->inbuf.len > MCP_MAX_MESSAGE)
            return NULL;
        struct pollfd pfd = {.fd = s->from_child, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return NULL;
        char buf[65536];
        ssize_t n = read(s->from_child, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        strbuf_add(&s->inbuf, buf, (size_t)n);
    }
}

/* --- http --- */

typedef struct {
    strbuf body;
    char content_type[128];
    char session[256];
} http_answer;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    http_answer *a = arg;
    if (a->body.len + size * n > MCP_MAX_MESSAGE)
        return 0;
    return strbuf_add(&a->body, p, size * n) == 0 ? size * n : 0;
}

static void header_value(const char *p, size_t len, char *out, size_t outlen)
{
    const char *v = memchr(p, ':', len);
    if (!v)
        return;
    v++;
    while (v < p + len && isspace((unsigned char)*v))
        v++;
    size_t n = (size_t)(p + len - v);
    while (n > 0 && isspace((unsigned char)v[n - 1]))
        n--;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    http_answer *a = arg;
    size_t len = size * n;
    if (len > 13 && !strncasecmp(p, "content-type:", 13))
        header_value(p, len, a->content_type, sizeof a->content_type);
    else if (len > 15 && !strncasecmp(p, "mcp-session-id:", 15))
        header_value(p, len, a->session, sizeof a->session);
    return len;
}

/* POSTs msg; *status the HTTP status; a the answer (free its body). */
static int http_post(mcp_server *s, const json_t *msg, long *status, http_answer *a, char *err, size_t errlen)
{
    char *body = json_dumps(msg, JSON_COMPACT);
    if (!body)
        return -1;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    char line[320];
    if (s->session[0]) {
        snprintf(line, sizeof line, "Mcp-Session-Id: %s", s->session);
        h = curl_slist_append(h, line);
    }
    if (s->initialized)
        h = curl_slist_append(h, "MCP-Protocol-Version: " MCP_PROTOCOL_VERSION);
    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hutch-mcp");
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(h);
    free(body);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", s->name, curl_easy_strerror(cc));
        return -1;
    }
    return 0;
}

/* The message with id in an SSE body (data: lines of each event joined). NEW or NULL. */
static json_t *sse_find(const char *body, int id)
{
    strbuf data = {0};
    json_t *found = NULL;
    const char *p = body;
    while (p && *p && !found) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0) { /* end of an event */
            if (data.len) {
                json_t *m = json_loadb(data.p, data.len, 0, NULL);
                if (json_integer_value(json_object_get(m, "id")) == id &&
                    (json_object_get(m, "result") || json_object_get(m, "error")))
                    found = m;
                else
                    json_decref(m);
            }
            strbuf_free(&data);
        } else if (n >= 5 && !strncmp(p, "data:", 5)) {
            const char *v = p + 5;
            if (*v == ' ')
                v++;
            if (data.len)
                strbuf_puts(&data, "\n");
            strbuf_add(&data, v, (size_t)(p + n - v));
        }
        p = eol ? eol + 1 : NULL;
    }
    if (!found && data.len) { /* a last event without its blank line */
        json_t *m = json_loadb(data.p, data.len, 0, NULL);
        if (json_integer_value(json_object_get(m, "id")) == id)
            found = m;
        else
            json_decref(m);
    }
    strbuf_free(&data);
    return found;
}

/* --- JSON-RPC --- */

static int notify(mcp_server *s, const char *method)
{
    json_t *m = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
    int rc = -1;
    if (!s->http) {
        rc = stdio_send(s, m);
    } else {
        http_answer a = {0};
        long status;
        char err[256];
        rc = http_post(s, m, &status, &a, err, sizeof err) == 0 && status >= 200 && status < 300 ? 0 : -1;
        strbuf_free(&a.body);
    }
    json_decref(m);
    return rc;
}

/* Sends a request and returns its result (NEW) or NULL with err. */
static json_t *request(mcp_server *s, const char *method, json_t *params /* STOLEN */, char *err, size_t errlen)
{
    int id = ++s->next_id;
    json_t *m = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method", method, "params",
                          params ? params : json_object());
    json_t *answer = NULL;
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!s->http) {
        if (stdio_send(s, m) != 0) {
            snprintf(err, errlen, "%s: the server's stdin is closed", s->name);
        } else {
            int64_t deadline = mono_ms() + s->timeout_ms;
            for (;;) {
                char *line = stdio_line(s, deadline);
                if (!line) {
                    snprintf(err, errlen, "%s: no answer to %s within %ld ms", s->name, method, s->timeout_ms);
                    break;
                }
                json_t *in = json_loads(line, 0, NULL);
                free(line);
                json_t *in_id = json_object_get(in, "id");
                const char *in_method = json_string_value(json_object_get(in, "method"));
                if (in_method && in_id) { /* a request from the server: only ping is served */
                    json_t *r = !strcmp(in_method, "ping")
                                    ? json_pack("{s:s, s:O, s:{}}", "jsonrpc", "2.0", "id", in_id, "result")
                                    : json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", in_id, "error",
                                                "code", -32601, "message", "not supported by this client");
                    stdio_send(s, r);
                    json_decref(r);
                } else if (json_integer_value(in_id) == id && !in_method) {
                    answer = in;
                    break;
                }
                json_decref(in);
            }
        }
    } else {
        http_answer a = {0};
        long status = 0;
        if (http_post(s, m, &status, &a, err, errlen) == 0) {
            if (status < 200 || status > 299)
                snprintf(err, errlen, "%s: HTTP %ld to %s", s->name, status, method);
            else if (!strncasecmp(a.content_type, "text/event-stream", 17))
                answer = sse_find(a.body.p ? a.body.p : "", id);
            else
                answer = json_loadb(a.body.p ? a.body.p : "", a.body.len, 0, NULL);
            if (a.session[0])
                snprintf(s->session, sizeof s->session, "%s", a.session);
            if (!answer && status >= 200 && status <= 299)
                snprintf(err, errlen, "%s: no JSON-RPC answer to %s", s->name, method);
        }
        strbuf_free(&a.body);
    }
    json_decref(m);
    if (!answer)
        return NULL;
    json_t *e = json_object_get(answer, "error");
    json_t *result = json_object_get(answer, "result");
    if (e || !result) {
        snprintf(err, errlen, "%s: %s failed: %s (code %lld)", s->name, method,
                 json_string_value(json_object_get(e, "message")) ?: "no result",
                 (long long)json_integer_value(json_object_get(e, "code")));
        json_decref(answer);
        return NULL;
    }
    json_incref(result);
    json_decref(answer);
    return result;
}

mcp_server *mcp_server_open(const char *name, const char *spec, long timeout_ms, char *err, size_t errlen)
{
    mcp_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->name = strdup(name);
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    s->tools = json_array();
    s->to_child = s->from_child = -1;
    s->http = !strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8);
    if (s->http) {
        s->url = strdup(spec);
        s->curl = curl_easy_init();
        if (!s->curl) {
            snprintf(err, errlen, "%s: curl_easy_init failed", name);
            goto fail;
        }
    } else if (spawn(s, spec, err, errlen) != 0) {
        goto fail;
    }
    json_t *init = request(s, "initialize",
                           json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", MCP_PROTOCOL_VERSION,
                                     "capabilities", "clientInfo", "name", "hutch", "version", "0.1.0"),
                           err, errlen);
    if (!init)
        goto fail;
    json_decref(init);
    s->initialized = true;
    notify(s, "notifications/initialized");
    const char *cursor = NULL;
    char *cursor_copy = NULL;
    for (int page = 0; page < MCP_MAX_PAGES; page++) {
        json_t *params = cursor ? json_pack("{s:s}", "cursor", cursor) : json_object();
        json_t *r = request(s, "tools/list", params, err, errlen);
        if (!r) {
            free(cursor_copy);
            goto fail;
        }
        json_array_extend(s->tools, json_object_get(r, "tools"));
        const char *next = json_string_value(json_object_get(r, "nextCursor"));
        free(cursor_copy);
        cursor_copy = next && *next ? strdup(next) : NULL;
        cursor = cursor_copy;
        json_decref(r);
        if (!cursor)
            break;
    }
    free(cursor_copy);
    return s;
fail:
    mcp_server_close(s);
    return NULL;
}

void mcp_server_close(mcp_server *s)
{
    if (!s)
        return;
    if (s->pid > 0) {
        close(s->to_child);
        int status;
        int64_t deadline = mono_ms() + 2000;
        bool gone = false;
        while (!gone && mono_ms() < deadline) {
            gone = waitpid(s->pid, &status, WNOHANG) == s->pid;
            if (!gone) {
                struct timespec ts = {0, 20000000};
                nanosleep(&ts, NULL);
            }
        }
        if (!gone) {
            kill(s->pid, SIGTERM);
            deadline = mono_ms() + 2000;
            while (!gone && mono_ms() < deadline) {
                gone = waitpid(s->pid, &status, WNOHANG) == s->pid;
                if (!gone) {
                    struct timespec ts = {0, 20000000};
                    nanosleep(&ts, NULL);
                }
            }
        }
        if (!gone) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
        }
        close(s->from_child);
    }
    if (s->curl && s->session[0]) { /* end the session */
        char line[320];
        snprintf(line, sizeof line, "Mcp-Session-Id: %s", s->session);
        struct curl_slist *h = curl_slist_append(NULL, line);
        curl_easy_reset(s->curl);
        curl_easy_setopt(s->curl, CURLOPT_URL, s->url);
        curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_perform(s->curl);
        curl_slist_free_all(h);
    }
    if (s->curl)
        curl_easy_cleanup(s->curl);
    strbuf_free(&s->inbuf);
    json_decref(s->tools);
    free(s->url);
    free(s->name);
    free(s);
}

const json_t *mcp_server_tools(const mcp_server *s) { return s->tools; }

int mcp_server_call(mcp_server *s, const char *tool, const json_t *args, char **text, bool *is_error)
{
    char err[512];
    *is_error = false;
    json_t *r = request(s, "tools/call", json_pack("{s:s, s:O}", "name", tool, "arguments", args), err, sizeof err);
    if (!r) {
        *text = strdup(err);
        return -1;
    }
    strbuf b = {0};
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(r, "content"), i, c) {
        if (b.len)
            strbuf_puts(&b, "\n");
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type && !strcmp(type, "text")) {
            strbuf_puts(&b, json_string_value(json_object_get(c, "text")) ?: "");
        } else {
            char *j = json_dumps(c, JSON_COMPACT);
            strbuf_puts(&b, j ? j : "");
            free(j);
        }
    }
    if (!b.len && json_object_get(r, "structuredContent")) {
        char *j = json_dumps(json_object_get(r, "structuredContent"), JSON_COMPACT);
        strbuf_puts(&b, j ? j : "");
        free(j);
    }
    *is_error = json_is_true(json_object_get(r, "isError"));
    json_decref(r);
    *text = strbuf_take(&b);
    return *text ? 0 : -1;
}

/* --- the set --- */

typedef struct {
    mcp_server *server;
    char *tool; /* its name on the server */
} mcp_tool_ref;

static int run_mcp_tool(void *ctx, const llm_tool *self, const json_t *args, char **result)
{
    (void)ctx;
    const mcp_tool_ref *ref = self->data;
    bool is_error = false;
    int rc = mcp_server_call(ref->server, ref->tool, args, result, &is_error);
    return rc == 0 && !is_error ? 0 : -1;
}

/* A name the three APIs accept: [A-Za-z0-9_-], at most 64. */
static void tool_name(char *out, size_t len, const char *server, const char *tool)
{
    snprintf(out, len, "%s_%s", server, tool);
    for (char *p = out; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            *p = '_';
    if (strlen(out) > 64)
        out[64] = '\0';
}

static bool read_only(const char *list, const char *server, const char *name)
{
    char wild[160];
    snprintf(wild, sizeof wild, "%s_*", server);
    return list && (config_list_has(list, name) || config_list_has(list, wild));
}

int mcp_set_open(mcp_set *set, const char *servers, const char *ro, long timeout_ms, char *err, size_t errlen)
{
    memset(set, 0, sizeof *set);
    if (!servers || !*servers)
        return 0;
    char *copy = strdup(servers), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ";", &save); item && rc == 0; item = strtok_r(NULL, ";", &save)) {
        while (isspace((unsigned char)*item))
            item++;
        char *eq = strchr(item, '=');
        if (!*item)
            continue;
        if (!eq || eq == item) {
            snprintf(err, errlen, "HUTCH_MCP_SERVERS: \"%s\" is not name=URL or name=command", item);
            rc = -1;
            break;
        }
        *eq = '\0';
        mcp_server *s = mcp_server_open(item, eq + 1, timeout_ms, err, errlen);
        if (!s) {
            rc = -1;
            break;
        }
        mcp_server **ss = realloc(set->servers, (set->n_servers + 1) * sizeof *ss);
        if (!ss) {
            mcp_server_close(s);
            rc = -1;
            break;
        }
        set->servers = ss;
        set->servers[set->n_servers++] = s;
        size_t i;
        json_t *t;
        json_array_foreach (s->tools, i, t) {
            const char *tn = json_string_value(json_object_get(t, "name"));
            if (!tn)
                continue;
            llm_tool *tools = realloc(set->tools, (set->n_tools + 1) * sizeof *tools);
            mcp_tool_ref *ref = calloc(1, sizeof *ref);
            char name[80];
            tool_name(name, sizeof name, item, tn);
            if (tools)
                set->tools = tools;
            if (!tools || !ref) {
                free(ref);
                rc = -1;
                break;
            }
            ref->server = s;
            ref->tool = strdup(tn);
            json_t *schema = json_object_get(t, "inputSchema");
            set->tools[set->n_tools++] =
                (llm_tool){.name = strdup(name),
                           .description = strdup(json_string_value(json_object_get(t, "description")) ?: ""),
                           .parameters = schema ? json_dumps(schema, JSON_COMPACT) : strdup("{\"type\":\"object\"}"),
                           .cost = 6.25,
                           .risky = !read_only(ro, item, name),
                           .run = run_mcp_tool,
                           .data = ref};
        }
    }
    free(copy);
    if (rc != 0)
        mcp_set_close(set);
    return rc;
}

void mcp_set_close(mcp_set *set)
{
    for (size_t i = 0; i < set->n_tools; i++) {
        mcp_tool_ref *ref = set->tools[i].data;
        free(ref->tool);
        free(ref);
        free((char *)set->tools[i].name);
        free((char *)set->tools[i].description);
        free((char *)set->tools[i].parameters);
    }
    for (size_t i = 0; i < set->n_servers; i++)
        mcp_server_close(set->servers[i]);
    free(set->tools);
    free(set->servers);
    memset(set, 0, sizeof *set);
}
