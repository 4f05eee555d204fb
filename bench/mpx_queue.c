/*
 * bench/mpx_queue.c - the mpx side of the queue group (include/mpx/queue.h):
 * an mpx_queue with the default ring, children started with mpx_process
 * that get the queue through the argument list.
 *
 *   queue_throughput_256  a child puts 256-byte messages, the parent gets
 *                         them with mpx_queue_get_into
 *   queue_bandwidth_1m    the same with 1 MiB messages into one buffer
 *   queue_2p2c_256        2 producer and 2 consumer processes on one queue
 *   mem_queue_1g_parent   PSS (MiB) of a process that has put 1024 messages
 *                         of 1 MiB into a Queue() (unbounded: puts never
 *                         wait) that nobody has got from
 *   mem_queue_1g_shm      the memfd/shm memory it holds then (MiB)
 */
#include "mpxb.h"

#include <mpx/queue.h>

static int producer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    size_t size = (size_t)mpx_args_int(a, 1);
    long n = (long)mpx_args_int(a, 2);
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return -ENOMEM;
    memset(buf, '0', size);
    int rc = mpx_queue_put(q, "", 0, MPX_FOREVER);
    for (long i = 0; i < n && !rc; i++)
        rc = mpx_queue_put(q, buf, size, MPX_FOREVER);
    free(buf);
    return rc;
}

typedef struct {
    size_t size;
    char *buf;
    int err;
} stream_ctx;

static double run_stream(void *c, long n)
{
    stream_ctx *sc = c;
    mpx_queue *q;
    mpx_args *a;
    mpx_process *p = NULL;
    int rc = mpx_queue_create(&q, 0, NULL);
    if (rc)
        return sc->err = rc, -1;
    if ((rc = mpx_args_create(&a))) {
        mpx_queue_destroy(q);
        return sc->err = rc, -1;
    }
    if ((rc = mpx_args_add_object(a, q)) || (rc = mpx_args_add_int(a, (int64_t)sc->size)) ||
        (rc = mpx_args_add_int(a, n)))
        mpx_args_destroy(a);
    else
        rc = mpxb_start(&p, producer, a);
    size_t got;
    double t = -1;
    if (!rc)
        rc = mpx_queue_get_into(q, sc->buf, sc->size, &got, MPX_FOREVER);
    if (!rc) {
        t = bench_now();
        for (long i = 0; i < n && !rc; i++)
            rc = mpx_queue_get_into(q, sc->buf, sc->size, &got, MPX_FOREVER);
        t = bench_now() - t;
    }
    int jr = mpxb_finish(p);
    mpx_queue_destroy(q);
    if (rc || jr)
        return sc->err = rc ? rc : jr, -1;
    return t;
}

SIDE(mpxb_queue_throughput_256)
{
    char buf[256];
    stream_ctx sc = {256, buf, 0};
    double s = bench_calibrate(run_stream, &sc, 10000, 1000000000L, cfg->target);
    if (s < 0)
        return BENCH_WHY("mpx queue failed: %s", mpx_strerror(sc.err));
    *out = 1 / s;
    return 0;
}

SIDE(mpxb_queue_bandwidth_1m)
{
    stream_ctx sc = {1 << 20, malloc(1 << 20), 0};
    if (!sc.buf)
        return BENCH_WHY("out of memory");
    double s = bench_calibrate(run_stream, &sc, 16, 10000000L, cfg->target);
    free(sc.buf);
    if (s < 0)
        return BENCH_WHY("mpx queue failed: %s", mpx_strerror(sc.err));
    *out = (double)(1 << 20) / s / 1e6;
    return 0;
}

/* ---- 2 producers + 2 consumers ---- */

typedef struct {
    _Atomic uint32_t ready, go;
    double end[2];
} q_sync;

