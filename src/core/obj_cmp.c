/*
 * obj_cmp.c - equality, ordering, hashing and membership with Python's
 * rules (include/mpx/obj.h): numbers compare by value across bool, int
 * and float (exactly, also for big ints against floats), NaN is unequal
 * to everything (an item identical to the other side's still counts as
 * equal inside containers, as PyObject_RichCompareBool does), numbers
 * hash as in CPython so that equal numbers are one dict key.
 */
#include "core/obj_internal.h"

#include <math.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- SipHash-1-3 (CPython's string hash) under a random key ----------------- */

static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_init(void)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
        k[1] = (uint64_t)ts.tv_sec * 0xC2B2AE3D27D4EB4FULL ^ (uint64_t)(uintptr_t)&k;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND            \
    do {                    \
        v0 += v1;           \
        v1 = ROTL(v1, 13);  \
        v1 ^= v0;           \
        v0 = ROTL(v0, 32);  \
        v2 += v3;           \
        v3 = ROTL(v3, 16);  \
        v3 ^= v2;           \
        v0 += v3;           \
        v3 = ROTL(v3, 21);  \
        v3 ^= v0;           \
        v2 += v1;           \
        v1 = ROTL(v1, 17);  \
        v1 ^= v2;           \
        v2 = ROTL(v2, 32);  \
    } while (0)

uint64_t mpx__siphash13(const void *src, size_t len)
{
    pthread_once(&sip_once, sip_init);
    const unsigned char *in = src;
    uint64_t b = (uint64_t)len << 56;
    uint64_t v0 = sip_k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = sip_k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = sip_k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = sip_k1 ^ 0x7465646279746573ULL;
    while (len >= 8) {
        uint64_t mi;
        memcpy(&mi, in, 8);
        in += 8;
        len -= 8;
        v3 ^= mi;
        SIPROUND;
        v0 ^= mi;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < len; i++)
        t |= (uint64_t)in[i] << (8 * i);
    b |= t;
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    uint64_t h = v0 ^ v1 ^ v2 ^ v3;
    return h == UINT64_MAX ? UINT64_MAX - 1 : h;
}

/* ---- hashing ---------------------------------------------------------------- */

#define HASH_BITS 61
#define HASH_P (((uint64_t)1 << HASH_BITS) - 1)
#define HASH_INF 314159

static uint64_t pointer_hash(const void *p)
{
    uint64_t y = (uint64_t)(uintptr_t)p;
    y = (y >> 4) | (y << 60);
    return y == UINT64_MAX ? UINT64_MAX - 1 : y;
}

/* CPython's _Py_HashDouble. */
uint64_t mpx__double_hash(const mpx_obj *o, double v)
{
    if (!isfinite(v)) {
        if (isinf(v))
            return v > 0 ? HASH_INF : (uint64_t)-HASH_INF;
        return pointer_hash(o);
    }
    int e;
    double m = frexp(v, &e);
    int sign = 1;
    if (m < 0) {
        sign = -1;
        m = -m;
    }
    uint64_t x = 0, y;
    while (m) {
        x = ((x << 28) & HASH_P) | x >> (HASH_BITS - 28);
        m *= 268435456.0;
        e -= 28;
        y = (uint64_t)m;
        m -= (double)y;
        x += y;
        if (x >= HASH_P)
            x -= HASH_P;
    }
    e = e >= 0 ? e % HASH_BITS : HASH_BITS - 1 - ((-1 - e) % HASH_BITS);
    x = ((x << e) & HASH_P) | x >> (HASH_BITS - e);
    x = x * (uint64_t)(int64_t)sign;
    if (x == UINT64_MAX)
        x = UINT64_MAX - 1;
    return x;
}

