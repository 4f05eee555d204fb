/*
 * pool.c - Pool and ThreadPool (POOL-01..25, ASYNC-01..06, TPOOL-01): the
 * pool's lifecycle. Creating a pool (the shared mapping, the output files,
 * the handler thread), close / terminate / join / destroy, the pool's
 * queries, and starting a worker (process or thread) at a position.
 *
 * Threads: the public calls here run in the caller's thread;
 * mpx__pool_start_worker runs in the handler thread only (at startup and
 * when it replaces a dead worker: a daemonic child's PR_SET_PDEATHSIG
 * belongs to the thread that made it). Structures and who owns each field:
 * pool_parent.h; the shared layout: pool_internal.h; design: docs/pool.md.
 */
#include "os/anonfd.h"
#include "core/pool_parent.h"
#include "core/args.h"
#include "core/context_internal.h"
#include "core/process_internal.h"
#include "core/tuning.h"
#include "os/futex.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Set when the program exits (pool_parent.h). */
_Atomic bool mpx__pool_program_exiting;
static void on_exit_hook(void)
{
    atomic_store(&mpx__pool_program_exiting, true);
}
static pthread_once_t exit_hook_once = PTHREAD_ONCE_INIT;
static void register_exit_hook(void)
{
    atexit(on_exit_hook);
}

static bool pool_ok(const mpx_pool *p)
{
    return p && p->magic == POOL_OBJ_MAGIC && p->creator == mpx__self_pid;
}

/* ---- workers ------------------------------------------------------------------- */

static void *thread_worker(void *arg)
{
    pworker *w = arg;
    px_worker_ctx *c = &w->tctx;
    px_wctl *ctl = px_wctl_of(c->h, c->w);
    atomic_store(&ctl->pid, (int32_t)getpid());
    int rc = 0;
    if (c->init)
        rc = c->init(c->initargs);
    if (rc == 0) {
        atomic_store_explicit(&ctl->state, PX_W_READY, memory_order_release);
        mpx__pool_worker_loop(c);
    } else {
        atomic_store_explicit(&ctl->init_failed, 1, memory_order_relaxed);
    }
    atomic_store_explicit(&ctl->state, PX_W_EXITING, memory_order_release);
    mpx__pool_ring_parent(c->h, c->evfd);
    return NULL;
}

