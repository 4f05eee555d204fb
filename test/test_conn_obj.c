/* test_conn_obj.c - values over connections: Python's conn.send(obj) and
 * conn.recv() (CONN-03, CONN-04, CONN-05): round trips over a pipe, the
 * bytes on the wire (those of CPython's conn.send), a message that is not
 * a pickle, decode limits, and a corpus of values exchanged both ways
 * with every installed CPython over a real multiprocessing.connection
 * (test/py/obj_echo_peer.py). */
#include "pypeer.h"

static mpx_obj *big(const char *text)
{
    mpx_obj *v = mpx_obj_int_parse(text, strlen(text), 0, NULL);
    CHECK(v);
    return v;
}

/* The values of obj_echo_peer.py's CORPUS, in the same order. */
static mpx_obj *corpus(void)
{
    mpx_obj *l = mpx_obj_list();
    CHECK(l);
    mpx_obj *r = mpx_obj_list();
    for (int i = 0; i < 2000; i++)
        mpx_obj_list_append_new(r, mpx_obj_int(i));
    char *xs = malloc(70000);
    memset(xs, 'x', 1000);
    mpx_obj *s1000 = mpx_obj_strn(xs, 1000);
    memset(xs, 'y', 70000);
    mpx_obj *b70k = mpx_obj_bytes(xs, 70000);
    free(xs);
    mpx_obj *set = mpx_obj_set();
    for (int i = 1; i <= 3; i++)
        mpx_obj_set_add_new(set, mpx_obj_int(i));
    mpx_obj *fs = mpx_obj_frozenset();
    mpx_obj_set_add_new(fs, mpx_obj_str("a"));
    mpx_obj *d3 = mpx_obj_dict();
    mpx_obj_dict_set_new(d3, mpx_obj_int(1), mpx_obj_str("x"));
    mpx_obj_dict_set_s_new(d3, "b", mpx_obj_build("[ii]", 1, 2));
    mpx_obj_dict_set_new(d3, mpx_obj_build("(ii)", 1, 2), mpx_obj_build("{s:O}", "n",
                                                                        mpx_obj_none()));
    mpx_obj *items[] = {
        mpx_obj_none(), mpx_obj_true(), mpx_obj_false(), mpx_obj_int(0), mpx_obj_int(1),
        mpx_obj_int(-1), mpx_obj_int(255), mpx_obj_int(256), mpx_obj_int(65535),
        mpx_obj_int(65536), mpx_obj_int(2147483647), mpx_obj_int(-2147483648LL),
        mpx_obj_int(1LL << 40), mpx_obj_int(INT64_MIN), big("18446744073709551616"),
        big("0x100000000000000000000000000000000000000000000000000"),
        big("-1267650600228229401496703205376"), mpx_obj_float(1.5), mpx_obj_float(-0.0),
        mpx_obj_float(1.0 / 0.0), mpx_obj_float(1e300), mpx_obj_str(""), mpx_obj_str("hello"),
        mpx_obj_str("h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83 \xf0\x9f\x98\x80"), s1000,
        mpx_obj_bytes("", 0), mpx_obj_bytes("hi\0\xff", 4), b70k, mpx_obj_bytearray("ba", 2),
        mpx_obj_tuple(0), mpx_obj_build("(i)", 1), mpx_obj_build("(ii)", 1, 2),
        mpx_obj_build("(isO)", 1, "a", mpx_obj_none()), mpx_obj_list(),
        mpx_obj_build("[idO]", 1, 2.25, mpx_obj_none()), r, mpx_obj_dict(),
        mpx_obj_build("{s:i}", "a", 1), d3, mpx_obj_set(), set, fs, mpx_obj_build("[[[]]]"),
        mpx_obj_build("{s:(s[y#{s:d}])}", "k", "v", "z", (size_t)1, "q", 1.0),
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        CHECK(items[i]);
        CHECK_OK(mpx_obj_list_append_new(l, items[i]));
    }
    return l;
}

