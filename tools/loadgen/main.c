/* hutch-loadgen: an HTTP/1.1 keep-alive load generator for ingest's webhooks
 * (loopback only), used by `make bench` (scripts/bench.sh).
 *
 * It posts JSON bodies (a file: one document, or one per line) over many keep-alive
 * connections, one request in flight per connection, in one of two modes:
 *   --rate R   open loop: request k is due at start + k/R whatever the answers do;
 *              a due request waits for a free connection, and its latency counts
 *              from the time it was due, so queueing in ingest (or here) is
 *              measured instead of hidden (no coordinated omission);
 *   --rate 0   full speed: every connection sends its next request as soon as the
 *              answer to the last one is in (throughput).
 * Threads (--threads) each run an epoll loop over their share of the connections
 * and of the rate; nothing is shared between them until the end.
 *
 * Output: a JSON summary on stdout (requests, answers by status, errors, requests
 * left unanswered at the end, req/s over the measured time, latency percentiles of
 * the answers, the generator's own CPU seconds, to tell when it is the bottleneck) and, with --records FILE,
 * one line per 202: "<event_id>\t<unix time of the 202 in ns>\t<latency in ns>",
 * which the bench joins with Postgres (the notification rows) for the end-to-end
 * latency. A --warmup period runs before the measured --duration and is left out
 * of both.
 *
 * What must stay true: the time of a 202 is taken when its last byte was read,
 * before any bookkeeping; in open-loop mode a request's latency starts at its due
 * time, never at the time it was written. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESP_BUF 8192
#define MAX_STATUS 600
#define LAT_BUCKETS_PER_DECADE 200

typedef struct {
    const char *host;
    int port;
    const char *path;
    const char *token;
    int connections;
    int threads;
    double rate;
    double duration_s;
    double warmup_s;
    const char *body_file;
    const char *records;
} options;

typedef struct {
    char *data; /* the whole request: head and body */
    size_t len;
} request_text;

typedef struct {
    char event_id[40];
    int64_t t_answer_ns; /* CLOCK_REALTIME */
    int64_t latency_ns;
} record;

typedef struct worker worker;

typedef struct {
    worker *w;
    int fd;
    bool busy;          /* a request is in flight */
    bool connecting;
    bool in_idle;       /* on the worker's idle stack (open loop) */
    size_t sent;        /* bytes of the current request written */
    const request_text *req;
    int64_t t_due_ns;   /* CLOCK_MONOTONIC: when the request was due (open loop) or written */
    char buf[RESP_BUF + 1]; /* NUL-terminated after every read */
    size_t have;
} conn;

struct worker {
    const options *o;
    int index;
    int epfd;
    conn *conns;
    int nconns;
    conn **idle;         /* open loop: connections free for the next due request */
    int nidle;
    const request_text *reqs;
    size_t nreqs;
    size_t next_req;
    double rate;         /* this thread's share */
    int64_t t_start_ns, t_measure_ns, t_end_ns;
    int64_t scheduled;   /* open loop: requests made due so far */
    int64_t backlog;     /* due but not yet written (no free connection) */
    int64_t backlog_due_first; /* index of the oldest due request in the backlog */
    /* figures of the measured period */
    int64_t sent, answered, errors, reconnects;
    int64_t unanswered;  /* sent in the measured period, no answer by its end */
    int64_t by_status[MAX_STATUS];
    int64_t *lat_hist;   /* log-spaced buckets of latency */
    record *recs;
    size_t nrecs, caprecs;
};

static int64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, const char *detail)
{
    fprintf(stderr, "hutch-loadgen: ");
    fprintf(stderr, fmt, detail);
    fprintf(stderr, "\n");
    exit(2);
}

