/*
 * obj_repr.c - Python's repr() and str() of values (include/mpx/obj.h).
 *
 * Built-in types print exactly as CPython prints them: floats in the
 * shortest form that reads back (float_repr_style 'short': fixed notation
 * when -4 < exponent <= 16, else d.dddde+XX), str with unicode_repr's
 * quote choice and escapes (non-printable code points by Unicode 14's
 * isprintable, the database of CPython 3.11: obj_unicode.c), bytes with
 * bytes_repr's, containers with their separators, (1,) for one-tuples,
 * set() and frozenset() when empty, and [...], {...}, (...) where a
 * container shows up inside itself (Py_ReprEnter). Carried values print
 * as documented in docs/obj.md: <class 'module.name'>, and an instance as
 * the call that makes it, module.name(args, key=value), followed by
 * .extend([...]), .update({...}) and .__setstate__(state) for its parts.
 */
#include "core/obj_internal.h"

#include <math.h>
#include <stdio.h>

/* ---- floats --------------------------------------------------------------- */

/* Shortest decimal digits that read back as v (v finite, > 0 or 0):
 * digits into d (no dot), returns their count; *decpt is the position of
 * the decimal point (value = 0.d * 10**decpt). */
int mpx__float_shortest(double v, char *d, int *decpt)
{
    char buf[40];
    /* 15 significant digits are unique within a double's rounding
     * interval when it has 53 bits; subnormals have fewer, so search
     * them from 1 digit up */
    static const int normal[] = {14, 15, 16};
    int sub = v < 2.2250738585072014e-308;
    int tries = sub ? 17 : 3;
    for (int k = 0; k < tries; k++) {
        int prec = sub ? k : normal[k];
        snprintf(buf, sizeof buf, "%.*e", prec, v);
        if (k < tries - 1 && strtod(buf, NULL) != v)
            continue;
        /* buf: d.ddddde[+-]XX */
        char *e = strchr(buf, 'e');
        int exp10 = atoi(e + 1);
        int n = 0;
        d[n++] = buf[0];
        for (char *p = buf + 2; p < e; p++)
            d[n++] = *p;
        if (k == 0 || sub) /* the shortest has no trailing zeros */
            while (n > 1 && d[n - 1] == '0')
                n--;
        d[n] = 0;
        *decpt = exp10 + 1;
        return n;
    }
    return 0; /* not reached: 17 digits always read back */
}

