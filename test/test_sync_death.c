/* test_sync_death.c - owner death (SYNC-20): a holder killed, pid reuse, the one
 * owner-death check of locks and queues (#14).
 * Children are started with mpx_process so the tests run under every
 * start method. */
#include "sync_util.h"

/* ---- owner death (SYNC-20) ---- */

static int t_die_holding(const mpx_args *a)
{
    void *lk = mpx_args_object(a, 0);
    if (mpx_sync_acquire(lk, MPX_FOREVER) != 1)
        return 2;
    if (mpx_args_int(a, 1)) /* RLock: two levels */
        mpx_sync_acquire(lk, MPX_FOREVER);
    raise(SIGKILL);
    return 0;
}

static void die_holding(void *lk, int levels2)
{
    mpx_process *p = start_objs_int(t_die_holding, lk, NULL, levels2);
    CHECK_EQ(join_destroy(p), -SIGKILL);
}

MPX_TEST(sync_20_lock_owner_death)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    die_holding(l, 0);
    CHECK_EQ(mpx_lock_locked(l), 1);
    check_describe(mpx_lock_describe(l), "<Lock(owner=SomeOtherProcess)>");
    /* found dead well within a finite wait (MPX_EOWNERDEAD, not
     * MPX_ETIMEDOUT): no clock in the test */
    CHECK_ERR(mpx_lock_acquire(l, 20000), MPX_EOWNERDEAD);
    CHECK_EQ(mpx_lock_suspect(l), 1);
    check_describe(mpx_lock_describe(l), "<Lock(owner=MainProcess, owner died)>");
    CHECK_OK(mpx_lock_consistent(l));
    CHECK_EQ(mpx_lock_suspect(l), 0);
    CHECK_OK(mpx_lock_release(l));
    CHECK_EQ(mpx_lock_acquire(l, MPX_NOWAIT), 1); /* only the next acquirer is told */
    CHECK_OK(mpx_lock_release(l));
    /* a NOWAIT acquire also detects the death */
    die_holding(l, 0);
    CHECK_ERR(mpx_lock_acquire(l, MPX_NOWAIT), MPX_EOWNERDEAD);
    CHECK_OK(mpx_lock_release(l));
    /* and a timed one */
    die_holding(l, 0);
    CHECK_ERR(mpx_lock_acquire(l, 2000), MPX_EOWNERDEAD);
    CHECK_OK(mpx_lock_release(l));
    mpx_lock_destroy(l);
}

/* The holder is a zombie (killed, not yet joined): still detected. */
static int t_hold_and_sleep(const mpx_args *a)
{
    void *lk = mpx_args_object(a, 0);
    mpx_event *ev = mpx_args_object(a, 1);
    if (mpx_sync_acquire(lk, MPX_FOREVER) != 1)
        return 2;
    mpx_event_set(ev);
    for (;;)
        sleep_ms(1000);
}

MPX_TEST(sync_20_owner_death_zombie_holder)
{
    mpx_rlock *r;
    mpx_event *ev;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_OK(mpx_event_create(&ev, NULL));
    mpx_process *p = spawn1(t_hold_and_sleep, r, ev);
    CHECK_EQ(mpx_event_wait(ev, 10000), 1);
    CHECK_EQ(mpx_rlock_acquire(r, 100), 0); /* alive: a real timeout */
    CHECK_OK(mpx_process_kill(p));
    CHECK_ERR(mpx_rlock_acquire(r, 5000), MPX_EOWNERDEAD);
    CHECK_EQ(mpx_rlock_count(r), 1);
    CHECK_EQ(mpx_rlock_suspect(r), 1);
    CHECK_OK(mpx_rlock_consistent(r));
    CHECK_EQ(mpx_rlock_acquire(r, MPX_NOWAIT), 1);
    CHECK_EQ(mpx_rlock_count(r), 2);
    CHECK_OK(mpx_rlock_release(r));
    CHECK_OK(mpx_rlock_release(r));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    mpx_rlock_destroy(r);
    mpx_event_destroy(ev);
}

/* Pid reuse: a live process whose start time differs from the one in the
 * lock word is not the owner. */
