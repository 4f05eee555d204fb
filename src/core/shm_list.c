/*
 * shm_list.c - ShareableList (SHMEM-06), byte-compatible with CPython's
 * multiprocessing.shared_memory.ShareableList (the same layout in 3.8 to
 * 3.13; docs/shm.md, "ShareableList layout"):
 *
 *   0                 int64 n (native order)
 *   8                 int64 offsets[n + 1] of the slots, from the data start
 *   (n + 2) * 8       data: one slot per item, 8 bytes, or 8 * (len // 8 + 1)
 *                     for str/bytes (str: len in characters)
 *   data + offs[n]    n formats of 8 bytes, NUL-padded: "q", "d",
 *                     "xxxxxxx?" (bool), "xxxxxx?x" (None), "<N>s"
 *   + 8 * n           n decode codes (int8): 0 int/float/bool, 1 str,
 *                     2 bytes, 3 None
 *
 * A slot's capacity is offs[i+1] - offs[i]; nothing is ever written past
 * it. Offsets are read and checked once, at open; formats and codes are
 * read at every access (another process may change an item's type), and
 * checked against the slot each time, so a corrupt or hostile block gives
 * MPX_EPROTO, never an access outside it.
 */
#include "core/shm_internal.h"
#include "core/sync_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SL_MAX_SLOT 9999999u /* "<N>s" must fit the 8-byte format field */

struct mpx_shareable_list {
    mpx__obj hdr;
    mpx_shm *shm;
    size_t n;
    uint64_t *offs;    /* n + 1 slot offsets from data_start */
    size_t data_start; /* (n + 2) * 8 */
    size_t fmt_off;    /* data_start + offs[n] */
    size_t code_off;   /* fmt_off + 8 * n */
};

enum { F_Q = 1, F_D, F_BOOL, F_NONE, F_S };

static void sl_drop(void *obj);
static int sl_export(void *obj, mpx__buf *data, mpx__fdlist *fds);
static int sl_import(mpx__rd *rd, const int *fds, int nfds, void **out);

static mpx__objtype sl_type = {
    .name = "shareable_list", .export_ = sl_export, .import_ = sl_import, .drop = sl_drop};

static mpx_shareable_list *sl_of(const void *p)
{
    const mpx_shareable_list *l = p;
    if (!l || l->hdr.magic != MPX__OBJ_MAGIC || l->hdr.type != &sl_type)
        return NULL;
    return (mpx_shareable_list *)l;
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* Strict UTF-8 (no overlong forms, surrogates or values past U+10FFFF,
 * as Python's codec): the number of characters, or -1. */
static int64_t utf8_chars(const unsigned char *s, size_t n)
{
    int64_t chars = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            chars++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return -1;
        }
        if (n - i <= k)
            return -1;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return -1;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        i += k + 1;
        chars++;
    }
    return chars;
}

/* ---- layout ------------------------------------------------------------ */

static unsigned char *base(const mpx_shareable_list *l)
{
    return mpx_shm_buf(l->shm);
}

static int norm_index(const mpx_shareable_list *l, int64_t index, size_t *out)
{
    if (index < 0)
        index += (int64_t)l->n;
    if (index < 0 || (uint64_t)index >= l->n)
        return MPX_EINVAL; /* IndexError */
    *out = (size_t)index;
    return 0;
}

typedef struct slotinfo {
    int fmt;      /* F_* */
    size_t n;     /* F_S: bytes of the format */
    int code;     /* decode code 0..3 */
    size_t off;   /* of the slot, from the start of the block */
    size_t cap;   /* slot capacity */
    int type;     /* MPX_SL_* */
} slotinfo;

