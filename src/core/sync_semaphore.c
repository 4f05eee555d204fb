/*
 * core/sync_semaphore.c - Semaphore and BoundedSemaphore (SYNC-09..11): a
 * counter word and a sleeper count in shared memory, futex waits.
 */
#include "core/sync_internal.h"
#include "os/intr.h"

#include <stddef.h>
#include <stdlib.h>

#define SEMW_MAGIC 0x73656d61u /* "sema" */

typedef struct mpx__semw {
    _Atomic uint32_t value;
    _Atomic uint32_t nwait;
    uint32_t max; /* 0: unbounded */
    uint32_t magic;
    uint32_t flags; /* MPX__LKF_INTR */
} mpx__semw;

struct mpx_semaphore {
    MPX__SEGOBJ_FIELDS(mpx__semw, s);
};

static int sem_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static int sem_sync_acquire(void *obj, mpx_duration timeout);
static int sem_sync_release(void *obj);
static char *sem_sync_describe(void *obj);

mpx__objtype mpx__sem_type = {.name = "semaphore",
                              .export_ = mpx__segobj_export,
                              .import_ = sem_import,
                              .drop = mpx__segobj_free,
                              .acquire = sem_sync_acquire,
                              .release = sem_sync_release,
                              .describe = sem_sync_describe};

static int sem_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg;
    size_t off;
    int rc = mpx__segobj_import_seg(rd, &cur, sizeof(mpx__semw), offsetof(mpx__semw, magic),
                                    SEMW_MAGIC, &seg, &off);
    mpx__fdcur_close_rest(&cur);
    if (rc)
        return rc;
    mpx__semw *w = (mpx__semw *)(void *)((char *)seg->map.addr + off);
    if ((w->max & 0x7fffffffu) > MPX_SEM_VALUE_MAX)
        rc = MPX_EPROTO;
    if (!rc)
        rc = mpx__segobj_new(sizeof(mpx_semaphore), &mpx__sem_type, seg, off, NULL, out);
    if (rc)
        mpx__seg_unref(seg);
    return rc;
}

static int sem_create(mpx_semaphore **out, unsigned value, unsigned max, const mpx_sync_opts *o)
{
    if (!out || value > MPX_SEM_VALUE_MAX)
        return MPX_EINVAL;
    mpx__seg *seg;
    size_t off;
    int rc = mpx__shalloc(sizeof(mpx__semw), "mpx-semaphore", &seg, &off);
    if (rc)
        return rc;
    mpx__semw *w = (mpx__semw *)(void *)((char *)seg->map.addr + off);
    atomic_init(&w->value, value);
    atomic_init(&w->nwait, 0);
    w->max = max;
    w->flags = o && o->interruptible ? MPX__LKF_INTR : 0;
    w->magic = SEMW_MAGIC;
    rc = mpx__segobj_new(sizeof(mpx_semaphore), &mpx__sem_type, seg, off, o ? o->ctx : NULL,
                         (void **)out);
    if (rc)
        mpx__seg_unref(seg);
    return rc;
}

MPX_API int mpx_semaphore_create(mpx_semaphore **out, unsigned value, const mpx_sync_opts *opts)
{
    return sem_create(out, value, 0, opts);
}

MPX_API int mpx_bounded_semaphore_create(mpx_semaphore **out, unsigned value,
                                         const mpx_sync_opts *opts)
{
    /* A bound of 0 would mean "unbounded": a BoundedSemaphore(0) can never
     * be released, so store it as a bound of 0 with a flag bit. */
    return sem_create(out, value, value | 0x80000000u, opts);
}

static mpx_semaphore *sem_of(void *p)
{
    return mpx__segobj_of(p, &mpx__sem_type);
}

MPX_API void mpx_semaphore_destroy(mpx_semaphore *s)
{
    if (sem_of(s))
        mpx__segobj_free(s);
}

