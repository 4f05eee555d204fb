/*
 * pickle_dec.c - the pickle decoder (mpx_obj_loads*, mpx__pickle_load).
 *
 * A stack machine like CPython's Unpickler (_pickle.c), over a buffer that
 * is entirely in memory:
 * - every length and count is checked against the bytes left before
 *   anything is allocated, and every allocation is charged to a budget
 *   (opts->max_alloc) first, so a hostile pickle fails with MPX_ETOOBIG
 *   instead of exhausting memory; memo indexes count toward it too;
 * - nothing is imported or called: GLOBAL/STACK_GLOBAL make class
 *   references, REDUCE/NEWOBJ/NEWOBJ_EX/BUILD/APPENDS/SETITEMS on them make
 *   instances, except CPython's reductions of built-in types, which become
 *   the real values: builtins.set/frozenset(list), builtins.bytearray(...),
 *   builtins.bytes(), _codecs.encode(text, 'latin1'), copyreg's
 *   _reconstructor(cls, object, None), __newobj__ and __newobj_ex__, and
 *   builtins.getattr(class, name) for nested classes;
 * - below protocol 3, Python 2 names are mapped as CPython does with
 *   fix_imports (NAME_MAPPING, then IMPORT_MAPPING);
 * - refused, with MPX_ENOTSUP: PERSID/BINPERSID (persistent IDs), EXT1/2/4
 *   (the extension registry), NEXT_BUFFER/READONLY_BUFFER (out-of-band
 *   buffers);
 * - FRAME is checked (its length must be in the input) and otherwise
 *   ignored, as _pickle.c does for in-memory input; bytes after STOP are
 *   ignored, as pickle.loads does;
 * - each error names the offset of the opcode that failed.
 * Cycle checks are deferred to the end of the decode (obj_gc.c); the
 * target of each memo GET is marked as a possible cycle member.
 */
#include "core/pickle_dec.h"

#include <stddef.h>
#include <stdio.h>

