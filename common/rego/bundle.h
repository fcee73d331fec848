/* Policy bundles from the file system: the modules and data documents of a policy
 * directory, loaded the way `opa eval -d DIR` loads them, ready for rego_compile.
 * hutchctl policy eval/test, the policy service and the differential-test driver
 * all load policies through here.
 *
 *   rego_bundle b;
 *   if (rego_bundle_load(&b, "policies", NULL, REGO_SYNTAX_V1, err, sizeof err) == 0)
 *       pol = rego_compile(b.mods, b.n, REGO_SYNTAX_V1, &e);   evaluate with b.data
 *   rego_bundle_free(&b);
 */
#ifndef HUTCH_REGO_BUNDLE_H
#define HUTCH_REGO_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>

#include "rego/rego.h"
#include "rego/value.h"

typedef struct {
    rego_module_src *mods; /* n modules; names and sources OWNED by the bundle */
    char **names, **texts;
    size_t n, cap;
    rv *data;          /* the merged data documents (an object, empty when there are none) */
    bool modules_only; /* set after rego_bundle_init: read *.rego only, no data documents
                        * (Warren's policy directories, where fixtures sit beside modules) */
} rego_bundle;

/* Loads path (a directory, recursively, or a single file) and then data_file (NULL:
 * none) merged at the data root. *.rego files are modules of syntax `syntax` (AUTO
 * lets each module tell); *.json, *.yaml and *.yml files are data under their
 * directory's path relative to the root. 0, or -1 with a message naming the file
 * in err; the bundle must be freed either way. */
int rego_bundle_load(rego_bundle *b, const char *path, const char *data_file, rego_syntax syntax, char *err,
                     size_t errlen);
void rego_bundle_free(rego_bundle *b);
/* The same in steps, like repeated `opa eval -d PATH`: init, then add each path (a
 * directory, a .rego module, or a data document merged at the root). b->data stays
 * NULL until a data document is added. */
void rego_bundle_init(rego_bundle *b);
int rego_bundle_add(rego_bundle *b, const char *path, rego_syntax syntax, char *err, size_t errlen);

/* A whole file as a NEW NUL-terminated buffer (*len without the NUL), NULL with errno. */
char *rego_read_file(const char *path, size_t *len);
/* A JSON document (YAML if the name ends in .yaml/.yml) as a NEW value, or NULL
 * with "path: message" in err. */
rv *rego_read_document(const char *path, char *err, size_t errlen);

#endif
