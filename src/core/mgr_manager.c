/*
 * mgr_manager.c - managers (#16, MGR-01..08, MGR-13..16, AUTH-03/05,
 * LOG-05; CPython's BaseManager and Manager()): start (the server in a
 * child process under any start method, reporting its address through a
 * pipe), get_server, connect, shutdown (with terminate and kill after the
 * timeout), the process's key as default, creation of shared objects, and
 * the exit hook that shuts down every manager this process started.
 */
#include "core/fnref.h"
#include "core/mgr_client.h"
#include "core/process_internal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { M_INITIAL, M_STARTED, M_SHUTDOWN };

struct mpx_manager {
    uint32_t magic;
    mpx_manager_registry *reg;
    char *address;
    int family;
    unsigned char *key;
    size_t keylen;
    mpx_context *ctx;
    mpx_duration shutdown_timeout;
    int state;
    mpx_process *proc; /* the server, after start */
    pid_t creator;
    mpx__mgr_client *cl;
    struct mpx_manager *next_started;
};

static pthread_mutex_t started_mu = PTHREAD_MUTEX_INITIALIZER;
static mpx_manager *started;
static pthread_once_t hook_once = PTHREAD_ONCE_INIT;

static int mvalid(const mpx_manager *m)
{
    return m && m->magic == MPX__MGR_MAGIC;
}

MPX_API int mpx_manager_create(mpx_manager **out, const mpx_manager_registry *registry,
                               const mpx_manager_opts *opts)
{
    if (!out || (registry && registry->magic != MPX__REG_MAGIC))
        return MPX_EINVAL;
    mpx_manager_opts o = {0};
    if (opts)
        o = *opts;
    if (o.serializer == MPX_MANAGER_XMLRPCLIB)
        return MPX_ENOTSUP;
    if (o.serializer != MPX_MANAGER_PICKLE || (o.authkey == NULL && o.authkey_len) ||
        o.family < 0 || o.family > MPX_AF_INET6)
        return MPX_EINVAL;
    if (!registry)
        registry = mpx_manager_sync_registry();
    if (!registry)
        return -ENOMEM;
    mpx_manager *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->magic = MPX__MGR_MAGIC;
    m->reg = mpx__mgr_registry_ref(registry);
    m->family = o.family;
    m->ctx = o.ctx;
    m->creator = getpid();
    m->shutdown_timeout = o.shutdown_timeout == 0 ? 1000 : o.shutdown_timeout;
    unsigned char pk[MPX__AUTHKEY_MAX];
    const void *key = o.authkey;
    size_t keylen = o.authkey_len;
    if (!key) { /* MGR-04: the current process's key */
        int n = mpx_process_authkey(mpx_current_process(), pk, sizeof pk);
        if (n < 0) {
            mpx_manager_destroy(m);
            return n;
        }
        key = pk;
        keylen = (size_t)n;
    }
    m->key = malloc(keylen ? keylen : 1);
    if (!m->key || (o.address && !(m->address = strdup(o.address)))) {
        mpx_manager_destroy(m);
        return -ENOMEM;
    }
    memcpy(m->key, key, keylen);
    m->keylen = keylen;
    memset(pk, 0, sizeof pk);
    *out = m;
    return 0;
}

MPX_API const char *mpx_manager_address(const mpx_manager *m)
{
    return mvalid(m) ? m->address : NULL;
}

MPX_API pid_t mpx_manager_pid(const mpx_manager *m)
{
    return mvalid(m) && m->proc ? mpx_process_pid(m->proc) : 0;
}

static int attach_client(mpx_manager *m)
{
    return mpx__mgr_client_get(m->address, m->key, m->keylen, &m->cl);
}

/* ---- the server process --------------------------------------------------------------------- */

/* Arguments of the server's target: 0 registry, 1 address ("" none), 2
 * family, 3 key, 4 the writer connection, 5 the initializer (a function
 * reference), then the initializer's own arguments. */
#define SRV_NARGS 6

static int copy_arg(mpx_args *to, const mpx_args *from, size_t i)
{
    switch (mpx_args_type(from, i)) {
    case MPX_ARG_INT: return mpx_args_add_int(to, mpx_args_int(from, i));
    case MPX_ARG_DOUBLE: return mpx_args_add_double(to, mpx_args_double(from, i));
    case MPX_ARG_STR: return mpx_args_add_str(to, mpx_args_str(from, i));
    case MPX_ARG_BYTES: {
        const void *p;
        size_t n;
        mpx_args_get_bytes(from, i, &p, &n);
        return mpx_args_add_bytes(to, p, n);
    }
    case MPX_ARG_FD: return mpx_args_add_fd(to, mpx_args_fd(from, i));
    case MPX_ARG_OBJECT: return mpx_args_add_object(to, mpx_args_object(from, i));
    default: return MPX_EINVAL;
    }
}

