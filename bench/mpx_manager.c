/*
 * bench/mpx_manager.c - the mpx side of the manager group (#16): a
 * SyncManager started under fork, proxies used from this process (or from
 * MGR_CLIENTS client processes), the same calls as bench_mp.py makes on
 * CPython's manager:
 *
 *   mgr_dict_socket          d['k'] = i / d['k'] alternately, us per call,
 *                            over the socket protocol (the transport of
 *                            remote and CPython clients:
 *                            MPX_MANAGER_TRANSPORT=socket)
 *   mgr_dict_socket_4clients the same from 4 processes at once, calls/s
 *   mgr_dict_local           the same over the local transport (the
 *                            default for an mpx client of an mpx manager
 *                            on this machine)
 *   mgr_dict_local_4clients  the same from 4 processes at once, calls/s
 *   mgr_list_append_local    l.append(i), us per call
 *   mgr_queue_putget_local   q.put(i) / q.get() alternately, us per call
 *
 * The raw sides (raw_manager.c, lchan.h) make 64-byte round trips over the
 * same transports with nothing on top.
 */
#include "figures.h"
#include "mgr_race.h"
#include "mpxb.h"

#include <mpx.h>
#include <mpx/manager.h>

typedef struct mctx {
    mpx_manager *m;
    mpx_proxy *p;
    const char *kind; /* "dict", "list", "queue" */
} mctx;

static int start_manager(mctx *x, int local, const char *kind)
{
    memset(x, 0, sizeof *x);
    x->kind = kind;
    if (local)
        unsetenv("MPX_MANAGER_TRANSPORT");
    else
        setenv("MPX_MANAGER_TRANSPORT", "socket", 1);
    mpx_manager_opts o;
    memset(&o, 0, sizeof o);
    int rc = mpx_get_context(&o.ctx, "fork");
    if (!rc)
        rc = mpx_manager_new(&x->m, &o);
    if (rc)
        return rc;
    if (!strcmp(kind, "dict"))
        rc = mpx_manager_dict(x->m, NULL, &x->p);
    else if (!strcmp(kind, "list"))
        rc = mpx_manager_list(x->m, NULL, &x->p);
    else
        rc = mpx_manager_queue(x->m, 0, &x->p);
    if (rc) {
        mpx_manager_destroy(x->m);
        x->m = NULL;
    }
    return rc;
}

static void stop_manager(mctx *x)
{
    mpx_proxy_destroy(x->p);
    mpx_manager_destroy(x->m);
}

/* Call k of a loop: dict: set on even k, get on odd k; list: append;
 * queue: put on even k, get on odd k. */
static int one_call(mpx_proxy *p, const char *kind, long k)
{
    int rc;
    mpx_obj *v = NULL;
    if (kind[0] == 'd') {
        if (k % 2 == 0) {
            mpx_obj *i = mpx_obj_int(k);
            rc = mpx_proxy_dict_set_s(p, "k", i);
            mpx_obj_decref(i);
        } else {
            rc = mpx_proxy_dict_get_s(p, "k", &v);
        }
    } else if (kind[0] == 'l') {
        mpx_obj *i = mpx_obj_int(k);
        rc = mpx_proxy_list_append(p, i);
        mpx_obj_decref(i);
    } else {
        if (k % 2 == 0) {
            mpx_obj *i = mpx_obj_int(k);
            rc = mpx_proxy_queue_put(p, i, MPX_FOREVER);
            mpx_obj_decref(i);
        } else {
            rc = mpx_proxy_queue_get(p, &v, MPX_FOREVER);
        }
    }
    mpx_obj_decref(v);
    return rc;
}

static int call_err;

static double run_calls(void *c, long n)
{
    mctx *x = c;
    n += n % 2; /* whole pairs: the queue never blocks */
    double t = bench_now();
    for (long k = 0; k < n; k++)
        if ((call_err = one_call(x->p, x->kind, k)))
            return -1;
    return bench_now() - t;
}

static int latency(int local, const char *kind, const bench_cfg *cfg, double *out, char *why,
                   size_t whylen)
{
    mctx x;
    int rc = start_manager(&x, local, kind);
    if (rc)
        return BENCH_WHY("mpx: starting the manager: %s", mpx_strerror(rc));
    run_calls(&x, 200); /* connect (and open the local channel) */
    double s = bench_calibrate(run_calls, &x, 1000, 100000000L, cfg->target);
    stop_manager(&x);
    if (s <= 0)
        return BENCH_WHY("mpx: a call failed: %s", mpx_strerror(call_err));
    *out = s * 1e6;
    return 0;
}

/* ---- N clients ---- */

static mgr_race *race;
static const char *race_kind;

static int race_call(void *ctx, long k)
{
    return one_call(ctx, race_kind, k);
}

static int race_client(const mpx_args *a)
{
    mpx_proxy *p = mpx_args_object(a, 0);
    int i = (int)mpx_args_int(a, 1);
    return mgr_race_client(race, i, race_call, p);
}

static int throughput(int local, const char *kind, const bench_cfg *cfg, double *out, char *why,
                      size_t whylen)
{
    mctx x;
    int rc = start_manager(&x, local, kind);
    if (rc)
        return BENCH_WHY("mpx: starting the manager: %s", mpx_strerror(rc));
    race = bench_shared(sizeof *race);
    race_kind = kind;
    mpx_process *p[MGR_CLIENTS] = {0};
    for (int i = 0; i < MGR_CLIENTS && !rc; i++) {
        mpx_args *a;
        if ((rc = mpx_args_create(&a)))
            break;
        if ((rc = mpx_args_add_object(a, x.p)) || (rc = mpx_args_add_int(a, i))) {
            mpx_args_destroy(a);
            break;
        }
        rc = mpxb_start(&p[i], race_client, a);
    }
    double el = rc ? -1 : mgr_race_run(race, MGR_CLIENTS, cfg->target * 2);
    atomic_store(&race->go, 1);
    atomic_store(&race->stop, 1);
    int jr = 0;
    for (int i = 0; i < MGR_CLIENTS; i++)
        jr |= mpxb_finish(p[i]);
    double v = mgr_race_total(race, MGR_CLIENTS, el);
    munmap(race, sizeof *race);
    stop_manager(&x);
    if (rc)
        return BENCH_WHY("mpx: starting a client: %s", mpx_strerror(rc));
    if (v < 0 || jr)
        return BENCH_WHY("mpx: a client failed");
    *out = v;
    return 0;
}

SIDE(mpxb_mgr_dict_socket)
{
    return latency(0, "dict", cfg, out, why, whylen);
}

SIDE(mpxb_mgr_dict_local)
{
    return latency(1, "dict", cfg, out, why, whylen);
}

SIDE(mpxb_mgr_list_append_local)
{
    return latency(1, "list", cfg, out, why, whylen);
}

SIDE(mpxb_mgr_queue_putget_local)
{
    return latency(1, "queue", cfg, out, why, whylen);
}

SIDE(mpxb_mgr_dict_socket_4clients)
{
    return throughput(0, "dict", cfg, out, why, whylen);
}

SIDE(mpxb_mgr_dict_local_4clients)
{
    return throughput(1, "dict", cfg, out, why, whylen);
}