int mpx__pd_fail(dec *d, int code, const char *fmt, ...)
{
    if (d->err) {
        char msg[128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        mpx__v_err(d->err, code, d->op_off, "offset %zu: %s", d->op_off, msg);
    }
    return code;
}

int mpx__pd_nomem(dec *d)
{
    return mpx__pd_fail(d, -ENOMEM, "out of memory");
}

/* Charge n bytes of allocation to the budget. */
int mpx__pd_charge_slow(dec *d, size_t n)
{
    if (n > d->budget)
        return mpx__pd_fail(d, MPX_ETOOBIG, "the decoded value would need more than the %zu bytes allowed",
                    d->limit);
    d->budget -= n;
    return 0;
}

int mpx__pd_need_slow(dec *d, size_t n, const char *what)
{
    if (n > left(d))
        return mpx__pd_fail(d, MPX_EPROTO, "pickle data was truncated (%s needs %zu bytes, %zu left)", what, n,
                    left(d));
    return 0;
}

uint64_t mpx__pd_rd_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A line (up to '\n', which is consumed and not included). */
int mpx__pd_readline(dec *d, const char **s, size_t *n)
{
    *s = NULL;
    *n = 0;
    const unsigned char *nl = memchr(d->p, '\n', left(d));
    if (!nl)
        return mpx__pd_fail(d, MPX_EPROTO, "pickle data was truncated (no end of line)");
    *s = (const char *)d->p;
    *n = (size_t)(nl - d->p);
    d->p = nl + 1;
    return 0;
}

/* ---- the stack ----------------------------------------------------------------- */

/* Push takes the reference (and releases it on failure). */
int mpx__pd_push_slow(dec *d, mpx_obj *o)
{
    if (!o)
        return mpx__pd_nomem(d);
    if (MPX__UNLIKELY(d->sn == d->scap)) {
        size_t cap = d->scap ? d->scap * 2 : 64;
        int rc = mpx__pd_charge(d, (cap - d->scap) * sizeof(mpx_obj *));
        mpx_obj **s = rc ? NULL : mpx__pd_grow(d->stack, d->stack0, d->scap * sizeof *s, cap * sizeof *s);
        if (!s) {
            mpx__v_decref_local_null(o);
            return rc ? rc : mpx__pd_nomem(d);
        }
        d->stack = s;
        d->scap = cap;
    }
    d->stack[d->sn++] = o;
    return 0;
}

int mpx__pd_underflow(dec *d)
{
    return mpx__pd_fail(d, MPX_EPROTO, "unpickling stack underflow");
}



/* Remove the top mark; *at gets the stack position it marked. */
int mpx__pd_pop_mark(dec *d, size_t *at)
{
    *at = 0;
    if (!d->mn)
        return mpx__pd_fail(d, MPX_EPROTO, "could not find MARK");
    *at = d->marks[--d->mn];
    return 0;
}


/* parent now holds child: keep the nesting depth and its limit. */
int mpx__pd_nest_slow(dec *d, uint32_t cd)
{
    (void)cd;
    return mpx__pd_fail(d, MPX_EDEPTH, "nesting deeper than %d levels", d->max_depth);
}

/* ---- values ---------------------------------------------------------------- */

int mpx__pd_push_int(dec *d, int64_t v)
{
    if ((v < MPX__SMALL_MIN || v > MPX__SMALL_MAX) && mpx__pd_charge(d, sizeof(mpx__vint)))
        return MPX_ETOOBIG;
    return mpx__pd_push(d, mpx__v_int(v));
}

/* A str from UTF-8 bytes at p (inside the input). */
int mpx__pd_make_str(dec *d, const unsigned char *p, size_t n, mpx_obj **out)
{
    int rc = mpx__pd_charge(d, sizeof(mpx__vstr) + n + 1);
    if (rc)
        return rc;
    size_t bad = 0;
    char why[96];
    rc = mpx__v_str_check((const char *)p, n, out, &bad, why, sizeof why);
    if (rc == MPX_EINVAL) {
        uint32_t cp = 0;
        if (why[0] == 's')
            cp = mpx__utf8_surrogate_at(p, n, bad);
        if (cp)
            return mpx__pd_fail(d, MPX_EINVAL, "str with a lone surrogate U+%04X at byte %zu of the pickle (not representable as UTF-8)",
                        (unsigned)cp, (size_t)(p + bad - d->p0));
        return mpx__pd_fail(d, MPX_EINVAL, "str is not valid UTF-8 at byte %zu of the pickle (%s)",
                    (size_t)(p + bad - d->p0), why);
    }
    return rc ? mpx__pd_nomem(d) : 0;
}

static int load_str(dec *d, size_t n, const char *what)
{
    int rc = mpx__pd_need(d, n, what);
    if (rc)
        return rc;
    mpx_obj *s;
    if ((rc = mpx__pd_make_str(d, d->p, n, &s)))
        return rc;
    d->p += n;
    return mpx__pd_push(d, s);
}

static int load_bytes(dec *d, size_t n, int bytearray, const char *what)
{
    int rc = mpx__pd_need(d, n, what);
    if (rc)
        return rc;
    mpx_obj *o;
    if (!bytearray && d->base && n >= d->view_min) {
        if ((rc = mpx__pd_charge(d, sizeof(mpx__vbytes))))
            return rc;
        o = mpx__v_bytes_view(d->base, d->p, n);
    } else {
        if ((rc = mpx__pd_charge(d, sizeof(mpx__vbytes) + n)))
            return rc;
        o = bytearray ? mpx_obj_bytearray(d->p, n) : mpx_obj_bytes(d->p, n);
    }
    d->p += n;
    return mpx__pd_push(d, o);
}

/* Python 2 str (STRING/BINSTRING): decoded as ASCII, as CPython's
 * default encoding='ASCII' does. */
int mpx__pd_push_py2str(dec *d, const unsigned char *p, size_t n)
{
    int rc;
    if (d->py2_str == MPX_OBJ_PY2_BYTES) {
        if ((rc = mpx__pd_charge(d, sizeof(mpx__vbytes) + n)))
            return rc;
        return mpx__pd_push(d, mpx_obj_bytes(p, n));
    }
    size_t wide = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80)
            continue;
        if (d->py2_str != MPX_OBJ_PY2_LATIN1)
            return mpx__pd_fail(d, MPX_EINVAL,
                                "'ascii' codec can't decode byte 0x%02x in a Python 2 string (position %zu)",
                                p[i], i);
        wide++;
    }
    mpx_obj *s;
    if (!wide)
        rc = mpx__pd_make_str(d, p, n, &s);
    else {
        /* latin-1: each byte is a code point */
        if ((rc = mpx__pd_charge(d, sizeof(mpx__vstr) + n + wide + 1)))
            return rc;
        unsigned char *u = malloc(n + wide);
        if (!u)
            return mpx__pd_nomem(d);
        size_t o = 0;
        for (size_t i = 0; i < n; i++)
            o += (size_t)mpx__utf8_put(p[i], u + o);
        s = mpx__v_str_raw((const char *)u, o, n, 0);
        free(u);
        if (!s)
            return mpx__pd_nomem(d);
    }
    return rc ? rc : mpx__pd_push(d, s);
}

/* ---- memo -------------------------------------------------------------------- */

static int memo_put(dec *d, size_t idx)
{
    mpx_obj *o;
    int rc = mpx__pd_top(d, &o);
    if (rc)
        return rc;
    if (idx >= d->memo_cap) {
        if (idx > SIZE_MAX / sizeof(mpx_obj *) / 2 - 1)
            return mpx__pd_fail(d, MPX_ETOOBIG, "memo index %zu too large", idx);
        size_t cap = d->memo_cap ? d->memo_cap * 2 : 64;
        if (cap <= idx)
            cap = idx + 1;
        if ((rc = mpx__pd_charge(d, (cap - d->memo_cap) * sizeof(mpx_obj *))))
            return rc;
        mpx_obj **m = mpx__pd_grow(d->memo, d->memo0, d->memo_cap * sizeof *m, cap * sizeof *m);
        if (!m)
            return mpx__pd_nomem(d);
        memset(m + d->memo_cap, 0, (cap - d->memo_cap) * sizeof *m);
        d->memo = m;
        d->memo_cap = cap;
    }
    mpx_obj *old = d->memo[idx];
    d->memo[idx] = mpx__v_incref_local(o);
    if (old)
        mpx__v_decref_local_null(old);
    else
        d->memo_len++;
    return 0;
}

static int memo_get(dec *d, size_t idx)
{
    mpx_obj *o = idx < d->memo_cap ? d->memo[idx] : NULL;
    if (!o)
        return mpx__pd_fail(d, MPX_EPROTO, "Memo value not found at index %zu", idx);
    mpx__gc_mark(o); /* a second reference: cycles go through one */
    return mpx__pd_push(d, mpx__v_incref_local(o));
}

