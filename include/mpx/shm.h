/*
 * mpx/shm.h - named shared memory (Python: multiprocessing.shared_memory
 * SharedMemory and ShareableList, multiprocessing.managers
 * SharedMemoryManager; seed items SHMEM-01..08).
 *
 * A block is a POSIX shared memory object (/dev/shm/NAME) that unrelated
 * processes attach to by name, C and Python alike: names and the
 * ShareableList layout are CPython's, so a CPython program and an mpx
 * program share one block (docs/shm.md).
 *
 *     mpx_shm *s;
 *     mpx_shm_open(&s, NULL, 1, 4096, NULL);      // SharedMemory(create=True, size=4096)
 *     memcpy(mpx_shm_buf(s), "hi", 2);
 *     printf("%s\n", mpx_shm_name(s));            // psm_1a2b3c4d
 *     mpx_shm_close(s); mpx_shm_unlink(s); mpx_shm_destroy(s);
 *
 * Beyond Python, no block leaks: a block created with tracking on (the
 * default) is unlinked when the last process of the program that created
 * it has ended, also when every process of it was killed with SIGKILL; a
 * block only attached to is never unlinked by the attaching program's
 * exit; opts.untracked (Python's track=False) leaves the lifetime to the
 * caller. The tracker is a small process started on the first tracked
 * create, in its own session (docs/shm.md, "Tracking").
 *
 * Errors follow Python's exceptions: FileExistsError -EEXIST,
 * FileNotFoundError -ENOENT, ValueError MPX_EINVAL (size 0 on create,
 * negative size, no name on attach) or MPX_ETOOBIG (a ShareableList value
 * longer than its slot, an item of 10 MB or more), IndexError MPX_EINVAL;
 * other OSErrors -errno.
 */
#ifndef MPX_SHM_H
#define MPX_SHM_H

#include "common.h"
#include "obj.h"

MPX_BEGIN_DECLS

typedef struct mpx_shm mpx_shm;
typedef struct mpx_shareable_list mpx_shareable_list;
typedef struct mpx_shm_manager mpx_shm_manager;

/* Options of mpx_shm_open and mpx_shareable_list_open; zero means default
 * (tracked, as Python's track=True). */
typedef struct mpx_shm_opts {
    int untracked; /* nonzero: Python's track=False (3.13): a created block
                      is not unlinked at the end of the program; its
                      lifetime is the caller's */
} mpx_shm_opts;

/* ---- SharedMemory (SHMEM-01..05, 08) -------------------------------------- */

