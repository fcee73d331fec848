/* Internal structures of the Rego engine shared by the parser (parse.c), the
 * compiler (compile.c), the evaluator (eval.c) and builtins.c. Not a public API.
 *
 * Everything of a compiled policy (AST, rule tree, interned names) lives in one
 * arena owned by the policy and is read-only after rego_compile returns, so any
 * number of threads may evaluate it at once. Values embedded in the AST are rv
 * references owned by the policy (released with it).
 */
#ifndef HUTCH_REGO_INT_H
#define HUTCH_REGO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rego/builtins.h"
#include "rego/rego.h"
#include "rego/value.h"

/* ------------------------------------------------------------ arena */
typedef struct arena_chunk arena_chunk;
typedef struct {
    arena_chunk *head;
    rv **vals; /* values to unref on destroy */
    size_t nvals, capvals;
} arena;

void *ar_alloc(arena *a, size_t n); /* zeroed */
char *ar_strndup(arena *a, const char *s, size_t n);
rv *ar_keep(arena *a, rv *v); /* arena takes the reference; returns v */
void ar_free(arena *a);

/* ------------------------------------------------------------ AST */
typedef enum {
    T_VAL,    /* constant value */
    T_VAR,    /* variable: name, slot */
    T_REF,    /* items[0] head, items[1..n) path */
    T_ARRAY,  /* items */
    T_SET,    /* items */
    T_OBJECT, /* items: k0, v0, k1, v1, ... (n = 2 * pairs) */
    T_ACOMP,  /* items[0] head, body */
    T_SCOMP,  /* items[0] head, body */
    T_OCOMP,  /* items[0] key, items[1] value, body */
    T_CALL,   /* name, items = args */
    T_FREF,   /* `with f as g` replacement naming a function/builtin: name, fn/bi/special */
} term_kind;

enum { ROOT_NONE = 0, ROOT_DATA, ROOT_INPUT, ROOT_LOCAL };

typedef struct term term;
typedef struct body body;
typedef struct rnode rnode;
typedef struct rule rule;

struct term {
    uint8_t kind;
    uint8_t root;     /* T_REF: ROOT_* after compile */
    uint8_t wildcard; /* T_VAR `_` */
    uint8_t ground;   /* no variables anywhere (value in val) */
    int line, col;
    rv *val;          /* T_VAL, or precomputed value of a ground composite */
    const char *name; /* T_VAR name, T_CALL function name */
    int slot;         /* T_VAR */
    term **items;
    int n;
    body *body;                 /* comprehensions */
    const rego_builtin_def *bi; /* T_CALL resolved builtin */
    rnode *fn;                  /* T_CALL resolved user function */
    int special;                /* T_CALL: SP_* */
    /* Set by rego_optimize_* (optimize.c) after compilation: */
    rnode *dnode; /* T_REF ROOT_DATA: node reached by items[1..nstatic) from data,
                   * stopping at the first node with rules (NULL: not computed) */
    int nstatic;
    uint8_t argmask[8]; /* T_CALL with bi: allowed rv_type bits per operand */
    uint8_t has_argmask;
    uint8_t sv;        /* single-valued: evaluated directly, not through continuations */
    uint8_t korder[8]; /* T_OBJECT of <= 8 distinct constant keys: pair indexes in key
                        * order (korder[0] = 1 + first pair), else korder[0] = 0 */
};

enum { SP_NONE = 0, SP_WALK, SP_PRINT, SP_MEMBER2, SP_MEMBER3, SP_EQ, SP_ASSIGN };
/* Arguments of a special builtin without a table entry (walk 1, internal.member_2 2,
 * internal.member_3 3), or -1 for any other. compile.c. */
int rego_special_nargs(int special);
/* Arguments a call term takes (its builtin's, function's or special's; else its own
 * count). compile.c. */
int rego_call_arity(const term *t);

typedef enum { E_TERM, E_UNIFY, E_ASSIGN, E_SOME_DECL, E_SOME_IN, E_EVERY, E_NOT_BODY } expr_kind;
/* E_NOT_BODY: `not { body }` (future.keywords.not): body in `body`, neg set */

typedef struct {
    term *target;
    term *value;
} with_mod;

