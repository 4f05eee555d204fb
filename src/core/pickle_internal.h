/*
 * core/pickle_internal.h - the pickle codec's opcodes, CPython's Python 2
 * name tables, and the internal entry points that the components carrying
 * values (connections, queues, pools, process arguments) call to encode
 * into their own buffers. Not installed.
 */
#ifndef MPX_CORE_PICKLE_INTERNAL_H
#define MPX_CORE_PICKLE_INTERNAL_H

#include "core/obj_internal.h"

enum mpx__pk_op {
    PK_MARK = '(',
    PK_STOP = '.',
    PK_POP = '0',
    PK_POP_MARK = '1',
    PK_DUP = '2',
    PK_FLOAT = 'F',
    PK_INT = 'I',
    PK_BININT = 'J',
    PK_BININT1 = 'K',
    PK_LONG = 'L',
    PK_BININT2 = 'M',
    PK_NONE = 'N',
    PK_PERSID = 'P',
    PK_BINPERSID = 'Q',
    PK_REDUCE = 'R',
    PK_STRING = 'S',
    PK_BINSTRING = 'T',
    PK_SHORT_BINSTRING = 'U',
    PK_UNICODE = 'V',
    PK_BINUNICODE = 'X',
    PK_APPEND = 'a',
    PK_BUILD = 'b',
    PK_GLOBAL = 'c',
    PK_DICT = 'd',
    PK_EMPTY_DICT = '}',
    PK_APPENDS = 'e',
    PK_GET = 'g',
    PK_BINGET = 'h',
    PK_INST = 'i',
    PK_LONG_BINGET = 'j',
    PK_LIST = 'l',
    PK_EMPTY_LIST = ']',
    PK_OBJ = 'o',
    PK_PUT = 'p',
    PK_BINPUT = 'q',
    PK_LONG_BINPUT = 'r',
    PK_SETITEM = 's',
    PK_TUPLE = 't',
    PK_EMPTY_TUPLE = ')',
    PK_SETITEMS = 'u',
    PK_BINFLOAT = 'G',
    PK_PROTO = 0x80,
    PK_NEWOBJ = 0x81,
    PK_EXT1 = 0x82,
    PK_EXT2 = 0x83,
    PK_EXT4 = 0x84,
    PK_TUPLE1 = 0x85,
    PK_TUPLE2 = 0x86,
    PK_TUPLE3 = 0x87,
    PK_NEWTRUE = 0x88,
    PK_NEWFALSE = 0x89,
    PK_LONG1 = 0x8a,
    PK_LONG4 = 0x8b,
    PK_BINBYTES = 'B',
    PK_SHORT_BINBYTES = 'C',
    PK_SHORT_BINUNICODE = 0x8c,
    PK_BINUNICODE8 = 0x8d,
    PK_BINBYTES8 = 0x8e,
    PK_EMPTY_SET = 0x8f,
    PK_ADDITEMS = 0x90,
    PK_FROZENSET = 0x91,
    PK_NEWOBJ_EX = 0x92,
    PK_STACK_GLOBAL = 0x93,
    PK_MEMOIZE = 0x94,
    PK_FRAME = 0x95,
    PK_BYTEARRAY8 = 0x96,
    PK_NEXT_BUFFER = 0x97,
    PK_READONLY_BUFFER = 0x98,
};

#define PK_BATCHSIZE 1000
#define PK_FRAME_SIZE_MIN 4
#define PK_FRAME_SIZE_TARGET (64 * 1024)
#define PK_FRAME_HEADER_SIZE 9

/* _compat_pickle (pickle_compat.c): NULL-terminated. */
typedef struct mpx__pk_map1 {
    const char *from, *to;
} mpx__pk_map1;
typedef struct mpx__pk_map2 {
    const char *mod, *name, *to_mod, *to_name;
} mpx__pk_map2;
extern const mpx__pk_map1 mpx__pk_import_2to3[], mpx__pk_import_3to2[];
extern const mpx__pk_map2 mpx__pk_name_2to3[], mpx__pk_name_3to2[];

/* Map (module, name) with a name table then an import table; the results
 * point into the tables or are the inputs. */
void mpx__pk_fix_imports(const mpx__pk_map2 *names, const mpx__pk_map1 *imports,
                         const char **module, const char **name);

/*
 * mpx__pickle_dump - append the pickle of v to b (whose first b->len
 * bytes are kept: room for a header). protocol as mpx_obj_dumps;
 * max_depth 0: MPX_OBJ_MAX_DEPTH. On failure b->len is restored.
 */
int mpx__pickle_dump(mpx__buf *b, const mpx_obj *v, int protocol, int max_depth,
                     mpx_obj_error *err);

/*
 * mpx__pickle_load - decode data[0..len). base, when not NULL, is a value
 * that owns data: large bytes values then share it. *used (may be NULL)
 * gets the number of bytes up to and including STOP.
 */
int mpx__pickle_load(mpx_obj **out, const unsigned char *data, size_t len, mpx_obj *base,
                     const mpx_obj_load_opts *opts, size_t *used, mpx_obj_error *err);

#endif /* MPX_CORE_PICKLE_INTERNAL_H */
