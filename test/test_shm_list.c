/* test_shm_list.c - ShareableList (SHMEM-06): CPython's layout byte for
 * byte (expected bytes taken from CPython 3.11; the same in 3.12 and
 * 3.13), the typed API, Python's assignment rules (never past a slot),
 * count/index with Python's ==, the two quirks of the layout (str slots
 * sized by characters, trailing NULs stripped), checks of a foreign or
 * corrupt block, passing a list to children. test_shm_python.c checks it
 * against live CPython. */
#include "shm_util.h"

#include "core/shm_internal.h"

#include <math.h>

static void hex_to(const char *const *lines, size_t n, unsigned char *out, size_t *len)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (const char *p = lines[i]; p[0] && p[1]; p += 2) {
            unsigned v;
            CHECK_EQ(sscanf(p, "%2x", &v), 1);
            out[k++] = (unsigned char)v;
        }
    *len = k;
}

static void check_block(mpx_shareable_list *l, const char *const *hex, size_t nlines)
{
    unsigned char want[1024];
    size_t n;
    hex_to(hex, nlines, want, &n);
    mpx_shm *s = mpx_shareable_list_shm(l);
    CHECK_EQ(mpx_shm_size(s), n);
    const unsigned char *b = mpx_shm_buf(s);
    for (size_t i = 0; i < n; i++)
        if (b[i] != want[i])
            FAIL("byte %zu: %02x, CPython has %02x", i, b[i], want[i]);
}

/* ShareableList([1, 2.5, True, 'ab', b'xyz', None, -7, 'héllo wörld!', b'']) */
static const char *const PY_LIST[] = {
    "0900000000000000000000000000000008000000000000001000000000000000",
    "1800000000000000200000000000000028000000000000003000000000000000",
    "3800000000000000480000000000000050000000000000000100000000000000",
    "00000000000004400000000000000001616200000000000078797a0000000000",
    "0000000000000000f9ffffffffffffff68c3a96c6c6f2077c3b6726c64210000",
    "000000000000000071000000000000006400000000000000787878787878783f",
    "387300000000000038730000000000007878787878783f787100000000000000",
    "31367300000000003873000000000000000000010203000102",
};
/* ... then l[1] = 'abc'; l[3] = 3; l[7] = None */
static const char *const PY_LIST_SET[] = {
    "0900000000000000000000000000000008000000000000001000000000000000",
    "1800000000000000200000000000000028000000000000003000000000000000",
    "3800000000000000480000000000000050000000000000000100000000000000",
    "61626300000000000000000000000001030000000000000078797a0000000000",
    "0000000000000000f9ffffffffffffff0000000000000000c3b6726c64210000",
    "000000000000000071000000000000003873000000000000787878787878783f",
    "710000000000000038730000000000007878787878783f787100000000000000",
    "7878787878783f783873000000000000000100000203000302",
};

static mpx_shareable_list *make_py_list(void)
{
    mpx_sl_item items[] = {mpx_sl_int(1),      mpx_sl_float(2.5),
                           mpx_sl_bool(1),     mpx_sl_str("ab"),
                           mpx_sl_bytes("xyz", 3), mpx_sl_none(),
                           mpx_sl_int(-7),     mpx_sl_str("h\xc3\xa9llo w\xc3\xb6rld!"),
                           mpx_sl_bytes(NULL, 0)};
    mpx_shareable_list *l;
    CHECK_OK(mpx_shareable_list_open(&l, items, 9, NULL, NULL));
    return l;
}

MPX_TEST(shmem_06_layout_is_cpythons)
{
    mpx_shareable_list *l = make_py_list();
    check_block(l, PY_LIST, 8);
    char *f = mpx_shareable_list_format(l);
    CHECK_STREQ(f, "qdxxxxxxx?8s8sxxxxxx?xq16s8s");
    mpx_free(f);
    CHECK_OK(mpx_shareable_list_set_str(l, 1, "abc"));
    CHECK_OK(mpx_shareable_list_set_int(l, 3, 3));
    CHECK_OK(mpx_shareable_list_set_none(l, 7));
    check_block(l, PY_LIST_SET, 8);
    f = mpx_shareable_list_format(l);
    CHECK_STREQ(f, "q8sxxxxxxx?q8sxxxxxx?xqxxxxxx?x8s");
    mpx_free(f);
    char want[200];
    snprintf(want, sizeof want,
             "ShareableList([1, 'abc', True, 3, b'xyz', None, -7, None, b''], name='%s')",
             mpx_shm_name(mpx_shareable_list_shm(l)));
    check_describe(mpx_shareable_list_describe(l), want);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
}

