/*
 * core/sync_internal.h - what the sync primitives (sync.c, sync_*.c) and
 * sharedctypes.c share: the shared heap (memfd segments, shheap.c), nested
 * object export, Lock/RLock objects, the glue of segment-backed handles.
 * The lock word and the owner-death check: core/lockword.h; settings:
 * core/tuning.h.
 */
#ifndef MPX_CORE_SYNC_INTERNAL_H
#define MPX_CORE_SYNC_INTERNAL_H

#include "core/lockword.h"
#include "core/object.h"
#include "core/tuning.h"
#include "os/shmap.h"
#include "mpx/sync.h"

#include <stdatomic.h>

/* ---- shared heap: refcounted memfd segments ---------------------------- */

/*
 * A segment is one memfd mapping. Each shared object (lock, value, array
 * ...) owns or references one; objects that live together (a Value and its
 * default RLock) share one. refs counts the handles in this process; other
 * processes hold their own mapping (inherited by fork, or mapped from the
 * descriptor by import), so the memory lives until the last one unmaps.
 */
typedef struct mpx__seg {
    _Atomic int refs;
    bool slab; /* a heap slab: refs change under the heap mutex */
    mpx__shmap map;
} mpx__seg;

int mpx__seg_create(mpx__seg **out, const char *name, size_t size);
/*
 * The shared heap: size bytes of zeroed shared memory. Small blocks
 * (<= MPX__SLAB_MAX) come from the current 64 KiB slab (one memfd for
 * hundreds of locks), 128-byte aligned so unrelated objects never share a
 * cache line; larger ones get a segment of their own. Blocks are never
 * reused: a slab goes away when every object in it is destroyed (and every
 * process mapping it has unmapped it), so a child still using an object
 * whose creator destroyed its handle is never handed another's memory.
 * The slab's bump pointer lives in the slab itself, so a fork child that
 * inherits the current slab allocates disjoint blocks from it.
 */
#define MPX__SLAB_SIZE (64 * 1024)
#define MPX__SLAB_MAX 2048
int mpx__shalloc(size_t size, const char *name, mpx__seg **seg, size_t *off);
mpx__seg *mpx__seg_ref(mpx__seg *s);
void mpx__seg_unref(mpx__seg *s);
/* Export: u64 size (the fd goes to fds). */
int mpx__seg_export(mpx__seg *s, mpx__buf *data, mpx__fdlist *fds);

/* A cursor over the descriptors given to an import hook: each fd is taken
 * once; mpx__fdcur_close_rest closes those not taken. */
typedef struct mpx__fdcur {
    const int *fds;
    int n, next;
} mpx__fdcur;
int mpx__fdcur_take(mpx__fdcur *c, int *fd);
void mpx__fdcur_close_rest(mpx__fdcur *c);

int mpx__seg_import(mpx__rd *rd, mpx__fdcur *cur, mpx__seg **out);
/* Export / import a segment plus the offset of an object in it; import
 * checks that need bytes fit at an 8-aligned offset. */
int mpx__seg_export_at(mpx__seg *s, size_t off, mpx__buf *data, mpx__fdlist *fds);
int mpx__seg_import_at(mpx__rd *rd, mpx__fdcur *cur, size_t need, mpx__seg **out, size_t *off);

/* Nested objects (the lock of a condition or of a value): u8 present,
 * bytes type name, u32 nfds, bytes data. */
int mpx__obj_export_nested(void *obj, mpx__buf *data, mpx__fdlist *fds);
int mpx__obj_import_nested(mpx__rd *rd, mpx__fdcur *cur, void **out);
void mpx__obj_drop_nested(void *obj);
/* The part of mpx__obj_import_nested after the u8 "present" (== 1). */
int mpx__obj_import_nested_body(mpx__rd *rd, mpx__fdcur *cur, void **out);

/* ---- lock objects ------------------------------------------------------- */

