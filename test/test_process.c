/* test_process.c - Process (PROC-01..33), MISC-01..04, GUIDE-04. Runs under
 * every start method (the runner's --start switch). */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int t_return_arg(const mpx_args *a)
{
    return (int)mpx_args_int(a, 0);
}

static int t_nothing(const mpx_args *a)
{
    (void)a;
    return 0;
}

static int t_sleep(const mpx_args *a)
{
    sleep_ms((int)mpx_args_int(a, 0));
    return 0;
}

static int t_fail(const mpx_args *a)
{
    (void)a;
    return MPX_EINVAL;
}

static int t_exit(const mpx_args *a)
{
    mpx_exit((int)mpx_args_int(a, 0));
}

static int t_raise(const mpx_args *a)
{
    raise((int)mpx_args_int(a, 0));
    return 0;
}

static mpx_process *start1(mpx_target_fn fn, int64_t arg)
{
    mpx_args *a;
    mpx_process *p;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, arg));
    CHECK_OK(mpx_process_create(&p, fn, a, NULL));
    mpx_args_destroy(a);
    CHECK_OK(mpx_process_start(p));
    return p;
}

/* PROC-16: exit codes. */
MPX_TEST(proc_16_exitcode_normal_return)
{
    mpx_process *p = start1(t_nothing, 0);
    CHECK_EQ(join_destroy(p), 0);
}

MPX_TEST(proc_16_exitcode_return_n)
{
    mpx_process *p = start1(t_return_arg, 7);
    CHECK_EQ(join_destroy(p), 7);
}

MPX_TEST(proc_16_exitcode_mpx_exit)
{
    mpx_process *p = start1(t_exit, 42);
    CHECK_EQ(join_destroy(p), 42);
}

MPX_TEST(proc_16_exitcode_failure_is_1)
{
    mpx_process *p = start1(t_fail, 0);
    CHECK_EQ(join_destroy(p), 1);
}

MPX_TEST(proc_16_exitcode_signal_negative)
{
    mpx_process *p = start1(t_raise, SIGUSR2);
    CHECK_EQ(join_destroy(p), -SIGUSR2);
    /* A crash reports its signal (sanitizers turn SIGSEGV into an exit). */
    if (mpx_test_sanitized())
        return;
    p = start1(t_raise, SIGSEGV);
    CHECK_EQ(join_destroy(p), -SIGSEGV);
}

/* PROC-16: exitcode unset while running; PROC-15 pid. */
MPX_TEST(proc_15_pid_and_exitcode_unset)
{
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_nothing, NULL, NULL));
    CHECK_EQ(mpx_process_pid(p), 0);
    int code;
    CHECK_EQ(mpx_process_exitcode(p, &code), 0);
    mpx_process_destroy(p);
    p = start1(t_sleep, 300);
    CHECK(mpx_process_pid(p) > 0);
    CHECK_EQ(mpx_process_exitcode(p, &code), 0);
    CHECK_EQ(join_destroy(p), 0);
}

/* PROC-06: start once only. */
MPX_TEST(proc_06_start_twice_is_error)
{
    mpx_process *p = start1(t_nothing, 0);
    CHECK_ERR(mpx_process_start(p), MPX_ESTATE);
    CHECK_EQ(join_code(p), 0);
    CHECK_ERR(mpx_process_start(p), MPX_ESTATE);
    mpx_process_destroy(p);
}

/* PROC-07: join with timeout; joinable many times; join errors. */
MPX_TEST(proc_07_join_timeout_and_repeat)
{
    mpx_process *p = start1(t_sleep, 600);
    int64_t t0 = mpx_test_now_ms();
    CHECK_EQ(mpx_process_join(p, 100), 0);
    int64_t el = mpx_test_now_ms() - t0;
    CHECK(el >= 95);
    CHECK_EQ(mpx_process_is_alive(p), 1);
    CHECK_EQ(mpx_process_join(p, MPX_NOWAIT), 0);
    CHECK_EQ(mpx_process_join(p, MPX_FOREVER), 1);
    CHECK_EQ(mpx_process_join(p, MPX_FOREVER), 1);
    CHECK_EQ(mpx_process_join(p, 0), 1);
    mpx_process_destroy(p);
}