/* Same value and same type at the top (1 == 1.0 == True in Python). */
static void check_same(const mpx_obj *got, const mpx_obj *want, size_t i)
{
    if (mpx_obj_typeof(got) != mpx_obj_typeof(want) || mpx_obj_equal(got, want) != 1) {
        char *a = mpx_obj_repr(got), *b = mpx_obj_repr(want);
        FAIL("value %zu: got %.200s, want %.200s", i, a ? a : "?", b ? b : "?");
    }
}

MPX_TEST(conn_03_send_recv_obj_pipe)
{
    mpx_connection *a, *b;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    mpx_obj *c = corpus();
    for (int64_t i = 0; i < mpx_obj_len(c); i++) {
        CHECK_OK(mpx_connection_send_obj(a, mpx_obj_item(c, i)));
        mpx_obj *v;
        CHECK_OK(mpx_connection_recv_obj(b, &v, NULL, NULL));
        check_same(v, mpx_obj_item(c, i), (size_t)i);
        mpx_obj_decref(v);
    }
    /* the other direction, simplex pipe */
    mpx_connection *r, *w;
    CHECK_OK(mpx_pipe(&r, &w, 0));
    CHECK_OK(mpx_connection_send_obj(w, c));
    mpx_obj *v;
    CHECK_OK(mpx_connection_recv_obj(r, &v, NULL, NULL));
    CHECK_EQ(mpx_obj_equal(v, c), 1);
    mpx_obj_decref(v);
    CHECK_ERR(mpx_connection_send_obj(r, c), MPX_ESTATE);
    CHECK_ERR(mpx_connection_recv_obj(w, &v, NULL, NULL), MPX_ESTATE);
    CHECK_ERR(mpx_connection_send_obj(w, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_connection_send_obj(NULL, c), MPX_EINVAL);
    CHECK_ERR(mpx_connection_recv_obj(r, NULL, NULL, NULL), MPX_EINVAL);
    mpx_connection_destroy(w);
    CHECK_ERR(mpx_connection_recv_obj(r, &v, NULL, NULL), MPX_EEOF);
    mpx_connection_destroy(r);
    mpx_obj_decref(c);
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
}

/* The payload is the bytes CPython's conn.send writes
 * (wire-protocol.md 2.3, verified on 3.11..3.13). */
MPX_TEST(conn_04_send_obj_bytes_on_wire)
{
    static const struct {
        const char *fmt;
        const char *hex;
    } kat[] = {
        {"", "80044e2e"},
        {"i", "80044b002e"},
        {"s", "80049509000000000000008c0568656c6c6f942e"},
        {"(ii)", "80049507000000000000004b014b0286942e"},
        {"{s:i}", "8004950a000000000000007d948c0161944b01732e"},
    };
    mpx_connection *a, *b;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        mpx_obj *v;
        switch (i) {
        case 0: v = mpx_obj_none(); break;
        case 1: v = mpx_obj_int(0); break;
        case 2: v = mpx_obj_str("hello"); break;
        case 3: v = mpx_obj_build("(ii)", 1, 2); break;
        default: v = mpx_obj_build("{s:i}", "a", 1); break;
        }
        CHECK_OK(mpx_connection_send_obj(a, v));
        mpx_obj_decref(v);
        void *m;
        size_t n;
        CHECK_OK(mpx_connection_recv_bytes(b, &m, &n)); /* recv_bytes of a send: the pickle */
        char hex[256] = "";
        for (size_t k = 0; k < n && k < 120; k++)
            snprintf(hex + 2 * k, 3, "%02x", ((unsigned char *)m)[k]);
        CHECK_STREQ(hex, kat[i].hex);
        mpx_free(m);
    }
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
}

/* recv() of a message that is not a pickle: Python's UnpicklingError; the
 * message is consumed and the connection keeps working. Limits. */
