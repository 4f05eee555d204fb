/* test_sync_stress.c - lost wake-up stress with spinning off, interruptible waits
 * (SYNC-17), notify(1) waking on unlock (SYNC-13).
 * Children are started with mpx_process so the tests run under every
 * start method. */
#include "sync_util.h"

/* ---- lost wake-up stress with spinning off (and no periodic owner
 * checks, which would hide a lost wake-up as a 50 ms stall) ---- */

static void no_spin(void)
{
    mpx_sync_set_spin(0);
    mpx_sync_set_owner_check(MPX_FOREVER);
    setenv("MPX_SYNC_SPIN", "0", 1); /* for spawned children */
    setenv("MPX_SYNC_CHECK_MS", "0", 1);
}

static int t_timed_count(const mpx_args *a)
{
    child_no_spin();
    void *lk = mpx_args_object(a, 0);
    mpx_array *arr = mpx_args_object(a, 1);
    int64_t ms = mpx_args_int(a, 2);
    volatile int64_t *c = mpx_array_ptr(arr);
    int64_t end = mpx_test_now_ms() + ms, n = 0;
    while (mpx_test_now_ms() < end) {
        for (int i = 0; i < 100; i++) {
            if (mpx_sync_acquire(lk, MPX_FOREVER) != 1)
                return 2;
            c[0]++;
            mpx_sync_release(lk);
        }
        n += 100;
    }
    mpx_array_acquire(arr, MPX_FOREVER); /* the array's own lock */
    c[1] += n;
    mpx_array_release(arr);
    return 0;
}

static void lost_wakeup_counting(void *lk)
{
    mpx_array *arr;
    CHECK_OK(mpx_array_create(&arr, "q", 2, NULL, NULL));
    mpx_process *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = start_objs_int(t_timed_count, lk, arr, 700);
    }
    for (int i = 0; i < 3; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    int64_t *v = mpx_array_ptr(arr);
    CHECK(v[1] > 0);
    CHECK_EQ(v[0], v[1]);
    mpx_array_destroy(arr);
}

MPX_TEST_T(sync_lost_wakeup_stress_nospin, 60)
{
    no_spin();
    void *lk[3];
    make_locks(lk);
    for (int i = 0; i < 3; i++)
        lost_wakeup_counting(lk[i]);
    cond_pingpong(2000, 1);
    destroy_locks(lk);
}

/* notify_all to several sleeping processes, round after round: every
 * requeued sleeper must be woken by the lock's releases (no periodic
 * checks to rescue a lost one). st: [gen, arrived] */
static int t_bcast_worker(const mpx_args *a)
{
    child_no_spin();
    mpx_condition *c = mpx_args_object(a, 0);
    int64_t *st = mpx_array_ptr(mpx_args_object(a, 1));
    int rounds = (int)mpx_args_int(a, 2);
    for (int64_t g = 1; g <= rounds; g++) {
        if (mpx_condition_acquire(c, MPX_FOREVER) != 1)
            return 2;
        st[1]++;
        mpx_condition_notify_all(c); /* tell the driver we arrived */
        while (st[0] < g)
            if (mpx_condition_wait(c, MPX_FOREVER) != 1)
                return 3;
        mpx_condition_release(c);
    }
    return 0;
}

MPX_TEST_T(sync_lost_wakeup_notify_all_nospin, 60)
{
    no_spin();
    enum { W = 3, R = 300 };
    mpx_condition *c;
    mpx_array *st;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_rawarray_create(&st, "q", 2, NULL));
    int64_t *v = mpx_array_ptr(st);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, c));
    CHECK_OK(mpx_args_add_object(a, st));
    CHECK_OK(mpx_args_add_int(a, R));
    mpx_process *p[W];
    for (int i = 0; i < W; i++)
        p[i] = start_args(t_bcast_worker, a);
    mpx_args_destroy(a);
    for (int64_t g = 1; g <= R; g++) {
        CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
        while (v[1] < g * W) /* all arrived for this round */
            CHECK_EQ(mpx_condition_wait(c, MPX_FOREVER), 1);
        v[0] = g;
        CHECK_OK(mpx_condition_notify_all(c));
        CHECK_OK(mpx_condition_release(c));
    }
    for (int i = 0; i < W; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    mpx_array_destroy(st);
    mpx_condition_destroy(c);
}

