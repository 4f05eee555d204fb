/*
 * pool_worker.c - the pool's worker loop (process or thread), task
 * output helpers, fatal-signal backtraces, spill transfer helpers.
 * Layout and protocol: pool_internal.h and docs/pool.md.
 */
#include "core/pool_internal.h"
#include "core/args.h"
#include "core/fnref.h"
#include "os/futex.h"
#include "os/pidfd.h"

#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
_Atomic uint32_t mpx__pool_fence_word;
#endif

/* ---- task output -------------------------------------------------------- */

MPX_API void *mpx_task_out_buf(mpx_task_out *o, size_t len)
{
    if (!o)
        return NULL;
    o->set = true;
    o->len = len;
    if (len <= o->cap) {
        o->on_heap = false;
        return o->dst;
    }
    if (len > o->heap_cap) {
        unsigned char *h = realloc(o->heap, len);
        if (!h)
            return NULL;
        o->heap = h;
        o->heap_cap = len;
    }
    o->on_heap = true;
    return o->heap;
}

MPX_API int mpx_task_out_set(mpx_task_out *o, const void *data, size_t len)
{
    if (!o || (!data && len))
        return MPX_EINVAL;
    void *b = mpx_task_out_buf(o, len);
    if (!b && len)
        return -ENOMEM;
    if (len)
        memmove(b, data, len);
    return 0;
}

MPX_API int mpx_task_fail(mpx_task_out *o, const char *fmt, ...)
{
    if (!o)
        return MPX_ETASK;
    char *m = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&m, fmt ? fmt : "task failed", ap) < 0)
        m = NULL;
    va_end(ap);
    free(o->msg);
    o->msg = m;
    return MPX_ETASK;
}

/* ---- descriptors across processes ---------------------------------------- */

int mpx__pool_fetch_fd(pid_t pid, int fd, int flags)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
    int r = open(path, flags | O_CLOEXEC);
    if (r >= 0)
        return r;
    int e = -errno;
    int pfd = mpx__pidfd_open(pid);
    if (pfd >= 0) {
        r = mpx__pidfd_getfd(pfd, fd);
        close(pfd);
        if (r >= 0)
            return r;
    }
    return e;
}

int mpx__pool_read_at(int fd, uint64_t off, size_t len, unsigned char **out)
{
    unsigned char *b = malloc(len ? len : 1);
    if (!b)
        return -ENOMEM;
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, b + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? -errno : MPX_EEOF;
            free(b);
            return e;
        }
        got += (size_t)r;
    }
    *out = b;
    return 0;
}

int mpx__pool_read_spill(pid_t pid, int fd, size_t len, unsigned char **out)
{
    int f = mpx__pool_fetch_fd(pid, fd, O_RDONLY);
    if (f < 0)
        return f;
    int rc = mpx__pool_read_at(f, 0, len, out);
    close(f);
    return rc;
}

void mpx__pool_ring_parent(px_hdr *h, int evfd)
{
    PX_FENCE();
    if (atomic_load_explicit(&h->parent_sleeping, memory_order_relaxed) &&
        atomic_exchange_explicit(&h->bell_pending, 1, memory_order_acq_rel) == 0) {
        uint64_t one = 1;
        ssize_t r;
        do
            r = write(evfd, &one, 8);
        while (r < 0 && errno == EINTR);
    }
}

/* ---- fatal signals: backtrace into the shared control block ------------- */

static px_wctl *crash_ctl;