/*
 * mpx_shm_open - SharedMemory(name, create, size, track=...): with create
 * nonzero make a new block of size bytes (name NULL: a generated unique
 * name, "psm_" and 8 hex digits as CPython), else attach to the existing
 * block name (size is ignored then, except that it must not be
 * negative). Leading slashes of name are ignored as by shm_open; the name
 * reported by mpx_shm_name is name as given (Python's .name).
 * The block is mapped read-write; a new one is zero-filled.
 *
 * Tracking (create only; attaching never tracks): unless opts.untracked,
 * the block is unlinked when the last process of this program has ended
 * (normally or killed); mpx_shm_unlink before that is the normal way.
 *
 * Returns 0; -EEXIST (create: the name exists), -ENOENT (attach: no such
 * block), MPX_EINVAL (out NULL, size < 0, create with size 0, attach with
 * name NULL, attach to a block of size 0), -EINVAL (a name with "/"
 * inside, "", "." or ".."), -ENAMETOOLONG, -EACCES, -ENOMEM, -ENOSPC,
 * other -errno; when the tracker cannot be started, its error (nothing is
 * created then).
 *
 * Threads: safe (different objects).
 * Fork:    the block stays mapped in a fork child; the object is usable
 *          there (see mpx_args_add_object for spawn/forkserver children).
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shm_open(mpx_shm **out, const char *name, int create, int64_t size,
                         const mpx_shm_opts *opts);

/*
 * mpx_shm_buf - the block's memory (Python's .buf), NULL after
 * mpx_shm_close or for a bad handle. mpx_shm_size - its size in bytes
 * (Python's .size: the size of the block, not the size asked for when
 * attaching). mpx_shm_name - its name as Python reports it (no leading
 * slash for generated names); valid until mpx_shm_destroy.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API void *mpx_shm_buf(const mpx_shm *s);
MPX_API size_t mpx_shm_size(const mpx_shm *s);
MPX_API const char *mpx_shm_name(const mpx_shm *s);

/*
 * mpx_shm_close - SharedMemory.close(): unmap the block and close this
 * object's descriptor; never destroys the block (SHMEM-02). A second call
 * does nothing. The object stays valid for mpx_shm_name, mpx_shm_size,
 * mpx_shm_unlink and mpx_shm_destroy. Returns 0 or MPX_EINVAL.
 *
 * Threads: not together with a thread still using the buffer.
 * Fork:    closes this process's mapping only.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shm_close(mpx_shm *s);

/*
 * mpx_shm_unlink - SharedMemory.unlink(): remove the block's name, so no
 * one can attach any more; the memory goes when the last mapping is gone
 * (SHMEM-03). Works before or after mpx_shm_close. Call it once across all
 * users of a block. Safer than Python: the name is removed only while it
 * still names this block (a block created anew under the same name by
 * someone else is left alone: -ENOENT), and the block stops being tracked.
 * Returns 0, -ENOENT (already unlinked), MPX_EINVAL, -errno.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shm_unlink(mpx_shm *s);

/*
 * mpx_shm_destroy - close (if open) and free the object; the block
 * itself is not unlinked. NULL does nothing.
 *
 * Threads: not together with other calls on s.
 * Fork:    frees this process's copy.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_shm_destroy(mpx_shm *s);

/*
 * mpx_shm_describe - repr(shm): "SharedMemory('psm_1a2b3c4d', size=4096)".
 * Returns a string to free with mpx_free, or NULL (bad handle, no memory).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_shm_describe(const mpx_shm *s);

/* ---- ShareableList (SHMEM-06) --------------------------------------------- */

/* The types of ShareableList items (Python's int, float, bool, str, bytes,
 * None). */
enum mpx_sl_type {
    MPX_SL_INT = 1,   /* int64_t */
    MPX_SL_FLOAT = 2, /* double */
    MPX_SL_BOOL = 3,  /* 0 or 1 */
    MPX_SL_STR = 4,   /* UTF-8 text */
    MPX_SL_BYTES = 5, /* bytes */
    MPX_SL_NONE = 6   /* None */
};

/* One item value: type and the field that type uses. p/len: the UTF-8
 * text (need not be NUL-terminated) or the bytes. */
typedef struct mpx_sl_item {
    int type;      /* enum mpx_sl_type; 0 is not a type (a zeroed item is rejected) */
    int64_t i;     /* MPX_SL_INT; MPX_SL_BOOL: 0 or 1 */
    double f;      /* MPX_SL_FLOAT */
    const void *p; /* MPX_SL_STR, MPX_SL_BYTES */
    size_t len;    /* bytes at p */
} mpx_sl_item;

/* Item makers: mpx_sl_item items[] = {mpx_sl_int(1), mpx_sl_str("a"),
 * mpx_sl_none()}; mpx_sl_str takes a NUL-terminated string (mpx_sl_strn
 * a length); the item borrows p. */
