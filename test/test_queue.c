/* test_queue.c - Queue, JoinableQueue, SimpleQueue (QUEUE-01..25, GUIDE-07,
 * EX-04, EX-06, EX-33, EX-40), crash safety and lost wake-ups. Children are
 * started with the mpx_process API so the tests run under every start
 * method; shared test state travels as a memfd descriptor. */
#include "harness.h"
#include "queue_util.h"

#include "core/lockword.h"
#include "core/object.h"
#include "core/queue_internal.h"
#include "os/proc.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- basics ------------------------------------------------------------------ */

/* QUEUE-01: FIFO put/get in one process. */
MPX_TEST(queue_01_fifo_basic)
{
    mpx_queue *q = mkq(0, 0);
    char buf[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "message %d", i);
        put_str(q, buf);
    }
    CHECK_EQ(mpx_queue_qsize(q), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "message %d", i);
        get_expect(q, buf);
    }
    CHECK_EQ(mpx_queue_qsize(q), 0);
    CHECK_EQ(mpx_queue_empty(q), 1);
    mpx_queue_destroy(q);
}

/* A zero-byte message is a message (get returns a non-NULL pointer). */
MPX_TEST(queue_zero_byte_message)
{
    mpx_queue *q = mkq(0, 0);
    CHECK_OK(mpx_queue_put(q, NULL, 0, MPX_FOREVER));
    CHECK_OK(mpx_queue_put(q, "", 0, MPX_FOREVER));
    CHECK_EQ(mpx_queue_qsize(q), 2);
    void *m = NULL;
    size_t n = 99;
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
    CHECK(m != NULL);
    CHECK_EQ(n, 0);
    mpx_free(m);
    n = 99;
    CHECK_OK(mpx_queue_get_into(q, NULL, 0, &n, MPX_NOWAIT));
    CHECK_EQ(n, 0);
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    mpx_queue_destroy(q);
}

/* QUEUE-07/08: put with maxsize: nowait and timeout give Full. */
MPX_TEST(queue_07_put_full_nowait_and_timeout)
{
    mpx_queue *q = mkq(2, 0);
    CHECK_EQ(mpx_queue_maxsize(q), 2);
    CHECK_EQ(mpx_queue_full(q), 0);
    put_str(q, "a");
    CHECK_OK(mpx_queue_put_nowait(q, "b", 1));
    CHECK_EQ(mpx_queue_full(q), 1);
    CHECK_ERR(mpx_queue_put_nowait(q, "c", 1), MPX_EFULL);
    CHECK_ERR(mpx_queue_put(q, "c", 1, MPX_NOWAIT), MPX_EFULL);
    int64_t t0 = mpx_test_now_ms();
    CHECK_ERR(mpx_queue_put(q, "c", 1, 200), MPX_EFULL);
    int64_t dt = mpx_test_now_ms() - t0;
    CHECK(dt >= 180);
    CHECK(dt < 5000);
    CHECK_EQ(mpx_queue_qsize(q), 2);
    get_expect(q, "a");
    CHECK_OK(mpx_queue_put_nowait(q, "c", 1));
    get_expect(q, "b");
    get_expect(q, "c");
    mpx_queue_destroy(q);
}

/* QUEUE-09/10: get nowait and with timeout give Empty. */
MPX_TEST(queue_09_get_empty_nowait_and_timeout)
{
    mpx_queue *q = mkq(0, 0);
    void *m;
    size_t n;
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    CHECK_ERR(mpx_queue_get(q, &m, &n, MPX_NOWAIT), MPX_EEMPTY);
    int64_t t0 = mpx_test_now_ms();
    CHECK_ERR(mpx_queue_get(q, &m, &n, 200), MPX_EEMPTY);
    int64_t dt = mpx_test_now_ms() - t0;
    CHECK(dt >= 180);
    CHECK(dt < 5000);
    char b[4];
    CHECK_ERR(mpx_queue_get_into(q, b, sizeof b, &n, 50), MPX_EEMPTY);
    mpx_queue_destroy(q);
}

static int t_put_after(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    sleep_ms((int)mpx_args_int(a, 1));
    return mpx_queue_put(q, "late", 4, MPX_FOREVER) ? 1 : 0;
}

/* QUEUE-09: a blocked get with a timeout receives an item put later by a child. */
MPX_TEST(queue_09_get_timeout_receives)
{
    mpx_queue *q = mkq(0, 0);
    int64_t ms = 150;
    mpx_process *p = start_q(t_put_after, q, 1, &ms);
    void *m = NULL;
    size_t n = 0;
    CHECK_OK(mpx_queue_get(q, &m, &n, 10000));
    CHECK_EQ(n, 4);
    CHECK_MEMEQ(m, "late", 4);
    mpx_free(m);
    CHECK_EQ(join_destroy(p), 0);
    mpx_queue_destroy(q);
}

static int t_get_one(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    sleep_ms((int)mpx_args_int(a, 1));
    void *m;
    size_t n;
    int rc = mpx_queue_get(q, &m, &n, 10000);
    if (rc)
        return 2;
    mpx_free(m);
    return 0;
}

/* QUEUE-07: a blocked put waits for room made by a consumer in a child. */
MPX_TEST(queue_07_put_blocks_until_room)
{
    mpx_queue *q = mkq(1, 0);
    put_str(q, "first");
    int64_t ms = 150;
    mpx_process *p = start_q(t_get_one, q, 1, &ms);
    /* maxsize 1 and "first" queued: this put succeeds only once the
     * child has made room. */
    CHECK_OK(mpx_queue_put(q, "second", 6, 20000));
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_queue_qsize(q), 1);
    get_expect(q, "second");
    mpx_queue_destroy(q);
}

/* QUEUE-05/06: qsize, empty, full. */
MPX_TEST(queue_05_qsize_empty_full)
{
    mpx_queue *q = mkq(3, 0);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    CHECK_EQ(mpx_queue_empty(q), 1);
    CHECK_EQ(mpx_queue_full(q), 0);
    put_str(q, "x");
    CHECK_EQ(mpx_queue_qsize(q), 1);
    CHECK_EQ(mpx_queue_empty(q), 0);
    put_str(q, "y");
    put_str(q, "z");
    CHECK_EQ(mpx_queue_qsize(q), 3);
    CHECK_EQ(mpx_queue_full(q), 1);
    get_expect(q, "x");
    CHECK_EQ(mpx_queue_qsize(q), 2);
    CHECK_EQ(mpx_queue_full(q), 0);
    mpx_queue_destroy(q);
}

/* QUEUE-02 with MPX_QUEUE_NO_OVERFLOW: maxsize <= 0 is unbounded in items;
 * the ring bounds memory, so a put into a full ring waits (and nowait
 * reports Full). */
MPX_TEST(queue_02_ring_only_ring_bounds_memory)
{
    mpx_queue *q = mkq_ring(-5, 4096);
    CHECK_EQ(mpx_queue_maxsize(q), 0);
    unsigned char b[100];
    int n = 0;
    int rc;
    while ((rc = mpx_queue_put_nowait(q, b, sizeof b)) == 0)
        n++;
    CHECK_ERR(rc, MPX_EFULL);
    CHECK(n >= 20 && n <= 40);
    CHECK_EQ(mpx_queue_qsize(q), n);
    while (mpx_queue_put_nowait(q, NULL, 0) == 0)
        n++;
    CHECK_EQ(mpx_queue_full(q), 1);
    CHECK_EQ(mpx_queue_qsize(q), n);
    mpx_queue_destroy(q);
    /* Without a ring limit in sight, many small items are fine. */
    q = mkq(0, 0);
    for (int i = 0; i < 20000; i++)
        CHECK_OK(mpx_queue_put_nowait(q, &i, sizeof i));
    CHECK_EQ(mpx_queue_qsize(q), 20000);
    mpx_queue_destroy(q);
}

/* The default ring is 4 MiB: a message up to its size minus 96 bytes is
 * queued whole, so one thread may put it and then get it back. */
