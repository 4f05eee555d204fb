/* test_queue_crash.c - queue crash safety: producers and consumers
 * SIGKILLed at random points and in the middle of a message (QUEUE-17),
 * get timeouts mid-stream, and the owner-death check that pid reuse cannot
 * fool (#14). Children are started with the mpx_process API so the tests
 * run under every start method. */
#include "harness.h"
#include "queue_util.h"

#include "core/lockword.h"
#include "core/object.h"
#include "core/queue_internal.h"
#include "os/proc.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>


/* ---- crash safety: SIGKILL producers and consumers at random points ----------------------------- */

#define CS_PRODS 64
#define CS_MAXSEQ 200000

typedef struct cs_shared {
    _Atomic int64_t acked[CS_PRODS];   /* last seq whose put returned 0 */
    _Atomic int stop;
    _Atomic int bad;                    /* consumer found a broken message */
    _Atomic int64_t received;
    _Atomic unsigned char seen[CS_PRODS][CS_MAXSEQ];
} cs_shared;

static cs_shared *cs_map(int fd)
{
    void *p = mmap(NULL, sizeof(cs_shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static size_t cs_len(uint64_t prod, uint64_t seq)
{
    uint64_t r = mix64(prod * 31337 + seq);
    if (r % 16 == 0)
        return sizeof(pmsg) + 8192 + (size_t)(r >> 20) % 40000; /* > the 16 KiB ring */
    return sizeof(pmsg) + (size_t)(r >> 20) % 500;
}

static int t_cs_producer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    cs_shared *s = cs_map(mpx_args_fd(a, 1));
    uint32_t prod = (uint32_t)mpx_args_int(a, 2);
    if (!s)
        return 1;
    unsigned char *b = malloc(60000);
    for (uint64_t seq = 0; seq < CS_MAXSEQ && !atomic_load(&s->stop); seq++) {
        size_t n = cs_len(prod, seq);
        pmsg h = {prod, (uint32_t)n, seq};
        memcpy(b, &h, sizeof h);
        fill(b + sizeof h, n - sizeof h, prod, seq);
        int rc = mpx_queue_put(q, b, n, MPX_FOREVER);
        if (rc) {
            atomic_store(&s->bad, 100 + (rc < 0 ? -rc % 100 : rc));
            return 2;
        }
        atomic_store(&s->acked[prod], (int64_t)seq);
    }
    free(b);
    return 0;
}

static int t_cs_consumer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    cs_shared *s = cs_map(mpx_args_fd(a, 1));
    if (!s)
        return 1;
    int64_t last[CS_PRODS];
    for (int i = 0; i < CS_PRODS; i++)
        last[i] = -1;
    for (;;) {
        void *m;
        size_t n;
        int rc = mpx_queue_get(q, &m, &n, MPX_FOREVER);
        if (rc == MPX_ESHUTDOWN)
            return 0;
        if (rc) {
            atomic_store(&s->bad, 200 + (rc < 0 ? -rc % 100 : rc));
            return 2;
        }
        /* Record first (cheap header read), verify after: the window
         * between the get's commit and this mark is what a kill may lose. */
        pmsg h;
        int v = n >= sizeof h ? 0 : 1;
        if (!v) {
            memcpy(&h, m, sizeof h);
            if (h.prod >= CS_PRODS || h.seq >= CS_MAXSEQ)
                v = 2;
        }
        if (!v) {
            atomic_fetch_add(&s->seen[h.prod][h.seq], 1);
            if (h.len != n || cs_len(h.prod, h.seq) != n)
                v = 2;
            else if (!check_fill((unsigned char *)m + sizeof h, n - sizeof h, h.prod, h.seq))
                v = 3;
            else if ((int64_t)h.seq <= last[h.prod])
                v = 4;
        }
        mpx_free(m);
        if (v) {
            atomic_store(&s->bad, v);
            return 3;
        }
        last[h.prod] = (int64_t)h.seq;
        atomic_fetch_add(&s->received, 1);
    }
}

static mpx_process *cs_start(mpx_target_fn fn, mpx_queue *q, int fd, int64_t id)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    CHECK_OK(mpx_args_add_fd(a, fd));
    CHECK_OK(mpx_args_add_int(a, id));
    mpx_process *p = start_args(fn, a);
    mpx_args_destroy(a);
    return p;
}

