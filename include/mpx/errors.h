/*
 * mpx/errors.h - error codes.
 *
 * Every call returns 0 on success and a negative int on failure: either
 * -errno for a system error, or one of the codes below. The list is one
 * X-macro; it generates the enum, mpx_strerror() and mpx_err_name().
 * Python exceptions map onto codes: TimeoutError -> MPX_ETIMEDOUT,
 * queue.Empty -> MPX_EEMPTY, queue.Full -> MPX_EFULL, EOFError -> MPX_EEOF,
 * ValueError on a closed object -> MPX_ECLOSED, AssertionError or
 * RuntimeError on misuse -> MPX_ESTATE, AuthenticationError -> MPX_EAUTH,
 * BufferTooShort -> MPX_ETOOSHORT, RemoteError -> MPX_EREMOTE,
 * queue.ShutDown (3.13) -> MPX_ESHUTDOWN, TypeError -> MPX_ETYPE,
 * KeyError -> MPX_EKEY, IndexError -> MPX_EINDEX, RecursionError ->
 * MPX_EDEPTH, ValueError -> MPX_EINVAL, OverflowError -> -ERANGE.
 */
#ifndef MPX_ERRORS_H
#define MPX_ERRORS_H

#include "common.h"

MPX_BEGIN_DECLS

#define MPX_ERR_BASE (-4000)

/* X(name, value, message) */
#define MPX_ERRORS(X)                                                         \
    X(MPX_ETIMEDOUT, -4001, "timed out")                                      \
    X(MPX_EEMPTY, -4002, "would block: nothing available")                    \
    X(MPX_EFULL, -4003, "would block: full")                                  \
    X(MPX_EEOF, -4004, "end of file: the other end is closed")                \
    X(MPX_ECLOSED, -4005, "object has been closed")                           \
    X(MPX_ESTATE, -4006, "bad state: call not allowed now (misuse)")          \
    X(MPX_EAUTH, -4007, "authentication failed")                              \
    X(MPX_ETOOSHORT, -4008, "buffer too short for the message")               \
    X(MPX_EREMOTE, -4009, "remote error")                                     \
    X(MPX_EOWNERDEAD, -4010, "previous owner died; protected state suspect")  \
    X(MPX_EWORKER, -4011, "worker crashed while running the task")            \
    X(MPX_EBROKEN, -4012, "broken: object unusable after a failure")          \
    X(MPX_ENOTSUP, -4013, "not supported")                                    \
    X(MPX_EINVAL, -4014, "invalid argument")                                  \
    X(MPX_ETASK, -4015, "task failed")                                        \
    X(MPX_ETOOBIG, -4016, "message too large")                                \
    X(MPX_EPROTO, -4017, "protocol error: malformed data from peer")          \
    X(MPX_ECONTEXT, -4018, "object belongs to an incompatible context")       \
    X(MPX_ERESOLVE, -4019, "function cannot be resolved in the child")        \
    X(MPX_ECANCELED, -4020, "canceled")                                       \
    X(MPX_ESHUTDOWN, -4021, "queue has been shut down")                      \
    X(MPX_ETYPE, -4022, "wrong type for this operation (TypeError)")         \
    X(MPX_EKEY, -4023, "key not found (KeyError)")                           \
    X(MPX_EINDEX, -4024, "index out of range (IndexError)")                  \
    X(MPX_EDEPTH, -4025, "nesting too deep (RecursionError)")

enum mpx_error {
#define MPX__ERR_ENUM(name, value, msg) name = value,
    MPX_ERRORS(MPX__ERR_ENUM)
#undef MPX__ERR_ENUM
    MPX_ERR_LAST = -4026
};

/*
 * mpx_strerror - a static, human-readable message for any return value:
 * mpx codes, -errno values (strerror text) and 0 ("success"). Never NULL.
 *
 * Threads: safe (the text is static; -errno text comes from strerrordesc_np).
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API const char *mpx_strerror(int err);

/*
 * mpx_err_name - the symbolic name of a code: "MPX_ETIMEDOUT", "EAGAIN",
 * "OK" for 0, "UNKNOWN" for a value that is neither.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API const char *mpx_err_name(int err);

MPX_END_DECLS

#endif /* MPX_ERRORS_H */
