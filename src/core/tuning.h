/*
 * core/tuning.h - process-wide tuning of waits: the one spin setting
 * (MPX_SPIN) and the owner-check interval of the sync primitives.
 * docs/design.md ("Spinning") describes the setting.
 */
#ifndef MPX_CORE_TUNING_H
#define MPX_CORE_TUNING_H

#include "core/internal.h"

/*
 * Who spins: each has its own default, used when the environment does not
 * set one (MPX_SPIN; the older names MPX_SYNC_SPIN and MPX_QUEUE_SPIN stay
 * aliases of it for their component and win over MPX_SPIN when both are
 * set).
 *   MPX__SPIN_SYNC   locks, semaphores, conditions, events, barriers:
 *                    100, 0 on a single-CPU machine (read once; changed
 *                    by mpx_sync_set_spin)
 *   MPX__SPIN_QUEUE  queue waits: 200 (read when a handle is made)
 *   MPX__SPIN_POOL   the pool's handler and workers: 2000 (when
 *                    mpx_pool_opts.spin is 0)
 */
enum mpx__spin_site { MPX__SPIN_SYNC, MPX__SPIN_QUEUE, MPX__SPIN_POOL };

/* The one place that reads the spin setting from the environment: true
 * with the value (as strtol gives it, unchecked) when it is set for site. */
bool mpx__spin_env(enum mpx__spin_site site, long *value);

/* The spin count of site: the environment's setting, else its default.
 * (The sync count is mpx__sync_spin, which mpx_sync_set_spin changes.) */
int mpx__spin_default(enum mpx__spin_site site);

/* The sync primitives' current settings. */
int mpx__sync_spin(void);
int64_t mpx__sync_check_ns(void); /* INT64_MAX: never */
/* A spawn or forkserver child adopts its parent's tuning (boot.c). */
void mpx__sync_settings_adopt(int spin, int64_t check_ns);

#endif /* MPX_CORE_TUNING_H */
