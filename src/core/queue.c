/*
 * queue.c - Queue, JoinableQueue, SimpleQueue: a crash-safe MPMC byte ring
 * in a memfd shared mapping with futex wake-ups and no feeder thread.
 * docs/queue.md explains the layout, the protocol and crash recovery.
 *
 * In short:
 *  - One producer lock P and one consumer lock C (futex words holding the
 *    owner's token: pid and start time, core/lockword.h). P serialises
 *    writers of the ring (so order is global), C serialises readers. A
 *    lock whose owner is dead (mpx__owner_alive: gone, a zombie, or its
 *    pid reused by another process) is taken over after a bounded wait,
 *    and the new owner runs recovery.
 *  - Every change of the shared state a lock protects is published through
 *    a redo journal in that lock's cache line (valid flag, new values), so
 *    a death at any instruction leaves either the old or the new state.
 *  - A message of up to half the ring is one record, written before the
 *    tail moves (invisible until then) and copied out before the head
 *    moves (stays queued until then).
 *  - When the ring is full (after a short wait for room) or the message
 *    is larger than the ring, the message goes to the overflow store
 *    (queue_overflow.c), a second log in the same memfd that grows and
 *    shrinks with what it holds: a Queue() without maxsize never makes a
 *    put wait for a consumer, as in Python. The ring takes a message only
 *    while the store is empty, and a get takes from the store only when
 *    the ring is empty, so order holds.
 *  - Ring only (MPX_QUEUE_NO_OVERFLOW): a larger message is a stream:
 *    BEGIN, CONT..., END records, written while P is held; a consumer
 *    holds C while it assembles it. The put returns only when a consumer
 *    acknowledged the END record, so a consumer that dies mid-stream costs
 *    a resend, never a lost message.
 *  - mpx_queue_close is per handle and process (Python's close());
 *    mpx_queue_shutdown ends the queue for everyone.
 */
#include "os/anonfd.h"
#include "core/lockword.h"
#include "core/process_internal.h"
#include "core/queue_internal.h"
#include "core/tuning.h"
#include "os/futex.h"

#include <fcntl.h>
#include <limits.h>

/* TSan does not model fences (it warns); the fences here order atomics
 * only (Dekker-style waiter checks), which TSan needs no help with. */
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

#define RESERVE 64u            /* ring bytes kept for ABORT records */
#define SLICE_NS (20 * 1000000LL)     /* liveness checks while waiting */
#define GRACE_NS (1000 * 1000000LL)   /* mid-stream: how long without progress */
/*
 * Pauses between two looks at the other side's position while a waiter
 * spins right after a burst. A consumer that has caught up with a streaming
 * producer and polls the tail on every pause makes each put pay for cache
 * lines pulled back from the consumer (the tail and the ring line being
 * written): the producer slows down, so the consumer stays caught up, and
 * 256-byte messages ran at 4-6 M/s. Looking every STREAM_GAP pauses (about
 * 0.7 us here) lets the producer get ahead by a few records: 15-17 M/s in
 * the same runs (docs/queue.md). Only after a burst: a get that waited last time
 * (request/response traffic) looks on every pause, for latency.
 */
#define STREAM_GAP 64
/* A put that spilled: wake-ups after the P release (see do_put). */
#define DEFER_OVF (UINT64_MAX - 1)

/* Spin count for every new handle; tests set it to 0 (lost wake-up stress).
 * The spin setting (MPX_SPIN, or its alias MPX_QUEUE_SPIN; core/tuning.h)
 * overrides the default (200); 0 also
 * turns off the sched_yield rounds (MPX_QUEUE_YIELD, default 16) that a
 * waiter makes after spinning and before it sleeps. */
int mpx__queue_spin_override = -1;

/*
 * Closed with mpx_queue_close by the caller (per handle and process). In
 * the thread context a thread "process" is a process of its own: its
 * close concerns it only (it shares the handle with the other threads),
 * and a close made by the process does not concern it. Its closed handles
 * are listed in its thread (the handles' uids), freed when it ends.
 */
static __thread __attribute__((tls_model("initial-exec"))) uint64_t *tl_closed;
static __thread __attribute__((tls_model("initial-exec"))) size_t tl_nclosed;
static pthread_key_t tl_closed_key;
static pthread_once_t tl_closed_once = PTHREAD_ONCE_INIT;

static void tl_closed_init(void)
{
    pthread_key_create(&tl_closed_key, free);
}

static bool thread_closed(const mpx_queue *q)
{
    for (size_t i = 0; i < tl_nclosed; i++)
        if (tl_closed[i] == q->uid)
            return true;
    return false;
}

