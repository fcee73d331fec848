/* Rego compiler: modules -> rule tree, names resolved, bodies ordered for safety.
 *
 * Steps: parse every module; insert each rule into the virtual document tree
 * (rnode) at package path + the static prefix of its head ref; then for each rule
 * resolve names (locals, imports, rule names of the package, input/data), give every
 * variable a frame slot, resolve calls (user functions or builtins), and reorder
 * each body so that every expression only runs once the variables it needs are
 * bound (OPA's safety analysis; failure is rego_unsafe_var_error). Finally a DFS
 * over rule dependencies reports recursion (rego_recursion_error).
 *
 * The resulting policy is immutable; eval.c only reads it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/alloc.h"
#include "rego/rego_int.h"

/* ------------------------------------------------------------ tree */
rnode *rego_node_child(const rnode *n, const char *name)
{
    int lo = 0, hi = n->nkids;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(n->kids[mid]->name, name);
        if (c == 0) return n->kids[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static rnode *node_get(rego_policy *pol, rnode *n, const char *name)
{
    rnode *c = rego_node_child(n, name);
    if (c) return c;
    c = ar_alloc(&pol->ar, sizeof(rnode));
    c->name = ar_strndup(&pol->ar, name, strlen(name));
    c->key = ar_keep(&pol->ar, rv_cstring(name));
    c->parent = n;
    c->id = pol->nnodes++;
    size_t pl = strlen(n->path) + strlen(name) + 2;
    char *path = ar_alloc(&pol->ar, pl);
    snprintf(path, pl, "%s.%s", n->path, name);
    c->path = path;
    rnode **k = ar_alloc(&pol->ar, (size_t)(n->nkids + 1) * sizeof(rnode *));
    int i = 0, j = 0;
    while (i < n->nkids && strcmp(n->kids[i]->name, name) < 0) k[j++] = n->kids[i++];
    k[j++] = c;
    while (i < n->nkids) k[j++] = n->kids[i++];
    n->kids = k;
    n->nkids++;
    return c;
}

static void node_add_rule(rego_policy *pol, rnode *n, rule *r)
{
    if (r->is_default) {
        n->def = r;
        return;
    }
    rule **v = ar_alloc(&pol->ar, (size_t)(n->nrules + 1) * sizeof(rule *));
    if (n->nrules) memcpy(v, n->rules, (size_t)n->nrules * sizeof(rule *));
    v[n->nrules++] = r;
    n->rules = v;
}

/* ------------------------------------------------------------ per-rule compile context */
typedef struct {
    const char *name;
    int slot;
} slotent;

typedef struct {
    const rego_policy *pol;
    arena *ar;
    module *mod;
    rego_error *err;
    slotent *slots;
    int nslots, capslots;
    const char **declared; /* names declared local */
    int ndecl, capdecl;
    int *occ; /* occurrences per slot, whole rule */
    int capocc;
    bool failed;
    bool relaxed;     /* closures may treat unbound shared vars as their own */
    int scope_seq;    /* scope_body renames */
    body *scope_body; /* what scope_body works on: a rule (or query) body ... */
    rule *scope_rule; /* ... and its rule */
} cctx;

static void cerr(cctx *c, const char *code, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#include <stdarg.h>
static void cerr(cctx *c, const char *code, int line, int col, const char *fmt, ...)
{
    if (c->failed) return;
    c->failed = true;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rego_set_error(c->err, code, c->mod ? c->mod->file : "", line, col, "%s", msg);
}

/* user-visible name of a var (closure-scoped vars are renamed `x$N`, see scope_body) */
static const char *display_name(const char *name)
{
    static __thread char buf[256];
    const char *d = strchr(name, '$');
    if (!d) return name;
    snprintf(buf, sizeof buf, "%.*s", (int)(d - name), name);
    return buf;
}

static void declare(cctx *c, const char *name)
{
    for (int i = 0; i < c->ndecl; i++)
        if (strcmp(c->declared[i], name) == 0) return;
    if (c->ndecl == c->capdecl) {
        c->capdecl = c->capdecl ? c->capdecl * 2 : 16;
        c->declared = rego_xrealloc(c->declared, (size_t)c->capdecl * sizeof(char *));
    }
    c->declared[c->ndecl++] = name;
}
static bool is_declared(cctx *c, const char *name)
{
    for (int i = 0; i < c->ndecl; i++)
        if (strcmp(c->declared[i], name) == 0) return true;
    return false;
}

static int slot_for(cctx *c, const char *name, bool wildcard)
{
    if (!wildcard)
        for (int i = 0; i < c->nslots; i++)
            if (c->slots[i].name && strcmp(c->slots[i].name, name) == 0) return i;
    if (c->nslots == c->capslots) {
        c->capslots = c->capslots ? c->capslots * 2 : 16;
        c->slots = rego_xrealloc(c->slots, (size_t)c->capslots * sizeof(slotent));
    }
    c->slots[c->nslots].name = wildcard ? NULL : name;
    c->slots[c->nslots].slot = c->nslots;
    return c->nslots++;
}

/* collect names declared by patterns (:= lhs, some, some-in, every, args) */
static void declare_pattern_vars(cctx *c, term *t)
{
    if (!t) return;
    if (t->kind == T_VAR) {
        if (!t->wildcard) declare(c, t->name);
    } else if (t->kind == T_ARRAY) {
        for (int i = 0; i < t->n; i++) declare_pattern_vars(c, t->items[i]);
    } else if (t->kind == T_OBJECT) {
        for (int i = 1; i < t->n; i += 2) declare_pattern_vars(c, t->items[i]);
    }
}

/* Calls fn on every body nested in t (comprehensions, at any depth of t's items). */
static void each_nested_body(cctx *c, term *t, void (*fn)(cctx *, body *))
{
    if (!t) return;
    if (t->body) fn(c, t->body);
    for (int i = 0; i < t->n; i++) each_nested_body(c, t->items[i], fn);
}

static void declare_body(cctx *c, body *b);
static void declare_term(cctx *c, term *t) { each_nested_body(c, t, declare_body); }
static void declare_body(cctx *c, body *b)
{
    if (!b) return;
    for (int i = 0; i < b->n; i++) {
        expr *e = b->exprs[i];
        if (e->kind == E_ASSIGN) declare_pattern_vars(c, e->a);
        if (e->kind == E_SOME_DECL)
            for (int j = 0; j < e->ndecl; j++) declare(c, e->decl[j]->name);
        if (e->kind == E_SOME_IN || e->kind == E_EVERY) {
            declare_pattern_vars(c, e->k);
            declare_pattern_vars(c, e->v);
        }
        declare_term(c, e->a);
        declare_term(c, e->b);
        declare_term(c, e->coll);
        if (e->body) declare_body(c, e->body);
        for (int j = 0; j < e->nwith; j++) declare_term(c, e->withs[j].value);
    }
}

/* is `name` a rule root in the module's package? */
static bool is_pkg_rule(cctx *c, const char *name)
{
    const rego_policy *pol = c->pol;
    /* walk package path from root */
    const char *p = c->mod->pkgpath + 4; /* skip "data" */
    const rnode *n = pol->root;
    while (*p == '.') {
        p++;
        const char *d = strchr(p, '.');
        size_t len = d ? (size_t)(d - p) : strlen(p);
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)len, p);
        n = rego_node_child(n, buf);
        if (!n) return false;
        p += len;
    }
    /* only rules defined in this package count (not nested packages) */
    for (int i = 0; i < c->mod->nrules; i++) (void)0;
    const rnode *k = rego_node_child(n, name);
    if (!k) return false;
    /* a child created by a rule of some module with the same package */
    for (int m = 0; m < pol->nmods; m++) {
        module *mm = pol->mods[m];
        if (strcmp(mm->pkgpath, c->mod->pkgpath) != 0) continue;
        for (int r = 0; r < mm->nrules; r++)
            if (strcmp(rv_str(mm->rules[r]->ref[0]->val), name) == 0) return true;
    }
    return false;
}

static term *mk_str_term(cctx *c, const char *s, size_t n, int line, int col)
{
    term *t = ar_alloc(c->ar, sizeof(term));
    t->kind = T_VAL;
    t->val = ar_keep(c->ar, rv_string(s, n));
    t->ground = 1;
    t->line = line;
    t->col = col;
    t->slot = -1;
    return t;
}

/* build path terms for "data.a.b" (skip root) */
static int path_terms(cctx *c, const char *path, term ***out, int line, int col)
{
    int n = 0;
    for (const char *p = path; *p; p++)
        if (*p == '.') n++;
    term **v = ar_alloc(c->ar, (size_t)(n + 1) * sizeof(term *));
    int i = 0;
    const char *p = strchr(path, '.');
    while (p) {
        p++;
        const char *d = strchr(p, '.');
        size_t len = d ? (size_t)(d - p) : strlen(p);
        v[i++] = mk_str_term(c, p, len, line, col);
        p = d;
    }
    *out = v;
    return i;
}

/* Turn t into a ref with root and path = prefix ++ rest. */
static void make_ref(cctx *c, term *t, int root, term **prefix, int nprefix, term **rest, int nrest)
{
    term **items = ar_alloc(c->ar, (size_t)(1 + nprefix + nrest) * sizeof(term *));
    term *h = ar_alloc(c->ar, sizeof(term));
    h->kind = T_VAR;
    h->name = root == ROOT_DATA ? "data" : "input";
    h->slot = -1;
    items[0] = h;
    for (int i = 0; i < nprefix; i++) items[1 + i] = prefix[i];
    for (int i = 0; i < nrest; i++) items[1 + nprefix + i] = rest[i];
    t->kind = T_REF;
    t->root = (uint8_t)root;
    t->items = items;
    t->n = 1 + nprefix + nrest;
    t->name = NULL;
}

static void resolve_term(cctx *c, term *t);
static void resolve_body(cctx *c, body *b);

/* Resolve a name used as a ref head. Returns true if it became a global ref. */
static bool resolve_global_name(cctx *c, term *t, const char *name, term **rest, int nrest)
{
    if (strcmp(name, "input") == 0) {
        make_ref(c, t, ROOT_INPUT, NULL, 0, rest, nrest);
        return true;
    }
    if (strcmp(name, "data") == 0) {
        make_ref(c, t, ROOT_DATA, NULL, 0, rest, nrest);
        return true;
    }
    if (is_declared(c, name)) return false;
    for (int i = c->mod->nimports - 1; i >= 0; i--) {
        import_decl *im = &c->mod->imports[i];
        if (strcmp(im->alias, name) != 0) continue;
        term *r = im->ref;
        const char *root = r->kind == T_VAR ? r->name : r->items[0]->name;
        int nprefix = r->kind == T_VAR ? 0 : r->n - 1;
        term **prefix = r->kind == T_VAR ? NULL : r->items + 1;
        make_ref(c, t, strcmp(root, "data") == 0 ? ROOT_DATA : ROOT_INPUT, prefix, nprefix, rest, nrest);
        return true;
    }
    if (is_pkg_rule(c, name)) {
        term **pre;
        int np = path_terms(c, c->mod->pkgpath, &pre, t->line, t->col);
        term **pre2 = ar_alloc(c->ar, (size_t)(np + 1) * sizeof(term *));
        memcpy(pre2, pre, (size_t)np * sizeof(term *));
        pre2[np] = mk_str_term(c, name, strlen(name), t->line, t->col);
        make_ref(c, t, ROOT_DATA, pre2, np + 1, rest, nrest);
        return true;
    }
    return false;
}

static rnode *find_node_path(const rego_policy *pol, const char *path)
{
    /* path "data.a.b" */
    const rnode *n = pol->root;
    const char *p = strchr(path, '.');
    if (strncmp(path, "data", 4) != 0) return NULL;
    while (p) {
        p++;
        const char *d = strchr(p, '.');
        size_t len = d ? (size_t)(d - p) : strlen(p);
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)len, p);
        n = rego_node_child(n, buf);
        if (!n) return NULL;
        p = d;
    }
    return (rnode *)n;
}