MPX_TEST(proc_07_join_unstarted_or_self_is_error)
{
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_nothing, NULL, NULL));
    CHECK_ERR(mpx_process_join(p, 0), MPX_ESTATE);
    mpx_process_destroy(p);
    CHECK_ERR(mpx_process_join(mpx_current_process(), 0), MPX_ESTATE);
}

/* PROC-09: is_alive. */
MPX_TEST(proc_09_is_alive)
{
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_sleep, NULL, NULL));
    CHECK_EQ(mpx_process_is_alive(p), 0);
    mpx_process_destroy(p);
    p = start1(t_sleep, 200);
    CHECK_EQ(mpx_process_is_alive(p), 1);
    sleep_ms(50);
    int alive = 1;
    for (int i = 0; i < 500 && alive; i++) {
        alive = mpx_process_is_alive(p);
        sleep_ms(10);
    }
    CHECK_EQ(alive, 0); /* is_alive reaped it */
    int code;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, 0);
    mpx_process_destroy(p);
}

/* PROC-20, PROC-22, PROC-25: terminate, kill, describe. */
MPX_TEST(proc_25_describe_states_and_terminate)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, 100000));
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_sleep, a, NULL));
    mpx_args_destroy(a);
    CHECK_OK(mpx_process_set_name(p, "Process-1"));
    /* The formats process.h documents, exactly (issue #13 item 13). */
    check_describe(mpx_process_describe(p), "<Process(Process-1, initial)>");
    CHECK_OK(mpx_process_start(p));
    check_describe(mpx_process_describe(p), "<Process(Process-1, started)>");
    CHECK_OK(mpx_process_terminate(p));
    CHECK_EQ(mpx_process_join(p, 10000), 1);
    int code;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, -SIGTERM);
    check_describe(mpx_process_describe(p), "<Process(Process-1, stopped[SIGTERM])>");
    CHECK_OK(mpx_process_terminate(p)); /* already ended: no-op */
    CHECK_OK(mpx_process_close(p));
    check_describe(mpx_process_describe(p), "<Process(Process-1, closed)>");
    mpx_process_destroy(p);
    mpx_process_opts o = {.name = "w", .daemon = 1};
    CHECK_OK(mpx_process_create(&p, t_return_arg, NULL, &o));
    check_describe(mpx_process_describe(p), "<Process(w, initial daemon)>");
    mpx_process_destroy(p);
    p = start1(t_return_arg, 3);
    CHECK_OK(mpx_process_set_name(p, "Process-2"));
    CHECK_EQ(join_code(p), 3);
    check_describe(mpx_process_describe(p), "<Process(Process-2, stopped[3])>");
    mpx_process_destroy(p);
    p = start1(t_return_arg, 0);
    CHECK_OK(mpx_process_set_name(p, "Process-3"));
    CHECK_EQ(join_code(p), 0);
    check_describe(mpx_process_describe(p), "<Process(Process-3, stopped)>");
    mpx_process_destroy(p);
}

MPX_TEST(proc_22_kill)
{
    mpx_process *p = start1(t_sleep, 100000);
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(join_destroy(p), -SIGKILL);
}

MPX_TEST(proc_20_signal_before_start_is_error)
{
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_nothing, NULL, NULL));
    CHECK_ERR(mpx_process_terminate(p), MPX_ESTATE);
    CHECK_ERR(mpx_process_kill(p), MPX_ESTATE);
    CHECK_ERR(mpx_process_sentinel(p), MPX_ESTATE);
    mpx_process_destroy(p);
}

/* PROC-19: sentinel becomes readable at the end. */
MPX_TEST(proc_19_sentinel)
{
    mpx_process *p = start1(t_sleep, 200);
    int fd = mpx_process_sentinel(p);
    CHECK(fd >= 0);
    struct pollfd pfd = {fd, POLLIN, 0};
    CHECK_EQ(poll(&pfd, 1, 0), 0);
    CHECK_EQ(poll(&pfd, 1, 10000), 1);
    CHECK_EQ(join_destroy(p), 0);
}

