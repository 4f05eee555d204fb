/*
 * queue_overflow.c - the overflow store of a Queue: where messages go when
 * the ring has no room (Python's Queue() never blocks a put: its feeder
 * thread buffers without limit). docs/queue.md, "Unbounded queues".
 *
 * The store is a second byte log in the same memfd, after the header and
 * the ring: ovf_size bytes (a power of two) at offset ovf_off. Every
 * process reserves the whole range once, on first use (PROT_NONE,
 * MAP_NORESERVE: address space only), and makes windows of it (owin
 * bytes, 1 MiB or more) readable and writable as it first touches them.
 * Allocation goes by whole windows, so a window is accessible in a process
 * only once the memfd covers all of it: no accessible page lies beyond the
 * end of the file, and what scans a process's memory (valgrind's leak
 * checker, a core dump) sees only the part of the store in use.
 *
 *  - The P holder appends records at o_tail. Before writing it allocates
 *    the range with fallocate() (o_alloc: allocated through there), so a
 *    missing page is a clean -ENOMEM from the put, never a SIGBUS or an
 *    OOM kill at a page fault, and the file size grows before anyone can
 *    touch the new range. The file never shrinks (nothing truncates it;
 *    memory goes back with FALLOC_FL_PUNCH_HOLE, which keeps the size), so
 *    no process can touch a page beyond the end of the file.
 *  - The C holder copies records out at o_head and punches the pages it
 *    has passed (o_free: returned below there), in batches of PUNCH_MIN and
 *    whenever the store becomes empty. A producer never allocates beyond
 *    o_free + ovf_size, so it never writes a page that a punch is about to
 *    drop.
 *  - Publication goes through redo journals as in the ring (opj_*, ocj_*),
 *    so a process killed at any instruction leaves the old or the new
 *    state; a record written but not published is overwritten later.
 *
 * Order: the P holder writes to the ring only while the store is empty,
 * so every ring record is older than every stored one, and a consumer
 * takes from the store only when the ring is empty (queue.c, take()).
 */
#include "core/queue_internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define OVF_MIN ((uint64_t)64 << 10)
#define OVF_MAX ((uint64_t)1 << 44)            /* 16 TiB of address space */
#define OVF_DEFAULT_MIN ((uint64_t)1 << 30)    /* 1 GiB */
#define OVF_CHUNK ((uint64_t)1 << 20)          /* smallest window */
#define OVF_MAX_WINDOWS ((uint64_t)1 << 16)    /* windows per store, at most */
#define PUNCH_MIN ((uint64_t)256 << 10)        /* return memory in batches */

static uint64_t page_size(void)
{
    static _Atomic uint64_t pg;
    uint64_t p = atomic_load_explicit(&pg, memory_order_relaxed);
    if (!p) {
        long s = sysconf(_SC_PAGESIZE);
        p = s > 0 ? (uint64_t)s : 4096;
        atomic_store_explicit(&pg, p, memory_order_relaxed);
    }
    return p;
}

static uint64_t pg_down(uint64_t x)
{
    return x & ~(page_size() - 1);
}

/* Windows of 1 MiB, or 1/64 of a small store (at least a page), or more
 * for a huge one (at most 65536 windows: the bitmap stays small). */
uint64_t mpx__qo_window(uint64_t osize)
{
    uint64_t w = osize / OVF_MAX_WINDOWS;
    if (w >= OVF_CHUNK)
        return w;
    w = osize / 64;
    if (w < page_size())
        w = page_size();
    return w < OVF_CHUNK ? w : OVF_CHUNK;
}

static uint64_t w_up(const mpx_queue *q, uint64_t x)
{
    return (x + q->owin - 1) & ~(q->owin - 1);
}

/* The default size: the machine's memory (RAM + swap) rounded up to a power
 * of two, at least 1 GiB, and no more address space than this process can
 * reserve (RLIMIT_AS, valgrind): probed once. */
