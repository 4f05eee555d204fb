/*
 * pool.c - Pool and ThreadPool (POOL-01..25, ASYNC-01..06, TPOOL-01): the
 * parent side. One handler thread per pool feeds tasks into shared slots,
 * harvests completions, runs callbacks, replaces dead workers and stops
 * tasks that run past their timeout. Layout: pool_internal.h; design:
 * docs/pool.md.
 *
 * Locking: p->mu guards the pool state, the job list and the function
 * table; j->mu guards one job's results. Order: p->mu before j->mu.
 * Callbacks run with no lock held.
 */
#include "core/pool_internal.h"
#include "core/args.h"
#include "core/backend.h"
#include "core/context_internal.h"
#include "core/fnref.h"
#include "core/process_internal.h"
#include "linux/futex.h"
#include "linux/shmap.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define POOL_OBJ_MAGIC 0x6d70706fu
#define RES_MAGIC 0x6d707272u
#define IMAP_MAGIC 0x6d707269u

enum { P_RUN = 0, P_CLOSED = 1, P_TERM = 2 };
enum { J_APPLY = 1, J_MAP, J_IMAP, J_IMAPU, J_FIXED };
enum { S_ITEMS = 1, S_ARRAY, S_ENC, S_GEN, S_NONE };
enum { PS_FREE = 0, PS_QUEUED = 1 };
enum { IR_EMPTY = 0, IR_OK = 1, IR_ERR = 2, IR_USED = 3 };

typedef struct ires {
    union {
        unsigned char *p;
        unsigned char b[8];
    } u;
    uint32_t len;
    int32_t st;
} ires;

typedef struct errrec {
    size_t index;
    int code, task_rc;
    pid_t pid;
    int sig, exitcode;
    char *msg;
    char *bt;
} errrec;

struct mpx_result {
    uint32_t magic;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* user + pool (while unfinished or in flight) */
    mpx_pool *pool;
    int type;
    int kind;
    int fn_idx;
    /* source (handler thread only after submit) */
    int src;
    const mpx_bytes *items;
    const unsigned char *base;
    size_t size;
    mpx_bytes *enc; /* owned copies (apply, starmap) */
    size_t nenc;
    mpx_gen_fn gen;
    void *gstate;
    int gen_err;
    size_t total; /* SIZE_MAX until known */
    size_t fed;
    bool input_done;
    bool in_list;
    size_t chunksize;
    int64_t timeout_ns;
    /* results (mu) */
    ires *win;
    size_t cap;
    size_t done;
    size_t nfailed;
    errrec *errs;
    size_t nerrs, caperrs;
    bool ready;     /* outcome final: readable (callbacks run after this) */
    bool announced; /* callbacks done: waiters see it ready (Python sets the
                     * event after the callback) */
    bool canceled;
    bool user_gone;
    size_t inflight; /* slots */
    /* imap consumer */
    size_t cpos;
    size_t consumed;
    size_t *uq;
    size_t uq_head, uq_tail;
    unsigned char *cur;
    errrec last_err;
    bool has_last_err;
    bool win_blocked;
    /* fixed fast path */
    mpx__shmap fx;
    size_t fx_slots;
    size_t fx_chunk;
    /* options */
    mpx_call_opts o;
    int64_t last_progress_ns;
    bool bar;
    struct mpx_result *next;
    /* apply_async without allocations beyond the result itself: the input
     * list, a small input and the single result entry live here */
    mpx_bytes enc1;
    ires win1;
    unsigned char inl[64];
};

struct mpx_imap {
    uint32_t magic;
    mpx_result *j;
};

typedef struct pworker {
    mpx_process *proc;
    pthread_t th;
    bool th_running;
    int pidfd;
    uint32_t gen;
    bool alive;
    bool timeout_kill;
    uint32_t tk_slot; /* what was over time when it was killed */
    uint64_t tk_rec;
    pid_t pid;
    px_worker_ctx tctx;
} pworker;

typedef struct pslot {
    mpx_result *job;
    int state;
    uint64_t ringpos;
    int *fds;
    int nfds, capfds;
} pslot;

typedef struct fnent {
    mpx__fnptr fn;
    int refs;
    uint32_t gen;
} fnent;

struct mpx_pool {
    uint32_t magic;
    pid_t creator;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    bool threads;
    /* workers elsewhere (a backend's context, core/backend.h): positions
     * are threads running be->worker; threads is set too */
    const mpx__pool_backend *be;
    void *be_state; /* be->prepare's, released by pool_free */
    int maxtasks;
    int64_t task_timeout_ns;
    mpx_context *ctx;
    mpx_init_fn init;
    mpx_args *initargs;
    mpx__shmap shm;
    px_hdr *h;
    int evfd;
    int *outfd; /* per worker position: the output file (spilled outputs) */
    pthread_t handler;
    bool handler_started;
    bool handler_exited;
    int state;
    bool joined;
    bool broken;
    int init_failures;
    pworker *w;
    pslot *ps;
    uint32_t *freel;
    uint32_t nfree;
    mpx_result *jobs, *jobs_tail;
    fnent fns[PX_FN_MAX];
    size_t outstanding;
    size_t replaced;
    _Atomic uint32_t kick;
    /* bumped by each cancel: the handler, which owns ps[], then flags the
     * in-flight slots of cancelled jobs (flag_cancelled_slots) */
    _Atomic uint32_t cancel_gen;
    uint32_t nslots;
    uint32_t timed_inflight;
    int worker_counter;
    mpx_result *fin[64]; /* jobs finished while feeding (handler only) */
    size_t nfin;
    bool terminating;
    unsigned harvest_rr;
    size_t requeued; /* slots handed back for their remaining records */
    int missing;     /* workers that could not be replaced yet */
    int startup_rc;  /* 1 while the handler starts the workers */
    bool pack;       /* feed: workers are fast, pack small chunks (handler only) */
};

/* Packing of small chunks: up to this many items per slot while every
 * worker's mean time per slot is at most PX_PACK_NS. */
#define PX_PACK_ITEMS 8u
#define PX_PACK_NS 10000u
/* ... and while at least this many items of the map are left to feed: small
 * maps and the tail of a big one go out unpacked (load balance) */
#define PX_PACK_MIN_LEFT 256u

/* Set when the program exits: handlers stop replacing workers that the
 * exit handlers terminate. */
static _Atomic bool program_exiting;
static void on_exit_hook(void)
{
    atomic_store(&program_exiting, true);
}
static pthread_once_t exit_hook_once = PTHREAD_ONCE_INIT;
static void register_exit_hook(void)
{
    atexit(on_exit_hook);
}

/* Set in the handler thread: a callback may read and wait on its result. */
static __thread bool in_handler;

static bool pool_ok(const mpx_pool *p)
{
    return p && p->magic == POOL_OBJ_MAGIC && p->creator == mpx__self_pid;
}

static void wake_handler(mpx_pool *p)
{
    atomic_fetch_add_explicit(&p->kick, 1, memory_order_seq_cst);
    mpx__pool_ring_parent(p->h, p->evfd);
}

/* ---- results: storage ------------------------------------------------------ */

static void job_free(mpx_result *j)
{
    if (j->win) {
        for (size_t i = 0; i < j->cap; i++)
            if ((j->win[i].st == IR_OK || j->win[i].st == IR_USED) && j->win[i].len > 8)
                free(j->win[i].u.p);
        if (j->win != &j->win1)
            free(j->win);
    }
    for (size_t i = 0; i < j->nerrs; i++) {
        free(j->errs[i].msg);
        free(j->errs[i].bt);
    }
    free(j->errs);
    if (j->enc) {
        for (size_t i = 0; i < j->nenc; i++)
            if (j->enc[i].data != j->inl)
                free((void *)j->enc[i].data);
        if (j->enc != &j->enc1)
            free(j->enc);
    }
    free(j->uq);
    free(j->cur);
    free(j->last_err.msg);
    free(j->last_err.bt);
    if (j->fx.addr)
        mpx__shmap_destroy(&j->fx);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    j->magic = 0;
    free(j);
}

static void job_unref(mpx_result *j)
{
    pthread_mutex_lock(&j->mu);
    int r = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (r == 0)
        job_free(j);
}

static ires *win_at(mpx_result *j, size_t index)
{
    return &j->win[index % j->cap];
}

/* Called with j->mu held. */
static void store_ok(mpx_result *j, size_t index, const void *data, size_t len, bool take)
{
    ires *r = win_at(j, index);
    if (len > 8) {
        if (take) {
            r->u.p = (unsigned char *)data;
        } else {
            r->u.p = malloc(len);
            if (!r->u.p) {
                r->len = 0;
                r->st = IR_OK;
                goto count;
            }
            memcpy(r->u.p, data, len);
        }
    } else {
        if (len)
            memcpy(r->u.b, data, len);
        if (take)
            free((void *)data);
    }
    r->len = (uint32_t)len;
    r->st = IR_OK;
count:
    j->done++;
    if (j->type == J_IMAPU)
        j->uq[j->uq_tail++ % j->cap] = index;
}

static void store_err(mpx_result *j, size_t index, int code, int task_rc, const char *msg,
                      size_t msglen, pid_t pid, int sig, int exitcode, const char *bt)
{
    ires *r = win_at(j, index);
    r->st = IR_ERR;
    r->len = 0;
    j->done++;
    j->nfailed++;
    if (j->type == J_IMAPU)
        j->uq[j->uq_tail++ % j->cap] = index;
    if (j->nerrs == j->caperrs) {
        size_t cap = j->caperrs ? j->caperrs * 2 : 8;
        errrec *e = realloc(j->errs, cap * sizeof *e);
        if (!e)
            return;
        j->errs = e;
        j->caperrs = cap;
    }
    errrec *e = &j->errs[j->nerrs++];
    memset(e, 0, sizeof *e);
    e->index = index;
    e->code = code;
    e->task_rc = task_rc;
    e->pid = pid;
    e->sig = sig;
    e->exitcode = exitcode;
    e->msg = msg ? strndup(msg, msglen) : strdup(mpx_strerror(code));
    e->bt = bt ? strdup(bt) : NULL;
}

static errrec *find_err(mpx_result *j, size_t index)
{
    for (size_t i = j->nerrs; i-- > 0;)
        if (j->errs[i].index == index)
            return &j->errs[i];
    return NULL;
}

