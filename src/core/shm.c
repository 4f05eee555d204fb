/*
 * shm.c - SharedMemory: named blocks in /dev/shm (SHMEM-01..05, 08).
 *
 * Create: a tracked block is made unnamed (O_TMPFILE in /dev/shm), sized,
 * recorded by inode in the program's tracker table (shm_track.c), and only
 * then linked to its name; linkat fails with EEXIST when the name is
 * taken, which is the exclusive create of shm_open(O_CREAT | O_EXCL). So
 * the name never exists untracked or with size 0. An untracked block
 * (Python's track=False) is made with shm_open as CPython does. Attach:
 * shm_open(O_RDWR), size from fstat. Names follow CPython: generated
 * "psm_" + 8 hex digits; a given name is opened as "/" + name, and the
 * kernel path drops leading slashes.
 */
#include "core/shm_internal.h"
#include "core/sync_internal.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static void shm_drop(void *obj);

static mpx__objtype shm_type = {
    .name = "shm", .export_ = mpx__shm_export, .import_ = mpx__shm_import, .drop = shm_drop};

mpx_shm *mpx__shm_of(const void *p)
{
    const mpx_shm *s = p;
    if (!s || s->hdr.magic != MPX__OBJ_MAGIC || s->hdr.type != &shm_type)
        return NULL;
    return (mpx_shm *)s;
}

int mpx__shm_path(const char *name, char **path)
{
    while (*name == '/')
        name++;
    size_t n = strlen(name);
    if (n == 0 || memchr(name, '/', n) || !strcmp(name, ".") || !strcmp(name, ".."))
        return -EINVAL;
    if (n > NAME_MAX)
        return -ENAMETOOLONG;
    char *p = malloc(n + 2);
    if (!p)
        return -ENOMEM;
    p[0] = '/';
    memcpy(p + 1, name, n + 1);
    *path = p;
    return 0;
}

/* /dev/shm + path ("/name"). */
static void fs_path(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "%s%s", MPX__SHM_DIR, path);
}

/* CPython's _make_filename: "psm_" + token_hex(4). Random bytes are
 * fetched 64 at a time (a fork child refetches: it must not repeat its
 * parent's names). */
static void gen_name(char out[16])
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static unsigned char pool[64];
    static size_t used = sizeof pool;
    static pid_t owner;
    unsigned char r[4];
    pthread_mutex_lock(&mu);
    pid_t me = getpid();
    if (owner != me || used + sizeof r > sizeof pool) {
        if (getrandom(pool, sizeof pool, GRND_NONBLOCK) != (ssize_t)sizeof pool) {
            static uint64_t ctr;
            for (size_t i = 0; i < sizeof pool; i += 8) {
                uint64_t x = (uint64_t)mpx__now_ns() ^ ((uint64_t)me << 40) ^ (++ctr * 0x9e3779b97f4a7c15ull);
                x ^= x >> 29;
                x *= 0xbf58476d1ce4e5b9ull;
                x ^= x >> 32;
                memcpy(pool + i, &x, 8);
            }
        }
        owner = me;
        used = 0;
    }
    memcpy(r, pool + used, sizeof r);
    used += sizeof r;
    pthread_mutex_unlock(&mu);
    snprintf(out, 16, "psm_%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
}

static int map_block(int fd, size_t size, unsigned char **buf)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    *buf = m;
    return 0;
}

static int wrap(const char *name, char *path, int fd, unsigned char *buf, size_t size,
                uint64_t ino, int64_t slot, mpx_shm **out)
{
    mpx_shm *s = calloc(1, sizeof *s);
    char *nm = strdup(name);
    if (!s || !nm) {
        free(s);
        free(nm);
        return -ENOMEM;
    }
    mpx__obj_init(&s->hdr, &shm_type, NULL);
    s->name = nm;
    s->path = path;
    s->fd = fd;
    s->buf = buf;
    s->size = size;
    s->ino = ino;
    s->slot = slot;
    *out = s;
    return 0;
}

#define NO_TMPFILE 1 /* create_tmpfile: the way is not available here */

/* Give the unnamed file fd the name dst: linkat(AT_EMPTY_PATH) where the
 * kernel allows it (Linux 6.10+, or CAP_DAC_READ_SEARCH), else through
 * its /proc/self/fd link. -EEXIST when the name is taken; NO_TMPFILE
 * without /proc. */
