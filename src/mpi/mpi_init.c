/*
 * mpi_init.c - libmpx_mpi start-up and shut-down (docs/mpi.md).
 *
 * Under an MPI launcher (mpirun/mpiexec/srun: the launcher's variables are
 * in the environment) a constructor initialises MPI before main() in every
 * rank. World rank 0 returns to main(); every other rank, and every rank
 * started by MPI_Comm_spawn, runs the program's remaining constructors
 * (functions registered by name must be known) and then serves pools
 * until rank 0 exits: it never enters main(). Rank 0's exit handler stops
 * the dispatchers, sends T_EXIT to every worker rank, waits for their
 * T_BYE and finalises MPI.
 */
#include "mpi/mpi_internal.h"

#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const int mpx_mpi_linked = 1;
const mpx__backend_api *mx_api;

pthread_mutex_t mx_mpi_mu = PTHREAD_MUTEX_INITIALIZER;
int mx_rank = -1, mx_size = 0;
bool mx_finalizing;

static bool we_initialised; /* MPI_Init was ours (we finalise) */
static bool exit_hook;
static pthread_mutex_t ranks_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *rank_busy; /* static mode: per world rank */

static mpx_context mpi_ctx = {MPX__BACKEND, "mpi", NULL, &mx_pool_backend, false};

/* ---- small helpers ---------------------------------------------------- */