static uint64_t str_hash(const mpx_obj *o)
{
    const mpx__vstr *s = (const mpx__vstr *)o;
    if (mpx__v_flags(o) & MPX__F_HASHED)
        return __atomic_load_n(&s->hash, __ATOMIC_RELAXED);
    uint64_t h = mpx__siphash13(s->data, s->len);
    __atomic_store_n(&((mpx__vstr *)s)->hash, h, __ATOMIC_RELAXED);
    mpx__v_set_flag((mpx_obj *)o, MPX__F_HASHED);
    return h;
}

static uint64_t bytes_hash(const mpx_obj *o)
{
    const mpx__vbytes *b = (const mpx__vbytes *)o;
    if (mpx__v_flags(o) & MPX__F_HASHED)
        return __atomic_load_n(&b->hash, __ATOMIC_RELAXED);
    uint64_t h = mpx__siphash13(b->data, b->len);
    __atomic_store_n(&((mpx__vbytes *)b)->hash, h, __ATOMIC_RELAXED);
    mpx__v_set_flag((mpx_obj *)o, MPX__F_HASHED);
    return h;
}

#define XXPRIME_1 11400714785074694791ULL
#define XXPRIME_2 14029467366897019727ULL
#define XXPRIME_5 2870177450012600261ULL
#define XXROTATE(x) ((x << 31) | (x >> 33))

static uint64_t shuffle_bits(uint64_t h)
{
    return ((h ^ 89869747ULL) ^ (h << 16)) * 3644798167ULL;
}

int mpx__v_hash(const mpx_obj *o, uint64_t *out, int depth)
{
    if (depth > MPX_OBJ_MAX_DEPTH)
        return MPX_EDEPTH;
    switch (o->kind) {
    case MPX__K_NONE:
        *out = 0xFCA86420ULL; /* CPython 3.12's hash(None) */
        return 0;
    case MPX__K_BOOL:
        *out = o == &mpx__v_true;
        return 0;
    case MPX__K_INT: {
        int64_t v = ((const mpx__vint *)o)->v;
        if (v > -(int64_t)HASH_P && v < (int64_t)HASH_P) {
            *out = v == -1 ? (uint64_t)-2 : (uint64_t)v;
            return 0;
        }
        *out = mpx__int_hash(o);
        return 0;
    }
    case MPX__K_BIG:
        *out = mpx__int_hash(o);
        return 0;
    case MPX__K_FLOAT:
        *out = mpx__double_hash(o, ((const mpx__vfloat *)o)->v);
        return 0;
    case MPX__K_STR:
        *out = str_hash(o);
        return 0;
    case MPX__K_BYTES:
        *out = bytes_hash(o);
        return 0;
    case MPX__K_CLASS: {
        const mpx__vclass *c = (const mpx__vclass *)o;
        *out = str_hash(c->module) * XXPRIME_1 ^ str_hash(c->name);
        if (*out == UINT64_MAX)
            *out -= 1;
        return 0;
    }
    case MPX__K_INSTANCE:
        *out = pointer_hash(o);
        return 0;
    case MPX__K_TUPLE: {
        const mpx__vtuple *t = (const mpx__vtuple *)o;
        if (mpx__v_flags(o) & MPX__F_HASHED) {
            *out = __atomic_load_n(&t->hash, __ATOMIC_RELAXED);
            return 0;
        }
        uint64_t acc = XXPRIME_5;
        for (size_t i = 0; i < t->n; i++) {
            uint64_t lane;
            int rc = mpx__v_hash(t->items[i], &lane, depth + 1);
            if (rc)
                return rc;
            acc += lane * XXPRIME_2;
            acc = XXROTATE(acc);
            acc *= XXPRIME_1;
        }
        acc += t->n ^ (XXPRIME_5 ^ 3527539UL);
        if (acc == UINT64_MAX)
            acc = 1546275796;
        if (!(MPX__FL(o) & MPX__F_IMMORTAL)) {
            __atomic_store_n(&((mpx__vtuple *)t)->hash, acc, __ATOMIC_RELAXED);
            mpx__v_set_flag((mpx_obj *)o, MPX__F_HASHED);
        }
        *out = acc;
        return 0;
    }
    case MPX__K_FROZENSET: {
        const mpx__vdict *d = (const mpx__vdict *)o;
        if (mpx__v_flags(o) & MPX__F_HASHED) {
            *out = __atomic_load_n(&d->hash, __ATOMIC_RELAXED);
            return 0;
        }
        uint64_t h = 0;
        for (size_t i = 0; i < d->t.n; i++)
            if (d->t.e[i].key)
                h ^= shuffle_bits(d->t.e[i].hash);
        h ^= ((uint64_t)d->t.used + 1) * 1927868237ULL;
        h ^= (h >> 11) ^ (h >> 25);
        h = h * 69069U + 907133923ULL;
        if (h == UINT64_MAX)
            h = 590923713ULL;
        __atomic_store_n(&((mpx__vdict *)d)->hash, h, __ATOMIC_RELAXED);
        mpx__v_set_flag((mpx_obj *)o, MPX__F_HASHED);
        *out = h;
        return 0;
    }
    default:
        return MPX_ETYPE; /* list, dict, set, bytearray */
    }
}

