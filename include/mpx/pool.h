/*
 * mpx/pool.h - pools of worker processes or threads (Python:
 * multiprocessing.Pool, multiprocessing.pool.ThreadPool, AsyncResult,
 * IMapIterator; seed items POOL-01..25, ASYNC-01..06, TPOOL-01, BLOG-01..05).
 *
 * A task is a C function from input bytes to output bytes:
 *
 *     static int square(const void *in, size_t len, mpx_task_out *out) {
 *         int64_t x; memcpy(&x, in, 8); x *= x;
 *         return mpx_task_out_set(out, &x, 8);
 *     }
 *     int64_t xs[] = {1, 2, 3, 4};
 *     mpx_pool *p; mpx_pool_create(&p, MPX_POOL_DEFAULT, NULL);   // Pool()
 *     mpx_result *r; mpx_pool_map_array(p, square, xs, 8, 4, NULL, &r);
 *     for (size_t i = 0; i < 4; i++) {
 *         const void *y; size_t len; int64_t v;
 *         mpx_result_item(r, i, &y, &len); memcpy(&v, y, 8);
 *         printf("%lld ", (long long)v);       // prints: 1 4 9 16
 *     }
 *     mpx_result_destroy(r); mpx_pool_close(p); mpx_pool_join(p); mpx_pool_destroy(p);
 *
 * A task fails by returning a negative value (mpx_task_fail sets a message,
 * the analogue of the exception Python re-raises in the parent). The
 * failing item's index and the message travel in the result object.
 *
 * Beyond Python: a worker that crashes fails only the item it was running
 * (MPX_EWORKER, with the worker's pid, signal and backtrace) and is
 * replaced; an output a task has returned is kept whatever its worker
 * does next (crashes, exits by maxtasksperchild, is killed), whatever its
 * size; a task running past its timeout is stopped by killing its
 * worker (MPX_ETIMEDOUT); imap reads its input lazily with a bounded
 * look-ahead; pending tasks can be cancelled; progress callbacks; a
 * fixed-size array fast path. See docs/pool.md.
 *
 * Function pointers given to the pool (tasks, initializers) must be
 * functions of the program or of a library it loaded at start-up, so that
 * they can be found again in workers started with spawn or forkserver.
 */
#ifndef MPX_POOL_H
#define MPX_POOL_H

#include "common.h"
#include "obj.h"
#include "process.h"

MPX_BEGIN_DECLS

typedef struct mpx_pool mpx_pool;
typedef struct mpx_result mpx_result; /* AsyncResult / MapResult */
typedef struct mpx_imap mpx_imap;     /* IMapIterator */
typedef struct mpx_task_out mpx_task_out;

/* One input item: a byte block (borrowed). */
typedef struct mpx_bytes {
    const void *data;
    size_t len;
} mpx_bytes;

/*
 * Task functions, run in a worker.
 * mpx_task_fn: one item's input bytes -> output bytes (set with
 *   mpx_task_out_set / mpx_task_out_buf). Return 0, or a negative value to
 *   fail the item (MPX_ETASK from mpx_task_fail, or any mpx code / -errno).
 * mpx_star_fn: the item is a typed argument list (starmap; bound arguments
 *   of partial application are included).
 * mpx_elem_fn: the fixed-size fast path: read one element at in, write one
 *   result at out; shared is the call's read-only bytes given to every
 *   element (mpx_call_opts.shared), or NULL.
 * mpx_init_fn: a worker initializer, called once with the initargs
 *   (POOL-03); a negative return ends the worker.
 */
typedef int (*mpx_task_fn)(const void *in, size_t len, mpx_task_out *out);
typedef int (*mpx_star_fn)(const mpx_args *args, mpx_task_out *out);
typedef int (*mpx_elem_fn)(const void *in, void *out, const void *shared);
typedef int (*mpx_init_fn)(const mpx_args *args);

/*
 * An input generator for imap over an endless or lazy source: store the
 * next item in *item (the bytes must stay valid until the next call) and
 * return 1; return 0 at the end; a negative value stops the input (the
 * iterator then reports that error after the items before it).
 * Called from the pool's handler thread, never concurrently.
 */
typedef int (*mpx_gen_fn)(void *state, mpx_bytes *item);

/* callback / error_callback (POOL-08, POOL-09): run in the pool's one
 * result-handling thread, in completion order; must return quickly. The
 * result is ready; read it with the mpx_result_* calls (do not destroy it
 * there). */
typedef void (*mpx_result_cb)(mpx_result *r, void *udata);
/* Progress: done and total items of one call (total 0 while unknown). */
typedef void (*mpx_progress_cb)(size_t done, size_t total, void *udata);

