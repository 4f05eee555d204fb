/*
 * obj_dict.c - dict, set and frozenset (include/mpx/obj.h).
 *
 * One table serves all three, laid out like CPython's compact dict:
 * entries (hash, key, value) in insertion order, and once there are more
 * than MPX__TABLE_SMALL of them an index of uint32 positions with open
 * addressing and CPython's perturbed probing (load factor at most 2/3).
 * Small tables are scanned, hash first. Deleted entries stay as holes
 * until the next growth compacts them, so iteration order is insertion
 * order, as in Python 3.7+. Key identity follows Python: equal numbers
 * are one key (1, 1.0, True), NaN is a key only to itself (by identity),
 * instances by identity.
 */
#include "core/obj_internal.h"

#include <stdio.h>

#define IX_EMPTY UINT32_MAX
#define IX_DUMMY (UINT32_MAX - 1)
#define TABLE_MAX ((size_t)UINT32_MAX - 2)

mpx_obj *mpx__v_dict_new(int kind)
{
    mpx__vdict *d = mpx__v_alloc(sizeof *d);
    if (!d)
        return NULL;
    d->c.h = (mpx_obj){1, (uint8_t)kind, 0, 0};
    d->c.nparents = 0;
    d->c.depth = 0;
    d->c.gc_refs = 0;
    d->c.gc_next = NULL;
    memset(&d->t, 0, sizeof d->t);
    d->hash = 0;
    return MPX__V(d);
}

MPX_API mpx_obj *mpx_obj_dict(void)
{
    return mpx__v_dict_new(MPX__K_DICT);
}

MPX_API mpx_obj *mpx_obj_set(void)
{
    return mpx__v_dict_new(MPX__K_SET);
}

MPX_API mpx_obj *mpx_obj_frozenset(void)
{
    return mpx__v_dict_new(MPX__K_FROZENSET);
}

void mpx__table_free(mpx__vtable *t)
{
    if (t->index)
        mpx__v_arr_free(t->index, (t->mask + 1) * sizeof *t->index);
    mpx__v_arr_free(t->e, t->cap * sizeof *t->e);
    memset(t, 0, sizeof *t);
}

/* ---- lookup ------------------------------------------------------------- */

static int entry_matches(const mpx__ventry *e, const mpx_obj *key, uint64_t hash)
{
    if (e->key == key)
        return 1;
    if (e->hash != hash)
        return 0;
    return mpx__v_key_eq(e->key, key, 0);
}

/* Find key: 1 and *out (entry), 0 absent (*slot: the index slot where it
 * would go, when there is an index), < 0 error. */
static int find(const mpx__vtable *t, const mpx_obj *key, uint64_t hash, mpx__ventry **out,
                size_t *slot)
{
    if (!t->index) {
        for (size_t i = 0; i < t->n; i++) {
            const mpx__ventry *e = &t->e[i];
            if (!e->key)
                continue;
            int r = entry_matches(e, key, hash);
            if (r) {
                if (r > 0)
                    *out = (mpx__ventry *)e;
                return r;
            }
        }
        return 0;
    }
    size_t mask = t->mask, i = (size_t)hash & mask, free_slot = SIZE_MAX;
    uint64_t perturb = hash;
    for (;;) {
        uint32_t ix = t->index[i];
        if (ix == IX_EMPTY) {
            if (slot)
                *slot = free_slot != SIZE_MAX ? free_slot : i;
            return 0;
        }
        if (ix == IX_DUMMY) {
            if (free_slot == SIZE_MAX)
                free_slot = i;
        } else {
            const mpx__ventry *e = &t->e[ix];
            int r = entry_matches(e, key, hash);
            if (r) {
                if (r > 0)
                    *out = (mpx__ventry *)e;
                return r;
            }
        }
        perturb >>= 5;
        i = (i * 5 + (size_t)perturb + 1) & mask;
    }
}

int mpx__table_lookup(const mpx__vtable *t, const mpx_obj *key, uint64_t hash, mpx__ventry **out)
{
    *out = NULL;
    return find(t, key, hash, out, NULL);
}

/* ---- growth ------------------------------------------------------------- */

static int build_index(mpx__vtable *t, size_t cap)
{
    size_t slots = 16;
    while (slots < cap + cap / 2 + 1)
        slots <<= 1;
    uint32_t *ix = mpx__v_arr_realloc(NULL, 0, slots * sizeof *ix);
    if (!ix)
        return -ENOMEM;
    memset(ix, 0xff, slots * sizeof *ix);
    if (t->index)
        mpx__v_arr_free(t->index, (t->mask + 1) * sizeof *t->index);
    t->index = ix;
    t->mask = slots - 1;
    for (size_t k = 0; k < t->n; k++) {
        size_t i = (size_t)t->e[k].hash & t->mask;
        uint64_t perturb = t->e[k].hash;
        while (ix[i] != IX_EMPTY) {
            perturb >>= 5;
            i = (i * 5 + (size_t)perturb + 1) & t->mask;
        }
        ix[i] = (uint32_t)k;
    }
    return 0;
}