static void report(mpx_connection *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(mpx_connection *w, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mpx_connection_send_bytes(w, msg, n < (int)sizeof msg ? (size_t)n : sizeof msg - 1);
    mpx_connection_close(w);
}

int mpx__mgr_server_main(const mpx_args *a)
{
    /* bpo-36368: the server ignores Ctrl-C meant for its parent */
    signal(SIGINT, SIG_IGN);
    const void *blob, *key, *fnb;
    size_t bloblen, keylen, fnlen;
    int64_t family = 0;
    const char *address;
    void *wobj;
    if (mpx_args_get_bytes(a, 0, &blob, &bloblen) || mpx_args_get_str(a, 1, &address) ||
        mpx_args_get_int(a, 2, &family) || mpx_args_get_bytes(a, 3, &key, &keylen) ||
        mpx_args_get_object(a, 4, "connection", &wobj) ||
        mpx_args_get_bytes(a, 5, &fnb, &fnlen))
        return MPX_EINVAL;
    mpx_connection *w = wobj;
    mpx__rd rd = {blob, bloblen};
    mpx_manager_registry *reg;
    int rc = mpx__mgr_registry_decode(&rd, &reg);
    if (rc) {
        report(w, "ERR %d", rc);
        return 1;
    }
    mpx__rd frd = {fnb, fnlen};
    mpx__fnptr fn = NULL;
    rc = mpx__fnref_decode(&frd, &fn);
    if (!rc && fn) {
        mpx_args *ia;
        rc = mpx_args_create(&ia);
        for (size_t i = SRV_NARGS; !rc && i < mpx_args_count(a); i++)
            rc = copy_arg(ia, a, i);
        if (!rc) {
            rc = ((mpx_target_fn)fn)(ia);
            if (rc > 0)
                rc = MPX_ETASK;
        }
        mpx_args_destroy(ia);
    }
    if (rc) {
        mpx__mgr_registry_unref(reg);
        report(w, "ERR %d", rc);
        return 1;
    }
    /* the server ends when its parent ends, even a killed one */
    mpx_process *parent = mpx_parent_process();
    int pfd = parent ? mpx_process_sentinel(parent) : -1;
    mpx_manager_server *s;
    rc = mpx__mgr_server_new(&s, reg, address[0] ? address : NULL, (int)family, key, keylen,
                             pfd >= 0 ? pfd : -1);
    mpx__mgr_registry_unref(reg);
    if (rc) {
        report(w, "ERR %d", rc);
        return 1;
    }
    report(w, "OK %s", s->address);
    mpx_obj *pa = mpx__mgr_addr_to_py(s->address);
    char *r = pa ? mpx_obj_repr(pa) : NULL;
    MPX__INFO("manager serving at %s", r ? r : s->address);
    mpx_free(r);
    mpx_obj_decref(pa);
    mpx_manager_server_serve_forever(s);
    mpx_manager_server_destroy(s);
    MPX__INFO("manager exiting with exitcode 0");
    return 0;
}

static void at_exit_register(void);

MPX_API int mpx_manager_start(mpx_manager *m, mpx_target_fn initializer,
                              const mpx_args *initargs)
{
    if (!mvalid(m))
        return MPX_EINVAL;
    if (m->state != M_INITIAL)
        return MPX_ESTATE;
    pthread_once(&hook_once, at_exit_register);
    mpx__buf blob, fnb;
    mpx__buf_init(&blob);
    mpx__buf_init(&fnb);
    mpx_connection *r = NULL, *w = NULL;
    mpx_args *a = NULL;
    mpx_process *p = NULL;
    int rc = mpx__mgr_registry_encode(m->reg, m->ctx, &blob);
    if (!rc)
        rc = mpx__fnref_encode(m->ctx, (mpx__fnptr)initializer, &fnb);
    if (!rc)
        rc = mpx_pipe(&r, &w, 0);
    if (!rc)
        rc = mpx_args_create(&a);
    if (!rc)
        rc = mpx_args_add_bytes(a, blob.data, blob.len);
    if (!rc)
        rc = mpx_args_add_str(a, m->address ? m->address : "");
    if (!rc)
        rc = mpx_args_add_int(a, m->family);
    if (!rc)
        rc = mpx_args_add_bytes(a, m->key, m->keylen);
    if (!rc)
        rc = mpx_args_add_object(a, w);
    if (!rc)
        rc = mpx_args_add_bytes(a, fnb.data, fnb.len);
    for (size_t i = 0; !rc && initargs && i < mpx_args_count(initargs); i++)
        rc = copy_arg(a, initargs, i);
    mpx_process_opts po = {0};
    po.ctx = m->ctx;
    if (!rc)
        rc = mpx_process_create(&p, mpx__mgr_server_main, a, &po);
    if (!rc) {
        /* "SyncManager-1": the class name and the process's identity */
        const char *dflt = mpx_process_name(p);
        const char *id = strncmp(dflt, "Process-", 8) == 0 ? dflt + 8 : dflt;
        char name[256];
        snprintf(name, sizeof name, "%s-%s", m->reg->name, id);
        mpx_process_set_name(p, name);
        rc = mpx_process_start(p);
    }
    mpx_args_destroy(a);
    mpx__buf_free(&blob);
    mpx__buf_free(&fnb);
    mpx_connection_destroy(w); /* the child has its own copy */
    void *msg = NULL;
    size_t n = 0;
    if (!rc) {
        rc = mpx_connection_recv_bytes(r, &msg, &n);
        if (rc == 0 && n > 3 && memcmp(msg, "OK ", 3) == 0) {
            char *addr = strndup((char *)msg + 3, n - 3);
            if (!addr)
                rc = -ENOMEM;
            else {
                free(m->address);
                m->address = addr;
            }
        } else if (rc == 0 && n > 4 && memcmp(msg, "ERR ", 4) == 0) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(n - 4 < 31 ? n - 4 : 31), (char *)msg + 4);
            rc = atoi(tmp);
            if (rc >= 0)
                rc = MPX_EBROKEN;
        } else if (rc == 0 || rc == MPX_EEOF) {
            rc = MPX_EBROKEN; /* the server ended without a word */
        }
        mpx_free(msg);
        if (rc) {
            mpx_process_join(p, 5000);
            if (mpx_process_is_alive(p) == 1) {
                mpx_process_kill(p);
                mpx_process_join(p, MPX_FOREVER);
            }
        }
    }
    mpx_connection_destroy(r);
    if (!rc)
        rc = attach_client(m);
    if (rc) {
        mpx_process_destroy(p);
        return rc;
    }
    m->proc = p;
    m->state = M_STARTED;
    pthread_mutex_lock(&started_mu);
    m->next_started = started;
    started = m;
    pthread_mutex_unlock(&started_mu);
    return 0;
}

