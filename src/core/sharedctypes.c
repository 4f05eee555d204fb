/*
 * sharedctypes.c - Value, Array, RawValue, RawArray, copy, synchronized
 * (SCT-01..17) on the shared heap of shheap.c.
 *
 * Segment layout: with a default lock, the RLock's word sits at offset 0
 * and the data at offset 64 (one mapping, one descriptor for both); else
 * the data starts at offset 0.
 */
#include "core/ctconv.h"
#include "core/sync_internal.h"
#include "mpx/sharedctypes.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DATA_OFF_LOCKED 64

typedef struct shobj {
    mpx__obj hdr;
    mpx__seg *seg;
    unsigned char *data;
    size_t data_off;
    int type;
    size_t esize;
    size_t len;
    struct mpx_lock *lock; /* NULL: raw */
} shobj;

struct mpx_value {
    shobj s;
};
struct mpx_array {
    shobj s;
};

static const struct {
    int type;
    char code;
    size_t size;
    const char *name;
} types[] = {
    {MPX_CT_INT8, 'b', 1, "c_byte"},      {MPX_CT_UINT8, 'B', 1, "c_ubyte"},
    {MPX_CT_INT16, 'h', 2, "c_short"},    {MPX_CT_UINT16, 'H', 2, "c_ushort"},
    {MPX_CT_INT32, 'i', 4, "c_int"},      {MPX_CT_UINT32, 'I', 4, "c_uint"},
    {MPX_CT_INT64, 'q', 8, "c_longlong"}, {MPX_CT_UINT64, 'Q', 8, "c_ulonglong"},
    {MPX_CT_FLOAT, 'f', 4, "c_float"},    {MPX_CT_DOUBLE, 'd', 8, "c_double"},
    {MPX_CT_CHAR, 'c', 1, "c_char"},      {MPX_CT_BOOL, '?', 1, "c_bool"},
};

MPX_API const mpx_shared_opts mpx_shared_raw = {.raw = 1};

/* ctypes names beyond the table's (Python's Value(c_long, ...)). */
static const struct {
    const char *name;
    int type;
} ctypes_names[] = {
    {"c_long", sizeof(long) == 8 ? MPX_CT_INT64 : MPX_CT_INT32},
    {"c_ulong", sizeof(long) == 8 ? MPX_CT_UINT64 : MPX_CT_UINT32},
    {"c_int8", MPX_CT_INT8},        {"c_uint8", MPX_CT_UINT8},   {"c_int16", MPX_CT_INT16},
    {"c_uint16", MPX_CT_UINT16},    {"c_int32", MPX_CT_INT32},   {"c_uint32", MPX_CT_UINT32},
    {"c_int64", MPX_CT_INT64},      {"c_uint64", MPX_CT_UINT64},
    {"c_size_t", sizeof(size_t) == 8 ? MPX_CT_UINT64 : MPX_CT_UINT32},
    {"c_ssize_t", sizeof(size_t) == 8 ? MPX_CT_INT64 : MPX_CT_INT32},
};

MPX_API int mpx_ctype_from_typecode(const char *tc)
{
    if (!tc || !tc[0])
        return MPX_EINVAL;
    if (tc[1]) { /* a ctypes name */
        for (size_t i = 0; i < MPX__ARRAY_LEN(ctypes_names); i++)
            if (strcmp(ctypes_names[i].name, tc) == 0)
                return ctypes_names[i].type;
        for (size_t i = 0; i < MPX__ARRAY_LEN(types); i++)
            if (strcmp(types[i].name, tc) == 0)
                return types[i].type;
        return MPX_EINVAL;
    }
    if (tc[0] == 'l')
        return sizeof(long) == 8 ? MPX_CT_INT64 : MPX_CT_INT32;
    if (tc[0] == 'L')
        return sizeof(long) == 8 ? MPX_CT_UINT64 : MPX_CT_UINT32;
    for (size_t i = 0; i < MPX__ARRAY_LEN(types); i++)
        if (types[i].code == tc[0])
            return types[i].type;
    return MPX_EINVAL;
}

MPX_API size_t mpx_ctype_size(int type)
{
    for (size_t i = 0; i < MPX__ARRAY_LEN(types); i++)
        if (types[i].type == type)
            return types[i].size;
    return 0;
}

