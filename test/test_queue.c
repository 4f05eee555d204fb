/* test_queue.c - Queue, JoinableQueue, SimpleQueue (QUEUE-01..25, GUIDE-07,
 * EX-04, EX-06, EX-33, EX-40) and lost wake-ups (crash safety:
 * test_queue_crash.c). Children are
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
