/* test_listener.c - Listener/Client (LIS-01..14, LIS-18), accept timeouts,
 * wait() (LIS-15..17, EX-31); authentication: test_listener_auth.c. */
#include "listener_util.h"

/* ---- addresses ---------------------------------------------------------- */

MPX_TEST(lis_08_default_unix_path_in_private_dir_removed_on_close)
{
    mpx_listener *l;
    CHECK_OK(mpx_listener_create(&l, NULL, NULL));
    const char *addr = mpx_listener_address(l);
    CHECK(addr && addr[0] == '/');
    char path[256], dir[256];
    snprintf(path, sizeof path, "%s", addr);
    snprintf(dir, sizeof dir, "%s", addr);
    *strrchr(dir, '/') = 0;
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_EQ(st.st_mode & 077, 0); /* private */
    CHECK(mpx_listener_last_accepted(l) == NULL);
    CHECK_ERR(mpx_listener_port(l), MPX_EINVAL);
    roundtrip(l, NULL);
    CHECK(mpx_listener_last_accepted(l) != NULL);
    CHECK_OK(mpx_listener_close(l));
    CHECK_OK(mpx_listener_close(l));
    CHECK(stat(path, &st) < 0 && errno == ENOENT);
    CHECK(stat(dir, &st) < 0 && errno == ENOENT);
    mpx_connection *c;
    CHECK_ERR(mpx_listener_accept(l, &c, 0), MPX_ECLOSED);
    CHECK_ERR(mpx_client_connect(&c, path, NULL), -ENOENT);
    mpx_listener_destroy(l);
    mpx_listener_destroy(NULL);
}

MPX_TEST(lis_12_explicit_path_unlinked_on_close)
{
    const char *p = mpx_test_tmp_path(".sock");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    mpx_listener *l, *l2;
    CHECK_OK(mpx_listener_create(&l, path, NULL));
    CHECK_STREQ(mpx_listener_address(l), path);
    /* an existing path is not replaced */
    CHECK_ERR(mpx_listener_create(&l2, path, NULL), -EADDRINUSE);
    roundtrip(l, NULL);
    CHECK_STREQ(mpx_listener_last_accepted(l), ""); /* unnamed AF_UNIX peer */
    mpx_listener_destroy(l);
    CHECK(access(path, F_OK) < 0);
    /* "unix:" prefix for a relative-looking name */
    char u[600];
    snprintf(u, sizeof u, "unix:%s", path);
    CHECK_OK(mpx_listener_create(&l, u, NULL));
    CHECK_STREQ(mpx_listener_address(l), path);
    roundtrip(l, NULL);
    mpx_listener_destroy(l);
    CHECK(access(path, F_OK) < 0);
}

MPX_TEST(lis_08_linux_abstract_name)
{
    char name[64];
    snprintf(name, sizeof name, "@mpx-test-%d", (int)getpid());
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "abstract key";
    o.authkey_len = 12;
    CHECK_OK(mpx_listener_create(&l, name, &o));
    CHECK_STREQ(mpx_listener_address(l), name);
    roundtrip(l, "abstract key");
    mpx_listener_destroy(l);
}

MPX_TEST(lis_08_inet_port_zero_and_last_accepted)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.backlog = 5;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    int port = mpx_listener_port(l);
    CHECK(port > 0 && port < 65536);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    CHECK_STREQ(mpx_listener_address(l), want);
    roundtrip(l, NULL);
    const char *peer = mpx_listener_last_accepted(l);
    CHECK(peer && strncmp(peer, "127.0.0.1:", 10) == 0);
    /* "localhost:port" resolves */
    snprintf(want, sizeof want, "localhost:%d", port);
    client_job j;
    client_start(&j, want, NULL, 0);
    serve_one(l);
    CHECK_OK(client_join(&j));
    mpx_listener_destroy(l);
    /* family from the options, no address */
    o.family = MPX_AF_INET;
    o.authkey = "k";
    o.authkey_len = 1;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    CHECK(strncmp(mpx_listener_address(l), "127.0.0.1:", 10) == 0);
    roundtrip(l, "k");
    mpx_listener_destroy(l);
}

MPX_TEST(lis_08_inet6)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {0};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    int ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    if (!ok)
        MPX_SKIP("no IPv6 loopback");
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "v6 key";
    o.authkey_len = 6;
    CHECK_OK(mpx_listener_create(&l, "[::1]:0", &o));
    const char *addr = mpx_listener_address(l);
    CHECK(strncmp(addr, "[::1]:", 6) == 0);
    CHECK(mpx_listener_port(l) > 0);
    roundtrip(l, "v6 key");
    CHECK(strncmp(mpx_listener_last_accepted(l), "[::1]:", 6) == 0);
    mpx_listener_destroy(l);
}

