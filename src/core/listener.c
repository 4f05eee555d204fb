/*
 * listener.c - Listener and Client (LIS-01..19): AF_UNIX paths (a private
 * temporary directory when no address is given), Linux abstract names,
 * AF_INET and AF_INET6, with CPython's authentication handshake.
 *
 * Accepting with an authkey (#12 item 5): accept takes every connection
 * waiting in the kernel queue into a set of pending handshakes and drives
 * them all at once (non-blocking state machines, handshake.c, over one
 * epoll set), returning the first connection whose handshake completes.
 * A silent or slow client therefore never delays another one. Each
 * handshake has its own time limit (handshake_timeout, 10 s by default)
 * and the set is bounded (max_pending, 256 by default: the oldest
 * handshake is dropped to make room), so a flood of connections that
 * never authenticate cannot hold descriptors or memory.
 *
 * Several threads may accept at once: one of them drives the set (it
 * releases the lock while it sleeps in epoll_wait), the others wait on a
 * condition variable for a completed connection or their own deadline,
 * and take over the driving when the driver leaves. Only the driver
 * touches the pending set, so a handshake is never freed under a thread
 * that is using it. In a fork child the parent's pending handshakes are
 * closed (an atfork handler): they belong to the parent's accept.
 */
#include "core/conn_internal.h"
#include "core/process_internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

/* Longest address string: "@" + 107 name bytes, or "[v6]:port". */
#define ADDR_MAX 128

/* One handshake in progress (or completed and not yet returned). */
typedef struct pend {
    mpx__hs hs;
    struct pend *prev, *next;
    mpx__deadline deadline;
    char *peer;          /* peer address string (may be NULL: no memory) */
    mpx_connection *conn; /* set when completed */
    uint32_t events;      /* registered epoll events; 0: not registered */
} pend;

