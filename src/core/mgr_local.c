/*
 * mgr_local.c - the managers' local transport (#16; mgr_local.h): one
 * dispatch thread serves the shared-memory channels of every local client
 * thread; it runs the calls that cannot wait itself and hands a call that
 * would wait (a get on an empty queue, an acquire of a held lock, a method
 * of a user type not declared nonblocking) to the channel's own worker
 * thread, so one client's wait never delays another. Waiting follows the
 * queue's pattern (src/core/queue.c, docs/queue.md): spin with pause, then
 * sched_yield, then sleep on a futex after announcing it.
 */
#include "core/mgr_client.h"
#include "core/mgr_local.h"
#include "os/futex.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Waiting. The dispatcher spins DSPIN pauses between passes that found no
 * request, then yields DYIELDS times (a client on its CPU may be about to
 * post), then sleeps on the doorbell. A client spins for its reply with an
 * adaptive budget (SPIN at most: a reply usually comes within a few
 * microseconds when it is alone; with more clients than CPUs the budget
 * shrinks to MIN_SPIN, because a spinning client then takes the CPU from
 * the client whose turn it is), never yields (measured on the shared
 * 2-CPU machine: yielding to other programs' threads cost more than
 * sleeping), then sleeps on its channel.
 */
#define SPIN 400
#define MIN_SPIN 16
#define YIELDS 0
#define DSPIN 1000
#define DYIELDS 8
#define SLICE_NS (50 * 1000000LL)

/* Tuning (MPX_MANAGER_SPIN / MPX_MANAGER_YIELD / ..._DSPIN / ..._DYIELD:
 * client and dispatcher). */
static int knob(const char *name, int dflt)
{
    const char *e = getenv(name);
    if (e && *e) {
        long v = strtol(e, NULL, 10);
        if (v >= 0 && v <= 10000000)
            return (int)v;
    }
    return dflt;
}
static int c_spin, c_yields, d_spin, d_yields;
static pthread_once_t knobs_once = PTHREAD_ONCE_INIT;
static void knobs_read(void)
{
    c_yields = knob("MPX_MANAGER_YIELD", YIELDS);
    d_spin = knob("MPX_MANAGER_DSPIN", DSPIN);
    d_yields = knob("MPX_MANAGER_DYIELD", DYIELDS);
    c_spin = knob("MPX_MANAGER_SPIN", SPIN);
}
/* Read once per process (threads of a client call this at once). */
static void knobs(void)
{
    pthread_once(&knobs_once, knobs_read);
}

/* ---- server side --------------------------------------------------------------------- */

struct mpx__mgr_lchan {
    mpx__shmap map;
    mpx__lch *ch;
    mpx__mgr_sconn *sc;
    uint32_t seen; /* last req_seq taken */
    bool busy;     /* a worker has the request */
    bool dead;     /* to be removed by the dispatcher */
    bool has_worker;
    pthread_t worker;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    bool work, quit;
};

struct mpx__mgr_local {
    mpx_manager_server *srv;
    mpx__shmap bell_map;
    mpx__lbell *bell;
    pthread_mutex_t mu; /* v, n and every lchan's busy/dead */
    pthread_cond_t cv;  /* a channel was removed */
    mpx__mgr_lchan **v;
    size_t n, cap;
    pthread_t thread;
    _Atomic bool stop;
};

static void ring(mpx__lbell *b)
{
    if (atomic_load_explicit(&b->sleeping, memory_order_seq_cst)) {
        atomic_fetch_add(&b->word, 1);
        mpx__futex_wake(&b->word, 1);
    }
}

/* The reply to the channel's request (out may be NULL: an empty error). */
static void post_reply(mpx__mgr_lchan *lc, uint32_t seq, void *out, size_t len)
{
    mpx__lch *ch = lc->ch;
    bool on_socket = !out || len > ch->cap;
    if (!on_socket) {
        memcpy(ch->data + ch->cap, out, len);
        ch->rep_len = (uint32_t)len;
    } else {
        /* too large for the channel (or no reply could be made): over the
         * socket; the client reads it there once it sees the marker, so
         * the marker goes first (the socket buffer may not hold it all) */
        ch->rep_len = MPX__LCH_ON_SOCKET;
    }
    atomic_store_explicit(&ch->rep_seq, seq, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&ch->client_waits, memory_order_relaxed))
        mpx__futex_wake(&ch->rep_seq, 1);
    if (on_socket) {
        if (out)
            mpx_connection_send_bytes(lc->sc->c, out, len);
        else
            shutdown(lc->sc->fd, SHUT_RDWR); /* nothing to send: end the client's wait */
    }
}

