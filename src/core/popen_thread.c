/*
 * popen_thread.c - the processes of the "thread" context
 * (multiprocessing.dummy: DUMMY-01..03; docs/thread-backend.md).
 *
 * dummy.Process is a threading.Thread: mpx_process_start runs the target
 * in a new thread of this process, with the object's arguments as they
 * are (same memory: descriptors, objects and a bare udata pointer mean
 * what they mean to the caller). process.c keeps the object, its state
 * machine and the children registry exactly as for the other contexts;
 * this file provides the popen operations:
 *
 *  - start: pthread_create; the sentinel is an eventfd that becomes
 *    readable when the target has returned (mpx_wait, poll());
 *  - wait / poll: the end is a flag the thread sets last (then it rings
 *    the sentinel); poll records the exit code;
 *  - no signal operation: a thread cannot be terminated or killed
 *    (mpx_process_terminate / _kill: MPX_ENOTSUP);
 *  - cleanup: pthread_join (the thread has ended, or is a few
 *    instructions from it), so nothing of a finished thread remains.
 *
 * The exit code is the one a process started with the same target would
 * have (0, N for return N or mpx_exit(N), 1 for a failing target with its
 * error on stderr), so a program gets the same answers from either
 * backend; Python's dummy.Process reports 0 for every ended thread.
 */
#include "core/process_internal.h"
#include "os/anonfd.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

typedef struct thr {
    pthread_t th;
    int done; /* the target has ended; code is set (__atomic_*: clang refuses them on _Atomic) */
    int code;
} thr;

/* The thread "process" this thread runs, NULL in any other thread. */
static __thread mpx_process *tl_self;

mpx_process *mpx__thread_self(void)
{
    return tl_self;
}

void mpx__thread_forget(void)
{
    tl_self = NULL;
}

/* The last thing the thread does with p (pthread_cleanup_push: also on
 * mpx_exit, which leaves with pthread_exit). */
static void thr_end(void *arg)
{
    mpx_process *p = arg;
    thr *t = p->popen;
    int efd = p->sentinel;
    tl_self = NULL;
    MPX__INFO("thread %s ended with exitcode %d", p->name, t->code);
    __atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
    /* After done, p may be reaped by another thread (which joins this one
     * before it frees anything: the descriptor stays open until then). */
    mpx__eventfd_post(efd);
}

static void *thr_main(void *arg)
{
    mpx_process *p = arg;
    thr *t = p->popen;
    tl_self = p;
    pthread_cleanup_push(thr_end, p);
    int rc = p->run ? p->run(p, p->args, p->udata) : p->target ? p->target(p->args) : 0;
    if (rc < 0) {
        /* Python prints the uncaught exception of a thread this way */
        fflush(stdout);
        fprintf(stderr, "Exception in thread %s:\nerror %d %s: %s\n", p->name, rc,
                mpx_err_name(rc), mpx_strerror(rc));
        rc = 1;
    }
    t->code = rc & 0xff; /* as exit(rc) gives a process */
    pthread_cleanup_pop(1);
    return NULL;
}

void mpx__thread_exit(int code)
{
    mpx_process *p = tl_self;
    thr *t = p->popen;
    t->code = code & 0xff;
    pthread_exit(NULL); /* thr_end runs */
}

static int thr_start(mpx_process *p)
{
    thr *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    int efd = mpx__eventfd_open();
    if (efd < 0) {
        free(t);
        return efd;
    }
    p->popen = t;
    p->sentinel = efd;
    p->pid = getpid();
    int e = pthread_create(&t->th, NULL, thr_main, p);
    if (e) {
        p->popen = NULL;
        p->sentinel = -1;
        p->pid = 0;
        mpx__close(efd);
        free(t);
        return -e;
    }
    return 0;
}

/* Called without p->mu: touches only the sentinel (open until close,
 * which needs the end to have been seen). */
static int thr_wait(mpx_process *p, mpx__deadline d)
{
    for (;;) {
        if (__atomic_load_n(&p->has_exit, __ATOMIC_ACQUIRE))
            return 0;
        struct pollfd pfd = {p->sentinel, POLLIN, 0};
        int r = poll(&pfd, 1, mpx__deadline_poll_ms(d));
        if (r > 0)
            return 0; /* rung after done was set */
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r == 0 && mpx__deadline_expired(d))
            return MPX_ETIMEDOUT;
    }
}

static int thr_poll(mpx_process *p)
{
    thr *t = p->popen;
    if (!t || !__atomic_load_n(&t->done, __ATOMIC_ACQUIRE))
        return 0;
    mpx__process_set_exit(p, t->code);
    return 1;
}

static void thr_cleanup(mpx_process *p)
{
    thr *t = p->popen;
    if (!t)
        return;
    p->popen = NULL;
    if (pthread_equal(t->th, pthread_self()))
        pthread_detach(t->th); /* cannot happen: the thread never reaps itself */
    else
        pthread_join(t->th, NULL);
    free(t);
}

const mpx__popen_ops mpx__popen_thread = {
    .start = thr_start,
    .wait = thr_wait,
    .poll = thr_poll,
    .signal = NULL, /* threads cannot be terminated or killed */
    .cleanup = thr_cleanup,
};
