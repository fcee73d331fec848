/* The tools the agent's model may call during a ticket analysis (llm_loop.h), on
 * Hutch's own store through parameterised read-only statements:
 *   hutch_get_ticket, hutch_search_alerts, hutch_similar_tickets: the ticket, its
 *     alerts, tickets sharing an indicator or a fingerprint with it;
 *   intel_lookup: the verdicts enrich cached for an indicator (intel_cache, migration
 *     4); it never calls a provider, so the quota enrich keeps is never bypassed;
 *   hutch_update_finding: records the model's finding, applied with the analysis
 *     through the ticket module (ticket_set_finding) when the run ends -- so a run
 *     restarted after a crash never writes twice;
 *   http_fetch (risky): an HTTPS GET, only once a person granted that exact call
 *     (agent_approvals; the loop asks agent_approval_granted).
 * The ticket a run works on is fixed by the context, not by the model: every query is
 * scoped to it, so text in an alert cannot point the tools elsewhere. */
#ifndef HUTCH_AGENT_TOOLS_H
#define HUTCH_AGENT_TOOLS_H

#include <jansson.h>
#include <libpsl.h>

#include "common/llm_loop.h"
#include "common/pg.h"

typedef struct {
    pg *db;               /* BORROWED */
    const psl_ctx_t *psl; /* BORROWED */
    char ticket_id[37];
    char session_id[37];
    json_t *finding; /* NEW or NULL: the last hutch_update_finding */
    int seq;         /* agent_messages order */
    int tools_run;
} agent_tool_ctx;

/* The tool table (static) and its size. */
extern const llm_tool agent_tools[];
extern const size_t agent_tools_count;

/* llm_loop_spec.approve for agent_tool_ctx. */
bool agent_tool_approve(void *ctx, const char *tool, const json_t *args);

#endif
