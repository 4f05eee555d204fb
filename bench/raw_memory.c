/*
 * bench/raw_memory.c - the raw side of the memory group: what the OS
 * needs at the least, measured the same way as the mpx and cpython sides
 * (PSS from /proc/PID/smaps_rollup, bench_smaps_kib in util.c).
 *
 *   mem_pool{2,32}_parent  PSS of a process that has forked 2 (32) bare
 *                          children which wait in read() on a pipe
 *   mem_pool{2,32}_worker  the mean PSS of those children
 *   mem_queue_1g_parent    PSS of a process that has copied 1024 messages
 *                          of 1 MiB into a memfd it maps (the least a
 *                          queue holding 1 GiB for a later reader needs)
 *   mem_queue_1g_shm       the memfd's allocated size
 */
#include "figures.h"

#include <signal.h>
#include <sys/wait.h>

typedef struct {
    pid_t pid[MEM_POOL_BIG];
    int n, hold;
} sleepers;

static void sleepers_stop(sleepers *s)
{
    if (s->hold >= 0)
        close(s->hold); /* EOF: every child exits */
    for (int i = 0; i < s->n; i++)
        if (bench_wait_ok(s->pid[i]))
            fprintf(stderr, "raw memory: a sleeping child did not exit cleanly\n");
}

/* Fork n children that report ready, then block in read() until the
 * parent closes its end of the hold pipe (or dies). */
static int sleepers_start(sleepers *s, int n)
{
    int ready[2], hold[2];
    s->n = 0;
    s->hold = -1;
    if (pipe(ready) < 0)
        return -1;
    if (pipe(hold) < 0) {
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    s->hold = hold[1];
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            char c = 1;
            close(ready[0]);
            close(hold[1]);
            if (write(ready[1], &c, 1) != 1)
                _exit(1);
            while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
            }
            _exit(0);
        }
        s->pid[s->n++] = pid;
    }
    close(ready[1]);
    close(hold[0]);
    char buf[MEM_POOL_BIG];
    int rc = s->n == n && bench_read_all(ready[0], buf, (size_t)n) == 0 ? 0 : -1;
    close(ready[0]);
    return rc;
}

static int pool_side(int n, int worker, double *out, char *why, size_t whylen)
{
    sleepers s;
    if (sleepers_start(&s, n)) {
        int e = errno;
        sleepers_stop(&s);
        return BENCH_WHY("raw: forking %d children failed: %s", n, strerror(e));
    }
    long v = 0;
    if (!worker) {
        v = bench_smaps_kib(0, "Pss");
    } else {
        for (int i = 0; i < n && v >= 0; i++) {
            long k = bench_smaps_kib(s.pid[i], "Pss");
            v = k < 0 ? -1 : v + k;
        }
    }
    sleepers_stop(&s);
    if (v < 0)
        return BENCH_WHY("raw: cannot read smaps_rollup: %s", strerror(errno));
    *out = worker ? (double)v / n : (double)v;
    return 0;
}

SIDE(raw_mem_pool2_parent)
{
    return pool_side(POOL_WORKERS, 0, out, why, whylen);
}

SIDE(raw_mem_pool2_worker)
{
    return pool_side(POOL_WORKERS, 1, out, why, whylen);
}

SIDE(raw_mem_pool32_parent)
{
    return pool_side(MEM_POOL_BIG, 0, out, why, whylen);
}

SIDE(raw_mem_pool32_worker)
{
    return pool_side(MEM_POOL_BIG, 1, out, why, whylen);
}

static int queue_side(int shm, double *out, char *why, size_t whylen)
{
    size_t total = (size_t)(MEM_QUEUE_MSG * MEM_QUEUE_MSGS);
    char *buf = malloc((size_t)MEM_QUEUE_MSG);
    if (!buf)
        return BENCH_WHY("out of memory");
    int fd = memfd_create("rawqueue", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)total) < 0) {
        int e = errno;
        free(buf);
        if (fd >= 0)
            close(fd);
        return BENCH_WHY("raw: memfd: %s", strerror(e));
    }
    char *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        free(buf);
        close(fd);
        return BENCH_WHY("raw: mmap: %s", strerror(e));
    }
    /* the messages, each with its own content, as the other sides put them */
    for (long i = 0; i < MEM_QUEUE_MSGS; i++) {
        memset(buf, (int)(i & 255), (size_t)MEM_QUEUE_MSG);
        memcpy(m + (size_t)i * (size_t)MEM_QUEUE_MSG, buf, (size_t)MEM_QUEUE_MSG);
    }
    long v = shm ? bench_shm_kib(0) : bench_smaps_kib(0, "Pss");
    munmap(m, total);
    close(fd);
    free(buf);
    if (v < 0)
        return BENCH_WHY("raw: cannot read /proc/self: %s", strerror(errno));
    *out = (double)v / 1024;
    return 0;
}

SIDE(raw_mem_queue_1g_parent)
{
    return queue_side(0, out, why, whylen);
}

SIDE(raw_mem_queue_1g_shm)
{
    return queue_side(1, out, why, whylen);
}
