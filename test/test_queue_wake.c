/*
 * test_queue_wake.c - the queue's wait words (#18, docs/queue.md "Waiting"):
 * a sleeping consumer costs its producers one wake-up per sleep, not one
 * per put until it runs again. QUEUE-01 (put/get across processes).
 */
#include "harness.h"
#include "queue_util.h"

#include "core/queue_internal.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static int t_get_n(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    int64_t n = mpx_args_int(a, 1);
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        size_t len;
        if (mpx_queue_get_into(q, &v, sizeof v, &len, 60000))
            return 1;
        if (len != sizeof v || v != i)
            return 2;
    }
    return 0;
}

/* The state letter of /proc/<pid>/stat, or 0. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

/*
 * A consumer announces its sleep (the not-empty word becomes odd) and is
 * then stopped, so it cannot run: the first put wakes it (the word becomes
 * even), the following puts find nobody to wake and leave the word alone.
 * With a count of sleepers, every put until the woken consumer ran again
 * made a futex_wake. After SIGCONT the consumer gets every message in
 * order.
 */
MPX_TEST_T(queue_18_one_wake_per_sleep, 120)
{
    setenv("MPX_QUEUE_SPIN", "0", 1); /* the consumer sleeps at once */
    mpx_queue *q = mkq(0, 0);
    qshared *sh = q->sh;
    const int64_t N = 100;
    mpx_process *p = start_q(t_get_n, q, 1, &N);
    pid_t pid = mpx_process_pid(p);
    int64_t t0 = mpx_test_now_ms();
    while (!(atomic_load(&sh->ne.seq) & 1)) {
        if (mpx_test_now_ms() - t0 > 60000)
            FAIL("the consumer never announced a sleep");
        sleep_ms(1);
    }
    CHECK_OK(kill(pid, SIGSTOP));
    while (proc_state(pid) != 'T') {
        if (mpx_test_now_ms() - t0 > 60000)
            FAIL("the consumer did not stop");
        sleep_ms(1);
    }
    uint32_t announced = atomic_load(&sh->ne.seq);
    CHECK(announced & 1);
    int64_t v = 0;
    CHECK_OK(mpx_queue_put(q, &v, sizeof v, 10000));
    uint32_t woken = atomic_load(&sh->ne.seq);
    CHECK_EQ(woken, announced + 1); /* even: the sleep was woken */
    for (v = 1; v < N; v++)
        CHECK_OK(mpx_queue_put(q, &v, sizeof v, 10000));
    CHECK_EQ(atomic_load(&sh->ne.seq), woken); /* no further wake-up */
    CHECK_EQ(mpx_queue_qsize(q), (int)N);
    CHECK_OK(kill(pid, SIGCONT));
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    mpx_queue_destroy(q);
    unsetenv("MPX_QUEUE_SPIN");
}

/* Producers asleep on a full queue (maxsize 1) and consumers asleep on an
 * empty one, every wake-up through the wait words, no spinning: nothing
 * is lost or stuck, every message arrives once and in its producer's
 * order (the sleep/wake protocol's Dekker argument, under real races). */
static int t_put_seq(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    int64_t id = mpx_args_int(a, 1), n = mpx_args_int(a, 2);
    for (int64_t i = 0; i < n; i++) {
        int64_t m[2] = {id, i};
        if (mpx_queue_put(q, m, sizeof m, 60000))
            return 1;
    }
    return 0;
}

MPX_TEST_T(queue_18_sleepers_both_sides_nospin, 120)
{
    setenv("MPX_QUEUE_SPIN", "0", 1);
    mpx_queue *q = mkq(1, 4096);
    enum { P = 3, N = 2000 };
    mpx_process *pr[P];
    for (int64_t k = 0; k < P; k++) {
        int64_t args[2] = {k, N};
        pr[k] = start_q(t_put_seq, q, 2, args);
    }
    int64_t next[P] = {0};
    for (int i = 0; i < P * N; i++) {
        int64_t m[2];
        size_t len;
        CHECK_OK(mpx_queue_get_into(q, m, sizeof m, &len, 60000));
        CHECK_EQ(len, sizeof m);
        CHECK(m[0] >= 0 && m[0] < P);
        CHECK_EQ(m[1], next[m[0]]);
        next[m[0]]++;
    }
    for (int k = 0; k < P; k++)
        CHECK_EQ(join_destroy(pr[k]), 0);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    mpx_queue_destroy(q);
    unsetenv("MPX_QUEUE_SPIN");
}
