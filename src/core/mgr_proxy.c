/*
 * mgr_proxy.c - proxies (#16, PROXY-01..13; CPython's BaseProxy,
 * AutoProxy, RebuildProxy): creation with their reference in the manager,
 * _callmethod with '#PROXY' results, _getvalue, str/repr, pickling as
 * RebuildProxy values (nested proxies, proxies sent to other processes),
 * and the "proxy" shareable object type (a proxy as a process argument
 * reconnects in the child and takes its own reference there).
 */
#include "core/mgr_client.h"

#include <stdio.h>
#include <string.h>

static mpx__objtype proxy_type;

static int pvalid(const mpx_proxy *p)
{
    return p && p->magic == MPX__PROXY_MAGIC;
}

static void proxy_free(mpx_proxy *p)
{
    free(p->typeid);
    free(p->address);
    free(p->ident);
    free(p->ptype_module);
    free(p->ptype);
    free(p->type_name);
    mpx__strv_free(p->exposed);
    mpx__mgr_registry_unref(p->reg);
    p->magic = 0;
    p->hdr.magic = 0;
    free(p);
}

static mpx_obj *ident_args(const mpx_proxy *p)
{
    return mpx_obj_build("(s)", p->ident);
}

void mpx__mgr_proxy_take_ref(mpx_proxy *p)
{
    mpx_obj *a = ident_args(p), *r = NULL;
    int rc = a ? mpx__mgr_control(p->cl, "incref", a, NULL, &r, NULL) : -ENOMEM;
    mpx_obj_decref(a);
    mpx_obj_decref(r);
    p->pending_ref = false;
    if (rc == 0) {
        p->has_ref = true;
        MPX__DEBUG("INCREF '%s'", p->ident);
    } else {
        MPX__INFO("incref failed: %s", mpx_strerror(rc));
    }
}

void mpx__mgr_proxy_drop_ref(mpx_proxy *p)
{
    if (!p->has_ref)
        return;
    p->has_ref = false;
    MPX__DEBUG("DECREF '%s'", p->ident);
    mpx_obj *a = ident_args(p), *r = NULL;
    int rc = a ? mpx__mgr_control(p->cl, "decref", a, NULL, &r, NULL) : -ENOMEM;
    mpx_obj_decref(a);
    mpx_obj_decref(r);
    if (rc)
        MPX__DEBUG("... decref failed %s", mpx_strerror(rc));
}

int mpx__mgr_proxy_new(mpx__mgr_client *cl, const mpx_manager_registry *reg,
                       const char *typeid, const char *ident, const mpx_obj *exposed,
                       const char *ptype_module, const char *ptype, bool owns_ref,
                       bool drop_creation, mpx_proxy **out)
{
    if (!reg)
        reg = mpx_manager_sync_registry();
    if (!ptype) {
        const mpx__mgr_type *t = mpx__mgr_registry_find(reg, typeid);
        if (t && t->proxytype)
            ptype = t->proxytype;
        else if (!t && strcmp(typeid, "Iterator") == 0)
            ptype = "IteratorProxy";
        else
            ptype = "AutoProxy";
        ptype_module = NULL;
    }
    if (!ptype_module) {
        const char *dot = strrchr(ptype, '.');
        ptype_module = mpx__mgr_module;
        if (dot) { /* "module.Class" */
            static __thread char mod[256];
            snprintf(mod, sizeof mod, "%.*s", (int)(dot - ptype), ptype);
            ptype_module = mod;
            ptype = dot + 1;
        }
    }
    mpx_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    mpx__obj_init(&p->hdr, &proxy_type, NULL);
    p->magic = MPX__PROXY_MAGIC;
    p->reg = mpx__mgr_registry_ref(reg);
    p->isauto = strcmp(ptype, "AutoProxy") == 0;
    int rc = 0;
    if (!(p->typeid = strdup(typeid)) || !(p->ident = strdup(ident)) ||
        !(p->address = strdup(cl->address)) || !(p->ptype_module = strdup(ptype_module)) ||
        !(p->ptype = strdup(ptype)))
        rc = -ENOMEM;
    if (!rc && (p->isauto ? asprintf(&p->type_name, "AutoProxy[%s]", typeid) < 0
                          : !(p->type_name = strdup(ptype))))
        rc = -ENOMEM;
    if (!rc) {
        if (exposed && mpx_obj_typeof(exposed) != MPX_OBJ_NONE)
            p->exposed = mpx__strv_from_obj(exposed);
        else if (mpx__mgr_proxytype_exposed(ptype) && strcmp(p->ptype_module, mpx__mgr_module) == 0)
            p->exposed = mpx__strv_dup(mpx__mgr_proxytype_exposed(ptype));
        else { /* AutoProxy without exposed: ask (get_methods) */
            mpx_obj *tok = mpx__mgr_token(typeid, cl->address, ident);
            mpx_obj *a = tok ? mpx_obj_build("(N)", tok) : NULL, *r = NULL;
            rc = a ? mpx__mgr_dispatch_once(cl->address, cl->key, cl->keylen, "get_methods", a,
                                            NULL, &r, NULL)
                   : -ENOMEM;
            if (!rc)
                p->exposed = mpx__strv_from_obj(r);
            mpx_obj_decref(a);
            mpx_obj_decref(r);
        }
        if (!rc && !p->exposed)
            rc = MPX_EPROTO;
    }
    if (rc) {
        if (owns_ref) { /* give the reference back */
            p->cl = cl;
            p->has_ref = true;
            if (!p->ident && !(p->ident = strdup(ident))) {
                proxy_free(p);
                return rc;
            }
            mpx__mgr_proxy_drop_ref(p);
        }
        proxy_free(p);
        return rc;
    }
    p->cl = cl;
    mpx__mgr_client_link(cl, p);
    if (owns_ref) {
        p->has_ref = true;
    } else {
        mpx__mgr_proxy_take_ref(p);
        if (!p->has_ref) {
            mpx__mgr_client_unlink(cl, p);
            proxy_free(p);
            return MPX_EKEY;
        }
        if (drop_creation) { /* the creation reference (BaseManager's temp) */
            mpx_obj *a = ident_args(p), *r = NULL;
            mpx__mgr_control(cl, "decref", a, NULL, &r, NULL);
            mpx_obj_decref(a);
            mpx_obj_decref(r);
        }
    }
    *out = p;
    return 0;
}

