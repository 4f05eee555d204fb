/*
 * process.c - Process objects (PROC-01..33), the children registry,
 * current/parent process, exit handling (PROC-11, PROC-14), cpu counts.
 *
 * Division of work: this file owns the object and its state machine; the
 * start method's popen operations (context_internal.h) start the child
 * and wait for it. Locking: p->mu guards one object; children_mu guards
 * the registry list. Never take p->mu while holding children_mu.
 */
#include "core/boot.h"
#include "core/shm_internal.h"
#include "os/pidfd.h"
#include "os/proc.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

MPX__FORKHOT bool mpx__in_child;

static mpx_process main_proc;        /* "MainProcess" */
MPX__FORKHOT static mpx_process *current = &main_proc;
MPX__FORKHOT static mpx_process *parent_obj;      /* made on first use in a child */
MPX__FORKHOT static const char *parent_name;      /* NULL in the main process */
MPX__FORKHOT static pid_t parent_pid_v;
MPX__FORKHOT static pid_t real_parent_v;   /* who forked us (the fork server) */
MPX__FORKHOT static uint64_t parent_start_v; /* creator's start time, 0: not needed */
MPX__FORKHOT static pthread_mutex_t parent_mu = PTHREAD_MUTEX_INITIALIZER;
MPX__FORKHOT static pthread_mutex_t children_mu = PTHREAD_MUTEX_INITIALIZER;
MPX__FORKHOT static mpx_process *children;        /* started, not yet reaped */

/* ---- init and fork handlers ----------------------------------------- */

void mpx__process_init(void)
{
    main_proc.magic = MPX__PROC_MAGIC;
    pthread_mutex_init(&main_proc.mu, NULL);
    main_proc.refs = 1;
    main_proc.name = strdup("MainProcess");
    main_proc.pid = getpid();
    main_proc.creator = main_proc.pid;
    main_proc.state = MPX__P_STARTED;
    main_proc.is_current = true;
    main_proc.sentinel = -1;
    main_proc.authkey_len = 32;
    if (getrandom(main_proc.authkey, 32, 0) != 32) {
        /* getrandom cannot fail for 32 bytes once the pool is ready; fall
         * back to the clock rather than leave a zero key. */
        int64_t t = mpx__now_ns() ^ (int64_t)getpid() << 32;
        for (int i = 0; i < 32; i++)
            main_proc.authkey[i] ^= (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)(i * 131);
    }
}

void mpx__process_atfork_prepare(void)
{
    pthread_mutex_lock(&children_mu);
}

void mpx__process_atfork_parent(void)
{
    pthread_mutex_unlock(&children_mu);
}

void mpx__process_atfork_child(void)
{
    /* The parent's children are not ours (their objects stay valid for
     * reading, but we must not wait for them). */
    children = NULL;
    pthread_mutex_unlock(&children_mu);
    pthread_mutex_init(&parent_mu, NULL); /* another thread may have held it */
    /* A fork made inside a thread "process" (thread context) is a process
     * now, not that thread. */
    mpx__thread_forget();
}

/* ---- helpers -------------------------------------------------------- */

static bool valid(const mpx_process *p)
{
    return p && p->magic == MPX__PROC_MAGIC;
}

int mpx__status_to_exitcode(int status)
{
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 255;
}

void mpx__process_set_exit(mpx_process *p, int exitcode)
{
    if (p->has_exit)
        return;
    p->exitcode = exitcode;
    __atomic_store_n(&p->has_exit, true, __ATOMIC_RELEASE);
    p->state = MPX__P_STOPPED;
}

/* refs is atomic: the registry changes it under children_mu, users under
 * p->mu. Every caller that may drop the last reference holds none of the
 * locks. */
static void release(mpx_process *p)
{
    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    p->magic = 0;
    free(p->name);
    if (p->udata_size)
        free(p->udata);
    mpx_args_destroy(p->args);
    mpx__close(p->sentinel);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void registry_add(mpx_process *p)
{
    pthread_mutex_lock(&children_mu);
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    p->in_registry = true;
    p->next_child = children;
    children = p;
    pthread_mutex_unlock(&children_mu);
}

/* Called with p->mu held, after the exit was recorded. */
static void registry_remove_locked(mpx_process *p)
{
    bool drop = false;
    pthread_mutex_lock(&children_mu);
    if (p->in_registry) {
        for (mpx_process **pp = &children; *pp; pp = &(*pp)->next_child)
            if (*pp == p) {
                *pp = p->next_child;
                break;
            }
        p->in_registry = false;
        drop = true;
    }
    pthread_mutex_unlock(&children_mu);
    if (drop)
        __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL); /* callers hold another */
}

static void finish_locked(mpx_process *p)
{
    if (p->ctx && p->ctx->ops && p->ctx->ops->cleanup)
        p->ctx->ops->cleanup(p);
    MPX__DEBUG("process %s (pid %d) ended with exitcode %d", p->name, (int)p->pid, p->exitcode);
    registry_remove_locked(p);
}

