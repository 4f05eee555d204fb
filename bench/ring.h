/*
 * bench/ring.h - the "raw" single-producer single-consumer ring in shared
 * memory that the queue and pool figures compare against.
 *
 * Records are an 8-byte header (payload length) and the payload padded to
 * 8 bytes, in a power-of-two byte array; positions are 32-bit counters
 * that wrap. Each side keeps a cached copy of the other side's position.
 * Waiting: spin briefly (never unboundedly: 2 CPUs), then announce
 * "waiting" and sleep on the futex of the position word. Only the sleeper
 * clears its own flag (baselines.md note 3: a waker that clears the flag
 * can lose a later wake-up). A seq_cst fence separates each publish from
 * the check of the peer's flag, and each announcement from the re-check.
 */
#ifndef MPX_BENCH_RING_H
#define MPX_BENCH_RING_H

#include "bench.h"

#ifndef RING_SPIN
#define RING_SPIN 2000
#endif

/* A sleep is bounded: a wake-up that never comes costs RING_WAIT_MS and
 * is counted (ring_destroy reports it on stderr) instead of hanging the
 * benchmark. */
#ifndef RING_WAIT_MS
#define RING_WAIT_MS 20
#endif

typedef struct ring {
    _Alignas(64) _Atomic uint32_t tail; /* written by the producer */
    _Atomic uint32_t cons_waiting;
    _Alignas(64) _Atomic uint32_t head; /* written by the consumer */
    _Atomic uint32_t prod_waiting;
    _Alignas(64) uint32_t size; /* bytes, power of two */
    _Atomic uint32_t lost;      /* wake-ups that never came (see ring_park) */
    /* producer-private */
    _Alignas(64) uint32_t p_tail, p_head_cache;
    uint32_t p_gen, p_woken; /* own sleep generation; consumer's last one woken */
    /* consumer-private */
    _Alignas(64) uint32_t c_head, c_tail_cache;
    uint32_t c_gen, c_woken;
    _Alignas(64) unsigned char data[];
} ring;

/* A ring of size bytes (power of two) in a fresh shared mapping. */
static inline ring *ring_create(uint32_t size)
{
    ring *r = bench_shared(sizeof(ring) + size);
    if (r)
        r->size = size;
    return r;
}

static inline void ring_destroy(ring *r)
{
    if (!r)
        return;
    if (atomic_load(&r->lost))
        fprintf(stderr, "raw ring: %u lost wake-up(s) recovered by the %d ms timeout\n",
                (unsigned)atomic_load(&r->lost), RING_WAIT_MS);
    munmap(r, sizeof(ring) + r->size);
}

static inline uint32_t ring_rec(uint32_t n)
{
    return 8 + ((n + 7u) & ~7u);
}

static inline void ring_copy_in(ring *r, uint32_t pos, const void *src, uint32_t n)
{
    uint32_t off = pos & (r->size - 1), first = r->size - off;
    if (first >= n) {
        memcpy(r->data + off, src, n);
    } else {
        memcpy(r->data + off, src, first);
        memcpy(r->data, (const char *)src + first, n - first);
    }
}

static inline void ring_copy_out(ring *r, uint32_t pos, void *dst, uint32_t n)
{
    uint32_t off = pos & (r->size - 1), first = r->size - off;
    if (first >= n) {
        memcpy(dst, r->data + off, n);
    } else {
        memcpy(dst, r->data + off, first);
        memcpy((char *)dst + first, r->data, n - first);
    }
}

/*
 * Sleep until *word != old, with the announce/re-check protocol. The flag
 * holds the sleeper's generation (nonzero) while it may sleep, so the
 * other side wakes it once per sleep, not once per message it handles
 * while the sleeper is still waking up.
 */
static inline void ring_park(_Atomic uint32_t *word, _Atomic uint32_t *flag, uint32_t *gen,
                             uint32_t old, _Atomic uint32_t *lost)
{
    for (int i = 0; i < RING_SPIN; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != old)
            return;
        bench_relax();
    }
    if (++*gen == 0)
        *gen = 1;
    atomic_store_explicit(flag, *gen, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(word, memory_order_acquire) == old &&
        bench_futex_wait_ms(word, old, RING_WAIT_MS) < 0 && errno == ETIMEDOUT &&
        atomic_load_explicit(word, memory_order_acquire) != old && lost)
        atomic_fetch_add(lost, 1); /* the word changed but nobody woke us */
    atomic_store_explicit(flag, 0, memory_order_relaxed);
}

/* After publishing *word: wake the peer if it announced a sleep we have
 * not woken yet. */
