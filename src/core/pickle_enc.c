/*
 * pickle_enc.c - the pickle encoder (mpx_obj_dumps, mpx__pickle_dump).
 *
 * A port of the choices CPython's C pickler (_pickle.c, which
 * pickle.dumps uses) makes, so that the bytes are the same:
 * - PROTO outside any frame; from protocol 4 a frame opens at the first
 *   write, is committed (FRAME header when it holds >= 4 bytes, else the
 *   reserved header is removed) when a save() starts with >= 64 KiB in it
 *   and at the end; a str/bytes payload of >= 64 KiB commits the frame
 *   and is written unframed.
 * - the memo: str, bytes, tuples (non-empty), lists, dicts, sets,
 *   frozensets, bytearrays, globals and reduced objects are memoized in
 *   the order CPython does (MEMOIZE from protocol 4, BINPUT/LONG_BINPUT,
 *   text PUT at 0), and a value met again is fetched (GET). Identity is
 *   the value's address, as CPython uses id(); a value whose count is 1
 *   is reachable once, so it takes a memo index but no table entry.
 * - batching: lists, dicts and sets in batches of 1000 with MARK; a list
 *   or dict of one item uses APPEND/SETITEM; a dict or set whose size is
 *   a multiple of 1000 ends with an empty MARK ... SETITEMS/ADDITEMS
 *   batch (CPython's do/while); an instance's items (an iterator in
 *   CPython) use APPEND/SETITEM for a last batch of one.
 * - protocols 0..2 write bytes as _codecs.encode(latin-1 text, 'latin1')
 *   (one 'latin1' shared through the memo), sets and frozensets below 4 as
 *   builtins.set(list), bytearrays below 5 as builtins.bytearray(bytes),
 *   and Python 2 names (__builtin__, copy_reg ...) below 3 (fix_imports).
 * Class references are written as globals, instances as their reduction
 * (NEWOBJ below protocol 2 becomes copyreg.__newobj__, NEWOBJ_EX below 4
 * copyreg.__newobj_ex__), so that CPython rebuilds them.
 */
#include "core/pickle_internal.h"

#include <stdio.h>

typedef struct ment {
    const void *key;
    uint32_t idx;
} ment;

typedef struct enc {
    unsigned char *buf;
    size_t len, cap;
    int proto, bin, framing;
    size_t frame_start;
    ment *memo;
    size_t mmask, mcount;
    uint32_t memo_n;
    int keyall; /* > 0: inside a value memoized after its children */
    int max_depth;
    mpx_obj_error *err;
} enc;

#define NO_FRAME SIZE_MAX

/* Keys of the objects CPython memoizes that have no value here. */
static const char vk_codecs_encode, vk_latin1, vk_getattr, vk_newobj, vk_newobj_ex;
static const char vk_cls_bytes, vk_cls_set, vk_cls_frozenset, vk_cls_bytearray;
static const char vk_str_builtins, vk_str_bytearray;

