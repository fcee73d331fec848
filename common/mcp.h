/* An MCP (Model Context Protocol) client: the tools of configured MCP servers become
 * tools of the agent's loop (llm_loop.h), named "<server>_<tool>".
 *
 * Transports: stdio (the server is a child process started from a command line, no
 * shell; newline-delimited JSON-RPC on its stdin/stdout) and Streamable HTTP (a POST
 * per message with Accept: application/json, text/event-stream; the answer is one
 * JSON-RPC response or an SSE stream carrying it; Mcp-Session-Id echoed; after the
 * handshake MCP-Protocol-Version on every request). Handshake 2025-06-18: initialize,
 * notifications/initialized, then tools/list following nextCursor until the last page.
 *
 * HUTCH_MCP_SERVERS: "name=SPEC;name=SPEC" where SPEC is an http(s):// URL or a
 * command line (words split on spaces). HUTCH_MCP_READ_ONLY: comma list of prefixed
 * tool names ("assets_lookup_asset") or "server_*"; every other MCP tool is risky
 * (needs a person's approval before it runs). Tool failures (isError, JSON-RPC
 * errors, a dead server, a timeout) come back as error results for the model.
 *
 * Blocking calls with a timeout, on the thread that owns the set. */
#ifndef HUTCH_MCP_H
#define HUTCH_MCP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/config.h"
#include "common/llm_loop.h"

#define MCP_PROTOCOL_VERSION "2025-06-18"

/* The HUTCH_MCP_* settings (config_load(mcp_settings_table, ...), config_free). */
typedef struct {
    char *servers;   /* HUTCH_MCP_SERVERS */
    char *read_only; /* HUTCH_MCP_READ_ONLY */
    int64_t timeout_ms;
} mcp_settings;
extern const config_field mcp_settings_table[];

typedef struct mcp_server mcp_server;

/* Connects (spawns or reaches) one server, does the handshake and lists its tools.
 * name and spec BORROWED. NEW or NULL with err. */
mcp_server *mcp_server_open(const char *name, const char *spec, long timeout_ms, char *err, size_t errlen);
/* Closes stdin, waits, then SIGTERM, then SIGKILL (stdio); DELETEs the session (HTTP). */
void mcp_server_close(mcp_server *s);
/* The tools listed: NEW array of {name, description, inputSchema, annotations} (BORROWED
 * from s: do not decref). */
const json_t *mcp_server_tools(const mcp_server *s);
/* tools/call. 0 with *text NEW (the text contents joined; other content types as JSON)
 * and *is_error the server's isError; -1 with *text NEW (the protocol or transport
 * error) for the model. */
int mcp_server_call(mcp_server *s, const char *tool, const json_t *args, char **text, bool *is_error);

/* Every configured server and its tools as llm_tools. */
typedef struct {
    mcp_server **servers;
    size_t n_servers;
    llm_tool *tools; /* NEW array: name "<server>_<tool>", data = the tool's record */
    size_t n_tools;
} mcp_set;

/* Opens every server of `servers` (the HUTCH_MCP_SERVERS syntax; NULL/"" = none).
 * A server that cannot be opened is an error (err names it). 0 or -1. */
int mcp_set_open(mcp_set *set, const char *servers, const char *read_only, long timeout_ms, char *err, size_t errlen);
void mcp_set_close(mcp_set *set);

#endif
