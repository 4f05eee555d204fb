/*
 * obj_int.c - ints of any size: a value that fits int64_t is a small int
 * (MPX__K_INT), anything else a magnitude in base 2**32 limbs and a sign
 * (MPX__K_BIG), so each number has one form and equality is structural.
 * Conversions follow Python: two's complement bytes (pickle LONG1/LONG4,
 * int.from_bytes/to_bytes), decimal text with CPython's 4300-digit limit
 * (sys.int_info.default_max_str_digits: beyond it Python raises ValueError
 * in repr and int(), which bounds the quadratic conversions), hash modulo
 * 2**61-1, correctly rounded float().
 */
#include "core/obj_internal.h"

#include <stdio.h>

#include <math.h>

#define MAX_STR_DIGITS 4300

typedef struct mag {
    const uint32_t *d;
    size_t n;
    int neg;
    uint32_t buf[2];
} mag;

/* The magnitude of any int value (bool included). */
static void get_mag(const mpx_obj *o, mag *m)
{
    if (o->kind == MPX__K_BIG) {
        const mpx__vbig *b = (const mpx__vbig *)o;
        m->d = b->d;
        m->n = b->n;
        m->neg = b->neg;
        return;
    }
    int64_t v = o->kind == MPX__K_BOOL ? (o == &mpx__v_true) : ((const mpx__vint *)o)->v;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    m->buf[0] = (uint32_t)u;
    m->buf[1] = (uint32_t)(u >> 32);
    m->d = m->buf;
    m->n = m->buf[1] ? 2 : m->buf[0] ? 1 : 0;
    m->neg = v < 0;
}

mpx_obj *mpx__big_from_limbs(const uint32_t *d, size_t n, int neg)
{
    while (n && d[n - 1] == 0)
        n--;
    if (n <= 2) {
        uint64_t u = n ? d[0] | (n > 1 ? (uint64_t)d[1] << 32 : 0) : 0;
        if (!neg && u <= (uint64_t)INT64_MAX)
            return mpx__v_int((int64_t)u);
        if (neg && u <= (uint64_t)INT64_MAX + 1)
            return mpx__v_int(u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u);
    }
    if (n > (SIZE_MAX - sizeof(mpx__vbig)) / 4 || n > UINT32_MAX)
        return NULL;
    mpx__vbig *b = mpx__v_alloc(sizeof *b + n * sizeof(uint32_t));
    if (!b)
        return NULL;
    b->h = (mpx_obj){1, MPX__K_BIG, 0, 0};
    b->n = (uint32_t)n;
    b->neg = neg;
    memcpy(b->d, d, n * sizeof(uint32_t));
    return MPX__V(b);
}

mpx_obj *mpx__big_from_le(const unsigned char *p, size_t n, int is_signed)
{
    if (n <= 8) {
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++)
            u |= (uint64_t)p[i] << (8 * i);
        if (is_signed && n && (p[n - 1] & 0x80)) {
            if (n < 8)
                u |= ~(uint64_t)0 << (8 * n);
            return mpx__v_int((int64_t)u);
        }
        if (u <= (uint64_t)INT64_MAX)
            return mpx__v_int((int64_t)u);
    }
    size_t nl = n / 4 + 1;
    uint32_t *d = calloc(nl, sizeof *d);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        d[i / 4] |= (uint32_t)p[i] << (8 * (i % 4));
    int neg = is_signed && n && (p[n - 1] & 0x80);
    if (neg) {
        /* sign-extend to the limb boundary, then negate */
        for (size_t i = n; i < nl * 4; i++)
            d[i / 4] |= (uint32_t)0xff << (8 * (i % 4));
        uint64_t carry = 1;
        for (size_t i = 0; i < nl; i++) {
            uint64_t x = (uint64_t)(uint32_t)~d[i] + carry;
            d[i] = (uint32_t)x;
            carry = x >> 32;
        }
    }
    mpx_obj *o = mpx__big_from_limbs(d, nl, neg);
    free(d);
    return o;
}

static size_t mag_bits(const mag *m)
{
    if (!m->n)
        return 0;
    return (m->n - 1) * 32 + (32 - (size_t)__builtin_clz(m->d[m->n - 1]));
}

