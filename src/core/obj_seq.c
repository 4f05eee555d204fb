/* obj_seq.c - tuples and lists (include/mpx/obj.h). */
#include "core/obj_internal.h"

#include <stdio.h>

/* ---- tuples --------------------------------------------------------------- */

mpx_obj *mpx__v_tuple_new(size_t n)
{
    if (n == 0)
        return &mpx__v_empty_tuple.c.h;
    if (n > (SIZE_MAX - sizeof(mpx__vtuple)) / sizeof(mpx_obj *))
        return NULL;
    mpx__vtuple *t = mpx__v_alloc(sizeof *t + n * sizeof(mpx_obj *));
    if (!t)
        return NULL;
    t->c.h = (mpx_obj){1, MPX__K_TUPLE, 0, 0};
    t->c.nparents = 0;
    t->c.depth = 0;
    t->c.gc_refs = 0;
    t->c.gc_next = NULL;
    t->hash = 0;
    t->n = n;
    memset(t->items, 0, n * sizeof(mpx_obj *));
    return MPX__V(t);
}

MPX_API mpx_obj *mpx_obj_tuple(size_t n)
{
    mpx_obj *t = mpx__v_tuple_new(n);
    if (t)
        for (size_t i = 0; i < n; i++)
            ((mpx__vtuple *)t)->items[i] = &mpx__v_none;
    return t;
}

MPX_API mpx_obj *mpx_obj_tuple_pack(size_t n, ...)
{
    mpx_obj *t = mpx__v_tuple_new(n);
    if (!t)
        return NULL;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        mpx_obj *v = va_arg(ap, mpx_obj *);
        if (!v) {
            /* the items set so far are released with the tuple */
            va_end(ap);
            for (size_t k = i; k < n; k++)
                ((mpx__vtuple *)t)->items[k] = &mpx__v_none;
            mpx_obj_decref(t);
            return NULL;
        }
        ((mpx__vtuple *)t)->items[i] = mpx__v_incref(v);
        mpx__gc_link_fast(v); /* a new tuple: nothing can reach it */
    }
    va_end(ap);
    return t;
}

MPX_API int mpx_obj_tuple_set_new(mpx_obj *tuple, size_t i, mpx_obj *item)
{
    if (!item) {
        return -ENOMEM;
    }
    int rc = 0;
    if (!tuple || item == tuple)
        rc = MPX_EINVAL;
    else if (tuple->kind != MPX__K_TUPLE)
        rc = MPX_ETYPE;
    else if ((MPX__FL(tuple) & MPX__F_IMMORTAL) ||
             __atomic_load_n(&tuple->refcnt, __ATOMIC_ACQUIRE) != 1 ||
             __atomic_load_n(&((mpx__vcont *)tuple)->nparents, __ATOMIC_RELAXED) != 0)
        rc = MPX_ESTATE;
    else if (i >= ((mpx__vtuple *)tuple)->n)
        rc = MPX_EINDEX;
    if (rc) {
        mpx_obj_decref(item);
        return rc;
    }
    mpx__vtuple *t = (mpx__vtuple *)tuple;
    mpx_obj *old = t->items[i];
    t->items[i] = item;
    mpx__v_clear_flag(&t->c.h, MPX__F_HASHED);
    mpx__gc_link(tuple, item);
    if (old)
        mpx__gc_unlink(old);
    return 0;
}

/* ---- lists ---------------------------------------------------------------- */

mpx_obj *mpx__v_list_new(size_t cap)
{
    mpx__vlist *l = mpx__v_alloc(sizeof *l);
    if (!l)
        return NULL;
    l->c.h = (mpx_obj){1, MPX__K_LIST, 0, 0};
    l->c.nparents = 0;
    l->c.depth = 0;
    l->c.gc_refs = 0;
    l->c.gc_next = NULL;
    l->n = 0;
    l->cap = 0;
    l->items = NULL;
    if (cap) {
        if (cap > SIZE_MAX / sizeof(mpx_obj *) ||
            !(l->items = mpx__v_arr_realloc(NULL, 0, cap * sizeof(mpx_obj *)))) {
            mpx__v_free(l, sizeof *l);
            return NULL;
        }
        l->cap = cap;
    }
    return MPX__V(l);
}

MPX_API mpx_obj *mpx_obj_list(void)
{
    return mpx__v_list_new(0);
}

int mpx__list_reserve(mpx__vlist *l, size_t extra)
{
    if (extra <= l->cap - l->n)
        return 0;
    if (extra > SIZE_MAX / sizeof(mpx_obj *) - l->n)
        return -ENOMEM;
    size_t need = l->n + extra;
    size_t cap = l->cap + (l->cap >> 1) + 4;
    if (cap < need || cap > SIZE_MAX / sizeof(mpx_obj *))
        cap = need;
    mpx_obj **items = mpx__v_arr_realloc(l->items, l->cap * sizeof *items, cap * sizeof *items);
    if (!items)
        return -ENOMEM;
    l->items = items;
    l->cap = cap;
    return 0;
}