/* PROC-23: close. */
MPX_TEST(proc_23_close)
{
    mpx_process *p = start1(t_sleep, 300);
    CHECK_ERR(mpx_process_close(p), MPX_ESTATE);
    CHECK_EQ(join_code(p), 0);
    CHECK_OK(mpx_process_close(p));
    CHECK_OK(mpx_process_close(p));
    CHECK_ERR(mpx_process_join(p, 0), MPX_ECLOSED);
    CHECK_ERR(mpx_process_is_alive(p), MPX_ECLOSED);
    CHECK_ERR(mpx_process_sentinel(p), MPX_ECLOSED);
    CHECK_ERR(mpx_process_start(p), MPX_ECLOSED);
    CHECK_ERR(mpx_process_terminate(p), MPX_ECLOSED);
    int code;
    CHECK_ERR(mpx_process_exitcode(p, &code), MPX_ECLOSED);
    CHECK_STREQ(mpx_process_state(p), "closed");
    mpx_process_destroy(p);
}

/* PROC-08: names. */
static int t_check_name(const mpx_args *a)
{
    const char *want = mpx_args_str(a, 0);
    const char *have = mpx_process_name(mpx_current_process());
    if (!want || !have || strcmp(want, have) != 0)
        return 3;
    if (!mpx_parent_process())
        return 4;
    if (strcmp(mpx_process_name(mpx_parent_process()), mpx_args_str(a, 1)) != 0)
        return 5;
    /* The creator, also under forkserver where the server forked us. */
    if (mpx_process_pid(mpx_parent_process()) != (pid_t)mpx_args_int(a, 2))
        return 6;
    if (mpx_process_pid(mpx_current_process()) != getpid())
        return 7;
    return 0;
}

MPX_TEST(proc_08_default_and_given_names)
{
    CHECK_STREQ(mpx_process_name(mpx_current_process()), "MainProcess");
    CHECK(mpx_parent_process() == NULL);
    mpx_process *p1, *p2;
    CHECK_OK(mpx_process_create(&p1, t_nothing, NULL, NULL));
    CHECK_OK(mpx_process_create(&p2, t_nothing, NULL, NULL));
    const char *n1 = mpx_process_name(p1), *n2 = mpx_process_name(p2);
    CHECK(!strncmp(n1, "Process-", 8) && !strncmp(n2, "Process-", 8));
    CHECK(atoi(n2 + 8) == atoi(n1 + 8) + 1);
    mpx_process_destroy(p1);
    mpx_process_destroy(p2);

    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_str(a, "worker-x"));
    CHECK_OK(mpx_args_add_str(a, "MainProcess"));
    CHECK_OK(mpx_args_add_int(a, getpid()));
    mpx_process_opts o = {.name = "worker-x"};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_check_name, a, &o));
    mpx_args_destroy(a);
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 0);
}

/*
 * MISC-04, issue #13 item 10: parent_process().join(timeout) waits for the
 * parent's end (Python's _ParentProcess.join), is_alive and the sentinel
 * follow it. A child C starts G; G watches C, which the test kills.
 * way 0: G looks while C runs, then joins until C is killed;
 * way 1: G looks for the first time after C has died and been reaped.
 */
static int t_watch_parent(const mpx_args *a)
{
    int wfd = mpx_args_fd(a, 0), go = mpx_args_fd(a, 1);
    int way = (int)mpx_args_int(a, 2);
    pid_t me = getpid();
    if (write(wfd, &me, sizeof me) != (ssize_t)sizeof me)
        return 1;
    char res = 'k', c;
    if (way == 1 && read(go, &c, 1) != 1)
        res = 'r';
    mpx_process *par = mpx_parent_process();
    if (!par)
        res = 'n';
    else if (way == 0) {
        if (mpx_process_is_alive(par) != 1)
            res = 'a';
        else if (mpx_process_join(par, 50) != 0) /* still running */
            res = 't';
        else if (write(wfd, "w", 1) != 1)
            res = 'W';
        else if (mpx_process_join(par, 60000) != 1)
            res = 'j';
    } else if (mpx_process_join(par, 0) != 1) {
        res = 'J';
    }
    if (res == 'k' && mpx_process_is_alive(par) != 0)
        res = 'd';
    int s = mpx_process_sentinel(par);
    struct pollfd pfd = {s, POLLIN, 0};
    if (res == 'k' && s >= 0 && poll(&pfd, 1, 0) != 1)
        res = 's';
    if (res == 'k' && mpx_process_join(par, MPX_FOREVER) != 1)
        res = 'f'; /* again, at once */
    return write(wfd, &res, 1) == 1 ? 0 : 1;
}

