/*
 * core/sync_lock.c - Lock and RLock objects (SYNC-02..08): handles, export
 * and import, the recursive level, describe, the public API. The lock
 * word itself (acquire, release, owner death) is core/lockword.c.
 */
#include "core/sync_internal.h"

#include <limits.h>
#include <stdlib.h>

struct mpx_rlock {
    struct mpx_lock base;
};

static int lock_export(void *obj, mpx__buf *data, mpx__fdlist *fds);
static int lock_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static int rlock_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static void lock_drop(void *obj);

static int lock_sync_acquire(void *obj, mpx_duration timeout);
static int lock_sync_release(void *obj);
static char *lock_sync_describe(void *obj);

mpx__objtype mpx__lock_type = {.name = "lock",
                               .export_ = lock_export,
                               .import_ = lock_import,
                               .drop = lock_drop,
                               .acquire = lock_sync_acquire,
                               .release = lock_sync_release,
                               .describe = lock_sync_describe};
mpx__objtype mpx__rlock_type = {.name = "rlock",
                                .export_ = lock_export,
                                .import_ = rlock_import,
                                .drop = lock_drop,
                                .acquire = lock_sync_acquire,
                                .release = lock_sync_release,
                                .describe = lock_sync_describe};

int mpx__lock_new(struct mpx_lock **out, bool recursive, mpx__seg *seg, size_t off,
                  mpx_context *ctx)
{
    struct mpx_lock *l = calloc(1, recursive ? sizeof(struct mpx_rlock) : sizeof *l);
    if (!l)
        return -ENOMEM;
    if (seg) {
        l->seg = mpx__seg_ref(seg);
    } else {
        int rc = mpx__shalloc(sizeof(mpx__lockw), "mpx-lock", &l->seg, &off);
        if (rc) {
            free(l);
            return rc;
        }
        mpx__lockw_init((mpx__lockw *)(void *)((char *)l->seg->map.addr + off));
    }
    l->off = off;
    l->w = (mpx__lockw *)(void *)((char *)l->seg->map.addr + off);
    l->recursive = recursive;
    atomic_init(&l->refs, 1);
    mpx__obj_init(&l->hdr, recursive ? &mpx__rlock_type : &mpx__lock_type, ctx);
    *out = l;
    return 0;
}

struct mpx_lock *mpx__lock_of(void *p)
{
    mpx__obj *o = mpx__obj_of(p);
    if (!o || (o->type != &mpx__lock_type && o->type != &mpx__rlock_type))
        return NULL;
    return p;
}

static struct mpx_lock *lock_typed(void *p, bool recursive)
{
    mpx__obj *o = mpx__obj_of(p);
    if (!o || o->type != (recursive ? &mpx__rlock_type : &mpx__lock_type))
        return NULL;
    return p;
}

struct mpx_lock *mpx__lock_ref(struct mpx_lock *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    return l;
}

void mpx__lock_unref(struct mpx_lock *l)
{
    if (!l || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    l->hdr.magic = 0;
    mpx__seg_unref(l->seg);
    free(l);
}

static void lock_drop(void *obj)
{
    mpx__lock_unref(obj);
}

static int lock_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    struct mpx_lock *l = obj;
    int rc = mpx__buf_put_u64(data, (uint64_t)l->off);
    if (!rc)
        rc = mpx__seg_export(l->seg, data, fds);
    return rc;
}

static bool lockw_at(mpx__seg *seg, uint64_t off)
{
    return off <= seg->map.size && seg->map.size - off >= sizeof(mpx__lockw) && off % 8 == 0 &&
           ((mpx__lockw *)(void *)((char *)seg->map.addr + off))->magic == MPX__LOCKW_MAGIC;
}

static int lock_import_common(mpx__rd *rd, const int *fds, int nfds, void **out, bool rec)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg = NULL;
    uint64_t off;
    int rc = mpx__rd_u64(rd, &off);
    if (!rc)
        rc = mpx__seg_import(rd, &cur, &seg);
    mpx__fdcur_close_rest(&cur);
    if (rc)
        return rc;
    if (!lockw_at(seg, off)) {
        mpx__seg_unref(seg);
        return MPX_EPROTO;
    }
    struct mpx_lock *l;
    rc = mpx__lock_new(&l, rec, seg, (size_t)off, NULL);
    mpx__seg_unref(seg);
    if (!rc)
        *out = l;
    return rc;
}

