/*
 * bench/raw_manager.c - the raw side of the manager group (#16): 64-byte
 * round trips to a server process over the transport of each row
 * (lchan.h): an AF_UNIX socket with a server thread per client for the
 * _socket rows, the shared-memory channels and the spinning dispatcher of
 * the local transport for the _local rows. One client (us per round trip)
 * or MGR_CLIENTS client processes at once (round trips per second).
 */
#include "figures.h"
#include "lchan.h"
#include "mgr_race.h"

typedef struct rctx {
    lch l;
    int i;
    unsigned char req[LCH_MSG], rep[LCH_MSG];
} rctx;

static double run_trips(void *c, long n)
{
    rctx *x = c;
    double t = bench_now();
    for (long k = 0; k < n; k++) {
        x->req[0] = (unsigned char)k;
        if (lch_call(&x->l, x->i, x->req, x->rep) || x->rep[0] != x->req[0])
            return -1;
    }
    return bench_now() - t;
}

static int latency(int local, const bench_cfg *cfg, double *out, char *why, size_t whylen)
{
    rctx *x = calloc(1, sizeof *x);
    if (!x || lch_server_start(&x->l, local, 1))
        return free(x), BENCH_WHY("raw: starting the server: %s", strerror(errno));
    run_trips(x, 200);
    double s = bench_calibrate(run_trips, x, 1000, 100000000L, cfg->target);
    int rc = lch_server_stop(&x->l);
    free(x);
    if (s <= 0 || rc)
        return BENCH_WHY("raw: a round trip failed");
    *out = s * 1e6;
    return 0;
}

static int race_call(void *ctx, long k)
{
    rctx *x = ctx;
    x->req[0] = (unsigned char)k;
    return lch_call(&x->l, x->i, x->req, x->rep) || x->rep[0] != x->req[0];
}

static int throughput(int local, const bench_cfg *cfg, double *out, char *why, size_t whylen)
{
    rctx *x = calloc(1, sizeof *x);
    mgr_race *r = bench_shared(sizeof *r);
    if (!x || !r || lch_server_start(&x->l, local, MGR_CLIENTS)) {
        free(x);
        if (r)
            munmap(r, sizeof *r);
        return BENCH_WHY("raw: starting the server: %s", strerror(errno));
    }
    pid_t pid[MGR_CLIENTS];
    int started = 0;
    for (int i = 0; i < MGR_CLIENTS; i++) {
        pid[i] = fork();
        if (pid[i] == 0) {
            x->i = i;
            _exit(mgr_race_client(r, i, race_call, x));
        }
        if (pid[i] < 0)
            break;
        started++;
    }
    double el = started == MGR_CLIENTS ? mgr_race_run(r, MGR_CLIENTS, cfg->target * 2) : -1;
    atomic_store(&r->go, 1);
    atomic_store(&r->stop, 1);
    int bad = 0;
    for (int i = 0; i < started; i++)
        bad |= bench_wait_ok(pid[i]);
    double v = mgr_race_total(r, MGR_CLIENTS, el);
    bad |= lch_server_stop(&x->l);
    munmap(r, sizeof *r);
    free(x);
    if (v < 0 || bad)
        return BENCH_WHY("raw: a client failed");
    *out = v;
    return 0;
}

SIDE(raw_mgr_socket_trip)
{
    return latency(0, cfg, out, why, whylen);
}

SIDE(raw_mgr_local_trip)
{
    return latency(1, cfg, out, why, whylen);
}

SIDE(raw_mgr_socket_4clients)
{
    return throughput(0, cfg, out, why, whylen);
}

SIDE(raw_mgr_local_4clients)
{
    return throughput(1, cfg, out, why, whylen);
}
