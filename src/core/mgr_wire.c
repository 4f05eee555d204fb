/*
 * mgr_wire.c - the Python values of the manager protocol (#16; CPython's
 * multiprocessing/managers.py, wire-protocol.md section 6): Token,
 * RebuildProxy (a pickled proxy), exceptions, addresses, requests.
 */
#include "core/mgr_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char mpx__mgr_module[] = "multiprocessing.managers";

int mpx__mgr_dumps(const mpx_obj *v, void **buf, size_t *len)
{
    return mpx_obj_dumps(v, MPX_PICKLE_DEFAULT_PROTOCOL, buf, len, NULL, NULL);
}

int mpx__mgr_loads(mpx_obj **out, void *msg, size_t len)
{
    return mpx_obj_loads_take(out, msg, len, NULL, NULL);
}

/* ---- buffered channel reads --------------------------------------------------------- */

int mpx__mgr_recv_msg(int fd, mpx__mgr_rbuf *b, size_t maxlen, const unsigned char **msg,
                      size_t *len)
{
    for (;;) {
        if (b->have > b->off) {
            const unsigned char *m;
            uint64_t n;
            size_t used;
            int rc = mpx__frame_next(b->p + b->off, b->have - b->off, maxlen, &m, &n, &used);
            if (rc == 0) {
                b->off += used;
                *msg = m;
                *len = (size_t)n;
                return 0;
            }
            if (rc != MPX_EEMPTY)
                return rc;
        }
        /* more bytes needed: keep what is there at the front, make room */
        if (b->off) {
            memmove(b->p, b->p + b->off, b->have - b->off);
            b->have -= b->off;
            b->off = 0;
        }
        size_t want = 4096;
        uint64_t n;
        size_t hl;
        if (b->have && mpx__frame_decode(b->p, b->have, &n, &hl) == 0) {
            if (n > maxlen)
                return MPX_ETOOBIG;
            want = hl + (size_t)n;
        }
        if (want > b->cap || b->cap - b->have < 1024) {
            size_t nc = b->cap ? b->cap : 4096;
            while (nc < want || nc - b->have < 1024)
                nc *= 2;
            unsigned char *np = realloc(b->p, nc);
            if (!np)
                return -ENOMEM;
            b->p = np;
            b->cap = nc;
        }
        ssize_t r = read(fd, b->p + b->have, b->cap - b->have);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return b->have ? MPX_EPROTO : MPX_EEOF;
        b->have += (size_t)r;
    }
}

void mpx__mgr_rbuf_free(mpx__mgr_rbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- addresses ------------------------------------------------------------------ */

mpx_obj *mpx__mgr_addr_to_py(const char *a)
{
    if (!a)
        return NULL;
    if (a[0] == '@') {
        size_t n = strlen(a);
        char *s = malloc(n + 1);
        if (!s)
            return NULL;
        s[0] = 0;
        memcpy(s + 1, a + 1, n);
        mpx_obj *v = mpx_obj_strn(s, n);
        free(s);
        return v;
    }
    if (strncmp(a, "unix:", 5) == 0)
        return mpx_obj_str(a + 5);
    if (strchr(a, '/'))
        return mpx_obj_str(a);
    const char *colon = strrchr(a, ':');
    if (!colon)
        return mpx_obj_str(a);
    long port = strtol(colon + 1, NULL, 10);
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        if (!close || close > colon)
            return mpx_obj_str(a);
        return mpx_obj_build("(s#l)", a + 1, (size_t)(close - a - 1), port);
    }
    return mpx_obj_build("(s#l)", a, (size_t)(colon - a), port);
}

char *mpx__mgr_addr_from_py(const mpx_obj *v)
{
    if (!v)
        return NULL;
    mpx_obj_type t = mpx_obj_typeof(v);
    if (t == MPX_OBJ_TUPLE || t == MPX_OBJ_LIST) {
        int64_t n = mpx_obj_len(v);
        const char *host;
        int64_t port;
        if (n < 2 || mpx_obj_get_str(mpx_obj_item(v, 0), &host, NULL) ||
            mpx_obj_get_int(mpx_obj_item(v, 1), &port) || port < 0 || port > 65535)
            return NULL;
        char *out;
        int r = strchr(host, ':') ? asprintf(&out, "[%s]:%lld", host, (long long)port)
                                  : asprintf(&out, "%s:%lld", host, (long long)port);
        return r < 0 ? NULL : out;
    }
    const void *p;
    size_t n;
    if (t == MPX_OBJ_STR) {
        const char *s;
        if (mpx_obj_get_str(v, &s, &n))
            return NULL;
        p = s;
    } else if (t == MPX_OBJ_BYTES) {
        if (mpx_obj_get_bytes(v, &p, &n))
            return NULL;
    } else {
        return NULL;
    }
    const char *s = p;
    if (n == 0)
        return NULL;
    char *out = malloc(n + 6);
    if (!out)
        return NULL;
    if (s[0] == 0) {
        out[0] = '@';
        memcpy(out + 1, s + 1, n - 1);
        out[n] = 0;
    } else if (memchr(s, '/', n)) {
        memcpy(out, s, n);
        out[n] = 0;
    } else {
        memcpy(out, "unix:", 5);
        memcpy(out + 5, s, n);
        out[n + 5] = 0;
    }
    if (strlen(out) != (s[0] == 0 ? n : memchr(s, '/', n) ? n : n + 5)) {
        free(out); /* a NUL inside */
        return NULL;
    }
    return out;
}

