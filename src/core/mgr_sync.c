/*
 * mgr_sync.c - SyncManager's synchronisation types (#16, MGR-16, MGR-21,
 * MGR-22): Queue and JoinableQueue (queue.Queue), Lock, RLock, Semaphore,
 * BoundedSemaphore, Condition, Event and Barrier (threading's), living in
 * the manager process and used through proxies.
 *
 * Each object has its own mutex and condition variable (the classes are
 * concurrent: a get that waits does not stop a put). Waits run in slices
 * of at most 100 ms and end early with MPX_ECLOSED when the waiting
 * client went away or the server stops (mpx_manager_call_aborted): a
 * client killed in the middle of q.get() leaves no thread behind and
 * consumes no item. An RLock (and a Condition's RLock) is owned by the
 * connection that acquired it, i.e. by one thread of one client, as
 * CPython's server thread per client thread gives.
 */
#include "core/mgr_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------------- */

static void cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* Wait on cv for at most one slice (100 ms) or until d. Returns 0 (woken
 * or the slice ended: check the condition again), MPX_ETIMEDOUT (d
 * passed), MPX_ECLOSED (the client went away or the server stops). */
static int wait_slice(pthread_cond_t *cv, pthread_mutex_t *mu, mpx__deadline d,
                      mpx_manager_call *call)
{
    if (mpx__deadline_expired(d))
        return MPX_ETIMEDOUT;
    if (call && call->nowait)
        return MPX__MGR_WOULDBLOCK; /* nothing changed yet: run it where it may wait */
    if (mpx_manager_call_aborted(call))
        return MPX_ECLOSED;
    int64_t now = mpx__now_ns();
    int64_t until = now + 100000000;
    if (d != MPX__NEVER && d < until)
        until = d;
    struct timespec ts = {until / 1000000000, until % 1000000000};
    pthread_cond_timedwait(cv, mu, &ts);
    return 0;
}

/* Positional/keyword arguments by name: out[i] NULL when absent. */
static int args2(mpx_manager_call *call, const char *fname, const mpx_obj *args,
                 const mpx_obj *kwds, int max, const char *const *names, const mpx_obj **out)
{
    int64_t n = mpx_obj_len(args);
    if (n > max)
        return mpx_manager_raise(call, MPX_ETYPE, "%s() takes at most %d arguments (%lld given)",
                                 fname, max, (long long)n);
    for (int i = 0; i < max; i++)
        out[i] = i < n ? mpx_obj_item(args, i) : NULL;
    size_t pos = 0;
    mpx_obj *k, *v;
    while (kwds && mpx_obj_dict_next(kwds, &pos, &k, &v) == 1) {
        const char *ks = mpx_obj_str_value(k);
        int f = -1;
        for (int i = 0; ks && i < max; i++)
            if (strcmp(names[i], ks) == 0)
                f = i;
        if (f < 0 || out[f])
            return mpx_manager_raise(call, MPX_ETYPE, "%s() got an unexpected keyword argument '%s'",
                                     fname, ks ? ks : "?");
        out[f] = v;
    }
    return 0;
}

/* A Python timeout: None (no limit) or a number of seconds. *d is the
 * deadline. neg_ok: a negative number means no limit (Lock.acquire's
 * -1); otherwise a negative timeout is ValueError as queue.Queue says. */
static int timeout_of(mpx_manager_call *call, const mpx_obj *v, bool neg_ok, mpx__deadline *d)
{
    *d = MPX__NEVER;
    if (!v || mpx_obj_typeof(v) == MPX_OBJ_NONE)
        return 0;
    double s;
    if (mpx_obj_typeof(v) == MPX_OBJ_STR || mpx_obj_get_float(v, &s))
        return mpx_manager_raise(call, MPX_ETYPE, "'%s' object cannot be interpreted as a timeout",
                                 mpx_obj_type_name(v));
    if (isnan(s))
        return mpx_manager_raise(call, MPX_EINVAL, "Invalid value NaN (not a number)");
    if (s < 0) {
        if (neg_ok)
            return 0;
        return mpx_manager_raise(call, MPX_EINVAL, "'timeout' must be a non-negative number");
    }
    if (s > 9.2e9)
        return 0;
    *d = mpx__now_ns() + (int64_t)(s * 1e9);
    return 0;
}

static int truth(const mpx_obj *v, int dflt)
{
    return v ? mpx_obj_truth(v) == 1 : dflt;
}

static int ret(mpx_obj **result, mpx_obj *v)
{
    if (!v)
        return -ENOMEM;
    *result = v;
    return 0;
}

static char *fmt_repr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_repr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out;
    int r = vasprintf(&out, fmt, ap);
    va_end(ap);
    return r < 0 ? NULL : out;
}