static int t_parent_of_watcher(const mpx_args *a)
{
    mpx_args *b;
    mpx_process *g;
    if (mpx_args_create(&b) || mpx_args_add_fd(b, mpx_args_fd(a, 0)) ||
        mpx_args_add_fd(b, mpx_args_fd(a, 1)) || mpx_args_add_int(b, mpx_args_int(a, 2)) ||
        mpx_process_create(&g, t_watch_parent, b, NULL) || mpx_process_start(g))
        return 2;
    mpx_args_destroy(b);
    sleep_ms(100000); /* killed by the test */
    return 0;
}

MPX_TEST(misc_04_parent_process_join_waits_for_the_parent)
{
    for (int way = 0; way < 2; way++) {
        int rep[2], go[2];
        CHECK_EQ(pipe(rep), 0);
        CHECK_EQ(pipe(go), 0);
        mpx_args *a;
        CHECK_OK(mpx_args_create(&a));
        CHECK_OK(mpx_args_add_fd(a, rep[1]));
        CHECK_OK(mpx_args_add_fd(a, go[0]));
        CHECK_OK(mpx_args_add_int(a, way));
        close(rep[1]);
        close(go[0]);
        mpx_process *p = start_args(t_parent_of_watcher, a);
        mpx_args_destroy(a);
        pid_t g = 0;
        CHECK_EQ(read(rep[0], &g, sizeof g), (ssize_t)sizeof g);
        char c = 0;
        if (way == 0) {
            CHECK_EQ(read(rep[0], &c, 1), 1);
            CHECK_EQ(c, 'w'); /* G saw its parent alive, join timed out */
        }
        CHECK_OK(mpx_process_kill(p));
        CHECK_EQ(join_code(p), -SIGKILL);
        mpx_process_destroy(p);
        if (way == 1)
            CHECK_EQ(write(go[1], "g", 1), 1);
        CHECK_EQ(read(rep[0], &c, 1), 1);
        if (c != 'k')
            FAIL("way %d: the watcher reported '%c'", way, c);
        /* G, now an orphan, exits; the runner (a subreaper) reaps it. */
        int gone = 0;
        for (int i = 0; i < 1000 && !gone; i++) {
            gone = kill(g, 0) < 0 && errno == ESRCH;
            if (!gone)
                sleep_ms(10);
        }
        CHECK(gone);
        close(rep[0]);
        close(go[1]);
    }
}

/* PROC-08: nested default names are Process-N1:N2. */
static int t_nested_name(const mpx_args *a)
{
    (void)a;
    mpx_process *c;
    if (mpx_process_create(&c, t_nothing, NULL, NULL))
        return 2;
    const char *me = mpx_process_name(mpx_current_process());
    char want[128];
    snprintf(want, sizeof want, "%s:1", me);
    int ok = strcmp(mpx_process_name(c), want) == 0;
    if (mpx_process_start(c) || mpx_process_join(c, MPX_FOREVER) != 1)
        return 3;
    mpx_process_destroy(c);
    return ok ? 0 : 4;
}

MPX_TEST(proc_08_nested_names)
{
    mpx_process *p = start1(t_nested_name, 0);
    CHECK_EQ(join_destroy(p), 0);
}

/* PROC-04, PROC-10, PROC-12: daemon flag. */
static int t_daemon_cannot_start(const mpx_args *a)
{
    (void)a;
    mpx_process *c, *d;
    if (!mpx_process_daemon(mpx_current_process()))
        return 2;
    mpx_process_opts inherit = {.daemon = MPX_DAEMON_INHERIT};
    if (mpx_process_create(&c, t_nothing, NULL, &inherit))
        return 3;
    if (mpx_process_daemon(c) != 1) /* inherited */
        return 4;
    int rc = mpx_process_start(c);
    mpx_process_destroy(c);
    /* the default (0, False) cannot start either: a daemonic process has
     * no children, whatever their flag (PROC-12) */
    if (mpx_process_create(&d, t_nothing, NULL, NULL))
        return 6;
    int rc2 = mpx_process_start(d);
    mpx_process_destroy(d);
    return rc == MPX_ESTATE && rc2 == MPX_ESTATE ? 0 : 5;
}

MPX_TEST(proc_12_daemon_may_not_have_children)
{
    mpx_process_opts o = {.daemon = 1};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_daemon_cannot_start, NULL, &o));
    CHECK_EQ(mpx_process_daemon(p), 1);
    CHECK_OK(mpx_process_start(p));
    CHECK_ERR(mpx_process_set_daemon(p, 0), MPX_ESTATE);
    CHECK_EQ(join_destroy(p), 0);
}