/* ---- Token and RebuildProxy ---------------------------------------------------- */

mpx_obj *mpx__mgr_token(const char *typeid, const char *address, const char *ident)
{
    mpx_obj *addr = mpx__mgr_addr_to_py(address);
    mpx_obj *state = addr ? mpx_obj_build("(sNs)", typeid, addr, ident) : NULL;
    mpx_obj *cls = mpx_obj_class(mpx__mgr_module, "Token");
    mpx_obj *v = NULL;
    if (state && cls) {
        mpx_obj_reduce r = {MPX_OBJ_NEWOBJ, cls, NULL, NULL, state, NULL, NULL};
        v = mpx_obj_instance(&r);
    }
    mpx_obj_decref(state);
    mpx_obj_decref(cls);
    return v;
}

int mpx__mgr_token_parts(const mpx_obj *tok, const char **typeid, char **address,
                         const char **ident)
{
    mpx_obj_reduce r;
    if (!tok || mpx_obj_instance_of(tok, mpx__mgr_module, "Token") != 1 ||
        mpx_obj_instance_get(tok, &r) || !r.state ||
        mpx_obj_typeof(r.state) != MPX_OBJ_TUPLE || mpx_obj_len(r.state) != 3)
        return MPX_ETYPE;
    const char *t, *id;
    if (mpx_obj_get_str(mpx_obj_item(r.state, 0), &t, NULL) ||
        mpx_obj_get_str(mpx_obj_item(r.state, 2), &id, NULL))
        return MPX_ETYPE;
    char *a = mpx__mgr_addr_from_py(mpx_obj_item(r.state, 1));
    if (!a)
        return MPX_ETYPE;
    if (typeid)
        *typeid = t;
    if (ident)
        *ident = id;
    if (address)
        *address = a;
    else
        free(a);
    return 0;
}

mpx_obj *mpx__mgr_rebuild(const char *module, const char *qualname, const mpx_obj *token,
                          const char *const *exposed)
{
    mpx_obj *kw = mpx_obj_dict();
    if (kw && exposed && mpx_obj_dict_set_s_new(kw, "exposed", mpx__strv_to_tuple(exposed))) {
        mpx_obj_decref(kw);
        kw = NULL;
    }
    mpx_obj *args = kw ? mpx_obj_build("(NOsN)", mpx_obj_class(module, qualname), token,
                                       "pickle", kw)
                       : NULL;
    mpx_obj *fn = mpx_obj_class(mpx__mgr_module, "RebuildProxy");
    mpx_obj *v = NULL;
    if (args && fn) {
        mpx_obj_reduce r = {MPX_OBJ_REDUCE, fn, args, NULL, NULL, NULL, NULL};
        v = mpx_obj_instance(&r);
    }
    mpx_obj_decref(args);
    mpx_obj_decref(fn);
    return v;
}

int mpx__mgr_rebuild_parts(const mpx_obj *v, const mpx_obj **token, const char **module,
                           const char **qualname, const mpx_obj **kwds)
{
    if (!v)
        return MPX_ETYPE;
    if (mpx_obj_instance_of(v, mpx__mgr_module, "Token") == 1) {
        *token = v;
        *module = *qualname = NULL;
        *kwds = NULL;
        return 0;
    }
    mpx_obj_reduce r;
    if (mpx_obj_instance_of(v, mpx__mgr_module, "RebuildProxy") != 1 ||
        mpx_obj_instance_get(v, &r) || r.how != MPX_OBJ_REDUCE || !r.args ||
        mpx_obj_len(r.args) != 4)
        return MPX_ETYPE;
    const mpx_obj *func = mpx_obj_item(r.args, 0), *tok = mpx_obj_item(r.args, 1),
                  *kw = mpx_obj_item(r.args, 3);
    if (mpx_obj_class_name(func, module, qualname) ||
        mpx_obj_instance_of(tok, mpx__mgr_module, "Token") != 1 ||
        mpx_obj_typeof(kw) != MPX_OBJ_DICT)
        return MPX_ETYPE;
    *token = tok;
    *kwds = kw;
    return 0;
}

