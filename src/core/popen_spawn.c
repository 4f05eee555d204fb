/*
 * popen_spawn.c - the spawn start method (CTX-02).
 *
 * posix_spawn (a vfork-style clone + exec: cost independent of the
 * parent's memory) of the program (/proc/self/exe or set_executable) with
 * MPX_SPAWN_FD=3. The child gets exactly: fds 0-2, the bootstrap socket
 * on 3 and the argument descriptors on 4..; every other descriptor is
 * closed by the spawn file actions, CLOEXEC or not. The parent writes one
 * blob and waits for the child's STARTED record, so exec and bootstrap
 * failures (an unresolvable target, an object that cannot be imported)
 * are reported by mpx_process_start.
 */
#include "core/boot.h"
#include "os/pidfd.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char **make_env(void)
{
    static const char var[] = MPX__BOOT_ENV "=3";
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    char **env = malloc((n + 2) * sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], MPX__BOOT_ENV "=", sizeof MPX__BOOT_ENV) != 0)
            env[k++] = environ[i];
    env[k++] = (char *)var;
    env[k] = NULL;
    return env;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void reap(pid_t pid, int *status)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (status)
        *status = st;
}

int mpx__spawn_program(const mpx__buf *blob, const int *fds, int nfds, int keep_fd, pid_t *pidp)
{
    if (nfds < 0 || nfds > 64)
        return MPX_ETOOBIG;
    char exe[4096];
    int rc = mpx__context_executable(exe, sizeof exe, true);
    if (rc < 0)
        return rc;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    /* Sources must lie above the target range 3..3+nfds so that no dup2
     * overwrites a source not yet copied. */
    int ntot = nfds + (keep_fd >= 0); /* descriptors after the socket */
    int lim = MPX__BOOT_FD + 1 + ntot;
    int src[66], tmp[66];
    src[0] = sv[1];
    for (int i = 0; i < nfds; i++)
        src[i + 1] = fds[i];
    if (keep_fd >= 0)
        src[nfds + 1] = keep_fd;
    rc = 0;
    for (int i = 0; i <= ntot; i++) {
        tmp[i] = -1;
        if (!rc && src[i] < lim) {
            tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, lim);
            if (tmp[i] < 0)
                rc = -errno;
            else
                src[i] = tmp[i];
        }
    }
    posix_spawn_file_actions_t fa;
    bool fa_ok = false;
    char **env = NULL;
    pid_t pid = -1;
    if (!rc) {
        rc = -posix_spawn_file_actions_init(&fa);
        fa_ok = rc == 0;
    }
    for (int i = 0; !rc && i <= ntot; i++)
        rc = -posix_spawn_file_actions_adddup2(&fa, src[i], MPX__BOOT_FD + i);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    if (!rc)
        rc = -posix_spawn_file_actions_addclosefrom_np(&fa, lim);
#else
#error "spawn needs posix_spawn_file_actions_addclosefrom_np (glibc 2.34)"
#endif
    if (!rc && !(env = make_env()))
        rc = -ENOMEM;
    if (!rc) {
        char *argv[] = {program_invocation_name, NULL};
        rc = -posix_spawn(&pid, exe, &fa, NULL, argv, env);
    }
    free(env);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i <= ntot; i++)
        mpx__close(tmp[i]);
    mpx__close(sv[1]);
    if (rc) {
        mpx__close(sv[0]);
        if (rc == -ENOENT || rc == -EACCES || rc == -ENOEXEC)
            MPX__WARNING("cannot execute %s: %s", exe, strerror(-rc));
        return rc;
    }
    uint64_t len = blob->len;
    int wrc = send_all(sv[0], &len, sizeof len);
    if (!wrc)
        wrc = send_all(sv[0], blob->data, blob->len);
    mpx__boot_rec rec;
    rc = mpx__read_all(sv[0], &rec, sizeof rec);
    mpx__close(sv[0]);
    if (rc || rec.kind != MPX__REC_STARTED) {
        /* The program died before it could answer: not an mpx program, or
         * it crashed during start-up. */
        int st;
        reap(pid, &st);
        MPX__WARNING("spawned program %s ended (status %d) before starting the target%s", exe,
                     mpx__status_to_exitcode(st),
                     wrc ? "" : "; does it link mpx?");
        return MPX_EBROKEN;
    }
    if (rec.value != 0) {
        reap(pid, NULL);
        return rec.value < 0 ? rec.value : MPX_EPROTO;
    }
    *pidp = pid;
    return 0;
}

static int spawn_start(mpx_process *p)
{
    mpx__buf b;
    mpx__buf_init(&b);
    mpx__fdlist fds;
    fds.n = 0;
    /* Without pidfd (old kernel, valgrind) the sentinel is a pipe whose
     * write end only the child holds. */
    int pipefd[2] = {-1, -1};
    bool pidfd = mpx__pidfd_supported();
    int rc = !pidfd && pipe2(pipefd, O_CLOEXEC) < 0 ? -errno : 0;
    if (!rc)
        rc = mpx__boot_encode_child(p, &b, &fds);
    pid_t pid = -1;
    if (!rc)
        rc = mpx__spawn_program(&b, fds.fds, fds.n, pipefd[1], &pid);
    mpx__buf_free(&b);
    mpx__close(pipefd[1]);
    if (rc) {
        mpx__close(pipefd[0]);
        return rc;
    }
    int fd = pidfd ? mpx__pidfd_open(pid) : pipefd[0];
    if (fd < 0) {
        kill(pid, SIGKILL);
        reap(pid, NULL);
        return fd;
    }
    p->pid = pid;
    p->sentinel = fd;
    return 0;
}

const mpx__popen_ops mpx__popen_spawn = {
    .start = spawn_start,
    .wait = mpx__child_wait,
    .poll = mpx__child_poll,
    .signal = mpx__child_signal,
    .cleanup = NULL,
};