MPX_TEST(shmem_06_read_every_type)
{
    mpx_shareable_list *l = make_py_list();
    CHECK_EQ(mpx_shareable_list_len(l), 9);
    static const int types[] = {MPX_SL_INT,   MPX_SL_FLOAT, MPX_SL_BOOL,
                                MPX_SL_STR,   MPX_SL_BYTES, MPX_SL_NONE,
                                MPX_SL_INT,   MPX_SL_STR,   MPX_SL_BYTES};
    for (int i = 0; i < 9; i++) {
        CHECK_EQ(mpx_shareable_list_type(l, i), types[i]);
        CHECK_EQ(mpx_shareable_list_type(l, i - 9), types[i]); /* negative index */
    }
    CHECK_ERR(mpx_shareable_list_type(l, 9), MPX_EINVAL);  /* IndexError */
    CHECK_ERR(mpx_shareable_list_type(l, -10), MPX_EINVAL);
    int64_t i64;
    double d;
    int b;
    char s[64];
    size_t len;
    CHECK_OK(mpx_shareable_list_get_int(l, 0, &i64));
    CHECK_EQ(i64, 1);
    CHECK_OK(mpx_shareable_list_get_int(l, -3, &i64));
    CHECK_EQ(i64, -7);
    CHECK_OK(mpx_shareable_list_get_float(l, 1, &d));
    CHECK(d == 2.5);
    CHECK_OK(mpx_shareable_list_get_bool(l, 2, &b));
    CHECK_EQ(b, 1);
    CHECK_OK(mpx_shareable_list_get_str(l, 7, s, sizeof s, &len));
    CHECK_STREQ(s, "h\xc3\xa9llo w\xc3\xb6rld!");
    CHECK_EQ(len, 14);
    CHECK_ERR(mpx_shareable_list_get_str(l, 7, s, 14, &len), MPX_ETOOSHORT); /* no room for NUL */
    CHECK_EQ(len, 14);
    CHECK_OK(mpx_shareable_list_get_bytes(l, 4, s, 3, &len));
    CHECK_EQ(len, 3);
    CHECK_MEMEQ(s, "xyz", 3);
    CHECK_OK(mpx_shareable_list_get_bytes(l, 8, NULL, 0, &len));
    CHECK_EQ(len, 0);
    /* wrong type for a typed read */
    CHECK_ERR(mpx_shareable_list_get_int(l, 1, &i64), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_get_int(l, 2, &i64), MPX_EINVAL); /* a bool is its own type */
    CHECK_ERR(mpx_shareable_list_get_str(l, 4, s, sizeof s, &len), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_get_float(l, 5, &d), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_get_int(l, 100, &i64), MPX_EINVAL);
    /* the generic read, with copies for str/bytes */
    mpx_sl_item it;
    CHECK_OK(mpx_shareable_list_get(l, 3, &it));
    CHECK_EQ(it.type, MPX_SL_STR);
    CHECK_EQ(it.len, 2);
    CHECK_STREQ((const char *)it.p, "ab");
    mpx_sl_item_clear(&it);
    CHECK_EQ(it.type, 0);
    CHECK_OK(mpx_shareable_list_get(l, 5, &it));
    CHECK_EQ(it.type, MPX_SL_NONE);
    CHECK_OK(mpx_shareable_list_get(l, 2, &it));
    CHECK_EQ(it.type, MPX_SL_BOOL);
    CHECK_EQ(it.i, 1);
    mpx_sl_item_clear(NULL);
    /* attach by name: the same items */
    mpx_shareable_list *a;
    CHECK_OK(mpx_shareable_list_open(&a, NULL, 0, mpx_shm_name(mpx_shareable_list_shm(l)), NULL));
    CHECK_EQ(mpx_shareable_list_len(a), 9);
    char *f1 = mpx_shareable_list_describe(l), *f2 = mpx_shareable_list_describe(a);
    CHECK_STREQ(f1, f2);
    mpx_free(f1);
    mpx_free(f2);
    CHECK_OK(mpx_shareable_list_set_int(a, 0, 42));
    CHECK_OK(mpx_shareable_list_get_int(l, 0, &i64));
    CHECK_EQ(i64, 42);
    mpx_shareable_list_destroy(a);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
}

/* Assignment follows Python: any type replaces any other, str/bytes must
 * fit the slot (ValueError), and nothing is written past a slot. */
