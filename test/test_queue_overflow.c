/* test_queue_overflow.c - unbounded queues as Python has them (issue #13,
 * QUEUE-02, QUEUE-12, QUEUE-13/14, QUEUE-17, GUIDE-07, EX-33): a put never
 * waits for a consumer, whatever the total size queued; the overflow store
 * returns its memory as messages are got; close() is per process; kills
 * in and right after an overflow put. Children are started with the
 * mpx_process API, so every test runs under each start method. */
#include "harness.h"
#include "queue_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

/* ---- messages: header + deterministic content ------------------------- */

typedef struct ohdr {
    uint32_t prod, len;
    uint64_t seq;
} ohdr;

enum { SZ_BIG = 0, SZ_SMALL = 1, SZ_MIXED = 2 };

static size_t olen(int kind, uint64_t prod, uint64_t seq)
{
    uint64_t r = mix64(prod * 7919 + seq + (uint64_t)kind * 1000003);
    switch (kind) {
    case SZ_BIG: /* 256 KiB .. 2 MiB, and one of 8 MiB per producer */
        if (seq == 3)
            return 8 * MiB;
        return 256 * 1024 + (size_t)(r >> 16) % (7 * 256 * 1024);
    case SZ_SMALL:
        return sizeof(ohdr) + (size_t)(r >> 16) % 180;
    default: /* mostly small, some larger than a 4 KiB ring */
        if (r % 20 == 0)
            return sizeof(ohdr) + 4096 + (size_t)(r >> 16) % 20000;
        return sizeof(ohdr) + (size_t)(r >> 16) % 400;
    }
}

static void omake(unsigned char *b, int kind, uint32_t prod, uint64_t seq, size_t *len)
{
    size_t n = olen(kind, prod, seq);
    ohdr h = {prod, (uint32_t)n, seq};
    memcpy(b, &h, sizeof h);
    fill(b + sizeof h, n - sizeof h, prod, seq);
    *len = n;
}

/* 0 ok, else why not. */
static int ocheck(const unsigned char *b, size_t n, int kind, ohdr *h)
{
    if (n < sizeof *h)
        return 1;
    memcpy(h, b, sizeof *h);
    if (h->len != n || olen(kind, h->prod, h->seq) != n)
        return 2;
    return check_fill(b + sizeof *h, n - sizeof *h, h->prod, h->seq) ? 0 : 3;
}

/* Producer: puts count messages of its id; with close_after, then closes
 * its handle and calls join_thread (the usual end of a Python producer). */
static int t_oproducer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    uint32_t prod = (uint32_t)mpx_args_int(a, 1);
    int64_t count = mpx_args_int(a, 2);
    int kind = (int)mpx_args_int(a, 3);
    int close_after = (int)mpx_args_int(a, 4);
    unsigned char *b = malloc(kind == SZ_BIG ? 8 * MiB : 65536);
    if (!b)
        return 1;
    for (int64_t i = 0; i < count; i++) {
        size_t n;
        omake(b, kind, prod, (uint64_t)i, &n);
        if (mpx_queue_put(q, b, n, MPX_FOREVER)) {
            free(b);
            return 2;
        }
    }
    free(b);
    if (close_after) {
        if (mpx_queue_close(q) || mpx_queue_put(q, "x", 1, MPX_FOREVER) != MPX_ECLOSED)
            return 3;
        if (mpx_queue_join_thread(q))
            return 4;
    }
    return 0;
}

#define OMAXP 8

/* Consumer: gets until shut down; checks content and per-producer order;
 * reports count and sum of seq per producer on res. */
static int t_oconsumer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    mpx_queue *res = mpx_args_object(a, 1);
    int kind = (int)mpx_args_int(a, 2);
    int64_t last[OMAXP], out[2 * OMAXP];
    for (int i = 0; i < OMAXP; i++) {
        last[i] = -1;
        out[i] = out[OMAXP + i] = 0;
    }
    for (;;) {
        void *m;
        size_t n;
        int rc = mpx_queue_get(q, &m, &n, 60000);
        if (rc == MPX_ESHUTDOWN)
            break;
        if (rc)
            return 10;
        ohdr h;
        int v = ocheck(m, n, kind, &h);
        mpx_free(m);
        if (v)
            return 20 + v;
        if (h.prod >= OMAXP)
            return 11;
        if ((int64_t)h.seq <= last[h.prod])
            return 12; /* QUEUE-12: per-producer order broken */
        last[h.prod] = (int64_t)h.seq;
        out[h.prod]++;
        out[OMAXP + h.prod] += (int64_t)h.seq;
    }
    return mpx_queue_put(res, out, sizeof out, 10000) ? 13 : 0;
}