MPX_API int mpx_obj_hash(const mpx_obj *v, int64_t *out)
{
    if (!v || !out)
        return MPX_EINVAL;
    uint64_t h;
    int rc = mpx__v_hash(v, &h, 0);
    if (!rc)
        *out = (int64_t)h;
    return rc;
}

/* ---- numbers ------------------------------------------------------------------ */

static int is_num(int k)
{
    return k == MPX__K_BOOL || k == MPX__K_INT || k == MPX__K_BIG || k == MPX__K_FLOAT;
}

static int is_intlike(int k)
{
    return k == MPX__K_BOOL || k == MPX__K_INT || k == MPX__K_BIG;
}

/* -1, 0, 1, or 2 when unordered (NaN). */
static int num_cmp(const mpx_obj *a, const mpx_obj *b)
{
    if (is_intlike(a->kind) && is_intlike(b->kind))
        return mpx__int_cmp(a, b);
    if (a->kind == MPX__K_FLOAT && b->kind == MPX__K_FLOAT) {
        double x = ((const mpx__vfloat *)a)->v, y = ((const mpx__vfloat *)b)->v;
        if (isnan(x) || isnan(y))
            return 2;
        return x < y ? -1 : x > y;
    }
    if (a->kind == MPX__K_FLOAT) {
        double x = ((const mpx__vfloat *)a)->v;
        if (isnan(x))
            return 2;
        return -mpx__int_cmp_double(b, x);
    }
    double y = ((const mpx__vfloat *)b)->v;
    if (isnan(y))
        return 2;
    return mpx__int_cmp_double(a, y);
}

static int bytes_view(const mpx_obj *o, const unsigned char **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (o->kind == MPX__K_BYTES) {
        *p = ((const mpx__vbytes *)o)->data;
        *n = ((const mpx__vbytes *)o)->len;
        return 1;
    }
    if (o->kind == MPX__K_BYTEARRAY) {
        *p = ((const mpx__vbytearray *)o)->data;
        *n = ((const mpx__vbytearray *)o)->len;
        return 1;
    }
    return 0;
}

static int is_setlike(int k)
{
    return k == MPX__K_SET || k == MPX__K_FROZENSET;
}

static int seq_items(const mpx_obj *o, mpx_obj *const **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    if (o->kind == MPX__K_TUPLE) {
        *items = ((const mpx__vtuple *)o)->items;
        *n = ((const mpx__vtuple *)o)->n;
        return 1;
    }
    if (o->kind == MPX__K_LIST) {
        *items = ((const mpx__vlist *)o)->items;
        *n = ((const mpx__vlist *)o)->n;
        return 1;
    }
    return 0;
}

