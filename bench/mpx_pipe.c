/*
 * bench/mpx_pipe.c - the mpx side of the pipe group (include/mpx/connection.h):
 * mpx_pipe, a child started with mpx_process that gets its end through
 * the argument list, send_bytes / recv_bytes_into.
 *
 *   pipe_throughput_256  simplex mpx_pipe, child sends 256-byte messages
 *   pipe_pingpong_64     duplex mpx_pipe, the child echoes 64-byte messages
 *   pipe_bandwidth_1m    simplex mpx_pipe, 1 MiB messages into one buffer
 */
#include "mpxb.h"

#include <mpx/connection.h>

static int sender(const mpx_args *a)
{
    mpx_connection *w = mpx_args_object(a, 0);
    size_t size = (size_t)mpx_args_int(a, 1);
    long n = (long)mpx_args_int(a, 2);
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return -ENOMEM;
    memset(buf, '0', size);
    int rc = mpx_connection_send_bytes(w, "", 0);
    for (long i = 0; i < n && !rc; i++)
        rc = mpx_connection_send_bytes(w, buf, size);
    free(buf);
    return rc;
}

static int echo(const mpx_args *a)
{
    mpx_connection *c = mpx_args_object(a, 0);
    mpx_connection_close(mpx_args_object(a, 1)); /* the parent's end: EOF must reach us */
    char buf[64];
    size_t n;
    int rc;
    while ((rc = mpx_connection_recv_bytes_into(c, buf, sizeof buf, 0, &n)) == 0)
        if ((rc = mpx_connection_send_bytes(c, buf, n)))
            return rc;
    return rc == MPX_EEOF ? 0 : rc;
}

typedef struct {
    size_t size;
    char *buf;
    int err;
} stream_ctx;

static double run_stream(void *c, long n)
{
    stream_ctx *sc = c;
    mpx_connection *r, *w;
    mpx_args *a;
    mpx_process *p;
    int rc = mpx_pipe(&r, &w, 0);
    if (rc)
        return sc->err = rc, -1;
    if ((rc = mpx_args_create(&a)) || (rc = mpx_args_add_object(a, w)) ||
        (rc = mpx_args_add_int(a, (int64_t)sc->size)) || (rc = mpx_args_add_int(a, n)) ||
        (rc = mpxb_start(&p, sender, a))) {
        mpx_connection_destroy(r);
        mpx_connection_destroy(w);
        return sc->err = rc, -1;
    }
    mpx_connection_close(w);
    size_t got;
    double t = -1;
    rc = mpx_connection_recv_bytes_into(r, sc->buf, sc->size, 0, &got);
    if (!rc) {
        t = bench_now();
        for (long i = 0; i < n && !rc; i++)
            rc = mpx_connection_recv_bytes_into(r, sc->buf, sc->size, 0, &got);
        t = bench_now() - t;
    }
    mpx_connection_destroy(r);
    mpx_connection_destroy(w);
    int jr = mpxb_finish(p);
    if (rc || jr)
        return sc->err = rc ? rc : jr, -1;
    return t;
}

SIDE(mpxb_pipe_throughput_256)
{
    char buf[256];
    stream_ctx sc = {256, buf, 0};
    double s = bench_calibrate(run_stream, &sc, 1000, 100000000, cfg->target);
    if (s < 0)
        return BENCH_WHY("mpx pipe stream failed: %s", mpx_strerror(sc.err));
    *out = 1 / s;
    return 0;
}

SIDE(mpxb_pipe_bandwidth_1m)
{
    stream_ctx sc = {1 << 20, malloc(1 << 20), 0};
    if (!sc.buf)
        return BENCH_WHY("out of memory");
    double s = bench_calibrate(run_stream, &sc, 8, 1000000, cfg->target);
    free(sc.buf);
    if (s < 0)
        return BENCH_WHY("mpx pipe stream failed: %s", mpx_strerror(sc.err));
    *out = (double)(1 << 20) / s / 1e6;
    return 0;
}

static double run_pingpong(void *c, long n)
{
    int *err = c;
    mpx_connection *x, *y;
    mpx_args *a;
    mpx_process *p;
    int rc = mpx_pipe(&x, &y, 1);
    if (rc)
        return *err = rc, -1;
    if ((rc = mpx_args_create(&a)) || (rc = mpx_args_add_object(a, y)) ||
        (rc = mpx_args_add_object(a, x)) || (rc = mpxb_start(&p, echo, a))) {
        mpx_connection_destroy(x);
        mpx_connection_destroy(y);
        return *err = rc, -1;
    }
    mpx_connection_close(y);
    char msg[64];
    memset(msg, 'p', sizeof msg);
    size_t got;
    double t = -1;
    rc = mpx_connection_send_bytes(x, msg, sizeof msg);
    if (!rc)
        rc = mpx_connection_recv_bytes_into(x, msg, sizeof msg, 0, &got);
    if (!rc) {
        t = bench_now();
        for (long i = 0; i < n && !rc; i++) {
            rc = mpx_connection_send_bytes(x, msg, sizeof msg);
            if (!rc)
                rc = mpx_connection_recv_bytes_into(x, msg, sizeof msg, 0, &got);
        }
        t = bench_now() - t;
    }
    mpx_connection_close(x);
    int jr = mpxb_finish(p);
    mpx_connection_destroy(x);
    mpx_connection_destroy(y);
    if (rc || jr)
        return *err = rc ? rc : jr, -1;
    return t;
}

SIDE(mpxb_pipe_pingpong_64)
{
    int err = 0;
    double s = bench_calibrate(run_pingpong, &err, 200, 10000000, cfg->target);
    if (s < 0)
        return BENCH_WHY("mpx pipe ping-pong failed: %s", mpx_strerror(err));
    *out = s * 1e6;
    return 0;
}
