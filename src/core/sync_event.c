/*
 * core/sync_event.c - Event (SYNC-15): a flag word with a count of the
 * set() calls in shared memory, futex waits.
 */
#include "core/sync_internal.h"
#include "os/intr.h"

#include <stddef.h>
#include <stdlib.h>

#define EVW_MAGIC 0x65766e74u /* "evnt" */

/* word: bit 0 the flag, bits 1..31 a count of set() calls that changed it,
 * so a waiter woken by set() succeeds even if clear() follows at once. */
typedef struct mpx__evw {
    _Atomic uint32_t word;
    _Atomic uint32_t nwait;
    uint32_t magic;
    uint32_t flags; /* MPX__LKF_INTR */
} mpx__evw;

struct mpx_event {
    MPX__SEGOBJ_FIELDS(mpx__evw, e);
};

static int ev_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static char *ev_sync_describe(void *obj);

mpx__objtype mpx__ev_type = {.name = "event",
                             .export_ = mpx__segobj_export,
                             .import_ = ev_import,
                             .drop = mpx__segobj_free,
                             .describe = ev_sync_describe};

static mpx_event *ev_of(void *p)
{
    return mpx__segobj_of(p, &mpx__ev_type);
}

static int ev_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg;
    size_t off;
    int rc = mpx__segobj_import_seg(rd, &cur, sizeof(mpx__evw), offsetof(mpx__evw, magic),
                                    EVW_MAGIC, &seg, &off);
    mpx__fdcur_close_rest(&cur);
    if (!rc) {
        rc = mpx__segobj_new(sizeof(mpx_event), &mpx__ev_type, seg, off, NULL, out);
        if (rc)
            mpx__seg_unref(seg);
    }
    return rc;
}

MPX_API int mpx_event_create(mpx_event **out, const mpx_sync_opts *opts)
{
    if (!out)
        return MPX_EINVAL;
    mpx__seg *seg;
    size_t off;
    int rc = mpx__shalloc(sizeof(mpx__evw), "mpx-event", &seg, &off);
    if (rc)
        return rc;
    mpx__evw *e = (mpx__evw *)(void *)((char *)seg->map.addr + off);
    atomic_init(&e->word, 0);
    atomic_init(&e->nwait, 0);
    e->flags = opts && opts->interruptible ? MPX__LKF_INTR : 0;
    e->magic = EVW_MAGIC;
    rc = mpx__segobj_new(sizeof(mpx_event), &mpx__ev_type, seg, off, opts ? opts->ctx : NULL,
                         (void **)out);
    if (rc)
        mpx__seg_unref(seg);
    return rc;
}

MPX_API void mpx_event_destroy(mpx_event *e)
{
    if (ev_of(e))
        mpx__segobj_free(e);
}

MPX_API int mpx_event_set(mpx_event *e)
{
    if (!ev_of(e))
        return MPX_EINVAL;
    mpx__evw *w = e->e;
    uint32_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
    do {
        if (v & 1)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&w->word, &v, (v + 2) | 1,
                                                    memory_order_seq_cst, memory_order_relaxed));
    if (atomic_load_explicit(&w->nwait, memory_order_seq_cst))
        mpx__futex_wake(&w->word, INT32_MAX);
    return 0;
}

MPX_API int mpx_event_clear(mpx_event *e)
{
    if (!ev_of(e))
        return MPX_EINVAL;
    atomic_fetch_and_explicit(&e->e->word, ~1u, memory_order_seq_cst);
    return 0;
}

MPX_API int mpx_event_is_set(mpx_event *e)
{
    if (!ev_of(e))
        return MPX_EINVAL;
    return (int)(atomic_load_explicit(&e->e->word, memory_order_acquire) & 1);
}

static int ev_wait_slow(mpx__evw *w, uint32_t v0, mpx_duration timeout, mpx__intr *in);

static int ev_wait(mpx_event *e, mpx_duration timeout)
{
    if (!ev_of(e))
        return MPX_EINVAL;
    mpx__evw *w = e->e;
    uint32_t v0 = atomic_load_explicit(&w->word, memory_order_acquire);
    if (v0 & 1)
        return 0;
    if (timeout <= 0)
        return MPX_ETIMEDOUT;
    mpx__intr in;
    mpx__intr_init(&in, w->flags & MPX__LKF_INTR);
    mpx__intr_begin(&in);
    int rc = ev_wait_slow(w, v0, timeout, &in);
    mpx__intr_done(&in); /* handlers of signals held back run now */
    return rc;
}

static int ev_wait_slow(mpx__evw *w, uint32_t v0, mpx_duration timeout, mpx__intr *in)
{
#define EV_DONE(v) (((v) & 1) || ((v) >> 1) != (v0 >> 1))
    int spins = mpx__sync_spin();
    for (int i = 0; i < spins; i++) {
        mpx__cpu_relax();
        uint32_t v = atomic_load_explicit(&w->word, memory_order_acquire);
        if (EV_DONE(v))
            return 0;
    }
    mpx__deadline d = mpx__deadline_from(timeout);
    atomic_fetch_add_explicit(&w->nwait, 1, memory_order_seq_cst);
    int rc;
    for (;;) {
        uint32_t v = atomic_load_explicit(&w->word, memory_order_seq_cst);
        if (EV_DONE(v)) {
            rc = 0;
            break;
        }
        rc = mpx__intr_futex_wait(in, &w->word, v, d);
        if (rc == -EINTR)
            break;
        if (rc == MPX_ETIMEDOUT) {
            v = atomic_load_explicit(&w->word, memory_order_acquire);
            rc = EV_DONE(v) ? 0 : MPX_ETIMEDOUT;
            break;
        }
    }
#undef EV_DONE
    atomic_fetch_sub_explicit(&w->nwait, 1, memory_order_relaxed);
    return rc;
}

MPX_API int mpx_event_wait(mpx_event *e, mpx_duration timeout)
{
    return mpx__yes_no(ev_wait(e, timeout));
}

MPX_API char *mpx_event_describe(mpx_event *e)
{
    if (!ev_of(e))
        return NULL;
    return mpx__describef("<Event(%s)>", mpx_event_is_set(e) ? "set" : "unset");
}

static char *ev_sync_describe(void *obj)
{
    return mpx_event_describe(obj);
}