static void resolve_call(cctx *c, term *t)
{
    const char *name = t->name;
    char full[512];
    full[0] = 0;
    const char *dot = strchr(name, '.');
    size_t flen = dot ? (size_t)(dot - name) : strlen(name);
    char first[256];
    snprintf(first, sizeof first, "%.*s", (int)flen, name);
    const char *restp = dot ? dot : "";
    if (strcmp(first, "data") == 0) snprintf(full, sizeof full, "%s", name);
    else {
        bool found = false;
        for (int i = c->mod->nimports - 1; i >= 0 && !found; i--) {
            import_decl *im = &c->mod->imports[i];
            if (strcmp(im->alias, first) != 0) continue;
            term *r = im->ref;
            if (r->kind != T_REF || strcmp(r->items[0]->name, "data") != 0) continue;
            size_t n = (size_t)snprintf(full, sizeof full, "data");
            for (int j = 1; j < r->n && n < sizeof full; j++)
                n += (size_t)snprintf(full + n, sizeof full - n, ".%s", rv_str(r->items[j]->val));
            if (n < sizeof full) snprintf(full + n, sizeof full - n, "%s", restp); /* else: truncated */
            found = true;
        }
        if (!found && is_pkg_rule(c, first)) snprintf(full, sizeof full, "%s.%s", c->mod->pkgpath, name);
    }
    if (full[0]) {
        rnode *n = find_node_path(c->pol, full);
        if (n && n->is_func) {
            t->fn = n;
            t->name = n->path;
            return;
        }
        if (n && (n->nrules || n->def)) {
            cerr(c, "rego_type_error", t->line, t->col, "%s is not a function", full);
            return;
        }
    }
    if (strcmp(name, "walk") == 0) t->special = SP_WALK;
    else if (strcmp(name, "print") == 0) t->special = SP_PRINT;
    else if (strcmp(name, "internal.member_2") == 0) t->special = SP_MEMBER2;
    else if (strcmp(name, "internal.member_3") == 0) t->special = SP_MEMBER3;
    if (t->special == SP_PRINT) return;
    t->bi = rego_builtin_find(name);
    /* member/walk are evaluated by the evaluator even without a table entry */
    if (!t->bi && !t->special) {
        if (c->err && !c->failed) snprintf(c->err->missing_function, sizeof c->err->missing_function, "%s", name);
        cerr(c, "rego_type_error", t->line, t->col, "undefined function %s", name);
        return;
    }
    int want = t->bi ? t->bi->nargs : rego_special_nargs(t->special);
    if (t->n != want && t->n != want + 1) {
        cerr(c, "rego_type_error", t->line, t->col, "%s: arity mismatch", name); /* OPA's text */
    }
}

static void count_occ(cctx *c, int slot)
{
    if (slot >= c->capocc) {
        int n = c->capocc ? c->capocc : 16;
        while (n <= slot) n *= 2;
        c->occ = rego_xrealloc(c->occ, (size_t)n * sizeof(int));
        memset(c->occ + c->capocc, 0, (size_t)(n - c->capocc) * sizeof(int));
        c->capocc = n;
    }
    c->occ[slot]++;
}

static void resolve_term(cctx *c, term *t)
{
    if (!t || c->failed) return;
    switch (t->kind) {
    case T_VAL: return;
    case T_VAR:
        if (resolve_global_name(c, t, t->name, NULL, 0)) return;
        t->slot = slot_for(c, t->name, t->wildcard);
        count_occ(c, t->slot);
        return;
    case T_REF: {
        term *h = t->items[0];
        if (h->kind == T_VAR && !h->root) {
            term tmp = *h;
            if (resolve_global_name(c, &tmp, h->name, t->items + 1, t->n - 1)) {
                t->root = tmp.root;
                t->items = tmp.items;
                t->n = tmp.n;
                for (int i = 1; i < t->n; i++) resolve_term(c, t->items[i]);
                return;
            }
        }
        t->root = ROOT_LOCAL;
        for (int i = 0; i < t->n; i++) resolve_term(c, t->items[i]);
        return;
    }
    case T_CALL:
        for (int i = 0; i < t->n; i++) resolve_term(c, t->items[i]);
        resolve_call(c, t);
        return;
    default:
        for (int i = 0; i < t->n; i++) resolve_term(c, t->items[i]);
        if (t->body) resolve_body(c, t->body);
        return;
    }
}

static void resolve_body(cctx *c, body *b)
{
    if (!b) return;
    for (int i = 0; i < b->n && !c->failed; i++) {
        expr *e = b->exprs[i];
        resolve_term(c, e->a);
        resolve_term(c, e->b);
        resolve_term(c, e->k);
        resolve_term(c, e->v);
        resolve_term(c, e->coll);
        for (int j = 0; j < e->ndecl; j++) resolve_term(c, e->decl[j]);
        if (e->body) resolve_body(c, e->body);
        for (int j = 0; j < e->nwith; j++) {
            /* with targets: keep as refs (input..., data..., or function names) */
            term *tg = e->withs[j].target;
            if (tg->kind == T_VAR && (strcmp(tg->name, "input") == 0 || strcmp(tg->name, "data") == 0))
                make_ref(c, tg, tg->name[0] == 'i' ? ROOT_INPUT : ROOT_DATA, NULL, 0, NULL, 0);
            else if (tg->kind == T_REF && tg->items[0]->kind == T_VAR &&
                     (strcmp(tg->items[0]->name, "input") == 0 || strcmp(tg->items[0]->name, "data") == 0)) {
                tg->root = tg->items[0]->name[0] == 'i' ? ROOT_INPUT : ROOT_DATA;
            } else {
                /* function / builtin mock: resolve like a call name */
                char name[256];
                size_t n = 0;
                if (tg->kind == T_VAR) n = (size_t)snprintf(name, sizeof name, "%s", tg->name);
                else if (tg->kind == T_REF && tg->items[0]->kind == T_VAR) {
                    n = (size_t)snprintf(name, sizeof name, "%s", tg->items[0]->name);
                    for (int k = 1; k < tg->n; k++)
                        if (tg->items[k]->kind == T_VAL && rv_typeof(tg->items[k]->val) == RV_STRING)
                            if (n < sizeof name)
                                n += (size_t)snprintf(name + n, sizeof name - n, ".%s", rv_str(tg->items[k]->val));
                }
                term *ct = ar_alloc(c->ar, sizeof(term));
                ct->kind = T_CALL;
                if (n >= sizeof name) n = sizeof name - 1; /* snprintf's wanted length: clamp */
                ct->name = ar_strndup(c->ar, name, n);
                ct->line = tg->line;
                ct->col = tg->col;
                ct->slot = -1;
                ct->n = -1; /* arity unknown: skip checks */
                {
                    /* resolve without arity check */
                    rego_error *save = c->err;
                    rego_error tmp = {0};
                    c->err = &tmp;
                    bool f = c->failed;
                    resolve_call(c, ct);
                    c->err = save;
                    if (!f && c->failed && !ct->bi && !ct->fn && !ct->special) {
                        c->failed = false;
                        cerr(c, "rego_compile_error", tg->line, tg->col,
                             "with keyword replacing %s: not a function or data/input ref", name);
                        /* most likely a builtin we do not have (e.g. http.send) */
                        if (c->err && !strchr(name, '[') && strncmp(name, "data.", 5) != 0)
                            snprintf(c->err->missing_function, sizeof c->err->missing_function, "%.127s", name);
                    } else c->failed = f;
                }
                ct->n = 0;
                e->withs[j].target = ct;
                /* a replacement naming a function or builtin (not a local var) */
                term *vt = e->withs[j].value;
                term *head = vt->kind == T_REF ? vt->items[0] : vt;
                if (!c->failed && head->kind == T_VAR && !is_declared(c, head->name)) {
                    char vname[256];
                    size_t vn = (size_t)snprintf(vname, sizeof vname, "%s", head->name);
                    bool ok = true;
                    for (int k = 1; vt->kind == T_REF && k < vt->n; k++) {
                        if (vt->items[k]->kind != T_VAL || rv_typeof(vt->items[k]->val) != RV_STRING) ok = false;
                        else if (vn < sizeof vname)
                            vn += (size_t)snprintf(vname + vn, sizeof vname - vn, ".%s", rv_str(vt->items[k]->val));
                    }
                    if (ok && strcmp(head->name, "input") != 0) {
                        term *ft = ar_alloc(c->ar, sizeof(term));
                        ft->kind = T_CALL;
                        if (vn >= sizeof vname) vn = sizeof vname - 1;
                        ft->name = ar_strndup(c->ar, vname, vn);
                        ft->line = vt->line;
                        ft->col = vt->col;
                        ft->slot = -1;
                        ft->n = -1;
                        rego_error *save = c->err;
                        rego_error tmp = {0};
                        c->err = &tmp;
                        bool f = c->failed;
                        resolve_call(c, ft);
                        c->err = save;
                        c->failed = f;
                        ft->n = 0;
                        if (ft->fn || ft->bi || ft->special) {
                            ft->kind = T_FREF;
                            e->withs[j].value = ft;
                            continue;
                        }
                    }
                }
            }
            resolve_term(c, e->withs[j].value);
        }
    }
}

/* ------------------------------------------------------------ safety */
typedef struct {
    unsigned char *b;
    int n;
} bset;

static bool bound(const bset *s, int slot) { return slot >= 0 && slot < s->n && s->b[slot]; }

static bool can_eval(cctx *c, term *t, const bset *B);

