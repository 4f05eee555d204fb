/*
 * obj.c - values (include/mpx/obj.h): memory, reference counts, release,
 * the scalar constructors and getters, and the operations on any value.
 * Containers: obj_seq.c (tuple, list), obj_dict.c (dict, set); cycles:
 * obj_gc.c; numbers: obj_int.c; comparison: obj_cmp.c; repr: obj_repr.c.
 */
#include "core/obj_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>

/* ---- singletons -------------------------------------------------------- */

#define IMMORTAL_HDR(k) {1, (k), MPX__F_IMMORTAL, 0}

mpx_obj mpx__v_none = IMMORTAL_HDR(MPX__K_NONE);
mpx_obj mpx__v_true = IMMORTAL_HDR(MPX__K_BOOL);
mpx_obj mpx__v_false = IMMORTAL_HDR(MPX__K_BOOL);
mpx__vtuple mpx__v_empty_tuple = {{IMMORTAL_HDR(MPX__K_TUPLE), 0, 0, 0, NULL}, 0, 0};

#define S1(n) {IMMORTAL_HDR(MPX__K_INT), (n)}
#define S4(n) S1(n), S1(n + 1), S1(n + 2), S1(n + 3)
#define S16(n) S4(n), S4(n + 4), S4(n + 8), S4(n + 12)
#define S64(n) S16(n), S16(n + 16), S16(n + 32), S16(n + 48)
mpx__vint mpx__v_small[MPX__SMALL_MAX - MPX__SMALL_MIN + 1] = {
    S1(-5), S4(-4), S1(0),  S64(1), S64(65), S64(129), S64(193) /* 193..256 */
};

MPX_API mpx_obj *mpx_obj_none(void)
{
    return &mpx__v_none;
}

MPX_API mpx_obj *mpx_obj_true(void)
{
    return &mpx__v_true;
}

MPX_API mpx_obj *mpx_obj_false(void)
{
    return &mpx__v_false;
}

MPX_API mpx_obj *mpx_obj_bool(int b)
{
    return b ? &mpx__v_true : &mpx__v_false;
}

/* ---- memory: a per-thread cache of small blocks ------------------------ *
 * Decoding makes many small values and a message's values usually die
 * together, so freed blocks of up to 128 bytes are kept per thread (up to
 * 64 KiB per size class) and reused: an allocation then costs a few
 * nanoseconds instead of malloc's ~20. */

__thread mpx__vcache *mpx__tcache __attribute__((tls_model("initial-exec")));
/* Values allocated minus values freed by this thread (tests use it to
 * prove that nothing leaked). */
__thread int64_t mpx__tlive __attribute__((tls_model("initial-exec")));
#define tcache mpx__tcache
#define live mpx__tlive
typedef mpx__vcache vcache;

int64_t mpx__v_live(void);
int64_t mpx__v_live(void)
{
    return live;
}
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_destroy(void *p)
{
    vcache *c = p;
    for (int i = 0; i < MPX__CACHE_CLASSES; i++) {
        void *b = c->head[i];
        while (b) {
            void *next = *(void **)b;
            free(b);
            b = next;
        }
    }
    free(c);
    tcache = NULL;
}

static void cache_key_init(void)
{
    pthread_key_create(&cache_key, cache_destroy);
}

static vcache *cache_get(void)
{
    vcache *c = tcache;
    if (MPX__LIKELY(c))
        return c;
    pthread_once(&cache_once, cache_key_init);
    c = calloc(1, sizeof *c);
    if (c) {
        tcache = c;
        pthread_setspecific(cache_key, c);
    }
    return c;
}

static void *cache_alloc(size_t size)
{
    if (size <= 128) {
        unsigned cls = (unsigned)((size + 15) / 16) - 1;
        vcache *c = cache_get();
        if (c && c->head[cls]) {
            void *b = c->head[cls];
            c->head[cls] = *(void **)b;
            c->count[cls]--;
            return b;
        }
        return malloc((cls + 1) * 16);
    }
    return malloc(size);
}

static void cache_free(void *p, size_t size)
{
    if (size <= 128) {
        unsigned cls = (unsigned)((size + 15) / 16) - 1;
        vcache *c = tcache;
        if (c && c->count[cls] < MPX__CACHE_BYTES / ((cls + 1) * 16)) {
            *(void **)p = c->head[cls];
            c->head[cls] = p;
            c->count[cls]++;
            return;
        }
    }
    free(p);
}

void *mpx__v_alloc_slow(size_t size)
{
    void *b = cache_alloc(size);
    if (b)
        live++;
    return b;
}

void mpx__v_free_slow(void *p, size_t size)
{
    live--;
    cache_free(p, size);
}

void *mpx__v_arr_realloc_slow(void *p, size_t old, size_t size)
{
    if (!p || old == 0)
        return size ? cache_alloc(size) : NULL;
    if (old > 128 && size > 128)
        return realloc(p, size);
    void *n = cache_alloc(size);
    if (!n)
        return NULL;
    memcpy(n, p, old < size ? old : size);
    cache_free(p, old);
    return n;
}

void mpx__v_arr_free_slow(void *p, size_t size)
{
    if (p)
        cache_free(p, size);
}

static void *valloc_hdr(size_t size, int kind)
{
    mpx_obj *o = mpx__v_alloc(size);
    if (o) {
        o->refcnt = 1;
        o->kind = (uint8_t)kind;
        o->flags = 0;
        o->spare = 0;
    }
    return o;
}