/* Read and check item i's format and code. */
static int slot_read(const mpx_shareable_list *l, const unsigned char *b, size_t i, slotinfo *si)
{
    char f[9];
    memcpy(f, b + l->fmt_off + 8 * i, 8);
    f[8] = 0; /* Python: .rstrip(b'\x00') */
    size_t fl = strlen(f);
    si->off = l->data_start + l->offs[i];
    si->cap = l->offs[i + 1] - l->offs[i];
    si->n = 0;
    if (!strcmp(f, "q"))
        si->fmt = F_Q;
    else if (!strcmp(f, "d"))
        si->fmt = F_D;
    else if (!strcmp(f, "xxxxxxx?"))
        si->fmt = F_BOOL;
    else if (!strcmp(f, "xxxxxx?x"))
        si->fmt = F_NONE;
    else if (fl >= 2 && f[fl - 1] == 's' && strspn(f, "0123456789") == fl - 1) {
        si->fmt = F_S;
        si->n = (size_t)strtoul(f, NULL, 10);
        if (si->n > si->cap)
            return MPX_EPROTO; /* would read past the slot */
    } else {
        return MPX_EPROTO;
    }
    si->code = (signed char)b[l->code_off + i];
    switch (si->code) {
    case 0:
        si->type = si->fmt == F_Q ? MPX_SL_INT : si->fmt == F_D ? MPX_SL_FLOAT
                 : si->fmt == F_S ? 0 : MPX_SL_BOOL;
        break;
    case 1: si->type = si->fmt == F_S ? MPX_SL_STR : 0; break;
    case 2: si->type = si->fmt == F_S ? MPX_SL_BYTES : 0; break;
    case 3: si->type = MPX_SL_NONE; break;
    default: si->type = 0;
    }
    return si->type ? 0 : MPX_EPROTO;
}

/* A str/bytes slot's value: its bytes without the trailing NULs. */
static size_t text_len(const unsigned char *p, size_t n)
{
    while (n && p[n - 1] == 0)
        n--;
    return n;
}

/* Item index as a borrowed view (p points into the block). */
static int item_view(const mpx_shareable_list *l, int64_t index, mpx_sl_item *v)
{
    if (!sl_of(l) || !v)
        return MPX_EINVAL;
    size_t i;
    int rc = norm_index(l, index, &i);
    if (rc)
        return rc;
    const unsigned char *b = base(l);
    if (!b)
        return MPX_ECLOSED;
    slotinfo si;
    rc = slot_read(l, b, i, &si);
    if (rc)
        return rc;
    memset(v, 0, sizeof *v);
    v->type = si.type;
    const unsigned char *p = b + si.off;
    switch (si.type) {
    case MPX_SL_INT: memcpy(&v->i, p, 8); break;
    case MPX_SL_FLOAT: memcpy(&v->f, p, 8); break;
    case MPX_SL_BOOL: v->i = p[si.fmt == F_NONE ? 6 : 7] != 0; break;
    case MPX_SL_STR:
    case MPX_SL_BYTES:
        v->p = p;
        v->len = text_len(p, si.n);
        if (si.type == MPX_SL_STR && utf8_chars(p, v->len) < 0)
            return -EILSEQ; /* UnicodeDecodeError */
        break;
    default: break;
    }
    return 0;
}

/* ---- creating ------------------------------------------------------------ */

/* Check a value to store; *slot gets the slot CPython's creation gives it. */
static int item_check(const mpx_sl_item *it, size_t *slot, char fmt[9])
{
    switch (it->type) {
    case MPX_SL_INT: strcpy(fmt, "q"); *slot = 8; return 0;
    case MPX_SL_FLOAT: strcpy(fmt, "d"); *slot = 8; return 0;
    case MPX_SL_BOOL:
        if (it->i != 0 && it->i != 1)
            return MPX_EINVAL;
        strcpy(fmt, "xxxxxxx?");
        *slot = 8;
        return 0;
    case MPX_SL_NONE: strcpy(fmt, "xxxxxx?x"); *slot = 8; return 0;
    case MPX_SL_STR:
    case MPX_SL_BYTES: {
        if (!it->p && it->len)
            return MPX_EINVAL;
        const unsigned char *p = it->p;
        /* Trailing NULs would be stripped on reading (CPython's rule): a
         * value that cannot come back as stored is refused. */
        if (it->len && p[it->len - 1] == 0)
            return MPX_EINVAL;
        size_t units = it->len;
        if (it->type == MPX_SL_STR) {
            int64_t chars = utf8_chars(p, it->len);
            if (chars < 0)
                return -EILSEQ;
            units = (size_t)chars; /* CPython sizes a str slot by characters */
        }
        if (units >= SL_MAX_SLOT || it->len >= SL_MAX_SLOT)
            return MPX_ETOOBIG;
        size_t s = 8 * (units / 8 + 1);
        if (it->len > s)
            s = 8 * (it->len / 8 + 1); /* never truncate (CPython would) */
        if (s > SL_MAX_SLOT)
            return MPX_ETOOBIG;
        snprintf(fmt, 9, "%zus", s);
        *slot = s;
        return 0;
    }
    default: return MPX_EINVAL;
    }
}

