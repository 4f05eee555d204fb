/* context.c - start methods and contexts (CTX-01..14, MISC-06..10). */
#include "core/context_internal.h"
#include "core/process_internal.h"

#include <pthread.h>
#include <string.h>

/* The spawn and forkserver operations are linked in when available. */
extern const mpx__popen_ops mpx__popen_spawn __attribute__((weak));
extern const mpx__popen_ops mpx__popen_forkserver __attribute__((weak));

static mpx_context ctx_fork = {MPX__FORK, "fork", &mpx__popen_fork};
static mpx_context ctx_spawn = {MPX__SPAWN, "spawn", NULL};
static mpx_context ctx_forkserver = {MPX__FORKSERVER, "forkserver", NULL};

static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static mpx_context *fixed; /* set_start_method */

static mpx_context *lookup(const char *name)
{
    if (!strcmp(name, "fork"))
        return &ctx_fork;
    if (!strcmp(name, "spawn"))
        return &ctx_spawn;
    if (!strcmp(name, "forkserver"))
        return &ctx_forkserver;
    return NULL;
}

static bool available(mpx_context *c)
{
    if (c == &ctx_spawn && !c->ops && &mpx__popen_spawn)
        c->ops = &mpx__popen_spawn;
    if (c == &ctx_forkserver && !c->ops && &mpx__popen_forkserver)
        c->ops = &mpx__popen_forkserver;
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

bool mpx__context_compatible(mpx_context *obj_ctx, mpx_context *child_ctx)
{
    if (!obj_ctx || !child_ctx)
        return true;
    if (child_ctx->method == MPX__FORK)
        return true;
    /* An object made for fork relies on inheritance (CTX-09). */
    return obj_ctx->method != MPX__FORK;
}

MPX_API int mpx_get_context(mpx_context **out, const char *method)
{
    if (!out)
        return MPX_EINVAL;
    if (!method) {
        *out = mpx__context_default();
        return 0;
    }
    mpx_context *c = lookup(method);
    if (!c)
        return MPX_EINVAL;
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
    mpx_context *order[3];
    size_t k = 0;
    mpx_context *def = mpx__context_default();
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
