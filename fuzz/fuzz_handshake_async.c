/* fuzz_handshake_async.c - the listener's non-blocking handshake state
 * machine (src/core/handshake.c, #12 item 5) against arbitrary client bytes
 * delivered in arbitrary pieces, with a step after every piece.
 *
 * Input: byte 0 chooses the mode and the piece sizes, the rest is what the
 * client sends.
 *   bit 0   strict (3.12+ digests only)
 *   bit 1   the harness answers the server's challenge correctly first, so
 *           the input reaches the later states (the client's challenge,
 *           the #WELCOME# that ends it); otherwise the input is the
 *           response to the random challenge, which nobody can get right
 *   bits 2-7 piece size (1..64 bytes)
 *
 * Invariants: no crash or sanitizer report; a handshake never succeeds
 * without the right response to its own random challenge; once it has
 * failed or succeeded, further steps say the same; the client's EOF ends
 * a handshake that is still waiting. */
#include "fuzz_common.h"

#include <poll.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char KEY[] = "fuzz key";

/* Read one framed message sent by the server (small, already in the
 * socket). Returns its payload length, or -1. */
static ssize_t read_msg(int fd, unsigned char *buf, size_t cap)
{
    unsigned char hdr[4];
    if (recv(fd, hdr, 4, MSG_DONTWAIT | MSG_WAITALL) != 4)
        return -1;
    size_t n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    if (n > cap || recv(fd, buf, n, MSG_DONTWAIT | MSG_WAITALL) != (ssize_t)n)
        return -1;
    return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    int strict = data[0] & 1, answer = data[0] & 2;
    size_t piece = (size_t)(data[0] >> 2) + 1;
    data++, size--;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    int bufsz = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);

    mpx__hs h;
    if (mpx__hs_start(&h, sv[0]))
        abort();
    int r = mpx__hs_step(&h, KEY, sizeof KEY - 1, strict);
    if (r != 0 || h.want != POLLIN)
        abort(); /* the challenge is sent at once; then it waits for the client */

    if (answer) {
        unsigned char msg[MPX__AUTH_MAXMSG], resp[MPX__AUTH_MAXMSG], hdr[MPX__FRAME_HDR_MAX];
        ssize_t n = read_msg(sv[1], msg, sizeof msg);
        size_t rl;
        if (n < 0 || mpx__auth_make_response(KEY, sizeof KEY - 1, msg, (size_t)n, strict, resp,
                                             sizeof resp, &rl))
            abort();
        size_t hl = mpx__frame_encode(rl, hdr);
        if (write(sv[1], hdr, hl) != (ssize_t)hl || write(sv[1], resp, rl) != (ssize_t)rl)
            abort();
        r = mpx__hs_step(&h, KEY, sizeof KEY - 1, strict);
        if (r != 0) /* accepted: #WELCOME# sent, now it waits for our challenge */
            abort();
        unsigned char w[64];
        if (read_msg(sv[1], w, sizeof w) != 9 || memcmp(w, "#WELCOME#", 9))
            abort();
    }

    size_t off = 0;
    int done = 0;
    while (!done) {
        if (off < size) {
            size_t k = size - off < piece ? size - off : piece;
            if (write(sv[1], data + off, k) != (ssize_t)k)
                abort();
            off += k;
        } else {
            shutdown(sv[1], SHUT_WR);
            done = 1;
        }
        r = mpx__hs_step(&h, KEY, sizeof KEY - 1, strict);
        if (r == 1 && !answer)
            abort(); /* authenticated without answering the challenge */
        if (r != 0)
            break;
        /* drain what the server sent (its response to our challenge) */
        unsigned char junk[512];
        while (recv(sv[1], junk, sizeof junk, MSG_DONTWAIT) > 0)
            ;
    }
    if (r == 0)
        abort(); /* EOF from the client must end the handshake */
    if (mpx__hs_step(&h, KEY, sizeof KEY - 1, strict) != r)
        abort(); /* an ended handshake stays ended */
    close(sv[0]);
    close(sv[1]);
    return 0;
}
