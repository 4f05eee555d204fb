/*
 * mpx/context.h - start methods and contexts (Python: get_context,
 * set_start_method, get_start_method, get_all_start_methods,
 * set_executable, set_forkserver_preload; seed items CTX-01..14,
 * MISC-05..12).
 *
 * A context is a start method: "fork", "spawn" or "forkserver". Each
 * process (and each shareable object) records the context it was made
 * with. The default context is the one set with mpx_set_start_method, or
 * else the one named by the environment variable MPX_START_METHOD, or else
 * fork.
 *
 * In a child, the default is the parent's setting when the child was made
 * with the default context, and the child's own method when it was made
 * with an explicit one (opts.ctx): a spawn child of a fork program starts
 * its own children with spawn, as in Python.
 *
 * The "thread" context is multiprocessing.dummy (DUMMY-01..03,
 * docs/thread-backend.md): the same calls on threads. A Process made with
 * it is a thread of this process (start runs the target in a new thread
 * with the same arguments; join, is_alive, exitcode, pid, sentinel, name,
 * daemon as for a process; terminate and kill are MPX_ENOTSUP), a pool
 * made with it is a thread pool, and its locks, queues and values are the
 * process-shared ones, which are correct between threads. Making it the
 * default (mpx_set_start_method("thread", 1), or MPX_START_METHOD=thread)
 * is `import multiprocessing.dummy as multiprocessing`: a program switches
 * backend in that one place.
 *
 *     #include <unistd.h>
 *     static int work(const mpx_args *a) {
 *         printf("%s got %lld\n", mpx_process_name(mpx_current_process()),
 *                (long long)mpx_args_int(a, 0));
 *         return 0;
 *     }
 *     mpx_context *ctx; mpx_get_context(&ctx, "thread");
 *     mpx_args *a; mpx_args_create(&a); mpx_args_add_int(a, 7);
 *     mpx_process_opts o = {.ctx = ctx, .name = "worker"};
 *     mpx_process *p; mpx_process_create(&p, work, a, &o);
 *     mpx_process_start(p);                       // prints: worker got 7
 *     printf("%d\n", mpx_process_join(p, MPX_FOREVER));     // prints: 1
 *     printf("%d\n", mpx_process_pid(p) == getpid());       // prints: 1
 *     printf("%d\n", mpx_process_terminate(p) == MPX_ENOTSUP); // prints: 1
 *     mpx_process_destroy(p); mpx_args_destroy(a);
 */
#ifndef MPX_CONTEXT_H
#define MPX_CONTEXT_H

#include "common.h"
#include "process.h"

MPX_BEGIN_DECLS

