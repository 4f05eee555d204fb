/*
 * bench/seed_benchmarks.c - the seed's "Some simple benchmarks comparing
 * multiprocessing with threading" (R. Oudkerk, in
 * shared/seeds/000_e55a7ec4056c8ac0.txt) ported to C.
 *
 * Each test doubles its iteration count until one run lasts at least
 * delta seconds (1 s in the seed) and reports iterations per second of
 * that run, exactly as the seed does. Two variants of each test:
 *
 *   mpx  the library: Process, Queue, Pipe, Array, Lock, RLock, Condition
 *        (each only when its component is built; otherwise nan)
 *   raw  the same job with bare OS primitives: fork, an SPSC ring in
 *        shared memory, a pipe with 4-byte length framing, a shared int
 *        array, process-shared pthread mutexes and condition variables
 *
 * The seed's manager variants (a Queue and a Condition, a list, a Lock, an
 * RLock and a Condition "managed by server process") use mpx's SyncManager
 * started under fork, through its default transport for a local mpx client
 * (the shared-memory channels, docs/manager.md); their raw variant makes
 * the same number of 64-byte round trips over that transport with nothing
 * on top (bench/lchan.h), where one client alone makes them (list, lock,
 * rlock; the queue and condition tests block in the server: no raw row).
 * bench/seed_benchmarks.py is the seed itself in Python 3 (the cpython
 * column). Usage:
 *
 *   seed_benchmarks [--delta S]                  print every test, seed style
 *   seed_benchmarks --figure NAME --side mpx|raw [--delta S]
 *                                                one number (for mpxbench)
 *
 * NAME is seed_queue, seed_pipe, seed_array_lock, seed_array_nolock,
 * seed_lock, seed_rlock, seed_condition, or a manager variant seed_mgr_queue,
 * seed_mgr_list, seed_mgr_lock, seed_mgr_rlock, seed_mgr_condition.
 */
#include "bench.h"
#include "lchan.h"
#include "ring.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>

#include <mpx.h>

#ifndef MPXB_HAVE_CONNECTION
#define MPXB_HAVE_CONNECTION 0
#endif
#ifndef MPXB_HAVE_SYNC
#define MPXB_HAVE_SYNC 0
#endif
#ifndef MPXB_HAVE_SHAREDCTYPES
#define MPXB_HAVE_SHAREDCTYPES 0
#endif
#ifndef MPXB_HAVE_QUEUE
#define MPXB_HAVE_QUEUE 0
#endif
#ifndef MPXB_HAVE_MANAGER
#define MPXB_HAVE_MANAGER 0
#endif

static double delta = 1.0;
static char why[512];

#define FAIL(...) (snprintf(why, sizeof why, __VA_ARGS__), -1.0)

/* The doubling loop of every seed test: run(ctx, iterations) returns the
 * elapsed seconds; the result is iterations (times mult) per second. */
static double seed_loop(double (*run)(void *, long), void *ctx, double mult, long *iters,
                        double *secs)
{
    double elapsed = 0;
    long iterations = 1;
    while (elapsed < delta) {
        iterations *= 2;
        elapsed = run(ctx, iterations);
        if (elapsed < 0)
            return -1;
    }
    *iters = iterations;
    *secs = elapsed;
    return (double)iterations * mult / elapsed;
}

/* ================================================================== */
/* raw primitives                                                       */
/* ================================================================== */

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
} pcond;

static pcond *pcond_new(int recursive)
{
    pcond *p = bench_shared(sizeof *p);
    if (!p)
        return NULL;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    if (recursive)
        pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&p->m, &ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_cond_init(&p->c, &ca);
    return p;
}

static void pcond_free(pcond *p)
{
    pthread_cond_destroy(&p->c);
    pthread_mutex_destroy(&p->m);
    munmap(p, sizeof *p);
}

/* ---- TEST_QUEUESPEED, raw: the child pushes into an SPSC ring ---- */

static double raw_queue_run(void *ctx, long iterations)
{
    (void)ctx;
    ring *q = ring_create(1 << 18);
    pcond *c = pcond_new(0);
    if (!q || !c)
        return FAIL("mmap failed");
    pthread_mutex_lock(&c->m);
    pid_t pid = fork();
    if (pid == 0) {
        char a[256];
        memset(a, '0', sizeof a);
        pthread_mutex_lock(&c->m);
        pthread_cond_signal(&c->c);
        pthread_mutex_unlock(&c->m);
        for (long i = 0; i < iterations; i++)
            ring_push(q, a, sizeof a);
        ring_push(q, "STOP", 4);
        _exit(0);
    }
    pthread_cond_wait(&c->c, &c->m);
    pthread_mutex_unlock(&c->m);
    char result[256];
    long n;
    double t = bench_now();
    do
        n = ring_pop(q, result, sizeof result);
    while (!(n == 4 && !memcmp(result, "STOP", 4)));
    double elapsed = bench_now() - t;
    bench_wait_ok(pid);
    ring_destroy(q);
    pcond_free(c);
    return elapsed;
}

