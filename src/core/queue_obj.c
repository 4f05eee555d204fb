/*
 * queue_obj.c - values through queues: Python's q.put(obj) / q.get() for
 * Queue, JoinableQueue and SimpleQueue (QUEUE-07..10, QUEUE-19/20, #15).
 * Layered on the public byte calls of queue.c: a value travels as its
 * pickle (protocol 4, as CPython's Queue writes it) in one message, so
 * timeouts, blocking, closing and crash safety are the byte queue's.
 */
#include "core/internal.h"
#include "mpx/obj.h"
#include "mpx/queue.h"

/* The pickle of v in a block to free with mpx_free. */
static int encode(const mpx_obj *v, void **buf, size_t *len)
{
    if (!v)
        return MPX_EINVAL;
    return mpx_obj_dumps(v, MPX_PICKLE_DEFAULT_PROTOCOL, buf, len, NULL, NULL);
}

/* Unpickle a message taken from a queue (data is consumed). */
static int decode(int rc, void *data, size_t len, mpx_obj **out)
{
    if (rc)
        return rc;
    return mpx_obj_loads_take(out, data, len, NULL, NULL);
}

MPX_API int mpx_queue_put_obj(mpx_queue *q, const mpx_obj *v, mpx_duration timeout)
{
    if (!q)
        return MPX_EINVAL;
    void *buf;
    size_t len;
    int rc = encode(v, &buf, &len);
    if (rc)
        return rc;
    rc = mpx_queue_put(q, buf, len, timeout);
    mpx_free(buf);
    return rc;
}

MPX_API int mpx_queue_put_obj_nowait(mpx_queue *q, const mpx_obj *v)
{
    return mpx_queue_put_obj(q, v, MPX_NOWAIT);
}

MPX_API int mpx_queue_get_obj(mpx_queue *q, mpx_obj **out, mpx_duration timeout)
{
    if (!q || !out)
        return MPX_EINVAL;
    void *data = NULL;
    size_t len = 0;
    int rc = mpx_queue_get(q, &data, &len, timeout);
    return decode(rc, data, len, out);
}

MPX_API int mpx_queue_get_obj_nowait(mpx_queue *q, mpx_obj **out)
{
    return mpx_queue_get_obj(q, out, MPX_NOWAIT);
}

MPX_API int mpx_simple_queue_put_obj(mpx_simple_queue *q, const mpx_obj *v)
{
    if (!q)
        return MPX_EINVAL;
    void *buf;
    size_t len;
    int rc = encode(v, &buf, &len);
    if (rc)
        return rc;
    rc = mpx_simple_queue_put(q, buf, len);
    mpx_free(buf);
    return rc;
}

MPX_API int mpx_simple_queue_get_obj(mpx_simple_queue *q, mpx_obj **out)
{
    if (!q || !out)
        return MPX_EINVAL;
    void *data = NULL;
    size_t len = 0;
    int rc = mpx_simple_queue_get(q, &data, &len);
    return decode(rc, data, len, out);
}
