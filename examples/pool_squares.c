/*
 * pool_squares.c - EX-01: the first example of the multiprocessing docs.
 *
 *     def f(x): return x*x
 *     p = Pool(5); print(p.map(f, [1, 2, 3]))     ->  [1, 4, 9]
 */
#include <mpx.h>

#include <stdio.h>
#include <string.h>

static int f(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    long long x;
    memcpy(&x, in, sizeof x);
    x = x * x;
    return mpx_task_out_set(out, &x, sizeof x);
}

int main(void)
{
    long long xs[3] = {1, 2, 3};

    mpx_pool *p;
    if (mpx_pool_create(&p, 5, NULL) != 0)
        return 1;
    mpx_result *r;
    if (mpx_pool_map_array(p, f, xs, sizeof xs[0], 3, NULL, &r) != 0)
        return 1;
    printf("[");
    for (size_t i = 0; i < mpx_result_count(r); i++) {
        const void *d;
        long long v;
        mpx_result_item(r, i, &d, NULL);
        memcpy(&v, d, sizeof v);
        printf("%s%lld", i ? ", " : "", v);
    }
    printf("]\n");
    mpx_result_destroy(r);
    mpx_pool_close(p);
    mpx_pool_join(p);
    mpx_pool_destroy(p);
    return 0;
}
