/*
 * bench/raw_queue.c - the raw side of the queue group: the bare SPSC ring
 * of ring.h in a MAP_SHARED mapping.
 *
 *   queue_throughput_256  child pushes 256-byte messages, parent pops
 *                         (256 KiB ring)
 *   queue_bandwidth_1m    the same with 1 MiB messages (4 MiB ring), each
 *                         popped into one 1 MiB buffer: two copies,
 *                         pipelined in 64 KiB records (ring_push_msg)
 *   queue_bandwidth_1m_vs_memcpy (raw2): memcpy of 1 MiB between two
 *                         buffers, the bound for any two-copy transport
 *   queue_2p2c_256        2 producer and 2 consumer processes; the raw
 *                         form is two independent rings (one per pair),
 *                         the best any 2+2 queue can do
 *
 * The producer first pushes an empty "ready" message; the clock starts
 * when it has been popped.
 */
#include "figures.h"
#include "ring.h"

#include <sys/wait.h>

typedef struct {
    uint32_t ring_size, msg;
    void *buf;
} q_ctx;

static double run_spsc(void *c, long n)
{
    q_ctx *q = c;
    ring *r = ring_create(q->ring_size);
    if (!r)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        ring_push(r, "", 0);
        for (long i = 0; i < n; i++)
            ring_push_msg(r, q->buf, q->msg);
        _exit(0);
    }
    double t = -1;
    if (ring_pop(r, q->buf, q->msg) == 0) {
        t = bench_now();
        for (long i = 0; i < n; i++)
            if (ring_pop_msg(r, q->buf, q->msg) != q->msg) {
                t = -1;
                break;
            }
        if (t >= 0)
            t = bench_now() - t;
    }
    if (bench_wait_ok(pid))
        t = -1;
    ring_destroy(r);
    return t;
}

SIDE(raw_queue_throughput_256)
{
    char buf[256];
    memset(buf, '0', sizeof buf);
    q_ctx q = {1 << 18, 256, buf};
    double s = bench_calibrate(run_spsc, &q, 10000, 1000000000L, cfg->target);
    if (s < 0)
        return BENCH_WHY("raw ring failed");
    *out = 1 / s;
    return 0;
}

SIDE(raw_queue_bandwidth_1m)
{
    q_ctx q = {1 << 22, 1 << 20, malloc(1 << 20)};
    if (!q.buf)
        return BENCH_WHY("out of memory");
    memset(q.buf, '0', q.msg);
    double s = bench_calibrate(run_spsc, &q, 16, 10000000L, cfg->target);
    free(q.buf);
    if (s < 0)
        return BENCH_WHY("raw ring failed");
    *out = (double)(1 << 20) / s / 1e6;
    return 0;
}

static double run_memcpy(void *c, long n)
{
    char **b = c;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        memcpy(b[i & 1], b[!(i & 1)], 1 << 20);
        BENCH_KEEP(b[0]);
    }
    return bench_now() - t;
}

SIDE(raw_memcpy_1m)
{
    char *b[2] = {malloc(1 << 20), malloc(1 << 20)};
    if (!b[0] || !b[1])
        return BENCH_WHY("out of memory");
    memset(b[0], 1, 1 << 20);
    memset(b[1], 2, 1 << 20);
    double s = bench_calibrate(run_memcpy, b, 64, 100000000L, cfg->target);
    free(b[0]);
    free(b[1]);
    *out = (double)(1 << 20) / s / 1e6;
    return 0;
}

/* 2 producers + 2 consumers, all children; time from "go" to the last
 * consumer's end. */
typedef struct {
    _Atomic uint32_t ready, go;
    double end[2];
} q_sync;

static double run_2p2c(void *c, long n)
{
    (void)c;
    ring *r[2] = {ring_create(1 << 18), ring_create(1 << 18)};
    q_sync *s = bench_shared(sizeof *s);
    if (!r[0] || !r[1] || !s)
        return -1;
    pid_t pid[4];
    for (int k = 0; k < 4; k++) {
        pid[k] = fork();
        if (pid[k] < 0)
            return -1;
        if (pid[k] == 0) {
            char buf[256];
            memset(buf, '0', sizeof buf);
            ring *my = r[k & 1];
            atomic_fetch_add(&s->ready, 1);
            while (!atomic_load(&s->go))
                bench_relax();
            if (k < 2) {
                for (long i = 0; i < n; i++)
                    ring_push(my, buf, 256);
            } else {
                for (long i = 0; i < n; i++)
                    if (ring_pop(my, buf, 256) != 256)
                        _exit(1);
                s->end[k - 2] = bench_now();
            }
            _exit(0);
        }
    }
    while (atomic_load(&s->ready) < 4)
        bench_relax();
    double t = bench_now();
    atomic_store(&s->go, 1);
    int bad = 0;
    for (int k = 0; k < 4; k++)
        bad |= bench_wait_ok(pid[k]);
    double end = s->end[0] > s->end[1] ? s->end[0] : s->end[1];
    munmap(s, sizeof *s);
    ring_destroy(r[0]);
    ring_destroy(r[1]);
    return bad ? -1 : (end - t) / 2; /* 2n messages in all */
}

SIDE(raw_queue_2p2c_256)
{
    double s = bench_calibrate(run_2p2c, NULL, 10000, 1000000000L, cfg->target);
    if (s < 0)
        return BENCH_WHY("raw rings failed");
    *out = 1 / s;
    return 0;
}
