/* test_conn_python.c - interoperability with CPython's
 * multiprocessing.connection (CONN-12, LIS-02..04, AUTH-01..06): CPython
 * Client -> mpx Listener and mpx Client -> CPython Listener, with authkey,
 * messages of 0 B, 1 B, 64 KiB and 16 MiB in both directions, in the
 * handshake form of the installed CPython (3.11: HMAC-MD5) and the 3.12+
 * "{sha256}" form (test/py/conn_peer.py writes it out); wrong keys fail on
 * both sides. Skipped when python3 is absent. */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const size_t sizes[] = {0, 1, 65536, 16 << 20};
static const size_t small_sizes[] = {0, 1, 1000};
/* Exchange small messages only (conn_peer.py's "small"): for the tests
 * that run against every installed CPython. */
static int small_mode;
/* Send the peer's stderr to /dev/null (a failure the test expects). */
static int quiet_peer;

static void pattern(unsigned char *p, size_t size)
{
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)((i + size) & 0xff);
}

static const char *script_path(void)
{
    static char path[PATH_MAX + 64];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *s = strrchr(exe, '/');
        if (s) {
            *s = 0;
            snprintf(path, sizeof path, "%s/../../test/py/conn_peer.py", exe);
            if (access(path, R_OK) == 0)
                return path;
        }
    }
    if (access("test/py/conn_peer.py", R_OK) == 0)
        return "test/py/conn_peer.py";
    return NULL;
}

typedef struct pypeer {
    pid_t pid;
    int out; /* its stdout */
} pypeer;

static int have_python(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char buf[PATH_MAX];
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/python3", (int)n, p);
        if (access(buf, X_OK) == 0)
            return 1;
        p += n + (e ? 1 : 0);
    }
    return 0;
}

/* The interpreter for the next py_start: "python3" unless a test picked
 * a CPython 3.12+ one. */
static const char *interp = "python3";

static int run_quiet(const char *exe, char *const argv[])
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = strchr(exe, '/') ? posix_spawn(&pid, exe, &fa, NULL, argv, environ)
                              : posix_spawnp(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A CPython >= 3.12 (native "{sha256}" handshake), or NULL:
 * $MPX_TEST_PYTHON_MODERN, python3.13 / python3.12 on PATH, or a pyenv
 * installation. */
static const char *modern_python(void)
{
    static char found[PATH_MAX];
    const char *cands[16];
    int n = 0;
    if (getenv("MPX_TEST_PYTHON_MODERN"))
        cands[n++] = getenv("MPX_TEST_PYTHON_MODERN");
    cands[n++] = "python3.13";
    cands[n++] = "python3.12";
    static char pyenv[4][PATH_MAX];
    const char *root = getenv("PYENV_ROOT");
    const char *home = getenv("HOME");
    static const char *vers[] = {"3.13", "3.12"};
    for (int v = 0; v < 2; v++) {
        char pat[PATH_MAX];
        if (root)
            snprintf(pat, sizeof pat, "%s/versions", root);
        else if (home)
            snprintf(pat, sizeof pat, "%s/.pyenv/versions", home);
        else
            break;
        DIR *d = opendir(pat);
        if (!d)
            break;
        struct dirent *e;
        while ((e = readdir(d)) && n < 14) {
            if (strncmp(e->d_name, vers[v], 4) == 0 && v * 2 + 1 < 4) {
                snprintf(pyenv[v * 2], sizeof pyenv[0], "%.3000s/%.200s/bin/python3", pat,
                         e->d_name);
                cands[n++] = pyenv[v * 2];
                break;
            }
        }
        closedir(d);
    }
    for (int i = 0; i < n; i++) {
        char *argv[] = {(char *)cands[i], "-c",
                        "import sys, multiprocessing.connection as m; "
                        "sys.exit(0 if sys.version_info >= (3, 12) and "
                        "hasattr(m, '_create_response') else 1)",
                        NULL};
        if (run_quiet(cands[i], argv) == 0) {
            snprintf(found, sizeof found, "%s", cands[i]);
            return found;
        }
    }
    return NULL;
}

static void py_start(pypeer *py, const char *role, const char *where, const char *key,
                     const char *mode)
{
    if (strcmp(interp, "python3") == 0 && !have_python())
        MPX_SKIP("python3 not found on PATH");
    const char *script = script_path();
    if (!script)
        MPX_SKIP("test/py/conn_peer.py not found");
    char keyhex[256] = "-";
    if (key) {
        for (size_t i = 0; key[i] && i < 100; i++)
            snprintf(keyhex + 2 * i, 3, "%02x", (unsigned char)key[i]);
        if (!key[0])
            snprintf(keyhex, sizeof keyhex, "%s", "");
    }
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    if (quiet_peer)
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)interp, (char *)script, (char *)role, (char *)where, keyhex,
                    (char *)mode, small_mode ? "small" : NULL, NULL};
    int rc = strchr(interp, '/') ? posix_spawn(&py->pid, interp, &fa, NULL, argv, environ)
                                 : posix_spawnp(&py->pid, interp, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        MPX_SKIP("cannot start python3");
    }
    py->out = p[0];
}