/*
 * mpx_task_out_set - set the item's output to a copy of len bytes.
 * mpx_task_out_buf - a buffer of len bytes that becomes the output (write
 *   into it before returning); NULL when out of memory.
 * mpx_task_fail - set an error message (printf format) and return
 *   MPX_ETASK, so a task can end with `return mpx_task_fail(out, ...)`.
 * Return 0, -ENOMEM, or MPX_EINVAL.
 * Outputs of any size below 4 GiB (larger ones fail the item with
 * MPX_ETOOBIG): once the task returns, the output is in memory of the
 * pool's owner (large ones in the pool's output files), so the worker's
 * later fate cannot lose it. An output that cannot be stored (no memory)
 * fails the item with that error.
 *
 * Threads: only inside the task, on the out it was given.
 * Fork:    not applicable.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_task_out_set(mpx_task_out *out, const void *data, size_t len);
MPX_API void *mpx_task_out_buf(mpx_task_out *out, size_t len);
MPX_API int mpx_task_fail(mpx_task_out *out, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The worker count of Pool(None): one per usable CPU (POOL-02). INT_MIN,
 * a value no port passes by accident; 0 and negative counts are
 * MPX_EINVAL, as Pool(0) is a ValueError in Python. */
#define MPX_POOL_DEFAULT (-2147483647 - 1)

/* Pool options; zero means default everywhere. */
typedef struct mpx_pool_opts {
    mpx_init_fn initializer;    /* POOL-03 */
    const mpx_args *initargs;   /* copied; may hold fds and objects */
    /* POOL-04: 0 (not set, Python's None) workers live as long as the
     * pool; N > 0 tasks per worker; negative MPX_EINVAL. */
    int maxtasksperchild;
    mpx_context *ctx;           /* POOL-05; NULL: the default context; "mpi": MPI ranks (mpx/mpi.h) */
    int threads;                /* nonzero: a ThreadPool (TPOOL-01) */
    /* Per task (process pools only): 0 (not set) or MPX_FOREVER none, as
     * in Python; N > 0 ms; negative MPX_EINVAL. */
    mpx_duration task_timeout;
    int slots;                  /* tasks in flight; 0: 256 */
    int spin;                   /* spin iterations before sleeping; 0: default, <0: never spin */
} mpx_pool_opts;

/* Per-call options; zero means default. */
typedef struct mpx_call_opts {
    size_t chunksize;          /* 0: map as Python (len / (4 * workers), rounded up); imap 1 */
    /* Per task: 0 (not set) the pool's task_timeout; MPX_FOREVER none;
     * N > 0 ms; negative MPX_EINVAL (no task runs in zero time). */
    mpx_duration timeout;
    mpx_result_cb callback;    /* on success (POOL-08, POOL-11) */
    mpx_result_cb error_callback; /* on failure */
    void *udata;               /* for the callbacks */
    const mpx_args *bound_before; /* starmap: partial application, prepended */
    const mpx_args *bound_after;  /* starmap: appended */
    /* Fast path (mpx_pool_map_fixed): read-only bytes given to every
     * element (copied once per call); NULL / 0: none. (.ctx is a
     * start-method context everywhere else, as in mpx_pool_opts.) */
    const void *shared;
    size_t shared_len;
    mpx_progress_cb progress;  /* called from the handler thread */
    void *progress_udata;
    int progress_bar;          /* draw a bar on stderr when it is a terminal */
    size_t lookahead;          /* imap: items in flight or unread; 0: 4 * workers * chunksize + 1024 */
} mpx_call_opts;

