/*
 * os/shmap.h - anonymous shared mappings backed by a memfd.
 *
 * A mapping that can be passed to a child by descriptor (spawn,
 * forkserver) and inherited as-is under fork. Nothing is named, so nothing
 * is left in /dev/shm: the memory goes away when the last mapping and the
 * last descriptor are gone.
 */
#ifndef MPX_OS_SHMAP_H
#define MPX_OS_SHMAP_H

#include "core/internal.h"

typedef struct mpx__shmap {
    void *addr;
    size_t size;
    int fd; /* memfd, CLOEXEC; -1 after mpx__shmap_drop_fd */
} mpx__shmap;

/* Create a zero-filled shared mapping of size bytes (rounded up to pages). */
int mpx__shmap_create(mpx__shmap *m, const char *name, size_t size);
/* Map an existing memfd received from a parent; takes ownership of fd. */
int mpx__shmap_attach(mpx__shmap *m, int fd, size_t size);
/* Unmap and close. */
void mpx__shmap_destroy(mpx__shmap *m);

#endif /* MPX_OS_SHMAP_H */
