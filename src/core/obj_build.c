/*
 * obj_build.c - format strings (include/mpx/obj.h, docs/obj.md "Format
 * strings"): mpx_obj_build in the spirit of Py_BuildValue and
 * mpx_obj_parse in the spirit of PyArg_Parse, with the same letters.
 *
 * Both walk the format recursively. A build that fails keeps walking the
 * rest of the format in "skip" mode, only to consume the arguments (and
 * release those given with N, which the call owns), as Py_BuildValue
 * does. Errors name the offset in the format.
 */
#include "core/obj_internal.h"

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct args {
    va_list ap;
} args;

typedef struct bstate {
    const char *fmt;
    const char *p;
    args *a;
    mpx_obj_error *err;
    int failed;
} bstate;

static size_t off(const bstate *s)
{
    return (size_t)(s->p - s->fmt);
}

static void skip_seps(const char **p)
{
    while (**p == ' ' || **p == ',' || **p == ':' || **p == '\t' || **p == '\n')
        (*p)++;
}

static void bfail(bstate *s, int code, const char *what)
{
    if (!s->failed) {
        s->failed = code;
        mpx__v_err(s->err, code, off(s), "format position %zu: %s", off(s), what);
    }
}

/* Number of items from p up to the closer (p after the opener). -1 when
 * unbalanced. */
static long count_items(const char *p, char closer)
{
    long n = 0;
    int level = 0;
    for (;; p++) {
        char c = *p;
        if (level == 0 && c == closer)
            return n;
        if (!c)
            return -1;
        if (c == '(' || c == '[' || c == '{') {
            if (level == 0)
                n++;
            level++;
        } else if (c == ')' || c == ']' || c == '}') {
            if (--level < 0)
                return -1;
        } else if (level == 0 && c != ' ' && c != ',' && c != ':' && c != '\t' && c != '\n' &&
                   c != '#' && c != '|') {
            n++;
        }
    }
}

static mpx_obj *build_one(bstate *s);

static mpx_obj *build_seq(bstate *s, char closer, int kind)
{
    long n = count_items(s->p, closer);
    if (n < 0) {
        bfail(s, MPX_EINVAL, "unbalanced brackets");
        return NULL;
    }
    mpx_obj *c = NULL;
    if (!s->failed) {
        if (kind == MPX__K_TUPLE)
            c = mpx__v_tuple_new((size_t)n);
        else if (kind == MPX__K_LIST)
            c = mpx__v_list_new((size_t)n);
        else
            c = mpx__v_dict_new(MPX__K_DICT);
        if (!c)
            bfail(s, -ENOMEM, "out of memory");
    }
    long i = 0;
    mpx_obj *key = NULL;
    for (;;) {
        skip_seps(&s->p);
        if (*s->p == closer) {
            s->p++;
            break;
        }
        mpx_obj *v = build_one(s);
        if (s->failed && *s->p == 0)
            break;
        if (!c || s->failed) {
            mpx_obj_decref(v);
            mpx_obj_decref(key);
            key = NULL;
            continue;
        }
        if (kind == MPX__K_TUPLE) {
            ((mpx__vtuple *)c)->items[i++] = v;
            mpx__gc_link_fast(v);
        } else if (kind == MPX__K_LIST) {
            mpx__list_append_raw(c, v); /* capacity reserved */
        } else if (!key) {
            key = v;
        } else {
            uint64_t h;
            int rc = mpx__v_hash(key, &h, 0);
            if (rc) {
                bfail(s, rc, "unhashable dict key");
                mpx_obj_decref(key);
                mpx_obj_decref(v);
            } else if ((rc = mpx__table_insert(&((mpx__vdict *)c)->t, key, h, v, 0, c, 1))) {
                bfail(s, rc, "out of memory");
            }
            key = NULL;
        }
    }
    if (key) {
        bfail(s, MPX_EINVAL, "dict key without a value");
        mpx_obj_decref(key);
    }
    if (s->failed) {
        if (c && kind == MPX__K_TUPLE)
            for (long k = i; k < n; k++)
                ((mpx__vtuple *)c)->items[k] = &mpx__v_none;
        mpx_obj_decref(c);
        return NULL;
    }
    return c;
}

