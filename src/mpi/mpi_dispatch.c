/*
 * mpi_dispatch.c - rank 0's side of an "mpi" pool (docs/mpi.md).
 *
 * pool.c starts one thread per worker position (core/backend.h); here
 * that thread (proxy) only asks the pool's dispatcher to open its rank
 * and waits until the position ends. The dispatcher, one thread per pool,
 * is the only thread of the pool that calls MPI (all of them take
 * mx_mpi_mu around their MPI calls: MPI_THREAD_SERIALIZED is enough). It
 * takes slots from the pool's ring exactly as a worker does (CAS on head,
 * claim with the position's owner tag), packs several slots for one rank
 * into one T_WORK message, keeps up to DEPTH messages in flight per rank
 * (the rank never waits for a round trip), and writes each T_DONE's
 * output records into the slots' output areas (spilling what does not
 * fit into the pool's output file of the position, as a worker does:
 * px_spill_write), then completes them through the position's
 * completion ring and rings the pool's handler. Results, callbacks,
 * errors, chunking and imap are the pool's (pool_parent.h), unchanged.
 *
 * How many slots go into one message adapts as in the worker loop: one
 * until the rank has reported how long its slots take, then enough for
 * about BUDGET_NS of work (at most MAXS, and a fair share of what is
 * queued), so trivial tasks travel in big batches and long ones one by
 * one (load balance).
 */
#include "mpi/mpi_internal.h"
#include "os/futex.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEPTH 2
#define MAXS 64
#define BUDGET_NS 300000
#define MAX_NAP_US 500
#define MX_SLOTS 1024 /* the pool's slots unless the caller sets them */

enum { D_NONE = 0, D_OPENING, D_READY, D_FAILED };

typedef struct dmsg {
    uint32_t nslots;
    uint32_t slot[MAXS];
    MPI_Request req;
    mx_buf buf;
} dmsg;

typedef struct dpos {
    int rank;
    int state;
    uint32_t gen;  /* the proxy generation served (0: none) */
    uint32_t want; /* asked for by the proxy (mp->mu) */
    uint32_t me;   /* owner tag of the slots it claims */
    dmsg msg[DEPTH];
    int mhead, mcount;
    int64_t avg_ns; /* per slot, as the rank measured it */
    uint32_t fn_gen[PX_FN_MAX];
    MPI_Request open_req;
    mx_buf open_buf;
    bool failed;
    _Atomic uint32_t done; /* the proxy may end */
    bool closing;          /* T_CLOSE / T_EXIT sent, answer pending */
    int outfd;             /* the pool's output file of the position (spills) */
} dpos;

typedef struct mpool {
    px_hdr *h;
    int evfd;
    int n;
    bool spawned; /* workers of its own (MPI_Comm_spawn) */
    MPI_Comm comm;
    int *ranks; /* static mode: world ranks held */
    bool have_ranks;
    bool setup_failed;
    mx_buf open_msg; /* fnref of the initializer (padded) + initargs */
    uint32_t open_fl; /* length of that fnref */
    pthread_t thr;
    bool started;           /* mu: the first proxy started the dispatcher */
    bool detached;          /* mu: it ended at program exit, nobody joins it */
    _Atomic bool released;  /* the pool is being freed: the dispatcher ends */
    pthread_mutex_t mu;
    dpos *pos;
    unsigned rr;
    bool closed; /* mu: the dispatcher has ended, positions are not served */
    struct mpool *next;
} mpool;

static pthread_mutex_t pools_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pools_cv = PTHREAD_COND_INITIALIZER;
static mpool *pools;
static _Atomic bool quitting;

/* ---- MPI under the lock --------------------------------------------------- */

/* Take the MPI lock; false (not held) once MPI is being finalised. */
static bool mpi_lock(void)
{
    pthread_mutex_lock(&mx_mpi_mu);
    if (mx_finalizing) {
        pthread_mutex_unlock(&mx_mpi_mu);
        return false;
    }
    return true;
}

static void mpi_unlock(void)
{
    pthread_mutex_unlock(&mx_mpi_mu);
}

static void kick(mpool *mp)
{
    atomic_fetch_add(&mp->h->work_bell, 1);
    mpx__futex_wake(&mp->h->work_bell, INT32_MAX);
}

/* ---- the proxy thread of one position ----------------------------------- */

static void release(mpool *mp, int w, bool failed)
{
    dpos *d = &mp->pos[w];
    d->failed = failed;
    d->state = failed ? D_FAILED : D_NONE;
    atomic_store(&d->done, 1);
    mpx__futex_wake(&d->done, INT32_MAX);
}

static void *dispatcher(void *arg);

