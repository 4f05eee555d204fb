/* test_obj.c - the value model (include/mpx/obj.h, #15): constructors,
 * getters, containers, Python's equality/ordering/hash rules, repr,
 * format strings, depth limits, reference cycles and sharing between
 * threads. In-process tests: no start method is involved. Every test
 * checks that the values it made are all freed (mpx__v_live). Expected
 * strings and hashes were printed by CPython 3.11. */
#include "harness.h"

#include <math.h>
#include <pthread.h>

int64_t mpx__v_live(void); /* values alive in this thread (obj.c) */

#define LIVE_BEGIN int64_t live0_ = mpx__v_live()
#define LIVE_END CHECK_EQ(mpx__v_live(), live0_)

static void check_repr(const mpx_obj *v, const char *want, const char *file, int line)
{
    char *r = mpx_obj_repr(v);
    if (!r || strcmp(r, want) != 0)
        mpx_test_fail(file, line, "repr: got %s, want %s", r ? r : "(NULL)", want);
    mpx_free(r);
}
#define CHECK_REPR(v, want) check_repr((v), (want), __FILE__, __LINE__)

/* repr of a value that the test then releases */
#define CHECK_REPR_NEW(expr, want)   \
    do {                             \
        mpx_obj *v_ = (expr);        \
        CHECK(v_ != NULL);           \
        CHECK_REPR(v_, want);        \
        mpx_obj_decref(v_);          \
    } while (0)

MPX_TEST_ONCE(obj_scalars)
{
    LIVE_BEGIN;
    CHECK(mpx_obj_none() == mpx_obj_none());
    CHECK_EQ(mpx_obj_typeof(mpx_obj_none()), MPX_OBJ_NONE);
    CHECK_STREQ(mpx_obj_type_name(mpx_obj_none()), "NoneType");
    CHECK(mpx_obj_bool(7) == mpx_obj_true());
    CHECK(mpx_obj_bool(0) == mpx_obj_false());
    mpx_obj_decref(mpx_obj_true()); /* releasing a singleton does nothing */
    int b = -1;
    CHECK_OK(mpx_obj_get_bool(mpx_obj_true(), &b));
    CHECK_EQ(b, 1);
    CHECK_ERR(mpx_obj_get_bool(mpx_obj_none(), &b), MPX_ETYPE);

    int64_t i;
    uint64_t u;
    double d;
    mpx_obj *v = mpx_obj_int(-42);
    CHECK_EQ(mpx_obj_typeof(v), MPX_OBJ_INT);
    CHECK_OK(mpx_obj_get_int(v, &i));
    CHECK_EQ(i, -42);
    CHECK_ERR(mpx_obj_get_uint(v, &u), -ERANGE);
    CHECK_OK(mpx_obj_get_float(v, &d));
    CHECK(d == -42.0);
    CHECK_ERR(mpx_obj_get_str(v, NULL, NULL), MPX_ETYPE);
    mpx_obj_decref(v);
    CHECK_OK(mpx_obj_get_int(mpx_obj_true(), &i)); /* bool is an int, as in Python */
    CHECK_EQ(i, 1);

    v = mpx_obj_uint(UINT64_MAX);
    CHECK_ERR(mpx_obj_get_int(v, &i), -ERANGE);
    CHECK_OK(mpx_obj_get_uint(v, &u));
    CHECK(u == UINT64_MAX);
    CHECK_REPR(v, "18446744073709551615");
    mpx_obj_decref(v);
    v = mpx_obj_int(INT64_MIN);
    CHECK_REPR(v, "-9223372036854775808");
    CHECK_OK(mpx_obj_get_int(v, &i));
    CHECK(i == INT64_MIN);
    mpx_obj_decref(v);

    v = mpx_obj_float(-0.0);
    CHECK_EQ(mpx_obj_typeof(v), MPX_OBJ_FLOAT);
    CHECK_OK(mpx_obj_get_float(v, &d));
    CHECK(d == 0.0 && signbit(d));
    CHECK_ERR(mpx_obj_get_int(v, &i), MPX_ETYPE);
    CHECK_REPR(v, "-0.0");
    CHECK_EQ(mpx_obj_truth(v), 0);
    mpx_obj_decref(v);

    v = mpx_obj_str("héllo");
    const char *s;
    size_t n;
    CHECK_OK(mpx_obj_get_str(v, &s, &n));
    CHECK_STREQ(s, "héllo");
    CHECK_EQ(n, 6);
    CHECK_EQ(mpx_obj_len(v), 5); /* code points */
    CHECK_STREQ(mpx_obj_str_value(v), "héllo");
    CHECK(mpx_obj_str_value(mpx_obj_none()) == NULL);
    mpx_obj_decref(v);
    v = mpx_obj_strn("a\0b", 3);
    CHECK_EQ(mpx_obj_len(v), 3);
    CHECK_REPR(v, "'a\\x00b'");
    mpx_obj_decref(v);
    v = mpx_obj_str_printf("%d-%s", 7, "x");
    CHECK_STREQ(mpx_obj_str_value(v), "7-x");
    mpx_obj_decref(v);

    v = mpx_obj_bytes("\0\1\2", 3);
    const void *p;
    CHECK_OK(mpx_obj_get_bytes(v, &p, &n));
    CHECK_EQ(n, 3);
    CHECK_MEMEQ(p, "\0\1\2", 3);
    CHECK_EQ(mpx_obj_len(v), 3);
    CHECK(mpx_obj_bytearray_data(v) == NULL);
    mpx_obj_decref(v);
    v = mpx_obj_bytes(NULL, 4);
    CHECK_OK(mpx_obj_get_bytes(v, &p, &n));
    CHECK(n == 4 && !memcmp(p, "\0\0\0\0", 4));
    mpx_obj_decref(v);
    char *heap = malloc(5);
    memcpy(heap, "taken", 5);
    v = mpx_obj_bytes_take(heap, 5);
    CHECK_OK(mpx_obj_get_bytes(v, &p, &n));
    CHECK(p == heap && n == 5); /* no copy */
    mpx_obj_decref(v);

    v = mpx_obj_bytearray("ab", 2);
    CHECK_EQ(mpx_obj_typeof(v), MPX_OBJ_BYTEARRAY);
    unsigned char *w = mpx_obj_bytearray_data(v);
    w[0] = 'X';
    CHECK_OK(mpx_obj_bytearray_resize(v, 4));
    CHECK_REPR(v, "bytearray(b'Xb\\x00\\x00')");
    CHECK_OK(mpx_obj_clear(v));
    CHECK_REPR(v, "bytearray(b'')");
    mpx_obj_decref(v);
    CHECK_ERR(mpx_obj_bytearray_resize(mpx_obj_none(), 1), MPX_ETYPE);
    LIVE_END;
}