/* ---- TEST_PIPESPEED, raw: a pipe with 4-byte length framing ---- */

static int frame_send(int fd, const void *p, uint32_t n)
{
    char buf[4 + 256];
    uint32_t be = htonl(n);
    memcpy(buf, &be, 4);
    memcpy(buf + 4, p, n);
    return bench_write_all(fd, buf, 4 + n);
}

static long frame_recv(int fd, void *p, uint32_t cap)
{
    uint32_t be;
    if (bench_read_all(fd, &be, 4))
        return -1;
    uint32_t n = ntohl(be);
    if (n > cap || bench_read_all(fd, p, n))
        return -1;
    return n;
}

static double raw_pipe_run(void *ctx, long iterations)
{
    (void)ctx;
    /* The seed's Pipe() is duplex: a socketpair in CPython and in mpx
     * (mpx_pipe(.., 1)), so the raw side is a socketpair too (a plain
     * pipe moves small frames about 1.3x faster on this machine: another
     * kernel object, not the same operation; docs/benchmarks.md). */
    int fd[2];
    pcond *c = pcond_new(0);
    if (!c || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd))
        return FAIL("socketpair failed");
    pthread_mutex_lock(&c->m);
    pid_t pid = fork();
    if (pid == 0) {
        char a[256];
        memset(a, '0', sizeof a);
        close(fd[0]);
        pthread_mutex_lock(&c->m);
        pthread_cond_signal(&c->c);
        pthread_mutex_unlock(&c->m);
        for (long i = 0; i < iterations; i++)
            frame_send(fd[1], a, sizeof a);
        frame_send(fd[1], "STOP", 4);
        _exit(0);
    }
    close(fd[1]);
    pthread_cond_wait(&c->c, &c->m);
    pthread_mutex_unlock(&c->m);
    char result[256];
    long n;
    double t = bench_now();
    do
        n = frame_recv(fd[0], result, sizeof result);
    while (n >= 0 && !(n == 4 && !memcmp(result, "STOP", 4)));
    double elapsed = bench_now() - t;
    close(fd[0]);
    bench_wait_ok(pid);
    pcond_free(c);
    return n < 0 ? FAIL("pipe read failed") : elapsed;
}

/* ---- TEST_SEQSPEED, raw: a shared int array, with and without a lock ---- */

typedef struct {
    pthread_mutex_t m;
    volatile int32_t a[10];
} raw_array;

static double raw_seq_nolock_run(void *ctx, long iterations)
{
    raw_array *s = ctx;
    int32_t a = 0;
    double t = bench_now();
    for (long i = 0; i < iterations; i++)
        a = s->a[5];
    BENCH_KEEP(a);
    return bench_now() - t;
}

static double raw_seq_lock_run(void *ctx, long iterations)
{
    raw_array *s = ctx;
    int32_t a = 0;
    double t = bench_now();
    for (long i = 0; i < iterations; i++) {
        pthread_mutex_lock(&s->m);
        a = s->a[5];
        pthread_mutex_unlock(&s->m);
    }
    BENCH_KEEP(a);
    return bench_now() - t;
}

/* ---- TEST_LOCK, raw: process-shared pthread mutex ---- */

static double raw_lock_run(void *ctx, long iterations)
{
    pthread_mutex_t *m = ctx;
    double t = bench_now();
    for (long i = 0; i < iterations; i++) {
        pthread_mutex_lock(m);
        pthread_mutex_unlock(m);
    }
    return bench_now() - t;
}

/* ---- TEST_CONDITION, raw: process-shared pthread condition ---- */

static double raw_cond_run(void *ctx, long iterations)
{
    pcond *c = ctx;
    pthread_mutex_lock(&c->m);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(&c->m);
        pthread_cond_signal(&c->c);
        for (long i = 0; i < iterations; i++) {
            pthread_cond_wait(&c->c, &c->m);
            pthread_cond_signal(&c->c);
        }
        pthread_mutex_unlock(&c->m);
        _exit(0);
    }
    pthread_cond_wait(&c->c, &c->m);
    double t = bench_now();
    for (long i = 0; i < iterations; i++) {
        pthread_cond_signal(&c->c);
        pthread_cond_wait(&c->c, &c->m);
    }
    double elapsed = bench_now() - t;
    pthread_mutex_unlock(&c->m);
    bench_wait_ok(pid);
    return elapsed;
}

