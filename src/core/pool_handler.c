/*
 * pool_handler.c - the pool's handler thread: its loop and its control
 * events. The loop (mpx__pool_handler_main) starts the workers, then
 * harvests and feeds (pool_dispatch.c) until the pool is closed and idle or
 * terminated; it polls for dead workers (pidfds, or a thread worker's
 * state) and replaces them, fails or requeues what a dead worker held,
 * kills a worker whose task ran past its timeout, flags the slots of
 * cancelled jobs, fails everything on terminate or a broken pool, and sleeps
 * on its doorbell (eventfd) and the workers' pidfds when there is nothing
 * to do.
 *
 * Threads: the handler thread only. It owns the worker table (p->w) and
 * the slot books (p->ps), reads p->state under p->mu, and runs callbacks
 * with no lock held.
 */
#include "core/pool_parent.h"
#include "core/process_internal.h"
#include "os/futex.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Set in the handler thread: a callback may read and wait on its result. */
__thread bool mpx__pool_in_handler;

/* ---- the input records of a slot ------------------------------------------------ */

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
            mpx__pool_store_err(j, (size_t)index, code, code, NULL, 0, 0, 0, 0, NULL);
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
        mpx__pool_store_err(j, (size_t)k, code, code, msg, strlen(msg), pid, sig, exitcode, bt);
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
    mpx__pool_harvest(p, SIZE_MAX);
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
                mpx__pool_slot_requeue(p, si, s->start_rec);
            continue;
        }
        if (owner != me)
            continue;
        pthread_mutex_lock(&j->mu);
        uint32_t n = mpx__pool_read_outputs(p, si, j);
        if (s->kind == PX_K_FIXED) {
            if (si == cur) {
                fixed_crash(p, j, ctl, code, w->pid, sig, exitcode, btl ? bt : NULL);
                /* the slot is done; one more slot lets a worker finish the redo range */
                j->inflight--;
                j->fx_slots--;
                j->input_done = false;
                pthread_mutex_unlock(&j->mu);
                mpx__pool_slot_free(p, si);
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
                mpx__pool_slot_requeue(p, si, 0);
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
            mpx__pool_store_err(j, index, code, code, msg, strlen(msg), w->pid, sig, exitcode,
                      btl && code == MPX_EWORKER ? bt : NULL);
            first++;
        }
        if (first < s->nitems) {
            pthread_mutex_unlock(&j->mu);
            mpx__pool_slot_requeue(p, si, first);
        } else {
            j->inflight--;
            pthread_mutex_unlock(&j->mu);
            mpx__pool_slot_free(p, si);
        }
        mpx__pool_touch_job(p, touched, MPX__ARRAY_LEN(touched), &nt, j);
    }
    mpx__pool_after_jobs(p, touched, nt);
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
            /* under p->mu: submissions read it (#14: it was written
             * without, a data race with submit) */
            pthread_mutex_lock(&p->mu);
            p->broken = true;
            pthread_mutex_unlock(&p->mu);
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
        uint32_t n = mpx__pool_read_outputs(p, si, j);
        if (s->kind != PX_K_FIXED)
            fail_records(p, si, j, s->start_rec + n, code);
        j->inflight--;
        pthread_mutex_unlock(&j->mu);
        mpx__pool_slot_free(p, si);
        mpx__pool_touch_job(p, touched, MPX__ARRAY_LEN(touched), &nt, j);
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
                    mpx__pool_store_err(j, i, code, code, NULL, 0, 0, 0, 0, NULL);
            if (j->type == J_MAP || j->type == J_APPLY)
                j->fed = j->total;
            else
                j->total = j->fed;
        } else {
            j->total = j->fed;
        }
        j->input_done = true;
        pthread_mutex_unlock(&j->mu);
        mpx__pool_touch_job(p, touched, MPX__ARRAY_LEN(touched), &nt, j);
    }
    mpx__pool_after_jobs(p, touched, nt);
}

