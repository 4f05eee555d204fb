/*
 * mgr_types.c - SyncManager's dict and list (#16, MGR-16..18, PROXY-02):
 * server-side objects over mpx_obj values with the methods of CPython's
 * DictProxy and ListProxy and Python's errors (messages as CPython 3.11
 * words them); the argument helpers the value types share (mgr_values.c
 * has Namespace, Value, Array and Iterator).
 *
 * The server runs one method of such an object at a time (the class is not
 * concurrent), so the values need no locks of their own.
 */
#include "core/mgr_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- argument helpers ------------------------------------------------------------ */

/* Python's positional/keyword binding for a method taking min..max
 * arguments named names[] (kwargs allowed when names is not NULL). */
int mpx__mgr_bind(mpx_manager_call *call, const char *fname, const mpx_obj *args,
                const mpx_obj *kwds, int min, int max, const char *const *names,
                const mpx_obj **out)
{
    int64_t n = mpx_obj_len(args);
    for (int i = 0; i < max; i++)
        out[i] = i < n ? mpx_obj_item(args, i) : NULL;
    if (n > max) {
        if (max == 0)
            return mpx_manager_raise(call, MPX_ETYPE, "%s() takes no arguments (%lld given)",
                                     fname, (long long)n);
        return mpx_manager_raise(call, MPX_ETYPE, "%s expected at most %d argument%s, got %lld",
                                 fname, max, max == 1 ? "" : "s", (long long)n);
    }
    if (kwds && mpx_obj_len(kwds) > 0) {
        if (!names)
            return mpx_manager_raise(call, MPX_ETYPE, "%s() takes no keyword arguments", fname);
        size_t pos = 0;
        mpx_obj *k, *v;
        while (mpx_obj_dict_next(kwds, &pos, &k, &v) == 1) {
            const char *ks = mpx_obj_str_value(k);
            int found = -1;
            for (int i = 0; ks && i < max; i++)
                if (strcmp(names[i], ks) == 0)
                    found = i;
            if (found < 0)
                return mpx_manager_raise(call, MPX_ETYPE,
                                         "%s() got an unexpected keyword argument '%s'", fname,
                                         ks ? ks : "?");
            if (out[found])
                return mpx_manager_raise(call, MPX_ETYPE,
                                         "%s() got multiple values for argument '%s'", fname,
                                         ks);
            out[found] = v;
        }
    }
    for (int i = 0; i < min; i++)
        if (!out[i])
            return mpx_manager_raise(call, MPX_ETYPE, "%s expected at least %d argument%s, got %lld",
                                     fname, min, min == 1 ? "" : "s", (long long)n);
    return 0;
}

int mpx__mgr_key_error(mpx_manager_call *call, const mpx_obj *key)
{
    mpx_obj *a = mpx_obj_tuple_pack(1, (mpx_obj *)key);
    mpx_obj *e = a ? mpx_manager_exception("builtins", "KeyError", a) : NULL;
    mpx_obj_decref(a);
    if (!e)
        return -ENOMEM;
    mpx_manager_raise_exc(call, e);
    mpx_obj_decref(e);
    return MPX_EKEY;
}

/* The error of a failed obj call on a key (unhashable ...). */
static int obj_error(mpx_manager_call *call, int rc, const mpx_obj *v)
{
    if (rc == MPX_ETYPE && v)
        return mpx_manager_raise(call, MPX_ETYPE, "unhashable type: '%s'",
                                 mpx_obj_type_name(v));
    return mpx_manager_raise(call, rc, "%s", mpx_strerror(rc));
}

int mpx__mgr_ret(mpx_obj **result, mpx_obj *v)
{
    if (!v)
        return -ENOMEM;
    *result = v;
    return 0;
}

/* An int index (an int or bool), with Python's message otherwise. */
int mpx__mgr_index_of(mpx_manager_call *call, const mpx_obj *v, const char *what, int64_t *out)
{
    mpx_obj_type t = mpx_obj_typeof(v);
    if (t != MPX_OBJ_INT && t != MPX_OBJ_BOOL)
        return mpx_manager_raise(call, MPX_ETYPE, "%s indices must be integers or slices, not %s",
                                 what, mpx_obj_type_name(v));
    if (mpx_obj_get_int(v, out))
        return mpx_manager_raise(call, MPX_EINDEX, "cannot fit 'int' into an index-sized integer");
    return 0;
}

static int negative(const mpx_obj *v)
{
    mpx_obj *z = mpx_obj_int(0);
    int r = z ? mpx_obj_compare(v, z, MPX_OBJ_LT) : 0;
    mpx_obj_decref(z);
    return r == 1;
}

/* A slice value: 1 with the adjusted indices (PySlice_AdjustIndices), 0
 * when v is not a slice, or an error. */
