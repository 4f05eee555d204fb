/*
 * core/tuning.c - the one spin setting (MPX_SPIN and its aliases) and the
 * sync primitives' process-wide settings (core/tuning.h).
 */
#include "core/tuning.h"
#include "mpx/sync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- the spin setting ---------------------------------------------------- */

/* Build-time defaults: make CFLAGS=-DMPX_SYNC_DEFAULT_SPIN=0 disables
 * spinning in the sync primitives; the environment (MPX_SPIN,
 * MPX_SYNC_CHECK_MS) and the setters override them at run time. */
#ifndef MPX_SYNC_DEFAULT_SPIN
#define MPX_SYNC_DEFAULT_SPIN 100
#endif
#ifndef MPX_SYNC_DEFAULT_CHECK_MS
#define MPX_SYNC_DEFAULT_CHECK_MS 50
#endif
#define QUEUE_DEFAULT_SPIN 200
#define POOL_DEFAULT_SPIN 2000

bool mpx__spin_env(enum mpx__spin_site site, long *value)
{
    const char *alias = site == MPX__SPIN_SYNC    ? "MPX_SYNC_SPIN"
                        : site == MPX__SPIN_QUEUE ? "MPX_QUEUE_SPIN"
                                                  : NULL;
    const char *e = alias ? getenv(alias) : NULL;
    if (!e || !*e)
        e = getenv("MPX_SPIN");
    if (!e || !*e)
        return false;
    *value = strtol(e, NULL, 10);
    return true;
}

int mpx__spin_default(enum mpx__spin_site site)
{
    long v;
    bool set = mpx__spin_env(site, &v);
    switch (site) {
    case MPX__SPIN_SYNC:
        if (set)
            return v < 0 ? 0 : v > 1000000 ? 1000000 : (int)v;
        return sysconf(_SC_NPROCESSORS_ONLN) == 1 ? 0 : MPX_SYNC_DEFAULT_SPIN;
    case MPX__SPIN_QUEUE:
        return set && v >= 0 && v <= 10000000 ? (int)v : QUEUE_DEFAULT_SPIN;
    case MPX__SPIN_POOL:
        if (set)
            return v < 0 ? 0 : v > 10000000 ? 10000000 : (int)v;
        return POOL_DEFAULT_SPIN;
    }
    return 0;
}

/* ---- the sync primitives' settings ----------------------------------------- */

static _Atomic int spin_n = MPX_SYNC_DEFAULT_SPIN;
static _Atomic int64_t check_ns = MPX_SYNC_DEFAULT_CHECK_MS * 1000000LL;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

static void settings_init(void)
{
    atomic_store(&spin_n, mpx__spin_default(MPX__SPIN_SYNC));
    const char *e = getenv("MPX_SYNC_CHECK_MS");
    if (e && *e) {
        long v = strtol(e, NULL, 10);
        atomic_store(&check_ns, v <= 0 ? INT64_MAX : (int64_t)v * 1000000LL);
    }
}

int mpx__sync_spin(void)
{
    pthread_once(&settings_once, settings_init);
    return atomic_load_explicit(&spin_n, memory_order_relaxed);
}

int64_t mpx__sync_check_ns(void)
{
    pthread_once(&settings_once, settings_init);
    return atomic_load_explicit(&check_ns, memory_order_relaxed);
}

static void settings_adopted(void)
{
}

void mpx__sync_settings_adopt(int spin, int64_t ns)
{
    /* The parent's values replace the defaults: a spawn or forkserver
     * child need not work them out first (getenv, and sysconf's read of
     * /sys/devices/system/cpu/online: three system calls per child, #18). */
    pthread_once(&settings_once, settings_adopted);
    atomic_store(&spin_n, spin < 0 ? 0 : spin > 1000000 ? 1000000 : spin);
    atomic_store(&check_ns, ns <= 0 ? INT64_MAX : ns);
}

MPX_API int mpx_sync_set_spin(int iterations)
{
    pthread_once(&settings_once, settings_init);
    if (iterations < 0)
        iterations = 0;
    return atomic_exchange(&spin_n, iterations);
}

MPX_API mpx_duration mpx_sync_set_owner_check(mpx_duration interval_ms)
{
    pthread_once(&settings_once, settings_init);
    if (interval_ms <= 0)
        return MPX_EINVAL;
    int64_t ns = interval_ms >= INT64_MAX / 1000000 ? INT64_MAX : interval_ms * 1000000LL;
    int64_t old = atomic_exchange(&check_ns, ns);
    return old == INT64_MAX ? MPX_FOREVER : old / 1000000;
}
