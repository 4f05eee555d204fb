/*
 * shm_manager.c - SharedMemoryManager (SHMEM-07).
 *
 * Python's SharedMemoryManager is a manager server process that records
 * the names of the blocks created through it and unlinks them at
 * shutdown (or when the server ends). mpx needs no server: every block
 * made through the manager is created tracked, so it is unlinked when the
 * program ends even if the program is killed (shm_track.c), and the
 * manager records each block's name and identity (inode) so that
 * shutdown unlinks exactly the blocks it made: one already unlinked, or
 * whose name was taken by a new block since, is left alone. The choice
 * and its limits (no remote use) are in docs/shm.md; once managers exist
 * (issue #16) this can become a manager type without changing the API.
 */
#include "core/shm_internal.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define MGR_MAGIC 0x6d70786du /* "mpxm" */

enum { MGR_INITIAL, MGR_STARTED, MGR_SHUTDOWN };

typedef struct mgr_rec {
    char *path;
    uint64_t ino;
} mgr_rec;

struct mpx_shm_manager {
    uint32_t magic;
    pthread_mutex_t mu;
    pid_t creator;
    int state;
    mgr_rec *v;
    size_t n, cap;
};

static mpx_shm_manager *mgr_of(mpx_shm_manager *m)
{
    return m && m->magic == MGR_MAGIC ? m : NULL;
}

MPX_API int mpx_shm_manager_create(mpx_shm_manager **out)
{
    mpx__global_init();
    if (!out)
        return MPX_EINVAL;
    mpx_shm_manager *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->magic = MGR_MAGIC;
    pthread_mutex_init(&m->mu, NULL);
    m->creator = getpid();
    m->state = MGR_INITIAL;
    *out = m;
    return 0;
}

MPX_API int mpx_shm_manager_start(mpx_shm_manager *m)
{
    if (!(m = mgr_of(m)))
        return MPX_EINVAL;
    pthread_mutex_lock(&m->mu);
    int rc = m->creator != getpid() || m->state != MGR_INITIAL ? MPX_ESTATE : 0;
    if (!rc)
        m->state = MGR_STARTED;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* Record the block of s (called with m->mu held and the state checked). */
static int record(mpx_shm_manager *m, mpx_shm *s)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        mgr_rec *v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        m->v = v;
        m->cap = cap;
    }
    char *p = strdup(s->path);
    if (!p)
        return -ENOMEM;
    m->v[m->n].path = p;
    m->v[m->n].ino = s->ino;
    m->n++;
    return 0;
}

static int usable_locked(mpx_shm_manager *m)
{
    return m->creator != getpid() || m->state != MGR_STARTED ? MPX_ESTATE : 0;
}

MPX_API int mpx_shm_manager_shared_memory(mpx_shm_manager *m, int64_t size, mpx_shm **out)
{
    if (!(m = mgr_of(m)) || !out)
        return MPX_EINVAL;
    pthread_mutex_lock(&m->mu);
    mpx_shm *s = NULL;
    int rc = usable_locked(m);
    if (!rc)
        rc = mpx_shm_open(&s, NULL, 1, size, NULL);
    if (!rc && (rc = record(m, s)) != 0) {
        mpx_shm_unlink(s);
        mpx_shm_destroy(s);
    }
    pthread_mutex_unlock(&m->mu);
    if (!rc)
        *out = s;
    return rc;
}

MPX_API int mpx_shm_manager_shareable_list(mpx_shm_manager *m, const mpx_sl_item *items, size_t n,
                                           mpx_shareable_list **out)
{
    if (!(m = mgr_of(m)) || !out || (!items && n))
        return MPX_EINVAL;
    static const mpx_sl_item none[1] = {{0, 0, 0.0, NULL, 0}};
    pthread_mutex_lock(&m->mu);
    mpx_shareable_list *l = NULL;
    int rc = usable_locked(m);
    if (!rc)
        rc = mpx_shareable_list_open(&l, items ? items : none, n, NULL, NULL);
    if (!rc && (rc = record(m, mpx_shareable_list_shm(l))) != 0) {
        mpx_shm_unlink(mpx_shareable_list_shm(l));
        mpx_shareable_list_destroy(l);
    }
    pthread_mutex_unlock(&m->mu);
    if (!rc)
        *out = l;
    return rc;
}

static int shutdown_locked(mpx_shm_manager *m)
{
    int first = 0;
    for (size_t i = 0; i < m->n; i++) {
        int rc = mpx__shm_unlink_block(m->v[i].path, m->v[i].ino, -1);
        if (rc && rc != -ENOENT && !first)
            first = rc;
        free(m->v[i].path);
    }
    m->n = 0;
    m->state = MGR_SHUTDOWN;
    return first;
}

MPX_API int mpx_shm_manager_shutdown(mpx_shm_manager *m)
{
    if (!(m = mgr_of(m)))
        return MPX_EINVAL;
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    if (m->creator != getpid())
        rc = MPX_ESTATE;
    else if (m->state == MGR_STARTED)
        rc = shutdown_locked(m); /* never started, or again: nothing to do */
    pthread_mutex_unlock(&m->mu);
    return rc;
}

MPX_API void mpx_shm_manager_destroy(mpx_shm_manager *m)
{
    if (!(m = mgr_of(m)))
        return;
    if (m->creator == getpid())
        mpx_shm_manager_shutdown(m);
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].path); /* a fork child's copy: nothing unlinked */
    m->magic = 0;
    pthread_mutex_destroy(&m->mu);
    free(m->v);
    free(m);
}
