/*
 * os/pidfd.c - process handles: pidfd_open with its probe,
 * pidfd_send_signal, pidfd_getfd (see os/pidfd.h).
 */
#include "os/pidfd.h"

#include "core/internal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 1 when the running kernel has pidfd_open, 0 when not, -1 not yet known.
 * Read on every process start and wait: with the other globals a fork
 * writes (internal.h). */
MPX__FORKHOT static int have_pidfd = -1;

int mpx__pidfd_open(pid_t pid)
{
    if (__atomic_load_n(&have_pidfd, __ATOMIC_RELAXED) == 0)
        return -ENOSYS;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        if (errno == ENOSYS)
            __atomic_store_n(&have_pidfd, 0, __ATOMIC_RELAXED);
        return -errno;
    }
    __atomic_store_n(&have_pidfd, 1, __ATOMIC_RELAXED);
    return fd; /* pidfd_open always sets close-on-exec */
}

/* Probe once, before the first fork, whether pidfds work here. */
int mpx__pidfd_supported(void)
{
    if (__atomic_load_n(&have_pidfd, __ATOMIC_RELAXED) == -1) {
        int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        if (fd >= 0) {
            close(fd);
            __atomic_store_n(&have_pidfd, 1, __ATOMIC_RELAXED);
        } else {
            __atomic_store_n(&have_pidfd, 0, __ATOMIC_RELAXED);
        }
    }
    return __atomic_load_n(&have_pidfd, __ATOMIC_RELAXED);
}

int mpx__pidfd_send_signal(int pidfd, int sig)
{
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0 ? 0 : -errno;
}

int mpx__pidfd_getfd(int pidfd, int fd)
{
#ifdef SYS_pidfd_getfd
    int r = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (r < 0)
        return -errno;
    mpx__set_cloexec(r, true); /* pidfd_getfd sets it already: cheap insurance */
    return r;
#else
    (void)pidfd;
    (void)fd;
    return -ENOSYS;
#endif
}
