/*
 * core/sync.c - what the synchronization primitives share: the glue of
 * segment-backed handles (new, free, export, import, describe), the
 * generic entry points (mpx_sync_acquire / release / describe, dispatched
 * through the object type's hooks) and the registration of the types.
 *
 * The primitives: sync_lock.c (Lock, RLock), sync_semaphore.c (Semaphore,
 * BoundedSemaphore), sync_condition.c, sync_event.c, sync_barrier.c; the
 * lock word and the owner-death check: lockword.c; the shared heap:
 * shheap.c; settings: tuning.c. docs/sync.md describes the design.
 */
#include "core/sync_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- segment-backed handles -------------------------------------------------- */

int mpx__segobj_new(size_t size, const mpx__objtype *t, mpx__seg *seg, size_t off,
                    mpx_context *ctx, void **out)
{
    mpx__segobj *o = calloc(1, size);
    if (!o)
        return -ENOMEM;
    o->seg = seg;
    o->off = off;
    o->w = (char *)seg->map.addr + off;
    mpx__obj_init(&o->hdr, t, ctx);
    *out = o;
    return 0;
}

void *mpx__segobj_of(void *p, const mpx__objtype *t)
{
    mpx__obj *o = mpx__obj_of(p);
    return o && o->type == t ? p : NULL;
}

void mpx__segobj_free(void *obj)
{
    mpx__segobj *o = obj;
    o->hdr.magic = 0;
    mpx__seg_unref(o->seg);
    free(o);
}

int mpx__segobj_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx__segobj *o = obj;
    return mpx__seg_export_at(o->seg, o->off, data, fds);
}

int mpx__segobj_import_seg(mpx__rd *rd, mpx__fdcur *cur, size_t need, size_t magic_off,
                           uint32_t magic, mpx__seg **seg, size_t *off)
{
    int rc = mpx__seg_import_at(rd, cur, need, seg, off);
    if (rc)
        return rc;
    uint32_t m;
    memcpy(&m, (char *)(*seg)->map.addr + *off + magic_off, sizeof m);
    if (m != magic) {
        mpx__seg_unref(*seg);
        *seg = NULL;
        return MPX_EPROTO;
    }
    return 0;
}

char *mpx__describef(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* ---- generic dispatch ------------------------------------------------------------ */

MPX_API int mpx_sync_acquire(void *lock, mpx_duration timeout)
{
    mpx__obj *o = mpx__obj_of(lock);
    if (!o || !o->type->acquire)
        return MPX_EINVAL;
    return o->type->acquire(lock, timeout);
}

MPX_API int mpx_sync_release(void *lock)
{
    mpx__obj *o = mpx__obj_of(lock);
    if (!o || !o->type->release)
        return MPX_EINVAL;
    return o->type->release(lock);
}

MPX_API char *mpx_sync_describe(void *obj)
{
    mpx__obj *o = mpx__obj_of(obj);
    if (!o || !o->type->describe)
        return NULL;
    return o->type->describe(obj);
}

__attribute__((constructor)) static void sync_register(void)
{
    mpx__objtype_register(&mpx__lock_type);
    mpx__objtype_register(&mpx__rlock_type);
    mpx__objtype_register(&mpx__sem_type);
    mpx__objtype_register(&mpx__cond_type);
    mpx__objtype_register(&mpx__ev_type);
    mpx__objtype_register(&mpx__bar_type);
}
