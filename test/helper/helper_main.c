/* helper_main.c - a second program linking mpx, for the start-method
 * tests (test/test_context.c).
 *
 *   mpx_test_helper                      prints its name and exits
 *   mpx_test_helper nobomb FILE METHOD   appends "main" to FILE, starts 3
 *                                        children with METHOD that append
 *                                        "child"; exit 0 when all worked
 *                                        (TestNoForkBomb: main() runs once)
 *
 * It also registers "helper_named", the target set_executable tests run
 * in this program by name. */
#include <mpx.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The same name as a function of the test program: here it returns 22. */
static int helper_named(const mpx_args *a)
{
    (void)a;
    return 22;
}
MPX_REGISTER_FUNCTION(helper_named);
static int append(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, line, strlen(line));
    close(fd);
    return n == (ssize_t)strlen(line) ? 0 : -1;
}

static int bomb_child(const mpx_args *a)
{
    return append(mpx_args_str(a, 0), "child\n") ? 3 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "nobomb")) {
        if (append(argv[2], "main\n"))
            return 2;
        mpx_context *ctx;
        if (mpx_get_context(&ctx, argv[3]))
            return 3;
        mpx_args *a;
        mpx_args_create(&a);
        mpx_args_add_str(a, argv[2]);
        mpx_process_opts o = {.ctx = ctx};
        mpx_process *p[3];
        for (int i = 0; i < 3; i++)
            if (mpx_process_create(&p[i], bomb_child, a, &o) || mpx_process_start(p[i]))
                return 4;
        int bad = 0;
        for (int i = 0; i < 3; i++) {
            int code = -1;
            if (mpx_process_join(p[i], MPX_FOREVER) != 1 || mpx_process_exitcode(p[i], &code) != 1 ||
                code != 0)
                bad++;
            mpx_process_destroy(p[i]);
        }
        mpx_args_destroy(a);
        return bad ? 5 : 0;
    }
    printf("mpx_test_helper %s\n", mpx_version());
    return 0;
}