/* Latency histogram: bucket b holds [10^(b/N) µs, 10^((b+1)/N) µs), 1 µs .. 100 s. */
#define LAT_DECADES 8
#define LAT_BUCKETS (LAT_DECADES * LAT_BUCKETS_PER_DECADE + 1)
static int lat_bucket(int64_t ns)
{
    double us = (double)ns / 1000.0;
    if (us < 1.0)
        return 0;
    int b = (int)(log10(us) * LAT_BUCKETS_PER_DECADE);
    return b >= LAT_BUCKETS ? LAT_BUCKETS - 1 : b;
}
static double lat_bucket_ms(int b) { return pow(10.0, (b + 0.5) / LAT_BUCKETS_PER_DECADE) / 1000.0; }

/* ---- requests ------------------------------------------------------------ */

static request_text *load_requests(const options *o, size_t *n)
{
    FILE *f = fopen(o->body_file, "rb");
    if (!f)
        die("cannot open %s", o->body_file);
    char *text = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *t = realloc(text, cap);
            if (!t)
                die("out of memory%s", "");
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    text[len] = '\0';

    /* One document per non-empty line, unless the file is a single document
     * spread over several lines (it starts with '{' and does not parse as lines:
     * we take it whole when its first line does not end the object). */
    size_t lines = 0;
    for (char *p = text; *p; p++)
        if (*p == '\n')
            lines++;
    bool whole = true;
    {
        char *nl = strchr(text, '\n');
        if (nl) {
            char *e = nl;
            while (e > text && (e[-1] == '\r' || e[-1] == ' '))
                e--;
            whole = !(e > text && e[-1] == '}');
        }
    }
    request_text *reqs = calloc(lines + 2, sizeof *reqs);
    if (!reqs)
        die("out of memory%s", "");
    char auth[512] = "";
    if (o->token && *o->token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", o->token);
    size_t k = 0;
    char *p = text;
    while (*p) {
        char *end = whole ? p + strlen(p) : strchrnul(p, '\n');
        char *b = p, *e = end;
        while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
            e--;
        if (e > b) {
            size_t blen = (size_t)(e - b);
            char head[1024];
            int hl = snprintf(head, sizeof head,
                              "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                              "Content-Length: %zu\r\n%s\r\n",
                              o->path, o->host, o->port, blen, auth);
            reqs[k].len = (size_t)hl + blen;
            reqs[k].data = malloc(reqs[k].len);
            if (!reqs[k].data)
                die("out of memory%s", "");
            memcpy(reqs[k].data, head, (size_t)hl);
            memcpy(reqs[k].data + hl, b, blen);
            k++;
        }
        p = *end ? end + 1 : end;
    }
    free(text);
    if (k == 0)
        die("%s holds no request body", o->body_file);
    *n = k;
    return reqs;
}

/* ---- connections --------------------------------------------------------- */

static bool measuring(const worker *w, int64_t t) { return t >= w->t_measure_ns && t < w->t_end_ns; }

static bool conn_free(const conn *c) { return c->fd >= 0 && !c->busy && !c->connecting; }

static void idle_push(worker *w, conn *c)
{
    if (!c->in_idle && conn_free(c)) {
        c->in_idle = true;
        w->idle[w->nidle++] = c;
    }
}

static int conn_open(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->w->o->port)};
    if (inet_pton(AF_INET, c->w->o->host, &sa.sin_addr) != 1)
        die("--url: the host must be an IPv4 address (loopback), got %s", c->w->o->host);
    int rc = connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
    c->connecting = rc < 0 && errno == EINPROGRESS;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    if ((rc < 0 && !c->connecting) || epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->have = 0;
    c->buf[0] = '\0';
    c->busy = false;
    c->sent = 0;
    if (c->w->rate > 0)
        idle_push(c->w, c);
    return 0;
}


static void conn_fail(conn *c)
{
    worker *w = c->w;
    if (c->busy && measuring(w, c->t_due_ns))
        w->errors++;
    if (c->fd >= 0) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = false;
    w->reconnects++;
    conn_open(c);
}

static void conn_flush(conn *c)
{
    while (c->busy && c->sent < c->req->len && !c->connecting) {
        ssize_t n = write(c->fd, c->req->data + c->sent, c->req->len - c->sent);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return; /* EPOLLOUT (edge-triggered) will say when */
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            conn_fail(c);
            return;
        }
    }
}