static mpx_obj *build_one(bstate *s)
{
    skip_seps(&s->p);
    char c = *s->p;
    if (!c) {
        bfail(s, MPX_EINVAL, "format ended early");
        return NULL;
    }
    s->p++;
    mpx_obj *v = NULL;
    int has_len = 0;
    switch (c) {
    case '(':
        return build_seq(s, ')', MPX__K_TUPLE);
    case '[':
        return build_seq(s, ']', MPX__K_LIST);
    case '{':
        return build_seq(s, '}', MPX__K_DICT);
    case 'i':
    case 'h':
    case 'b':
    case 'B':
    case 'H': {
        int x = va_arg(s->a->ap, int);
        v = s->failed ? NULL : mpx__v_int(x);
        break;
    }
    case 'I': {
        unsigned x = va_arg(s->a->ap, unsigned);
        v = s->failed ? NULL : mpx__v_int(x);
        break;
    }
    case 'l': {
        long x = va_arg(s->a->ap, long);
        v = s->failed ? NULL : mpx__v_int(x);
        break;
    }
    case 'k': {
        unsigned long x = va_arg(s->a->ap, unsigned long);
        v = s->failed ? NULL : mpx_obj_uint(x);
        break;
    }
    case 'L': {
        long long x = va_arg(s->a->ap, long long);
        v = s->failed ? NULL : mpx__v_int(x);
        break;
    }
    case 'K': {
        unsigned long long x = va_arg(s->a->ap, unsigned long long);
        v = s->failed ? NULL : mpx_obj_uint(x);
        break;
    }
    case 'n': {
        ssize_t x = va_arg(s->a->ap, ssize_t);
        v = s->failed ? NULL : mpx__v_int(x);
        break;
    }
    case 'p': {
        int b = va_arg(s->a->ap, int);
        v = s->failed ? NULL : mpx_obj_bool(b);
        break;
    }
    case 'd':
    case 'f': {
        double d = va_arg(s->a->ap, double);
        v = s->failed ? NULL : mpx__v_float(d);
        break;
    }
    case 'c': {
        int ch = va_arg(s->a->ap, int);
        char b = (char)ch;
        v = s->failed ? NULL : mpx_obj_bytes(&b, 1);
        break;
    }
    case 'C': {
        int ch = va_arg(s->a->ap, int);
        if (s->failed)
            break;
        if (ch < 0 || ch > 0x10FFFF || (ch >= 0xD800 && ch <= 0xDFFF)) {
            bfail(s, MPX_EINVAL, "C: not a valid code point");
            return NULL;
        }
        unsigned char u[4];
        int n = mpx__utf8_put((uint32_t)ch, u);
        v = mpx__v_str_raw((const char *)u, (size_t)n, 1, ch < 0x80);
        break;
    }
    case 's':
    case 'z':
    case 'y': {
        const char *str = va_arg(s->a->ap, const char *);
        size_t len = 0;
        if (*s->p == '#') {
            s->p++;
            len = va_arg(s->a->ap, size_t);
            has_len = 1;
        }
        if (s->failed)
            break;
        if (!str) {
            if (c == 'y' || (has_len && len)) {
                bfail(s, MPX_EINVAL, "NULL string");
                return NULL;
            }
            return &mpx__v_none; /* Py_BuildValue: a NULL s/z is None */
        }
        if (!has_len)
            len = strlen(str);
        if (c == 'y') {
            v = mpx_obj_bytes(str, len);
        } else {
            size_t bad = 0;
            char why[80];
            int rc = mpx__v_str_check(str, len, &v, &bad, why, sizeof why);
            if (rc == MPX_EINVAL) {
                char msg[140];
                snprintf(msg, sizeof msg, "%c: not UTF-8 at byte %zu (%s)", c, bad, why);
                bfail(s, MPX_EINVAL, msg);
                return NULL;
            }
        }
        break;
    }
    case 'O':
    case 'S':
    case 'N': {
        mpx_obj *o = va_arg(s->a->ap, mpx_obj *);
        if (s->failed) {
            if (c == 'N')
                mpx_obj_decref(o);
            return NULL;
        }
        if (!o) {
            bfail(s, -ENOMEM, "NULL value (a constructor failed?)");
            return NULL;
        }
        return c == 'N' ? o : mpx__v_incref(o);
    }
    default: {
        char msg[40];
        snprintf(msg, sizeof msg, "unknown letter '%c'", c);
        s->p--;
        bfail(s, MPX_EINVAL, msg);
        s->p = s->p + strlen(s->p); /* stop: the arguments cannot be followed */
        return NULL;
    }
    }
    if (!v && !s->failed)
        bfail(s, -ENOMEM, "out of memory");
    return v;
}

