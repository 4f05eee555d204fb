/*
 * pool_dispatch.c - the handler thread's data path: jobs into slots and
 * completed slots back into jobs. Feeding fills free slots with the items
 * of each queued job in order (chunks, packing of small chunks, spilled
 * inputs), pushes them into the shared ring and wakes the workers;
 * harvesting drains the workers' completion rings, reads each slot's
 * output records into its job's results (spilled outputs from the
 * parent's output files), requeues a slot whose worker stopped early, frees
 * the slot, and then (no lock held) reports progress, makes finished jobs
 * ready and runs their callbacks (job_after).
 *
 * Threads: the handler thread only (pool_handler.c calls in here). It
 * owns the slot books (p->ps, p->freel) and takes p->mu / j->mu for the
 * job list and the results. The slot protocol: pool_internal.h.
 */
#include "os/anonfd.h"
#include "core/pool_parent.h"
#include "os/futex.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Packing of small chunks: up to this many items per slot while every
 * worker's mean time per slot is at most PX_PACK_NS. */
#define PX_PACK_ITEMS 8u
#define PX_PACK_NS 10000u
/* ... and while at least this many items of the map are left to feed: small
 * maps and the tail of a big one go out unpacked (load balance) */
#define PX_PACK_MIN_LEFT 256u

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

void mpx__pool_slot_free(mpx_pool *p, uint32_t si)
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
void mpx__pool_slot_requeue(mpx_pool *p, uint32_t si, uint32_t start_rec)
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
            int fd = mpx__memfd_create("mpx-pool-in", 0);
            int wrc = fd < 0 ? fd : mpx__write_all(fd, it.data, it.len);
            if (wrc) {
                if (fd >= 0)
                    close(fd);
                mpx__pool_store_err(j, index, wrc, wrc, NULL, 0, 0, 0, 0, NULL);
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
int mpx__pool_feed(mpx_pool *p)
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

/* Draw the bar of a job that has done `done` of `total` items (0: unknown),
 * counters read under j->mu (#14: reading the job's here, with no lock
 * held, raced with a cancel). */
static void draw_bar(size_t done, size_t total, bool final)
{
    char line[128];
    int width = 40;
    int filled = total ? (int)((double)done / (double)total * width) : 0;
    if (filled > width)
        filled = width;
    int n = snprintf(line, sizeof line, "\r[");
    for (int i = 0; i < width; i++)
        line[n++] = i < filled ? '#' : '.';
    if (total)
        n += snprintf(line + n, sizeof line - (size_t)n, "] %3d%% %zu/%zu%s",
                      (int)(100.0 * (double)done / (double)total), done, total,
                      final ? "\n" : "");
    else
        n += snprintf(line + n, sizeof line - (size_t)n, "] %zu%s", done, final ? "\n" : "");
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
    /* the bar shows the total as it is now (a finished imap's is known) */
    size_t bar_total = j->total == SIZE_MAX ? 0 : j->total;
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
        draw_bar(done, bar_total, complete);
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
    mpx__pool_fn_release(p, j->fn_idx);
    pthread_mutex_lock(&j->mu);
    j->pool = NULL; /* written under both locks: readers hold either */
    __atomic_store_n(&j->announced, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&j->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    /* Wake the waiters with j->mu released (#18): a waiter woken while
     * the handler still held it blocked on it at once (a futex wait and
     * two futex wakes more per apply round trip). No wake-up is lost: a
     * waiter checks announced under j->mu before it sleeps. The pool's
     * reference, dropped after, keeps j alive for the broadcast. */
    pthread_cond_broadcast(&j->cv);
    mpx__pool_job_unref(j);
}

/* Parse the committed output records of slot si into its job (j->mu held).
 * Returns the number of records read. */
uint32_t mpx__pool_read_outputs(mpx_pool *p, uint32_t si, mpx_result *j)
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
                mpx__pool_store_err(j, index, rc, rc, lost, sizeof lost - 1, 0, 0, 0, NULL);
                continue;
            }
            data = spill;
        }
        if (code == 0)
            store_ok(j, index, data, dlen, spill != NULL);
        else {
            /* no message (an output that could not be stored): the code's */
            const char *m = dlen || code == MPX_ETASK ? (const char *)data : NULL;
            mpx__pool_store_err(j, index, code, task_rc, m, dlen, 0, 0, 0, NULL);
            free(spill);
        }
    }
    return n;
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
    uint32_t n = mpx__pool_read_outputs(p, si, j);
    if (s->kind != PX_K_FIXED && s->start_rec + n < s->nitems) {
        /* the worker stopped early (output area full): run the rest */
        mpx__pool_slot_requeue(p, si, s->start_rec + n);
        p->requeued++;
        return j;
    }
    j->inflight--;
    mpx__pool_slot_free(p, si);
    return j;
}

void mpx__pool_after_jobs(mpx_pool *p, mpx_result **touched, size_t nt)
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
void mpx__pool_touch_job(mpx_pool *p, mpx_result **touched, size_t cap, size_t *nt,
                         mpx_result *j)
{
    if (*nt == cap) {
        mpx__pool_after_jobs(p, touched, *nt);
        *nt = 0;
    }
    touched[(*nt)++] = j;
}

/* Drain every worker's completion ring. */
bool mpx__pool_harvest(mpx_pool *p, size_t budget)
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
                        mpx__pool_after_jobs(p, touched, nt);
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
    mpx__pool_after_jobs(p, touched, nt);
    return any;
}