/*
 * mpx_pool_create - start a pool of processes workers (POOL-01..05;
 * Python's Pool(processes, ...)), or of threads when opts->threads is set
 * (TPOOL-01). processes is 1..256, or MPX_POOL_DEFAULT for one per usable
 * CPU (Pool(None), POOL-02; an mpi pool: every free worker rank). opts
 * may be NULL. Workers are daemonic mpx_process children started with
 * opts->ctx, or MPI ranks with the "mpi" context of libmpx_mpi
 * (docs/mpi.md). Returns 0, MPX_EINVAL (processes 0, negative other than
 * MPX_POOL_DEFAULT, or over 256, as Pool(0) is a ValueError;
 * maxtasksperchild < 0; a negative task timeout), MPX_ENOTSUP (a task
 * timeout or maxtasksperchild on a thread pool or an mpi pool), -EAGAIN
 * (mpi: the worker ranks serve other pools), -errno; a failed call leaves
 * nothing behind.
 *
 * Threads: safe. The pool runs one handler thread (results, callbacks,
 *          worker replacement, timeouts).
 * Fork:    the pool belongs to the creating process (POOL-06): in a fork
 *          child every call returns MPX_ESTATE.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_create(mpx_pool **out, int processes, const mpx_pool_opts *opts);

/*
 * mpx_thread_pool_create - mpx_pool_create with threads set (Python's
 * ThreadPool(threads, initializer, initargs) / multiprocessing.dummy.Pool):
 * threads is 1..256 or MPX_POOL_DEFAULT; 0 and negative counts are
 * MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    as mpx_pool_create.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_thread_pool_create(mpx_pool **out, int threads, mpx_init_fn initializer,
                                   const mpx_args *initargs);

/*
 * mpx_pool_apply_async - run fn on one input in a worker (POOL-08);
 * *out is the result object. mpx_pool_apply waits for it (POOL-07) and
 * returns what mpx_result_get returns; *out is set even when the task
 * failed (destroy it). The input is copied before the call returns.
 * Return 0 (or the task's outcome for apply), MPX_ESTATE after close or
 * terminate (POOL-17), MPX_EINVAL, -ENOMEM.
 *
 * Threads: safe; many threads may submit to one pool.
 * Fork:    creating process only (MPX_ESTATE).
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_apply_async(mpx_pool *p, mpx_task_fn fn, const void *in, size_t len,
                                 const mpx_call_opts *opts, mpx_result **out);
MPX_API int mpx_pool_apply(mpx_pool *p, mpx_task_fn fn, const void *in, size_t len,
                           const mpx_call_opts *opts, mpx_result **out);

/*
 * mpx_pool_map_async - apply fn to every item (POOL-11), in chunks of
 * opts->chunksize; results in input order. The items' bytes are read
 * while the call runs: keep them valid until the result is ready.
 * mpx_pool_map waits (POOL-10) and returns 0 when every item succeeded,
 * else the error of the failing item with the lowest index; *out holds
 * every item's outcome either way. mpx_pool_map_array: items are n
 * consecutive blocks of size bytes at base.
 * Returns as apply_async / apply.
 *
 * Threads: safe.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_map_async(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                               const mpx_call_opts *opts, mpx_result **out);
MPX_API int mpx_pool_map(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                         const mpx_call_opts *opts, mpx_result **out);
MPX_API int mpx_pool_map_array(mpx_pool *p, mpx_task_fn fn, const void *base, size_t size,
                               size_t n, const mpx_call_opts *opts, mpx_result **out);

/*
 * mpx_pool_starmap / _async - items are argument lists (POOL-15, POOL-16,
 * BLOG-05): fn receives bound_before ++ items[i] ++ bound_after (partial
 * application). Values only: ints, doubles, strings, bytes (MPX_ENOTSUP
 * for fds and objects: pass those through initargs). The lists are
 * serialised before the call returns. mpx_pool_apply_star(_async) is
 * apply for one argument list.
 * Returns as map / map_async.
 *
 * Threads: safe.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_starmap_async(mpx_pool *p, mpx_star_fn fn, const mpx_args *const *items,
                                   size_t n, const mpx_call_opts *opts, mpx_result **out);
MPX_API int mpx_pool_starmap(mpx_pool *p, mpx_star_fn fn, const mpx_args *const *items,
                             size_t n, const mpx_call_opts *opts, mpx_result **out);
MPX_API int mpx_pool_apply_star_async(mpx_pool *p, mpx_star_fn fn, const mpx_args *args,
                                      const mpx_call_opts *opts, mpx_result **out);
MPX_API int mpx_pool_apply_star(mpx_pool *p, mpx_star_fn fn, const mpx_args *args,
                                const mpx_call_opts *opts, mpx_result **out);

/*
 * mpx_pool_imap / mpx_pool_imap_unordered - lazy map (POOL-12, POOL-14):
 * an iterator yielding results in input order, or in completion order.
 * chunksize defaults to 1. The _gen forms read the input from gen (an
 * endless source is fine): at most opts->lookahead items are read ahead
 * of the consumer. Keep array items valid until the iterator is done.
 * Return 0, MPX_ESTATE after close, MPX_EINVAL, -ENOMEM.
 *
 * Threads: safe. gen is called from the pool's handler thread.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_imap(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                          const mpx_call_opts *opts, mpx_imap **out);
MPX_API int mpx_pool_imap_unordered(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items,
                                    size_t n, const mpx_call_opts *opts, mpx_imap **out);
MPX_API int mpx_pool_imap_gen(mpx_pool *p, mpx_task_fn fn, mpx_gen_fn gen, void *state,
                              const mpx_call_opts *opts, mpx_imap **out);
MPX_API int mpx_pool_imap_unordered_gen(mpx_pool *p, mpx_task_fn fn, mpx_gen_fn gen,
                                        void *state, const mpx_call_opts *opts, mpx_imap **out);

/*
 * mpx_pool_map_fixed - the fast path: out[i] = fn(in[i]) over n elements
 * of in_size bytes into elements of out_size bytes, with no per-item
 * messages: both arrays are placed in one shared mapping and workers claim
 * chunks with an atomic counter (faster workers take more). chunksize 0
 * picks one. status, when not NULL, receives n codes (0 or the element's
 * error: the fn's return, MPX_EWORKER, MPX_ETIMEDOUT). Returns 0 when
 * every element succeeded, else the lowest-index error; MPX_ESTATE after
 * close; MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_map_fixed(mpx_pool *p, mpx_elem_fn fn, const void *in, size_t in_size,
                               void *out, size_t out_size, size_t n, const mpx_call_opts *opts,
                               int *status);

/*
 * mpx_pool_close - accept no more tasks; workers exit when the queued work
 * is done (POOL-17). mpx_pool_terminate - stop now: pending tasks fail with
 * MPX_ECANCELED, workers are killed (SIGKILL, so even tasks stuck in
 * system calls end; POOL-18). mpx_pool_join - wait for the workers and the
 * handler thread to end; MPX_ESTATE unless close or terminate came first
 * (POOL-19). All bounded in time after terminate. Return 0 or MPX_ESTATE.
 * Thread pools: a thread cannot be killed. terminate fails every task that
 * has not started with MPX_ECANCELED without running it (also the rest of
 * a chunk whose first items are running); a task that is running goes on
 * to its end and keeps its own result (success or error), and join waits
 * for exactly those running tasks: it returns when they return (never, if
 * one never returns).
 *
 * Threads: safe; do not call join from a callback.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_close(mpx_pool *p);
MPX_API int mpx_pool_terminate(mpx_pool *p);
MPX_API int mpx_pool_join(mpx_pool *p);

/*
 * mpx_pool_destroy - terminate (when not joined yet: POOL-20, POOL-24),
 * join and free. Result objects stay valid (unfinished ones end with
 * MPX_ECANCELED). NULL does nothing. A thread pool waits for the tasks
 * that are running, as mpx_pool_join after terminate does.
 *
 * Threads: no other thread may use the pool at the same time.
 * Fork:    in a fork child, frees only this process's memory.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_pool_destroy(mpx_pool *p);

/*
 * Introspection (POOL-23): mpx_pool_processes - the number of workers;
 * mpx_pool_worker_pids - up to cap pids of the live workers, returns the
 * count; mpx_pool_outstanding - results not ready yet (Python's _cache);
 * mpx_pool_replaced - workers replaced so far (crashes, timeouts,
 * maxtasksperchild).
 *
 * Threads: safe.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_processes(const mpx_pool *p);
MPX_API int mpx_pool_worker_pids(mpx_pool *p, pid_t *pids, int cap);
MPX_API size_t mpx_pool_outstanding(mpx_pool *p);
MPX_API size_t mpx_pool_replaced(mpx_pool *p);

/*
 * mpx_pool_describe - Python's repr of a pool as a new string:
 * "<Pool state=RUN pool_size=4 processes>" (state RUN, CLOSE or
 * TERMINATE; "threads" for a thread pool). Free it with mpx_free; NULL on
 * allocation failure or a bad pool.
 *
 * Threads: safe.
 * Fork:    safe (describes the parent's pool in a fork child).
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_pool_describe(mpx_pool *p);

/* ---------------------------------------------------------------------
 * Results (AsyncResult, ASYNC-01..05)
 * ------------------------------------------------------------------- */

