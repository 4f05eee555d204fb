/* bench/util.c - helpers shared by the benchmark programs (bench.h). */
#include "bench.h"

#include <limits.h>
#include <sys/wait.h>

int bench_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int bench_read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

void *bench_touch_resident(size_t size)
{
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, size, MADV_NOHUGEPAGE);
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    /* Fault every page in at once (Linux 5.14+), else touch each page. */
    if (madvise(p, size, MADV_POPULATE_WRITE) == 0)
        return p;
    for (size_t i = 0; i < size; i += 4096)
        p[i] = 1;
    return p;
}

int bench_wait_ok(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

const char *bench_self_exe(void)
{
    static char path[PATH_MAX];
    if (!path[0]) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n < 0)
            n = 0;
        path[n] = 0;
    }
    return path;
}
