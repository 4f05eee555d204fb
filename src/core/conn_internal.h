/*
 * core/conn_internal.h - connections: framing, the authentication
 * handshake, address handling and deadline-aware I/O shared by
 * connection.c, auth.c, listener.c, wait.c and the fuzz targets.
 */
#ifndef MPX_CORE_CONN_INTERNAL_H
#define MPX_CORE_CONN_INTERNAL_H

#include "core/object.h"
#include "os/sockaddr.h"

#include <sys/socket.h>

#define MPX__CONN_MAGIC 0x636f6e6eu /* "conn" */
#define MPX__LIS_MAGIC 0x6c697374u  /* "list" */

struct mpx_connection {
    mpx__obj hdr;
    uint32_t magic;
    int fd;
    bool readable, writable;
    bool is_socket;
    bool closed;
    bool broken;          /* stream out of sync (truncated message, ...) */
    bool pending;         /* a header was consumed; its payload was not */
    uint64_t pending_len; /* length announced by that header */
    int pipe_cap;         /* pipes: capacity as last read/set; 0 unknown; -1 can't grow */
    char *peer;           /* peer address string (set at accept, or cached on first
                           * mpx_connection_peer_address); written once, atomically */
};

/* ---- framing (frame.c): pure functions over buffers --------------------- */

#define MPX__FRAME_HDR_MAX 12
#define MPX__FRAME_SMALL_MAX 0x7fffffffull

/* Encode the header for a message of len bytes into out; returns its size
 * (4, or 12 for len > 0x7fffffff: -1 then the 8-byte length). */
size_t mpx__frame_encode(uint64_t len, unsigned char out[MPX__FRAME_HDR_MAX]);

/* Decode a header from p[0..n). Returns 0 (*len, *hlen set), MPX_EEMPTY
 * when more bytes are needed (*hlen: bytes needed in all), MPX_EPROTO for
 * a negative length other than -1 or a 64-bit length above INT64_MAX. */
int mpx__frame_decode(const unsigned char *p, size_t n, uint64_t *len, size_t *hlen);

/* Split the next whole message off a buffer holding a byte stream:
 * returns 0 (*msg, *msglen, *used set), MPX_EEMPTY (incomplete: feed more
 * bytes), MPX_ETOOBIG (announced length above maxlen), MPX_EPROTO. */
int mpx__frame_next(const unsigned char *p, size_t n, uint64_t maxlen, const unsigned char **msg,
                    uint64_t *msglen, size_t *used);

/* ---- authentication (auth.c) ----------------------------------------- */

#define MPX__AUTH_MAXMSG 256 /* Python's recv_bytes(256) during the handshake */
#define MPX__AUTH_MSGLEN 40  /* random bytes of a modern challenge */
#define MPX__AUTH_LEGACY_MSGLEN 20
#define MPX__AUTH_MD5LEN 16

/* "#CHALLENGE#{sha256}" + 40 random bytes into out (cap >= 128). */
int mpx__auth_make_challenge(unsigned char *out, size_t cap, size_t *len);
/* Client side: from a whole received challenge message (with its
 * "#CHALLENGE#" prefix) build the response. Returns 0 or MPX_EAUTH. */
int mpx__auth_make_response(const void *key, size_t keylen, const unsigned char *msg,
                            size_t msglen, int strict, unsigned char *out, size_t cap,
                            size_t *outlen);
/* Server side: check a response against the challenge payload (the
 * message without "#CHALLENGE#"). Returns 0 or MPX_EAUTH. */
int mpx__auth_verify(const void *key, size_t keylen, const unsigned char *challenge,
                     size_t challenge_len, const unsigned char *resp, size_t resplen,
                     int strict);

/* Handshake halves over a connection, bounded by a deadline. */
int mpx__deliver_challenge(mpx_connection *c, const void *key, size_t keylen, int strict,
                           mpx__deadline d);
int mpx__answer_challenge(mpx_connection *c, const void *key, size_t keylen, int strict,
                          mpx__deadline d);

/* The listener's side of the handshake as a non-blocking state machine
 * (handshake.c): mpx_listener_accept drives many of them at once. */
typedef struct mpx__hs {
    int fd;
    int state;
    short want; /* POLLIN or POLLOUT: what the next step waits for */
    unsigned char challenge[MPX__AUTH_MAXMSG];
    size_t challenge_len;
    unsigned char out[MPX__FRAME_HDR_MAX + MPX__AUTH_MAXMSG];
    size_t out_len, out_off;
    unsigned char in[MPX__FRAME_HDR_MAX + MPX__AUTH_MAXMSG];
    size_t in_have, in_need, in_hlen;
} mpx__hs;

/* Build the challenge and queue it (nothing is sent yet). Returns 0 or
 * -EIO (no random bytes). */
int mpx__hs_start(mpx__hs *h, int fd);
/* Go as far as the socket allows without blocking. Returns 1 when both
 * sides are authenticated, 0 when waiting (h->want says for what),
 * MPX_EAUTH when the handshake failed (wrong key, malformed or oversized
 * message, peer gone). */
int mpx__hs_step(mpx__hs *h, const void *key, size_t keylen, int strict);

/* ---- connection I/O with deadlines (connection.c) --------------------- */

int mpx__conn_new(mpx_connection **out, int fd, bool readable, bool writable);
int mpx__conn_send(mpx_connection *c, const void *p, size_t n, mpx__deadline d);
/* Receive one message of at most cap bytes into buf; a longer one is
 * MPX_ETOOBIG without reading its payload (and the stream is broken). */
int mpx__conn_recv_small(mpx_connection *c, void *buf, size_t cap, size_t *len, mpx__deadline d);

#endif
