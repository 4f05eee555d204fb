/*
 * handshake.c - the listener's side of CPython's authentication handshake
 * (LIS-02, LIS-03, AUTH-01..06) as a non-blocking state machine, so that
 * mpx_listener_accept can drive many handshakes at once over one epoll set
 * and a silent or slow client never holds up another (#12 item 5).
 *
 * The steps and the bytes are those of mpx__deliver_challenge followed by
 * mpx__answer_challenge (auth.c), which stay the blocking form used by the
 * client and by mpx_deliver_challenge / mpx_answer_challenge:
 *
 *   send "#CHALLENGE#{sha256}" + 40 random bytes
 *   receive the response (<= 256 bytes) -> verify -> send #WELCOME#
 *                                         (or #FAILURE#, then fail)
 *   receive the client's challenge     -> send our response
 *   receive #WELCOME#                  -> done
 *
 * Reads are exact (header, then exactly the announced payload), so bytes
 * the client sends after the handshake stay in the socket for the
 * connection. The socket itself may be blocking: every call here uses
 * MSG_DONTWAIT.
 */
#include "core/conn_internal.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>

static const char CHALLENGE[] = "#CHALLENGE#";
static const char WELCOME[] = "#WELCOME#";
static const char FAILURE[] = "#FAILURE#";
#define CHALLENGE_LEN (sizeof CHALLENGE - 1)
#define WELCOME_LEN (sizeof WELCOME - 1)
#define FAILURE_LEN (sizeof FAILURE - 1)

enum {
    HS_SEND_CHALLENGE,
    HS_RECV_RESPONSE,
    HS_SEND_WELCOME,
    HS_RECV_CHALLENGE,
    HS_SEND_ANSWER,
    HS_RECV_RESULT,
    HS_DONE,
    HS_FAILED
};

/* Queue one framed message for sending. */
static void put_msg(mpx__hs *h, const void *p, size_t n)
{
    size_t hl = mpx__frame_encode(n, h->out);
    memcpy(h->out + hl, p, n);
    h->out_len = hl + n;
    h->out_off = 0;
}

static void expect_msg(mpx__hs *h)
{
    h->in_have = 0;
    h->in_need = 4;
    h->in_hlen = 0;
}

int mpx__hs_start(mpx__hs *h, int fd)
{
    memset(h, 0, sizeof *h);
    h->fd = fd;
    unsigned char msg[128];
    size_t n;
    int rc = mpx__auth_make_challenge(msg, sizeof msg, &n);
    if (rc)
        return rc;
    h->challenge_len = n - CHALLENGE_LEN;
    memcpy(h->challenge, msg + CHALLENGE_LEN, h->challenge_len);
    put_msg(h, msg, n);
    h->state = HS_SEND_CHALLENGE;
    h->want = POLLOUT;
    return 0;
}

/* Send what is queued. 1 all sent, 0 would block, negative error. */
static int flush(mpx__hs *h)
{
    while (h->out_off < h->out_len) {
        ssize_t r = send(h->fd, h->out + h->out_off, h->out_len - h->out_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return MPX_EAUTH; /* peer gone (EPIPE, ECONNRESET ...) */
        }
        h->out_off += (size_t)r;
    }
    return 1;
}

/* Receive one whole message of at most MPX__AUTH_MAXMSG bytes into
 * h->in + h->in_hlen. 1 complete, 0 would block, negative error. A
 * longer (or malformed) header is refused from the header alone. */
static int fill(mpx__hs *h)
{
    while (h->in_have < h->in_need) {
        ssize_t r = recv(h->fd, h->in + h->in_have, h->in_need - h->in_have, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return MPX_EAUTH;
        }
        if (r == 0)
            return MPX_EAUTH; /* the peer closed during the handshake */
        h->in_have += (size_t)r;
        if (h->in_hlen == 0 && h->in_have == h->in_need) {
            uint64_t len;
            size_t hl;
            int d = mpx__frame_decode(h->in, h->in_have, &len, &hl);
            if (d == MPX_EEMPTY) {
                h->in_need = hl; /* the long form: 8 more header bytes */
                continue;
            }
            if (d || len > MPX__AUTH_MAXMSG)
                return MPX_EAUTH; /* Python: recv_bytes(256) refuses it */
            h->in_hlen = hl;
            h->in_need = hl + (size_t)len;
        }
    }
    return 1;
}

int mpx__hs_step(mpx__hs *h, const void *key, size_t keylen, int strict)
{
    for (;;) {
        int r;
        switch (h->state) {
        case HS_SEND_CHALLENGE:
        case HS_SEND_WELCOME:
        case HS_SEND_ANSWER:
            r = flush(h);
            if (r <= 0)
                break;
            expect_msg(h);
            h->state = h->state == HS_SEND_CHALLENGE ? HS_RECV_RESPONSE
                       : h->state == HS_SEND_WELCOME ? HS_RECV_CHALLENGE
                                                     : HS_RECV_RESULT;
            continue;
        case HS_RECV_RESPONSE:
            r = fill(h);
            if (r <= 0)
                break;
            if (mpx__auth_verify(key, keylen, h->challenge, h->challenge_len, h->in + h->in_hlen,
                                 h->in_have - h->in_hlen, strict)) {
                /* Tell the client, as CPython does; one try, never a wait. */
                put_msg(h, FAILURE, FAILURE_LEN);
                flush(h);
                MPX__DEBUG("authentication: digest received was wrong");
                r = MPX_EAUTH;
                break;
            }
            put_msg(h, WELCOME, WELCOME_LEN);
            h->state = HS_SEND_WELCOME;
            continue;
        case HS_RECV_CHALLENGE: {
            r = fill(h);
            if (r <= 0)
                break;
            unsigned char resp[MPX__AUTH_MAXMSG];
            size_t rl;
            if (mpx__auth_make_response(key, keylen, h->in + h->in_hlen, h->in_have - h->in_hlen,
                                        strict, resp, sizeof resp, &rl)) {
                MPX__DEBUG("authentication: unsupported challenge");
                r = MPX_EAUTH;
                break;
            }
            put_msg(h, resp, rl);
            h->state = HS_SEND_ANSWER;
            continue;
        }
        case HS_RECV_RESULT:
            r = fill(h);
            if (r <= 0)
                break;
            if (h->in_have - h->in_hlen != WELCOME_LEN ||
                memcmp(h->in + h->in_hlen, WELCOME, WELCOME_LEN) != 0) {
                MPX__DEBUG("authentication: digest sent was rejected");
                r = MPX_EAUTH;
                break;
            }
            h->state = HS_DONE;
            return 1;
        case HS_DONE:
            return 1;
        default:
            return MPX_EAUTH;
        }
        if (r < 0) {
            h->state = HS_FAILED;
            return r;
        }
        /* Would block: wait for the direction the current step needs. */
        h->want = h->out_off < h->out_len ? POLLOUT : POLLIN;
        return 0;
    }
}
