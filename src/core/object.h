/*
 * core/object.h - shareable objects: the contract every component follows
 * so its objects can be passed to children in an mpx_args list.
 *
 * Every shareable object struct begins with an mpx__obj header. Its type
 * describes how to send it to a child that does not share the parent's
 * memory (spawn, forkserver):
 *
 *   export(obj, data, fds)   append what the child needs (bytes to data,
 *                            descriptors to fds; the fds stay owned by the
 *                            object: the library duplicates or sends them)
 *   import(rd, fds, out)     in the child: rebuild an object from that
 *                            data; fds[i] are the received descriptors,
 *                            owned by import from then on (it must close
 *                            those it does not keep, also on failure)
 *   drop(obj)                in the child, at exit of the target: free an
 *                            imported object
 *   forked(obj)              (optional) in a fork child, before the target
 *                            runs, for an object inherited as it is
 *
 * Optional hooks let generic calls reach the object without knowing its
 * component: wait_fd/ready (mpx_wait), acquire/release/describe
 * (mpx_sync_acquire ...).
 *
 * Under fork the child uses the parent's object as it is (the pointer is
 * valid in the copy), so no export happens.
 *
 * Types register themselves with mpx__objtype_register from a constructor
 * so the child can find a type by name.
 */
#ifndef MPX_CORE_OBJECT_H
#define MPX_CORE_OBJECT_H

#include "core/internal.h"

#define MPX__OBJ_MAGIC 0x6d70786fu /* "mpxo" */
#define MPX__MAX_FDS_PER_OBJ 16

typedef struct mpx__fdlist {
    int fds[64];
    int n;
} mpx__fdlist;

/* Append fd (not duplicated); MPX_ETOOBIG when full. */
int mpx__fdlist_add(mpx__fdlist *l, int fd);

typedef struct mpx__objtype {
    const char *name; /* "lock", "queue", "connection", ... (unique) */
    int (*export_)(void *obj, mpx__buf *data, mpx__fdlist *fds);
    int (*import_)(mpx__rd *data, const int *fds, int nfds, void **out);
    void (*drop)(void *obj);
    /* For mpx_wait (connection.h): a descriptor that becomes readable
     * when the object may be ready (NULL: the object cannot be waited
     * on), and a check whether it is ready now (1 ready, 0 not; NULL:
     * readable descriptor means ready). */
    int (*wait_fd)(void *obj);
    int (*ready)(void *obj);
    /* The generic sync calls (mpx_sync_acquire / mpx_sync_release /
     * mpx_sync_describe, sync.h) on this object; NULL: not supported
     * (MPX_EINVAL / NULL). acquire answers yes/no: 1 acquired, 0 not (the
     * timeout ended), negative an error. */
    int (*acquire)(void *obj, mpx_duration timeout);
    int (*release)(void *obj);
    char *(*describe)(void *obj);
    /* In a fork child, before the target runs, for each argument object
     * inherited as it is (not imported): take what the child needs of its
     * own (a manager proxy takes its own reference). NULL: nothing. */
    void (*forked)(void *obj);
    struct mpx__objtype *next; /* registry link */
} mpx__objtype;

typedef struct mpx__obj {
    uint32_t magic; /* MPX__OBJ_MAGIC while alive */
    const mpx__objtype *type;
    mpx_context *ctx; /* context the object was made with (CTX-09) */
} mpx__obj;

void mpx__obj_init(mpx__obj *o, const mpx__objtype *type, mpx_context *ctx);
/* The object header of p, or NULL when p is not a live mpx object. */
mpx__obj *mpx__obj_of(void *p);
void mpx__objtype_register(mpx__objtype *t);
const mpx__objtype *mpx__objtype_find(const char *name);

#endif /* MPX_CORE_OBJECT_H */
