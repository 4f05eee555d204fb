/* process_info.c - the seed's info() example (EX-03): the main line and the
 * child each print the module (program) name, parent pid and pid.
 *
 *     def info(title):
 *         print(title); print('module name:', __name__)
 *         print('parent process:', os.getppid()); print('process id:', os.getpid())
 */
#include <mpx.h>
#include <stdio.h>
#include <unistd.h>

static const char *module = "__main__";

static void info(const char *title)
{
    printf("%s\n", title);
    printf("module name: %s\n", module);
    printf("process name: %s\n", mpx_process_name(mpx_current_process()));
    printf("parent process: %d\n", (int)getppid());
    printf("process id: %d\n", (int)getpid());
    fflush(stdout);
}

static int f(const mpx_args *args)
{
    info("function f");
    printf("hello %s\n", mpx_args_str(args, 0));
    return 0;
}

int main(void)
{
    info("main line");
    mpx_args *args;
    mpx_process *p;
    if (mpx_args_create(&args) || mpx_args_add_str(args, "bob") ||
        mpx_process_create(&p, f, args, NULL))
        return 1;
    mpx_args_destroy(args);
    int rc = mpx_process_start(p);
    if (!rc && (rc = mpx_process_join(p, MPX_FOREVER)) == 1)
        rc = 0; /* 1: it ended */
    if (rc) {
        fprintf(stderr, "process_info: %s\n", mpx_strerror(rc));
        return 1;
    }
    int code = -1;
    mpx_process_exitcode(p, &code);
    mpx_process_destroy(p);
    return code;
}