/* vars of a comprehension/every/not that are shared with the rest of the rule */
static void count_term_occ(term *t, int *cnt, int n);
static void count_body_occ(body *b, int *cnt, int n)
{
    if (!b) return;
    for (int i = 0; i < b->n; i++) {
        expr *e = b->exprs[i];
        count_term_occ(e->a, cnt, n);
        count_term_occ(e->b, cnt, n);
        count_term_occ(e->k, cnt, n);
        count_term_occ(e->v, cnt, n);
        count_term_occ(e->coll, cnt, n);
        count_body_occ(e->body, cnt, n);
        for (int j = 0; j < e->nwith; j++) count_term_occ(e->withs[j].value, cnt, n);
    }
}
static void count_term_occ(term *t, int *cnt, int n)
{
    if (!t) return;
    if (t->kind == T_VAR && t->slot >= 0 && t->slot < n) cnt[t->slot]++;
    for (int i = 0; i < t->n; i++) count_term_occ(t->items[i], cnt, n);
    if (t->body) count_body_occ(t->body, cnt, n);
}

/* true if every var of the closure that also occurs outside it is bound */
static bool closure_ok(cctx *c, term *t, body *b, expr *e, const bset *B)
{
    int n = c->nslots;
    int *cnt = rego_xcalloc((size_t)n + 1, sizeof(int));
    if (t) count_term_occ(t, cnt, n);
    if (b) count_body_occ(b, cnt, n);
    if (e) {
        count_term_occ(e->a, cnt, n);
        count_term_occ(e->b, cnt, n);
        count_term_occ(e->k, cnt, n);
        count_term_occ(e->v, cnt, n);
        count_term_occ(e->coll, cnt, n);
        count_body_occ(e->body, cnt, n);
        for (int j = 0; j < e->nwith; j++) count_term_occ(e->withs[j].value, cnt, n);
    }
    bool ok = true;
    for (int i = 0; i < n && ok && !c->relaxed; i++)
        if (cnt[i] && c->occ[i] > cnt[i] && !bound(B, i) && c->slots[i].name) ok = false;
    free(cnt);
    return ok;
}

static bool can_eval(cctx *c, term *t, const bset *B)
{
    switch (t->kind) {
    case T_VAL:
    case T_FREF: return true;
    case T_VAR: return t->slot < 0 || bound(B, t->slot);
    case T_REF:
        if (t->root == ROOT_LOCAL && !can_eval(c, t->items[0], B)) return false;
        for (int i = 1; i < t->n; i++) {
            term *p = t->items[i];
            if (p->kind == T_VAR) continue;
            if (p->kind == T_ARRAY || p->kind == T_OBJECT) continue; /* patterns in refs */
            if (!can_eval(c, p, B)) return false;
        }
        return true;
    case T_ARRAY:
    case T_SET:
    case T_OBJECT:
    case T_CALL:
        for (int i = 0; i < t->n; i++)
            if (!can_eval(c, t->items[i], B)) return false;
        return true;
    default: return closure_ok(c, t, NULL, NULL, B);
    }
}

static void add_outputs(term *t, bset *out, const bset *B)
{
    if (!t) return;
    if (t->kind == T_REF) {
        for (int i = 1; i < t->n; i++) {
            term *p = t->items[i];
            if (p->kind == T_VAR && p->slot >= 0 && !bound(B, p->slot)) out->b[p->slot] = 1;
            else if (p->kind == T_ARRAY || p->kind == T_OBJECT) {
                /* pattern inside ref: its vars bind */
                for (int j = 0; j < p->n; j++)
                    if (p->items[j]->kind == T_VAR && p->items[j]->slot >= 0) out->b[p->items[j]->slot] = 1;
            } else add_outputs(p, out, B);
        }
        if (t->root == ROOT_LOCAL) add_outputs(t->items[0], out, B);
        return;
    }
    if (t->kind == T_ARRAY || t->kind == T_SET || t->kind == T_OBJECT || t->kind == T_CALL)
        for (int i = 0; i < t->n; i++) add_outputs(t->items[i], out, B);
}

static bool pattern_ok(cctx *c, term *t, const bset *B)
{
    if (t->kind == T_VAR) return true;
    if (t->kind == T_ARRAY) {
        for (int i = 0; i < t->n; i++)
            if (!pattern_ok(c, t->items[i], B)) return false;
        return true;
    }
    if (t->kind == T_OBJECT) {
        for (int i = 0; i < t->n; i += 2)
            if (!can_eval(c, t->items[i], B) || !pattern_ok(c, t->items[i + 1], B)) return false;
        return true;
    }
    return can_eval(c, t, B);
}

static void pattern_binds(term *t, bset *out, const bset *B)
{
    if (t->kind == T_VAR) {
        if (t->slot >= 0) out->b[t->slot] = 1;
        return;
    }
    if (t->kind == T_ARRAY) {
        for (int i = 0; i < t->n; i++) pattern_binds(t->items[i], out, B);
        return;
    }
    if (t->kind == T_OBJECT) {
        for (int i = 1; i < t->n; i += 2) pattern_binds(t->items[i], out, B);
        return;
    }
    add_outputs(t, out, B);
}

int rego_special_nargs(int special)
{
    return special == SP_WALK ? 1 : special == SP_MEMBER2 ? 2 : special == SP_MEMBER3 ? 3 : -1;
}

int rego_call_arity(const term *t)
{
    if (t->bi) return t->bi->nargs;
    if (t->fn) {
        rule *r = t->fn->nrules ? t->fn->rules[0] : t->fn->def;
        return r ? r->nargs : t->n;
    }
    int special = rego_special_nargs(t->special);
    return special >= 0 ? special : t->n;
}

static bool unify_safe(cctx *c, term *a, term *b, const bset *B, bset *out)
{
    if (can_eval(c, a, B) && pattern_ok(c, b, B)) {
        add_outputs(a, out, B);
        pattern_binds(b, out, B);
        return true;
    }
    if (can_eval(c, b, B) && pattern_ok(c, a, B)) {
        add_outputs(b, out, B);
        pattern_binds(a, out, B);
        return true;
    }
    if (a->kind == T_OBJECT && b->kind == T_OBJECT && a->n == b->n) {
        /* pair values by constant keys */
        term *va[64], *vb[64];
        int np = 0;
        for (int i = 0; i < a->n && np < 64; i += 2) {
            if (a->items[i]->kind != T_VAL) return false;
            int j;
            for (j = 0; j < b->n; j += 2)
                if (b->items[j]->kind == T_VAL && rv_equal(a->items[i]->val, b->items[j]->val)) break;
            if (j >= b->n) return true; /* never unifies: safe, binds nothing */
            va[np] = a->items[i + 1];
            vb[np] = b->items[j + 1];
            np++;
        }
        term ta = {.kind = T_ARRAY, .items = va, .n = np}, tb = {.kind = T_ARRAY, .items = vb, .n = np};
        return unify_safe(c, &ta, &tb, B, out);
    }
    if (a->kind == T_ARRAY && b->kind == T_ARRAY && a->n == b->n) {
        bset cur = {rego_xcalloc((size_t)B->n + 1, 1), B->n};
        memcpy(cur.b, B->b, (size_t)B->n);
        char *done = rego_xcalloc((size_t)a->n + 1, 1);
        int left = a->n;
        bool progress = true;
        while (left && progress) {
            progress = false;
            for (int i = 0; i < a->n; i++) {
                if (done[i]) continue;
                bset o = {rego_xcalloc((size_t)B->n + 1, 1), B->n};
                if (unify_safe(c, a->items[i], b->items[i], &cur, &o)) {
                    for (int j = 0; j < B->n; j++)
                        if (o.b[j]) cur.b[j] = out->b[j] = 1;
                    done[i] = 1;
                    left--;
                    progress = true;
                }
                free(o.b);
            }
        }
        free(cur.b);
        free(done);
        return left == 0;
    }
    return false;
}

static term *first_unbound_open(term *t, const bset *B);
static bool expr_safe(cctx *c, expr *e, const bset *B, bset *out)
{
    for (int j = 0; j < e->nwith; j++)
        if (!can_eval(c, e->withs[j].value, B)) return false;
    if (e->neg) {
        /* OPA: a negated expression binds nothing, so all its vars (closures aside,
         * `_` included) must be bound before it */
        if (first_unbound_open(e->a, B) || first_unbound_open(e->b, B)) return false;
        bset tmp = {rego_xcalloc((size_t)B->n + 1, 1), B->n};
        expr pos = *e;
        pos.neg = 0;
        bool ok = expr_safe(c, &pos, B, &tmp);
        free(tmp.b);
        return ok && closure_ok(c, NULL, NULL, e, B);
    }
    switch (e->kind) {
    case E_SOME_DECL: return true;
    case E_SOME_IN:
        if (!can_eval(c, e->coll, B)) return false;
        if (e->k && !pattern_ok(c, e->k, B)) return false;
        if (!pattern_ok(c, e->v, B)) return false;
        add_outputs(e->coll, out, B);
        if (e->k) pattern_binds(e->k, out, B);
        pattern_binds(e->v, out, B);
        return true;
    case E_EVERY:
        if (!can_eval(c, e->coll, B)) return false;
        return closure_ok(c, NULL, NULL, e, B);
    case E_NOT_BODY: return closure_ok(c, NULL, NULL, e, B);
    case E_UNIFY:
    case E_ASSIGN: return unify_safe(c, e->a, e->b, B, out);
    case E_TERM: {
        term *t = e->a;
        if (t->kind == T_CALL) {
            int ar = rego_call_arity(t);
            int nin = t->n > ar ? ar : t->n;
            /* vars bound by refs in the args may be args too: `x == xs[x]` */
            bset BO = {rego_xcalloc((size_t)B->n + 1, 1), B->n};
            memcpy(BO.b, B->b, (size_t)B->n);
            for (int i = 0; i < nin; i++)
                if (t->items[i]->kind == T_REF && can_eval(c, t->items[i], B)) add_outputs(t->items[i], &BO, B);
            bool ok = true;
            for (int i = 0; i < nin && ok; i++)
                ok = t->items[i]->kind == T_VAR ? can_eval(c, t->items[i], &BO) : can_eval(c, t->items[i], B);
            free(BO.b);
            if (!ok) return false;
            for (int i = 0; i < nin; i++) add_outputs(t->items[i], out, B);
            if (t->n > ar) {
                if (!pattern_ok(c, t->items[ar], B)) return false;
                pattern_binds(t->items[ar], out, B);
            }
            return true;
        }
        if (!can_eval(c, t, B)) return false;
        add_outputs(t, out, B);
        return true;
    }
    }
    return false;
}

/* first unbound var in an expression, for the error message */
static term *first_unbound(term *t, const bset *B)
{
    if (!t) return NULL;
    if (t->kind == T_VAR && t->slot >= 0 && !bound(B, t->slot)) return t;
    for (int i = 0; i < t->n; i++) {
        term *r = first_unbound(t->items[i], B);
        if (r) return r;
    }
    return NULL;
}

/* same, not looking into closures (order_nested_term checks their heads in their scope) */
static term *first_unbound_open(term *t, const bset *B)
{
    if (!t || t->body) return NULL;
    if (t->kind == T_VAR && t->slot >= 0 && !bound(B, t->slot)) return t;
    for (int i = 0; i < t->n; i++) {
        term *r = first_unbound_open(t->items[i], B);
        if (r) return r;
    }
    return NULL;
}

