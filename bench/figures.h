/*
 * bench/figures.h - the side functions of every figure of mpxbench.
 *
 * raw_* functions (raw_*.c) use only the OS; they are always built.
 * mpxb_* functions (mpx_<group>.c) use the library; each file is compiled
 * only when the component's header exists on this branch (bench/Makefile),
 * so they are declared weak here: a missing one is NULL and the figure's
 * mpx column prints nan with the reason.
 */
#ifndef MPX_BENCH_FIGURES_H
#define MPX_BENCH_FIGURES_H

#include "bench.h"

#define SIDE(name) int name(const bench_cfg *cfg, double *out, char *why, size_t whylen)
#define WEAK_SIDE(name) SIDE(name) __attribute__((weak))

/* process (raw_process.c, mpx_process.c) */
SIDE(raw_process_fork);
SIDE(raw_process_spawn);
SIDE(raw_process_forkserver);
SIDE(raw_process_spawn_1g);
SIDE(raw_process_fork_1g);
WEAK_SIDE(mpxb_process_fork);
WEAK_SIDE(mpxb_process_spawn);
WEAK_SIDE(mpxb_process_forkserver);
WEAK_SIDE(mpxb_process_spawn_1g);
WEAK_SIDE(mpxb_process_fork_1g);

/* pipe (raw_pipe.c, mpx_pipe.c) */
SIDE(raw_pipe_throughput_256);
SIDE(raw_pipe_pingpong_64);
SIDE(raw_pipe_bandwidth_1m);
WEAK_SIDE(mpxb_pipe_throughput_256);
WEAK_SIDE(mpxb_pipe_pingpong_64);
WEAK_SIDE(mpxb_pipe_bandwidth_1m);

/* lock, condition, array (raw_sync.c, mpx_sync.c, mpx_array.c) */
SIDE(raw_lock_uncontended);
SIDE(raw_rlock_uncontended);
SIDE(raw_lock_contended_increment);
SIDE(raw_condition_pingpong);
SIDE(raw_array_read_nolock);
SIDE(raw_array_read_lock);
WEAK_SIDE(mpxb_lock_uncontended);
WEAK_SIDE(mpxb_rlock_uncontended);
WEAK_SIDE(mpxb_lock_contended_increment);
WEAK_SIDE(mpxb_condition_pingpong);
WEAK_SIDE(mpxb_array_read_nolock);
WEAK_SIDE(mpxb_array_read_lock);

/* queue (raw_queue.c, mpx_queue.c) */
SIDE(raw_queue_throughput_256);
SIDE(raw_queue_bandwidth_1m);
SIDE(raw_memcpy_1m);
SIDE(raw_queue_2p2c_256);
WEAK_SIDE(mpxb_queue_throughput_256);
WEAK_SIDE(mpxb_queue_bandwidth_1m);
WEAK_SIDE(mpxb_queue_2p2c_256);

/* pool (raw_pool.c, mpx_pool.c) */
SIDE(raw_pool_map_chunk1);
SIDE(raw_pool_map_default);
SIDE(raw_pool_apply_async);
SIDE(raw_pool_array_10us);
SIDE(raw_pool_apply_latency);
SIDE(raw_pool_map10_latency);
WEAK_SIDE(mpxb_pool_map_chunk1);
WEAK_SIDE(mpxb_pool_map_default);
WEAK_SIDE(mpxb_pool_apply_async);
WEAK_SIDE(mpxb_pool_array_10us);
WEAK_SIDE(mpxb_pool_apply_latency);
WEAK_SIDE(mpxb_pool_map10_latency);

/* memory (raw_memory.c; mpx_pool.c, mpx_queue.c): KiB or MiB of PSS */
SIDE(raw_mem_pool2_parent);
SIDE(raw_mem_pool2_worker);
SIDE(raw_mem_pool32_parent);
SIDE(raw_mem_pool32_worker);
SIDE(raw_mem_queue_1g_parent);
SIDE(raw_mem_queue_1g_shm);
WEAK_SIDE(mpxb_mem_pool2_parent);
WEAK_SIDE(mpxb_mem_pool2_worker);
WEAK_SIDE(mpxb_mem_pool32_parent);
WEAK_SIDE(mpxb_mem_pool32_worker);
WEAK_SIDE(mpxb_mem_queue_1g_parent);
WEAK_SIDE(mpxb_mem_queue_1g_shm);