struct mpx_listener {
    mpx__obj hdr;
    uint32_t magic;
    int fd;
    int family;
    bool closed;
    char *address;
    char *unlink_path; /* AF_UNIX path to remove at close (creator only) */
    char *tmpdir;      /* private directory to remove at close */
    pid_t creator;
    unsigned char *authkey;
    size_t authkey_len;
    bool handshake; /* accept runs the handshake */
    bool strict;
    mpx_duration hs_timeout; /* per handshake (D1: MPX_FOREVER none, <= 0 zero time) */
    int max_pending;

    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;  /* driver left, or a connection completed */
    bool driving;       /* one accepting thread drives the pending set */
    int ep;             /* epoll: listening socket + pending handshakes; -1 */
    pend *head, *tail;  /* handshakes in progress, oldest first */
    int npend;
    pend *done_head, *done_tail; /* completed, not yet returned by accept */
    unsigned failed;             /* failed handshakes not yet reported */
    bool has_last;
    char last[ADDR_MAX]; /* last_accepted */
    struct mpx_listener *reg_prev, *reg_next; /* all listeners (fork handler) */
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

/* ---- the registry of listeners, for the fork handler ------------------ */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static mpx_listener *reg_head;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void free_pend(pend *p)
{
    free(p->peer);
    free(p);
}

/* In a fork child: the pending handshakes and the epoll set are the
 * parent's. Close this process's copies without touching the epoll
 * instance (it is shared with the parent: EPOLL_CTL_DEL here would remove
 * the parent's registrations). */
static void forget_parent_state(mpx_listener *l)
{
    for (pend *p = l->head, *n; p; p = n) {
        n = p->next;
        mpx__close(p->hs.fd);
        free_pend(p);
    }
    for (pend *p = l->done_head, *n; p; p = n) {
        n = p->next;
        mpx_connection_destroy(p->conn);
        free_pend(p);
    }
    l->head = l->tail = l->done_head = l->done_tail = NULL;
    l->npend = 0;
    l->failed = 0;
    l->driving = false;
    if (l->ep >= 0)
        mpx__close(l->ep);
    l->ep = -1;
}

static void reg_prepare(void)
{
    pthread_mutex_lock(&reg_mu);
    for (mpx_listener *l = reg_head; l; l = l->reg_next)
        pthread_mutex_lock(&l->mu);
}

static void reg_parent(void)
{
    for (mpx_listener *l = reg_head; l; l = l->reg_next)
        pthread_mutex_unlock(&l->mu);
    pthread_mutex_unlock(&reg_mu);
}

static void cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static void reg_child(void)
{
    for (mpx_listener *l = reg_head; l; l = l->reg_next) {
        forget_parent_state(l);
        cond_init(&l->cv); /* waiters of the parent do not exist here */
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_unlock(&reg_mu);
}

static void reg_init(void)
{
    pthread_atfork(reg_prepare, reg_parent, reg_child);
}

static void reg_add(mpx_listener *l)
{
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_mu);
    l->reg_next = reg_head;
    if (reg_head)
        reg_head->reg_prev = l;
    reg_head = l;
    pthread_mutex_unlock(&reg_mu);
}

static void reg_remove(mpx_listener *l)
{
    pthread_mutex_lock(&reg_mu);
    if (l->reg_prev)
        l->reg_prev->reg_next = l->reg_next;
    else if (reg_head == l)
        reg_head = l->reg_next;
    if (l->reg_next)
        l->reg_next->reg_prev = l->reg_prev;
    l->reg_prev = l->reg_next = NULL;
    pthread_mutex_unlock(&reg_mu);
}

/* ---- options ------------------------------------------------------------- */

/* The key to use: the given one, or with authenticate and no key the
 * current process's (AUTH-03, LIS-05, LIS-10). *use says whether to
 * authenticate at all. */
static int resolve_key(const void *authkey, size_t authkey_len, int authenticate,
                       int empty_key_skips_auth, unsigned char *buf, size_t cap,
                       const void **key, size_t *keylen, bool *use)
{
    *key = authkey;
    *keylen = authkey_len;
    if (!authkey && authenticate) {
        int n = mpx_process_authkey(mpx_current_process(), buf, cap);
        if (n < 0)
            return n;
        if ((size_t)n > cap)
            return MPX_EINVAL;
        *key = buf;
        *keylen = (size_t)n;
    }
    *use = *key != NULL && !(*keylen == 0 && empty_key_skips_auth);
    return 0;
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
        opts->max_pending < 0 || (!opts->authkey && opts->authkey_len))
        return MPX_EINVAL;
    mpx_listener *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    mpx__obj_init(&l->hdr, &listener_type, NULL);
    l->magic = MPX__LIS_MAGIC;
    l->fd = -1;
    l->ep = -1;
    l->creator = getpid();
    l->strict = opts->strict != 0;
    l->hs_timeout = opts->handshake_timeout ? opts->handshake_timeout
                                            : MPX_HANDSHAKE_TIMEOUT_DEFAULT; /* 0: not set */
    l->max_pending = opts->max_pending ? opts->max_pending : MPX_MAX_PENDING_DEFAULT;
    pthread_mutex_init(&l->mu, NULL);
    cond_init(&l->cv);
    reg_add(l);
    unsigned char pk[MPX__AUTHKEY_MAX];
    const void *key;
    size_t keylen;
    bool use;
    int rc = resolve_key(opts->authkey, opts->authkey_len, opts->authenticate,
                         opts->empty_key_skips_auth, pk, sizeof pk, &key, &keylen, &use);
    if (!rc && use) {
        l->handshake = true;
        l->authkey_len = keylen;
        l->authkey = malloc(keylen ? keylen : 1);
        if (!l->authkey)
            rc = -ENOMEM;
        else if (keylen)
            memcpy(l->authkey, key, keylen);
    }
    OPENSSL_cleanse(pk, sizeof pk);

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
    MPX__DEBUG("listener bound to %s%s", l->address, l->handshake ? " (authenticating)" : "");
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

/* Record the address of a connection accept is returning (under l->mu). */
static void set_last(mpx_listener *l, const char *peer)
{
    snprintf(l->last, sizeof l->last, "%s", peer ? peer : "");
    l->has_last = true;
}

/* ---- accept without a handshake ------------------------------------------ */

static int accept_plain(mpx_listener *l, mpx_connection **out, mpx__deadline d)
{
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
    set_nodelay(fd, l->family);
    char *peer = mpx__addr_format((struct sockaddr *)&ss, len);
    mpx_connection *c;
    int rc = mpx__conn_new(&c, fd, true, true);
    if (rc) {
        free(peer);
        return rc;
    }
    c->peer = peer;
    pthread_mutex_lock(&l->mu);
    set_last(l, peer);
    pthread_mutex_unlock(&l->mu);
    *out = c;
    return 0;
}

/* ---- the pending handshakes (all under l->mu, by the driving thread) ---- */

static int ensure_ep(mpx_listener *l)
{
    if (l->ep >= 0)
        return 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
        int e = -errno;
        mpx__close(ep);
        return e;
    }
    l->ep = ep;
    return 0;
}

