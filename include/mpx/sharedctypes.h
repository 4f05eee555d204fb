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
 *     mpx_value *n; mpx_value_create(&n, "i", 7, NULL);   // Value('i', 7)
 *     mpx_value_acquire(n, MPX_FOREVER);                  // 1: acquired
 *     *(int *)mpx_value_ptr(n) += 1;
 *     mpx_value_release(n);
 *     printf("%d\n", *(int *)mpx_value_ptr(n));   // prints: 8
 *     mpx_value_destroy(n);
 *
 * Pointers stored in shared memory are only valid in the storing process
 * (SCT-14): store offsets or indices.
 *
 * Element types are named as Python names them: an array typecode ("b B h
 * H i I l L q Q f d c ?", SCT-02) or a ctypes type name ("c_int",
 * "c_double" ...); raw elements of a given size hold structures (SCT-16).
 *
 * Numbers are converted as Python converts them (#13 item 4), whatever C
 * type the caller holds: the generic forms mpx_value_create / _set / _get
 * and mpx_array_create / _set / _get / _read / _write pick the conversion
 * from the C type of the argument (a C11 _Generic; overloads in C++), so
 * mpx_value_create(&v, "d", 3, NULL) stores 3.0 and an int given for "d"
 * cannot be misread. An integer that does not fit the element type is
 * -ERANGE; a float stored into an integer type must be an exact
 * integer in range (MPX_EINVAL for a fraction or NaN, where Python raises
 * TypeError; -ERANGE when too large); a float type takes any number
 * (+-inf beyond float's range); bool takes any number's truth value.
 * The _bytes forms copy the element's own representation unconverted.
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
 * mpx_shared_raw - options {.raw = 1} (RawValue / RawArray, lock=False);
 * MPX_SHARED_RAW is its address, for mpx_rawvalue_create and
 * mpx_rawarray_create.
 *
 * Threads: safe (read-only).
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API extern const mpx_shared_opts mpx_shared_raw;
#define MPX_SHARED_RAW (&mpx_shared_raw)

/*
 * mpx_ctype_from_typecode - the type named by a Python array typecode
 * ("i", "d", ...) or a ctypes type name ("c_int", "c_double", "c_long",
 * "c_int8".."c_uint64", "c_size_t", "c_ssize_t", "c_char", "c_bool"):
 * MPX_CT_* or MPX_EINVAL. mpx_ctype_size - the element size of a type (0
 * for MPX_CT_RAW and unknown types). mpx_ctype_name - ctypes name
 * ("c_int", "c_double" ...; "raw" for MPX_CT_RAW; NULL if unknown).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_ctype_from_typecode(const char *typecode);
MPX_API size_t mpx_ctype_size(int type);
MPX_API const char *mpx_ctype_name(int type);

/*
 * MPX_CTYPE_OF(p) - the MPX_CT_* type of what the pointer p points to
 * (int * -> MPX_CT_INT32, double * -> MPX_CT_DOUBLE, char * ->
 * MPX_CT_CHAR ...), MPX_CT_NONE for void * (NULL). The generic array and
 * get forms pass it to the _as functions, which convert from or to it.
 */
#ifndef __cplusplus
#define MPX__CT_PTR_(p, q)                                                                   \
    q char *: MPX_CT_CHAR, q signed char *: MPX_CT_INT8, q unsigned char *: MPX_CT_UINT8,  \
    q short *: MPX_CT_INT16, q unsigned short *: MPX_CT_UINT16, q int *: MPX_CT_INT32,     \
    q unsigned *: MPX_CT_UINT32, q long *: (sizeof(long) == 8 ? MPX_CT_INT64 : MPX_CT_INT32), \
    q unsigned long *: (sizeof(long) == 8 ? MPX_CT_UINT64 : MPX_CT_UINT32),                 \
    q long long *: MPX_CT_INT64, q unsigned long long *: MPX_CT_UINT64,                      \
    q float *: MPX_CT_FLOAT, q double *: MPX_CT_DOUBLE, q _Bool *: MPX_CT_BOOL, q void *: MPX_CT_NONE
#define MPX_CTYPE_OF(p) _Generic((p), MPX__CT_PTR_(p, ), MPX__CT_PTR_(p, const))
/* The function of three (signed, unsigned 64-bit, floating) for the C
 * type of x; no association for pointers, so passing one is a compile
 * error rather than a misread. */
#define MPX__NUM_PICK(x, fs, fu, ff)                                                          \
    _Generic((x), _Bool: fs, char: fs, signed char: fs, unsigned char: fs, short: fs,        \
             unsigned short: fs, int: fs, unsigned: fs, long: fs, long long: fs,             \
             unsigned long: fu, unsigned long long: fu, float: ff, double: ff, long double: ff)
#endif

/* ---------------------------------------------------------------------
 * Value (SCT-01, SCT-10, SCT-11)
 * ------------------------------------------------------------------- */

/*
 * mpx_value_create(&v, typecode, init, opts) - Python's
 * Value(typecode_or_type, init, lock=...): a generic macro (C11 _Generic;
 * a template in C++) that converts init, a number of any C type, into the
 * element type: an integer type calls mpx_value_create_i64 (or _u64 for
 * unsigned long / unsigned long long), a floating type
 * mpx_value_create_f64. A pointer does not compile.
 * mpx_rawvalue_create(&v, typecode, init) - RawValue (opts raw).
 * mpx_value_create_bytes - init is the element's own bytes (NULL: zero),
 * copied unconverted. mpx_value_create_sized - a raw element of size
 * bytes (a struct: Python's Value(MyStruct, ...)). opts may be NULL.
 * Return 0, MPX_EINVAL (unknown type, size 0, opts.lock not a Lock/RLock,
 * a float with a fraction or NaN for an integer type), -ERANGE
 * (init does not fit the type), -ENOMEM, -errno from memfd/mmap; nothing
 * is created on failure.
 *
 * Threads: safe.
 * Fork:    a fork child shares the value.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_value_create_i64(mpx_value **out, const char *typecode, int64_t init,
                                 const mpx_shared_opts *opts);
MPX_API int mpx_value_create_u64(mpx_value **out, const char *typecode, uint64_t init,
                                 const mpx_shared_opts *opts);
MPX_API int mpx_value_create_f64(mpx_value **out, const char *typecode, double init,
                                 const mpx_shared_opts *opts);
MPX_API int mpx_value_create_bytes(mpx_value **out, const char *typecode, const void *init,
                                   const mpx_shared_opts *opts);
MPX_API int mpx_value_create_sized(mpx_value **out, size_t size, const void *init,
                                   const mpx_shared_opts *opts);
#ifndef __cplusplus
#define mpx_value_create(out, typecode, init, opts)                                          \
    MPX__NUM_PICK((init), mpx_value_create_i64, mpx_value_create_u64,                        \
                  mpx_value_create_f64)((out), (typecode), (init), (opts))
#endif
#define mpx_rawvalue_create(out, typecode, init)                                             \
    mpx_value_create((out), (typecode), (init), MPX_SHARED_RAW)

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
 * Python's v.value, under the lock when there is one.
 * mpx_value_set(v, x) - generic: store x, a number of any C type,
 *   converted (mpx_value_set_i64 / _u64 / _f64 by the C type of x).
 * mpx_value_get(v, &x) - generic: read the value converted into x, whose
 *   C type (int, double, int64_t, char ...) the macro passes on
 *   (mpx_value_get_as with MPX_CTYPE_OF(&x)): -ERANGE when it does
 *   not fit x, MPX_EINVAL when a float with a fraction is read into an
 *   integer. _i64 / _u64 / _f64 are the typed forms.
 * mpx_value_get_bytes / mpx_value_set_bytes - copy the element's own
 *   representation (size bytes) out / in, unconverted (structs).
 * Return 0, MPX_EINVAL (bad handle, NULL pointer, a number for a raw
 * element), -ERANGE, MPX_EOWNERDEAD (done, but the lock's previous
 * holder died holding it: the value is suspect), -EINTR (opts.lock is an
 * interruptible lock and a signal handler ran while waiting for it). A
 * failed call changes nothing.
 *
 * Threads: safe with a lock; without one, concurrent access is not atomic.
 * Fork:    safe.
 * Signals: not async-signal-safe (they may wait for the lock).
 */
MPX_API int mpx_value_get_as(mpx_value *v, void *out, int out_type);
MPX_API int mpx_value_get_i64(mpx_value *v, int64_t *out);
MPX_API int mpx_value_get_u64(mpx_value *v, uint64_t *out);
MPX_API int mpx_value_get_f64(mpx_value *v, double *out);
MPX_API int mpx_value_set_i64(mpx_value *v, int64_t x);
MPX_API int mpx_value_set_u64(mpx_value *v, uint64_t x);
MPX_API int mpx_value_set_f64(mpx_value *v, double x);
MPX_API int mpx_value_get_bytes(mpx_value *v, void *out);
MPX_API int mpx_value_set_bytes(mpx_value *v, const void *in);
#ifndef __cplusplus
#define mpx_value_get(v, p) mpx_value_get_as((v), (p), MPX_CTYPE_OF(p))
#define mpx_value_set(v, x)                                                                  \
    MPX__NUM_PICK((x), mpx_value_set_i64, mpx_value_set_u64, mpx_value_set_f64)((v), (x))
#endif

/*
 * mpx_value_get_lock - the lock (an mpx_lock or mpx_rlock, borrowed) in
 * *lock; MPX_ESTATE for a raw value (no lock). mpx_value_acquire /
 * mpx_value_release - take / drop that lock (results of
 * mpx_sync_acquire: acquire returns 1 acquired, 0 not acquired in time;
 * MPX_ESTATE without a lock).
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
 * mpx_array_create(&a, typecode, length, init, opts) - Python's
 * Array(typecode_or_type, size_or_initializer, lock=...): length
 * elements, initialised from init, a pointer to length C values of any
 * numeric type (int *, double *, int64_t * ...), each converted (generic:
 * mpx_array_create_as with MPX_CTYPE_OF(init)); init NULL: zero-filled.
 * mpx_rawarray_create(&a, typecode, length, init) - RawArray (SCT-09).
 * mpx_array_create_bytes - init is length elements in the element's own
 * representation, copied unconverted. mpx_array_create_sized - raw
 * elements of elem_size bytes (arrays of structures, SCT-16). A length of
 * 0 is allowed. Return 0, MPX_EINVAL (unknown type, a non-NULL void *
 * init for the generic form: use _bytes, a value that is not an exact
 * integer for an integer type), -ERANGE (a value does not fit),
 * -ENOMEM (also when the size overflows), -errno; nothing is created on
 * failure.
 *
 * Threads: safe.
 * Fork:    a fork child shares the array.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_array_create_as(mpx_array **out, const char *typecode, size_t length,
                                const void *init, int init_type, const mpx_shared_opts *opts);
MPX_API int mpx_array_create_bytes(mpx_array **out, const char *typecode, size_t length,
                                   const void *init, const mpx_shared_opts *opts);
MPX_API int mpx_array_create_sized(mpx_array **out, size_t elem_size, size_t length,
                                   const void *init, const mpx_shared_opts *opts);
#ifndef __cplusplus
#define mpx_array_create(out, typecode, length, init, opts)                                  \
    mpx_array_create_as((out), (typecode), (length), (init), MPX_CTYPE_OF(init), (opts))
#endif
#define mpx_rawarray_create(out, typecode, length, init)                                     \
    mpx_array_create((out), (typecode), (length), (init), MPX_SHARED_RAW)

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
 * Python's a[i], a[i] = x and a[start:start+count] (SCT-07), bounds
 * checked, each one locked operation. Numbers are converted as for Value:
 * mpx_array_set(a, i, x) - generic on the C type of x (_i64 / _u64 /
 *   _f64); mpx_array_get(a, i, &x) - generic on the type x points to
 *   (mpx_array_get_as).
 * mpx_array_read(a, start, count, out) / mpx_array_write(a, start, count,
 *   in) - generic on the type out / in point to (mpx_array_read_as /
 *   _write_as): count C values, each converted; a write checks every
 *   value before it stores any.
 * The _bytes forms copy elements in their own representation,
 * unconverted (structs; Python's .raw for char arrays).
 * Return 0, MPX_EINVAL (bad handle, index or range out of bounds, NULL
 * buffer, void * given to a generic form, a number for a raw element, a
 * fraction for an integer type), -ERANGE, MPX_EOWNERDEAD (done;
 * data suspect). A failed call changes nothing.
 *
 * Threads: safe with a lock.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_array_get_as(mpx_array *a, size_t i, void *out, int out_type);
MPX_API int mpx_array_get_i64(mpx_array *a, size_t i, int64_t *out);
MPX_API int mpx_array_get_u64(mpx_array *a, size_t i, uint64_t *out);
MPX_API int mpx_array_get_f64(mpx_array *a, size_t i, double *out);
MPX_API int mpx_array_set_i64(mpx_array *a, size_t i, int64_t x);
MPX_API int mpx_array_set_u64(mpx_array *a, size_t i, uint64_t x);
MPX_API int mpx_array_set_f64(mpx_array *a, size_t i, double x);
MPX_API int mpx_array_read_as(mpx_array *a, size_t start, size_t count, void *out,
                              int out_type);
MPX_API int mpx_array_write_as(mpx_array *a, size_t start, size_t count, const void *in,
                               int in_type);
MPX_API int mpx_array_get_bytes(mpx_array *a, size_t i, void *out);
MPX_API int mpx_array_set_bytes(mpx_array *a, size_t i, const void *in);
MPX_API int mpx_array_read_bytes(mpx_array *a, size_t start, size_t count, void *out);
MPX_API int mpx_array_write_bytes(mpx_array *a, size_t start, size_t count, const void *in);
#ifndef __cplusplus
#define mpx_array_get(a, i, p) mpx_array_get_as((a), (i), (p), MPX_CTYPE_OF(p))
#define mpx_array_set(a, i, x)                                                               \
    MPX__NUM_PICK((x), mpx_array_set_i64, mpx_array_set_u64, mpx_array_set_f64)((a), (i), (x))
#define mpx_array_read(a, start, count, p)                                                   \
    mpx_array_read_as((a), (start), (count), (p), MPX_CTYPE_OF(p))
#define mpx_array_write(a, start, count, p)                                                  \
    mpx_array_write_as((a), (start), (count), (p), MPX_CTYPE_OF(p))
#endif

/*
 * Char arrays (SCT-06): mpx_array_get_str copies the bytes up to the
 * first NUL (or the whole array) into buf and NUL-terminates it (Python's
 * .value); MPX_ETOOSHORT when cap is too small. mpx_array_set_str stores
 * s and a NUL when it fits (MPX_EINVAL when strlen(s) > length: "byte
 * string too long"). For MPX_CT_CHAR, MPX_CT_INT8 and MPX_CT_UINT8 arrays
 * only (MPX_EINVAL otherwise). mpx_array_read_bytes gives Python's .raw.
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

#ifdef __cplusplus
/* C++: the generic forms as overloads (the C macros use _Generic). */
#include <cstddef>
#include <type_traits>

template <typename T> struct mpx_ctype_of_t {
    static const int value = MPX_CT_NONE;
};
#define MPX__CT_OF_(T, v)                                                                    \
    template <> struct mpx_ctype_of_t<T> {                                                   \
        static const int value = v;                                                          \
    };
MPX__CT_OF_(char, MPX_CT_CHAR)
MPX__CT_OF_(signed char, MPX_CT_INT8)
MPX__CT_OF_(unsigned char, MPX_CT_UINT8)
MPX__CT_OF_(short, MPX_CT_INT16)
MPX__CT_OF_(unsigned short, MPX_CT_UINT16)
MPX__CT_OF_(int, MPX_CT_INT32)
MPX__CT_OF_(unsigned, MPX_CT_UINT32)
MPX__CT_OF_(long, sizeof(long) == 8 ? MPX_CT_INT64 : MPX_CT_INT32)
MPX__CT_OF_(unsigned long, sizeof(long) == 8 ? MPX_CT_UINT64 : MPX_CT_UINT32)
MPX__CT_OF_(long long, MPX_CT_INT64)
MPX__CT_OF_(unsigned long long, MPX_CT_UINT64)
MPX__CT_OF_(float, MPX_CT_FLOAT)
MPX__CT_OF_(double, MPX_CT_DOUBLE)
MPX__CT_OF_(bool, MPX_CT_BOOL)
#undef MPX__CT_OF_
#define MPX_CTYPE_OF(p) (mpx_ctype_of_t<typename std::remove_cv<typename std::remove_pointer<decltype(p)>::type>::type>::value)

template <typename T>
inline int mpx_value_create(mpx_value **out, const char *typecode, T init,
                            const mpx_shared_opts *opts)
{
    static_assert(std::is_arithmetic<T>::value, "mpx_value_create: init must be a number");
    if (std::is_floating_point<T>::value)
        return mpx_value_create_f64(out, typecode, (double)init, opts);
    if (std::is_unsigned<T>::value && sizeof(T) == 8)
        return mpx_value_create_u64(out, typecode, (uint64_t)init, opts);
    return mpx_value_create_i64(out, typecode, (int64_t)init, opts);
}
template <typename T> inline int mpx_value_set(mpx_value *v, T x)
{
    static_assert(std::is_arithmetic<T>::value, "mpx_value_set: x must be a number");
    if (std::is_floating_point<T>::value)
        return mpx_value_set_f64(v, (double)x);
    if (std::is_unsigned<T>::value && sizeof(T) == 8)
        return mpx_value_set_u64(v, (uint64_t)x);
    return mpx_value_set_i64(v, (int64_t)x);
}
template <typename T> inline int mpx_value_get(mpx_value *v, T *out)
{
    static_assert(std::is_arithmetic<T>::value, "mpx_value_get: out must point to a number");
    return mpx_value_get_as(v, out, mpx_ctype_of_t<T>::value);
}
template <typename T>
inline int mpx_array_create(mpx_array **out, const char *typecode, size_t length, const T *init,
                            const mpx_shared_opts *opts)
{
    static_assert(std::is_arithmetic<T>::value, "mpx_array_create: init must point to numbers");
    return mpx_array_create_as(out, typecode, length, init, mpx_ctype_of_t<T>::value, opts);
}
inline int mpx_array_create(mpx_array **out, const char *typecode, size_t length, std::nullptr_t,
                            const mpx_shared_opts *opts)
{
    return mpx_array_create_as(out, typecode, length, nullptr, MPX_CT_NONE, opts);
}
template <typename T> inline int mpx_array_set(mpx_array *a, size_t i, T x)
{
    static_assert(std::is_arithmetic<T>::value, "mpx_array_set: x must be a number");
    if (std::is_floating_point<T>::value)
        return mpx_array_set_f64(a, i, (double)x);
    if (std::is_unsigned<T>::value && sizeof(T) == 8)
        return mpx_array_set_u64(a, i, (uint64_t)x);
    return mpx_array_set_i64(a, i, (int64_t)x);
}
template <typename T> inline int mpx_array_get(mpx_array *a, size_t i, T *out)
{
    static_assert(std::is_arithmetic<T>::value, "mpx_array_get: out must point to a number");
    return mpx_array_get_as(a, i, out, mpx_ctype_of_t<T>::value);
}
template <typename T>
inline int mpx_array_read(mpx_array *a, size_t start, size_t count, T *out)
{
    static_assert(std::is_arithmetic<T>::value, "mpx_array_read: out must point to numbers");
    return mpx_array_read_as(a, start, count, out, mpx_ctype_of_t<T>::value);
}
template <typename T>
inline int mpx_array_write(mpx_array *a, size_t start, size_t count, const T *in)
{
    static_assert(std::is_arithmetic<T>::value, "mpx_array_write: in must point to numbers");
    return mpx_array_write_as(a, start, count, in, mpx_ctype_of_t<T>::value);
}
#endif

#endif /* MPX_SHAREDCTYPES_H */