static int fail(enc *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(enc *e, int code, const char *fmt, ...)
{
    if (e->err) {
        e->err->code = code;
        e->err->offset = MPX_OBJ_NO_OFFSET;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->err->text, sizeof e->err->text, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- output --------------------------------------------------------------- */

static int grow(enc *e, size_t n)
{
    if (n > SIZE_MAX / 2 - e->len)
        return -ENOMEM;
    size_t cap = e->cap * 2;
    if (cap < e->len + n + 64)
        cap = e->len + n + 64;
    unsigned char *b = realloc(e->buf, cap);
    if (!b)
        return -ENOMEM;
    e->buf = b;
    e->cap = cap;
    return 0;
}

static inline int reserve(enc *e, size_t n)
{
    /* room for n bytes plus a frame header */
    if (MPX__LIKELY(e->cap - e->len >= n + PK_FRAME_HEADER_SIZE))
        return 0;
    return grow(e, n + PK_FRAME_HEADER_SIZE);
}

static inline void frame_open(enc *e)
{
    if (e->framing && e->frame_start == NO_FRAME) {
        e->frame_start = e->len;
        e->len += PK_FRAME_HEADER_SIZE;
    }
}

static inline int w(enc *e, const void *p, size_t n)
{
    if (reserve(e, n))
        return -ENOMEM;
    frame_open(e);
    memcpy(e->buf + e->len, p, n);
    e->len += n;
    return 0;
}

static inline int w1(enc *e, unsigned char c)
{
    if (reserve(e, 1))
        return -ENOMEM;
    frame_open(e);
    e->buf[e->len++] = c;
    return 0;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void commit_frame(enc *e)
{
    if (!e->framing || e->frame_start == NO_FRAME)
        return;
    size_t flen = e->len - e->frame_start - PK_FRAME_HEADER_SIZE;
    unsigned char *q = e->buf + e->frame_start;
    if (flen >= PK_FRAME_SIZE_MIN) {
        q[0] = PK_FRAME;
        put_le(q + 1, flen, 8);
    } else {
        memmove(q, q + PK_FRAME_HEADER_SIZE, flen);
        e->len -= PK_FRAME_HEADER_SIZE;
    }
    e->frame_start = NO_FRAME;
}

static inline void opcode_boundary(enc *e)
{
    if (e->framing && e->frame_start != NO_FRAME &&
        e->len - e->frame_start - PK_FRAME_HEADER_SIZE >= PK_FRAME_SIZE_TARGET)
        commit_frame(e);
}

/* A header and its payload; large payloads go outside frames. */
static int write_bytes(enc *e, const unsigned char *hdr, size_t hn, const void *data, size_t n)
{
    int bypass = n >= PK_FRAME_SIZE_TARGET;
    int framing = e->framing;
    if (bypass) {
        commit_frame(e);
        e->framing = 0;
    }
    if (reserve(e, hn + n))
        return -ENOMEM;
    frame_open(e);
    unsigned char *q = e->buf + e->len;
    for (size_t i = 0; i < hn; i++) /* byte by byte: the header was just stored so */
        q[i] = hdr[i];
    if (n)
        memcpy(e->buf + e->len + hn, data, n);
    e->len += hn + n;
    e->framing = framing;
    return 0;
}

/* ---- memo ------------------------------------------------------------------ */

static inline size_t phash(const void *k)
{
    uint64_t x = (uint64_t)(uintptr_t)k;
    x = (x >> 3) * 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 20);
}

static long memo_find(const enc *e, const void *key)
{
    if (!e->memo)
        return -1;
    for (size_t i = phash(key) & e->mmask;; i = (i + 1) & e->mmask) {
        if (e->memo[i].key == key)
            return e->memo[i].idx;
        if (!e->memo[i].key)
            return -1;
    }
}

static int memo_insert(enc *e, const void *key, uint32_t idx)
{
    if (!e->memo || (e->mcount + 1) * 2 > e->mmask + 1) {
        size_t n = e->memo ? (e->mmask + 1) * 2 : 64;
        ment *m = calloc(n, sizeof *m);
        if (!m)
            return -ENOMEM;
        if (e->memo) {
            for (size_t i = 0; i <= e->mmask; i++) {
                if (!e->memo[i].key)
                    continue;
                size_t j = phash(e->memo[i].key) & (n - 1);
                while (m[j].key)
                    j = (j + 1) & (n - 1);
                m[j] = e->memo[i];
            }
            free(e->memo);
        }
        e->memo = m;
        e->mmask = n - 1;
    }
    size_t i = phash(key) & e->mmask;
    while (e->memo[i].key)
        i = (i + 1) & e->mmask;
    e->memo[i].key = key;
    e->memo[i].idx = idx;
    e->mcount++;
    return 0;
}

/* Can o be reached again? A value with one reference is reached once,
 * unless it lies below a value that is memoized after its children (a
 * tuple, a frozenset, a reduction) and that can itself be reached again
 * before that: then saving it twice must meet the memo (a tuple in a
 * cycle, as CPython's save_tuple handles). */
static inline const void *memo_key(const enc *e, const mpx_obj *o)
{
    return (e->keyall || __atomic_load_n(&o->refcnt, __ATOMIC_RELAXED) != 1) ? (const void *)o : NULL;
}

static long memo_lookup(const enc *e, const mpx_obj *o)
{
    const void *k = memo_key(e, o);
    return k ? memo_find(e, k) : -1;
}

/* Take the next memo index for key (NULL: an object never met again). */
static int memo_put(enc *e, const void *key)
{
    uint32_t idx = e->memo_n++;
    if (key && memo_insert(e, key, idx))
        return -ENOMEM;
    if (e->proto >= 4)
        return w1(e, PK_MEMOIZE);
    unsigned char b[32];
    if (!e->bin) {
        int n = snprintf((char *)b, sizeof b, "p%u\n", idx);
        return w(e, b, (size_t)n);
    }
    if (reserve(e, 5))
        return -ENOMEM;
    frame_open(e);
    unsigned char *q = e->buf + e->len;
    if (idx < 256) {
        q[0] = PK_BINPUT;
        q[1] = (unsigned char)idx;
        e->len += 2;
        return 0;
    }
    q[0] = PK_LONG_BINPUT;
    put_le(q + 1, idx, 4);
    e->len += 5;
    return 0;
}

static int memo_get(enc *e, long idx)
{
    unsigned char b[32];
    if (!e->bin) {
        int n = snprintf((char *)b, sizeof b, "g%ld\n", idx);
        return w(e, b, (size_t)n);
    }
    if (reserve(e, 5))
        return -ENOMEM;
    frame_open(e);
    unsigned char *q = e->buf + e->len;
    if (idx < 256) {
        q[0] = PK_BINGET;
        q[1] = (unsigned char)idx;
        e->len += 2;
        return 0;
    }
    q[0] = PK_LONG_BINGET;
    put_le(q + 1, (uint64_t)idx, 4);
    e->len += 5;
    return 0;
}

/* ---- atoms ------------------------------------------------------------------- */

static int save_obj(enc *e, const mpx_obj *o, int depth);
static inline __attribute__((always_inline)) int save(enc *e, const mpx_obj *o, int depth);

static int save_long(enc *e, const mpx_obj *o)
{
    unsigned char b[32];
    if (o->kind == MPX__K_INT) {
        int64_t v = ((const mpx__vint *)o)->v;
        if (v >= INT32_MIN && v <= INT32_MAX) {
            if (!e->bin) {
                int n = snprintf((char *)b, sizeof b, "I%lld\n", (long long)v);
                return w(e, b, (size_t)n);
            }
            /* straight into the output (bytes built on the stack and
             * copied would stall on store forwarding) */
            if (reserve(e, 5))
                return -ENOMEM;
            frame_open(e);
            unsigned char *q = e->buf + e->len;
            uint32_t u = (uint32_t)(int32_t)v;
            if (u < 256) {
                q[0] = PK_BININT1;
                q[1] = (unsigned char)u;
                e->len += 2;
            } else if (u < 65536) {
                q[0] = PK_BININT2;
                q[1] = (unsigned char)u;
                q[2] = (unsigned char)(u >> 8);
                e->len += 3;
            } else {
                q[0] = PK_BININT;
                q[1] = (unsigned char)u;
                q[2] = (unsigned char)(u >> 8);
                q[3] = (unsigned char)(u >> 16);
                q[4] = (unsigned char)(u >> 24);
                e->len += 5;
            }
            return 0;
        }
    }
    if (e->proto >= 2) {
        size_t max = (size_t)mpx_obj_int_bit_length(o) / 8 + 1;
        unsigned char small[64];
        unsigned char *data = max <= sizeof small ? small : malloc(max);
        if (!data)
            return -ENOMEM;
        size_t n = mpx__int_to_le(o, data);
        int rc;
        if (n < 256) {
            b[0] = PK_LONG1;
            b[1] = (unsigned char)n;
            rc = write_bytes(e, b, 2, data, n);
        } else if (n <= 0x7fffffffu) {
            b[0] = PK_LONG4;
            put_le(b + 1, n, 4);
            rc = write_bytes(e, b, 5, data, n);
        } else {
            rc = fail(e, -ERANGE, "int too large to pickle");
        }
        if (data != small)
            free(data);
        return rc;
    }
    size_t n;
    char *dec = mpx__int_to_dec(o, &n);
    if (!dec)
        return errno == ERANGE ? fail(e, MPX_EINVAL,
                                      "Exceeds the limit (4300 digits) for integer string conversion")
                               : -ENOMEM;
    int rc = w1(e, PK_LONG);
    if (!rc)
        rc = w(e, dec, n);
    if (!rc)
        rc = w(e, "L\n", 2);
    free(dec);
    return rc;
}

static int save_float(enc *e, double v)
{
    unsigned char b[40];
    if (e->bin) {
        uint64_t u;
        memcpy(&u, &v, 8);
        b[0] = PK_BINFLOAT;
        for (int i = 0; i < 8; i++)
            b[1 + i] = (unsigned char)(u >> (56 - 8 * i));
        return w(e, b, 9);
    }
    b[0] = PK_FLOAT;
    size_t n = mpx__float_repr(v, (char *)b + 1);
    /* repr with ".0" added where Python's 'r' mode with Py_DTSF_ADD_DOT_0
     * would: mpx__float_repr already writes 1.0, 1e+16, inf, nan */
    b[1 + n] = '\n';
    return w(e, b, n + 2);
}

/* raw_unicode_escape of one code point, as _pickle.c writes protocol 0
 * text: \uXXXX / \UXXXXXXXX for >= 256 and for \ \0 \n \r \x1a. */
static int raw_escape(enc *e, uint32_t cp)
{
    static const char hx[] = "0123456789abcdef";
    unsigned char b[10];
    if (cp >= 0x10000) {
        b[0] = '\\';
        b[1] = 'U';
        for (int i = 0; i < 8; i++)
            b[2 + i] = (unsigned char)hx[(cp >> (28 - 4 * i)) & 15];
        return w(e, b, 10);
    }
    if (cp >= 256 || cp == '\\' || cp == 0 || cp == '\n' || cp == '\r' || cp == 0x1a) {
        b[0] = '\\';
        b[1] = 'u';
        for (int i = 0; i < 4; i++)
            b[2 + i] = (unsigned char)hx[(cp >> (12 - 4 * i)) & 15];
        return w(e, b, 6);
    }
    return w1(e, (unsigned char)cp);
}

/* A str's opcode and payload (no memo). latin1: the text is given as
 * bytes, each a code point (the temporary str of bytes below protocol 3). */
static int write_str(enc *e, const unsigned char *s, size_t n, int latin1)
{
    int rc;
    if (!e->bin) {
        rc = w1(e, PK_UNICODE);
        for (size_t i = 0; i < n && !rc;) {
            uint32_t cp;
            if (latin1)
                cp = s[i++];
            else
                i += (size_t)mpx__utf8_next(s + i, &cp);
            rc = raw_escape(e, cp);
        }
        return rc ? rc : w1(e, '\n');
    }
    size_t u8 = n;
    if (latin1)
        for (size_t i = 0; i < n; i++)
            u8 += s[i] >= 0x80;
    unsigned char h[9];
    size_t hn;
    if (u8 <= 0xff && e->proto >= 4) {
        h[0] = PK_SHORT_BINUNICODE;
        h[1] = (unsigned char)u8;
        hn = 2;
    } else if (u8 <= 0xffffffffu) {
        h[0] = PK_BINUNICODE;
        put_le(h + 1, u8, 4);
        hn = 5;
    } else if (e->proto >= 4) {
        h[0] = PK_BINUNICODE8;
        put_le(h + 1, u8, 8);
        hn = 9;
    } else {
        return fail(e, -ERANGE, "serializing a string larger than 4 GiB requires pickle protocol 4 or higher");
    }
    if (!latin1 || u8 == n)
        return write_bytes(e, h, hn, s, n);
    if ((rc = w(e, h, hn)) || (rc = reserve(e, u8)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            e->buf[e->len++] = s[i];
        } else {
            e->buf[e->len++] = (unsigned char)(0xC0 | (s[i] >> 6));
            e->buf[e->len++] = (unsigned char)(0x80 | (s[i] & 0x3F));
        }
    }
    return 0;
}

/* A str that CPython keeps as one object (interned): memoized by key. */
static int save_vstr(enc *e, const void *key, const char *s)
{
    long idx = key ? memo_find(e, key) : -1;
    if (idx >= 0)
        return memo_get(e, idx);
    int rc = write_str(e, (const unsigned char *)s, strlen(s), 0);
    return rc ? rc : memo_put(e, key);
}

/* A global with no value here (builtins.set, _codecs.encode ...). */
static int save_vglobal(enc *e, const void *key, const char *module, const char *name,
                        const void *modkey, const void *namekey)
{
    long idx = memo_find(e, key);
    if (idx >= 0)
        return memo_get(e, idx);
    int rc;
    if (e->proto >= 4) {
        if ((rc = save_vstr(e, modkey, module)) || (rc = save_vstr(e, namekey, name)) ||
            (rc = w1(e, PK_STACK_GLOBAL)))
            return rc;
    } else {
        if (e->proto < 3)
            mpx__pk_fix_imports(mpx__pk_name_3to2, mpx__pk_import_3to2, &module, &name);
        if ((rc = w1(e, PK_GLOBAL)) || (rc = w(e, module, strlen(module))) || (rc = w1(e, '\n')) ||
            (rc = w(e, name, strlen(name))) || (rc = w1(e, '\n')))
            return rc;
    }
    return memo_put(e, key);
}

static int save_builtin_class(enc *e, const void *key, const char *name)
{
    return save_vglobal(e, key, "builtins", name, &vk_str_builtins,
                        key == &vk_cls_bytearray ? (const void *)&vk_str_bytearray : NULL);
}

/* After REDUCE/NEWOBJ of obj: memoize it, or, if saving its arguments
 * met it (a cycle), drop the new one and fetch the memoized one.
 * Returns 1 in that second case. */
static int reduce_tail(enc *e, const mpx_obj *obj)
{
    long idx = obj ? memo_lookup(e, obj) : -1;
    if (idx >= 0) {
        int rc = w1(e, PK_POP);
        return rc ? rc : (rc = memo_get(e, idx)) ? rc : 1;
    }
    return memo_put(e, obj ? memo_key(e, obj) : NULL);
}

/* The argument tuple of a reduction, written item by item by fn. */
static int tuple_open(enc *e, size_t n)
{
    if (n == 0)
        return 0;
    if (e->proto >= 2 && n <= 3)
        return 0;
    return w1(e, PK_MARK);
}

static int tuple_close(enc *e, size_t n)
{
    static const unsigned char ops[] = {PK_EMPTY_TUPLE, PK_TUPLE1, PK_TUPLE2, PK_TUPLE3};
    int rc;
    if (n == 0)
        return e->proto ? w1(e, PK_EMPTY_TUPLE) : w(e, "(t", 2);
    if (e->proto >= 2 && n <= 3)
        rc = w1(e, ops[n]);
    else
        rc = w1(e, PK_TUPLE);
    return rc ? rc : memo_put(e, NULL);
}

/* bytes below protocol 3: _codecs.encode('latin-1 text', 'latin1'), or
 * bytes() when empty. obj NULL: a temporary bytes object. */
static int save_bytes_reduce(enc *e, const mpx_obj *obj, const unsigned char *p, size_t n)
{
    int rc;
    if (n == 0) {
        if ((rc = save_builtin_class(e, &vk_cls_bytes, "bytes")) || (rc = tuple_close(e, 0)) ||
            (rc = w1(e, PK_REDUCE)))
            return rc;
    } else {
        if ((rc = save_vglobal(e, &vk_codecs_encode, "_codecs", "encode", NULL, NULL)) ||
            (rc = tuple_open(e, 2)) || (rc = write_str(e, p, n, 1)) || (rc = memo_put(e, NULL)) ||
            (rc = save_vstr(e, &vk_latin1, "latin1")) || (rc = tuple_close(e, 2)) ||
            (rc = w1(e, PK_REDUCE)))
            return rc;
    }
    rc = reduce_tail(e, obj);
    return rc > 0 ? 0 : rc;
}

static int save_bytes_data(enc *e, const mpx_obj *obj, const unsigned char *p, size_t n)
{
    if (e->proto < 3)
        return save_bytes_reduce(e, obj, p, n);
    unsigned char h[9];
    size_t hn;
    if (n <= 0xff) {
        h[0] = PK_SHORT_BINBYTES;
        h[1] = (unsigned char)n;
        hn = 2;
    } else if (n <= 0xffffffffu) {
        h[0] = PK_BINBYTES;
        put_le(h + 1, n, 4);
        hn = 5;
    } else if (e->proto >= 4) {
        h[0] = PK_BINBYTES8;
        put_le(h + 1, n, 8);
        hn = 9;
    } else {
        return fail(e, -ERANGE, "serializing a bytes object larger than 4 GiB requires pickle protocol 4 or higher");
    }
    int rc = write_bytes(e, h, hn, p, n);
    return rc ? rc : memo_put(e, obj ? memo_key(e, obj) : NULL);
}

/* ---- containers --------------------------------------------------------------- */

/* batch_list_exact (protocol > 0) and the one-at-a-time form of 0 */
static int batch_list_exact(enc *e, mpx_obj *const *items, size_t n, int depth)
{
    int rc;
    if (!e->bin) {
        for (size_t i = 0; i < n; i++)
            if ((rc = save(e, items[i], depth)) || (rc = w1(e, PK_APPEND)))
                return rc;
        return 0;
    }
    if (n == 1)
        return (rc = save(e, items[0], depth)) ? rc : w1(e, PK_APPEND);
    size_t total = 0;
    do {
        size_t batch = 0;
        if ((rc = w1(e, PK_MARK)))
            return rc;
        while (total < n) {
            if ((rc = save(e, items[total], depth)))
                return rc;
            total++;
            if (++batch == PK_BATCHSIZE)
                break;
        }
        if ((rc = w1(e, PK_APPENDS)))
            return rc;
    } while (total < n);
    return 0;
}

/* batch_list over an iterator (an instance's list items) */
static int batch_list_iter(enc *e, mpx_obj *const *items, size_t n, int depth)
{
    int rc;
    if (!e->bin)
        return batch_list_exact(e, items, n, depth);
    size_t i = 0, cnt;
    do {
        if (i >= n)
            break;
        if (n - i == 1)
            return (rc = save(e, items[i], depth)) ? rc : w1(e, PK_APPEND);
        if ((rc = w1(e, PK_MARK)) || (rc = save(e, items[i++], depth)))
            return rc;
        cnt = 1;
        while (i < n) {
            if ((rc = save(e, items[i++], depth)))
                return rc;
            if (++cnt == PK_BATCHSIZE)
                break;
        }
        if ((rc = w1(e, PK_APPENDS)))
            return rc;
    } while (cnt == PK_BATCHSIZE);
    return 0;
}

static int save_pair(enc *e, const mpx__ventry *x, int depth)
{
    int rc = save(e, x->key, depth);
    return rc ? rc : save(e, x->value, depth);
}

static inline const mpx__ventry *next_entry(const mpx__vtable *t, size_t *pos)
{
    while (*pos < t->n && !t->e[*pos].key)
        (*pos)++;
    return *pos < t->n ? &t->e[(*pos)++] : NULL;
}

/* batch_dict_exact (exact dict, protocol > 0), or an iterator's form
 * (iter: an instance's dict items; also a dict at protocol 0) */
static int batch_dict(enc *e, const mpx__vtable *t, int depth, int iter)
{
    int rc;
    size_t pos = 0;
    const mpx__ventry *x;
    if (!e->bin) {
        while ((x = next_entry(t, &pos)))
            if ((rc = save_pair(e, x, depth)) || (rc = w1(e, PK_SETITEM)))
                return rc;
        return 0;
    }
    if (!iter) {
        if (t->used == 1) {
            x = next_entry(t, &pos);
            return (rc = save_pair(e, x, depth)) ? rc : w1(e, PK_SETITEM);
        }
        size_t i;
        do {
            i = 0;
            if ((rc = w1(e, PK_MARK)))
                return rc;
            while ((x = next_entry(t, &pos))) {
                if ((rc = save_pair(e, x, depth)))
                    return rc;
                if (++i == PK_BATCHSIZE)
                    break;
            }
            if ((rc = w1(e, PK_SETITEMS)))
                return rc;
        } while (i == PK_BATCHSIZE);
        return 0;
    }
    size_t left = t->used, cnt = 0;
    do {
        if (!left)
            break;
        if (left == 1) {
            x = next_entry(t, &pos);
            return (rc = save_pair(e, x, depth)) ? rc : w1(e, PK_SETITEM);
        }
        if ((rc = w1(e, PK_MARK)))
            return rc;
        cnt = 0;
        while (left && (x = next_entry(t, &pos))) {
            left--;
            if ((rc = save_pair(e, x, depth)))
                return rc;
            if (++cnt == PK_BATCHSIZE)
                break;
        }
        if ((rc = w1(e, PK_SETITEMS)))
            return rc;
    } while (cnt == PK_BATCHSIZE);
    return 0;
}

static int save_tuple(enc *e, const mpx_obj *o, int depth)
{
    const mpx__vtuple *t = (const mpx__vtuple *)o;
    size_t n = t->n;
    int rc;
    if (n == 0)
        return e->proto ? w1(e, PK_EMPTY_TUPLE) : w(e, "(t", 2);
    int short_form = n <= 3 && e->proto >= 2;
    if (!short_form && (rc = w1(e, PK_MARK)))
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = save(e, t->items[i], depth)))
            return rc;
    long idx = memo_lookup(e, o);
    if (idx >= 0) { /* recursive: drop what was pushed, fetch the memoized tuple */
        if (short_form) {
            for (size_t i = 0; i < n; i++)
                if ((rc = w1(e, PK_POP)))
                    return rc;
        } else if (e->bin) {
            if ((rc = w1(e, PK_POP_MARK)))
                return rc;
        } else {
            for (size_t i = 0; i <= n; i++)
                if ((rc = w1(e, PK_POP)))
                    return rc;
        }
        return memo_get(e, idx);
    }
    static const unsigned char ops[] = {PK_EMPTY_TUPLE, PK_TUPLE1, PK_TUPLE2, PK_TUPLE3};
    if ((rc = w1(e, short_form ? ops[n] : PK_TUPLE)))
        return rc;
    return memo_put(e, memo_key(e, o));
}

static int save_list(enc *e, const mpx_obj *o, int depth)
{
    const mpx__vlist *l = (const mpx__vlist *)o;
    int rc = e->bin ? w1(e, PK_EMPTY_LIST) : w(e, "(l", 2);
    if (rc || (rc = memo_put(e, memo_key(e, o))))
        return rc;
    return l->n ? batch_list_exact(e, l->items, l->n, depth) : 0;
}

static int save_dict(enc *e, const mpx_obj *o, int depth)
{
    const mpx__vtable *t = &((const mpx__vdict *)o)->t;
    int rc = e->bin ? w1(e, PK_EMPTY_DICT) : w(e, "(d", 2);
    if (rc || (rc = memo_put(e, memo_key(e, o))))
        return rc;
    return t->used ? batch_dict(e, t, depth, 0) : 0;
}

/* The items of a set or frozenset as a fresh list (protocols < 4). */
static int save_items_list(enc *e, const mpx__vtable *t, int depth)
{
    int rc = e->bin ? w1(e, PK_EMPTY_LIST) : w(e, "(l", 2);
    if (rc || (rc = memo_put(e, NULL)))
        return rc;
    if (!t->used)
        return 0;
    mpx_obj *small[64] = {0};
    mpx_obj **items = t->used <= 64 ? small : calloc(t->used, sizeof *items);
    if (!items)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->e[i].key)
            items[k++] = t->e[i].key;
    rc = batch_list_exact(e, items, k, depth);
    if (items != small)
        free(items);
    return rc;
}

