/*
 * pickle_reduce.c - the decoder's globals and reductions: GLOBAL and
 * STACK_GLOBAL become class references (Python 2 names mapped below
 * protocol 3), REDUCE/NEWOBJ/NEWOBJ_EX/BUILD/INST/OBJ instances, except
 * CPython's reductions of built-in types, which become the real values
 * (see pickle_dec.c's header comment for the list). Nothing is imported
 * or called.
 */
#include "core/pickle_dec.h"

#include <stdio.h>

/* ---- globals and reductions ------------------------------------------------------ */

static int is_name(const mpx_obj *cls, const char *module, const char *name)
{
    if (cls->kind != MPX__K_CLASS)
        return 0;
    const mpx__vclass *c = (const mpx__vclass *)cls;
    return !strcmp(((const mpx__vstr *)c->module)->data, module) &&
           !strcmp(((const mpx__vstr *)c->name)->data, name);
}

/* A class reference from module and name strs (taken). */
static int make_global(dec *d, mpx_obj *mod, mpx_obj *name)
{
    const mpx__vstr *m = (const mpx__vstr *)mod, *n = (const mpx__vstr *)name;
    if (d->proto < 3 && strlen(m->data) == m->len && strlen(n->data) == n->len) {
        const char *ms = m->data, *ns = n->data;
        mpx__pk_fix_imports(mpx__pk_name_2to3, mpx__pk_import_2to3, &ms, &ns);
        if (ms != m->data) {
            mpx_obj *x = mpx_obj_str(ms);
            mpx__v_decref_local_null(mod);
            mod = x;
        }
        if (ns != n->data) {
            mpx_obj *x = mpx_obj_str(ns);
            mpx__v_decref_local_null(name);
            name = x;
        }
    }
    int rc = mpx__pd_charge(d, sizeof(mpx__vclass));
    if (rc) {
        mpx__v_decref_local_null(mod);
        mpx__v_decref_local_null(name);
        return rc;
    }
    return mpx__pd_push(d, mpx__v_class_new(mod, name));
}

int mpx__pd_load_global(dec *d)
{
    const char *s1, *s2;
    size_t n1, n2;
    int rc;
    if ((rc = mpx__pd_readline(d, &s1, &n1)) || (rc = mpx__pd_readline(d, &s2, &n2)))
        return rc;
    mpx_obj *m, *n;
    if ((rc = mpx__pd_make_str(d, (const unsigned char *)s1, n1, &m)))
        return rc;
    if ((rc = mpx__pd_make_str(d, (const unsigned char *)s2, n2, &n))) {
        mpx__v_decref_local_null(m);
        return rc;
    }
    return make_global(d, m, n);
}

int mpx__pd_load_stack_global(dec *d)
{
    mpx_obj *m, *n;
    int rc = mpx__pd_pop(d, &n);
    if (rc)
        return rc;
    if ((rc = mpx__pd_pop(d, &m))) {
        mpx__v_decref_local_null(n);
        return rc;
    }
    if (m->kind != MPX__K_STR || n->kind != MPX__K_STR) {
        mpx__v_decref_local_null(m);
        mpx__v_decref_local_null(n);
        return mpx__pd_fail(d, MPX_EPROTO, "STACK_GLOBAL requires str");
    }
    return make_global(d, m, n);
}

static mpx_obj *arg(const mpx_obj *args, size_t i)
{
    return ((const mpx__vtuple *)args)->items[i];
}

static size_t nargs(const mpx_obj *args)
{
    return ((const mpx__vtuple *)args)->n;
}

