/*
 * mpi/mpi_internal.h - libmpx_mpi: the "mpi" pool backend (docs/mpi.md).
 *
 *   mpi_init.c      start-up (capture worker ranks before main), the
 *                   "mpi" context, finalisation at exit, rank bookkeeping
 *   mpi_worker.c    the serving loop of a worker rank
 *   mpi_dispatch.c  rank 0: one dispatcher thread per pool that takes
 *                   slots from the pool's ring like a worker, ships them
 *                   to the ranks and writes the outputs back
 *
 * Wire protocol (host byte order: every rank runs the same binary on the
 * same architecture). Rank 0 (or the spawning process) to a worker rank:
 *
 *   T_OPEN   u32 position, u32 fnref length, fnref of the initializer
 *            (padded to 8), initargs (wire_args_*)        -> T_READY
 *   T_WORK   u32 nfn, u32 nslots; nfn x {u32 idx, u32 gen, u32 len, u32 0,
 *            fnref padded to 8}; nslots x {u32 slot, u32 kind, u32 fn_idx,
 *            u32 fn_gen, u32 nrec, u32 cancel, u32 in_bytes, u32 0, input
 *            records as in a
 *            slot (PX_IN_REC: u64 index, u32 len, u32 flags = 0, data
 *            padded to 8; spilled inputs are sent inline)} -> T_DONE
 *   T_CLOSE  the pool is done with the rank                 -> T_CLOSED
 *   T_EXIT   finalise and exit                             -> T_BYE
 *
 * Worker rank to rank 0:
 *
 *   T_READY  i32 initializer result, i32 pid, char host[64]
 *   T_DONE   u64 ns spent, u32 nslots, u32 0; nslots x {u32 slot, u32 nout,
 *            u64 bytes, output records as in a slot (PX_OUT_REC: u64
 *            index, i32 code, i32 task_rc, u32 len, u32 flags = 0, data
 *            padded to 8; any length)}
 *   T_CLOSED, T_BYE  empty
 *
 * Replies of one rank come in the order of the requests (MPI keeps the
 * order of messages between two ranks on one communicator).
 */
#ifndef MPX_MPI_INTERNAL_H
#define MPX_MPI_INTERNAL_H

#include "core/backend.h"
#include "core/context_internal.h"
#include "mpx/mpi.h"

#include <mpi.h>
#include <pthread.h>

enum { T_OPEN = 1, T_READY, T_WORK, T_DONE, T_CLOSE, T_CLOSED, T_EXIT, T_BYE };

#define MX_HOST 64
#define MX_DONE_HDR 16u
#define MX_SLOT_HDR 32u
#define MX_FN_HDR 16u
#define MX_RSLOT_HDR 16u

extern const mpx__backend_api *mx_api;

/* ---- a growable byte buffer ---- */
typedef struct mx_buf {
    unsigned char *p;
    size_t len, cap;
} mx_buf;
int mx_buf_reserve(mx_buf *b, size_t extra);
int mx_buf_put(mx_buf *b, const void *p, size_t n);
int mx_buf_put_u32(mx_buf *b, uint32_t v);
int mx_buf_put_u64(mx_buf *b, uint64_t v);
int mx_buf_pad8(mx_buf *b);
void mx_buf_free(mx_buf *b);

/* ---- initargs on the wire: ints, doubles, strings, bytes ---- */
/* MPX_ENOTSUP for fds and objects (they cannot cross hosts). */
int mx_args_check(const mpx_args *a);
int mx_args_put(mx_buf *b, const mpx_args *a);
int mx_args_get(const unsigned char *p, size_t len, mpx_args **out);

/* ---- process-wide MPI state (mpi_init.c) ---- */
/* Every MPI call of rank 0's dispatcher threads is made with this held
 * (MPI_THREAD_SERIALIZED); the main thread takes it to finalise. */
extern pthread_mutex_t mx_mpi_mu;
extern int mx_rank, mx_size; /* MPI_COMM_WORLD */
extern bool mx_finalizing;   /* set under mx_mpi_mu: no more MPI calls */
/* Make sure MPI is up for a pool (lazy init of a singleton); 0 or error. */
int mx_ensure_init(void);
/* Static mode (launched with N > 1 ranks): reserve n free worker ranks
 * into ranks[] (0 or MPX_EINVAL when n > size - 1, -EAGAIN when fewer
 * are free now); release them. Number free now. */
int mx_ranks_take(int n, int *ranks);
void mx_ranks_give(const int *ranks, int n);
int mx_ranks_free(void);
/* The pool backend (mpi_dispatch.c). */
extern const mpx__pool_backend mx_pool_backend;
/* Stop every dispatcher (program exit / mpx_mpi_finalize). */
void mx_dispatch_quiesce(void);

/* ---- worker rank (mpi_worker.c) ---- */
/* Serve the pools of the process at rank 0 of comm (MPI_COMM_WORLD, or
 * the parent intercommunicator of a spawned rank); returns at T_EXIT. */
void mx_serve(MPI_Comm comm, bool spawned);

/* ---- timing ---- */
int64_t mx_now_ns(void);
/* One step of a polling back-off: spin first, then sleep longer and
 * longer (up to max_us); *idle counts the empty polls since the last
 * activity. */
void mx_backoff(unsigned *idle, int max_us);

#endif