int64_t mx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mx_backoff(unsigned *idle, int max_us)
{
    unsigned n = ++*idle;
    if (n < 64) {
        for (int i = 0; i < 32; i++)
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#else
            __asm__ __volatile__("" ::: "memory");
#endif
        return;
    }
    if (n < 96) {
        sched_yield();
        return;
    }
    long us = 10L << ((n - 96) / 16 < 8 ? (n - 96) / 16 : 8);
    if (us > max_us)
        us = max_us;
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

int mx_buf_reserve(mx_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int mx_buf_put(mx_buf *b, const void *p, size_t n)
{
    int rc = mx_buf_reserve(b, n);
    if (!rc && n) {
        memcpy(b->p + b->len, p, n);
        b->len += n;
    }
    return rc;
}

int mx_buf_put_u32(mx_buf *b, uint32_t v)
{
    return mx_buf_put(b, &v, 4);
}

int mx_buf_put_u64(mx_buf *b, uint64_t v)
{
    return mx_buf_put(b, &v, 8);
}

int mx_buf_pad8(mx_buf *b)
{
    static const unsigned char z[8];
    return mx_buf_put(b, z, PX_PAD8(b->len) - b->len);
}

void mx_buf_free(mx_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* initargs: u32 count; per item u32 type, u32 0, then int64 / double /
 * u64 length + bytes padded to 8 (strings with their NUL). */
int mx_args_check(const mpx_args *a)
{
    for (size_t i = 0; a && i < mpx_args_count(a); i++) {
        int t = mpx_args_type(a, i);
        if (t == MPX_ARG_FD || t == MPX_ARG_OBJECT)
            return MPX_ENOTSUP;
    }
    return 0;
}

int mx_args_put(mx_buf *b, const mpx_args *a)
{
    size_t n = a ? mpx_args_count(a) : 0;
    int rc = mx_buf_put_u32(b, (uint32_t)n);
    if (!rc)
        rc = mx_buf_put_u32(b, 0);
    for (size_t i = 0; !rc && i < n; i++) {
        int t = mpx_args_type(a, i);
        rc = mx_buf_put_u32(b, (uint32_t)t);
        if (!rc)
            rc = mx_buf_put_u32(b, 0);
        if (rc)
            break;
        switch (t) {
        case MPX_ARG_INT: {
            int64_t v = mpx_args_int(a, i);
            rc = mx_buf_put(b, &v, 8);
            break;
        }
        case MPX_ARG_DOUBLE: {
            double v = mpx_args_double(a, i);
            rc = mx_buf_put(b, &v, 8);
            break;
        }
        case MPX_ARG_STR:
        case MPX_ARG_BYTES: {
            const void *p;
            size_t l;
            if (t == MPX_ARG_STR) {
                p = mpx_args_str(a, i);
                l = strlen(p) + 1;
            } else {
                mpx_args_get_bytes(a, i, &p, &l);
            }
            rc = mx_buf_put_u64(b, l);
            if (!rc)
                rc = mx_buf_put(b, p, l);
            if (!rc)
                rc = mx_buf_pad8(b);
            break;
        }
        default: rc = MPX_ENOTSUP;
        }
    }
    return rc;
}

int mx_args_get(const unsigned char *p, size_t len, mpx_args **out)
{
    if (len < 8)
        return MPX_EPROTO;
    uint32_t n = px_get32(p);
    size_t pos = 8;
    mpx_args *a = NULL;
    int rc = mpx_args_create(&a);
    for (uint32_t i = 0; !rc && i < n; i++) {
        if (pos + 16 > len) {
            rc = MPX_EPROTO;
            break;
        }
        uint32_t t = px_get32(p + pos);
        pos += 8;
        switch (t) {
        case MPX_ARG_INT: rc = mpx_args_add_int(a, (int64_t)px_get64(p + pos)); pos += 8; break;
        case MPX_ARG_DOUBLE: {
            double d;
            memcpy(&d, p + pos, 8);
            rc = mpx_args_add_double(a, d);
            pos += 8;
            break;
        }
        case MPX_ARG_STR:
        case MPX_ARG_BYTES: {
            uint64_t l = px_get64(p + pos);
            pos += 8;
            if (l > len - pos || (t == MPX_ARG_STR && (l == 0 || p[pos + l - 1] != 0))) {
                rc = MPX_EPROTO;
                break;
            }
            rc = t == MPX_ARG_STR ? mpx_args_add_str(a, (const char *)p + pos)
                                  : mpx_args_add_bytes(a, p + pos, (size_t)l);
            pos += PX_PAD8(l);
            break;
        }
        default: rc = MPX_EPROTO;
        }
    }
    if (rc) {
        mpx_args_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* ---- ranks of a static world ------------------------------------------- */

int mx_ranks_take(int n, int *ranks)
{
    if (n > mx_size - 1)
        return MPX_EINVAL;
    pthread_mutex_lock(&ranks_mu);
    int k = 0;
    for (int r = 1; r < mx_size && k < n; r++)
        if (!rank_busy[r])
            ranks[k++] = r;
    if (k < n) {
        pthread_mutex_unlock(&ranks_mu);
        return -EAGAIN;
    }
    for (int i = 0; i < n; i++)
        rank_busy[ranks[i]] = 1;
    pthread_mutex_unlock(&ranks_mu);
    return 0;
}

void mx_ranks_give(const int *ranks, int n)
{
    pthread_mutex_lock(&ranks_mu);
    for (int i = 0; i < n; i++)
        if (ranks[i] > 0 && ranks[i] < mx_size)
            rank_busy[ranks[i]] = 0;
    pthread_mutex_unlock(&ranks_mu);
}

int mx_ranks_free(void)
{
    pthread_mutex_lock(&ranks_mu);
    int k = 0;
    for (int r = 1; r < mx_size; r++)
        k += !rank_busy[r];
    pthread_mutex_unlock(&ranks_mu);
    return k;
}

/* ---- a worker rank that crashes: say so, then die as MPI expects ----- */

static struct sigaction old_act[32];
static int crash_rank;

static void crash_handler(int sig)
{
    char msg[160];
    int n = snprintf(msg, sizeof msg,
                     "mpx: MPI worker rank %d (pid %d) died with signal %d (SIG%s) while running a "
                     "pool task; MPI ends the whole job\n",
                     crash_rank, (int)getpid(), sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    if (n > 0) {
        ssize_t w = write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        (void)w;
    }
    sigaction(sig, &old_act[sig], NULL); /* MPI's own report, if any */
    raise(sig);
}

static void install_crash_report(int rank)
{
    crash_rank = rank;
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = crash_handler;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, &old_act[sigs[i]]);
}

/* ---- constructors after ours (a worker rank never returns to main) ---- */

typedef void (*init_fn)(int, char **, char **);

typedef struct ctor_walk {
    uintptr_t self;
    int argc;
    char **argv, **envp;
    int idx; /* modules seen: the first is the program */
} ctor_walk;

/* Run, for the module containing our constructor, the constructors after
 * it; and for the program itself (when we are a shared library: its
 * constructors run after every library's), all of them. */
static int ctor_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    ctor_walk *w = data;
    bool is_main = w->idx++ == 0;
    bool mine = false;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && w->self >= lo && w->self - lo < ph->p_memsz)
            mine = true;
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
    }
    if (!mine && !is_main)
        return 0;
    uintptr_t arr = 0;
    size_t sz = 0;
    for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_INIT_ARRAY)
            arr = dyn->d_un.d_ptr;
        else if (dyn->d_tag == DT_INIT_ARRAYSZ)
            sz = dyn->d_un.d_val;
    }
    if (!arr)
        return 0;
    init_fn *a = (init_fn *)(arr + info->dlpi_addr);
    size_t n = sz / sizeof(init_fn), i = 0;
    if (mine) {
        while (i < n && (uintptr_t)a[i] != w->self)
            i++;
        i++; /* after ours */
    }
    for (; i < n; i++)
        if (a[i] && (uintptr_t)a[i] != (uintptr_t)-1)
            a[i](w->argc, w->argv, w->envp);
    return 0;
}

