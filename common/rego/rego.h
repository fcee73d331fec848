/* Rego engine: compile policies once, evaluate queries against them many times.
 *
 * rego_compile parses and compiles a set of modules into a rego_policy, which is
 * read-only afterwards: any number of threads may evaluate queries against one
 * policy at the same time without locks. A query is compiled once with
 * rego_query_prepare and evaluated with rego_query_eval (or in one step with
 * rego_eval). An evaluation owns all its state; input and data are borrowed.
 *
 * Results are a result set like `opa eval`'s: an array of binding objects, one per
 * solution, each mapping the query's user-visible variables to values. An empty
 * array means undefined.
 *
 * Errors carry OPA's code ("rego_parse_error", "rego_compile_error",
 * "rego_unsafe_var_error", "rego_recursion_error", "rego_type_error",
 * "eval_conflict_error", "eval_builtin_error", "eval_type_error",
 * "eval_limit_error"), a position and an OPA-like message.
 */
#ifndef HUTCH_REGO_H
#define HUTCH_REGO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rego/value.h"

typedef struct rego_policy rego_policy;
typedef struct rego_query rego_query;

typedef enum {
    REGO_SYNTAX_AUTO = 0, /* v1 if the module imports rego.v1 or uses `if`/`contains`, else the default */
    REGO_SYNTAX_V0,
    REGO_SYNTAX_V1,
} rego_syntax;

typedef struct {
    const char *name;   /* file name used in errors, e.g. "policy.rego" (BORROWED during compile) */
    const char *source; /* Rego text (BORROWED during compile) */
    size_t len;         /* 0 = strlen(source) */
    rego_syntax syntax;
} rego_module_src;

typedef struct {
    char code[40];
    char message[768]; /* "file:line:col: code: text" (position parts omitted when unknown) */
    char file[128];
    int line, col;
    /* Set when compilation failed because a called function does not exist: its name. */
    char missing_function[128];
} rego_error;

typedef struct {
    bool strict_builtin_errors; /* builtin errors abort instead of making the expression undefined */
    /* Limits (exceeding one returns eval_limit_error, also without strict builtin
     * errors). Steps: one per expression, comprehension member, walk node.
     * Memory: an estimate of the values the evaluation builds (builtin results
     * included); a builtin refuses to build a result that would not fit (huge
     * numbers.range, concat/replace/sprintf/json.marshal blow-ups). Independent of
     * both, the evaluator's recursion is capped (REGO_MAX_STACK in eval.c). A
     * service should set both, e.g. 1e6 steps and 64 MB. */
    uint64_t max_steps;                         /* 0 = unlimited */
    size_t max_memory;                          /* approximate bytes; 0 = unlimited */
    void (*print)(void *arg, const char *line); /* print() sink; NULL drops output */
    void *print_arg;
    int64_t now_ns; /* 0 = the wall clock at the start of the evaluation */
} rego_options;

/* Compile modules. default_syntax applies to modules whose syntax is AUTO and that do
 * not reveal their syntax. Returns a NEW policy (rego_policy_free) or NULL with *err. */
rego_policy *rego_compile(const rego_module_src *mods, size_t nmods, rego_syntax default_syntax, rego_error *err);
void rego_policy_free(rego_policy *pol);

/* The rules of a compiled policy, in module and source order (for test runners).
 * *out is a NEW array (free()); its strings belong to the policy. */
typedef struct {
    const char *path; /* "data.pkg.test_x" (for a ref head: its static part) */
    const char *file;
    int line, col;
    bool is_function, is_default;
    bool static_ref; /* the whole head ref is static (no variable key) */
} rego_rule_info;
size_t rego_policy_rules(const rego_policy *pol, rego_rule_info **out);

/* Compile a query (e.g. "data.ingest.allow = x" or "x := data.a.b"). The policy must
 * outlive the query. Returns NEW query (rego_query_free) or NULL with *err. */
rego_query *rego_query_prepare(const rego_policy *pol, const char *query, rego_error *err);
void rego_query_free(rego_query *q);

/* The query compiled the way `opa eval` reports it: each top-level expression that
 * is a term or a call without output (not negated, not `=`/`:=`) has its value bound
 * to "$N" (N = the expression's index) in every result row; a lone such expression
 * is defined even when its value is false. *exprs (NEW array, free()) gets one entry
 * per top-level expression, *nexprs their number. */
typedef struct {
    int line, col; /* where the expression starts in the query text */
    bool captured; /* its value is the row's "$N"; otherwise the value is true */
} rego_query_expr;
rego_query *rego_query_prepare_capture(const rego_policy *pol, const char *query, rego_query_expr **exprs,
                                       size_t *nexprs, rego_error *err);

/* Evaluate. input and data are BORROWED (either may be NULL = undefined / empty).
 * opts may be NULL. On success returns 0 and *result_set is a NEW array value.
 * On failure returns -1 with *err filled. */
int rego_query_eval(const rego_query *q, rv *input, rv *data, const rego_options *opts, rv **result_set,
                    rego_error *err);
int rego_eval(const rego_policy *pol, const char *query, rv *input, rv *data, const rego_options *opts, rv **result_set,
              rego_error *err);
/* Same with JSON text input (NULL = no input). */
int rego_eval_json(const rego_policy *pol, const char *query, const char *input_json, rv *data,
                   const rego_options *opts, rv **result_set, rego_error *err);

/* Result set as jansson (array of binding objects). NEW json_t. */
json_t *rego_result_to_json(const rv *result_set);

/* Parse a Rego term that contains no variables (e.g. an input_term) into a value.
 * NEW value or NULL with *err. */
rv *rego_parse_value(const char *text, rego_error *err);

#endif
