/*
 * core/ctconv.h - conversion between the scalar element types of
 * sharedctypes (MPX_CT_*), as Python converts a number assigned to a
 * ctypes value (#13 item 4, docs/sync.md): an integer fits or is
 * -ERANGE; a float goes into an integer type only when it is an
 * exact integer in range (MPX_EINVAL when it has a fraction or is NaN,
 * -ERANGE when it is infinite or too large); anything goes into a
 * float type (a double too large for a float becomes +-inf, as in
 * Python) and into bool (its truth value).
 */
#ifndef MPX_CORE_CTCONV_H
#define MPX_CORE_CTCONV_H

#include "core/internal.h"
#include "mpx/sharedctypes.h"

/* A number read from an element: exactly one of the three is meant. */
typedef struct mpx__num {
    enum { MPX__NUM_S, MPX__NUM_U, MPX__NUM_F } kind;
    int64_t s;
    uint64_t u;
    double f;
} mpx__num;

/* Is type a scalar element type (not MPX_CT_NONE / MPX_CT_RAW)? */
static inline bool mpx__ct_scalar(int type)
{
    return type >= MPX_CT_INT8 && type <= MPX_CT_BOOL;
}
/* Read the element of type at p (scalar types only). */
mpx__num mpx__ct_load(int type, const void *p);
/* Can v be stored in an element of type? 0, -ERANGE or MPX_EINVAL. */
int mpx__ct_check(int type, const mpx__num *v);
/* Store v (checked) into the element of type at p. */
void mpx__ct_store(int type, void *p, const mpx__num *v);
/* Check, then store: 0 or the check's error (nothing written then). */
int mpx__ct_convert(int dst_type, void *dst, int src_type, const void *src);

#endif
