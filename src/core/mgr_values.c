/*
 * mgr_values.c - SyncManager's Namespace, Value, Array and the Iterator
 * type (#16, MGR-16, MGR-19): server-side objects over mpx_obj values,
 * with the methods of CPython's NamespaceProxy, ValueProxy, ArrayProxy and
 * IteratorProxy; and the callables dict(), list(), Namespace(), Value(),
 * Array(). dict and list are in mgr_types.c.
 */
#include "core/mgr_internal.h"

#include <stdio.h>
#include <string.h>

static int negative(const mpx_obj *v)
{
    mpx_obj *z = mpx_obj_int(0);
    int r = z ? mpx_obj_compare(v, z, MPX_OBJ_LT) : 0;
    mpx_obj_decref(z);
    return r == 1;
}

/* ---- Namespace (MGR-19): attributes in a dict ----------------------------------------- */

static int no_attr(mpx_manager_call *call, const char *name)
{
    char msg[512];
    snprintf(msg, sizeof msg, "'Namespace' object has no attribute '%s'", name);
    mpx_obj *e = mpx__mgr_exc("builtins", "AttributeError", msg);
    if (!e)
        return -ENOMEM;
    int rc = mpx_manager_raise_exc(call, e);
    mpx_obj_decref(e);
    return rc;
}

static int ns_name(mpx_manager_call *call, const mpx_obj *v, const char **name)
{
    if (mpx_obj_get_str(v, name, NULL))
        return mpx_manager_raise(call, MPX_ETYPE, "attribute name must be string, not '%s'",
                                 mpx_obj_type_name(v));
    return 0;
}

static int ns_get(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    const mpx_obj *a[1];
    const char *name;
    int rc = mpx__mgr_bind(call, "__getattribute__", args, kwds, 1, 1, NULL, a);
    if (rc || (rc = ns_name(call, a[0], &name)))
        return rc;
    mpx_obj *v = mpx_obj_dict_get(self, a[0]);
    return v ? mpx__mgr_ret(result, mpx_obj_incref(v)) : no_attr(call, name);
}

static int ns_set(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    const mpx_obj *a[2];
    const char *name;
    int rc = mpx__mgr_bind(call, "__setattr__", args, kwds, 2, 2, NULL, a);
    if (rc || (rc = ns_name(call, a[0], &name)))
        return rc;
    return mpx_obj_dict_set(self, (mpx_obj *)a[0], (mpx_obj *)a[1]);
}

static int ns_del(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    const mpx_obj *a[1];
    const char *name;
    int rc = mpx__mgr_bind(call, "__delattr__", args, kwds, 1, 1, NULL, a);
    if (rc || (rc = ns_name(call, a[0], &name)))
        return rc;
    return mpx_obj_dict_del(self, a[0]) == 0 ? 0 : no_attr(call, name);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Namespace(x=10, y='hello'): public attributes, sorted (MGR-19). */
static char *ns_repr(void *self)
{
    size_t n = (size_t)mpx_obj_len(self), k = 0;
    char **parts = calloc(n + 1, sizeof *parts);
    if (!parts)
        return NULL;
    size_t pos = 0, total = 16;
    mpx_obj *key, *val;
    while (mpx_obj_dict_next(self, &pos, &key, &val) == 1) {
        const char *s = mpx_obj_str_value(key);
        if (!s || s[0] == '_')
            continue;
        char *r = mpx_obj_repr(val);
        if (!r || asprintf(&parts[k], "%s=%s", s, r) < 0)
            parts[k] = NULL;
        mpx_free(r);
        if (!parts[k])
            break;
        total += strlen(parts[k++]) + 2;
    }
    qsort(parts, k, sizeof *parts, cmp_names);
    char *out = malloc(total);
    if (out) {
        strcpy(out, "Namespace(");
        for (size_t i = 0; i < k; i++) {
            if (i)
                strcat(out, ", ");
            strcat(out, parts[i]);
        }
        strcat(out, ")");
    }
    for (size_t i = 0; i < k; i++)
        free(parts[i]);
    free(parts);
    return out;
}

/* multiprocessing.managers.Namespace as CPython pickles it. */
static mpx_obj *mm_instance(const char *qualname, mpx_obj *state)
{
    mpx_obj *cls = mpx_obj_class(mpx__mgr_module, qualname);
    mpx_obj *v = NULL;
    if (cls && state) {
        mpx_obj_reduce r = {MPX_OBJ_NEWOBJ, cls, NULL, NULL, state, NULL, NULL};
        v = mpx_obj_instance(&r);
    }
    mpx_obj_decref(cls);
    mpx_obj_decref(state);
    return v;
}

static int ns_getvalue(void *self, mpx_obj **out)
{
    *out = mm_instance("Namespace", mpx__mgr_dict_copy(self));
    return *out ? 0 : -ENOMEM;
}

static const mpx_manager_method ns_methods[] = {
    {"__getattribute__", ns_get}, {"__setattr__", ns_set}, {"__delattr__", ns_del}, {NULL, NULL}};

const mpx_manager_class mpx__mgr_namespace_class = {"Namespace", ns_methods, mpx__mgr_value_release,
                                                    ns_repr, ns_getvalue, 0, 1};

/* ---- Value (a typecode and a value, unchecked, as CPython's manager) ----------------- */

typedef struct mval {
    char typecode[16];
    mpx_obj *value;
} mval;

static int val_get(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "get", args, kwds, 0, 0, NULL, a);
    return rc ? rc : mpx__mgr_ret(result, mpx_obj_incref(((mval *)self)->value));
}