static void crash_loop(int64_t maxsize, int64_t ovf)
{
    int fd = memfd_create("cs", MFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, sizeof(cs_shared)) == 0);
    cs_shared *s = cs_map(fd);
    CHECK(s != NULL);
    for (int i = 0; i < CS_PRODS; i++)
        s->acked[i] = -1;
    mpx_queue *q = mkq_ovf(maxsize, 16384, ovf);
    enum { NP = 2, NC = 2 };
    mpx_process *prod[NP], *cons[NC];
    int prod_id[NP];
    int next_id = 0, kills_p = 0, kills_c = 0;
    for (int i = 0; i < NP; i++) {
        prod_id[i] = next_id;
        prod[i] = cs_start(t_cs_producer, q, fd, next_id++);
    }
    for (int i = 0; i < NC; i++)
        cons[i] = cs_start(t_cs_consumer, q, fd, i);
    uint64_t rnd = (uint64_t)mpx_test_now_ms();
    int64_t t0 = mpx_test_now_ms();
    /* About 4 s, and at least 30 kills (a slow start method, a sanitizer
     * or a loaded machine makes each replacement slower), at most 60 s. */
    while ((mpx_test_now_ms() - t0 < 4000 || kills_p + kills_c < 30) &&
           mpx_test_now_ms() - t0 < 60000 && next_id < CS_PRODS - NP) {
        rnd = mix64(rnd + 1);
        struct timespec t = {0, (long)(rnd % 60000) * 1000L}; /* 0-60 ms */
        nanosleep(&t, NULL);
        CHECK_EQ(atomic_load(&s->bad), 0);
        if ((rnd >> 32) & 1) {
            int i = (int)((rnd >> 40) % NP);
            CHECK_OK(mpx_process_kill(prod[i]));
            CHECK_EQ(mpx_process_join(prod[i], 10000), 1);
            mpx_process_destroy(prod[i]);
            kills_p++;
            prod_id[i] = next_id;
            prod[i] = cs_start(t_cs_producer, q, fd, next_id++);
        } else {
            int i = (int)((rnd >> 40) % NC);
            CHECK_OK(mpx_process_kill(cons[i]));
            CHECK_EQ(mpx_process_join(cons[i], 10000), 1);
            mpx_process_destroy(cons[i]);
            kills_c++;
            cons[i] = cs_start(t_cs_consumer, q, fd, i);
        }
    }
    (void)prod_id;
    atomic_store(&s->stop, 1);
    for (int i = 0; i < NP; i++)
        CHECK_EQ(join_destroy(prod[i]), 0);
    CHECK_OK(mpx_queue_shutdown(q, 0));
    for (int i = 0; i < NC; i++)
        CHECK_EQ(join_destroy(cons[i]), 0);
    CHECK_EQ(atomic_load(&s->bad), 0);
    /* Every acknowledged message arrived exactly once, except at most one
     * per killed consumer (taken by a get that the kill interrupted after
     * it committed); nothing arrived twice. */
    int64_t missing = 0, dup = 0, acked_total = 0;
    for (int p = 0; p < next_id; p++) {
        int64_t acked = atomic_load(&s->acked[p]);
        for (int64_t k = 0; k < CS_MAXSEQ; k++) {
            int c = atomic_load(&s->seen[p][k]);
            if (c > 1)
                dup++;
            if (k <= acked) {
                acked_total++;
                if (c == 0)
                    missing++;
            } else if (k > acked + 1 && c) {
                dup++; /* beyond what was put: impossible */
            }
        }
    }
    fprintf(stderr, "crash loop: %d producer kills, %d consumer kills, %lld acked, %lld received, "
                    "%lld missing\n",
            kills_p, kills_c, (long long)acked_total, (long long)atomic_load(&s->received),
            (long long)missing);
    CHECK_EQ(dup, 0);
    CHECK(missing <= kills_c);
    CHECK(acked_total > 100);
    CHECK(kills_p + kills_c > 20);
    mpx_queue_destroy(q);
    munmap(s, sizeof *s);
    close(fd);
}

/* Ring only: the larger messages are streamed through the 16 KiB ring. */
MPX_TEST_T(queue_17_crash_safety_random_sigkill, 120)
{
    crash_loop(0, MPX_QUEUE_NO_OVERFLOW);
}

/* With the overflow store, spilling at once when the ring is full (no
 * wait for room), so kills land in store puts and gets too; maxsize keeps
 * the producers from running far ahead of the consumers. */
