/* object.c - shareable object headers and the type registry. */
#include "core/object.h"

#include <string.h>

static mpx__objtype *types;

int mpx__fdlist_add(mpx__fdlist *l, int fd)
{
    if (l->n >= (int)MPX__ARRAY_LEN(l->fds))
        return MPX_ETOOBIG;
    l->fds[l->n++] = fd;
    return 0;
}

void mpx__obj_init(mpx__obj *o, const mpx__objtype *type, mpx_context *ctx)
{
    o->magic = MPX__OBJ_MAGIC;
    o->type = type;
    o->ctx = ctx;
}

mpx__obj *mpx__obj_of(void *p)
{
    mpx__obj *o = p;
    if (!o || o->magic != MPX__OBJ_MAGIC || !o->type)
        return NULL;
    return o;
}

/* Called from constructors only (single-threaded, before main). */
void mpx__objtype_register(mpx__objtype *t)
{
    for (mpx__objtype *x = types; x; x = x->next)
        if (x == t)
            return;
    t->next = types;
    types = t;
}

const mpx__objtype *mpx__objtype_find(const char *name)
{
    for (mpx__objtype *x = types; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            return x;
    return NULL;
}