static void *worker_main(void *arg)
{
    mpx__mgr_lchan *lc = arg;
    mpx__mgr_local *L = lc->sc->srv->local;
    pthread_mutex_lock(&lc->wmu);
    for (;;) {
        while (!lc->work && !lc->quit)
            pthread_cond_wait(&lc->wcv, &lc->wmu);
        if (lc->quit && !lc->work)
            break;
        lc->work = false;
        pthread_mutex_unlock(&lc->wmu);
        uint32_t seq = lc->seen;
        mpx__lch *ch = lc->ch;
        uint32_t n = ch->req_len;
        void *out = NULL;
        size_t len = 0;
        if (n > ch->cap ||
            mpx__mgr_server_handle_local(lc->sc, ch->data, n, false, &out, &len) != 0) {
            mpx_free(out);
            out = NULL;
        }
        post_reply(lc, seq, out, len);
        mpx_free(out);
        pthread_mutex_lock(&L->mu);
        lc->busy = false;
        bool more = atomic_load_explicit(&ch->req_seq, memory_order_acquire) != lc->seen;
        pthread_mutex_unlock(&L->mu);
        if (more)
            ring(L->bell); /* a request came while we ran: the dispatcher may sleep */
        pthread_mutex_lock(&lc->wmu);
    }
    pthread_mutex_unlock(&lc->wmu);
    return NULL;
}

static int hand_to_worker(mpx__mgr_lchan *lc)
{
    if (!lc->has_worker) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&lc->worker, NULL, worker_main, lc);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc)
            return -rc;
        lc->has_worker = true;
    }
    pthread_mutex_lock(&lc->wmu);
    lc->work = true;
    pthread_cond_signal(&lc->wcv);
    pthread_mutex_unlock(&lc->wmu);
    return 0;
}

static void lchan_free(mpx__mgr_lchan *lc)
{
    if (lc->has_worker) {
        pthread_mutex_lock(&lc->wmu);
        lc->quit = true;
        pthread_cond_signal(&lc->wcv);
        pthread_mutex_unlock(&lc->wmu);
        pthread_join(lc->worker, NULL);
    }
    mpx__shmap_destroy(&lc->map);
    pthread_mutex_destroy(&lc->wmu);
    pthread_cond_destroy(&lc->wcv);
    free(lc);
}

/* One request of lc (L->mu held): run it here, or give it to its worker. */
static void serve_one(mpx__mgr_local *L, mpx__mgr_lchan *lc, uint32_t seq)
{
    mpx__lch *ch = lc->ch;
    lc->seen = seq;
    uint32_t n = ch->req_len;
    void *out = NULL;
    size_t len = 0;
    int rc = n > ch->cap ? MPX_EPROTO
                         : mpx__mgr_server_handle_local(lc->sc, ch->data, n, true, &out, &len);
    if (rc == MPX__MGR_WOULDBLOCK) {
        lc->busy = true;
        if (hand_to_worker(lc) == 0)
            return;
        lc->busy = false;
        rc = -ENOMEM;
    }
    post_reply(lc, seq, rc ? NULL : out, len);
    mpx_free(out);
}