/* ---- containers --------------------------------------------------------------- */

/* Move stack[at..sn) into a new tuple. */
int mpx__pd_make_tuple(dec *d, size_t at, mpx_obj **out)
{
    size_t n = d->sn - at;
    uint32_t depth = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cd = (uint32_t)mpx__pd_depth_of(d->stack[at + i]) + 1;
        if (cd > depth)
            depth = cd;
    }
    if (depth > (uint32_t)d->max_depth)
        return mpx__pd_fail(d, MPX_EDEPTH, "nesting deeper than %d levels", d->max_depth);
    int rc = mpx__pd_charge(d, sizeof(mpx__vtuple) + n * sizeof(mpx_obj *));
    if (rc)
        return rc;
    mpx_obj *t = mpx__v_tuple_new(n);
    if (!t)
        return mpx__pd_nomem(d);
    for (size_t i = 0; i < n; i++) {
        mpx_obj *it = d->stack[at + i];
        ((mpx__vtuple *)t)->items[i] = it;
        mpx__gc_link_local(it);
    }
    if (n)
        ((mpx__vcont *)t)->depth = depth;
    d->sn = at;
    *out = t;
    return 0;
}

static int load_tuple_n(dec *d, size_t n)
{
    if (d->sn - fence(d) < n)
        return mpx__pd_underflow(d);
    mpx_obj *t;
    int rc = mpx__pd_make_tuple(d, d->sn - n, &t);
    return rc ? rc : mpx__pd_push(d, t);
}

/* Append stack[at..sn) to a list (or an instance's list items). */
static int extend_list(dec *d, mpx_obj *target, size_t at)
{
    size_t n = d->sn - at;
    int rc;
    mpx_obj *list = target;
    if (target->kind == MPX__K_INSTANCE) {
        mpx__vinst *x = (mpx__vinst *)target;
        if (!x->listitems) {
            if ((rc = mpx__pd_charge(d, sizeof(mpx__vlist))))
                return rc;
            if (!(x->listitems = mpx__v_list_new(0)))
                return mpx__pd_nomem(d);
            mpx__gc_link_local(x->listitems);
        }
        list = x->listitems;
    } else if (target->kind != MPX__K_LIST) {
        return mpx__pd_fail(d, MPX_EPROTO, "APPEND(S) to a %s is not supported", mpx_obj_type_name(target));
    }
    if ((rc = mpx__pd_charge(d, n * sizeof(mpx_obj *))))
        return rc;
    mpx__vlist *l = (mpx__vlist *)list;
    if (mpx__list_reserve(l, n))
        return mpx__pd_nomem(d);
    for (size_t i = 0; i < n; i++) {
        mpx_obj *it = d->stack[at + i];
        if ((rc = mpx__pd_nest(d, list, it)) || (list != target && (rc = mpx__pd_nest(d, target, list)))) {
            for (size_t k = i; k < n; k++)
                mpx__v_decref_local_null(d->stack[at + k]);
            d->sn = at;
            return rc;
        }
        l->items[l->n++] = it;
        mpx__gc_link_local(it);
    }
    d->sn = at;
    return 0;
}

/* Set pairs stack[at..sn) into a dict (or an instance's dict items). */
static int set_items(dec *d, mpx_obj *target, size_t at)
{
    size_t n = d->sn - at;
    int rc = 0;
    if (n & 1)
        return mpx__pd_fail(d, MPX_EPROTO, "odd number of items for SETITEMS");
    mpx_obj *dict = target;
    if (target->kind == MPX__K_INSTANCE) {
        mpx__vinst *x = (mpx__vinst *)target;
        if (!x->dictitems) {
            if ((rc = mpx__pd_charge(d, sizeof(mpx__vdict))))
                return rc;
            if (!(x->dictitems = mpx__v_dict_new(MPX__K_DICT)))
                return mpx__pd_nomem(d);
            mpx__gc_link_local(x->dictitems);
        }
        dict = x->dictitems;
    } else if (target->kind != MPX__K_DICT) {
        return mpx__pd_fail(d, MPX_EPROTO, "SETITEM(S) on a %s is not supported", mpx_obj_type_name(target));
    }
    mpx__vtable *t = &((mpx__vdict *)dict)->t;
    if ((rc = mpx__pd_charge(d, n / 2 * (sizeof(mpx__ventry) + 2 * sizeof(uint32_t)))) ||
        mpx__table_reserve(t, n / 2)) {
        if (!rc)
            rc = mpx__pd_nomem(d);
        goto out;
    }
    size_t i;
    for (i = 0; i < n; i += 2) {
        mpx_obj *k = d->stack[at + i], *v = d->stack[at + i + 1];
        uint64_t h;
        if (k->kind == MPX__K_STR) {
            /* the decoder's own str: its hash is cached without atomics */
            mpx__vstr *ks = (mpx__vstr *)k;
            if (!(k->flags & MPX__F_HASHED)) {
                ks->hash = mpx__siphash13(ks->data, ks->len);
                k->flags |= MPX__F_HASHED;
            }
            h = ks->hash;
        } else if ((rc = mpx__v_hash(k, &h, 0))) {
            rc = rc == MPX_ETYPE ? mpx__pd_fail(d, MPX_ETYPE, "unhashable dict key: %s", mpx_obj_type_name(k))
                                 : mpx__pd_fail(d, rc, "dict key nested too deep");
            break;
        }
        if ((rc = mpx__pd_nest(d, dict, k)) || (rc = mpx__pd_nest(d, dict, v)) ||
            (dict != target && (rc = mpx__pd_nest(d, target, dict))))
            break;
        d->stack[at + i] = d->stack[at + i + 1] = NULL;
        if (!t->index) {
            /* a small table (room reserved above): a new key is appended
             * after a scan of the hashes, an equal one takes the slow way */
            size_t j = 0;
            while (j < t->n && (!t->e[j].key || t->e[j].hash != h))
                j++;
            if (j == t->n) {
                t->e[j].hash = h;
                t->e[j].key = k;
                t->e[j].value = v;
                t->n++;
                t->used++;
                mpx__gc_link_local(k);
                mpx__gc_link_local(v);
                continue;
            }
        }
        if ((rc = mpx__table_insert(t, k, h, v, 0, dict, 2))) {
            rc = rc == -ENOMEM ? mpx__pd_nomem(d) : mpx__pd_fail(d, rc, "dict key comparison failed");
            i += 2;
            break;
        }
    }
out:
    for (size_t k = at; k < d->sn; k++)
        if (d->stack[k])
            mpx__v_decref_local_null(d->stack[k]);
    d->sn = at;
    return rc;
}