static inline mpx_sl_item mpx_sl_int(int64_t v)
{
    mpx_sl_item it = {MPX_SL_INT, v, 0.0, NULL, 0};
    return it;
}
static inline mpx_sl_item mpx_sl_float(double v)
{
    mpx_sl_item it = {MPX_SL_FLOAT, 0, v, NULL, 0};
    return it;
}
static inline mpx_sl_item mpx_sl_bool(int v)
{
    mpx_sl_item it = {MPX_SL_BOOL, v != 0, 0.0, NULL, 0};
    return it;
}
static inline mpx_sl_item mpx_sl_strn(const char *s, size_t len)
{
    mpx_sl_item it = {MPX_SL_STR, 0, 0.0, s, len};
    return it;
}
static inline mpx_sl_item mpx_sl_str(const char *s)
{
    size_t n = 0;
    while (s && s[n])
        n++;
    return mpx_sl_strn(s, n);
}
static inline mpx_sl_item mpx_sl_bytes(const void *p, size_t len)
{
    mpx_sl_item it = {MPX_SL_BYTES, 0, 0.0, p, len};
    return it;
}
static inline mpx_sl_item mpx_sl_none(void)
{
    mpx_sl_item it = {MPX_SL_NONE, 0, 0.0, NULL, 0};
    return it;
}

