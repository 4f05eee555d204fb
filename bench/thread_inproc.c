/*
 * thread_inproc.c - should the "thread" context (docs/thread-backend.md)
 * have in-process primitives and queues of its own? Measures, between
 * threads of one process, mpx's process-shared Lock and Queue made with
 * the thread context against the cheapest in-process equivalents
 * (pthread_mutex; a mutex + condition variable linked-list queue, what
 * Python's queue.Queue is). Medians of 7 runs.
 *
 *     make -C .. lib && make build/thread_inproc && build/thread_inproc
 */
#include <mpx.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define REPS 7
#define MEDIAN(stmt, out)                                 \
    do {                                                  \
        double v_[REPS];                                  \
        for (int r_ = 0; r_ < REPS; r_++) {               \
            double t0_ = now();                           \
            stmt;                                         \
            v_[r_] = now() - t0_;                         \
        }                                                 \
        qsort(v_, REPS, sizeof *v_, cmp);                 \
        out = v_[REPS / 2];                               \
    } while (0)

/* the in-process queue: mutex + condition variable + list */
typedef struct node {
    struct node *next;
    size_t len;
    char d[];
} node;
typedef struct pq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    node *h, *t;
} pq;

static pq *pq_new(void)
{
    pq *q = calloc(1, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return q;
}

static void pq_free(pq *q)
{
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

static void pq_put(pq *q, const void *d, size_t n)
{
    node *x = malloc(sizeof *x + n);
    x->next = NULL;
    x->len = n;
    memcpy(x->d, d, n);
    pthread_mutex_lock(&q->mu);
    if (q->t)
        q->t->next = x;
    else
        q->h = x;
    q->t = x;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static size_t pq_get(pq *q, void *buf)
{
    pthread_mutex_lock(&q->mu);
    while (!q->h)
        pthread_cond_wait(&q->cv, &q->mu);
    node *x = q->h;
    q->h = x->next;
    if (!q->h)
        q->t = NULL;
    pthread_mutex_unlock(&q->mu);
    size_t n = x->len;
    memcpy(buf, x->d, n);
    free(x);
    return n;
}

enum { N_CREATE = 2000, N_LOCK = 1000000, N_CONT = 200000, N_MSG = 50000, N_PP = 20000 };
static mpx_lock *ml;
static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static mpx_queue *mq_a, *mq_b;
static pq *pq_a, *pq_b;

static void *ml_loop(void *x)
{
    (void)x;
    for (int i = 0; i < N_CONT; i++) {
        mpx_lock_acquire(ml, MPX_FOREVER);
        counter++;
        mpx_lock_release(ml);
    }
    return NULL;
}

static void *pm_loop(void *x)
{
    (void)x;
    for (int i = 0; i < N_CONT; i++) {
        pthread_mutex_lock(&pm);
        counter++;
        pthread_mutex_unlock(&pm);
    }
    return NULL;
}

static void two(void *(*f)(void *))
{
    pthread_t a, b;
    pthread_create(&a, NULL, f, NULL);
    pthread_create(&b, NULL, f, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}

static void *mq_echo(void *x)
{
    (void)x;
    char b[64];
    size_t n;
    for (int i = 0; i < N_PP; i++) {
        mpx_queue_get_into(mq_a, b, sizeof b, &n, MPX_FOREVER);
        mpx_queue_put(mq_b, b, n, MPX_FOREVER);
    }
    return NULL;
}

static void *pq_echo(void *x)
{
    (void)x;
    char b[64];
    for (int i = 0; i < N_PP; i++) {
        size_t n = pq_get(pq_a, b);
        pq_put(pq_b, b, n);
    }
    return NULL;
}

static void row(const char *what, double mpx, double raw, const char *unit)
{
    printf("%-40s %10.2f %10.2f %s\n", what, mpx, raw, unit);
}

int main(void)
{
    mpx_context *ctx;
    if (mpx_get_context(&ctx, "thread"))
        return 1;
    mpx_sync_opts so = {.ctx = ctx};
    mpx_queue_opts qo = {.ctx = ctx};
    double a, b;
    static mpx_lock *many[N_CREATE];
    printf("%-40s %10s %10s\n", "between threads (median of 7)", "mpx", "in-process");
    MEDIAN(for (int i = 0; i < N_CREATE; i++) mpx_lock_create(&many[i], &so);
           for (int i = 0; i < N_CREATE; i++) mpx_lock_destroy(many[i]), a);
    MEDIAN(for (int i = 0; i < N_CREATE; i++) {
        pthread_mutex_t *m = malloc(sizeof *m);
        pthread_mutex_init(m, NULL);
        pthread_mutex_destroy(m);
        free(m);
    }, b);
    row("Lock create + destroy (2000 at once)", a / N_CREATE * 1e6, b / N_CREATE * 1e6, "us");
    MEDIAN(for (int i = 0; i < 200; i++) {
        mpx_lock *l;
        mpx_lock_create(&l, &so);
        mpx_lock_destroy(l);
    }, a);
    row("Lock create + destroy (one at a time)", a / 200 * 1e6, b / N_CREATE * 1e6, "us");
    mpx_lock_create(&ml, &so);
    MEDIAN(for (int i = 0; i < N_LOCK; i++) {
        mpx_lock_acquire(ml, MPX_FOREVER);
        mpx_lock_release(ml);
    }, a);
    MEDIAN(for (int i = 0; i < N_LOCK; i++) {
        pthread_mutex_lock(&pm);
        pthread_mutex_unlock(&pm);
    }, b);
    row("Lock acquire + release, uncontended", a / N_LOCK * 1e9, b / N_LOCK * 1e9, "ns");
    MEDIAN(two(ml_loop), a);
    MEDIAN(two(pm_loop), b);
    row("Lock, 2 threads contending", a / (2 * N_CONT) * 1e9, b / (2 * N_CONT) * 1e9, "ns/op");
    mpx_lock_destroy(ml);
    MEDIAN(for (int i = 0; i < 200; i++) {
        mpx_queue *q;
        mpx_queue_create(&q, 0, &qo);
        mpx_queue_destroy(q);
    }, a);
    MEDIAN(for (int i = 0; i < 200; i++) pq_free(pq_new()), b);
    row("Queue create + destroy", a / 200 * 1e6, b / 200 * 1e6, "us");
    char m[32] = "0123456789abcdef0123456789abcde", buf[64];
    size_t n;
    mpx_queue *q;
    mpx_queue_create(&q, 0, &qo);
    pq *p = pq_new();
    for (int i = 0; i < N_MSG; i++) /* touch the ring once */
        mpx_queue_put(q, m, 32, MPX_FOREVER);
    for (int i = 0; i < N_MSG; i++)
        mpx_queue_get_into(q, buf, sizeof buf, &n, MPX_FOREVER);
    MEDIAN(for (int i = 0; i < N_MSG; i++) mpx_queue_put(q, m, 32, MPX_FOREVER);
           for (int i = 0; i < N_MSG; i++) mpx_queue_get_into(q, buf, sizeof buf, &n, MPX_FOREVER), a);
    MEDIAN(for (int i = 0; i < N_MSG; i++) pq_put(p, m, 32);
           for (int i = 0; i < N_MSG; i++) pq_get(p, buf), b);
    row("Queue put + get, 32 B, 50000 queued", a / N_MSG * 1e9, b / N_MSG * 1e9, "ns/msg");
    mpx_queue_destroy(q);
    pq_free(p);
    mpx_queue_create(&mq_a, 0, &qo);
    mpx_queue_create(&mq_b, 0, &qo);
    pq_a = pq_new();
    pq_b = pq_new();
    MEDIAN({
        pthread_t th;
        pthread_create(&th, NULL, mq_echo, NULL);
        for (int i = 0; i < N_PP; i++) {
            mpx_queue_put(mq_a, m, 32, MPX_FOREVER);
            mpx_queue_get_into(mq_b, buf, sizeof buf, &n, MPX_FOREVER);
        }
        pthread_join(th, NULL);
    }, a);
    MEDIAN({
        pthread_t th;
        pthread_create(&th, NULL, pq_echo, NULL);
        for (int i = 0; i < N_PP; i++) {
            pq_put(pq_a, m, 32);
            pq_get(pq_b, buf);
        }
        pthread_join(th, NULL);
    }, b);
    row("Queue ping-pong between 2 threads, 32 B", a / N_PP * 1e6, b / N_PP * 1e6, "us/round trip");
    mpx_queue_destroy(mq_a);
    mpx_queue_destroy(mq_b);
    pq_free(pq_a);
    pq_free(pq_b);
    return 0;
}