/* Add stack[at..sn) to a set/frozenset being built. */
int mpx__pd_add_items(dec *d, mpx_obj *set, size_t at)
{
    size_t n = d->sn - at;
    int rc = 0;
    mpx__vtable *t = &((mpx__vdict *)set)->t;
    if ((rc = mpx__pd_charge(d, n * (sizeof(mpx__ventry) + 2 * sizeof(uint32_t)))) ||
        mpx__table_reserve(t, n)) {
        if (!rc)
            rc = mpx__pd_nomem(d);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        mpx_obj *k = d->stack[at + i];
        uint64_t h;
        if ((rc = mpx__v_hash(k, &h, 0))) {
            rc = rc == MPX_ETYPE ? mpx__pd_fail(d, MPX_ETYPE, "unhashable set item: %s", mpx_obj_type_name(k))
                                 : mpx__pd_fail(d, rc, "set item nested too deep");
            break;
        }
        if ((rc = mpx__pd_nest(d, set, k)))
            break;
        d->stack[at + i] = NULL;
        if ((rc = mpx__table_insert(t, k, h, NULL, 1, set, 2))) {
            rc = rc == -ENOMEM ? mpx__pd_nomem(d) : mpx__pd_fail(d, rc, "set item comparison failed");
            break;
        }
    }
out:
    for (size_t k = at; k < d->sn; k++)
        if (d->stack[k])
            mpx__v_decref_local_null(d->stack[k]);
    d->sn = at;
    return rc;
}

int mpx__pd_new_container(dec *d, int kind, mpx_obj **out)
{
    int rc = mpx__pd_charge(d, kind == MPX__K_LIST ? sizeof(mpx__vlist) : sizeof(mpx__vdict));
    if (rc)
        return rc;
    *out = kind == MPX__K_LIST ? mpx__v_list_new(0) : mpx__v_dict_new(kind);
    return *out ? 0 : mpx__pd_nomem(d);
}

/* ---- the loop ------------------------------------------------------------------ */

/* The frequent opcodes, handled with the input position in a register.
 * Anything unusual (an error, a full stack, a new memo slot to grow)
 * leaves it to the switch in run(), which repeats the opcode with every
 * check and its error message. */
static inline void fast_ops(dec *d)
{
    const unsigned char *p = d->p, *end = d->end;
    mpx_obj **stack = d->stack;
    size_t sn = d->sn, scap = d->scap;
    while (p < end && sn < scap) {
        unsigned op = *p;
        mpx_obj *o;
        if (op == PK_MEMOIZE) {
            size_t idx = d->memo_len;
            if (sn <= fence(d) || idx >= d->memo_cap || d->memo[idx])
                break;
            d->memo[idx] = mpx__v_incref_local(stack[sn - 1]);
            d->memo_len = idx + 1;
            p++;
            continue;
        }
        if (op == PK_BININT1) {
            if (end - p < 2)
                break;
            o = &mpx__v_small[p[1] - MPX__SMALL_MIN].h;
            p += 2;
        } else if (op == PK_BINGET) {
            if (end - p < 2 || p[1] >= d->memo_cap || !(o = d->memo[p[1]]))
                break;
            mpx__gc_mark(o);
            mpx__v_incref_local(o);
            p += 2;
        } else if (op == PK_BININT2 || op == PK_BININT) {
            int len = op == PK_BININT2 ? 2 : 4;
            if (end - p < len + 1)
                break;
            int64_t v = op == PK_BININT2 ? (int64_t)(p[1] | (unsigned)p[2] << 8)
                                         : (int32_t)(p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 |
                                                     (uint32_t)p[4] << 24);
            if (v < MPX__SMALL_MIN || v > MPX__SMALL_MAX) {
                if (d->budget < sizeof(mpx__vint) || !(o = mpx__v_int(v)))
                    break;
                d->budget -= sizeof(mpx__vint);
            } else {
                o = &mpx__v_small[v - MPX__SMALL_MIN].h;
            }
            p += len + 1;
        } else if (op == PK_BINFLOAT) {
            if (end - p < 9 || d->budget < sizeof(mpx__vfloat))
                break;
            uint64_t u;
            memcpy(&u, p + 1, 8);
            u = __builtin_bswap64(u);
            double v;
            memcpy(&v, &u, 8);
            if (!(o = mpx__v_float(v)))
                break;
            d->budget -= sizeof(mpx__vfloat);
            p += 9;
        } else if (op == PK_NONE || op == PK_NEWTRUE || op == PK_NEWFALSE) {
            o = op == PK_NONE ? &mpx__v_none : op == PK_NEWTRUE ? &mpx__v_true : &mpx__v_false;
            p++;
        } else if (op == PK_SHORT_BINUNICODE) {
            if (end - p < 2 || (size_t)(end - p - 2) < p[1] || d->budget < sizeof(mpx__vstr) + 256)
                break;
            size_t bad;
            if (mpx__v_str_check((const char *)p + 2, p[1], &o, &bad, NULL, 0))
                break; /* bad text (the switch says why), or no memory */
            d->budget -= sizeof(mpx__vstr) + p[1] + 1;
            p += 2 + p[1];
        } else if (op == PK_EMPTY_DICT || op == PK_EMPTY_LIST) {
            if (d->budget < sizeof(mpx__vdict))
                break;
            o = op == PK_EMPTY_DICT ? mpx__v_dict_new(MPX__K_DICT) : mpx__v_list_new(0);
            if (!o)
                break;
            d->budget -= op == PK_EMPTY_DICT ? sizeof(mpx__vdict) : sizeof(mpx__vlist);
            p++;
        } else if (op == PK_MARK) {
            if (d->mn >= d->mcap)
                break;
            d->marks[d->mn++] = sn;
            p++;
            continue;
        } else {
            break;
        }
        stack[sn++] = o;
    }
    d->p = p;
    d->sn = sn;
}