MPX_TEST(queue_default_ring_holds_3mib_message)
{
    mpx_queue *q = mkq(0, 0);
    size_t n = (size_t)3 << 20;
    unsigned char *b = malloc(n);
    CHECK(b != NULL);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 7 + (i >> 12));
    CHECK_OK(mpx_queue_put(q, b, n, MPX_NOWAIT));
    CHECK_EQ(mpx_queue_qsize(q), 1);
    void *m;
    size_t got;
    CHECK_OK(mpx_queue_get_nowait(q, &m, &got));
    CHECK_EQ(got, n);
    CHECK(memcmp(m, b, n) == 0);
    mpx_free(m);
    free(b);
    mpx_queue_destroy(q);
}

/* get_into: ETOOSHORT keeps the message. */
MPX_TEST(queue_get_into_tooshort_keeps_message)
{
    mpx_queue *q = mkq(0, 0);
    put_str(q, "hello world");
    char b[4];
    size_t n = 0;
    CHECK_ERR(mpx_queue_get_into(q, b, sizeof b, &n, MPX_NOWAIT), MPX_ETOOSHORT);
    CHECK_EQ(n, 11);
    CHECK_EQ(mpx_queue_qsize(q), 1);
    char big[32];
    CHECK_OK(mpx_queue_get_into(q, big, sizeof big, &n, MPX_NOWAIT));
    CHECK_EQ(n, 11);
    CHECK_MEMEQ(big, "hello world", 11);
    mpx_queue_destroy(q);
}

