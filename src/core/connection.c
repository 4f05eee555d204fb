/*
 * connection.c - Pipe() and Connection (CONN-01..18): framed messages over
 * a stream socket or a pipe, descriptor passing, and the "connection"
 * object type so connections can be passed to children.
 */
#include "core/conn_internal.h"
#include "os/fdpass.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int valid(const mpx_connection *c)
{
    return c && c->magic == MPX__CONN_MAGIC;
}

/* Common entry checks. */
static int check(const mpx_connection *c, bool want_read, bool want_write)
{
    if (!valid(c))
        return MPX_EINVAL;
    if (c->closed)
        return MPX_ECLOSED;
    if (want_read && !c->readable)
        return MPX_ESTATE;
    if (want_write && !c->writable)
        return MPX_ESTATE;
    return 0;
}

static mpx__objtype conn_type;

int mpx__conn_new(mpx_connection **out, int fd, bool readable, bool writable)
{
    mpx_connection *c = calloc(1, sizeof *c);
    if (!c) {
        mpx__close(fd);
        return -ENOMEM;
    }
    mpx__obj_init(&c->hdr, &conn_type, NULL);
    c->magic = MPX__CONN_MAGIC;
    c->fd = fd;
    c->readable = readable;
    c->writable = writable;
    struct stat st;
    c->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    *out = c;
    return 0;
}

MPX_API int mpx_connection_from_fd(mpx_connection **out, int fd, int readable, int writable)
{
    if (!out || fd < 0 || (!readable && !writable)) {
        if (fd >= 0)
            mpx__close(fd);
        return MPX_EINVAL;
    }
    return mpx__conn_new(out, fd, readable != 0, writable != 0);
}

MPX_API int mpx_pipe(mpx_connection **conn1, mpx_connection **conn2, int duplex)
{
    if (!conn1 || !conn2)
        return MPX_EINVAL;
    int fds[2];
    bool r1, w1, r2, w2;
    if (duplex) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
            return -errno;
        r1 = w1 = r2 = w2 = true;
    } else {
        if (pipe2(fds, O_CLOEXEC) < 0)
            return -errno;
        r1 = true, w1 = false, r2 = false, w2 = true;
    }
    mpx_connection *a, *b;
    int rc = mpx__conn_new(&a, fds[0], r1, w1);
    if (rc) {
        mpx__close(fds[1]);
        return rc;
    }
    rc = mpx__conn_new(&b, fds[1], r2, w2);
    if (rc) {
        mpx_connection_destroy(a);
        return rc;
    }
    *conn1 = a;
    *conn2 = b;
    MPX__SUBDEBUG("pipe created: fds %d, %d (%s)", fds[0], fds[1], duplex ? "duplex" : "simplex");
    return 0;
}

/* ---- waiting for a descriptor ------------------------------------------ */

/* Wait until fd has events or the deadline passes: 1 ready, 0 timeout. */
static int wait_fd(int fd, short events, mpx__deadline d)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, mpx__deadline_poll_ms(d));
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
        if (mpx__deadline_expired(d))
            return 0;
    }
}

/* ---- sending ---------------------------------------------------------- */

