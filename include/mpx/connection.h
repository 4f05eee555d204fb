/*
 * mpx/connection.h - connections, pipes, listeners/clients with
 * authentication, and wait() (Python: multiprocessing.Pipe,
 * multiprocessing.connection.{Connection, Listener, Client, wait,
 * deliver_challenge, answer_challenge}, reduction.send_handle/recv_handle;
 * seed items CONN-01..18, LIS-01..19, AUTH-01..06).
 *
 * The wire format is exactly CPython's multiprocessing.connection: every
 * message is a 4-byte big-endian signed length followed by the payload; a
 * message of 2 GiB or more is sent as the length -1 followed by an 8-byte
 * big-endian length. The authentication handshake is CPython's HMAC
 * challenge/response (3.12 form "{sha256}..." sent, 3.11 HMAC-MD5 form
 * understood), so mpx processes and CPython processes can talk to each
 * other. See docs/connection.md for the protocol step by step.
 *
 *     mpx_connection *a, *b;
 *     mpx_pipe(&a, &b, 1);
 *     mpx_connection_send_bytes(a, "hello", 5);
 *     void *msg; size_t n;
 *     mpx_connection_recv_bytes(b, &msg, &n);
 *     printf("%.*s\n", (int)n, (char *)msg);      // prints: hello
 *     mpx_free(msg);
 *     mpx_connection_destroy(a); mpx_connection_destroy(b);
 *
 * A connection is a shareable object: pass it to a child with
 * mpx_args_add_object (the child gets its own descriptor under spawn and
 * forkserver, the inherited object under fork). In a child, close the
 * connection with mpx_connection_close but do not destroy an object that
 * came from the argument list: the library frees it.
 *
 * As in Python, two threads or processes must not read (or write) the same
 * end at the same time (CONN-02): messages would interleave. Using the two
 * ends, or reading and writing one end, concurrently is safe.
 */
#ifndef MPX_CONNECTION_H
#define MPX_CONNECTION_H

#include "common.h"

MPX_BEGIN_DECLS

typedef struct mpx_connection mpx_connection;
typedef struct mpx_listener mpx_listener;

/* ---------------------------------------------------------------------
 * Pipe and Connection (CONN-01..18)
 * ------------------------------------------------------------------- */

/*
 * mpx_pipe - a pair of connected connections (CONN-01). duplex != 0: both
 * ends send and receive (an AF_UNIX socketpair). duplex == 0: *conn1 can
 * only receive and *conn2 can only send (a pipe()); using an end in the
 * wrong direction returns MPX_ESTATE. Descriptors are CLOEXEC.
 * Returns 0, -errno (EMFILE ...), -ENOMEM, MPX_EINVAL (NULL pointers).
 *
 * Threads: safe.
 * Fork:    a fork child inherits both ends; close the end it does not use
 *          (CONN-17) or EOF never arrives.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_pipe(mpx_connection **conn1, mpx_connection **conn2, int duplex);

/*
 * mpx_connection_from_fd - wrap an existing descriptor (a connected
 * stream socket, or a pipe end) as a connection; the connection owns fd
 * from then on (also on failure: it is closed). readable/writable say
 * which directions may be used. Returns 0, MPX_EINVAL (fd < 0, neither
 * direction), -ENOMEM.
 *
 * Threads: safe.
 * Fork:    as mpx_pipe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_connection_from_fd(mpx_connection **out, int fd, int readable, int writable);

/*
 * mpx_connection_send_bytes - send len bytes as one message (CONN-09,
 * CONN-12). A message of any size works (0 bytes, several GiB). Header
 * and payload go out in one system call when the kernel takes them.
 * mpx_connection_send_bytes_at is Python's send_bytes(buf, offset, size):
 * the message is buf[offset .. offset+size); size MPX_SIZE_REST means "to
 * the end of the buffer"; offset > buflen or offset+size > buflen is
 * MPX_EINVAL.
 * Returns 0, MPX_ECLOSED, MPX_ESTATE (read-only end), MPX_EINVAL, -EPIPE
 * or -ECONNRESET when the peer is gone (no SIGPIPE is raised), -errno.
 * When a send fails part way the stream is unusable (the peer sees an
 * error or EOF, never a partial message as a whole one).
 *
 * Threads: do not send on one connection from two threads at once.
 * Fork:    safe (an inherited end can be used by one process at a time).
 * Signals: retries EINTR; not async-signal-safe.
 */
