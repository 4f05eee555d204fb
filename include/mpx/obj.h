/*
 * mpx/obj.h - values: Python's objects for C, and the pickle codec
 * (issue #15; CONN-03..05, PROC-03, the examples that send objects).
 *
 * One refcounted type, mpx_obj, holds what Python's multiprocessing moves
 * between processes: None, bool, int (any size, exact), float, str
 * (validated UTF-8), bytes, bytearray, tuple, list, dict (insertion
 * ordered, Python's key rules: 1, 1.0 and True are one key), set,
 * frozenset; plus values C cannot interpret, carried unchanged: a class
 * reference (module + qualified name) and an instance built from one (the
 * pieces of a pickle reduction: a datetime, a Decimal, a manager's Token,
 * an exception sent by CPython). Nothing is imported or executed to decode.
 *
 *     mpx_obj *v = mpx_obj_build("{s:[i,d,O],s:y#}", "a", 1, 2.5,
 *                                mpx_obj_none(), "b", "\0", (size_t)1);
 *     char *r = mpx_obj_repr(v);      // {'a': [1, 2.5, None], 'b': b'\x00'}
 *     void *p; size_t n;
 *     mpx_obj_dumps(v, MPX_PICKLE_DEFAULT, &p, &n, NULL, NULL);
 *                                     // the bytes of pickle.dumps(v)
 *     mpx_obj *w;
 *     mpx_obj_loads(&w, p, n, NULL, NULL);    // pickle.loads
 *     mpx_free(p); mpx_free(r); mpx_obj_decref(v); mpx_obj_decref(w);
 *
 * Ownership (jansson's words): a function documented as returning a "new
 * reference" gives the caller one reference, which the caller releases
 * with mpx_obj_decref; a "borrowed" reference stays valid as long as the
 * container it came from holds it (and the caller holds the container).
 * Functions that take a value borrow it and take their own reference when
 * they store it; their "_new" twins steal the caller's reference instead,
 * also when they fail, so that the append below never leaks (a NULL
 * argument, from a constructor that failed, makes the call fail with
 * -ENOMEM):
 *
 *     mpx_obj *list = mpx_obj_list();
 *     mpx_obj_list_append_new(list, mpx_obj_int(7));
 *     mpx_obj_decref(list);
 *
 * Reference cycles (Python's l.append(l)) are allowed and freed: a
 * container that may be part of a cycle is examined when its last
 * reference from outside containers is released, and a cycle that nothing
 * outside holds is freed then (docs/obj.md, "Cycles").
 *
 * Errors: calls return 0 (or 1/0 for yes/no answers, or a count) and a
 * negative code on failure: MPX_ETYPE (Python's TypeError: wrong type,
 * unhashable key, unorderable values), MPX_EKEY (KeyError), MPX_EINDEX
 * (IndexError), MPX_EINVAL (ValueError: bad UTF-8, a lone surrogate),
 * -ERANGE (OverflowError), MPX_EDEPTH (RecursionError: nesting deeper than
 * the depth limit), MPX_EPROTO (malformed pickle), MPX_ENOTSUP (a pickle
 * feature this codec refuses), MPX_ETOOBIG (allocation limit), -ENOMEM.
 * Calls that parse (loads, build, parse, int_parse, utf8_check) also fill
 * an optional mpx_obj_error with the message and the byte offset.
 *
 * Threads: reference counts are atomic, so a value may be shared between
 * threads and released from any of them, and reading a value from several
 * threads at once is safe. Changing a container while another thread
 * reads or changes it is not (as in jansson): guard shared mutable values
 * with a lock. Fork: a value is ordinary memory; a fork child has its own
 * copy. Signals: no call here is async-signal-safe.
 */
#ifndef MPX_OBJ_H
#define MPX_OBJ_H

#include "common.h"

#include <stdarg.h>

MPX_BEGIN_DECLS

typedef struct mpx_obj mpx_obj;

/* The type of a value: Python's type(v). */
typedef enum mpx_obj_type {
    MPX_OBJ_NONE = 0,
    MPX_OBJ_BOOL = 1,
    MPX_OBJ_INT = 2,
    MPX_OBJ_FLOAT = 3,
    MPX_OBJ_STR = 4,
    MPX_OBJ_BYTES = 5,
    MPX_OBJ_BYTEARRAY = 6,
    MPX_OBJ_TUPLE = 7,
    MPX_OBJ_LIST = 8,
    MPX_OBJ_DICT = 9,
    MPX_OBJ_SET = 10,
    MPX_OBJ_FROZENSET = 11,
    /* A global referenced by name (module, qualified name): usually a
     * class, possibly a function (pickle's GLOBAL / STACK_GLOBAL). */
    MPX_OBJ_CLASS = 12,
    /* An object built by a reduction: see mpx_obj_reduce. */
    MPX_OBJ_INSTANCE = 13
} mpx_obj_type;