/* A set or frozenset from an iterable value (list, tuple, set, dict). */
static int set_from(dec *d, int kind, const mpx_obj *src, mpx_obj **out)
{
    mpx_obj *s;
    int rc = mpx__pd_new_container(d, kind, &s);
    if (rc)
        return rc;
    size_t base = d->sn, pos = 0;
    mpx_obj *it;
    while ((rc = mpx_obj_next(src, &pos, &it)) == 1)
        if ((rc = mpx__pd_push(d, mpx__v_incref_local(it))))
            break;
    if (rc == 0)
        rc = mpx__pd_add_items(d, s, base);
    if (rc) {
        while (d->sn > base)
            mpx__v_decref_local_null(d->stack[--d->sn]);
        mpx__v_decref_local_null(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* bytes from text in an encoding CPython writes (latin1 / ascii / utf-8):
 * 1 done, 0 not recognized, < 0 error. */
static int encode_text(dec *d, const mpx_obj *text, const mpx_obj *enc, mpx_obj **out, int bytearray)
{
    if (text->kind != MPX__K_STR || enc->kind != MPX__K_STR)
        return 0;
    const char *e = ((const mpx__vstr *)enc)->data;
    const mpx__vstr *s = (const mpx__vstr *)text;
    int latin1 = !strcmp(e, "latin1") || !strcmp(e, "latin-1") || !strcmp(e, "iso-8859-1") ||
                 !strcmp(e, "iso8859-1") || !strcmp(e, "l1");
    int ascii = !strcmp(e, "ascii") || !strcmp(e, "us-ascii");
    int utf8 = !strcmp(e, "utf-8") || !strcmp(e, "utf8");
    if (!latin1 && !ascii && !utf8)
        return 0;
    int rc = mpx__pd_charge(d, sizeof(mpx__vbytes) + s->len);
    if (rc)
        return rc;
    if (utf8 || (s->h.flags & MPX__F_ASCII)) {
        *out = bytearray ? mpx_obj_bytearray(s->data, s->len) : mpx_obj_bytes(s->data, s->len);
        return *out ? 1 : mpx__pd_nomem(d);
    }
    if (ascii)
        return mpx__pd_fail(d, MPX_EINVAL, "'ascii' codec can't encode a character of the text");
    unsigned char *b = malloc(s->ncp ? s->ncp : 1);
    if (!b)
        return mpx__pd_nomem(d);
    size_t o = 0;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp;
        i += (size_t)mpx__utf8_next((const unsigned char *)s->data + i, &cp);
        if (cp > 0xff) {
            free(b);
            return mpx__pd_fail(d, MPX_EINVAL, "'latin-1' codec can't encode character U+%04X", (unsigned)cp);
        }
        b[o++] = (unsigned char)cp;
    }
    *out = bytearray ? mpx_obj_bytearray(b, o) : mpx_obj_bytes(b, o);
    free(b);
    return *out ? 1 : mpx__pd_nomem(d);
}

/* CPython's reductions of built-ins: 1 and *out when recognized, 0 to
 * carry the call as an instance, < 0 error. */
static int known_reduce(dec *d, const mpx_obj *fn, const mpx_obj *args, mpx_obj **out)
{
    if (fn->kind != MPX__K_CLASS)
        return 0;
    size_t n = nargs(args);
    int rc;
    if (is_name(fn, "builtins", "set") || is_name(fn, "builtins", "frozenset")) {
        int kind = is_name(fn, "builtins", "set") ? MPX__K_SET : MPX__K_FROZENSET;
        if (n == 0)
            return (rc = mpx__pd_new_container(d, kind, out)) ? rc : 1;
        int k = arg(args, 0)->kind;
        if (n != 1 || !(k == MPX__K_LIST || k == MPX__K_TUPLE || k == MPX__K_SET || k == MPX__K_FROZENSET ||
                        k == MPX__K_DICT))
            return 0;
        return (rc = set_from(d, kind, arg(args, 0), out)) ? rc : 1;
    }
    if (is_name(fn, "builtins", "bytearray") || is_name(fn, "builtins", "bytes")) {
        int ba = is_name(fn, "builtins", "bytearray");
        if (n == 0) {
            if ((rc = mpx__pd_charge(d, sizeof(mpx__vbytes))))
                return rc;
            *out = ba ? mpx_obj_bytearray(NULL, 0) : mpx_obj_bytes(NULL, 0);
            return *out ? 1 : mpx__pd_nomem(d);
        }
        const mpx_obj *a0 = arg(args, 0);
        if (n == 1 && (a0->kind == MPX__K_BYTES || a0->kind == MPX__K_BYTEARRAY)) {
            const void *p;
            size_t len;
            mpx_obj_get_bytes(a0, &p, &len);
            if ((rc = mpx__pd_charge(d, sizeof(mpx__vbytes) + len)))
                return rc;
            *out = ba ? mpx_obj_bytearray(p, len) : mpx_obj_bytes(p, len);
            return *out ? 1 : mpx__pd_nomem(d);
        }
        if (n == 2)
            return encode_text(d, a0, arg(args, 1), out, ba);
        return 0;
    }
    if (is_name(fn, "_codecs", "encode") || is_name(fn, "codecs", "encode")) {
        if (n != 2)
            return 0;
        return encode_text(d, arg(args, 0), arg(args, 1), out, 0);
    }
    if (is_name(fn, "copyreg", "__newobj__")) {
        if (n < 1 || arg(args, 0)->kind != MPX__K_CLASS)
            return 0;
        if ((rc = mpx__pd_charge(d, sizeof(mpx__vinst) + sizeof(mpx__vtuple) + n * sizeof(mpx_obj *))))
            return rc;
        mpx_obj *rest = mpx__v_tuple_new(n - 1);
        if (!rest)
            return mpx__pd_nomem(d);
        for (size_t i = 1; i < n; i++) {
            ((mpx__vtuple *)rest)->items[i - 1] = mpx__v_incref_local(arg(args, i));
            mpx__gc_link_local(arg(args, i));
        }
        mpx__vinst *x = mpx__v_inst_new(MPX_OBJ_NEWOBJ, mpx__v_incref_local(arg(args, 0)), rest, NULL);
        if (!x) {
            mpx__v_decref_local_null(arg(args, 0));
            mpx__v_decref_local_null(rest);
            return mpx__pd_nomem(d);
        }
        *out = MPX__V(x);
        return 1;
    }
    if (is_name(fn, "copyreg", "__newobj_ex__")) {
        if (n != 3 || arg(args, 0)->kind != MPX__K_CLASS || arg(args, 1)->kind != MPX__K_TUPLE ||
            arg(args, 2)->kind != MPX__K_DICT)
            return 0;
        if ((rc = mpx__pd_charge(d, sizeof(mpx__vinst))))
            return rc;
        mpx__vinst *x = mpx__v_inst_new(MPX_OBJ_NEWOBJ_EX, mpx__v_incref_local(arg(args, 0)),
                                        mpx__v_incref_local(arg(args, 1)), mpx__v_incref_local(arg(args, 2)));
        if (!x) {
            mpx__v_decref_local_null(arg(args, 0));
            mpx__v_decref_local_null(arg(args, 1));
            mpx__v_decref_local_null(arg(args, 2));
            return mpx__pd_nomem(d);
        }
        *out = MPX__V(x);
        return 1;
    }
    if (is_name(fn, "builtins", "getattr")) {
        if (n != 2 || arg(args, 0)->kind != MPX__K_CLASS || arg(args, 1)->kind != MPX__K_STR)
            return 0;
        const mpx__vclass *c = (const mpx__vclass *)arg(args, 0);
        const mpx__vstr *q = (const mpx__vstr *)c->name, *last = (const mpx__vstr *)arg(args, 1);
        if ((rc = mpx__pd_charge(d, sizeof(mpx__vclass) + sizeof(mpx__vstr) + q->len + last->len + 2)))
            return rc;
        char *buf = malloc(q->len + last->len + 2);
        if (!buf)
            return mpx__pd_nomem(d);
        memcpy(buf, q->data, q->len);
        buf[q->len] = '.';
        memcpy(buf + q->len + 1, last->data, last->len);
        mpx_obj *name = mpx__v_str_raw(buf, q->len + 1 + last->len, q->ncp + 1 + last->ncp,
                                       (q->h.flags & last->h.flags & MPX__F_ASCII) != 0);
        free(buf);
        if (!name)
            return mpx__pd_nomem(d);
        *out = mpx__v_class_new(mpx__v_incref_local(c->module), name);
        return *out ? 1 : mpx__pd_nomem(d);
    }
    return 0;
}

/* callable(*args) (REDUCE) or cls.__new__ (NEWOBJ, NEWOBJ_EX): takes fn,
 * args and kwargs. */
int mpx__pd_load_call(dec *d, mpx_obj_how how, mpx_obj *fn, mpx_obj *args, mpx_obj *kwargs)
{
    int rc = 0;
    mpx_obj *out = NULL;
    if (args->kind != MPX__K_TUPLE)
        rc = mpx__pd_fail(d, MPX_EPROTO, how == MPX_OBJ_REDUCE ? "REDUCE argument list must be a tuple"
                                                        : "NEWOBJ expected an arg tuple");
    else if (how != MPX_OBJ_REDUCE && fn->kind != MPX__K_CLASS)
        rc = mpx__pd_fail(d, MPX_EPROTO, "NEWOBJ class argument isn't a class reference");
    else if (kwargs && kwargs->kind != MPX__K_DICT)
        rc = mpx__pd_fail(d, MPX_EPROTO, "NEWOBJ_EX kwargs must be a dict");
    else if (how == MPX_OBJ_REDUCE) {
        rc = known_reduce(d, fn, args, &out);
        if (rc > 0)
            rc = 0;
    }
    if (rc || out) {
        mpx__v_decref_local_null(fn);
        mpx__v_decref_local_null(args);
        mpx__v_decref_local_null(kwargs);
        return rc ? rc : mpx__pd_push(d, out);
    }
    if ((rc = mpx__pd_charge(d, sizeof(mpx__vinst)))) {
        mpx__v_decref_local_null(fn);
        mpx__v_decref_local_null(args);
        mpx__v_decref_local_null(kwargs);
        return rc;
    }
    mpx__vinst *x = mpx__v_inst_new(how, fn, args, kwargs);
    if (!x) {
        mpx__v_decref_local_null(fn);
        mpx__v_decref_local_null(args);
        mpx__v_decref_local_null(kwargs);
        return mpx__pd_nomem(d);
    }
    if ((rc = mpx__pd_nest(d, MPX__V(x), fn)) || (rc = mpx__pd_nest(d, MPX__V(x), args)) ||
        (kwargs && (rc = mpx__pd_nest(d, MPX__V(x), kwargs)))) {
        mpx__v_decref_local_null(MPX__V(x));
        return rc;
    }
    return mpx__pd_push(d, MPX__V(x));
}

int mpx__pd_load_build(dec *d)
{
    mpx_obj *state, *target;
    int rc = mpx__pd_pop(d, &state);
    if (rc)
        return rc;
    if ((rc = mpx__pd_top(d, &target))) {
        mpx__v_decref_local_null(state);
        return rc;
    }
    if (target->kind != MPX__K_INSTANCE) {
        mpx__v_decref_local_null(state);
        return mpx__pd_fail(d, MPX_EPROTO, "BUILD on a %s is not supported", mpx_obj_type_name(target));
    }
    mpx__vinst *x = (mpx__vinst *)target;
    if (x->state) {
        mpx__v_decref_local_null(state);
        return mpx__pd_fail(d, MPX_ENOTSUP, "a second BUILD on one instance is not supported");
    }
    if ((rc = mpx__pd_nest(d, target, state))) {
        mpx__v_decref_local_null(state);
        return rc;
    }
    x->state = state;
    mpx__gc_link_local(state);
    return 0;
}

/* INST (module name lines) and OBJ (class on the stack): old-style calls. */
int mpx__pd_load_inst(dec *d, int obj)
{
    size_t at;
    int rc = mpx__pd_pop_mark(d, &at);
    if (rc)
        return rc;
    mpx_obj *cls;
    if (obj) {
        if (d->sn <= at)
            return mpx__pd_underflow(d);
        cls = d->stack[at];
        memmove(d->stack + at, d->stack + at + 1, (d->sn - at - 1) * sizeof(mpx_obj *));
        d->sn--;
    } else {
        if ((rc = mpx__pd_load_global(d)))
            return rc;
        cls = d->stack[--d->sn];
    }
    mpx_obj *args;
    if ((rc = mpx__pd_make_tuple(d, at, &args))) {
        mpx__v_decref_local_null(cls);
        return rc;
    }
    if (cls->kind != MPX__K_CLASS) {
        mpx__v_decref_local_null(cls);
        mpx__v_decref_local_null(args);
        return mpx__pd_fail(d, MPX_EPROTO, "OBJ/INST needs a class");
    }
    return mpx__pd_load_call(d, nargs(args) ? MPX_OBJ_REDUCE : MPX_OBJ_NEWOBJ, cls, args, NULL);
}