typedef struct expr {
    uint8_t kind;
    uint8_t neg;
    int line, col;
    term *a, *b;        /* E_TERM: a; E_UNIFY/ASSIGN: a = b */
    term *k, *v, *coll; /* E_SOME_IN / E_EVERY (k may be NULL) */
    body *body;         /* E_EVERY, E_NOT_BODY */
    term **decl;        /* E_SOME_DECL vars */
    int ndecl;
    with_mod *withs;
    int nwith;
    /* optimize.c: `some v in coll` followed by a builtin test of v (e.g.
     * net.cidr_contains(v, ip)) runs as one loop; fuse_pos = v's operand index + 1 */
    uint8_t fuse_pos;
} expr;

struct body {
    expr **exprs;
    int n;
};

typedef enum { R_COMPLETE, R_SET, R_OBJECT, R_FUNC } rule_kind;

struct rule {
    rule_kind kind;
    rnode *node;
    term **ref; /* full head ref: items as parsed (first = name) */
    int nref;
    int nstatic; /* leading static components of ref (node path below package) */
    term *key;   /* R_SET element */
    term *value; /* value (R_COMPLETE, R_OBJECT leaf, R_FUNC output) */
    term **args; /* R_FUNC */
    int nargs;
    body *body; /* NULL = true */
    rule *els;
    bool is_default;
    int nslots;
    const char *file;
    int line, col;
    const char *pkgpath; /* "data.test" */
    struct module *mod;
};

struct rnode {
    const char *name;
    rv *key; /* string key */
    rnode *parent;
    rnode **kids; /* sorted by name */
    int nkids;
    rule **rules; /* non-default */
    int nrules;
    rule *def; /* default rule */
    bool is_func;
    int id;
    const char *path; /* "data.a.b" */
    /* compile: recursion check */
    int visit;
};

typedef struct {
    const char *alias;
    term *ref; /* data.x.y or input.x */
} import_decl;

typedef struct module {
    const char *file;
    term *pkg; /* ref data.a.b */
    const char *pkgpath;
    import_decl *imports;
    int nimports;
    rule **rules;
    int nrules;
    bool v1;
} module;

/* ------------------------------------------------------------ parser */
typedef struct {
    arena *ar;
    const char *file;
    const char *src;
    size_t len;
    bool v1;
    rego_error *err;
} parse_ctx;

module *rego_parse_module(parse_ctx *pc);
body *rego_parse_query(parse_ctx *pc);
term *rego_parse_term_text(parse_ctx *pc); /* a single term (input_term) */
void rego_set_error(rego_error *err, const char *code, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ------------------------------------------------------------ policy */
struct rego_policy {
    arena ar;
    module **mods;
    int nmods;
    rnode *root; /* "data" */
    int nnodes;
};

struct rego_query {
    const rego_policy *pol;
    arena ar;
    body *body;
    int nslots;
    const char **slot_names; /* user-visible names, NULL for generated */
    rv **slot_keys;          /* their names as string values (result set keys), NULL if hidden */
};

/* compile.c */
int rego_compile_body(const rego_policy *pol, arena *ar, module *mod, body *b, term **head_terms, int nhead,
                      term **args, int nargs, int *nslots, const char ***slot_names, rego_error *err);
rnode *rego_node_child(const rnode *n, const char *name);

/* typecheck.c: OPA's compile-time "match error" check (rego_type_error), run once
 * after compilation; 0 = accepted, -1 = rejected (err set). */
int rego_typecheck_policy(const rego_policy *pol, rego_error *err);

/* optimize.c: annotations computed once after compilation (policy or query), read
 * by eval.c; they never change a result, only how fast it is found. */
void rego_optimize_policy(rego_policy *pol);
void rego_optimize_body(const rego_policy *pol, arena *ar, body *b); /* ar: the query's arena */

/* ------------------------------------------------------------ builtin call context */
struct rego_bctx {
    char msg[512];
    int is_type_error;
    int64_t now_ns;
    rv **cache;
    void (*print)(void *arg, const char *line);
    void *print_arg;
    const char *name;
    size_t mem_left; /* memory budget left for this call's result; 0 = unlimited (a
                      * zeroed context, as builtin unit tests make); exhausted = 1 */
};

#endif
