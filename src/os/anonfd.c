/*
 * os/anonfd.c - memfd and eventfd creation (see os/anonfd.h).
 */
#include "os/anonfd.h"

#include "core/internal.h"

#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

int mpx__memfd_create(const char *name, unsigned flags)
{
    int fd = memfd_create(name, flags | MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int mpx__eventfd_open(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int mpx__eventfd_post(int fd)
{
    uint64_t one = 1;
    ssize_t w;
    do
        w = write(fd, &one, sizeof one);
    while (w < 0 && errno == EINTR);
    return w < 0 ? -errno : 0;
}
