/*
 * core/mgr_internal.h - managers and proxies (#16): what the manager's
 * files share. See docs/manager.md for the design.
 *
 *   mgr_wire.c      Python values of the protocol: Token, RebuildProxy,
 *                   exceptions, addresses, request parsing
 *   mgr_objects.c   referents, the server's ident table, reference counts
 *                   per object and per client session
 *   mgr_server.c    the server: accept loop, one thread per connection,
 *                   control requests and method calls
 *   mgr_registry.c  registries (register), SyncManager's, encoding for a
 *                   spawned server
 *   mgr_types.c     dict, list, Namespace, Value, Array, Iterator
 *   mgr_sync.c      Queue, JoinableQueue, Lock, RLock, Semaphore,
 *                   BoundedSemaphore, Condition, Event, Barrier
 *   mgr_pool.c      Pool, AsyncResult and imap's iterators (a value pool
 *                   in the server)
 *   mgr_manager.c   mpx_manager: start, connect, shutdown, create
 *   mgr_client.c    the client side: connections per thread, sessions,
 *                   dispatch, proxies, incref/decref
 *   mgr_proxy_*.c   the typed proxy helpers
 */
#ifndef MPX_CORE_MGR_INTERNAL_H
#define MPX_CORE_MGR_INTERNAL_H

#include "core/conn_internal.h"
#include "mpx/manager.h"

#include <pthread.h>
#include <stdarg.h>

#define MPX__MGR_MAGIC 0x6d67726du    /* "mgrm" */
#define MPX__MSRV_MAGIC 0x6d737276u   /* "msrv" */
#define MPX__PROXY_MAGIC 0x70727879u  /* "prxy" */
#define MPX__REF_MAGIC 0x72656672u    /* "refr" */
#define MPX__REG_MAGIC 0x72656769u    /* "regi" */

/* Largest request a server reads (an authenticated client's message):
 * Python has no limit; 256 MiB keeps one bad client from taking all
 * memory. Larger is MPX_ETOOBIG: the connection is closed. */
#define MPX__MGR_MAX_REQUEST ((size_t)256 << 20)

/* ---- wire values (mgr_wire.c) ------------------------------------------ */

extern const char mpx__mgr_module[]; /* "multiprocessing.managers" */

/* Pickle a value as CPython's conn.send does (protocol 4). */
int mpx__mgr_dumps(const mpx_obj *v, void **buf, size_t *len);
/* Unpickle a message (limits for untrusted sizes). */
int mpx__mgr_loads(mpx_obj **out, void *msg, size_t len);

/* Reading messages from a manager channel with read-ahead: one read()
 * usually brings a whole request or reply (header and payload), which
 * halves the system calls of a round trip compared with exact reads. Safe
 * because on a channel the peer never sends a message before it has the
 * answer to its previous one, and no descriptors travel on it. */
typedef struct mpx__mgr_rbuf {
    unsigned char *p;
    size_t cap, have, off;
} mpx__mgr_rbuf;

/* The next message: *msg points into b (valid until the next call), *len
 * its size. Returns 0, MPX_EEOF (closed between messages), MPX_EPROTO
 * (closed inside one, or a bad header), MPX_ETOOBIG (over maxlen: the
 * stream is then unusable), -ENOMEM, -errno. */
int mpx__mgr_recv_msg(int fd, mpx__mgr_rbuf *b, size_t maxlen, const unsigned char **msg,
                      size_t *len);
void mpx__mgr_rbuf_free(mpx__mgr_rbuf *b);

/* An address string <-> Python's address value: "host:port" <->
 * ('host', port), "[v6]:port" <-> ('v6', port), "/path" <-> '/path',
 * "@name" <-> '\0name'. NULL / NULL on a value that is none of those. */
mpx_obj *mpx__mgr_addr_to_py(const char *address);
char *mpx__mgr_addr_from_py(const mpx_obj *v);

/* Token(typeid, address, id) as CPython pickles it. */
mpx_obj *mpx__mgr_token(const char *typeid, const char *address, const char *ident);
/* Parts of a Token value (borrowed; *address a new string). MPX_ETYPE. */
int mpx__mgr_token_parts(const mpx_obj *tok, const char **typeid, char **address,
                         const char **ident);
/* RebuildProxy(func, token, 'pickle', kwds): func is the proxy type's
 * class (module, qualname); exposed (NULL-terminated or NULL) goes in
 * kwds for AutoProxy. */
