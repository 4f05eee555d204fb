/*
 * core/sync_internal.h - the shared heap (memfd segments), lock words and
 * nested object export, shared by sync.c and sharedctypes.c.
 */
#ifndef MPX_CORE_SYNC_INTERNAL_H
#define MPX_CORE_SYNC_INTERNAL_H

#include "core/object.h"
#include "linux/futex.h"
#include "linux/shmap.h"
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

/* ---- lock words ----------------------------------------------------------- */

#define MPX__LK_WAITERS 0x80000000u
#define MPX__LK_CONDWAKE 0x40000000u /* a Condition wake waits for this release */
#define MPX__LK_PIDMASK 0x3fffffffu
#define MPX__LKF_SUSPECT 1u
#define MPX__LKF_INTR 2u /* interruptible (mpx_sync_opts.interruptible; set at creation) */
#define MPX__LOCKW_MAGIC 0x6c6f636bu /* "lock" */

/*
 * The shared state of a Lock or RLock (docs/sync.md):
 *   word  bits 0..29  owner pid (0: unlocked)
 *         bit  30     CONDWAKE: the release must wake the sleepers of the
 *                     Condition whose block holds this lock (notify
 *                     deferred its wake to the release; docs/sync.md)
 *         bit  31     waiters may be sleeping
 *         bits 32..63 low 32 bits of the owner's start time (/proc/pid/stat
 *                     field 22), so a reused pid is not taken for the owner
 *   The futex is the low 32-bit half of word.
 *   tid, count: RLock owner thread and recursion level (owner-written).
 */
typedef struct mpx__lockw {
    _Atomic uint64_t word;
    _Atomic uint32_t tid;
    _Atomic uint32_t count;
    _Atomic uint32_t flags;
    uint32_t magic;
} mpx__lockw;

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
/* Make the lock at w interruptible (before it is shared). */
void mpx__lockw_set_interruptible(mpx__lockw *w);
void mpx__lockw_init(mpx__lockw *w);
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

/* Acquire: 0, MPX_ETIMEDOUT, MPX_EOWNERDEAD, -EINTR (interruptible lock). */
int mpx__lk_acquire(struct mpx_lock *l, mpx_duration timeout);
int mpx__lk_release(struct mpx_lock *l);
/* Owned by the calling process (Lock) or thread (RLock)? */
bool mpx__lk_is_mine(struct mpx_lock *l);
/* Append the describe text of l to b (NUL not included). */
int mpx__lk_describe(struct mpx_lock *l, mpx__buf *b);

/* sharedctypes.c: the lock of a Value/Array (*is_shared set), or NULL. */
struct mpx_lock *mpx__shared_lock_of(void *p, bool *is_shared);

/* Process-wide settings. */
int mpx__sync_spin(void);
int64_t mpx__sync_check_ns(void); /* INT64_MAX: never */
/* A spawn or forkserver child adopts its parent's tuning (boot.c). */
void mpx__sync_settings_adopt(int spin, int64_t check_ns);

/* A new string from a buffer (NUL added), or NULL. rc is the status of
 * the writes into b: nonzero frees b and gives NULL. */
char *mpx__buf_to_str(mpx__buf *b, int rc);
int mpx__buf_printf(mpx__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
