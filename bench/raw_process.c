/*
 * bench/raw_process.c - the raw side of the process group: start+join of
 * a process that does nothing, done with the bare system calls.
 *
 *   process_fork        fork, child _exit(0), waitpid (small parent)
 *   process_spawn       posix_spawn of this executable ("mpxbench exit0",
 *                       which returns from main at once), waitpid
 *   process_forkserver  a small server forked at set-up: per request it
 *                       forks a child that _exits, reaps it and answers
 *                       with the status over a socketpair
 *   process_spawn_1g    process_spawn from a parent with 1 GiB resident
 *   process_fork_1g     process_fork from a parent with 1 GiB resident
 */
#include "figures.h"

#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

extern char **environ;

static double run_fork(void *ctx, long n)
{
    (void)ctx;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0)
            _exit(0);
        if (bench_wait_ok(pid))
            return -1;
    }
    return bench_now() - t;
}

static double run_spawn(void *ctx, long n)
{
    (void)ctx;
    char *argv[] = {(char *)bench_self_exe(), "exit0", NULL};
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        pid_t pid;
        if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ))
            return -1;
        if (bench_wait_ok(pid))
            return -1;
    }
    return bench_now() - t;
}

SIDE(raw_process_fork)
{
    double s = bench_calibrate(run_fork, NULL, 20, 100000, cfg->target);
    if (s < 0)
        return BENCH_WHY("raw fork failed: %s", strerror(errno));
    *out = s * 1e6;
    return 0;
}

SIDE(raw_process_spawn)
{
    double s = bench_calibrate(run_spawn, NULL, 5, 100000, cfg->target);
    if (s < 0)
        return BENCH_WHY("raw posix_spawn failed: %s", strerror(errno));
    *out = s * 1e6;
    return 0;
}

/* The raw fork server: one byte asks for a child, 4 bytes of status come
 * back once it has been reaped. */
static void server_loop(int fd)
{
    char c;
    while (read(fd, &c, 1) == 1) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        int st = -1;
        if (pid > 0)
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
        if (bench_write_all(fd, &st, sizeof st))
            break;
    }
    _exit(0);
}

static double run_server(void *ctx, long n)
{
    int fd = *(int *)ctx;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        int st;
        if (bench_write_all(fd, "x", 1) || bench_read_all(fd, &st, sizeof st) || st != 0)
            return -1;
    }
    return bench_now() - t;
}

SIDE(raw_process_forkserver)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        return BENCH_WHY("socketpair: %s", strerror(errno));
    pid_t srv = fork();
    if (srv < 0)
        return BENCH_WHY("fork: %s", strerror(errno));
    if (srv == 0) {
        close(sv[0]);
        server_loop(sv[1]);
    }
    close(sv[1]);
    double s = bench_calibrate(run_server, &sv[0], 20, 100000, cfg->target);
    close(sv[0]);
    bench_wait_ok(srv);
    if (s < 0)
        return BENCH_WHY("raw fork server failed");
    *out = s * 1e6;
    return 0;
}

#define ONE_GIB ((size_t)1 << 30)

SIDE(raw_process_spawn_1g)
{
    void *mem = bench_touch_resident(ONE_GIB);
    if (!mem)
        return BENCH_WHY("cannot map 1 GiB: %s", strerror(errno));
    double s = bench_calibrate(run_spawn, NULL, 5, 100000, cfg->target);
    munmap(mem, ONE_GIB);
    if (s < 0)
        return BENCH_WHY("raw posix_spawn failed: %s", strerror(errno));
    *out = s * 1e6;
    return 0;
}

SIDE(raw_process_fork_1g)
{
    void *mem = bench_touch_resident(ONE_GIB);
    if (!mem)
        return BENCH_WHY("cannot map 1 GiB: %s", strerror(errno));
    double s = bench_calibrate(run_fork, NULL, 2, 100000, cfg->target);
    munmap(mem, ONE_GIB);
    if (s < 0)
        return BENCH_WHY("raw fork failed: %s", strerror(errno));
    *out = s * 1e6;
    return 0;
}