static void order_body(cctx *c, body *b, bset *B);

static void order_nested_term(cctx *c, term *t, bset *B)
{
    if (!t || c->failed) return;
    if (t->body) {
        bset inner = {rego_xcalloc((size_t)B->n + 1, 1), B->n};
        memcpy(inner.b, B->b, (size_t)B->n);
        order_body(c, t->body, &inner);
        for (int i = 0; i < t->n && !c->failed; i++) {
            order_nested_term(c, t->items[i], &inner);
            term *u = first_unbound_open(t->items[i], &inner);
            if (u && !c->failed)
                cerr(c, "rego_unsafe_var_error", u->line, u->col, "var %s is unsafe", display_name(u->name));
        }
        free(inner.b);
        return;
    }
    for (int i = 0; i < t->n; i++) order_nested_term(c, t->items[i], B);
}

static void order_body(cctx *c, body *b, bset *B)
{
    if (!b || c->failed) return;
    int n = b->n;
    expr **in = rego_xmalloc((size_t)(n ? n : 1) * sizeof(expr *));
    memcpy(in, b->exprs, (size_t)n * sizeof(expr *));
    char *placed = rego_xcalloc((size_t)n + 1, 1);
    int k = 0;
    while (k < n) {
        int pick = -1;
        bset out = {rego_xcalloc((size_t)B->n + 1, 1), B->n};
        for (int i = 0; i < n; i++) {
            if (placed[i]) continue;
            memset(out.b, 0, (size_t)B->n);
            if (expr_safe(c, in[i], B, &out)) {
                pick = i;
                break;
            }
        }
        if (pick < 0 && !c->relaxed) {
            /* a var shared by closures (or declared later) but bound by nothing before
             * them: let the closures own it, as OPA's local-var rewriting does */
            c->relaxed = true;
            for (int i = 0; i < n; i++) {
                if (placed[i]) continue;
                memset(out.b, 0, (size_t)B->n);
                if (expr_safe(c, in[i], B, &out)) {
                    pick = i;
                    break;
                }
            }
            c->relaxed = false;
        }
        if (pick < 0) {
            free(out.b);
            /* report the first unbound var of the first unplaced expr */
            for (int i = 0; i < n; i++) {
                if (placed[i]) continue;
                expr *e = in[i];
                /* `x := y`: y is the unsafe one (x is being declared) */
                term *u = e->kind == E_ASSIGN ? first_unbound(e->b, B) : NULL;
                if (!u) u = first_unbound(e->a, B);
                if (!u) u = first_unbound(e->b, B);
                if (!u) u = first_unbound(e->coll, B);
                for (int j = 0; !u && j < e->nwith; j++) u = first_unbound(e->withs[j].value, B);
                if (u) { /* OPA reports the expression's position */
                    cerr(c, "rego_unsafe_var_error", e->line, e->col, "var %s is unsafe", display_name(u->name));
                    break;
                }
            }
            if (!c->failed) cerr(c, "rego_unsafe_var_error", in[0]->line, in[0]->col, "expression is unsafe");
            break;
        }
        expr *e = in[pick];
        placed[pick] = 1;
        b->exprs[k++] = e;
        /* nested bodies see the vars bound before this expression */
        order_nested_term(c, e->a, B);
        order_nested_term(c, e->b, B);
        order_nested_term(c, e->coll, B);
        for (int j = 0; j < e->nwith; j++) order_nested_term(c, e->withs[j].value, B);
        if (e->kind == E_EVERY || e->kind == E_NOT_BODY) {
            bset inner = {rego_xcalloc((size_t)B->n + 1, 1), B->n};
            memcpy(inner.b, B->b, (size_t)B->n);
            if (e->k) pattern_binds(e->k, &inner, B);
            if (e->v) pattern_binds(e->v, &inner, B);
            order_body(c, e->body, &inner);
            free(inner.b);
        }
        if (!e->neg)
            for (int j = 0; j < B->n; j++)
                if (out.b[j]) B->b[j] = 1;
        free(out.b);
        if (c->failed) break;
    }
    free(in);
    free(placed);
}

/* ------------------------------------------------------------ closure scoping
 * OPA renames `:=`/`some` declared vars from the declaration on, so a closure
 * (comprehension, every, not-body) textually before `x := ...` in the same body
 * has its own `x`. Slots here are one per name per rule, so such closure vars are
 * renamed to `x$N` (`$` never occurs in Rego names; display_name strips it). */
static void rename_term(term *t, const char *from, const char *to);
static void rename_body(body *b, const char *from, const char *to)
{
    if (!b) return;
    for (int i = 0; i < b->n; i++) {
        expr *e = b->exprs[i];
        rename_term(e->a, from, to);
        rename_term(e->b, from, to);
        rename_term(e->k, from, to);
        rename_term(e->v, from, to);
        rename_term(e->coll, from, to);
        for (int j = 0; j < e->ndecl; j++) rename_term(e->decl[j], from, to);
        rename_body(e->body, from, to);
        for (int j = 0; j < e->nwith; j++) rename_term(e->withs[j].value, from, to);
    }
}
static void rename_term(term *t, const char *from, const char *to)
{
    if (!t) return;
    if (t->kind == T_VAR && !t->wildcard && strcmp(t->name, from) == 0) t->name = to;
    for (int i = 0; i < t->n; i++) rename_term(t->items[i], from, to);
    rename_body(t->body, from, to);
}
static bool term_has_var(term *t, const char *name);
static bool body_has_var(body *b, const char *name)
{
    if (!b) return false;
    for (int i = 0; i < b->n; i++) {
        expr *e = b->exprs[i];
        if (term_has_var(e->a, name) || term_has_var(e->b, name) || term_has_var(e->k, name) ||
            term_has_var(e->v, name) || term_has_var(e->coll, name) || body_has_var(e->body, name))
            return true;
        for (int j = 0; j < e->ndecl; j++)
            if (term_has_var(e->decl[j], name)) return true;
        for (int j = 0; j < e->nwith; j++)
            if (term_has_var(e->withs[j].value, name)) return true;
    }
    return false;
}
static bool term_has_var(term *t, const char *name)
{
    if (!t) return false;
    if (t->kind == T_VAR && strcmp(t->name, name) == 0) return true;
    for (int i = 0; i < t->n; i++)
        if (term_has_var(t->items[i], name)) return true;
    return body_has_var(t->body, name);
}

typedef struct {
    const char **v;
    int n, cap;
} namevec;
static void nv_add(namevec *nv, const char *s)
{
    for (int i = 0; i < nv->n; i++)
        if (strcmp(nv->v[i], s) == 0) return;
    if (nv->n == nv->cap) nv->v = rego_xrealloc(nv->v, (size_t)(nv->cap = nv->cap ? nv->cap * 2 : 8) * sizeof(char *));
    nv->v[nv->n++] = s;
}
static bool nv_has(const namevec *nv, const char *s)
{
    for (int i = 0; i < nv->n; i++)
        if (strcmp(nv->v[i], s) == 0) return true;
    return false;
}
static void pattern_names(term *t, namevec *nv)
{
    if (!t) return;
    if (t->kind == T_VAR) {
        if (!t->wildcard) nv_add(nv, t->name);
    } else if (t->kind == T_ARRAY) {
        for (int i = 0; i < t->n; i++) pattern_names(t->items[i], nv);
    } else if (t->kind == T_OBJECT) {
        for (int i = 1; i < t->n; i += 2) pattern_names(t->items[i], nv);
    }
}
static void expr_decl_names(expr *e, namevec *nv)
{
    if (e->kind == E_ASSIGN) pattern_names(e->a, nv);
    if (e->kind == E_SOME_DECL)
        for (int j = 0; j < e->ndecl; j++) pattern_names(e->decl[j], nv);
    if (e->kind == E_SOME_IN) {
        pattern_names(e->k, nv);
        pattern_names(e->v, nv);
    }
}

static int count_name_term(term *t, const char *name);
static int count_name_body(body *b, const char *name)
{
    int n = 0;
    if (!b) return 0;
    for (int i = 0; i < b->n; i++) {
        expr *e = b->exprs[i];
        n += count_name_term(e->a, name) + count_name_term(e->b, name) + count_name_term(e->k, name) +
             count_name_term(e->v, name) + count_name_term(e->coll, name) + count_name_body(e->body, name);
        for (int j = 0; j < e->ndecl; j++) n += count_name_term(e->decl[j], name);
        for (int j = 0; j < e->nwith; j++) n += count_name_term(e->withs[j].value, name);
    }
    return n;
}
static int count_name_term(term *t, const char *name)
{
    if (!t) return 0;
    int n = t->kind == T_VAR && strcmp(t->name, name) == 0;
    for (int i = 0; i < t->n; i++) n += count_name_term(t->items[i], name);
    return n + count_name_body(t->body, name);
}
/* occurrences of name in the whole rule (or query) being compiled */
static int count_name_root(cctx *c, const char *name)
{
    int n = count_name_body(c->scope_body, name);
    rule *r = c->scope_rule;
    if (r) {
        n += count_name_term(r->key, name) + count_name_term(r->value, name);
        for (int i = 0; i < r->nargs; i++) n += count_name_term(r->args[i], name);
        for (int i = 0; i < r->nref; i++) n += count_name_term(r->ref[i], name);
    }
    return n;
}

static void scope_body(cctx *c, body *b);
static void scope_closure_term(cctx *c, term *t, const namevec *later);

/* A var declared inside a closure (`:=`, `some`, every's key/value) is the closure's
 * own, even when the same name is used outside it (OPA's scopes): rename it there. */