/* ---- the manager variants, raw: k round trips per iteration over the
 * local transport's channel (lchan.h) ---- */

typedef struct {
    lch l;
    int k;
    unsigned char req[LCH_MSG], rep[LCH_MSG];
} raw_trips;

static double raw_trips_run(void *ctx, long iterations)
{
    raw_trips *x = ctx;
    double t = bench_now();
    for (long i = 0; i < iterations; i++)
        for (int j = 0; j < x->k; j++)
            if (lch_call(&x->l, 0, x->req, x->rep))
                return FAIL("raw round trip failed");
    return bench_now() - t;
}

static double raw_figure(const char *name, long *iters, double *secs)
{
    if (!strcmp(name, "seed_mgr_queue") || !strcmp(name, "seed_mgr_condition"))
        return FAIL("raw: no raw variant (two clients block in the server); mgr_dict_local gives "
                    "the transport's round trip");
    if (!strcmp(name, "seed_mgr_list") || !strcmp(name, "seed_mgr_lock") ||
        !strcmp(name, "seed_mgr_rlock")) {
        /* seq[5]: one call; acquire + release: two */
        raw_trips *x = calloc(1, sizeof *x);
        if (!x || lch_server_start(&x->l, 1, 1))
            return free(x), FAIL("raw: starting the server failed");
        x->k = strcmp(name, "seed_mgr_list") ? 2 : 1;
        double r = seed_loop(raw_trips_run, x, 1, iters, secs);
        if (lch_server_stop(&x->l))
            r = FAIL("raw: the server failed");
        free(x);
        return r;
    }
    if (!strcmp(name, "seed_queue"))
        return seed_loop(raw_queue_run, NULL, 1, iters, secs);
    if (!strcmp(name, "seed_pipe"))
        return seed_loop(raw_pipe_run, NULL, 1, iters, secs);
    if (!strcmp(name, "seed_array_nolock") || !strcmp(name, "seed_array_lock")) {
        raw_array *s = bench_shared(sizeof *s);
        if (!s)
            return FAIL("mmap failed");
        pthread_mutexattr_t ma;
        pthread_mutexattr_init(&ma);
        pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE); /* Array's default lock is an RLock */
        pthread_mutex_init(&s->m, &ma);
        for (int i = 0; i < 10; i++)
            s->a[i] = i;
        double r = seed_loop(strstr(name, "nolock") ? raw_seq_nolock_run : raw_seq_lock_run, s, 1,
                             iters, secs);
        munmap(s, sizeof *s);
        return r;
    }
    if (!strcmp(name, "seed_lock") || !strcmp(name, "seed_rlock")) {
        pcond *c = pcond_new(!strcmp(name, "seed_rlock"));
        if (!c)
            return FAIL("mmap failed");
        double r = seed_loop(raw_lock_run, &c->m, 1, iters, secs);
        pcond_free(c);
        return r;
    }
    if (!strcmp(name, "seed_condition")) {
        pcond *c = pcond_new(0);
        if (!c)
            return FAIL("mmap failed");
        double r = seed_loop(raw_cond_run, c, 2, iters, secs);
        pcond_free(c);
        return r;
    }
    return FAIL("unknown figure %s", name);
}

/* ================================================================== */
/* mpx                                                                  */
/* ================================================================== */

#if MPXB_HAVE_SYNC
#include <mpx/sync.h>
#endif
#if MPXB_HAVE_SHAREDCTYPES
#include <mpx/sharedctypes.h>
#endif
#if MPXB_HAVE_QUEUE
#include <mpx/queue.h>
#endif
#if MPXB_HAVE_CONNECTION
#include <mpx/connection.h>
#endif
#include "mpxb.h"

#define MPX_FAIL(what, rc) FAIL("mpx: %s: %s", what, mpx_strerror(rc))

#if MPXB_HAVE_SYNC && (MPXB_HAVE_QUEUE || MPXB_HAVE_CONNECTION)
/* Start fn(obj, cond, iterations) the seed's way: hold the condition,
 * start the child, wait for its notify, release. */
