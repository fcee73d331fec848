/* Rego values: the data model shared by the parser, the evaluator and every builtin.
 *
 * A value (rv) is immutable once built and reference counted. Builders
 * (rv_array_push, rv_object_set, rv_set_add) may only be used on a value that the
 * caller just created and has not shared yet. Objects and sets iterate in OPA's
 * sort order (rv_compare), so output is deterministic and set/object equality is a
 * walk. Numbers keep arbitrary precision: an int64 fast path, and exact decimal
 * text for anything bigger or fractional (OPA's json.Number semantics).
 *
 * Ownership: functions returning rv* return a NEW reference (caller unrefs) unless
 * the name says _get/_at (BORROWED, valid while the container lives). Arguments
 * documented "stolen" transfer the caller's reference.
 */
#ifndef HUTCH_REGO_VALUE_H
#define HUTCH_REGO_VALUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    RV_NULL = 0, /* order matches OPA's type order for comparisons */
    RV_BOOL,
    RV_NUMBER,
    RV_STRING,
    RV_ARRAY,
    RV_OBJECT,
    RV_SET,
} rv_type;

typedef struct rv rv;

/* Lifetime. rv_ref returns its argument; rv_unref(NULL) is a no-op. */
rv *rv_ref(rv *v);
void rv_unref(rv *v);

/* Thread-local values (the evaluator's fast path). Between rv_local_begin() and
 * rv_local_end() (nestable, per thread), new values get non-atomic reference counts
 * and must not be seen by another thread. rv_publish(v) makes v and every local
 * value it contains ordinary (atomic) values again; call it on whatever leaves the
 * thread-local phase (e.g. a result set) before rv_local_end(). Values made outside
 * such a phase are unaffected. */
void rv_local_begin(void);
void rv_local_end(void);
void rv_publish(rv *v);

rv_type rv_typeof(const rv *v);
const char *rv_type_name(const rv *v); /* OPA names: "null", "boolean", "number", "string", "array", "object", "set" */

/* Scalars. Null, true and false are shared singletons. */
rv *rv_null(void);
rv *rv_bool(bool b);
bool rv_is_true(const rv *v); /* v is the boolean true */
rv *rv_int(int64_t i);
rv *rv_double(double d);                               /* NaN/Inf are refused: returns NULL */
rv *rv_number_from_text(const char *text, size_t len); /* JSON number text, any size; NULL if malformed */
bool rv_number_as_int64(const rv *num, int64_t *out);  /* true iff integral and fits */
double rv_number_as_double(const rv *num);
bool rv_number_is_integer(const rv *num);
/* Canonical text of a number as OPA prints it (e.g. "1", "1.5", "1e+100" stays exact). NEW, free(). */
char *rv_number_text(const rv *num);

/* Arithmetic with OPA semantics (exact for integers of any size; decimals where OPA has
 * them). Return NEW value, or NULL with *err set to a static message (e.g. "divide by zero"). */
rv *rv_num_add(const rv *a, const rv *b, const char **err);
rv *rv_num_sub(const rv *a, const rv *b, const char **err);
rv *rv_num_mul(const rv *a, const rv *b, const char **err);
rv *rv_num_div(const rv *a, const rv *b, const char **err);
rv *rv_num_rem(const rv *a, const rv *b, const char **err);

/* Strings are UTF-8, length-counted, may contain NUL. */
rv *rv_string(const char *s, size_t len);
rv *rv_cstring(const char *s);
const char *rv_str(const rv *s); /* BORROWED, NUL-terminated */
size_t rv_strlen(const rv *s);   /* bytes */

/* Collections. rv_len works on strings (bytes), arrays, objects and sets. */
size_t rv_len(const rv *v);
rv *rv_array_new(size_t capacity_hint);
void rv_array_push(rv *arr, rv *item /* stolen */);
rv *rv_array_at(const rv *arr, size_t i); /* BORROWED */

rv *rv_object_new(size_t capacity_hint);
/* Inserts or replaces. Both stolen. */
void rv_object_set(rv *obj, rv *key, rv *val);
/* Appends a pair whose key sorts after every key already there (the caller knows
 * the order, e.g. constant keys sorted once). Both stolen. */
void rv_object_append_sorted(rv *obj, rv *key, rv *val);
rv *rv_object_get(const rv *obj, const rv *key);        /* BORROWED or NULL */
rv *rv_object_get_cstr(const rv *obj, const char *key); /* BORROWED or NULL */
rv *rv_object_key_at(const rv *obj, size_t i);          /* BORROWED, sorted order */
rv *rv_object_val_at(const rv *obj, size_t i);          /* BORROWED */

rv *rv_set_new(size_t capacity_hint);
void rv_set_add(rv *set, rv *item /* stolen */);
bool rv_set_contains(const rv *set, const rv *item);
rv *rv_set_at(const rv *set, size_t i); /* BORROWED, sorted order */

/* OPA's total order: by type (rv_type order), then by value. Returns <0, 0, >0. */
int rv_compare(const rv *a, const rv *b);
bool rv_equal(const rv *a, const rv *b);
uint64_t rv_hash(const rv *v);

/* Derived data attached to a value: a compiled regex for a pattern string, a parsed
 * CIDR, a hash index of an array's items. A value carries at most one; it is computed
 * from the (immutable) value on first use and published atomically, so any number of
 * threads may attach and read concurrently without locks: a thread that loses the race
 * frees its copy. It lives as long as the value (free_fn runs when the value dies). */
typedef struct rv_aux rv_aux;
struct rv_aux {
    int kind;                   /* RV_AUX_* */
    void (*free_fn)(rv_aux *a); /* releases the whole rv_aux */
};
enum { RV_AUX_REGEX = 1, RV_AUX_CIDR, RV_AUX_INDEX, RV_AUX_FORMAT };
rv_aux *rv_aux_get(const rv *v); /* BORROWED or NULL */
/* Attaches a (stolen) unless v already has one. Returns the aux now on v (a, or the
 * one already there, a being freed), or NULL if v cannot carry one (a freed). */
rv_aux *rv_aux_attach(const rv *v, rv_aux *a);

/* Index of an array's items (or an object's values) for membership tests, built on
 * first use for collections of at least 16 items. Returns true and sets *found, or
 * false if no index applies (the caller scans). Thread-safe (see rv_aux). */
bool rv_index_contains(const rv *coll, const rv *item, bool *found);

/* JSON. Sets become sorted arrays, non-string object keys become their JSON text. */
rv *rv_from_json(const json_t *j); /* NEW, NULL only on OOM */
json_t *rv_to_json(const rv *v);   /* NEW json_t, json_decref() */
/* JSON text in one pass, with full validation (UTF-8, escapes, surrogate pairs); numbers
 * keep their exact text, duplicate keys: the last wins. NEW value, or NULL and
 * "line:col: message" in errbuf. The document's values share one arena and one
 * reference count: cheap to build and to free (a service's per-event input), and a
 * member that is kept (rv_ref) keeps the whole document's memory until released. */
rv *rv_from_json_text(const char *text, size_t len, char *errbuf, size_t errlen);
/* Compact JSON as OPA's json.marshal prints it (keys sorted). NEW, free(). */
char *rv_to_json_text(const rv *v);
/* Rego term text as OPA prints values in errors and print(): sets as {1, 2}, strings quoted. NEW, free(). */
char *rv_to_rego_text(const rv *v);

#endif