/* Bad input never crashes. */
MPX_TEST(queue_bad_input)
{
    void *m;
    size_t n;
    char junk[256] = {0};
    CHECK_ERR(mpx_queue_create(NULL, 0, NULL), MPX_EINVAL);
    mpx_queue_opts o = {0};
    o.ring_bytes = (size_t)1 << 40;
    mpx_queue *q = NULL;
    CHECK_ERR(mpx_queue_create(&q, 0, &o), MPX_EINVAL);
    CHECK(q == NULL);
    CHECK_ERR(mpx_queue_put(NULL, "a", 1, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_put((mpx_queue *)junk, "a", 1, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_get(NULL, &m, &n, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_get((mpx_queue *)junk, &m, &n, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_qsize(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_queue_empty(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_queue_full(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_queue_close(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_queue_task_done(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_queue_join(NULL, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_join_thread(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_queue_cancel_join_thread(NULL), MPX_EINVAL);
    mpx_queue_destroy(NULL);
    mpx_queue_destroy((mpx_queue *)junk);
    mpx_simple_queue_destroy(NULL);
    q = mkq(0, 0);
    CHECK_ERR(mpx_queue_put(q, NULL, 5, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_get(q, NULL, &n, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_get(q, &m, NULL, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_get_into(q, NULL, 5, &n, 0), MPX_EINVAL);
    /* task_done/join on a plain Queue (QUEUE-04: not there in Python). */
    CHECK_ERR(mpx_queue_task_done(q), MPX_ENOTSUP);
    CHECK_ERR(mpx_queue_join(q, 0), MPX_ENOTSUP);
    CHECK_ERR(mpx_queue_unfinished(q), MPX_ENOTSUP);
    mpx_queue_destroy(q);
}

/* ---- close, join_thread (QUEUE-13..16) ----------------------------------------- */

static int t_get_two_open(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    if (mpx_queue_is_closed(q) != 0 || mpx_queue_join_thread(q) != MPX_ESTATE)
        return 1; /* a child's handle is open, as in Python */
    const char *want[2] = {"one", "two"};
    for (int i = 0; i < 2; i++) {
        void *m;
        size_t n;
        if (mpx_queue_get(q, &m, &n, 10000))
            return 2;
        int ok = n == strlen(want[i]) && memcmp(m, want[i], n) == 0;
        mpx_free(m);
        if (!ok)
            return 3;
    }
    return mpx_queue_put(q, "from the child", 14, MPX_FOREVER) ? 4 : 0;
}

/* QUEUE-13/14/16: close() concerns this handle in this process only: its
 * puts and gets return MPX_ECLOSED (Python's ValueError "Queue is closed"),
 * join_thread is allowed after it, and the messages stay queued for the
 * others: a child started afterwards has an open handle and gets them. */
MPX_TEST(queue_13_close_is_this_process_only)
{
    mpx_queue *q = mkq(0, 0);
    put_str(q, "one");
    put_str(q, "two");
    CHECK_EQ(mpx_queue_is_closed(q), 0);
    CHECK_ERR(mpx_queue_join_thread(q), MPX_ESTATE); /* QUEUE-14: only after close */
    CHECK_OK(mpx_queue_close(q));
    CHECK_OK(mpx_queue_close(q)); /* twice is fine */
    CHECK_EQ(mpx_queue_is_closed(q), 1);
    CHECK_EQ(mpx_queue_is_shutdown(q), 0);
    void *m;
    size_t n;
    char b[8];
    CHECK_ERR(mpx_queue_put(q, "three", 5, MPX_FOREVER), MPX_ECLOSED);
    CHECK_ERR(mpx_queue_put_nowait(q, "three", 5), MPX_ECLOSED);
    CHECK_ERR(mpx_queue_get(q, &m, &n, MPX_FOREVER), MPX_ECLOSED);
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_ECLOSED);
    CHECK_ERR(mpx_queue_get_into(q, b, sizeof b, &n, 10), MPX_ECLOSED);
    CHECK_EQ(mpx_queue_qsize(q), 2);
    CHECK_OK(mpx_queue_join_thread(q));        /* nothing to flush */
    CHECK_OK(mpx_queue_cancel_join_thread(q)); /* QUEUE-16: no-op */
    mpx_waitable w = {q, -1, 0};
    CHECK_ERR(mpx_wait(&w, 1, 0), MPX_ECLOSED);
    mpx_process *p = start_q(t_get_two_open, q, 0, NULL);
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_queue_qsize(q), 1); /* "from the child" */
    mpx_queue_destroy(q);
}

static void *thr_blocked_get(void *p)
{
    void *m;
    size_t n;
    return (void *)(intptr_t)mpx_queue_get(p, &m, &n, MPX_FOREVER);
}

/* A thread waiting in a get through a handle that another thread of the
 * process closes returns MPX_ECLOSED. */
MPX_TEST(queue_13_close_wakes_this_process_threads)
{
    mpx_queue *q = mkq(0, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thr_blocked_get, q), 0);
    sleep_ms(100);
    CHECK_OK(mpx_queue_close(q));
    void *r = NULL;
    CHECK_EQ(pthread_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, MPX_ECLOSED);
    mpx_queue_destroy(q);
}

/* mpx_queue_shutdown (Python 3.13's Queue.shutdown): for everyone; puts
 * fail, gets drain what is left and then return MPX_ESHUTDOWN. */
MPX_TEST(queue_shutdown_drains_then_shutdown)
{
    mpx_queue *q = mkq(0, 0);
    put_str(q, "one");
    put_str(q, "two");
    CHECK_EQ(mpx_queue_is_shutdown(q), 0);
    CHECK_OK(mpx_queue_shutdown(q, 0));
    CHECK_OK(mpx_queue_shutdown(q, 0)); /* twice is fine */
    CHECK_EQ(mpx_queue_is_shutdown(q), 1);
    CHECK_EQ(mpx_queue_is_closed(q), 0);
    CHECK_ERR(mpx_queue_put(q, "three", 5, MPX_FOREVER), MPX_ESHUTDOWN);
    CHECK_ERR(mpx_queue_put_nowait(q, "three", 5), MPX_ESHUTDOWN);
    get_expect(q, "one");
    get_expect(q, "two");
    void *m;
    size_t n;
    CHECK_ERR(mpx_queue_get(q, &m, &n, MPX_FOREVER), MPX_ESHUTDOWN);
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_ESHUTDOWN);
    CHECK_ERR(mpx_queue_shutdown(NULL, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_is_shutdown(NULL), MPX_EINVAL);
    mpx_queue_destroy(q);
}

/* shutdown(immediate): what is left is dropped, its memory returned, gets
 * end at once, and a JoinableQueue counts the dropped messages as done. */
MPX_TEST(queue_shutdown_immediate_drops)
{
    mpx_queue *q;
    mpx_queue_opts o = {0};
    o.ring_bytes = 4096;
    CHECK_OK(mpx_joinable_queue_create(&q, 0, &o));
    for (int i = 0; i < 100; i++) /* most go to the overflow store */
        CHECK_OK(mpx_queue_put(q, &i, sizeof i, MPX_FOREVER));
    unsigned char *big = malloc(1 << 20);
    CHECK(big != NULL);
    memset(big, 7, 1 << 20);
    CHECK_OK(mpx_queue_put(q, big, 1 << 20, MPX_FOREVER));
    free(big);
    void *m;
    size_t n;
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT)); /* got, not done */
    mpx_free(m);
    CHECK_EQ(mpx_queue_unfinished(q), 101);
    CHECK_OK(mpx_queue_shutdown(q, 0));
    CHECK_OK(mpx_queue_shutdown(q, 1)); /* immediate after a plain one */
    CHECK_EQ(mpx_queue_qsize(q), 0);
    CHECK_ERR(mpx_queue_get(q, &m, &n, MPX_FOREVER), MPX_ESHUTDOWN);
    CHECK_ERR(mpx_queue_put(q, "x", 1, MPX_FOREVER), MPX_ESHUTDOWN);
    CHECK_EQ(mpx_queue_unfinished(q), 1); /* the one got */
    CHECK_EQ(mpx_queue_join(q, 50), 0); /* timed out: not all done */
    CHECK_OK(mpx_queue_task_done(q));
    CHECK_EQ(mpx_queue_join(q, 1000), 1);
    mpx_queue_destroy(q);
}

static int t_blocked_get(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    void *m;
    size_t n;
    int rc = mpx_queue_get(q, &m, &n, MPX_FOREVER);
    return rc == MPX_ESHUTDOWN ? 0 : 3;
}

static int t_blocked_put(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    int rc = mpx_queue_put(q, "x", 1, MPX_FOREVER);
    return rc == MPX_ESHUTDOWN ? 0 : 3;
}

/* shutdown wakes blocked getters and putters in other processes; a plain
 * close in the parent does not. */
MPX_TEST(queue_shutdown_wakes_waiters)
{
    mpx_queue *q = mkq(0, 0);
    mpx_queue *full = mkq(1, 0);
    put_str(full, "occupied");
    mpx_process *g = start_q(t_blocked_get, q, 0, NULL);
    mpx_process *p = start_q(t_blocked_put, full, 0, NULL);
    sleep_ms(200);
    CHECK_OK(mpx_queue_close(q));
    CHECK_OK(mpx_queue_close(full));
    sleep_ms(100);
    CHECK_EQ(mpx_process_is_alive(g), 1);
    CHECK_EQ(mpx_process_is_alive(p), 1);
    CHECK_OK(mpx_queue_shutdown(q, 0));
    CHECK_OK(mpx_queue_shutdown(full, 0));
    CHECK_EQ(join_destroy(g), 0);
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_queue_qsize(full), 1);
    mpx_queue_destroy(q);
    mpx_queue_destroy(full);
}

/* ---- messages larger than the ring ------------------------------------------------ */

static int t_put_big(const mpx_args *a)
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

static void big_roundtrip(size_t ring, size_t len, int count, int64_t overflow)
{
    mpx_queue *q = mkq_ovf(0, ring, overflow);
    int64_t args[2] = {(int64_t)len, count};
    mpx_process *p = start_q(t_put_big, q, 2, args);
    for (int i = 0; i < count; i++) {
        void *m = NULL;
        size_t n = 0;
        CHECK_OK(mpx_queue_get(q, &m, &n, 60000));
        CHECK_EQ(n, len);
        CHECK(check_fill(m, n, len, (uint64_t)i));
        mpx_free(m);
    }
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    mpx_queue_destroy(q);
}

/* 64 MiB from a child: streamed through the default 4 MiB ring (ring
 * only), or through the overflow store. */
MPX_TEST_T(queue_big_64mib_message, 120)
{
    big_roundtrip(0, (size_t)64 << 20, 1, MPX_QUEUE_NO_OVERFLOW);
    big_roundtrip(0, (size_t)64 << 20, 1, 0);
}

/* Many messages larger than a small ring, and messages just around the
 * single-record limit; both modes. */
MPX_TEST_T(queue_big_messages_small_ring, 120)
{
    for (int k = 0; k < 2; k++) {
        int64_t ovf = k ? 0 : MPX_QUEUE_NO_OVERFLOW;
        big_roundtrip(4096, 100000, 20, ovf);
        big_roundtrip(65536, 65536 - 64 - 24 - 8, 30, ovf);
        big_roundtrip(65536, 65536 - 64 - 24 - 7, 30, ovf);
        big_roundtrip(65536, (size_t)3 << 20, 3, ovf);
    }
}

/* 1 MiB messages (the bandwidth case) stay intact. */
MPX_TEST_T(queue_1mib_messages, 60)
{
    big_roundtrip(0, (size_t)1 << 20, 50, 0);
}

/* get_into of a streamed message: too short keeps it; then it arrives. */
MPX_TEST_T(queue_big_get_into, 60)
{
    mpx_queue *q = mkq_ring(0, 8192);
    int64_t args[2] = {50000, 1};
    mpx_process *p = start_q(t_put_big, q, 2, args);
    char small[100];
    size_t n = 0;
    int rc;
    while ((rc = mpx_queue_get_into(q, small, sizeof small, &n, 100)) == MPX_EEMPTY)
        ;
    CHECK_ERR(rc, MPX_ETOOSHORT);
    CHECK_EQ(n, 50000);
    unsigned char *big = malloc(60000);
    CHECK_OK(mpx_queue_get_into(q, big, 60000, &n, 30000));
    CHECK_EQ(n, 50000);
    CHECK(check_fill(big, n, 50000, 0));
    free(big);
    CHECK_EQ(join_destroy(p), 0);
    mpx_queue_destroy(q);
}

/* A put of a message larger than the ring with nobody reading times out
 * and leaves nothing behind; a later consumer sees the next message. */
MPX_TEST_T(queue_big_put_timeout_leaves_nothing, 60)
{
    mpx_queue *q = mkq_ring(0, 4096);
    unsigned char *b = malloc(20000);
    fill(b, 20000, 1, 2);
    CHECK_ERR(mpx_queue_put(q, b, 20000, 100), MPX_EFULL);
    CHECK_ERR(mpx_queue_put_nowait(q, b, 20000), MPX_EFULL);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    put_str(q, "after");
    get_expect(q, "after");
    void *m;
    size_t n;
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    free(b);
    mpx_queue_destroy(q);
}

/* ---- passing to children (EX-04, EX-06) ---------------------------------------------- */

static int t_echo(const mpx_args *a)
{
    mpx_queue *in = mpx_args_object(a, 0);
    mpx_queue *out = mpx_args_object(a, 1);
    void *m;
    size_t n;
    for (;;) {
        int rc = mpx_queue_get(in, &m, &n, 10000);
        if (rc == MPX_ESHUTDOWN)
            return 0;
        if (rc)
            return 6;
        rc = mpx_queue_put(out, m, n, 10000);
        mpx_free(m);
        if (rc)
            return 7;
    }
}

/* PROC-03 + QUEUE-01: queues pass to children; the child echoes. */
MPX_TEST(queue_pass_to_child_echo)
{
    mpx_queue *in = mkq(0, 0), *out = mkq(0, 0);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, in));
    CHECK_OK(mpx_args_add_object(a, out));
    void *o = NULL;
    CHECK_OK(mpx_args_get_object(a, 0, "queue", &o));
    CHECK(o == in);
    mpx_process *p = start_args(t_echo, a);
    mpx_args_destroy(a);
    char buf[32];
    for (int i = 0; i < 200; i++) {
        snprintf(buf, sizeof buf, "m%d", i);
        put_str(in, buf);
    }
    for (int i = 0; i < 200; i++) {
        snprintf(buf, sizeof buf, "m%d", i);
        get_expect(out, buf);
    }
    CHECK_OK(mpx_queue_shutdown(in, 0));
    CHECK_EQ(join_destroy(p), 0);
    mpx_queue_destroy(in);
    mpx_queue_destroy(out);
}

static int t_ex06(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    const char *s = "[42, None, 'hello']";
    return mpx_queue_put(q, s, strlen(s), MPX_FOREVER) ? 1 : 0;
}

/* EX-04/EX-06: the child puts a message, the parent prints it. */
MPX_TEST(queue_ex06_child_puts_list)
{
    mpx_queue *q = mkq(0, 0);
    mpx_process *p = start_q(t_ex06, q, 0, NULL);
    get_expect(q, "[42, None, 'hello']");
    CHECK_EQ(join_destroy(p), 0);
    mpx_queue_destroy(q);
}

static int t_put_1mb_exit(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    size_t len = 1000000;
    char *b = malloc(len);
    if (!b)
        return 4;
    memset(b, 'X', len);
    int rc = mpx_queue_put(q, b, len, MPX_FOREVER);
    free(b);
    return rc ? 1 : 0;
}

/* GUIDE-07, EX-33, QUEUE-15: join before get cannot deadlock: a put has
 * written its message when it returns and the child exits at once. The
 * message (1 MB, smaller than the 4 MiB ring) is waiting afterwards. */
MPX_TEST(queue_guide07_join_before_get_no_deadlock)
{
    mpx_queue *q = mkq(0, 0);
    mpx_process *p = start_q(t_put_1mb_exit, q, 0, NULL);
    CHECK_EQ(mpx_process_join(p, 20000), 1);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, 0);
    mpx_process_destroy(p);
    void *m = NULL;
    size_t n = 0;
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
    CHECK_EQ(n, 1000000);
    CHECK(((char *)m)[0] == 'X' && ((char *)m)[n - 1] == 'X');
    mpx_free(m);
    mpx_queue_destroy(q);
}

/* ---- MPMC with per-producer order (QUEUE-12) ------------------------------------------- */

typedef struct pmsg {
    uint32_t prod, len;
    uint64_t seq;
} pmsg;

static size_t msg_len(uint64_t prod, uint64_t seq)
{
    uint64_t r = mix64(prod * 7919 + seq);
    if (r % 50 == 0)
        return sizeof(pmsg) + (size_t)(r >> 20) % 30000; /* some larger than a 16 KiB ring */
    return sizeof(pmsg) + (size_t)(r >> 20) % 300;
}

static void make_msg(unsigned char *b, uint32_t prod, uint64_t seq, size_t *len)
{
    size_t n = msg_len(prod, seq);
    pmsg h = {prod, (uint32_t)n, seq};
    memcpy(b, &h, sizeof h);
    fill(b + sizeof h, n - sizeof h, prod, seq);
    *len = n;
}

/* 0 ok, else why not. */
static int verify_msg(const unsigned char *b, size_t n, pmsg *out)
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

static int t_producer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    uint32_t prod = (uint32_t)mpx_args_int(a, 1);
    int64_t count = mpx_args_int(a, 2);
    unsigned char *b = malloc(40000);
    for (int64_t i = 0; i < count; i++) {
        size_t n;
        make_msg(b, prod, (uint64_t)i, &n);
        if (mpx_queue_put(q, b, n, 30000)) {
            free(b);
            return 8;
        }
    }
    free(b);
    return 0;
}

/* Consumer: reads until closed; checks content and per-producer order;
 * reports count and a sum per producer on the result queue. */
static int t_consumer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    mpx_queue *res = mpx_args_object(a, 1);
    int nprod = (int)mpx_args_int(a, 2);
    int64_t last[8], cnt[8];
    uint64_t sum[8];
    for (int i = 0; i < 8; i++) {
        last[i] = -1;
        cnt[i] = 0;
        sum[i] = 0;
    }
    for (;;) {
        void *m;
        size_t n;
        int rc = mpx_queue_get(q, &m, &n, 30000);
        if (rc == MPX_ESHUTDOWN)
            break;
        if (rc)
            return 10;
        pmsg h;
        int v = verify_msg(m, n, &h);
        mpx_free(m);
        if (v)
            return 20 + v;
        if (h.prod >= (uint32_t)nprod)
            return 11;
        if ((int64_t)h.seq <= last[h.prod])
            return 12; /* per-producer order broken */
        last[h.prod] = (int64_t)h.seq;
        cnt[h.prod]++;
        sum[h.prod] += h.seq;
    }
    int64_t out[16];
    for (int i = 0; i < 8; i++) {
        out[i] = cnt[i];
        out[8 + i] = (int64_t)sum[i];
    }
    return mpx_queue_put(res, out, sizeof out, 10000) ? 13 : 0;
}

static void mpmc(int nprod, int ncons, int64_t per, size_t ring, int64_t maxsize, int64_t ovf)
{
    mpx_queue *q = mkq_ovf(maxsize, ring, ovf), *res = mkq(0, 0);
    mpx_process *pp[8], *cp[8];
    for (int i = 0; i < ncons; i++) {
        cp[i] = start_objs_int(t_consumer, q, res, nprod);
    }
    for (int i = 0; i < nprod; i++) {
        int64_t args[2] = {i, per};
        pp[i] = start_q(t_producer, q, 2, args);
    }
    for (int i = 0; i < nprod; i++)
        CHECK_EQ(join_destroy(pp[i]), 0);
    CHECK_OK(mpx_queue_shutdown(q, 0));
    int64_t cnt[8] = {0};
    uint64_t sum[8] = {0};
    for (int i = 0; i < ncons; i++) {
        int64_t out[16];
        size_t n;
        CHECK_OK(mpx_queue_get_into(res, out, sizeof out, &n, 60000));
        CHECK_EQ(n, sizeof out);
        for (int k = 0; k < 8; k++) {
            cnt[k] += out[k];
            sum[k] += (uint64_t)out[8 + k];
        }
    }
    for (int i = 0; i < ncons; i++)
        CHECK_EQ(join_destroy(cp[i]), 0);
    for (int k = 0; k < nprod; k++) {
        CHECK_EQ(cnt[k], per);
        CHECK_EQ(sum[k], (uint64_t)(per * (per - 1) / 2));
    }
    mpx_queue_destroy(q);
    mpx_queue_destroy(res);
}

/* QUEUE-01/12: 3 producers, 2 consumers, mixed sizes (some larger than
 * the ring: in the overflow store, or streamed when ring only). */
MPX_TEST_T(queue_12_mpmc_per_producer_order, 120)
{
    mpmc(3, 2, 3000, 16384, 0, 0);
    mpmc(3, 2, 2000, 16384, 0, MPX_QUEUE_NO_OVERFLOW);
}

/* The same with maxsize 1 and the default ring. */
MPX_TEST_T(queue_12_mpmc_maxsize_1, 120)
{
    mpmc(2, 2, 1500, 0, 1, 0);
}

/* Threads of one process are producers and consumers too (QUEUE-01). */
typedef struct thr_arg {
    mpx_queue *q;
    int id;
    int n;
    int bad;
    int64_t got;
} thr_arg;

static void *thr_put(void *p)
{
    thr_arg *t = p;
    for (int i = 0; i < t->n; i++) {
        int64_t v[2] = {t->id, i};
        if (mpx_queue_put(t->q, v, sizeof v, 30000))
            t->bad++;
    }
    return NULL;
}

static void *thr_get(void *p)
{
    thr_arg *t = p;
    int64_t last[4] = {-1, -1, -1, -1};
    for (;;) {
        int64_t v[2];
        size_t n;
        int rc = mpx_queue_get_into(t->q, v, sizeof v, &n, 30000);
        if (rc == MPX_ESHUTDOWN)
            break;
        if (rc || n != sizeof v || v[0] < 0 || v[0] > 3 || v[1] <= last[v[0]]) {
            t->bad++;
            break;
        }
        last[v[0]] = v[1];
        t->got++;
    }
    return NULL;
}

MPX_TEST_T(queue_12_threads_mpmc, 60)
{
    mpx_queue *q = mkq(8, 4096);
    pthread_t tp[4], tc[2];
    thr_arg ap[4], ac[2];
    for (int i = 0; i < 2; i++) {
        ac[i] = (thr_arg){q, i, 0, 0, 0};
        pthread_create(&tc[i], NULL, thr_get, &ac[i]);
    }
    for (int i = 0; i < 4; i++) {
        ap[i] = (thr_arg){q, i, 5000, 0, 0};
        pthread_create(&tp[i], NULL, thr_put, &ap[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(tp[i], NULL);
        CHECK_EQ(ap[i].bad, 0);
    }
    CHECK_OK(mpx_queue_shutdown(q, 0));
    int64_t got = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(tc[i], NULL);
        CHECK_EQ(ac[i].bad, 0);
        got += ac[i].got;
    }
    CHECK_EQ(got, 20000);
    mpx_queue_destroy(q);
}

/* ---- JoinableQueue (QUEUE-21..24) ------------------------------------------------------- */

static int t_jworker(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    for (;;) {
        void *m;
        size_t n;
        int rc = mpx_queue_get(q, &m, &n, MPX_FOREVER);
        if (rc == MPX_ESHUTDOWN)
            return 0;
        if (rc)
            return 1;
        mpx_free(m);
        sleep_ms(1);
        if (mpx_queue_task_done(q))
            return 2;
    }
}

MPX_TEST(queue_22_joinable_task_done_join)
{
    mpx_queue *q;
    CHECK_OK(mpx_joinable_queue_create(&q, 0, NULL));
    CHECK_ERR(mpx_queue_task_done(q), MPX_ESTATE); /* more than put */
    CHECK_EQ(mpx_queue_join(q, MPX_NOWAIT), 1);       /* nothing unfinished */
    for (int i = 0; i < 50; i++)
        CHECK_OK(mpx_queue_put(q, &i, sizeof i, MPX_FOREVER));
    CHECK_EQ(mpx_queue_unfinished(q), 50);
    CHECK_EQ(mpx_queue_join(q, 100), 0);
    mpx_process *w[2];
    for (int i = 0; i < 2; i++)
        w[i] = start_q(t_jworker, q, 0, NULL);
    CHECK_EQ(mpx_queue_join(q, 30000), 1); /* QUEUE-23 */
    CHECK_EQ(mpx_queue_unfinished(q), 0);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    CHECK_ERR(mpx_queue_task_done(q), MPX_ESTATE); /* QUEUE-22: ValueError */
    CHECK_OK(mpx_queue_shutdown(q, 0));
    for (int i = 0; i < 2; i++)
        CHECK_EQ(join_destroy(w[i]), 0);
    mpx_queue_destroy(q);
}

/* A consumer that calls task_done the moment it has an item: the put is
 * counted before the item can be got (Python counts it in put()), so
 * task_done never finds "more than put" and join() returns. Found by the
 * thread run under TSan: the count was published after the data, and a
 * consumer quick enough between the two stores made task_done fail and
 * join() wait forever. */
static int t_jquick(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    int64_t n = mpx_args_int(a, 1);
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        size_t len;
        int rc = mpx_queue_get_into(q, &v, sizeof v, &len, MPX_FOREVER);
        if (rc)
            return 1;
        if (v != i)
            return 2;
        if (mpx_queue_task_done(q))
            return 3;
    }
    return 0;
}

MPX_TEST_T(queue_22_task_done_right_after_get, 120)
{
    enum { N = 50000 };
    mpx_queue *q;
    CHECK_OK(mpx_joinable_queue_create(&q, 0, NULL));
    int64_t n = N;
    mpx_process *c = start_q(t_jquick, q, 1, &n);
    for (int64_t i = 0; i < N; i++)
        CHECK_OK(mpx_queue_put(q, &i, sizeof i, MPX_FOREVER));
    CHECK_EQ(join_destroy(c), 0); /* every task_done succeeded */
    CHECK_EQ(mpx_queue_join(q, 60000), 1);
    CHECK_EQ(mpx_queue_unfinished(q), 0);
    mpx_queue_destroy(q);
}

/* task_done may be called for items not yet got (Python allows it) but
 * never more times than items put. */
MPX_TEST(queue_22_task_done_count)
{
    mpx_queue *q;
    CHECK_OK(mpx_joinable_queue_create(&q, 2, NULL));
    put_str(q, "a");
    CHECK_OK(mpx_queue_task_done(q));
    CHECK_ERR(mpx_queue_task_done(q), MPX_ESTATE);
    CHECK_EQ(mpx_queue_join(q, 1000), 1);
    get_expect(q, "a");
    mpx_queue_destroy(q);
}

/* ---- SimpleQueue (QUEUE-19/20) ------------------------------------------------------------ */

static int t_simple_child(const mpx_args *a)
{
    mpx_simple_queue *q = mpx_args_object(a, 0);
    for (int i = 0; i < 100; i++)
        if (mpx_simple_queue_put(q, &i, sizeof i))
            return 1;
    return 0;
}

MPX_TEST(simplequeue_19_put_get_empty_close)
{
    mpx_simple_queue *q;
    CHECK_OK(mpx_simple_queue_create(&q, NULL));
    CHECK_EQ(mpx_simple_queue_empty(q), 1);
    CHECK_OK(mpx_simple_queue_put(q, "hi", 2));
    CHECK_EQ(mpx_simple_queue_empty(q), 0);
    void *m;
    size_t n;
    CHECK_OK(mpx_simple_queue_get(q, &m, &n));
    CHECK_EQ(n, 2);
    CHECK_MEMEQ(m, "hi", 2);
    mpx_free(m);
    mpx_process *p = start_q(t_simple_child, q, 0, NULL);
    for (int i = 0; i < 100; i++) {
        int v = -1;
        CHECK_OK(mpx_simple_queue_get_into(q, &v, sizeof v, &n));
        CHECK_EQ(n, sizeof v);
        CHECK_EQ(v, i);
    }
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_simple_queue_empty(q), 1);
    mpx_simple_queue_destroy(q);
}

static int t_simple_after_close(const mpx_args *a)
{
    mpx_simple_queue *q = mpx_args_object(a, 0);
    void *m;
    size_t n;
    if (mpx_simple_queue_get(q, &m, &n))
        return 1;
    int ok = n == 1 && memcmp(m, "z", 1) == 0;
    mpx_free(m);
    if (!ok)
        return 2;
    if (mpx_simple_queue_put(q, "w", 1))
        return 3;
    if (mpx_simple_queue_close(q) || mpx_simple_queue_put(q, "v", 1) != MPX_ECLOSED)
        return 4;
    return 0;
}

/* QUEUE-20 (3.9+): SimpleQueue.close closes this handle's ends in this
 * process: put and get on it fail (MPX_ECLOSED); the queue and what is in
 * it stay for the other processes. */
MPX_TEST(simplequeue_20_close_is_this_process_only)
{
    mpx_simple_queue *q;
    CHECK_OK(mpx_simple_queue_create(&q, NULL));
    CHECK_OK(mpx_simple_queue_put(q, "z", 1));
    CHECK_OK(mpx_simple_queue_close(q));
    CHECK_OK(mpx_simple_queue_close(q)); /* twice is fine */
    void *m;
    size_t n;
    char b[4];
    CHECK_ERR(mpx_simple_queue_put(q, "y", 1), MPX_ECLOSED);
    CHECK_ERR(mpx_simple_queue_get(q, &m, &n), MPX_ECLOSED);
    CHECK_ERR(mpx_simple_queue_get_into(q, b, sizeof b, &n), MPX_ECLOSED);
    CHECK_EQ(mpx_simple_queue_empty(q), 0);
    mpx_process *p = start_q(t_simple_after_close, q, 0, NULL);
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_simple_queue_empty(q), 0); /* "w" from the child */
    CHECK_ERR(mpx_simple_queue_close(NULL), MPX_EINVAL);
    mpx_simple_queue_destroy(q);
}

/* ---- mpx_wait hooks ------------------------------------------------------------------------ */

static int fd_readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, 0);
    return r > 0 && (p.revents & POLLIN);
}