MPX_TEST_ONCE(obj_str_utf8_rejected)
{
    LIVE_BEGIN;
    mpx_obj_error e;
    CHECK(mpx_obj_str("\xff") == NULL);
    CHECK_ERR(mpx_obj_utf8_check("ab\xff", 3, &e), MPX_EINVAL);
    CHECK_EQ(e.offset, 2);
    CHECK(strstr(e.text, "invalid start byte") != NULL);
    /* a lone surrogate (what CPython's surrogatepass writes) */
    CHECK(mpx_obj_strn("x\xed\xa0\x80", 4) == NULL);
    CHECK_ERR(mpx_obj_utf8_check("x\xed\xa0\x80", 4, &e), MPX_EINVAL);
    CHECK_EQ(e.offset, 1);
    CHECK(strstr(e.text, "surrogate U+D800") != NULL);
    CHECK(mpx_obj_strn("\xc0\x80", 2) == NULL);          /* overlong NUL */
    CHECK(mpx_obj_strn("\xf4\x90\x80\x80", 4) == NULL);  /* above U+10FFFF */
    CHECK(mpx_obj_strn("\xe2\x82", 2) == NULL);          /* truncated */
    CHECK_ERR(mpx_obj_utf8_check("\xe2\x82", 2, &e), MPX_EINVAL);
    CHECK(strstr(e.text, "unexpected end of data") != NULL);
    mpx_obj *v = mpx_obj_strn("\xf4\x8f\xbf\xbf", 4); /* U+10FFFF is fine */
    CHECK(v != NULL);
    CHECK_EQ(mpx_obj_len(v), 1);
    mpx_obj_decref(v);
    LIVE_END;
}