static int save_set(enc *e, const mpx_obj *o, int depth)
{
    const mpx__vtable *t = &((const mpx__vdict *)o)->t;
    int frozen = o->kind == MPX__K_FROZENSET;
    int rc;
    if (e->proto < 4) {
        if ((rc = save_builtin_class(e, frozen ? &vk_cls_frozenset : &vk_cls_set,
                                     frozen ? "frozenset" : "set")) ||
            (rc = tuple_open(e, 1)) || (rc = save_items_list(e, t, depth)) ||
            (rc = tuple_close(e, 1)) || (rc = w1(e, PK_REDUCE)))
            return rc;
        rc = reduce_tail(e, o);
        return rc > 0 ? 0 : rc;
    }
    if (frozen) {
        if ((rc = w1(e, PK_MARK)))
            return rc;
        for (size_t i = 0; i < t->n; i++)
            if (t->e[i].key && (rc = save(e, t->e[i].key, depth)))
                return rc;
        long idx = memo_lookup(e, o);
        if (idx >= 0)
            return (rc = w1(e, PK_POP_MARK)) ? rc : memo_get(e, idx);
        return (rc = w1(e, PK_FROZENSET)) ? rc : memo_put(e, memo_key(e, o));
    }
    if ((rc = w1(e, PK_EMPTY_SET)) || (rc = memo_put(e, memo_key(e, o))))
        return rc;
    if (!t->used)
        return 0;
    size_t pos = 0, i;
    do {
        i = 0;
        if ((rc = w1(e, PK_MARK)))
            return rc;
        while (pos < t->n) {
            const mpx__ventry *x = &t->e[pos++];
            if (!x->key)
                continue;
            if ((rc = save(e, x->key, depth)))
                return rc;
            if (++i == PK_BATCHSIZE)
                break;
        }
        if ((rc = w1(e, PK_ADDITEMS)))
            return rc;
    } while (i == PK_BATCHSIZE);
    return 0;
}

