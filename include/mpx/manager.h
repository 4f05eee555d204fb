/*
 * mpx/manager.h - managers and proxies (Python: multiprocessing.managers:
 * BaseManager, SyncManager, Manager(), BaseProxy, Token, RemoteError;
 * seed items MGR-01..23, PROXY-01..13, AUTH-03/05, GUIDE-02/03, DIFF-09,
 * LOG-05).
 *
 * A manager is a server process that owns objects (a dict, a list, a
 * Namespace, a queue, a lock ... or objects of C types the program
 * registers); other processes hold proxies and call methods on those
 * objects (the referents) through authenticated connections. The server
 * speaks CPython's protocol byte for byte (pickled (ident, method, args,
 * kwds) requests, ('#RETURN', value) / ('#ERROR', exception) /
 * ('#TRACEBACK', text) / ('#PROXY', ...) replies, Token objects), so a
 * CPython process can use objects an mpx manager holds, and an mpx process
 * can use a CPython manager (docs/manager.md).
 *
 *     mpx_manager *m;
 *     if (mpx_manager_new(&m, NULL))             // m = Manager(): a started SyncManager
 *         return 1;
 *     mpx_proxy *d;
 *     mpx_manager_dict(m, NULL, &d);             // d = m.dict()
 *     mpx_obj *v = mpx_obj_build("[id]", 1, 2.5);
 *     mpx_proxy_dict_set_s(d, "a", v);           // d['a'] = [1, 2.5]
 *     mpx_obj_decref(v);
 *     mpx_obj *x;
 *     mpx_proxy_dict_get_s(d, "a", &x);          // x = d['a']  (a copy)
 *     char *r = mpx_obj_repr(x);
 *     printf("%s\n", r);                         // prints: [1, 2.5]
 *     mpx_free(r);
 *     mpx_obj_decref(x);
 *     char *s = mpx_proxy_str(d);
 *     printf("%s\n", s);                         // prints: {'a': [1, 2.5]}
 *     mpx_free(s);
 *     mpx_proxy_destroy(d);                      // del d: decref
 *     mpx_manager_destroy(m);                    // m.shutdown()
 *
 * Values are mpx_obj (mpx/obj.h). Every method call returns a copy of the
 * result (MGR-18: changing a value fetched from a proxy changes nothing in
 * the manager until it is assigned back), or a proxy where the type says so
 * (method_to_typeid: iterators, nested objects).
 *
 * Errors: an exception raised by the method in the manager comes back as a
 * code: IndexError MPX_EINDEX, KeyError MPX_EKEY, TypeError MPX_ETYPE,
 * ValueError MPX_EINVAL, OverflowError -ERANGE, queue.Empty MPX_EEMPTY,
 * queue.Full MPX_EFULL, StopIteration MPX_EEOF, BrokenBarrierError
 * MPX_EBROKEN, RuntimeError and AssertionError MPX_ESTATE,
 * NotImplementedError MPX_ENOTSUP, TimeoutError MPX_ETIMEDOUT, any other
 * exception MPX_EREMOTE; a failure of the server itself (Python's
 * RemoteError: '#TRACEBACK', e.g. a method that is not exposed) is
 * MPX_EREMOTE. mpx_proxy_callmethod fills an mpx_remote_error with the
 * exception's type name, its text and the exception value. A manager that
 * went away gives MPX_EEOF, -ECONNREFUSED, -ENOENT, -EPIPE or
 * -ECONNRESET, never a hang.
 */
#ifndef MPX_MANAGER_H
#define MPX_MANAGER_H

#include "common.h"
#include "obj.h"
#include "pool.h"
#include "process.h"

MPX_BEGIN_DECLS

typedef struct mpx_manager mpx_manager;
typedef struct mpx_manager_registry mpx_manager_registry;
typedef struct mpx_manager_server mpx_manager_server;
typedef struct mpx_proxy mpx_proxy;
typedef struct mpx_referent mpx_referent;
typedef struct mpx_manager_call mpx_manager_call;

/* ---------------------------------------------------------------------
 * Server-side objects written in C (the referents of user types)
 *
 * A type is a table of named methods taking and returning values. The
 * server runs one method of an object at a time (Python's GIL gives the
 * same) unless the class says it is concurrent; methods may block (a
 * blocking method holds only its own client's connection).
 * ------------------------------------------------------------------- */

/*
 * A method: self is the object, args a tuple and kwds a dict (both never
 * NULL). On success it returns 0 and stores a new reference in *result
 * (left NULL: None), or hands over an object with mpx_manager_return_object
 * (for a method listed in method_to_typeid: the client gets a proxy). On
 * failure it returns a negative code: the client's call fails with the
 * matching Python exception (MPX_EINDEX IndexError ...; see the top of this
 * header), the message given with mpx_manager_raise or mpx_strerror(code).
 */
typedef int (*mpx_manager_method_fn)(void *self, const mpx_obj *args, const mpx_obj *kwds,
                                     mpx_obj **result, mpx_manager_call *call);

typedef struct mpx_manager_method {
    const char *name;         /* "add", "__next__", "__getitem__" ... */
    mpx_manager_method_fn fn;
} mpx_manager_method;

typedef struct mpx_manager_class {
    const char *name;                  /* type(obj).__name__, for messages and repr */
    const mpx_manager_method *methods; /* ends with {NULL, NULL} */
    /* The server's last reference went: free self. NULL: nothing. */
    void (*release)(void *self);
    /* repr(obj) as a string to free with mpx_free (str() and repr() of a
     * proxy's referent). NULL: "<name object at 0x...>". */
    char *(*repr)(void *self);
    /* A copy of the object as a value (proxy._getvalue()). NULL: the
     * object cannot be copied (the client gets MPX_EREMOTE, Python's
     * unpicklable object). */
    int (*getvalue)(void *self, mpx_obj **out);
    /* Nonzero: several methods of one object may run at once (the class
     * locks itself). */
    int concurrent;
    /* Nonzero: every method returns quickly and never waits, so the
     * server may run it on the thread that serves all local clients
     * (docs/manager.md, "Local transport"); 0: each call runs on a thread
     * of the calling client's own. */
    int nonblocking;
} mpx_manager_class;

