/*
 * core/shm_list_obj.c - ShareableList with values (include/mpx/shm.h,
 * "ShareableList and values"): the literal port of
 * `ShareableList([1, 2.5, 'x', None])`, `sl[i]`, `sl[i] = v`, `list(sl)`,
 * `sl.count(v)`, `sl.index(v)` on mpx_obj values (#15, #17, SHMEM-04..06).
 *
 * A thin layer over the item interface of shm_list.c: each value is
 * turned into an mpx_sl_item that borrows the value's text or bytes, and
 * each item read back becomes a new value. Nothing here touches the
 * block's layout.
 */
#include "mpx/shm.h"
#include "mpx/obj.h"
#include "mpx.h"

#include <errno.h>
#include <stdlib.h>

/* v as an item (borrowing v's text/bytes): the types CPython's
 * ShareableList takes, exactly (type(item) in _types_mapping: a bytearray,
 * a tuple or a subclass-like instance is refused as in Python). */
static int item_as(const mpx_obj *v, mpx_sl_item *it, int for_compare);

static int item_of(const mpx_obj *v, mpx_sl_item *it)
{
    return item_as(v, it, 0);
}

/* for_compare: the item v equals under Python's == (count, index): a
 * bytearray equals the bytes with its data, and an int beyond 64 bits
 * equals a float that holds it exactly. */
static int item_as(const mpx_obj *v, mpx_sl_item *it, int for_compare)
{
    if (!v)
        return MPX_EINVAL;
    switch (mpx_obj_typeof(v)) {
    case MPX_OBJ_NONE: *it = mpx_sl_none(); return 0;
    case MPX_OBJ_BOOL: {
        int b = 0;
        mpx_obj_get_bool(v, &b);
        *it = mpx_sl_bool(b);
        return 0;
    }
    case MPX_OBJ_INT: {
        int64_t x;
        int rc = mpx_obj_get_int(v, &x);
        if (rc == -ERANGE && for_compare) {
            double d;
            if (mpx_obj_get_float(v, &d))
                return -ERANGE;
            mpx_obj *f = mpx_obj_float(d);
            int same = f ? mpx_obj_equal(v, f) : -ENOMEM;
            mpx_obj_decref(f);
            if (same < 0)
                return same;
            if (!same)
                return -ERANGE;
            *it = mpx_sl_float(d);
            return 0;
        }
        if (rc) /* struct.error: 'q' format requires -2**63 <= number < 2**63 */
            return rc;
        *it = mpx_sl_int(x);
        return 0;
    }
    case MPX_OBJ_FLOAT: {
        double d = 0;
        mpx_obj_get_float(v, &d);
        *it = mpx_sl_float(d);
        return 0;
    }
    case MPX_OBJ_STR: {
        const char *s;
        size_t n;
        int rc = mpx_obj_get_str(v, &s, &n);
        if (rc)
            return rc;
        *it = mpx_sl_strn(s, n);
        return 0;
    }
    case MPX_OBJ_BYTEARRAY:
        if (!for_compare)
            return MPX_ETYPE;
        /* fall through */
    case MPX_OBJ_BYTES: {
        const void *p;
        size_t n;
        int rc = mpx_obj_get_bytes(v, &p, &n);
        if (rc)
            return rc;
        *it = mpx_sl_bytes(p, n);
        return 0;
    }
    default: return MPX_ETYPE;
    }
}

static mpx_obj *obj_of(const mpx_sl_item *it)
{
    switch (it->type) {
    case MPX_SL_INT: return mpx_obj_int(it->i);
    case MPX_SL_FLOAT: return mpx_obj_float(it->f);
    case MPX_SL_BOOL: return mpx_obj_bool((int)it->i);
    case MPX_SL_STR: return mpx_obj_strn(it->p, it->len);
    case MPX_SL_BYTES: return mpx_obj_bytes(it->p, it->len);
    case MPX_SL_NONE: return mpx_obj_none();
    default: return NULL;
    }
}

int mpx_shareable_list_open_obj(mpx_shareable_list **out, const mpx_obj *seq, const char *name,
                                const mpx_shm_opts *opts)
{
    if (!out)
        return MPX_EINVAL;
    *out = NULL;
    if (!seq)
        return mpx_shareable_list_open(out, NULL, 0, name, opts);
    mpx_obj_type t = mpx_obj_typeof(seq);
    if (t != MPX_OBJ_LIST && t != MPX_OBJ_TUPLE)
        return MPX_ETYPE;
    int64_t n = mpx_obj_len(seq);
    if (n < 0)
        return (int)n;
    mpx_sl_item one, *items = n > 1 ? calloc((size_t)n, sizeof *items) : &one;
    if (!items)
        return -ENOMEM;
    int rc = 0;
    for (int64_t i = 0; i < n && !rc; i++)
        rc = item_of(mpx_obj_item(seq, i), &items[i]);
    if (!rc) {
        static const mpx_sl_item none_items[1];
        rc = mpx_shareable_list_open(out, n ? items : none_items, (size_t)n, name, opts);
    }
    if (items != &one)
        free(items);
    return rc;
}

int mpx_shareable_list_get_obj(const mpx_shareable_list *l, int64_t index, mpx_obj **out)
{
    if (!out)
        return MPX_EINVAL;
    *out = NULL;
    mpx_sl_item it = {0};
    int rc = mpx_shareable_list_get(l, index, &it);
    if (rc)
        return rc;
    mpx_obj *v = obj_of(&it);
    mpx_sl_item_clear(&it);
    if (!v)
        return -ENOMEM;
    *out = v;
    return 0;
}

int mpx_shareable_list_set_obj(mpx_shareable_list *l, int64_t index, const mpx_obj *value)
{
    mpx_sl_item it;
    int rc = item_of(value, &it);
    return rc ? rc : mpx_shareable_list_set(l, index, &it);
}

int mpx_shareable_list_to_obj(const mpx_shareable_list *l, mpx_obj **out)
{
    if (!out)
        return MPX_EINVAL;
    *out = NULL;
    if (!l)
        return MPX_EINVAL;
    size_t n = mpx_shareable_list_len(l);
    mpx_obj *list = mpx_obj_list();
    if (!list)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        mpx_obj *v;
        int rc = mpx_shareable_list_get_obj(l, (int64_t)i, &v);
        if (!rc)
            rc = mpx_obj_list_append_new(list, v);
        if (rc) {
            mpx_obj_decref(list);
            return rc;
        }
    }
    *out = list;
    return 0;
}

int64_t mpx_shareable_list_count_obj(const mpx_shareable_list *l, const mpx_obj *value)
{
    mpx_sl_item it;
    int rc = item_as(value, &it, 1);
    /* a value of a type no item can have is in the list zero times, as
     * Python's count of such a value gives 0 */
    if (rc == MPX_ETYPE || rc == -ERANGE)
        return l ? 0 : MPX_EINVAL;
    return rc ? rc : mpx_shareable_list_count(l, &it);
}

int64_t mpx_shareable_list_index_obj(const mpx_shareable_list *l, const mpx_obj *value)
{
    mpx_sl_item it;
    int rc = item_as(value, &it, 1);
    if (rc == MPX_ETYPE || rc == -ERANGE)
        return l ? -ENOENT : MPX_EINVAL;
    return rc ? rc : mpx_shareable_list_index(l, &it);
}
