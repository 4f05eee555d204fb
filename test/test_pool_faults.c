/* test_pool_faults.c - regression tests of issue #12 (items 1 and 2):
 *
 *  1. results larger than a slot's output area ("spilled" outputs) survive
 *     whatever their worker does after returning them: a later task on it
 *     crashes (SIGSEGV, abort), it exits by maxtasksperchild (POOL-04), or
 *     it is SIGKILLed from outside right after returning;
 *  2. ThreadPool terminate / destroy (POOL-18, POOL-20, POOL-24, TPOOL-01)
 *     fail every task not yet started with MPX_ECANCELED instead of
 *     running it, and let the running ones finish.
 *
 * Task functions live in this executable so the same tests run under fork,
 * spawn and forkserver. Outputs are checked byte by byte, not only by
 * length. */
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t rd64(const void *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- big outputs ----------------------------------------------------------- */

/* Input of t_big: what to produce. */
typedef struct big_in {
    int64_t index;
    int64_t size; /* bytes of output */
    int64_t mode;
} big_in;

enum {
    BIG_CRASH = 1,   /* index % 9 == 4: SIGSEGV, index % 13 == 7: abort */
    BIG_PUBLISH = 2, /* write the worker's pid into pids[index] before returning */
    BIG_SLOW = 4,    /* sleep 100 ms before returning (a chunk's outputs stay spilled a while) */
};

static bool big_crashes(int64_t i)
{
    return i % 9 == 4 || i % 13 == 7;
}

/* The output of item i: 8-byte words that depend on i and their position,
 * so a truncated, shifted or swapped output shows. */
static uint64_t big_word(int64_t i, uint64_t k)
{
    return (uint64_t)i * 0x9E3779B97F4A7C15ull + k * 0xBF58476D1CE4E5B9ull + 1;
}

static void big_fill(unsigned char *o, size_t size, int64_t i)
{
    size_t k = 0;
    for (; k + 8 <= size; k += 8) {
        uint64_t w = big_word(i, k / 8);
        memcpy(o + k, &w, 8);
    }
    uint64_t w = big_word(i, k / 8);
    memcpy(o + k, &w, size - k);
}

static void big_check(const void *d, size_t len, int64_t i, size_t size)
{
    if (len != size)
        FAIL("item %" PRId64 ": %zu bytes, expected %zu", i, len, size);
    const unsigned char *o = d;
    size_t k = 0;
    for (; k + 8 <= size; k += 8) {
        uint64_t w = big_word(i, k / 8);
        if (memcmp(o + k, &w, 8) != 0)
            FAIL("item %" PRId64 ": wrong bytes at offset %zu of %zu", i, k, size);
    }
    uint64_t w = big_word(i, k / 8);
    if (memcmp(o + k, &w, size - k) != 0)
        FAIL("item %" PRId64 ": wrong tail bytes", i);
}

/* pids[index] (BIG_PUBLISH), a shared array set by the initializer */
static mpx_array *g_pid_array;
static int t_init_pids(const mpx_args *a)
{
    g_pid_array = mpx_args_object(a, 0);
    return g_pid_array ? 0 : MPX_EINVAL;
}

static int t_big(const void *in, size_t len, mpx_task_out *out)
{
    if (len != sizeof(big_in))
        return mpx_task_fail(out, "bad input length %zu", len);
    big_in b;
    memcpy(&b, in, sizeof b);
    if ((b.mode & BIG_CRASH) && b.index % 9 == 4)
        raise(SIGSEGV);
    if ((b.mode & BIG_CRASH) && b.index % 13 == 7)
        abort();
    unsigned char *o = mpx_task_out_buf(out, (size_t)b.size);
    if (!o)
        return -ENOMEM;
    big_fill(o, (size_t)b.size, b.index);
    if (b.mode & BIG_SLOW)
        sleep_ms(100);
    if ((b.mode & BIG_PUBLISH) && g_pid_array) {
        int64_t *pids = mpx_array_ptr(g_pid_array);
        __atomic_store_n(&pids[b.index], (int64_t)getpid(), __ATOMIC_RELEASE);
    }
    return 0;
}

static big_in *big_inputs(size_t n, size_t size, int64_t mode, mpx_bytes **items)
{
    big_in *v = calloc(n, sizeof *v);
    mpx_bytes *it = calloc(n, sizeof *it);
    CHECK(v && it);
    for (size_t i = 0; i < n; i++) {
        v[i] = (big_in){(int64_t)i, (int64_t)size, mode};
        it[i] = (mpx_bytes){&v[i], sizeof v[i]};
    }
    *items = it;
    return v;
}

/* Check a failed item: its worker died while running it (never "result
 * lost"), with one of the signals allowed. */
static void check_died(mpx_task_error *e, int64_t i, int sig1, int sig2)
{
    if (e->code != MPX_EWORKER)
        FAIL("item %" PRId64 ": code %s (%s), expected MPX_EWORKER", i, mpx_err_name(e->code),
             e->message);
    if (strstr(e->message, "lost"))
        FAIL("item %" PRId64 ": %s", i, e->message);
    if (e->signal != sig1 && e->signal != sig2)
        FAIL("item %" PRId64 ": signal %d (%s)", i, e->signal, e->message);
}

/* map (results all kept) over n items of `size` bytes; with BIG_CRASH the
 * crashing items fail with their own signal and every other item comes
 * back intact. */
static size_t big_map(mpx_pool *p, size_t n, size_t size, int64_t mode, size_t chunksize)
{
    mpx_bytes *it;
    big_in *v = big_inputs(n, size, mode, &it);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = chunksize};
    int rc = mpx_pool_map(p, t_big, it, n, &o, &r);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const void *d;
        size_t l;
        int irc = mpx_result_item(r, i, &d, &l);
        if ((mode & BIG_CRASH) && big_crashes((int64_t)i)) {
            CHECK_ERR(irc, MPX_EWORKER);
            mpx_task_error e;
            CHECK_OK(mpx_result_item_error(r, i, &e));
            check_died(&e, (int64_t)i, SIGSEGV, SIGABRT);
            bad++;
        } else {
            if (irc) {
                mpx_task_error e = {0};
                mpx_result_item_error(r, i, &e);
                FAIL("item %zu of %zu (%zu bytes) failed: %s: %s", i, n, size, mpx_err_name(irc),
                     e.message ? e.message : "");
            }
            big_check(d, l, (int64_t)i, size);
        }
    }
    CHECK_EQ(mpx_result_failed(r), bad);
    CHECK_ERR(rc, bad ? MPX_EWORKER : 0);
    mpx_result_destroy(r);
    free(it);
    free(v);
    return bad;
}

