/*
 * mgr_client.c - the client side of managers (#16; CPython's dispatch,
 * BaseProxy._connect / _callmethod / _incref / _decref): one state per
 * (manager address, key) in each process, a connection per thread to each
 * manager (GUIDE-03: a proxy may be used from any thread; an RLock is
 * owned by the thread that took it, because its connection is served by
 * its own thread in the manager, as in CPython), requests and replies.
 *
 * With an mpx server, a client announces a session (a random id per
 * process) on each of its connections and sends its control requests
 * (create, incref, decref) over them: a create is one round trip, and the
 * references die with the process. With a CPython server (which answers
 * the announcement with '#TRACEBACK') it does what CPython's client does:
 * a new connection per control request.
 *
 * Fork: a child finds the state of its parent; on first use it drops the
 * parent's connections (closing only its own copies), takes a new session
 * and takes its own reference for every proxy it inherited (CPython's
 * BaseProxy._after_fork).
 */
#include "core/mgr_client.h"
#include "core/mgr_local.h"
#include "core/process_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* All client states and their channels: one lock (never held across I/O). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static mpx__mgr_client *g_clients;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;

/* A thread's connections: (client, generation) -> channel. */
typedef struct tls_slot {
    mpx__mgr_client *cl;
    uint64_t gen;
    mpx__mgr_chan *ch;
} tls_slot;

typedef struct tls_tab {
    tls_slot *v;
    size_t n, cap;
    pid_t pid;
} tls_tab;

static __thread tls_tab *t_tab;

static void prep(void) { pthread_mutex_lock(&g_mu); }
static void unprep(void) { pthread_mutex_unlock(&g_mu); }

/* Thread exit: its channels go back to their client's idle list. */
static void tls_dtor(void *p)
{
    tls_tab *t = p;
    if (!t)
        return;
    if (t->pid == getpid()) {
        pthread_mutex_lock(&g_mu);
        for (size_t i = 0; i < t->n; i++) {
            tls_slot *s = &t->v[i];
            if (s->ch && s->cl->gen == s->gen && s->cl->pid == t->pid) {
                s->ch->next_idle = s->cl->idle;
                s->cl->idle = s->ch;
            }
        }
        pthread_mutex_unlock(&g_mu);
    }
    free(t->v);
    free(t);
    t_tab = NULL;
}

static void register_exit(void);

static void g_init(void)
{
    pthread_key_create(&g_key, tls_dtor);
    pthread_atfork(prep, unprep, unprep);
    register_exit();
}

/* ---- client states -------------------------------------------------------------------- */

static void new_session(mpx__mgr_client *cl)
{
    if (getrandom(cl->session, sizeof cl->session, 0) != (ssize_t)sizeof cl->session) {
        uint64_t x = (uint64_t)mpx__now_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)cl;
        memcpy(cl->session, &x, sizeof x);
        memcpy(cl->session + 8, &cl, sizeof cl < 8 ? sizeof cl : 8);
    }
}

int mpx__mgr_client_get(const char *address, const void *key, size_t keylen,
                        mpx__mgr_client **out)
{
    pthread_once(&g_once, g_init);
    if (!address)
        return MPX_EINVAL;
    pthread_mutex_lock(&g_mu);
    mpx__mgr_client *cl;
    for (cl = g_clients; cl; cl = cl->next)
        if (strcmp(cl->address, address) == 0 && cl->keylen == keylen &&
            memcmp(cl->key, key, keylen) == 0)
            break;
    if (!cl) {
        cl = calloc(1, sizeof *cl);
        if (cl && (!(cl->address = strdup(address)) || !(cl->key = malloc(keylen ? keylen : 1)))) {
            free(cl->address);
            free(cl);
            cl = NULL;
        }
        if (!cl) {
            pthread_mutex_unlock(&g_mu);
            return -ENOMEM;
        }
        memcpy(cl->key, key, keylen);
        cl->keylen = keylen;
        cl->pid = mpx__self_pid;
        cl->gen = 1;
        new_session(cl);
        cl->next = g_clients;
        g_clients = cl;
    }
    cl->refs++;
    pthread_mutex_unlock(&g_mu);
    *out = cl;
    return 0;
}

/* Close every channel of cl (g_mu held); the connections to destroy are
 * returned in a list to destroy outside the lock. */