static void *dispatcher(void *arg)
{
    mpx__mgr_local *L = arg;
    knobs();
    unsigned idle = 0;
    while (!atomic_load(&L->stop)) {
        int did = 0;
        pthread_mutex_lock(&L->mu);
        for (size_t i = 0; i < L->n;) {
            mpx__mgr_lchan *lc = L->v[i];
            if (lc->dead && !lc->busy) {
                L->v[i] = L->v[--L->n];
                lc->sc->lchan = NULL;
                pthread_mutex_unlock(&L->mu);
                lchan_free(lc);
                pthread_mutex_lock(&L->mu);
                pthread_cond_broadcast(&L->cv);
                continue;
            }
            uint32_t seq = atomic_load_explicit(&lc->ch->req_seq, memory_order_acquire);
            if (!lc->busy && !lc->dead && seq != lc->seen) {
                serve_one(L, lc, seq);
                did++;
            }
            i++;
        }
        pthread_mutex_unlock(&L->mu);
        if (did) {
            idle = 0;
            continue;
        }
        if (++idle < (unsigned)d_spin) {
            mpx__cpu_relax();
            continue;
        }
        if (idle < (unsigned)(d_spin + d_yields)) {
            sched_yield();
            continue;
        }
        /* nothing for a while: sleep until a client rings */
        uint32_t w = atomic_load(&L->bell->word);
        atomic_store(&L->bell->sleeping, 1);
        atomic_thread_fence(memory_order_seq_cst);
        bool pending = false;
        pthread_mutex_lock(&L->mu);
        for (size_t i = 0; i < L->n && !pending; i++)
            pending = L->v[i]->dead ||
                      (!L->v[i]->busy &&
                       atomic_load(&L->v[i]->ch->req_seq) != L->v[i]->seen);
        pthread_mutex_unlock(&L->mu);
        if (!pending && !atomic_load(&L->stop))
            mpx__futex_wait(&L->bell->word, w, mpx__now_ns() + 100 * 1000000LL);
        atomic_store(&L->bell->sleeping, 0);
        idle = 0;
    }
    return NULL;
}

static int local_start(mpx_manager_server *s)
{
    if (s->local)
        return 0;
    mpx__mgr_local *L = calloc(1, sizeof *L);
    if (!L)
        return -ENOMEM;
    int rc = mpx__shmap_create(&L->bell_map, "mpx-mgr-bell", sizeof(mpx__lbell));
    if (rc) {
        free(L);
        return rc;
    }
    L->srv = s;
    L->bell = L->bell_map.addr;
    L->bell->magic = MPX__LBELL_MAGIC;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = -pthread_create(&L->thread, NULL, dispatcher, L);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        mpx__shmap_destroy(&L->bell_map);
        free(L);
        return rc;
    }
    s->local = L;
    return 0;
}

static int send_reply(mpx__mgr_sconn *sc, const char *kind, mpx_obj *v)
{
    mpx_obj *t = v ? mpx_obj_build("(sN)", kind, v) : NULL;
    void *buf;
    size_t len;
    int rc = t ? mpx__mgr_dumps(t, &buf, &len) : -ENOMEM;
    mpx_obj_decref(t);
    if (!rc) {
        rc = mpx_connection_send_bytes(sc->c, buf, len);
        mpx_free(buf);
    }
    return rc;
}

int mpx__mgr_local_attach(mpx__mgr_sconn *sc, uint32_t cap)
{
    mpx_manager_server *s = sc->srv;
    int fd;
    int rc = mpx_connection_recv_handle(sc->c, &fd);
    if (rc)
        return rc; /* the stream is out of step: close */
    struct stat st;
    size_t size = mpx__lch_size(cap);
    mpx__mgr_lchan *lc = NULL;
    const char *why = NULL;
    if (sc->lchan)
        why = "a local channel is already open";
    else if (cap < 4096 || cap > (16u << 20) || fstat(fd, &st) || (size_t)st.st_size < size)
        why = "bad channel size";
    else if (!(lc = calloc(1, sizeof *lc)))
        why = "out of memory";
    if (!why && mpx__shmap_attach(&lc->map, fd, size) != 0)
        why = "cannot map the channel";
    fd = -1; /* owned by the map now (or closed below) */
    if (!why && (((mpx__lch *)lc->map.addr)->magic != MPX__LCH_MAGIC ||
                 ((mpx__lch *)lc->map.addr)->cap != cap))
        why = "not a channel";
    pthread_mutex_lock(&s->mu);
    if (!why && local_start(s))
        why = "cannot start the dispatcher";
    pthread_mutex_unlock(&s->mu);
    if (why) {
        if (lc) {
            if (lc->map.addr)
                mpx__shmap_destroy(&lc->map);
            free(lc);
        }
        return send_reply(sc, "#TRACEBACK", mpx_obj_str_printf("ValueError: %s\n", why));
    }
    mpx__close(lc->map.fd); /* the mapping stays */
    lc->map.fd = -1;
    lc->ch = lc->map.addr;
    lc->sc = sc;
    lc->seen = atomic_load(&lc->ch->req_seq);
    pthread_mutex_init(&lc->wmu, NULL);
    pthread_cond_init(&lc->wcv, NULL);
    mpx__mgr_local *L = s->local;
    rc = send_reply(sc, "#RETURN", mpx_obj_str("ok"));
    if (!rc)
        rc = mpx_connection_send_handle(sc->c, L->bell_map.fd);
    if (rc) {
        lchan_free(lc);
        return rc;
    }
    pthread_mutex_lock(&L->mu);
    if (L->n == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 16;
        mpx__mgr_lchan **v = realloc(L->v, nc * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&L->mu);
            lchan_free(lc);
            return -ENOMEM;
        }
        L->v = v;
        L->cap = nc;
    }
    L->v[L->n++] = lc;
    sc->lchan = lc;
    pthread_mutex_unlock(&L->mu);
    MPX__DEBUG("local channel open for '%s'", sc->name);
    return 0;
}

