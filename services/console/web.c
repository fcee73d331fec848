/* The console's static files (services/console/web): GET /, /app.js, ... The
 * pages' own paths (/tickets, /tickets/ID, /alerts/ID, /events, /playground, /dlq,
 * /chat, /login) (and /tickets/ID/chat) answer index.html, whose script draws the page from the path.
 * Paths are checked before use: [A-Za-z0-9._/-] only, no "..", no hidden files. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "services/console/console.h"
#include "services/console/guard.h"

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".html"))
        return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js"))
        return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css"))
        return "text/css; charset=utf-8";
    if (!strcmp(dot, ".svg"))
        return "image/svg+xml";
    if (!strcmp(dot, ".png"))
        return "image/png";
    if (!strcmp(dot, ".ico"))
        return "image/x-icon";
    return "application/octet-stream";
}

void web_serve(console *c, struct evhttp_request *req)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
        http_reply_error(req, 405, "GET only");
        return;
    }
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path || !guard_web_path(path)) {
        http_reply_error(req, 404, "not found");
        return;
    }
    /* a path without an extension is a page of the single-page app */
    const char *last = strrchr(path, '/');
    const char *file = strchr(last, '.') ? path : "/index.html";
    char full[1024];
    snprintf(full, sizeof full, "%s%s", c->cfg->web_dir, file);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        http_reply_error(req, 404, "not found");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add_file(b, fd, 0, st.st_size) != 0) { /* takes fd */
        if (b)
            evbuffer_free(b);
        else
            close(fd);
        http_reply_error(req, 500, "cannot read the file");
        return;
    }
    console_headers(req, false);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type(file));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}