/* Every key of a in table b? (1/0/<0) */
static int table_subset(const mpx__vtable *a, const mpx__vtable *b)
{
    for (size_t i = 0; i < a->n; i++) {
        if (!a->e[i].key)
            continue;
        mpx__ventry *e;
        int r = mpx__table_lookup(b, a->e[i].key, a->e[i].hash, &e);
        if (r <= 0)
            return r;
    }
    return 1;
}

static int item_eq(const mpx_obj *a, const mpx_obj *b, int depth)
{
    if (a == b)
        return 1;
    return mpx__v_equal(a, b, depth);
}

static int opt_eq(const mpx_obj *a, const mpx_obj *b, int depth)
{
    if (!a || !b)
        return a == b;
    return item_eq(a, b, depth);
}

int mpx__v_equal(const mpx_obj *a, const mpx_obj *b, int depth)
{
    if (depth > MPX_OBJ_MAX_DEPTH)
        return MPX_EDEPTH;
    int ka = a->kind, kb = b->kind;
    if (is_num(ka) && is_num(kb))
        return num_cmp(a, b) == 0;
    const unsigned char *pa, *pb;
    size_t na, nb;
    if (bytes_view(a, &pa, &na) && bytes_view(b, &pb, &nb))
        return na == nb && (na == 0 || !memcmp(pa, pb, na));
    if (is_setlike(ka) && is_setlike(kb)) {
        const mpx__vtable *ta = &((const mpx__vdict *)a)->t, *tb = &((const mpx__vdict *)b)->t;
        if (ta->used != tb->used)
            return 0;
        return table_subset(ta, tb);
    }
    if (ka != kb)
        return 0;
    switch (ka) {
    case MPX__K_NONE:
        return 1;
    case MPX__K_STR: {
        const mpx__vstr *x = (const mpx__vstr *)a, *y = (const mpx__vstr *)b;
        return x->len == y->len && !memcmp(x->data, y->data, x->len);
    }
    case MPX__K_CLASS: {
        const mpx__vclass *x = (const mpx__vclass *)a, *y = (const mpx__vclass *)b;
        return mpx__v_equal(x->module, y->module, depth) && mpx__v_equal(x->name, y->name, depth);
    }
    case MPX__K_TUPLE:
    case MPX__K_LIST: {
        mpx_obj *const *ia, *const *ib;
        seq_items(a, &ia, &na);
        seq_items(b, &ib, &nb);
        if (na != nb)
            return 0;
        for (size_t i = 0; i < na; i++) {
            int r = item_eq(ia[i], ib[i], depth + 1);
            if (r <= 0)
                return r;
        }
        return 1;
    }
    case MPX__K_DICT: {
        const mpx__vtable *ta = &((const mpx__vdict *)a)->t, *tb = &((const mpx__vdict *)b)->t;
        if (ta->used != tb->used)
            return 0;
        for (size_t i = 0; i < ta->n; i++) {
            if (!ta->e[i].key)
                continue;
            mpx__ventry *e;
            int r = mpx__table_lookup(tb, ta->e[i].key, ta->e[i].hash, &e);
            if (r <= 0)
                return r;
            r = item_eq(ta->e[i].value, e->value, depth + 1);
            if (r <= 0)
                return r;
        }
        return 1;
    }
    case MPX__K_INSTANCE: {
        const mpx__vinst *x = (const mpx__vinst *)a, *y = (const mpx__vinst *)b;
        if (x->how != y->how)
            return 0;
        const mpx_obj *px[] = {x->callable, x->args, x->kwargs, x->state, x->listitems, x->dictitems};
        const mpx_obj *py[] = {y->callable, y->args, y->kwargs, y->state, y->listitems, y->dictitems};
        for (int i = 0; i < 6; i++) {
            int r = opt_eq(px[i], py[i], depth + 1);
            if (r <= 0)
                return r;
        }
        return 1;
    }
    default:
        return 0;
    }
}

