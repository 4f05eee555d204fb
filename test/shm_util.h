/*
 * test/shm_util.h - helpers of the shared memory tests (test_shm*.c):
 * /dev/shm checks, "programs" (a plain fork of the test, with no mpx
 * state of its own yet, so it and its children are a program of their
 * own for the shm tracker) and a name channel.
 */
#ifndef MPX_TEST_SHM_UTIL_H
#define MPX_TEST_SHM_UTIL_H

#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Does /dev/shm/NAME exist (leading slashes ignored)? */
static inline bool shm_exists(const char *name)
{
    while (*name == '/')
        name++;
    char p[1024];
    snprintf(p, sizeof p, "/dev/shm/%.900s", name);
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Wait (up to 30 s: a liveness limit, not a timing check) until
 * /dev/shm/NAME is gone; true when it went. */
static inline bool shm_wait_gone(const char *name)
{
    for (int i = 0; i < 3000; i++) {
        if (!shm_exists(name))
            return true;
        sleep_ms(10);
    }
    return !shm_exists(name);
}

/* Number of open descriptors of this process. */
static inline int shm_count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A name unique to this test process. */
static inline const char *shm_test_name(const char *tag)
{
    static char buf[8][64];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 64, "mpxt_%d_%s", (int)getpid(), tag);
    return b;
}

/* Send / receive one fixed-size record (a name) over a pipe. */
typedef struct shm_msg {
    char s[128];
} shm_msg;

static inline void shm_send(int fd, const char *s)
{
    shm_msg m;
    memset(&m, 0, sizeof m);
    snprintf(m.s, sizeof m.s, "%s", s);
    CHECK_EQ(write(fd, &m, sizeof m), (long)sizeof m);
}

/* Receive into out (128 bytes); false at EOF. */
static inline bool shm_recv(int fd, char *out)
{
    shm_msg m;
    size_t got = 0;
    while (got < sizeof m) {
        ssize_t n = read(fd, (char *)&m + got, sizeof m - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    memcpy(out, m.s, sizeof m.s);
    out[sizeof m.s - 1] = 0;
    return true;
}

/*
 * Start fn(arg, wfd) as a separate program: a plain fork of the test
 * (which has no shm state: call before the test starts any child or
 * creates a tracked block), in its own process group when own_group.
 * Its messages come back on *rfd. It ends with exit(code of fn) (so the
 * library's exit handlers join its children).
 */
static inline pid_t shm_program(int (*fn)(void *, int), void *arg, bool own_group, int *rfd)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (own_group)
            setpgid(0, 0);
        close(p[0]);
        int code = fn(arg, p[1]);
        close(p[1]);
        fflush(NULL);
        exit(code);
    }
    if (own_group)
        setpgid(pid, pid);
    close(p[1]);
    *rfd = p[0];
    return pid;
}

/* Wait for a program; its exit code (-signal when killed). */
static inline int shm_program_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        CHECK_EQ(errno, EINTR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

#endif