/* #12 item 6: which string is which family, and what is refused. */
MPX_TEST(lis_18_address_families_and_refused_strings)
{
    static const struct {
        const char *s;
        int family, want, abstract;
    } cases[] = {
        {"/tmp/x.sock", 0, MPX_AF_UNIX, 0},
        {"./x.sock", 0, MPX_AF_UNIX, 0},
        {"dir/x.sock", 0, MPX_AF_UNIX, 0},
        {"unix:x.sock", 0, MPX_AF_UNIX, 0},
        {"unix:127.0.0.1", 0, MPX_AF_UNIX, 0},
        {"x.sock", MPX_AF_UNIX, MPX_AF_UNIX, 0},
        {"@name", 0, MPX_AF_UNIX, 1},
        {"127.0.0.1:80", 0, MPX_AF_INET, 0},
        {"localhost:0", 0, MPX_AF_INET, 0},
        {":6000", 0, MPX_AF_INET, 0},
        {"[::1]:80", 0, MPX_AF_INET6, 0},
        {"\\\\.\\x", MPX_AF_UNIX, MPX_AF_UNIX, 0}, /* family='AF_UNIX': a path */
        {"unix:\\\\.\\x", 0, MPX_AF_UNIX, 0},
        /* refused: no port, or a bare name that could be a host */
        {"127.0.0.1", 0, MPX_EINVAL, 0},
        {"localhost", 0, MPX_EINVAL, 0},
        {"::1", 0, MPX_EINVAL, 0},
        {"::1:80", 0, MPX_EINVAL, 0},
        {"sock", 0, MPX_EINVAL, 0},
        {"127.0.0.1", MPX_AF_INET, MPX_EINVAL, 0},
        {"/tmp/x.sock", MPX_AF_INET, MPX_EINVAL, 0},
        {"", 0, MPX_EINVAL, 0},
        /* Windows named pipes (Python's AF_PIPE) */
        {"\\\\.\\test", 0, MPX_ENOTSUP, 0},
        {"\\\\.\\pipe\\x", 0, MPX_ENOTSUP, 0},
        {"\\\\host:80", 0, MPX_ENOTSUP, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mpx__addr a;
        int rc = mpx__addr_parse(cases[i].s, cases[i].family, &a);
        if (cases[i].want < 0) {
            if (rc != cases[i].want)
                FAIL("'%s': %s, expected %s", cases[i].s, mpx_err_name(rc),
                     mpx_err_name(cases[i].want));
            continue;
        }
        if (rc || a.family != cases[i].want || a.abstract != (cases[i].abstract != 0))
            FAIL("'%s': rc %s family %d abstract %d", cases[i].s, mpx_err_name(rc), a.family,
                 (int)a.abstract);
    }
    /* the public calls refuse them the same way, and create nothing */
    char dir[600], pipe_name[700];
    snprintf(dir, sizeof dir, "%s", mpx_test_tmp_path(".d"));
    CHECK(mkdir(dir, 0700) == 0);
    char old[600];
    CHECK(getcwd(old, sizeof old) != NULL);
    CHECK(chdir(dir) == 0);
    mpx_listener *l;
    mpx_connection *c;
    CHECK_ERR(mpx_listener_create(&l, "\\\\.\\test", NULL), MPX_ENOTSUP);
    CHECK_ERR(mpx_client_connect(&c, "\\\\.\\test", NULL), MPX_ENOTSUP);
    CHECK_ERR(mpx_listener_create(&l, "127.0.0.1", NULL), MPX_EINVAL);
    CHECK_ERR(mpx_listener_create(&l, "localhost", NULL), MPX_EINVAL);
    CHECK_ERR(mpx_listener_create(&l, "::1", NULL), MPX_EINVAL);
    CHECK_ERR(mpx_listener_create(&l, "sock", NULL), MPX_EINVAL);
    CHECK_ERR(mpx_client_connect(&c, "127.0.0.1", NULL), MPX_EINVAL);
    CHECK_ERR(mpx_client_connect(&c, "localhost", NULL), MPX_EINVAL);
    snprintf(pipe_name, sizeof pipe_name, "%s/\\\\.\\test", dir);
    CHECK(access(pipe_name, F_OK) < 0);
    CHECK(access("127.0.0.1", F_OK) < 0 && access("sock", F_OK) < 0);
    /* a relative path with "./" works and is what it says */
    CHECK_OK(mpx_listener_create(&l, "./rel.sock", NULL));
    CHECK(access("rel.sock", F_OK) == 0);
    roundtrip(l, NULL);
    mpx_listener_destroy(l);
    CHECK(access("rel.sock", F_OK) < 0);
    CHECK(chdir(old) == 0);
    CHECK(rmdir(dir) == 0);
}

MPX_TEST(lis_18_bad_addresses)
{
    mpx_listener *l;
    mpx_connection *c;
    CHECK_ERR(mpx_listener_create(NULL, NULL, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_listener_create(&l, "127.0.0.1:99999", NULL), MPX_EINVAL);
    CHECK_ERR(mpx_listener_create(&l, "127.0.0.1:", NULL), MPX_EINVAL);
    CHECK_ERR(mpx_listener_create(&l, "[::1", NULL), MPX_EINVAL);
    CHECK_ERR(mpx_listener_create(&l, "::1:80", NULL), MPX_EINVAL);
    CHECK_ERR(mpx_listener_create(&l, "no-such-host.invalid:80", NULL), MPX_EINVAL);
    char longp[300];
    memset(longp, 'a', sizeof longp);
    longp[0] = '/';
    longp[299] = 0;
    CHECK_ERR(mpx_listener_create(&l, longp, NULL), MPX_EINVAL);
    mpx_listener_opts o = {0};
    o.family = 9;
    CHECK_ERR(mpx_listener_create(&l, NULL, &o), MPX_EINVAL);
    CHECK_ERR(mpx_client_connect(&c, NULL, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_client_connect(&c, "", NULL), MPX_EINVAL);
    /* refused: a port nobody listens on (bound, not listening) */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(s, (struct sockaddr *)&a, &al) == 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    CHECK_ERR(mpx_client_connect(&c, addr, NULL), -ECONNREFUSED);
    mpx_client_opts co = {0};
    co.timeout = 2000;
    CHECK_ERR(mpx_client_connect(&c, addr, &co), -ECONNREFUSED);
    close(s);
}

/* ---- accept timeouts ----------------------------------------------------- */

MPX_TEST(lis_11_accept_timeout_without_client)
{
    mpx_listener *l;
    CHECK_OK(mpx_listener_create(&l, NULL, NULL));
    mpx_connection *c;
    int64_t t0 = mpx_test_now_ms();
    CHECK_ERR(mpx_listener_accept(l, &c, 150), MPX_ETIMEDOUT);
    CHECK(mpx_test_now_ms() - t0 >= 140);
    CHECK_ERR(mpx_listener_accept(l, &c, MPX_NOWAIT), MPX_ETIMEDOUT);
    mpx_listener_destroy(l);
}

MPX_TEST(auth_silent_peer_cannot_block_accept)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    int silent = raw_connect(mpx_listener_address(l));
    CHECK(silent >= 0);
    mpx_connection *c;
    CHECK_ERR(mpx_listener_accept(l, &c, 300), MPX_ETIMEDOUT);
    /* the listener still serves a real client, the silent one pending */
    roundtrip(l, "key");
    close(silent);
    mpx_listener_destroy(l);
}

/* Read the challenge a pending handshake was sent; return 1 when the
 * listener still holds the connection (nothing more to read), 0 when it
 * closed it (EOF after the challenge). */
static int silent_still_pending(int fd)
{
    unsigned char buf[128];
    size_t have = 0;
    while (have < 4 + 59) {
        struct pollfd p = {fd, POLLIN, 0};
        CHECK(poll(&p, 1, 30000) == 1);
        ssize_t r = recv(fd, buf + have, 4 + 59 - have, 0);
        CHECK(r > 0);
        have += (size_t)r;
    }
    CHECK_MEMEQ(buf, "\x00\x00\x00\x3b#CHALLENGE#{sha256}", 23);
    ssize_t r = recv(fd, buf, 1, MSG_DONTWAIT);
    if (r == 0)
        return 0;
    CHECK(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    return 1;
}

/* #12 item 5: 200 connections that never answer are pending in the
 * listener while a real client is accepted: it is served before any of
 * them is given up (handshake_timeout MPX_FOREVER: they stay). */
MPX_TEST_T(lis_real_client_served_while_200_silent_pending, 60)
{
    enum { N = 200 };
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    o.backlog = 512;
    o.handshake_timeout = MPX_FOREVER;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    int silent[N];
    for (int i = 0; i < N; i++) {
        silent[i] = raw_connect(mpx_listener_address(l));
        CHECK(silent[i] >= 0);
    }
    client_job j;
    client_start(&j, mpx_listener_address(l), "key", 0);
    serve_one(l); /* accept(FOREVER would block for good before #12) */
    CHECK_OK(client_join(&j));
    /* every silent connection was taken, challenged, and is still held */
    for (int i = 0; i < N; i++)
        CHECK_EQ(silent_still_pending(silent[i]), 1);
    /* a second real client too */
    roundtrip(l, "key");
    for (int i = 0; i < N; i++)
        close(silent[i]);
    mpx_listener_destroy(l);
}

/* The oldest handshakes are dropped beyond max_pending; the newest (the
 * real client) is served. */
MPX_TEST(lis_max_pending_drops_oldest)
{
    enum { N = 10, MAX = 4 };
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    o.max_pending = MAX;
    o.handshake_timeout = MPX_FOREVER;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    int silent[N];
    for (int i = 0; i < N; i++) {
        silent[i] = raw_connect(mpx_listener_address(l));
        CHECK(silent[i] >= 0);
    }
    client_job j;
    client_start(&j, mpx_listener_address(l), "key", 0);
    serve_one(l);
    CHECK_OK(client_join(&j));
    /* N silent + 1 real through a set of MAX: the N + 1 - MAX oldest went */
    for (int i = 0; i < N; i++)
        CHECK_EQ(silent_still_pending(silent[i]), i >= N + 1 - MAX ? 1 : 0);
    for (int i = 0; i < N; i++)
        close(silent[i]);
    o.max_pending = -1;
    mpx_listener *bad;
    CHECK_ERR(mpx_listener_create(&bad, NULL, &o), MPX_EINVAL);
    mpx_listener_destroy(l);
}

typedef struct accept_job {
    mpx_listener *l;
    int rc;
    pthread_t th;
} accept_job;

static void *accept_main(void *arg)
{
    accept_job *a = arg;
    mpx_connection *c;
    a->rc = mpx_listener_accept(a->l, &c, MPX_FOREVER);
    if (!a->rc) {
        void *m;
        size_t n;
        a->rc = mpx_connection_recv_bytes(c, &m, &n);
        if (!a->rc) {
            mpx_free(m);
            a->rc = mpx_connection_send_bytes(c, "hi from server", 14);
        }
        mpx_connection_destroy(c);
    }
    return NULL;
}

/* An explicit handshake_timeout closes a silent peer while accept waits
 * for a real client; accept does not report it (CPython would block). */
MPX_TEST(lis_handshake_timeout_closes_silent_peer)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    o.handshake_timeout = 200;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    int silent = raw_connect(mpx_listener_address(l));
    CHECK(silent >= 0);
    mpx_connection *c;
    /* the whole 2 s: the silent handshake is dropped on the way */
    CHECK_ERR(mpx_listener_accept(l, &c, 2000), MPX_ETIMEDOUT);
    CHECK_EQ(silent_still_pending(silent), 0);
    close(silent);
    roundtrip(l, "key");
    mpx_listener_destroy(l);
}

/* The default handshake_timeout (MPX_HANDSHAKE_TIMEOUT_DEFAULT, 10 s) is
 * finite: a silent peer is disconnected while accept(FOREVER) keeps
 * waiting, which then serves a real client. */
MPX_TEST_T(lis_default_handshake_timeout_closes_silent_peer, 90)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    int silent = raw_connect(mpx_listener_address(l));
    CHECK(silent >= 0);
    accept_job a = {.l = l};
    CHECK(pthread_create(&a.th, NULL, accept_main, &a) == 0);
    /* the challenge, then EOF when the default limit has passed */
    unsigned char buf[128];
    size_t have = 0;
    for (;;) {
        struct pollfd p = {silent, POLLIN, 0};
        CHECK(poll(&p, 1, 60000) == 1);
        ssize_t r = recv(silent, buf, sizeof buf, 0);
        CHECK(r >= 0);
        if (r == 0)
            break;
        have += (size_t)r;
    }
    CHECK_EQ(have, 4 + 59);
    close(silent);
    client_job j;
    client_start(&j, mpx_listener_address(l), "key", 0);
    pthread_join(a.th, NULL);
    CHECK_OK(a.rc);
    CHECK_OK(client_join(&j));
    mpx_listener_destroy(l);
}

/* A client that sends its response a byte at a time holds up nobody: a
 * real client that starts half way through is accepted first; then the
 * slow one completes too. */
typedef struct trickle_job {
    char address[256];
    int half[2], go[2];
    int rc;
    pthread_t th;
} trickle_job;

static void *trickle_main(void *arg)
{
    trickle_job *t = arg;
    int fd = raw_connect(t->address);
    mpx_connection *c;
    if (fd < 0 || mpx_connection_from_fd(&c, fd, 1, 1)) {
        t->rc = -1;
        return NULL;
    }
    unsigned char ch[256], resp[256], frame[300];
    size_t n, rl;
    int rc = mpx__conn_recv_small(c, ch, sizeof ch, &n, MPX__NEVER);
    if (!rc)
        rc = mpx__auth_make_response("key", 3, ch, n, 0, resp, sizeof resp, &rl);
    if (!rc) {
        size_t fl = mpx__frame_encode(rl, frame);
        memcpy(frame + fl, resp, rl);
        fl += rl;
        for (size_t i = 0; i < fl && !rc; i++) {
            if (i == fl / 2) {
                char b = 1;
                rc = write(t->half[1], &b, 1) == 1 && read(t->go[0], &b, 1) == 1 ? 0 : -1;
            }
            if (!rc && send(fd, frame + i, 1, MSG_NOSIGNAL) != 1)
                rc = -1;
            sleep_ms(1);
        }
    }
    if (!rc)
        rc = mpx__conn_recv_small(c, ch, sizeof ch, &n, MPX__NEVER);
    if (!rc && (n != 9 || memcmp(ch, "#WELCOME#", 9) != 0))
        rc = MPX_EAUTH;
    if (!rc)
        rc = mpx__deliver_challenge(c, "key", 3, 0, MPX__NEVER);
    if (!rc)
        rc = mpx_connection_send_bytes(c, "hi from trickle", 15);
    t->rc = rc;
    mpx_connection_destroy(c);
    return NULL;
}

MPX_TEST(lis_slow_trickle_handshake_does_not_delay_others)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    trickle_job t = {0};
    snprintf(t.address, sizeof t.address, "%s", mpx_listener_address(l));
    CHECK(pipe(t.half) == 0 && pipe(t.go) == 0);
    CHECK(pthread_create(&t.th, NULL, trickle_main, &t) == 0);
    /* accept drives the slow handshake until it is half way */
    accept_job a = {.l = l};
    CHECK(pthread_create(&a.th, NULL, accept_main, &a) == 0);
    char b;
    CHECK_EQ(read(t.half[0], &b, 1), 1);
    client_job j;
    client_start(&j, mpx_listener_address(l), "key", 0);
    pthread_join(a.th, NULL); /* served the real client (it replies) */
    CHECK_OK(a.rc);
    CHECK_OK(client_join(&j));
    CHECK_EQ(write(t.go[1], &b, 1), 1);
    mpx_connection *c;
    CHECK_OK(mpx_listener_accept(l, &c, 30000));
    recv_str(c, "hi from trickle");
    mpx_connection_destroy(c);
    pthread_join(t.th, NULL);
    CHECK_OK(t.rc);
    close(t.half[0]);
    close(t.half[1]);
    close(t.go[0]);
    close(t.go[1]);
    mpx_listener_destroy(l);
}