static void mpool_free(mpool *mp)
{
    if (mp->have_ranks)
        mx_ranks_give(mp->ranks, mp->n);
    for (int w = 0; w < mp->n; w++) {
        for (int k = 0; k < DEPTH; k++)
            mx_buf_free(&mp->pos[w].msg[k].buf);
        mx_buf_free(&mp->pos[w].open_buf);
    }
    mx_buf_free(&mp->open_msg);
    pthread_mutex_destroy(&mp->mu);
    free(mp->pos);
    free(mp->ranks);
    free(mp);
}

static void unlink_pool(mpool *mp) /* pools_mu held */
{
    mpool **pp = &pools;
    while (*pp && *pp != mp)
        pp = &(*pp)->next;
    if (*pp)
        *pp = mp->next;
    pthread_cond_broadcast(&pools_cv);
}

static void *proxy(void *arg)
{
    px_worker_ctx *c = arg;
    px_wctl *ctl = px_wctl_of(c->h, c->w);
    uint32_t gen = atomic_load(&ctl->gen);
    mpool *mp = c->backend;
    dpos *d = &mp->pos[c->w];
    bool failed = true;
    pthread_mutex_lock(&mp->mu);
    if (!mp->started && !mp->closed) {
        /* the first position of the pool starts its dispatcher */
        mp->h = c->h;
        mp->evfd = c->evfd;
        pthread_mutex_lock(&pools_mu);
        if (!atomic_load(&quitting) && pthread_create(&mp->thr, NULL, dispatcher, mp) == 0) {
            mp->started = true;
            mp->next = pools;
            pools = mp;
        } else {
            mp->closed = true;
        }
        pthread_mutex_unlock(&pools_mu);
    }
    bool closed = mp->closed;
    if (!closed) {
        atomic_store(&d->done, 0);
        d->outfd = c->outfd;
        d->want = gen;
    }
    pthread_mutex_unlock(&mp->mu);
    if (!closed) {
        kick(mp);
        while (!atomic_load(&d->done))
            mpx__futex_wait(&d->done, 0, MPX__NEVER);
        failed = d->failed;
    }
    if (failed)
        atomic_store_explicit(&ctl->init_failed, 1, memory_order_relaxed);
    atomic_store_explicit(&ctl->state, PX_W_EXITING, memory_order_release);
    mx_api->ring_parent(c->h, c->evfd);
    return NULL;
}

/* ---- slots out ------------------------------------------------------------- */

static int put_slot(mpool *mp, dpos *d, mx_buf *b, uint32_t si)
{
    px_slot *s = px_slot_of(mp->h, si);
    uint32_t nrec = s->nitems > s->start_rec ? s->nitems - s->start_rec : 0;
    size_t hdr = b->len;
    int rc = mx_buf_reserve(b, MX_SLOT_HDR);
    if (rc)
        return rc;
    b->len += MX_SLOT_HDR;
    const unsigned char *ip = px_in(s), *iend = ip + s->in_bytes;
    const unsigned char *run = NULL; /* a run of inline records, copied at once */
    for (uint32_t r = 0; r < s->nitems && ip + PX_IN_REC <= iend; r++) {
        uint32_t len = px_get32(ip + 8), flags = px_get32(ip + 12);
        const unsigned char *next = ip + PX_IN_REC + PX_PAD8(len);
        if (r < s->start_rec) {
            ip = next;
            continue;
        }
        if (!(flags & PX_REC_SPILL)) {
            if (!run)
                run = ip;
            ip = next;
            continue;
        }
        if (run && (rc = mx_buf_put(b, run, (size_t)(ip - run))))
            return rc;
        run = NULL;
        /* a spilled input travels inline */
        const unsigned char *sp = ip + PX_IN_REC;
        unsigned char *data = NULL;
        uint64_t slen = px_get64(sp + 8);
        pid_t spid = (pid_t)px_get32(sp + 4);
        rc = mx_api->read_spill(spid ? spid : (pid_t)mp->h->owner_pid, (int)px_get32(sp), (size_t)slen,
                                &data);
        if (rc)
            return rc;
        unsigned char rh[PX_IN_REC];
        memcpy(rh, ip, 8);
        px_put32(rh + 8, (uint32_t)slen);
        px_put32(rh + 12, 0);
        rc = mx_buf_put(b, rh, sizeof rh);
        if (!rc)
            rc = mx_buf_put(b, data, (size_t)slen);
        if (!rc)
            rc = mx_buf_pad8(b);
        free(data);
        if (rc)
            return rc;
        ip = next;
    }
    if (run && (rc = mx_buf_put(b, run, (size_t)(ip - run))))
        return rc;
    unsigned char *h = b->p + hdr;
    px_put32(h, si);
    px_put32(h + 4, s->kind);
    px_put32(h + 8, s->fn_idx);
    px_put32(h + 12, s->fn_gen);
    px_put32(h + 16, nrec);
    px_put32(h + 20, atomic_load_explicit(&s->cancel, memory_order_relaxed));
    px_put32(h + 24, (uint32_t)(b->len - hdr - MX_SLOT_HDR));
    px_put32(h + 28, 0);
    (void)d;
    return 0;
}