static int thread_close(const mpx_queue *q)
{
    if (thread_closed(q))
        return 0;
    pthread_once(&tl_closed_once, tl_closed_init);
    uint64_t *n = realloc(tl_closed, (tl_nclosed + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    n[tl_nclosed++] = q->uid;
    tl_closed = n;
    pthread_setspecific(tl_closed_key, n); /* freed when the thread ends */
    return 0;
}

static inline bool handle_closed(mpx_queue *q)
{
    pid_t c = atomic_load_explicit(&q->closed_by, memory_order_relaxed);
    if (MPX__LIKELY(!c && !tl_nclosed))
        return false;
    if (mpx__thread_self())
        return thread_closed(q);
    return c != 0 && c == mpx__self_pid;
}

bool mpx__queue_handle_closed(mpx_queue *q)
{
    return handle_closed(q);
}

/* Why calls through q must stop: 0, MPX_ECLOSED (this handle), or
 * MPX_ESHUTDOWN (the queue, for everyone). */
static int stopped(mpx_queue *q)
{
    if (handle_closed(q))
        return MPX_ECLOSED;
    return atomic_load(&q->sh->shutdown) ? MPX_ESHUTDOWN : 0;
}

/* ---- waiting and waking -------------------------------------------------- */

/*
 * A wait queue is one futex word, seq, that only grows. Odd: someone
 * announced a sleep on this value (not yet woken); even: nobody did. A
 * sleeper makes an even value odd (+1) and sleeps on the odd value; a
 * waker that finds it odd makes it even again (+1) and wakes everyone
 * sleeping on it. So a sleeper costs one futex_wake, however many puts
 * (gets) happen before it runs again: with a waiter count, every publish
 * until the woken sleeper was scheduled and took its count back paid a
 * wake-up (#18: 4 processes on 2 CPUs, up to 60,000 futex_wake per second
 * of queue_2p2c_256). Only the holder of a value's announcement, the
 * waker that wins the compare-and-swap, clears it, and the value it
 * clears is the one it saw: a later announcement is on a later value, so
 * it cannot be lost (baselines note 3).
 */
static inline void wake_seq(waitq *w, bool force)
{
    uint32_t v = LD(w->seq);
    if (v & 1) {
        if (!atomic_compare_exchange_strong(&w->seq, &v, v + 1) && !force)
            return; /* another waker cleared it: it wakes them */
    } else if (force) {
        atomic_fetch_add(&w->seq, 2); /* a new value, same parity */
    } else {
        return;
    }
    mpx__futex_wake(&w->seq, INT32_MAX);
}

static void wake(waitq *w, bool force)
{
    atomic_thread_fence(memory_order_seq_cst);
    wake_seq(w, force);
}

/* The fence a waker needs between its publish and its look at the wait
 * word. Right after a lock release (an atomic exchange: a full barrier
 * on x86) only the compiler must be stopped. */
static inline void fence_after_rmw(void)
{
#if defined(__x86_64__) || defined(__i386__)
    atomic_signal_fence(memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

static void wake_after_rmw(waitq *w)
{
    fence_after_rmw();
    wake_seq(w, false);
}

typedef bool (*qcond)(mpx_queue *q, void *arg);

/*
 * Wait until cond holds: 0. MPX_ETIMEDOUT when deadline d passed; 1 when a
 * slice of slice_ns ended (slice_ns > 0) so the caller can check liveness.
 * The announcement (seq made odd) is an atomic read-modify-write, then a
 * fence, then the re-check (Dekker with the waker's publish, fence, look:
 * either the re-check sees the publish, or the waker sees an odd value,
 * or a later one, and this futex_wait does not sleep on a stale value).
 */
static int qwait_gap(mpx_queue *q, waitq *w, qcond cond, void *arg, mpx__deadline d,
                     int64_t slice_ns, int gap)
{
    if (cond(q, arg))
        return 0;
    if (mpx__deadline_expired(d))
        return MPX_ETIMEDOUT;
    for (int i = 0; i < q->spin; i += gap) {
        for (int j = 0; j < gap; j++)
            mpx__cpu_relax();
        if (cond(q, arg))
            return 0;
    }
    for (int i = 0; i < q->yields; i++) {
        sched_yield();
        if (cond(q, arg))
            return 0;
    }
    mpx__deadline sd = d;
    if (slice_ns > 0) {
        int64_t s = mpx__now_ns() + slice_ns;
        if (s < sd)
            sd = s;
    }
    for (;;) {
        /* A read-modify-write even when the value is odd already (the
         * announcement must be a write for the Dekker argument). */
        uint32_t seq = atomic_fetch_or(&w->seq, 1) | 1;
        atomic_thread_fence(memory_order_seq_cst);
        if (cond(q, arg))
            return 0;
        int r = mpx__futex_wait(&w->seq, seq, sd);
        if (cond(q, arg))
            return 0;
        if (r == MPX_ETIMEDOUT || mpx__deadline_expired(sd)) {
            if (mpx__deadline_expired(d))
                return MPX_ETIMEDOUT;
            return 1;
        }
    }
}

static int qwait(mpx_queue *q, waitq *w, qcond cond, void *arg, mpx__deadline d, int64_t slice_ns)
{
    return qwait_gap(q, w, cond, arg, d, slice_ns, 1);
}

/* ---- locks with dead-owner takeover ------------------------------------------ */

/* A lock word holds its owner's token (core/lockword.h) | MPX__LK_W64; the
 * futex is its low half. */
static inline uint64_t me(void)
{
    return mpx__self_token();
}

/* Is the holder named by c (not us) dead? The one owner-death check of
 * locks and queues: immune to pid reuse. */
static bool holder_dead(uint64_t c)
{
    uint64_t owner = c & ~MPX__LK_FLAGBITS;
    return c != 0 && owner != me() && !mpx__owner_alive(owner);
}

/* 0 acquired, MPX_ETIMEDOUT. */
static int lock_acquire(mpx_queue *q, _Atomic uint64_t *w, mpx__deadline d)
{
    uint64_t c = 0;
    if (atomic_compare_exchange_strong(w, &c, me()))
        return 0;
    for (int i = 0; i < q->spin + q->yields; i++) {
        if (i < q->spin)
            mpx__cpu_relax();
        else
            sched_yield();
        c = 0;
        if (LD(*w) == 0 && atomic_compare_exchange_strong(w, &c, me()))
            return 0;
    }
    for (;;) {
        c = atomic_load(w);
        if (c == 0) {
            if (atomic_compare_exchange_strong(w, &c, me() | MPX__LK_W64))
                return 0;
            continue;
        }
        if (!(c & MPX__LK_W64)) {
            if (!atomic_compare_exchange_strong(w, &c, c | MPX__LK_W64))
                continue;
            c |= MPX__LK_W64;
        }
        mpx__deadline sd = mpx__now_ns() + SLICE_NS;
        if (d < sd)
            sd = d;
        int r = mpx__futex_wait(mpx__lk_futex_half(w), (uint32_t)c, sd);
        if (r == MPX_ETIMEDOUT || mpx__deadline_expired(sd)) {
            if (atomic_load(w) == c && holder_dead(c)) {
                MPX__DEBUG("queue: lock owner %u died, taking over",
                           (unsigned)(c & MPX__LK_PIDMASK));
                if (atomic_compare_exchange_strong(w, &c, me() | MPX__LK_W64))
                    return 0;
            }
            if (mpx__deadline_expired(d))
                return MPX_ETIMEDOUT;
        }
    }
}

/* Take the lock only when its owner is dead. */
static bool lock_take_if_dead(_Atomic uint64_t *w)
{
    uint64_t c = atomic_load(w);
    if (!holder_dead(c))
        return false;
    MPX__DEBUG("queue: lock owner %u died, taking over", (unsigned)(c & MPX__LK_PIDMASK));
    return atomic_compare_exchange_strong(w, &c, me() | MPX__LK_W64);
}

static void lock_release(_Atomic uint64_t *w)
{
    uint64_t old = atomic_exchange(w, 0);
    if (old & MPX__LK_W64)
        mpx__futex_wake(mpx__lk_futex_half(w), 1);
}

/* ---- ring access ----------------------------------------------------------- */

static void ring_write(mpx_queue *q, uint64_t pos, const void *src, size_t n)
{
    size_t off = (size_t)(pos & q->mask);
    size_t first = q->size - off;
    if (first > n)
        first = n;
    if (first)
        memcpy(q->ring + off, src, first);
    if (n > first)
        memcpy(q->ring, (const unsigned char *)src + first, n - first);
}

static void ring_read(mpx_queue *q, uint64_t pos, void *dst, size_t n)
{
    size_t off = (size_t)(pos & q->mask);
    size_t first = q->size - off;
    if (first > n)
        first = n;
    if (first)
        memcpy(dst, q->ring + off, first);
    if (n > first)
        memcpy((unsigned char *)dst + first, q->ring, n - first);
}

static uint64_t inline_max(const mpx_queue *q)
{
    /* payload bytes of a single record: anything that fits in the ring */
    return q->size - RESERVE - REC_HDR - 8;
}

static uint64_t chunk_max(const mpx_queue *q)
{
    return q->size / 4 - REC_HDR;
}

/* ---- journals ---------------------------------------------------------------- */

static void p_publish(qshared *sh, uint64_t tail, uint64_t put, uint64_t stream, uint64_t ended)
{
    ST(sh->pj_tail, tail);
    ST(sh->pj_put, put);
    ST(sh->pj_stream, stream);
    ST(sh->pj_ended, ended);
    STR(sh->pj_valid, 1);
    /* The count before the data: a consumer may take the message, and call
     * task_done, as soon as tail moves; a JoinableQueue's count of puts
     * must already include it (Python counts the task in put(), before the
     * item can be got), or that task_done fails and join() never returns. */
    STR(sh->put_count, put);
    STR(sh->tail, tail);
    ST(sh->p_stream, stream);
    ST(sh->p_ended, ended);
    STR(sh->pj_valid, 0);
}

typedef struct cstate {
    uint64_t head, get, acked, stream, skip, dropped;
} cstate;

static void c_load(qshared *sh, cstate *s)
{
    s->head = LD(sh->head);
    s->get = LD(sh->get_count);
    s->acked = LD(sh->c_acked);
    s->stream = LD(sh->c_stream);
    s->skip = LD(sh->c_skip);
    s->dropped = LD(sh->c_dropped);
}

static void c_publish(qshared *sh, const cstate *s)
{
    ST(sh->cj_old_head, LD(sh->head));
    ST(sh->cj_head, s->head);
    ST(sh->cj_get, s->get);
    ST(sh->cj_acked, s->acked);
    ST(sh->cj_stream, s->stream);
    ST(sh->cj_skip, s->skip);
    ST(sh->cj_dropped, s->dropped);
    STR(sh->cj_valid, 1);
    STR(sh->head, s->head); /* first: recovery tells "not started" by it */
    STR(sh->get_count, s->get);
    STR(sh->c_acked, s->acked);
    ST(sh->c_stream, s->stream);
    ST(sh->c_skip, s->skip);
    STR(sh->c_dropped, s->dropped);
    STR(sh->cj_valid, 0);
}

/* ---- eventfd for mpx_wait ------------------------------------------------------ */

void mpx__queue_efd_signal(mpx_queue *q)
{
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(q->efd, &one, 8);
    while (r < 0 && errno == EINTR);
}

void mpx__queue_efd_drain(mpx_queue *q)
{
    uint64_t v;
    ssize_t r;
    do
        r = read(q->efd, &v, 8);
    while (r < 0 && errno == EINTR);
}

bool mpx__queue_nonempty_or_closed(mpx_queue *q)
{
    return atomic_load(&q->sh->tail) != atomic_load(&q->sh->head) ||
           (q->osize && mpx__qo_nonempty(q)) || atomic_load(&q->sh->shutdown) || handle_closed(q);
}

/* After a publish: the eventfd is readable while the queue is not empty. */
static void efd_after_put(mpx_queue *q, uint64_t old_tail, bool after_rmw)
{
    if (!LD(q->sh->interest))
        return;
    if (after_rmw)
        fence_after_rmw();
    else
        atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&q->sh->head) == old_tail)
        mpx__queue_efd_signal(q);
}

static void efd_after_get(mpx_queue *q, uint64_t new_head, bool after_rmw)
{
    if (!LD(q->sh->interest))
        return;
    if (after_rmw)
        fence_after_rmw();
    else
        atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&q->sh->tail) != new_head)
        return;
    mpx__queue_efd_drain(q);
    atomic_thread_fence(memory_order_seq_cst);
    if (mpx__queue_nonempty_or_closed(q))
        mpx__queue_efd_signal(q);
}

