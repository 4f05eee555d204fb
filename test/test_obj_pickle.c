/* test_obj_pickle.c - the pickle codec against CPython (#15, CONN-03/04):
 * test/py/obj_corpus.py writes each case pickled by CPython at protocols
 * 0..5 with its repr; mpx must decode every stream, print the same repr,
 * re-encode the built-in types to the same bytes, encode the same values
 * built from C to the same bytes, and write pickles that CPython loads
 * into the same values (datetime, Decimal, exceptions, classes ...
 * carried as class + arguments). Run with each installed CPython 3.11,
 * 3.12 and 3.13 (a missing one is skipped with a message). Then hostile
 * input: every truncation of every corpus stream, and crafted streams.
 * Skipped when python3 is absent (CI has it). */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int64_t mpx__v_live(void); /* values alive in this thread (obj.c) */
int mpx__v_identical(const mpx_obj *a, const mpx_obj *b);

#define F_EXACT 1
#define F_REPR 2
#define F_CBUILT 4

/* ---- running CPython --------------------------------------------------------- */

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
            snprintf(path, sizeof path, "%s/../../test/py/obj_corpus.py", exe);
            if (access(path, R_OK) == 0)
                return path;
        }
    }
    if (access("test/py/obj_corpus.py", R_OK) == 0)
        return "test/py/obj_corpus.py";
    return NULL;
}

static int on_path(const char *name, char *out, size_t cap)
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

/* An interpreter: version NULL means python3; "3.12" finds python3.12 on
 * PATH or a pyenv installation of it. */
static const char *find_python(const char *version)
{
    static char found[PATH_MAX];
    char name[32];
    if (!version)
        return on_path("python3", found, sizeof found) ? found : NULL;
    snprintf(name, sizeof name, "python%s", version);
    char pat[PATH_MAX];
    const char *root = getenv("PYENV_ROOT"), *home = getenv("HOME");
    if (root)
        snprintf(pat, sizeof pat, "%s/versions/%s.*/bin/python3", root, version);
    else if (home)
        snprintf(pat, sizeof pat, "%s/.pyenv/versions/%s.*/bin/python3", home, version);
    else
        pat[0] = 0;
    glob_t g;
    if (pat[0]) {
        /* a pyenv installation: bin/pythonX.Y */
        char *star = strstr(pat, "/bin/python3");
        if (star)
            snprintf(star, sizeof pat - (size_t)(star - pat), "/bin/%s", name);
    }
    if (pat[0] && glob(pat, 0, NULL, &g) == 0) {
        snprintf(found, sizeof found, "%s", g.gl_pathv[g.gl_pathc - 1]);
        globfree(&g);
        return found;
    }
    /* not a pyenv shim: those exist for versions that are not installed */
    if (on_path(name, found, sizeof found) && !strstr(found, "/shims/"))
        return found;
    return NULL;
}

