/*
 * os/proc.c - reading /proc (os/proc.h).
 */
#include "os/proc.h"
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mpx__proc_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int e = errno;
    mpx__close(fd);
    if (n <= 0)
        return n < 0 ? -e : -ESRCH;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -EPROTO;
    *state = p[2];
    p += 2; /* field 3 */
    for (int f = 3; f < 22; f++) {
        p = strchr(p, ' ');
        if (!p)
            return -EPROTO;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 0;
}

bool mpx__proc_self_status(uint32_t *umask_v, uint64_t *ignored)
{
    int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[4096];
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    mpx__close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    char *u = strstr(buf, "\nUmask:\t"), *ig = strstr(buf, "\nSigIgn:\t");
    if (!u || !ig)
        return false;
    *umask_v = (uint32_t)strtoul(u + 8, NULL, 8);
    *ignored = strtoull(ig + 9, NULL, 16);
    return true;
}

int mpx__proc_cgroup_cpu_quota(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return 0;
    char line[1024], path[1200] = "";
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", line + 3);
            break;
        }
    fclose(f);
    if (!*path)
        return 0;
    int best = 0;
    /* Walk up: a limit set on any ancestor applies. */
    for (;;) {
        f = fopen(path, "re");
        if (f) {
            char q[64];
            long long quota = 0, period = 0;
            if (fscanf(f, "%63s %lld", q, &period) == 2 && strcmp(q, "max") != 0) {
                quota = atoll(q);
                if (quota > 0 && period > 0) {
                    int c = (int)((quota + period - 1) / period);
                    if (c < 1)
                        c = 1;
                    if (!best || c < best)
                        best = c;
                }
            }
            fclose(f);
        }
        char *slash = strrchr(path, '/');
        if (!slash)
            break;
        *slash = 0;
        slash = strrchr(path, '/');
        if (!slash || slash - path < (ptrdiff_t)strlen("/sys/fs/cgroup"))
            break;
        strcpy(slash, "/cpu.max");
        if (!strcmp(path, "/sys/fs/cgroup/cpu.max"))
            break;
    }
    return best;
}