MPX_TEST(conn_05_recv_obj_errors_and_limits)
{
    mpx_connection *a, *b;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    CHECK_OK(mpx_connection_send_bytes(a, "zzz", 3));
    mpx_obj *v = NULL;
    mpx_obj_error err;
    memset(&err, 0, sizeof err);
    CHECK_ERR(mpx_connection_recv_obj(b, &v, NULL, &err), MPX_EPROTO);
    CHECK(v == NULL);
    CHECK(strstr(err.text, "invalid load key, 'z'."));
    CHECK_OK(mpx_connection_send_bytes(a, "hello", 5)); /* 'h' is BINGET: as Python */
    CHECK_ERR(mpx_connection_recv_obj(b, &v, NULL, &err), MPX_EPROTO);
    CHECK(strstr(err.text, "Memo value not found at index 101"));
    CHECK_OK(mpx_connection_send_bytes(a, "", 0));
    CHECK_ERR(mpx_connection_recv_obj(b, &v, NULL, &err), MPX_EPROTO);
    CHECK(strstr(err.text, "Ran out of input"));
    /* truncated pickle */
    CHECK_OK(mpx_connection_send_bytes(a, "\x80\x04\x95", 3));
    CHECK_ERR(mpx_connection_recv_obj(b, &v, NULL, &err), MPX_EPROTO);
    /* still in step */
    mpx_obj *s = mpx_obj_str("after");
    CHECK_OK(mpx_connection_send_obj(a, s));
    CHECK_OK(mpx_connection_recv_obj(b, &v, NULL, NULL));
    CHECK_EQ(mpx_obj_equal(v, s), 1);
    mpx_obj_decref(v);
    /* max_alloc: a list of 20000 ints with a 64 KiB allocation limit */
    mpx_obj *bigl = mpx_obj_list();
    for (int i = 0; i < 20000; i++)
        mpx_obj_list_append_new(bigl, mpx_obj_int(i));
    CHECK_OK(mpx_connection_send_obj(a, bigl));
    mpx_obj_decref(bigl);
    mpx_obj *bigb = mpx_obj_bytes(NULL, 100000);
    mpx_recv_obj_opts o = {0};
    o.load.max_alloc = 65536;
    CHECK_ERR(mpx_connection_recv_obj(b, &v, &o, &err), MPX_ETOOBIG);
    CHECK_OK(mpx_connection_send_obj(a, s));
    CHECK_OK(mpx_connection_recv_obj(b, &v, &o, NULL));
    mpx_obj_decref(v);
    /* nesting limit */
    mpx_obj *deep = mpx_obj_build("[[[[[[i]]]]]]", 1);
    CHECK_OK(mpx_connection_send_obj(a, deep));
    o.load.max_depth = 3;
    CHECK_ERR(mpx_connection_recv_obj(b, &v, &o, NULL), MPX_EDEPTH);
    o.load.max_depth = 0;
    /* maxlength: refused from the header, then the end is not readable */
    CHECK_OK(mpx_connection_send_obj(a, bigb));
    o.maxlength = 1000;
    CHECK_ERR(mpx_connection_recv_obj(b, &v, &o, NULL), MPX_ETOOBIG);
    CHECK_EQ(mpx_connection_readable(b), 0);
    /* a value the pickler refuses is not sent at all */
    mpx_obj *l = mpx_obj_list(), *cur = l;
    for (int i = 0; i < MPX_OBJ_MAX_DEPTH + 10; i++) {
        mpx_obj *n = mpx_obj_list();
        mpx_obj_list_append_new(cur, n);
        cur = n;
    }
    CHECK_ERR(mpx_connection_send_obj(b, l), MPX_EDEPTH);
    CHECK_OK(mpx_connection_send_obj(b, s));
    CHECK_OK(mpx_connection_recv_obj(a, &v, NULL, NULL));
    CHECK_EQ(mpx_obj_equal(v, s), 1);
    mpx_obj_decref(v);
    mpx_obj_decref(l);
    mpx_obj_decref(deep);
    mpx_obj_decref(bigb);
    mpx_obj_decref(s);
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
}

/* ---- against CPython -------------------------------------------------------------------- */

static const char key[] = "obj-key";

static void hexkey(char *out)
{
    for (size_t i = 0; key[i]; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned char)key[i]);
}