static int code_of(int type)
{
    return type == MPX_SL_STR ? 1 : type == MPX_SL_BYTES ? 2 : type == MPX_SL_NONE ? 3 : 0;
}

/* Pack value v into the slot at p as struct.pack_into(fmt) does: the
 * format's bytes (8, or n for "<n>s") are zeroed, then the value. */
static void pack(unsigned char *p, const mpx_sl_item *v, size_t n)
{
    switch (v->type) {
    case MPX_SL_INT: memcpy(p, &v->i, 8); break;
    case MPX_SL_FLOAT: memcpy(p, &v->f, 8); break;
    case MPX_SL_BOOL:
        memset(p, 0, 8);
        p[7] = v->i != 0;
        break;
    case MPX_SL_NONE: memset(p, 0, 8); break;
    case MPX_SL_STR:
    case MPX_SL_BYTES:
        if (v->len)
            memcpy(p, v->p, v->len);
        memset(p + v->len, 0, n - v->len);
        break;
    default: break;
    }
}

static void put_fmt(unsigned char *p, const char *fmt)
{
    size_t n = strlen(fmt);
    memcpy(p, fmt, n);
    memset(p + n, 0, 8 - n);
}

static int wrap(mpx_shm *shm, mpx_shareable_list **out)
{
    mpx_shareable_list *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    const unsigned char *b = mpx_shm_buf(shm);
    size_t size = mpx_shm_size(shm);
    int64_t n;
    int rc = size >= 16 ? 0 : MPX_EPROTO;
    if (!rc) {
        memcpy(&n, b, 8);
        if (n < 0 || (uint64_t)n > (size - 16) / 17)
            rc = MPX_EPROTO;
    }
    if (!rc && !(l->offs = malloc(((size_t)n + 1) * sizeof *l->offs)))
        rc = -ENOMEM;
    if (!rc) {
        l->n = (size_t)n;
        memcpy(l->offs, b + 8, (l->n + 1) * 8);
        l->data_start = (l->n + 2) * 8;
        if (l->offs[0] != 0)
            rc = MPX_EPROTO;
        for (size_t i = 0; !rc && i < l->n; i++)
            if (l->offs[i + 1] < l->offs[i] || l->offs[i + 1] - l->offs[i] < 8 ||
                l->offs[i + 1] > size)
                rc = MPX_EPROTO;
    }
    if (!rc) {
        /* formats and codes after the data, inside the block */
        uint64_t need = (uint64_t)l->data_start + l->offs[l->n] + 9 * (uint64_t)l->n;
        if (need > size)
            rc = MPX_EPROTO;
        l->fmt_off = l->data_start + (size_t)l->offs[l->n];
        l->code_off = l->fmt_off + 8 * l->n;
    }
    if (rc) {
        free(l->offs);
        free(l);
        return rc;
    }
    mpx__obj_init(&l->hdr, &sl_type, NULL);
    l->shm = shm;
    *out = l;
    return 0;
}

