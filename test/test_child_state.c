/* test_child_state.c - what a child takes from its parent when it starts,
 * under every start method: the parent's settings at that start, never a
 * fork server's snapshot (issue #12 item 3); the child's own default start
 * method (issue #13 item 11, Python's _force_start_method); the atexit
 * handlers a child runs at its end (issue #13 item 12, Python 3.13). */
#include "harness.h"

#include "core/process_internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const methods[] = {"fork", "spawn", "forkserver"};

static mpx_context *ctx_of(const char *name)
{
    mpx_context *c = NULL;
    CHECK_OK(mpx_get_context(&c, name));
    return c;
}

/* Start fn(a) with ctx (NULL: the default context) and return its exit
 * code. */
static int run_with(mpx_context *ctx, mpx_target_fn fn, mpx_args *a, const char *name)
{
    mpx_process_opts o = {.ctx = ctx, .name = name};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, fn, a, &o));
    CHECK_OK(mpx_process_start(p));
    return join_destroy(p);
}

/* ---- settings at the time of the start (issue #12 item 3) ------------------ */

#define ENV_NEW "MPX_TEST_CHILD_ENV"
#define ENV_GONE "MPX_TEST_CHILD_ENV_GONE"
static const unsigned char key_b[] = "authkey-set-after-the-server";

/* Checks in the child; returns the number of the first check that fails
 * (0: all passed). Expected values come from the parent as arguments. */
#define EXPECT(n, cond)                                                             \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "child check %d failed: %s\n", n, #cond);               \
            return n;                                                               \
        }                                                                           \
    } while (0)

static int t_check_settings(const mpx_args *a)
{
    const char *fixed = mpx_args_str(a, 0);
    const char *exe = mpx_args_str(a, 1);
    int64_t ncpus = mpx_args_int(a, 2);
    /* logging: the parent turned its stderr logging off after the server
     * had started with it (the case) */
    EXPECT(1, mpx_log_get_level() == MPX_LOG_NOTSET);
    EXPECT(2, !mpx__log_is_stderr());
    const char *m = NULL;
    mpx_get_start_method(&m, 1);
    EXPECT(3, m && !strcmp(m, fixed));
    char buf[4096];
    EXPECT(4, mpx_get_executable(buf, sizeof buf) >= 0 && !strcmp(buf, exe));
    EXPECT(5, mpx_sync_set_spin(0) == 7);
    EXPECT(6, mpx_sync_set_owner_check(50) == 123);
    EXPECT(7, getenv(ENV_NEW) && !strcmp(getenv(ENV_NEW), "after"));
    EXPECT(8, getenv(ENV_GONE) == NULL);
    mode_t um = umask(0);
    EXPECT(9, um == 027);
    struct sigaction sa;
    EXPECT(10, sigaction(SIGUSR1, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN);
    EXPECT(11, sigaction(SIGUSR2, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL);
    sigset_t blk;
    pthread_sigmask(SIG_BLOCK, NULL, &blk);
    EXPECT(12, sigismember(&blk, SIGWINCH) == 1);
    EXPECT(13, sigismember(&blk, SIGURG) == 0);
    cpu_set_t cpus;
    EXPECT(14, sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) == ncpus);
    unsigned char key[64];
    int klen = mpx_process_authkey(mpx_current_process(), key, sizeof key);
    EXPECT(15, klen == (int)sizeof key_b && !memcmp(key, key_b, sizeof key_b));
    EXPECT(16, mpx_parent_process() &&
                   !strcmp(mpx_process_name(mpx_parent_process()), "RenamedParent"));
    EXPECT(17, !strcmp(mpx_process_name(mpx_current_process()), "checker"));
    return 0;
}

static int t_log_check(const mpx_args *a)
{
    /* This child logs to stderr at WARNING exactly when the parent did. */
    int want = (int)mpx_args_int(a, 0);
    EXPECT(1, mpx_log_get_level() == want);
    EXPECT(2, mpx__log_is_stderr() == (want != 0));
    return 0;
}

/*
 * The case first: log_to_stderr(WARNING), one child, logging off,
 * a second child. Then every other setting changed after the fork server
 * started: each child sees the values of its own start.
 */
MPX_TEST(child_state_settings_of_the_start_not_the_servers)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, MPX_LOG_WARNING));
    int saved = dup(2), nul = open("/dev/null", O_WRONLY);
    CHECK(saved >= 0 && nul >= 0);
    dup2(nul, 2); /* the children's records */
    close(nul);
    CHECK_OK(mpx_log_to_stderr(MPX_LOG_WARNING));
    setenv(ENV_GONE, "1", 1);
    signal(SIGUSR2, SIG_IGN);
    for (int i = 0; i < 3; i++) /* starts the fork server with these */
        CHECK_EQ(run_with(ctx_of(methods[i]), t_log_check, a, NULL), 0);
    mpx_args_destroy(a);
    CHECK_OK(mpx_log_set_handler(NULL, NULL));
    CHECK_OK(mpx_log_set_level(MPX_LOG_NOTSET));
    dup2(saved, 2);
    close(saved);
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, 0));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(run_with(ctx_of(methods[i]), t_log_check, a, NULL), 0);
    mpx_args_destroy(a);

    /* Everything else, changed now. */
    CHECK_OK(mpx_set_start_method(mpx_test_start_method(), 1));
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = 0;
    CHECK_OK(mpx_set_executable(exe));
    mpx_sync_set_spin(7);
    mpx_sync_set_owner_check(123);
    setenv(ENV_NEW, "after", 1);
    unsetenv(ENV_GONE);
    umask(027);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, SIG_DFL);
    sigset_t blk;
    sigemptyset(&blk);
    sigaddset(&blk, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &blk, NULL);
    cpu_set_t cpus;
    CHECK_EQ(sched_getaffinity(0, sizeof cpus, &cpus), 0);
    if (CPU_COUNT(&cpus) > 1) {
        int first = 0;
        while (!CPU_ISSET(first, &cpus))
            first++;
        CPU_ZERO(&cpus);
        CPU_SET(first, &cpus);
        CHECK_EQ(sched_setaffinity(0, sizeof cpus, &cpus), 0);
    }
    CHECK_OK(mpx_process_set_authkey(mpx_current_process(), key_b, sizeof key_b));
    CHECK_OK(mpx_process_set_name(mpx_current_process(), "RenamedParent"));
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_str(a, mpx_test_start_method()));
    CHECK_OK(mpx_args_add_str(a, exe));
    CHECK_OK(mpx_args_add_int(a, CPU_COUNT(&cpus)));
    /* Processes made with the default context: the fixed method is the
     * parent's (explicit contexts force their own, tested below). */
    for (int i = 0; i < 2; i++)
        CHECK_EQ(run_with(NULL, t_check_settings, a, "checker"), 0);
    mpx_args_destroy(a);
    umask(022);
}