/* Why an item failed. Strings are owned by the result object. */
typedef struct mpx_task_error {
    int code;           /* MPX_ETASK, MPX_EWORKER, MPX_ETIMEDOUT, MPX_ECANCELED, MPX_EBROKEN */
    int task_rc;        /* MPX_ETASK: what the task returned */
    size_t index;       /* the failing item */
    pid_t pid;          /* the worker that ran it (0: none) */
    int signal;         /* MPX_EWORKER: the signal that ended the worker, or 0 */
    int exitcode;       /* MPX_EWORKER: the worker's exit code when it exited */
    const char *message;   /* never NULL */
    const char *backtrace; /* MPX_EWORKER: the worker's backtrace, or NULL */
} mpx_task_error;

/*
 * mpx_result_get - wait up to timeout for the result (ASYNC-02). Returns 0
 * when it succeeded; MPX_ETIMEDOUT when it is not ready in time (retry
 * later: the task goes on; mpx_result_ready tells this apart from a task
 * that timed out); otherwise the error code of the failing item with the
 * lowest index (MPX_ETASK ...: mpx_result_error gives the details). For
 * apply results, data/len (may be NULL) receive the output, owned by the
 * result.
 *
 * Threads: safe; many threads may wait on one result.
 * Fork:    creating process only.
 * Signals: retries EINTR against the deadline.
 */
