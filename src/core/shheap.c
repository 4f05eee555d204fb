/*
 * shheap.c - the shared heap for small objects: refcounted memfd segments
 * (one per object, or one per group of objects made together), their
 * export to children that do not share memory, and nested object export.
 *
 * Why one mapping per object and not a sub-allocated arena: a child that
 * received an object keeps its own mapping of it, so the creator may
 * destroy its handle at any time without the memory being reused under
 * the child; and the memory is returned to the system when the last
 * process that maps it is gone, with nothing named in /dev/shm.
 */
#include "core/sync_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mpx__seg_create(mpx__seg **out, const char *name, size_t size)
{
    mpx__seg *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int rc = mpx__shmap_create(&s->map, name, size);
    if (rc) {
        free(s);
        return rc;
    }
    atomic_init(&s->refs, 1);
    *out = s;
    return 0;
}

mpx__seg *mpx__seg_ref(mpx__seg *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void mpx__seg_unref(mpx__seg *s)
{
    if (!s)
        return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    mpx__shmap_destroy(&s->map);
    free(s);
}

int mpx__seg_export(mpx__seg *s, mpx__buf *data, mpx__fdlist *fds)
{
    int rc = mpx__buf_put_u64(data, (uint64_t)s->map.size);
    if (!rc)
        rc = mpx__fdlist_add(fds, s->map.fd);
    return rc;
}

int mpx__fdcur_take(mpx__fdcur *c, int *fd)
{
    if (c->next >= c->n)
        return MPX_EPROTO;
    *fd = c->fds[c->next++];
    return 0;
}

void mpx__fdcur_close_rest(mpx__fdcur *c)
{
    while (c->next < c->n)
        mpx__close(c->fds[c->next++]);
}

int mpx__seg_import(mpx__rd *rd, mpx__fdcur *cur, mpx__seg **out)
{
    uint64_t size;
    int fd;
    int rc = mpx__rd_u64(rd, &size);
    if (!rc)
        rc = mpx__fdcur_take(cur, &fd);
    if (rc)
        return rc;
    if (size == 0 || size > ((uint64_t)1 << 46)) {
        mpx__close(fd);
        return MPX_EPROTO;
    }
    mpx__seg *s = calloc(1, sizeof *s);
    if (!s) {
        mpx__close(fd);
        return -ENOMEM;
    }
    rc = mpx__shmap_attach(&s->map, fd, (size_t)size); /* closes fd on failure */
    if (rc) {
        free(s);
        return rc;
    }
    atomic_init(&s->refs, 1);
    *out = s;
    return 0;
}

int mpx__obj_export_nested(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx__obj *o = obj ? mpx__obj_of(obj) : NULL;
    if (!o)
        return mpx__buf_put_u8(data, 0);
    if (!o->type->export_)
        return MPX_ENOTSUP;
    mpx__buf inner;
    mpx__buf_init(&inner);
    int first = fds->n;
    int rc = mpx__buf_put_u8(data, 1);
    if (!rc)
        rc = o->type->export_(obj, &inner, fds);
    if (!rc)
        rc = mpx__buf_put_bytes(data, o->type->name, strlen(o->type->name));
    if (!rc)
        rc = mpx__buf_put_u32(data, (uint32_t)(fds->n - first));
    if (!rc)
        rc = mpx__buf_put_bytes(data, inner.data, inner.len);
    mpx__buf_free(&inner);
    return rc;
}

int mpx__obj_import_nested(mpx__rd *rd, mpx__fdcur *cur, void **out)
{
    uint8_t present;
    const void *name, *data;
    size_t nlen, dlen;
    uint32_t nfds;
    char tname[64];
    *out = NULL;
    int rc = mpx__rd_u8(rd, &present);
    if (rc || !present)
        return rc;
    rc = mpx__rd_bytes(rd, &name, &nlen);
    if (!rc)
        rc = mpx__rd_u32(rd, &nfds);
    if (!rc)
        rc = mpx__rd_bytes(rd, &data, &dlen);
    if (rc)
        return rc;
    if (nlen >= sizeof tname || nfds > (uint32_t)(cur->n - cur->next))
        return MPX_EPROTO;
    memcpy(tname, name, nlen);
    tname[nlen] = 0;
    const mpx__objtype *t = mpx__objtype_find(tname);
    if (!t || !t->import_)
        return MPX_ENOTSUP;
    const int *fds = cur->fds + cur->next;
    cur->next += (int)nfds; /* the import owns them from here on */
    mpx__rd r = {data, dlen};
    return t->import_(&r, fds, (int)nfds, out);
}

void mpx__obj_drop_nested(void *obj)
{
    mpx__obj *o = obj ? mpx__obj_of(obj) : NULL;
    if (o && o->type->drop)
        o->type->drop(obj);
}

char *mpx__buf_to_str(mpx__buf *b)
{
    if (mpx__buf_put_u8(b, 0)) {
        mpx__buf_free(b);
        return NULL;
    }
    return (char *)b->data; /* malloc'ed by the buffer: mpx_free frees it */
}

int mpx__buf_printf(mpx__buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MPX_EINVAL;
    if ((size_t)n < sizeof tmp)
        return mpx__buf_append(b, tmp, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = mpx__buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}