static int do_create(const mpx_sl_item *items, size_t n, const char *name,
                     const mpx_shm_opts *opts, mpx_shareable_list **out)
{
    if (n > (SIZE_MAX / 64))
        return -ENOMEM;
    size_t *slots = malloc((n ? n : 1) * sizeof *slots);
    char(*fmts)[9] = malloc((n ? n : 1) * sizeof *fmts);
    int rc = slots && fmts ? 0 : -ENOMEM;
    uint64_t total = 8 + 8 * ((uint64_t)n + 1) + 9 * (uint64_t)n;
    for (size_t i = 0; !rc && i < n; i++) {
        rc = item_check(&items[i], &slots[i], fmts[i]);
        total += slots[i];
    }
    mpx_shm *shm = NULL;
    if (!rc)
        rc = mpx_shm_open(&shm, name, 1, (int64_t)total, opts);
    if (!rc) {
        unsigned char *b = mpx_shm_buf(shm);
        int64_t cnt = (int64_t)n;
        memcpy(b, &cnt, 8);
        uint64_t off = 0;
        size_t data = (n + 2) * 8;
        for (size_t i = 0; i <= n; i++) {
            memcpy(b + 8 + 8 * i, &off, 8);
            if (i < n) {
                pack(b + data + off, &items[i], slots[i]);
                off += slots[i];
            }
        }
        size_t f = data + (size_t)off;
        for (size_t i = 0; i < n; i++) {
            put_fmt(b + f + 8 * i, fmts[i]);
            b[f + 8 * n + i] = (unsigned char)code_of(items[i].type);
        }
        rc = wrap(shm, out);
        if (rc) {
            mpx_shm_unlink(shm);
            mpx_shm_destroy(shm);
        }
    }
    free(slots);
    free(fmts);
    return rc;
}

MPX_API int mpx_shareable_list_open(mpx_shareable_list **out, const mpx_sl_item *items, size_t n,
                                    const char *name, const mpx_shm_opts *opts)
{
    if (!out || (!items && n))
        return MPX_EINVAL;
    *out = NULL;
    static const mpx_sl_item none[1] = {{0, 0, 0.0, NULL, 0}};
    if (items || !name) /* Python: a sequence, or no name: create */
        return do_create(items ? items : none, items ? n : 0, name, opts, out);
    mpx_shm *shm;
    int rc = mpx_shm_open(&shm, name, 0, 0, NULL);
    if (rc)
        return rc;
    rc = wrap(shm, out);
    if (rc)
        mpx_shm_destroy(shm);
    return rc;
}

MPX_API void mpx_shareable_list_destroy(mpx_shareable_list *l)
{
    if (!(l = sl_of(l)))
        return;
    l->hdr.magic = 0;
    mpx_shm_destroy(l->shm);
    free(l->offs);
    free(l);
}

static void sl_drop(void *obj)
{
    mpx_shareable_list_destroy(obj);
}

MPX_API mpx_shm *mpx_shareable_list_shm(mpx_shareable_list *l)
{
    return (l = sl_of(l)) ? l->shm : NULL;
}

MPX_API size_t mpx_shareable_list_len(const mpx_shareable_list *l)
{
    return (l = sl_of(l)) ? l->n : 0;
}

/* ---- reading ---------------------------------------------------------------- */

MPX_API int mpx_shareable_list_type(const mpx_shareable_list *l, int64_t index)
{
    mpx_sl_item v;
    int rc = item_view(l, index, &v);
    return rc == -EILSEQ ? MPX_SL_STR : rc ? rc : v.type;
}

MPX_API int mpx_shareable_list_get(const mpx_shareable_list *l, int64_t index, mpx_sl_item *out)
{
    if (!out)
        return MPX_EINVAL;
    mpx_sl_item v;
    int rc = item_view(l, index, &v);
    if (rc)
        return rc;
    if (v.type == MPX_SL_STR || v.type == MPX_SL_BYTES) {
        char *c = malloc(v.len + 1);
        if (!c)
            return -ENOMEM;
        memcpy(c, v.p, v.len);
        c[v.len] = 0;
        v.p = c;
    }
    *out = v;
    return 0;
}

MPX_API void mpx_sl_item_clear(mpx_sl_item *it)
{
    if (!it)
        return;
    if (it->type == MPX_SL_STR || it->type == MPX_SL_BYTES)
        free((void *)it->p);
    memset(it, 0, sizeof *it);
}