MPX_TEST_ONCE(obj_bigint)
{
    LIVE_BEGIN;
    /* 2**200 from bytes, both byte orders, both signs */
    unsigned char le[26] = {0};
    le[25] = 1; /* 2**200 = 1 << 200: byte 25 */
    mpx_obj *v = mpx_obj_int_from_bytes(le, 26, 1, 1);
    CHECK_REPR(v, "1606938044258990275541962092341162602522202993782792835301376");
    CHECK_EQ(mpx_obj_int_bit_length(v), 201);
    unsigned char out[32];
    CHECK_OK(mpx_obj_int_to_bytes(v, out, 26, 1, 1));
    CHECK_MEMEQ(out, le, 26);
    CHECK_ERR(mpx_obj_int_to_bytes(v, out, 25, 1, 1), -ERANGE); /* needs a sign bit */
    CHECK_OK(mpx_obj_int_to_bytes(v, out, 26, 1, 0));
    int64_t i;
    CHECK_ERR(mpx_obj_get_int(v, &i), -ERANGE);
    double d;
    CHECK_OK(mpx_obj_get_float(v, &d));
    CHECK(d == ldexp(1.0, 200));
    mpx_obj_error e;
    const char *hex200 = "-0x1_00000000000000000000000000000000000000000000000000"; /* -(16**50) */
    mpx_obj *w = mpx_obj_int_parse(hex200, strlen(hex200), 0, &e);
    CHECK(w != NULL);
    CHECK_REPR(w, "-1606938044258990275541962092341162602522202993782792835301376");
    CHECK_EQ(mpx_obj_compare(w, v, MPX_OBJ_LT), 1);
    mpx_obj *neg = mpx_obj_int_from_bytes(out, 26, 1, 0);
    CHECK_EQ(mpx_obj_equal(neg, v), 1);
    mpx_obj_decref(neg);
    /* -(2**200) in 26 bytes two's complement: 0x..ff00..00 */
    CHECK_OK(mpx_obj_int_to_bytes(w, out, 26, 0, 1));
    CHECK_EQ(out[0], 0xff);
    CHECK_EQ(out[25], 0);
    mpx_obj *back = mpx_obj_int_from_bytes(out, 26, 0, 1);
    CHECK_EQ(mpx_obj_equal(back, w), 1);
    mpx_obj_decref(back);
    int64_t h;
    CHECK_OK(mpx_obj_hash(v, &h));
    CHECK_EQ(h, 131072); /* hash(2**200) */
    mpx_obj_decref(v);
    mpx_obj_decref(w);

    /* int() syntax */
    struct {
        const char *text;
        int base;
        const char *repr; /* NULL: invalid */
    } cases[] = {
        {"0x_ff", 0, "255"},  {" -1_000 ", 10, "-1000"}, {"0b101", 0, "5"},   {"zz", 36, "1295"},
        {"000", 0, "0"},      {"010", 0, NULL},          {"1__0", 10, NULL},  {"_1", 10, NULL},
        {"1_", 10, NULL},     {"", 10, NULL},            {"0x", 0, NULL},     {"12a", 10, NULL},
        {"9223372036854775808", 10, "9223372036854775808"}, {"-9223372036854775808", 10, "-9223372036854775808"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mpx_obj *x = mpx_obj_int_parse(cases[k].text, strlen(cases[k].text), cases[k].base, &e);
        if (!cases[k].repr) {
            if (x)
                FAIL("int('%s', %d) should fail", cases[k].text, cases[k].base);
            CHECK_EQ(e.code, MPX_EINVAL);
            continue;
        }
        if (!x)
            FAIL("int('%s', %d) failed: %s", cases[k].text, cases[k].base, e.text);
        CHECK_REPR(x, cases[k].repr);
        mpx_obj_decref(x);
    }
    /* CPython's 4300-digit limit for decimal conversions */
    char *digits = malloc(4302);
    memset(digits, '7', 4301);
    digits[4301] = 0;
    mpx_obj *d4300 = mpx_obj_int_parse(digits, 4300, 10, &e);
    CHECK(d4300 != NULL);
    mpx_obj_decref(d4300);
    CHECK(mpx_obj_int_parse(digits, 4301, 10, &e) == NULL);
    CHECK_EQ(e.code, -ERANGE);
    free(digits);
    LIVE_END;
}

MPX_TEST_ONCE(obj_numbers_python_rules)
{
    LIVE_BEGIN;
    mpx_obj *one = mpx_obj_int(1), *onef = mpx_obj_float(1.0), *t = mpx_obj_true();
    CHECK_EQ(mpx_obj_equal(one, onef), 1);
    CHECK_EQ(mpx_obj_equal(one, t), 1);
    int64_t h1, h2, h3;
    CHECK_OK(mpx_obj_hash(one, &h1));
    CHECK_OK(mpx_obj_hash(onef, &h2));
    CHECK_OK(mpx_obj_hash(t, &h3));
    CHECK(h1 == 1 && h2 == 1 && h3 == 1);
    struct {
        double v;
        int64_t h;
    } fh[] = {{1.5, 1152921504606846977LL}, {1e300, 1224995262755759164LL}, {0.1, 230584300921369408LL},
              {-0.0, 0},                     {INFINITY, 314159},            {1180591620717411303424.0, 512}};
    for (size_t k = 0; k < sizeof fh / sizeof fh[0]; k++) {
        mpx_obj *f = mpx_obj_float(fh[k].v);
        int64_t h;
        CHECK_OK(mpx_obj_hash(f, &h));
        if (h != fh[k].h)
            FAIL("hash(%g) = %lld, want %lld", fh[k].v, (long long)h, (long long)fh[k].h);
        mpx_obj_decref(f);
    }
    mpx_obj *m1 = mpx_obj_int(-1), *m2 = mpx_obj_int(INT64_MIN);
    CHECK_OK(mpx_obj_hash(m1, &h1));
    CHECK_EQ(h1, -2); /* hash(-1) == -2 */
    CHECK_OK(mpx_obj_hash(m2, &h1));
    CHECK_EQ(h1, -4); /* hash(-2**63) */
    /* 2**70 == float(2**70): equal and same hash */
    unsigned char b70[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0x40};
    mpx_obj *big = mpx_obj_int_from_bytes(b70, 9, 1, 0), *bigf = mpx_obj_float(ldexp(1.0, 70));
    CHECK_EQ(mpx_obj_equal(big, bigf), 1);
    CHECK_OK(mpx_obj_hash(big, &h1));
    CHECK_OK(mpx_obj_hash(bigf, &h2));
    CHECK_EQ(h1, h2);
    mpx_obj *bigf2 = mpx_obj_float(ldexp(1.0, 70) + ldexp(1.0, 18));
    CHECK_EQ(mpx_obj_compare(big, bigf2, MPX_OBJ_LT), 1);
    CHECK_EQ(mpx_obj_compare(bigf2, big, MPX_OBJ_GT), 1);
    mpx_obj *half = mpx_obj_float(0.5);
    CHECK_EQ(mpx_obj_compare(mpx_obj_false(), half, MPX_OBJ_LT), 1);
    CHECK_EQ(mpx_obj_compare(one, half, MPX_OBJ_GE), 1);
    /* NaN: unequal to itself, all orderings false */
    mpx_obj *nan = mpx_obj_float(NAN);
    CHECK_EQ(mpx_obj_equal(nan, nan), 0);
    CHECK_EQ(mpx_obj_compare(nan, one, MPX_OBJ_LT), 0);
    CHECK_EQ(mpx_obj_compare(nan, one, MPX_OBJ_GE), 0);
    CHECK_EQ(mpx_obj_compare(nan, nan, MPX_OBJ_NE), 1);
    /* an identical NaN inside containers counts as equal (RichCompareBool) */
    mpx_obj *l1 = mpx_obj_tuple_pack(1, nan), *l2 = mpx_obj_tuple_pack(1, nan);
    CHECK_EQ(mpx_obj_equal(l1, l2), 1);
    mpx_obj *nan2 = mpx_obj_float(NAN), *l3 = mpx_obj_tuple_pack(1, nan2);
    CHECK_EQ(mpx_obj_equal(l1, l3), 0);
    /* unorderable: TypeError */
    mpx_obj *s = mpx_obj_str("1");
    CHECK_ERR(mpx_obj_compare(one, s, MPX_OBJ_LT), MPX_ETYPE);
    CHECK_EQ(mpx_obj_compare(one, s, MPX_OBJ_EQ), 0);
    CHECK_EQ(mpx_obj_compare(one, s, MPX_OBJ_NE), 1);
    CHECK_ERR(mpx_obj_compare(mpx_obj_none(), mpx_obj_none(), MPX_OBJ_LT), MPX_ETYPE);
    for (mpx_obj **p = (mpx_obj *[]){one, onef, m1, m2, big, bigf, bigf2, half, nan, nan2, l1, l2, l3, s, NULL};
         *p; p++)
        mpx_obj_decref(*p);
    LIVE_END;
}

MPX_TEST_ONCE(obj_sequences_compare_hash)
{
    LIVE_BEGIN;
    mpx_obj *a = mpx_obj_build("[i,i,i]", 1, 2, 3), *b = mpx_obj_build("[i,i]", 1, 3);
    mpx_obj *t = mpx_obj_build("(i,i)", 1, 2);
    CHECK_EQ(mpx_obj_compare(a, b, MPX_OBJ_LT), 1); /* [1,2,3] < [1,3] */
    CHECK_EQ(mpx_obj_compare(a, t, MPX_OBJ_EQ), 0); /* list != tuple */
    CHECK_ERR(mpx_obj_compare(a, t, MPX_OBJ_LT), MPX_ETYPE);
    int64_t h;
    CHECK_ERR(mpx_obj_hash(a, &h), MPX_ETYPE);
    CHECK_OK(mpx_obj_hash(t, &h));
    CHECK_EQ(h, -3550055125485641917LL); /* hash((1, 2)) */
    mpx_obj *e = mpx_obj_tuple(0);
    CHECK_OK(mpx_obj_hash(e, &h));
    CHECK_EQ(h, 5740354900026072187LL); /* hash(()) */
    mpx_obj *tl = mpx_obj_build("(O)", a);
    CHECK_ERR(mpx_obj_hash(tl, &h), MPX_ETYPE); /* tuple holding a list */
    mpx_obj *s1 = mpx_obj_str("abc"), *s2 = mpx_obj_str("abd"), *s3 = mpx_obj_str("ab");
    CHECK_EQ(mpx_obj_compare(s1, s2, MPX_OBJ_LT), 1);
    CHECK_EQ(mpx_obj_compare(s3, s1, MPX_OBJ_LT), 1);
    mpx_obj *by = mpx_obj_bytes("abc", 3), *ba = mpx_obj_bytearray("abc", 3);
    CHECK_EQ(mpx_obj_equal(by, ba), 1); /* b'abc' == bytearray(b'abc') */
    CHECK_EQ(mpx_obj_equal(by, s1), 0);
    CHECK_ERR(mpx_obj_hash(ba, &h), MPX_ETYPE);
    /* sets: subset order */
    mpx_obj *x = mpx_obj_build("[i,i]", 1, 2), *y = mpx_obj_set(), *z = mpx_obj_frozenset();
    mpx_obj_set_add_new(y, mpx_obj_int(1));
    mpx_obj_set_add_new(z, mpx_obj_int(1));
    mpx_obj_set_add_new(z, mpx_obj_int(2));
    CHECK_EQ(mpx_obj_compare(y, z, MPX_OBJ_LT), 1);
    CHECK_EQ(mpx_obj_compare(z, y, MPX_OBJ_LT), 0);
    CHECK_EQ(mpx_obj_compare(z, y, MPX_OBJ_GE), 1);
    mpx_obj_set_add_new(y, mpx_obj_float(2.0));
    CHECK_EQ(mpx_obj_equal(y, z), 1); /* {1, 2.0} == frozenset({1, 2}) */
    CHECK_ERR(mpx_obj_hash(y, &h), MPX_ETYPE);
    int64_t h2;
    CHECK_OK(mpx_obj_hash(z, &h));
    mpx_obj *z2 = mpx_obj_frozenset();
    mpx_obj_set_add_new(z2, mpx_obj_int(2));
    mpx_obj_set_add_new(z2, mpx_obj_int(1));
    CHECK_OK(mpx_obj_hash(z2, &h2));
    CHECK_EQ(h, h2); /* order does not matter */
    /* contains */
    mpx_obj *two = mpx_obj_int(2);
    CHECK_EQ(mpx_obj_contains(z, two), 1);
    CHECK_EQ(mpx_obj_contains(x, two), 1);
    CHECK_EQ(mpx_obj_contains(s1, s3), 1);
    CHECK_EQ(mpx_obj_contains(s3, s1), 0);
    CHECK_ERR(mpx_obj_contains(s1, two), MPX_ETYPE);
    mpx_obj *c98 = mpx_obj_int('b');
    CHECK_EQ(mpx_obj_contains(by, c98), 1);
    CHECK_EQ(mpx_obj_contains(ba, s1), MPX_ETYPE);
    CHECK_EQ(mpx_obj_contains(ba, by), 1);
    CHECK_ERR(mpx_obj_contains(z, a), MPX_ETYPE); /* unhashable */
    for (mpx_obj **p = (mpx_obj *[]){a, b, t, e, tl, s1, s2, s3, by, ba, x, y, z, z2, two, c98, NULL}; *p; p++)
        mpx_obj_decref(*p);
    LIVE_END;
}

MPX_TEST_ONCE(obj_list_ops)
{
    LIVE_BEGIN;
    mpx_obj *l = mpx_obj_list();
    CHECK_EQ(mpx_obj_len(l), 0);
    CHECK_EQ(mpx_obj_truth(l), 0);
    for (int i = 0; i < 100; i++)
        CHECK_OK(mpx_obj_list_append_new(l, mpx_obj_int(i)));
    CHECK_EQ(mpx_obj_len(l), 100);
    int64_t v;
    CHECK_OK(mpx_obj_get_int(mpx_obj_item(l, -1), &v));
    CHECK_EQ(v, 99);
    CHECK(mpx_obj_item(l, 100) == NULL);
    CHECK(mpx_obj_item(l, -101) == NULL);
    CHECK_OK(mpx_obj_list_insert_new(l, 0, mpx_obj_str("first")));
    CHECK_OK(mpx_obj_list_insert_new(l, -1, mpx_obj_str("before last")));
    CHECK_OK(mpx_obj_list_insert_new(l, 1000, mpx_obj_str("end"))); /* clamped */
    CHECK_STREQ(mpx_obj_str_value(mpx_obj_item(l, 0)), "first");
    CHECK_STREQ(mpx_obj_str_value(mpx_obj_item(l, -3)), "before last");
    CHECK_STREQ(mpx_obj_str_value(mpx_obj_item(l, -1)), "end");
    CHECK_OK(mpx_obj_list_set_new(l, 1, mpx_obj_none()));
    CHECK_ERR(mpx_obj_list_set_new(l, 500, mpx_obj_none()), MPX_EINDEX);
    mpx_obj *out;
    CHECK_OK(mpx_obj_list_pop(l, 0, &out));
    CHECK_STREQ(mpx_obj_str_value(out), "first");
    mpx_obj_decref(out);
    CHECK_OK(mpx_obj_list_pop(l, -1, NULL));
    CHECK_EQ(mpx_obj_len(l), 101);
    /* iteration */
    size_t pos = 0, n = 0;
    mpx_obj *it;
    while (mpx_obj_next(l, &pos, &it) == 1)
        n++;
    CHECK_EQ(n, 101);
    /* _new steals even when failing; a NULL item (failed constructor) is -ENOMEM */
    CHECK_ERR(mpx_obj_list_append_new(mpx_obj_none(), mpx_obj_int(123456)), MPX_ETYPE);
    CHECK_ERR(mpx_obj_list_append_new(l, NULL), -ENOMEM);
    CHECK_ERR(mpx_obj_list_append(l, NULL), MPX_EINVAL);
    /* extend, including with itself */
    mpx_obj *t = mpx_obj_build("(ss)", "x", "y");
    CHECK_OK(mpx_obj_list_extend(l, t));
    CHECK_OK(mpx_obj_list_extend(l, l));
    CHECK_EQ(mpx_obj_len(l), 206);
    CHECK_ERR(mpx_obj_list_extend(l, mpx_obj_none()), MPX_ETYPE);
    CHECK_OK(mpx_obj_clear(l));
    CHECK_EQ(mpx_obj_len(l), 0);
    CHECK_ERR(mpx_obj_list_pop(l, -1, NULL), MPX_EINDEX);
    mpx_obj_decref(t);
    mpx_obj_decref(l);
    LIVE_END;
}

MPX_TEST_ONCE(obj_tuple_ops)
{
    LIVE_BEGIN;
    mpx_obj *t = mpx_obj_tuple(3);
    CHECK_REPR(t, "(None, None, None)");
    CHECK_OK(mpx_obj_tuple_set_new(t, 0, mpx_obj_int(1)));
    CHECK_OK(mpx_obj_tuple_set_new(t, 2, mpx_obj_str("z")));
    CHECK_ERR(mpx_obj_tuple_set_new(t, 3, mpx_obj_int(1)), MPX_EINDEX);
    CHECK_ERR(mpx_obj_tuple_set_new(t, 1, mpx_obj_incref(t)), MPX_EINVAL);
    CHECK_REPR(t, "(1, None, 'z')");
    mpx_obj_incref(t); /* shared now: immutable */
    CHECK_ERR(mpx_obj_tuple_set_new(t, 1, mpx_obj_int(2)), MPX_ESTATE);
    mpx_obj_decref(t);
    mpx_obj *l = mpx_obj_list();
    mpx_obj_list_append(l, t); /* held by a container: immutable too */
    CHECK_ERR(mpx_obj_tuple_set_new(t, 1, mpx_obj_int(2)), MPX_ESTATE);
    mpx_obj_decref(l);
    mpx_obj_decref(t);
    mpx_obj *a = mpx_obj_int(5), *b = mpx_obj_str("b");
    t = mpx_obj_tuple_pack(2, a, b);
    CHECK_REPR(t, "(5, 'b')");
    mpx_obj_decref(a);
    mpx_obj_decref(b);
    CHECK(mpx_obj_item(t, 1) != NULL);
    mpx_obj_decref(t);
    CHECK(mpx_obj_tuple_pack(2, mpx_obj_none(), NULL) == NULL);
    CHECK_REPR_NEW(mpx_obj_tuple_pack(1, mpx_obj_none()), "(None,)");
    CHECK(mpx_obj_tuple(0) == mpx_obj_tuple(0)); /* the empty tuple */
    LIVE_END;
}

MPX_TEST_ONCE(obj_dict_ops)
{
    LIVE_BEGIN;
    mpx_obj *d = mpx_obj_dict();
    CHECK_OK(mpx_obj_dict_set_s_new(d, "b", mpx_obj_int(1)));
    CHECK_OK(mpx_obj_dict_set_s_new(d, "a", mpx_obj_int(2)));
    CHECK_OK(mpx_obj_dict_set_new(d, mpx_obj_int(1), mpx_obj_str("one")));
    CHECK_REPR(d, "{'b': 1, 'a': 2, 1: 'one'}");
    /* 1.0 and True are the key 1: the key object stays, the value changes */
    CHECK_OK(mpx_obj_dict_set_new(d, mpx_obj_float(1.0), mpx_obj_str("float")));
    CHECK_OK(mpx_obj_dict_set_new(d, mpx_obj_true(), mpx_obj_str("bool")));
    CHECK_REPR(d, "{'b': 1, 'a': 2, 1: 'bool'}");
    CHECK_EQ(mpx_obj_len(d), 3);
    mpx_obj *k = mpx_obj_float(1.0), *v = NULL;
    CHECK_EQ(mpx_obj_dict_lookup(d, k, &v), 1);
    CHECK_STREQ(mpx_obj_str_value(v), "bool");
    mpx_obj_decref(k);
    int64_t i;
    CHECK_OK(mpx_obj_get_int(mpx_obj_dict_get_s(d, "b"), &i));
    CHECK_EQ(i, 1);
    CHECK_OK(mpx_obj_get_int(mpx_obj_dict_get_s(d, "a"), &i));
    CHECK_EQ(i, 2);
    CHECK(mpx_obj_dict_get_s(d, "missing") == NULL);
    /* unhashable key */
    mpx_obj *lst = mpx_obj_list();
    CHECK_ERR(mpx_obj_dict_set(d, lst, mpx_obj_none()), MPX_ETYPE);
    CHECK_ERR(mpx_obj_dict_lookup(d, lst, NULL), MPX_ETYPE);
    CHECK(mpx_obj_dict_get(d, lst) == NULL);
    mpx_obj_decref(lst);
    CHECK_OK(mpx_obj_dict_del_s(d, "b"));
    CHECK_ERR(mpx_obj_dict_del_s(d, "b"), MPX_EKEY);
    CHECK_REPR(d, "{'a': 2, 1: 'bool'}");
    CHECK_OK(mpx_obj_dict_set_s_new(d, "b", mpx_obj_int(3)));
    CHECK_REPR(d, "{'a': 2, 1: 'bool', 'b': 3}"); /* re-inserted at the end */
    /* iteration */
    size_t pos = 0;
    mpx_obj *key, *val;
    int n = 0;
    while (mpx_obj_dict_next(d, &pos, &key, &val) == 1)
        n++;
    CHECK_EQ(n, 3);
    CHECK_ERR(mpx_obj_dict_next(mpx_obj_none(), &pos, &key, &val), MPX_ETYPE);
    /* update */
    mpx_obj *o = mpx_obj_build("{s:i,s:i}", "a", 20, "z", 26);
    CHECK_OK(mpx_obj_dict_update(d, o));
    CHECK_REPR(d, "{'a': 20, 1: 'bool', 'b': 3, 'z': 26}");
    mpx_obj_decref(o);
    /* NaN keys: each NaN object is its own key */
    mpx_obj *nd = mpx_obj_dict(), *nan = mpx_obj_float(NAN);
    CHECK_OK(mpx_obj_dict_set(nd, nan, mpx_obj_int(1)));
    CHECK_OK(mpx_obj_dict_set_new(nd, mpx_obj_float(NAN), mpx_obj_int(2)));
    CHECK_EQ(mpx_obj_len(nd), 2);
    CHECK(mpx_obj_dict_get(nd, nan) != NULL);
    mpx_obj_decref(nan);
    mpx_obj_decref(nd);
    /* many keys, deletions, growth: order and lookups stay right */
    mpx_obj *big = mpx_obj_dict();
    for (int j = 0; j < 20000; j++)
        CHECK_OK(mpx_obj_dict_set_new(big, mpx_obj_int(j), mpx_obj_int(-j)));
    for (int j = 0; j < 20000; j += 2) {
        mpx_obj *kk = mpx_obj_int(j);
        CHECK_OK(mpx_obj_dict_del(big, kk));
        mpx_obj_decref(kk);
    }
    for (int j = 0; j < 100; j++)
        CHECK_OK(mpx_obj_dict_set_new(big, mpx_obj_int(j * 2), mpx_obj_none()));
    CHECK_EQ(mpx_obj_len(big), 10100);
    pos = 0;
    mpx_obj_dict_next(big, &pos, &key, &val);
    CHECK_OK(mpx_obj_get_int(key, &i));
    CHECK_EQ(i, 1);
    for (int j = 1; j < 20000; j += 2) {
        mpx_obj *kk = mpx_obj_int(j);
        mpx_obj *vv = mpx_obj_dict_get(big, kk);
        CHECK(vv != NULL);
        CHECK_OK(mpx_obj_get_int(vv, &i));
        CHECK_EQ(i, -j);
        mpx_obj_decref(kk);
    }
    mpx_obj_decref(big);
    mpx_obj_decref(d);
    LIVE_END;
}

MPX_TEST_ONCE(obj_set_ops)
{
    LIVE_BEGIN;
    mpx_obj *s = mpx_obj_set();
    CHECK_REPR(s, "set()");
    CHECK_OK(mpx_obj_set_add_new(s, mpx_obj_int(1)));
    CHECK_OK(mpx_obj_set_add_new(s, mpx_obj_float(1.0))); /* same member */
    CHECK_OK(mpx_obj_set_add_new(s, mpx_obj_str("a")));
    CHECK_REPR(s, "{1, 'a'}");
    CHECK_ERR(mpx_obj_set_add_new(s, mpx_obj_list()), MPX_ETYPE);
    mpx_obj *one = mpx_obj_int(1);
    CHECK_EQ(mpx_obj_set_discard(s, one), 1);
    CHECK_EQ(mpx_obj_set_discard(s, one), 0);
    mpx_obj_decref(one);
    CHECK_REPR(s, "{'a'}");
    mpx_obj *f = mpx_obj_frozenset();
    CHECK_REPR(f, "frozenset()");
    CHECK_OK(mpx_obj_set_add_new(f, mpx_obj_int(3)));
    CHECK_REPR(f, "frozenset({3})");
    CHECK_OK(mpx_obj_set_add(s, f)); /* a frozenset is hashable */
    CHECK_ERR(mpx_obj_set_add_new(f, mpx_obj_int(4)), MPX_ESTATE); /* shared now */
    CHECK_ERR(mpx_obj_set_discard(f, mpx_obj_none()), MPX_ETYPE);
    CHECK_OK(mpx_obj_clear(s));
    CHECK_REPR(s, "set()");
    CHECK_ERR(mpx_obj_clear(f), MPX_ETYPE);
    mpx_obj_decref(f);
    mpx_obj_decref(s);
    LIVE_END;
}

MPX_TEST_ONCE(obj_repr_builtins)
{
    LIVE_BEGIN;
    /* printed by CPython 3.11 */
    mpx_obj *fs = mpx_obj_frozenset(), *st = mpx_obj_set(), *set5 = mpx_obj_set();
    mpx_obj_set_add_new(set5, mpx_obj_int(5));
    unsigned char b100[13] = {0};
    b100[12] = 0x10; /* 2**100 */
    mpx_obj *p100 = mpx_obj_int_from_bytes(b100, 13, 1, 0);
    mpx_obj *v = mpx_obj_build("[i,(i),{i:i},N,N,N,N,y,y,y,s,s,s,d,d,d,O]", 1, 2, 3, 4, set5, fs, st,
                               mpx_obj_bytearray("\0", 1), "\"", "'", "'\"", "a'b", "a\"b", "a'\"b", -0.0,
                               1e-7, 1e22, p100);
    CHECK_REPR(v, "[1, (2,), {3: 4}, {5}, frozenset(), set(), bytearray(b'\\x00'), b'\"', b\"'\", "
                  "b'\\'\"', \"a'b\", 'a\"b', 'a\\'\"b', -0.0, 1e-07, 1e+22, 1267650600228229401496703205376]");
    mpx_obj_decref(v);
    mpx_obj_decref(p100);
    CHECK_REPR_NEW(mpx_obj_build("{s:{s:[{s:O}]}}", "a", "b", "c", mpx_obj_none()), "{'a': {'b': [{'c': None}]}}");
    /* floats: the shortest form that reads back */
    struct {
        double v;
        const char *r;
    } fr[] = {{0.1, "0.1"},        {1e-310, "1e-310"},    {1e16, "1e+16"},
              {1e15, "1000000000000000.0"}, {1e-5, "1e-05"}, {1e-4, "0.0001"},
              {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
              {INFINITY, "inf"},  {-INFINITY, "-inf"},   {NAN, "nan"},
              {2.675, "2.675"},   {123456789.123, "123456789.123"}, {0.3, "0.3"},
              {9007199254740993.0, "9007199254740992.0"}, {1e23, "1e+23"}};
    for (size_t k = 0; k < sizeof fr / sizeof fr[0]; k++)
        CHECK_REPR_NEW(mpx_obj_float(fr[k].v), fr[k].r);
    /* str escapes and quote choice (unicode_repr) */
    CHECK_REPR_NEW(mpx_obj_str("tab\tnl\ncr\rbs\\"), "'tab\\tnl\\ncr\\rbs\\\\'");
    CHECK_REPR_NEW(mpx_obj_str("\x01\x7f\xc2\x80\xc2\xa0\xc2\xad\xc3\xa9"), "'\\x01\\x7f\\x80\\xa0\\xadé'");
    CHECK_REPR_NEW(mpx_obj_str("\xe2\x80\x8b\xe2\x80\xa8\xe2\x82\xac"), "'\\u200b\\u2028€'");
    CHECK_REPR_NEW(mpx_obj_str("\xf0\x9f\x98\x80\xf3\xa0\x80\x81"), "'😀\\U000e0001'");
    CHECK_REPR_NEW(mpx_obj_str("\xcd\xb8"), "'\\u0378'"); /* unassigned */
    CHECK_REPR_NEW(mpx_obj_bytes("\\\t\n\r\x7f\x80 ~", 8), "b'\\\\\\t\\n\\r\\x7f\\x80 ~'");
    /* carried values */
    CHECK_REPR_NEW(mpx_obj_class("datetime", "datetime"), "<class 'datetime.datetime'>");
    CHECK_REPR_NEW(mpx_obj_class("builtins", "int"), "<class 'int'>");
    LIVE_END;
}

MPX_TEST_ONCE(obj_instances)
{
    LIVE_BEGIN;
    mpx_obj *cls = mpx_obj_class("decimal", "Decimal");
    mpx_obj *args = mpx_obj_build("(s)", "1.5");
    mpx_obj *dec = mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_REDUCE, cls, args, NULL, NULL, NULL, NULL});
    CHECK(dec != NULL);
    CHECK_EQ(mpx_obj_typeof(dec), MPX_OBJ_INSTANCE);
    CHECK_STREQ(mpx_obj_type_name(dec), "Decimal");
    CHECK_REPR(dec, "decimal.Decimal('1.5')");
    CHECK_EQ(mpx_obj_instance_of(dec, "decimal", "Decimal"), 1);
    CHECK_EQ(mpx_obj_instance_of(dec, "decimal", "Context"), 0);
    mpx_obj_reduce r;
    CHECK_OK(mpx_obj_instance_get(dec, &r));
    CHECK(r.callable == cls && r.args == args && r.how == MPX_OBJ_REDUCE && !r.state);
    const char *m, *q;
    CHECK_OK(mpx_obj_class_name(r.callable, &m, &q));
    CHECK_STREQ(m, "decimal");
    CHECK_STREQ(q, "Decimal");
    int64_t h;
    CHECK_OK(mpx_obj_hash(dec, &h)); /* by identity */
    /* equality by parts */
    mpx_obj *dec2 = mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_REDUCE, cls, args, NULL, NULL, NULL, NULL});
    CHECK_EQ(mpx_obj_equal(dec, dec2), 1);
    /* as dict keys, instances are keyed by identity: both stay */
    mpx_obj *d = mpx_obj_dict();
    CHECK_OK(mpx_obj_dict_set(d, dec, mpx_obj_int(1)));
    CHECK_OK(mpx_obj_dict_set(d, dec2, mpx_obj_int(2)));
    CHECK_EQ(mpx_obj_len(d), 2);
    mpx_obj_decref(d);
    /* NEWOBJ with state and items */
    mpx_obj *pt = mpx_obj_class("__main__", "Point");
    mpx_obj *state = mpx_obj_build("{s:i,s:i}", "x", 1, "y", 2);
    mpx_obj *items = mpx_obj_build("[i]", 9);
    mpx_obj *p = mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_NEWOBJ, pt, NULL, NULL, state, items, NULL});
    CHECK_REPR(p, "__main__.Point().extend([9]).__setstate__({'x': 1, 'y': 2})");
    mpx_obj *kw = mpx_obj_build("{s:i}", "b", 2);
    mpx_obj *args1 = mpx_obj_build("(i)", 1);
    mpx_obj *k = mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_NEWOBJ_EX, pt, args1, kw, NULL, NULL, NULL});
    CHECK_REPR(k, "__main__.Point(1, b=2)");
    /* wrong parts */
    CHECK(mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_NEWOBJ, args, NULL, NULL, NULL, NULL, NULL}) == NULL);
    CHECK(mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_REDUCE, cls, state, NULL, NULL, NULL, NULL}) == NULL);
    CHECK(mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_NEWOBJ_EX, pt, args1, NULL, NULL, NULL, NULL}) == NULL);
    CHECK(mpx_obj_class("", "x") == NULL);
    CHECK(mpx_obj_class("m", "\xff") == NULL);
    CHECK_ERR(mpx_obj_instance_get(cls, &r), MPX_ETYPE);
    for (mpx_obj **o = (mpx_obj *[]){cls, args, dec, dec2, pt, state, items, p, kw, args1, k, NULL}; *o; o++)
        mpx_obj_decref(*o);
    LIVE_END;
}

