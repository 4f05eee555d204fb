/* test_listener_auth.c - Listener and Client authentication (AUTH-01..06,
 * both CPython wire forms):
 * the HMAC challenge in both directions, digests, wrong and empty keys,
 * hostile and slow peers. */
#include "listener_util.h"

/* ---- authentication --------------------------------------------------- */

MPX_TEST(auth_02_right_key_both_forms)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "secret password";
    o.authkey_len = 15;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    roundtrip(l, "secret password");
    mpx_listener_destroy(l);
    o.strict = 1;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    roundtrip(l, "secret password");
    mpx_listener_destroy(l);
    /* empty key is a key */
    o.authkey = "";
    o.authkey_len = 0;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    roundtrip(l, "");
    mpx_listener_destroy(l);
}

/* #12 item 6: an empty key is a key by default (CPython 3.13 Listener,
 * every CPython Client); empty_key_skips_auth gives the meaning of the
 * CPython <= 3.12 Listener, where b'' means no authentication. */
static void roundtrip_job(mpx_listener *l, client_job *j)
{
    CHECK(pthread_create(&j->th, NULL, client_main, j) == 0);
    serve_one(l);
    CHECK_OK(client_join(j));
}

static client_job job(mpx_listener *l, const char *key, int skip, int authenticate)
{
    client_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.address, sizeof j.address, "%s", mpx_listener_address(l));
    j.key = key;
    j.skip = skip;
    j.authenticate = authenticate;
    return j;
}

MPX_TEST(auth_empty_key_meanings)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "";
    o.authkey_len = 0;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    client_job j = job(l, "", 0, 0);
    roundtrip_job(l, &j); /* both authenticate with the empty key */
    /* a client without a key, or one that skips, is refused */
    for (int i = 0; i < 2; i++) {
        j = job(l, i ? "" : NULL, i, 0);
        CHECK(pthread_create(&j.th, NULL, client_main, &j) == 0);
        mpx_connection *c;
        CHECK_ERR(mpx_listener_accept(l, &c, 20000), MPX_EAUTH);
        CHECK(client_join(&j) != 0);
    }
    mpx_listener_destroy(l);

    /* the old meaning on the listener: no handshake at all */
    o.empty_key_skips_auth = 1;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    j = job(l, NULL, 0, 0); /* a port of Client(address) */
    roundtrip_job(l, &j);
    j = job(l, "", 1, 0); /* an mpx client told the listener skips */
    roundtrip_job(l, &j);
    /* a raw client that sends at once (no challenge comes first) */
    int fd = raw_connect(mpx_listener_address(l));
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "\0\0\0\2hi", 6), 6);
    mpx_connection *c;
    CHECK_OK(mpx_listener_accept(l, &c, 20000));
    recv_str(c, "hi");
    mpx_connection_destroy(c);
    close(fd);
    mpx_listener_destroy(l);
    /* empty_key_skips_auth changes nothing for a non-empty key */
    o.authkey = "k";
    o.authkey_len = 1;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    j = job(l, "k", 1, 0);
    roundtrip_job(l, &j);
    mpx_listener_destroy(l);
}

/* #13 item 7 (AUTH-03, LIS-05, LIS-10): authenticate without a key uses
 * the current process's authkey; a child inherits it (PROC-18), so parent
 * and child authenticate each other with nothing passed; a child whose
 * key was changed before start is refused. */
static int t_auth_child(const mpx_args *a)
{
    mpx_client_opts o = {0};
    o.authenticate = 1;
    o.timeout = 30000;
    mpx_connection *c;
    int rc = mpx_client_connect(&c, mpx_args_str(a, 0), &o);
    if (mpx_args_int(a, 1)) /* expected to be refused */
        return rc == MPX_EAUTH ? 0 : 20;
    if (rc)
        return 21;
    rc = mpx_connection_send_bytes(c, "hi from client", 14);
    void *m;
    size_t n;
    if (!rc)
        rc = mpx_connection_recv_bytes(c, &m, &n);
    if (!rc) {
        rc = n == 14 && memcmp(m, "hi from server", 14) == 0 ? 0 : 22;
        mpx_free(m);
    }
    mpx_connection_destroy(c);
    return rc ? 23 : 0;
}

static mpx_process *start_auth_child(const char *address, int refused, const char *key)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_str(a, address));
    CHECK_OK(mpx_args_add_int(a, refused));
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_auth_child, a, NULL));
    mpx_args_destroy(a);
    if (key)
        CHECK_OK(mpx_process_set_authkey(p, key, strlen(key)));
    CHECK_OK(mpx_process_start(p));
    return p;
}