MPX_TEST(proc_10_daemon_default_inherited_false)
{
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_nothing, NULL, NULL));
    CHECK_EQ(mpx_process_daemon(p), 0);
    CHECK_OK(mpx_process_set_daemon(p, 1));
    CHECK_EQ(mpx_process_daemon(p), 1);
    mpx_process_destroy(p);
}

/* PROC-18: authkey inherited, settable. */
static int t_authkey(const mpx_args *a)
{
    const void *want;
    size_t n;
    if (mpx_args_get_bytes(a, 0, &want, &n))
        return 2;
    unsigned char have[64];
    int len = mpx_process_authkey(mpx_current_process(), have, sizeof have);
    return len == (int)n && memcmp(have, want, n) == 0 ? 0 : 3;
}

MPX_TEST(proc_18_authkey)
{
    unsigned char k[64];
    CHECK_EQ(mpx_process_authkey(mpx_current_process(), k, sizeof k), 32);
    unsigned char zero[32] = {0};
    CHECK(memcmp(k, zero, 32) != 0);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_bytes(a, k, 32));
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_authkey, a, NULL));
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 0);
    mpx_args_destroy(a);

    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_bytes(a, "secret", 6));
    CHECK_OK(mpx_process_create(&p, t_authkey, a, NULL));
    CHECK_OK(mpx_process_set_authkey(p, "secret", 6));
    CHECK_ERR(mpx_process_set_authkey(p, "", 0), MPX_EINVAL);
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 0);
    mpx_args_destroy(a);
}

/* PROC-03: typed arguments reach the child. */
static int t_args(const mpx_args *a)
{
    if (mpx_args_count(a) != 6)
        return 2;
    if (mpx_args_int(a, 0) != -1234567890123LL)
        return 3;
    if (mpx_args_double(a, 1) != 3.25)
        return 4;
    if (strcmp(mpx_args_str(a, 2), "héllo") != 0)
        return 5;
    const void *b;
    size_t n;
    if (mpx_args_get_bytes(a, 3, &b, &n) || n != 5 || memcmp(b, "a\0b\0c", 5) != 0)
        return 6;
    if (mpx_args_get_bytes(a, 4, &b, &n) || n != 0)
        return 7;
    int fd = mpx_args_fd(a, 5);
    char buf[8] = {0};
    if (fd < 0 || read(fd, buf, 5) != 5 || memcmp(buf, "pipe!", 5) != 0)
        return 8;
    if (mpx_args_type(a, 6) != MPX_ARG_NONE || mpx_args_type(a, 0) != MPX_ARG_INT)
        return 9;
    int64_t dummy;
    if (mpx_args_get_int(a, 2, &dummy) != MPX_EINVAL)
        return 10;
    return 0;
}

MPX_TEST(proc_03_typed_args)
{
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    CHECK_EQ(write(pfd[1], "pipe!", 5), 5);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, -1234567890123LL));
    CHECK_OK(mpx_args_add_double(a, 3.25));
    CHECK_OK(mpx_args_add_str(a, "héllo"));
    CHECK_OK(mpx_args_add_bytes(a, "a\0b\0c", 5));
    CHECK_OK(mpx_args_add_bytes(a, NULL, 0));
    CHECK_OK(mpx_args_add_fd(a, pfd[0]));
    CHECK_ERR(mpx_args_add_str(a, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_args_add_fd(a, -1), -EBADF);
    /* Not shareable objects: a process object, plain memory. */
    uint64_t junk[4] = {0};
    CHECK_ERR(mpx_args_add_object(a, junk), MPX_EINVAL);
    mpx_process *notshareable;
    CHECK_OK(mpx_process_create(&notshareable, t_nothing, NULL, NULL));
    CHECK_ERR(mpx_args_add_object(a, notshareable), MPX_EINVAL);
    CHECK_ERR(mpx_args_add_object(a, NULL), MPX_EINVAL);
    mpx_process_destroy(notshareable);
    close(pfd[0]);
    close(pfd[1]);
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_args, a, NULL));
    mpx_args_destroy(a);
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 0);
}

/* PROC-02, CV-9: the subclass form. */
struct job {
    int a, b;
};