MPX_API const char *mpx_ctype_name(int type)
{
    if (type == MPX_CT_INT64 && sizeof(long) == 8)
        return "c_long";
    if (type == MPX_CT_UINT64 && sizeof(long) == 8)
        return "c_ulong";
    if (type == MPX_CT_RAW)
        return "raw";
    for (size_t i = 0; i < MPX__ARRAY_LEN(types); i++)
        if (types[i].type == type)
            return types[i].name;
    return NULL;
}

static int sh_export(void *obj, mpx__buf *data, mpx__fdlist *fds);
static int value_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static int array_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static void sh_drop(void *obj);

static int sh_sync_acquire(void *obj, mpx_duration timeout);
static int sh_sync_release(void *obj);

/* mpx_sync_acquire / mpx_sync_release reach a Value's or Array's lock
 * through the acquire / release hooks (MPX_ESTATE when it has none). */
static mpx__objtype value_type = {.name = "value",
                                  .export_ = sh_export,
                                  .import_ = value_import,
                                  .drop = sh_drop,
                                  .acquire = sh_sync_acquire,
                                  .release = sh_sync_release};
static mpx__objtype array_type = {.name = "array",
                                  .export_ = sh_export,
                                  .import_ = array_import,
                                  .drop = sh_drop,
                                  .acquire = sh_sync_acquire,
                                  .release = sh_sync_release};

static shobj *sh_of(void *p, const mpx__objtype *t)
{
    shobj *o = p;
    if (!o || o->hdr.magic != MPX__OBJ_MAGIC || o->hdr.type != t)
        return NULL;
    return o;
}
#define V(v) sh_of((v), &value_type)
#define A(a) sh_of((a), &array_type)

static void sh_free(shobj *o)
{
    o->hdr.magic = 0;
    mpx__lock_unref(o->lock);
    mpx__seg_unref(o->seg);
    free(o);
}

static void sh_drop(void *obj)
{
    sh_free(obj);
}

/* Make the handle; takes ownership of one seg reference and of lock's. */
static int sh_wrap(const mpx__objtype *t, mpx__seg *seg, size_t off, int type, size_t esize,
                   size_t len, struct mpx_lock *lock, mpx_context *ctx, shobj **out)
{
    shobj *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->seg = seg;
    o->data_off = off;
    o->data = (unsigned char *)seg->map.addr + off;
    o->type = type;
    o->esize = esize;
    o->len = len;
    o->lock = lock;
    mpx__obj_init(&o->hdr, t, ctx);
    *out = o;
    return 0;
}

static int sh_create(const mpx__objtype *t, int type, size_t esize, size_t len, const void *init,
                     const mpx_shared_opts *opts, shobj **out)
{
    if (!out || esize == 0 || type <= MPX_CT_NONE || type > MPX_CT_RAW)
        return MPX_EINVAL;
    struct mpx_lock *given = NULL;
    bool raw = opts && opts->raw;
    if (opts && opts->lock && !raw && !(given = mpx__lock_of(opts->lock)))
        return MPX_EINVAL;
    size_t lk = (!raw && !given) ? DATA_OFF_LOCKED : 0;
    if (len && esize > (SIZE_MAX - lk - 4096) / len)
        return -ENOMEM;
    size_t bytes = esize * len;
    mpx__seg *seg;
    size_t base;
    int rc = mpx__shalloc(lk + bytes, t == &value_type ? "mpx-value" : "mpx-array", &seg, &base);
    if (rc)
        return rc;
    size_t off = base + lk; /* the data; the lock word (if any) at base */
    if (init && bytes)
        memcpy((char *)seg->map.addr + off, init, bytes);
    mpx_context *ctx = opts ? opts->ctx : NULL;
    struct mpx_lock *lock = NULL;
    if (given) {
        lock = mpx__lock_ref(given);
    } else if (!raw) {
        mpx__lockw_init((mpx__lockw *)(void *)((char *)seg->map.addr + base));
        rc = mpx__lock_new(&lock, true, seg, base, ctx);
    }
    if (!rc)
        rc = sh_wrap(t, seg, off, type, esize, len, lock, ctx, out);
    if (rc) {
        mpx__lock_unref(lock);
        mpx__seg_unref(seg);
    }
    return rc;
}