int mpx__mgr_slice_of(mpx_manager_call *call, const mpx_obj *v, int64_t len, int64_t *start,
                    int64_t *stop, int64_t *step, int64_t *count)
{
    mpx_obj_reduce r;
    if (mpx_obj_instance_of(v, "builtins", "slice") != 1 || mpx_obj_instance_get(v, &r) ||
        !r.args || mpx_obj_len(r.args) != 3)
        return 0;
    int64_t part[3];
    bool none[3];
    for (int i = 0; i < 3; i++) {
        const mpx_obj *x = mpx_obj_item(r.args, i);
        none[i] = mpx_obj_typeof(x) == MPX_OBJ_NONE;
        part[i] = 0;
        if (!none[i] && mpx_obj_get_int(x, &part[i])) {
            if (mpx_obj_typeof(x) == MPX_OBJ_INT) /* huge: clamp */
                part[i] = negative(x) ? INT64_MIN / 2
                                                                                 : INT64_MAX / 2;
            else
                return mpx_manager_raise(call, MPX_ETYPE,
                                         "slice indices must be integers or None or have an "
                                         "__index__ method");
        }
    }
    int64_t st = none[2] ? 1 : part[2];
    if (st == 0)
        return mpx_manager_raise(call, MPX_EINVAL, "slice step cannot be zero");
    int64_t a, b;
    if (st > 0) {
        a = none[0] ? 0 : part[0];
        b = none[1] ? len : part[1];
        if (a < 0 && (a += len) < 0)
            a = 0;
        else if (a > len)
            a = len;
        if (b < 0 && (b += len) < 0)
            b = 0;
        else if (b > len)
            b = len;
        *count = b > a ? (b - a - 1) / st + 1 : 0;
    } else {
        a = none[0] ? len - 1 : part[0];
        b = none[1] ? -1 : part[1];
        if (!none[0]) {
            if (a < 0 && (a += len) < 0)
                a = -1;
            else if (a >= len)
                a = len - 1;
        }
        if (!none[1]) {
            if (b < 0 && (b += len) < 0)
                b = -1;
            else if (b >= len)
                b = len - 1;
        }
        *count = a > b ? (a - b - 1) / (-st) + 1 : 0;
    }
    *start = a;
    *stop = b;
    *step = st;
    return 1;
}

/* A new list of the items of any iterable value (tuple, list, set,
 * frozenset, dict keys, str characters, bytes ints). */
int mpx__mgr_items_of(mpx_manager_call *call, const mpx_obj *v, mpx_obj **out)
{
    mpx_obj *l = mpx_obj_list();
    if (!l)
        return -ENOMEM;
    mpx_obj_type t = mpx_obj_typeof(v);
    int rc = 0;
    if (t == MPX_OBJ_TUPLE || t == MPX_OBJ_LIST || t == MPX_OBJ_SET || t == MPX_OBJ_FROZENSET ||
        t == MPX_OBJ_DICT) {
        rc = mpx_obj_list_extend(l, v);
    } else if (t == MPX_OBJ_BYTES || t == MPX_OBJ_BYTEARRAY) {
        const void *p;
        size_t n;
        mpx_obj_get_bytes(v, &p, &n);
        for (size_t i = 0; !rc && i < n; i++)
            rc = mpx_obj_list_append_new(l, mpx_obj_int(((const unsigned char *)p)[i]));
    } else if (t == MPX_OBJ_STR) {
        const char *s;
        size_t n;
        mpx_obj_get_str(v, &s, &n);
        for (size_t i = 0; !rc && i < n;) {
            size_t k = 1;
            unsigned char c = (unsigned char)s[i];
            if (c >= 0xf0)
                k = 4;
            else if (c >= 0xe0)
                k = 3;
            else if (c >= 0xc0)
                k = 2;
            rc = mpx_obj_list_append_new(l, mpx_obj_strn(s + i, k));
            i += k;
        }
    } else {
        mpx_obj_decref(l);
        return mpx_manager_raise(call, MPX_ETYPE, "'%s' object is not iterable",
                                 mpx_obj_type_name(v));
    }
    if (rc) {
        mpx_obj_decref(l);
        return rc;
    }
    *out = l;
    return 0;
}

/* ---- dict ------------------------------------------------------------------------- */

static int d_contains(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                      mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__contains__", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    rc = mpx_obj_dict_lookup(self, a[0], NULL);
    return rc < 0 ? obj_error(call, rc, a[0]) : mpx__mgr_ret(result, mpx_obj_bool(rc));
}

static int d_getitem(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__getitem__", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    mpx_obj *v;
    rc = mpx_obj_dict_lookup(self, a[0], &v);
    if (rc < 0)
        return obj_error(call, rc, a[0]);
    if (rc == 0)
        return mpx__mgr_key_error(call, a[0]);
    return mpx__mgr_ret(result, mpx_obj_incref(v));
}

