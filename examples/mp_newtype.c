/*
 * mp_newtype.c - EX-37 (PROXY-10..12): custom managers and proxies, the
 * seed's mp_newtype program: Foo with its exposed sets, a generator behind
 * a GeneratorProxy, and the operator module behind an automatic proxy.
 *
 * Python: see the seed ("Démonstration de comment créer et utiliser des
 * gestionnaires et mandataires personnalisés"); in short
 *     MyManager.register('Foo1', Foo)                         # f, g exposed
 *     MyManager.register('Foo2', Foo, exposed=('g', '_h'))
 *     MyManager.register('baz', baz, proxytype=GeneratorProxy)
 *     MyManager.register('operator', get_operator_module)
 * and it prints "you called Foo.f()" ... "<0> <1> <4> ... <81>",
 * "op.add(23, 45) = 68", "op.pow(2, 94) = 19807040628566084398385987584".
 *
 * Foo's methods print in the manager's process, as in Python.
 */
#include <mpx.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(expr)                                                            \
    do {                                                                     \
        int rc_ = (expr);                                                    \
        if (rc_ != 0) {                                                      \
            fprintf(stderr, "mp_newtype: %s: %s\n", #expr, mpx_strerror(rc_)); \
            return 1;                                                        \
        }                                                                    \
    } while (0)

/* ---- class Foo ---- */

static int say(const char *what)
{
    printf("you called Foo.%s()\n", what);
    fflush(stdout);
    return 0;
}
static int foo_f(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    return say("f");
}
static int foo_g(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    return say("g");
}
static int foo_h(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    return say("_h");
}
static const mpx_manager_method foo_methods[] = {
    {"f", foo_f}, {"g", foo_g}, {"_h", foo_h}, {NULL, NULL}};
static const mpx_manager_class Foo = {.name = "Foo", .methods = foo_methods};

static int new_foo(const mpx_obj *a, const mpx_obj *k, mpx_referent **out, mpx_manager_call *c)
{
    return mpx_referent_create(out, &Foo, NULL);
}

/* ---- def baz(): for i in range(10): yield i*i ---- */

static int baz_next(void *self, const mpx_obj *a, const mpx_obj *k, mpx_obj **r,
                    mpx_manager_call *c)
{
    int *i = self;
    if (*i >= 10)
        return mpx_manager_raise(c, MPX_EEOF, NULL); /* StopIteration */
    *r = mpx_obj_int(*i * *i);
    ++*i;
    return 0;
}
static const mpx_manager_method gen_methods[] = {{"__next__", baz_next}, {NULL, NULL}};
static const mpx_manager_class generator = {
    .name = "generator", .methods = gen_methods, .release = free};

static int baz(const mpx_obj *a, const mpx_obj *k, mpx_referent **out, mpx_manager_call *c)
{
    int *i = calloc(1, sizeof *i);
    int rc = i ? mpx_referent_create(out, &generator, i) : -ENOMEM;
    if (rc)
        free(i);
    return rc;
}

/* ---- the operator module (a few of its public functions) ---- */

static int ints(const mpx_obj *a, mpx_manager_call *c, long long *x, long long *y)
{
    return mpx_obj_parse(a, "(LL)", x, y) ? mpx_manager_raise(c, MPX_ETYPE, "integers please")
                                          : 0;
}
static int op_add(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    long long x, y;
    int rc = ints(a, c, &x, &y);
    return rc ? rc : (*r = mpx_obj_int(x + y)) ? 0 : -ENOMEM;
}
static int op_sub(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    long long x, y;
    int rc = ints(a, c, &x, &y);
    return rc ? rc : (*r = mpx_obj_int(x - y)) ? 0 : -ENOMEM;
}
static int op_mul(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    long long x, y;
    int rc = ints(a, c, &x, &y);
    return rc ? rc : (*r = mpx_obj_int(x * y)) ? 0 : -ENOMEM;
}
static int op_pow(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    long long x, y;
    int rc = ints(a, c, &x, &y);
    if (rc || x < 0 || y < 0)
        return rc ? rc : mpx_manager_raise(c, MPX_ENOTSUP, "non-negative integers only here");
    unsigned __int128 v = 1;
    for (long long i = 0; i < y; i++) {
        if (x > 1 && v > ((unsigned __int128)1 << 126) / (unsigned __int128)x)
            return mpx_manager_raise(c, -ERANGE, "result beyond 127 bits");
        v *= (unsigned __int128)x;
    }
    *r = mpx_obj_int_from_bytes(&v, sizeof v, 1, 0); /* any size: Python's int */
    return *r ? 0 : -ENOMEM;
}
static const mpx_manager_method op_methods[] = {
    {"add", op_add}, {"mul", op_mul}, {"pow", op_pow}, {"sub", op_sub}, {NULL, NULL}};
static const mpx_manager_class operator_module = {
    .name = "module", .methods = op_methods, .concurrent = 1, .nonblocking = 1};

static int get_operator_module(const mpx_obj *a, const mpx_obj *k, mpx_referent **out,
                               mpx_manager_call *c)
{
    return mpx_referent_create(out, &operator_module, NULL);
}

static void print_call(mpx_proxy *op, const char *method, int x, int y)
{
    mpx_obj *args = mpx_obj_build("(ii)", x, y), *v = NULL;
    if (mpx_proxy_call(op, method, args, NULL, &v) == 0) {
        char *s = mpx_obj_repr(v);
        printf("op.%s(%d, %d) = %s\n", method, x, y, s);
        mpx_free(s);
    }
    mpx_obj_decref(v);
    mpx_obj_decref(args);
}

static void print_exposed(const char *name, mpx_proxy *p)
{
    printf("%s._exposed_ = (", name);
    const char *const *ex = mpx_proxy_exposed(p);
    for (size_t i = 0; ex[i]; i++)
        printf("%s'%s'", i ? ", " : "", ex[i]);
    printf(")\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* our lines and the manager's, in order */
    mpx_manager_registry *MyManager;
    TRY(mpx_manager_registry_create(&MyManager, "MyManager", NULL));
    /* register the Foo class; make f() and g() accessible via proxy */
    TRY(mpx_manager_register(MyManager, "Foo1", &(mpx_register_opts){.callable = new_foo}));
    /* register the Foo class; make g() and _h() accessible via proxy */
    static const char *const foo2[] = {"g", "_h", NULL};
    TRY(mpx_manager_register(MyManager, "Foo2",
                             &(mpx_register_opts){.callable = new_foo, .exposed = foo2}));
    /* register the generator function baz; use GeneratorProxy to make proxies */
    static const char *const gen_exposed[] = {"__next__", NULL};
    TRY(mpx_manager_register(MyManager, "baz",
                             &(mpx_register_opts){.callable = baz,
                                                  .proxytype = "__main__.GeneratorProxy",
                                                  .exposed = gen_exposed}));
    /* register get_operator_module(); make public functions accessible via proxy */
    TRY(mpx_manager_register(MyManager, "operator",
                             &(mpx_register_opts){.callable = get_operator_module}));

    mpx_manager *manager;
    TRY(mpx_manager_create(&manager, MyManager, NULL));
    TRY(mpx_manager_start(manager, NULL, NULL));

    printf("--------------------\n");
    mpx_proxy *f1;
    TRY(mpx_manager_make(manager, "Foo1", NULL, NULL, &f1));
    TRY(mpx_proxy_call(f1, "f", NULL, NULL, NULL));
    TRY(mpx_proxy_call(f1, "g", NULL, NULL, NULL));
    if (mpx_proxy_is_exposed(f1, "_h"))
        return 1;
    print_exposed("f1", f1);

    printf("--------------------\n");
    mpx_proxy *f2;
    TRY(mpx_manager_make(manager, "Foo2", NULL, NULL, &f2));
    TRY(mpx_proxy_call(f2, "g", NULL, NULL, NULL));
    TRY(mpx_proxy_call(f2, "_h", NULL, NULL, NULL));
    if (mpx_proxy_is_exposed(f2, "f"))
        return 1;
    print_exposed("f2", f2);

    printf("--------------------\n");
    mpx_proxy *it;
    TRY(mpx_manager_make(manager, "baz", NULL, NULL, &it));
    mpx_obj *v;
    while (mpx_proxy_next(it, &v) == 0) { /* for i in it: */
        long long i;
        mpx_obj_parse(v, "L", &i);
        printf("<%lld> ", i);
        mpx_obj_decref(v);
    }
    printf("\n");

    printf("--------------------\n");
    mpx_proxy *op;
    TRY(mpx_manager_make(manager, "operator", NULL, NULL, &op));
    print_call(op, "add", 23, 45);
    print_call(op, "pow", 2, 94);
    print_exposed("op", op);

    mpx_proxy_destroy(f1);
    mpx_proxy_destroy(f2);
    mpx_proxy_destroy(it);
    mpx_proxy_destroy(op);
    mpx_manager_destroy(manager);
    mpx_manager_registry_destroy(MyManager);
    return 0;
}
