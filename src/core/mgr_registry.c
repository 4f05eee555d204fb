/*
 * mgr_registry.c - registries of manager types (#16, MGR-09..13, MGR-16,
 * MGR-20): BaseManager.register, SyncManager's types, the known proxy
 * types of multiprocessing.managers (their _exposed_ and
 * _method_to_typeid_), and the encoding of a registry for a server started
 * by spawn or forkserver (callables as function references).
 */
#include "core/fnref.h"
#include "core/mgr_internal.h"

#include <string.h>

/* ---- proxy types of multiprocessing.managers ------------------------------------------ */

static const char *const iterator_exposed[] = {"__next__", "send", "throw", "close", NULL};
static const char *const acquirer_exposed[] = {"acquire", "release", NULL};
static const char *const condition_exposed[] = {"acquire", "release", "wait", "notify",
                                                "notify_all", NULL};
static const char *const event_exposed[] = {"is_set", "set", "clear", "wait", NULL};
static const char *const barrier_exposed[] = {"__getattribute__", "wait", "abort", "reset", NULL};
static const char *const namespace_exposed[] = {"__getattribute__", "__setattr__", "__delattr__",
                                                NULL};
static const char *const value_exposed[] = {"get", "set", NULL};
static const char *const list_exposed[] = {
    "__add__", "__contains__", "__delitem__", "__getitem__", "__len__", "__mul__",
    "__reversed__", "__rmul__", "__setitem__", "append", "count", "extend", "index", "insert",
    "pop", "remove", "reverse", "sort", "__imul__", NULL};
static const char *const dict_exposed[] = {
    "__contains__", "__delitem__", "__getitem__", "__iter__", "__len__", "__setitem__", "clear",
    "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values", NULL};
static const char *const array_exposed[] = {"__len__", "__getitem__", "__setitem__", NULL};
static const char *const pool_exposed[] = {"apply", "apply_async", "close", "imap",
                                           "imap_unordered", "join", "map", "map_async",
                                           "starmap", "starmap_async", "terminate", NULL};
static const char *const dict_m2t[] = {"__iter__", "Iterator", NULL};
static const char *const pool_m2t[] = {"apply_async", "AsyncResult", "map_async", "AsyncResult",
                                       "starmap_async", "AsyncResult", "imap", "Iterator",
                                       "imap_unordered", "Iterator", NULL};

static const struct {
    const char *name;
    const char *const *exposed;
    const char *const *m2t;
} proxytypes[] = {
    {"IteratorProxy", iterator_exposed, NULL}, {"AcquirerProxy", acquirer_exposed, NULL},
    {"ConditionProxy", condition_exposed, NULL}, {"EventProxy", event_exposed, NULL},
    {"BarrierProxy", barrier_exposed, NULL},   {"NamespaceProxy", namespace_exposed, NULL},
    {"ValueProxy", value_exposed, NULL},       {"ListProxy", list_exposed, NULL},
    {"BaseListProxy", list_exposed, NULL},     {"DictProxy", dict_exposed, dict_m2t},
    {"ArrayProxy", array_exposed, NULL},       {"PoolProxy", pool_exposed, pool_m2t},
};

static int find_proxytype(const char *name)
{
    if (!name)
        return -1;
    if (strncmp(name, "multiprocessing.managers.", 25) == 0)
        name += 25;
    for (size_t i = 0; i < MPX__ARRAY_LEN(proxytypes); i++)
        if (strcmp(proxytypes[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *const *mpx__mgr_proxytype_exposed(const char *proxytype)
{
    int i = find_proxytype(proxytype);
    return i < 0 ? NULL : proxytypes[i].exposed;
}

static void set_m2t(mpx__mgr_type *t)
{
    t->m2t = (const char *const *)t->method_to_typeid;
    if (!t->m2t) {
        int i = find_proxytype(t->proxytype);
        t->m2t = i < 0 ? NULL : proxytypes[i].m2t;
    }
}

const char *mpx__mgr_type_method_typeid(const mpx__mgr_type *t, const char *method)
{
    if (!t)
        return NULL;
    const char *const *m2t = t->m2t;
    for (size_t i = 0; m2t && m2t[i] && m2t[i + 1]; i += 2)
        if (strcmp(m2t[i], method) == 0)
            return m2t[i + 1];
    return NULL;
}

/* ---- registries ----------------------------------------------------------------------- */

static void type_free(mpx__mgr_type *t)
{
    free(t->typeid);
    free(t->proxytype);
    mpx__strv_free(t->exposed);
    mpx__strv_free(t->method_to_typeid);
    memset(t, 0, sizeof *t);
}

static int registry_new(mpx_manager_registry **out, const char *name)
{
    mpx_manager_registry *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name ? name : "BaseManager"))) {
        free(r);
        return -ENOMEM;
    }
    r->magic = MPX__REG_MAGIC;
    r->refs = 1;
    *out = r;
    return 0;
}

static void registry_free(mpx_manager_registry *r)
{
    for (size_t i = 0; i < r->n; i++)
        type_free(&r->types[i]);
    free(r->types);
    free(r->name);
    r->magic = 0;
    free(r);
}

const mpx__mgr_type *mpx__mgr_registry_find(const mpx_manager_registry *r, const char *typeid)
{
    for (size_t i = 0; r && typeid && i < r->n; i++)
        if (strcmp(r->types[i].typeid, typeid) == 0)
            return &r->types[i];
    return NULL;
}

/* Add or replace; t's strings are taken. */
static int put_type(mpx_manager_registry *r, mpx__mgr_type *t)
{
    set_m2t(t);
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->types[i].typeid, t->typeid) == 0) {
            type_free(&r->types[i]);
            r->types[i] = *t;
            return 0;
        }
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        mpx__mgr_type *v = realloc(r->types, nc * sizeof *v);
        if (!v)
            return -ENOMEM;
        r->types = v;
        r->cap = nc;
    }
    r->types[r->n++] = *t;
    return 0;
}

