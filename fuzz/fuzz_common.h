/* fuzz_common.h - feed fuzz bytes to mpx code through a real socket pair:
 * the bytes are written to one end, which is then shut down for writing,
 * so the code under test reads exactly the input and then EOF. */
#ifndef MPX_FUZZ_COMMON_H
#define MPX_FUZZ_COMMON_H

#include "core/conn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FUZZ_MAX_INPUT 65536 /* below the socket buffer: writes never block */

/* A connection whose peer has sent data[0..size) and then EOF. The peer's
 * descriptor is returned in *peer (its receive side stays open so our
 * writes succeed). Returns NULL when the input is too large. */
static inline mpx_connection *fuzz_feed(const uint8_t *data, size_t size, int *peer)
{
    if (size > FUZZ_MAX_INPUT)
        return NULL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    int bufsz = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(sv[1], data + off, size - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    shutdown(sv[1], SHUT_WR);
    mpx_connection *c;
    if (mpx_connection_from_fd(&c, sv[0], 1, 1))
        abort();
    *peer = sv[1];
    return c;
}

#endif
