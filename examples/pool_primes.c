/*
 * pool_primes.c - a CPU-bound job on a pool: count the primes below N
 * (default 3,000,000) by trial division, split into ranges, once in this
 * process and once on a pool of mpx_cpu_count_usable() workers; prints
 * both times and the speed-up (BLOG-01: about one worker per core).
 *
 *   pool_primes [N]
 */
#include <mpx.h>

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

typedef struct range {
    int64_t lo, hi;
} range;

static int is_prime(int64_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (int64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

static int64_t count_range(range r)
{
    int64_t c = 0;
    for (int64_t n = r.lo; n < r.hi; n++)
        c += is_prime(n);
    return c;
}

/* the task: a range in, a count out */
static int count_task(const void *in, size_t len, mpx_task_out *out)
{
    range r;
    if (len != sizeof r)
        return mpx_task_fail(out, "bad range");
    memcpy(&r, in, sizeof r);
    int64_t c = count_range(r);
    return mpx_task_out_set(out, &c, sizeof c);
}

int main(int argc, char **argv)
{
    int64_t N = argc > 1 ? atoll(argv[1]) : 3000000;
    enum { PARTS = 64 };
    range parts[PARTS];
    for (int i = 0; i < PARTS; i++)
        parts[i] = (range){N * i / PARTS, N * (i + 1) / PARTS};

    double t = now();
    int64_t serial = 0;
    for (int i = 0; i < PARTS; i++)
        serial += count_range(parts[i]);
    double t1 = now() - t;
    printf("primes below %lld: %lld\n", (long long)N, (long long)serial);
    printf("one process:      %.3f s\n", t1);

    mpx_pool *pool;
    if (mpx_pool_create(&pool, MPX_POOL_DEFAULT, NULL) != 0)
        return 1;
    int workers = mpx_pool_processes(pool);
    mpx_result *r;
    t = now();
    /* chunksize 1: ranges are uneven in cost, so let idle workers take more */
    mpx_call_opts o = {.chunksize = 1};
    if (mpx_pool_map_array(pool, count_task, parts, sizeof(range), PARTS, &o, &r) != 0)
        return 1;
    int64_t total = 0;
    for (int i = 0; i < PARTS; i++) {
        const void *d;
        int64_t c;
        mpx_result_item(r, (size_t)i, &d, NULL);
        memcpy(&c, d, sizeof c);
        total += c;
    }
    double tp = now() - t;
    mpx_result_destroy(r);
    mpx_pool_close(pool);
    mpx_pool_join(pool);
    mpx_pool_destroy(pool);
    printf("pool of %d:        %.3f s (%lld primes)\n", workers, tp, (long long)total);
    printf("speed-up:         %.2fx\n", t1 / tp);
    return total == serial ? 0 : 1;
}