static int type_copy(mpx__mgr_type *t, const char *typeid, mpx_manager_callable callable,
                     const char *proxytype, const char *const *exposed,
                     const char *const *m2t, bool no_create)
{
    memset(t, 0, sizeof *t);
    t->callable = callable;
    t->no_create_method = no_create;
    if (!(t->typeid = strdup(typeid)) || (proxytype && !(t->proxytype = strdup(proxytype))) ||
        (exposed && !(t->exposed = mpx__strv_dup(exposed))) ||
        (m2t && !(t->method_to_typeid = mpx__strv_dup(m2t)))) {
        type_free(t);
        return -ENOMEM;
    }
    return 0;
}

MPX_API int mpx_manager_register(mpx_manager_registry *r, const char *typeid,
                                 const mpx_register_opts *opts)
{
    if (!r || r->magic != MPX__REG_MAGIC || r->is_static || !typeid || !typeid[0])
        return MPX_EINVAL;
    mpx_register_opts o = {0};
    if (opts)
        o = *opts;
    if (o.method_to_typeid && mpx__strv_len(o.method_to_typeid) % 2)
        return MPX_EINVAL;
    mpx__mgr_type t;
    int rc = type_copy(&t, typeid, o.callable, o.proxytype, o.exposed, o.method_to_typeid,
                       o.no_create_method != 0);
    if (!rc && (rc = put_type(r, &t)))
        type_free(&t);
    return rc;
}