static void conn_send(conn *c, int64_t t_due)
{
    worker *w = c->w;
    c->req = &w->reqs[w->next_req];
    w->next_req = (w->next_req + 1) % w->nreqs;
    c->busy = true;
    c->sent = 0;
    c->t_due_ns = t_due;
    if (measuring(w, t_due))
        w->sent++;
    conn_flush(c);
}

static void record_answer(worker *w, conn *c, int status, const char *body, size_t body_len, int64_t t_mono)
{
    if (!measuring(w, c->t_due_ns))
        return;
    int64_t lat = t_mono - c->t_due_ns;
    w->answered++;
    w->by_status[status > 0 && status < MAX_STATUS ? status : 0]++;
    w->lat_hist[lat_bucket(lat)]++;
    if (status != 202 || !w->o->records)
        return;
    if (w->nrecs == w->caprecs) {
        size_t cap = w->caprecs ? w->caprecs * 2 : 65536;
        record *r = realloc(w->recs, cap * sizeof *r);
        if (!r)
            die("out of memory%s", "");
        w->recs = r;
        w->caprecs = cap;
    }
    record *r = &w->recs[w->nrecs++];
    r->t_answer_ns = now_ns(CLOCK_REALTIME) - (now_ns(CLOCK_MONOTONIC) - t_mono);
    r->latency_ns = lat;
    r->event_id[0] = '\0';
    const char *k = memmem(body, body_len, "\"event_id\":\"", 12);
    if (k) {
        k += 12;
        size_t i = 0;
        while (k + i < body + body_len && k[i] != '"' && i < sizeof r->event_id - 1) {
            r->event_id[i] = k[i];
            i++;
        }
        r->event_id[i] = '\0';
    }
}

/* Parses as many complete answers as the buffer holds (one is in flight, so at
 * most one). Returns true when the connection is free for the next request. */
