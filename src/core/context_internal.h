/*
 * core/context_internal.h - contexts and the per-start-method "popen"
 * operations that process.c calls.
 */
#ifndef MPX_CORE_CONTEXT_INTERNAL_H
#define MPX_CORE_CONTEXT_INTERNAL_H

#include "core/internal.h"

/* MPX__BACKEND: a context registered by a backend library (core/backend.h):
 * it starts no processes (no popen ops), only pools. MPX__THREAD: the
 * "thread" context (multiprocessing.dummy, DUMMY-01..03): its "processes"
 * are threads of this process (popen_thread.c) and its pools thread pools;
 * docs/thread-backend.md. */
enum mpx__method {
    MPX__FORK = 1,
    MPX__SPAWN = 2,
    MPX__FORKSERVER = 3,
    MPX__BACKEND = 4,
    MPX__THREAD = 5
};

struct mpx__pool_backend;

typedef struct mpx__popen_ops {
    /* Start p: set p->pid and p->sentinel (or return an error, leaving
     * nothing behind). */
    int (*start)(mpx_process *p);
    /* Wait for the end until deadline; on end set the exit code with
     * mpx__process_set_exit. Called with p->mu NOT held; may be called by
     * several threads. Returns 0 (ended) or MPX_ETIMEDOUT. */
    int (*wait)(mpx_process *p, mpx__deadline d);
    /* Non-blocking check: 1 ended (exit set), 0 running. */
    int (*poll)(mpx_process *p);
    /* Send a signal (race-free against pid reuse). NULL: what this
     * context starts cannot be signalled (threads): terminate and kill
     * are MPX_ENOTSUP, and the exit handler leaves daemonic ones be. */
    int (*signal)(mpx_process *p, int sig);
    /* Release method state (after the end, or at close). */
    void (*cleanup)(mpx_process *p);
} mpx__popen_ops;

struct mpx_context {
    int method; /* enum mpx__method */
    const char *name;
    const mpx__popen_ops *ops;
    const struct mpx__pool_backend *pool; /* MPX__BACKEND: its pools' workers */
    /* Its processes are threads of this process (MPX__THREAD): they share
     * our memory (a bare udata pointer means the same thing there, every
     * object may be passed), its pools are thread pools. */
    bool threads;
};

mpx_context *mpx__context_default(void);
/* The default context, fixed now when it was not (Python's
 * DefaultContext.get_context(), as Process.start() calls it). */
mpx_context *mpx__context_default_fix(void);
/* Add a backend's context to the names mpx_get_context knows (backend.h). */
int mpx__context_register(mpx_context *ctx);
mpx_context *mpx__context_by_method(int method);
/* May an object made in context a be passed to a child started with b?
 * Under fork everything is inherited. A NULL object context means
 * "works everywhere". */
bool mpx__context_compatible(mpx_context *obj_ctx, mpx_context *child_ctx);

extern const mpx__popen_ops mpx__popen_fork;
extern const mpx__popen_ops mpx__popen_spawn;
extern const mpx__popen_ops mpx__popen_forkserver;
extern const mpx__popen_ops mpx__popen_thread;

/* The program spawn children run (set_executable or /proc/self/exe;
 * resolve: the path of the running program when it is still the same
 * file), copied into buf. Returns the length or MPX_ETOOSHORT. */
int mpx__context_executable(char *buf, size_t cap, bool resolve);
/* The mpx_set_executable path as bytes ("" when unset), and its adoption
 * by a spawn/forkserver child (len 0: the default). */
int mpx__context_encode_executable(mpx__buf *out);
int mpx__context_adopt_executable(const void *path, size_t len);
/* The running program itself (never set_executable's): the path used by
 * resolve above, for helpers that must run this program's own library
 * (the shm tracker). Returns the length or MPX_ETOOSHORT. */
int mpx__context_self_executable(char *buf, size_t cap);
/* The fixed default method's name, or NULL (passed to spawn children). */
const char *mpx__context_fixed_name(void);
/* In a new child: adopt the parent's fixed method (NULL: not fixed), or
 * force the method the child was started with (Python's
 * _force_start_method, for a process made with an explicit context). */
void mpx__context_set_fixed(const char *name);
void mpx__context_atfork_child(void);
/* Fork server preload list: u32 nlibs, bytes each; u32 ninits, fnref
 * each. */
int mpx__context_encode_preload(mpx__buf *out);

/* Fork server client state (popen_forkserver.c). */
bool mpx__forkserver_running(void);
void mpx__forkserver_stop(void);
void mpx__forkserver_atfork_child(void);
/* The running server's pid, or 0 (for tests). */
pid_t mpx__forkserver_pid(void);

#endif
