/*
 * lock_print.c - the seed's lock-serialized printing example (EX-08):
 *
 *     def f(l, i):
 *         l.acquire()
 *         try: print('hello world', i)
 *         finally: l.release()
 *     lock = Lock()
 *     for num in range(10): Process(target=f, args=(lock, num)).start()
 */
#include <mpx.h>

#include <stdio.h>

static int f(const mpx_args *a)
{
    mpx_lock *l = mpx_args_object(a, 0);
    int rc = mpx_lock_acquire(l, MPX_FOREVER); /* 1: acquired */
    if (rc < 0 && rc != MPX_EOWNERDEAD)
        return rc;
    printf("hello world %d\n", (int)mpx_args_int(a, 1));
    fflush(stdout);
    return mpx_lock_release(l);
}

int main(void)
{
    mpx_lock *lock;
    mpx_process *ps[10];
    int rc = mpx_lock_create(&lock, NULL);
    for (int num = 0; num < 10 && !rc; num++) {
        mpx_args *a;
        rc = mpx_args_create(&a);
        if (!rc)
            rc = mpx_args_add_object(a, lock);
        if (!rc)
            rc = mpx_args_add_int(a, num);
        if (!rc)
            rc = mpx_process_create(&ps[num], f, a, NULL);
        mpx_args_destroy(a);
        if (!rc) {
            fflush(stdout);
            rc = mpx_process_start(ps[num]);
        }
    }
    if (rc) {
        fprintf(stderr, "lock_print: %s\n", mpx_strerror(rc));
        return 1;
    }
    int bad = 0;
    for (int num = 0; num < 10; num++) {
        int code = -1;
        mpx_process_join(ps[num], MPX_FOREVER);
        mpx_process_exitcode(ps[num], &code);
        bad |= code != 0;
        mpx_process_destroy(ps[num]);
    }
    mpx_lock_destroy(lock);
    return bad;
}
