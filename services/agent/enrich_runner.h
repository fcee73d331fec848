/* The enrich policy's prompt tasks on the model: one thread beside the consumer.
 *
 * How triage gets the results (the choice, and why): an alert whose enrich policy asks
 * prompts while a model is configured is not triaged by the consumer at once; its
 * batch queues it (triage_enrich, triage_store.h) and goes on with the others, so no
 * other alert ever waits on the model. This thread takes the queued alerts oldest
 * first, runs each task as a tool-using agent (llm_loop.h with the agent's read-only
 * tools of tools.h, scoped to the alert's ticket, and the configured MCP servers'
 * tools, risky ones behind a person's approval; Warren runs them one after another,
 * so do we), stores each result as it comes, then sends the alert back to the agent
 * on hutch.alerts.clustered with the results in Alert.triage_enrich_json; the
 * consumer then triages it like any alert, with input.enrich filled. The wait is
 * bounded: HUTCH_TRIAGE_ENRICH_WAIT after the alert was queued (plus the model call in
 * flight then: the loop checks its wall time, cut to the deadline, between calls), the
 * tasks not done are skipped with the reason "deadline" and the triage goes on with
 * what came; a task
 * the model could not answer (limit, error) is skipped with its reason. Warren waits
 * for every task and fails the alert on a task error; a pipeline that must go on
 * cannot.
 *
 * Delivery: the alert is sent back before its row is marked done, with a message id
 * derived from the alert id, so a crash in between sends the same message again and
 * the consumer's claim makes it one triage. A restart takes a running row whose lease
 * ran out and asks only the tasks without a stored result. */
#ifndef HUTCH_AGENT_ENRICH_RUNNER_H
#define HUTCH_AGENT_ENRICH_RUNNER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/llm.h"
#include "common/llm_loop.h"

typedef struct {
    const char *database_url; /* BORROWED (secret) */
    const char *brokers;      /* BORROWED */
    llm_config llm;           /* a provider other than LLM_NONE */
    llm_limits limits;        /* of one task (the wall time is cut to the alert's deadline) */
    int64_t tokens_per_hour;  /* shared with the analyses (agent_sessions); 0 = no limit */
    int64_t wait_ms;          /* HUTCH_TRIAGE_ENRICH_WAIT: an alert's tasks end by then */
    int64_t poll_ms;
    const char *mcp_servers;   /* HUTCH_MCP_SERVERS (mcp.h), BORROWED; "" = none */
    const char *mcp_read_only; /* HUTCH_MCP_READ_ONLY, BORROWED */
    long mcp_timeout_ms;
    volatile sig_atomic_t *stop; /* BORROWED */
} enrich_runner_config;

typedef struct {
    enrich_runner_config cfg;
    pthread_t thread;
    bool started;
} enrich_runner;

/* Starts the thread (cfg copied, its strings BORROWED for the runner's life). 0 or -1. */
int enrich_runner_start(enrich_runner *r, const enrich_runner_config *cfg);
void enrich_runner_join(enrich_runner *r);

#endif
