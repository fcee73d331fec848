/* The Rego engine's checked allocator: malloc, calloc and realloc that abort when
 * memory runs out, as the value model (value.c) and rego_buf (buf.c) do.
 *
 * Why abort: the engine's structures (AST vectors, rule tree, evaluator frames) have
 * no partial state a caller could recover from, and an unchecked `p = realloc(p, n)`
 * would turn an allocation failure into a NULL dereference and a leak. Code that can
 * report running out of memory as an error (builtins that build large results, the
 * bundle reader) checks plain malloc itself instead. A size of 0 allocates one byte,
 * so the result is never NULL.
 */
#ifndef HUTCH_REGO_ALLOC_H
#define HUTCH_REGO_ALLOC_H

#include <stdlib.h>

/* NEW memory (free()); never NULL. */
static inline void *rego_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

/* NEW zeroed memory for n items of size bytes (free()); never NULL. */
static inline void *rego_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) abort();
    return p;
}

/* Resizes p (STOLEN) and returns it, moved or not (NEW, free()); never NULL. */
static inline void *rego_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) abort();
    return p;
}

#endif