/* ---- recovery ------------------------------------------------------------------ */

static void c_recover(mpx_queue *q);

/* With P held: finish a dead holder's publish; end its unfinished stream. */
static void p_recover(mpx_queue *q)
{
    qshared *sh = q->sh;
    if (q->osize)
        mpx__qo_p_recover(q);
    if (LDA(sh->pj_valid)) {
        MPX__DEBUG("queue: redo producer journal");
        STR(sh->put_count, LD(sh->pj_put)); /* count first (p_publish) */
        STR(sh->tail, LD(sh->pj_tail));
        ST(sh->p_stream, LD(sh->pj_stream));
        ST(sh->p_ended, LD(sh->pj_ended));
        STR(sh->pj_valid, 0);
    }
    uint64_t s = LD(sh->p_stream);
    if (!s)
        return;
    uint64_t tail = LD(sh->tail), put = LD(sh->put_count);
    if (LD(sh->p_ended)) {
        p_publish(sh, tail, put, 0, 0);
        return;
    }
    /* The dead producer's stream has no END: tell its consumer to drop it.
     * RESERVE guarantees room for this record. */
    MPX__DEBUG("queue: aborting stream %llu of a dead producer", (unsigned long long)s);
    uint64_t head = atomic_load(&sh->head);
    if (q->size - (tail - head) >= REC_HDR) {
        rec_hdr h = {K_ABORT, 0, s, 0};
        ring_write(q, tail, &h, REC_HDR);
        p_publish(sh, tail + REC_HDR, put, 0, 0);
        wake(&sh->ne, false);
        efd_after_put(q, tail, false);
    } else {
        p_publish(sh, tail, put, 0, 0);
    }
}

