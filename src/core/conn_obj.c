/*
 * conn_obj.c - values over connections: Python's conn.send(obj) and
 * conn.recv() (CONN-03..05). A value travels as its pickle (protocol 4,
 * what CPython's ForkingPickler.dumps writes by default) in one message.
 */
#include "core/conn_internal.h"

#include <stdio.h>

MPX_API int mpx_connection_send_obj(mpx_connection *c, const mpx_obj *obj)
{
    if (!c || c->magic != MPX__CONN_MAGIC || !obj)
        return MPX_EINVAL;
    if (c->closed)
        return MPX_ECLOSED;
    if (!c->writable)
        return MPX_ESTATE;
    void *buf;
    size_t len;
    int rc = mpx_obj_dumps(obj, MPX_PICKLE_DEFAULT_PROTOCOL, &buf, &len, NULL, NULL);
    if (rc)
        return rc;
    rc = mpx__conn_send(c, buf, len, MPX__NEVER);
    mpx_free(buf);
    return rc;
}

MPX_API int mpx_connection_recv_obj(mpx_connection *c, mpx_obj **out,
                                    const mpx_recv_obj_opts *opts, mpx_obj_error *err)
{
    if (!out)
        return MPX_EINVAL;
    void *msg;
    size_t len;
    size_t max = opts && opts->maxlength ? opts->maxlength : SIZE_MAX;
    int rc = mpx_connection_recv_bytes_max(c, &msg, &len, max);
    if (rc) {
        if (err) {
            err->code = rc;
            err->offset = MPX_OBJ_NO_OFFSET;
            snprintf(err->text, sizeof err->text, "%s", mpx_strerror(rc));
        }
        return rc;
    }
    /* loads_take owns msg from here, also on failure. */
    return mpx_obj_loads_take(out, msg, len, opts ? &opts->load : NULL, err);
}