/* Build and send one T_WORK for position w from the slots in sl[]. */
static int send_work(mpool *mp, int w, const uint32_t *sl, uint32_t ns)
{
    dpos *d = &mp->pos[w];
    dmsg *m = &d->msg[(d->mhead + d->mcount) % DEPTH];
    mx_buf *b = &m->buf;
    b->len = 0;
    int rc = mx_buf_reserve(b, 8);
    if (rc)
        return rc;
    b->len = 8;
    uint32_t nfn = 0;
    for (uint32_t k = 0; k < ns; k++) {
        px_slot *s = px_slot_of(mp->h, sl[k]);
        uint32_t idx = s->fn_idx;
        if (idx >= PX_FN_MAX || d->fn_gen[idx] == s->fn_gen)
            continue;
        px_fn *t = &px_fntab(mp->h)[idx];
        uint32_t fl = t->len <= sizeof t->data ? t->len : 0;
        unsigned char fh[MX_FN_HDR];
        px_put32(fh, idx);
        px_put32(fh + 4, s->fn_gen);
        px_put32(fh + 8, fl);
        px_put32(fh + 12, 0);
        if ((rc = mx_buf_put(b, fh, sizeof fh)) || (rc = mx_buf_put(b, t->data, fl)) ||
            (rc = mx_buf_pad8(b)))
            return rc;
        d->fn_gen[idx] = s->fn_gen;
        nfn++;
    }
    for (uint32_t k = 0; k < ns; k++) {
        rc = put_slot(mp, d, b, sl[k]);
        if (rc)
            return rc;
        m->slot[k] = sl[k];
    }
    m->nslots = ns;
    px_put32(b->p, nfn);
    px_put32(b->p + 4, ns);
    if (b->len > INT32_MAX)
        return MPX_ETOOBIG;
    if (MPI_Isend(b->p, (int)b->len, MPI_BYTE, d->rank, T_WORK, mp->comm, &m->req) != MPI_SUCCESS)
        return MPX_EPROTO;
    d->mcount++;
    return 0;
}

/* Fail the items of a slot that cannot be sent (out of memory ...) and
 * complete it, so nothing hangs. */
static void complete(mpool *mp, int w, uint32_t si);
static void fail_slot(mpool *mp, int w, uint32_t si, int code)
{
    px_slot *s = px_slot_of(mp->h, si);
    const unsigned char *ip = px_in(s);
    unsigned char *o = px_out(s);
    size_t pos = 0;
    uint32_t nout = 0;
    const char *msg = mpx_strerror(code);
    size_t ml = strlen(msg);
    for (uint32_t r = 0; r < s->nitems; r++) {
        uint32_t len = px_get32(ip + 8);
        if (r >= s->start_rec && pos + PX_OUT_REC + PX_PAD8(ml) <= PX_OUT_CAP) {
            px_put64(o + pos, px_get64(ip));
            px_put32(o + pos + 8, (uint32_t)code);
            px_put32(o + pos + 12, (uint32_t)code);
            px_put32(o + pos + 16, (uint32_t)ml);
            px_put32(o + pos + 20, 0);
            memcpy(o + pos + PX_OUT_REC, msg, ml);
            pos += PX_OUT_REC + PX_PAD8(ml);
            nout++;
        }
        ip += PX_IN_REC + PX_PAD8(len);
    }
    s->out_bytes = (uint32_t)pos;
    atomic_store_explicit(&s->out_items, nout, memory_order_release);
    complete(mp, w, si);
}