static int save_bytearray(enc *e, const mpx_obj *o, int depth)
{
    const mpx__vbytearray *b = (const mpx__vbytearray *)o;
    int rc;
    if (e->proto >= 5) {
        unsigned char h[9];
        h[0] = PK_BYTEARRAY8;
        put_le(h + 1, b->len, 8);
        rc = write_bytes(e, h, 9, b->data, b->len);
        return rc ? rc : memo_put(e, memo_key(e, o));
    }
    (void)depth;
    if ((rc = save_builtin_class(e, &vk_cls_bytearray, "bytearray")))
        return rc;
    if (b->len == 0) {
        if ((rc = tuple_close(e, 0)))
            return rc;
    } else if ((rc = tuple_open(e, 1)) || (rc = save_bytes_data(e, NULL, b->data, b->len)) ||
               (rc = tuple_close(e, 1))) {
        return rc;
    }
    if ((rc = w1(e, PK_REDUCE)))
        return rc;
    rc = reduce_tail(e, o);
    return rc > 0 ? 0 : rc;
}

/* ---- globals and instances ---------------------------------------------------- */

static int save_global_names(enc *e, const mpx_obj *obj, const mpx_obj *mod, const mpx_obj *name,
                             int depth);

static int save_global(enc *e, const mpx_obj *o, int depth)
{
    const mpx__vclass *c = (const mpx__vclass *)o;
    return save_global_names(e, o, c->module, c->name, depth);
}