MPX_TEST(sync_20_owner_pid_reuse_detected)
{
    mpx_lock *l;
    mpx_event *ev;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_event_create(&ev, NULL));
    _Atomic uint64_t *word = &((struct mpx_lock *)l)->w->word;
    /* our own pid with another start time: an earlier process with our pid */
    CHECK_EQ(mpx_lock_acquire(l, MPX_NOWAIT), 1);
    uint64_t mine = atomic_load(word);
    CHECK_EQ(mine & MPX__LK_PIDMASK, getpid());
    atomic_store(word, mine ^ ((uint64_t)1 << 40));
    CHECK_ERR(mpx_lock_acquire(l, MPX_NOWAIT), MPX_EOWNERDEAD);
    CHECK_OK(mpx_lock_release(l));
    /* a live child holding it is alive; the same pid with a wrong start is not */
    mpx_process *p = spawn1(t_hold_and_sleep, l, ev);
    CHECK_EQ(mpx_event_wait(ev, 10000), 1);
    CHECK_EQ(mpx_lock_acquire(l, MPX_NOWAIT), 0);
    CHECK_EQ(mpx_lock_acquire(l, 120), 0);
    uint64_t theirs = atomic_load(word);
    CHECK_EQ(theirs & MPX__LK_PIDMASK, mpx_process_pid(p));
    atomic_store(word, theirs ^ ((uint64_t)1 << 33));
    CHECK_ERR(mpx_lock_acquire(l, MPX_NOWAIT), MPX_EOWNERDEAD);
    CHECK_OK(mpx_lock_release(l));
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    mpx_lock_destroy(l);
    mpx_event_destroy(ev);
}

MPX_TEST(sync_20_rlock_owner_death)
{
    mpx_rlock *r;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    die_holding(r, 1);
    CHECK_ERR(mpx_rlock_acquire(r, MPX_FOREVER), MPX_EOWNERDEAD);
    CHECK_EQ(mpx_rlock_count(r), 1); /* the dead owner's levels are gone */
    CHECK_OK(mpx_rlock_release(r));
    CHECK_EQ(mpx_rlock_count(r), 0);
    mpx_rlock_destroy(r);
}

/* A Condition whose lock holder died: the next acquirer is told. */
MPX_TEST(sync_20_condition_lock_holder_dies)
{
    mpx_condition *c;
    mpx_event *ev;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_event_create(&ev, NULL));
    mpx_process *p = spawn1(t_hold_and_sleep, mpx_condition_lock(c), ev);
    CHECK_EQ(mpx_event_wait(ev, 10000), 1);
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    CHECK_ERR(mpx_condition_acquire(c, MPX_FOREVER), MPX_EOWNERDEAD);
    CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c)), 1);
    CHECK_EQ(mpx_condition_wait(c, 20), 0); /* usable again */
    CHECK_OK(mpx_condition_release(c));
    mpx_condition_destroy(c);
    mpx_event_destroy(ev);
}

/* The waiter sleeps in wait() while the holder dies holding the lock. */
static int t_take_lock_die(const mpx_args *a)
{
    mpx_condition *c = mpx_args_object(a, 0);
    if (mpx_condition_acquire(c, MPX_FOREVER) != 1)
        return 2;
    sleep_ms(50);
    raise(SIGKILL);
    return 0;
}

MPX_TEST(sync_20_condition_waiter_sees_holder_death)
{
    mpx_condition *c;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    mpx_process *p = spawn1(t_take_lock_die, c, NULL);
    int rc = mpx_condition_wait(c, 20000); /* nobody will notify */
    CHECK_ERR(rc, MPX_EOWNERDEAD);             /* not MPX_ETIMEDOUT */
    CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c)), 1);
    CHECK_EQ(mpx_condition_waiters(c), 0);
    CHECK_OK(mpx_condition_release(c));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    mpx_condition_destroy(c);
}

/* A barrier party killed while waiting breaks the barrier. */
static int t_barrier_wait_forever(const mpx_args *a)
{
    mpx_barrier_wait(mpx_args_object(a, 0), MPX_FOREVER);
    return 0;
}

