/*
 * bench/mpx_obj.c - the obj group (#15): the pickle codec against
 * CPython's pickle (its C accelerator), on three values built the same way
 * on both sides (bench_mp.py: obj_value):
 *   dict1k  a nested dict whose pickle is 1,026 bytes (keys of the 26
 *           small history dicts shared, as CPython's interned constants
 *           are: the pickles are byte-identical)
 *   ints1k  list(range(1000))
 *   bytes1m 1 MiB of bytes
 * encode: pickle.dumps(v, 4) / mpx_obj_dumps(v, 4) per second (the buffer
 * freed each time); decode: pickle.loads / mpx_obj_loads_bytes with the
 * value released each time (for bytes1m, loads_bytes shares the pickle's
 * memory instead of copying 1 MiB: the path recv_bytes + loads_take uses).
 * raw: memcpy of the encoded bytes (the least any codec must do to move
 * them). Units: ops/s, MB/s of pickle for bytes1m.
 */
#include "figures.h"

#include <mpx.h>

static mpx_obj *obj_value(const char *which)
{
    if (!strcmp(which, "ints1k")) {
        mpx_obj *l = mpx_obj_list();
        for (int i = 0; i < 1000; i++)
            mpx_obj_list_append_new(l, mpx_obj_int(i));
        return l;
    }
    if (!strcmp(which, "bytes1m")) {
        unsigned char *b = malloc(1 << 20);
        for (int i = 0; i < 1 << 20; i++)
            b[i] = (unsigned char)i;
        return mpx_obj_bytes_take(b, 1 << 20);
    }
    mpx_obj *t = mpx_obj_str("t"), *value = mpx_obj_str("value"), *ok = mpx_obj_str("ok");
    mpx_obj *hist = mpx_obj_list();
    for (int i = 0; i < 26; i++)
        mpx_obj_list_append_new(hist, mpx_obj_build("{O:i,O:d,O:O}", t, 1700000000 + i, value, i * 1.5, ok,
                                                    mpx_obj_bool(i % 2 == 0)));
    unsigned char blob[64];
    for (int i = 0; i < 64; i++)
        blob[i] = (unsigned char)i;
    mpx_obj *d = mpx_obj_build("{s:i,s:s,s:O,s:d,s:[ssss],s:{s:s,s:i,s:[ss],s:O},s:(ddd),s:N,s:y#,s:s}",
                               "id", 12345, "name", "worker-7", "active", mpx_obj_true(), "score", 98.625,
                               "tags", "alpha", "beta", "gamma", "delta", "owner", "user", "alice", "uid",
                               1001, "groups", "staff", "dev", "quota", mpx_obj_none(), "position", 12.5,
                               -3.25, 7.0, "history", hist, "blob", blob, (size_t)64, "note",
                               "a short note about the job and where it runs");
    mpx_obj_decref(t);
    mpx_obj_decref(value);
    mpx_obj_decref(ok);
    return d;
}

typedef struct ctx {
    mpx_obj *v;
    mpx_obj *pickle; /* bytes */
    const void *data;
    size_t len;
    char *copy;
} ctx;

static double run_encode(void *c, long n)
{
    ctx *x = c;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        void *buf;
        size_t len;
        if (mpx_obj_dumps(x->v, 4, &buf, &len, NULL, NULL))
            return -1;
        BENCH_KEEP(buf);
        mpx_free(buf);
    }
    return bench_now() - t;
}

static double run_decode(void *c, long n)
{
    ctx *x = c;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        mpx_obj *v;
        if (mpx_obj_loads_bytes(&v, x->pickle, NULL, NULL))
            return -1;
        BENCH_KEEP(v);
        mpx_obj_decref(v);
    }
    return bench_now() - t;
}

static double run_copy(void *c, long n)
{
    ctx *x = c;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        memcpy(x->copy, x->data, x->len);
        BENCH_KEEP(x->copy);
    }
    return bench_now() - t;
}

static int measure(const char *which, double (*run)(void *, long), const bench_cfg *cfg, double *out,
                   char *why, size_t whylen)
{
    ctx x = {obj_value(which), NULL, NULL, 0, NULL};
    void *buf;
    size_t len;
    if (!x.v || mpx_obj_dumps(x.v, 4, &buf, &len, NULL, NULL))
        return BENCH_WHY("building or encoding the value failed");
    x.pickle = mpx_obj_bytes_take(buf, len);
    mpx_obj_get_bytes(x.pickle, &x.data, &x.len);
    x.copy = malloc(len);
    int big = !strcmp(which, "bytes1m");
    double s = bench_calibrate(run, &x, big ? 16 : 1000, 1000000000L, cfg->target);
    free(x.copy);
    mpx_obj_decref(x.pickle);
    mpx_obj_decref(x.v);
    if (s <= 0)
        return BENCH_WHY("the codec failed");
    *out = big ? (double)len / s / 1e6 : 1 / s;
    return 0;
}

#define OBJ_SIDES(w)                                          \
    SIDE(mpxb_obj_encode_##w)                                 \
    {                                                         \
        return measure(#w, run_encode, cfg, out, why, whylen); \
    }                                                         \
    SIDE(mpxb_obj_decode_##w)                                 \
    {                                                         \
        return measure(#w, run_decode, cfg, out, why, whylen); \
    }                                                         \
    SIDE(raw_obj_copy_##w)                                    \
    {                                                         \
        return measure(#w, run_copy, cfg, out, why, whylen);   \
    }

OBJ_SIDES(dict1k)
OBJ_SIDES(ints1k)
OBJ_SIDES(bytes1m)