static int save_global_names(enc *e, const mpx_obj *obj, const mpx_obj *mod, const mpx_obj *name,
                             int depth)
{
    const mpx__vstr *m = (const mpx__vstr *)mod, *q = (const mpx__vstr *)name;
    int rc;
    if (e->proto >= 4) {
        if ((rc = save(e, mod, depth)) || (rc = save(e, name, depth)) ||
            (rc = w1(e, PK_STACK_GLOBAL)))
            return rc;
        return memo_put(e, obj ? memo_key(e, obj) : NULL);
    }
    const char *dot = memrchr(q->data, '.', q->len);
    if (dot) {
        /* a nested name below protocol 4: getattr(parent, 'last') */
        mpx_obj *pname = mpx_obj_strn(q->data, (size_t)(dot - q->data));
        mpx_obj *last = mpx_obj_strn(dot + 1, q->len - (size_t)(dot - q->data) - 1);
        mpx_obj *parent = pname ? mpx__v_class_new(mpx__v_incref((mpx_obj *)mod), pname) : NULL;
        if (!parent || !last) {
            mpx_obj_decref(parent);
            mpx_obj_decref(last);
            return -ENOMEM;
        }
        if (!(rc = save_vglobal(e, &vk_getattr, "builtins", "getattr", NULL, NULL)) &&
            !(rc = tuple_open(e, 2)) && !(rc = save_global(e, parent, depth)) &&
            !(rc = write_str(e, (const unsigned char *)((mpx__vstr *)last)->data,
                             ((mpx__vstr *)last)->len, 0)) &&
            !(rc = memo_put(e, NULL)) && !(rc = tuple_close(e, 2)))
            rc = w1(e, PK_REDUCE);
        mpx_obj_decref(parent);
        mpx_obj_decref(last);
        return rc ? rc : memo_put(e, obj ? memo_key(e, obj) : NULL);
    }
    const char *ms = m->data, *ns = q->data;
    size_t ml = m->len, nl = q->len;
    if (e->proto < 3 && strlen(ms) == ml && strlen(ns) == nl) {
        mpx__pk_fix_imports(mpx__pk_name_3to2, mpx__pk_import_3to2, &ms, &ns);
        ml = strlen(ms);
        nl = strlen(ns);
    }
    if (memchr(ms, '\n', ml) || memchr(ns, '\n', nl))
        return fail(e, MPX_EINVAL, "a global name with a newline cannot be pickled below protocol 4");
    if (e->proto < 3 && (!(MPX__FL(&m->h) & MPX__F_ASCII) || !(MPX__FL(&q->h) & MPX__F_ASCII)))
        return fail(e, MPX_ETYPE, "can't pickle global identifier '%.40s.%.40s' using pickle protocol %d",
                    m->data, q->data, e->proto);
    if ((rc = w1(e, PK_GLOBAL)) || (rc = w(e, ms, ml)) || (rc = w1(e, '\n')) || (rc = w(e, ns, nl)) ||
        (rc = w1(e, '\n')))
        return rc;
    return memo_put(e, obj ? memo_key(e, obj) : NULL);
}