/* Detail of a failure. Every call that takes one fills it on failure
 * (code = the return value) and leaves it untouched on success. */
typedef struct mpx_obj_error {
    int code;
    /* Byte offset in the pickle (loads), or in the format string
     * (build/parse), or in the text (int_parse, utf8_check);
     * MPX_OBJ_NO_OFFSET when the failure has no position. */
    size_t offset;
    char text[160];
} mpx_obj_error;

#define MPX_OBJ_NO_OFFSET ((size_t)-1)

/* Default nesting limit of the recursive operations (encode, repr,
 * equality, ordering, hashing) and of decoding. CPython 3.13's
 * pickle.dumps stops near 5000 levels (3.11: 500). The full depth needs
 * about 1 MiB of C stack (threads have 8 MiB by default). */
#define MPX_OBJ_MAX_DEPTH 5000

/* ---- References ------------------------------------------------------ */

/*
 * mpx_obj_incref - take one more reference to v; returns v. NULL-safe.
 * mpx_obj_decref - release one reference; the last one frees v and the
 * references it holds (iteratively: any depth is fine), and a released
 * cycle that nothing else holds is freed too. NULL-safe.
 *
 * Threads: safe (atomic counts).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_incref(mpx_obj *v);
MPX_API void mpx_obj_decref(mpx_obj *v);

/*
 * mpx_obj_typeof - the type of v (v must not be NULL).
 * mpx_obj_type_name - Python's type(v).__name__: "NoneType", "int",
 * "str", ..., "type" for a class reference, the class's name for an
 * instance. Borrowed: valid while v lives.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API mpx_obj_type mpx_obj_typeof(const mpx_obj *v);
MPX_API const char *mpx_obj_type_name(const mpx_obj *v);

/* ---- Constructors ----------------------------------------------------
 * Each returns a new reference, or NULL when memory is short (or, where
 * stated, the input is invalid). */

/*
 * mpx_obj_none, mpx_obj_true, mpx_obj_false, mpx_obj_bool(b) - the
 * singletons (never NULL; releasing them is allowed and does nothing).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_none(void);
MPX_API mpx_obj *mpx_obj_true(void);
MPX_API mpx_obj *mpx_obj_false(void);
MPX_API mpx_obj *mpx_obj_bool(int b);

/*
 * mpx_obj_int, mpx_obj_uint - an int from a C integer.
 * mpx_obj_int_from_bytes - int.from_bytes(p[:n], "little" or "big",
 * signed=is_signed): any size.
 * mpx_obj_int_parse - int(text, base): base 0 or 2..36, Python's syntax
 * (sign, surrounding whitespace, underscores between digits, 0x/0o/0b
 * prefixes). NULL with err filled on a syntax error.
 * mpx_obj_float - a float (NaN, infinities and -0.0 kept exactly).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_int(int64_t v);
MPX_API mpx_obj *mpx_obj_uint(uint64_t v);
MPX_API mpx_obj *mpx_obj_int_from_bytes(const void *p, size_t n, int little_endian,
                                        int is_signed);
MPX_API mpx_obj *mpx_obj_int_parse(const char *text, size_t len, int base, mpx_obj_error *err);
MPX_API mpx_obj *mpx_obj_float(double v);

/*
 * mpx_obj_str - a str from NUL-terminated UTF-8; mpx_obj_strn from len
 * bytes (NULs allowed). NULL when the text is not valid UTF-8 (overlong
 * forms, code points above U+10FFFF and lone surrogates are invalid):
 * mpx_obj_utf8_check tells why.
 * mpx_obj_str_printf - a str from a printf format (its output must be
 * UTF-8).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_str(const char *s);
MPX_API mpx_obj *mpx_obj_strn(const char *s, size_t len);
MPX_API mpx_obj *mpx_obj_str_printf(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/*
 * mpx_obj_utf8_check - 0 when s[0..len) is valid UTF-8 as mpx_obj_strn
 * accepts it, else MPX_EINVAL with err naming the offset and the reason
 * (e.g. "lone surrogate U+D800 at offset 3").
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_obj_utf8_check(const char *s, size_t len, mpx_obj_error *err);

/*
 * mpx_obj_bytes - bytes copied from p[0..n) (p NULL: n zero bytes).
 * mpx_obj_bytes_take - bytes that take ownership of p, a block from
 * malloc (or from an mpx call documented as freed with mpx_free): no copy;
 * p is freed when the value goes, and also when this call fails.
 * mpx_obj_bytearray - a bytearray copied from p[0..n) (p NULL: zeros).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_bytes(const void *p, size_t n);
MPX_API mpx_obj *mpx_obj_bytes_take(void *p, size_t n);
MPX_API mpx_obj *mpx_obj_bytearray(const void *p, size_t n);

/*
 * mpx_obj_tuple - a tuple of n items, all None, to be filled with
 * mpx_obj_tuple_set_new before it is shared (mpx_obj_tuple(0) is the
 * empty tuple). mpx_obj_tuple_pack - a tuple of the n values given
 * (borrowed: each gets a new reference; a NULL value makes it fail).
 * mpx_obj_list, mpx_obj_dict, mpx_obj_set, mpx_obj_frozenset - empty
 * containers (fill a frozenset with mpx_obj_set_add before sharing it).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_tuple(size_t n);
MPX_API mpx_obj *mpx_obj_tuple_pack(size_t n, ...);
MPX_API mpx_obj *mpx_obj_list(void);
MPX_API mpx_obj *mpx_obj_dict(void);
MPX_API mpx_obj *mpx_obj_set(void);
MPX_API mpx_obj *mpx_obj_frozenset(void);

/* ---- Typed getters ---------------------------------------------------
 * 0 on success; MPX_ETYPE when v has another type (v NULL: MPX_EINVAL).
 * Outputs are borrowed. */