#define MPX_SIZE_REST ((size_t)-1)
MPX_API int mpx_connection_send_bytes(mpx_connection *c, const void *buf, size_t len);
MPX_API int mpx_connection_send_bytes_at(mpx_connection *c, const void *buf, size_t buflen,
                                         size_t offset, size_t size);

/*
 * mpx_connection_recv_bytes - receive one whole message (CONN-10): blocks
 * until it is there; *out is a new buffer (free it with mpx_free; never
 * NULL on success, even for 0 bytes) and *len its size.
 * mpx_connection_recv_bytes_max is Python's recv_bytes(maxlength): a
 * message longer than maxlength is an error (MPX_ETOOBIG) and, as in
 * Python, the connection is no longer readable afterwards (a duplex end
 * stays writable; a read-only end is closed).
 * Returns 0, MPX_EEOF (the other end is closed and nothing is left),
 * MPX_ECLOSED, MPX_ESTATE (write-only or unreadable end), MPX_ETOOBIG,
 * MPX_EPROTO (malformed header, or the peer ended in the middle of a
 * message: the connection is then unreadable), -ENOMEM (the message stays
 * retrievable, e.g. with recv_bytes_into), -errno.
 *
 * Threads: do not receive on one connection from two threads at once.
 * Fork:    safe.
 * Signals: retries EINTR; not async-signal-safe.
 */
MPX_API int mpx_connection_recv_bytes(mpx_connection *c, void **out, size_t *len);
MPX_API int mpx_connection_recv_bytes_max(mpx_connection *c, void **out, size_t *len,
                                          size_t maxlength);

/*
 * mpx_connection_recv_bytes_into - receive one message into
 * buf[offset .. buflen) (CONN-11); *nbytes is the message size. When the
 * message does not fit, returns MPX_ETOOSHORT with *nbytes set to its size
 * and nothing consumed: the whole message stays retrievable by the next
 * recv_bytes / recv_bytes_into (Python's BufferTooShort carries it in the
 * exception instead). offset > buflen is MPX_EINVAL.
 * Returns 0, MPX_ETOOSHORT, and the errors of mpx_connection_recv_bytes.
 *
 * Threads: as recv_bytes.
 * Fork:    safe.
 * Signals: retries EINTR; not async-signal-safe.
 */
MPX_API int mpx_connection_recv_bytes_into(mpx_connection *c, void *buf, size_t buflen,
                                           size_t offset, size_t *nbytes);

/*
 * mpx_connection_poll - whether a message (or EOF) can be read without
 * blocking (CONN-08): waits up to timeout (MPX_NOWAIT: check only, as
 * Python's poll(); MPX_FOREVER: Python's poll(None)).
 * Returns 1 (readable), 0 (timed out), MPX_ECLOSED, MPX_ESTATE (write-only
 * end), -errno.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: EINTR is retried against the deadline.
 */
MPX_API int mpx_connection_poll(mpx_connection *c, mpx_duration timeout);

/*
 * mpx_connection_fileno - the descriptor (CONN-06), owned by the
 * connection. Reading it directly desynchronises the message stream.
 * Returns fd >= 0, MPX_ECLOSED, MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    the descriptor is CLOEXEC; a fork child has a copy.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_connection_fileno(const mpx_connection *c);

/*
 * mpx_connection_readable / _writable / _closed - 1 or 0 (Python's
 * properties); MPX_EINVAL for a non-connection.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_connection_readable(const mpx_connection *c);
MPX_API int mpx_connection_writable(const mpx_connection *c);
MPX_API int mpx_connection_closed(const mpx_connection *c);

/*
 * mpx_connection_close - close the descriptor (CONN-07); later calls
 * return MPX_ECLOSED. Closing twice is 0. The object stays allocated until
 * mpx_connection_destroy.
 *
 * Threads: no other thread may be using c.
 * Fork:    closes only this process's copy.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_connection_close(mpx_connection *c);

/*
 * mpx_connection_destroy - close (when still open) and free. NULL does
 * nothing. Do not destroy a connection received through mpx_args in a
 * child (close it instead).
 *
 * Threads: no other thread may be using c.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_connection_destroy(mpx_connection *c);

/*
 * mpx_connection_send_handle / mpx_connection_recv_handle - pass a file
 * descriptor to the process at the other end of an AF_UNIX connection
 * (Python's reduction.send_handle / recv_handle, same bytes on the wire: a
 * one-byte message outside the framing, with SCM_RIGHTS). send_handle
 * leaves fd open in the sender. recv_handle gives a new CLOEXEC descriptor
 * owned by the caller.
 * Returns 0, MPX_ENOTSUP (not a socket, e.g. a simplex pipe end),
 * MPX_EEOF, MPX_EPROTO (no descriptor came), MPX_ECLOSED, MPX_ESTATE,
 * -errno.
 *
 * Threads: as send_bytes / recv_bytes.
 * Fork:    safe.
 * Signals: retries EINTR.
 */
