/*
 * core/pool_obj.h - pools over values (include/mpx/pool.h, "Values"):
 * the wire form shared by the parent side (pool_obj.c, pool_obj_imap.c)
 * and the worker side (pool_obj_task.c), and the exception values
 * (obj_exc.c). Not installed.
 *
 * Values ride on the byte pool: every task runs mpx__pool_obj_task, a
 * byte task (so the pool's function table holds one entry for every value
 * call), and the user's function travels in each item as a compact
 * portable function reference (core/fnref.h: registered name, module
 * identity, offset), resolved once per worker thread and cached.
 *
 * An input item:
 *   u8  kind         'M' mpx_obj_fn on one value
 *                    'S' mpx_obj_star_fn on an argument tuple
 *                    'K' mpx_obj_star_fn on an argument tuple and a dict
 *   u16 ref_len      little endian
 *   ref_len bytes    the function reference (mpx__fnref_encode_compact)
 *   pickle           the value ('M') or the argument tuple ('S', 'K'),
 *   [pickle]         then the keyword dict ('K')
 * An output (a successful byte task, whatever the value task did):
 *   u8  tag          'R' the task's result, 'E' its error value
 *   pickle
 * Pickles are protocol 5 (mpx__po_dump); small ones without their PROTO
 * header and their single FRAME, which CPython and mpx decode alike (the
 * opcodes need neither).
 * A failure of the byte task itself (a crash, a timeout, a cancellation,
 * no memory for the output) has no value: the parent makes an exception
 * for it (mpx__obj_exception_for).
 */
#ifndef MPX_CORE_POOL_OBJ_H
#define MPX_CORE_POOL_OBJ_H

#include "core/fnref.h"
#include "core/internal.h"
#include "mpx/obj.h"
#include "mpx/pool.h"

#define MPX__PO_HDR 3u /* kind + u16 ref_len */
#define MPX__PO_PROTOCOL MPX_PICKLE_HIGHEST_PROTOCOL

enum { MPX__PO_ONE = 'M', MPX__PO_STAR = 'S', MPX__PO_STARKW = 'K' };
enum { MPX__PO_RESULT = 'R', MPX__PO_ERROR = 'E' };

/* The byte task every value call runs (pool_obj_task.c). */
int mpx__pool_obj_task(const void *in, size_t len, mpx_task_out *out);

/* Append the pickle of v (see above). */
int mpx__po_dump(mpx__buf *b, const mpx_obj *v, mpx_obj_error *err);

/* The item header for fn: kind, length, reference (appended to b). */
int mpx__pool_obj_header(mpx__buf *b, int kind, mpx__fnptr fn);

/* Decode a task output (tag + pickle): 0 and *value with *failed = 0 for
 * a result, 1 for an error value; a negative code when it does not decode
 * (*value is then an exception saying so, or NULL without memory). */
int mpx__pool_obj_output(const void *data, size_t len, mpx_obj **value, int *failed);

/* pool_obj.c, shared with pool_obj_imap.c */
/* 0 when items can be iterated as map's input, else MPX_ETYPE. */
int mpx__po_check_items(const mpx_obj *items);
/* Append one item (hdr from mpx__pool_obj_header, then the pickles of v and
 * kwargs) to b; MPX_ETYPE for a star item that is not a tuple or list. On
 * failure b is as before. */
int mpx__po_encode_item(mpx__buf *b, const mpx__buf *hdr, int kind, const mpx_obj *v,
                        const mpx_obj *kwargs);
/* Ask for transparent huge pages over the aligned middle of a big buffer. */
void mpx__po_hugepages(void *p, size_t len);
/* The byte options for a value call (callbacks only when cbs). */
void mpx__po_call_opts(const mpx_obj_call_opts *in, mpx_call_opts *out, void *udata, bool cbs);
/* mpx_task_error of a failed item: the byte pool's details (r's item, or
 * it's last error) unless the error value came from the task (own); the
 * message then is the value's text, kept in *msgslot. */
int mpx__po_error_info(mpx_result *r, mpx_imap *it, size_t index, int code, bool own,
                       const mpx_obj *value, char **msgslot, mpx_task_error *err);

/* obj_exc.c */
mpx_obj *mpx__obj_exception_v(const char *type, mpx_obj *args); /* steals args */
/* Python's traceback line for an exception value ("ValueError: bad"), the
 * repr of any other value; free with free(). NULL without memory. */
char *mpx__obj_exception_text(const mpx_obj *e);
mpx_obj *mpx__obj_exception_for(int code, const char *message);

#endif
