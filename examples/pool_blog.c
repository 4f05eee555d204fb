/*
 * pool_blog.c - the pool tutorial's small demos (EX-44, EX-45, EX-46,
 * BLOG-02..05):
 *   - map blocks, map_async returns at once (the message after map_async
 *     is printed before the results);
 *   - map over a zero-argument function through an ignored-argument
 *     wrapper;
 *   - starmap over argument lists, and a partial (a constant argument
 *     bound once) for the rest.
 * Always close, then join (BLOG-02).
 */
#include <mpx.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static void nap(int ms)
{
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

/* f(x): sleep a little, return x * x */
static int f(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    long long x;
    memcpy(&x, in, sizeof x);
    nap(50);
    x *= x;
    return mpx_task_out_set(out, &x, sizeof x);
}

/* a function with no argument, and the wrapper that ignores one */
static long long no_args(void)
{
    return 42;
}
static int no_args_wrapper(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    long long v = no_args();
    return mpx_task_out_set(out, &v, sizeof v);
}

/* power(base, exp, modulus): several arguments (starmap) */
static int power(const mpx_args *a, mpx_task_out *out)
{
    long long base = mpx_args_int(a, 0), e = mpx_args_int(a, 1), m = mpx_args_int(a, 2);
    long long r = 1;
    for (long long i = 0; i < e; i++)
        r = r * base % m;
    return mpx_task_out_set(out, &r, sizeof r);
}

static void print_list(const char *label, mpx_result *r)
{
    printf("%s[", label);
    for (size_t i = 0; i < mpx_result_count(r); i++) {
        const void *d;
        long long v = 0;
        if (mpx_result_item(r, i, &d, NULL) == 0)
            memcpy(&v, d, sizeof v);
        printf("%s%lld", i ? ", " : "", v);
    }
    printf("]\n");
}

int main(void)
{
    mpx_pool *p;
    if (mpx_pool_create(&p, MPX_POOL_DEFAULT, NULL) != 0)
        return 1;
    long long xs[4] = {1, 2, 3, 4};
    mpx_result *r;

    /* EX-44: map blocks ... */
    mpx_pool_map_array(p, f, xs, sizeof xs[0], 4, NULL, &r);
    print_list("map: ", r);
    printf("after map (printed after the results)\n");
    mpx_result_destroy(r);
    /* ... map_async does not */
    mpx_pool_map_async(p, f, (mpx_bytes[]){{&xs[0], 8}, {&xs[1], 8}, {&xs[2], 8}, {&xs[3], 8}}, 4,
                       NULL, &r);
    printf("after map_async (printed first)\n");
    mpx_result_get(r, MPX_FOREVER, NULL, NULL);
    print_list("map_async: ", r);
    mpx_result_destroy(r);

    /* EX-45: zero-argument function through a wrapper */
    mpx_pool_map_array(p, no_args_wrapper, xs, sizeof xs[0], 3, NULL, &r);
    print_list("zero-argument function via wrapper: ", r);
    mpx_result_destroy(r);

    /* EX-46: starmap with several arguments ... */
    mpx_args *items[3];
    for (int i = 0; i < 3; i++) {
        mpx_args_create(&items[i]);
        mpx_args_add_int(items[i], 2 + i); /* base */
        mpx_args_add_int(items[i], 10);    /* exponent */
        mpx_args_add_int(items[i], 1000);  /* modulus */
    }
    mpx_pool_starmap(p, power, (const mpx_args *const *)items, 3, NULL, &r);
    print_list("starmap(power, [(2,10,1000), (3,10,1000), (4,10,1000)]): ", r);
    mpx_result_destroy(r);
    /* ... and partial(power, exp=10, modulus=1000) over the bases only */
    mpx_args *bound, *bases[3];
    mpx_args_create(&bound);
    mpx_args_add_int(bound, 10);
    mpx_args_add_int(bound, 1000);
    for (int i = 0; i < 3; i++) {
        mpx_args_create(&bases[i]);
        mpx_args_add_int(bases[i], 2 + i);
    }
    mpx_call_opts o = {.bound_after = bound};
    mpx_pool_starmap(p, power, (const mpx_args *const *)bases, 3, &o, &r);
    print_list("map(partial(power, exp=10, modulus=1000), [2, 3, 4]): ", r);
    mpx_result_destroy(r);
    for (int i = 0; i < 3; i++) {
        mpx_args_destroy(items[i]);
        mpx_args_destroy(bases[i]);
    }
    mpx_args_destroy(bound);

    mpx_pool_close(p);
    mpx_pool_join(p);
    mpx_pool_destroy(p);
    return 0;
}