MPX_TEST_T(auth_03_authenticate_uses_process_authkey_across_children, 60)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authenticate = 1;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    /* a child with the inherited key */
    mpx_process *p = start_auth_child(mpx_listener_address(l), 0, NULL);
    serve_one(l);
    CHECK_EQ(join_destroy(p), 0);
    /* a child given another key */
    p = start_auth_child(mpx_listener_address(l), 1, "another key");
    mpx_connection *c;
    CHECK_ERR(mpx_listener_accept(l, &c, 30000), MPX_EAUTH);
    CHECK_EQ(join_destroy(p), 0);
    /* the key really is the process's: an explicit copy of it works,
     * authenticate without a key too, and no key without authenticate is
     * Python 3's "no authentication" (refused by this listener) */
    unsigned char key[1024];
    int n = mpx_process_authkey(mpx_current_process(), key, sizeof key);
    CHECK(n > 0 && n <= (int)sizeof key);
    char keystr[1025];
    memcpy(keystr, key, (size_t)n);
    keystr[n] = 0;
    if (strlen(keystr) == (size_t)n) { /* no NUL in the random key: usable as a string */
        client_job j = job(l, keystr, 0, 0);
        roundtrip_job(l, &j);
    }
    client_job j = job(l, NULL, 0, 1);
    roundtrip_job(l, &j);
    j = job(l, NULL, 0, 0);
    CHECK(pthread_create(&j.th, NULL, client_main, &j) == 0);
    CHECK_ERR(mpx_listener_accept(l, &c, 30000), MPX_EAUTH);
    CHECK(client_join(&j) != 0);
    mpx_listener_destroy(l);
    /* the listener reads the key when it is created */
    CHECK_OK(mpx_process_set_authkey(mpx_current_process(), "changed", 7));
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    j = job(l, "changed", 0, 0);
    roundtrip_job(l, &j);
    p = start_auth_child(mpx_listener_address(l), 0, NULL); /* inherits "changed" */
    serve_one(l);
    CHECK_EQ(join_destroy(p), 0);
    mpx_listener_destroy(l);
}

MPX_TEST(auth_wrong_key_fails_both_sides_listener_keeps_serving)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "right";
    o.authkey_len = 5;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    for (int i = 0; i < 2; i++) {
        client_job j;
        client_start(&j, mpx_listener_address(l), i ? "" : "wrong", 0);
        mpx_connection *c;
        CHECK_ERR(mpx_listener_accept(l, &c, 20000), MPX_EAUTH);
        CHECK_ERR(client_join(&j), MPX_EAUTH);
    }
    /* a client without a key never gets a connection from an authenticating listener */
    client_job j;
    client_start(&j, mpx_listener_address(l), NULL, 0);
    mpx_connection *c;
    /* the keyless client sends "hi from client" as the "response": rejected */
    CHECK_ERR(mpx_listener_accept(l, &c, 20000), MPX_EAUTH);
    CHECK(client_join(&j) != 0);
    roundtrip(l, "right");
    mpx_listener_destroy(l);
}

MPX_TEST(auth_deliver_answer_on_a_pipe)
{
    mpx_connection *a, *b;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    /* b answers first (it only needs to read): run both in one thread by
     * pre-computing: use a thread for the answering side */
    client_job dummy;
    (void)dummy;
    mpx_connection *r, *w;
    CHECK_OK(mpx_pipe(&r, &w, 0));
    CHECK_ERR(mpx_deliver_challenge(r, "k", 1, 0, 100), MPX_ESTATE);
    CHECK_ERR(mpx_answer_challenge(NULL, "k", 1, 0, 100), MPX_EINVAL);
    /* nobody answers: the deadline holds */
    CHECK_ERR(mpx_deliver_challenge(a, "k", 1, 0, 100), MPX_ETIMEDOUT);
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
    mpx_connection_destroy(r);
    mpx_connection_destroy(w);
}

/* The legacy (CPython <= 3.11) sides written out with raw HMAC-MD5. */
static void md5_hmac(const char *key, const unsigned char *m, size_t n, unsigned char out[16])
{
    unsigned int len = 16;
    HMAC(EVP_md5(), key, (int)strlen(key), m, n, out, &len);
}