static int val_set(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "set", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    mval *m = self;
    mpx_obj *old = m->value;
    m->value = mpx_obj_incref((mpx_obj *)a[0]);
    mpx_obj_decref(old);
    return 0;
}

static void val_release(void *self)
{
    mval *m = self;
    mpx_obj_decref(m->value);
    free(m);
}

static char *val_repr(void *self)
{
    mval *m = self;
    mpx_obj *t = mpx_obj_str(m->typecode);
    char *a = t ? mpx_obj_repr(t) : NULL, *b = mpx_obj_repr(m->value), *out = NULL;
    if (a && b && asprintf(&out, "Value(%s, %s)", a, b) < 0)
        out = NULL;
    mpx_obj_decref(t);
    mpx_free(a);
    mpx_free(b);
    return out;
}

static int val_getvalue(void *self, mpx_obj **out)
{
    mval *m = self;
    *out = mm_instance("Value", mpx_obj_build("{s:s,s:O}", "_typecode", m->typecode, "_value",
                                              m->value));
    return *out ? 0 : -ENOMEM;
}

static const mpx_manager_method val_methods[] = {{"get", val_get}, {"set", val_set}, {NULL, NULL}};

const mpx_manager_class mpx__mgr_value_cls = {"Value", val_methods, val_release, val_repr,
                                              val_getvalue, 0, 1};

/* ---- Array: array.array(typecode, sequence) ------------------------------------------- */

typedef struct marr {
    char tc;
    mpx_obj *items; /* a list */
} marr;

static int tc_size(char tc)
{
    switch (tc) {
    case 'b': case 'B': return 1;
    case 'h': case 'H': return 2;
    case 'i': case 'I': case 'f': case 'u': return 4;
    case 'l': case 'L': case 'q': case 'Q': case 'd': return 8;
    default: return 0;
    }
}

/* Check (and normalise) an item for typecode tc; a new reference. */
static int arr_item(mpx_manager_call *call, char tc, const mpx_obj *v, mpx_obj **out)
{
    mpx_obj_type t = mpx_obj_typeof(v);
    if (tc == 'f' || tc == 'd') {
        double d;
        if ((t != MPX_OBJ_FLOAT && t != MPX_OBJ_INT && t != MPX_OBJ_BOOL) ||
            mpx_obj_get_float(v, &d))
            return mpx_manager_raise(call, MPX_ETYPE, "must be real number, not %s",
                                     mpx_obj_type_name(v));
        if (tc == 'f')
            d = (float)d;
        *out = mpx_obj_float(d);
        return *out ? 0 : -ENOMEM;
    }
    if (tc == 'u') {
        if (t != MPX_OBJ_STR || mpx_obj_len(v) != 1)
            return mpx_manager_raise(call, MPX_ETYPE,
                                     "array item must be unicode character, not %s",
                                     mpx_obj_type_name(v));
        *out = mpx_obj_incref((mpx_obj *)v);
        return 0;
    }
    if (t != MPX_OBJ_INT && t != MPX_OBJ_BOOL)
        return mpx_manager_raise(call, MPX_ETYPE, "'%s' object cannot be interpreted as an integer",
                                 mpx_obj_type_name(v));
    int bits = tc_size(tc) * 8;
    bool is_unsigned = tc >= 'A' && tc <= 'Z';
    int rc;
    if (is_unsigned) {
        uint64_t u;
        rc = mpx_obj_get_uint(v, &u);
        if (rc || (bits < 64 && u >> bits))
            return mpx_manager_raise(call, -ERANGE, rc && negative(v)
                                                        ? "unsigned %s is less than minimum"
                                                        : "unsigned %s is greater than maximum",
                                     bits == 8 ? "byte integer" : bits == 16 ? "short" : "int");
    } else {
        int64_t s;
        rc = mpx_obj_get_int(v, &s);
        if (rc || (bits < 64 && (s < -(INT64_C(1) << (bits - 1)) ||
                                 s >= (INT64_C(1) << (bits - 1)))))
            return mpx_manager_raise(call, -ERANGE, "signed integer is %s",
                                     negative(v)
                                         ? "less than minimum"
                                         : "greater than maximum");
    }
    if (t == MPX_OBJ_BOOL) {
        int b;
        mpx_obj_get_bool(v, &b);
        *out = mpx_obj_int(b);
    } else {
        *out = mpx_obj_incref((mpx_obj *)v);
    }
    return *out ? 0 : -ENOMEM;
}

