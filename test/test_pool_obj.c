/* test_pool_obj.c - pools over values (#15): tasks f(value) -> value with
 * map, starmap, apply, apply_star, imap and imap_unordered over value
 * lists and generators (POOL-07..16, ASYNC-01..06, EX-01), error values
 * (the analogue of the exception Python re-raises), a crashing task, task
 * timeouts, callbacks, cancellation, thread pools, and values as
 * initargs. Task functions live in this executable, so the tests run under
 * fork, spawn and forkserver. */
#include <pthread.h>
#include "harness.h"

#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

static mpx_pool *mkpool(int n)
{
    mpx_pool *p;
    CHECK_OK(mpx_pool_create(&p, n, NULL));
    return p;
}

static void finish(mpx_pool *p)
{
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}

static void check_repr(const mpx_obj *v, const char *want)
{
    char *r = mpx_obj_repr(v);
    CHECK(r != NULL);
    if (strcmp(r, want) != 0)
        FAIL("repr: %.300s != %.300s", r, want);
    mpx_free(r);
}

static mpx_obj *range_list(int64_t n)
{
    mpx_obj *l = mpx_obj_list();
    for (int64_t i = 0; i < n; i++)
        CHECK_OK(mpx_obj_list_append_new(l, mpx_obj_int(i)));
    return l;
}

/* ---- tasks ------------------------------------------------------------- */

static mpx_obj *square(mpx_obj *x, mpx_obj **error)
{
    int64_t v;
    if (mpx_obj_get_int(x, &v))
        return mpx_task_raise(error, "TypeError", "unsupported operand type(s) for *: '%s'",
                              mpx_obj_type_name(x));
    return mpx_obj_int(v * v);
}

static mpx_obj *identity(mpx_obj *x, mpx_obj **error)
{
    (void)error;
    return mpx_obj_incref(x);
}

/* 1 / (x - 5) as Python: ZeroDivisionError on 5 */
static mpx_obj *inv5(mpx_obj *x, mpx_obj **error)
{
    int64_t v;
    mpx_obj_get_int(x, &v);
    if (v == 5)
        return mpx_task_raise(error, "ZeroDivisionError", "division by zero");
    return mpx_obj_float(1.0 / ((double)v - 5.0));
}

/* any value as the error: a dict for 3, NULL without an error for 4, a
 * result too deep to send for 6 */
static mpx_obj *odd_errors(mpx_obj *x, mpx_obj **error)
{
    int64_t v;
    mpx_obj_get_int(x, &v);
    if (v == 3) {
        *error = mpx_obj_build("{s:i,s:s}", "code", 3, "why", "three");
        return NULL;
    }
    if (v == 4)
        return NULL;
    if (v == 6) {
        mpx_obj *d = mpx_obj_int(0);
        for (int i = 0; i < MPX_OBJ_MAX_DEPTH + 10; i++)
            d = mpx_obj_build("[N]", d);
        return d;
    }
    return mpx_obj_incref(x);
}

/* crash on 3 (SIGSEGV) and 7 (abort) */
static mpx_obj *crashy(mpx_obj *x, mpx_obj **error)
{
    (void)error;
    int64_t v;
    mpx_obj_get_int(x, &v);
    if (v == 3)
        raise(SIGSEGV);
    if (v == 7)
        abort();
    return mpx_obj_int(v * 3 + 1);
}

static mpx_obj *sleeper(mpx_obj *x, mpx_obj **error)
{
    (void)error;
    int64_t ms;
    mpx_obj_get_int(x, &ms);
    sleep_ms((int)ms);
    return mpx_obj_incref(x);
}

/* (args, kwargs) back, as a tuple */
static mpx_obj *show_args(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    (void)error;
    return mpx_obj_build("(OO)", args, kwargs ? kwargs : mpx_obj_none());
}

static mpx_obj *add(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    (void)kwargs;
    int64_t a, b;
    if (mpx_obj_parse(args, "(LL)", &a, &b))
        return mpx_task_raise(error, "TypeError", "add() takes 2 int arguments");
    return mpx_obj_int(a + b);
}

/* ---- map ---------------------------------------------------------------- */

/* EX-01: Pool(5).map(f, [1, 2, 3]) -> [1, 4, 9] */
MPX_TEST(pool_obj_ex01_map_squares)
{
    mpx_pool *p = mkpool(5);
    mpx_obj *xs = mpx_obj_build("[iii]", 1, 2, 3), *r;
    CHECK_OK(mpx_pool_map_obj(p, square, xs, NULL, &r));
    check_repr(r, "[1, 4, 9]");
    mpx_obj_decref(r);
    /* tuples, sets and dicts (keys) are inputs too; [] gives [] */
    mpx_obj *t = mpx_obj_build("(ii)", 4, 5), *e = mpx_obj_list();
    CHECK_OK(mpx_pool_map_obj(p, square, t, NULL, &r));
    check_repr(r, "[16, 25]");
    mpx_obj_decref(r);
    CHECK_OK(mpx_pool_map_obj(p, square, e, NULL, &r));
    check_repr(r, "[]");
    mpx_obj_decref(r);
    mpx_obj_decref(t);
    mpx_obj_decref(e);
    mpx_obj_decref(xs);
    finish(p);
}

