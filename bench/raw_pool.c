/*
 * bench/raw_pool.c - the raw side of the pool group: a minimal
 * shared-memory dispatch loop (the design point of baselines.md note 8).
 *
 * 2 worker processes; per worker an SPSC task ring and an SPSC result
 * ring (ring.h); inputs and outputs in a shared array. A task message is
 * {start, count}: the worker computes out[i] = in[i]*in[i] over the range
 * and pushes the same message back. The parent keeps both task rings fed
 * without blocking, drains results, and when it can do neither it sleeps
 * on a doorbell futex that a worker rings after a result when the parent
 * announced it is waiting (once per sleep: the announcement carries a
 * generation number).
 *
 *   pool_map_chunk1    1,000,000 tasks (quick: 200,000), one per message
 *   pool_map_default   the same with Python's default chunksize
 *                      (ceil(n / (4 * workers)))
 *   pool_apply_async   one task per message, calibrated count
 *   pool_array_10us    the "same loop in 2 threads": 2 threads claim
 *                      chunks of 10 us tasks from an atomic counter
 *   pool_apply_latency one task's round trip through the loop: push it,
 *                      wait for its result (the raw ping-pong with a
 *                      pre-started worker); the median of single calls
 *   pool_map10_latency a map of 10 tasks in Python's default chunks
 *                      (ceil(10 / (4 * 2)) = 2 per message), waited for
 */
#include "figures.h"
#include "ring.h"

#include <pthread.h>
#include <sys/wait.h>

typedef struct {
    int64_t start, count;
} task_msg;

typedef struct {
    _Alignas(64) _Atomic uint32_t bell;
    _Atomic uint32_t parent_waiting;
} doorbell;

static unsigned lost_bells; /* doorbell wake-ups that never came */

typedef struct {
    ring *task[POOL_WORKERS], *result[POOL_WORKERS];
    doorbell *db;
    int64_t *in, *out;
    size_t cap;
    pid_t pid[POOL_WORKERS];
} rpool;

static void worker_loop(rpool *p, int w)
{
    task_msg m;
    uint32_t woken = 0; /* the parent's last sleep generation we rang for */
    for (;;) {
        if (ring_pop(p->task[w], &m, sizeof m) != sizeof m || m.count == 0)
            _exit(0);
        for (int64_t i = m.start; i < m.start + m.count; i++)
            p->out[i] = bench_task_square(p->in[i]);
        ring_push(p->result[w], &m, sizeof m);
        atomic_thread_fence(memory_order_seq_cst);
        uint32_t g = atomic_load_explicit(&p->db->parent_waiting, memory_order_relaxed);
        if (g && g != woken) {
            woken = g;
            atomic_fetch_add(&p->db->bell, 1);
            bench_futex_wake(&p->db->bell, 1);
        }
    }
}

static int rpool_start(rpool *p, size_t cap)
{
    memset(p, 0, sizeof *p);
    p->cap = cap;
    p->db = bench_shared(sizeof *p->db);
    p->in = bench_shared(cap * sizeof(int64_t));
    p->out = bench_shared(cap * sizeof(int64_t));
    if (!p->db || !p->in || !p->out)
        return -1;
    for (size_t i = 0; i < cap; i++)
        p->in[i] = (int64_t)i;
    for (int w = 0; w < POOL_WORKERS; w++) {
        p->task[w] = ring_create(1 << 16);
        p->result[w] = ring_create(1 << 16);
        if (!p->task[w] || !p->result[w])
            return -1;
    }
    for (int w = 0; w < POOL_WORKERS; w++) {
        p->pid[w] = fork();
        if (p->pid[w] < 0)
            return -1;
        if (p->pid[w] == 0)
            worker_loop(p, w);
    }
    return 0;
}

