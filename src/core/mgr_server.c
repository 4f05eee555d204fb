/*
 * mgr_server.c - the manager's server (#16; CPython's Server class,
 * wire-protocol.md section 6): a listener that authenticates every client
 * (handshakes side by side, bounded and timed: the listener of #12), one
 * thread per connection, control requests (dummy, create, incref,
 * decref, get_methods, accept_connection, number_of_objects, debug_info,
 * shutdown) and method calls with CPython's replies ('#RETURN', '#ERROR',
 * '#PROXY', '#TRACEBACK', '#UNSERIALIZABLE').
 *
 * Beyond CPython: an mpx client announces a session on its connections
 * (control request 'mpx_session' with ident None, which a CPython server
 * answers with '#TRACEBACK' and nothing else happens) and may then send
 * control requests over them; references it takes that way are counted
 * per session and released when its last connection closes, so a client
 * process that dies leaves nothing behind. A malformed request gets a
 * '#TRACEBACK' reply (an unreadable one closes the connection) and the
 * server goes on serving.
 */
#include "core/mgr_local.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const public_requests[] = {"shutdown",     "create",     "accept_connection",
                                              "get_methods",  "debug_info", "number_of_objects",
                                              "dummy",        "incref",     "decref",
                                              "mpx_session",  "mpx_release", "mpx_local",
                                              NULL};

/* ---- replies ------------------------------------------------------------------------- */

/* Encode (kind, value) into *out; steals value. */
static int reply(const char *kind, mpx_obj *value, void **out, size_t *len)
{
    mpx_obj *t = value ? mpx_obj_build("(sN)", kind, value) : NULL;
    if (!t)
        return -ENOMEM;
    int rc = mpx__mgr_dumps(t, out, len);
    mpx_obj_decref(t);
    if (rc && strcmp(kind, "#UNSERIALIZABLE") != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot pickle the result: %s (%s)", mpx_strerror(rc),
                 mpx_err_name(rc));
        return reply("#UNSERIALIZABLE", mpx_obj_str(msg), out, len);
    }
    return rc;
}

/* '#TRACEBACK' with a text in Python's form, ending with "Type: message". */
static int traceback(const char *where, const char *type, const char *msg, void **out,
                     size_t *len)
{
    char *text;
    if (asprintf(&text,
                 "Traceback (most recent call last):\n  File \"<mpx manager>\", in %s\n%s: %s\n",
                 where, type, msg) < 0)
        return -ENOMEM;
    mpx_obj *v = mpx_obj_str(text);
    if (!v) /* not UTF-8 (a hostile method name): keep it ASCII */
        v = mpx_obj_str_printf("Traceback (most recent call last):\n%s: (undecodable)\n", type);
    free(text);
    return reply("#TRACEBACK", v, out, len);
}

static char *repr_of(const char *s)
{
    mpx_obj *v = mpx_obj_str(s);
    char *r = v ? mpx_obj_repr(v) : NULL;
    mpx_obj_decref(v);
    return r ? r : strdup("'?'");
}

/* An error code from a method or callable as the exception to send. */
static mpx_obj *exc_of(mpx_manager_call *call, int rc)
{
    if (call->exc)
        return mpx_obj_incref(call->exc);
    const char *mod, *name;
    mpx__mgr_code_exc(rc, &mod, &name);
    return mpx__mgr_exc(mod, name, rc == MPX_EEOF ? NULL : mpx_strerror(rc));
}

/* ---- local proxies: a proxy stored inside the server pins its object ---------- */

static void pin_scan(mpx_manager_server *s, const mpx_obj *v, int depth)
{
    if (depth > 64)
        return;
    mpx_obj_type t = mpx_obj_typeof(v);
    if (t == MPX_OBJ_INSTANCE) {
        const mpx_obj *tok, *kw;
        const char *mod, *qn, *ident;
        if (mpx__mgr_rebuild_parts(v, &tok, &mod, &qn, &kw) == 0 &&
            mpx__mgr_token_parts(tok, NULL, NULL, &ident) == 0) {
            pthread_mutex_lock(&s->mu);
            mpx__mgr_entry *e = mpx__mgr_find(s, ident);
            if (e && !e->pinned) {
                MPX__DEBUG("Rebuild a proxy owned by manager, id '%s'", ident);
                e->pinned = true;
            }
            pthread_mutex_unlock(&s->mu);
            return;
        }
        mpx_obj_reduce r;
        if (mpx_obj_instance_get(v, &r) == 0) {
            if (r.args)
                pin_scan(s, r.args, depth + 1);
            if (r.state)
                pin_scan(s, r.state, depth + 1);
        }
        return;
    }
    if (t == MPX_OBJ_TUPLE || t == MPX_OBJ_LIST || t == MPX_OBJ_SET || t == MPX_OBJ_FROZENSET) {
        size_t pos = 0;
        mpx_obj *it;
        while (mpx_obj_next(v, &pos, &it) == 1)
            pin_scan(s, it, depth + 1);
    } else if (t == MPX_OBJ_DICT) {
        size_t pos = 0;
        mpx_obj *k, *it;
        while (mpx_obj_dict_next(v, &pos, &k, &it) == 1)
            pin_scan(s, it, depth + 1);
    }
}

