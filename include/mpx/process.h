/*
 * mpx/process.h - processes (Python: multiprocessing.Process and the
 * module functions current_process, parent_process, active_children,
 * cpu_count; seed items PROC-01..33, MISC-01..04, GUIDE-04).
 *
 * A process runs a target function with a typed argument list. Targets and
 * arguments must cross a process boundary: under fork the child is a copy,
 * under spawn and forkserver (context.h) the child is a fresh program that
 * receives the arguments as bytes and descriptors. The same target code
 * works under every start method.
 *
 *     static int hello(const mpx_args *a) {
 *         printf("hello %s\n", mpx_args_str(a, 0));
 *         return 0;
 *     }
 *     mpx_args *a; mpx_args_create(&a); mpx_args_add_str(a, "bob");
 *     mpx_process *p; mpx_process_create(&p, hello, a, NULL);
 *     mpx_process_start(p); mpx_process_join(p, MPX_FOREVER);   // prints: hello bob
 *     char *d = mpx_process_describe(p);
 *     puts(d);                                  // prints: <Process(Process-1, stopped)>
 *     mpx_free(d); mpx_process_destroy(p); mpx_args_destroy(a);
 *
 * (The examples in these headers are built and run by test/doc-examples.)
 *
 * What a child starts with, under every start method, is its parent's
 * state at the time of mpx_process_start (docs/start-methods.md, "What a
 * child takes from its parent"): logging, the fixed start method, the
 * executable, sync tuning, authkey, environment, working directory, umask,
 * signal mask and ignored signals, CPU affinity, stdout and stderr.
 *
 * At its end a child runs the atexit/on_exit handlers it registered, last
 * registered first, and then joins its children (daemonic ones are
 * terminated), as Python 3.13 does. Under fork the handlers it inherited
 * from its parent do not run (nor static destructors); a spawn or
 * forkserver child is a program image of its own, and it ends as any
 * program does: the handlers registered by constructors of that image
 * (and the fork server's preload functions) and static destructors run
 * too.
 *
 * The "thread" context (context.h, docs/thread-backend.md) makes the same
 * calls run a thread of this process instead (multiprocessing.dummy):
 * what differs is said under each call ("thread context"). A thread that
 * crashes takes the whole process down, as threads do.
 */
#ifndef MPX_PROCESS_H
#define MPX_PROCESS_H

#include "common.h"
#include "obj.h"

#include <sys/types.h>

MPX_BEGIN_DECLS

typedef struct mpx_process mpx_process;
typedef struct mpx_args mpx_args;
typedef struct mpx_context mpx_context;

/* ---------------------------------------------------------------------
 * Typed argument lists (Python: args=(...)). Values are copied in; fds
 * are duplicated; objects (locks, queues, connections, shared arrays ...)
 * are referenced and must stay alive until the process has started.
 * ------------------------------------------------------------------- */

enum mpx_arg_type {
    MPX_ARG_NONE = 0, /* index out of range */
    MPX_ARG_INT = 1,
    MPX_ARG_DOUBLE = 2,
    MPX_ARG_STR = 3,
    MPX_ARG_BYTES = 4,
    MPX_ARG_FD = 5,
    MPX_ARG_OBJECT = 6,
    MPX_ARG_OBJ = 7 /* a value of any type (mpx/obj.h) */
};

