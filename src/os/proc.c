/*
 * os/proc.c - reading /proc (os/proc.h).
 */
#include "os/proc.h"
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
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