/* Every value type, big and nested ones, through the workers and back,
 * one per task and in chunks. */
MPX_TEST_T(pool_obj_map_every_type, 60)
{
    mpx_pool *p = mkpool(2);
    unsigned char *mib = malloc(3 << 20);
    for (int i = 0; i < 3 << 20; i++)
        mib[i] = (unsigned char)(i * 13);
    mpx_obj *nested = mpx_obj_int(1);
    for (int i = 0; i < 300; i++)
        nested = mpx_obj_build(i % 2 ? "[N]" : "{s:N}", i % 2 ? nested : (void *)"k", nested);
    const char *b200 = "1606938044258990275541962092341162602522202993782792835301376";
    mpx_obj *items = mpx_obj_build(
        "[OOOiLdd ss#y# NNNN [ii](i){s:[d],i:O} NNN]", mpx_obj_none(), mpx_obj_true(),
        mpx_obj_false(), -1, (long long)INT64_MIN, 0.1, -0.0, "h\xc3\xa9 \xf0\x9f\x98\x80", "a\0b",
        (size_t)3, "\0\xff", (size_t)2, mpx_obj_int_parse(b200, strlen(b200), 0, NULL),
        mpx_obj_bytearray("ba", 2), mpx_obj_bytes_take(mib, 3 << 20), nested, 1, 2, 3, "x", 2.5, 7,
        mpx_obj_none(), mpx_obj_set(), mpx_obj_class("decimal", "Decimal"), mpx_obj_frozenset());
    CHECK(items);
    size_t chunks[] = {1, 3, 0};
    for (size_t c = 0; c < 3; c++) {
        mpx_obj_call_opts o = {.chunksize = chunks[c]};
        mpx_obj *r;
        CHECK_OK(mpx_pool_map_obj(p, identity, items, &o, &r));
        CHECK_EQ(mpx_obj_equal(r, items), 1);
        for (int64_t i = 0; i < mpx_obj_len(items); i++)
            CHECK_EQ(mpx_obj_typeof(mpx_obj_item(r, i)), mpx_obj_typeof(mpx_obj_item(items, i)));
        mpx_obj_decref(r);
    }
    /* 2,000 small values */
    mpx_obj *many = range_list(2000), *r;
    CHECK_OK(mpx_pool_map_obj(p, square, many, NULL, &r));
    CHECK_EQ(mpx_obj_len(r), 2000);
    for (int64_t i = 0; i < 2000; i++) {
        int64_t v;
        CHECK_OK(mpx_obj_get_int(mpx_obj_item(r, i), &v));
        CHECK_EQ(v, i * i);
    }
    mpx_obj_decref(r);
    mpx_obj_decref(many);
    mpx_obj_decref(items);
    finish(p);
}

/* A task's error value: map fails with the lowest failing item's error,
 * as Python's map raises its exception; every other item is there. */