static int fd_wait(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, ms);
    return r > 0 && (p.revents & POLLIN);
}

MPX_TEST(queue_wait_hooks)
{
    mpx_queue *q = mkq(0, 0);
    mpx__obj *o = mpx__obj_of(q);
    CHECK(o != NULL);
    CHECK(o->type->wait_fd && o->type->ready);
    CHECK_STREQ(o->type->name, "queue");
    int fd = o->type->wait_fd(q);
    CHECK(fd >= 0);
    CHECK_EQ(o->type->ready(q), 0);
    CHECK_EQ(fd_readable(fd), 0);
    /* A child's put makes the descriptor readable. */
    int64_t ms = 100;
    mpx_process *p = start_q(t_put_after, q, 1, &ms);
    CHECK_EQ(fd_wait(fd, 10000), 1);
    CHECK_EQ(o->type->ready(q), 1);
    CHECK_EQ(join_destroy(p), 0);
    get_expect(q, "late");
    CHECK_EQ(o->type->ready(q), 0);
    CHECK_EQ(fd_readable(fd), 0);
    /* Non-empty before interest: wait_fd itself makes it readable. */
    put_str(q, "x");
    put_str(q, "y");
    CHECK_EQ(fd_readable(fd), 1);
    get_expect(q, "x");
    CHECK_EQ(o->type->ready(q), 1);
    CHECK_EQ(fd_readable(fd), 1);
    get_expect(q, "y");
    CHECK_EQ(o->type->ready(q), 0);
    CHECK_EQ(fd_readable(fd), 0);
    /* Shut down counts as ready (a get returns at once). */
    CHECK_OK(mpx_queue_shutdown(q, 0));
    CHECK_EQ(fd_readable(fd), 1);
    CHECK_EQ(o->type->ready(q), 1);
    /* A closed handle cannot be waited on (mpx_wait: MPX_ECLOSED). */
    CHECK_OK(mpx_queue_close(q));
    CHECK_EQ(o->type->wait_fd(q), -1);
    mpx_queue_destroy(q);
}

