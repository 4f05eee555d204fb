/*
 * mgr_proxies.c - the seed's proxy examples: EX-23 (a list proxy: str,
 * repr, indexing, slicing), EX-27 (_callmethod), EX-26 (a proxy is not
 * its value), EX-19 (changing a fetched value changes nothing until it is
 * assigned back), EX-20 (Namespace), EX-24 and EX-25 (nested proxies).
 *
 * Python (excerpts):
 *     l = manager.list([i*i for i in range(10)])
 *     print(l)                 # [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
 *     print(repr(l))           # <ListProxy object, typeid 'list' at 0x...>
 *     l[4], l[2:5]             # 16, [4, 9, 16]
 *     l._callmethod('__len__')                    # 10
 *     l._callmethod('__getitem__', (slice(2, 7),)) # [4, 9, 16, 25, 36]
 *     l._callmethod('__getitem__', (20,))         # IndexError
 *     manager.list([1, 2, 3]) == [1, 2, 3]        # False; compare a copy
 *
 *     lproxy = manager.list(); lproxy.append({})
 *     d = lproxy[0]; d['a'] = 1; d['b'] = 2      # a copy: lproxy is [{}]
 *     lproxy[0] = d                               # now [{'a': 1, 'b': 2}]
 *
 *     ns = manager.Namespace(); ns.x = 10; ns.y = 'hello'; ns._z = 12.3
 *     print(ns)                # Namespace(x=10, y='hello')
 *
 *     a = manager.list(); b = manager.list(); a.append(b)
 *     b.append('hello'); print(a[0], b)           # ['hello'] ['hello']
 *
 *     l_outer = manager.list([manager.dict() for i in range(2)])
 *     d_first_inner = l_outer[0]; d_first_inner['a'] = 1; d_first_inner['b'] = 2
 *     l_outer[1]['c'] = 3; l_outer[1]['z'] = 26
 *     print(l_outer[0]); print(l_outer[1])        # {'a': 1, 'b': 2} {'c': 3, 'z': 26}
 */
#include <mpx.h>

#include <stdio.h>

