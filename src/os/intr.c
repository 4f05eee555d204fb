/*
 * intr.c - interruptible futex sleeps (intr.h explains the design).
 *
 * The io_uring structures are declared here, not taken from
 * <linux/io_uring.h>, so the library builds against older kernel headers
 * (the futex opcode is from Linux 6.7) and decides at run time.
 */
#include "os/intr.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_io_uring_enter
#define SYS_io_uring_enter 426
#endif
#ifndef SYS_io_uring_register
#define SYS_io_uring_register 427
#endif

enum {
    UR_OP_LINK_TIMEOUT = 15,
    UR_OP_FUTEX_WAIT = 51, /* Linux 6.7 */
    UR_SQE_IO_LINK = 1u << 2,
    UR_TIMEOUT_ABS = 1u << 0,
    UR_ENTER_GETEVENTS = 1u << 0,
    UR_ENTER_EXT_ARG = 1u << 3,
    UR_FEAT_SINGLE_MMAP = 1u << 0,
    UR_FEAT_EXT_ARG = 1u << 8,
    UR_REGISTER_PROBE = 8,
    UR_OP_SUPPORTED = 1u << 0,
    UR_FUTEX2_SIZE_U32 = 0x02, /* shared (not FUTEX2_PRIVATE): memfd mappings */
};
#define UR_OFF_SQ_RING 0ULL
#define UR_OFF_CQ_RING 0x8000000ULL
#define UR_OFF_SQES 0x10000000ULL

struct ur_sqe {
    uint8_t opcode, flags;
    uint16_t ioprio;
    int32_t fd;
    uint64_t off_addr2;
    uint64_t addr;
    uint32_t len;
    uint32_t op_flags; /* timeout_flags, futex_flags ... */
    uint64_t user_data;
    uint16_t buf_index, personality;
    int32_t splice_fd_in;
    uint64_t addr3, pad2;
};
struct ur_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};
struct ur_sq_off {
    uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
    uint64_t resv2;
};
struct ur_cq_off {
    uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
    uint64_t resv2;
};
struct ur_params {
    uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd,
        resv[3];
    struct ur_sq_off sq_off;
    struct ur_cq_off cq_off;
};
struct ur_getevents_arg {
    uint64_t sigmask;
    uint32_t sigmask_sz, pad;
    uint64_t ts;
};
struct ur_probe {
    uint8_t last_op, ops_len;
    uint16_t resv;
    uint32_t resv2[3];
    struct {
        uint8_t op, resv;
        uint16_t flags;
        uint32_t resv2;
    } ops[256];
};
struct ur_timespec {
    int64_t tv_sec;
    long long tv_nsec;
};
_Static_assert(sizeof(struct ur_sqe) == 64, "io_uring sqe layout");
_Static_assert(sizeof(struct ur_params) == 120, "io_uring params layout");

struct mpx__ring {
    int fd;
    void *sq_map, *cq_map;
    size_t sq_len, cq_len, sqes_len;
    struct ur_sqe *sqes;
    _Atomic uint32_t *sq_tail, *cq_head, *cq_tail;
    uint32_t *sq_array, sq_mask, cq_mask;
    struct ur_cqe *cqes;
};

/* 0 not known yet, 1 io_uring futex waits work here, -1 they do not. */
static _Atomic int ring_state;

static void ring_close(struct mpx__ring *r)
{
    if (!r)
        return;
    if (r->sqes)
        munmap(r->sqes, r->sqes_len);
    if (r->cq_map && r->cq_map != r->sq_map)
        munmap(r->cq_map, r->cq_len);
    if (r->sq_map)
        munmap(r->sq_map, r->sq_len);
    if (r->fd >= 0)
        mpx__close(r->fd); /* cancels whatever is still in flight */
    free(r);
}

static bool ring_probe(int fd)
{
    struct ur_probe *p = calloc(1, sizeof *p);
    if (!p)
        return false;
    bool ok = syscall(SYS_io_uring_register, fd, UR_REGISTER_PROBE, p, 256) == 0 &&
              p->last_op >= UR_OP_FUTEX_WAIT &&
              (p->ops[UR_OP_FUTEX_WAIT].flags & UR_OP_SUPPORTED) &&
              (p->ops[UR_OP_LINK_TIMEOUT].flags & UR_OP_SUPPORTED);
    free(p);
    return ok;
}