/* Several threads accept on one listener (run under TSan): every client
 * is served once, each connection knows its own peer, last_accepted is
 * always a whole address. */
enum { CT_THREADS = 4, CT_CLIENTS = 48 };
typedef struct ct_shared {
    mpx_listener *l;
    int served;
    int rc;
} ct_shared;

static void *ct_accept_main(void *arg)
{
    ct_shared *s = arg;
    while (__atomic_load_n(&s->served, __ATOMIC_ACQUIRE) < CT_CLIENTS) {
        mpx_connection *c;
        int rc = mpx_listener_accept(s->l, &c, 100);
        if (rc == MPX_ETIMEDOUT)
            continue;
        if (rc) {
            s->rc = rc;
            break;
        }
        const char *peer = mpx_connection_peer_address(c);
        const char *last = mpx_listener_last_accepted(s->l);
        if (!peer || strncmp(peer, "127.0.0.1:", 10) != 0 || !last ||
            strncmp(last, "127.0.0.1:", 10) != 0)
            s->rc = MPX_EPROTO;
        void *m;
        size_t n;
        rc = mpx_connection_recv_bytes(c, &m, &n);
        if (!rc) {
            /* the client sends its own port: it must match the peer */
            char want[64];
            snprintf(want, sizeof want, "%.*s", (int)n, (char *)m);
            if (!peer || strcmp(strchr(peer, ':') + 1, want) != 0)
                s->rc = MPX_EPROTO;
            mpx_free(m);
            rc = mpx_connection_send_bytes(c, "ok", 2);
        }
        if (rc)
            s->rc = rc;
        mpx_connection_destroy(c);
        __atomic_add_fetch(&s->served, 1, __ATOMIC_ACQ_REL);
    }
    return NULL;
}

