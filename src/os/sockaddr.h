/*
 * os/sockaddr.h - socket addresses: the address strings of Listener and
 * Client (connection.h: "/path", "./rel", "unix:name", "@abstract",
 * "host:port", "[v6]:port") <-> struct sockaddr (AF_UNIX paths and Linux
 * abstract names, AF_INET, AF_INET6).
 *
 * Threads: safe (no state; mpx__addr_parse resolves host names with
 * getaddrinfo).
 */
#ifndef MPX_OS_SOCKADDR_H
#define MPX_OS_SOCKADDR_H

#include "core/internal.h"

#include <sys/socket.h>

typedef struct mpx__addr {
    int family; /* enum mpx_family */
    struct sockaddr_storage ss;
    socklen_t len;
    bool abstract;
} mpx__addr;

/* Parse an address string (connection.h forms) for family (0: infer).
 * Resolves host names. Returns 0, MPX_EINVAL. */
int mpx__addr_parse(const char *s, int family, mpx__addr *out);
/* Format a socket address; returns a new string or NULL (ENOMEM). */
char *mpx__addr_format(const struct sockaddr *sa, socklen_t len);

#endif /* MPX_OS_SOCKADDR_H */
