/* Kafka topic names: the arrows of docs/ARCHITECTURE.md's pipeline. One place, so a newcomer
 * can grep where a message goes next. */
#ifndef HUTCH_TOPICS_H
#define HUTCH_TOPICS_H

#define TOPIC_INGEST_JSON     "hutch.ingest.json"      /* log routers publish plain JSON here */
#define TOPIC_EVENTS_RAW      "hutch.events.raw"       /* RawEvent: ingest -> policy */
#define TOPIC_ALERTS_ACCEPTED "hutch.alerts.accepted"  /* Alert: policy -> enrich */
#define TOPIC_ALERTS_ENRICHED "hutch.alerts.enriched"  /* Alert: enrich -> cluster */
#define TOPIC_ALERTS_CLUSTERED "hutch.alerts.clustered" /* Alert: cluster -> agent */
#define TOPIC_NOTIFY_REQUESTS "hutch.notify.requests"  /* NotifyRequest: agent -> notify */
#define TOPIC_TICKETS_EVENTS  "hutch.tickets.events"   /* TicketEvent: cluster/agent/notify -> anyone */
#define TOPIC_AGENT_REQUESTS  "hutch.agent.requests"   /* AgentRequest: notify/hutchctl -> agent */
#define TOPIC_DLQ             "hutch.dlq"              /* DeadLetter: poison messages */

/* Header naming the schema of a JSON message on TOPIC_INGEST_JSON. */
#define HEADER_SCHEMA "hutch-schema"

#endif