typedef struct ct_client {
    const char *address;
    int rc;
    pthread_t th;
} ct_client;

static void *ct_client_main(void *arg)
{
    ct_client *k = arg;
    mpx_client_opts o = {0};
    o.authkey = "many";
    o.authkey_len = 4;
    o.timeout = 30000;
    mpx_connection *c;
    k->rc = mpx_client_connect(&c, k->address, &o);
    if (k->rc)
        return NULL;
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(mpx_connection_fileno(c), (struct sockaddr *)&me, &ml);
    char port[16];
    int pl = snprintf(port, sizeof port, "%u", (unsigned)ntohs(me.sin_port));
    k->rc = mpx_connection_send_bytes(c, port, (size_t)pl);
    void *m;
    size_t n;
    if (!k->rc)
        k->rc = mpx_connection_recv_bytes(c, &m, &n);
    if (!k->rc)
        mpx_free(m);
    /* the client side knows the listener's address */
    const char *peer = mpx_connection_peer_address(c);
    if (!k->rc && (!peer || strcmp(peer, k->address) != 0))
        k->rc = MPX_EPROTO;
    mpx_connection_destroy(c);
    return NULL;
}

MPX_TEST_T(lis_concurrent_accept_threads, 120)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "many";
    o.authkey_len = 4;
    o.backlog = 64;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    ct_shared s = {.l = l};
    pthread_t th[CT_THREADS];
    for (int i = 0; i < CT_THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, ct_accept_main, &s) == 0);
    ct_client k[CT_CLIENTS];
    for (int round = 0; round < CT_CLIENTS / 8; round++) {
        for (int i = round * 8; i < round * 8 + 8; i++) {
            k[i].address = mpx_listener_address(l);
            CHECK(pthread_create(&k[i].th, NULL, ct_client_main, &k[i]) == 0);
        }
        for (int i = round * 8; i < round * 8 + 8; i++) {
            pthread_join(k[i].th, NULL);
            CHECK_OK(k[i].rc);
        }
    }
    for (int i = 0; i < CT_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_OK(s.rc);
    CHECK_EQ(s.served, CT_CLIENTS);
    mpx_listener_destroy(l);
}