static uint64_t default_size(void)
{
    static _Atomic uint64_t cached;
    uint64_t c = atomic_load(&cached);
    if (c)
        return c;
    uint64_t mem = OVF_DEFAULT_MIN;
    struct sysinfo si;
    if (sysinfo(&si) == 0)
        mem = ((uint64_t)si.totalram + (uint64_t)si.totalswap) * (si.mem_unit ? si.mem_unit : 1);
    uint64_t want = OVF_DEFAULT_MIN;
    while (want < mem && want < OVF_MAX)
        want <<= 1;
    while (want > OVF_DEFAULT_MIN) {
        void *p = mmap(NULL, (size_t)want, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (p != MAP_FAILED) {
            munmap(p, (size_t)want);
            break;
        }
        want >>= 1;
    }
    atomic_store(&cached, want);
    return want;
}

int mpx__qo_size(int64_t opt, uint64_t *size)
{
    if (opt < 0) {
        *size = 0;
        return 0;
    }
    if (opt == 0) {
        *size = default_size();
        return 0;
    }
    if ((uint64_t)opt > OVF_MAX || (uint64_t)opt > SIZE_MAX / 2)
        return MPX_EINVAL;
    uint64_t s = OVF_MIN < page_size() ? page_size() : OVF_MIN;
    while (s < (uint64_t)opt)
        s <<= 1;
    *size = s;
    return 0;
}

/* This process's reservation of the store, made on first use (NULL: no
 * address space). Threads race benignly: one mapping wins, and one window
 * bitmap (all windows of a new reservation are inaccessible, so any
 * bitmap of zeros describes it). */
static unsigned char *obase(mpx_queue *q)
{
    unsigned char *b = atomic_load_explicit(&q->obase, memory_order_acquire);
    if (b)
        return b;
    if (!atomic_load(&q->obits)) {
        _Atomic uint64_t *bits = calloc((size_t)(q->osize / q->owin + 63) / 64, sizeof *bits);
        if (!bits)
            return NULL;
        _Atomic uint64_t *none = NULL;
        if (!atomic_compare_exchange_strong(&q->obits, &none, bits))
            free((void *)bits);
    }
    void *a = mmap(NULL, (size_t)q->osize, PROT_NONE, MAP_SHARED | MAP_NORESERVE, q->map.fd,
                   (off_t)q->sh->ovf_off);
    if (a == MAP_FAILED) {
        MPX__DEBUG("queue: cannot reserve the overflow store (%llu bytes): errno %d",
                   (unsigned long long)q->osize, errno);
        return NULL;
    }
    madvise(a, (size_t)q->osize, MADV_DONTDUMP); /* messages do not belong in a core */
    unsigned char *expect = NULL;
    if (!atomic_compare_exchange_strong(&q->obase, &expect, (unsigned char *)a)) {
        munmap(a, (size_t)q->osize);
        return expect;
    }
    return a;
}

/* Make the windows over store positions [pos, pos + n) accessible in this
 * process. They are allocated in the memfd (the caller writes below
 * o_alloc or reads below o_tail). 0 or -ENOMEM. */
static int o_access(mpx_queue *q, unsigned char *base, uint64_t pos, uint64_t n)
{
    _Atomic uint64_t *bits = atomic_load(&q->obits);
    uint64_t nwin = q->osize / q->owin;
    uint64_t first = (pos & q->omask) / q->owin;
    uint64_t count = n ? ((pos & (q->owin - 1)) + n + q->owin - 1) / q->owin : 1;
    if (count > nwin)
        count = nwin;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t i = (first + k) % nwin;
        uint64_t bit = (uint64_t)1 << (i % 64);
        if (atomic_load_explicit(&bits[i / 64], memory_order_relaxed) & bit)
            continue;
        if (mprotect(base + i * q->owin, (size_t)q->owin, PROT_READ | PROT_WRITE) < 0) {
            MPX__DEBUG("queue: mprotect of a store window failed: errno %d", errno);
            return -ENOMEM;
        }
        atomic_fetch_or(&bits[i / 64], bit);
    }
    return 0;
}

void mpx__qo_unmap(mpx_queue *q)
{
    unsigned char *b = atomic_exchange(&q->obase, NULL);
    if (b)
        munmap(b, (size_t)q->osize);
    free((void *)atomic_exchange(&q->obits, NULL));
}

static void o_write(mpx_queue *q, unsigned char *base, uint64_t pos, const void *src, uint64_t n)
{
    uint64_t off = pos & q->omask;
    uint64_t first = q->osize - off;
    if (first > n)
        first = n;
    if (first)
        memcpy(base + off, src, (size_t)first);
    if (n > first)
        memcpy(base, (const unsigned char *)src + first, (size_t)(n - first));
}

static void o_read(mpx_queue *q, const unsigned char *base, uint64_t pos, void *dst, uint64_t n)
{
    uint64_t off = pos & q->omask;
    uint64_t first = q->osize - off;
    if (first > n)
        first = n;
    if (first)
        memcpy(dst, base + off, (size_t)first);
    if (n > first)
        memcpy((unsigned char *)dst + first, base, (size_t)(n - first));
}

/* fallocate(mode) over store positions [from, to), split where the log
 * wraps. 0 or -errno. */