/*
 * mpx_obj_get_bool - a bool's value (1 or 0); other types: MPX_ETYPE
 * (use mpx_obj_truth for Python's bool(v)).
 * mpx_obj_get_int - an int or bool as int64_t; -ERANGE when it does not
 * fit. mpx_obj_get_uint - as uint64_t; -ERANGE when negative or too big.
 * mpx_obj_get_float - a float, int or bool as double (float(v)); -ERANGE
 * for an int beyond the double range.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_obj_get_bool(const mpx_obj *v, int *out);
MPX_API int mpx_obj_get_int(const mpx_obj *v, int64_t *out);
MPX_API int mpx_obj_get_uint(const mpx_obj *v, uint64_t *out);
MPX_API int mpx_obj_get_float(const mpx_obj *v, double *out);

/*
 * mpx_obj_get_str - a str's UTF-8 text, NUL-terminated (it may also
 * contain NULs: *len is the byte length; len may be NULL).
 * mpx_obj_str_value - the same text, or NULL when v is not a str.
 * mpx_obj_get_bytes - the data of a bytes or bytearray (*p is valid until
 * the value is changed or released; len may be NULL).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_obj_get_str(const mpx_obj *v, const char **s, size_t *len);
MPX_API const char *mpx_obj_str_value(const mpx_obj *v);
MPX_API int mpx_obj_get_bytes(const mpx_obj *v, const void **p, size_t *len);

/*
 * mpx_obj_int_to_bytes - int.to_bytes(n, "little" or "big",
 * signed=is_signed) into buf[0..n): -ERANGE when it does not fit.
 * mpx_obj_int_bit_length - int.bit_length() (>= 0), or MPX_ETYPE.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_obj_int_to_bytes(const mpx_obj *v, void *buf, size_t n, int little_endian,
                                 int is_signed);
MPX_API int64_t mpx_obj_int_bit_length(const mpx_obj *v);

/*
 * mpx_obj_bytearray_data - a bytearray's data, writable (NULL when v is
 * not a bytearray); valid until the next resize.
 * mpx_obj_bytearray_resize - change its length (new bytes are zero).
 *
 * Threads: not with other users of the same bytearray.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API unsigned char *mpx_obj_bytearray_data(mpx_obj *v);
MPX_API int mpx_obj_bytearray_resize(mpx_obj *v, size_t n);

/* ---- Any value ------------------------------------------------------- */