static int run(dec *d, mpx_obj **result)
{
    int rc = 0;
    mpx_obj *a, *b, *c;
    size_t at, n;
    while (d->p < d->end) {
        fast_ops(d);
        if (d->p >= d->end)
            break;
        d->op_off = (size_t)(d->p - d->p0);
        unsigned op = *d->p++;
        switch (op) {
        case PK_PROTO:
            if ((rc = mpx__pd_need(d, 1, "PROTO")))
                return rc;
            if (*d->p > MPX_PICKLE_HIGHEST_PROTOCOL)
                return mpx__pd_fail(d, MPX_EPROTO, "unsupported pickle protocol: %d", *d->p);
            d->proto = *d->p++;
            break;
        case PK_FRAME:
            if ((rc = mpx__pd_need(d, 8, "FRAME")))
                return rc;
            n = (size_t)mpx__pd_rd_le(d->p, 8);
            d->p += 8;
            if (n > left(d))
                return mpx__pd_fail(d, MPX_EPROTO, "pickle data was truncated (FRAME of %zu bytes, %zu left)", n,
                            left(d));
            break;
        case PK_STOP:
            if ((rc = mpx__pd_pop(d, result)))
                return rc;
            return 0;
        case PK_NONE:
            rc = mpx__pd_push(d, &mpx__v_none);
            break;
        case PK_NEWTRUE:
            rc = mpx__pd_push(d, &mpx__v_true);
            break;
        case PK_NEWFALSE:
            rc = mpx__pd_push(d, &mpx__v_false);
            break;
        case PK_BININT:
            if (!(rc = mpx__pd_need(d, 4, "BININT"))) {
                rc = mpx__pd_push_int(d, (int32_t)(uint32_t)mpx__pd_rd_le(d->p, 4));
                d->p += 4;
            }
            break;
        case PK_BININT1:
            if (!(rc = mpx__pd_need(d, 1, "BININT1")))
                rc = mpx__pd_push(d, mpx__v_int(*d->p++));
            break;
        case PK_BININT2:
            if (!(rc = mpx__pd_need(d, 2, "BININT2"))) {
                rc = mpx__pd_push_int(d, (int64_t)mpx__pd_rd_le(d->p, 2));
                d->p += 2;
            }
            break;
        case PK_INT:
            rc = mpx__pd_load_int_text(d);
            break;
        case PK_LONG:
            rc = mpx__pd_load_long_text(d);
            break;
        case PK_LONG1:
        case PK_LONG4: {
            int hl = op == PK_LONG1 ? 1 : 4;
            if ((rc = mpx__pd_need(d, (size_t)hl, "LONG length")))
                return rc;
            int64_t len = hl == 1 ? *d->p : (int32_t)(uint32_t)mpx__pd_rd_le(d->p, 4);
            d->p += hl;
            if (len < 0)
                return mpx__pd_fail(d, MPX_EPROTO, "LONG pickle has negative byte count");
            if ((rc = mpx__pd_need(d, (size_t)len, "LONG")) || (rc = mpx__pd_charge(d, sizeof(mpx__vbig) + (size_t)len + 4)))
                return rc;
            mpx_obj *o = mpx__big_from_le(d->p, (size_t)len, 1);
            d->p += len;
            rc = mpx__pd_push(d, o);
            break;
        }
        case PK_FLOAT:
            rc = mpx__pd_load_float_text(d);
            break;
        case PK_BINFLOAT:
            if (!(rc = mpx__pd_need(d, 8, "BINFLOAT")) && !(rc = mpx__pd_charge(d, sizeof(mpx__vfloat)))) {
                uint64_t u = 0;
                for (int i = 0; i < 8; i++)
                    u = u << 8 | d->p[i];
                d->p += 8;
                double v;
                memcpy(&v, &u, 8);
                rc = mpx__pd_push(d, mpx__v_float(v));
            }
            break;
        case PK_STRING:
            rc = mpx__pd_load_string_text(d);
            break;
        case PK_BINSTRING:
        case PK_SHORT_BINSTRING: {
            int hl = op == PK_SHORT_BINSTRING ? 1 : 4;
            if ((rc = mpx__pd_need(d, (size_t)hl, "STRING length")))
                return rc;
            int64_t len = hl == 1 ? *d->p : (int32_t)(uint32_t)mpx__pd_rd_le(d->p, 4);
            d->p += hl;
            if (len < 0)
                return mpx__pd_fail(d, MPX_EPROTO, "BINSTRING pickle has negative byte count");
            if ((rc = mpx__pd_need(d, (size_t)len, "BINSTRING")))
                return rc;
            const unsigned char *p = d->p;
            d->p += len;
            rc = mpx__pd_push_py2str(d, p, (size_t)len);
            break;
        }
        case PK_UNICODE:
            rc = mpx__pd_load_unicode_text(d);
            break;
        case PK_SHORT_BINUNICODE:
            if (!(rc = mpx__pd_need(d, 1, "SHORT_BINUNICODE")))
                rc = load_str(d, *d->p++, "SHORT_BINUNICODE");
            break;
        case PK_BINUNICODE:
            if (!(rc = mpx__pd_need(d, 4, "BINUNICODE"))) {
                n = (size_t)mpx__pd_rd_le(d->p, 4);
                d->p += 4;
                rc = load_str(d, n, "BINUNICODE");
            }
            break;
        case PK_BINUNICODE8:
            if (!(rc = mpx__pd_need(d, 8, "BINUNICODE8"))) {
                uint64_t len = mpx__pd_rd_le(d->p, 8);
                d->p += 8;
                rc = load_str(d, (size_t)len, "BINUNICODE8");
            }
            break;
        case PK_SHORT_BINBYTES:
            if (!(rc = mpx__pd_need(d, 1, "SHORT_BINBYTES")))
                rc = load_bytes(d, *d->p++, 0, "SHORT_BINBYTES");
            break;
        case PK_BINBYTES:
            if (!(rc = mpx__pd_need(d, 4, "BINBYTES"))) {
                n = (size_t)mpx__pd_rd_le(d->p, 4);
                d->p += 4;
                rc = load_bytes(d, n, 0, "BINBYTES");
            }
            break;
        case PK_BINBYTES8:
        case PK_BYTEARRAY8:
            if (!(rc = mpx__pd_need(d, 8, op == PK_BINBYTES8 ? "BINBYTES8" : "BYTEARRAY8"))) {
                uint64_t len = mpx__pd_rd_le(d->p, 8);
                d->p += 8;
                rc = load_bytes(d, (size_t)len, op == PK_BYTEARRAY8,
                                op == PK_BYTEARRAY8 ? "BYTEARRAY8" : "BINBYTES8");
            }
            break;
        case PK_NEXT_BUFFER:
        case PK_READONLY_BUFFER:
            return mpx__pd_fail(d, MPX_ENOTSUP, "out-of-band buffers (%s) are not supported",
                        op == PK_NEXT_BUFFER ? "NEXT_BUFFER" : "READONLY_BUFFER");
        case PK_PERSID:
        case PK_BINPERSID:
            return mpx__pd_fail(d, MPX_ENOTSUP, "persistent IDs (%s) are not supported",
                        op == PK_PERSID ? "PERSID" : "BINPERSID");
        case PK_EXT1:
        case PK_EXT2:
        case PK_EXT4:
            return mpx__pd_fail(d, MPX_ENOTSUP, "extension registry codes (EXT%c) are not supported",
                        op == PK_EXT1 ? '1' : op == PK_EXT2 ? '2' : '4');
        case PK_EMPTY_TUPLE:
            rc = mpx__pd_push(d, &mpx__v_empty_tuple.c.h);
            break;
        case PK_TUPLE1:
        case PK_TUPLE2:
        case PK_TUPLE3:
            rc = load_tuple_n(d, op - PK_TUPLE1 + 1);
            break;
        case PK_TUPLE:
            if (!(rc = mpx__pd_pop_mark(d, &at)) && !(rc = mpx__pd_make_tuple(d, at, &a)))
                rc = mpx__pd_push(d, a);
            break;
        case PK_EMPTY_LIST:
            if (!(rc = mpx__pd_new_container(d, MPX__K_LIST, &a)))
                rc = mpx__pd_push(d, a);
            break;
        case PK_LIST:
            if (!(rc = mpx__pd_pop_mark(d, &at)) && !(rc = mpx__pd_new_container(d, MPX__K_LIST, &a))) {
                if ((rc = extend_list(d, a, at)))
                    mpx__v_decref_local_null(a);
                else
                    rc = mpx__pd_push(d, a);
            }
            break;
        case PK_APPEND:
            if (d->sn - fence(d) < 2)
                return mpx__pd_underflow(d);
            rc = extend_list(d, d->stack[d->sn - 2], d->sn - 1);
            break;
        case PK_APPENDS:
            if ((rc = mpx__pd_pop_mark(d, &at)))
                return rc;
            if (at == 0 || at <= fence(d))
                return mpx__pd_underflow(d);
            rc = extend_list(d, d->stack[at - 1], at);
            break;
        case PK_EMPTY_DICT:
            if (!(rc = mpx__pd_new_container(d, MPX__K_DICT, &a)))
                rc = mpx__pd_push(d, a);
            break;
        case PK_DICT:
            if (!(rc = mpx__pd_pop_mark(d, &at)) && !(rc = mpx__pd_new_container(d, MPX__K_DICT, &a))) {
                if ((rc = set_items(d, a, at)))
                    mpx__v_decref_local_null(a);
                else
                    rc = mpx__pd_push(d, a);
            }
            break;
        case PK_SETITEM:
            if (d->sn - fence(d) < 3)
                return mpx__pd_underflow(d);
            rc = set_items(d, d->stack[d->sn - 3], d->sn - 2);
            break;
        case PK_SETITEMS:
            if ((rc = mpx__pd_pop_mark(d, &at)))
                return rc;
            if (at == 0 || at <= fence(d))
                return mpx__pd_underflow(d);
            rc = set_items(d, d->stack[at - 1], at);
            break;
        case PK_EMPTY_SET:
            if (!(rc = mpx__pd_new_container(d, MPX__K_SET, &a)))
                rc = mpx__pd_push(d, a);
            break;
        case PK_ADDITEMS:
            if ((rc = mpx__pd_pop_mark(d, &at)))
                return rc;
            if (at == 0 || at <= fence(d))
                return mpx__pd_underflow(d);
            a = d->stack[at - 1];
            if (a->kind != MPX__K_SET)
                return mpx__pd_fail(d, MPX_EPROTO, "ADDITEMS to a %s is not supported", mpx_obj_type_name(a));
            rc = mpx__pd_add_items(d, a, at);
            break;
        case PK_FROZENSET:
            if (!(rc = mpx__pd_pop_mark(d, &at)) && !(rc = mpx__pd_new_container(d, MPX__K_FROZENSET, &a))) {
                if ((rc = mpx__pd_add_items(d, a, at)))
                    mpx__v_decref_local_null(a);
                else
                    rc = mpx__pd_push(d, a);
            }
            break;
        case PK_POP:
            if (d->sn > fence(d)) {
                mpx__v_decref_local_null(d->stack[--d->sn]);
            } else if (d->mn) {
                d->mn--; /* _pickle.c: POP at a mark pops the mark */
            } else {
                return mpx__pd_underflow(d);
            }
            break;
        case PK_POP_MARK:
            if ((rc = mpx__pd_pop_mark(d, &at)))
                return rc;
            while (d->sn > at)
                mpx__v_decref_local_null(d->stack[--d->sn]);
            break;
        case PK_DUP:
            if (!(rc = mpx__pd_top(d, &a))) {
                mpx__gc_mark(a);
                rc = mpx__pd_push(d, mpx__v_incref_local(a));
            }
            break;
        case PK_MARK:
            if (d->mn == d->mcap) {
                size_t cap = d->mcap ? d->mcap * 2 : 16;
                if ((rc = mpx__pd_charge(d, (cap - d->mcap) * sizeof(size_t))))
                    return rc;
                size_t *m = mpx__pd_grow(d->marks, d->marks0, d->mcap * sizeof *m, cap * sizeof *m);
                if (!m)
                    return mpx__pd_nomem(d);
                d->marks = m;
                d->mcap = cap;
            }
            d->marks[d->mn++] = d->sn;
            break;
        case PK_GET:
            if (!(rc = mpx__pd_parse_index(d, "GET", &n)))
                rc = memo_get(d, n);
            break;
        case PK_BINGET:
            if (!(rc = mpx__pd_need(d, 1, "BINGET")))
                rc = memo_get(d, *d->p++);
            break;
        case PK_LONG_BINGET:
            if (!(rc = mpx__pd_need(d, 4, "LONG_BINGET"))) {
                n = (size_t)mpx__pd_rd_le(d->p, 4);
                d->p += 4;
                rc = memo_get(d, n);
            }
            break;
        case PK_PUT:
            if (!(rc = mpx__pd_parse_index(d, "PUT", &n)))
                rc = memo_put(d, n);
            break;
        case PK_BINPUT:
            if (!(rc = mpx__pd_need(d, 1, "BINPUT")))
                rc = memo_put(d, *d->p++);
            break;
        case PK_LONG_BINPUT:
            if (!(rc = mpx__pd_need(d, 4, "LONG_BINPUT"))) {
                n = (size_t)mpx__pd_rd_le(d->p, 4);
                d->p += 4;
                rc = memo_put(d, n);
            }
            break;
        case PK_MEMOIZE:
            rc = memo_put(d, d->memo_len);
            break;
        case PK_GLOBAL:
            rc = mpx__pd_load_global(d);
            break;
        case PK_STACK_GLOBAL:
            rc = mpx__pd_load_stack_global(d);
            break;
        case PK_REDUCE:
            if ((rc = mpx__pd_pop(d, &b)))
                return rc;
            if ((rc = mpx__pd_pop(d, &a))) {
                mpx__v_decref_local_null(b);
                return rc;
            }
            rc = mpx__pd_load_call(d, MPX_OBJ_REDUCE, a, b, NULL);
            break;
        case PK_NEWOBJ:
            if ((rc = mpx__pd_pop(d, &b)))
                return rc;
            if ((rc = mpx__pd_pop(d, &a))) {
                mpx__v_decref_local_null(b);
                return rc;
            }
            rc = mpx__pd_load_call(d, MPX_OBJ_NEWOBJ, a, b, NULL);
            break;
        case PK_NEWOBJ_EX:
            if (d->sn - fence(d) < 3)
                return mpx__pd_underflow(d);
            c = d->stack[--d->sn];
            b = d->stack[--d->sn];
            a = d->stack[--d->sn];
            rc = mpx__pd_load_call(d, MPX_OBJ_NEWOBJ_EX, a, b, c);
            break;
        case PK_BUILD:
            rc = mpx__pd_load_build(d);
            break;
        case PK_INST:
            rc = mpx__pd_load_inst(d, 0);
            break;
        case PK_OBJ:
            rc = mpx__pd_load_inst(d, 1);
            break;
        default:
            if (op >= 0x20 && op < 0x7f)
                return mpx__pd_fail(d, MPX_EPROTO, "invalid load key, '%c'.", op);
            return mpx__pd_fail(d, MPX_EPROTO, "invalid load key, '\\x%02x'.", op);
        }
        if (rc)
            return rc;
    }
    d->op_off = (size_t)(d->p - d->p0);
    if (d->p0 == d->end)
        return mpx__pd_fail(d, MPX_EPROTO, "Ran out of input");
    return mpx__pd_fail(d, MPX_EPROTO, "pickle data was truncated (no STOP)");
}