/*
 * mpx_args_create - an empty argument list. Returns 0 or -ENOMEM.
 *
 * Threads: an args object is not thread-safe; use it from one thread.
 * Fork:    a fork child sees a copy.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_args_create(mpx_args **out);

/*
 * mpx_args_destroy - free a list and the descriptors it duplicated.
 * NULL does nothing.
 *
 * Threads: not thread-safe (one owner).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_args_destroy(mpx_args *a);

/*
 * mpx_args_add_int / _double / _str / _bytes / _fd / _object - append one
 * value. Strings and byte blocks are copied (str must be NUL-terminated;
 * bytes may be NULL when len is 0). add_fd duplicates fd (the caller keeps
 * its own); the child receives a descriptor open on the same file.
 * add_object takes any mpx object that can be shared with a child (Lock,
 * Queue, Connection, Value, Array ...): under fork the child uses the
 * inherited object, under spawn/forkserver a re-opened one.
 * Return 0, -ENOMEM, -EBADF (bad fd) or MPX_EINVAL (NULL str, an object
 * that cannot be shared).
 *
 * Threads: not thread-safe (one owner).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_args_add_int(mpx_args *a, int64_t v);
MPX_API int mpx_args_add_double(mpx_args *a, double v);
MPX_API int mpx_args_add_str(mpx_args *a, const char *s);
MPX_API int mpx_args_add_bytes(mpx_args *a, const void *p, size_t len);
MPX_API int mpx_args_add_fd(mpx_args *a, int fd);
MPX_API int mpx_args_add_object(mpx_args *a, void *object);

/*
 * mpx_args_count / mpx_args_type - number of values; type of value i
 * (MPX_ARG_NONE when i is out of range).
 *
 * Threads: safe for concurrent readers.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API size_t mpx_args_count(const mpx_args *a);
MPX_API int mpx_args_type(const mpx_args *a, size_t i);

/*
 * mpx_args_get_int / _double / _str / _bytes / _fd / _object - read value
 * i. Return 0, or MPX_EINVAL when i is out of range or the value has
 * another type. Strings and bytes point into the list (valid while it
 * lives). get_fd gives a descriptor owned by the list. get_object gives the
 * object and, when type_name is not NULL, checks that the object is of that
 * type ("lock", "queue", "connection" ...).
 *
 * Threads: safe for concurrent readers.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_args_get_int(const mpx_args *a, size_t i, int64_t *out);
MPX_API int mpx_args_get_double(const mpx_args *a, size_t i, double *out);
MPX_API int mpx_args_get_str(const mpx_args *a, size_t i, const char **out);
MPX_API int mpx_args_get_bytes(const mpx_args *a, size_t i, const void **out, size_t *len);
MPX_API int mpx_args_get_fd(const mpx_args *a, size_t i, int *out);
MPX_API int mpx_args_get_object(const mpx_args *a, size_t i, const char *type_name, void **out);

/*
 * Convenience readers for targets: the value, or 0 / 0.0 / NULL / -1 when
 * i is out of range or of another type.
 *
 * Threads: safe for concurrent readers.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int64_t mpx_args_int(const mpx_args *a, size_t i);
MPX_API double mpx_args_double(const mpx_args *a, size_t i);
MPX_API const char *mpx_args_str(const mpx_args *a, size_t i);
MPX_API int mpx_args_fd(const mpx_args *a, size_t i);
MPX_API void *mpx_args_object(const mpx_args *a, size_t i);

/*
 * mpx_args_add_obj - append a value of any type (mpx/obj.h): Python's
 * args=(..., v, ...) with v a list, dict, tuple, big int, None ... (PROC-03).
 * The list holds a reference to v (mpx_args_add_obj_new steals the
 * caller's, also when it fails), as Python's args tuple holds the object:
 * a child sees v as it is when the process starts. Under fork the child
 * uses it directly; under spawn and forkserver it is pickled when the
 * process starts and rebuilt in the child (class references and instances
 * included), so a value the pickler refuses (nesting deeper than
 * MPX_OBJ_MAX_DEPTH) makes mpx_process_start fail with MPX_EDEPTH.
 * Values may also be arguments of mpx_pool_starmap and initargs.
 * Return 0, MPX_EINVAL (a or v NULL), -ENOMEM.
 *
 * Threads: not thread-safe (one owner); v must not be changed by another
 *          thread while the process starts.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_args_add_obj(mpx_args *a, mpx_obj *v);
MPX_API int mpx_args_add_obj_new(mpx_args *a, mpx_obj *v);

/*
 * mpx_args_get_obj - value i as a borrowed reference (valid while the
 * list lives): 0, or MPX_EINVAL when i is out of range or value i is not a
 * value added with mpx_args_add_obj. mpx_args_obj - the same, or NULL.
 *
 * Threads: safe for concurrent readers.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_args_get_obj(const mpx_args *a, size_t i, mpx_obj **out);
MPX_API mpx_obj *mpx_args_obj(const mpx_args *a, size_t i);

/*
 * mpx_args_set_kwargs - the keyword arguments: Python's
 * Process(kwargs={...}). kwargs is a dict whose keys are all str; the list
 * keeps a shallow copy (as Python's dict(kwargs)), replacing any earlier
 * one; NULL removes them. They travel like values (pickled for spawn and
 * forkserver). Returns 0, MPX_EINVAL (a NULL), MPX_ETYPE (kwargs not a
 * dict, or a key that is not a str: Python's "keywords must be strings"),
 * -ENOMEM.
 * mpx_args_kwargs - the keyword arguments, borrowed (a dict, valid while
 * the list lives), or NULL when none were set: in the target,
 * mpx_obj_dict_get_s(mpx_args_kwargs(a), "name") is kwargs['name'].
 * (mpx_pool_starmap does not pass keyword arguments.)
 *
 * Threads: not thread-safe (set); safe for concurrent readers (get).
 * Fork:    safe.
 * Signals: not async-signal-safe (set); async-signal-safe (get).
 */