static int save_instance(enc *e, const mpx_obj *o, int depth)
{
    const mpx__vinst *x = (const mpx__vinst *)o;
    const mpx__vtuple *args = (const mpx__vtuple *)x->args;
    int rc;
    switch (x->how) {
    case MPX_OBJ_NEWOBJ_EX:
        if (e->proto >= 4) {
            if ((rc = save(e, x->callable, depth)) || (rc = save(e, x->args, depth)) ||
                (rc = save(e, x->kwargs, depth)) || (rc = w1(e, PK_NEWOBJ_EX)))
                return rc;
        } else if ((rc = save_vglobal(e, &vk_newobj_ex, "copyreg", "__newobj_ex__", NULL, NULL)) ||
                   (rc = tuple_open(e, 3)) || (rc = save(e, x->callable, depth)) ||
                   (rc = save(e, x->args, depth)) || (rc = save(e, x->kwargs, depth)) ||
                   (rc = tuple_close(e, 3)) || (rc = w1(e, PK_REDUCE))) {
            return rc;
        }
        break;
    case MPX_OBJ_NEWOBJ:
        if (e->proto >= 2) {
            if ((rc = save(e, x->callable, depth)) || (rc = save(e, x->args, depth)) ||
                (rc = w1(e, PK_NEWOBJ)))
                return rc;
        } else {
            if ((rc = save_vglobal(e, &vk_newobj, "copyreg", "__newobj__", NULL, NULL)) ||
                (rc = tuple_open(e, args->n + 1)) || (rc = save(e, x->callable, depth)))
                return rc;
            for (size_t i = 0; i < args->n; i++)
                if ((rc = save(e, args->items[i], depth)))
                    return rc;
            if ((rc = tuple_close(e, args->n + 1)) || (rc = w1(e, PK_REDUCE)))
                return rc;
        }
        break;
    default:
        if ((rc = save(e, x->callable, depth)) || (rc = save(e, x->args, depth)) ||
            (rc = w1(e, PK_REDUCE)))
            return rc;
        break;
    }
    rc = reduce_tail(e, o);
    if (rc)
        return rc > 0 ? 0 : rc;
    if (x->listitems) {
        const mpx__vlist *l = (const mpx__vlist *)x->listitems;
        if ((rc = batch_list_iter(e, l->items, l->n, depth)))
            return rc;
    }
    if (x->dictitems && (rc = batch_dict(e, &((const mpx__vdict *)x->dictitems)->t, depth, 1)))
        return rc;
    if (x->state && ((rc = save(e, x->state, depth)) || (rc = w1(e, PK_BUILD))))
        return rc;
    return 0;
}

