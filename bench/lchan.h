/*
 * bench/lchan.h - the raw loops of the manager group (#16): the same two
 * transports a manager uses, with nothing on top (no pickle, no lookup of
 * an object, no method): a 64-byte request, a 64-byte reply.
 *
 *   socket  a server process with one thread per client, each reading a
 *           framed request (4-byte length + 64 bytes, one write) from its
 *           AF_UNIX stream socket and writing the reply back
 *   local   what the managers' local transport does (src/core/mgr_local.c,
 *           docs/manager.md): a channel per client in shared memory, one
 *           dispatcher in a server process scanning every channel, which
 *           spins DSPIN pauses, yields DYIELDS times, then sleeps on a
 *           doorbell futex; a client spins with the same adaptive budget
 *           (SPIN pauses, halved after a sleep down to MIN_SPIN, doubled
 *           after a reply that came while spinning), then sleeps on its
 *           channel's futex
 *
 * lch_server_start forks the server for nclients channels/sockets (before
 * the clients fork, so they inherit them); lch_call makes one round trip
 * from client i; lch_server_stop ends the server.
 */
#ifndef MPX_BENCH_LCHAN_H
#define MPX_BENCH_LCHAN_H

#include "bench.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define LCH_MSG 64
#define LCH_MAX 8
#define LCH_SPIN 400
#define LCH_MIN_SPIN 16
#define LCH_DSPIN 1000
#define LCH_DYIELDS 8

typedef struct lch_chan {
    _Alignas(64) _Atomic uint32_t req_seq;
    uint32_t req_len;
    _Alignas(64) _Atomic uint32_t rep_seq;
    _Atomic uint32_t client_waits;
    uint32_t rep_len;
    _Alignas(64) unsigned char req[LCH_MSG];
    unsigned char rep[LCH_MSG];
} lch_chan;

typedef struct lch_shared {
    _Alignas(64) _Atomic uint32_t word; /* the doorbell */
    _Atomic uint32_t sleeping;
    _Atomic uint32_t stop;
    lch_chan ch[LCH_MAX];
} lch_shared;

typedef struct lch {
    int local; /* 1: shared memory, 0: sockets */
    int n;
    pid_t server;
    lch_shared *sh;
    int fd[LCH_MAX][2]; /* socketpairs: [0] the client's end, [1] the server's */
    int spin;           /* the calling client's adaptive budget */
} lch;

static inline void lch_ring(lch_shared *sh)
{
    if (atomic_load_explicit(&sh->sleeping, memory_order_seq_cst)) {
        atomic_fetch_add(&sh->word, 1);
        bench_futex_wake(&sh->word, 1);
    }
}

static inline void lch_dispatch(lch_shared *sh, int n)
{
    uint32_t seen[LCH_MAX] = {0};
    unsigned idle = 0;
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        int did = 0;
        for (int i = 0; i < n; i++) {
            lch_chan *c = &sh->ch[i];
            uint32_t seq = atomic_load_explicit(&c->req_seq, memory_order_acquire);
            if (seq == seen[i])
                continue;
            seen[i] = seq;
            memcpy(c->rep, c->req, c->req_len);
            c->rep_len = c->req_len;
            atomic_store_explicit(&c->rep_seq, seq, memory_order_release);
            atomic_thread_fence(memory_order_seq_cst);
            if (atomic_load_explicit(&c->client_waits, memory_order_relaxed))
                bench_futex_wake(&c->rep_seq, 1);
            did++;
        }
        if (did) {
            idle = 0;
            continue;
        }
        if (++idle < LCH_DSPIN) {
            bench_relax();
            continue;
        }
        if (idle < LCH_DSPIN + LCH_DYIELDS) {
            sched_yield();
            continue;
        }
        uint32_t w = atomic_load(&sh->word);
        atomic_store(&sh->sleeping, 1);
        atomic_thread_fence(memory_order_seq_cst);
        int pending = 0;
        for (int i = 0; i < n && !pending; i++)
            pending = atomic_load(&sh->ch[i].req_seq) != seen[i];
        if (!pending && !atomic_load(&sh->stop))
            bench_futex_wait_ms(&sh->word, w, 100);
        atomic_store(&sh->sleeping, 0);
        idle = 0;
    }
}

