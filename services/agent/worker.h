/* The agent's LLM worker: one thread beside the consumer, never in its way. The
 * consumer's batches only queue tickets (jobs.h); this thread takes them, analyses
 * each (the tool loop on the configured model, or the template summary without one)
 * and writes the outcome through the ticket module (common/ticket.h: ticket_edit for
 * title and description, ticket_set_finding), whose history is the outbox of the
 * TicketEvents that make notify update its message. In the slots the analyses leave,
 * it answers the questions of hutch.agent.requests with the chat (chat.h, requests.h):
 * each stored turn announced as a TicketEvent "chat", the answer sent as a NotifyRequest
 * "agent_answer" to the question's Slack thread.
 *
 * One thread drives up to `concurrency` runs at once on one llm_client (libcurl
 * multi); it has its own Postgres connection. A run's limits are the loop's
 * (iterations, wall time, tokens, budget) and the hour's: no job is started while
 * the sessions of the last hour used tokens_per_hour, and a run gets at most what is
 * left of it. On stop, runs in flight are abandoned: their jobs' leases expire and
 * another start takes them again.
 *
 * A question's run is linked to its agent_requests row when it starts, and each of
 * its stored turns (and its end) is announced on hutch.agent.turns, so the console
 * shows a chat as it goes. */
#ifndef HUTCH_AGENT_WORKER_H
#define HUTCH_AGENT_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/llm.h"
#include "common/llm_loop.h"
#include "services/agent/chat.h"

typedef struct {
    const char *database_url; /* BORROWED (secret) */
    llm_config llm;           /* provider LLM_NONE: template summaries */
    int concurrency;
    int64_t tokens_per_hour; /* 0 = no limit */
    double growth_factor;
    int64_t reanalyse_ms; /* least time between two analyses of a ticket */
    int64_t poll_ms;
    int context_alerts;
    llm_limits limits;
    const char *mcp_servers;   /* HUTCH_MCP_SERVERS (mcp.h), BORROWED; "" = none */
    const char *mcp_read_only; /* HUTCH_MCP_READ_ONLY, BORROWED */
    long mcp_timeout_ms;
    const chat_settings *chat;   /* the chat's settings (HUTCH_CHAT_*), BORROWED */
    const char *brokers;         /* for the answers to hutch.agent.requests and the chat's TicketEvents, BORROWED */
    volatile sig_atomic_t *stop; /* BORROWED: the service's stop flag */
} agent_worker_config;

typedef struct {
    agent_worker_config cfg;
    pthread_t thread;
    bool started;
} agent_worker;

/* Starts the thread (cfg copied; its strings BORROWED for the worker's life). 0 or -1. */
int agent_worker_start(agent_worker *w, const agent_worker_config *cfg);
/* Waits for the thread to end (after *cfg.stop became non-zero). */
void agent_worker_join(agent_worker *w);

#endif
