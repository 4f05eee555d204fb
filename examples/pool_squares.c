/*
 * pool_squares.c - EX-01: the first example of the multiprocessing docs.
 *
 *     from multiprocessing import Pool
 *
 *     def f(x):
 *         return x*x
 *
 *     if __name__ == '__main__':
 *         with Pool(5) as p:
 *             print(p.map(f, [1, 2, 3]))      # [1, 4, 9]
 */
#include <mpx.h>

static mpx_obj *f(mpx_obj *x, mpx_obj **error)
{
    int64_t v;
    if (mpx_obj_get_int(x, &v))
        return mpx_task_raise(error, "TypeError", "can't multiply %s", mpx_obj_type_name(x));
    return mpx_obj_int(v * v);
}

int main(void)
{
    mpx_pool *p;
    mpx_obj *xs = mpx_obj_build("[iii]", 1, 2, 3), *r;
    if (mpx_pool_create(&p, 5, NULL))
        return 1;
    int rc = mpx_pool_map_obj(p, f, xs, NULL, &r);
    mpx_obj_print(r); /* [1, 4, 9], or the exception the map raised */
    mpx_pool_destroy(p); /* the end of `with Pool(5) as p:` (terminate) */
    mpx_obj_decref(r);
    mpx_obj_decref(xs);
    return rc ? 1 : 0;
}