/* array.array as CPython's manager pickles it: (array.array, (tc, bytes)). */
static mpx_obj *arr_value(char tc, const mpx_obj *items)
{
    size_t n = (size_t)mpx_obj_len(items), sz = (size_t)tc_size(tc);
    unsigned char *buf = calloc(n ? n : 1, sz);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const mpx_obj *it = mpx_obj_item(items, (int64_t)i);
        unsigned char *p = buf + i * sz;
        if (tc == 'f') {
            double d;
            mpx_obj_get_float(it, &d);
            float f = (float)d;
            memcpy(p, &f, 4);
        } else if (tc == 'd') {
            double d;
            mpx_obj_get_float(it, &d);
            memcpy(p, &d, 8);
        } else if (tc == 'u') {
            const char *s;
            mpx_obj_get_str(it, &s, NULL);
            uint32_t cp = (unsigned char)s[0];
            if (cp >= 0xf0)
                cp = (cp & 7) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6 | (s[3] & 0x3fu);
            else if (cp >= 0xe0)
                cp = (cp & 15) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
            else if (cp >= 0xc0)
                cp = (cp & 31) << 6 | (s[1] & 0x3fu);
            memcpy(p, &cp, 4);
        } else {
            mpx_obj_int_to_bytes(it, p, sz, 1, !(tc >= 'A' && tc <= 'Z'));
        }
    }
    mpx_obj *args = mpx_obj_build("(s#N)", &tc, (size_t)1, mpx_obj_bytes_take(buf, n * sz));
    mpx_obj *cls = mpx_obj_class("array", "array");
    mpx_obj *v = NULL;
    if (args && cls) {
        mpx_obj_reduce r = {MPX_OBJ_REDUCE, cls, args, NULL, NULL, NULL, NULL};
        v = mpx_obj_instance(&r);
    }
    mpx_obj_decref(args);
    mpx_obj_decref(cls);
    return v;
}

static int arr_getitem(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                       mpx_manager_call *call)
{
    marr *m = self;
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__getitem__", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    int64_t len = mpx_obj_len(m->items), start, stop, step, count;
    rc = mpx__mgr_slice_of(call, a[0], len, &start, &stop, &step, &count);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        mpx_obj *l = mpx_obj_list();
        for (int64_t i = 0, j = start; l && i < count; i++, j += step)
            if (mpx_obj_list_append(l, mpx_obj_item(m->items, j))) {
                mpx_obj_decref(l);
                l = NULL;
            }
        mpx_obj *v = l ? arr_value(m->tc, l) : NULL;
        mpx_obj_decref(l);
        return mpx__mgr_ret(result, v);
    }
    int64_t i;
    if ((rc = mpx__mgr_index_of(call, a[0], "array", &i)))
        return rc;
    mpx_obj *v = mpx_obj_item(m->items, i);
    if (!v)
        return mpx_manager_raise(call, MPX_EINDEX, "array index out of range");
    return mpx__mgr_ret(result, mpx_obj_incref(v));
}

