/*
 * mpx/sharedctypes.h - typed values and arrays in shared memory (Python:
 * multiprocessing.Value, Array, RawValue, RawArray and
 * multiprocessing.sharedctypes.copy / synchronized; seed items SCT-01..17).
 *
 * The data lives in a memfd-backed shared mapping: children started with
 * fork, spawn or forkserver see the same bytes (pass the object with
 * mpx_args_add_object); the memory goes away when the last process using
 * it has gone. Nothing is named in /dev/shm.
 *
 * A Value or Array is synchronized by default: it carries a lock (a new
 * RLock, SCT-03), get/set calls take it, and mpx_value_acquire /
 * mpx_value_release (or the lock from get_lock) make read-modify-write
 * sequences atomic (SCT-04). With opts.lock a caller's Lock or RLock is
 * used (several objects may share one, SCT-08); with opts.raw (RawValue,
 * RawArray) there is no lock. Direct pointer access (mpx_value_ptr,
 * mpx_array_ptr) never locks: it is the lock-free path, at memory speed.
 *
 *     int init = 7;
 *     mpx_value *n; mpx_value_create(&n, MPX_CT_INT, &init, NULL);
 *     mpx_value_acquire(n, MPX_FOREVER);
 *     *(int *)mpx_value_ptr(n) += 1;
 *     mpx_value_release(n);
 *     printf("%d\n", *(int *)mpx_value_ptr(n));   // prints: 8
 *     mpx_value_destroy(n);
 *
 * Pointers stored in shared memory are only valid in the storing process
 * (SCT-14): store offsets or indices.
 *
 * Element types: C types (enum mpx_ctype), raw elements of a given size
 * (structures, SCT-16), or Python's array typecodes ("b B h H i I l L q Q
 * f d c ?", SCT-02) through the _tc constructors.
 */
#ifndef MPX_SHAREDCTYPES_H
#define MPX_SHAREDCTYPES_H

#include "common.h"

MPX_BEGIN_DECLS

typedef struct mpx_context mpx_context;
typedef struct mpx_value mpx_value;
typedef struct mpx_array mpx_array;

/* Element types. */
enum mpx_ctype {
    MPX_CT_NONE = 0,
    MPX_CT_INT8 = 1,    /* 'b' signed char */
    MPX_CT_UINT8 = 2,   /* 'B' unsigned char */
    MPX_CT_INT16 = 3,   /* 'h' short */
    MPX_CT_UINT16 = 4,  /* 'H' unsigned short */
    MPX_CT_INT32 = 5,   /* 'i' int */
    MPX_CT_UINT32 = 6,  /* 'I' unsigned int */
    MPX_CT_INT64 = 7,   /* 'q' long long ('l' on LP64) */
    MPX_CT_UINT64 = 8,  /* 'Q' unsigned long long ('L' on LP64) */
    MPX_CT_FLOAT = 9,   /* 'f' */
    MPX_CT_DOUBLE = 10, /* 'd' */
    MPX_CT_CHAR = 11,   /* 'c' char (one byte) */
    MPX_CT_BOOL = 12,   /* '?' _Bool, stored as one byte 0/1 */
    MPX_CT_RAW = 13     /* elements of a caller-given size (structs) */
};
/* C-named aliases (Linux LP64). */
#define MPX_CT_SCHAR MPX_CT_INT8
#define MPX_CT_UCHAR MPX_CT_UINT8
#define MPX_CT_SHORT MPX_CT_INT16
#define MPX_CT_USHORT MPX_CT_UINT16
#define MPX_CT_INT MPX_CT_INT32
#define MPX_CT_UINT MPX_CT_UINT32
#define MPX_CT_LONG MPX_CT_INT64
#define MPX_CT_ULONG MPX_CT_UINT64
#define MPX_CT_LONGLONG MPX_CT_INT64
#define MPX_CT_ULONGLONG MPX_CT_UINT64

/* Options; zero means default: a new RLock. */
typedef struct mpx_shared_opts {
    void *lock;       /* an mpx_lock or mpx_rlock to use (referenced, kept alive) */
    int raw;          /* nonzero: no lock (Python's lock=False, RawValue/RawArray) */
    mpx_context *ctx; /* NULL: usable by children of every start method */
} mpx_shared_opts;

/*
 * mpx_ctype_from_typecode - the type of a Python array typecode ("i",
 * "d", ...): MPX_CT_* or MPX_EINVAL. mpx_ctype_size - the element size of
 * a type (0 for MPX_CT_RAW and unknown types). mpx_ctype_name - ctypes
 * name ("c_int", "c_double" ...; "raw" for MPX_CT_RAW; NULL if unknown).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_ctype_from_typecode(const char *typecode);
MPX_API size_t mpx_ctype_size(int type);
MPX_API const char *mpx_ctype_name(int type);

/* ---------------------------------------------------------------------
 * Value (SCT-01, SCT-10, SCT-11)
 * ------------------------------------------------------------------- */