static mpx_process *start_oproducer(mpx_queue *q, int prod, int64_t count, int kind, int close_after)
{
    int64_t args[4] = {prod, count, kind, close_after};
    return start_q(t_oproducer, q, 4, args);
}

static mpx_process *start_oconsumer(mpx_queue *q, mpx_queue *res, int kind)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    CHECK_OK(mpx_args_add_object(a, res));
    CHECK_OK(mpx_args_add_int(a, kind));
    mpx_process *p = start_args(t_oconsumer, a);
    mpx_args_destroy(a);
    return p;
}

/* Shut q down, collect the consumers' reports, check that producer k's
 * messages 0..want[k]-1 all arrived exactly once. */
static void ocollect(mpx_queue *q, mpx_queue *res, mpx_process **cons, int ncons, int nprod,
                     const int64_t *want)
{
    CHECK_OK(mpx_queue_shutdown(q, 0));
    int64_t cnt[OMAXP] = {0}, sum[OMAXP] = {0};
    for (int i = 0; i < ncons; i++) {
        int64_t out[2 * OMAXP];
        size_t n;
        CHECK_OK(mpx_queue_get_into(res, out, sizeof out, &n, 120000));
        CHECK_EQ(n, sizeof out);
        for (int k = 0; k < OMAXP; k++) {
            cnt[k] += out[k];
            sum[k] += out[OMAXP + k];
        }
    }
    for (int i = 0; i < ncons; i++)
        CHECK_EQ(join_destroy(cons[i]), 0);
    for (int k = 0; k < nprod; k++) {
        CHECK_EQ(cnt[k], want[k]);
        CHECK_EQ(sum[k], want[k] * (want[k] - 1) / 2);
    }
}

/* ---- a put never waits ---------------------------------------------------- */

/* QUEUE-02: Queue() is unbounded: put_nowait succeeds far past the ring,
 * for small messages and for messages larger than the ring; qsize, empty
 * and full stay right; everything comes back in order. */
MPX_TEST(queue_02_unbounded_put_never_waits)
{
    mpx_queue *q = mkq(0, 4096);
    unsigned char b[300];
    for (int i = 0; i < 10000; i++) {
        fill(b, sizeof b, 1, (uint64_t)i);
        CHECK_OK(mpx_queue_put_nowait(q, b, 100 + (size_t)(i % 200)));
        if (i == 5000) { /* one larger than the ring, in the middle */
            unsigned char *big = malloc(MiB);
            CHECK(big != NULL);
            fill(big, MiB, 2, 0);
            CHECK_OK(mpx_queue_put_nowait(q, big, MiB));
            free(big);
        }
    }
    CHECK_EQ(mpx_queue_qsize(q), 10001);
    CHECK_EQ(mpx_queue_full(q), 0); /* as Python: never full without maxsize */
    CHECK_EQ(mpx_queue_empty(q), 0);
    for (int i = 0; i < 10000; i++) {
        size_t n = 0;
        CHECK_OK(mpx_queue_get_into(q, b, sizeof b, &n, MPX_NOWAIT));
        CHECK_EQ(n, 100 + (size_t)(i % 200));
        CHECK(check_fill(b, n, 1, (uint64_t)i));
        if (i == 5000) {
            void *m = NULL;
            CHECK_ERR(mpx_queue_get_into(q, b, sizeof b, &n, MPX_NOWAIT), MPX_ETOOSHORT);
            CHECK_EQ(n, MiB);
            CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
            CHECK_EQ(n, MiB);
            CHECK(check_fill(m, n, 2, 0));
            mpx_free(m);
        }
    }
    CHECK_EQ(mpx_queue_qsize(q), 0);
    CHECK_EQ(mpx_queue_empty(q), 1);
    size_t n;
    CHECK_ERR(mpx_queue_get_into(q, b, sizeof b, &n, MPX_NOWAIT), MPX_EEMPTY);
    /* The ring takes messages again once the store is empty. */
    put_str(q, "ring again");
    get_expect(q, "ring again");
    mpx_queue_destroy(q);
}

/* QUEUE-07: maxsize counts messages, not bytes, as in Python: two
 * messages larger than the ring are accepted at once with no consumer;
 * the third waits (Full). */