static void unlink_pend(mpx_listener *l, pend *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    p->prev = p->next = NULL;
    l->npend--;
}

/* Deregister before closing: a fork child may hold a copy of the socket,
 * and epoll keeps a registration while any copy is open. */
static void deregister(mpx_listener *l, pend *p)
{
    if (p->events) {
        epoll_ctl(l->ep, EPOLL_CTL_DEL, p->hs.fd, NULL);
        p->events = 0;
    }
}

static void drop(mpx_listener *l, pend *p, const char *why)
{
    MPX__DEBUG("listener %s: handshake with %s dropped: %s", l->address,
               p->peer ? p->peer : "?", why);
    deregister(l, p);
    unlink_pend(l, p);
    mpx__close(p->hs.fd);
    free_pend(p);
}

static void finish(mpx_listener *l, pend *p)
{
    deregister(l, p);
    unlink_pend(l, p);
    mpx_connection *c;
    if (mpx__conn_new(&c, p->hs.fd, true, true)) { /* closes the fd */
        if (l->failed < UINT32_MAX)
            l->failed++;
        free_pend(p);
        return;
    }
    c->peer = p->peer;
    p->peer = NULL;
    p->conn = c;
    p->next = NULL;
    p->prev = l->done_tail;
    if (l->done_tail)
        l->done_tail->next = p;
    else
        l->done_head = p;
    l->done_tail = p;
}

/* Take the handshake as far as the socket allows; then it is done, failed
 * (counted, reported by accept as MPX_EAUTH) or registered for what it
 * waits for. */
static void advance(mpx_listener *l, pend *p)
{
    int r = mpx__hs_step(&p->hs, l->authkey, l->authkey_len, l->strict);
    if (r == 1) {
        finish(l, p);
        return;
    }
    if (r < 0) {
        MPX__DEBUG("listener %s: handshake with %s failed: %s", l->address,
                   p->peer ? p->peer : "?", mpx_strerror(r));
        if (l->failed < UINT32_MAX)
            l->failed++;
        deregister(l, p);
        unlink_pend(l, p);
        mpx__close(p->hs.fd);
        free_pend(p);
        return;
    }
    uint32_t want = p->hs.want == POLLOUT ? EPOLLOUT : EPOLLIN;
    if (want == p->events)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = p};
    if (epoll_ctl(l->ep, p->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, p->hs.fd, &ev) < 0) {
        drop(l, p, "cannot watch the socket (epoll)");
        return;
    }
    p->events = want;
}

/* Move the connections waiting in the kernel queue into the pending set
 * (at most max_pending per call, so a flood cannot keep one accept here)
 * and start their handshakes. */
static int take_new(mpx_listener *l)
{
    for (int i = 0; i < l->max_pending; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if ((errno == EMFILE || errno == ENFILE) && l->head) {
                drop(l, l->head, "out of descriptors");
                continue;
            }
            return -errno;
        }
        if (l->npend >= l->max_pending)
            drop(l, l->head, "too many handshakes in progress (max_pending)");
        pend *p = calloc(1, sizeof *p);
        if (!p) {
            mpx__close(fd);
            return -ENOMEM;
        }
        int rc = mpx__hs_start(&p->hs, fd);
        if (rc) {
            mpx__close(fd);
            free(p);
            return rc;
        }
        set_nodelay(fd, l->family);
        p->peer = mpx__addr_format((struct sockaddr *)&ss, len);
        p->deadline = mpx__deadline_from(l->hs_timeout);
        p->prev = l->tail;
        if (l->tail)
            l->tail->next = p;
        else
            l->head = p;
        l->tail = p;
        l->npend++;
        advance(l, p);
    }
    return 0;
}