/* ---- the child's default start method (issue #13 item 11) -------------- */

/* In the child: its default method must be want; a grandchild made with
 * the default context starts with it and reports the same default. */
static int t_grandchild_method(const mpx_args *a)
{
    const char *m = NULL;
    mpx_get_start_method(&m, 1);
    return m && !strcmp(m, mpx_args_str(a, 0)) ? 0 : 9;
}

static int t_child_method(const mpx_args *a)
{
    const char *want = mpx_args_str(a, 0);
    const char *m = NULL;
    mpx_get_start_method(&m, 1);
    EXPECT(1, m && !strcmp(m, want));
    mpx_context *c = NULL;
    EXPECT(2, mpx_get_context(&c, NULL) == 0 && !strcmp(mpx_context_start_method(c), want));
    const char *names[3];
    size_t n = 0;
    mpx_get_all_start_methods(names, 3, &n);
    EXPECT(3, n == 3 && !strcmp(names[0], want));
    mpx_process *g;
    EXPECT(4, mpx_process_create(&g, t_grandchild_method, a, NULL) == 0);
    EXPECT(5, mpx_process_start(g) == 0);
    EXPECT(6, !strcmp(g->ctx->name, want)); /* how it was started */
    int code = -1;
    mpx_process_join(g, MPX_FOREVER);
    mpx_process_exitcode(g, &code);
    mpx_process_destroy(g);
    EXPECT(7, code == 0);
    return 0;
}

/* A process made with an explicit context makes that method its default
 * (CPython: ctx.Process has _start_method, forced in _bootstrap), whatever
 * the parent's default is, fixed or not. */
MPX_TEST_T(child_state_explicit_context_is_the_childs_default, 60)
{
    for (int fixed = 0; fixed < 2; fixed++) {
        if (fixed)
            CHECK_OK(mpx_set_start_method(mpx_test_start_method(), 1));
        for (int i = 0; i < 3; i++) {
            mpx_args *a;
            CHECK_OK(mpx_args_create(&a));
            CHECK_OK(mpx_args_add_str(a, methods[i]));
            CHECK_EQ(run_with(ctx_of(methods[i]), t_child_method, a, NULL), 0);
            mpx_args_destroy(a);
        }
    }
}

/* A process made with the default context keeps its parent's setting.
 * Starting it fixes the parent's default (CPython: Process.start() calls
 * DefaultContext.get_context(), so get_start_method(allow_none=True) is
 * 'fork' afterwards, in the parent and in the child). */
MPX_TEST(child_state_default_context_keeps_parents_setting)
{
    const char *m = "x";
    CHECK_OK(mpx_get_start_method(&m, 1));
    CHECK(m == NULL);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_str(a, mpx_test_start_method()));
    CHECK_EQ(run_with(NULL, t_child_method, a, NULL), 0);
    mpx_args_destroy(a);
    CHECK_OK(mpx_get_start_method(&m, 1));
    CHECK_STREQ(m, mpx_test_start_method());
    CHECK_ERR(mpx_set_start_method("spawn", 0), MPX_ESTATE);
}

