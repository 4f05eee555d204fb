/*
 * mpx/queue.h - Queue, JoinableQueue and SimpleQueue (QUEUE-01..25).
 *
 * A queue carries messages: blocks of bytes of any length, from 0 bytes to
 * many times the queue's ring (64 MiB and more). It lives in shared memory
 * (a memfd: a ring, and an overflow store that grows when the ring is
 * full), so processes started with any start method can use it once it is
 * passed to them with mpx_args_add_object (type name "queue"). Any number
 * of producers and consumers; the messages of one producer (process or
 * thread) arrive in the order it put them.
 *
 * As in Python, a Queue() without maxsize is unbounded: a put does not wait
 * for consumers, whatever the total size queued (up to the memory of the
 * machine: mpx_queue_opts.overflow_bytes). So a program may fill a queue
 * before it starts its consumers.
 *
 * Unlike Python there is no feeder thread: when mpx_queue_put returns 0 the
 * message is in the queue, so its errors are reported at the call and a
 * process may exit right after putting (no flush, no join deadlock:
 * GUIDE-07, QUEUE-15 do not apply). A process killed with SIGKILL in the
 * middle of a put or a get leaves the queue usable by the others; no
 * partial message is delivered and no message whose put returned 0 is lost
 * (QUEUE-17 does not apply). docs/queue.md describes the design.
 *
 *     mpx_queue *q;
 *     mpx_queue_create(&q, 0, NULL);           // Queue()
 *     mpx_queue_put(q, "hello", 5, MPX_FOREVER);
 *     void *m; size_t n;
 *     mpx_queue_get(q, &m, &n, MPX_FOREVER);
 *     printf("%.*s %zu\n", (int)n, (char *)m, n);  // prints: hello 5
 *     mpx_free(m);
 *     mpx_queue_destroy(q);
 *
 * Errors: a put that cannot complete in time (full queue, block=False or
 * the timeout passed) returns MPX_EFULL, a get that finds nothing in time
 * returns MPX_EEMPTY: Python's queue.Full and queue.Empty, which Python also
 * raises for both cases. mpx_queue_close concerns the caller only, as in
 * Python: puts and gets through that handle in that process return
 * MPX_ECLOSED (Python's ValueError "Queue is closed"); other processes
 * carry on. mpx_queue_shutdown ends the queue for everyone (Python 3.13's
 * queue.Queue.shutdown): puts return MPX_ESHUTDOWN, gets return what is
 * left and then MPX_ESHUTDOWN (queue.ShutDown).
 */
#ifndef MPX_QUEUE_H
#define MPX_QUEUE_H

#include "common.h"
#include "obj.h"

MPX_BEGIN_DECLS

typedef struct mpx_queue mpx_queue;
typedef struct mpx_simple_queue mpx_simple_queue;
struct mpx_context;

/* mpx_queue_opts.overflow_bytes: no overflow store (the ring bounds memory). */
#define MPX_QUEUE_NO_OVERFLOW ((int64_t)-1)

/* Options; zero means default. */
typedef struct mpx_queue_opts {
    /* Size of the shared ring in bytes: 0 means 4 MiB; rounded up to a
     * power of two between 4 KiB and 1 GiB. The ring is the fast path:
     * while it has room, a message (up to the ring size minus 96 bytes)
     * is copied into it whole. */
    size_t ring_bytes;
    /* Context the queue is made with (NULL: the default context). */
    struct mpx_context *ctx;
    /* The overflow store: where puts go when the ring is full (after a
     * short wait for a consumer, 20 ms) and messages larger than the ring,
     * so that a put never waits for a consumer (Python's unbounded
     * buffering). Memory is taken as messages arrive and given back as
     * they are got. The value is the most the store may hold at once,
     * rounded up to a power of two (at least 64 KiB, at most 16 TiB):
     * 0 means the machine's memory (RAM + swap, at least 1 GiB, at most
     * what the process can reserve as address space); past it, or when
     * memory runs out, a put returns -ENOMEM at once. Each process that
     * touches the store reserves that much address space (not memory).
     * MPX_QUEUE_NO_OVERFLOW: no store, the ring bounds the queue's memory:
     * a put into a full ring waits for room, and a message larger than the
     * ring is streamed through it while a consumer reads it (such a put
     * needs a consumer running at the same time). */
    int64_t overflow_bytes;
} mpx_queue_opts;

