/*
 * popen_forkserver.c - the forkserver start method (CTX-04, MISC-11).
 *
 * Each process that uses forkserver has its own server, started on first
 * use by spawning the program (so it holds none of the parent's threads,
 * memory or descriptors), single-threaded, which forks children on
 * request.
 *
 * Client -> server: one SOCK_SEQPACKET message per child on the control
 * socket: a header, the payload inline (or in a memfd when large), and
 * with SCM_RIGHTS [status socket, stdout, stderr, cwd, argument fds...,
 * memfd]. The payload is the client's process attributes (below) and the
 * CHILD blob: the child starts with the client's state of the time of
 * its start, as a spawn child does, not with the server's (issue #12).
 * Server -> client, on the per-child status socket (SOCK_SEQPACKET):
 *   P pid          + a pidfd of the child (SCM_RIGHTS), right after fork
 *   S 0 | error    from the child once its bootstrap is done
 *   X wait status  from the server when it has reaped the child
 * mpx_process_start waits for P and S; afterwards the status socket is
 * the sentinel: it becomes readable exactly when X arrives. Signals go
 * through the pidfd.
 *
 * The server ends when its control socket reports EOF (the client exited
 * or was killed); it kills the daemonic children first (they never
 * outlive their creator). A client whose server died starts a new one on
 * the next start.
 */
#include "core/boot.h"
#include "core/fnref.h"
#include "os/anonfd.h"
#include "os/fdpass.h"
#include "os/pidfd.h"
#include "os/proc.h"

#include <dlfcn.h>
#include <sched.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQ_MAGIC 0x52585046u /* "FPXR" */
#define INLINE_MAX (32 * 1024)
#define MAX_MSG_FDS 72

enum { F_STDOUT = 1, F_STDERR = 2, F_MEMFD = 4, F_CWD = 8 };
/* The server's answer when it cannot fork the child (no P follows). */
enum { REC_FAILED = 'F' };

typedef struct req_hdr {
    uint32_t magic;
    uint32_t flags;
    uint32_t nargfds;
    uint32_t daemon;
    uint64_t len;
} req_hdr;

/* ---- process attributes -------------------------------------------------
 *
 * What a spawn child takes from its parent through exec and the fork
 * server would otherwise take from itself (the state of the client when
 * the server started): the environment, the umask, the signal mask and
 * the ignored signals, the CPU affinity. (The working directory and stdio
 * travel as descriptors.) Encoded before the CHILD blob:
 *   u8 flags (ATTR_PROC: umask and ignored signals were read from /proc),
 *   u32 umask, u64 ignored signals, u64 blocked signals (bit n-1 for
 *   signal n), bytes CPU affinity mask, u32 n + n x bytes environment
 *   strings (with their NUL).
 * Resource limits, scheduling priority, credentials and the process group
 * stay the server's, which it took from the client when it started (as in
 * CPython, where they are the server's too).
 */
enum { ATTR_PROC = 1 };
extern char **environ;

static uint64_t sigset_bits(const sigset_t *set)
{
    uint64_t v = 0;
    for (int sig = 1; sig <= 64; sig++)
        if (sigismember(set, sig) == 1)
            v |= 1ull << (sig - 1);
    return v;
}

/* Umask and SigIgn of the calling thread, from /proc (no system call
 * reads the umask without changing it). */
