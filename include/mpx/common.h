/*
 * mpx/common.h - export macro, version, timeouts, shared conventions.
 *
 * Every mpx call returns int: 0 on success, a negative value on failure.
 * Negative values below MPX_ERR_BASE are mpx's own codes (see errors.h);
 * other negative values are -errno.
 */
#ifndef MPX_COMMON_H
#define MPX_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define MPX_BEGIN_DECLS extern "C" {
#define MPX_END_DECLS }
#else
#define MPX_BEGIN_DECLS
#define MPX_END_DECLS
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MPX_API __attribute__((visibility("default")))
#else
#define MPX_API
#endif

#define MPX_VERSION_MAJOR 0
#define MPX_VERSION_MINOR 1
#define MPX_VERSION_PATCH 0

MPX_BEGIN_DECLS

/*
 * A timeout: relative milliseconds. MPX_FOREVER is Python's None (wait
 * without limit); MPX_NOWAIT is block=False. Other negative values are
 * treated as MPX_NOWAIT, as Python treats a negative timeout as 0.
 * Internally each blocking call turns it once into a CLOCK_MONOTONIC
 * deadline and retries EINTR against that deadline.
 */
typedef int64_t mpx_duration;
#define MPX_FOREVER ((mpx_duration)-1)
#define MPX_NOWAIT ((mpx_duration)0)

/*
 * mpx_version - the library's version as "MAJOR.MINOR.PATCH".
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API const char *mpx_version(void);

/*
 * mpx_free - release memory that an mpx call returned to the caller
 * (strings from describe functions, received messages, result lists).
 * mpx_free(NULL) does nothing.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_free(void *p);

MPX_END_DECLS

#endif /* MPX_COMMON_H */