/*
 * mpx_queue_create - a Queue(maxsize) (QUEUE-02). maxsize <= 0 means no
 * limit: a put never waits (see overflow_bytes). maxsize > 0 counts
 * messages, as in Python: a put waits while maxsize messages are queued,
 * whatever their size. Returns 0 and *out, MPX_EINVAL, or -errno.
 *
 * Threads: safe; the queue may be used from any number of threads.
 * Fork:    a fork child uses the queue as it is.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_create(mpx_queue **out, int64_t maxsize, const mpx_queue_opts *opts);

/*
 * mpx_joinable_queue_create - a JoinableQueue(maxsize) (QUEUE-21): a Queue
 * with mpx_queue_task_done and mpx_queue_join. Returns as mpx_queue_create.
 *
 * Threads: safe.
 * Fork:    a fork child uses the queue as it is.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_joinable_queue_create(mpx_queue **out, int64_t maxsize,
                                      const mpx_queue_opts *opts);

/*
 * mpx_queue_destroy - release this process's handle (mapping and
 * descriptors). The queue lives on in other processes that hold it; its
 * memory goes away with the last one; the messages in it stay for the
 * others (it does not shut the queue down). NULL does nothing; a handle received as a target
 * argument is released by the library when the target returns, so
 * destroying it there does nothing.
 *
 * Threads: no other thread may use the handle during or after the call.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_queue_destroy(mpx_queue *q);

/*
 * mpx_queue_put - put a copy of len bytes at data (QUEUE-07). Waits at most
 * timeout while maxsize messages are queued (MPX_FOREVER: no limit;
 * MPX_NOWAIT: block=False); a queue without maxsize never makes a put wait
 * for a consumer. Returns 0 when the message is in the queue (it stays
 * there if the caller exits or is killed right after), MPX_EFULL when
 * there was no room in time, -ENOMEM when the overflow store is full or
 * memory ran out (nothing queued), MPX_ECLOSED after mpx_queue_close of
 * this handle in this process, MPX_ESHUTDOWN after mpx_queue_shutdown,
 * MPX_EINVAL for a NULL q or (data NULL and len > 0).
 * Only with MPX_QUEUE_NO_OVERFLOW: a put waits for ring room, and a
 * message that does not fit in the ring (more than its size minus 96
 * bytes) is streamed to a consumer while it reads, so it needs a consumer
 * running at the same time; such a put returns when a consumer has
 * received the whole message, and once a consumer is receiving it, the
 * put continues past its timeout as long as the consumer makes progress.
 *
 * Threads: safe; puts from one thread arrive in order.
 * Fork:    safe.
 * Signals: not async-signal-safe; a signal handler that runs during the
 *          wait does not end it early.
 */
MPX_API int mpx_queue_put(mpx_queue *q, const void *data, size_t len, mpx_duration timeout);