MPX_API int mpx_connection_send_handle(mpx_connection *c, int fd);
MPX_API int mpx_connection_recv_handle(mpx_connection *c, int *fd);

/*
 * mpx_connection_send_connection / mpx_connection_recv_connection - send
 * a whole connection (its descriptor and direction) to the other end
 * (CONN-13; Python pickles connections). The sender keeps its own copy
 * (close it when the receiver should own the end alone). The receiver gets
 * a new connection object.
 * Returns the errors of send_handle / recv_handle, MPX_EPROTO when the
 * next message is not a connection.
 *
 * Threads: as send_bytes / recv_bytes.
 * Fork:    safe.
 * Signals: retries EINTR.
 */
MPX_API int mpx_connection_send_connection(mpx_connection *c, mpx_connection *other);
MPX_API int mpx_connection_recv_connection(mpx_connection *c, mpx_connection **out);

/* ---------------------------------------------------------------------
 * Listener and Client (LIS-01..19, AUTH-01..06)
 *
 * Addresses are strings:
 *   "/path/to/sock", "unix:name"   AF_UNIX path (a string with a '/' or
 *                                  the "unix:" prefix)
 *   "@name"                        Linux abstract AF_UNIX name (Python's
 *                                  "\0name")
 *   "host:port"                    AF_INET ("127.0.0.1:6000",
 *                                  "localhost:0"; port 0 picks a port)
 *   "[v6addr]:port"                AF_INET6 ("[::1]:0")
 *   NULL                           a fresh AF_UNIX path in a private
 *                                  temporary directory (removed on close),
 *                                  or 127.0.0.1:0 / [::1]:0 when the
 *                                  options ask for AF_INET / AF_INET6.
 * ------------------------------------------------------------------- */

enum mpx_family {
    MPX_AF_DEFAULT = 0, /* inferred from the address; AF_UNIX without one */
    MPX_AF_UNIX = 1,
    MPX_AF_INET = 2,
    MPX_AF_INET6 = 3
};

typedef struct mpx_listener_opts {
    int family;             /* enum mpx_family; 0: inferred */
    int backlog;            /* listen() backlog; 0: 16 (Python: 1) */
    const void *authkey;    /* NULL: no authentication (Python authkey=None) */
    size_t authkey_len;
    int strict;             /* refuse the legacy HMAC-MD5 form */
    /* Limit for one client's handshake in accept; 0: none beyond the
     * accept timeout. */
    mpx_duration handshake_timeout;
} mpx_listener_opts;

typedef struct mpx_client_opts {
    int family;          /* enum mpx_family; 0: inferred */
    const void *authkey; /* NULL: no authentication */
    size_t authkey_len;
    int strict;             /* refuse the legacy HMAC-MD5 form */
    mpx_duration timeout;   /* connect + handshake; 0: no limit */
} mpx_client_opts;

/*
 * mpx_listener_create - bind and listen (LIS-06, LIS-08, LIS-09). address
 * as above (NULL: fresh private path). opts may be NULL. An AF_UNIX path
 * that exists is not replaced (-EADDRINUSE), as in Python.
 * Returns 0, MPX_EINVAL (bad address or options, a host that does not
 * resolve), -EADDRINUSE, -EACCES, -ENOMEM, -errno.
 *
 * Threads: safe.
 * Fork:    a fork child inherits the listening socket; only the creating
 *          process unlinks the path.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_listener_create(mpx_listener **out, const char *address,
                                const mpx_listener_opts *opts);

/*
 * mpx_listener_accept - accept one connection (LIS-11) and, when the
 * listener has an authkey, run the handshake: the listener challenges
 * first, then answers the client's challenge (LIS-02, LIS-03). timeout
 * bounds the whole call (waiting for a client and its handshake), so a
 * silent peer cannot block it forever. A failed handshake closes that
 * connection only: the listener keeps working.
 * Returns 0, MPX_ETIMEDOUT, MPX_EAUTH (wrong key, malformed or oversized
 * handshake message, peer gone during the handshake), MPX_ECLOSED, -errno.
 *
 * Threads: safe (concurrent accepts each get a different client).
 * Fork:    safe.
 * Signals: EINTR is retried against the deadline.
 */
MPX_API int mpx_listener_accept(mpx_listener *l, mpx_connection **out, mpx_duration timeout);