static int o_falloc(mpx_queue *q, int mode, uint64_t from, uint64_t to)
{
    while (from < to) {
        uint64_t off = from & q->omask;
        uint64_t n = q->osize - off;
        if (n > to - from)
            n = to - from;
        int r;
        do
            r = fallocate(q->map.fd, mode, (off_t)(q->sh->ovf_off + off), (off_t)n);
        while (r < 0 && errno == EINTR);
        if (r < 0)
            return -errno;
        from += n;
    }
    return 0;
}

/* P held: make [o_tail, end) allocated. 0 or -ENOMEM. */
static int o_ensure(mpx_queue *q, uint64_t end)
{
    qshared *sh = q->sh;
    uint64_t alloc = LD(sh->o_alloc);
    if (end <= alloc)
        return 0;
    /* By whole windows (o_alloc stays window aligned), and never past
     * o_free + size: that range may still be being punched. */
    uint64_t limit = (LDA(sh->o_free) & ~(q->owin - 1)) + q->osize;
    uint64_t need = w_up(q, end);
    if (need > limit) {
        MPX__DEBUG("queue: overflow store full (%llu bytes)", (unsigned long long)q->osize);
        return -ENOMEM;
    }
    uint64_t want = alloc + q->owin > need ? alloc + q->owin : need;
    if (want > limit)
        want = limit;
    /* Announced first, so that the recovery after a death in fallocate
     * returns what it allocated. */
    ST(sh->o_alloc_try, want);
    int rc = o_falloc(q, 0, alloc, want);
    if (rc && want > need) {
        want = need;
        rc = o_falloc(q, 0, alloc, want);
    }
    if (rc) {
        MPX__DEBUG("queue: cannot allocate %llu bytes for the overflow store: %d",
                   (unsigned long long)(want - alloc), rc);
        ST(sh->o_alloc_try, 0);
        return -ENOMEM;
    }
    ST(sh->o_alloc, want);
    return 0;
}

static void op_publish(qshared *sh, uint64_t tail, uint64_t put)
{
    ST(sh->opj_tail, tail);
    ST(sh->opj_put, put);
    STR(sh->opj_valid, 1);
    STR(sh->put_count, put); /* count before the data (queue.c, p_publish) */
    STR(sh->o_tail, tail);
    STR(sh->opj_valid, 0);
}

int mpx__qo_put(mpx_queue *q, const void *data, size_t len)
{
    qshared *sh = q->sh;
    if ((uint64_t)len > q->osize - REC_HDR - 8)
        return -ENOMEM;
    uint64_t rec = align8(REC_HDR + (uint64_t)len);
    unsigned char *base = obase(q);
    if (!base)
        return -ENOMEM;
    uint64_t t = LD(sh->o_tail);
    int rc = o_ensure(q, t + rec);
    if (!rc)
        rc = o_access(q, base, t, rec);
    if (rc)
        return rc;
    rec_hdr h = {K_FULL, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len, 0, (uint64_t)len};
    o_write(q, base, t, &h, REC_HDR);
    if (len)
        o_write(q, base, t + REC_HDR, data, (uint64_t)len);
    op_publish(sh, t + rec, LD(sh->put_count) + 1);
    if (LD(sh->o_alloc_try))
        ST(sh->o_alloc_try, 0);
    return 0;
}

static void oc_publish(qshared *sh, uint64_t old_head, uint64_t head, uint64_t get)
{
    ST(sh->ocj_old_head, old_head);
    ST(sh->ocj_head, head);
    ST(sh->ocj_get, get);
    STR(sh->ocj_valid, 1);
    STR(sh->o_head, head); /* first: recovery tells "not started" by it */
    STR(sh->get_count, get);
    STR(sh->ocj_valid, 0);
}

/* C held: give back the pages below o_head (whole pages), when enough have
 * gathered or when the store is empty. */
static void o_punch(mpx_queue *q, bool all)
{
    qshared *sh = q->sh;
    uint64_t from = LD(sh->o_free);
    uint64_t to = pg_down(LD(sh->o_head));
    if (to <= from || (!all && to - from < PUNCH_MIN))
        return;
    int rc = o_falloc(q, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, from, to);
    if (rc) {
        MPX__DEBUG("queue: punching the overflow store failed: %d", rc);
        return; /* the memory stays in use; o_free stays, so no one reuses it early */
    }
    STR(sh->o_free, to);
}