MPX_TEST(pool_obj_task_error_value)
{
    mpx_pool *p = mkpool(2);
    mpx_obj *xs = range_list(10), *r;
    CHECK_ERR(mpx_pool_map_obj(p, inv5, xs, NULL, &r), MPX_ETASK);
    check_repr(r, "ZeroDivisionError('division by zero')");
    CHECK_EQ(mpx_obj_instance_of(r, "builtins", "ZeroDivisionError"), 1);
    mpx_obj_decref(r);
    mpx_obj_result *ar;
    mpx_obj_call_opts o = {.chunksize = 2};
    CHECK_OK(mpx_pool_map_obj_async(p, inv5, xs, &o, &ar));
    CHECK_ERR(mpx_obj_result_get(ar, MPX_FOREVER, &r), MPX_ETASK);
    mpx_obj_decref(r);
    CHECK_EQ(mpx_obj_result_ready(ar), 1);
    CHECK_EQ(mpx_obj_result_successful(ar), 0);
    CHECK_EQ(mpx_obj_result_count(ar), 10);
    mpx_task_error e;
    CHECK_OK(mpx_obj_result_error(ar, &e));
    CHECK_EQ(e.code, MPX_ETASK);
    CHECK_EQ(e.index, 5);
    CHECK_STREQ(e.message, "ZeroDivisionError: division by zero");
    for (size_t i = 0; i < 10; i++) {
        mpx_obj *v;
        int rc = mpx_obj_result_item(ar, i, &v);
        if (i == 5) {
            CHECK_ERR(rc, MPX_ETASK);
            check_repr(v, "ZeroDivisionError('division by zero')");
        } else {
            CHECK_OK(rc);
            double d;
            CHECK_OK(mpx_obj_get_float(v, &d));
            CHECK(d == 1.0 / ((double)i - 5.0));
        }
        mpx_obj_decref(v);
    }
    mpx_obj *v = NULL;
    CHECK_ERR(mpx_obj_result_item(ar, 10, &v), MPX_EINVAL);
    mpx_obj_result_destroy(ar);
    /* other error values: any value; no value; a result that cannot be sent */
    mpx_obj *ys = mpx_obj_build("[iiiii]", 2, 3, 4, 6, 8);
    CHECK_OK(mpx_pool_map_obj_async(p, odd_errors, ys, NULL, &ar));
    CHECK_ERR(mpx_obj_result_get(ar, MPX_FOREVER, &r), MPX_ETASK);
    check_repr(r, "{'code': 3, 'why': 'three'}");
    mpx_obj_decref(r);
    CHECK_OK(mpx_obj_result_error(ar, &e));
    CHECK_EQ(e.index, 1);
    CHECK_STREQ(e.message, "{'code': 3, 'why': 'three'}");
    CHECK_ERR(mpx_obj_result_item(ar, 2, &r), MPX_ETASK);
    check_repr(r, "SystemError('task returned NULL without setting an error')");
    mpx_obj_decref(r);
    CHECK_ERR(mpx_obj_result_item(ar, 3, &r), MPX_ETASK);
    CHECK_EQ(mpx_obj_instance_of(r, "multiprocessing.pool", "MaybeEncodingError"), 1);
    mpx_obj_decref(r);
    CHECK_OK(mpx_obj_result_item(ar, 4, &r));
    check_repr(r, "8");
    mpx_obj_decref(r);
    mpx_obj_result_destroy(ar);
    mpx_obj_decref(ys);
    mpx_obj_decref(xs);
    finish(p);
}

/* Beyond Python: a task that crashes its worker fails only its item, with
 * an error value (BrokenProcessPool) and the worker's signal. */
MPX_TEST_T(pool_obj_crashing_task, 60)
{
    mpx_pool *p = mkpool(2);
    mpx_obj *xs = range_list(10);
    mpx_obj_result *ar;
    mpx_obj_call_opts o = {.chunksize = 1};
    CHECK_OK(mpx_pool_map_obj_async(p, crashy, xs, &o, &ar));
    mpx_obj *r;
    CHECK_ERR(mpx_obj_result_get(ar, MPX_FOREVER, &r), MPX_EWORKER);
    CHECK_EQ(mpx_obj_instance_of(r, "concurrent.futures.process", "BrokenProcessPool"), 1);
    mpx_obj_decref(r);
    mpx_task_error e;
    CHECK_OK(mpx_obj_result_error(ar, &e));
    CHECK_EQ(e.code, MPX_EWORKER);
    CHECK_EQ(e.index, 3);
    CHECK_EQ(e.signal, SIGSEGV);
    CHECK(e.pid > 0);
    for (size_t i = 0; i < 10; i++) {
        int rc = mpx_obj_result_item(ar, i, &r);
        if (i == 3 || i == 7) {
            CHECK_ERR(rc, MPX_EWORKER);
        } else {
            CHECK_OK(rc);
            int64_t v;
            CHECK_OK(mpx_obj_get_int(r, &v));
            CHECK_EQ(v, (int64_t)i * 3 + 1);
        }
        mpx_obj_decref(r);
    }
    mpx_obj_result_destroy(ar);
    /* the pool goes on */
    CHECK_OK(mpx_pool_apply_obj(p, square, mpx_obj_item(xs, 9), NULL, &r));
    check_repr(r, "81");
    mpx_obj_decref(r);
    mpx_obj_decref(xs);
    finish(p);
}

/* A task past its timeout: TimeoutError as its error value. */
MPX_TEST_T(pool_obj_task_timeout, 60)
{
    mpx_pool *p = mkpool(2);
    mpx_obj *xs = mpx_obj_build("[ii]", 10, 20000), *r;
    mpx_obj_call_opts o = {.chunksize = 1, .timeout = 300};
    CHECK_ERR(mpx_pool_map_obj(p, sleeper, xs, &o, &r), MPX_ETIMEDOUT);
    CHECK_EQ(mpx_obj_instance_of(r, "multiprocessing.context", "TimeoutError"), 1);
    mpx_obj_decref(r);
    mpx_obj_decref(xs);
    finish(p);
}

/* ---- starmap, apply ------------------------------------------------------ */