/* Take queued slots for every ready position with room. Returns slots sent. */
static int feed(mpool *mp)
{
    px_hdr *h = mp->h;
    _Atomic uint64_t *ring = px_ring(h);
    int sent = 0;
    int nready = 0;
    for (int w = 0; w < mp->n; w++)
        nready += mp->pos[w].state == D_READY && mp->pos[w].mcount < DEPTH;
    for (int k = 0; k < mp->n && nready > 0; k++) {
        int w = (int)((mp->rr + (unsigned)k) % (unsigned)mp->n);
        dpos *d = &mp->pos[w];
        if (d->state != D_READY || d->mcount >= DEPTH)
            continue;
        uint32_t sl[MAXS];
        uint32_t ns = 0;
        for (;;) {
            uint64_t hd = atomic_load_explicit(&h->head, memory_order_acquire);
            uint64_t tl = atomic_load_explicit(&h->tail, memory_order_acquire);
            uint64_t avail = tl - hd;
            if (!avail)
                break;
            uint64_t want = 1;
            if (d->avg_ns > 0) {
                want = (uint64_t)(BUDGET_NS / d->avg_ns);
                uint64_t share = avail / (uint64_t)nready + 1;
                if (want > share)
                    want = share;
                if (want < 1)
                    want = 1;
            }
            if (want > MAXS)
                want = MAXS;
            if (want > avail)
                want = avail;
            uint64_t e[MAXS];
            for (uint64_t i = 0; i < want; i++)
                e[i] = atomic_load_explicit(&ring[(hd + i) % h->nslots], memory_order_relaxed);
            if (!atomic_compare_exchange_weak_explicit(&h->head, &hd, hd + want,
                                                       memory_order_acq_rel, memory_order_relaxed))
                continue;
            for (uint64_t i = 0; i < want; i++) {
                px_slot *s = px_slot_of(h, (uint32_t)e[i]);
                uint64_t exp = (e[i] >> 32) << 32;
                if (atomic_compare_exchange_strong_explicit(&s->claim, &exp, exp | d->me,
                                                            memory_order_acq_rel,
                                                            memory_order_acquire))
                    sl[ns++] = (uint32_t)e[i];
            }
            break;
        }
        nready--;
        if (!ns)
            continue;
        int rc = send_work(mp, w, sl, ns);
        if (rc) {
            mpx_log(MPX_LOG_WARNING, "mpx: mpi pool: cannot send work to rank %d: %s", d->rank,
                    mpx_strerror(rc));
            for (uint32_t i = 0; i < ns; i++)
                fail_slot(mp, w, sl[i], rc);
            mx_api->ring_parent(h, mp->evfd);
            continue;
        }
        sent += (int)ns;
    }
    mp->rr++;
    return sent;
}

/* ---- replies in ----------------------------------------------------------- */

static void complete(mpool *mp, int w, uint32_t si)
{
    px_wctl *ctl = px_wctl_of(mp->h, (uint32_t)w);
    _Atomic uint32_t *comp = px_comp(mp->h, (uint32_t)w);
    uint64_t t = atomic_load_explicit(&ctl->c_tail, memory_order_relaxed);
    atomic_store_explicit(&comp[t % mp->h->nslots], si, memory_order_relaxed);
    atomic_store_explicit(&ctl->c_tail, t + 1, memory_order_release);
}

/* Copy a slot's output records into its output area; what does not fit
 * (keeping room for the records after it) is spilled into the pool's
 * output file of position w (px_spill_write: the parent owns it, #12). */
static void write_outputs(mpool *mp, int w, uint32_t si, const unsigned char *rp, size_t rlen,
                          uint32_t nout)
{
    px_slot *s = px_slot_of(mp->h, si);
    unsigned char *o = px_out(s);
    size_t pos = 0, off = 0;
    uint64_t spos = 0; /* the parent freed the slot's region when it queued the slot */
    uint32_t k = 0;
    if (rlen <= PX_OUT_CAP) {
        /* the usual case: every record fits inline, in the same format */
        memcpy(o, rp, rlen);
        pos = off = rlen;
        k = nout;
    }
    for (; k < nout && off + PX_OUT_REC <= rlen; k++) {
        const unsigned char *r = rp + off;
        uint32_t len = px_get32(r + 16);
        if (len > rlen - off - PX_OUT_REC)
            break;
        size_t reserve = (size_t)(nout - k - 1) * (PX_OUT_REC + PX_SPILL_REC);
        size_t room = PX_OUT_CAP - pos;
        if (PX_OUT_REC + PX_PAD8(len) + reserve <= room) {
            memcpy(o + pos, r, PX_OUT_REC + PX_PAD8(len));
            pos += PX_OUT_REC + PX_PAD8(len);
        } else {
            int code = (int)px_get32(r + 8), trc = (int)px_get32(r + 12);
            uint64_t at = 0;
            int src = px_spill_write(s, si, (uint32_t)w, mp->pos[w].outfd, &spos,
                                     r + PX_OUT_REC, len, &at);
            memcpy(o + pos, r, 8);
            if (src) {
                px_put32(o + pos + 8, (uint32_t)src);
                px_put32(o + pos + 12, (uint32_t)src);
                px_put32(o + pos + 16, 0);
                px_put32(o + pos + 20, 0);
                pos += PX_OUT_REC;
            } else {
                px_put32(o + pos + 8, (uint32_t)code);
                px_put32(o + pos + 12, (uint32_t)trc);
                px_put32(o + pos + 16, PX_SPILL_REC);
                px_put32(o + pos + 20, PX_REC_SPILL);
                px_put64(o + pos + PX_OUT_REC, at);
                px_put64(o + pos + PX_OUT_REC + 8, len);
                pos += PX_OUT_REC + PX_SPILL_REC;
            }
        }
        off += PX_OUT_REC + PX_PAD8(len);
    }
    s->out_bytes = (uint32_t)pos;
    atomic_store_explicit(&s->out_items, k, memory_order_release);
}