/* A ring for one wait, or NULL (then the fallback sleeps). */
static struct mpx__ring *ring_open(void)
{
    int st = atomic_load_explicit(&ring_state, memory_order_relaxed);
    if (st < 0)
        return NULL;
    if (st == 0) {
        const char *e = getenv("MPX_SYNC_INTR_URING");
        if (e && *e == '0') {
            atomic_store(&ring_state, -1);
            return NULL;
        }
    }
    struct ur_params pr;
    memset(&pr, 0, sizeof pr);
    int fd = (int)syscall(SYS_io_uring_setup, 2, &pr);
    if (fd < 0) {
        if (errno != ENOMEM && errno != EMFILE && errno != ENFILE && errno != EAGAIN)
            atomic_store(&ring_state, -1); /* ENOSYS, EPERM (disabled, seccomp) ... */
        return NULL;
    }
    if (!(pr.features & UR_FEAT_EXT_ARG) || !(pr.features & UR_FEAT_SINGLE_MMAP) ||
        (st == 0 && !ring_probe(fd))) {
        atomic_store(&ring_state, -1);
        mpx__close(fd);
        return NULL;
    }
    struct mpx__ring *r = calloc(1, sizeof *r);
    if (!r) {
        mpx__close(fd);
        return NULL;
    }
    r->fd = fd;
    size_t sq_len = pr.sq_off.array + pr.sq_entries * sizeof(uint32_t);
    size_t cq_len = pr.cq_off.cqes + pr.cq_entries * sizeof(struct ur_cqe);
    r->sq_len = r->cq_len = sq_len > cq_len ? sq_len : cq_len;
    r->sq_map = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                     UR_OFF_SQ_RING);
    r->cq_map = r->sq_map;
    r->sqes_len = pr.sq_entries * sizeof(struct ur_sqe);
    r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                   UR_OFF_SQES);
    if (r->sq_map == MAP_FAILED || r->sqes == MAP_FAILED) {
        if (r->sq_map == MAP_FAILED)
            r->sq_map = r->cq_map = NULL;
        if (r->sqes == MAP_FAILED)
            r->sqes = NULL;
        ring_close(r);
        return NULL;
    }
    char *sq = r->sq_map, *cq = r->cq_map;
    r->sq_tail = (_Atomic uint32_t *)(void *)(sq + pr.sq_off.tail);
    r->sq_mask = *(uint32_t *)(void *)(sq + pr.sq_off.ring_mask);
    r->sq_array = (uint32_t *)(void *)(sq + pr.sq_off.array);
    r->cq_head = (_Atomic uint32_t *)(void *)(cq + pr.cq_off.head);
    r->cq_tail = (_Atomic uint32_t *)(void *)(cq + pr.cq_off.tail);
    r->cq_mask = *(uint32_t *)(void *)(cq + pr.cq_off.ring_mask);
    r->cqes = (struct ur_cqe *)(void *)(cq + pr.cq_off.cqes);
    atomic_store(&ring_state, 1);
    return r;
}

/* The signals an interruptible wait holds back between its sleeps: all
 * but those that cannot be blocked or are raised by a fault of the thread
 * itself (blocking those would turn a crash into a kill). */
static void block_set(sigset_t *s)
{
    sigfillset(s);
    static const int keep[] = {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL,
                               SIGFPE,  SIGTRAP, SIGSYS,  SIGABRT};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        sigdelset(s, keep[i]);
}

/* Is a signal pending that the caller's mask lets through and whose
 * delivery does something (a handler, or a default action other than
 * ignoring it)? Its handler runs when mpx__intr_done restores the mask. */
static bool handler_pending(const mpx__intr *w)
{
    sigset_t p;
    if (sigpending(&p) != 0)
        return false;
    for (int s = 1; s < NSIG; s++) {
        if (sigismember(&p, s) != 1 || sigismember(&w->old, s) == 1)
            continue;
        struct sigaction sa;
        if (sigaction(s, NULL, &sa) != 0)
            continue;
        if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN)
            continue;
        if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL &&
            (s == SIGCHLD || s == SIGCONT || s == SIGURG || s == SIGWINCH))
            continue;
        return true;
    }
    return false;
}

/* One sleep through the ring: the caller's mask is in force exactly while
 * the kernel waits. 0, MPX_ETIMEDOUT, -EINTR, or 1: the ring failed (fall
 * back). */