/*
 * mpx_obj_len - len(v) for str (code points), bytes, bytearray, tuple,
 * list, dict, set and frozenset; MPX_ETYPE for other types.
 * mpx_obj_truth - bool(v): 1 or 0 (an instance is true, as Python's
 * default; MPX_EINVAL for NULL).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int64_t mpx_obj_len(const mpx_obj *v);
MPX_API int mpx_obj_truth(const mpx_obj *v);

/*
 * mpx_obj_item - seq[i] of a tuple or list (negative i counts from the
 * end, as in Python). Borrowed; NULL when i is out of range or seq is
 * neither.
 * mpx_obj_next - iterate: items of a tuple, list, set or frozenset, keys
 * of a dict. Start with *pos = 0; returns 1 and a borrowed *item, 0 at
 * the end, MPX_ETYPE for other types. Do not add or remove items while
 * iterating (replacing a list item or a dict value is fine).
 *
 *     mpx_obj *list = mpx_obj_build("[iii]", 1, 2, 3);
 *     size_t pos = 0; mpx_obj *it; int64_t x, sum = 0;
 *     while (mpx_obj_next(list, &pos, &it) == 1)
 *         if (mpx_obj_get_int(it, &x) == 0)
 *             sum += x;
 *     printf("%lld\n", (long long)sum);       // prints: 6
 *     mpx_obj_decref(list);
 *
 * Threads: safe while nobody changes seq.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_item(const mpx_obj *seq, int64_t i);
MPX_API int mpx_obj_next(const mpx_obj *v, size_t *pos, mpx_obj **item);

/*
 * mpx_obj_contains - Python's `item in v`: a key of a dict, a member of a
 * set or frozenset, an item equal to it in a tuple or list, a substring of
 * a str, a byte (int) or sub-bytes of a bytes or bytearray. 1 or 0;
 * MPX_ETYPE (unhashable item for dict/set, wrong operand types).
 *
 * Threads: safe while nobody changes v.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_contains(const mpx_obj *v, const mpx_obj *item);

/* Operators for mpx_obj_compare. */
#define MPX_OBJ_LT 0
#define MPX_OBJ_LE 1
#define MPX_OBJ_EQ 2
#define MPX_OBJ_NE 3
#define MPX_OBJ_GT 4
#define MPX_OBJ_GE 5

/*
 * mpx_obj_equal - a == b with Python's rules: numbers by value (1 == 1.0
 * == True), NaN unequal to itself, bytes == bytearray by content, set ==
 * frozenset by members, dicts by items whatever the order, containers item
 * by item (an item identical to the other side's counts as equal, as in
 * Python); class references by name; instances by their parts. 1 or 0;
 * MPX_EDEPTH past MPX_OBJ_MAX_DEPTH (two distinct self-containing lists).
 * mpx_obj_compare - a OP b for MPX_OBJ_LT ... MPX_OBJ_GE: numbers, str,
 * bytes/bytearray, tuples and lists (lexicographic), sets (subset
 * order); 1 or 0; MPX_ETYPE where Python raises TypeError ('<' between an
 * int and a str, a dict and a dict, ...).
 *
 * Threads: safe while nobody changes a or b.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_equal(const mpx_obj *a, const mpx_obj *b);
MPX_API int mpx_obj_compare(const mpx_obj *a, const mpx_obj *b, int op);

/*
 * mpx_obj_hash - hash(v) into *out: numbers hash as in Python (hash(1) ==
 * hash(1.0) == hash(True) == 1, hash(-1) == -2, big ints modulo 2**61-1);
 * str and bytes with SipHash-1-3 under a per-process random key (like
 * Python, whose values differ per process); a tuple or frozenset from its
 * items; an instance by identity. MPX_ETYPE for an unhashable value
 * (list, dict, set, bytearray, or a tuple holding one).
 *
 * Threads: safe.
 * Fork:    safe (a fork child keeps the key).
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_hash(const mpx_obj *v, int64_t *out);

/*
 * mpx_obj_repr - Python's repr(v) exactly for the built-in types
 * ("{'a': [1, 2.5, None], 'b': b'\x00'}", floats in the shortest form that
 * reads back, str quoting and escapes as unicode_repr with Unicode 14's
 * printable characters, "[[...]]" for a list holding itself). A class
 * reference prints as <class 'module.name'>, an instance as the call that
 * rebuilds it (decimal.Decimal('1.5')); docs/obj.md gives the forms.
 * mpx_obj_text - Python's str(v): a str's own text, else the repr.
 * Both return a NUL-terminated string to free with mpx_free, or NULL
 * (out of memory, or nesting deeper than MPX_OBJ_MAX_DEPTH).
 *
 * Threads: safe while nobody changes v.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_obj_repr(const mpx_obj *v);
MPX_API char *mpx_obj_text(const mpx_obj *v);

/*
 * mpx_obj_clear - remove every item of a list, dict, set or bytearray
 * (list.clear(), dict.clear() ...). Also the way to break a reference
 * cycle by hand. MPX_ETYPE for other types.
 *
 * Threads: not with other users of the same container.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_clear(mpx_obj *v);

/* ---- Tuples and lists ------------------------------------------------ */