MPX_TEST_ONCE(obj_build_parse)
{
    LIVE_BEGIN;
    mpx_obj_error e;
    /* several top-level items make a tuple; "" makes None */
    CHECK_REPR_NEW(mpx_obj_build("is", 3, "x"), "(3, 'x')");
    CHECK(mpx_obj_build("") == mpx_obj_none());
    CHECK_REPR_NEW(mpx_obj_build("i", 3), "3");
    CHECK_REPR_NEW(mpx_obj_build("(is{s:d})", 3, "job", "w", 0.5), "(3, 'job', {'w': 0.5})");
    CHECK_REPR_NEW(mpx_obj_build("[h,H,b,B,l,k,L,K,n,I]", -1, 65535, -2, 255, -3L, 4UL, -5LL, 18446744073709551615ULL,
                                 (ssize_t)-6, 4294967295u),
                   "[-1, 65535, -2, 255, -3, 4, -5, 18446744073709551615, -6, 4294967295]");
    CHECK_REPR_NEW(mpx_obj_build("(p,p,c,C,f,z,z#,s#,y#)", 5, 0, 'q', 0x20AC, 1.5f, NULL, NULL, (size_t)0, "ab\0c",
                                 (size_t)4, "\0\1", (size_t)2),
                   "(True, False, b'q', '€', 1.5, None, None, 'ab\\x00c', b'\\x00\\x01')");
    mpx_obj *n1 = mpx_obj_int(77);
    CHECK_REPR_NEW(mpx_obj_build("[O,S,N]", n1, n1, n1), "[77, 77, 77]"); /* N took the reference */
    /* errors, with the position */
    CHECK(mpx_obj_build_ex(&e, "(i,q)", 1) == NULL);
    CHECK_EQ(e.code, MPX_EINVAL);
    CHECK_EQ(e.offset, 3);
    CHECK(strstr(e.text, "unknown letter 'q'") != NULL);
    CHECK(mpx_obj_build_ex(&e, "(ii", 1, 2) == NULL);
    CHECK(strstr(e.text, "unbalanced") != NULL);
    CHECK(mpx_obj_build_ex(&e, "s", "\xff") == NULL);
    CHECK(strstr(e.text, "not UTF-8") != NULL);
    CHECK(mpx_obj_build_ex(&e, "{N:i}", mpx_obj_list(), 1) == NULL);
    CHECK(strstr(e.text, "unhashable") != NULL);
    /* N arguments are consumed when a build fails */
    CHECK(mpx_obj_build_ex(&e, "(N,O,N)", mpx_obj_int(1000), (mpx_obj *)NULL, mpx_obj_int(1001)) == NULL);
    CHECK_EQ(e.code, -ENOMEM);

    /* parse */
    mpx_obj *v = mpx_obj_build("(Ls{s:d,s:y#}[i,i]z)", (long long)1 << 40, "name", "w", 0.25, "b", "x\0y",
                               (size_t)3, 1, 2, NULL);
    long long L;
    const char *name, *bytes, *z = "unset";
    double w;
    size_t blen;
    int a, b;
    CHECK_OK(mpx_obj_parse(v, "(Ls{s:d,s:y#}[i,i]z)", &L, &name, "w", &w, "b", &bytes, &blen, &a, &b, &z));
    CHECK(L == (long long)1 << 40);
    CHECK_STREQ(name, "name");
    CHECK(w == 0.25);
    CHECK(blen == 3 && !memcmp(bytes, "x\0y", 3));
    CHECK(a == 1 && b == 2 && z == NULL);
    /* several top-level letters: the value is a tuple of them */
    long long i64;
    const mpx_obj *o1, *o2;
    CHECK_OK(mpx_obj_parse(v, "Ls{s:d}OO", &i64, &name, "w", &w, &o1, &o2));
    CHECK(i64 == (long long)1 << 40 && o1 == mpx_obj_item(v, 3) && o2 == mpx_obj_none());
    /* optional items */
    mpx_obj *t = mpx_obj_build("(i)", 5);
    int x = 0, y = 99;
    CHECK_OK(mpx_obj_parse(t, "i|i", &x, &y));
    CHECK(x == 5 && y == 99);
    CHECK_ERR(mpx_obj_parse_ex(t, &e, "ii", &x, &y), MPX_ETYPE);
    CHECK(strstr(e.text, "wants more") != NULL);
    mpx_obj *dd = mpx_obj_build("{s:i}", "a", 1);
    CHECK_ERR(mpx_obj_parse_ex(dd, &e, "{s:i,s:i}", "a", &x, "b", &y), MPX_EKEY);
    CHECK(strstr(e.text, "'b' not found") != NULL);
    y = -7;
    CHECK_OK(mpx_obj_parse(dd, "{s:i|s:i}", "a", &x, "b", &y));
    CHECK(x == 1 && y == -7);
    /* types and ranges */
    mpx_obj *big = mpx_obj_int(1LL << 40);
    CHECK_ERR(mpx_obj_parse_ex(big, &e, "i", &x), -ERANGE);
    CHECK(strstr(e.text, "out of range") != NULL);
    CHECK_ERR(mpx_obj_parse_ex(big, &e, "s", &name), MPX_ETYPE);
    CHECK(strstr(e.text, "expected str, got int") != NULL);
    unsigned char uc;
    mpx_obj *m1 = mpx_obj_int(-1);
    CHECK_ERR(mpx_obj_parse(m1, "B", &uc), -ERANGE);
    double dv;
    CHECK_OK(mpx_obj_parse(big, "d", &dv)); /* an int where a float is wanted */
    CHECK(dv == 1099511627776.0);
    mpx_obj *sn = mpx_obj_strn("a\0b", 3);
    CHECK_ERR(mpx_obj_parse_ex(sn, &e, "s", &name), MPX_EINVAL);
    CHECK(strstr(e.text, "embedded null") != NULL);
    int truth;
    CHECK_OK(mpx_obj_parse(sn, "p", &truth));
    CHECK_EQ(truth, 1);
    for (mpx_obj **o = (mpx_obj *[]){n1, v, t, dd, big, m1, sn, NULL}; *o; o++)
        mpx_obj_decref(*o);
    LIVE_END;
}

