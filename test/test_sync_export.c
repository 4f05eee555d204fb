/* test_sync_export.c - export / import round trips of every primitive (what spawn
 * and forkserver use).
 * Children are started with mpx_process so the tests run under every
 * start method. */
#include "sync_util.h"

/* ---- export / import round trip (what spawn and forkserver use) ---- */

MPX_TEST(sync_19_export_import_roundtrip)
{
    mpx_lock *l;
    mpx_rlock *r;
    mpx_semaphore *s;
    mpx_condition *c;
    mpx_event *e;
    mpx_barrier *b;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_OK(mpx_bounded_semaphore_create(&s, 2, NULL));
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_event_create(&e, NULL));
    CHECK_OK(mpx_barrier_create(&b, 1, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    void *objs[] = {l, r, s, c, e, b};
    for (int i = 0; i < 6; i++)
        CHECK_OK(mpx_args_add_object(a, objs[i]));
    mpx__buf buf;
    mpx__buf_init(&buf);
    mpx__fdlist fds = {.n = 0};
    CHECK_OK(mpx__args_export(a, NULL, &buf, &fds));
    CHECK_EQ(fds.n, 6); /* the condition's default RLock shares its segment */
    int dup_fds[64];
    for (int i = 0; i < fds.n; i++) {
        dup_fds[i] = fcntl(fds.fds[i], F_DUPFD_CLOEXEC, 0);
        CHECK(dup_fds[i] >= 0);
    }
    mpx__rd rd = {buf.data, buf.len};
    mpx_args *in;
    CHECK_OK(mpx__args_import(&rd, dup_fds, fds.n, &in));
    mpx__buf_free(&buf);
    mpx_lock *l2;
    mpx_rlock *r2;
    mpx_semaphore *s2;
    mpx_condition *c2;
    mpx_event *e2;
    mpx_barrier *b2;
    CHECK_OK(mpx_args_get_object(in, 0, "lock", (void **)&l2));
    CHECK_OK(mpx_args_get_object(in, 1, "rlock", (void **)&r2));
    CHECK_OK(mpx_args_get_object(in, 2, "semaphore", (void **)&s2));
    CHECK_OK(mpx_args_get_object(in, 3, "condition", (void **)&c2));
    CHECK_OK(mpx_args_get_object(in, 4, "event", (void **)&e2));
    CHECK_OK(mpx_args_get_object(in, 5, "barrier", (void **)&b2));
    CHECK(l2 != l && r2 != r && c2 != c);
    /* same shared state through both handles */
    CHECK_EQ(mpx_lock_acquire(l, 0), 1);
    CHECK_EQ(mpx_lock_acquire(l2, 0), 0);
    CHECK_OK(mpx_lock_release(l2));
    CHECK_EQ(mpx_rlock_acquire(r, 0), 1);
    CHECK_EQ(mpx_rlock_acquire(r2, 0), 1); /* same thread: recursion */
    CHECK_EQ(mpx_rlock_count(r), 2);
    CHECK_OK(mpx_rlock_release(r2));
    CHECK_OK(mpx_rlock_release(r));
    CHECK_EQ(mpx_semaphore_acquire(s2, 0), 1);
    CHECK_EQ(mpx_semaphore_get_value(s), 1);
    CHECK_OK(mpx_semaphore_release(s2));
    CHECK_ERR(mpx_semaphore_release(s2), MPX_ESTATE); /* the bound travels */
    CHECK_EQ(mpx_condition_acquire(c, 0), 1);
    CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c2)), 1);
    CHECK_EQ(mpx_condition_wait(c2, 10), 0);
    CHECK_OK(mpx_condition_release(c2));
    CHECK_OK(mpx_event_set(e));
    CHECK_EQ(mpx_event_is_set(e2), 1);
    CHECK_EQ(mpx_barrier_parties(b2), 1);
    CHECK_EQ(mpx_barrier_wait(b2, 0), 0);
    mpx_args_destroy(in);
    mpx_args_destroy(a);
    mpx_lock_destroy(l);
    mpx_rlock_destroy(r);
    mpx_semaphore_destroy(s);
    mpx_condition_destroy(c);
    mpx_event_destroy(e);
    mpx_barrier_destroy(b);
}

/* Garbage import data is rejected, never crashes, closes the fds. */
MPX_TEST(sync_19_import_rejects_garbage)
{
    const char *names[] = {"lock", "rlock", "semaphore", "condition", "event", "barrier"};
    unsigned char junk[64];
    for (int n = 0; n < 6; n++) {
        for (int len = 0; len <= 40; len += 8) {
            for (int i = 0; i < len; i++)
                junk[i] = (unsigned char)(i * 37 + n + len);
            check_import_rejects(names[n], junk, (size_t)len);
        }
    }
}

/* SYNC-19 / CTX-09: a lock made for the fork context cannot go to a spawn
 * child; one made without a context (or for spawn) can. */
static int t_nothing(const mpx_args *a)
{
    (void)a;
    return 0;
}