MPX_TEST(pool_obj_starmap_and_apply)
{
    mpx_pool *p = mkpool(2);
    mpx_obj *items = mpx_obj_build("[(ii)[ii](ii)]", 1, 2, 3, 4, 5, 6), *r;
    CHECK_OK(mpx_pool_starmap_obj(p, add, items, NULL, &r));
    check_repr(r, "[3, 7, 11]");
    mpx_obj_decref(r);
    mpx_obj *bad = mpx_obj_build("[(ii)i]", 1, 2, 3);
    r = (mpx_obj *)1;
    CHECK_ERR(mpx_pool_starmap_obj(p, add, bad, NULL, &r), MPX_ETYPE);
    CHECK(r == NULL);
    mpx_obj *wrong = mpx_obj_build("[(iii)]", 1, 2, 3);
    CHECK_ERR(mpx_pool_starmap_obj(p, add, wrong, NULL, &r), MPX_ETASK);
    check_repr(r, "TypeError('add() takes 2 int arguments')");
    mpx_obj_decref(r);
    /* apply(f, (x,)) and apply(f, args, kwds) */
    mpx_obj *x = mpx_obj_int(12);
    CHECK_OK(mpx_pool_apply_obj(p, square, x, NULL, &r));
    check_repr(r, "144");
    mpx_obj_decref(r);
    mpx_obj *args = mpx_obj_build("(is)", 1, "a"), *kw = mpx_obj_build("{s:[i]}", "k", 2);
    CHECK_OK(mpx_pool_apply_star_obj(p, show_args, args, kw, NULL, &r));
    check_repr(r, "((1, 'a'), {'k': [2]})");
    mpx_obj_decref(r);
    CHECK_OK(mpx_pool_apply_star_obj(p, show_args, NULL, NULL, NULL, &r));
    check_repr(r, "((), None)");
    mpx_obj_decref(r);
    mpx_obj *argl = mpx_obj_build("[i]", 9), *empty = mpx_obj_dict();
    mpx_obj_result *ar;
    CHECK_OK(mpx_pool_apply_star_obj_async(p, show_args, argl, empty, NULL, &ar));
    CHECK_OK(mpx_obj_result_get(ar, 30000, &r));
    check_repr(r, "((9,), None)");
    CHECK_EQ(mpx_obj_result_successful(ar), 1);
    mpx_task_error e;
    CHECK_ERR(mpx_obj_result_error(ar, &e), MPX_EEMPTY);
    mpx_obj_decref(r);
    mpx_obj_result_destroy(ar);
    mpx_obj *badkw = mpx_obj_build("{i:i}", 1, 2);
    CHECK_ERR(mpx_pool_apply_star_obj(p, show_args, args, badkw, NULL, &r), MPX_ETYPE);
    CHECK_ERR(mpx_pool_apply_star_obj(p, show_args, args, x, NULL, &r), MPX_ETYPE);
    CHECK_ERR(mpx_pool_apply_star_obj(p, show_args, x, NULL, NULL, &r), MPX_ETYPE);
    mpx_obj_decref(badkw);
    mpx_obj_decref(argl);
    mpx_obj_decref(empty);
    mpx_obj_decref(args);
    mpx_obj_decref(kw);
    mpx_obj_decref(x);
    mpx_obj_decref(items);
    mpx_obj_decref(bad);
    mpx_obj_decref(wrong);
    finish(p);
}

/* ---- imap ----------------------------------------------------------------- */

typedef struct counter {
    int64_t next, end;
    int fail_at; /* the generator fails here (0: never) */
} counter;

static int count_gen(void *state, mpx_obj **item)
{
    counter *c = state;
    if (c->fail_at && c->next == c->fail_at)
        return MPX_EINVAL;
    if (c->end >= 0 && c->next >= c->end)
        return 0;
    *item = mpx_obj_int(c->next++);
    return 1;
}

