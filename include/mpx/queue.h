/*
 * mpx/queue.h - Queue, JoinableQueue and SimpleQueue (QUEUE-01..25).
 *
 * A queue carries messages: blocks of bytes of any length, from 0 bytes to
 * many times the queue's ring (64 MiB and more). It lives in a shared
 * memory ring (memfd), so processes started with any start method can use
 * it once it is passed to them with mpx_args_add_object (type name
 * "queue"). Any number of producers and consumers; the messages of one
 * producer (process or thread) arrive in the order it put them.
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
 * raises for both cases. After mpx_queue_close, puts return MPX_ECLOSED and
 * gets return what is left, then MPX_ECLOSED.
 */
#ifndef MPX_QUEUE_H
#define MPX_QUEUE_H

#include "common.h"

MPX_BEGIN_DECLS

typedef struct mpx_queue mpx_queue;
typedef struct mpx_simple_queue mpx_simple_queue;
struct mpx_context;

/* Options; zero means default. */
typedef struct mpx_queue_opts {
    /* Size of the shared ring in bytes: 0 means 4 MiB; rounded up to a
     * power of two between 4 KiB and 1 GiB. A message that fits (up to
     * the ring size minus 96 bytes) is copied whole; a larger one is
     * streamed through the ring in chunks while a consumer reads it.
     * The ring bounds the queue's memory, whatever the producers do. */
    size_t ring_bytes;
    /* Context the queue is made with (NULL: the default context). */
    struct mpx_context *ctx;
} mpx_queue_opts;

/*
 * mpx_queue_create - a Queue(maxsize) (QUEUE-02). maxsize <= 0 means no
 * limit on the number of items (the ring still bounds memory: a put waits
 * when the ring is full). Returns 0 and *out, MPX_EINVAL, or -errno.
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
 * memory goes away with the last one. Does not close the queue (see
 * mpx_queue_close). NULL does nothing; a handle received as a target
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
 * timeout for room (MPX_FOREVER: no limit; MPX_NOWAIT: block=False).
 * Returns 0 when the message is in the queue, MPX_EFULL when there was no
 * room in time, MPX_ECLOSED after mpx_queue_close, MPX_EINVAL for a NULL
 * q or (data NULL and len > 0). A message that does not fit in the ring
 * (more than its size minus 96 bytes: 4 MiB by default) is streamed to a
 * consumer while it reads, so it needs a consumer running at the same time
 * (another process or thread); such a put returns when a consumer has
 * received the whole message, and once a consumer is receiving it, the put
 * continues past its timeout as long as the consumer makes progress.
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
 * MPX_EEMPTY when nothing came in time, MPX_ECLOSED when the queue is
 * closed and empty, MPX_EINVAL, -ENOMEM (the message stays queued).
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
 * full is 1 when maxsize messages are queued or the ring has no room for
 * even an empty message. Approximate under concurrency, as in Python.
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
 * mpx_queue_close - close the queue for every process (QUEUE-13): later
 * puts return MPX_ECLOSED, waiting puts wake up with MPX_ECLOSED, gets
 * return the messages that are left and then MPX_ECLOSED instead of
 * waiting. There is no data to flush: every put that returned 0 is already
 * in the queue. Closing twice is fine. Returns 0 or MPX_EINVAL. (Python's
 * close() only concerns the calling process; this one is shared, like
 * closing a channel, so consumers learn that no more data will come.)
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe (may write an eventfd: in practice safe).
 */
MPX_API int mpx_queue_close(mpx_queue *q);

/*
 * mpx_queue_is_closed - 1 when the queue has been closed, else 0.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_queue_is_closed(mpx_queue *q);

/*
 * mpx_queue_join_thread - Python's join_thread (QUEUE-14). There is no
 * feeder thread, so there is nothing to wait for: returns 0 at once after
 * mpx_queue_close, MPX_ESTATE before it (Python asserts the queue is
 * closed), MPX_EINVAL for a bad handle.
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
 * timeout: pass MPX_FOREVER). Returns 0, MPX_ETIMEDOUT, MPX_ENOTSUP on a
 * queue that is not joinable, MPX_EINVAL.
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
 * mpx_simple_queue_create - a SimpleQueue: no maxsize, no timeouts; the
 * same shared ring as Queue (opts as there, may be NULL). Pass it to
 * children like a Queue (type name "queue").
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
 * mpx_simple_queue_put - put a copy of len bytes; waits while the ring is
 * full. Returns 0, MPX_ECLOSED, MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_simple_queue_put(mpx_simple_queue *q, const void *data, size_t len);

/*
 * mpx_simple_queue_get / _get_into - wait for a message and return it as
 * mpx_queue_get / mpx_queue_get_into with MPX_FOREVER. MPX_ECLOSED once
 * the queue is closed and empty.
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
 * mpx_simple_queue_close - close the queue as mpx_queue_close does (for
 * every process: later puts fail with MPX_ECLOSED, gets drain what is
 * left). Python 3.9's SimpleQueue.close only releases the caller's
 * resources: in mpx that is mpx_simple_queue_destroy.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_simple_queue_close(mpx_simple_queue *q);

MPX_END_DECLS

#endif /* MPX_QUEUE_H */
