/* test_sharedctypes.c - Value, Array, RawValue, RawArray, copy,
 * synchronized (SCT-01..17), passed to children with mpx_process. */
#include "harness.h"
#include "import_check.h"

#include "core/args.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <unistd.h>

/* SCT-02: typecodes and sizes. */
MPX_TEST(sct_02_typecodes)
{
    CHECK_EQ(mpx_ctype_from_typecode("i"), MPX_CT_INT32);
    CHECK_EQ(mpx_ctype_from_typecode("d"), MPX_CT_DOUBLE);
    CHECK_EQ(mpx_ctype_from_typecode("h"), MPX_CT_INT16);
    CHECK_EQ(mpx_ctype_from_typecode("H"), MPX_CT_UINT16);
    CHECK_EQ(mpx_ctype_from_typecode("c"), MPX_CT_CHAR);
    CHECK_EQ(mpx_ctype_from_typecode("b"), MPX_CT_INT8);
    CHECK_EQ(mpx_ctype_from_typecode("B"), MPX_CT_UINT8);
    CHECK_EQ(mpx_ctype_from_typecode("I"), MPX_CT_UINT32);
    CHECK_EQ(mpx_ctype_from_typecode("q"), MPX_CT_INT64);
    CHECK_EQ(mpx_ctype_from_typecode("Q"), MPX_CT_UINT64);
    CHECK_EQ(mpx_ctype_from_typecode("f"), MPX_CT_FLOAT);
    CHECK_EQ(mpx_ctype_from_typecode("?"), MPX_CT_BOOL);
    CHECK_EQ(mpx_ctype_size(mpx_ctype_from_typecode("l")), sizeof(long));
    CHECK_EQ(mpx_ctype_size(mpx_ctype_from_typecode("L")), sizeof(unsigned long));
    CHECK_ERR(mpx_ctype_from_typecode("x"), MPX_EINVAL);
    CHECK_ERR(mpx_ctype_from_typecode("ii"), MPX_EINVAL);
    CHECK_ERR(mpx_ctype_from_typecode(""), MPX_EINVAL);
    CHECK_ERR(mpx_ctype_from_typecode(NULL), MPX_EINVAL);
    CHECK_EQ(mpx_ctype_size(MPX_CT_INT16), 2);
    CHECK_EQ(mpx_ctype_size(MPX_CT_DOUBLE), 8);
    CHECK_EQ(mpx_ctype_size(MPX_CT_RAW), 0);
    CHECK_STREQ(mpx_ctype_name(MPX_CT_INT32), "c_int");
    CHECK_STREQ(mpx_ctype_name(MPX_CT_DOUBLE), "c_double");
}