int mpx__pool_start_worker(mpx_pool *p, uint32_t wi)
{
    pworker *w = &p->w[wi];
    px_wctl *ctl = px_wctl_of(p->h, wi);
    w->gen = (w->gen + 1) & 0x7fff;
    if (w->gen == 0)
        w->gen = 1;
    atomic_store(&ctl->gen, w->gen);
    atomic_store(&ctl->pid, 0);
    atomic_store(&ctl->state, PX_W_STARTING);
    atomic_store(&ctl->cur_slot, PX_NONE);
    atomic_store(&ctl->cur_item, 0);
    atomic_store(&ctl->cur_end, 0);
    atomic_store(&ctl->item_start_ns, 0);
    ctl->max_tasks = (uint32_t)p->maxtasks;
    atomic_store(&ctl->tasks_done, 0);
    atomic_store(&ctl->bt_len, 0);
    atomic_store(&ctl->crash_sig, 0);
    atomic_store(&ctl->init_failed, 0);
    atomic_store(&ctl->avg_ns, 0);
    atomic_store(&ctl->c_tail, 0);
    atomic_store(&ctl->c_head, 0);
    w->timeout_kill = false;
    if (p->threads) {
        w->tctx = (px_worker_ctx){.h = p->h, .w = wi, .evfd = p->evfd, .outfd = p->outfd[wi],
                                  .thread = true, .init = p->init, .initargs = p->initargs,
                                  .backend = p->be_state};
        int rc = p->be ? pthread_create(&w->th, NULL, p->be->worker, &w->tctx)
                       : pthread_create(&w->th, NULL, thread_worker, w);
        if (rc)
            return -rc;
        w->th_running = true;
        w->alive = true;
        w->pid = getpid();
        return 0;
    }
    mpx_args *a = NULL;
    mpx__buf cfg;
    mpx__buf_init(&cfg);
    int rc = mpx_args_create(&a);
    if (!rc)
        rc = mpx_args_add_fd(a, p->shm.fd);
    if (!rc)
        rc = mpx_args_add_fd(a, p->evfd);
    if (!rc)
        rc = mpx_args_add_fd(a, p->outfd[wi]);
    if (!rc)
        rc = mpx__buf_put_u64(&cfg, p->shm.size);
    if (!rc)
        rc = mpx__buf_put_u32(&cfg, wi);
    if (!rc)
        rc = mpx__fnref_encode(p->ctx, (mpx__fnptr)p->init, &cfg);
    if (!rc)
        rc = mpx_args_add_bytes(a, cfg.data, cfg.len);
    mpx__buf_free(&cfg);
    const mpx_args *ia = p->initargs;
    for (size_t i = 0; !rc && ia && i < mpx_args_count(ia); i++) {
        switch (mpx_args_type(ia, i)) {
        case MPX_ARG_INT: rc = mpx_args_add_int(a, mpx_args_int(ia, i)); break;
        case MPX_ARG_DOUBLE: rc = mpx_args_add_double(a, mpx_args_double(ia, i)); break;
        case MPX_ARG_STR: rc = mpx_args_add_str(a, mpx_args_str(ia, i)); break;
        case MPX_ARG_BYTES: {
            const void *d;
            size_t l;
            mpx_args_get_bytes(ia, i, &d, &l);
            rc = mpx_args_add_bytes(a, d, l);
            break;
        }
        case MPX_ARG_FD: rc = mpx_args_add_fd(a, mpx_args_fd(ia, i)); break;
        case MPX_ARG_OBJECT: rc = mpx_args_add_object(a, mpx_args_object(ia, i)); break;
        case MPX_ARG_OBJ: rc = mpx_args_add_obj(a, mpx_args_obj(ia, i)); break;
        default: break;
        }
    }
    char name[48];
    snprintf(name, sizeof name, "PoolWorker-%d", ++p->worker_counter);
    mpx_process_opts po = {.name = name, .daemon = 1, .ctx = p->ctx};
    mpx_process *proc = NULL;
    if (!rc)
        rc = mpx_process_create(&proc, mpx__pool_worker_main, a, &po);
    mpx_args_destroy(a);
    if (!rc)
        rc = mpx_process_start(proc);
    if (rc) {
        mpx_process_destroy(proc);
        return rc;
    }
    w->proc = proc;
    w->pidfd = mpx_process_sentinel(proc);
    w->pid = mpx_process_pid(proc);
    w->alive = true;
    MPX__DEBUG("pool: started worker %s (pid %d)", name, (int)w->pid);
    return 0;
}

/* ---- pool lifecycle --------------------------------------------------------------- */

static void pool_free(mpx_pool *p)
{
    if (p->be)
        p->be->release(p->be_state); /* before the mapping goes */
    if (p->ps) {
        for (uint32_t i = 0; i < p->nslots; i++)
            for (int k = 0; k < p->ps[i].nfds; k++)
                close(p->ps[i].fds[k]);
        for (uint32_t i = 0; i < p->nslots; i++)
            free(p->ps[i].fds);
    }
    free(p->ps);
    free(p->freel);
    free(p->w);
    if (p->outfd) {
        for (int i = 0; i < p->n; i++)
            if (p->outfd[i] >= 0)
                close(p->outfd[i]);
        free(p->outfd);
    }
    if (p->shm.addr)
        mpx__shmap_destroy(&p->shm);
    if (p->evfd >= 0)
        close(p->evfd);
    mpx_args_destroy(p->initargs);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    p->magic = 0;
    free(p);
}

