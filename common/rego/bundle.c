/* Policy bundles from the file system (bundle.h): a directory of modules and data
 * documents loaded the way `opa eval -d DIR` loads one.
 *
 * As OPA loads `-d DIR`: every *.rego below DIR
 * (recursively, hidden entries skipped, sorted) is a module; every *.json / *.yaml /
 * *.yml document is data, merged into `data` under its directory's path relative to
 * DIR (DIR/a/b/x.json lands at data.a.b); two documents that set the same leaf
 * differently are an error. YAML is read as the engine's yaml.unmarshal reads it
 * (rego_yaml_parse), so a document means the same as in a policy. --data FILE merges a document at the root.
 * Modules are Rego v1 unless they say otherwise; --v0 makes v0 the default (AlertChain
 * and older Warren policies).
 * */
#include "rego/bundle.h"
#include "rego/builtins.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void rego_bundle_free(rego_bundle *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->names[i]);
        free(ps->texts[i]);
    }
    free(ps->mods);
    free(ps->names);
    free(ps->texts);
    rv_unref(ps->data);
    memset(ps, 0, sizeof *ps);
}

char *rego_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 8192, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    *len = n;
    return buf;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Deep merge of b into a (OPA's data merge): objects merge key by key, anything
 * else must be equal. NEW value, or NULL when they conflict (path in where). */
static rv *merge_docs(rv *a, rv *b, char *where, size_t wlen)
{
    if (rv_typeof(a) != RV_OBJECT || rv_typeof(b) != RV_OBJECT) {
        if (rv_equal(a, b)) return rv_ref(a);
        return NULL;
    }
    rv *out = rv_object_new(rv_len(a) + rv_len(b));
    for (size_t i = 0; i < rv_len(a); i++)
        rv_object_set(out, rv_ref(rv_object_key_at(a, i)), rv_ref(rv_object_val_at(a, i)));
    for (size_t i = 0; i < rv_len(b); i++) {
        rv *k = rv_object_key_at(b, i), *old = rv_object_get(out, k);
        rv *nv = old ? merge_docs(old, rv_object_val_at(b, i), where, wlen) : rv_ref(rv_object_val_at(b, i));
        if (!nv) {
            if (rv_typeof(k) == RV_STRING) {
                char tail[1024];
                snprintf(tail, sizeof tail, "%s", where);
                snprintf(where, wlen, ".%s%s", rv_str(k), tail);
            }
            rv_unref(out);
            return NULL;
        }
        rv_object_set(out, rv_ref(k), nv);
    }
    return out;
}

/* Merges doc (BORROWED) into ps->data at path (n components). 0 or -1 with err. */
static int merge_at(rego_bundle *ps, char **path, int n, rv *doc, const char *file, char *err, size_t errlen)
{
    if (n == 0 && rv_typeof(doc) != RV_OBJECT) {
        snprintf(err, errlen, "%s: a data document at the root must be an object", file);
        return -1;
    }
    rv *wrapped = rv_ref(doc);
    for (int i = n - 1; i >= 0; i--) {
        rv *o = rv_object_new(1);
        rv_object_set(o, rv_cstring(path[i]), wrapped);
        wrapped = o;
    }
    char where[1024] = "";
    rv *m = ps->data ? merge_docs(ps->data, wrapped, where, sizeof where) : rv_ref(wrapped);
    rv_unref(wrapped);
    if (!m) {
        snprintf(err, errlen, "%s: merge error: data%s is set differently by another document", file, where);
        return -1;
    }
    rv_unref(ps->data);
    ps->data = m;
    return 0;
}

static int add_module(rego_bundle *ps, const char *path, char *text, size_t len, rego_syntax syn)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        rego_module_src *m = realloc(ps->mods, cap * sizeof *m);
        if (m) ps->mods = m;
        char **nm = realloc(ps->names, cap * sizeof *nm);
        if (nm) ps->names = nm;
        char **tx = realloc(ps->texts, cap * sizeof *tx);
        if (tx) ps->texts = tx;
        if (!m || !nm || !tx) return -1;
        ps->cap = cap;
    }
    ps->names[ps->n] = strdup(path);
    ps->texts[ps->n] = text;
    ps->mods[ps->n] = (rego_module_src){.name = ps->names[ps->n], .source = text, .len = len, .syntax = syn};
    ps->n++;
    return 0;
}