/*
 * mpx_obj_tuple_set_new - fill item i of a tuple made by mpx_obj_tuple
 * that is not shared yet (only the caller's reference, in no container):
 * steals item. MPX_ESTATE for a shared tuple, MPX_EINDEX, MPX_EINVAL for a
 * tuple set into itself.
 *
 * Threads: the tuple is not shared yet.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_tuple_set_new(mpx_obj *tuple, size_t i, mpx_obj *item);

/*
 * mpx_obj_list_append(list, item) - list.append(item);
 * mpx_obj_list_insert(list, i, item) - list.insert(i, item) (i clamped
 * like Python's); mpx_obj_list_set(list, i, item) - list[i] = item
 * (MPX_EINDEX out of range); mpx_obj_list_extend(list, items) -
 * list.extend(items) for a tuple, list, set, frozenset or dict (its keys).
 * The plain forms take their own reference to item, the _new forms steal
 * it (also on failure). MPX_ETYPE when list is not a list.
 *
 * Threads: not with other users of the same list.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_list_append(mpx_obj *list, mpx_obj *item);
MPX_API int mpx_obj_list_append_new(mpx_obj *list, mpx_obj *item);
MPX_API int mpx_obj_list_insert(mpx_obj *list, int64_t i, mpx_obj *item);
MPX_API int mpx_obj_list_insert_new(mpx_obj *list, int64_t i, mpx_obj *item);
MPX_API int mpx_obj_list_set(mpx_obj *list, int64_t i, mpx_obj *item);
MPX_API int mpx_obj_list_set_new(mpx_obj *list, int64_t i, mpx_obj *item);
MPX_API int mpx_obj_list_extend(mpx_obj *list, const mpx_obj *items);

/*
 * mpx_obj_list_pop - list.pop(i) (i = -1: the last item): *out gets the
 * removed item as a new reference; out NULL releases it (del list[i]).
 * MPX_EINDEX when i is out of range (or the list is empty).
 *
 * Threads: not with other users of the same list.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_list_pop(mpx_obj *list, int64_t i, mpx_obj **out);

/* ---- Dicts ----------------------------------------------------------- */

/*
 * mpx_obj_dict_get - d[key], borrowed; NULL when key is absent (or
 * unhashable, or d is not a dict). mpx_obj_dict_get_s - the same with a
 * str key given as UTF-8 text.
 * mpx_obj_dict_lookup - the same with the reason: 1 and *value (borrowed)
 * when present, 0 when absent, MPX_ETYPE for an unhashable key or a d
 * that is not a dict. value may be NULL (`key in d`).
 *
 * Threads: safe while nobody changes d.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_dict_get(const mpx_obj *d, const mpx_obj *key);
MPX_API mpx_obj *mpx_obj_dict_get_s(const mpx_obj *d, const char *key);
MPX_API int mpx_obj_dict_lookup(const mpx_obj *d, const mpx_obj *key, mpx_obj **value);

/*
 * mpx_obj_dict_set - d[key] = value (an existing equal key keeps its
 * place and its own object, as in Python); mpx_obj_dict_set_new steals
 * key and value (also on failure); mpx_obj_dict_set_s / _set_s_new take
 * the key as UTF-8 text (the _new form steals value). MPX_ETYPE for an
 * unhashable key.
 * mpx_obj_dict_del - del d[key]: MPX_EKEY when absent. _del_s: text key.
 * mpx_obj_dict_update - d.update(other) from another dict.
 *
 * Threads: not with other users of the same dict.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_dict_set(mpx_obj *d, mpx_obj *key, mpx_obj *value);
MPX_API int mpx_obj_dict_set_new(mpx_obj *d, mpx_obj *key, mpx_obj *value);
MPX_API int mpx_obj_dict_set_s(mpx_obj *d, const char *key, mpx_obj *value);
MPX_API int mpx_obj_dict_set_s_new(mpx_obj *d, const char *key, mpx_obj *value);
MPX_API int mpx_obj_dict_del(mpx_obj *d, const mpx_obj *key);
MPX_API int mpx_obj_dict_del_s(mpx_obj *d, const char *key);
MPX_API int mpx_obj_dict_update(mpx_obj *d, const mpx_obj *other);

/*
 * mpx_obj_dict_next - iterate over (key, value) pairs in insertion order
 * (PyDict_Next): start with *pos = 0; 1 with borrowed *key and *value
 * (either may be NULL), 0 at the end, MPX_ETYPE when d is not a dict. Do
 * not add or remove keys while iterating; changing values is fine.
 *
 * Threads: safe while nobody changes d.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_obj_dict_next(const mpx_obj *d, size_t *pos, mpx_obj **key, mpx_obj **value);

/* ---- Sets ------------------------------------------------------------ */