static mpx__mgr_chan *detach_chans(mpx__mgr_client *cl)
{
    mpx__mgr_chan *list = cl->chans;
    cl->chans = cl->idle = NULL;
    cl->gen++;
    return list;
}

static void destroy_chans(mpx__mgr_chan *list)
{
    while (list) {
        mpx__mgr_chan *n = list->next_all;
        mpx_connection_destroy(list->c);
        mpx__mgr_rbuf_free(&list->rb);
        mpx__mgr_local_close(list->local);
        free(list);
        list = n;
    }
}

void mpx__mgr_client_unref(mpx__mgr_client *cl)
{
    if (!cl)
        return;
    pthread_mutex_lock(&g_mu);
    mpx__mgr_chan *drop = NULL;
    if (--cl->refs == 0 && cl->pid == mpx__self_pid)
        drop = detach_chans(cl); /* no proxy left: the server may forget us */
    pthread_mutex_unlock(&g_mu);
    destroy_chans(drop);
}

/* ---- replies --------------------------------------------------------------------------- */

/* The exception type named on the last line of a traceback text. */
static void traceback_type(const char *text, char *type, size_t cap)
{
    snprintf(type, cap, "RemoteError");
    if (!text)
        return;
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    const char *line = end;
    while (line > text && line[-1] != '\n')
        line--;
    const char *colon = memchr(line, ':', (size_t)(end - line));
    size_t n = colon ? (size_t)(colon - line) : (size_t)(end - line);
    if (n == 0 || n >= cap)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = line[i];
        if (!(c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9')))
            return;
    }
    memcpy(type, line, n);
    type[n] = 0;
}

int mpx__mgr_reply_result(const mpx_obj *reply, mpx_obj **value, const mpx_obj **proxy_part,
                          mpx_remote_error *err)
{
    const char *kind = NULL;
    if (!reply || mpx_obj_typeof(reply) != MPX_OBJ_TUPLE || mpx_obj_len(reply) != 2 ||
        !(kind = mpx_obj_str_value(mpx_obj_item(reply, 0)))) {
        if (err) {
            err->kind = MPX_REMOTE_PROTOCOL;
            err->code = MPX_EPROTO;
            snprintf(err->type, sizeof err->type, "ValueError");
            err->text = strdup("a reply is (kind, result)");
        }
        return MPX_EPROTO;
    }
    mpx_obj *res = mpx_obj_item(reply, 1);
    if (strcmp(kind, "#RETURN") == 0) {
        if (value)
            *value = mpx_obj_incref(res);
        return 0;
    }
    if (strcmp(kind, "#PROXY") == 0) {
        *proxy_part = res;
        return 1;
    }
    int code = MPX_EREMOTE;
    if (strcmp(kind, "#ERROR") == 0) {
        char type[128];
        char *text;
        code = mpx__mgr_exc_describe(res, type, sizeof type, &text);
        if (err) {
            err->kind = MPX_REMOTE_EXCEPTION;
            memcpy(err->type, type, sizeof err->type);
            err->text = text;
            err->exc = mpx_obj_incref(res);
        } else {
            free(text);
        }
    } else if (strcmp(kind, "#TRACEBACK") == 0 || strcmp(kind, "#UNSERIALIZABLE") == 0) {
        const char *t = mpx_obj_str_value(res);
        if (err) {
            err->kind = kind[1] == 'T' ? MPX_REMOTE_TRACEBACK : MPX_REMOTE_UNSERIALIZABLE;
            traceback_type(t, err->type, sizeof err->type);
            err->text = strdup(t ? t : "(traceback is not a str)");
        }
    } else if (err) {
        err->kind = MPX_REMOTE_PROTOCOL;
        snprintf(err->type, sizeof err->type, "ValueError");
        if (asprintf(&err->text, "Unrecognized message type '%s'", kind) < 0)
            err->text = NULL;
    }
    if (err)
        err->code = code;
    return code;
}

MPX_API void mpx_remote_error_clear(mpx_remote_error *e)
{
    if (!e)
        return;
    free(e->text);
    mpx_obj_decref(e->exc);
    memset(e, 0, sizeof *e);
}

/* ---- requests over a connection ----------------------------------------------------------- */

/* Pickle (ident, method, args, kwds). */
static int encode_request(const char *ident, const char *method, const mpx_obj *args,
                          const mpx_obj *kwds, void **buf, size_t *len)
{
    /* built directly: this runs on every call */
    mpx_obj *req = mpx_obj_tuple(4);
    if (!req || mpx_obj_tuple_set_new(req, 0, ident ? mpx_obj_str(ident)
                                                    : mpx_obj_incref(mpx_obj_none())) ||
        mpx_obj_tuple_set_new(req, 1, mpx_obj_str(method)) ||
        mpx_obj_tuple_set_new(req, 2, args ? mpx_obj_incref((mpx_obj *)args) : mpx_obj_tuple(0)) ||
        mpx_obj_tuple_set_new(req, 3, kwds ? mpx_obj_incref((mpx_obj *)kwds) : mpx_obj_dict())) {
        mpx_obj_decref(req);
        return -ENOMEM;
    }
    int rc = mpx__mgr_dumps(req, buf, len);
    mpx_obj_decref(req);
    return rc;
}

/* The reply to a request already sent on c. */
static int recv_reply(mpx_connection *c, mpx__mgr_rbuf *rb, mpx_obj **reply, bool *broken)
{
    const unsigned char *m;
    void *msg = NULL;
    size_t n;
    int rc = rb ? mpx__mgr_recv_msg(mpx_connection_fileno(c), rb, SIZE_MAX, &m, &n)
                : mpx_connection_recv_bytes(c, &msg, &n);
    if (rc) {
        if (broken)
            *broken = true;
        return rc;
    }
    if (!rb)
        return mpx__mgr_loads(reply, msg, n);
    return mpx_obj_loads(reply, m, n, NULL, NULL);
}

static int exchange(mpx_connection *c, mpx__mgr_rbuf *rb, const void *buf, size_t len,
                    mpx_obj **reply, bool *broken)
{
    int rc = mpx_connection_send_bytes(c, buf, len);
    if (rc) {
        if (broken)
            *broken = true;
        return rc;
    }
    return recv_reply(c, rb, reply, broken);
}

int mpx__mgr_request(mpx_connection *c, mpx__mgr_rbuf *rb, const char *ident,
                     const char *method, const mpx_obj *args, const mpx_obj *kwds,
                     mpx_obj **reply, bool *broken)
{
    void *buf;
    size_t len;
    int rc = encode_request(ident, method, args, kwds, &buf, &len);
    if (rc)
        return rc;
    rc = exchange(c, rb, buf, len, reply, broken);
    mpx_free(buf);
    return rc;
}

static int client_opts(mpx_client_opts *o, const void *key, size_t keylen)
{
    memset(o, 0, sizeof *o);
    o->authkey = keylen ? key : "";
    o->authkey_len = keylen;
    return 0;
}

int mpx__mgr_dispatch_once(const char *address, const void *key, size_t keylen,
                           const char *method, const mpx_obj *args, const mpx_obj *kwds,
                           mpx_obj **result, mpx_remote_error *err)
{
    mpx_client_opts o;
    client_opts(&o, key, keylen);
    mpx_connection *c;
    int rc = mpx_client_connect(&c, address, &o);
    if (rc)
        return rc;
    mpx_obj *reply = NULL;
    rc = mpx__mgr_request(c, NULL, NULL, method, args, kwds, &reply, NULL);
    mpx_connection_destroy(c);
    if (rc)
        return rc;
    const mpx_obj *pp;
    rc = mpx__mgr_reply_result(reply, result, &pp, err);
    mpx_obj_decref(reply);
    return rc == 1 ? MPX_EPROTO : rc;
}

/* ---- channels ------------------------------------------------------------------------------ */

/* In a fork child (or after the state was reset): forget the parent's
 * channels and session; re-take a reference for every proxy we inherited
 * that held one. g_mu held on entry, released on return. */
static void reset_for_process(mpx__mgr_client *cl)
{
    mpx__mgr_chan *old = detach_chans(cl);
    cl->pid = mpx__self_pid;
    new_session(cl);
    size_t n = 0;
    for (mpx_proxy *p = cl->proxies; p; p = p->next)
        if (p->has_ref)
            n++;
    mpx_proxy **v = n ? calloc(n, sizeof *v) : NULL;
    size_t k = 0;
    for (mpx_proxy *p = cl->proxies; p && v; p = p->next)
        if (p->has_ref) {
            p->has_ref = false; /* the parent's reference, not ours */
            p->pending_ref = true;
            v[k++] = p;
        }
    pthread_mutex_unlock(&g_mu);
    /* the parent's copies of the connections are the parent's: close ours
     * without telling the server anything (no shutdown) */
    destroy_chans(old);
    for (size_t i = 0; i < k; i++)
        mpx__mgr_proxy_take_ref(v[i]);
    free(v);
}

static tls_slot *tls_find(mpx__mgr_client *cl)
{
    tls_tab *t = t_tab;
    if (!t || t->pid != mpx__self_pid)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].cl == cl)
            return &t->v[i];
    return NULL;
}