static void *legacy_server_main(void *arg)
{
    /* arg: fd of an accepted socket; answer with the 3.11 listener steps */
    int *fd = arg;
    mpx_connection *c;
    if (mpx_connection_from_fd(&c, *fd, 1, 1)) {
        *fd = -100;
        return NULL;
    }
    unsigned char msg[11 + 20];
    memcpy(msg, "#CHALLENGE#", 11);
    for (int i = 0; i < 20; i++)
        msg[11 + i] = (unsigned char)(i * 13 + 7);
    int rc = mpx_connection_send_bytes(c, msg, sizeof msg);
    unsigned char resp[256], want[16];
    size_t n = 0;
    if (!rc)
        rc = mpx__conn_recv_small(c, resp, sizeof resp, &n, MPX__NEVER);
    md5_hmac("legacy key", msg + 11, 20, want);
    int good = !rc && n == 16 && memcmp(resp, want, 16) == 0;
    if (!rc)
        rc = mpx_connection_send_bytes(c, good ? "#WELCOME#" : "#FAILURE#", 9);
    if (!rc && good) /* then answer the client's challenge the 3.11 way */
        rc = mpx__conn_recv_small(c, resp, sizeof resp, &n, MPX__NEVER);
    if (!rc && good) {
        md5_hmac("legacy key", resp + 11, n - 11, want);
        rc = mpx_connection_send_bytes(c, want, 16);
        if (!rc)
            rc = mpx__conn_recv_small(c, resp, sizeof resp, &n, MPX__NEVER);
        if (!rc && (n != 9 || memcmp(resp, "#WELCOME#", 9) != 0))
            rc = MPX_EAUTH;
    }
    *fd = rc ? rc : good ? 1 : 0;
    mpx_connection_destroy(c);
    return NULL;
}

MPX_TEST(auth_legacy_md5_server_strict_client_refuses)
{
    for (int strict = 0; strict <= 1; strict++) {
        mpx_listener *l;
        CHECK_OK(mpx_listener_create(&l, NULL, NULL)); /* raw: no key, we do it by hand */
        client_job j;
        client_start(&j, mpx_listener_address(l), "legacy key", strict);
        mpx_connection *c;
        CHECK_OK(mpx_listener_accept(l, &c, 20000));
        int fd = dup(mpx_connection_fileno(c));
        mpx_connection_destroy(c);
        pthread_t th;
        CHECK(pthread_create(&th, NULL, legacy_server_main, &fd) == 0);
        pthread_join(th, NULL);
        int crc = client_join(&j);
        if (strict) {
            CHECK_EQ(fd, 0); /* the legacy server saw a wrong (modern) digest */
            CHECK_ERR(crc, MPX_EAUTH);
        } else {
            CHECK_EQ(fd, 1);
            /* the client then sent "hi from client" and waits: it got EOF */
            CHECK(crc == MPX_EEOF || crc == 0 || crc < 0);
        }
        mpx_listener_destroy(l);
    }
}

static void *legacy_client_main(void *arg)
{
    /* arg: in: fd connected to an mpx listener; out: result */
    int *fd = arg;
    mpx_connection *c;
    if (mpx_connection_from_fd(&c, *fd, 1, 1)) {
        *fd = -100;
        return NULL;
    }
    unsigned char msg[256], d[16];
    size_t n;
    int rc = mpx__conn_recv_small(c, msg, sizeof msg, &n, MPX__NEVER);
    if (!rc) {
        /* 3.11 answer_challenge: raw HMAC-MD5 over everything after #CHALLENGE# */
        md5_hmac("legacy key", msg + 11, n - 11, d);
        rc = mpx_connection_send_bytes(c, d, 16);
    }
    if (!rc)
        rc = mpx__conn_recv_small(c, msg, sizeof msg, &n, MPX__NEVER);
    if (!rc && (n != 9 || memcmp(msg, "#WELCOME#", 9) != 0))
        rc = MPX_EAUTH;
    if (!rc) {
        /* 3.11 deliver_challenge: 20 random bytes, expect raw MD5 back */
        unsigned char ch[31];
        memcpy(ch, "#CHALLENGE#", 11);
        for (int i = 0; i < 20; i++)
            ch[11 + i] = (unsigned char)(i * 31 + 1);
        rc = mpx_connection_send_bytes(c, ch, sizeof ch);
        if (!rc)
            rc = mpx__conn_recv_small(c, msg, sizeof msg, &n, MPX__NEVER);
        md5_hmac("legacy key", ch + 11, 20, d);
        if (!rc && (n != 16 || memcmp(msg, d, 16) != 0))
            rc = MPX_EAUTH;
        if (!rc)
            rc = mpx_connection_send_bytes(c, "#WELCOME#", 9);
    }
    *fd = rc;
    mpx_connection_destroy(c);
    return NULL;
}