/* Non-blocking: has p ended? Reaps it. Returns 1 ended, 0 running. */
static int poll_locked(mpx_process *p)
{
    if (p->has_exit)
        return 1;
    if (p->state != MPX__P_STARTED || !p->ctx->ops)
        return 0;
    if (p->ctx->ops->poll(p) == 1) {
        finish_locked(p);
        return 1;
    }
    return 0;
}

/* ---- create --------------------------------------------------------- */

MPX_API int mpx_process_create(mpx_process **out, mpx_target_fn target, const mpx_args *args,
                               const mpx_process_opts *opts)
{
    mpx__global_init();
    if (!out)
        return MPX_EINVAL;
    mpx_process_opts o = {0};
    if (opts)
        o = *opts;
    mpx_process *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    p->refs = 1;
    p->sentinel = -1;
    p->target = target;
    p->run = o.run;
    p->ctx = o.ctx ? o.ctx : mpx__context_default();
    p->ctx_explicit = o.ctx != NULL;
    p->creator = getpid();
    p->state = MPX__P_INITIAL;
    int rc = mpx__args_copy(args, &p->args);
    if (rc) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return rc;
    }
    if (o.udata_size) {
        p->udata = malloc(o.udata_size);
        if (!p->udata) {
            mpx_args_destroy(p->args);
            pthread_mutex_destroy(&p->mu);
            free(p);
            return -ENOMEM;
        }
        memcpy(p->udata, o.udata, o.udata_size);
        p->udata_size = o.udata_size;
    } else {
        p->udata = o.udata;
    }

    mpx_process *cur = current;
    if (p->ctx->threads) {
        /* dummy.Process is a threading.Thread: named "Thread-N" by one
         * counter of the process, no process identity; daemon inherit is
         * the creating thread's flag (D3); the authkey is the process's. */
        static _Atomic int thread_counter;
        mpx_process *by = mpx_current_process();
        p->made_by = by;
        p->daemon = o.daemon == MPX_DAEMON_INHERIT ? by->daemon : o.daemon != 0;
        pthread_mutex_lock(&cur->mu);
        memcpy(p->authkey, cur->authkey, cur->authkey_len);
        p->authkey_len = cur->authkey_len;
        pthread_mutex_unlock(&cur->mu);
        if (o.name)
            p->name = strdup(o.name);
        else if (asprintf(&p->name, "Thread-%d", ++thread_counter) < 0)
            p->name = NULL;
        goto named;
    }
    pthread_mutex_lock(&cur->mu);
    int count = ++cur->child_counter;
    /* a boolean (docs/design.md): 0 False, nonzero True; MPX_DAEMON_INHERIT
     * takes the creator's flag (PROC-04) */
    p->daemon = o.daemon == MPX_DAEMON_INHERIT ? cur->daemon : o.daemon != 0;
    memcpy(p->authkey, cur->authkey, cur->authkey_len);
    p->authkey_len = cur->authkey_len;
    p->identity_len = cur->identity_len < MPX__MAX_IDENTITY ? cur->identity_len + 1
                                                            : MPX__MAX_IDENTITY;
    memcpy(p->identity, cur->identity, sizeof(int) * (size_t)(p->identity_len - 1));
    p->identity[p->identity_len - 1] = count;
    pthread_mutex_unlock(&cur->mu);

    if (o.name) {
        p->name = strdup(o.name);
    } else {
        char buf[16 + MPX__MAX_IDENTITY * 12];
        size_t len = (size_t)snprintf(buf, sizeof buf, "Process-");
        for (int i = 0; i < p->identity_len; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, i ? ":%d" : "%d", p->identity[i]);
        p->name = strdup(buf);
    }
named:
    if (!p->name) {
        p->refs = 1;
        release(p);
        return -ENOMEM;
    }
    p->magic = MPX__PROC_MAGIC;
    *out = p;
    return 0;
}

/* ---- start ---------------------------------------------------------- */

static void sweep(void);
int mpx__fd_readable(int fd);

