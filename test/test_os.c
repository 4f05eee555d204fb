/* test_os.c - the OS layer (src/os/, docs/design.md "Source tree"):
 * descriptor passing (CONN-13's SCM_RIGHTS messages, the fork server's
 * requests) and process handles (PROC-19 sentinels, PROC-22 kill). The
 * runner's per-test descriptor check shows that nothing is leaked. */
#include "harness.h"

#include "os/fdpass.h"
#include "os/pidfd.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int count_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

/* Descriptors arrive close-on-exec, and refer to what was sent. */
MPX_TEST(os_fdpass_roundtrip_cloexec)
{
    int sv[2], p[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe(p) == 0); /* not CLOEXEC here */
    char msg[] = "hdr";
    struct iovec iov = {msg, 3};
    int send_fds[2] = {p[0], p[1]};
    CHECK_EQ(mpx__fdpass_send(sv[0], &iov, 1, send_fds, 2, 0), 3);
    char buf[8] = {0};
    struct iovec riov = {buf, sizeof buf};
    int got[4], n = -1, flags = -1;
    CHECK_EQ(mpx__fdpass_recv(sv[1], &riov, 1, got, 4, &n, 0, &flags), 3);
    CHECK_EQ(n, 2);
    CHECK_EQ(flags & (MSG_CTRUNC | MSG_TRUNC), 0);
    CHECK_STREQ(buf, "hdr");
    for (int i = 0; i < 2; i++)
        CHECK(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
    CHECK_EQ(write(got[1], "x", 1), 1);
    char c = 0;
    CHECK_EQ(read(p[0], &c, 1), 1);
    CHECK_EQ(c, 'x');
    close(got[0]);
    close(got[1]);
    /* No descriptors: a plain message. */
    CHECK_EQ(mpx__fdpass_send(sv[0], &iov, 1, NULL, 0, 0), 3);
    CHECK_EQ(mpx__fdpass_recv(sv[1], &riov, 1, got, 4, &n, 0, NULL), 3);
    CHECK_EQ(n, 0);
    CHECK_ERR(mpx__fdpass_send(sv[0], &iov, 1, send_fds, -1, 0), -EINVAL);
    CHECK_ERR(mpx__fdpass_send(sv[0], &iov, 1, send_fds, MPX__FDPASS_MAX + 1, 0), -EINVAL);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

/* More descriptors than the receiver takes: the extra ones are closed and
 * the message says MSG_CTRUNC, both where the kernel had no room (9 for a
 * buffer of 8) and where they fit only in the control buffer's alignment
 * padding (2 for a buffer of 1). */
MPX_TEST(os_fdpass_extra_descriptors_closed)
{
    int sv[2], p[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int before = count_open_fds();
    int many[9];
    for (int i = 0; i < 9; i++)
        many[i] = p[i % 2];
    char b = 1;
    struct iovec iov = {&b, 1};
    int got[8], n, flags;
    CHECK_EQ(mpx__fdpass_send(sv[0], &iov, 1, many, 2, 0), 1);
    CHECK_EQ(mpx__fdpass_recv(sv[1], &iov, 1, got, 1, &n, 0, &flags), 1);
    CHECK_EQ(n, 1);
    CHECK(flags & MSG_CTRUNC);
    close(got[0]);
    CHECK_EQ(count_open_fds(), before);
    CHECK_EQ(mpx__fdpass_send(sv[0], &iov, 1, many, 9, 0), 1);
    CHECK_EQ(mpx__fdpass_recv(sv[1], &iov, 1, got, 8, &n, 0, &flags), 1);
    CHECK_EQ(n, 8);
    CHECK(flags & MSG_CTRUNC);
    for (int i = 0; i < n; i++)
        close(got[i]);
    CHECK_EQ(count_open_fds(), before);
    /* A receiver that takes none closes what came. */
    CHECK_EQ(mpx__fdpass_send(sv[0], &iov, 1, many, 1, 0), 1);
    CHECK_EQ(mpx__fdpass_recv(sv[1], &iov, 1, got, 0, &n, 0, &flags), 1);
    CHECK_EQ(n, 0);
    CHECK(flags & MSG_CTRUNC);
    CHECK_EQ(count_open_fds(), before);
    /* End of file, and an error, keep nothing. */
    CHECK_EQ(mpx__fdpass_recv(sv[1], &iov, 1, got, 8, &n, MSG_DONTWAIT, &flags), -EAGAIN);
    CHECK_EQ(n, 0);
    close(sv[0]);
    CHECK_EQ(mpx__fdpass_recv(sv[1], &iov, 1, got, 8, &n, 0, &flags), 0);
    CHECK_EQ(n, 0);
    close(sv[1]);
    close(p[0]);
    close(p[1]);
}

/* A connection's recv_handle refuses a message with two descriptors
 * (Python's recvfds checks len(fds)) and keeps neither (CONN-13). */
MPX_TEST(conn_13_recv_handle_refuses_two_descriptors)
{
    mpx_connection *a, *b;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int before = count_open_fds();
    char one = 1;
    struct iovec iov = {&one, 1};
    CHECK_EQ(mpx__fdpass_send(mpx_connection_fileno(a), &iov, 1, p, 2, 0), 1);
    int fd = -1;
    CHECK_ERR(mpx_connection_recv_handle(b, &fd), MPX_EPROTO);
    CHECK_EQ(fd, -1);
    CHECK_EQ(count_open_fds(), before);
    close(p[0]);
    close(p[1]);
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
}

/* The probe answers once and for all; with pidfds, a handle of a child
 * becomes readable when it ends and signals reach it (PROC-19, PROC-22). */
MPX_TEST(os_pidfd_handle_of_child)
{
    int have = mpx__pidfd_supported();
    CHECK(have == 0 || have == 1);
    CHECK_EQ(mpx__pidfd_supported(), have);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    int fd = mpx__pidfd_open(pid);
    if (!have) {
        CHECK_ERR(fd, -ENOSYS);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return;
    }
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct pollfd pfd = {fd, POLLIN, 0};
    CHECK_EQ(poll(&pfd, 1, 0), 0);
    /* A copy of one of its descriptors (needs ptrace rights: may be
     * refused in a container). */
    int dup = mpx__pidfd_getfd(fd, 2);
    CHECK(dup >= 0 || dup == -EPERM || dup == -ENOSYS);
    if (dup >= 0) {
        CHECK(fcntl(dup, F_GETFD) & FD_CLOEXEC);
        close(dup);
    }
    CHECK_OK(mpx__pidfd_send_signal(fd, SIGKILL));
    CHECK_EQ(poll(&pfd, 1, -1), 1);
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CHECK_ERR(mpx__pidfd_send_signal(-1, SIGKILL), -EBADF);
    close(fd);
}