int mpx__pickle_load(mpx_obj **out, const unsigned char *data, size_t len, mpx_obj *base,
                     const mpx_obj_load_opts *opts, size_t *used, mpx_obj_error *err)
{
    if (!out || (!data && len)) {
        mpx__v_err(err, MPX_EINVAL, MPX_OBJ_NO_OFFSET, "NULL argument");
        return MPX_EINVAL;
    }
    *out = NULL;
    dec d;
    memset(&d, 0, offsetof(dec, stack0));
    memset(d.memo0, 0, sizeof d.memo0);
    d.stack = d.stack0;
    d.scap = MPX__ARRAY_LEN(d.stack0);
    d.marks = d.marks0;
    d.mcap = MPX__ARRAY_LEN(d.marks0);
    d.memo = d.memo0;
    d.memo_cap = MPX__ARRAY_LEN(d.memo0);
    d.p0 = d.p = data ? data : (const unsigned char *)"";
    d.end = d.p0 + len;
    d.base = base;
    d.view_min = len / 8 > 4096 ? len / 8 : 4096;
    d.max_depth = opts && opts->max_depth > 0 ? opts->max_depth : MPX_OBJ_MAX_DEPTH;
    d.py2_str = opts ? opts->py2_str : MPX_OBJ_PY2_ASCII;
    if (d.py2_str < MPX_OBJ_PY2_ASCII || d.py2_str > MPX_OBJ_PY2_LATIN1) {
        mpx__v_err(err, MPX_EINVAL, MPX_OBJ_NO_OFFSET, "bad py2_str option");
        return MPX_EINVAL;
    }
    size_t limit = opts ? opts->max_alloc : 0;
    if (!limit)
        limit = len > (SIZE_MAX - ((size_t)64 << 20)) / 32 ? SIZE_MAX : ((size_t)64 << 20) + 32 * len;
    d.budget = d.limit = limit;
    d.err = err;
    mpx__gc_defer_begin();
    mpx_obj *result = NULL;
    int rc = run(&d, &result);
    if (!rc && used)
        *used = (size_t)(d.p - d.p0);
    while (d.sn)
        mpx__v_decref_local_null(d.stack[--d.sn]);
    for (size_t i = 0; i < d.memo_cap; i++)
        if (d.memo[i])
            mpx__v_decref_local_null(d.memo[i]);
    if (d.stack != d.stack0)
        free(d.stack);
    if (d.marks != d.marks0)
        free(d.marks);
    if (d.memo != d.memo0)
        free(d.memo);
    if (rc) {
        mpx__v_decref_local_null(result);
        result = NULL;
    }
    mpx__gc_defer_end();
    *out = result;
    return rc;
}