static int rpool_stop(rpool *p)
{
    int bad = 0;
    task_msg stop = {0, 0};
    for (int w = 0; w < POOL_WORKERS; w++)
        if (p->pid[w] > 0) {
            ring_push(p->task[w], &stop, sizeof stop);
            bad |= bench_wait_ok(p->pid[w]);
        }
    if (lost_bells)
        fprintf(stderr, "raw pool: %u lost doorbell wake-up(s) recovered by the %d ms timeout\n",
                lost_bells, RING_WAIT_MS);
    lost_bells = 0;
    for (int w = 0; w < POOL_WORKERS; w++) {
        ring_destroy(p->task[w]);
        ring_destroy(p->result[w]);
    }
    if (p->db)
        munmap(p->db, sizeof *p->db);
    if (p->in)
        munmap(p->in, p->cap * sizeof(int64_t));
    if (p->out)
        munmap(p->out, p->cap * sizeof(int64_t));
    return bad;
}

static int results_pending(rpool *p)
{
    for (int w = 0; w < POOL_WORKERS; w++)
        if (atomic_load_explicit(&p->result[w]->tail, memory_order_acquire) != p->result[w]->c_head)
            return 1;
    return 0;
}

/* Map n tasks in chunks of chunk; returns elapsed seconds. */
static double rpool_map(rpool *p, int64_t n, int64_t chunk)
{
    double t = bench_now();
    int64_t next = 0, done = 0;
    int w = 0;
    static uint32_t gen; /* sleep generation, in parent_waiting while asleep */
    task_msg m;
    while (done < n) {
        int progress = 0;
        while (next < n) {
            m.start = next;
            m.count = n - next < chunk ? n - next : chunk;
            if (ring_try_push(p->task[w], &m, sizeof m)) {
                next += m.count;
                w = (w + 1) % POOL_WORKERS;
                progress = 1;
            } else if (ring_try_push(p->task[(w + 1) % POOL_WORKERS], &m, sizeof m)) {
                next += m.count;
                progress = 1;
            } else {
                break;
            }
        }
        for (int k = 0; k < POOL_WORKERS; k++)
            while (ring_try_pop(p->result[k], &m, sizeof m) == sizeof m) {
                done += m.count;
                progress = 1;
            }
        if (progress || done >= n)
            continue;
        for (int i = 0; i < RING_SPIN && !results_pending(p); i++)
            bench_relax();
        if (results_pending(p))
            continue;
        uint32_t b = atomic_load(&p->db->bell);
        if (++gen == 0)
            gen = 1;
        atomic_store(&p->db->parent_waiting, gen);
        atomic_thread_fence(memory_order_seq_cst);
        if (!results_pending(p) && bench_futex_wait_ms(&p->db->bell, b, RING_WAIT_MS) < 0 &&
            errno == ETIMEDOUT && results_pending(p))
            lost_bells++; /* a result came but the bell did not ring */
        atomic_store(&p->db->parent_waiting, 0);
    }
    t = bench_now() - t;
    for (int64_t i = 0; i < n; i++)
        if (p->out[i] != i * i)
            return -1;
    return t;
}

static int map_side(const bench_cfg *cfg, int chunk1, double *out, char *why, size_t whylen)
{
    int64_t n = cfg->quick ? POOL_TASKS_QUICK : POOL_TASKS_FULL;
    int64_t chunk = 1;
    if (!chunk1) {
        chunk = n / (4 * POOL_WORKERS);
        if (n % (4 * POOL_WORKERS))
            chunk++;
    }
    rpool p;
    if (rpool_start(&p, (size_t)n)) {
        rpool_stop(&p);
        return BENCH_WHY("raw pool set-up failed: %s", strerror(errno));
    }
    rpool_map(&p, 1000 < n ? 1000 : n, 1); /* warm-up */
    double t = rpool_map(&p, n, chunk);
    if (rpool_stop(&p) || t < 0)
        return BENCH_WHY("raw pool failed");
    *out = (double)n / t;
    return 0;
}

