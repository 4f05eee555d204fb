/*
 * listener.c - Listener and Client (LIS-01..19): AF_UNIX paths (a private
 * temporary directory when no address is given), Linux abstract names,
 * AF_INET and AF_INET6, with CPython's authentication handshake.
 */
#include "core/conn_internal.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

struct mpx_listener {
    mpx__obj hdr;
    uint32_t magic;
    int fd;
    int family;
    bool closed;
    char *address;
    char *last_accepted;
    char *unlink_path; /* AF_UNIX path to remove at close (creator only) */
    char *tmpdir;      /* private directory to remove at close */
    pid_t creator;
    unsigned char *authkey;
    size_t authkey_len;
    bool has_key;
    bool strict;
    mpx_duration handshake_timeout;
    pthread_mutex_t mu; /* last_accepted */
};

static int lvalid(const mpx_listener *l)
{
    return l && l->magic == MPX__LIS_MAGIC;
}

static mpx__objtype listener_type;

static int af_of(int family)
{
    return family == MPX_AF_INET ? AF_INET : family == MPX_AF_INET6 ? AF_INET6 : AF_UNIX;
}

/* A fresh path in a private directory (Python: arbitrary_address). */
static int make_tmp_path(mpx_listener *l, char *path, size_t cap)
{
    static unsigned counter;
    const char *bases[2] = {getenv("TMPDIR"), "/tmp"};
    for (int i = 0; i < 2; i++) {
        const char *base = bases[i];
        if (!base || !*base)
            continue;
        char dir[256];
        if ((size_t)snprintf(dir, sizeof dir, "%s/mpx-XXXXXX", base) >= sizeof dir)
            continue;
        if (strlen(dir) + 32 >= sizeof((struct sockaddr_un *)0)->sun_path)
            continue;
        if (!mkdtemp(dir))
            continue;
        unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        int w = snprintf(path, cap, "%.200s/listener-%d-%u", dir, (int)getpid(), n);
        if (w < 0 || (size_t)w >= cap) {
            rmdir(dir);
            continue;
        }
        l->tmpdir = strdup(dir);
        if (!l->tmpdir) {
            rmdir(dir);
            return -ENOMEM;
        }
        return 0;
    }
    return -ENAMETOOLONG;
}