static int d_setitem(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    const mpx_obj *a[2];
    int rc = mpx__mgr_bind(call, "__setitem__", args, kwds, 2, 2, NULL, a);
    if (rc)
        return rc;
    rc = mpx_obj_dict_set(self, (mpx_obj *)a[0], (mpx_obj *)a[1]);
    return rc ? obj_error(call, rc, a[0]) : 0;
}

static int d_delitem(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__delitem__", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    rc = mpx_obj_dict_del(self, a[0]);
    if (rc == MPX_EKEY)
        return mpx__mgr_key_error(call, a[0]);
    return rc ? obj_error(call, rc, a[0]) : 0;
}

int mpx__mgr_v_len(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                 mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__len__", args, kwds, 0, 0, NULL, a);
    return rc ? rc : mpx__mgr_ret(result, mpx_obj_int(mpx_obj_len(self)));
}

static int d_get(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                 mpx_manager_call *call)
{
    const mpx_obj *a[2];
    int rc = mpx__mgr_bind(call, "get", args, kwds, 1, 2, NULL, a);
    if (rc)
        return rc;
    mpx_obj *v;
    rc = mpx_obj_dict_lookup(self, a[0], &v);
    if (rc < 0)
        return obj_error(call, rc, a[0]);
    if (rc == 0)
        v = a[1] ? (mpx_obj *)a[1] : mpx_obj_none();
    return mpx__mgr_ret(result, mpx_obj_incref(v));
}

static int d_setdefault(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                        mpx_manager_call *call)
{
    const mpx_obj *a[2];
    int rc = mpx__mgr_bind(call, "setdefault", args, kwds, 1, 2, NULL, a);
    if (rc)
        return rc;
    mpx_obj *v;
    rc = mpx_obj_dict_lookup(self, a[0], &v);
    if (rc < 0)
        return obj_error(call, rc, a[0]);
    if (rc == 0) {
        v = a[1] ? (mpx_obj *)a[1] : mpx_obj_none();
        if ((rc = mpx_obj_dict_set(self, (mpx_obj *)a[0], v)))
            return obj_error(call, rc, a[0]);
    }
    return mpx__mgr_ret(result, mpx_obj_incref(v));
}

static int d_pop(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                 mpx_manager_call *call)
{
    const mpx_obj *a[2];
    int rc = mpx__mgr_bind(call, "pop", args, kwds, 1, 2, NULL, a);
    if (rc)
        return rc;
    mpx_obj *v;
    rc = mpx_obj_dict_lookup(self, a[0], &v);
    if (rc < 0)
        return obj_error(call, rc, a[0]);
    if (rc == 0)
        return a[1] ? mpx__mgr_ret(result, mpx_obj_incref((mpx_obj *)a[1])) : mpx__mgr_key_error(call, a[0]);
    *result = mpx_obj_incref(v);
    mpx_obj_dict_del(self, a[0]);
    return 0;
}

static int d_popitem(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "popitem", args, kwds, 0, 0, NULL, a);
    if (rc)
        return rc;
    size_t pos = 0;
    mpx_obj *k = NULL, *v = NULL, *lk = NULL, *lv = NULL;
    while (mpx_obj_dict_next(self, &pos, &k, &v) == 1) {
        lk = k;
        lv = v;
    }
    if (!lk)
        return mpx_manager_raise(call, MPX_EKEY, "popitem(): dictionary is empty");
    mpx_obj *t = mpx_obj_tuple_pack(2, lk, lv);
    if (!t)
        return -ENOMEM;
    mpx_obj_dict_del(self, lk);
    *result = t;
    return 0;
}

static int d_clear(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "clear", args, kwds, 0, 0, NULL, a);
    return rc ? rc : mpx_obj_clear(self);
}

mpx_obj *mpx__mgr_dict_copy(const mpx_obj *d)
{
    mpx_obj *c = mpx_obj_dict();
    if (c && mpx_obj_dict_update(c, d)) {
        mpx_obj_decref(c);
        return NULL;
    }
    return c;
}

static int d_copy(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "copy", args, kwds, 0, 0, NULL, a);
    return rc ? rc : mpx__mgr_ret(result, mpx__mgr_dict_copy(self));
}

/* keys() / values() / items() as lists (CPython's manager sends views as
 * lists: rebuild_as_list). */