/* With C held: finish or roll back a dead holder's publish; drop the
 * stream it was assembling (its producer resends it). */
static void c_recover(mpx_queue *q)
{
    qshared *sh = q->sh;
    if (q->osize)
        mpx__qo_c_recover(q);
    if (LDA(sh->cj_valid)) {
        ST(sh->tail_cache, LD(sh->cj_old_head));
        uint64_t old = LD(sh->cj_old_head), nh = LD(sh->cj_head);
        if (atomic_load(&sh->head) == old && nh != old) {
            MPX__DEBUG("queue: roll back consumer journal (message stays queued)");
        } else {
            MPX__DEBUG("queue: redo consumer journal");
            cstate s = {nh, LD(sh->cj_get), LD(sh->cj_acked), LD(sh->cj_stream), LD(sh->cj_skip),
                        LD(sh->cj_dropped)};
            STR(sh->head, s.head);
            STR(sh->get_count, s.get);
            STR(sh->c_acked, s.acked);
            ST(sh->c_stream, s.stream);
            ST(sh->c_skip, s.skip);
            STR(sh->c_dropped, s.dropped);
        }
        STR(sh->cj_valid, 0);
    }
    uint64_t st = LD(sh->c_stream);
    if (st) {
        MPX__DEBUG("queue: consumer died in stream %llu: dropping it", (unsigned long long)st);
        cstate s;
        c_load(sh, &s);
        s.stream = 0;
        s.skip = st;
        s.dropped = st;
        c_publish(sh, &s);
        wake(&sh->nf, false);
    }
}

/* ---- put ------------------------------------------------------------------------ */

typedef struct space_arg {
    uint64_t need;  /* ring bytes */
    bool count;     /* check maxsize too */
    uint64_t stream; /* wake when this stream is dropped or acknowledged */
} space_arg;

static bool room(mpx_queue *q, const space_arg *a)
{
    qshared *sh = q->sh;
    uint64_t tail = LD(sh->tail);
    if (a->count && sh->maxsize > 0) {
        uint64_t put = LD(sh->put_count);
        if ((int64_t)(put - LD(sh->get_cache)) >= sh->maxsize) {
            uint64_t get = atomic_load(&sh->get_count);
            ST(sh->get_cache, get);
            if ((int64_t)(put - get) >= sh->maxsize)
                return false;
        }
    }
    uint64_t head = LD(sh->head_cache);
    if (q->size - (tail - head) >= a->need + RESERVE)
        return true;
    head = atomic_load(&sh->head);
    ST(sh->head_cache, head);
    return q->size - (tail - head) >= a->need + RESERVE;
}

static bool cond_room(mpx_queue *q, void *arg)
{
    space_arg *a = arg;
    if (atomic_load(&q->sh->shutdown) || handle_closed(q))
        return true;
    if (a->stream && atomic_load(&q->sh->c_dropped) == a->stream)
        return true;
    return room(q, a);
}

static bool cond_ack(mpx_queue *q, void *arg)
{
    uint64_t s = *(uint64_t *)arg;
    return atomic_load(&q->sh->c_acked) == s || atomic_load(&q->sh->c_dropped) == s;
}

/* A consumer that died holding C: take C over and recover (drops the
 * stream it was assembling). */
static void check_consumer(mpx_queue *q)
{
    if (lock_take_if_dead(&q->sh->c_lock)) {
        c_recover(q);
        lock_release(&q->sh->c_lock);
    }
}

/* Write and publish one record. With deferred set, the wake-ups are left
 * to the caller (after it releases P): *deferred = the old tail. */
static void put_record(mpx_queue *q, uint32_t kind, const void *p, uint32_t clen, uint64_t stream,
                       uint64_t total, uint64_t add, uint64_t pstream, uint64_t ended,
                       uint64_t *deferred)
{
    qshared *sh = q->sh;
    uint64_t tail = LD(sh->tail);
    rec_hdr h = {kind, clen, stream, total};
    ring_write(q, tail, &h, REC_HDR);
    if (clen)
        ring_write(q, tail + REC_HDR, p, clen);
    p_publish(sh, tail + align8(REC_HDR + clen), LD(sh->put_count) + add, pstream, ended);
    if (deferred) {
        *deferred = tail;
        return;
    }
    wake(&sh->ne, false);
    efd_after_put(q, tail, false);
}

static bool count_room(mpx_queue *q)
{
    qshared *sh = q->sh;
    if (sh->maxsize <= 0)
        return true;
    uint64_t put = LD(sh->put_count);
    return (int64_t)(put - atomic_load(&sh->get_count)) < sh->maxsize;
}

static bool cond_count(mpx_queue *q, void *arg)
{
    (void)arg;
    return atomic_load(&q->sh->shutdown) || handle_closed(q) || count_room(q);
}

/*
 * With P held, on a queue with an overflow store, when the ring has no room
 * for the message or the store is not empty (the ring may only take a
 * message while the store is empty: order). Waits for maxsize as usual;
 * then, when the message fits the ring and the store is empty, waits up to
 * spill_ns for ring room; else (or then) writes it into the store.
 */
static int put_spill(mpx_queue *q, const void *data, size_t len, mpx__deadline d,
                     uint64_t *deferred)
{
    qshared *sh = q->sh;
    if (!count_room(q) && qwait(q, &sh->nf, cond_count, NULL, d, 0) == MPX_ETIMEDOUT)
        return MPX_EFULL;
    int st = stopped(q);
    if (st)
        return st;
    if (len <= inline_max(q) && mpx__qo_empty_p(q)) {
        space_arg a = {align8(REC_HDR + len), false, 0};
        bool fits = room(q, &a);
        if (!fits && q->spill_ns > 0) {
            mpx__deadline sd = mpx__now_ns() + q->spill_ns;
            if (d < sd)
                sd = d;
            fits = qwait(q, &sh->nf, cond_room, &a, sd, 0) == 0 && room(q, &a);
            if ((st = stopped(q)))
                return st;
        }
        if (fits) {
            put_record(q, K_FULL, data, (uint32_t)len, 0, len, 1, 0, 0, deferred);
            return 0;
        }
    }
    int rc = mpx__qo_put(q, data, len);
    if (!rc)
        *deferred = DEFER_OVF;
    return rc;
}