size_t mpx__float_repr(double v, char *out)
{
    if (isnan(v))
        return (size_t)sprintf(out, "nan");
    if (isinf(v))
        return (size_t)sprintf(out, v > 0 ? "inf" : "-inf");
    size_t p = 0;
    if (signbit(v)) {
        out[p++] = '-';
        v = -v;
    }
    char d[24];
    int decpt;
    int n = mpx__float_shortest(v, d, &decpt);
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out[p++] = '0';
            out[p++] = '.';
            for (int i = 0; i < -decpt; i++)
                out[p++] = '0';
            memcpy(out + p, d, (size_t)n);
            p += (size_t)n;
        } else if (decpt >= n) {
            memcpy(out + p, d, (size_t)n);
            p += (size_t)n;
            for (int i = n; i < decpt; i++)
                out[p++] = '0';
            out[p++] = '.';
            out[p++] = '0';
        } else {
            memcpy(out + p, d, (size_t)decpt);
            p += (size_t)decpt;
            out[p++] = '.';
            memcpy(out + p, d + decpt, (size_t)(n - decpt));
            p += (size_t)(n - decpt);
        }
    } else {
        out[p++] = d[0];
        if (n > 1) {
            out[p++] = '.';
            memcpy(out + p, d + 1, (size_t)(n - 1));
            p += (size_t)(n - 1);
        }
        int e = decpt - 1;
        p += (size_t)sprintf(out + p, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    out[p] = 0;
    return p;
}

/* ---- the writer --------------------------------------------------------------- */

typedef struct rw {
    mpx__buf b;
    int failed;
    const mpx_obj *stack[64]; /* containers being printed (Py_ReprEnter) */
    const mpx_obj **more;
    size_t n, cap;
} rw;

static void put(rw *w, const void *p, size_t n)
{
    if (!w->failed && mpx__buf_append(&w->b, p, n))
        w->failed = 1;
}

static void puts_(rw *w, const char *s)
{
    put(w, s, strlen(s));
}

static void putc_(rw *w, char c)
{
    put(w, &c, 1);
}

static int entered(rw *w, const mpx_obj *o)
{
    for (size_t i = 0; i < w->n; i++)
        if ((i < 64 ? w->stack[i] : w->more[i - 64]) == o)
            return 1;
    return 0;
}

static int enter(rw *w, const mpx_obj *o)
{
    if (w->n < 64) {
        w->stack[w->n++] = o;
        return 0;
    }
    if (w->n - 64 == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        const mpx_obj **m = realloc(w->more, cap * sizeof *m);
        if (!m) {
            w->failed = 1;
            return -1;
        }
        w->more = m;
        w->cap = cap;
    }
    w->more[w->n - 64] = o;
    w->n++;
    return 0;
}

static const char hexd[] = "0123456789abcdef";

static void str_repr(rw *w, const mpx__vstr *s)
{
    const unsigned char *p = (const unsigned char *)s->data, *end = p + s->len;
    int sq = memchr(p, '\'', s->len) != NULL, dq = memchr(p, '"', s->len) != NULL;
    char quote = sq && !dq ? '"' : '\'';
    putc_(w, quote);
    while (p < end) {
        /* runs of plain ASCII go out at once */
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x7f && *p != '\\' && *p != (unsigned char)quote)
            p++;
        if (p > run)
            put(w, run, (size_t)(p - run));
        if (p >= end)
            break;
        uint32_t cp;
        int n = mpx__utf8_next(p, &cp);
        char esc[12];
        if (cp == (uint32_t)quote || cp == '\\') {
            esc[0] = '\\';
            esc[1] = (char)cp;
            put(w, esc, 2);
        } else if (cp == '\t') {
            puts_(w, "\\t");
        } else if (cp == '\n') {
            puts_(w, "\\n");
        } else if (cp == '\r') {
            puts_(w, "\\r");
        } else if (cp < 0x20 || cp == 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hexd[cp >> 4];
            esc[3] = hexd[cp & 15];
            put(w, esc, 4);
        } else if (cp < 0x7f || mpx__unicode_printable(cp)) {
            put(w, p, (size_t)n);
        } else if (cp <= 0xff) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hexd[cp >> 4];
            esc[3] = hexd[cp & 15];
            put(w, esc, 4);
        } else if (cp <= 0xffff) {
            esc[0] = '\\';
            esc[1] = 'u';
            for (int i = 0; i < 4; i++)
                esc[2 + i] = hexd[(cp >> (12 - 4 * i)) & 15];
            put(w, esc, 6);
        } else {
            esc[0] = '\\';
            esc[1] = 'U';
            for (int i = 0; i < 8; i++)
                esc[2 + i] = hexd[(cp >> (28 - 4 * i)) & 15];
            put(w, esc, 10);
        }
        p += n;
    }
    putc_(w, quote);
}

static void bytes_repr(rw *w, const unsigned char *p, size_t n)
{
    int sq = n && memchr(p, '\'', n) != NULL, dq = n && memchr(p, '"', n) != NULL;
    char quote = sq && !dq ? '"' : '\'';
    putc_(w, 'b');
    putc_(w, quote);
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        char esc[4];
        if (c == (unsigned char)quote || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(w, esc, 2);
        } else if (c == '\t') {
            puts_(w, "\\t");
        } else if (c == '\n') {
            puts_(w, "\\n");
        } else if (c == '\r') {
            puts_(w, "\\r");
        } else if (c < 0x20 || c >= 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hexd[c >> 4];
            esc[3] = hexd[c & 15];
            put(w, esc, 4);
        } else {
            putc_(w, (char)c);
        }
    }
    putc_(w, quote);
}

static int repr(rw *w, const mpx_obj *o, int depth);