MPX_TEST_T(pool_obj_imap_generator, 60)
{
    mpx_pool *p = mkpool(2);
    /* ordered, over a generator of 1,000 items */
    counter c = {0, 1000, 0};
    mpx_obj_imap *it;
    CHECK_OK(mpx_pool_imap_obj_gen(p, square, count_gen, &c, NULL, &it));
    for (int64_t i = 0; i < 1000; i++) {
        mpx_obj *v;
        size_t idx;
        CHECK_OK(mpx_obj_imap_next(it, 30000, &v, &idx));
        CHECK_EQ(idx, (size_t)i);
        int64_t x;
        CHECK_OK(mpx_obj_get_int(v, &x));
        CHECK_EQ(x, i * i);
        mpx_obj_decref(v);
    }
    mpx_obj *v = NULL;
    CHECK_ERR(mpx_obj_imap_next(it, 30000, &v, NULL), MPX_EEOF);
    CHECK(v == NULL);
    mpx_obj_imap_destroy(it);
    /* unordered, over a list, with an error value in the middle */
    mpx_obj *xs = range_list(50);
    CHECK_OK(mpx_pool_imap_unordered_obj(p, inv5, xs, NULL, &it));
    bool seen[50] = {false};
    for (int i = 0; i < 50; i++) {
        size_t idx;
        int rc = mpx_obj_imap_next(it, 30000, &v, &idx);
        CHECK(idx < 50 && !seen[idx]);
        seen[idx] = true;
        if (idx == 5) {
            CHECK_ERR(rc, MPX_ETASK);
            check_repr(v, "ZeroDivisionError('division by zero')");
            mpx_task_error e;
            CHECK_OK(mpx_obj_imap_error(it, &e));
            CHECK_EQ(e.index, 5);
            CHECK_STREQ(e.message, "ZeroDivisionError: division by zero");
        } else {
            CHECK_OK(rc);
        }
        mpx_obj_decref(v);
    }
    CHECK_ERR(mpx_obj_imap_next(it, 30000, &v, NULL), MPX_EEOF);
    mpx_obj_imap_destroy(it);
    /* ordered over a list */
    CHECK_OK(mpx_pool_imap_obj(p, square, xs, NULL, &it));
    for (int64_t i = 0; i < 50; i++) {
        CHECK_OK(mpx_obj_imap_next(it, 30000, &v, NULL));
        int64_t x;
        CHECK_OK(mpx_obj_get_int(v, &x));
        CHECK_EQ(x, i * i);
        mpx_obj_decref(v);
    }
    CHECK_ERR(mpx_obj_imap_next(it, 30000, &v, NULL), MPX_EEOF);
    mpx_obj_imap_destroy(it);
    /* a generator that fails: its items, then its error */
    counter f = {0, -1, 20};
    CHECK_OK(mpx_pool_imap_obj_gen(p, identity, count_gen, &f, NULL, &it));
    for (int64_t i = 0; i < 20; i++) {
        CHECK_OK(mpx_obj_imap_next(it, 30000, &v, NULL));
        mpx_obj_decref(v);
    }
    CHECK_ERR(mpx_obj_imap_next(it, 30000, &v, NULL), MPX_EINVAL);
    mpx_obj_imap_destroy(it);
    /* an endless generator, dropped early: bounded look-ahead, no leak */
    counter e = {0, -1, 0};
    mpx_obj_call_opts o = {.lookahead = 64};
    CHECK_OK(mpx_pool_imap_unordered_obj_gen(p, identity, count_gen, &e, &o, &it));
    for (int i = 0; i < 10; i++) {
        CHECK_OK(mpx_obj_imap_next(it, 30000, &v, NULL));
        mpx_obj_decref(v);
    }
    mpx_obj_imap_destroy(it);
    CHECK(e.next < 10 + 64 + 16);
    mpx_obj_decref(xs);
    finish(p);
}

/* ---- callbacks, cancellation, destroy before ready -------------------------- */

typedef struct cbstate {
    atomic_int ok, err;
    char text[128];
} cbstate;

static void on_ok(mpx_obj *v, void *ud)
{
    cbstate *s = ud;
    char *r = mpx_obj_repr(v);
    snprintf(s->text, sizeof s->text, "%s", r ? r : "?");
    mpx_free(r);
    atomic_fetch_add(&s->ok, 1);
}

static void on_err(mpx_obj *v, void *ud)
{
    cbstate *s = ud;
    char *r = mpx_obj_repr(v);
    snprintf(s->text, sizeof s->text, "%s", r ? r : "?");
    mpx_free(r);
    atomic_fetch_add(&s->err, 1);
}

/* POOL-08/09: callback(result) and error_callback(exception), run before
 * the result is ready, as in Python. */
MPX_TEST(pool_obj_callbacks)
{
    mpx_pool *p = mkpool(2);
    cbstate s = {0};
    mpx_obj_call_opts o = {.callback = on_ok, .error_callback = on_err, .udata = &s};
    mpx_obj *xs = mpx_obj_build("[iii]", 1, 2, 3);
    mpx_obj_result *ar;
    CHECK_OK(mpx_pool_map_obj_async(p, square, xs, &o, &ar));
    CHECK_EQ(mpx_obj_result_wait(ar, 30000), 1);
    CHECK_EQ(atomic_load(&s.ok), 1);
    CHECK_STREQ(s.text, "[1, 4, 9]");
    mpx_obj_result_destroy(ar);
    mpx_obj *ys = range_list(8);
    CHECK_OK(mpx_pool_map_obj_async(p, inv5, ys, &o, &ar));
    CHECK_EQ(mpx_obj_result_wait(ar, 30000), 1);
    CHECK_EQ(atomic_load(&s.err), 1);
    CHECK_STREQ(s.text, "ZeroDivisionError('division by zero')");
    mpx_obj_result_destroy(ar);
    mpx_obj *five = mpx_obj_int(5);
    CHECK_OK(mpx_pool_apply_obj_async(p, inv5, five, &o, &ar));
    mpx_obj *r;
    CHECK_ERR(mpx_obj_result_get(ar, 30000, &r), MPX_ETASK);
    mpx_obj_decref(r);
    CHECK_EQ(atomic_load(&s.err), 2);
    mpx_obj_result_destroy(ar);
    /* an empty map is ready at once, with its callback */
    mpx_obj *none = mpx_obj_list();
    CHECK_OK(mpx_pool_map_obj_async(p, square, none, &o, &ar));
    CHECK_EQ(mpx_obj_result_ready(ar), 1);
    CHECK_EQ(atomic_load(&s.ok), 2);
    CHECK_STREQ(s.text, "[]");
    mpx_obj_result_destroy(ar);
    mpx_obj_decref(none);
    mpx_obj_decref(five);
    mpx_obj_decref(ys);
    mpx_obj_decref(xs);
    finish(p);
}