/* imap over n items with a small look-ahead (10 MiB outputs: the results
 * are checked and freed one by one); same checks as big_map. */
static void big_imap(mpx_pool *p, size_t n, size_t size, int64_t mode)
{
    mpx_bytes *it;
    big_in *v = big_inputs(n, size, mode, &it);
    mpx_imap *im;
    mpx_call_opts o = {.chunksize = 1, .lookahead = 6};
    CHECK_OK(mpx_pool_imap(p, t_big, it, n, &o, &im));
    for (size_t i = 0; i < n; i++) {
        const void *d;
        size_t l, idx = SIZE_MAX;
        int irc = mpx_imap_next(im, MPX_FOREVER, &d, &l, &idx);
        CHECK_EQ(idx, i);
        mpx_task_error e = {0};
        if ((mode & BIG_CRASH) && big_crashes((int64_t)i)) {
            CHECK_ERR(irc, MPX_EWORKER);
            CHECK_OK(mpx_imap_error(im, &e));
            check_died(&e, (int64_t)i, SIGSEGV, SIGABRT);
        } else {
            if (irc) {
                mpx_imap_error(im, &e);
                FAIL("item %zu of %zu (%zu bytes) failed: %s: %s", i, n, size, mpx_err_name(irc),
                     e.message ? e.message : "");
            }
            big_check(d, l, (int64_t)i, size);
        }
    }
    CHECK_ERR(mpx_imap_next(im, 0, NULL, NULL, NULL), MPX_EEOF);
    mpx_imap_destroy(im);
    free(it);
    free(v);
}