MPX_TEST(queue_07_maxsize_counts_messages_not_bytes)
{
    mpx_queue *q = mkq(2, 0);
    size_t len = 5 * MiB;
    unsigned char *b = malloc(len);
    CHECK(b != NULL);
    for (int i = 0; i < 2; i++) {
        fill(b, len, 3, (uint64_t)i);
        CHECK_OK(mpx_queue_put_nowait(q, b, len));
    }
    CHECK_EQ(mpx_queue_full(q), 1);
    CHECK_ERR(mpx_queue_put_nowait(q, "c", 1), MPX_EFULL);
    CHECK_ERR(mpx_queue_put(q, "c", 1, 100), MPX_EFULL);
    void *m;
    size_t n;
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
    CHECK(n == len && check_fill(m, n, 3, 0));
    mpx_free(m);
    CHECK_OK(mpx_queue_put_nowait(q, "c", 1));
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
    CHECK(n == len && check_fill(m, n, 3, 1));
    mpx_free(m);
    get_expect(q, "c");
    free(b);
    mpx_queue_destroy(q);
}

/* GUIDE-07 / EX-33 / QUEUE-15 past the ring: producers fill the queue with
 * no consumer running and exit; the parent joins them first (the pattern
 * that deadlocks on a bounded pipe), then starts consumers, which get
 * everything intact and in per-producer order; the memory is returned. */
static void fill_then_consume(int nprod, int64_t per, int kind, size_t min_bytes)
{
    mpx_queue *q = mkq(0, 0), *res = mkq(0, 0);
    int64_t base = mpx__queue_mem_bytes(q);
    CHECK(base >= 0);
    mpx_process *pp[OMAXP], *cp[2];
    for (int i = 0; i < nprod; i++)
        pp[i] = start_oproducer(q, i, per, kind, 0);
    for (int i = 0; i < nprod; i++)
        CHECK_EQ(join_destroy(pp[i]), 0); /* join before get */
    CHECK_EQ(mpx_queue_qsize(q), nprod * per);
    int64_t full = mpx__queue_mem_bytes(q);
    CHECK(full >= (int64_t)min_bytes);
    for (int i = 0; i < 2; i++)
        cp[i] = start_oconsumer(q, res, kind);
    /* wait for the consumers to empty it (their reports come at shutdown) */
    for (int i = 0; i < 12000 && mpx_queue_qsize(q) > 0; i++)
        sleep_ms(10);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    /* the last get returns the memory just after it published */
    int64_t after = mpx__queue_mem_bytes(q);
    for (int i = 0; i < 10000 && after > (int64_t)(6 * MiB); i++) {
        sleep_ms(1);
        after = mpx__queue_mem_bytes(q);
    }
    fprintf(stderr, "memfd memory: %lld KiB empty, %lld KiB filled, %lld KiB drained\n",
            (long long)base / 1024, (long long)full / 1024, (long long)after / 1024);
    /* what stays: the ring's pages (4 MiB), the header, at most 1 MiB the
     * store allocated ahead and a partial page */
    CHECK(after <= (int64_t)(6 * MiB));
    int64_t want[OMAXP];
    for (int i = 0; i < nprod; i++)
        want[i] = per;
    ocollect(q, res, cp, 2, nprod, want);
    mpx_queue_destroy(q);
    mpx_queue_destroy(res);
}

/* Valgrind runs the same paths with less data (it is 50x slower). */
static bool under_valgrind(void)
{
    return getenv("MPX_TEST_VALGRIND") != NULL;
}

MPX_TEST_T(queue_02_fill_64mib_before_consumers, 120)
{
    if (under_valgrind())
        fill_then_consume(2, 4, SZ_BIG, 16 * MiB);
    else
        fill_then_consume(2, 28, SZ_BIG, 64 * MiB); /* about 70 MiB */
}

MPX_TEST_T(queue_02_fill_200k_small_before_consumers, 120)
{
    if (under_valgrind())
        fill_then_consume(2, 20000, SZ_SMALL, 4 * MiB);
    else
        fill_then_consume(2, 100000, SZ_SMALL, 16 * MiB);
}