static void scope_shadow(cctx *c, term *t, expr *e)
{
    body *b = t ? t->body : e->body;
    namevec d = {0};
    for (int i = 0; b && i < b->n; i++) expr_decl_names(b->exprs[i], &d);
    if (e && e->kind == E_EVERY) {
        pattern_names(e->k, &d);
        pattern_names(e->v, &d);
    }
    for (int i = 0; i < d.n; i++) {
        const char *x = d.v[i];
        int inside = t ? count_name_term(t, x)
                       : count_name_term(e->k, x) + count_name_term(e->v, x) + count_name_body(e->body, x);
        if (count_name_root(c, x) <= inside) continue;
        char buf[300];
        int len = snprintf(buf, sizeof buf, "%s$%d", x, ++c->scope_seq);
        const char *to = ar_strndup(c->ar, buf, (size_t)len);
        if (t) rename_term(t, x, to);
        else {
            rename_term(e->k, x, to);
            rename_term(e->v, x, to);
            rename_body(e->body, x, to);
        }
    }
    free(d.v);
}
/* rename in closure `t` / every-or-not expression `e` the vars declared later */
static void scope_rename(cctx *c, term *t, expr *e, const namevec *later)
{
    for (int i = 0; i < later->n; i++) {
        const char *x = later->v[i];
        bool has =
            t ? term_has_var(t, x) : (term_has_var(e->k, x) || term_has_var(e->v, x) || body_has_var(e->body, x));
        if (!has) continue;
        char buf[300];
        int len = snprintf(buf, sizeof buf, "%s$%d", x, ++c->scope_seq);
        const char *to = ar_strndup(c->ar, buf, (size_t)len);
        if (t) rename_term(t, x, to);
        else {
            rename_term(e->k, x, to);
            rename_term(e->v, x, to);
            rename_body(e->body, x, to);
        }
    }
}
static void scope_closure_term(cctx *c, term *t, const namevec *later)
{
    if (!t) return;
    if (t->body) {
        if (later && later->n) scope_rename(c, t, NULL, later);
        scope_shadow(c, t, NULL);
        scope_body(c, t->body);
        return; /* head terms of the closure are inside its scope */
    }
    for (int i = 0; i < t->n; i++) scope_closure_term(c, t->items[i], later);
}
static void scope_body(cctx *c, body *b)
{
    if (!b) return;
    for (int i = 0; i < b->n; i++) {
        namevec before = {0}, later = {0}, lv = {0};
        for (int j = 0; j <= i; j++) expr_decl_names(b->exprs[j], &before);
        for (int j = i + 1; j < b->n; j++) expr_decl_names(b->exprs[j], &lv);
        for (int j = 0; j < lv.n; j++)
            if (!nv_has(&before, lv.v[j])) nv_add(&later, lv.v[j]);
        expr *e = b->exprs[i];
        scope_closure_term(c, e->a, &later);
        scope_closure_term(c, e->b, &later);
        scope_closure_term(c, e->coll, &later);
        for (int j = 0; j < e->nwith; j++) scope_closure_term(c, e->withs[j].value, &later);
        if (e->body) {
            if (later.n) scope_rename(c, NULL, e, &later);
            scope_shadow(c, NULL, e);
            scope_body(c, e->body);
        }
        free(before.v);
        free(later.v);
        free(lv.v);
    }
}

/* ------------------------------------------------------------ negated expressions
 * OPA binds the "dynamic" terms of every expression to generated vars placed before
 * it (compiler stages RewriteExprTerms and RewriteDynamicTerms): nested calls, refs
 * and comprehensions among a call's arguments, refs inside the operands of `=`/`==`
 * only as ref components. For a negated expression this is visible: those terms are
 * evaluated outside the `not`, so `not startswith(input.missing, "a")` is undefined,
 * while `not input.missing == "a"` is true (issue opa#1877). Runs after safety
 * ordering, so the hoisted expressions only use vars bound before the negation. */
typedef struct {
    expr **v;
    int n, cap;
} exprvec;

static term *hoist_term(cctx *c, term *t, const expr *orig, exprvec *out)
{
    term *v = ar_alloc(c->ar, sizeof(term));
    v->kind = T_VAR;
    v->name = "$neg";
    v->wildcard = 1;
    v->slot = slot_for(c, v->name, true);
    v->line = t->line;
    v->col = t->col;
    expr *x = ar_alloc(c->ar, sizeof(expr));
    x->kind = E_UNIFY;
    x->line = orig->line;
    x->col = orig->col;
    x->a = v;
    x->b = t;
    x->withs = orig->withs;
    x->nwith = orig->nwith;
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 4;
        out->v = rego_xrealloc(out->v, (size_t)out->cap * sizeof(expr *));
    }
    out->v[out->n++] = x;
    term *use = ar_alloc(c->ar, sizeof(term));
    *use = *v;
    return use;
}

/* RewriteExprTerms: calls nested in arguments, refs and composites */
static void hoist_calls(cctx *c, term **slot, const expr *orig, exprvec *out, bool top)
{
    term *t = *slot;
    if (!t || t->ground) return;
    switch (t->kind) {
    case T_CALL:
        if (t->special == SP_PRINT) return;
        for (int i = 0; i < t->n; i++) hoist_calls(c, &t->items[i], orig, out, false);
        if (!top) *slot = hoist_term(c, t, orig, out);
        return;
    case T_REF:
    case T_ARRAY:
    case T_SET:
    case T_OBJECT:
        for (int i = 0; i < t->n; i++) hoist_calls(c, &t->items[i], orig, out, false);
        return;
    default: return;
    }
}

/* rewriteDynamicsOne */
static void hoist_dyn_one(cctx *c, term **slot, const expr *orig, exprvec *out)
{
    term *t = *slot;
    if (!t || t->ground) return;
    switch (t->kind) {
    case T_REF:
        for (int i = 1; i < t->n; i++) hoist_dyn_one(c, &t->items[i], orig, out);
        *slot = hoist_term(c, t, orig, out);
        return;
    case T_ARRAY:
    case T_SET:
    case T_OBJECT:
        for (int i = 0; i < t->n; i++) hoist_dyn_one(c, &t->items[i], orig, out);
        return;
    case T_ACOMP:
    case T_SCOMP:
    case T_OCOMP: *slot = hoist_term(c, t, orig, out); return;
    default: return;
    }
}

/* rewriteDynamicsInTerm: a ref keeps its place, only its components move */
static void hoist_dyn_in_term(cctx *c, term **slot, const expr *orig, exprvec *out)
{
    term *t = *slot;
    if (!t || t->ground) return;
    if (t->kind == T_REF) {
        for (int i = 1; i < t->n; i++) hoist_dyn_one(c, &t->items[i], orig, out);
        return;
    }
    if (t->kind == T_ACOMP || t->kind == T_SCOMP || t->kind == T_OCOMP) return;
    hoist_dyn_one(c, slot, orig, out);
}

static void hoist_negated_body(cctx *c, body *b);
static void hoist_nested_term(cctx *c, term *t) { each_nested_body(c, t, hoist_negated_body); }

static void hoist_negated_body(cctx *c, body *b)
{
    if (!b) return;
    exprvec nb = {0};
    bool changed = false;
    for (int i = 0; i < b->n; i++) {
        expr *e = b->exprs[i];
        hoist_nested_term(c, e->a);
        hoist_nested_term(c, e->b);
        hoist_nested_term(c, e->coll);
        for (int j = 0; j < e->nwith; j++) hoist_nested_term(c, e->withs[j].value);
        if (e->body) hoist_negated_body(c, e->body);
        int before = nb.n;
        if (e->neg && (e->kind == E_TERM || e->kind == E_UNIFY)) {
            term *a = e->a;
            bool call = e->kind == E_TERM && a->kind == T_CALL && !a->special;
            bool eq = e->kind == E_UNIFY || (call && strcmp(a->name, "equal") == 0 && a->n == 2);
            if (e->kind == E_UNIFY) {
                hoist_calls(c, &e->a, e, &nb, false);
                hoist_calls(c, &e->b, e, &nb, false);
            } else hoist_calls(c, &e->a, e, &nb, true);
            if (eq && e->kind == E_UNIFY) {
                hoist_dyn_in_term(c, &e->a, e, &nb);
                hoist_dyn_in_term(c, &e->b, e, &nb);
            } else if (eq) {
                hoist_dyn_in_term(c, &a->items[0], e, &nb);
                hoist_dyn_in_term(c, &a->items[1], e, &nb);
            } else if (e->kind == E_TERM && a->kind == T_CALL) {
                if (a->special != SP_PRINT)
                    for (int j = 0; j < a->n; j++) hoist_dyn_one(c, &a->items[j], e, &nb);
            } else hoist_dyn_in_term(c, &e->a, e, &nb);
        }
        changed |= nb.n > before;
        if (nb.n == nb.cap) {
            nb.cap = nb.cap ? nb.cap * 2 : 8;
            nb.v = rego_xrealloc(nb.v, (size_t)nb.cap * sizeof(expr *));
        }
        nb.v[nb.n++] = e;
    }
    if (changed) {
        b->exprs = ar_alloc(c->ar, (size_t)nb.n * sizeof(expr *));
        memcpy(b->exprs, nb.v, (size_t)nb.n * sizeof(expr *));
        b->n = nb.n;
    }
    free(nb.v);
}

/* ------------------------------------------------------------ declared vars
 * OPA's rewriteLocalVars errors: in one scope (a body; a closure opens a new one) a
 * var may be declared (`:=`, `some`, `some .. in`, every's key/value) only once and
 * not after it was used ("var x referenced above"); function args count as declared.
 * In v1, `input`/`data` may not be declared. Runs on the rule as written, before
 * scope_body renames closure vars. */
enum { OCC_SEEN = 1, OCC_ARG, OCC_ASSIGNED, OCC_DECLARED };

typedef struct {
    const char **names;
    unsigned char *occ;
    int n, cap;
    int top; /* index where the innermost scope starts */
} dscope;

static int ds_find_top(const dscope *s, const char *name)
{
    for (int i = s->n - 1; i >= s->top; i--)
        if (strcmp(s->names[i], name) == 0) return i;
    return -1;
}
static bool ds_declared_any(const dscope *s, const char *name)
{
    for (int i = s->n - 1; i >= 0; i--)
        if (s->occ[i] != OCC_SEEN && strcmp(s->names[i], name) == 0) return true;
    return false;
}
static void ds_push(dscope *s, const char *name, int occ)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->names = rego_xrealloc(s->names, (size_t)s->cap * sizeof(char *));
        s->occ = rego_xrealloc(s->occ, (size_t)s->cap);
    }
    s->names[s->n] = name;
    s->occ[s->n++] = (unsigned char)occ;
}

static void dv_declare(cctx *c, dscope *s, term *v, int occ)
{
    if (c->failed || v->wildcard || strchr(v->name, '$')) return;
    if (c->mod && c->mod->v1 && (strcmp(v->name, "input") == 0 || strcmp(v->name, "data") == 0)) {
        cerr(c, "rego_compile_error", v->line, v->col, "variables must not shadow %s (use a different variable name)",
             v->name);
        return;
    }
    int i = ds_find_top(s, v->name);
    if (i >= 0) {
        static const char *const what[] = {"", "var %s referenced above", "arg %s redeclared", "var %s assigned above",
                                           "var %s declared above"};
        char msg[300];
        snprintf(msg, sizeof msg, what[s->occ[i]], v->name);
        cerr(c, "rego_compile_error", v->line, v->col, "%s", msg);
        return;
    }
    ds_push(s, v->name, occ);
}