/* Two's complement little endian of m into out[0..nbytes). */
static void mag_to_twos(const mag *m, unsigned char *out, size_t nbytes)
{
    uint64_t carry = 1;
    for (size_t i = 0; i < nbytes; i++) {
        size_t li = i / 4;
        uint32_t limb = li < m->n ? m->d[li] : 0;
        unsigned byte = (limb >> (8 * (i % 4))) & 0xff;
        if (m->neg) {
            uint64_t x = (uint64_t)(~byte & 0xff) + carry;
            out[i] = (unsigned char)x;
            carry = x >> 8;
        } else {
            out[i] = (unsigned char)byte;
        }
    }
}

size_t mpx__int_to_le(const mpx_obj *o, unsigned char *out)
{
    mag m;
    get_mag(o, &m);
    if (!m.n)
        return 0;
    size_t nbytes = (mag_bits(&m) >> 3) + 1;
    if (!out) {
        /* -(2**(8j-1)) needs one byte less: its top byte would be 0xff
         * followed by a byte with the high bit set */
        if (m.neg) {
            unsigned char tmp[2];
            unsigned char *full = malloc(nbytes);
            if (!full)
                return nbytes;
            mag_to_twos(&m, full, nbytes);
            tmp[0] = full[nbytes - 1];
            tmp[1] = nbytes > 1 ? full[nbytes - 2] : 0;
            free(full);
            if (nbytes > 1 && tmp[0] == 0xff && (tmp[1] & 0x80))
                nbytes--;
        }
        return nbytes;
    }
    mag_to_twos(&m, out, nbytes);
    if (m.neg && nbytes > 1 && out[nbytes - 1] == 0xff && (out[nbytes - 2] & 0x80))
        nbytes--;
    return nbytes;
}

MPX_API int64_t mpx_obj_int_bit_length(const mpx_obj *v)
{
    if (!v)
        return MPX_EINVAL;
    if (v->kind != MPX__K_INT && v->kind != MPX__K_BIG && v->kind != MPX__K_BOOL)
        return MPX_ETYPE;
    mag m;
    get_mag(v, &m);
    return (int64_t)mag_bits(&m);
}

MPX_API int mpx_obj_int_to_bytes(const mpx_obj *v, void *buf, size_t n, int little_endian,
                                 int is_signed)
{
    if (!v || (!buf && n))
        return MPX_EINVAL;
    if (v->kind != MPX__K_INT && v->kind != MPX__K_BIG && v->kind != MPX__K_BOOL)
        return MPX_ETYPE;
    mag m;
    get_mag(v, &m);
    if (m.neg && !is_signed)
        return -ERANGE;
    size_t bits = mag_bits(&m);
    /* room: unsigned needs bits; signed needs bits + 1, except -(2**k) */
    size_t need = bits;
    if (is_signed && m.n) {
        int pow2 = m.neg;
        if (pow2) {
            for (size_t i = 0; i + 1 < m.n; i++)
                if (m.d[i]) {
                    pow2 = 0;
                    break;
                }
            if (pow2 && (m.d[m.n - 1] & (m.d[m.n - 1] - 1)))
                pow2 = 0;
        }
        need = pow2 ? bits : bits + 1;
    }
    if (need > n * 8)
        return -ERANGE;
    unsigned char *out = buf;
    mag_to_twos(&m, out, n);
    if (!little_endian)
        for (size_t i = 0; i < n / 2; i++) {
            unsigned char t = out[i];
            out[i] = out[n - 1 - i];
            out[n - 1 - i] = t;
        }
    return 0;
}

int mpx__int_sign(const mpx_obj *o)
{
    mag m;
    get_mag(o, &m);
    return !m.n ? 0 : m.neg ? -1 : 1;
}

/* ---- decimal text --------------------------------------------------------- */