static int start_notified(mpx_process **p, mpx_target_fn fn, void *obj, mpx_condition *c,
                          long iterations)
{
    mpx_args *a;
    int rc = mpx_args_create(&a);
    if (rc)
        return rc;
    if ((rc = mpx_args_add_object(a, obj)) || (rc = mpx_args_add_object(a, c)) ||
        (rc = mpx_args_add_int(a, iterations))) {
        mpx_args_destroy(a);
        return rc;
    }
    if ((rc = mpxb_yes(mpx_condition_acquire(c, MPX_FOREVER))))
        return mpx_args_destroy(a), rc;
    rc = mpxb_start(p, fn, a);
    if (!rc)
        rc = mpxb_yes(mpx_condition_wait(c, MPX_FOREVER));
    mpx_condition_release(c);
    return rc;
}

static void notify_parent(mpx_condition *c)
{
    mpx_condition_acquire(c, MPX_FOREVER);
    mpx_condition_notify(c, 1);
    mpx_condition_release(c);
}
#endif

/* ---- TEST_QUEUESPEED, mpx: Queue + Condition ---- */

#if MPXB_HAVE_SYNC && MPXB_HAVE_QUEUE
static int queuespeed_func(const mpx_args *args)
{
    mpx_queue *q = mpx_args_object(args, 0);
    mpx_condition *c = mpx_args_object(args, 1);
    long iterations = (long)mpx_args_int(args, 2);
    char a[256];
    memset(a, '0', sizeof a);
    notify_parent(c);
    int rc = 0;
    for (long i = 0; i < iterations && !rc; i++)
        rc = mpx_queue_put(q, a, sizeof a, MPX_FOREVER);
    return rc ? rc : mpx_queue_put(q, "STOP", 4, MPX_FOREVER);
}

typedef struct {
    mpx_queue *q;
    mpx_condition *c;
} qc;

static double mpx_queue_run(void *ctx, long iterations)
{
    qc *x = ctx;
    mpx_process *p = NULL;
    int rc = start_notified(&p, queuespeed_func, x->q, x->c, iterations);
    char result[256];
    size_t n = 0;
    double t = bench_now();
    while (!rc && !(n == 4 && !memcmp(result, "STOP", 4)))
        rc = mpx_queue_get_into(x->q, result, sizeof result, &n, MPX_FOREVER);
    double elapsed = bench_now() - t;
    int jr = mpxb_finish(p);
    if (rc || jr)
        return MPX_FAIL("queue test", rc ? rc : jr);
    return elapsed;
}
#endif

/* ---- TEST_PIPESPEED, mpx: Pipe() + Condition ---- */

#if MPXB_HAVE_SYNC && MPXB_HAVE_CONNECTION
static int pipe_func(const mpx_args *args)
{
    mpx_connection *c = mpx_args_object(args, 0);
    mpx_condition *cond = mpx_args_object(args, 1);
    long iterations = (long)mpx_args_int(args, 2);
    char a[256];
    memset(a, '0', sizeof a);
    notify_parent(cond);
    int rc = 0;
    for (long i = 0; i < iterations && !rc; i++)
        rc = mpx_connection_send_bytes(c, a, sizeof a);
    return rc ? rc : mpx_connection_send_bytes(c, "STOP", 4);
}

static double mpx_pipe_run(void *ctx, long iterations)
{
    mpx_condition *cond = ctx;
    mpx_connection *c, *d;
    int rc = mpx_pipe(&c, &d, 1);
    if (rc)
        return MPX_FAIL("mpx_pipe", rc);
    mpx_process *p = NULL;
    rc = start_notified(&p, pipe_func, d, cond, iterations);
    char result[256];
    size_t n = 0;
    double t = bench_now();
    while (!rc && !(n == 4 && !memcmp(result, "STOP", 4)))
        rc = mpx_connection_recv_bytes_into(c, result, sizeof result, 0, &n);
    double elapsed = bench_now() - t;
    int jr = mpxb_finish(p);
    mpx_connection_destroy(c);
    mpx_connection_destroy(d);
    if (rc || jr)
        return MPX_FAIL("pipe test", rc ? rc : jr);
    return elapsed;
}
#endif

/* ---- TEST_SEQSPEED, mpx: Array("i", range(10), lock=False/True), seq[5] ---- */

#if MPXB_HAVE_SHAREDCTYPES
/* lock=False: the C way to read an unlocked array is its pointer */
static double mpx_seq_nolock_run(void *ctx, long iterations)
{
    volatile int32_t *seq = mpx_array_ptr(ctx);
    int32_t a = 0;
    double t = bench_now();
    for (long i = 0; i < iterations; i++)
        a = seq[5];
    double elapsed = bench_now() - t;
    BENCH_KEEP(a);
    return elapsed;
}

