/* test_shm_python.c - interoperability of named shared memory with
 * CPython (issue #17): a block created by mpx attached by name from
 * CPython's shared_memory.SharedMemory and the other way round; a
 * ShareableList created by CPython read and written by mpx and the other
 * way round, byte for byte (both sides' blocks compared). Runs against
 * python3 (3.11 in CI) and, where installed, pyenv's 3.12 and 3.13 (a
 * message says which were not found). The Python side is
 * test/py/shm_peer.py; it never leaves an attached block registered with
 * CPython's resource tracker, so these tests test mpx, not CPython's
 * attach bug. Skipped when python3 is absent. */
#include "shm_util.h"

#include <limits.h>
#include <spawn.h>

extern char **environ;

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
            snprintf(path, sizeof path, "%s/../../test/py/shm_peer.py", exe);
            if (access(path, R_OK) == 0)
                return path;
        }
    }
    if (access("test/py/shm_peer.py", R_OK) == 0)
        return "test/py/shm_peer.py";
    return NULL;
}

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

/* The CPythons to test against: python3 and pyenv's 3.12 and 3.13. */
static int pythons(const char **out, int cap)
{
    static char found[4][PATH_MAX];
    int n = 0;
    const char *cands[4] = {"python3", NULL, NULL, NULL};
    int nc = 1;
    static const char *vers[] = {"3.12", "3.13"};
    char root[PATH_MAX];
    const char *pr = getenv("PYENV_ROOT"), *home = getenv("HOME");
    if (pr)
        snprintf(root, sizeof root, "%s/versions", pr);
    else
        snprintf(root, sizeof root, "%s/.pyenv/versions", home ? home : "/root");
    static char pv[2][PATH_MAX];
    for (int v = 0; v < 2; v++) {
        DIR *d = opendir(root);
        struct dirent *e;
        bool got = false;
        while (d && (e = readdir(d)))
            if (!strncmp(e->d_name, vers[v], 4) && !got) {
                snprintf(pv[v], sizeof pv[v], "%.3000s/%.200s/bin/python3", root, e->d_name);
                cands[nc++] = pv[v];
                got = true;
            }
        if (d)
            closedir(d);
        if (!got)
            fprintf(stderr, "note: no CPython %s (pyenv) here: not tested against it\n", vers[v]);
    }
    for (int i = 0; i < nc && n < cap; i++) {
        char *argv[] = {(char *)cands[i], "-c", "import multiprocessing.shared_memory", NULL};
        if (run_quiet(cands[i], argv) == 0) {
            snprintf(found[n], sizeof found[n], "%s", cands[i]);
            out[n] = found[n];
            n++;
        } else if (i > 0) {
            fprintf(stderr, "note: %s does not run: not tested against it\n", cands[i]);
        }
    }
    return n;
}

typedef struct pypeer {
    pid_t pid;
    int in, out; /* its stdin (we write), its stdout (we read) */
    char buf[65536];
    size_t have;
} pypeer;