static int typed(const mpx_shareable_list *l, int64_t index, int type, mpx_sl_item *v)
{
    int rc = item_view(l, index, v);
    if (!rc && v->type != type)
        rc = MPX_EINVAL;
    return rc;
}

MPX_API int mpx_shareable_list_get_int(const mpx_shareable_list *l, int64_t index, int64_t *out)
{
    mpx_sl_item v;
    int rc = out ? typed(l, index, MPX_SL_INT, &v) : MPX_EINVAL;
    if (!rc)
        *out = v.i;
    return rc;
}

MPX_API int mpx_shareable_list_get_float(const mpx_shareable_list *l, int64_t index, double *out)
{
    mpx_sl_item v;
    int rc = out ? typed(l, index, MPX_SL_FLOAT, &v) : MPX_EINVAL;
    if (!rc)
        *out = v.f;
    return rc;
}

MPX_API int mpx_shareable_list_get_bool(const mpx_shareable_list *l, int64_t index, int *out)
{
    mpx_sl_item v;
    int rc = out ? typed(l, index, MPX_SL_BOOL, &v) : MPX_EINVAL;
    if (!rc)
        *out = (int)v.i;
    return rc;
}

static int get_text(const mpx_shareable_list *l, int64_t index, int type, void *buf, size_t cap,
                    size_t *len)
{
    if (!len || (!buf && cap))
        return MPX_EINVAL;
    mpx_sl_item v;
    int rc = typed(l, index, type, &v);
    if (rc)
        return rc;
    *len = v.len;
    size_t need = v.len + (type == MPX_SL_STR);
    if (cap < need)
        return MPX_ETOOSHORT;
    if (v.len)
        memcpy(buf, v.p, v.len);
    if (type == MPX_SL_STR)
        ((char *)buf)[v.len] = 0;
    return 0;
}

MPX_API int mpx_shareable_list_get_str(const mpx_shareable_list *l, int64_t index, char *buf,
                                       size_t cap, size_t *len)
{
    return get_text(l, index, MPX_SL_STR, buf, cap, len);
}

MPX_API int mpx_shareable_list_get_bytes(const mpx_shareable_list *l, int64_t index, void *buf,
                                         size_t cap, size_t *len)
{
    return get_text(l, index, MPX_SL_BYTES, buf, cap, len);
}

/* ---- writing ------------------------------------------------------------------ */

MPX_API int mpx_shareable_list_set(mpx_shareable_list *l, int64_t index, const mpx_sl_item *value)
{
    if (!(l = sl_of(l)) || !value)
        return MPX_EINVAL;
    size_t i;
    int rc = norm_index(l, index, &i);
    if (rc)
        return rc;
    size_t slot;
    char fmt[9];
    rc = item_check(value, &slot, fmt); /* slot: unused here (creation's rule) */
    if (rc && rc != MPX_ETOOBIG)
        return rc;
    unsigned char *b = base(l);
    if (!b)
        return MPX_ECLOSED;
    slotinfo si;
    rc = slot_read(l, b, i, &si);
    if (rc)
        return rc;
    size_t n = 8;
    if (value->type == MPX_SL_STR || value->type == MPX_SL_BYTES) {
        /* Python: the current "<n>s" format stays; else the slot's size */
        n = si.fmt == F_S ? si.n : si.cap;
        if (value->len > n)
            return MPX_ETOOBIG; /* ValueError: exceeds available storage */
        snprintf(fmt, sizeof fmt, "%zus", n);
    }
    put_fmt(b + l->fmt_off + 8 * i, fmt);
    b[l->code_off + i] = (unsigned char)code_of(value->type);
    pack(b + si.off, value, n);
    return 0;
}

MPX_API int mpx_shareable_list_set_int(mpx_shareable_list *l, int64_t index, int64_t v)
{
    mpx_sl_item it = mpx_sl_int(v);
    return mpx_shareable_list_set(l, index, &it);
}

MPX_API int mpx_shareable_list_set_float(mpx_shareable_list *l, int64_t index, double v)
{
    mpx_sl_item it = mpx_sl_float(v);
    return mpx_shareable_list_set(l, index, &it);
}

