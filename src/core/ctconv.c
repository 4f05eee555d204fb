/* ctconv.c - conversions between sharedctypes element types (ctconv.h). */
#include "core/ctconv.h"

#include <float.h>
#include <math.h>
#include <string.h>

mpx__num mpx__ct_load(int t, const void *p)
{
    mpx__num v = {MPX__NUM_S, 0, 0, 0};
    switch (t) {
    case MPX_CT_INT8: v.s = *(const int8_t *)p; break;
    case MPX_CT_UINT8: v.s = *(const uint8_t *)p; break;
    case MPX_CT_CHAR: v.s = *(const char *)p; break;
    case MPX_CT_BOOL: v.s = *(const unsigned char *)p != 0; break;
    case MPX_CT_INT16: { int16_t x; memcpy(&x, p, 2); v.s = x; break; }
    case MPX_CT_UINT16: { uint16_t x; memcpy(&x, p, 2); v.s = x; break; }
    case MPX_CT_INT32: { int32_t x; memcpy(&x, p, 4); v.s = x; break; }
    case MPX_CT_UINT32: { uint32_t x; memcpy(&x, p, 4); v.s = x; break; }
    case MPX_CT_INT64: { int64_t x; memcpy(&x, p, 8); v.s = x; break; }
    case MPX_CT_UINT64: memcpy(&v.u, p, 8); v.kind = MPX__NUM_U; break;
    case MPX_CT_FLOAT: { float x; memcpy(&x, p, 4); v.f = x; v.kind = MPX__NUM_F; break; }
    case MPX_CT_DOUBLE: memcpy(&v.f, p, 8); v.kind = MPX__NUM_F; break;
    default: break;
    }
    return v;
}

/* The range of an integer type as [lo, hi] (hi as unsigned). */
static void int_range(int t, int64_t *lo, uint64_t *hi)
{
    switch (t) {
    case MPX_CT_INT8: *lo = INT8_MIN, *hi = INT8_MAX; break;
    case MPX_CT_UINT8: *lo = 0, *hi = UINT8_MAX; break;
    case MPX_CT_CHAR: *lo = INT8_MIN, *hi = UINT8_MAX; break; /* a byte */
    case MPX_CT_INT16: *lo = INT16_MIN, *hi = INT16_MAX; break;
    case MPX_CT_UINT16: *lo = 0, *hi = UINT16_MAX; break;
    case MPX_CT_INT32: *lo = INT32_MIN, *hi = INT32_MAX; break;
    case MPX_CT_UINT32: *lo = 0, *hi = UINT32_MAX; break;
    case MPX_CT_INT64: *lo = INT64_MIN, *hi = INT64_MAX; break;
    default: *lo = 0, *hi = UINT64_MAX; break; /* MPX_CT_UINT64 */
    }
}

/* A float as an exact integer (signed or unsigned form in *w), or an
 * error: MPX_EINVAL for NaN or a fraction, -ERANGE beyond 64 bits. */
static int float_to_int(double f, mpx__num *w)
{
    if (isnan(f))
        return MPX_EINVAL;
    if (isinf(f) || f >= 18446744073709551616.0 || f < -9223372036854775808.0)
        return -ERANGE;
    if (f != trunc(f))
        return MPX_EINVAL; /* Python: TypeError (int expected) */
    if (f >= 9223372036854775808.0) {
        w->kind = MPX__NUM_U;
        w->u = (uint64_t)f;
    } else {
        w->kind = MPX__NUM_S;
        w->s = (int64_t)f;
    }
    return 0;
}

int mpx__ct_check(int t, const mpx__num *v)
{
    if (!mpx__ct_scalar(t))
        return MPX_EINVAL;
    if (t == MPX_CT_BOOL || t == MPX_CT_FLOAT || t == MPX_CT_DOUBLE)
        return 0;
    mpx__num w = *v;
    if (w.kind == MPX__NUM_F) {
        int rc = float_to_int(w.f, &w);
        if (rc)
            return rc;
    }
    int64_t lo;
    uint64_t hi;
    int_range(t, &lo, &hi);
    if (w.kind == MPX__NUM_U)
        return w.u <= hi ? 0 : -ERANGE;
    if (w.s < lo || (w.s > 0 && (uint64_t)w.s > hi))
        return -ERANGE;
    return 0;
}

static double num_f(const mpx__num *v)
{
    return v->kind == MPX__NUM_F ? v->f : v->kind == MPX__NUM_U ? (double)v->u : (double)v->s;
}

void mpx__ct_store(int t, void *p, const mpx__num *v)
{
    if (t == MPX_CT_BOOL) {
        bool b = v->kind == MPX__NUM_F ? v->f != 0 || isnan(v->f)
                 : v->kind == MPX__NUM_U ? v->u != 0
                                         : v->s != 0;
        *(unsigned char *)p = b;
        return;
    }
    if (t == MPX_CT_DOUBLE) {
        double d = num_f(v);
        memcpy(p, &d, 8);
        return;
    }
    if (t == MPX_CT_FLOAT) {
        double d = num_f(v);
        /* beyond float's range: +-inf, as Python's c_float does (and
         * without the undefined double-to-float conversion) */
        float f = d > FLT_MAX ? INFINITY : d < -FLT_MAX ? -INFINITY : (float)d;
        memcpy(p, &f, 4);
        return;
    }
    mpx__num w = *v;
    if (w.kind == MPX__NUM_F && float_to_int(w.f, &w))
        return; /* not checked: never reached through mpx__ct_convert */
    uint64_t bits = w.kind == MPX__NUM_U ? w.u : (uint64_t)w.s;
    switch (t) {
    case MPX_CT_INT8: case MPX_CT_UINT8: case MPX_CT_CHAR: *(uint8_t *)p = (uint8_t)bits; break;
    case MPX_CT_INT16: case MPX_CT_UINT16: { uint16_t x = (uint16_t)bits; memcpy(p, &x, 2); break; }
    case MPX_CT_INT32: case MPX_CT_UINT32: { uint32_t x = (uint32_t)bits; memcpy(p, &x, 4); break; }
    case MPX_CT_INT64: case MPX_CT_UINT64: memcpy(p, &bits, 8); break;
    default: break;
    }
}

int mpx__ct_convert(int dst_type, void *dst, int src_type, const void *src)
{
    if (!mpx__ct_scalar(src_type) || !mpx__ct_scalar(dst_type))
        return MPX_EINVAL;
    if (src_type == dst_type) {
        memcpy(dst, src, mpx_ctype_size(dst_type));
        return 0;
    }
    mpx__num v = mpx__ct_load(src_type, src);
    int rc = mpx__ct_check(dst_type, &v);
    if (!rc)
        mpx__ct_store(dst_type, dst, &v);
    return rc;
}