/*
 * mpx_referent_create - an object for the manager: cls (borrowed; it must
 * outlive the object, e.g. a static table) and self. The object starts
 * with one reference, the caller's. A callable (mpx_register_opts) returns
 * such an object; a callable may also return the same object each time
 * (Python's `callable=lambda: queue`), keeping its own reference.
 * mpx_referent_value - an object holding a value: a dict, list, ... whose
 * methods are those of the SyncManager types ("dict", "list"); v is
 * borrowed (the object takes its own reference).
 * mpx_referent_builtin - one of SyncManager's objects by typeid ("Queue",
 * "JoinableQueue", "dict", "list", "Namespace", "Value", "Array", "Lock",
 * "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event",
 * "Barrier") made from Python-style arguments (args a tuple or NULL,
 * kwds a dict or NULL): the queue of the remote-queue example (MGR-21).
 * Returns 0, MPX_EINVAL (unknown typeid, NULL), MPX_ETYPE (bad arguments),
 * -ENOMEM.
 *
 * Threads: safe.
 * Fork:    an object belongs to the process that made it.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_referent_create(mpx_referent **out, const mpx_manager_class *cls, void *self);
MPX_API int mpx_referent_value(mpx_referent **out, mpx_obj *v);
MPX_API int mpx_referent_builtin(mpx_referent **out, const char *type_id, const mpx_obj *args,
                                 const mpx_obj *kwds);

/*
 * mpx_referent_incref / mpx_referent_decref - take / release a reference
 * (the last one calls the class's release). NULL-safe; incref returns r.
 * mpx_referent_self - the self pointer given at create (for a value
 * object: its mpx_obj, borrowed).
 *
 * Threads: safe (atomic counts).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_referent *mpx_referent_incref(mpx_referent *r);
MPX_API void mpx_referent_decref(mpx_referent *r);
MPX_API void *mpx_referent_self(const mpx_referent *r);

/*
 * mpx_manager_raise - in a method: fail with code and a message (printf
 * format); returns code, so `return mpx_manager_raise(call, MPX_EINDEX,
 * "list index out of range");` raises IndexError('list index out of
 * range') in the client. The exception type follows from code (MPX_EINDEX
 * IndexError, MPX_EKEY KeyError, MPX_ETYPE TypeError, MPX_EINVAL
 * ValueError, -ERANGE OverflowError, MPX_EEMPTY queue.Empty, MPX_EFULL
 * queue.Full, MPX_EEOF StopIteration, MPX_EBROKEN BrokenBarrierError,
 * MPX_ESTATE RuntimeError, MPX_ENOTSUP NotImplementedError, MPX_ETIMEDOUT
 * TimeoutError, other codes RuntimeError). fmt NULL: no message (for
 * KeyError the message is the key's repr: use mpx_manager_raise_exc).
 * mpx_manager_raise_exc - fail with this exception value (borrowed), e.g.
 * one made with mpx_manager_exception; returns MPX_EREMOTE (or the code of
 * a known type, see the top of this header).
 * mpx_manager_exception - an exception value module.name(*args) (args a
 * tuple, borrowed; NULL: ()), as CPython pickles it: a new reference, NULL
 * on bad arguments or no memory.
 * mpx_manager_return_object - in a method: return an object instead of a
 * value (takes the caller's reference to obj). The client gets a proxy of
 * the typeid that method_to_typeid gives for the method, or "Iterator"...
 * when none is given the object is sent as a copy (its getvalue).
 *
 * Threads: call from the method's thread.
 * Fork:    n/a.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_raise(mpx_manager_call *call, int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
MPX_API int mpx_manager_raise_exc(mpx_manager_call *call, const mpx_obj *exc);
MPX_API mpx_obj *mpx_manager_exception(const char *module, const char *name, const mpx_obj *args);
MPX_API int mpx_manager_return_object(mpx_manager_call *call, mpx_referent *obj);

/*
 * mpx_manager_call_aborted - in a method that waits: 1 when the wait
 * should end now because the client went away or the server is shutting
 * down (the method then returns MPX_ECLOSED), else 0. Wait in slices of
 * at most ~100 ms and check between them.
 *
 * Threads: call from the method's thread.
 * Fork:    n/a.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_manager_call_aborted(mpx_manager_call *call);

/* ---------------------------------------------------------------------
 * Registries: BaseManager.register (MGR-09..13, MGR-20)
 * ------------------------------------------------------------------- */

/*
 * A callable makes the object for `manager.<typeid>(*args, **kwds)` in
 * the server (args a tuple, kwds a dict; never NULL). It returns 0 and
 * *out (a reference the server takes), or a negative code (the client's
 * create fails with that error, as a Python exception would). It runs in
 * the server process: under spawn and forkserver it must be a function
 * the child can find (docs/start-methods.md: any function of the program
 * or of a library it loads at start-up, or one registered by name).
 */
typedef int (*mpx_manager_callable)(const mpx_obj *args, const mpx_obj *kwds,
                                    mpx_referent **out, mpx_manager_call *call);

/* Options of mpx_manager_register; zero means default (Python's None). */
typedef struct mpx_register_opts {
    /* Makes the objects; NULL: Python's callable=None: the type is only
     * used through connect() (the server that runs it registers the
     * callable), or for objects returned by methods. */
    mpx_manager_callable callable;
    /* The proxy type's name, as pickled for other processes: a class of
     * multiprocessing.managers ("DictProxy", "ListProxy", "IteratorProxy",
     * "AcquirerProxy", "NamespaceProxy" ...) or "module.Class"; NULL:
     * "AutoProxy". Its known _exposed_ is the default of exposed. */
    const char *proxytype;
    /* Method names callable through the proxy, NULL-terminated; NULL: the
     * proxy type's _exposed_ when it has one, else every method of the
     * object whose name does not start with '_' (PROXY-10). */
    const char *const *exposed;
    /* method name -> typeid of the proxy it returns, as pairs:
     * {"__iter__", "Iterator", NULL}. NULL: none (every result a copy). */
    const char *const *method_to_typeid;
    /* Nonzero: Python's create_method=False (mpx_manager_make refuses
     * the typeid; it is only the type of results). */
    int no_create_method;
} mpx_register_opts;