/* Internal waits answer 0 (done) or MPX_ETIMEDOUT; public calls answer a
 * yes/no question (docs/design.md, "Porting contract"): 1 yes, 0 no (the
 * timeout ended first), negative an error (MPX_EOWNERDEAD, -EINTR ...). */
static inline int mpx__yes_no(int r)
{
    return r == 0 ? 1 : r == MPX_ETIMEDOUT ? 0 : r;
}

struct mpx_lock {
    mpx__obj hdr;
    _Atomic int refs;
    bool recursive;
    mpx__seg *seg;
    mpx__lockw *w;
    size_t off;
};

extern mpx__objtype mpx__lock_type;
extern mpx__objtype mpx__rlock_type;

/* A new lock whose word lives in seg at off (seg NULL: a segment of its
 * own). Takes a reference on seg. */
int mpx__lock_new(struct mpx_lock **out, bool recursive, mpx__seg *seg, size_t off,
                  mpx_context *ctx);
/* The Lock/RLock behind p, or NULL. */
struct mpx_lock *mpx__lock_of(void *p);
struct mpx_lock *mpx__lock_ref(struct mpx_lock *l);
void mpx__lock_unref(struct mpx_lock *l);

/*
 * The lock of an object whose own segment is seg (a Condition, a Value):
 * u8 0 none; u8 1 + nested export; u8 2 + u8 recursive + u64 offset when
 * the lock word lives in seg itself (no second descriptor). Import gives
 * a new reference in *out (NULL for none).
 */
int mpx__lock_export_ref(struct mpx_lock *l, mpx__seg *seg, mpx__buf *data, mpx__fdlist *fds);
int mpx__lock_import_ref(mpx__rd *rd, mpx__fdcur *cur, mpx__seg *seg, struct mpx_lock **out);

/* The paths of mpx__lk_acquire/_release past the uncontended one
 * (sync_lock.c): an RLock's recursion, waiting, owner checks, misuse. */
int mpx__lk_acquire_slow(struct mpx_lock *l, uint64_t me, mpx_duration timeout);
int mpx__lk_release_slow(struct mpx_lock *l);

/*
 * Acquire: 0, MPX_ETIMEDOUT, MPX_EOWNERDEAD, -EINTR (interruptible lock).
 * Inline: the uncontended acquire of either kind is one compare-and-swap
 * (a free word cannot be ours, so an RLock need not look at its owner
 * first) and, for an RLock, two plain stores to the word's own line
 * (#18: Array's default lock is an RLock, and every get takes it).
 */
static inline int mpx__lk_acquire(struct mpx_lock *l, mpx_duration timeout)
{
    mpx__lockw *w = l->w;
    uint64_t me = mpx__self_token();
    if (MPX__LIKELY(mpx__cas64(&w->word, 0, me))) {
        if (l->recursive) {
            atomic_store_explicit(&w->tid, mpx__self_tid(), memory_order_relaxed);
            atomic_store_explicit(&w->count, 1, memory_order_relaxed);
        }
        return 0;
    }
    return mpx__lk_acquire_slow(l, me, timeout);
}

/* Release one level: 0, or MPX_ESTATE when not the owner (RLock) or not
 * locked (Lock). */
static inline int mpx__lk_release(struct mpx_lock *l)
{
    mpx__lockw *w = l->w;
    if (!l->recursive)
        return mpx__lockw_release(w);
    uint64_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
    if (MPX__LIKELY((v & ~MPX__LK_FLAGBITS) == mpx__self_token() && v &&
                    atomic_load_explicit(&w->tid, memory_order_relaxed) == mpx__self_tid() &&
                    atomic_load_explicit(&w->count, memory_order_relaxed) == 1)) {
        atomic_store_explicit(&w->count, 0, memory_order_relaxed);
        atomic_store_explicit(&w->tid, 0, memory_order_relaxed);
        return mpx__lockw_release(w);
    }
    return mpx__lk_release_slow(l);
}
/*
 * A hold that begins and ends inside one library call (a sharedctypes
 * get or set of one element): taken only from free, with no owner thread
 * or count recorded for an RLock. Its tid stays 0, so no other thread of
 * this process can take the word for its own (it waits, as for any
 * holder), and a death inside the hold is the usual owner death (the
 * taker sets tid and count). false: the lock is held (maybe by the
 * caller, an RLock's recursion): use mpx__lk_acquire/_release instead.
 */
