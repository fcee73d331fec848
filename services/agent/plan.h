/* The planning of a long chat question (Warren's "aster" strategy), as pure functions on
 * plain JSON: no database, no model, no clock. services/agent/chat.c runs the calls.
 *
 * The loop: a planner call answers a JSON plan {message, tasks: [{id, title,
 * description, acceptance_criteria, tools}]}; the tasks of a phase are independent of
 * one another (the planner is told to put a task that needs another's result in a
 * later phase), so they run at once, each a tool-using sub-run that collects data;
 * their results go to a replan call that answers {message, tasks, answer}: more tasks
 * (the next phase), or no tasks and the final answer. At most max_phases phases run;
 * the replan after the last one is told that no task can run any more, and if it
 * still asks for tasks the plan ends with reason "phase_limit" and the best answer it
 * has (the replan's answer, its message, or the collected results).
 *
 * When to plan (chat_should_plan): HUTCH_CHAT_PLANNING=always | never | auto; auto plans
 * a question of at least min_words words, or one that asks about every/each/all of
 * something ("analyse every IP in this ticket", "each user"): a question that fans out over many
 * things. Everything else is answered by the plain tool loop.
 *
 * Ownership: a chat_plan owns its tasks and results (chat_plan_free); strings handed
 * in are copied; functions returning char * return NEW strings (free). */
#ifndef HUTCH_AGENT_PLAN_H
#define HUTCH_AGENT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef enum { CHAT_PLAN_NEVER, CHAT_PLAN_AUTO, CHAT_PLAN_ALWAYS } chat_plan_mode;

/* "never" | "auto" | "always" -> mode. 0, or -1 on another name. */
int chat_plan_mode_parse(const char *name, chat_plan_mode *out);

/* Whether a question is planned (see above). question BORROWED. */
bool chat_should_plan(const char *question, chat_plan_mode mode, int min_words);

typedef struct {
    char id[64];
    char *title, *description, *criteria; /* NEW */
    json_t *tools;                        /* NEW array of tool names/patterns, or NULL: every chat tool */
    char *result;                         /* NEW once done: what the task collected (or why it has nothing) */
    char reason[32];                      /* its run's end: answer, iterations, budget, ... */
    bool done;
} chat_task;

typedef struct {
    int max_phases; /* >= 1 */
    int max_tasks;  /* tasks per phase, >= 1 */
    int phase;      /* the phase running or last run, 1-based; 0 before the first */
    chat_task *tasks;
    size_t n_tasks;  /* of the current phase */
    size_t dropped;  /* tasks of the last answer over max_tasks (not run) */
    json_t *results; /* NEW array of every finished task: {phase, id, title, result, reason} */
    char reason[32]; /* once concluded: "answer", "phase_limit" */
} chat_plan;

void chat_plan_init(chat_plan *p, int max_phases, int max_tasks);
void chat_plan_free(chat_plan *p);

/* JSON Schemas of the planner's answers. NEW. */
json_t *chat_plan_schema(void);
json_t *chat_replan_schema(void);

typedef enum {
    CHAT_PLAN_RUN,      /* p->tasks hold the next phase's tasks: run them */
    CHAT_PLAN_CONCLUDE, /* *answer holds the final answer (p->reason says why) */
} chat_plan_step;

/* Reads a planner answer (the first plan or a replan; BORROWED, schema-valid) and
 * decides the next step. Task ids are made unique (t1, t2, ... for empty or repeated
 * ones); tasks over max_tasks are dropped (counted in p->dropped). With tasks and a
 * phase left: CHAT_PLAN_RUN (p->phase advanced). Without tasks: CHAT_PLAN_CONCLUDE
 * with the answer (or the message when the answer is empty). With tasks and no phase
 * left: CHAT_PLAN_CONCLUDE with reason phase_limit. *answer NEW when CONCLUDE (never
 * NULL unless out of memory), NULL when RUN. */
chat_plan_step chat_plan_next(chat_plan *p, const json_t *reply, char **answer);

/* Records the end of task i of the current phase (result BORROWED, copied; NULL =
 * no result, reason says why). */
void chat_plan_task_done(chat_plan *p, size_t i, const char *result, const char *reason);
/* True when every task of the current phase is done. */
bool chat_plan_phase_done(const chat_plan *p);

/* True if task t may use the tool named name: no tool list, or a list entry equal to
 * the name or a prefix ending in '*' ("assets_*"). */
bool chat_task_allows(const chat_task *t, const char *name);

/* The planner's first user turn: the ticket block (BORROWED, "<ticket-data>...") and
 * the question. NEW. */
char *chat_plan_prompt(const char *ticket_block, const char *question, int max_phases, int max_tasks);
/* The replan's user turn: the results of the phase that ended, what is left. NEW. */
char *chat_replan_prompt(const chat_plan *p);
/* A task's first user turn: the question for context, the ticket block, the task. NEW. */
char *chat_task_prompt(const chat_task *t, const char *ticket_block, const char *question);

/* The system prompts of the planner and of a task (static). */
extern const char chat_planner_system[];
extern const char chat_task_system[];

#endif
