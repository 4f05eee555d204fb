/*
 * core/queue_internal.h - what queue.c (the ring, the locks, the API) and
 * queue_overflow.c (the overflow store) share: the shared memory layout,
 * the handle, the record header. docs/queue.md describes the design.
 */
#ifndef MPX_CORE_QUEUE_INTERNAL_H
#define MPX_CORE_QUEUE_INTERNAL_H

#include "core/object.h"
#include "os/shmap.h"

#include <stdalign.h>
#include <stdatomic.h>

#define SH_MAGIC 0x4d505851u /* shared: "MPXQ" */
#define SH_VERSION 4u /* 2: overflow store; 3: 64-bit lock words (owner tokens); 4: wait words */
#define REC_HDR 24u          /* record header bytes */

enum { K_FULL = 1, K_BEGIN = 2, K_CONT = 3, K_END = 4, K_ABORT = 5 };
enum { KIND_QUEUE = 0, KIND_JOINABLE = 1, KIND_SIMPLE = 2 };
/* qshared.shutdown */
enum { SHUT_NONE = 0, SHUT_DRAIN = 1, SHUT_IMMEDIATE = 2 };

typedef struct rec_hdr {
    uint32_t kind;
    uint32_t clen;   /* payload bytes in this record (ring) */
    uint64_t stream; /* stream id (0 for K_FULL) */
    uint64_t total;  /* message length (K_BEGIN, and every overflow record) */
} rec_hdr;

/* A futex word: odd while a sleep on its value is announced and not yet
 * woken (queue.c, "waiting and waking"). */
typedef struct waitq {
    alignas(64) _Atomic uint32_t seq;
} waitq;

typedef struct qshared {
    /* constant after creation */
    uint32_t magic, version, kind, pad;
    uint64_t ring_size, map_size;
    int64_t maxsize;
    _Atomic uint32_t shutdown; /* SHUT_*: mpx_queue_shutdown, for everyone */
    _Atomic uint32_t interest; /* handles that announced mpx_wait interest */

    /* producer side: owned by the P holder. p_lock and c_lock hold the
     * holder's owner token (core/lockword.h: pid and start time, so a
     * reused pid is not taken for the holder) | MPX__LK_WAITERS. */
    alignas(64) _Atomic uint64_t p_lock;
    _Atomic uint32_t pj_valid;
    _Atomic uint64_t p_seq;    /* last stream id handed out */
    _Atomic uint64_t p_stream; /* stream whose records are in the ring, 0 none */
    _Atomic uint64_t p_ended;  /* its END record is published */
    _Atomic uint64_t pj_tail, pj_put, pj_stream, pj_ended;
    _Atomic uint64_t head_cache; /* a recent head (<= the real one) */
    _Atomic uint64_t get_cache;  /* a recent get_count */
    /* the overflow store's producer side (queue_overflow.c), read on every
     * put: in this group's second line, which has room for it */
    _Atomic uint32_t opj_valid;
    _Atomic uint64_t o_tail;       /* published */
    _Atomic uint64_t o_head_cache; /* a recent o_head (<= the real one) */
    _Atomic uint64_t o_alloc_try;  /* != 0: a put that allocated up to here is under way */

    /* published by the P holder */
    alignas(64) _Atomic uint64_t tail;
    _Atomic uint64_t put_count;

    /* consumer side: owned by the C holder */
    alignas(64) _Atomic uint64_t c_lock;
    _Atomic uint32_t cj_valid;
    _Atomic uint64_t c_stream; /* stream being assembled by the C holder */
    _Atomic uint64_t c_skip;   /* dropped stream whose records to discard */
    _Atomic uint64_t cj_old_head, cj_head, cj_get, cj_acked, cj_stream, cj_skip, cj_dropped;
    _Atomic uint64_t tail_cache; /* a recent tail (<= the real one) */
    _Atomic uint32_t ocj_valid; /* the store's consumer journal (queue_overflow.c) */

    /* published by the C holder */
    alignas(64) _Atomic uint64_t head;
    _Atomic uint64_t get_count;
    _Atomic uint64_t c_acked;   /* last stream fully received */
    _Atomic uint64_t c_dropped; /* last stream given up (resend it) */

    waitq ne; /* not empty: consumers sleep here */
    waitq nf; /* not full / stream acknowledged: producers sleep here */
    waitq jq; /* JoinableQueue.join */
    alignas(64) _Atomic uint64_t done_count;

    /* Overflow store (queue_overflow.c): a second byte log of ovf_size
     * bytes at memfd offset ovf_off, backed by the memfd only where it
     * holds messages. Positions are monotonic; position p is at offset
     * ovf_off + (p mod ovf_size). ovf_size 0: no store (ring only). */
    alignas(64) uint64_t ovf_size, ovf_off; /* constant */
    /* owned by the P holder (o_tail, opj_valid ... are in the P group) */
    _Atomic uint64_t opj_tail, opj_put;
    _Atomic uint64_t o_alloc; /* [o_tail, o_alloc) is allocated in the memfd */
    /* owned by the C holder (ocj_valid is in the C group) */
    alignas(64) _Atomic uint64_t o_head; /* published */
    _Atomic uint64_t o_free;             /* positions below it are returned (punched) */
    _Atomic uint64_t ocj_old_head, ocj_head, ocj_get;
} qshared;