/* ---- dispatch ---------------------------------------------------------------- */

/* The atoms of containers go out without a call (small ints and floats
 * are most of the items of big lists). */
static inline __attribute__((always_inline)) int save(enc *e, const mpx_obj *o, int depth)
{
    if (o->kind == MPX__K_STR && e->proto >= 4 && !e->keyall &&
        __atomic_load_n(&o->refcnt, __ATOMIC_RELAXED) == 1 && ((const mpx__vstr *)o)->len <= 0xff) {
        /* a short str reached once: SHORT_BINUNICODE, MEMOIZE */
        const mpx__vstr *str = (const mpx__vstr *)o;
        opcode_boundary(e);
        if (reserve(e, str->len + 3))
            return -ENOMEM;
        frame_open(e);
        unsigned char *q = e->buf + e->len;
        q[0] = PK_SHORT_BINUNICODE;
        q[1] = (unsigned char)str->len;
        memcpy(q + 2, str->data, str->len);
        q[2 + str->len] = PK_MEMOIZE;
        e->len += str->len + 3;
        e->memo_n++;
        return 0;
    }
    if (e->bin && (o->kind == MPX__K_INT || o->kind == MPX__K_FLOAT)) {
        opcode_boundary(e);
        if (reserve(e, 9))
            return -ENOMEM;
        frame_open(e);
        unsigned char *q = e->buf + e->len;
        if (o->kind == MPX__K_FLOAT) {
            uint64_t u;
            memcpy(&u, &((const mpx__vfloat *)o)->v, 8);
            q[0] = PK_BINFLOAT;
            u = __builtin_bswap64(u);
            memcpy(q + 1, &u, 8);
            e->len += 9;
            return 0;
        }
        int64_t v = ((const mpx__vint *)o)->v;
        if (v >= 0 && v < 65536) {
            if (v < 256) {
                q[0] = PK_BININT1;
                q[1] = (unsigned char)v;
                e->len += 2;
            } else {
                q[0] = PK_BININT2;
                q[1] = (unsigned char)v;
                q[2] = (unsigned char)(v >> 8);
                e->len += 3;
            }
            return 0;
        }
    }
    return save_obj(e, o, depth);
}

