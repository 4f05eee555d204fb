/*
 * pool_job.c - a pool job's lifetime and result storage: creating and
 * freeing a job (mpx_result), its reference count, storing a failed item's
 * error, and the pool's function table (the task functions that jobs in
 * flight reference, encoded into the shared mapping for the workers).
 * Storing a successful output is store_ok, inline in pool_parent.h (once
 * per harvested item).
 *
 * Threads: mpx__pool_job_new runs in the submitting thread; the rest in
 * whichever thread holds the lock each function names (results: j->mu,
 * usually the handler; the function table: p->mu). The last reference
 * frees the job, in the user's thread or the handler's.
 */
#include "core/pool_parent.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- results: storage ------------------------------------------------------ */

void mpx__pool_job_free(mpx_result *j)
{
    if (j->win) {
        for (size_t i = 0; i < j->cap; i++)
            if ((j->win[i].st == IR_OK || j->win[i].st == IR_USED) && j->win[i].len > 8)
                free(j->win[i].u.p);
        if (j->type != J_APPLY && j->win_map)
            munmap(j->win_map, j->win_map_len);
        else if (j->win != &j->win1)
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
    /* the map/imap/fixed part (an apply_async job has none: pool_parent.h) */
    if (j->type != J_APPLY) {
        free(j->uq);
        free(j->cur);
        free(j->last_err.msg);
        free(j->last_err.bt);
        if (j->fx.addr)
            mpx__shmap_destroy(&j->fx);
    }
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    j->magic = 0;
    free(j);
}

void mpx__pool_job_unref(mpx_result *j)
{
    pthread_mutex_lock(&j->mu);
    int r = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (r == 0)
        mpx__pool_job_free(j);
}

void mpx__pool_store_err(mpx_result *j, size_t index, int code, int task_rc, const char *msg,
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

/* ---- the function table ------------------------------------------------------ */

/* p->mu held. Returns the index or an error. */
int mpx__pool_fn_acquire(mpx_pool *p, mpx__fnptr fn)
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

void mpx__pool_fn_release(mpx_pool *p, int idx)
{
    if (idx >= 0 && idx < (int)PX_FN_MAX && p->fns[idx].refs > 0)
        p->fns[idx].refs--;
}

/* ---- the result window ---------------------------------------------------------- */

#define WIN_HUGE ((size_t)2 << 20)

/*
 * Allocate j->win: n zeroed entries (a job that is not an apply_async).
 * A window of 2 MiB or more (a map of 131,072 items or more) gets its own
 * mapping, aligned to and advised as huge pages (MADV_HUGEPAGE): the
 * handler stores every item's result into it, and each first write to a
 * 4 KiB page is a page fault (#18: 4,096 of them for a map of 1,000,000
 * items, ~35% of the handler's time in this project's VMs; a huge page
 * takes one). Without huge pages it is an ordinary anonymous mapping.
 * Returns 0 or -ENOMEM.
 */
int mpx__pool_win_alloc(mpx_result *j, size_t n)
{
    size_t bytes = n * sizeof *j->win;
    if (n > SIZE_MAX / sizeof *j->win / 2 || bytes < WIN_HUGE) {
        j->win = calloc(n, sizeof *j->win);
        return j->win ? 0 : -ENOMEM;
    }
    size_t len = ((bytes + WIN_HUGE - 1) & ~(WIN_HUGE - 1)) + WIN_HUGE;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -ENOMEM;
    unsigned char *a = (unsigned char *)(((uintptr_t)m + WIN_HUGE - 1) & ~(uintptr_t)(WIN_HUGE - 1));
#ifdef MADV_HUGEPAGE
    size_t usable = (len - (size_t)(a - m)) & ~(WIN_HUGE - 1); /* >= bytes */
    (void)madvise(a, usable, MADV_HUGEPAGE); /* advice only: fine if refused */
#endif
    j->win_map = m;
    j->win_map_len = len;
    j->win = (ires *)(void *)a;
    return 0;
}

/* ---- a new job ------------------------------------------------------------------- */

static mpx_result *job_new(int type, const mpx_call_opts *o, size_t size)
{
    mpx_result *j = calloc(1, size);
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
    if (o) {
        j->o.timeout = o->timeout;
        j->o.callback = o->callback;
        j->o.error_callback = o->error_callback;
        j->o.udata = o->udata;
        j->o.progress = o->progress;
        j->o.progress_udata = o->progress_udata;
        j->bar = o->progress_bar && isatty(STDERR_FILENO);
    }
    return j;
}

/* A job of type J_* with the call's options, two references (the user's
 * and the pool's). The submitting thread; NULL without memory. */
mpx_result *mpx__pool_job_new(int type, const mpx_call_opts *o)
{
    return job_new(type, o, sizeof(mpx_result));
}

/* The J_APPLY job of mpx_pool_apply_async with an input of len bytes:
 * allocated without the map/imap/fixed part and with only the inline
 * input bytes it uses (JOB_APPLY_SIZE, pool_parent.h: one job per task,
 * each one fresh memory to touch). */
mpx_result *mpx__pool_job_new_apply(const mpx_call_opts *o, size_t len)
{
    return job_new(J_APPLY, o, JOB_APPLY_SIZE(len));
}
