/*
 * core/obj_internal.h - the layout of mpx_obj values (include/mpx/obj.h),
 * shared by obj*.c and pickle_*.c. Not installed.
 *
 * Naming: the public value type is mpx_obj; its internals use the prefix
 * mpx__v (value) so that they are not confused with mpx__obj, the header
 * of shareable objects (core/object.h), which is unrelated.
 *
 * Every value starts with struct mpx_obj: an atomic reference count, an
 * internal kind (finer than mpx_obj_type: small and big ints differ) and
 * atomic flag bits. Containers (tuple, list, dict, set, frozenset,
 * instance) continue with mpx__vcont: the number of references held by
 * containers (so "held only by containers" is one comparison) and the
 * scratch fields of the cycle collector (obj_gc.c).
 */
#ifndef MPX_CORE_OBJ_INTERNAL_H
#define MPX_CORE_OBJ_INTERNAL_H

#include "core/internal.h"

#include <stdarg.h>
#include <string.h>

/* Internal kinds. */
enum {
    MPX__K_NONE = 0,
    MPX__K_BOOL,
    MPX__K_INT,   /* int64_t */
    MPX__K_BIG,   /* arbitrary precision, never in int64_t range */
    MPX__K_FLOAT,
    MPX__K_STR,
    MPX__K_BYTES,
    MPX__K_BYTEARRAY,
    MPX__K_CLASS,
    /* containers from here on */
    MPX__K_TUPLE,
    MPX__K_LIST,
    MPX__K_DICT,
    MPX__K_SET,
    MPX__K_FROZENSET,
    MPX__K_INSTANCE,
    MPX__K_COUNT
};

/* Flag bits (accessed atomically). */
#define MPX__F_IMMORTAL 0x01 /* static: counts are not kept */
#define MPX__F_CYC 0x02      /* container that may be part of a cycle */
#define MPX__F_PENDING 0x04  /* container queued for a cycle check */
#define MPX__F_HASHED 0x08   /* str/bytes/tuple: hash cached */
#define MPX__F_ASCII 0x10    /* str: every byte < 0x80 */
#define MPX__F_GARBAGE 0x10  /* container: garbage of a collection (being freed) */
/* ASCII and GARBAGE share a bit: ASCII is only set and read on str values,
 * GARBAGE only on tracked containers (obj_gc.c), never on a str. */
#define MPX__F_EXTERN 0x20   /* bytes: data is a malloc'd block owned here */
#define MPX__F_VISIT 0x40    /* collector: in the examined set */
#define MPX__F_ALIVE 0x80    /* collector: reachable from outside */

struct mpx_obj {
    uint32_t refcnt;
    uint8_t kind;
    uint8_t flags;
    uint16_t spare;
};

typedef struct mpx__vint {
    mpx_obj h;
    int64_t v;
} mpx__vint;

typedef struct mpx__vfloat {
    mpx_obj h;
    double v;
} mpx__vfloat;

/* Magnitude in base 2**32 limbs (least significant first), |value| >= 2**63. */
typedef struct mpx__vbig {
    mpx_obj h;
    uint32_t n;
    int32_t neg;
    uint32_t d[];
} mpx__vbig;

typedef struct mpx__vstr {
    mpx_obj h;
    uint64_t hash;
    size_t len; /* bytes */
    size_t ncp; /* code points */
    char data[]; /* len bytes + NUL */
} mpx__vstr;

typedef struct mpx__vbytes {
    mpx_obj h;
    uint64_t hash;
    size_t len;
    const unsigned char *data;
    mpx_obj *base; /* a value whose memory data points into, or NULL */
    unsigned char inl[];
} mpx__vbytes;

typedef struct mpx__vbytearray {
    mpx_obj h;
    size_t len, cap;
    unsigned char *data;
} mpx__vbytearray;

typedef struct mpx__vclass {
    mpx_obj h;
    mpx_obj *module; /* str */
    mpx_obj *name;   /* str */
} mpx__vclass;

typedef struct mpx__vcont {
    mpx_obj h;
    uint32_t nparents; /* atomic: references held by containers */
    uint32_t depth;    /* decoder: nesting depth below (a hint) */
    int64_t gc_refs;   /* collector scratch (under its lock) */
    struct mpx__vcont *gc_next;
} mpx__vcont;

typedef struct mpx__vtuple {
    mpx__vcont c;
    uint64_t hash;
    size_t n;
    mpx_obj *items[];
} mpx__vtuple;

typedef struct mpx__vlist {
    mpx__vcont c;
    size_t n, cap;
    mpx_obj **items;
} mpx__vlist;

typedef struct mpx__ventry {
    uint64_t hash;
    mpx_obj *key; /* NULL: deleted */
    mpx_obj *value;
} mpx__ventry;