/* Run argv, collecting stdout; returns the exit status (-1: not run). */
static int run_capture(char *const argv[], unsigned char **out, size_t *n)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc) {
        close(fds[0]);
        return -1;
    }
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (len == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fds[0], buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (out) {
        *out = buf;
        *n = len;
    } else {
        free(buf);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the corpus ----------------------------------------------------------------- */

typedef struct rec {
    char name[128];
    uint32_t flags;
    const char *repr;
    size_t repr_len;
    const unsigned char *data[6];
    size_t len[6];
} rec;

typedef struct corpus {
    unsigned char *raw;
    rec *r;
    size_t n;
} corpus;

static uint32_t u32_at(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Load the corpus written by python (NULL: skip the test, with why). */
static int load_corpus(const char *python, corpus *c)
{
    const char *script = script_path();
    if (!script)
        MPX_SKIP("test/py/obj_corpus.py not found");
    char *argv[] = {(char *)python, (char *)script, "gen", NULL};
    size_t n;
    if (run_capture(argv, &c->raw, &n) != 0)
        return -1;
    size_t cap = 256, pos = 0;
    c->r = calloc(cap, sizeof *c->r);
    c->n = 0;
    while (pos + 4 <= n) {
        if (c->n == cap)
            c->r = realloc(c->r, (cap *= 2) * sizeof *c->r);
        rec *r = &c->r[c->n++];
        uint32_t l = u32_at(c->raw + pos);
        snprintf(r->name, sizeof r->name, "%.*s", (int)l, (const char *)c->raw + pos + 4);
        pos += 4 + l;
        r->flags = u32_at(c->raw + pos);
        l = u32_at(c->raw + pos + 4);
        r->repr = (const char *)c->raw + pos + 8;
        r->repr_len = l;
        pos += 8 + l;
        for (int p = 0; p < 6; p++) {
            l = u32_at(c->raw + pos);
            pos += 4;
            if (l == 0xffffffffu) {
                r->data[p] = NULL;
                continue;
            }
            r->data[p] = c->raw + pos;
            r->len[p] = l;
            pos += l;
        }
    }
    CHECK_EQ(pos, n);
    return 0;
}

static void free_corpus(corpus *c)
{
    free(c->raw);
    free(c->r);
}

/* A copy of v made of new values through the public constructors: what a
 * C program building the same value gets. */
static mpx_obj *deep_copy(const mpx_obj *v)
{
    switch (mpx_obj_typeof(v)) {
    case MPX_OBJ_NONE:
    case MPX_OBJ_BOOL:
        return mpx_obj_incref((mpx_obj *)v);
    case MPX_OBJ_INT: {
        int64_t i;
        if (mpx_obj_get_int(v, &i) == 0)
            return mpx_obj_int(i);
        size_t n = (size_t)mpx_obj_int_bit_length(v) / 8 + 1;
        unsigned char *b = malloc(n);
        CHECK_OK(mpx_obj_int_to_bytes(v, b, n, 1, 1));
        mpx_obj *o = mpx_obj_int_from_bytes(b, n, 1, 1);
        free(b);
        return o;
    }
    case MPX_OBJ_FLOAT: {
        double d;
        mpx_obj_get_float(v, &d);
        return mpx_obj_float(d);
    }
    case MPX_OBJ_STR: {
        const char *s;
        size_t n;
        mpx_obj_get_str(v, &s, &n);
        return mpx_obj_strn(s, n);
    }
    case MPX_OBJ_BYTES:
    case MPX_OBJ_BYTEARRAY: {
        const void *p;
        size_t n;
        mpx_obj_get_bytes(v, &p, &n);
        return mpx_obj_typeof(v) == MPX_OBJ_BYTES ? mpx_obj_bytes(p, n) : mpx_obj_bytearray(p, n);
    }
    case MPX_OBJ_TUPLE: {
        size_t n = (size_t)mpx_obj_len(v);
        mpx_obj *t = mpx_obj_tuple(n);
        for (size_t i = 0; i < n; i++)
            CHECK_OK(mpx_obj_tuple_set_new(t, i, deep_copy(mpx_obj_item(v, (int64_t)i))));
        return t;
    }
    case MPX_OBJ_LIST: {
        mpx_obj *l = mpx_obj_list();
        size_t pos = 0;
        mpx_obj *it;
        while (mpx_obj_next(v, &pos, &it) == 1)
            CHECK_OK(mpx_obj_list_append_new(l, deep_copy(it)));
        return l;
    }
    case MPX_OBJ_DICT: {
        mpx_obj *d = mpx_obj_dict(), *k, *x;
        size_t pos = 0;
        while (mpx_obj_dict_next(v, &pos, &k, &x) == 1)
            CHECK_OK(mpx_obj_dict_set_new(d, deep_copy(k), deep_copy(x)));
        return d;
    }
    case MPX_OBJ_SET:
    case MPX_OBJ_FROZENSET: {
        mpx_obj *s = mpx_obj_typeof(v) == MPX_OBJ_SET ? mpx_obj_set() : mpx_obj_frozenset(), *it;
        size_t pos = 0;
        while (mpx_obj_next(v, &pos, &it) == 1)
            CHECK_OK(mpx_obj_set_add_new(s, deep_copy(it)));
        return s;
    }
    default:
        FAIL("deep_copy: unexpected type %s", mpx_obj_type_name(v));
    }
}

static void hexdiff(const char *what, const unsigned char *a, size_t na, const unsigned char *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    fprintf(stderr, "%s: differ at byte %zu (lengths %zu, %zu):\n  mpx    ", what, i, na, nb);
    for (size_t k = i > 8 ? i - 8 : 0; k < na && k < i + 24; k++)
        fprintf(stderr, "%02x", a[k]);
    fprintf(stderr, "\n  python ");
    for (size_t k = i > 8 ? i - 8 : 0; k < nb && k < i + 24; k++)
        fprintf(stderr, "%02x", b[k]);
    fprintf(stderr, "\n");
}

static void put_u32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    fwrite(b, 1, 4, f);
}

/* The whole check of one interpreter's corpus. */
static void check_corpus(const char *version)
{
    const char *python = find_python(version);
    if (!python) {
        char why[96];
        snprintf(why, sizeof why, "CPython %s is not installed", version ? version : "3");
        MPX_SKIP(why);
    }
    int64_t live0 = mpx__v_live();
    corpus c;
    if (load_corpus(python, &c))
        MPX_SKIP("the interpreter did not run the corpus script");
    const char *vpath = mpx_test_tmp_path(".verify");
    FILE *vf = fopen(vpath, "wb");
    CHECK(vf != NULL);
    int failures = 0;
    size_t streams = 0, exact = 0;
    for (size_t i = 0; i < c.n; i++) {
        rec *r = &c.r[i];
        for (int p = 0; p < 6; p++) {
            if (!r->data[p])
                continue;
            streams++;
            mpx_obj *v;
            mpx_obj_error e;
            int rc = mpx_obj_loads(&v, r->data[p], r->len[p], NULL, &e);
            if (rc) {
                fprintf(stderr, "%s protocol %d: loads failed: %s\n", r->name, p, e.text);
                failures++;
                continue;
            }
            if (r->flags & F_REPR) {
                char *s = mpx_obj_repr(v);
                if (!s || strlen(s) != r->repr_len || memcmp(s, r->repr, r->repr_len)) {
                    fprintf(stderr, "%s protocol %d: repr %.200s, CPython %.*s\n", r->name, p, s ? s : "(NULL)",
                            (int)(r->repr_len > 200 ? 200 : r->repr_len), r->repr);
                    failures++;
                }
                mpx_free(s);
            }
            void *buf;
            size_t n;
            rc = mpx_obj_dumps(v, p, &buf, &n, NULL, &e);
            if (rc) {
                fprintf(stderr, "%s protocol %d: dumps failed: %s\n", r->name, p, e.text);
                failures++;
                mpx_obj_decref(v);
                continue;
            }
            if (r->flags & F_EXACT) {
                exact++;
                if (n != r->len[p] || memcmp(buf, r->data[p], n)) {
                    fprintf(stderr, "%s protocol %d: re-encoding differs from pickle.dumps\n", r->name, p);
                    hexdiff(r->name, buf, n, r->data[p], r->len[p]);
                    failures++;
                }
            }
            /* CPython must load what mpx wrote (checked below, in one run) */
            put_u32(vf, (uint32_t)strlen(r->name));
            fwrite(r->name, 1, strlen(r->name), vf);
            put_u32(vf, (uint32_t)p);
            put_u32(vf, (uint32_t)n);
            fwrite(buf, 1, n, vf);
            /* decode -> encode -> decode gives the same value */
            mpx_obj *w;
            rc = mpx_obj_loads(&w, buf, n, NULL, &e);
            if (rc || !mpx__v_identical(v, w)) {
                fprintf(stderr, "%s protocol %d: round trip differs (%s)\n", r->name, p, rc ? e.text : "value");
                failures++;
            }
            mpx_obj_decref(w);
            mpx_free(buf);
            /* the same value built from C encodes to the same bytes */
            if (r->flags & F_CBUILT) {
                mpx_obj *cv = deep_copy(v);
                CHECK_OK(mpx_obj_dumps(cv, p, &buf, &n, NULL, NULL));
                if (n != r->len[p] || memcmp(buf, r->data[p], n)) {
                    fprintf(stderr, "%s protocol %d: the value built from C encodes differently\n", r->name, p);
                    hexdiff(r->name, buf, n, r->data[p], r->len[p]);
                    failures++;
                }
                mpx_free(buf);
                mpx_obj_decref(cv);
            }
            mpx_obj_decref(v);
        }
    }
    fclose(vf);
    CHECK_EQ(mpx__v_live(), live0);
    /* CPython loads every pickle mpx wrote into the same value */
    unsigned char *out;
    size_t on;
    const char *script = script_path();
    char *argv[] = {(char *)python, (char *)script, "verify", (char *)vpath, NULL};
    int st = run_capture(argv, &out, &on);
    unlink(vpath);
    if (st != 0) {
        fprintf(stderr, "%.*s", (int)(on > 4000 ? 4000 : on), out);
        failures++;
    }
    free(out);
    free_corpus(&c);
    fprintf(stderr, "CPython %s: %zu streams decoded, %zu re-encodings compared byte for byte\n",
            version ? version : "3", streams, exact);
    CHECK(streams > 500);
    CHECK_EQ(failures, 0);
}

MPX_TEST_ONCE_T(obj_pickle_cpython311, 120)
{
    check_corpus("3.11");
}

MPX_TEST_ONCE_T(obj_pickle_cpython312, 120)
{
    check_corpus("3.12");
}

MPX_TEST_ONCE_T(obj_pickle_cpython313, 120)
{
    check_corpus("3.13");
}

/* ---- hostile input ------------------------------------------------------------ */

static void expect_fail(const unsigned char *p, size_t n, int code, const char *text, size_t off,
                        const char *file, int line)
{
    int64_t live0 = mpx__v_live();
    mpx_obj *v = (mpx_obj *)1;
    mpx_obj_error e;
    memset(&e, 0, sizeof e);
    int rc = mpx_obj_loads(&v, p, n, &(mpx_obj_load_opts){.max_alloc = 1 << 20}, &e);
    if (rc != code)
        mpx_test_fail(file, line, "loads returned %d %s, want %d %s (%s)", rc, mpx_err_name(rc), code,
                      mpx_err_name(code), e.text);
    if (v != NULL)
        mpx_test_fail(file, line, "*out not NULL on failure");
    if (text && !strstr(e.text, text))
        mpx_test_fail(file, line, "error text '%s' lacks '%s'", e.text, text);
    if (off != MPX_OBJ_NO_OFFSET && e.offset != off)
        mpx_test_fail(file, line, "error offset %zu, want %zu (%s)", e.offset, off, e.text);
    if (mpx__v_live() != live0)
        mpx_test_fail(file, line, "values leaked");
}
#define EXPECT_FAIL(bytes, code, text, off) \
    expect_fail((const unsigned char *)(bytes), sizeof(bytes) - 1, (code), (text), (off), __FILE__, __LINE__)

MPX_TEST_ONCE_T(obj_pickle_truncations, 300)
{
    const char *python = find_python(NULL);
    if (!python)
        MPX_SKIP("python3 not found");
    corpus c;
    if (load_corpus(python, &c))
        MPX_SKIP("python3 did not run the corpus script");
    int64_t live0 = mpx__v_live();
    size_t checked = 0;
    for (size_t i = 0; i < c.n; i++) {
        for (int p = 0; p < 6; p++) {
            const unsigned char *d = c.r[i].data[p];
            size_t n = c.r[i].len[p];
            if (!d)
                continue;
            /* every prefix of short streams; the ends and a sample of long ones */
            for (size_t k = 0; k < n; k++) {
                if (n > 2048 && k > 512 && k < n - 512 && k % 97)
                    continue;
                mpx_obj *v;
                mpx_obj_error e;
                int rc = mpx_obj_loads(&v, d, k, NULL, &e);
                if (rc == 0)
                    FAIL("%s protocol %d: a prefix of %zu bytes decoded", c.r[i].name, p, k);
                if (e.offset > k)
                    FAIL("%s protocol %d: error offset %zu past the %zu bytes", c.r[i].name, p, e.offset, k);
                checked++;
            }
        }
    }
    CHECK_EQ(mpx__v_live(), live0);
    free_corpus(&c);
    fprintf(stderr, "%zu truncated streams refused\n", checked);
}

MPX_TEST_ONCE(obj_pickle_hostile)
{
    /* lengths past the end, checked before allocating */
    EXPECT_FAIL("\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f", MPX_EPROTO, "truncated", 2);
    EXPECT_FAIL("\x80\x04X\xff\xff\xff\xff", MPX_EPROTO, "BINUNICODE needs 4294967295 bytes", 2);
    EXPECT_FAIL("\x80\x04" "B\xff\xff\xff\x00", MPX_EPROTO, "BINBYTES needs 16777215 bytes", 2);
    EXPECT_FAIL("\x80\x02\x8b\xff\xff\xff\x7f", MPX_EPROTO, "truncated", 2);
    EXPECT_FAIL("\x80\x02\x8b\xff\xff\xff\xff.", MPX_EPROTO, "negative byte count", 2);
    EXPECT_FAIL("T\xfe\xff\xff\xff.", MPX_EPROTO, "negative byte count", 0);
    EXPECT_FAIL("\x80\x04\x95\x00\x00\x00\x00\x00\x01\x00\x00N.", MPX_EPROTO, "FRAME", 2);
    /* memo index far away: charged to the allocation limit */
    EXPECT_FAIL("Nr\xff\xff\xff\xff.", MPX_ETOOBIG, "allowed", 1);
    EXPECT_FAIL("Nr\xff\xff\xff\x0f.", MPX_ETOOBIG, NULL, 1);
    EXPECT_FAIL("h\x05.", MPX_EPROTO, "Memo value not found at index 5", 0);
    EXPECT_FAIL("g-1\n.", MPX_EPROTO, "negative GET", 0);
    EXPECT_FAIL("Np-1\n.", MPX_EPROTO, "negative PUT", 1);
    /* stack discipline */
    EXPECT_FAIL(".", MPX_EPROTO, "underflow", 0);
    EXPECT_FAIL("(.", MPX_EPROTO, "underflow", 1);
    EXPECT_FAIL("]N(a.", MPX_EPROTO, "underflow", 3);
    EXPECT_FAIL("e", MPX_EPROTO, "MARK", 0);
    EXPECT_FAIL("N(Nu.", MPX_EPROTO, "odd number", 3);
    EXPECT_FAIL("NNa.", MPX_EPROTO, "APPEND(S) to a NoneType", 2);
    EXPECT_FAIL("NNNs.", MPX_EPROTO, "SETITEM(S) on a NoneType", 3);
    EXPECT_FAIL("}]Ns.", MPX_ETYPE, "unhashable dict key: list", 3);
    EXPECT_FAIL("\x8f(]\x90.", MPX_ETYPE, "unhashable set item", 3);
    EXPECT_FAIL("", MPX_EPROTO, "Ran out of input", 0);
    EXPECT_FAIL("N", MPX_EPROTO, "no STOP", 1);
    EXPECT_FAIL("\x80\x06N.", MPX_EPROTO, "unsupported pickle protocol: 6", 0);
    EXPECT_FAIL("\xff", MPX_EPROTO, "invalid load key, '\\xff'", 0);
    EXPECT_FAIL("NNz", MPX_EPROTO, "invalid load key, 'z'", 2);
    /* refused features */
    EXPECT_FAIL("Pid\n.", MPX_ENOTSUP, "persistent IDs", 0);
    EXPECT_FAIL("NQ.", MPX_ENOTSUP, "persistent IDs", 1);
    EXPECT_FAIL("\x80\x02\x82\x01.", MPX_ENOTSUP, "extension registry", 2);
    EXPECT_FAIL("\x80\x05\x97.", MPX_ENOTSUP, "out-of-band buffers", 2);
    EXPECT_FAIL("\x80\x05N\x98.", MPX_ENOTSUP, "out-of-band buffers", 3);
    /* text that is not what it claims */
    EXPECT_FAIL("X\x02\x00\x00\x00\xed\xa0.", MPX_EINVAL, "lone surrogate U+D800 at byte 5", 0);
    EXPECT_FAIL("\x8c\x02\xc3(.", MPX_EINVAL, "not valid UTF-8 at byte 2", 0);
    EXPECT_FAIL("V\\ud800\n.", MPX_EINVAL, "lone surrogate", 0);
    EXPECT_FAIL("V\\u12\n.", MPX_EPROTO, "truncated \\uXXXX", 0);
    EXPECT_FAIL("U\x01\xe9.", MPX_EINVAL, "'ascii' codec", 0);
    EXPECT_FAIL("S'abc\n.", MPX_EPROTO, "must be quoted", 0);
    EXPECT_FAIL("Ixyz\n.", MPX_EPROTO, "could not convert string to int", 0);
    EXPECT_FAIL("F1.5e99999\n.", -ERANGE, "float too large", 0);
    EXPECT_FAIL("F0x1p3\n.", MPX_EPROTO, "could not convert string to float", 0);
    EXPECT_FAIL("\x8c\x03" "abc\x93.", MPX_EPROTO, "underflow", 5);
    EXPECT_FAIL("NN\x93.", MPX_EPROTO, "STACK_GLOBAL requires str", 2);
    EXPECT_FAIL("cm\nC\nN\x81.", MPX_EPROTO, "arg tuple", 6);
    EXPECT_FAIL("N)\x81.", MPX_EPROTO, "isn't a class", 2);
    EXPECT_FAIL("cm\nf\nNR.", MPX_EPROTO, "must be a tuple", 6);
    EXPECT_FAIL("]Nb.", MPX_EPROTO, "BUILD on a list", 2);
    EXPECT_FAIL("cm\nC\n)RNbNb.", MPX_ENOTSUP, "second BUILD", 10);
    /* latin-1 bytes that are not latin-1 */
    EXPECT_FAIL("\x80\x02" "c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R.", MPX_EINVAL,
                "can't encode character U+0100", 37);
    /* nesting: the depth limit and the allocation limit */
    {
        size_t n = 200000;
        unsigned char *deep = malloc(2 * n + 2);
        for (size_t i = 0; i < n; i++)
            deep[i] = ']';
        for (size_t i = 0; i < n - 1; i++)
            deep[n + i] = 'a';
        deep[2 * n - 1] = '.';
        int64_t live0 = mpx__v_live();
        mpx_obj *v;
        mpx_obj_error e;
        CHECK_ERR(mpx_obj_loads(&v, deep, 2 * n, NULL, &e), MPX_EDEPTH);
        CHECK(strstr(e.text, "nesting deeper than 5000") != NULL);
        CHECK_ERR(mpx_obj_loads(&v, deep, 2 * n, &(mpx_obj_load_opts){.max_depth = 100}, &e), MPX_EDEPTH);
        CHECK_EQ(e.offset, n + 100); /* the 101st APPEND */
        CHECK_ERR(mpx_obj_loads(&v, deep, 2 * n, &(mpx_obj_load_opts){.max_alloc = 100000}, &e), MPX_ETOOBIG);
        CHECK_EQ(mpx__v_live(), live0);
        free(deep);
    }
    /* many references to one big list: GETs are cheap, nothing quadratic */
    {
        size_t reps = 100000;
        unsigned char *p = malloc(16 + 10000 * 3 + reps * 3);
        size_t k = 0;
        p[k++] = ']';
        p[k++] = 'q';
        p[k++] = 0;
        p[k++] = '(';
        for (int i = 0; i < 10000; i++)
            p[k++] = 'N';
        p[k++] = 'e';
        p[k++] = ']';
        p[k++] = '(';
        for (size_t i = 0; i < reps; i++) {
            p[k++] = 'h';
            p[k++] = 0;
        }
        p[k++] = 'e';
        p[k++] = '.';
        int64_t live0 = mpx__v_live();
        mpx_obj *v;
        CHECK_OK(mpx_obj_loads(&v, p, k, NULL, NULL));
        CHECK_EQ(mpx_obj_len(v), (int64_t)reps);
        mpx_obj_decref(v);
        CHECK_EQ(mpx__v_live(), live0);
        free(p);
    }
}

MPX_TEST_ONCE(obj_pickle_cycles_decoded)
{
    int64_t live0 = mpx__v_live();
    mpx_obj *v;
    /* l = [1]; l.append(l); pickle.dumps(l, 4) */
    const char l4[] = "\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01h\x00" "e.";
    CHECK_OK(mpx_obj_loads(&v, l4, sizeof l4 - 1, NULL, NULL));
    char *r = mpx_obj_repr(v);
    CHECK_STREQ(r, "[1, [...]]");
    mpx_free(r);
    CHECK(mpx_obj_item(v, 1) == v);
    mpx_obj_decref(v);
    CHECK_EQ(mpx__v_live(), live0);
    /* a cycle built and then dropped inside the stream: freed at the end */
    const char garbage[] = "]q\x00h\x00" "a0]q\x00N.";
    CHECK_OK(mpx_obj_loads(&v, garbage, sizeof garbage - 1, NULL, NULL));
    CHECK(v == mpx_obj_none());
    CHECK_EQ(mpx__v_live(), live0);
    /* a failed decode in the middle of a cycle leaves nothing */
    const char bad[] = "]q\x00h\x00" "a]q\x01h\x01h\x00" "aaz";
    mpx_obj_error e;
    CHECK_ERR(mpx_obj_loads(&v, bad, sizeof bad - 1, NULL, &e), MPX_EPROTO);
    CHECK_EQ(mpx__v_live(), live0);
    /* DUP makes a cycle without the memo */
    const char dup[] = "]2a.";
    CHECK_OK(mpx_obj_loads(&v, dup, sizeof dup - 1, NULL, NULL));
    CHECK(mpx_obj_item(v, 0) == v);
    mpx_obj_decref(v);
    CHECK_EQ(mpx__v_live(), live0);
    /* a value kept while its cycle partner is released */
    CHECK_OK(mpx_obj_loads(&v, l4, sizeof l4 - 1, NULL, NULL));
    mpx_obj *one = mpx_obj_incref(mpx_obj_item(v, 0));
    mpx_obj_decref(v);
    mpx_obj_decref(one);
    CHECK_EQ(mpx__v_live(), live0);
}

MPX_TEST_ONCE(obj_pickle_zero_copy)
{
    /* pickle.dumps(b'x' * 1 MiB, 5): the decoded bytes share the pickle's memory */
    size_t n = 1 << 20;
    mpx_obj *big = mpx_obj_bytes(NULL, n);
    void *buf;
    size_t len;
    CHECK_OK(mpx_obj_dumps(big, 5, &buf, &len, NULL, NULL));
    CHECK_EQ(len, n + 9); /* PROTO, BINBYTES header, MEMOIZE, STOP: no FRAME around 1 MiB */
    mpx_obj *v;
    CHECK_OK(mpx_obj_loads_take(&v, buf, len, NULL, NULL));
    const void *p;
    size_t pn;
    CHECK_OK(mpx_obj_get_bytes(v, &p, &pn));
    CHECK(pn == n && (const char *)p > (const char *)buf && (const char *)p < (const char *)buf + len);
    CHECK_EQ(mpx_obj_equal(v, big), 1);
    mpx_obj_decref(v); /* frees buf */
    /* small bytes are copied: a small value does not keep a big pickle */
    mpx_obj *pair = mpx_obj_build("(Ny#)", mpx_obj_incref(big), "small", (size_t)5);
    CHECK_OK(mpx_obj_dumps(pair, 4, &buf, &len, NULL, NULL));
    mpx_obj *pk = mpx_obj_bytes_take(buf, len);
    CHECK_OK(mpx_obj_loads_bytes(&v, pk, NULL, NULL));
    CHECK_OK(mpx_obj_get_bytes(mpx_obj_item(v, 1), &p, &pn));
    const void *pkd;
    mpx_obj_get_bytes(pk, &pkd, NULL);
    CHECK(!((const char *)p >= (const char *)pkd && (const char *)p < (const char *)pkd + len));
    CHECK_OK(mpx_obj_get_bytes(mpx_obj_item(v, 0), &p, &pn));
    CHECK((const char *)p >= (const char *)pkd && (const char *)p < (const char *)pkd + len);
    mpx_obj_decref(pk); /* the view keeps the memory */
    CHECK_EQ(mpx_obj_equal(mpx_obj_item(v, 0), big), 1);
    mpx_obj_decref(v);
    mpx_obj_decref(pair);
    mpx_obj_decref(big);
    CHECK_ERR(mpx_obj_loads_bytes(&v, mpx_obj_none(), NULL, NULL), MPX_ETYPE);
}

MPX_TEST_ONCE(obj_pickle_options)
{
    mpx_obj *v = mpx_obj_build("[i,s]", 1, "x");
    void *buf;
    size_t len;
    /* headroom: room for a connection's length header */
    CHECK_OK(mpx_obj_dumps(v, MPX_PICKLE_DEFAULT, &buf, &len, &(mpx_obj_dump_opts){.headroom = 4}, NULL));
    const unsigned char want[] = "\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8c\x01x\x94" "e.";
    CHECK_EQ(len, sizeof want - 1);
    CHECK_MEMEQ((unsigned char *)buf + 4, want, len);
    mpx_free(buf);
    /* protocols: None = 4, negative = 5, 6 refused */
    CHECK_OK(mpx_obj_dumps(v, -1, &buf, &len, NULL, NULL));
    CHECK_EQ(((unsigned char *)buf)[1], 5);
    mpx_free(buf);
    mpx_obj_error e;
    CHECK_ERR(mpx_obj_dumps(v, 6, &buf, &len, NULL, &e), MPX_EINVAL);
    CHECK(strstr(e.text, "protocol must be <= 5") != NULL);
    /* bytes after STOP are ignored, as pickle.loads does */
    mpx_obj *w;
    CHECK_OK(mpx_obj_loads(&w, "N.garbage", 9, NULL, NULL));
    CHECK(w == mpx_obj_none());
    /* a non-ASCII global name cannot go below protocol 3 */
    mpx_obj *cls = mpx_obj_class("módulo", "C");
    CHECK_ERR(mpx_obj_dumps(cls, 2, &buf, &len, NULL, &e), MPX_ETYPE);
    CHECK_OK(mpx_obj_dumps(cls, 3, &buf, &len, NULL, NULL));
    mpx_free(buf);
    mpx_obj_decref(cls);
    mpx_obj_decref(v);
}

/* Python 2 streams (protocol 2, __builtin__ names, str as STRING). */
MPX_TEST_ONCE(obj_pickle_python2)
{
    const char *py2 = find_python("2.7");
    if (!py2)
        MPX_SKIP("Python 2.7 is not installed");
    char *argv[] = {(char *)py2, "-c",
                    "import pickle, sys, struct, datetime\n"
                    "v = [set([1, 2]), frozenset([3]), bytearray(b'ab'), u'\\xe9', 'ascii', 10**30, -1.5,"
                    " (None, True), {u'k': [1]}]\n"
                    "for p in (0, 1, 2):\n"
                    "    for x in (v, datetime.date(2020, 1, 2)):\n"
                    "        s = pickle.dumps(x, p)\n"
                    "        sys.stdout.write(struct.pack('<I', len(s)) + s)\n",
                    NULL};
    unsigned char *out;
    size_t n;
    if (run_capture(argv, &out, &n) != 0)
        MPX_SKIP("python2.7 did not run");
    int64_t live0 = mpx__v_live();
    size_t pos = 0;
    for (int p = 0; p < 3; p++) {
        CHECK(pos + 4 <= n);
        size_t len = u32_at(out + pos);
        pos += 4;
        CHECK(pos + len <= n);
        mpx_obj *v;
        mpx_obj_error e;
        if (mpx_obj_loads(&v, out + pos, len, NULL, &e))
            FAIL("protocol %d: %s", p, e.text);
        char *r = mpx_obj_repr(v);
        CHECK_STREQ(r, "[{1, 2}, frozenset({3}), bytearray(b'ab'), '\xc3\xa9', 'ascii', "
                       "1000000000000000000000000000000, -1.5, (None, True), {'k': [1]}]");
        mpx_free(r);
        mpx_obj_decref(v);
        pos += len;
        /* a Python 2 datetime holds its state in a byte str: like CPython 3,
         * the default (encoding='ASCII') refuses it; 'bytes' and 'latin1' work */
        len = u32_at(out + pos);
        pos += 4;
        CHECK_ERR(mpx_obj_loads(&v, out + pos, len, NULL, &e), MPX_EINVAL);
        CHECK(strstr(e.text, "'ascii' codec can't decode byte 0xe4") != NULL);
        CHECK_OK(mpx_obj_loads(&v, out + pos, len, &(mpx_obj_load_opts){.py2_str = MPX_OBJ_PY2_BYTES}, &e));
        r = mpx_obj_repr(v);
        CHECK_STREQ(r, "datetime.date(b'\\x07\\xe4\\x01\\x02')");
        mpx_free(r);
        mpx_obj_decref(v);
        CHECK_OK(mpx_obj_loads(&v, out + pos, len, &(mpx_obj_load_opts){.py2_str = MPX_OBJ_PY2_LATIN1}, &e));
        r = mpx_obj_repr(v);
        CHECK_STREQ(r, "datetime.date('\\x07ä\\x01\\x02')");
        mpx_free(r);
        mpx_obj_decref(v);
        pos += len;
    }
    CHECK_EQ(mpx__v_live(), live0);
    free(out);
}