static int arr_setitem(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                       mpx_manager_call *call)
{
    marr *m = self;
    const mpx_obj *a[2];
    int rc = mpx__mgr_bind(call, "__setitem__", args, kwds, 2, 2, NULL, a);
    if (rc)
        return rc;
    int64_t i;
    if ((rc = mpx__mgr_index_of(call, a[0], "array", &i)))
        return rc;
    if (!mpx_obj_item(m->items, i))
        return mpx_manager_raise(call, MPX_EINDEX, "array assignment index out of range");
    mpx_obj *v;
    if ((rc = arr_item(call, m->tc, a[1], &v)))
        return rc;
    return mpx_obj_list_set_new(m->items, i, v);
}

static int arr_len(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    return mpx__mgr_v_len(((marr *)self)->items, args, kwds, result, call);
}

static void arr_release(void *self)
{
    marr *m = self;
    mpx_obj_decref(m->items);
    free(m);
}

static char *arr_repr(void *self)
{
    marr *m = self;
    char *l = mpx_obj_repr(m->items), *out = NULL;
    if (l && asprintf(&out, mpx_obj_len(m->items) ? "array('%c', %s)" : "array('%c')", m->tc,
                      l) < 0)
        out = NULL;
    mpx_free(l);
    return out;
}

static int arr_getvalue(void *self, mpx_obj **out)
{
    marr *m = self;
    *out = arr_value(m->tc, m->items);
    return *out ? 0 : -ENOMEM;
}

static const mpx_manager_method arr_methods[] = {
    {"__len__", arr_len}, {"__getitem__", arr_getitem}, {"__setitem__", arr_setitem}, {NULL, NULL}};

const mpx_manager_class mpx__mgr_array_class = {"array", arr_methods, arr_release, arr_repr,
                                                arr_getvalue, 0, 1};

/* ---- Iterator (dict.__iter__; 'Iterator' typeid) ------------------------------------- */

typedef struct miter {
    mpx_obj *items;
    int64_t pos;
    const char *kind;
} miter;

static int it_next(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    miter *m = self;
    if (mpx_obj_len(args) > 1)
        return mpx_manager_raise(call, MPX_ETYPE, "expected at most 1 argument");
    if (!m->items || m->pos >= mpx_obj_len(m->items)) {
        if (mpx_obj_len(args) == 1) /* next(it, default) */
            return mpx__mgr_ret(result, mpx_obj_incref(mpx_obj_item(args, 0)));
        return mpx_manager_raise(call, MPX_EEOF, NULL);
    }
    return mpx__mgr_ret(result, mpx_obj_incref(mpx_obj_item(m->items, m->pos++)));
}

static int it_close(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    miter *m = self;
    mpx_obj_decref(m->items);
    m->items = NULL;
    return 0;
}

static int it_throw(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    if (mpx_obj_len(args) >= 1 && mpx_obj_typeof(mpx_obj_item(args, 0)) == MPX_OBJ_INSTANCE)
        return mpx_manager_raise_exc(call, mpx_obj_item(args, 0));
    return mpx_manager_raise(call, MPX_ETYPE, "throw expected at least 1 argument");
}

static void it_release(void *self)
{
    miter *m = self;
    mpx_obj_decref(m->items);
    free(m);
}

static char *it_repr(void *self)
{
    miter *m = self;
    char *out;
    return asprintf(&out, "<%s object at %p>", m->kind, self) < 0 ? NULL : out;
}

static const mpx_manager_method it_methods[] = {{"__next__", it_next},
                                                {"send", it_next},
                                                {"throw", it_throw},
                                                {"close", it_close},
                                                {NULL, NULL}};

const mpx_manager_class mpx__mgr_iterator_class = {"iterator", it_methods, it_release, it_repr,
                                                   NULL, 0, 1};

int mpx__mgr_iter_new(mpx_obj *items, const char *kind, mpx_referent **out)
{
    miter *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->items = mpx_obj_incref(items);
    m->kind = kind;
    int rc = mpx_referent_create(out, &mpx__mgr_iterator_class, m);
    if (rc)
        it_release(m);
    return rc;
}

/* ---- the callables: dict(...), list(...), Namespace(...), Value(...), Array(...) ------ */

static int make_value(mpx_obj *v, mpx_referent **out)
{
    if (!v)
        return -ENOMEM;
    int rc = mpx_referent_value(out, v);
    mpx_obj_decref(v);
    return rc;
}