/*
 * mpx_value_create - a shared value of a C type, initialised from *init
 * (sizeof the type bytes; NULL: zero). mpx_value_create_tc - the same
 * from a typecode string ("i", "d", "h", "c" ...). mpx_value_create_sized
 * - a raw element of size bytes (a struct: Python's Value(MyStruct, ...)).
 * mpx_rawvalue_create - a Value without a lock (RawValue). opts may be
 * NULL. Return 0, MPX_EINVAL (unknown type, size 0, opts.lock not a
 * Lock/RLock), -ENOMEM, -errno from memfd/mmap.
 *
 * Threads: safe.
 * Fork:    a fork child shares the value.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_value_create(mpx_value **out, int type, const void *init,
                             const mpx_shared_opts *opts);
MPX_API int mpx_value_create_tc(mpx_value **out, const char *typecode, const void *init,
                                const mpx_shared_opts *opts);
MPX_API int mpx_value_create_sized(mpx_value **out, size_t size, const void *init,
                                   const mpx_shared_opts *opts);
MPX_API int mpx_rawvalue_create(mpx_value **out, int type, const void *init);

/*
 * mpx_value_destroy - drop this handle (and its reference to the lock).
 * Children keep their own mappings. NULL does nothing.
 *
 * Threads: no other thread may use this handle afterwards.
 * Fork:    affects only the calling process.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_value_destroy(mpx_value *v);

/*
 * mpx_value_ptr - the shared bytes (no locking; NULL for a bad handle).
 * mpx_value_size - their size. mpx_value_type - the MPX_CT_* type.
 *
 * Threads: safe; accesses through the pointer are the caller's business.
 * Fork:    the pointer is valid in a fork child.
 * Signals: async-signal-safe.
 */
MPX_API void *mpx_value_ptr(mpx_value *v);
MPX_API size_t mpx_value_size(mpx_value *v);
MPX_API int mpx_value_type(mpx_value *v);

/*
 * mpx_value_get / mpx_value_set - copy the value out / in (size bytes),
 * under the lock when there is one (Python's .value). The typed forms
 * convert: get_i64/set_i64 for integer, char and bool types, get_f64/
 * set_f64 for every numeric type. Return 0, MPX_EINVAL (bad handle, NULL
 * pointer, get_i64 on a float type or a raw element), MPX_EOWNERDEAD
 * (done, but the lock's previous holder died holding it: the value is
 * suspect).
 *
 * Threads: safe with a lock; without one, concurrent access is not atomic.
 * Fork:    safe.
 * Signals: not async-signal-safe (they may wait for the lock).
 */
MPX_API int mpx_value_get(mpx_value *v, void *out);
MPX_API int mpx_value_set(mpx_value *v, const void *in);
MPX_API int mpx_value_get_i64(mpx_value *v, int64_t *out);
MPX_API int mpx_value_set_i64(mpx_value *v, int64_t x);
MPX_API int mpx_value_get_f64(mpx_value *v, double *out);
MPX_API int mpx_value_set_f64(mpx_value *v, double x);

/*
 * mpx_value_get_lock - the lock (an mpx_lock or mpx_rlock, borrowed) in
 * *lock; MPX_ESTATE for a raw value (no lock). mpx_value_acquire /
 * mpx_value_release - take / drop that lock (results of
 * mpx_sync_acquire; MPX_ESTATE without a lock).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: as the lock calls.
 */
MPX_API int mpx_value_get_lock(mpx_value *v, void **lock);
MPX_API int mpx_value_acquire(mpx_value *v, mpx_duration timeout);
MPX_API int mpx_value_release(mpx_value *v);

/*
 * mpx_value_copy - a new raw (lockless) value with a copy of v's bytes
 * (Python's sharedctypes.copy, SCT-12). mpx_value_synchronized - a new
 * handle on the same shared bytes, guarded by lock (a Lock/RLock, or NULL
 * for a new RLock; SCT-13). Return 0, MPX_EINVAL, -ENOMEM, -errno.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_value_copy(mpx_value *v, mpx_value **out);
MPX_API int mpx_value_synchronized(mpx_value *v, void *lock, mpx_value **out);

/*
 * mpx_value_describe - "<Synchronized wrapper for c_int(7)>", "c_double(0.5)"
 * for a raw value. Free with mpx_free; NULL on failure.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_value_describe(mpx_value *v);

/* ---------------------------------------------------------------------
 * Array (SCT-05..09, SCT-16)
 * ------------------------------------------------------------------- */

