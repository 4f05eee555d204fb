/*
 * core/mgr_client.h - the client side of managers, shared by
 * mgr_client.c (states, channels, requests), mgr_proxy.c (proxies) and
 * mgr_manager.c (managers).
 */
#ifndef MPX_CORE_MGR_CLIENT_H
#define MPX_CORE_MGR_CLIENT_H

#include "core/mgr_internal.h"

/* What the server at an address is. */
#define MPX__MGR_UNKNOWN 0
#define MPX__MGR_MPX 1   /* takes sessions and control requests on channels */
#define MPX__MGR_PLAIN 2 /* CPython: one connection per control request */

/* A thread's connection to a manager (after accept_connection). */
typedef struct mpx__mgr_lclient mpx__mgr_lclient;

typedef struct mpx__mgr_chan {
    mpx_connection *c;
    mpx__mgr_rbuf rb; /* read-ahead (replies) */
    mpx__mgr_lclient *local; /* its shared-memory channel (mgr_local.c), or NULL */
    struct mpx__mgr_chan *next_all;  /* the client's channels */
    struct mpx__mgr_chan *next_idle; /* the client's idle list */
} mpx__mgr_chan;

/* Per (address, key), per process. Fields under mgr_client.c's lock. */
struct mpx__mgr_client {
    struct mpx__mgr_client *next;
    char *address;
    unsigned char *key;
    size_t keylen;
    int refs;
    pid_t pid;    /* the process these channels and this session belong to */
    uint64_t gen; /* + 1 when the channels are dropped (fork, no user left) */
    int kind;     /* MPX__MGR_* */
    bool no_local; /* the local transport failed once: sockets only */
    unsigned char session[16];
    mpx__mgr_chan *chans, *idle;
    mpx_proxy *proxies;
};

struct mpx_proxy {
    mpx__obj hdr; /* shareable: a proxy can be a process argument */
    uint32_t magic;
    mpx__mgr_client *cl;
    mpx_manager_registry *reg; /* for the proxy types of '#PROXY' results */
    char *typeid, *address, *ident;
    char *ptype_module, *ptype; /* the proxy type, as pickled */
    char *type_name;            /* "DictProxy", "AutoProxy[Queue]" */
    char **exposed;
    bool isauto;
    bool has_ref;     /* holds a reference in the manager (this process's) */
    bool pending_ref; /* a fork child still has to take its reference */
    mpx_proxy *prev, *next; /* the client's list */
};

/* Requests. */
/* A request on c and its reply; rb: read the reply with read-ahead (a
 * channel), NULL: exact reads (a one-shot connection). *broken (may be
 * NULL) is set when the connection failed and must be dropped. */
int mpx__mgr_request(mpx_connection *c, mpx__mgr_rbuf *rb, const char *ident,
                     const char *method, const mpx_obj *args, const mpx_obj *kwds,
                     mpx_obj **reply, bool *broken);
int mpx__mgr_chan_get(mpx__mgr_client *cl, mpx__mgr_chan **out);
void mpx__mgr_chan_drop(mpx__mgr_client *cl, mpx__mgr_chan *ch);
int mpx__mgr_chan_request(mpx__mgr_client *cl, const char *ident, const char *method,
                          const mpx_obj *args, const mpx_obj *kwds, mpx_obj **reply);
int mpx__mgr_client_kind(mpx__mgr_client *cl);
int mpx__mgr_control(mpx__mgr_client *cl, const char *method, const mpx_obj *args,
                     const mpx_obj *kwds, mpx_obj **result, mpx_remote_error *err);

/* The proxy list. */
void mpx__mgr_client_link(mpx__mgr_client *cl, mpx_proxy *p);
void mpx__mgr_client_unlink(mpx__mgr_client *cl, mpx_proxy *p);
bool mpx__mgr_client_stale(mpx__mgr_client *cl);
void mpx__mgr_client_touch(mpx__mgr_client *cl);

/* Proxies (mgr_proxy.c). */
/* A proxy for (typeid, ident) at cl's address. owns_ref: a reference made
 * for us by the server in our session (create, '#PROXY' on an mpx
 * server); otherwise the proxy takes one (incref) and, when drop_creation
 * is set, releases the server's creation reference (CPython's dance). */
int mpx__mgr_proxy_new(mpx__mgr_client *cl, const mpx_manager_registry *reg,
                       const char *typeid, const char *ident, const mpx_obj *exposed,
                       const char *ptype_module, const char *ptype, bool owns_ref,
                       bool drop_creation, mpx_proxy **out);
void mpx__mgr_proxy_take_ref(mpx_proxy *p);
void mpx__mgr_proxy_drop_ref(mpx_proxy *p);


#endif