static int put_inline(mpx_queue *q, const void *data, size_t len, mpx__deadline d,
                      uint64_t *deferred)
{
    space_arg a = {align8(REC_HDR + len), true, 0};
    bool burst = true;
    if (!room(q, &a)) {
        if (q->osize)
            return put_spill(q, data, len, d, deferred);
        int gap = atomic_load_explicit(&q->put_burst, memory_order_relaxed) ? STREAM_GAP : 1;
        int r = qwait_gap(q, &q->sh->nf, cond_room, &a, d, 0, gap);
        if (r == MPX_ETIMEDOUT)
            return MPX_EFULL;
        burst = false;
    }
    if (atomic_load_explicit(&q->put_burst, memory_order_relaxed) != burst)
        atomic_store_explicit(&q->put_burst, burst, memory_order_relaxed);
    if (!burst) { /* closed or shut down while it waited? */
        int st = stopped(q);
        if (st)
            return st;
    }
    put_record(q, K_FULL, data, (uint32_t)len, 0, len, 1, 0, 0, deferred);
    return 0;
}

/* End an unfinished stream (timeout, close). */
static void stream_abort(mpx_queue *q, uint64_t s)
{
    put_record(q, K_ABORT, NULL, 0, s, 0, 0, 0, 0, NULL);
}

static int put_stream(mpx_queue *q, const unsigned char *data, size_t len, mpx__deadline d)
{
    qshared *sh = q->sh;
    const uint64_t cmax = chunk_max(q);
    space_arg a = {align8(REC_HDR + cmax), true, 0};
    if (!room(q, &a)) {
        int r = qwait(q, &sh->nf, cond_room, &a, d, 0);
        if (r == MPX_ETIMEDOUT)
            return MPX_EFULL;
    }
restart:;
    int st0 = stopped(q);
    if (st0)
        return st0;
    uint64_t s = LD(sh->p_seq) + 1;
    ST(sh->p_seq, s);
    uint64_t off = 0;
    uint64_t last_head = atomic_load(&sh->head);
    int64_t last_progress = mpx__now_ns();
    for (bool first = true;; first = false) {
        uint64_t clen = len - off < cmax ? len - off : cmax;
        bool end = off + clen == len;
        space_arg ra = {align8(REC_HDR + clen), false, s};
        for (;;) {
            int r = qwait(q, &sh->nf, cond_room, &ra, d, SLICE_NS);
            if (r == 0)
                break;
            check_consumer(q);
            uint64_t h = atomic_load(&sh->head);
            if (h != last_head) {
                last_head = h;
                last_progress = mpx__now_ns();
            }
            if (r == MPX_ETIMEDOUT) {
                /* Past the deadline: go on only while a consumer is
                 * receiving this stream and making progress. */
                bool receiving = atomic_load(&sh->c_stream) == s;
                if (first || !receiving || mpx__now_ns() - last_progress > GRACE_NS) {
                    if (!first)
                        stream_abort(q, s);
                    return MPX_EFULL;
                }
                d = mpx__now_ns() + SLICE_NS;
            }
        }
        int st = stopped(q);
        if (st) {
            if (!first)
                stream_abort(q, s);
            return st;
        }
        if (atomic_load(&sh->c_dropped) == s) {
            if (!first)
                stream_abort(q, s);
            if (mpx__deadline_expired(d))
                return MPX_EFULL;
            goto restart;
        }
        uint32_t kind = first ? K_BEGIN : end ? K_END : K_CONT;
        put_record(q, kind, data + off, (uint32_t)clen, s, first ? len : clen, end ? 1 : 0, s,
                   end ? 1 : 0, NULL);
        off += clen;
        if (end)
            break;
    }
    /* Every byte is written: wait for the consumer's acknowledgment. */
    mpx__deadline ad = d;
    for (;;) {
        int r = qwait(q, &sh->nf, cond_ack, &s, ad, SLICE_NS);
        if (r == 0) {
            if (atomic_load(&sh->c_acked) == s) {
                p_publish(sh, LD(sh->tail), LD(sh->put_count), 0, 0);
                return 0;
            }
            /* dropped by its consumer (death or timeout): send again */
            p_publish(sh, LD(sh->tail), LD(sh->put_count), 0, 0);
            if (mpx__deadline_expired(d))
                return MPX_EFULL;
            goto restart;
        }
        /* The message is larger than the ring, so the consumer that read
         * its BEGIN holds C until END or a drop: it is alive and busy (let
         * it finish, past the deadline), or dead (recover: dropped). */
        check_consumer(q);
        if (r == MPX_ETIMEDOUT) /* a consumer is busy: let it go on, try again */
            ad = mpx__now_ns() + SLICE_NS;
    }
}

mpx_queue *mpx__queue_of(void *p)
{
    mpx_queue *q = p;
    if (!q || q->qmagic != Q_MAGIC || !mpx__obj_of(q))
        return NULL;
    return q;
}

static int do_put(mpx_queue *q, const void *data, size_t len, mpx_duration timeout)
{
    if (!q || (!data && len))
        return MPX_EINVAL;
    qshared *sh = q->sh;
    int rc = stopped(q);
    if (rc)
        return rc;
    mpx__deadline d = mpx__deadline_from(timeout);
    if (lock_acquire(q, &sh->p_lock, d))
        return MPX_EFULL;
    p_recover(q);
    uint64_t old_tail = UINT64_MAX;
    if (atomic_load(&sh->shutdown)) /* while it waited for the lock */
        rc = MPX_ESHUTDOWN;
    else if (q->osize && (len > inline_max(q) || !mpx__qo_empty_p(q)))
        rc = put_spill(q, data, len, d, &old_tail);
    else if (len <= inline_max(q))
        rc = put_inline(q, data, len, d, &old_tail);
    else
        rc = put_stream(q, data, len, d);
    lock_release(&sh->p_lock);
    if (old_tail == DEFER_OVF) {
        wake_after_rmw(&sh->ne);
        if (LD(sh->interest))
            mpx__queue_efd_signal(q);
    } else if (old_tail != UINT64_MAX) {
        wake_after_rmw(&sh->ne);
        efd_after_put(q, old_tail, true);
    }
    return rc;
}

/* ---- get ------------------------------------------------------------------------- */


static bool cond_nonempty(mpx_queue *q, void *arg)
{
    (void)arg;
    return mpx__queue_nonempty_or_closed(q);
}

