/*
 * os/fdpass.h - descriptor passing over AF_UNIX sockets (SCM_RIGHTS).
 *
 * The one place that builds and parses SCM_RIGHTS control messages: the
 * connection's send_handle/recv_handle (Python's reduction.sendfds /
 * recvfds) and the fork server's requests and records.
 *
 * Received descriptors are always close-on-exec (MSG_CMSG_CLOEXEC). None
 * is ever leaked: descriptors beyond what the caller can take, including
 * one that fits only in the control buffer's alignment padding, are
 * closed here and reported as MSG_CTRUNC, as the kernel reports the ones
 * it had no room for (it closes those itself). On an error nothing was
 * received, so nothing is kept.
 *
 * Threads: safe (no state). Signals: EINTR is retried; a handler does not
 * end the call. Blocking follows the socket (-EAGAIN on a non-blocking one).
 */
#ifndef MPX_OS_FDPASS_H
#define MPX_OS_FDPASS_H

#include <sys/types.h>
#include <sys/uio.h>

/* The most descriptors one message may carry here (the kernel's limit,
 * SCM_MAX_FD, is 253). */
#define MPX__FDPASS_MAX 253

/*
 * One sendmsg of the niov buffers with nfds descriptors attached (none
 * when nfds is 0; 0 <= nfds <= MPX__FDPASS_MAX), flags | MSG_NOSIGNAL.
 * Returns the bytes sent or -errno (-EINVAL for a bad nfds).
 */
ssize_t mpx__fdpass_send(int sock, const struct iovec *iov, size_t niov, const int *fds,
                         int nfds, int flags);

/*
 * One recvmsg into the niov buffers (flags | MSG_CMSG_CLOEXEC), taking at
 * most maxfds descriptors (0 <= maxfds <= MPX__FDPASS_MAX) into fds[] and
 * their count into *nfds; more than that are closed and MSG_CTRUNC is set
 * in *msg_flags (the recvmsg flags: MSG_TRUNC, MSG_CTRUNC; may be NULL).
 * Returns the bytes received (0 at end of file, possibly with
 * descriptors) or -errno (then *nfds is 0).
 */
ssize_t mpx__fdpass_recv(int sock, struct iovec *iov, size_t niov, int *fds, int maxfds,
                         int *nfds, int flags, int *msg_flags);

#endif /* MPX_OS_FDPASS_H */
