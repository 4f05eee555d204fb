/*
 * os/sockaddr.c - address strings <-> socket addresses for Listener/Client
 * (LIS-08, LIS-18): "/path" or "./rel", "unix:name", "@abstract",
 * "host:port", "[v6]:port"; ambiguous strings and Windows pipe names are
 * refused (#12).
 */
#include "os/sockaddr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

static int parse_unix(const char *s, mpx__addr *out)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    out->family = MPX_AF_UNIX;
    size_t n = strlen(s);
    if (s[0] == '@') {
        /* Linux abstract name: a leading NUL, no terminator. */
        if (n - 1 > sizeof un->sun_path - 1)
            return MPX_EINVAL;
        memcpy(un->sun_path + 1, s + 1, n - 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        out->abstract = true;
        return 0;
    }
    if (n == 0 || n >= sizeof un->sun_path)
        return MPX_EINVAL;
    memcpy(un->sun_path, s, n + 1);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    out->abstract = false;
    return 0;
}

static int parse_port(const char *p, uint16_t *port)
{
    if (!*p || strlen(p) > 5)
        return MPX_EINVAL;
    unsigned v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return MPX_EINVAL;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > 65535)
        return MPX_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static int resolve(const char *host, int af, uint16_t port, mpx__addr *out)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = af;
    hints.ai_socktype = SOCK_STREAM;
    if (!*host)
        hints.ai_flags = AI_PASSIVE; /* "" is Python's INADDR_ANY */
    int rc = getaddrinfo(*host ? host : NULL, "0", &hints, &res);
    if (rc != 0 || !res)
        return MPX_EINVAL;
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    if (af == AF_INET) {
        ((struct sockaddr_in *)&out->ss)->sin_port = htons(port);
        out->family = MPX_AF_INET;
    } else {
        ((struct sockaddr_in6 *)&out->ss)->sin6_port = htons(port);
        out->family = MPX_AF_INET6;
    }
    out->abstract = false;
    return 0;
}

/*
 * Which family a string names (connection.h lists the forms). The rule is
 * decided by the string alone, and nothing is guessed:
 *   "unix:" prefix, or (family inferred) a leading '@' or any '/'   AF_UNIX
 *   a leading '['                                                    AF_INET6
 *   "host:port" (one ':' and a numeric port)                         AF_INET
 *   a leading "\\" (a Windows pipe name, Python's AF_PIPE)         MPX_ENOTSUP
 *   anything else ("127.0.0.1", "localhost", "::1", "sock": no port, or
 *   a relative path without "./")                                    MPX_EINVAL
 * With family MPX_AF_UNIX the whole string is a path (or "@name").
 */
int mpx__addr_parse(const char *s, int family, mpx__addr *out)
{
    if (!s || !out || family < 0 || family > MPX_AF_INET6)
        return MPX_EINVAL;
    memset(out, 0, sizeof *out);
    if (strncmp(s, "unix:", 5) == 0) {
        if (family && family != MPX_AF_UNIX)
            return MPX_EINVAL;
        return parse_unix(s + 5, out);
    }
    if (family == MPX_AF_UNIX)
        return parse_unix(s, out);
    if (s[0] == '\\' && s[1] == '\\') {
        /* Python: address_type() says AF_PIPE, then "Family AF_PIPE is not
         * recognized" on POSIX. */
        MPX__DEBUG("address '%s': a Windows named pipe (AF_PIPE) is not supported", s);
        return MPX_ENOTSUP;
    }
    if (family == 0 && (s[0] == '@' || strchr(s, '/')))
        return parse_unix(s, out);
    char host[256];
    uint16_t port;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host || family == MPX_AF_INET)
            return MPX_EINVAL;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        if (parse_port(e + 2, &port))
            return MPX_EINVAL;
        return resolve(host, AF_INET6, port, out);
    }
    const char *colon = strrchr(s, ':');
    if (!colon) {
        /* "127.0.0.1", "localhost", "sock": a host without a port or a
         * relative path without "./" -- refused rather than guessed. */
        MPX__DEBUG("address '%s' is ambiguous: use \"host:port\" for TCP, \"./%s\" or "
                   "\"unix:%s\" for a relative AF_UNIX path",
                   s, s, s);
        return MPX_EINVAL;
    }
    if ((size_t)(colon - s) >= sizeof host || parse_port(colon + 1, &port))
        return MPX_EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    if (strchr(host, ':'))
        return MPX_EINVAL; /* "::1", "::1:80": IPv6 literals need brackets */
    return resolve(host, family == MPX_AF_INET6 ? AF_INET6 : AF_INET, port, out);
}

char *mpx__addr_format(const struct sockaddr *sa, socklen_t len)
{
    char buf[160];
    buf[0] = 0;
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (len <= off)
            return strdup(""); /* unnamed */
        size_t n = len - off;
        if (un->sun_path[0] == 0) {
            buf[0] = '@';
            size_t k = n - 1 < sizeof buf - 2 ? n - 1 : sizeof buf - 2;
            memcpy(buf + 1, un->sun_path + 1, k);
            buf[k + 1] = 0;
            char *r = malloc(k + 2);
            if (r)
                memcpy(r, buf, k + 2);
            return r; /* may contain NULs only for odd names; shown up to them */
        }
        return strndup(un->sun_path, n);
    }
    char ip[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(buf, sizeof buf, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(buf, sizeof buf, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    }
    return strdup(buf);
}