int mpx__v_key_eq(const mpx_obj *a, const mpx_obj *b, int depth)
{
    if (a == b)
        return 1;
    if (depth > MPX_OBJ_MAX_DEPTH)
        return MPX_EDEPTH;
    if (a->kind == MPX__K_INSTANCE || b->kind == MPX__K_INSTANCE)
        return 0; /* keyed by identity, as Python's default __eq__/__hash__ */
    if (a->kind == MPX__K_TUPLE && b->kind == MPX__K_TUPLE) {
        const mpx__vtuple *x = (const mpx__vtuple *)a, *y = (const mpx__vtuple *)b;
        if (x->n != y->n)
            return 0;
        for (size_t i = 0; i < x->n; i++) {
            int r = mpx__v_key_eq(x->items[i], y->items[i], depth + 1);
            if (r <= 0)
                return r;
        }
        return 1;
    }
    if (a->kind == MPX__K_FROZENSET && b->kind == MPX__K_FROZENSET) {
        const mpx__vtable *ta = &((const mpx__vdict *)a)->t, *tb = &((const mpx__vdict *)b)->t;
        return ta->used == tb->used ? table_subset(ta, tb) : 0;
    }
    return mpx__v_equal(a, b, depth);
}

MPX_API int mpx_obj_equal(const mpx_obj *a, const mpx_obj *b)
{
    if (!a || !b)
        return MPX_EINVAL;
    return mpx__v_equal(a, b, 0);
}

/* ---- ordering ------------------------------------------------------------------- */

