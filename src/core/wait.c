/*
 * wait.c - multiprocessing.connection.wait (LIS-15..17): poll() over any
 * number of connections, listeners, raw descriptors, process sentinels and
 * mpx objects whose type has a wait_fd hook (queues ...). The pollfd array
 * is sized to the list (no count limit); EINTR is retried against the
 * deadline.
 */
#include "core/conn_internal.h"

#include <poll.h>
#include <string.h>

/* The descriptor to poll for an entry; -1 for an ignored entry. */
static int entry_fd(const mpx_waitable *w, const mpx__objtype **type)
{
    *type = NULL;
    if (!w->object)
        return w->fd < 0 ? -1 : w->fd;
    mpx__obj *o = mpx__obj_of(w->object);
    if (o) {
        if (!o->type->wait_fd)
            return MPX_EINVAL;
        *type = o->type;
        int fd = o->type->wait_fd(w->object);
        return fd < 0 ? (fd == -1 ? MPX_ECLOSED : fd) : fd;
    }
    /* Not a shareable object: an mpx_process (its sentinel)? */
    int fd = mpx_process_sentinel((mpx_process *)w->object);
    if (fd == MPX_ESTATE)
        return MPX_EINVAL; /* not started: nothing to wait for */
    return fd;
}

MPX_API int mpx_wait(mpx_waitable *items, size_t n, mpx_duration timeout)
{
    if (!items && n)
        return MPX_EINVAL;
    mpx__deadline d = mpx__deadline_from(timeout);
    struct pollfd one, *pf = &one;
    const mpx__objtype **types = NULL;
    const mpx__objtype *type1;
    if (n > 1) {
        pf = malloc(n * sizeof *pf);
        types = malloc(n * sizeof *types);
        if (!pf || !types) {
            free(pf);
            free(types);
            return -ENOMEM;
        }
    } else
        types = &type1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        items[i].ready = 0;
        int fd = entry_fd(&items[i], &types[i]);
        if (fd < -1) {
            rc = fd;
            goto out;
        }
        pf[i].fd = fd;
        pf[i].events = POLLIN;
        pf[i].revents = 0;
    }
    for (;;) {
        /* Objects may be ready without their descriptor being readable
         * (a connection holding a consumed header, ...). */
        int pre = 0;
        for (size_t i = 0; i < n; i++)
            if (types[i] && types[i]->ready && types[i]->ready(items[i].object))
                items[i].ready = 1, pre++;
        int r = poll(n ? pf : NULL, (nfds_t)n, pre ? 0 : mpx__deadline_poll_ms(d));
        if (r < 0) {
            if (errno != EINTR) {
                rc = -errno;
                goto out;
            }
            if (!pre && !mpx__deadline_expired(d))
                continue;
            r = 0;
        }
        int count = 0;
        for (size_t i = 0; i < n; i++) {
            if (pf[i].fd < 0)
                continue;
            if (pf[i].revents & POLLNVAL) {
                rc = -EBADF;
                goto out;
            }
            if (!items[i].ready && (pf[i].revents & (POLLIN | POLLHUP | POLLERR | POLLPRI))) {
                if (!types[i] || !types[i]->ready || types[i]->ready(items[i].object))
                    items[i].ready = 1;
            }
            count += items[i].ready;
        }
        if (count || mpx__deadline_expired(d)) {
            rc = count;
            goto out;
        }
    }
out:
    if (n > 1) {
        free(pf);
        free(types);
    }
    return rc;
}

MPX_API int mpx_wait_objects(void *const *objects, size_t n, mpx_duration timeout, void **ready)
{
    if ((!objects || !ready) && n)
        return MPX_EINVAL;
    mpx_waitable one, *items = &one;
    if (n > 1 && !(items = calloc(n, sizeof *items)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!objects[i]) {
            if (n > 1)
                free(items);
            return MPX_EINVAL;
        }
        items[i].object = objects[i];
        items[i].fd = -1;
        items[i].ready = 0;
    }
    int rc = mpx_wait(items, n, timeout);
    if (rc > 0) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (items[i].ready)
                ready[k++] = objects[i];
    }
    if (n > 1)
        free(items);
    return rc;
}