/* ---- start-up ---------------------------------------------------------- */

static bool launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

static void at_exit(void)
{
    mpx_mpi_finalize();
}

/* Initialise (when needed); decide whether this process is a worker. */
static int init_common(bool *worker, MPI_Comm *serve_comm, bool *spawned)
{
    int inited = 0, fin = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&fin);
    if (fin)
        return MPX_ESTATE;
    int provided = 0;
    if (!inited) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
            return MPX_EPROTO;
        we_initialised = true;
    } else {
        MPI_Query_thread(&provided);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &mx_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mx_size);
    MPI_Comm parent = MPI_COMM_NULL;
    MPI_Comm_get_parent(&parent);
    *spawned = parent != MPI_COMM_NULL;
    *worker = *spawned || mx_rank > 0;
    *serve_comm = *spawned ? parent : MPI_COMM_WORLD;
    if (!*worker && provided < MPI_THREAD_SERIALIZED) {
        mpx_log(MPX_LOG_WARNING, "mpx: the MPI library gives thread level %d; the mpi context "
                                 "needs MPI_THREAD_SERIALIZED", provided);
        return MPX_ENOTSUP;
    }
    if (!*worker) {
        rank_busy = calloc((size_t)mx_size, 1);
        if (!rank_busy)
            return -ENOMEM;
        if (!exit_hook) {
            exit_hook = true;
            atexit(at_exit);
        }
    }
    return 0;
}

static __attribute__((noreturn)) void become_worker(MPI_Comm comm, bool spawned, int argc,
                                                    char **argv, char **envp, void *self)
{
    ctor_walk w = {(uintptr_t)self, argc, argv, envp, 0};
    dl_iterate_phdr(ctor_cb, &w);
    install_crash_report(mx_rank);
    mx_serve(comm, spawned);
    fflush(NULL);
    MPI_Finalize();
    exit(0);
}

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static int init_rc = 1; /* 1: not tried */

static int register_ctx(void)
{
    if (!mx_api)
        mx_api = mpx_backend_api(MPX__BACKEND_ABI);
    if (!mx_api)
        return MPX_EPROTO;
    return mx_api->context_register(&mpi_ctx);
}

__attribute__((constructor)) static void mx_ctor(int argc, char **argv, char **envp)
{
    if (register_ctx()) {
        fprintf(stderr, "mpx: libmpx_mpi does not match libmpx (another build): the mpi "
                        "context is not available\n");
        return;
    }
    const char *aut = getenv("MPX_MPI_AUTO");
    if ((aut && !strcmp(aut, "0")) || !launched_by_mpi())
        return;
    bool worker = false, spawned = false;
    MPI_Comm comm = MPI_COMM_NULL;
    pthread_mutex_lock(&init_mu);
    init_rc = init_common(&worker, &comm, &spawned);
    pthread_mutex_unlock(&init_mu);
    if (init_rc)
        return;
    if (worker)
        become_worker(comm, spawned, argc, argv, envp, (void *)mx_ctor);
}

int mx_ensure_init(void)
{
    pthread_mutex_lock(&init_mu);
    if (init_rc == 1) {
        bool worker = false, spawned = false;
        MPI_Comm comm;
        init_rc = init_common(&worker, &comm, &spawned);
        if (!init_rc && worker) {
            /* a pool created in a worker rank's constructor: nothing sane */
            init_rc = MPX_ESTATE;
        }
    }
    int rc = init_rc;
    if (!rc && mx_finalizing)
        rc = MPX_ESTATE;
    pthread_mutex_unlock(&init_mu);
    return rc;
}