/* Semaphore ping-pong between processes, spinning off. */
static int t_sem_pong(const mpx_args *a)
{
    child_no_spin();
    mpx_semaphore *ping = mpx_args_object(a, 0), *pong = mpx_args_object(a, 1);
    int n = (int)mpx_args_int(a, 2);
    for (int i = 0; i < n; i++) {
        if (mpx_semaphore_acquire(ping, MPX_FOREVER) != 1)
            return 2;
        mpx_semaphore_release(pong);
    }
    return 0;
}

static int t_event_pong(const mpx_args *a)
{
    child_no_spin();
    mpx_event *ping = mpx_args_object(a, 0), *pong = mpx_args_object(a, 1);
    int n = (int)mpx_args_int(a, 2);
    for (int i = 0; i < n; i++) {
        if (mpx_event_wait(ping, MPX_FOREVER) != 1)
            return 2;
        mpx_event_clear(ping);
        mpx_event_set(pong);
    }
    return 0;
}

MPX_TEST_T(sync_lost_wakeup_pingpong_nospin, 60)
{
    no_spin();
    enum { N = 3000 };
    mpx_semaphore *ping, *pong;
    CHECK_OK(mpx_semaphore_create(&ping, 0, NULL));
    CHECK_OK(mpx_semaphore_create(&pong, 0, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, ping));
    CHECK_OK(mpx_args_add_object(a, pong));
    CHECK_OK(mpx_args_add_int(a, N));
    mpx_process *p = start_args(t_sem_pong, a);
    for (int i = 0; i < N; i++) {
        CHECK_OK(mpx_semaphore_release(ping));
        CHECK_EQ(mpx_semaphore_acquire(pong, MPX_FOREVER), 1);
    }
    CHECK_EQ(join_destroy(p), 0);
    mpx_args_destroy(a);
    mpx_semaphore_destroy(ping);
    mpx_semaphore_destroy(pong);

    mpx_event *e1, *e2;
    CHECK_OK(mpx_event_create(&e1, NULL));
    CHECK_OK(mpx_event_create(&e2, NULL));
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, e1));
    CHECK_OK(mpx_args_add_object(a, e2));
    CHECK_OK(mpx_args_add_int(a, N));
    p = start_args(t_event_pong, a);
    for (int i = 0; i < N; i++) {
        CHECK_OK(mpx_event_set(e1));
        CHECK_EQ(mpx_event_wait(e2, MPX_FOREVER), 1);
        CHECK_OK(mpx_event_clear(e2));
    }
    CHECK_EQ(join_destroy(p), 0);
    mpx_args_destroy(a);
    mpx_event_destroy(e1);
    mpx_event_destroy(e2);
}

/* ---- SYNC-17: interruptible mode ---- */

static void on_alarm(int sig)
{
    (void)sig;
}

static void ticker(int on)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    if (on) {
        it.it_interval.tv_usec = 20000; /* keeps firing: no race with the wait's start */
        it.it_value.tv_usec = 20000;
    }
    setitimer(ITIMER_REAL, &it, NULL);
}