MPX_TEST_T(pool_obj_cancel_and_destroy_unfinished, 60)
{
    mpx_pool *p = mkpool(2);
    mpx_obj *xs = mpx_obj_list();
    for (int i = 0; i < 40; i++)
        CHECK_OK(mpx_obj_list_append_new(xs, mpx_obj_int(50)));
    mpx_obj_result *ar;
    mpx_obj_call_opts c1 = {.chunksize = 1};
    CHECK_OK(mpx_pool_map_obj_async(p, sleeper, xs, &c1, &ar));
    CHECK_EQ(mpx_obj_result_ready(ar), 0);
    mpx_obj *r = NULL;
    CHECK_ERR(mpx_obj_result_get(ar, 1, &r), MPX_ETIMEDOUT);
    CHECK(r == NULL);
    CHECK_ERR(mpx_obj_result_successful(ar), MPX_ESTATE);
    CHECK(mpx_obj_result_cancel(ar) > 0);
    CHECK_ERR(mpx_obj_result_get(ar, MPX_FOREVER, &r), MPX_ECANCELED);
    CHECK_EQ(mpx_obj_instance_of(r, "concurrent.futures._base", "CancelledError"), 1);
    mpx_obj_decref(r);
    mpx_obj_result_destroy(ar);
    /* destroyed before ready, with and without callbacks */
    CHECK_OK(mpx_pool_map_obj_async(p, sleeper, xs, &c1, &ar));
    mpx_obj_result_destroy(ar);
    cbstate s = {0};
    mpx_obj_call_opts c2 = {.chunksize = 1, .callback = on_ok, .error_callback = on_err, .udata = &s};
    CHECK_OK(mpx_pool_map_obj_async(p, sleeper, xs, &c2, &ar));
    mpx_obj_result_destroy(ar);
    CHECK_EQ(atomic_load(&s.ok) + atomic_load(&s.err), 0);
    mpx_obj_imap *it;
    CHECK_OK(mpx_pool_imap_obj(p, sleeper, xs, NULL, &it));
    mpx_obj_imap_destroy(it);
    mpx_obj_decref(xs);
    finish(p);
}

/* ---- bad input, thread pools, initargs ------------------------------------- */