static int tls_put(mpx__mgr_client *cl, uint64_t gen, mpx__mgr_chan *ch)
{
    tls_tab *t = t_tab;
    if (t && t->pid != mpx__self_pid) {
        /* a fork child's copy of its parent's thread table */
        t->n = 0;
        t->pid = mpx__self_pid;
    }
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t)
            return -ENOMEM;
        t->pid = mpx__self_pid;
        t_tab = t;
        pthread_setspecific(g_key, t);
    }
    tls_slot *s = tls_find(cl);
    if (!s) {
        if (t->n == t->cap) {
            size_t nc = t->cap ? t->cap * 2 : 4;
            tls_slot *v = realloc(t->v, nc * sizeof *v);
            if (!v)
                return -ENOMEM;
            t->v = v;
            t->cap = nc;
        }
        s = &t->v[t->n++];
        s->cl = cl;
    }
    s->gen = gen;
    s->ch = ch;
    return 0;
}

/* Open a channel: connect, accept_connection, announce the session. */
static int open_chan(mpx__mgr_client *cl, int kind, mpx__mgr_chan **out, int *kind_out)
{
    MPX__DEBUG("making connection to manager");
    mpx_client_opts o;
    client_opts(&o, cl->key, cl->keylen);
    mpx_connection *c;
    int rc = mpx_client_connect(&c, cl->address, &o);
    if (rc)
        return rc;
    char name[256];
    char tname[64] = "";
    const char *pname = mpx_process_name(mpx_current_process());
    if (getpid() != gettid() && pthread_getname_np(pthread_self(), tname, sizeof tname) == 0 &&
        tname[0])
        snprintf(name, sizeof name, "%s|%s", pname, tname);
    else
        snprintf(name, sizeof name, "%s", pname);
    mpx_obj *args = mpx_obj_build("(s)", name), *reply = NULL;
    rc = args ? mpx__mgr_request(c, NULL, NULL, "accept_connection", args, NULL, &reply, NULL)
              : -ENOMEM;
    mpx_obj_decref(args);
    const mpx_obj *pp;
    if (!rc)
        rc = mpx__mgr_reply_result(reply, NULL, &pp, NULL);
    mpx_obj_decref(reply);
    reply = NULL;
    if (!rc && kind != MPX__MGR_PLAIN) {
        pthread_mutex_lock(&g_mu);
        args = mpx_obj_build("(y#)", (const char *)cl->session, sizeof cl->session);
        pthread_mutex_unlock(&g_mu);
        rc = args ? mpx__mgr_request(c, NULL, NULL, "mpx_session", args, NULL, &reply, NULL)
                  : -ENOMEM;
        mpx_obj_decref(args);
        if (!rc) {
            int r = mpx__mgr_reply_result(reply, NULL, &pp, NULL);
            kind = r == 0 ? MPX__MGR_MPX : MPX__MGR_PLAIN;
        }
        mpx_obj_decref(reply);
    }
    if (rc) {
        mpx_connection_destroy(c);
        return rc < 0 ? rc : MPX_EPROTO;
    }
    mpx__mgr_chan *ch = calloc(1, sizeof *ch);
    if (!ch) {
        mpx_connection_destroy(c);
        return -ENOMEM;
    }
    ch->c = c;
    /* a local mpx server: calls go through shared memory (mgr_local.c) */
    pthread_mutex_lock(&g_mu);
    bool try_local = !cl->no_local;
    pthread_mutex_unlock(&g_mu);
    if (kind == MPX__MGR_MPX && try_local && mpx__mgr_local_wanted(cl->address)) {
        rc = mpx__mgr_local_open(c, &ch->local);
        if (rc) {
            ch->local = NULL;
            pthread_mutex_lock(&g_mu);
            cl->no_local = true; /* the server does not offer it: sockets from now on */
            pthread_mutex_unlock(&g_mu);
            if (rc != MPX_ENOTSUP) { /* the stream may be out of step: start again */
                mpx_connection_destroy(c);
                free(ch);
                return open_chan(cl, kind, out, kind_out);
            }
        }
    }
    *out = ch;
    *kind_out = kind;
    return 0;
}