static int run_sub(mpx_process *self, const mpx_args *args, void *udata)
{
    struct job *j = udata;
    (void)args;
    if (self != mpx_current_process())
        return 2;
    return j->a * j->b;
}

MPX_TEST(proc_02_run_callback_with_udata)
{
    struct job j = {6, 7};
    mpx_process_opts o = {.run = run_sub, .udata = &j, .udata_size = sizeof j};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, NULL, NULL, &o));
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 42);
}

/* PROC-26: stdin is /dev/null in the child. */
static int t_stdin(const mpx_args *a)
{
    (void)a;
    char c;
    return read(STDIN_FILENO, &c, 1) == 0 ? 0 : 2;
}

MPX_TEST(proc_26_child_stdin_devnull)
{
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    int saved = dup(0);
    dup2(pfd[0], 0);
    mpx_process *p = start1(t_stdin, 0);
    dup2(saved, 0);
    close(saved);
    CHECK_EQ(join_destroy(p), 0);
    close(pfd[0]);
    close(pfd[1]);
}

/* MISC-01, GUIDE-04: active_children joins finished ones. */
MPX_TEST(misc_01_active_children)
{
    mpx_process *fast = start1(t_nothing, 0);
    mpx_process *slow = start1(t_sleep, 100000);
    mpx_process **v;
    size_t n;
    /* Until the fast one has ended (no time assumed: a sanitizer's exit
     * checks take their time). */
    for (int i = 0;; i++) {
        CHECK_OK(mpx_active_children(&v, &n));
        if (n == 1 || i == 2000)
            break;
        mpx_free(v);
        sleep_ms(10);
    }
    CHECK_EQ(n, 1);
    CHECK(v[0] == slow);
    mpx_free(v);
    int code;
    CHECK_EQ(mpx_process_exitcode(fast, &code), 1); /* reaped by active_children */
    /* no zombie left for the finished child */
    CHECK_EQ(waitpid(mpx_process_pid(fast), NULL, WNOHANG), -1);
    CHECK_OK(mpx_process_terminate(slow));
    CHECK_EQ(mpx_process_join(slow, MPX_FOREVER), 1);
    CHECK_OK(mpx_active_children(&v, &n));
    CHECK_EQ(n, 0);
    mpx_process_destroy(fast);
    mpx_process_destroy(slow);
}

/* MISC-02 */
MPX_TEST(misc_02_cpu_count)
{
    int n = mpx_cpu_count(), u = mpx_cpu_count_usable();
    CHECK(n >= 1);
    CHECK(u >= 1 && u <= n);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    CHECK_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    CHECK_EQ(mpx_cpu_count_usable(), 1);
}

/* PROC-14: a child's non-daemonic children are joined when it exits;
 * PROC-11: its daemonic children are terminated. */
static int t_grandchild_writer(const mpx_args *a)
{
    sleep_ms(300);
    int fd = mpx_args_fd(a, 0);
    return write(fd, "G", 1) == 1 ? 0 : 2;
}

/* Start fn with the write end of a new pipe as its fd argument (closed
 * here); *rfd gets the read end. */
static mpx_process *start_with_pipe(mpx_target_fn fn, int *rfd)
{
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_fd(a, pfd[1]));
    close(pfd[1]);
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, fn, a, NULL));
    mpx_args_destroy(a);
    CHECK_OK(mpx_process_start(p));
    *rfd = pfd[0];
    return p;
}

/* In a child: start a daemonic child sleeping 100 s; NULL when that fails. */
static mpx_process *start_daemon_sleeper(void)
{
    mpx_process *c;
    mpx_args *b;
    mpx_args_create(&b);
    mpx_args_add_int(b, 100000);
    mpx_process_opts o = {.daemon = 1};
    if (mpx_process_create(&c, t_sleep, b, &o) || mpx_process_start(c))
        return NULL;
    mpx_args_destroy(b);
    return c;
}

static int t_spawns_and_returns(const mpx_args *a)
{
    mpx_process *c;
    if (mpx_process_create(&c, t_grandchild_writer, a, NULL) || mpx_process_start(c))
        return 2;
    /* no join: exit handling must join it (PROC-14); destroying the
     * object does not stop the library from tracking the child. */
    mpx_process_destroy(c);
    return 0;
}