/* Room for extra more entries (compacting holes first). */
int mpx__table_reserve(mpx__vtable *t, size_t extra)
{
    if (extra <= t->cap - t->n)
        return 0;
    if (extra > TABLE_MAX - t->used)
        return -ENOMEM;
    if (t->used < t->n) { /* squeeze out deleted entries */
        size_t w = 0;
        for (size_t r = 0; r < t->n; r++)
            if (t->e[r].key)
                t->e[w++] = t->e[r];
        t->n = w;
        if (extra <= t->cap - t->n) {
            if (t->index)
                return build_index(t, t->cap);
            return 0;
        }
    }
    size_t need = t->n + extra;
    size_t cap = t->cap ? t->cap * 2 : 4;
    if (cap < need)
        cap = need;
    if (cap > TABLE_MAX)
        cap = TABLE_MAX;
    mpx__ventry *e = mpx__v_arr_realloc(t->e, t->cap * sizeof *e, cap * sizeof *e);
    if (!e)
        return -ENOMEM;
    t->e = e;
    t->cap = cap;
    if (cap > MPX__TABLE_SMALL || t->index)
        return build_index(t, cap);
    return 0;
}

/* Steals key and value (value NULL for sets). */
int mpx__table_insert(mpx__vtable *t, mpx_obj *key, uint64_t hash, mpx_obj *value, int is_set,
                      mpx_obj *owner, int fast_link)
{
    mpx__ventry *e = NULL;
    size_t slot = 0;
    int r = find(t, key, hash, &e, &slot);
    if (r < 0) {
        mpx_obj_decref(key);
        mpx_obj_decref(value);
        return r;
    }
    if (r > 0) {
        mpx_obj_decref(key); /* the old key stays, as in Python */
        if (!is_set) {
            mpx_obj *old = e->value;
            e->value = value;
            if (fast_link == 2)
                mpx__gc_link_local(value);
            else if (fast_link)
                mpx__gc_link_fast(value);
            else
                mpx__gc_link(owner, value);
            mpx__gc_unlink(old);
        }
        return 0;
    }
    if (t->n == t->cap) {
        int rc = mpx__table_reserve(t, 1);
        if (rc) {
            mpx_obj_decref(key);
            mpx_obj_decref(value);
            return rc;
        }
        if (t->index) { /* the index was rebuilt: find the slot again */
            r = find(t, key, hash, &e, &slot);
            (void)r;
        }
    }
    size_t k = t->n++;
    t->e[k].hash = hash;
    t->e[k].key = key;
    t->e[k].value = value;
    t->used++;
    if (t->index)
        t->index[slot] = (uint32_t)k;
    if (fast_link == 2) {
        mpx__gc_link_local(key);
        if (value)
            mpx__gc_link_local(value);
    } else if (fast_link) {
        mpx__gc_link_fast(key);
        if (value)
            mpx__gc_link_fast(value);
    } else {
        mpx__gc_link(owner, key);
        if (value)
            mpx__gc_link(owner, value);
    }
    return 0;
}

/* Remove the entry e: the table's references are returned in *key and
 * *value (the caller releases them). */
static void table_remove(mpx__vtable *t, mpx__ventry *e, mpx_obj **key, mpx_obj **value)
{
    size_t k = (size_t)(e - t->e);
    if (t->index) {
        size_t i = (size_t)e->hash & t->mask;
        uint64_t perturb = e->hash;
        while (t->index[i] != k) {
            perturb >>= 5;
            i = (i * 5 + (size_t)perturb + 1) & t->mask;
        }
        t->index[i] = IX_DUMMY;
    }
    *key = e->key;
    *value = e->value;
    e->key = NULL;
    e->value = NULL;
    t->used--;
    if (t->used == 0) { /* an emptied table starts over */
        t->n = 0;
        if (t->index)
            memset(t->index, 0xff, (t->mask + 1) * sizeof *t->index);
    }
}

/* ---- dicts ------------------------------------------------------------------ */

static int dict_hash(const mpx_obj *key, uint64_t *h)
{
    if (!key)
        return MPX_EINVAL;
    if (key->kind == MPX__K_STR && (mpx__v_flags(key) & MPX__F_HASHED)) {
        *h = ((const mpx__vstr *)key)->hash;
        return 0;
    }
    return mpx__v_hash(key, h, 0);
}