MPX_API int mpx_shareable_list_set_bool(mpx_shareable_list *l, int64_t index, int v)
{
    mpx_sl_item it = mpx_sl_bool(v);
    return mpx_shareable_list_set(l, index, &it);
}

MPX_API int mpx_shareable_list_set_str(mpx_shareable_list *l, int64_t index, const char *s)
{
    if (!s)
        return MPX_EINVAL;
    mpx_sl_item it = mpx_sl_str(s);
    return mpx_shareable_list_set(l, index, &it);
}

MPX_API int mpx_shareable_list_set_bytes(mpx_shareable_list *l, int64_t index, const void *p,
                                         size_t len)
{
    mpx_sl_item it = mpx_sl_bytes(p, len);
    return mpx_shareable_list_set(l, index, &it);
}

MPX_API int mpx_shareable_list_set_none(mpx_shareable_list *l, int64_t index)
{
    mpx_sl_item it = mpx_sl_none();
    return mpx_shareable_list_set(l, index, &it);
}

/* ---- count, index ------------------------------------------------------------- */

static bool is_num(int t)
{
    return t == MPX_SL_INT || t == MPX_SL_BOOL || t == MPX_SL_FLOAT;
}

/* Python's int == float: exact. */
static bool int_eq_float(int64_t i, double d)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d))
        return false;
    return (int64_t)d == i;
}