static void interruptible_waits(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    /* issue #13 item 8 (D6): interruptibility is per object */
    mpx_sync_opts io = {.interruptible = 1};
    mpx_lock *l, *plain;
    mpx_semaphore *s, *splain;
    mpx_event *e;
    mpx_condition *c;
    CHECK_OK(mpx_lock_create(&l, &io));
    CHECK_OK(mpx_lock_create(&plain, NULL));
    CHECK_OK(mpx_semaphore_create(&s, 0, &io));
    CHECK_OK(mpx_semaphore_create(&splain, 0, NULL));
    CHECK_OK(mpx_event_create(&e, &io));
    CHECK_OK(mpx_condition_create(&c, NULL, &io));
    CHECK_EQ(mpx_lock_acquire(l, MPX_FOREVER), 1);
    CHECK_EQ(mpx_lock_acquire(plain, MPX_FOREVER), 1);
    /* default objects: handlers run, the wait goes on to its deadline,
     * even while interruptible objects exist in the process */
    ticker(1);
    int64_t t0 = mpx_test_now_ms();
    CHECK_EQ(mpx_semaphore_acquire(splain, 200), 0);
    CHECK_EQ(mpx_lock_acquire(plain, 100), 0);
    CHECK(mpx_test_now_ms() - t0 >= 280);
    /* interruptible objects: -EINTR */
    t0 = mpx_test_now_ms();
    CHECK_ERR(mpx_lock_acquire(l, 5000), -EINTR);
    CHECK_ERR(mpx_semaphore_acquire(s, 5000), -EINTR);
    CHECK_ERR(mpx_event_wait(e, 5000), -EINTR);
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_ERR(mpx_condition_wait(c, 5000), -EINTR);
    CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c)), 1); /* re-acquired */
    CHECK_EQ(mpx_condition_waiters(c), 0);
    CHECK_OK(mpx_condition_release(c));
    ticker(0); /* each wait above ended with -EINTR, not its timeout */
    /* nothing of the caller's signal mask changed */
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, NULL, &m);
    CHECK_EQ(sigismember(&m, SIGALRM), 0);
    CHECK_EQ(sigismember(&m, SIGINT), 0);
    CHECK_OK(mpx_lock_release(l));
    CHECK_OK(mpx_lock_release(plain));
    mpx_lock_destroy(l);
    mpx_lock_destroy(plain);
    mpx_semaphore_destroy(s);
    mpx_semaphore_destroy(splain);
    mpx_event_destroy(e);
    mpx_condition_destroy(c);
}

MPX_TEST(sync_17_interruptible_waits)
{
    if (getenv("MPX_TEST_VALGRIND"))
        MPX_SKIP("valgrind restarts interrupted futex waits itself");
    interruptible_waits();
}

/* The same without io_uring futex waits (older kernels, io_uring
 * disabled): sigprocmask around plain futex sleeps. */
MPX_TEST(sync_17_interruptible_waits_fallback)
{
    if (getenv("MPX_TEST_VALGRIND"))
        MPX_SKIP("valgrind restarts interrupted futex waits itself");
    setenv("MPX_SYNC_INTR_URING", "0", 1);
    CHECK_EQ(mpx__intr_exact(), 0);
    interruptible_waits();
}

/*
 * Issue #12 item 4: a delivered signal ends an interruptible wait every
 * time, whatever its offset from the waits' 50 ms owner-check slices
 * (the old code missed a handler that ran as a slice timed out). The
 * sender waits until the waiter sleeps in the kernel (its /proc state is
 * S), then waits a varied delay (multiples of the slice and a few ms
 * around them) and sends SIGUSR1 to the waiting thread; every wait must
 * return -EINTR (MPX_FOREVER waits: a missed signal hangs the test, which
 * its time limit fails). A Lock held by a child process (live owner: the
 * waiter checks it on every slice), a Condition, a Semaphore, an Event,
 * a Barrier.
 */
static volatile sig_atomic_t usr1_seen;
static void on_usr1(int sig)
{
    (void)sig;
    usr1_seen++;
}

struct kicker {
    pthread_t target;
    pid_t tid;
    _Atomic int go;   /* round number to run, 0: none, -1: stop */
    _Atomic int done; /* last round whose signal was sent */
    int delay_us;
    bool process_directed;
};

static char thread_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