static int writev_all(mpx_connection *c, struct iovec *iov, int cnt, mpx__deadline d)
{
    while (cnt > 0) {
        if (d != MPX__NEVER) {
            int r = wait_fd(c->fd, POLLOUT, d);
            if (r <= 0)
                return r ? r : MPX_ETIMEDOUT;
        }
        ssize_t w;
        if (c->is_socket) {
            struct msghdr mh = {0};
            mh.msg_iov = iov;
            mh.msg_iovlen = (size_t)cnt;
            w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        } else
            w = writev(c->fd, iov, cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* A descriptor the user made non-blocking. */
                int r = wait_fd(c->fd, POLLOUT, d);
                if (r <= 0)
                    return r ? r : MPX_ETIMEDOUT;
                continue;
            }
            return -errno;
        }
        size_t left = (size_t)w;
        while (cnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Send with SIGPIPE kept away from the process: sockets use MSG_NOSIGNAL;
 * for pipes the signal is blocked around the write and a SIGPIPE our
 * write raised is consumed, so the caller sees -EPIPE. */
static int send_iov(mpx_connection *c, struct iovec *iov, int cnt, mpx__deadline d)
{
    if (c->is_socket)
        return writev_all(c, iov, cnt, d);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int rc = writev_all(c, iov, cnt, d);
    if (rc == -EPIPE && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* A pipe starts with 64 KiB of buffer, so a 1 MiB message takes 16 refills
 * and as many wake-ups of the reader (baselines.md note 5). When a message
 * larger than the buffer goes through a pipe, grow the buffer once, up to
 * 1 MiB (best effort: past the per-user pipe limit the kernel refuses, and
 * we stop trying). Small-message pipes keep the default size. */
#define MPX__PIPE_GROW_MAX (1 << 20)

static void grow_pipe(mpx_connection *c, size_t need)
{
    if (c->is_socket || c->pipe_cap < 0 || need <= (size_t)c->pipe_cap)
        return;
    if (c->pipe_cap == 0) {
        int cur = fcntl(c->fd, F_GETPIPE_SZ);
        if (cur <= 0) {
            c->pipe_cap = -1;
            return;
        }
        c->pipe_cap = cur;
        if (need <= (size_t)cur)
            return;
    }
    if (c->pipe_cap >= MPX__PIPE_GROW_MAX) {
        c->pipe_cap = -1;
        return;
    }
    size_t want = (size_t)c->pipe_cap;
    while (want < need && want < MPX__PIPE_GROW_MAX)
        want *= 2;
    int got = fcntl(c->fd, F_SETPIPE_SZ, (int)want);
    c->pipe_cap = got > 0 ? (got >= MPX__PIPE_GROW_MAX ? -1 : got) : -1;
}

int mpx__conn_send(mpx_connection *c, const void *p, size_t n, mpx__deadline d)
{
    grow_pipe(c, n + 4);
    unsigned char hdr[MPX__FRAME_HDR_MAX];
    struct iovec iov[2];
    iov[0].iov_base = hdr;
    iov[0].iov_len = mpx__frame_encode(n, hdr);
    iov[1].iov_base = (void *)p;
    iov[1].iov_len = n;
    return send_iov(c, iov, n ? 2 : 1, d);
}

MPX_API int mpx_connection_send_bytes(mpx_connection *c, const void *buf, size_t len)
{
    int rc = check(c, false, true);
    if (rc)
        return rc;
    if (!buf && len)
        return MPX_EINVAL;
    return mpx__conn_send(c, buf, len, MPX__NEVER);
}

MPX_API int mpx_connection_send_bytes_at(mpx_connection *c, const void *buf, size_t buflen,
                                         size_t offset, size_t size)
{
    int rc = check(c, false, true);
    if (rc)
        return rc;
    if ((!buf && buflen) || offset > buflen)
        return MPX_EINVAL;
    if (size == MPX_SIZE_REST)
        size = buflen - offset;
    else if (size > buflen - offset)
        return MPX_EINVAL;
    return mpx__conn_send(c, (const char *)buf + offset, size, MPX__NEVER);
}

/* ---- receiving -------------------------------------------------------- */

/* Read exactly n bytes. Returns 0; MPX_EEOF with *got < n at end of file;
 * MPX_ETIMEDOUT; -errno. */
static int read_full(mpx_connection *c, void *p, size_t n, size_t *got, mpx__deadline d)
{
    char *q = p;
    size_t have = 0;
    int rc = 0;
    while (have < n) {
        if (d != MPX__NEVER) {
            int r = wait_fd(c->fd, POLLIN, d);
            if (r <= 0) {
                rc = r ? r : MPX_ETIMEDOUT;
                break;
            }
        }
        size_t want = n - have;
        if (want > (size_t)1 << 30)
            want = (size_t)1 << 30;
        ssize_t r = read(c->fd, q + have, want);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int w = wait_fd(c->fd, POLLIN, d);
                if (w <= 0) {
                    rc = w ? w : MPX_ETIMEDOUT;
                    break;
                }
                continue;
            }
            rc = -errno;
            break;
        }
        if (r == 0) {
            rc = MPX_EEOF;
            break;
        }
        have += (size_t)r;
    }
    if (got)
        *got = have;
    return rc;
}

/* Make sure a header has been read: on success c->pending is set and
 * c->pending_len is the message length. */
static int read_header(mpx_connection *c, mpx__deadline d)
{
    if (c->broken)
        return MPX_EBROKEN;
    if (c->pending)
        return 0;
    unsigned char h[MPX__FRAME_HDR_MAX];
    size_t got;
    int rc = read_full(c, h, 4, &got, d);
    if (rc == MPX_EEOF && got == 0)
        return MPX_EEOF;
    if (rc == 0) {
        uint64_t len;
        size_t hl;
        rc = mpx__frame_decode(h, 4, &len, &hl);
        if (rc == MPX_EEMPTY) {
            rc = read_full(c, h + 4, 8, &got, d);
            if (!rc)
                rc = mpx__frame_decode(h, 12, &len, &hl);
        }
        if (!rc && len > (uint64_t)SSIZE_MAX)
            rc = MPX_EPROTO;
        if (!rc) {
            c->pending = true;
            c->pending_len = len;
            return 0;
        }
    }
    /* Part of a header, a bad one, an error or a timeout in the middle:
     * the stream is out of step from now on. */
    c->broken = true;
    return rc == MPX_EEOF ? MPX_EPROTO : rc;
}

/* Read the pending payload into p (pending_len bytes). */
static int read_payload(mpx_connection *c, void *p, mpx__deadline d)
{
    int rc = read_full(c, p, (size_t)c->pending_len, NULL, d);
    if (rc) {
        c->broken = true;
        return rc == MPX_EEOF ? MPX_EPROTO : rc;
    }
    c->pending = false;
    return 0;
}

int mpx__conn_recv_small(mpx_connection *c, void *buf, size_t cap, size_t *len, mpx__deadline d)
{
    int rc = read_header(c, d);
    if (rc)
        return rc;
    if (c->pending_len > cap) {
        c->broken = true; /* never read an oversized payload */
        return MPX_ETOOBIG;
    }
    *len = (size_t)c->pending_len;
    return read_payload(c, buf, d);
}

static int recv_alloc(mpx_connection *c, void **out, size_t *len, uint64_t maxlength)
{
    int rc = check(c, true, false);
    if (rc)
        return rc;
    if (!out || !len)
        return MPX_EINVAL;
    rc = read_header(c, MPX__NEVER);
    if (rc)
        return rc;
    if (c->pending_len > maxlength) {
        /* Python: "bad message length"; the end is no longer readable. */
        c->pending = false;
        if (c->writable)
            c->readable = false;
        else
            mpx_connection_close(c);
        return MPX_ETOOBIG;
    }
    size_t n = (size_t)c->pending_len;
    void *p = malloc(n ? n : 1);
    if (!p)
        return -ENOMEM; /* the header stays pending: the message is retrievable */
    rc = read_payload(c, p, MPX__NEVER);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    *len = n;
    return 0;
}

MPX_API int mpx_connection_recv_bytes(mpx_connection *c, void **out, size_t *len)
{
    return recv_alloc(c, out, len, UINT64_MAX);
}

MPX_API int mpx_connection_recv_bytes_max(mpx_connection *c, void **out, size_t *len,
                                          size_t maxlength)
{
    return recv_alloc(c, out, len, maxlength);
}

MPX_API int mpx_connection_recv_bytes_into(mpx_connection *c, void *buf, size_t buflen,
                                           size_t offset, size_t *nbytes)
{
    int rc = check(c, true, false);
    if (rc)
        return rc;
    if ((!buf && buflen) || offset > buflen)
        return MPX_EINVAL;
    rc = read_header(c, MPX__NEVER);
    if (rc)
        return rc;
    if (nbytes)
        *nbytes = (size_t)c->pending_len;
    if (c->pending_len > buflen - offset)
        return MPX_ETOOSHORT; /* nothing consumed beyond the header */
    return read_payload(c, (char *)buf + offset, MPX__NEVER);
}

MPX_API int mpx_connection_poll(mpx_connection *c, mpx_duration timeout)
{
    int rc = check(c, true, false);
    if (rc)
        return rc;
    if (c->pending || c->broken)
        return 1;
    return wait_fd(c->fd, POLLIN, mpx__deadline_from(timeout));
}

MPX_API int mpx_connection_fileno(const mpx_connection *c)
{
    int rc = check(c, false, false);
    return rc ? rc : c->fd;
}

MPX_API int mpx_connection_readable(const mpx_connection *c)
{
    return valid(c) ? c->readable : MPX_EINVAL;
}

MPX_API int mpx_connection_writable(const mpx_connection *c)
{
    return valid(c) ? c->writable : MPX_EINVAL;
}

MPX_API int mpx_connection_closed(const mpx_connection *c)
{
    return valid(c) ? c->closed : MPX_EINVAL;
}

MPX_API int mpx_connection_close(mpx_connection *c)
{
    if (!valid(c))
        return MPX_EINVAL;
    if (c->closed)
        return 0;
    c->closed = true;
    int rc = close(c->fd) < 0 && errno != EINTR ? -errno : 0;
    c->fd = -1;
    return rc;
}

MPX_API void mpx_connection_destroy(mpx_connection *c)
{
    if (!valid(c))
        return;
    mpx_connection_close(c);
    c->magic = 0;
    c->hdr.magic = 0;
    free(c->peer);
    free(c);
}

MPX_API const char *mpx_connection_peer_address(const mpx_connection *c)
{
    if (!valid(c))
        return NULL;
    mpx_connection *m = (mpx_connection *)c; /* a cache: written once */
    char *p = __atomic_load_n(&m->peer, __ATOMIC_ACQUIRE);
    if (p || !c->is_socket || c->closed)
        return p;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0)
        return NULL;
    char *s = mpx__addr_format((struct sockaddr *)&ss, len);
    if (!s)
        return NULL;
    char *expected = NULL;
    if (!__atomic_compare_exchange_n(&m->peer, &expected, s, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        free(s); /* another thread was first: use its copy */
        return expected;
    }
    return s;
}

/* ---- descriptor passing (Python's reduction.sendfds / recvfds) ------------ */

MPX_API int mpx_connection_send_handle(mpx_connection *c, int fd)
{
    int rc = check(c, false, true);
    if (rc)
        return rc;
    if (!c->is_socket)
        return MPX_ENOTSUP;
    if (fd < 0)
        return -EBADF;
    unsigned char byte = 1; /* len(fds) % 256 */
    struct iovec iov = {&byte, 1};
    for (;;) {
        ssize_t w = mpx__fdpass_send(c->fd, &iov, 1, &fd, 1, 0);
        if (w == 1)
            return 0;
        if (w == -EAGAIN || w == -EWOULDBLOCK) {
            wait_fd(c->fd, POLLOUT, MPX__NEVER);
            continue;
        }
        return w < 0 ? (int)w : -EIO;
    }
}

MPX_API int mpx_connection_recv_handle(mpx_connection *c, int *fd)
{
    int rc = check(c, true, false);
    if (rc)
        return rc;
    if (!fd)
        return MPX_EINVAL;
    if (!c->is_socket)
        return MPX_ENOTSUP;
    if (c->pending || c->broken)
        return MPX_ESTATE;
    unsigned char byte = 0;
    struct iovec iov = {&byte, 1};
    int fds[8], nfds, mflags;
    ssize_t r;
    for (;;) {
        r = mpx__fdpass_recv(c->fd, &iov, 1, fds, 8, &nfds, 0, &mflags);
        if (r == -EAGAIN || r == -EWOULDBLOCK) {
            wait_fd(c->fd, POLLIN, MPX__NEVER);
            continue;
        }
        break;
    }
    if (r < 0)
        return (int)r;
    int got = nfds > 0 ? fds[0] : -1;
    for (int i = 1; i < nfds; i++)
        mpx__close(fds[i]);
    if (r == 0 && got < 0)
        return MPX_EEOF;
    if (got < 0 || nfds > 1 || byte != 1 || (mflags & MSG_CTRUNC)) {
        mpx__close(got);
        c->broken = true;
        return MPX_EPROTO;
    }
    *fd = got;
    return 0;
}

/* A connection travels as a small framed message naming its directions,
 * followed by its descriptor. */
static const char conn_tag[] = "mpx:connection:";

MPX_API int mpx_connection_send_connection(mpx_connection *c, mpx_connection *other)
{
    int rc = check(c, false, true);
    if (rc)
        return rc;
    rc = check(other, false, false);
    if (rc)
        return rc == MPX_EINVAL ? MPX_EINVAL : rc;
    if (!c->is_socket)
        return MPX_ENOTSUP;
    char msg[sizeof conn_tag + 1];
    memcpy(msg, conn_tag, sizeof conn_tag - 1);
    msg[sizeof conn_tag - 1] = (char)((other->readable ? 1 : 0) | (other->writable ? 2 : 0));
    rc = mpx__conn_send(c, msg, sizeof conn_tag, MPX__NEVER);
    if (!rc)
        rc = mpx_connection_send_handle(c, other->fd);
    return rc;
}

MPX_API int mpx_connection_recv_connection(mpx_connection *c, mpx_connection **out)
{
    int rc = check(c, true, false);
    if (rc)
        return rc;
    if (!out)
        return MPX_EINVAL;
    if (!c->is_socket)
        return MPX_ENOTSUP;
    char msg[64];
    size_t n;
    rc = mpx__conn_recv_small(c, msg, sizeof msg, &n, MPX__NEVER);
    if (rc == MPX_ETOOBIG)
        return MPX_EPROTO;
    if (rc)
        return rc;
    if (n != sizeof conn_tag || memcmp(msg, conn_tag, sizeof conn_tag - 1) != 0 ||
        (msg[n - 1] & ~3) || !(msg[n - 1] & 3))
        return MPX_EPROTO;
    int flags = msg[n - 1];
    int fd;
    rc = mpx_connection_recv_handle(c, &fd);
    if (rc)
        return rc;
    return mpx__conn_new(out, fd, flags & 1, (flags & 2) != 0);
}

/* ---- the "connection" object type ------------------------------------------ */

/* Export data: u8 flags (1 readable, 2 writable, 4 header pending), u64
 * pending length; one descriptor. */
static int conn_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_connection *c = obj;
    int rc = check(c, false, false);
    if (rc)
        return rc;
    uint8_t flags = (uint8_t)((c->readable ? 1 : 0) | (c->writable ? 2 : 0) | (c->pending ? 4 : 0));
    rc = mpx__buf_put_u8(data, flags);
    if (!rc)
        rc = mpx__buf_put_u64(data, c->pending_len);
    if (!rc)
        rc = mpx__fdlist_add(fds, c->fd);
    return rc;
}

static int conn_import(mpx__rd *data, const int *fds, int nfds, void **out)
{
    uint8_t flags = 0;
    uint64_t plen = 0;
    int rc = nfds == 1 ? 0 : MPX_EPROTO;
    if (!rc)
        rc = mpx__rd_u8(data, &flags);
    if (!rc)
        rc = mpx__rd_u64(data, &plen);
    if (!rc && (!(flags & 3) || (flags & ~7)))
        rc = MPX_EPROTO;
    if (rc) {
        for (int i = 0; i < nfds; i++)
            mpx__close(fds[i]);
        return rc;
    }
    mpx_connection *c;
    rc = mpx__conn_new(&c, fds[0], flags & 1, (flags & 2) != 0);
    if (rc)
        return rc;
    c->pending = (flags & 4) != 0;
    c->pending_len = plen;
    *out = c;
    return 0;
}

static void conn_drop(void *obj)
{
    mpx_connection_destroy(obj);
}

static int conn_wait_fd(void *obj)
{
    mpx_connection *c = obj;
    int rc = check(c, false, false);
    return rc ? rc : c->fd;
}

static int conn_ready(void *obj)
{
    mpx_connection *c = obj;
    if (!valid(c) || c->closed)
        return 0;
    if (c->pending || c->broken)
        return 1;
    struct pollfd p = {c->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

static mpx__objtype conn_type = {
    .name = "connection",
    .export_ = conn_export,
    .import_ = conn_import,
    .drop = conn_drop,
    .wait_fd = conn_wait_fd,
    .ready = conn_ready,
};

__attribute__((constructor)) static void conn_register(void)
{
    mpx__objtype_register(&conn_type);
}