static inline bool mpx__lk_enter_brief(struct mpx_lock *l)
{
    return mpx__cas64(&l->w->word, 0, mpx__self_token());
}

static inline void mpx__lk_exit_brief(struct mpx_lock *l)
{
    mpx__lockw_release(l->w);
}

/* Owned by the calling process (Lock) or thread (RLock)? */
bool mpx__lk_is_mine(struct mpx_lock *l);
/* Append the describe text of l to b (NUL not included). */
int mpx__lk_describe(struct mpx_lock *l, mpx__buf *b);

/* Release every level (Condition.wait); *saved gets the level. */
int mpx__lk_release_save(struct mpx_lock *l, uint32_t *saved);
/*
 * Re-acquire at the saved level, without limit: 0 or MPX_EOWNERDEAD.
 * slept: the caller slept in the kernel and may have been requeued onto
 * the lock's futex by a notify (wait morphing). Like any thread woken from
 * the lock's futex, it must then take the lock with WAITERS set, or other
 * requeued sleepers would miss their wake-up at the next release.
 */
int mpx__lk_acquire_restore(struct mpx_lock *l, uint32_t saved, bool slept);

/* ---- the glue every segment-backed primitive shares ------------------------ */

/*
 * Semaphore, Condition, Event and Barrier handles begin with this: the
 * object header, the segment (one reference) and the offset of their
 * shared words in it. w points at the words.
 */
typedef struct mpx__segobj {
    mpx__obj hdr;
    mpx__seg *seg;
    size_t off;
    void *w;
} mpx__segobj;

/* The members of such a handle: base, and over it the same fields with
 * the shared words typed (wtype *wname). */
#define MPX__SEGOBJ_FIELDS(wtype, wname)                                                       \
    union {                                                                                    \
        mpx__segobj base;                                                                      \
        struct {                                                                               \
            mpx__obj hdr;                                                                      \
            mpx__seg *seg;                                                                     \
            size_t off;                                                                        \
            wtype *wname;                                                                      \
        };                                                                                     \
    }

/* A new handle of size bytes (>= sizeof(mpx__segobj)) and type t over
 * the words at off in seg; takes over the caller's reference on seg (kept
 * by the caller on failure). */
int mpx__segobj_new(size_t size, const mpx__objtype *t, mpx__seg *seg, size_t off,
                    mpx_context *ctx, void **out);
/* The handle of type t behind p, or NULL. */
void *mpx__segobj_of(void *p, const mpx__objtype *t);
/* Free a handle (its segment reference). */
void mpx__segobj_free(void *obj);
/* The export hook of a handle whose shared words are all it needs. */
int mpx__segobj_export(void *obj, mpx__buf *data, mpx__fdlist *fds);
/* The first part of every import: the segment with need bytes at *off
 * whose u32 at magic_off is magic. cur keeps the descriptors not taken. */
int mpx__segobj_import_seg(mpx__rd *rd, mpx__fdcur *cur, size_t need, size_t magic_off,
                           uint32_t magic, mpx__seg **seg, size_t *off);
/* A describe string (printf format), or NULL when out of memory. */
char *mpx__describef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The object types (registered by sync.c). */
extern mpx__objtype mpx__sem_type, mpx__cond_type, mpx__ev_type, mpx__bar_type;

/* A new string from a buffer (NUL added), or NULL. rc is the status of
 * the writes into b: nonzero frees b and gives NULL. */
char *mpx__buf_to_str(mpx__buf *b, int rc);
int mpx__buf_printf(mpx__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