/*
 * mpx_manager_registry_create - a registry of types, Python's BaseManager
 * subclass: name is the class name ("QueueManager"; the server process is
 * named "<name>-N"; NULL: "BaseManager"); base NULL starts empty
 * (BaseManager), mpx_manager_sync_registry() starts with SyncManager's
 * types. mpx_manager_registry_destroy releases it (managers made from it
 * keep their own reference); NULL does nothing.
 * mpx_manager_sync_registry - SyncManager's registry (static, never
 * destroyed): Queue, JoinableQueue, Event, Lock, RLock, Semaphore,
 * BoundedSemaphore, Condition, Barrier, list, dict, Value, Array,
 * Namespace, Pool, and the result types Iterator and AsyncResult.
 * Returns 0, -ENOMEM, MPX_EINVAL.
 *
 * Threads: safe; register on one registry from one thread.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_registry_create(mpx_manager_registry **out, const char *name,
                                        const mpx_manager_registry *base);
MPX_API void mpx_manager_registry_destroy(mpx_manager_registry *r);
MPX_API const mpx_manager_registry *mpx_manager_sync_registry(void);

/*
 * mpx_manager_register - BaseManager.register(typeid, callable, proxytype,
 * exposed, method_to_typeid, create_method) (MGR-09..13): add or replace
 * typeid. opts may be NULL (all defaults). Everything is copied. Register
 * before creating the managers that use the registry.
 * Returns 0, MPX_EINVAL (empty typeid, a method_to_typeid list of odd
 * length), -ENOMEM.
 *
 * Threads: not with other users of the same registry.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_register(mpx_manager_registry *r, const char *type_id,
                                 const mpx_register_opts *opts);

/* ---------------------------------------------------------------------
 * Managers: BaseManager / SyncManager / Manager() (MGR-01..08, MGR-14..16)
 * ------------------------------------------------------------------- */

#define MPX_MANAGER_PICKLE 0    /* serializer='pickle' */
#define MPX_MANAGER_XMLRPCLIB 1 /* serializer='xmlrpclib' (not supported yet: MPX_ENOTSUP) */

/* Options of mpx_manager_create; zero means default. */
typedef struct mpx_manager_opts {
    /* The server's address (connection.h forms: "host:port", ":50000" for
     * all interfaces, "/path", "@name", "[::1]:0"). NULL: for start() a
     * fresh AF_UNIX path in a private directory (or 127.0.0.1:0 / [::1]:0,
     * see family); connect() needs one. */
    const char *address;
    int family; /* with address NULL: enum mpx_family (0: AF_UNIX) */
    /* The authentication key of every connection (AUTH-05). NULL: the
     * current process's key, read when the manager is created (MGR-04,
     * AUTH-03): a manager started by this program and its children share
     * it without passing it around. */
    const void *authkey;
    size_t authkey_len;
    int serializer; /* MPX_MANAGER_PICKLE (0) */
    mpx_context *ctx; /* start(): the server's start method; NULL: default */
    /* start(): how long shutdown waits for the server to end before
     * terminating it (and as long again before killing it). 0: not set,
     * 1000 ms (Python's shutdown_timeout=1.0); MPX_FOREVER: no limit; a
     * negative value: zero time. */
    mpx_duration shutdown_timeout;
} mpx_manager_opts;

/*
 * mpx_manager_create - BaseManager(address, authkey) (MGR-04): a manager
 * of registry's types (NULL: SyncManager's), not started. opts may be NULL.
 * Then start it, run its server in this process (get_server), or connect
 * to a running one.
 * Returns 0, MPX_EINVAL, MPX_ENOTSUP (the xmlrpclib serializer), -ENOMEM.
 *
 * Threads: safe.
 * Fork:    a manager object belongs to the process that made it; a child
 *          uses proxies (and connect()), not the parent's object.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_create(mpx_manager **out, const mpx_manager_registry *registry,
                               const mpx_manager_opts *opts);

/*
 * mpx_manager_start - start(initializer, initargs) (MGR-05): start the
 * server in a new process (opts->ctx's start method) named "<Registry>-N",
 * which runs initializer(initargs) first when given (a process target:
 * its negative return fails the start) and then serves; returns when the
 * server listens, its address known (mpx_manager_address). The server
 * ignores SIGINT (bpo-36368) and ends when this process ends, even when it
 * is killed (it watches its parent). Every manager started and not shut
 * down is shut down when this process exits (Python's finalizer).
 * Returns 0, MPX_ESTATE (already started, or shut down), the start errors
 * of mpx_process_start, the error of the initializer or of the listener
 * (-EADDRINUSE ...), -ENOMEM.
 *
 * Threads: safe (one call per manager).
 * Fork:    see mpx_process_start.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_start(mpx_manager *m, mpx_target_fn initializer,
                              const mpx_args *initargs);

/*
 * mpx_manager_new - Python's multiprocessing.Manager() (MGR-02): a
 * SyncManager created with opts (may be NULL) and started. Destroy it (or
 * let the program exit) to shut it down.
 * Returns the errors of mpx_manager_create and mpx_manager_start.
 *
 * Threads: safe.
 * Fork:    see mpx_manager_start.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_new(mpx_manager **out, const mpx_manager_opts *opts);

/*
 * mpx_manager_connect - connect() (MGR-07): use a server that already runs
 * (started elsewhere, by hand, by CPython): checks the address and the key
 * with a "dummy" request. Returns 0, MPX_ESTATE (already started or
 * connected), MPX_EAUTH (wrong key), -ECONNREFUSED, -ENOENT, MPX_EINVAL
 * (no address), -errno.
 *
 * Threads: safe (one call per manager).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_connect(mpx_manager *m);

/*
 * mpx_manager_shutdown - shutdown() (MGR-08): for a manager started by
 * mpx_manager_start, ask the server to stop, wait shutdown_timeout, then
 * terminate, then kill it. Proxies of its objects fail from then on
 * (MPX_EEOF or -ECONNREFUSED ...). Calling it again, or on a manager that
 * was only connected, does nothing and returns 0.
 *
 * Threads: safe.
 * Fork:    only the process that started the manager.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_shutdown(mpx_manager *m);

/*
 * mpx_manager_join - join(timeout): wait for the server process started by
 * mpx_manager_start to end. 1 when it has ended (or there is none), 0 when
 * the timeout ended first, MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    only the starting process.
 * Signals: EINTR is retried against the deadline.
 */
