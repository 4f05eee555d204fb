/* process_hello.c - the seed's first Process example (EX-02):
 *
 *     def f(name): print('hello', name)
 *     p = Process(target=f, args=('bob',)); p.start(); p.join()
 */
#include <mpx.h>
#include <stdio.h>

static int f(const mpx_args *args)
{
    printf("hello %s\n", mpx_args_str(args, 0));
    return 0;
}

int main(void)
{
    mpx_args *args;
    mpx_process *p;
    int rc = mpx_args_create(&args);
    if (!rc)
        rc = mpx_args_add_str(args, "bob");
    if (!rc)
        rc = mpx_process_create(&p, f, args, NULL);
    mpx_args_destroy(args);
    if (!rc)
        rc = mpx_process_start(p);
    if (!rc && (rc = mpx_process_join(p, MPX_FOREVER)) == 1)
        rc = 0; /* 1: it ended */
    if (rc) {
        fprintf(stderr, "process_hello: %s\n", mpx_strerror(rc));
        return 1;
    }
    int code = -1;
    mpx_process_exitcode(p, &code);
    mpx_process_destroy(p);
    return code;
}