static void dv_body(cctx *c, dscope *s, body *b);
static void dv_term(cctx *c, dscope *s, term *t);
static void dv_closure(cctx *c, dscope *s, term *t)
{
    int save_top = s->top, save_n = s->n;
    s->top = s->n;
    dv_body(c, s, t->body);
    for (int i = 0; i < t->n; i++) dv_term(c, s, t->items[i]);
    s->top = save_top;
    s->n = save_n;
}
static void dv_term(cctx *c, dscope *s, term *t)
{
    if (!t || c->failed) return;
    if (t->body) {
        dv_closure(c, s, t);
        return;
    }
    if (t->kind == T_VAR) {
        if (!t->wildcard && !ds_declared_any(s, t->name) && ds_find_top(s, t->name) < 0) ds_push(s, t->name, OCC_SEEN);
        return;
    }
    for (int i = 0; i < t->n; i++) dv_term(c, s, t->items[i]);
}
/* vars of a `:=` pattern; object keys and other terms are uses */
static void dv_pattern(cctx *c, dscope *s, term *t, int occ)
{
    if (!t || c->failed) return;
    if (t->kind == T_VAR) dv_declare(c, s, t, occ);
    else if (t->kind == T_ARRAY)
        for (int i = 0; i < t->n; i++) dv_pattern(c, s, t->items[i], occ);
    else if (t->kind == T_OBJECT)
        for (int i = 0; i < t->n; i += 2) {
            dv_term(c, s, t->items[i]);
            dv_pattern(c, s, t->items[i + 1], occ);
        }
    else dv_term(c, s, t);
}
/* `some k, v in xs` declares the set of k's and v's vars (a repeat is no error) */
static void dv_some_in(cctx *c, dscope *s, term *t, int mark)
{
    if (!t || c->failed) return;
    if (t->kind == T_VAR) {
        if (t->wildcard || strchr(t->name, '$')) return;
        for (int i = mark; i < s->n; i++)
            if (strcmp(s->names[i], t->name) == 0) return;
        dv_declare(c, s, t, OCC_DECLARED);
        return;
    }
    if (t->kind == T_ARRAY || t->kind == T_OBJECT)
        for (int i = t->kind == T_OBJECT ? 1 : 0; i < t->n; i += t->kind == T_OBJECT ? 2 : 1)
            dv_some_in(c, s, t->items[i], mark);
}
static void dv_body(cctx *c, dscope *s, body *b)
{
    for (int i = 0; b && i < b->n && !c->failed; i++) {
        expr *e = b->exprs[i];
        if (e->neg && e->kind == E_ASSIGN) {
            cerr(c, "rego_compile_error", e->line, e->col, "cannot assign vars inside negated expression");
            return;
        }
        for (int j = 0; j < e->nwith; j++) dv_term(c, s, e->withs[j].value);
        switch (e->kind) {
        case E_ASSIGN:
            dv_term(c, s, e->b);
            dv_pattern(c, s, e->a, OCC_ASSIGNED);
            break;
        case E_SOME_DECL:
            for (int j = 0; j < e->ndecl; j++) dv_declare(c, s, e->decl[j], OCC_DECLARED);
            break;
        case E_SOME_IN: { /* OPA reports the `some` expression's position */
            dv_term(c, s, e->coll);
            int mark = s->n;
            term k = e->k ? *e->k : (term){0}, v = *e->v;
            if (e->k && k.kind == T_VAR) k.line = e->line, k.col = e->col;
            if (v.kind == T_VAR) v.line = e->line, v.col = e->col;
            dv_some_in(c, s, e->k ? &k : NULL, mark);
            dv_some_in(c, s, &v, mark);
            break;
        }
        case E_EVERY: {
            dv_term(c, s, e->coll);
            int save_top = s->top, save_n = s->n;
            s->top = s->n;
            int mark = s->n;
            dv_some_in(c, s, e->k, mark);
            dv_some_in(c, s, e->v, mark);
            dv_body(c, s, e->body);
            s->top = save_top;
            s->n = save_n;
            break;
        }
        case E_NOT_BODY: {
            int save_top = s->top, save_n = s->n;
            s->top = s->n;
            dv_body(c, s, e->body);
            s->top = save_top;
            s->n = save_n;
            break;
        }
        default:
            dv_term(c, s, e->a);
            dv_term(c, s, e->b);
            break;
        }
    }
}
/* function args: a set of declared vars (`f(x, x)` is no error) */
static void dv_args(cctx *c, dscope *s, term *t)
{
    if (!t) return;
    if (t->kind == T_VAR) {
        if (!t->wildcard && ds_find_top(s, t->name) < 0) ds_push(s, t->name, OCC_ARG);
        return;
    }
    for (int i = 0; i < t->n; i++) dv_args(c, s, t->items[i]);
}
static void check_declared_vars(cctx *c, rule *r, body *b)
{
    dscope s = {0};
    if (r && c->mod && c->mod->v1 && !r->is_default && r->nref >= 1 && r->ref[0]->kind == T_VAL && r->pkgpath) {
        const char *nm = rv_str(r->ref[0]->val);
        if (strcmp(nm, "input") == 0 || strcmp(nm, "data") == 0)
            cerr(c, "rego_compile_error", r->line, r->col, "rules must not shadow %s (use a different rule name)", nm);
    }
    for (int i = 0; r && i < r->nargs; i++) dv_args(c, &s, r->args[i]);
    dv_body(c, &s, b);
    free(s.names);
    free(s.occ);
}

/* ------------------------------------------------------------ rule compile */
/* 1: needs computing (template string, comprehension), -1: holds another call */
static int arg_kind(const term *t)
{
    if (!t) return 0;
    if (t->body) return 1;
    if (t->kind == T_CALL) return strcmp(t->name, "internal.template_string") == 0 ? 1 : -1;
    int k = 0;
    for (int i = 0; i < t->n; i++) {
        int ki = arg_kind(t->items[i]);
        if (ki < 0) return -1;
        if (ki) k = 1;
    }
    return k;
}

/* A function argument that must be computed (`f($"{x}")`, `f(x + 1)`) is no pattern:
 * as OPA does, it becomes a var unified with the term in the body, where safety
 * ordering puts it after whatever binds its vars. Rules of an else chain share the
 * args array, so a rewritten rule gets its own copy. */
static void rewrite_func_args(cctx *c, rule *r)
{
    term **args = NULL;
    expr **extra = NULL;
    int nextra = 0;
    for (int i = 0; i < r->nargs; i++) {
        int k = arg_kind(r->args[i]);
        if (k < 0) {
            cerr(c, "rego_compile_error", r->args[i]->line, r->args[i]->col, "rule arguments cannot contain calls");
            break;
        }
        if (!k) continue;
        if (!args) {
            args = ar_alloc(c->ar, (size_t)r->nargs * sizeof(term *));
            memcpy(args, r->args, (size_t)r->nargs * sizeof(term *));
            extra = rego_xcalloc((size_t)r->nargs, sizeof(expr *));
        }
        term *orig = r->args[i];
        term *v = ar_alloc(c->ar, sizeof(term));
        v->kind = T_VAR;
        char name[32];
        int len = snprintf(name, sizeof name, "$arg%d", i);
        v->name = ar_strndup(c->ar, name, (size_t)len);
        v->slot = -1;
        v->line = orig->line;
        v->col = orig->col;
        term *v2 = ar_alloc(c->ar, sizeof(term));
        *v2 = *v;
        expr *x = ar_alloc(c->ar, sizeof(expr));
        x->kind = E_UNIFY;
        x->line = orig->line;
        x->col = orig->col;
        x->a = v2;
        x->b = orig;
        extra[nextra++] = x;
        args[i] = v;
    }
    if (!args || c->failed) {
        free(extra);
        return;
    }
    int n0 = r->body ? r->body->n : 0;
    body *b = ar_alloc(c->ar, sizeof(body));
    b->n = n0 + nextra;
    b->exprs = ar_alloc(c->ar, (size_t)b->n * sizeof(expr *));
    if (n0) memcpy(b->exprs, r->body->exprs, (size_t)n0 * sizeof(expr *));
    memcpy(b->exprs + n0, extra, (size_t)nextra * sizeof(expr *));
    r->body = b;
    r->args = args;
    free(extra);
}

static void compile_rule(cctx *c, rule *r)
{
    check_declared_vars(c, r, r->body);
    if (c->failed) return;
    if (r->kind == R_FUNC) rewrite_func_args(c, r);
    if (c->failed) return;
    c->nslots = 0;
    c->ndecl = 0;
    if (c->occ) memset(c->occ, 0, (size_t)c->capocc * sizeof(int));
    c->scope_body = r->body;
    c->scope_rule = r;
    scope_body(c, r->body);
    for (int i = 0; i < r->nargs; i++) declare_pattern_vars(c, r->args[i]);
    declare_body(c, r->body);
    for (int i = 0; i < r->nargs; i++) resolve_term(c, r->args[i]);
    for (int i = 1; i < r->nref; i++) resolve_term(c, r->ref[i]);
    resolve_term(c, r->key);
    resolve_term(c, r->value);
    resolve_body(c, r->body);
    if (c->failed) return;
    bset B = {rego_xcalloc((size_t)c->nslots + 1, 1), c->nslots};
    for (int i = 0; i < r->nargs; i++) pattern_binds(r->args[i], &B, &B);
    order_body(c, r->body, &B);
    if (!c->failed) {
        term *heads[3] = {r->key, r->value, NULL};
        for (int i = r->nstatic; i < r->nref && !c->failed; i++) {
            order_nested_term(c, r->ref[i], &B);
            term *u = first_unbound_open(r->ref[i], &B);
            if (u) cerr(c, "rego_unsafe_var_error", u->line, u->col, "var %s is unsafe", display_name(u->name));
        }
        for (int i = 0; heads[i] && !c->failed; i++) {
            order_nested_term(c, heads[i], &B);
            term *u = first_unbound_open(heads[i], &B);
            if (u) cerr(c, "rego_unsafe_var_error", u->line, u->col, "var %s is unsafe", display_name(u->name));
        }
        for (int i = 0; i < 2 && !c->failed; i++) (void)0;
    }
    free(B.b);
    if (!c->failed) hoist_negated_body(c, r->body);
    r->nslots = c->nslots;
}

int rego_compile_body(const rego_policy *pol, arena *ar, module *mod, body *b, term **head_terms, int nhead,
                      term **args, int nargs, int *nslots, const char ***slot_names, rego_error *err)
{
    module dummy = {.file = "query", .pkgpath = "data", .imports = NULL};
    cctx c = {.pol = pol, .ar = ar, .mod = mod ? mod : &dummy, .err = err};
    c.scope_body = b;
    check_declared_vars(&c, NULL, b);
    if (!c.failed) scope_body(&c, b);
    declare_body(&c, b);
    resolve_body(&c, b);
    if (!c.failed) {
        bset B = {rego_xcalloc((size_t)c.nslots + 1, 1), c.nslots};
        order_body(&c, b, &B);
        free(B.b);
        if (!c.failed) hoist_negated_body(&c, b);
    }
    *nslots = c.nslots;
    if (slot_names) {
        const char **names = ar_alloc(ar, (size_t)(c.nslots + 1) * sizeof(char *));
        for (int i = 0; i < c.nslots; i++) names[i] = c.slots[i].name;
        *slot_names = names;
    }
    free(c.slots);
    free(c.declared);
    free(c.occ);
    return c.failed ? -1 : 0;
}

/* ------------------------------------------------------------ recursion */
static int dep_visit(rego_policy *pol, rnode *n, rnode **stack, int depth, rego_error *err);