struct mpx_queue {
    mpx__obj hdr;
    uint32_t qmagic;
    bool imported; /* rebuilt from an export: freed by drop() */
    pid_t interest_pid;
    /* mpx_queue_close: the process that closed this handle (Python's
     * close() concerns the calling process only; a fork child's copy of
     * the handle is open, as after Python's _after_fork). */
    _Atomic pid_t closed_by;
    /* A unique number of this handle in this process: a thread "process"
     * of the thread context closes the handle for itself only and keeps
     * the numbers of the handles it closed (queue.c, "close"). */
    uint64_t uid;
    int spin;
    int yields; /* sched_yield rounds after spinning, before sleeping */
    /* The last get (put) of this handle found a message (room) without
     * waiting: a burst. See STREAM_GAP. */
    _Atomic bool get_burst, put_burst;
    int efd;
    mpx__shmap map;
    qshared *sh;
    unsigned char *ring;
    uint64_t size, mask;
    /* overflow store: osize 0 when the queue has none */
    uint64_t osize, omask;
    int64_t spill_ns; /* how long a put waits for ring room before it spills */
    _Atomic(unsigned char *) obase; /* this process's mapping, made on first use */
    uint64_t owin;                  /* store window: made accessible as a whole */
    _Atomic(_Atomic uint64_t *) obits; /* windows accessible in this process */
};

/* Where a get puts the message. */
typedef struct getdst {
    void **out;
    size_t *len;
    void *buf;
    size_t cap;
    bool into;
    uint64_t deferred; /* new head whose wake-ups wait for the C release */
} getdst;

#define TAKE_EMPTY 1
#define TAKE_AGAIN 2
#define TAKE_RING 3 /* the overflow is not next: the ring has a record */

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define LDA(x) atomic_load_explicit(&(x), memory_order_acquire)
#define ST(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)
#define STR(x, v) atomic_store_explicit(&(x), (v), memory_order_release)

static inline uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

/* ---- the overflow store (queue_overflow.c) ---------------------------- */

/* The store size for mpx_queue_opts.overflow_bytes (0 default, < 0 none):
 * 0 and *size, or MPX_EINVAL. */
int mpx__qo_size(int64_t opt, uint64_t *size);
/* The window size of a store of osize bytes (mpx_queue.owin). */
uint64_t mpx__qo_window(uint64_t osize);
/* P held: is the store empty? (Only the P holder makes it non-empty.) */
static inline bool mpx__qo_empty_p(mpx_queue *q)
{
    qshared *sh = q->sh;
    uint64_t t = LD(sh->o_tail);
    if (t == LD(sh->o_head_cache))
        return true; /* o_head_cache <= o_head <= o_tail */
    uint64_t h = atomic_load_explicit(&sh->o_head, memory_order_acquire);
    ST(sh->o_head_cache, h);
    return t == h;
}

/* Any side: does the store hold a message? */
static inline bool mpx__qo_nonempty(mpx_queue *q)
{
    return atomic_load(&q->sh->o_tail) != atomic_load(&q->sh->o_head);
}
/* P held: append one message and publish it. 0, -ENOMEM (store full or
 * no memory: nothing changed). */
int mpx__qo_put(mpx_queue *q, const void *data, size_t len);
/* C held, the ring found empty: take the oldest store message. 0,
 * TAKE_EMPTY, TAKE_RING, MPX_ETOOSHORT, -ENOMEM, MPX_EBROKEN. On 0,
 * g->deferred is the ring head (wake-ups after the C release). */
int mpx__qo_take(mpx_queue *q, getdst *g);
/* Finish or roll back a dead holder's publish (P held / C held). */
void mpx__qo_p_recover_slow(mpx_queue *q);
void mpx__qo_c_recover_slow(mpx_queue *q);
static inline void mpx__qo_p_recover(mpx_queue *q)
{
    if (LDA(q->sh->opj_valid) || LD(q->sh->o_alloc_try))
        mpx__qo_p_recover_slow(q);
}
static inline void mpx__qo_c_recover(mpx_queue *q)
{
    if (LDA(q->sh->ocj_valid))
        mpx__qo_c_recover_slow(q);
}
/* P and C held: drop every stored message, return the memory. */
void mpx__qo_discard(mpx_queue *q);
/* Release this process's mapping of the store. */
void mpx__qo_unmap(mpx_queue *q);

/* Tests: bytes of memory the queue's memfd holds (st_blocks * 512). */
int64_t mpx__queue_mem_bytes(mpx_queue *q);

#define Q_MAGIC 0x6d707871u /* handle: "mpxq" */

/* queue.c, for queue_handle.c */
extern int mpx__queue_spin_override;
mpx_queue *mpx__queue_of(void *p);
bool mpx__queue_handle_closed(mpx_queue *q);
bool mpx__queue_nonempty_or_closed(mpx_queue *q);
void mpx__queue_efd_signal(mpx_queue *q);
void mpx__queue_efd_drain(mpx_queue *q);
/* queue_handle.c: a new queue of kind KIND_*, and freeing a handle */
int mpx__queue_create(mpx_queue **out, int64_t maxsize, const mpx_queue_opts *opts, uint32_t kind);
void mpx__queue_handle_free(mpx_queue *q);

#endif /* MPX_CORE_QUEUE_INTERNAL_H */