MPX_API int mpx_mpi_init(void)
{
    int rc = register_ctx();
    if (rc)
        return rc;
    pthread_mutex_lock(&init_mu);
    bool worker = false, spawned = false;
    MPI_Comm comm = MPI_COMM_NULL;
    if (init_rc == 1)
        init_rc = init_common(&worker, &comm, &spawned);
    rc = init_rc;
    pthread_mutex_unlock(&init_mu);
    if (!rc && worker) {
        /* from main(): every constructor has run */
        install_crash_report(mx_rank);
        mx_serve(comm, spawned);
        fflush(NULL);
        MPI_Finalize();
        exit(0);
    }
    return rc;
}

MPX_API int mpx_mpi_world(int *rank, int *size)
{
    int inited = 0, fin = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&fin);
    if (!inited || fin || mx_rank < 0)
        return MPX_ESTATE;
    if (rank)
        *rank = mx_rank;
    if (size)
        *size = mx_size;
    return 0;
}

/* Send T_EXIT to every worker rank of the world and wait (bounded) for
 * their T_BYE, discarding whatever else they still send. */
static void stop_world_workers(void)
{
    int nw = mx_size - 1;
    if (nw <= 0)
        return;
    MPI_Request *rq = calloc((size_t)nw, sizeof *rq);
    unsigned char *bye = calloc((size_t)mx_size, 1);
    if (!rq || !bye) {
        free(rq);
        free(bye);
        MPI_Abort(MPI_COMM_WORLD, 1);
        return;
    }
    for (int r = 1; r < mx_size; r++)
        MPI_Isend(NULL, 0, MPI_BYTE, r, T_EXIT, MPI_COMM_WORLD, &rq[r - 1]);
    int left = nw;
    int64_t deadline = mx_now_ns() + 10 * 1000000000LL;
    unsigned idle = 0;
    mx_buf junk = {0};
    while (left > 0) {
        int flag = 0;
        MPI_Message m;
        MPI_Status st;
        MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &m, &st);
        if (!flag) {
            if (mx_now_ns() > deadline) {
                fprintf(stderr, "mpx: %d MPI worker rank(s) did not stop within 10 s of the end "
                                "of rank 0 (a task still running?); aborting the job\n",
                        left);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            mx_backoff(&idle, 1000);
            continue;
        }
        idle = 0;
        int cnt = 0;
        MPI_Get_count(&st, MPI_BYTE, &cnt);
        junk.len = 0;
        if (mx_buf_reserve(&junk, (size_t)cnt + 1))
            MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Mrecv(junk.p, cnt, MPI_BYTE, &m, MPI_STATUS_IGNORE);
        if (st.MPI_TAG == T_BYE && st.MPI_SOURCE > 0 && st.MPI_SOURCE < mx_size &&
            !bye[st.MPI_SOURCE]) {
            bye[st.MPI_SOURCE] = 1;
            left--;
        }
    }
    MPI_Waitall(nw, rq, MPI_STATUSES_IGNORE);
    mx_buf_free(&junk);
    free(rq);
    free(bye);
}

MPX_API int mpx_mpi_finalize(void)
{
    int inited = 0, fin = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&fin);
    if (!inited || fin || mx_rank != 0)
        return 0;
    pthread_mutex_lock(&init_mu);
    if (mx_finalizing) {
        pthread_mutex_unlock(&init_mu);
        return 0;
    }
    pthread_mutex_unlock(&init_mu);
    /* dispatchers stop (spawned workers of their pools are told to exit) */
    mx_dispatch_quiesce();
    pthread_mutex_lock(&mx_mpi_mu);
    pthread_mutex_lock(&init_mu);
    mx_finalizing = true;
    pthread_mutex_unlock(&init_mu);
    MPI_Comm parent = MPI_COMM_NULL;
    MPI_Comm_get_parent(&parent);
    if (parent == MPI_COMM_NULL)
        stop_world_workers();
    fflush(NULL);
    if (we_initialised)
        MPI_Finalize();
    pthread_mutex_unlock(&mx_mpi_mu);
    return 0;
}
