/*
 * os/fdpass.c - SCM_RIGHTS send and receive (see os/fdpass.h).
 */
#include "os/fdpass.h"

#include "core/internal.h"

#include <string.h>
#include <sys/socket.h>

/* A control buffer for the largest message, aligned for struct cmsghdr. */
typedef union fdpass_ctl {
    char buf[CMSG_SPACE(sizeof(int) * MPX__FDPASS_MAX)];
    struct cmsghdr align;
} fdpass_ctl;

ssize_t mpx__fdpass_send(int sock, const struct iovec *iov, size_t niov, const int *fds,
                         int nfds, int flags)
{
    if (nfds < 0 || nfds > MPX__FDPASS_MAX || (nfds && !fds))
        return -EINVAL;
    fdpass_ctl u;
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = (struct iovec *)iov;
    m.msg_iovlen = niov;
    if (nfds > 0) {
        size_t len = sizeof(int) * (size_t)nfds;
        memset(u.buf, 0, CMSG_SPACE(len));
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(len);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(len);
        memcpy(CMSG_DATA(c), fds, len);
    }
    ssize_t n;
    do
        n = sendmsg(sock, &m, flags | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t mpx__fdpass_recv(int sock, struct iovec *iov, size_t niov, int *fds, int maxfds,
                         int *nfds, int flags, int *msg_flags)
{
    *nfds = 0;
    if (msg_flags)
        *msg_flags = 0;
    if (maxfds < 0 || maxfds > MPX__FDPASS_MAX)
        return -EINVAL;
    fdpass_ctl u;
    struct msghdr m;
    ssize_t n;
    do {
        memset(&m, 0, sizeof m);
        m.msg_iov = iov;
        m.msg_iovlen = niov;
        /* Room for maxfds (at least one, so that a stray descriptor is
         * seen and closed here rather than only flagged). */
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)(maxfds ? maxfds : 1));
        n = recvmsg(sock, &m, flags | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    int mf = m.msg_flags;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int x;
            memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*nfds < maxfds) {
                fds[(*nfds)++] = x;
            } else {
                mpx__close(x);
                mf |= MSG_CTRUNC;
            }
        }
    }
    if (msg_flags)
        *msg_flags = mf;
    return n;
}