/* Is the job finished? (j->mu held) */
static bool job_complete_locked(mpx_result *j)
{
    if (j->type == J_FIXED)
        return j->input_done && j->inflight == 0;
    return j->input_done && j->inflight == 0 && j->done >= j->fed;
}

/* ---- the function table ------------------------------------------------------ */

/* p->mu held. Returns the index or an error. */
static int fn_acquire(mpx_pool *p, mpx__fnptr fn)
{
    int freeidx = -1;
    for (int i = 0; i < (int)PX_FN_MAX; i++) {
        if (p->fns[i].refs > 0 && p->fns[i].fn == fn) {
            p->fns[i].refs++;
            return i;
        }
        if (freeidx < 0 && p->fns[i].refs == 0)
            freeidx = i;
    }
    if (freeidx < 0)
        return MPX_ETOOBIG;
    mpx__buf b;
    mpx__buf_init(&b);
    int rc = mpx__fnref_encode(p->threads ? NULL : p->ctx, fn, &b);
    if (!rc && b.len > PX_FN_SIZE - 8)
        rc = MPX_ETOOBIG;
    if (rc) {
        mpx__buf_free(&b);
        return rc;
    }
    px_fn *t = &px_fntab(p->h)[freeidx];
    memcpy(t->data, b.data, b.len);
    t->len = (uint32_t)b.len;
    mpx__buf_free(&b);
    p->fns[freeidx].gen++;
    atomic_store_explicit(&t->gen, p->fns[freeidx].gen, memory_order_release);
    p->fns[freeidx].fn = fn;
    p->fns[freeidx].refs = 1;
    return freeidx;
}

static void fn_release(mpx_pool *p, int idx)
{
    if (idx >= 0 && idx < (int)PX_FN_MAX && p->fns[idx].refs > 0)
        p->fns[idx].refs--;
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

static int start_worker(mpx_pool *p, uint32_t wi)
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

/* ---- slots ------------------------------------------------------------------------ */

static void slot_add_fd(pslot *ps, int fd)
{
    if (ps->nfds == ps->capfds) {
        int cap = ps->capfds ? ps->capfds * 2 : 4;
        int *f = realloc(ps->fds, (size_t)cap * sizeof *f);
        if (!f) {
            close(fd);
            return;
        }
        ps->fds = f;
        ps->capfds = cap;
    }
    ps->fds[ps->nfds++] = fd;
}

/*
 * Free the memory of the outputs that the slot's last run spilled (read by
 * now, or abandoned by a worker that died while writing): punch the used
 * part of the slot's region out of the output file that holds it. Called
 * whenever the slot goes back to the free list or the ring, so a spilled
 * output lives exactly as long as its slot (see pool_internal.h).
 */
static void slot_spill_release(mpx_pool *p, px_slot *s, uint32_t si)
{
    uint64_t end = atomic_load_explicit(&s->spill_end, memory_order_acquire);
    if (!end)
        return;
    uint32_t w = atomic_load_explicit(&s->spill_w, memory_order_relaxed);
    if (w < (uint32_t)p->n &&
        fallocate(p->outfd[w], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)((uint64_t)si * PX_SPILL_REGION), (off_t)end) < 0)
        MPX__WARNING("pool: cannot free spilled output memory: %s", strerror(errno));
    atomic_store_explicit(&s->spill_end, 0, memory_order_relaxed);
}

static void slot_free(mpx_pool *p, uint32_t si)
{
    pslot *ps = &p->ps[si];
    px_slot *s = px_slot_of(p->h, si);
    slot_spill_release(p, s, si);
    for (int i = 0; i < ps->nfds; i++)
        close(ps->fds[i]);
    ps->nfds = 0;
    if (s->timeout_ns > 0 && p->timed_inflight)
        p->timed_inflight--;
    uint64_t seq = (atomic_load(&s->claim) >> 32) + 1;
    atomic_store_explicit(&s->claim, seq << 32, memory_order_release);
    ps->state = PS_FREE;
    ps->job = NULL;
    p->freel[p->nfree++] = si;
}

/* Push a slot (already filled, claim = seq << 32) into the ring. */
static void slot_push(mpx_pool *p, uint32_t si)
{
    px_hdr *h = p->h;
    px_slot *s = px_slot_of(h, si);
    uint64_t seq = atomic_load_explicit(&s->claim, memory_order_relaxed) >> 32;
    uint64_t t = atomic_load_explicit(&h->tail, memory_order_relaxed);
    atomic_store_explicit(&px_ring(h)[t % h->nslots], seq << 32 | si, memory_order_relaxed);
    p->ps[si].ringpos = t;
    p->ps[si].state = PS_QUEUED;
    atomic_store_explicit(&h->tail, t + 1, memory_order_release);
}

static void wake_workers(mpx_pool *p, int n)
{
    px_hdr *h = p->h;
    PX_FENCE();
    if (atomic_load_explicit(&h->sleepers, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&h->work_bell, 1, memory_order_seq_cst);
        mpx__futex_wake(&h->work_bell, n);
    }
}

/* Requeue a slot from record start_rec on (after its worker died). */
static void slot_requeue(mpx_pool *p, uint32_t si, uint32_t start_rec)
{
    px_slot *s = px_slot_of(p->h, si);
    slot_spill_release(p, s, si);
    uint64_t seq = (atomic_load(&s->claim) >> 32) + 1;
    s->start_rec = start_rec;
    atomic_store(&s->out_items, 0);
    s->out_bytes = 0;
    atomic_store_explicit(&s->claim, seq << 32, memory_order_release);
    slot_push(p, si);
}

/* ---- feeding --------------------------------------------------------------------- */

/* Next input item of j (handler thread). Returns 1 with *item, 0 when the
 * input is exhausted or the window is full (*blocked set), <0 error. */
static int next_item(mpx_result *j, mpx_bytes *item, bool *blocked)
{
    if (j->canceled || j->input_done)
        return 0;
    if (j->type == J_IMAP || j->type == J_IMAPU) {
        /* bounded look-ahead: the window position must be free (consumed) */
        if (win_at(j, j->fed)->st != IR_USED) {
            *blocked = true;
            j->win_blocked = true;
            return 0;
        }
    }
    switch (j->src) {
    case S_ITEMS:
    case S_ENC:
        if (j->fed >= j->total) {
            j->input_done = true;
            return 0;
        }
        *item = j->src == S_ITEMS ? j->items[j->fed] : j->enc[j->fed];
        return 1;
    case S_ARRAY:
        if (j->fed >= j->total) {
            j->input_done = true;
            return 0;
        }
        item->data = j->base + j->fed * j->size;
        item->len = j->size;
        return 1;
    case S_GEN: {
        int rc = j->gen(j->gstate, item);
        if (rc == 1)
            return 1;
        j->gen_err = rc < 0 ? rc : 0;
        j->total = j->fed;
        j->input_done = true;
        return rc < 0 ? rc : 0;
    }
    default:
        j->input_done = true;
        return 0;
    }
}

/* Fill one slot from job j. Returns 1 when a slot was pushed, 0 when the
 * job has nothing to give now. j->mu held. */
static int fill_slot(mpx_pool *p, mpx_result *j)
{
    if (!p->nfree)
        return 0;
    uint32_t si = p->freel[p->nfree - 1];
    px_slot *s = px_slot_of(p->h, si);
    pslot *ps = &p->ps[si];
    unsigned char *in = px_in(s);
    size_t pos = 0;
    uint32_t nit = 0;
    size_t chunk = j->chunksize ? j->chunksize : 1;
    /* packing: while every worker reports short slots, a map with a small
     * chunksize puts several whole chunks into one slot (see "Performance
     * notes" in docs/pool.md) */
    if (p->pack && chunk < PX_PACK_ITEMS && j->type == J_MAP && j->timeout_ns <= 0 &&
        j->total != SIZE_MAX && j->total - j->fed >= PX_PACK_MIN_LEFT)
        chunk = (PX_PACK_ITEMS / chunk) * chunk;
    if (chunk > PX_MAX_CHUNK_ITEMS)
        chunk = PX_MAX_CHUNK_ITEMS;
    bool blocked = false;
    while (nit < chunk && PX_IN_CAP - pos >= 64) {
        mpx_bytes it;
        int rc = next_item(j, &it, &blocked);
        if (rc <= 0)
            break;
        bool fits = PX_IN_REC + PX_PAD8(it.len) + 48 <= PX_IN_CAP - pos || it.len <= 32;
        if (!fits && nit > 0 && j->src != S_GEN && PX_IN_REC + PX_PAD8(it.len) + 48 <= PX_IN_CAP)
            break; /* starts the next slot, inline */
        size_t index = j->fed++;
        if (j->type == J_IMAP || j->type == J_IMAPU) {
            ires *r = win_at(j, index);
            r->st = IR_EMPTY;
            r->len = 0;
        }
        unsigned char *rec = in + pos;
        px_put64(rec, index);
        if (fits) {
            px_put32(rec + 8, (uint32_t)it.len);
            px_put32(rec + 12, 0);
            if (it.len)
                memcpy(rec + PX_IN_REC, it.data, it.len);
            pos += PX_IN_REC + PX_PAD8(it.len);
        } else {
            int fd = memfd_create("mpx-pool-in", MFD_CLOEXEC);
            int wrc = fd < 0 ? -errno : mpx__write_all(fd, it.data, it.len);
            if (wrc) {
                if (fd >= 0)
                    close(fd);
                store_err(j, index, wrc, wrc, NULL, 0, 0, 0, 0, NULL);
                continue;
            }
            slot_add_fd(ps, fd);
            px_put32(rec + 8, PX_SPILL_REC);
            px_put32(rec + 12, PX_REC_SPILL);
            px_put32(rec + PX_IN_REC, (uint32_t)fd);
            px_put32(rec + PX_IN_REC + 4, (uint32_t)getpid());
            px_put64(rec + PX_IN_REC + 8, it.len);
            pos += PX_IN_REC + PX_SPILL_REC;
        }
        nit++;
    }
    if (nit == 0)
        return 0;
    p->nfree--;
    s->kind = (uint32_t)j->kind;
    s->fn_idx = (uint32_t)j->fn_idx;
    s->fn_gen = p->fns[j->fn_idx].gen;
    s->nitems = nit;
    s->start_rec = 0;
    s->in_bytes = (uint32_t)pos;
    s->timeout_ns = j->timeout_ns;
    /* relaxed: slot_push publishes the slot with a release store of tail
     * (seq_cst stores here were two locked instructions per task) */
    atomic_store_explicit(&s->cancel, 0, memory_order_relaxed);
    atomic_store_explicit(&s->out_items, 0, memory_order_relaxed);
    s->out_bytes = 0;
    if (j->timeout_ns > 0)
        p->timed_inflight++;
    ps->job = j;
    j->inflight++;
    slot_push(p, si);
    return 1;
}