/* Read one line of the peer's output (30 s limit). */
static void py_line(pypeer *py, char *buf, size_t cap)
{
    size_t n = 0;
    int64_t end = mpx_test_now_ms() + 30000;
    while (n + 1 < cap) {
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

/* Wait for the peer; returns its exit code. */
static int py_finish(pypeer *py, char *last, size_t cap)
{
    py_line(py, last, cap);
    close(py->out);
    int st = 0;
    int64_t end = mpx_test_now_ms() + 60000;
    for (;;) {
        pid_t r = waitpid(py->pid, &st, WNOHANG);
        if (r == py->pid)
            break;
        if (mpx_test_now_ms() > end) {
            kill(py->pid, SIGKILL);
            waitpid(py->pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The mpx side of the exchange: send pattern(size), receive it back. */
static void exchange(mpx_connection *c)
{
    unsigned char *buf = malloc(16 << 20);
    CHECK(buf);
    const size_t *sz = small_mode ? small_sizes : sizes;
    size_t nsz = small_mode ? sizeof small_sizes / sizeof small_sizes[0]
                            : sizeof sizes / sizeof sizes[0];
    for (size_t i = 0; i < nsz; i++) {
        pattern(buf, sz[i]);
        CHECK_OK(mpx_connection_send_bytes(c, buf, sz[i]));
        void *m;
        size_t n;
        CHECK_OK(mpx_connection_recv_bytes(c, &m, &n));
        CHECK_EQ(n, sz[i]);
        CHECK_MEMEQ(m, buf, n);
        mpx_free(m);
    }
    free(buf);
}

/* The exchange on c (destroyed after), then the python peer must end with "OK". */
static void exchange_and_finish(pypeer *py, mpx_connection *c)
{
    exchange(c);
    mpx_connection_destroy(c);
    char last[512];
    int code = py_finish(py, last, sizeof last);
    if (code != 0)
        FAIL("python peer exited %d: %s", code, last);
    CHECK_STREQ(last, "OK");
}

static void mpx_client_to_python_opts(const char *family, const char *key, const char *mode,
                                      int strict, int skip)
{
    pypeer py;
    py_start(&py, "server", family, key, mode);
    char addr[512];
    py_line(&py, addr, sizeof addr);
    CHECK(addr[0]);
    mpx_client_opts o = {0};
    o.authkey = key;
    o.authkey_len = key ? strlen(key) : 0;
    o.strict = strict;
    o.empty_key_skips_auth = skip;
    o.timeout = 30000;
    mpx_connection *c;
    CHECK_OK(mpx_client_connect(&c, addr, &o));
    exchange_and_finish(&py, c);
}

static void mpx_client_to_python(const char *family, const char *key, const char *mode,
                                 int strict)
{
    mpx_client_to_python_opts(family, key, mode, strict, 0);
}

/* pykey: the CPython client's key (may differ from key: NULL against an
 * empty key the listener skips). */
static void python_client_to_mpx_opts(const char *address, const char *key, const char *pykey,
                                      const char *mode, int strict, int skip)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = key;
    o.authkey_len = key ? strlen(key) : 0;
    o.strict = strict;
    o.empty_key_skips_auth = skip;
    CHECK_OK(mpx_listener_create(&l, address, &o));
    pypeer py;
    py_start(&py, "client", mpx_listener_address(l), pykey, mode);
    mpx_connection *c;
    int rc = mpx_listener_accept(l, &c, 30000);
    if (rc) {
        char last[512];
        int code = py_finish(&py, last, sizeof last);
        FAIL("accept: %s (python exited %d: %s)", mpx_strerror(rc), code, last);
    }
    exchange_and_finish(&py, c);
    mpx_listener_destroy(l);
}

static void python_client_to_mpx(const char *address, const char *key, const char *mode,
                                 int strict)
{
    python_client_to_mpx_opts(address, key, key, mode, strict, 0);
}

MPX_TEST_ONCE_T(py_mpx_client_to_cpython_listener_native_auth, 120)
{
    mpx_client_to_python("tcp", "secret password", "native", 0);
}

MPX_TEST_ONCE_T(py_mpx_client_to_cpython_listener_sha256_auth, 120)
{
    mpx_client_to_python("tcp", "secret password", "modern", 1);
}

MPX_TEST_ONCE_T(py_mpx_client_to_cpython_listener_unix_no_auth, 120)
{
    mpx_client_to_python("unix", NULL, "native", 0);
}

MPX_TEST_ONCE_T(py_cpython_client_to_mpx_listener_native_auth, 120)
{
    python_client_to_mpx("127.0.0.1:0", "secret password", "native", 0);
}

MPX_TEST_ONCE_T(py_cpython_client_to_mpx_listener_sha256_auth_strict, 120)
{
    python_client_to_mpx("127.0.0.1:0", "secret password", "modern", 1);
}

MPX_TEST_ONCE_T(py_cpython_client_to_mpx_listener_unix_and_abstract, 120)
{
    python_client_to_mpx(NULL, "k", "native", 0);
    char name[64];
    snprintf(name, sizeof name, "@mpx-py-%d", (int)getpid());
    python_client_to_mpx(name, NULL, "native", 0);
}

/* Wrong keys: both sides fail with an authentication error. */
static void wrong_key_mpx_client(const char *mode, const char *pykey, const char *key,
                                 int strict)
{
    pypeer py;
    py_start(&py, "server", "tcp", pykey, mode);
    char addr[512], last[512];
    py_line(&py, addr, sizeof addr);
    mpx_client_opts o = {0};
    o.authkey = key;
    o.authkey_len = strlen(key);
    o.strict = strict;
    o.timeout = 30000;
    mpx_connection *c;
    CHECK_ERR(mpx_client_connect(&c, addr, &o), MPX_EAUTH);
    int code = py_finish(&py, last, sizeof last);
    CHECK_EQ(code, 2);
    CHECK(strncmp(last, "AUTHFAIL", 8) == 0);
}

static void wrong_key_python_client(const char *mode, const char *pykey, const char *key,
                                    int strict)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = key;
    o.authkey_len = strlen(key);
    o.strict = strict;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    pypeer py;
    py_start(&py, "client", mpx_listener_address(l), pykey, mode);
    mpx_connection *c;
    CHECK_ERR(mpx_listener_accept(l, &c, 30000), MPX_EAUTH);
    char last[512];
    int code = py_finish(&py, last, sizeof last);
    CHECK_EQ(code, 2);
    CHECK(strncmp(last, "AUTHFAIL", 8) == 0);
    mpx_listener_destroy(l);
}

MPX_TEST_ONCE_T(py_wrong_key_fails_both_sides, 120)
{
    wrong_key_mpx_client("native", "python key", "mpx key", 0);
    wrong_key_mpx_client("modern", "python key", "mpx key", 0);
    wrong_key_python_client("native", "python key", "mpx key", 0);
    wrong_key_python_client("modern", "python key", "mpx key", 0);
}

/* strict mpx refuses the 3.11 HMAC-MD5 form in both roles; the CPython
 * side sees an authentication failure too. */
MPX_TEST_ONCE_T(py_strict_refuses_md5_both_roles, 120)
{
    wrong_key_mpx_client("native", "same", "same", 1);
    wrong_key_python_client("native", "same", "same", 1);
}

/* A real CPython 3.12+ (when one is installed): its own "{sha256}"
 * handshake, strict mpx on both roles, and wrong keys. */
MPX_TEST_ONCE_T(py_cpython312_native_sha256_both_directions, 180)
{
    const char *py = modern_python();
    if (!py)
        MPX_SKIP("no CPython >= 3.12 found (set MPX_TEST_PYTHON_MODERN)");
    interp = py;
    fprintf(stderr, "modern CPython: %s\n", py);
    mpx_client_to_python("tcp", "secret password", "native", 1);
    python_client_to_mpx("127.0.0.1:0", "secret password", "native", 1);
    python_client_to_mpx(NULL, "secret password", "native", 0);
    wrong_key_mpx_client("native", "python key", "mpx key", 1);
    wrong_key_python_client("native", "python key", "mpx key", 0);
}

/* ---- the empty key against every installed CPython (#12 item 6) ---------
 * CPython's Client always authenticates with b''; its Listener does too
 * from 3.13 (bpo-43952) but skipped authentication for b'' before. Each
 * installed CPython says which it does (conn_peer.py info, read from its
 * own Listener.accept); the mpx side is set to match and must work both
 * ways. */

typedef struct pyver {
    char path[PATH_MAX];
    char version[32];
    int skips;
} pyver;

/* Run "python conn_peer.py info"; 0 and *v filled, or -1. */
static int py_info(const char *path, pyver *v)
{
    const char *script = script_path();
    if (!script || access(path, X_OK) != 0)
        return -1;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)path, (char *)script, "info", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc) {
        close(p[0]);
        return -1;
    }
    pypeer py = {pid, p[0]};
    char line[128];
    int code = py_finish(&py, line, sizeof line);
    char how[32];
    if (code != 0 || sscanf(line, "%31s %31s", v->version, how) != 2)
        return -1;
    snprintf(v->path, sizeof v->path, "%.4000s", path);
    v->skips = strcmp(how, "skips") == 0;
    return 0;
}

/* Every CPython 3 found: /usr/bin/python3*, python3 on PATH, pyenv's. */
static int installed_pythons(pyver *out, int cap)
{
    char cands[40][PATH_MAX];
    int nc = 0;
    static const char *fixed[] = {"/usr/bin/python3",     "/usr/bin/python3.11",
                                  "/usr/bin/python3.12",  "/usr/bin/python3.13",
                                  "/usr/local/bin/python3"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        snprintf(cands[nc++], PATH_MAX, "%s", fixed[i]);
    const char *root = getenv("PYENV_ROOT");
    const char *home = getenv("HOME");
    char dir[PATH_MAX];
    if (root)
        snprintf(dir, sizeof dir, "%s/versions", root);
    else if (home)
        snprintf(dir, sizeof dir, "%s/.pyenv/versions", home);
    else
        dir[0] = 0;
    DIR *d = dir[0] ? opendir(dir) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && nc < 40)
            if (strncmp(e->d_name, "3.", 2) == 0)
                snprintf(cands[nc++], PATH_MAX, "%.3000s/%.200s/bin/python3", dir, e->d_name);
        closedir(d);
    }
    int n = 0;
    for (int i = 0; i < nc && n < cap; i++) {
        pyver v;
        if (py_info(cands[i], &v))
            continue;
        int dup = 0;
        for (int k = 0; k < n; k++)
            dup |= strcmp(out[k].version, v.version) == 0;
        if (!dup)
            out[n++] = v;
    }
    return n;
}

MPX_TEST_ONCE_T(py_empty_authkey_every_installed_cpython, 300)
{
    pyver vers[32];
    int n = installed_pythons(vers, 32);
    if (n == 0)
        MPX_SKIP("no CPython 3 found");
    static const char *wanted[] = {"3.11.", "3.12.", "3.13."};
    for (size_t w = 0; w < 3; w++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= strncmp(vers[i].version, wanted[w], 5) == 0;
        if (!found)
            fprintf(stderr, "note: no CPython %.4s installed: not tested\n", wanted[w]);
    }
    small_mode = 1;
    int mismatch_done = 0;
    for (int i = 0; i < n; i++) {
        pyver *v = &vers[i];
        fprintf(stderr, "CPython %s (%s): Listener %s for an empty key\n", v->version, v->path,
                v->skips ? "skips authentication" : "authenticates");
        /* what the sources say (3.13 fixed it; 3.10 and older never were) */
        int minor = atoi(v->version + 2);
        if (minor >= 13)
            CHECK(!v->skips);
        if (minor <= 10)
            CHECK(v->skips);
        interp = v->path;
        /* mpx Client -> CPython Listener(authkey=b''), told what it does */
        mpx_client_to_python_opts("tcp", "", "native", 0, v->skips);
        /* CPython Client(authkey=b'') -> mpx Listener(""): always a handshake */
        python_client_to_mpx_opts("127.0.0.1:0", "", "", "native", 0, 0);
        if (v->skips) {
            /* the port of that version's program: Listener(b'') + Client(None) */
            python_client_to_mpx_opts(NULL, "", NULL, "native", 0, 1);
        }
        if (v->skips && !mismatch_done) {
            /* not told: the client waits for a challenge that never comes,
             * as CPython's own Client does against this Listener; its
             * timeout ends it cleanly */
            mismatch_done = 1;
            pypeer py;
            quiet_peer = 1;
            py_start(&py, "server", "tcp", "", "native");
            quiet_peer = 0;
            char addr[512], last[512];
            py_line(&py, addr, sizeof addr);
            mpx_client_opts o = {0};
            o.authkey = "";
            o.timeout = 1000;
            mpx_connection *c;
            CHECK_ERR(mpx_client_connect(&c, addr, &o), MPX_ETIMEDOUT);
            CHECK(py_finish(&py, last, sizeof last) != 0); /* EOF in its recv */
        }
    }
    small_mode = 0;
    interp = "python3";
}