static int d_view(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call, int which)
{
    static const char *const names[] = {"keys", "values", "items"};
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, names[which], args, kwds, 0, 0, NULL, a);
    if (rc)
        return rc;
    mpx_obj *l = mpx_obj_list();
    size_t pos = 0;
    mpx_obj *k, *v;
    while (l && !rc && mpx_obj_dict_next(self, &pos, &k, &v) == 1)
        rc = which == 0   ? mpx_obj_list_append(l, k)
             : which == 1 ? mpx_obj_list_append(l, v)
                          : mpx_obj_list_append_new(l, mpx_obj_tuple_pack(2, k, v));
    if (!l || rc) {
        mpx_obj_decref(l);
        return rc ? rc : -ENOMEM;
    }
    *result = l;
    return 0;
}

static int d_keys(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    return d_view(s, a, k, r, c, 0);
}
static int d_values(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    return d_view(s, a, k, r, c, 1);
}
static int d_items(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    return d_view(s, a, k, r, c, 2);
}

/* dict.update(other) / dict(other): a dict, or an iterable of pairs. */
int mpx__mgr_update_from(mpx_manager_call *call, mpx_obj *d, const mpx_obj *other)
{
    if (mpx_obj_typeof(other) == MPX_OBJ_DICT)
        return mpx_obj_dict_update(d, other);
    mpx_obj *items;
    int rc = mpx__mgr_items_of(call, other, &items);
    if (rc)
        return rc;
    for (int64_t i = 0; !rc && i < mpx_obj_len(items); i++) {
        const mpx_obj *it = mpx_obj_item(items, i);
        mpx_obj_type t = mpx_obj_typeof(it);
        if ((t != MPX_OBJ_TUPLE && t != MPX_OBJ_LIST) || mpx_obj_len(it) != 2) {
            rc = mpx_manager_raise(
                call, t == MPX_OBJ_TUPLE || t == MPX_OBJ_LIST ? MPX_EINVAL : MPX_ETYPE,
                t == MPX_OBJ_TUPLE || t == MPX_OBJ_LIST
                    ? "dictionary update sequence element #%lld has length %lld; 2 is required"
                    : "cannot convert dictionary update sequence element #%lld to a sequence",
                (long long)i, (long long)mpx_obj_len(it));
            break;
        }
        rc = mpx_obj_dict_set(d, mpx_obj_item(it, 0), mpx_obj_item(it, 1));
        if (rc)
            rc = obj_error(call, rc, mpx_obj_item(it, 0));
    }
    mpx_obj_decref(items);
    return rc;
}

static int d_update(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    int64_t n = mpx_obj_len(args);
    if (n > 1)
        return mpx_manager_raise(call, MPX_ETYPE, "update expected at most 1 argument, got %lld",
                                 (long long)n);
    int rc = n == 1 ? mpx__mgr_update_from(call, self, mpx_obj_item(args, 0)) : 0;
    return rc ? rc : mpx_obj_dict_update(self, kwds);
}


static int d_iter(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__iter__", args, kwds, 0, 0, NULL, a);
    if (rc)
        return rc;
    mpx_obj *keys = mpx_obj_list();
    if (!keys || mpx_obj_list_extend(keys, self)) {
        mpx_obj_decref(keys);
        return -ENOMEM;
    }
    mpx_referent *it;
    rc = mpx__mgr_iter_new(keys, "dict_keyiterator", &it);
    mpx_obj_decref(keys);
    return rc ? rc : mpx_manager_return_object(call, it);
}

static const mpx_manager_method dict_methods[] = {
    {"__contains__", d_contains}, {"__delitem__", d_delitem}, {"__getitem__", d_getitem},
    {"__iter__", d_iter},         {"__len__", mpx__mgr_v_len},         {"__setitem__", d_setitem},
    {"clear", d_clear},           {"copy", d_copy},           {"get", d_get},
    {"items", d_items},           {"keys", d_keys},           {"pop", d_pop},
    {"popitem", d_popitem},       {"setdefault", d_setdefault}, {"update", d_update},
    {"values", d_values},         {NULL, NULL},
};

/* ---- list ---------------------------------------------------------------------------- */

static int l_getitem(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__getitem__", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    int64_t len = mpx_obj_len(self), start, stop, step, count;
    rc = mpx__mgr_slice_of(call, a[0], len, &start, &stop, &step, &count);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        mpx_obj *l = mpx_obj_list();
        for (int64_t i = 0, j = start; l && i < count; i++, j += step)
            if (mpx_obj_list_append(l, mpx_obj_item(self, j))) {
                mpx_obj_decref(l);
                l = NULL;
            }
        return mpx__mgr_ret(result, l);
    }
    int64_t i;
    if ((rc = mpx__mgr_index_of(call, a[0], "list", &i)))
        return rc;
    mpx_obj *v = mpx_obj_item(self, i);
    if (!v)
        return mpx_manager_raise(call, MPX_EINDEX, "list index out of range");
    return mpx__mgr_ret(result, mpx_obj_incref(v));
}