/* ---- lost wake-ups with spinning disabled (baselines note 3) ----------------------------------- */

static int t_pingpong(const mpx_args *a)
{
    mpx_queue *in = mpx_args_object(a, 0);
    mpx_queue *out = mpx_args_object(a, 1);
    int64_t n = mpx_args_int(a, 2);
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        size_t len;
        if (mpx_queue_get_into(in, &v, sizeof v, &len, 10000))
            return 1;
        if (v != i)
            return 2;
        v++;
        if (mpx_queue_put(out, &v, sizeof v, 10000))
            return 3;
    }
    return 0;
}

MPX_TEST_T(queue_lost_wakeup_stress_nospin, 120)
{
    setenv("MPX_QUEUE_SPIN", "0", 1);
    mpx_queue *a = mkq(1, 4096), *b = mkq(1, 4096);
    const int64_t N = 5000;
    mpx_process *p = start_objs_int(t_pingpong, a, b, N);
    int64_t t0 = mpx_test_now_ms();
    for (int64_t i = 0; i < N; i++) {
        CHECK_OK(mpx_queue_put(a, &i, sizeof i, 10000));
        int64_t v;
        size_t len;
        CHECK_OK(mpx_queue_get_into(b, &v, sizeof v, &len, 10000));
        CHECK_EQ(v, i + 1);
        if (mpx_test_now_ms() - t0 > 90000)
            FAIL("too slow: %lld round trips", (long long)i);
    }
    CHECK_EQ(join_destroy(p), 0);
    mpx_queue_destroy(a);
    mpx_queue_destroy(b);
    /* Many producers and consumers through maxsize 1, no spinning: every
     * wake-up matters. */
    mpmc(3, 3, 1000, 4096, 1, 0);
    unsetenv("MPX_QUEUE_SPIN");
}