MPX_API int mpx_manager_registry_create(mpx_manager_registry **out, const char *name,
                                        const mpx_manager_registry *base)
{
    if (!out || (base && base->magic != MPX__REG_MAGIC))
        return MPX_EINVAL;
    mpx_manager_registry *r;
    int rc = registry_new(&r, name);
    for (size_t i = 0; !rc && base && i < base->n; i++) {
        const mpx__mgr_type *b = &base->types[i];
        mpx__mgr_type t;
        rc = type_copy(&t, b->typeid, b->callable, b->proxytype,
                       (const char *const *)b->exposed,
                       (const char *const *)b->method_to_typeid, b->no_create_method);
        if (!rc && (rc = put_type(r, &t)))
            type_free(&t);
    }
    if (rc) {
        if (r)
            registry_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

MPX_API void mpx_manager_registry_destroy(mpx_manager_registry *r)
{
    mpx__mgr_registry_unref(r);
}

mpx_manager_registry *mpx__mgr_registry_ref(const mpx_manager_registry *r)
{
    mpx_manager_registry *m = (mpx_manager_registry *)r;
    if (m && !m->is_static)
        __atomic_fetch_add(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

void mpx__mgr_registry_unref(mpx_manager_registry *r)
{
    if (!r || r->magic != MPX__REG_MAGIC || r->is_static)
        return;
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
        registry_free(r);
}

/* ---- SyncManager ---------------------------------------------------------------------- */

static mpx_manager_registry *sync_reg;
static pthread_once_t sync_once = PTHREAD_ONCE_INIT;

static void sync_init(void)
{
    static const struct {
        const char *typeid, *proxytype;
        bool no_create;
    } t[] = {
        {"Queue", NULL, false},
        {"JoinableQueue", NULL, false},
        {"Event", "EventProxy", false},
        {"Lock", "AcquirerProxy", false},
        {"RLock", "AcquirerProxy", false},
        {"Semaphore", "AcquirerProxy", false},
        {"BoundedSemaphore", "AcquirerProxy", false},
        {"Condition", "ConditionProxy", false},
        {"Barrier", "BarrierProxy", false},
        {"list", "ListProxy", false},
        {"dict", "DictProxy", false},
        {"Value", "ValueProxy", false},
        {"Array", "ArrayProxy", false},
        {"Namespace", "NamespaceProxy", false},
        {"Iterator", "IteratorProxy", true},
        {"Pool", "PoolProxy", false},
        {"AsyncResult", NULL, true}, /* AutoProxy, as CPython registers it */
    };
    mpx_manager_registry *r;
    if (registry_new(&r, "SyncManager"))
        return;
    for (size_t i = 0; i < MPX__ARRAY_LEN(t); i++) {
        mpx__mgr_type ty;
        if (type_copy(&ty, t[i].typeid, t[i].no_create ? NULL
                                                       : mpx__mgr_builtin_callable(t[i].typeid),
                      t[i].proxytype, NULL, NULL, t[i].no_create) ||
            put_type(r, &ty)) {
            registry_free(r);
            return;
        }
    }
    r->is_static = true;
    sync_reg = r;
}

MPX_API const mpx_manager_registry *mpx_manager_sync_registry(void)
{
    pthread_once(&sync_once, sync_init);
    return sync_reg;
}

/* ---- encoding for a spawned server ---------------------------------------------------- */

static int put_str(mpx__buf *b, const char *s)
{
    int rc = mpx__buf_put_u8(b, s != NULL);
    if (!rc && s)
        rc = mpx__buf_put_bytes(b, s, strlen(s));
    return rc;
}

static int put_strv(mpx__buf *b, char **v)
{
    int rc = mpx__buf_put_u8(b, v != NULL);
    size_t n = mpx__strv_len((const char *const *)v);
    if (!rc && v)
        rc = mpx__buf_put_u32(b, (uint32_t)n);
    for (size_t i = 0; !rc && v && i < n; i++)
        rc = mpx__buf_put_bytes(b, v[i], strlen(v[i]));
    return rc;
}

static int get_str(mpx__rd *in, char **out)
{
    uint8_t has;
    int rc = mpx__rd_u8(in, &has);
    *out = NULL;
    if (rc || !has)
        return rc;
    const void *p;
    size_t n;
    if ((rc = mpx__rd_bytes(in, &p, &n)))
        return rc;
    if (memchr(p, 0, n))
        return MPX_EPROTO;
    *out = strndup(p, n);
    return *out ? 0 : -ENOMEM;
}

static int get_strv(mpx__rd *in, char ***out)
{
    uint8_t has;
    uint32_t n;
    int rc = mpx__rd_u8(in, &has);
    *out = NULL;
    if (rc || !has)
        return rc;
    if ((rc = mpx__rd_u32(in, &n)))
        return rc;
    if (n > 100000)
        return MPX_EPROTO;
    char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (uint32_t i = 0; !rc && i < n; i++) {
        const void *p;
        size_t len;
        rc = mpx__rd_bytes(in, &p, &len);
        if (!rc && !(v[i] = strndup(p, len)))
            rc = -ENOMEM;
    }
    if (rc) {
        mpx__strv_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int mpx__mgr_registry_encode(const mpx_manager_registry *r, mpx_context *ctx, mpx__buf *out)
{
    int rc = put_str(out, r->name);
    if (!rc)
        rc = mpx__buf_put_u32(out, (uint32_t)r->n);
    for (size_t i = 0; !rc && i < r->n; i++) {
        const mpx__mgr_type *t = &r->types[i];
        rc = put_str(out, t->typeid);
        if (!rc)
            rc = mpx__fnref_encode(ctx, (mpx__fnptr)t->callable, out);
        if (!rc)
            rc = put_str(out, t->proxytype);
        if (!rc)
            rc = put_strv(out, t->exposed);
        if (!rc)
            rc = put_strv(out, t->method_to_typeid);
        if (!rc)
            rc = mpx__buf_put_u8(out, t->no_create_method);
    }
    return rc;
}

int mpx__mgr_registry_decode(mpx__rd *in, mpx_manager_registry **out)
{
    char *name;
    uint32_t n;
    int rc = get_str(in, &name);
    if (rc)
        return rc;
    mpx_manager_registry *r;
    rc = registry_new(&r, name);
    free(name);
    if (rc)
        return rc;
    rc = mpx__rd_u32(in, &n);
    for (uint32_t i = 0; !rc && i < n; i++) {
        mpx__mgr_type t;
        memset(&t, 0, sizeof t);
        mpx__fnptr fn = NULL;
        uint8_t nc = 0;
        rc = get_str(in, &t.typeid);
        if (!rc && !t.typeid)
            rc = MPX_EPROTO;
        if (!rc)
            rc = mpx__fnref_decode(in, &fn);
        if (!rc)
            rc = get_str(in, &t.proxytype);
        if (!rc)
            rc = get_strv(in, &t.exposed);
        if (!rc)
            rc = get_strv(in, &t.method_to_typeid);
        if (!rc)
            rc = mpx__rd_u8(in, &nc);
        t.callable = (mpx_manager_callable)fn;
        t.no_create_method = nc;
        if (!rc)
            rc = put_type(r, &t);
        if (rc)
            type_free(&t);
    }
    if (rc) {
        registry_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