/* Python's a == b for two items. */
static bool py_eq(const mpx_sl_item *a, const mpx_sl_item *b)
{
    if (is_num(a->type) && is_num(b->type)) {
        if (a->type != MPX_SL_FLOAT && b->type != MPX_SL_FLOAT)
            return a->i == b->i;
        if (a->type == MPX_SL_FLOAT && b->type == MPX_SL_FLOAT)
            return a->f == b->f;
        return a->type == MPX_SL_FLOAT ? int_eq_float(b->i, a->f) : int_eq_float(a->i, b->f);
    }
    if (a->type != b->type)
        return false;
    if (a->type == MPX_SL_NONE)
        return true;
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static int64_t find(const mpx_shareable_list *l, const mpx_sl_item *value, bool first)
{
    if (!(l = sl_of(l)) || !value)
        return MPX_EINVAL;
    /* any value of a known type may be looked for (also one that could
     * not be stored: it just equals nothing) */
    mpx_sl_item want = *value;
    if (want.type < MPX_SL_INT || want.type > MPX_SL_NONE ||
        ((want.type == MPX_SL_STR || want.type == MPX_SL_BYTES) && !want.p && want.len))
        return MPX_EINVAL;
    if (want.type == MPX_SL_BOOL)
        want.i = want.i != 0;
    int rc;
    int64_t count = 0;
    for (size_t i = 0; i < l->n; i++) {
        mpx_sl_item e;
        rc = item_view(l, (int64_t)i, &e);
        if (rc)
            return rc;
        if (py_eq(&e, &want)) {
            if (first)
                return (int64_t)i;
            count++;
        }
    }
    return first ? -ENOENT : count;
}

MPX_API int64_t mpx_shareable_list_count(const mpx_shareable_list *l, const mpx_sl_item *value)
{
    return find(l, value, false);
}

MPX_API int64_t mpx_shareable_list_index(const mpx_shareable_list *l, const mpx_sl_item *value)
{
    return find(l, value, true);
}

/* ---- format, repr --------------------------------------------------------------- */

MPX_API char *mpx_shareable_list_format(const mpx_shareable_list *l)
{
    if (!(l = sl_of(l)))
        return NULL;
    const unsigned char *b = base(l);
    if (!b)
        return NULL;
    mpx__buf out;
    mpx__buf_init(&out);
    int rc = mpx__buf_reserve(&out, 1);
    for (size_t i = 0; i < l->n && !rc; i++) {
        slotinfo si;
        rc = slot_read(l, b, i, &si);
        if (!rc)
            rc = mpx__buf_append(&out, b + l->fmt_off + 8 * i,
                                 strnlen((const char *)b + l->fmt_off + 8 * i, 8));
    }
    return mpx__buf_to_str(&out, rc);
}

/* Python's repr of a float: the shortest digits that read back the same,
 * positional for exponents -4..15, else d.ddde+XX. */
static int repr_float(mpx__buf *b, double d)
{
    if (isnan(d))
        return mpx__buf_printf(b, "nan");
    if (isinf(d))
        return mpx__buf_printf(b, d < 0 ? "-inf" : "inf");
    char e[40];
    for (int p = 0; p < 17; p++) {
        snprintf(e, sizeof e, "%.*e", p, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e: [-]D[.DDD]e[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *q = e;
    bool neg = *q == '-';
    if (neg)
        q++;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9')
            digits[nd++] = *q;
    int exp = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int rc = neg ? mpx__buf_put_u8(b, '-') : 0;
    if (rc)
        return rc;
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            rc = mpx__buf_printf(b, "0.");
            for (int z = 0; !rc && z < -exp - 1; z++)
                rc = mpx__buf_put_u8(b, '0');
            return rc ? rc : mpx__buf_printf(b, "%s", digits);
        }
        if ((size_t)exp + 1 >= nd) {
            rc = mpx__buf_printf(b, "%s", digits);
            for (size_t z = nd; !rc && z < (size_t)exp + 1; z++)
                rc = mpx__buf_put_u8(b, '0');
            return rc ? rc : mpx__buf_printf(b, ".0");
        }
        return mpx__buf_printf(b, "%.*s.%s", exp + 1, digits, digits + exp + 1);
    }
    if (nd > 1)
        rc = mpx__buf_printf(b, "%c.%se%c%02d", digits[0], digits + 1, exp < 0 ? '-' : '+',
                             exp < 0 ? -exp : exp);
    else
        rc = mpx__buf_printf(b, "%ce%c%02d", digits[0], exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return rc;
}

MPX_API char *mpx_shareable_list_describe(const mpx_shareable_list *l)
{
    if (!(l = sl_of(l)))
        return NULL;
    mpx__buf b;
    mpx__buf_init(&b);
    int rc = mpx__buf_printf(&b, "ShareableList([");
    for (size_t i = 0; i < l->n && !rc; i++) {
        mpx_sl_item v;
        rc = item_view(l, (int64_t)i, &v);
        if (!rc && i)
            rc = mpx__buf_printf(&b, ", ");
        if (rc)
            break;
        switch (v.type) {
        case MPX_SL_INT: rc = mpx__buf_printf(&b, "%lld", (long long)v.i); break;
        case MPX_SL_FLOAT: rc = repr_float(&b, v.f); break;
        case MPX_SL_BOOL: rc = mpx__buf_printf(&b, v.i ? "True" : "False"); break;
        case MPX_SL_NONE: rc = mpx__buf_printf(&b, "None"); break;
        default: rc = mpx__py_repr_text(&b, v.p, v.len, v.type == MPX_SL_BYTES);
        }
    }
    if (!rc)
        rc = mpx__buf_printf(&b, "], name=");
    if (!rc) {
        const char *nm = mpx_shm_name(l->shm);
        rc = mpx__py_repr_text(&b, nm, strlen(nm), false);
    }
    if (!rc)
        rc = mpx__buf_printf(&b, ")");
    return mpx__buf_to_str(&b, rc);
}

/* ---- passing to children ------------------------------------------------------------ */

static int sl_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_shareable_list *l = sl_of(obj);
    return l ? mpx__shm_export(l->shm, data, fds) : MPX_ECLOSED;
}

static int sl_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    void *shm = NULL;
    int rc = mpx__shm_import(rd, fds, nfds, &shm);
    if (rc)
        return rc;
    mpx_shareable_list *l = NULL;
    rc = wrap(shm, &l);
    if (rc) {
        mpx_shm_destroy(shm);
        return rc;
    }
    *out = l;
    return 0;
}

__attribute__((constructor)) static void shm_list_register(void)
{
    mpx__objtype_register(&sl_type);
}