static bool conn_read(conn *c)
{
    for (;;) {
        if (c->have == RESP_BUF) {
            conn_fail(c); /* an answer this big is not ingest's */
            return false;
        }
        ssize_t n = read(c->fd, c->buf + c->have, RESP_BUF - c->have);
        if (n > 0) {
            c->have += (size_t)n;
            c->buf[c->have] = '\0';
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_fail(c); /* closed or broken */
        return false;
    }
    char *hend = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (!hend)
        return false;
    int64_t t = now_ns(CLOCK_MONOTONIC);
    size_t head_len = (size_t)(hend - c->buf) + 4;
    int status = 0;
    if (c->have < 12 || sscanf(c->buf, "HTTP/1.%*c %d", &status) != 1) {
        conn_fail(c);
        return false;
    }
    size_t clen = 0;
    bool close_after = false;
    for (char *line = memmem(c->buf, head_len, "\r\n", 2); line && line + 2 < hend;
         line = memmem(line + 2, (size_t)(hend - line), "\r\n", 2)) {
        char *l = line + 2;
        if (!strncasecmp(l, "Content-Length:", 15))
            clen = strtoul(l + 15, NULL, 10);
        else if (!strncasecmp(l, "Connection:", 11)) {
            char *eol = strstr(l, "\r\n"); /* the buffer is NUL-terminated, and the head ends in CRLF CRLF */
            char *close_tok = strcasestr(l, "close");
            close_after = close_tok && close_tok < eol;
        }
    }
    if (c->have < head_len + clen)
        return false;
    record_answer(c->w, c, status, c->buf + head_len, clen, t);
    size_t used = head_len + clen;
    memmove(c->buf, c->buf + used, c->have - used);
    c->have -= used;
    c->buf[c->have] = '\0';
    c->busy = false;
    if (close_after) {
        epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        c->w->reconnects++;
        conn_open(c);
        return !c->connecting;
    }
    return true;
}

/* ---- the loop ------------------------------------------------------------ */

/* Open loop: makes due what the clock says, writes as many as there are free
 * connections; the rest waits in the backlog (its latency already running). */
static void open_loop_dispatch(worker *w, int64_t t)
{
    int64_t due_total = (int64_t)((double)(t - w->t_start_ns) / 1e9 * w->rate);
    int64_t total_wanted = (int64_t)((double)(w->t_end_ns - w->t_start_ns) / 1e9 * w->rate);
    if (due_total > total_wanted)
        due_total = total_wanted;
    if (due_total > w->scheduled) {
        w->backlog += due_total - w->scheduled;
        w->scheduled = due_total;
    }
    while (w->backlog > 0 && w->nidle > 0) {
        conn *c = w->idle[--w->nidle];
        c->in_idle = false;
        if (!conn_free(c))
            continue; /* reconnecting: it comes back when connected */
        int64_t k = w->scheduled - w->backlog; /* the oldest due request */
        int64_t t_due = w->t_start_ns + (int64_t)((double)k * 1e9 / w->rate);
        w->backlog--;
        conn_send(c, t_due);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    bool open_loop = w->rate > 0;
    for (int i = 0; i < w->nconns; i++) {
        w->conns[i].w = w;
        if (conn_open(&w->conns[i]) < 0)
            die("cannot connect to %s", w->o->host);
    }
    struct epoll_event evs[256];
    for (;;) {
        int64_t t = now_ns(CLOCK_MONOTONIC);
        if (t >= w->t_end_ns)
            break;
        /* Sleep until the next request is due (to the microsecond: the latency of
         * the open loop starts at the due time), or an answer comes. A backlog is
         * served when a connection frees up, which epoll reports. */
        int64_t wait_ns = 100000000LL;
        if (open_loop) {
            open_loop_dispatch(w, t);
            int64_t next_due = w->t_start_ns + (int64_t)((double)(w->scheduled + 1) * 1e9 / w->rate);
            wait_ns = next_due - now_ns(CLOCK_MONOTONIC);
            wait_ns = wait_ns < 0 ? 0 : wait_ns > 100000000LL ? 100000000LL : wait_ns;
        }
        struct timespec timeout = {wait_ns / 1000000000LL, wait_ns % 1000000000LL};
        int n = epoll_pwait2(w->epfd, evs, 256, &timeout, NULL);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN)) {
                conn_fail(c);
                continue;
            }
            if (c->connecting && (evs[i].events & EPOLLOUT)) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) {
                    conn_fail(c);
                    continue;
                }
                c->connecting = false;
                if (open_loop)
                    idle_push(w, c);
            }
            if (evs[i].events & EPOLLOUT)
                conn_flush(c);
            if (c->fd >= 0 && (evs[i].events & EPOLLIN) && c->busy) {
                if (conn_read(c) && c->fd >= 0) {
                    if (open_loop)
                        idle_push(w, c);
                    else
                        conn_send(c, now_ns(CLOCK_MONOTONIC));
                }
            } else if (c->fd >= 0 && (evs[i].events & EPOLLIN)) {
                conn_read(c); /* an unexpected close, most likely */
            }
        }
        if (!open_loop) {
            for (int i = 0; i < w->nconns; i++) {
                conn *c = &w->conns[i];
                if (c->fd >= 0 && !c->busy && !c->connecting)
                    conn_send(c, now_ns(CLOCK_MONOTONIC));
            }
        }
    }
    /* Requests still without an answer at the end of the measured period (in open
     * loop also those due but never written): reported apart from errors. */
    for (int i = 0; i < w->nconns; i++) {
        conn *c = &w->conns[i];
        if (c->busy && measuring(w, c->t_due_ns))
            w->unanswered++;
        if (c->fd >= 0)
            close(c->fd);
    }
    if (open_loop) {
        /* Requests that fell due while this thread was not running at the very end
         * were never made due by open_loop_dispatch: they join the backlog. */
        int64_t total_wanted = (int64_t)((double)(w->t_end_ns - w->t_start_ns) / 1e9 * w->rate);
        if (total_wanted > w->scheduled) {
            w->backlog += total_wanted - w->scheduled;
            w->scheduled = total_wanted;
        }
        /* the backlog's requests due in the measured period */
        int64_t k_measure = (int64_t)ceil((double)(w->t_measure_ns - w->t_start_ns) / 1e9 * w->rate);
        int64_t first = w->scheduled - w->backlog;
        int64_t from = first > k_measure ? first : k_measure;
        if (from < w->scheduled)
            w->unanswered += w->scheduled - from;
    }
    return NULL;
}