/* ---- exceptions ------------------------------------------------------------------- */

static const struct {
    int code;
    const char *module, *name;
} exc_map[] = {
    {MPX_EINDEX, "builtins", "IndexError"},
    {MPX_EKEY, "builtins", "KeyError"},
    {MPX_ETYPE, "builtins", "TypeError"},
    {MPX_EINVAL, "builtins", "ValueError"},
    {-ERANGE, "builtins", "OverflowError"},
    {MPX_EEMPTY, "_queue", "Empty"},
    {MPX_EFULL, "queue", "Full"},
    {MPX_EEOF, "builtins", "StopIteration"},
    {MPX_EBROKEN, "threading", "BrokenBarrierError"},
    {MPX_ESTATE, "builtins", "RuntimeError"},
    {MPX_ENOTSUP, "builtins", "NotImplementedError"},
    {MPX_ETIMEDOUT, "builtins", "TimeoutError"},
    {-ENOMEM, "builtins", "MemoryError"},
    {MPX_EDEPTH, "builtins", "RecursionError"},
    {MPX_ETOOBIG, "builtins", "MemoryError"},
};

void mpx__mgr_code_exc(int code, const char **module, const char **name)
{
    for (size_t i = 0; i < MPX__ARRAY_LEN(exc_map); i++)
        if (exc_map[i].code == code) {
            *module = exc_map[i].module;
            *name = exc_map[i].name;
            return;
        }
    *module = "builtins";
    *name = "RuntimeError";
}

int mpx__mgr_exc_code(const char *module, const char *name)
{
    if (!name)
        return MPX_EREMOTE;
    if (!module || strcmp(module, "builtins") == 0 || strcmp(module, "exceptions") == 0) {
        if (strcmp(name, "AssertionError") == 0)
            return MPX_ESTATE;
        if (strcmp(name, "MemoryError") == 0)
            return -ENOMEM;
        for (size_t i = 0; i < MPX__ARRAY_LEN(exc_map); i++)
            if (strcmp(exc_map[i].module, "builtins") == 0 &&
                strcmp(exc_map[i].name, name) == 0)
                return exc_map[i].code;
        return MPX_EREMOTE;
    }
    if ((strcmp(module, "_queue") == 0 || strcmp(module, "queue") == 0 ||
         strcmp(module, "Queue") == 0) &&
        strcmp(name, "Empty") == 0)
        return MPX_EEMPTY;
    if ((strcmp(module, "queue") == 0 || strcmp(module, "Queue") == 0) &&
        strcmp(name, "Full") == 0)
        return MPX_EFULL;
    if (strcmp(module, "threading") == 0 && strcmp(name, "BrokenBarrierError") == 0)
        return MPX_EBROKEN;
    if ((strcmp(module, "multiprocessing.context") == 0 ||
         strcmp(module, "multiprocessing") == 0) &&
        strcmp(name, "TimeoutError") == 0)
        return MPX_ETIMEDOUT; /* AsyncResult.get(timeout) */
    /* what a value pool gives a task that has no error value of its own
     * (mpx/pool.h, "Values"): the codes the local pool returns */
    if (strncmp(module, "concurrent.futures", 18) == 0) {
        if (strcmp(name, "BrokenProcessPool") == 0)
            return MPX_EWORKER;
        if (strcmp(name, "CancelledError") == 0)
            return MPX_ECANCELED;
    }
    return MPX_EREMOTE;
}

mpx_obj *mpx__mgr_exc(const char *module, const char *name, const char *msg)
{
    mpx_obj *args = msg ? mpx_obj_build("(s)", msg) : mpx_obj_tuple(0);
    if (!args && msg) /* not UTF-8: keep what can be kept */
        args = mpx_obj_build("(s)", "(message not UTF-8)");
    mpx_obj *v = mpx_manager_exception(module, name, args);
    mpx_obj_decref(args);
    return v;
}

MPX_API mpx_obj *mpx_manager_exception(const char *module, const char *name, const mpx_obj *args)
{
    if (!module || !name)
        return NULL;
    if (args && mpx_obj_typeof(args) != MPX_OBJ_TUPLE)
        return NULL;
    mpx_obj *cls = mpx_obj_class(module, name);
    if (!cls)
        return NULL;
    mpx_obj_reduce r = {MPX_OBJ_REDUCE, cls, (mpx_obj *)args, NULL, NULL, NULL, NULL};
    mpx_obj *v = mpx_obj_instance(&r);
    mpx_obj_decref(cls);
    return v;
}

