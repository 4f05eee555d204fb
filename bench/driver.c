/*
 * bench/driver.c - mpxbench: the figure table and the driver that
 * measures every figure three ways (mpx, cpython, raw), interleaved.
 *
 *   mpxbench run [--quick] [--reps N] GROUP...   the table on stdout
 *                                                (a GROUP may also be one figure's name)
 *   mpxbench one FIGURE SIDE [--quick]           one measurement (internal)
 *   mpxbench list                                figures and groups
 *   mpxbench exit0                               exit at once (raw spawn)
 *
 * Every repetition of every side runs in a fresh process (this program
 * re-executed, python3 for the cpython column, build/seed_benchmarks for
 * the seed rows), so a figure never inherits memory, threads or children
 * from another (baselines.md note 7: leftover memory inflates fork
 * figures). Within a figure the sides alternate and the order rotates
 * from one repetition to the next, so drift on the shared machine hits
 * every side alike (note 10). The quoted value is the median.
 */
#include "figures.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef MPXB_HAVE_CONNECTION
#define MPXB_HAVE_CONNECTION 0
#endif
#ifndef MPXB_HAVE_SYNC
#define MPXB_HAVE_SYNC 0
#endif
#ifndef MPXB_HAVE_SHAREDCTYPES
#define MPXB_HAVE_SHAREDCTYPES 0
#endif
#ifndef MPXB_HAVE_QUEUE
#define MPXB_HAVE_QUEUE 0
#endif
#ifndef MPXB_HAVE_POOL
#define MPXB_HAVE_POOL 0
#endif
#ifndef MPXB_HAVE_OBJ
#define MPXB_HAVE_OBJ 0
#endif
#ifndef MPXB_HAVE_MANAGER
#define MPXB_HAVE_MANAGER 0
#endif
#ifndef MPXB_HAVE_SHM
#define MPXB_HAVE_SHM 0
#endif

typedef struct figure {
    const char *name;
    const char *group;
    const char *unit;
    const char *better; /* "higher" or "lower" */
    bench_side_fn mpx, raw;
    const char *component; /* what the mpx side needs */
    int have_header;       /* that component's header is on this branch */
    int seed;              /* measured by seed_benchmarks (.c and .py) */
    /* A companion row measured in the same repetitions: same mpx and
     * cpython values, raw column from raw2 (queue 1 MiB vs memcpy). */
    const char *row2;
    bench_side_fn raw2;
    int full_only; /* skipped by --quick (a figure beyond the list) */
    int mpi;       /* run under mpirun by separate programs (bench/mpi_figs.h) */
} figure;

#define PROC "process (include/mpx/process.h)"
#define CONN "connection (include/mpx/connection.h)"
#define SYNC "sync (include/mpx/sync.h)"
#define SCT "sharedctypes (include/mpx/sharedctypes.h)"
#define QUEUE "queue (include/mpx/queue.h)"
#define POOL "pool (include/mpx/pool.h)"
#define SHM "shm (include/mpx/shm.h)"
#define MPI "mpi (include/mpx/mpi.h, libmpx_mpi)"
#define OBJ "obj (include/mpx/obj.h)"
#define MGR "manager (include/mpx/manager.h)"