/* Replace self's items by those of l. */
static int list_assign(mpx_obj *self, const mpx_obj *l)
{
    mpx_obj *keep = mpx_obj_incref((mpx_obj *)l);
    int rc = mpx_obj_clear(self);
    if (!rc)
        rc = mpx_obj_list_extend(self, keep);
    mpx_obj_decref(keep);
    return rc;
}

static int l_setitem(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    const mpx_obj *a[2];
    int rc = mpx__mgr_bind(call, "__setitem__", args, kwds, 2, 2, NULL, a);
    if (rc)
        return rc;
    int64_t len = mpx_obj_len(self), start, stop, step, count;
    rc = mpx__mgr_slice_of(call, a[0], len, &start, &stop, &step, &count);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        mpx_obj *items;
        if ((rc = mpx__mgr_items_of(call, a[1], &items)))
            return mpx_obj_typeof(a[1]) == MPX_OBJ_LIST || rc != MPX_ETYPE
                       ? rc
                       : mpx_manager_raise(call, MPX_ETYPE, "can only assign an iterable");
        int64_t n = mpx_obj_len(items);
        mpx_obj *nl = mpx_obj_list();
        if (!nl) {
            mpx_obj_decref(items);
            return -ENOMEM;
        }
        if (step == 1) {
            if (stop < start)
                stop = start;
            for (int64_t i = 0; !rc && i < start; i++)
                rc = mpx_obj_list_append(nl, mpx_obj_item(self, i));
            for (int64_t i = 0; !rc && i < n; i++)
                rc = mpx_obj_list_append(nl, mpx_obj_item(items, i));
            for (int64_t i = stop; !rc && i < len; i++)
                rc = mpx_obj_list_append(nl, mpx_obj_item(self, i));
        } else if (n != count) {
            rc = mpx_manager_raise(call, MPX_EINVAL,
                                   "attempt to assign sequence of size %lld to extended slice "
                                   "of size %lld",
                                   (long long)n, (long long)count);
        } else {
            rc = mpx_obj_list_extend(nl, self);
            for (int64_t i = 0, j = start; !rc && i < count; i++, j += step)
                rc = mpx_obj_list_set(nl, j, mpx_obj_item(items, i));
        }
        if (!rc)
            rc = list_assign(self, nl);
        mpx_obj_decref(nl);
        mpx_obj_decref(items);
        return rc;
    }
    int64_t i;
    if ((rc = mpx__mgr_index_of(call, a[0], "list", &i)))
        return rc;
    rc = mpx_obj_list_set(self, i, (mpx_obj *)a[1]);
    return rc == MPX_EINDEX ? mpx_manager_raise(call, rc, "list assignment index out of range")
                            : rc;
}

static int l_delitem(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__delitem__", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    int64_t len = mpx_obj_len(self), start, stop, step, count;
    rc = mpx__mgr_slice_of(call, a[0], len, &start, &stop, &step, &count);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        if (count == 0)
            return 0;
        char *gone = calloc((size_t)len, 1);
        mpx_obj *nl = mpx_obj_list();
        if (!gone || !nl) {
            free(gone);
            mpx_obj_decref(nl);
            return -ENOMEM;
        }
        for (int64_t i = 0, j = start; i < count; i++, j += step)
            gone[j] = 1;
        rc = 0;
        for (int64_t i = 0; !rc && i < len; i++)
            if (!gone[i])
                rc = mpx_obj_list_append(nl, mpx_obj_item(self, i));
        if (!rc)
            rc = list_assign(self, nl);
        free(gone);
        mpx_obj_decref(nl);
        return rc;
    }
    int64_t i;
    if ((rc = mpx__mgr_index_of(call, a[0], "list", &i)))
        return rc;
    rc = mpx_obj_list_pop(self, i, NULL);
    return rc == MPX_EINDEX ? mpx_manager_raise(call, rc, "list assignment index out of range")
                            : rc;
}

static int l_contains(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                      mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__contains__", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    rc = mpx_obj_contains(self, a[0]);
    return rc < 0 ? rc : mpx__mgr_ret(result, mpx_obj_bool(rc));
}

static int l_append(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "append", args, kwds, 1, 1, NULL, a);
    return rc ? rc : mpx_obj_list_append(self, (mpx_obj *)a[0]);
}

static int l_extend(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "extend", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    mpx_obj *items;
    if ((rc = mpx__mgr_items_of(call, a[0], &items)))
        return rc;
    rc = mpx_obj_list_extend(self, items);
    mpx_obj_decref(items);
    return rc;
}

static int l_insert(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    const mpx_obj *a[2];
    int rc = mpx__mgr_bind(call, "insert", args, kwds, 2, 2, NULL, a);
    if (rc)
        return rc;
    int64_t i;
    if (mpx_obj_get_int(a[0], &i))
        return mpx_manager_raise(call, MPX_ETYPE,
                                 "'%s' object cannot be interpreted as an integer",
                                 mpx_obj_type_name(a[0]));
    return mpx_obj_list_insert(self, i, (mpx_obj *)a[1]);
}