/*
 * mpx_queue_put_nowait - mpx_queue_put(q, data, len, MPX_NOWAIT) (QUEUE-08).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_put_nowait(mpx_queue *q, const void *data, size_t len);

/*
 * mpx_queue_get - remove the oldest message and return a malloc'd copy in
 * *data (never NULL on success, even for 0 bytes; free it with mpx_free)
 * and its length in *len (QUEUE-09). Waits at most timeout. Returns 0,
 * MPX_EEMPTY when nothing came in time, MPX_ECLOSED after mpx_queue_close
 * of this handle in this process, MPX_ESHUTDOWN when the queue is shut
 * down and empty (at once after an immediate shutdown), MPX_EINVAL,
 * -ENOMEM (the message stays queued).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_get(mpx_queue *q, void **data, size_t *len, mpx_duration timeout);

/*
 * mpx_queue_get_nowait - mpx_queue_get(q, data, len, MPX_NOWAIT) (QUEUE-10).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_get_nowait(mpx_queue *q, void **data, size_t *len);

/*
 * mpx_queue_get_into - as mpx_queue_get, into the caller's buffer of cap
 * bytes; *len receives the message's length. When the message is longer
 * than cap, returns MPX_ETOOSHORT with *len set to the length needed and
 * the message stays at the head of the queue.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_get_into(mpx_queue *q, void *buf, size_t cap, size_t *len,
                               mpx_duration timeout);

/*
 * mpx_queue_qsize - the number of messages in the queue (QUEUE-05), >= 0,
 * or MPX_EINVAL. Exact when nothing runs concurrently, approximate
 * otherwise. Works on every platform (no sem_getvalue).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_queue_qsize(mpx_queue *q);

/*
 * mpx_queue_empty / mpx_queue_full - 1 or 0 (QUEUE-06), or MPX_EINVAL.
 * full is 1 when maxsize messages are queued (never without maxsize, as
 * in Python; with MPX_QUEUE_NO_OVERFLOW also when the ring has no room for
 * even an empty message). Approximate under concurrency, as in Python.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_queue_empty(mpx_queue *q);
MPX_API int mpx_queue_full(mpx_queue *q);

/*
 * mpx_queue_maxsize - the maxsize the queue was made with (<= 0: none).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int64_t mpx_queue_maxsize(mpx_queue *q);

/*
 * mpx_queue_close - Python's close() (QUEUE-13): this process will use
 * this handle no more. Later puts and gets through it in this process
 * return MPX_ECLOSED (Python's ValueError "Queue is closed"), and so do
 * calls of other threads waiting in it; other processes, and fork children
 * started afterwards, are not affected (in Python a child's queue is open
 * too). Nothing is flushed or lost: every put that returned 0 is in the
 * queue. The usual end of a producer, close then join_thread, is fine
 * while other producers and consumers go on. Closing twice is fine.
 * Returns 0 or MPX_EINVAL (-ENOMEM in a thread "process"). The handle
 * stays allocated: free it with mpx_queue_destroy. To end the queue for
 * everyone, see mpx_queue_shutdown. The thread context
 * (docs/thread-backend.md): a thread "process" is a process of its own
 * here too: its close concerns it only, though it shares the handle, and
 * a close by the process (any other thread) does not concern it.
 *
 * Threads: safe.
 * Fork:    a fork child's copy of the handle is open.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_close(mpx_queue *q);

/*
 * mpx_queue_is_closed - 1 when this handle was closed in this process,
 * else 0; MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_queue_is_closed(mpx_queue *q);

/*
 * mpx_queue_shutdown - shut the queue down for every process, as Python
 * 3.13's queue.Queue.shutdown(immediate) (multiprocessing queues have no
 * such call; a Python program puts one sentinel per consumer instead).
 * Puts return MPX_ESHUTDOWN, and so do puts waiting for room. With
 * immediate 0, gets return the messages that are left and then
 * MPX_ESHUTDOWN instead of waiting (waiting gets wake up). With immediate
 * nonzero, the messages left are dropped (their memory is returned, and a
 * JoinableQueue counts them as done, so mpx_queue_join returns once the
 * messages already got are done) and every get returns MPX_ESHUTDOWN.
 * Shutting down twice is fine (immediate may follow a plain shutdown).
 * Returns 0 or MPX_EINVAL. With immediate set it waits for the put and
 * the get in progress, if any.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_shutdown(mpx_queue *q, int immediate);

/*
 * mpx_queue_is_shutdown - 1 after mpx_queue_shutdown (by any process),
 * else 0; MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_queue_is_shutdown(mpx_queue *q);

/*
 * mpx_queue_join_thread - Python's join_thread (QUEUE-14). There is no
 * feeder thread, so there is nothing to wait for: returns 0 at once after
 * mpx_queue_close of this handle in this process, MPX_ESTATE before it
 * (Python asserts the queue is closed), MPX_EINVAL for a bad handle.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_queue_join_thread(mpx_queue *q);

/*
 * mpx_queue_cancel_join_thread - Python's cancel_join_thread (QUEUE-16).
 * Nothing is ever buffered in the process, so a process may always exit
 * without waiting and no data can be lost: does nothing, returns 0 (or
 * MPX_EINVAL for a bad handle).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_queue_cancel_join_thread(mpx_queue *q);

/*
 * mpx_queue_task_done - JoinableQueue.task_done (QUEUE-22): mark one
 * message taken with get as processed. Returns 0, MPX_ESTATE when called
 * more times than messages were put (Python's ValueError), MPX_ENOTSUP on a
 * queue that is not joinable, MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_task_done(mpx_queue *q);

/*
 * mpx_queue_join - JoinableQueue.join (QUEUE-23): wait until every message
 * ever put has been marked with task_done, at most timeout (Python has no
 * timeout: pass MPX_FOREVER). Returns 1 when every message is done, 0
 * when the timeout ended first, MPX_ENOTSUP on a queue that is not
 * joinable, MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_join(mpx_queue *q, mpx_duration timeout);

/*
 * mpx_queue_unfinished - the number of messages put and not yet marked
 * with task_done (JoinableQueue), >= 0, or MPX_ENOTSUP / MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_queue_unfinished(mpx_queue *q);

/* ---- SimpleQueue (QUEUE-19, QUEUE-20) ----------------------------------- */