MPX_API int mpx_obj_dict_lookup(const mpx_obj *d, const mpx_obj *key, mpx_obj **value)
{
    if (!d || !key)
        return MPX_EINVAL;
    if (d->kind != MPX__K_DICT)
        return MPX_ETYPE;
    uint64_t h;
    int rc = dict_hash(key, &h);
    if (rc)
        return rc;
    mpx__ventry *e;
    rc = mpx__table_lookup(&((const mpx__vdict *)d)->t, key, h, &e);
    if (rc > 0 && value)
        *value = e->value;
    return rc;
}

MPX_API mpx_obj *mpx_obj_dict_get(const mpx_obj *d, const mpx_obj *key)
{
    mpx_obj *v = NULL;
    return mpx_obj_dict_lookup(d, key, &v) == 1 ? v : NULL;
}

/* A str key given as text: no value is made for the lookup. */
static mpx__ventry *find_text(const mpx__vtable *t, const char *s, size_t len)
{
    uint64_t h = mpx__siphash13(s, len);
    if (h == UINT64_MAX)
        h = UINT64_MAX - 1; /* as mpx__v_hash maps -1 */
    if (!t->index) {
        for (size_t i = 0; i < t->n; i++) {
            const mpx__ventry *e = &t->e[i];
            if (e->key && e->hash == h && e->key->kind == MPX__K_STR &&
                ((const mpx__vstr *)e->key)->len == len && !memcmp(((const mpx__vstr *)e->key)->data, s, len))
                return (mpx__ventry *)e;
        }
        return NULL;
    }
    size_t i = (size_t)h & t->mask;
    uint64_t perturb = h;
    for (;;) {
        uint32_t ix = t->index[i];
        if (ix == IX_EMPTY)
            return NULL;
        if (ix != IX_DUMMY) {
            const mpx__ventry *e = &t->e[ix];
            if (e->hash == h && e->key->kind == MPX__K_STR && ((const mpx__vstr *)e->key)->len == len &&
                !memcmp(((const mpx__vstr *)e->key)->data, s, len))
                return (mpx__ventry *)e;
        }
        perturb >>= 5;
        i = (i * 5 + (size_t)perturb + 1) & t->mask;
    }
}

MPX_API mpx_obj *mpx_obj_dict_get_s(const mpx_obj *d, const char *key)
{
    if (!d || !key || d->kind != MPX__K_DICT)
        return NULL;
    mpx__ventry *e = find_text(&((const mpx__vdict *)d)->t, key, strlen(key));
    return e ? e->value : NULL;
}

MPX_API int mpx_obj_dict_set_new(mpx_obj *d, mpx_obj *key, mpx_obj *value)
{
    int rc = 0;
    if (!key || !value)
        rc = -ENOMEM;
    else if (!d)
        rc = MPX_EINVAL;
    else if (d->kind != MPX__K_DICT)
        rc = MPX_ETYPE;
    uint64_t h = 0;
    if (!rc)
        rc = dict_hash(key, &h);
    if (rc) {
        mpx_obj_decref(key);
        mpx_obj_decref(value);
        return rc;
    }
    return mpx__table_insert(&((mpx__vdict *)d)->t, key, h, value, 0, d, 0);
}

MPX_API int mpx_obj_dict_set(mpx_obj *d, mpx_obj *key, mpx_obj *value)
{
    if (!key || !value)
        return MPX_EINVAL;
    return mpx_obj_dict_set_new(d, mpx__v_incref(key), mpx__v_incref(value));
}

MPX_API int mpx_obj_dict_set_s_new(mpx_obj *d, const char *key, mpx_obj *value)
{
    if (!key) {
        mpx_obj_decref(value);
        return MPX_EINVAL;
    }
    mpx_obj *k = mpx_obj_str(key);
    if (!k && value) {
        mpx_obj_decref(value);
        return mpx_obj_utf8_check(key, strlen(key), NULL) ? MPX_EINVAL : -ENOMEM;
    }
    return mpx_obj_dict_set_new(d, k, value);
}

MPX_API int mpx_obj_dict_set_s(mpx_obj *d, const char *key, mpx_obj *value)
{
    if (!value)
        return MPX_EINVAL;
    return mpx_obj_dict_set_s_new(d, key, mpx__v_incref(value));
}

static void release_pair(mpx_obj *k, mpx_obj *v)
{
    mpx__gc_unlink(k);
    if (v)
        mpx__gc_unlink(v);
}

