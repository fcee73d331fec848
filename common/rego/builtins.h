/* Builtin functions: how a family of builtins plugs into the evaluator.
 *
 * Each family lives in its own file (builtins_strings.c, builtins_net.c, ...) and
 * exports one table `const rego_builtin_def rego_builtins_<family>[]`, ended by an
 * entry whose name is NULL. builtins.c names every family once, in its family
 * list (REGO_BUILTIN_FAMILIES): a new family is a new file and a new line there.
 * A builtin that no family defines is reported as missing (the conformance driver
 * counts its cases as skipped).
 *
 * Calling convention: the evaluator checks arity and the declared operand types
 * before the call (producing OPA's "operand N must be T but got U" errors), so a
 * builtin only checks what the declaration cannot say (element types, formats).
 * A builtin returns REGO_OK with *out set to a NEW value, REGO_UNDEF (no value, as
 * OPA's builtins do for e.g. a failed conversion in non-strict mode), or REGO_ERR
 * after rego_bctx_errorf (an eval_builtin_error; OPA makes it undefined unless
 * strict builtin errors are on, and the evaluator applies that rule).
 */
#ifndef HUTCH_REGO_BUILTINS_H
#define HUTCH_REGO_BUILTINS_H

#include "rego/value.h"

enum { REGO_OK = 0, REGO_UNDEF = 1, REGO_ERR = -1 };

typedef struct rego_bctx rego_bctx; /* per-call context, owned by the evaluator */

typedef int (*rego_builtin_fn)(rego_bctx *ctx, rv *const *args, rv **out);

typedef struct {
    const char *name; /* "concat", "strings.replace_n", "net.cidr_contains" */
    int nargs;        /* operands, not counting the output */
    rego_builtin_fn fn;
    /* Operand types, one per operand, OPA type names joined by '|':
     * "string", "number", "boolean", "null", "array", "object", "set", "any",
     * e.g. "array|set". NULL entries or a NULL array mean "any". */
    const char *arg_types[8];
    unsigned flags; /* REGO_BUILTIN_* */
} rego_builtin_def;

#define REGO_BUILTIN_NONDETERMINISTIC 1u /* time.now_ns, rand, uuid.rfc4122: cached per evaluation */

/* Record an error message for this call and return REGO_ERR. The message should
 * read like OPA's: "<name>: <what went wrong>", e.g. "sprintf: operand 2 must be array". */
int rego_bctx_errorf(rego_bctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, but a type error (OPA's eval_type_error). */
int rego_bctx_type_errorf(rego_bctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Wall clock of this evaluation, fixed at its start (OPA's time.now_ns semantics). */
int64_t rego_bctx_now_ns(rego_bctx *ctx);
/* Before building a result of about `bytes` bytes: false (after recording an
 * eval_limit_error-worthy message) when it would exceed the evaluation's memory
 * limit (rego_options.max_memory). The builtin then returns REGO_ERR. */
bool rego_bctx_may_alloc(rego_bctx *ctx, size_t bytes);
size_t rego_bctx_mem_left(const rego_bctx *ctx); /* SIZE_MAX when unlimited */
/* Same for the text of v (json.marshal, sprintf): false when it would not fit. */
bool rego_bctx_may_render(rego_bctx *ctx, const rv *v);
/* Per-evaluation cache for nondeterministic builtins keyed by (name, args). */
rv *rego_bctx_cache_get(rego_bctx *ctx, const char *key);           /* BORROWED or NULL */
void rego_bctx_cache_put(rego_bctx *ctx, const char *key, rv *val); /* val stolen */
/* print(): output goes where the evaluation's options said. */
void rego_bctx_print(rego_bctx *ctx, const char *line);

/* Lookup by name across every family. BORROWED, static; NULL if absent. */
const rego_builtin_def *rego_builtin_find(const char *name);

/* Growable byte buffer (buf.c), the one string builder of the engine.
 * Zero-initialise (`rego_buf b = {0};`); p is NULL until the first append and is
 * always NUL-terminated after one. The buffer OWNS p: release it with
 * rego_buf_free or hand it over with rego_buf_take (or take p yourself and free it).
 * Allocation failure aborts, like the value model, unless soft_oom is set: then it
 * sets oom and later appends are dropped (the caller reports the error).
 * limit (0 = none): an append that would make len exceed it sets over and is
 * dropped (strings' builders bounded by the evaluation's memory budget). */
typedef struct {
    char *p;
    size_t len, cap;
    size_t limit;
    bool soft_oom;
    bool oom, over;
} rego_buf;
#define REGO_BUF_SOFT                                                                                                  \
    {                                                                                                                  \
        .soft_oom = true                                                                                               \
    }

void rego_buf_putn(rego_buf *b, const char *s, size_t n);
void rego_buf_puts(rego_buf *b, const char *s);
void rego_buf_putc(rego_buf *b, char c);
void rego_buf_printf(rego_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NEW string value with the bytes so far (ignores oom/over: check them first);
 * frees the buffer and leaves it empty for reuse. */
rv *rego_buf_take(rego_buf *b);
void rego_buf_free(rego_buf *b);

/* Appends s quoted the way Go's strconv.Quote does (QuoteToASCII when ascii_only):
 * OPA's error messages and sprintf's %q quote with it. builtins_strings.c. */
void rego_go_quote(rego_buf *b, const char *s, size_t n, bool ascii_only);

/* UTF-8 the way Go reads it (OPA's strings are Go strings, which may hold any
 * bytes): rego_utf8_decode returns the rune at s (n > 0 bytes left) and its width in
 * *w; an invalid or truncated sequence reads as U+FFFD of width 1, so every invalid
 * byte is one rune. rego_utf8_count is the number of runes (count() of a string,
 * Go's utf8.RuneCountInString). builtins.c. */
uint32_t rego_utf8_decode(const unsigned char *s, size_t n, size_t *w);
size_t rego_utf8_count(const char *s, size_t n);

/* A YAML document as a NEW value, the way yaml.unmarshal reads it (go-yaml v2's
 * rules), or NULL with go-yaml's message in err. builtins_json.c. */
rv *rego_yaml_parse(const char *s, size_t n, char *err, size_t errlen);

#endif