static void *lch_sock_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    unsigned char buf[4 + LCH_MSG];
    for (;;) {
        uint32_t be;
        if (bench_read_all(fd, &be, 4))
            break;
        uint32_t n = ntohl(be);
        if (n > LCH_MSG || bench_read_all(fd, buf + 4, n))
            break;
        memcpy(buf, &be, 4);
        if (bench_write_all(fd, buf, 4 + n))
            break;
    }
    return NULL;
}

/* 0, or -1 (errno). */
static inline int lch_server_start(lch *l, int local, int n)
{
    memset(l, 0, sizeof *l);
    l->local = local;
    l->n = n < 1 ? 1 : n > LCH_MAX ? LCH_MAX : n;
    l->spin = LCH_SPIN;
    if (local) {
        if (!(l->sh = bench_shared(sizeof *l->sh)))
            return -1;
    } else {
        for (int i = 0; i < l->n; i++)
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, l->fd[i]))
                return -1;
    }
    l->server = fork();
    if (l->server < 0)
        return -1;
    if (l->server == 0) {
        if (local) {
            lch_dispatch(l->sh, l->n);
        } else {
            pthread_t t[LCH_MAX];
            for (int i = 0; i < l->n; i++) {
                close(l->fd[i][0]);
                pthread_create(&t[i], NULL, lch_sock_thread, (void *)(intptr_t)l->fd[i][1]);
            }
            for (int i = 0; i < l->n; i++)
                pthread_join(t[i], NULL);
        }
        _exit(0);
    }
    if (!local)
        for (int i = 0; i < l->n; i++) {
            close(l->fd[i][1]);
            l->fd[i][1] = -1;
        }
    return 0;
}

/* One round trip of client i (LCH_MSG bytes each way). 0 or -1. */
static inline int lch_call(lch *l, int i, const void *req, void *rep)
{
    if (!l->local) {
        unsigned char buf[4 + LCH_MSG];
        uint32_t be = htonl(LCH_MSG);
        memcpy(buf, &be, 4);
        memcpy(buf + 4, req, LCH_MSG);
        if (bench_write_all(l->fd[i][0], buf, sizeof buf))
            return -1;
        /* read-ahead, as the manager's channels: usually one read */
        size_t got = 0;
        while (got < sizeof buf) {
            ssize_t r = read(l->fd[i][0], buf + got, sizeof buf - got);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                return -1;
            }
            got += (size_t)r;
        }
        memcpy(rep, buf + 4, LCH_MSG);
        return 0;
    }
    lch_chan *c = &l->sh->ch[i];
    memcpy(c->req, req, LCH_MSG);
    c->req_len = LCH_MSG;
    uint32_t seq = atomic_load_explicit(&c->req_seq, memory_order_relaxed) + 1;
    atomic_store_explicit(&c->req_seq, seq, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    lch_ring(l->sh);
    int k = 0, slept = 0;
    while (atomic_load_explicit(&c->rep_seq, memory_order_acquire) != seq) {
        if (k++ < l->spin) {
            bench_relax();
            continue;
        }
        slept = 1;
        atomic_store(&c->client_waits, 1);
        atomic_thread_fence(memory_order_seq_cst);
        uint32_t cur = atomic_load(&c->rep_seq);
        if (cur != seq)
            bench_futex_wait_ms(&c->rep_seq, cur, 50);
        atomic_store(&c->client_waits, 0);
    }
    if (slept)
        l->spin = l->spin / 2 > LCH_MIN_SPIN ? l->spin / 2 : LCH_MIN_SPIN;
    else if (l->spin < LCH_SPIN)
        l->spin = l->spin * 2 < LCH_SPIN ? l->spin * 2 : LCH_SPIN;
    memcpy(rep, c->rep, c->rep_len);
    return 0;
}

static inline int lch_server_stop(lch *l)
{
    if (l->local) {
        atomic_store(&l->sh->stop, 1);
        atomic_fetch_add(&l->sh->word, 1);
        bench_futex_wake(&l->sh->word, 1);
    } else {
        for (int i = 0; i < l->n; i++)
            if (l->fd[i][0] >= 0) {
                close(l->fd[i][0]);
                l->fd[i][0] = -1;
            }
    }
    int rc = l->server > 0 ? bench_wait_ok(l->server) : 0;
    if (l->sh)
        munmap(l->sh, sizeof *l->sh);
    l->sh = NULL;
    return rc;
}

#endif