static int encode_attrs(mpx__buf *b)
{
    uint32_t um = 0;
    uint64_t ign = 0;
    bool proc = mpx__proc_self_status(&um, &ign);
    sigset_t blk;
    pthread_sigmask(SIG_BLOCK, NULL, &blk);
    cpu_set_t cpus;
    size_t cpulen = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? sizeof cpus : 0;
    int rc = mpx__buf_put_u8(b, proc ? ATTR_PROC : 0);
    if (!rc)
        rc = mpx__buf_put_u32(b, um);
    if (!rc)
        rc = mpx__buf_put_u64(b, ign);
    if (!rc)
        rc = mpx__buf_put_u64(b, sigset_bits(&blk));
    if (!rc)
        rc = mpx__buf_put_bytes(b, &cpus, cpulen);
    /* The bootstrap's variable never goes to a child (as spawn's make_env). */
    static const char boot_var[] = MPX__BOOT_ENV "=";
    size_t n_at = b->len; /* the count, written once known */
    uint32_t n = 0;
    if (!rc)
        rc = mpx__buf_put_u32(b, 0);
    for (char **e = environ; !rc && e && *e; e++)
        if (strncmp(*e, boot_var, sizeof boot_var - 1) != 0) {
            rc = mpx__buf_put_bytes(b, *e, strlen(*e) + 1);
            n++;
        }
    if (!rc) {
        unsigned char *q = b->data + n_at; /* big-endian, as put_u32 */
        q[0] = (unsigned char)(n >> 24);
        q[1] = (unsigned char)(n >> 16);
        q[2] = (unsigned char)(n >> 8);
        q[3] = (unsigned char)n;
    }
    return rc;
}

/* Server side: its own state as it started (what a child has unless it
 * is told otherwise). */
static uint64_t srv_ignored;
static cpu_set_t srv_cpus;
static bool srv_cpus_ok;

/* In the forked child: take on the client's attributes. 0 or MPX_EPROTO;
 * *rest is the CHILD blob. */
static int apply_attrs(mpx__rd *r)
{
    uint8_t flags;
    uint32_t um, nenv;
    uint64_t ign, blk;
    const void *cpus;
    size_t cpulen;
    int rc = mpx__rd_u8(r, &flags);
    if (!rc)
        rc = mpx__rd_u32(r, &um);
    if (!rc)
        rc = mpx__rd_u64(r, &ign);
    if (!rc)
        rc = mpx__rd_u64(r, &blk);
    if (!rc)
        rc = mpx__rd_bytes(r, &cpus, &cpulen);
    if (!rc)
        rc = mpx__rd_u32(r, &nenv);
    if (!rc && (nenv > r->left / 9 + 1 || cpulen > sizeof(cpu_set_t)))
        rc = MPX_EPROTO;
    if (rc)
        return rc;
    char **env = malloc(((size_t)nenv + 1) * sizeof *env);
    if (!env)
        return -ENOMEM;
    for (uint32_t i = 0; !rc && i < nenv; i++) {
        const void *v;
        size_t len;
        rc = mpx__rd_bytes(r, &v, &len);
        if (!rc && (len == 0 || ((const char *)v)[len - 1] != 0))
            rc = MPX_EPROTO;
        if (!rc)
            env[i] = (char *)v; /* the blob stays mapped for the child's life */
    }
    if (rc) {
        free(env);
        return rc;
    }
    env[nenv] = NULL;
    environ = env;
    if (flags & ATTR_PROC) {
        umask((mode_t)um & 0777);
        for (int sig = 1; sig <= 64; sig++) {
            uint64_t bit = 1ull << (sig - 1);
            if (sig == SIGKILL || sig == SIGSTOP || (ign & bit) == (srv_ignored & bit))
                continue;
            struct sigaction sa = {0};
            sa.sa_handler = (ign & bit) ? SIG_IGN : SIG_DFL;
            sigaction(sig, &sa, NULL); /* NPTL's own signals refuse: fine */
        }
    }
    sigset_t set;
    sigemptyset(&set);
    for (int sig = 1; sig <= 64; sig++)
        if (blk & (1ull << (sig - 1)))
            sigaddset(&set, sig);
    sigprocmask(SIG_SETMASK, &set, NULL);
    if (cpulen) {
        cpu_set_t want;
        CPU_ZERO(&want);
        memcpy(&want, cpus, cpulen);
        if (!srv_cpus_ok || !CPU_EQUAL(&want, &srv_cpus))
            if (sched_setaffinity(0, sizeof want, &want) < 0)
                MPX__WARNING("cannot take the parent's CPU affinity: %s", strerror(errno));
    }
    return 0;
}

/* ---- client ----------------------------------------------------------- */