static int link_tmpfile(int fd, const char *dst)
{
    static int empty_path = -1; /* 1: works, 0: refused, -1: not known yet */
    int ep = __atomic_load_n(&empty_path, __ATOMIC_RELAXED);
    if (ep != 0) {
        if (linkat(fd, "", AT_FDCWD, dst, AT_EMPTY_PATH) == 0) {
            __atomic_store_n(&empty_path, 1, __ATOMIC_RELAXED);
            return 0;
        }
        if (errno != EPERM && errno != ENOENT && errno != EINVAL)
            return -errno;
        __atomic_store_n(&empty_path, 0, __ATOMIC_RELAXED);
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    int rc = -errno;
    if (rc == -ENOENT && access(proc, F_OK) < 0)
        rc = NO_TMPFILE; /* no /proc */
    return rc;
}

/* Tracked create: see the top of the file. *fd, *ino, *slot on success;
 * NO_TMPFILE when this kernel or file system has no O_TMPFILE (or /proc
 * is missing for linkat), so the caller creates by name instead. */
static int create_tmpfile(const char *path, size_t size, int *fdp, uint64_t *ino, int64_t *slot)
{
    int fd = open(MPX__SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL || errno == ENOENT
                   ? NO_TMPFILE
                   : -errno;
    struct stat st;
    int rc = ftruncate(fd, (off_t)size) < 0 || fstat(fd, &st) < 0 ? -errno : 0;
    if (!rc) {
        *ino = st.st_ino;
        rc = mpx__shm_track(*ino, slot);
    }
    if (!rc) {
        char dst[sizeof MPX__SHM_DIR + NAME_MAX + 2];
        fs_path(dst, sizeof dst, path);
        rc = link_tmpfile(fd, dst);
        if (rc)
            mpx__shm_untrack(*ino, *slot);
    }
    if (rc) {
        mpx__close(fd);
        return rc;
    }
    *fdp = fd;
    return 0;
}

/* shm_open(O_CREAT | O_EXCL) as CPython; tracked right after it exists
 * when track is set (where there is no O_TMPFILE). */
static int create_named(const char *path, size_t size, bool track, int *fdp, uint64_t *ino,
                        int64_t *slot)
{
    int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    bool tracked = false;
    if (!rc)
        *ino = st.st_ino;
    if (!rc && track) {
        rc = mpx__shm_track(*ino, slot);
        tracked = !rc;
    }
    if (!rc && ftruncate(fd, (off_t)size) < 0)
        rc = -errno;
    if (rc) {
        shm_unlink(path);
        if (tracked)
            mpx__shm_untrack(*ino, *slot);
        mpx__close(fd);
        return rc;
    }
    *fdp = fd;
    return 0;
}

static int do_create(const char *name, int64_t size, bool track, mpx_shm **out)
{
    char gen[16];
    char *path = NULL;
    int rc, fd = -1;
    uint64_t ino = 0;
    int64_t slot = -1;
    bool tmpfile = track;
    for (;;) {
        if (!name)
            gen_name(gen);
        rc = mpx__shm_path(name ? name : gen, &path);
        if (rc)
            return rc;
        slot = -1;
        if (tmpfile) {
            rc = create_tmpfile(path, (size_t)size, &fd, &ino, &slot);
            if (rc == NO_TMPFILE) {
                MPX__DEBUG("shm: no O_TMPFILE in %s: creating by name", MPX__SHM_DIR);
                tmpfile = false;
                free(path);
                path = NULL;
                continue;
            }
        } else {
            rc = create_named(path, (size_t)size, track, &fd, &ino, &slot);
        }
        if (rc == -EEXIST && !name) {
            free(path); /* a generated name was taken: another one */
            path = NULL;
            continue;
        }
        break;
    }
    if (rc) {
        free(path);
        return rc;
    }
    unsigned char *buf = NULL;
    rc = map_block(fd, (size_t)size, &buf);
    if (!rc)
        rc = wrap(name ? name : gen, path, fd, buf, (size_t)size, ino, slot, out);
    if (rc) {
        if (buf)
            munmap(buf, (size_t)size);
        shm_unlink(path);
        if (slot >= 0)
            mpx__shm_untrack(ino, slot);
        mpx__close(fd);
        free(path);
        return rc;
    }
    MPX__SUBDEBUG("created shared memory %s (%lld bytes%s)", (*out)->name, (long long)size,
                  track ? ", tracked" : "");
    return 0;
}

/* Attach to path; *size and *ino from the block. */
static int attach_fd(const char *path, int *fdp, size_t *size, uint64_t *ino)
{
    int fd = shm_open(path, O_RDWR, 0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    /* Python: mmap of an empty file is a ValueError */
    if (!rc && st.st_size <= 0)
        rc = MPX_EINVAL;
    if (rc) {
        mpx__close(fd);
        return rc;
    }
    *fdp = fd;
    *size = (size_t)st.st_size;
    *ino = st.st_ino;
    return 0;
}

static int do_attach(const char *name, mpx_shm **out)
{
    char *path;
    int rc = mpx__shm_path(name, &path);
    if (rc)
        return rc;
    int fd = -1;
    size_t size = 0;
    uint64_t ino = 0;
    unsigned char *buf = NULL;
    rc = attach_fd(path, &fd, &size, &ino);
    if (!rc)
        rc = map_block(fd, size, &buf);
    if (!rc)
        rc = wrap(name, path, fd, buf, size, ino, -1, out);
    if (rc) {
        if (buf)
            munmap(buf, size);
        mpx__close(fd);
        free(path);
    }
    return rc;
}

MPX_API int mpx_shm_open(mpx_shm **out, const char *name, int create, int64_t size,
                         const mpx_shm_opts *opts)
{
    mpx__global_init();
    if (!out)
        return MPX_EINVAL;
    *out = NULL;
    /* Python's ValueErrors, in Python's order */
    if (size < 0 || (create && size == 0) || (!name && !create))
        return MPX_EINVAL;
    if ((uint64_t)size > (uint64_t)PTRDIFF_MAX)
        return -EFBIG;
    if (create)
        return do_create(name, size, !(opts && opts->untracked), out);
    return do_attach(name, out);
}

MPX_API void *mpx_shm_buf(const mpx_shm *s)
{
    s = mpx__shm_of(s);
    return s ? __atomic_load_n(&s->buf, __ATOMIC_ACQUIRE) : NULL;
}

MPX_API size_t mpx_shm_size(const mpx_shm *s)
{
    s = mpx__shm_of(s);
    return s ? s->size : 0;
}

MPX_API const char *mpx_shm_name(const mpx_shm *s)
{
    s = mpx__shm_of(s);
    return s ? s->name : NULL;
}

MPX_API int mpx_shm_close(mpx_shm *s)
{
    s = mpx__shm_of(s);
    if (!s)
        return MPX_EINVAL;
    int fd = __atomic_exchange_n(&s->fd, -1, __ATOMIC_ACQ_REL);
    if (fd < 0)
        return 0;
    unsigned char *b = __atomic_exchange_n(&s->buf, NULL, __ATOMIC_ACQ_REL);
    if (b)
        munmap(b, s->size);
    mpx__close(fd);
    return 0;
}

int mpx__shm_unlink_block(const char *path, uint64_t ino, int64_t slot)
{
    char p[sizeof MPX__SHM_DIR + NAME_MAX + 2];
    fs_path(p, sizeof p, path);
    struct stat st;
    int rc = lstat(p, &st) < 0 ? -errno : 0;
    if (!rc && st.st_ino != ino)
        rc = -ENOENT; /* the name now belongs to another block: ours is gone */
    if (!rc && shm_unlink(path) < 0)
        rc = -errno;
    if (!rc || rc == -ENOENT)
        mpx__shm_untrack(ino, slot); /* unlinked now, or by someone else */
    return rc;
}

MPX_API int mpx_shm_unlink(mpx_shm *s)
{
    s = mpx__shm_of(s);
    if (!s)
        return MPX_EINVAL;
    int64_t slot = __atomic_exchange_n(&s->slot, -1, __ATOMIC_ACQ_REL);
    int rc = mpx__shm_unlink_block(s->path, s->ino, slot);
    if (rc && rc != -ENOENT)
        __atomic_store_n(&s->slot, slot, __ATOMIC_RELEASE); /* still ours to unlink */
    else if (!rc)
        MPX__SUBDEBUG("unlinked shared memory %s", s->name);
    return rc;
}

MPX_API void mpx_shm_destroy(mpx_shm *s)
{
    s = mpx__shm_of(s);
    if (!s)
        return;
    mpx_shm_close(s);
    s->hdr.magic = 0;
    free(s->name);
    free(s->path);
    free(s);
}

static void shm_drop(void *obj)
{
    mpx_shm_destroy(obj);
}

int mpx__py_repr_text(mpx__buf *b, const void *p, size_t n, bool bytes)
{
    const unsigned char *c = p;
    bool sq = memchr(c, '\'', n) != NULL, dq = memchr(c, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    int rc = bytes ? mpx__buf_put_u8(b, 'b') : 0;
    if (!rc)
        rc = mpx__buf_put_u8(b, (uint8_t)q);
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char x = c[i];
        if (x == '\\' || x == (unsigned char)q)
            rc = mpx__buf_printf(b, "\\%c", x);
        else if (x == '\n')
            rc = mpx__buf_printf(b, "\\n");
        else if (x == '\r')
            rc = mpx__buf_printf(b, "\\r");
        else if (x == '\t')
            rc = mpx__buf_printf(b, "\\t");
        else if (x < 0x20 || x == 0x7f || (bytes && x >= 0x80))
            rc = mpx__buf_printf(b, "\\x%02x", x);
        else
            rc = mpx__buf_put_u8(b, x);
    }
    if (!rc)
        rc = mpx__buf_put_u8(b, (uint8_t)q);
    return rc;
}

MPX_API char *mpx_shm_describe(const mpx_shm *s)
{
    s = mpx__shm_of(s);
    if (!s)
        return NULL;
    mpx__buf b;
    mpx__buf_init(&b);
    int rc = mpx__buf_printf(&b, "SharedMemory(");
    if (!rc)
        rc = mpx__py_repr_text(&b, s->name, strlen(s->name), false);
    if (!rc)
        rc = mpx__buf_printf(&b, ", size=%zu)", s->size);
    return mpx__buf_to_str(&b, rc);
}

/* ---- passing to children (mpx_args_add_object) ----------------------------
 * data: bytes name, u64 size, u64 ino, u8 open; the descriptor of an open
 * object (the child maps the same block, even if its name is gone by
 * then). A closed object arrives closed, as a fork child sees it (name,
 * size and unlink work): the same target code behaves alike under every
 * start method. (Python pickles a SharedMemory as its name and the child
 * attaches anew; pass the name for that.) */

int mpx__shm_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_shm *s = mpx__shm_of(obj);
    if (!s)
        return MPX_ECLOSED;
    int fd = __atomic_load_n(&s->fd, __ATOMIC_ACQUIRE);
    int rc = mpx__buf_put_bytes(data, s->name, strlen(s->name));
    if (!rc)
        rc = mpx__buf_put_u64(data, s->size);
    if (!rc)
        rc = mpx__buf_put_u64(data, s->ino);
    if (!rc)
        rc = mpx__buf_put_u8(data, fd >= 0);
    if (!rc && fd >= 0)
        rc = mpx__fdlist_add(fds, fd);
    return rc;
}

int mpx__shm_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    const void *nm;
    size_t nlen;
    uint64_t ino, xsize;
    uint8_t has_fd;
    char name[NAME_MAX + 8];
    char *path = NULL;
    int fd = nfds > 0 ? fds[0] : -1;
    int rc = mpx__rd_bytes(rd, &nm, &nlen);
    if (!rc)
        rc = mpx__rd_u64(rd, &xsize);
    if (!rc)
        rc = mpx__rd_u64(rd, &ino);
    if (!rc)
        rc = mpx__rd_u8(rd, &has_fd);
    if (!rc && (nlen == 0 || nlen >= sizeof name || memchr(nm, 0, nlen) ||
                nfds != (has_fd ? 1 : 0) || xsize == 0 || xsize > (uint64_t)PTRDIFF_MAX))
        rc = MPX_EPROTO;
    if (!rc) {
        memcpy(name, nm, nlen);
        name[nlen] = 0;
        rc = mpx__shm_path(name, &path);
    }
    size_t size = (size_t)xsize;
    if (!rc && fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            rc = -errno;
        else if (!S_ISREG(st.st_mode) || st.st_ino != ino || st.st_size <= 0)
            rc = MPX_EPROTO;
        else
            size = (size_t)st.st_size; /* the block's own size is the truth */
    }
    unsigned char *buf = NULL;
    if (!rc && fd >= 0)
        rc = map_block(fd, size, &buf);
    mpx_shm *s = NULL;
    if (!rc)
        rc = wrap(name, path, fd, buf, size, ino, -1, &s);
    if (rc) {
        if (buf)
            munmap(buf, size);
        for (int i = 0; i < nfds; i++)
            mpx__close(fds[i]);
        free(path);
        return rc;
    }
    *out = s;
    return 0;
}

__attribute__((constructor)) static void shm_register(void)
{
    mpx__objtype_register(&shm_type);
}