/*
 * mpx_obj_set_add - s.add(item) for a set, or for a frozenset not shared
 * yet (MPX_ESTATE otherwise); _add_new steals item. MPX_ETYPE for an
 * unhashable item.
 * mpx_obj_set_discard - s.discard(item): 1 removed, 0 absent (sets only).
 *
 * Threads: not with other users of the same set.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_set_add(mpx_obj *s, mpx_obj *item);
MPX_API int mpx_obj_set_add_new(mpx_obj *s, mpx_obj *item);
MPX_API int mpx_obj_set_discard(mpx_obj *s, const mpx_obj *item);

/* ---- Carried values: class references and instances ----------------- */

/*
 * mpx_obj_class - a reference to the global module.qualname (a class such
 * as ("datetime", "datetime"), or a function). Names are UTF-8; NULL when
 * either is NULL, empty or not UTF-8.
 * mpx_obj_class_name - its names (borrowed, NUL-terminated; either
 * pointer may be NULL). MPX_ETYPE when v is not a class reference.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_class(const char *module, const char *qualname);
MPX_API int mpx_obj_class_name(const mpx_obj *v, const char **module, const char **qualname);

/* How an instance is made, as pickle says it. */
typedef enum mpx_obj_how {
    MPX_OBJ_REDUCE = 0,   /* callable(*args)                          REDUCE */
    MPX_OBJ_NEWOBJ = 1,   /* callable.__new__(callable, *args)        NEWOBJ */
    MPX_OBJ_NEWOBJ_EX = 2 /* callable.__new__(callable, *args, **kwargs) NEWOBJ_EX */
} mpx_obj_how;

/* The parts of an instance: Python's __reduce__ tuple. */
typedef struct mpx_obj_reduce {
    mpx_obj_how how;
    mpx_obj *callable;  /* a class reference (REDUCE: any value)        */
    mpx_obj *args;      /* a tuple                                      */
    mpx_obj *kwargs;    /* a dict (NEWOBJ_EX), else NULL                */
    mpx_obj *state;     /* BUILD's argument (__setstate__), or NULL     */
    mpx_obj *listitems; /* a list of APPENDed items, or NULL            */
    mpx_obj *dictitems; /* a dict of SETITEMS pairs, or NULL            */
} mpx_obj_reduce;

/*
 * mpx_obj_instance - an instance from its parts (borrowed; each gets a
 * new reference): callable non-NULL (a class reference for NEWOBJ and
 * NEWOBJ_EX), args a tuple (NULL: ()), kwargs a dict or NULL, listitems a
 * list or NULL, dictitems a dict or NULL. NULL on a wrong part or no
 * memory. CPython's pickle.loads rebuilds the object from these parts:
 * mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_REDUCE,
 *     mpx_obj_class("decimal", "Decimal"), args = ('1.5',)}) is
 * Decimal('1.5').
 * mpx_obj_instance_get - the parts of an instance, borrowed (the
 * instance's own list and dict of items may be changed in place).
 * MPX_ETYPE when v is not an instance.
 * mpx_obj_instance_of - 1 when v is an instance whose callable is the
 * class reference module.qualname, else 0 (no subclass test: names only).
 *
 * Threads: safe (instance_of, instance_get while nobody changes v).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_instance(const mpx_obj_reduce *parts);
MPX_API int mpx_obj_instance_get(const mpx_obj *v, mpx_obj_reduce *parts);
MPX_API int mpx_obj_instance_of(const mpx_obj *v, const char *module, const char *qualname);

/* ---- Format strings (docs/obj.md, "Format strings") -------------------
 * Build (Py_BuildValue):
 *   i I h H b B l k L K n   C integers (int, unsigned, short, unsigned
 *                           short, char as int, unsigned char, long,
 *                           unsigned long, long long, unsigned long long,
 *                           ssize_t) -> int
 *   p                       int -> bool
 *   d f                     double (float is promoted) -> float
 *   s z                     const char * -> str (NULL -> None)
 *   s# z#                   const char *, size_t -> str
 *   y y#                    const char * [, size_t] -> bytes
 *   c                       int -> bytes of length 1;  C  int -> str of one code point
 *   O S                     mpx_obj * -> that value (new reference taken)
 *   N                       mpx_obj * -> that value (reference stolen, also on failure)
 *   ( ) [ ] { }             tuple, list, dict ({k:v,k:v}); separators , : and
 *                           spaces are optional. Several top-level items make a
 *                           tuple; "" makes None.
 * Parse (PyArg_Parse, with the same letters, one pointer per letter; the
 * value must have the shape of the format):
 *   integers with range checks (-ERANGE), d f (from float or int), p (any
 *   value's truth), s (str without NULs) s# z z#, y y# (bytes or
 *   bytearray), O (borrowed mpx_obj *), ( ) a tuple (or list), [ ] a list,
 *   {s:x ...} a dict: each key given as a const char * argument before its
 *   value's pointers; | makes the rest of a tuple or dict optional
 *   (absent items leave their outputs unchanged).
 */