/* Memory goes back as messages are got, and the store is reused. */
MPX_TEST_T(queue_overflow_memory_returned, 120)
{
    mpx_queue *q = mkq(0, 4096);
    unsigned char *b = malloc(MiB), *want = malloc(MiB);
    CHECK(b != NULL && want != NULL);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 64; i++) {
            memset(b, round * 64 + i, MiB);
            b[i] = 0xee; /* not uniform: a shifted copy would show */
            CHECK_OK(mpx_queue_put_nowait(q, b, MiB));
        }
        int64_t full = mpx__queue_mem_bytes(q);
        CHECK(full >= (int64_t)(64 * MiB));
        for (int i = 0; i < 64; i++) {
            size_t n;
            CHECK_OK(mpx_queue_get_into(q, b, MiB, &n, MPX_NOWAIT));
            memset(want, round * 64 + i, MiB);
            want[i] = 0xee;
            CHECK(n == MiB && memcmp(b, want, MiB) == 0);
            if (i == 31) /* half got: about half returned */
                CHECK(mpx__queue_mem_bytes(q) <= (int64_t)(34 * MiB));
        }
        CHECK(mpx__queue_mem_bytes(q) <= (int64_t)(2 * MiB));
    }
    free(b);
    free(want);
    mpx_queue_destroy(q);
}

/* overflow_bytes bounds the store: past it a put fails at once with
 * -ENOMEM and changes nothing; the space is reused as messages are got
 * (the store's positions wrap around several times here). */
MPX_TEST(queue_overflow_limit_enomem)
{
    mpx_queue_opts bad = {0};
    bad.overflow_bytes = (int64_t)1 << 50;
    mpx_queue *q = NULL;
    CHECK_ERR(mpx_queue_create(&q, 0, &bad), MPX_EINVAL);
    q = mkq_ovf(0, 4096, (int64_t)MiB);
    unsigned char *b = malloc(2 * MiB);
    CHECK(b != NULL);
    CHECK_ERR(mpx_queue_put_nowait(q, b, 2 * MiB), -ENOMEM);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    uint64_t seq = 0, got = 0;
    for (int round = 0; round < 8; round++) {
        int rc;
        int n = 0;
        for (;;) {
            size_t len = 9000 + (size_t)(mix64(seq) % 3000);
            fill(b, len, 7, seq);
            rc = mpx_queue_put_nowait(q, b, len);
            if (rc)
                break;
            seq++;
            n++;
        }
        CHECK_ERR(rc, -ENOMEM);
        CHECK(n >= 60); /* about 1 MiB, less what waits to be returned */
        CHECK_EQ(mpx_queue_qsize(q), (int)(seq - got));
        /* get most, then put more: the store wraps with messages in it */
        while (seq - got > 5) {
            size_t len;
            CHECK_OK(mpx_queue_get_into(q, b, 2 * MiB, &len, MPX_NOWAIT));
            CHECK_EQ(len, 9000 + (size_t)(mix64(got) % 3000));
            CHECK(check_fill(b, len, 7, got));
            got++;
        }
    }
    while (got < seq) {
        size_t len;
        CHECK_OK(mpx_queue_get_into(q, b, 2 * MiB, &len, MPX_NOWAIT));
        CHECK(check_fill(b, len, 7, got));
        got++;
    }
    CHECK_EQ(mpx_queue_qsize(q), 0);
    free(b);
    mpx_queue_destroy(q);
}

/* ---- close() is per process ------------------------------------------------ */

typedef struct oshared {
    _Atomic int stop;
    _Atomic int64_t acked; /* the long producer's last put that returned 0 */
} oshared;

