/* log.c - the per-process logger (LOG-01..07). */
#include "core/internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

MPX__FORKHOT static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
MPX__FORKHOT static int log_level = MPX_LOG_NOTSET;
MPX__FORKHOT static mpx_log_handler log_fn;
MPX__FORKHOT static void *log_udata;

/* Effective threshold read on the fast path without the lock. */
MPX__FORKHOT int mpx__log_level_cache = INT32_MAX;

static void recompute(void)
{
    int eff = INT32_MAX;
    if (log_fn)
        eff = log_level == MPX_LOG_NOTSET ? 1 : log_level;
    __atomic_store_n(&mpx__log_level_cache, eff, __ATOMIC_RELAXED);
}

static void stderr_handler(int level, const char *pname, const char *msg, void *udata)
{
    MPX__UNUSED(udata);
    char line[4200];
    int n = snprintf(line, sizeof line, "[%s/%s] %s\n", mpx_log_level_name(level), pname, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    (void)mpx__write_all(STDERR_FILENO, line, (size_t)n);
}

MPX_API int mpx_log_set_level(int level)
{
    if (level < 0)
        return MPX_EINVAL;
    mpx__global_init();
    pthread_mutex_lock(&log_mu);
    log_level = level;
    recompute();
    pthread_mutex_unlock(&log_mu);
    return 0;
}

MPX_API int mpx_log_get_level(void)
{
    return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

MPX_API int mpx_log_set_handler(mpx_log_handler fn, void *udata)
{
    mpx__global_init();
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_udata = udata;
    recompute();
    pthread_mutex_unlock(&log_mu);
    return 0;
}

MPX_API int mpx_log_to_stderr(int level)
{
    if (level < 0)
        return MPX_EINVAL;
    mpx__global_init();
    pthread_mutex_lock(&log_mu);
    log_fn = stderr_handler;
    log_udata = NULL;
    if (level != MPX_LOG_NOTSET)
        log_level = level;
    recompute();
    pthread_mutex_unlock(&log_mu);
    return 0;
}

/* Used by the spawn bootstrap to pass logging on to a child. */
MPX__HIDDEN bool mpx__log_is_stderr(void)
{
    return log_fn == stderr_handler;
}

static void vemit(int level, const char *fmt, va_list ap)
{
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    pthread_mutex_lock(&log_mu);
    mpx_log_handler fn = log_fn;
    void *ud = log_udata;
    int thr = log_level == MPX_LOG_NOTSET ? 1 : log_level;
    pthread_mutex_unlock(&log_mu);
    if (fn && level >= thr)
        fn(level, mpx__process_name(), msg, ud);
}

void mpx__log_emit(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(level, fmt, ap);
    va_end(ap);
}

MPX_API void mpx_log(int level, const char *fmt, ...)
{
    mpx__global_init();
    if (level < mpx__log_level_cache)
        return;
    va_list ap;
    va_start(ap, fmt);
    vemit(level, fmt, ap);
    va_end(ap);
}

MPX_API const char *mpx_log_level_name(int level)
{
    switch (level) {
    case MPX_LOG_NOTSET: return "NOTSET";
    case MPX_LOG_SUBDEBUG: return "SUBDEBUG";
    case MPX_LOG_DEBUG: return "DEBUG";
    case MPX_LOG_INFO: return "INFO";
    case MPX_LOG_SUBWARNING: return "SUBWARNING";
    case MPX_LOG_WARNING: return "WARNING";
    case MPX_LOG_ERROR: return "ERROR";
    case MPX_LOG_CRITICAL: return "CRITICAL";
    default: {
        static __thread char buf[24];
        snprintf(buf, sizeof buf, "Level %d", level);
        return buf;
    }
    }
}

MPX_API int mpx_log_level_parse(const char *s)
{
    static const struct { const char *n; int v; } names[] = {
        {"NOTSET", 0}, {"SUBDEBUG", 5}, {"DEBUG", 10}, {"INFO", 20}, {"SUBWARNING", 25},
        {"WARNING", 30}, {"WARN", 30}, {"ERROR", 40}, {"CRITICAL", 50}, {"FATAL", 50},
    };
    if (!s || !*s)
        return MPX_EINVAL;
    for (size_t i = 0; i < MPX__ARRAY_LEN(names); i++)
        if (strcasecmp(s, names[i].n) == 0)
            return names[i].v;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 1000)
        return MPX_EINVAL;
    return (int)v;
}

/* atfork: the log mutex must not be held across fork. */
MPX__HIDDEN void mpx__log_atfork_prepare(void) { pthread_mutex_lock(&log_mu); }
MPX__HIDDEN void mpx__log_atfork_parent(void) { pthread_mutex_unlock(&log_mu); }
MPX__HIDDEN void mpx__log_atfork_child(void) { pthread_mutex_unlock(&log_mu); }

/* Called once by mpx__global_init: honour MPX_LOG_LEVEL. */
MPX__HIDDEN void mpx__log_init_from_env(void)
{
    const char *e = getenv("MPX_LOG_LEVEL");
    if (!e || !*e)
        return;
    int lv = mpx_log_level_parse(e);
    if (lv < 0)
        return;
    pthread_mutex_lock(&log_mu);
    log_fn = stderr_handler;
    log_level = lv;
    recompute();
    pthread_mutex_unlock(&log_mu);
}