MPX_TEST_T(queue_17_crash_safety_random_sigkill_overflow, 120)
{
    setenv("MPX_QUEUE_SPILL_US", "0", 1);
    crash_loop(300, 0);
    unsetenv("MPX_QUEUE_SPILL_US");
}

/* QUEUE-17 (fixed): a producer killed while streaming a message larger than
 * the ring (and left a zombie: not joined yet) holds the producer lock; the
 * next put takes the lock over, ends the partial stream, and a get never
 * sees any part of it. */
MPX_TEST_T(queue_17_killed_producer_mid_stream_zombie, 60)
{
    mpx_queue *q = mkq_ring(0, 16384);
    int64_t args[2] = {200000, 1};
    mpx_process *p = start_q(t_put_big, q, 2, args);
    sleep_ms(300); /* the ring is full of the partial stream */
    CHECK_OK(mpx_process_kill(p));
    sleep_ms(100); /* the child is a zombie now: kill(pid, 0) still succeeds */
    put_str(q, "after the crash");
    get_expect(q, "after the crash");
    void *m;
    size_t n;
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    int code = 0;
    CHECK_EQ(mpx_process_join(p, 10000), 1);
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, -SIGKILL);
    mpx_process_destroy(p);
    /* The queue still carries large messages both ways. */
    mpx_queue_destroy(q);
}

static int t_get_big_check(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    size_t len = (size_t)mpx_args_int(a, 1);
    void *m;
    size_t n;
    int rc = mpx_queue_get(q, &m, &n, 30000);
    if (rc)
        return 2;
    rc = n == len && check_fill(m, n, len, 0) ? 0 : 3;
    mpx_free(m);
    return rc;
}

/* A consumer killed while receiving a message larger than the ring: the
 * producer's put does not return until a consumer has it all, so it sends
 * it again to the next consumer; nothing partial is delivered. */
MPX_TEST_T(queue_17_killed_consumer_mid_stream_resend, 60)
{
    mpx_queue *q = mkq_ring(0, 4096);
    const int64_t len = 8 << 20;
    int64_t args[2] = {len, 1};
    mpx_process *prod = start_q(t_put_big, q, 2, args);
    sleep_ms(200); /* the producer filled the ring and waits */
    kill(mpx_process_pid(prod), SIGSTOP);
    /* c1 takes the start of the message, then waits for the rest. */
    mpx_process *c1 = start_q(t_get_big_check, q, 1, &len);
    sleep_ms(300);
    CHECK_OK(mpx_process_kill(c1));
    CHECK_EQ(mpx_process_join(c1, 10000), 1);
    mpx_process_destroy(c1);
    kill(mpx_process_pid(prod), SIGCONT);
    mpx_process *c2 = start_q(t_get_big_check, q, 1, &len);
    CHECK_EQ(join_destroy(c2), 0);
    CHECK_EQ(join_destroy(prod), 0);
    void *m;
    size_t n;
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    mpx_queue_destroy(q);
}

/* A get that times out in the middle of a message larger than the ring
 * (its producer stalled) gives up after the grace period with Empty and
 * without delivering a part; the producer sends the message again and the
 * next get receives all of it. */
MPX_TEST_T(queue_09_get_timeout_mid_stream_resend, 60)
{
    mpx_queue *q = mkq_ring(0, 4096);
    const int64_t len = 1 << 20;
    int64_t args[2] = {len, 1};
    mpx_process *prod = start_q(t_put_big, q, 2, args);
    sleep_ms(200);
    kill(mpx_process_pid(prod), SIGSTOP);
    void *m = NULL;
    size_t n = 0;
    int64_t t0 = mpx_test_now_ms();
    CHECK_ERR(mpx_queue_get(q, &m, &n, 100), MPX_EEMPTY);
    int64_t dt = mpx_test_now_ms() - t0;
    CHECK(dt >= 90 && dt < 10000);
    kill(mpx_process_pid(prod), SIGCONT);
    CHECK_OK(mpx_queue_get(q, &m, &n, 30000));
    CHECK_EQ(n, (size_t)len);
    CHECK(check_fill(m, n, (uint64_t)len, 0));
    mpx_free(m);
    CHECK_EQ(join_destroy(prod), 0);
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    mpx_queue_destroy(q);
}

