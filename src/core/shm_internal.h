/*
 * core/shm_internal.h - named shared memory (shm.c, shm_list.c,
 * shm_manager.c) and its tracker (shm_track.c). See docs/shm.md.
 */
#ifndef MPX_CORE_SHM_INTERNAL_H
#define MPX_CORE_SHM_INTERNAL_H

#include "core/object.h"
#include "mpx/shm.h"

/* The directory of POSIX shared memory objects (glibc's shm_open). */
#define MPX__SHM_DIR "/dev/shm"

struct mpx_shm {
    mpx__obj hdr;
    char *name;          /* as Python reports it (.name) */
    char *path;          /* "/" + the name without leading slashes (shm_open) */
    unsigned char *buf;  /* NULL once closed */
    size_t size;
    int fd;              /* -1 once closed */
    uint64_t ino;        /* identity of the block (tmpfs inode) */
    int64_t slot;        /* tracker slot of a block we created tracked, or -1 */
};

/* Check and normalise a block name: *path gets "/" + name without its
 * leading slashes (malloc'd). 0, -EINVAL, -ENAMETOOLONG, -ENOMEM. */
int mpx__shm_path(const char *name, char **path);
/* Unlink the block at path if it is still inode ino, and untrack it
 * (slot or -1). 0, -ENOENT (gone, or the name is another block's),
 * -errno. */
int mpx__shm_unlink_block(const char *path, uint64_t ino, int64_t slot);
/* The mpx_shm behind p, or NULL. */
mpx_shm *mpx__shm_of(const void *p);
/* Python's repr() of a str (UTF-8) or bytes value, appended to b. */
int mpx__py_repr_text(mpx__buf *b, const void *p, size_t n, bool bytes);
/* Export/import of an mpx_shm (used by the ShareableList type too). */
int mpx__shm_export(void *obj, mpx__buf *data, mpx__fdlist *fds);
int mpx__shm_import(mpx__rd *rd, const int *fds, int nfds, void **out);

/* ---- the tracker (shm_track.c) ----------------------------------------
 *
 * The program: every process that holds the write end of one pipe (the
 * "liveness pipe"), made in the first process that starts a child or
 * creates a tracked block, inherited by fork children and handed to
 * spawn/forkserver children. The tracker holds a read end: EOF means the
 * whole program has ended. Tracked blocks are inode numbers in a table
 * (a memfd shared by the processes that have it); at EOF the tracker
 * unlinks every name in /dev/shm whose inode is in the table.
 */

/* Make the liveness pipe if this process has none (before a child
 * start). 0 or -errno. */
int mpx__shm_prog_ensure(void);
/* Track inode ino: make the table and start the tracker when needed;
 * *slot gets the slot for mpx__shm_untrack. */
int mpx__shm_track(uint64_t ino, int64_t *slot);
/* Stop tracking ino (slot: from mpx__shm_track, or -1 to search). */
void mpx__shm_untrack(uint64_t ino, int64_t slot);

/* Boot of spawn/forkserver children (boot.c): which of the program's
 * descriptors go to the child (bit 0 the liveness pipe, bit 1 the table)
 * and the descriptors themselves (borrowed), in that order. */
int mpx__shm_prog_child_fds(int fds[2]);
/* In the child: adopt them (owned from then on, closed on failure). */
int mpx__shm_prog_adopt(unsigned mask, const int *fds, int nfds);

/* In the library constructor: when started as the tracker, run it and
 * never return. */
void mpx__shm_tracker_from_env(void);
void mpx__shm_atfork_child(void);

/* For tests: the tracker slot count in use in this process's table (-1
 * when there is none). */
int64_t mpx__shm_tracked_count(void);

#endif