MPX_TEST(sync_20_barrier_party_dies)
{
    mpx_barrier *b;
    CHECK_OK(mpx_barrier_create(&b, 3, NULL));
    mpx_process *p = spawn1(t_barrier_wait_forever, b, NULL);
    int64_t t0 = mpx_test_now_ms();
    while (mpx_barrier_n_waiting(b) < 1 && mpx_test_now_ms() - t0 < 10000)
        sleep_ms(2);
    CHECK_EQ(mpx_barrier_n_waiting(b), 1);
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    CHECK_ERR(mpx_barrier_wait(b, MPX_FOREVER), MPX_EBROKEN);
    CHECK_EQ(mpx_barrier_broken(b), 1);
    mpx_barrier_destroy(b);
}

/*
 * Issue #12 item 6: the last party to arrive must not pass a barrier on
 * which a party died while waiting, however soon after the death it
 * arrives (the waiters' own check runs every 50 ms and may not have seen
 * it yet). Reaped (the death is final) and zombie (killed, not reaped yet)
 * dead parties, several rounds; and a barrier whose waiters are alive
 * still passes.
 */
static int t_barrier_wait_report(const mpx_args *a)
{
    int rc = mpx_barrier_wait(mpx_args_object(a, 0), MPX_FOREVER);
    return rc == 0 || rc == 1 ? 0 : rc == MPX_EBROKEN ? 5 : 6;
}

static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

MPX_TEST_T(issue12_6_sync_16_last_arrival_sees_dead_party, 60)
{
    mpx_sync_set_owner_check(MPX_FOREVER); /* no waiter check: only the last arrival's */
    for (int round = 0; round < 6; round++) {
        mpx_barrier *b;
        CHECK_OK(mpx_barrier_create(&b, 2, NULL));
        mpx_process *p = spawn1(t_barrier_wait_forever, b, NULL);
        int64_t t0 = mpx_test_now_ms();
        while (mpx_barrier_n_waiting(b) < 1 && mpx_test_now_ms() - t0 < 10000)
            sleep_ms(1);
        CHECK_EQ(mpx_barrier_n_waiting(b), 1);
        pid_t pid = mpx_process_pid(p);
        CHECK_OK(mpx_process_kill(p));
        if (round % 2 == 0) {
            CHECK_EQ(join_destroy(p), -SIGKILL); /* reaped */
            p = NULL;
        } else {
            /* dead, not reaped yet (a forkserver child is reaped by the
             * server: then gone) */
            char st;
            while ((st = proc_state(pid)) != 'Z' && st != '?')
                sleep_ms(1);
        }
        CHECK_ERR(mpx_barrier_wait(b, MPX_FOREVER), MPX_EBROKEN);
        CHECK_EQ(mpx_barrier_broken(b), 1);
        CHECK_ERR(mpx_barrier_wait(b, 0), MPX_EBROKEN); /* stays broken until reset */
        if (p)
            CHECK_EQ(join_destroy(p), -SIGKILL);
        /* after reset, live parties pass */
        CHECK_OK(mpx_barrier_reset(b));
        p = spawn1(t_barrier_wait_report, b, NULL);
        int rc = mpx_barrier_wait(b, 20000);
        CHECK(rc == 0 || rc == 1);
        CHECK_EQ(join_destroy(p), 0);
        mpx_barrier_destroy(b);
    }
    mpx_sync_set_owner_check(50);
}

/*
 * Random SIGKILL stress: two workers increment a pair (a, b) under the
 * lock, keeping a == b. A worker is killed at a random moment; the other
 * worker is paused first, so only the victim can hold the lock, and the
 * lock word then tells whether it died holding it. Exactly that many
 * acquirers must get MPX_EOWNERDEAD; every clean acquire sees a == b.
 * st: [a, b, ownerdead, stop, pause, paused0, paused1, bad]
 */