MPX_API int mpx_args_set_kwargs(mpx_args *a, const mpx_obj *kwargs);
MPX_API mpx_obj *mpx_args_kwargs(const mpx_args *a);

/* ---------------------------------------------------------------------
 * Process
 * ------------------------------------------------------------------- */

/*
 * A target: runs in the child. Its return value is the exit code:
 * 0 (normal), N > 0 (exitcode N, like sys.exit(N)); a negative value is an
 * error (an mpx code or -errno): the child prints "Process <name>: <error
 * text>" to stderr and exits with code 1, as Python does for an uncaught
 * exception (PROC-16, PROC-17). In the thread context the exit code is the
 * same (Python's dummy.Process reports 0 for every thread; mpx keeps the
 * code, so both backends give the same answers) and the report reads
 * "Exception in thread <name>:".
 */
typedef int (*mpx_target_fn)(const mpx_args *args);

/*
 * The "subclass" form (PROC-02, CV-9): a run callback that receives the
 * process object and user data. When udata_size is not 0 the udata bytes
 * are copied into the child (works under every start method); when it is
 * 0 the udata pointer is passed as it is, which only means something under
 * fork (start fails with MPX_ECONTEXT for a non-NULL pointer under spawn
 * and forkserver).
 */
typedef int (*mpx_run_fn)(mpx_process *self, const mpx_args *args, void *udata);

/* mpx_process_opts.daemon: the creating process's flag (PROC-04). For a
 * process that is the same as 0, since a daemonic process cannot start
 * children (PROC-12). In the thread context: the creating thread's flag
 * (a daemonic thread "process" may start threads, as in Python). */
#define MPX_DAEMON_INHERIT (-1)

typedef struct mpx_process_opts {
    const char *name;   /* NULL: "Process-N1:N2:...:Nk" (PROC-08) */
    /* Python's daemon=: a boolean, 0 False (the default, as Python's None
     * for a non-daemonic creator), nonzero True; MPX_DAEMON_INHERIT spells
     * "the creator's flag". `.daemon = 1` is daemon=True. */
    int daemon;
    mpx_context *ctx;   /* NULL: the default context at start, which this
                         * fixes (Python's Process()); given: that method,
                         * which also becomes the child's default
                         * (ctx.Process()) */
    mpx_run_fn run;     /* overrides target when set */
    void *udata;        /* see mpx_run_fn */
    size_t udata_size;
} mpx_process_opts;

/*
 * mpx_process_create - a process object, not yet started (PROC-01). target
 * may be NULL when opts->run is set, or to make a process that does
 * nothing. args may be NULL (no arguments); it is copied. opts may be NULL.
 * Thread context (opts->ctx, or the default when that is "thread"; the
 * choice of threads or processes is made here): the default name is
 * "Thread-N" (one counter per process, as threading names threads).
 * Returns 0, -ENOMEM, or MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    the object belongs to the process that created it (PROC-24); a
 *          fork child must not start or join its parent's objects.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_process_create(mpx_process **out, mpx_target_fn target, const mpx_args *args,
                               const mpx_process_opts *opts);

/*
 * mpx_process_start - start the child (PROC-06). At most once. Reaps
 * finished children first (GUIDE-04).
 * Returns 0; MPX_ESTATE when already started, when called from a
 * process other than the creator, or from a daemonic process (PROC-12);
 * MPX_ECLOSED after close; MPX_ECONTEXT when an argument object belongs to
 * an incompatible context; MPX_ERESOLVE when the target cannot be found by
 * the child (spawn/forkserver); the child's own error when it cannot
 * rebuild an argument (spawn/forkserver report their start-up); MPX_EBROKEN
 * when a spawned program ended without starting the target (it does not
 * link mpx, or crashed starting) or the fork server failed; MPX_ESTATE from
 * a constructor of a spawn child still starting up (GUIDE-12); -errno from
 * fork/exec (-ENOENT, -ENOEXEC ...). A failed start leaves no process
 * behind and the object can be started again.
 * Thread context: runs the target in a new thread of this process with
 * the arguments as they are (descriptors, objects and a bare udata pointer
 * mean what they mean to the caller: keep objects alive until the thread
 * has ended); MPX_ESTATE when the calling thread "process" is not the one
 * that made the object (Python's "Parent is ... but current_process is
 * ..."); a daemonic creator may start threads; -errno from
 * pthread_create (-EAGAIN).
 *
 * Threads: safe (a process object may be shared by threads; calls on one
 *          object are serialised).
 * Fork:    under the fork start method the child is a copy of this process
 *          taken inside this call; only the calling thread exists in it.
 *          Under spawn and forkserver (context.h) the child is a new
 *          program image; start returns once it has set itself up and is
 *          about to run the target.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_process_start(mpx_process *p);

/*
 * mpx_process_join - wait until the process ends, at most timeout
 * (PROC-07; a timeout <= 0, as join(-1) in Python, only checks). Returns
 * 1 when it has ended (exitcode is then set), 0 when it is still running
 * at the deadline (Python returns None either way and the caller checks
 * exitcode; here the answer comes back), MPX_ESTATE when it was never
 * started or p is the current process, MPX_ECLOSED after close. Joinable
 * any number of times. On the mpx_parent_process object it waits for the
 * parent's end (Python's parent_process().join(timeout); its exitcode
 * stays unknown). Thread context: waits for the thread's end (the thread
 * is gone when join returns 1); from the thread itself MPX_ESTATE.
 *
 * Threads: safe; several threads may join the same process.
 * Fork:    only the creating process may join (MPX_ESTATE otherwise); a
 *          child may join its parent_process object.
 * Signals: retries EINTR against the deadline.
 */