/* lock=True: mpx_array_get takes the array's lock (Python's seq[5]) */
static double mpx_seq_run(void *ctx, long iterations)
{
    mpx_array *seq = ctx;
    int32_t a = 0;
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < iterations; i++)
        rc |= mpx_array_get(seq, 5, &a);
    double elapsed = bench_now() - t;
    BENCH_KEEP(a);
    return rc ? MPX_FAIL("mpx_array_get", rc) : elapsed;
}
#endif

/* ---- TEST_LOCK, mpx: Lock / RLock ---- */

#if MPXB_HAVE_SYNC
static double mpx_lock_run(void *ctx, long iterations)
{
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < iterations; i++) {
        rc |= mpxb_yes(mpx_lock_acquire(ctx, MPX_FOREVER));
        rc |= mpx_lock_release(ctx);
    }
    double elapsed = bench_now() - t;
    return rc ? MPX_FAIL("lock", rc) : elapsed;
}

static double mpx_rlock_run(void *ctx, long iterations)
{
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < iterations; i++) {
        rc |= mpxb_yes(mpx_rlock_acquire(ctx, MPX_FOREVER));
        rc |= mpx_rlock_release(ctx);
    }
    double elapsed = bench_now() - t;
    return rc ? MPX_FAIL("rlock", rc) : elapsed;
}

/* ---- TEST_CONDITION, mpx: Condition ---- */

static int conditionspeed_func(const mpx_args *args)
{
    mpx_condition *c = mpx_args_object(args, 0);
    long N = (long)mpx_args_int(args, 1);
    int rc = mpxb_yes(mpx_condition_acquire(c, MPX_FOREVER));
    if (rc)
        return rc;
    mpx_condition_notify(c, 1);
    for (long i = 0; i < N && !rc; i++) {
        rc = mpxb_yes(mpx_condition_wait(c, MPX_FOREVER));
        mpx_condition_notify(c, 1);
    }
    mpx_condition_release(c);
    return rc;
}

static double mpx_cond_run(void *ctx, long iterations)
{
    mpx_condition *c = ctx;
    mpx_args *a;
    int rc = mpx_args_create(&a);
    if (rc)
        return MPX_FAIL("args", rc);
    if ((rc = mpx_args_add_object(a, c)) || (rc = mpx_args_add_int(a, iterations))) {
        mpx_args_destroy(a);
        return MPX_FAIL("args", rc);
    }
    mpx_process *p = NULL;
    if ((rc = mpxb_yes(mpx_condition_acquire(c, MPX_FOREVER))))
        return mpx_args_destroy(a), MPX_FAIL("acquire", rc);
    rc = mpxb_start(&p, conditionspeed_func, a);
    if (!rc)
        rc = mpxb_yes(mpx_condition_wait(c, MPX_FOREVER));
    double t = bench_now();
    for (long i = 0; i < iterations && !rc; i++) {
        mpx_condition_notify(c, 1);
        rc = mpxb_yes(mpx_condition_wait(c, MPX_FOREVER));
    }
    double elapsed = bench_now() - t;
    mpx_condition_release(c);
    int jr = mpxb_finish(p);
    if (rc || jr)
        return MPX_FAIL("condition test", rc ? rc : jr);
    return elapsed;
}
#endif

/* ---- the manager variants, mpx: a SyncManager's proxies ---- */

#if MPXB_HAVE_MANAGER
#include <mpx/manager.h>

typedef struct {
    mpx_manager *m;
    mpx_proxy *q, *c; /* the object and the Condition of the queue test */
} mgr_seed;

/* The seed's handshake with a Condition proxy: the child notifies. */
static int mgr_notify_parent(mpx_proxy *c)
{
    int rc = mpx_proxy_acquire(c, MPX_FOREVER);
    if (rc != 1)
        return rc < 0 ? rc : MPX_ESTATE;
    rc = mpx_proxy_condition_notify(c, 1);
    int r2 = mpx_proxy_release(c);
    return rc ? rc : r2;
}

static int mgr_queuespeed_func(const mpx_args *args)
{
    mpx_proxy *q = mpx_args_object(args, 0), *c = mpx_args_object(args, 1);
    long iterations = (long)mpx_args_int(args, 2);
    char a[257];
    memset(a, '0', 256);
    a[256] = 0;
    mpx_obj *s = mpx_obj_str(a), *stop = mpx_obj_str("STOP");
    int rc = s && stop ? mgr_notify_parent(c) : -ENOMEM;
    for (long i = 0; i < iterations && !rc; i++)
        rc = mpx_proxy_queue_put(q, s, MPX_FOREVER);
    if (!rc)
        rc = mpx_proxy_queue_put(q, stop, MPX_FOREVER);
    mpx_obj_decref(s);
    mpx_obj_decref(stop);
    return rc;
}