/* Drop the handshakes past their time limit (the list is in deadline
 * order: every handshake gets the same limit). */
static void expire(mpx_listener *l)
{
    if (!l->head || l->head->deadline == MPX__NEVER)
        return;
    int64_t now = mpx__now_ns();
    while (l->head && l->head->deadline != MPX__NEVER && now >= l->head->deadline)
        drop(l, l->head, "handshake_timeout");
}

static bool have_result(const mpx_listener *l)
{
    return l->done_head || l->failed;
}

/* One round of driving (caller holds l->mu and has set l->driving): take
 * new connections, wait until something happens, the next handshake
 * deadline or d, and advance the handshakes that are ready. Returns 0
 * (go round again), MPX_ETIMEDOUT (d passed, no result), -errno. */
static int drive(mpx_listener *l, mpx__deadline d)
{
    int rc = ensure_ep(l);
    if (!rc)
        rc = take_new(l);
    expire(l);
    if (rc || have_result(l))
        return rc;
    mpx__deadline wake = d;
    if (l->head && l->head->deadline < wake)
        wake = l->head->deadline;
    struct epoll_event ev[64];
    int ep = l->ep;
    pthread_mutex_unlock(&l->mu);
    int n = epoll_wait(ep, ev, 64, mpx__deadline_poll_ms(wake));
    int err = errno;
    pthread_mutex_lock(&l->mu);
    if (n < 0 && err != EINTR)
        return -err;
    bool listening = false;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.ptr)
            advance(l, ev[i].data.ptr);
        else
            listening = true;
    }
    if (listening)
        rc = take_new(l);
    expire(l);
    if (rc || have_result(l))
        return rc;
    return mpx__deadline_expired(d) ? MPX_ETIMEDOUT : 0;
}

static void cond_wait_until(mpx_listener *l, mpx__deadline d)
{
    if (d == MPX__NEVER) {
        pthread_cond_wait(&l->cv, &l->mu);
        return;
    }
    struct timespec ts = {(time_t)(d / 1000000000), (long)(d % 1000000000)};
    pthread_cond_timedwait(&l->cv, &l->mu, &ts);
}

/* A result for accept (under l->mu): 0 with *out, MPX_EAUTH, or 1 (none). */
static int take_result(mpx_listener *l, mpx_connection **out)
{
    pend *p = l->done_head;
    if (p) {
        l->done_head = p->next;
        if (!l->done_head)
            l->done_tail = NULL;
        *out = p->conn;
        set_last(l, p->conn->peer);
        free_pend(p);
        return 0;
    }
    if (l->failed) {
        l->failed--;
        return MPX_EAUTH;
    }
    return 1;
}

