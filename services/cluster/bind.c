/* bind: actor keys, storm kinds and the binding rule (see bind.h).
 *
 * Binding rules (cluster_bind_decide). A candidate ticket can take the alert when
 *   1. it is open (not resolved, not archived) and its last alert is inside the window
 *      (last_alert_ms >= now_ms - window_ms; HUTCH_CLUSTER_WINDOW, 1 h, so seed 004's
 *      "the same IP again within 30 minutes joins the open ticket" holds), and
 *   2. one of:
 *      a. namespace: the alert and the ticket have the same non-empty namespace (the
 *         operator's explicit grouping, AlertChain's: it binds whatever the shapes);
 *      b. storm: the alert is a storm alert, the ticket is a storm ticket of the same
 *         kind, and they share the actor key (the scanner's IP);
 *      c. shape: the alert is not a storm alert, they share an actor key, and the
 *         similarity of the alert's shape to one of the ticket's shapes is at least
 *         the threshold (HUTCH_CLUSTER_BIND_THRESHOLD, Warren's 0.9) -- "same actor
 *         and same cause"; a similar alert about someone else opens its own ticket.
 * Among those: namespace before storm before shape, then the higher similarity, then
 * the most recent last alert, then the smaller ticket id, so the choice never depends on
 * the order the rows came in. None: the alert opens a ticket.
 *
 * Actor keys (bind_alert_read) come from the attributes the shipped policies set, by
 * key (table actor_attrs below); indicators are not used because they hold every
 * address of the payload (the probed host's private IP too), which would join what
 * the policy did not name as the actor. An alert with a container key is about that
 * container: its other keys are dropped (root in two containers is two incidents).
 * Users everyone has (root, admin, ...) are not actors.
 *
 * Storm kinds (bind_storm_kinds): how an alert is recognised, its actor and target
 * attributes, and its ticket's severity by count and spread (distinct targets): the
 * severity is the highest level whose count OR spread bound is reached, else low. The
 * ticket notifies once, when its severity first reaches notify_at.
 *
 *   kind             recognised by                               actor    target     medium       high
 *   port_scan        guardduty finding_type Recon:EC2/PortProbe*   remote_ip instance_id 100 or 5   1000 or 50
 *   ssh_brute_force  wazuh tags sshd + authentication_failed|       srcip    dstuser|     20 or 5    100 or 20
 *                    authentication_failures|invalid_login                  srcuser
 */
#include "services/cluster/bind.h"

#include "common/severity.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const bind_storm_kind bind_storm_kinds[] = {
    {"port_scan", "Port scan from %s: %" PRId64 " probes on %" PRId64 " hosts", "probes", "hosts", 100, 5, 1000, 50, 0,
     0, "medium"},
    {"ssh_brute_force", "SSH brute force from %s: %" PRId64 " failed logins, %" PRId64 " accounts", "failed logins",
     "accounts", 20, 5, 100, 20, 0, 0, "medium"},
};
const size_t bind_storm_kinds_count = sizeof bind_storm_kinds / sizeof bind_storm_kinds[0];

/* Attribute key -> actor key prefix. */
static const struct {
    const char *attr, *prefix;
} actor_attrs[] = {
    {"container_id", "container"}, {"remote_ip", "ip"},     {"src_ip", "ip"},         {"srcip", "ip"},
    {"source_ip", "ip"},           {"client_ip", "ip"},     {"caller_ip", "ip"},      {"user", "user"},
    {"srcuser", "user"},           {"dstuser", "user"},     {"user_name", "user"},    {"username", "user"},
    {"access_key_user", "user"},   {"k8s_user", "user"},    {"principal", "user"},    {"instance_id", "resource"},
    {"bucket", "resource"},        {"cluster", "resource"}, {"resource", "resource"}, {"agent", "resource"},
    {"hostname", "resource"},
};

static const char *const shared_users[] = {"root", "admin", "administrator", "system", "nobody", "<NA>", "unknown"};