/*
 * mpx_listener_address - the bound address as a string in the forms above
 * (LIS-13); with port 0 it has the chosen port. Owned by the listener.
 * mpx_listener_last_accepted - the peer address of the last accepted
 * connection, "" for an unnamed AF_UNIX peer, NULL before any accept
 * (Python: None). Owned by the listener, valid until the next accept.
 * mpx_listener_port - the TCP port, or MPX_EINVAL for AF_UNIX.
 * mpx_listener_fileno - the listening descriptor (for poll / mpx_wait).
 *
 * Threads: safe (last_accepted: not during a concurrent accept).
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API const char *mpx_listener_address(const mpx_listener *l);
MPX_API const char *mpx_listener_last_accepted(const mpx_listener *l);
MPX_API int mpx_listener_port(const mpx_listener *l);
MPX_API int mpx_listener_fileno(const mpx_listener *l);

/*
 * mpx_listener_close - close the socket and, for an AF_UNIX path created
 * by this process, unlink it (and remove the private temporary directory)
 * (LIS-12). Closing twice is 0.
 * mpx_listener_destroy - close and free; NULL does nothing.
 *
 * Threads: no other thread may be using l.
 * Fork:    a fork child's close does not unlink the parent's path.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_listener_close(mpx_listener *l);
MPX_API void mpx_listener_destroy(mpx_listener *l);

/*
 * mpx_client_connect - connect to a listener (LIS-04); with an authkey,
 * answer the listener's challenge then challenge it. opts may be NULL.
 * Returns 0, -ECONNREFUSED, -ENOENT (no such AF_UNIX path), MPX_EAUTH,
 * MPX_ETIMEDOUT, MPX_EINVAL (bad address), -errno.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: EINTR is retried against the deadline.
 */
MPX_API int mpx_client_connect(mpx_connection **out, const char *address,
                               const mpx_client_opts *opts);

/*
 * mpx_deliver_challenge / mpx_answer_challenge - the two halves of the
 * handshake on any connection (LIS-02, LIS-03), as Python's
 * deliver_challenge / answer_challenge: deliver sends a "{sha256}"
 * challenge and checks the reply (accepting the legacy MD5 reply unless
 * strict); answer replies to a modern or a legacy challenge. timeout
 * bounds each call. Handshake messages longer than 256 bytes are refused
 * without being read.
 * Returns 0, MPX_EAUTH, MPX_ETIMEDOUT, MPX_ECLOSED, -errno.
 *
 * Threads: as send_bytes / recv_bytes.
 * Fork:    safe.
 * Signals: EINTR is retried against the deadline.
 */
MPX_API int mpx_deliver_challenge(mpx_connection *c, const void *authkey, size_t authkey_len,
                                  int strict, mpx_duration timeout);
MPX_API int mpx_answer_challenge(mpx_connection *c, const void *authkey, size_t authkey_len,
                                 int strict, mpx_duration timeout);

/* ---------------------------------------------------------------------
 * wait (LIS-15..17)
 * ------------------------------------------------------------------- */

/*
 * One entry of mpx_wait: object is an mpx object that can be waited on
 * (a connection, a listener, an mpx_process, a queue ...); when object is
 * NULL, fd is a raw descriptor (socket, pipe, process sentinel); an entry
 * with object NULL and fd < 0 is ignored. ready is set by mpx_wait.
 */
typedef struct mpx_waitable {
    void *object;
    int fd;
    int ready;
} mpx_waitable;

/*
 * mpx_wait - block until at least one entry is ready or the timeout ends
 * (Python's connection.wait). A connection or socket is ready when a
 * message or EOF can be read; a listener when a client is waiting; a
 * process when it has ended. No limit on n. Signals do not interrupt it
 * (EINTR is retried against the deadline).
 * Returns the number of ready entries (0 when the timeout passed), or
 * MPX_EINVAL (an object that cannot be waited on), MPX_ECLOSED (a closed
 * object), -EBADF (a bad descriptor), -ENOMEM.
 *
 * Threads: safe (entries are written only by the calling thread).
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_wait(mpx_waitable *items, size_t n, mpx_duration timeout);

/*
 * mpx_wait_objects - the object-list form: waits on objects[0..n) (mpx
 * objects as above) and stores the ready ones, in list order, in
 * ready[0..count) (ready must have room for n). Returns count (0 on
 * timeout) or the errors of mpx_wait.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_wait_objects(void *const *objects, size_t n, mpx_duration timeout, void **ready);

MPX_END_DECLS

#endif /* MPX_CONNECTION_H */
