/*
 * bench/mpx_obj_carry.c - the obj group's rows for values carried by
 * connections and pools (#15), beside CPython and the byte path:
 *
 *   obj_conn_small      a child sends the small value [42, None, 'hello']
 *                       n times through a simplex pipe with
 *                       mpx_connection_send_obj (encoding it each time),
 *                       the parent receives each with recv_obj (decoding
 *                       it) and releases it; messages/s on the receiving
 *                       side. cpython: conn.send / conn.recv of the same
 *                       list. raw: send_bytes / recv_bytes of its pickle
 *                       (the same bytes on the wire, no codec).
 *   obj_pool_map_small  mpx_pool_map_obj of f(x) = x*x over
 *                       list(range(n)) with chunksize 1 on a pool of 2
 *                       fork workers, warmed up first; tasks/s. cpython:
 *                       Pool(2).map(square, range(n), chunksize=1). raw:
 *                       mpx_pool_map (the byte pool) over the pickles of
 *                       the same ints, a task that returns its input.
 */
#include "mpxb.h"

#include <mpx/obj.h>
#include <mpx/pool.h>

/* ---- obj_conn_small ---------------------------------------------------- */

static mpx_obj *small_value(void)
{
    return mpx_obj_build("[iOs]", 42, mpx_obj_none(), "hello");
}

/* args: connection, n, raw (send the pickle's bytes) */
static int small_sender(const mpx_args *a)
{
    mpx_connection *w = mpx_args_object(a, 0);
    long n = (long)mpx_args_int(a, 1);
    int raw = (int)mpx_args_int(a, 2);
    mpx_obj *v = small_value();
    void *p = NULL;
    size_t len = 0;
    int rc = v ? mpx_obj_dumps(v, MPX_PICKLE_DEFAULT_PROTOCOL, &p, &len, NULL, NULL) : -ENOMEM;
    if (!rc)
        rc = mpx_connection_send_bytes(w, "", 0);
    for (long i = 0; i < n && !rc; i++)
        rc = raw ? mpx_connection_send_bytes(w, p, len) : mpx_connection_send_obj(w, v);
    mpx_free(p);
    mpx_obj_decref(v);
    return rc ? 1 : 0;
}

typedef struct {
    int raw;
    int err;
} conn_ctx;

static double run_conn(void *c, long n)
{
    conn_ctx *cc = c;
    mpx_connection *r, *w;
    mpx_args *a;
    mpx_process *p;
    int rc = mpx_pipe(&r, &w, 0);
    if (rc)
        return cc->err = rc, -1;
    if ((rc = mpx_args_create(&a)) || (rc = mpx_args_add_object(a, w)) ||
        (rc = mpx_args_add_int(a, n)) || (rc = mpx_args_add_int(a, cc->raw)) ||
        (rc = mpxb_start(&p, small_sender, a))) {
        mpx_connection_destroy(r);
        mpx_connection_destroy(w);
        return cc->err = rc, -1;
    }
    mpx_connection_close(w);
    void *m;
    size_t len;
    double t = -1;
    rc = mpx_connection_recv_bytes(r, &m, &len);
    if (!rc) {
        mpx_free(m);
        t = bench_now();
        for (long i = 0; i < n && !rc; i++) {
            if (cc->raw) {
                rc = mpx_connection_recv_bytes(r, &m, &len);
                if (!rc)
                    mpx_free(m);
            } else {
                mpx_obj *v;
                rc = mpx_connection_recv_obj(r, &v, NULL, NULL);
                if (!rc)
                    mpx_obj_decref(v);
            }
        }
        t = bench_now() - t;
    }
    mpx_connection_destroy(r);
    mpx_connection_destroy(w);
    int jr = mpxb_finish(p);
    if (rc || jr)
        return cc->err = rc ? rc : jr, -1;
    return t;
}

static int conn_side(const bench_cfg *cfg, int raw, double *out, char *why, size_t whylen)
{
    conn_ctx cc = {raw, 0};
    double s = bench_calibrate(run_conn, &cc, 1000, 100000000, cfg->target);
    if (s < 0)
        return BENCH_WHY("pipe of values failed: %s", mpx_strerror(cc.err));
    *out = 1 / s;
    return 0;
}

SIDE(mpxb_obj_conn_small)
{
    return conn_side(cfg, 0, out, why, whylen);
}

SIDE(raw_obj_conn_small)
{
    return conn_side(cfg, 1, out, why, whylen);
}

