/*
 * shm_track.c - the tracker of named shared memory blocks (SHMEM-05,
 * beyond Python: no leaked segments). Design and reasons: docs/shm.md,
 * "Tracking".
 *
 * The program. Its processes are those that hold the write end of one
 * pipe, the liveness pipe: made (read end closed at once) by the first
 * process that starts a child or creates a tracked block, inherited by
 * fork children (also of a plain fork) and handed to spawn and forkserver
 * children in their bootstrap; close-on-exec, so an unrelated program
 * exec'd by one of ours does not hold it. When every process of the
 * program has ended, however (exit, SIGKILL of the whole group), the last
 * write end is closed by the kernel and a reader sees EOF.
 *
 * The table. Tracked blocks are recorded by inode number in a table in a
 * memfd shared by the processes of the program that have it (made at the
 * first tracked create, inherited and handed down like the pipe). A slot
 * is claimed and cleared with compare-and-swap: no lock, nothing that a
 * process killed at any instruction can leave held. A block created
 * tracked is recorded before its name exists (it is made with O_TMPFILE
 * and linked to its name afterwards), so there is no moment at which a
 * kill leaves a name that the tracker does not know.
 *
 * The tracker. One small process per table, started on the first tracked
 * create: this program re-executed (posix_spawn, whose cost does not grow
 * with the parent's memory) in a new session, which forks once more and
 * lets the first process end, so it is nobody's child (a wait() for all
 * children never waits for it) and a kill of the program's process group
 * does not reach it. It holds a read end of the liveness pipe (reopened
 * through /proc/self/fd) and the table, and an OFD lock on the table that
 * tells the program it is alive (a tracker that was killed is started
 * again on the next tracked create). It sleeps in read() until EOF, then
 * unlinks every name in /dev/shm whose inode is in the table, and exits.
 * Matching by inode means that a block unlinked by the program and its
 * name reused by someone else is never removed, and an unlink that was
 * killed before it cleared its slot does no harm.
 */
#include "core/shm_internal.h"
#include "core/context_internal.h"
#include "core/process_internal.h"
#include "os/anonfd.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define TRACK_MAGIC 0x5458504du /* "MPXT" */
#define TRACK_VERSION 1u
#define TRACK_CAP (1u << 20) /* slots: blocks tracked at once */
#define TRACK_HDR 64
#define TRACK_SIZE ((size_t)TRACK_HDR + (size_t)TRACK_CAP * 8)

#define TRACKER_ENV "MPX_SHM_TRACKER"
#define TRACKER_STATUS_FD 3
#define TRACKER_LIVE_FD 4
#define TRACKER_TABLE_FD 5

/* How long a process waits for another one that is starting the tracker
 * before starting one itself (two trackers of one table are harmless:
 * the second sees the first's lock and leaves). */
#define STARTER_PATIENCE_NS (30LL * 1000 * 1000 * 1000)

typedef struct track_hdr {
    uint32_t magic;
    uint32_t version;
    uint32_t cap;
    uint32_t starter;       /* pid of a process starting the tracker, or 0 */
    uint32_t hint;          /* a slot that was free lately */
    uint32_t hwm;           /* slots at or above this were never used */
    int64_t starter_since;  /* CLOCK_MONOTONIC ns when starter took over */
    unsigned char pad[TRACK_HDR - 32];
} track_hdr;

_Static_assert(sizeof(track_hdr) == TRACK_HDR, "track_hdr size");

static struct {
    pthread_mutex_t mu;
    int wfd; /* liveness pipe, write end */
    dev_t wdev;
    ino_t wino;
    int tfd; /* table memfd */
    dev_t tdev;
    ino_t tino;
    track_hdr *tab; /* the table's mapping (never unmapped: see table_drop) */
} prog = {PTHREAD_MUTEX_INITIALIZER, -1, 0, 0, -1, 0, 0, NULL};

static uint64_t *slots(track_hdr *h)
{
    return (uint64_t *)(void *)((char *)h + TRACK_HDR);
}