static oshared *omap(int fd)
{
    void *p = mmap(NULL, sizeof(oshared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int t_long_producer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    oshared *s = omap(mpx_args_fd(a, 1));
    uint32_t prod = (uint32_t)mpx_args_int(a, 2);
    if (!s)
        return 1;
    unsigned char b[65536];
    for (uint64_t seq = 0; !atomic_load(&s->stop); seq++) {
        size_t n;
        omake(b, SZ_MIXED, prod, seq, &n);
        if (mpx_queue_put(q, b, n, MPX_FOREVER))
            return 2;
        atomic_store(&s->acked, (int64_t)seq);
    }
    return 0;
}

/* QUEUE-13/14, issue #13: producers that close() and join_thread() and exit
 * do not stop the others: a long-running producer keeps putting and the
 * consumers keep getting; every message arrives in per-producer order. */
MPX_TEST_T(queue_13_producers_close_and_exit_others_go_on, 120)
{
    int fd = memfd_create("oshared", MFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, sizeof(oshared)) == 0);
    oshared *s = omap(fd);
    CHECK(s != NULL);
    s->acked = -1;
    mpx_queue *q = mkq(0, 16384), *res = mkq(0, 0);
    mpx_process *cons[2], *shortp[3], *longp;
    for (int i = 0; i < 2; i++)
        cons[i] = start_oconsumer(q, res, SZ_MIXED);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    CHECK_OK(mpx_args_add_fd(a, fd));
    CHECK_OK(mpx_args_add_int(a, 3));
    longp = start_args(t_long_producer, a);
    mpx_args_destroy(a);
    for (int i = 0; i < 3; i++)
        shortp[i] = start_oproducer(q, i, 2000, SZ_MIXED, 1);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(join_destroy(shortp[i]), 0); /* each closed, joined its thread, exited */
    /* The others go on: the long producer's puts still return 0, the
     * consumers still get them. */
    int64_t mark = atomic_load(&s->acked);
    for (int i = 0; i < 30000 && atomic_load(&s->acked) < mark + 500; i++)
        sleep_ms(1);
    CHECK(atomic_load(&s->acked) >= mark + 500);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(mpx_process_is_alive(cons[i]), 1);
    CHECK_EQ(mpx_queue_is_closed(q), 0);
    atomic_store(&s->stop, 1);
    CHECK_EQ(join_destroy(longp), 0);
    int64_t want[4] = {2000, 2000, 2000, atomic_load(&s->acked) + 1};
    ocollect(q, res, cons, 2, 4, want);
    mpx_queue_destroy(q);
    mpx_queue_destroy(res);
    munmap(s, sizeof *s);
    close(fd);
}

/* A queue in each state a put can meet: cfg 0 overflow store, ring with
 * room; 1 store holding a message (the next put goes there); 2 ring only,
 * ring full (a put would wait for room); 3 maxsize 1, full; 4 ring only,
 * empty (a message larger than the ring would be streamed). *queued: how
 * many messages it holds. */
static mpx_queue *stop_cfg(int cfg, int *queued)
{
    unsigned char b[3000];
    mpx_queue *q = cfg == 2 || cfg == 4 ? mkq_ring(0, 4096) : mkq(cfg == 3 ? 1 : 0, 4096);
    *queued = 0;
    if (cfg == 1 || cfg == 2) {
        for (int i = 0; i < 2; i++) { /* 2 x 3000: the second does not fit */
            fill(b, sizeof b, 20, (uint64_t)i);
            int rc = mpx_queue_put_nowait(q, b, sizeof b);
            if (cfg == 2 && i == 1) {
                CHECK_ERR(rc, MPX_EFULL);
                break;
            }
            CHECK_OK(rc);
            ++*queued;
        }
    } else if (cfg == 3) {
        fill(b, sizeof b, 20, 0);
        CHECK_OK(mpx_queue_put_nowait(q, b, sizeof b));
        *queued = 1;
    }
    return q;
}

/* Every put path after close() or a shutdown fails at once, even with no
 * time limit (a wait here would hang the test), and queues nothing. */
static void stop_puts_fail(mpx_queue *q, int want, int queued)
{
    static unsigned char big[20000]; /* larger than the 4 KiB ring */
    CHECK_ERR(mpx_queue_put(q, "s", 1, MPX_FOREVER), want);
    CHECK_ERR(mpx_queue_put_nowait(q, "s", 1), want);
    CHECK_ERR(mpx_queue_put(q, big, sizeof big, MPX_FOREVER), want);
    CHECK_ERR(mpx_queue_put(q, big, sizeof big, 50), want);
    CHECK_EQ(mpx_queue_qsize(q), queued);
}

/* Issue #13, QUEUE-13/14, Python 3.13 Queue.shutdown: a put after close()
 * fails (ValueError: MPX_ECLOSED) and a put after shutdown fails
 * (ShutDown: MPX_ESHUTDOWN) on every path (ring, store, stream, full
 * ring, full maxsize); after a shutdown the gets return what is left, in
 * order, and then fail at once, also on an empty queue; after
 * shutdown(immediate) they fail at once. */
MPX_TEST(queue_13_put_after_close_or_shutdown_fails_every_path)
{
    for (int cfg = 0; cfg < 5; cfg++) {
        int queued;
        mpx_queue *q = stop_cfg(cfg, &queued);
        CHECK_OK(mpx_queue_close(q));
        stop_puts_fail(q, MPX_ECLOSED, queued);
        mpx_queue_destroy(q);

        for (int immediate = 0; immediate < 2; immediate++) {
            q = stop_cfg(cfg, &queued);
            CHECK_OK(mpx_queue_shutdown(q, immediate));
            stop_puts_fail(q, MPX_ESHUTDOWN, immediate ? 0 : queued);
            unsigned char b[3000];
            size_t n;
            for (int i = 0; !immediate && i < queued; i++) {
                CHECK_OK(mpx_queue_get_into(q, b, sizeof b, &n, MPX_FOREVER));
                CHECK(n == sizeof b && check_fill(b, n, 20, (uint64_t)i));
            }
            void *m;
            CHECK_ERR(mpx_queue_get(q, &m, &n, MPX_FOREVER), MPX_ESHUTDOWN);
            CHECK_ERR(mpx_queue_get_into(q, b, sizeof b, &n, MPX_FOREVER), MPX_ESHUTDOWN);
            CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_ESHUTDOWN);
            CHECK_EQ(mpx_queue_qsize(q), 0);
            mpx_queue_destroy(q);
        }
    }
}