static void on_done(mpool *mp, int w, const unsigned char *p, size_t len)
{
    dpos *d = &mp->pos[w];
    if (!d->mcount)
        return;
    dmsg *m = &d->msg[d->mhead];
    MPI_Wait(&m->req, MPI_STATUS_IGNORE);
    uint64_t ns = len >= MX_DONE_HDR ? px_get64(p) : 0;
    uint32_t nsl = len >= MX_DONE_HDR ? px_get32(p + 8) : 0;
    size_t pos = MX_DONE_HDR;
    for (uint32_t k = 0; k < m->nslots; k++) {
        uint32_t si = m->slot[k];
        if (k < nsl && pos + MX_RSLOT_HDR <= len && px_get32(p + pos) == si) {
            uint32_t nout = px_get32(p + pos + 4);
            uint64_t bytes = px_get64(p + pos + 8);
            pos += MX_RSLOT_HDR;
            if (bytes > len - pos)
                bytes = len - pos;
            write_outputs(mp, w, si, p + pos, (size_t)bytes, nout);
            pos += (size_t)bytes;
            complete(mp, w, si);
        } else {
            fail_slot(mp, w, si, MPX_EPROTO);
        }
    }
    if (m->nslots) {
        int64_t per = (int64_t)(ns / m->nslots);
        if (per < 1)
            per = 1;
        d->avg_ns = d->avg_ns ? (d->avg_ns * 3 + per) / 4 : per;
        px_wctl *ctl = px_wctl_of(mp->h, (uint32_t)w);
        atomic_store_explicit(&ctl->avg_ns, d->avg_ns > UINT32_MAX ? UINT32_MAX : (uint32_t)d->avg_ns,
                              memory_order_relaxed);
        atomic_fetch_add_explicit(&ctl->tasks_done, m->nslots, memory_order_relaxed);
    }
    d->mhead = (d->mhead + 1) % DEPTH;
    d->mcount--;
    mx_api->ring_parent(mp->h, mp->evfd);
}

static void on_ready(mpool *mp, int w, const unsigned char *p, size_t len)
{
    dpos *d = &mp->pos[w];
    MPI_Wait(&d->open_req, MPI_STATUS_IGNORE);
    int32_t rc = MPX_EPROTO, pid = 0;
    if (len >= 8 + MX_HOST) {
        memcpy(&rc, p, 4);
        memcpy(&pid, p + 4, 4);
    }
    px_wctl *ctl = px_wctl_of(mp->h, (uint32_t)w);
    if (rc) {
        char host[MX_HOST + 1] = "?";
        if (len >= 8 + MX_HOST) {
            memcpy(host, p + 8, MX_HOST);
            host[MX_HOST] = 0;
        }
        mpx_log(MPX_LOG_WARNING, "mpx: mpi pool: the initializer failed on rank %d (pid %d on %s): %s",
                d->rank, (int)pid, host, mpx_strerror(rc));
        release(mp, w, true);
        return;
    }
    atomic_store(&ctl->pid, pid);
    memset(d->fn_gen, 0, sizeof d->fn_gen);
    d->avg_ns = 0;
    d->me = ((uint32_t)w + 1) | (d->gen << 16);
    d->state = D_READY;
    atomic_store_explicit(&ctl->state, PX_W_READY, memory_order_release);
}

static int send_open(mpool *mp, int w)
{
    dpos *d = &mp->pos[w];
    mx_buf *b = &d->open_buf;
    b->len = 0;
    int rc = mx_buf_put_u32(b, (uint32_t)w);
    if (!rc)
        rc = mx_buf_put_u32(b, mp->open_fl);
    if (!rc)
        rc = mx_buf_put(b, mp->open_msg.p, mp->open_msg.len);
    if (!rc && MPI_Isend(b->p, (int)b->len, MPI_BYTE, d->rank, T_OPEN, mp->comm, &d->open_req) !=
                   MPI_SUCCESS)
        rc = MPX_EPROTO;
    return rc;
}