static int accept_auth(mpx_listener *l, mpx_connection **out, mpx__deadline d)
{
    pthread_mutex_lock(&l->mu);
    int rc;
    for (;;) {
        if (l->closed) {
            rc = MPX_ECLOSED;
            break;
        }
        rc = take_result(l, out);
        if (rc <= 0)
            break;
        if (!l->driving) {
            l->driving = true;
            rc = drive(l, d);
            l->driving = false;
            pthread_cond_broadcast(&l->cv); /* results for others, or their turn */
            if (rc == 0 || have_result(l))
                continue;
            break;
        }
        if (mpx__deadline_expired(d)) {
            rc = MPX_ETIMEDOUT;
            break;
        }
        cond_wait_until(l, d);
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

MPX_API int mpx_listener_accept(mpx_listener *l, mpx_connection **out, mpx_duration timeout)
{
    if (!lvalid(l) || !out)
        return MPX_EINVAL;
    if (l->closed)
        return MPX_ECLOSED;
    mpx__deadline d = mpx__deadline_from(timeout);
    return l->handshake ? accept_auth(l, out, d) : accept_plain(l, out, d);
}

MPX_API const char *mpx_listener_address(const mpx_listener *l)
{
    return lvalid(l) ? l->address : NULL;
}

MPX_API const char *mpx_listener_last_accepted(const mpx_listener *l)
{
    static _Thread_local char copy[ADDR_MAX];
    if (!lvalid(l))
        return NULL;
    mpx_listener *m = (mpx_listener *)l;
    pthread_mutex_lock(&m->mu);
    bool have = m->has_last;
    if (have)
        memcpy(copy, m->last, sizeof copy);
    pthread_mutex_unlock(&m->mu);
    return have ? copy : NULL;
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
    pthread_mutex_lock(&l->mu);
    l->closed = true;
    while (l->head)
        drop(l, l->head, "listener closed");
    for (pend *p = l->done_head, *n; p; p = n) {
        n = p->next;
        mpx_connection_destroy(p->conn);
        free_pend(p);
    }
    l->done_head = l->done_tail = NULL;
    l->failed = 0;
    if (l->ep >= 0)
        mpx__close(l->ep);
    l->ep = -1;
    pthread_mutex_unlock(&l->mu);
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
    reg_remove(l);
    free(l->address);
    free(l->unlink_path);
    free(l->tmpdir);
    if (l->authkey) {
        OPENSSL_cleanse(l->authkey, l->authkey_len);
        free(l->authkey);
    }
    pthread_cond_destroy(&l->cv);
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
    if (opts->family < 0 || opts->family > MPX_AF_INET6 || (!opts->authkey && opts->authkey_len))
        return MPX_EINVAL;
    mpx__addr a;
    int rc = mpx__addr_parse(address, opts->family, &a);
    if (rc)
        return rc;
    unsigned char pk[MPX__AUTHKEY_MAX];
    const void *key;
    size_t keylen;
    bool use;
    rc = resolve_key(opts->authkey, opts->authkey_len, opts->authenticate,
                     opts->empty_key_skips_auth, pk, sizeof pk, &key, &keylen, &use);
    if (rc)
        return rc;
    /* timeout: 0 (not set) is Python's None */
    mpx__deadline d = mpx__deadline_opt(opts->timeout, MPX_FOREVER);
    int fd = socket(af_of(a.family), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    rc = connect_deadline(fd, &a, d);
    if (rc) {
        mpx__close(fd);
        goto out;
    }
    set_nodelay(fd, a.family);
    mpx_connection *c;
    rc = mpx__conn_new(&c, fd, true, true);
    if (rc)
        goto out;
    if (use) {
        rc = mpx__answer_challenge(c, key, keylen, opts->strict, d);
        if (!rc)
            rc = mpx__deliver_challenge(c, key, keylen, opts->strict, d);
        if (rc) {
            mpx_connection_destroy(c);
            goto out;
        }
    }
    *out = c;
out:
    OPENSSL_cleanse(pk, sizeof pk);
    return rc;
}

/* ---- the "listener" object type (waitable; not passed to children) ---- */

/* mpx_wait: without an authkey, the listening socket (a client is
 * waiting). With one, the epoll set of the listening socket and the
 * pending handshakes: it becomes readable when accept can make progress,
 * and the ready hook makes that progress (without blocking) and says
 * whether accept has something to return. */
static int listener_wait_fd(void *obj)
{
    mpx_listener *l = obj;
    if (!lvalid(l))
        return MPX_EINVAL;
    if (l->closed)
        return -1;
    if (!l->handshake)
        return l->fd;
    pthread_mutex_lock(&l->mu);
    int rc = ensure_ep(l);
    int fd = rc ? rc : l->ep;
    pthread_mutex_unlock(&l->mu);
    return fd;
}

static int listener_ready(void *obj)
{
    mpx_listener *l = obj;
    if (!l->handshake) {
        /* ready when a client is waiting in the kernel queue */
        struct pollfd p = {l->fd, POLLIN, 0};
        return !l->closed && poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
    }
    pthread_mutex_lock(&l->mu);
    if (!have_result(l) && !l->driving && !l->closed) {
        l->driving = true;
        drive(l, mpx__now_ns()); /* one sweep, no waiting */
        l->driving = false;
        pthread_cond_broadcast(&l->cv);
    }
    int r = have_result(l) ? 1 : 0;
    pthread_mutex_unlock(&l->mu);
    return r;
}

static mpx__objtype listener_type = {
    .name = "listener",
    .wait_fd = listener_wait_fd,
    .ready = listener_ready,
};

__attribute__((constructor)) static void listener_register(void)
{
    mpx__objtype_register(&listener_type);
}