MPX_API int mpx_manager_join(mpx_manager *m, mpx_duration timeout);

/*
 * mpx_manager_address - address (MGR-14): the server's address string
 * (after start, the real one; port 0 resolved). Owned by m. NULL for a
 * manager created without an address and not started.
 * mpx_manager_pid - the server process's pid after start, else 0.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API const char *mpx_manager_address(const mpx_manager *m);
MPX_API pid_t mpx_manager_pid(const mpx_manager *m);

/*
 * mpx_manager_destroy - shut the manager down when this process started
 * it (mpx_manager_shutdown) and free the object. Proxies made from it stay
 * valid objects (calls on them fail once the server is gone). NULL does
 * nothing. A scoped use is create (or new) + start ... destroy, as Python's
 * `with Manager() as m:` (MGR-15).
 *
 * Threads: no other thread may use m.
 * Fork:    in a fork child, frees the copy without stopping the parent's
 *          server.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_manager_destroy(mpx_manager *m);

/*
 * mpx_manager_make - manager.<typeid>(*args, **kwds) (MGR-13, MGR-16):
 * create a new object in the server and a proxy of it (args a tuple,
 * kwds a dict; NULL: empty). Returns 0, MPX_ESTATE (not started or
 * connected), MPX_EINVAL (unknown typeid, or one registered with
 * no_create_method), the error the server's callable raised (MPX_ETYPE
 * ...; MPX_EREMOTE), and the connection errors.
 *
 * Threads: safe.
 * Fork:    safe in a child for a manager it inherited (it connects anew).
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_make(mpx_manager *m, const char *type_id, const mpx_obj *args,
                             const mpx_obj *kwds, mpx_proxy **out);

/*
 * SyncManager's types (MGR-03, MGR-16), as mpx_manager_make:
 *   mpx_manager_dict(m, init, &p)       dict() / dict(init): init a dict, a
 *                                       list of pairs, or NULL
 *   mpx_manager_list(m, init, &p)       list() / list(init): a list or tuple, or NULL
 *   mpx_manager_namespace(m, &p)        Namespace()
 *   mpx_manager_value(m, "i", v, &p)    Value(typecode, value)
 *   mpx_manager_array(m, "i", seq, &p)  Array(typecode, sequence)
 *   mpx_manager_queue(m, maxsize, &p)   Queue(maxsize) (0: unbounded)
 *   mpx_manager_joinable_queue(m, maxsize, &p)
 *   mpx_manager_lock / _rlock / _event(m, &p)
 *   mpx_manager_semaphore / _bounded_semaphore(m, value, &p)
 *   mpx_manager_condition(m, lock, &p)  Condition(lock): a Lock or RLock
 *                                       proxy of the same manager, or NULL
 *   mpx_manager_barrier(m, parties, timeout, &p)  Barrier(parties,
 *                                       timeout=...): MPX_FOREVER for None
 * Returns as mpx_manager_make.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_dict(mpx_manager *m, const mpx_obj *init, mpx_proxy **out);
MPX_API int mpx_manager_list(mpx_manager *m, const mpx_obj *init, mpx_proxy **out);
MPX_API int mpx_manager_namespace(mpx_manager *m, mpx_proxy **out);
MPX_API int mpx_manager_value(mpx_manager *m, const char *typecode, const mpx_obj *value,
                              mpx_proxy **out);
MPX_API int mpx_manager_array(mpx_manager *m, const char *typecode, const mpx_obj *sequence,
                              mpx_proxy **out);
MPX_API int mpx_manager_queue(mpx_manager *m, int64_t maxsize, mpx_proxy **out);
MPX_API int mpx_manager_joinable_queue(mpx_manager *m, int64_t maxsize, mpx_proxy **out);
MPX_API int mpx_manager_lock(mpx_manager *m, mpx_proxy **out);
MPX_API int mpx_manager_rlock(mpx_manager *m, mpx_proxy **out);
MPX_API int mpx_manager_semaphore(mpx_manager *m, int64_t value, mpx_proxy **out);
MPX_API int mpx_manager_bounded_semaphore(mpx_manager *m, int64_t value, mpx_proxy **out);
MPX_API int mpx_manager_condition(mpx_manager *m, mpx_proxy *lock, mpx_proxy **out);
MPX_API int mpx_manager_event(mpx_manager *m, mpx_proxy **out);
MPX_API int mpx_manager_barrier(mpx_manager *m, int parties, mpx_duration timeout,
                                mpx_proxy **out);

/* ---------------------------------------------------------------------
 * SyncManager.Pool (MGR-16): a process pool in the manager
 * ------------------------------------------------------------------- */