static mpx_pool *pool2(int maxtasks)
{
    mpx_pool *p;
    mpx_pool_opts o = {.maxtasksperchild = maxtasks};
    CHECK_OK(mpx_pool_create(&p, 2, &o));
    return p;
}

static void finish(mpx_pool *p)
{
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}

/* 10 MiB outputs: fewer items in the (much slower) sanitizer builds */
static size_t n_10m(void)
{
    return mpx_test_sanitized() ? 30 : 100;
}

#define KIB100 (100u * 1024u)
#define MIB10 (10u * 1024u * 1024u)

/* #12.1: a later task on the same worker crashes; every good item,
 * finished before it, keeps its 100 KiB output. Chunksize 1 and the
 * default chunksize (25 items of a slot, spilled one by one). */
MPX_TEST_T(pool_spilled_results_survive_later_crash_100k, 120)
{
    mpx_pool *p = pool2(0);
    size_t crashed = big_map(p, 200, KIB100, BIG_CRASH, 1);
    crashed += big_map(p, 200, KIB100, BIG_CRASH, 0);
    CHECK_EQ(crashed, 2 * 36);
    CHECK(mpx_pool_replaced(p) >= crashed);
    finish(p);
}

/* #12.1: the same with 10 MiB outputs */
MPX_TEST_T(pool_spilled_results_survive_later_crash_10m, 180)
{
    mpx_pool *p = pool2(0);
    big_imap(p, n_10m(), MIB10, BIG_CRASH);
    finish(p);
}

/* #12.1: maxtasksperchild=1, no fault at all: each worker exits right
 * after returning its (spilled) result */
MPX_TEST_T(pool_spilled_results_survive_maxtasksperchild_100k, 180)
{
    mpx_pool *p = pool2(1);
    big_map(p, 100, KIB100, 0, 1);
    CHECK(mpx_pool_replaced(p) >= 90);
    finish(p);
}

MPX_TEST_T(pool_spilled_results_survive_maxtasksperchild_10m, 180)
{
    mpx_pool *p = pool2(1);
    big_imap(p, n_10m(), MIB10, 0);
    finish(p);
}

/* #12.1: workers SIGKILLed from outside right after returning. Each task
 * writes its worker's pid into a shared array just before it returns; a
 * killer thread SIGKILLs the worker of every 4th item as soon as that pid
 * appears. An item fails only when its own worker was killed while running
 * it, so there are at most as many failures as kills. */
typedef struct killer {
    mpx_array *pids;
    size_t n;
    atomic_bool stop;
    int kills;
    bool seen[256]; /* not malloc'd: a worker forked meanwhile would report it lost */
} killer;

static void *killer_main(void *arg)
{
    killer *k = arg;
    int64_t *pids = mpx_array_ptr(k->pids);
    bool *seen = k->seen;
    pid_t killed[512];
    int nk = 0;
    while (!atomic_load(&k->stop)) {
        for (size_t i = 0; i < k->n; i++) {
            if (seen[i])
                continue;
            pid_t pid = (pid_t)__atomic_load_n(&pids[i], __ATOMIC_ACQUIRE);
            if (pid <= 0)
                continue;
            seen[i] = true;
            if (i % 4 != 1)
                continue;
            bool again = false; /* each worker once: its pid is not reused under us */
            for (int x = 0; x < nk; x++)
                again |= killed[x] == pid;
            if (again || nk == (int)(sizeof killed / sizeof killed[0]))
                continue;
            if (kill(pid, SIGKILL) == 0)
                killed[nk++] = pid;
        }
        struct timespec t = {0, 200000};
        nanosleep(&t, NULL);
    }
    k->kills = nk;
    return NULL;
}