size_t mpx__v_size(const mpx_obj *o)
{
    switch (o->kind) {
    case MPX__K_INT:
        return sizeof(mpx__vint);
    case MPX__K_FLOAT:
        return sizeof(mpx__vfloat);
    case MPX__K_BIG:
        return sizeof(mpx__vbig) + ((const mpx__vbig *)o)->n * sizeof(uint32_t);
    case MPX__K_STR:
        return sizeof(mpx__vstr) + ((const mpx__vstr *)o)->len + 1;
    case MPX__K_BYTES: {
        const mpx__vbytes *b = (const mpx__vbytes *)o;
        return sizeof(mpx__vbytes) + (b->data == b->inl ? b->len : 0);
    }
    case MPX__K_BYTEARRAY:
        return sizeof(mpx__vbytearray);
    case MPX__K_CLASS:
        return sizeof(mpx__vclass);
    case MPX__K_TUPLE:
        return sizeof(mpx__vtuple) + ((const mpx__vtuple *)o)->n * sizeof(mpx_obj *);
    case MPX__K_LIST:
        return sizeof(mpx__vlist);
    case MPX__K_DICT:
    case MPX__K_SET:
    case MPX__K_FROZENSET:
        return sizeof(mpx__vdict);
    case MPX__K_INSTANCE:
        return sizeof(mpx__vinst);
    default:
        return 0;
    }
}

void mpx__v_err(mpx_obj_error *err, int code, size_t off, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    err->offset = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
}

/* ---- UTF-8 --------------------------------------------------------------- */

int64_t mpx__utf8_scan(const unsigned char *s, size_t n, size_t *bad, const char **why)
{
    size_t i = 0, ncp = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                ncp += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            ncp++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            *bad = i;
            *why = "invalid start byte";
            return -1;
        }
        if (n - i - 1 < need) {
            /* a surrogate's lead shows as soon as its second byte does */
            if (c == 0xED && n - i >= 2 && s[i + 1] >= 0xA0 && s[i + 1] <= 0xBF)
                goto surrogate;
            *bad = i;
            *why = "unexpected end of data";
            return -1;
        }
        unsigned c1 = s[i + 1];
        if (c1 < lo || c1 > hi) {
            if (c == 0xED && c1 >= 0xA0 && c1 <= 0xBF)
                goto surrogate;
            *bad = i;
            *why = "invalid continuation byte";
            return -1;
        }
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                *bad = i;
                *why = "invalid continuation byte";
                return -1;
            }
        }
        i += need + 1;
        ncp++;
        continue;
    surrogate:
        *bad = i;
        *why = "surrogate code point (a Python str with lone surrogates has no UTF-8 form)";
        return -1;
    }
    return (int64_t)ncp;
}

uint32_t mpx__utf8_surrogate_at(const unsigned char *s, size_t n, size_t at)
{
    /* ED A0..BF [80..BF]: the third byte may be missing */
    uint32_t cp = 0xD000 | ((uint32_t)(s[at + 1] & 0x3F) << 6);
    if (at + 2 < n)
        cp |= s[at + 2] & 0x3Fu;
    return cp;
}

