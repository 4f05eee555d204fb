/* args.c - typed argument lists (PROC-03) and their serialisation. */
#include "core/args.h"
#include "core/context_internal.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

MPX_API int mpx_args_create(mpx_args **out)
{
    if (!out)
        return MPX_EINVAL;
    mpx_args *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    *out = a;
    return 0;
}

MPX_API void mpx_args_destroy(mpx_args *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        mpx__arg *x = &a->v[i];
        if (x->type == MPX_ARG_STR || x->type == MPX_ARG_BYTES)
            free(x->v.b.p);
        else if (x->type == MPX_ARG_FD)
            mpx__close(x->v.fd);
        else if (x->type == MPX_ARG_OBJECT && x->imported) {
            mpx__obj *o = mpx__obj_of(x->v.obj);
            if (o && o->type->drop)
                o->type->drop(x->v.obj);
        }
    }
    free(a->v);
    free(a);
}

static mpx__arg *push(mpx_args *a)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        mpx__arg *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return NULL;
        a->v = v;
        a->cap = cap;
    }
    mpx__arg *x = &a->v[a->n];
    memset(x, 0, sizeof *x);
    return x;
}

MPX_API int mpx_args_add_int(mpx_args *a, int64_t v)
{
    if (!a)
        return MPX_EINVAL;
    mpx__arg *x = push(a);
    if (!x)
        return -ENOMEM;
    x->type = MPX_ARG_INT;
    x->v.i = v;
    a->n++;
    return 0;
}

MPX_API int mpx_args_add_double(mpx_args *a, double v)
{
    if (!a)
        return MPX_EINVAL;
    mpx__arg *x = push(a);
    if (!x)
        return -ENOMEM;
    x->type = MPX_ARG_DOUBLE;
    x->v.d = v;
    a->n++;
    return 0;
}

static int add_block(mpx_args *a, int type, const void *p, size_t len)
{
    mpx__arg *x = push(a);
    if (!x)
        return -ENOMEM;
    void *c = malloc(len + 1);
    if (!c)
        return -ENOMEM;
    if (len)
        memcpy(c, p, len);
    ((char *)c)[len] = 0;
    x->type = type;
    x->v.b.p = c;
    x->v.b.len = len;
    a->n++;
    return 0;
}

MPX_API int mpx_args_add_str(mpx_args *a, const char *s)
{
    if (!a || !s)
        return MPX_EINVAL;
    return add_block(a, MPX_ARG_STR, s, strlen(s));
}

MPX_API int mpx_args_add_bytes(mpx_args *a, const void *p, size_t len)
{
    if (!a || (!p && len))
        return MPX_EINVAL;
    return add_block(a, MPX_ARG_BYTES, p, len);
}

static int add_fd_owned(mpx_args *a, int fd)
{
    mpx__arg *x = push(a);
    if (!x)
        return -ENOMEM;
    x->type = MPX_ARG_FD;
    x->v.fd = fd;
    a->n++;
    return 0;
}

MPX_API int mpx_args_add_fd(mpx_args *a, int fd)
{
    if (!a)
        return MPX_EINVAL;
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (d < 0)
        return -errno;
    int rc = add_fd_owned(a, d);
    if (rc)
        mpx__close(d);
    return rc;
}

MPX_API int mpx_args_add_object(mpx_args *a, void *object)
{
    if (!a)
        return MPX_EINVAL;
    if (!mpx__obj_of(object))
        return MPX_EINVAL;
    mpx__arg *x = push(a);
    if (!x)
        return -ENOMEM;
    x->type = MPX_ARG_OBJECT;
    x->v.obj = object;
    a->n++;
    return 0;
}

MPX_API size_t mpx_args_count(const mpx_args *a)
{
    return a ? a->n : 0;
}

MPX_API int mpx_args_type(const mpx_args *a, size_t i)
{
    return a && i < a->n ? a->v[i].type : MPX_ARG_NONE;
}

static const mpx__arg *at(const mpx_args *a, size_t i, int type)
{
    if (!a || i >= a->n || a->v[i].type != type)
        return NULL;
    return &a->v[i];
}

MPX_API int mpx_args_get_int(const mpx_args *a, size_t i, int64_t *out)
{
    const mpx__arg *x = at(a, i, MPX_ARG_INT);
    if (!x || !out)
        return MPX_EINVAL;
    *out = x->v.i;
    return 0;
}

MPX_API int mpx_args_get_double(const mpx_args *a, size_t i, double *out)
{
    const mpx__arg *x = at(a, i, MPX_ARG_DOUBLE);
    if (!x || !out)
        return MPX_EINVAL;
    *out = x->v.d;
    return 0;
}

MPX_API int mpx_args_get_str(const mpx_args *a, size_t i, const char **out)
{
    const mpx__arg *x = at(a, i, MPX_ARG_STR);
    if (!x || !out)
        return MPX_EINVAL;
    *out = x->v.b.p;
    return 0;
}