MPX_TEST(proc_14_child_joins_its_children_at_exit)
{
    int rfd;
    mpx_process *p = start_with_pipe(t_spawns_and_returns, &rfd);
    CHECK_EQ(join_code(p), 0);
    /* The grandchild wrote before the child could exit. */
    char c = 0;
    CHECK_EQ(fcntl(rfd, F_SETFL, O_NONBLOCK), 0);
    CHECK_EQ(read(rfd, &c, 1), 1);
    CHECK_EQ(c, 'G');
    close(rfd);
    mpx_process_destroy(p);
}

static int t_spawns_daemon(const mpx_args *a)
{
    mpx_process *c = start_daemon_sleeper();
    if (!c)
        return 2;
    int fd = mpx_args_fd(a, 0);
    pid_t pid = mpx_process_pid(c);
    mpx_process_destroy(c);
    return write(fd, &pid, sizeof pid) == sizeof pid ? 0 : 3;
}

MPX_TEST(proc_11_daemonic_children_terminated_at_exit)
{
    int rfd;
    mpx_process *p = start_with_pipe(t_spawns_daemon, &rfd);
    pid_t gc = 0;
    CHECK_EQ(read(rfd, &gc, sizeof gc), (ssize_t)sizeof gc);
    CHECK_EQ(join_code(p), 0);
    /* The daemon grandchild was terminated and reaped by its parent. */
    CHECK(kill(gc, 0) < 0 && errno == ESRCH);
    close(rfd);
    mpx_process_destroy(p);
}

/* Beyond Python: a daemonic child does not outlive a parent killed by
 * SIGKILL (no orphans). */
static int t_parent_of_daemon(const mpx_args *a)
{
    mpx_process *c = start_daemon_sleeper();
    if (!c)
        return 2;
    pid_t pid = mpx_process_pid(c);
    if (write(mpx_args_fd(a, 0), &pid, sizeof pid) != sizeof pid)
        return 3;
    sleep_ms(100000);
    return 0;
}

MPX_TEST(proc_daemon_dies_with_sigkilled_parent)
{
    int rfd;
    mpx_process *p = start_with_pipe(t_parent_of_daemon, &rfd);
    pid_t gc = 0;
    CHECK_EQ(read(rfd, &gc, sizeof gc), (ssize_t)sizeof gc);
    CHECK(kill(gc, 0) == 0);
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(join_code(p), -SIGKILL);
    /* The orphan is re-parented to init and killed; wait until gone. */
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = kill(gc, 0) < 0 && errno == ESRCH;
        if (!gone)
            sleep_ms(10);
    }
    CHECK(gone);
    close(rfd);
    mpx_process_destroy(p);
}

/* Zombies never accumulate: destroy without join, then start more. */
MPX_TEST(guide_04_no_zombies_accumulate)
{
    pid_t pids[20];
    for (int i = 0; i < 20; i++) {
        mpx_process *p = start1(t_nothing, 0);
        pids[i] = mpx_process_pid(p);
        mpx_process_destroy(p); /* the library still reaps it */
    }
    mpx_process **v;
    size_t n = 1;
    for (int i = 0; i < 2000 && n; i++) { /* until all have ended */
        if (i)
            sleep_ms(10);
        CHECK_OK(mpx_active_children(&v, &n));
        mpx_free(v);
    }
    CHECK_EQ(n, 0);
    for (int i = 0; i < 20; i++)
        CHECK_EQ(waitpid(pids[i], NULL, WNOHANG), -1); /* reaped already */
}

/* PROC-17: a failing target prints "Process <name>:" on stderr. */
MPX_TEST(proc_17_failure_report_on_stderr)
{
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    int saved = dup(2);
    dup2(pfd[1], 2);
    mpx_process_opts o = {.name = "failer"};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_fail, NULL, &o));
    CHECK_OK(mpx_process_start(p));
    dup2(saved, 2);
    close(saved);
    close(pfd[1]);
    CHECK_EQ(join_code(p), 1);
    char buf[512] = {0};
    ssize_t n = read(pfd[0], buf, sizeof buf - 1);
    CHECK(n > 0);
    CHECK(strstr(buf, "Process failer:"));
    CHECK(strstr(buf, "MPX_EINVAL"));
    close(pfd[0]);
    mpx_process_destroy(p);
}