static void sigkill_run(size_t n, size_t size)
{
    static killer k; /* static: see seen */
    memset(&k, 0, sizeof k);
    k.n = n;
    CHECK(n <= sizeof k.seen);
    CHECK_OK(mpx_rawarray_create(&k.pids, "q", n, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, k.pids));
    mpx_pool *p;
    mpx_pool_opts po = {.initializer = t_init_pids, .initargs = a};
    CHECK_OK(mpx_pool_create(&p, 2, &po));
    mpx_args_destroy(a);
    mpx_bytes *it;
    big_in *v = big_inputs(n, size, BIG_PUBLISH, &it);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, killer_main, &k), 0);
    mpx_imap *im;
    mpx_call_opts o = {.chunksize = 1, .lookahead = size > KIB100 ? 6 : 0};
    CHECK_OK(mpx_pool_imap(p, t_big, it, n, &o, &im));
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        const void *d;
        size_t l, idx = SIZE_MAX;
        int irc = mpx_imap_next(im, MPX_FOREVER, &d, &l, &idx);
        CHECK_EQ(idx, i);
        if (irc == 0) {
            big_check(d, l, (int64_t)i, size);
            continue;
        }
        mpx_task_error e = {0};
        CHECK_OK(mpx_imap_error(im, &e));
        check_died(&e, (int64_t)i, SIGKILL, SIGKILL);
        failed++;
    }
    atomic_store(&k.stop, true);
    pthread_join(th, NULL);
    CHECK(k.kills > 0);
    if (failed > (size_t)k.kills)
        FAIL("%zu items failed, %d kills", failed, k.kills);
    mpx_imap_destroy(im);
    free(it);
    free(v);
    finish(p);
    mpx_array_destroy(k.pids);
}

MPX_TEST_T(pool_spilled_results_survive_sigkill_100k, 120)
{
    sigkill_run(200, KIB100);
}

MPX_TEST_T(pool_spilled_results_survive_sigkill_10m, 180)
{
    sigkill_run(n_10m(), MIB10);
}

/* #12.1: spilled outputs leave no descriptor behind, in the parent or in
 * a worker, and the pool's output files hold no memory once the results
 * are in: the memory of a spilled output is freed when its slot is. */
static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - (pid == getpid()); /* opendir's own descriptor */
}

/* Blocks held by the parent's pool output files (memfd "mpx-pool-out"). */
static long long spill_blocks(int *files)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    long long blocks = 0;
    *files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], link[300];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t l = readlink(path, link, sizeof link - 1);
        if (l <= 0)
            continue;
        link[l] = 0;
        if (!strstr(link, "mpx-pool-out"))
            continue;
        struct stat st;
        CHECK_EQ(fstat(atoi(e->d_name), &st), 0);
        blocks += st.st_blocks;
        (*files)++;
    }
    closedir(d);
    return blocks;
}

MPX_TEST_T(pool_spill_no_descriptor_or_memory_leak, 120)
{
    mpx_pool *p = pool2(0);
    pid_t pids[2];
    int nw = 0;
    for (int i = 0; i < 400 && nw < 2; i++) {
        nw = mpx_pool_worker_pids(p, pids, 2);
        sleep_ms(5);
    }
    CHECK_EQ(nw, 2);
    big_map(p, 20, 40, 0, 1); /* warm-up: small outputs */
    int fds0 = count_fds(getpid());
    int wfds0[2] = {count_fds(pids[0]), count_fds(pids[1])};
    for (int round = 0; round < 3; round++) {
        big_map(p, 200, KIB100, 0, 1);
        big_map(p, 200, KIB100, 0, 0);
    }
    CHECK_EQ(count_fds(getpid()), fds0);
    /* the workers hold nothing for results they returned */
    CHECK_EQ(count_fds(pids[0]), wfds0[0]);
    CHECK_EQ(count_fds(pids[1]), wfds0[1]);
    int files = 0;
    CHECK_EQ(spill_blocks(&files), 0);
    CHECK(files >= 1);
    finish(p);
}

/* The output files (dev, ino) of this process's pools, up to max. */
static size_t spill_file_ids(uint64_t *ids, size_t max)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char path[300], link[300];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t l = readlink(path, link, sizeof link - 1);
        if (l <= 0)
            continue;
        link[l] = 0;
        struct stat st;
        if (!strstr(link, "mpx-pool-out") || stat(path, &st) < 0)
            continue;
        ids[2 * n] = (uint64_t)st.st_dev;
        ids[2 * n + 1] = (uint64_t)st.st_ino;
        n++;
    }
    closedir(d);
    return n;
}