/* Receive what the ranks sent; returns true when anything came. */
static bool poll_replies(mpool *mp, mx_buf *in, int *closing_left)
{
    bool any = false;
    for (int w = 0; w < mp->n; w++) {
        dpos *d = &mp->pos[w];
        if (d->state != D_OPENING && !d->mcount && !d->closing)
            continue;
        for (;;) {
            int flag = 0;
            MPI_Message m;
            MPI_Status st;
            MPI_Improbe(d->rank, MPI_ANY_TAG, mp->comm, &flag, &m, &st);
            if (!flag)
                break;
            int cnt = 0;
            MPI_Get_count(&st, MPI_BYTE, &cnt);
            in->len = 0;
            if (mx_buf_reserve(in, (size_t)cnt + 8)) {
                fprintf(stderr, "mpx: mpi pool: out of memory for a reply\n");
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            MPI_Mrecv(in->p, cnt, MPI_BYTE, &m, MPI_STATUS_IGNORE);
            any = true;
            switch (st.MPI_TAG) {
            case T_READY:
                if (d->state == D_OPENING)
                    on_ready(mp, w, in->p, (size_t)cnt);
                break;
            case T_DONE: on_done(mp, w, in->p, (size_t)cnt); break;
            case T_CLOSED:
            case T_BYE:
                if (d->closing) {
                    d->closing = false;
                    (*closing_left)--;
                }
                break;
            default: break;
            }
            if (!d->mcount && d->state != D_OPENING && !d->closing)
                break;
        }
    }
    return any;
}

static bool inflight(mpool *mp)
{
    for (int w = 0; w < mp->n; w++)
        if (mp->pos[w].mcount || mp->pos[w].state == D_OPENING || mp->pos[w].closing)
            return true;
    return false;
}

/* ---- the dispatcher ---------------------------------------------------------- */

static int spawn_workers(mpool *mp)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -errno;
    exe[n] = 0;
    int *errs = calloc((size_t)mp->n, sizeof *errs);
    if (!errs)
        return -ENOMEM;
    int rc = MPI_Comm_spawn(exe, MPI_ARGV_NULL, mp->n, MPI_INFO_NULL, 0, MPI_COMM_SELF, &mp->comm,
                            errs);
    int bad = 0;
    for (int i = 0; i < mp->n; i++)
        bad += errs[i] != MPI_SUCCESS;
    free(errs);
    if (rc != MPI_SUCCESS || bad) {
        mpx_log(MPX_LOG_WARNING, "mpx: mpi pool: MPI_Comm_spawn of %d workers failed", mp->n);
        return MPX_EPROTO;
    }
    return 0;
}

