/*
 * core/internal.h - helpers shared by every component. Not installed.
 *
 * Contents: stringify, deadline arithmetic on CLOCK_MONOTONIC, a growable
 * byte buffer, fd helpers, internal logging shortcuts.
 */
#ifndef MPX_CORE_INTERNAL_H
#define MPX_CORE_INTERNAL_H

#include "mpx.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define MPX__STR_(x) #x
#define MPX__STR(x) MPX__STR_(x)

#define MPX__UNUSED(x) ((void)(x))
#define MPX__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MPX__LIKELY(x) __builtin_expect(!!(x), 1)
#define MPX__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MPX__HIDDEN __attribute__((visibility("hidden")))
/* The few globals that every fork writes (in the parent after fork, and in
 * the child) share one section, so a fork child takes one copy-on-write
 * fault for them instead of one per source file. */
#define MPX__FORKHOT __attribute__((section(".data.mpx_forkhot")))

/* ---- deadlines ------------------------------------------------------- */

/* Absolute CLOCK_MONOTONIC time in nanoseconds; INT64_MAX means "never". */
typedef int64_t mpx__deadline;
#define MPX__NEVER INT64_MAX

int64_t mpx__now_ns(void);
/*
 * The one conversion of a duration (common.h) into an absolute deadline,
 * done once per call: <= 0 (MPX_NOWAIT) is "now" (check once, do not
 * wait); MPX_FOREVER, and any value too large to add without overflow, is
 * MPX__NEVER; N > 0 is now + N ms.
 */
mpx__deadline mpx__deadline_from(mpx_duration timeout);
/* The same for an options field, where 0 means "not set": dflt then. */
mpx__deadline mpx__deadline_opt(mpx_duration opt, mpx_duration dflt);
/* Nanoseconds left (>= 0), or -1 when the deadline is MPX__NEVER. */
int64_t mpx__deadline_left_ns(mpx__deadline d);
/* Milliseconds left for poll(): -1 forever, 0 expired, rounded up. */
int mpx__deadline_poll_ms(mpx__deadline d);
/* Fill ts with the remaining time; returns false when it is MPX__NEVER. */
bool mpx__deadline_rel_ts(mpx__deadline d, struct timespec *ts);
bool mpx__deadline_expired(mpx__deadline d);

/* ---- growable byte buffer --------------------------------------------- */

typedef struct mpx__buf {
    unsigned char *data;
    size_t len;
    size_t cap;
} mpx__buf;

void mpx__buf_init(mpx__buf *b);
void mpx__buf_free(mpx__buf *b);
int mpx__buf_reserve(mpx__buf *b, size_t extra);
int mpx__buf_append(mpx__buf *b, const void *p, size_t n);
int mpx__buf_put_u8(mpx__buf *b, uint8_t v);
int mpx__buf_put_u32(mpx__buf *b, uint32_t v);
int mpx__buf_put_u64(mpx__buf *b, uint64_t v);
int mpx__buf_put_bytes(mpx__buf *b, const void *p, size_t n); /* u64 len + data */

/* Bounds-checked reader over a byte range. Every get returns -MPX_EPROTO
 * style errors (MPX_EPROTO) when the input is short. */
typedef struct mpx__rd {
    const unsigned char *p;
    size_t left;
} mpx__rd;

int mpx__rd_u8(mpx__rd *r, uint8_t *v);
int mpx__rd_u32(mpx__rd *r, uint32_t *v);
int mpx__rd_u64(mpx__rd *r, uint64_t *v);
/* Borrow n bytes; *p points into the input. */
int mpx__rd_raw(mpx__rd *r, size_t n, const void **p);
/* u64 length + bytes; borrowed. */
int mpx__rd_bytes(mpx__rd *r, const void **p, size_t *n);

/* ---- file descriptors ---------------------------------------------------- */

/* Full read/write loops retrying EINTR; return 0, -errno, or MPX_EEOF when
 * read hits end of file before n bytes. */
int mpx__write_all(int fd, const void *p, size_t n);
int mpx__read_all(int fd, void *p, size_t n);
/* close() that keeps errno and ignores EINTR. */
void mpx__close(int fd);
int mpx__set_cloexec(int fd, bool on);
int mpx__set_nonblock(int fd, bool on);

/* /proc/<pid>/stat: the state letter and the start time (clock ticks since
 * boot; with the pid it names one process for good). 0, -ENOENT/-ESRCH
 * when the process is gone, or another -errno. */
int mpx__proc_stat(pid_t pid, char *state, uint64_t *start);

/* ---- process-wide state ---------------------------------------------------- */

/* The pid as of the last fork/exec; cheaper than getpid(), refreshed by the
 * library's atfork child handler. */
extern pid_t mpx__self_pid;
/* Run once: atfork handlers, logging from the environment. */
void mpx__global_init(void);

/* ---- logging (levels as in log.h) --------------------------------------- */

extern int mpx__log_level_cache; /* effective level, or INT32_MAX when off */
void mpx__log_emit(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define MPX__LOG(level, ...)                                \
    do {                                                    \
        if (MPX__UNLIKELY((level) >= mpx__log_level_cache)) \
            mpx__log_emit((level), __VA_ARGS__);            \
    } while (0)
#define MPX__SUBDEBUG(...) MPX__LOG(MPX_LOG_SUBDEBUG, __VA_ARGS__)
#define MPX__DEBUG(...) MPX__LOG(MPX_LOG_DEBUG, __VA_ARGS__)
#define MPX__INFO(...) MPX__LOG(MPX_LOG_INFO, __VA_ARGS__)
#define MPX__SUBWARNING(...) MPX__LOG(MPX_LOG_SUBWARNING, __VA_ARGS__)
#define MPX__WARNING(...) MPX__LOG(MPX_LOG_WARNING, __VA_ARGS__)

/* Logger hooks (log.c). */
bool mpx__log_is_stderr(void);
void mpx__log_atfork_prepare(void);
void mpx__log_atfork_parent(void);
void mpx__log_atfork_child(void);
void mpx__log_init_from_env(void);

/* The current process name for log lines (never NULL). */
const char *mpx__process_name(void);

#endif /* MPX_CORE_INTERNAL_H */
