/* listener_util.h - helpers shared by the listener test files
 * (test_listener.c, test_listener_auth.c). */
#ifndef MPX_TEST_LISTENER_UTIL_H
#define MPX_TEST_LISTENER_UTIL_H

#include "harness.h"

#include "core/conn_internal.h"

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>


/* A client in a thread: connect with key, send "hi from client", receive
 * one message, record the result. */
typedef struct client_job {
    char address[256];
    const char *key;
    int strict;
    int skip;         /* empty_key_skips_auth */
    int authenticate; /* the process's key when key is NULL */
    int rc;
    pthread_t th;
} client_job;

static inline void *client_main(void *arg)
{
    client_job *j = arg;
    mpx_client_opts o = {0};
    o.authkey = j->key;
    o.authkey_len = j->key ? strlen(j->key) : 0;
    o.strict = j->strict;
    o.empty_key_skips_auth = j->skip;
    o.authenticate = j->authenticate;
    o.timeout = 20000;
    mpx_connection *c;
    j->rc = mpx_client_connect(&c, j->address, &o);
    if (j->rc)
        return NULL;
    j->rc = mpx_connection_send_bytes(c, "hi from client", 14);
    void *m;
    size_t n;
    if (!j->rc)
        j->rc = mpx_connection_recv_bytes(c, &m, &n);
    if (!j->rc) {
        if (n != 14 || memcmp(m, "hi from server", 14) != 0)
            j->rc = MPX_EPROTO;
        mpx_free(m);
    }
    mpx_connection_destroy(c);
    return NULL;
}

static inline void client_start(client_job *j, const char *address, const char *key, int strict)
{
    memset(j, 0, sizeof *j);
    snprintf(j->address, sizeof j->address, "%s", address);
    j->key = key;
    j->strict = strict;
    CHECK(pthread_create(&j->th, NULL, client_main, j) == 0);
}

static inline int client_join(client_job *j)
{
    pthread_join(j->th, NULL);
    return j->rc;
}

static inline void serve_one(mpx_listener *l)
{
    mpx_connection *c;
    CHECK_OK(mpx_listener_accept(l, &c, 20000));
    recv_str(c, "hi from client");
    CHECK_OK(mpx_connection_send_bytes(c, "hi from server", 14));
    mpx_connection_destroy(c);
}

static inline void roundtrip(mpx_listener *l, const char *key)
{
    client_job j;
    client_start(&j, mpx_listener_address(l), key, 0);
    serve_one(l);
    CHECK_OK(client_join(&j));
}

/* a plain TCP/Unix connection that says nothing (a silent or hostile peer) */
static inline int raw_connect(const char *address)
{
    mpx__addr a;
    if (mpx__addr_parse(address, 0, &a))
        return -1;
    int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#endif