int mpx__mgr_exc_describe(const mpx_obj *exc, char *type, size_t cap, char **text)
{
    *text = NULL;
    mpx_obj_reduce r;
    const char *mod = NULL, *name = NULL;
    if (!exc || mpx_obj_instance_get(exc, &r) || mpx_obj_class_name(r.callable, &mod, &name)) {
        snprintf(type, cap, "%s", exc ? mpx_obj_type_name(exc) : "None");
        *text = exc ? mpx_obj_text(exc) : NULL;
        return MPX_EREMOTE;
    }
    if (strcmp(mod, "builtins") == 0 || strcmp(mod, "exceptions") == 0)
        snprintf(type, cap, "%s", name);
    else
        snprintf(type, cap, "%s.%s", mod, name);
    const mpx_obj *args = r.args;
    int64_t n = args ? mpx_obj_len(args) : 0;
    if (n == 1) {
        const mpx_obj *a0 = mpx_obj_item(args, 0);
        *text = strcmp(name, "KeyError") == 0 ? mpx_obj_repr(a0) : mpx_obj_text(a0);
    } else if (n > 1) {
        *text = mpx_obj_repr(args);
    } else {
        *text = strdup("");
    }
    return mpx__mgr_exc_code(mod, name);
}

/* ---- requests ------------------------------------------------------------------- */

int mpx__mgr_parse_request(const mpx_obj *req, const char **ident, const char **method,
                           const mpx_obj **args, const mpx_obj **kwds)
{
    mpx_obj_type t = req ? mpx_obj_typeof(req) : MPX_OBJ_NONE;
    if ((t != MPX_OBJ_TUPLE && t != MPX_OBJ_LIST) || mpx_obj_len(req) != 4)
        return MPX_EPROTO;
    const mpx_obj *id = mpx_obj_item(req, 0), *m = mpx_obj_item(req, 1),
                  *a = mpx_obj_item(req, 2), *k = mpx_obj_item(req, 3);
    if (mpx_obj_typeof(id) == MPX_OBJ_NONE)
        *ident = NULL;
    else if (mpx_obj_get_str(id, ident, NULL))
        return MPX_EPROTO;
    if (mpx_obj_get_str(m, method, NULL))
        return MPX_EPROTO;
    mpx_obj_type at = mpx_obj_typeof(a);
    if ((at != MPX_OBJ_TUPLE && at != MPX_OBJ_LIST) || mpx_obj_typeof(k) != MPX_OBJ_DICT)
        return MPX_EPROTO;
    *args = a;
    *kwds = k;
    return 0;
}

/* ---- string vectors ------------------------------------------------------------- */

size_t mpx__strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **mpx__strv_dup(const char *const *v)
{
    if (!v)
        return NULL;
    size_t n = mpx__strv_len(v);
    char **o = calloc(n + 1, sizeof *o);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(o[i] = strdup(v[i]))) {
            mpx__strv_free(o);
            return NULL;
        }
    return o;
}

char **mpx__strv_from_obj(const mpx_obj *seq)
{
    mpx_obj_type t = seq ? mpx_obj_typeof(seq) : MPX_OBJ_NONE;
    if (t != MPX_OBJ_TUPLE && t != MPX_OBJ_LIST && t != MPX_OBJ_SET &&
        t != MPX_OBJ_FROZENSET)
        return NULL;
    int64_t n = mpx_obj_len(seq);
    char **o = calloc((size_t)n + 1, sizeof *o);
    if (!o)
        return NULL;
    size_t pos = 0, i = 0;
    mpx_obj *it;
    while (mpx_obj_next(seq, &pos, &it) == 1) {
        const char *s;
        if (mpx_obj_get_str(it, &s, NULL) || !(o[i++] = strdup(s))) {
            mpx__strv_free(o);
            return NULL;
        }
    }
    return o;
}

mpx_obj *mpx__strv_to_tuple(const char *const *v)
{
    size_t n = mpx__strv_len(v);
    mpx_obj *t = mpx_obj_tuple(n);
    for (size_t i = 0; t && i < n; i++)
        if (mpx_obj_tuple_set_new(t, i, mpx_obj_str(v[i]))) {
            mpx_obj_decref(t);
            return NULL;
        }
    return t;
}

int mpx__strv_has(const char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

void mpx__strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}
