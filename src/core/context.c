/* context.c - start methods and contexts (CTX-01..14, MISC-06..10). */
#include "core/context_internal.h"
#include "core/process_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/fnref.h"

#include <sys/stat.h>
#include <unistd.h>

static mpx_context ctx_fork = {MPX__FORK, "fork", &mpx__popen_fork, NULL, false};
static mpx_context ctx_spawn = {MPX__SPAWN, "spawn", &mpx__popen_spawn, NULL, false};
static mpx_context ctx_forkserver = {MPX__FORKSERVER, "forkserver", &mpx__popen_forkserver,
                                     NULL, false};
/* multiprocessing.dummy (DUMMY-01..03): processes are threads, pools
 * thread pools; primitives and queues are the process-shared ones, which
 * are correct between threads (docs/thread-backend.md). */
static mpx_context ctx_thread = {MPX__THREAD, "thread", &mpx__popen_thread, NULL, true};

MPX__FORKHOT static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static mpx_context *fixed; /* set_start_method */

/* Contexts registered by backend libraries (libmpx_mpi: "mpi"); only
 * appended, read without the lock. */
#define MAX_BACKENDS 4
static mpx_context *_Atomic backends[MAX_BACKENDS];

int mpx__context_register(mpx_context *c)
{
    if (!c || !c->name || !c->pool || c->ops || c->method != MPX__BACKEND)
        return MPX_EINVAL;
    int rc = MPX_ETOOBIG;
    pthread_mutex_lock(&ctx_mu);
    for (int i = 0; i < MAX_BACKENDS; i++) {
        mpx_context *b = atomic_load(&backends[i]);
        if (b == c || (b && !strcmp(b->name, c->name))) {
            rc = b == c ? 0 : MPX_EINVAL;
            break;
        }
        if (!b) {
            atomic_store(&backends[i], c);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&ctx_mu);
    return rc;
}

static mpx_context *lookup_backend(const char *name)
{
    for (int i = 0; i < MAX_BACKENDS; i++) {
        mpx_context *b = atomic_load(&backends[i]);
        if (b && !strcmp(b->name, name))
            return b;
    }
    return NULL;
}

static mpx_context *lookup(const char *name)
{
    if (!strcmp(name, "fork"))
        return &ctx_fork;
    if (!strcmp(name, "spawn"))
        return &ctx_spawn;
    if (!strcmp(name, "forkserver"))
        return &ctx_forkserver;
    if (!strcmp(name, "thread"))
        return &ctx_thread;
    return NULL;
}

static bool available(mpx_context *c)
{
    return c->ops != NULL;
}

mpx_context *mpx__context_by_method(int method)
{
    mpx_context *c = method == MPX__SPAWN ? &ctx_spawn
                     : method == MPX__FORKSERVER ? &ctx_forkserver
                                                 : &ctx_fork;
    available(c);
    return c;
}

static mpx_context *env_default(void)
{
    const char *e = getenv("MPX_START_METHOD");
    mpx_context *c = e && *e ? lookup(e) : NULL;
    if (c && available(c))
        return c;
    return &ctx_fork;
}

mpx_context *mpx__context_default(void)
{
    pthread_mutex_lock(&ctx_mu);
    mpx_context *c = fixed ? fixed : env_default();
    pthread_mutex_unlock(&ctx_mu);
    return c;
}

mpx_context *mpx__context_default_fix(void)
{
    pthread_mutex_lock(&ctx_mu);
    if (!fixed)
        fixed = env_default();
    mpx_context *c = fixed;
    pthread_mutex_unlock(&ctx_mu);
    return c;
}

bool mpx__context_compatible(mpx_context *obj_ctx, mpx_context *child_ctx)
{
    if (!obj_ctx || !child_ctx)
        return true;
    if (child_ctx->method == MPX__FORK || child_ctx->threads)
        return true; /* inherited, or the very same memory (a thread) */
    /* An object made for fork relies on inheritance (CTX-09). */
    return obj_ctx->method != MPX__FORK;
}

MPX_API int mpx_get_context(mpx_context **out, const char *method)
{
    if (!out)
        return MPX_EINVAL;
    if (!method) {
        /* Python's get_context(None) fixes the default: a later
         * set_start_method without force is "already set" (CTX-07). */
        *out = mpx__context_default_fix();
        return 0;
    }
    mpx_context *c = lookup(method);
    if (!c) {
        /* pools on another backend: their library registers the name */
        if ((c = lookup_backend(method))) {
            *out = c;
            return 0;
        }
        if (!strcmp(method, "mpi")) {
            MPX__DEBUG("context \"mpi\": libmpx_mpi is not linked into this program");
            return MPX_ENOTSUP;
        }
        return MPX_EINVAL;
    }
    if (!available(c))
        return MPX_ENOTSUP;
    *out = c;
    return 0;
}

MPX_API const char *mpx_context_start_method(const mpx_context *ctx)
{
    return ctx ? ctx->name : NULL;
}

MPX_API int mpx_get_all_start_methods(const char **names, size_t cap, size_t *n)
{
    /* Start methods of processes: "thread" (a default that
     * mpx_set_start_method or MPX_START_METHOD may choose) is not one. */
    mpx_context *order[3];
    size_t k = 0;
    mpx_context *def = mpx__context_default();
    if (!def->threads)
        order[k++] = def;
    mpx_context *all[3] = {&ctx_fork, &ctx_spawn, &ctx_forkserver};
    for (int i = 0; i < 3; i++)
        if (all[i] != def && available(all[i]))
            order[k++] = all[i];
    for (size_t i = 0; i < k && i < cap; i++)
        names[i] = order[i]->name;
    if (n)
        *n = k;
    return 0;
}

MPX_API int mpx_get_start_method(const char **out, int allow_none)
{
    if (!out)
        return MPX_EINVAL;
    pthread_mutex_lock(&ctx_mu);
    if (!fixed && !allow_none)
        fixed = env_default();
    *out = fixed ? fixed->name : NULL;
    pthread_mutex_unlock(&ctx_mu);
    return 0;
}

MPX_API int mpx_set_start_method(const char *method, int force)
{
    mpx_context *c = NULL;
    if (method) {
        c = lookup(method);
        if (!c)
            return MPX_EINVAL;
        if (!available(c))
            return MPX_ENOTSUP;
    }
    pthread_mutex_lock(&ctx_mu);
    if (fixed && !force) {
        pthread_mutex_unlock(&ctx_mu);
        return MPX_ESTATE;
    }
    fixed = method ? c : (force ? NULL : env_default());
    pthread_mutex_unlock(&ctx_mu);
    return 0;
}

const char *mpx__context_fixed_name(void)
{
    pthread_mutex_lock(&ctx_mu);
    const char *n = fixed ? fixed->name : NULL;
    pthread_mutex_unlock(&ctx_mu);
    return n;
}

void mpx__context_set_fixed(const char *name)
{
    mpx_context *c = name ? lookup(name) : NULL;
    pthread_mutex_lock(&ctx_mu);
    fixed = c;
    pthread_mutex_unlock(&ctx_mu);
}

/* ---- set_executable (MISC-09) ---- */

static char *exe_path; /* NULL: /proc/self/exe */

MPX_API int mpx_set_executable(const char *path)
{
    char *copy = NULL;
    if (path) {
        if (!*path)
            return MPX_EINVAL;
        if (access(path, X_OK) < 0)
            return -errno;
        copy = strdup(path);
        if (!copy)
            return -ENOMEM;
    }
    pthread_mutex_lock(&ctx_mu);
    char *old = exe_path;
    exe_path = copy;
    pthread_mutex_unlock(&ctx_mu);
    free(old);
    return 0;
}

/* The path given to mpx_set_executable ("" when none), for a child to
 * adopt: its own children then run the same program as ours would. */
int mpx__context_encode_executable(mpx__buf *out)
{
    pthread_mutex_lock(&ctx_mu);
    int rc = mpx__buf_put_bytes(out, exe_path, exe_path ? strlen(exe_path) : 0);
    pthread_mutex_unlock(&ctx_mu);
    return rc;
}

int mpx__context_adopt_executable(const void *path, size_t len)
{
    char *copy = len ? strndup(path, len) : NULL;
    if (len && !copy)
        return -ENOMEM;
    pthread_mutex_lock(&ctx_mu);
    char *old = exe_path;
    exe_path = copy;
    pthread_mutex_unlock(&ctx_mu);
    free(old);
    return 0;
}

/*
 * The running program, for exec: its path as seen at first use, when that
 * file is still the same one (under valgrind /proc/self/exe would name the
 * valgrind tool, while its readlink names the program), else
 * /proc/self/exe (which also works for a program deleted or replaced
 * since).
 */
static char self_path[4096];
static dev_t self_dev;
static ino_t self_ino;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_init(void)
{
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    struct stat st;
    if (n > 0)
        self_path[n] = 0;
    if (n <= 0 || stat(self_path, &st) < 0) {
        self_path[0] = 0;
        return;
    }
    self_path[n] = 0;
    self_dev = st.st_dev;
    self_ino = st.st_ino;
}

static const char *self_exe(void)
{
    pthread_once(&self_once, self_init);
    struct stat st;
    if (self_path[0] && stat(self_path, &st) == 0 && st.st_dev == self_dev &&
        st.st_ino == self_ino)
        return self_path;
    return "/proc/self/exe";
}

int mpx__context_executable(char *buf, size_t cap, bool resolve)
{
    pthread_mutex_lock(&ctx_mu);
    const char *p = exe_path ? exe_path : resolve ? self_exe() : "/proc/self/exe";
    size_t n = strlen(p);
    int rc = n < cap ? (int)n : MPX_ETOOSHORT;
    if (rc >= 0)
        memcpy(buf, p, n + 1);
    pthread_mutex_unlock(&ctx_mu);
    return rc;
}

int mpx__context_self_executable(char *buf, size_t cap)
{
    const char *p = self_exe();
    size_t n = strlen(p);
    if (n >= cap)
        return MPX_ETOOSHORT;
    memcpy(buf, p, n + 1);
    return (int)n;
}

MPX_API int mpx_get_executable(char *buf, size_t cap)
{
    if (!buf)
        return MPX_EINVAL;
    return mpx__context_executable(buf, cap, false);
}

/* ---- fork server preload (MISC-11) ---- */

static char **pre_libs;
static size_t pre_nlibs;
static mpx__buf pre_inits; /* encoded fnrefs */
static size_t pre_ninits;

MPX_API int mpx_set_forkserver_preload(const char *const *libs, size_t nlibs,
                                       const mpx_fn *inits, size_t ninits)
{
    if ((!libs && nlibs) || (!inits && ninits) || nlibs > 64 || ninits > 64)
        return MPX_EINVAL;
    if (mpx__forkserver_running())
        return MPX_ESTATE;
    char **l = nlibs ? calloc(nlibs, sizeof *l) : NULL;
    mpx__buf b;
    mpx__buf_init(&b);
    int rc = nlibs && !l ? -ENOMEM : 0;
    for (size_t i = 0; !rc && i < nlibs; i++) {
        if (!libs[i] || !*libs[i])
            rc = MPX_EINVAL;
        else if (!(l[i] = strdup(libs[i])))
            rc = -ENOMEM;
    }
    for (size_t i = 0; !rc && i < ninits; i++)
        rc = inits[i] ? mpx__fnref_encode(&ctx_forkserver, (mpx__fnptr)inits[i], &b)
                      : MPX_EINVAL;
    if (rc) {
        for (size_t i = 0; l && i < nlibs; i++)
            free(l[i]);
        free(l);
        mpx__buf_free(&b);
        return rc;
    }
    pthread_mutex_lock(&ctx_mu);
    char **ol = pre_libs;
    size_t on = pre_nlibs;
    mpx__buf ob = pre_inits;
    pre_libs = l;
    pre_nlibs = nlibs;
    pre_inits = b;
    pre_ninits = ninits;
    pthread_mutex_unlock(&ctx_mu);
    for (size_t i = 0; i < on; i++)
        free(ol[i]);
    free(ol);
    mpx__buf_free(&ob);
    return 0;
}

int mpx__context_encode_preload(mpx__buf *out)
{
    pthread_mutex_lock(&ctx_mu);
    int rc = mpx__buf_put_u32(out, (uint32_t)pre_nlibs);
    for (size_t i = 0; !rc && i < pre_nlibs; i++)
        rc = mpx__buf_put_bytes(out, pre_libs[i], strlen(pre_libs[i]));
    if (!rc)
        rc = mpx__buf_put_u32(out, (uint32_t)pre_ninits);
    if (!rc && pre_inits.len)
        rc = mpx__buf_append(out, pre_inits.data, pre_inits.len);
    pthread_mutex_unlock(&ctx_mu);
    return rc;
}

void mpx__context_atfork_child(void)
{
    pthread_mutex_init(&ctx_mu, NULL);
}

MPX_API int mpx_freeze_support(void)
{
    return 0;
}
