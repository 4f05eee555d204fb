/*
 * core/pickle_dec.h - the decoder's state and the helpers its files share
 * (pickle_dec.c: the machine, stack, memo and containers; pickle_dec_text.c:
 * protocol 0's text opcodes; pickle_reduce.c: globals and reductions).
 * Not installed.
 */
#ifndef MPX_CORE_PICKLE_DEC_H
#define MPX_CORE_PICKLE_DEC_H

#include "core/pickle_internal.h"

typedef struct dec {
    const unsigned char *p0, *p, *end;
    size_t op_off; /* offset of the current opcode */
    mpx_obj *base; /* owner of the input, for bytes views */
    size_t view_min;
    mpx_obj **stack;
    size_t sn, scap;
    size_t *marks;
    size_t mn, mcap;
    mpx_obj **memo;
    size_t memo_cap, memo_len;
    int proto;
    size_t budget;
    size_t limit;
    int max_depth;
    int py2_str; /* mpx_obj_load_opts.py2_str */
    mpx_obj_error *err;
    /* first storage of stack, marks and memo: small pickles need no malloc */
    mpx_obj *stack0[64];
    size_t marks0[16];
    mpx_obj *memo0[64];
} dec;

/* realloc for arrays that start in the dec struct */
static inline void *mpx__pd_grow(void *p, const void *inline_storage, size_t old_bytes, size_t bytes)
{
    if (p != inline_storage)
        return realloc(p, bytes);
    void *n = malloc(bytes);
    if (n)
        memcpy(n, p, old_bytes);
    return n;
}

/* Release a value of the decoder's (NULL-safe; local counts). */
static inline void mpx__v_decref_local_null(mpx_obj *o)
{
    if (o)
        mpx__v_decref_local(o);
}

static inline size_t left(const dec *d)
{
    return (size_t)(d->end - d->p);
}

static inline size_t fence(const dec *d)
{
    return d->mn ? d->marks[d->mn - 1] : 0;
}

/* Fill the error (with the opcode's offset) and return code. */
int mpx__pd_fail(dec *d, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int mpx__pd_nomem(dec *d);
/* Charge n bytes of allocation to the budget (MPX_ETOOBIG past it). */
int mpx__pd_charge_slow(dec *d, size_t n);
static inline int mpx__pd_charge(dec *d, size_t n)
{
    if (MPX__LIKELY(n <= d->budget)) {
        d->budget -= n;
        return 0;
    }
    return mpx__pd_charge_slow(d, n);
}
/* n more bytes of input must be there. */
int mpx__pd_need_slow(dec *d, size_t n, const char *what);
static inline int mpx__pd_need(dec *d, size_t n, const char *what)
{
    return MPX__LIKELY(n <= left(d)) ? 0 : mpx__pd_need_slow(d, n, what);
}
uint64_t mpx__pd_rd_le(const unsigned char *p, int n);
/* A line up to '\n' (consumed, not included). */
int mpx__pd_readline(dec *d, const char **s, size_t *n);
/* Stack: push takes the reference (released on failure). */
int mpx__pd_push_slow(dec *d, mpx_obj *o);
static inline int mpx__pd_push(dec *d, mpx_obj *o)
{
    if (MPX__LIKELY(o && d->sn < d->scap)) {
        d->stack[d->sn++] = o;
        return 0;
    }
    return mpx__pd_push_slow(d, o);
}
int mpx__pd_underflow(dec *d);
static inline int mpx__pd_pop(dec *d, mpx_obj **o)
{
    *o = NULL;
    if (MPX__UNLIKELY(d->sn <= fence(d)))
        return mpx__pd_underflow(d);
    *o = d->stack[--d->sn];
    return 0;
}
static inline int mpx__pd_top(dec *d, mpx_obj **o)
{
    *o = NULL;
    if (MPX__UNLIKELY(d->sn <= fence(d)))
        return mpx__pd_underflow(d);
    *o = d->stack[d->sn - 1];
    return 0;
}
int mpx__pd_pop_mark(dec *d, size_t *at);
static inline int mpx__pd_depth_of(const mpx_obj *o)
{
    return mpx__v_is_cont(o) && !(o->flags & MPX__F_IMMORTAL) ? (int)((const mpx__vcont *)o)->depth : 0;
}
/* parent now holds child: keep the nesting depth within the limit. */
int mpx__pd_nest_slow(dec *d, uint32_t cd);
static inline int mpx__pd_nest(dec *d, mpx_obj *parent, const mpx_obj *child)
{
    uint32_t cd = (uint32_t)mpx__pd_depth_of(child) + 1;
    mpx__vcont *p = (mpx__vcont *)parent;
    if (cd > p->depth) {
        if (MPX__UNLIKELY(cd > (uint32_t)d->max_depth))
            return mpx__pd_nest_slow(d, cd);
        p->depth = cd;
    }
    return 0;
}
int mpx__pd_push_int(dec *d, int64_t v);
int mpx__pd_make_str(dec *d, const unsigned char *p, size_t n, mpx_obj **out);
int mpx__pd_push_py2str(dec *d, const unsigned char *p, size_t n);
int mpx__pd_new_container(dec *d, int kind, mpx_obj **out);
int mpx__pd_add_items(dec *d, mpx_obj *set, size_t at);
int mpx__pd_make_tuple(dec *d, size_t at, mpx_obj **out);

/* pickle_dec_text.c */
int mpx__pd_load_int_text(dec *d);
int mpx__pd_load_long_text(dec *d);
int mpx__pd_load_float_text(dec *d);
int mpx__pd_load_string_text(dec *d);
int mpx__pd_load_unicode_text(dec *d);
int mpx__pd_parse_index(dec *d, const char *what, size_t *idx);

/* pickle_reduce.c */
int mpx__pd_load_global(dec *d);
int mpx__pd_load_stack_global(dec *d);
int mpx__pd_load_call(dec *d, mpx_obj_how how, mpx_obj *fn, mpx_obj *args, mpx_obj *kwargs);
int mpx__pd_load_build(dec *d);
int mpx__pd_load_inst(dec *d, int obj);

#endif /* MPX_CORE_PICKLE_DEC_H */
