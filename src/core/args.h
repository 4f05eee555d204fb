/* core/args.h - argument lists: internal layout and (de)serialisation used
 * by the spawn and forkserver start methods. */
#ifndef MPX_CORE_ARGS_H
#define MPX_CORE_ARGS_H

#include "core/object.h"
#include "mpx/obj.h"

typedef struct mpx__arg {
    int type; /* enum mpx_arg_type */
    union {
        int64_t i;
        double d;
        struct {
            void *p; /* str: NUL-terminated copy; bytes: copy */
            size_t len;
        } b;
        int fd;    /* owned duplicate */
        void *obj; /* borrowed (fork) or imported (owned when imported) */
        mpx_obj *val; /* MPX_ARG_OBJ: a reference */
    } v;
    bool imported; /* obj was rebuilt in this process: drop() it */
} mpx__arg;

struct mpx_args {
    mpx__arg *v;
    size_t n, cap;
    mpx_obj *kwargs; /* a dict of our own (str keys), or NULL */
};

/* Deep copy (fds duplicated). */
int mpx__args_copy(const mpx_args *src, mpx_args **out);

/* Serialise for a child that does not share memory: bytes to out,
 * descriptors (fds and those of objects) appended to fds, borrowed. An
 * object whose context is not compatible with target_ctx fails with
 * MPX_ECONTEXT. */
int mpx__args_export(const mpx_args *a, mpx_context *target_ctx, mpx__buf *out,
                     mpx__fdlist *fds);
/* Rebuild in the child. fds[i] are the received descriptors, owned by the
 * result on success (on failure all are closed). */
int mpx__args_import(mpx__rd *in, const int *fds, int nfds, mpx_args **out);

/* Check every object's context against ctx (CTX-09). */
int mpx__args_check_context(const mpx_args *a, mpx_context *ctx);

#endif
