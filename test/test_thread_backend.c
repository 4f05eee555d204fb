/*
 * test_thread_backend.c - the "thread" context (multiprocessing.dummy,
 * DUMMY-01..03; issue #13; docs/thread-backend.md): Process on threads
 * with the process API and error codes, primitives, queues, Value/Array
 * and the pool through the same calls. test.sh also runs a subset of the
 * process tests with the thread context as the default
 * (test/thread-subset), as CPython runs its tests with threads.
 */
#include "harness.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

static mpx_context *thread_ctx(void)
{
    mpx_context *c;
    CHECK_OK(mpx_get_context(&c, "thread"));
    return c;
}

static mpx_process *tstart(mpx_target_fn fn, mpx_args *a, const char *name, int daemon)
{
    mpx_process_opts o = {.ctx = thread_ctx(), .name = name, .daemon = daemon};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, fn, a, &o));
    CHECK_OK(mpx_process_start(p));
    return p;
}

static pid_t tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* ---- the context ---------------------------------------------------- */

MPX_TEST(dummy_02_thread_context)
{
    mpx_context *c = thread_ctx(), *again;
    CHECK_STREQ(mpx_context_start_method(c), "thread");
    CHECK_OK(mpx_get_context(&again, "thread"));
    CHECK(again == c);
    /* not a start method of processes: get_all_start_methods does not
     * list it */
    const char *names[8];
    size_t n;
    CHECK_OK(mpx_get_all_start_methods(names, 8, &n));
    CHECK_EQ(n, 3);
    for (size_t i = 0; i < n; i++)
        CHECK(strcmp(names[i], "thread") != 0);
}

/* The one place a program switches backend: set_start_method("thread")
 * (import multiprocessing.dummy as multiprocessing) or MPX_START_METHOD. */
static int t_where(const mpx_args *a)
{
    int fd = mpx_args_fd(a, 0);
    int64_t v[2] = {getpid(), tid()};
    return write(fd, v, sizeof v) == (ssize_t)sizeof v ? 0 : -errno;
}

static void check_default_is_thread(void)
{
    mpx_context *c;
    CHECK_OK(mpx_get_context(&c, NULL));
    CHECK_STREQ(mpx_context_start_method(c), "thread");
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_fd(a, fds[1]));
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_where, a, NULL)); /* no context given */
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 0);
    int64_t v[2];
    CHECK_EQ(read(fds[0], v, sizeof v), (ssize_t)sizeof v);
    CHECK_EQ(v[0], getpid()); /* a thread of this process */
    CHECK_NE(v[1], tid());
    mpx_args_destroy(a);
    close(fds[0]);
    close(fds[1]);
    /* and the default pool is a thread pool: pool test below */
}

MPX_TEST(dummy_02_set_start_method_thread)
{
    CHECK_OK(mpx_set_start_method("thread", 1));
    const char *m;
    CHECK_OK(mpx_get_start_method(&m, 0));
    CHECK_STREQ(m, "thread");
    check_default_is_thread();
    const char *names[8];
    size_t n;
    CHECK_OK(mpx_get_all_start_methods(names, 8, &n));
    CHECK_EQ(n, 3); /* fork, spawn, forkserver */
    CHECK_OK(mpx_set_start_method(NULL, 1));
}

MPX_TEST(dummy_02_env_start_method_thread)
{
    setenv("MPX_START_METHOD", "thread", 1); /* before anything fixes the default */
    check_default_is_thread();
}

/* ---- Process on a thread -------------------------------------------- */

typedef struct seen {
    pid_t pid, tid;
    mpx_process *cur;
    char name[64];
    int daemon;
    int64_t i;
    char s[16];
    char bytes[4];
    void *obj;
    char state[16];
    int alive;
} seen;

static int t_record(mpx_process *self, const mpx_args *a, void *udata)
{
    seen *s = udata; /* a bare pointer: the same memory */
    s->pid = getpid();
    s->tid = tid();
    s->cur = mpx_current_process();
    CHECK(s->cur == self);
    snprintf(s->name, sizeof s->name, "%s", mpx_process_name(mpx_current_process()));
    s->daemon = mpx_process_daemon(mpx_current_process());
    s->i = mpx_args_int(a, 0);
    snprintf(s->s, sizeof s->s, "%s", mpx_args_str(a, 1));
    const void *b;
    size_t bl;
    CHECK_OK(mpx_args_get_bytes(a, 2, &b, &bl));
    CHECK_EQ(bl, 4);
    memcpy(s->bytes, b, 4);
    s->obj = mpx_args_object(a, 3);
    /* started as soon as it runs (Python's Thread.start) */
    snprintf(s->state, sizeof s->state, "%s", mpx_process_state(self));
    s->alive = mpx_process_is_alive(self);
    return 0;
}

/* DUMMY-03: start runs the target in a new thread of this process with
 * the same arguments; current_process() there is the thread's Process;
 * pid is ours; is_alive / exitcode / join as for a process. */