mpx_obj *mpx__mgr_rebuild(const char *module, const char *qualname, const mpx_obj *token,
                          const char *const *exposed);
/* The parts of a RebuildProxy value (or a bare Token: *qualname NULL).
 * Borrowed. MPX_ETYPE when v is neither. */
int mpx__mgr_rebuild_parts(const mpx_obj *v, const mpx_obj **token, const char **module,
                           const char **qualname, const mpx_obj **kwds);

/* Python exception values. */
mpx_obj *mpx__mgr_exc(const char *module, const char *name, const char *msg);
/* The exception type (module, name) for an mpx code. */
void mpx__mgr_code_exc(int code, const char **module, const char **name);
/* The mpx code for an exception type name ("IndexError", "queue.Full"). */
int mpx__mgr_exc_code(const char *module, const char *name);
/* Describe an exception value: its type name as Python prints it
 * ("IndexError", "queue.Full") into type, and str(exc) (a new string or
 * NULL). Returns the mpx code of the type. */
int mpx__mgr_exc_describe(const mpx_obj *exc, char *type, size_t cap, char **text);

/* A request tuple (ident, methodname, args, kwds): borrowed parts; ident
 * is None or a str (*ident NULL for None). MPX_EPROTO when malformed. */
int mpx__mgr_parse_request(const mpx_obj *req, const char **ident, const char **method,
                           const mpx_obj **args, const mpx_obj **kwds);

/* A small set of strings (exposed method names), NULL-terminated array. */
char **mpx__strv_dup(const char *const *v);
char **mpx__strv_from_obj(const mpx_obj *seq); /* a tuple/list of str; NULL: bad */
mpx_obj *mpx__strv_to_tuple(const char *const *v);
size_t mpx__strv_len(const char *const *v);
int mpx__strv_has(const char *const *v, const char *s);
void mpx__strv_free(char **v);

/* ---- referents and server objects (mgr_objects.c) --------------------- */

struct mpx_referent {
    uint32_t magic;
    int refs; /* atomic */
    const mpx_manager_class *cls;
    void *self;
    uint64_t serial; /* the ident: "%llx" */
    pthread_mutex_t mu; /* one method at a time unless cls->concurrent */
};

/* Idents start again from 7f0000000001 (the fuzz target's fixtures). */
void mpx__mgr_reset_serial(void);
/* The class of value referents of a given mpx_obj type (dict, list, other). */
const mpx_manager_class *mpx__mgr_value_class(const mpx_obj *v);
/* Built-in classes (mgr_types.c, mgr_sync.c). */
extern const mpx_manager_class mpx__mgr_dict_class, mpx__mgr_list_class,
    mpx__mgr_object_class, mpx__mgr_namespace_class, mpx__mgr_value_cls,
    mpx__mgr_array_class, mpx__mgr_iterator_class;
/* Helpers of the value types (mgr_types.c). */
int mpx__mgr_bind(mpx_manager_call *call, const char *fname, const mpx_obj *args,
                  const mpx_obj *kwds, int min, int max, const char *const *names,
                  const mpx_obj **out);
int mpx__mgr_ret(mpx_obj **result, mpx_obj *v);
int mpx__mgr_index_of(mpx_manager_call *call, const mpx_obj *v, const char *what, int64_t *out);
int mpx__mgr_slice_of(mpx_manager_call *call, const mpx_obj *v, int64_t len, int64_t *start,
                      int64_t *stop, int64_t *step, int64_t *count);
int mpx__mgr_items_of(mpx_manager_call *call, const mpx_obj *v, mpx_obj **out);
mpx_obj *mpx__mgr_dict_copy(const mpx_obj *d);
int mpx__mgr_update_from(mpx_manager_call *call, mpx_obj *d, const mpx_obj *other);
int mpx__mgr_key_error(mpx_manager_call *call, const mpx_obj *key);
void mpx__mgr_value_release(void *self);
int mpx__mgr_v_len(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call);
int mpx__mgr_iter_new(mpx_obj *items, const char *kind, mpx_referent **out);
mpx_manager_callable mpx__mgr_sync_callable(const char *typeid);
mpx_manager_callable mpx__mgr_value_callable(const char *typeid);
/* Pool(processes=None, initializer=None, initargs=(), maxtasksperchild=None)
 * (mgr_pool.c): SyncManager.Pool's callable. */
int mpx__mgr_pool_create(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                         mpx_manager_call *call);
/* The built-in callables by typeid (NULL: none). */
mpx_manager_callable mpx__mgr_builtin_callable(const char *typeid);
/* Public method names of a class (for exposed=None), a new strv. */
char **mpx__mgr_public_methods(const mpx_manager_class *cls);