MPX__FORKHOT static pthread_mutex_t fs_mu = PTHREAD_MUTEX_INITIALIZER;
static int fs_ctl = -1, fs_pidfd = -1;
static pid_t fs_pid, fs_owner;

typedef struct fs_popen {
    int pidfd;
    bool lost; /* the server died: the sentinel is now the pidfd */
} fs_popen;

/* Is our server alive? (pidfd, or waitpid where there is no pidfd) */
static bool alive_locked(void)
{
    if (fs_ctl < 0 || fs_owner != getpid())
        return false;
    if (fs_pidfd >= 0)
        return !mpx__fd_readable(fs_pidfd);
    return waitpid(fs_pid, NULL, WNOHANG) == 0;
}

bool mpx__forkserver_running(void)
{
    pthread_mutex_lock(&fs_mu);
    bool r = alive_locked();
    pthread_mutex_unlock(&fs_mu);
    return r;
}

static void stop_locked(void)
{
    if (fs_ctl < 0)
        return;
    mpx__fd_mark_internal(fs_ctl, false);
    mpx__close(fs_ctl);
    fs_ctl = -1;
    if (fs_owner == getpid()) {
        /* EOF makes it exit; do not wait for long. */
        bool gone = false;
        if (fs_pidfd >= 0) {
            struct pollfd pfd = {fs_pidfd, POLLIN, 0};
            int r;
            do
                r = poll(&pfd, 1, 2000);
            while (r < 0 && errno == EINTR);
            gone = r > 0;
        } else {
            for (int i = 0; i < 400 && !gone; i++) {
                pid_t r = waitpid(fs_pid, NULL, WNOHANG);
                if (r == fs_pid || (r < 0 && errno == ECHILD))
                    break;
                struct timespec t = {0, 5000000};
                nanosleep(&t, NULL);
            }
        }
        if (!gone)
            kill(fs_pid, SIGKILL);
        while (waitpid(fs_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (fs_pidfd >= 0) {
        mpx__fd_mark_internal(fs_pidfd, false);
        mpx__close(fs_pidfd);
    }
    fs_pidfd = -1;
    fs_pid = 0;
}

pid_t mpx__forkserver_pid(void)
{
    pthread_mutex_lock(&fs_mu);
    pid_t pid = fs_ctl >= 0 && fs_owner == getpid() ? fs_pid : 0;
    pthread_mutex_unlock(&fs_mu);
    return pid;
}

void mpx__forkserver_stop(void)
{
    pthread_mutex_lock(&fs_mu);
    stop_locked();
    pthread_mutex_unlock(&fs_mu);
}

void mpx__forkserver_atfork_child(void)
{
    /* The server belongs to the parent: forget our copies. */
    pthread_mutex_init(&fs_mu, NULL);
    if (fs_ctl >= 0) {
        mpx__fd_mark_internal(fs_ctl, false);
        mpx__close(fs_ctl);
    }
    if (fs_pidfd >= 0) {
        mpx__fd_mark_internal(fs_pidfd, false);
        mpx__close(fs_pidfd);
    }
    fs_ctl = fs_pidfd = -1;
    fs_pid = 0;
}

static int start_server_locked(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    mpx__buf b;
    mpx__buf_init(&b);
    int rc = mpx__boot_put_header(&b, MPX__BOOT_SERVER);
    if (!rc)
        rc = mpx__buf_put_u32(&b, (uint32_t)getpid());
    if (!rc)
        rc = mpx__buf_put_u32(&b, (uint32_t)mpx_log_get_level());
    if (!rc)
        rc = mpx__buf_put_u8(&b, mpx__log_is_stderr());
    if (!rc)
        rc = mpx__context_encode_preload(&b);
    pid_t pid = -1;
    if (!rc)
        rc = mpx__spawn_program(&b, &sv[1], 1, -1, &pid);
    mpx__buf_free(&b);
    mpx__close(sv[1]);
    if (rc) {
        mpx__close(sv[0]);
        return rc;
    }
    int pfd = mpx__pidfd_open(pid);
    if (pfd < 0 && pfd != -ENOSYS) {
        mpx__close(sv[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return pfd;
    }
    fs_ctl = sv[0];
    fs_pidfd = pfd < 0 ? -1 : pfd;
    fs_pid = pid;
    fs_owner = getpid();
    mpx__fd_mark_internal(fs_ctl, true);
    if (fs_pidfd >= 0)
        mpx__fd_mark_internal(fs_pidfd, true);
    MPX__DEBUG("fork server started (pid %d)", (int)pid);
    return 0;
}

static int ensure_locked(void)
{
    if (alive_locked())
        return 0;
    if (fs_ctl >= 0) {
        MPX__WARNING("the fork server (pid %d) has died; starting a new one", (int)fs_pid);
        stop_locked();
    }
    return start_server_locked();
}

static int send_req(int ctl, const req_hdr *h, const void *inline_blob, size_t ilen,
                    const int *fds, int nfds)
{
    struct iovec iov[2] = {{(void *)h, sizeof *h}, {(void *)inline_blob, ilen}};
    ssize_t n = mpx__fdpass_send(ctl, iov, ilen ? 2 : 1, fds, nfds, 0);
    return n < 0 ? (int)n : 0;
}

/* One record from a status socket, with an optional descriptor. Returns
 * 1 record, 0 EOF, -errno. */
static int recv_rec(int fd, mpx__boot_rec *r, int *pfd, int flags)
{
    struct iovec iov = {r, sizeof *r};
    int got[4], k;
    ssize_t n = mpx__fdpass_recv(fd, &iov, 1, got, 4, &k, flags, NULL);
    if (n < 0)
        return (int)n;
    for (int i = 0; i < k; i++) {
        if (pfd && *pfd < 0)
            *pfd = got[i];
        else
            mpx__close(got[i]);
    }
    if (n == 0)
        return 0;
    return n == (ssize_t)sizeof *r ? 1 : MPX_EPROTO;
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static int fs_start(mpx_process *p)
{
    mpx__buf b;
    mpx__buf_init(&b);
    mpx__fdlist args;
    args.n = 0;
    int rc = encode_attrs(&b);
    if (!rc)
        rc = mpx__boot_encode_child(p, &b, &args);
    int sp[2] = {-1, -1}, memfd = -1, cwd = -1;
    if (!rc && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        rc = -errno;
    req_hdr h = {REQ_MAGIC, 0, (uint32_t)args.n, p->daemon, b.len};
    if (!rc && b.len > INLINE_MAX) {
        memfd = mpx__memfd_create("mpx-boot", 0);
        if (memfd < 0)
            rc = memfd;
        else
            rc = mpx__write_all(memfd, b.data, b.len);
        h.flags |= F_MEMFD;
    }
    int fds[MAX_MSG_FDS], n = 0;
    if (!rc) {
        fds[n++] = sp[1];
        if (fd_open(STDOUT_FILENO)) {
            fds[n++] = STDOUT_FILENO;
            h.flags |= F_STDOUT;
        }
        if (fd_open(STDERR_FILENO)) {
            fds[n++] = STDERR_FILENO;
            h.flags |= F_STDERR;
        }
        /* The child works in our current directory, as a spawn child. */
        cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cwd >= 0) {
            fds[n++] = cwd;
            h.flags |= F_CWD;
        }
        for (int i = 0; i < args.n; i++)
            fds[n++] = args.fds[i];
        if (memfd >= 0)
            fds[n++] = memfd;
    }
    if (!rc) {
        pthread_mutex_lock(&fs_mu);
        for (int attempt = 0; attempt < 2; attempt++) {
            rc = ensure_locked();
            if (rc)
                break;
            rc = send_req(fs_ctl, &h, memfd >= 0 ? NULL : b.data, memfd >= 0 ? 0 : b.len, fds,
                          n);
            if (rc != -EPIPE && rc != -ECONNRESET && rc != -ENOTCONN)
                break;
            MPX__WARNING("the fork server (pid %d) is gone; starting a new one", (int)fs_pid);
            stop_locked();
        }
        pthread_mutex_unlock(&fs_mu);
    }
    mpx__buf_free(&b);
    mpx__close(sp[1]);
    mpx__close(memfd);
    mpx__close(cwd);
    if (rc) {
        mpx__close(sp[0]);
        return rc;
    }
    /* Wait for the pid (from the server) and the child's start status. */
    int pidfd = -1, status = 1;
    pid_t pid = 0;
    bool got_pid = false, got_status = false;
    while (!(got_pid && got_status)) {
        mpx__boot_rec r;
        int k = recv_rec(sp[0], &r, &pidfd, 0);
        if (k <= 0) {
            rc = MPX_EBROKEN;
            MPX__WARNING("the fork server (pid %d) did not start process %s", (int)fs_pid,
                         p->name);
            break;
        }
        if (r.kind == MPX__REC_PID) {
            pid = r.value;
            got_pid = true;
        } else if (r.kind == MPX__REC_STARTED) {
            status = r.value;
            got_status = true;
        } else if (r.kind == REC_FAILED) {
            rc = r.value < 0 ? r.value : MPX_EPROTO; /* the server could not fork */
            break;
        } else if (r.kind == MPX__REC_EXIT) {
            rc = MPX_EBROKEN; /* died during its bootstrap */
            MPX__WARNING("process %s ended (status %d) before starting its target", p->name,
                         mpx__status_to_exitcode(r.value));
            break;
        } else {
            rc = MPX_EPROTO;
            break;
        }
    }
    if (!rc && status != 0)
        rc = status < 0 ? status : MPX_EPROTO;
    if (!rc && pidfd < 0)
        rc = MPX_EPROTO;
    fs_popen *st = NULL;
    if (!rc && !(st = calloc(1, sizeof *st)))
        rc = -ENOMEM;
    if (rc) {
        if (pidfd >= 0 && got_status && status == 0)
            mpx__pidfd_send_signal(pidfd, SIGKILL);
        /* Leave nothing behind: the child exits at once; wait until the
         * server has reaped it (bounded). */
        mpx__deadline d = mpx__deadline_from(5000);
        while (got_pid && rc != MPX_EBROKEN) {
            struct pollfd pfd = {sp[0], POLLIN, 0};
            int r = poll(&pfd, 1, mpx__deadline_poll_ms(d));
            if (r < 0 && errno == EINTR)
                continue;
            mpx__boot_rec r2;
            if (r <= 0 || recv_rec(sp[0], &r2, NULL, MSG_DONTWAIT) <= 0 ||
                r2.kind == MPX__REC_EXIT)
                break;
        }
        mpx__close(pidfd);
        mpx__close(sp[0]);
        return rc;
    }
    st->pidfd = pidfd;
    p->popen = st;
    p->pid = pid;
    p->sentinel = sp[0];
    return 0;
}

static int fs_poll(mpx_process *p)
{
    fs_popen *st = p->popen;
    if (!st)
        return 0;
    if (st->lost) {
        if (!mpx__fd_readable(st->pidfd))
            return 0;
        mpx__process_set_exit(p, 255);
        return 1;
    }
    mpx__boot_rec r;
    int k = recv_rec(p->sentinel, &r, NULL, MSG_DONTWAIT);
    if (k == 1 && r.kind == MPX__REC_EXIT) {
        mpx__process_set_exit(p, mpx__status_to_exitcode(r.value));
        return 1;
    }
    if (k == 0) {
        /* The server died: the exit status is lost. Watch the pidfd from
         * now on, under the same sentinel number. */
        MPX__WARNING("the fork server died; exit status of process %s (pid %d) lost", p->name,
                     (int)p->pid);
        if (mpx__fd_readable(st->pidfd) || dup3(st->pidfd, p->sentinel, O_CLOEXEC) < 0) {
            mpx__process_set_exit(p, 255);
            return 1;
        }
        st->lost = true;
    }
    return 0;
}

static int fs_signal(mpx_process *p, int sig)
{
    fs_popen *st = p->popen;
    if (!st)
        return MPX_ESTATE;
    int r = mpx__pidfd_send_signal(st->pidfd, sig);
    if (r != -ENOSYS)
        return r;
    /* No pidfd_send_signal (valgrind): the server has not reaped the
     * child until it reports it, so the pid is still the child's unless
     * the exit record is already waiting. */
    if (mpx__fd_readable(p->sentinel))
        return 0;
    return kill(p->pid, sig) < 0 ? -errno : 0;
}

static void fs_cleanup(mpx_process *p)
{
    fs_popen *st = p->popen;
    if (!st)
        return;
    mpx__close(st->pidfd);
    free(st);
    p->popen = NULL;
}

const mpx__popen_ops mpx__popen_forkserver = {
    .start = fs_start,
    .wait = mpx__child_wait,
    .poll = fs_poll,
    .signal = fs_signal,
    .cleanup = fs_cleanup,
};

/* ---- server ----------------------------------------------------------- */

typedef struct kid {
    pid_t pid;
    int sp;
    bool daemon;
} kid;

static kid *kids;
static size_t nkids, capkids;
static struct sigaction old_chld, old_int, old_pipe;

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

/* Close every descriptor >= 3 but those in keep. */
static void close_all_but(const int *keep, int n)
{
    int k[MAX_MSG_FDS];
    memcpy(k, keep, sizeof(int) * (size_t)n);
    qsort(k, (size_t)n, sizeof(int), cmp_int);
    unsigned lo = 3;
    for (int i = 0; i < n; i++) {
        if (k[i] < (int)lo)
            continue;
        if ((unsigned)k[i] > lo)
            close_range(lo, (unsigned)k[i] - 1, 0);
        lo = (unsigned)k[i] + 1;
    }
    close_range(lo, ~0U, 0);
}

static void reap_kids(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (size_t i = 0; i < nkids; i++)
            if (kids[i].pid == pid) {
                mpx__boot_send_rec(kids[i].sp, MPX__REC_EXIT, st);
                mpx__close(kids[i].sp);
                kids[i] = kids[--nkids];
                break;
            }
    }
}

static __attribute__((noreturn)) void server_exit(void)
{
    /* Daemonic children never outlive their creator (PROC-11). */
    for (size_t i = 0; i < nkids; i++)
        if (kids[i].daemon)
            kill(kids[i].pid, SIGKILL);
    for (size_t i = 0; i < nkids; i++)
        if (kids[i].daemon)
            while (waitpid(kids[i].pid, NULL, 0) < 0 && errno == EINTR)
                ;
    MPX__DEBUG("fork server exiting");
    _exit(0);
}

static void send_pid(int sp, pid_t pid, int pidfd)
{
    mpx__boot_rec r = {MPX__REC_PID, (int32_t)pid};
    struct iovec iov = {&r, sizeof r};
    mpx__fdpass_send(sp, &iov, 1, &pidfd, pidfd >= 0 ? 1 : 0, 0);
}

static __attribute__((noreturn)) void in_child(int ctl, int sigfd, const req_hdr *h,
                                                const unsigned char *blob, int *fds, int nfds)
{
    /* Back to the server's start-up state; apply_attrs then makes it the
     * client's. */
    sigaction(SIGCHLD, &old_chld, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    mpx__rd r = {blob, h->len};
    int arc = apply_attrs(&r);
    if (arc) {
        mpx__boot_send_rec(fds[0], MPX__REC_STARTED, arc);
        _exit(1);
    }
    mpx__close(sigfd);
    mpx__close(ctl);
    int k = 1;
    if (h->flags & F_STDOUT) {
        dup2(fds[k], STDOUT_FILENO);
        mpx__close(fds[k++]);
    }
    if (h->flags & F_STDERR) {
        dup2(fds[k], STDERR_FILENO);
        mpx__close(fds[k++]);
    }
    if (h->flags & F_CWD) {
        if (fchdir(fds[k]) < 0)
            MPX__WARNING("cannot enter the parent's working directory: %s", strerror(errno));
        mpx__close(fds[k++]);
    }
    int *argfds = fds + k;
    int keep[MAX_MSG_FDS];
    keep[0] = fds[0];
    for (uint32_t i = 0; i < h->nargfds; i++)
        keep[1 + i] = argfds[i];
    (void)nfds;
    /* The other children's status sockets, the memfd (the blob stays
     * mapped), ...: this child inherits only what it was given. */
    close_all_but(keep, 1 + (int)h->nargfds);
    mpx__boot_child(r.p, r.left, argfds, (int)h->nargfds, fds[0], getppid());
}

static void handle_request(int ctl, int sigfd)
{
    static unsigned char buf[sizeof(req_hdr) + INLINE_MAX];
    struct iovec iov = {buf, sizeof buf};
    int fds[MAX_MSG_FDS], nfds, mflags;
    ssize_t n = mpx__fdpass_recv(ctl, &iov, 1, fds, MAX_MSG_FDS, &nfds, 0, &mflags);
    if (n == -EAGAIN)
        return;
    if (n <= 0) {
        for (int i = 0; i < nfds; i++)
            mpx__close(fds[i]);
        server_exit(); /* EOF: the client has gone */
    }
    req_hdr h;
    memcpy(&h, buf, n >= (ssize_t)sizeof h ? sizeof h : 0);
    int want = 0;
    bool ok = n >= (ssize_t)sizeof h && h.magic == REQ_MAGIC && !(mflags & MSG_CTRUNC) &&
              !(mflags & MSG_TRUNC) && h.nargfds <= 64 && h.len <= MPX__BOOT_MAX;
    if (ok) {
        want = 1 + !!(h.flags & F_STDOUT) + !!(h.flags & F_STDERR) + !!(h.flags & F_CWD) +
               (int)h.nargfds + !!(h.flags & F_MEMFD);
        ok = want == nfds &&
             ((h.flags & F_MEMFD) ? n == (ssize_t)sizeof h
                                  : (uint64_t)n - sizeof h == h.len);
    }
    const unsigned char *blob = buf + sizeof h;
    void *map = MAP_FAILED;
    if (ok && (h.flags & F_MEMFD)) {
        struct stat sb;
        int mfd = fds[nfds - 1];
        if (fstat(mfd, &sb) == 0 && (uint64_t)sb.st_size >= h.len && h.len)
            map = mmap(NULL, h.len, PROT_READ, MAP_PRIVATE, mfd, 0);
        ok = map != MAP_FAILED;
        blob = map;
    }
    if (!ok) {
        if (nfds > 0)
            mpx__boot_send_rec(fds[0], REC_FAILED, MPX_EPROTO);
        for (int i = 0; i < nfds; i++)
            mpx__close(fds[i]);
        return;
    }
    if (nkids == capkids) {
        size_t cap = capkids ? capkids * 2 : 16;
        kid *k = realloc(kids, cap * sizeof *k);
        if (!k) {
            mpx__boot_send_rec(fds[0], REC_FAILED, -ENOMEM);
            for (int i = 0; i < nfds; i++)
                mpx__close(fds[i]);
            if (map != MAP_FAILED)
                munmap(map, h.len);
            return;
        }
        kids = k;
        capkids = cap;
    }
    pid_t pid = fork();
    if (pid == 0)
        in_child(ctl, sigfd, &h, blob, fds, nfds);
    if (pid < 0) {
        mpx__boot_send_rec(fds[0], REC_FAILED, -errno);
        for (int i = 0; i < nfds; i++)
            mpx__close(fds[i]);
    } else {
        int pidfd = mpx__pidfd_open(pid);
        send_pid(fds[0], pid, pidfd);
        mpx__close(pidfd);
        kids[nkids++] = (kid){pid, fds[0], h.daemon != 0};
        for (int i = 1; i < nfds; i++)
            mpx__close(fds[i]);
    }
    if (map != MAP_FAILED)
        munmap(map, h.len);
}

void mpx__forkserver_main(int boot_fd, int ctl, mpx__rd *in)
{
    uint32_t client, level, nlibs = 0, ninits = 0;
    uint8_t to_stderr;
    int rc = mpx__rd_u32(in, &client);
    if (!rc)
        rc = mpx__rd_u32(in, &level);
    if (!rc)
        rc = mpx__rd_u8(in, &to_stderr);
    if (!rc)
        rc = mpx__rd_u32(in, &nlibs);
    if (rc || nlibs > 64) {
        mpx__boot_send_rec(boot_fd, MPX__REC_STARTED, MPX_EPROTO);
        _exit(1);
    }
    if (to_stderr)
        mpx_log_to_stderr((int)level);
    else if (level != 0)
        mpx_log_set_level((int)level);
    mpx_process_set_name(mpx_current_process(), "ForkServer");
    /* Our state as we start, which children differ from only where the
     * client's does (apply_attrs). */
    uint32_t um;
    if (!mpx__proc_self_status(&um, &srv_ignored))
        srv_ignored = 0;
    srv_cpus_ok = sched_getaffinity(0, sizeof srv_cpus, &srv_cpus) == 0;
    /* The server holds none of its creator's stdio (a pipe the creator
     * reads to its end must not stay open in the server); stderr goes
     * after the preload, so its warnings are seen. Each child gets the
     * client's stdout and stderr of the time of its start. */
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) {
        dup2(nul, STDIN_FILENO);
        dup2(nul, STDOUT_FILENO);
    }
    /* Preload (MISC-11): libraries, then init functions. */
    for (uint32_t i = 0; !rc && i < nlibs; i++) {
        const void *name;
        size_t len;
        rc = mpx__rd_bytes(in, &name, &len);
        if (rc || len > 4095)
            break;
        char path[4096];
        memcpy(path, name, len);
        path[len] = 0;
        if (!dlopen(path, RTLD_NOW | RTLD_GLOBAL))
            MPX__WARNING("fork server preload: cannot load %s: %s", path, dlerror());
    }
    if (!rc)
        rc = mpx__rd_u32(in, &ninits);
    for (uint32_t i = 0; !rc && i < ninits && i < 64; i++) {
        mpx__fnptr fn = NULL;
        int r = mpx__fnref_decode(in, &fn);
        if (r == MPX_EPROTO) {
            rc = r;
            break;
        }
        if (r)
            MPX__WARNING("fork server preload: init function %u cannot be resolved", i);
        else if (fn)
            fn();
    }
    if (rc) {
        mpx__boot_send_rec(boot_fd, MPX__REC_STARTED, MPX_EPROTO);
        _exit(1);
    }
    /* What the preload wrote to stdio goes out now, not in every child. */
    fflush(NULL);
    if (nul >= 0) {
        dup2(nul, STDERR_FILENO);
        mpx__close(nul);
    }
    /* Signals: SIGCHLD through a signalfd; Ctrl-C is for the client. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigaction dfl = {0}, ign = {0};
    dfl.sa_handler = SIG_DFL;
    ign.sa_handler = SIG_IGN;
    sigaction(SIGCHLD, &dfl, &old_chld);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGPIPE, &ign, &old_pipe);
    int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    mpx__set_cloexec(ctl, true);
    if (sigfd < 0 || mpx__boot_send_rec(boot_fd, MPX__REC_STARTED, 0) != 0)
        _exit(1);
    mpx__close(boot_fd);
    MPX__DEBUG("fork server ready for process %u", client);
    for (;;) {
        struct pollfd pfd[2] = {{ctl, POLLIN, 0}, {sigfd, POLLIN, 0}};
        int r = poll(pfd, 2, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            server_exit();
        }
        if (pfd[1].revents) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) > 0)
                ;
            reap_kids();
        }
        if (pfd[0].revents & POLLIN)
            handle_request(ctl, sigfd);
        else if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            server_exit();
    }
}