/* The objtype hooks spawn and forkserver use: export, import (here into
 * the same process: a second mapping of the same queue), drop. */
MPX_TEST(queue_export_import_hooks)
{
    mpx_queue *q = mkq(3, 8192);
    mpx__obj *o = mpx__obj_of(q);
    CHECK(o && o->type->export_ && o->type->import_ && o->type->drop);
    CHECK(mpx__objtype_find("queue") == o->type);
    mpx__buf data;
    mpx__buf_init(&data);
    mpx__fdlist fds = {.n = 0};
    CHECK_OK(o->type->export_(q, &data, &fds));
    CHECK_EQ(fds.n, 2);
    int dup_fds[2] = {dup(fds.fds[0]), dup(fds.fds[1])};
    mpx__rd rd = {data.data, data.len};
    void *imp = NULL;
    CHECK_OK(o->type->import_(&rd, dup_fds, 2, &imp));
    mpx_queue *q2 = imp;
    CHECK_EQ(mpx_queue_maxsize(q2), 3);
    put_str(q, "through the first mapping");
    get_expect(q2, "through the first mapping");
    unsigned char big[30000];
    fill(big, sizeof big, 5, 6);
    /* Larger than the ring: into the overflow store, through the second
     * mapping; the first one reads it. */
    CHECK_OK(mpx_queue_put(q2, big, sizeof big, 50));
    put_str(q2, "back");
    void *m = NULL;
    size_t n = 0;
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
    CHECK_EQ(n, sizeof big);
    CHECK_MEMEQ(m, big, n);
    mpx_free(m);
    get_expect(q, "back");
    mpx_queue_destroy(q2); /* imported: released by drop only */
    CHECK_EQ(mpx_queue_qsize(q2), 0);
    o->type->drop(q2);
    /* Bad export data: MPX_EPROTO, descriptors closed. */
    unsigned char junk[20] = {1, 0, 0, 0};
    int d2[2] = {dup(fds.fds[0]), dup(fds.fds[1])};
    mpx__rd bad = {junk, sizeof junk};
    imp = NULL;
    CHECK_ERR(o->type->import_(&bad, d2, 2, &imp), MPX_EPROTO);
    CHECK(imp == NULL);
    mpx__rd shortrd = {data.data, 3};
    int d3[2] = {dup(fds.fds[0]), dup(fds.fds[1])};
    CHECK(o->type->import_(&shortrd, d3, 2, &imp) != 0);
    int d4[1] = {dup(fds.fds[0])};
    rd = (mpx__rd){data.data, data.len};
    CHECK_ERR(o->type->import_(&rd, d4, 1, &imp), MPX_EPROTO);
    mpx__buf_free(&data);
    mpx_queue_destroy(q);
}

/* LIS-15 with queues: mpx_wait over two queues and a timeout; a child's
 * put wakes the wait and names the right queue. */
MPX_TEST(queue_mpx_wait_two_queues)
{
    mpx_queue *a = mkq(0, 0), *b = mkq(0, 0);
    void *objs[2] = {a, b}, *ready[2] = {NULL, NULL};
    CHECK_EQ(mpx_wait_objects(objs, 2, 50, ready), 0);
    int64_t ms = 100;
    mpx_process *p = start_q(t_put_after, b, 1, &ms);
    CHECK_EQ(mpx_wait_objects(objs, 2, 10000, ready), 1);
    CHECK_EQ(join_destroy(p), 0);
    (void)ready;
    CHECK_EQ(mpx_wait_objects(objs, 2, 0, ready), 1);
    CHECK(ready[0] == b);
    get_expect(b, "late");
    CHECK_EQ(mpx_wait_objects(objs, 2, 0, ready), 0);
    put_str(a, "x");
    CHECK_EQ(mpx_wait_objects(objs, 2, 0, ready), 1);
    CHECK(ready[0] == a);
    mpx_waitable w[2] = {{a, -1, 0}, {b, -1, 0}};
    CHECK_EQ(mpx_wait(w, 2, 0), 1);
    CHECK_EQ(w[0].ready, 1);
    CHECK_EQ(w[1].ready, 0);
    get_expect(a, "x");
    CHECK_EQ(mpx_wait(w, 2, 20), 0);
    CHECK_OK(mpx_queue_shutdown(b, 0)); /* shut down: a get returns at once */
    CHECK_EQ(mpx_wait(w, 2, 1000), 1);
    CHECK_EQ(w[1].ready, 1);
    mpx_queue_destroy(a);
    mpx_queue_destroy(b);
}

