/* bind: which open ticket an alert joins, and what a storm ticket says about itself.
 * Pure functions over plain structs (no Kafka, no Postgres): store.c gathers the inputs
 * (the alert's actor keys and storm kind, the candidate tickets with the similarity of
 * their shapes to the alert's) and applies the decision.
 *
 * Actor keys: who or what an alert is about, compared exactly (never through the
 * embedding): "ip:<addr>", "user:<name>", "resource:<id>" (cloud instance, access key,
 * bucket, cluster, host agent), "container:<id>", taken from the alert's attributes
 * (bind_actor_keys, the table in bind.c) and its ipv4/ipv6 indicators. An alert with
 * none has one key, "fp:<fingerprint>" (schema + title), so alerts that say nothing of
 * who still group as before: same title, same ticket.
 *
 * Storm kinds: low-severity detections that come in hundreds from one actor (port
 * probes, failed logins). A storm alert binds by its actor alone (the scanner's IP,
 * not the hosts it probed, so two scanners of one host stay apart), counts its target
 * (the host probed, the account tried), and its ticket's title and severity follow the
 * count and the spread (bind_storm_kinds, the documented table in bind.c).
 *
 * The rules of cluster_bind_decide are written at its definition (bind.c). */
#ifndef HUTCH_CLUSTER_BIND_H
#define HUTCH_CLUSTER_BIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/msg.h"

#define BIND_DEFAULT_THRESHOLD 0.9
#define BIND_MAX_KEYS 16
#define BIND_KEY_LEN 160

/* What a storm kind is and how its ticket reads. All strings static. */
typedef struct {
    const char *name;        /* "port_scan", "ssh_brute_force" */
    const char *title_fmt;   /* printf: actor, count, spread */
    const char *count_noun;  /* for docs: "probes" */
    const char *spread_noun; /* "hosts" */
    /* severity by count OR spread reaching the level's bound (0 = no bound) */
    int64_t medium_count, medium_spread;
    int64_t high_count, high_spread;
    int64_t critical_count, critical_spread;
    const char *notify_at; /* the storm notifies once, when its severity first reaches this */
} bind_storm_kind;

extern const bind_storm_kind bind_storm_kinds[];
extern const size_t bind_storm_kinds_count;

/* What binding needs of one alert. */
typedef struct {
    char keys[BIND_MAX_KEYS][BIND_KEY_LEN]; /* actor keys, distinct, in attribute order */
    size_t n_keys;
    const bind_storm_kind *storm;    /* NULL: not a storm alert */
    char storm_target[BIND_KEY_LEN]; /* the storm's target ("" if the alert names none) */
} bind_alert;

/* Fills out from a (borrowed) and its fingerprint. A storm alert's keys are its actor
 * key only (its first source IP); it is a storm alert only when it has one. */
void bind_alert_read(const Hutch__V1__Alert *a, const char *fingerprint, bind_alert *out);

/* The storm kind of an alert, or NULL (the classification table is in bind.c). */
const bind_storm_kind *bind_storm_of(const Hutch__V1__Alert *a);

/* A candidate ticket: strings BORROWED. */
typedef struct {
    const char *ticket_id;
    const char *namespace_; /* "" = none */
    const char *status;     /* open | resolved | archived (legacy: acknowledged = open) */
    int64_t last_alert_ms;
    const char *const *keys; /* the ticket's actor keys (those the batch asked about) */
    size_t n_keys;
    const char *storm; /* storm kind name of the ticket, "" = not a storm */
    double score;      /* best dot product of the alert's vector and the ticket's shapes; <0 = unknown */
} bind_candidate;

typedef struct {
    double threshold;  /* HUTCH_CLUSTER_BIND_THRESHOLD */
    int64_t window_ms; /* HUTCH_CLUSTER_WINDOW */
    int64_t now_ms;
} bind_params;

typedef enum {
    BIND_OPEN = 0,
    BIND_BY_NAMESPACE,
    BIND_BY_STORM, /* same storm kind and actor */
    BIND_BY_SHAPE, /* similar shape and a shared actor */
} bind_reason;

typedef struct {
    bind_reason reason; /* BIND_OPEN: no candidate takes it */
    int index;          /* into the candidates; -1 with BIND_OPEN */
} bind_decision;

/* The ticket an alert (ns: its namespace, "" = none) joins among n candidates (any
 * order), or BIND_OPEN. Pure. */
bind_decision cluster_bind_decide(const char *ns, const bind_alert *a, const bind_candidate *c, size_t n,
                                  const bind_params *p);
const char *bind_reason_name(bind_reason r);

/* A storm ticket's severity for count alerts over spread distinct targets. Static. */
const char *bind_storm_severity(const bind_storm_kind *k, int64_t count, int64_t spread);
/* The storm ticket's title into out. */
void bind_storm_title(const bind_storm_kind *k, const char *actor, int64_t count, int64_t spread, char *out,
                      size_t outlen);
/* Which of a storm ticket's fresh alerts notifies: counts[i] and spreads[i] are the
 * ticket's alert count and distinct targets after the i-th of them (in batch order).
 * The first i whose severity (bind_storm_severity(k, counts[i], spreads[i])) reaches
 * k->notify_at, or -1 (none does; or the ticket notified before: already). Pure. */
int bind_storm_notify_index(const bind_storm_kind *k, const int64_t *counts, const int64_t *spreads, size_t n,
                            bool already);

/* The storm kind named name, or NULL. */
const bind_storm_kind *bind_storm_named(const char *name);

#endif