int mpx__mgr_chan_get(mpx__mgr_client *cl, mpx__mgr_chan **out)
{
    pthread_mutex_lock(&g_mu);
    if (cl->pid != mpx__self_pid) {
        reset_for_process(cl); /* unlocks */
        pthread_mutex_lock(&g_mu);
    }
    tls_slot *s = tls_find(cl);
    if (s && s->gen == cl->gen && s->ch) {
        *out = s->ch;
        pthread_mutex_unlock(&g_mu);
        return 0;
    }
    MPX__DEBUG("thread does not own a connection");
    mpx__mgr_chan *ch = cl->idle;
    if (ch) {
        cl->idle = ch->next_idle;
        ch->next_idle = NULL;
        int rc = tls_put(cl, cl->gen, ch);
        if (rc) {
            ch->next_idle = cl->idle;
            cl->idle = ch;
        }
        pthread_mutex_unlock(&g_mu);
        *out = ch;
        return rc;
    }
    int kind = cl->kind;
    pthread_mutex_unlock(&g_mu);
    int nk;
    int rc = open_chan(cl, kind, &ch, &nk);
    if (rc)
        return rc;
    pthread_mutex_lock(&g_mu);
    cl->kind = nk;
    ch->next_all = cl->chans;
    cl->chans = ch;
    rc = tls_put(cl, cl->gen, ch);
    if (rc) {
        ch->next_idle = cl->idle;
        cl->idle = ch;
    }
    pthread_mutex_unlock(&g_mu);
    *out = ch;
    return rc;
}