/* ---- exposed sets ---------------------------------------------------------------------- */

/* The exposed set of an object of type t (Server.create): the registered
 * list, else the proxy type's _exposed_, else the public methods; plus the
 * method_to_typeid keys. A new strv. */
static char **exposed_for(const mpx__mgr_type *t, const mpx_referent *ref)
{
    char **ex;
    if (t && t->exposed)
        ex = mpx__strv_dup((const char *const *)t->exposed);
    else if (t && mpx__mgr_proxytype_exposed(t->proxytype))
        ex = mpx__strv_dup(mpx__mgr_proxytype_exposed(t->proxytype));
    else
        ex = mpx__mgr_public_methods(ref->cls);
    if (!ex || !t || !t->method_to_typeid)
        return ex;
    for (size_t i = 0; t->method_to_typeid[i] && t->method_to_typeid[i + 1]; i += 2) {
        const char *m = t->method_to_typeid[i];
        if (mpx__strv_has((const char *const *)ex, m))
            continue;
        size_t n = mpx__strv_len((const char *const *)ex);
        char **nx = realloc(ex, (n + 2) * sizeof *nx);
        if (!nx || !(nx[n] = strdup(m))) {
            mpx__strv_free(nx ? nx : ex);
            return NULL;
        }
        nx[n + 1] = NULL;
        ex = nx;
    }
    return ex;
}

/* Put ref in the table as typeid (a reference in sess); reply value
 * (ident, exposed) for create, or the '#PROXY' part. */
static int register_object(mpx_manager_server *s, const char *typeid, mpx_referent *ref,
                           mpx__mgr_session *sess, mpx_obj **ident_exposed)
{
    const mpx__mgr_type *t = mpx__mgr_registry_find(s->reg, typeid);
    char **ex = exposed_for(t, ref);
    if (!ex)
        return -ENOMEM;
    mpx_obj *ext = mpx__strv_to_tuple((const char *const *)ex);
    if (!ext) {
        mpx__strv_free(ex);
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->mu);
    mpx__mgr_entry *e;
    int rc = mpx__mgr_add(s, t, typeid, ref, ex, sess, &e);
    char ident[24];
    if (!rc)
        memcpy(ident, e->ident, sizeof ident);
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        mpx_obj_decref(ext);
        return rc;
    }
    MPX__DEBUG("'%s' callable returned object with id '%s'", typeid, ident);
    *ident_exposed = mpx_obj_build("(sN)", ident, ext);
    return *ident_exposed ? 0 : -ENOMEM;
}

/* ---- control requests ------------------------------------------------------------------- */