/*
 * mpx_manager_pool - manager.Pool(processes): a process pool inside the
 * manager (mpx/pool.h's value pool) and a PoolProxy of it. processes is
 * >= 1, or MPX_POOL_DEFAULT (Python's None: one per usable CPU of the
 * manager's machine); 0 and negative counts are MPX_EINVAL (Python's
 * ValueError). The workers start with the manager process's default
 * start method.
 * mpx_manager_function - the value that names function name in a pool
 * call: the global ('__main__', name), as pickle sends a function of a
 * Python main module (a new reference; NULL for NULL or "").
 *
 * Functions are named: the manager runs the function registered under the
 * name with mpx_register_function (MPX_REGISTER_FUNCTION) in the program
 * that runs its server (the program itself for mpx_manager_start; so a
 * CPython client's pool.map(square, ...) runs the C function registered as
 * "square"). A name nobody registered is MPX_EINVAL. The function must be
 * of the type the call uses (C cannot check it): an mpx_obj_fn (f(x),
 * mpx/pool.h) for map, map_async, imap and imap_unordered; an
 * mpx_obj_star_fn (f(*args, **kwds)) for apply, apply_async, starmap and
 * starmap_async.
 *
 *   mpx_proxy_pool_apply(p, fn, args, kwds, &v)        pool.apply(f, args, kwds)
 *                                                      (args a tuple or NULL, kwds a dict or NULL)
 *   mpx_proxy_pool_map(p, fn, items, chunksize, &list) pool.map(f, items, chunksize)
 *                                                      (chunksize 0: None)
 *   mpx_proxy_pool_starmap(p, fn, items, chunksize, &list)
 *   mpx_proxy_pool_apply_async / _map_async / _starmap_async(..., &result)
 *                                                      an AsyncResult proxy
 *   mpx_proxy_pool_imap / _imap_unordered(p, fn, items, chunksize, &it)
 *                                                      an Iterator proxy: mpx_proxy_next
 *                                                      (chunksize 0: 1)
 *   mpx_proxy_pool_close / _terminate / _join(p)
 *   mpx_proxy_result_get(r, timeout, &v)    AsyncResult.get(timeout): 0 and
 *                                           the value, MPX_ETIMEDOUT
 *   mpx_proxy_result_wait(r, timeout)       1 ready, 0 the timeout ended first
 *   mpx_proxy_result_ready(r)               1 / 0
 *   mpx_proxy_result_successful(r)          1 / 0; MPX_ESTATE when not ready
 * timeout: ms, MPX_FOREVER (None) no limit, <= 0 only checks.
 * As with the local value pool (mpx_pool_map_obj), a task that raised
 * makes the call (or get) fail and leaves that exception value in *out (a
 * new reference); the code is the exception's (ValueError MPX_EINVAL,
 * TypeError MPX_ETYPE ..., see the top of this header; a crashed worker
 * MPX_EWORKER, a cancelled task MPX_ECANCELED, others MPX_EREMOTE).
 * mpx_proxy_next on an imap iterator fails the same way for that item
 * (mpx_proxy_callmethod(it, "__next__", ...) gives the exception) and the
 * next items still come. A call after close or terminate ("Pool not
 * running") and join before close or terminate are MPX_ESTATE, as for the
 * local pool. Callbacks (they would run in the manager) and an initializer
 * are MPX_ENOTSUP. A pool goes when its proxies and its results are all
 * released (terminated when it was not closed), or with its manager.
 * Returns 0 or the errors of mpx_proxy_call (MPX_EINVAL for NULL
 * arguments).
 *
 * Threads: safe.
 * Fork:    safe (a proxy passed to a child works there, see mpx_proxy_call).
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_manager_pool(mpx_manager *m, int processes, mpx_proxy **out);
MPX_API mpx_obj *mpx_manager_function(const char *name);
MPX_API int mpx_proxy_pool_apply(mpx_proxy *p, const char *fn, const mpx_obj *args,
                                 const mpx_obj *kwds, mpx_obj **out);
MPX_API int mpx_proxy_pool_apply_async(mpx_proxy *p, const char *fn, const mpx_obj *args,
                                       const mpx_obj *kwds, mpx_proxy **result);
MPX_API int mpx_proxy_pool_map(mpx_proxy *p, const char *fn, const mpx_obj *items,
                               size_t chunksize, mpx_obj **out);
MPX_API int mpx_proxy_pool_map_async(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                     size_t chunksize, mpx_proxy **result);
MPX_API int mpx_proxy_pool_starmap(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                   size_t chunksize, mpx_obj **out);
MPX_API int mpx_proxy_pool_starmap_async(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                         size_t chunksize, mpx_proxy **result);
MPX_API int mpx_proxy_pool_imap(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                size_t chunksize, mpx_proxy **it);
MPX_API int mpx_proxy_pool_imap_unordered(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                          size_t chunksize, mpx_proxy **it);
MPX_API int mpx_proxy_pool_close(mpx_proxy *p);
MPX_API int mpx_proxy_pool_terminate(mpx_proxy *p);
MPX_API int mpx_proxy_pool_join(mpx_proxy *p);
MPX_API int mpx_proxy_result_get(mpx_proxy *r, mpx_duration timeout, mpx_obj **out);
MPX_API int mpx_proxy_result_wait(mpx_proxy *r, mpx_duration timeout);
MPX_API int mpx_proxy_result_ready(mpx_proxy *r);
MPX_API int mpx_proxy_result_successful(mpx_proxy *r);

/*
 * mpx_manager_number_of_objects - _number_of_objects(): how many objects
 * the server holds (>= 0), or an error.
 * mpx_manager_debug_info - _debug_info(): the server's table of objects
 * and reference counts as text (*out to free with mpx_free).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int64_t mpx_manager_number_of_objects(mpx_manager *m);
MPX_API int mpx_manager_debug_info(mpx_manager *m, char **out);

/* ---------------------------------------------------------------------
 * Running a server in this process (MGR-06, EX-18)
 * ------------------------------------------------------------------- */

