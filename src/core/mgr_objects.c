/*
 * mgr_objects.c - the objects a manager holds (#16): referents (server-side
 * objects: C types with a method table, or values), the server's table of
 * idents with reference counts (Python's Server.id_to_obj,
 * id_to_refcount, id_to_local_proxy_obj), and client sessions, which
 * count each client process's references so that they are released when
 * the process goes away (a client killed mid-call leaks nothing).
 */
#include "core/mgr_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- referents ------------------------------------------------------------------ */

static uint64_t next_serial = 1;

static int ref_new(mpx_referent **out, const mpx_manager_class *cls, void *self)
{
    mpx_referent *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->magic = MPX__REF_MAGIC;
    r->refs = 1;
    r->cls = cls;
    r->self = self;
    /* Idents look like CPython's ('%x' % id(obj)) and are never reused. */
    r->serial = __atomic_fetch_add(&next_serial, 1, __ATOMIC_RELAXED) + 0x7f0000000000ull;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return 0;
}

void mpx__mgr_reset_serial(void)
{
    __atomic_store_n(&next_serial, 1, __ATOMIC_RELAXED);
}

MPX_API int mpx_referent_create(mpx_referent **out, const mpx_manager_class *cls, void *self)
{
    if (!out || !cls || !cls->name)
        return MPX_EINVAL;
    return ref_new(out, cls, self);
}

MPX_API int mpx_referent_value(mpx_referent **out, mpx_obj *v)
{
    if (!out || !v)
        return MPX_EINVAL;
    int rc = ref_new(out, mpx__mgr_value_class(v), v);
    if (!rc)
        mpx_obj_incref(v);
    return rc;
}

MPX_API int mpx_referent_builtin(mpx_referent **out, const char *typeid, const mpx_obj *args,
                                 const mpx_obj *kwds)
{
    if (!out || !typeid)
        return MPX_EINVAL;
    mpx_manager_callable fn = mpx__mgr_builtin_callable(typeid);
    if (!fn)
        return MPX_EINVAL;
    mpx_obj *a = args ? mpx_obj_incref((mpx_obj *)args) : mpx_obj_tuple(0);
    mpx_obj *k = kwds ? mpx_obj_incref((mpx_obj *)kwds) : mpx_obj_dict();
    int rc = -ENOMEM;
    if (a && k) {
        if (mpx_obj_typeof(a) != MPX_OBJ_TUPLE || mpx_obj_typeof(k) != MPX_OBJ_DICT) {
            rc = MPX_ETYPE;
        } else {
            mpx_manager_call call = {0};
            call.method = typeid;
            rc = fn(a, k, out, &call);
            mpx_obj_decref(call.exc);
        }
    }
    mpx_obj_decref(a);
    mpx_obj_decref(k);
    return rc;
}

MPX_API mpx_referent *mpx_referent_incref(mpx_referent *r)
{
    if (r)
        __atomic_fetch_add(&r->refs, 1, __ATOMIC_RELAXED);
    return r;
}

MPX_API void mpx_referent_decref(mpx_referent *r)
{
    if (!r || r->magic != MPX__REF_MAGIC)
        return;
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (r->cls->release)
        r->cls->release(r->self);
    pthread_mutex_destroy(&r->mu);
    r->magic = 0;
    free(r);
}

MPX_API void *mpx_referent_self(const mpx_referent *r)
{
    return r && r->magic == MPX__REF_MAGIC ? r->self : NULL;
}

/* ---- inside a method ---------------------------------------------------------------- */

MPX_API int mpx_manager_raise(mpx_manager_call *call, int code, const char *fmt, ...)
{
    if (!call || code >= 0)
        return code >= 0 ? MPX_EINVAL : code;
    char msg[1024];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    const char *mod, *name;
    mpx__mgr_code_exc(code, &mod, &name);
    mpx_obj_decref(call->exc);
    call->exc = mpx__mgr_exc(mod, name, fmt ? msg : NULL);
    return code;
}

MPX_API int mpx_manager_raise_exc(mpx_manager_call *call, const mpx_obj *exc)
{
    if (!call || !exc)
        return MPX_EINVAL;
    mpx_obj_decref(call->exc);
    call->exc = mpx_obj_incref((mpx_obj *)exc);
    char type[128];
    char *text;
    int code = mpx__mgr_exc_describe(exc, type, sizeof type, &text);
    free(text);
    return code;
}

MPX_API int mpx_manager_return_object(mpx_manager_call *call, mpx_referent *obj)
{
    if (!call || !obj || obj->magic != MPX__REF_MAGIC)
        return MPX_EINVAL;
    mpx_referent_decref(call->ret_obj);
    call->ret_obj = obj;
    return 0;
}

