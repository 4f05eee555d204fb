/*
 * core/pool_internal.h - the pool's shared-memory layout, shared by the
 * parent (pool.c) and the workers (pool_worker.c). See docs/pool.md.
 *
 * One memfd mapping per pool:
 *
 *   hdr        sizes, the task ring's tail (parent) and head (workers, CAS),
 *              the workers' doorbell futex, the parent's doorbell flags
 *   fntab      encoded function references (fnref), refcounted by the parent
 *   ring       SPMC ring of u64 entries (seq << 32 | slot), capacity nslots
 *   wctl[w]    per worker position: state, current slot / item, start time,
 *              completion ring indexes, crash backtrace
 *   comp[w]    per worker SPSC completion ring (u32 slot indexes)
 *   slots      nslots x SLOT_STRIDE: header, input records, output records
 *
 * A slot is owned by the parent while FREE; the parent fills it, sets
 * claim = seq << 32 (unclaimed) and pushes (seq, slot) into the ring.
 * Workers take a batch of ring entries with one CAS on head, then claim
 * each slot with a CAS on claim (seq << 32 | 0 -> seq << 32 | owner). A
 * worker runs the slot's item records in order, appends one output
 * record per item to the slot's output area and publishes out_items after
 * each one (so the items finished before a crash are kept), then pushes
 * the slot index into its completion ring.
 *
 * An output that does not fit the output area is "spilled" into an output
 * file that the PARENT owns: one memfd per worker position (the parent
 * creates it and keeps it open; the worker receives a descriptor of it),
 * in a region reserved for the slot (slot index * PX_SPILL_REGION). The
 * worker writes the bytes (pwrite) before it commits the record, so once
 * the record is committed the output lives in the parent's file and
 * nothing the worker does afterwards (crash, planned exit, SIGKILL) can
 * lose it (#12). The slot header says which file and how much of the
 * region was used (spill_w, spill_end, set before writing); the parent
 * frees those pages (punches a hole) when it frees or requeues the slot,
 * so output memory lives exactly as long as its slot.
 */
#ifndef MPX_CORE_POOL_INTERNAL_H
#define MPX_CORE_POOL_INTERNAL_H

#include "core/internal.h"
#include "mpx/pool.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <unistd.h>

#define MPX__POOL_MAGIC 0x6d70706cu

/* A full (StoreLoad) barrier for the doorbell handshakes. ThreadSanitizer
 * does not support fences: there, a seq_cst read-modify-write (a full
 * barrier on every target we run on) stands in. */
#if defined(__SANITIZE_THREAD__)
extern _Atomic uint32_t mpx__pool_fence_word;
#define PX_FENCE() atomic_fetch_add_explicit(&mpx__pool_fence_word, 0, memory_order_seq_cst)
#else
#define PX_FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif

#define PX_SLOT_STRIDE (64u * 1024u)
#define PX_SLOT_HDR 256u
#define PX_IN_OFF PX_SLOT_HDR
#define PX_OUT_OFF (32u * 1024u)
#define PX_IN_CAP (PX_OUT_OFF - PX_IN_OFF)
#define PX_OUT_CAP (PX_SLOT_STRIDE - PX_OUT_OFF)
#define PX_IN_REC 16u  /* u64 index, u32 len, u32 flags */
#define PX_OUT_REC 24u /* u64 index, i32 code, i32 task_rc, u32 len, u32 flags */
/* spill record, the data of a record flagged PX_REC_SPILL:
 *   input  (parent -> worker): i32 fd, i32 pid, u64 len (a memfd of the parent)
 *   output (worker -> parent): u64 offset in the slot's region, u64 len */
#define PX_SPILL_REC 16u
/* Each slot's region in an output file: spilled outputs of one run of the
 * slot are packed from its start. Sparse (memfd): only written pages cost
 * memory. A chunk stops early once half of it is used (PX_OUT_LOW's rule
 * for the output area), so any output up to half of it fits. */
#define PX_SPILL_REGION ((uint64_t)1 << 36)
#define PX_OUT_LOW 1024u /* a chunk stops early below this much output room */
#define PX_MAX_CHUNK_ITEMS 700u /* 700 * (24 + 16) fits the output area */
#define PX_FN_MAX 128u
#define PX_FN_SIZE 512u
#define PX_BT_SIZE 4096u
#define PX_NONE 0xffffffffu
#define PX_OWNER_STOLEN 0xffffffffu

/* record flags */
#define PX_REC_SPILL 1u