MPX_API int mpx_obj_loads(mpx_obj **out, const void *data, size_t len, const mpx_obj_load_opts *opts,
                          mpx_obj_error *err)
{
    return mpx__pickle_load(out, data, len, NULL, opts, NULL, err);
}

MPX_API int mpx_obj_loads_bytes(mpx_obj **out, mpx_obj *pickle, const mpx_obj_load_opts *opts,
                                mpx_obj_error *err)
{
    if (!out || !pickle) {
        mpx__v_err(err, MPX_EINVAL, MPX_OBJ_NO_OFFSET, "NULL argument");
        return MPX_EINVAL;
    }
    if (pickle->kind != MPX__K_BYTES) {
        mpx__v_err(err, MPX_ETYPE, MPX_OBJ_NO_OFFSET, "a pickle must be bytes, not %s",
                   mpx_obj_type_name(pickle));
        return MPX_ETYPE;
    }
    const mpx__vbytes *b = (const mpx__vbytes *)pickle;
    mpx_obj *owner = b->base ? b->base : pickle;
    return mpx__pickle_load(out, b->data, b->len, owner, opts, NULL, err);
}

MPX_API int mpx_obj_loads_take(mpx_obj **out, void *data, size_t len, const mpx_obj_load_opts *opts,
                               mpx_obj_error *err)
{
    mpx_obj *b = mpx_obj_bytes_take(data, len);
    if (!b) {
        if (out)
            *out = NULL;
        mpx__v_err(err, -ENOMEM, MPX_OBJ_NO_OFFSET, "out of memory");
        return -ENOMEM;
    }
    int rc = mpx_obj_loads_bytes(out, b, opts, err);
    mpx_obj_decref(b);
    return rc;
}