/* ---- crash safety: SIGKILL producers and consumers at random points ----------------------------- */

#define CS_PRODS 64
#define CS_MAXSEQ 200000

typedef struct cs_shared {
    _Atomic int64_t acked[CS_PRODS];   /* last seq whose put returned 0 */
    _Atomic int stop;
    _Atomic int bad;                    /* consumer found a broken message */
    _Atomic int64_t received;
    _Atomic unsigned char seen[CS_PRODS][CS_MAXSEQ];
} cs_shared;

static cs_shared *cs_map(int fd)
{
    void *p = mmap(NULL, sizeof(cs_shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static size_t cs_len(uint64_t prod, uint64_t seq)
{
    uint64_t r = mix64(prod * 31337 + seq);
    if (r % 16 == 0)
        return sizeof(pmsg) + 8192 + (size_t)(r >> 20) % 40000; /* > the 16 KiB ring */
    return sizeof(pmsg) + (size_t)(r >> 20) % 500;
}

static int t_cs_producer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    cs_shared *s = cs_map(mpx_args_fd(a, 1));
    uint32_t prod = (uint32_t)mpx_args_int(a, 2);
    if (!s)
        return 1;
    unsigned char *b = malloc(60000);
    for (uint64_t seq = 0; seq < CS_MAXSEQ && !atomic_load(&s->stop); seq++) {
        size_t n = cs_len(prod, seq);
        pmsg h = {prod, (uint32_t)n, seq};
        memcpy(b, &h, sizeof h);
        fill(b + sizeof h, n - sizeof h, prod, seq);
        int rc = mpx_queue_put(q, b, n, MPX_FOREVER);
        if (rc) {
            atomic_store(&s->bad, 100 + (rc < 0 ? -rc % 100 : rc));
            return 2;
        }
        atomic_store(&s->acked[prod], (int64_t)seq);
    }
    free(b);
    return 0;
}

static int t_cs_consumer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    cs_shared *s = cs_map(mpx_args_fd(a, 1));
    if (!s)
        return 1;
    int64_t last[CS_PRODS];
    for (int i = 0; i < CS_PRODS; i++)
        last[i] = -1;
    for (;;) {
        void *m;
        size_t n;
        int rc = mpx_queue_get(q, &m, &n, MPX_FOREVER);
        if (rc == MPX_ESHUTDOWN)
            return 0;
        if (rc) {
            atomic_store(&s->bad, 200 + (rc < 0 ? -rc % 100 : rc));
            return 2;
        }
        /* Record first (cheap header read), verify after: the window
         * between the get's commit and this mark is what a kill may lose. */
        pmsg h;
        int v = n >= sizeof h ? 0 : 1;
        if (!v) {
            memcpy(&h, m, sizeof h);
            if (h.prod >= CS_PRODS || h.seq >= CS_MAXSEQ)
                v = 2;
        }
        if (!v) {
            atomic_fetch_add(&s->seen[h.prod][h.seq], 1);
            if (h.len != n || cs_len(h.prod, h.seq) != n)
                v = 2;
            else if (!check_fill((unsigned char *)m + sizeof h, n - sizeof h, h.prod, h.seq))
                v = 3;
            else if ((int64_t)h.seq <= last[h.prod])
                v = 4;
        }
        mpx_free(m);
        if (v) {
            atomic_store(&s->bad, v);
            return 3;
        }
        last[h.prod] = (int64_t)h.seq;
        atomic_fetch_add(&s->received, 1);
    }
}

static mpx_process *cs_start(mpx_target_fn fn, mpx_queue *q, int fd, int64_t id)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    CHECK_OK(mpx_args_add_fd(a, fd));
    CHECK_OK(mpx_args_add_int(a, id));
    mpx_process *p = start_args(fn, a);
    mpx_args_destroy(a);
    return p;
}