/* The table of dicts and sets: entries in insertion order, plus an index
 * (open addressing, uint32 positions into entries) once there are more
 * than MPX__TABLE_SMALL entries; small tables are scanned. */
#define MPX__TABLE_SMALL 8
typedef struct mpx__vtable {
    size_t used; /* live entries */
    size_t n;    /* entries written, deleted ones included */
    size_t cap;  /* entries allocated */
    size_t mask; /* index slots - 1 (index NULL: no index) */
    uint32_t *index;
    mpx__ventry *e;
} mpx__vtable;

typedef struct mpx__vdict {
    mpx__vcont c;
    mpx__vtable t;
    uint64_t hash; /* frozenset: cached */
} mpx__vdict;

typedef struct mpx__vinst {
    mpx__vcont c;
    mpx_obj_how how;
    mpx_obj *callable, *args, *kwargs, *state, *listitems, *dictitems;
} mpx__vinst;

/* ---- small helpers ---------------------------------------------------- */

/* The flag bits, read without ordering (a plain load on x86; atomic so that
 * it is no data race with the collector's and the hash caches' writes). */
#define MPX__FL(o) __atomic_load_n(&(o)->flags, __ATOMIC_RELAXED)

#define MPX__V(o) ((mpx_obj *)(o))
#define MPX__KIND(o) ((o)->kind)

static inline int mpx__v_is_cont(const mpx_obj *o)
{
    return o->kind >= MPX__K_TUPLE;
}

static inline uint8_t mpx__v_flags(const mpx_obj *o)
{
    return __atomic_load_n(&o->flags, __ATOMIC_ACQUIRE);
}

static inline void mpx__v_set_flag(mpx_obj *o, uint8_t f)
{
    __atomic_fetch_or(&o->flags, f, __ATOMIC_RELEASE);
}

static inline void mpx__v_clear_flag(mpx_obj *o, uint8_t f)
{
    __atomic_fetch_and(&o->flags, (uint8_t)~f, __ATOMIC_RELEASE);
}

static inline mpx_obj *mpx__v_incref(mpx_obj *o)
{
    if (!(MPX__FL(o) & MPX__F_IMMORTAL))
        __atomic_fetch_add(&o->refcnt, 1, __ATOMIC_RELAXED);
    return o;
}

/* Singletons and the small int cache (-5 .. 256, as CPython). */
extern mpx_obj mpx__v_none, mpx__v_true, mpx__v_false;
extern mpx__vtuple mpx__v_empty_tuple;
#define MPX__SMALL_MIN (-5)
#define MPX__SMALL_MAX 256
extern mpx__vint mpx__v_small[MPX__SMALL_MAX - MPX__SMALL_MIN + 1];

/* ---- allocation (obj.c) ----------------------------------------------- */

/* Allocation of value memory, with a per-thread cache of small blocks
 * (up to 128 bytes, in 16-byte classes, up to 64 KiB per class): decoding
 * makes many small values and a message's values die together, so a
 * block costs a few nanoseconds instead of malloc's ~20. */
#define MPX__CACHE_CLASSES 8
#define MPX__CACHE_BYTES (64 * 1024)
typedef struct mpx__vcache {
    void *head[MPX__CACHE_CLASSES];
    uint32_t count[MPX__CACHE_CLASSES];
} mpx__vcache;
extern __thread mpx__vcache *mpx__tcache __attribute__((tls_model("initial-exec")));
extern __thread int64_t mpx__tlive __attribute__((tls_model("initial-exec")));
void *mpx__v_alloc_slow(size_t size);
void mpx__v_free_slow(void *p, size_t size);

/* A cached block of size bytes, or NULL (then: the slow path). */
static inline void *mpx__cache_pop(size_t size)
{
    mpx__vcache *c = mpx__tcache;
    if (MPX__LIKELY(size <= 128 && c)) {
        unsigned cls = (unsigned)((size + 15) / 16) - 1;
        void *b = c->head[cls];
        if (MPX__LIKELY(b != NULL)) {
            c->head[cls] = *(void **)b;
            c->count[cls]--;
            return b;
        }
    }
    return NULL;
}

/* Keep p (size bytes) in the cache: 1, or 0 when it does not go there. */
static inline int mpx__cache_push(void *p, size_t size)
{
    mpx__vcache *c = mpx__tcache;
    if (MPX__LIKELY(size <= 128 && c)) {
        unsigned cls = (unsigned)((size + 15) / 16) - 1;
        if (MPX__LIKELY(c->count[cls] < MPX__CACHE_BYTES / ((cls + 1) * 16))) {
            *(void **)p = c->head[cls];
            c->head[cls] = p;
            c->count[cls]++;
            return 1;
        }
    }
    return 0;
}

