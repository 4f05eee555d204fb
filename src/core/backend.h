/*
 * core/backend.h - the interface between libmpx and an optional backend
 * library built from this source tree at the same version (libmpx_mpi,
 * src/mpi/; docs/mpi.md). Not installed.
 *
 * A backend registers a context (mpx_get_context(&ctx, NAME)) whose pools
 * run their workers somewhere else. pool.c then treats each worker
 * position as a thread worker (same slot ring, same completion rings,
 * same death handling: state PX_W_EXITING ends a position), except that
 * the thread it starts for a position runs the backend's body instead of
 * running tasks itself. Everything about jobs, results, callbacks,
 * chunking and imap stays in pool.c.
 *
 * libmpx exports no internal symbol (test/install-check): the backend
 * reaches the few internals it needs through one table of function
 * pointers, mpx_backend_api(MPX__BACKEND_ABI), checked by version.
 */
#ifndef MPX_CORE_BACKEND_H
#define MPX_CORE_BACKEND_H

#include "core/fnref.h"
#include "core/pool_internal.h"

/* 2: spilled output records are (offset, len) in the pool's output file
 * of the position (px_spill_write, c->outfd), no longer a memfd of the
 * writer (#12) */
#define MPX__BACKEND_ABI 2

/* A context's pool backend (mpx_context.pool). */
typedef struct mpx__pool_backend {
    /* In mpx_pool_create, before anything is made: check the options (a
     * backend refuses what it cannot do: MPX_ENOTSUP; it may set defaults
     * of its own in *o, e.g. slots), set *n, the number of worker
     * positions (*n is what the caller asked for, 0 for the default), and
     * make the pool's backend state *state (resources it holds for the
     * pool, e.g. MPI ranks). Returns 0 or an error. */
    int (*prepare)(mpx_pool_opts *o, int *n, void **state);
    /* Release the state (the pool is freed, or its creation failed): the
     * position threads have ended; called before the pool's shared
     * mapping is unmapped. */
    void (*release)(void *state);
    /* The body of the thread that stands for worker position c->w
     * (argument: the px_worker_ctx). It sets ctl->state to PX_W_READY once
     * the position takes work and PX_W_EXITING (after ringing the parent)
     * when the position has ended: after h->shutdown, with nothing of the
     * pool in flight, or when the position failed to start (init_failed
     * set). Slots it takes are claimed with the position's owner tag and
     * completed through the position's completion ring, exactly as a
     * worker does (pool_internal.h). c->backend is the prepared state. */
    void *(*worker)(void *c);
} mpx__pool_backend;

/* What a backend may call in libmpx. */
typedef struct mpx__backend_api {
    int abi;     /* MPX__BACKEND_ABI */
    size_t size; /* sizeof(mpx__backend_api) */
    /* Make ctx (static storage, a unique name, ctx->pool set) known to
     * mpx_get_context. 0, MPX_EINVAL, MPX_ETOOBIG (table full). */
    int (*context_register)(mpx_context *ctx);
    /* Portable function references (module + offset + build-id, as for
     * spawn; fnref.h): encode fn into buf (cap bytes), *len set; decode
     * len bytes back into *fn (NULL encodes as NULL). */
    int (*fnref_encode)(mpx__fnptr fn, void *buf, size_t cap, size_t *len);
    int (*fnref_decode)(const void *p, size_t len, mpx__fnptr *fn);
    /* Ring the pool's parent doorbell when it sleeps (pool_worker.c). */
    void (*ring_parent)(px_hdr *h, int evfd);
    /* Read a spilled input record (pool_internal.h). Spilled outputs are
     * written with px_spill_write into c->outfd (pool_internal.h). */
    int (*read_spill)(pid_t pid, int fd, size_t len, unsigned char **out);
    /* Run one item of kind PX_K_BYTES or PX_K_STAR with fn. Returns 0
     * with the output in *data and *len, or the item's error code (MPX_ETASK
     * for a task that failed, *task_rc its return value; another code for
     * an input that could not be decoded) with the message in *data and *len.
     * *o is created on first use; the output stays valid until the next
     * call with it; free it with task_out_free. */
    int (*run_item)(mpx_task_out **o, uint32_t kind, mpx__fnptr fn, const void *in,
                    size_t len, int *task_rc, const void **data, size_t *dlen);
    void (*task_out_free)(mpx_task_out *o);
} mpx__backend_api;

/* NULL when abi differs from the library's (a backend from another build). */
MPX_API const mpx__backend_api *mpx_backend_api(int abi);

#endif