/* slot kinds */
enum { PX_K_BYTES = 1, PX_K_STAR = 2, PX_K_FIXED = 3 };

/* worker states */
enum { PX_W_STARTING = 0, PX_W_READY = 1, PX_W_EXITING = 2 };

#define PX_PAD8(x) (((x) + 7u) & ~(size_t)7u)

typedef struct px_hdr {
    uint32_t magic;
    uint32_t nslots;
    uint32_t nworkers;
    int32_t owner_pid;
    uint64_t size;
    uint64_t off_fntab, off_ring, off_wctl, off_comp, off_slots;
    int32_t spin;
    alignas(64) _Atomic uint64_t tail; /* written by the parent */
    alignas(64) _Atomic uint64_t head; /* CAS by workers */
    alignas(64) _Atomic uint32_t work_bell;
    _Atomic uint32_t sleepers;
    _Atomic uint32_t shutdown;
    alignas(64) _Atomic uint32_t parent_sleeping;
    _Atomic uint32_t bell_pending;
} px_hdr;

typedef struct px_fn {
    _Atomic uint32_t gen;
    uint32_t len;
    unsigned char data[PX_FN_SIZE - 8];
} px_fn;

typedef struct px_wctl {
    _Atomic uint32_t gen;
    _Atomic int32_t pid;
    _Atomic uint32_t state;
    _Atomic uint32_t cur_slot;
    _Atomic uint64_t cur_item; /* record number in the slot, or element (fixed) */
    _Atomic uint64_t cur_end;  /* fixed: end of the claimed range */
    _Atomic int64_t item_start_ns;
    uint32_t max_tasks; /* 0: unlimited */
    _Atomic uint32_t tasks_done;
    _Atomic uint32_t bt_len;
    _Atomic int32_t crash_sig;
    _Atomic uint32_t init_failed; /* thread workers: the initializer failed */
    _Atomic uint32_t avg_ns;      /* the worker's running mean time per slot (0: unknown) */
    alignas(64) _Atomic uint64_t c_tail; /* worker */
    alignas(64) _Atomic uint64_t c_head; /* parent */
    alignas(64) char bt[PX_BT_SIZE];
} px_wctl;

typedef struct px_slot {
    _Atomic uint64_t claim; /* seq << 32 | owner (0 unclaimed, w+1, STOLEN) */
    _Atomic uint32_t cancel;
    uint32_t kind;
    uint32_t fn_idx, fn_gen;
    uint32_t nitems;    /* input records */
    uint32_t start_rec; /* first record to run (after a requeue) */
    uint32_t in_bytes;
    /* spilled outputs of this run: the worker position whose output file
     * holds them (spill_w) and the bytes of the slot's region in use
     * (spill_end), both stored before the bytes are written (so the parent
     * also frees what a worker that died while writing left); reset by the
     * parent. In the header's first cache line (it took the place of an
     * unused job id and padding): the parent reads spill_end for every
     * slot it frees, and no other line is touched for small outputs. */
    _Atomic uint32_t spill_w;
    int64_t timeout_ns; /* per item; 0 none */
    _Atomic uint32_t out_items; /* committed output records */
    uint32_t out_bytes;
    _Atomic uint64_t spill_end;
} px_slot;
_Static_assert(sizeof(px_slot) == 64, "the slot header's hot fields fill one cache line");

/* Fixed fast-path descriptor, the input area of a PX_K_FIXED slot. */
typedef struct px_fixed_desc {
    int32_t owner_pid;
    int32_t fd;
    uint64_t map_size;
    uint64_t n, in_size, out_size, chunk;
    uint64_t off_in, off_out, off_status, off_ctx, ctx_len;
} px_fixed_desc;

#define PX_REDO_MAX 64
typedef struct px_fixed_ctl {
    alignas(64) _Atomic uint64_t next; /* next element to hand out */
    alignas(64) _Atomic uint32_t nredo;
    struct {
        _Atomic uint32_t claimed;
        uint32_t pad;
        uint64_t lo, hi;
    } redo[PX_REDO_MAX];
} px_fixed_ctl;