static inline void *mpx__v_alloc(size_t size)
{
    void *b = mpx__cache_pop(size);
    if (MPX__LIKELY(b != NULL)) {
        mpx__tlive++;
        return b;
    }
    return mpx__v_alloc_slow(size);
}

static inline void mpx__v_free(void *p, size_t size)
{
    if (MPX__LIKELY(mpx__cache_push(p, size))) {
        mpx__tlive--;
        return;
    }
    mpx__v_free_slow(p, size);
}
/* Arrays of containers (list items, table entries and index): small ones
 * come from the same per-thread cache; the caller knows the sizes. */
void *mpx__v_arr_realloc_slow(void *p, size_t old, size_t size);
void mpx__v_arr_free_slow(void *p, size_t size);
static inline void *mpx__v_arr_realloc(void *p, size_t old, size_t size)
{
    if (!p) {
        void *b = mpx__cache_pop(size);
        if (MPX__LIKELY(b != NULL))
            return b;
    }
    return mpx__v_arr_realloc_slow(p, old, size);
}
static inline void mpx__v_arr_free(void *p, size_t size)
{
    if (p && !mpx__cache_push(p, size))
        mpx__v_arr_free_slow(p, size);
}
/* The allocated size of a value (what mpx__v_free needs). */
size_t mpx__v_size(const mpx_obj *o);

/* Raw constructors used by the decoder (count 1, no validation where
 * stated). NULL: out of memory. */
mpx_obj *mpx__v_int(int64_t v);
mpx_obj *mpx__v_float(double v);
/* s must be valid UTF-8 (checked by the caller); ncp its code points,
 * ascii whether all bytes < 0x80. */
mpx_obj *mpx__v_str_raw(const char *s, size_t len, size_t ncp, int ascii);
/* Validate and make (MPX_EINVAL + offset in *bad on invalid text). */
int mpx__v_str_check(const char *s, size_t len, mpx_obj **out, size_t *bad_off, char *why,
                     size_t whylen);
mpx_obj *mpx__v_bytes_view(mpx_obj *base, const unsigned char *p, size_t n);
mpx_obj *mpx__v_tuple_new(size_t n); /* items NULL: caller fills all */
mpx_obj *mpx__v_list_new(size_t cap);
mpx_obj *mpx__v_class_new(mpx_obj *module, mpx_obj *name); /* takes both */
mpx__vinst *mpx__v_inst_new(mpx_obj_how how, mpx_obj *callable, mpx_obj *args, mpx_obj *kwargs);

/* Is s[0..n) valid UTF-8 (no surrogates)? Returns the number of code
 * points, or -1 with *bad the offset of the first bad byte. */
int64_t mpx__utf8_scan(const unsigned char *s, size_t n, size_t *bad, const char **why);
/* The surrogate that mpx__utf8_scan reported at s[at] (s has n bytes). */
uint32_t mpx__utf8_surrogate_at(const unsigned char *s, size_t n, size_t at);
/* Decode one code point at s (valid UTF-8 assumed); returns its length. */
int mpx__utf8_next(const unsigned char *s, uint32_t *cp);
/* Encode cp into out (4 bytes room); returns the length. */
int mpx__utf8_put(uint32_t cp, unsigned char *out);