/* ---- obj_pool_map_small ------------------------------------------------ */

static mpx_obj *square(mpx_obj *x, mpx_obj **error)
{
    int64_t v;
    if (mpx_obj_get_int(x, &v))
        return mpx_task_raise(error, "TypeError", "not an int");
    return mpx_obj_int(bench_task_square(v));
}

static int echo_task(const void *in, size_t len, mpx_task_out *out)
{
    return mpx_task_out_set(out, in, len);
}

static int make_pool(mpx_pool **p)
{
    mpx_pool_opts o;
    memset(&o, 0, sizeof o);
    int rc = mpx_get_context(&o.ctx, "fork");
    return rc ? rc : mpx_pool_create(p, POOL_WORKERS, &o);
}

static int map_values(mpx_pool *p, const mpx_obj *xs)
{
    mpx_obj_call_opts o;
    memset(&o, 0, sizeof o);
    o.chunksize = 1;
    mpx_obj *r = NULL;
    int rc = mpx_pool_map_obj(p, square, xs, &o, &r);
    int64_t n = mpx_obj_len(xs), last = -1;
    if (!rc && (mpx_obj_len(r) != n || mpx_obj_get_int(mpx_obj_item(r, n - 1), &last) ||
                last != bench_task_square(n - 1)))
        rc = MPX_ESTATE;
    mpx_obj_decref(r);
    return rc;
}

static int map_bytes(mpx_pool *p, const mpx_bytes *items, size_t n)
{
    mpx_call_opts o;
    memset(&o, 0, sizeof o);
    o.chunksize = 1;
    mpx_result *r = NULL;
    int rc = mpx_pool_map(p, echo_task, items, n, &o, &r);
    const void *d;
    size_t len;
    if (!rc && (mpx_result_item(r, n - 1, &d, &len) || len != items[n - 1].len))
        rc = MPX_ESTATE;
    mpx_result_destroy(r);
    return rc;
}

static int pool_side(const bench_cfg *cfg, int raw, double *out, char *why, size_t whylen)
{
    size_t n = (size_t)(cfg->quick ? POOL_TASKS_QUICK : POOL_TASKS_FULL);
    mpx_obj *xs = mpx_obj_list(), *warm = mpx_obj_list();
    for (size_t i = 0; xs && i < n; i++)
        if (mpx_obj_list_append_new(xs, mpx_obj_int((int64_t)i)))
            return BENCH_WHY("out of memory");
    for (int i = 0; warm && i < 1000; i++)
        if (mpx_obj_list_append_new(warm, mpx_obj_int(i)))
            return BENCH_WHY("out of memory");
    /* raw: the pickles of the same ints, one block */
    mpx_bytes *items = NULL;
    char *blob = NULL;
    if (raw) {
        items = malloc(n * sizeof *items);
        blob = malloc(n * 32);
        if (!items || !blob)
            return BENCH_WHY("out of memory");
        size_t pos = 0;
        for (size_t i = 0; i < n; i++) {
            void *pk;
            size_t len;
            if (mpx_obj_dumps(mpx_obj_item(xs, (int64_t)i), MPX_PICKLE_DEFAULT_PROTOCOL, &pk, &len,
                              NULL, NULL) ||
                len > 32)
                return BENCH_WHY("encoding failed");
            memcpy(blob + pos, pk, len);
            items[i] = (mpx_bytes){blob + pos, len};
            pos += len;
            mpx_free(pk);
        }
    }
    mpx_pool *p;
    int rc = make_pool(&p);
    if (rc)
        return BENCH_WHY("mpx_pool_create: %s", mpx_strerror(rc));
    rc = raw ? map_bytes(p, items, 1000) : map_values(p, warm); /* warm-up */
    double t = bench_now();
    if (!rc)
        rc = raw ? map_bytes(p, items, n) : map_values(p, xs);
    t = bench_now() - t;
    mpx_pool_close(p);
    mpx_pool_join(p);
    mpx_pool_destroy(p);
    free(items);
    free(blob);
    mpx_obj_decref(xs);
    mpx_obj_decref(warm);
    if (rc)
        return BENCH_WHY("pool map failed: %s", mpx_strerror(rc));
    *out = (double)n / t;
    return 0;
}

SIDE(mpxb_obj_pool_map_small)
{
    return pool_side(cfg, 0, out, why, whylen);
}

SIDE(raw_obj_pool_map_small)
{
    return pool_side(cfg, 1, out, why, whylen);
}