/* Is fd still the file we recorded? (A program may close our descriptor
 * and reuse its number.) */
static bool fd_is(int fd, dev_t dev, ino_t ino)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static void remember(int fd, dev_t *dev, ino_t *ino)
{
    struct stat st;
    if (fstat(fd, &st) == 0) {
        *dev = st.st_dev;
        *ino = st.st_ino;
    }
    mpx__fd_mark_internal(fd, true);
}

/* Forget the table (its descriptor is gone). The mapping stays: a block
 * being untracked concurrently may still read it, and the tracker of that
 * table still unlinks its blocks at the end. */
static void table_drop_locked(void)
{
    if (prog.tfd >= 0)
        mpx__fd_mark_internal(prog.tfd, false); /* not ours any more: not closed */
    prog.tfd = -1;
    __atomic_store_n(&prog.tab, NULL, __ATOMIC_RELEASE);
}

static int prog_ensure_locked(void)
{
    if (prog.wfd >= 0 && fd_is(prog.wfd, prog.wdev, prog.wino))
        return 0;
    if (prog.wfd >= 0) {
        /* Lost: a new pipe makes this process the root of a new program,
         * so the old table (whose tracker watches the old pipe) must not
         * take new blocks. */
        mpx__fd_mark_internal(prog.wfd, false);
        prog.wfd = -1;
        table_drop_locked();
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    mpx__close(p[0]);
    prog.wfd = p[1];
    remember(p[1], &prog.wdev, &prog.wino);
    return 0;
}

int mpx__shm_prog_ensure(void)
{
    pthread_mutex_lock(&prog.mu);
    int rc = prog_ensure_locked();
    pthread_mutex_unlock(&prog.mu);
    return rc;
}

static int table_map(int fd, track_hdr **out)
{
    void *m = mmap(NULL, TRACK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    *out = m;
    return 0;
}

static int table_ensure_locked(void)
{
    if (prog.tab)
        return 0; /* checked by tracker_alive_locked: an fd that is not the table fails there */
    if (prog.tab)
        table_drop_locked();
    int fd = mpx__memfd_create("mpx-shm-tracker", MFD_ALLOW_SEALING);
    if (fd < 0)
        return fd;
    track_hdr *h = NULL;
    int rc = ftruncate(fd, (off_t)TRACK_SIZE) < 0 ? -errno : 0;
    /* Nobody may shrink it under the others' mappings. */
    if (!rc)
        (void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    if (!rc)
        rc = table_map(fd, &h);
    if (rc) {
        mpx__close(fd);
        return rc;
    }
    h->version = TRACK_VERSION;
    h->cap = TRACK_CAP;
    __atomic_store_n(&h->magic, TRACK_MAGIC, __ATOMIC_RELEASE);
    prog.tfd = fd;
    remember(fd, &prog.tdev, &prog.tino);
    __atomic_store_n(&prog.tab, h, __ATOMIC_RELEASE);
    return 0;
}

/* 1: a tracker holds the table's lock; 0: none; -errno. */
static int tracker_alive_locked(void)
{
    if (!prog.tab)
        return MPX_ESTATE;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_len = 1;
    if (fcntl(prog.tfd, F_OFD_GETLK, &fl) < 0)
        return -errno;
    return fl.l_type != F_UNLCK;
}

static char **tracker_env(void)
{
    static const char var[] = TRACKER_ENV "=3";
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    char **env = malloc((n + 2) * sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], TRACKER_ENV "=", sizeof TRACKER_ENV) != 0)
            env[k++] = environ[i];
    env[k++] = (char *)var;
    env[k] = NULL;
    return env;
}

/* Start a tracker for our table (see the top of the file) and wait until
 * it holds the table's lock. */
static int tracker_spawn_locked(void)
{
    char exe[4096];
    int rc = mpx__context_self_executable(exe, sizeof exe);
    if (rc < 0)
        return rc;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", prog.wfd);
    /* A read end of the liveness pipe: opening the write end's /proc
     * link for reading opens the same pipe. */
    int rd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (rd < 0)
        return -errno;
    if (!fd_is(rd, prog.wdev, prog.wino)) {
        mpx__close(rd);
        return MPX_ESTATE;
    }
    int st[2];
    if (pipe2(st, O_CLOEXEC) < 0) {
        rc = -errno;
        mpx__close(rd);
        return rc;
    }
    /* Sources above the targets 3..5, so no dup2 overwrites one. */
    int src[3] = {st[1], rd, prog.tfd}, tmp[3] = {-1, -1, -1};
    rc = 0;
    for (int i = 0; i < 3 && !rc; i++)
        if (src[i] <= TRACKER_TABLE_FD) {
            tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, TRACKER_TABLE_FD + 1);
            if (tmp[i] < 0)
                rc = -errno;
            else
                src[i] = tmp[i];
        }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    bool fa_ok = false, at_ok = false;
    char **env = NULL;
    pid_t pid = -1;
    if (!rc) {
        rc = -posix_spawn_file_actions_init(&fa);
        fa_ok = !rc;
    }
    if (!rc) {
        rc = -posix_spawnattr_init(&at);
        at_ok = !rc;
    }
    for (int i = 0; i < 3 && !rc; i++)
        rc = -posix_spawn_file_actions_adddup2(&fa, src[i], TRACKER_STATUS_FD + i);
    if (!rc)
        rc = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc)
        rc = -posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!rc)
        rc = -posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (!rc)
        rc = -posix_spawn_file_actions_addclosefrom_np(&fa, TRACKER_TABLE_FD + 1);
    if (!rc) {
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        rc = -posix_spawnattr_setsigmask(&at, &none);
        if (!rc)
            rc = -posix_spawnattr_setsigdefault(&at, &all);
        if (!rc)
            rc = -posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                    POSIX_SPAWN_SETSIGDEF);
    }
    if (!rc && !(env = tracker_env()))
        rc = -ENOMEM;
    if (!rc) {
        char *argv[] = {exe, (char *)"--mpx-shm-tracker", NULL};
        rc = -posix_spawn(&pid, exe, &fa, &at, argv, env);
    }
    free(env);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (at_ok)
        posix_spawnattr_destroy(&at);
    for (int i = 0; i < 3; i++)
        mpx__close(tmp[i]);
    mpx__close(st[1]);
    mpx__close(rd);
    if (rc) {
        mpx__close(st[0]);
        MPX__WARNING("cannot start the shared memory tracker (%s): %s", exe, mpx_strerror(rc));
        return rc;
    }
    /* 'R' once the tracker holds the lock; 'E' + errno when it failed;
     * EOF when the program did not run it (not an mpx program?). */
    unsigned char rep[1 + sizeof(int)] = {0};
    size_t got = 0;
    while (got < sizeof rep) {
        ssize_t n = read(st[0], rep + got, sizeof rep - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (rep[0] == 'R')
            break;
    }
    mpx__close(st[0]);
    /* The first process ends at once (its child is the tracker). */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (got >= 1 && rep[0] == 'R') {
        MPX__DEBUG("started the shared memory tracker");
        return 0;
    }
    if (got == sizeof rep && rep[0] == 'E') {
        int e;
        memcpy(&e, rep + 1, sizeof e);
        rc = e > 0 ? -e : MPX_EBROKEN;
    } else {
        rc = MPX_EBROKEN;
    }
    MPX__WARNING("the shared memory tracker did not start: %s", mpx_strerror(rc));
    return rc;
}