/* ---- main ---------------------------------------------------------------- */

static void parse_url(const char *url, options *o)
{
    static char host[256];
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        die("--url must start with http:// (got %s)", url);
    p += 7;
    const char *colon = strchr(p, ':'), *slash = strchr(p, '/');
    if (!slash)
        slash = p + strlen(p);
    const char *hend = colon && colon < slash ? colon : slash;
    if ((size_t)(hend - p) >= sizeof host)
        die("--url: host too long%s", "");
    memcpy(host, p, (size_t)(hend - p));
    host[hend - p] = '\0';
    o->host = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    o->port = colon && colon < slash ? atoi(colon + 1) : 80;
    o->path = *slash ? slash : "/";
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hutch-loadgen --url http://127.0.0.1:PORT/hooks/alert/raw/SCHEMA --body FILE [options]\n"
            "  --body FILE         request bodies: one JSON document, or one per line (cycled)\n"
            "  --connections N     keep-alive connections (default 64)\n"
            "  --threads N         epoll threads sharing the connections and the rate (default 1)\n"
            "  --rate R            open loop at R requests/s (latency); 0 = full speed (default 0)\n"
            "  --duration S        measured seconds (default 10)\n"
            "  --warmup S          seconds run before the measured period (default 1)\n"
            "  --token T           Authorization: Bearer T\n"
            "  --records FILE      per 202: event_id, unix time of the 202 (ns), latency (ns)\n"
            "Prints a JSON summary on stdout.\n");
}