/* ---- SimpleQueue.close() is per process too ------------------------------------ */

#define SQ_LEN 3000

static void sq_make(unsigned char *b, uint32_t prod, uint32_t seq)
{
    memcpy(b, &prod, 4);
    memcpy(b + 4, &seq, 4);
    fill(b + 8, SQ_LEN - 8, prod, seq);
}

/* def short(q, k): for i in range(n): q.put((k, i, data)); q.close() */
static int t_sq_short(const mpx_args *a)
{
    mpx_simple_queue *q = mpx_args_object(a, 0);
    uint32_t prod = (uint32_t)mpx_args_int(a, 1);
    uint32_t count = (uint32_t)mpx_args_int(a, 2);
    unsigned char b[SQ_LEN];
    for (uint32_t i = 0; i < count; i++) {
        sq_make(b, prod, i);
        if (mpx_simple_queue_put(q, b, sizeof b))
            return 1;
    }
    if (mpx_simple_queue_close(q))
        return 2;
    return mpx_simple_queue_put(q, b, sizeof b) == MPX_ECLOSED ? 0 : 3;
}

/* def long(q, go, k): puts n, waits for go.get(), puts n more: after the
 * short producers closed their queues and exited. */
static int t_sq_long(const mpx_args *a)
{
    mpx_simple_queue *q = mpx_args_object(a, 0);
    mpx_simple_queue *go = mpx_args_object(a, 1);
    uint32_t count = (uint32_t)mpx_args_int(a, 2);
    unsigned char b[SQ_LEN];
    for (uint32_t i = 0; i < 2 * count; i++) {
        if (i == count) {
            void *m;
            size_t n;
            if (mpx_simple_queue_get(go, &m, &n))
                return 1;
            mpx_free(m);
        }
        sq_make(b, 9, i);
        if (mpx_simple_queue_put(q, b, sizeof b))
            return 2;
    }
    return 0;
}

/* Issue #13: SimpleQueue.close() in producers that then exit does not stop
 * another producer, which goes on putting afterwards; the parent, which
 * joins every producer before it gets (more than the 4 MiB ring in all),
 * receives every message intact and in per-producer order. */