/* Threads joining the same process. */
#include <pthread.h>
static void *joiner(void *arg)
{
    return (void *)(intptr_t)mpx_process_join(arg, MPX_FOREVER);
}

MPX_TEST(proc_07_join_from_many_threads)
{
    mpx_process *p = start1(t_sleep, 200);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, joiner, p);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        CHECK_EQ((intptr_t)r, 1);
    }
    CHECK_EQ(join_destroy(p), 0);
}

/* Errors: X-macro codes. */
MPX_TEST(errors_names_and_messages)
{
    CHECK_STREQ(mpx_err_name(MPX_ETIMEDOUT), "MPX_ETIMEDOUT");
    CHECK_STREQ(mpx_err_name(0), "OK");
    CHECK_STREQ(mpx_err_name(-EAGAIN), "EAGAIN");
    CHECK_STREQ(mpx_strerror(MPX_EAUTH), "authentication failed");
    CHECK(strlen(mpx_strerror(-ENOENT)) > 0);
    CHECK_STREQ(mpx_err_name(12345), "UNKNOWN");
    int codes[] = {MPX_ETIMEDOUT, MPX_EEMPTY, MPX_EFULL, MPX_EEOF, MPX_ECLOSED, MPX_ESTATE,
                   MPX_EAUTH, MPX_ETOOSHORT, MPX_EREMOTE, MPX_EOWNERDEAD, MPX_EWORKER,
                   MPX_EBROKEN, MPX_ENOTSUP};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(codes[i] < 0);
        CHECK(strncmp(mpx_err_name(codes[i]), "MPX_E", 5) == 0);
    }
}

/* Fork safety: threads that log and start processes concurrently; every
 * child must run (the library's locks are consistent in each child). */
static int t_log_and_return(const mpx_args *a)
{
    mpx_log(MPX_LOG_DEBUG, "child %lld", (long long)mpx_args_int(a, 0));
    return (int)(mpx_args_int(a, 0) % 7);
}

static void discard(int level, const char *pname, const char *msg, void *ud)
{
    (void)level, (void)pname, (void)msg, (void)ud;
}

static void *starter(void *arg)
{
    intptr_t base = (intptr_t)arg;
    for (int i = 0; i < 25; i++) {
        mpx_process *p;
        mpx_args *a;
        if (mpx_args_create(&a) || mpx_args_add_int(a, base + i))
            return (void *)1;
        if (mpx_process_create(&p, t_log_and_return, a, NULL) || mpx_process_start(p))
            return (void *)2;
        mpx_args_destroy(a);
        mpx_log(MPX_LOG_DEBUG, "parent thread %ld started %d", (long)base, i);
        int code = -1;
        if (mpx_process_join(p, 20000) != 1 || mpx_process_exitcode(p, &code) != 1 ||
            code != (int)((base + i) % 7))
            return (void *)3;
        mpx_process_destroy(p);
    }
    return NULL;
}

MPX_TEST_T(proc_fork_safety_threads_logging_and_starting, 60)
{
    CHECK_OK(mpx_log_set_handler(discard, NULL));
    CHECK_OK(mpx_log_set_level(MPX_LOG_SUBDEBUG));
    pthread_t t[4];
    for (intptr_t i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, starter, (void *)(i * 100)), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        CHECK_EQ((intptr_t)r, 0);
    }
    CHECK_OK(mpx_log_set_handler(NULL, NULL));
}

/* PROC-26 still holds when the program closed the /dev/null descriptor
 * the library keeps (fork start method) and reused its number. */
MPX_TEST(proc_26_stdin_devnull_after_fd_reused)
{
    mpx_process *p = start1(t_nothing, 0);
    CHECK_EQ(join_destroy(p), 0);
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    CHECK_EQ(write(pfd[1], "x", 1), 1);
    int victim = -1;
    for (int fd = 3; fd < 256 && victim < 0; fd++) {
        char link[64], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0 && fd != pfd[0] && fd != pfd[1]) {
            target[n] = 0;
            if (!strcmp(target, "/dev/null"))
                victim = fd;
        }
    }
    if (victim >= 0)
        CHECK_EQ(dup2(pfd[0], victim), victim); /* the number now names a pipe with data */
    p = start1(t_stdin, 0);
    CHECK_EQ(join_destroy(p), 0);
    if (victim >= 0)
        close(victim);
    close(pfd[0]);
    close(pfd[1]);
}