MPX_TEST(dummy_03_process_is_a_thread)
{
    seen s;
    memset(&s, 0, sizeof s);
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, 42));
    CHECK_OK(mpx_args_add_str(a, "hello"));
    CHECK_OK(mpx_args_add_bytes(a, "\x01\x02\x03\x04", 4));
    CHECK_OK(mpx_args_add_object(a, l));
    mpx_process_opts o = {.ctx = thread_ctx(), .run = t_record, .udata = &s};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, NULL, a, &o));
    mpx_args_destroy(a); /* copied at create */
    CHECK_STREQ(mpx_process_state(p), "initial");
    CHECK_EQ(mpx_process_is_alive(p), 0);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 0); /* None */
    CHECK_EQ(mpx_process_pid(p), 0);
    const char *nm = mpx_process_name(p);
    CHECK(!strncmp(nm, "Thread-", 7)); /* threading's naming, not Process-N */
    char want[96];
    snprintf(want, sizeof want, "<DummyProcess(%s, initial)>", nm);
    check_describe(mpx_process_describe(p), want);
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(mpx_process_pid(p), getpid());
    CHECK_EQ(mpx_process_join(p, MPX_FOREVER), 1);
    CHECK_EQ(mpx_process_is_alive(p), 0);
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, 0);
    CHECK_EQ(s.pid, getpid());
    CHECK_NE(s.tid, tid());
    CHECK(s.cur == p);
    CHECK_STREQ(s.name, mpx_process_name(p));
    CHECK_EQ(s.daemon, 0);
    CHECK_EQ(s.i, 42);
    CHECK_STREQ(s.s, "hello");
    CHECK_MEMEQ(s.bytes, "\x01\x02\x03\x04", 4);
    CHECK(s.obj == l); /* the very object, not a copy */
    CHECK_STREQ(s.state, "started");
    CHECK_EQ(s.alive, 1);
    snprintf(want, sizeof want, "<DummyProcess(%s, stopped)>", nm);
    check_describe(mpx_process_describe(p), want);
    /* the main thread's current process is still MainProcess */
    CHECK_STREQ(mpx_process_name(mpx_current_process()), "MainProcess");
    CHECK_OK(mpx_process_close(p));
    CHECK_ERR(mpx_process_is_alive(p), MPX_ECLOSED);
    CHECK_ERR(mpx_process_terminate(p), MPX_ECLOSED); /* as for a process */
    CHECK_ERR(mpx_process_join(p, 0), MPX_ECLOSED);
    mpx_process_destroy(p);
    mpx_lock_destroy(l);
}

static int t_wait_event(const mpx_args *a)
{
    mpx_event *e = mpx_args_object(a, 0);
    int rc = mpx_event_wait(e, MPX_FOREVER);
    return rc == 1 ? (int)mpx_args_int(a, 1) : rc < 0 ? rc : 99;
}

static mpx_process *start_waiter(mpx_event *e, int64_t ret, int daemon)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, e));
    CHECK_OK(mpx_args_add_int(a, ret));
    mpx_process *p = tstart(t_wait_event, a, NULL, daemon);
    mpx_args_destroy(a);
    return p;
}

/* PROC-07 with D1/D2: join(timeout) answers 1 ended / 0 still running;
 * join(-1) and join(0) only look. */
MPX_TEST(dummy_03_join_timeout_and_exitcode)
{
    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, NULL));
    mpx_process *p = start_waiter(e, 7, 0);
    CHECK_EQ(mpx_process_is_alive(p), 1);
    CHECK_EQ(mpx_process_join(p, 30), 0);
    CHECK_EQ(mpx_process_join(p, -1), 0);
    CHECK_EQ(mpx_process_join(p, MPX_NOWAIT), 0);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 0);
    CHECK_STREQ(mpx_process_state(p), "started");
    CHECK_ERR(mpx_process_close(p), MPX_ESTATE); /* still running */
    CHECK_OK(mpx_event_set(e));
    CHECK_EQ(mpx_process_join(p, MPX_FOREVER), 1);
    CHECK_EQ(mpx_process_join(p, 0), 1); /* joinable again */
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, 7); /* return N: exitcode N, as a process */
    mpx_process_destroy(p);
    mpx_event_destroy(e);
}

static int t_fail(const mpx_args *a)
{
    (void)a;
    return MPX_EINVAL;
}

static int t_exit5(const mpx_args *a)
{
    (void)a;
    mpx_exit(5); /* sys.exit(5) in a dummy.Process ends the thread */
}

/* The target's return code maps as for a process: an error is exitcode 1
 * with "Exception in thread <name>:" on stderr; mpx_exit(N) ends the
 * thread with N and leaves the process running. */
MPX_TEST(dummy_03_exitcodes_error_and_mpx_exit)
{
    mpx_process *p = tstart(t_fail, NULL, "failing", 0);
    CHECK_EQ(join_destroy(p), 1);
    p = tstart(t_exit5, NULL, NULL, 0);
    CHECK_EQ(mpx_process_join(p, MPX_FOREVER), 1);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, 5);
    check_describe(mpx_process_describe(p), "<DummyProcess(Thread-1, stopped[5])>");
    mpx_process_destroy(p);
}

/* terminate / kill cannot stop a thread: MPX_ENOTSUP, at every state,
 * and the process (and the thread) go on. */