static int c_dict(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                  mpx_manager_call *call)
{
    if (mpx_obj_len(args) > 1)
        return mpx_manager_raise(call, MPX_ETYPE, "dict expected at most 1 argument, got %lld",
                                 (long long)mpx_obj_len(args));
    mpx_obj *d = mpx_obj_dict();
    if (!d)
        return -ENOMEM;
    int rc = mpx_obj_len(args) == 1 ? mpx__mgr_update_from(call, d, mpx_obj_item(args, 0)) : 0;
    if (!rc)
        rc = mpx_obj_dict_update(d, kwds);
    if (rc) {
        mpx_obj_decref(d);
        return rc;
    }
    return make_value(d, out);
}

static int c_list(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                  mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "list", args, kwds, 0, 1, NULL, a);
    if (rc)
        return rc;
    mpx_obj *l;
    if (a[0]) {
        if ((rc = mpx__mgr_items_of(call, a[0], &l)))
            return rc;
    } else if (!(l = mpx_obj_list())) {
        return -ENOMEM;
    }
    return make_value(l, out);
}

static int c_namespace(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                       mpx_manager_call *call)
{
    if (mpx_obj_len(args) > 0)
        return mpx_manager_raise(call, MPX_ETYPE, "Namespace() takes 0 positional arguments");
    mpx_obj *d = mpx__mgr_dict_copy(kwds);
    if (!d)
        return -ENOMEM;
    int rc = mpx_referent_create(out, &mpx__mgr_namespace_class, d);
    if (rc)
        mpx_obj_decref(d);
    return rc;
}

static int c_value(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                   mpx_manager_call *call)
{
    static const char *const names[] = {"typecode", "value", "lock"};
    const mpx_obj *a[3];
    int rc = mpx__mgr_bind(call, "Value", args, kwds, 2, 3, names, a);
    if (rc)
        return rc;
    const char *tc = mpx_obj_str_value(a[0]);
    mval *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    if (tc)
        snprintf(m->typecode, sizeof m->typecode, "%s", tc);
    else /* a ctypes type: keep its name */
        snprintf(m->typecode, sizeof m->typecode, "%s", mpx_obj_type_name(a[0]));
    m->value = mpx_obj_incref((mpx_obj *)a[1]);
    rc = mpx_referent_create(out, &mpx__mgr_value_cls, m);
    if (rc)
        val_release(m);
    return rc;
}

static int c_array(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                   mpx_manager_call *call)
{
    static const char *const names[] = {"typecode", "sequence", "lock"};
    const mpx_obj *a[3];
    int rc = mpx__mgr_bind(call, "Array", args, kwds, 2, 3, names, a);
    if (rc)
        return rc;
    const char *tc = mpx_obj_str_value(a[0]);
    if (!tc || strlen(tc) != 1 || !tc_size(tc[0]))
        return mpx_manager_raise(call, tc ? MPX_EINVAL : MPX_ETYPE,
                                 "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)");
    mpx_obj *items;
    if ((rc = mpx__mgr_items_of(call, a[1], &items)))
        return rc;
    marr *m = calloc(1, sizeof *m);
    if (!m || !(m->items = mpx_obj_list())) {
        free(m);
        mpx_obj_decref(items);
        return -ENOMEM;
    }
    m->tc = tc[0];
    for (int64_t i = 0; !rc && i < mpx_obj_len(items); i++) {
        mpx_obj *v;
        rc = arr_item(call, m->tc, mpx_obj_item(items, i), &v);
        if (!rc)
            rc = mpx_obj_list_append_new(m->items, v);
    }
    mpx_obj_decref(items);
    if (!rc)
        rc = mpx_referent_create(out, &mpx__mgr_array_class, m);
    if (rc)
        arr_release(m);
    return rc;
}


mpx_manager_callable mpx__mgr_builtin_callable(const char *typeid)
{
    static const struct {
        const char *name;
        mpx_manager_callable fn;
    } t[] = {{"dict", c_dict},   {"list", c_list},   {"Namespace", c_namespace},
             {"Value", c_value}, {"Array", c_array},  {"Pool", mpx__mgr_pool_create}};
    for (size_t i = 0; i < MPX__ARRAY_LEN(t); i++)
        if (strcmp(t[i].name, typeid) == 0)
            return t[i].fn;
    return mpx__mgr_sync_callable(typeid);
}

char **mpx__mgr_public_methods(const mpx_manager_class *cls)
{
    size_t n = 0;
    for (const mpx_manager_method *m = cls->methods; m && m->name; m++)
        n++;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (const mpx_manager_method *m = cls->methods; m && m->name; m++)
        if (m->name[0] != '_' && !(v[k++] = strdup(m->name))) {
            mpx__strv_free(v);
            return NULL;
        }
    return v;
}