static const char *attr_value(const Hutch__V1__Alert *a, const char *key)
{
    for (size_t i = 0; i < a->n_attributes; i++)
        if (a->attributes[i] && a->attributes[i]->key && !strcmp(a->attributes[i]->key, key) &&
            a->attributes[i]->value && *a->attributes[i]->value)
            return a->attributes[i]->value;
    return NULL;
}

static bool has_tag(const Hutch__V1__Alert *a, const char *tag)
{
    for (size_t i = 0; i < a->n_tags; i++)
        if (a->tags[i] && !strcmp(a->tags[i], tag))
            return true;
    return false;
}

static bool eq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

const bind_storm_kind *bind_storm_named(const char *name)
{
    for (size_t i = 0; name && i < bind_storm_kinds_count; i++)
        if (!strcmp(bind_storm_kinds[i].name, name))
            return &bind_storm_kinds[i];
    return NULL;
}

const bind_storm_kind *bind_storm_of(const Hutch__V1__Alert *a)
{
    const char *ft = attr_value(a, "finding_type");
    if (eq(a->schema, "guardduty") && ft && !strncmp(ft, "Recon:EC2/PortProbe", 19))
        return bind_storm_named("port_scan");
    if (eq(a->schema, "wazuh") && has_tag(a, "sshd") &&
        (has_tag(a, "authentication_failed") || has_tag(a, "authentication_failures") || has_tag(a, "invalid_login")))
        return bind_storm_named("ssh_brute_force");
    return NULL;
}

/* The storm's actor and target attributes, by kind. */
static const char *storm_actor(const bind_storm_kind *k, const Hutch__V1__Alert *a)
{
    if (!strcmp(k->name, "port_scan"))
        return attr_value(a, "remote_ip");
    const char *ip = attr_value(a, "srcip");
    return ip ? ip : attr_value(a, "src_ip");
}

static const char *storm_target(const bind_storm_kind *k, const Hutch__V1__Alert *a)
{
    if (!strcmp(k->name, "port_scan"))
        return attr_value(a, "instance_id");
    const char *u = attr_value(a, "dstuser");
    return u ? u : attr_value(a, "srcuser");
}

static void add_key(bind_alert *out, const char *prefix, const char *value)
{
    char key[BIND_KEY_LEN];
    snprintf(key, sizeof key, "%s:%s", prefix, value);
    for (size_t i = 0; i < out->n_keys; i++)
        if (!strcmp(out->keys[i], key))
            return;
    if (out->n_keys < BIND_MAX_KEYS)
        memcpy(out->keys[out->n_keys++], key, sizeof key);
}

void bind_alert_read(const Hutch__V1__Alert *a, const char *fingerprint, bind_alert *out)
{
    memset(out, 0, sizeof *out);
    const bind_storm_kind *k = bind_storm_of(a);
    const char *actor = k ? storm_actor(k, a) : NULL;
    if (k && actor) {
        out->storm = k;
        add_key(out, "ip", actor);
        const char *t = storm_target(k, a);
        snprintf(out->storm_target, sizeof out->storm_target, "%s", t ? t : "");
        return;
    }
    const char *container = attr_value(a, "container_id");
    if (container)
        add_key(out, "container", container);
    for (size_t i = 0; !container && i < a->n_attributes; i++) {
        const Hutch__V1__Attribute *at = a->attributes[i];
        if (!at || !at->key || !at->value || !*at->value)
            continue;
        for (size_t j = 0; j < sizeof actor_attrs / sizeof actor_attrs[0]; j++) {
            if (strcmp(at->key, actor_attrs[j].attr))
                continue;
            bool shared = false;
            for (size_t s = 0; !strcmp(actor_attrs[j].prefix, "user") && s < sizeof shared_users / sizeof *shared_users;
                 s++)
                shared = shared || !strcasecmp(at->value, shared_users[s]);
            if (!shared)
                add_key(out, actor_attrs[j].prefix, at->value);
        }
    }
    if (out->n_keys == 0)
        add_key(out, "fp", fingerprint ? fingerprint : "");
}