MPX_TEST(pool_obj_bad_input)
{
    mpx_pool *p = mkpool(1);
    mpx_obj *xs = mpx_obj_build("[i]", 1), *s = mpx_obj_str("abc"), *r = NULL;
    mpx_obj_result *ar = NULL;
    mpx_obj_imap *it = NULL;
    CHECK_ERR(mpx_pool_map_obj(NULL, square, xs, NULL, &r), MPX_EINVAL);
    CHECK_ERR(mpx_pool_map_obj(p, NULL, xs, NULL, &r), MPX_EINVAL);
    CHECK_ERR(mpx_pool_map_obj(p, square, NULL, NULL, &r), MPX_EINVAL);
    CHECK_ERR(mpx_pool_map_obj(p, square, xs, NULL, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_pool_map_obj(p, square, s, NULL, &r), MPX_ETYPE);
    CHECK_ERR(mpx_pool_map_obj_async(p, square, s, NULL, &ar), MPX_ETYPE);
    CHECK_ERR(mpx_pool_imap_obj(p, square, s, NULL, &it), MPX_ETYPE);
    CHECK_ERR(mpx_pool_imap_obj_gen(p, square, NULL, NULL, NULL, &it), MPX_EINVAL);
    CHECK_ERR(mpx_pool_apply_obj(p, square, NULL, NULL, &r), MPX_EINVAL);
    CHECK(r == NULL && ar == NULL && it == NULL);
    mpx_obj *d = mpx_obj_int(0);
    for (int i = 0; i < MPX_OBJ_MAX_DEPTH + 10; i++)
        d = mpx_obj_build("[N]", d);
    mpx_obj *dl = mpx_obj_build("[N]", d);
    CHECK_ERR(mpx_pool_map_obj(p, identity, dl, NULL, &r), MPX_EDEPTH);
    mpx_obj_decref(dl);
    CHECK_EQ(mpx_obj_result_ready(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_obj_result_get(NULL, 0, &r), MPX_EINVAL);
    CHECK_ERR(mpx_obj_imap_next(NULL, 0, &r, NULL), MPX_EINVAL);
    mpx_obj_result_destroy(NULL);
    mpx_obj_imap_destroy(NULL);
    CHECK_OK(mpx_pool_close(p));
    CHECK_ERR(mpx_pool_map_obj(p, square, xs, NULL, &r), MPX_ESTATE);
    CHECK_ERR(mpx_pool_imap_obj(p, square, xs, NULL, &it), MPX_ESTATE);
    CHECK(r == NULL);
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
    mpx_obj_decref(xs);
    mpx_obj_decref(s);
}

MPX_TEST(pool_obj_thread_pool)
{
    mpx_pool *p;
    CHECK_OK(mpx_thread_pool_create(&p, 3, NULL, NULL));
    mpx_obj *xs = range_list(300), *r;
    CHECK_OK(mpx_pool_map_obj(p, square, xs, NULL, &r));
    for (int64_t i = 0; i < 300; i++) {
        int64_t v;
        CHECK_OK(mpx_obj_get_int(mpx_obj_item(r, i), &v));
        CHECK_EQ(v, i * i);
    }
    mpx_obj_decref(r);
    CHECK_ERR(mpx_pool_map_obj(p, inv5, xs, NULL, &r), MPX_ETASK);
    check_repr(r, "ZeroDivisionError('division by zero')");
    mpx_obj_decref(r);
    mpx_obj_decref(xs);
    finish(p);
}

/* POOL-03 with a value among the initargs. A ThreadPool's workers run
 * their initializers at the same time in one process: the value they keep
 * is guarded, and kept once. */
static mpx_obj *init_value;
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

static int init_keep(const mpx_args *a)
{
    mpx_obj *v = mpx_args_obj(a, 1);
    pthread_mutex_lock(&init_mu);
    if (!init_value && v)
        init_value = mpx_obj_incref(v);
    int ok = init_value && v && mpx_obj_equal(init_value, v) == 1;
    pthread_mutex_unlock(&init_mu);
    return ok && mpx_args_int(a, 0) == 7 ? 0 : -1;
}

static mpx_obj *get_init(mpx_obj *x, mpx_obj **error)
{
    (void)x;
    pthread_mutex_lock(&init_mu);
    mpx_obj *v = init_value ? mpx_obj_incref(init_value) : NULL;
    pthread_mutex_unlock(&init_mu);
    if (!v)
        return mpx_task_raise(error, "RuntimeError", "no initializer value");
    return v;
}

MPX_TEST(pool_obj_initargs_value)
{
    mpx_args *ia;
    CHECK_OK(mpx_args_create(&ia));
    CHECK_OK(mpx_args_add_int(ia, 7));
    mpx_obj *want = mpx_obj_build("{s:[i,s,O]}", "cfg", 1, "two", mpx_obj_none());
    CHECK_OK(mpx_args_add_obj(ia, want));
    mpx_pool *p;
    mpx_pool_opts o = {.initializer = init_keep, .initargs = ia};
    CHECK_OK(mpx_pool_create(&p, 2, &o));
    mpx_args_destroy(ia);
    mpx_obj *xs = range_list(4), *r;
    CHECK_OK(mpx_pool_map_obj(p, get_init, xs, NULL, &r));
    for (int64_t i = 0; i < 4; i++)
        CHECK_EQ(mpx_obj_equal(mpx_obj_item(r, i), want), 1);
    mpx_obj_decref(r);
    mpx_obj_decref(xs);
    mpx_obj_decref(want);
    finish(p);
}

/* A task known by a registered name (CV-5): its reference carries the name,
 * which the worker prefers to the module and offset. */
static mpx_obj *named_task(mpx_obj *x, mpx_obj **error)
{
    (void)error;
    return mpx_obj_build("(sO)", "named", x);
}
MPX_REGISTER_FUNCTION(named_task);

MPX_TEST(pool_obj_registered_task)
{
    mpx_pool *p = mkpool(2);
    mpx_obj *xs = mpx_obj_build("[is]", 1, "two"), *r;
    CHECK_OK(mpx_pool_map_obj(p, named_task, xs, NULL, &r));
    check_repr(r, "[('named', 1), ('named', 'two')]");
    mpx_obj_decref(r);
    mpx_obj_decref(xs);
    finish(p);
}

/* A generator whose item cannot travel stops the input like a generator's
 * error (mpx_obj_gen_fn): the items before it, then its code. */
typedef struct badgen {
    int next, bad_at;
    int kind; /* 0: a NULL item, 1: an item too deep to pickle */
} badgen;

static int bad_gen(void *state, mpx_obj **item)
{
    badgen *g = state;
    if (g->next == g->bad_at) {
        g->next++;
        if (g->kind == 0) {
            *item = NULL;
        } else {
            mpx_obj *d = mpx_obj_int(0);
            for (int i = 0; i < MPX_OBJ_MAX_DEPTH + 10; i++)
                d = mpx_obj_build("[N]", d);
            *item = d;
        }
        return 1;
    }
    *item = mpx_obj_int(g->next++);
    return 1;
}

MPX_TEST_T(pool_obj_imap_generator_bad_items, 60)
{
    mpx_pool *p = mkpool(2);
    for (int kind = 0; kind < 2; kind++) {
        badgen g = {0, 5, kind};
        mpx_obj_imap *it;
        CHECK_OK(mpx_pool_imap_obj_gen(p, square, bad_gen, &g, NULL, &it));
        for (int64_t i = 0; i < 5; i++) {
            mpx_obj *v;
            CHECK_OK(mpx_obj_imap_next(it, 30000, &v, NULL));
            int64_t x;
            CHECK_OK(mpx_obj_get_int(v, &x));
            CHECK_EQ(x, i * i);
            mpx_obj_decref(v);
        }
        mpx_obj *v = NULL;
        CHECK_ERR(mpx_obj_imap_next(it, 30000, &v, NULL), kind == 0 ? -ENOMEM : MPX_EDEPTH);
        CHECK(v == NULL);
        mpx_obj_imap_destroy(it);
    }
    finish(p);
}

/* The duration rules (docs/design.md, D1) on the value calls: a wait of
 * <= 0 only checks (Python's get(-1), wait(0), next(timeout=0)), and the
 * answers are yes/no (D2): wait 1 ready / 0 not yet, get MPX_ETIMEDOUT as
 * Python raises; a negative per-task timeout is MPX_EINVAL, MPX_FOREVER
 * none. */
MPX_TEST_T(pool_obj_durations, 60)
{
    mpx_pool *p = mkpool(1);
    mpx_obj *slow = mpx_obj_build("[i]", 1500), *quick = mpx_obj_build("[ii]", 1, 2), *r = NULL;
    mpx_obj_result *ar;
    mpx_obj_call_opts c = {.chunksize = 1};
    CHECK_OK(mpx_pool_map_obj_async(p, sleeper, slow, &c, &ar));
    const mpx_duration nows[] = {MPX_NOWAIT, 0, -5, INT64_MIN};
    for (size_t i = 0; i < sizeof nows / sizeof nows[0]; i++) {
        CHECK_EQ(mpx_obj_result_wait(ar, nows[i]), 0);
        CHECK_ERR(mpx_obj_result_get(ar, nows[i], &r), MPX_ETIMEDOUT);
        CHECK(r == NULL);
    }
    CHECK_EQ(mpx_obj_result_wait(ar, MPX_FOREVER), 1);
    CHECK_EQ(mpx_obj_result_wait(ar, MPX_NOWAIT), 1);
    CHECK_OK(mpx_obj_result_get(ar, MPX_NOWAIT, &r));
    check_repr(r, "[1500]");
    mpx_obj_decref(r);
    r = NULL;
    mpx_obj_result_destroy(ar);
    /* imap: nothing ready yet, then the item */
    mpx_obj_imap *it;
    CHECK_OK(mpx_pool_imap_obj(p, sleeper, slow, NULL, &it));
    CHECK_ERR(mpx_obj_imap_next(it, MPX_NOWAIT, &r, NULL), MPX_ETIMEDOUT);
    CHECK_ERR(mpx_obj_imap_next(it, -1, &r, NULL), MPX_ETIMEDOUT);
    CHECK(r == NULL);
    CHECK_OK(mpx_obj_imap_next(it, MPX_FOREVER, &r, NULL));
    check_repr(r, "1500");
    mpx_obj_decref(r);
    r = NULL;
    CHECK_ERR(mpx_obj_imap_next(it, MPX_NOWAIT, &r, NULL), MPX_EEOF);
    mpx_obj_imap_destroy(it);
    /* per-task timeouts: negative refused, MPX_FOREVER no limit */
    mpx_obj_call_opts neg = {.timeout = MPX_NOWAIT};
    CHECK_ERR(mpx_pool_map_obj(p, square, quick, &neg, &r), MPX_EINVAL);
    CHECK(r == NULL);
    ar = NULL;
    CHECK_ERR(mpx_pool_map_obj_async(p, square, quick, &neg, &ar), MPX_EINVAL);
    CHECK(ar == NULL);
    CHECK_ERR(mpx_pool_apply_obj(p, square, mpx_obj_item(quick, 0), &neg, &r), MPX_EINVAL);
    it = NULL;
    CHECK_ERR(mpx_pool_imap_obj(p, square, quick, &neg, &it), MPX_EINVAL);
    CHECK(it == NULL && r == NULL);
    mpx_obj_call_opts forever = {.timeout = MPX_FOREVER};
    CHECK_OK(mpx_pool_map_obj(p, square, quick, &forever, &r));
    check_repr(r, "[1, 4]");
    mpx_obj_decref(r);
    mpx_obj_decref(slow);
    mpx_obj_decref(quick);
    finish(p);
}