/* A process (any we may look at) that still holds one of the files
 * (dev, ino) of ids open, or 0. */
static pid_t spill_file_holder(const uint64_t *ids, size_t n)
{
    DIR *pd = opendir("/proc");
    CHECK(pd != NULL);
    pid_t found = 0;
    struct dirent *pe;
    while (!found && (pe = readdir(pd))) {
        pid_t pid = (pid_t)atoi(pe->d_name);
        if (pid <= 0)
            continue;
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
        DIR *d = opendir(dir);
        if (!d)
            continue; /* gone, or not ours */
        struct dirent *e;
        while (!found && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[400];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat st;
            if (stat(path, &st) < 0)
                continue;
            for (size_t i = 0; i < n; i++)
                if ((uint64_t)st.st_dev == ids[2 * i] && (uint64_t)st.st_ino == ids[2 * i + 1])
                    found = pid;
        }
        closedir(d);
    }
    closedir(pd);
    return found;
}

/* Wait (up to 60 s) until no process holds any of the files. */
static void wait_spill_files_gone(const uint64_t *ids, size_t n)
{
    pid_t holder = 0;
    for (int i = 0; i < 1200; i++) {
        holder = spill_file_holder(ids, n);
        if (!holder)
            return;
        sleep_ms(50);
    }
    char comm[300] = "?";
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)holder);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t l = fread(comm, 1, sizeof comm - 1, f);
        comm[l] = 0;
        fclose(f);
    }
    FAIL("process %d (%s) still holds a pool output file", (int)holder, comm);
}

/* Start a map_async of 100 KiB outputs whose chunks (10 items of 100 ms)
 * keep their finished outputs in the output files a while, and wait until
 * the files hold some. */
static mpx_result *spill_in_flight(mpx_pool *p, mpx_bytes **it, big_in **v)
{
    *v = big_inputs(40, KIB100, BIG_SLOW, it);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 10};
    CHECK_OK(mpx_pool_map_async(p, t_big, *it, 40, &o, &r));
    int files = 0;
    for (int i = 0; i < 20000 && spill_blocks(&files) == 0; i++)
        sleep_ms(1);
    CHECK(spill_blocks(&files) > 0);
    return r;
}

/* #12.1: results never read. A result or imap dropped by its caller while
 * its outputs come in leaves no memory in the output files; a pool
 * destroyed while spilled outputs are in its files closes them, and no
 * process (worker, fork server) keeps them. */
MPX_TEST_T(pool_spill_freed_when_results_unread, 120)
{
    mpx_pool *p = pool2(0);
    mpx_bytes *it;
    big_in *v = big_inputs(100, KIB100, 0, &it);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 5};
    CHECK_OK(mpx_pool_map_async(p, t_big, it, 100, &o, &r));
    mpx_result_destroy(r); /* never read */
    mpx_imap *im;
    o.lookahead = 4;
    CHECK_OK(mpx_pool_imap(p, t_big, it, 100, &o, &im));
    const void *d;
    size_t l;
    CHECK_OK(mpx_imap_next(im, MPX_FOREVER, &d, &l, NULL));
    big_check(d, l, 0, KIB100);
    mpx_imap_destroy(im); /* the rest never read */
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    int files = 0;
    CHECK_EQ(spill_blocks(&files), 0);
    CHECK(files >= 1);
    mpx_pool_destroy(p);
    CHECK_EQ(spill_blocks(&files), 0);
    CHECK_EQ(files, 0);
    free(it);
    free(v);

    /* destroyed with spilled outputs in its files, nothing read */
    p = pool2(0);
    r = spill_in_flight(p, &it, &v);
    uint64_t ids[16];
    size_t n = spill_file_ids(ids, 8);
    CHECK(n >= 1);
    CHECK(spill_file_holder(ids, n) != 0); /* this process, at least: the scan sees it */
    mpx_pool_destroy(p);
    spill_blocks(&files);
    CHECK_EQ(files, 0);
    wait_spill_files_gone(ids, n);
    CHECK_EQ(mpx_result_ready(r), 1);
    CHECK(mpx_result_failed(r) > 0); /* cancelled by the destroy */
    mpx_result_destroy(r);
    free(it);
    free(v);
}

