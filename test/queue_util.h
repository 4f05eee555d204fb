/* queue_util.h - helpers shared by the queue tests (test_queue.c,
 * test_queue_overflow.c): queue creation, starting children with a queue,
 * deterministic message content. */
#ifndef MPX_TEST_QUEUE_UTIL_H
#define MPX_TEST_QUEUE_UTIL_H

#include "harness.h"

/* Internal (core/queue_internal.h): bytes of memory the queue's memfd holds. */
int64_t mpx__queue_mem_bytes(mpx_queue *q);

/* A queue with maxsize, ring bytes (0 default) and overflow_bytes (0
 * default, MPX_QUEUE_NO_OVERFLOW: ring only). */
static inline mpx_queue *mkq_ovf(int64_t maxsize, size_t ring, int64_t overflow)
{
    mpx_queue *q = NULL;
    mpx_queue_opts o = {0};
    o.ring_bytes = ring;
    o.overflow_bytes = overflow;
    CHECK_OK(mpx_queue_create(&q, maxsize, &o));
    CHECK(q != NULL);
    return q;
}

static inline mpx_queue *mkq(int64_t maxsize, size_t ring)
{
    return mkq_ovf(maxsize, ring, 0);
}

/* A ring-only queue (the messages larger than the ring are streamed). */
static inline mpx_queue *mkq_ring(int64_t maxsize, size_t ring)
{
    return mkq_ovf(maxsize, ring, MPX_QUEUE_NO_OVERFLOW);
}

/* Start fn(q, ints...). */
static inline mpx_process *start_q(mpx_target_fn fn, void *q, int n, const int64_t *ints)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    for (int i = 0; i < n; i++)
        CHECK_OK(mpx_args_add_int(a, ints[i]));
    mpx_process *p = start_args(fn, a);
    mpx_args_destroy(a);
    return p;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Deterministic content for (a, b) at byte i. */
static inline void fill(unsigned char *p, size_t n, uint64_t a, uint64_t b)
{
    uint64_t s = mix64(a * 1000003 + b);
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            s = mix64(s + i);
        p[i] = (unsigned char)(s >> ((i & 7) * 8));
    }
}

static inline bool check_fill(const unsigned char *p, size_t n, uint64_t a, uint64_t b)
{
    uint64_t s = mix64(a * 1000003 + b);
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            s = mix64(s + i);
        if (p[i] != (unsigned char)(s >> ((i & 7) * 8)))
            return false;
    }
    return true;
}

static inline void put_str(mpx_queue *q, const char *s)
{
    CHECK_OK(mpx_queue_put(q, s, strlen(s), MPX_FOREVER));
}

static inline void get_expect(mpx_queue *q, const char *s)
{
    void *m = NULL;
    size_t n = 0;
    CHECK_OK(mpx_queue_get(q, &m, &n, 5000));
    CHECK_EQ(n, strlen(s));
    CHECK_MEMEQ(m, s, n);
    mpx_free(m);
}

/* MPMC messages: producer, length and sequence, then a checked payload
 * (test_queue.c, test_queue_crash.c). */
typedef struct pmsg {
    uint32_t prod, len;
    uint64_t seq;
} pmsg;

static inline size_t msg_len(uint64_t prod, uint64_t seq)
{
    uint64_t r = mix64(prod * 7919 + seq);
    if (r % 50 == 0)
        return sizeof(pmsg) + (size_t)(r >> 20) % 30000; /* some larger than a 16 KiB ring */
    return sizeof(pmsg) + (size_t)(r >> 20) % 300;
}

static inline void make_msg(unsigned char *b, uint32_t prod, uint64_t seq, size_t *len)
{
    size_t n = msg_len(prod, seq);
    pmsg h = {prod, (uint32_t)n, seq};
    memcpy(b, &h, sizeof h);
    fill(b + sizeof h, n - sizeof h, prod, seq);
    *len = n;
}

/* 0 ok, else why not. */
static inline int verify_msg(const unsigned char *b, size_t n, pmsg *out)
{
    if (n < sizeof(pmsg))
        return 1;
    memcpy(out, b, sizeof *out);
    if (out->len != n || msg_len(out->prod, out->seq) != n)
        return 2;
    if (!check_fill(b + sizeof *out, n - sizeof *out, out->prod, out->seq))
        return 3;
    return 0;
}

/* child targets used by test_queue.c and test_queue_crash.c */
static inline int t_put_after(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    sleep_ms((int)mpx_args_int(a, 1));
    return mpx_queue_put(q, "late", 4, MPX_FOREVER) ? 1 : 0;
}

static inline int t_put_big(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    size_t len = (size_t)mpx_args_int(a, 1);
    int count = (int)mpx_args_int(a, 2);
    unsigned char *b = malloc(len ? len : 1);
    if (!b)
        return 4;
    for (int i = 0; i < count; i++) {
        fill(b, len, len, (uint64_t)i);
        if (mpx_queue_put(q, b, len, MPX_FOREVER)) {
            free(b);
            return 5;
        }
    }
    free(b);
    return 0;
}

#endif /* MPX_TEST_QUEUE_UTIL_H */