static int t_worker(const mpx_args *a)
{
    void *lk = mpx_args_object(a, 0);
    mpx_array *arr = mpx_args_object(a, 1);
    int id = (int)mpx_args_int(a, 2);
    _Atomic int64_t *st = mpx_array_ptr(arr);
    while (!atomic_load(&st[3])) {
        if (atomic_load(&st[4]) && id == 1) {
            atomic_store(&st[5 + id], 1);
            while (atomic_load(&st[4]) && !atomic_load(&st[3]))
                sleep_ms(1);
            atomic_store(&st[5 + id], 0);
            continue;
        }
        int rc = mpx_sync_acquire(lk, MPX_FOREVER);
        if (rc == MPX_EOWNERDEAD) {
            atomic_fetch_add(&st[2], 1);
            atomic_store(&st[1], atomic_load(&st[0])); /* repair */
        } else if (rc != 1) {
            return 2;
        } else if (atomic_load(&st[0]) != atomic_load(&st[1])) {
            atomic_store(&st[7], 1);
        }
        atomic_fetch_add(&st[0], 1);
        for (volatile int k = 0; k < 200; k++)
            ;
        atomic_fetch_add(&st[1], 1);
        mpx_sync_release(lk);
    }
    return 0;
}

static mpx_process *start_worker(void *lk, mpx_array *arr, int id)
{
    mpx_process *p = start_objs_int(t_worker, lk, arr, id);
    return p;
}

static void kill_stress(void *lk, pid_t (*owner)(void *), int rounds)
{
    mpx_array *arr;
    CHECK_OK(mpx_rawarray_create(&arr, "q", 8, NULL));
    _Atomic int64_t *st = mpx_array_ptr(arr);
    unsigned seed = (unsigned)getpid();
    int held_total = 0;
    for (int r = 0; r < rounds; r++) {
        atomic_store(&st[3], 0);
        atomic_store(&st[4], 0);
        mpx_process *victim = start_worker(lk, arr, 0);
        mpx_process *other = start_worker(lk, arr, 1);
        sleep_ms(5 + (int)(rand_r(&seed) % 25));
        atomic_store(&st[4], 1); /* pause the survivor */
        int64_t t0 = mpx_test_now_ms();
        while (!atomic_load(&st[6]) && mpx_test_now_ms() - t0 < 10000)
            sleep_ms(1);
        CHECK_EQ(atomic_load(&st[6]), 1);
        CHECK_OK(mpx_process_kill(victim));
        pid_t vp = mpx_process_pid(victim);
        CHECK_EQ(join_destroy(victim), -SIGKILL);
        int held = owner(lk) == vp;
        held_total += held;
        atomic_store(&st[4], 0); /* resume: the survivor recovers it */
        sleep_ms(30);
        atomic_store(&st[3], 1);
        CHECK_EQ(join_destroy(other), 0);
        /* the survivor may not have reached the lock: then we are next */
        int rc = mpx_sync_acquire(lk, MPX_FOREVER);
        CHECK(rc == 1 || rc == MPX_EOWNERDEAD);
        if (rc == MPX_EOWNERDEAD) {
            atomic_fetch_add(&st[2], 1);
            atomic_store(&st[1], atomic_load(&st[0]));
        }
        CHECK_EQ(atomic_load(&st[0]), atomic_load(&st[1]));
        CHECK_OK(mpx_sync_release(lk));
        CHECK_EQ(atomic_load(&st[2]), held_total);
        CHECK_EQ(atomic_load(&st[7]), 0);
    }
    fprintf(stderr, "kill stress: holder killed while holding in %d of %d rounds\n", held_total,
            rounds);
    mpx_array_destroy(arr);
}

static pid_t lock_owner(void *l)
{
    return mpx_lock_owner(l);
}

static pid_t rlock_owner(void *l)
{
    return mpx_rlock_owner(l);
}

MPX_TEST_T(sync_20_random_kill_stress_lock, 60)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    kill_stress(l, lock_owner, 12);
    mpx_lock_destroy(l);
}

MPX_TEST_T(sync_20_random_kill_stress_rlock, 60)
{
    mpx_rlock *l;
    CHECK_OK(mpx_rlock_create(&l, NULL));
    kill_stress(l, rlock_owner, 8);
    mpx_rlock_destroy(l);
}

/* ---- the one owner-death check (#14) ------------------------------------------------------- */

/* Token (core/lockword.h) of live process pid; with right unset, as if
 * its pid had been reused (another start time). */
