/*
 * sharedctypes_points.c - the seed's sharedctypes example (EX-17):
 *
 *     class Point(Structure): _fields_ = [('x', c_double), ('y', c_double)]
 *     def modify(n, x, s, A):
 *         n.value **= 2; x.value **= 2; s.value = s.value.upper()
 *         for a in A: a.x **= 2; a.y **= 2
 *     lock = Lock()
 *     n = Value('i', 7)
 *     x = Value(c_double, 1.0/3.0, lock=False)
 *     s = Array('c', b'hello world', lock=lock)
 *     A = Array(Point, [(1.875,-6.25), (-5.75,2.0), (2.375,9.5)], lock=lock)
 *     p = Process(target=modify, args=(n, x, s, A)); p.start(); p.join()
 *     print(n.value); print(x.value); print(s.value)
 *     print([(a.x, a.y) for a in A])
 *
 * prints 49, 0.1111111111111111, HELLO WORLD and
 * [(3.515625, 39.0625), (33.0625, 4.0), (5.640625, 90.25)].
 */
#include <mpx.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct point {
    double x, y;
};

/* Python's repr of a float: the shortest text that reads back the same. */
static const char *pyfloat(char *buf, size_t n, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eni"))
        strncat(buf, ".0", n - strlen(buf) - 1);
    return buf;
}

static int modify(const mpx_args *args)
{
    mpx_value *n = mpx_args_object(args, 0);
    mpx_value *x = mpx_args_object(args, 1);
    mpx_array *s = mpx_args_object(args, 2);
    mpx_array *A = mpx_args_object(args, 3);
    int64_t nv;
    double xv;
    int rc = mpx_value_get_i64(n, &nv);
    if (!rc)
        rc = mpx_value_set_i64(n, nv * nv);
    if (!rc)
        rc = mpx_value_get_f64(x, &xv); /* no lock: a raw value */
    if (!rc)
        rc = mpx_value_set_f64(x, xv * xv);
    /* s and A share one Lock: hold it around the whole update */
    if (!rc && (rc = mpx_array_acquire(A, MPX_FOREVER)) == 1)
        rc = 0; /* 1: acquired */
    if (rc)
        return rc;
    char *str = mpx_array_ptr(s);
    for (size_t i = 0; i < mpx_array_len(s) && str[i]; i++)
        str[i] = (char)toupper((unsigned char)str[i]);
    struct point *pts = mpx_array_ptr(A);
    for (size_t i = 0; i < mpx_array_len(A); i++) {
        pts[i].x *= pts[i].x;
        pts[i].y *= pts[i].y;
    }
    return mpx_array_release(A);
}

int main(void)
{
    mpx_lock *lock = NULL;
    mpx_value *n = NULL, *x = NULL;
    mpx_array *s = NULL, *A = NULL;
    mpx_args *args = NULL;
    mpx_process *p = NULL;
    double third = 1.0 / 3.0;
    struct point init[3] = {{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}};
    mpx_shared_opts nolock = {.raw = 1};
    int rc = mpx_lock_create(&lock, NULL);
    mpx_shared_opts withlock = {.lock = lock};
    if (!rc)
        rc = mpx_value_create(&n, "i", 7, NULL);                     /* Value('i', 7) */
    if (!rc)
        rc = mpx_value_create(&x, "c_double", third, &nolock); /* Value(c_double, 1.0/3.0, lock=False) */
    if (!rc)
        rc = mpx_array_create(&s, "c", 11, "hello world", &withlock);
    if (!rc)
        rc = mpx_array_create_sized(&A, sizeof(struct point), 3, init, &withlock);
    if (!rc)
        rc = mpx_args_create(&args);
    void *objs[] = {n, x, s, A};
    for (int i = 0; i < 4 && !rc; i++)
        rc = mpx_args_add_object(args, objs[i]);
    if (!rc)
        rc = mpx_process_create(&p, modify, args, NULL);
    if (!rc)
        rc = mpx_process_start(p);
    if (!rc && (rc = mpx_process_join(p, MPX_FOREVER)) == 1)
        rc = 0; /* 1: it ended */
    int code = -1;
    if (!rc)
        mpx_process_exitcode(p, &code);
    if (rc || code) {
        fprintf(stderr, "sharedctypes_points: %s (exitcode %d)\n", mpx_strerror(rc), code);
        return 1;
    }
    int64_t nv;
    double xv;
    char buf[64], b1[32], b2[32];
    mpx_value_get_i64(n, &nv);
    mpx_value_get_f64(x, &xv);
    printf("%lld\n", (long long)nv);
    printf("%s\n", pyfloat(b1, sizeof b1, xv));
    mpx_array_get_str(s, buf, sizeof buf);
    printf("%s\n", buf);
    printf("[");
    for (size_t i = 0; i < 3; i++) {
        struct point pt;
        mpx_array_get_bytes(A, i, &pt);
        printf("%s(%s, %s)", i ? ", " : "", pyfloat(b1, sizeof b1, pt.x),
               pyfloat(b2, sizeof b2, pt.y));
    }
    printf("]\n");
    mpx_process_destroy(p);
    mpx_args_destroy(args);
    mpx_value_destroy(n);
    mpx_value_destroy(x);
    mpx_array_destroy(s);
    mpx_array_destroy(A);
    mpx_lock_destroy(lock);
    return 0;
}