MPX_TEST(dummy_03_terminate_kill_not_supported)
{
    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, NULL));
    mpx_process_opts o = {.ctx = thread_ctx()};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_wait_event, NULL, &o));
    CHECK_ERR(mpx_process_terminate(p), MPX_ENOTSUP);
    mpx_process_destroy(p);
    p = start_waiter(e, 0, 0);
    CHECK_ERR(mpx_process_terminate(p), MPX_ENOTSUP);
    CHECK_ERR(mpx_process_kill(p), MPX_ENOTSUP);
    CHECK_EQ(mpx_process_is_alive(p), 1);
    CHECK_OK(mpx_event_set(e));
    CHECK_EQ(join_code(p), 0);
    CHECK_ERR(mpx_process_kill(p), MPX_ENOTSUP);
    mpx_process_destroy(p);
    mpx_event_destroy(e);
}

static int t_join_self(const mpx_args *a)
{
    (void)a;
    mpx_process *me = mpx_current_process();
    if (mpx_process_join(me, 0) != MPX_ESTATE)
        return 2;
    if (mpx_process_is_alive(me) != 1)
        return 3;
    if (mpx_process_start(me) != MPX_ESTATE)
        return 4;
    return 0;
}

static int t_start_other(const mpx_args *a)
{
    mpx_process *q;
    const void *b;
    size_t l;
    if (mpx_args_get_bytes(a, 0, &b, &l) || l != sizeof(mpx_process *))
        return 9;
    memcpy(&q, b, sizeof q);
    /* made by the main thread: only it may start it (dummy's check) */
    return mpx_process_start(q) == MPX_ESTATE ? 0 : 2;
}

/* Misuse gives the process API's codes. */
MPX_TEST(dummy_03_misuse)
{
    mpx_process_opts o = {.ctx = thread_ctx()};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_join_self, NULL, &o));
    CHECK_ERR(mpx_process_join(p, 0), MPX_ESTATE); /* not started */
    CHECK_ERR(mpx_process_sentinel(p), MPX_ESTATE);
    CHECK_OK(mpx_process_start(p));
    CHECK_ERR(mpx_process_start(p), MPX_ESTATE); /* once */
    CHECK_EQ(join_destroy(p), 0);

    mpx_process *q;
    CHECK_OK(mpx_process_create(&q, NULL, NULL, &o));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_bytes(a, &q, sizeof q));
    p = tstart(t_start_other, a, NULL, 0);
    mpx_args_destroy(a);
    CHECK_EQ(join_destroy(p), 0);
    CHECK_OK(mpx_process_start(q)); /* its maker may */
    CHECK_EQ(join_destroy(q), 0);
}

/* The sentinel becomes readable at the end (mpx_wait works on it). */
MPX_TEST(dummy_03_sentinel)
{
    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, NULL));
    mpx_process *p = start_waiter(e, 0, 0);
    int fd = mpx_process_sentinel(p);
    CHECK(fd >= 0);
    struct pollfd pf = {fd, POLLIN, 0};
    CHECK_EQ(poll(&pf, 1, 20), 0);
    mpx_waitable w = {.object = p};
    CHECK_EQ(mpx_wait(&w, 1, 20), 0);
    CHECK_OK(mpx_event_set(e));
    CHECK_EQ(poll(&pf, 1, -1), 1);
    CHECK_EQ(mpx_wait(&w, 1, MPX_FOREVER), 1);
    CHECK_EQ(join_destroy(p), 0);
    mpx_event_destroy(e);
}

/* ---- daemon (D3) and the ends of threads ------------------------------ */

static int t_child_daemon(const mpx_args *a)
{
    (void)a;
    /* MPX_DAEMON_INHERIT takes the creating thread's flag; a daemonic
     * thread may start threads (no PROC-12 rule for threads). */
    mpx_process_opts o = {.daemon = MPX_DAEMON_INHERIT};
    CHECK_OK(mpx_get_context(&o.ctx, "thread"));
    mpx_process *c;
    CHECK_OK(mpx_process_create(&c, NULL, NULL, &o));
    int d = mpx_process_daemon(c);
    CHECK_OK(mpx_process_start(c));
    CHECK_EQ(mpx_process_join(c, MPX_FOREVER), 1);
    mpx_process_destroy(c);
    return d ? 11 : 10;
}

MPX_TEST(dummy_03_daemon_inherit)
{
    mpx_process *p = tstart(t_child_daemon, NULL, NULL, 1);
    CHECK_EQ(mpx_process_daemon(p), 1);
    CHECK_EQ(join_destroy(p), 11);
    p = tstart(t_child_daemon, NULL, NULL, 0);
    CHECK_EQ(join_destroy(p), 10);
    /* from the main thread (not daemonic): inherit is 0 */
    mpx_process_opts o = {.ctx = thread_ctx(), .daemon = MPX_DAEMON_INHERIT};
    CHECK_OK(mpx_process_create(&p, NULL, NULL, &o));
    CHECK_EQ(mpx_process_daemon(p), 0);
    mpx_process_destroy(p);
    o.daemon = 1; /* a boolean: daemon=True */
    CHECK_OK(mpx_process_create(&p, NULL, NULL, &o));
    CHECK_EQ(mpx_process_daemon(p), 1);
    mpx_process_destroy(p);
}