MPX_API int mpx_pool_create(mpx_pool **out, int processes, const mpx_pool_opts *opts)
{
    mpx__global_init();
    pthread_once(&exit_hook_once, register_exit_hook);
    if (!out)
        return MPX_EINVAL;
    mpx_pool_opts o = {0};
    if (opts)
        o = *opts;
    /* Pool(0) and Pool(-1) are ValueError in Python (D4, docs/design.md);
     * MPX_POOL_DEFAULT is Pool(None) */
    if ((processes <= 0 && processes != MPX_POOL_DEFAULT) || o.maxtasksperchild < 0 ||
        o.slots < 0 || o.task_timeout < 0)
        return MPX_EINVAL;
    int64_t tt_ns = task_timeout_ns(o.task_timeout);
    /* Made without a context: the default one, fixed now as Python's
     * Pool does (context or get_context(): a later set_start_method
     * without force is "already set", CTX-07). Only once the arguments
     * are known to be valid. */
    if (!o.ctx)
        o.ctx = mpx__context_default_fix();
    /* the thread context (dummy.Pool): a ThreadPool */
    if (o.ctx->threads)
        o.threads = 1;
    if (o.threads && (tt_ns > 0 || o.maxtasksperchild > 0))
        return MPX_ENOTSUP;
    if (!tt_ns)
        o.task_timeout = 0; /* MPX_FOREVER: none, as a backend reads it */
    const mpx__pool_backend *be = o.ctx ? o.ctx->pool : NULL;
    int n = processes == MPX_POOL_DEFAULT ? 0 : processes; /* 0: the default (backend.h) */
    void *bst = NULL;
    if (be) {
        int brc = be->prepare(&o, &n, &bst);
        if (brc)
            return brc;
        o.threads = 1; /* positions are threads running be->worker */
    }
    if (!n)
        n = mpx_cpu_count_usable();
    uint32_t nslots = o.slots ? (uint32_t)o.slots : 256;
    if (nslots < 4)
        nslots = 4;
    if (nslots > 4096)
        nslots = 4096;
    mpx_pool *p = n > 256 ? NULL : calloc(1, sizeof *p);
    if (!p) {
        if (be)
            be->release(bst);
        return n > 256 ? MPX_EINVAL : -ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->evfd = -1;
    p->creator = getpid();
    p->n = n;
    p->threads = o.threads != 0;
    p->be = be;
    p->be_state = bst;
    p->maxtasks = o.maxtasksperchild;
    p->task_timeout_ns = tt_ns;
    p->ctx = o.ctx;
    p->init = o.initializer;
    p->nslots = nslots;
    int rc = 0;
    if (o.initargs)
        rc = mpx__args_copy(o.initargs, &p->initargs);
    else
        rc = mpx_args_create(&p->initargs);
    if (rc) {
        p->initargs = NULL;
        pool_free(p);
        return rc;
    }
    /* layout */
    size_t off = (sizeof(px_hdr) + 63) & ~(size_t)63;
    size_t off_fntab = off;
    off += PX_FN_MAX * sizeof(px_fn);
    size_t off_ring = off;
    off += nslots * sizeof(uint64_t);
    off = (off + 63) & ~(size_t)63;
    size_t off_wctl = off;
    off += (size_t)n * sizeof(px_wctl);
    size_t off_comp = off;
    off += (size_t)n * nslots * sizeof(uint32_t);
    off = (off + PX_SLOT_STRIDE - 1) & ~(size_t)(PX_SLOT_STRIDE - 1);
    size_t off_slots = off;
    off += (size_t)nslots * PX_SLOT_STRIDE;
    rc = mpx__shmap_create(&p->shm, "mpx-pool", off);
    if (rc) {
        pool_free(p);
        return rc;
    }
    px_hdr *h = p->h = p->shm.addr;
    h->magic = MPX__POOL_MAGIC;
    h->nslots = nslots;
    h->nworkers = (uint32_t)n;
    h->owner_pid = getpid();
    h->size = p->shm.size;
    h->off_fntab = off_fntab;
    h->off_ring = off_ring;
    h->off_wctl = off_wctl;
    h->off_comp = off_comp;
    h->off_slots = off_slots;
    h->spin = o.spin < 0 ? 0 : o.spin ? o.spin : mpx__spin_default(MPX__SPIN_POOL);
    p->evfd = mpx__eventfd_open();
    p->ps = calloc(nslots, sizeof *p->ps);
    p->freel = calloc(nslots, sizeof *p->freel);
    p->w = calloc((size_t)n, sizeof *p->w);
    if (p->evfd < 0 || !p->ps || !p->freel || !p->w) {
        rc = p->evfd < 0 ? p->evfd : -ENOMEM;
        pool_free(p);
        return rc;
    }
    /* one output file per worker position, owned by this process: spilled
     * outputs live here, not in the worker (#12) */
    p->outfd = malloc((size_t)n * sizeof *p->outfd);
    if (!p->outfd) {
        pool_free(p);
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++)
        p->outfd[i] = -1;
    for (int i = 0; i < n; i++) {
        p->outfd[i] = mpx__memfd_create("mpx-pool-out", 0);
        if (p->outfd[i] < 0) {
            rc = p->outfd[i];
            pool_free(p);
            return rc;
        }
    }
    for (uint32_t i = 0; i < nslots; i++) {
        p->freel[p->nfree++] = nslots - 1 - i;
        atomic_store(&px_slot_of(h, i)->claim, (uint64_t)1 << 32);
    }
    for (int i = 0; i < n; i++)
        p->w[i].pidfd = -1;
    if (!p->threads) {
        /* check the initializer can be referenced before starting anything */
        mpx__buf b;
        mpx__buf_init(&b);
        rc = mpx__fnref_encode(p->ctx, (mpx__fnptr)p->init, &b);
        mpx__buf_free(&b);
        if (rc) {
            pool_free(p);
            return rc;
        }
    }
    /* The handler thread starts the workers: a daemonic child gets
     * PR_SET_PDEATHSIG, which fires when the *thread* that made it exits,
     * so the workers must not belong to the caller's (maybe short-lived)
     * thread. */
    p->startup_rc = 1;
    rc = -pthread_create(&p->handler, NULL, mpx__pool_handler_main, p);
    if (rc) {
        pool_free(p);
        return rc;
    }
    p->handler_started = true;
    pthread_mutex_lock(&p->mu);
    while (p->startup_rc == 1)
        pthread_cond_wait(&p->cv, &p->mu);
    rc = p->startup_rc;
    pthread_mutex_unlock(&p->mu);
    if (rc) {
        pthread_join(p->handler, NULL);
        pool_free(p);
        return rc;
    }
    p->magic = POOL_OBJ_MAGIC;
    MPX__DEBUG("pool: created with %d %s", n, p->threads ? "threads" : "processes");
    *out = p;
    return 0;
}

MPX_API int mpx_thread_pool_create(mpx_pool **out, int threads, mpx_init_fn initializer,
                                   const mpx_args *initargs)
{
    mpx_pool_opts o = {.initializer = initializer, .initargs = initargs, .threads = 1};
    return mpx_pool_create(out, threads, &o);
}

MPX_API int mpx_pool_close(mpx_pool *p)
{
    if (!pool_ok(p))
        return p && p->magic == POOL_OBJ_MAGIC ? MPX_ESTATE : MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->state == P_RUN)
        p->state = P_CLOSED;
    pthread_mutex_unlock(&p->mu);
    wake_handler(p);
    return 0;
}