static int do_create(mpx__mgr_sconn *sc, const mpx_obj *args, const mpx_obj *kwds, void **out,
                     size_t *len)
{
    mpx_manager_server *s = sc->srv;
    const char *typeid;
    if (mpx_obj_len(args) < 1 || mpx_obj_get_str(mpx_obj_item(args, 0), &typeid, NULL))
        return traceback("create", "TypeError",
                         "create() missing 1 required positional argument: 'typeid'", out, len);
    const mpx__mgr_type *t = mpx__mgr_registry_find(s->reg, typeid);
    if (!t) {
        char *r = repr_of(typeid);
        int rc = traceback("create", "KeyError", r, out, len);
        free(r);
        return rc;
    }
    int64_t n = mpx_obj_len(args);
    mpx_obj *rest = mpx_obj_tuple((size_t)(n - 1));
    for (int64_t i = 1; rest && i < n; i++)
        if (mpx_obj_tuple_set_new(rest, (size_t)(i - 1),
                                  mpx_obj_incref(mpx_obj_item(args, i)))) {
            mpx_obj_decref(rest);
            rest = NULL;
        }
    if (!rest)
        return -ENOMEM;
    pin_scan(s, rest, 0);
    mpx_manager_call call = {s, sc, typeid, NULL, NULL, false};
    mpx_referent *ref = NULL;
    int rc;
    if (t->callable) {
        rc = t->callable(rest, kwds, &ref, &call);
        if (!rc && (!ref || ref->magic != MPX__REF_MAGIC))
            rc = MPX_EINVAL;
    } else if (mpx_obj_len(kwds) || n != 2) {
        rc = mpx_manager_raise(&call, MPX_EINVAL,
                               "Without callable, must have one non-keyword argument");
    } else {
        rc = mpx_referent_value(&ref, mpx_obj_item(args, 1));
    }
    mpx_obj_decref(rest);
    if (rc) {
        /* Python: the callable's exception becomes a traceback */
        mpx_obj *exc = exc_of(&call, rc);
        char type[128];
        char *text = NULL;
        if (exc)
            mpx__mgr_exc_describe(exc, type, sizeof type, &text);
        else
            snprintf(type, sizeof type, "RuntimeError");
        rc = traceback("create", type, text ? text : mpx_strerror(rc), out, len);
        free(text);
        mpx_obj_decref(exc);
        mpx_obj_decref(call.exc);
        return rc;
    }
    mpx_obj *ie;
    rc = register_object(s, typeid, ref, sc->sess, &ie);
    mpx_referent_decref(ref);
    mpx_obj_decref(call.exc);
    return rc ? rc : reply("#RETURN", ie, out, len);
}