static int t_report_method(const mpx_args *a)
{
    (void)a;
    return mpx_current_process()->ctx->method;
}

/* Python resolves the default context in start(): set_start_method
 * between create and start decides. */
MPX_TEST(child_state_default_context_resolved_at_start)
{
    const char *other = strcmp(mpx_test_start_method(), "spawn") ? "spawn" : "forkserver";
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_report_method, NULL, NULL));
    CHECK_OK(mpx_set_start_method(other, 1));
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), ctx_of(other)->method);
}

/* ---- atexit handlers (issue #13 item 12, Python 3.13) ------------------- */

/* The write end of the pipe the handlers report to; an event that the
 * child's handler sets (its grandchild waits for it). */
static int report_fd = -1;
static mpx_event *handler_ran;

static void report(const char *what)
{
    if (report_fd >= 0) {
        char line[64];
        int n = snprintf(line, sizeof line, "%s;", what);
        if (write(report_fd, line, (size_t)n) != n)
            _exit(99);
    }
}

/* Registered by a constructor: in every image of this program, so in
 * spawn children and in the fork server, not only in the main process.
 * It reports where t_registers_handlers set report_fd. */
static void ctor_handler(void)
{
    report("ctor");
}
__attribute__((constructor)) static void register_ctor_handler(void)
{
    atexit(ctor_handler);
}

static void parent_handler(void)
{
    report("parent");
}

static void child_handler(void)
{
    report("child");
    mpx_event_set(handler_ran);
}

static void child_handler_2(void)
{
    report("child2");
}

static int t_grandchild_waits(const mpx_args *a)
{
    mpx_event *e = mpx_args_object(a, 0);
    int fd = mpx_args_fd(a, 1);
    /* 3.13 runs the child's handlers before joining its children. */
    mpx_event_wait(e, 20000);
    const char *what = mpx_event_is_set(e) == 1 ? "grandchild;" : "grandchild-timeout;";
    return write(fd, what, strlen(what)) > 0 ? 0 : 1;
}

static int t_registers_handlers(const mpx_args *a)
{
    handler_ran = mpx_args_object(a, 0);
    report_fd = mpx_args_fd(a, 1);
    int how = (int)mpx_args_int(a, 2);
    mpx_process *g;
    mpx_args *b;
    if (mpx_args_create(&b) || mpx_args_add_object(b, handler_ran) ||
        mpx_args_add_fd(b, report_fd) || mpx_process_create(&g, t_grandchild_waits, b, NULL) ||
        mpx_process_start(g))
        return 50;
    mpx_args_destroy(b);
    mpx_process_destroy(g); /* still tracked: joined at the child's end */
    atexit(child_handler);
    atexit(child_handler_2); /* runs first: last registered */
    if (how == 1)
        mpx_exit(6);
    if (how == 2)
        exit(7);
    return 5;
}

/*
 * A child runs the handlers it registered (last first), then its children
 * are joined; its exit code is kept. Under fork the handlers the parent
 * registered (at run time or from constructors) do not run in the child;
 * a spawn or forkserver child is a program image of its own, whose
 * constructor-registered handlers do run (as Python 3.13 runs those of
 * the re-imported main module).
 */
MPX_TEST_T(child_state_atexit_handlers_of_the_child_run, 120)
{
    atexit(parent_handler);
    int codes[] = {5, 6, 7};
    for (int i = 0; i < 3; i++)
        for (int how = 0; how < 3; how++) {
            int pfd[2];
            CHECK_EQ(pipe(pfd), 0);
            report_fd = pfd[1]; /* parent_handler would write it in a fork child */
            mpx_event *e;
            CHECK_OK(mpx_event_create(&e, &(mpx_sync_opts){.ctx = ctx_of("spawn")}));
            mpx_args *a;
            CHECK_OK(mpx_args_create(&a));
            CHECK_OK(mpx_args_add_object(a, e));
            CHECK_OK(mpx_args_add_fd(a, pfd[1]));
            CHECK_OK(mpx_args_add_int(a, how));
            mpx_process *p;
            mpx_process_opts o = {.ctx = ctx_of(methods[i])};
            CHECK_OK(mpx_process_create(&p, t_registers_handlers, a, &o));
            mpx_args_destroy(a);
            CHECK_OK(mpx_process_start(p));
            CHECK_EQ(join_destroy(p), codes[how]);
            report_fd = -1;
            close(pfd[1]);
            char buf[256] = {0};
            size_t len = 0;
            ssize_t r;
            while ((r = read(pfd[0], buf + len, sizeof buf - 1 - len)) > 0)
                len += (size_t)r;
            close(pfd[0]);
            mpx_event_destroy(e);
            const char *want = i == 0 ? "child2;child;grandchild;"
                                      : "child2;child;grandchild;ctor;";
            if (strcmp(buf, want) != 0)
                FAIL("%s, way %d: handlers reported \"%s\", want \"%s\"", methods[i], how, buf,
                     want);
        }
}