static int ring_sleep(mpx__intr *w, _Atomic uint32_t *word, uint32_t val, mpx__deadline until)
{
    struct mpx__ring *r = w->ring;
    struct ur_timespec ts = {until / 1000000000, until % 1000000000};
    bool timed = until != MPX__NEVER;
    unsigned n = timed ? 2 : 1;
    uint32_t tail = atomic_load_explicit(r->sq_tail, memory_order_relaxed);
    struct ur_sqe *s = &r->sqes[tail & r->sq_mask];
    memset(s, 0, sizeof *s);
    s->opcode = UR_OP_FUTEX_WAIT;
    s->fd = UR_FUTEX2_SIZE_U32;
    s->addr = (uint64_t)(uintptr_t)word;
    s->off_addr2 = val;
    s->addr3 = FUTEX_BITSET_MATCH_ANY;
    s->user_data = 1;
    s->flags = timed ? UR_SQE_IO_LINK : 0;
    r->sq_array[tail & r->sq_mask] = tail & r->sq_mask;
    if (timed) {
        s = &r->sqes[(tail + 1) & r->sq_mask];
        memset(s, 0, sizeof *s);
        s->opcode = UR_OP_LINK_TIMEOUT;
        s->addr = (uint64_t)(uintptr_t)&ts; /* CLOCK_MONOTONIC, absolute */
        s->len = 1;
        s->op_flags = UR_TIMEOUT_ABS;
        s->user_data = 2;
        r->sq_array[(tail + 1) & r->sq_mask] = (tail + 1) & r->sq_mask;
    }
    atomic_store_explicit(r->sq_tail, tail + n, memory_order_release);
    /* Submit first, then wait: io_uring_enter reports what it submitted
     * rather than an interrupted wait when it does both in one call. */
    long sr = syscall(SYS_io_uring_enter, r->fd, n, 0, 0, NULL, 0);
    if (sr != (long)n) {
        ring_close(w->ring);
        w->ring = NULL;
        return 1;
    }
    struct ur_getevents_arg arg = {(uint64_t)(uintptr_t)&w->old, _NSIG / 8, 0, 0};
    unsigned submit = 0, got = 0;
    int fres = 0;
    while (got < n) {
        long rc = syscall(SYS_io_uring_enter, r->fd, submit, n - got,
                          UR_ENTER_GETEVENTS | UR_ENTER_EXT_ARG, &arg, sizeof arg);
        if (rc < 0) {
            int e = errno;
            if (e == EINTR) {
                /* a handler ran (the mask is ours again): the requests
                 * still in flight go with the ring */
                ring_close(w->ring);
                w->ring = NULL;
                return -EINTR;
            }
            ring_close(w->ring);
            w->ring = NULL;
            return 1;
        }
        if (submit && (unsigned)rc < submit) { /* not all submitted: give up on rings */
            ring_close(w->ring);
            w->ring = NULL;
            return 1;
        }
        submit = 0;
        uint32_t head = atomic_load_explicit(r->cq_head, memory_order_relaxed);
        uint32_t ctail = atomic_load_explicit(r->cq_tail, memory_order_acquire);
        for (; head != ctail; head++, got++) {
            struct ur_cqe *c = &r->cqes[head & r->cq_mask];
            if (c->user_data == 1)
                fres = c->res;
        }
        atomic_store_explicit(r->cq_head, head, memory_order_release);
    }
    if (fres == 0 || fres == -EAGAIN)
        return 0;
    if (fres == -ECANCELED || fres == -ETIME)
        return MPX_ETIMEDOUT; /* the linked timeout fired */
    if (fres == -EINVAL || fres == -EOPNOTSUPP) {
        atomic_store(&ring_state, -1);
        return 1;
    }
    return 0; /* anything else: re-check */
}

void mpx__intr_begin(mpx__intr *w)
{
    if (!w->on || w->blocked)
        return;
    sigset_t all;
    block_set(&all);
    if (pthread_sigmask(SIG_BLOCK, &all, &w->old) == 0)
        w->blocked = true;
}

int mpx__intr_futex_wait(mpx__intr *w, _Atomic uint32_t *word, uint32_t val,
                         mpx__deadline until)
{
    if (!w->on) {
        int r = mpx__futex_wait(word, val, until);
        return r == -EINTR ? 0 : r;
    }
    mpx__intr_begin(w);
    if (!w->blocked)
        return 0;
    if (handler_pending(w))
        return -EINTR;
    int r = 1;
    if (!w->ring && atomic_load_explicit(&ring_state, memory_order_relaxed) >= 0)
        w->ring = ring_open();
    if (w->ring)
        r = ring_sleep(w, word, val, until);
    if (r == 1) {
        /* Fallback: unblock, sleep, block again. A finite timeout makes
         * the kernel answer -EINTR rather than restart the sleep after an
         * SA_RESTART handler. */
        sigset_t cur;
        mpx__deadline u = until;
        bool slice = u == MPX__NEVER;
        if (slice)
            u = mpx__now_ns() + 3600LL * 1000000000;
        pthread_sigmask(SIG_SETMASK, &w->old, &cur);
        r = mpx__futex_wait(word, val, u);
        pthread_sigmask(SIG_SETMASK, &cur, NULL);
        if (r == MPX_ETIMEDOUT && slice)
            r = 0;
        if (r == -EINTR)
            return -EINTR;
    }
    /* A sleep that ended by its deadline while a signal arrived: the wait
     * was interrupted. A wake-up is returned as it is (the caller re-checks
     * its condition and the next sleep sees the signal), so no wake-up is
     * lost to an interruption. */
    if (r == MPX_ETIMEDOUT && handler_pending(w))
        return -EINTR;
    return r;
}

void mpx__intr_done(mpx__intr *w)
{
    ring_close(w->ring);
    w->ring = NULL;
    if (w->blocked)
        pthread_sigmask(SIG_SETMASK, &w->old, NULL);
    w->blocked = false;
}

int mpx__intr_exact(void)
{
    int st = atomic_load(&ring_state);
    if (st == 0) {
        struct mpx__ring *r = ring_open();
        ring_close(r);
        st = atomic_load(&ring_state);
    }
    return st > 0;
}