/* Fill an optional error. */
void mpx__v_err(mpx_obj_error *err, int code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- containers (obj_seq.c, obj_dict.c) -------------------------------- */

/* A value stored into a container / removed from one: keeps nparents and
 * the cycle rules (obj_gc.c). link takes no reference; unlink drops the
 * container's reference. */
void mpx__gc_link(mpx_obj *parent, mpx_obj *child);
void mpx__gc_unlink(mpx_obj *child);
/* The decoder's variant of link: counts the parent, no cycle search. */
static inline void mpx__gc_link_fast(mpx_obj *child)
{
    if (mpx__v_is_cont(child) && !(MPX__FL(child) & MPX__F_IMMORTAL))
        __atomic_fetch_add(&((mpx__vcont *)child)->nparents, 1, __ATOMIC_RELAXED);
}
/* The decoder's own counts: the values it makes are private to its thread
 * until it returns, so their counts change without atomic instructions. */
static inline mpx_obj *mpx__v_incref_local(mpx_obj *o)
{
    if (!(MPX__FL(o) & MPX__F_IMMORTAL))
        o->refcnt++;
    return o;
}
static inline void mpx__gc_link_local(mpx_obj *child)
{
    if (mpx__v_is_cont(child) && !(MPX__FL(child) & MPX__F_IMMORTAL))
        ((mpx__vcont *)child)->nparents++;
}
void mpx__v_decref_local_slow(mpx_obj *o);
static inline void mpx__v_decref_local(mpx_obj *o)
{
    if (MPX__FL(o) & MPX__F_IMMORTAL)
        return;
    if (o->refcnt > 1 && !(MPX__FL(o) & MPX__F_CYC)) {
        o->refcnt--;
        return;
    }
    mpx__v_decref_local_slow(o);
}
/* Mark a container as possibly cyclic (decoder: a memo GET of it). */
static inline void mpx__gc_mark(mpx_obj *o)
{
    if (mpx__v_is_cont(o) && !(MPX__FL(o) & MPX__F_CYC))
        mpx__v_set_flag(o, MPX__F_CYC);
}
/* Defer cycle checks of this thread until the matching end (decoding). */
void mpx__gc_defer_begin(void);
void mpx__gc_defer_end(void);
/* Call fn(child, arg) for every value o references directly. */
void mpx__v_children(const mpx_obj *o, void (*fn)(mpx_obj *child, void *arg), void *arg);

int mpx__list_append_raw(mpx_obj *list, mpx_obj *item); /* steals, no cycle search */
int mpx__list_reserve(mpx__vlist *l, size_t extra);

/* Tables: hash of key given. lookup returns the entry or NULL; rc < 0 on
 * error (depth). insert steals key and value; on an equal key keeps the
 * old key, replaces the value (sets: drops the new key). link: 0 the API's
 * (cycle search), 1 no search (fresh owner), 2 the decoder's local counts. */
int mpx__table_lookup(const mpx__vtable *t, const mpx_obj *key, uint64_t hash,
                      mpx__ventry **out);
int mpx__table_insert(mpx__vtable *t, mpx_obj *key, uint64_t hash, mpx_obj *value,
                      int is_set, mpx_obj *owner, int fast_link);
int mpx__table_reserve(mpx__vtable *t, size_t extra);
void mpx__table_free(mpx__vtable *t);
mpx_obj *mpx__v_dict_new(int kind);

/* ---- numbers (obj_int.c) ----------------------------------------------- */

/* A normalized int from a magnitude (limbs, n, least significant first)
 * and a sign: small when it fits int64_t. Takes nothing. */
mpx_obj *mpx__big_from_limbs(const uint32_t *d, size_t n, int neg);
/* From little-endian two's complement bytes (pickle LONG1/LONG4). */
mpx_obj *mpx__big_from_le(const unsigned char *p, size_t n, int is_signed);
/* Minimal little-endian two's complement of an int as pickle writes it
 * (0 -> 0 bytes). Returns the length written into out (NULL: length only). */
size_t mpx__int_to_le(const mpx_obj *o, unsigned char *out);
/* Decimal text of an int (malloc'd, NUL-terminated). */
char *mpx__int_to_dec(const mpx_obj *o, size_t *len);
/* Python's int(text, base); MPX_EINVAL with *bad_off on a syntax error. */
int mpx__int_parse(const char *s, size_t n, int base, mpx_obj **out, size_t *bad_off);
/* Python's hash of an int. */
uint64_t mpx__int_hash(const mpx_obj *o);
/* Compare ints: <0, 0, >0. */
int mpx__int_cmp(const mpx_obj *a, const mpx_obj *b);
/* Compare an int with a finite or infinite double (not NaN): <0, 0, >0. */
int mpx__int_cmp_double(const mpx_obj *i, double d);
/* int -> double with Python's rounding; -ERANGE when too big. */
int mpx__int_to_double(const mpx_obj *o, double *out);
int mpx__int_sign(const mpx_obj *o);

/* ---- comparison, hashing (obj_cmp.c) ------------------------------------ */

uint64_t mpx__siphash13(const void *p, size_t n);
uint64_t mpx__double_hash(const mpx_obj *o, double v);
/* hash with depth; MPX_ETYPE unhashable. */
int mpx__v_hash(const mpx_obj *o, uint64_t *out, int depth);
/* Key identity of dicts and sets: == where instances compare by
 * identity. 1/0/<0. */
int mpx__v_key_eq(const mpx_obj *a, const mpx_obj *b, int depth);
int mpx__v_equal(const mpx_obj *a, const mpx_obj *b, int depth);
/* Structural identity (types exact, floats bitwise): for round-trip
 * checks. 1/0/<0. */
int mpx__v_identical(const mpx_obj *a, const mpx_obj *b);

/* ---- repr (obj_repr.c) ------------------------------------------------- */

/* Python's float repr: buf needs 32 bytes; returns the length. */
size_t mpx__float_repr(double v, char *buf);
/* Shortest round-trip digits: digits into d (17+1 bytes), *exp10 such that
 * value = 0.d * 10**exp10 ... returns the digit count. */
int mpx__float_shortest(double v, char *d, int *decpt);
/* Is code point cp printable (str.isprintable)? */
int mpx__unicode_printable(uint32_t cp);
extern const char mpx__unicode_version[];

#endif /* MPX_CORE_OBJ_INTERNAL_H */