/* Whether every live worker has measured its slots as short (packing). */
static bool workers_fast(mpx_pool *p)
{
    if (p->maxtasks || p->threads)
        return false; /* maxtasksperchild counts slots (chunks), as in Python */
    for (int wi = 0; wi < p->n; wi++) {
        if (!p->w[wi].alive)
            continue;
        uint32_t a = atomic_load_explicit(&px_wctl_of(p->h, (uint32_t)wi)->avg_ns,
                                          memory_order_relaxed);
        if (a == 0 || a > PX_PACK_NS)
            return false;
    }
    return true;
}

/* Feed every job in order (p->mu held). Returns slots pushed. */
static int feed(mpx_pool *p)
{
    int pushed = 0;
    if (p->jobs && p->nfree)
        p->pack = workers_fast(p);
    mpx_result **pp = &p->jobs;
    while (*pp && p->nfree) {
        mpx_result *j = *pp;
        pthread_mutex_lock(&j->mu);
        int k = 0;
        if (j->type == J_FIXED) {
            /* one slot per worker, pushed at once */
            while (j->fx_slots < (size_t)p->n && p->nfree) {
                uint32_t si = p->freel[--p->nfree];
                px_slot *s = px_slot_of(p->h, si);
                memcpy(px_in(s), (unsigned char *)j->fx.addr + j->fx.size - 4096,
                       sizeof(px_fixed_desc));
                s->kind = PX_K_FIXED;
                s->fn_idx = (uint32_t)j->fn_idx;
                s->fn_gen = p->fns[j->fn_idx].gen;
                s->nitems = 1;
                s->start_rec = 0;
                s->in_bytes = sizeof(px_fixed_desc);
                s->timeout_ns = j->timeout_ns;
                atomic_store(&s->cancel, 0);
                atomic_store(&s->out_items, 0);
                if (j->timeout_ns > 0)
                    p->timed_inflight++;
                p->ps[si].job = j;
                j->inflight++;
                j->fx_slots++;
                slot_push(p, si);
                k++;
            }
            if (j->fx_slots >= (size_t)p->n)
                j->input_done = true;
        } else {
            while (p->nfree && fill_slot(p, j))
                k++;
        }
        pushed += k;
        bool done_feeding = j->input_done || j->canceled;
        bool complete = job_complete_locked(j);
        pthread_mutex_unlock(&j->mu);
        if (done_feeding && complete && p->nfin == MPX__ARRAY_LEN(p->fin)) {
            pp = &j->next; /* finished next time round */
            continue;
        }
        if (done_feeding) {
            *pp = j->next;
            if (p->jobs_tail == j) {
                p->jobs_tail = NULL;
                for (mpx_result *x = p->jobs; x; x = x->next)
                    p->jobs_tail = x;
            }
            j->in_list = false;
            j->next = NULL;
            if (complete)
                p->fin[p->nfin++] = j;
            continue;
        }
        if (k == 0)
            pp = &j->next; /* blocked (window) or nothing now: next job */
    }
    if (pushed)
        wake_workers(p, pushed);
    return pushed;
}

/* ---- completion of jobs ------------------------------------------------------------ */

static void draw_bar(mpx_result *j, bool final)
{
    size_t total = j->total == SIZE_MAX ? 0 : j->total;
    char line[128];
    int width = 40;
    int filled = total ? (int)((double)j->done / (double)total * width) : 0;
    if (filled > width)
        filled = width;
    int n = snprintf(line, sizeof line, "\r[");
    for (int i = 0; i < width; i++)
        line[n++] = i < filled ? '#' : '.';
    if (total)
        n += snprintf(line + n, sizeof line - (size_t)n, "] %3d%% %zu/%zu%s",
                      (int)(100.0 * (double)j->done / (double)total), j->done, total,
                      final ? "\n" : "");
    else
        n += snprintf(line + n, sizeof line - (size_t)n, "] %zu%s", j->done, final ? "\n" : "");
    ssize_t wr = write(STDERR_FILENO, line, (size_t)n);
    (void)wr;
}

/* After results were stored for j: progress, readiness, callbacks. Called
 * from the handler with no lock held. Drops the pool's reference when the
 * job is complete. */