MPX_API int mpx_process_start(mpx_process *p)
{
    if (!valid(p))
        return MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    /* Made without a context: the default one at start, as Python's
     * Process resolves it in start() (set_start_method after create
     * counts), which also fixes it for this process and its children. */
    /* The kind of backend (threads or processes) was chosen at create. */
    if (!p->ctx_explicit && p->state == MPX__P_INITIAL && !p->is_current && !p->is_parent &&
        p->creator == mpx__self_pid) {
        mpx_context *c = mpx__context_default_fix();
        if (c->threads == p->ctx->threads)
            p->ctx = c;
    }
    bool threads = p->ctx->threads;
    if (p->state == MPX__P_CLOSED)
        rc = MPX_ECLOSED;
    else if (p->state != MPX__P_INITIAL || p->is_current || p->is_parent)
        rc = MPX_ESTATE; /* started once only (PROC-06) */
    else if (p->creator != mpx__self_pid)
        rc = MPX_ESTATE; /* PROC-24 */
    else if (threads && p->made_by != mpx_current_process())
        rc = MPX_ESTATE; /* dummy: "Parent is X but current_process is Y" */
    else if (current->daemon && !threads)
        rc = MPX_ESTATE; /* daemonic processes are not allowed to have children (PROC-12) */
    else if (mpx__boot_in_progress())
        rc = MPX_ESTATE; /* GUIDE-12: from a constructor of a spawn child */
    else if (!p->ctx->ops)
        rc = MPX_ENOTSUP;
    else if (p->ctx->method != MPX__FORK && !threads && p->udata && !p->udata_size)
        rc = MPX_ECONTEXT; /* a bare pointer means nothing after exec */
    if (rc) {
        pthread_mutex_unlock(&p->mu);
        if (rc == MPX_ESTATE && threads && p->made_by != mpx_current_process() &&
            p->state == MPX__P_INITIAL)
            MPX__WARNING("%s was made by another thread \"process\" than the one "
                         "starting it", p->name);
        else if (rc == MPX_ESTATE && current->daemon && !threads)
            MPX__WARNING("daemonic processes are not allowed to have children");
        else if (rc == MPX_ESTATE && mpx__boot_in_progress())
            MPX__WARNING("an attempt has been made to start a new process before the "
                         "current process has finished its bootstrapping phase");
        return rc;
    }
    pthread_mutex_unlock(&p->mu);
    sweep(); /* GUIDE-04: reap finished children on each start */
    pthread_mutex_lock(&p->mu);
    rc = mpx__args_check_context(p->args, p->ctx);
    /* Every process of the program holds the shm tracker's liveness pipe
     * (shm_track.c): made before the first child. */
    if (!rc)
        rc = mpx__shm_prog_ensure();
    if (!rc) {
        fflush(stdout);
        fflush(stderr);
        /* started before the start: a thread of the thread context runs
         * at once and must see itself started (Python's Thread.start) */
        p->state = MPX__P_STARTED;
        rc = p->ctx->ops->start(p);
        if (rc)
            p->state = MPX__P_INITIAL; /* nothing left behind: start again */
    }
    if (!rc) {
        /* Descriptors passed in the arguments now live in the child. */
        registry_add(p);
        MPX__DEBUG("started process %s (pid %d, %s)", p->name, (int)p->pid, p->ctx->name);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- wait ------------------------------------------------------------ */

static int parent_join(mpx_process *p, mpx_duration timeout);
static bool parent_alive(void);

MPX_API int mpx_process_join(mpx_process *p, mpx_duration timeout)
{
    if (!valid(p))
        return MPX_EINVAL;
    if (p->is_parent) { /* MISC-04: wait for the parent's end */
        int r = parent_join(p, timeout);
        return r == 0 ? 1 : r == MPX_ETIMEDOUT ? 0 : r; /* yes/no, as below */
    }
    pthread_mutex_lock(&p->mu);
    int state = p->state;
    bool mine = p->creator == mpx__self_pid && !p->is_current && !p->is_parent;
    pthread_mutex_unlock(&p->mu);
    if (state == MPX__P_CLOSED)
        return MPX_ECLOSED;
    if (p->is_current || p == mpx__thread_self())
        return MPX_ESTATE; /* can only join a child process, not itself */
    if (state == MPX__P_INITIAL || !mine)
        return MPX_ESTATE; /* can only join a started process, and only its creator */
    if (__atomic_load_n(&p->has_exit, __ATOMIC_ACQUIRE))
        return 1;
    mpx__deadline d = mpx__deadline_from(timeout);
    int rc;
    for (;;) {
        rc = p->ctx->ops->wait(p, d);
        pthread_mutex_lock(&p->mu);
        if (rc == 0 && p->state != MPX__P_CLOSED) {
            if (poll_locked(p) != 1)
                rc = MPX_ETIMEDOUT;
        } else if (p->has_exit) {
            rc = 0;
        }
        pthread_mutex_unlock(&p->mu);
        /* The sentinel was ready but the process has not ended (the fork
         * server died and the sentinel changed): wait again. */
        if (rc != MPX_ETIMEDOUT || mpx__deadline_expired(d))
            break;
    }
    if (rc == 0)
        MPX__SUBDEBUG("joined process %s", p->name);
    /* yes/no (docs/design.md): 1 ended, 0 still running at the deadline */
    return rc == 0 ? 1 : rc == MPX_ETIMEDOUT ? 0 : rc;
}

MPX_API int mpx_process_is_alive(mpx_process *p)
{
    if (!valid(p))
        return MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    int rc;
    if (p->state == MPX__P_CLOSED)
        rc = MPX_ECLOSED;
    else if (p->is_current)
        rc = 1;
    else if (p->is_parent)
        rc = p->sentinel >= 0 ? !mpx__fd_readable(p->sentinel) : parent_alive();
    else if (p->state == MPX__P_INITIAL)
        rc = 0;
    else if (p->creator != mpx__self_pid)
        rc = MPX_ESTATE;
    else
        rc = !poll_locked(p);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

MPX_API int mpx_process_exitcode(mpx_process *p, int *code)
{
    if (!valid(p))
        return MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    int rc;
    if (p->state == MPX__P_CLOSED)
        rc = MPX_ECLOSED;
    else if (!p->is_current && !p->is_parent && p->state == MPX__P_STARTED &&
             p->creator == mpx__self_pid)
        rc = poll_locked(p);
    else
        rc = p->has_exit ? 1 : 0;
    if (rc == 1 && code)
        *code = p->exitcode;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

MPX_API pid_t mpx_process_pid(const mpx_process *p)
{
    return valid(p) ? p->pid : 0;
}

MPX_API int mpx_process_sentinel(mpx_process *p)
{
    if (!valid(p))
        return MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    int rc = p->state == MPX__P_CLOSED  ? MPX_ECLOSED
             : p->state == MPX__P_INITIAL ? MPX_ESTATE
             : p->sentinel >= 0           ? p->sentinel
                                          : MPX_ESTATE;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int send_signal(mpx_process *p, int sig)
{
    if (!valid(p))
        return MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    if (p->state == MPX__P_CLOSED)
        rc = MPX_ECLOSED;
    else if (p->ctx && p->ctx->ops && !p->ctx->ops->signal && !p->is_current && !p->is_parent)
        rc = MPX_ENOTSUP; /* a thread (thread context) cannot be stopped, at any state */
    else if (p->state == MPX__P_INITIAL || p->is_current || p->is_parent ||
             p->creator != mpx__self_pid)
        rc = MPX_ESTATE;
    else if (!p->has_exit && !poll_locked(p)) {
        rc = p->ctx->ops->signal(p, sig);
        if (rc == -ESRCH)
            rc = 0; /* ended meanwhile */
        MPX__DEBUG("sent %s to process %s (pid %d)", sig == SIGKILL ? "SIGKILL" : "SIGTERM",
                   p->name, (int)p->pid);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

MPX_API int mpx_process_terminate(mpx_process *p)
{
    return send_signal(p, SIGTERM);
}

MPX_API int mpx_process_kill(mpx_process *p)
{
    return send_signal(p, SIGKILL);
}

MPX_API int mpx_process_close(mpx_process *p)
{
    if (!valid(p))
        return MPX_EINVAL;
    if (p->is_current || p->is_parent)
        return MPX_ESTATE;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    if (p->state == MPX__P_CLOSED) {
        rc = 0;
    } else if (p->state == MPX__P_STARTED && !poll_locked(p)) {
        rc = MPX_ESTATE; /* cannot close a process while it is still running */
    } else {
        if (p->ctx->ops && p->ctx->ops->cleanup && p->state != MPX__P_INITIAL)
            p->ctx->ops->cleanup(p);
        mpx__close(p->sentinel);
        p->sentinel = -1;
        mpx_args_destroy(p->args);
        p->args = NULL;
        p->state = MPX__P_CLOSED;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

MPX_API void mpx_process_destroy(mpx_process *p)
{
    if (!valid(p) || p->is_current || p->is_parent)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->state == MPX__P_STARTED)
        poll_locked(p);
    pthread_mutex_unlock(&p->mu);
    release(p);
    /* else: still running and in the registry; freed when reaped. */
}

/* ---- attributes ------------------------------------------------------ */

MPX_API const char *mpx_process_name(const mpx_process *p)
{
    return valid(p) ? p->name : NULL;
}

MPX_API int mpx_process_set_name(mpx_process *p, const char *name)
{
    if (!valid(p) || !name)
        return MPX_EINVAL;
    char *n = strdup(name);
    if (!n)
        return -ENOMEM;
    pthread_mutex_lock(&p->mu);
    char *old = p->name;
    p->name = n;
    pthread_mutex_unlock(&p->mu);
    free(old);
    return 0;
}

MPX_API int mpx_process_daemon(const mpx_process *p)
{
    if (!valid(p))
        return MPX_EINVAL;
    return p->daemon ? 1 : 0;
}

MPX_API int mpx_process_set_daemon(mpx_process *p, int daemon)
{
    if (!valid(p))
        return MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    if (p->state == MPX__P_CLOSED)
        rc = MPX_ECLOSED;
    else if (p->state != MPX__P_INITIAL || p->is_current || p->is_parent)
        rc = MPX_ESTATE; /* process has already started */
    else
        p->daemon = daemon != 0;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

MPX_API int mpx_process_authkey(const mpx_process *p, void *key, size_t cap)
{
    if (!valid(p) || (!key && cap))
        return MPX_EINVAL;
    size_t n = p->authkey_len < cap ? p->authkey_len : cap;
    if (n)
        memcpy(key, p->authkey, n);
    return (int)p->authkey_len;
}

MPX_API int mpx_process_set_authkey(mpx_process *p, const void *key, size_t len)
{
    if (!valid(p) || !key || len == 0 || len > MPX__AUTHKEY_MAX)
        return MPX_EINVAL;
    pthread_mutex_lock(&p->mu);
    memcpy(p->authkey, key, len);
    p->authkey_len = len;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

MPX_API const char *mpx_process_state(mpx_process *p)
{
    if (!valid(p))
        return "invalid";
    int code;
    if (!p->is_current && !p->is_parent && p->state == MPX__P_STARTED)
        mpx_process_exitcode(p, &code);
    switch (p->state) {
    case MPX__P_INITIAL: return "initial";
    case MPX__P_STARTED: return "started";
    case MPX__P_STOPPED: return "stopped";
    default: return "closed";
    }
}

MPX_API char *mpx_process_describe(mpx_process *p)
{
    if (!valid(p))
        return NULL;
    const char *st = mpx_process_state(p);
    char status[64];
    pthread_mutex_lock(&p->mu);
    if (p->state == MPX__P_STOPPED && p->exitcode != 0) {
        if (p->exitcode < 0) {
            const char *sig = sigabbrev_np(-p->exitcode);
            if (sig)
                snprintf(status, sizeof status, "stopped[SIG%s]", sig);
            else
                snprintf(status, sizeof status, "stopped[%d]", p->exitcode);
        } else {
            snprintf(status, sizeof status, "stopped[%d]", p->exitcode);
        }
    } else {
        snprintf(status, sizeof status, "%s", st);
    }
    char *out = NULL;
    /* a thread of the thread context: Python's dummy repr */
    if (asprintf(&out, "<%s(%s, %s%s)>", p->ctx && p->ctx->threads ? "DummyProcess" : "Process",
                 p->name, status,
                 p->daemon && p->state != MPX__P_CLOSED ? " daemon" : "") < 0)
        out = NULL;
    pthread_mutex_unlock(&p->mu);
    return out;
}

/* ---- module functions -------------------------------------------------- */

MPX_API mpx_process *mpx_current_process(void)
{
    mpx__global_init();
    mpx_process *t = mpx__thread_self(); /* dummy: current_thread() */
    return t ? t : current;
}

uint64_t mpx__self_start_time(void)
{
    static pid_t st_pid; /* __atomic builtins: plain types (clang refuses _Atomic) */
    static uint64_t st_val;
    pid_t me = getpid();
    if (__atomic_load_n(&st_pid, __ATOMIC_ACQUIRE) == me)
        return __atomic_load_n(&st_val, __ATOMIC_RELAXED);
    char state;
    uint64_t start = 0;
    if (mpx__proc_stat(me, &state, &start) != 0)
        start = 0;
    __atomic_store_n(&st_val, start, __ATOMIC_RELAXED);
    __atomic_store_n(&st_pid, me, __ATOMIC_RELEASE);
    return start;
}

/*
 * Is our creator still running? Immune to pid reuse: when it forked or
 * spawned us itself, its death re-parents us at once (getppid changes);
 * under forkserver its pid must still carry the start time it sent us.
 */
static bool parent_alive(void)
{
    if (parent_pid_v == real_parent_v || !parent_start_v)
        return parent_pid_v == real_parent_v ? getppid() == parent_pid_v
                                             : kill(parent_pid_v, 0) == 0 || errno == EPERM;
    char state;
    uint64_t start;
    int rc = mpx__proc_stat(parent_pid_v, &state, &start);
    if (rc)
        return !(rc == -ENOENT || rc == -ESRCH);
    return start == parent_start_v && !mpx__proc_state_ended(state);
}

/* A descriptor that is readable at once: the sentinel of a parent that
 * had already gone when we first looked. */
static int dead_sentinel(void)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    close(fds[1]);
    return fds[0];
}

/* Python's _ParentProcess.join: wait (at most timeout) for the parent's
 * end. 0 when it has ended, MPX_ETIMEDOUT. */
static int parent_join(mpx_process *p, mpx_duration timeout)
{
    mpx__deadline d = mpx__deadline_from(timeout);
    for (;;) {
        if (p->sentinel >= 0) {
            struct pollfd pfd = {p->sentinel, POLLIN, 0};
            int r = poll(&pfd, 1, mpx__deadline_poll_ms(d));
            if (r > 0)
                return 0;
            if (r < 0 && errno != EINTR)
                return -errno;
        } else {
            /* No pidfd here (valgrind, old kernels): look every 10 ms. */
            if (!parent_alive())
                return 0;
            int ms = mpx__deadline_poll_ms(d);
            if (ms) {
                struct timespec t = {0, (ms < 0 || ms > 10 ? 10 : ms) * 1000000L};
                nanosleep(&t, NULL);
            }
        }
        if (mpx__deadline_expired(d))
            return p->sentinel >= 0 || parent_alive() ? MPX_ETIMEDOUT : 0;
    }
}

MPX_API mpx_process *mpx_parent_process(void)
{
    mpx__global_init();
    if (!parent_name)
        return NULL; /* the main process has no parent */
    pthread_mutex_lock(&parent_mu);
    if (!parent_obj) {
        mpx_process *par = calloc(1, sizeof *par);
        if (par) {
            pthread_mutex_init(&par->mu, NULL);
            par->magic = MPX__PROC_MAGIC;
            par->refs = 1;
            par->name = strdup(parent_name);
            par->pid = parent_pid_v;
            par->creator = getpid();
            par->state = MPX__P_STARTED;
            par->is_parent = true;
            par->ctx = current->ctx;
            /* The pidfd is the parent's when, after opening it, the
             * parent is still the one we know (parent_alive): a pid
             * reused since cannot pass that check. */
            par->sentinel = mpx__pidfd_open(parent_pid_v);
            if (par->sentinel >= 0 && !parent_alive()) {
                mpx__close(par->sentinel);
                par->sentinel = dead_sentinel();
            } else if (par->sentinel < 0 && par->sentinel != -ENOSYS) {
                /* ESRCH: gone already; other errors: the same answer is
                 * the safe one only when the check agrees. */
                par->sentinel = parent_alive() ? -1 : dead_sentinel();
            } else if (par->sentinel < 0) {
                par->sentinel = -1; /* no pidfds: join and is_alive poll */
            }
            if (par->sentinel >= 0)
                mpx__fd_mark_internal(par->sentinel, true);
            if (!par->name) {
                mpx__close(par->sentinel);
                pthread_mutex_destroy(&par->mu);
                free(par);
                par = NULL;
            }
        }
        parent_obj = par;
    }
    mpx_process *r = parent_obj;
    pthread_mutex_unlock(&parent_mu);
    return r;
}

/* Snapshot of the registry with a reference held on each entry. */
static size_t snapshot(mpx_process ***out)
{
    pthread_mutex_lock(&children_mu);
    size_t n = 0;
    for (mpx_process *c = children; c; c = c->next_child)
        n++;
    mpx_process **v = n ? malloc(n * sizeof *v) : NULL;
    size_t k = 0;
    if (v)
        for (mpx_process *c = children; c; c = c->next_child) {
            __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
            v[k++] = c;
        }
    pthread_mutex_unlock(&children_mu);
    *out = v;
    return k;
}

static void unref(mpx_process *p)
{
    release(p);
}

static void sweep(void)
{
    mpx_process **v;
    size_t n = snapshot(&v);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&v[i]->mu);
        poll_locked(v[i]);
        pthread_mutex_unlock(&v[i]->mu);
        unref(v[i]);
    }
    free(v);
}

MPX_API int mpx_active_children(mpx_process ***out, size_t *n)
{
    mpx__global_init();
    if (!out || !n)
        return MPX_EINVAL;
    sweep();
    mpx_process **v;
    size_t k = snapshot(&v);
    size_t live = 0;
    for (size_t i = 0; i < k; i++) {
        /* The registry keeps its own reference; hand out borrowed ones. */
        unref(v[i]);
        v[live++] = v[i];
    }
    if (!live) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = live;
    return 0;
}

MPX_API int mpx_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}


MPX_API int mpx_cpu_count_usable(void)
{
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0)
        n = mpx_cpu_count();
    int q = mpx__proc_cgroup_cpu_quota();
    if (q > 0 && q < n)
        n = q;
    return n > 0 ? n : 1;
}

/* ---- exit handling ------------------------------------------------------ */

static void (*exit_hooks[8])(void);
static int n_exit_hooks; /* atomic */

void mpx__process_on_exit(void (*fn)(void))
{
    int i = __atomic_fetch_add(&n_exit_hooks, 1, __ATOMIC_ACQ_REL);
    if (i < 8)
        __atomic_store_n(&exit_hooks[i], fn, __ATOMIC_RELEASE);
}

static void run_exit_hooks(void)
{
    int n = __atomic_load_n(&n_exit_hooks, __ATOMIC_ACQUIRE);
    for (int i = (n < 8 ? n : 8) - 1; i >= 0; i--) {
        void (*fn)(void) = __atomic_load_n(&exit_hooks[i], __ATOMIC_ACQUIRE);
        if (fn)
            fn();
    }
}

/* PROC-11 / PROC-14: terminate daemonic children, join the others. */
static void shutdown_children(void)
{
    mpx_process **v;
    size_t n = snapshot(&v);
    /* Threads of the thread context: the daemonic ones are left running
     * (the process ends under them, as Python abandons daemon threads);
     * the others are joined, as Python joins non-daemon threads at exit,
     * but only when the exit is not made by one of them (exit() in a
     * thread "process" ends the program without waiting for the others,
     * which might be waiting for it). */
    bool in_thread = mpx__thread_self() != NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool skip = !v[i]->ctx->ops->signal && (v[i]->daemon || in_thread);
        if (skip)
            unref(v[i]);
        else
            v[k++] = v[i];
    }
    n = k;
    for (size_t i = 0; i < n; i++)
        if (v[i]->daemon && mpx_process_is_alive(v[i]) == 1) {
            MPX__INFO("calling terminate() for daemon %s", v[i]->name);
            mpx_process_terminate(v[i]);
        }
    for (size_t i = 0; i < n; i++) {
        if (mpx_process_is_alive(v[i]) == 1)
            MPX__INFO("calling join() for process %s", v[i]->name);
        if (v[i]->daemon) {
            /* A daemon that ignores SIGTERM must not hold us forever. */
            if (mpx_process_join(v[i], 5000) == 0) { /* still running */
                mpx_process_kill(v[i]);
                mpx_process_join(v[i], MPX_FOREVER);
            }
        } else {
            mpx_process_join(v[i], MPX_FOREVER);
        }
        unref(v[i]);
    }
    free(v);
}

/* The end of a child (below) has handled its children already. */
static bool child_shut_down;

void mpx__process_exit_handler(void)
{
    if (mpx__self_pid != getpid() || child_shut_down)
        return; /* a raw fork child of ours inherited the handler */
    MPX__INFO("process shutting down");
    run_exit_hooks();
    shutdown_children();
    mpx__forkserver_stop();
}

/* ---- the child side --------------------------------------------------- */

void mpx__child_setup(mpx_process *p, pid_t parent_pid, pid_t real_parent, uint64_t parent_start)
{
    /* Under fork, the parent held p->mu while forking; fork_start has
     * released the copy (popen_fork.c). Re-initialised for every path. */
    pthread_mutex_init(&p->mu, NULL);
    mpx__thread_forget(); /* started from a thread "process": a process now */
    mpx__in_child = true;
    mpx__self_pid = getpid();
    if (p->daemon) {
        /* A daemonic child never outlives its parent, even when the parent
         * is killed with SIGKILL. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != real_parent)
            _exit(1);
    }
    /* PROC-26: stdin on the null device (opened once by the parent under
     * fork: two system calls fewer per child). */
    int nul = mpx__devnull_fd >= 0 ? mpx__devnull_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul >= 0) {
        if (nul != STDIN_FILENO) {
            dup2(nul, STDIN_FILENO);
            if (nul != mpx__devnull_fd)
                close(nul);
        }
    } else {
        close(STDIN_FILENO);
    }
    /* The parent object is made on first use (mpx_parent_process): a fork
     * child that never asks allocates nothing here, which keeps
     * copy-on-write faults, and so start latency, down. The creator's
     * name string stays valid: under fork it is the inherited copy, under
     * spawn/forkserver the imported one. A grandchild drops the parent
     * object it inherited. */
    mpx_process *old = parent_obj;
    parent_obj = NULL;
    if (old) {
        mpx__fd_mark_internal(old->sentinel, false);
        mpx__close(old->sentinel);
        free(old->name);
        free(old);
    }
    parent_name = current && current->name ? current->name : "MainProcess";
    parent_pid_v = parent_pid;
    real_parent_v = real_parent;
    parent_start_v = parent_start;
    /* A process made with an explicit context starts its own children
     * with that method by default (Python's _force_start_method in
     * _bootstrap); one made with the default context keeps its parent's
     * setting (inherited under fork, sent by spawn/forkserver). */
    if (p->ctx_explicit)
        mpx__context_set_fixed(p->ctx->name);
    pthread_mutex_lock(&p->mu);
    p->is_current = true;
    p->pid = getpid();
    p->parent_pid = parent_pid;
    p->state = MPX__P_STARTED;
    p->child_counter = 0;
    mpx__close(p->sentinel);
    p->sentinel = -1;
    pthread_mutex_unlock(&p->mu);
    current = p;
    children = NULL;
    MPX__INFO("child process calling self.run()");
}

/*
 * The end of a child (issue #13 item 12; Python 3.13's rule). A child
 * ends with exit(code), so the atexit/on_exit handlers it registered run
 * (last registered first). At the start of the target the child registers
 * an on_exit "barrier" handler; exit runs it once the child's own
 * handlers are done. It handles the children (daemonic ones terminated,
 * the others joined: PROC-11, PROC-14, Python's _exit_function, which
 * 3.13 also runs after the child's handlers) and then:
 *  - fork: flushes stdio and _exits: the handlers inherited from the
 *    parent, registered before the barrier, never run (3.13 clears them:
 *    atexit._clear() in popen_fork), and neither do static destructors;
 *  - spawn, forkserver: returns, and exit goes on as in any program: the
 *    handlers registered while this program image was set up
 *    (constructors, fork server preload functions) run, then static
 *    destructors (3.13 runs the handlers the re-imported main module
 *    registered).
 */
static pid_t barrier_pid;   /* the child that registered the barrier */
static bool barrier_fork;   /* started by fork: skip the inherited handlers */
static bool child_exiting;  /* exit() has been called by child_exit */

static void child_shut_down_once(void)
{
    if (child_shut_down)
        return;
    child_shut_down = true;
    MPX__INFO("process shutting down");
    run_exit_hooks();
    shutdown_children();
    mpx__forkserver_stop();
}

static void exit_barrier(int status, void *arg)
{
    MPX__UNUSED(arg);
    if (getpid() != barrier_pid)
        return; /* a plain fork() of the child: an ordinary exit */
    child_shut_down_once();
    if (barrier_fork) {
        fflush(NULL);
        _exit(status);
    }
}

static __attribute__((noreturn)) void child_exit(int code)
{
    if (!child_exiting)
        MPX__INFO("process exiting with exitcode %d", code);
    if (child_exiting || barrier_pid != getpid()) {
        /* mpx_exit from an exit handler, or no barrier: end here. */
        child_shut_down_once();
        fflush(NULL);
        _exit(code);
    }
    child_exiting = true;
    exit(code);
}

void mpx__child_run(mpx_process *p, mpx_args *args)
{
    /* objects inherited by fork: their own state in this child first */
    for (size_t i = 0; args && i < args->n; i++) {
        mpx__arg *g = &args->v[i];
        if (g->type == MPX_ARG_OBJECT && !g->imported) {
            mpx__obj *o = mpx__obj_of(g->v.obj);
            if (o && o->type->forked)
                o->type->forked(g->v.obj);
        }
    }
    child_shut_down = false;
    child_exiting = false;
    barrier_fork = p->ctx && p->ctx->method == MPX__FORK;
    barrier_pid = on_exit(exit_barrier, NULL) == 0 ? getpid() : 0;
    int rc;
    if (p->run)
        rc = p->run(p, args, p->udata);
    else if (p->target)
        rc = p->target(args);
    else
        rc = 0;
    int code = rc;
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "Process %s:\nerror %d %s: %s\n", p->name, rc, mpx_err_name(rc),
                mpx_strerror(rc));
        code = 1;
    }
    child_exit(code);
}

MPX_API void mpx_exit(int code)
{
    if (mpx__thread_self())
        mpx__thread_exit(code); /* ends the thread "process" only */
    if (mpx__in_child && mpx__self_pid == getpid())
        child_exit(code);
    exit(code);
}

/* ---- identity for spawn/forkserver children ------------------------------ */

int mpx__process_export_self(mpx_process *p, mpx__buf *out)
{
    int rc = mpx__buf_put_bytes(out, p->name, strlen(p->name));
    if (!rc)
        rc = mpx__buf_put_bytes(out, current->name, strlen(current->name));
    if (!rc)
        rc = mpx__buf_put_u8(out, p->daemon);
    if (!rc)
        rc = mpx__buf_put_bytes(out, p->authkey, p->authkey_len);
    if (!rc)
        rc = mpx__buf_put_u32(out, (uint32_t)p->identity_len);
    for (int i = 0; !rc && i < p->identity_len; i++)
        rc = mpx__buf_put_u32(out, (uint32_t)p->identity[i]);
    if (!rc)
        rc = mpx__buf_put_bytes(out, p->udata_size ? p->udata : NULL, p->udata_size);
    return rc;
}

int mpx__process_import_self(mpx__rd *in, mpx_process **out)
{
    const void *name, *pname, *key, *ud;
    size_t nlen, plen, klen, udlen;
    uint8_t daemon;
    uint32_t idlen;
    int rc = mpx__rd_bytes(in, &name, &nlen);
    if (!rc)
        rc = mpx__rd_bytes(in, &pname, &plen);
    if (!rc)
        rc = mpx__rd_u8(in, &daemon);
    if (!rc)
        rc = mpx__rd_bytes(in, &key, &klen);
    if (!rc)
        rc = mpx__rd_u32(in, &idlen);
    if (!rc && (klen > MPX__AUTHKEY_MAX || idlen > MPX__MAX_IDENTITY))
        rc = MPX_EPROTO;
    if (rc)
        return rc;
    mpx_process *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    p->magic = MPX__PROC_MAGIC;
    p->refs = 1;
    p->sentinel = -1;
    p->name = strndup(name, nlen);
    p->daemon = daemon;
    memcpy(p->authkey, key, klen);
    p->authkey_len = klen;
    p->identity_len = (int)idlen;
    for (uint32_t i = 0; !rc && i < idlen; i++) {
        uint32_t v;
        rc = mpx__rd_u32(in, &v);
        p->identity[i] = (int)v;
    }
    if (!rc)
        rc = mpx__rd_bytes(in, &ud, &udlen);
    if (!rc && udlen) {
        p->udata = malloc(udlen);
        if (p->udata) {
            memcpy(p->udata, ud, udlen);
            p->udata_size = udlen;
        } else
            rc = -ENOMEM;
    }
    /* The parent's name becomes the name of "current" before setup, so
     * that mpx__child_setup names the parent object correctly. */
    char *pn = strndup(pname, plen);
    if (!p->name || !pn)
        rc = -ENOMEM;
    if (rc) {
        free(pn);
        release(p);
        return rc;
    }
    free(main_proc.name);
    main_proc.name = pn;
    *out = p;
    return 0;
}

const char *mpx__process_name(void)
{
    mpx_process *c = current;
    return c && c->name ? c->name : "MainProcess";
}
