/*
 * boot.c - the bootstrap shared by the spawn and forkserver start methods
 * (CTX-02, CTX-04, MISC-05, GUIDE-12): the CHILD blob and the start-up of
 * a re-executed program before main().
 *
 * CHILD blob (after the header u32 magic, u8 version, u8 mode):
 *   u32 number of fds, u8 method, u8 flags (1: explicit context),
 *   u32 parent pid, u64 parent start time, u32 log level, u8 log to
 *   stderr, bytes fixed start method ("" when not fixed), bytes
 *   executable ("" when not set), u32 sync spin, u64 sync owner-check
 *   interval (ns), process identity (mpx__process_export_self), fnref
 *   target, fnref run, u8 mask of the program's shm tracker descriptors
 *   (shm_track.c: bit 0 the liveness pipe, bit 1 the table; they are the
 *   LAST fds of the list), arguments (mpx__args_export).
 * Everything a child takes from its parent's settings is read from the
 * parent at the time of the start (issue #12): the fork server's own
 * settings never leak into its children.
 */
#include "core/boot.h"
#include "core/fnref.h"
#include "core/shm_internal.h"
#include "core/sync_internal.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* True from the start of a re-executed program until its target runs. */
static bool boot_phase;

bool mpx__boot_in_progress(void)
{
    return __atomic_load_n(&boot_phase, __ATOMIC_RELAXED) || getenv(MPX__BOOT_ENV) != NULL;
}