int mpx__list_append_raw(mpx_obj *list, mpx_obj *item)
{
    mpx__vlist *l = (mpx__vlist *)list;
    if (l->n == l->cap && mpx__list_reserve(l, 1))
        return -ENOMEM;
    l->items[l->n++] = item;
    mpx__gc_link_fast(item);
    return 0;
}

static int list_check(mpx_obj *list)
{
    if (!list)
        return MPX_EINVAL;
    return list->kind == MPX__K_LIST ? 0 : MPX_ETYPE;
}

/* Steals item in every case. */
static int list_insert_steal(mpx_obj *list, int64_t i, mpx_obj *item, int append)
{
    if (!item)
        return -ENOMEM;
    int rc = list_check(list);
    if (rc) {
        mpx_obj_decref(item);
        return rc;
    }
    mpx__vlist *l = (mpx__vlist *)list;
    if (mpx__list_reserve(l, 1)) {
        mpx_obj_decref(item);
        return -ENOMEM;
    }
    size_t at = l->n;
    if (!append) {
        int64_t n = (int64_t)l->n;
        if (i < 0)
            i += n;
        if (i < 0)
            i = 0;
        if (i > n)
            i = n;
        at = (size_t)i;
        memmove(l->items + at + 1, l->items + at, (l->n - at) * sizeof(mpx_obj *));
    }
    l->items[at] = item;
    l->n++;
    mpx__gc_link(list, item);
    return 0;
}

MPX_API int mpx_obj_list_append_new(mpx_obj *list, mpx_obj *item)
{
    return list_insert_steal(list, 0, item, 1);
}

MPX_API int mpx_obj_list_append(mpx_obj *list, mpx_obj *item)
{
    if (!item)
        return MPX_EINVAL;
    return list_insert_steal(list, 0, mpx__v_incref(item), 1);
}

MPX_API int mpx_obj_list_insert_new(mpx_obj *list, int64_t i, mpx_obj *item)
{
    return list_insert_steal(list, i, item, 0);
}

MPX_API int mpx_obj_list_insert(mpx_obj *list, int64_t i, mpx_obj *item)
{
    if (!item)
        return MPX_EINVAL;
    return list_insert_steal(list, i, mpx__v_incref(item), 0);
}

MPX_API int mpx_obj_list_set_new(mpx_obj *list, int64_t i, mpx_obj *item)
{
    if (!item)
        return -ENOMEM;
    int rc = list_check(list);
    if (!rc) {
        mpx__vlist *l = (mpx__vlist *)list;
        if (i < 0)
            i += (int64_t)l->n;
        if (i < 0 || (uint64_t)i >= l->n)
            rc = MPX_EINDEX;
    }
    if (rc) {
        mpx_obj_decref(item);
        return rc;
    }
    mpx__vlist *l = (mpx__vlist *)list;
    mpx_obj *old = l->items[i];
    l->items[i] = item;
    mpx__gc_link(list, item);
    mpx__gc_unlink(old);
    return 0;
}

MPX_API int mpx_obj_list_set(mpx_obj *list, int64_t i, mpx_obj *item)
{
    if (!item)
        return MPX_EINVAL;
    return mpx_obj_list_set_new(list, i, mpx__v_incref(item));
}

MPX_API int mpx_obj_list_extend(mpx_obj *list, const mpx_obj *items)
{
    int rc = list_check(list);
    if (rc)
        return rc;
    if (!items)
        return MPX_EINVAL;
    int64_t n = mpx_obj_len(items);
    if (n < 0 || items->kind == MPX__K_STR || items->kind == MPX__K_BYTES ||
        items->kind == MPX__K_BYTEARRAY)
        return MPX_ETYPE;
    if (mpx__list_reserve((mpx__vlist *)list, (size_t)n))
        return -ENOMEM;
    /* list.extend(list) reads the items as they were */
    size_t pos = 0, k = 0;
    mpx_obj *it;
    while (k < (size_t)n && mpx_obj_next(items, &pos, &it) == 1) {
        list_insert_steal(list, 0, mpx__v_incref(it), 1); /* room reserved: cannot fail */
        k++;
    }
    return 0;
}

MPX_API int mpx_obj_list_pop(mpx_obj *list, int64_t i, mpx_obj **out)
{
    int rc = list_check(list);
    if (rc)
        return rc;
    mpx__vlist *l = (mpx__vlist *)list;
    if (i < 0)
        i += (int64_t)l->n;
    if (i < 0 || (uint64_t)i >= l->n)
        return MPX_EINDEX;
    mpx_obj *item = l->items[i];
    memmove(l->items + i, l->items + i + 1, (l->n - (size_t)i - 1) * sizeof(mpx_obj *));
    l->n--;
    if (out) {
        /* the list's reference becomes the caller's */
        if (mpx__v_is_cont(item) && !(MPX__FL(item) & MPX__F_IMMORTAL))
            __atomic_fetch_sub(&((mpx__vcont *)item)->nparents, 1, __ATOMIC_RELAXED);
        *out = item;
    } else {
        mpx__gc_unlink(item);
    }
    return 0;
}