static void *dispatcher(void *arg)
{
    mpool *mp = arg;
    px_hdr *h = mp->h;
    mx_buf in = {0};
    bool spawned_ok = false;
    if (mp->spawned && !mp->setup_failed) {
        if (!mpi_lock()) {
            mp->setup_failed = true;
        } else {
            mp->setup_failed = spawn_workers(mp) != 0;
            spawned_ok = !mp->setup_failed;
            mpi_unlock();
        }
    }
    unsigned idle = 0;
    int closing_left = 0;
    bool closing = false; /* T_CLOSE / T_EXIT sent to every rank */
    for (;;) {
        bool act = false;
        bool quit = atomic_load(&quitting);
        bool stop = quit || atomic_load(&mp->released) ||
                    atomic_load_explicit(&h->shutdown, memory_order_acquire);
        /* proxies asking for their position */
        int open_w[256], nopen = 0;
        pthread_mutex_lock(&mp->mu);
        for (int w = 0; w < mp->n; w++) {
            dpos *d = &mp->pos[w];
            if (d->want && d->want != d->gen && d->state != D_OPENING) {
                d->gen = d->want;
                if (nopen < 256)
                    open_w[nopen++] = w;
            }
        }
        pthread_mutex_unlock(&mp->mu);
        for (int i = 0; i < nopen; i++) {
            int w = open_w[i];
            act = true;
            if (mp->setup_failed || stop) {
                release(mp, w, mp->setup_failed);
                continue;
            }
            mp->pos[w].state = D_OPENING;
        }
        if (mp->setup_failed) {
            if (stop)
                break;
            goto sleep;
        }
        if (!mpi_lock())
            break; /* MPI is gone: the program is exiting */
        for (int i = 0; i < nopen; i++) {
            int w = open_w[i];
            if (mp->pos[w].state == D_OPENING && send_open(mp, w)) {
                mp->pos[w].state = D_NONE;
                release(mp, w, true);
            }
        }
        act |= poll_replies(mp, &in, &closing_left);
        if (!stop)
            act |= feed(mp) > 0;
        if (stop && !closing && !inflight(mp)) {
            /* the pool is done: give the ranks back (or end our spawned ones) */
            closing = true;
            for (int w = 0; w < mp->n; w++) {
                dpos *d = &mp->pos[w];
                MPI_Request rq;
                if (MPI_Isend(NULL, 0, MPI_BYTE, d->rank, mp->spawned ? T_EXIT : T_CLOSE, mp->comm,
                              &rq) == MPI_SUCCESS) {
                    MPI_Request_free(&rq);
                    d->closing = true;
                    closing_left++;
                }
            }
            act = true;
        }
        if (closing && closing_left == 0) {
            if (spawned_ok)
                MPI_Comm_disconnect(&mp->comm);
            mpi_unlock();
            break;
        }
        mpi_unlock();
    sleep:
        if (act) {
            idle = 0;
            continue;
        }
        if (!inflight(mp) && !closing && !stop) {
            /* nothing out: sleep until the handler queues work or a proxy asks */
            uint32_t v = atomic_load_explicit(&h->work_bell, memory_order_acquire);
            atomic_fetch_add_explicit(&h->sleepers, 1, memory_order_seq_cst);
            atomic_thread_fence(memory_order_seq_cst);
            bool none = true;
            pthread_mutex_lock(&mp->mu);
            for (int w = 0; w < mp->n; w++)
                if (mp->pos[w].want && mp->pos[w].want != mp->pos[w].gen)
                    none = false;
            pthread_mutex_unlock(&mp->mu);
            bool ready = false;
            for (int w = 0; w < mp->n; w++)
                ready |= mp->pos[w].state == D_READY;
            if (none && !atomic_load(&quitting) && !atomic_load(&h->shutdown) &&
                !atomic_load(&mp->released) &&
                (!ready || atomic_load_explicit(&h->tail, memory_order_seq_cst) ==
                               atomic_load_explicit(&h->head, memory_order_seq_cst)))
                mpx__futex_wait(&h->work_bell, v, MPX__NEVER);
            atomic_fetch_sub_explicit(&h->sleepers, 1, memory_order_seq_cst);
            idle = 0;
            continue;
        }
        /* replies pending. The least work a rank still holds from us (its
         * slots in flight times its time per slot) says how long we may look
         * away: with short work, poll (each probe also drives MPI's progress,
         * and yields the CPU when the job is oversubscribed), then yield;
         * with long work, nap at once, for a quarter of it (at most
         * MAX_NAP_US) - as a sleeper of the work bell, so new work still
         * wakes us at once. */
        int64_t work_ns = INT64_MAX;
        for (int w = 0; w < mp->n; w++) {
            dpos *d = &mp->pos[w];
            if (!d->mcount)
                continue;
            int64_t k = 0;
            for (int i = 0; i < d->mcount; i++)
                k += d->msg[(d->mhead + i) % DEPTH].nslots;
            int64_t wk = d->avg_ns ? k * d->avg_ns : 0;
            if (wk < work_ns)
                work_ns = wk;
        }
        int64_t nap_us = work_ns == INT64_MAX ? MAX_NAP_US : work_ns / 4000;
        if (nap_us > MAX_NAP_US)
            nap_us = MAX_NAP_US;
        if (nap_us < 20) {
            if (++idle < 64)
                continue;
            if (idle < 80) {
                sched_yield();
                continue;
            }
            nap_us = 20;
        }
        bool credit = false; /* could we send queued work now? */
        for (int w = 0; w < mp->n; w++)
            credit |= mp->pos[w].state == D_READY && mp->pos[w].mcount < DEPTH;
        int64_t until = mx_now_ns() + nap_us * 1000;
        if (!credit) {
            /* every rank is full: new work in the ring changes nothing */
            static _Atomic uint32_t never;
            mpx__futex_wait(&never, 0, until);
            continue;
        }
        uint32_t v = atomic_load_explicit(&h->work_bell, memory_order_acquire);
        atomic_fetch_add_explicit(&h->sleepers, 1, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&h->tail, memory_order_seq_cst) ==
            atomic_load_explicit(&h->head, memory_order_seq_cst))
            mpx__futex_wait(&h->work_bell, v, until);
        atomic_fetch_sub_explicit(&h->sleepers, 1, memory_order_seq_cst);
    }
    mx_buf_free(&in);
    pthread_mutex_lock(&pools_mu);
    unlink_pool(mp);
    pthread_mutex_unlock(&pools_mu);
    /* every position waiting ends; later ones fail at once (closed) */
    pthread_mutex_lock(&mp->mu);
    mp->closed = true;
    for (int w = 0; w < mp->n; w++)
        if (!atomic_load(&mp->pos[w].done) || mp->pos[w].want != mp->pos[w].gen)
            release(mp, w, mp->setup_failed);
    /* stopped by the program's exit with the pool still open: the pool may
     * never be freed, so nobody would join this thread */
    if (atomic_load(&quitting) && !atomic_load(&mp->released)) {
        pthread_detach(pthread_self());
        mp->detached = true;
    }
    pthread_mutex_unlock(&mp->mu); /* mp is not touched after this */
    return NULL;
}

void mx_dispatch_quiesce(void)
{
    atomic_store(&quitting, true);
    pthread_mutex_lock(&pools_mu);
    for (mpool *mp = pools; mp; mp = mp->next)
        kick(mp);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 15;
    while (pools)
        if (pthread_cond_timedwait(&pools_cv, &pools_mu, &ts))
            break;
    pthread_mutex_unlock(&pools_mu);
}