/* active_children lists running threads and reaps ended ones. */
MPX_TEST(dummy_misc_01_active_children)
{
    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, NULL));
    mpx_process *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = start_waiter(e, 0, 0);
    mpx_process **v;
    size_t n;
    CHECK_OK(mpx_active_children(&v, &n));
    CHECK_EQ(n, 3);
    mpx_free(v);
    CHECK_OK(mpx_event_set(e));
    for (int i = 0; i < 3; i++)
        mpx_process_destroy(p[i]); /* running or not: the registry keeps them */
    for (;;) {
        CHECK_OK(mpx_active_children(&v, &n));
        mpx_free(v);
        if (!n)
            break;
        sleep_ms(5);
    }
    mpx_event_destroy(e);
}

/* A child process (every start method) that starts threads: its end
 * joins the non-daemonic ones (Python joins non-daemon threads at exit)
 * and leaves the daemonic ones (abandoned, as Python does). */
static int t_sleep_then_put(const mpx_args *a)
{
    sleep_ms(100);
    return mpx_queue_put(mpx_args_object(a, 0), "late", 4, MPX_FOREVER);
}

static int t_forever(const mpx_args *a)
{
    (void)a;
    for (;;)
        pause();
    return 0;
}

static int t_proc_with_threads(const mpx_args *a)
{
    mpx_context *c;
    CHECK_OK(mpx_get_context(&c, "thread"));
    mpx_process_opts o = {.ctx = c};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_sleep_then_put, a, &o));
    CHECK_OK(mpx_process_start(p));
    o.daemon = 1;
    mpx_process *d;
    CHECK_OK(mpx_process_create(&d, t_forever, NULL, &o));
    CHECK_OK(mpx_process_start(d));
    /* neither joined here; the registry keeps both (LSan checks at the
     * end of a spawn or forkserver child) */
    mpx_process_destroy(p);
    mpx_process_destroy(d);
    return 3;
}

MPX_TEST(dummy_threads_joined_at_process_end)
{
    mpx_queue *q;
    CHECK_OK(mpx_queue_create(&q, 0, NULL));
    mpx_process *p = start_objs_int(t_proc_with_threads, q, NULL, 0);
    CHECK_EQ(join_destroy(p), 3);
    char buf[8];
    size_t len;
    CHECK_OK(mpx_queue_get_into(q, buf, sizeof buf, &len, MPX_NOWAIT)); /* put before the end */
    CHECK_EQ(len, 4);
    mpx_queue_destroy(q);
}

static int t_crash(const mpx_args *a)
{
    (void)a;
    abort();
}

static int t_proc_thread_crash(const mpx_args *a)
{
    (void)a;
    mpx_context *c;
    CHECK_OK(mpx_get_context(&c, "thread"));
    mpx_process_opts o = {.ctx = c};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_crash, NULL, &o));
    CHECK_OK(mpx_process_start(p));
    mpx_process_join(p, MPX_FOREVER);
    return 0; /* never reached: the crash of a thread is the process's */
}

/* A thread "process" that crashes takes its process down (threads). */
MPX_TEST(dummy_thread_crash_ends_the_process)
{
    mpx_process *p = start_args(t_proc_thread_crash, NULL);
    int code = join_destroy(p);
    CHECK(code != 0);
    if (!mpx_test_sanitized())
        CHECK_EQ(code, -SIGABRT);
}

/* A process started from inside a thread "process" is a process: its
 * current_process is its own, its parent the real process. */
static int t_report_name(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    const char *n = mpx_process_name(mpx_current_process());
    mpx_process *par = mpx_parent_process();
    char buf[128];
    int len = snprintf(buf, sizeof buf, "%s|%s|%d", n, par ? mpx_process_name(par) : "-",
                       getpid() != (pid_t)mpx_args_int(a, 1));
    return mpx_queue_put(q, buf, (size_t)len, MPX_FOREVER);
}

static int t_thread_starts_process(const mpx_args *a)
{
    mpx_process *p = start_args(t_report_name, (mpx_args *)a);
    return join_destroy(p);
}

