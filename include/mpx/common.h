/*
 * mpx/common.h - export macro, version, timeouts, shared conventions.
 *
 * Every mpx call returns int: 0 on success, a negative value on failure.
 * Negative values below MPX_ERR_BASE are mpx's own codes (see errors.h);
 * other negative values are -errno. A call that answers a yes/no question
 * (Python's True/False, or a timed wait that Python answers with None)
 * returns 1 for yes, 0 for no, and a negative code for an error:
 * `if (mpx_event_wait(e, t) == 1)` reads as `if e.wait(t):`.
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
 * A duration: relative milliseconds (docs/design.md, "Porting contract").
 *
 * As an argument of a blocking call:
 *   MPX_FOREVER (INT64_MAX)  wait without limit (Python's timeout=None);
 *   N > 0                    wait at most N ms;
 *   0 or any negative value  do not wait: check once and return, as Python
 *                            treats a negative timeout as 0 (join(-1),
 *                            poll(-1), wait(-1), acquire(timeout=-1) all
 *                            return at once). MPX_NOWAIT (-1) spells it
 *                            (Python's block=False). So a computed
 *                            `deadline - now` that goes negative never
 *                            blocks.
 * In an options struct (where a field left 0 means "not set"):
 *   0            the documented default of that field (Python's default
 *                where Python has the option: None means no limit);
 *   MPX_FOREVER  no limit;
 *   N > 0        N ms;
 *   negative     (MPX_NOWAIT) zero time, unless the field says otherwise.
 * Each blocking call turns its duration once into a CLOCK_MONOTONIC
 * deadline and retries EINTR against that deadline.
 */
typedef int64_t mpx_duration;
#define MPX_FOREVER ((mpx_duration)INT64_MAX)
#define MPX_NOWAIT ((mpx_duration)-1)

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