MPX_API int mpx_manager_call_aborted(mpx_manager_call *call)
{
    if (!call || !call->srv)
        return 0;
    if (__atomic_load_n(&call->srv->stopping, __ATOMIC_ACQUIRE))
        return 1;
    if (call->conn && call->conn->fd >= 0) {
        /* A client does not send while it waits for a reply: readable
         * means closed (EOF) or broken. */
        char b;
        ssize_t r = recv(call->conn->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return 1;
    }
    return 0;
}

/* ---- the table ---------------------------------------------------------------------- */

static size_t hash_ident(const char *s)
{
    size_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

mpx__mgr_entry *mpx__mgr_find(mpx_manager_server *s, const char *ident)
{
    if (!s->nbuckets || !ident)
        return NULL;
    for (mpx__mgr_entry *e = s->buckets[hash_ident(ident) & (s->nbuckets - 1)]; e; e = e->next)
        if (strcmp(e->ident, ident) == 0)
            return e;
    return NULL;
}

static int grow(mpx_manager_server *s)
{
    if (s->nentries < s->nbuckets)
        return 0;
    size_t n = s->nbuckets ? s->nbuckets * 2 : 64;
    mpx__mgr_entry **b = calloc(n, sizeof *b);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < s->nbuckets; i++)
        for (mpx__mgr_entry *e = s->buckets[i], *nx; e; e = nx) {
            nx = e->next;
            size_t h = hash_ident(e->ident) & (n - 1);
            e->next = b[h];
            b[h] = e;
        }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
    return 0;
}

static void unlink_entry(mpx_manager_server *s, mpx__mgr_entry *e)
{
    mpx__mgr_entry **pp = &s->buckets[hash_ident(e->ident) & (s->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (*pp)
        *pp = e->next;
    s->nentries--;
    e->dead = true;
    e->next = NULL;
}

static void free_entry(mpx__mgr_entry *e)
{
    free(e->typeid);
    mpx__strv_free(e->exposed);
    free(e);
}

/* ---- sessions ------------------------------------------------------------------------- */

static size_t slot_of(const mpx__mgr_session *ss, const mpx__mgr_entry *e)
{
    size_t h = ((uintptr_t)e >> 4) * 0x9e3779b97f4a7c15ull;
    size_t i = h & (ss->cap - 1);
    while (ss->slot[i].e && ss->slot[i].e != e)
        i = (i + 1) & (ss->cap - 1);
    return i;
}

static int sess_add(mpx__mgr_session *ss, mpx__mgr_entry *e, int64_t d)
{
    if ((ss->used + 1) * 2 > ss->cap) {
        size_t ncap = ss->cap ? ss->cap * 2 : 16;
        mpx__mgr_session tmp = *ss;
        tmp.cap = ncap;
        tmp.slot = calloc(ncap, sizeof *tmp.slot);
        if (!tmp.slot)
            return -ENOMEM;
        for (size_t i = 0; i < ss->cap; i++)
            if (ss->slot[i].e && ss->slot[i].n > 0)
                tmp.slot[slot_of(&tmp, ss->slot[i].e)] = ss->slot[i];
        free(ss->slot);
        ss->slot = tmp.slot;
        ss->cap = ncap;
    }
    size_t i = slot_of(ss, e);
    if (!ss->slot[i].e) {
        ss->slot[i].e = e;
        ss->used++;
    }
    ss->slot[i].n += d;
    return 0;
}

/* The session's count for e (0 when none). */
static int64_t sess_count(const mpx__mgr_session *ss, const mpx__mgr_entry *e)
{
    if (!ss || !ss->cap)
        return 0;
    size_t i = slot_of(ss, e);
    return ss->slot[i].e ? ss->slot[i].n : 0;
}

mpx__mgr_session *mpx__mgr_session_get(mpx_manager_server *s, const unsigned char id[16])
{
    for (mpx__mgr_session *ss = s->sessions; ss; ss = ss->next)
        if (memcmp(ss->id, id, 16) == 0) {
            ss->nconns++;
            return ss;
        }
    mpx__mgr_session *ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    memcpy(ss->id, id, 16);
    ss->nconns = 1;
    ss->next = s->sessions;
    s->sessions = ss;
    return ss;
}

static int push_drop(mpx_referent ***drop, size_t *ndrop, mpx_referent *r)
{
    mpx_referent **v = realloc(*drop, (*ndrop + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    v[(*ndrop)++] = r;
    *drop = v;
    return 0;
}

/* Count drops to zero: unlink (unless pinned) and hand out the referent. */
static mpx_referent *at_zero(mpx_manager_server *s, mpx__mgr_entry *e)
{
    s->nlive--;
    MPX__DEBUG("disposing of obj with id '%s'", e->ident);
    if (e->pinned)
        return NULL; /* kept, as CPython's id_to_local_proxy_obj keeps it */
    unlink_entry(s, e);
    if (e->users > 0)
        return NULL; /* freed by the last call using it */
    mpx_referent *r = e->ref;
    free_entry(e);
    return r;
}

/* Release every reference of ss (it stays, empty). */
void mpx__mgr_session_release(mpx_manager_server *s, mpx__mgr_session *ss, mpx_referent ***drop,
                              size_t *ndrop)
{
    size_t released = 0;
    for (size_t i = 0; i < ss->cap; i++) {
        mpx__mgr_entry *e = ss->slot[i].e;
        int64_t n = ss->slot[i].n;
        ss->slot[i].e = NULL;
        ss->slot[i].n = 0;
        if (!e || n <= 0)
            continue;
        released += (size_t)n;
        e->refcount -= n;
        if (e->refcount <= 0) {
            e->refcount = 0;
            mpx_referent *r = at_zero(s, e);
            if (r && push_drop(drop, ndrop, r))
                mpx_referent_decref(r); /* no memory: release here */
        }
    }
    ss->used = 0;
    if (released)
        MPX__DEBUG("client session: %zu reference(s) released", released);
}

void mpx__mgr_session_leave(mpx_manager_server *s, mpx__mgr_session *ss, mpx_referent ***drop,
                            size_t *ndrop)
{
    if (!ss || --ss->nconns > 0)
        return;
    for (mpx__mgr_session **pp = &s->sessions; *pp; pp = &(*pp)->next)
        if (*pp == ss) {
            *pp = ss->next;
            break;
        }
    mpx__mgr_session_release(s, ss, drop, ndrop);
    free(ss->slot);
    free(ss);
}

/* ---- table operations ------------------------------------------------------------------- */

int mpx__mgr_add(mpx_manager_server *s, const mpx__mgr_type *type, const char *typeid,
                 mpx_referent *ref, char **exposed, mpx__mgr_session *sess,
                 mpx__mgr_entry **out)
{
    char ident[24];
    snprintf(ident, sizeof ident, "%llx", (unsigned long long)ref->serial);
    mpx__mgr_entry *e = mpx__mgr_find(s, ident);
    if (e) {
        /* The same object again (a callable returning a shared object):
         * its count goes on (its first typeid and exposed set stay: a
         * call may be using them). */
        mpx__strv_free(exposed);
    } else {
        if (grow(s)) {
            mpx__strv_free(exposed);
            return -ENOMEM;
        }
        e = calloc(1, sizeof *e);
        if (!e || !(e->typeid = strdup(typeid))) {
            free(e);
            mpx__strv_free(exposed);
            return -ENOMEM;
        }
        memcpy(e->ident, ident, sizeof ident);
        e->ref = mpx_referent_incref(ref);
        e->exposed = exposed;
        e->type = type;
        size_t h = hash_ident(ident) & (s->nbuckets - 1);
        e->next = s->buckets[h];
        s->buckets[h] = e;
        s->nentries++;
    }
    int rc = mpx__mgr_incref(s, e, sess);
    if (rc)
        return rc;
    *out = e;
    return 0;
}

int mpx__mgr_incref(mpx_manager_server *s, mpx__mgr_entry *e, mpx__mgr_session *sess)
{
    if (sess && sess_add(sess, e, 1))
        return -ENOMEM;
    if (e->refcount++ == 0)
        s->nlive++;
    return 0;
}

int mpx__mgr_decref(mpx_manager_server *s, mpx__mgr_entry *e, mpx__mgr_session *sess,
                    mpx_referent **dropped)
{
    *dropped = NULL;
    if (e->refcount <= 0)
        return MPX_ESTATE; /* "Id ... has refcount 0, not 1+" */
    if (sess_count(sess, e) > 0)
        sess_add(sess, e, -1); /* cannot fail: the slot exists */
    if (--e->refcount == 0)
        *dropped = at_zero(s, e);
    return 0;
}

mpx_referent *mpx__mgr_entry_done(mpx_manager_server *s, mpx__mgr_entry *e)
{
    if (--e->users > 0 || !e->dead)
        return NULL;
    mpx_referent *r = e->ref;
    free_entry(e);
    return r;
}

void mpx__mgr_table_clear(mpx_manager_server *s)
{
    while (s->sessions) {
        mpx__mgr_session *ss = s->sessions;
        s->sessions = ss->next;
        free(ss->slot);
        free(ss);
    }
    for (size_t i = 0; i < s->nbuckets; i++)
        for (mpx__mgr_entry *e = s->buckets[i], *nx; e; e = nx) {
            nx = e->next;
            mpx_referent_decref(e->ref);
            free_entry(e);
        }
    free(s->buckets);
    s->buckets = NULL;
    s->nbuckets = s->nentries = s->nlive = 0;
}
