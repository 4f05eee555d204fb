/* fuzz_pickle.c - the pickle decoder (mpx_obj_loads, #15): any input
 * either decodes or fails with an error whose offset lies inside it; a
 * decoded value prints, hashes and compares, and re-encodes at every
 * protocol into a pickle that decodes again, to the same value for
 * protocols 3..5 (below 3, Python 2 names are mapped on the way, so only
 * decoding is required). Allocation is bounded by opts.max_alloc, so the
 * fuzzer's malloc limit is never the one that stops a hostile input. */
#include <mpx.h>

#include <stdint.h>
#include <stdlib.h>

int mpx__v_identical(const mpx_obj *a, const mpx_obj *b);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The size of v with its shared parts written out, as repr writes them
 * (a few bytes of pickle can share a list 2**40 times over: repr would be
 * as large as Python's): a map from value to size, saturating. */
typedef struct seen {
    const mpx_obj **k;
    uint64_t *v;
    size_t cap;
} seen;

static uint64_t *slot(seen *s, const mpx_obj *o)
{
    size_t i = ((uintptr_t)o >> 4) % s->cap;
    while (s->k[i] && s->k[i] != o)
        i = (i + 1) % s->cap;
    if (!s->k[i]) {
        s->k[i] = o;
        s->v[i] = 0;
    }
    return &s->v[i];
}

static uint64_t expanded(const mpx_obj *o, seen *s, int depth)
{
    mpx_obj_type t = mpx_obj_typeof(o);
    if (t < MPX_OBJ_TUPLE || t == MPX_OBJ_CLASS || depth > 3000)
        return 1;
    uint64_t *sz = slot(s, o);
    if (*sz)
        return *sz; /* done, or in progress (a cycle prints as [...]) */
    *sz = 1;
    uint64_t total = 1;
    mpx_obj *it, *val;
    size_t pos = 0;
    if (t == MPX_OBJ_INSTANCE) {
        mpx_obj_reduce r;
        mpx_obj_instance_get(o, &r);
        mpx_obj *parts[] = {r.callable, r.args, r.kwargs, r.state, r.listitems, r.dictitems};
        for (int i = 0; i < 6; i++)
            if (parts[i])
                total += expanded(parts[i], s, depth + 1);
    } else if (t == MPX_OBJ_DICT) {
        while (mpx_obj_dict_next(o, &pos, &it, &val) == 1)
            total += expanded(it, s, depth + 1) + expanded(val, s, depth + 1);
    } else {
        while (mpx_obj_next(o, &pos, &it) == 1)
            total += expanded(it, s, depth + 1);
    }
    if (total > ((uint64_t)1 << 40))
        total = (uint64_t)1 << 40;
    *slot(s, o) = total;
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mpx_obj *v = NULL;
    mpx_obj_error e;
    mpx_obj_load_opts opts = {.max_alloc = 16u << 20, .max_depth = 2000,
                              .py2_str = size ? data[0] % 3 : 0};
    int rc = mpx_obj_loads(&v, data, size, &opts, &e);
    if (rc) {
        if (v != NULL || e.code != rc || (e.offset != MPX_OBJ_NO_OFFSET && e.offset > size))
            abort();
        return 0;
    }
    seen s = {calloc(1 << 16, sizeof(void *)), calloc(1 << 16, sizeof(uint64_t)), 1 << 16};
    uint64_t big = size < 8000 ? expanded(v, &s, 0) : 0; /* fewer than 1 << 16 values */
    free(s.k);
    free(s.v);
    if (big <= 100000) {
        char *r = mpx_obj_repr(v);
        mpx_free(r);
    }
    int64_t h;
    (void)mpx_obj_hash(v, &h);
    if (mpx_obj_equal(v, v) < 0 && mpx_obj_typeof(v) != MPX_OBJ_LIST && mpx_obj_typeof(v) != MPX_OBJ_DICT &&
        mpx_obj_typeof(v) != MPX_OBJ_TUPLE && mpx_obj_typeof(v) != MPX_OBJ_INSTANCE)
        abort();
    for (int p = 0; p <= 5; p++) {
        void *buf;
        size_t n;
        if (mpx_obj_dumps(v, p, &buf, &n, NULL, NULL))
            continue; /* e.g. a non-ASCII global below protocol 3 */
        mpx_obj *w = NULL;
        rc = mpx_obj_loads(&w, buf, n, &(mpx_obj_load_opts){.max_depth = 2000}, &e);
        if (rc)
            abort(); /* mpx must read what it writes */
        if (p >= 3 && !mpx__v_identical(v, w))
            abort();
        mpx_obj_decref(w);
        mpx_free(buf);
    }
    mpx_obj_decref(v);
    return 0;
}