/* ---- the backend ------------------------------------------------------------- */

/* The pool's state: ranks reserved now (so pools made one after the other
 * never count the same free ranks), the T_OPEN payload; the dispatcher
 * starts with the first position. */
static int make_pool(const mpx_pool_opts *o, int n, mpool **out)
{
    mpool *mp = calloc(1, sizeof *mp);
    if (mp) {
        mp->pos = calloc((size_t)n, sizeof *mp->pos);
        mp->ranks = calloc((size_t)n, sizeof *mp->ranks);
    }
    if (!mp || !mp->pos || !mp->ranks) {
        if (mp) {
            free(mp->pos);
            free(mp->ranks);
            free(mp);
        }
        return -ENOMEM;
    }
    pthread_mutex_init(&mp->mu, NULL);
    mp->n = n;
    mp->spawned = mx_size <= 1;
    mp->comm = MPI_COMM_WORLD;
    int rc = 0;
    if (!mp->spawned) {
        rc = mx_ranks_take(n, mp->ranks);
        mp->have_ranks = rc == 0;
    } else {
        for (int w = 0; w < n; w++)
            mp->ranks[w] = w;
    }
    unsigned char fb[PX_FN_SIZE];
    size_t fl = 0;
    if (!rc)
        rc = mx_api->fnref_encode((mpx__fnptr)o->initializer, fb, sizeof fb, &fl);
    mp->open_fl = (uint32_t)fl;
    if (!rc)
        rc = mx_buf_put(&mp->open_msg, fb, fl);
    if (!rc)
        rc = mx_buf_pad8(&mp->open_msg);
    if (!rc)
        rc = mx_args_put(&mp->open_msg, o->initargs);
    for (int w = 0; w < n; w++) {
        mp->pos[w].rank = mp->ranks[w];
        mp->pos[w].open_req = MPI_REQUEST_NULL;
        for (int k = 0; k < DEPTH; k++)
            mp->pos[w].msg[k].req = MPI_REQUEST_NULL;
    }
    if (rc) {
        mpool_free(mp);
        return rc;
    }
    *out = mp;
    return 0;
}

static int prepare(mpx_pool_opts *o, int *n, void **state)
{
    int rc = mx_ensure_init();
    if (rc)
        return rc;
    if (o->threads)
        return MPX_EINVAL;
    if (o->task_timeout > 0 || o->maxtasksperchild > 0)
        return MPX_ENOTSUP; /* a rank cannot be killed or replaced: docs/mpi.md */
    rc = mx_args_check(o->initargs);
    if (rc)
        return rc;
    if (mx_size > 1) {
        int free_now = mx_ranks_free();
        if (*n == 0)
            *n = free_now;
        if (*n > mx_size - 1) {
            mpx_log(MPX_LOG_WARNING,
                    "mpx: mpi pool of %d workers, but the job has %d worker ranks (mpirun -n %d)",
                    *n, mx_size - 1, mx_size);
            return MPX_EINVAL;
        }
        if (*n == 0 || *n > free_now) {
            mpx_log(MPX_LOG_WARNING, "mpx: mpi pool: %d worker ranks free (others serve another pool)",
                    free_now);
            return -EAGAIN;
        }
    } else if (*n == 0) {
        if (!mpi_lock())
            return MPX_ESTATE;
        int *us = NULL, flag = 0;
        MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &us, &flag);
        mpi_unlock();
        *n = flag && us && *us > 1 ? *us - 1 : mpx_cpu_count_usable();
    }
    if (*n > 256)
        return MPX_EINVAL;
    /* more slots in flight than a local pool: the ranks keep working while
     * rank 0's threads wait for a CPU or replies cross a network */
    if (o->slots == 0)
        o->slots = MX_SLOTS;
    mpool *mp = NULL;
    rc = make_pool(o, *n, &mp);
    if (rc == -EAGAIN)
        mpx_log(MPX_LOG_WARNING, "mpx: mpi pool: %d worker ranks wanted, %d free", *n,
                mx_ranks_free());
    if (!rc)
        *state = mp;
    return rc;
}

/* The pool is freed: its positions have ended; end the dispatcher. */
static void release_pool(void *state)
{
    mpool *mp = state;
    if (!mp)
        return;
    pthread_mutex_lock(&mp->mu);
    bool join = mp->started && !mp->detached;
    if (join)
        atomic_store(&mp->released, true); /* under mu: it will not detach now */
    mp->closed = true;
    pthread_mutex_unlock(&mp->mu);
    if (join) {
        kick(mp);
        pthread_join(mp->thr, NULL);
    }
    mpool_free(mp);
}

const mpx__pool_backend mx_pool_backend = {prepare, release_pool, proxy};