/* Receive the peer's corpus, then have it echo ours, then the end mark. */
static void exchange(pypeer *py, mpx_connection *c)
{
    mpx_obj *cp = corpus();
    for (int64_t i = 0; i < mpx_obj_len(cp); i++) {
        mpx_obj *v;
        int rc = mpx_connection_recv_obj(c, &v, NULL, NULL);
        if (rc) {
            char line[512];
            pyp_line(py, line, sizeof line, 2000);
            FAIL("recv value %lld: %s; peer said: %s", (long long)i, mpx_err_name(rc), line);
        }
        check_same(v, mpx_obj_item(cp, i), (size_t)i);
        mpx_obj_decref(v);
    }
    for (int64_t i = 0; i < mpx_obj_len(cp); i++) {
        CHECK_OK(mpx_connection_send_obj(c, mpx_obj_item(cp, i)));
        mpx_obj *v;
        CHECK_OK(mpx_connection_recv_obj(c, &v, NULL, NULL));
        check_same(v, mpx_obj_item(cp, i), (size_t)i);
        mpx_obj_decref(v);
    }
    /* the whole corpus as one value */
    CHECK_OK(mpx_connection_send_obj(c, cp));
    mpx_obj *v;
    CHECK_OK(mpx_connection_recv_obj(c, &v, NULL, NULL));
    CHECK_EQ(mpx_obj_equal(v, cp), 1);
    mpx_obj_decref(v);
    mpx_obj *end = mpx_obj_str("__END__");
    CHECK_OK(mpx_connection_send_obj(c, end));
    CHECK_OK(mpx_connection_recv_obj(c, &v, NULL, NULL));
    CHECK_EQ(mpx_obj_equal(v, end), 1);
    mpx_obj_decref(v);
    mpx_obj_decref(end);
    mpx_obj_decref(cp);
    mpx_connection_destroy(c);
    char line[512];
    pyp_line(py, line, sizeof line, 30000);
    int code = pyp_wait(py, 30000);
    if (code != 0 || strcmp(line, "OK") != 0)
        FAIL("python peer exited %d: %s", code, line);
}

static void with_python(const char *version, int mpx_listens)
{
    const char *python = pyp_find(version);
    if (!python) {
        static char why[64];
        snprintf(why, sizeof why, "python%s not installed", version ? version : "3");
        MPX_SKIP(why);
    }
    const char *script = pyp_script("obj_echo_peer.py");
    if (!script)
        MPX_SKIP("test/py/obj_echo_peer.py not found");
    char kh[64];
    hexkey(kh);
    pypeer py;
    if (mpx_listens) {
        mpx_listener *l;
        mpx_listener_opts lo = {0};
        lo.authkey = key;
        lo.authkey_len = strlen(key);
        CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &lo));
        char *argv[] = {(char *)python, (char *)script, "client",
                        (char *)mpx_listener_address(l), kh, NULL};
        CHECK_OK(pyp_start(&py, argv, 0));
        mpx_connection *c;
        CHECK_OK(mpx_listener_accept(l, &c, 30000));
        mpx_listener_destroy(l);
        exchange(&py, c);
    } else {
        char *argv[] = {(char *)python, (char *)script, "serve", kh, NULL};
        CHECK_OK(pyp_start(&py, argv, 0));
        char line[256];
        pyp_line(&py, line, sizeof line, 30000);
        if (strncmp(line, "ADDR ", 5) != 0) {
            pyp_kill(&py);
            FAIL("python peer did not listen: %s", line);
        }
        mpx_client_opts co = {0};
        co.authkey = key;
        co.authkey_len = strlen(key);
        mpx_connection *c;
        CHECK_OK(mpx_client_connect(&c, line + 5, &co));
        exchange(&py, c);
    }
}

MPX_TEST_ONCE_T(conn_obj_cpython_client, 60) { with_python(NULL, 1); }
MPX_TEST_ONCE_T(conn_obj_cpython_listener, 60) { with_python(NULL, 0); }
MPX_TEST_ONCE_T(conn_obj_cpython312_client, 60) { with_python("3.12", 1); }
MPX_TEST_ONCE_T(conn_obj_cpython313_listener, 60) { with_python("3.13", 0); }
