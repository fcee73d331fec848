/* The agent's analysis of a ticket, as pure functions on plain JSON (no database, no
 * model): what the model is told, the shape of its answer, the summary written when no
 * model is configured, and the disclaimer of seed 003.
 *
 * The ticket context (agent_load_context in jobs.h) is one JSON object:
 *   {"ticket": {ticket_id, title, summary, severity, status, alert_count, ...},
 *    "alerts": [{alert_id, title, description, schema, severity, risk_score, created_at,
 *                indicators: [{type, value}]}, ...]   (the most recent ones)
 *    "verdicts": [{provider, kind, value, verdict, score, summary}, ...]}
 *
 * Alert content is data, never instructions: the prompt hands it over inside a
 * delimited block the system prompt tells the model not to obey, and nothing in the
 * model's answer can run a risky tool without a person (llm_loop.h). */
#ifndef HUTCH_AGENT_ANALYSIS_H
#define HUTCH_AGENT_ANALYSIS_H

#include <jansson.h>

/* The system prompt of a ticket analysis (static). */
extern const char agent_analysis_system[];
/* The system prompt of a chat about a ticket (hutchctl chat, hutch.agent.requests). */
extern const char agent_chat_system[];
/* Seed 003's line under an AI summary (static). */
extern const char agent_disclaimer[];

/* JSON Schema of the answer: {title, summary, finding: {severity, summary, reason,
 * recommendation}}. NEW. */
json_t *agent_analysis_schema(void);

/* The first user turn: the task, then the ticket, its alerts and cached verdicts as a
 * JSON block between <ticket-data> markers. ctx BORROWED. NEW string or NULL (OOM). */
char *agent_analysis_prompt(const json_t *ctx);

/* The first user turn of a chat: the ticket's data block, then the question. NEW. */
char *agent_chat_prompt(const json_t *ctx, const char *question);

/* The summary without a model: alert count and time span, severity, the latest
 * alerts' titles, the top indicators and their cached verdicts. NEW or NULL. */
char *agent_template_summary(const json_t *ctx);

/* The ticket description of a model's summary: the summary, a blank line, the
 * disclaimer naming the model. NEW or NULL. */
char *agent_described(const char *summary, const char *model);

#endif