int mpx__qo_take(mpx_queue *q, getdst *g)
{
    qshared *sh = q->sh;
    uint64_t ot = atomic_load_explicit(&sh->o_tail, memory_order_acquire);
    uint64_t oh = LD(sh->o_head);
    if (ot == oh)
        return TAKE_EMPTY;
    /* A ring record published before this store record was published
     * before o_tail moved: it is visible now, and it is older. */
    if (atomic_load_explicit(&sh->tail, memory_order_acquire) != LD(sh->head))
        return TAKE_RING;
    unsigned char *base = obase(q);
    if (!base)
        return -ENOMEM;
    if (ot - oh < REC_HDR || ot - oh > q->osize)
        return MPX_EBROKEN;
    if (o_access(q, base, oh, REC_HDR))
        return -ENOMEM;
    rec_hdr h;
    o_read(q, base, oh, &h, REC_HDR);
    if (h.kind != K_FULL || h.total > ot - oh || align8(REC_HDR + h.total) > ot - oh)
        return MPX_EBROKEN;
    if (o_access(q, base, oh, align8(REC_HDR + h.total)))
        return -ENOMEM;
    if (h.total > SIZE_MAX)
        return -ENOMEM;
    size_t n = (size_t)h.total;
    if (g->into) {
        if (g->cap < n) {
            *g->len = n;
            return MPX_ETOOSHORT;
        }
        o_read(q, base, oh + REC_HDR, g->buf, n);
        *g->len = n;
    } else {
        void *m = malloc(n ? n : 1);
        if (!m)
            return -ENOMEM;
        o_read(q, base, oh + REC_HDR, m, n);
        *g->out = m;
        *g->len = n;
    }
    uint64_t nh = oh + align8(REC_HDR + h.total);
    oc_publish(sh, oh, nh, LD(sh->get_count) + 1);
    o_punch(q, nh == atomic_load(&sh->o_tail));
    g->deferred = LD(sh->head);
    return 0;
}

void mpx__qo_p_recover_slow(mpx_queue *q)
{
    qshared *sh = q->sh;
    if (LDA(sh->opj_valid)) {
        MPX__DEBUG("queue: redo producer journal (overflow store)");
        STR(sh->put_count, LD(sh->opj_put));
        STR(sh->o_tail, LD(sh->opj_tail));
        STR(sh->opj_valid, 0);
    }
    /* A producer that died inside a put that allocated (o_alloc_try set)
     * leaves the range it allocated for the message: give back more than
     * a put allocates ahead. o_alloc first: a death before the punch only
     * leaves memory in use. */
    uint64_t at = LD(sh->o_alloc_try);
    if (!at)
        return;
    uint64_t t = LD(sh->o_tail), a = LD(sh->o_alloc);
    if (at > a)
        a = at;
    if (a - t > q->owin) {
        uint64_t keep = w_up(q, t);
        MPX__DEBUG("queue: returning %llu bytes a dead producer allocated",
                   (unsigned long long)(a - keep));
        ST(sh->o_alloc, keep);
        ST(sh->o_alloc_try, 0);
        o_falloc(q, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, keep, a);
    } else {
        ST(sh->o_alloc_try, 0);
    }
}

void mpx__qo_c_recover_slow(mpx_queue *q)
{
    qshared *sh = q->sh;
    if (!LDA(sh->ocj_valid))
        return;
    uint64_t old = LD(sh->ocj_old_head);
    if (atomic_load(&sh->o_head) == old) {
        MPX__DEBUG("queue: roll back consumer journal (overflow store: message stays queued)");
    } else {
        MPX__DEBUG("queue: redo consumer journal (overflow store)");
        STR(sh->o_head, LD(sh->ocj_head));
        STR(sh->get_count, LD(sh->ocj_get));
    }
    STR(sh->ocj_valid, 0);
}

void mpx__qo_discard(mpx_queue *q)
{
    qshared *sh = q->sh;
    uint64_t ot = LD(sh->o_tail), oh = LD(sh->o_head);
    if (ot == oh)
        return;
    /* Count what is dropped by walking the records (get_count stays
     * consistent with qsize and task_done). */
    unsigned char *base = obase(q);
    uint64_t n = 0;
    if (base) {
        for (uint64_t p = oh; p < ot;) {
            rec_hdr h;
            if (o_access(q, base, p, REC_HDR))
                break;
            o_read(q, base, p, &h, REC_HDR);
            if (h.kind != K_FULL || align8(REC_HDR + h.total) > ot - p)
                break;
            p += align8(REC_HDR + h.total);
            n++;
        }
    }
    oc_publish(sh, oh, ot, LD(sh->get_count) + n);
    o_punch(q, true);
}

int64_t mpx__queue_mem_bytes(mpx_queue *q)
{
    struct stat st;
    if (!q || fstat(q->map.fd, &st) < 0)
        return -1;
    return (int64_t)st.st_blocks * 512;
}