/*
 * mpx_array_create - a shared array of length elements of a C type,
 * initialised from init (length elements; NULL: zero-filled).
 * mpx_array_create_tc - from a typecode. mpx_array_create_sized - raw
 * elements of elem_size bytes (arrays of structures, SCT-16).
 * mpx_rawarray_create - without a lock (RawArray, SCT-09). A length of 0
 * is allowed. Return 0, MPX_EINVAL, -ENOMEM (also when the size
 * overflows), -errno.
 *
 * Threads: safe.
 * Fork:    a fork child shares the array.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_array_create(mpx_array **out, int type, size_t length, const void *init,
                             const mpx_shared_opts *opts);
MPX_API int mpx_array_create_tc(mpx_array **out, const char *typecode, size_t length,
                                const void *init, const mpx_shared_opts *opts);
MPX_API int mpx_array_create_sized(mpx_array **out, size_t elem_size, size_t length,
                                   const void *init, const mpx_shared_opts *opts);
MPX_API int mpx_rawarray_create(mpx_array **out, int type, size_t length, const void *init);

/*
 * mpx_array_destroy - drop this handle. NULL does nothing.
 *
 * Threads: no other thread may use this handle afterwards.
 * Fork:    affects only the calling process.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_array_destroy(mpx_array *a);

/*
 * mpx_array_ptr - the first element (no locking; NULL for a bad handle).
 * mpx_array_len - element count (Python's len()). mpx_array_elem_size,
 * mpx_array_type - element size and MPX_CT_* type.
 *
 * Threads: safe.
 * Fork:    the pointer is valid in a fork child.
 * Signals: async-signal-safe.
 */
MPX_API void *mpx_array_ptr(mpx_array *a);
MPX_API size_t mpx_array_len(mpx_array *a);
MPX_API size_t mpx_array_elem_size(mpx_array *a);
MPX_API int mpx_array_type(mpx_array *a);

/*
 * mpx_array_get / mpx_array_set - element i (elem_size bytes), bounds
 * checked, under the lock (Python's a[i]). Typed forms as for Value.
 * mpx_array_read / mpx_array_write - count elements from start, copied
 * out/in as one locked operation (Python's a[start:start+count], SCT-07).
 * Return 0, MPX_EINVAL (bad handle, index or range out of bounds, NULL
 * buffer, wrong typed form), MPX_EOWNERDEAD (done; data suspect).
 *
 * Threads: safe with a lock.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_array_get(mpx_array *a, size_t i, void *out);
MPX_API int mpx_array_set(mpx_array *a, size_t i, const void *in);
MPX_API int mpx_array_get_i64(mpx_array *a, size_t i, int64_t *out);
MPX_API int mpx_array_set_i64(mpx_array *a, size_t i, int64_t x);
MPX_API int mpx_array_get_f64(mpx_array *a, size_t i, double *out);
MPX_API int mpx_array_set_f64(mpx_array *a, size_t i, double x);
MPX_API int mpx_array_read(mpx_array *a, size_t start, size_t count, void *out);
MPX_API int mpx_array_write(mpx_array *a, size_t start, size_t count, const void *in);

/*
 * Char arrays (SCT-06): mpx_array_get_str copies the bytes up to the
 * first NUL (or the whole array) into buf and NUL-terminates it (Python's
 * .value); MPX_ETOOSHORT when cap is too small. mpx_array_set_str stores
 * s and a NUL when it fits (MPX_EINVAL when strlen(s) > length: "byte
 * string too long"). For MPX_CT_CHAR, MPX_CT_INT8 and MPX_CT_UINT8 arrays
 * only (MPX_EINVAL otherwise). mpx_array_read gives Python's .raw.
 *
 * Threads: safe with a lock.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_array_get_str(mpx_array *a, char *buf, size_t cap);
MPX_API int mpx_array_set_str(mpx_array *a, const char *s);

/*
 * mpx_array_get_lock / _acquire / _release / _copy / _synchronized /
 * _describe - as for Value. describe: "<SynchronizedArray wrapper for
 * c_int_Array_10>" or "c_int_Array_10" for a raw array.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_array_get_lock(mpx_array *a, void **lock);
MPX_API int mpx_array_acquire(mpx_array *a, mpx_duration timeout);
MPX_API int mpx_array_release(mpx_array *a);
MPX_API int mpx_array_copy(mpx_array *a, mpx_array **out);
MPX_API int mpx_array_synchronized(mpx_array *a, void *lock, mpx_array **out);
MPX_API char *mpx_array_describe(mpx_array *a);

MPX_END_DECLS

#endif /* MPX_SHAREDCTYPES_H */