/*
 * mpx_manager_get_server - get_server(): a server for m's registry,
 * address and key, bound and listening now (its address is known), not
 * serving yet. MPX_ESTATE when m was started or connected.
 * mpx_manager_server_serve_forever - serve_forever(): serve clients (each
 * connection in its own thread) until a client sends shutdown or
 * mpx_manager_server_stop is called; then close every connection, wait for
 * the serving threads and return 0 (Python exits the process there: a
 * program that wants that calls exit after it).
 * mpx_manager_server_stop - make serve_forever return (from any thread,
 * or from a signal handler).
 * mpx_manager_server_address - its address (owned by s).
 * mpx_manager_server_destroy - free it (after serve_forever returned, or
 * instead of serving). NULL does nothing.
 * Returns 0, MPX_ESTATE, the listener's errors (-EADDRINUSE ...), -ENOMEM.
 *
 * Threads: serve_forever blocks its thread; stop is safe from any thread.
 * Fork:    do not fork while serving (the child's copy does not serve).
 * Signals: stop is async-signal-safe; the others are not.
 */
MPX_API int mpx_manager_get_server(mpx_manager *m, mpx_manager_server **out);
MPX_API int mpx_manager_server_serve_forever(mpx_manager_server *s);
MPX_API void mpx_manager_server_stop(mpx_manager_server *s);
MPX_API const char *mpx_manager_server_address(const mpx_manager_server *s);
MPX_API void mpx_manager_server_destroy(mpx_manager_server *s);

/* ---------------------------------------------------------------------
 * Proxies (PROXY-01..13)
 * ------------------------------------------------------------------- */

/* What went wrong in the manager. */
#define MPX_REMOTE_EXCEPTION 1  /* '#ERROR': the method raised; exc is the exception */
#define MPX_REMOTE_TRACEBACK 2  /* '#TRACEBACK': Python's RemoteError */
#define MPX_REMOTE_UNSERIALIZABLE 3 /* '#UNSERIALIZABLE': the result could not be sent */
#define MPX_REMOTE_PROTOCOL 4   /* a reply mpx does not understand */

typedef struct mpx_remote_error {
    int kind;      /* MPX_REMOTE_*; 0 when the failure was not remote */
    int code;      /* the call's return value */
    /* The exception's type: "IndexError", "queue.Full", "KeyError" (for a
     * traceback, the type named on its last line; "RemoteError" when
     * there is none). */
    char type[128];
    /* str(exception), or the whole traceback text; NULL when none. Free
     * with mpx_remote_error_clear. */
    char *text;
    mpx_obj *exc; /* the exception value ('#ERROR'), a new reference, else NULL */
} mpx_remote_error;

/*
 * mpx_remote_error_clear - free what an mpx_remote_error holds (text,
 * exc) and zero it. NULL does nothing.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_remote_error_clear(mpx_remote_error *e);

/*
 * mpx_proxy_callmethod - BaseProxy._callmethod(method, args, kwds)
 * (PROXY-06): call method of the referent in the manager (args a tuple or
 * NULL, kwds a dict or NULL) and get a copy of the result in *value (a new
 * reference), or, for a method that returns a proxy (method_to_typeid),
 * a new proxy in *proxy. value and proxy may be NULL when the caller
 * wants neither; a proxy result with proxy NULL is released and the call
 * returns MPX_ETYPE. err (may be NULL) gets the details of a failure
 * (clear it with mpx_remote_error_clear). The first call of a thread
 * opens that thread's connection to the manager (GUIDE-03: one proxy may
 * be used from any number of threads; each thread has its own connection,
 * as in CPython).
 * mpx_proxy_call - the same without proxy results or error details.
 * Returns 0, the codes of the Python exceptions (see the top of this
 * header), MPX_EREMOTE, MPX_EINVAL (NULL proxy or method, args not a
 * tuple, kwds not a dict), MPX_ECLOSED (destroyed), the connection errors
 * (MPX_EEOF when the server went away).
 *
 * Threads: safe.
 * Fork:    a fork child may use an inherited proxy: it makes its own
 *          connection and takes its own reference first.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_proxy_callmethod(mpx_proxy *p, const char *method, const mpx_obj *args,
                                 const mpx_obj *kwds, mpx_obj **value, mpx_proxy **proxy,
                                 mpx_remote_error *err);
MPX_API int mpx_proxy_call(mpx_proxy *p, const char *method, const mpx_obj *args,
                           const mpx_obj *kwds, mpx_obj **value);

/*
 * mpx_proxy_destroy - release the proxy (PROXY-09): its reference in the
 * manager goes (decref; the object is freed when no proxy refers to it).
 * NULL does nothing. A proxy passed to a child under fork must stay alive
 * until the child has started running (the child then holds its own
 * reference), like the Process object holding it in Python.
 *
 * Threads: no other thread may use p.
 * Fork:    in a fork child, releases the child's reference only.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_proxy_destroy(mpx_proxy *p);

/*
 * mpx_proxy_getvalue - _getvalue() (PROXY-07): a copy of the referent.
 * Returns as mpx_proxy_call (MPX_EREMOTE for an object that cannot be
 * copied).
 * mpx_proxy_str - str(proxy) (PROXY-02, PROXY-08): the referent's repr,
 * computed by the manager ("[0, 1, 4]"); when that fails, repr(proxy) with
 * "; '__str__()' failed" as Python does. A string to free with mpx_free,
 * NULL when out of memory.
 * mpx_proxy_repr - repr(proxy): "<ListProxy object, typeid 'list' at
 * 0x...>" (no call to the manager). A string to free with mpx_free.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_proxy_getvalue(mpx_proxy *p, mpx_obj **out);
MPX_API char *mpx_proxy_str(mpx_proxy *p);
MPX_API char *mpx_proxy_repr(const mpx_proxy *p);

/*
 * mpx_proxy_typeid, mpx_proxy_ident, mpx_proxy_address - the proxy's
 * Token: typeid ("dict"), id in the manager (hex text) and the manager's
 * address. mpx_proxy_type_name - the proxy type ("DictProxy",
 * "AutoProxy[Queue]"). mpx_proxy_exposed - _exposed_ (PROXY-10): the
 * method names, a NULL-terminated array owned by the proxy.
 * mpx_proxy_is_exposed - 1 when name is in _exposed_, else 0.
 * All borrowed strings live as long as the proxy.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API const char *mpx_proxy_typeid(const mpx_proxy *p);
MPX_API const char *mpx_proxy_ident(const mpx_proxy *p);
MPX_API const char *mpx_proxy_address(const mpx_proxy *p);
MPX_API const char *mpx_proxy_type_name(const mpx_proxy *p);
MPX_API const char *const *mpx_proxy_exposed(const mpx_proxy *p);
MPX_API int mpx_proxy_is_exposed(const mpx_proxy *p, const char *name);

/*
 * mpx_proxy_to_obj - the proxy as a value (PROXY-03, MGR-17), what
 * pickling a proxy gives in CPython: RebuildProxy(<proxy type>,
 * Token(typeid, address, id), 'pickle', {...}). Store it in a managed
 * container (nested proxies: a dict proxy in a list proxy) or send it to
 * another process; a new reference, NULL when out of memory.
 * mpx_proxy_from_obj - a proxy from such a value (or from a Token value)
 * found in a result or received from another process: the new proxy takes
 * its own reference in the manager (incref). authkey NULL: the current
 * process's key.
 * mpx_proxy_is_proxy_obj - 1 when v is such a value, else 0.
 * Returns 0, MPX_ETYPE (not a proxy value), MPX_EKEY (the manager no
 * longer has the object), the connection errors, -ENOMEM.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_proxy_to_obj(const mpx_proxy *p);
MPX_API int mpx_proxy_from_obj(mpx_proxy **out, const mpx_obj *v, const void *authkey,
                               size_t authkey_len);
MPX_API int mpx_proxy_is_proxy_obj(const mpx_obj *v);

/* ---- Typed helpers: one call each, the method names of CPython's proxies.
 * Yes/no answers are 1/0; timeouts are mpx_duration (MPX_FOREVER: None;
 * MPX_NOWAIT or <= 0: block=False). ---- */