/* ---- cycles ---------------------------------------------------------------- */

MPX_TEST_ONCE(obj_cycles_freed)
{
    LIVE_BEGIN;
    /* l.append(l) */
    mpx_obj *l = mpx_obj_list();
    CHECK_OK(mpx_obj_list_append(l, l));
    CHECK_REPR(l, "[[...]]");
    mpx_obj_decref(l);
    LIVE_END;

    /* d['self'] = d, held by an outer list; release the outer one */
    mpx_obj *d = mpx_obj_dict();
    CHECK_OK(mpx_obj_dict_set_s(d, "self", d));
    CHECK_REPR(d, "{'self': {...}}");
    mpx_obj *outer = mpx_obj_list();
    mpx_obj_list_append_new(outer, d);
    mpx_obj_decref(outer);
    LIVE_END;

    /* a -> b -> c -> a, closed last, released in every order */
    for (int order = 0; order < 6; order++) {
        mpx_obj *a = mpx_obj_list(), *b = mpx_obj_list(), *c = mpx_obj_list();
        mpx_obj_list_append(a, b);
        mpx_obj_list_append(b, c);
        mpx_obj_list_append(c, a);
        mpx_obj *o[3] = {a, b, c};
        static const int perm[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
        for (int k = 0; k < 3; k++)
            mpx_obj_decref(o[perm[order][k]]);
        LIVE_END;
    }

    /* the cycle closed through a borrowed reference: the user holds only a
     * root that contains the cycle */
    mpx_obj *root = mpx_obj_build("[[[]]]");
    mpx_obj *p = mpx_obj_item(root, 0), *q = mpx_obj_item(p, 0);
    CHECK_OK(mpx_obj_list_append(q, p)); /* p -> q -> p */
    mpx_obj_decref(root);
    LIVE_END;

    /* a cycle through a tuple and an instance's state */
    mpx_obj *lst = mpx_obj_list();
    mpx_obj *tup = mpx_obj_tuple_pack(1, lst);
    mpx_obj *cls = mpx_obj_class("m", "C");
    mpx_obj *inst = mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_NEWOBJ, cls, NULL, NULL, tup, NULL, NULL});
    mpx_obj_list_append(lst, inst); /* lst -> inst -> tup -> lst */
    mpx_obj_decref(tup);
    mpx_obj_decref(cls);
    CHECK_REPR(inst, "m.C().__setstate__(([...],))");
    mpx_obj_decref(lst);
    mpx_obj_decref(inst);
    LIVE_END;

    /* a member held from outside keeps the cycle; dropping it frees it */
    mpx_obj *x = mpx_obj_list(), *y = mpx_obj_list();
    mpx_obj_list_append(x, y);
    mpx_obj_list_append(y, x);
    mpx_obj *hold = mpx_obj_incref(mpx_obj_item(x, 0)); /* y */
    mpx_obj_decref(x);
    mpx_obj_decref(y);
    CHECK_EQ(mpx_obj_len(hold), 1); /* still alive */
    CHECK_EQ(mpx_obj_len(mpx_obj_item(hold, 0)), 1);
    mpx_obj_decref(hold);
    LIVE_END;

    /* clear() breaks a cycle by hand */
    l = mpx_obj_list();
    mpx_obj_list_append(l, l);
    mpx_obj_clear(l);
    mpx_obj_decref(l);
    LIVE_END;

    /* an unrelated shared child: released normally, nothing freed early */
    mpx_obj *shared = mpx_obj_build("[i]", 1);
    mpx_obj *two = mpx_obj_build("[O,O]", shared, shared);
    mpx_obj_decref(shared);
    mpx_obj *l2 = mpx_obj_build("[O]", mpx_obj_item(two, 0));
    mpx_obj_decref(two);
    CHECK_REPR(l2, "[[1]]");
    mpx_obj_decref(l2);
    LIVE_END;
}