static int sh_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    shobj *o = obj;
    int rc = mpx__buf_put_u32(data, (uint32_t)o->type);
    if (!rc)
        rc = mpx__buf_put_u64(data, o->esize);
    if (!rc)
        rc = mpx__buf_put_u64(data, o->len);
    if (!rc)
        rc = mpx__buf_put_u64(data, o->data_off);
    if (!rc)
        rc = mpx__seg_export(o->seg, data, fds);
    if (!rc)
        rc = mpx__lock_export_ref(o->lock, o->seg, data, fds);
    return rc;
}

static int sh_import(const mpx__objtype *t, mpx__rd *rd, const int *fds, int nfds, void **out)
{
    mpx__fdcur cur = {fds, nfds, 0};
    uint32_t type;
    uint64_t esize, len, off;
    mpx__seg *seg = NULL;
    struct mpx_lock *lock = NULL;
    int rc = mpx__rd_u32(rd, &type);
    if (!rc)
        rc = mpx__rd_u64(rd, &esize);
    if (!rc)
        rc = mpx__rd_u64(rd, &len);
    if (!rc)
        rc = mpx__rd_u64(rd, &off);
    if (!rc)
        rc = mpx__seg_import(rd, &cur, &seg);
    if (!rc)
        rc = mpx__lock_import_ref(rd, &cur, seg, &lock);
    mpx__fdcur_close_rest(&cur);
    if (!rc) {
        bool ok = type > MPX_CT_NONE && type <= MPX_CT_RAW && esize > 0 &&
                  (type == MPX_CT_RAW || esize == mpx_ctype_size((int)type)) &&
                  (t != &value_type || len == 1) &&
                  off <= seg->map.size && (len == 0 || esize <= (seg->map.size - off) / len);
        if (!ok)
            rc = MPX_EPROTO;
    }
    shobj *o = NULL;
    if (!rc)
        rc = sh_wrap(t, seg, (size_t)off, (int)type, (size_t)esize, (size_t)len, lock, NULL, &o);
    if (rc) {
        mpx__lock_unref(lock);
        mpx__seg_unref(seg);
        return rc;
    }
    *out = o;
    return 0;
}

static int value_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    return sh_import(&value_type, rd, fds, nfds, out);
}

static int array_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    return sh_import(&array_type, rd, fds, nfds, out);
}

/* ---- locked access ---------------------------------------------------------- */

static int sh_lock(shobj *o)
{
    if (!o->lock)
        return 0;
    return mpx__lk_acquire(o->lock, MPX_FOREVER); /* -EINTR: an interruptible lock */
}

static void sh_unlock(shobj *o)
{
    if (o->lock)
        mpx__lk_release(o->lock);
}

static int sh_rw(shobj *o, size_t start, size_t count, void *out, const void *in)
{
    if (!o || (!out && !in) || start > o->len || count > o->len - start)
        return MPX_EINVAL;
    int r = sh_lock(o);
    if (r && r != MPX_EOWNERDEAD)
        return r;
    if (out)
        memcpy(out, o->data + start * o->esize, count * o->esize);
    else
        memcpy(o->data + start * o->esize, in, count * o->esize);
    sh_unlock(o);
    return r;
}

/* One element read or written as its own type (the common get and set):
 * no conversion, the lock's uncontended path inline, a copy of known size
 * (#18: an Array get within 0.9 of a raw locked read). */
static inline void copy_elem(void *dst, const void *src, size_t n)
{
    switch (n) {
    case 1: memcpy(dst, src, 1); break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, n); break;
    }
}

/* Lock o for one element's access: 0 (brief hold or full acquire; *brief
 * says which), MPX_EOWNERDEAD (held; the previous owner died), or an
 * error (not held). */
static inline int sh_lock1(shobj *o, bool *brief)
{
    *brief = o->lock && MPX__LIKELY(mpx__lk_enter_brief(o->lock));
    if (*brief || !o->lock)
        return 0;
    return mpx__lk_acquire(o->lock, MPX_FOREVER); /* held already (RLock), or wait */
}

static inline void sh_unlock1(shobj *o, bool brief)
{
    if (brief)
        mpx__lk_exit_brief(o->lock);
    else if (o->lock)
        mpx__lk_release(o->lock);
}

static inline int sh_get1(shobj *o, size_t i, void *out)
{
    bool brief;
    int r = sh_lock1(o, &brief);
    if (r && r != MPX_EOWNERDEAD)
        return r;
    copy_elem(out, o->data + i * o->esize, o->esize);
    sh_unlock1(o, brief);
    return r;
}