/*
 * mpx_shareable_list_open - ShareableList(sequence, name=name): with
 * items non-NULL (n of them; n may be 0), create a list in a new block
 * (name NULL: a generated name; tracked unless opts.untracked); with
 * items NULL (Python's sequence=None) and a name, attach to the list in
 * that block; items NULL and name NULL make an empty list, as in Python.
 *
 * The layout is CPython's (byte for byte the same block for the same
 * sequence, 3.8 to 3.13): each str or bytes item gets a slot that later
 * values may fill up to its size (8 * (length // 8 + 1) bytes, where a
 * str's length is its number of characters as in CPython, raised to what
 * its UTF-8 needs when that is more: mpx never truncates a string).
 * Rejected, where CPython would lose data: str that is not valid UTF-8
 * (-EILSEQ), str/bytes ending in NUL bytes (MPX_EINVAL: reading would
 * strip them), an item of 9,999,992 bytes or more (MPX_ETOOBIG).
 * Attaching checks the header (count, offsets, sizes) against the block:
 * MPX_EPROTO when it is not a ShareableList.
 *
 * Returns 0, MPX_EINVAL (out NULL, items NULL with n > 0, an item of
 * type 0 or an unknown type), -EILSEQ, MPX_ETOOBIG, MPX_EPROTO, or an
 * error of mpx_shm_open.
 *
 * Threads: safe (different lists).
 * Fork:    as mpx_shm_open.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shareable_list_open(mpx_shareable_list **out, const mpx_sl_item *items, size_t n,
                                    const char *name, const mpx_shm_opts *opts);

/*
 * mpx_shareable_list_destroy - close the list's block (mpx_shm_close) and
 * free the object; the block is not unlinked (Python: sl.shm.close()).
 * NULL does nothing.
 *
 * Threads: not together with other calls on l.
 * Fork:    frees this process's copy.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_shareable_list_destroy(mpx_shareable_list *l);

/*
 * mpx_shareable_list_shm - the list's block (Python's .shm): name, size,
 * unlink (mpx_shm_unlink(mpx_shareable_list_shm(l))). Owned by the list:
 * do not destroy it. After mpx_shm_close on it, list calls return
 * MPX_ECLOSED. NULL for a bad handle.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API mpx_shm *mpx_shareable_list_shm(mpx_shareable_list *l);

/*
 * mpx_shareable_list_len - len(sl): the number of items (0 for a bad
 * handle).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API size_t mpx_shareable_list_len(const mpx_shareable_list *l);

/*
 * mpx_shareable_list_type - type(sl[index]) as an MPX_SL_* value. Index
 * counts from the end when negative, as in Python. Returns the type, or
 * MPX_EINVAL (bad handle, index out of range: IndexError), MPX_ECLOSED,
 * MPX_EPROTO (the item's format or decode code is not one CPython
 * writes).
 *
 * Threads: safe (the list is not locked: as in Python, a concurrent
 *          writer of the same item may be seen half-written).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shareable_list_type(const mpx_shareable_list *l, int64_t index);

/*
 * mpx_shareable_list_get - sl[index] into *out. For MPX_SL_STR and
 * MPX_SL_BYTES, out->p is a new NUL-terminated copy that the caller frees
 * with mpx_sl_item_clear (or mpx_free). Trailing NUL bytes of a str or
 * bytes slot are not part of the value (CPython's rule). Returns 0,
 * MPX_EINVAL, MPX_ECLOSED, MPX_EPROTO, -EILSEQ (a str slot that is not
 * valid UTF-8: CPython raises UnicodeDecodeError), -ENOMEM.
 *
 * mpx_sl_item_clear - free the copy of a str/bytes item from
 * mpx_shareable_list_get and zero *it (NULL does nothing; do not call it
 * on items whose p the caller owns).
 *
 * Threads: safe (see mpx_shareable_list_type).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shareable_list_get(const mpx_shareable_list *l, int64_t index, mpx_sl_item *out);
MPX_API void mpx_sl_item_clear(mpx_sl_item *it);

/*
 * Typed reads of sl[index]: MPX_EINVAL when the item has another type
 * (or a bad handle, index, NULL pointer). mpx_shareable_list_get_str
 * copies the UTF-8 text and a NUL into buf (cap bytes) and its length
 * without the NUL to *len; mpx_shareable_list_get_bytes copies the bytes
 * (no NUL). Both: MPX_ETOOSHORT (with *len set to the length) when cap is
 * too small. Also MPX_ECLOSED, MPX_EPROTO, -EILSEQ as
 * mpx_shareable_list_get.
 *
 * Threads: safe (see mpx_shareable_list_type).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shareable_list_get_int(const mpx_shareable_list *l, int64_t index, int64_t *out);
MPX_API int mpx_shareable_list_get_float(const mpx_shareable_list *l, int64_t index, double *out);
MPX_API int mpx_shareable_list_get_bool(const mpx_shareable_list *l, int64_t index, int *out);
MPX_API int mpx_shareable_list_get_str(const mpx_shareable_list *l, int64_t index, char *buf,
                                       size_t cap, size_t *len);
MPX_API int mpx_shareable_list_get_bytes(const mpx_shareable_list *l, int64_t index, void *buf,
                                         size_t cap, size_t *len);

/*
 * mpx_shareable_list_set - sl[index] = value, with CPython's rules: any
 * type may replace any other; a str or bytes value must fit the item's
 * slot (MPX_ETOOBIG otherwise: Python's ValueError "exceeds available
 * storage"; nothing is written then, and never past a slot). The typed
 * forms: set_str takes a NUL-terminated string, set_bytes a length.
 * Returns 0, MPX_EINVAL (bad handle, index, NULL, unknown type, a str or
 * bytes value ending in NUL bytes: they would be lost on reading),
 * -EILSEQ (str not valid UTF-8), MPX_ETOOBIG, MPX_ECLOSED, MPX_EPROTO.
 *
 * Threads: not locked (as in Python): concurrent writers of one item race.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shareable_list_set(mpx_shareable_list *l, int64_t index, const mpx_sl_item *value);
MPX_API int mpx_shareable_list_set_int(mpx_shareable_list *l, int64_t index, int64_t v);
MPX_API int mpx_shareable_list_set_float(mpx_shareable_list *l, int64_t index, double v);
MPX_API int mpx_shareable_list_set_bool(mpx_shareable_list *l, int64_t index, int v);
MPX_API int mpx_shareable_list_set_str(mpx_shareable_list *l, int64_t index, const char *s);
MPX_API int mpx_shareable_list_set_bytes(mpx_shareable_list *l, int64_t index, const void *p,
                                         size_t len);
MPX_API int mpx_shareable_list_set_none(mpx_shareable_list *l, int64_t index);

/*
 * mpx_shareable_list_count - sl.count(value): how many items equal value
 * with Python's ==: int, float and bool compare as numbers (1 == 1.0 ==
 * True, exactly, NaN equals nothing), str with str, bytes with bytes,
 * None with None. mpx_shareable_list_index - sl.index(value): the first
 * such position. Return the count / position (>= 0), or -ENOENT (index:
 * not present, Python's ValueError), MPX_EINVAL, MPX_ECLOSED, MPX_EPROTO,
 * -EILSEQ.
 *
 * Threads: safe (see mpx_shareable_list_type).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int64_t mpx_shareable_list_count(const mpx_shareable_list *l, const mpx_sl_item *value);
MPX_API int64_t mpx_shareable_list_index(const mpx_shareable_list *l, const mpx_sl_item *value);

/*
 * mpx_shareable_list_format - sl.format: the struct formats of all items
 * joined ("q", "d", "xxxxxxx?" for bool, "xxxxxx?x" for None, "16s" for
 * a 16-byte str/bytes slot). mpx_shareable_list_describe - repr(sl):
 * "ShareableList([1, 'a', None], name='psm_1a2b3c4d')". Both return a
 * string to free with mpx_free, or NULL (bad handle, closed, corrupt
 * item, no memory).
 *
 * Threads: safe (see mpx_shareable_list_type).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_shareable_list_format(const mpx_shareable_list *l);
MPX_API char *mpx_shareable_list_describe(const mpx_shareable_list *l);

/* ---- ShareableList and values (#15) ------------------------------------------
 * The same calls on mpx_obj values (include/mpx/obj.h), for a literal port
 * of Python lines that pass values.
 */