MPX_API void mpx_proxy_destroy(mpx_proxy *p)
{
    if (!pvalid(p))
        return;
    if (mpx__mgr_client_stale(p->cl) || p->pending_ref)
        mpx__mgr_client_touch(p->cl);
    mpx__mgr_proxy_drop_ref(p);
    mpx__mgr_client_unlink(p->cl, p);
    proxy_free(p);
}

int mpx__mgr_client_create(mpx__mgr_client *cl, const mpx_manager_registry *reg,
                           const char *typeid, const mpx_obj *args, const mpx_obj *kwds,
                           mpx_proxy **out)
{
    MPX__DEBUG("requesting creation of a shared '%s' object", typeid);
    int64_t n = args ? mpx_obj_len(args) : 0;
    mpx_obj *a = mpx_obj_tuple((size_t)n + 1);
    if (!a || mpx_obj_tuple_set_new(a, 0, mpx_obj_str(typeid))) {
        mpx_obj_decref(a);
        return -ENOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        if (mpx_obj_tuple_set_new(a, (size_t)i + 1, mpx_obj_incref(mpx_obj_item(args, i)))) {
            mpx_obj_decref(a);
            return -ENOMEM;
        }
    mpx_obj *res = NULL;
    mpx_remote_error err = {0};
    int rc = mpx__mgr_control(cl, "create", a, kwds, &res, &err);
    mpx_obj_decref(a);
    if (rc == MPX_EREMOTE && err.kind == MPX_REMOTE_TRACEBACK) {
        /* the callable's exception, as a traceback: its code when known */
        const char *dot = strrchr(err.type, '.');
        int c = dot ? mpx__mgr_exc_code(NULL, dot + 1) : mpx__mgr_exc_code(NULL, err.type);
        if (c != MPX_EREMOTE && strcmp(err.type, "KeyError") != 0)
            rc = c;
        else if (strcmp(err.type, "KeyError") == 0)
            rc = MPX_EINVAL; /* unknown typeid in the server */
    }
    mpx_remote_error_clear(&err);
    if (rc)
        return rc;
    const char *ident;
    if (mpx_obj_typeof(res) != MPX_OBJ_TUPLE || mpx_obj_len(res) != 2 ||
        mpx_obj_get_str(mpx_obj_item(res, 0), &ident, NULL)) {
        mpx_obj_decref(res);
        return MPX_EPROTO;
    }
    bool mine = mpx__mgr_client_kind(cl) == MPX__MGR_MPX;
    rc = mpx__mgr_proxy_new(cl, reg, typeid, ident, mpx_obj_item(res, 1), NULL, NULL, mine,
                            !mine, out);
    mpx_obj_decref(res);
    return rc;
}

/* ---- calls --------------------------------------------------------------------------- */

MPX_API int mpx_proxy_callmethod(mpx_proxy *p, const char *method, const mpx_obj *args,
                                 const mpx_obj *kwds, mpx_obj **value, mpx_proxy **proxy,
                                 mpx_remote_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
    if (value)
        *value = NULL;
    if (proxy)
        *proxy = NULL;
    if (!pvalid(p) || !method || (args && mpx_obj_typeof(args) != MPX_OBJ_TUPLE) ||
        (kwds && mpx_obj_typeof(kwds) != MPX_OBJ_DICT))
        return MPX_EINVAL;
    if (p->pending_ref || mpx__mgr_client_stale(p->cl))
        mpx__mgr_client_touch(p->cl);
    mpx_obj *reply = NULL;
    int rc = mpx__mgr_chan_request(p->cl, p->ident, method, args, kwds, &reply);
    if (rc) {
        if (err)
            err->code = rc;
        return rc;
    }
    const mpx_obj *part = NULL;
    mpx_obj *v = NULL;
    rc = mpx__mgr_reply_result(reply, &v, &part, err);
    if (rc == 1) {
        /* ('#PROXY', (exposed, token)): a proxy for the result; the token's
         * address is rewritten to ours, as CPython does */
        const char *typeid, *ident;
        rc = MPX_EPROTO;
        if (mpx_obj_typeof(part) == MPX_OBJ_TUPLE && mpx_obj_len(part) == 2 &&
            mpx__mgr_token_parts(mpx_obj_item(part, 1), &typeid, NULL, &ident) == 0) {
            bool mine = mpx__mgr_client_kind(p->cl) == MPX__MGR_MPX;
            mpx_proxy *np;
            rc = mpx__mgr_proxy_new(p->cl, p->reg, typeid, ident, mpx_obj_item(part, 0), NULL,
                                    NULL, mine, !mine, &np);
            if (!rc) {
                if (proxy)
                    *proxy = np;
                else {
                    mpx_proxy_destroy(np);
                    rc = MPX_ETYPE;
                }
            }
        }
        if (err)
            err->code = rc;
    } else if (rc == 0) {
        if (value)
            *value = v;
        else
            mpx_obj_decref(v);
    }
    mpx_obj_decref(reply);
    return rc;
}

MPX_API int mpx_proxy_call(mpx_proxy *p, const char *method, const mpx_obj *args,
                           const mpx_obj *kwds, mpx_obj **value)
{
    return mpx_proxy_callmethod(p, method, args, kwds, value, NULL, NULL);
}

MPX_API int mpx_proxy_getvalue(mpx_proxy *p, mpx_obj **out)
{
    if (!out)
        return MPX_EINVAL;
    return mpx_proxy_call(p, "#GETVALUE", NULL, NULL, out);
}

MPX_API char *mpx_proxy_repr(const mpx_proxy *p)
{
    if (!pvalid(p))
        return NULL;
    char *s;
    return asprintf(&s, "<%s object, typeid '%s' at %p>", p->type_name, p->typeid, (void *)p) < 0
               ? NULL
               : s;
}

MPX_API char *mpx_proxy_str(mpx_proxy *p)
{
    mpx_obj *v = NULL;
    int rc = mpx_proxy_call(p, "__repr__", NULL, NULL, &v);
    const char *s = rc ? NULL : mpx_obj_str_value(v);
    char *out = NULL;
    if (s) {
        out = strdup(s);
    } else {
        char *r = mpx_proxy_repr(p);
        if (r && asprintf(&out, "%.*s; '__str__()' failed>", (int)strlen(r) - 1, r) < 0)
            out = NULL;
        free(r);
    }
    mpx_obj_decref(v);
    return out;
}

/* ---- accessors ------------------------------------------------------------------------- */

MPX_API const char *mpx_proxy_typeid(const mpx_proxy *p) { return pvalid(p) ? p->typeid : NULL; }
MPX_API const char *mpx_proxy_ident(const mpx_proxy *p) { return pvalid(p) ? p->ident : NULL; }
MPX_API const char *mpx_proxy_address(const mpx_proxy *p)
{
    return pvalid(p) ? p->address : NULL;
}
MPX_API const char *mpx_proxy_type_name(const mpx_proxy *p)
{
    return pvalid(p) ? p->type_name : NULL;
}
MPX_API const char *const *mpx_proxy_exposed(const mpx_proxy *p)
{
    return pvalid(p) ? (const char *const *)p->exposed : NULL;
}
MPX_API int mpx_proxy_is_exposed(const mpx_proxy *p, const char *name)
{
    return pvalid(p) && name ? mpx__strv_has((const char *const *)p->exposed, name) : 0;
}

/* ---- pickling: RebuildProxy values ------------------------------------------------------- */

MPX_API mpx_obj *mpx_proxy_to_obj(const mpx_proxy *p)
{
    if (!pvalid(p))
        return NULL;
    mpx_obj *tok = mpx__mgr_token(p->typeid, p->address, p->ident);
    mpx_obj *v = tok ? mpx__mgr_rebuild(p->ptype_module, p->ptype, tok,
                                        p->isauto ? (const char *const *)p->exposed : NULL)
                     : NULL;
    mpx_obj_decref(tok);
    return v;
}

MPX_API int mpx_proxy_is_proxy_obj(const mpx_obj *v)
{
    const mpx_obj *tok, *kw;
    const char *mod, *qn;
    return v && mpx__mgr_rebuild_parts(v, &tok, &mod, &qn, &kw) == 0 &&
                   mpx__mgr_token_parts(tok, NULL, NULL, NULL) == 0
               ? 1
               : 0;
}

static int from_parts(mpx_proxy **out, const mpx_obj *v, const void *key, size_t keylen,
                      const mpx_manager_registry *reg)
{
    const mpx_obj *tok, *kw;
    const char *mod, *qn, *typeid, *ident;
    char *address;
    if (!out || !v || mpx__mgr_rebuild_parts(v, &tok, &mod, &qn, &kw) ||
        mpx__mgr_token_parts(tok, &typeid, &address, &ident))
        return MPX_ETYPE;
    unsigned char pk[1024];
    if (!key) {
        int n = mpx_process_authkey(mpx_current_process(), pk, sizeof pk);
        if (n < 0) {
            free(address);
            return n;
        }
        key = pk;
        keylen = (size_t)n;
    }
    mpx__mgr_client *cl;
    int rc = mpx__mgr_client_get(address, key, keylen, &cl);
    free(address);
    if (rc)
        return rc;
    const mpx_obj *exposed = kw ? mpx_obj_dict_get_s(kw, "exposed") : NULL;
    if (qn && strcmp(qn, "RebuildProxy") == 0)
        qn = NULL;
    rc = mpx__mgr_proxy_new(cl, reg, typeid, ident, exposed, qn ? mod : NULL, qn, false, false,
                            out);
    mpx__mgr_client_unref(cl);
    return rc;
}

MPX_API int mpx_proxy_from_obj(mpx_proxy **out, const mpx_obj *v, const void *authkey,
                               size_t authkey_len)
{
    return from_parts(out, v, authkey, authkey_len, NULL);
}

MPX_API int mpx_proxy_list_get_proxy(mpx_proxy *p, int64_t i, mpx_proxy **out)
{
    if (!pvalid(p) || !out)
        return MPX_EINVAL;
    mpx_obj *a = mpx_obj_build("(L)", (long long)i), *v = NULL;
    int rc = a ? mpx_proxy_call(p, "__getitem__", a, NULL, &v) : -ENOMEM;
    mpx_obj_decref(a);
    if (!rc) {
        rc = from_parts(out, v, p->cl->key, p->cl->keylen, p->reg);
        mpx_obj_decref(v);
    }
    return rc;
}

/* ---- a proxy as a process argument ----------------------------------------------------- */

static int px_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_proxy *p = obj;
    mpx_obj *v = mpx_proxy_to_obj(p);
    if (!v)
        return -ENOMEM;
    void *buf;
    size_t len;
    int rc = mpx__mgr_dumps(v, &buf, &len);
    mpx_obj_decref(v);
    if (rc)
        return rc;
    rc = mpx__buf_put_bytes(data, buf, len);
    mpx_free(buf);
    if (!rc)
        rc = mpx__buf_put_bytes(data, p->cl->key, p->cl->keylen);
    return rc;
}

static int px_import(mpx__rd *in, const int *fds, int nfds, void **out)
{
    for (int i = 0; i < nfds; i++)
        mpx__close(fds[i]);
    const void *pk, *key;
    size_t plen, klen;
    int rc = mpx__rd_bytes(in, &pk, &plen);
    if (!rc)
        rc = mpx__rd_bytes(in, &key, &klen);
    if (rc)
        return rc;
    mpx_obj *v;
    if ((rc = mpx_obj_loads(&v, pk, plen, NULL, NULL)))
        return rc;
    mpx_proxy *p;
    rc = from_parts(&p, v, key, klen, NULL);
    mpx_obj_decref(v);
    if (!rc)
        *out = p;
    return rc;
}

static void px_drop(void *obj) { mpx_proxy_destroy(obj); }

static void px_forked(void *obj)
{
    mpx_proxy *p = obj;
    if (pvalid(p))
        mpx__mgr_client_touch(p->cl);
}

static mpx__objtype proxy_type = {
    .name = "proxy",
    .export_ = px_export,
    .import_ = px_import,
    .drop = px_drop,
    .forked = px_forked,
};

__attribute__((constructor)) static void proxy_type_register(void)
{
    mpx__objtype_register(&proxy_type);
}
