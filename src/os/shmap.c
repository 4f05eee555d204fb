/* shmap.c - memfd-backed shared mappings. */
#include "os/shmap.h"
#include "os/anonfd.h"

#include <sys/mman.h>
#include <unistd.h>

int mpx__shmap_create(mpx__shmap *m, const char *name, size_t size)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - (size_t)pg)
        return -ENOMEM;
    size = (size + (size_t)pg - 1) & ~((size_t)pg - 1);
    int fd = mpx__memfd_create(name ? name : "mpx", 0);
    if (fd < 0)
        return fd;
    if (ftruncate(fd, (off_t)size) < 0) {
        int e = -errno;
        mpx__close(fd);
        return e;
    }
    void *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (a == MAP_FAILED) {
        int e = -errno;
        mpx__close(fd);
        return e;
    }
    m->addr = a;
    m->size = size;
    m->fd = fd;
    return 0;
}

int mpx__shmap_attach(mpx__shmap *m, int fd, size_t size)
{
    struct stat;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0 || (size_t)end < size) {
        mpx__close(fd);
        return end < 0 ? -errno : MPX_EPROTO;
    }
    void *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (a == MAP_FAILED) {
        int e = -errno;
        mpx__close(fd);
        return e;
    }
    mpx__set_cloexec(fd, true);
    m->addr = a;
    m->size = size;
    m->fd = fd;
    return 0;
}

void mpx__shmap_destroy(mpx__shmap *m)
{
    if (m->addr && m->addr != MAP_FAILED)
        munmap(m->addr, m->size);
    mpx__close(m->fd);
    m->addr = NULL;
    m->fd = -1;
    m->size = 0;
}