static inline int sh_set1(shobj *o, size_t i, const void *in)
{
    bool brief;
    int r = sh_lock1(o, &brief);
    if (r && r != MPX_EOWNERDEAD)
        return r;
    copy_elem(o->data + i * o->esize, in, o->esize);
    sh_unlock1(o, brief);
    return r;
}

/* Elements [start, start+count) converted into count values of out_type
 * at out (one locked read; nothing is written to out unless every element
 * converts). */
static int sh_read_as(shobj *o, size_t start, size_t count, void *out, int out_type)
{
    if (!o || (!out && count) || start > o->len || count > o->len - start)
        return MPX_EINVAL;
    if (!count)
        return 0;
    if (!mpx__ct_scalar(out_type) || !mpx__ct_scalar(o->type))
        return MPX_EINVAL; /* void * or a raw element: the _bytes forms */
    if (out_type == o->type)
        return sh_rw(o, start, count, out, NULL);
    int r = sh_lock(o);
    if (r && r != MPX_EOWNERDEAD)
        return r;
    size_t osz = mpx_ctype_size(out_type);
    const unsigned char *src = o->data + start * o->esize;
    int rc = 0;
    for (size_t k = 0; k < count && !rc; k++) {
        mpx__num v = mpx__ct_load(o->type, src + k * o->esize);
        rc = mpx__ct_check(out_type, &v);
    }
    for (size_t k = 0; k < count && !rc; k++) {
        mpx__num v = mpx__ct_load(o->type, src + k * o->esize);
        mpx__ct_store(out_type, (unsigned char *)out + k * osz, &v);
    }
    sh_unlock(o);
    return rc ? rc : r;
}

/* count values of in_type at in, converted into elements [start, ...):
 * every value is checked before any is stored (a failed write changes
 * nothing). locked: take the object's lock (false for a new object). */
static int sh_write_as(shobj *o, size_t start, size_t count, const void *in, int in_type,
                       bool locked)
{
    if (!o || (!in && count) || start > o->len || count > o->len - start)
        return MPX_EINVAL;
    if (!count)
        return 0;
    if (!mpx__ct_scalar(in_type) || !mpx__ct_scalar(o->type))
        return MPX_EINVAL;
    size_t isz = mpx_ctype_size(in_type);
    const unsigned char *src = in;
    if (in_type != o->type) {
        for (size_t k = 0; k < count; k++) {
            mpx__num v = mpx__ct_load(in_type, src + k * isz);
            int rc = mpx__ct_check(o->type, &v);
            if (rc)
                return rc;
        }
    }
    int r = locked ? sh_lock(o) : 0;
    if (r && r != MPX_EOWNERDEAD)
        return r;
    unsigned char *dst = o->data + start * o->esize;
    if (in_type == o->type) {
        memcpy(dst, in, count * o->esize);
    } else {
        for (size_t k = 0; k < count; k++) {
            mpx__num v = mpx__ct_load(in_type, src + k * isz);
            mpx__ct_store(o->type, dst + k * o->esize, &v);
        }
    }
    if (locked)
        sh_unlock(o);
    return r;
}

/* One number (of the C type src_type at src) into element i. */
static int sh_set_as(shobj *o, size_t i, const void *src, int src_type)
{
    if (o && src && i < o->len && src_type == o->type && mpx__ct_scalar(src_type))
        return sh_set1(o, i, src);
    return sh_write_as(o, i, 1, src, src_type, true);
}

static int sh_get_lock(shobj *o, void **lock)
{
    if (!o || !lock)
        return MPX_EINVAL;
    if (!o->lock)
        return MPX_ESTATE;
    *lock = o->lock;
    return 0;
}

static int sh_acquire(shobj *o, mpx_duration timeout)
{
    if (!o)
        return MPX_EINVAL;
    if (!o->lock)
        return MPX_ESTATE;
    int r = mpx__lk_acquire(o->lock, timeout);
    return r == 0 ? 1 : r == MPX_ETIMEDOUT ? 0 : r; /* yes/no (docs/design.md) */
}

static int sh_release(shobj *o)
{
    if (!o)
        return MPX_EINVAL;
    if (!o->lock)
        return MPX_ESTATE;
    return mpx__lk_release(o->lock);
}

static int sh_sync_acquire(void *obj, mpx_duration timeout)
{
    return sh_acquire(obj, timeout);
}

static int sh_sync_release(void *obj)
{
    return sh_release(obj);
}

