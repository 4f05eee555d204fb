/*
 * mgr_custom.c - EX-21 (MGR-20): a customized manager with a type written
 * in C.
 *
 * Python:
 *     class MathsClass:
 *         def add(self, x, y):
 *             return x + y
 *         def mul(self, x, y):
 *             return x * y
 *
 *     class MyManager(BaseManager):
 *         pass
 *
 *     MyManager.register('Maths', MathsClass)
 *
 *     with MyManager() as manager:
 *         maths = manager.Maths()
 *         print(maths.add(4, 3))         # prints 7
 *         print(maths.mul(7, 8))         # prints 56
 *
 * In C a type is a table of named methods taking and returning values; the
 * callable that makes an object runs in the manager's process (found there
 * by function reference under spawn and forkserver too).
 */
#include <mpx.h>

#include <stdio.h>

#define TRY(expr)                                                            \
    do {                                                                     \
        int rc_ = (expr);                                                    \
        if (rc_ != 0) {                                                      \
            fprintf(stderr, "mgr_custom: %s: %s\n", #expr, mpx_strerror(rc_)); \
            return 1;                                                        \
        }                                                                    \
    } while (0)

static int add(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
               mpx_manager_call *call)
{
    long long x, y;
    if (mpx_obj_parse(args, "(LL)", &x, &y))
        return mpx_manager_raise(call, MPX_ETYPE, "add(x, y): two integers");
    *result = mpx_obj_int(x + y);
    return 0;
}

static int mul(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
               mpx_manager_call *call)
{
    long long x, y;
    if (mpx_obj_parse(args, "(LL)", &x, &y))
        return mpx_manager_raise(call, MPX_ETYPE, "mul(x, y): two integers");
    *result = mpx_obj_int(x * y);
    return 0;
}

static const mpx_manager_method maths_methods[] = {{"add", add}, {"mul", mul}, {NULL, NULL}};
static const mpx_manager_class MathsClass = {
    .name = "MathsClass", .methods = maths_methods, .nonblocking = 1 /* quick: no thread of its own */};

static int new_maths(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                     mpx_manager_call *call)
{
    return mpx_referent_create(out, &MathsClass, NULL);
}

static long long call2(mpx_proxy *p, const char *method, int x, int y)
{
    mpx_obj *args = mpx_obj_build("(ii)", x, y), *v = NULL;
    long long out = -1;
    if (mpx_proxy_call(p, method, args, NULL, &v) == 0)
        mpx_obj_parse(v, "L", &out);
    mpx_obj_decref(args);
    mpx_obj_decref(v);
    return out;
}

int main(void)
{
    mpx_manager_registry *MyManager;
    TRY(mpx_manager_registry_create(&MyManager, "MyManager", NULL));
    TRY(mpx_manager_register(MyManager, "Maths", &(mpx_register_opts){.callable = new_maths}));

    mpx_manager *manager;
    TRY(mpx_manager_create(&manager, MyManager, NULL));
    TRY(mpx_manager_start(manager, NULL, NULL));
    mpx_proxy *maths;
    TRY(mpx_manager_make(manager, "Maths", NULL, NULL, &maths));
    printf("%lld\n", call2(maths, "add", 4, 3)); /* prints 7 */
    printf("%lld\n", call2(maths, "mul", 7, 8)); /* prints 56 */
    mpx_proxy_destroy(maths);
    mpx_manager_destroy(manager);
    mpx_manager_registry_destroy(MyManager);
    return 0;
}