MPX_TEST(dummy_thread_starts_a_process)
{
    mpx_queue *q;
    CHECK_OK(mpx_queue_create(&q, 0, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    CHECK_OK(mpx_args_add_int(a, getpid()));
    mpx_process *t = tstart(t_thread_starts_process, a, "T", 0);
    CHECK_EQ(join_destroy(t), 0);
    char buf[128];
    size_t len;
    CHECK_OK(mpx_queue_get_into(q, buf, sizeof buf - 1, &len, MPX_FOREVER));
    buf[len] = 0;
    CHECK_STREQ(buf, "Process-1|MainProcess|1");
    mpx_args_destroy(a);
    mpx_queue_destroy(q);
}

/* ---- primitives, queues, Value/Array, pool through the context -------- */

static int t_count(const mpx_args *a)
{
    mpx_value *v = mpx_args_object(a, 0);
    void *lock = mpx_args_object(a, 1);
    for (int i = 0; i < 2000; i++) {
        int rc = mpx_sync_acquire(lock, MPX_FOREVER);
        if (rc != 1)
            return rc < 0 ? rc : 2;
        int64_t x;
        mpx_value_get_i64(v, &x);
        mpx_value_set_i64(v, x + 1);
        mpx_sync_release(lock);
    }
    return 0;
}

/* Lock and RLock made in the thread context exclude threads of the
 * thread context (SYNC-02, SYNC-06). */
MPX_TEST(dummy_sync_lock_rlock_counters)
{
    mpx_sync_opts so = {.ctx = thread_ctx()};
    mpx_shared_opts vo = {.raw = 1, .ctx = thread_ctx()};
    mpx_lock *l;
    mpx_rlock *r;
    CHECK_OK(mpx_lock_create(&l, &so));
    CHECK_OK(mpx_rlock_create(&r, &so));
    void *locks[2] = {l, r};
    for (int k = 0; k < 2; k++) {
        mpx_value *v;
        CHECK_OK(mpx_value_create(&v, "q", 0, &vo));
        mpx_process *p[4];
        for (int i = 0; i < 4; i++) {
            mpx_args *a;
            CHECK_OK(mpx_args_create(&a));
            CHECK_OK(mpx_args_add_object(a, v));
            CHECK_OK(mpx_args_add_object(a, locks[k]));
            p[i] = tstart(t_count, a, NULL, 0);
            mpx_args_destroy(a);
        }
        for (int i = 0; i < 4; i++)
            CHECK_EQ(join_destroy(p[i]), 0);
        int64_t x;
        CHECK_OK(mpx_value_get_i64(v, &x));
        CHECK_EQ(x, 8000);
        mpx_value_destroy(v);
    }
    /* the yes/no answers and misuse codes are the process backend's */
    CHECK_EQ(mpx_lock_acquire(l, MPX_NOWAIT), 1);
    CHECK_EQ(mpx_lock_acquire(l, 10), 0);
    CHECK_OK(mpx_lock_release(l));
    CHECK_ERR(mpx_lock_release(l), MPX_ESTATE);
    CHECK_ERR(mpx_rlock_release(r), MPX_ESTATE);
    mpx_lock_destroy(l);
    mpx_rlock_destroy(r);
}

static int t_sem_user(const mpx_args *a)
{
    mpx_semaphore *s = mpx_args_object(a, 0);
    mpx_value *cur = mpx_args_object(a, 1), *max = mpx_args_object(a, 2);
    CHECK_EQ(mpx_semaphore_acquire(s, MPX_FOREVER), 1);
    CHECK_EQ(mpx_value_acquire(cur, MPX_FOREVER), 1);
    int64_t c, m;
    mpx_value_get_i64(cur, &c);
    mpx_value_set_i64(cur, ++c);
    mpx_value_get_i64(max, &m);
    if (c > m)
        mpx_value_set_i64(max, c);
    mpx_value_release(cur);
    sleep_ms(10);
    CHECK_EQ(mpx_value_acquire(cur, MPX_FOREVER), 1);
    mpx_value_get_i64(cur, &c);
    mpx_value_set_i64(cur, c - 1);
    mpx_value_release(cur);
    return mpx_semaphore_release(s);
}

/* Semaphore(3) caps ten threads at three (SYNC-09, EX-39's
 * test_semaphore); BoundedSemaphore refuses an extra release. */
MPX_TEST(dummy_sync_semaphore_caps_threads)
{
    mpx_sync_opts so = {.ctx = thread_ctx()};
    mpx_shared_opts vo = {.ctx = thread_ctx()};
    mpx_semaphore *s;
    CHECK_OK(mpx_semaphore_create(&s, 3, &so));
    mpx_value *cur, *max;
    CHECK_OK(mpx_value_create(&cur, "i", 0, &vo));
    CHECK_OK(mpx_value_create(&max, "i", 0, &vo));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, s));
    CHECK_OK(mpx_args_add_object(a, cur));
    CHECK_OK(mpx_args_add_object(a, max));
    mpx_process *p[10];
    for (int i = 0; i < 10; i++)
        p[i] = tstart(t_sem_user, a, NULL, 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    int64_t m;
    CHECK_OK(mpx_value_get_i64(max, &m));
    CHECK(m >= 1 && m <= 3);
    CHECK_EQ(mpx_semaphore_get_value(s), 3);
    mpx_args_destroy(a);
    mpx_semaphore_destroy(s);
    mpx_value_destroy(cur);
    mpx_value_destroy(max);
    mpx_semaphore *b;
    CHECK_OK(mpx_bounded_semaphore_create(&b, 1, &so));
    CHECK_ERR(mpx_semaphore_release(b), MPX_ESTATE);
    CHECK_EQ(mpx_semaphore_acquire(b, MPX_NOWAIT), 1);
    CHECK_EQ(mpx_semaphore_acquire(b, MPX_NOWAIT), 0);
    mpx_semaphore_destroy(b);
}

static int t_notify(const mpx_args *a)
{
    mpx_condition *c = mpx_args_object(a, 0);
    mpx_value *flag = mpx_args_object(a, 1);
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    mpx_value_set_i64(flag, 1);
    CHECK_OK(mpx_condition_notify_all(c));
    CHECK_OK(mpx_condition_release(c));
    return 0;
}

static int flag_set(void *arg)
{
    int64_t v = 0;
    mpx_value_get_i64(arg, &v);
    return v != 0;
}

/* Condition (SYNC-12..14) and Event (SYNC-15) between threads. */
MPX_TEST(dummy_sync_condition_event)
{
    mpx_sync_opts so = {.ctx = thread_ctx()};
    mpx_shared_opts vo = {.raw = 1, .ctx = thread_ctx()};
    mpx_condition *c;
    CHECK_OK(mpx_condition_create(&c, NULL, &so));
    mpx_value *flag;
    CHECK_OK(mpx_value_create(&flag, "i", 0, &vo));
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_EQ(mpx_condition_wait(c, 10), 0); /* timed out: False */
    mpx_process *p;
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, c));
    CHECK_OK(mpx_args_add_object(a, flag));
    p = tstart(t_notify, a, NULL, 0);
    CHECK_EQ(mpx_condition_wait_for(c, flag_set, flag, MPX_FOREVER), 1);
    CHECK_OK(mpx_condition_release(c));
    CHECK_EQ(join_destroy(p), 0);
    mpx_args_destroy(a);
    mpx_condition_destroy(c);
    mpx_value_destroy(flag);

    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, &so));
    CHECK_EQ(mpx_event_is_set(e), 0);
    CHECK_EQ(mpx_event_wait(e, -1), 0);
    p = start_waiter(e, 4, 0);
    CHECK_OK(mpx_event_set(e));
    CHECK_EQ(mpx_event_wait(e, MPX_FOREVER), 1);
    CHECK_EQ(join_destroy(p), 4);
    mpx_event_destroy(e);
}