static uint64_t owner_token_of(pid_t pid, bool right)
{
    char state;
    uint64_t start = 0;
    CHECK_OK(mpx__proc_stat(pid, &state, &start));
    uint32_t st = (uint32_t)start;
    if (!right)
        st = st ^ 0x5a5a5a5au ? st ^ 0x5a5a5a5au : 1u;
    return ((uint64_t)st << 32) | ((uint32_t)pid & MPX__LK_PIDMASK);
}

/* mpx__owner_alive, used by locks, conditions, barriers and queues: a
 * live process is alive under its own token only; a reaped one is dead. */
MPX_TEST(sync_owner_alive_pid_reuse)
{
    pid_t other = getppid();
    CHECK(other > 1);
    CHECK(mpx__owner_alive(owner_token_of(other, true)));
    CHECK(mpx__owner_alive(owner_token_of(other, true) | MPX__LK_FLAGBITS));
    CHECK(!mpx__owner_alive(owner_token_of(other, false)));
    CHECK(mpx__owner_alive(mpx__self_token()));
    CHECK(!mpx__owner_alive(owner_token_of(getpid(), false)));
    CHECK(mpx__owner_alive(0)); /* no owner */
    pid_t c = fork();
    CHECK(c >= 0);
    if (c == 0)
        _exit(0);
    uint64_t dead = owner_token_of(c, true);
    CHECK_EQ(waitpid(c, NULL, 0), c);
    CHECK(!mpx__owner_alive(dead));
}

/* A Condition (its default RLock) and an RLock whose word names a live
 * process under another start time (a dead owner's reused pid) are taken
 * over; under the live process's own token they stay held. */
MPX_TEST(sync_condition_rlock_owner_pid_reuse)
{
    pid_t other = getppid();
    mpx_condition *c;
    mpx_rlock *r;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_rlock_create(&r, NULL));
    struct mpx_lock *locks[2] = {mpx_condition_lock(c), (struct mpx_lock *)r};
    for (int i = 0; i < 2; i++) {
        _Atomic uint64_t *word = &locks[i]->w->word;
        atomic_store(word, owner_token_of(other, true));
        CHECK_EQ(mpx_sync_acquire(locks[i], MPX_NOWAIT), 0);
        atomic_store(word, owner_token_of(other, false));
        CHECK_ERR(mpx_sync_acquire(locks[i], MPX_NOWAIT), MPX_EOWNERDEAD);
        CHECK_EQ(atomic_load(word) & ~MPX__LK_FLAGBITS, mpx__self_token());
        CHECK_OK(mpx_sync_release(locks[i]));
    }
    CHECK_EQ(mpx_condition_acquire(c, MPX_NOWAIT), 1);
    CHECK_OK(mpx_condition_release(c));
    mpx_condition_destroy(c);
    mpx_rlock_destroy(r);
}

/* The one spin setting (docs/design.md "Spinning"): MPX_SPIN for every
 * component, the older names as aliases that win for theirs, the
 * component defaults when nothing is set. */
MPX_TEST(spin_setting_one_name_aliases)
{
    unsetenv("MPX_SPIN");
    unsetenv("MPX_SYNC_SPIN");
    unsetenv("MPX_QUEUE_SPIN");
    long v;
    CHECK(!mpx__spin_env(MPX__SPIN_QUEUE, &v));
    CHECK_EQ(mpx__spin_default(MPX__SPIN_QUEUE), 200);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_POOL), 2000);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_SYNC), sysconf(_SC_NPROCESSORS_ONLN) == 1 ? 0 : 100);
    setenv("MPX_SPIN", "7", 1);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_QUEUE), 7);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_POOL), 7);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_SYNC), 7);
    setenv("MPX_QUEUE_SPIN", "0", 1);
    setenv("MPX_SYNC_SPIN", "3", 1);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_QUEUE), 0);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_SYNC), 3);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_POOL), 7);
    setenv("MPX_SPIN", "-5", 1); /* out of range: clamped (sync, pool) or ignored (queue) */
    unsetenv("MPX_QUEUE_SPIN");
    unsetenv("MPX_SYNC_SPIN");
    CHECK_EQ(mpx__spin_default(MPX__SPIN_SYNC), 0);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_POOL), 0);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_QUEUE), 200);
    unsetenv("MPX_SPIN");
}