static int tracker_ensure_locked(void)
{
    track_hdr *h = prog.tab;
    pid_t self = getpid();
    for (;;) {
        int alive = tracker_alive_locked();
        if (alive != 0)
            return alive < 0 ? alive : 0;
        uint32_t st = __atomic_load_n(&h->starter, __ATOMIC_ACQUIRE);
        if (st && (pid_t)st != self) {
            /* Another process of the program is starting it: wait for
             * it, unless it died or takes far too long. */
            int64_t since = __atomic_load_n(&h->starter_since, __ATOMIC_RELAXED);
            bool there = kill((pid_t)st, 0) == 0 || errno == EPERM;
            if (there && mpx__now_ns() - since < STARTER_PATIENCE_NS) {
                struct timespec ts = {0, 1000 * 1000};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        if (!fd_is(prog.tfd, prog.tdev, prog.tino) || !fd_is(prog.wfd, prog.wdev, prog.wino)) {
            /* The program closed our descriptor (its number may name
             * another file now): start over with new ones. */
            if (!fd_is(prog.wfd, prog.wdev, prog.wino)) {
                int rc = prog_ensure_locked();
                if (rc)
                    return rc;
            }
            table_drop_locked();
            int rc = table_ensure_locked();
            if (rc)
                return rc;
            h = prog.tab;
            continue;
        }
        if (!__atomic_compare_exchange_n(&h->starter, &st, (uint32_t)self, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue;
        __atomic_store_n(&h->starter_since, mpx__now_ns(), __ATOMIC_RELAXED);
        int rc = tracker_spawn_locked();
        __atomic_store_n(&h->starter, 0, __ATOMIC_RELEASE);
        return rc;
    }
}

static int table_claim(track_hdr *h, uint64_t ino, int64_t *slot)
{
    uint64_t *s = slots(h);
    uint32_t cap = h->cap;
    uint32_t start = __atomic_load_n(&h->hint, __ATOMIC_RELAXED);
    if (start >= cap)
        start = 0;
    for (uint32_t k = 0; k < cap; k++) {
        uint32_t i = start + k < cap ? start + k : start + k - cap;
        if (__atomic_load_n(&s[i], __ATOMIC_RELAXED) != 0)
            continue;
        /* Raise the high-water mark first: a process killed between the
         * two steps then leaves at worst an empty slot below it. */
        uint32_t hw = __atomic_load_n(&h->hwm, __ATOMIC_RELAXED);
        while (hw < i + 1 && !__atomic_compare_exchange_n(&h->hwm, &hw, i + 1, false,
                                                          __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            ;
        uint64_t zero = 0;
        if (__atomic_compare_exchange_n(&s[i], &zero, ino, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            __atomic_store_n(&h->hint, i + 1, __ATOMIC_RELAXED);
            *slot = i;
            return 0;
        }
    }
    return -ENOSPC;
}

int mpx__shm_track(uint64_t ino, int64_t *slot)
{
    if (!ino || !slot)
        return MPX_EINVAL;
    pthread_mutex_lock(&prog.mu);
    /* The pipe is checked (fstat) at each child start; here it only has
     * to exist. */
    int rc = prog.wfd >= 0 ? 0 : prog_ensure_locked();
    if (!rc)
        rc = table_ensure_locked();
    if (!rc)
        rc = tracker_ensure_locked();
    if (!rc)
        rc = table_claim(prog.tab, ino, slot);
    pthread_mutex_unlock(&prog.mu);
    return rc;
}

static void free_slot(track_hdr *h, uint32_t i)
{
    uint32_t hint = __atomic_load_n(&h->hint, __ATOMIC_RELAXED);
    while (i < hint && !__atomic_compare_exchange_n(&h->hint, &hint, i, false, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED))
        ;
}

void mpx__shm_untrack(uint64_t ino, int64_t slot)
{
    track_hdr *h = __atomic_load_n(&prog.tab, __ATOMIC_ACQUIRE);
    if (!h || !ino)
        return;
    uint64_t *s = slots(h);
    uint32_t cap = h->cap;
    if (slot >= 0 && (uint64_t)slot < cap) {
        uint64_t want = ino;
        if (__atomic_compare_exchange_n(&s[slot], &want, 0, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            free_slot(h, (uint32_t)slot);
            return;
        }
    }
    uint32_t hw = __atomic_load_n(&h->hwm, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < hw && i < cap; i++) {
        uint64_t want = ino;
        if (__atomic_load_n(&s[i], __ATOMIC_RELAXED) == ino &&
            __atomic_compare_exchange_n(&s[i], &want, 0, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            free_slot(h, i);
            return;
        }
    }
}

int64_t mpx__shm_tracked_count(void)
{
    track_hdr *h = __atomic_load_n(&prog.tab, __ATOMIC_ACQUIRE);
    if (!h)
        return -1;
    uint64_t *s = slots(h);
    uint32_t hw = __atomic_load_n(&h->hwm, __ATOMIC_ACQUIRE);
    int64_t n = 0;
    for (uint32_t i = 0; i < hw && i < h->cap; i++)
        n += __atomic_load_n(&s[i], __ATOMIC_RELAXED) != 0;
    return n;
}

/* ---- children ------------------------------------------------------------ */

int mpx__shm_prog_child_fds(int fds[2])
{
    unsigned mask = 0;
    int n = 0;
    pthread_mutex_lock(&prog.mu);
    if (prog.wfd >= 0 && fd_is(prog.wfd, prog.wdev, prog.wino)) {
        fds[n++] = prog.wfd;
        mask |= 1;
        if (prog.tab && fd_is(prog.tfd, prog.tdev, prog.tino)) {
            fds[n++] = prog.tfd;
            mask |= 2;
        }
    }
    pthread_mutex_unlock(&prog.mu);
    return (int)mask;
}

int mpx__shm_prog_adopt(unsigned mask, const int *fds, int nfds)
{
    int want = (int)(mask & 1) + (int)((mask >> 1) & 1);
    struct stat st;
    int rc = 0;
    if (mask > 3 || mask == 2 || nfds != want)
        rc = MPX_EPROTO;
    if (!rc && (mask & 1) && (fstat(fds[0], &st) < 0 || !S_ISFIFO(st.st_mode)))
        rc = MPX_EPROTO;
    track_hdr *h = NULL;
    if (!rc && (mask & 2)) {
        if (fstat(fds[1], &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != TRACK_SIZE)
            rc = MPX_EPROTO;
        if (!rc)
            rc = table_map(fds[1], &h);
        if (!rc && (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != TRACK_MAGIC ||
                    h->version != TRACK_VERSION || h->cap != TRACK_CAP)) {
            munmap(h, TRACK_SIZE);
            rc = MPX_EPROTO;
        }
    }
    if (rc) {
        for (int i = 0; i < nfds; i++)
            mpx__close(fds[i]);
        return rc;
    }
    pthread_mutex_lock(&prog.mu);
    if (mask & 1) {
        prog.wfd = fds[0];
        remember(fds[0], &prog.wdev, &prog.wino);
    }
    if (mask & 2) {
        prog.tfd = fds[1];
        remember(fds[1], &prog.tdev, &prog.tino);
        __atomic_store_n(&prog.tab, h, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&prog.mu);
    return 0;
}

void mpx__shm_atfork_child(void)
{
    pthread_mutex_init(&prog.mu, NULL); /* another thread may have held it */
}

/* ---- the tracker process ------------------------------------------------ */

static __attribute__((noreturn)) void tracker_fail(int err)
{
    unsigned char rep[1 + sizeof(int)];
    rep[0] = 'E';
    memcpy(rep + 1, &err, sizeof err);
    ssize_t n = write(TRACKER_STATUS_FD, rep, sizeof rep);
    (void)n;
    _exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The program has ended: unlink every block of the table that still has
 * its name. */
static void tracker_cleanup(track_hdr *h)
{
    uint64_t *s = slots(h);
    uint32_t hw = __atomic_load_n(&h->hwm, __ATOMIC_ACQUIRE);
    if (hw > h->cap)
        hw = h->cap;
    size_t n = 0;
    for (uint32_t i = 0; i < hw; i++)
        n += __atomic_load_n(&s[i], __ATOMIC_ACQUIRE) != 0;
    if (!n)
        return;
    uint64_t *inos = malloc(n * sizeof *inos);
    if (!inos)
        return;
    size_t k = 0;
    for (uint32_t i = 0; i < hw && k < n; i++) {
        uint64_t v = __atomic_load_n(&s[i], __ATOMIC_ACQUIRE);
        if (v)
            inos[k++] = v;
    }
    qsort(inos, k, sizeof *inos, cmp_u64);
    int dfd = open(MPX__SHM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    struct stat dst;
    if (!d || fstat(dfd, &dst) < 0) {
        if (d)
            closedir(d);
        else if (dfd >= 0)
            close(dfd);
        free(inos);
        return;
    }
    uid_t me = geteuid();
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        uint64_t ino = e->d_ino;
        if (ino && !bsearch(&ino, inos, k, sizeof *inos, cmp_u64))
            continue;
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            st.st_dev != dst.st_dev || st.st_uid != me)
            continue;
        ino = st.st_ino;
        if (bsearch(&ino, inos, k, sizeof *inos, cmp_u64))
            unlinkat(dfd, e->d_name, 0);
    }
    closedir(d);
    free(inos);
}

static __attribute__((noreturn)) void tracker_run(void)
{
    /* Leave the first process (our parent's child) so that we are no
     * one's child: it ends at once and its parent reaps it. */
    pid_t pid = fork();
    if (pid < 0)
        tracker_fail(errno);
    if (pid > 0)
        _exit(0);
    /* Our own open file description of the table, locked while we live:
     * the program sees a tracker through the lock (F_OFD_GETLK). */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", TRACKER_TABLE_FD);
    int lk = open(path, O_RDWR | O_CLOEXEC);
    if (lk < 0)
        tracker_fail(errno);
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_len = 1;
    if (fcntl(lk, F_OFD_SETLK, &fl) < 0) {
        if (errno != EAGAIN && errno != EACCES)
            tracker_fail(errno);
        /* Another tracker of this table is alive: it does the work. */
        ssize_t n = write(TRACKER_STATUS_FD, "R", 1);
        (void)n;
        _exit(0);
    }
    track_hdr *h = NULL;
    int rc = table_map(TRACKER_TABLE_FD, &h);
    if (rc)
        tracker_fail(-rc);
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != TRACK_MAGIC || h->cap != TRACK_CAP)
        tracker_fail(EPROTO);
    int fl_live = fcntl(TRACKER_LIVE_FD, F_GETFL);
    if (fl_live >= 0)
        (void)fcntl(TRACKER_LIVE_FD, F_SETFL, fl_live & ~O_NONBLOCK);
    if (chdir("/") < 0) {
        /* not fatal: we only keep the directory busy */
    }
    ssize_t w;
    do
        w = write(TRACKER_STATUS_FD, "R", 1);
    while (w < 0 && errno == EINTR);
    close(TRACKER_STATUS_FD);
    /* Sleep until every process of the program has ended. */
    for (;;) {
        char buf[64];
        ssize_t n = read(TRACKER_LIVE_FD, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            break;
        if (n < 0 && errno == EAGAIN) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    tracker_cleanup(h);
    _exit(0);
}

void mpx__shm_tracker_from_env(void)
{
    const char *e = getenv(TRACKER_ENV);
    if (!e)
        return;
    /* Ours only when the descriptors are what a parent gave us; a stray
     * variable in a user's environment leaves the program alone. */
    struct stat s3, s4, s5;
    bool ok = strcmp(e, "3") == 0 && fstat(TRACKER_STATUS_FD, &s3) == 0 &&
              S_ISFIFO(s3.st_mode) && fstat(TRACKER_LIVE_FD, &s4) == 0 && S_ISFIFO(s4.st_mode) &&
              fstat(TRACKER_TABLE_FD, &s5) == 0 && S_ISREG(s5.st_mode) &&
              (size_t)s5.st_size == TRACK_SIZE;
    unsetenv(TRACKER_ENV);
    if (ok)
        tracker_run();
}
