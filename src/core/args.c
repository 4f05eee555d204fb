/* args.c - typed argument lists (PROC-03: arguments of any type, values
 * and keyword arguments included) and their serialisation. */
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
        else if (x->type == MPX_ARG_OBJ)
            mpx_obj_decref(x->v.val);
        else if (x->type == MPX_ARG_OBJECT && x->imported) {
            mpx__obj *o = mpx__obj_of(x->v.obj);
            if (o && o->type->drop)
                o->type->drop(x->v.obj);
        }
    }
    mpx_obj_decref(a->kwargs);
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

MPX_API int mpx_args_add_obj_new(mpx_args *a, mpx_obj *v)
{
    if (!a || !v) {
        mpx_obj_decref(v);
        return MPX_EINVAL;
    }
    mpx__arg *x = push(a);
    if (!x) {
        mpx_obj_decref(v);
        return -ENOMEM;
    }
    x->type = MPX_ARG_OBJ;
    x->v.val = v;
    a->n++;
    return 0;
}

MPX_API int mpx_args_add_obj(mpx_args *a, mpx_obj *v)
{
    if (!a || !v)
        return MPX_EINVAL;
    return mpx_args_add_obj_new(a, mpx_obj_incref(v));
}

/* A shallow copy of a dict whose keys are all str (Python's dict(kwargs)
 * for Process and the "keywords must be strings" check). */
static int kwargs_copy(const mpx_obj *kw, mpx_obj **out)
{
    if (mpx_obj_typeof(kw) != MPX_OBJ_DICT)
        return MPX_ETYPE;
    mpx_obj *d = mpx_obj_dict();
    if (!d)
        return -ENOMEM;
    size_t pos = 0;
    mpx_obj *k, *v;
    int rc = 0;
    while (!rc && mpx_obj_dict_next(kw, &pos, &k, &v) == 1)
        rc = mpx_obj_typeof(k) != MPX_OBJ_STR ? MPX_ETYPE : mpx_obj_dict_set(d, k, v);
    if (rc) {
        mpx_obj_decref(d);
        return rc;
    }
    *out = d;
    return 0;
}

MPX_API int mpx_args_set_kwargs(mpx_args *a, const mpx_obj *kwargs)
{
    if (!a)
        return MPX_EINVAL;
    mpx_obj *d = NULL;
    if (kwargs) {
        int rc = kwargs_copy(kwargs, &d);
        if (rc)
            return rc;
    }
    mpx_obj_decref(a->kwargs);
    a->kwargs = d;
    return 0;
}

MPX_API mpx_obj *mpx_args_kwargs(const mpx_args *a)
{
    return a ? a->kwargs : NULL;
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

MPX_API int mpx_args_get_obj(const mpx_args *a, size_t i, mpx_obj **out)
{
    const mpx__arg *x = at(a, i, MPX_ARG_OBJ);
    if (!x || !out)
        return MPX_EINVAL;
    *out = x->v.val;
    return 0;
}

MPX_API mpx_obj *mpx_args_obj(const mpx_args *a, size_t i)
{
    const mpx__arg *x = at(a, i, MPX_ARG_OBJ);
    return x ? x->v.val : NULL;
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
        case MPX_ARG_OBJ: rc = mpx_args_add_obj(a, x->v.val); break;
        default: rc = MPX_EINVAL;
        }
    }
    if (!rc && src && src->kwargs)
        rc = kwargs_copy(src->kwargs, &a->kwargs);
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
 *   OBJECT bytes(type name) u32 first-fd-index u32 nfds bytes(export data),
 *   OBJ bytes(pickle, protocol 5),
 *   KWARGS bytes(pickle of the dict): the last entry, counted in count
 *   (so a list with keyword arguments counts one entry more than
 *   mpx_args_count; mpx_pool_starmap, which joins the entries of several
 *   lists, thus never passes them on: see mpx__args_import).
 */
#define ARG_KWARGS 64

static int put_pickle(mpx__buf *out, const mpx_obj *v)
{
    void *p;
    size_t len;
    int rc = mpx_obj_dumps(v, MPX_PICKLE_HIGHEST_PROTOCOL, &p, &len, NULL, NULL);
    if (rc)
        return rc;
    rc = mpx__buf_put_bytes(out, p, len);
    mpx_free(p);
    return rc;
}

int mpx__args_export(const mpx_args *a, mpx_context *target_ctx, mpx__buf *out,
                     mpx__fdlist *fds)
{
    int rc = mpx__buf_put_u32(out, (uint32_t)(a ? a->n + (a->kwargs ? 1 : 0) : 0));
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
        case MPX_ARG_OBJ: rc = put_pickle(out, x->v.val); break;
        default: rc = MPX_EINVAL;
        }
    }
    if (!rc && a && a->kwargs) {
        rc = mpx__buf_put_u8(out, ARG_KWARGS);
        if (!rc)
            rc = put_pickle(out, a->kwargs);
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
        case MPX_ARG_OBJ:
        case ARG_KWARGS: {
            const void *p;
            size_t len;
            mpx_obj *v = NULL;
            rc = mpx__rd_bytes(in, &p, &len);
            /* Keyword arguments come last. Anywhere else they come from
             * several lists joined (starmap's bound arguments): refused
             * rather than shifting the values after them. */
            if (!rc && type == ARG_KWARGS && (i + 1 != n || a->kwargs))
                rc = MPX_EPROTO;
            if (!rc)
                rc = mpx_obj_loads(&v, p, len, NULL, NULL);
            if (!rc && type == ARG_KWARGS) {
                if (mpx_obj_typeof(v) == MPX_OBJ_DICT)
                    a->kwargs = v;
                else {
                    mpx_obj_decref(v);
                    rc = MPX_EPROTO;
                }
            } else if (!rc)
                rc = mpx_args_add_obj_new(a, v);
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