/* obj (mpx_obj.c): the pickle codec; the raw side (memcpy of the encoded
 * bytes) needs the encoder too, so it lives there and is weak as well */
WEAK_SIDE(mpxb_obj_encode_dict1k);
WEAK_SIDE(mpxb_obj_decode_dict1k);
WEAK_SIDE(raw_obj_copy_dict1k);
WEAK_SIDE(mpxb_obj_encode_ints1k);
WEAK_SIDE(mpxb_obj_decode_ints1k);
WEAK_SIDE(raw_obj_copy_ints1k);
WEAK_SIDE(mpxb_obj_encode_bytes1m);
WEAK_SIDE(mpxb_obj_decode_bytes1m);
WEAK_SIDE(raw_obj_copy_bytes1m);

/* manager (raw_manager.c, mpx_manager.c): proxies of a SyncManager; raw =
 * 64-byte round trips over the same transport (lchan.h) */
SIDE(raw_mgr_socket_trip);
SIDE(raw_mgr_local_trip);
SIDE(raw_mgr_socket_4clients);
SIDE(raw_mgr_local_4clients);
WEAK_SIDE(mpxb_mgr_dict_socket);
WEAK_SIDE(mpxb_mgr_dict_local);
WEAK_SIDE(mpxb_mgr_list_append_local);
WEAK_SIDE(mpxb_mgr_queue_putget_local);
WEAK_SIDE(mpxb_mgr_dict_socket_4clients);
WEAK_SIDE(mpxb_mgr_dict_local_4clients);
/* obj (mpx_obj_carry.c): values through a pipe and a pool; raw = the byte
 * path with the same pickles, which needs mpx too */
WEAK_SIDE(mpxb_obj_conn_small);
WEAK_SIDE(raw_obj_conn_small);
WEAK_SIDE(mpxb_obj_pool_map_small);
WEAK_SIDE(raw_obj_pool_map_small);
/* shm (raw_shm.c, mpx_shm.c) */
SIDE(raw_shm_create_close_unlink);
SIDE(raw_shm_attach_close);
SIDE(raw_shm_sum_10m);
WEAK_SIDE(mpxb_shm_create_close_unlink);
WEAK_SIDE(mpxb_shm_attach_close);
WEAK_SIDE(mpxb_shm_sum_10m);

/* Shared sizes, so every side does the same job. */
#define POOL_TASKS_FULL 1000000L  /* map of 1,000,000 trivial tasks */
#define POOL_TASKS_QUICK 200000L
#define POOL_WORKERS 2
#define POOL_ARRAY_ITEMS_FULL 40000L /* 10 us tasks */
#define POOL_ARRAY_ITEMS_QUICK 8000L
#define POOL_TASK_US 10
#define POOL_LATENCY_MAP_ITEMS 10 /* pool_map10_latency */
#define MEM_POOL_BIG 32           /* workers of mem_pool32_* */
#define MEM_QUEUE_MSG (1L << 20)  /* mem_queue_1g_*: 1024 messages of 1 MiB */
#define MEM_QUEUE_MSGS 1024L
#define SHM_BLOCK 4096          /* block size of the create and attach figures */
#define SHM_SUM_N 10000000L     /* doubles summed by shm_sum_10m */

/* The trivial task and the 10 us task, identical on every side. */
static inline int64_t bench_task_square(int64_t x)
{
    return x * x;
}

/* Busy for us microseconds of wall time; returns a value derived from x. */
static inline int64_t bench_task_spin(int64_t x, int us)
{
    double end = bench_now() + us * 1e-6;
    int64_t acc = x;
    while (bench_now() < end)
        acc = acc * 31 + 7;
    return acc;
}

/* The sum of shm_sum_10m, identical on every side: four partial sums,
 * so the loop runs at memory speed rather than at the latency of one
 * chain of additions. */
static inline double bench_sum_doubles(const double *a, long n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (long q = n / 4; q > 0; q--, a += 4) {
        s0 += a[0];
        s1 += a[1];
        s2 += a[2];
        s3 += a[3];
    }
    for (long r = n % 4; r > 0; r--)
        s0 += *a++;
    return (s0 + s1) + (s2 + s3);
}

/* Fill (and so fault in) the array summed: a[i] = i * 0.5. */
static inline void bench_fill_doubles(double *a, long n)
{
    for (long i = 0; i < n; i++)
        a[i] = (double)i * 0.5;
}

#endif
