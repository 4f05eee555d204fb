/*
 * core/pool_parent.h - the pool's parent-side structures: the pool, its
 * jobs (mpx_result), its worker positions and slot books, and the
 * functions that the parent's files share. Nothing here is seen by a
 * worker: what workers and parent share (the memfd mapping) is
 * pool_internal.h. Design: docs/pool.md; file map: docs/design.md.
 *
 * Three kinds of threads touch these structures:
 *
 *   callers     any user thread: create/close/terminate/join/destroy
 *               (pool.c), the submission calls (pool_submit.c), the
 *               result and iterator calls (pool_result.c);
 *   handler     the pool's one handler thread (pool_handler.c,
 *               pool_dispatch.c, and mpx__pool_start_worker in pool.c): it
 *               owns the slot books and the worker table, feeds jobs into
 *               slots, harvests completions, runs callbacks, replaces dead
 *               workers, kills workers whose task ran past its timeout;
 *   workers     the worker processes / threads (pool_worker.c): they see
 *               only the shared mapping.
 *
 * Every field below says who may touch it:
 *   "immutable"       written before the object is shared (create, or a
 *                     submission before the job is queued), read-only after;
 *   "handler only"    read and written by the handler thread alone (also by
 *                     create before the handler starts and by pool_free after
 *                     it was joined);
 *   "p->mu", "j->mu"  read and written with that mutex held;
 *   "atomic"          an atomic, with the order its users say.
 *
 * Locks: p->mu guards the pool state, the job list and the function table;
 * j->mu guards one job's results. Order: p->mu before j->mu. Callbacks run
 * in the handler thread with no lock held.
 */
#ifndef MPX_CORE_POOL_PARENT_H
#define MPX_CORE_POOL_PARENT_H

#include "core/backend.h"
#include "core/fnref.h"
#include "core/pool_internal.h"
#include "os/shmap.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define POOL_OBJ_MAGIC 0x6d70706fu
#define RES_MAGIC 0x6d707272u
#define IMAP_MAGIC 0x6d707269u

enum { P_RUN = 0, P_CLOSED = 1, P_TERM = 2 };         /* mpx_pool.state */
enum { J_APPLY = 1, J_MAP, J_IMAP, J_IMAPU, J_FIXED }; /* mpx_result.type */
enum { S_ITEMS = 1, S_ARRAY, S_ENC, S_GEN, S_NONE };   /* mpx_result.src */
enum { PS_FREE = 0, PS_QUEUED = 1 };                   /* pslot.state */
enum { IR_EMPTY = 0, IR_OK = 1, IR_ERR = 2, IR_USED = 3 }; /* ires.st */

/* One result entry of a job's window (j->mu). Up to 8 bytes inline. */
typedef struct ires {
    union {
        unsigned char *p;
        unsigned char b[8];
    } u;
    uint32_t len;
    int32_t st; /* IR_* */
} ires;

/* One failed item (j->mu). */
typedef struct errrec {
    size_t index;
    int code, task_rc;
    pid_t pid;
    int sig, exitcode;
    char *msg;
    char *bt;
} errrec;

/*
 * A job: what one submission call (apply, map, imap, starmap, the fixed
 * fast path) asked for, and its results. Lives while the user holds it or
 * the pool has not finished it (refs). The handler reaches it through the
 * job list (p->jobs, while it still has input to feed) and through the
 * slots in flight (pslot.job).
 *
 * Size matters (#18): apply_async makes one job per task, and every job
 * alive at once is fresh memory to touch (a page fault per 4 KiB, ~10 us
 * each in this project's VMs). So the fields only some types use are in
 * a union at the end, and a byte apply (mpx__pool_job_new_apply) is
 * allocated without the map/imap/fixed part (JOB_APPLY_SIZE): the
 * fields of that part ("not apply_async" below) must only be touched for
 * jobs of those types (src S_ITEMS/S_ARRAY/S_GEN, J_IMAP*, J_FIXED).
 */