/* Start fn(q, c, iterations) the seed's way: hold c, start the child,
 * wait for its notify, release. */
static int mgr_start_notified(mpx_process **p, mpx_target_fn fn, mpx_proxy *q, mpx_proxy *c,
                              long iterations)
{
    mpx_args *a;
    int rc = mpx_args_create(&a);
    if (rc)
        return rc;
    if ((rc = mpx_args_add_object(a, q)) || (rc = mpx_args_add_object(a, c)) ||
        (rc = mpx_args_add_int(a, iterations))) {
        mpx_args_destroy(a);
        return rc;
    }
    if ((rc = mpx_proxy_acquire(c, MPX_FOREVER)) != 1) {
        mpx_args_destroy(a);
        return rc < 0 ? rc : MPX_ESTATE;
    }
    rc = mpxb_start(p, fn, a);
    if (!rc)
        rc = mpx_proxy_condition_wait(c, MPX_FOREVER) == 1 ? 0 : MPX_ESTATE;
    int r2 = mpx_proxy_release(c);
    return rc ? rc : r2;
}

static double mgr_queue_run(void *ctx, long iterations)
{
    mgr_seed *x = ctx;
    mpx_process *p = NULL;
    int rc = mgr_start_notified(&p, mgr_queuespeed_func, x->q, x->c, iterations);
    int stop = 0;
    double t = bench_now();
    while (!rc && !stop) {
        mpx_obj *v;
        if (!(rc = mpx_proxy_queue_get(x->q, &v, MPX_FOREVER))) {
            const char *s = mpx_obj_str_value(v);
            stop = s && !strcmp(s, "STOP");
            mpx_obj_decref(v);
        }
    }
    double elapsed = bench_now() - t;
    int jr = mpxb_finish(p);
    if (rc || jr)
        return MPX_FAIL("manager queue test", rc ? rc : jr);
    return elapsed;
}

static double mgr_seq_run(void *ctx, long iterations)
{
    mgr_seed *x = ctx;
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < iterations && !rc; i++) {
        mpx_obj *a;
        if (!(rc = mpx_proxy_list_get(x->q, 5, &a)))
            mpx_obj_decref(a);
    }
    double elapsed = bench_now() - t;
    return rc ? MPX_FAIL("seq[5]", rc) : elapsed;
}

static double mgr_lock_run(void *ctx, long iterations)
{
    mgr_seed *x = ctx;
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < iterations && !rc; i++) {
        rc = mpx_proxy_acquire(x->q, MPX_FOREVER) == 1 ? 0 : MPX_ESTATE;
        if (!rc)
            rc = mpx_proxy_release(x->q);
    }
    double elapsed = bench_now() - t;
    return rc ? MPX_FAIL("acquire/release", rc) : elapsed;
}

static int mgr_conditionspeed_func(const mpx_args *args)
{
    mpx_proxy *c = mpx_args_object(args, 0);
    long N = (long)mpx_args_int(args, 1);
    int rc = mpx_proxy_acquire(c, MPX_FOREVER) == 1 ? 0 : MPX_ESTATE;
    if (rc)
        return rc;
    rc = mpx_proxy_condition_notify(c, 1);
    for (long i = 0; i < N && !rc; i++) {
        rc = mpx_proxy_condition_wait(c, MPX_FOREVER) == 1 ? 0 : MPX_ESTATE;
        if (!rc)
            rc = mpx_proxy_condition_notify(c, 1);
    }
    int r2 = mpx_proxy_release(c);
    return rc ? rc : r2;
}

static double mgr_cond_run(void *ctx, long iterations)
{
    mgr_seed *x = ctx;
    mpx_args *a;
    int rc = mpx_args_create(&a);
    if (rc)
        return MPX_FAIL("args", rc);
    if ((rc = mpx_args_add_object(a, x->c)) || (rc = mpx_args_add_int(a, iterations))) {
        mpx_args_destroy(a);
        return MPX_FAIL("args", rc);
    }
    mpx_process *p = NULL;
    if (mpx_proxy_acquire(x->c, MPX_FOREVER) != 1)
        return mpx_args_destroy(a), MPX_FAIL("acquire", MPX_ESTATE);
    rc = mpxb_start(&p, mgr_conditionspeed_func, a);
    if (!rc)
        rc = mpx_proxy_condition_wait(x->c, MPX_FOREVER) == 1 ? 0 : MPX_ESTATE;
    double t = bench_now();
    for (long i = 0; i < iterations && !rc; i++) {
        rc = mpx_proxy_condition_notify(x->c, 1);
        if (!rc)
            rc = mpx_proxy_condition_wait(x->c, MPX_FOREVER) == 1 ? 0 : MPX_ESTATE;
    }
    double elapsed = bench_now() - t;
    mpx_proxy_release(x->c);
    int jr = mpxb_finish(p);
    if (rc || jr)
        return MPX_FAIL("manager condition test", rc ? rc : jr);
    return elapsed;
}