static int l_pop(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                 mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "pop", args, kwds, 0, 1, NULL, a);
    if (rc)
        return rc;
    int64_t i = -1;
    if (a[0] && mpx_obj_get_int(a[0], &i))
        return mpx_manager_raise(call, MPX_ETYPE,
                                 "'%s' object cannot be interpreted as an integer",
                                 mpx_obj_type_name(a[0]));
    if (mpx_obj_len(self) == 0)
        return mpx_manager_raise(call, MPX_EINDEX, "pop from empty list");
    rc = mpx_obj_list_pop(self, i, result);
    return rc == MPX_EINDEX ? mpx_manager_raise(call, rc, "pop index out of range") : rc;
}

/* The index of the first item equal to x in [lo, hi), or -1; < -1 error. */
static int64_t find_eq(const mpx_obj *l, const mpx_obj *x, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++) {
        int e = mpx_obj_equal(mpx_obj_item(l, i), x);
        if (e < 0)
            return e - 2;
        if (e)
            return i;
    }
    return -1;
}

static int l_remove(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "remove", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    int64_t i = find_eq(self, a[0], 0, mpx_obj_len(self));
    if (i < -1)
        return (int)(i + 2);
    if (i < 0)
        return mpx_manager_raise(call, MPX_EINVAL, "list.remove(x): x not in list");
    return mpx_obj_list_pop(self, i, NULL);
}

static int l_index(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    const mpx_obj *a[3];
    int rc = mpx__mgr_bind(call, "index", args, kwds, 1, 3, NULL, a);
    if (rc)
        return rc;
    int64_t len = mpx_obj_len(self), lo = 0, hi = len;
    if ((a[1] && mpx_obj_get_int(a[1], &lo)) || (a[2] && mpx_obj_get_int(a[2], &hi)))
        return mpx_manager_raise(call, MPX_ETYPE,
                                 "slice indices must be integers or have an __index__ method");
    if (lo < 0 && (lo += len) < 0)
        lo = 0;
    if (hi < 0 && (hi += len) < 0)
        hi = 0;
    if (hi > len)
        hi = len;
    int64_t i = find_eq(self, a[0], lo, hi);
    if (i < -1)
        return (int)(i + 2);
    if (i < 0) {
        char *r = mpx_obj_repr(a[0]);
        rc = mpx_manager_raise(call, MPX_EINVAL, "%s is not in list", r ? r : "?");
        mpx_free(r);
        return rc;
    }
    return mpx__mgr_ret(result, mpx_obj_int(i));
}

static int l_count(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "count", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    int64_t n = 0;
    for (int64_t i = 0; i < mpx_obj_len(self); i++) {
        int e = mpx_obj_equal(mpx_obj_item(self, i), a[0]);
        if (e < 0)
            return e;
        n += e;
    }
    return mpx__mgr_ret(result, mpx_obj_int(n));
}

static int l_reverse(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "reverse", args, kwds, 0, 0, NULL, a);
    if (rc)
        return rc;
    mpx_obj *nl = mpx_obj_list();
    for (int64_t i = mpx_obj_len(self) - 1; nl && !rc && i >= 0; i--)
        rc = mpx_obj_list_append(nl, mpx_obj_item(self, i));
    if (!nl)
        return -ENOMEM;
    if (!rc)
        rc = list_assign(self, nl);
    mpx_obj_decref(nl);
    return rc;
}

static int l_reversed(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                      mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__reversed__", args, kwds, 0, 0, NULL, a);
    if (rc)
        return rc;
    mpx_obj *nl = mpx_obj_list();
    for (int64_t i = mpx_obj_len(self) - 1; nl && !rc && i >= 0; i--)
        rc = mpx_obj_list_append(nl, mpx_obj_item(self, i));
    if (rc) {
        mpx_obj_decref(nl);
        return rc;
    }
    return mpx__mgr_ret(result, nl);
}

/* Stable merge sort of v[0..n) by '<' (or '>' with rev): Python's sort. */
static int msort(mpx_obj **v, mpx_obj **tmp, size_t n, bool rev)
{
    if (n < 2)
        return 0;
    size_t h = n / 2;
    int rc = msort(v, tmp, h, rev);
    if (!rc)
        rc = msort(v + h, tmp, n - h, rev);
    if (rc)
        return rc;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        /* take from the right only when it is strictly before the left */
        int lt = rev ? mpx_obj_compare(v[i], v[j], MPX_OBJ_LT)
                     : mpx_obj_compare(v[j], v[i], MPX_OBJ_LT);
        if (lt < 0)
            return lt;
        tmp[k++] = lt ? v[j++] : v[i++];
    }
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
    return 0;
}