static int lock_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    return lock_import_common(rd, fds, nfds, out, false);
}

static int rlock_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    return lock_import_common(rd, fds, nfds, out, true);
}

int mpx__lock_export_ref(struct mpx_lock *l, mpx__seg *seg, mpx__buf *data, mpx__fdlist *fds)
{
    if (!l || l->seg != seg)
        return mpx__obj_export_nested(l, data, fds);
    int rc = mpx__buf_put_u8(data, 2);
    if (!rc)
        rc = mpx__buf_put_u8(data, l->recursive);
    if (!rc)
        rc = mpx__buf_put_u64(data, l->off);
    return rc;
}

int mpx__lock_import_ref(mpx__rd *rd, mpx__fdcur *cur, mpx__seg *seg, struct mpx_lock **out)
{
    uint8_t mode, rec;
    uint64_t off;
    void *obj = NULL;
    *out = NULL;
    int rc = mpx__rd_u8(rd, &mode);
    if (rc || mode == 0)
        return rc;
    if (mode == 1) {
        rc = mpx__obj_import_nested_body(rd, cur, &obj);
        if (!rc && !mpx__lock_of(obj)) {
            mpx__obj_drop_nested(obj);
            rc = MPX_EPROTO;
        }
        if (!rc)
            *out = obj;
        return rc;
    }
    if (mode != 2)
        return MPX_EPROTO;
    rc = mpx__rd_u8(rd, &rec);
    if (!rc)
        rc = mpx__rd_u64(rd, &off);
    if (!rc && (rec > 1 || !lockw_at(seg, off)))
        rc = MPX_EPROTO;
    if (!rc)
        rc = mpx__lock_new(out, rec != 0, seg, (size_t)off, NULL);
    return rc;
}

/* The recursive and contended paths of mpx__lk_acquire (sync_internal.h),
 * after its compare-and-swap from free failed. */
int mpx__lk_acquire_slow(struct mpx_lock *l, uint64_t me, mpx_duration timeout)
{
    mpx__lockw *w = l->w;
    if (!l->recursive)
        return mpx__lockw_acquire(w, me, timeout, true);
    uint32_t tid = mpx__self_tid();
    uint64_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
    if ((v & ~MPX__LK_FLAGBITS) == me && atomic_load_explicit(&w->tid, memory_order_relaxed) == tid) {
        uint32_t c = atomic_load_explicit(&w->count, memory_order_relaxed);
        if (c >= (uint32_t)INT_MAX)
            return -EOVERFLOW;
        atomic_store_explicit(&w->count, c + 1, memory_order_relaxed);
        return 0;
    }
    int r = mpx__lockw_acquire(w, me, timeout, true);
    if (r == 0 || r == MPX_EOWNERDEAD) {
        atomic_store_explicit(&w->tid, tid, memory_order_relaxed);
        atomic_store_explicit(&w->count, 1, memory_order_relaxed);
    }
    return r;
}

static bool rlock_mine(mpx__lockw *w)
{
    uint64_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
    return v != 0 && (v & ~MPX__LK_FLAGBITS) == mpx__self_token() &&
           atomic_load_explicit(&w->tid, memory_order_relaxed) == mpx__self_tid();
}

/* An RLock's release at a depth above 1, or by a thread that does not own
 * it (mpx__lk_release took the common case). */
int mpx__lk_release_slow(struct mpx_lock *l)
{
    mpx__lockw *w = l->w;
    if (!l->recursive)
        return mpx__lockw_release(w);
    if (!rlock_mine(w))
        return MPX_ESTATE;
    uint32_t c = atomic_load_explicit(&w->count, memory_order_relaxed);
    if (c > 1) {
        atomic_store_explicit(&w->count, c - 1, memory_order_relaxed);
        return 0;
    }
    atomic_store_explicit(&w->count, 0, memory_order_relaxed);
    atomic_store_explicit(&w->tid, 0, memory_order_relaxed);
    return mpx__lockw_release(w);
}

