/* Kafka topic names: the arrows of docs/ARCHITECTURE.md's pipeline, listed once.
 *
 * HUTCH_TOPICS is the one list: each X(IDENT, "name") line makes the constant IDENT
 * (a string, usable wherever a string literal was: static initializers, strcmp) and
 * an entry of hutch_topics[], the array of every topic that service.c creates at
 * start-up and the dev broker creates on its mock cluster. scripts/topics.py reads the
 * X(...) lines of this file, so keep one entry per line in that form. */
#ifndef HUTCH_TOPICS_H
#define HUTCH_TOPICS_H

#define HUTCH_TOPICS(X)                                                                              \
    X(TOPIC_INGEST_JSON, "hutch.ingest.json")           /* log routers publish plain JSON here */     \
    X(TOPIC_EVENTS_RAW, "hutch.events.raw")             /* RawEvent: ingest -> policy */              \
    X(TOPIC_ALERTS_ACCEPTED, "hutch.alerts.accepted")   /* Alert: policy -> enrich */                 \
    X(TOPIC_ALERTS_ENRICHED, "hutch.alerts.enriched")   /* Alert: enrich -> cluster */                \
    X(TOPIC_ALERTS_CLUSTERED, "hutch.alerts.clustered") /* Alert: cluster -> agent */                 \
    X(TOPIC_NOTIFY_REQUESTS, "hutch.notify.requests")   /* NotifyRequest: agent -> notify */          \
    X(TOPIC_TICKETS_EVENTS, "hutch.tickets.events")     /* TicketEvent: cluster/agent/notify -> any */ \
    X(TOPIC_AGENT_REQUESTS, "hutch.agent.requests")     /* AgentRequest: notify/hutchctl -> agent */  \
    X(TOPIC_SLACK_COMMANDS, "hutch.slack.commands")     /* SlackCommand: notify's HTTP -> notify */   \
    X(TOPIC_DLQ, "hutch.dlq")                           /* DeadLetter: poison messages */             \
    X(TOPIC_AGENT_TURNS, "hutch.agent.turns")           /* TicketEvent: agent -> console (chat turns) */

#define HUTCH_TOPIC_DECLARE(ident, name) extern const char ident[];
HUTCH_TOPICS(HUTCH_TOPIC_DECLARE)
#undef HUTCH_TOPIC_DECLARE

/* Every topic of HUTCH_TOPICS in order, then NULL (static, never freed). */
extern const char *const hutch_topics[];

/* Header naming the schema of a JSON message on TOPIC_INGEST_JSON. */
#define HEADER_SCHEMA "hutch-schema"

#endif