MPX_API int mpx_result_get(mpx_result *r, mpx_duration timeout, const void **data, size_t *len);

/*
 * mpx_result_wait - wait until ready or timeout (ASYNC-03): 1 when ready,
 * 0 when the timeout ended first (Python returns None either way), or
 * MPX_EINVAL. mpx_result_ready - 1 when ready, else 0 (ASYNC-04).
 * mpx_result_successful - 1 / 0, MPX_ESTATE when not ready (ASYNC-05).
 *
 * Threads: safe.
 * Fork:    creating process only.
 * Signals: retries EINTR.
 */
MPX_API int mpx_result_wait(mpx_result *r, mpx_duration timeout);
MPX_API int mpx_result_ready(mpx_result *r);
MPX_API int mpx_result_successful(mpx_result *r);

/*
 * mpx_result_count - number of items (1 for apply). mpx_result_item - the
 * output of item i (0) or its error code; MPX_ESTATE when not ready,
 * MPX_EINVAL when i is out of range. mpx_result_failed - items that
 * failed. mpx_result_error - the failing item with the lowest index (0,
 * or MPX_EEMPTY when none failed); mpx_result_item_error - item i's error
 * (MPX_EEMPTY when it succeeded).
 *
 * Threads: safe once ready.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API size_t mpx_result_count(mpx_result *r);
MPX_API int mpx_result_item(mpx_result *r, size_t i, const void **data, size_t *len);
MPX_API size_t mpx_result_failed(mpx_result *r);
MPX_API int mpx_result_error(mpx_result *r, mpx_task_error *err);
MPX_API int mpx_result_item_error(mpx_result *r, size_t i, mpx_task_error *err);

/*
 * mpx_result_cancel - cancel the items not started yet: they fail with
 * MPX_ECANCELED; running ones finish. Returns the number cancelled.
 *
 * Threads: safe.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_result_cancel(mpx_result *r);

/*
 * mpx_result_destroy - release the result. An unfinished one is cancelled
 * first (its running items finish unseen). NULL does nothing.
 *
 * Threads: no other thread may use r at the same time.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_result_destroy(mpx_result *r);

/* ---------------------------------------------------------------------
 * Iterators (IMapIterator, ASYNC-06)
 * ------------------------------------------------------------------- */

/*
 * mpx_imap_next - the next result (POOL-13, ASYNC-06). Returns 0 with
 * data/len (owned by the iterator, valid until the next call) and *index
 * (may be NULL) of the item; MPX_ETIMEDOUT when none came in time
 * (retry); MPX_EEOF at the end (StopIteration); or the item's error
 * (details: mpx_imap_error), after which the following items still come.
 *
 * Threads: one consumer thread at a time.
 * Fork:    creating process only.
 * Signals: retries EINTR against the deadline.
 */
MPX_API int mpx_imap_next(mpx_imap *it, mpx_duration timeout, const void **data, size_t *len,
                          size_t *index);
/*
 * mpx_imap_error - details of the last item error mpx_imap_next returned
 * (0), or MPX_EEMPTY when there was none. The strings stay valid until the
 * next error or destroy.
 *
 * Threads: one consumer thread at a time.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_imap_error(mpx_imap *it, mpx_task_error *err);

/*
 * mpx_imap_cancel - stop reading input and cancel unstarted items.
 * mpx_imap_destroy - cancel and free. NULL does nothing.
 *
 * Threads: no other thread may use it at the same time (destroy).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_imap_cancel(mpx_imap *it);
MPX_API void mpx_imap_destroy(mpx_imap *it);

/* ---------------------------------------------------------------------
 * Values (mpx/obj.h): Python's pool.map(f, [1, 2, 3]) and friends
 *
 *     static mpx_obj *f(mpx_obj *x, mpx_obj **error) {
 *         int64_t v;
 *         if (mpx_obj_get_int(x, &v))
 *             return mpx_task_raise(error, "TypeError", "not an int");
 *         return mpx_obj_int(v * v);
 *     }
 *     mpx_pool *p; mpx_pool_create(&p, MPX_POOL_DEFAULT, NULL);
 *     mpx_obj *xs = mpx_obj_build("[iii]", 1, 2, 3), *r;
 *     if (mpx_pool_map_obj(p, f, xs, NULL, &r) == 0)
 *         mpx_obj_print(r);                       // prints: [1, 4, 9]
 *     mpx_obj_decref(r); mpx_obj_decref(xs);
 *     mpx_pool_close(p); mpx_pool_join(p); mpx_pool_destroy(p);
 *
 * A value task takes a value and returns one; it fails by returning NULL
 * with *error set to a value, the analogue of the exception Python's
 * pool re-raises in the parent: any value, usually an exception made by
 * mpx_task_raise / mpx_obj_exception (ValueError('bad input'), as CPython
 * pickles one). Values travel pickled (docs/obj.md, "Carried
 * everywhere"), layered on the byte pool above: chunks, timeouts,
 * crashes, cancellation, imap look-ahead and progress behave as there;
 * the byte calls stay the zero-overhead path. A failure that has no task
 * value is given one: a worker that crashed is
 * concurrent.futures.process.BrokenProcessPool('...'), a task past its
 * timeout multiprocessing.context.TimeoutError('...'), a cancelled item
 * concurrent.futures._base.CancelledError('...'), with the byte pool's
 * details (pid, signal, backtrace) in mpx_obj_result_error.
 *
 * The function crosses to the workers as byte tasks do (module + offset,
 * or a registered name: see the top of this header).
 * ------------------------------------------------------------------- */