static int items(rw *w, mpx_obj *const *it, size_t n, int depth)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            puts_(w, ", ");
        int rc = repr(w, it[i], depth + 1);
        if (rc)
            return rc;
    }
    return 0;
}

static int table(rw *w, const mpx__vtable *t, int with_values, int depth)
{
    int first = 1;
    for (size_t i = 0; i < t->n; i++) {
        if (!t->e[i].key)
            continue;
        if (!first)
            puts_(w, ", ");
        first = 0;
        int rc = repr(w, t->e[i].key, depth + 1);
        if (rc)
            return rc;
        if (with_values) {
            puts_(w, ": ");
            rc = repr(w, t->e[i].value, depth + 1);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* module.qualname, without "builtins." */
static void global_name(rw *w, const mpx__vclass *c)
{
    const mpx__vstr *m = (const mpx__vstr *)c->module, *q = (const mpx__vstr *)c->name;
    if (strcmp(m->data, "builtins") != 0) {
        put(w, m->data, m->len);
        putc_(w, '.');
    }
    put(w, q->data, q->len);
}

static int is_identifier(const mpx_obj *k)
{
    if (k->kind != MPX__K_STR || !(MPX__FL(k) & MPX__F_ASCII))
        return 0;
    const mpx__vstr *s = (const mpx__vstr *)k;
    if (!s->len || (s->data[0] >= '0' && s->data[0] <= '9'))
        return 0;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->data[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

static int instance_repr(rw *w, const mpx__vinst *x, int depth)
{
    int rc;
    if (x->callable->kind == MPX__K_CLASS)
        global_name(w, (const mpx__vclass *)x->callable);
    else if ((rc = repr(w, x->callable, depth + 1)))
        return rc;
    putc_(w, '(');
    const mpx__vtuple *a = (const mpx__vtuple *)x->args;
    if ((rc = items(w, a->items, a->n, depth)))
        return rc;
    if (x->kwargs) {
        const mpx__vtable *t = &((const mpx__vdict *)x->kwargs)->t;
        int all_ident = 1;
        for (size_t i = 0; i < t->n; i++)
            if (t->e[i].key && !is_identifier(t->e[i].key))
                all_ident = 0;
        int first = a->n == 0;
        if (all_ident) {
            for (size_t i = 0; i < t->n; i++) {
                if (!t->e[i].key)
                    continue;
                if (!first)
                    puts_(w, ", ");
                first = 0;
                const mpx__vstr *k = (const mpx__vstr *)t->e[i].key;
                put(w, k->data, k->len);
                putc_(w, '=');
                if ((rc = repr(w, t->e[i].value, depth + 1)))
                    return rc;
            }
        } else if (t->used) {
            if (!first)
                puts_(w, ", ");
            puts_(w, "**");
            if ((rc = repr(w, x->kwargs, depth + 1)))
                return rc;
        }
    }
    putc_(w, ')');
    if (x->listitems) {
        puts_(w, ".extend(");
        if ((rc = repr(w, x->listitems, depth + 1)))
            return rc;
        putc_(w, ')');
    }
    if (x->dictitems) {
        puts_(w, ".update(");
        if ((rc = repr(w, x->dictitems, depth + 1)))
            return rc;
        putc_(w, ')');
    }
    if (x->state) {
        puts_(w, ".__setstate__(");
        if ((rc = repr(w, x->state, depth + 1)))
            return rc;
        putc_(w, ')');
    }
    return 0;
}

static int repr(rw *w, const mpx_obj *o, int depth)
{
    if (depth > MPX_OBJ_MAX_DEPTH)
        return MPX_EDEPTH;
    char buf[40];
    switch (o->kind) {
    case MPX__K_NONE:
        puts_(w, "None");
        return 0;
    case MPX__K_BOOL:
        puts_(w, o == &mpx__v_true ? "True" : "False");
        return 0;
    case MPX__K_INT:
        put(w, buf, (size_t)sprintf(buf, "%lld", (long long)((const mpx__vint *)o)->v));
        return 0;
    case MPX__K_BIG: {
        size_t n;
        char *s = mpx__int_to_dec(o, &n);
        if (!s)
            return errno == ERANGE ? -ERANGE : -ENOMEM;
        put(w, s, n);
        free(s);
        return 0;
    }
    case MPX__K_FLOAT:
        put(w, buf, mpx__float_repr(((const mpx__vfloat *)o)->v, buf));
        return 0;
    case MPX__K_STR:
        str_repr(w, (const mpx__vstr *)o);
        return 0;
    case MPX__K_BYTES:
        bytes_repr(w, ((const mpx__vbytes *)o)->data, ((const mpx__vbytes *)o)->len);
        return 0;
    case MPX__K_BYTEARRAY:
        puts_(w, "bytearray(");
        bytes_repr(w, ((const mpx__vbytearray *)o)->data, ((const mpx__vbytearray *)o)->len);
        putc_(w, ')');
        return 0;
    case MPX__K_CLASS:
        puts_(w, "<class '");
        global_name(w, (const mpx__vclass *)o);
        puts_(w, "'>");
        return 0;
    default:
        break;
    }
    /* containers */
    if (entered(w, o)) {
        switch (o->kind) {
        case MPX__K_TUPLE:
            puts_(w, "(...)");
            break;
        case MPX__K_LIST:
            puts_(w, "[...]");
            break;
        case MPX__K_DICT:
            puts_(w, "{...}");
            break;
        case MPX__K_SET:
            puts_(w, "set(...)");
            break;
        case MPX__K_FROZENSET:
            puts_(w, "frozenset(...)");
            break;
        default:
            puts_(w, "...");
            break;
        }
        return 0;
    }
    if (enter(w, o))
        return -ENOMEM;
    int rc = 0;
    switch (o->kind) {
    case MPX__K_TUPLE: {
        const mpx__vtuple *t = (const mpx__vtuple *)o;
        putc_(w, '(');
        rc = items(w, t->items, t->n, depth);
        if (t->n == 1)
            putc_(w, ',');
        putc_(w, ')');
        break;
    }
    case MPX__K_LIST: {
        const mpx__vlist *l = (const mpx__vlist *)o;
        putc_(w, '[');
        rc = items(w, l->items, l->n, depth);
        putc_(w, ']');
        break;
    }
    case MPX__K_DICT:
        putc_(w, '{');
        rc = table(w, &((const mpx__vdict *)o)->t, 1, depth);
        putc_(w, '}');
        break;
    case MPX__K_SET:
    case MPX__K_FROZENSET: {
        const mpx__vtable *t = &((const mpx__vdict *)o)->t;
        int frozen = o->kind == MPX__K_FROZENSET;
        if (!t->used) {
            puts_(w, frozen ? "frozenset()" : "set()");
            break;
        }
        if (frozen)
            puts_(w, "frozenset(");
        putc_(w, '{');
        rc = table(w, t, 0, depth);
        putc_(w, '}');
        if (frozen)
            putc_(w, ')');
        break;
    }
    case MPX__K_INSTANCE:
        rc = instance_repr(w, (const mpx__vinst *)o, depth);
        break;
    default:
        break;
    }
    w->n--;
    return rc;
}

static char *finish(rw *w, int rc)
{
    free(w->more);
    if (rc || w->failed || mpx__buf_append(&w->b, "", 1)) {
        mpx__buf_free(&w->b);
        return NULL;
    }
    return (char *)w->b.data;
}

MPX_API char *mpx_obj_repr(const mpx_obj *v)
{
    if (!v)
        return NULL;
    rw w;
    memset(&w, 0, sizeof w);
    mpx__buf_init(&w.b);
    int rc = repr(&w, v, 0);
    return finish(&w, rc);
}

MPX_API char *mpx_obj_text(const mpx_obj *v)
{
    if (v && v->kind == MPX__K_STR) {
        const mpx__vstr *s = (const mpx__vstr *)v;
        char *out = malloc(s->len + 1);
        if (out)
            memcpy(out, s->data, s->len + 1);
        return out;
    }
    return mpx_obj_repr(v);
}