MPX_TEST(auth_legacy_md5_client_accepted_unless_strict)
{
    for (int strict = 0; strict <= 1; strict++) {
        mpx_listener *l;
        mpx_listener_opts o = {0};
        o.authkey = "legacy key";
        o.authkey_len = 10;
        o.strict = strict;
        CHECK_OK(mpx_listener_create(&l, NULL, &o));
        int fd = raw_connect(mpx_listener_address(l));
        CHECK(fd >= 0);
        pthread_t th;
        CHECK(pthread_create(&th, NULL, legacy_client_main, &fd) == 0);
        mpx_connection *c;
        int rc = mpx_listener_accept(l, &c, 20000);
        pthread_join(th, NULL);
        if (strict) {
            CHECK_ERR(rc, MPX_EAUTH);
            CHECK_ERR(fd, MPX_EAUTH);
        } else {
            CHECK_OK(rc);
            CHECK_OK(fd);
            mpx_connection_destroy(c);
        }
        mpx_listener_destroy(l);
    }
}

MPX_TEST(auth_response_forms_unit)
{
    unsigned char ch[128], resp[256];
    size_t cl, rl;
    CHECK_OK(mpx__auth_make_challenge(ch, sizeof ch, &cl));
    CHECK_EQ(cl, 11 + 8 + 40);
    CHECK_MEMEQ(ch, "#CHALLENGE#{sha256}", 19);
    CHECK_OK(mpx__auth_make_response("k", 1, ch, cl, 0, resp, sizeof resp, &rl));
    CHECK_EQ(rl, 8 + 32);
    CHECK_MEMEQ(resp, "{sha256}", 8);
    CHECK_OK(mpx__auth_verify("k", 1, ch + 11, cl - 11, resp, rl, 1));
    CHECK_ERR(mpx__auth_verify("K", 1, ch + 11, cl - 11, resp, rl, 0), MPX_EAUTH);
    resp[rl - 1] ^= 1;
    CHECK_ERR(mpx__auth_verify("k", 1, ch + 11, cl - 11, resp, rl, 0), MPX_EAUTH);
    /* other digests a 3.12 peer may ask for */
    static const char *names[] = {"{sha384}", "{sha3_256}", "{sha3_384}", "{md5}"};
    static const size_t lens[] = {48, 32, 48, 16};
    for (int i = 0; i < 4; i++) {
        unsigned char m[128];
        size_t nl = strlen(names[i]);
        memcpy(m, "#CHALLENGE#", 11);
        memcpy(m + 11, names[i], nl);
        memset(m + 11 + nl, 'r', 40);
        CHECK_OK(mpx__auth_make_response("k", 1, m, 11 + nl + 40, 0, resp, sizeof resp, &rl));
        CHECK_EQ(rl, nl + lens[i]);
        CHECK_MEMEQ(resp, names[i], nl);
        CHECK_OK(mpx__auth_verify("k", 1, m + 11, nl + 40, resp, rl, 0));
        CHECK_EQ(mpx__auth_verify("k", 1, m + 11, nl + 40, resp, rl, 1), i == 3 ? MPX_EAUTH : 0);
        CHECK_EQ(mpx__auth_make_response("k", 1, m, 11 + nl + 40, 1, resp, sizeof resp, &rl),
                 i == 3 ? MPX_EAUTH : 0);
    }
    /* malformed challenges */
    CHECK_ERR(mpx__auth_make_response("k", 1, (const unsigned char *)"#CHALLENGE#short", 16, 0,
                                      resp, sizeof resp, &rl),
              MPX_EAUTH);
    CHECK_ERR(mpx__auth_make_response("k", 1,
                                      (const unsigned char *)"#CHALLENGX#0123456789012345678901",
                                      33, 0, resp, sizeof resp, &rl),
              MPX_EAUTH);
    CHECK_ERR(mpx__auth_make_response("k", 1,
                                      (const unsigned char *)"#CHALLENGE#{sha1}56789012345678901",
                                      34, 0, resp, sizeof resp, &rl),
              MPX_EAUTH);
    CHECK_ERR(mpx__auth_verify("k", 1, ch + 11, cl - 11, (const unsigned char *)"{sha256}", 8, 0),
              MPX_EAUTH);
    CHECK_ERR(mpx__auth_verify("k", 1, ch + 11, cl - 11, (const unsigned char *)"", 0, 0),
              MPX_EAUTH);
}