SIDE(raw_pool_map_chunk1)
{
    return map_side(cfg, 1, out, why, whylen);
}

SIDE(raw_pool_map_default)
{
    return map_side(cfg, 0, out, why, whylen);
}

static double run_apply(void *c, long n)
{
    rpool *p = c;
    if ((size_t)n > p->cap)
        n = (long)p->cap;
    return rpool_map(p, n, 1);
}

SIDE(raw_pool_apply_async)
{
    rpool p;
    size_t cap = 4000000;
    if (rpool_start(&p, cap)) {
        rpool_stop(&p);
        return BENCH_WHY("raw pool set-up failed: %s", strerror(errno));
    }
    double s = bench_calibrate(run_apply, &p, 1000, (long)cap, cfg->target);
    if (rpool_stop(&p) || s < 0)
        return BENCH_WHY("raw pool failed");
    *out = 1 / s;
    return 0;
}

/* ---- the interactive case: one round trip at a time ---- */

typedef struct {
    rpool p;
    int64_t items, chunk;
} lat_ctx;

static int one_round_trip(void *c)
{
    lat_ctx *lc = c;
    return rpool_map(&lc->p, lc->items, lc->chunk) < 0 ? -1 : 0;
}

static int latency_side(const bench_cfg *cfg, int64_t items, double *out, char *why, size_t whylen)
{
    lat_ctx lc;
    lc.items = items;
    lc.chunk = (items + 4 * POOL_WORKERS - 1) / (4 * POOL_WORKERS); /* Python's default */
    if (rpool_start(&lc.p, POOL_LATENCY_MAP_ITEMS)) {
        rpool_stop(&lc.p);
        return BENCH_WHY("raw pool set-up failed: %s", strerror(errno));
    }
    int err = 0;
    double s = bench_call_median(one_round_trip, &lc, 100, cfg->target, &err);
    if (rpool_stop(&lc.p) || s < 0)
        return BENCH_WHY("raw pool failed");
    *out = s * 1e6;
    return 0;
}

SIDE(raw_pool_apply_latency)
{
    return latency_side(cfg, 1, out, why, whylen);
}

SIDE(raw_pool_map10_latency)
{
    return latency_side(cfg, POOL_LATENCY_MAP_ITEMS, out, why, whylen);
}

/* ---- the array loop in 2 threads ---- */

typedef struct {
    _Atomic long next;
    long n;
    int64_t *in, *out;
} tloop;

#define TLOOP_CHUNK 8

static void *tloop_run(void *arg)
{
    tloop *l = arg;
    for (;;) {
        long s = atomic_fetch_add(&l->next, TLOOP_CHUNK);
        if (s >= l->n)
            return NULL;
        long e = s + TLOOP_CHUNK < l->n ? s + TLOOP_CHUNK : l->n;
        for (long i = s; i < e; i++)
            l->out[i] = bench_task_spin(l->in[i], POOL_TASK_US);
    }
}

SIDE(raw_pool_array_10us)
{
    long n = cfg->quick ? POOL_ARRAY_ITEMS_QUICK : POOL_ARRAY_ITEMS_FULL;
    tloop l;
    l.n = n;
    atomic_store(&l.next, 0);
    l.in = calloc((size_t)n, sizeof(int64_t));
    l.out = calloc((size_t)n, sizeof(int64_t));
    if (!l.in || !l.out)
        return BENCH_WHY("out of memory");
    for (long i = 0; i < n; i++)
        l.in[i] = i;
    pthread_t th[POOL_WORKERS];
    double t = bench_now();
    for (int k = 0; k < POOL_WORKERS; k++)
        pthread_create(&th[k], NULL, tloop_run, &l);
    for (int k = 0; k < POOL_WORKERS; k++)
        pthread_join(th[k], NULL);
    t = bench_now() - t;
    free(l.in);
    free(l.out);
    *out = (double)n / t;
    return 0;
}