int main(int argc, char **argv)
{
    options o = {.connections = 64, .threads = 1, .rate = 0, .duration_s = 10, .warmup_s = 1};
    const char *url = NULL;
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},        {"body", required_argument, NULL, 'b'},
        {"connections", required_argument, NULL, 'c'}, {"threads", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'r'},       {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},     {"token", required_argument, NULL, 'k'},
        {"records", required_argument, NULL, 'o'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "u:b:c:t:r:d:w:k:o:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u': url = optarg; break;
        case 'b': o.body_file = optarg; break;
        case 'c': o.connections = atoi(optarg); break;
        case 't': o.threads = atoi(optarg); break;
        case 'r': o.rate = atof(optarg); break;
        case 'd': o.duration_s = atof(optarg); break;
        case 'w': o.warmup_s = atof(optarg); break;
        case 'k': o.token = optarg; break;
        case 'o': o.records = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!url || !o.body_file) {
        usage(stderr);
        return 2;
    }
    parse_url(url, &o);
    if (o.connections < 1 || o.threads < 1 || o.threads > o.connections || o.rate < 0 || o.duration_s <= 0 ||
        o.warmup_s < 0)
        die("bad --connections/--threads/--rate/--duration/--warmup%s", "");

    size_t nreqs = 0;
    request_text *reqs = load_requests(&o, &nreqs);
    worker *ws = calloc((size_t)o.threads, sizeof *ws);
    pthread_t *tids = calloc((size_t)o.threads, sizeof *tids);
    if (!ws || !tids)
        die("out of memory%s", "");
    int64_t t0 = now_ns(CLOCK_MONOTONIC) + 100000000LL; /* connections first */
    for (int i = 0; i < o.threads; i++) {
        worker *w = &ws[i];
        w->o = &o;
        w->index = i;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->nconns = o.connections / o.threads + (i < o.connections % o.threads);
        w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
        w->lat_hist = calloc(LAT_BUCKETS, sizeof *w->lat_hist);
        w->idle = calloc((size_t)w->nconns, sizeof *w->idle);
        if (w->epfd < 0 || !w->conns || !w->lat_hist || !w->idle)
            die("out of memory%s", "");
        w->reqs = reqs;
        w->nreqs = nreqs;
        w->next_req = (size_t)i * nreqs / (size_t)o.threads;
        w->rate = o.rate / o.threads;
        w->t_start_ns = t0;
        w->t_measure_ns = t0 + (int64_t)(o.warmup_s * 1e9);
        w->t_end_ns = w->t_measure_ns + (int64_t)(o.duration_s * 1e9);
        if (pthread_create(&tids[i], NULL, worker_main, w) != 0)
            die("cannot start a thread%s", "");
    }
    for (int i = 0; i < o.threads; i++)
        pthread_join(tids[i], NULL);

    int64_t sent = 0, answered = 0, errors = 0, reconnects = 0, unanswered = 0, by_status[MAX_STATUS] = {0};
    int64_t *hist = calloc(LAT_BUCKETS, sizeof *hist);
    if (!hist)
        die("out of memory%s", "");
    for (int i = 0; i < o.threads; i++) {
        sent += ws[i].sent;
        answered += ws[i].answered;
        errors += ws[i].errors;
        reconnects += ws[i].reconnects;
        unanswered += ws[i].unanswered;
        for (int s = 0; s < MAX_STATUS; s++)
            by_status[s] += ws[i].by_status[s];
        for (int b = 0; b < LAT_BUCKETS; b++)
            hist[b] += ws[i].lat_hist[b];
    }
    if (o.records) {
        FILE *f = fopen(o.records, "w");
        if (!f)
            die("cannot write %s", o.records);
        for (int i = 0; i < o.threads; i++)
            for (size_t k = 0; k < ws[i].nrecs; k++)
                fprintf(f, "%s\t%" PRId64 "\t%" PRId64 "\n", ws[i].recs[k].event_id, ws[i].recs[k].t_answer_ns,
                        ws[i].recs[k].latency_ns);
        if (fclose(f) != 0)
            die("cannot write %s", o.records);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                   ru.ru_stime.tv_usec / 1e6;
    double q[] = {50, 90, 99, 99.9};
    double qv[4] = {0};
    int64_t seen = 0;
    int qi = 0;
    for (int b = 0; b < LAT_BUCKETS && qi < 4; b++) {
        seen += hist[b];
        while (qi < 4 && answered > 0 && (double)seen >= q[qi] / 100.0 * (double)answered)
            qv[qi++] = lat_bucket_ms(b);
    }
    printf("{\"mode\":\"%s\",\"rate\":%.0f,\"connections\":%d,\"threads\":%d,\"duration_s\":%.1f,\"bodies\":%zu,"
           "\"sent\":%" PRId64 ",\"answered\":%" PRId64 ",\"accepted\":%" PRId64 ",\"unavailable\":%" PRId64
           ",\"errors\":%" PRId64 ",\"unanswered_at_end\":%" PRId64 ",\"reconnects\":%" PRId64
           ",\"answers_per_s\":%.1f,\"accepted_per_s\":%.1f,\"loadgen_cpu_s\":%.2f,"
           "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f},\"status\":{",
           o.rate > 0 ? "open-loop" : "full-speed", o.rate, o.connections, o.threads, o.duration_s, nreqs, sent,
           answered, by_status[202], by_status[503], errors, unanswered, reconnects, (double)answered / o.duration_s,
           (double)by_status[202] / o.duration_s, cpu_s, qv[0], qv[1], qv[2], qv[3]);
    bool first = true;
    for (int s = 0; s < MAX_STATUS; s++) {
        if (by_status[s]) {
            printf("%s\"%d\":%" PRId64, first ? "" : ",", s, by_status[s]);
            first = false;
        }
    }
    printf("}}\n");
    for (int i = 0; i < o.threads; i++) {
        close(ws[i].epfd);
        free(ws[i].conns);
        free(ws[i].lat_hist);
        free(ws[i].idle);
        free(ws[i].recs);
    }
    for (size_t i = 0; i < nreqs; i++)
        free(reqs[i].data);
    free(reqs);
    free(ws);
    free(tids);
    free(hist);
    return 0;
}