MPX_API int mpx_args_get_bytes(const mpx_args *a, size_t i, const void **out, size_t *len)
{
    const mpx__arg *x = at(a, i, MPX_ARG_BYTES);
    if (!x || !out || !len)
        return MPX_EINVAL;
    *out = x->v.b.p;
    *len = x->v.b.len;
    return 0;
}

MPX_API int mpx_args_get_fd(const mpx_args *a, size_t i, int *out)
{
    const mpx__arg *x = at(a, i, MPX_ARG_FD);
    if (!x || !out)
        return MPX_EINVAL;
    *out = x->v.fd;
    return 0;
}

MPX_API int mpx_args_get_object(const mpx_args *a, size_t i, const char *type_name, void **out)
{
    const mpx__arg *x = at(a, i, MPX_ARG_OBJECT);
    if (!x || !out)
        return MPX_EINVAL;
    mpx__obj *o = mpx__obj_of(x->v.obj);
    if (!o)
        return MPX_ECLOSED;
    if (type_name && strcmp(o->type->name, type_name) != 0)
        return MPX_EINVAL;
    *out = x->v.obj;
    return 0;
}

MPX_API int64_t mpx_args_int(const mpx_args *a, size_t i)
{
    const mpx__arg *x = at(a, i, MPX_ARG_INT);
    return x ? x->v.i : 0;
}

MPX_API double mpx_args_double(const mpx_args *a, size_t i)
{
    const mpx__arg *x = at(a, i, MPX_ARG_DOUBLE);
    return x ? x->v.d : 0.0;
}

MPX_API const char *mpx_args_str(const mpx_args *a, size_t i)
{
    const mpx__arg *x = at(a, i, MPX_ARG_STR);
    return x ? x->v.b.p : NULL;
}

MPX_API int mpx_args_fd(const mpx_args *a, size_t i)
{
    const mpx__arg *x = at(a, i, MPX_ARG_FD);
    return x ? x->v.fd : -1;
}

MPX_API void *mpx_args_object(const mpx_args *a, size_t i)
{
    const mpx__arg *x = at(a, i, MPX_ARG_OBJECT);
    return x ? x->v.obj : NULL;
}

