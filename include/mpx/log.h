/*
 * mpx/log.h - the library's logger (Python: multiprocessing.get_logger,
 * log_to_stderr; seed items LOG-01..07).
 *
 * There is one logger per process. It is off by default (level
 * MPX_LOG_NOTSET and no handler). mpx_log_to_stderr() gives Python's
 * format, "[LEVEL/ProcessName] message", each record written with a single
 * write(2) so records from several processes do not interleave within a
 * line (LOG-01). The environment variable MPX_LOG_LEVEL (a level name such
 * as "DEBUG" or a number) switches stderr logging on at start-up.
 *
 * The library logs its own events: process started / joined / terminated
 * and exit handlers (DEBUG, INFO), worker replaced (INFO), finalizers
 * (SUBDEBUG).
 */
#ifndef MPX_LOG_H
#define MPX_LOG_H

#include "common.h"

MPX_BEGIN_DECLS

/* Levels, the numbers of Python's logging module plus multiprocessing's
 * SUBDEBUG (5) and SUBWARNING (25). */
enum mpx_log_level {
    MPX_LOG_NOTSET = 0,
    MPX_LOG_SUBDEBUG = 5,
    MPX_LOG_DEBUG = 10,
    MPX_LOG_INFO = 20,
    MPX_LOG_SUBWARNING = 25,
    MPX_LOG_WARNING = 30,
    MPX_LOG_ERROR = 40,
    MPX_LOG_CRITICAL = 50
};

/*
 * A log handler: receives each record that passes the level. The message
 * is formatted, without a trailing newline. process_name is the name of the
 * current process ("MainProcess", "Process-1", ...).
 */
typedef void (*mpx_log_handler)(int level, const char *process_name, const char *message,
                                void *udata);

/*
 * mpx_log_set_level - set the logger's level; records below it are
 * dropped. MPX_LOG_NOTSET (the initial state) logs nothing while no handler
 * is set, and everything once one is (Python's NOTSET with a handler).
 * Returns 0, or MPX_EINVAL for a negative level.
 *
 * Threads: safe.
 * Fork:    the child keeps the parent's level and handler; spawn and
 *          forkserver children start with the parent's level of the time
 *          of their start (LOG-03) and, when the parent logged to stderr
 *          then, the stderr handler; a custom handler does not cross exec
 *          (such a child has no handler).
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_log_set_level(int level);

/*
 * mpx_log_get_level - the current level (MPX_LOG_NOTSET when unset).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_log_get_level(void);

/*
 * mpx_log_set_handler - install a handler (NULL removes it: logging off).
 * Returns 0.
 *
 * Threads: safe; the handler may be called from any thread of the library
 *          and must be thread-safe itself.
 * Fork:    inherited by fork children.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_log_set_handler(mpx_log_handler fn, void *udata);

/*
 * mpx_log_to_stderr - Python's log_to_stderr(level): install the stderr
 * handler with the format "[%(levelname)s/%(processName)s] %(message)s"
 * and, when level is not MPX_LOG_NOTSET, set the level. Returns 0 or
 * MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    inherited; spawn/forkserver children started while it is on
 *          have it too.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_log_to_stderr(int level);

/*
 * mpx_log - log a printf-style message through the mpx logger at the given
 * level, as a program does with get_logger().info(...). Long messages are
 * cut at 4 KiB.
 *
 * Threads: safe.
 * Fork:    safe in the child.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_log(int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * mpx_log_level_name - "SUBDEBUG", "DEBUG", "INFO", "SUBWARNING",
 * "WARNING", "ERROR", "CRITICAL", "NOTSET", or "Level N" for other values
 * (the string is static for the named levels; "Level N" uses a per-thread
 * buffer).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe for named levels.
 */
MPX_API const char *mpx_log_level_name(int level);

/*
 * mpx_log_level_parse - parse a level name (case-insensitive) or number.
 * Returns the level (>= 0), or MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_log_level_parse(const char *s);

MPX_END_DECLS

#endif /* MPX_LOG_H */