bool mpx__lk_is_mine(struct mpx_lock *l)
{
    if (l->recursive)
        return rlock_mine(l->w);
    uint64_t v = atomic_load_explicit(&l->w->word, memory_order_relaxed);
    return v != 0 && (v & ~MPX__LK_FLAGBITS) == mpx__self_token();
}

int mpx__lk_release_save(struct mpx_lock *l, uint32_t *saved)
{
    if (!l->recursive) {
        *saved = 1;
        return mpx__lockw_release(l->w);
    }
    if (!rlock_mine(l->w))
        return MPX_ESTATE;
    *saved = atomic_load_explicit(&l->w->count, memory_order_relaxed);
    atomic_store_explicit(&l->w->count, 0, memory_order_relaxed);
    atomic_store_explicit(&l->w->tid, 0, memory_order_relaxed);
    return mpx__lockw_release(l->w);
}

int mpx__lk_acquire_restore(struct mpx_lock *l, uint32_t saved, bool slept)
{
    int r;
    uint64_t me = mpx__self_token() | (slept ? MPX__LK_W64 : 0);
    do
        r = mpx__lockw_acquire(l->w, me, MPX_FOREVER, false);
    while (r != 0 && r != MPX_EOWNERDEAD);
    if (l->recursive) {
        atomic_store_explicit(&l->w->tid, mpx__self_tid(), memory_order_relaxed);
        atomic_store_explicit(&l->w->count, saved ? saved : 1, memory_order_relaxed);
    }
    return r;
}

int mpx__lk_describe(struct mpx_lock *l, mpx__buf *b)
{
    uint64_t v = atomic_load_explicit(&l->w->word, memory_order_relaxed);
    bool suspect = atomic_load_explicit(&l->w->flags, memory_order_relaxed) & MPX__LKF_SUSPECT;
    const char *died = suspect ? ", owner died" : "";
    if (!l->recursive) {
        const char *owner = v == 0                          ? "None"
                            : (v & ~MPX__LK_FLAGBITS) == mpx__self_token()     ? mpx__process_name()
                                                             : "SomeOtherProcess";
        return mpx__buf_printf(b, "<Lock(owner=%s%s)>", owner, died);
    }
    uint32_t count = atomic_load_explicit(&l->w->count, memory_order_relaxed);
    if (v == 0)
        return mpx__buf_printf(b, "<RLock(None, 0)%s>", died);
    if ((v & ~MPX__LK_FLAGBITS) == mpx__self_token()) {
        if (atomic_load_explicit(&l->w->tid, memory_order_relaxed) == mpx__self_tid())
            return mpx__buf_printf(b, "<RLock(%s, %u)%s>", mpx__process_name(), count, died);
        return mpx__buf_printf(b, "<RLock(SomeOtherThread, nonzero)%s>", died);
    }
    return mpx__buf_printf(b, "<RLock(SomeOtherProcess, nonzero)%s>", died);
}

static char *lk_describe_str(struct mpx_lock *l)
{
    mpx__buf b;
    mpx__buf_init(&b);
    int rc = mpx__lk_describe(l, &b);
    return mpx__buf_to_str(&b, rc);
}

/* The generic calls (mpx_sync_acquire ...), through the type's hooks. */

static int lock_sync_acquire(void *obj, mpx_duration timeout)
{
    return mpx__yes_no(mpx__lk_acquire(obj, timeout));
}

static int lock_sync_release(void *obj)
{
    return mpx__lk_release(obj);
}

static char *lock_sync_describe(void *obj)
{
    return lk_describe_str(obj);
}

/* Public Lock API. */

static int lock_create(struct mpx_lock **out, bool recursive, const mpx_sync_opts *opts)
{
    if (!out)
        return MPX_EINVAL;
    int rc = mpx__lock_new(out, recursive, NULL, 0, opts ? opts->ctx : NULL);
    if (!rc && opts && opts->interruptible)
        mpx__lockw_set_interruptible((*out)->w);
    return rc;
}

MPX_API int mpx_lock_create(mpx_lock **out, const mpx_sync_opts *opts)
{
    return lock_create((struct mpx_lock **)out, false, opts);
}