static int apply_op(int c, int op)
{
    switch (op) {
    case MPX_OBJ_LT:
        return c < 0;
    case MPX_OBJ_LE:
        return c <= 0;
    case MPX_OBJ_EQ:
        return c == 0;
    case MPX_OBJ_NE:
        return c != 0;
    case MPX_OBJ_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

static int compare(const mpx_obj *a, const mpx_obj *b, int op, int depth)
{
    if (depth > MPX_OBJ_MAX_DEPTH)
        return MPX_EDEPTH;
    if (op == MPX_OBJ_EQ || op == MPX_OBJ_NE) {
        int r = mpx__v_equal(a, b, depth);
        if (r < 0)
            return r;
        return op == MPX_OBJ_EQ ? r : !r;
    }
    int ka = a->kind, kb = b->kind;
    if (is_num(ka) && is_num(kb)) {
        int c = num_cmp(a, b);
        return c == 2 ? 0 : apply_op(c, op);
    }
    if (ka == MPX__K_STR && kb == MPX__K_STR) {
        const mpx__vstr *x = (const mpx__vstr *)a, *y = (const mpx__vstr *)b;
        size_t n = x->len < y->len ? x->len : y->len;
        int c = memcmp(x->data, y->data, n);
        if (!c)
            c = x->len < y->len ? -1 : x->len > y->len;
        return apply_op(c, op);
    }
    const unsigned char *pa, *pb;
    size_t na, nb;
    if (bytes_view(a, &pa, &na) && bytes_view(b, &pb, &nb)) {
        size_t n = na < nb ? na : nb;
        int c = n ? memcmp(pa, pb, n) : 0;
        if (!c)
            c = na < nb ? -1 : na > nb;
        return apply_op(c, op);
    }
    if (ka == kb && (ka == MPX__K_TUPLE || ka == MPX__K_LIST)) {
        mpx_obj *const *ia, *const *ib;
        seq_items(a, &ia, &na);
        seq_items(b, &ib, &nb);
        size_t n = na < nb ? na : nb;
        for (size_t i = 0; i < n; i++) {
            int r = item_eq(ia[i], ib[i], depth + 1);
            if (r < 0)
                return r;
            if (!r)
                return compare(ia[i], ib[i], op, depth + 1);
        }
        return apply_op(na < nb ? -1 : na > nb, op);
    }
    if (is_setlike(ka) && is_setlike(kb)) {
        const mpx__vtable *ta = &((const mpx__vdict *)a)->t, *tb = &((const mpx__vdict *)b)->t;
        int r;
        switch (op) {
        case MPX_OBJ_LT:
            return ta->used < tb->used ? table_subset(ta, tb) : 0;
        case MPX_OBJ_LE:
            return ta->used <= tb->used ? table_subset(ta, tb) : 0;
        case MPX_OBJ_GT:
            return ta->used > tb->used ? table_subset(tb, ta) : 0;
        default:
            r = ta->used >= tb->used ? table_subset(tb, ta) : 0;
            return r;
        }
    }
    return MPX_ETYPE;
}

MPX_API int mpx_obj_compare(const mpx_obj *a, const mpx_obj *b, int op)
{
    if (!a || !b || op < MPX_OBJ_LT || op > MPX_OBJ_GE)
        return MPX_EINVAL;
    return compare(a, b, op, 0);
}

/* ---- membership --------------------------------------------------------------- */

MPX_API int mpx_obj_contains(const mpx_obj *v, const mpx_obj *item)
{
    if (!v || !item)
        return MPX_EINVAL;
    switch (v->kind) {
    case MPX__K_DICT:
    case MPX__K_SET:
    case MPX__K_FROZENSET: {
        uint64_t h;
        int rc = mpx__v_hash(item, &h, 0);
        if (rc)
            return rc;
        mpx__ventry *e;
        return mpx__table_lookup(&((const mpx__vdict *)v)->t, item, h, &e);
    }
    case MPX__K_TUPLE:
    case MPX__K_LIST: {
        mpx_obj *const *items;
        size_t n;
        seq_items(v, &items, &n);
        for (size_t i = 0; i < n; i++) {
            int r = item_eq(items[i], item, 1);
            if (r)
                return r;
        }
        return 0;
    }
    case MPX__K_STR: {
        if (item->kind != MPX__K_STR)
            return MPX_ETYPE;
        const mpx__vstr *s = (const mpx__vstr *)v, *t = (const mpx__vstr *)item;
        return t->len == 0 || memmem(s->data, s->len, t->data, t->len) != NULL;
    }
    case MPX__K_BYTES:
    case MPX__K_BYTEARRAY: {
        const unsigned char *p, *q;
        size_t n, m;
        bytes_view(v, &p, &n);
        if (is_intlike(item->kind)) {
            int64_t b;
            if (mpx_obj_get_int(item, &b) || b < 0 || b > 255)
                return MPX_EINVAL; /* ValueError: byte must be in range(0, 256) */
            return n && memchr(p, (int)b, n) != NULL;
        }
        if (!bytes_view(item, &q, &m))
            return MPX_ETYPE;
        return m == 0 || (n && memmem(p, n, q, m) != NULL);
    }
    default:
        return MPX_ETYPE;
    }
}

/* ---- structural identity (round-trip checks) ------------------------------------ *
 * Containers compared once per pair (a set of pairs already seen), so
 * shared sub-values and cycles cost linear time, not exponential. */

typedef struct pairset {
    const void **k; /* 2 per slot */
    size_t mask, n;
    int failed;
} pairset;

/* 1 if (a, b) was already there, else inserts it. */
static int pair_seen(pairset *s, const void *a, const void *b)
{
    if (s->failed)
        return 1;
    if (!s->k || (s->n + 1) * 2 > s->mask + 1) {
        size_t cap = s->k ? (s->mask + 1) * 2 : 256;
        const void **k = calloc(cap * 2, sizeof *k);
        if (!k) {
            s->failed = 1;
            return 1;
        }
        for (size_t i = 0; s->k && i <= s->mask; i++) {
            if (!s->k[2 * i])
                continue;
            size_t j = ((uintptr_t)s->k[2 * i] * 31 + (uintptr_t)s->k[2 * i + 1]) * 0x9E3779B97F4A7C15ULL >> 20 & (cap - 1);
            while (k[2 * j])
                j = (j + 1) & (cap - 1);
            k[2 * j] = s->k[2 * i];
            k[2 * j + 1] = s->k[2 * i + 1];
        }
        free(s->k);
        s->k = k;
        s->mask = cap - 1;
    }
    size_t j = ((uintptr_t)a * 31 + (uintptr_t)b) * 0x9E3779B97F4A7C15ULL >> 20 & s->mask;
    while (s->k[2 * j]) {
        if (s->k[2 * j] == a && s->k[2 * j + 1] == b)
            return 1;
        j = (j + 1) & s->mask;
    }
    s->k[2 * j] = a;
    s->k[2 * j + 1] = b;
    s->n++;
    return 0;
}

static int identical(const mpx_obj *a, const mpx_obj *b, int depth, pairset *seen)
{
    if (a == b || depth > MPX_OBJ_MAX_DEPTH)
        return 1; /* deeper parts are taken as identical */
    if (a->kind != b->kind)
        return 0;
    if (a->kind >= MPX__K_TUPLE && pair_seen(seen, a, b))
        return 1; /* compared already, or being compared (a cycle) */
    switch (a->kind) {
    case MPX__K_FLOAT:
        return !memcmp(&((const mpx__vfloat *)a)->v, &((const mpx__vfloat *)b)->v, sizeof(double)) ||
               (isnan(((const mpx__vfloat *)a)->v) && isnan(((const mpx__vfloat *)b)->v));
    case MPX__K_BOOL:
    case MPX__K_NONE:
        return a == b;
    case MPX__K_INT:
    case MPX__K_BIG:
    case MPX__K_STR:
    case MPX__K_BYTES:
    case MPX__K_BYTEARRAY:
    case MPX__K_CLASS:
        return mpx__v_equal(a, b, 0) == 1;
    case MPX__K_TUPLE:
    case MPX__K_LIST: {
        mpx_obj *const *ia, *const *ib;
        size_t na, nb;
        seq_items(a, &ia, &na);
        seq_items(b, &ib, &nb);
        if (na != nb)
            return 0;
        for (size_t i = 0; i < na; i++)
            if (!identical(ia[i], ib[i], depth + 1, seen))
                return 0;
        return 1;
    }
    case MPX__K_DICT:
    case MPX__K_SET:
    case MPX__K_FROZENSET: {
        const mpx__vtable *ta = &((const mpx__vdict *)a)->t, *tb = &((const mpx__vdict *)b)->t;
        if (ta->used != tb->used)
            return 0;
        size_t i = 0, j = 0;
        for (;;) {
            while (i < ta->n && !ta->e[i].key)
                i++;
            while (j < tb->n && !tb->e[j].key)
                j++;
            if (i >= ta->n || j >= tb->n)
                return i >= ta->n && j >= tb->n;
            if (!identical(ta->e[i].key, tb->e[j].key, depth + 1, seen))
                return 0;
            if (ta->e[i].value && !identical(ta->e[i].value, tb->e[j].value, depth + 1, seen))
                return 0;
            i++;
            j++;
        }
    }
    case MPX__K_INSTANCE: {
        const mpx__vinst *x = (const mpx__vinst *)a, *y = (const mpx__vinst *)b;
        if (x->how != y->how)
            return 0;
        const mpx_obj *px[] = {x->callable, x->args, x->kwargs, x->state, x->listitems, x->dictitems};
        const mpx_obj *py[] = {y->callable, y->args, y->kwargs, y->state, y->listitems, y->dictitems};
        for (int i = 0; i < 6; i++) {
            if (!px[i] || !py[i]) {
                if (px[i] != py[i])
                    return 0;
                continue;
            }
            if (!identical(px[i], py[i], depth + 1, seen))
                return 0;
        }
        return 1;
    }
    default:
        return 0;
    }
}

int mpx__v_identical(const mpx_obj *a, const mpx_obj *b)
{
    pairset seen = {NULL, 0, 0, 0};
    int r = identical(a, b, 0, &seen);
    free(seen.k);
    return r;
}