static void py_start(pypeer *py, const char *python, char *const args[])
{
    const char *script = script_path();
    CHECK(script != NULL);
    int i_p[2], o_p[2];
    CHECK_EQ(pipe2(i_p, O_CLOEXEC), 0);
    CHECK_EQ(pipe2(o_p, O_CLOEXEC), 0);
    char *argv[8];
    int k = 0;
    argv[k++] = (char *)python;
    argv[k++] = (char *)script;
    for (int i = 0; args[i] && k < 7; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, i_p[0], 0);
    posix_spawn_file_actions_adddup2(&fa, o_p[1], 1);
    int rc = strchr(python, '/') ? posix_spawn(&py->pid, python, &fa, NULL, argv, environ)
                                 : posix_spawnp(&py->pid, python, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    CHECK_EQ(rc, 0);
    close(i_p[0]);
    close(o_p[1]);
    py->in = i_p[1];
    py->out = o_p[0];
    py->have = 0;
}

/* The next line of its output (without the newline) into a static-ish
 * buffer the caller copies; fails at EOF. */
static void py_line(pypeer *py, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(py->buf, '\n', py->have);
        if (nl) {
            size_t n = (size_t)(nl - py->buf);
            CHECK(n < cap);
            memcpy(line, py->buf, n);
            line[n] = 0;
            memmove(py->buf, nl + 1, py->have - n - 1);
            py->have -= n + 1;
            return;
        }
        CHECK(py->have < sizeof py->buf);
        ssize_t r = read(py->out, py->buf + py->have, sizeof py->buf - py->have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            FAIL("python ended before a line (output so far: %.*s)", (int)py->have, py->buf);
        py->have += (size_t)r;
    }
}

static void py_send_line(pypeer *py)
{
    CHECK_EQ(write(py->in, "\n", 1), 1);
}

static void py_finish(pypeer *py)
{
    close(py->in);
    close(py->out);
    int st;
    while (waitpid(py->pid, &st, 0) < 0)
        CHECK_EQ(errno, EINTR);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

static void need_python(const char **py, int *n)
{
    if (!script_path())
        MPX_SKIP("test/py/shm_peer.py not found");
    *n = pythons(py, 3);
    if (*n == 0)
        MPX_SKIP("python3 not found");
}

static unsigned char mpx_pattern(size_t i)
{
    return (unsigned char)((i * 7 + 3) & 0xff);
}

static unsigned char py_pattern(size_t i)
{
    return (unsigned char)((i * 11 + 5) & 0xff);
}

static void hex_of(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = 0;
}

/* ---- plain blocks -------------------------------------------------------- */

MPX_TEST_ONCE_T(shmem_python_attaches_mpx_block, 120)
{
    const char *py[3];
    int n;
    need_python(py, &n);
    const size_t size = 100000;
    mpx_shm *s;
    CHECK_OK(mpx_shm_open(&s, NULL, 1, (int64_t)size, NULL));
    unsigned char *b = mpx_shm_buf(s);
    for (int k = 0; k < n; k++) {
        for (size_t i = 0; i < size; i++)
            b[i] = i < size / 2 ? mpx_pattern(i) : 0;
        char sz[32];
        snprintf(sz, sizeof sz, "%zu", size);
        char *args[] = {"attach", (char *)mpx_shm_name(s), sz, NULL};
        pypeer p;
        py_start(&p, py[k], args);
        char line[64];
        py_line(&p, line, sizeof line);
        CHECK_STREQ(line, "ok");
        py_finish(&p);
        for (size_t i = size / 2; i < size; i++)
            if (b[i] != py_pattern(i))
                FAIL("%s: byte %zu not written by CPython", py[k], i);
        /* CPython's exit did not unlink it */
        CHECK(shm_exists(mpx_shm_name(s)));
    }
    CHECK_OK(mpx_shm_unlink(s));
    mpx_shm_destroy(s);
}

MPX_TEST_ONCE_T(shmem_mpx_attaches_python_block, 120)
{
    const char *py[3];
    int n;
    need_python(py, &n);
    const size_t size = 70000;
    for (int k = 0; k < n; k++) {
        char sz[32];
        snprintf(sz, sizeof sz, "%zu", size);
        char *args[] = {"serve", sz, NULL};
        pypeer p;
        py_start(&p, py[k], args);
        char name[256];
        py_line(&p, name, sizeof name);
        CHECK(!strncmp(name, "psm_", 4));
        mpx_shm *s;
        CHECK_OK(mpx_shm_open(&s, name, 0, 0, NULL));
        CHECK_EQ(mpx_shm_size(s), size);
        unsigned char *b = mpx_shm_buf(s);
        for (size_t i = 0; i < size; i++)
            if (b[i] != py_pattern(i))
                FAIL("%s: byte %zu is not CPython's", py[k], i);
        for (size_t i = size / 2; i < size; i++)
            b[i] = mpx_pattern(i);
        mpx_shm_destroy(s); /* attached: nothing for our tracker */
        py_send_line(&p);
        char line[64];
        py_line(&p, line, sizeof line);
        CHECK_STREQ(line, "ok");
        py_finish(&p);
        CHECK(!shm_exists(name)); /* CPython unlinked it */
    }
}

/* ---- ShareableList ------------------------------------------------------------ */

/* shm_peer.py's ITEMS and SETS, in C. */
static const char *const HELLO = "h\xc3\xa9llo w\xc3\xb6rld!";

static mpx_shareable_list *make_items(void)
{
    mpx_sl_item items[] = {mpx_sl_int(1),        mpx_sl_float(2.5),     mpx_sl_bool(1),
                           mpx_sl_str("ab"),     mpx_sl_bytes("xyz", 3), mpx_sl_none(),
                           mpx_sl_int(-7),       mpx_sl_str(HELLO),     mpx_sl_bytes("", 0),
                           mpx_sl_str("xxxxxxxx"), mpx_sl_int(INT64_MIN), mpx_sl_float(1e-300)};
    mpx_shareable_list *l;
    CHECK_OK(mpx_shareable_list_open(&l, items, 12, NULL, NULL));
    return l;
}

static void apply_sets(mpx_shareable_list *l)
{
    CHECK_OK(mpx_shareable_list_set_str(l, 1, "abc"));
    CHECK_OK(mpx_shareable_list_set_int(l, 3, 3));
    CHECK_OK(mpx_shareable_list_set_none(l, 7));
    CHECK_OK(mpx_shareable_list_set_bytes(l, -1, "\x01\x02", 2));
    CHECK_OK(mpx_shareable_list_set_bool(l, 9, 0));
}

static const char *const REPR_ITEMS =
    "[1, 2.5, True, 'ab', b'xyz', None, -7, 'h\xc3\xa9llo w\xc3\xb6rld!', b'', 'xxxxxxxx', "
    "-9223372036854775808, 1e-300]";
static const char *const REPR_SET =
    "[1, 'abc', True, 3, b'xyz', None, -7, None, b'', False, -9223372036854775808, "
    "b'\\x01\\x02']";

static void check_items(mpx_shareable_list *l)
{
    CHECK_EQ(mpx_shareable_list_len(l), 12);
    int64_t i;
    double d;
    int b;
    char s[64];
    size_t len;
    CHECK_OK(mpx_shareable_list_get_int(l, 0, &i));
    CHECK_EQ(i, 1);
    CHECK_OK(mpx_shareable_list_get_float(l, 1, &d));
    CHECK(d == 2.5);
    CHECK_OK(mpx_shareable_list_get_bool(l, 2, &b));
    CHECK_EQ(b, 1);
    CHECK_OK(mpx_shareable_list_get_str(l, 3, s, sizeof s, &len));
    CHECK_STREQ(s, "ab");
    CHECK_OK(mpx_shareable_list_get_bytes(l, 4, s, sizeof s, &len));
    CHECK(len == 3 && !memcmp(s, "xyz", 3));
    CHECK_EQ(mpx_shareable_list_type(l, 5), MPX_SL_NONE);
    CHECK_OK(mpx_shareable_list_get_int(l, 6, &i));
    CHECK_EQ(i, -7);
    CHECK_OK(mpx_shareable_list_get_str(l, 7, s, sizeof s, &len));
    CHECK_STREQ(s, HELLO);
    CHECK_OK(mpx_shareable_list_get_bytes(l, 8, s, sizeof s, &len));
    CHECK_EQ(len, 0);
    CHECK_OK(mpx_shareable_list_get_int(l, 10, &i));
    CHECK(i == INT64_MIN);
    CHECK_OK(mpx_shareable_list_get_float(l, 11, &d));
    CHECK(d == 1e-300);
}

static void check_repr(mpx_shareable_list *l, const char *want_list)
{
    char *d = mpx_shareable_list_describe(l);
    CHECK(d != NULL);
    char want[512];
    snprintf(want, sizeof want, "ShareableList(%s, name='%s')", want_list,
             mpx_shm_name(mpx_shareable_list_shm(l)));
    CHECK_STREQ(d, want);
    mpx_free(d);
}

static char hexbuf[2][8192];

static const char *hex_list(mpx_shareable_list *l, int which)
{
    mpx_shm *s = mpx_shareable_list_shm(l);
    CHECK(mpx_shm_size(s) * 2 < sizeof hexbuf[0]);
    hex_of(mpx_shm_buf(s), mpx_shm_size(s), hexbuf[which]);
    return hexbuf[which];
}

MPX_TEST_ONCE_T(shmem_mpx_reads_writes_python_list, 120)
{
    const char *py[3];
    int n;
    need_python(py, &n);
    for (int k = 0; k < n; k++) {
        char *args[] = {"sl_serve", NULL};
        pypeer p;
        py_start(&p, py[k], args);
        static char name[256], pyhex[8192], line[8192];
        py_line(&p, name, sizeof name);
        py_line(&p, pyhex, sizeof pyhex);
        /* mpx's own list of the same items: the same bytes */
        mpx_shareable_list *mine = make_items();
        if (strcmp(hex_list(mine, 0), pyhex) != 0)
            FAIL("%s: layouts differ:\n cpython %s\n mpx     %s", py[k], pyhex, hexbuf[0]);
        /* read and write CPython's list */
        mpx_shareable_list *l;
        CHECK_OK(mpx_shareable_list_open(&l, NULL, 0, name, NULL));
        check_items(l);
        check_repr(l, REPR_ITEMS);
        apply_sets(l);
        apply_sets(mine);
        py_send_line(&p);
        py_line(&p, line, sizeof line);
        CHECK_STREQ(line, REPR_SET); /* CPython reads what mpx wrote */
        py_line(&p, line, sizeof line);
        if (strcmp(hex_list(mine, 1), line) != 0)
            FAIL("%s: after assignment:\n cpython %s\n mpx     %s", py[k], line, hexbuf[1]);
        py_finish(&p);
        mpx_shareable_list_destroy(l);
        CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(mine)));
        mpx_shareable_list_destroy(mine);
        CHECK(!shm_exists(name));
    }
}