/* Clients that send random bytes (fuzz-like, under ASan): each one is one
 * MPX_EAUTH from accept, and the listener keeps serving. */
MPX_TEST(lis_garbage_clients_each_one_eauth)
{
    enum { N = 60 };
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    o.backlog = 128;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    unsigned seed = 12345;
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect(mpx_listener_address(l));
        CHECK(fds[i] >= 0);
        unsigned char junk[600];
        size_t n = (size_t)(rand_r(&seed) % sizeof junk);
        for (size_t k = 0; k < n; k++)
            junk[k] = (unsigned char)rand_r(&seed);
        if (i % 3 == 0 && n >= 4) { /* a plausible header, then junk */
            junk[0] = junk[1] = 0;
            junk[2] = (unsigned char)(i % 2);
        }
        if (n)
            CHECK(send(fds[i], junk, n, MSG_NOSIGNAL) == (ssize_t)n);
        shutdown(fds[i], SHUT_WR);
    }
    mpx_connection *c;
    for (int i = 0; i < N; i++)
        CHECK_ERR(mpx_listener_accept(l, &c, 20000), MPX_EAUTH);
    CHECK_ERR(mpx_listener_accept(l, &c, 50), MPX_ETIMEDOUT);
    roundtrip(l, "key");
    for (int i = 0; i < N; i++)
        close(fds[i]);
    mpx_listener_destroy(l);
}