static bool cond_more(mpx_queue *q, void *arg)
{
    return atomic_load(&q->sh->tail) != *(uint64_t *)arg;
}

static int read_hdr(mpx_queue *q, uint64_t head, uint64_t tail, rec_hdr *h)
{
    if (tail - head < REC_HDR || tail - head > q->size)
        return MPX_EBROKEN;
    ring_read(q, head, h, REC_HDR);
    if (h->kind < K_FULL || h->kind > K_ABORT || h->clen > q->size ||
        align8(REC_HDR + h->clen) > tail - head)
        return MPX_EBROKEN;
    return 0;
}

/* Consume one record at s->head (already read into h), publishing s. */
static void consume(mpx_queue *q, cstate *s, const rec_hdr *h)
{
    s->head += align8(REC_HDR + h->clen);
    c_publish(q->sh, s);
    wake(&q->sh->nf, false);
    efd_after_get(q, s->head, false);
}

static int read_stream(mpx_queue *q, getdst *g, cstate *s, const rec_hdr *bh, mpx__deadline d)
{
    qshared *sh = q->sh;
    uint64_t total = bh->total, id = bh->stream;
    if (total <= inline_max(q) || bh->clen > total || id == 0)
        return MPX_EBROKEN;
    if (g->into && g->cap < total) {
        *g->len = (size_t)total;
        return MPX_ETOOSHORT; /* nothing consumed: the message stays */
    }
    if (total > SIZE_MAX)
        return -ENOMEM;
    unsigned char *buf = g->into ? g->buf : malloc((size_t)total);
    if (!buf)
        return -ENOMEM;
    ring_read(q, s->head + REC_HDR, buf, bh->clen);
    uint64_t off = bh->clen;
    s->stream = id;
    s->skip = 0;
    consume(q, s, bh);
    uint64_t last_tail = atomic_load(&sh->tail);
    int64_t last_progress = mpx__now_ns();
    for (;;) {
        uint64_t tail = atomic_load_explicit(&sh->tail, memory_order_acquire);
        if (tail == s->head) {
            int r = qwait(q, &sh->ne, cond_more, &s->head, d, SLICE_NS);
            if (r == 0)
                continue;
            /* A dead producer: recover P, which ends its stream. */
            if (lock_take_if_dead(&sh->p_lock)) {
                p_recover(q);
                lock_release(&sh->p_lock);
            }
            uint64_t t = atomic_load(&sh->tail);
            if (t != last_tail) {
                last_tail = t;
                last_progress = mpx__now_ns();
            }
            if (r == MPX_ETIMEDOUT) {
                if (mpx__now_ns() - last_progress > GRACE_NS) {
                    /* Give up: the producer resends to another get. */
                    s->stream = 0;
                    s->skip = id;
                    s->dropped = id;
                    c_publish(sh, s);
                    wake(&sh->nf, true);
                    if (!g->into)
                        free(buf);
                    return MPX_EEMPTY;
                }
                d = mpx__now_ns() + SLICE_NS;
            }
            continue;
        }
        rec_hdr h;
        int rc = read_hdr(q, s->head, tail, &h);
        if (!rc && (h.stream != id || (h.kind != K_CONT && h.kind != K_END && h.kind != K_ABORT)))
            rc = TAKE_AGAIN; /* cannot happen: P recovery ends streams */
        if (!rc && h.kind == K_ABORT) {
            s->stream = 0;
            consume(q, s, &h);
            rc = TAKE_AGAIN;
        }
        if (!rc && off + h.clen > total)
            rc = MPX_EBROKEN;
        if (!rc && h.kind == K_END && off + h.clen != total)
            rc = MPX_EBROKEN;
        if (rc) {
            if (rc == TAKE_AGAIN && s->stream) {
                s->stream = 0;
                c_publish(sh, s);
            }
            if (!g->into)
                free(buf);
            return rc;
        }
        ring_read(q, s->head + REC_HDR, buf + off, h.clen);
        off += h.clen;
        if (h.kind == K_END) {
            s->stream = 0;
            s->acked = id;
            s->get++;
            consume(q, s, &h);
            wake(&sh->nf, false);
            if (g->into)
                *g->len = (size_t)total;
            else {
                *g->out = buf;
                *g->len = (size_t)total;
            }
            return 0;
        }
        consume(q, s, &h);
    }
}

/* With C held: take the next message. 0, TAKE_EMPTY, or an error. */
static int take(mpx_queue *q, getdst *g, mpx__deadline d)
{
    qshared *sh = q->sh;
    cstate s;
    c_load(sh, &s);
    for (;;) {
        /* A cached tail lets a burst of gets read the producer's line once. */
        uint64_t tail = LD(sh->tail_cache);
        if (tail - s.head - 1 >= q->size) { /* tail == head, or a stale cache */
            tail = atomic_load_explicit(&sh->tail, memory_order_acquire);
            ST(sh->tail_cache, tail);
            if (tail == s.head) {
                /* The ring is empty: the overflow store's turn. */
                int orc = q->osize ? mpx__qo_take(q, g) : TAKE_EMPTY;
                if (orc != TAKE_RING)
                    return orc;
                continue;
            }
        }
        rec_hdr h;
        int rc = read_hdr(q, s.head, tail, &h);
        if (rc)
            return rc;
        if (s.skip) {
            if (h.stream == s.skip && (h.kind == K_CONT || h.kind == K_END || h.kind == K_ABORT)) {
                if (h.kind == K_END)
                    s.get++; /* its put was counted; the resend counts again */
                if (h.kind != K_CONT)
                    s.skip = 0;
                consume(q, &s, &h);
                continue;
            }
            s.skip = 0;
        }
        switch (h.kind) {
        case K_FULL: {
            if (g->into) {
                if (g->cap < h.clen) {
                    *g->len = h.clen;
                    return MPX_ETOOSHORT;
                }
                ring_read(q, s.head + REC_HDR, g->buf, h.clen);
                *g->len = h.clen;
            } else {
                void *m = malloc(h.clen ? h.clen : 1);
                if (!m)
                    return -ENOMEM;
                ring_read(q, s.head + REC_HDR, m, h.clen);
                *g->out = m;
                *g->len = h.clen;
            }
            s.get++;
            s.head += align8(REC_HDR + h.clen);
            c_publish(sh, &s);
            g->deferred = s.head;
            return 0;
        }
        case K_BEGIN:
            rc = read_stream(q, g, &s, &h, d);
            if (rc != TAKE_AGAIN)
                return rc;
            c_load(sh, &s);
            continue;
        case K_END:
            s.get++; /* stray end of a dropped stream */
            consume(q, &s, &h);
            continue;
        default: /* stray CONT / ABORT */
            consume(q, &s, &h);
            continue;
        }
    }
}