/* The child of pool_spill_freed_when_owner_ends: makes a pool with spilled
 * outputs in its files, sends their (dev, ino) to the test, then ends
 * without destroying the pool or reading the result: by returning (mode 0)
 * or by SIGKILL (mode 1). */
static mpx_pool *g_owner_pool; /* reachable: the pool is left alive on purpose */
static mpx_result *g_owner_result;
static mpx_bytes *g_owner_items;
static big_in *g_owner_inputs;
static int t_spill_owner(const mpx_args *a)
{
    mpx_connection *c = mpx_args_object(a, 0);
    int64_t mode = mpx_args_int(a, 1);
    g_owner_pool = pool2(0);
    g_owner_result = spill_in_flight(g_owner_pool, &g_owner_items, &g_owner_inputs);
    uint64_t ids[16];
    size_t n = spill_file_ids(ids, 8);
    CHECK(n >= 1);
    CHECK_OK(mpx_connection_send_bytes(c, ids, n * 16));
    if (mode == 1)
        raise(SIGKILL);
    return 0;
}

/* #12.1: the pool's owner ends (returns from its process, or is
 * SIGKILLed) with spilled outputs in its pool's files, never read: the
 * files go with it and its workers (no process keeps them). */
MPX_TEST_T(pool_spill_freed_when_owner_ends, 120)
{
    for (int64_t mode = 0; mode < 2; mode++) {
        mpx_connection *rd, *wr;
        CHECK_OK(mpx_pipe(&rd, &wr, 0));
        mpx_process *child = start_objs_int(t_spill_owner, wr, NULL, mode);
        mpx_connection_close(wr);
        void *m;
        size_t len;
        CHECK_OK(mpx_connection_recv_bytes(rd, &m, &len));
        CHECK(len >= 16 && len % 16 == 0 && len <= 8 * 16);
        uint64_t ids[16];
        memcpy(ids, m, len);
        mpx_free(m);
        CHECK_EQ(join_destroy(child), mode == 0 ? 0 : -SIGKILL);
        wait_spill_files_gone(ids, len / 16);
        mpx_connection_destroy(rd);
        mpx_connection_destroy(wr);
    }
}

/* ---- ThreadPool terminate / destroy (#12.2) -------------------------------- */

static atomic_int tp_started, tp_finished;

static int t_tp_sleep(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    atomic_fetch_add(&tp_started, 1);
    sleep_ms(1000); /* issue #12's one-second tasks */
    atomic_fetch_add(&tp_finished, 1);
    int64_t x = rd64(in) * 10 + 1;
    return mpx_task_out_set(out, &x, 8);
}

enum { TP_N = 20, TP_THREADS = 3 };

/* Wait until the 3 threads run their first tasks. */
static void wait_started(int n)
{
    for (int i = 0; i < 10000 && atomic_load(&tp_started) < n; i++)
        sleep_ms(1);
    CHECK(atomic_load(&tp_started) >= n);
}

/* After terminate + join (or destroy): every task that started ran to its
 * end (threads cannot be killed) and kept its own result; every other item
 * failed with MPX_ECANCELED without running. */
static void check_tp_items(mpx_result **rs, size_t nres, size_t per)
{
    int started = atomic_load(&tp_started);
    CHECK_EQ(started, atomic_load(&tp_finished));
    size_t ok = 0, canceled = 0;
    for (size_t r = 0; r < nres; r++) {
        CHECK_EQ(mpx_result_ready(rs[r]), 1);
        for (size_t i = 0; i < per; i++) {
            const void *d;
            size_t l;
            int rc = mpx_result_item(rs[r], i, &d, &l);
            if (rc == 0) {
                CHECK_EQ(l, 8);
                CHECK_EQ(rd64(d), (int64_t)(r * per + i) * 10 + 1);
                ok++;
            } else {
                CHECK_ERR(rc, MPX_ECANCELED);
                canceled++;
            }
        }
        int want = mpx_result_failed(rs[r]) ? MPX_ECANCELED : 0;
        CHECK_ERR(mpx_result_get(rs[r], 0, NULL, NULL), want);
    }
    CHECK_EQ(ok + canceled, TP_N);
    CHECK_EQ(ok, (size_t)started);
    /* the tasks running at terminate, and at most a few that a thread took
     * before the handler thread saw the terminate: never the whole queue */
    if (started > 2 * TP_THREADS)
        FAIL("%d of %d tasks ran after terminate", started, TP_N);
    CHECK(canceled >= TP_N - 2 * TP_THREADS);
}