typedef struct mpx__mgr_session mpx__mgr_session;
typedef struct mpx__mgr_sconn mpx__mgr_sconn;
typedef struct mpx__mgr_type mpx__mgr_type;

/* One object of the server's table (Python's id_to_obj, id_to_refcount
 * and id_to_local_proxy_obj in one). */
typedef struct mpx__mgr_entry {
    char ident[24];
    char *typeid;
    mpx_referent *ref;
    char **exposed;            /* the exposed set */
    const mpx__mgr_type *type; /* the registry's entry (method_to_typeid); may be NULL */
    int64_t refcount;          /* references held by proxies */
    int users;                 /* calls in progress */
    bool pinned;               /* a proxy stored inside the server refers to it */
    bool dead;                 /* removed from the table; freed when users is 0 */
    struct mpx__mgr_entry *next;
} mpx__mgr_entry;

/* The references one client process holds (mpx clients announce a
 * session on their connections; they are released when its last
 * connection closes, so a client that dies leaks nothing). */
struct mpx__mgr_session {
    unsigned char id[16];
    int nconns;
    struct {
        mpx__mgr_entry *e;
        int64_t n;
    } *slot;
    size_t cap, used;
    mpx__mgr_session *next;
};

typedef struct mpx__mgr_local mpx__mgr_local;
typedef struct mpx__mgr_lchan mpx__mgr_lchan;

/* A client connection being served. */
struct mpx__mgr_sconn {
    mpx_manager_server *srv;
    mpx_connection *c;
    int fd;
    pthread_t th;
    mpx__mgr_session *sess;
    bool channel; /* after accept_connection */
    uint32_t want_local;    /* 'mpx_local' asked: the channel's size */
    mpx__mgr_lchan *lchan;  /* its local channel (mgr_local.c), or NULL */
    char name[96];
    mpx__mgr_sconn *prev, *next;
};

struct mpx_manager_server {
    uint32_t magic;
    mpx_manager_registry *reg;
    mpx_listener *lis;
    char *address;
    unsigned char *key;
    size_t keylen;
    pthread_mutex_t mu; /* the table, the sessions, the connections */
    pthread_cond_t cv;  /* a connection thread ended */
    mpx__mgr_entry **buckets;
    size_t nbuckets, nentries, nlive;
    mpx__mgr_session *sessions;
    mpx__mgr_sconn *conns;
    int nconns;
    int stop_pipe[2];
    int parent_fd; /* ends serve_forever when readable (the parent died); -1 */
    int stopping;  /* atomic */
    bool served;
    mpx__mgr_local *local; /* the local transport's dispatcher, or NULL */
};

/* ---- the table (mgr_objects.c); srv->mu held unless said ---- */

mpx__mgr_entry *mpx__mgr_find(mpx_manager_server *s, const char *ident);
/* Add ref under typeid (or find its entry: the same object again), with
 * refcount + 1 attributed to sess (NULL: not to a session). The table
 * takes a reference to ref. */
int mpx__mgr_add(mpx_manager_server *s, const mpx__mgr_type *type, const char *typeid,
                 mpx_referent *ref, char **exposed, mpx__mgr_session *sess,
                 mpx__mgr_entry **out);
int mpx__mgr_incref(mpx_manager_server *s, mpx__mgr_entry *e, mpx__mgr_session *sess);
/* Drop a reference; objects whose count reaches 0 are unlinked and their
 * referent released later (*dropped, to decref outside the lock). */
int mpx__mgr_decref(mpx_manager_server *s, mpx__mgr_entry *e, mpx__mgr_session *sess,
                    mpx_referent **dropped);
/* End of a call on e (users - 1); returns a referent to release or NULL. */
mpx_referent *mpx__mgr_entry_done(mpx_manager_server *s, mpx__mgr_entry *e);
/* Sessions. */
mpx__mgr_session *mpx__mgr_session_get(mpx_manager_server *s, const unsigned char id[16]);
/* A connection of sess closed; the last one releases its references
 * (referents to release outside the lock are appended to *drop). */
void mpx__mgr_session_leave(mpx_manager_server *s, mpx__mgr_session *sess,
                            mpx_referent ***drop, size_t *ndrop);
void mpx__mgr_session_release(mpx_manager_server *s, mpx__mgr_session *sess,
                              mpx_referent ***drop, size_t *ndrop);