MPX_API int mpx_pool_terminate(mpx_pool *p)
{
    if (!pool_ok(p))
        return p && p->magic == POOL_OBJ_MAGIC ? MPX_ESTATE : MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    p->state = P_TERM;
    pthread_mutex_unlock(&p->mu);
    wake_handler(p);
    return 0;
}

MPX_API int mpx_pool_join(mpx_pool *p)
{
    if (!pool_ok(p))
        return p && p->magic == POOL_OBJ_MAGIC ? MPX_ESTATE : MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->state == P_RUN) {
        pthread_mutex_unlock(&p->mu);
        return MPX_ESTATE; /* POOL-19 */
    }
    if (p->handler_started && pthread_equal(p->handler, pthread_self())) {
        pthread_mutex_unlock(&p->mu);
        return MPX_ESTATE; /* from a callback */
    }
    bool do_join = p->handler_started && !p->joined;
    p->joined = true;
    pthread_mutex_unlock(&p->mu);
    if (do_join)
        pthread_join(p->handler, NULL);
    else {
        pthread_mutex_lock(&p->mu);
        while (p->handler_started && !p->handler_exited)
            pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    return 0;
}

MPX_API void mpx_pool_destroy(mpx_pool *p)
{
    if (!p || p->magic != POOL_OBJ_MAGIC)
        return;
    if (p->creator != getpid()) {
        /* a fork child's copy: the workers and the handler thread are the
         * parent's; release only this process's mapping and descriptors */
        p->magic = 0;
        mpx__shmap_destroy(&p->shm);
        mpx__close(p->evfd);
        for (int i = 0; i < p->n; i++)
            mpx__close(p->outfd[i]);
        return;
    }
    pthread_mutex_lock(&p->mu);
    bool running = !p->handler_exited;
    pthread_mutex_unlock(&p->mu);
    if (running)
        mpx_pool_terminate(p);
    pthread_mutex_lock(&p->mu);
    bool do_join = p->handler_started && !p->joined;
    p->joined = true;
    pthread_mutex_unlock(&p->mu);
    if (do_join)
        pthread_join(p->handler, NULL);
    pool_free(p);
}

