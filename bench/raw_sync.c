/*
 * bench/raw_sync.c - the raw side of the lock, condition and array
 * groups.
 *
 *   lock_uncontended          pthread mutex, PTHREAD_PROCESS_SHARED, in a
 *                             MAP_SHARED page: lock+unlock
 *   rlock_uncontended         the same with PTHREAD_MUTEX_RECURSIVE
 *   lock_contended_increment  2 processes each add 1 to a shared counter
 *                             under that mutex; time per increment
 *   condition_pingpong        two processes hand a turn word back and
 *                             forth with blocking FUTEX_WAIT/FUTEX_WAKE
 *                             (no spinning): time per round trip
 *   array_read_nolock         read element 5 of a shared int32[10]
 *   array_read_lock           the same inside lock/unlock of the mutex
 */
#include "figures.h"

#include <pthread.h>
#include <sys/wait.h>

typedef struct {
    pthread_mutex_t m;
    _Alignas(64) volatile int32_t arr[10];
    _Alignas(64) volatile long counter;
    _Alignas(64) _Atomic uint32_t ready, go;
    _Alignas(64) _Atomic uint32_t turn;
    double end[2];
} shared_sync;

static shared_sync *make_shared(int recursive)
{
    shared_sync *s = bench_shared(sizeof *s);
    if (!s)
        return NULL;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (recursive)
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->m, &a);
    pthread_mutexattr_destroy(&a);
    for (int i = 0; i < 10; i++)
        s->arr[i] = i;
    return s;
}

static void free_shared(shared_sync *s)
{
    pthread_mutex_destroy(&s->m);
    munmap(s, sizeof *s);
}

static double run_lock(void *c, long n)
{
    shared_sync *s = c;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&s->m);
        pthread_mutex_unlock(&s->m);
    }
    return bench_now() - t;
}

static int lock_side(const bench_cfg *cfg, int recursive, double *out, char *why, size_t whylen)
{
    shared_sync *s = make_shared(recursive);
    if (!s)
        return BENCH_WHY("mmap: %s", strerror(errno));
    double sec = bench_calibrate(run_lock, s, 100000, 2000000000L, cfg->target);
    free_shared(s);
    *out = sec * 1e9;
    return 0;
}

SIDE(raw_lock_uncontended)
{
    return lock_side(cfg, 0, out, why, whylen);
}

SIDE(raw_rlock_uncontended)
{
    return lock_side(cfg, 1, out, why, whylen);
}

static double run_contended(void *c, long n)
{
    shared_sync *s = c;
    s->counter = 0;
    atomic_store(&s->ready, 0);
    atomic_store(&s->go, 0);
    pid_t pid[2];
    for (int k = 0; k < 2; k++) {
        pid[k] = fork();
        if (pid[k] < 0)
            return -1;
        if (pid[k] == 0) {
            atomic_fetch_add(&s->ready, 1);
            while (!atomic_load(&s->go))
                bench_relax();
            for (long i = 0; i < n; i++) {
                pthread_mutex_lock(&s->m);
                s->counter++;
                pthread_mutex_unlock(&s->m);
            }
            s->end[k] = bench_now();
            _exit(0);
        }
    }
    while (atomic_load(&s->ready) < 2)
        bench_relax();
    double t = bench_now();
    atomic_store(&s->go, 1);
    int bad = bench_wait_ok(pid[0]) | bench_wait_ok(pid[1]);
    if (bad || s->counter != 2 * n)
        return -1;
    double end = s->end[0] > s->end[1] ? s->end[0] : s->end[1];
    return (end - t) / 2; /* per increment: 2n increments, n per "operation" */
}

SIDE(raw_lock_contended_increment)
{
    shared_sync *s = make_shared(0);
    if (!s)
        return BENCH_WHY("mmap: %s", strerror(errno));
    double sec = bench_calibrate(run_contended, s, 10000, 1000000000L, cfg->target);
    free_shared(s);
    if (sec < 0)
        return BENCH_WHY("raw contended increment failed");
    *out = sec * 1e9;
    return 0;
}

static double run_futex_pingpong(void *c, long n)
{
    shared_sync *s = c;
    atomic_store(&s->turn, 0);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        for (long i = 0; i <= n; i++) {
            while (atomic_load(&s->turn) != 1)
                bench_futex_wait(&s->turn, 0);
            atomic_store(&s->turn, 0);
            bench_futex_wake(&s->turn, 1);
        }
        _exit(0);
    }
    double t = 0;
    for (long i = 0; i <= n; i++) {
        if (i == 1)
            t = bench_now(); /* the first round trip waits for the child to start */
        atomic_store(&s->turn, 1);
        bench_futex_wake(&s->turn, 1);
        while (atomic_load(&s->turn) != 0)
            bench_futex_wait(&s->turn, 1);
    }
    t = bench_now() - t;
    if (bench_wait_ok(pid))
        return -1;
    return t;
}

SIDE(raw_condition_pingpong)
{
    shared_sync *s = make_shared(0);
    if (!s)
        return BENCH_WHY("mmap: %s", strerror(errno));
    double sec = bench_calibrate(run_futex_pingpong, s, 200, 100000000L, cfg->target);
    free_shared(s);
    if (sec < 0)
        return BENCH_WHY("raw futex ping-pong failed");
    *out = sec * 1e6;
    return 0;
}

static double run_read_nolock(void *c, long n)
{
    shared_sync *s = c;
    int32_t acc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++)
        acc += s->arr[5];
    t = bench_now() - t;
    BENCH_KEEP(acc);
    return t;
}

static double run_read_lock(void *c, long n)
{
    shared_sync *s = c;
    int32_t acc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&s->m);
        acc += s->arr[5];
        pthread_mutex_unlock(&s->m);
    }
    t = bench_now() - t;
    BENCH_KEEP(acc);
    return t;
}

SIDE(raw_array_read_nolock)
{
    shared_sync *s = make_shared(0);
    if (!s)
        return BENCH_WHY("mmap: %s", strerror(errno));
    double sec = bench_calibrate(run_read_nolock, s, 1000000, 20000000000L, cfg->target);
    free_shared(s);
    *out = sec * 1e9;
    return 0;
}

SIDE(raw_array_read_lock)
{
    shared_sync *s = make_shared(0);
    if (!s)
        return BENCH_WHY("mmap: %s", strerror(errno));
    double sec = bench_calibrate(run_read_lock, s, 100000, 2000000000L, cfg->target);
    free_shared(s);
    *out = sec * 1e9;
    return 0;
}