static const figure FIGS[] = {
    /* process: start+join latency of a process that does nothing */
    {"process_fork", "process", "us", "lower", mpxb_process_fork, raw_process_fork, PROC, 1, 0, 0, 0},
    {"process_spawn", "process", "us", "lower", mpxb_process_spawn, raw_process_spawn, PROC, 1, 0, 0, 0},
    {"process_forkserver", "process", "us", "lower", mpxb_process_forkserver, raw_process_forkserver,
     PROC, 1, 0, 0, 0},
    {"process_spawn_1g", "process", "us", "lower", mpxb_process_spawn_1g, raw_process_spawn_1g, PROC, 1,
     0, 0, 0},
    /* the contrast that motivates spawn: fork copies 1 GiB of page tables */
    {"process_fork_1g", "process", "us", "lower", mpxb_process_fork_1g, raw_process_fork_1g, PROC, 1, 0,
     0, 0, 1},
    /* pipe */
    {"pipe_throughput_256", "pipe", "msgs/s", "higher", mpxb_pipe_throughput_256,
     raw_pipe_throughput_256, CONN, MPXB_HAVE_CONNECTION, 0, 0, 0},
    {"pipe_pingpong_64", "pipe", "us", "lower", mpxb_pipe_pingpong_64, raw_pipe_pingpong_64, CONN,
     MPXB_HAVE_CONNECTION, 0, 0, 0},
    {"pipe_bandwidth_1m", "pipe", "MB/s", "higher", mpxb_pipe_bandwidth_1m, raw_pipe_bandwidth_1m, CONN,
     MPXB_HAVE_CONNECTION, 0, 0, 0},
    {"seed_pipe", "pipe", "objects/s", "higher", 0, 0, CONN, 1, 1, 0, 0},
    /* lock */
    {"lock_uncontended", "lock", "ns", "lower", mpxb_lock_uncontended, raw_lock_uncontended, SYNC,
     MPXB_HAVE_SYNC, 0, 0, 0},
    {"rlock_uncontended", "lock", "ns", "lower", mpxb_rlock_uncontended, raw_rlock_uncontended, SYNC,
     MPXB_HAVE_SYNC, 0, 0, 0},
    {"lock_contended_increment", "lock", "ns", "lower", mpxb_lock_contended_increment,
     raw_lock_contended_increment, SYNC, MPXB_HAVE_SYNC, 0, 0, 0},
    {"seed_lock", "lock", "iterations/s", "higher", 0, 0, SYNC, 1, 1, 0, 0},
    {"seed_rlock", "lock", "iterations/s", "higher", 0, 0, SYNC, 1, 1, 0, 0},
    /* condition */
    {"condition_pingpong", "condition", "us", "lower", mpxb_condition_pingpong, raw_condition_pingpong,
     SYNC, MPXB_HAVE_SYNC, 0, 0, 0},
    {"seed_condition", "condition", "waits/s", "higher", 0, 0, SYNC, 1, 1, 0, 0},
    /* array */
    {"array_read_nolock", "array", "ns", "lower", mpxb_array_read_nolock, raw_array_read_nolock, SCT,
     MPXB_HAVE_SHAREDCTYPES, 0, 0, 0},
    {"array_read_lock", "array", "ns", "lower", mpxb_array_read_lock, raw_array_read_lock, SCT,
     MPXB_HAVE_SHAREDCTYPES, 0, 0, 0},
    {"seed_array_nolock", "array", "iterations/s", "higher", 0, 0, SCT, 1, 1, 0, 0},
    {"seed_array_lock", "array", "iterations/s", "higher", 0, 0, SCT, 1, 1, 0, 0},
    /* queue */
    {"queue_throughput_256", "queue", "msgs/s", "higher", mpxb_queue_throughput_256,
     raw_queue_throughput_256, QUEUE, MPXB_HAVE_QUEUE, 0, 0, 0},
    {"queue_bandwidth_1m", "queue", "MB/s", "higher", mpxb_queue_bandwidth_1m, raw_queue_bandwidth_1m,
     QUEUE, MPXB_HAVE_QUEUE, 0, "queue_bandwidth_1m_vs_memcpy", raw_memcpy_1m},
    {"queue_2p2c_256", "queue", "msgs/s", "higher", mpxb_queue_2p2c_256, raw_queue_2p2c_256, QUEUE,
     MPXB_HAVE_QUEUE, 0, 0, 0},
    {"seed_queue", "queue", "objects/s", "higher", 0, 0, QUEUE, 1, 1, 0, 0},
    /* pool */
    {"pool_map_chunk1", "pool", "tasks/s", "higher", mpxb_pool_map_chunk1, raw_pool_map_chunk1, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    {"pool_map_default", "pool", "tasks/s", "higher", mpxb_pool_map_default, raw_pool_map_default, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    {"pool_apply_async", "pool", "tasks/s", "higher", mpxb_pool_apply_async, raw_pool_apply_async, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    {"pool_array_10us", "pool", "tasks/s", "higher", mpxb_pool_array_10us, raw_pool_array_10us, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    /* the interactive case: one call on a started pool of 2, waited for */
    {"pool_apply_latency", "pool", "us", "lower", mpxb_pool_apply_latency, raw_pool_apply_latency, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    {"pool_map10_latency", "pool", "us", "lower", mpxb_pool_map10_latency, raw_pool_map10_latency, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    /* memory: PSS (smaps_rollup) of an idle pool's parent and workers, a queue holding 1 GiB */
    {"mem_pool2_parent", "memory", "KiB", "lower", mpxb_mem_pool2_parent, raw_mem_pool2_parent, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    {"mem_pool2_worker", "memory", "KiB", "lower", mpxb_mem_pool2_worker, raw_mem_pool2_worker, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    {"mem_pool32_parent", "memory", "KiB", "lower", mpxb_mem_pool32_parent, raw_mem_pool32_parent, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    {"mem_pool32_worker", "memory", "KiB", "lower", mpxb_mem_pool32_worker, raw_mem_pool32_worker, POOL,
     MPXB_HAVE_POOL, 0, 0, 0},
    {"mem_queue_1g_parent", "memory", "MiB", "lower", mpxb_mem_queue_1g_parent, raw_mem_queue_1g_parent,
     QUEUE, MPXB_HAVE_QUEUE, 0, 0, 0},
    {"mem_queue_1g_shm", "memory", "MiB", "lower", mpxb_mem_queue_1g_shm, raw_mem_queue_1g_shm, QUEUE,
     MPXB_HAVE_QUEUE, 0, 0, 0},
    /* obj: the pickle codec; raw = memcpy of the encoded bytes */
    {"obj_encode_dict1k", "obj", "ops/s", "higher", mpxb_obj_encode_dict1k, raw_obj_copy_dict1k, OBJ,
     MPXB_HAVE_OBJ, 0, 0, 0},
    {"obj_decode_dict1k", "obj", "ops/s", "higher", mpxb_obj_decode_dict1k, raw_obj_copy_dict1k, OBJ,
     MPXB_HAVE_OBJ, 0, 0, 0},
    {"obj_encode_ints1k", "obj", "ops/s", "higher", mpxb_obj_encode_ints1k, raw_obj_copy_ints1k, OBJ,
     MPXB_HAVE_OBJ, 0, 0, 0},
    {"obj_decode_ints1k", "obj", "ops/s", "higher", mpxb_obj_decode_ints1k, raw_obj_copy_ints1k, OBJ,
     MPXB_HAVE_OBJ, 0, 0, 0},
    {"obj_encode_bytes1m", "obj", "MB/s", "higher", mpxb_obj_encode_bytes1m, raw_obj_copy_bytes1m, OBJ,
     MPXB_HAVE_OBJ, 0, 0, 0},
    {"obj_decode_bytes1m", "obj", "MB/s", "higher", mpxb_obj_decode_bytes1m, raw_obj_copy_bytes1m, OBJ,
     MPXB_HAVE_OBJ, 0, 0, 0},
    /* obj: values carried (mpx_obj_carry.c); raw = the byte path with the same pickles */
    {"obj_conn_small", "obj", "msgs/s", "higher", mpxb_obj_conn_small, raw_obj_conn_small, OBJ,
     MPXB_HAVE_OBJ, 0, 0, 0},
    {"obj_pool_map_small", "obj", "tasks/s", "higher", mpxb_obj_pool_map_small,
     raw_obj_pool_map_small, OBJ, MPXB_HAVE_OBJ, 0, 0, 0},
    /* manager: proxies of a SyncManager started under fork; raw = 64-byte
     * round trips over the row's own transport (socket or local) */
    {"mgr_dict_socket", "manager", "us", "lower", mpxb_mgr_dict_socket, raw_mgr_socket_trip, MGR,
     MPXB_HAVE_MANAGER, 0, 0, 0},
    {"mgr_dict_socket_4clients", "manager", "calls/s", "higher", mpxb_mgr_dict_socket_4clients,
     raw_mgr_socket_4clients, MGR, MPXB_HAVE_MANAGER, 0, 0, 0},
    {"mgr_dict_local", "manager", "us", "lower", mpxb_mgr_dict_local, raw_mgr_local_trip, MGR,
     MPXB_HAVE_MANAGER, 0, 0, 0},
    {"mgr_dict_local_4clients", "manager", "calls/s", "higher", mpxb_mgr_dict_local_4clients,
     raw_mgr_local_4clients, MGR, MPXB_HAVE_MANAGER, 0, 0, 0},
    {"mgr_list_append_local", "manager", "us", "lower", mpxb_mgr_list_append_local,
     raw_mgr_local_trip, MGR, MPXB_HAVE_MANAGER, 0, 0, 0},
    {"mgr_queue_putget_local", "manager", "us", "lower", mpxb_mgr_queue_putget_local,
     raw_mgr_local_trip, MGR, MPXB_HAVE_MANAGER, 0, 0, 0},
    /* the seed's manager variants (seed_benchmarks.c / .py) */
    {"seed_mgr_queue", "manager", "objects/s", "higher", 0, 0, MGR, 1, 1, 0, 0},
    {"seed_mgr_list", "manager", "iterations/s", "higher", 0, 0, MGR, 1, 1, 0, 0},
    {"seed_mgr_lock", "manager", "iterations/s", "higher", 0, 0, MGR, 1, 1, 0, 0},
    {"seed_mgr_rlock", "manager", "iterations/s", "higher", 0, 0, MGR, 1, 1, 0, 0},
    {"seed_mgr_condition", "manager", "waits/s", "higher", 0, 0, MGR, 1, 1, 0, 0},
    /* shm: named blocks (4 KiB) and memory speed through one */
    {"shm_create_close_unlink", "shm", "us", "lower", mpxb_shm_create_close_unlink,
     raw_shm_create_close_unlink, SHM, MPXB_HAVE_SHM, 0, 0, 0},
    {"shm_attach_close", "shm", "us", "lower", mpxb_shm_attach_close, raw_shm_attach_close, SHM,
     MPXB_HAVE_SHM, 0, 0, 0},
    {"shm_sum_10m", "shm", "ms", "lower", mpxb_shm_sum_10m, raw_shm_sum_10m, SHM, MPXB_HAVE_SHM, 0,
     0, 0},
    /* mpi: 4 ranks under mpirun; cpython = mpi4py.futures, raw = a plain MPI loop */
    {"mpi_map_small_chunk1", "mpi", "tasks/s", "higher", 0, 0, MPI, 1, 0, 0, 0, 0, 1},
    {"mpi_map_small", "mpi", "tasks/s", "higher", 0, 0, MPI, 1, 0, 0, 0, 0, 1},
    {"mpi_map_1ms", "mpi", "tasks/s", "higher", 0, 0, MPI, 1, 0, 0, 0, 0, 1},
};
#define NFIGS (sizeof FIGS / sizeof FIGS[0])

static const char *const GROUPS[] = {"process", "pipe", "lock", "condition", "array", "queue",
                                     "pool",    "memory", "obj", "mpi",  "manager", "shm", "seed"};

/* ------------------------------------------------------------------ */

static char bench_dir[PATH_MAX];
static char python[PATH_MAX];
static int opt_quick, opt_reps, opt_verbose;
static volatile pid_t running_child;

static void on_signal(int sig)
{
    if (running_child > 0)
        kill(-running_child, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void find_python(void)
{
    const char *env = getenv("MPXBENCH_PYTHON");
    if (env && *env) {
        if (access(env, X_OK) == 0)
            snprintf(python, sizeof python, "%s", env);
        return;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = strdup(path), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char cand[PATH_MAX];
        snprintf(cand, sizeof cand, "%s/python3", *d ? d : ".");
        if (access(cand, X_OK) == 0) {
            snprintf(python, sizeof python, "%s", cand);
            break;
        }
    }
    free(copy);
}

/* The mpi group: mpirun and the two programs (bench/Makefile builds them
 * where MPI is installed). */
static char mpirun[PATH_MAX];
static const char *mpi_missing; /* why the group is skipped, or NULL */

static int find_in_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char cand[PATH_MAX];
        snprintf(cand, sizeof cand, "%s/%s", *d ? d : ".", name);
        if (access(cand, X_OK) == 0) {
            snprintf(out, cap, "%s", cand);
            found = 1;
        }
    }
    free(copy);
    return found;
}

static void find_mpi(void)
{
    char p[PATH_MAX + 32];
    if (!find_in_path("mpirun", mpirun, sizeof mpirun)) {
        mpi_missing = "MPI is not installed (scripts/deps.sh --mpi: openmpi-bin libopenmpi-dev "
                      "python3-mpi4py)";
        return;
    }
    snprintf(p, sizeof p, "%s/build/mpxbench_mpi", bench_dir);
    if (access(p, X_OK) != 0) {
        mpi_missing = "bench/build/mpxbench_mpi was not built (libopenmpi-dev missing, or "
                      "libmpx_mpi not built)";
        return;
    }
    /* root needs these, also for the ranks mpirun starts */
    if (getuid() == 0) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    }
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
}

static double seed_delta(void)
{
    return opt_quick ? 0.05 : 0.25;
}

/*
 * Run one side of one figure in a fresh process. Returns the value (nan
 * on failure with the reason in why).
 */
static double run_side(const figure *f, const char *side, char *why, size_t whylen)
{
    char *argv[16];
    int argc = 0;
    char script[PATH_MAX + 32], seedbin[PATH_MAX + 32], delta[32];
    snprintf(delta, sizeof delta, "%g", seed_delta());
    why[0] = 0;

    char mpiprog[PATH_MAX + 32], nranks[16];
    if (f->mpi) {
        /* mpirun --oversubscribe -n 4 PROGRAM FIGURE [--quick] */
        snprintf(nranks, sizeof nranks, "%d", 4);
        argv[argc++] = mpirun;
        argv[argc++] = "--oversubscribe";
        argv[argc++] = "-n";
        argv[argc++] = nranks;
        if (!strcmp(side, "cpython")) {
            /* Debian's mpi4py works with Debian's own interpreter only */
            if (access("/usr/bin/python3", X_OK) != 0) {
                snprintf(why, whylen, "/usr/bin/python3 missing: mpi4py column not measured");
                return NAN;
            }
            argv[argc++] = "/usr/bin/python3";
            argv[argc++] = "-m";
            argv[argc++] = "mpi4py.futures";
            snprintf(script, sizeof script, "%s/bench_mpi.py", bench_dir);
            argv[argc++] = script;
        } else {
            snprintf(mpiprog, sizeof mpiprog, "%s/build/%s", bench_dir,
                     !strcmp(side, "mpx") ? "mpxbench_mpi" : "rawbench_mpi");
            argv[argc++] = mpiprog;
        }
        argv[argc++] = (char *)f->name;
        if (opt_quick)
            argv[argc++] = "--quick";
    } else if (!strcmp(side, "cpython")) {
        if (!python[0]) {
            snprintf(why, whylen, "python3 not found: cpython column not measured");
            return NAN;
        }
        argv[argc++] = python;
        if (f->seed) {
            snprintf(script, sizeof script, "%s/seed_benchmarks.py", bench_dir);
            argv[argc++] = script;
            argv[argc++] = "--figure";
            argv[argc++] = (char *)f->name;
            argv[argc++] = "--delta";
            argv[argc++] = delta;
        } else {
            snprintf(script, sizeof script, "%s/bench_mp.py", bench_dir);
            argv[argc++] = script;
            argv[argc++] = (char *)f->name;
            if (opt_quick)
                argv[argc++] = "--quick";
        }
    } else if (f->seed) {
        snprintf(seedbin, sizeof seedbin, "%s/build/seed_benchmarks", bench_dir);
        argv[argc++] = seedbin;
        argv[argc++] = "--figure";
        argv[argc++] = (char *)f->name;
        argv[argc++] = "--side";
        argv[argc++] = (char *)side;
        argv[argc++] = "--delta";
        argv[argc++] = delta;
    } else {
        bench_side_fn fn = !strcmp(side, "mpx") ? f->mpx : !strcmp(side, "raw") ? f->raw : f->raw2;
        if (!fn) {
            if (!f->have_header)
                snprintf(why, whylen, "mpx: %s component not built yet", f->component);
            else
                snprintf(why, whylen,
                         "mpx: bench/mpx_*.c for the %s component did not compile (see the make "
                         "output)",
                         f->component);
            return NAN;
        }
        argv[argc++] = (char *)bench_self_exe();
        argv[argc++] = "one";
        argv[argc++] = (char *)f->name;
        argv[argc++] = (char *)side;
        if (opt_quick)
            argv[argc++] = "--quick";
    }
    argv[argc] = NULL;

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return NAN;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return NAN;
    }
    if (pid == 0) {
        setpgid(0, 0); /* so a timeout can kill what the side started */
        dup2(p[1], 1);
        execv(argv[0], argv);
        printf("nan cannot run %s: %s\n", argv[0], strerror(errno));
        fflush(stdout);
        _exit(127);
    }
    setpgid(pid, pid);
    running_child = pid;
    close(p[1]);

    char buf[4096];
    size_t len = 0;
    double started = bench_now();
    double limit = bench_now() + (opt_quick ? 60 : 300);
    int timed_out = 0, exited = 0, eof = 0, st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    /* Read until the side has exited and its output is drained; a
     * grandchild that keeps the pipe open does not hold us up. */
    while (!(exited && eof)) {
        int ms = (int)((limit - bench_now()) * 1000);
        if (ms <= 0) {
            timed_out = 1;
            break;
        }
        if (!exited) {
            pid_t w = wait4(pid, &st, WNOHANG, &ru);
            if (w == pid)
                exited = 1;
        }
        struct pollfd pf = {p[0], POLLIN, 0};
        int r = poll(&pf, 1, exited ? 0 : (ms < 50 ? ms : 50));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (exited)
                break; /* nothing more buffered */
            continue;
        }
        ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            eof = 1;
            if (!exited) {
                while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
                }
                exited = 1;
            }
            continue;
        }
        len += (size_t)n;
        if (len == sizeof buf - 1)
            len = 0; /* keep only the tail of a chatty side */
    }
    buf[len] = 0;
    close(p[0]);
    kill(-pid, SIGKILL); /* nothing of the side may outlive it */
    if (!exited)
        while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
        }
    running_child = 0;

    if (timed_out) {
        snprintf(why, whylen, "%s: timed out", side);
        return NAN;
    }
    /* the value is on the last non-empty line */
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n')) && nl[1])
        line = nl + 1;
    if ((nl = strchr(line, '\n')))
        *nl = 0;
    if (opt_verbose)
        fprintf(stderr, "#   %s %s: %s (maxrss %ld KiB, %.2f s)\n", f->name, side, line, ru.ru_maxrss,
                bench_now() - started);
    if (!strncmp(line, "nan", 3)) {
        const char *r = line[3] == ' ' ? line + 4 : "no reason given";
        snprintf(why, whylen, "%s", r);
        return NAN;
    }
    char *end;
    double v = strtod(line, &end);
    if (end == line || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFSIGNALED(st))
            snprintf(why, whylen, "%s: killed by signal %d", side, WTERMSIG(st));
        else
            snprintf(why, whylen, "%s: exit status %d, output '%.200s'", side,
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1, line);
        return NAN;
    }
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[64];
    int k = 0;
    for (int i = 0; i < n && k < 64; i++)
        if (!isnan(v[i]))
            s[k++] = v[i];
    if (!k)
        return NAN;
    qsort(s, (size_t)k, sizeof s[0], cmp_double);
    return k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
}

static void fmt(char *b, size_t n, double v)
{
    if (isnan(v))
        snprintf(b, n, "nan");
    else if (fabs(v) >= 10000)
        snprintf(b, n, "%.0f", v);
    else
        snprintf(b, n, "%.4g", v);
}

static void print_row(const char *name, const char *unit, const char *better, double m, double c,
                      double r)
{
    int hi = !strcmp(better, "higher");
    double rc = hi ? m / c : c / m, rr = hi ? m / r : r / m;
    char a[32], b[32], d[32], e[32], g[32];
    fmt(a, sizeof a, m);
    fmt(b, sizeof b, c);
    fmt(d, sizeof d, r);
    if (isnan(rc) || isinf(rc))
        snprintf(e, sizeof e, "nan");
    else
        snprintf(e, sizeof e, "%.3g", rc);
    if (isnan(rr) || isinf(rr))
        snprintf(g, sizeof g, "nan");
    else
        snprintf(g, sizeof g, "%.3g", rr);
    printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, unit, better, a, b, d, e, g);
    fflush(stdout);
}

static void note_reason(const char *fig, const char *side, const char *why, char *seen, size_t n)
{
    if (!why[0] || strstr(seen, why))
        return;
    fprintf(stderr, "%s: %s nan: %s\n", fig, side, why);
    size_t l = strlen(seen);
    snprintf(seen + l, n - l, "%s|", why);
}

static void run_figure(const figure *f)
{
    const char *sides[4] = {"mpx", "cpython", "raw", "raw2"};
    int ns = f->row2 ? 4 : 3;
    double val[4][64];
    char why[512], seen[2048] = "";
    for (int rep = 0; rep < opt_reps; rep++) {
        for (int k = 0; k < ns; k++) {
            int s = (k + rep) % ns;
            val[s][rep] = run_side(f, sides[s], why, sizeof why);
            if (isnan(val[s][rep]))
                note_reason(f->name, sides[s], why, seen, sizeof seen);
        }
    }
    double m = median(val[0], opt_reps), c = median(val[1], opt_reps), r = median(val[2], opt_reps);
    print_row(f->name, f->unit, f->better, m, c, r);
    if (f->row2)
        print_row(f->row2, f->unit, f->better, m, c, median(val[3], opt_reps));
}

static int in_group(const figure *f, const char *g)
{
    if (!strcmp(g, "all"))
        return 1;
    if (!strcmp(g, "seed"))
        return f->seed;
    return !strcmp(f->group, g) || !strcmp(f->name, g);
}

static int known_group(const char *g)
{
    if (!strcmp(g, "all"))
        return 1;
    for (size_t i = 0; i < sizeof GROUPS / sizeof GROUPS[0]; i++)
        if (!strcmp(GROUPS[i], g))
            return 1;
    for (size_t i = 0; i < NFIGS; i++)
        if (!strcmp(FIGS[i].name, g)) /* one figure by its name */
            return 1;
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    const char *groups[32];
    int ng = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            opt_quick = 1;
        else if (!strcmp(argv[i], "--verbose"))
            opt_verbose = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            opt_reps = atoi(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "mpxbench: unknown option %s\n", argv[i]);
            return 2;
        } else if (!known_group(argv[i])) {
            fprintf(stderr, "mpxbench: unknown group %s (process pipe lock condition array queue pool "
                            "memory obj mpi manager shm seed all, or a figure's name)\n",
                    argv[i]);
            return 2;
        } else if (ng < 32) {
            groups[ng++] = argv[i];
        }
    }
    if (!ng)
        groups[ng++] = "all";
    if (opt_reps <= 0)
        opt_reps = opt_quick ? 3 : 5;
    if (opt_reps > 64)
        opt_reps = 64;
    find_python();
    find_mpi();
    if (!python[0])
        fprintf(stderr, "mpxbench: python3 not found: the cpython column is nan\n");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);

    int mpi_warned = 0;
    printf("figure\tunit\tbetter\tmpx\tcpython\traw\tmpx/cpython\tmpx/raw\n");
    fflush(stdout);
    for (int g = 0; g < ng; g++) {
        int any = 0;
        for (size_t i = 0; i < NFIGS; i++) {
            if (!in_group(&FIGS[i], groups[g]))
                continue;
            if (FIGS[i].mpi && mpi_missing) {
                if (!mpi_warned++)
                    fprintf(stderr, "mpxbench: group mpi skipped: %s\n", mpi_missing);
                any = 1;
                continue;
            }
            /* a figure asked for twice (e.g. "lock seed") is measured once */
            int dup = 0;
            for (int h = 0; h < g; h++)
                dup |= in_group(&FIGS[i], groups[h]);
            any = 1;
            if (opt_quick && FIGS[i].full_only)
                fprintf(stderr, "%s: skipped by --quick\n", FIGS[i].name);
            else if (!dup)
                run_figure(&FIGS[i]);
        }
        if (!any)
            fprintf(stderr, "mpxbench: group %s has no figures yet (its component is not built)\n",
                    groups[g]);
    }
    return 0;
}

