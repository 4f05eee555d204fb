/*
 * mgr_dict_list.c - EX-10: a manager's dict and list changed by a child.
 *
 * Python:
 *     def f(d, l):
 *         d[1] = '1'
 *         d['2'] = 2
 *         d[0.25] = None
 *         l.reverse()
 *
 *     with Manager() as manager:
 *         d = manager.dict()
 *         l = manager.list(range(10))
 *         p = Process(target=f, args=(d, l))
 *         p.start()
 *         p.join()
 *         print(d)     # {1: '1', '2': 2, 0.25: None}
 *         print(l)     # [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
 */
#include <mpx.h>

#include <stdio.h>

#define TRY(expr)                                                              \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != 0) {                                                        \
            fprintf(stderr, "mgr_dict_list: %s: %s\n", #expr, mpx_strerror(rc_)); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static int f(const mpx_args *a)
{
    mpx_proxy *d = mpx_args_object(a, 0), *l = mpx_args_object(a, 1);
    mpx_obj *one = mpx_obj_int(1), *s1 = mpx_obj_str("1"), *two = mpx_obj_int(2),
            *quarter = mpx_obj_float(0.25);
    TRY(mpx_proxy_setitem(d, one, s1));                /* d[1] = '1' */
    TRY(mpx_proxy_dict_set_s(d, "2", two));           /* d['2'] = 2 */
    TRY(mpx_proxy_setitem(d, quarter, mpx_obj_none())); /* d[0.25] = None */
    TRY(mpx_proxy_call(l, "reverse", NULL, NULL, NULL)); /* l.reverse() */
    mpx_obj_decref(one);
    mpx_obj_decref(s1);
    mpx_obj_decref(two);
    mpx_obj_decref(quarter);
    return 0;
}

int main(void)
{
    mpx_manager *manager;
    TRY(mpx_manager_new(&manager, NULL)); /* with Manager() as manager: */
    mpx_proxy *d, *l;
    TRY(mpx_manager_dict(manager, NULL, &d));
    mpx_obj *r = mpx_obj_list();
    for (int i = 0; i < 10; i++)
        mpx_obj_list_append_new(r, mpx_obj_int(i));
    TRY(mpx_manager_list(manager, r, &l)); /* manager.list(range(10)) */
    mpx_obj_decref(r);

    mpx_args *args;
    mpx_process *p;
    TRY(mpx_args_create(&args));
    TRY(mpx_args_add_object(args, d));
    TRY(mpx_args_add_object(args, l));
    TRY(mpx_process_create(&p, f, args, NULL));
    TRY(mpx_process_start(p));
    mpx_process_join(p, MPX_FOREVER);

    char *s = mpx_proxy_str(d);
    printf("%s\n", s);
    mpx_free(s);
    s = mpx_proxy_str(l);
    printf("%s\n", s);
    mpx_free(s);

    mpx_process_destroy(p);
    mpx_args_destroy(args);
    mpx_proxy_destroy(d);
    mpx_proxy_destroy(l);
    mpx_manager_destroy(manager); /* end of the with block: shutdown() */
    return 0;
}