MPX_TEST_T(simplequeue_20_producers_close_others_go_on, 60)
{
    const uint32_t N = 800;
    mpx_simple_queue *q, *go;
    CHECK_OK(mpx_simple_queue_create(&q, NULL));
    CHECK_OK(mpx_simple_queue_create(&go, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    CHECK_OK(mpx_args_add_object(a, go));
    CHECK_OK(mpx_args_add_int(a, N));
    mpx_process *longp = start_args(t_sq_long, a);
    mpx_args_destroy(a);
    mpx_process *shortp[2];
    for (int k = 0; k < 2; k++) {
        int64_t args[2] = {k, N};
        shortp[k] = start_q(t_sq_short, q, 2, args);
    }
    for (int k = 0; k < 2; k++)
        CHECK_EQ(join_destroy(shortp[k]), 0); /* closed its queue and exited */
    CHECK_OK(mpx_simple_queue_put(go, "go", 2));
    CHECK_EQ(join_destroy(longp), 0); /* its puts after the closes succeeded */
    uint32_t next[10] = {0};
    unsigned char b[SQ_LEN];
    for (uint32_t i = 0; i < 4 * N; i++) {
        size_t n;
        CHECK_OK(mpx_simple_queue_get_into(q, b, sizeof b, &n));
        uint32_t prod, seq;
        memcpy(&prod, b, 4);
        memcpy(&seq, b + 4, 4);
        CHECK(n == SQ_LEN && (prod < 2 || prod == 9));
        CHECK_EQ(seq, next[prod]); /* per-producer order */
        CHECK(check_fill(b + 8, n - 8, prod, seq));
        next[prod]++;
    }
    CHECK(next[0] == N && next[1] == N && next[9] == 2 * N);
    CHECK_EQ(mpx_simple_queue_empty(q), 1);
    mpx_simple_queue_destroy(q);
    mpx_simple_queue_destroy(go);
}

/* ---- kills ------------------------------------------------------------------------ */

static int t_put_then_wait(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    int wfd = mpx_args_fd(a, 1);
    size_t big = (size_t)mpx_args_int(a, 2);
    unsigned char *b = malloc(big);
    if (!b)
        return 1;
    fill(b, big, 9, 0);
    if (mpx_queue_put(q, b, big, MPX_FOREVER))
        return 2;
    for (uint64_t i = 1; i <= 3; i++) { /* after a stored one: stored too */
        fill(b, 100000, 9, i);
        if (mpx_queue_put(q, b, 100000, MPX_FOREVER))
            return 3;
    }
    free(b);
    char c = 'k';
    if (write(wfd, &c, 1) != 1)
        return 4;
    for (;;)
        pause(); /* killed here */
}

/* "Nothing a caller was told succeeded is ever lost": a producer SIGKILLed
 * right after its overflow puts returned; the messages are still got. */
MPX_TEST_T(queue_17_killed_after_overflow_put_keeps_message, 60)
{
    mpx_queue *q = mkq(0, 0);
    int pfd[2];
    CHECK(pipe2(pfd, O_CLOEXEC) == 0);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    CHECK_OK(mpx_args_add_fd(a, pfd[1]));
    CHECK_OK(mpx_args_add_int(a, (int64_t)(64 * MiB)));
    mpx_process *p = start_args(t_put_then_wait, a);
    mpx_args_destroy(a);
    struct pollfd pf = {pfd[0], POLLIN, 0};
    CHECK_EQ(poll(&pf, 1, 60000), 1);
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(mpx_process_join(p, 10000), 1);
    int code = 0;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, -SIGKILL);
    mpx_process_destroy(p);
    CHECK_EQ(mpx_queue_qsize(q), 4);
    void *m;
    size_t n;
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
    CHECK(n == 64 * MiB && check_fill(m, n, 9, 0));
    mpx_free(m);
    for (uint64_t i = 1; i <= 3; i++) {
        CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
        CHECK(n == 100000 && check_fill(m, n, 9, i));
        mpx_free(m);
    }
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    CHECK(mpx__queue_mem_bytes(q) <= (int64_t)(6 * MiB));
    close(pfd[0]);
    close(pfd[1]);
    mpx_queue_destroy(q);
}

static int t_put_huge(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    size_t len = (size_t)mpx_args_int(a, 1);
    unsigned char *b = malloc(len);
    if (!b)
        return 1;
    fill(b, len, 11, 0);
    return mpx_queue_put(q, b, len, MPX_FOREVER) ? 2 : 0;
}

/* QUEUE-17 in the store: a producer SIGKILLed while it copies a large
 * message into the overflow store (it holds the producer lock) leaves the
 * queue usable by the others: the next put takes the lock over, nothing
 * partial is delivered, and the memory of the half-written message is
 * returned. */
MPX_TEST_T(queue_17_killed_during_overflow_put, 60)
{
    mpx_queue *q = mkq(0, 0);
    const int64_t len = (int64_t)(128 * MiB);
    mpx_process *p = start_q(t_put_huge, q, 1, &len);
    /* The put allocates the whole message before it copies it. */
    for (int i = 0; i < 60000 && mpx__queue_mem_bytes(q) < (int64_t)(64 * MiB); i++)
        sleep_ms(1);
    CHECK(mpx__queue_mem_bytes(q) >= (int64_t)(64 * MiB));
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(mpx_process_join(p, 10000), 1);
    int code = 0;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    mpx_process_destroy(p);
    int qs = mpx_queue_qsize(q);
    CHECK(qs == 0 || qs == 1); /* killed mid-copy, or (rarely) just after */
    fprintf(stderr, "producer %s, %d message queued\n", code == 0 ? "finished" : "killed", qs);
    put_str(q, "after the crash");
    unsigned char *big = malloc(6 * MiB);
    CHECK(big != NULL);
    fill(big, 6 * MiB, 12, 0);
    CHECK_OK(mpx_queue_put(q, big, 6 * MiB, MPX_FOREVER)); /* into the store */
    void *m;
    size_t n;
    if (code == 0) { /* it finished: the message is whole */
        CHECK_EQ(qs, 1);
        CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
        CHECK(n == (size_t)len && check_fill(m, n, 11, 0));
        mpx_free(m);
    } else {
        CHECK_EQ(code, -SIGKILL);
        if (qs == 1) {
            CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
            CHECK(n == (size_t)len && check_fill(m, n, 11, 0));
            mpx_free(m);
        }
    }
    get_expect(q, "after the crash");
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_NOWAIT));
    CHECK(n == 6 * MiB && check_fill(m, n, 12, 0));
    mpx_free(m);
    CHECK_ERR(mpx_queue_get_nowait(q, &m, &n), MPX_EEMPTY);
    CHECK(mpx__queue_mem_bytes(q) <= (int64_t)(6 * MiB));
    free(big);
    mpx_queue_destroy(q);
}

