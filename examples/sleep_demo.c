/*
 * sleep_demo.c - "Python Multiprocessing For Beginners" (EX-50): a long
 * running function called ten times, one after the other, then in ten
 * processes started in a loop, kept in a list and joined:
 *
 *     def long_running_function():
 *         time.sleep(10)
 *     for i in range(10):
 *         long_running_function()                   # about 100 s
 *     _processes = []
 *     for i in range(10):
 *         _process = multiprocessing.Process(target=long_running_function)
 *         _processes.append(_process)
 *         _process.start()
 *     for _process in _processes:
 *         _process.join()                           # about 10 s
 *
 * The demo sleeps 0.3 s instead of 10 s, so it takes about 3.3 s.
 */
#include <mpx.h>

#include <stdio.h>
#include <time.h>

#define N 10
#define NAP_MS 300

static int long_running_function(const mpx_args *a)
{
    (void)a;
    struct timespec t = {0, NAP_MS * 1000000L};
    while (nanosleep(&t, &t) < 0)
        ;
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void)
{
    double t0 = now();
    for (int i = 0; i < N; i++)
        long_running_function(NULL);
    double seq = now() - t0;
    printf("%d calls one after the other: %.2f s\n", N, seq);

    t0 = now();
    mpx_process *processes[N];
    int rc = 0, started = 0;
    for (int i = 0; i < N && !rc; i++) {
        rc = mpx_process_create(&processes[i], long_running_function, NULL, NULL);
        if (!rc && (rc = mpx_process_start(processes[i])) != 0)
            mpx_process_destroy(processes[i]);
        if (!rc)
            started++;
    }
    int bad = 0;
    for (int i = 0; i < started; i++) {
        int code = -1;
        if (mpx_process_join(processes[i], MPX_FOREVER) < 0 ||
            mpx_process_exitcode(processes[i], &code) != 1 || code != 0)
            bad = 1;
        mpx_process_destroy(processes[i]);
    }
    double par = now() - t0;
    if (rc) {
        fprintf(stderr, "sleep_demo: %s\n", mpx_strerror(rc));
        return 1;
    }
    printf("%d processes, started then joined: %.2f s (%.1fx faster)\n", N, par, seq / par);
    return bad;
}