typedef struct mpx_obj_result mpx_obj_result; /* AsyncResult / MapResult of values */
typedef struct mpx_obj_imap mpx_obj_imap;     /* IMapIterator of values */

/*
 * Value tasks, run in a worker.
 * mpx_obj_fn: f(x) for map, imap, imap_unordered and apply: arg is
 *   borrowed (valid during the call). Return a new reference (the pool
 *   releases it), or NULL after setting *error (NULL on entry) to a new
 *   reference: the item's error value. NULL without an error value fails
 *   the item with SystemError('task returned NULL without setting an
 *   error'); a result the pickler refuses (nesting too deep) with
 *   multiprocessing.pool.MaybeEncodingError.
 * mpx_obj_star_fn: f(*args, **kwargs) for starmap and apply_star: args is
 *   a tuple, kwargs a dict or NULL (none given); both borrowed.
 */
typedef mpx_obj *(*mpx_obj_fn)(mpx_obj *arg, mpx_obj **error);
typedef mpx_obj *(*mpx_obj_star_fn)(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error);

/*
 * An input generator for imap over a lazy or endless source: store the
 * next item in *item as a new reference (the pool takes it) and return 1;
 * return 0 at the end; a negative value stops the input (the iterator
 * reports that code after the items before it), and so does an item the
 * pickler refuses (its error) or a NULL item (-ENOMEM: a constructor that
 * failed). Called from the pool's handler thread, never concurrently.
 */
typedef int (*mpx_obj_gen_fn)(void *state, mpx_obj **item);

/* callback(result) / error_callback(exception), Python's (POOL-08,
 * POOL-09): value is borrowed for the call (the list for map, the result
 * for apply; the error value of the failing item with the lowest index).
 * Run in the pool's handler thread; must return quickly and must not
 * destroy the result. */
typedef void (*mpx_obj_cb)(mpx_obj *value, void *udata);

/* Per-call options of the value calls; zero means default. */
typedef struct mpx_obj_call_opts {
    size_t chunksize;          /* as mpx_call_opts.chunksize */
    /* Per task, as mpx_call_opts.timeout: 0 (not set) the pool's
     * task_timeout; MPX_FOREVER none; N > 0 ms; negative MPX_EINVAL. */
    mpx_duration timeout;
    mpx_obj_cb callback;       /* map, starmap, apply: on success */
    mpx_obj_cb error_callback; /* on failure */
    void *udata;               /* for the callbacks */
    mpx_progress_cb progress;  /* as mpx_call_opts */
    void *progress_udata;
    int progress_bar;
    size_t lookahead;          /* imap, as mpx_call_opts.lookahead */
} mpx_obj_call_opts;