static int worker(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    q_sync *s = (q_sync *)(uintptr_t)mpx_args_int(a, 1);
    int k = (int)mpx_args_int(a, 2);
    long n = (long)mpx_args_int(a, 3);
    char buf[256];
    memset(buf, '0', sizeof buf);
    atomic_fetch_add(&s->ready, 1);
    while (!atomic_load(&s->go))
        bench_relax();
    int rc = 0;
    size_t got;
    if (k < 2) {
        for (long i = 0; i < n && !rc; i++)
            rc = mpx_queue_put(q, buf, sizeof buf, MPX_FOREVER);
    } else {
        for (long i = 0; i < n && !rc; i++)
            rc = mpx_queue_get_into(q, buf, sizeof buf, &got, MPX_FOREVER);
        s->end[k - 2] = bench_now();
    }
    return rc;
}

static double run_2p2c(void *c, long n)
{
    int *err = c;
    mpx_queue *q;
    q_sync *s = bench_shared(sizeof *s);
    if (!s)
        return *err = -errno, -1;
    int rc = mpx_queue_create(&q, 0, NULL);
    if (rc) {
        munmap(s, sizeof *s);
        return *err = rc, -1;
    }
    mpx_process *p[4] = {NULL, NULL, NULL, NULL};
    for (int k = 0; k < 4 && !rc; k++) {
        mpx_args *a;
        if ((rc = mpx_args_create(&a)))
            break;
        if ((rc = mpx_args_add_object(a, q)) || (rc = mpx_args_add_int(a, (int64_t)(uintptr_t)s)) ||
            (rc = mpx_args_add_int(a, k)) || (rc = mpx_args_add_int(a, n))) {
            mpx_args_destroy(a);
            break;
        }
        rc = mpxb_start(&p[k], worker, a);
    }
    double t = bench_now();
    if (!rc) {
        while (atomic_load(&s->ready) < 4)
            bench_relax();
        t = bench_now();
    } else {
        mpx_queue_shutdown(q, 0); /* started ones give up */
    }
    atomic_store(&s->go, 1);
    int jr = 0;
    for (int k = 0; k < 4; k++) {
        int r = mpxb_finish(p[k]);
        jr = jr ? jr : r;
    }
    double end = s->end[0] > s->end[1] ? s->end[0] : s->end[1];
    mpx_queue_destroy(q);
    munmap(s, sizeof *s);
    if (rc || jr)
        return *err = rc ? rc : jr, -1;
    return (end - t) / 2;
}

SIDE(mpxb_queue_2p2c_256)
{
    int err = 0;
    double s = bench_calibrate(run_2p2c, &err, 10000, 1000000000L, cfg->target);
    if (s < 0)
        return BENCH_WHY("mpx queue 2+2 failed: %s", mpx_strerror(err));
    *out = 1 / s;
    return 0;
}

/* ---- memory of a queue holding 1 GiB ---- */

static int mem_queue_side(int shm, double *out, char *why, size_t whylen)
{
    char *buf = malloc((size_t)MEM_QUEUE_MSG);
    if (!buf)
        return BENCH_WHY("out of memory");
    mpx_queue *q;
    int rc = mpx_queue_create(&q, 0, NULL);
    if (rc) {
        free(buf);
        return BENCH_WHY("mpx_queue_create: %s", mpx_strerror(rc));
    }
    for (long i = 0; i < MEM_QUEUE_MSGS && !rc; i++) {
        memset(buf, (int)(i & 255), (size_t)MEM_QUEUE_MSG);
        rc = mpx_queue_put(q, buf, (size_t)MEM_QUEUE_MSG, MPX_FOREVER);
    }
    long v = rc ? 0 : shm ? bench_shm_kib(0) : bench_smaps_kib(0, "Pss");
    mpx_queue_destroy(q);
    free(buf);
    if (rc)
        return BENCH_WHY("mpx_queue_put: %s", mpx_strerror(rc));
    if (v < 0)
        return BENCH_WHY("cannot read /proc/self: %s", strerror(errno));
    *out = (double)v / 1024;
    return 0;
}

SIDE(mpxb_mem_queue_1g_parent)
{
    return mem_queue_side(0, out, why, whylen);
}

SIDE(mpxb_mem_queue_1g_shm)
{
    return mem_queue_side(1, out, why, whylen);
}