static double mgr_figure(const char *name, long *iters, double *secs)
{
    mgr_seed x = {0};
    mpx_manager_opts o;
    memset(&o, 0, sizeof o);
    int rc = mpx_get_context(&o.ctx, "fork");
    if (!rc)
        rc = mpx_manager_new(&x.m, &o);
    if (rc)
        return MPX_FAIL("starting the manager", rc);
    double r = -1;
    if (!strcmp(name, "seed_mgr_queue")) {
        if (!(rc = mpx_manager_queue(x.m, 0, &x.q)) && !(rc = mpx_manager_condition(x.m, NULL, &x.c)))
            r = seed_loop(mgr_queue_run, &x, 1, iters, secs);
    } else if (!strcmp(name, "seed_mgr_list")) {
        mpx_obj *init = mpx_obj_build("[iiiiiiiiii]", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        if (!(rc = init ? mpx_manager_list(x.m, init, &x.q) : -ENOMEM))
            r = seed_loop(mgr_seq_run, &x, 1, iters, secs);
        mpx_obj_decref(init);
    } else if (!strcmp(name, "seed_mgr_lock")) {
        if (!(rc = mpx_manager_lock(x.m, &x.q)))
            r = seed_loop(mgr_lock_run, &x, 1, iters, secs);
    } else if (!strcmp(name, "seed_mgr_rlock")) {
        if (!(rc = mpx_manager_rlock(x.m, &x.q)))
            r = seed_loop(mgr_lock_run, &x, 1, iters, secs);
    } else if (!(rc = mpx_manager_condition(x.m, NULL, &x.c))) {
        r = seed_loop(mgr_cond_run, &x, 2, iters, secs);
    }
    if (rc)
        r = MPX_FAIL("creating the object", rc);
    mpx_proxy_destroy(x.q);
    mpx_proxy_destroy(x.c);
    mpx_manager_destroy(x.m);
    return r;
}
#endif

static double mpx_figure(const char *name, long *iters, double *secs)
{
    int rc;
#ifdef MPXB_SEED_FALLBACK
    if (strcmp(name, ""))
        return FAIL("mpx: bench/seed_benchmarks.c did not compile against include/mpx (see the make "
                    "output): raw rows only");
#endif
    if (!strncmp(name, "seed_mgr_", 9)) {
#if MPXB_HAVE_MANAGER
        return mgr_figure(name, iters, secs);
#else
        return FAIL("mpx: the manager component (include/mpx/manager.h) is not built yet");
#endif
    }
    if (!strcmp(name, "seed_queue")) {
#if MPXB_HAVE_SYNC && MPXB_HAVE_QUEUE
        qc x;
        if ((rc = mpx_queue_create(&x.q, 0, NULL)))
            return MPX_FAIL("mpx_queue_create", rc);
        if ((rc = mpx_condition_create(&x.c, NULL, NULL)))
            return MPX_FAIL("mpx_condition_create", rc);
        double r = seed_loop(mpx_queue_run, &x, 1, iters, secs);
        mpx_condition_destroy(x.c);
        mpx_queue_destroy(x.q);
        return r;
#else
        return FAIL("mpx: the queue (include/mpx/queue.h) and sync (include/mpx/sync.h) "
                    "components are needed; not built yet");
#endif
    }
    if (!strcmp(name, "seed_pipe")) {
#if MPXB_HAVE_SYNC && MPXB_HAVE_CONNECTION
        mpx_condition *c;
        if ((rc = mpx_condition_create(&c, NULL, NULL)))
            return MPX_FAIL("mpx_condition_create", rc);
        double r = seed_loop(mpx_pipe_run, c, 1, iters, secs);
        mpx_condition_destroy(c);
        return r;
#else
        return FAIL("mpx: the connection (include/mpx/connection.h) and sync (include/mpx/sync.h) "
                    "components are needed; not built yet");
#endif
    }
    if (!strcmp(name, "seed_array_nolock") || !strcmp(name, "seed_array_lock")) {
#if MPXB_HAVE_SHAREDCTYPES
        static const int32_t init[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        mpx_shared_opts o;
        memset(&o, 0, sizeof o);
        o.raw = strstr(name, "nolock") != NULL;
        mpx_array *seq;
        if ((rc = mpx_array_create(&seq, "i", 10, init, &o)))
            return MPX_FAIL("mpx_array_create", rc);
        double r = seed_loop(o.raw ? mpx_seq_nolock_run : mpx_seq_run, seq, 1, iters, secs);
        mpx_array_destroy(seq);
        return r;
#else
        return FAIL("mpx: sharedctypes component (include/mpx/sharedctypes.h) not built yet");
#endif
    }
    if (!strcmp(name, "seed_lock") || !strcmp(name, "seed_rlock") || !strcmp(name, "seed_condition")) {
#if MPXB_HAVE_SYNC
        double r;
        if (!strcmp(name, "seed_lock")) {
            mpx_lock *l;
            if ((rc = mpx_lock_create(&l, NULL)))
                return MPX_FAIL("mpx_lock_create", rc);
            r = seed_loop(mpx_lock_run, l, 1, iters, secs);
            mpx_lock_destroy(l);
        } else if (!strcmp(name, "seed_rlock")) {
            mpx_rlock *l;
            if ((rc = mpx_rlock_create(&l, NULL)))
                return MPX_FAIL("mpx_rlock_create", rc);
            r = seed_loop(mpx_rlock_run, l, 1, iters, secs);
            mpx_rlock_destroy(l);
        } else {
            mpx_condition *c;
            if ((rc = mpx_condition_create(&c, NULL, NULL)))
                return MPX_FAIL("mpx_condition_create", rc);
            r = seed_loop(mpx_cond_run, c, 2, iters, secs);
            mpx_condition_destroy(c);
        }
        return r;
#else
        return FAIL("mpx: sync component (include/mpx/sync.h) not built yet");
#endif
    }
    (void)rc;
    return FAIL("unknown figure %s", name);
}

/* ================================================================== */

static const char *const FIGURES[] = {
    "seed_queue",     "seed_pipe",      "seed_array_nolock", "seed_array_lock", "seed_lock",
    "seed_rlock",     "seed_condition", "seed_mgr_queue",    "seed_mgr_list",   "seed_mgr_lock",
    "seed_mgr_rlock", "seed_mgr_condition"};
static const char *const TITLES[] = {"Queue",
                                     "Pipe",
                                     "Array(\"i\", ..., lock=False)",
                                     "Array(\"i\", ..., lock=True)",
                                     "Lock",
                                     "RLock",
                                     "Condition",
                                     "Queue managed by server process",
                                     "list managed by server process",
                                     "lock managed by server process",
                                     "rlock managed by server process",
                                     "condition managed by a server process"};

int main(int argc, char **argv)
{
    const char *figure = NULL, *side = "mpx";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--figure") && i + 1 < argc)
            figure = argv[++i];
        else if (!strcmp(argv[i], "--side") && i + 1 < argc)
            side = argv[++i];
        else if (!strcmp(argv[i], "--delta") && i + 1 < argc)
            delta = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: seed_benchmarks [--figure NAME --side mpx|raw] [--delta S]\n");
            return 2;
        }
    }
    long iters;
    double secs;
    if (figure) {
        double r = !strcmp(side, "raw") ? raw_figure(figure, &iters, &secs)
                                        : mpx_figure(figure, &iters, &secs);
        if (r < 0)
            printf("nan %s\n", why);
        else
            printf("%.9g\n", r);
        return 0;
    }
    for (size_t f = 0; f < sizeof FIGURES / sizeof FIGURES[0]; f++) {
        for (int s = 0; s < 2; s++) {
            printf("\n\t######## testing %s %s\n\n", s ? "raw" : "mpx", TITLES[f]);
            fflush(stdout);
            double r = s ? raw_figure(FIGURES[f], &iters, &secs) : mpx_figure(FIGURES[f], &iters, &secs);
            if (r < 0) {
                printf("not measured: %s\n", why);
                continue;
            }
            int waits = f == 6 || f == 11;
            const char *what = f == 0 || f == 7 ? "objects passed through the queue in"
                               : f == 1         ? "objects passed through connection in"
                               : waits          ? "waits in"
                                                : "iterations in";
            printf("%ld %s %g seconds\n", waits ? iters * 2 : iters, what, secs);
            printf("average number/sec: %g\n", r);
        }
    }
    return 0;
}