MPX_TEST(sync_19_context_of_objects)
{
    if (getenv("MPX_TEST_VALGRIND"))
        MPX_SKIP("spawn re-executes the program, which valgrind does not allow");
    mpx_context *fork_ctx, *spawn_ctx;
    CHECK_OK(mpx_get_context(&fork_ctx, "fork"));
    CHECK_OK(mpx_get_context(&spawn_ctx, "spawn"));
    mpx_sync_opts fo = {.ctx = fork_ctx};
    mpx_lock *lf, *ln;
    CHECK_OK(mpx_lock_create(&lf, &fo));
    CHECK_OK(mpx_lock_create(&ln, NULL));
    mpx_process_opts po = {.ctx = spawn_ctx};
    mpx_args *a;
    mpx_process *p;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, lf));
    CHECK_OK(mpx_process_create(&p, t_nothing, a, &po));
    CHECK_ERR(mpx_process_start(p), MPX_ECONTEXT);
    mpx_process_destroy(p);
    mpx_args_destroy(a);
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, ln));
    CHECK_OK(mpx_process_create(&p, t_nothing, a, &po));
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 0);
    mpx_args_destroy(a);
    mpx_lock_destroy(lf);
    mpx_lock_destroy(ln);
}

/* The shared heap: many small objects share a few descriptors, and all
 * are returned when the objects are destroyed. */
#include <dirent.h>

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

MPX_TEST(sync_shared_heap_few_descriptors)
{
    enum { N = 600 };
    static mpx_lock *l[N];
    static mpx_rlock *r[N];
    static mpx_semaphore *s[N];
    static mpx_event *e[N];
    static mpx_condition *c[N];
    int before = count_fds();
    CHECK(before > 0);
    for (int i = 0; i < N; i++) {
        CHECK_OK(mpx_lock_create(&l[i], NULL));
        CHECK_OK(mpx_rlock_create(&r[i], NULL));
        CHECK_OK(mpx_semaphore_create(&s[i], (unsigned)i, NULL));
        CHECK_OK(mpx_event_create(&e[i], NULL));
        CHECK_OK(mpx_condition_create(&c[i], i % 2 ? (void *)l[i] : NULL, NULL));
    }
    int during = count_fds();
    CHECK(during - before < 5 * N / 50); /* hundreds of objects per descriptor */
    /* every object is its own: no two share state */
    for (int i = 0; i < N; i++) {
        CHECK_EQ(mpx_lock_acquire(l[i], MPX_NOWAIT), 1);
        CHECK_EQ(mpx_rlock_acquire(r[i], MPX_NOWAIT), 1);
        CHECK_EQ(mpx_semaphore_get_value(s[i]), i);
        CHECK_OK(mpx_event_set(e[i]));
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ(mpx_lock_locked(l[i]), 1);
        CHECK_EQ(mpx_rlock_count(r[i]), 1);
        CHECK_EQ(mpx_event_is_set(e[i]), 1);
        CHECK_OK(mpx_lock_release(l[i]));
        CHECK_OK(mpx_rlock_release(r[i]));
        CHECK_EQ(mpx_condition_acquire(c[i], MPX_NOWAIT), 1);
        CHECK_OK(mpx_condition_release(c[i]));
    }
    for (int i = 0; i < N; i++) {
        mpx_condition_destroy(c[i]);
        mpx_lock_destroy(l[i]);
        mpx_rlock_destroy(r[i]);
        mpx_semaphore_destroy(s[i]);
        mpx_event_destroy(e[i]);
    }
    CHECK_EQ(count_fds(), before);
}

/* A child keeps using an object whose creator destroyed its handle, and
 * objects created afterwards never overlap it. */
static int t_use_after_parent_destroy(const mpx_args *a)
{
    mpx_lock *l = mpx_args_object(a, 0);
    mpx_event *go = mpx_args_object(a, 1);
    if (mpx_event_wait(go, 20000) != 1)
        return 2;
    for (int i = 0; i < 1000; i++) {
        if (mpx_lock_acquire(l, MPX_FOREVER) != 1)
            return 3;
        if (mpx_lock_release(l))
            return 4;
    }
    return mpx_lock_locked(l) == 0 ? 0 : 5;
}

MPX_TEST(sync_shared_heap_no_reuse_under_children)
{
    mpx_lock *l;
    mpx_event *go;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_event_create(&go, NULL));
    mpx_process *p = spawn1(t_use_after_parent_destroy, l, go);
    mpx_lock_destroy(l);
    /* new objects must not land on the destroyed lock's bytes */
    mpx_lock *fresh[64];
    for (int i = 0; i < 64; i++) {
        CHECK_OK(mpx_lock_create(&fresh[i], NULL));
        CHECK_EQ(mpx_lock_acquire(fresh[i], MPX_NOWAIT), 1);
    }
    CHECK_OK(mpx_event_set(go));
    CHECK_EQ(join_destroy(p), 0);
    for (int i = 0; i < 64; i++) {
        CHECK_EQ(mpx_lock_locked(fresh[i]), 1);
        CHECK_OK(mpx_lock_release(fresh[i]));
        mpx_lock_destroy(fresh[i]);
    }
    mpx_event_destroy(go);
}