MPX_API int mpx_listener_create(mpx_listener **out, const char *address,
                                const mpx_listener_opts *opts)
{
    static const mpx_listener_opts defaults;
    if (!out)
        return MPX_EINVAL;
    if (!opts)
        opts = &defaults;
    if (opts->family < 0 || opts->family > MPX_AF_INET6 || opts->backlog < 0 ||
        (!opts->authkey && opts->authkey_len))
        return MPX_EINVAL;
    mpx_listener *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    mpx__obj_init(&l->hdr, &listener_type, NULL);
    l->magic = MPX__LIS_MAGIC;
    l->fd = -1;
    l->creator = getpid();
    l->strict = opts->strict != 0;
    l->handshake_timeout = opts->handshake_timeout;
    pthread_mutex_init(&l->mu, NULL);
    int rc = 0;
    if (opts->authkey) {
        l->has_key = true;
        l->authkey_len = opts->authkey_len;
        l->authkey = malloc(opts->authkey_len ? opts->authkey_len : 1);
        if (!l->authkey)
            rc = -ENOMEM;
        else if (opts->authkey_len)
            memcpy(l->authkey, opts->authkey, opts->authkey_len);
    }

    mpx__addr a;
    char path[256];
    if (!rc) {
        if (address)
            rc = mpx__addr_parse(address, opts->family, &a);
        else if (opts->family == MPX_AF_INET)
            rc = mpx__addr_parse("127.0.0.1:0", 0, &a);
        else if (opts->family == MPX_AF_INET6)
            rc = mpx__addr_parse("[::1]:0", 0, &a);
        else {
            rc = make_tmp_path(l, path, sizeof path);
            if (!rc)
                rc = mpx__addr_parse(path, MPX_AF_UNIX, &a);
        }
    }
    if (!rc) {
        l->family = a.family;
        l->fd = socket(af_of(a.family), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (l->fd < 0)
            rc = -errno;
    }
    if (!rc && a.family != MPX_AF_UNIX) {
        int one = 1;
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (!rc && bind(l->fd, (struct sockaddr *)&a.ss, a.len) < 0)
        rc = -errno;
    if (!rc && a.family == MPX_AF_UNIX && !a.abstract) {
        l->unlink_path = strdup(((struct sockaddr_un *)&a.ss)->sun_path);
        if (!l->unlink_path)
            rc = -ENOMEM;
    }
    if (!rc && listen(l->fd, opts->backlog ? opts->backlog : 16) < 0)
        rc = -errno;
    if (!rc) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
            rc = -errno;
        else if (!(l->address = mpx__addr_format((struct sockaddr *)&ss, len)))
            rc = -ENOMEM;
    }
    if (rc) {
        mpx_listener_destroy(l);
        return rc;
    }
    MPX__DEBUG("listener bound to %s", l->address);
    *out = l;
    return 0;
}

static void set_nodelay(int fd, int family)
{
    if (family == MPX_AF_INET || family == MPX_AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

MPX_API int mpx_listener_accept(mpx_listener *l, mpx_connection **out, mpx_duration timeout)
{
    if (!lvalid(l) || !out)
        return MPX_EINVAL;
    if (l->closed)
        return MPX_ECLOSED;
    mpx__deadline d = mpx__deadline_from(timeout);
    int fd;
    struct sockaddr_storage ss;
    socklen_t len;
    for (;;) {
        len = sizeof ss;
        fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
        if (fd >= 0)
            break;
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        struct pollfd p = {l->fd, POLLIN, 0};
        int r = poll(&p, 1, mpx__deadline_poll_ms(d));
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r == 0 || (r < 0 && mpx__deadline_expired(d)))
            return MPX_ETIMEDOUT;
    }
    char *peer = mpx__addr_format((struct sockaddr *)&ss, len);
    pthread_mutex_lock(&l->mu);
    free(l->last_accepted);
    l->last_accepted = peer;
    pthread_mutex_unlock(&l->mu);
    set_nodelay(fd, l->family);
    mpx_connection *c;
    int rc = mpx__conn_new(&c, fd, true, true);
    if (rc)
        return rc;
    if (l->has_key) {
        /* handshake_timeout 0: not set (none beyond the accept's) */
        mpx__deadline h = mpx__deadline_opt(l->handshake_timeout, MPX_FOREVER);
        mpx__deadline hd = h < d ? h : d;
        rc = mpx__deliver_challenge(c, l->authkey, l->authkey_len, l->strict, hd);
        if (!rc)
            rc = mpx__answer_challenge(c, l->authkey, l->authkey_len, l->strict, hd);
        if (rc) {
            MPX__DEBUG("listener %s: handshake with %s failed: %s", l->address,
                       peer ? peer : "?", mpx_strerror(rc));
            mpx_connection_destroy(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

MPX_API const char *mpx_listener_address(const mpx_listener *l)
{
    return lvalid(l) ? l->address : NULL;
}

MPX_API const char *mpx_listener_last_accepted(const mpx_listener *l)
{
    return lvalid(l) ? l->last_accepted : NULL;
}

MPX_API int mpx_listener_port(const mpx_listener *l)
{
    if (!lvalid(l) || !l->address || l->family == MPX_AF_UNIX)
        return MPX_EINVAL;
    const char *c = strrchr(l->address, ':');
    return c ? atoi(c + 1) : MPX_EINVAL;
}

MPX_API int mpx_listener_fileno(const mpx_listener *l)
{
    if (!lvalid(l))
        return MPX_EINVAL;
    return l->closed ? MPX_ECLOSED : l->fd;
}

MPX_API int mpx_listener_close(mpx_listener *l)
{
    if (!lvalid(l))
        return MPX_EINVAL;
    if (l->closed)
        return 0;
    l->closed = true;
    mpx__close(l->fd);
    l->fd = -1;
    if (getpid() == l->creator) {
        if (l->unlink_path)
            unlink(l->unlink_path);
        if (l->tmpdir)
            rmdir(l->tmpdir);
    }
    return 0;
}

MPX_API void mpx_listener_destroy(mpx_listener *l)
{
    if (!lvalid(l))
        return;
    if (l->fd >= 0 || !l->closed)
        mpx_listener_close(l);
    free(l->address);
    free(l->last_accepted);
    free(l->unlink_path);
    free(l->tmpdir);
    if (l->authkey) {
        OPENSSL_cleanse(l->authkey, l->authkey_len);
        free(l->authkey);
    }
    pthread_mutex_destroy(&l->mu);
    l->magic = 0;
    l->hdr.magic = 0;
    free(l);
}

/* ---- Client ---------------------------------------------------------- */

static int connect_deadline(int fd, const mpx__addr *a, mpx__deadline d)
{
    if (d == MPX__NEVER) {
        for (;;) {
            if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
                return 0;
            if (errno == EINTR)
                break; /* the connect goes on: wait below */
            return -errno;
        }
    } else {
        int rc = mpx__set_nonblock(fd, true);
        if (rc)
            return rc;
        for (;;) {
            if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
                break;
            if (errno == EINPROGRESS || errno == EINTR)
                break;
            if (errno == EAGAIN && a->family == MPX_AF_UNIX) {
                /* listen queue full: retry until the deadline */
                if (mpx__deadline_expired(d))
                    return MPX_ETIMEDOUT;
                struct timespec ts = {0, 5000000};
                nanosleep(&ts, NULL);
                continue;
            }
            return -errno;
        }
    }
    /* Wait for an in-progress connect. */
    for (;;) {
        struct pollfd p = {fd, POLLOUT, 0};
        int r = poll(&p, 1, mpx__deadline_poll_ms(d));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return MPX_ETIMEDOUT;
        break;
    }
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        return -errno;
    if (err)
        return -err;
    return mpx__set_nonblock(fd, false);
}

MPX_API int mpx_client_connect(mpx_connection **out, const char *address,
                               const mpx_client_opts *opts)
{
    static const mpx_client_opts defaults;
    if (!out || !address)
        return MPX_EINVAL;
    if (!opts)
        opts = &defaults;
    if (!opts->authkey && opts->authkey_len)
        return MPX_EINVAL;
    mpx__addr a;
    int rc = mpx__addr_parse(address, opts->family, &a);
    if (rc)
        return rc;
    mpx__deadline d = mpx__deadline_opt(opts->timeout, MPX_FOREVER); /* 0: no limit */
    int fd = socket(af_of(a.family), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rc = connect_deadline(fd, &a, d);
    if (rc) {
        mpx__close(fd);
        return rc;
    }
    set_nodelay(fd, a.family);
    mpx_connection *c;
    rc = mpx__conn_new(&c, fd, true, true);
    if (rc)
        return rc;
    if (opts->authkey) {
        rc = mpx__answer_challenge(c, opts->authkey, opts->authkey_len, opts->strict, d);
        if (!rc)
            rc = mpx__deliver_challenge(c, opts->authkey, opts->authkey_len, opts->strict, d);
        if (rc) {
            mpx_connection_destroy(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

/* ---- the "listener" object type (waitable; not passed to children) ---- */

static int listener_wait_fd(void *obj)
{
    return mpx_listener_fileno(obj);
}

static mpx__objtype listener_type = {
    .name = "listener",
    .wait_fd = listener_wait_fd,
};

__attribute__((constructor)) static void listener_register(void)
{
    mpx__objtype_register(&listener_type);
}