static int deps_term(rego_policy *pol, term *t, rnode **stack, int depth, rego_error *err);
static int deps_body(rego_policy *pol, body *b, rnode **stack, int depth, rego_error *err)
{
    if (!b) return 0;
    for (int i = 0; i < b->n; i++) {
        expr *e = b->exprs[i];
        term *ts[] = {e->a, e->b, e->k, e->v, e->coll};
        for (int j = 0; j < 5; j++)
            if (deps_term(pol, ts[j], stack, depth, err)) return -1;
        if (deps_body(pol, e->body, stack, depth, err)) return -1;
        for (int j = 0; j < e->nwith; j++)
            if (deps_term(pol, e->withs[j].value, stack, depth, err)) return -1;
    }
    return 0;
}

static int deps_subtree(rego_policy *pol, rnode *n, rnode **stack, int depth, rego_error *err)
{
    if (dep_visit(pol, n, stack, depth, err)) return -1;
    for (int i = 0; i < n->nkids; i++)
        if (deps_subtree(pol, n->kids[i], stack, depth, err)) return -1;
    return 0;
}

/* rules a data ref may read, as OPA's GetRulesDynamic: constant components select
 * one child, others every child; rules met on the way count; the end takes the
 * whole subtree */
static int deps_ref(rego_policy *pol, term *t, int i, rnode *n, rnode **stack, int depth, rego_error *err)
{
    if (i >= t->n) return deps_subtree(pol, n, stack, depth, err);
    term *p = t->items[i];
    if (p->kind == T_VAL) {
        if (rv_typeof(p->val) != RV_STRING) return 0; /* data[2]: base documents only */
        rnode *k = rego_node_child(n, rv_str(p->val));
        if (!k) return 0;
        if (dep_visit(pol, k, stack, depth, err)) return -1;
        return deps_ref(pol, t, i + 1, k, stack, depth, err);
    }
    for (int j = 0; j < n->nkids; j++) {
        if (dep_visit(pol, n->kids[j], stack, depth, err)) return -1;
        if (deps_ref(pol, t, i + 1, n->kids[j], stack, depth, err)) return -1;
    }
    return 0;
}

static int deps_term(rego_policy *pol, term *t, rnode **stack, int depth, rego_error *err)
{
    if (!t) return 0;
    if (t->kind == T_CALL && t->fn && dep_visit(pol, t->fn, stack, depth, err)) return -1;
    if (t->kind == T_REF && t->root == ROOT_DATA && deps_ref(pol, t, 1, pol->root, stack, depth, err)) return -1;
    for (int i = 0; i < t->n; i++)
        if (deps_term(pol, t->items[i], stack, depth, err)) return -1;
    if (t->body && deps_body(pol, t->body, stack, depth, err)) return -1;
    return 0;
}

static int dep_rule(rego_policy *pol, rule *r, rnode **stack, int depth, rego_error *err)
{
    for (; r; r = r->els) {
        if (deps_body(pol, r->body, stack, depth, err)) return -1;
        if (deps_term(pol, r->key, stack, depth, err) || deps_term(pol, r->value, stack, depth, err)) return -1;
        for (int i = 0; i < r->nref; i++)
            if (deps_term(pol, r->ref[i], stack, depth, err)) return -1;
    }
    return 0;
}

static int dep_visit(rego_policy *pol, rnode *n, rnode **stack, int depth, rego_error *err)
{
    if (!n->nrules && !n->def) return 0;
    if (n->visit == 2) return 0;
    if (n->visit == 1) {
        char msg[600];
        size_t l = 0;
        int start = 0;
        for (int i = 0; i < depth; i++)
            if (stack[i] == n) start = i;
        for (int i = start; i < depth && l < 500; i++)
            l += (size_t)snprintf(msg + l, sizeof msg - l, "%s -> ", stack[i]->path);
        if (l < sizeof msg) snprintf(msg + l, sizeof msg - l, "%s", n->path); /* long paths: truncated */
        rule *r = n->nrules ? n->rules[0] : n->def;
        rego_set_error(err, "rego_recursion_error", r->file, r->line, r->col, "rule %s is recursive: %s", n->path, msg);
        return -1;
    }
    if (depth >= 255) return 0;
    n->visit = 1;
    stack[depth] = n;
    for (int i = 0; i < n->nrules; i++)
        if (dep_rule(pol, n->rules[i], stack, depth + 1, err)) return -1;
    if (n->def && dep_rule(pol, n->def, stack, depth + 1, err)) return -1;
    n->visit = 2;
    return 0;
}

static int check_recursion(rego_policy *pol, rnode *n, rego_error *err)
{
    rnode *stack[256];
    if (dep_visit(pol, n, stack, 0, err)) return -1;
    for (int i = 0; i < n->nkids; i++)
        if (check_recursion(pol, n->kids[i], err)) return -1;
    return 0;
}

/* ------------------------------------------------------------ rule conflicts
 * OPA's checkRuleConflicts over its rule tree, whose nodes are keyed by every
 * constant of a head ref (ours: string keys only, so `p[0]` is a rule of node p whose
 * ref goes on with a constant: `beyond` below). Per OPA node: rules of different kinds
 * (single/multi-value), arities, or complete and partial rules together are
 * "conflicting rules <ref> found"; a rule with a ground ref and rules below it is
 * "rule <ref> conflicts with:\n  rule <ref> at file:line ...". */
static bool ref_ground(const rule *r)
{
    for (int i = r->nstatic; i < r->nref; i++)
        if (r->ref[i]->kind != T_VAL) return false;
    return true;
}
static bool beyond(const rule *r) { return r->nstatic < r->nref && ref_ground(r); }
/* r's constant suffix starts with (or, strict, strictly extends) o's */
static bool suffix_extends(const rule *r, const rule *o, bool strict)
{
    int lr = r->nref - r->nstatic, lo = o->nref - o->nstatic;
    if (lr < lo || (strict && lr == lo)) return false;
    for (int i = 0; i < lo; i++)
        if (!rv_equal(r->ref[r->nstatic + i]->val, o->ref[o->nstatic + i]->val)) return false;
    return true;
}
static int mod_index(const rego_policy *pol, const rule *r)
{
    for (int i = 0; i < pol->nmods; i++)
        if (pol->mods[i] == r->mod) return i;
    return 0;
}
static bool rule_before(const rego_policy *pol, const rule *a, const rule *b)
{
    int ma = mod_index(pol, a), mb = mod_index(pol, b);
    if (ma != mb) return ma < mb;
    return a->line != b->line ? a->line < b->line : a->col < b->col;
}
/* the full ref of a rule as OPA prints it: data.a.p[0], data.a.q[x], data.a["x y"] */
static void rule_ref_text(const rule *r, int upto, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s", r->pkgpath);
    for (int i = 0; i < upto && n < cap; i++) {
        const term *t = r->ref[i];
        bool ident = false;
        if (t->kind == T_VAL && rv_typeof(t->val) == RV_STRING) {
            const char *s = rv_str(t->val);
            ident = isalpha((unsigned char)s[0]) || s[0] == '_';
            for (const char *q = s; *q && ident; q++) ident = isalnum((unsigned char)*q) || *q == '_';
        }
        if (ident) n += (size_t)snprintf(buf + n, cap - n, ".%s", rv_str(t->val));
        else if (t->kind == T_VAR) n += (size_t)snprintf(buf + n, cap - n, "[%s]", display_name(t->name));
        else if (t->kind == T_VAL) {
            char *j = rv_to_json_text(t->val);
            n += (size_t)snprintf(buf + n, cap - n, "[%s]", j ? j : "?");
            free(j);
        } else n += (size_t)snprintf(buf + n, cap - n, "[...]");
    }
}
/* the same path split in parts for sorting (strings of the static part, then terms) */
static int ref_cmp_rules(const rule *a, const rule *b)
{
    int c = strcmp(a->node->path, b->node->path);
    if (c) {
        /* a node path that is a prefix of the other's sorts first; else by component */
        const char *x = a->node->path, *y = b->node->path;
        while (*x && *x == *y) x++, y++;
        if (!*x && *y == '.') return -1;
        if (!*y && *x == '.') return 1;
        if (!*x && !*y) return 0;
        if (*x == '.') return -1;
        if (*y == '.') return 1;
        return (unsigned char)*x < (unsigned char)*y ? -1 : 1;
    }
    int la = a->nref - a->nstatic, lb = b->nref - b->nstatic;
    for (int i = 0; i < la && i < lb; i++) {
        const term *s = a->ref[a->nstatic + i], *t = b->ref[b->nstatic + i];
        if (s->kind == T_VAL && t->kind == T_VAL) {
            int r = rv_compare(s->val, t->val);
            if (r) return r;
        } else if (s->kind != t->kind) return s->kind == T_VAL ? -1 : 1;
        else if (s->kind == T_VAR) {
            int r = strcmp(s->name, t->name);
            if (r) return r;
        }
    }
    return la - lb;
}
typedef struct {
    rule **v;
    int n, cap;
} rulevec;
static void rvec_add(rulevec *v, rule *r)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->v = rego_xrealloc(v->v, (size_t)v->cap * sizeof(rule *));
    }
    v->v[v->n++] = r;
}
static void subtree_rules(const rnode *n, rulevec *out)
{
    for (int i = 0; i < n->nrules; i++) rvec_add(out, n->rules[i]);
    if (n->def) rvec_add(out, n->def);
    for (int i = 0; i < n->nkids; i++) subtree_rules(n->kids[i], out);
}
/* is a's ref (static path + suffix) a prefix of b's? */
static bool ref_prefix_of(const rule *a, const rule *b)
{
    size_t la = strlen(a->node->path);
    if (strncmp(a->node->path, b->node->path, la) != 0) return false;
    if (b->node->path[la] == '.') return a->nstatic == a->nref; /* b is in a subtree below a's node */
    if (b->node->path[la]) return false;
    int na = a->nref - a->nstatic, nb = b->nref - b->nstatic;
    if (na > nb) return false;
    for (int i = 0; i < na; i++) {
        const term *s = a->ref[a->nstatic + i], *t = b->ref[b->nstatic + i];
        if (s->kind != t->kind) return false;
        if (s->kind == T_VAL && !rv_equal(s->val, t->val)) return false;
        if (s->kind == T_VAR && strcmp(s->name, t->name) != 0) return false;
        if (s->kind != T_VAL && s->kind != T_VAR) return false;
    }
    return true;
}
static int conflict_group(const rego_policy *pol, rule **g, int ng, rulevec *kids, rego_error *err)
{
    bool multi = false, single = false, ground = false;
    int complete = 0, partial = 0, arity = -1;
    bool arities = false;
    for (int i = 0; i < ng; i++) {
        rule *r = g[i];
        if (r->kind == R_SET) multi = true;
        else single = true;
        int a = r->kind == R_FUNC ? r->nargs : 0;
        if (arity >= 0 && a != arity) arities = true;
        arity = a;
        if (r->kind != R_SET && ref_ground(r)) complete++;
        else partial++;
        if (ref_ground(r)) ground = true;
    }
    char name[300];
    if ((multi && single) || arities || (complete && partial)) {
        rule_ref_text(g[ng - 1], g[ng - 1]->nref, name, sizeof name);
        rego_set_error(err, "rego_type_error", g[0]->file, g[0]->line, g[0]->col, "conflicting rules %s found", name);
        return -1;
    }
    if (!ground || !kids->n) return 0;
    /* OPA's flattenChildren: refs of the rules below, prefixes only, sorted */
    rulevec keep = {0};
    for (int i = 0; i < kids->n; i++) {
        rule *r = kids->v[i];
        bool skip = false;
        for (int j = 0; j < keep.n && !skip; j++) {
            if (ref_prefix_of(keep.v[j], r)) skip = true;
            else if (ref_prefix_of(r, keep.v[j])) keep.v[j--] = keep.v[--keep.n];
        }
        if (!skip) rvec_add(&keep, r);
    }
    for (int i = 1; i < keep.n; i++) /* insertion sort: a handful of entries */
        for (int j = i; j > 0 && ref_cmp_rules(keep.v[j - 1], keep.v[j]) > 0; j--) {
            rule *t = keep.v[j];
            keep.v[j] = keep.v[j - 1];
            keep.v[j - 1] = t;
        }
    char msg[700];
    rule_ref_text(g[ng - 1], g[ng - 1]->nref, name, sizeof name);
    size_t n = (size_t)snprintf(msg, sizeof msg, "rule %s conflicts with:", name);
    for (int i = 0; i < keep.n && n < sizeof msg; i++) {
        rule *r = keep.v[i], *first = r;
        for (int j = 0; j < kids->n; j++) /* location: the first rule with that ref */
            if (ref_prefix_of(r, kids->v[j]) && ref_prefix_of(kids->v[j], r) && rule_before(pol, kids->v[j], first))
                first = kids->v[j];
        char t[300];
        rule_ref_text(r, r->nref, t, sizeof t);
        n += (size_t)snprintf(msg + n, sizeof msg - n, "\n  rule %s at %s:%d", t, first->file, first->line);
    }
    free(keep.v);
    rego_set_error(err, "rego_type_error", g[0]->file, g[0]->line, g[0]->col, "%s", msg);
    return -1;
}
/* OPA's checkRuleConflicts also refuses a rule whose whole head ref is a path of
 * string keys that is also the path of a package, even an empty one: "package p.b
 * conflicts with rule b defined at file:line" (a head with a variable, `b[k]`, is
 * left to evaluation). */
