/*
 * bench/raw_pipe.c - the raw side of the pipe group: a bare pipe or
 * socketpair with the framing of Python's multiprocessing.connection (a
 * 4-byte big-endian length before each message), written as fast as we
 * can: the sender writes header and payload in one system call, the
 * receiver reads through a 64 KiB buffer, pipes are enlarged to 1 MiB with
 * F_SETPIPE_SZ (one fcntl, baselines.md note 5).
 *
 *   pipe_throughput_256  child sends 256-byte messages, parent receives
 *   pipe_pingpong_64     64-byte request and reply over a socketpair
 *                        (the transport of a duplex Pipe())
 *   pipe_bandwidth_1m    child sends 1 MiB messages, parent receives
 *                        each into one buffer
 *
 * The child first sends an empty "ready" message (the ping-pong makes one
 * round trip): the clock starts after it, so process start is not timed.
 */
#include "figures.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

typedef struct {
    int fd;
    unsigned char buf[65536];
    size_t pos, len;
} reader;

static int rd_fill(reader *r)
{
    if (r->pos < r->len && r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    } else if (r->pos == r->len) {
        r->pos = r->len = 0;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (n > 0) {
            r->len += (size_t)n;
            return 0;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

/* Read one framed message: small ones are copied out of the buffer, big
 * ones are read straight into dst after what the buffer already holds. */
static long rd_msg(reader *r, void *dst, size_t cap)
{
    while (r->len - r->pos < 4)
        if (rd_fill(r))
            return -1;
    uint32_t be;
    memcpy(&be, r->buf + r->pos, 4);
    size_t n = ntohl(be);
    r->pos += 4;
    if (n > cap)
        return -1;
    size_t have = r->len - r->pos;
    if (have >= n) {
        memcpy(dst, r->buf + r->pos, n);
        r->pos += n;
        return (long)n;
    }
    if (n < sizeof r->buf / 2) {
        while (r->len - r->pos < n)
            if (rd_fill(r))
                return -1;
        memcpy(dst, r->buf + r->pos, n);
        r->pos += n;
        return (long)n;
    }
    memcpy(dst, r->buf + r->pos, have);
    r->pos = r->len = 0;
    if (bench_read_all(r->fd, (char *)dst + have, n - have))
        return -1;
    return (long)n;
}

static int send_msg(int fd, const void *p, size_t n)
{
    uint32_t be = htonl((uint32_t)n);
    struct iovec iov[2] = {{&be, 4}, {(void *)p, n}};
    size_t total = 4 + n;
    ssize_t w = writev(fd, iov, 2);
    if (w == (ssize_t)total)
        return 0;
    if (w < 0 && errno != EINTR)
        return -1;
    if (w < 0)
        w = 0;
    /* finish a partial write */
    if ((size_t)w < 4) {
        if (bench_write_all(fd, (char *)&be + w, 4 - (size_t)w))
            return -1;
        w = 4;
    }
    return bench_write_all(fd, (const char *)p + (w - 4), n - (size_t)(w - 4));
}

static void big_pipe(int fd)
{
    fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

/* ---- throughput and bandwidth: child -> parent ---- */

typedef struct {
    size_t size;
    void *buf;
} stream_ctx;

static double run_stream(void *c, long n)
{
    stream_ctx *sc = c;
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -1;
    big_pipe(p[1]);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p[0]);
        /* a 256-byte message goes out as one write of header+payload */
        unsigned char small[4 + 256];
        uint32_t be = htonl((uint32_t)sc->size);
        memcpy(small, &be, 4);
        memset(small + 4, '0', sizeof small - 4);
        if (send_msg(p[1], "", 0))
            _exit(1);
        for (long i = 0; i < n; i++) {
            int rc = sc->size <= 256 ? bench_write_all(p[1], small, 4 + sc->size)
                                     : send_msg(p[1], sc->buf, sc->size);
            if (rc)
                _exit(1);
        }
        _exit(0);
    }
    close(p[1]);
    static reader r;
    r.fd = p[0];
    r.pos = r.len = 0;
    double t = 0;
    long ok = rd_msg(&r, sc->buf, sc->size);
    if (ok == 0) {
        t = bench_now();
        for (long i = 0; i < n; i++)
            if (rd_msg(&r, sc->buf, sc->size) != (long)sc->size) {
                ok = -1;
                break;
            }
        t = bench_now() - t;
    }
    close(p[0]);
    if (bench_wait_ok(pid) || ok)
        return -1;
    return t;
}

SIDE(raw_pipe_throughput_256)
{
    char buf[256];
    stream_ctx sc = {256, buf};
    double s = bench_calibrate(run_stream, &sc, 1000, 100000000, cfg->target);
    if (s < 0)
        return BENCH_WHY("raw pipe stream failed");
    *out = 1 / s;
    return 0;
}

SIDE(raw_pipe_bandwidth_1m)
{
    stream_ctx sc = {1 << 20, malloc(1 << 20)};
    if (!sc.buf)
        return BENCH_WHY("out of memory");
    memset(sc.buf, '0', sc.size);
    double s = bench_calibrate(run_stream, &sc, 8, 1000000, cfg->target);
    free(sc.buf);
    if (s < 0)
        return BENCH_WHY("raw pipe stream failed");
    *out = (double)(1 << 20) / s / 1e6;
    return 0;
}

/* ---- ping-pong ---- */

static double run_pingpong(void *c, long n)
{
    (void)c;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    unsigned char msg[64];
    memset(msg, 'p', sizeof msg);
    static reader r;
    if (pid == 0) {
        close(sv[0]);
        r.fd = sv[1];
        r.pos = r.len = 0;
        long k;
        while ((k = rd_msg(&r, msg, sizeof msg)) >= 0)
            if (send_msg(sv[1], msg, (size_t)k))
                _exit(1);
        _exit(0);
    }
    close(sv[1]);
    r.fd = sv[0];
    r.pos = r.len = 0;
    double t = -1;
    if (!send_msg(sv[0], msg, sizeof msg) && rd_msg(&r, msg, sizeof msg) == 64) {
        t = bench_now();
        for (long i = 0; i < n; i++)
            if (send_msg(sv[0], msg, sizeof msg) || rd_msg(&r, msg, sizeof msg) != 64) {
                t = -1;
                break;
            }
        if (t >= 0)
            t = bench_now() - t;
    }
    close(sv[0]);
    if (bench_wait_ok(pid))
        return -1;
    return t;
}

SIDE(raw_pipe_pingpong_64)
{
    double s = bench_calibrate(run_pingpong, NULL, 200, 10000000, cfg->target);
    if (s < 0)
        return BENCH_WHY("raw socketpair ping-pong failed");
    *out = s * 1e6;
    return 0;
}