static int t_hello(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    return mpx_queue_put(q, "hello", 5, MPX_FOREVER) ? 1 : 0;
}

/* EX-04: with the spawn context, the child puts 'hello' on a queue made
 * for that context; the parent prints it. Also forkserver. */
MPX_TEST(queue_ex04_spawn_context_hello)
{
    const char *methods[2] = {"spawn", "forkserver"};
    for (int i = 0; i < 2; i++) {
        mpx_context *ctx = NULL;
        CHECK_OK(mpx_get_context(&ctx, methods[i]));
        mpx_queue_opts o = {0};
        o.ctx = ctx;
        mpx_queue *q;
        CHECK_OK(mpx_queue_create(&q, 0, &o));
        mpx_args *a;
        CHECK_OK(mpx_args_create(&a));
        CHECK_OK(mpx_args_add_object(a, q));
        mpx_process_opts po = {0};
        po.ctx = ctx;
        mpx_process *p;
        CHECK_OK(mpx_process_create(&p, t_hello, a, &po));
        mpx_args_destroy(a);
        CHECK_OK(mpx_process_start(p));
        get_expect(q, "hello");
        CHECK_EQ(join_destroy(p), 0);
        mpx_queue_destroy(q);
    }
}

/* ---- owner death immune to pid reuse (#14) ------------------------------------------------------ */

/* The token (core/lockword.h) of live process pid as it would be after
 * its pid was reused: the pid with a start time that is not its own. With
 * right set, its real token. */
static uint64_t token_of(pid_t pid, bool right)
{
    char state;
    uint64_t start = 0;
    CHECK_OK(mpx__proc_stat(pid, &state, &start));
    uint32_t st = (uint32_t)start;
    if (!right)
        st = st ^ 0x5a5a5a5au ? st ^ 0x5a5a5a5au : 1u;
    return ((uint64_t)st << 32) | ((uint32_t)pid & MPX__LK_PIDMASK);
}

/* A producer (consumer) lock whose word names a process that died while
 * holding it, its pid now used by another live process (here: our parent,
 * the test runner, with another start time), is taken over: the put (get)
 * succeeds. Before #14 the queue's lock word held the pid only and such a
 * lock looked held forever. A word naming the live process with its own
 * start time stays held (the call ends with its timeout, nothing taken). */
MPX_TEST_T(queue_lock_owner_pid_reuse_taken_over, 300)
{
    pid_t other = getppid();
    CHECK(other > 1 && other != getpid());
    mpx_queue *q = mkq(0, 0);
    qshared *sh = q->sh;

    /* live holder: its own token; nothing is taken over */
    atomic_store(&sh->p_lock, token_of(other, true) | MPX__LK_W64);
    CHECK_ERR(mpx_queue_put(q, "x", 1, 50), MPX_EFULL);
    CHECK_EQ(atomic_load(&sh->p_lock) & ~MPX__LK_FLAGBITS, token_of(other, true));
    CHECK_EQ(mpx_queue_qsize(q), 0);

    /* the same pid with another start time: a dead holder's pid, reused */
    atomic_store(&sh->p_lock, token_of(other, false) | MPX__LK_W64);
    CHECK_OK(mpx_queue_put(q, "reused-p", 8, 60000));
    CHECK_EQ(atomic_load(&sh->p_lock), 0);

    atomic_store(&sh->c_lock, token_of(other, true) | MPX__LK_W64);
    void *m = NULL;
    size_t n = 0;
    CHECK_ERR(mpx_queue_get(q, &m, &n, 50), MPX_EEMPTY);
    CHECK(m == NULL);
    atomic_store(&sh->c_lock, token_of(other, false) | MPX__LK_W64);
    CHECK_OK(mpx_queue_get(q, &m, &n, 60000));
    CHECK_EQ(n, 8);
    CHECK(memcmp(m, "reused-p", 8) == 0);
    mpx_free(m);
    CHECK_EQ(atomic_load(&sh->c_lock), 0);

    /* our own pid with another start time: an earlier process with our pid */
    atomic_store(&sh->p_lock, token_of(getpid(), false));
    CHECK_OK(mpx_queue_put(q, "own", 3, 60000));
    get_expect(q, "own");
    mpx_queue_destroy(q);
}