static void crash_loop(int64_t maxsize, int64_t ovf)
{
    int fd = memfd_create("cs", MFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, sizeof(cs_shared)) == 0);
    cs_shared *s = cs_map(fd);
    CHECK(s != NULL);
    for (int i = 0; i < CS_PRODS; i++)
        s->acked[i] = -1;
    mpx_queue *q = mkq_ovf(maxsize, 16384, ovf);
    enum { NP = 2, NC = 2 };
    mpx_process *prod[NP], *cons[NC];
    int prod_id[NP];
    int next_id = 0, kills_p = 0, kills_c = 0;
    for (int i = 0; i < NP; i++) {
        prod_id[i] = next_id;
        prod[i] = cs_start(t_cs_producer, q, fd, next_id++);
    }
    for (int i = 0; i < NC; i++)
        cons[i] = cs_start(t_cs_consumer, q, fd, i);
    uint64_t rnd = (uint64_t)mpx_test_now_ms();
    int64_t t0 = mpx_test_now_ms();
    /* About 4 s, and at least 30 kills (a slow start method, a sanitizer
     * or a loaded machine makes each replacement slower), at most 60 s. */
    while ((mpx_test_now_ms() - t0 < 4000 || kills_p + kills_c < 30) &&
           mpx_test_now_ms() - t0 < 60000 && next_id < CS_PRODS - NP) {
        rnd = mix64(rnd + 1);
        struct timespec t = {0, (long)(rnd % 60000) * 1000L}; /* 0-60 ms */
        nanosleep(&t, NULL);
        CHECK_EQ(atomic_load(&s->bad), 0);
        if ((rnd >> 32) & 1) {
            int i = (int)((rnd >> 40) % NP);
            CHECK_OK(mpx_process_kill(prod[i]));
            CHECK_EQ(mpx_process_join(prod[i], 10000), 1);
            mpx_process_destroy(prod[i]);
            kills_p++;
            prod_id[i] = next_id;
            prod[i] = cs_start(t_cs_producer, q, fd, next_id++);
        } else {
            int i = (int)((rnd >> 40) % NC);
            CHECK_OK(mpx_process_kill(cons[i]));
            CHECK_EQ(mpx_process_join(cons[i], 10000), 1);
            mpx_process_destroy(cons[i]);
            kills_c++;
            cons[i] = cs_start(t_cs_consumer, q, fd, i);
        }
    }
    (void)prod_id;
    atomic_store(&s->stop, 1);
    for (int i = 0; i < NP; i++)
        CHECK_EQ(join_destroy(prod[i]), 0);
    CHECK_OK(mpx_queue_shutdown(q, 0));
    for (int i = 0; i < NC; i++)
        CHECK_EQ(join_destroy(cons[i]), 0);
    CHECK_EQ(atomic_load(&s->bad), 0);
    /* Every acknowledged message arrived exactly once, except at most one
     * per killed consumer (taken by a get that the kill interrupted after
     * it committed); nothing arrived twice. */
    int64_t missing = 0, dup = 0, acked_total = 0;
    for (int p = 0; p < next_id; p++) {
        int64_t acked = atomic_load(&s->acked[p]);
        for (int64_t k = 0; k < CS_MAXSEQ; k++) {
            int c = atomic_load(&s->seen[p][k]);
            if (c > 1)
                dup++;
            if (k <= acked) {
                acked_total++;
                if (c == 0)
                    missing++;
            } else if (k > acked + 1 && c) {
                dup++; /* beyond what was put: impossible */
            }
        }
    }
    fprintf(stderr, "crash loop: %d producer kills, %d consumer kills, %lld acked, %lld received, "
                    "%lld missing\n",
            kills_p, kills_c, (long long)acked_total, (long long)atomic_load(&s->received),
            (long long)missing);
    CHECK_EQ(dup, 0);
    CHECK(missing <= kills_c);
    CHECK(acked_total > 100);
    CHECK(kills_p + kills_c > 20);
    mpx_queue_destroy(q);
    munmap(s, sizeof *s);
    close(fd);
}

/* Ring only: the larger messages are streamed through the 16 KiB ring. */
MPX_TEST_T(queue_17_crash_safety_random_sigkill, 120)
{
    crash_loop(0, MPX_QUEUE_NO_OVERFLOW);
}

/* With the overflow store, spilling at once when the ring is full (no
 * wait for room), so kills land in store puts and gets too; maxsize keeps
 * the producers from running far ahead of the consumers. */
MPX_TEST_T(queue_17_crash_safety_random_sigkill_overflow, 120)
{
    setenv("MPX_QUEUE_SPILL_US", "0", 1);
    crash_loop(300, 0);
    unsetenv("MPX_QUEUE_SPILL_US");
}

/* QUEUE-17 (fixed): a producer killed while streaming a message larger than
 * the ring (and left a zombie: not joined yet) holds the producer lock; the
 * next put takes the lock over, ends the partial stream, and a get never
 * sees any part of it. */
MPX_TEST_T(queue_17_killed_producer_mid_stream_zombie, 60)
{
    mpx_queue *q = mkq_ring(0, 16384);
    int64_t args[2] = {200000, 1};
    mpx_process *p = start_q(t_put_big, q, 2, args);
    sleep_ms(300); /* the ring is full of the partial stream */
    CHECK_OK(mpx_process_kill(p));
    sleep_ms(100); /* the child is a zombie now: kill(pid, 0) still succeeds */
    put_str(q, "after the crash");
    get_expect(q, "after the crash");
    void *m;
    size_t n;
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    int code = 0;
    CHECK_EQ(mpx_process_join(p, 10000), 1);
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, -SIGKILL);
    mpx_process_destroy(p);
    /* The queue still carries large messages both ways. */
    mpx_queue_destroy(q);
}

static int t_get_big_check(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    size_t len = (size_t)mpx_args_int(a, 1);
    void *m;
    size_t n;
    int rc = mpx_queue_get(q, &m, &n, 30000);
    if (rc)
        return 2;
    rc = n == len && check_fill(m, n, len, 0) ? 0 : 3;
    mpx_free(m);
    return rc;
}

/* A consumer killed while receiving a message larger than the ring: the
 * producer's put does not return until a consumer has it all, so it sends
 * it again to the next consumer; nothing partial is delivered. */
MPX_TEST_T(queue_17_killed_consumer_mid_stream_resend, 60)
{
    mpx_queue *q = mkq_ring(0, 4096);
    const int64_t len = 8 << 20;
    int64_t args[2] = {len, 1};
    mpx_process *prod = start_q(t_put_big, q, 2, args);
    sleep_ms(200); /* the producer filled the ring and waits */
    kill(mpx_process_pid(prod), SIGSTOP);
    /* c1 takes the start of the message, then waits for the rest. */
    mpx_process *c1 = start_q(t_get_big_check, q, 1, &len);
    sleep_ms(300);
    CHECK_OK(mpx_process_kill(c1));
    CHECK_EQ(mpx_process_join(c1, 10000), 1);
    mpx_process_destroy(c1);
    kill(mpx_process_pid(prod), SIGCONT);
    mpx_process *c2 = start_q(t_get_big_check, q, 1, &len);
    CHECK_EQ(join_destroy(c2), 0);
    CHECK_EQ(join_destroy(prod), 0);
    void *m;
    size_t n;
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    mpx_queue_destroy(q);
}

/* A get that times out in the middle of a message larger than the ring
 * (its producer stalled) gives up after the grace period with Empty and
 * without delivering a part; the producer sends the message again and the
 * next get receives all of it. */
MPX_TEST_T(queue_09_get_timeout_mid_stream_resend, 60)
{
    mpx_queue *q = mkq_ring(0, 4096);
    const int64_t len = 1 << 20;
    int64_t args[2] = {len, 1};
    mpx_process *prod = start_q(t_put_big, q, 2, args);
    sleep_ms(200);
    kill(mpx_process_pid(prod), SIGSTOP);
    void *m = NULL;
    size_t n = 0;
    int64_t t0 = mpx_test_now_ms();
    CHECK_ERR(mpx_queue_get(q, &m, &n, 100), MPX_EEMPTY);
    int64_t dt = mpx_test_now_ms() - t0;
    CHECK(dt >= 90 && dt < 10000);
    kill(mpx_process_pid(prod), SIGCONT);
    CHECK_OK(mpx_queue_get(q, &m, &n, 30000));
    CHECK_EQ(n, (size_t)len);
    CHECK(check_fill(m, n, (uint64_t)len, 0));
    mpx_free(m);
    CHECK_EQ(join_destroy(prod), 0);
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    mpx_queue_destroy(q);
}

/* The objtype hooks spawn and forkserver use: export, import (here into
 * the same process: a second mapping of the same queue), drop. */