static int t_barrier(const mpx_args *a)
{
    int rc = mpx_barrier_wait(mpx_args_object(a, 0), MPX_FOREVER);
    return rc >= 0 ? 10 + rc : 1;
}

/* Barrier (SYNC-16): three threads get the indices 0, 1, 2; a timeout
 * breaks it with MPX_EBROKEN. */
MPX_TEST(dummy_sync_barrier)
{
    mpx_barrier_opts bo = {.ctx = thread_ctx()};
    mpx_barrier *b;
    CHECK_OK(mpx_barrier_create(&b, 3, &bo));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, b));
    mpx_process *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = tstart(t_barrier, a, NULL, 0);
    int idx = 0;
    for (int i = 0; i < 3; i++) {
        int code = join_destroy(p[i]);
        CHECK(code >= 10 && code <= 12);
        idx |= 1 << (code - 10);
    }
    CHECK_EQ(idx, 7);
    CHECK_ERR(mpx_barrier_wait(b, 10), MPX_EBROKEN);
    CHECK_EQ(mpx_barrier_broken(b), 1);
    mpx_args_destroy(a);
    mpx_barrier_destroy(b);
}

static int t_producer(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    int64_t base = mpx_args_int(a, 1);
    for (int64_t i = 0; i < 100; i++) {
        int64_t v = base + i;
        int rc = mpx_queue_put(q, &v, sizeof v, MPX_FOREVER);
        if (rc)
            return rc;
    }
    return 0;
}

static int t_consumer_done(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    for (;;) {
        int64_t v;
        size_t len;
        int rc = mpx_queue_get_into(q, &v, sizeof v, &len, MPX_FOREVER);
        if (rc)
            return rc;
        mpx_queue_task_done(q);
        if (v < 0)
            return 0;
    }
}

/* Queue, JoinableQueue and SimpleQueue between threads: every item
 * arrives once, in each producer's order; Empty/Full are the process
 * backend's codes. */