/* Nothing in the ring or the store (approximate under concurrency). */
static bool q_empty_now(mpx_queue *q)
{
    return atomic_load(&q->sh->tail) == atomic_load(&q->sh->head) &&
           !(q->osize && mpx__qo_nonempty(q));
}

static int do_get(mpx_queue *q, getdst *g, mpx_duration timeout)
{
    qshared *sh = q->sh;
    if (handle_closed(q))
        return MPX_ECLOSED;
    if (atomic_load(&sh->shutdown) == SHUT_IMMEDIATE)
        return MPX_ESHUTDOWN;
    mpx__deadline d = mpx__deadline_from(timeout);
    bool burst = true;
    for (;;) {
        if (lock_acquire(q, &sh->c_lock, d))
            return MPX_EEMPTY;
        if (!burst) { /* closed, or shut down at once, while this get waited */
            int st = 0;
            if (handle_closed(q))
                st = MPX_ECLOSED;
            else if (atomic_load(&sh->shutdown) == SHUT_IMMEDIATE)
                st = MPX_ESHUTDOWN; /* as Python: nothing is got past it */
            if (st) {
                lock_release(&sh->c_lock);
                return st;
            }
        }
        c_recover(q);
        g->deferred = UINT64_MAX;
        int rc = take(q, g, d);
        lock_release(&sh->c_lock);
        if (g->deferred != UINT64_MAX) {
            wake_after_rmw(&sh->nf);
            efd_after_get(q, g->deferred, true);
        }
        if (rc != TAKE_EMPTY) {
            if (rc == 0 && atomic_load_explicit(&q->get_burst, memory_order_relaxed) != burst)
                atomic_store_explicit(&q->get_burst, burst, memory_order_relaxed);
            return rc;
        }
        int st = stopped(q);
        if (st == MPX_ECLOSED)
            return st;
        if (st) { /* shut down: what is left, then MPX_ESHUTDOWN */
            if (q_empty_now(q) || atomic_load(&sh->shutdown) == SHUT_IMMEDIATE)
                return MPX_ESHUTDOWN;
            continue;
        }
        int gap = atomic_load_explicit(&q->get_burst, memory_order_relaxed) ? STREAM_GAP : 1;
        burst = false;
        int r = qwait_gap(q, &sh->ne, cond_nonempty, NULL, d, 0, gap);
        if (r == MPX_ETIMEDOUT)
            return MPX_EEMPTY;
    }
}

/* ---- public API -------------------------------------------------------------------- */

MPX_API int mpx_queue_create(mpx_queue **out, int64_t maxsize, const mpx_queue_opts *opts)
{
    return mpx__queue_create(out, maxsize, opts, KIND_QUEUE);
}

MPX_API int mpx_joinable_queue_create(mpx_queue **out, int64_t maxsize, const mpx_queue_opts *opts)
{
    return mpx__queue_create(out, maxsize, opts, KIND_JOINABLE);
}

MPX_API void mpx_queue_destroy(mpx_queue *q)
{
    q = mpx__queue_of(q);
    if (!q || q->imported)
        return;
    mpx__queue_handle_free(q);
}

MPX_API int mpx_queue_put(mpx_queue *q, const void *data, size_t len, mpx_duration timeout)
{
    return do_put(mpx__queue_of(q), data, len, timeout);
}

MPX_API int mpx_queue_put_nowait(mpx_queue *q, const void *data, size_t len)
{
    return do_put(mpx__queue_of(q), data, len, MPX_NOWAIT);
}

MPX_API int mpx_queue_get(mpx_queue *q, void **data, size_t *len, mpx_duration timeout)
{
    q = mpx__queue_of(q);
    if (!q || !data || !len)
        return MPX_EINVAL;
    getdst g = {data, len, NULL, 0, false, 0};
    return do_get(q, &g, timeout);
}

MPX_API int mpx_queue_get_nowait(mpx_queue *q, void **data, size_t *len)
{
    return mpx_queue_get(q, data, len, MPX_NOWAIT);
}

MPX_API int mpx_queue_get_into(mpx_queue *q, void *buf, size_t cap, size_t *len,
                               mpx_duration timeout)
{
    q = mpx__queue_of(q);
    if (!q || !len || (!buf && cap))
        return MPX_EINVAL;
    getdst g = {NULL, len, buf, cap, true, 0};
    return do_get(q, &g, timeout);
}

MPX_API int mpx_queue_qsize(mpx_queue *q)
{
    q = mpx__queue_of(q);
    if (!q)
        return MPX_EINVAL;
    uint64_t get = atomic_load(&q->sh->get_count);
    uint64_t put = atomic_load(&q->sh->put_count);
    int64_t n = (int64_t)(put - get);
    if (n < 0)
        n = 0;
    return n > INT_MAX ? INT_MAX : (int)n;
}

MPX_API int mpx_queue_empty(mpx_queue *q)
{
    int n = mpx_queue_qsize(q);
    return n < 0 ? n : n == 0;
}

MPX_API int mpx_queue_full(mpx_queue *q)
{
    int n = mpx_queue_qsize(q);
    if (n < 0)
        return n;
    if (q->sh->maxsize > 0 && n >= q->sh->maxsize)
        return 1;
    if (q->osize)
        return 0; /* the store takes what the ring cannot */
    uint64_t used = atomic_load(&q->sh->tail) - atomic_load(&q->sh->head);
    return q->size - used < align8(REC_HDR) + RESERVE;
}

MPX_API int64_t mpx_queue_maxsize(mpx_queue *q)
{
    q = mpx__queue_of(q);
    return q ? q->sh->maxsize : MPX_EINVAL;
}

MPX_API int mpx_queue_close(mpx_queue *q)
{
    q = mpx__queue_of(q);
    if (!q)
        return MPX_EINVAL;
    if (mpx__thread_self())
        return thread_close(q); /* this thread "process" only */
    atomic_store(&q->closed_by, mpx__self_pid);
    /* Threads of this process waiting through this handle return. */
    wake(&q->sh->ne, false);
    wake(&q->sh->nf, false);
    return 0;
}