/* ---- lost wake-ups through the store ---------------------------------------------- */

static int t_opingpong(const mpx_args *a)
{
    mpx_queue *in = mpx_args_object(a, 0);
    mpx_queue *out = mpx_args_object(a, 1);
    int64_t n = mpx_args_int(a, 2);
    unsigned char b[6000];
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        if (mpx_queue_get_into(in, b, sizeof b, &len, 20000))
            return 1;
        if (len != sizeof b || !check_fill(b, len, 13, (uint64_t)i))
            return 2;
        fill(b, sizeof b, 14, (uint64_t)i);
        if (mpx_queue_put(out, b, sizeof b, 20000))
            return 3;
    }
    return 0;
}

/* With spinning off and no wait before spilling: every message of the
 * ping-pong is larger than the 4 KiB ring (the store carries it) and every
 * get sleeps; then producers and consumers mix ring and store traffic. A
 * lost wake-up hangs a get (its 20 s or 60 s timeout fails the test). */
MPX_TEST_T(queue_overflow_lost_wakeup_stress_nospin, 120)
{
    setenv("MPX_QUEUE_SPIN", "0", 1);
    setenv("MPX_QUEUE_SPILL_US", "0", 1);
    mpx_queue *a = mkq(0, 4096), *b = mkq(0, 4096);
    const int64_t N = 2000;
    mpx_process *p = start_objs_int(t_opingpong, a, b, N);
    unsigned char buf[6000];
    for (int64_t i = 0; i < N; i++) {
        fill(buf, sizeof buf, 13, (uint64_t)i);
        CHECK_OK(mpx_queue_put(a, buf, sizeof buf, 20000));
        size_t len;
        CHECK_OK(mpx_queue_get_into(b, buf, sizeof buf, &len, 20000));
        CHECK(len == sizeof buf && check_fill(buf, len, 14, (uint64_t)i));
    }
    CHECK_EQ(join_destroy(p), 0);
    mpx_queue_destroy(a);
    mpx_queue_destroy(b);

    mpx_queue *q = mkq(0, 4096), *res = mkq(0, 0);
    mpx_process *cons[3], *prod[3];
    for (int i = 0; i < 3; i++)
        cons[i] = start_oconsumer(q, res, SZ_MIXED);
    for (int i = 0; i < 3; i++)
        prod[i] = start_oproducer(q, i, 3000, SZ_MIXED, 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(join_destroy(prod[i]), 0);
    int64_t want[3] = {3000, 3000, 3000};
    ocollect(q, res, cons, 3, 3, want);
    mpx_queue_destroy(q);
    mpx_queue_destroy(res);
    unsetenv("MPX_QUEUE_SPIN");
    unsetenv("MPX_QUEUE_SPILL_US");
}

/* mpx_wait sees a message that only the store holds. */
MPX_TEST(queue_overflow_wait_hooks)
{
    mpx_queue *q = mkq(0, 4096);
    void *objs[1] = {q}, *ready[1] = {NULL};
    CHECK_EQ(mpx_wait_objects(objs, 1, 0, ready), 0);
    unsigned char b[10000];
    fill(b, sizeof b, 15, 0);
    CHECK_OK(mpx_queue_put(q, b, sizeof b, MPX_NOWAIT)); /* > ring: stored */
    CHECK_EQ(mpx_wait_objects(objs, 1, 1000, ready), 1);
    CHECK(ready[0] == q);
    size_t n;
    CHECK_OK(mpx_queue_get_into(q, b, sizeof b, &n, MPX_NOWAIT));
    CHECK(n == sizeof b && check_fill(b, n, 15, 0));
    CHECK_EQ(mpx_wait_objects(objs, 1, 0, ready), 0);
    mpx_queue_destroy(q);
}