/*
 * mpx_task_raise - for a task's `return mpx_task_raise(error, "ValueError",
 * "bad %d", x);` (Python's raise ValueError(f"bad {x}")): sets *error to
 * mpx_obj_exception(type, fmt, ...) (releasing what it held; error may be
 * NULL) and returns NULL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_task_raise(mpx_obj **error, const char *type, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/*
 * mpx_pool_map_obj_async - Python's pool.map_async(f, items) (POOL-11):
 * f(x) for every x of items (a list, tuple, set, frozenset, or dict for
 * its keys; borrowed: the items are pickled before the call returns, so
 * items may change or go right after). The result's value is a list in
 * input order. mpx_pool_map_obj is pool.map(f, items) (POOL-10): waits,
 * then returns 0 with *out the list (a new reference), or the error code
 * of the failing item with the lowest index (MPX_ETASK for a task's error
 * value, MPX_EWORKER, MPX_ETIMEDOUT ...) with *out that item's error
 * value: what Python's map raises. *out is NULL when the call itself
 * fails: MPX_EINVAL (NULL p, fn, items or out), MPX_ETYPE (items cannot
 * be iterated), MPX_ESTATE (after close or terminate: POOL-17), an
 * encoding error (MPX_EDEPTH), -ENOMEM.
 * mpx_pool_starmap_obj(_async) - pool.starmap (POOL-15, POOL-16): each
 * item is a tuple (or list) of arguments for f(*item); MPX_ETYPE for an
 * item that is neither.
 *
 * Threads: safe; many threads may submit to one pool.
 * Fork:    creating process only (MPX_ESTATE).
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_map_obj_async(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *items,
                                   const mpx_obj_call_opts *opts, mpx_obj_result **out);
MPX_API int mpx_pool_map_obj(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *items,
                             const mpx_obj_call_opts *opts, mpx_obj **out);
MPX_API int mpx_pool_starmap_obj_async(mpx_pool *p, mpx_obj_star_fn fn, const mpx_obj *items,
                                       const mpx_obj_call_opts *opts, mpx_obj_result **out);
MPX_API int mpx_pool_starmap_obj(mpx_pool *p, mpx_obj_star_fn fn, const mpx_obj *items,
                                 const mpx_obj_call_opts *opts, mpx_obj **out);

/*
 * mpx_pool_apply_obj_async - f(arg) in a worker (Python's
 * pool.apply_async(f, (arg,)), POOL-08); mpx_pool_apply_obj waits
 * (pool.apply, POOL-07) and returns as mpx_pool_map_obj with *out the
 * result or the error value.
 * mpx_pool_apply_star_obj(_async) - pool.apply(f, args, kwds): f(*args,
 * **kwargs) with args a tuple or list (NULL: ()) and kwargs a dict with
 * str keys (NULL: none; MPX_ETYPE otherwise).
 * Returns as mpx_pool_map_obj(_async).
 *
 * Threads: safe.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_apply_obj_async(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *arg,
                                     const mpx_obj_call_opts *opts, mpx_obj_result **out);
MPX_API int mpx_pool_apply_obj(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *arg,
                               const mpx_obj_call_opts *opts, mpx_obj **out);
MPX_API int mpx_pool_apply_star_obj_async(mpx_pool *p, mpx_obj_star_fn fn, const mpx_obj *args,
                                          const mpx_obj *kwargs, const mpx_obj_call_opts *opts,
                                          mpx_obj_result **out);
MPX_API int mpx_pool_apply_star_obj(mpx_pool *p, mpx_obj_star_fn fn, const mpx_obj *args,
                                    const mpx_obj *kwargs, const mpx_obj_call_opts *opts,
                                    mpx_obj **out);

/*
 * mpx_pool_imap_obj / mpx_pool_imap_unordered_obj - pool.imap(f, items)
 * and imap_unordered (POOL-12, POOL-14): results one by one with
 * mpx_obj_imap_next, in input order or in completion order; chunksize
 * defaults to 1. items as for map (pickled before the call returns). The
 * _gen forms read the items from gen, lazily (an endless source is fine:
 * at most opts->lookahead items are read ahead of the consumer).
 * Return 0 and *out, MPX_EINVAL, MPX_ETYPE, MPX_ESTATE after close,
 * encoding errors, -ENOMEM.
 *
 * Threads: safe. gen is called from the pool's handler thread.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pool_imap_obj(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *items,
                              const mpx_obj_call_opts *opts, mpx_obj_imap **out);
MPX_API int mpx_pool_imap_unordered_obj(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *items,
                                        const mpx_obj_call_opts *opts, mpx_obj_imap **out);
MPX_API int mpx_pool_imap_obj_gen(mpx_pool *p, mpx_obj_fn fn, mpx_obj_gen_fn gen, void *state,
                                  const mpx_obj_call_opts *opts, mpx_obj_imap **out);
MPX_API int mpx_pool_imap_unordered_obj_gen(mpx_pool *p, mpx_obj_fn fn, mpx_obj_gen_fn gen,
                                            void *state, const mpx_obj_call_opts *opts,
                                            mpx_obj_imap **out);

/*
 * mpx_obj_result_get - AsyncResult.get(timeout) (ASYNC-02): 0 with *out
 * the value (a new reference: the list for map and starmap, the result
 * for apply; the same list each time, as Python's get returns the same
 * list, and mpx_obj_result_item reads it); the error code of the failing
 * item with the lowest index with *out its error value (a new reference);
 * MPX_ETIMEDOUT when not ready in time (*out untouched; the tasks go on:
 * Python raises TimeoutError); MPX_EINVAL; -ENOMEM.
 * mpx_obj_result_wait - wait(timeout) (ASYNC-03): 1 ready, 0 the timeout
 * ended first (Python returns None either way; here the answer comes
 * back). mpx_obj_result_ready - 1 / 0 (ASYNC-04).
 * timeout: ms, MPX_FOREVER (Python's None) no limit, <= 0 (MPX_NOWAIT)
 * only checks, as get(-1) / wait(0) in Python.
 * mpx_obj_result_successful - 1 / 0, MPX_ESTATE when not ready (ASYNC-05).
 *
 * Threads: safe; many threads may wait on one result.
 * Fork:    creating process only.
 * Signals: retries EINTR against the deadline.
 */