static inline px_fn *px_fntab(px_hdr *h)
{
    return (px_fn *)((char *)h + h->off_fntab);
}
static inline _Atomic uint64_t *px_ring(px_hdr *h)
{
    return (_Atomic uint64_t *)((char *)h + h->off_ring);
}
static inline px_wctl *px_wctl_of(px_hdr *h, uint32_t w)
{
    return (px_wctl *)((char *)h + h->off_wctl) + w;
}
static inline _Atomic uint32_t *px_comp(px_hdr *h, uint32_t w)
{
    return (_Atomic uint32_t *)((char *)h + h->off_comp) + (size_t)w * h->nslots;
}
static inline px_slot *px_slot_of(px_hdr *h, uint32_t s)
{
    return (px_slot *)((char *)h + h->off_slots + (size_t)s * PX_SLOT_STRIDE);
}
static inline unsigned char *px_in(px_slot *s)
{
    return (unsigned char *)s + PX_IN_OFF;
}
static inline unsigned char *px_out(px_slot *s)
{
    return (unsigned char *)s + PX_OUT_OFF;
}

/* Little helpers for records (host byte order: both sides are one host). */
static inline void px_put64(unsigned char *p, uint64_t v)
{
    __builtin_memcpy(p, &v, 8);
}
static inline void px_put32(unsigned char *p, uint32_t v)
{
    __builtin_memcpy(p, &v, 4);
}
static inline uint64_t px_get64(const unsigned char *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
}
static inline uint32_t px_get32(const unsigned char *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

/* A task's output: straight into the slot's output area when it fits
 * (dst, cap), else on the heap; msg from mpx_task_fail. */
struct mpx_task_out {
    unsigned char *dst; /* room in the slot's output area */
    size_t cap;
    size_t len;
    bool on_heap;
    unsigned char *heap;
    size_t heap_cap;
    char *msg;
    bool set;
};

/*
 * Spill one output of slot si into the parent's output file outfd of
 * worker position w, at *pos of the slot's region (*pos advances; the
 * offset used goes to *off). Stores spill_w and spill_end BEFORE writing,
 * so the parent frees the pages of a write that a crash cut short. The
 * caller commits the record that points here only after this returns 0:
 * from then on the output lives in the parent's file, whatever the writer
 * does next (#12). Shared by the worker loop and pool backends (the MPI
 * dispatcher), which write output records the same way. Returns 0,
 * MPX_ETOOBIG (4 GiB or more: result entries hold 32-bit lengths; or the
 * region is full), -errno.
 */
static inline int px_spill_write(px_slot *s, uint32_t si, uint32_t w, int outfd, uint64_t *pos,
                                 const void *data, size_t len, uint64_t *off)
{
    uint64_t at = *pos;
    if (len > UINT32_MAX || len > PX_SPILL_REGION - at)
        return MPX_ETOOBIG;
    uint64_t end = at + PX_PAD8(len);
    atomic_store_explicit(&s->spill_w, w, memory_order_relaxed);
    atomic_store_explicit(&s->spill_end, end, memory_order_release);
    uint64_t base = (uint64_t)si * PX_SPILL_REGION + at;
    const unsigned char *p = (const unsigned char *)data;
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(outfd, p + done, len - done, (off_t)(base + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO; /* the parent frees the pages with the slot */
        done += (size_t)r;
    }
    *pos = end;
    *off = at;
    return 0;
}

/* Open another process's descriptor (memfd) read-only: /proc/pid/fd/N,
 * then pidfd_getfd (flags: O_RDONLY or O_RDWR). Returns a new CLOEXEC fd or -errno. */
int mpx__pool_fetch_fd(pid_t pid, int fd, int flags);
/* Read a spilled input (fd of pid, len bytes) into a new malloc buffer. */
int mpx__pool_read_spill(pid_t pid, int fd, size_t len, unsigned char **out);
/* Read len bytes at offset off of fd into a new malloc buffer. Returns 0,
 * -errno, MPX_EEOF (the file is shorter). */
int mpx__pool_read_at(int fd, uint64_t off, size_t len, unsigned char **out);

/* Worker side (pool_worker.c). */
typedef struct px_worker_ctx {
    px_hdr *h;
    uint32_t w;
    int evfd;
    int outfd; /* the output file of this worker position (spilled outputs) */
    bool thread;
    mpx_init_fn init;
    mpx_args *initargs;
    void *backend; /* a backend pool's state (core/backend.h), or NULL */
} px_worker_ctx;

/* The worker loop; returns when the pool shuts down or the worker's task
 * quota is used up. */
int mpx__pool_worker_loop(px_worker_ctx *c);
/* The mpx_process target of a worker process. */
int mpx__pool_worker_main(const mpx_args *a);
/* Ring the parent's doorbell (eventfd) when it sleeps. */
void mpx__pool_ring_parent(px_hdr *h, int evfd);

#endif