int mpx__args_copy(const mpx_args *src, mpx_args **out)
{
    mpx_args *a;
    int rc = mpx_args_create(&a);
    if (rc)
        return rc;
    for (size_t i = 0; src && i < src->n && !rc; i++) {
        const mpx__arg *x = &src->v[i];
        switch (x->type) {
        case MPX_ARG_INT: rc = mpx_args_add_int(a, x->v.i); break;
        case MPX_ARG_DOUBLE: rc = mpx_args_add_double(a, x->v.d); break;
        case MPX_ARG_STR:
        case MPX_ARG_BYTES: rc = add_block(a, x->type, x->v.b.p, x->v.b.len); break;
        case MPX_ARG_FD: rc = mpx_args_add_fd(a, x->v.fd); break;
        case MPX_ARG_OBJECT: rc = mpx_args_add_object(a, x->v.obj); break;
        default: rc = MPX_EINVAL;
        }
    }
    if (rc) {
        mpx_args_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

int mpx__args_check_context(const mpx_args *a, mpx_context *ctx)
{
    for (size_t i = 0; a && i < a->n; i++) {
        if (a->v[i].type != MPX_ARG_OBJECT)
            continue;
        mpx__obj *o = mpx__obj_of(a->v[i].v.obj);
        if (!o)
            return MPX_ECLOSED;
        if (!mpx__context_compatible(o->ctx, ctx))
            return MPX_ECONTEXT;
    }
    return 0;
}

/*
 * Wire form: u32 count, then per value u8 type and:
 *   INT u64, DOUBLE u64 (bit pattern), STR/BYTES bytes,
 *   FD u32 index into the fd list,
 *   OBJECT bytes(type name) u32 first-fd-index u32 nfds bytes(export data).
 */
int mpx__args_export(const mpx_args *a, mpx_context *target_ctx, mpx__buf *out,
                     mpx__fdlist *fds)
{
    int rc = mpx__buf_put_u32(out, (uint32_t)(a ? a->n : 0));
    for (size_t i = 0; a && i < a->n && !rc; i++) {
        const mpx__arg *x = &a->v[i];
        rc = mpx__buf_put_u8(out, (uint8_t)x->type);
        if (rc)
            break;
        switch (x->type) {
        case MPX_ARG_INT: rc = mpx__buf_put_u64(out, (uint64_t)x->v.i); break;
        case MPX_ARG_DOUBLE: {
            uint64_t bits;
            memcpy(&bits, &x->v.d, 8);
            rc = mpx__buf_put_u64(out, bits);
            break;
        }
        case MPX_ARG_STR:
        case MPX_ARG_BYTES: rc = mpx__buf_put_bytes(out, x->v.b.p, x->v.b.len); break;
        case MPX_ARG_FD:
            rc = mpx__buf_put_u32(out, (uint32_t)fds->n);
            if (!rc)
                rc = mpx__fdlist_add(fds, x->v.fd);
            break;
        case MPX_ARG_OBJECT: {
            mpx__obj *o = mpx__obj_of(x->v.obj);
            if (!o) {
                rc = MPX_ECLOSED;
                break;
            }
            if (!mpx__context_compatible(o->ctx, target_ctx)) {
                rc = MPX_ECONTEXT;
                break;
            }
            if (!o->type->export_) {
                rc = MPX_ENOTSUP;
                break;
            }
            mpx__buf data;
            mpx__buf_init(&data);
            int first = fds->n;
            rc = o->type->export_(x->v.obj, &data, fds);
            if (!rc)
                rc = mpx__buf_put_bytes(out, o->type->name, strlen(o->type->name));
            if (!rc)
                rc = mpx__buf_put_u32(out, (uint32_t)first);
            if (!rc)
                rc = mpx__buf_put_u32(out, (uint32_t)(fds->n - first));
            if (!rc)
                rc = mpx__buf_put_bytes(out, data.data, data.len);
            mpx__buf_free(&data);
            break;
        }
        default: rc = MPX_EINVAL;
        }
    }
    return rc;
}

int mpx__args_import(mpx__rd *in, const int *fds, int nfds, mpx_args **out)
{
    bool *used = calloc((size_t)nfds + 1, sizeof *used);
    mpx_args *a = NULL;
    uint32_t n;
    int rc = used ? mpx_args_create(&a) : -ENOMEM;
    if (!rc)
        rc = mpx__rd_u32(in, &n);
    for (uint32_t i = 0; !rc && i < n; i++) {
        uint8_t type;
        rc = mpx__rd_u8(in, &type);
        if (rc)
            break;
        switch (type) {
        case MPX_ARG_INT: {
            uint64_t v;
            rc = mpx__rd_u64(in, &v);
            if (!rc)
                rc = mpx_args_add_int(a, (int64_t)v);
            break;
        }
        case MPX_ARG_DOUBLE: {
            uint64_t v;
            double d;
            rc = mpx__rd_u64(in, &v);
            memcpy(&d, &v, 8);
            if (!rc)
                rc = mpx_args_add_double(a, d);
            break;
        }
        case MPX_ARG_STR:
        case MPX_ARG_BYTES: {
            const void *p;
            size_t len;
            rc = mpx__rd_bytes(in, &p, &len);
            if (!rc)
                rc = add_block(a, type, p, len);
            break;
        }
        case MPX_ARG_FD: {
            uint32_t idx;
            rc = mpx__rd_u32(in, &idx);
            if (!rc && (idx >= (uint32_t)nfds || used[idx]))
                rc = MPX_EPROTO;
            if (!rc)
                rc = add_fd_owned(a, fds[idx]);
            if (!rc)
                used[idx] = true;
            break;
        }
        case MPX_ARG_OBJECT: {
            const void *name, *data;
            size_t nlen, dlen;
            uint32_t first, cnt;
            char tname[64];
            rc = mpx__rd_bytes(in, &name, &nlen);
            if (!rc)
                rc = mpx__rd_u32(in, &first);
            if (!rc)
                rc = mpx__rd_u32(in, &cnt);
            if (!rc)
                rc = mpx__rd_bytes(in, &data, &dlen);
            if (!rc && (nlen >= sizeof tname || first > (uint32_t)nfds ||
                        cnt > (uint32_t)nfds - first))
                rc = MPX_EPROTO;
            for (uint32_t k = 0; !rc && k < cnt; k++)
                if (used[first + k])
                    rc = MPX_EPROTO;
            if (rc)
                break;
            memcpy(tname, name, nlen);
            tname[nlen] = 0;
            const mpx__objtype *t = mpx__objtype_find(tname);
            if (!t || !t->import_) {
                rc = MPX_ENOTSUP;
                break;
            }
            for (uint32_t k = 0; k < cnt; k++)
                used[first + k] = true; /* import owns them now, even on failure */
            mpx__rd r = {data, dlen};
            void *obj = NULL;
            rc = t->import_(&r, fds + first, (int)cnt, &obj);
            if (!rc) {
                rc = mpx_args_add_object(a, obj);
                if (rc) {
                    if (t->drop)
                        t->drop(obj);
                } else
                    a->v[a->n - 1].imported = true;
            }
            break;
        }
        default: rc = MPX_EPROTO;
        }
    }
    if (rc) {
        mpx_args_destroy(a);
        for (int i = 0; i < nfds; i++)
            if (!used || !used[i])
                mpx__close(fds[i]);
        free(used);
        return rc;
    }
    for (int i = 0; i < nfds; i++)
        if (!used[i])
            mpx__close(fds[i]);
    free(used);
    *out = a;
    return 0;
}