static void *kicker_main(void *arg)
{
    struct kicker *k = arg;
    sigset_t m; /* this thread never takes SIGUSR1: a process-directed one goes to the waiter */
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &m, NULL);
    int last = 0;
    for (;;) {
        int r = atomic_load(&k->go);
        if (r < 0)
            return NULL;
        if (r == last) {
            sleep_ms(1);
            continue;
        }
        /* the waiter is in the wait once it sleeps in the kernel */
        while (thread_state(k->tid) != 'S' && atomic_load(&k->go) == r)
            sched_yield();
        struct timespec t = {k->delay_us / 1000000, (long)(k->delay_us % 1000000) * 1000};
        while (nanosleep(&t, &t) < 0)
            ;
        if (k->process_directed)
            kill(getpid(), SIGUSR1);
        else
            pthread_kill(k->target, SIGUSR1);
        last = r;
        atomic_store(&k->done, r);
    }
}

static int t_hold_lock_until_set(const mpx_args *a)
{
    mpx_lock *l = mpx_args_object(a, 0);
    mpx_event *e = mpx_args_object(a, 1);
    mpx_event *held = mpx_args_object(a, 2);
    if (mpx_lock_acquire(l, MPX_FOREVER) != 1)
        return 2;
    mpx_event_set(held);
    mpx_event_wait(e, MPX_FOREVER);
    return mpx_lock_release(l) ? 3 : 0;
}

MPX_TEST_T(issue12_4_sync_17_signal_always_ends_interruptible_wait, 180)
{
    if (getenv("MPX_TEST_VALGRIND"))
        MPX_SKIP("valgrind restarts interrupted futex waits itself");
    if (!mpx__intr_exact())
        MPX_SKIP("no io_uring futex waits here (Linux < 6.7 or io_uring disabled): "
                 "the documented fallback may miss a signal at a slice boundary");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART; /* the hard case: the kernel would restart a plain futex wait */
    sigaction(SIGUSR1, &sa, NULL);
    mpx_sync_opts io = {.interruptible = 1};
    mpx_lock *l;
    mpx_condition *c;
    mpx_semaphore *s;
    mpx_event *e, *stop, *held;
    mpx_barrier *b;
    CHECK_OK(mpx_lock_create(&l, &io));
    CHECK_OK(mpx_condition_create(&c, NULL, &io));
    CHECK_OK(mpx_semaphore_create(&s, 0, &io));
    CHECK_OK(mpx_event_create(&e, &io));
    CHECK_OK(mpx_event_create(&stop, NULL));
    CHECK_OK(mpx_event_create(&held, NULL));
    CHECK_OK(mpx_barrier_create(&b, 2, &(mpx_barrier_opts){.interruptible = 1}));
    mpx_args *ha;
    CHECK_OK(mpx_args_create(&ha));
    CHECK_OK(mpx_args_add_object(ha, l));
    CHECK_OK(mpx_args_add_object(ha, stop));
    CHECK_OK(mpx_args_add_object(ha, held));
    mpx_process *holder = start_args(t_hold_lock_until_set, ha);
    mpx_args_destroy(ha);
    CHECK_EQ(mpx_event_wait(held, 20000), 1);
    struct kicker k = {.target = pthread_self(), .tid = (pid_t)syscall(SYS_gettid)};
    pthread_t kt;
    CHECK_OK(pthread_create(&kt, NULL, kicker_main, &k));
    int round = 0;
    for (int i = 0; i < 40; i++) {
        /* delays around the 50 ms slices: 0..3 slices, -3..+3 ms */
        int slice = i % 4, jitter = (i * 7) % 7 - 3;
        int ms = slice * 50 + jitter;
        k.delay_us = (ms < 1 ? 1 : ms) * 1000 + (i * 371) % 1000;
        k.process_directed = i % 5 == 4;
        for (int prim = 0; prim < 5; prim++) {
            sig_atomic_t before = usr1_seen;
            round++;
            atomic_store(&k.go, round);
            int rc;
            switch (prim) {
            case 0:
                rc = mpx_lock_acquire(l, MPX_FOREVER);
                break;
            case 1:
                CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
                rc = mpx_condition_wait(c, MPX_FOREVER);
                CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c)), 1);
                CHECK_OK(mpx_condition_release(c));
                break;
            case 2:
                rc = mpx_semaphore_acquire(s, MPX_FOREVER);
                break;
            case 3:
                rc = mpx_event_wait(e, MPX_FOREVER);
                break;
            default:
                rc = mpx_barrier_wait(b, MPX_FOREVER);
                CHECK_OK(mpx_barrier_reset(b));
                break;
            }
            if (rc != -EINTR)
                FAIL("round %d primitive %d delay %d us: returned %d (%s)", i, prim,
                     k.delay_us, rc, mpx_err_name(rc));
            CHECK(usr1_seen != before); /* the handler ran, by the time the call returned */
            while (atomic_load(&k.done) != round)
                sleep_ms(1);
        }
    }
    atomic_store(&k.go, -1);
    CHECK_OK(pthread_join(kt, NULL));
    CHECK_OK(mpx_event_set(stop));
    CHECK_EQ(join_destroy(holder), 0);
    mpx_lock_destroy(l);
    mpx_condition_destroy(c);
    mpx_semaphore_destroy(s);
    mpx_event_destroy(e);
    mpx_event_destroy(stop);
    mpx_event_destroy(held);
    mpx_barrier_destroy(b);
}