#define TRY(expr)                                                             \
    do {                                                                      \
        int rc_ = (expr);                                                     \
        if (rc_ != 0) {                                                       \
            fprintf(stderr, "mgr_proxies: %s: %s\n", #expr, mpx_strerror(rc_)); \
            return 1;                                                         \
        }                                                                     \
    } while (0)

/* slice(start, stop): the value CPython pickles for l[start:stop] */
static mpx_obj *slice(int64_t start, int64_t stop)
{
    mpx_obj *cls = mpx_obj_class("builtins", "slice");
    mpx_obj *args = mpx_obj_build("(LLO)", (long long)start, (long long)stop, mpx_obj_none());
    mpx_obj_reduce r = {MPX_OBJ_REDUCE, cls, args, NULL, NULL, NULL, NULL};
    mpx_obj *s = cls && args ? mpx_obj_instance(&r) : NULL;
    mpx_obj_decref(cls);
    mpx_obj_decref(args);
    return s;
}

static void show(const char *label, mpx_obj *v)
{
    char *s = mpx_obj_repr(v);
    printf("%s%s\n", label, s);
    mpx_free(s);
    mpx_obj_decref(v);
}

static void show_proxy(const char *label, mpx_proxy *p)
{
    char *s = mpx_proxy_str(p);
    printf("%s%s\n", label, s);
    mpx_free(s);
}

int main(void)
{
    mpx_manager *manager;
    TRY(mpx_manager_new(&manager, NULL));

    /* EX-23 */
    mpx_obj *sq = mpx_obj_list();
    for (int i = 0; i < 10; i++)
        mpx_obj_list_append_new(sq, mpx_obj_int(i * i));
    mpx_proxy *l;
    TRY(mpx_manager_list(manager, sq, &l));
    mpx_obj_decref(sq);
    show_proxy("", l);
    char *r = mpx_proxy_repr(l);
    printf("%s\n", r);
    mpx_free(r);
    mpx_obj *v;
    TRY(mpx_proxy_list_get(l, 4, &v));
    show("l[4] = ", v);
    TRY(mpx_proxy_list_slice(l, 2, 5, &v));
    show("l[2:5] = ", v);

    /* EX-27: _callmethod */
    TRY(mpx_proxy_call(l, "__len__", NULL, NULL, &v));
    show("l._callmethod('__len__') = ", v);
    mpx_obj *sl = mpx_obj_build("(N)", slice(2, 7));
    TRY(mpx_proxy_call(l, "__getitem__", sl, NULL, &v));
    show("l._callmethod('__getitem__', (slice(2, 7),)) = ", v);
    mpx_obj_decref(sl);
    mpx_obj *twenty = mpx_obj_build("(i)", 20);
    mpx_remote_error err;
    int rc = mpx_proxy_callmethod(l, "__getitem__", twenty, NULL, &v, NULL, &err);
    printf("l._callmethod('__getitem__', (20,)) -> %s: %s (%s)\n", err.type, err.text,
           mpx_err_name(rc));
    mpx_remote_error_clear(&err);
    mpx_obj_decref(twenty);

    /* EX-26: a proxy is not its value; compare a copy */
    mpx_proxy *l3;
    mpx_obj *onetwothree = mpx_obj_build("[iii]", 1, 2, 3);
    TRY(mpx_manager_list(manager, onetwothree, &l3));
    /* a proxy is not an mpx_obj at all in C: "manager.list([1, 2, 3]) ==
     * [1, 2, 3]" is False in Python, and here the comparison cannot even be
     * written; compare a copy */
    printf("manager.list([1, 2, 3]) == [1, 2, 3]: False\n");
    TRY(mpx_proxy_getvalue(l3, &v));
    printf("copy == [1, 2, 3]: %s\n", mpx_obj_equal(v, onetwothree) == 1 ? "True" : "False");
    mpx_obj_decref(v);
    mpx_obj_decref(onetwothree);
    mpx_proxy_destroy(l3);

    /* EX-19 */
    mpx_proxy *lproxy;
    TRY(mpx_manager_list(manager, NULL, &lproxy));
    mpx_obj *empty = mpx_obj_dict();
    TRY(mpx_proxy_list_append(lproxy, empty));
    mpx_obj_decref(empty);
    mpx_obj *d;
    TRY(mpx_proxy_list_get(lproxy, 0, &d));
    mpx_obj_dict_set_s_new(d, "a", mpx_obj_int(1));
    mpx_obj_dict_set_s_new(d, "b", mpx_obj_int(2));
    show_proxy("before assigning back: ", lproxy);
    TRY(mpx_proxy_list_set(lproxy, 0, d)); /* lproxy[0] = d */
    show_proxy("after lproxy[0] = d:  ", lproxy);
    mpx_obj_decref(d);
    mpx_proxy_destroy(lproxy);

    /* EX-20 */
    mpx_proxy *ns;
    TRY(mpx_manager_namespace(manager, &ns));
    TRY(mpx_proxy_ns_set(ns, "x", v = mpx_obj_int(10)));
    mpx_obj_decref(v);
    TRY(mpx_proxy_ns_set(ns, "y", v = mpx_obj_str("hello")));
    mpx_obj_decref(v);
    /* ns._z = 12.3 belongs to the proxy in Python; mpx refuses such names */
    show_proxy("", ns);
    mpx_proxy_destroy(ns);

    /* EX-24 */
    mpx_proxy *a, *b, *a0;
    TRY(mpx_manager_list(manager, NULL, &a));
    TRY(mpx_manager_list(manager, NULL, &b));
    mpx_obj *bv = mpx_proxy_to_obj(b);
    TRY(mpx_proxy_list_append(a, bv)); /* a.append(b) */
    mpx_obj_decref(bv);
    show_proxy("a = ", a);
    TRY(mpx_proxy_list_append(b, v = mpx_obj_str("hello")));
    mpx_obj_decref(v);
    TRY(mpx_proxy_list_get_proxy(a, 0, &a0));
    char *s0 = mpx_proxy_str(a0), *sb = mpx_proxy_str(b);
    printf("%s %s\n", s0, sb);
    mpx_free(s0);
    mpx_free(sb);
    mpx_proxy_destroy(a0);
    mpx_proxy_destroy(a);
    mpx_proxy_destroy(b);

    /* EX-25 */
    mpx_proxy *i0, *i1, *outer, *o0, *o1;
    TRY(mpx_manager_dict(manager, NULL, &i0));
    TRY(mpx_manager_dict(manager, NULL, &i1));
    mpx_obj *init = mpx_obj_build("[NN]", mpx_proxy_to_obj(i0), mpx_proxy_to_obj(i1));
    TRY(mpx_manager_list(manager, init, &outer));
    mpx_obj_decref(init);
    mpx_proxy_destroy(i0); /* the outer list keeps them */
    mpx_proxy_destroy(i1);
    TRY(mpx_proxy_list_get_proxy(outer, 0, &o0)); /* d_first_inner = l_outer[0] */
    TRY(mpx_proxy_dict_set_s(o0, "a", v = mpx_obj_int(1)));
    mpx_obj_decref(v);
    TRY(mpx_proxy_dict_set_s(o0, "b", v = mpx_obj_int(2)));
    mpx_obj_decref(v);
    TRY(mpx_proxy_list_get_proxy(outer, 1, &o1));
    TRY(mpx_proxy_dict_set_s(o1, "c", v = mpx_obj_int(3)));
    mpx_obj_decref(v);
    TRY(mpx_proxy_dict_set_s(o1, "z", v = mpx_obj_int(26)));
    mpx_obj_decref(v);
    mpx_proxy_destroy(o0);
    mpx_proxy_destroy(o1);
    TRY(mpx_proxy_list_get_proxy(outer, 0, &o0));
    TRY(mpx_proxy_list_get_proxy(outer, 1, &o1));
    show_proxy("", o0);
    show_proxy("", o1);
    mpx_proxy_destroy(o0);
    mpx_proxy_destroy(o1);
    mpx_proxy_destroy(outer);

    mpx_proxy_destroy(l);
    mpx_manager_destroy(manager);
    return 0;
}
