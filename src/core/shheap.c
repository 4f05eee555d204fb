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

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SLAB_ALIGN 128
#define SLAB_MAGIC 0x736c6162u /* "slab" */

/* First block of a slab. */
typedef struct slab_hdr {
    _Atomic uint64_t next; /* bump pointer, shared by every process */
    uint32_t magic;
} slab_hdr;

MPX__FORKHOT static pthread_mutex_t heap_mu = PTHREAD_MUTEX_INITIALIZER;
static mpx__seg *slab_cur; /* not a reference: cleared when the slab dies */

static void heap_prepare(void)
{
    pthread_mutex_lock(&heap_mu);
}

static void heap_release(void)
{
    pthread_mutex_unlock(&heap_mu);
}

__attribute__((constructor)) static void heap_init(void)
{
    pthread_atfork(heap_prepare, heap_release, heap_release);
}

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
    if (s->slab) {
        pthread_mutex_lock(&heap_mu);
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
        pthread_mutex_unlock(&heap_mu);
        return s;
    }
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void mpx__seg_unref(mpx__seg *s)
{
    if (!s)
        return;
    if (s->slab) {
        pthread_mutex_lock(&heap_mu);
        bool last = atomic_fetch_sub_explicit(&s->refs, 1, memory_order_relaxed) == 1;
        if (last && slab_cur == s)
            slab_cur = NULL;
        pthread_mutex_unlock(&heap_mu);
        if (!last)
            return;
    } else if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    mpx__shmap_destroy(&s->map);
    free(s);
}

int mpx__shalloc(size_t size, const char *name, mpx__seg **seg, size_t *off)
{
    if (size == 0)
        size = 1;
    if (size > MPX__SLAB_MAX) {
        *off = 0;
        return mpx__seg_create(seg, name, size);
    }
    size = (size + SLAB_ALIGN - 1) & ~(size_t)(SLAB_ALIGN - 1);
    pthread_mutex_lock(&heap_mu);
    for (;;) {
        if (!slab_cur) {
            mpx__seg *s;
            int rc = mpx__seg_create(&s, "mpx-heap", MPX__SLAB_SIZE);
            if (rc) {
                pthread_mutex_unlock(&heap_mu);
                return rc;
            }
            slab_hdr *h = s->map.addr;
            atomic_init(&h->next, SLAB_ALIGN);
            h->magic = SLAB_MAGIC;
            s->slab = true;
            atomic_store_explicit(&s->refs, 0, memory_order_relaxed); /* no object yet */
            slab_cur = s;
        }
        slab_hdr *h = slab_cur->map.addr;
        uint64_t o = atomic_fetch_add_explicit(&h->next, size, memory_order_relaxed);
        if (o <= slab_cur->map.size && slab_cur->map.size - o >= size) {
            atomic_fetch_add_explicit(&slab_cur->refs, 1, memory_order_relaxed);
            *seg = slab_cur;
            *off = (size_t)o;
            pthread_mutex_unlock(&heap_mu);
            return 0;
        }
        /* full: forget it; it dies with its last object (or now if none) */
        mpx__seg *full = slab_cur;
        slab_cur = NULL;
        if (atomic_load_explicit(&full->refs, memory_order_relaxed) == 0) {
            mpx__shmap_destroy(&full->map);
            free(full);
        }
    }
}

int mpx__seg_export_at(mpx__seg *s, size_t off, mpx__buf *data, mpx__fdlist *fds)
{
    int rc = mpx__buf_put_u64(data, (uint64_t)off);
    if (!rc)
        rc = mpx__seg_export(s, data, fds);
    return rc;
}

int mpx__seg_import_at(mpx__rd *rd, mpx__fdcur *cur, size_t need, mpx__seg **out, size_t *off)
{
    uint64_t o;
    int rc = mpx__rd_u64(rd, &o);
    mpx__seg *s = NULL;
    if (!rc)
        rc = mpx__seg_import(rd, cur, &s);
    if (rc)
        return rc;
    if (o % 8 || o > s->map.size || s->map.size - o < need) {
        mpx__seg_unref(s);
        return MPX_EPROTO;
    }
    *out = s;
    *off = (size_t)o;
    return 0;
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
    *out = NULL;
    int rc = mpx__rd_u8(rd, &present);
    if (rc || !present)
        return rc;
    return present == 1 ? mpx__obj_import_nested_body(rd, cur, out) : MPX_EPROTO;
}

int mpx__obj_import_nested_body(mpx__rd *rd, mpx__fdcur *cur, void **out)
{
    const void *name, *data;
    size_t nlen, dlen;
    uint32_t nfds;
    char tname[64];
    *out = NULL;
    int rc = mpx__rd_bytes(rd, &name, &nlen);
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

char *mpx__buf_to_str(mpx__buf *b, int rc)
{
    if (rc || mpx__buf_put_u8(b, 0)) {
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