MPX_TEST_ONCE_T(obj_equal_cycles_and_depth, 120)
{
    LIVE_BEGIN;
    mpx_obj *a = mpx_obj_list(), *b = mpx_obj_list();
    mpx_obj_list_append(a, a);
    mpx_obj_list_append(b, b);
    CHECK_EQ(mpx_obj_equal(a, a), 1);          /* identity */
    CHECK_ERR(mpx_obj_equal(a, b), MPX_EDEPTH); /* RecursionError in Python too */
    mpx_obj_decref(a);
    mpx_obj_decref(b);
    /* a structure deeper than the limit: repr and dumps refuse, nothing
     * overflows, and releasing 300,000 levels (far more than a recursive
     * release could take on an 8 MiB stack) is fine */
    mpx_obj *v = mpx_obj_list();
    for (int i = 0; i < 300000; i++) {
        mpx_obj *o = mpx_obj_list();
        mpx_obj_list_append_new(o, v);
        v = o;
    }
    CHECK(mpx_obj_repr(v) == NULL);
    void *buf;
    size_t n;
    mpx_obj_error e;
    CHECK_ERR(mpx_obj_dumps(v, 4, &buf, &n, NULL, &e), MPX_EDEPTH);
    CHECK(strstr(e.text, "recursion") != NULL);
    mpx_obj *w = mpx_obj_list();
    mpx_obj_list_append(w, v);
    CHECK_ERR(mpx_obj_equal(v, w), MPX_EDEPTH);
    mpx_obj_decref(w);
    mpx_obj_decref(v);
    LIVE_END;
    /* a smaller depth limit given to dumps */
    v = mpx_obj_build("[[[[i]]]]", 1);
    CHECK_ERR(mpx_obj_dumps(v, 4, &buf, &n, &(mpx_obj_dump_opts){.max_depth = 3}, NULL), MPX_EDEPTH);
    CHECK_OK(mpx_obj_dumps(v, 4, &buf, &n, &(mpx_obj_dump_opts){.max_depth = 4}, NULL));
    mpx_free(buf);
    mpx_obj_decref(v);
    LIVE_END;
}