MPX_API int mpx_manager_new(mpx_manager **out, const mpx_manager_opts *opts)
{
    mpx_manager *m;
    int rc = mpx_manager_create(&m, NULL, opts);
    if (rc)
        return rc;
    if ((rc = mpx_manager_start(m, NULL, NULL))) {
        mpx_manager_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

MPX_API int mpx_manager_connect(mpx_manager *m)
{
    if (!mvalid(m))
        return MPX_EINVAL;
    if (m->state != M_INITIAL)
        return MPX_ESTATE;
    if (!m->address)
        return MPX_EINVAL;
    mpx_obj *r = NULL;
    int rc = mpx__mgr_dispatch_once(m->address, m->key, m->keylen, "dummy", NULL, NULL, &r, NULL);
    mpx_obj_decref(r);
    if (!rc)
        rc = attach_client(m);
    if (!rc)
        m->state = M_STARTED;
    return rc;
}

static void unlist(mpx_manager *m)
{
    pthread_mutex_lock(&started_mu);
    for (mpx_manager **pp = &started; *pp; pp = &(*pp)->next_started)
        if (*pp == m) {
            *pp = m->next_started;
            break;
        }
    pthread_mutex_unlock(&started_mu);
}

/* _finalize_manager: ask, wait, terminate, wait, kill. */
static void finalize(mpx_manager *m)
{
    mpx_process *p = m->proc;
    if (mpx_process_is_alive(p) == 1) {
        MPX__INFO("sending shutdown message to manager");
        mpx_obj *r = NULL;
        mpx__mgr_dispatch_once(m->address, m->key, m->keylen, "shutdown", NULL, NULL, &r, NULL);
        mpx_obj_decref(r);
        mpx_process_join(p, m->shutdown_timeout);
        if (mpx_process_is_alive(p) == 1) {
            MPX__INFO("manager still alive");
            MPX__INFO("trying to `terminate()` manager process");
            mpx_process_terminate(p);
            mpx_process_join(p, m->shutdown_timeout);
            if (mpx_process_is_alive(p) == 1) {
                MPX__INFO("manager still alive after terminate");
                mpx_process_kill(p);
                mpx_process_join(p, MPX_FOREVER);
            }
        }
    }
    m->state = M_SHUTDOWN;
}

MPX_API int mpx_manager_shutdown(mpx_manager *m)
{
    if (!mvalid(m))
        return MPX_EINVAL;
    if (m->state != M_STARTED || !m->proc || m->creator != getpid())
        return 0;
    unlist(m);
    finalize(m);
    return 0;
}

MPX_API int mpx_manager_join(mpx_manager *m, mpx_duration timeout)
{
    if (!mvalid(m))
        return MPX_EINVAL;
    if (!m->proc || m->creator != getpid())
        return 1;
    mpx_process_join(m->proc, timeout);
    return mpx_process_is_alive(m->proc) == 1 ? 0 : 1;
}

MPX_API void mpx_manager_destroy(mpx_manager *m)
{
    if (!mvalid(m))
        return;
    if (m->creator == getpid()) {
        mpx_manager_shutdown(m);
        mpx_process_destroy(m->proc);
    } else {
        unlist(m);
    }
    mpx__mgr_client_unref(m->cl);
    mpx__mgr_registry_unref(m->reg);
    if (m->key)
        memset(m->key, 0, m->keylen);
    free(m->key);
    free(m->address);
    m->magic = 0;
    free(m);
}

/* At exit, before children are joined: CPython's manager finalizers
 * (exit priority 0; the proxies' are mgr_client.c's). */
static void at_exit(void)
{
    for (;;) {
        pthread_mutex_lock(&started_mu);
        mpx_manager *m = started;
        while (m && m->creator != getpid())
            m = m->next_started;
        pthread_mutex_unlock(&started_mu);
        if (!m)
            break;
        unlist(m);
        if (m->state == M_STARTED)
            finalize(m);
    }
}

static void at_exit_register(void) { mpx__process_on_exit(at_exit); }

/* ---- get_server -------------------------------------------------------------------------- */

MPX_API int mpx_manager_get_server(mpx_manager *m, mpx_manager_server **out)
{
    if (!mvalid(m) || !out)
        return MPX_EINVAL;
    if (m->state != M_INITIAL)
        return MPX_ESTATE;
    return mpx__mgr_server_new(out, m->reg, m->address, m->family, m->key, m->keylen, -1);
}

/* ---- creating objects ----------------------------------------------------------------------- */

MPX_API int mpx_manager_make(mpx_manager *m, const char *typeid, const mpx_obj *args,
                             const mpx_obj *kwds, mpx_proxy **out)
{
    if (!mvalid(m) || !typeid || !out || (args && mpx_obj_typeof(args) != MPX_OBJ_TUPLE) ||
        (kwds && mpx_obj_typeof(kwds) != MPX_OBJ_DICT))
        return MPX_EINVAL;
    if (m->state != M_STARTED || !m->cl)
        return MPX_ESTATE;
    const mpx__mgr_type *t = mpx__mgr_registry_find(m->reg, typeid);
    if (!t || t->no_create_method)
        return MPX_EINVAL;
    return mpx__mgr_client_create(m->cl, m->reg, typeid, args, kwds, out);
}

/* Make typeid with one argument (or none when arg is NULL). */
static int make1(mpx_manager *m, const char *typeid, mpx_obj *arg, bool has_arg,
                 mpx_proxy **out)
{
    if (has_arg && !arg)
        return -ENOMEM;
    mpx_obj *a = has_arg ? mpx_obj_build("(N)", arg) : NULL;
    if (has_arg && !a)
        return -ENOMEM;
    int rc = mpx_manager_make(m, typeid, a, NULL, out);
    mpx_obj_decref(a);
    return rc;
}

MPX_API int mpx_manager_dict(mpx_manager *m, const mpx_obj *init, mpx_proxy **out)
{
    return make1(m, "dict", init ? mpx_obj_incref((mpx_obj *)init) : NULL, init != NULL, out);
}

MPX_API int mpx_manager_list(mpx_manager *m, const mpx_obj *init, mpx_proxy **out)
{
    return make1(m, "list", init ? mpx_obj_incref((mpx_obj *)init) : NULL, init != NULL, out);
}

MPX_API int mpx_manager_namespace(mpx_manager *m, mpx_proxy **out)
{
    return make1(m, "Namespace", NULL, false, out);
}

MPX_API int mpx_manager_value(mpx_manager *m, const char *typecode, const mpx_obj *value,
                              mpx_proxy **out)
{
    if (!typecode || !value)
        return MPX_EINVAL;
    mpx_obj *a = mpx_obj_build("(sO)", typecode, value);
    if (!a)
        return -ENOMEM;
    int rc = mpx_manager_make(m, "Value", a, NULL, out);
    mpx_obj_decref(a);
    return rc;
}

MPX_API int mpx_manager_array(mpx_manager *m, const char *typecode, const mpx_obj *sequence,
                              mpx_proxy **out)
{
    if (!typecode || !sequence)
        return MPX_EINVAL;
    mpx_obj *a = mpx_obj_build("(sO)", typecode, sequence);
    if (!a)
        return -ENOMEM;
    int rc = mpx_manager_make(m, "Array", a, NULL, out);
    mpx_obj_decref(a);
    return rc;
}

MPX_API int mpx_manager_queue(mpx_manager *m, int64_t maxsize, mpx_proxy **out)
{
    return make1(m, "Queue", mpx_obj_int(maxsize), true, out);
}

MPX_API int mpx_manager_joinable_queue(mpx_manager *m, int64_t maxsize, mpx_proxy **out)
{
    return make1(m, "JoinableQueue", mpx_obj_int(maxsize), true, out);
}

MPX_API int mpx_manager_lock(mpx_manager *m, mpx_proxy **out)
{
    return make1(m, "Lock", NULL, false, out);
}

MPX_API int mpx_manager_rlock(mpx_manager *m, mpx_proxy **out)
{
    return make1(m, "RLock", NULL, false, out);
}

MPX_API int mpx_manager_semaphore(mpx_manager *m, int64_t value, mpx_proxy **out)
{
    return make1(m, "Semaphore", mpx_obj_int(value), true, out);
}

MPX_API int mpx_manager_bounded_semaphore(mpx_manager *m, int64_t value, mpx_proxy **out)
{
    return make1(m, "BoundedSemaphore", mpx_obj_int(value), true, out);
}

MPX_API int mpx_manager_condition(mpx_manager *m, mpx_proxy *lock, mpx_proxy **out)
{
    if (!lock)
        return make1(m, "Condition", NULL, false, out);
    return make1(m, "Condition", mpx_proxy_to_obj(lock), true, out);
}

MPX_API int mpx_manager_event(mpx_manager *m, mpx_proxy **out)
{
    return make1(m, "Event", NULL, false, out);
}

MPX_API int mpx_manager_barrier(mpx_manager *m, int parties, mpx_duration timeout,
                                mpx_proxy **out)
{
    mpx_obj *a = timeout == MPX_FOREVER
                     ? mpx_obj_build("(iOO)", parties, mpx_obj_none(), mpx_obj_none())
                     : mpx_obj_build("(iOd)", parties, mpx_obj_none(),
                                     timeout <= 0 ? 0.0 : (double)timeout / 1000.0);
    if (!a)
        return -ENOMEM;
    int rc = mpx_manager_make(m, "Barrier", a, NULL, out);
    mpx_obj_decref(a);
    return rc;
}

/* ---- introspection -------------------------------------------------------------------------- */

MPX_API int64_t mpx_manager_number_of_objects(mpx_manager *m)
{
    if (!mvalid(m))
        return MPX_EINVAL;
    if (m->state != M_STARTED)
        return MPX_ESTATE;
    mpx_obj *r = NULL;
    int rc = mpx__mgr_dispatch_once(m->address, m->key, m->keylen, "number_of_objects", NULL,
                                    NULL, &r, NULL);
    int64_t n = 0;
    if (!rc && mpx_obj_get_int(r, &n))
        rc = MPX_EPROTO;
    mpx_obj_decref(r);
    return rc ? rc : n;
}

MPX_API int mpx_manager_debug_info(mpx_manager *m, char **out)
{
    if (!mvalid(m) || !out)
        return MPX_EINVAL;
    if (m->state != M_STARTED)
        return MPX_ESTATE;
    mpx_obj *r = NULL;
    int rc = mpx__mgr_dispatch_once(m->address, m->key, m->keylen, "debug_info", NULL, NULL, &r,
                                    NULL);
    const char *s = rc ? NULL : mpx_obj_str_value(r);
    if (!rc && !s)
        rc = MPX_EPROTO;
    if (!rc && !(*out = strdup(s)))
        rc = -ENOMEM;
    mpx_obj_decref(r);
    return rc;
}