/* Free everything (server stopped). */
void mpx__mgr_table_clear(mpx_manager_server *s);

/* A method call in progress (the server side of mpx_manager_call). */
struct mpx_manager_call {
    mpx_manager_server *srv;
    mpx__mgr_sconn *conn;       /* NULL: a control request */
    const char *method;
    mpx_obj *exc;               /* raised exception value, or NULL */
    mpx_referent *ret_obj;      /* mpx_manager_return_object */
    /* The local transport's dispatch thread runs the call: a method that
     * would wait returns MPX__MGR_WOULDBLOCK before changing anything, and
     * the call is run again by the channel's own worker thread. */
    bool nowait;
};

/* A call that would block on the dispatch thread (never seen by users). */
#define MPX__MGR_WOULDBLOCK 1
/* Classes whose methods honour call->nowait (mgr_sync.c). */
bool mpx__mgr_class_tries(const mpx_manager_class *cls);

/* ---- registries (mgr_registry.c) ------------------------------------- */

struct mpx__mgr_type {
    char *typeid;
    mpx_manager_callable callable;
    char *proxytype;        /* NULL: AutoProxy */
    char **exposed;         /* NULL: default */
    char **method_to_typeid; /* pairs, or NULL */
    bool no_create_method;
    /* method_to_typeid, or the known proxy type's when NULL (set when the
     * type enters a registry: looked up on every call) */
    const char *const *m2t;
};

struct mpx_manager_registry {
    uint32_t magic;
    int refs; /* atomic */
    char *name;
    mpx__mgr_type *types;
    size_t n, cap;
    bool is_static;
};

const mpx__mgr_type *mpx__mgr_registry_find(const mpx_manager_registry *r, const char *typeid);
mpx_manager_registry *mpx__mgr_registry_ref(const mpx_manager_registry *r);
void mpx__mgr_registry_unref(mpx_manager_registry *r);
/* Serialise for a server started by spawn/forkserver (callables as
 * function references) and back. */
int mpx__mgr_registry_encode(const mpx_manager_registry *r, mpx_context *ctx, mpx__buf *out);
int mpx__mgr_registry_decode(mpx__rd *in, mpx_manager_registry **out);
/* The _exposed_ of a known proxy type of multiprocessing.managers (NULL
 * when unknown or AutoProxy). */
const char *const *mpx__mgr_proxytype_exposed(const char *proxytype);
/* The typeid a method result gets (method_to_typeid) or NULL. */
const char *mpx__mgr_type_method_typeid(const mpx__mgr_type *t, const char *method);

/* ---- the server (mgr_server.c) --------------------------------------- */

/* Make a server: listening now, serving later. */
int mpx__mgr_server_new(mpx_manager_server **out, const mpx_manager_registry *reg,
                        const char *address, int family, const void *key, size_t keylen,
                        int parent_fd);
/* The request path on bytes, for the fuzz target (mgr_server.c). */
int mpx__mgr_server_handle_bytes(mpx_manager_server *s, bool channel, int fd,
                                 mpx__mgr_session *sess, const void *msg, size_t n, void **out,
                                 size_t *len);
/* The server process's target (mgr_manager.c builds its arguments). */
int mpx__mgr_server_main(const mpx_args *a);

/* ---- the client (mgr_client.c) --------------------------------------- */

typedef struct mpx__mgr_client mpx__mgr_client;

/* The client state for (address, key) in this process (made on first use;
 * a reference the caller releases with mpx__mgr_client_unref). */
int mpx__mgr_client_get(const char *address, const void *key, size_t keylen,
                        mpx__mgr_client **out);
void mpx__mgr_client_unref(mpx__mgr_client *cl);
/* One control request on a new connection (Python's dispatch on a fresh
 * Client): (None, method, args, kwds); *result a new reference. */
int mpx__mgr_dispatch_once(const char *address, const void *key, size_t keylen,
                           const char *method, const mpx_obj *args, const mpx_obj *kwds,
                           mpx_obj **result, mpx_remote_error *err);
/* create on the manager at the client's address: a proxy owning the
 * creation reference. */
int mpx__mgr_client_create(mpx__mgr_client *cl, const mpx_manager_registry *reg,
                           const char *typeid, const mpx_obj *args, const mpx_obj *kwds,
                           mpx_proxy **out);
/* Turn a reply into a code (and err). */
int mpx__mgr_reply_result(const mpx_obj *reply, mpx_obj **value, const mpx_obj **proxy_part,
                          mpx_remote_error *err);

#endif
