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
} dec;

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
int mpx__pd_charge(dec *d, size_t n);
/* n more bytes of input must be there. */
int mpx__pd_need(dec *d, size_t n, const char *what);
uint64_t mpx__pd_rd_le(const unsigned char *p, int n);
/* A line up to '\n' (consumed, not included). */
int mpx__pd_readline(dec *d, const char **s, size_t *n);
/* Stack: push takes the reference (released on failure). */
int mpx__pd_push(dec *d, mpx_obj *o);
int mpx__pd_pop(dec *d, mpx_obj **o);
int mpx__pd_top(dec *d, mpx_obj **o);
int mpx__pd_pop_mark(dec *d, size_t *at);
int mpx__pd_underflow(dec *d);
int mpx__pd_depth_of(const mpx_obj *o);
/* parent now holds child: keep the nesting depth within the limit. */
int mpx__pd_nest(dec *d, mpx_obj *parent, const mpx_obj *child);
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