MPX_API int mpx_process_join(mpx_process *p, mpx_duration timeout);

/*
 * mpx_process_is_alive - 1 from start until the child ends, else 0; reaps
 * a finished child (PROC-09). MPX_ECLOSED after close. On the
 * mpx_parent_process object: 1 while the parent runs.
 *
 * Threads: safe.
 * Fork:    the current process object of a child reports 1.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_process_is_alive(mpx_process *p);

/*
 * mpx_process_exitcode - 1 and *code set when the process has ended
 * (0 normal return; N for return N or mpx_exit(N); 1 for a failing
 * target; -N when killed by signal N; PROC-16); 0 when it has not
 * (Python's None: not started or still running). MPX_ECLOSED after close.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_process_exitcode(mpx_process *p, int *code);

/*
 * mpx_process_pid - the child's pid; 0 before start (PROC-15). Thread
 * context: this process's pid.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API pid_t mpx_process_pid(const mpx_process *p);

/*
 * mpx_process_sentinel - a descriptor that becomes readable when the
 * process ends (PROC-19): a pidfd on Linux, the read end of a pipe
 * elsewhere (thread context: an eventfd, readable once the thread's target
 * has returned). Owned by the process object; use it with poll() or
 * mpx_wait().
 * Returns the fd, MPX_ESTATE before start, MPX_ECLOSED after close.
 *
 * Threads: safe.
 * Fork:    the descriptor is CLOEXEC and belongs to the creating process.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_process_sentinel(mpx_process *p);

/*
 * mpx_process_terminate / mpx_process_kill - send SIGTERM / SIGKILL
 * (PROC-20, PROC-22). Exit handlers of the child do not run; its own
 * children are not signalled (daemonic ones die with it: see
 * mpx_process_opts). Nothing happens when the process has already ended.
 * Return 0, MPX_ESTATE before start, MPX_ECLOSED after close.
 * Thread context: a thread cannot be stopped from outside (dummy.Process
 * has neither call): MPX_ENOTSUP at every state but closed, and nothing
 * is signalled.
 *
 * Threads: safe.
 * Fork:    only the creating process.
 * Signals: async-signal-safe only in the sense of kill(2); not for use in
 *          handlers.
 */
MPX_API int mpx_process_terminate(mpx_process *p);
MPX_API int mpx_process_kill(mpx_process *p);