static bool open_status(const char *s) { return !s || !(strcmp(s, "resolved") == 0 || strcmp(s, "archived") == 0); }

static bool shares_key(const bind_alert *a, const bind_candidate *c)
{
    for (size_t i = 0; i < a->n_keys; i++)
        for (size_t j = 0; j < c->n_keys; j++)
            if (c->keys[j] && !strcmp(a->keys[i], c->keys[j]))
                return true;
    return false;
}

static int rank(bind_reason r)
{
    return r == BIND_BY_NAMESPACE ? 3 : r == BIND_BY_STORM ? 2 : r == BIND_BY_SHAPE ? 1 : 0;
}

/* >0 when candidate x (reason rx) is a better choice than y (ry). */
static int better(const bind_candidate *x, bind_reason rx, const bind_candidate *y, bind_reason ry)
{
    if (rank(rx) != rank(ry))
        return rank(rx) - rank(ry);
    if (x->score != y->score)
        return x->score > y->score ? 1 : -1;
    if (x->last_alert_ms != y->last_alert_ms)
        return x->last_alert_ms > y->last_alert_ms ? 1 : -1;
    return strcmp(y->ticket_id, x->ticket_id);
}

bind_decision cluster_bind_decide(const char *ns, const bind_alert *a, const bind_candidate *c, size_t n,
                                  const bind_params *p)
{
    bind_decision d = {BIND_OPEN, -1};
    for (size_t i = 0; i < n; i++) {
        const bind_candidate *t = &c[i];
        if (!t->ticket_id || !*t->ticket_id || !open_status(t->status) || t->last_alert_ms < p->now_ms - p->window_ms)
            continue;
        bind_reason r = BIND_OPEN;
        if (ns && *ns && t->namespace_ && !strcmp(ns, t->namespace_))
            r = BIND_BY_NAMESPACE;
        else if (shares_key(a, t)) {
            if (a->storm && t->storm && !strcmp(a->storm->name, t->storm))
                r = BIND_BY_STORM;
            else if (!a->storm && t->score >= p->threshold)
                r = BIND_BY_SHAPE;
        }
        if (r == BIND_OPEN)
            continue;
        if (d.index < 0 || better(t, r, &c[d.index], d.reason) > 0)
            d = (bind_decision){r, (int)i};
    }
    return d;
}

const char *bind_reason_name(bind_reason r)
{
    switch (r) {
    case BIND_BY_NAMESPACE: return "namespace";
    case BIND_BY_STORM: return "storm";
    case BIND_BY_SHAPE: return "shape";
    default: return "opened";
    }
}

const char *bind_storm_severity(const bind_storm_kind *k, int64_t count, int64_t spread)
{
    const struct {
        int64_t count, spread;
        const char *name;
    } levels[] = {{k->critical_count, k->critical_spread, "critical"},
                  {k->high_count, k->high_spread, "high"},
                  {k->medium_count, k->medium_spread, "medium"}};
    for (size_t i = 0; i < 3; i++)
        if ((levels[i].count > 0 && count >= levels[i].count) || (levels[i].spread > 0 && spread >= levels[i].spread))
            return levels[i].name;
    return "low";
}

int bind_storm_notify_index(const bind_storm_kind *k, const int64_t *counts, const int64_t *spreads, size_t n,
                            bool already)
{
    for (size_t i = 0; !already && i < n; i++)
        if (severity_rank(bind_storm_severity(k, counts[i], spreads[i])) >= severity_rank(k->notify_at))
            return (int)i;
    return -1;
}

void bind_storm_title(const bind_storm_kind *k, const char *actor, int64_t count, int64_t spread, char *out,
                      size_t outlen)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(out, outlen, k->title_fmt, actor, count, spread);
#pragma GCC diagnostic pop
}