/* A channel that failed (server gone, stream out of step): forget it. */
void mpx__mgr_chan_drop(mpx__mgr_client *cl, mpx__mgr_chan *ch)
{
    pthread_mutex_lock(&g_mu);
    bool found = false;
    for (mpx__mgr_chan **pp = &cl->chans; *pp; pp = &(*pp)->next_all)
        if (*pp == ch) {
            *pp = ch->next_all;
            found = true;
            break;
        }
    tls_slot *s = tls_find(cl);
    if (s && s->ch == ch)
        s->ch = NULL;
    pthread_mutex_unlock(&g_mu);
    if (found) {
        mpx_connection_destroy(ch->c);
        mpx__mgr_rbuf_free(&ch->rb);
        mpx__mgr_local_close(ch->local);
        free(ch);
    }
}

/* A request on this thread's channel; *reply a new reference. */
int mpx__mgr_chan_request(mpx__mgr_client *cl, const char *ident, const char *method,
                          const mpx_obj *args, const mpx_obj *kwds, mpx_obj **reply)
{
    mpx__mgr_chan *ch;
    int rc = mpx__mgr_chan_get(cl, &ch);
    if (rc)
        return rc;
    bool broken = false;
    if (ch->local && ident) {
        /* a method call: through the local channel when it fits */
        void *buf;
        size_t len;
        if ((rc = encode_request(ident, method, args, kwds, &buf, &len)))
            return rc;
        bool on_socket;
        rc = mpx__mgr_local_call(ch->local, mpx_connection_fileno(ch->c), buf, len, reply,
                                 &on_socket);
        if (rc == MPX_ETOOBIG)
            rc = exchange(ch->c, &ch->rb, buf, len, reply, &broken);
        else if (rc == 0 && on_socket)
            rc = recv_reply(ch->c, &ch->rb, reply, &broken);
        else if (rc == MPX_EEOF)
            broken = true;
        mpx_free(buf);
    } else {
        rc = mpx__mgr_request(ch->c, &ch->rb, ident, method, args, kwds, reply, &broken);
    }
    if (broken)
        mpx__mgr_chan_drop(cl, ch); /* the connection is gone or out of step */
    return rc;
}