static inline bool sem_trydown(mpx__semw *w)
{
    uint32_t v = atomic_load_explicit(&w->value, memory_order_relaxed);
    while (v > 0)
        if (atomic_compare_exchange_weak_explicit(&w->value, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

static int sem_wait_slow(mpx__semw *w, mpx_duration timeout, mpx__intr *in);

static int sem_acquire(mpx_semaphore *s, mpx_duration timeout)
{
    if (!sem_of(s))
        return MPX_EINVAL;
    mpx__semw *w = s->s;
    if (sem_trydown(w))
        return 0;
    if (timeout <= 0)
        return MPX_ETIMEDOUT;
    mpx__intr in;
    mpx__intr_init(&in, w->flags & MPX__LKF_INTR);
    mpx__intr_begin(&in);
    int rc = sem_wait_slow(w, timeout, &in);
    mpx__intr_done(&in); /* handlers of signals held back run now */
    return rc;
}

static int sem_wait_slow(mpx__semw *w, mpx_duration timeout, mpx__intr *in)
{
    int spins = mpx__sync_spin();
    for (int i = 0; i < spins; i++) {
        mpx__cpu_relax();
        if (atomic_load_explicit(&w->value, memory_order_relaxed) && sem_trydown(w))
            return 0;
    }
    mpx__deadline d = mpx__deadline_from(timeout);
    atomic_fetch_add_explicit(&w->nwait, 1, memory_order_seq_cst);
    int rc;
    for (;;) {
        if (sem_trydown(w)) {
            rc = 0;
            break;
        }
        rc = mpx__intr_futex_wait(in, &w->value, 0, d);
        if (rc == -EINTR)
            break;
        if (rc == MPX_ETIMEDOUT) {
            rc = sem_trydown(w) ? 0 : MPX_ETIMEDOUT;
            break;
        }
    }
    atomic_fetch_sub_explicit(&w->nwait, 1, memory_order_relaxed);
    return rc;
}

MPX_API int mpx_semaphore_acquire(mpx_semaphore *s, mpx_duration timeout)
{
    return mpx__yes_no(sem_acquire(s, timeout));
}

MPX_API int mpx_semaphore_release(mpx_semaphore *s)
{
    if (!sem_of(s))
        return MPX_EINVAL;
    mpx__semw *w = s->s;
    uint32_t max = w->max ? (w->max & 0x7fffffffu) : (uint32_t)MPX_SEM_VALUE_MAX;
    uint32_t v = atomic_load_explicit(&w->value, memory_order_relaxed);
    do {
        if (v >= max)
            return MPX_ESTATE;
    } while (!atomic_compare_exchange_weak_explicit(&w->value, &v, v + 1, memory_order_seq_cst,
                                                    memory_order_relaxed));
    if (atomic_load_explicit(&w->nwait, memory_order_seq_cst))
        mpx__futex_wake(&w->value, 1);
    return 0;
}

MPX_API int mpx_semaphore_get_value(mpx_semaphore *s)
{
    if (!sem_of(s))
        return MPX_EINVAL;
    return (int)atomic_load_explicit(&s->s->value, memory_order_relaxed);
}

MPX_API int mpx_semaphore_bound(mpx_semaphore *s)
{
    if (!sem_of(s))
        return MPX_EINVAL;
    return (int)(s->s->max & 0x7fffffffu);
}

MPX_API char *mpx_semaphore_describe(mpx_semaphore *s)
{
    if (!sem_of(s))
        return NULL;
    unsigned v = atomic_load_explicit(&s->s->value, memory_order_relaxed);
    if (s->s->max)
        return mpx__describef("<BoundedSemaphore(value=%u, maxvalue=%u)>", v,
                              s->s->max & 0x7fffffffu);
    return mpx__describef("<Semaphore(value=%u)>", v);
}

/* The generic calls (mpx_sync_acquire ...), through the type's hooks. */

static int sem_sync_acquire(void *obj, mpx_duration timeout)
{
    return mpx_semaphore_acquire(obj, timeout);
}

static int sem_sync_release(void *obj)
{
    return mpx_semaphore_release(obj);
}

static char *sem_sync_describe(void *obj)
{
    return mpx_semaphore_describe(obj);
}