/*
 * mpx_shareable_list_open_obj - ShareableList(sequence, name=name) from a
 * list or tuple of values: each item an int (64-bit: struct's "q"), a
 * float, a bool, a str, a bytes or None, exactly the types CPython
 * accepts (a bytearray, a nested list, ... is MPX_ETYPE, CPython's
 * KeyError). seq NULL: attach to the list named name, or an empty list
 * (as mpx_shareable_list_open with items NULL).
 *
 *     mpx_obj *seq = mpx_obj_build("[idsO]", 1, 2.5, "x", mpx_obj_none());
 *     mpx_shareable_list *sl;
 *     if (mpx_shareable_list_open_obj(&sl, seq, NULL, NULL) == 0) {
 *         mpx_obj *all, *last;
 *         mpx_shareable_list_set_obj(sl, 0, mpx_obj_true());
 *         mpx_shareable_list_to_obj(sl, &all);
 *         char *r = mpx_obj_repr(all);
 *         printf("%s\n", r);                   // prints: [True, 2.5, 'x', None]
 *         mpx_shareable_list_get_obj(sl, -2, &last);
 *         printf("%s\n", mpx_obj_str_value(last));   // prints: x
 *         mpx_free(r); mpx_obj_decref(all); mpx_obj_decref(last);
 *         mpx_shm_unlink(mpx_shareable_list_shm(sl));
 *         mpx_shareable_list_destroy(sl);
 *     }
 *     mpx_obj_decref(seq);
 *
 * Returns 0, MPX_EINVAL (out NULL, an item NULL), MPX_ETYPE (seq not a
 * list or tuple, an item of another type), -ERANGE (an int beyond 64
 * bits: CPython's struct.error), or an error of mpx_shareable_list_open.
 *
 * Threads: safe (different lists).
 * Fork:    as mpx_shm_open.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shareable_list_open_obj(mpx_shareable_list **out, const mpx_obj *seq,
                                        const char *name, const mpx_shm_opts *opts);

/*
 * mpx_shareable_list_get_obj - sl[index] as a new value (*out, release
 * with mpx_obj_decref); mpx_shareable_list_set_obj - sl[index] = value
 * (the types of mpx_shareable_list_open_obj; a str or bytes must fit the
 * item's slot: MPX_ETOOBIG otherwise, the item unchanged);
 * mpx_shareable_list_to_obj - list(sl), a new list value. Errors: those of
 * mpx_shareable_list_get / _set, MPX_ETYPE, -ERANGE, -ENOMEM.
 *
 * mpx_shareable_list_count_obj / mpx_shareable_list_index_obj -
 * sl.count(value) / sl.index(value) with Python's == (a bytearray equals
 * the bytes with its data, 2**70 the float 2.0**70; a value of a type no
 * item can hold is counted 0 times, its index is -ENOENT).
 *
 * Threads: safe (see mpx_shareable_list_type).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shareable_list_get_obj(const mpx_shareable_list *l, int64_t index, mpx_obj **out);
MPX_API int mpx_shareable_list_set_obj(mpx_shareable_list *l, int64_t index, const mpx_obj *value);
MPX_API int mpx_shareable_list_to_obj(const mpx_shareable_list *l, mpx_obj **out);
MPX_API int64_t mpx_shareable_list_count_obj(const mpx_shareable_list *l, const mpx_obj *value);
MPX_API int64_t mpx_shareable_list_index_obj(const mpx_shareable_list *l, const mpx_obj *value);

/* ---- SharedMemoryManager (SHMEM-07) ---------------------------------------- */