/* SCT-01, SCT-03, SCT-04: a Value with its default RLock. */
MPX_TEST(sct_01_value_basic_and_lock)
{
    mpx_value *v;
    CHECK_OK(mpx_value_create(&v, "i", 7, NULL)); /* Value('i', 7) */
    CHECK_EQ(mpx_value_type(v), MPX_CT_INT32);
    CHECK_EQ(mpx_value_size(v), sizeof(int));
    CHECK_EQ(*(int *)mpx_value_ptr(v), 7);
    int x = 0;
    CHECK_OK(mpx_value_get(v, &x));
    CHECK_EQ(x, 7);
    x = 49;
    CHECK_OK(mpx_value_set(v, x));
    int64_t i64;
    CHECK_OK(mpx_value_get_i64(v, &i64));
    CHECK_EQ(i64, 49);
    CHECK_OK(mpx_value_set_i64(v, -3));
    CHECK_EQ(*(int *)mpx_value_ptr(v), -3);
    double d;
    CHECK_OK(mpx_value_get_f64(v, &d));
    CHECK(d == -3.0);
    check_describe(mpx_value_describe(v), "<Synchronized wrapper for c_int(-3)>");
    /* SCT-03: the default lock is an RLock, usable recursively */
    void *lock = NULL;
    CHECK_OK(mpx_value_get_lock(v, &lock));
    CHECK(lock != NULL);
    char *ld = mpx_sync_describe(lock);
    CHECK(ld && strncmp(ld, "<RLock(", 7) == 0);
    mpx_free(ld);
    CHECK_EQ(mpx_value_acquire(v, MPX_FOREVER), 1);
    CHECK_OK(mpx_value_set_i64(v, 10)); /* takes the lock again: recursion */
    CHECK_EQ(mpx_sync_acquire(lock, MPX_NOWAIT), 1);
    CHECK_EQ(mpx_rlock_count(lock), 2);
    CHECK_OK(mpx_sync_release(lock));
    CHECK_OK(mpx_value_release(v));
    CHECK_ERR(mpx_value_release(v), MPX_ESTATE);
    CHECK_EQ(mpx_sync_acquire(v, MPX_NOWAIT), 1); /* a Value is a lock-like object */
    CHECK_EQ(mpx_rlock_count(lock), 1);
    CHECK_OK(mpx_sync_release(v));
    CHECK_EQ(mpx_rlock_count(lock), 0);
    /* bad arguments */
    CHECK_ERR(mpx_value_get(v, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_value_create(&v, "z", 0, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_value_create(&v, NULL, 0, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_value_create(&v, "ii", 0, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_value_get_i64(NULL, &i64), MPX_EINVAL);
    mpx_value_destroy(v);
    mpx_value_destroy(NULL);
}

MPX_TEST(sct_01_value_types_and_conversions)
{
    double dv = 1.25;
    mpx_value *v;
    CHECK_OK(mpx_value_create(&v, "c_double", dv, NULL)); /* Value(c_double, 1.25) */
    double d;
    CHECK_OK(mpx_value_get_f64(v, &d));
    CHECK(d == 1.25);
    int64_t i;
    CHECK_ERR(mpx_value_get_i64(v, &i), MPX_EINVAL); /* 1.25 is not an integer */
    CHECK_OK(mpx_value_set_f64(v, 3.1415927));
    check_describe(mpx_value_describe(v), "<Synchronized wrapper for c_double(3.1415927)>");
    CHECK_OK(mpx_value_set_f64(v, 1.0 / 3));
    check_describe(mpx_value_describe(v),
                   "<Synchronized wrapper for c_double(0.3333333333333333)>");
    CHECK_OK(mpx_value_set_f64(v, 2.0));
    check_describe(mpx_value_describe(v), "<Synchronized wrapper for c_double(2.0)>");
    mpx_value_destroy(v);

    short h = -2;
    CHECK_OK(mpx_value_create(&v, "h", h, NULL));
    CHECK_OK(mpx_value_get_i64(v, &i));
    CHECK_EQ(i, -2);
    CHECK_ERR(mpx_value_set_i64(v, 70000), -ERANGE); /* does not fit: unchanged */
    CHECK_EQ(*(short *)mpx_value_ptr(v), -2);
    mpx_value_destroy(v);

    CHECK_OK(mpx_value_create(&v, "?", 0, NULL));
    CHECK_OK(mpx_value_set_i64(v, 5));
    CHECK_EQ(*(unsigned char *)mpx_value_ptr(v), 1);
    check_describe(mpx_value_describe(v), "<Synchronized wrapper for c_bool(True)>");
    mpx_value_destroy(v);

    CHECK_OK(mpx_rawvalue_create(&v, "L", 0));
    CHECK_OK(mpx_value_set_f64(v, 1e19));
    CHECK_EQ(*(uint64_t *)mpx_value_ptr(v), 10000000000000000000ULL);
    CHECK_ERR(mpx_value_set_f64(v, NAN), MPX_EINVAL);
    check_describe(mpx_value_describe(v), "c_ulong(10000000000000000000)");
    mpx_value_destroy(v);

    char c = 'a';
    CHECK_OK(mpx_value_create(&v, "c", c, NULL));
    check_describe(mpx_value_describe(v), "<Synchronized wrapper for c_char(b'a')>");
    mpx_value_destroy(v);
}

/* SCT-10, SCT-15: RawValue (no lock). */
MPX_TEST(sct_10_rawvalue)
{
    double init = 2.4;
    mpx_value *v;
    CHECK_OK(mpx_rawvalue_create(&v, "d", init));
    CHECK(*(double *)mpx_value_ptr(v) == 2.4);
    void *lock = (void *)1;
    CHECK_ERR(mpx_value_get_lock(v, &lock), MPX_ESTATE);
    CHECK_ERR(mpx_value_acquire(v, 0), MPX_ESTATE);
    CHECK_ERR(mpx_sync_acquire(v, 0), MPX_ESTATE);
    check_describe(mpx_value_describe(v), "c_double(2.4)");
    mpx_value_destroy(v);
    /* lock=False through the options is the same thing */
    mpx_shared_opts o = {.raw = 1};
    CHECK_OK(mpx_value_create(&v, "d", init, &o));
    CHECK_ERR(mpx_value_get_lock(v, &lock), MPX_ESTATE);
    mpx_value_destroy(v);
}

struct point {
    double x, y;
};

/* SCT-15/16: structures as raw values and arrays. */
MPX_TEST(sct_16_struct_value_and_array)
{
    struct point p0 = {4, 6};
    mpx_value *v;
    CHECK_OK(mpx_value_create_sized(&v, sizeof p0, &p0, NULL));
    CHECK_EQ(mpx_value_type(v), MPX_CT_RAW);
    struct point got;
    CHECK_OK(mpx_value_get_bytes(v, &got));
    CHECK(got.x == 4 && got.y == 6);
    int64_t i;
    CHECK_ERR(mpx_value_get_i64(v, &i), MPX_EINVAL);
    mpx_value_destroy(v);
    CHECK_ERR(mpx_value_create_sized(&v, 0, NULL, NULL), MPX_EINVAL);

    struct point pts[3] = {{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}};
    mpx_array *a;
    CHECK_OK(mpx_array_create_sized(&a, sizeof(struct point), 3, pts, NULL));
    CHECK_EQ(mpx_array_len(a), 3);
    CHECK_EQ(mpx_array_elem_size(a), sizeof(struct point));
    CHECK_OK(mpx_array_get_bytes(a, 1, &got));
    CHECK(got.x == -5.75 && got.y == 2.0);
    CHECK_ERR(mpx_array_get_bytes(a, 3, &got), MPX_EINVAL);
    double gx;
    CHECK_ERR(mpx_array_get(a, 1, &gx), MPX_EINVAL); /* a struct is no number */
    CHECK_ERR(mpx_array_set(a, 1, 1.0), MPX_EINVAL);
    mpx_array_destroy(a);
}

/* SCT-05, SCT-07: arrays, bounds, slices. */
MPX_TEST(sct_05_array_basic)
{
    int init[10];
    for (int i = 0; i < 10; i++)
        init[i] = i;
    mpx_array *a;
    CHECK_OK(mpx_array_create(&a, "i", 10, init, NULL));
    CHECK_EQ(mpx_array_len(a), 10);
    CHECK_EQ(mpx_array_type(a), MPX_CT_INT32);
    int x;
    CHECK_OK(mpx_array_get(a, 9, &x));
    CHECK_EQ(x, 9);
    x = -9;
    CHECK_OK(mpx_array_set(a, 9, x));
    CHECK_EQ(((int *)mpx_array_ptr(a))[9], -9);
    CHECK_ERR(mpx_array_set(a, 10, x), MPX_EINVAL);
    CHECK_ERR(mpx_array_get(a, (size_t)-1, &x), MPX_EINVAL);
    int sl[4];
    CHECK_OK(mpx_array_read(a, 2, 4, sl));
    CHECK(sl[0] == 2 && sl[3] == 5);
    CHECK_ERR(mpx_array_read(a, 8, 3, sl), MPX_EINVAL);
    CHECK_ERR(mpx_array_read(a, (size_t)-1, 2, sl), MPX_EINVAL);
    CHECK_OK(mpx_array_read(a, 10, 0, NULL));
    int w[2] = {100, 200};
    CHECK_OK(mpx_array_write(a, 0, 2, w));
    int64_t v;
    CHECK_OK(mpx_array_get_i64(a, 1, &v));
    CHECK_EQ(v, 200);
    CHECK_OK(mpx_array_set_i64(a, 1, 201));
    double d;
    CHECK_OK(mpx_array_get_f64(a, 1, &d));
    CHECK(d == 201.0);
    CHECK_ERR(mpx_array_set_f64(a, 2, 7.9), MPX_EINVAL); /* a[2] = 7.9: TypeError */
    CHECK_EQ(((int *)mpx_array_ptr(a))[2], 2);
    CHECK_OK(mpx_array_set_f64(a, 2, 7.0)); /* an exact integer converts */
    CHECK_EQ(((int *)mpx_array_ptr(a))[2], 7);
    check_describe(mpx_array_describe(a), "<SynchronizedArray wrapper for c_int_Array_10>");
    mpx_array_destroy(a);

    /* int length => zero-filled */
    CHECK_OK(mpx_array_create(&a, "d", 100, NULL, NULL)); /* Array('d', 100) */
    for (size_t i = 0; i < 100; i++)
        CHECK(((double *)mpx_array_ptr(a))[i] == 0.0);
    mpx_array_destroy(a);

    /* empty arrays are allowed */
    CHECK_OK(mpx_array_create(&a, "i", 0, NULL, NULL));
    CHECK_EQ(mpx_array_len(a), 0);
    CHECK_ERR(mpx_array_get(a, 0, &x), MPX_EINVAL);
    mpx_array_destroy(a);

    /* size overflow */
    CHECK_ERR(mpx_array_create(&a, "q", SIZE_MAX / 4, NULL, NULL), -ENOMEM);
    CHECK_ERR(mpx_array_create(&a, "", 1, NULL, NULL), MPX_EINVAL);
    /* a void * is bytes: the generic form refuses it (use _bytes) */
    const void *bytes = init;
    CHECK_ERR(mpx_array_create(&a, "i", 3, bytes, NULL), MPX_EINVAL);
    CHECK_OK(mpx_array_create_bytes(&a, "i", 3, bytes, NULL));
    CHECK_EQ(((int *)mpx_array_ptr(a))[2], 2);
    mpx_array_destroy(a);
}

/* SCT-06: char arrays with .value / .raw. */
MPX_TEST(sct_06_char_array_strings)
{
    mpx_array *s;
    CHECK_OK(mpx_array_create(&s, "c", 11, "hello world", NULL));
    char buf[32];
    CHECK_OK(mpx_array_get_str(s, buf, sizeof buf));
    CHECK_STREQ(buf, "hello world");
    CHECK_ERR(mpx_array_get_str(s, buf, 11), MPX_ETOOSHORT);
    CHECK_OK(mpx_array_set_str(s, "HELLO"));
    CHECK_OK(mpx_array_get_str(s, buf, sizeof buf));
    CHECK_STREQ(buf, "HELLO");
    char raw[11];
    CHECK_OK(mpx_array_read_bytes(s, 0, 11, raw)); /* .raw */
    CHECK_MEMEQ(raw, "HELLO\0world", 11);
    CHECK_ERR(mpx_array_set_str(s, "this is far too long"), MPX_EINVAL);
    CHECK_OK(mpx_array_set_str(s, "exactly 11!"));
    CHECK_OK(mpx_array_get_str(s, buf, sizeof buf));
    CHECK_STREQ(buf, "exactly 11!");
    check_describe(mpx_array_describe(s), "<SynchronizedString wrapper for c_char_Array_11>");
    mpx_array_destroy(s);
    mpx_array *d;
    CHECK_OK(mpx_array_create(&d, "d", 2, NULL, NULL));
    CHECK_ERR(mpx_array_get_str(d, buf, sizeof buf), MPX_EINVAL);
    mpx_array_destroy(d);
}

/* SCT-09: RawArray. */
MPX_TEST(sct_09_rawarray)
{
    int init[3] = {9, 2, 8};
    mpx_array *a;
    CHECK_OK(mpx_rawarray_create(&a, "i", 3, init));
    void *lock;
    CHECK_ERR(mpx_array_get_lock(a, &lock), MPX_ESTATE);
    CHECK_ERR(mpx_array_acquire(a, 0), MPX_ESTATE);
    CHECK_ERR(mpx_array_release(a), MPX_ESTATE);
    int x;
    CHECK_OK(mpx_array_get(a, 2, &x));
    CHECK_EQ(x, 8);
    check_describe(mpx_array_describe(a), "c_int_Array_3");
    mpx_array_destroy(a);
    CHECK_OK(mpx_rawarray_create(&a, "h", 7, NULL));
    CHECK_EQ(mpx_array_elem_size(a), 2);
    mpx_array_destroy(a);
}

/* SCT-08: several objects share one caller lock. */
MPX_TEST(sct_08_shared_lock)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    mpx_shared_opts o = {.lock = l};
    mpx_value *v;
    mpx_array *a;
    CHECK_OK(mpx_value_create(&v, "i", 0, &o));
    CHECK_OK(mpx_array_create(&a, "i", 4, NULL, &o));
    mpx_lock_destroy(l); /* both objects keep the lock alive */
    void *lv, *la;
    CHECK_OK(mpx_value_get_lock(v, &lv));
    CHECK_OK(mpx_array_get_lock(a, &la));
    CHECK(lv == la);
    CHECK_EQ(mpx_value_acquire(v, MPX_FOREVER), 1);
    CHECK_EQ(mpx_lock_locked(la), 1);
    CHECK_EQ(mpx_array_acquire(a, MPX_NOWAIT), 0);
    CHECK_OK(mpx_array_release(a)); /* a Lock may be released by anyone */
    CHECK_OK(mpx_array_set_i64(a, 0, 5));
    mpx_value_destroy(v);
    mpx_array_destroy(a);
    int junk = 0;
    o.lock = &junk;
    CHECK_ERR(mpx_value_create(&v, "i", 0, &o), MPX_EINVAL);
}

/* SCT-12, SCT-13: copy and synchronized. */
MPX_TEST(sct_12_copy_and_synchronized)
{
    int init[3] = {1, 2, 3};
    mpx_array *a, *c, *s;
    CHECK_OK(mpx_array_create(&a, "i", 3, init, NULL));
    CHECK_OK(mpx_array_copy(a, &c));
    CHECK(mpx_array_ptr(c) != mpx_array_ptr(a));
    CHECK_MEMEQ(mpx_array_ptr(c), init, sizeof init);
    void *lock;
    CHECK_ERR(mpx_array_get_lock(c, &lock), MPX_ESTATE); /* copy is raw */
    ((int *)mpx_array_ptr(a))[0] = 42;
    CHECK_EQ(((int *)mpx_array_ptr(c))[0], 1);

    CHECK_OK(mpx_array_synchronized(c, NULL, &s));
    CHECK(mpx_array_ptr(s) == mpx_array_ptr(c)); /* same memory */
    CHECK_OK(mpx_array_get_lock(s, &lock));
    CHECK_OK(mpx_array_set_i64(s, 0, 7));
    CHECK_EQ(((int *)mpx_array_ptr(c))[0], 7);
    mpx_array_destroy(c); /* the wrapper keeps the memory */
    CHECK_EQ(((int *)mpx_array_ptr(s))[0], 7);
    mpx_array_destroy(s);

    mpx_rlock *r;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    mpx_value *v, *vc, *vs;
    CHECK_OK(mpx_rawvalue_create(&v, "q", 0));
    CHECK_OK(mpx_value_synchronized(v, r, &vs));
    CHECK_OK(mpx_value_get_lock(vs, &lock));
    CHECK(lock == (void *)r);
    CHECK_OK(mpx_value_set_i64(vs, 11));
    CHECK_OK(mpx_value_copy(vs, &vc));
    CHECK_EQ(*(int64_t *)mpx_value_ptr(vc), 11);
    mpx_value_destroy(v);
    mpx_value_destroy(vs);
    mpx_value_destroy(vc);
    mpx_rlock_destroy(r);
    mpx_array_destroy(a);
}

/* EX-09: child sets a Value('d') and negates an Array('i'). */
static int t_ex09(const mpx_args *a)
{
    mpx_value *num;
    mpx_array *arr;
    if (mpx_args_get_object(a, 0, "value", (void **)&num) ||
        mpx_args_get_object(a, 1, "array", (void **)&arr))
        return 2;
    mpx_value_set_f64(num, 3.1415927);
    for (size_t i = 0; i < mpx_array_len(arr); i++) {
        int64_t x;
        mpx_array_get_i64(arr, i, &x);
        mpx_array_set_i64(arr, i, -x);
    }
    return 0;
}

MPX_TEST(sct_ex09_value_array_in_child)
{
    mpx_value *num;
    mpx_array *arr;
    CHECK_OK(mpx_value_create(&num, "d", 0.0, NULL));
    int init[10];
    for (int i = 0; i < 10; i++)
        init[i] = i;
    CHECK_OK(mpx_array_create(&arr, "i", 10, init, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, num));
    CHECK_OK(mpx_args_add_object(a, arr));
    CHECK_EQ(join_destroy(start_args(t_ex09, a)), 0);
    mpx_args_destroy(a);
    double d;
    CHECK_OK(mpx_value_get_f64(num, &d));
    CHECK(d == 3.1415927);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(((int *)mpx_array_ptr(arr))[i], -i);
    mpx_value_destroy(num);
    mpx_array_destroy(arr);
}

/* SCT-04: increments under get_lock by several processes are exact. */
static int t_incr(const mpx_args *a)
{
    mpx_value *v = mpx_args_object(a, 0);
    for (int i = 0; i < 5000; i++) {
        if (mpx_value_acquire(v, MPX_FOREVER) != 1)
            return 2;
        int64_t x;
        mpx_value_get_i64(v, &x); /* recursive: the default lock is an RLock */
        mpx_value_set_i64(v, x + 1);
        mpx_value_release(v);
    }
    return 0;
}

MPX_TEST(sct_04_locked_increment_processes)
{
    mpx_value *v;
    CHECK_OK(mpx_value_create(&v, "i", 0, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, v));
    mpx_process *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = start_args(t_incr, a);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    mpx_args_destroy(a);
    int64_t x;
    CHECK_OK(mpx_value_get_i64(v, &x));
    CHECK_EQ(x, 20000);
    mpx_value_destroy(v);
}

/* seed test_sharedvalues: a child checks values and arrays. */
static int t_sharedvalues(const mpx_args *a)
{
    int64_t i;
    double d;
    mpx_value *v0 = mpx_args_object(a, 0), *v1 = mpx_args_object(a, 1), *v2 = mpx_args_object(a, 2);
    mpx_array *a0 = mpx_args_object(a, 3), *a1 = mpx_args_object(a, 4), *a2 = mpx_args_object(a, 5);
    if (mpx_value_get_i64(v0, &i) || i != 10)
        return 2;
    if (mpx_value_get_i64(v1, &i) || i != -2)
        return 3;
    if (mpx_value_get_f64(v2, &d) || d != 1.25)
        return 4;
    if (mpx_array_len(a0) != 100 || mpx_array_len(a1) != 100 || mpx_array_len(a2) != 1000)
        return 5;
    for (size_t k = 0; k < 100; k++) {
        if (mpx_array_get_i64(a0, k, &i) || i != (int64_t)k)
            return 6;
        if (mpx_array_get_f64(a1, k, &d) || d != 0.25 * (double)k)
            return 7;
    }
    unsigned short hs[1000];
    if (mpx_array_read(a2, 0, 1000, hs))
        return 8;
    for (int k = 0; k < 1000; k++)
        if (hs[k] != k)
            return 9;
    return 0;
}

MPX_TEST(sct_sharedvalues_seed)
{
    int iv = 10;
    short hv = -2;
    double dv = 1.25;
    mpx_value *v[3];
    CHECK_OK(mpx_value_create(&v[0], "i", iv, NULL));
    CHECK_OK(mpx_value_create(&v[1], "h", hv, NULL));
    CHECK_OK(mpx_value_create(&v[2], "d", dv, NULL));
    int ai[100];
    double ad[100];
    unsigned short ah[1000];
    for (int k = 0; k < 100; k++) {
        ai[k] = k;
        ad[k] = 0.25 * k;
    }
    for (int k = 0; k < 1000; k++)
        ah[k] = (unsigned short)k;
    mpx_array *arr[3];
    CHECK_OK(mpx_array_create(&arr[0], "i", 100, ai, NULL));
    CHECK_OK(mpx_array_create(&arr[1], "d", 100, ad, NULL));
    CHECK_OK(mpx_array_create(&arr[2], "H", 1000, ah, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    for (int k = 0; k < 3; k++)
        CHECK_OK(mpx_args_add_object(a, v[k]));
    for (int k = 0; k < 3; k++)
        CHECK_OK(mpx_args_add_object(a, arr[k]));
    CHECK_EQ(join_destroy(start_args(t_sharedvalues, a)), 0);
    mpx_args_destroy(a);
    for (int k = 0; k < 3; k++) {
        mpx_value_destroy(v[k]);
        mpx_array_destroy(arr[k]);
    }
}

/* A lock holder that dies: value access reports the suspect state. */
static int t_hold_value_die(const mpx_args *a)
{
    mpx_value *v = mpx_args_object(a, 0);
    mpx_value_acquire(v, MPX_FOREVER);
    *(int *)mpx_value_ptr(v) = 1234;
    raise(SIGKILL);
    return 0;
}

MPX_TEST(sct_value_lock_owner_death)
{
    mpx_value *v;
    CHECK_OK(mpx_value_create(&v, "i", 0, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, v));
    CHECK_EQ(join_destroy(start_args(t_hold_value_die, a)), -SIGKILL);
    mpx_args_destroy(a);
    int64_t x;
    CHECK_ERR(mpx_value_get_i64(v, &x), MPX_EOWNERDEAD); /* done, but suspect */
    CHECK_EQ(x, 1234);
    CHECK_OK(mpx_value_get_i64(v, &x));
    mpx_value_destroy(v);
}

/* Export/import round trip (spawn/forkserver path): same memory, lock
 * travels along, garbage is rejected. */
MPX_TEST(sct_17_export_import_roundtrip)
{
    mpx_value *v;
    mpx_array *arr, *raw;
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    mpx_shared_opts o = {.lock = l};
    CHECK_OK(mpx_value_create(&v, "q", 0, NULL));
    CHECK_OK(mpx_array_create(&arr, "d", 1000, NULL, &o));
    CHECK_OK(mpx_rawarray_create(&raw, "B", 5, "abcde"));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, v));
    CHECK_OK(mpx_args_add_object(a, arr));
    CHECK_OK(mpx_args_add_object(a, raw));
    mpx__buf buf;
    mpx__buf_init(&buf);
    mpx__fdlist fds = {.n = 0};
    CHECK_OK(mpx__args_export(a, NULL, &buf, &fds));
    /* one descriptor per segment: v and its RLock share one; arr has its
     * own plus the caller's Lock; raw one */
    CHECK_EQ(fds.n, 4);
    int dup_fds[64];
    for (int i = 0; i < fds.n; i++)
        CHECK((dup_fds[i] = fcntl(fds.fds[i], F_DUPFD_CLOEXEC, 0)) >= 0);
    mpx__rd rd = {buf.data, buf.len};
    mpx_args *in;
    CHECK_OK(mpx__args_import(&rd, dup_fds, fds.n, &in));
    mpx__buf_free(&buf);
    mpx_value *v2;
    mpx_array *arr2, *raw2;
    CHECK_OK(mpx_args_get_object(in, 0, "value", (void **)&v2));
    CHECK_OK(mpx_args_get_object(in, 1, "array", (void **)&arr2));
    CHECK_OK(mpx_args_get_object(in, 2, "array", (void **)&raw2));
    CHECK(mpx_value_ptr(v2) != mpx_value_ptr(v));
    CHECK_OK(mpx_value_set_i64(v, 77));
    int64_t x;
    CHECK_OK(mpx_value_get_i64(v2, &x));
    CHECK_EQ(x, 77);
    CHECK_EQ(mpx_value_acquire(v, 0), 1); /* the default RLock travelled */
    void *lk2;
    CHECK_OK(mpx_value_get_lock(v2, &lk2));
    CHECK_EQ(mpx_rlock_count(lk2), 1);
    CHECK_OK(mpx_value_release(v));
    CHECK_EQ(mpx_array_len(arr2), 1000);
    CHECK_OK(mpx_array_set_f64(arr2, 999, 0.5));
    CHECK(((double *)mpx_array_ptr(arr))[999] == 0.5);
    CHECK_EQ(mpx_lock_acquire(l, 0), 1); /* the caller's Lock is shared too */
    CHECK_EQ(mpx_array_acquire(arr2, MPX_NOWAIT), 0);
    CHECK_OK(mpx_lock_release(l));
    CHECK_ERR(mpx_array_get_lock(raw2, &lk2), MPX_ESTATE);
    CHECK_MEMEQ(mpx_array_ptr(raw2), "abcde", 5);
    mpx_args_destroy(in);
    mpx_args_destroy(a);
    mpx_value_destroy(v);
    mpx_array_destroy(arr);
    mpx_array_destroy(raw);
    mpx_lock_destroy(l);
}

MPX_TEST(sct_17_import_rejects_garbage)
{
    const char *names[] = {"value", "array"};
    unsigned char junk[96];
    for (int n = 0; n < 2; n++) {
        for (int len = 0; len <= 64; len += 4) {
            for (int i = 0; i < len; i++)
                junk[i] = (unsigned char)(i * 53 + n * 7 + len);
            check_import_rejects(names[n], junk, (size_t)len);
        }
    }
    /* a real segment with a lying length */
    mpx_array *arr;
    CHECK_OK(mpx_rawarray_create(&arr, "i", 4, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, arr));
    mpx__buf buf;
    mpx__buf_init(&buf);
    mpx__fdlist fds = {.n = 0};
    CHECK_OK(mpx__args_export(a, NULL, &buf, &fds));
    /* layout: u32 n, u8 type, bytes name (u64 + 5), u32 first, u32 nfds,
     * u64 dlen, then u32 type, u64 esize, u64 len: make len huge */
    size_t len_at = 4 + 1 + 8 + 5 + 4 + 4 + 8 + 4 + 8;
    CHECK(buf.len > len_at + 8);
    memset(buf.data + len_at, 0x7f, 8);
    int fd = fcntl(fds.fds[0], F_DUPFD_CLOEXEC, 0);
    mpx__rd rd = {buf.data, buf.len};
    mpx_args *in = NULL;
    CHECK_ERR(mpx__args_import(&rd, &fd, 1, &in), MPX_EPROTO);
    mpx__buf_free(&buf);
    mpx_args_destroy(a);
    mpx_array_destroy(arr);
}

/* Lock-free access through the pointer from threads is the caller's
 * business; through get/set with the lock it is consistent. */
struct pair_thr {
    mpx_array *a;
    int bad;
};

static void *thr_pair_writer(void *p)
{
    struct pair_thr *t = p;
    for (int64_t i = 0; i < 20000; i++) {
        int64_t w[2] = {i, -i};
        mpx_array_write(t->a, 0, 2, w);
    }
    return NULL;
}

MPX_TEST(sct_07_slice_copy_is_atomic_under_lock)
{
    mpx_array *a;
    CHECK_OK(mpx_array_create(&a, "q", 2, NULL, NULL));
    struct pair_thr t = {a, 0};
    pthread_t th;
    CHECK_OK(pthread_create(&th, NULL, thr_pair_writer, &t));
    for (int i = 0; i < 20000; i++) {
        int64_t r[2];
        CHECK_OK(mpx_array_read(a, 0, 2, r));
        if (r[0] != -r[1])
            t.bad++;
    }
    CHECK_OK(pthread_join(th, NULL));
    CHECK_EQ(t.bad, 0);
    mpx_array_destroy(a);
}

/* #18: a get or set of one element takes the Array's RLock from free and
 * gives it back within the call, without recording an owner thread. That
 * must not let another thread of the same process through while a thread
 * holds the lock (get_lock/acquire), nor stop the holder's own get and set
 * (recursion), nor change what the RLock reports while free or held. */
typedef struct {
    mpx_array *a;
    _Atomic int started, done;
} brief_arg;

static void *brief_setter(void *p)
{
    brief_arg *b = p;
    atomic_store(&b->started, 1);
    int rc = mpx_array_set(b->a, 3, 77); /* waits for the holder */
    atomic_store(&b->done, rc == 0 ? 1 : -1);
    return NULL;
}

MPX_TEST_ONCE(sct_brief_hold_rlock_threads)
{
    int init[5] = {0, 1, 2, 3, 4};
    mpx_array *a;
    CHECK_OK(mpx_array_create(&a, "i", 5, init, NULL));
    void *lock = NULL;
    CHECK_OK(mpx_array_get_lock(a, &lock));
    int x = -1;
    CHECK_OK(mpx_array_get(a, 3, &x));
    CHECK_EQ(x, 3);
    CHECK_EQ(mpx_rlock_count(lock), 0); /* free again after a get */
    CHECK_EQ(mpx_rlock_is_mine(lock), 0);

    CHECK_EQ(mpx_sync_acquire(lock, MPX_FOREVER), 1);
    CHECK_OK(mpx_array_set(a, 3, 30)); /* the holder's own set: recursion */
    CHECK_OK(mpx_array_get(a, 3, &x));
    CHECK_EQ(x, 30);
    CHECK_EQ(mpx_rlock_count(lock), 1);
    brief_arg b = {.a = a};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, brief_setter, &b), 0);
    while (!atomic_load(&b.started))
        sleep_ms(1);
    sleep_ms(100); /* the setter is inside mpx_array_set, waiting */
    CHECK_EQ(atomic_load(&b.done), 0);
    CHECK_OK(mpx_array_get(a, 3, &x));
    CHECK_EQ(x, 30); /* not written behind the holder's back */
    CHECK_OK(mpx_sync_release(lock));
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(atomic_load(&b.done), 1);
    CHECK_OK(mpx_array_get(a, 3, &x));
    CHECK_EQ(x, 77);
    CHECK_EQ(mpx_rlock_count(lock), 0);
    CHECK_ERR(mpx_sync_release(lock), MPX_ESTATE);
    mpx_array_destroy(a);
}