MPX_API mpx_obj *mpx_obj_vbuild(mpx_obj_error *err, const char *fmt, va_list ap)
{
    if (!fmt) {
        mpx__v_err(err, MPX_EINVAL, MPX_OBJ_NO_OFFSET, "NULL format");
        return NULL;
    }
    bstate s = {fmt, fmt, NULL, err, 0};
    args a;
    va_copy(a.ap, ap);
    s.a = &a;
    long n = count_items(fmt, 0);
    mpx_obj *out;
    if (n < 0) {
        bfail(&s, MPX_EINVAL, "unbalanced brackets");
        out = NULL;
    } else if (n == 0) {
        out = &mpx__v_none;
    } else if (n == 1) {
        out = build_one(&s);
    } else {
        /* several items: a tuple of them (fmt is read as "(fmt)") */
        mpx_obj *t = mpx__v_tuple_new((size_t)n);
        if (!t)
            bfail(&s, -ENOMEM, "out of memory");
        long i = 0;
        for (;;) {
            skip_seps(&s.p);
            if (!*s.p)
                break;
            mpx_obj *v = build_one(&s);
            if (t && !s.failed && i < n) {
                ((mpx__vtuple *)t)->items[i++] = v;
                mpx__gc_link_fast(v);
            } else {
                mpx_obj_decref(v);
            }
        }
        if (s.failed && t) {
            for (long k = i; k < n; k++)
                ((mpx__vtuple *)t)->items[k] = &mpx__v_none;
            mpx_obj_decref(t);
            t = NULL;
        }
        out = t;
    }
    va_end(a.ap);
    if (s.failed) {
        mpx_obj_decref(out);
        return NULL;
    }
    return out;
}

MPX_API mpx_obj *mpx_obj_build(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mpx_obj *o = mpx_obj_vbuild(NULL, fmt, ap);
    va_end(ap);
    return o;
}

MPX_API mpx_obj *mpx_obj_build_ex(mpx_obj_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mpx_obj *o = mpx_obj_vbuild(err, fmt, ap);
    va_end(ap);
    return o;
}

/* ---- parse ------------------------------------------------------------------ */

typedef struct pstate {
    const char *fmt;
    const char *p;
    args *a;
    mpx_obj_error *err;
    int rc;
    size_t shift; /* 1 when fmt was wrapped in ( ) */
} pstate;

