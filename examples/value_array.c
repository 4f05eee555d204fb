/*
 * value_array.c - the seed's shared-memory example (EX-09):
 *
 *     def f(n, a):
 *         n.value = 3.1415927
 *         for i in range(len(a)): a[i] = -a[i]
 *     num = Value('d', 0.0); arr = Array('i', range(10))
 *     p = Process(target=f, args=(num, arr)); p.start(); p.join()
 *     print(num.value); print(arr[:])
 *
 * prints 3.1415927 and [0, -1, -2, -3, -4, -5, -6, -7, -8, -9].
 */
#include <mpx.h>

#include <stdio.h>
#include <stdlib.h>

/* Python's repr of a float: the shortest text that reads back the same. */
static void print_pyfloat(double v)
{
    char buf[32];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    printf("%s\n", buf);
}

static int f(const mpx_args *args)
{
    mpx_value *n = mpx_args_object(args, 0);
    mpx_array *a = mpx_args_object(args, 1);
    int rc = mpx_value_set_f64(n, 3.1415927);
    for (size_t i = 0; i < mpx_array_len(a) && !rc; i++) {
        int64_t x;
        rc = mpx_array_get_i64(a, i, &x);
        if (!rc)
            rc = mpx_array_set_i64(a, i, -x);
    }
    return rc;
}

int main(void)
{
    int init[10];
    for (int i = 0; i < 10; i++)
        init[i] = i;
    mpx_value *num = NULL;
    mpx_array *arr = NULL;
    mpx_args *args = NULL;
    mpx_process *p = NULL;
    int rc = mpx_value_create(&num, "d", 0.0, NULL); /* Value('d', 0.0) */
    if (!rc)
        rc = mpx_array_create(&arr, "i", 10, init, NULL); /* Array('i', range(10)) */
    if (!rc)
        rc = mpx_args_create(&args);
    if (!rc)
        rc = mpx_args_add_object(args, num);
    if (!rc)
        rc = mpx_args_add_object(args, arr);
    if (!rc)
        rc = mpx_process_create(&p, f, args, NULL);
    if (!rc)
        rc = mpx_process_start(p);
    if (!rc && (rc = mpx_process_join(p, MPX_FOREVER)) == 1)
        rc = 0; /* 1: it ended */
    int code = -1;
    if (!rc)
        mpx_process_exitcode(p, &code);
    if (rc || code) {
        fprintf(stderr, "value_array: %s (exitcode %d)\n", mpx_strerror(rc), code);
        return 1;
    }
    double d;
    mpx_value_get_f64(num, &d);
    print_pyfloat(d);
    int out[10];
    mpx_array_read(arr, 0, 10, out);
    printf("[");
    for (int i = 0; i < 10; i++)
        printf("%s%d", i ? ", " : "", out[i]);
    printf("]\n");
    mpx_process_destroy(p);
    mpx_args_destroy(args);
    mpx_value_destroy(num);
    mpx_array_destroy(arr);
    return 0;
}
