/*
 * lock_passing.c - the seed's "explicitly pass resources to child
 * processes" pair (EX-34, programming guidelines):
 *
 *     def f():                          def f(l):
 *         ... use "lock" ...                ... use "l" ...
 *     lock = Lock()                     lock = Lock()
 *     for i in range(10):               for i in range(10):
 *         Process(target=f).start()         Process(target=f, args=(lock,)).start()
 *
 * The "bad" version finds the lock in a global that main() set. Under fork
 * a child is a copy of the parent, global included, so it works by
 * accident; under spawn (and forkserver) the child is a fresh program in
 * which main() never ran: the global is NULL and there is no lock to take.
 * The "good" version passes the lock as an argument, which works under
 * every start method (and keeps the lock alive as long as the child needs
 * it). Each child adds 1 to a shared counter while holding the lock.
 */
#include <mpx.h>

#include <stdio.h>

#define NPROC 10

static mpx_lock *lock; /* the "bad" version's global */

/* Add 1 to the counter under l. 0, or 2 when there is no lock. */
static int count_under(mpx_lock *l, mpx_value *counter)
{
    if (!l)
        return 2;
    int rc = mpx_lock_acquire(l, MPX_FOREVER);
    if (rc < 0 && rc != MPX_EOWNERDEAD)
        return 3;
    int64_t n = 0;
    mpx_value_get_i64(counter, &n);
    mpx_value_set_i64(counter, n + 1);
    mpx_lock_release(l);
    return 0;
}

static int f_bad(const mpx_args *a)
{
    return count_under(lock, mpx_args_object(a, 0));
}

static int f_good(const mpx_args *a)
{
    return count_under(mpx_args_object(a, 1), mpx_args_object(a, 0));
}

/* Run NPROC children of fn with method; returns how many found a lock. */
static int run(mpx_target_fn fn, const char *method, mpx_value *counter, int *with_lock)
{
    mpx_context *ctx;
    int rc = mpx_get_context(&ctx, method);
    mpx_process *ps[NPROC];
    int started = 0;
    mpx_value_set_i64(counter, 0);
    for (int i = 0; i < NPROC && !rc; i++) {
        mpx_args *a;
        rc = mpx_args_create(&a);
        if (!rc)
            rc = mpx_args_add_object(a, counter);
        if (!rc && fn == f_good)
            rc = mpx_args_add_object(a, lock);
        if (!rc)
            rc = mpx_process_create(&ps[i], fn, a, &(mpx_process_opts){.ctx = ctx});
        mpx_args_destroy(a);
        if (!rc && (rc = mpx_process_start(ps[i])) != 0)
            mpx_process_destroy(ps[i]);
        if (!rc)
            started++;
    }
    *with_lock = 0;
    for (int i = 0; i < started; i++) {
        int code = -1;
        mpx_process_join(ps[i], MPX_FOREVER);
        mpx_process_exitcode(ps[i], &code);
        *with_lock += code == 0;
        mpx_process_destroy(ps[i]);
    }
    return rc;
}

int main(void)
{
    mpx_value *counter;
    /* A raw value: only the lock protects the counter. */
    int rc = mpx_rawvalue_create(&counter, "q", 0); /* RawValue('q', 0) */
    if (!rc)
        rc = mpx_lock_create(&lock, NULL);
    const struct {
        const char *what;
        mpx_target_fn fn;
    } versions[] = {{"bad  (lock in a global)     ", f_bad},
                    {"good (lock passed as an arg)", f_good}};
    const char *methods[] = {"fork", "spawn"};
    int surprise = 0;
    for (int v = 0; v < 2 && !rc; v++)
        for (int m = 0; m < 2 && !rc; m++) {
            int with_lock;
            rc = run(versions[v].fn, methods[m], counter, &with_lock);
            if (rc)
                break;
            int64_t n = 0;
            mpx_value_get_i64(counter, &n);
            printf("%s %-5s: %2d of %d processes found the lock, counter = %lld\n",
                   versions[v].what, methods[m], with_lock, NPROC, (long long)n);
            /* Only the bad version under spawn goes wrong. */
            surprise |= (with_lock == NPROC) != (versions[v].fn == f_good || m == 0);
        }
    if (rc) {
        fprintf(stderr, "lock_passing: %s\n", mpx_strerror(rc));
        return 1;
    }
    printf("under spawn the global is NULL in the child: main() never ran there.\n"
           "pass the lock as an argument and it works with every start method.\n");
    mpx_lock_destroy(lock);
    mpx_value_destroy(counter);
    return surprise;
}