static void job_after(mpx_pool *p, mpx_result *j)
{
    pthread_mutex_lock(&j->mu);
    bool was_ready = j->ready;
    bool complete = !was_ready && job_complete_locked(j) && !j->in_list;
    size_t done = j->done, total = j->total == SIZE_MAX ? 0 : j->total;
    int64_t now = 0;
    bool report = false;
    if (j->o.progress || j->bar) {
        now = mpx__now_ns();
        if (complete || now - j->last_progress_ns > 50000000) {
            j->last_progress_ns = now;
            report = true;
        }
    }
    if (complete) {
        j->ready = true;
        if (j->type == J_IMAP || j->type == J_IMAPU) {
            j->total = j->fed;
            __atomic_store_n(&j->announced, true, __ATOMIC_RELEASE);
        }
    }
    /* Waiters of map/apply results sleep until the job is announced (the
     * broadcast below, after the callbacks); only an imap consumer waits
     * for single items. Broadcasting on every harvest pass would wake a
     * sleeping map caller once per pass (a futex wake and a context switch
     * each time, on a machine with 2 CPUs): do it only for imap. */
    if (j->type == J_IMAP || j->type == J_IMAPU)
        pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (report && j->o.progress)
        j->o.progress(done, total, j->o.progress_udata);
    if (report && j->bar)
        draw_bar(j, complete);
    if (!complete)
        return;
    if (j->type == J_APPLY || j->type == J_MAP) {
        if (!j->canceled || j->nfailed) {
            if (j->nfailed == 0 && j->o.callback)
                j->o.callback(j, j->o.udata);
            else if (j->nfailed && j->o.error_callback)
                j->o.error_callback(j, j->o.udata);
        }
    }
    /* leave the pool's books first, then wake the waiters: a waiter that
     * returns sees mpx_pool_outstanding without this job */
    pthread_mutex_lock(&p->mu);
    if (p->outstanding)
        p->outstanding--;
    fn_release(p, j->fn_idx);
    pthread_mutex_lock(&j->mu);
    j->pool = NULL; /* written under both locks: readers hold either */
    __atomic_store_n(&j->announced, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&j->cv);
    int refs = --j->refs; /* the pool's reference (job_unref, one lock less) */
    pthread_mutex_unlock(&j->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (refs == 0)
        job_free(j);
}

/* Parse the committed output records of slot si into its job (j->mu held).
 * Returns the number of records read. */
static uint32_t read_outputs(mpx_pool *p, uint32_t si, mpx_result *j)
{
    px_slot *s = px_slot_of(p->h, si);
    uint32_t n = atomic_load_explicit(&s->out_items, memory_order_acquire);
    if (s->kind == PX_K_FIXED)
        return n;
    const unsigned char *o = px_out(s);
    size_t pos = 0;
    for (uint32_t k = 0; k < n && pos + PX_OUT_REC <= PX_OUT_CAP; k++) {
        const unsigned char *r = o + pos;
        size_t index = (size_t)px_get64(r);
        int code = (int)px_get32(r + 8);
        int task_rc = (int)px_get32(r + 12);
        uint32_t len = px_get32(r + 16);
        uint32_t flags = px_get32(r + 20);
        const unsigned char *data = r + PX_OUT_REC;
        pos += PX_OUT_REC + PX_PAD8(len);
        if (j->canceled && j->user_gone) {
            j->done++; /* nobody will read it (its memory goes with the slot) */
            continue;
        }
        unsigned char *spill = NULL;
        size_t dlen = len;
        if (flags & PX_REC_SPILL) {
            /* in the output file of the worker position that ran the slot
             * (written before the record was committed) */
            uint64_t off = px_get64(data);
            dlen = (size_t)px_get64(data + 8);
            uint32_t w = atomic_load_explicit(&s->spill_w, memory_order_relaxed);
            int rc = w < (uint32_t)p->n
                         ? mpx__pool_read_at(p->outfd[w], (uint64_t)si * PX_SPILL_REGION + off,
                                             dlen, &spill)
                         : MPX_EPROTO;
            if (rc) {
                /* only a failing read (ENOMEM ...): a worker's fate no
                 * longer matters here */
                static const char lost[] = "cannot read the spilled output";
                store_err(j, index, rc, rc, lost, sizeof lost - 1, 0, 0, 0, NULL);
                continue;
            }
            data = spill;
        }
        if (code == 0)
            store_ok(j, index, data, dlen, spill != NULL);
        else {
            /* no message (an output that could not be stored): the code's */
            const char *m = dlen || code == MPX_ETASK ? (const char *)data : NULL;
            store_err(j, index, code, task_rc, m, dlen, 0, 0, 0, NULL);
            free(spill);
        }
    }
    return n;
}

/* Items of the slot not run: from record `from` on; mark them failed with
 * code (terminate, cancel). j->mu held. */
static void fail_records(mpx_pool *p, uint32_t si, mpx_result *j, uint32_t from, int code)
{
    px_slot *s = px_slot_of(p->h, si);
    const unsigned char *ip = px_in(s);
    for (uint32_t r = 0; r < s->nitems; r++) {
        uint64_t index = px_get64(ip);
        uint32_t len = px_get32(ip + 8);
        ip += PX_IN_REC + PX_PAD8(len);
        if (r >= from)
            store_err(j, (size_t)index, code, code, NULL, 0, 0, 0, 0, NULL);
    }
}

static uint64_t record_index(mpx_pool *p, uint32_t si, uint32_t rec)
{
    px_slot *s = px_slot_of(p->h, si);
    const unsigned char *ip = px_in(s);
    for (uint32_t r = 0; r < s->nitems; r++) {
        uint32_t len = px_get32(ip + 8);
        if (r == rec)
            return px_get64(ip);
        ip += PX_IN_REC + PX_PAD8(len);
    }
    return 0;
}

/* A completed slot. *locked is the job whose mutex the caller holds
 * (consecutive slots of one job are harvested under one lock). */
static mpx_result *harvest_slot(mpx_pool *p, uint32_t si, mpx_result **locked)
{
    pslot *ps = &p->ps[si];
    mpx_result *j = ps->job;
    if (!j || ps->state != PS_QUEUED)
        return NULL;
    if (*locked != j) {
        if (*locked)
            pthread_mutex_unlock(&(*locked)->mu);
        pthread_mutex_lock(&j->mu);
        *locked = j;
    }
    px_slot *s = px_slot_of(p->h, si);
    uint32_t n = read_outputs(p, si, j);
    if (s->kind != PX_K_FIXED && s->start_rec + n < s->nitems) {
        /* the worker stopped early (output area full): run the rest */
        slot_requeue(p, si, s->start_rec + n);
        p->requeued++;
        return j;
    }
    j->inflight--;
    slot_free(p, si);
    return j;
}

static void after_jobs(mpx_pool *p, mpx_result **touched, size_t nt)
{
    for (size_t i = 0; i < nt; i++) {
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            if (touched[k] == touched[i])
                dup = true;
        if (!dup)
            job_after(p, touched[i]);
    }
}

/* Add j to touched (cap entries, *nt used) for a later after_jobs, running
 * after_jobs on a full list first. */
static void touch_job(mpx_pool *p, mpx_result **touched, size_t cap, size_t *nt, mpx_result *j)
{
    if (*nt == cap) {
        after_jobs(p, touched, *nt);
        *nt = 0;
    }
    touched[(*nt)++] = j;
}

/* Drain every worker's completion ring. */
static bool harvest(mpx_pool *p, size_t budget)
{
    bool any = false;
    mpx_result *touched[32];
    mpx_result *locked = NULL;
    size_t nt = 0;
    int start = p->harvest_rr++ % p->n;
    for (int k = 0; k < p->n && budget; k++) {
        int wi = (start + k) % p->n;
        px_wctl *ctl = px_wctl_of(p->h, (uint32_t)wi);
        uint64_t hd = atomic_load_explicit(&ctl->c_head, memory_order_relaxed);
        uint64_t tl = atomic_load_explicit(&ctl->c_tail, memory_order_acquire);
        if (hd == tl)
            continue;
        _Atomic uint32_t *comp = px_comp(p->h, (uint32_t)wi);
        for (; hd != tl && budget; hd++, budget--) {
            uint32_t si = atomic_load_explicit(&comp[hd % p->nslots], memory_order_relaxed);
            if (si >= p->nslots)
                continue;
            mpx_result *j = harvest_slot(p, si, &locked);
            if (j && (nt == 0 || touched[nt - 1] != j)) {
                bool seen = false;
                for (size_t t = 0; t < nt; t++)
                    if (touched[t] == j)
                        seen = true;
                if (!seen) {
                    if (nt == MPX__ARRAY_LEN(touched)) {
                        if (locked) {
                            pthread_mutex_unlock(&locked->mu);
                            locked = NULL;
                        }
                        after_jobs(p, touched, nt);
                        nt = 0;
                    }
                    touched[nt++] = j;
                }
            }
        }
        atomic_store_explicit(&ctl->c_head, hd, memory_order_release);
        any = true;
    }
    if (locked)
        pthread_mutex_unlock(&locked->mu);
    if (p->requeued) {
        wake_workers(p, (int)p->requeued);
        p->requeued = 0;
    }
    /* callbacks with no lock held; p->mu is not held here */
    after_jobs(p, touched, nt);
    return any;
}

/* ---- worker death ------------------------------------------------------------------ */

static void fixed_crash(mpx_pool *p, mpx_result *j, px_wctl *ctl, int code, pid_t pid, int sig,
                        int exitcode, const char *bt)
{
    px_fixed_ctl *fc = (px_fixed_ctl *)j->fx.addr;
    px_fixed_desc *d = (px_fixed_desc *)(void *)((unsigned char *)j->fx.addr + j->fx.size - 4096);
    _Atomic int32_t *st = (_Atomic int32_t *)((unsigned char *)j->fx.addr + d->off_status);
    uint64_t k = atomic_load(&ctl->cur_item), end = atomic_load(&ctl->cur_end);
    if (end == 0 || k >= d->n)
        return;
    if (atomic_load(&st[k]) == 0) {
        atomic_store(&st[k], code);
        char msg[96];
        snprintf(msg, sizeof msg, "%s (pid %d, signal %d)", mpx_strerror(code), (int)pid, sig);
        store_err(j, (size_t)k, code, code, msg, strlen(msg), pid, sig, exitcode, bt);
    }
    if (k + 1 < end) {
        uint32_t nr = atomic_load(&fc->nredo);
        if (nr < PX_REDO_MAX) {
            fc->redo[nr].lo = k + 1;
            fc->redo[nr].hi = end;
            atomic_store(&fc->redo[nr].claimed, 0);
            atomic_store_explicit(&fc->nredo, nr + 1, memory_order_release);
        }
    }
    (void)p;
}

static void worker_died(mpx_pool *p, uint32_t wi, int exitcode)
{
    pworker *w = &p->w[wi];
    px_wctl *ctl = px_wctl_of(p->h, wi);
    w->alive = false;
    if (!p->threads)
        atomic_store(&ctl->pid, 0);
    /* results it completed first */
    harvest(p, SIZE_MAX);
    uint32_t me = (wi + 1) | (w->gen << 16);
    uint32_t cur = atomic_load(&ctl->cur_slot);
    int sig = exitcode < 0 ? -exitcode : 0;
    bool exiting = atomic_load(&ctl->state) == PX_W_EXITING;
    bool starting = atomic_load(&ctl->state) == PX_W_STARTING || atomic_load(&ctl->init_failed);
    int code = w->timeout_kill ? MPX_ETIMEDOUT : p->terminating ? MPX_ECANCELED : MPX_EWORKER;
    char bt[PX_BT_SIZE + 1];
    uint32_t btl = atomic_load_explicit(&ctl->bt_len, memory_order_acquire);
    if (btl > PX_BT_SIZE)
        btl = PX_BT_SIZE;
    memcpy(bt, ctl->bt, btl);
    bt[btl] = 0;
    if (!exiting || exitcode != 0)
        MPX__DEBUG("pool: worker pid %d ended (exitcode %d)%s", (int)w->pid, exitcode,
                   w->timeout_kill ? " after a task timeout" : "");
    mpx_result *touched[64];
    size_t nt = 0;
    uint64_t head = atomic_load(&p->h->head);
    for (uint32_t si = 0; si < p->nslots; si++) {
        pslot *ps = &p->ps[si];
        if (ps->state != PS_QUEUED || !ps->job)
            continue;
        px_slot *s = px_slot_of(p->h, si);
        uint64_t claim = atomic_load(&s->claim);
        uint32_t owner = (uint32_t)claim;
        mpx_result *j = ps->job;
        if (owner == 0 && ps->ringpos < head) {
            /* taken from the ring by a worker that died before claiming */
            uint64_t exp = claim;
            if (atomic_compare_exchange_strong(&s->claim, &exp, claim | PX_OWNER_STOLEN))
                slot_requeue(p, si, s->start_rec);
            continue;
        }
        if (owner != me)
            continue;
        pthread_mutex_lock(&j->mu);
        uint32_t n = read_outputs(p, si, j);
        if (s->kind == PX_K_FIXED) {
            if (si == cur) {
                fixed_crash(p, j, ctl, code, w->pid, sig, exitcode, btl ? bt : NULL);
                /* the slot is done; one more slot lets a worker finish the redo range */
                j->inflight--;
                j->fx_slots--;
                j->input_done = false;
                pthread_mutex_unlock(&j->mu);
                slot_free(p, si);
                if (!j->in_list) {
                    pthread_mutex_lock(&p->mu);
                    j->in_list = true;
                    j->next = p->jobs;
                    p->jobs = j;
                    if (!p->jobs_tail)
                        p->jobs_tail = j;
                    pthread_mutex_unlock(&p->mu);
                }
            } else {
                pthread_mutex_unlock(&j->mu);
                slot_requeue(p, si, 0);
            }
            continue;
        }
        uint32_t first = s->start_rec + n;
        /* killed for a timeout, but it had moved on to another item: that
         * one is not at fault, run it again */
        bool victim = w->timeout_kill && (si != w->tk_slot || first != w->tk_rec);
        if (si == cur && first < s->nitems && !victim) {
            size_t index = (size_t)record_index(p, si, first);
            char msg[160];
            if (code == MPX_ETIMEDOUT)
                snprintf(msg, sizeof msg, "task timed out after %lld ms; worker pid %d killed",
                         (long long)(s->timeout_ns / 1000000), (int)w->pid);
            else if (sig)
                snprintf(msg, sizeof msg, "worker pid %d died with signal %d (SIG%s)", (int)w->pid,
                         sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
            else
                snprintf(msg, sizeof msg, "worker pid %d exited with code %d", (int)w->pid,
                         exitcode);
            store_err(j, index, code, code, msg, strlen(msg), w->pid, sig, exitcode,
                      btl && code == MPX_EWORKER ? bt : NULL);
            first++;
        }
        if (first < s->nitems) {
            pthread_mutex_unlock(&j->mu);
            slot_requeue(p, si, first);
        } else {
            j->inflight--;
            pthread_mutex_unlock(&j->mu);
            slot_free(p, si);
        }
        touch_job(p, touched, MPX__ARRAY_LEN(touched), &nt, j);
    }
    after_jobs(p, touched, nt);
    if (w->proc) {
        mpx_process_join(w->proc, 1000);
        mpx_process_destroy(w->proc);
        w->proc = NULL;
        w->pidfd = -1;
    }
    if (w->th_running) {
        pthread_join(w->th, NULL);
        w->th_running = false;
    }
    /* A worker that dies while starting counts towards "the pool is
     * broken" only when it failed by itself (its initializer failed, or it
     * crashed); a SIGKILL/SIGTERM during start comes from outside (an
     * operator, a test killing random workers, the OOM killer) and says
     * nothing about the next start. */
    bool start_failed = atomic_load(&ctl->init_failed) ||
                        (starting && sig != SIGKILL && sig != SIGTERM);
    if (start_failed) {
        if (++p->init_failures >= 3 && !p->broken) {
            MPX__WARNING("pool: workers keep failing to start; pool broken");
            p->broken = true;
        }
    } else {
        p->init_failures = 0;
    }
}

/* Fail everything not done (terminate, broken). p->mu not held. */
static void fail_all(mpx_pool *p, int code)
{
    mpx_result *touched[256];
    size_t nt = 0;
    for (uint32_t si = 0; si < p->nslots; si++) {
        pslot *ps = &p->ps[si];
        if (ps->state != PS_QUEUED || !ps->job)
            continue;
        mpx_result *j = ps->job;
        px_slot *s = px_slot_of(p->h, si);
        pthread_mutex_lock(&j->mu);
        uint32_t n = read_outputs(p, si, j);
        if (s->kind != PX_K_FIXED)
            fail_records(p, si, j, s->start_rec + n, code);
        j->inflight--;
        pthread_mutex_unlock(&j->mu);
        slot_free(p, si);
        touch_job(p, touched, MPX__ARRAY_LEN(touched), &nt, j);
    }
    pthread_mutex_lock(&p->mu);
    mpx_result *list = p->jobs;
    p->jobs = p->jobs_tail = NULL;
    pthread_mutex_unlock(&p->mu);
    while (list) {
        mpx_result *j = list;
        list = j->next;
        pthread_mutex_lock(&j->mu);
        j->in_list = false;
        j->next = NULL;
        j->canceled = true;
        if (j->src == S_ITEMS || j->src == S_ARRAY || j->src == S_ENC) {
            if (j->type == J_MAP || j->type == J_APPLY)
                for (size_t i = j->fed; i < j->total; i++)
                    store_err(j, i, code, code, NULL, 0, 0, 0, 0, NULL);
            if (j->type == J_MAP || j->type == J_APPLY)
                j->fed = j->total;
            else
                j->total = j->fed;
        } else {
            j->total = j->fed;
        }
        j->input_done = true;
        pthread_mutex_unlock(&j->mu);
        touch_job(p, touched, MPX__ARRAY_LEN(touched), &nt, j);
    }
    after_jobs(p, touched, nt);
}

/* ---- cancellation --------------------------------------------------------------- */

/*
 * Stop a job's input and mark it cancelled; the handler thread then flags
 * its slots in flight so workers skip the items they have not started
 * (ps[] belongs to the handler: reading it here raced with harvest).
 * Returns the items cancelled, counting those in flight (some of which are
 * already running and will finish). p->mu held.
 */
static int cancel_job_locked(mpx_pool *p, mpx_result *j)
{
    int n = 0;
    pthread_mutex_lock(&j->mu);
    if (!j->ready) {
        j->canceled = true;
        atomic_fetch_add(&p->cancel_gen, 1);
        if (j->type == J_FIXED)
            n += (int)j->inflight; /* one item per slot */
        else if (j->fed > j->done)
            n += (int)(j->fed - j->done);
        if (j->type == J_MAP || j->type == J_APPLY) {
            size_t rest = j->total != SIZE_MAX ? j->total - j->fed : 0;
            for (size_t i = j->fed; i < j->total; i++)
                store_err(j, i, MPX_ECANCELED, MPX_ECANCELED, NULL, 0, 0, 0, 0, NULL);
            j->fed = j->total;
            n += (int)rest;
        } else {
            j->total = j->fed;
        }
        j->input_done = true;
        if (j->type == J_FIXED && j->fx.addr) {
            px_fixed_ctl *fc = (px_fixed_ctl *)j->fx.addr;
            atomic_store(&fc->next, UINT64_MAX / 2);
        }
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

/* Handler thread: tell workers to skip the unstarted items of slots whose
 * job was cancelled. */
static void flag_cancelled_slots(mpx_pool *p)
{
    for (uint32_t si = 0; si < p->nslots; si++) {
        mpx_result *j = p->ps[si].job;
        if (p->ps[si].state != PS_QUEUED || !j)
            continue;
        pthread_mutex_lock(&j->mu);
        bool c = j->canceled;
        pthread_mutex_unlock(&j->mu);
        if (c)
            atomic_store(&px_slot_of(p->h, si)->cancel, 1);
    }
}

/*
 * Terminate, thread pools (#12.2). A thread cannot be killed, so instead of
 * killing the workers (what a process pool does) take every task that has
 * not started away from them: a slot still in the ring is stolen with the
 * CAS a worker would use to claim it (no worker can run it after that;
 * fail_all then fails its items with MPX_ECANCELED), and every slot gets
 * its cancel flag, so a worker that has claimed it, or is running one of
 * its items, reports the items it has not started as cancelled without
 * running them (run_slot). Running items finish; shutdown_workers then
 * waits for them only. Handler thread.
 */
static void cancel_unstarted(mpx_pool *p)
{
    for (uint32_t si = 0; si < p->nslots; si++) {
        pslot *ps = &p->ps[si];
        if (ps->state != PS_QUEUED || !ps->job)
            continue;
        px_slot *s = px_slot_of(p->h, si);
        atomic_store(&s->cancel, 1);
        uint64_t claim = atomic_load(&s->claim);
        if ((uint32_t)claim == 0)
            atomic_compare_exchange_strong(&s->claim, &claim, claim | PX_OWNER_STOLEN);
    }
}

/* ---- the handler thread ------------------------------------------------------------- */

static void check_timeouts(mpx_pool *p)
{
    if (!p->timed_inflight || p->threads)
        return;
    int64_t now = mpx__now_ns();
    for (int wi = 0; wi < p->n; wi++) {
        pworker *w = &p->w[wi];
        if (!w->alive || w->timeout_kill)
            continue;
        px_wctl *ctl = px_wctl_of(p->h, (uint32_t)wi);
        uint32_t cs = atomic_load(&ctl->cur_slot);
        if (cs >= p->nslots)
            continue;
        px_slot *s = px_slot_of(p->h, cs);
        int64_t t0 = atomic_load(&ctl->item_start_ns);
        if (s->timeout_ns > 0 && t0 > 0 && now - t0 > s->timeout_ns) {
            w->timeout_kill = true;
            w->tk_slot = cs;
            w->tk_rec = atomic_load(&ctl->cur_item);
            MPX__DEBUG("pool: task on worker pid %d timed out; killing it", (int)w->pid);
            mpx_process_kill(w->proc);
        }
    }
}

/* Poll dead workers; restart them when there is work or the pool runs. */
static bool check_deaths(mpx_pool *p, bool replace)
{
    bool any = false;
    if (atomic_load(&program_exiting))
        replace = false;
    for (int wi = 0; wi < p->n; wi++) {
        pworker *w = &p->w[wi];
        if (!w->alive) {
            /* a replacement that could not be started before (EAGAIN ...) */
            if (replace && !p->broken && !w->proc && !w->th_running &&
                start_worker(p, (uint32_t)wi) == 0) {
                any = true;
                p->missing--;
            }
            continue;
        }
        bool dead = false;
        int code = 0;
        if (p->threads) {
            px_wctl *ctl = px_wctl_of(p->h, (uint32_t)wi);
            dead = atomic_load(&ctl->state) == PX_W_EXITING;
        } else if (w->pidfd >= 0 && mpx__fd_readable(w->pidfd)) {
            dead = true;
            mpx_process_join(w->proc, 1000);
            mpx_process_exitcode(w->proc, &code);
        }
        if (!dead)
            continue;
        any = true;
        worker_died(p, (uint32_t)wi, code);
        if (replace && !p->broken) {
            int rc = start_worker(p, (uint32_t)wi);
            if (rc) {
                MPX__WARNING("pool: cannot start a replacement worker: %s (will retry)",
                             mpx_strerror(rc));
                p->missing++;
            } else {
                pthread_mutex_lock(&p->mu);
                p->replaced++;
                pthread_mutex_unlock(&p->mu);
            }
        }
    }
    return any;
}

static bool rings_nonempty(mpx_pool *p)
{
    for (int wi = 0; wi < p->n; wi++) {
        px_wctl *ctl = px_wctl_of(p->h, (uint32_t)wi);
        if (atomic_load_explicit(&ctl->c_tail, memory_order_seq_cst) !=
            atomic_load_explicit(&ctl->c_head, memory_order_relaxed))
            return true;
    }
    return false;
}

/* Returns true when the handler slept in poll() (false: the spin found work). */
static bool handler_sleep(mpx_pool *p, uint32_t kick_seen)
{
    px_hdr *h = p->h;
    for (int i = 0; i < h->spin; i++) {
        mpx__cpu_relax();
        if ((i & 15) == 0 && (rings_nonempty(p) || atomic_load(&p->kick) != kick_seen))
            return false;
    }
    atomic_store_explicit(&h->parent_sleeping, 1, memory_order_seq_cst);
    PX_FENCE();
    if (!rings_nonempty(p) && atomic_load(&p->kick) == kick_seen) {
        struct pollfd fds[1 + 256];
        int nf = 0;
        fds[nf++] = (struct pollfd){.fd = p->evfd, .events = POLLIN};
        for (int wi = 0; wi < p->n && nf < (int)MPX__ARRAY_LEN(fds); wi++)
            if (p->w[wi].alive && p->w[wi].pidfd >= 0)
                fds[nf++] = (struct pollfd){.fd = p->w[wi].pidfd, .events = POLLIN};
        int tmo = p->timed_inflight ? 5 : (p->threads || p->missing ? 100 : 1000);
        poll(fds, (nfds_t)nf, tmo);
    }
    uint64_t v;
    ssize_t r = read(p->evfd, &v, 8);
    (void)r;
    atomic_store_explicit(&h->parent_sleeping, 0, memory_order_relaxed);
    atomic_store_explicit(&h->bell_pending, 0, memory_order_seq_cst);
    return true;
}

static bool any_slot_busy(mpx_pool *p)
{
    return p->nfree != p->nslots;
}

static void shutdown_workers(mpx_pool *p, bool kill_them)
{
    atomic_store(&p->h->shutdown, 1);
    atomic_fetch_add(&p->h->work_bell, 1);
    mpx__futex_wake(&p->h->work_bell, INT32_MAX);
    for (int wi = 0; wi < p->n; wi++) {
        pworker *w = &p->w[wi];
        if (w->proc && kill_them)
            mpx_process_kill(w->proc);
    }
    for (int wi = 0; wi < p->n; wi++) {
        pworker *w = &p->w[wi];
        if (w->proc) {
            if (mpx_process_join(w->proc, kill_them ? 5000 : MPX_FOREVER) == 0) {
                mpx_process_kill(w->proc);
                mpx_process_join(w->proc, MPX_FOREVER);
            }
        }
        if (w->th_running) {
            pthread_join(w->th, NULL);
            w->th_running = false;
        }
    }
    for (int wi = 0; wi < p->n; wi++) {
        pworker *w = &p->w[wi];
        if (w->alive && w->proc) {
            int code = 0;
            mpx_process_exitcode(w->proc, &code);
            worker_died(p, (uint32_t)wi, code);
        } else if (w->alive) {
            worker_died(p, (uint32_t)wi, 0);
        }
    }
}

static void *handler_main(void *arg)
{
    mpx_pool *p = arg;
    unsigned iter = 0;
    bool slept = true;
    in_handler = true;
    int rc = 0;
    for (int i = 0; i < p->n && !rc; i++)
        rc = start_worker(p, (uint32_t)i);
    if (rc) {
        atomic_store(&p->h->shutdown, 1);
        atomic_fetch_add(&p->h->work_bell, 1);
        mpx__futex_wake(&p->h->work_bell, INT32_MAX);
        for (int i = 0; i < p->n; i++) {
            if (p->w[i].proc) {
                mpx_process_kill(p->w[i].proc);
                mpx_process_join(p->w[i].proc, MPX_FOREVER);
                mpx_process_destroy(p->w[i].proc);
                p->w[i].proc = NULL;
            }
            if (p->w[i].th_running) {
                pthread_join(p->w[i].th, NULL);
                p->w[i].th_running = false;
            }
        }
    }
    pthread_mutex_lock(&p->mu);
    p->startup_rc = rc;
    if (rc)
        p->handler_exited = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (rc)
        return NULL;
    uint32_t cancel_seen = atomic_load(&p->cancel_gen);
    for (;;) {
        uint32_t kick = atomic_load(&p->kick);
        uint32_t cg = atomic_load(&p->cancel_gen);
        if (cg != cancel_seen) {
            cancel_seen = cg;
            flag_cancelled_slots(p);
        }
        bool progress = harvest(p, SIZE_MAX);
        pthread_mutex_lock(&p->mu);
        int state = p->state;
        pthread_mutex_unlock(&p->mu);
        if (state == P_TERM) {
            p->terminating = true;
            if (p->threads)
                cancel_unstarted(p);
            shutdown_workers(p, true);
            fail_all(p, MPX_ECANCELED);
            break;
        }
        if (p->broken) {
            fail_all(p, MPX_EBROKEN);
        }
        /* pidfds are polled (a system call each) every 64 passes and after
         * every real sleep (poll() watches them, so a death wakes the
         * handler); not on each idle pass of a busy map, where it cost two
         * system calls per ping-pong with the workers */
        if ((++iter & 63) == 0 || (!progress && slept))
            progress |= check_deaths(p, true);
        check_timeouts(p);
        pthread_mutex_lock(&p->mu);
        if (feed(p))
            progress = true;
        bool idle = !p->jobs && !any_slot_busy(p);
        size_t nfin = p->nfin;
        mpx_result *fin[64];
        memcpy(fin, p->fin, nfin * sizeof *fin);
        p->nfin = 0;
        pthread_mutex_unlock(&p->mu);
        after_jobs(p, fin, nfin);
        if (nfin)
            progress = true;
        if (state == P_CLOSED && idle && p->outstanding == 0) {
            shutdown_workers(p, false);
            break;
        }
        slept = true;
        if (!progress)
            slept = handler_sleep(p, kick);
    }
    pthread_mutex_lock(&p->mu);
    p->handler_exited = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
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

/* A task timeout (> 0, or MPX_FOREVER: none) in ns; 0 means none. */
static int64_t task_timeout_ns(mpx_duration t)
{
    return t <= 0 || t >= INT64_MAX / 1000000 ? 0 : t * 1000000;
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
    /* the thread context (dummy.Pool): a ThreadPool */
    if ((o.ctx ? o.ctx : mpx__context_default())->threads)
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
    p->ctx = o.ctx ? o.ctx : mpx__context_default();
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
    h->spin = o.spin < 0 ? 0 : o.spin ? o.spin : 2000;
    p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p->ps = calloc(nslots, sizeof *p->ps);
    p->freel = calloc(nslots, sizeof *p->freel);
    p->w = calloc((size_t)n, sizeof *p->w);
    if (p->evfd < 0 || !p->ps || !p->freel || !p->w) {
        rc = p->evfd < 0 ? -errno : -ENOMEM;
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
        p->outfd[i] = memfd_create("mpx-pool-out", MFD_CLOEXEC);
        if (p->outfd[i] < 0) {
            rc = -errno;
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
    rc = -pthread_create(&p->handler, NULL, handler_main, p);
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

/* ---- submitting ------------------------------------------------------------------- */

static mpx_result *job_new(int type, const mpx_call_opts *o)
{
    mpx_result *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    j->magic = RES_MAGIC;
    j->type = type;
    j->refs = 2;
    j->fn_idx = -1;
    j->total = SIZE_MAX;
    if (o)
        j->o = *o;
    j->bar = j->o.progress_bar && isatty(STDERR_FILENO);
    return j;
}

/* The per-call task timeout (mpx_call_opts.timeout): 0 the pool's,
 * MPX_FOREVER none, N > 0 ms; negative is MPX_EINVAL (no task runs in
 * zero time). */
static int call_timeout(mpx_pool *p, const mpx_call_opts *o, int64_t *ns)
{
    mpx_duration t = o ? o->timeout : 0;
    if (t == 0) {
        *ns = p->task_timeout_ns;
        return 0;
    }
    if (t < 0)
        return MPX_EINVAL;
    *ns = task_timeout_ns(t);
    if (*ns && p->threads)
        return MPX_ENOTSUP;
    return 0;
}

/* Register the job with the pool and wake the handler. On failure the
 * job is freed. */
static int submit(mpx_pool *p, mpx_result *j, mpx__fnptr fn)
{
    int rc = call_timeout(p, &j->o, &j->timeout_ns);
    if (rc) {
        job_free(j);
        return rc;
    }
    if (j->total != SIZE_MAX && j->type != J_FIXED) {
        size_t cap = j->type == J_IMAP || j->type == J_IMAPU ? j->cap : j->total;
        j->cap = cap ? cap : 1;
    }
    if (!j->win) {
        j->win = calloc(j->cap ? j->cap : 1, sizeof *j->win);
        if (j->type == J_IMAPU)
            j->uq = calloc(j->cap ? j->cap : 1, sizeof *j->uq);
        if (!j->win || (j->type == J_IMAPU && !j->uq)) {
            job_free(j);
            return -ENOMEM;
        }
        if (j->type == J_IMAP || j->type == J_IMAPU)
            for (size_t i = 0; i < j->cap; i++)
                j->win[i].st = IR_USED;
    }
    pthread_mutex_lock(&p->mu);
    if (p->state != P_RUN || p->handler_exited) {
        pthread_mutex_unlock(&p->mu);
        job_free(j);
        return MPX_ESTATE; /* POOL-17: Pool not running */
    }
    if (p->broken) {
        pthread_mutex_unlock(&p->mu);
        job_free(j);
        return MPX_EBROKEN;
    }
    int idx = fn_acquire(p, fn);
    if (idx < 0) {
        pthread_mutex_unlock(&p->mu);
        job_free(j);
        return idx;
    }
    j->fn_idx = idx;
    j->pool = p;
    if (j->src != S_GEN && j->total == 0) {
        /* nothing to do: ready at once (Python returns []) */
        j->input_done = true;
        j->ready = true;
        j->announced = true;
        fn_release(p, idx);
        j->refs = 1;
        j->pool = NULL;
        pthread_mutex_unlock(&p->mu);
        if (j->o.callback && (j->type == J_MAP))
            j->o.callback(j, j->o.udata);
        return 0;
    }
    p->outstanding++;
    j->in_list = true;
    if (p->jobs_tail)
        p->jobs_tail->next = j;
    else
        p->jobs = j;
    p->jobs_tail = j;
    pthread_mutex_unlock(&p->mu);
    wake_handler(p);
    return 0;
}

static size_t default_chunksize(mpx_pool *p, size_t n)
{
    size_t d = (size_t)p->n * 4;
    size_t c = n / d + (n % d ? 1 : 0);
    return c ? c : 1;
}

static int check_pool(mpx_pool *p)
{
    if (!p || p->magic != POOL_OBJ_MAGIC)
        return MPX_EINVAL;
    /* mpx__self_pid: refreshed by the library's atfork child handler
     * (getpid() is a system call per submission) */
    if (p->creator != mpx__self_pid)
        return MPX_ESTATE; /* POOL-06 */
    return 0;
}

MPX_API int mpx_pool_apply_async(mpx_pool *p, mpx_task_fn fn, const void *in, size_t len,
                                 const mpx_call_opts *opts, mpx_result **out)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || !out || (!in && len))
        return MPX_EINVAL;
    mpx_result *j = job_new(J_APPLY, opts);
    if (!j)
        return -ENOMEM;
    j->kind = PX_K_BYTES;
    j->src = S_ENC;
    j->enc = &j->enc1;
    void *copy = len <= sizeof j->inl ? j->inl : malloc(len);
    if (!copy) {
        job_free(j);
        return -ENOMEM;
    }
    if (len)
        memcpy(copy, in, len);
    j->enc[0] = (mpx_bytes){copy, len};
    j->nenc = 1;
    j->total = 1;
    j->cap = 1;
    j->win = &j->win1;
    j->chunksize = 1;
    rc = submit(p, j, (mpx__fnptr)fn);
    if (!rc)
        *out = j;
    return rc;
}

MPX_API int mpx_pool_apply(mpx_pool *p, mpx_task_fn fn, const void *in, size_t len,
                           const mpx_call_opts *opts, mpx_result **out)
{
    int rc = mpx_pool_apply_async(p, fn, in, len, opts, out);
    if (rc)
        return rc;
    return mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

static int map_common(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, const void *base,
                      size_t size, size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || !out || (n && !items && !base))
        return MPX_EINVAL;
    mpx_result *j = job_new(J_MAP, opts);
    if (!j)
        return -ENOMEM;
    j->kind = PX_K_BYTES;
    j->src = items ? S_ITEMS : S_ARRAY;
    j->items = items;
    j->base = base;
    j->size = size;
    j->total = n;
    j->chunksize = j->o.chunksize ? j->o.chunksize : default_chunksize(p, n);
    rc = submit(p, j, (mpx__fnptr)fn);
    if (!rc)
        *out = j;
    return rc;
}

MPX_API int mpx_pool_map_async(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                               const mpx_call_opts *opts, mpx_result **out)
{
    return map_common(p, fn, items, NULL, 0, n, opts, out);
}

MPX_API int mpx_pool_map(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                         const mpx_call_opts *opts, mpx_result **out)
{
    int rc = map_common(p, fn, items, NULL, 0, n, opts, out);
    return rc ? rc : mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

MPX_API int mpx_pool_map_array(mpx_pool *p, mpx_task_fn fn, const void *base, size_t size,
                               size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    if (!base && n)
        return MPX_EINVAL;
    int rc = map_common(p, fn, NULL, base ? base : "", size, n, opts, out);
    return rc ? rc : mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

/* Serialise bound_before ++ a ++ bound_after (values only). */
static int encode_star(const mpx_call_opts *o, const mpx_args *a, mpx_bytes *out)
{
    const mpx_args *parts[3] = {o ? o->bound_before : NULL, a, o ? o->bound_after : NULL};
    mpx__buf b;
    mpx__buf_init(&b);
    size_t total = 0;
    for (int i = 0; i < 3; i++)
        total += parts[i] ? mpx_args_count(parts[i]) : 0;
    int rc = mpx__buf_put_u32(&b, (uint32_t)total);
    for (int i = 0; i < 3 && !rc; i++) {
        if (!parts[i])
            continue;
        for (size_t k = 0; k < mpx_args_count(parts[i]); k++) {
            int t = mpx_args_type(parts[i], k);
            if (t == MPX_ARG_FD || t == MPX_ARG_OBJECT)
                rc = MPX_ENOTSUP;
        }
        if (rc)
            break;
        mpx__buf part;
        mpx__buf_init(&part);
        mpx__fdlist fds;
        fds.n = 0;
        rc = mpx__args_export(parts[i], NULL, &part, &fds);
        if (!rc && part.len >= 4)
            rc = mpx__buf_append(&b, part.data + 4, part.len - 4);
        mpx__buf_free(&part);
    }
    if (rc) {
        mpx__buf_free(&b);
        return rc;
    }
    out->data = b.data;
    out->len = b.len;
    return 0;
}

static int star_common(mpx_pool *p, int type, mpx_star_fn fn, const mpx_args *const *items,
                       size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || !out || (n && !items))
        return MPX_EINVAL;
    mpx_result *j = job_new(type, opts);
    if (!j)
        return -ENOMEM;
    j->kind = PX_K_STAR;
    j->src = S_ENC;
    j->enc = calloc(n ? n : 1, sizeof *j->enc);
    if (!j->enc) {
        job_free(j);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        rc = encode_star(opts, items[i], &j->enc[i]);
        if (rc) {
            j->nenc = i;
            job_free(j);
            return rc;
        }
        j->nenc = i + 1;
    }
    j->total = n;
    j->chunksize = type == J_APPLY ? 1 : j->o.chunksize ? j->o.chunksize : default_chunksize(p, n);
    rc = submit(p, j, (mpx__fnptr)fn);
    if (!rc)
        *out = j;
    return rc;
}

MPX_API int mpx_pool_starmap_async(mpx_pool *p, mpx_star_fn fn, const mpx_args *const *items,
                                   size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    return star_common(p, J_MAP, fn, items, n, opts, out);
}

MPX_API int mpx_pool_starmap(mpx_pool *p, mpx_star_fn fn, const mpx_args *const *items,
                             size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    int rc = star_common(p, J_MAP, fn, items, n, opts, out);
    return rc ? rc : mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

MPX_API int mpx_pool_apply_star_async(mpx_pool *p, mpx_star_fn fn, const mpx_args *args,
                                      const mpx_call_opts *opts, mpx_result **out)
{
    const mpx_args *one[1] = {args};
    return star_common(p, J_APPLY, fn, one, 1, opts, out);
}

MPX_API int mpx_pool_apply_star(mpx_pool *p, mpx_star_fn fn, const mpx_args *args,
                                const mpx_call_opts *opts, mpx_result **out)
{
    int rc = mpx_pool_apply_star_async(p, fn, args, opts, out);
    return rc ? rc : mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

static int imap_common(mpx_pool *p, int type, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                       mpx_gen_fn gen, void *state, const mpx_call_opts *opts, mpx_imap **out)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || !out || (!gen && n && !items))
        return MPX_EINVAL;
    mpx_imap *it = calloc(1, sizeof *it);
    mpx_result *j = it ? job_new(type, opts) : NULL;
    if (!j) {
        free(it);
        return -ENOMEM;
    }
    j->kind = PX_K_BYTES;
    if (gen) {
        j->src = S_GEN;
        j->gen = gen;
        j->gstate = state;
        j->total = SIZE_MAX;
    } else {
        j->src = S_ITEMS;
        j->items = items;
        j->total = n;
    }
    j->chunksize = j->o.chunksize ? j->o.chunksize : 1;
    size_t la = j->o.lookahead ? j->o.lookahead : (size_t)p->n * 4 * j->chunksize + 1024;
    if (!gen && la > n)
        la = n ? n : 1;
    j->cap = la;
    j->total = gen ? SIZE_MAX : n;
    rc = submit(p, j, (mpx__fnptr)fn);
    if (rc) {
        free(it);
        return rc;
    }
    it->magic = IMAP_MAGIC;
    it->j = j;
    *out = it;
    return 0;
}

MPX_API int mpx_pool_imap(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                          const mpx_call_opts *opts, mpx_imap **out)
{
    return imap_common(p, J_IMAP, fn, items, n, NULL, NULL, opts, out);
}

MPX_API int mpx_pool_imap_unordered(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items,
                                    size_t n, const mpx_call_opts *opts, mpx_imap **out)
{
    return imap_common(p, J_IMAPU, fn, items, n, NULL, NULL, opts, out);
}

MPX_API int mpx_pool_imap_gen(mpx_pool *p, mpx_task_fn fn, mpx_gen_fn gen, void *state,
                              const mpx_call_opts *opts, mpx_imap **out)
{
    if (!gen)
        return MPX_EINVAL;
    return imap_common(p, J_IMAP, fn, NULL, 0, gen, state, opts, out);
}

MPX_API int mpx_pool_imap_unordered_gen(mpx_pool *p, mpx_task_fn fn, mpx_gen_fn gen,
                                        void *state, const mpx_call_opts *opts, mpx_imap **out)
{
    if (!gen)
        return MPX_EINVAL;
    return imap_common(p, J_IMAPU, fn, NULL, 0, gen, state, opts, out);
}

/* ---- the fixed-size fast path ----------------------------------------------------- */

MPX_API int mpx_pool_map_fixed(mpx_pool *p, mpx_elem_fn fn, const void *in, size_t in_size,
                               void *out, size_t out_size, size_t n, const mpx_call_opts *opts,
                               int *status)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || (n && (!in || !out)) || (opts && opts->shared_len && !opts->shared))
        return MPX_EINVAL;
    if (p->be)
        return MPX_ENOTSUP; /* the arrays are shared memory of this host */
    if (n == 0)
        return 0;
    if (in_size && n > SIZE_MAX / 4 / (in_size + out_size + 4))
        return MPX_EINVAL;
    mpx_result *j = job_new(J_FIXED, opts);
    if (!j)
        return -ENOMEM;
    j->kind = PX_K_FIXED;
    j->src = S_NONE;
    j->total = n;
    j->cap = 1;
    size_t ctx_len = opts ? opts->shared_len : 0; /* mpx_call_opts.shared */
    size_t off_ctx = (sizeof(px_fixed_ctl) + 63) & ~(size_t)63;
    size_t off_in = (off_ctx + ctx_len + 63) & ~(size_t)63;
    size_t off_out = (off_in + n * in_size + 63) & ~(size_t)63;
    size_t off_status = (off_out + n * out_size + 63) & ~(size_t)63;
    size_t off_desc = (off_status + n * 4 + 4095) & ~(size_t)4095;
    size_t size = off_desc + 4096;
    rc = mpx__shmap_create(&j->fx, "mpx-pool-fixed", size);
    if (rc) {
        job_free(j);
        return rc;
    }
    /* keep the descriptor at the end of the mapping (fx.size - 4096) */
    unsigned char *m = j->fx.addr;
    px_fixed_desc *d = (px_fixed_desc *)(void *)(m + j->fx.size - 4096);
    size_t chunk = j->o.chunksize;
    if (!chunk) {
        chunk = n / ((size_t)p->n * 16);
        if (chunk < 1)
            chunk = 1;
        if (chunk > 4096)
            chunk = 4096;
    }
    d->owner_pid = getpid();
    d->fd = j->fx.fd;
    d->map_size = j->fx.size;
    d->n = n;
    d->in_size = in_size;
    d->out_size = out_size;
    d->chunk = chunk;
    d->off_in = off_in;
    d->off_out = off_out;
    d->off_status = off_status;
    d->off_ctx = off_ctx;
    d->ctx_len = ctx_len;
    if (ctx_len)
        memcpy(m + off_ctx, opts->shared, ctx_len);
    if (n && in_size)
        memcpy(m + off_in, in, n * in_size);
    mpx_result *keep = j;
    rc = submit(p, j, (mpx__fnptr)fn);
    if (rc)
        return rc;
    rc = mpx_result_wait(keep, MPX_FOREVER);
    rc = rc == 1 ? 0 : rc;
    int first = 0;
    if (!rc) {
        _Atomic int32_t *st = (_Atomic int32_t *)(void *)(m + off_status);
        if (n && out_size)
            memcpy(out, m + off_out, n * out_size);
        for (size_t i = 0; i < n; i++) {
            int32_t v = atomic_load(&st[i]);
            int code = v == 1 ? 0 : v == 0 ? MPX_ECANCELED : v;
            if (status)
                status[i] = code;
            if (code && !first)
                first = code;
        }
    }
    mpx_result_destroy(keep);
    return rc ? rc : first;
}

/* ---- result objects ---------------------------------------------------------------- */

static bool res_ok(const mpx_result *r)
{
    return r && r->magic == RES_MAGIC;
}

static int result_wait(mpx_result *r, mpx_duration timeout)
{
    if (!res_ok(r))
        return MPX_EINVAL;
    mpx__deadline d = mpx__deadline_from(timeout);
    /* a short bounded spin first: a result that is a few microseconds
     * away is not worth a sleep and a cross-CPU wake-up (~25 us here) */
    if (timeout > 0 && !in_handler)
        for (int i = 0; i < 1000 && !__atomic_load_n(&r->announced, __ATOMIC_ACQUIRE); i++)
            mpx__cpu_relax();
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    while (!(r->announced || (in_handler && r->ready))) {
        if (d == MPX__NEVER) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        if (mpx__deadline_expired(d)) {
            rc = MPX_ETIMEDOUT;
            break;
        }
        struct timespec ts = {d / 1000000000, d % 1000000000};
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

MPX_API int mpx_result_wait(mpx_result *r, mpx_duration timeout)
{
    /* yes/no (docs/design.md): 1 ready, 0 not ready at the deadline */
    int rc = result_wait(r, timeout);
    return rc == 0 ? 1 : rc == MPX_ETIMEDOUT ? 0 : rc;
}

static void fill_err(const errrec *e, mpx_task_error *err)
{
    err->code = e->code;
    err->task_rc = e->task_rc;
    err->index = e->index;
    err->pid = e->pid;
    err->signal = e->sig;
    err->exitcode = e->exitcode;
    err->message = e->msg ? e->msg : mpx_strerror(e->code);
    err->backtrace = e->bt;
}

static const errrec *first_err(mpx_result *r)
{
    const errrec *best = NULL;
    for (size_t i = 0; i < r->nerrs; i++)
        if (!best || r->errs[i].index < best->index)
            best = &r->errs[i];
    return best;
}

MPX_API int mpx_result_get(mpx_result *r, mpx_duration timeout, const void **data, size_t *len)
{
    int rc = result_wait(r, timeout); /* MPX_ETIMEDOUT: Python raises */
    if (rc)
        return rc;
    pthread_mutex_lock(&r->mu);
    if (r->nfailed) {
        const errrec *e = first_err(r);
        rc = e ? e->code : MPX_ETASK;
    } else if (r->type == J_APPLY && r->win) {
        ires *x = &r->win[0];
        if (data)
            *data = x->len > 8 ? x->u.p : x->u.b;
        if (len)
            *len = x->len;
    } else {
        if (data)
            *data = NULL;
        if (len)
            *len = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

MPX_API int mpx_result_ready(mpx_result *r)
{
    if (!res_ok(r))
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int v = r->announced || (in_handler && r->ready) ? 1 : 0;
    pthread_mutex_unlock(&r->mu);
    return v;
}

MPX_API int mpx_result_successful(mpx_result *r)
{
    if (!res_ok(r))
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int v = !(r->announced || (in_handler && r->ready)) ? MPX_ESTATE : r->nfailed == 0;
    pthread_mutex_unlock(&r->mu);
    return v;
}

MPX_API size_t mpx_result_count(mpx_result *r)
{
    if (!res_ok(r))
        return 0;
    pthread_mutex_lock(&r->mu);
    size_t n = r->total == SIZE_MAX ? r->fed : r->total;
    pthread_mutex_unlock(&r->mu);
    return n;
}

MPX_API int mpx_result_item(mpx_result *r, size_t i, const void **data, size_t *len)
{
    if (!res_ok(r) || r->type == J_IMAP || r->type == J_IMAPU || r->type == J_FIXED)
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    if (!r->ready)
        rc = MPX_ESTATE;
    else if (i >= r->total || i >= r->cap)
        rc = MPX_EINVAL;
    else {
        ires *x = &r->win[i];
        if (x->st == IR_OK) {
            if (data)
                *data = x->len > 8 ? x->u.p : x->u.b;
            if (len)
                *len = x->len;
        } else {
            errrec *e = find_err(r, i);
            rc = e ? e->code : MPX_ECANCELED;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

MPX_API size_t mpx_result_failed(mpx_result *r)
{
    if (!res_ok(r))
        return 0;
    pthread_mutex_lock(&r->mu);
    size_t n = r->nfailed;
    pthread_mutex_unlock(&r->mu);
    return n;
}

MPX_API int mpx_result_error(mpx_result *r, mpx_task_error *err)
{
    if (!res_ok(r) || !err)
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int rc = MPX_EEMPTY;
    const errrec *e = first_err(r);
    if (e) {
        fill_err(e, err);
        rc = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

MPX_API int mpx_result_item_error(mpx_result *r, size_t i, mpx_task_error *err)
{
    if (!res_ok(r) || !err)
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int rc = MPX_EEMPTY;
    errrec *e = find_err(r, i);
    if (e) {
        fill_err(e, err);
        rc = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int job_cancel(mpx_result *j)
{
    mpx_pool *p;
    pthread_mutex_lock(&j->mu);
    p = j->pool;
    bool ready = j->ready;
    pthread_mutex_unlock(&j->mu);
    if (ready || !p || p->magic != POOL_OBJ_MAGIC)
        return 0;
    pthread_mutex_lock(&p->mu);
    int n = 0;
    if (j->pool == p)
        n = cancel_job_locked(p, j);
    pthread_mutex_unlock(&p->mu);
    wake_handler(p);
    return n;
}

MPX_API int mpx_result_cancel(mpx_result *r)
{
    if (!res_ok(r))
        return MPX_EINVAL;
    return job_cancel(r);
}

MPX_API void mpx_result_destroy(mpx_result *r)
{
    if (!res_ok(r))
        return;
    pthread_mutex_lock(&r->mu);
    bool ready = r->ready;
    r->user_gone = true;
    pthread_mutex_unlock(&r->mu);
    if (!ready)
        job_cancel(r);
    job_unref(r);
}

/* ---- iterators ------------------------------------------------------------------ */

MPX_API int mpx_imap_next(mpx_imap *it, mpx_duration timeout, const void **data, size_t *len,
                          size_t *index)
{
    if (!it || it->magic != IMAP_MAGIC)
        return MPX_EINVAL;
    mpx_result *j = it->j;
    mpx__deadline d = mpx__deadline_from(timeout);
    pthread_mutex_lock(&j->mu);
    free(j->cur);
    j->cur = NULL;
    int rc;
    size_t idx = 0;
    for (;;) {
        bool known_end = j->src != S_GEN && j->total != SIZE_MAX;
        if (j->type == J_IMAP) {
            if (known_end ? j->cpos < j->total : (j->cpos < j->fed || !j->input_done)) {
                if (j->cpos < j->fed && win_at(j, j->cpos)->st != IR_EMPTY &&
                    win_at(j, j->cpos)->st != IR_USED) {
                    idx = j->cpos++;
                    break;
                }
            } else {
                rc = j->gen_err ? j->gen_err : MPX_EEOF;
                j->gen_err = 0;
                goto out;
            }
        } else {
            if (j->uq_head != j->uq_tail) {
                idx = j->uq[j->uq_head++ % j->cap];
                break;
            }
            if (known_end ? j->consumed >= j->total : (j->input_done && j->consumed >= j->fed)) {
                rc = j->gen_err ? j->gen_err : MPX_EEOF;
                j->gen_err = 0;
                goto out;
            }
        }
        if (d != MPX__NEVER && mpx__deadline_expired(d)) {
            rc = MPX_ETIMEDOUT;
            goto out;
        }
        if (d == MPX__NEVER)
            pthread_cond_wait(&j->cv, &j->mu);
        else {
            struct timespec ts = {d / 1000000000, d % 1000000000};
            pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        }
    }
    {
        ires *x = win_at(j, idx);
        j->consumed++;
        if (index)
            *index = idx;
        if (x->st == IR_OK) {
            if (x->len > 8) {
                j->cur = x->u.p;
            } else {
                j->cur = malloc(x->len ? x->len : 1);
                if (j->cur && x->len)
                    memcpy(j->cur, x->u.b, x->len);
            }
            if (data)
                *data = j->cur;
            if (len)
                *len = x->len;
            rc = 0;
        } else {
            errrec *e = find_err(j, idx);
            rc = e ? e->code : MPX_ECANCELED;
            free(j->last_err.msg);
            free(j->last_err.bt);
            memset(&j->last_err, 0, sizeof j->last_err);
            if (e) {
                j->last_err = *e;
                j->last_err.msg = e->msg ? strdup(e->msg) : NULL;
                j->last_err.bt = e->bt ? strdup(e->bt) : NULL;
            } else {
                j->last_err.index = idx;
                j->last_err.code = rc;
            }
            j->has_last_err = true;
            /* drop the stored error: the window slot is reused */
            if (e) {
                free(e->msg);
                free(e->bt);
                *e = j->errs[--j->nerrs];
            }
        }
        x->st = IR_USED;
        x->len = 0;
    }
out:;
    /* wake the handler for window space in batches, not per item */
    size_t outstanding = j->fed - j->consumed;
    size_t room = j->cap > outstanding ? j->cap - outstanding : 0;
    bool kick = j->win_blocked && rc != MPX_ETIMEDOUT && (room >= (j->cap + 7) / 8 || rc != 0);
    if (kick)
        j->win_blocked = false;
    mpx_pool *p = j->pool;
    pthread_mutex_unlock(&j->mu);
    if (kick && p && p->magic == POOL_OBJ_MAGIC)
        wake_handler(p); /* window space */
    return rc;
}

MPX_API int mpx_imap_error(mpx_imap *it, mpx_task_error *err)
{
    if (!it || it->magic != IMAP_MAGIC || !err)
        return MPX_EINVAL;
    mpx_result *j = it->j;
    pthread_mutex_lock(&j->mu);
    int rc = MPX_EEMPTY;
    if (j->has_last_err) {
        fill_err(&j->last_err, err);
        rc = 0;
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

MPX_API int mpx_imap_cancel(mpx_imap *it)
{
    if (!it || it->magic != IMAP_MAGIC)
        return MPX_EINVAL;
    return job_cancel(it->j);
}

MPX_API void mpx_imap_destroy(mpx_imap *it)
{
    if (!it || it->magic != IMAP_MAGIC)
        return;
    it->magic = 0;
    mpx_result_destroy(it->j);
    free(it);
}