MPX_TEST_ONCE_T(shmem_python_reads_writes_mpx_list, 120)
{
    const char *py[3];
    int n;
    need_python(py, &n);
    for (int k = 0; k < n; k++) {
        mpx_shareable_list *l = make_items();
        char *args[] = {"sl_attach", (char *)mpx_shm_name(mpx_shareable_list_shm(l)), NULL};
        pypeer p;
        py_start(&p, py[k], args);
        static char line[8192];
        py_line(&p, line, sizeof line);
        CHECK_STREQ(line, REPR_ITEMS);
        py_line(&p, line, sizeof line);
        char *f = mpx_shareable_list_format(l);
        CHECK_STREQ(line, f);
        mpx_free(f);
        py_line(&p, line, sizeof line);
        CHECK_STREQ(line, hex_list(l, 0));
        py_send_line(&p);
        py_line(&p, line, sizeof line); /* CPython's bytes after its assignments */
        py_finish(&p);
        CHECK_STREQ(line, hex_list(l, 0));
        check_repr(l, REPR_SET);
        /* the same assignments by mpx give the same bytes */
        mpx_shareable_list *m = make_items();
        apply_sets(m);
        CHECK_STREQ(hex_list(m, 1), hex_list(l, 0));
        CHECK(shm_exists(mpx_shm_name(mpx_shareable_list_shm(l)))); /* not unlinked by CPython */
        CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(m)));
        mpx_shareable_list_destroy(m);
        CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
        mpx_shareable_list_destroy(l);
    }
}