/*
 * mpx_shm_manager_create - SharedMemoryManager(): a manager whose blocks
 * are all unlinked by mpx_shm_manager_shutdown. It needs no server
 * process: its blocks are tracked (so they are also unlinked when the
 * program is killed) and it records their names (docs/shm.md). It is
 * used from the process that created it. Returns 0, MPX_EINVAL, -ENOMEM.
 *
 * mpx_shm_manager_start - start(): required before the calls below, once
 * (MPX_ESTATE when started before or shut down).
 *
 * Threads: safe (one manager may be used by several threads).
 * Fork:    a fork child's copy refuses calls (MPX_ESTATE); the blocks
 *          stay the creator's.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shm_manager_create(mpx_shm_manager **out);
MPX_API int mpx_shm_manager_start(mpx_shm_manager *m);

/*
 * mpx_shm_manager_shared_memory - smm.SharedMemory(size): a new block
 * (generated name, tracked) that shutdown unlinks.
 * mpx_shm_manager_shareable_list - smm.ShareableList(sequence): the same
 * for a list. The returned objects are the caller's to destroy (which
 * does not unlink). Return 0, MPX_ESTATE (not started, shut down, or not
 * the creating process), MPX_EINVAL, or the errors of mpx_shm_open /
 * mpx_shareable_list_open.
 *
 * Threads: safe.
 * Fork:    see mpx_shm_manager_create.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shm_manager_shared_memory(mpx_shm_manager *m, int64_t size, mpx_shm **out);
MPX_API int mpx_shm_manager_shareable_list(mpx_shm_manager *m, const mpx_sl_item *items, size_t n,
                                           mpx_shareable_list **out);

/*
 * mpx_shm_manager_shutdown - shutdown(): unlink every block the manager
 * created that still exists (a block already unlinked by someone is
 * skipped, and a new block that took a freed name is left alone). A
 * second call does nothing. Mappings stay valid in processes that use
 * them. Returns 0, MPX_EINVAL, MPX_ESTATE (not the creating process), or
 * the first unlink error (the other blocks are still unlinked).
 *
 * mpx_shm_manager_destroy - shutdown (when started) and free (Python: the
 * `with` block's end). NULL does nothing.
 *
 * Threads: safe (destroy: not together with other calls on m).
 * Fork:    see mpx_shm_manager_create.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_shm_manager_shutdown(mpx_shm_manager *m);
MPX_API void mpx_shm_manager_destroy(mpx_shm_manager *m);

MPX_END_DECLS

#endif /* MPX_SHM_H */
