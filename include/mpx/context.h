/*
 * mpx/context.h - start methods and contexts (Python: get_context,
 * set_start_method, get_start_method, get_all_start_methods,
 * set_executable, set_forkserver_preload; seed items CTX-01..14,
 * MISC-05..12).
 *
 * A context is a start method: "fork", "spawn" or "forkserver". Each
 * process (and each shareable object) records the context it was made
 * with. The default context is the one set with mpx_set_start_method, or
 * else the one named by the environment variable MPX_START_METHOD, or else
 * fork.
 */
#ifndef MPX_CONTEXT_H
#define MPX_CONTEXT_H

#include "common.h"
#include "process.h"

MPX_BEGIN_DECLS

/*
 * mpx_get_context - the context for a start method name ("fork", "spawn",
 * "forkserver"), or the default context when method is NULL (MISC-07).
 * Contexts are static: never freed. Returns 0, MPX_EINVAL for an unknown
 * name, MPX_ENOTSUP for a method this system cannot provide.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_get_context(mpx_context **out, const char *method);

/*
 * mpx_context_start_method - the method name of a context ("fork" ...).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API const char *mpx_context_start_method(const mpx_context *ctx);

/*
 * mpx_get_all_start_methods - the supported methods, the default first
 * (MISC-06). Fills up to cap names (static strings) and sets *n to the
 * number available. Returns 0.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_get_all_start_methods(const char **names, size_t cap, size_t *n);

/*
 * mpx_get_start_method - the current default method (MISC-08). When none
 * has been fixed: with allow_none, *out is NULL; otherwise the default is
 * fixed now and returned. Returns 0.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_get_start_method(const char **out, int allow_none);

/*
 * mpx_set_start_method - fix the default method (CTX-07, MISC-10). A
 * second call is MPX_ESTATE unless force is set; method NULL with force
 * resets to "not fixed". Returns 0, MPX_ESTATE, MPX_EINVAL (unknown name),
 * MPX_ENOTSUP.
 *
 * Threads: safe, but call it before starting processes.
 * Fork:    a fork child inherits the setting.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_set_start_method(const char *method, int force);

MPX_END_DECLS

#endif /* MPX_CONTEXT_H */