/* accept(MPX_NOWAIT) makes progress and keeps handshakes across calls;
 * mpx_wait on an authenticating listener reports it ready only when
 * accept has a result. */
MPX_TEST(lis_nowait_accept_and_wait_drive_handshakes)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    client_job j;
    client_start(&j, mpx_listener_address(l), "key", 0);
    mpx_connection *c = NULL;
    int rc;
    int64_t end = mpx_test_now_ms() + 20000;
    while ((rc = mpx_listener_accept(l, &c, MPX_NOWAIT)) == MPX_ETIMEDOUT &&
           mpx_test_now_ms() < end)
        sleep_ms(1);
    CHECK_OK(rc);
    recv_str(c, "hi from client");
    CHECK_OK(mpx_connection_send_bytes(c, "hi from server", 14));
    mpx_connection_destroy(c);
    CHECK_OK(client_join(&j));
    /* a silent peer: the listener is not ready, then a real client is */
    int silent = raw_connect(mpx_listener_address(l));
    CHECK(silent >= 0);
    mpx_waitable w = {.object = l};
    CHECK_EQ(mpx_wait(&w, 1, 200), 0);
    client_start(&j, mpx_listener_address(l), "key", 0);
    CHECK_EQ(mpx_wait(&w, 1, 20000), 1);
    CHECK_OK(mpx_listener_accept(l, &c, MPX_NOWAIT));
    recv_str(c, "hi from client");
    CHECK_OK(mpx_connection_send_bytes(c, "hi from server", 14));
    mpx_connection_destroy(c);
    CHECK_OK(client_join(&j));
    close(silent);
    mpx_listener_destroy(l);
}

/* A fork child inherits the listener: it can accept on it itself, and the
 * handshakes the parent had in progress are not the child's. */
static int t_fork_accept_child(const mpx_args *a)
{
    mpx_listener *l = (mpx_listener *)(intptr_t)mpx_args_int(a, 0);
    mpx_connection *c;
    int rc = mpx_listener_accept(l, &c, 30000);
    if (rc)
        return 10;
    void *m;
    size_t n;
    rc = mpx_connection_recv_bytes(c, &m, &n);
    if (rc)
        return 11;
    mpx_free(m);
    rc = mpx_connection_send_bytes(c, "hi from server", 14);
    mpx_connection_destroy(c);
    return rc ? 12 : 0;
}

MPX_TEST(lis_fork_child_accepts_on_inherited_listener)
{
    if (strcmp(mpx_test_start_method(), "fork") != 0)
        MPX_SKIP("a listener is inherited only by fork children");
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    o.handshake_timeout = MPX_FOREVER;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &o));
    int silent = raw_connect(mpx_listener_address(l));
    CHECK(silent >= 0);
    mpx_connection *c;
    CHECK_ERR(mpx_listener_accept(l, &c, 100), MPX_ETIMEDOUT); /* now pending here */
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, (int64_t)(intptr_t)l));
    mpx_process *p = start_args(t_fork_accept_child, a);
    mpx_args_destroy(a);
    client_job j;
    client_start(&j, mpx_listener_address(l), "key", 0);
    CHECK_OK(client_join(&j)); /* served by the child */
    CHECK_EQ(join_destroy(p), 0);
    /* the child's copy of the pending socket is gone; the parent still holds it */
    CHECK_EQ(silent_still_pending(silent), 1);
    mpx_listener_close(l);
    char b;
    CHECK_EQ(recv(silent, &b, 1, 0), 0); /* closed by the parent: EOF at once */
    close(silent);
    mpx_listener_destroy(l);
}