static int sh_copy(shobj *o, const mpx__objtype *t, shobj **out)
{
    if (!o || !out)
        return MPX_EINVAL;
    mpx_shared_opts raw = {.raw = 1, .ctx = o->hdr.ctx};
    shobj *n;
    int rc = sh_create(t, o->type, o->esize, o->len, NULL, &raw, &n);
    if (rc)
        return rc;
    rc = sh_rw(o, 0, o->len, n->data, NULL);
    if (rc && rc != MPX_EOWNERDEAD) {
        sh_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int sh_synchronized(shobj *o, const mpx__objtype *t, void *lock, shobj **out)
{
    if (!o || !out)
        return MPX_EINVAL;
    struct mpx_lock *l = NULL;
    int rc = 0;
    if (lock) {
        if (!(l = mpx__lock_of(lock)))
            return MPX_EINVAL;
        mpx__lock_ref(l);
    } else {
        rc = mpx__lock_new(&l, true, NULL, 0, o->hdr.ctx);
        if (rc)
            return rc;
    }
    rc = sh_wrap(t, mpx__seg_ref(o->seg), o->data_off, o->type, o->esize, o->len, l, o->hdr.ctx,
                 out);
    if (rc) {
        mpx__seg_unref(o->seg);
        mpx__lock_unref(l);
    }
    return rc;
}

/* Python's repr of a float: the shortest form that reads back the same. */
static void fmt_double(char *buf, size_t n, double x)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    if (isfinite(x) && !strpbrk(buf, ".en"))
        strncat(buf, ".0", n - strlen(buf) - 1);
}

static int fmt_elem(mpx__buf *b, shobj *o, const unsigned char *p)
{
    char num[64];
    switch (o->type) {
    case MPX_CT_FLOAT: {
        float f;
        memcpy(&f, p, 4);
        fmt_double(num, sizeof num, f);
        return mpx__buf_printf(b, "%s", num);
    }
    case MPX_CT_DOUBLE: {
        double d;
        memcpy(&d, p, 8);
        fmt_double(num, sizeof num, d);
        return mpx__buf_printf(b, "%s", num);
    }
    case MPX_CT_UINT64: {
        uint64_t u;
        memcpy(&u, p, 8);
        return mpx__buf_printf(b, "%" PRIu64, u);
    }
    case MPX_CT_BOOL: return mpx__buf_printf(b, "%s", *p ? "True" : "False");
    case MPX_CT_CHAR:
        if (*p >= 32 && *p < 127 && *p != '\'' && *p != '\\')
            return mpx__buf_printf(b, "b'%c'", *p);
        return mpx__buf_printf(b, "b'\\x%02x'", *p);
    case MPX_CT_RAW: return mpx__buf_printf(b, "<%zu bytes>", o->esize);
    default: return mpx__buf_printf(b, "%" PRId64, mpx__ct_load(o->type, p).s);
    }
}

static char *sh_describe(shobj *o, bool array)
{
    if (!o)
        return NULL;
    mpx__buf b;
    mpx__buf_init(&b);
    const char *tn = mpx_ctype_name(o->type);
    int rc = 0;
    if (array) {
        const char *w = o->type == MPX_CT_CHAR ? "SynchronizedString" : "SynchronizedArray";
        if (o->lock)
            rc = mpx__buf_printf(&b, "<%s wrapper for ", w);
        if (!rc)
            rc = mpx__buf_printf(&b, "%s_Array_%zu", tn, o->len);
        if (!rc && o->lock)
            rc = mpx__buf_printf(&b, ">");
    } else {
        unsigned char tmp[64];
        unsigned char *p = o->data;
        int lr = 0;
        if (o->esize <= sizeof tmp) {
            lr = sh_rw(o, 0, 1, tmp, NULL);
            p = tmp;
        }
        if (lr && lr != MPX_EOWNERDEAD)
            rc = lr;
        if (!rc && o->lock)
            rc = mpx__buf_printf(&b, "<Synchronized wrapper for ");
        if (!rc)
            rc = mpx__buf_printf(&b, "%s(", tn);
        if (!rc)
            rc = fmt_elem(&b, o, p);
        if (!rc)
            rc = mpx__buf_printf(&b, ")%s", o->lock ? ">" : "");
    }
    return mpx__buf_to_str(&b, rc);
}

/* ---- Value ---------------------------------------------------------------------- */

/* A new Value of the type named by typecode from the number (src_type at
 * src), converted and checked before anything is made. */
static int value_new(mpx_value **out, const char *typecode, const void *src, int src_type,
                     const mpx_shared_opts *opts)
{
    int t = mpx_ctype_from_typecode(typecode);
    if (t < 0)
        return t;
    unsigned char init[8];
    int rc = mpx__ct_convert(t, init, src_type, src);
    if (rc)
        return rc;
    return sh_create(&value_type, t, mpx_ctype_size(t), 1, init, opts, (shobj **)out);
}

MPX_API int mpx_value_create_i64(mpx_value **out, const char *typecode, int64_t init,
                                 const mpx_shared_opts *opts)
{
    return value_new(out, typecode, &init, MPX_CT_INT64, opts);
}

MPX_API int mpx_value_create_u64(mpx_value **out, const char *typecode, uint64_t init,
                                 const mpx_shared_opts *opts)
{
    return value_new(out, typecode, &init, MPX_CT_UINT64, opts);
}

MPX_API int mpx_value_create_f64(mpx_value **out, const char *typecode, double init,
                                 const mpx_shared_opts *opts)
{
    return value_new(out, typecode, &init, MPX_CT_DOUBLE, opts);
}

MPX_API int mpx_value_create_bytes(mpx_value **out, const char *typecode, const void *init,
                                   const mpx_shared_opts *opts)
{
    int t = mpx_ctype_from_typecode(typecode);
    if (t < 0)
        return t;
    return sh_create(&value_type, t, mpx_ctype_size(t), 1, init, opts, (shobj **)out);
}

MPX_API int mpx_value_create_sized(mpx_value **out, size_t size, const void *init,
                                   const mpx_shared_opts *opts)
{
    return sh_create(&value_type, MPX_CT_RAW, size, 1, init, opts, (shobj **)out);
}

MPX_API void mpx_value_destroy(mpx_value *v)
{
    shobj *o = V(v);
    if (o)
        sh_free(o);
}

MPX_API void *mpx_value_ptr(mpx_value *v)
{
    shobj *o = V(v);
    return o ? o->data : NULL;
}

MPX_API size_t mpx_value_size(mpx_value *v)
{
    shobj *o = V(v);
    return o ? o->esize : 0;
}

MPX_API int mpx_value_type(mpx_value *v)
{
    shobj *o = V(v);
    return o ? o->type : MPX_EINVAL;
}

MPX_API int mpx_value_get_as(mpx_value *v, void *out, int out_type)
{
    shobj *o = V(v);
    if (o && out && out_type == o->type && mpx__ct_scalar(out_type))
        return sh_get1(o, 0, out);
    return out ? sh_read_as(o, 0, 1, out, out_type) : MPX_EINVAL;
}

MPX_API int mpx_value_get_i64(mpx_value *v, int64_t *out)
{
    return mpx_value_get_as(v, out, MPX_CT_INT64);
}

MPX_API int mpx_value_get_u64(mpx_value *v, uint64_t *out)
{
    return mpx_value_get_as(v, out, MPX_CT_UINT64);
}

MPX_API int mpx_value_get_f64(mpx_value *v, double *out)
{
    return mpx_value_get_as(v, out, MPX_CT_DOUBLE);
}

MPX_API int mpx_value_set_i64(mpx_value *v, int64_t x)
{
    return sh_set_as(V(v), 0, &x, MPX_CT_INT64);
}

MPX_API int mpx_value_set_u64(mpx_value *v, uint64_t x)
{
    return sh_set_as(V(v), 0, &x, MPX_CT_UINT64);
}

MPX_API int mpx_value_set_f64(mpx_value *v, double x)
{
    return sh_set_as(V(v), 0, &x, MPX_CT_DOUBLE);
}

MPX_API int mpx_value_get_bytes(mpx_value *v, void *out)
{
    return out ? sh_rw(V(v), 0, 1, out, NULL) : MPX_EINVAL;
}

MPX_API int mpx_value_set_bytes(mpx_value *v, const void *in)
{
    return in ? sh_rw(V(v), 0, 1, NULL, in) : MPX_EINVAL;
}

MPX_API int mpx_value_get_lock(mpx_value *v, void **lock)
{
    return sh_get_lock(V(v), lock);
}

MPX_API int mpx_value_acquire(mpx_value *v, mpx_duration timeout)
{
    return sh_acquire(V(v), timeout);
}

MPX_API int mpx_value_release(mpx_value *v)
{
    return sh_release(V(v));
}

MPX_API int mpx_value_copy(mpx_value *v, mpx_value **out)
{
    return sh_copy(V(v), &value_type, (shobj **)out);
}

MPX_API int mpx_value_synchronized(mpx_value *v, void *lock, mpx_value **out)
{
    return sh_synchronized(V(v), &value_type, lock, (shobj **)out);
}

MPX_API char *mpx_value_describe(mpx_value *v)
{
    return sh_describe(V(v), false);
}

/* ---- Array ---------------------------------------------------------------------- */

MPX_API int mpx_array_create_as(mpx_array **out, const char *typecode, size_t length,
                                const void *init, int init_type, const mpx_shared_opts *opts)
{
    int t = mpx_ctype_from_typecode(typecode);
    if (t < 0)
        return t;
    if (init && !mpx__ct_scalar(init_type))
        return MPX_EINVAL; /* a void * of bytes: mpx_array_create_bytes */
    if (init && init_type != t) {
        /* check every value first: nothing is made when one fails */
        size_t isz = mpx_ctype_size(init_type);
        for (size_t k = 0; k < length; k++) {
            mpx__num v = mpx__ct_load(init_type, (const unsigned char *)init + k * isz);
            int rc = mpx__ct_check(t, &v);
            if (rc)
                return rc;
        }
    }
    shobj *o;
    int rc = sh_create(&array_type, t, mpx_ctype_size(t), length,
                       init && init_type == t ? init : NULL, opts, &o);
    if (rc)
        return rc;
    if (init && init_type != t)
        sh_write_as(o, 0, length, init, init_type, false); /* checked: cannot fail */
    *out = (mpx_array *)o;
    return 0;
}

MPX_API int mpx_array_create_bytes(mpx_array **out, const char *typecode, size_t length,
                                   const void *init, const mpx_shared_opts *opts)
{
    int t = mpx_ctype_from_typecode(typecode);
    if (t < 0)
        return t;
    return sh_create(&array_type, t, mpx_ctype_size(t), length, init, opts, (shobj **)out);
}

MPX_API int mpx_array_create_sized(mpx_array **out, size_t elem_size, size_t length,
                                   const void *init, const mpx_shared_opts *opts)
{
    return sh_create(&array_type, MPX_CT_RAW, elem_size, length, init, opts, (shobj **)out);
}

MPX_API void mpx_array_destroy(mpx_array *a)
{
    shobj *o = A(a);
    if (o)
        sh_free(o);
}

MPX_API void *mpx_array_ptr(mpx_array *a)
{
    shobj *o = A(a);
    return o ? o->data : NULL;
}

MPX_API size_t mpx_array_len(mpx_array *a)
{
    shobj *o = A(a);
    return o ? o->len : 0;
}

MPX_API size_t mpx_array_elem_size(mpx_array *a)
{
    shobj *o = A(a);
    return o ? o->esize : 0;
}

MPX_API int mpx_array_type(mpx_array *a)
{
    shobj *o = A(a);
    return o ? o->type : MPX_EINVAL;
}

MPX_API int mpx_array_get_as(mpx_array *a, size_t i, void *out, int out_type)
{
    shobj *o = A(a);
    if (!o || !out || i >= o->len)
        return MPX_EINVAL;
    if (MPX__LIKELY(out_type == o->type && mpx__ct_scalar(out_type)))
        return sh_get1(o, i, out);
    return sh_read_as(o, i, 1, out, out_type);
}

MPX_API int mpx_array_get_i64(mpx_array *a, size_t i, int64_t *out)
{
    return mpx_array_get_as(a, i, out, MPX_CT_INT64);
}

MPX_API int mpx_array_get_u64(mpx_array *a, size_t i, uint64_t *out)
{
    return mpx_array_get_as(a, i, out, MPX_CT_UINT64);
}

MPX_API int mpx_array_get_f64(mpx_array *a, size_t i, double *out)
{
    return mpx_array_get_as(a, i, out, MPX_CT_DOUBLE);
}

static int arr_set(mpx_array *a, size_t i, const void *x, int type)
{
    shobj *o = A(a);
    return o && i < o->len ? sh_set_as(o, i, x, type) : MPX_EINVAL;
}

MPX_API int mpx_array_set_i64(mpx_array *a, size_t i, int64_t x)
{
    return arr_set(a, i, &x, MPX_CT_INT64);
}

MPX_API int mpx_array_set_u64(mpx_array *a, size_t i, uint64_t x)
{
    return arr_set(a, i, &x, MPX_CT_UINT64);
}

MPX_API int mpx_array_set_f64(mpx_array *a, size_t i, double x)
{
    return arr_set(a, i, &x, MPX_CT_DOUBLE);
}

MPX_API int mpx_array_read_as(mpx_array *a, size_t start, size_t count, void *out,
                              int out_type)
{
    return sh_read_as(A(a), start, count, out, out_type);
}

MPX_API int mpx_array_write_as(mpx_array *a, size_t start, size_t count, const void *in,
                               int in_type)
{
    return sh_write_as(A(a), start, count, in, in_type, true);
}

MPX_API int mpx_array_get_bytes(mpx_array *a, size_t i, void *out)
{
    shobj *o = A(a);
    return o && out && i < o->len ? sh_rw(o, i, 1, out, NULL) : MPX_EINVAL;
}

MPX_API int mpx_array_set_bytes(mpx_array *a, size_t i, const void *in)
{
    shobj *o = A(a);
    return o && in && i < o->len ? sh_rw(o, i, 1, NULL, in) : MPX_EINVAL;
}

MPX_API int mpx_array_read_bytes(mpx_array *a, size_t start, size_t count, void *out)
{
    if (!out && count)
        return MPX_EINVAL;
    if (!count) {
        shobj *o = A(a);
        return o && start <= o->len ? 0 : MPX_EINVAL;
    }
    return sh_rw(A(a), start, count, out, NULL);
}

MPX_API int mpx_array_write_bytes(mpx_array *a, size_t start, size_t count, const void *in)
{
    if (!in && count)
        return MPX_EINVAL;
    if (!count) {
        shobj *o = A(a);
        return o && start <= o->len ? 0 : MPX_EINVAL;
    }
    return sh_rw(A(a), start, count, NULL, in);
}

static bool is_bytes_type(int t)
{
    return t == MPX_CT_CHAR || t == MPX_CT_INT8 || t == MPX_CT_UINT8;
}

MPX_API int mpx_array_get_str(mpx_array *a, char *buf, size_t cap)
{
    shobj *o = A(a);
    if (!o || !buf || !is_bytes_type(o->type))
        return MPX_EINVAL;
    int r = sh_lock(o);
    if (r && r != MPX_EOWNERDEAD)
        return r;
    const unsigned char *nul = memchr(o->data, 0, o->len);
    size_t n = nul ? (size_t)(nul - o->data) : o->len;
    if (n + 1 > cap) {
        sh_unlock(o);
        return MPX_ETOOSHORT;
    }
    memcpy(buf, o->data, n);
    buf[n] = 0;
    sh_unlock(o);
    return r;
}

MPX_API int mpx_array_set_str(mpx_array *a, const char *s)
{
    shobj *o = A(a);
    if (!o || !s || !is_bytes_type(o->type))
        return MPX_EINVAL;
    size_t n = strlen(s);
    if (n > o->len)
        return MPX_EINVAL;
    int r = sh_lock(o);
    if (r && r != MPX_EOWNERDEAD)
        return r;
    memcpy(o->data, s, n);
    if (n < o->len)
        o->data[n] = 0;
    sh_unlock(o);
    return r;
}

MPX_API int mpx_array_get_lock(mpx_array *a, void **lock)
{
    return sh_get_lock(A(a), lock);
}

MPX_API int mpx_array_acquire(mpx_array *a, mpx_duration timeout)
{
    return sh_acquire(A(a), timeout);
}

MPX_API int mpx_array_release(mpx_array *a)
{
    return sh_release(A(a));
}

MPX_API int mpx_array_copy(mpx_array *a, mpx_array **out)
{
    return sh_copy(A(a), &array_type, (shobj **)out);
}

MPX_API int mpx_array_synchronized(mpx_array *a, void *lock, mpx_array **out)
{
    return sh_synchronized(A(a), &array_type, lock, (shobj **)out);
}

MPX_API char *mpx_array_describe(mpx_array *a)
{
    return sh_describe(A(a), true);
}

__attribute__((constructor)) static void sharedctypes_register(void)
{
    mpx__objtype_register(&value_type);
    mpx__objtype_register(&array_type);
}