/*
 * mpx_obj_build - a value from a format and C arguments: a new reference,
 * or NULL (the _ex forms fill err with the position in fmt and the
 * reason). Every N argument is consumed, also on failure.
 *
 *     mpx_obj *task = mpx_obj_build("(is{s:d})", 3, "job", "w", 0.5);
 *     char *r = mpx_obj_repr(task);
 *     printf("%s\n", r);                      // prints: (3, 'job', {'w': 0.5})
 *     mpx_free(r); mpx_obj_decref(task);
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_build(const char *fmt, ...);
MPX_API mpx_obj *mpx_obj_build_ex(mpx_obj_error *err, const char *fmt, ...);
MPX_API mpx_obj *mpx_obj_vbuild(mpx_obj_error *err, const char *fmt, va_list ap);

/*
 * mpx_obj_parse - take a value apart into C variables: 0, or a negative
 * code (MPX_ETYPE wrong type or shape, MPX_EKEY a missing dict key,
 * -ERANGE an integer out of range, MPX_EINVAL a bad format) with err
 * saying where. Pointers returned (s, y, O) are borrowed from v.
 *
 *     mpx_obj *task = mpx_obj_build("(is)", 3, "job");
 *     int64_t n; const char *name; mpx_obj *extra = NULL;
 *     if (mpx_obj_parse(task, "(Ls|O)", &n, &name, &extra) == 0)
 *         printf("%lld %s %d\n", (long long)n, name, extra == NULL); // prints: 3 job 1
 *     mpx_obj_decref(task);
 *
 * Threads: safe while nobody changes v.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_parse(const mpx_obj *v, const char *fmt, ...);
MPX_API int mpx_obj_parse_ex(const mpx_obj *v, mpx_obj_error *err, const char *fmt, ...);
MPX_API int mpx_obj_vparse(const mpx_obj *v, mpx_obj_error *err, const char *fmt, va_list ap);

/* ---- The pickle codec (docs/obj.md, "Pickle") ------------------------ */

/* Python's pickle.DEFAULT_PROTOCOL (3.8 .. 3.13) and HIGHEST_PROTOCOL. */
#define MPX_PICKLE_DEFAULT_PROTOCOL 4
#define MPX_PICKLE_HIGHEST_PROTOCOL 5
/* protocol=None: the default protocol. (A negative protocol means the
 * highest, as in Python.) */
#define MPX_PICKLE_DEFAULT (-2147483647 - 1)

/* Options of mpx_obj_dumps; zero means default. */
typedef struct mpx_obj_dump_opts {
    /* Bytes left free in front of the pickle in the returned buffer, for
     * a header written later in place (a connection's length prefix). */
    size_t headroom;
    /* Nesting limit; 0: MPX_OBJ_MAX_DEPTH. Deeper values: MPX_EDEPTH. */
    int max_depth;
} mpx_obj_dump_opts;