/* ---- SYNC-13: notify(1) wakes on unlock (docs/sync.md) ----
 * notify(1) on a Condition with its own lock defers the FUTEX_WAKE to the
 * lock's release. Every way of releasing must do it: condition release,
 * release through the lock's own handle, the last level of an RLock (not
 * an inner one), and wait. Spinning and owner checks are off, so a missed
 * deferred wake hangs and fails by the time limit. */
static int t_cond_turns(const mpx_args *a)
{
    child_no_spin();
    mpx_condition *c = mpx_args_object(a, 0);
    mpx_array *st = mpx_args_object(a, 1);
    int n = (int)mpx_args_int(a, 2);
    volatile int64_t *v = mpx_array_ptr(st);
    for (int i = 0; i < n; i++) {
        if (mpx_condition_acquire(c, MPX_FOREVER) != 1)
            return 2;
        while (v[0] != 2 * i + 1)
            if (mpx_condition_wait(c, MPX_FOREVER) != 1)
                return 3;
        v[0] = 2 * i + 2;
        if (mpx_condition_notify(c, 1))
            return 4;
        if (mpx_condition_release(c))
            return 5;
    }
    return 0;
}

MPX_TEST_T(sync_13_condition_wake_on_unlock_paths_nospin, 60)
{
    no_spin();
    enum { N = 600 };
    mpx_condition *c;
    mpx_array *st;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_array_create(&st, "q", 1, NULL, NULL));
    volatile int64_t *v = mpx_array_ptr(st);
    mpx_rlock *lk = mpx_condition_lock(c);
    CHECK(lk != NULL);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, c));
    CHECK_OK(mpx_args_add_object(a, st));
    CHECK_OK(mpx_args_add_int(a, N));
    mpx_process *p = start_args(t_cond_turns, a);
    for (int i = 0; i < N; i++) {
        int how = i % 3;
        CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
        if (how == 2)
            CHECK_EQ(mpx_rlock_acquire(lk, MPX_FOREVER), 1); /* level 2 */
        v[0] = 2 * i + 1;
        CHECK_OK(mpx_condition_notify(c, 1));
        if (how == 0) {
            CHECK_OK(mpx_condition_release(c));
        } else if (how == 1) {
            CHECK_OK(mpx_rlock_release(lk));
        } else {
            CHECK_OK(mpx_rlock_release(lk)); /* inner level: no wake yet */
            CHECK_EQ(mpx_rlock_count(lk), 1);
            CHECK_OK(mpx_condition_release(c));
        }
        CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
        while (v[0] != 2 * i + 2)
            CHECK_EQ(mpx_condition_wait(c, MPX_FOREVER), 1); /* the child's notify */
        CHECK_OK(mpx_condition_release(c));
    }
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_rlock_count(lk), 0);
    mpx_args_destroy(a);
    mpx_array_destroy(st);
    mpx_condition_destroy(c);
}