MPX_TEST(shmem_06_assignment_rules)
{
    mpx_sl_item items[] = {mpx_sl_str("0123456789"), mpx_sl_int(5), mpx_sl_bytes("q", 1)};
    mpx_shareable_list *l;
    CHECK_OK(mpx_shareable_list_open(&l, items, 3, NULL, NULL));
    char *f = mpx_shareable_list_format(l);
    CHECK_STREQ(f, "16sq8s");
    mpx_free(f);
    mpx_shm *s = mpx_shareable_list_shm(l);
    size_t size = mpx_shm_size(s);
    unsigned char before[256], after[256];
    CHECK(size <= sizeof before);
    /* exactly the slot's size fits (no NUL needed) */
    CHECK_OK(mpx_shareable_list_set_str(l, 0, "abcdefghijklmnop"));
    char buf[32];
    size_t len;
    CHECK_OK(mpx_shareable_list_get_str(l, 0, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "abcdefghijklmnop");
    /* one more: refused, nothing written */
    memcpy(before, mpx_shm_buf(s), size);
    CHECK_ERR(mpx_shareable_list_set_str(l, 0, "abcdefghijklmnopq"), MPX_ETOOBIG);
    CHECK_ERR(mpx_shareable_list_set_bytes(l, 1, "123456789", 9), MPX_ETOOBIG); /* an 8-byte slot */
    CHECK_ERR(mpx_shareable_list_set_str(l, 2, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
              MPX_ETOOBIG); /* 5 characters, 10 UTF-8 bytes > 8 */
    memcpy(after, mpx_shm_buf(s), size);
    CHECK_MEMEQ(before, after, size);
    /* a shorter value: NUL-padded, reads back without the padding */
    CHECK_OK(mpx_shareable_list_set_str(l, 0, "hi"));
    CHECK_OK(mpx_shareable_list_get_str(l, 0, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "hi");
    CHECK_EQ(len, 2);
    f = mpx_shareable_list_format(l);
    CHECK_STREQ(f, "16sq8s");
    mpx_free(f);
    /* types change in place */
    CHECK_OK(mpx_shareable_list_set_float(l, 0, -0.5));
    CHECK_OK(mpx_shareable_list_set_bytes(l, 1, "12345678", 8)); /* int slot -> 8s */
    CHECK_OK(mpx_shareable_list_set_bool(l, 2, 7));
    f = mpx_shareable_list_format(l);
    CHECK_STREQ(f, "d8sxxxxxxx?");
    mpx_free(f);
    double d;
    int bo;
    CHECK_OK(mpx_shareable_list_get_float(l, 0, &d));
    CHECK(d == -0.5);
    CHECK_OK(mpx_shareable_list_get_bytes(l, 1, buf, sizeof buf, &len));
    CHECK_EQ(len, 8);
    CHECK_OK(mpx_shareable_list_get_bool(l, 2, &bo));
    CHECK_EQ(bo, 1);
    /* back to str in a slot that held a float: the slot's full 16 bytes */
    CHECK_OK(mpx_shareable_list_set_str(l, 0, "sixteen chars!!!"));
    f = mpx_shareable_list_format(l);
    CHECK_STREQ(f, "16s8sxxxxxxx?");
    mpx_free(f);
    /* the generic set, and refusals */
    mpx_sl_item v = mpx_sl_int(INT64_MIN);
    CHECK_OK(mpx_shareable_list_set(l, -1, &v));
    int64_t i64;
    CHECK_OK(mpx_shareable_list_get_int(l, 2, &i64));
    CHECK_EQ(i64, INT64_MIN);
    mpx_sl_item zero = {0, 0, 0.0, NULL, 0};
    CHECK_ERR(mpx_shareable_list_set(l, 0, &zero), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_set(l, 3, &v), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_set(l, -4, &v), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_set(l, 0, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_set_str(l, 0, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_set_bytes(l, 0, NULL, 3), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_set_int(NULL, 0, 1), MPX_EINVAL);
    CHECK_OK(mpx_shm_unlink(s));
    mpx_shareable_list_destroy(l);
}

/* The quirks: a str slot is sized by characters (CPython would truncate
 * longer UTF-8: mpx sizes such a slot by its bytes); trailing NULs are
 * stripped on reading (mpx refuses values that end in NUL); invalid UTF-8
 * is refused, and read as Python's UnicodeDecodeError. */
MPX_TEST(shmem_06_quirks)
{
    /* 4 characters, 8 bytes: CPython's 8-byte slot holds it */
    const char *e4 = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    /* 5 characters, 10 bytes: CPython gives 8 bytes and truncates; mpx 16 */
    const char *e5 = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    mpx_sl_item items[] = {mpx_sl_str(e4), mpx_sl_str(e5), mpx_sl_strn("a\0b", 3)};
    mpx_shareable_list *l;
    CHECK_OK(mpx_shareable_list_open(&l, items, 3, NULL, NULL));
    char *f = mpx_shareable_list_format(l);
    CHECK_STREQ(f, "8s16s8s");
    mpx_free(f);
    char buf[32];
    size_t len;
    CHECK_OK(mpx_shareable_list_get_str(l, 1, buf, sizeof buf, &len));
    CHECK_STREQ(buf, e5); /* whole */
    CHECK_OK(mpx_shareable_list_get_str(l, 2, buf, sizeof buf, &len));
    CHECK_EQ(len, 3); /* an inner NUL is kept */
    CHECK_MEMEQ(buf, "a\0b", 4);
    /* trailing NULs: refused on creation and assignment */
    mpx_shareable_list *x;
    mpx_sl_item tn[] = {mpx_sl_bytes("ab\0", 3)};
    CHECK_ERR(mpx_shareable_list_open(&x, tn, 1, NULL, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_set_bytes(l, 0, "ab\0", 3), MPX_EINVAL);
    mpx_sl_item sn = mpx_sl_strn("ab\0", 3);
    CHECK_ERR(mpx_shareable_list_set(l, 0, &sn), MPX_EINVAL);
    /* invalid UTF-8 (a lone continuation byte, an overlong form, a
     * surrogate, a cut sequence) */
    const char *bad[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xc3"};
    for (int i = 0; i < 4; i++) {
        mpx_sl_item bi[] = {mpx_sl_str(bad[i])};
        CHECK_ERR(mpx_shareable_list_open(&x, bi, 1, NULL, NULL), -EILSEQ);
        CHECK_ERR(mpx_shareable_list_set_str(l, 0, bad[i]), -EILSEQ);
    }
    /* a slot holding cut UTF-8 (as CPython's truncation leaves it) */
    unsigned char *b = mpx_shm_buf(mpx_shareable_list_shm(l));
    memcpy(b + (3 + 2) * 8, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\0", 8);
    CHECK_ERR(mpx_shareable_list_get_str(l, 0, buf, sizeof buf, &len), -EILSEQ);
    mpx_sl_item it;
    CHECK_ERR(mpx_shareable_list_get(l, 0, &it), -EILSEQ);
    CHECK_EQ(mpx_shareable_list_type(l, 0), MPX_SL_STR);
    mpx_sl_item any = mpx_sl_int(1);
    CHECK_ERR(mpx_shareable_list_count(l, &any), -EILSEQ); /* Python raises while iterating */
    CHECK(mpx_shareable_list_describe(l) == NULL);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
}

MPX_TEST(shmem_06_count_index_python_equality)
{
    mpx_sl_item items[] = {mpx_sl_int(1),   mpx_sl_float(1.0), mpx_sl_bool(1), mpx_sl_str("1"),
                           mpx_sl_bytes("1", 1), mpx_sl_none(), mpx_sl_float(NAN),
                           mpx_sl_int(0),   mpx_sl_float(-0.0), mpx_sl_bool(0),
                           mpx_sl_int(9007199254740993LL), mpx_sl_none()};
    mpx_shareable_list *l;
    CHECK_OK(mpx_shareable_list_open(&l, items, 12, NULL, NULL));
    mpx_sl_item v = mpx_sl_int(1);
    CHECK_EQ(mpx_shareable_list_count(l, &v), 3); /* 1 == 1.0 == True */
    CHECK_EQ(mpx_shareable_list_index(l, &v), 0);
    v = mpx_sl_float(1.0);
    CHECK_EQ(mpx_shareable_list_count(l, &v), 3);
    v = mpx_sl_bool(1);
    CHECK_EQ(mpx_shareable_list_index(l, &v), 0);
    v = mpx_sl_str("1");
    CHECK_EQ(mpx_shareable_list_count(l, &v), 1);
    CHECK_EQ(mpx_shareable_list_index(l, &v), 3);
    v = mpx_sl_bytes("1", 1);
    CHECK_EQ(mpx_shareable_list_index(l, &v), 4);
    v = mpx_sl_none();
    CHECK_EQ(mpx_shareable_list_count(l, &v), 2);
    CHECK_EQ(mpx_shareable_list_index(l, &v), 5);
    v = mpx_sl_float(NAN);
    CHECK_EQ(mpx_shareable_list_count(l, &v), 0); /* nan != nan */
    CHECK_ERR(mpx_shareable_list_index(l, &v), -ENOENT);
    v = mpx_sl_int(0);
    CHECK_EQ(mpx_shareable_list_count(l, &v), 3); /* 0, -0.0, False */
    /* int == float is exact: 2**53 + 1 != 2.0**53 */
    v = mpx_sl_float(9007199254740992.0);
    CHECK_EQ(mpx_shareable_list_count(l, &v), 0);
    v = mpx_sl_int(9007199254740993LL);
    CHECK_EQ(mpx_shareable_list_index(l, &v), 10);
    v = mpx_sl_str("nope");
    CHECK_ERR(mpx_shareable_list_index(l, &v), -ENOENT); /* ValueError */
    v = mpx_sl_bytes("x\0", 2); /* could not be stored: equals nothing */
    CHECK_EQ(mpx_shareable_list_count(l, &v), 0);
    mpx_sl_item zero = {0, 0, 0.0, NULL, 0};
    CHECK_ERR(mpx_shareable_list_count(l, &zero), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_count(l, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_index(NULL, &v), MPX_EINVAL);
    char want[300];
    snprintf(want, sizeof want,
             "ShareableList([1, 1.0, True, '1', b'1', None, nan, 0, -0.0, False, "
             "9007199254740993, None], name='%s')",
             mpx_shm_name(mpx_shareable_list_shm(l)));
    check_describe(mpx_shareable_list_describe(l), want);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
}

MPX_TEST(shmem_06_repr_floats_and_text)
{
    const double ds[] = {0.1, 1e16, 1e15, 123456.789, 1e-5, 0.0001, 1.5e300, 100.0,
                         1e22, 12345678901234567.0, -INFINITY, 5e-324};
    const char *want =
        "[0.1, 1e+16, 1000000000000000.0, 123456.789, 1e-05, 0.0001, 1.5e+300, 100.0, "
        "1e+22, 1.2345678901234568e+16, -inf, 5e-324, \"it's\", 'say \"hi\"', "
        "'a\\'b\"c', 'a\\\\b\\n', b'\\x00\\xff', 'caf\xc3\xa9']";
    mpx_sl_item items[18];
    for (int i = 0; i < 12; i++)
        items[i] = mpx_sl_float(ds[i]);
    items[12] = mpx_sl_str("it's");
    items[13] = mpx_sl_str("say \"hi\"");
    items[14] = mpx_sl_str("a'b\"c");
    items[15] = mpx_sl_str("a\\b\n");
    items[16] = mpx_sl_bytes("\0\xff", 2);
    items[17] = mpx_sl_str("caf\xc3\xa9");
    mpx_shareable_list *l;
    CHECK_OK(mpx_shareable_list_open(&l, items, 18, NULL, NULL));
    char *d = mpx_shareable_list_describe(l);
    CHECK(d != NULL);
    const char *open = strchr(d, '[');
    CHECK(open != NULL);
    if (strncmp(open, want, strlen(want)) != 0)
        FAIL("repr %s, want %s", open, want);
    mpx_free(d);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
}

MPX_TEST(shmem_06_empty_and_errors)
{
    mpx_shareable_list *l;
    /* ShareableList(): an empty list under a generated name */
    CHECK_OK(mpx_shareable_list_open(&l, NULL, 0, NULL, NULL));
    CHECK_EQ(mpx_shareable_list_len(l), 0);
    CHECK_EQ(mpx_shm_size(mpx_shareable_list_shm(l)), 16);
    char *f = mpx_shareable_list_format(l);
    CHECK_STREQ(f, "");
    mpx_free(f);
    mpx_sl_item v = mpx_sl_int(1);
    CHECK_ERR(mpx_shareable_list_index(l, &v), -ENOENT);
    CHECK_ERR(mpx_shareable_list_type(l, 0), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_type(l, -1), MPX_EINVAL);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
    /* ShareableList([], name=n) creates; ShareableList(name=n) attaches */
    const char *n = shm_test_name("sl");
    mpx_sl_item one[] = {mpx_sl_int(3)};
    CHECK_OK(mpx_shareable_list_open(&l, one, 1, n, NULL));
    mpx_shareable_list *a;
    CHECK_ERR(mpx_shareable_list_open(&a, one, 1, n, NULL), -EEXIST);
    CHECK_OK(mpx_shareable_list_open(&a, NULL, 0, n, NULL));
    CHECK_EQ(mpx_shareable_list_len(a), 1);
    mpx_shareable_list_destroy(a);
    /* after close of its block: MPX_ECLOSED */
    CHECK_OK(mpx_shm_close(mpx_shareable_list_shm(l)));
    int64_t i64;
    CHECK_ERR(mpx_shareable_list_get_int(l, 0, &i64), MPX_ECLOSED);
    CHECK_ERR(mpx_shareable_list_set_int(l, 0, 1), MPX_ECLOSED);
    CHECK(mpx_shareable_list_format(l) == NULL);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
    CHECK_ERR(mpx_shareable_list_open(&a, NULL, 0, n, NULL), -ENOENT);
    /* bad arguments */
    CHECK_ERR(mpx_shareable_list_open(NULL, one, 1, NULL, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_open(&a, NULL, 2, NULL, NULL), MPX_EINVAL);
    mpx_sl_item bad[] = {{42, 0, 0.0, NULL, 0}};
    CHECK_ERR(mpx_shareable_list_open(&a, bad, 1, NULL, NULL), MPX_EINVAL);
    mpx_sl_item nullstr[] = {{MPX_SL_STR, 0, 0.0, NULL, 4}};
    CHECK_ERR(mpx_shareable_list_open(&a, nullstr, 1, NULL, NULL), MPX_EINVAL);
    /* an item of 10 MB or more (CPython: the format would not fit) */
    size_t big = 9999992;
    char *blob = malloc(big);
    CHECK(blob != NULL);
    memset(blob, 'z', big);
    mpx_sl_item bigi[] = {mpx_sl_bytes(blob, big)};
    CHECK_ERR(mpx_shareable_list_open(&a, bigi, 1, NULL, NULL), MPX_ETOOBIG);
    bigi[0].len = big - 1; /* slot 9,999,992: "9999992s" fits */
    CHECK_OK(mpx_shareable_list_open(&a, bigi, 1, NULL, NULL));
    f = mpx_shareable_list_format(a);
    CHECK_STREQ(f, "9999992s");
    mpx_free(f);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(a)));
    mpx_shareable_list_destroy(a);
    free(blob);
    CHECK_EQ(mpx_shareable_list_len(NULL), 0);
    CHECK(mpx_shareable_list_shm(NULL) == NULL);
    CHECK(mpx_shareable_list_describe(NULL) == NULL);
    mpx_shareable_list_destroy(NULL);
}

/* A block that is not a ShareableList, or one whose header or items were
 * corrupted by another process: clear errors, no access outside it. */
MPX_TEST(shmem_06_foreign_and_corrupt_blocks)
{
    mpx_shareable_list *l;
    mpx_shm *s;
    /* too small, negative count, huge count, offsets out of order */
    int64_t hdrs[][4] = {{-1, 0, 0, 0}, {1000000, 0, 0, 0}, {1, 0, 4, 0}, {1, 8, 16, 0},
                         {1, 0, 1 << 20, 0}};
    CHECK_OK(mpx_shm_open(&s, NULL, 1, 8, NULL));
    CHECK_ERR(mpx_shareable_list_open(&l, NULL, 0, mpx_shm_name(s), NULL), MPX_EPROTO);
    CHECK_OK(mpx_shm_unlink(s));
    mpx_shm_destroy(s);
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        CHECK_OK(mpx_shm_open(&s, NULL, 1, 64, NULL));
        memcpy(mpx_shm_buf(s), hdrs[i], sizeof hdrs[i]);
        CHECK_ERR(mpx_shareable_list_open(&l, NULL, 0, mpx_shm_name(s), NULL), MPX_EPROTO);
        CHECK_OK(mpx_shm_unlink(s));
        mpx_shm_destroy(s);
    }
    /* item formats and codes changed under us */
    mpx_sl_item items[] = {mpx_sl_str("abc"), mpx_sl_int(1)};
    CHECK_OK(mpx_shareable_list_open(&l, items, 2, NULL, NULL));
    unsigned char *b = mpx_shm_buf(mpx_shareable_list_shm(l));
    size_t fmt = 4 * 8 + 16, code = fmt + 16;
    memcpy(b + fmt, "64s\0\0\0\0\0", 8); /* longer than the 8-byte slot */
    mpx_sl_item it;
    CHECK_ERR(mpx_shareable_list_get(l, 0, &it), MPX_EPROTO);
    CHECK_ERR(mpx_shareable_list_set_str(l, 0, "x"), MPX_EPROTO);
    memcpy(b + fmt, "i\0\0\0\0\0\0\0", 8); /* not one CPython writes */
    CHECK_ERR(mpx_shareable_list_type(l, 0), MPX_EPROTO);
    memcpy(b + fmt, "8s\0\0\0\0\0\0", 8);
    CHECK_EQ(mpx_shareable_list_type(l, 0), MPX_SL_STR);
    b[code] = 9; /* unknown decode code */
    CHECK_ERR(mpx_shareable_list_type(l, 0), MPX_EPROTO);
    b[code] = 1;
    b[code + 1] = 1; /* str code on a "q" item */
    CHECK_ERR(mpx_shareable_list_get(l, 1, &it), MPX_EPROTO);
    CHECK(mpx_shareable_list_format(l) == NULL);
    b[code + 1] = 3; /* None code: None whatever the format */
    CHECK_EQ(mpx_shareable_list_type(l, 1), MPX_SL_NONE);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
}

static int t_list_child(const mpx_args *a)
{
    mpx_shareable_list *l = NULL;
    if (mpx_args_get_object(a, 0, "shareable_list", (void **)&l))
        return 10;
    int64_t v;
    if (mpx_shareable_list_len(l) != 3 || mpx_shareable_list_get_int(l, 0, &v) || v != 10)
        return 11;
    if (mpx_shareable_list_set_str(l, 1, "child") || mpx_shareable_list_set_int(l, 2, 99))
        return 12;
    /* and by name, as Python pickles it */
    mpx_shareable_list *b;
    if (mpx_shareable_list_open(&b, NULL, 0, mpx_args_str(a, 1), NULL))
        return 13;
    int ok = mpx_shareable_list_get_int(b, 2, &v) == 0 && v == 99;
    mpx_shareable_list_destroy(b);
    return ok ? 0 : 14;
}

MPX_TEST(shmem_06_list_to_children)
{
    mpx_sl_item items[] = {mpx_sl_int(10), mpx_sl_str("parent"), mpx_sl_none()};
    mpx_shareable_list *l;
    CHECK_OK(mpx_shareable_list_open(&l, items, 3, NULL, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, l));
    CHECK_OK(mpx_args_add_str(a, mpx_shm_name(mpx_shareable_list_shm(l))));
    mpx_process *p = start_args(t_list_child, a);
    mpx_args_destroy(a);
    CHECK_EQ(join_destroy(p), 0);
    char buf[16];
    size_t len;
    CHECK_OK(mpx_shareable_list_get_str(l, 1, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "child");
    int64_t v;
    CHECK_OK(mpx_shareable_list_get_int(l, 2, &v));
    CHECK_EQ(v, 99);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
}

/* ---- ShareableList and values (#15, SHMEM-06): the literal port ------------ */

MPX_TEST_ONCE(shmem_06_obj_layout_is_cpythons)
{
    /* ShareableList([1, 2.5, True, 'ab', b'xyz', None, -7, 'héllo wörld!', b'']) */
    mpx_obj *seq = mpx_obj_build("[idOsy#Ois#y#]", 1, 2.5, mpx_obj_true(), "ab", "xyz", (size_t)3,
                                 mpx_obj_none(), -7, "h\xc3\xa9llo w\xc3\xb6rld!",
                                 strlen("h\xc3\xa9llo w\xc3\xb6rld!"), "", (size_t)0);
    CHECK(seq);
    mpx_shareable_list *l;
    CHECK_OK(mpx_shareable_list_open_obj(&l, seq, NULL, NULL));
    check_block(l, PY_LIST, 8); /* the same bytes as CPython's */
    mpx_obj *back;
    CHECK_OK(mpx_shareable_list_to_obj(l, &back));
    CHECK_EQ(mpx_obj_equal(back, seq), 1);
    char *r = mpx_obj_repr(back);
    CHECK_STREQ(r, "[1, 2.5, True, 'ab', b'xyz', None, -7, 'h\xc3\xa9llo w\xc3\xb6rld!', b'']");
    mpx_free(r);
    mpx_obj_decref(back);
    /* l[1] = 'abc'; l[3] = 3; l[7] = None: CPython's bytes again */
    mpx_obj *abc = mpx_obj_str("abc"), *three = mpx_obj_int(3);
    CHECK_OK(mpx_shareable_list_set_obj(l, 1, abc));
    CHECK_OK(mpx_shareable_list_set_obj(l, 3, three));
    CHECK_OK(mpx_shareable_list_set_obj(l, 7, mpx_obj_none()));
    check_block(l, PY_LIST_SET, 8);
    mpx_obj *v;
    CHECK_OK(mpx_shareable_list_get_obj(l, -8, &v));
    CHECK_EQ(mpx_obj_equal(v, abc), 1);
    mpx_obj_decref(v);
    CHECK_OK(mpx_shareable_list_get_obj(l, 2, &v));
    CHECK(v == mpx_obj_true());
    mpx_obj_decref(v);
    mpx_obj_decref(abc);
    mpx_obj_decref(three);
    /* a tuple works as the sequence too, and attach by name with seq NULL */
    mpx_shareable_list *b;
    CHECK_OK(mpx_shareable_list_open_obj(&b, NULL, mpx_shm_name(mpx_shareable_list_shm(l)), NULL));
    CHECK_EQ(mpx_shareable_list_len(b), 9);
    mpx_shareable_list_destroy(b);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
    mpx_obj_decref(seq);
    mpx_obj *t = mpx_obj_build("(is)", 5, "five");
    CHECK_OK(mpx_shareable_list_open_obj(&l, t, NULL, NULL));
    CHECK_OK(mpx_shareable_list_get_obj(l, 1, &v));
    CHECK_STREQ(mpx_obj_str_value(v), "five");
    mpx_obj_decref(v);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
    mpx_obj_decref(t);
    /* seq NULL and no name: an empty list, as ShareableList() */
    CHECK_OK(mpx_shareable_list_open_obj(&l, NULL, NULL, NULL));
    CHECK_EQ(mpx_shareable_list_len(l), 0);
    CHECK_OK(mpx_shareable_list_to_obj(l, &v));
    CHECK_EQ(mpx_obj_len(v), 0);
    mpx_obj_decref(v);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
}

MPX_TEST_ONCE(shmem_06_obj_refused_types_lose_nothing)
{
    int before = shm_count_fds();
    mpx_shareable_list *l = (mpx_shareable_list *)1;
    /* not a sequence CPython's ShareableList takes here */
    mpx_obj *d = mpx_obj_dict();
    CHECK_ERR(mpx_shareable_list_open_obj(&l, d, NULL, NULL), MPX_ETYPE);
    CHECK(l == NULL);
    mpx_obj_decref(d);
    /* items of other types (KeyError in CPython), an int beyond 64 bits
     * (struct.error): refused, and no block is created */
    const char *bad[] = {"", "[i[i]]", "[i{}]", "[i(i)]"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        mpx_obj *seq = k == 0 ? mpx_obj_build("[iy#]", 1, "x", (size_t)1) : mpx_obj_build(bad[k], 1, 2);
        CHECK(seq);
        if (k == 0) { /* a bytearray item */
            mpx_obj_list_set_new(seq, 1, mpx_obj_bytearray("x", 1));
        }
        CHECK_ERR(mpx_shareable_list_open_obj(&l, seq, NULL, NULL), MPX_ETYPE);
        mpx_obj_decref(seq);
    }
    mpx_obj *big = mpx_obj_int_parse("1180591620717411303424", strlen("1180591620717411303424"), 10, NULL); /* 2**70 */
    CHECK(big);
    mpx_obj *seq = mpx_obj_list();
    CHECK_OK(mpx_obj_list_append(seq, big));
    CHECK_ERR(mpx_shareable_list_open_obj(&l, seq, NULL, NULL), -ERANGE);
    mpx_obj_decref(seq);
    CHECK_EQ(shm_count_fds(), before);
    CHECK_ERR(mpx_shareable_list_open_obj(NULL, NULL, NULL, NULL), MPX_EINVAL);

    /* assignments that cannot be made leave the item as it was */
    seq = mpx_obj_build("[sif]", "abc", 7, 1.5);
    CHECK_OK(mpx_shareable_list_open_obj(&l, seq, NULL, NULL));
    mpx_obj *longer = mpx_obj_str("a string longer than the slot");
    mpx_obj *ba = mpx_obj_bytearray("z", 1);
    CHECK_ERR(mpx_shareable_list_set_obj(l, 0, longer), MPX_ETOOBIG);
    CHECK_ERR(mpx_shareable_list_set_obj(l, 1, big), -ERANGE);
    CHECK_ERR(mpx_shareable_list_set_obj(l, 1, ba), MPX_ETYPE);
    CHECK_ERR(mpx_shareable_list_set_obj(l, 1, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shareable_list_set_obj(l, 3, longer), MPX_EINVAL); /* IndexError */
    mpx_obj *v = (mpx_obj *)1;
    CHECK_ERR(mpx_shareable_list_get_obj(l, -4, &v), MPX_EINVAL);
    CHECK(v == NULL);
    mpx_obj *back;
    CHECK_OK(mpx_shareable_list_to_obj(l, &back));
    CHECK_EQ(mpx_obj_equal(back, seq), 1);
    mpx_obj_decref(back);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
    CHECK_ERR(mpx_shareable_list_to_obj(NULL, &back), MPX_EINVAL);
    mpx_obj_decref(longer);
    mpx_obj_decref(ba);
    mpx_obj_decref(big);
    mpx_obj_decref(seq);
}

MPX_TEST_ONCE(shmem_06_obj_count_index_python_equality)
{
    /* ShareableList([1, 1.0, True, b'ab', 2.0**70, None]) */
    mpx_obj *seq = mpx_obj_build("[idOy#dO]", 1, 1.0, mpx_obj_true(), "ab", (size_t)2,
                                 ldexp(1.0, 70), mpx_obj_none());
    mpx_shareable_list *l;
    CHECK_OK(mpx_shareable_list_open_obj(&l, seq, NULL, NULL));
    mpx_obj *one = mpx_obj_int(1), *ba = mpx_obj_bytearray("ab", 2), *d = mpx_obj_dict();
    mpx_obj *big = mpx_obj_int_parse("1180591620717411303424", strlen("1180591620717411303424"), 10, NULL);
    mpx_obj *big1 = mpx_obj_int_parse("1180591620717411303425", strlen("1180591620717411303425"), 10, NULL);
    CHECK(big && big1);
    CHECK_EQ(mpx_shareable_list_count_obj(l, one), 3);        /* 1 == 1.0 == True */
    CHECK_EQ(mpx_shareable_list_count_obj(l, ba), 1);         /* bytearray(b'ab') == b'ab' */
    CHECK_EQ(mpx_shareable_list_index_obj(l, ba), 3);
    CHECK_EQ(mpx_shareable_list_index_obj(l, big), 4);        /* 2**70 == 2.0**70 */
    CHECK_EQ(mpx_shareable_list_count_obj(l, big1), 0);       /* 2**70 + 1 is not */
    CHECK_ERR(mpx_shareable_list_index_obj(l, big1), -ENOENT);
    CHECK_EQ(mpx_shareable_list_count_obj(l, d), 0);          /* {} equals no item */
    CHECK_ERR(mpx_shareable_list_index_obj(l, d), -ENOENT);
    CHECK_EQ(mpx_shareable_list_index_obj(l, mpx_obj_none()), 5);
    CHECK_ERR(mpx_shareable_list_count_obj(NULL, one), MPX_EINVAL);
    mpx_obj_decref(one);
    mpx_obj_decref(ba);
    mpx_obj_decref(d);
    mpx_obj_decref(big);
    mpx_obj_decref(big1);
    mpx_obj_decref(seq);
    CHECK_OK(mpx_shm_unlink(mpx_shareable_list_shm(l)));
    mpx_shareable_list_destroy(l);
}