MPX_API int mpx_pool_processes(const mpx_pool *p)
{
    return p && p->magic == POOL_OBJ_MAGIC ? p->n : MPX_EINVAL;
}

MPX_API int mpx_pool_worker_pids(mpx_pool *p, pid_t *pids, int cap)
{
    if (!pool_ok(p) || (cap && !pids))
        return MPX_EINVAL;
    int k = 0;
    for (int i = 0; i < p->n; i++) {
        px_wctl *ctl = px_wctl_of(p->h, (uint32_t)i);
        /* shared state only: w[] belongs to the handler thread */
        pid_t pid = p->threads ? 0 : atomic_load(&ctl->pid);
        if (pid > 0 && kill(pid, 0) == 0) {
            if (k < cap)
                pids[k] = pid;
            k++;
        }
    }
    return k;
}

MPX_API char *mpx_pool_describe(mpx_pool *p)
{
    if (!p || p->magic != POOL_OBJ_MAGIC)
        return NULL;
    pthread_mutex_lock(&p->mu);
    int state = p->state;
    pthread_mutex_unlock(&p->mu);
    char *out = NULL;
    if (asprintf(&out, "<Pool state=%s pool_size=%d %s>",
                 state == P_RUN ? "RUN" : state == P_CLOSED ? "CLOSE" : "TERMINATE", p->n,
                 p->threads && !p->be ? "threads" : "processes") < 0)
        out = NULL;
    return out;
}

MPX_API size_t mpx_pool_outstanding(mpx_pool *p)
{
    if (!pool_ok(p))
        return 0;
    pthread_mutex_lock(&p->mu);
    size_t n = p->outstanding;
    pthread_mutex_unlock(&p->mu);
    return n;
}

MPX_API size_t mpx_pool_replaced(mpx_pool *p)
{
    if (!pool_ok(p))
        return 0;
    pthread_mutex_lock(&p->mu);
    size_t n = p->replaced;
    pthread_mutex_unlock(&p->mu);
    return n;
}