static int l_sort(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    static const char *const names[] = {"key", "reverse"};
    const mpx_obj *a[2];
    if (mpx_obj_len(args) > 0)
        return mpx_manager_raise(call, MPX_ETYPE, "sort() takes no positional arguments");
    int rc = mpx__mgr_bind(call, "sort", args, kwds, 0, 2, names, a);
    if (rc)
        return rc;
    if (a[0] && mpx_obj_typeof(a[0]) != MPX_OBJ_NONE)
        return mpx_manager_raise(call, MPX_ENOTSUP,
                                 "sort(key=...) needs a Python function: not in an mpx manager");
    bool rev = a[1] && mpx_obj_truth(a[1]) == 1;
    size_t n = (size_t)mpx_obj_len(self);
    mpx_obj **v = malloc((n + 1) * sizeof *v), **tmp = malloc((n + 1) * sizeof *tmp);
    if (!v || !tmp) {
        free(v);
        free(tmp);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = mpx_obj_item(self, (int64_t)i);
    rc = msort(v, tmp, n, rev);
    if (rc == MPX_ETYPE) {
        /* name the two types as Python does, from the first failing pair */
        for (size_t i = 0; i + 1 < n; i++)
            if (mpx_obj_compare(v[i + 1], v[i], MPX_OBJ_LT) < 0) {
                rc = mpx_manager_raise(call, MPX_ETYPE,
                                       "'<' not supported between instances of '%s' and '%s'",
                                       mpx_obj_type_name(v[i + 1]), mpx_obj_type_name(v[i]));
                break;
            }
    }
    mpx_obj *nl = rc ? NULL : mpx_obj_list();
    for (size_t i = 0; nl && !rc && i < n; i++)
        rc = mpx_obj_list_append(nl, v[i]);
    if (nl && !rc)
        rc = list_assign(self, nl);
    else if (!rc)
        rc = -ENOMEM;
    mpx_obj_decref(nl);
    free(v);
    free(tmp);
    return rc;
}

static int repeat(mpx_manager_call *call, const mpx_obj *self, const mpx_obj *nv, mpx_obj **out)
{
    int64_t n;
    if (mpx_obj_get_int(nv, &n))
        return mpx_manager_raise(call, MPX_ETYPE, "can't multiply sequence by non-int of type '%s'",
                                 mpx_obj_type_name(nv));
    mpx_obj *l = mpx_obj_list();
    int rc = l ? 0 : -ENOMEM;
    for (int64_t i = 0; !rc && i < n; i++)
        rc = mpx_obj_list_extend(l, self);
    if (rc) {
        mpx_obj_decref(l);
        return rc;
    }
    *out = l;
    return 0;
}

static int l_mul(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                 mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__mul__", args, kwds, 1, 1, NULL, a);
    return rc ? rc : repeat(call, self, a[0], result);
}

static int l_imul(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__imul__", args, kwds, 1, 1, NULL, a);
    mpx_obj *l;
    if (rc || (rc = repeat(call, self, a[0], &l)))
        return rc;
    rc = list_assign(self, l);
    mpx_obj_decref(l);
    return rc ? rc : mpx__mgr_ret(result, mpx_obj_incref(self));
}

static int l_add(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                 mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = mpx__mgr_bind(call, "__add__", args, kwds, 1, 1, NULL, a);
    if (rc)
        return rc;
    if (mpx_obj_typeof(a[0]) != MPX_OBJ_LIST)
        return mpx_manager_raise(call, MPX_ETYPE, "can only concatenate list (not \"%s\") to list",
                                 mpx_obj_type_name(a[0]));
    mpx_obj *l = mpx_obj_list();
    if (!l || mpx_obj_list_extend(l, self) || mpx_obj_list_extend(l, a[0])) {
        mpx_obj_decref(l);
        return -ENOMEM;
    }
    *result = l;
    return 0;
}

static const mpx_manager_method list_methods[] = {
    {"__add__", l_add},         {"__contains__", l_contains}, {"__delitem__", l_delitem},
    {"__getitem__", l_getitem}, {"__len__", mpx__mgr_v_len},           {"__mul__", l_mul},
    {"__reversed__", l_reversed}, {"__rmul__", l_mul},        {"__setitem__", l_setitem},
    {"append", l_append},       {"count", l_count},           {"extend", l_extend},
    {"index", l_index},         {"insert", l_insert},         {"pop", l_pop},
    {"remove", l_remove},       {"reverse", l_reverse},       {"sort", l_sort},
    {"__imul__", l_imul},       {NULL, NULL},
};

/* ---- value classes ------------------------------------------------------------------- */

void mpx__mgr_value_release(void *self) { mpx_obj_decref(self); }
/* Does v hold a proxy value (RebuildProxy) anywhere? */
static bool has_proxy(const mpx_obj *v, int depth)
{
    mpx_obj_type t = mpx_obj_typeof(v);
    if (t == MPX_OBJ_INSTANCE)
        return mpx_proxy_is_proxy_obj(v) == 1;
    if (depth > 64 || (t != MPX_OBJ_LIST && t != MPX_OBJ_TUPLE && t != MPX_OBJ_DICT))
        return false;
    size_t pos = 0;
    mpx_obj *k, *it;
    if (t == MPX_OBJ_DICT) {
        while (mpx_obj_dict_next(v, &pos, &k, &it) == 1)
            if (has_proxy(it, depth + 1))
                return true;
    } else {
        while (mpx_obj_next(v, &pos, &it) == 1)
            if (has_proxy(it, depth + 1))
                return true;
    }
    return false;
}

/* repr(v) where a stored proxy prints as the proxy object it is in
 * CPython's server: "<DictProxy object, typeid 'dict' at 0x...>". */
static int repr_into(mpx__buf *b, const mpx_obj *v, int depth)
{
    mpx_obj_type t = mpx_obj_typeof(v);
    const mpx_obj *tok, *kw;
    const char *mod, *qn, *typeid, *ident;
    if (t == MPX_OBJ_INSTANCE && mpx__mgr_rebuild_parts(v, &tok, &mod, &qn, &kw) == 0 &&
        mpx__mgr_token_parts(tok, &typeid, NULL, &ident) == 0) {
        char s[512];
        int n;
        if (!qn || strcmp(qn, "AutoProxy") == 0)
            n = snprintf(s, sizeof s, "<AutoProxy[%s] object, typeid '%s' at 0x%s>", typeid,
                         typeid, ident);
        else
            n = snprintf(s, sizeof s, "<%s object, typeid '%s' at 0x%s>", qn, typeid, ident);
        return mpx__buf_append(b, s, n < (int)sizeof s ? (size_t)n : sizeof s - 1);
    }
    bool is_list = t == MPX_OBJ_LIST, is_tuple = t == MPX_OBJ_TUPLE, is_dict = t == MPX_OBJ_DICT;
    if (depth > 64 || !(is_list || is_tuple || is_dict) || !has_proxy(v, 0)) {
        char *r = mpx_obj_repr(v);
        int rc = r ? mpx__buf_append(b, r, strlen(r)) : -ENOMEM;
        mpx_free(r);
        return rc;
    }
    int rc = mpx__buf_append(b, is_list ? "[" : is_tuple ? "(" : "{", 1);
    size_t pos = 0, i = 0;
    mpx_obj *k, *it;
    while (!rc && (is_dict ? mpx_obj_dict_next(v, &pos, &k, &it) : mpx_obj_next(v, &pos, &it)) == 1) {
        if (i++)
            rc = mpx__buf_append(b, ", ", 2);
        if (!rc && is_dict) {
            rc = repr_into(b, k, depth + 1);
            if (!rc)
                rc = mpx__buf_append(b, ": ", 2);
        }
        if (!rc)
            rc = repr_into(b, it, depth + 1);
    }
    if (!rc && is_tuple && i == 1)
        rc = mpx__buf_append(b, ",", 1);
    if (!rc)
        rc = mpx__buf_append(b, is_list ? "]" : is_tuple ? ")" : "}", 1);
    return rc;
}

static char *value_repr(void *self)
{
    mpx__buf b;
    mpx__buf_init(&b);
    if (repr_into(&b, self, 0) || mpx__buf_append(&b, "", 1)) {
        mpx__buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

static int value_getvalue(void *self, mpx_obj **out)
{
    *out = mpx_obj_incref(self);
    return 0;
}

static const mpx_manager_method no_methods[] = {{NULL, NULL}};

const mpx_manager_class mpx__mgr_dict_class = {"dict", dict_methods, mpx__mgr_value_release, value_repr,
                                               value_getvalue, 0, 1};
const mpx_manager_class mpx__mgr_list_class = {"list", list_methods, mpx__mgr_value_release, value_repr,
                                               value_getvalue, 0, 1};
const mpx_manager_class mpx__mgr_object_class = {"object", no_methods, mpx__mgr_value_release,
                                                 value_repr, value_getvalue, 0, 1};

const mpx_manager_class *mpx__mgr_value_class(const mpx_obj *v)
{
    switch (mpx_obj_typeof(v)) {
    case MPX_OBJ_DICT: return &mpx__mgr_dict_class;
    case MPX_OBJ_LIST: return &mpx__mgr_list_class;
    default: return &mpx__mgr_object_class;
    }
}