int mpx__mgr_client_kind(mpx__mgr_client *cl)
{
    pthread_mutex_lock(&g_mu);
    int k = cl->kind;
    pthread_mutex_unlock(&g_mu);
    if (k)
        return k;
    /* not known yet: open this thread's channel, which finds out */
    mpx__mgr_chan *ch;
    int rc = mpx__mgr_chan_get(cl, &ch);
    if (rc)
        return rc;
    pthread_mutex_lock(&g_mu);
    k = cl->kind;
    pthread_mutex_unlock(&g_mu);
    return k;
}

/* A control request the way the server wants it: on our channel (mpx
 * server: counted in our session) or on a connection of its own (CPython). */
int mpx__mgr_control(mpx__mgr_client *cl, const char *method, const mpx_obj *args,
                     const mpx_obj *kwds, mpx_obj **result, mpx_remote_error *err)
{
    int kind = mpx__mgr_client_kind(cl);
    if (kind < 0)
        return kind;
    if (kind == MPX__MGR_PLAIN)
        return mpx__mgr_dispatch_once(cl->address, cl->key, cl->keylen, method, args, kwds,
                                      result, err);
    mpx_obj *reply = NULL;
    int rc = mpx__mgr_chan_request(cl, NULL, method, args, kwds, &reply);
    if (rc)
        return rc;
    const mpx_obj *pp;
    rc = mpx__mgr_reply_result(reply, result, &pp, err);
    mpx_obj_decref(reply);
    return rc == 1 ? MPX_EPROTO : rc;
}

/* ---- the proxy list (fork, exit) ------------------------------------------------------------ */

void mpx__mgr_client_link(mpx__mgr_client *cl, mpx_proxy *p)
{
    pthread_mutex_lock(&g_mu);
    p->prev = NULL;
    p->next = cl->proxies;
    if (cl->proxies)
        cl->proxies->prev = p;
    cl->proxies = p;
    cl->refs++;
    pthread_mutex_unlock(&g_mu);
}

void mpx__mgr_client_unlink(mpx__mgr_client *cl, mpx_proxy *p)
{
    pthread_mutex_lock(&g_mu);
    if (p->prev)
        p->prev->next = p->next;
    else if (cl->proxies == p)
        cl->proxies = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    pthread_mutex_unlock(&g_mu);
    mpx__mgr_client_unref(cl);
}

/* 1 when cl belongs to another process (a fork child has not used it yet). */
bool mpx__mgr_client_stale(mpx__mgr_client *cl)
{
    return __atomic_load_n(&cl->pid, __ATOMIC_RELAXED) != mpx__self_pid;
}

void mpx__mgr_client_touch(mpx__mgr_client *cl)
{
    pthread_mutex_lock(&g_mu);
    if (cl->pid != mpx__self_pid)
        reset_for_process(cl); /* unlocks */
    else
        pthread_mutex_unlock(&g_mu);
}

/* At exit (before children are joined): release the references this
 * process holds, as CPython's proxy finalizers do, so that a parent that
 * joined us sees them gone: one request per mpx manager, a decref per
 * proxy for a CPython one. */
static void client_at_exit(void)
{
    pid_t me = getpid();
    for (;;) {
        pthread_mutex_lock(&g_mu);
        mpx__mgr_client *cl = NULL;
        mpx_proxy *p = NULL;
        for (cl = g_clients; cl; cl = cl->next) {
            if (cl->pid != me)
                continue;
            for (p = cl->proxies; p && !p->has_ref; p = p->next)
                ;
            if (p)
                break;
        }
        if (!cl) {
            pthread_mutex_unlock(&g_mu);
            return;
        }
        int kind = cl->kind;
        if (kind == MPX__MGR_MPX)
            for (mpx_proxy *q = cl->proxies; q; q = q->next)
                q->has_ref = false;
        cl->refs++;
        pthread_mutex_unlock(&g_mu);
        if (kind == MPX__MGR_MPX) {
            mpx_obj *r = NULL;
            mpx__mgr_control(cl, "mpx_release", NULL, NULL, &r, NULL);
            mpx_obj_decref(r);
        } else {
            mpx__mgr_proxy_drop_ref(p);
        }
        mpx__mgr_client_unref(cl);
    }
}

static void register_exit(void) { mpx__process_on_exit(client_at_exit); }