/*
 * mpx_obj_dumps - pickle.dumps(v, protocol): protocol 0..5,
 * MPX_PICKLE_DEFAULT (4) or negative (5). For None, bool, int, float,
 * str, bytes, bytearray, tuple, list, dict, set and frozenset the bytes
 * are those of CPython's pickle.dumps for the same objects (same sharing:
 * a value reached twice is written once and fetched from the memo, as
 * CPython does for one object; a set's items in its iteration order).
 * Class references and instances are written so that CPython rebuilds
 * them. On success *buf is a block to free with mpx_free, holding
 * opts->headroom free bytes and then *len bytes of pickle.
 * Errors: MPX_EINVAL (bad protocol), MPX_EDEPTH, MPX_ETYPE (a value the
 * protocol cannot carry, e.g. a non-ASCII global name below protocol 3),
 * -ERANGE (an object over 4 GiB below protocol 4), -ENOMEM.
 *
 * Threads: safe while nobody changes v.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_dumps(const mpx_obj *v, int protocol, void **buf, size_t *len,
                          const mpx_obj_dump_opts *opts, mpx_obj_error *err);

/* Options of the loads functions; zero means default. */
typedef struct mpx_obj_load_opts {
    /* Most bytes the decoded value may allocate: 0 means 64 MiB + 32 x
     * the pickle's length; SIZE_MAX means no limit. Past it: MPX_ETOOBIG
     * (checked before each allocation). */
    size_t max_alloc;
    /* Nesting limit; 0: MPX_OBJ_MAX_DEPTH. Deeper values: MPX_EDEPTH. */
    int max_depth;
    /* Python 2 str (STRING opcodes, written by Python 2 only), as
     * Unpickler's encoding= says: MPX_OBJ_PY2_ASCII (0, the default: a str,
     * MPX_EINVAL for a non-ASCII byte), MPX_OBJ_PY2_BYTES (encoding='bytes'),
     * MPX_OBJ_PY2_LATIN1 (encoding='latin1': a str, byte i = U+00ii). */
    int py2_str;
} mpx_obj_load_opts;

#define MPX_OBJ_PY2_ASCII 0
#define MPX_OBJ_PY2_BYTES 1
#define MPX_OBJ_PY2_LATIN1 2

/*
 * mpx_obj_loads - pickle.loads(data[0..len)): *out gets a new reference.
 * Every stream of protocols 0..5 that CPython 3.11..3.13 writes for the
 * types above decodes, with its sharing and cycles; CPython's reductions
 * of built-ins become the real types (set, frozenset, bytearray, bytes
 * written by protocols 0..2); other globals become class references and
 * other reductions instances. Bytes after STOP are ignored (as Python
 * does). Errors name the offset: MPX_EPROTO (malformed or truncated),
 * MPX_ENOTSUP (persistent IDs, extension codes, out-of-band buffers),
 * MPX_ETOOBIG (opts->max_alloc), MPX_EDEPTH, MPX_EINVAL (a string that is
 * not valid UTF-8), -ENOMEM. A failed call leaves nothing allocated.
 * mpx_obj_loads_bytes - the same from a bytes value: bytes values of 4 KiB
 * and more, and at least an eighth of the pickle, share its memory
 * instead of being copied (the pickle's memory then lives as long as
 * they do). mpx_obj_loads_take - the same from a block of malloc'd memory
 * that the call takes (also on failure): recv_bytes + loads with no copy.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_loads(mpx_obj **out, const void *data, size_t len,
                          const mpx_obj_load_opts *opts, mpx_obj_error *err);
MPX_API int mpx_obj_loads_bytes(mpx_obj **out, mpx_obj *pickle, const mpx_obj_load_opts *opts,
                                mpx_obj_error *err);
MPX_API int mpx_obj_loads_take(mpx_obj **out, void *data, size_t len,
                               const mpx_obj_load_opts *opts, mpx_obj_error *err);

/* ---- Exceptions and printing ------------------------------------------ */

/*
 * mpx_obj_exception - an exception value: an instance of the class named
 * type ("ValueError" is builtins.ValueError; "a.b.Name" is Name of module
 * a.b) with the formatted message as its one argument (fmt NULL: no
 * argument), built as CPython pickles ValueError('bad'): repr prints
 * ValueError('bad'), and a CPython peer that unpickles it gets the real
 * exception. The error values of pool tasks (mpx/pool.h) are made this
 * way. A new reference, or NULL (no memory, an empty type); a message that
 * is not UTF-8 is replaced by a note saying so.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API mpx_obj *mpx_obj_exception(const char *type, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * mpx_obj_print - Python's print(v): str(v) (mpx_obj_text) and a newline
 * on stdout, flushed. Returns 0, MPX_EINVAL (v NULL), -ENOMEM, or -errno
 * of the write.
 *
 * Threads: safe (one stdio call per line).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_obj_print(const mpx_obj *v);

MPX_END_DECLS

#endif /* MPX_OBJ_H */