MPX_TEST(dummy_queues)
{
    mpx_queue_opts qo = {.ctx = thread_ctx()};
    mpx_queue *q;
    CHECK_OK(mpx_queue_create(&q, 0, &qo));
    mpx_process *p[3];
    for (int i = 0; i < 3; i++) {
        mpx_args *a;
        CHECK_OK(mpx_args_create(&a));
        CHECK_OK(mpx_args_add_object(a, q));
        CHECK_OK(mpx_args_add_int(a, i * 1000));
        p[i] = tstart(t_producer, a, NULL, 0);
        mpx_args_destroy(a);
    }
    int64_t last[3] = {-1, -1, -1};
    for (int n = 0; n < 300; n++) {
        int64_t v;
        size_t len;
        CHECK_OK(mpx_queue_get_into(q, &v, sizeof v, &len, MPX_FOREVER));
        int who = (int)(v / 1000);
        CHECK(who >= 0 && who < 3);
        CHECK(v % 1000 == last[who] + 1);
        last[who] = v % 1000;
    }
    for (int i = 0; i < 3; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    int64_t v;
    size_t len;
    CHECK_ERR(mpx_queue_get_into(q, &v, sizeof v, &len, 10), MPX_EEMPTY);
    mpx_queue_destroy(q);

    CHECK_OK(mpx_queue_create(&q, 1, &qo)); /* maxsize 1 */
    CHECK_OK(mpx_queue_put_nowait(q, "a", 1));
    CHECK_ERR(mpx_queue_put(q, "b", 1, 10), MPX_EFULL);
    CHECK_EQ(mpx_queue_full(q), 1);
    mpx_queue_destroy(q);

    CHECK_OK(mpx_joinable_queue_create(&q, 0, &qo));
    mpx_process *c;
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    c = tstart(t_consumer_done, a, NULL, 0);
    mpx_args_destroy(a);
    for (int64_t i = 0; i < 50; i++)
        CHECK_OK(mpx_queue_put(q, &i, sizeof i, MPX_FOREVER));
    int64_t stop = -1;
    CHECK_OK(mpx_queue_put(q, &stop, sizeof stop, MPX_FOREVER));
    CHECK_EQ(mpx_queue_join(q, MPX_FOREVER), 1); /* every task done */
    CHECK_EQ(mpx_queue_unfinished(q), 0);
    CHECK_EQ(join_destroy(c), 0);
    mpx_queue_destroy(q);

    mpx_simple_queue *s;
    CHECK_OK(mpx_simple_queue_create(&s, &qo));
    CHECK_EQ(mpx_simple_queue_empty(s), 1);
    CHECK_OK(mpx_simple_queue_put(s, "xy", 2));
    char buf[4];
    CHECK_OK(mpx_simple_queue_get_into(s, buf, sizeof buf, &len));
    CHECK_EQ(len, 2);
    mpx_simple_queue_destroy(s);
}

static int t_put_close(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    int64_t v = mpx_args_int(a, 1);
    int rc = mpx_queue_put(q, &v, sizeof v, MPX_FOREVER);
    if (rc)
        return rc;
    /* q.close(); q.join_thread(): this thread "process" only */
    CHECK_OK(mpx_queue_close(q));
    CHECK_EQ(mpx_queue_is_closed(q), 1);
    CHECK_ERR(mpx_queue_put(q, &v, sizeof v, MPX_NOWAIT), MPX_ECLOSED);
    CHECK_OK(mpx_queue_join_thread(q));
    return 0;
}

static int t_after_main_closed(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    CHECK_EQ(mpx_queue_is_closed(q), 0); /* the process closed it, not this one */
    int64_t v = 99;
    return mpx_queue_put(q, &v, sizeof v, MPX_FOREVER);
}

/* close() is per process (issue #13): on threads, per thread "process",
 * though they share the handle: producers that close at their end leave
 * the others (and the consumer) going. */
MPX_TEST(dummy_queue_close_is_per_thread_process)
{
    mpx_queue_opts qo = {.ctx = thread_ctx()};
    mpx_queue *q;
    CHECK_OK(mpx_queue_create(&q, 0, &qo));
    mpx_process *p[4];
    for (int i = 0; i < 4; i++) {
        mpx_args *a;
        CHECK_OK(mpx_args_create(&a));
        CHECK_OK(mpx_args_add_object(a, q));
        CHECK_OK(mpx_args_add_int(a, i));
        p[i] = tstart(t_put_close, a, NULL, 0);
        mpx_args_destroy(a);
    }
    int got = 0;
    for (int i = 0; i < 4; i++) {
        int64_t v;
        size_t len;
        CHECK_OK(mpx_queue_get_into(q, &v, sizeof v, &len, MPX_FOREVER));
        got |= 1 << v;
    }
    CHECK_EQ(got, 15);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    CHECK_EQ(mpx_queue_is_closed(q), 0);
    /* the process closes its handle: a thread "process" goes on */
    CHECK_OK(mpx_queue_close(q));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    mpx_process *t = tstart(t_after_main_closed, a, NULL, 0);
    mpx_args_destroy(a);
    CHECK_EQ(join_destroy(t), 0);
    CHECK_EQ(mpx_queue_qsize(q), 1);
    int64_t v;
    size_t len;
    CHECK_ERR(mpx_queue_get_into(q, &v, sizeof v, &len, MPX_NOWAIT), MPX_ECLOSED);
    mpx_queue_destroy(q);
}

static int t_square(const void *in, size_t len, mpx_task_out *out)
{
    int64_t x;
    if (len != 8)
        return mpx_task_fail(out, "bad length %zu", len);
    memcpy(&x, in, 8);
    if (x == 5)
        return mpx_task_fail(out, "ZeroDivisionError");
    x *= x;
    return mpx_task_out_set(out, &x, 8);
}

static int t_pid(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    int64_t pid = getpid();
    return mpx_task_out_set(out, &pid, 8);
}

/* dummy.Pool is a ThreadPool: the context's pool create call gives one
 * (workers in this process), with the process pool's codes. */
static void check_thread_pool(mpx_pool *p)
{
    int64_t v[8];
    mpx_bytes it[8];
    for (int i = 0; i < 8; i++) {
        v[i] = i;
        it[i] = (mpx_bytes){&v[i], 8};
    }
    mpx_result *r;
    CHECK_ERR(mpx_pool_map(p, t_square, it, 8, NULL, &r), MPX_ETASK); /* item 5 fails */
    mpx_task_error e;
    CHECK_OK(mpx_result_error(r, &e));
    CHECK_EQ(e.index, 5);
    const void *d;
    size_t l;
    CHECK_OK(mpx_result_item(r, 7, &d, &l));
    int64_t x;
    memcpy(&x, d, 8);
    CHECK_EQ(x, 49);
    mpx_result_destroy(r);
    CHECK_OK(mpx_pool_apply(p, t_pid, NULL, 0, NULL, &r));
    CHECK_OK(mpx_result_item(r, 0, &d, &l));
    memcpy(&x, d, 8);
    CHECK_EQ(x, getpid());
    mpx_result_destroy(r);
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}

MPX_TEST(dummy_03_pool_is_thread_pool)
{
    mpx_pool_opts o = {.ctx = thread_ctx()};
    mpx_pool *p;
    CHECK_ERR(mpx_pool_create(&p, 0, &o), MPX_EINVAL); /* Pool(0) */
    o.task_timeout = 1000;
    CHECK_ERR(mpx_pool_create(&p, 2, &o), MPX_ENOTSUP); /* ThreadPool has none */
    o.task_timeout = 0;
    CHECK_OK(mpx_pool_create(&p, 3, &o));
    check_thread_pool(p);
    /* the default context "thread": Pool() is a ThreadPool too */
    CHECK_OK(mpx_set_start_method("thread", 1));
    CHECK_OK(mpx_pool_create(&p, MPX_POOL_DEFAULT, NULL));
    check_thread_pool(p);
    CHECK_OK(mpx_set_start_method(NULL, 1));
}

/* ---- a literal port of a dummy program --------------------------------
 *
 *     from multiprocessing.dummy import Process, Queue, Lock, current_process
 *     def worker(q, lock, n):
 *         with lock:
 *             q.put((current_process().name, n * n))
 *     if __name__ == '__main__':
 *         q, lock = Queue(), Lock()
 *         ps = [Process(target=worker, args=(q, lock, i), name='w%d' % i)
 *               for i in range(4)]
 *         for p in ps: p.start()
 *         for p in ps: p.join()
 *         print(sorted(q.get() for _ in ps))
 *         print([p.exitcode for p in ps], [p.is_alive() for p in ps])
 *
 * prints [('w0', 0), ('w1', 1), ('w2', 4), ('w3', 9)] and [0, 0, 0, 0]
 * [False, False, False, False].
 */
static int worker(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    mpx_lock *lock = mpx_args_object(a, 1);
    int64_t n = mpx_args_int(a, 2);
    char msg[64];
    int len = snprintf(msg, sizeof msg, "('%s', %lld)", mpx_process_name(mpx_current_process()),
                       (long long)(n * n));
    CHECK_EQ(mpx_lock_acquire(lock, MPX_FOREVER), 1);
    int rc = mpx_queue_put(q, msg, (size_t)len, MPX_FOREVER);
    mpx_lock_release(lock);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

MPX_TEST(dummy_literal_port)
{
    mpx_context *dummy = thread_ctx(); /* import multiprocessing.dummy */
    mpx_queue_opts qo = {.ctx = dummy};
    mpx_sync_opts so = {.ctx = dummy};
    mpx_queue *q;
    mpx_lock *lock;
    CHECK_OK(mpx_queue_create(&q, 0, &qo));
    CHECK_OK(mpx_lock_create(&lock, &so));
    mpx_process *ps[4];
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        mpx_args *a;
        CHECK_OK(mpx_args_create(&a));
        CHECK_OK(mpx_args_add_object(a, q));
        CHECK_OK(mpx_args_add_object(a, lock));
        CHECK_OK(mpx_args_add_int(a, i));
        mpx_process_opts o = {.ctx = dummy, .name = name};
        CHECK_OK(mpx_process_create(&ps[i], worker, a, &o));
        mpx_args_destroy(a);
    }
    for (int i = 0; i < 4; i++)
        CHECK_OK(mpx_process_start(ps[i]));
    for (int i = 0; i < 4; i++)
        CHECK_EQ(mpx_process_join(ps[i], MPX_FOREVER), 1);
    char got[4][64];
    for (int i = 0; i < 4; i++) {
        size_t len;
        CHECK_OK(mpx_queue_get_into(q, got[i], sizeof got[i] - 1, &len, MPX_FOREVER));
        got[i][len] = 0;
    }
    qsort(got, 4, sizeof got[0], cmp_str);
    char line[300];
    snprintf(line, sizeof line, "[%s, %s, %s, %s]", got[0], got[1], got[2], got[3]);
    CHECK_STREQ(line, "[('w0', 0), ('w1', 1), ('w2', 4), ('w3', 9)]");
    char codes[64] = "", alive[64] = "";
    for (int i = 0; i < 4; i++) {
        int code = -1;
        CHECK_EQ(mpx_process_exitcode(ps[i], &code), 1);
        snprintf(codes + strlen(codes), sizeof codes - strlen(codes), "%s%d", i ? ", " : "[",
                 code);
        snprintf(alive + strlen(alive), sizeof alive - strlen(alive), "%s%s", i ? ", " : "[",
                 mpx_process_is_alive(ps[i]) ? "True" : "False");
        mpx_process_destroy(ps[i]);
    }
    CHECK_STREQ(codes, "[0, 0, 0, 0");
    CHECK_STREQ(alive, "[False, False, False, False");
    mpx_queue_destroy(q);
    mpx_lock_destroy(lock);
}