MPX_API void mpx_lock_destroy(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (x)
        mpx__lock_unref(x);
}

MPX_API int mpx_lock_acquire(mpx_lock *l, mpx_duration timeout)
{
    struct mpx_lock *x = (struct mpx_lock *)l;
    if (MPX__UNLIKELY(!x || x->hdr.magic != MPX__OBJ_MAGIC || x->hdr.type != &mpx__lock_type))
        return MPX_EINVAL;
    return mpx__yes_no(mpx__lockw_acquire(x->w, mpx__self_token(), timeout, true));
}

MPX_API int mpx_lock_release(mpx_lock *l)
{
    struct mpx_lock *x = (struct mpx_lock *)l;
    if (MPX__UNLIKELY(!x || x->hdr.magic != MPX__OBJ_MAGIC || x->hdr.type != &mpx__lock_type))
        return MPX_EINVAL;
    return mpx__lockw_release(x->w);
}

MPX_API int mpx_lock_locked(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (!x)
        return MPX_EINVAL;
    return atomic_load_explicit(&x->w->word, memory_order_relaxed) != 0;
}

MPX_API pid_t mpx_lock_owner(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (!x)
        return 0;
    return (pid_t)(atomic_load_explicit(&x->w->word, memory_order_relaxed) & MPX__LK_PIDMASK);
}

MPX_API int mpx_lock_suspect(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (!x)
        return MPX_EINVAL;
    return (atomic_load_explicit(&x->w->flags, memory_order_relaxed) & MPX__LKF_SUSPECT) != 0;
}

MPX_API int mpx_lock_consistent(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (!x)
        return MPX_EINVAL;
    atomic_fetch_and_explicit(&x->w->flags, ~MPX__LKF_SUSPECT, memory_order_relaxed);
    return 0;
}

MPX_API char *mpx_lock_describe(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    return x ? lk_describe_str(x) : NULL;
}

/* Public RLock API. */

MPX_API int mpx_rlock_create(mpx_rlock **out, const mpx_sync_opts *opts)
{
    return lock_create((struct mpx_lock **)out, true, opts);
}

MPX_API void mpx_rlock_destroy(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (x)
        mpx__lock_unref(x);
}

MPX_API int mpx_rlock_acquire(mpx_rlock *l, mpx_duration timeout)
{
    struct mpx_lock *x = (struct mpx_lock *)l;
    if (MPX__UNLIKELY(!x || x->hdr.magic != MPX__OBJ_MAGIC || x->hdr.type != &mpx__rlock_type))
        return MPX_EINVAL;
    return mpx__yes_no(mpx__lk_acquire(x, timeout));
}

MPX_API int mpx_rlock_release(mpx_rlock *l)
{
    struct mpx_lock *x = (struct mpx_lock *)l;
    if (MPX__UNLIKELY(!x || x->hdr.magic != MPX__OBJ_MAGIC || x->hdr.type != &mpx__rlock_type))
        return MPX_EINVAL;
    return mpx__lk_release(x);
}

MPX_API int mpx_rlock_count(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (!x)
        return MPX_EINVAL;
    if (atomic_load_explicit(&x->w->word, memory_order_relaxed) == 0)
        return 0;
    return (int)atomic_load_explicit(&x->w->count, memory_order_relaxed);
}

MPX_API pid_t mpx_rlock_owner(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (!x)
        return 0;
    return (pid_t)(atomic_load_explicit(&x->w->word, memory_order_relaxed) & MPX__LK_PIDMASK);
}

MPX_API int mpx_rlock_is_mine(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    return x ? rlock_mine(x->w) : MPX_EINVAL;
}

MPX_API int mpx_rlock_suspect(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (!x)
        return MPX_EINVAL;
    return (atomic_load_explicit(&x->w->flags, memory_order_relaxed) & MPX__LKF_SUSPECT) != 0;
}

MPX_API int mpx_rlock_consistent(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (!x)
        return MPX_EINVAL;
    atomic_fetch_and_explicit(&x->w->flags, ~MPX__LKF_SUSPECT, memory_order_relaxed);
    return 0;
}

MPX_API char *mpx_rlock_describe(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    return x ? lk_describe_str(x) : NULL;
}
