/* fuzz_frame.c - the frame decoder (CPython's length-prefixed framing):
 * the pure buffer decoder, and the connection's reading paths
 * (recv_bytes_max, recv_bytes_into, recv_handle) over the same bytes. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. the buffer decoder: split the input into messages */
    size_t off = 0;
    uint64_t maxlen = size ? (uint64_t)data[0] << 12 : 0;
    while (off < size) {
        const unsigned char *msg;
        uint64_t len;
        size_t used;
        int rc = mpx__frame_next(data + off, size - off, maxlen, &msg, &len, &used);
        if (rc)
            break;
        if (used > size - off || msg < data + off || len > size - off ||
            msg + len > data + size)
            abort();
        off += used;
    }
    uint64_t len;
    size_t hl;
    if (mpx__frame_decode(data, size, &len, &hl) == 0) {
        unsigned char h[MPX__FRAME_HDR_MAX];
        size_t n = mpx__frame_encode(len, h);
        uint64_t len2;
        size_t hl2;
        if (mpx__frame_decode(h, n, &len2, &hl2) != 0 || len2 != len)
            abort();
    }

    /* 2. the reading paths of a connection over the same stream */
    for (int mode = 0; mode < 3; mode++) {
        int peer;
        mpx_connection *c = fuzz_feed(data, size, &peer);
        if (!c)
            return 0;
        for (int i = 0; i < 10000; i++) {
            int rc;
            if (mode == 0) {
                void *m;
                size_t n;
                rc = mpx_connection_recv_bytes_max(c, &m, &n, 1 << 20);
                if (!rc) {
                    if (n > size)
                        abort();
                    mpx_free(m);
                }
            } else if (mode == 1) {
                char buf[64];
                size_t n;
                rc = mpx_connection_recv_bytes_into(c, buf, sizeof buf, (size_t)(i % 8), &n);
                if (rc == MPX_ETOOSHORT) {
                    void *m;
                    rc = n <= (1 << 20) ? mpx_connection_recv_bytes_max(c, &m, &n, 1 << 20)
                                        : MPX_ETOOBIG;
                    if (!rc)
                        mpx_free(m);
                }
            } else {
                int fd;
                rc = (i % 3 == 2) ? mpx_connection_recv_handle(c, &fd)
                                  : mpx_connection_poll(c, 0) >= 0 ? 0 : -1;
                if (!rc && i % 3 == 2)
                    close(fd);
                if (!rc && i % 3 != 2) {
                    void *m;
                    size_t n;
                    rc = mpx_connection_recv_bytes_max(c, &m, &n, 4096);
                    if (!rc)
                        mpx_free(m);
                }
            }
            if (rc)
                break;
        }
        mpx_connection_destroy(c);
        close(peer);
    }
    return 0;
}
