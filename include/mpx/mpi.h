/*
 * mpx/mpi.h - pools whose workers are MPI ranks (libmpx_mpi; issue #19;
 * docs/mpi.md). Not included by mpx.h: include it and link
 * `pkg-config --libs mpx-mpi` (libmpx_mpi, libmpx and the MPI library)
 * only where MPI is installed.
 *
 *     #include <mpx.h>
 *     #include <mpx/mpi.h>
 *
 *     static int square(const void *in, size_t len, mpx_task_out *out) {
 *         int64_t x; memcpy(&x, in, 8); x *= x;
 *         return mpx_task_out_set(out, &x, 8);
 *     }
 *     mpx_context *ctx;
 *     mpx_get_context(&ctx, "mpi");
 *     mpx_pool *p;
 *     mpx_pool_create(&p, MPX_POOL_DEFAULT, &(mpx_pool_opts){.ctx = ctx});
 *     int64_t xs[] = {1, 2, 3, 4};
 *     mpx_result *r;                               // as for any pool:
 *     mpx_pool_map_array(p, square, xs, 8, 4, NULL, &r);
 *     mpx_result_destroy(r); mpx_pool_close(p); mpx_pool_join(p); mpx_pool_destroy(p);
 *
 * Run it as `mpirun -n 4 ./app`: rank 0 runs main(), ranks 1..3 serve as
 * the pool's workers and never enter main() (they are captured by this
 * library's constructor and exit when rank 0 exits). Started without
 * mpirun (a singleton), each pool starts its workers with
 * MPI_Comm_spawn instead. Functions travel as for the spawn start method
 * (module + offset, checked by build-id): every rank runs the same
 * binary. The same apply, map, imap, starmap, chunksize, callbacks,
 * errors and results as the process pool; not available on this backend:
 * per-task timeouts and maxtasksperchild (MPX_ENOTSUP), the fixed-size
 * fast path mpx_pool_map_fixed (MPX_ENOTSUP), fds and shareable objects
 * in initargs (MPX_ENOTSUP). A task that crashes its rank ends the whole
 * MPI job, as MPI does: mpirun reports it and exits non-zero.
 *
 * Environment: MPX_MPI_AUTO=0 turns the automatic start-up off (call
 * mpx_mpi_init first thing in main instead).
 */
#ifndef MPX_MPI_H
#define MPX_MPI_H

#include "common.h"

MPX_BEGIN_DECLS

/*
 * mpx_mpi_init - initialise MPI for mpx (MPI_Init_thread with
 * MPI_THREAD_SERIALIZED, unless the program initialised MPI already) and
 * register the "mpi" context. Done automatically before main() when the
 * program was started by an MPI launcher (mpirun, mpiexec, srun), and by
 * the first pool of the "mpi" context otherwise; call it yourself only
 * with MPX_MPI_AUTO=0, first thing in main(). In a worker rank (world
 * rank > 0 under mpirun, or a rank started by MPI_Comm_spawn) it serves
 * pools and never returns: the process exits when rank 0 exits. Returns 0
 * (also when already initialised), MPX_ENOTSUP when the MPI library gives
 * less than MPI_THREAD_SERIALIZED, MPX_EPROTO when MPI_Init fails.
 *
 * Threads: call it from the main thread (MPI requires the thread that
 *          initialises MPI to be the one that finalises it; mpx
 *          finalises from its exit handler).
 * Fork:    not in a fork child of an MPI process.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_mpi_init(void);

/*
 * mpx_mpi_finalize - stop every worker rank and finalise MPI (done
 * automatically at exit). A program that initialised MPI itself calls
 * this before its own MPI_Finalize. Pools of the "mpi" context must be
 * closed and joined (or terminated) first; their results stay valid.
 * Returns 0 (also when MPI is not initialised or already finalised).
 *
 * Threads: the thread that initialised MPI; no pool may be in use.
 * Fork:    not in a fork child of an MPI process.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_mpi_finalize(void);

/*
 * mpx_mpi_world - this process's rank in MPI_COMM_WORLD and the world's
 * size (either may be NULL). Returns 0, or MPX_ESTATE when MPI is not
 * initialised (yet, or any more).
 *
 * Threads: safe.
 * Fork:    not in a fork child of an MPI process.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_mpi_world(int *rank, int *size);

/*
 * mpx_mpi_linked - defined by libmpx_mpi. Including this header makes
 * every program that does so reference it, so a static link keeps the
 * library (and its start-up code, which captures the worker ranks before
 * main) even when the program calls nothing of it but
 * mpx_get_context(&ctx, "mpi").
 *
 * Threads: read-only.
 * Fork:    not applicable.
 * Signals: not applicable.
 */
MPX_API extern const int mpx_mpi_linked;
#if defined(__GNUC__) && !defined(MPX_BUILDING)
__attribute__((used)) static const int *const mpx_mpi_link_anchor_ = &mpx_mpi_linked;
#endif

MPX_END_DECLS

#endif /* MPX_MPI_H */
