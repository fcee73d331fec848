/* The triage and enrich policies in the agent's batch (triage_batch.h). */
#include "services/agent/triage_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/severity.h"
#include "services/agent/triage_store.h"

#define NO_MODEL_REASON "no model configured (HUTCH_LLM_PROVIDER=none)"

bool triage_step_active(const triage_step *s)
{
    return s && (triage_policy_has_triage(s->pol) || triage_policy_has_enrich(s->pol));
}

static const Hutch__V1__Alert *alert_of(const consumer_item *it)
{
    return !it->dead && it->value && it->value->descriptor == &hutch__v1__alert__descriptor &&
                   ids_is_uuid(((const Hutch__V1__Alert *)it->value)->ticket_id)
               ? (const Hutch__V1__Alert *)it->value
               : NULL;
}

/* An alert back from the enrich runner: its results and skipped tasks. */
static void read_enriched(const Hutch__V1__Alert *a, triage_outcome *o)
{
    json_t *doc = json_loads(a->triage_enrich_json, 0, NULL);
    json_t *r = json_object_get(doc, "results"), *s = json_object_get(doc, "skipped");
    o->enrich = json_is_array(r) ? json_incref(r) : json_array();
    o->skipped = json_is_array(s) ? json_incref(s) : json_array();
    json_decref(doc);
}

int triage_step_decide(const triage_step *s, pg *db, consumer_item **items, size_t n, triage_outcome *out)
{
    if (!triage_step_active(s))
        return PG_OK;
    const Hutch__V1__Alert **alerts = calloc(n ? n : 1, sizeof *alerts);
    char **payloads = calloc(n ? n : 1, sizeof *payloads);
    int rc = alerts && payloads ? PG_OK : PG_RETRY;
    for (size_t i = 0; rc == PG_OK && i < n; i++)
        alerts[i] = alert_of(items[i]);
    if (rc == PG_OK)
        rc = triage_store_payloads(db, (const Hutch__V1__Alert *const *)alerts, n, payloads);
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        const Hutch__V1__Alert *a = alerts[i];
        if (!a)
            continue;
        consumer_item *it = items[i];
        triage_outcome *o = &out[i];
        json_t *alert = triage_alert_object(a, payloads[i]);
        if (!alert) {
            rc = PG_RETRY;
            break;
        }
        char err[1024] = "";
        int prc = 0;
        if (a->triage_enrich_json && *a->triage_enrich_json) {
            read_enriched(a, o);
        } else {
            prc = triage_enrich_tasks(s->pol, alert, &o->tasks, err, sizeof err);
            if (prc == 0 && json_array_size(o->tasks) > 0 && s->model) {
                o->waiting = true;
                char count[16];
                snprintf(count, sizeof count, "%zu", json_array_size(o->tasks));
                consumer_item_log(LOG_LEVEL_INFO, it, "triage_waits_for_enrich", "alert_id", a->alert_id, "ticket_id",
                                  a->ticket_id, "tasks", count, NULL);
                json_decref(alert);
                continue;
            }
            o->enrich = json_array();
            o->skipped = json_array();
            size_t k;
            json_t *t;
            json_array_foreach (o->tasks, k, t) {
                json_array_append_new(
                    o->skipped, json_pack("{s:O, s:s}", "id", json_object_get(t, "id"), "reason", NO_MODEL_REASON));
                consumer_item_log(LOG_LEVEL_INFO, it, "enrich_task_skipped", "alert_id", a->alert_id, "task",
                                  json_string_value(json_object_get(t, "id")), "reason", NO_MODEL_REASON, NULL);
            }
        }
        if (prc == 0)
            prc = triage_decide(s->pol, alert, o->enrich, &o->d, err, sizeof err);
        json_decref(alert);
        if (prc == -1) {
            rc = PG_RETRY;
            break;
        }
        if (prc == -2) {
            consumer_item_dead(it, "%s", err);
            continue;
        }
        o->recorded = true;
        consumer_item_log(LOG_LEVEL_INFO, it, "alert_triage_decided", "alert_id", a->alert_id, "ticket_id",
                          a->ticket_id, "publish", triage_publish_name(o->d.publish), "page",
                          o->d.page ? "true" : "false", "policy",
                          o->d.decided ? triage_policy_source(s->pol) : "default", NULL);
    }
    for (size_t i = 0; payloads && i < n; i++)
        free(payloads[i]);
    free(payloads);
    free(alerts);
    return rc;
}