/*
 * mpx_simple_queue_create - a SimpleQueue: no maxsize, no timeouts, a put
 * never waits; the same shared memory as Queue (opts as there, may be
 * NULL). Pass it to children like a Queue (type name "queue").
 *
 * Threads: safe.
 * Fork:    a fork child uses the queue as it is.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_simple_queue_create(mpx_simple_queue **out, const mpx_queue_opts *opts);

/*
 * mpx_simple_queue_destroy - release this process's handle (as
 * mpx_queue_destroy). NULL does nothing.
 *
 * Threads: no other thread may use the handle during or after the call.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_simple_queue_destroy(mpx_simple_queue *q);

/*
 * mpx_simple_queue_put - put a copy of len bytes (as mpx_queue_put with
 * MPX_FOREVER). Returns 0, -ENOMEM, MPX_ECLOSED (this handle closed in
 * this process), MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_simple_queue_put(mpx_simple_queue *q, const void *data, size_t len);

/*
 * mpx_simple_queue_get / _get_into - wait for a message and return it as
 * mpx_queue_get / mpx_queue_get_into with MPX_FOREVER. MPX_ECLOSED after
 * mpx_simple_queue_close of this handle in this process.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_simple_queue_get(mpx_simple_queue *q, void **data, size_t *len);
MPX_API int mpx_simple_queue_get_into(mpx_simple_queue *q, void *buf, size_t cap, size_t *len);

/*
 * mpx_simple_queue_empty - 1 when empty, 0 otherwise, or MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_simple_queue_empty(mpx_simple_queue *q);

/*
 * mpx_simple_queue_close - Python 3.9's SimpleQueue.close: this handle's
 * reading and writing ends are closed in this process: later puts and
 * gets through it here return MPX_ECLOSED; other processes carry on.
 * Closing twice is fine. Returns 0 or MPX_EINVAL. The handle stays
 * allocated until mpx_simple_queue_destroy.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_simple_queue_close(mpx_simple_queue *q);

/* ---- Values (mpx/obj.h): Python's q.put(obj) / q.get() ----------------
 * A value travels as its pickle (protocol 4, the bytes CPython's Queue
 * puts for the same object) in one message, so these calls have exactly
 * the blocking, timeout and error behaviour of the byte calls they are
 * built on; the byte calls stay the zero-overhead path. A message put with
 * the byte calls is read back by the _obj gets only if it is a pickle; a
 * message put by an _obj call read with the byte calls gives its pickle. */

/*
 * mpx_queue_put_obj - Python's q.put(v, block, timeout) (QUEUE-07): put
 * the pickle of v as one message; mpx_queue_put_obj_nowait is
 * q.put_nowait(v) (QUEUE-08). The value is encoded before anything is
 * queued: a value the pickler refuses (MPX_EDEPTH past MPX_OBJ_MAX_DEPTH)
 * fails without touching the queue, and the caller may change or release
 * v as soon as the call returns. timeout as mpx_queue_put's: ms,
 * MPX_FOREVER (block=True, timeout=None), <= 0 (MPX_NOWAIT) only tries.
 * Returns 0, MPX_EINVAL (q or v NULL), the encoder's errors (MPX_EDEPTH,
 * MPX_ETYPE, -ENOMEM), and whatever mpx_queue_put returns (MPX_EFULL,
 * MPX_ECLOSED, MPX_ESHUTDOWN ...).
 *
 * Threads: safe; v must not be changed by another thread during the call.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_put_obj(mpx_queue *q, const mpx_obj *v, mpx_duration timeout);
MPX_API int mpx_queue_put_obj_nowait(mpx_queue *q, const mpx_obj *v);

/*
 * mpx_queue_get_obj - Python's q.get(block, timeout) (QUEUE-09): take the
 * oldest message and unpickle it; *out gets a new reference.
 * mpx_queue_get_obj_nowait is q.get_nowait() (QUEUE-10). A message that is
 * not a pickle (put with the byte calls) is consumed and reported as
 * MPX_EPROTO (Python's UnpicklingError); the next get reads the next
 * message. Decoding uses mpx_obj_loads's default limits. timeout as
 * mpx_queue_get's (<= 0 only tries). Returns 0, MPX_EINVAL, whatever
 * mpx_queue_get returns (MPX_EEMPTY, MPX_ECLOSED, MPX_ESHUTDOWN ...), and
 * the decoder's errors (MPX_EPROTO, MPX_ENOTSUP, MPX_ETOOBIG, MPX_EDEPTH,
 * -ENOMEM); *out is untouched on failure.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_queue_get_obj(mpx_queue *q, mpx_obj **out, mpx_duration timeout);
MPX_API int mpx_queue_get_obj_nowait(mpx_queue *q, mpx_obj **out);

/*
 * mpx_simple_queue_put_obj / mpx_simple_queue_get_obj - SimpleQueue's
 * put(v) and get() of values (QUEUE-19, QUEUE-20), as the Queue calls
 * above on mpx_simple_queue_put / mpx_simple_queue_get.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_simple_queue_put_obj(mpx_simple_queue *q, const mpx_obj *v);
MPX_API int mpx_simple_queue_get_obj(mpx_simple_queue *q, mpx_obj **out);

MPX_END_DECLS

#endif /* MPX_QUEUE_H */