MPX_TEST(auth_huge_length_header_rejected_before_auth)
{
    mpx_listener *l;
    mpx_listener_opts o = {0};
    o.authkey = "key";
    o.authkey_len = 3;
    CHECK_OK(mpx_listener_create(&l, NULL, &o));
    static const char *bad[] = {"\x7f\xff\xff\xff", "\xff\xff\xff\xff\x7f\xff\xff\xff\xff\xff\xff\xff",
                                "\x00\x00\x01\x01", "\xff\xff\xff\x00"};
    static const size_t badlen[] = {4, 12, 4, 4};
    for (size_t i = 0; i < 4; i++) {
        int fd = raw_connect(mpx_listener_address(l));
        CHECK(fd >= 0);
        CHECK_EQ(write(fd, bad[i], badlen[i]), (ssize_t)badlen[i]);
        mpx_connection *c;
        /* refused at once: MPX_EAUTH, not the accept's MPX_ETIMEDOUT */
        CHECK_ERR(mpx_listener_accept(l, &c, 30000), MPX_EAUTH);
        close(fd);
    }
    roundtrip(l, "key");
    mpx_listener_destroy(l);
}

/* ---- wait() ------------------------------------------------------------- */

MPX_TEST(lis_15_wait_mixed_objects_and_timeout)
{
    mpx_connection *a, *b, *r, *w;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    CHECK_OK(mpx_pipe(&r, &w, 0));
    mpx_listener *l;
    CHECK_OK(mpx_listener_create(&l, NULL, NULL));
    int raw[2];
    CHECK(pipe(raw) == 0);
    mpx_waitable items[5] = {
        {.object = b}, {.object = r}, {.object = l}, {.object = NULL, .fd = raw[0]},
        {.object = NULL, .fd = -1}, /* ignored */
    };
    int64_t t0 = mpx_test_now_ms();
    CHECK_EQ(mpx_wait(items, 5, 120), 0);
    CHECK(mpx_test_now_ms() - t0 >= 110);
    CHECK_EQ(mpx_wait(items, 5, -3), 0); /* negative: 0 */
    CHECK_OK(mpx_connection_send_bytes(w, "x", 1));
    CHECK_EQ(write(raw[1], "y", 1), 1);
    CHECK_EQ(mpx_wait(items, 5, MPX_FOREVER), 2);
    CHECK(!items[0].ready && items[1].ready && !items[2].ready && items[3].ready && !items[4].ready);
    /* a pending client makes the listener ready */
    int fd = raw_connect(mpx_listener_address(l));
    CHECK(fd >= 0);
    CHECK_EQ(mpx_wait(items + 2, 1, 5000), 1);
    mpx_connection *c;
    CHECK_OK(mpx_listener_accept(l, &c, 1000));
    /* EOF counts as ready */
    mpx_connection_close(a);
    CHECK_EQ(mpx_wait(items, 1, 5000), 1);
    /* object-list form */
    void *objs[3] = {b, r, l}, *ready[3] = {0};
    CHECK_EQ(mpx_wait_objects(objs, 3, 1000, ready), 2);
    CHECK(ready[0] == b && ready[1] == r);
    /* errors */
    int junk[8] = {0};
    mpx_waitable bad = {.object = junk};
    CHECK_ERR(mpx_wait(&bad, 1, 0), MPX_EINVAL);
    mpx_connection_close(b);
    CHECK_ERR(mpx_wait(items, 1, 0), MPX_ECLOSED);
    mpx_waitable badfd = {.object = NULL, .fd = 999};
    CHECK_ERR(mpx_wait(&badfd, 1, 0), -EBADF);
    CHECK_EQ(mpx_wait(NULL, 0, 10), 0);
    mpx_connection_destroy(c);
    close(fd);
    close(raw[0]);
    close(raw[1]);
    mpx_listener_destroy(l);
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
    mpx_connection_destroy(r);
    mpx_connection_destroy(w);
}

MPX_TEST(lis_15_wait_sees_message_left_by_too_short_read)
{
    mpx_connection *a, *b;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    CHECK_OK(mpx_connection_send_bytes(a, "", 0)); /* header only: nothing left in the socket */
    CHECK_OK(mpx_connection_send_bytes(a, "abcdef", 6));
    char buf[2];
    size_t n;
    CHECK_OK(mpx_connection_recv_bytes_into(b, buf, 2, 0, &n));
    CHECK_ERR(mpx_connection_recv_bytes_into(b, buf, 2, 0, &n), MPX_ETOOSHORT);
    mpx_waitable it = {.object = b};
    CHECK_EQ(mpx_wait(&it, 1, 0), 1);
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
}