static int do_refcount(mpx__mgr_sconn *sc, const char *method, const mpx_obj *args, void **out,
                       size_t *len)
{
    mpx_manager_server *s = sc->srv;
    const char *ident;
    if (mpx_obj_len(args) != 1 || mpx_obj_get_str(mpx_obj_item(args, 0), &ident, NULL))
        return traceback(method, "TypeError", "expected one argument: ident", out, len);
    bool inc = strcmp(method, "incref") == 0;
    mpx_referent *dropped = NULL;
    pthread_mutex_lock(&s->mu);
    mpx__mgr_entry *e = mpx__mgr_find(s, ident);
    int rc = e ? inc ? mpx__mgr_incref(s, e, sc->sess) : mpx__mgr_decref(s, e, sc->sess, &dropped)
               : MPX_EKEY;
    pthread_mutex_unlock(&s->mu);
    mpx_referent_decref(dropped);
    if (rc == MPX_EKEY) {
        char *r = repr_of(ident);
        rc = traceback(method, "KeyError", r, out, len);
        free(r);
        return rc;
    }
    if (rc == MPX_ESTATE)
        return traceback(method, "AssertionError", "refcount is 0, not 1+", out, len);
    if (rc)
        return rc;
    MPX__DEBUG("%s '%s'", inc ? "INCREF" : "DECREF", ident);
    return reply("#RETURN", mpx_obj_none(), out, len);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *debug_info(mpx_manager_server *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    char **lines = calloc(s->nentries + 1, sizeof *lines);
    for (size_t i = 0; lines && i < s->nbuckets; i++)
        for (mpx__mgr_entry *e = s->buckets[i]; e; e = e->next) {
            if (e->refcount <= 0)
                continue;
            char *r = e->ref->cls->repr ? e->ref->cls->repr(e->ref->self) : NULL;
            if (asprintf(&lines[n], "  %s:       refcount=%lld\n    %.75s", e->ident,
                         (long long)e->refcount, r ? r : e->ref->cls->name) >= 0)
                n++;
            free(r);
        }
    pthread_mutex_unlock(&s->mu);
    if (!lines)
        return NULL;
    qsort(lines, n, sizeof *lines, cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(lines[i]) + 1;
    char *out = malloc(total);
    if (out) {
        out[0] = 0;
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(out, "\n");
            strcat(out, lines[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return out;
}

/* A control request: ident None. *keep: the connection goes on serving
 * (accept_connection). */
static int control(mpx__mgr_sconn *sc, const char *method, const mpx_obj *args,
                   const mpx_obj *kwds, void **out, size_t *len, bool *keep)
{
    mpx_manager_server *s = sc->srv;
    *keep = false;
    if (!mpx__strv_has(public_requests, method)) {
        char *r = repr_of(method);
        char msg[600];
        snprintf(msg, sizeof msg, "%s unrecognized", r);
        free(r);
        return traceback("_handle_request", "AssertionError", msg, out, len);
    }
    if (strcmp(method, "dummy") == 0)
        return reply("#RETURN", mpx_obj_none(), out, len);
    if (strcmp(method, "create") == 0)
        return do_create(sc, args, kwds, out, len);
    if (strcmp(method, "incref") == 0 || strcmp(method, "decref") == 0)
        return do_refcount(sc, method, args, out, len);
    if (strcmp(method, "number_of_objects") == 0) {
        pthread_mutex_lock(&s->mu);
        int64_t n = (int64_t)s->nlive;
        pthread_mutex_unlock(&s->mu);
        return reply("#RETURN", mpx_obj_int(n), out, len);
    }
    if (strcmp(method, "debug_info") == 0) {
        char *t = debug_info(s);
        mpx_obj *v = t ? mpx_obj_str(t) : NULL;
        free(t);
        return v ? reply("#RETURN", v, out, len) : -ENOMEM;
    }
    if (strcmp(method, "get_methods") == 0) {
        const mpx_obj *tok = mpx_obj_len(args) == 1 ? mpx_obj_item(args, 0) : NULL;
        const char *ident;
        if (!tok || mpx__mgr_token_parts(tok, NULL, NULL, &ident))
            return traceback("get_methods", "TypeError", "expected a Token", out, len);
        pthread_mutex_lock(&s->mu);
        mpx__mgr_entry *e = mpx__mgr_find(s, ident);
        mpx_obj *v = e ? mpx__strv_to_tuple((const char *const *)e->exposed) : NULL;
        pthread_mutex_unlock(&s->mu);
        if (!e) {
            char *r = repr_of(ident);
            int rc = traceback("get_methods", "KeyError", r, out, len);
            free(r);
            return rc;
        }
        return v ? reply("#RETURN", v, out, len) : -ENOMEM;
    }
    if (strcmp(method, "accept_connection") == 0) {
        const char *name = mpx_obj_len(args) == 1 ? mpx_obj_str_value(mpx_obj_item(args, 0))
                                                  : NULL;
        snprintf(sc->name, sizeof sc->name, "%s", name ? name : "?");
        MPX__DEBUG("starting server thread to service '%s'", sc->name);
        *keep = true;
        return reply("#RETURN", mpx_obj_none(), out, len);
    }
    if (strcmp(method, "mpx_session") == 0) {
        const void *id;
        size_t n;
        if (mpx_obj_len(args) != 1 || mpx_obj_get_bytes(mpx_obj_item(args, 0), &id, &n) ||
            n != 16)
            return traceback("mpx_session", "TypeError", "expected 16 bytes", out, len);
        pthread_mutex_lock(&s->mu);
        if (!sc->sess)
            sc->sess = mpx__mgr_session_get(s, id);
        bool ok = sc->sess != NULL;
        pthread_mutex_unlock(&s->mu);
        *keep = true;
        return ok ? reply("#RETURN", mpx_obj_build("(si)", "mpx", 1), out, len) : -ENOMEM;
    }
    if (strcmp(method, "mpx_local") == 0) {
        /* the local transport: only on a channel of an mpx session over
         * AF_UNIX (the channel's memory comes with SCM_RIGHTS) */
        int64_t cap = 0;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        bool unix_sock = getsockname(sc->fd, (struct sockaddr *)&ss, &sl) == 0 &&
                         ss.ss_family == AF_UNIX;
        if (!sc->channel || !sc->sess || !unix_sock || mpx_obj_len(args) != 1 ||
            mpx_obj_get_int(mpx_obj_item(args, 0), &cap) || cap < 4096 || cap > (16 << 20) ||
            sc->lchan)
            return reply("#RETURN", mpx_obj_str("no"), out, len);
        sc->want_local = (uint32_t)cap;
        return reply("#RETURN", mpx_obj_str("send"), out, len);
    }
    if (strcmp(method, "mpx_release") == 0) {
        /* a client process at exit: all its references at once */
        mpx_referent **drop = NULL;
        size_t ndrop = 0;
        pthread_mutex_lock(&s->mu);
        if (sc->sess)
            mpx__mgr_session_release(s, sc->sess, &drop, &ndrop);
        pthread_mutex_unlock(&s->mu);
        for (size_t i = 0; i < ndrop; i++)
            mpx_referent_decref(drop[i]);
        free(drop);
        return reply("#RETURN", mpx_obj_none(), out, len);
    }
    /* shutdown */
    MPX__DEBUG("manager received shutdown message");
    int rc = reply("#RETURN", mpx_obj_none(), out, len);
    mpx_manager_server_stop(s);
    return rc;
}

/* ---- method calls ------------------------------------------------------------------------ */

static const mpx_manager_method *find_method(const mpx_manager_class *cls, const char *name)
{
    for (const mpx_manager_method *m = cls->methods; m && m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static char *referent_repr(mpx_referent *r)
{
    char *s = r->cls->repr ? r->cls->repr(r->self) : NULL;
    if (!s && asprintf(&s, "<%s object at %p>", r->cls->name, r->self) < 0)
        s = NULL;
    return s;
}

/* str(obj): a str value's own text, else repr. */
static char *referent_str(mpx_referent *r)
{
    if (r->cls == &mpx__mgr_object_class && mpx_obj_typeof(r->self) == MPX_OBJ_STR)
        return mpx_obj_text(r->self);
    return referent_repr(r);
}

/* Python's fallback_mapping: __str__, __repr__, #GETVALUE. */
static int fallback(mpx_manager_server *s, mpx__mgr_entry *e, const char *method, void **out,
                    size_t *len)
{
    mpx_referent *r = e->ref;
    if (!r->cls->concurrent)
        pthread_mutex_lock(&r->mu);
    int rc;
    if (strcmp(method, "__str__") == 0 || strcmp(method, "__repr__") == 0) {
        char *t = method[2] == 's' ? referent_str(r) : referent_repr(r);
        mpx_obj *v = t ? mpx_obj_str(t) : NULL;
        mpx_free(t);
        rc = v ? reply("#RETURN", v, out, len) : -ENOMEM;
    } else if (strcmp(method, "#GETVALUE") == 0) {
        mpx_obj *v = NULL;
        rc = r->cls->getvalue ? r->cls->getvalue(r->self, &v) : MPX_ENOTSUP;
        if (!rc)
            rc = reply("#RETURN", v, out, len);
        else if (rc == MPX_ENOTSUP) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "Traceback (most recent call last):\nTypeError: cannot pickle '%s' object\n",
                     r->cls->name);
            rc = reply("#UNSERIALIZABLE", mpx_obj_str(msg), out, len);
        }
    } else {
        char msg[1200];
        char *exp = NULL;
        mpx_obj *t = mpx__strv_to_tuple((const char *const *)e->exposed);
        exp = t ? mpx_obj_repr(t) : NULL;
        mpx_obj_decref(t);
        char *mr = repr_of(method);
        snprintf(msg, sizeof msg, "method %s of <class '%s'> object is not in exposed=%s", mr,
                 r->cls->name, exp ? exp : "()");
        free(mr);
        mpx_free(exp);
        rc = traceback("serve_client", "AttributeError", msg, out, len);
    }
    if (!r->cls->concurrent)
        pthread_mutex_unlock(&r->mu);
    return rc;
}

static int call_method(mpx__mgr_sconn *sc, const char *ident, const char *method,
                       const mpx_obj *args, const mpx_obj *kwds, bool nowait, void **out,
                       size_t *len)
{
    mpx_manager_server *s = sc->srv;
    pthread_mutex_lock(&s->mu);
    mpx__mgr_entry *e = mpx__mgr_find(s, ident);
    if (e)
        e->users++;
    pthread_mutex_unlock(&s->mu);
    if (!e) {
        char *r = repr_of(ident);
        int rc = traceback("serve_client", "KeyError", r, out, len);
        free(r);
        return rc;
    }
    mpx_referent *ref = e->ref;
    const mpx_manager_method *m = mpx__strv_has((const char *const *)e->exposed, method)
                                      ? find_method(ref->cls, method)
                                      : NULL;
    int rc;
    if (nowait && m && !ref->cls->nonblocking && !mpx__mgr_class_tries(ref->cls)) {
        rc = MPX__MGR_WOULDBLOCK; /* a method that may wait: on the client's own thread */
    } else if (!m) {
        rc = fallback(s, e, method, out, len);
    } else {
        pin_scan(s, args, 0);
        pin_scan(s, kwds, 0);
        mpx_manager_call call = {s, sc, method, NULL, NULL, nowait};
        mpx_obj *res = NULL;
        if (!ref->cls->concurrent)
            pthread_mutex_lock(&ref->mu);
        rc = m->fn(ref->self, args, kwds, &res, &call);
        const char *rtype = rc ? NULL : mpx__mgr_type_method_typeid(e->type, method);
        if (rc == MPX__MGR_WOULDBLOCK) {
            /* nothing happened: the worker runs it again */
        } else if (rc) {
            mpx_obj *exc = exc_of(&call, rc);
            rc = exc ? reply("#ERROR", exc, out, len) : -ENOMEM;
        } else if (rtype) {
            mpx_referent *obj = call.ret_obj;
            call.ret_obj = NULL;
            if (!obj)
                rc = mpx_referent_value(&obj, res ? res : mpx_obj_none());
            mpx_obj *ie = NULL;
            if (!rc)
                rc = register_object(s, rtype, obj, sc->sess, &ie);
            mpx_referent_decref(obj);
            if (!rc) {
                mpx_obj *tok = mpx__mgr_token(rtype, s->address, mpx_obj_str_value(
                                                                      mpx_obj_item(ie, 0)));
                mpx_obj *v = tok ? mpx_obj_build("(ON)", mpx_obj_item(ie, 1), tok) : NULL;
                rc = v ? reply("#PROXY", v, out, len) : -ENOMEM;
            }
            mpx_obj_decref(ie);
        } else if (call.ret_obj) {
            mpx_obj *v = NULL;
            mpx_referent *o = call.ret_obj;
            rc = o->cls->getvalue ? o->cls->getvalue(o->self, &v) : MPX_ENOTSUP;
            rc = rc ? reply("#UNSERIALIZABLE", mpx_obj_str("the method returned an object that "
                                                           "cannot be copied"),
                            out, len)
                    : reply("#RETURN", v, out, len);
        } else {
            rc = reply("#RETURN", res ? res : mpx_obj_none(), out, len);
            res = NULL;
        }
        if (!ref->cls->concurrent)
            pthread_mutex_unlock(&ref->mu);
        mpx_obj_decref(res);
        mpx_obj_decref(call.exc);
        mpx_referent_decref(call.ret_obj);
    }
    pthread_mutex_lock(&s->mu);
    mpx_referent *dropped = mpx__mgr_entry_done(s, e);
    pthread_mutex_unlock(&s->mu);
    mpx_referent_decref(dropped);
    return rc;
}

/* One request: decode, dispatch, encode the reply. */
static int handle(mpx__mgr_sconn *sc, const void *msg, size_t n, bool nowait, void **out,
                  size_t *len, bool *keep)
{
    mpx_obj *req;
    mpx_obj_error err;
    int rc = mpx_obj_loads(&req, msg, n, NULL, &err);
    *keep = sc->channel;
    if (rc)
        return traceback(sc->channel ? "serve_client" : "_handle_request",
                         rc == MPX_EPROTO ? "_pickle.UnpicklingError" : mpx_err_name(rc),
                         err.text, out, len);
    const char *ident, *method;
    const mpx_obj *args, *kwds;
    if (mpx__mgr_parse_request(req, &ident, &method, &args, &kwds)) {
        mpx_obj_decref(req);
        return traceback(sc->channel ? "serve_client" : "_handle_request", "ValueError",
                         "a request is (ident, methodname, args, kwds)", out, len);
    }
    mpx_obj *targs = NULL;
    if (mpx_obj_typeof(args) != MPX_OBJ_TUPLE) { /* a list: make it a tuple */
        int64_t na = mpx_obj_len(args);
        targs = mpx_obj_tuple((size_t)na);
        for (int64_t i = 0; targs && i < na; i++)
            if (mpx_obj_tuple_set_new(targs, (size_t)i, mpx_obj_incref(mpx_obj_item(args, i)))) {
                mpx_obj_decref(targs);
                targs = NULL;
            }
        if (!targs) {
            mpx_obj_decref(req);
            return -ENOMEM;
        }
        args = targs;
    }
    if (nowait && (!sc->channel || !ident)) {
        rc = MPX__MGR_WOULDBLOCK; /* control requests: not on the dispatcher */
    } else if (!sc->channel) {
        /* one request per connection (Server.handle_request) */
        rc = control(sc, method, args, kwds, out, len, keep);
        if (*keep && strcmp(method, "accept_connection") == 0)
            sc->channel = true;
        else
            *keep = false;
    } else if (!ident) {
        /* mpx clients' control requests on their channel */
        rc = control(sc, method, args, kwds, out, len, keep);
        *keep = true;
    } else {
        rc = call_method(sc, ident, method, args, kwds, nowait, out, len);
    }
    mpx_obj_decref(targs);
    mpx_obj_decref(req);
    return rc;
}

int mpx__mgr_server_handle_local(mpx__mgr_sconn *sc, const void *msg, size_t n, bool nowait,
                                 void **out, size_t *len)
{
    bool keep;
    return handle(sc, msg, n, nowait, out, len, &keep);
}

/* The request decoder and dispatcher on bytes (the fuzz target's entry):
 * one message as the first on a connection (channel false) or on a
 * method-call channel; fd is the client's socket (waits end when it is
 * closed), sess the session to count references in (NULL: none). */
int mpx__mgr_server_handle_bytes(mpx_manager_server *s, bool channel, int fd,
                                 mpx__mgr_session *sess, const void *msg, size_t n, void **out,
                                 size_t *len)
{
    mpx__mgr_sconn sc;
    memset(&sc, 0, sizeof sc);
    sc.srv = s;
    sc.fd = fd;
    sc.channel = channel;
    sc.sess = sess;
    snprintf(sc.name, sizeof sc.name, "fuzz");
    bool keep;
    int rc = handle(&sc, msg, n, false, out, len, &keep);
    if (sc.sess && sc.sess != sess) { /* an 'mpx_session' request made one */
        mpx_referent **drop = NULL;
        size_t ndrop = 0;
        pthread_mutex_lock(&s->mu);
        mpx__mgr_session_leave(s, sc.sess, &drop, &ndrop);
        pthread_mutex_unlock(&s->mu);
        for (size_t i = 0; i < ndrop; i++)
            mpx_referent_decref(drop[i]);
        free(drop);
    }
    return rc;
}

/* ---- connection threads ------------------------------------------------------------------ */

static void *serve_conn(void *arg)
{
    mpx__mgr_sconn *sc = arg;
    mpx_manager_server *s = sc->srv;
    mpx__mgr_rbuf rb = {0};
    for (;;) {
        const unsigned char *m;
        void *out = NULL;
        size_t n, len = 0;
        int rc = mpx__mgr_recv_msg(sc->fd, &rb, MPX__MGR_MAX_REQUEST, &m, &n);
        if (rc) {
            if (rc == MPX_EEOF)
                MPX__DEBUG("got EOF -- exiting thread serving '%s'", sc->name);
            else if (rc == MPX_ETOOBIG)
                MPX__INFO("request over %zu bytes from '%s': connection closed",
                          (size_t)MPX__MGR_MAX_REQUEST, sc->name);
            break;
        }
        bool keep;
        rc = handle(sc, m, n, false, &out, &len, &keep);
        if (rc == 0)
            rc = mpx_connection_send_bytes(sc->c, out, len);
        else
            MPX__INFO("failure to make a reply for '%s': %s", sc->name, mpx_strerror(rc));
        mpx_free(out);
        if (rc == 0 && sc->want_local) {
            uint32_t cap = sc->want_local;
            sc->want_local = 0;
            rc = mpx__mgr_local_attach(sc, cap);
        }
        if (rc || !keep || __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
            break;
    }
    mpx__mgr_rbuf_free(&rb);
    mpx__mgr_local_detach(sc);
    mpx_connection_destroy(sc->c);
    mpx_referent **drop = NULL;
    size_t ndrop = 0;
    pthread_mutex_lock(&s->mu);
    mpx__mgr_session_leave(s, sc->sess, &drop, &ndrop);
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        s->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    s->nconns--;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < ndrop; i++)
        mpx_referent_decref(drop[i]);
    free(drop);
    free(sc);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int start_conn(mpx_manager_server *s, mpx_connection *c)
{
    mpx__mgr_sconn *sc = calloc(1, sizeof *sc);
    if (!sc) {
        mpx_connection_destroy(c);
        return -ENOMEM;
    }
    sc->srv = s;
    sc->c = c;
    sc->fd = mpx_connection_fileno(c);
    const char *peer = mpx_connection_peer_address(c);
    snprintf(sc->name, sizeof sc->name, "%s", peer && peer[0] ? peer : "client");
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->mu);
    sc->next = s->conns;
    if (s->conns)
        s->conns->prev = sc;
    s->conns = sc;
    s->nconns++;
    /* the thread must not see signals meant for the program */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&sc->th, &at, serve_conn, sc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        s->conns = sc->next;
        if (sc->next)
            sc->next->prev = NULL;
        s->nconns--;
    }
    pthread_mutex_unlock(&s->mu);
    pthread_attr_destroy(&at);
    if (rc) {
        mpx_connection_destroy(c);
        free(sc);
        return -rc;
    }
    return 0;
}

/* ---- the server object --------------------------------------------------------------------- */

int mpx__mgr_server_new(mpx_manager_server **out, const mpx_manager_registry *reg,
                        const char *address, int family, const void *key, size_t keylen,
                        int parent_fd)
{
    mpx_manager_server *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->magic = MPX__MSRV_MAGIC;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->parent_fd = parent_fd;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->reg = mpx__mgr_registry_ref(reg ? reg : mpx_manager_sync_registry());
    int rc = 0;
    if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        rc = -errno;
    s->key = malloc(keylen ? keylen : 1);
    if (!rc && !s->key)
        rc = -ENOMEM;
    if (!rc) {
        memcpy(s->key, key, keylen);
        s->keylen = keylen;
        mpx_listener_opts lo = {0};
        lo.family = family;
        lo.backlog = 128;
        lo.authkey = s->key;
        lo.authkey_len = keylen;
        rc = mpx_listener_create(&s->lis, address, &lo);
    }
    if (!rc && !(s->address = strdup(mpx_listener_address(s->lis))))
        rc = -ENOMEM;
    if (rc) {
        mpx_manager_server_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

MPX_API const char *mpx_manager_server_address(const mpx_manager_server *s)
{
    return s && s->magic == MPX__MSRV_MAGIC ? s->address : NULL;
}

MPX_API void mpx_manager_server_stop(mpx_manager_server *s)
{
    if (!s || s->magic != MPX__MSRV_MAGIC)
        return;
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    char b = 1;
    ssize_t r = write(s->stop_pipe[1], &b, 1);
    (void)r;
}

MPX_API int mpx_manager_server_serve_forever(mpx_manager_server *s)
{
    if (!s || s->magic != MPX__MSRV_MAGIC)
        return MPX_EINVAL;
    if (s->served)
        return MPX_ESTATE;
    s->served = true;
    while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
        mpx_waitable w[3] = {{s->lis, -1, 0}, {NULL, s->stop_pipe[0], 0}, {NULL, s->parent_fd, 0}};
        int n = mpx_wait(w, 3, MPX_FOREVER);
        if (n < 0) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (w[1].ready)
            break;
        if (w[2].ready) {
            MPX__INFO("manager's parent process ended: shutting down");
            break;
        }
        if (!w[0].ready)
            continue;
        mpx_connection *c;
        int rc = mpx_listener_accept(s->lis, &c, MPX_NOWAIT);
        if (rc == 0)
            start_conn(s, c);
        else if (rc == MPX_EAUTH)
            MPX__INFO("manager: a client failed to authenticate");
        else if (rc != MPX_ETIMEDOUT) {
            MPX__DEBUG("manager: accept failed: %s", mpx_strerror(rc));
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
    }
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    mpx_listener_close(s->lis);
    /* wake every serving thread: those in recv see EOF, those waiting in
     * a method see mpx_manager_call_aborted */
    pthread_mutex_lock(&s->mu);
    for (mpx__mgr_sconn *sc = s->conns; sc; sc = sc->next)
        shutdown(sc->fd, SHUT_RDWR);
    while (s->nconns > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    mpx__mgr_local_stop(s);
    return 0;
}

MPX_API void mpx_manager_server_destroy(mpx_manager_server *s)
{
    if (!s || s->magic != MPX__MSRV_MAGIC)
        return;
    if (s->served) {
        pthread_mutex_lock(&s->mu);
        while (s->nconns > 0)
            pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
    }
    mpx__mgr_local_stop(s);
    mpx_listener_destroy(s->lis);
    mpx__mgr_table_clear(s);
    mpx__mgr_registry_unref(s->reg);
    mpx__close(s->stop_pipe[0]);
    mpx__close(s->stop_pipe[1]);
    if (s->key)
        memset(s->key, 0, s->keylen);
    free(s->key);
    free(s->address);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    s->magic = 0;
    free(s);
}