static int check_package_conflict(const rego_policy *pol, const rnode *n, rego_error *err)
{
    const rule *first = NULL;
    for (int i = 0; i <= n->nrules; i++) {
        const rule *r = i < n->nrules ? n->rules[i] : n->def;
        if (!r || r->nstatic < r->nref) continue;
        if (!first || rule_before(pol, r, first)) first = r;
    }
    if (!first) return 0;
    for (int i = 0; i < pol->nmods; i++) {
        const module *m = pol->mods[i];
        if (strcmp(m->pkgpath, n->path) != 0) continue;
        size_t skip = strlen(first->mod->pkgpath) + 1;
        const char *rel = strlen(n->path) > skip ? n->path + skip : n->path;
        rego_set_error(err, "rego_type_error", first->file, first->mod->pkg->line, first->mod->pkg->col,
                       "package %s conflicts with rule %s defined at %s:%d", m->pkgpath + 5, rel, first->file,
                       first->line);
        return -1;
    }
    return 0;
}

static int check_conflicts(const rego_policy *pol, const rnode *n, rego_error *err)
{
    if ((n->nrules || n->def) && check_package_conflict(pol, n, err)) return -1;
    rulevec all = {0}, g = {0}, kids = {0};
    for (int i = 0; i < n->nrules; i++) rvec_add(&all, n->rules[i]);
    if (n->def) {
        rvec_add(&all, n->def);
        for (int i = all.n - 1; i > 0 && rule_before(pol, all.v[i], all.v[i - 1]); i--) {
            rule *t = all.v[i];
            all.v[i] = all.v[i - 1];
            all.v[i - 1] = t;
        }
    }
    char *done = rego_xcalloc((size_t)all.n + 1, 1);
    int rc = 0;
    for (int i = 0; i < all.n && !rc; i++) {
        if (done[i]) continue;
        rule *r = all.v[i];
        bool b = beyond(r);
        g.n = kids.n = 0;
        for (int j = i; j < all.n; j++) {
            rule *o = all.v[j];
            if (!done[j] && beyond(o) == b && (!b || (suffix_extends(o, r, false) && suffix_extends(r, o, false)))) {
                done[j] = 1;
                rvec_add(&g, o);
            }
        }
        for (int j = 0; j < all.n; j++) {
            rule *o = all.v[j];
            if (beyond(o) && (!b || suffix_extends(o, r, true))) rvec_add(&kids, o);
        }
        if (!b)
            for (int k = 0; k < n->nkids; k++) subtree_rules(n->kids[k], &kids);
        rc = conflict_group(pol, g.v, g.n, &kids, err);
    }
    free(done);
    free(all.v);
    free(g.v);
    free(kids.v);
    for (int k = 0; k < n->nkids && !rc; k++) rc = check_conflicts(pol, n->kids[k], err);
    return rc;
}

/* ------------------------------------------------------------ public */
static bool src_looks_v1(const char *s, size_t len)
{
    /* a module using `if` or `contains` as keywords is v1 */
    for (size_t i = 0; i + 3 < len; i++) {
        if ((i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n') && strncmp(s + i, "if ", 3) == 0)
            return true;
        if ((i == 0 || s[i - 1] == ' ') && strncmp(s + i, "if{", 3) == 0) return true;
        if (i + 9 < len && s[i] == ' ' && strncmp(s + i, " contains ", 10) == 0) return true;
    }
    return false;
}

rego_policy *rego_compile(const rego_module_src *mods, size_t nmods, rego_syntax def_syntax, rego_error *err)
{
    rego_error dummy;
    if (!err) err = &dummy;
    memset(err, 0, sizeof *err);
    rego_policy *pol = rego_xcalloc(1, sizeof *pol);
    if (!pol) return NULL;
    pol->root = ar_alloc(&pol->ar, sizeof(rnode));
    pol->root->name = "data";
    pol->root->path = "data";
    pol->root->id = pol->nnodes++;
    pol->mods = ar_alloc(&pol->ar, (nmods ? nmods : 1) * sizeof(module *));
    for (size_t i = 0; i < nmods; i++) {
        size_t len = mods[i].len ? mods[i].len : strlen(mods[i].source);
        rego_syntax syn = mods[i].syntax;
        if (syn == REGO_SYNTAX_AUTO) {
            syn = def_syntax;
            if (syn == REGO_SYNTAX_AUTO) syn = src_looks_v1(mods[i].source, len) ? REGO_SYNTAX_V1 : REGO_SYNTAX_V0;
        }
        parse_ctx pc = {.ar = &pol->ar,
                        .file = ar_strndup(&pol->ar, mods[i].name ? mods[i].name : "module.rego",
                                           strlen(mods[i].name ? mods[i].name : "module.rego")),
                        .src = mods[i].source,
                        .len = len,
                        .v1 = syn == REGO_SYNTAX_V1,
                        .err = err};
        module *m = rego_parse_module(&pc);
        if (!m) goto fail;
        pol->mods[pol->nmods++] = m;
    }
    /* tree */
    for (int mi = 0; mi < pol->nmods; mi++) {
        module *m = pol->mods[mi];
        rnode *pn = pol->root;
        const char *p = strchr(m->pkgpath, '.');
        while (p) {
            p++;
            const char *d = strchr(p, '.');
            size_t len = d ? (size_t)(d - p) : strlen(p);
            char buf[256];
            snprintf(buf, sizeof buf, "%.*s", (int)len, p);
            pn = node_get(pol, pn, buf);
            p = d;
        }
        for (int ri = 0; ri < m->nrules; ri++) {
            rule *r = m->rules[ri];
            int ns = 1;
            while (ns < r->nref && r->ref[ns]->kind == T_VAL && rv_typeof(r->ref[ns]->val) == RV_STRING) ns++;
            if (r->kind == R_COMPLETE && ns < r->nref) r->kind = R_OBJECT;
            if (r->kind == R_FUNC && ns < r->nref) {
                rego_set_error(err, "rego_parse_error", r->file, r->line, r->col, "invalid function name");
                goto fail;
            }
            r->nstatic = ns;
            rnode *n = pn;
            for (int k = 0; k < ns; k++) n = node_get(pol, n, rv_str(r->ref[k]->val));
            for (rule *e = r; e; e = e->els) {
                e->nstatic = ns;
                e->kind = r->kind;
                e->node = n;
            }
            if (r->kind == R_FUNC) n->is_func = true;
            if (r->is_default && n->def) {
                rego_set_error(err, "rego_type_error", r->file, r->line, r->col, "multiple default rules %s found",
                               n->path);
                goto fail;
            }
            node_add_rule(pol, n, r);
        }
    }
    if (check_conflicts(pol, pol->root, err)) goto fail;
    /* resolve and order */
    {
        cctx c = {.pol = pol, .ar = &pol->ar, .err = err};
        for (int mi = 0; mi < pol->nmods && !c.failed; mi++) {
            module *m = pol->mods[mi];
            c.mod = m;
            for (int ri = 0; ri < m->nrules && !c.failed; ri++)
                for (rule *r = m->rules[ri]; r && !c.failed; r = r->els) compile_rule(&c, r);
        }
        free(c.slots);
        free(c.declared);
        free(c.occ);
        if (c.failed) goto fail;
    }
    if (check_recursion(pol, pol->root, err)) goto fail;
    if (rego_typecheck_policy(pol, err)) goto fail;
    rego_optimize_policy(pol);
    return pol;
fail:
    rego_policy_free(pol);
    return NULL;
}

void rego_policy_free(rego_policy *pol)
{
    if (!pol) return;
    ar_free(&pol->ar);
    free(pol);
}

size_t rego_policy_rules(const rego_policy *pol, rego_rule_info **out)
{
    size_t n = 0, cap = 0;
    rego_rule_info *v = NULL;
    for (int m = 0; m < pol->nmods; m++) {
        const module *mod = pol->mods[m];
        for (int i = 0; i < mod->nrules; i++) {
            const rule *r = mod->rules[i];
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                rego_rule_info *nv = rego_xrealloc(v, cap * sizeof *v);
                if (!nv) break;
                v = nv;
            }
            v[n++] = (rego_rule_info){.path = r->node->path,
                                      .file = r->file,
                                      .line = r->line,
                                      .col = r->col,
                                      .is_function = r->kind == R_FUNC,
                                      .is_default = r->is_default,
                                      .static_ref = r->nstatic == r->nref};
        }
    }
    *out = v;
    return n;
}