MPX_TEST(lis_15_wait_no_count_limit)
{
    /* 5000 entries (beyond select's 1024 and Windows' 63) */
    size_t n = 5000;
    mpx_connection *a, *b;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    int p[2];
    CHECK(pipe(p) == 0);
    mpx_waitable *items = calloc(n, sizeof *items);
    CHECK(items);
    for (size_t i = 0; i < n; i++) {
        items[i].fd = p[0];
        items[i].object = i % 2 ? (void *)b : NULL;
    }
    CHECK_EQ(mpx_wait(items, n, 20), 0);
    CHECK_OK(mpx_connection_send_bytes(a, "z", 1));
    CHECK_EQ(mpx_wait(items, n, 5000), (int)(n / 2));
    CHECK(items[n - 1].ready && !items[n - 2].ready);
    free(items);
    close(p[0]);
    close(p[1]);
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

MPX_TEST(lis_17_wait_retries_eintr_against_deadline)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART */
    struct itimerval it = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    mpx_connection *a, *b;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    mpx_waitable w = {.object = b};
    int64_t t0 = mpx_test_now_ms();
    CHECK_EQ(mpx_wait(&w, 1, 300), 0);
    int64_t dt = mpx_test_now_ms() - t0;
    CHECK_EQ(mpx_connection_poll(b, 100), 0);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    CHECK(alarms > 2);
    CHECK(dt >= 290);
    CHECK(dt < 10000);
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
}

/* EX-31: 4 children, each sends 10 messages over its simplex pipe; the
 * parent waits on the readers and drops each at EOF. */
static int t_ex31_child(const mpx_args *a)
{
    mpx_connection *w = mpx_args_object(a, 0);
    int64_t id = mpx_args_int(a, 1);
    for (int i = 0; i < 10; i++) {
        char m[64];
        int n = snprintf(m, sizeof m, "(%d, 'child-%d')", i, (int)id);
        int rc = mpx_connection_send_bytes(w, m, (size_t)n);
        if (rc)
            return rc;
        sleep_ms((int)(id * 3));
    }
    mpx_connection_close(w);
    return 0;
}

MPX_TEST(lis_16_wait_process_sentinels_and_ex31_readers)
{
    mpx_connection *readers[4], *writers[4];
    mpx_process *procs[4];
    for (int i = 0; i < 4; i++) {
        CHECK_OK(mpx_pipe(&readers[i], &writers[i], 0));
        mpx_args *a;
        CHECK_OK(mpx_args_create(&a));
        CHECK_OK(mpx_args_add_object(a, writers[i]));
        CHECK_OK(mpx_args_add_int(a, i));
        CHECK_OK(mpx_process_create(&procs[i], t_ex31_child, a, NULL));
        mpx_args_destroy(a);
        CHECK_OK(mpx_process_start(procs[i]));
        mpx_connection_close(writers[i]);
    }
    void *live[4] = {readers[0], readers[1], readers[2], readers[3]};
    size_t nlive = 4;
    int counts[4] = {0};
    while (nlive) {
        void *ready[4];
        int k = mpx_wait_objects(live, nlive, 20000, ready);
        CHECK(k > 0);
        for (int i = 0; i < k; i++) {
            mpx_connection *c = ready[i];
            void *m;
            size_t n;
            int rc = mpx_connection_recv_bytes(c, &m, &n);
            int idx = 0;
            while (readers[idx] != c)
                idx++;
            if (rc == MPX_EEOF) {
                for (size_t j = 0; j < nlive; j++)
                    if (live[j] == c) {
                        live[j] = live[--nlive];
                        break;
                    }
                continue;
            }
            CHECK_OK(rc);
            char want[64];
            snprintf(want, sizeof want, "(%d, 'child-%d')", counts[idx], idx);
            CHECK_EQ(n, strlen(want));
            CHECK_MEMEQ(m, want, n);
            counts[idx]++;
            mpx_free(m);
        }
    }
    for (int i = 0; i < 4; i++)
        CHECK_EQ(counts[i], 10);
    /* sentinels: both as raw fds and as mpx_process objects */
    mpx_waitable w[8];
    for (int i = 0; i < 4; i++) {
        w[i] = (mpx_waitable){.object = NULL, .fd = mpx_process_sentinel(procs[i])};
        w[4 + i] = (mpx_waitable){.object = procs[i]};
    }
    int64_t t0 = mpx_test_now_ms();
    int got = 0;
    while (got < 8 && mpx_test_now_ms() - t0 < 20000) {
        int k = mpx_wait(w, 8, 20000);
        CHECK(k > 0);
        got = k;
        if (got < 8)
            sleep_ms(5);
    }
    CHECK_EQ(got, 8);
    for (int i = 0; i < 4; i++) {
        int code = -1;
        CHECK_EQ(mpx_process_join(procs[i], 10000), 1);
        CHECK_EQ(mpx_process_exitcode(procs[i], &code), 1);
        CHECK_EQ(code, 0);
        mpx_process_destroy(procs[i]);
        mpx_connection_destroy(readers[i]);
        mpx_connection_destroy(writers[i]);
    }
}