static __attribute__((noinline)) int save_obj(enc *e, const mpx_obj *o, int depth)
{
    opcode_boundary(e);
    switch (o->kind) {
    case MPX__K_NONE:
        return w1(e, PK_NONE);
    case MPX__K_BOOL:
        if (e->proto >= 2)
            return w1(e, o == &mpx__v_true ? PK_NEWTRUE : PK_NEWFALSE);
        return w(e, o == &mpx__v_true ? "I01\n" : "I00\n", 4);
    case MPX__K_INT:
    case MPX__K_BIG:
        return save_long(e, o);
    case MPX__K_FLOAT:
        return save_float(e, ((const mpx__vfloat *)o)->v);
    default:
        break;
    }
    long idx = memo_lookup(e, o);
    if (idx >= 0)
        return memo_get(e, idx);
    switch (o->kind) {
    case MPX__K_STR: {
        const mpx__vstr *s = (const mpx__vstr *)o;
        int rc = write_str(e, (const unsigned char *)s->data, s->len, 0);
        return rc ? rc : memo_put(e, memo_key(e, o));
    }
    case MPX__K_BYTES:
        return save_bytes_data(e, o, ((const mpx__vbytes *)o)->data, ((const mpx__vbytes *)o)->len);
    default:
        break;
    }
    if (depth >= e->max_depth)
        return fail(e, MPX_EDEPTH, "maximum recursion depth (%d) exceeded while pickling an object",
                    e->max_depth);
    depth++;
    /* values memoized after their children: see memo_key */
    int late = (o->kind == MPX__K_TUPLE || o->kind == MPX__K_FROZENSET || o->kind == MPX__K_INSTANCE ||
                (o->kind == MPX__K_SET && e->proto < 4)) &&
               memo_key(e, o);
    e->keyall += late;
    int rc;
    switch (o->kind) {
    case MPX__K_DICT:
        rc = save_dict(e, o, depth);
        break;
    case MPX__K_SET:
    case MPX__K_FROZENSET:
        rc = save_set(e, o, depth);
        break;
    case MPX__K_LIST:
        rc = save_list(e, o, depth);
        break;
    case MPX__K_TUPLE:
        rc = save_tuple(e, o, depth);
        break;
    case MPX__K_BYTEARRAY:
        rc = save_bytearray(e, o, depth);
        break;
    case MPX__K_CLASS:
        rc = save_global(e, o, depth);
        break;
    case MPX__K_INSTANCE:
        rc = save_instance(e, o, depth);
        break;
    default:
        rc = fail(e, MPX_ETYPE, "unknown value kind %d", o->kind);
        break;
    }
    e->keyall -= late;
    return rc;
}

int mpx__pickle_dump(mpx__buf *b, const mpx_obj *v, int protocol, int max_depth,
                     mpx_obj_error *err)
{
    if (!v) {
        mpx__v_err(err, MPX_EINVAL, MPX_OBJ_NO_OFFSET, "NULL value");
        return MPX_EINVAL;
    }
    if (protocol == MPX_PICKLE_DEFAULT)
        protocol = MPX_PICKLE_DEFAULT_PROTOCOL;
    else if (protocol < 0)
        protocol = MPX_PICKLE_HIGHEST_PROTOCOL;
    if (protocol > MPX_PICKLE_HIGHEST_PROTOCOL) {
        mpx__v_err(err, MPX_EINVAL, MPX_OBJ_NO_OFFSET, "pickle protocol must be <= %d",
                   MPX_PICKLE_HIGHEST_PROTOCOL);
        return MPX_EINVAL;
    }
    enc e;
    memset(&e, 0, sizeof e);
    e.buf = b->data;
    e.len = b->len;
    e.cap = b->cap;
    e.proto = protocol;
    e.bin = protocol > 0;
    e.frame_start = NO_FRAME;
    e.max_depth = max_depth > 0 ? max_depth : MPX_OBJ_MAX_DEPTH;
    e.err = err;
    size_t start = b->len;
    int rc = 0;
    if (protocol >= 2) {
        unsigned char h[2] = {PK_PROTO, (unsigned char)protocol};
        rc = w(&e, h, 2);
        e.framing = protocol >= 4;
    }
    if (!rc)
        rc = save(&e, v, 0);
    if (!rc)
        rc = w1(&e, PK_STOP);
    if (!rc)
        commit_frame(&e);
    free(e.memo);
    b->data = e.buf;
    b->cap = e.cap;
    b->len = rc ? start : e.len;
    if (rc == -ENOMEM)
        mpx__v_err(err, rc, MPX_OBJ_NO_OFFSET, "out of memory");
    return rc;
}

MPX_API int mpx_obj_dumps(const mpx_obj *v, int protocol, void **buf, size_t *len,
                          const mpx_obj_dump_opts *opts, mpx_obj_error *err)
{
    if (!buf || !len) {
        mpx__v_err(err, MPX_EINVAL, MPX_OBJ_NO_OFFSET, "NULL output");
        return MPX_EINVAL;
    }
    size_t headroom = opts ? opts->headroom : 0;
    mpx__buf b;
    mpx__buf_init(&b);
    if (headroom) {
        if (mpx__buf_reserve(&b, headroom)) {
            mpx__v_err(err, -ENOMEM, MPX_OBJ_NO_OFFSET, "out of memory");
            return -ENOMEM;
        }
        b.len = headroom;
    }
    int rc = mpx__pickle_dump(&b, v, protocol, opts ? opts->max_depth : 0, err);
    if (rc) {
        mpx__buf_free(&b);
        return rc;
    }
    *buf = b.data;
    *len = b.len - headroom;
    return 0;
}

void mpx__pk_fix_imports(const mpx__pk_map2 *names, const mpx__pk_map1 *imports,
                         const char **module, const char **name)
{
    for (const mpx__pk_map2 *m = names; m->mod; m++)
        if (!strcmp(m->mod, *module) && !strcmp(m->name, *name)) {
            *module = m->to_mod;
            *name = m->to_name;
            return;
        }
    for (const mpx__pk_map1 *m = imports; m->from; m++)
        if (!strcmp(m->from, *module)) {
            *module = m->to;
            return;
        }
}