char *mpx__int_to_dec(const mpx_obj *o, size_t *len)
{
    if (o->kind != MPX__K_BIG) {
        char buf[24];
        int n = snprintf(buf, sizeof buf, "%lld",
                         (long long)(o->kind == MPX__K_BOOL ? (o == &mpx__v_true) : ((const mpx__vint *)o)->v));
        char *s = malloc((size_t)n + 1);
        if (s) {
            memcpy(s, buf, (size_t)n + 1);
            if (len)
                *len = (size_t)n;
        }
        return s;
    }
    mag m;
    get_mag(o, &m);
    if (mag_bits(&m) > 14300) { /* more than 4300 digits */
        errno = ERANGE;
        return NULL;
    }
    size_t n = m.n;
    uint32_t *t = malloc(n * sizeof *t);
    /* 9 digits per chunk of 10**9 */
    size_t maxchunks = n * 32 / 29 + 2;
    uint32_t *chunks = malloc(maxchunks * sizeof *chunks);
    if (!t || !chunks) {
        free(t);
        free(chunks);
        return NULL;
    }
    memcpy(t, m.d, n * sizeof *t);
    size_t nc = 0;
    while (n) {
        uint64_t rem = 0;
        for (size_t i = n; i-- > 0;) {
            uint64_t cur = (rem << 32) | t[i];
            t[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        chunks[nc++] = (uint32_t)rem;
        while (n && t[n - 1] == 0)
            n--;
    }
    free(t);
    char *s = malloc(nc * 9 + 2);
    if (!s) {
        free(chunks);
        return NULL;
    }
    size_t p = 0;
    if (m.neg)
        s[p++] = '-';
    p += (size_t)sprintf(s + p, "%u", chunks[nc - 1]);
    for (size_t i = nc - 1; i-- > 0;)
        p += (size_t)sprintf(s + p, "%09u", chunks[i]);
    free(chunks);
    if (p - (size_t)m.neg > MAX_STR_DIGITS) {
        free(s);
        errno = ERANGE;
        return NULL;
    }
    if (len)
        *len = p;
    return s;
}

static int digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int mpx__int_parse(const char *s, size_t n, int base, mpx_obj **out, size_t *bad_off)
{
    size_t i = 0, end = n;
    while (i < end && is_space((unsigned char)s[i]))
        i++;
    while (end > i && is_space((unsigned char)s[end - 1]))
        end--;
    int neg = 0;
    if (i < end && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int b = base;
    int prefixed = 0;
    if (i + 1 < end && s[i] == '0') {
        int c = s[i + 1] | 0x20;
        int pb = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 0;
        if (pb && (base == 0 || base == pb)) {
            b = pb;
            i += 2;
            prefixed = 1;
        }
    }
    int zero_lead = 0;
    if (b == 0) {
        b = 10;
        zero_lead = i < end && s[i] == '0'; /* "010" is invalid with base 0 */
    }
    size_t start = i;
    size_t ndig = 0;
    int last_us = prefixed; /* "0x_1" is valid, "_1" is not */
    for (size_t k = i; k < end; k++) {
        if (s[k] == '_') {
            if (last_us && !(prefixed && k == start)) {
                *bad_off = k;
                return MPX_EINVAL;
            }
            if (k == start && !prefixed) {
                *bad_off = k;
                return MPX_EINVAL;
            }
            last_us = 1;
            continue;
        }
        if (digit_value((unsigned char)s[k]) >= b) {
            *bad_off = k;
            return MPX_EINVAL;
        }
        last_us = 0;
        ndig++;
    }
    if (!ndig || (end > start && s[end - 1] == '_')) {
        *bad_off = end;
        return MPX_EINVAL;
    }
    if (b != 2 && b != 4 && b != 8 && b != 16 && b != 32 && ndig > MAX_STR_DIGITS) {
        *bad_off = start;
        return -ERANGE;
    }
    if (zero_lead) {
        for (size_t k = start; k < end; k++)
            if (s[k] != '0' && s[k] != '_') {
                *bad_off = start;
                return MPX_EINVAL;
            }
    }
    /* accumulate: mag = mag * b + digit */
    size_t cap = ndig * 6 / 32 + 2;
    uint32_t *d = calloc(cap, sizeof *d);
    if (!d)
        return -ENOMEM;
    size_t nl = 0;
    for (size_t k = start; k < end; k++) {
        if (s[k] == '_')
            continue;
        uint64_t carry = (uint64_t)digit_value((unsigned char)s[k]);
        for (size_t j = 0; j < nl; j++) {
            uint64_t x = (uint64_t)d[j] * (uint64_t)b + carry;
            d[j] = (uint32_t)x;
            carry = x >> 32;
        }
        if (carry)
            d[nl++] = (uint32_t)carry;
    }
    *out = mpx__big_from_limbs(d, nl, neg);
    free(d);
    return *out ? 0 : -ENOMEM;
}

/* ---- hash, comparison, float ------------------------------------------------ */

#define HASH_P ((uint64_t)0x1FFFFFFFFFFFFFFFULL) /* 2**61 - 1 */

uint64_t mpx__int_hash(const mpx_obj *o)
{
    mag m;
    get_mag(o, &m);
    uint64_t x = 0;
    for (size_t i = m.n; i-- > 0;) {
        unsigned __int128 t = ((unsigned __int128)x << 32) | m.d[i];
        x = (uint64_t)(t % HASH_P);
    }
    if (m.neg)
        x = (uint64_t)0 - x;
    if (x == UINT64_MAX)
        x = UINT64_MAX - 1;
    return x;
}

static int mag_cmp(const mag *a, const mag *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (size_t i = a->n; i-- > 0;)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

int mpx__int_cmp(const mpx_obj *a, const mpx_obj *b)
{
    if (a->kind == MPX__K_INT && b->kind == MPX__K_INT) {
        int64_t x = ((const mpx__vint *)a)->v, y = ((const mpx__vint *)b)->v;
        return x < y ? -1 : x > y;
    }
    mag ma, mb;
    get_mag(a, &ma);
    get_mag(b, &mb);
    int sa = !ma.n ? 0 : ma.neg ? -1 : 1, sb = !mb.n ? 0 : mb.neg ? -1 : 1;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    int c = mag_cmp(&ma, &mb);
    return sa < 0 ? -c : c;
}

int mpx__int_cmp_double(const mpx_obj *i, double d)
{
    if (isinf(d))
        return d > 0 ? -1 : 1;
    mag m;
    get_mag(i, &m);
    int si = !m.n ? 0 : m.neg ? -1 : 1;
    int sd = d > 0 ? 1 : d < 0 ? -1 : 0;
    if (si != sd)
        return si < sd ? -1 : 1;
    if (si == 0)
        return 0;
    /* same sign: compare magnitudes |i| and |d| exactly */
    double ad = fabs(d);
    int e;
    frexp(ad, &e); /* ad = f * 2**e, 0.5 <= f < 1: ad has e integer bits */
    size_t bits = mag_bits(&m);
    int c;
    if (e <= 0)
        c = 1; /* |d| < 1 <= |i| */
    else if (bits != (size_t)e)
        c = bits < (size_t)e ? -1 : 1;
    else {
        /* same bit length: compare integer parts, then the fraction */
        double ip = floor(ad);
        double frac = ad - ip;
        /* ip as limbs: exact, since ip < 2**e and has at most 53 significant bits */
        size_t nl = ((size_t)e + 31) / 32;
        uint32_t buf[40];
        uint32_t *dl = nl <= 40 ? buf : calloc(nl, sizeof *dl);
        if (!dl)
            return 0;
        double rest = ip;
        for (size_t k = nl; k-- > 0;) {
            double p = ldexp(1.0, (int)(32 * k));
            double q = floor(rest / p);
            dl[k] = (uint32_t)q;
            rest -= q * p;
        }
        mag md = {dl, nl, 0, {0, 0}};
        while (md.n && dl[md.n - 1] == 0)
            md.n--;
        c = mag_cmp(&m, &md);
        if (dl != buf)
            free(dl);
        if (c == 0 && frac > 0)
            c = -1;
    }
    return si < 0 ? -c : c;
}

int mpx__int_to_double(const mpx_obj *o, double *out)
{
    if (o->kind != MPX__K_BIG) {
        *out = (double)(o->kind == MPX__K_BOOL ? (o == &mpx__v_true) : ((const mpx__vint *)o)->v);
        return 0;
    }
    mag m;
    get_mag(o, &m);
    size_t bits = mag_bits(&m);
    if (bits > 1024)
        return -ERANGE;
    /* the top 64 bits, with a sticky bit for everything below */
    size_t shift = bits - 64;
    uint64_t top = 0;
    int sticky = 0;
    for (size_t k = 0; k < 64; k++) {
        size_t bit = shift + k;
        if ((m.d[bit / 32] >> (bit % 32)) & 1)
            top |= (uint64_t)1 << k;
    }
    for (size_t i = 0; i < shift / 32 && !sticky; i++)
        sticky = m.d[i] != 0;
    if (!sticky && shift % 32)
        sticky = (m.d[shift / 32] & ((1u << (shift % 32)) - 1)) != 0;
    top |= (uint64_t)sticky;
    double r = ldexp((double)top, (int)shift);
    if (isinf(r))
        return -ERANGE;
    *out = m.neg ? -r : r;
    return 0;
}