struct mpx_result {
    uint32_t magic;       /* immutable (0 once freed) */
    int refs;             /* j->mu: user + pool (while unfinished or in flight) */
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* waiters of this job: result_wait, imap next */
    mpx_pool *pool;       /* written under both p->mu and j->mu (job_after
                           * clears it when the pool is done with the job):
                           * readers hold either */
    int type;             /* immutable: J_* */
    int kind;             /* immutable: PX_K_* of its slots */
    int fn_idx;           /* immutable (submit, under p->mu, before queueing) */
    /* source: immutable after submit, except where said */
    int src;              /* immutable: S_* */
    bool input_done;      /* j->mu */
    bool in_list;         /* handler only, written under p->mu (submit sets it
                           * under p->mu before the handler can see the job) */
    bool ready;           /* j->mu: outcome final: readable (callbacks run
                           * after this) */
    bool announced;       /* j->mu for writes (__atomic release store); read
                           * without the lock by result_wait's spin (acquire):
                           * callbacks done, waiters see it ready (Python sets
                           * the event after the callback) */
    bool canceled;        /* j->mu; stable once ready (job_after reads it then) */
    bool user_gone;       /* j->mu */
    bool bar;             /* immutable */
    mpx_bytes *enc;       /* immutable: owned copies (apply, starmap) */
    size_t nenc;          /* immutable */
    size_t total;         /* j->mu: SIZE_MAX until known */
    size_t fed;           /* j->mu: items put into slots */
    size_t chunksize;     /* immutable */
    int64_t timeout_ns;   /* immutable: per item; 0 none */
    /* results */
    ires *win;            /* immutable pointer (entries: j->mu) */
    size_t cap;           /* immutable: window entries */
    size_t done;          /* j->mu */
    size_t nfailed;       /* j->mu; stable once ready (job_after reads it then) */
    errrec *errs;         /* j->mu */
    size_t nerrs, caperrs; /* j->mu */
    size_t inflight;      /* j->mu: slots */
    /* options: what is read after submission (the rest of mpx_call_opts
     * is used by the submission call only) */
    struct {
        mpx_duration timeout;
        mpx_result_cb callback, error_callback;
        void *udata;
        mpx_progress_cb progress;
        void *progress_udata;
    } o;                  /* immutable */
    int64_t last_progress_ns; /* handler only */
    struct mpx_result *next; /* p->mu: the job list */
    union {
        /* apply_async without allocations beyond the result itself: the
         * input list, a small input and the single result entry live here */
        struct {
            mpx_bytes enc1;       /* immutable */
            ires win1;            /* j->mu (the window of an apply) */
            unsigned char inl[64]; /* immutable */
        };
        /* not apply_async: map, imap, starmap, apply_star, fixed */
        struct {
            const mpx_bytes *items;    /* immutable (S_ITEMS) */
            const unsigned char *base; /* immutable (S_ARRAY) */
            size_t size;          /* immutable (S_ARRAY) */
            mpx_gen_fn gen;       /* immutable; called by the handler with j->mu held */
            void *gstate;         /* immutable */
            int gen_err;          /* j->mu */
            /* imap consumer: j->mu */
            bool has_last_err;
            bool win_blocked;
            size_t cpos;
            size_t consumed;
            size_t *uq;           /* immutable pointer (entries: j->mu) */
            size_t uq_head, uq_tail;
            unsigned char *cur;
            errrec last_err;
            /* a big window (mpx__pool_win_alloc): its own mapping, of
             * huge pages when the system gives them; NULL: win is malloc'd */
            void *win_map;        /* immutable */
            size_t win_map_len;   /* immutable */
            /* fixed fast path */
            mpx__shmap fx;        /* immutable mapping (its contents: the workers and
                                   * the handler, atomics in px_fixed_ctl) */
            size_t fx_slots;      /* j->mu */
        };
    };
};

/* What a byte apply_async job of an input of len bytes is allocated with
 * (see above): up to the inline input, and only the bytes of inl that the
 * input uses (a larger input is on the heap). */
#define JOB_APPLY_INL (sizeof(((struct mpx_result *)0)->inl))
#define JOB_APPLY_SIZE(len) \
    (offsetof(struct mpx_result, inl) + ((len) <= JOB_APPLY_INL ? PX_PAD8(len) : 0))

struct mpx_imap {
    uint32_t magic; /* immutable */
    mpx_result *j;  /* immutable */
};

/* A worker position, parent side. Handler only: the whole struct (create
 * sets pidfd = -1 before the handler starts; mpx_pool_worker_pids reads the
 * shared px_wctl, never this). */
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
    px_worker_ctx tctx; /* a thread worker's context (read by that thread,
                         * written before it starts) */
} pworker;

/* The parent's books of one slot. Handler only: the whole struct. */
typedef struct pslot {
    mpx_result *job;
    int state; /* PS_* */
    uint64_t ringpos;
    int *fds;  /* spilled inputs' memfds, closed when the slot is freed */
    int nfds, capfds;
} pslot;

/* One entry of the function table (p->mu). */
typedef struct fnent {
    mpx__fnptr fn;
    int refs;
    uint32_t gen;
} fnent;