/* ---- cancellation and terminate: flags on the slots in flight ------------------ */

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
    if (atomic_load(&mpx__pool_program_exiting))
        replace = false;
    for (int wi = 0; wi < p->n; wi++) {
        pworker *w = &p->w[wi];
        if (!w->alive) {
            /* a replacement that could not be started before (EAGAIN ...) */
            if (replace && !p->broken && !w->proc && !w->th_running &&
                mpx__pool_start_worker(p, (uint32_t)wi) == 0) {
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
            int rc = mpx__pool_start_worker(p, (uint32_t)wi);
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

/* Spin, then sleep in poll() until there is work. *deaths is set when the
 * sleep may have missed a worker's death and check_deaths must run: a
 * pidfd was readable, poll() timed out or failed, a live worker has no
 * pidfd in the poll set, or the workers are threads (no pidfds: a thread
 * that exits rings the doorbell). */
static void handler_sleep(mpx_pool *p, uint32_t kick_seen, bool *deaths)
{
    px_hdr *h = p->h;
    for (int i = 0; i < h->spin; i++) {
        mpx__cpu_relax();
        if ((i & 15) == 0 && (rings_nonempty(p) || atomic_load(&p->kick) != kick_seen))
            return;
    }
    atomic_store_explicit(&h->parent_sleeping, 1, memory_order_seq_cst);
    PX_FENCE();
    *deaths = p->threads;
    if (!rings_nonempty(p) && atomic_load(&p->kick) == kick_seen) {
        struct pollfd fds[1 + 256];
        int nf = 0;
        fds[nf++] = (struct pollfd){.fd = p->evfd, .events = POLLIN};
        for (int wi = 0; wi < p->n; wi++) {
            if (!p->w[wi].alive)
                continue;
            if (p->w[wi].pidfd >= 0 && nf < (int)MPX__ARRAY_LEN(fds))
                fds[nf++] = (struct pollfd){.fd = p->w[wi].pidfd, .events = POLLIN};
            else
                *deaths = true; /* not watched: check after every sleep */
        }
        int tmo = p->timed_inflight ? 5 : (p->threads || p->missing ? 100 : 1000);
        if (poll(fds, (nfds_t)nf, tmo) <= 0)
            *deaths = true;
        for (int i = 1; i < nf && !*deaths; i++)
            if (fds[i].revents)
                *deaths = true;
    }
    uint64_t v;
    ssize_t r = read(p->evfd, &v, 8);
    (void)r;
    atomic_store_explicit(&h->parent_sleeping, 0, memory_order_relaxed);
    atomic_store_explicit(&h->bell_pending, 0, memory_order_seq_cst);
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

void *mpx__pool_handler_main(void *arg)
{
    mpx_pool *p = arg;
    unsigned iter = 0;
    bool deaths = true; /* check_deaths after the next idle pass */
    mpx__pool_in_handler = true;
    int rc = 0;
    for (int i = 0; i < p->n && !rc; i++)
        rc = mpx__pool_start_worker(p, (uint32_t)i);
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
        bool progress = mpx__pool_harvest(p, SIZE_MAX);
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
         * a sleep whose poll() saw one of them readable (poll() watches
         * them, so a death wakes the handler) or timed out; not on each
         * pass of a busy map, nor after a sleep that only the doorbell
         * ended (every apply round trip): that cost a system call per
         * worker per round trip (#18) */
        if ((++iter & 63) == 0 || (!progress && deaths))
            progress |= check_deaths(p, true);
        check_timeouts(p);
        pthread_mutex_lock(&p->mu);
        if (mpx__pool_feed(p))
            progress = true;
        bool idle = !p->jobs && !any_slot_busy(p);
        size_t nfin = p->nfin;
        mpx_result *fin[64];
        memcpy(fin, p->fin, nfin * sizeof *fin);
        p->nfin = 0;
        pthread_mutex_unlock(&p->mu);
        mpx__pool_after_jobs(p, fin, nfin);
        if (nfin)
            progress = true;
        if (state == P_CLOSED && idle && p->outstanding == 0) {
            shutdown_workers(p, false);
            break;
        }
        deaths = false;
        if (!progress)
            handler_sleep(p, kick, &deaths);
    }
    pthread_mutex_lock(&p->mu);
    p->handler_exited = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}
