/*
 * core/mgr_local.h - the managers' local transport (#16, docs/manager.md
 * "Local transport"): a shared-memory channel per client thread next to
 * its socket channel, served by one dispatch thread in the server that
 * spins, then yields, then sleeps on a doorbell, so that a busy manager
 * answers local clients without a wake-up per call.
 *
 * Setup, over the thread's AF_UNIX channel (mpx clients of an mpx server
 * only; CPython never sees it):
 *   client: (None, 'mpx_local', (cap,), {})    server: ('#RETURN', 'send')
 *   client: its channel's memfd (SCM_RIGHTS)   server: ('#RETURN', 'ok')
 *                                              server: the doorbell memfd
 * A request that does not fit in the channel, and every control request,
 * still goes over the socket; a reply that does not fit comes over the
 * socket (rep_len MPX__LCH_ON_SOCKET).
 */
#ifndef MPX_CORE_MGR_LOCAL_H
#define MPX_CORE_MGR_LOCAL_H

#include "core/mgr_internal.h"
#include "os/shmap.h"

#include <stdalign.h>
#include <stdatomic.h>

#define MPX__LCH_MAGIC 0x6d6c6368u  /* "mlch" */
#define MPX__LBELL_MAGIC 0x6d6c626cu /* "mlbl" */
#define MPX__LCH_CAP ((uint32_t)64 << 10)
#define MPX__LCH_ON_SOCKET 0xffffffffu

/* A channel, in a memfd the client makes: requests and replies, one at a
 * time (the client waits for each reply). */
typedef struct mpx__lch {
    uint32_t magic;
    uint32_t cap; /* bytes of each area */
    alignas(64) _Atomic uint32_t req_seq; /* + 1 by the client after writing a request */
    uint32_t req_len;
    alignas(64) _Atomic uint32_t rep_seq; /* = req_seq by the server after the reply */
    _Atomic uint32_t client_waits;        /* the client sleeps on rep_seq */
    uint32_t rep_len;
    alignas(64) unsigned char data[]; /* request area [0, cap), reply area [cap, 2 cap) */
} mpx__lch;

/* The server's doorbell, shared with every local client. */
typedef struct mpx__lbell {
    uint32_t magic;
    alignas(64) _Atomic uint32_t word;  /* + 1 by a client that found the dispatcher asleep */
    _Atomic uint32_t sleeping;          /* the dispatcher sleeps on word */
} mpx__lbell;

static inline size_t mpx__lch_size(uint32_t cap)
{
    return sizeof(mpx__lch) + 2 * (size_t)cap;
}

/* ---- server side (mgr_local.c) ---- */

typedef struct mpx__mgr_local mpx__mgr_local;
typedef struct mpx__mgr_lchan mpx__mgr_lchan;

/* Serve 'mpx_local' on sc (after its '#RETURN' 'send' went out): receive
 * the channel, register it, answer. Returns 0 or an error (the connection
 * is then closed). */
int mpx__mgr_local_attach(mpx__mgr_sconn *sc, uint32_t cap);
/* sc is closing: stop serving its channel (waits for a call in progress). */
void mpx__mgr_local_detach(mpx__mgr_sconn *sc);
/* The server stops: end the dispatcher (after every connection ended). */
void mpx__mgr_local_stop(mpx_manager_server *s);

/* The server's entry for the dispatcher and the workers (mgr_server.c). */
int mpx__mgr_server_handle_local(mpx__mgr_sconn *sc, const void *msg, size_t n, bool nowait,
                                 void **out, size_t *len);

/* ---- client side (mgr_local.c) ---- */

typedef struct mpx__mgr_lclient mpx__mgr_lclient;

struct mpx__mgr_lclient {
    int spin; /* the adaptive spin budget (pauses) */
    mpx__shmap map;
    mpx__lch *ch;
    mpx__shmap bell_map;
    mpx__lbell *bell;
};

/* Set up the local channel on c (an AF_UNIX channel of an mpx server).
 * Returns 0, or an error: the caller goes on with the socket alone. */
int mpx__mgr_local_open(mpx_connection *c, mpx__mgr_lclient **out);
void mpx__mgr_local_close(mpx__mgr_lclient *lc);
/* One request through the channel: 0 and *reply; MPX_ETOOBIG when the
 * request does not fit (use the socket); *on_socket when the reply comes
 * over the socket. fd is the socket (to notice a server that died). */
int mpx__mgr_local_call(mpx__mgr_lclient *lc, int fd, const void *req, size_t len,
                        mpx_obj **reply, bool *on_socket);
/* Is the local transport wanted (MPX_MANAGER_TRANSPORT=socket says no)? */
bool mpx__mgr_local_wanted(const char *address);

#endif