struct mpx_pool {
    uint32_t magic;       /* immutable (set last by create, 0 once freed) */
    pid_t creator;        /* immutable */
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* p->mu: startup, handler exit, job done */
    int n;                /* immutable: worker positions */
    bool threads;         /* immutable */
    /* workers elsewhere (a backend's context, core/backend.h): positions
     * are threads running be->worker; threads is set too */
    const mpx__pool_backend *be; /* immutable */
    void *be_state;       /* immutable: be->prepare's, released by pool_free */
    int maxtasks;         /* immutable */
    int64_t task_timeout_ns; /* immutable */
    mpx_context *ctx;     /* immutable */
    mpx_init_fn init;     /* immutable */
    mpx_args *initargs;   /* immutable */
    mpx__shmap shm;       /* immutable (the shared mapping: pool_internal.h) */
    px_hdr *h;            /* immutable */
    int evfd;             /* immutable: the handler's doorbell */
    int *outfd;           /* immutable: per worker position, the output file
                           * (spilled outputs) */
    pthread_t handler;    /* immutable (set by create) */
    bool handler_started; /* immutable (set by create) */
    bool handler_exited;  /* p->mu */
    int state;            /* p->mu: P_* */
    bool joined;          /* p->mu */
    bool broken;          /* p->mu; the handler, its only writer, reads it
                           * without */
    int init_failures;    /* handler only */
    pworker *w;           /* handler only (entries too) */
    pslot *ps;            /* handler only (entries too) */
    uint32_t *freel;      /* handler only: free slots */
    uint32_t nfree;       /* handler only */
    mpx_result *jobs, *jobs_tail; /* p->mu: jobs with input still to feed */
    fnent fns[PX_FN_MAX]; /* p->mu (the shared px_fn entries: written under
                           * p->mu, published by their gen) */
    size_t outstanding;   /* p->mu: unfinished jobs; once the handler has
                           * seen the pool closed nobody else writes it and
                           * it reads it without */
    size_t replaced;      /* p->mu */
    _Atomic uint32_t kick; /* atomic: bumped by callers to wake the handler */
    /* bumped by each cancel: the handler, which owns ps[], then flags the
     * in-flight slots of cancelled jobs (flag_cancelled_slots) */
    _Atomic uint32_t cancel_gen; /* atomic */
    uint32_t nslots;      /* immutable */
    uint32_t timed_inflight; /* handler only */
    int worker_counter;   /* handler only (worker names) */
    mpx_result *fin[64];  /* handler only: jobs finished while feeding */
    size_t nfin;          /* handler only */
    bool terminating;     /* handler only */
    unsigned harvest_rr;  /* handler only */
    size_t requeued;      /* handler only: slots handed back for their
                           * remaining records */
    int missing;          /* handler only: workers that could not be
                           * replaced yet */
    int startup_rc;       /* p->mu: 1 while the handler starts the workers */
    bool pack;            /* handler only: workers are fast, pack small
                           * chunks (feed) */
};

/* ---- shared between the parent's files -------------------------------- */

/* pool.c */
/* Set when the program exits: handlers stop replacing workers that the exit
 * handlers terminate. */
extern MPX__HIDDEN _Atomic bool mpx__pool_program_exiting;
/* Start (or restart) the worker of position wi. Handler thread. */
int mpx__pool_start_worker(mpx_pool *p, uint32_t wi);

/* pool_handler.c */
/* Set in the handler thread: a callback may read and wait on its result. */
extern MPX__HIDDEN __thread bool mpx__pool_in_handler;
/* The handler thread's body (pthread_create argument: the pool). */
void *mpx__pool_handler_main(void *arg);

/* pool_dispatch.c (handler thread) */
int mpx__pool_feed(mpx_pool *p);
bool mpx__pool_harvest(mpx_pool *p, size_t budget);
void mpx__pool_slot_free(mpx_pool *p, uint32_t si);
void mpx__pool_slot_requeue(mpx_pool *p, uint32_t si, uint32_t start_rec);
uint32_t mpx__pool_read_outputs(mpx_pool *p, uint32_t si, mpx_result *j);
void mpx__pool_after_jobs(mpx_pool *p, mpx_result **touched, size_t nt);
void mpx__pool_touch_job(mpx_pool *p, mpx_result **touched, size_t cap, size_t *nt,
                         mpx_result *j);

/* pool_job.c */
mpx_result *mpx__pool_job_new(int type, const mpx_call_opts *o);
mpx_result *mpx__pool_job_new_apply(const mpx_call_opts *o, size_t len);
int mpx__pool_win_alloc(mpx_result *j, size_t n);
void mpx__pool_job_free(mpx_result *j);
void mpx__pool_job_unref(mpx_result *j);
void mpx__pool_store_err(mpx_result *j, size_t index, int code, int task_rc, const char *msg,
                         size_t msglen, pid_t pid, int sig, int exitcode, const char *bt);
int mpx__pool_fn_acquire(mpx_pool *p, mpx__fnptr fn);
void mpx__pool_fn_release(mpx_pool *p, int idx);

/* ---- small inline helpers (hot paths) --------------------------------- */

/* Wake the handler thread (any thread). */
static inline void wake_handler(mpx_pool *p)
{
    atomic_fetch_add_explicit(&p->kick, 1, memory_order_seq_cst);
    mpx__pool_ring_parent(p->h, p->evfd);
}

/* The window entry of item index (j->mu held). */
static inline ires *win_at(mpx_result *j, size_t index)
{
    return &j->win[index % j->cap];
}

/* Store item index's output (j->mu held; the handler, once per harvested
 * item). take: data is a malloc buffer that the job takes over. */
static inline void store_ok(mpx_result *j, size_t index, const void *data, size_t len, bool take)
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

/* Is the job finished? (j->mu held) */
static inline bool job_complete_locked(mpx_result *j)
{
    if (j->type == J_FIXED)
        return j->input_done && j->inflight == 0;
    return j->input_done && j->inflight == 0 && j->done >= j->fed;
}

/* A task timeout (> 0, or MPX_FOREVER: none) in ns; 0 means none. */
static inline int64_t task_timeout_ns(mpx_duration t)
{
    return t <= 0 || t >= INT64_MAX / 1000000 ? 0 : t * 1000000;
}

#endif
