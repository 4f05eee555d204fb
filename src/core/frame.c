/*
 * frame.c - CPython multiprocessing.connection framing, as pure functions
 * over buffers (so the fuzz targets can feed them directly).
 *
 *   length <= 0x7fffffff:  4-byte big-endian signed length, payload
 *   length >  0x7fffffff:  0xffffffff (-1), 8-byte big-endian length, payload
 */
#include "core/conn_internal.h"

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t mpx__frame_encode(uint64_t len, unsigned char out[MPX__FRAME_HDR_MAX])
{
    if (len <= MPX__FRAME_SMALL_MAX) {
        put32(out, (uint32_t)len);
        return 4;
    }
    put32(out, 0xffffffffu);
    put32(out + 4, (uint32_t)(len >> 32));
    put32(out + 8, (uint32_t)len);
    return 12;
}

int mpx__frame_decode(const unsigned char *p, size_t n, uint64_t *len, size_t *hlen)
{
    if (n < 4) {
        *hlen = 4;
        return MPX_EEMPTY;
    }
    int32_t v = (int32_t)get32(p);
    if (v >= 0) {
        *len = (uint64_t)v;
        *hlen = 4;
        return 0;
    }
    if (v != -1)
        return MPX_EPROTO;
    if (n < 12) {
        *hlen = 12;
        return MPX_EEMPTY;
    }
    uint64_t l = (uint64_t)get32(p + 4) << 32 | get32(p + 8);
    if (l > (uint64_t)INT64_MAX)
        return MPX_EPROTO;
    *len = l;
    *hlen = 12;
    return 0;
}

int mpx__frame_next(const unsigned char *p, size_t n, uint64_t maxlen, const unsigned char **msg,
                    uint64_t *msglen, size_t *used)
{
    uint64_t len;
    size_t hl;
    int rc = mpx__frame_decode(p, n, &len, &hl);
    if (rc)
        return rc;
    if (len > maxlen)
        return MPX_ETOOBIG;
    if (len > n - hl)
        return MPX_EEMPTY;
    *msg = p + hl;
    *msglen = len;
    *used = hl + (size_t)len;
    return 0;
}
