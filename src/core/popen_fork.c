/*
 * popen_fork.c - the fork start method (CTX-03).
 *
 * The child is a copy of the parent taken in mpx_process_start. The
 * sentinel is a pidfd (Linux 5.3+); where pidfd_open is missing, it is the
 * read end of a pipe whose write end only the child holds, so it becomes
 * readable (EOF) when the child ends.
 */
#include "core/process_internal.h"
#include "os/pidfd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int mpx__fd_readable(int fd)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int r;
    do
        r = poll(&pfd, 1, 0);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

/* In a fork child without pidfds: the write end of our own sentinel pipe,
 * which our own fork children must not keep open. */
MPX__FORKHOT int mpx__sentinel_wfd = -1;

/* /dev/null, opened once (CLOEXEC, internal) for fork children's stdin. */
MPX__FORKHOT int mpx__devnull_fd = -1;

static int fork_start(mpx_process *p)
{
    int pipefd[2] = {-1, -1};
    mpx__pidfd_supported();
    /* A program may have closed our descriptor and reused its number:
     * check it is still /dev/null (char device 1:3) before relying on it. */
    int cur = __atomic_load_n(&mpx__devnull_fd, __ATOMIC_ACQUIRE);
    struct stat st;
    if (cur >= 0 && (fstat(cur, &st) < 0 || !S_ISCHR(st.st_mode) ||
                     st.st_rdev != makedev(1, 3))) {
        int expect = cur;
        if (__atomic_compare_exchange_n(&mpx__devnull_fd, &expect, -1, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            mpx__fd_mark_internal(cur, false); /* not ours any more: do not close */
    }
    if (__atomic_load_n(&mpx__devnull_fd, __ATOMIC_ACQUIRE) < 0) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int expect = -1;
        if (fd >= 0 && __atomic_compare_exchange_n(&mpx__devnull_fd, &expect, fd, false,
                                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            mpx__fd_mark_internal(fd, true);
        else
            mpx__close(fd);
    }
    if (!mpx__pidfd_supported() && pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        mpx__close(pipefd[0]);
        mpx__close(pipefd[1]);
        return e;
    }
    if (pid == 0) {
        /* mpx_process_start holds p->mu while it forks, and this thread
         * (the only one here) is its owner: release it, as an atfork child
         * handler does, rather than only re-initialising the locked copy
         * (mpx__child_setup), which ThreadSanitizer still counts as held by
         * this thread, so the first lock by another thread of the child
         * (a pool's handler starting a worker) was reported as a double
         * lock. */
        pthread_mutex_unlock(&p->mu);
        mpx__close(pipefd[0]); /* the write end stays open until we exit */
        mpx__close(mpx__sentinel_wfd); /* our parent's, inherited from a fork */
        mpx__sentinel_wfd = pipefd[1];
        mpx__child_setup(p, parent, parent, 0);
        mpx__child_run(p, p->args);
    }
    mpx__close(pipefd[1]);
    p->pid = pid;
    if (pipefd[0] >= 0) {
        p->sentinel = pipefd[0];
    } else {
        int fd = mpx__pidfd_open(pid);
        if (fd < 0) {
            /* Cannot happen for a child we have not reaped, except on a
             * kernel without pidfd; the next start uses a pipe. */
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return fd;
        }
        p->sentinel = fd;
    }
    /* Arguments passed by descriptor now live in the child. */
    return 0;
}

/* Shared by fork and spawn: both make real children of ours. With a
 * pidfd, readable means the child is a zombie. With the pipe fallback,
 * EOF comes a moment before the child becomes a zombie, so wait for that
 * without reaping (WNOWAIT): reaping happens only in mpx__child_poll,
 * under the object's lock. */
int mpx__child_wait(mpx_process *p, mpx__deadline d)
{
    for (;;) {
        if (__atomic_load_n(&p->has_exit, __ATOMIC_ACQUIRE))
            return 0;
        struct pollfd pfd = {p->sentinel, POLLIN, 0};
        int r = poll(&pfd, 1, mpx__deadline_poll_ms(d));
        if (r > 0)
            break;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r == 0 && mpx__deadline_expired(d))
            return MPX_ETIMEDOUT;
    }
    if (mpx__pidfd_supported())
        return 0;
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT | WNOHANG) < 0 || si.si_pid)
            return 0; /* a zombie now (or already reaped by another thread) */
        if (mpx__deadline_expired(d))
            return MPX_ETIMEDOUT;
        struct timespec t = {0, 500000};
        nanosleep(&t, NULL);
    }
}

int mpx__child_poll(mpx_process *p)
{
    int status;
    pid_t r;
    do
        r = waitpid(p->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == p->pid) {
        mpx__process_set_exit(p, mpx__status_to_exitcode(status));
        return 1;
    }
    if (r < 0 && errno == ECHILD) {
        /* Reaped by someone else (a SIGCHLD handler calling wait()): the
         * status is lost. */
        MPX__WARNING("process %s (pid %d) was reaped outside mpx; exit status lost", p->name,
                     (int)p->pid);
        mpx__process_set_exit(p, 255);
        return 1;
    }
    return 0;
}

int mpx__child_signal(mpx_process *p, int sig)
{
    if (p->sentinel >= 0 && mpx__pidfd_supported()) {
        int r = mpx__pidfd_send_signal(p->sentinel, sig);
        if (r == 0)
            return 0;
        if (r != -ENOSYS && r != -EBADF && r != -EINVAL)
            return r;
    }
    /* Safe: the pid cannot be reused until we reap it. */
    return kill(p->pid, sig) < 0 ? -errno : 0;
}

const mpx__popen_ops mpx__popen_fork = {
    .start = fork_start,
    .wait = mpx__child_wait,
    .poll = mpx__child_poll,
    .signal = mpx__child_signal,
    .cleanup = NULL,
};