void mpx__mgr_local_detach(mpx__mgr_sconn *sc)
{
    mpx__mgr_local *L = sc->srv->local;
    if (!L || !sc->lchan)
        return;
    pthread_mutex_lock(&L->mu);
    if (sc->lchan)
        sc->lchan->dead = true;
    atomic_fetch_add(&L->bell->word, 1);
    mpx__futex_wake(&L->bell->word, 1);
    while (sc->lchan)
        pthread_cond_wait(&L->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
}

void mpx__mgr_local_stop(mpx_manager_server *s)
{
    mpx__mgr_local *L = s->local;
    if (!L)
        return;
    atomic_store(&L->stop, true);
    atomic_fetch_add(&L->bell->word, 1);
    mpx__futex_wake(&L->bell->word, 1);
    pthread_join(L->thread, NULL);
    for (size_t i = 0; i < L->n; i++) { /* (none left: their connections ended first) */
        L->v[i]->sc->lchan = NULL;
        lchan_free(L->v[i]);
    }
    free(L->v);
    mpx__shmap_destroy(&L->bell_map);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    free(L);
    s->local = NULL;
}

/* ---- client side ----------------------------------------------------------------------- */

bool mpx__mgr_local_wanted(const char *address)
{
    const char *t = getenv("MPX_MANAGER_TRANSPORT");
    if (t && strcmp(t, "socket") == 0)
        return false;
    return address && (address[0] == '@' || strncmp(address, "unix:", 5) == 0 ||
                       strchr(address, '/'));
}

void mpx__mgr_local_close(mpx__mgr_lclient *lc)
{
    if (!lc)
        return;
    if (lc->map.addr)
        mpx__shmap_destroy(&lc->map);
    if (lc->bell_map.addr)
        mpx__shmap_destroy(&lc->bell_map);
    free(lc);
}

/* A framed reply read exactly (a handle may follow it): its kind. */
static int exact_reply(mpx_connection *c, char *kind, size_t cap)
{
    void *msg;
    size_t n;
    int rc = mpx_connection_recv_bytes(c, &msg, &n);
    if (rc)
        return rc;
    mpx_obj *r;
    rc = mpx__mgr_loads(&r, msg, n);
    if (rc)
        return rc;
    const char *k = mpx_obj_len(r) == 2 ? mpx_obj_str_value(mpx_obj_item(r, 0)) : NULL;
    const char *v = mpx_obj_len(r) == 2 ? mpx_obj_str_value(mpx_obj_item(r, 1)) : NULL;
    snprintf(kind, cap, "%s %s", k ? k : "?", v ? v : "?");
    mpx_obj_decref(r);
    return 0;
}

int mpx__mgr_local_open(mpx_connection *c, mpx__mgr_lclient **out)
{
    mpx__mgr_lclient *lc = calloc(1, sizeof *lc);
    if (!lc)
        return -ENOMEM;
    int rc = mpx__shmap_create(&lc->map, "mpx-mgr-chan", mpx__lch_size(MPX__LCH_CAP));
    if (rc) {
        free(lc);
        return rc;
    }
    lc->ch = lc->map.addr;
    lc->ch->magic = MPX__LCH_MAGIC;
    lc->ch->cap = MPX__LCH_CAP;
    mpx_obj *args = mpx_obj_build("(I)", (unsigned)MPX__LCH_CAP), *reply = NULL;
    rc = args ? mpx__mgr_request(c, NULL, NULL, "mpx_local", args, NULL, &reply, NULL) : -ENOMEM;
    mpx_obj_decref(args);
    const char *k = rc ? NULL : mpx_obj_str_value(mpx_obj_item(reply, 1));
    if (!rc && (!k || strcmp(k, "send") != 0))
        rc = MPX_ENOTSUP; /* the server said no; the stream is in step */
    mpx_obj_decref(reply);
    char kind[64];
    if (!rc)
        rc = mpx_connection_send_handle(c, lc->map.fd);
    if (!rc)
        rc = exact_reply(c, kind, sizeof kind);
    if (!rc && strcmp(kind, "#RETURN ok") != 0)
        rc = MPX_ENOTSUP;
    int bfd = -1;
    if (!rc)
        rc = mpx_connection_recv_handle(c, &bfd);
    if (!rc) {
        rc = mpx__shmap_attach(&lc->bell_map, bfd, sizeof(mpx__lbell));
        if (!rc && ((mpx__lbell *)lc->bell_map.addr)->magic != MPX__LBELL_MAGIC)
            rc = MPX_EPROTO;
        if (!rc)
            lc->bell = lc->bell_map.addr;
    }
    if (rc) {
        mpx__mgr_local_close(lc);
        return rc;
    }
    /* the mappings stay; the descriptors are not needed any more */
    mpx__close(lc->map.fd);
    lc->map.fd = -1;
    mpx__close(lc->bell_map.fd);
    lc->bell_map.fd = -1;
    *out = lc;
    return 0;
}

/* Is the server gone (the socket at EOF or broken)? */
static bool server_gone(int fd)
{
    char b;
    ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

int mpx__mgr_local_call(mpx__mgr_lclient *lc, int fd, const void *req, size_t len,
                        mpx_obj **reply, bool *on_socket)
{
    mpx__lch *ch = lc->ch;
    *on_socket = false;
    if (len > ch->cap)
        return MPX_ETOOBIG;
    memcpy(ch->data, req, len);
    ch->req_len = (uint32_t)len;
    uint32_t seq = atomic_load_explicit(&ch->req_seq, memory_order_relaxed) + 1;
    atomic_store_explicit(&ch->req_seq, seq, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    ring(lc->bell);
    /* wait for the reply: spin (adaptive budget), yield, then sleep */
    knobs();
    if (lc->spin <= 0 || lc->spin > c_spin)
        lc->spin = c_spin;
    int i = 0, slept = 0;
    while (atomic_load_explicit(&ch->rep_seq, memory_order_acquire) != seq) {
        if (i < lc->spin) {
            mpx__cpu_relax();
        } else if (i < lc->spin + c_yields) {
            sched_yield();
        } else {
            slept = 1;
            atomic_store(&ch->client_waits, 1);
            atomic_thread_fence(memory_order_seq_cst);
            uint32_t cur = atomic_load(&ch->rep_seq);
            if (cur != seq)
                mpx__futex_wait(&ch->rep_seq, cur, mpx__now_ns() + SLICE_NS);
            atomic_store(&ch->client_waits, 0);
            if (atomic_load_explicit(&ch->rep_seq, memory_order_acquire) != seq &&
                server_gone(fd))
                return MPX_EEOF;
        }
        i++;
    }
    if (slept)
        lc->spin = lc->spin / 2 > MIN_SPIN ? lc->spin / 2 : MIN_SPIN;
    else if (lc->spin < c_spin)
        lc->spin = lc->spin * 2 < c_spin ? lc->spin * 2 : c_spin;
    if (ch->rep_len == MPX__LCH_ON_SOCKET) {
        *on_socket = true;
        return 0;
    }
    return mpx_obj_loads(reply, ch->data + ch->cap, ch->rep_len, NULL, NULL);
}