static int64_t tp_vals[TP_N];

static mpx_pool *tp_start(void)
{
    atomic_store(&tp_started, 0);
    atomic_store(&tp_finished, 0);
    for (int i = 0; i < TP_N; i++)
        tp_vals[i] = i;
    mpx_pool *p;
    CHECK_OK(mpx_thread_pool_create(&p, TP_THREADS, NULL, NULL));
    return p;
}

/* map_async of 20 one-second tasks on 3 threads, then terminate + join */
MPX_TEST_T(tpool_terminate_cancels_queued_map, 60)
{
    size_t chunks[2] = {1, 0}; /* default chunksize: 2 items per slot */
    for (int round = 0; round < 2; round++) {
        mpx_pool *p = tp_start();
        mpx_bytes it[TP_N];
        for (int i = 0; i < TP_N; i++)
            it[i] = (mpx_bytes){&tp_vals[i], 8};
        mpx_result *r;
        mpx_call_opts o = {.chunksize = chunks[round]};
        CHECK_OK(mpx_pool_map_async(p, t_tp_sleep, it, TP_N, &o, &r));
        wait_started(TP_THREADS);
        CHECK_OK(mpx_pool_terminate(p));
        CHECK_OK(mpx_pool_join(p));
        check_tp_items(&r, 1, TP_N);
        CHECK(mpx_result_failed(r) > 0);
        mpx_result_destroy(r);
        mpx_pool_destroy(p);
    }
}

/* apply_async x 20, then terminate + join */
MPX_TEST_T(tpool_terminate_cancels_queued_apply, 60)
{
    mpx_pool *p = tp_start();
    mpx_result *rs[TP_N];
    for (int i = 0; i < TP_N; i++)
        CHECK_OK(mpx_pool_apply_async(p, t_tp_sleep, &tp_vals[i], 8, NULL, &rs[i]));
    wait_started(TP_THREADS);
    CHECK_OK(mpx_pool_terminate(p));
    CHECK_OK(mpx_pool_join(p));
    check_tp_items(rs, TP_N, 1);
    for (int i = 0; i < TP_N; i++)
        mpx_result_destroy(rs[i]);
    mpx_pool_destroy(p);
}

/* destroy without terminate: the same (POOL-24); the results outlive the
 * pool */
MPX_TEST_T(tpool_destroy_cancels_queued, 60)
{
    mpx_pool *p = tp_start();
    mpx_bytes it[TP_N];
    for (int i = 0; i < TP_N; i++)
        it[i] = (mpx_bytes){&tp_vals[i], 8};
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 1};
    CHECK_OK(mpx_pool_map_async(p, t_tp_sleep, it, TP_N, &o, &r));
    mpx_imap *im;
    CHECK_OK(mpx_pool_imap(p, t_tp_sleep, it, TP_N, &o, &im));
    wait_started(TP_THREADS);
    mpx_pool_destroy(p);
    check_tp_items(&r, 1, TP_N);
    /* the imap behind it never started: every item it yields is cancelled */
    size_t got = 0;
    for (;;) {
        int rc = mpx_imap_next(im, 5000, NULL, NULL, NULL);
        if (rc == MPX_EEOF)
            break;
        CHECK_ERR(rc, MPX_ECANCELED);
        got++;
    }
    CHECK(got <= TP_N);
    CHECK_EQ(atomic_load(&tp_started), atomic_load(&tp_finished));
    mpx_imap_destroy(im);
    mpx_result_destroy(r);
}
