/* util.c - deadlines, byte buffers, fd loops. */
#include "core/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int64_t mpx__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

mpx__deadline mpx__deadline_from(mpx_duration timeout)
{
    /* Never, whatever the clock says (now >= 0): no clock read. A blocking
     * call makes this check on every call (a queue put or get), and
     * clock_gettime costs 20-60 ns, more under a hypervisor (#18: 5-10% of
     * queue_2p2c_256's samples). */
    if (timeout >= INT64_MAX / 1000000)
        return MPX__NEVER;
    int64_t now = mpx__now_ns();
    if (timeout <= 0)
        return now; /* do not wait: check once */
    /* MPX_FOREVER (INT64_MAX), and anything too long to add to now
     * without overflow (about 292 years), is "never". */
    if (timeout >= (INT64_MAX - now) / 1000000)
        return MPX__NEVER;
    return now + timeout * 1000000;
}

mpx__deadline mpx__deadline_opt(mpx_duration opt, mpx_duration dflt)
{
    return mpx__deadline_from(opt ? opt : dflt);
}

int64_t mpx__deadline_left_ns(mpx__deadline d)
{
    if (d == MPX__NEVER)
        return -1;
    int64_t left = d - mpx__now_ns();
    return left > 0 ? left : 0;
}

bool mpx__deadline_expired(mpx__deadline d)
{
    return d != MPX__NEVER && mpx__now_ns() >= d;
}

int mpx__deadline_poll_ms(mpx__deadline d)
{
    if (d == MPX__NEVER)
        return -1;
    int64_t left = mpx__deadline_left_ns(d);
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

bool mpx__deadline_rel_ts(mpx__deadline d, struct timespec *ts)
{
    if (d == MPX__NEVER)
        return false;
    int64_t left = mpx__deadline_left_ns(d);
    ts->tv_sec = left / 1000000000;
    ts->tv_nsec = left % 1000000000;
    return true;
}

void mpx__buf_init(mpx__buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void mpx__buf_free(mpx__buf *b)
{
    free(b->data);
    mpx__buf_init(b);
}

int mpx__buf_reserve(mpx__buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return -ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int mpx__buf_append(mpx__buf *b, const void *p, size_t n)
{
    int rc = mpx__buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int mpx__buf_put_u8(mpx__buf *b, uint8_t v)
{
    return mpx__buf_append(b, &v, 1);
}

int mpx__buf_put_u32(mpx__buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    return mpx__buf_append(b, x, 4);
}

int mpx__buf_put_u64(mpx__buf *b, uint64_t v)
{
    int rc = mpx__buf_put_u32(b, (uint32_t)(v >> 32));
    return rc ? rc : mpx__buf_put_u32(b, (uint32_t)v);
}

int mpx__buf_put_bytes(mpx__buf *b, const void *p, size_t n)
{
    int rc = mpx__buf_put_u64(b, n);
    return rc ? rc : mpx__buf_append(b, p, n);
}

int mpx__rd_raw(mpx__rd *r, size_t n, const void **p)
{
    if (r->left < n)
        return MPX_EPROTO;
    *p = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

int mpx__rd_u8(mpx__rd *r, uint8_t *v)
{
    const unsigned char *p;
    int rc = mpx__rd_raw(r, 1, (const void **)&p);
    if (!rc)
        *v = p[0];
    return rc;
}

int mpx__rd_u32(mpx__rd *r, uint32_t *v)
{
    const unsigned char *p;
    int rc = mpx__rd_raw(r, 4, (const void **)&p);
    if (!rc)
        *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return rc;
}

int mpx__rd_u64(mpx__rd *r, uint64_t *v)
{
    uint32_t hi, lo;
    int rc = mpx__rd_u32(r, &hi);
    if (!rc)
        rc = mpx__rd_u32(r, &lo);
    if (!rc)
        *v = (uint64_t)hi << 32 | lo;
    return rc;
}

int mpx__rd_bytes(mpx__rd *r, const void **p, size_t *n)
{
    uint64_t len;
    int rc = mpx__rd_u64(r, &len);
    if (rc)
        return rc;
    if (len > r->left)
        return MPX_EPROTO;
    *n = (size_t)len;
    return mpx__rd_raw(r, (size_t)len, p);
}

int mpx__write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int mpx__read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return MPX_EEOF;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

void mpx__close(int fd)
{
    if (fd < 0)
        return;
    int saved = errno;
    close(fd);
    errno = saved;
}

int mpx__set_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return -errno;
    fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, fl) < 0 ? -errno : 0;
}

int mpx__set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