MPX_API int mpx_obj_result_get(mpx_obj_result *r, mpx_duration timeout, mpx_obj **out);
MPX_API int mpx_obj_result_wait(mpx_obj_result *r, mpx_duration timeout);
MPX_API int mpx_obj_result_ready(mpx_obj_result *r);
MPX_API int mpx_obj_result_successful(mpx_obj_result *r);

/*
 * mpx_obj_result_count - the number of items (1 for apply).
 * mpx_obj_result_item - item i's outcome: 0 with *out its value, or its
 * error code with *out its error value (new references); MPX_ESTATE when
 * not ready; MPX_EINVAL when i is out of range.
 * mpx_obj_result_error - the details of the failing item with the lowest
 * index (0), or MPX_EEMPTY when none failed, MPX_ESTATE when not ready:
 * code, index; for a task's error value message is Python's traceback
 * line ("ValueError: bad input"; the repr of a value that is not an
 * exception); for a worker that crashed pid, signal and backtrace, as the
 * byte pool gives them. Strings are owned by the result.
 *
 * Threads: safe once ready.
 * Fork:    creating process only.
 * Signals: not async-signal-safe.
 */
MPX_API size_t mpx_obj_result_count(mpx_obj_result *r);
MPX_API int mpx_obj_result_item(mpx_obj_result *r, size_t i, mpx_obj **out);
MPX_API int mpx_obj_result_error(mpx_obj_result *r, mpx_task_error *err);

/*
 * mpx_obj_result_cancel - cancel the items not started yet (they fail
 * with MPX_ECANCELED); returns the number cancelled.
 * mpx_obj_result_destroy - release the result; an unfinished one is
 * cancelled first. When it was made with callbacks, destroy waits for the
 * items already running (the callbacks are not called any more). NULL
 * does nothing.
 *
 * Threads: no other thread may use r at the same time (destroy); do not
 *          destroy a result from its own callback.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_result_cancel(mpx_obj_result *r);
MPX_API void mpx_obj_result_destroy(mpx_obj_result *r);

/*
 * mpx_obj_imap_next - the next result (IMapIterator.next(timeout),
 * POOL-13, ASYNC-06): 0 with *out the value; an item's error code
 * (MPX_ETASK, MPX_EWORKER ...) with *out its error value, after which the
 * following items still come; MPX_ETIMEDOUT when none came in time;
 * MPX_EEOF at the end (StopIteration); the generator's negative code
 * after the items before it. timeout: ms, MPX_FOREVER no limit, <= 0
 * (MPX_NOWAIT) only checks. *out (a new reference) is set only with 0 or
 * an item's error; index (may be NULL) gets the item's input position.
 * mpx_obj_imap_error - the details of the last item error next returned
 * (as mpx_obj_result_error; valid until the next error), or MPX_EEMPTY.
 *
 * Threads: one consumer thread at a time.
 * Fork:    creating process only.
 * Signals: retries EINTR against the deadline.
 */
MPX_API int mpx_obj_imap_next(mpx_obj_imap *it, mpx_duration timeout, mpx_obj **out,
                              size_t *index);
MPX_API int mpx_obj_imap_error(mpx_obj_imap *it, mpx_task_error *err);

/*
 * mpx_obj_imap_cancel - stop reading input and cancel unstarted items.
 * mpx_obj_imap_destroy - cancel and free (gen is not called any more once
 * it returns). NULL does nothing.
 *
 * Threads: no other thread may use it at the same time (destroy).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_imap_cancel(mpx_obj_imap *it);
MPX_API void mpx_obj_imap_destroy(mpx_obj_imap *it);

MPX_END_DECLS

#endif /* MPX_POOL_H */
