/*
 * core/fnref.h - function references that survive exec.
 *
 * Under fork a function pointer is valid in the child. Under spawn and
 * forkserver (a new program image, or a server forked earlier with other
 * libraries loaded) it is not: a function is identified by the module
 * (executable or shared library) that contains it plus its offset, checked
 * against the module's build-id, or by a name registered with
 * mpx_register_function. The child resolves the reference back to a
 * pointer; a function that cannot be resolved is MPX_ERESOLVE at encode
 * time when that can be known, and at decode time otherwise.
 *
 * Used for process targets, pool tasks and initializers, manager
 * callables.
 */
#ifndef MPX_CORE_FNREF_H
#define MPX_CORE_FNREF_H

#include "core/internal.h"

typedef void (*mpx__fnptr)(void);

/* Append a reference to fn (NULL allowed) usable by a child started with
 * ctx. ctx NULL (an object's export hook, which does not know the child's
 * context) means the portable form, as for spawn: module + offset +
 * build-id and the registered name. MPX_ERESOLVE when fn is in no module
 * and not registered. */
int mpx__fnref_encode(mpx_context *ctx, mpx__fnptr fn, mpx__buf *out);
/* Read one reference back; *fn may be NULL when NULL was encoded. */
int mpx__fnref_decode(mpx__rd *in, mpx__fnptr *fn);

/* The compact portable form, for references repeated in many messages
 * (pool tasks over values carry one per item): the registered name, a
 * 64-bit identity of the module (a hash of its kind and build-id, or of
 * its path when it has none) and the offset; 14 bytes for a function of
 * the program. Decoding checks the module's identity and that the offset
 * lies in its code, as mpx__fnref_decode does with the full build-id, and
 * prefers the registered name. fn must not be NULL. Same errors. */
int mpx__fnref_encode_compact(mpx__fnptr fn, mpx__buf *out);
int mpx__fnref_decode_compact(mpx__rd *in, mpx__fnptr *fn);

#endif