/*
 * mpx_process_close - release the object's resources (PROC-23): sentinel,
 * copied arguments. MPX_ESTATE while the process is running (nothing is
 * released). After close most calls return MPX_ECLOSED. Closing twice is 0.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_process_close(mpx_process *p);

/*
 * mpx_process_destroy - free the object. A running child is not stopped:
 * the library keeps track of it, so active_children and the exit handlers
 * still reap it. NULL does nothing. Do not destroy the objects returned by
 * mpx_current_process / mpx_parent_process.
 *
 * Threads: no other thread may use p at the same time.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_process_destroy(mpx_process *p);

/*
 * Name (PROC-08), daemon flag (PROC-10), authkey (PROC-18).
 * mpx_process_name returns the name (owned by the object). set_name copies
 * it (MPX_EINVAL for NULL). mpx_process_daemon answers 1 (daemonic) or
 * 0; set_daemon takes a boolean (nonzero True, as p.daemon = True) and is
 * MPX_ESTATE after start.
 * mpx_process_authkey copies up to cap bytes into key and returns the key's
 * length; set_authkey copies 1..1024 bytes (MPX_EINVAL otherwise). The main
 * process's key is 32 random bytes; a new process inherits its creator's.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API const char *mpx_process_name(const mpx_process *p);
MPX_API int mpx_process_set_name(mpx_process *p, const char *name);
MPX_API int mpx_process_daemon(const mpx_process *p);
MPX_API int mpx_process_set_daemon(mpx_process *p, int daemon);
MPX_API int mpx_process_authkey(const mpx_process *p, void *key, size_t cap);
MPX_API int mpx_process_set_authkey(mpx_process *p, const void *key, size_t len);

/*
 * mpx_process_describe - Python's repr (PROC-25, as the seeds show it) as
 * a new string: "<Process(Process-1, initial)>", "<Process(Process-1,
 * started)>", "<Process(Process-1, stopped)>" (exit code 0),
 * "<Process(Process-1, stopped[3])>" (exit code 3),
 * "<Process(Process-1, stopped[SIGTERM])>" (killed by a signal),
 * "<Process(Process-1, closed)>"; " daemon" follows the state of a
 * daemonic process ("<Process(Process-1, started daemon)>"). Thread
 * context: "<DummyProcess(Thread-1, started)>". Free it with
 * mpx_free. NULL on allocation failure.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_process_describe(mpx_process *p);

/*
 * mpx_process_state - "initial", "started", "stopped" or "closed".
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API const char *mpx_process_state(mpx_process *p);

/* ---------------------------------------------------------------------
 * Module functions
 * ------------------------------------------------------------------- */

/*
 * mpx_current_process - the object for the current process (MISC-03):
 * "MainProcess" in the main program, the child's own object in a child.
 * In a thread started with the thread context: that thread's object
 * (dummy's current_process() is current_thread()); in other threads the
 * process's. Owned by the library (or the creator); never NULL.
 *
 * Threads: safe.
 * Fork:    in a fork child, the child's object.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_process *mpx_current_process(void);

/*
 * mpx_parent_process - the parent's object in a child (its name and pid;
 * sentinel ready when the parent ends), NULL in the main process (MISC-04).
 * mpx_process_join waits for the parent's end (1 ended, 0 not yet) and
 * mpx_process_is_alive follows it; both tell the parent from a later process with the same pid
 * (under forkserver, where the fork server is the real parent, by the
 * parent's start time). Without pidfds (valgrind) the object has no
 * sentinel (MPX_ESTATE) and join looks every 10 ms.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_process *mpx_parent_process(void);

/*
 * mpx_active_children - the live children of this process (MISC-01);
 * joins finished ones as a side effect. Threads of the thread context
 * started by any thread of this process are among them. *out is an array of *n borrowed
 * pointers; free the array with mpx_free (it may be NULL when *n is 0).
 * Returns 0 or -ENOMEM.
 *
 * Threads: safe.
 * Fork:    a fork child starts with no children.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_active_children(mpx_process ***out, size_t *n);

/*
 * mpx_cpu_count - CPUs in the system (MISC-02). mpx_cpu_count_usable -
 * CPUs this process may use: the affinity mask, further limited by a cgroup
 * v2 CPU quota (cpu.max), at least 1.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_cpu_count(void);
MPX_API int mpx_cpu_count_usable(void);

/*
 * mpx_exit - end the current process with code, as sys.exit(code) does in
 * a child: the child's exit handlers run (see the top of this header),
 * its children are handled (non-daemonic ones joined, daemonic ones
 * terminated: PROC-11, PROC-14), stdio is flushed, and the process exits.
 * exit(code) in a child does the same. In the main program this is
 * exit(code). In a thread of the thread context it ends that thread only,
 * with exitcode code (sys.exit in a dummy.Process); exit() there ends the
 * program. At the end of a process (or the program) the threads of the
 * thread context it started are joined, except daemonic ones, which are
 * left to end with it (Python joins non-daemon threads at exit), and
 * except when the end is made from one of those threads.
 *
 * Threads: call from any thread; other threads are not joined.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_exit(int code)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((noreturn))
#endif
    ;

MPX_END_DECLS

#endif /* MPX_PROCESS_H */