static int pfail(pstate *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pfail(pstate *s, int code, const char *fmt, ...)
{
    if (!s->rc) {
        s->rc = code;
        if (s->err) {
            char msg[140];
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(msg, sizeof msg, fmt, ap);
            va_end(ap);
            size_t pos = (size_t)(s->p - s->fmt);
            pos = pos >= s->shift ? pos - s->shift : 0;
            mpx__v_err(s->err, code, pos, "format position %zu: %s", pos, msg);
        }
    }
    return code;
}

static int get_i64(pstate *s, const mpx_obj *v, int64_t lo, int64_t hi, int64_t *out, char c)
{
    int rc = mpx_obj_get_int(v, out);
    if (rc == MPX_ETYPE)
        return pfail(s, rc, "%c: expected int, got %s", c, mpx_obj_type_name(v));
    if (rc || *out < lo || *out > hi)
        return pfail(s, -ERANGE, "%c: int out of range", c);
    return 0;
}

static int get_u64(pstate *s, const mpx_obj *v, uint64_t hi, uint64_t *out, char c)
{
    int rc = mpx_obj_get_uint(v, out);
    if (rc == MPX_ETYPE)
        return pfail(s, rc, "%c: expected int, got %s", c, mpx_obj_type_name(v));
    if (rc || *out > hi)
        return pfail(s, -ERANGE, "%c: int out of range", c);
    return 0;
}

static int parse_one(pstate *s, const mpx_obj *v, int skip);

/* Items of a tuple/list spec against v (NULL + skip: consume only). */
static int parse_seq(pstate *s, const mpx_obj *v, char closer, int skip)
{
    size_t n = 0;
    mpx_obj *const *items = NULL;
    if (!skip) {
        if (v->kind == MPX__K_TUPLE && closer == ')') {
            n = ((const mpx__vtuple *)v)->n;
            items = ((const mpx__vtuple *)v)->items;
        } else if (v->kind == MPX__K_LIST) {
            n = ((const mpx__vlist *)v)->n;
            items = ((const mpx__vlist *)v)->items;
        } else {
            return pfail(s, MPX_ETYPE, "expected %s, got %s", closer == ')' ? "tuple" : "list",
                         mpx_obj_type_name(v));
        }
    }
    size_t i = 0;
    int optional = 0;
    for (;;) {
        skip_seps(&s->p);
        char c = *s->p;
        if (!c)
            return pfail(s, MPX_EINVAL, "unbalanced brackets");
        if (c == closer) {
            s->p++;
            break;
        }
        if (c == '|') {
            optional = 1;
            s->p++;
            continue;
        }
        int absent = skip || i >= n;
        if (absent && !skip && !optional)
            return pfail(s, MPX_ETYPE, "%s of %zu items, the format wants more",
                         v->kind == MPX__K_TUPLE ? "tuple" : "list", n);
        int rc = parse_one(s, absent ? NULL : items[i], absent);
        if (rc)
            return rc;
        i++;
    }
    if (!skip && i < n)
        return pfail(s, MPX_ETYPE, "%s of %zu items, the format takes %zu",
                     v->kind == MPX__K_TUPLE ? "tuple" : "list", n, i);
    return 0;
}

static int parse_dict(pstate *s, const mpx_obj *v, int skip)
{
    if (!skip && v->kind != MPX__K_DICT)
        return pfail(s, MPX_ETYPE, "expected dict, got %s", mpx_obj_type_name(v));
    int optional = 0;
    for (;;) {
        skip_seps(&s->p);
        char c = *s->p;
        if (!c)
            return pfail(s, MPX_EINVAL, "unbalanced brackets");
        if (c == '}') {
            s->p++;
            return 0;
        }
        if (c == '|') {
            optional = 1;
            s->p++;
            continue;
        }
        if (c != 's')
            return pfail(s, MPX_EINVAL, "dict keys are given as s");
        s->p++;
        const char *key = va_arg(s->a->ap, const char *);
        skip_seps(&s->p);
        mpx_obj *val = NULL;
        if (!skip) {
            if (!key)
                return pfail(s, MPX_EINVAL, "NULL key");
            val = mpx_obj_dict_get_s(v, key);
            if (!val && !optional)
                return pfail(s, MPX_EKEY, "key '%.60s' not found", key);
        }
        int rc = parse_one(s, val, skip || !val);
        if (rc)
            return rc;
    }
}

static int parse_one(pstate *s, const mpx_obj *v, int skip)
{
    skip_seps(&s->p);
    char c = *s->p;
    if (!c)
        return pfail(s, MPX_EINVAL, "format ended early");
    s->p++;
    switch (c) {
    case '(':
        return parse_seq(s, v, ')', skip);
    case '[':
        return parse_seq(s, v, ']', skip);
    case '{':
        return parse_dict(s, v, skip);
    default:
        break;
    }
    int64_t i;
    uint64_t u;
    int rc = 0;
    switch (c) {
    case 'i': {
        int *o = va_arg(s->a->ap, int *);
        if (!skip && !(rc = get_i64(s, v, INT_MIN, INT_MAX, &i, c)))
            *o = (int)i;
        break;
    }
    case 'I': {
        unsigned *o = va_arg(s->a->ap, unsigned *);
        if (!skip && !(rc = get_u64(s, v, UINT_MAX, &u, c)))
            *o = (unsigned)u;
        break;
    }
    case 'h': {
        short *o = va_arg(s->a->ap, short *);
        if (!skip && !(rc = get_i64(s, v, SHRT_MIN, SHRT_MAX, &i, c)))
            *o = (short)i;
        break;
    }
    case 'H': {
        unsigned short *o = va_arg(s->a->ap, unsigned short *);
        if (!skip && !(rc = get_u64(s, v, USHRT_MAX, &u, c)))
            *o = (unsigned short)u;
        break;
    }
    case 'b':
    case 'B': {
        unsigned char *o = va_arg(s->a->ap, unsigned char *);
        if (!skip && !(rc = get_u64(s, v, UCHAR_MAX, &u, c)))
            *o = (unsigned char)u;
        break;
    }
    case 'l': {
        long *o = va_arg(s->a->ap, long *);
        if (!skip && !(rc = get_i64(s, v, LONG_MIN, LONG_MAX, &i, c)))
            *o = (long)i;
        break;
    }
    case 'k': {
        unsigned long *o = va_arg(s->a->ap, unsigned long *);
        if (!skip && !(rc = get_u64(s, v, ULONG_MAX, &u, c)))
            *o = (unsigned long)u;
        break;
    }
    case 'L': {
        long long *o = va_arg(s->a->ap, long long *);
        if (!skip && !(rc = get_i64(s, v, LLONG_MIN, LLONG_MAX, &i, c)))
            *o = (long long)i;
        break;
    }
    case 'K': {
        unsigned long long *o = va_arg(s->a->ap, unsigned long long *);
        if (!skip && !(rc = get_u64(s, v, ULLONG_MAX, &u, c)))
            *o = (unsigned long long)u;
        break;
    }
    case 'n': {
        ssize_t *o = va_arg(s->a->ap, ssize_t *);
        if (!skip && !(rc = get_i64(s, v, -SSIZE_MAX - 1, SSIZE_MAX, &i, c)))
            *o = (ssize_t)i;
        break;
    }
    case 'p': {
        int *o = va_arg(s->a->ap, int *);
        if (!skip)
            *o = mpx_obj_truth(v);
        break;
    }
    case 'd':
    case 'f': {
        void *o = va_arg(s->a->ap, void *);
        if (skip)
            break;
        double d;
        rc = mpx_obj_get_float(v, &d);
        if (rc == MPX_ETYPE)
            return pfail(s, rc, "%c: expected float, got %s", c, mpx_obj_type_name(v));
        if (rc)
            return pfail(s, rc, "%c: int too large for a float", c);
        if (c == 'd')
            *(double *)o = d;
        else
            *(float *)o = (float)d;
        break;
    }
    case 'c': {
        char *o = va_arg(s->a->ap, char *);
        if (skip)
            break;
        const void *p;
        size_t n;
        if (mpx_obj_get_bytes(v, &p, &n) || n != 1)
            return pfail(s, MPX_ETYPE, "c: expected a byte string of length 1, got %s",
                         mpx_obj_type_name(v));
        *o = *(const char *)p;
        break;
    }
    case 'C': {
        int *o = va_arg(s->a->ap, int *);
        if (skip)
            break;
        if (v->kind != MPX__K_STR || ((const mpx__vstr *)v)->ncp != 1)
            return pfail(s, MPX_ETYPE, "C: expected a str of length 1, got %s", mpx_obj_type_name(v));
        uint32_t cp;
        mpx__utf8_next((const unsigned char *)((const mpx__vstr *)v)->data, &cp);
        *o = (int)cp;
        break;
    }
    case 's':
    case 'z':
    case 'y': {
        const char **o = va_arg(s->a->ap, const char **);
        size_t *lp = NULL;
        if (*s->p == '#') {
            s->p++;
            lp = va_arg(s->a->ap, size_t *);
        }
        if (skip)
            break;
        if (c == 'z' && v->kind == MPX__K_NONE) {
            *o = NULL;
            if (lp)
                *lp = 0;
            break;
        }
        const char *data;
        size_t n;
        if (c == 'y') {
            const void *p;
            if (mpx_obj_get_bytes(v, &p, &n))
                return pfail(s, MPX_ETYPE, "y: expected bytes, got %s", mpx_obj_type_name(v));
            data = p;
        } else if (mpx_obj_get_str(v, &data, &n)) {
            return pfail(s, MPX_ETYPE, "%c: expected str%s, got %s", c, c == 'z' ? " or None" : "",
                         mpx_obj_type_name(v));
        }
        if (!lp && memchr(data, 0, n))
            return pfail(s, MPX_EINVAL, "%c: embedded null character", c);
        *o = data;
        if (lp)
            *lp = n;
        break;
    }
    case 'O': {
        const mpx_obj **o = va_arg(s->a->ap, const mpx_obj **);
        if (!skip)
            *o = v;
        break;
    }
    default:
        s->p--;
        return pfail(s, MPX_EINVAL, "unknown letter '%c'", c);
    }
    return rc;
}

/* A '|' outside brackets: the format describes a tuple's items. */
static int top_level_bar(const char *p)
{
    int level = 0;
    for (; *p; p++) {
        if (*p == '(' || *p == '[' || *p == '{')
            level++;
        else if (*p == ')' || *p == ']' || *p == '}')
            level--;
        else if (*p == '|' && level == 0)
            return 1;
    }
    return 0;
}

MPX_API int mpx_obj_vparse(const mpx_obj *v, mpx_obj_error *err, const char *fmt, va_list ap)
{
    if (!v || !fmt) {
        mpx__v_err(err, MPX_EINVAL, MPX_OBJ_NO_OFFSET, "NULL value or format");
        return MPX_EINVAL;
    }
    pstate s = {fmt, fmt, NULL, err, 0, 0};
    args a;
    va_copy(a.ap, ap);
    s.a = &a;
    long n = count_items(fmt, 0);
    int rc;
    if (n < 0) {
        rc = pfail(&s, MPX_EINVAL, "unbalanced brackets");
    } else if (n == 1 && !top_level_bar(fmt)) {
        rc = parse_one(&s, v, 0);
        skip_seps(&s.p);
        if (!rc && *s.p)
            rc = pfail(&s, MPX_EINVAL, "unexpected text after the value");
    } else {
        /* several items: v is a tuple of them */
        size_t len = strlen(fmt);
        char *wrapped = malloc(len + 3);
        if (!wrapped) {
            va_end(a.ap);
            return -ENOMEM;
        }
        wrapped[0] = '(';
        memcpy(wrapped + 1, fmt, len);
        wrapped[len + 1] = ')';
        wrapped[len + 2] = 0;
        s.fmt = s.p = wrapped;
        s.shift = 1; /* positions in the caller's format */
        rc = parse_one(&s, v, 0);
        free(wrapped);
    }
    va_end(a.ap);
    return rc;
}

MPX_API int mpx_obj_parse(const mpx_obj *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = mpx_obj_vparse(v, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

MPX_API int mpx_obj_parse_ex(const mpx_obj *v, mpx_obj_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = mpx_obj_vparse(v, err, fmt, ap);
    va_end(ap);
    return rc;
}
