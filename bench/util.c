/* bench/util.c - helpers shared by the benchmark programs (bench.h). */
#include "bench.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
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

long bench_smaps_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/smaps_rollup");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t fl = strlen(field);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

long bench_shm_kib(pid_t pid)
{
    char dir[64], path[PATH_MAX], link[PATH_MAX];
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid ? (int)pid : (int)getpid());
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    dev_t seen_dev[256];
    ino_t seen_ino[256];
    int nseen = 0;
    long kib = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = 0;
        if (strncmp(link, "/memfd:", 7) && strncmp(link, "/dev/shm/", 9))
            continue;
        struct stat st;
        if (stat(path, &st) < 0)
            continue;
        int dup = 0;
        for (int i = 0; i < nseen; i++)
            dup |= seen_dev[i] == st.st_dev && seen_ino[i] == st.st_ino;
        if (dup)
            continue;
        if (nseen < 256) {
            seen_dev[nseen] = st.st_dev;
            seen_ino[nseen++] = st.st_ino;
        }
        kib += (long)(st.st_blocks / 2); /* 512-byte blocks */
    }
    closedir(d);
    return kib;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_call_median(int (*call)(void *ctx), void *ctx, int warm, double target, int *err)
{
    enum { MIN_CALLS = 20, MAX_CALLS = 1000000 };
    for (int i = 0; i < warm; i++)
        if ((*err = call(ctx)))
            return -1;
    size_t cap = 4096, n = 0;
    double *v = malloc(cap * sizeof *v);
    if (!v)
        return *err = -ENOMEM, -1;
    double end = bench_now() + target;
    while (n < MIN_CALLS || (bench_now() < end && n < MAX_CALLS)) {
        if (n == cap) {
            double *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return *err = -ENOMEM, -1;
            }
            v = nv;
            cap *= 2;
        }
        double t = bench_now();
        if ((*err = call(ctx))) {
            free(v);
            return -1;
        }
        v[n++] = bench_now() - t;
    }
    qsort(v, n, sizeof *v, cmp_dbl);
    double m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    free(v);
    return m;
}