MPX_API int mpx_queue_is_closed(mpx_queue *q)
{
    q = mpx__queue_of(q);
    if (!q)
        return MPX_EINVAL;
    return handle_closed(q) ? 1 : 0;
}

/* With P and C held: drop everything queued (shutdown(immediate)). */
static void discard_all(mpx_queue *q)
{
    qshared *sh = q->sh;
    if (q->osize)
        mpx__qo_discard(q);
    cstate s;
    c_load(sh, &s);
    s.head = LD(sh->tail);
    s.get = LD(sh->put_count);
    s.stream = 0;
    s.skip = 0;
    c_publish(sh, &s);
    ST(sh->tail_cache, s.head);
}

MPX_API int mpx_queue_shutdown(mpx_queue *q, int immediate)
{
    q = mpx__queue_of(q);
    if (!q)
        return MPX_EINVAL;
    qshared *sh = q->sh;
    uint32_t want = immediate ? SHUT_IMMEDIATE : SHUT_DRAIN;
    uint32_t cur = atomic_load(&sh->shutdown);
    while (cur < want && !atomic_compare_exchange_weak(&sh->shutdown, &cur, want))
        ;
    wake(&sh->ne, true);
    wake(&sh->nf, true);
    if (immediate) {
        /* Python drops the items and counts them as done (join returns).
         * P then C: no one holds C while waiting for P. */
        lock_acquire(q, &sh->p_lock, MPX__NEVER);
        p_recover(q);
        lock_acquire(q, &sh->c_lock, MPX__NEVER);
        c_recover(q);
        uint64_t left = LD(sh->put_count) - LD(sh->get_count);
        discard_all(q);
        lock_release(&sh->c_lock);
        lock_release(&sh->p_lock);
        uint64_t done = atomic_load(&sh->done_count);
        for (;;) {
            uint64_t put = atomic_load(&sh->put_count);
            uint64_t nd = done + left > put ? put : done + left;
            if (nd <= done || atomic_compare_exchange_weak(&sh->done_count, &done, nd))
                break;
        }
        wake(&sh->jq, true);
        wake(&sh->nf, true);
    }
    if (LD(sh->interest))
        mpx__queue_efd_signal(q);
    return 0;
}

MPX_API int mpx_queue_is_shutdown(mpx_queue *q)
{
    q = mpx__queue_of(q);
    if (!q)
        return MPX_EINVAL;
    return atomic_load(&q->sh->shutdown) ? 1 : 0;
}

MPX_API int mpx_queue_join_thread(mpx_queue *q)
{
    q = mpx__queue_of(q);
    if (!q)
        return MPX_EINVAL;
    return handle_closed(q) ? 0 : MPX_ESTATE;
}

MPX_API int mpx_queue_cancel_join_thread(mpx_queue *q)
{
    return mpx__queue_of(q) ? 0 : MPX_EINVAL;
}

MPX_API int mpx_queue_task_done(mpx_queue *q)
{
    q = mpx__queue_of(q);
    if (!q)
        return MPX_EINVAL;
    if (q->sh->kind != KIND_JOINABLE)
        return MPX_ENOTSUP;
    qshared *sh = q->sh;
    uint64_t done = atomic_load(&sh->done_count);
    for (;;) {
        uint64_t put = atomic_load(&sh->put_count);
        if (done >= put)
            return MPX_ESTATE;
        if (atomic_compare_exchange_weak(&sh->done_count, &done, done + 1))
            break;
    }
    if (done + 1 == atomic_load(&sh->put_count))
        wake(&sh->jq, false);
    return 0;
}

static bool cond_joined(mpx_queue *q, void *arg)
{
    (void)arg;
    return atomic_load(&q->sh->done_count) >= atomic_load(&q->sh->put_count);
}

MPX_API int mpx_queue_join(mpx_queue *q, mpx_duration timeout)
{
    q = mpx__queue_of(q);
    if (!q)
        return MPX_EINVAL;
    if (q->sh->kind != KIND_JOINABLE)
        return MPX_ENOTSUP;
    mpx__deadline d = mpx__deadline_from(timeout);
    for (;;) {
        int r = qwait(q, &q->sh->jq, cond_joined, NULL, d, 0);
        if (r == 0)
            return 1; /* all tasks done */
        if (r == MPX_ETIMEDOUT)
            return 0;
    }
}

MPX_API int mpx_queue_unfinished(mpx_queue *q)
{
    q = mpx__queue_of(q);
    if (!q)
        return MPX_EINVAL;
    if (q->sh->kind != KIND_JOINABLE)
        return MPX_ENOTSUP;
    uint64_t done = atomic_load(&q->sh->done_count);
    uint64_t put = atomic_load(&q->sh->put_count);
    int64_t n = (int64_t)(put - done);
    if (n < 0)
        n = 0;
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* SimpleQueue: the same object with no maxsize and no timeouts. */

MPX_API int mpx_simple_queue_create(mpx_simple_queue **out, const mpx_queue_opts *opts)
{
    return mpx__queue_create((mpx_queue **)out, 0, opts, KIND_SIMPLE);
}

MPX_API void mpx_simple_queue_destroy(mpx_simple_queue *q)
{
    mpx_queue_destroy((mpx_queue *)q);
}

MPX_API int mpx_simple_queue_put(mpx_simple_queue *q, const void *data, size_t len)
{
    return mpx_queue_put((mpx_queue *)q, data, len, MPX_FOREVER);
}

MPX_API int mpx_simple_queue_get(mpx_simple_queue *q, void **data, size_t *len)
{
    return mpx_queue_get((mpx_queue *)q, data, len, MPX_FOREVER);
}

MPX_API int mpx_simple_queue_get_into(mpx_simple_queue *q, void *buf, size_t cap, size_t *len)
{
    return mpx_queue_get_into((mpx_queue *)q, buf, cap, len, MPX_FOREVER);
}

MPX_API int mpx_simple_queue_empty(mpx_simple_queue *q)
{
    return mpx_queue_empty((mpx_queue *)q);
}

MPX_API int mpx_simple_queue_close(mpx_simple_queue *q)
{
    return mpx_queue_close((mpx_queue *)q);
}