/*
 * mpx_get_context - the context for a start method name ("fork", "spawn",
 * "forkserver"), the thread backend ("thread", see the top of this
 * header), or the default context when method is NULL (MISC-07), which,
 * as Python's get_context(), fixes the default start method: a later
 * mpx_set_start_method without force is MPX_ESTATE (CTX-07).
 * "mpi" is the context of pools whose workers are MPI ranks, registered
 * by libmpx_mpi (mpx/mpi.h, docs/mpi.md): it starts no processes
 * (mpx_process_start: MPX_ENOTSUP) and is not a start method
 * (mpx_set_start_method, mpx_get_all_start_methods do not know it).
 * Contexts are static: never freed. Returns 0, MPX_EINVAL for an unknown
 * name, MPX_ENOTSUP for a method this system cannot provide ("mpi" in a
 * program without libmpx_mpi).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_get_context(mpx_context **out, const char *method);

/*
 * mpx_context_start_method - the method name of a context ("fork" ...).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API const char *mpx_context_start_method(const mpx_context *ctx);

/*
 * mpx_get_all_start_methods - the supported methods, the default first
 * (MISC-06). Fills up to cap names (static strings) and sets *n to the
 * number available. Returns 0. Methods of processes only: "thread" is not
 * listed, also when it is the default (then "fork" comes first).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_get_all_start_methods(const char **names, size_t cap, size_t *n);

/*
 * mpx_get_start_method - the current default method (MISC-08). When none
 * has been fixed: with allow_none, *out is NULL; otherwise the default is
 * fixed now and returned. Returns 0.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_get_start_method(const char **out, int allow_none);

/*
 * mpx_set_start_method - fix the default method (CTX-07, MISC-10). A
 * second call is MPX_ESTATE unless force is set; method NULL with force
 * resets to "not fixed". "thread" makes the thread backend the default
 * (Processes made without a context are threads, Pools thread pools; see
 * the top of this header). Returns 0, MPX_ESTATE, MPX_EINVAL (unknown
 * name), MPX_ENOTSUP.
 *
 * Threads: safe, but call it before starting processes.
 * Fork:    a child made with the default context takes the setting (every
 *          start method); one made with an explicit context has that
 *          context's method fixed instead.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_set_start_method(const char *method, int force);

/*
 * mpx_freeze_support - Python's freeze_support() (MISC-05, GUIDE-12):
 * nothing to do. A spawn child or fork server is recognised by the
 * library's start-up code before main() runs and never returns to main(),
 * so main() needs no call and cannot run twice (no fork bomb). Starting a
 * process from a constructor while such a child is still starting up is
 * MPX_ESTATE (Python's "bootstrapping phase" RuntimeError). Returns 0.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_freeze_support(void);

/*
 * mpx_set_executable - the program that spawn children (and the fork
 * server) run (MISC-09). NULL restores the default, the running program
 * (/proc/self/exe). The program must link mpx; it never runs its main():
 * the library's start-up code runs the target and exits. Functions cross
 * into that program by registered name (mpx_register_function; a target
 * the other program has not registered is MPX_ERESOLVE at start), or by
 * module and offset when they live in a shared library both programs load.
 * Returns 0, MPX_EINVAL (empty path), -errno when path is not an
 * executable file.
 *
 * Threads: safe; applies to processes started afterwards (a fork server
 *          already running keeps its program).
 * Fork:    children of every start method take the setting of their start.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_set_executable(const char *path);

/*
 * mpx_get_executable - copy the path spawn children run into buf (cap
 * bytes, NUL-terminated): the one given to mpx_set_executable, or
 * "/proc/self/exe". Returns the length, or MPX_ETOOSHORT when cap is too
 * small, MPX_EINVAL for NULL buf.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_get_executable(char *buf, size_t cap);

/*
 * A function that crosses into a child by reference (targets, run
 * callbacks, pool tasks and initializers, fork server preload functions).
 * Cast other function pointer types to it: mpx_register_function(
 * "work", (mpx_fn)work).
 */
typedef void (*mpx_fn)(void);

/*
 * mpx_register_function - give fn a name that children resolve
 * (CV-5). Needed only for functions that are not in the program or a
 * shared library loaded at start-up (a library loaded with dlopen), or for
 * a different executable (mpx_set_executable). Spawn and forkserver
 * children resolve names registered before main() runs: register from a
 * constructor, most simply with MPX_REGISTER_FUNCTION(fn); at file scope.
 * Registering the same (name, fn) twice is 0; the name of another
 * function is MPX_EINVAL (also for an empty name, longer than 255 bytes,
 * or NULL fn). -ENOMEM.
 *
 * Threads: safe (lock-free).
 * Fork:    safe; a fork child sees the registrations.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_register_function(const char *name, mpx_fn fn);

/*
 * mpx_lookup_function - the function registered under name: 0 and *out,
 * or MPX_ERESOLVE.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_lookup_function(const char *name, mpx_fn *out);

/* Register fn under its own name before main(), at file scope:
 *
 *     static int work(const mpx_args *a) { return 5; }
 *     MPX_REGISTER_FUNCTION(work);
 *     mpx_fn fn; mpx_lookup_function("work", &fn);
 *     printf("%d\n", fn == (mpx_fn)work);          // prints: 1
 */
#define MPX_REGISTER_FUNCTION(fn)                                       \
    __attribute__((constructor)) static void mpx_register_##fn##_(void) \
    {                                                                   \
        (void)mpx_register_function(#fn, (mpx_fn)(fn));                 \
    }                                                                   \
    extern void mpx_register_function_end_(void)

/*
 * mpx_set_forkserver_preload - what the fork server prepares before it
 * forks children (MISC-11): shared libraries it loads with dlopen (libs,
 * nlibs paths or sonames: a library that cannot be loaded is skipped with
 * a warning, as Python ignores ImportError) and init functions it calls
 * (inits, ninits: resolvable as targets are), so children start with that
 * state. Takes effect when the server starts: call it before the first
 * forkserver process starts (MPX_ESTATE when a server runs). Replaces an
 * earlier list; nlibs = ninits = 0 clears it. Returns 0, MPX_EINVAL (NULL
 * list with a count, more than 64 entries), MPX_ERESOLVE (an init
 * function that cannot be referenced), -ENOMEM.
 *
 * Threads: safe.
 * Fork:    a fork child inherits the list (and starts its own server).
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_set_forkserver_preload(const char *const *libs, size_t nlibs,
                                       const mpx_fn *inits, size_t ninits);

MPX_END_DECLS

#endif /* MPX_CONTEXT_H */
