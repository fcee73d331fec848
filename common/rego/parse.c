/* Rego lexer and parser: source text -> AST (rego_int.h), v0 and v1 syntax.
 *
 * The lexer produces identifiers for keywords too; the parser decides from context
 * whether `if`, `in`, `as`, `contains`... are keywords (Rego allows most of them as
 * ref components and rule names). Every token remembers whether a newline came
 * before it: newlines separate expressions in bodies and queries.
 *
 * Infix operators become calls: `a + b` -> plus(a, b), `a == b` -> equal(a, b),
 * `x in xs` -> internal.member_2(x, xs). `=` and `:=` become E_UNIFY / E_ASSIGN.
 * Names are not resolved here (compile.c does that).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/alloc.h"
#include "rego/rego_int.h"

/* ------------------------------------------------------------ arena */
struct arena_chunk {
    arena_chunk *next;
    size_t used, cap;
    char data[];
};

void *ar_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->used + n > a->head->cap) {
        size_t cap = n > 65536 ? n : 65536;
        arena_chunk *c = rego_xmalloc(sizeof(arena_chunk) + cap);
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

char *ar_strndup(arena *a, const char *s, size_t n)
{
    char *p = ar_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

rv *ar_keep(arena *a, rv *v)
{
    if (!v) return v;
    if (a->nvals == a->capvals) {
        a->capvals = a->capvals ? a->capvals * 2 : 64;
        a->vals = rego_xrealloc(a->vals, a->capvals * sizeof(rv *));
    }
    a->vals[a->nvals++] = v;
    return v;
}

void ar_free(arena *a)
{
    for (size_t i = 0; i < a->nvals; i++) rv_unref(a->vals[i]);
    free(a->vals);
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    memset(a, 0, sizeof *a);
}

void rego_set_error(rego_error *err, const char *code, const char *file, int line, int col, const char *fmt, ...)
{
    if (!err || err->code[0]) return; /* keep the first error */
    snprintf(err->code, sizeof err->code, "%s", code);
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    err->col = col;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* "policy.rego:4:3: rego_unsafe_var_error: var x is unsafe" */
    if (file && line > 0 && col > 0)
        snprintf(err->message, sizeof err->message, "%s:%d:%d: %s: %s", file, line, col, code, msg);
    else if (file && line > 0) snprintf(err->message, sizeof err->message, "%s:%d: %s: %s", file, line, code, msg);
    else snprintf(err->message, sizeof err->message, "%s: %s", code, msg);
}

/* ------------------------------------------------------------ lexer */
typedef enum {
    K_EOF,
    K_IDENT,
    K_STRING,
    K_NUMBER,
    K_PUNCT,
    K_TEMPLATE, /* $"..{expr}.." or $`..{expr}..`: whole extent in s/n, parsed by parse_template */
} tok_kind;

typedef struct {
    tok_kind kind;
    const char *s; /* start in source */
    size_t n;
    int line, col;
    bool nl;    /* newline before */
    char op[3]; /* punctuation */
    char *str;  /* decoded string (malloc'd, in arena) */
    size_t slen;
} tok;

typedef struct {
    parse_ctx *pc;
    size_t pos;
    int line, col;
    tok t;     /* current */
    tok peek1; /* lookahead */
    bool has_peek;
    bool failed;
    int no_or;          /* parsing a comprehension head: `|` ends the term */
    bool not_body;      /* `import future.keywords.not` (or future.keywords): `not { body }` */
    bool kw_and, kw_or; /* `import future.keywords.and` / `.or` (experimental) */
    bool not_wrap;      /* `import future.keywords.not` itself: `not x` means `not { x }` */
    int nest;           /* term nesting depth (bounded: the parser and evaluator recurse) */
} P;

static void perr(P *p, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void perr(P *p, int line, int col, const char *fmt, ...)
{
    if (p->failed) return;
    p->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rego_set_error(p->pc->err, "rego_parse_error", p->pc->file, line, col, "%s", msg);
}

static int cur(P *p) { return p->pos < p->pc->len ? (unsigned char)p->pc->src[p->pos] : -1; }
static int at(P *p, size_t o) { return p->pos + o < p->pc->len ? (unsigned char)p->pc->src[p->pos + o] : -1; }
static void adv(P *p)
{
    if (p->pos >= p->pc->len) return;
    if (p->pc->src[p->pos] == '\n') {
        p->line++;
        p->col = 1;
    } else p->col++;
    p->pos++;
}

static void put_utf8(char *buf, size_t *n, unsigned cp)
{
    if (cp < 0x80) buf[(*n)++] = (char)cp;
    else if (cp < 0x800) {
        buf[(*n)++] = (char)(0xC0 | (cp >> 6));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        buf[(*n)++] = (char)(0xE0 | (cp >> 12));
        buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        buf[(*n)++] = (char)(0xF0 | (cp >> 18));
        buf[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Template strings: the lexer only finds their end (expressions may hold strings,
 * braces and nested templates); parse_template parses the parts. */
static bool skip_template(P *p);
static bool skip_quoted(P *p)
{
    int q = cur(p);
    adv(p);
    for (;;) {
        int ch = cur(p);
        if (ch == -1 || (q == '"' && ch == '\n')) return false;
        if (q == '"' && ch == '\\') {
            adv(p);
            if (cur(p) == -1) return false;
        } else if (ch == q) {
            adv(p);
            return true;
        }
        adv(p);
    }
}
/* after `{`: through the matching `}` */
static bool skip_template_expr(P *p)
{
    int depth = 0;
    for (;;) {
        int ch = cur(p);
        if (ch == -1) return false;
        if (ch == '"' || ch == '`') {
            if (!skip_quoted(p)) return false;
            continue;
        }
        if (ch == '$' && (at(p, 1) == '"' || at(p, 1) == '`')) {
            if (!skip_template(p)) return false;
            continue;
        }
        if (ch == '{') depth++;
        if (ch == '}' && depth-- == 0) {
            adv(p);
            return true;
        }
        adv(p);
    }
}
static bool skip_template(P *p)
{
    adv(p); /* $ */
    int q = cur(p);
    adv(p);
    for (;;) {
        int ch = cur(p);
        if (ch == -1 || (q == '"' && ch == '\n')) return false;
        if (ch == '\\' && (q == '"' || at(p, 1) == '{')) {
            adv(p);
            if (cur(p) == -1) return false;
            adv(p);
            continue;
        }
        if (ch == q) {
            adv(p);
            return true;
        }
        adv(p);
        if (ch == '{' && !skip_template_expr(p)) return false;
    }
}

static void lex_raw(P *p, tok *t)
{
    bool nl = false;
    for (;;) {
        int c = cur(p);
        if (c == '\n') nl = true;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            adv(p);
            continue;
        }
        if (c == '#') {
            while (cur(p) != -1 && cur(p) != '\n') adv(p);
            continue;
        }
        break;
    }
    memset(t, 0, sizeof *t);
    t->nl = nl;
    t->line = p->line;
    t->col = p->col;
    t->s = p->pc->src + p->pos;
    int c = cur(p);
    if (c == -1) {
        t->kind = K_EOF;
        return;
    }
    if (isalpha(c) || c == '_') {
        while (isalnum(cur(p)) || cur(p) == '_') adv(p);
        t->kind = K_IDENT;
        t->n = (size_t)(p->pc->src + p->pos - t->s);
        return;
    }
    if (isdigit(c) || (c == '.' && isdigit(at(p, 1)))) {
        while (isdigit(cur(p))) adv(p);
        if (cur(p) == '.' && isdigit(at(p, 1))) {
            adv(p);
            while (isdigit(cur(p))) adv(p);
        }
        if (cur(p) == 'e' || cur(p) == 'E') {
            int c1 = at(p, 1);
            if (isdigit(c1) || ((c1 == '+' || c1 == '-') && isdigit(at(p, 2)))) {
                adv(p);
                adv(p);
                while (isdigit(cur(p))) adv(p);
            }
        }
        t->kind = K_NUMBER;
        t->n = (size_t)(p->pc->src + p->pos - t->s);
        return;
    }
    if (c == '"') {
        adv(p);
        size_t cap = 64, n = 0;
        char *buf = rego_xmalloc(cap);
        for (;;) {
            int ch = cur(p);
            if (ch == -1 || ch == '\n') {
                free(buf);
                perr(p, t->line, t->col, "non-terminated string");
                t->kind = K_EOF;
                return;
            }
            if (n + 8 > cap) buf = rego_xrealloc(buf, cap *= 2);
            if (ch == '"') {
                adv(p);
                break;
            }
            if (ch == '\\') {
                adv(p);
                int e = cur(p);
                adv(p);
                switch (e) {
                case 'n': buf[n++] = '\n'; break;
                case 't': buf[n++] = '\t'; break;
                case 'r': buf[n++] = '\r'; break;
                case 'b': buf[n++] = '\b'; break;
                case 'f': buf[n++] = '\f'; break;
                case '/': buf[n++] = '/'; break;
                case '\\': buf[n++] = '\\'; break;
                case '"': buf[n++] = '"'; break;
                case 'u': {
                    unsigned cp = 0;
                    for (int i = 0; i < 4; i++) {
                        int h = hexv(cur(p));
                        if (h < 0) {
                            free(buf);
                            perr(p, t->line, t->col, "illegal escape sequence");
                            t->kind = K_EOF;
                            return;
                        }
                        cp = cp * 16 + (unsigned)h;
                        adv(p);
                    }
                    if (cp >= 0xD800 && cp < 0xDC00 && cur(p) == '\\' && at(p, 1) == 'u') {
                        unsigned lo = 0;
                        size_t save = p->pos;
                        int sl = p->line, sc = p->col;
                        adv(p);
                        adv(p);
                        bool ok = true;
                        for (int i = 0; i < 4; i++) {
                            int h = hexv(cur(p));
                            if (h < 0) {
                                ok = false;
                                break;
                            }
                            lo = lo * 16 + (unsigned)h;
                            adv(p);
                        }
                        if (ok && lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        else {
                            p->pos = save;
                            p->line = sl;
                            p->col = sc;
                        }
                    }
                    put_utf8(buf, &n, cp);
                    break;
                }
                default:
                    free(buf);
                    perr(p, t->line, t->col, "illegal escape sequence");
                    t->kind = K_EOF;
                    return;
                }
                continue;
            }
            buf[n++] = (char)ch;
            adv(p);
        }
        t->kind = K_STRING;
        t->str = ar_strndup(p->pc->ar, buf, n);
        t->slen = n;
        free(buf);
        t->n = (size_t)(p->pc->src + p->pos - t->s);
        return;
    }
    if (c == '`') {
        adv(p);
        size_t start = p->pos;
        while (cur(p) != -1 && cur(p) != '`') adv(p);
        if (cur(p) != '`') {
            perr(p, t->line, t->col, "non-terminated raw string");
            t->kind = K_EOF;
            return;
        }
        t->kind = K_STRING;
        t->slen = p->pos - start;
        t->str = ar_strndup(p->pc->ar, p->pc->src + start, t->slen);
        adv(p);
        t->n = (size_t)(p->pc->src + p->pos - t->s);
        return;
    }
    if (c == '$' && (at(p, 1) == '"' || at(p, 1) == '`')) {
        if (!skip_template(p)) {
            perr(p, t->line, t->col, "non-terminated template string");
            t->kind = K_EOF;
            return;
        }
        t->kind = K_TEMPLATE;
        t->n = (size_t)(p->pc->src + p->pos - t->s);
        return;
    }
    static const char *two[] = {":=", "==", "!=", "<=", ">=", NULL};
    for (int i = 0; two[i]; i++)
        if (c == two[i][0] && at(p, 1) == two[i][1]) {
            adv(p);
            adv(p);
            t->kind = K_PUNCT;
            memcpy(t->op, two[i], 2);
            t->n = 2;
            return;
        }
    if (strchr("{}[]().,;:=<>+-*/%&|", c)) {
        adv(p);
        t->kind = K_PUNCT;
        t->op[0] = (char)c;
        t->n = 1;
        return;
    }
    perr(p, t->line, t->col, "illegal token");
    adv(p);
    t->kind = K_EOF;
}

static void next(P *p)
{
    if (p->has_peek) {
        p->t = p->peek1;
        p->has_peek = false;
    } else lex_raw(p, &p->t);
}

static tok *peek(P *p)
{
    if (!p->has_peek) {
        lex_raw(p, &p->peek1);
        p->has_peek = true;
    }
    return &p->peek1;
}

static bool is_op(const tok *t, const char *op) { return t->kind == K_PUNCT && strcmp(t->op, op) == 0; }
static bool is_kw(const tok *t, const char *kw)
{
    return t->kind == K_IDENT && t->n == strlen(kw) && memcmp(t->s, kw, t->n) == 0;
}
static bool accept(P *p, const char *op)
{
    if (is_op(&p->t, op)) {
        next(p);
        return true;
    }
    return false;
}
static const char *tok_desc(const tok *t)
{
    static __thread char buf[64];
    if (t->kind == K_EOF) return "EOF";
    snprintf(buf, sizeof buf, "%.*s", (int)(t->n > 40 ? 40 : t->n), t->s);
    return buf;
}
static bool expect(P *p, const char *op)
{
    if (accept(p, op)) return true;
    perr(p, p->t.line, p->t.col, "unexpected %s token: expected %s", tok_desc(&p->t), op);
    return false;
}

/* ------------------------------------------------------------ AST builders */
static term *mk(P *p, term_kind k, int line, int col)
{
    term *t = ar_alloc(p->pc->ar, sizeof(term));
    t->kind = (uint8_t)k;
    t->line = line;
    t->col = col;
    t->slot = -1;
    return t;
}

typedef struct {
    term **v;
    int n, cap;
} tvec;
static void tv_push(tvec *v, term *t)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        v->v = rego_xrealloc(v->v, (size_t)v->cap * sizeof(term *));
    }
    v->v[v->n++] = t;
}
static term **tv_done(P *p, tvec *v)
{
    term **out = ar_alloc(p->pc->ar, (size_t)(v->n ? v->n : 1) * sizeof(term *));
    if (v->n) memcpy(out, v->v, (size_t)v->n * sizeof(term *));
    free(v->v);
    return out;
}

static term *mk_val(P *p, rv *v, int line, int col)
{
    term *t = mk(p, T_VAL, line, col);
    t->val = ar_keep(p->pc->ar, v);
    t->ground = 1;
    return t;
}

static term *mk_call(P *p, const char *name, term *a, term *b, int line, int col)
{
    term *t = mk(p, T_CALL, line, col);
    t->name = name;
    t->n = b ? 2 : 1;
    t->items = ar_alloc(p->pc->ar, 2 * sizeof(term *));
    t->items[0] = a;
    t->items[1] = b;
    return t;
}

static term *parse_term(P *p);
static term *parse_expr_term(P *p);
static term *parse_rel(P *p);
static term *parse_member_term(P *p);
static body *parse_body_until(P *p, const char *close);
static expr *parse_literal(P *p);

static term *mk_var(P *p, const char *s, size_t n, int line, int col)
{
    term *t = mk(p, T_VAR, line, col);
    t->name = ar_strndup(p->pc->ar, s, n);
    if (n == 1 && s[0] == '_') t->wildcard = 1;
    return t;
}

/* postfix: .name, [term], (args) */
static term *parse_postfix(P *p, term *base)
{
    for (;;) {
        if (is_op(&p->t, ".") && !p->t.nl) {
            tok *nx = peek(p);
            if (nx->kind != K_IDENT || nx->nl) break;
            next(p);
            term *k = mk_val(p, rv_string(p->t.s, p->t.n), p->t.line, p->t.col);
            next(p);
            if (base->kind != T_REF) {
                term *r = mk(p, T_REF, base->line, base->col);
                r->items = ar_alloc(p->pc->ar, 2 * sizeof(term *));
                r->items[0] = base;
                r->n = 1;
                base = r;
            }
            term **it = ar_alloc(p->pc->ar, (size_t)(base->n + 1) * sizeof(term *));
            memcpy(it, base->items, (size_t)base->n * sizeof(term *));
            it[base->n++] = k;
            base->items = it;
        } else if (is_op(&p->t, "[") && !p->t.nl) {
            next(p);
            term *k = parse_expr_term(p);
            if (!k || !expect(p, "]")) return NULL;
            if (base->kind != T_REF) {
                term *r = mk(p, T_REF, base->line, base->col);
                r->items = ar_alloc(p->pc->ar, 2 * sizeof(term *));
                r->items[0] = base;
                r->n = 1;
                base = r;
            }
            term **it = ar_alloc(p->pc->ar, (size_t)(base->n + 1) * sizeof(term *));
            memcpy(it, base->items, (size_t)base->n * sizeof(term *));
            it[base->n++] = k;
            base->items = it;
        } else if (is_op(&p->t, "(") && !p->t.nl && (base->kind == T_VAR || base->kind == T_REF)) {
            /* call: name must be a var or a ref of strings */
            char name[256];
            size_t nl = 0;
            /* snprintf returns the length it wanted: a name longer than the buffer
             * read (and then wrote) past it (found by fuzzing) */
            if (base->kind == T_VAR) nl = (size_t)snprintf(name, sizeof name, "%s", base->name);
            else {
                if (base->items[0]->kind != T_VAR) {
                    perr(p, base->line, base->col, "invalid call");
                    return NULL;
                }
                nl = (size_t)snprintf(name, sizeof name, "%s", base->items[0]->name);
                for (int i = 1; i < base->n; i++) {
                    term *c = base->items[i];
                    if (c->kind != T_VAL || rv_typeof(c->val) != RV_STRING) {
                        perr(p, base->line, base->col, "invalid call");
                        return NULL;
                    }
                    if (nl < sizeof name) nl += (size_t)snprintf(name + nl, sizeof name - nl, ".%s", rv_str(c->val));
                }
            }
            if (nl >= sizeof name) {
                perr(p, base->line, base->col, "function name too long");
                return NULL;
            }
            next(p);
            tvec args = {0};
            if (!is_op(&p->t, ")")) {
                for (;;) {
                    term *a = parse_expr_term(p);
                    if (!a) {
                        free(args.v);
                        return NULL;
                    }
                    tv_push(&args, a);
                    if (accept(p, ",")) {
                        if (is_op(&p->t, ")")) break;
                        continue;
                    }
                    break;
                }
            }
            if (!expect(p, ")")) {
                free(args.v);
                return NULL;
            }
            term *c = mk(p, T_CALL, base->line, base->col);
            c->name = ar_strndup(p->pc->ar, name, nl);
            c->n = args.n;
            c->items = tv_done(p, &args);
            base = c;
        } else break;
    }
    return base;
}

/* after '{' consumed: object, set, or comprehension */
static term *parse_brace(P *p, int line, int col)
{
    if (accept(p, "}")) {
        term *t = mk(p, T_OBJECT, line, col);
        return t;
    }
    int save = p->no_or;
    p->no_or = 1;
    term *first = parse_expr_term(p);
    p->no_or = save;
    if (!first) return NULL;
    if (accept(p, ":")) {
        p->no_or = 1;
        term *v = parse_expr_term(p);
        p->no_or = save;
        if (!v) return NULL;
        if (accept(p, "|")) {
            term *t = mk(p, T_OCOMP, line, col);
            t->items = ar_alloc(p->pc->ar, 2 * sizeof(term *));
            t->items[0] = first;
            t->items[1] = v;
            t->n = 2;
            t->body = parse_body_until(p, "}");
            if (!t->body || !expect(p, "}")) return NULL;
            return t;
        }
        tvec it = {0};
        tv_push(&it, first);
        tv_push(&it, v);
        while (accept(p, ",")) {
            if (is_op(&p->t, "}")) break;
            term *k = parse_expr_term(p);
            if (!k || !expect(p, ":")) {
                free(it.v);
                return NULL;
            }
            term *vv = parse_expr_term(p);
            if (!vv) {
                free(it.v);
                return NULL;
            }
            tv_push(&it, k);
            tv_push(&it, vv);
        }
        if (!expect(p, "}")) {
            free(it.v);
            return NULL;
        }
        term *t = mk(p, T_OBJECT, line, col);
        t->n = it.n;
        t->items = tv_done(p, &it);
        return t;
    }
    if (accept(p, "|")) {
        term *t = mk(p, T_SCOMP, line, col);
        t->items = ar_alloc(p->pc->ar, sizeof(term *));
        t->items[0] = first;
        t->n = 1;
        t->body = parse_body_until(p, "}");
        if (!t->body || !expect(p, "}")) return NULL;
        return t;
    }
    tvec it = {0};
    tv_push(&it, first);
    while (accept(p, ",")) {
        if (is_op(&p->t, "}")) break;
        term *k = parse_expr_term(p);
        if (!k) {
            free(it.v);
            return NULL;
        }
        tv_push(&it, k);
    }
    if (!expect(p, "}")) {
        free(it.v);
        return NULL;
    }
    term *t = mk(p, T_SET, line, col);
    t->n = it.n;
    t->items = tv_done(p, &it);
    return t;
}

static term *parse_template(P *p, const tok *t);
static term *parse_primary_inner(P *p);
static term *parse_primary(P *p)
{
    int save = p->no_or;
    if (is_op(&p->t, "[") || is_op(&p->t, "{")) p->no_or = 0;
    term *t = parse_primary_inner(p);
    p->no_or = save;
    return t;
}

static term *parse_primary_inner(P *p)
{
    tok t = p->t;
    if (p->failed) return NULL;
    switch (t.kind) {
    case K_NUMBER: {
        next(p);
        rv *v = rv_number_from_text(t.s, t.n);
        if (!v) {
            perr(p, t.line, t.col, "invalid number");
            return NULL;
        }
        return mk_val(p, v, t.line, t.col);
    }
    case K_STRING: next(p); return mk_val(p, rv_string(t.str, t.slen), t.line, t.col);
    case K_TEMPLATE: next(p); return parse_template(p, &t);
    case K_IDENT:
        next(p);
        if (is_op(&p->t, ".") && !p->t.nl && p->t.s == t.s + t.n) return mk_var(p, t.s, t.n, t.line, t.col);
        if (is_kw(&t, "true")) return mk_val(p, rv_bool(true), t.line, t.col);
        if (is_kw(&t, "false")) return mk_val(p, rv_bool(false), t.line, t.col);
        if (is_kw(&t, "null")) return mk_val(p, rv_null(), t.line, t.col);
        return mk_var(p, t.s, t.n, t.line, t.col);
    case K_PUNCT:
        if (is_op(&t, "(")) {
            next(p);
            int save = p->no_or;
            p->no_or = 0;
            term *e = parse_member_term(p);
            p->no_or = save;
            if (!e || !expect(p, ")")) return NULL;
            return e;
        }
        if (is_op(&t, "[")) {
            next(p);
            if (accept(p, "]")) return mk(p, T_ARRAY, t.line, t.col);
            int save = p->no_or;
            p->no_or = 1;
            term *first = parse_expr_term(p);
            p->no_or = save;
            if (!first) return NULL;
            if (accept(p, "|")) {
                term *c = mk(p, T_ACOMP, t.line, t.col);
                c->items = ar_alloc(p->pc->ar, sizeof(term *));
                c->items[0] = first;
                c->n = 1;
                c->body = parse_body_until(p, "]");
                if (!c->body || !expect(p, "]")) return NULL;
                return c;
            }
            tvec it = {0};
            tv_push(&it, first);
            while (accept(p, ",")) {
                if (is_op(&p->t, "]")) break;
                term *k = parse_expr_term(p);
                if (!k) {
                    free(it.v);
                    return NULL;
                }
                tv_push(&it, k);
            }
            if (!expect(p, "]")) {
                free(it.v);
                return NULL;
            }
            term *a = mk(p, T_ARRAY, t.line, t.col);
            a->n = it.n;
            a->items = tv_done(p, &it);
            return a;
        }
        if (is_op(&t, "{")) {
            next(p);
            return parse_brace(p, t.line, t.col);
        }
        if (is_op(&t, "-")) {
            next(p);
            if (p->t.kind == K_NUMBER && !p->t.nl && p->t.s == t.s + 1) {
                tok nt = p->t;
                next(p);
                char buf[128];
                snprintf(buf, sizeof buf, "-%.*s", (int)(nt.n > 120 ? 120 : nt.n), nt.s);
                rv *v = rv_number_from_text(buf, strlen(buf));
                if (!v) {
                    perr(p, t.line, t.col, "invalid number");
                    return NULL;
                }
                return mk_val(p, v, t.line, t.col);
            }
            term *e = parse_term(p);
            if (!e) return NULL;
            return mk_call(p, "minus", mk_val(p, rv_int(0), t.line, t.col), e, t.line, t.col);
        }
        break;
    default: break;
    }
    perr(p, t.line, t.col, "unexpected %s token", tok_desc(&t));
    return NULL;
}

#define MAX_TERM_NESTING 200
static term *parse_term(P *p)
{
    /* `[[[[...` thousands deep overflowed the stack (found by fuzzing) */
    if (p->nest >= MAX_TERM_NESTING) {
        perr(p, p->t.line, p->t.col, "term nested too deeply (more than %d levels)", MAX_TERM_NESTING);
        return NULL;
    }
    p->nest++;
    term *b = parse_primary(p);
    if (b) b = parse_postfix(p, b);
    p->nest--;
    return b;
}

/* binary levels, lowest first: in, relation, |, &, +-, * / %. As in OPA, an operator
 * at the start of a line continues the expression (`x := 1` then a line `-1 in xs`
 * is `x := (1 - 1) in xs`); only the keyword `in` (and a ref's `[`) there starts a
 * new expression, since `in` is also a var name and a ref-head rule name. */
static term *parse_factor(P *p)
{
    term *l = parse_term(p);
    while (l && (is_op(&p->t, "*") || is_op(&p->t, "/") || is_op(&p->t, "%"))) {
        const char *f = is_op(&p->t, "*") ? "mul" : is_op(&p->t, "/") ? "div" : "rem";
        int line = p->t.line, col = p->t.col;
        next(p);
        term *r = parse_term(p);
        if (!r) return NULL;
        l = mk_call(p, f, l, r, line, col);
    }
    return l;
}
static term *parse_arith(P *p)
{
    term *l = parse_factor(p);
    while (l && (is_op(&p->t, "+") || is_op(&p->t, "-"))) {
        const char *f = is_op(&p->t, "+") ? "plus" : "minus";
        int line = p->t.line, col = p->t.col;
        next(p);
        term *r = parse_factor(p);
        if (!r) return NULL;
        l = mk_call(p, f, l, r, line, col);
    }
    return l;
}
static term *parse_and(P *p)
{
    term *l = parse_arith(p);
    while (l && is_op(&p->t, "&")) {
        int line = p->t.line, col = p->t.col;
        next(p);
        term *r = parse_arith(p);
        if (!r) return NULL;
        l = mk_call(p, "and", l, r, line, col);
    }
    return l;
}
static term *parse_or(P *p)
{
    term *l = parse_and(p);
    while (l && !p->no_or && is_op(&p->t, "|")) {
        int line = p->t.line, col = p->t.col;
        next(p);
        term *r = parse_and(p);
        if (!r) return NULL;
        l = mk_call(p, "or", l, r, line, col);
    }
    return l;
}
static term *parse_rel(P *p)
{
    term *l = parse_or(p);
    static const char *ops[][2] = {{"==", "equal"}, {"!=", "neq"}, {"<=", "lte"}, {">=", "gte"},
                                   {"<", "lt"},     {">", "gt"},   {NULL, NULL}};
    for (;;) {
        if (!l || p->t.kind != K_PUNCT) return l;
        int i;
        for (i = 0; ops[i][0]; i++)
            if (is_op(&p->t, ops[i][0])) break;
        if (!ops[i][0]) return l;
        int line = p->t.line, col = p->t.col;
        next(p);
        term *r = parse_or(p);
        if (!r) return NULL;
        l = mk_call(p, ops[i][1], l, r, line, col);
    }
}
static term *parse_in(P *p)
{
    term *l = parse_rel(p);
    while (l && !p->t.nl && is_kw(&p->t, "in")) {
        int line = p->t.line, col = p->t.col;
        next(p);
        term *r = parse_rel(p);
        if (!r) return NULL;
        l = mk_call(p, "internal.member_2", l, r, line, col);
    }
    return l;
}
static term *parse_expr_term(P *p) { return parse_in(p); }

/* `k, v in xs` (only where a comma cannot mean anything else), then `in` chains */
static term *parse_member_term(P *p)
{
    term *a = parse_expr_term(p);
    if (!a || !is_op(&p->t, ",")) return a;
    next(p);
    term *v = parse_rel(p);
    if (!v) return NULL;
    if (!is_kw(&p->t, "in")) {
        perr(p, p->t.line, p->t.col, "unexpected , token");
        return NULL;
    }
    int line = p->t.line, col = p->t.col;
    next(p);
    term *coll = parse_rel(p);
    if (!coll) return NULL;
    term *c = mk(p, T_CALL, a->line, a->col);
    c->name = "internal.member_3";
    c->n = 3;
    c->items = ar_alloc(p->pc->ar, 3 * sizeof(term *));
    c->items[0] = a;
    c->items[1] = v;
    c->items[2] = coll;
    while (!p->t.nl && is_kw(&p->t, "in")) {
        line = p->t.line, col = p->t.col;
        next(p);
        term *r = parse_rel(p);
        if (!r) return NULL;
        c = mk_call(p, "internal.member_2", c, r, line, col);
    }
    return c;
}

/* ------------------------------------------------------------ literals and bodies */
static expr *mk_expr(P *p, expr_kind k, int line, int col)
{
    expr *e = ar_alloc(p->pc->ar, sizeof(expr));
    e->kind = (uint8_t)k;
    e->line = line;
    e->col = col;
    return e;
}

static bool at_body_end(P *p, const char *close) { return p->t.kind == K_EOF || (close && is_op(&p->t, close)); }

static body *parse_braced_body(P *p)
{
    if (!expect(p, "{")) return NULL;
    body *b = parse_body_until(p, "}");
    if (!b || !expect(p, "}")) return NULL;
    return b;
}

static bool parse_withs(P *p, expr *e)
{
    /* `with` may start a new line, unless it is a ref (`with.foo`: keywords are refs) */
#define WITH_NEXT(p) (is_kw(&(p)->t, "with") && (!(p)->t.nl || peek(p)->kind == K_IDENT))
    if (!WITH_NEXT(p)) return true;
    int n = 0, cap = 0;
    with_mod *w = NULL;
    while (WITH_NEXT(p)) {
        next(p);
        term *target = parse_term(p);
        if (!target) {
            free(w);
            return false;
        }
        if (!is_kw(&p->t, "as")) {
            perr(p, p->t.line, p->t.col, "unexpected %s token: expected as", tok_desc(&p->t));
            free(w);
            return false;
        }
        next(p);
        term *val = parse_expr_term(p);
        if (!val) {
            free(w);
            return false;
        }
        if (n == cap) w = rego_xrealloc(w, (size_t)(cap = cap ? cap * 2 : 2) * sizeof(with_mod));
        w[n].target = target;
        w[n].value = val;
        n++;
    }
    e->withs = ar_alloc(p->pc->ar, (size_t)n * sizeof(with_mod));
    memcpy(e->withs, w, (size_t)n * sizeof(with_mod));
    e->nwith = n;
    free(w);
    return true;
}

static expr *parse_literal_base(P *p, bool withs)
{
    int line = p->t.line, col = p->t.col;
    tok *nx = peek(p);
    bool kw_ok = !(nx->kind == K_PUNCT && (is_op(nx, ".") || is_op(nx, "[") || is_op(nx, "=") || is_op(nx, ":=") ||
                                           is_op(nx, "(") || is_op(nx, "==")));
    if (kw_ok && is_kw(&p->t, "some")) {
        next(p);
        /* some x, y   |   some x in xs   |  some k, v in xs */
        term *t1 = parse_rel(p);
        if (!t1) return NULL;
        term *t2 = NULL;
        if (accept(p, ",")) {
            t2 = parse_rel(p);
            if (!t2) return NULL;
            if (!is_kw(&p->t, "in")) {
                /* some x, y, z declaration */
                tvec v = {0};
                tv_push(&v, t1);
                tv_push(&v, t2);
                while (accept(p, ",")) {
                    term *t = parse_term(p);
                    if (!t) {
                        free(v.v);
                        return NULL;
                    }
                    tv_push(&v, t);
                }
                for (int i = 0; i < v.n; i++)
                    if (v.v[i]->kind != T_VAR) {
                        perr(p, v.v[i]->line, v.v[i]->col, "expected var");
                        free(v.v);
                        return NULL;
                    }
                expr *e = mk_expr(p, E_SOME_DECL, line, col);
                e->ndecl = v.n;
                e->decl = tv_done(p, &v);
                return e;
            }
        }
        if (is_kw(&p->t, "in")) {
            next(p);
            term *coll = parse_rel(p);
            if (!coll) return NULL;
            expr *e = mk_expr(p, E_SOME_IN, line, col);
            e->k = t2 ? t1 : NULL;
            e->v = t2 ? t2 : t1;
            e->coll = coll;
            if (withs && !parse_withs(p, e)) return NULL;
            return e;
        }
        if (t1->kind == T_CALL && strcmp(t1->name, "internal.member_2") == 0) {
            expr *e = mk_expr(p, E_SOME_IN, line, col);
            e->v = t1->items[0];
            e->coll = t1->items[1];
            if (withs && !parse_withs(p, e)) return NULL;
            return e;
        }
        if (t1->kind != T_VAR) {
            perr(p, t1->line, t1->col, "expected var");
            return NULL;
        }
        expr *e = mk_expr(p, E_SOME_DECL, line, col);
        e->ndecl = 1;
        e->decl = ar_alloc(p->pc->ar, sizeof(term *));
        e->decl[0] = t1;
        return e;
    }
    if (kw_ok && is_kw(&p->t, "every")) {
        next(p);
        term *t1 = parse_term(p);
        if (!t1) return NULL;
        term *t2 = NULL;
        if (accept(p, ",")) {
            t2 = parse_term(p);
            if (!t2) return NULL;
        }
        if (!is_kw(&p->t, "in")) {
            perr(p, p->t.line, p->t.col, "unexpected %s token: expected in", tok_desc(&p->t));
            return NULL;
        }
        next(p);
        term *coll = parse_rel(p);
        if (!coll) return NULL;
        expr *e = mk_expr(p, E_EVERY, line, col);
        e->k = t2 ? t1 : NULL;
        e->v = t2 ? t2 : t1;
        e->coll = coll;
        e->body = parse_braced_body(p);
        if (!e->body) return NULL;
        if (withs && !parse_withs(p, e)) return NULL;
        return e;
    }
    bool neg = false;
    /* `not` is reserved in v0 and v1: `not [1] == x` and `not (x)` negate */
    if ((kw_ok || is_op(nx, "[") || is_op(nx, "(")) && is_kw(&p->t, "not")) {
        next(p);
        neg = true; /* the expression's position stays at `not` (as OPA's) */
        if (p->not_body && is_op(&p->t, "{")) {
            expr *e = mk_expr(p, E_NOT_BODY, line, col);
            e->body = parse_braced_body(p);
            if (!e->body) return NULL;
            e->neg = 1;
            if (withs && !parse_withs(p, e)) return NULL;
            return e;
        }
    }
    term *a = parse_member_term(p);
    if (!a) return NULL;
    expr *e;
    if (0) {
    } else if ((is_op(&p->t, "=") || is_op(&p->t, ":="))) {
        bool assign = is_op(&p->t, ":=");
        next(p);
        term *b = parse_member_term(p); /* `x := 1, "foo" in xs` */
        if (!b) return NULL;
        e = mk_expr(p, assign ? E_ASSIGN : E_UNIFY, line, col);
        e->a = a;
        e->b = b;
    } else {
        e = mk_expr(p, E_TERM, line, col);
        e->a = a;
    }
    e->neg = neg;
    if (neg && p->not_wrap) {
        /* `import future.keywords.not`: `not expr` is `not { expr }`, so the terms OPA
         * hoists out of a negated expression (compile.c) stay inside the negation */
        expr *outer = mk_expr(p, E_NOT_BODY, line, col);
        outer->neg = 1;
        outer->body = ar_alloc(p->pc->ar, sizeof(body));
        outer->body->n = 1;
        outer->body->exprs = ar_alloc(p->pc->ar, sizeof(expr *));
        outer->body->exprs[0] = e;
        e->neg = 0;
        e = outer;
    }
    if (withs && !parse_withs(p, e)) return NULL;
    return e;
}

/* ------------------------------------------------------------ `and` / `or` (experimental)
 * With `import future.keywords.and` / `.or`, a literal may be a chain of operands:
 * `a and b or not c`, `{ body } and (x or y) with input as v`. `not` binds tighter
 * than `and`, `and` tighter than `or`; trailing `with`s apply to the whole chain
 * (inside parentheses: to the group). Every operand is a closure with its own scope
 * that succeeds at most once, so the chain is desugared into `not { }` bodies:
 *   test(B)            = not { not { B } }               (B succeeds, once)
 *   A1 and ... and An  = test({ test(A1); ...; test(An) })
 *   O1 or ... or On    = not { not { O1 }; ...; not { On } }
 * which keeps short-circuit order (a later operand runs only if needed). */
typedef struct {
    expr *e; /* a literal operand */
    body *b; /* a braced-body operand */
} operand;

static bool logic_kw(P *p, const char *kw)
{
    if (p->t.nl || !is_kw(&p->t, kw)) return false;
    return kw[0] == 'a' ? p->kw_and : p->kw_or;
}
static bool logic_next(P *p) { return logic_kw(p, "and") || logic_kw(p, "or"); }

static body *body_of(P *p, expr **v, int n)
{
    body *b = ar_alloc(p->pc->ar, sizeof(body));
    b->n = n;
    b->exprs = ar_alloc(p->pc->ar, (size_t)(n ? n : 1) * sizeof(expr *));
    if (n) memcpy(b->exprs, v, (size_t)n * sizeof(expr *));
    return b;
}
static expr *mk_notb(P *p, body *b, int line, int col)
{
    expr *e = mk_expr(p, E_NOT_BODY, line, col);
    e->body = b;
    e->neg = 1;
    return e;
}
static expr *mk_test(P *p, body *b, int line, int col)
{
    expr *inner = mk_notb(p, b, line, col);
    return mk_notb(p, body_of(p, &inner, 1), line, col);
}
static body *operand_body(P *p, operand o) { return o.b ? o.b : body_of(p, &o.e, 1); }

static expr *parse_logic(P *p, bool withs);

typedef struct {
    P p;
    rego_error err;
} psave;
static void ps_save(P *p, psave *s)
{
    s->p = *p;
    s->err = p->pc->err ? *p->pc->err : (rego_error){0};
}
static void ps_load(P *p, const psave *s)
{
    *p = s->p;
    if (p->pc->err) *p->pc->err = s->err;
}

static bool parse_operand_primary(P *p, bool after_op, operand *o)
{
    o->e = NULL;
    o->b = NULL;
    if (is_op(&p->t, "{")) {
        /* a body if it parses as one and sits next to and/or; else a set/object */
        psave s;
        ps_save(p, &s);
        body *b = parse_braced_body(p);
        if (b && !p->failed && (after_op || logic_next(p))) {
            o->b = b;
            return true;
        }
        ps_load(p, &s);
    } else if (is_op(&p->t, "(")) {
        /* a term in parentheses, else a group `( chain [with ...] )` */
        psave s, failed;
        ps_save(p, &s);
        expr *e = parse_literal_base(p, false);
        if (e && !p->failed) {
            o->e = e;
            return true;
        }
        ps_save(p, &failed);
        ps_load(p, &s);
        next(p);
        e = parse_logic(p, true);
        if (e && !p->failed && expect(p, ")")) {
            o->e = e;
            return true;
        }
        ps_load(p, &failed); /* report the term's error */
        return false;
    }
    o->e = parse_literal_base(p, false);
    return o->e != NULL;
}

static bool parse_operand(P *p, bool after_op, operand *o)
{
    if (is_kw(&p->t, "not") && (is_op(peek(p), "(") || (is_op(peek(p), "{") && !p->not_body))) {
        /* `not (a or b)`: negated group (`not { }` bodies are parse_literal_base's) */
        int line = p->t.line, col = p->t.col;
        bool paren = is_op(peek(p), "(");
        psave s;
        ps_save(p, &s);
        next(p);
        operand in;
        if (parse_operand_primary(p, true, &in) && (in.b || paren)) {
            o->b = NULL;
            o->e = mk_notb(p, operand_body(p, in), line, col);
            return true;
        }
        ps_load(p, &s);
    }
    return parse_operand_primary(p, after_op, o);
}

/* and-chain; *single set when it is one operand */
static bool parse_and_chain(P *p, bool after_op, operand *out)
{
    int line = p->t.line, col = p->t.col;
    operand o;
    if (!parse_operand(p, after_op, &o)) return false;
    if (!logic_kw(p, "and")) {
        *out = o;
        return true;
    }
    int n = 0, cap = 4;
    expr **v = rego_xmalloc((size_t)cap * sizeof(expr *));
    for (;;) {
        expr *x = o.b ? mk_test(p, o.b, line, col) : o.e;
        if (o.e && o.e->kind != E_TERM) x = mk_test(p, operand_body(p, o), line, col);
        if (n == cap) v = rego_xrealloc(v, (size_t)(cap *= 2) * sizeof(expr *));
        v[n++] = x;
        if (!logic_kw(p, "and")) break;
        next(p);
        line = p->t.line;
        col = p->t.col;
        if (!parse_operand(p, true, &o)) {
            free(v);
            return false;
        }
    }
    out->e = NULL;
    out->b = body_of(p, v, n);
    free(v);
    return true;
}

static expr *parse_logic(P *p, bool withs)
{
    int line = p->t.line, col = p->t.col;
    operand o;
    if (!parse_and_chain(p, false, &o)) return NULL;
    expr *e;
    if (!logic_kw(p, "or")) {
        e = o.e ? o.e : mk_test(p, o.b, line, col);
    } else {
        int n = 0, cap = 4;
        expr **v = rego_xmalloc((size_t)cap * sizeof(expr *));
        for (;;) {
            if (n == cap) v = rego_xrealloc(v, (size_t)(cap *= 2) * sizeof(expr *));
            v[n++] = mk_notb(p, operand_body(p, o), line, col);
            if (!logic_kw(p, "or")) break;
            next(p);
            if (!parse_and_chain(p, true, &o)) {
                free(v);
                return NULL;
            }
        }
        e = mk_notb(p, body_of(p, v, n), line, col);
        free(v);
    }
    if (withs && WITH_NEXT(p)) {
        if (e->nwith) e = mk_test(p, body_of(p, &e, 1), line, col);
        if (!parse_withs(p, e)) return NULL;
    }
    return e;
}

static expr *parse_literal(P *p)
{
    if (!p->kw_and && !p->kw_or) return parse_literal_base(p, true);
    return parse_logic(p, true);
}

/* ------------------------------------------------------------ template strings
 * $"text {expr} text" and $`raw {expr}` (OPA 1.x): `\{` is a literal brace; each
 * `{expr [with ...]}` is a term whose value is printed (strings as they are, other
 * values as Rego terms, "<undefined>" when it has none). Becomes
 *   internal.template_string([ "text", [$t | $t = expr with ...], "text" ])
 * so an expression part is a closure (its own with-scope, first value or none). */
static bool parse_withs(P *p, expr *e);
static term *parse_template(P *p, const tok *t)
{
    const char *src = p->pc->src;
    bool raw = t->s[1] == '`';
    size_t i = (size_t)(t->s - src) + 2, end = (size_t)(t->s - src) + t->n - 1; /* closing quote */
    int line = t->line, col = t->col + 2;
    tvec parts = {0};
    size_t cap = 64, n = 0;
    char *buf = rego_xmalloc(cap);
#define TADV()                                                                                                         \
    do {                                                                                                               \
        if (src[i] == '\n') line++, col = 1;                                                                           \
        else col++;                                                                                                    \
        i++;                                                                                                           \
    } while (0)
    while (i <= end && !p->failed) {
        if (n + 8 > cap) buf = rego_xrealloc(buf, cap *= 2);
        char ch = i < end ? src[i] : 0;
        if (i < end && ch == '\\' && i + 1 < end && src[i + 1] == '{') {
            buf[n++] = '{';
            TADV();
            TADV();
            continue;
        }
        if (i < end && ch == '\\' && !raw) {
            TADV();
            char e = i < end ? src[i] : 0;
            const char *m = strchr("ntrbf/\\\"", e);
            if (e && m) {
                buf[n++] = "\n\t\r\b\f/\\\""[m - "ntrbf/\\\""];
                TADV();
            } else if (e == 'u' && i + 4 < end && hexv(src[i + 1]) >= 0 && hexv(src[i + 2]) >= 0 &&
                       hexv(src[i + 3]) >= 0 && hexv(src[i + 4]) >= 0) {
                unsigned cp = 0;
                for (int k = 1; k <= 4; k++) cp = cp * 16 + (unsigned)hexv(src[i + k]);
                for (int k = 0; k < 5; k++) TADV();
                put_utf8(buf, &n, cp);
            } else {
                perr(p, line, col, "illegal escape sequence");
                break;
            }
            continue;
        }
        if (i < end && ch != '{') {
            buf[n++] = ch;
            TADV();
            continue;
        }
        /* end of a literal part */
        if (n) tv_push(&parts, mk_val(p, rv_string(buf, n), t->line, t->col));
        n = 0;
        if (i >= end) break;
        /* expression part: find its `}` with the lexer's scanner */
        int el = line, ec = col;
        P scan = *p;
        scan.pos = i + 1;
        scan.has_peek = false;
        if (!skip_template_expr(&scan)) {
            perr(p, el, ec, "expected } to end template string expression");
            break;
        }
        size_t estart = i + 1, eend = scan.pos - 1; /* eend: the `}` */
        TADV();
        parse_ctx spc = *p->pc;
        spc.src = src + estart;
        spc.len = eend - estart;
        P sub = {.pc = &spc,
                 .line = line,
                 .col = col,
                 .not_body = p->not_body,
                 .kw_and = p->kw_and,
                 .kw_or = p->kw_or,
                 .not_wrap = p->not_wrap};
        next(&sub);
        term *x = sub.failed ? NULL : parse_expr_term(&sub);
        char name[48];
        snprintf(name, sizeof name, "$t%zx", (size_t)(uintptr_t)(src + estart)); /* unique per source */
        term *v = mk_var(p, name, strlen(name), el, ec);
        expr *u = mk_expr(p, E_UNIFY, el, ec);
        u->a = v;
        u->b = x;
        if (x && !sub.failed) parse_withs(&sub, u);
        if (!sub.failed && sub.t.kind != K_EOF)
            perr(&sub, sub.t.line, sub.t.col, "expected } to end template string expression");
        if (sub.failed || !x) {
            p->failed = true;
            break;
        }
        term *c = mk(p, T_ACOMP, el, ec);
        c->items = ar_alloc(p->pc->ar, sizeof(term *));
        c->items[0] = mk_var(p, name, strlen(name), el, ec);
        c->n = 1;
        c->body = body_of(p, &u, 1);
        tv_push(&parts, c);
        while (i < eend) TADV();
        TADV(); /* } */
    }
#undef TADV
    free(buf);
    if (p->failed) {
        free(parts.v);
        return NULL;
    }
    term *arr = mk(p, T_ARRAY, t->line, t->col);
    arr->n = parts.n;
    arr->items = tv_done(p, &parts);
    term *call = mk(p, T_CALL, t->line, t->col);
    call->name = "internal.template_string";
    call->n = 1;
    call->items = ar_alloc(p->pc->ar, sizeof(term *));
    call->items[0] = arr;
    return call;
}

static body *parse_body_until(P *p, const char *close)
{
    int n = 0, cap = 0;
    expr **v = NULL;
    while (!p->failed && !at_body_end(p, close)) {
        if (n > 0) {
            if (accept(p, ";")) {
                if (at_body_end(p, close)) break;
            } else if (!p->t.nl) {
                perr(p, p->t.line, p->t.col, "unexpected %s token", tok_desc(&p->t));
                break;
            }
        }
        expr *e = parse_literal(p);
        if (!e) break;
        if (n == cap) v = rego_xrealloc(v, (size_t)(cap = cap ? cap * 2 : 4) * sizeof(expr *));
        v[n++] = e;
    }
    if (p->failed) {
        free(v);
        return NULL;
    }
    if (n == 0 && close) {
        perr(p, p->t.line, p->t.col, "found empty body");
        free(v);
        return NULL;
    }
    body *b = ar_alloc(p->pc->ar, sizeof(body));
    b->n = n;
    b->exprs = ar_alloc(p->pc->ar, (size_t)(n ? n : 1) * sizeof(expr *));
    if (n) memcpy(b->exprs, v, (size_t)n * sizeof(expr *));
    free(v);
    return b;
}

/* ------------------------------------------------------------ rules */
typedef struct {
    rule **v;
    int n, cap;
} rvec;
static void rv_push_rule(rvec *v, rule *r)
{
    if (v->n == v->cap) v->v = rego_xrealloc(v->v, (size_t)(v->cap = v->cap ? v->cap * 2 : 8) * sizeof(rule *));
    v->v[v->n++] = r;
}

static body *true_body(P *p)
{
    body *b = ar_alloc(p->pc->ar, sizeof(body));
    b->exprs = ar_alloc(p->pc->ar, sizeof(expr *));
    return b;
}

/* Parses the body part after a head: `if { ... }`, `if expr`, `{ ... }` (v0), or nothing. */
static body *parse_rule_body(P *p, bool *had)
{
    *had = false;
    if (is_kw(&p->t, "if") && !p->t.nl) {
        next(p);
        *had = true;
        if (is_op(&p->t, "{")) {
            /* `if {` is a body, unless it only parses as one expression starting with
             * an object/set literal or comprehension (`if {x: i | ...}`): retry so */
            P saved = *p;
            rego_error saved_err = p->pc->err ? *p->pc->err : (rego_error){0};
            body *b = parse_braced_body(p);
            if (b) return b;
            P failed = *p;
            rego_error body_err = p->pc->err ? *p->pc->err : (rego_error){0};
            *p = saved;
            if (p->pc->err) *p->pc->err = saved_err;
            expr *e = parse_literal(p);
            if (!e) {
                *p = failed; /* report the body's error */
                if (p->pc->err) *p->pc->err = body_err;
                return NULL;
            }
            b = ar_alloc(p->pc->ar, sizeof(body));
            b->n = 1;
            b->exprs = ar_alloc(p->pc->ar, sizeof(expr *));
            b->exprs[0] = e;
            return b;
        }
        expr *e = parse_literal(p);
        if (!e) return NULL;
        body *b = ar_alloc(p->pc->ar, sizeof(body));
        b->n = 1;
        b->exprs = ar_alloc(p->pc->ar, sizeof(expr *));
        b->exprs[0] = e;
        return b;
    }
    if (is_op(&p->t, "{") && !p->t.nl) {
        if (p->pc->v1) {
            perr(p, p->t.line, p->t.col, "`if` keyword is required before rule body");
            return NULL;
        }
        *had = true;
        return parse_braced_body(p);
    }
    return true_body(p);
}

static rule *new_rule(P *p, module *m, int line, int col)
{
    rule *r = ar_alloc(p->pc->ar, sizeof(rule));
    r->file = p->pc->file;
    r->line = line;
    r->col = col;
    r->mod = m;
    r->pkgpath = m->pkgpath;
    return r;
}

/* OPA's validateDefaultRuleValue: the value of a default rule is a constant (closures
 * aside); the first ref, call or var found (outermost first) is reported. */
/* an import's path as OPA prints it: data.a.b["c d"] */
static void import_text(const term *r, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s", r->kind == T_VAR ? r->name : r->items[0]->name);
    for (int i = 1; r->kind == T_REF && i < r->n && n < cap; i++) {
        const term *k = r->items[i];
        if (k->kind != T_VAL || rv_typeof(k->val) != RV_STRING) break;
        const char *s = rv_str(k->val);
        bool ident = (isalpha((unsigned char)s[0]) || s[0] == '_');
        for (const char *q = s; *q && ident; q++) ident = isalnum((unsigned char)*q) || *q == '_';
        n += (size_t)snprintf(buf + n, cap - n, ident ? ".%s" : "[\"%s\"]", s);
    }
}

static const char *default_value_bad(const term *t)
{
    if (!t || t->body) return NULL;
    if (t->kind == T_REF) return "ref";
    if (t->kind == T_CALL) return t->n == 0 && strcmp(t->name, "set") == 0 ? NULL : "call"; /* set() is a literal */
    if (t->kind == T_VAR) return "var";
    for (int i = 0; i < t->n; i++) {
        const char *b = default_value_bad(t->items[i]);
        if (b) return b;
    }
    return NULL;
}

static bool parse_rule(P *p, module *m, rvec *out)
{
    int line = p->t.line, col = p->t.col;
    bool is_default = false;
    if (is_kw(&p->t, "default")) {
        tok *nx = peek(p);
        if (nx->kind == K_IDENT) {
            next(p);
            is_default = true;
        }
    }
    if (p->t.kind != K_IDENT) {
        perr(p, p->t.line, p->t.col, "unexpected %s token", tok_desc(&p->t));
        return false;
    }
    term *head = parse_term(p);
    if (!head) return false;
    rule *r = new_rule(p, m, line, col);
    r->is_default = is_default;
    /* flatten head ref */
    if (head->kind == T_CALL) {
        r->kind = R_FUNC;
        r->args = head->items;
        r->nargs = head->n;
        /* split name into ref */
        tvec v = {0};
        const char *s = head->name;
        while (*s) {
            const char *d = strchr(s, '.');
            size_t n = d ? (size_t)(d - s) : strlen(s);
            tv_push(&v, mk_val(p, rv_string(s, n), head->line, head->col));
            s += n;
            if (*s) s++;
        }
        r->nref = v.n;
        r->ref = tv_done(p, &v);
    } else if (head->kind == T_VAR) {
        r->kind = R_COMPLETE;
        r->nref = 1;
        r->ref = ar_alloc(p->pc->ar, sizeof(term *));
        r->ref[0] = mk_val(p, rv_cstring(head->name), head->line, head->col);
    } else if (head->kind == T_REF && head->items[0]->kind == T_VAR) {
        r->kind = R_COMPLETE;
        r->nref = head->n;
        r->ref = ar_alloc(p->pc->ar, (size_t)head->n * sizeof(term *));
        r->ref[0] = mk_val(p, rv_cstring(head->items[0]->name), head->line, head->col);
        for (int i = 1; i < head->n; i++) r->ref[i] = head->items[i];
    } else {
        perr(p, head->line, head->col, "invalid rule head");
        return false;
    }
    bool has_contains = false, has_value = false;
    if (is_kw(&p->t, "contains") && !p->t.nl && r->kind != R_FUNC) {
        next(p);
        r->key = parse_expr_term(p);
        if (!r->key) return false;
        r->kind = R_SET;
        has_contains = true;
    }
    if (!has_contains && (is_op(&p->t, "=") || is_op(&p->t, ":=")) && !p->t.nl) {
        next(p);
        r->value = parse_expr_term(p);
        if (!r->value) return false;
        has_value = true;
    }
    if (is_default) {
        if (!has_value) {
            perr(p, line, col, "default rules must have a value");
            return false;
        }
        const char *bad = default_value_bad(r->value);
        if (bad) {
            perr(p, line, col, "illegal default rule (value cannot contain %s)", bad);
            return false;
        }
        rv_push_rule(out, r);
        return true;
    }
    /* v0 `p[x] { }`, `p["x"]`, `p.x { }` = partial set (two-part heads only: `a.b[x] { }`
     * is an object); v1 `p[x] if` = object with value true */
    if (!has_contains && !has_value && r->kind == R_COMPLETE && r->nref == 2) {
        term *last = r->ref[r->nref - 1];
        if (!p->pc->v1 && !(is_kw(&p->t, "if") && !p->t.nl)) { /* v0 `a[x] if q[x]`: object */
            r->kind = R_SET;
            r->key = last;
            r->nref -= 1;
        }
    }
    if (!has_value && r->kind != R_SET) r->value = mk_val(p, rv_bool(true), line, col);
    bool had;
    r->body = parse_rule_body(p, &had);
    if (!r->body) return false;
    if (p->pc->v1 && !had && !has_value && !has_contains && r->kind != R_SET) {
        /* `p` alone or `f(x)` alone in v1 is an error */
        perr(p, line, col, "rule must have a value or body");
        return false;
    }
    if (p->pc->v1 && r->kind == R_SET && !has_contains) {
        perr(p, line, col, "`contains` keyword is required for partial set rules");
        return false;
    }
    rv_push_rule(out, r);
    /* else chain */
    rule *prev = r;
    while (is_kw(&p->t, "else") && !(is_op(peek(p), ".") || is_op(peek(p), "["))) {
        int el = p->t.line, ec = p->t.col;
        /* OPA's parse errors; an else on a set rule had no value to evaluate
         * (NULL dereference found by fuzzing) */
        if (r->kind == R_SET) {
            perr(p, el, ec, "else keyword cannot be used on multi-value rules");
            return false;
        }
        bool var_head = r->kind == R_OBJECT;
        for (int i = 1; i < r->nref; i++) var_head |= r->ref[i]->kind != T_VAL;
        if (var_head) {
            perr(p, el, ec, "else keyword cannot be used on rules with variables in head");
            return false;
        }
        next(p);
        rule *e = new_rule(p, m, el, ec);
        e->kind = r->kind;
        e->ref = r->ref;
        e->nref = r->nref;
        e->args = r->args;
        e->nargs = r->nargs;
        if (accept(p, "=") || accept(p, ":=")) {
            e->value = parse_expr_term(p);
            if (!e->value) return false;
        } else e->value = mk_val(p, rv_bool(true), el, ec);
        bool h;
        e->body = parse_rule_body(p, &h);
        if (!e->body) return false;
        prev->els = e;
        prev = e;
    }
    /* v0: multiple bodies `p { a } { b }` */
    while (!p->pc->v1 && is_op(&p->t, "{") && had) {
        rule *c = new_rule(p, m, p->t.line, p->t.col);
        *c = *r;
        c->els = NULL;
        c->body = parse_braced_body(p);
        if (!c->body) return false;
        rv_push_rule(out, c);
    }
    return true;
}

static bool module_says_v1(const char *src, size_t len)
{
    /* cheap scan for `import rego.v1` */
    const char *s = src, *end = src + len;
    while (s < end) {
        const char *f = strstr(s, "import rego.v1");
        if (!f || f >= end) break;
        return true;
    }
    return false;
}

module *rego_parse_module(parse_ctx *pc)
{
    P p = {.pc = pc, .line = 1, .col = 1};
    if (module_says_v1(pc->src, pc->len)) pc->v1 = true;
    next(&p);
    module *m = ar_alloc(pc->ar, sizeof(module));
    m->file = pc->file;
    if (!is_kw(&p.t, "package")) {
        perr(&p, p.t.line, p.t.col, "package expected");
        return NULL;
    }
    next(&p);
    term *pkg = parse_term(&p);
    if (!pkg) return NULL;
    /* pkg as path string */
    char path[512];
    size_t n = (size_t)snprintf(path, sizeof path, "data");
    if (pkg->kind == T_VAR) n += (size_t)snprintf(path + n, sizeof path - n, ".%s", pkg->name);
    else if (pkg->kind == T_REF && pkg->items[0]->kind == T_VAR) {
        n += (size_t)snprintf(path + n, sizeof path - n, ".%s", pkg->items[0]->name);
        for (int i = 1; i < pkg->n; i++) {
            if (pkg->items[i]->kind != T_VAL || rv_typeof(pkg->items[i]->val) != RV_STRING) {
                perr(&p, pkg->line, pkg->col, "invalid package name");
                return NULL;
            }
            if (n < sizeof path) n += (size_t)snprintf(path + n, sizeof path - n, ".%s", rv_str(pkg->items[i]->val));
        }
    } else {
        perr(&p, pkg->line, pkg->col, "invalid package name");
        return NULL;
    }
    if (n >= sizeof path) { /* snprintf's wanted length: never read past path */
        perr(&p, pkg->line, pkg->col, "package name too long");
        return NULL;
    }
    m->pkgpath = ar_strndup(pc->ar, path, n);
    m->pkg = pkg;
    int ni = 0, capi = 0;
    import_decl *imps = NULL;
    bool *explicit_alias = NULL;
    while (is_kw(&p.t, "import")) {
        tok *nx = peek(&p);
        if (nx->kind != K_IDENT) break;
        int kl = p.t.line, kc = p.t.col;
        next(&p);
        int il = p.t.line, ic = p.t.col;
        term *r = parse_term(&p);
        if (!r) {
            free(imps);
            free(explicit_alias);
            return NULL;
        }
        const char *alias = NULL;
        if (is_kw(&p.t, "as") && !p.t.nl) {
            next(&p);
            if (p.t.kind != K_IDENT) {
                perr(&p, p.t.line, p.t.col, "unexpected %s token: expected var", tok_desc(&p.t));
                free(imps);
                free(explicit_alias);
                return NULL;
            }
            alias = ar_strndup(pc->ar, p.t.s, p.t.n);
            next(&p);
        }
        const char *root = r->kind == T_VAR                                   ? r->name
                           : (r->kind == T_REF && r->items[0]->kind == T_VAR) ? r->items[0]->name
                                                                              : NULL;
        if (!root) {
            perr(&p, il, ic, "invalid import");
            free(imps);
            free(explicit_alias);
            return NULL;
        }
        if (strcmp(root, "future") == 0 || strcmp(root, "rego") == 0) {
            if (strcmp(root, "rego") == 0) pc->v1 = true;
            if (r->kind == T_REF && r->n >= 2 && r->items[1]->kind == T_VAL &&
                rv_typeof(r->items[1]->val) == RV_STRING && strcmp(rv_str(r->items[1]->val), "keywords") == 0 &&
                (r->n == 2 || (r->n == 3 && r->items[2]->kind == T_VAL && rv_typeof(r->items[2]->val) == RV_STRING &&
                               strcmp(rv_str(r->items[2]->val), "not") == 0)))
                p.not_body = true;
            if (r->kind == T_REF && r->n == 3 && r->items[1]->kind == T_VAL && r->items[2]->kind == T_VAL &&
                rv_typeof(r->items[1]->val) == RV_STRING && rv_typeof(r->items[2]->val) == RV_STRING &&
                strcmp(rv_str(r->items[1]->val), "keywords") == 0) {
                if (strcmp(rv_str(r->items[2]->val), "and") == 0) p.kw_and = true;
                if (strcmp(rv_str(r->items[2]->val), "or") == 0) p.kw_or = true;
                if (strcmp(rv_str(r->items[2]->val), "not") == 0) p.not_wrap = true;
            }
            continue;
        }
        if (strcmp(root, "data") != 0 && strcmp(root, "input") != 0) {
            perr(&p, il, ic, "invalid import, must begin with one of: {data, input, future, rego}");
            free(imps);
            free(explicit_alias);
            return NULL;
        }
        bool explicit = alias != NULL;
        if (!alias) {
            if (r->kind == T_VAR) alias = r->name;
            else {
                term *last = r->items[r->n - 1];
                if (last->kind != T_VAL || rv_typeof(last->val) != RV_STRING) {
                    perr(&p, il, ic, "invalid import");
                    free(imps);
                    free(explicit_alias);
                    return NULL;
                }
                alias = rv_str(last->val);
            }
        }
        for (int k = 0; k < ni; k++) {
            if (strcmp(imps[k].alias, alias) != 0) continue;
            /* OPA's CheckDuplicateImports */
            char txt[300];
            import_text(imps[k].ref, txt, sizeof txt);
            rego_set_error(pc->err, "rego_compile_error", pc->file, kl, kc, "import must not shadow import %s%s%s", txt,
                           explicit_alias[k] ? " as " : "", explicit_alias[k] ? imps[k].alias : "");
            p.failed = true;
            free(imps);
            free(explicit_alias);
            return NULL;
        }
        if (ni == capi) {
            capi = capi ? capi * 2 : 4;
            imps = rego_xrealloc(imps, (size_t)capi * sizeof(import_decl));
            explicit_alias = rego_xrealloc(explicit_alias, (size_t)capi * sizeof(bool));
        }
        explicit_alias[ni] = explicit;
        imps[ni].alias = alias;
        imps[ni].ref = r;
        ni++;
    }
    m->imports = ar_alloc(pc->ar, (size_t)(ni ? ni : 1) * sizeof(import_decl));
    if (ni) memcpy(m->imports, imps, (size_t)ni * sizeof(import_decl));
    m->nimports = ni;
    free(imps);
    free(explicit_alias);
    m->v1 = pc->v1;
    rvec rules = {0};
    while (!p.failed && p.t.kind != K_EOF) {
        if (!parse_rule(&p, m, &rules)) break;
    }
    if (p.failed) {
        free(rules.v);
        return NULL;
    }
    m->nrules = rules.n;
    m->rules = ar_alloc(pc->ar, (size_t)(rules.n ? rules.n : 1) * sizeof(rule *));
    if (rules.n) memcpy(m->rules, rules.v, (size_t)rules.n * sizeof(rule *));
    free(rules.v);
    return m;
}

body *rego_parse_query(parse_ctx *pc)
{
    P p = {.pc = pc, .line = 1, .col = 1};
    next(&p);
    body *b = parse_body_until(&p, NULL);
    if (b && b->n == 0) {
        perr(&p, 1, 1, "empty query");
        return NULL;
    }
    return p.failed ? NULL : b;
}

term *rego_parse_term_text(parse_ctx *pc)
{
    P p = {.pc = pc, .line = 1, .col = 1};
    next(&p);
    term *t = parse_expr_term(&p);
    if (t && p.t.kind != K_EOF) perr(&p, p.t.line, p.t.col, "unexpected %s token", tok_desc(&p.t));
    return p.failed ? NULL : t;
}