static int load_file(rego_bundle *ps, const char *path, char **dpath, int ndpath, rego_syntax syn, char *err,
                     size_t errlen)
{
    bool rego = has_suffix(path, ".rego"), json = has_suffix(path, ".json"),
         yaml = has_suffix(path, ".yaml") || has_suffix(path, ".yml");
    if (!rego && (ps->modules_only || (!json && !yaml))) return 0;
    size_t len = 0;
    char *text = rego_read_file(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (rego) {
        if (add_module(ps, path, text, len, syn) == 0) return 0;
        free(text);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char eb[512] = "";
    rv *doc = json ? rv_from_json_text(text, len, eb, sizeof eb) : rego_yaml_parse(text, len, eb, sizeof eb);
    free(text);
    if (!doc) {
        snprintf(err, errlen, "%s: %s", path, eb);
        return -1;
    }
    int rc = merge_at(ps, dpath, ndpath, doc, path, err, errlen);
    rv_unref(doc);
    return rc;
}

static int visible(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Walks dir; dpath holds the data path of dir relative to the root. */
static int load_dir(rego_bundle *ps, const char *dir, char **dpath, int ndpath, rego_syntax syn, char *err,
                    size_t errlen)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, visible, alphasort);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        bool here = strcmp(dir, ".") == 0; /* "p.rego", not "./p.rego", in messages */
        if (rc == 0 && snprintf(path, sizeof path, "%s%s%s", here ? "" : dir, here ? "" : "/", ents[i]->d_name) <
                           (int)sizeof path) {
            struct stat st;
            bool wanted = has_suffix(path, ".rego") ||
                          (!ps->modules_only &&
                           (has_suffix(path, ".json") || has_suffix(path, ".yaml") || has_suffix(path, ".yml")));
            if (stat(path, &st) != 0) {
                if (wanted) { /* a file we do not read may be anything, even a dangling link */
                    snprintf(err, errlen, "%s: %s", path, strerror(errno));
                    rc = -1;
                }
            } else if (S_ISDIR(st.st_mode)) {
                if (ndpath >= 64) {
                    snprintf(err, errlen, "%s: directories nested too deep", path);
                    rc = -1;
                } else {
                    dpath[ndpath] = ents[i]->d_name;
                    rc = load_dir(ps, path, dpath, ndpath + 1, syn, err, errlen);
                }
            } else if (S_ISREG(st.st_mode)) {
                rc = load_file(ps, path, dpath, ndpath, syn, err, errlen);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

void rego_bundle_init(rego_bundle *b) { memset(b, 0, sizeof *b); }

int rego_bundle_add(rego_bundle *ps, const char *path, rego_syntax syn, char *err, size_t errlen)
{
    char *dpath[65];
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) return load_dir(ps, path, dpath, 0, syn, err, errlen);
    if (has_suffix(path, ".rego")) return load_file(ps, path, dpath, 0, syn, err, errlen);
    rv *doc = rego_read_document(path, err, errlen); /* any other name: a JSON document */
    if (!doc) return -1;
    int rc = merge_at(ps, dpath, 0, doc, path, err, errlen);
    rv_unref(doc);
    return rc;
}

int rego_bundle_load(rego_bundle *ps, const char *dir, const char *data_file, rego_syntax syn, char *err, size_t errlen)
{
    rego_bundle_init(ps);
    int rc = 0;
    if (dir) rc = rego_bundle_add(ps, dir, syn, err, errlen);
    if (rc == 0 && data_file) rc = rego_bundle_add(ps, data_file, syn, err, errlen);
    if (rc == 0 && !ps->data) ps->data = rv_object_new(0);
    return rc;
}

rv *rego_read_document(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = rego_read_file(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char eb[512] = "";
    rv *doc = has_suffix(path, ".yaml") || has_suffix(path, ".yml") ? rego_yaml_parse(text, len, eb, sizeof eb)
                                                                    : rv_from_json_text(text, len, eb, sizeof eb);
    free(text);
    if (!doc) snprintf(err, errlen, "%s: %s", path, eb);
    return doc;
}