static inline void ring_notify(_Atomic uint32_t *word, _Atomic uint32_t *flag, uint32_t *woken)
{
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t g = atomic_load_explicit(flag, memory_order_relaxed);
    if (g && g != *woken) {
        *woken = g;
        bench_futex_wake(word, 1);
    }
}

#define RING_MORE ((uint64_t)1 << 32) /* header flag: the message continues */

/* Non-blocking push of one record: 1 done, 0 no room. */
static inline int ring_try_push_rec(ring *r, const void *p, uint32_t n, uint64_t flags)
{
    uint32_t need = ring_rec(n), t = r->p_tail;
    if (t - r->p_head_cache + need > r->size) {
        r->p_head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (t - r->p_head_cache + need > r->size)
            return 0;
    }
    uint64_t hdr = n | flags;
    ring_copy_in(r, t, &hdr, 8);
    ring_copy_in(r, t + 8, p, n);
    r->p_tail = t + need;
    atomic_store_explicit(&r->tail, t + need, memory_order_release);
    ring_notify(&r->tail, &r->cons_waiting, &r->p_woken);
    return 1;
}

static inline int ring_try_push(ring *r, const void *p, uint32_t n)
{
    return ring_try_push_rec(r, p, n, 0);
}

static inline void ring_push_rec(ring *r, const void *p, uint32_t n, uint64_t flags)
{
    while (!ring_try_push_rec(r, p, n, flags))
        /* not counted: the consumer defers this wake-up to half free */
        ring_park(&r->head, &r->prod_waiting, &r->p_gen, r->p_head_cache, NULL);
}

static inline void ring_push(ring *r, const void *p, uint32_t n)
{
    ring_push_rec(r, p, n, 0);
}

/* Non-blocking pop of one record into buf (cap bytes): its length, or -1
 * when empty; *more (may be NULL) gets the RING_MORE flag. */
static inline long ring_try_pop_rec(ring *r, void *buf, uint32_t cap, int *more)
{
    uint32_t h = r->c_head;
    if (h == r->c_tail_cache) {
        r->c_tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h == r->c_tail_cache)
            return -1;
    }
    uint64_t hdr;
    ring_copy_out(r, h, &hdr, 8);
    uint32_t n = (uint32_t)hdr;
    if (more)
        *more = (hdr & RING_MORE) != 0;
    ring_copy_out(r, h + 8, buf, n < cap ? n : cap);
    r->c_head = h + ring_rec(n);
    atomic_store_explicit(&r->head, r->c_head, memory_order_release);
    /* Wake a sleeping producer only once half the ring is free, so a full
     * ring does not cost a wake-up per message (records are always
     * smaller than half the ring here). The tail may be stale: that only
     * overestimates the free space (an early, harmless wake-up). */
    if (r->size - (r->c_tail_cache - r->c_head) >= r->size / 2)
        ring_notify(&r->head, &r->prod_waiting, &r->c_woken);
    return n;
}

static inline long ring_try_pop(ring *r, void *buf, uint32_t cap)
{
    return ring_try_pop_rec(r, buf, cap, NULL);
}

static inline long ring_pop_rec(ring *r, void *buf, uint32_t cap, int *more)
{
    long n;
    while ((n = ring_try_pop_rec(r, buf, cap, more)) < 0)
        ring_park(&r->tail, &r->cons_waiting, &r->c_gen, r->c_head, &r->lost);
    return n;
}

static inline long ring_pop(ring *r, void *buf, uint32_t cap)
{
    return ring_pop_rec(r, buf, cap, NULL);
}

/*
 * Messages larger than RING_CHUNK travel as a run of records flagged
 * RING_MORE but the last, so the consumer copies out one chunk while the
 * producer copies in the next (two copies, pipelined).
 */
#define RING_CHUNK (64u * 1024u)

static inline void ring_push_msg(ring *r, const void *p, size_t n)
{
    const char *c = p;
    while (n > RING_CHUNK) {
        ring_push_rec(r, c, RING_CHUNK, RING_MORE);
        c += RING_CHUNK;
        n -= RING_CHUNK;
    }
    ring_push_rec(r, c, (uint32_t)n, 0);
}

/* Pop one whole message into buf (cap bytes); its length, or -1 when it
 * does not fit. */
static inline long ring_pop_msg(ring *r, void *buf, size_t cap)
{
    size_t got = 0;
    int more = 1;
    while (more) {
        size_t room = cap - got < RING_CHUNK ? cap - got : RING_CHUNK;
        long n = ring_pop_rec(r, (char *)buf + got, (uint32_t)room, &more);
        got += (size_t)n;
        if (got > cap)
            return -1;
    }
    return (long)got;
}

#endif /* MPX_BENCH_RING_H */