/*
 * Containers (dict, list, Array, and any referent with these methods):
 *   mpx_proxy_len(p)                      len(p): >= 0, or an error
 *   mpx_proxy_getitem(p, key, &v)         v = p[key] (MPX_EKEY, MPX_EINDEX)
 *   mpx_proxy_setitem(p, key, v)          p[key] = v
 *   mpx_proxy_delitem(p, key)             del p[key]
 *   mpx_proxy_contains(p, item)           item in p: 1 / 0
 * Dict (DictProxy): _s forms take the key as UTF-8 text.
 *   mpx_proxy_dict_get_s / _set_s / _del_s(p, "k", ...)
 *   mpx_proxy_dict_get(p, key, dflt, &v)  d.get(key, dflt) (dflt NULL: None)
 *   mpx_proxy_dict_keys / _values / _items(p, &list)
 *   mpx_proxy_dict_update(p, mapping)     d.update(mapping)
 *   mpx_proxy_dict_pop(p, key, &v)        d.pop(key) (MPX_EKEY)
 *   mpx_proxy_dict_setdefault(p, key, dflt, &v)
 *   mpx_proxy_dict_clear(p)
 * List (ListProxy):
 *   mpx_proxy_list_append(p, v) / _extend(p, seq) / _insert(p, i, v)
 *   mpx_proxy_list_get(p, i, &v) / _set(p, i, v)   l[i], l[i] = v
 *   mpx_proxy_list_slice(p, start, stop, &list)    l[start:stop]
 *   mpx_proxy_list_pop(p, i, &v)                    l.pop(i)
 *   mpx_proxy_list_get_proxy(p, i, &proxy)          a proxy stored in l[i]
 * Returns 0 or the errors of mpx_proxy_call.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int64_t mpx_proxy_len(mpx_proxy *p);
MPX_API int mpx_proxy_getitem(mpx_proxy *p, const mpx_obj *key, mpx_obj **out);
MPX_API int mpx_proxy_setitem(mpx_proxy *p, const mpx_obj *key, const mpx_obj *value);
MPX_API int mpx_proxy_delitem(mpx_proxy *p, const mpx_obj *key);
MPX_API int mpx_proxy_contains(mpx_proxy *p, const mpx_obj *item);
MPX_API int mpx_proxy_dict_get_s(mpx_proxy *p, const char *key, mpx_obj **out);
MPX_API int mpx_proxy_dict_set_s(mpx_proxy *p, const char *key, const mpx_obj *value);
MPX_API int mpx_proxy_dict_del_s(mpx_proxy *p, const char *key);
MPX_API int mpx_proxy_dict_get(mpx_proxy *p, const mpx_obj *key, const mpx_obj *dflt,
                               mpx_obj **out);
MPX_API int mpx_proxy_dict_keys(mpx_proxy *p, mpx_obj **out);
MPX_API int mpx_proxy_dict_values(mpx_proxy *p, mpx_obj **out);
MPX_API int mpx_proxy_dict_items(mpx_proxy *p, mpx_obj **out);
MPX_API int mpx_proxy_dict_update(mpx_proxy *p, const mpx_obj *mapping);
MPX_API int mpx_proxy_dict_pop(mpx_proxy *p, const mpx_obj *key, mpx_obj **out);
MPX_API int mpx_proxy_dict_setdefault(mpx_proxy *p, const mpx_obj *key, const mpx_obj *dflt,
                                      mpx_obj **out);
MPX_API int mpx_proxy_dict_clear(mpx_proxy *p);
MPX_API int mpx_proxy_list_append(mpx_proxy *p, const mpx_obj *v);
MPX_API int mpx_proxy_list_extend(mpx_proxy *p, const mpx_obj *seq);
MPX_API int mpx_proxy_list_insert(mpx_proxy *p, int64_t i, const mpx_obj *v);
MPX_API int mpx_proxy_list_get(mpx_proxy *p, int64_t i, mpx_obj **out);
MPX_API int mpx_proxy_list_set(mpx_proxy *p, int64_t i, const mpx_obj *v);
MPX_API int mpx_proxy_list_slice(mpx_proxy *p, int64_t start, int64_t stop, mpx_obj **out);
MPX_API int mpx_proxy_list_pop(mpx_proxy *p, int64_t i, mpx_obj **out);
MPX_API int mpx_proxy_list_get_proxy(mpx_proxy *p, int64_t i, mpx_proxy **out);

/*
 * Namespace (NamespaceProxy, MGR-19) and Value (ValueProxy):
 *   mpx_proxy_ns_get(p, "x", &v)   v = ns.x (MPX_EKEY: no such attribute,
 *                                  Python's AttributeError)
 *   mpx_proxy_ns_set(p, "x", v)    ns.x = v
 *   mpx_proxy_ns_del(p, "x")       del ns.x
 *   mpx_proxy_value_get(p, &v) / mpx_proxy_value_set(p, v)   v.value
 * Names starting with '_' belong to the proxy in Python (MGR-19): here
 * they are MPX_EINVAL.
 * Returns 0 or the errors of mpx_proxy_call.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_proxy_ns_get(mpx_proxy *p, const char *name, mpx_obj **out);
MPX_API int mpx_proxy_ns_set(mpx_proxy *p, const char *name, const mpx_obj *value);
MPX_API int mpx_proxy_ns_del(mpx_proxy *p, const char *name);
MPX_API int mpx_proxy_value_get(mpx_proxy *p, mpx_obj **out);
MPX_API int mpx_proxy_value_set(mpx_proxy *p, const mpx_obj *value);

/*
 * Queues (queue.Queue in the manager, MGR-21, MGR-22):
 *   mpx_proxy_queue_put(p, v, timeout)    q.put(v, block, timeout): 0, MPX_EFULL
 *   mpx_proxy_queue_get(p, &v, timeout)   q.get(block, timeout): 0, MPX_EEMPTY
 *   mpx_proxy_queue_qsize(p)              >= 0, or an error
 *   mpx_proxy_queue_empty / _full(p)      1 / 0
 *   mpx_proxy_queue_task_done(p)          MPX_EINVAL when called too often
 *                                         (Python's ValueError)
 *   mpx_proxy_queue_join(p)               q.join()
 * Returns 0 or the errors of mpx_proxy_call.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_proxy_queue_put(mpx_proxy *p, const mpx_obj *v, mpx_duration timeout);
MPX_API int mpx_proxy_queue_get(mpx_proxy *p, mpx_obj **out, mpx_duration timeout);
MPX_API int64_t mpx_proxy_queue_qsize(mpx_proxy *p);
MPX_API int mpx_proxy_queue_empty(mpx_proxy *p);
MPX_API int mpx_proxy_queue_full(mpx_proxy *p);
MPX_API int mpx_proxy_queue_task_done(mpx_proxy *p);
MPX_API int mpx_proxy_queue_join(mpx_proxy *p);

/*
 * Synchronisation objects in the manager (AcquirerProxy, ConditionProxy,
 * EventProxy, BarrierProxy):
 *   mpx_proxy_acquire(p, timeout)    Lock/RLock/Semaphore/Condition
 *                                    acquire: 1 acquired, 0 not
 *   mpx_proxy_release(p)             MPX_ESTATE: not held (RuntimeError),
 *                                    MPX_EINVAL: BoundedSemaphore over its
 *                                    value (ValueError)
 *   mpx_proxy_condition_wait(p, timeout)   1 notified, 0 timed out
 *   mpx_proxy_condition_notify(p, n) / _notify_all(p)
 *   mpx_proxy_event_set / _clear(p); mpx_proxy_event_is_set(p) 1 / 0;
 *   mpx_proxy_event_wait(p, timeout)       1 set, 0 timed out
 *   mpx_proxy_barrier_wait(p, timeout)     the arrival index >= 0, or
 *                                          MPX_EBROKEN (also on timeout)
 *   mpx_proxy_barrier_abort / _reset(p); mpx_proxy_barrier_parties /
 *   _n_waiting(p) >= 0; mpx_proxy_barrier_broken(p) 1 / 0
 * An RLock or Condition is owned by the thread that acquired it (each
 * thread has its own connection, served by its own thread in the
 * manager, as in CPython).
 * Returns 0 or the errors of mpx_proxy_call.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_proxy_acquire(mpx_proxy *p, mpx_duration timeout);
MPX_API int mpx_proxy_release(mpx_proxy *p);
MPX_API int mpx_proxy_condition_wait(mpx_proxy *p, mpx_duration timeout);
MPX_API int mpx_proxy_condition_notify(mpx_proxy *p, int n);
MPX_API int mpx_proxy_condition_notify_all(mpx_proxy *p);
MPX_API int mpx_proxy_event_set(mpx_proxy *p);
MPX_API int mpx_proxy_event_clear(mpx_proxy *p);
MPX_API int mpx_proxy_event_is_set(mpx_proxy *p);
MPX_API int mpx_proxy_event_wait(mpx_proxy *p, mpx_duration timeout);
MPX_API int mpx_proxy_barrier_wait(mpx_proxy *p, mpx_duration timeout);
MPX_API int mpx_proxy_barrier_abort(mpx_proxy *p);
MPX_API int mpx_proxy_barrier_reset(mpx_proxy *p);
MPX_API int mpx_proxy_barrier_parties(mpx_proxy *p);
MPX_API int mpx_proxy_barrier_n_waiting(mpx_proxy *p);
MPX_API int mpx_proxy_barrier_broken(mpx_proxy *p);

/*
 * mpx_proxy_next - next(iterator) for an IteratorProxy or a generator
 * proxy (PROXY-11): 0 and *out the next value, MPX_EEOF at the end
 * (StopIteration).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_proxy_next(mpx_proxy *p, mpx_obj **out);

MPX_END_DECLS

#endif /* MPX_MANAGER_H */