int mpx__boot_send_rec(int fd, int kind, int value)
{
    mpx__boot_rec r = {kind, value};
    ssize_t n;
    do
        n = send(fd, &r, sizeof r, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof r ? 0 : n < 0 ? -errno : MPX_EPROTO;
}

int mpx__boot_put_header(mpx__buf *out, int mode)
{
    int rc = mpx__buf_put_u32(out, MPX__BOOT_MAGIC);
    if (!rc)
        rc = mpx__buf_put_u8(out, MPX__BOOT_VERSION);
    if (!rc)
        rc = mpx__buf_put_u8(out, (uint8_t)mode);
    return rc;
}

enum { BOOT_F_EXPLICIT_CTX = 1 };

int mpx__boot_encode_child(mpx_process *p, mpx__buf *out, mpx__fdlist *fds)
{
    int rc = mpx__boot_put_header(out, MPX__BOOT_CHILD);
    /* The fd count goes first (the bootstrap reads it before anything
     * else) but is known only after the arguments: reserve it. */
    size_t nfds_at = out->len;
    if (!rc)
        rc = mpx__buf_put_u32(out, 0);
    if (!rc)
        rc = mpx__buf_put_u8(out, (uint8_t)p->ctx->method);
    if (!rc)
        rc = mpx__buf_put_u8(out, p->ctx_explicit ? BOOT_F_EXPLICIT_CTX : 0);
    if (!rc)
        rc = mpx__buf_put_u32(out, (uint32_t)getpid());
    if (!rc)
        rc = mpx__buf_put_u64(out, mpx__self_start_time());
    if (!rc)
        rc = mpx__buf_put_u32(out, (uint32_t)mpx_log_get_level());
    if (!rc)
        rc = mpx__buf_put_u8(out, mpx__log_is_stderr());
    const char *fixed = mpx__context_fixed_name();
    if (!rc)
        rc = mpx__buf_put_bytes(out, fixed, fixed ? strlen(fixed) : 0);
    if (!rc)
        rc = mpx__context_encode_executable(out);
    if (!rc)
        rc = mpx__buf_put_u32(out, (uint32_t)mpx__sync_spin());
    if (!rc)
        rc = mpx__buf_put_u64(out, (uint64_t)mpx__sync_check_ns());
    if (!rc)
        rc = mpx__process_export_self(p, out);
    if (!rc)
        rc = mpx__fnref_encode(p->ctx, (mpx__fnptr)p->target, out);
    if (!rc)
        rc = mpx__fnref_encode(p->ctx, (mpx__fnptr)p->run, out);
    int prog_fds[2];
    int mask = mpx__shm_prog_child_fds(prog_fds);
    if (!rc)
        rc = mpx__buf_put_u8(out, (uint8_t)mask);
    if (!rc)
        rc = mpx__args_export(p->args, p->ctx, out, fds);
    for (int i = 0; !rc && i < (mask & 1) + ((mask >> 1) & 1); i++)
        rc = mpx__fdlist_add(fds, prog_fds[i]);
    if (!rc) {
        uint32_t n = (uint32_t)fds->n;
        unsigned char *q = out->data + nfds_at; /* big-endian, as put_u32 */
        q[0] = (unsigned char)(n >> 24);
        q[1] = (unsigned char)(n >> 16);
        q[2] = (unsigned char)(n >> 8);
        q[3] = (unsigned char)n;
    }
    return rc;
}

static __attribute__((noreturn)) void fail(int status_fd, int rc, int *fds, int nfds)
{
    for (int i = 0; fds && i < nfds; i++)
        mpx__close(fds[i]);
    mpx__boot_send_rec(status_fd, MPX__REC_STARTED, rc);
    _exit(1);
}

void mpx__boot_child(const void *blob, size_t len, int *fds, int nfds, int status_fd,
                     pid_t real_parent)
{
    mpx__rd r = {blob, len};
    uint32_t magic, ppid, level, nf, spin;
    uint64_t pstart, check_ns;
    uint8_t version, mode, method, flags, to_stderr;
    const void *fixed, *exe;
    size_t flen, elen;
    int rc = mpx__rd_u32(&r, &magic);
    if (!rc)
        rc = mpx__rd_u8(&r, &version);
    if (!rc)
        rc = mpx__rd_u8(&r, &mode);
    if (!rc && (magic != MPX__BOOT_MAGIC || version != MPX__BOOT_VERSION ||
                mode != MPX__BOOT_CHILD))
        rc = MPX_EPROTO;
    if (!rc)
        rc = mpx__rd_u32(&r, &nf);
    if (!rc)
        rc = mpx__rd_u8(&r, &method);
    if (!rc)
        rc = mpx__rd_u8(&r, &flags);
    if (!rc)
        rc = mpx__rd_u32(&r, &ppid);
    if (!rc)
        rc = mpx__rd_u64(&r, &pstart);
    if (!rc)
        rc = mpx__rd_u32(&r, &level);
    if (!rc)
        rc = mpx__rd_u8(&r, &to_stderr);
    if (!rc)
        rc = mpx__rd_bytes(&r, &fixed, &flen);
    if (!rc)
        rc = mpx__rd_bytes(&r, &exe, &elen);
    if (!rc)
        rc = mpx__rd_u32(&r, &spin);
    if (!rc)
        rc = mpx__rd_u64(&r, &check_ns);
    if (!rc && (nf != (uint32_t)nfds || flen > 32 || elen > 4095 || level > 1000 ||
                (method != MPX__SPAWN && method != MPX__FORKSERVER)))
        rc = MPX_EPROTO;
    if (rc)
        fail(status_fd, rc, fds, nfds);

    /* Logging first, so the rest of the bootstrap can be traced: exactly
     * the parent's level and stderr handler, whatever this program image
     * had (a fork server's own, MPX_LOG_LEVEL). A custom handler of the
     * parent is a pointer into the parent: it does not cross. */
    if (to_stderr)
        mpx_log_to_stderr(MPX_LOG_NOTSET);
    else
        mpx_log_set_handler(NULL, NULL);
    mpx_log_set_level((int)level);
    char fname[33];
    memcpy(fname, fixed, flen);
    fname[flen] = 0;
    mpx__context_set_fixed(flen ? fname : NULL);
    rc = mpx__context_adopt_executable(exe, elen);
    if (rc)
        fail(status_fd, rc, fds, nfds);
    mpx__sync_settings_adopt((int)spin, check_ns > INT64_MAX ? INT64_MAX : (int64_t)check_ns);

    mpx_process *p = NULL;
    rc = mpx__process_import_self(&r, &p);
    if (rc)
        fail(status_fd, rc, fds, nfds);
    p->ctx = mpx__context_by_method(method);
    p->ctx_explicit = (flags & BOOT_F_EXPLICIT_CTX) != 0;
    mpx__fnptr target = NULL, run = NULL;
    rc = mpx__fnref_decode(&r, &target);
    if (!rc)
        rc = mpx__fnref_decode(&r, &run);
    if (rc)
        fail(status_fd, rc, fds, nfds);
    p->target = (mpx_target_fn)target;
    p->run = (mpx_run_fn)run;
    for (int i = 0; i < nfds; i++)
        mpx__set_cloexec(fds[i], true);
    uint8_t mask = 0;
    rc = mpx__rd_u8(&r, &mask);
    int nprog = (mask & 1) + ((mask >> 1) & 1);
    if (!rc && (mask > 3 || nprog > nfds))
        rc = MPX_EPROTO;
    if (rc)
        fail(status_fd, rc, fds, nfds);
    mpx_args *args = NULL;
    rc = mpx__args_import(&r, fds, nfds - nprog, &args); /* owns those fds from here */
    if (!rc && r.left)
        rc = MPX_EPROTO;
    if (rc) {
        mpx_args_destroy(args);
        fail(status_fd, rc, fds + nfds - nprog, nprog);
    }
    /* The program's shm tracker descriptors: this process is part of the
     * program (shm_track.c). */
    if (nprog)
        rc = mpx__shm_prog_adopt(mask, fds + nfds - nprog, nprog);
    if (rc) {
        mpx_args_destroy(args);
        fail(status_fd, rc, NULL, 0);
    }
    mpx__child_setup(p, (pid_t)ppid, real_parent, (pid_t)ppid == real_parent ? 0 : pstart);
    p->args = args;
    rc = mpx__boot_send_rec(status_fd, MPX__REC_STARTED, 0);
    mpx__close(status_fd);
    if (rc)
        _exit(1); /* the parent has gone: it reported an error already */
    __atomic_store_n(&boot_phase, false, __ATOMIC_RELAXED);
    mpx__child_run(p, args);
}

/* ---- before main(): the re-executed program ---------------------------- */

typedef void (*init_fn)(int, char **, char **);

/* The init array of the module that contains this code (the program when
 * mpx is linked statically, libmpx.so otherwise). */
extern init_fn __init_array_start[] __attribute__((weak, visibility("hidden")));
extern init_fn __init_array_end[] __attribute__((weak, visibility("hidden")));

typedef struct main_init {
    uintptr_t self;
    bool self_in_main;
    init_fn *arr;
    size_t n;
} main_init;

static int main_init_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    main_init *m = data;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && m->self >= lo && m->self - lo < ph->p_memsz)
            m->self_in_main = true;
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
    }
    uintptr_t arr = 0;
    size_t sz = 0;
    for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_INIT_ARRAY)
            arr = dyn->d_un.d_ptr;
        else if (dyn->d_tag == DT_INIT_ARRAYSZ)
            sz = dyn->d_un.d_val;
    }
    if (arr) {
        /* The dynamic section holds the unrelocated address. */
        m->arr = (init_fn *)(arr + info->dlpi_addr);
        m->n = sz / sizeof(init_fn);
    }
    return 1; /* the first module is the program */
}