/* ---- threads --------------------------------------------------------------------- */

static mpx_obj *shared_value;

static void *reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        mpx_obj *v = mpx_obj_incref(shared_value);
        char *r = mpx_obj_repr(v);
        int64_t h;
        mpx_obj *k = mpx_obj_item(v, 0);
        mpx_obj_hash(k, &h); /* caches the str's hash: concurrent writers */
        void *buf;
        size_t n;
        if (mpx_obj_dumps(v, 4, &buf, &n, NULL, NULL) == 0)
            mpx_free(buf);
        mpx_free(r);
        mpx_obj_decref(v);
    }
    return NULL;
}

MPX_TEST_ONCE(obj_shared_between_threads)
{
    shared_value = mpx_obj_build("(s,{s:[i,d]},y)", "key string", "k", 1, 2.5, "bytes");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, reader, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_REPR(shared_value, "('key string', {'k': [1, 2.5]}, b'bytes')");
    mpx_obj_decref(shared_value);
}

/* Cycles made and released in several threads at once (the collector's
 * lock), sharing one value between them: every thread frees all it made. */
static void *cycler(void *arg)
{
    mpx_obj *common = arg;
    int64_t live0 = mpx__v_live();
    for (int i = 0; i < 2000; i++) {
        mpx_obj *a = mpx_obj_list(), *b = mpx_obj_dict();
        mpx_obj_list_append(a, b);
        mpx_obj_dict_set_s(b, "back", a);
        mpx_obj_dict_set_s(b, "common", common);
        mpx_obj *l = mpx_obj_list();
        mpx_obj_list_append(l, l);
        mpx_obj_list_append(l, common);
        void *buf;
        size_t n;
        mpx_obj *w = NULL;
        if (mpx_obj_dumps(a, 4, &buf, &n, NULL, NULL) == 0) {
            mpx_obj_loads(&w, buf, n, NULL, NULL);
            mpx_free(buf);
        }
        mpx_obj_decref(b);
        mpx_obj_decref(a);
        mpx_obj_decref(l);
        mpx_obj_decref(w);
    }
    return (void *)(intptr_t)(mpx__v_live() - live0);
}

