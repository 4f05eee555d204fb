/*
 * test/pypeer.h - run a CPython peer script from a test: find an
 * interpreter (python3, or a given version from PATH or pyenv), start a
 * script of test/py/ with its stdout on a pipe, read its lines, wait for
 * its end. Used by the value and manager interoperability tests.
 */
#ifndef MPX_TEST_PYPEER_H
#define MPX_TEST_PYPEER_H

#include "harness.h"

#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct pypeer {
    pid_t pid;
    int out; /* its stdout, or -1 */
} pypeer;

static inline int pyp_on_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *e = strchr(path, ':');
        size_t n = e ? (size_t)(e - path) : strlen(path);
        snprintf(out, cap, "%.*s/%s", (int)n, path, name);
        if (access(out, X_OK) == 0)
            return 1;
        path += n + (e ? 1 : 0);
    }
    return 0;
}

/* An interpreter: version NULL means python3 on PATH; "3.12" finds a pyenv
 * installation of it or python3.12 on PATH (not a pyenv shim). NULL when
 * there is none. The string is static (one per version slot). */
static inline const char *pyp_find(const char *version)
{
    static char found[8][PATH_MAX];
    static int slot;
    char *out = found[slot++ & 7];
    if (!version)
        return pyp_on_path("python3", out, PATH_MAX) ? out : NULL;
    char pat[PATH_MAX];
    const char *root = getenv("PYENV_ROOT"), *home = getenv("HOME");
    pat[0] = 0;
    if (root)
        snprintf(pat, sizeof pat, "%s/versions/%s.*/bin/python%s", root, version, version);
    else if (home)
        snprintf(pat, sizeof pat, "%s/.pyenv/versions/%s.*/bin/python%s", home, version,
                 version);
    glob_t g;
    if (pat[0] && glob(pat, 0, NULL, &g) == 0) {
        snprintf(out, PATH_MAX, "%s", g.gl_pathv[g.gl_pathc - 1]);
        globfree(&g);
        return out;
    }
    char name[32];
    snprintf(name, sizeof name, "python%s", version);
    if (pyp_on_path(name, out, PATH_MAX) && !strstr(out, "/shims/"))
        return out;
    return NULL;
}

/* The path of test/py/<name> (next to the build directory or the cwd). */
static inline const char *pyp_script(const char *name)
{
    static char path[4][PATH_MAX + 64];
    static int slot;
    char *out = path[slot++ & 3];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *s = strrchr(exe, '/');
        if (s) {
            *s = 0;
            snprintf(out, PATH_MAX + 64, "%s/../../test/py/%s", exe, name);
            if (access(out, R_OK) == 0)
                return out;
        }
    }
    snprintf(out, PATH_MAX + 64, "test/py/%s", name);
    return access(out, R_OK) == 0 ? out : NULL;
}

/* Start argv (argv[0] an interpreter path) with stdout on a pipe; quiet:
 * stderr to /dev/null. Returns 0 or -1. */
static inline int pyp_start(pypeer *py, char *const argv[], int quiet)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    if (quiet)
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&py->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc) {
        close(p[0]);
        py->out = -1;
        return -1;
    }
    py->out = p[0];
    return 0;
}

/* Read one line of the peer's output (limit_ms at most); "" at EOF. */
static inline void pyp_line(pypeer *py, char *buf, size_t cap, int limit_ms)
{
    size_t n = 0;
    int64_t end = mpx_test_now_ms() + limit_ms;
    while (py->out >= 0 && n + 1 < cap) {
        struct pollfd pf = {py->out, POLLIN, 0};
        int left = (int)(end - mpx_test_now_ms());
        if (left <= 0 || poll(&pf, 1, left) <= 0)
            break;
        char c;
        if (read(py->out, &c, 1) != 1)
            break;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = 0;
}

/* Wait for the peer to end (limit_ms, then SIGKILL); its exit code, -1
 * when killed. The output pipe is closed. */
static inline int pyp_wait(pypeer *py, int limit_ms)
{
    if (py->out >= 0)
        close(py->out);
    py->out = -1;
    int st = 0;
    int64_t end = mpx_test_now_ms() + limit_ms;
    for (;;) {
        pid_t r = waitpid(py->pid, &st, WNOHANG);
        if (r == py->pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (mpx_test_now_ms() > end) {
            kill(py->pid, SIGKILL);
            waitpid(py->pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void pyp_kill(pypeer *py)
{
    kill(py->pid, SIGKILL);
    pyp_wait(py, 10000);
}

#endif