/*
 * The child never returns to main(), so the constructors that would run
 * after ours (other mpx components registering their object types, the
 * program registering functions by name, C++ static initialisers) must
 * run before the target: run them now, once.
 */
static void run_remaining_constructors(int argc, char **argv, char **envp, void *self)
{
    if (__init_array_start && __init_array_end) {
        size_t n = (size_t)(__init_array_end - __init_array_start);
        size_t i = 0;
        while (i < n && (void *)__init_array_start[i] != self)
            i++;
        for (i++; i < n; i++)
            if (__init_array_start[i] && (uintptr_t)__init_array_start[i] != (uintptr_t)-1)
                __init_array_start[i](argc, argv, envp);
    }
    main_init m = {(uintptr_t)self, false, NULL, 0};
    dl_iterate_phdr(main_init_cb, &m);
    if (!m.self_in_main && m.arr)
        /* mpx is a shared library: the program's constructors run after
         * every library's, so none has run yet. */
        for (size_t i = 0; i < m.n; i++)
            if (m.arr[i] && (uintptr_t)m.arr[i] != (uintptr_t)-1)
                m.arr[i](argc, argv, envp);
}

void mpx__boot_from_env(int argc, char **argv, char **envp, void *self_ctor)
{
    static bool entered;
    const char *e = getenv(MPX__BOOT_ENV);
    if (!e || entered)
        return;
    entered = true;
    __atomic_store_n(&boot_phase, true, __ATOMIC_RELAXED);
    /* Ours only when fd 3 is the socket a parent gave us; a stray
     * variable in a user's environment leaves the program alone. */
    struct stat st;
    bool ok = strcmp(e, "3") == 0 && fstat(MPX__BOOT_FD, &st) == 0 && S_ISSOCK(st.st_mode);
    /* Our own children must not see it. */
    unsetenv(MPX__BOOT_ENV);
    if (!ok) {
        __atomic_store_n(&boot_phase, false, __ATOMIC_RELAXED);
        return; /* not ours: run main() as usual */
    }
    int fd = MPX__BOOT_FD;
    uint64_t len = 0;
    int rc = mpx__read_all(fd, &len, sizeof len);
    if (rc || len > MPX__BOOT_MAX || len < 6)
        _exit(1); /* the parent died or is not mpx: it sees EOF */
    unsigned char *blob = malloc(len);
    if (!blob)
        fail(fd, -ENOMEM, NULL, 0);
    if (mpx__read_all(fd, blob, len))
        _exit(1);
    mpx__rd r = {blob, len};
    uint32_t magic;
    uint8_t version, mode;
    rc = mpx__rd_u32(&r, &magic);
    if (!rc)
        rc = mpx__rd_u8(&r, &version);
    if (!rc)
        rc = mpx__rd_u8(&r, &mode);
    if (rc || magic != MPX__BOOT_MAGIC || version != MPX__BOOT_VERSION)
        fail(fd, MPX_EPROTO, NULL, 0);
    run_remaining_constructors(argc, argv, envp, self_ctor);
    if (mode == MPX__BOOT_SERVER) {
        mpx__forkserver_main(fd, MPX__BOOT_FD + 1, &r);
    }
    if (mode != MPX__BOOT_CHILD)
        fail(fd, MPX_EPROTO, NULL, 0);
    /* Peek at the fd count, the first field. */
    mpx__rd h = r;
    uint32_t nf = 0;
    rc = mpx__rd_u32(&h, &nf);
    if (rc || nf > 64)
        fail(fd, MPX_EPROTO, NULL, 0);
    int fds[64];
    for (uint32_t i = 0; i < nf; i++)
        fds[i] = MPX__BOOT_FD + 1 + (int)i;
    mpx__boot_child(blob, len, fds, (int)nf, fd, getppid());
}