int mpx__utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xE0) {
        *cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        return 2;
    }
    if (c < 0xF0) {
        *cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    *cp = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

int mpx__utf8_put(uint32_t cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

MPX_API int mpx_obj_utf8_check(const char *s, size_t len, mpx_obj_error *err)
{
    if (!s && len)
        return MPX_EINVAL;
    size_t bad;
    const char *why;
    if (mpx__utf8_scan((const unsigned char *)s, len, &bad, &why) < 0) {
        uint32_t cp = 0;
        if (why[0] == 's')
            cp = mpx__utf8_surrogate_at((const unsigned char *)s, len, bad);
        if (cp)
            mpx__v_err(err, MPX_EINVAL, bad, "'utf-8' codec can't decode: lone surrogate U+%04X at offset %zu",
                       (unsigned)cp, bad);
        else
            mpx__v_err(err, MPX_EINVAL, bad, "'utf-8' codec can't decode byte 0x%02x in position %zu: %s",
                       (unsigned)(unsigned char)s[bad], bad, why);
        return MPX_EINVAL;
    }
    return 0;
}

/* ---- scalars ------------------------------------------------------------- */

mpx_obj *mpx__v_int(int64_t v)
{
    if (v >= MPX__SMALL_MIN && v <= MPX__SMALL_MAX)
        return &mpx__v_small[v - MPX__SMALL_MIN].h;
    mpx__vint *o = valloc_hdr(sizeof *o, MPX__K_INT);
    if (o)
        o->v = v;
    return MPX__V(o);
}

mpx_obj *mpx__v_float(double v)
{
    mpx__vfloat *o = valloc_hdr(sizeof *o, MPX__K_FLOAT);
    if (o)
        o->v = v;
    return MPX__V(o);
}

MPX_API mpx_obj *mpx_obj_int(int64_t v)
{
    return mpx__v_int(v);
}

MPX_API mpx_obj *mpx_obj_uint(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX)
        return mpx__v_int((int64_t)v);
    uint32_t d[2] = {(uint32_t)v, (uint32_t)(v >> 32)};
    return mpx__big_from_limbs(d, 2, 0);
}

MPX_API mpx_obj *mpx_obj_float(double v)
{
    return mpx__v_float(v);
}

MPX_API mpx_obj *mpx_obj_int_from_bytes(const void *p, size_t n, int little_endian, int is_signed)
{
    if (!p && n)
        return NULL;
    if (little_endian)
        return mpx__big_from_le(p, n, is_signed);
    unsigned char *tmp = malloc(n ? n : 1);
    if (!tmp)
        return NULL;
    for (size_t i = 0; i < n; i++)
        tmp[i] = ((const unsigned char *)p)[n - 1 - i];
    mpx_obj *o = mpx__big_from_le(tmp, n, is_signed);
    free(tmp);
    return o;
}

MPX_API mpx_obj *mpx_obj_int_parse(const char *text, size_t len, int base, mpx_obj_error *err)
{
    if (!text || (base != 0 && (base < 2 || base > 36))) {
        mpx__v_err(err, MPX_EINVAL, MPX_OBJ_NO_OFFSET, "int() base must be >= 2 and <= 36, or 0");
        return NULL;
    }
    mpx_obj *o = NULL;
    size_t bad = 0;
    int rc = mpx__int_parse(text, len, base, &o, &bad);
    if (rc) {
        if (rc == MPX_EINVAL)
            mpx__v_err(err, rc, bad, "invalid literal for int() with base %d: '%.*s'", base,
                       (int)(len > 60 ? 60 : len), text);
        else
            mpx__v_err(err, rc, MPX_OBJ_NO_OFFSET, "%s", mpx_strerror(rc));
        return NULL;
    }
    return o;
}

/* ---- str ----------------------------------------------------------------- */

mpx_obj *mpx__v_str_raw(const char *s, size_t len, size_t ncp, int ascii)
{
    if (len > SIZE_MAX - sizeof(mpx__vstr) - 1)
        return NULL;
    mpx__vstr *o = valloc_hdr(sizeof *o + len + 1, MPX__K_STR);
    if (!o)
        return NULL;
    o->len = len;
    o->ncp = ncp;
    if (len)
        memcpy(o->data, s, len);
    o->data[len] = 0;
    if (ascii)
        o->h.flags = MPX__F_ASCII;
    return MPX__V(o);
}

int mpx__v_str_check(const char *s, size_t len, mpx_obj **out, size_t *bad_off, char *why,
                     size_t whylen)
{
    size_t bad;
    const char *w;
    int64_t ncp = mpx__utf8_scan((const unsigned char *)s, len, &bad, &w);
    if (ncp < 0) {
        if (bad_off)
            *bad_off = bad;
        if (why)
            snprintf(why, whylen, "%s", w);
        return MPX_EINVAL;
    }
    *out = mpx__v_str_raw(s, len, (size_t)ncp, (size_t)ncp == len);
    return *out ? 0 : -ENOMEM;
}

MPX_API mpx_obj *mpx_obj_strn(const char *s, size_t len)
{
    if (!s && len)
        return NULL;
    mpx_obj *o = NULL;
    if (mpx__v_str_check(s ? s : "", len, &o, NULL, NULL, 0))
        return NULL;
    return o;
}

MPX_API mpx_obj *mpx_obj_str(const char *s)
{
    return s ? mpx_obj_strn(s, strlen(s)) : NULL;
}

MPX_API mpx_obj *mpx_obj_str_printf(const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    if ((size_t)n < sizeof small)
        return mpx_obj_strn(small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    mpx_obj *o = mpx_obj_strn(big, (size_t)n);
    free(big);
    return o;
}

/* ---- bytes, bytearray ------------------------------------------------------ */

MPX_API mpx_obj *mpx_obj_bytes(const void *p, size_t n)
{
    if (n > SIZE_MAX - sizeof(mpx__vbytes))
        return NULL;
    mpx__vbytes *o = valloc_hdr(sizeof *o + n, MPX__K_BYTES);
    if (!o)
        return NULL;
    o->len = n;
    o->data = o->inl;
    o->base = NULL;
    if (p && n)
        memcpy(o->inl, p, n);
    else if (n)
        memset(o->inl, 0, n);
    return MPX__V(o);
}

MPX_API mpx_obj *mpx_obj_bytes_take(void *p, size_t n)
{
    if (!p && n)
        return NULL;
    mpx__vbytes *o = valloc_hdr(sizeof *o, MPX__K_BYTES);
    if (!o) {
        free(p);
        return NULL;
    }
    o->len = n;
    o->data = p ? p : o->inl;
    o->base = NULL;
    if (p)
        o->h.flags = MPX__F_EXTERN;
    return MPX__V(o);
}

mpx_obj *mpx__v_bytes_view(mpx_obj *base, const unsigned char *p, size_t n)
{
    mpx__vbytes *o = valloc_hdr(sizeof *o, MPX__K_BYTES);
    if (!o)
        return NULL;
    o->len = n;
    o->data = p;
    o->base = mpx__v_incref(base);
    return MPX__V(o);
}

MPX_API mpx_obj *mpx_obj_bytearray(const void *p, size_t n)
{
    mpx__vbytearray *o = valloc_hdr(sizeof *o, MPX__K_BYTEARRAY);
    if (!o)
        return NULL;
    o->len = n;
    o->cap = n;
    o->data = NULL;
    if (n) {
        o->data = malloc(n);
        if (!o->data) {
            mpx__v_free(o, sizeof *o);
            return NULL;
        }
        if (p)
            memcpy(o->data, p, n);
        else
            memset(o->data, 0, n);
    }
    return MPX__V(o);
}

MPX_API unsigned char *mpx_obj_bytearray_data(mpx_obj *v)
{
    if (!v || v->kind != MPX__K_BYTEARRAY)
        return NULL;
    mpx__vbytearray *b = (mpx__vbytearray *)v;
    return b->data ? b->data : (unsigned char *)&b->len; /* non-NULL when empty */
}

MPX_API int mpx_obj_bytearray_resize(mpx_obj *v, size_t n)
{
    if (!v)
        return MPX_EINVAL;
    if (v->kind != MPX__K_BYTEARRAY)
        return MPX_ETYPE;
    mpx__vbytearray *b = (mpx__vbytearray *)v;
    if (n > b->cap) {
        size_t cap = b->cap + b->cap / 2;
        if (cap < n)
            cap = n;
        unsigned char *d = realloc(b->data, cap);
        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n > b->len)
        memset(b->data + b->len, 0, n - b->len);
    b->len = n;
    return 0;
}

/* ---- class references and instances ---------------------------------------- */

mpx_obj *mpx__v_class_new(mpx_obj *module, mpx_obj *name)
{
    mpx__vclass *o = module && name ? valloc_hdr(sizeof *o, MPX__K_CLASS) : NULL;
    if (!o) {
        mpx_obj_decref(module);
        mpx_obj_decref(name);
        return NULL;
    }
    o->module = module;
    o->name = name;
    return MPX__V(o);
}

MPX_API mpx_obj *mpx_obj_class(const char *module, const char *qualname)
{
    if (!module || !qualname || !*module || !*qualname)
        return NULL;
    return mpx__v_class_new(mpx_obj_str(module), mpx_obj_str(qualname));
}

MPX_API int mpx_obj_class_name(const mpx_obj *v, const char **module, const char **qualname)
{
    if (!v)
        return MPX_EINVAL;
    if (v->kind != MPX__K_CLASS)
        return MPX_ETYPE;
    const mpx__vclass *c = (const mpx__vclass *)v;
    if (module)
        *module = ((const mpx__vstr *)c->module)->data;
    if (qualname)
        *qualname = ((const mpx__vstr *)c->name)->data;
    return 0;
}

static void cont_init(mpx__vcont *c)
{
    c->nparents = 0;
    c->depth = 0;
    c->gc_refs = 0;
    c->gc_next = NULL;
}

/* Takes the references given. */
mpx__vinst *mpx__v_inst_new(mpx_obj_how how, mpx_obj *callable, mpx_obj *args, mpx_obj *kwargs)
{
    mpx__vinst *o = valloc_hdr(sizeof *o, MPX__K_INSTANCE);
    if (!o)
        return NULL;
    cont_init(&o->c);
    o->how = how;
    o->callable = callable;
    o->args = args;
    o->kwargs = kwargs;
    o->state = o->listitems = o->dictitems = NULL;
    /* a new instance is referenced by nothing: no cycle can form here */
    mpx__gc_link_fast(callable);
    mpx__gc_link_fast(args);
    if (kwargs)
        mpx__gc_link_fast(kwargs);
    return o;
}

MPX_API mpx_obj *mpx_obj_instance(const mpx_obj_reduce *r)
{
    if (!r || !r->callable || (unsigned)r->how > MPX_OBJ_NEWOBJ_EX)
        return NULL;
    if (r->how != MPX_OBJ_REDUCE && r->callable->kind != MPX__K_CLASS)
        return NULL;
    if (r->args && r->args->kind != MPX__K_TUPLE)
        return NULL;
    if ((r->kwargs && r->kwargs->kind != MPX__K_DICT) || (r->how == MPX_OBJ_NEWOBJ_EX) != !!r->kwargs)
        return NULL;
    if ((r->listitems && r->listitems->kind != MPX__K_LIST) ||
        (r->dictitems && r->dictitems->kind != MPX__K_DICT))
        return NULL;
    mpx_obj *args = r->args ? mpx__v_incref(r->args) : &mpx__v_empty_tuple.c.h;
    mpx__vinst *o = mpx__v_inst_new(r->how, mpx__v_incref(r->callable), args,
                                    r->kwargs ? mpx__v_incref(r->kwargs) : NULL);
    if (!o) {
        mpx_obj_decref(r->callable);
        mpx_obj_decref(args);
        mpx_obj_decref(r->kwargs);
        return NULL;
    }
    if (r->state) {
        o->state = mpx__v_incref(r->state);
        mpx__gc_link_fast(o->state);
    }
    if (r->listitems) {
        o->listitems = mpx__v_incref(r->listitems);
        mpx__gc_link_fast(o->listitems);
    }
    if (r->dictitems) {
        o->dictitems = mpx__v_incref(r->dictitems);
        mpx__gc_link_fast(o->dictitems);
    }
    return MPX__V(o);
}

MPX_API int mpx_obj_instance_get(const mpx_obj *v, mpx_obj_reduce *r)
{
    if (!v || !r)
        return MPX_EINVAL;
    if (v->kind != MPX__K_INSTANCE)
        return MPX_ETYPE;
    const mpx__vinst *o = (const mpx__vinst *)v;
    r->how = o->how;
    r->callable = o->callable;
    r->args = o->args;
    r->kwargs = o->kwargs;
    r->state = o->state;
    r->listitems = o->listitems;
    r->dictitems = o->dictitems;
    return 0;
}

static int class_is(const mpx_obj *c, const char *module, const char *qualname)
{
    const mpx__vclass *k = (const mpx__vclass *)c;
    return c->kind == MPX__K_CLASS && !strcmp(((const mpx__vstr *)k->module)->data, module) &&
           !strcmp(((const mpx__vstr *)k->name)->data, qualname);
}

/* The class an instance is of: its callable, or for protocol 0/1's
 * copyreg._reconstructor(cls, base, state) the cls it makes. */
static const mpx_obj *inst_class(const mpx__vinst *x)
{
    if (x->how == MPX_OBJ_REDUCE && class_is(x->callable, "copyreg", "_reconstructor")) {
        const mpx__vtuple *a = (const mpx__vtuple *)x->args;
        if (a->n >= 1 && a->items[0]->kind == MPX__K_CLASS)
            return a->items[0];
    }
    return x->callable;
}

MPX_API int mpx_obj_instance_of(const mpx_obj *v, const char *module, const char *qualname)
{
    if (!v || !module || !qualname || v->kind != MPX__K_INSTANCE)
        return 0;
    const mpx_obj *c = inst_class((const mpx__vinst *)v);
    if (c->kind != MPX__K_CLASS)
        return 0;
    const mpx__vclass *k = (const mpx__vclass *)c;
    return !strcmp(((const mpx__vstr *)k->module)->data, module) &&
           !strcmp(((const mpx__vstr *)k->name)->data, qualname);
}

/* ---- release ------------------------------------------------------------- */

void mpx__v_children(const mpx_obj *o, void (*fn)(mpx_obj *child, void *arg), void *arg)
{
    switch (o->kind) {
    case MPX__K_TUPLE: {
        const mpx__vtuple *t = (const mpx__vtuple *)o;
        for (size_t i = 0; i < t->n; i++)
            if (t->items[i])
                fn(t->items[i], arg);
        break;
    }
    case MPX__K_LIST: {
        const mpx__vlist *l = (const mpx__vlist *)o;
        for (size_t i = 0; i < l->n; i++)
            fn(l->items[i], arg);
        break;
    }
    case MPX__K_DICT:
    case MPX__K_SET:
    case MPX__K_FROZENSET: {
        const mpx__vtable *t = &((const mpx__vdict *)o)->t;
        for (size_t i = 0; i < t->n; i++) {
            if (!t->e[i].key)
                continue;
            fn(t->e[i].key, arg);
            if (t->e[i].value)
                fn(t->e[i].value, arg);
        }
        break;
    }
    case MPX__K_INSTANCE: {
        const mpx__vinst *n = (const mpx__vinst *)o;
        mpx_obj *parts[] = {n->callable, n->args, n->kwargs, n->state, n->listitems, n->dictitems};
        for (size_t i = 0; i < 6; i++)
            if (parts[i])
                fn(parts[i], arg);
        break;
    }
    default:
        break;
    }
}

/* Free a leaf value (no container children) whose count reached zero. */
static void free_leaf(mpx_obj *o)
{
    switch (o->kind) {
    case MPX__K_BYTES: {
        mpx__vbytes *b = (mpx__vbytes *)o;
        if (b->base)
            mpx_obj_decref(b->base);
        else if (MPX__FL(o) & MPX__F_EXTERN)
            free((void *)b->data);
        break;
    }
    case MPX__K_BYTEARRAY:
        free(((mpx__vbytearray *)o)->data);
        break;
    case MPX__K_CLASS:
        mpx_obj_decref(((mpx__vclass *)o)->module);
        mpx_obj_decref(((mpx__vclass *)o)->name);
        break;
    default:
        break;
    }
    mpx__v_free(o, mpx__v_size(o));
}

/* Implemented in obj_gc.c: 1 when the reference was handed to the cycle
 * check (o held only by containers afterwards). */
int mpx__gc_consider(mpx_obj *o);
void mpx__gc_drain(void);

/* One release: dead containers still to free (a list through gc_next, so
 * depth never becomes recursion), and decrements of shared leaves
 * gathered per value, so that a tree holding one str 26 times pays one
 * atomic instruction for it instead of 26 (applied at the end; a value
 * that then reaches zero is freed then). */
#define WORK_LEAVES 8
typedef struct work {
    mpx__vcont *head;
    unsigned nleaves;
    mpx_obj *leaf[WORK_LEAVES];
    uint32_t count[WORK_LEAVES];
} work;
#define WORK_INIT {NULL, 0, {NULL}, {0}}

static void free_leaf(mpx_obj *o);

static void flush_leaves(work *w)
{
    for (unsigned i = 0; i < w->nleaves; i++)
        if (__atomic_sub_fetch(&w->leaf[i]->refcnt, w->count[i], __ATOMIC_ACQ_REL) == 0)
            free_leaf(w->leaf[i]);
    w->nleaves = 0;
}

/* Drop one reference to o. from_parent: the reference was held by a
 * container being freed. Dead containers go on w (freed by the caller's
 * loop, so depth never turns into recursion). */
static inline __attribute__((always_inline)) void release(mpx_obj *o, int from_parent, work *w)
{
    if (MPX__FL(o) & MPX__F_IMMORTAL)
        return;
    if (!mpx__v_is_cont(o)) {
        if (__atomic_load_n(&o->refcnt, __ATOMIC_ACQUIRE) != 1) {
            for (unsigned i = 0; i < w->nleaves; i++)
                if (w->leaf[i] == o) {
                    w->count[i]++;
                    return;
                }
            if (w->nleaves < WORK_LEAVES) {
                w->leaf[w->nleaves] = o;
                w->count[w->nleaves++] = 1;
                return;
            }
        }
        if (__atomic_load_n(&o->refcnt, __ATOMIC_ACQUIRE) == 1 ||
            __atomic_sub_fetch(&o->refcnt, 1, __ATOMIC_ACQ_REL) == 0) {
            if (o->kind == MPX__K_INT || o->kind == MPX__K_FLOAT)
                mpx__v_free(o, 16);
            else
                free_leaf(o);
        }
        return;
    }
    mpx__vcont *c = (mpx__vcont *)o;
    uint32_t rc = __atomic_load_n(&o->refcnt, __ATOMIC_ACQUIRE);
    if (rc != 1) {
        if (from_parent)
            __atomic_fetch_sub(&c->nparents, 1, __ATOMIC_RELAXED);
        if (!(mpx__v_flags(o) & MPX__F_CYC)) {
            if (__atomic_sub_fetch(&o->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
                return;
        } else {
            /* decide on the very count this drop changes (compare and
             * swap): two threads dropping the last two outside references
             * at once must not both see the other's and leave the cycle
             * unchecked */
            for (;;) {
                if (rc == 1)
                    break; /* the last reference: free */
                if (rc - 1 == __atomic_load_n(&c->nparents, __ATOMIC_RELAXED) && mpx__gc_consider(o))
                    return;
                if (__atomic_compare_exchange_n(&o->refcnt, &rc, rc - 1, 0, __ATOMIC_ACQ_REL,
                                                __ATOMIC_ACQUIRE))
                    return;
            }
        }
    }
    c->gc_next = w->head;
    w->head = c;
}

static void child_release(mpx_obj *child, void *arg)
{
    release(child, 1, arg);
}

/* Free a container whose count reached zero: its references go, then its
 * memory. */
void mpx__v_free_container_only(mpx_obj *o);
void mpx__v_free_container_only(mpx_obj *o)
{
    switch (o->kind) {
    case MPX__K_LIST:
        mpx__v_arr_free(((mpx__vlist *)o)->items, ((mpx__vlist *)o)->cap * sizeof(mpx_obj *));
        break;
    case MPX__K_DICT:
    case MPX__K_SET:
    case MPX__K_FROZENSET:
        mpx__table_free(&((mpx__vdict *)o)->t);
        break;
    default:
        break;
    }
    mpx__v_free(o, mpx__v_size(o));
}

static void free_container(mpx_obj *o, work *w)
{
    switch (o->kind) {
    case MPX__K_TUPLE: {
        mpx__vtuple *t = (mpx__vtuple *)o;
        for (size_t i = 0; i < t->n; i++)
            if (t->items[i])
                release(t->items[i], 1, w);
        break;
    }
    case MPX__K_LIST: {
        mpx__vlist *l = (mpx__vlist *)o;
        for (size_t i = 0; i < l->n; i++)
            release(l->items[i], 1, w);
        break;
    }
    case MPX__K_DICT:
    case MPX__K_SET:
    case MPX__K_FROZENSET: {
        mpx__vtable *t = &((mpx__vdict *)o)->t;
        for (size_t i = 0; i < t->n; i++) {
            if (!t->e[i].key)
                continue;
            release(t->e[i].key, 1, w);
            if (t->e[i].value)
                release(t->e[i].value, 1, w);
        }
        break;
    }
    default:
        mpx__v_children(o, child_release, w);
        break;
    }
    mpx__v_free_container_only(o);
}

static void run_work(work *w)
{
    while (w->head) {
        mpx__vcont *c = w->head;
        w->head = c->gc_next;
        free_container(&c->h, w);
    }
    if (w->nleaves)
        flush_leaves(w);
}

/* Release a reference held by a container (the caller removed it). */
void mpx__gc_unlink(mpx_obj *child)
{
    work w = WORK_INIT;
    release(child, 1, &w);
    run_work(&w);
    mpx__gc_drain();
}

/* Free a set of dead containers (the collector's garbage): their
 * references to each other were already dropped by the caller. */
void mpx__v_release_raw(mpx_obj *o, int from_parent);
void mpx__v_release_raw(mpx_obj *o, int from_parent)
{
    work w = WORK_INIT;
    release(o, from_parent, &w);
    run_work(&w);
}

void mpx__v_decref_local_slow(mpx_obj *o)
{
    if (MPX__FL(o) & MPX__F_IMMORTAL)
        return;
    uint32_t rc = o->refcnt;
    if (rc != 1) {
        if (mpx__v_is_cont(o) && (MPX__FL(o) & MPX__F_CYC) && rc - 1 == ((mpx__vcont *)o)->nparents &&
            mpx__gc_consider(o))
            return;
        o->refcnt = rc - 1;
        return;
    }
    mpx__v_release_raw(o, 0);
}

MPX_API mpx_obj *mpx_obj_incref(mpx_obj *v)
{
    if (v)
        mpx__v_incref(v);
    return v;
}

MPX_API void mpx_obj_decref(mpx_obj *v)
{
    if (!v || (MPX__FL(v) & MPX__F_IMMORTAL))
        return;
    work w = WORK_INIT;
    release(v, 0, &w);
    run_work(&w);
    mpx__gc_drain();
}

/* ---- type, getters ---------------------------------------------------------- */

static const mpx_obj_type public_type[MPX__K_COUNT] = {
    [MPX__K_NONE] = MPX_OBJ_NONE,           [MPX__K_BOOL] = MPX_OBJ_BOOL,
    [MPX__K_INT] = MPX_OBJ_INT,             [MPX__K_BIG] = MPX_OBJ_INT,
    [MPX__K_FLOAT] = MPX_OBJ_FLOAT,         [MPX__K_STR] = MPX_OBJ_STR,
    [MPX__K_BYTES] = MPX_OBJ_BYTES,         [MPX__K_BYTEARRAY] = MPX_OBJ_BYTEARRAY,
    [MPX__K_CLASS] = MPX_OBJ_CLASS,         [MPX__K_TUPLE] = MPX_OBJ_TUPLE,
    [MPX__K_LIST] = MPX_OBJ_LIST,           [MPX__K_DICT] = MPX_OBJ_DICT,
    [MPX__K_SET] = MPX_OBJ_SET,             [MPX__K_FROZENSET] = MPX_OBJ_FROZENSET,
    [MPX__K_INSTANCE] = MPX_OBJ_INSTANCE,
};

static const char *const type_names[MPX__K_COUNT] = {
    [MPX__K_NONE] = "NoneType", [MPX__K_BOOL] = "bool",   [MPX__K_INT] = "int",
    [MPX__K_BIG] = "int",       [MPX__K_FLOAT] = "float", [MPX__K_STR] = "str",
    [MPX__K_BYTES] = "bytes",   [MPX__K_BYTEARRAY] = "bytearray",
    [MPX__K_CLASS] = "type",    [MPX__K_TUPLE] = "tuple", [MPX__K_LIST] = "list",
    [MPX__K_DICT] = "dict",     [MPX__K_SET] = "set",     [MPX__K_FROZENSET] = "frozenset",
    [MPX__K_INSTANCE] = "object",
};

MPX_API mpx_obj_type mpx_obj_typeof(const mpx_obj *v)
{
    return public_type[v->kind];
}

MPX_API const char *mpx_obj_type_name(const mpx_obj *v)
{
    if (!v)
        return "NULL";
    if (v->kind == MPX__K_INSTANCE) {
        const mpx_obj *c = inst_class((const mpx__vinst *)v);
        if (c->kind == MPX__K_CLASS) {
            const char *q = ((const mpx__vstr *)((const mpx__vclass *)c)->name)->data;
            const char *dot = strrchr(q, '.');
            return dot ? dot + 1 : q;
        }
    }
    return type_names[v->kind];
}

MPX_API int mpx_obj_get_bool(const mpx_obj *v, int *out)
{
    if (!v || !out)
        return MPX_EINVAL;
    if (v->kind != MPX__K_BOOL)
        return MPX_ETYPE;
    *out = v == &mpx__v_true;
    return 0;
}

MPX_API int mpx_obj_get_int(const mpx_obj *v, int64_t *out)
{
    if (!v || !out)
        return MPX_EINVAL;
    switch (v->kind) {
    case MPX__K_BOOL:
        *out = v == &mpx__v_true;
        return 0;
    case MPX__K_INT:
        *out = ((const mpx__vint *)v)->v;
        return 0;
    case MPX__K_BIG:
        return -ERANGE;
    default:
        return MPX_ETYPE;
    }
}

MPX_API int mpx_obj_get_uint(const mpx_obj *v, uint64_t *out)
{
    if (!v || !out)
        return MPX_EINVAL;
    switch (v->kind) {
    case MPX__K_BOOL:
        *out = v == &mpx__v_true;
        return 0;
    case MPX__K_INT:
        if (((const mpx__vint *)v)->v < 0)
            return -ERANGE;
        *out = (uint64_t)((const mpx__vint *)v)->v;
        return 0;
    case MPX__K_BIG: {
        const mpx__vbig *b = (const mpx__vbig *)v;
        if (b->neg || b->n > 2)
            return -ERANGE;
        *out = (uint64_t)b->d[0] | (uint64_t)b->d[1] << 32;
        return 0;
    }
    default:
        return MPX_ETYPE;
    }
}

MPX_API int mpx_obj_get_float(const mpx_obj *v, double *out)
{
    if (!v || !out)
        return MPX_EINVAL;
    switch (v->kind) {
    case MPX__K_FLOAT:
        *out = ((const mpx__vfloat *)v)->v;
        return 0;
    case MPX__K_BOOL:
    case MPX__K_INT:
    case MPX__K_BIG:
        return mpx__int_to_double(v, out);
    default:
        return MPX_ETYPE;
    }
}

MPX_API int mpx_obj_get_str(const mpx_obj *v, const char **s, size_t *len)
{
    if (!v)
        return MPX_EINVAL;
    if (v->kind != MPX__K_STR)
        return MPX_ETYPE;
    if (s)
        *s = ((const mpx__vstr *)v)->data;
    if (len)
        *len = ((const mpx__vstr *)v)->len;
    return 0;
}

MPX_API const char *mpx_obj_str_value(const mpx_obj *v)
{
    return v && v->kind == MPX__K_STR ? ((const mpx__vstr *)v)->data : NULL;
}

MPX_API int mpx_obj_get_bytes(const mpx_obj *v, const void **p, size_t *len)
{
    if (!v)
        return MPX_EINVAL;
    if (v->kind == MPX__K_BYTES) {
        if (p)
            *p = ((const mpx__vbytes *)v)->data;
        if (len)
            *len = ((const mpx__vbytes *)v)->len;
        return 0;
    }
    if (v->kind == MPX__K_BYTEARRAY) {
        const mpx__vbytearray *b = (const mpx__vbytearray *)v;
        if (p)
            *p = b->data ? b->data : (const void *)&b->len;
        if (len)
            *len = b->len;
        return 0;
    }
    return MPX_ETYPE;
}

/* ---- any value --------------------------------------------------------------- */

MPX_API int64_t mpx_obj_len(const mpx_obj *v)
{
    if (!v)
        return MPX_EINVAL;
    switch (v->kind) {
    case MPX__K_STR:
        return (int64_t)((const mpx__vstr *)v)->ncp;
    case MPX__K_BYTES:
        return (int64_t)((const mpx__vbytes *)v)->len;
    case MPX__K_BYTEARRAY:
        return (int64_t)((const mpx__vbytearray *)v)->len;
    case MPX__K_TUPLE:
        return (int64_t)((const mpx__vtuple *)v)->n;
    case MPX__K_LIST:
        return (int64_t)((const mpx__vlist *)v)->n;
    case MPX__K_DICT:
    case MPX__K_SET:
    case MPX__K_FROZENSET:
        return (int64_t)((const mpx__vdict *)v)->t.used;
    default:
        return MPX_ETYPE;
    }
}

MPX_API int mpx_obj_truth(const mpx_obj *v)
{
    if (!v)
        return MPX_EINVAL;
    switch (v->kind) {
    case MPX__K_NONE:
        return 0;
    case MPX__K_BOOL:
        return v == &mpx__v_true;
    case MPX__K_INT:
        return ((const mpx__vint *)v)->v != 0;
    case MPX__K_BIG:
        return 1;
    case MPX__K_FLOAT:
        return ((const mpx__vfloat *)v)->v != 0.0;
    case MPX__K_CLASS:
    case MPX__K_INSTANCE:
        return 1;
    default:
        return mpx_obj_len(v) != 0;
    }
}

MPX_API mpx_obj *mpx_obj_item(const mpx_obj *seq, int64_t i)
{
    if (!seq)
        return NULL;
    size_t n;
    mpx_obj *const *items;
    if (seq->kind == MPX__K_TUPLE) {
        n = ((const mpx__vtuple *)seq)->n;
        items = ((const mpx__vtuple *)seq)->items;
    } else if (seq->kind == MPX__K_LIST) {
        n = ((const mpx__vlist *)seq)->n;
        items = ((const mpx__vlist *)seq)->items;
    } else {
        return NULL;
    }
    if (i < 0)
        i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n)
        return NULL;
    return items[i];
}

MPX_API int mpx_obj_next(const mpx_obj *v, size_t *pos, mpx_obj **item)
{
    if (!v || !pos)
        return MPX_EINVAL;
    switch (v->kind) {
    case MPX__K_TUPLE:
    case MPX__K_LIST: {
        mpx_obj *it = mpx_obj_item(v, (int64_t)*pos);
        if (!it || *pos > INT64_MAX)
            return 0;
        (*pos)++;
        if (item)
            *item = it;
        return 1;
    }
    case MPX__K_DICT:
    case MPX__K_SET:
    case MPX__K_FROZENSET: {
        const mpx__vtable *t = &((const mpx__vdict *)v)->t;
        while (*pos < t->n) {
            const mpx__ventry *e = &t->e[(*pos)++];
            if (e->key) {
                if (item)
                    *item = e->key;
                return 1;
            }
        }
        return 0;
    }
    default:
        return MPX_ETYPE;
    }
}

MPX_API int mpx_obj_clear(mpx_obj *v)
{
    if (!v)
        return MPX_EINVAL;
    switch (v->kind) {
    case MPX__K_LIST: {
        mpx__vlist *l = (mpx__vlist *)v;
        mpx_obj **items = l->items;
        size_t n = l->n, cap = l->cap;
        l->items = NULL;
        l->n = l->cap = 0;
        for (size_t i = 0; i < n; i++)
            mpx__gc_unlink(items[i]);
        mpx__v_arr_free(items, cap * sizeof(mpx_obj *));
        return 0;
    }
    case MPX__K_DICT:
    case MPX__K_SET: {
        mpx__vtable t = ((mpx__vdict *)v)->t;
        memset(&((mpx__vdict *)v)->t, 0, sizeof t);
        for (size_t i = 0; i < t.n; i++) {
            if (!t.e[i].key)
                continue;
            mpx__gc_unlink(t.e[i].key);
            if (t.e[i].value)
                mpx__gc_unlink(t.e[i].value);
        }
        mpx__table_free(&t);
        return 0;
    }
    case MPX__K_BYTEARRAY:
        ((mpx__vbytearray *)v)->len = 0;
        return 0;
    default:
        return MPX_ETYPE;
    }
}