static void crash_handler(int sig)
{
    px_wctl *c = crash_ctl;
    if (c) {
        void *frames[64];
        int n = backtrace(frames, 64);
        int p[2];
        size_t len = 0;
        static const char head[] = "worker backtrace:\n";
        memcpy(c->bt, head, sizeof head - 1);
        len = sizeof head - 1;
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0) {
            backtrace_symbols_fd(frames, n, p[1]);
            close(p[1]);
            ssize_t r;
            while (len < PX_BT_SIZE - 1 && (r = read(p[0], c->bt + len, PX_BT_SIZE - 1 - len)) > 0)
                len += (size_t)r;
            close(p[0]);
        }
        atomic_store_explicit(&c->crash_sig, sig, memory_order_relaxed);
        atomic_store_explicit(&c->bt_len, (uint32_t)len, memory_order_release);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_crash_handlers(px_wctl *c)
{
    crash_ctl = c;
    void *warm[2];
    backtrace(warm, 2); /* load libgcc now, not in the handler */
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = crash_handler;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < MPX__ARRAY_LEN(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ---- the loop ------------------------------------------------------------- */

typedef struct fn_cache {
    uint32_t gen;
    mpx__fnptr fn;
    int err;
} fn_cache;

typedef struct wstate {
    px_worker_ctx *c;
    px_hdr *h;
    px_wctl *ctl;
    uint32_t me;
    fn_cache cache[PX_FN_MAX];
    uint64_t spill_pos; /* bytes of the current slot's output region in use */
    int64_t avg_ns; /* moving average of the time per slot */
    mpx_task_out out;
} wstate;

static int resolve(wstate *ws, uint32_t idx, uint32_t gen, mpx__fnptr *fn)
{
    if (idx >= PX_FN_MAX)
        return MPX_EPROTO;
    fn_cache *e = &ws->cache[idx];
    if (e->gen == gen && (e->fn || e->err)) {
        *fn = e->fn;
        return e->err;
    }
    px_fn *t = &px_fntab(ws->h)[idx];
    mpx__rd rd = {t->data, t->len <= sizeof t->data ? t->len : 0};
    mpx__fnptr f = NULL;
    int rc = mpx__fnref_decode(&rd, &f);
    if (!rc && !f)
        rc = MPX_ERESOLVE;
    e->gen = gen;
    e->fn = rc ? NULL : f;
    e->err = rc;
    *fn = e->fn;
    return rc;
}

/*
 * Spill an output that does not fit the slot's output area into the
 * parent's output file of this worker position (px_spill_write). The
 * record that points to it is committed only after this returns, so a
 * committed output is in the parent's file whatever this process does next
 * (#12: it used to stay in a memfd of the worker, lost when the worker
 * exited before the parent read it).
 */
static int spill_out(wstate *ws, px_slot *s, uint32_t sidx, const void *data, size_t len,
                     uint64_t *off)
{
    return px_spill_write(s, sidx, ws->c->w, ws->c->outfd, &ws->spill_pos, data, len, off);
}

/* Append one output record; spills when it does not fit. pos is the
 * output offset; left_after is the number of records still to come. */
static size_t put_record(wstate *ws, px_slot *s, uint32_t sidx, size_t pos, uint32_t left_after,
                         uint64_t index, int code, int task_rc, const void *data, size_t len,
                         bool already_in_place)
{
    unsigned char *o = px_out(s) + pos;
    size_t room = PX_OUT_CAP - pos;
    /* keep room for one more (spill) record while items remain; the worker
     * stops the chunk early when the area is nearly full (PX_OUT_LOW) */
    size_t reserve = left_after ? PX_OUT_REC + PX_SPILL_REC : 0;
    uint32_t flags = 0;
    if (PX_OUT_REC + PX_PAD8(len) + reserve <= room) {
        if (len && !already_in_place)
            memcpy(o + PX_OUT_REC, data, len);
    } else {
        uint64_t off = 0;
        int rc = spill_out(ws, s, sidx, data, len, &off);
        if (rc) {
            code = rc;
            task_rc = rc;
            len = 0;
        } else {
            px_put64(o + PX_OUT_REC, off);
            px_put64(o + PX_OUT_REC + 8, len);
            flags = PX_REC_SPILL;
            len = PX_SPILL_REC;
            /* recorded length below is the spill record's */
        }
    }
    px_put64(o, index);
    px_put32(o + 8, (uint32_t)code);
    px_put32(o + 12, (uint32_t)task_rc);
    px_put32(o + 16, (uint32_t)(flags ? PX_SPILL_REC : len));
    px_put32(o + 20, flags);
    return pos + PX_OUT_REC + PX_PAD8(flags ? PX_SPILL_REC : len);
}

/* Space the task may write into directly for this record. */
static void out_prepare(wstate *ws)
{
    mpx_task_out *o = &ws->out;
    o->dst = NULL;
    o->cap = 0;
    o->len = 0;
    o->set = false;
    o->on_heap = false;
    free(o->msg);
    o->msg = NULL;
}

static void run_fixed(wstate *ws, px_slot *s, uint32_t sidx);

static void run_slot(wstate *ws, px_slot *s, uint32_t sidx)
{
    mpx__fnptr fn = NULL;
    int rrc = resolve(ws, s->fn_idx, s->fn_gen, &fn);
    uint32_t n = s->nitems;
    atomic_store_explicit(&ws->ctl->cur_slot, sidx, memory_order_release);
    if (s->kind == PX_K_FIXED) {
        if (!rrc)
            run_fixed(ws, s, sidx);
        atomic_store_explicit(&s->out_items, n, memory_order_release);
        return;
    }
    /* walk the input records up to start_rec */
    const unsigned char *ip = px_in(s);
    const unsigned char *iend = ip + s->in_bytes;
    size_t pos = 0;
    pid_t owner = (pid_t)ws->h->owner_pid;
    uint32_t nout = 0;
    ws->spill_pos = 0; /* the parent freed the region when it (re)queued the slot */
    for (uint32_t r = 0; r < n && ip + PX_IN_REC <= iend; r++) {
        uint64_t index = px_get64(ip);
        uint32_t len = px_get32(ip + 8);
        uint32_t flags = px_get32(ip + 12);
        const unsigned char *data = ip + PX_IN_REC;
        ip += PX_IN_REC + PX_PAD8(len);
        if (r < s->start_rec)
            continue;
        uint32_t left_after = n - r - 1;
        atomic_store_explicit(&ws->ctl->cur_item, r, memory_order_relaxed);
        if (atomic_load_explicit(&s->cancel, memory_order_relaxed)) {
            pos = put_record(ws, s, sidx, pos, left_after, index, MPX_ECANCELED, 0, NULL, 0,
                             false);
            atomic_store_explicit(&s->out_items, ++nout, memory_order_release);
            continue;
        }
        const void *in = data;
        size_t in_len = len;
        unsigned char *spill = NULL;
        int rc = rrc;
        if (!rc && (flags & PX_REC_SPILL)) {
            int sfd = (int)px_get32(data);
            pid_t spid = (pid_t)px_get32(data + 4);
            uint64_t slen = px_get64(data + 8);
            rc = mpx__pool_read_spill(spid ? spid : owner, sfd, (size_t)slen, &spill);
            in = spill;
            in_len = (size_t)slen;
        }
        /* the task may write straight into the output area */
        mpx_task_out *o = &ws->out;
        out_prepare(ws);
        size_t room = PX_OUT_CAP - pos;
        size_t reserve = (left_after ? PX_OUT_REC + PX_SPILL_REC : 0) + PX_OUT_REC;
        o->dst = px_out(s) + pos + PX_OUT_REC;
        o->cap = room > reserve + 8 ? room - reserve - 8 : 0;
        if (s->timeout_ns > 0)
            atomic_store_explicit(&ws->ctl->item_start_ns, mpx__now_ns(), memory_order_relaxed);
        int task_rc = 0;
        if (!rc) {
            if (s->kind == PX_K_STAR) {
                mpx__rd rd = {in, in_len};
                mpx_args *a = NULL;
                rc = mpx__args_import(&rd, NULL, 0, &a);
                if (!rc) {
                    task_rc = ((mpx_star_fn)fn)(a, o);
                    mpx_args_destroy(a);
                }
            } else {
                task_rc = ((mpx_task_fn)fn)(in, in_len, o);
            }
        }
        if (s->timeout_ns > 0)
            atomic_store_explicit(&ws->ctl->item_start_ns, 0, memory_order_relaxed);
        free(spill);
        if (rc) {
            const char *m = mpx_strerror(rc);
            pos = put_record(ws, s, sidx, pos, left_after, index, rc, rc, m, strlen(m), false);
        } else if (task_rc < 0) {
            const char *m = o->msg ? o->msg : mpx_strerror(task_rc);
            pos = put_record(ws, s, sidx, pos, left_after, index, MPX_ETASK, task_rc, m,
                             strlen(m), false);
        } else if (!o->set || o->len == 0) {
            pos = put_record(ws, s, sidx, pos, left_after, index, 0, 0, NULL, 0, false);
        } else if (!o->on_heap) {
            pos = put_record(ws, s, sidx, pos, left_after, index, 0, 0, o->dst, o->len, true);
        } else {
            pos = put_record(ws, s, sidx, pos, left_after, index, 0, 0, o->heap, o->len,
                             false);
        }
        s->out_bytes = (uint32_t)pos;
        atomic_store_explicit(&s->out_items, ++nout, memory_order_release);
        /* output area (or the slot's spill region) nearly full: hand the
         * rest of the chunk back (the parent requeues it with a fresh
         * output area and region) */
        if (left_after && (PX_OUT_CAP - pos < PX_OUT_LOW || ws->spill_pos > PX_SPILL_REGION / 2))
            break;
    }
    if (ws->out.heap_cap > (1u << 20)) {
        free(ws->out.heap);
        ws->out.heap = NULL;
        ws->out.heap_cap = 0;
    }
}

/* Fast path: claim chunks of elements with an atomic counter. */
static void run_fixed(wstate *ws, px_slot *s, uint32_t sidx)
{
    (void)sidx;
    px_fixed_desc d;
    memcpy(&d, px_in(s), sizeof d);
    mpx_elem_fn fn = NULL;
    mpx__fnptr f;
    if (resolve(ws, s->fn_idx, s->fn_gen, &f))
        return;
    fn = (mpx_elem_fn)f;
    int fd = mpx__pool_fetch_fd((pid_t)d.owner_pid, d.fd, O_RDWR);
    if (fd < 0)
        return;
    unsigned char *m = mmap(NULL, d.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return;
    px_fixed_ctl *fc = (px_fixed_ctl *)m;
    const unsigned char *in = m + d.off_in;
    unsigned char *out = m + d.off_out;
    _Atomic int32_t *st = (_Atomic int32_t *)(m + d.off_status);
    const void *ctx = d.ctx_len ? m + d.off_ctx : NULL;
    bool timed = s->timeout_ns > 0;
    for (;;) {
        uint64_t lo, hi;
        uint64_t c = atomic_fetch_add_explicit(&fc->next, d.chunk, memory_order_relaxed);
        if (c < d.n) {
            lo = c;
            hi = c + d.chunk < d.n ? c + d.chunk : d.n;
        } else {
            uint32_t nr = atomic_load_explicit(&fc->nredo, memory_order_acquire);
            uint32_t i;
            for (i = 0; i < nr && i < PX_REDO_MAX; i++) {
                uint32_t z = 0;
                if (atomic_compare_exchange_strong(&fc->redo[i].claimed, &z, 1))
                    break;
            }
            if (i >= nr || i >= PX_REDO_MAX)
                break;
            lo = fc->redo[i].lo;
            hi = fc->redo[i].hi;
        }
        atomic_store_explicit(&ws->ctl->cur_end, hi, memory_order_relaxed);
        for (uint64_t k = lo; k < hi; k++) {
            atomic_store_explicit(&ws->ctl->cur_item, k, memory_order_relaxed);
            if (timed)
                atomic_store_explicit(&ws->ctl->item_start_ns, mpx__now_ns(), memory_order_relaxed);
            int rc = fn(in + k * d.in_size, out + k * d.out_size, ctx);
            atomic_store_explicit(&st[k], rc < 0 ? rc : 1, memory_order_release);
        }
        if (timed)
            atomic_store_explicit(&ws->ctl->item_start_ns, 0, memory_order_relaxed);
        if (atomic_load_explicit(&s->cancel, memory_order_relaxed))
            break;
    }
    atomic_store_explicit(&ws->ctl->cur_end, 0, memory_order_relaxed);
    munmap(m, d.map_size);
}

static void complete(wstate *ws, uint32_t sidx)
{
    px_wctl *ctl = ws->ctl;
    _Atomic uint32_t *comp = px_comp(ws->h, ws->c->w);
    uint64_t t = atomic_load_explicit(&ctl->c_tail, memory_order_relaxed);
    atomic_store_explicit(&comp[t % ws->h->nslots], sidx, memory_order_relaxed);
    atomic_store_explicit(&ctl->c_tail, t + 1, memory_order_release);
}

int mpx__pool_worker_loop(px_worker_ctx *c)
{
    wstate *ws = calloc(1, sizeof *ws);
    if (!ws)
        return -ENOMEM;
    ws->c = c;
    ws->h = c->h;
    ws->ctl = px_wctl_of(c->h, c->w);
    px_hdr *h = c->h;
    px_wctl *ctl = ws->ctl;
    uint32_t gen = atomic_load(&ctl->gen);
    ws->me = (c->w + 1) | (gen << 16);
    uint32_t max_tasks = ctl->max_tasks;
    uint32_t done = 0;
    uint32_t nslots = h->nslots;
    _Atomic uint64_t *ring = px_ring(h);
    int spin = h->spin;
    uint32_t batch[64];
    uint64_t seqs[64];
    for (;;) {
        uint64_t hd = atomic_load_explicit(&h->head, memory_order_acquire);
        uint64_t tl = atomic_load_explicit(&h->tail, memory_order_acquire);
        if (hd == tl) {
            if (atomic_load_explicit(&h->shutdown, memory_order_acquire))
                break;
            /* bounded spin, then sleep on the doorbell */
            int i;
            for (i = 0; i < spin; i++) {
                mpx__cpu_relax();
                if (atomic_load_explicit(&h->tail, memory_order_relaxed) !=
                    atomic_load_explicit(&h->head, memory_order_relaxed))
                    break;
            }
            if (i < spin)
                continue;
            uint32_t v = atomic_load_explicit(&h->work_bell, memory_order_acquire);
            atomic_fetch_add_explicit(&h->sleepers, 1, memory_order_seq_cst);
            PX_FENCE();
            if (atomic_load_explicit(&h->tail, memory_order_seq_cst) ==
                    atomic_load_explicit(&h->head, memory_order_seq_cst) &&
                !atomic_load_explicit(&h->shutdown, memory_order_seq_cst))
                mpx__futex_wait(&h->work_bell, v, MPX__NEVER);
            atomic_fetch_sub_explicit(&h->sleepers, 1, memory_order_seq_cst);
            continue;
        }
        /* how many to take: short tasks in batches, long ones one by one */
        uint64_t avail = tl - hd;
        /* unknown or long tasks: one at a time, as Python workers take them */
        uint64_t want = ws->avg_ns == 0 || ws->avg_ns > 20000
                            ? 1
                            : avail / (h->nworkers ? h->nworkers : 1) + 1;
        if (want > 32)
            want = 32;
        if (want > avail)
            want = avail;
        if (max_tasks && want > max_tasks - done)
            want = max_tasks - done;
        for (uint64_t k = 0; k < want; k++) {
            uint64_t e = atomic_load_explicit(&ring[(hd + k) % nslots], memory_order_relaxed);
            batch[k] = (uint32_t)e;
            seqs[k] = e >> 32;
        }
        if (!atomic_compare_exchange_weak_explicit(&h->head, &hd, hd + want, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        /* claim every slot of the batch before running any */
        uint32_t mine[64];
        uint32_t nm = 0;
        for (uint64_t k = 0; k < want; k++) {
            px_slot *s = px_slot_of(h, batch[k]);
            uint64_t exp = seqs[k] << 32;
            if (atomic_compare_exchange_strong_explicit(&s->claim, &exp, exp | ws->me,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire)) {
                mine[nm++] = batch[k];
            }
        }
        int64_t t0 = mpx__now_ns();
        for (uint32_t k = 0; k < nm; k++) {
            px_slot *s = px_slot_of(h, mine[k]);
            run_slot(ws, s, mine[k]);
            atomic_store_explicit(&ctl->cur_slot, PX_NONE, memory_order_release);
            complete(ws, mine[k]);
            done++;
            atomic_store_explicit(&ctl->tasks_done, done, memory_order_relaxed);
            if (k + 1 == nm || (k & 7) == 7)
                mpx__pool_ring_parent(h, c->evfd);
        }
        if (nm) {
            int64_t dt = (mpx__now_ns() - t0) / nm; /* per slot, one clock read per batch */
            ws->avg_ns = ws->avg_ns ? (ws->avg_ns * 7 + dt) / 8 : (dt ? dt : 1);
            /* published for the parent's packing decision (fill_slot) */
            atomic_store_explicit(&ctl->avg_ns,
                                  ws->avg_ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ws->avg_ns,
                                  memory_order_relaxed);
        }
        if (max_tasks && done >= max_tasks)
            break;
    }
    atomic_store_explicit(&ctl->state, PX_W_EXITING, memory_order_release);
    mpx__pool_ring_parent(h, c->evfd);
    free(ws->out.heap);
    free(ws->out.msg);
    free(ws);
    return 0;
}

/* args: fd(shm), fd(eventfd), fd(output file), bytes(config: u64 size,
 * u32 w, fnref init), then the initargs. */
int mpx__pool_worker_main(const mpx_args *a)
{
    int shmfd = mpx_args_fd(a, 0);
    int evfd = mpx_args_fd(a, 1);
    int outfd = mpx_args_fd(a, 2);
    const void *cfg;
    size_t cfglen;
    if (shmfd < 0 || evfd < 0 || outfd < 0 || mpx_args_get_bytes(a, 3, &cfg, &cfglen))
        return MPX_EPROTO;
    mpx__rd rd = {cfg, cfglen};
    uint64_t size;
    uint32_t w;
    mpx__fnptr init = NULL;
    int rc = mpx__rd_u64(&rd, &size);
    if (!rc)
        rc = mpx__rd_u32(&rd, &w);
    if (!rc)
        rc = mpx__fnref_decode(&rd, &init);
    if (rc)
        return rc;
    px_hdr *h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, shmfd, 0);
    if (h == MAP_FAILED)
        return -errno;
    if (h->magic != MPX__POOL_MAGIC || w >= h->nworkers)
        return MPX_EPROTO;
    px_wctl *ctl = px_wctl_of(h, w);
    atomic_store(&ctl->pid, (int32_t)getpid());
    install_crash_handlers(ctl);
    mpx_args *ia = NULL;
    rc = mpx_args_create(&ia);
    for (size_t i = 4; !rc && i < mpx_args_count(a); i++) {
        switch (mpx_args_type(a, i)) {
        case MPX_ARG_INT: rc = mpx_args_add_int(ia, mpx_args_int(a, i)); break;
        case MPX_ARG_DOUBLE: rc = mpx_args_add_double(ia, mpx_args_double(a, i)); break;
        case MPX_ARG_STR: rc = mpx_args_add_str(ia, mpx_args_str(a, i)); break;
        case MPX_ARG_BYTES: {
            const void *p;
            size_t l;
            mpx_args_get_bytes(a, i, &p, &l);
            rc = mpx_args_add_bytes(ia, p, l);
            break;
        }
        case MPX_ARG_FD: rc = mpx_args_add_fd(ia, mpx_args_fd(a, i)); break;
        case MPX_ARG_OBJECT: rc = mpx_args_add_object(ia, mpx_args_object(a, i)); break;
        case MPX_ARG_OBJ: rc = mpx_args_add_obj(ia, mpx_args_obj(a, i)); break;
        default: break;
        }
    }
    if (!rc && init)
        rc = ((mpx_init_fn)init)(ia);
    if (rc) {
        mpx_args_destroy(ia);
        return rc;
    }
    atomic_store_explicit(&ctl->state, PX_W_READY, memory_order_release);
    px_worker_ctx c = {.h = h, .w = w, .evfd = evfd, .outfd = outfd, .thread = false};
    rc = mpx__pool_worker_loop(&c);
    mpx_args_destroy(ia);
    return rc;
}