MPX_API int mpx_obj_dict_del(mpx_obj *d, const mpx_obj *key)
{
    if (!d || !key)
        return MPX_EINVAL;
    if (d->kind != MPX__K_DICT)
        return MPX_ETYPE;
    uint64_t h;
    int rc = dict_hash(key, &h);
    if (rc)
        return rc;
    mpx__ventry *e;
    rc = mpx__table_lookup(&((mpx__vdict *)d)->t, key, h, &e);
    if (rc <= 0)
        return rc ? rc : MPX_EKEY;
    mpx_obj *k, *v;
    table_remove(&((mpx__vdict *)d)->t, e, &k, &v);
    release_pair(k, v);
    return 0;
}

MPX_API int mpx_obj_dict_del_s(mpx_obj *d, const char *key)
{
    if (!d || !key)
        return MPX_EINVAL;
    if (d->kind != MPX__K_DICT)
        return MPX_ETYPE;
    mpx__ventry *e = find_text(&((mpx__vdict *)d)->t, key, strlen(key));
    if (!e)
        return MPX_EKEY;
    mpx_obj *k, *v;
    table_remove(&((mpx__vdict *)d)->t, e, &k, &v);
    release_pair(k, v);
    return 0;
}

MPX_API int mpx_obj_dict_update(mpx_obj *d, const mpx_obj *other)
{
    if (!d || !other)
        return MPX_EINVAL;
    if (d->kind != MPX__K_DICT || other->kind != MPX__K_DICT)
        return MPX_ETYPE;
    if (d == other)
        return 0;
    const mpx__vtable *t = &((const mpx__vdict *)other)->t;
    int rc = mpx__table_reserve(&((mpx__vdict *)d)->t, t->used);
    if (rc)
        return rc;
    for (size_t i = 0; i < t->n; i++) {
        if (!t->e[i].key)
            continue;
        rc = mpx__table_insert(&((mpx__vdict *)d)->t, mpx__v_incref(t->e[i].key), t->e[i].hash,
                               mpx__v_incref(t->e[i].value), 0, d, 0);
        if (rc)
            return rc;
    }
    return 0;
}

MPX_API int mpx_obj_dict_next(const mpx_obj *d, size_t *pos, mpx_obj **key, mpx_obj **value)
{
    if (!d || !pos)
        return MPX_EINVAL;
    if (d->kind != MPX__K_DICT)
        return MPX_ETYPE;
    const mpx__vtable *t = &((const mpx__vdict *)d)->t;
    while (*pos < t->n) {
        const mpx__ventry *e = &t->e[(*pos)++];
        if (e->key) {
            if (key)
                *key = e->key;
            if (value)
                *value = e->value;
            return 1;
        }
    }
    return 0;
}

/* ---- sets --------------------------------------------------------------------- */

MPX_API int mpx_obj_set_add_new(mpx_obj *s, mpx_obj *item)
{
    int rc = 0;
    if (!item)
        return -ENOMEM;
    if (!s)
        rc = MPX_EINVAL;
    else if (s->kind == MPX__K_FROZENSET) {
        if (__atomic_load_n(&s->refcnt, __ATOMIC_ACQUIRE) != 1 ||
            __atomic_load_n(&((mpx__vcont *)s)->nparents, __ATOMIC_RELAXED) != 0 ||
            (mpx__v_flags(s) & MPX__F_HASHED))
            rc = MPX_ESTATE;
    } else if (s->kind != MPX__K_SET) {
        rc = MPX_ETYPE;
    }
    uint64_t h = 0;
    if (!rc)
        rc = dict_hash(item, &h);
    if (rc) {
        mpx_obj_decref(item);
        return rc;
    }
    return mpx__table_insert(&((mpx__vdict *)s)->t, item, h, NULL, 1, s, 0);
}

MPX_API int mpx_obj_set_add(mpx_obj *s, mpx_obj *item)
{
    if (!item)
        return MPX_EINVAL;
    return mpx_obj_set_add_new(s, mpx__v_incref(item));
}

MPX_API int mpx_obj_set_discard(mpx_obj *s, const mpx_obj *item)
{
    if (!s || !item)
        return MPX_EINVAL;
    if (s->kind != MPX__K_SET)
        return MPX_ETYPE;
    uint64_t h;
    int rc = dict_hash(item, &h);
    if (rc)
        return rc;
    mpx__ventry *e;
    rc = mpx__table_lookup(&((mpx__vdict *)s)->t, item, h, &e);
    if (rc <= 0)
        return rc;
    mpx_obj *k, *v;
    table_remove(&((mpx__vdict *)s)->t, e, &k, &v);
    release_pair(k, v);
    return 1;
}