int triage_step_store(const triage_step *s, pg *db, consumer_item **items, size_t n, triage_outcome *out)
{
    if (!triage_step_active(s))
        return PG_OK;
    triage_record *recs = calloc(n ? n : 1, sizeof *recs);
    if (!recs)
        return PG_RETRY;
    size_t m = 0;
    int rc = PG_OK;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        const Hutch__V1__Alert *a = alert_of(items[i]);
        if (!a)
            continue;
        if (out[i].waiting) {
            rc = triage_enrich_queue(db, a->alert_id, a->ticket_id, items[i]->msg.value, items[i]->msg.value_len,
                                     out[i].tasks, s->enrich_wait_ms);
            continue;
        }
        if (!out[i].recorded)
            continue;
        recs[m++] = (triage_record){.alert_id = a->alert_id,
                                    .ticket_id = a->ticket_id,
                                    .d = &out[i].d,
                                    .policy = out[i].d.decided ? triage_policy_source(s->pol) : "",
                                    .enrich = out[i].enrich,
                                    .skipped = out[i].skipped};
        if (out[i].d.attr && !items[i]->redelivered)
            rc = triage_store_attr(db, a->alert_id, out[i].d.attr);
    }
    if (rc == PG_OK)
        rc = triage_store_record(db, recs, m);
    free(recs);
    return rc;
}

void triage_step_shape(const triage_outcome *o, agent_notify *note)
{
    if (!o->recorded)
        return;
    const triage_decision *d = &o->d;
    if (d->title)
        note->req.title = d->title;
    if (d->description)
        note->req.summary = d->description;
    if (d->channel)
        note->req.channel = d->channel;
    if (d->severity && severity_rank(d->severity) > severity_rank(note->req.severity))
        note->req.severity = d->severity;
    note->req.publish = (char *)triage_publish_name(d->publish);
    note->req.page = d->page;
}

/* A recorded decision as the apply step needs it (publish, and the output's strings). */
static void decision_from_record(const char *publish, const char *output, triage_decision *d)
{
    memset(d, 0, sizeof *d);
    d->publish = !strcmp(publish, "notice")    ? TRIAGE_PUBLISH_NOTICE
                 : !strcmp(publish, "discard") ? TRIAGE_PUBLISH_DISCARD
                                               : TRIAGE_PUBLISH_ALERT;
    json_t *o = json_loads(output, 0, NULL);
    const char *keys[] = {"title", "description", "severity"};
    char **dst[] = {&d->title, &d->description, &d->severity};
    for (int k = 0; k < 3; k++) {
        const char *v = json_string_value(json_object_get(o, keys[k]));
        if (v && *v)
            *dst[k] = strdup(v);
    }
    d->output = o;
}

int triage_step_apply(const triage_step *s, pg *db, consumer_item **items, size_t n)
{
    if (!triage_policy_has_triage(s->pol))
        return PG_OK;
    pg_array ids;
    pg_array_init(&ids);
    for (size_t i = 0; i < n; i++) {
        const Hutch__V1__Alert *a = alert_of(items[i]);
        if (a)
            pg_array_add(&ids, a->alert_id);
    }
    if (ids.n == 0) {
        pg_array_free(&ids);
        return PG_OK;
    }
    const char *p[] = {pg_array_text(&ids)};
    PGresult *res = NULL;
    int rc = p[0] ? pg_exec(db, &res,
                            "SELECT alert_id::text, publish, coalesce(output, 'null')::text FROM triage_decisions"
                            " WHERE alert_id = ANY($1::uuid[]) AND (publish <> 'alert'"
                            " OR output ?| array['title', 'description', 'severity'])",
                            1, p)
                  : PG_RETRY;
    for (int r = 0; rc == PG_OK && r < PQntuples(res); r++) {
        const char *alert_id = PQgetvalue(res, r, 0);
        for (size_t i = 0; rc == PG_OK && i < n; i++) {
            const Hutch__V1__Alert *a = alert_of(items[i]);
            if (!a || strcasecmp(a->alert_id, alert_id))
                continue;
            triage_decision d;
            decision_from_record(PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), &d);
            rc = triage_store_apply(db, a->alert_id, a->ticket_id, a->new_ticket, &d);
            triage_decision_free(&d);
            break;
        }
    }
    PQclear(res);
    pg_array_free(&ids);
    return rc;
}

void triage_outcomes_free(triage_outcome *o, size_t n)
{
    for (size_t i = 0; o && i < n; i++) {
        triage_decision_free(&o[i].d);
        json_decref(o[i].enrich);
        json_decref(o[i].skipped);
        json_decref(o[i].tasks);
    }
}