MPX_TEST(queue_export_import_hooks)
{
    mpx_queue *q = mkq(3, 8192);
    mpx__obj *o = mpx__obj_of(q);
    CHECK(o && o->type->export_ && o->type->import_ && o->type->drop);
    CHECK(mpx__objtype_find("queue") == o->type);
    mpx__buf data;
    mpx__buf_init(&data);
    mpx__fdlist fds = {.n = 0};
    CHECK_OK(o->type->export_(q, &data, &fds));
    CHECK_EQ(fds.n, 2);
    int dup_fds[2] = {dup(fds.fds[0]), dup(fds.fds[1])};
    mpx__rd rd = {data.data, data.len};
    void *imp = NULL;
    CHECK_OK(o->type->import_(&rd, dup_fds, 2, &imp));
    mpx_queue *q2 = imp;
    CHECK_EQ(mpx_queue_maxsize(q2), 3);
    put_str(q, "through the first mapping");
    get_expect(q2, "through the first mapping");
    unsigned char big[30000];
    fill(big, sizeof big, 5, 6);
    /* Larger than the ring: into the overflow store, through the second
     * mapping; the first one reads it. */
    CHECK_OK(mpx_queue_put(q2, big, sizeof big, 50));
    put_str(q2, "back");
    void *m = NULL;
    size_t n = 0;
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
    CHECK_EQ(n, sizeof big);
    CHECK_MEMEQ(m, big, n);
    mpx_free(m);
    get_expect(q, "back");
    mpx_queue_destroy(q2); /* imported: released by drop only */
    CHECK_EQ(mpx_queue_qsize(q2), 0);
    o->type->drop(q2);
    /* Bad export data: MPX_EPROTO, descriptors closed. */
    unsigned char junk[20] = {1, 0, 0, 0};
    int d2[2] = {dup(fds.fds[0]), dup(fds.fds[1])};
    mpx__rd bad = {junk, sizeof junk};
    imp = NULL;
    CHECK_ERR(o->type->import_(&bad, d2, 2, &imp), MPX_EPROTO);
    CHECK(imp == NULL);
    mpx__rd shortrd = {data.data, 3};
    int d3[2] = {dup(fds.fds[0]), dup(fds.fds[1])};
    CHECK(o->type->import_(&shortrd, d3, 2, &imp) != 0);
    int d4[1] = {dup(fds.fds[0])};
    rd = (mpx__rd){data.data, data.len};
    CHECK_ERR(o->type->import_(&rd, d4, 1, &imp), MPX_EPROTO);
    mpx__buf_free(&data);
    mpx_queue_destroy(q);
}

/* LIS-15 with queues: mpx_wait over two queues and a timeout; a child's
 * put wakes the wait and names the right queue. */
MPX_TEST(queue_mpx_wait_two_queues)
{
    mpx_queue *a = mkq(0, 0), *b = mkq(0, 0);
    void *objs[2] = {a, b}, *ready[2] = {NULL, NULL};
    CHECK_EQ(mpx_wait_objects(objs, 2, 50, ready), 0);
    int64_t ms = 100;
    mpx_process *p = start_q(t_put_after, b, 1, &ms);
    CHECK_EQ(mpx_wait_objects(objs, 2, 10000, ready), 1);
    CHECK_EQ(join_destroy(p), 0);
    (void)ready;
    CHECK_EQ(mpx_wait_objects(objs, 2, 0, ready), 1);
    CHECK(ready[0] == b);
    get_expect(b, "late");
    CHECK_EQ(mpx_wait_objects(objs, 2, 0, ready), 0);
    put_str(a, "x");
    CHECK_EQ(mpx_wait_objects(objs, 2, 0, ready), 1);
    CHECK(ready[0] == a);
    mpx_waitable w[2] = {{a, -1, 0}, {b, -1, 0}};
    CHECK_EQ(mpx_wait(w, 2, 0), 1);
    CHECK_EQ(w[0].ready, 1);
    CHECK_EQ(w[1].ready, 0);
    get_expect(a, "x");
    CHECK_EQ(mpx_wait(w, 2, 20), 0);
    CHECK_OK(mpx_queue_shutdown(b, 0)); /* shut down: a get returns at once */
    CHECK_EQ(mpx_wait(w, 2, 1000), 1);
    CHECK_EQ(w[1].ready, 1);
    mpx_queue_destroy(a);
    mpx_queue_destroy(b);
}

static int t_hello(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    return mpx_queue_put(q, "hello", 5, MPX_FOREVER) ? 1 : 0;
}

/* EX-04: with the spawn context, the child puts 'hello' on a queue made
 * for that context; the parent prints it. Also forkserver. */
MPX_TEST(queue_ex04_spawn_context_hello)
{
    const char *methods[2] = {"spawn", "forkserver"};
    for (int i = 0; i < 2; i++) {
        mpx_context *ctx = NULL;
        CHECK_OK(mpx_get_context(&ctx, methods[i]));
        mpx_queue_opts o = {0};
        o.ctx = ctx;
        mpx_queue *q;
        CHECK_OK(mpx_queue_create(&q, 0, &o));
        mpx_args *a;
        CHECK_OK(mpx_args_create(&a));
        CHECK_OK(mpx_args_add_object(a, q));
        mpx_process_opts po = {0};
        po.ctx = ctx;
        mpx_process *p;
        CHECK_OK(mpx_process_create(&p, t_hello, a, &po));
        mpx_args_destroy(a);
        CHECK_OK(mpx_process_start(p));
        get_expect(q, "hello");
        CHECK_EQ(join_destroy(p), 0);
        mpx_queue_destroy(q);
    }
}

/* ---- owner death immune to pid reuse (#14) ------------------------------------------------------ */

/* The token (core/lockword.h) of live process pid as it would be after
 * its pid was reused: the pid with a start time that is not its own. With
 * right set, its real token. */
static uint64_t token_of(pid_t pid, bool right)
{
    char state;
    uint64_t start = 0;
    CHECK_OK(mpx__proc_stat(pid, &state, &start));
    uint32_t st = (uint32_t)start;
    if (!right)
        st = st ^ 0x5a5a5a5au ? st ^ 0x5a5a5a5au : 1u;
    return ((uint64_t)st << 32) | ((uint32_t)pid & MPX__LK_PIDMASK);
}

/* A producer (consumer) lock whose word names a process that died while
 * holding it, its pid now used by another live process (here: our parent,
 * the test runner, with another start time), is taken over: the put (get)
 * succeeds. Before #14 the queue's lock word held the pid only and such a
 * lock looked held forever. A word naming the live process with its own
 * start time stays held (the call ends with its timeout, nothing taken). */
MPX_TEST_T(queue_lock_owner_pid_reuse_taken_over, 300)
{
    pid_t other = getppid();
    CHECK(other > 1 && other != getpid());
    mpx_queue *q = mkq(0, 0);
    qshared *sh = q->sh;

    /* live holder: its own token; nothing is taken over */
    atomic_store(&sh->p_lock, token_of(other, true) | MPX__LK_W64);
    CHECK_ERR(mpx_queue_put(q, "x", 1, 50), MPX_EFULL);
    CHECK_EQ(atomic_load(&sh->p_lock) & ~MPX__LK_FLAGBITS, token_of(other, true));
    CHECK_EQ(mpx_queue_qsize(q), 0);

    /* the same pid with another start time: a dead holder's pid, reused */
    atomic_store(&sh->p_lock, token_of(other, false) | MPX__LK_W64);
    CHECK_OK(mpx_queue_put(q, "reused-p", 8, 60000));
    CHECK_EQ(atomic_load(&sh->p_lock), 0);

    atomic_store(&sh->c_lock, token_of(other, true) | MPX__LK_W64);
    void *m = NULL;
    size_t n = 0;
    CHECK_ERR(mpx_queue_get(q, &m, &n, 50), MPX_EEMPTY);
    CHECK(m == NULL);
    atomic_store(&sh->c_lock, token_of(other, false) | MPX__LK_W64);
    CHECK_OK(mpx_queue_get(q, &m, &n, 60000));
    CHECK_EQ(n, 8);
    CHECK(memcmp(m, "reused-p", 8) == 0);
    mpx_free(m);
    CHECK_EQ(atomic_load(&sh->c_lock), 0);

    /* our own pid with another start time: an earlier process with our pid */
    atomic_store(&sh->p_lock, token_of(getpid(), false));
    CHECK_OK(mpx_queue_put(q, "own", 3, 60000));
    get_expect(q, "own");
    mpx_queue_destroy(q);
}