/* ---- Queue / JoinableQueue (queue.Queue) ---------------------------------------------- */

typedef struct mqueue {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* any change: item added, removed, task done */
    mpx_obj **ring;
    size_t cap, head, count;
    int64_t maxsize;
    int64_t unfinished;
} mqueue;

static int q_grow(mqueue *q)
{
    size_t ncap = q->cap ? q->cap * 2 : 16;
    mpx_obj **r = malloc(ncap * sizeof *r);
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        r[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = r;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

static int q_put_common(mqueue *q, const mpx_obj *item, bool block, mpx__deadline d,
                        mpx_manager_call *call)
{
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    while (q->maxsize > 0 && (int64_t)q->count >= q->maxsize) {
        if (!block) {
            rc = MPX_EFULL;
            break;
        }
        rc = wait_slice(&q->cv, &q->mu, d, call);
        if (rc)
            break;
    }
    if (rc == MPX_ETIMEDOUT)
        rc = MPX_EFULL;
    if (!rc && q->count == q->cap)
        rc = q_grow(q);
    if (!rc) {
        q->ring[(q->head + q->count++) % q->cap] = mpx_obj_incref((mpx_obj *)item);
        q->unfinished++;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return rc == MPX_EFULL ? mpx_manager_raise(call, MPX_EFULL, NULL) : rc;
}

static int q_get_common(mqueue *q, mpx_obj **result, bool block, mpx__deadline d,
                        mpx_manager_call *call)
{
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    while (q->count == 0) {
        if (!block) {
            rc = MPX_EEMPTY;
            break;
        }
        rc = wait_slice(&q->cv, &q->mu, d, call);
        if (rc)
            break;
    }
    if (rc == MPX_ETIMEDOUT)
        rc = MPX_EEMPTY;
    if (!rc) {
        *result = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return rc == MPX_EEMPTY ? mpx_manager_raise(call, MPX_EEMPTY, NULL) : rc;
}

static int q_put(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                 mpx_manager_call *call)
{
    static const char *const names[] = {"item", "block", "timeout"};
    const mpx_obj *a[3];
    int rc = args2(call, "put", args, kwds, 3, names, a);
    if (rc)
        return rc;
    if (!a[0])
        return mpx_manager_raise(call, MPX_ETYPE, "put() missing 1 required positional argument: 'item'");
    bool block = truth(a[1], 1);
    mpx__deadline d = MPX__NEVER;
    if (block && (rc = timeout_of(call, a[2], false, &d)))
        return rc;
    return q_put_common(self, a[0], block, d, call);
}

static int q_put_nowait(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                        mpx_manager_call *call)
{
    static const char *const names[] = {"item"};
    const mpx_obj *a[1];
    int rc = args2(call, "put_nowait", args, kwds, 1, names, a);
    if (rc)
        return rc;
    if (!a[0])
        return mpx_manager_raise(call, MPX_ETYPE, "put_nowait() missing 1 required positional argument: 'item'");
    return q_put_common(self, a[0], false, MPX__NEVER, call);
}

static int q_get(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                 mpx_manager_call *call)
{
    static const char *const names[] = {"block", "timeout"};
    const mpx_obj *a[2];
    int rc = args2(call, "get", args, kwds, 2, names, a);
    if (rc)
        return rc;
    bool block = truth(a[0], 1);
    mpx__deadline d = MPX__NEVER;
    if (block && (rc = timeout_of(call, a[1], false, &d)))
        return rc;
    return q_get_common(self, result, block, d, call);
}

static int q_get_nowait(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                        mpx_manager_call *call)
{
    const mpx_obj *a[1];
    int rc = args2(call, "get_nowait", args, kwds, 0, NULL, a);
    return rc ? rc : q_get_common(self, result, false, MPX__NEVER, call);
}

static int q_qsize(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    mqueue *q = self;
    pthread_mutex_lock(&q->mu);
    int64_t n = (int64_t)q->count;
    pthread_mutex_unlock(&q->mu);
    return ret(result, mpx_obj_int(n));
}

static int q_empty(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    mqueue *q = self;
    pthread_mutex_lock(&q->mu);
    bool e = q->count == 0;
    pthread_mutex_unlock(&q->mu);
    return ret(result, mpx_obj_bool(e));
}

static int q_full(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    mqueue *q = self;
    pthread_mutex_lock(&q->mu);
    bool f = q->maxsize > 0 && (int64_t)q->count >= q->maxsize;
    pthread_mutex_unlock(&q->mu);
    return ret(result, mpx_obj_bool(f));
}

static int q_task_done(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                       mpx_manager_call *call)
{
    mqueue *q = self;
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    if (q->unfinished <= 0)
        rc = MPX_EINVAL;
    else if (--q->unfinished == 0)
        pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return rc ? mpx_manager_raise(call, rc, "task_done() called too many times") : 0;
}

static int q_join(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    mqueue *q = self;
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    while (q->unfinished > 0 && !rc)
        rc = wait_slice(&q->cv, &q->mu, MPX__NEVER, call);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static void q_release(void *self)
{
    mqueue *q = self;
    for (size_t i = 0; i < q->count; i++)
        mpx_obj_decref(q->ring[(q->head + i) % q->cap]);
    free(q->ring);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

static char *q_repr(void *self) { return fmt_repr("<queue.Queue object at %p>", self); }

static const mpx_manager_method q_methods[] = {
    {"empty", q_empty},         {"full", q_full},   {"get", q_get},
    {"get_nowait", q_get_nowait}, {"join", q_join}, {"put", q_put},
    {"put_nowait", q_put_nowait}, {"qsize", q_qsize}, {"task_done", q_task_done},
    {NULL, NULL}};

static const mpx_manager_class queue_class = {"Queue", q_methods, q_release, q_repr, NULL, 1, 0};

static int c_queue(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                   mpx_manager_call *call)
{
    static const char *const names[] = {"maxsize"};
    const mpx_obj *a[1];
    int rc = args2(call, "Queue", args, kwds, 1, names, a);
    if (rc)
        return rc;
    int64_t maxsize = 0;
    if (a[0] && mpx_obj_get_int(a[0], &maxsize))
        return mpx_manager_raise(call, MPX_ETYPE, "'%s' object cannot be interpreted as an integer",
                                 mpx_obj_type_name(a[0]));
    mqueue *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    pthread_mutex_init(&q->mu, NULL);
    cond_init(&q->cv);
    q->maxsize = maxsize;
    rc = mpx_referent_create(out, &queue_class, q);
    if (rc)
        q_release(q);
    return rc;
}

/* ---- Lock and RLock ------------------------------------------------------------------- */

typedef struct mlock {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool rlock;
    bool locked;
    const void *owner; /* RLock: the connection holding it */
    int64_t count;
} mlock;

static const void *owner_of(mpx_manager_call *call)
{
    return call && call->conn ? (const void *)call->conn : (const void *)call;
}

/* Acquire l for call: 2 acquired, 0 not (timeout / non-blocking),
 * MPX__MGR_WOULDBLOCK, or an error. */
static int lock_acquire(mlock *l, bool block, mpx__deadline d, mpx_manager_call *call)
{
    const void *me = owner_of(call);
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    if (l->rlock && l->locked && l->owner == me) {
        l->count++;
        pthread_mutex_unlock(&l->mu);
        return 2;
    }
    while (l->locked) {
        if (!block) {
            rc = MPX_ETIMEDOUT;
            break;
        }
        rc = wait_slice(&l->cv, &l->mu, d, call);
        if (rc)
            break;
    }
    if (!rc) {
        l->locked = true;
        l->owner = me;
        l->count = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return rc == MPX_ETIMEDOUT ? 0 : rc ? rc : 2;
}

static int lock_release(mlock *l, mpx_manager_call *call)
{
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    if (!l->locked)
        rc = 1;
    else if (l->rlock && l->owner != owner_of(call))
        rc = 2;
    else if (!l->rlock || --l->count == 0) {
        l->locked = false;
        l->owner = NULL;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    if (rc)
        return mpx_manager_raise(call, MPX_ESTATE,
                                 l->rlock ? "cannot release un-acquired lock"
                                          : "release unlocked lock");
    return 0;
}

/* acquire(blocking=True, timeout=-1) of threading.Lock / RLock. */
static int lk_acquire(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                      mpx_manager_call *call)
{
    static const char *const names[] = {"blocking", "timeout"};
    const mpx_obj *a[2];
    int rc = args2(call, "acquire", args, kwds, 2, names, a);
    if (rc)
        return rc;
    bool block = truth(a[0], 1);
    mpx__deadline d = MPX__NEVER;
    if (a[1] && mpx_obj_typeof(a[1]) != MPX_OBJ_NONE) {
        double t;
        if (mpx_obj_get_float(a[1], &t))
            return mpx_manager_raise(call, MPX_ETYPE, "timeout must be a number");
        if (!block && t != -1)
            return mpx_manager_raise(call, MPX_EINVAL,
                                     "can't specify a timeout for a non-blocking call");
        if (t < 0 && t != -1)
            return mpx_manager_raise(call, MPX_EINVAL, "timeout value must be a non-negative number");
        if ((rc = timeout_of(call, a[1], true, &d)))
            return rc;
    }
    rc = lock_acquire(self, block, d, call);
    if (rc < 0 || rc == MPX__MGR_WOULDBLOCK)
        return rc;
    return ret(result, mpx_obj_bool(rc == 2));
}

static int lk_release(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                      mpx_manager_call *call)
{
    if (mpx_obj_len(args) > 0)
        return mpx_manager_raise(call, MPX_ETYPE, "release() takes no arguments");
    return lock_release(self, call);
}

static int lk_locked(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    mlock *l = self;
    pthread_mutex_lock(&l->mu);
    bool v = l->locked;
    pthread_mutex_unlock(&l->mu);
    return ret(result, mpx_obj_bool(v));
}

static void lk_release_obj(void *self)
{
    mlock *l = self;
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

static char *lk_repr(void *self)
{
    mlock *l = self;
    if (l->rlock)
        return fmt_repr("<%s _thread.RLock object owner=%lu count=%lld at %p>",
                        l->locked ? "locked" : "unlocked", (unsigned long)(uintptr_t)l->owner,
                        (long long)(l->locked ? l->count : 0), self);
    return fmt_repr("<%s _thread.lock object at %p>", l->locked ? "locked" : "unlocked", self);
}

static const mpx_manager_method lock_methods[] = {{"acquire", lk_acquire},
                                                  {"release", lk_release},
                                                  {"locked", lk_locked},
                                                  {NULL, NULL}};
static const mpx_manager_method rlock_methods[] = {
    {"acquire", lk_acquire}, {"release", lk_release}, {NULL, NULL}};

static const mpx_manager_class lock_class = {"lock", lock_methods, lk_release_obj, lk_repr,
                                             NULL, 1, 0};
static const mpx_manager_class rlock_class = {"RLock", rlock_methods, lk_release_obj, lk_repr,
                                              NULL, 1, 0};

static mlock *lock_new(bool rlock)
{
    mlock *l = calloc(1, sizeof *l);
    if (l) {
        pthread_mutex_init(&l->mu, NULL);
        cond_init(&l->cv);
        l->rlock = rlock;
    }
    return l;
}

static int c_lock_common(const mpx_obj *args, mpx_referent **out, mpx_manager_call *call,
                         bool rlock)
{
    if (mpx_obj_len(args) > 0)
        return mpx_manager_raise(call, MPX_ETYPE, "%s() takes no arguments",
                                 rlock ? "RLock" : "Lock");
    mlock *l = lock_new(rlock);
    if (!l)
        return -ENOMEM;
    int rc = mpx_referent_create(out, rlock ? &rlock_class : &lock_class, l);
    if (rc)
        lk_release_obj(l);
    return rc;
}

static int c_lock(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                  mpx_manager_call *call)
{
    return c_lock_common(args, out, call, false);
}

static int c_rlock(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                   mpx_manager_call *call)
{
    return c_lock_common(args, out, call, true);
}

/* ---- Semaphore and BoundedSemaphore ----------------------------------------------------- */

typedef struct msem {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t value, initial;
    bool bounded;
} msem;

static int sem_acquire(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                       mpx_manager_call *call)
{
    static const char *const names[] = {"blocking", "timeout"};
    const mpx_obj *a[2];
    int rc = args2(call, "acquire", args, kwds, 2, names, a);
    if (rc)
        return rc;
    bool block = truth(a[0], 1);
    if (!block && a[1] && mpx_obj_typeof(a[1]) != MPX_OBJ_NONE)
        return mpx_manager_raise(call, MPX_EINVAL, "can't specify timeout for non-blocking acquire");
    mpx__deadline d = MPX__NEVER;
    if ((rc = timeout_of(call, a[1], true, &d)))
        return rc;
    msem *s = self;
    pthread_mutex_lock(&s->mu);
    rc = 0;
    while (s->value == 0) {
        if (!block) {
            rc = MPX_ETIMEDOUT;
            break;
        }
        rc = wait_slice(&s->cv, &s->mu, d, call);
        if (rc)
            break;
    }
    if (!rc)
        s->value--;
    pthread_mutex_unlock(&s->mu);
    if (rc == MPX_ETIMEDOUT)
        return ret(result, mpx_obj_false());
    return rc ? rc : ret(result, mpx_obj_true());
}

static int sem_release(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                       mpx_manager_call *call)
{
    static const char *const names[] = {"n"};
    const mpx_obj *a[1];
    int rc = args2(call, "release", args, kwds, 1, names, a);
    if (rc)
        return rc;
    int64_t n = 1;
    if (a[0] && mpx_obj_get_int(a[0], &n))
        return mpx_manager_raise(call, MPX_ETYPE, "n must be an integer");
    if (n < 1)
        return mpx_manager_raise(call, MPX_EINVAL, "n must be one or more");
    msem *s = self;
    pthread_mutex_lock(&s->mu);
    if (s->bounded && s->value + n > s->initial)
        rc = MPX_EINVAL;
    else {
        s->value += n;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return rc ? mpx_manager_raise(call, rc, "Semaphore released too many times") : 0;
}

static void sem_release_obj(void *self)
{
    msem *s = self;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static char *sem_repr(void *self)
{
    msem *s = self;
    return s->bounded ? fmt_repr("<threading.BoundedSemaphore at %p: value=%lld/%lld>", self,
                                 (long long)s->value, (long long)s->initial)
                      : fmt_repr("<threading.Semaphore at %p: value=%lld>", self,
                                 (long long)s->value);
}

static const mpx_manager_method sem_methods[] = {
    {"acquire", sem_acquire}, {"release", sem_release}, {NULL, NULL}};
static const mpx_manager_class sem_class = {"Semaphore", sem_methods, sem_release_obj, sem_repr,
                                            NULL, 1, 0};
static const mpx_manager_class bsem_class = {"BoundedSemaphore", sem_methods, sem_release_obj,
                                             sem_repr, NULL, 1, 0};

static int c_sem_common(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                        mpx_manager_call *call, bool bounded)
{
    static const char *const names[] = {"value"};
    const mpx_obj *a[1];
    int rc = args2(call, bounded ? "BoundedSemaphore" : "Semaphore", args, kwds, 1, names, a);
    if (rc)
        return rc;
    int64_t v = 1;
    if (a[0] && mpx_obj_get_int(a[0], &v))
        return mpx_manager_raise(call, MPX_ETYPE, "value must be an integer");
    if (v < 0)
        return mpx_manager_raise(call, MPX_EINVAL, "semaphore initial value must be >= 0");
    msem *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    cond_init(&s->cv);
    s->value = s->initial = v;
    s->bounded = bounded;
    rc = mpx_referent_create(out, bounded ? &bsem_class : &sem_class, s);
    if (rc)
        sem_release_obj(s);
    return rc;
}

static int c_semaphore(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                       mpx_manager_call *call)
{
    return c_sem_common(args, kwds, out, call, false);
}

static int c_bsemaphore(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                        mpx_manager_call *call)
{
    return c_sem_common(args, kwds, out, call, true);
}

/* ---- Condition -------------------------------------------------------------------------- */

typedef struct waiter {
    bool notified;
    struct waiter *next;
} waiter;

typedef struct mcond {
    mpx_referent *lockref; /* the Lock / RLock object (shared with its own proxy) */
    mlock *lock;
    waiter *head, *tail; /* FIFO of waiters, under lock->mu */
} mcond;

static int cd_acquire(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                      mpx_manager_call *call)
{
    return lk_acquire(((mcond *)self)->lock, args, kwds, result, call);
}

static int cd_release(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                      mpx_manager_call *call)
{
    return lk_release(((mcond *)self)->lock, args, kwds, result, call);
}

static int cd_wait(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    static const char *const names[] = {"timeout"};
    const mpx_obj *a[1];
    int rc = args2(call, "wait", args, kwds, 1, names, a);
    if (rc)
        return rc;
    mpx__deadline d;
    if ((rc = timeout_of(call, a[0], true, &d)))
        return rc;
    if (call->nowait)
        return MPX__MGR_WOULDBLOCK; /* it releases the lock first: never on the dispatcher */
    mcond *c = self;
    mlock *l = c->lock;
    const void *me = owner_of(call);
    pthread_mutex_lock(&l->mu);
    if (!l->locked || (l->rlock && l->owner != me)) {
        pthread_mutex_unlock(&l->mu);
        return mpx_manager_raise(call, MPX_ESTATE, "cannot wait on un-acquired lock");
    }
    /* release the lock entirely (an RLock's whole count), wait for a
     * notify, then take it back with the same count */
    int64_t saved = l->count;
    l->locked = false;
    l->owner = NULL;
    l->count = 0;
    pthread_cond_broadcast(&l->cv);
    waiter w = {false, NULL};
    if (c->tail)
        c->tail->next = &w;
    else
        c->head = &w;
    c->tail = &w;
    rc = 0;
    while (!w.notified && !rc)
        rc = wait_slice(&l->cv, &l->mu, d, call);
    if (!w.notified) { /* unlink ourselves */
        waiter **pp = &c->head, *prev = NULL;
        while (*pp && *pp != &w) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = w.next;
            if (c->tail == &w)
                c->tail = prev;
        }
    }
    /* take the lock back, whatever happened (Python does too) */
    int rc2 = 0;
    while (l->locked && rc2 != MPX_ECLOSED)
        rc2 = wait_slice(&l->cv, &l->mu, MPX__NEVER, call);
    if (!l->locked) {
        l->locked = true;
        l->owner = me;
        l->count = saved;
    }
    pthread_mutex_unlock(&l->mu);
    if (rc == MPX_ECLOSED || rc2 == MPX_ECLOSED)
        return MPX_ECLOSED;
    return ret(result, mpx_obj_bool(w.notified));
}

static int cd_notify_n(mcond *c, int64_t n, mpx_manager_call *call)
{
    mlock *l = c->lock;
    pthread_mutex_lock(&l->mu);
    if (!l->locked || (l->rlock && l->owner != owner_of(call))) {
        pthread_mutex_unlock(&l->mu);
        return mpx_manager_raise(call, MPX_ESTATE, "cannot notify on un-acquired lock");
    }
    while (n-- > 0 && c->head) {
        waiter *w = c->head;
        c->head = w->next;
        if (!c->head)
            c->tail = NULL;
        w->notified = true;
    }
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static int cd_notify(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    static const char *const names[] = {"n"};
    const mpx_obj *a[1];
    int rc = args2(call, "notify", args, kwds, 1, names, a);
    if (rc)
        return rc;
    int64_t n = 1;
    if (a[0] && mpx_obj_get_int(a[0], &n))
        return mpx_manager_raise(call, MPX_ETYPE, "n must be an integer");
    return cd_notify_n(self, n, call);
}

static int cd_notify_all(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                         mpx_manager_call *call)
{
    return cd_notify_n(self, INT64_MAX, call);
}

static void cd_release_obj(void *self)
{
    mcond *c = self;
    mpx_referent_decref(c->lockref);
    free(c);
}

static char *cd_repr(void *self)
{
    mcond *c = self;
    char *l = lk_repr(c->lock), *out = NULL;
    int n = 0;
    for (waiter *w = c->head; w; w = w->next)
        n++;
    if (l)
        out = fmt_repr("<Condition(%s, %d)>", l, n);
    free(l);
    return out;
}

static const mpx_manager_method cond_methods[] = {
    {"acquire", cd_acquire}, {"release", cd_release},       {"wait", cd_wait},
    {"notify", cd_notify},   {"notify_all", cd_notify_all}, {"notifyAll", cd_notify_all},
    {NULL, NULL}};
static const mpx_manager_class cond_class = {"Condition", cond_methods, cd_release_obj, cd_repr,
                                             NULL, 1, 0};

/* Find the referent of a proxy value (RebuildProxy / Token) of this
 * server; a new reference or NULL. */
static mpx_referent *own_referent(mpx_manager_call *call, const mpx_obj *v)
{
    const mpx_obj *tok, *kw;
    const char *mod, *qn, *ident;
    if (!call || !call->srv || mpx__mgr_rebuild_parts(v, &tok, &mod, &qn, &kw) ||
        mpx__mgr_token_parts(tok, NULL, NULL, &ident))
        return NULL;
    mpx_referent *r = NULL;
    pthread_mutex_lock(&call->srv->mu);
    mpx__mgr_entry *e = mpx__mgr_find(call->srv, ident);
    if (e)
        r = mpx_referent_incref(e->ref);
    pthread_mutex_unlock(&call->srv->mu);
    return r;
}

static int c_condition(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                       mpx_manager_call *call)
{
    static const char *const names[] = {"lock"};
    const mpx_obj *a[1];
    int rc = args2(call, "Condition", args, kwds, 1, names, a);
    if (rc)
        return rc;
    mcond *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    if (a[0] && mpx_obj_typeof(a[0]) != MPX_OBJ_NONE) {
        mpx_referent *r = own_referent(call, a[0]);
        if (!r || (r->cls != &lock_class && r->cls != &rlock_class)) {
            mpx_referent_decref(r);
            free(c);
            return mpx_manager_raise(call, MPX_ETYPE,
                                     "Condition(lock): lock must be a Lock or RLock proxy of "
                                     "this manager");
        }
        c->lockref = r;
        c->lock = r->self;
    } else {
        mlock *l = lock_new(true);
        if (!l || (rc = mpx_referent_create(&c->lockref, &rlock_class, l))) {
            if (l)
                lk_release_obj(l);
            free(c);
            return rc ? rc : -ENOMEM;
        }
        c->lock = l;
    }
    rc = mpx_referent_create(out, &cond_class, c);
    if (rc)
        cd_release_obj(c);
    return rc;
}

/* ---- Event ------------------------------------------------------------------------------- */

typedef struct mevent {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool flag;
} mevent;

static int ev_set(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    mevent *e = self;
    pthread_mutex_lock(&e->mu);
    e->flag = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

static int ev_clear(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    mevent *e = self;
    pthread_mutex_lock(&e->mu);
    e->flag = false;
    pthread_mutex_unlock(&e->mu);
    return 0;
}

static int ev_is_set(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    mevent *e = self;
    pthread_mutex_lock(&e->mu);
    bool f = e->flag;
    pthread_mutex_unlock(&e->mu);
    return ret(result, mpx_obj_bool(f));
}

static int ev_wait(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    static const char *const names[] = {"timeout"};
    const mpx_obj *a[1];
    int rc = args2(call, "wait", args, kwds, 1, names, a);
    mpx__deadline d;
    if (rc || (rc = timeout_of(call, a[0], true, &d)))
        return rc;
    mevent *e = self;
    pthread_mutex_lock(&e->mu);
    while (!e->flag && !rc)
        rc = wait_slice(&e->cv, &e->mu, d, call);
    bool f = e->flag;
    pthread_mutex_unlock(&e->mu);
    if (rc == MPX_ECLOSED || rc == MPX__MGR_WOULDBLOCK)
        return rc;
    return ret(result, mpx_obj_bool(f));
}

static void ev_release_obj(void *self)
{
    mevent *e = self;
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

static char *ev_repr(void *self)
{
    mevent *e = self;
    return fmt_repr("<threading.Event at %p: %s>", self, e->flag ? "set" : "unset");
}

static const mpx_manager_method ev_methods[] = {
    {"clear", ev_clear},   {"isSet", ev_is_set}, {"is_set", ev_is_set},
    {"set", ev_set},       {"wait", ev_wait},    {NULL, NULL}};
static const mpx_manager_class event_class = {"Event", ev_methods, ev_release_obj, ev_repr, NULL,
                                              1, 0};

static int c_event(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                   mpx_manager_call *call)
{
    if (mpx_obj_len(args) > 0 || mpx_obj_len(kwds) > 0)
        return mpx_manager_raise(call, MPX_ETYPE, "Event() takes no arguments");
    mevent *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    pthread_mutex_init(&e->mu, NULL);
    cond_init(&e->cv);
    int rc = mpx_referent_create(out, &event_class, e);
    if (rc)
        ev_release_obj(e);
    return rc;
}

/* ---- Barrier ----------------------------------------------------------------------------- */

typedef struct mbarrier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t parties, count;
    uint64_t gen;       /* + 1 at each release of the waiters */
    uint64_t reset_gen; /* + 1 at each reset or abort (waiters get broken) */
    bool broken;
    int64_t dflt_ns; /* default timeout in ns; -1: none */
} mbarrier;

static int br_broken_err(mpx_manager_call *call)
{
    return mpx_manager_raise(call, MPX_EBROKEN, NULL);
}

static int br_wait(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    static const char *const names[] = {"timeout"};
    const mpx_obj *a[1];
    int rc = args2(call, "wait", args, kwds, 1, names, a);
    mpx__deadline d;
    if (rc || (rc = timeout_of(call, a[0], true, &d)))
        return rc;
    if (call->nowait)
        return MPX__MGR_WOULDBLOCK; /* it counts itself in first */
    mbarrier *b = self;
    if ((!a[0] || mpx_obj_typeof(a[0]) == MPX_OBJ_NONE) && b->dflt_ns >= 0)
        d = mpx__now_ns() + b->dflt_ns;
    pthread_mutex_lock(&b->mu);
    if (b->broken) {
        pthread_mutex_unlock(&b->mu);
        return br_broken_err(call);
    }
    int64_t index = b->count++;
    if (b->count == b->parties) {
        b->count = 0;
        b->gen++;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        return ret(result, mpx_obj_int(index));
    }
    uint64_t gen = b->gen, rgen = b->reset_gen;
    rc = 0;
    while (b->gen == gen && b->reset_gen == rgen && !b->broken && !rc)
        rc = wait_slice(&b->cv, &b->mu, d, call);
    bool ok = b->gen != gen;
    if (!ok && !b->broken && b->reset_gen == rgen) {
        /* timed out or aborted: the barrier breaks for everyone (Python) */
        b->broken = true;
        b->count--;
        pthread_cond_broadcast(&b->cv);
    } else if (!ok && b->reset_gen == rgen) {
        b->count--;
    }
    pthread_mutex_unlock(&b->mu);
    if (ok)
        return ret(result, mpx_obj_int(index));
    return rc == MPX_ECLOSED ? rc : br_broken_err(call);
}

static int br_abort(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    mbarrier *b = self;
    pthread_mutex_lock(&b->mu);
    b->broken = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

static int br_reset(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    mbarrier *b = self;
    pthread_mutex_lock(&b->mu);
    b->reset_gen++;
    b->count = 0;
    b->broken = false;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

static int br_attr(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    mbarrier *b = self;
    const char *name = mpx_obj_len(args) == 1 ? mpx_obj_str_value(mpx_obj_item(args, 0)) : NULL;
    if (!name)
        return mpx_manager_raise(call, MPX_ETYPE, "attribute name must be string");
    pthread_mutex_lock(&b->mu);
    mpx_obj *v = NULL;
    if (strcmp(name, "parties") == 0)
        v = mpx_obj_int(b->parties);
    else if (strcmp(name, "n_waiting") == 0)
        v = mpx_obj_int(b->count);
    else if (strcmp(name, "broken") == 0)
        v = mpx_obj_bool(b->broken);
    pthread_mutex_unlock(&b->mu);
    if (v)
        return ret(result, v);
    char msg[256];
    snprintf(msg, sizeof msg, "'Barrier' object has no attribute '%s'", name);
    mpx_obj *e = mpx__mgr_exc("builtins", "AttributeError", msg);
    if (!e)
        return -ENOMEM;
    int rc = mpx_manager_raise_exc(call, e);
    mpx_obj_decref(e);
    return rc;
}

static void br_release_obj(void *self)
{
    mbarrier *b = self;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

static char *br_repr(void *self)
{
    mbarrier *b = self;
    if (b->broken)
        return fmt_repr("<threading.Barrier at %p: broken>", self);
    return fmt_repr("<threading.Barrier at %p: waiters=%lld/%lld>", self, (long long)b->count,
                    (long long)b->parties);
}

static const mpx_manager_method br_methods[] = {{"__getattribute__", br_attr},
                                                {"wait", br_wait},
                                                {"abort", br_abort},
                                                {"reset", br_reset},
                                                {NULL, NULL}};
static const mpx_manager_class barrier_class = {"Barrier", br_methods, br_release_obj, br_repr,
                                                NULL, 1, 0};

static int c_barrier(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                     mpx_manager_call *call)
{
    static const char *const names[] = {"parties", "action", "timeout"};
    const mpx_obj *a[3];
    int rc = args2(call, "Barrier", args, kwds, 3, names, a);
    if (rc)
        return rc;
    int64_t parties;
    if (!a[0] || mpx_obj_get_int(a[0], &parties))
        return mpx_manager_raise(call, MPX_ETYPE, "Barrier() needs parties, an integer");
    if (parties < 1)
        return mpx_manager_raise(call, MPX_EINVAL, "parties must be > 0");
    if (a[1] && mpx_obj_typeof(a[1]) != MPX_OBJ_NONE)
        return mpx_manager_raise(call, MPX_ENOTSUP,
                                 "Barrier(action=...) needs a Python function: not in an mpx "
                                 "manager");
    mbarrier *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->dflt_ns = -1;
    double t;
    if (a[2] && mpx_obj_typeof(a[2]) != MPX_OBJ_NONE) {
        if (mpx_obj_get_float(a[2], &t) || t < 0) {
            free(b);
            return mpx_manager_raise(call, MPX_EINVAL, "timeout must be a non-negative number");
        }
        b->dflt_ns = t > 9.2e9 ? -1 : (int64_t)(t * 1e9);
    }
    pthread_mutex_init(&b->mu, NULL);
    cond_init(&b->cv);
    b->parties = parties;
    rc = mpx_referent_create(out, &barrier_class, b);
    if (rc)
        br_release_obj(b);
    return rc;
}

bool mpx__mgr_class_tries(const mpx_manager_class *cls)
{
    return cls == &queue_class || cls == &lock_class || cls == &rlock_class ||
           cls == &sem_class || cls == &bsem_class || cls == &cond_class ||
           cls == &event_class || cls == &barrier_class;
}

/* ---- callables by typeid ---------------------------------------------------------------- */

mpx_manager_callable mpx__mgr_sync_callable(const char *typeid)
{
    static const struct {
        const char *name;
        mpx_manager_callable fn;
    } t[] = {
        {"Queue", c_queue},         {"JoinableQueue", c_queue},
        {"Lock", c_lock},           {"RLock", c_rlock},
        {"Semaphore", c_semaphore}, {"BoundedSemaphore", c_bsemaphore},
        {"Condition", c_condition}, {"Event", c_event},
        {"Barrier", c_barrier},
    };
    for (size_t i = 0; i < MPX__ARRAY_LEN(t); i++)
        if (strcmp(t[i].name, typeid) == 0)
            return t[i].fn;
    return NULL;
}