MPX_TEST_ONCE_T(obj_cycles_threads, 120)
{
    LIVE_BEGIN; /* common is freed: no collection lost a reference to it */
    mpx_obj *common = mpx_obj_build("[s,(i,d)]", "shared by every thread", 1, 2.5);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, cycler, common), 0);
    for (int i = 0; i < 4; i++) {
        void *leaked;
        pthread_join(t[i], &leaked);
        CHECK_EQ((intptr_t)leaked, 0);
    }
    CHECK_REPR(common, "['shared by every thread', (1, 2.5)]");
    mpx_obj_decref(common);
    LIVE_END;
}

/* Cycles shared by 4 threads that drop their references at the same moment,
 * either all to one value of the cycle or each to another value of it
 * (a ring of 4 lists): whichever drop leaves the cycle held only by itself
 * must get it freed. Two threads dropping the last two outside references
 * at once must not both see the other's; two collections running at once,
 * each holding its pending reference, must not each keep the other's part
 * alive. Values made in one thread and freed in others all go: the
 * per-thread live counts sum to zero. */
#define DROP_THREADS 4
#define DROP_VALUES 32
static mpx_obj *drop_vals[DROP_VALUES][DROP_THREADS];
static pthread_barrier_t drop_barrier;

static void *dropper(void *arg)
{
    int me = (int)(intptr_t)arg;
    int64_t live0 = mpx__v_live();
    for (;;) {
        pthread_barrier_wait(&drop_barrier);
        if (!drop_vals[0][me])
            break; /* no more rounds */
        for (int k = 0; k < DROP_VALUES; k++)
            mpx_obj_decref(drop_vals[k][me]);
        pthread_barrier_wait(&drop_barrier);
    }
    return (void *)(intptr_t)(mpx__v_live() - live0);
}

MPX_TEST_ONCE_T(obj_cycles_dropped_at_once, 120)
{
    int64_t live0 = mpx__v_live();
    pthread_t t[DROP_THREADS];
    CHECK_EQ(pthread_barrier_init(&drop_barrier, NULL, DROP_THREADS + 1), 0);
    for (int i = 0; i < DROP_THREADS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, dropper, (void *)(intptr_t)i), 0);
    for (int r = 0; r < 300; r++) {
        for (int k = 0; k < DROP_VALUES; k++) {
            if (k % 2 == 0) {
                /* l = [l, {'back': l}], one reference per thread */
                mpx_obj *l = mpx_obj_list(), *d = mpx_obj_dict();
                CHECK_EQ(mpx_obj_list_append(l, l), 0);
                CHECK_EQ(mpx_obj_list_append(l, d), 0);
                CHECK_EQ(mpx_obj_dict_set_s(d, "back", l), 0);
                mpx_obj_decref(d);
                for (int i = 0; i < DROP_THREADS; i++)
                    drop_vals[k][i] = i ? mpx_obj_incref(l) : l;
            } else {
                /* ring[i] = [ring[i + 1]], thread i holds ring[i] */
                for (int i = 0; i < DROP_THREADS; i++)
                    drop_vals[k][i] = mpx_obj_list();
                for (int i = 0; i < DROP_THREADS; i++)
                    CHECK_EQ(mpx_obj_list_append(drop_vals[k][i], drop_vals[k][(i + 1) % DROP_THREADS]), 0);
            }
        }
        pthread_barrier_wait(&drop_barrier); /* the threads drop them all */
        pthread_barrier_wait(&drop_barrier);
    }
    memset(drop_vals, 0, sizeof drop_vals);
    pthread_barrier_wait(&drop_barrier); /* no more rounds */
    int64_t made_here = mpx__v_live() - live0, freed_there = 0;
    for (int i = 0; i < DROP_THREADS; i++) {
        void *delta;
        pthread_join(t[i], &delta);
        freed_there += (intptr_t)delta;
    }
    pthread_barrier_destroy(&drop_barrier);
    CHECK_EQ(made_here + freed_there, 0);
}