static int cmd_one(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mpxbench one FIGURE mpx|raw|raw2 [--quick]\n");
        return 2;
    }
    bench_cfg cfg = {0, 0.5};
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--quick"))
            cfg.quick = 1;
    if (cfg.quick)
        cfg.target = 0.1;
    /* Large blocks go to mmap and come back on free (note 7). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    for (size_t i = 0; i < NFIGS; i++) {
        const figure *f = &FIGS[i];
        if (strcmp(f->name, argv[0]) || f->seed)
            continue;
        bench_side_fn fn = !strcmp(argv[1], "mpx") ? f->mpx
                           : !strcmp(argv[1], "raw") ? f->raw
                           : !strcmp(argv[1], "raw2") ? f->raw2
                                                      : NULL;
        if (!fn) {
            printf("nan no %s side for %s\n", argv[1], f->name);
            return 0;
        }
        double v;
        char why[512] = "";
        fflush(stdout);
        if (fn(&cfg, &v, why, sizeof why))
            printf("nan %s\n", why[0] ? why : "failed");
        else
            printf("%.9g\n", v);
        return 0;
    }
    printf("nan unknown figure %s\n", argv[0]);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: mpxbench run [--quick] [--reps N] [--verbose] GROUP...\n"
                    "       mpxbench one FIGURE mpx|raw|raw2 [--quick]\n"
                    "       mpxbench list\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "exit0"))
        return 0; /* the child of the raw posix_spawn figure */
    snprintf(bench_dir, sizeof bench_dir, "%s", bench_self_exe());
    /* .../bench/build/mpxbench -> .../bench */
    char *s = strrchr(bench_dir, '/');
    if (s)
        *s = 0;
    s = strrchr(bench_dir, '/');
    if (s)
        *s = 0;
    if (argc < 2) {
        usage();
        return 2;
    }
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "one"))
        return cmd_one(argc - 2, argv + 2);
    if (!strcmp(argv[1], "list")) {
        for (size_t i = 0; i < NFIGS; i++)
            printf("%s\t%s\t%s\t%s%s\n", FIGS[i].group, FIGS[i].name, FIGS[i].unit, FIGS[i].better,
                   FIGS[i].seed ? "\tseed" : "");
        return 0;
    }
    usage();
    return 2;
}
