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
#include "obj.h"

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
 * Values: Python's conn.send(obj) / conn.recv() (CONN-03..05)
 * ------------------------------------------------------------------- */

/* Options of mpx_connection_recv_obj; zero means default. */
typedef struct mpx_recv_obj_opts {
    /* Longest message accepted, in bytes; 0: no limit. A longer message
     * is MPX_ETOOBIG without being read, and the connection is no longer
     * readable afterwards (as mpx_connection_recv_bytes_max). */
    size_t maxlength;
    /* Decoding limits (allocation, nesting, Python 2 strings), as for
     * mpx_obj_loads; zero fields are the defaults. */
    mpx_obj_load_opts load;
} mpx_recv_obj_opts;

/*
 * mpx_connection_send_obj - Python's conn.send(obj): send the pickle of
 * obj (protocol 4, the bytes CPython's conn.send writes for the same
 * value) as one message, which CPython's recv() and mpx_connection_recv_obj
 * read back. A value the pickler refuses (nesting deeper than
 * MPX_OBJ_MAX_DEPTH: MPX_EDEPTH) fails before anything is sent.
 * Returns 0, MPX_EINVAL (NULL), MPX_EDEPTH, MPX_ETYPE, -ENOMEM, and the
 * errors of mpx_connection_send_bytes.
 *
 * Threads: as send_bytes; obj must not be changed by another thread meanwhile.
 * Fork:    safe.
 * Signals: retries EINTR; not async-signal-safe.
 */
MPX_API int mpx_connection_send_obj(mpx_connection *c, const mpx_obj *obj);

/*
 * mpx_connection_recv_obj - Python's conn.recv(): receive one message and
 * unpickle it; *out gets a new reference. The message is consumed even when
 * it does not decode: a message that is not a pickle (one sent with
 * send_bytes, say) is MPX_EPROTO with err->text as Python's
 * UnpicklingError ("invalid load key, 'z'." for b"zzz"), and the next message can be
 * received normally. (The other way round, mpx_connection_recv_bytes of a
 * message sent by send_obj gives the pickle's bytes, as Python's
 * recv_bytes does.) opts and err may be NULL.
 * Returns 0, the errors of mpx_connection_recv_bytes_max (MPX_EEOF when
 * the other end closed, MPX_ETOOBIG past opts->maxlength ...) and of
 * mpx_obj_loads (MPX_EPROTO, MPX_ENOTSUP, MPX_ETOOBIG past
 * opts->load.max_alloc, MPX_EDEPTH, MPX_EINVAL).
 *
 * Threads: as recv_bytes.
 * Fork:    safe.
 * Signals: retries EINTR; not async-signal-safe.
 */
MPX_API int mpx_connection_recv_obj(mpx_connection *c, mpx_obj **out,
                                    const mpx_recv_obj_opts *opts, mpx_obj_error *err);

/* ---------------------------------------------------------------------
 * Listener and Client (LIS-01..19, AUTH-01..06)
 *
 * Addresses are strings. The family follows from the string alone, by
 * these rules, and a string that fits none of them is refused:
 *   "/path/sock", "./sock", "dir/sock"   AF_UNIX path: any string with a '/'
 *   "unix:name"                          AF_UNIX path "name" (any name, e.g.
 *                                        a relative one without "./")
 *   "@name"                              Linux abstract AF_UNIX name
 *                                        (Python's "\0name")
 *   "host:port"                          AF_INET ("127.0.0.1:6000",
 *                                        "localhost:0", ":6000" = all
 *                                        interfaces; port 0 picks a port)
 *   "[v6addr]:port"                      AF_INET6 ("[::1]:0")
 *   NULL (listener only)                 a fresh AF_UNIX path in a private
 *                                        temporary directory (removed on
 *                                        close), or 127.0.0.1:0 / [::1]:0
 *                                        when the options ask for AF_INET /
 *                                        AF_INET6.
 * Refused with MPX_EINVAL, because they could mean two things: a host or
 * address without a port ("127.0.0.1", "localhost", "::1", "::1:80") and
 * a bare name ("sock": write "./sock" or "unix:sock"). Refused with
 * MPX_ENOTSUP: a Windows named pipe, any string starting with two
 * backslashes ("\\\\.\\pipe\\x"; CPython: "Family AF_PIPE is not
 * recognized"). With family MPX_AF_UNIX in the options the whole string
 * is an AF_UNIX path (or "@name"), as Python's family='AF_UNIX'.
 *
 * Authentication: authkey != NULL means authenticate (Python 3's rule:
 * authkey None = no authentication). authenticate != 0 with authkey NULL
 * uses the current process's key, mpx_process_authkey(
 * mpx_current_process()) (Python 2's authenticate=True and the managers'
 * rule, AUTH-03, LIS-05, LIS-10); children inherit that key (PROC-18), so
 * a parent and its children authenticate each other without passing a
 * key around.
 *
 * An empty key (authkey "" with authkey_len 0) differs between CPython
 * versions: every CPython Client authenticates with it, and so does the
 * CPython 3.13+ Listener, but the Listener of CPython 3.12 and earlier
 * skips authentication for it (`if self._authkey:` in accept; fixed by
 * bpo-43952). mpx authenticates by default (the 3.13 meaning, and what
 * every CPython Client expects); empty_key_skips_auth = 1 gives the old
 * Listener's meaning: set it on an mpx Client that connects to a CPython
 * <= 3.12 Listener(authkey=b''), or on an mpx Listener serving clients
 * ported from such a program (they connect with authkey None).
 * ------------------------------------------------------------------- */

enum mpx_family {
    MPX_AF_DEFAULT = 0, /* inferred from the address; AF_UNIX without one */
    MPX_AF_UNIX = 1,
    MPX_AF_INET = 2,
    MPX_AF_INET6 = 3
};

/* Defaults of mpx_listener_opts.handshake_timeout (ms) and .max_pending. */
#define MPX_HANDSHAKE_TIMEOUT_DEFAULT 10000
#define MPX_MAX_PENDING_DEFAULT 256

typedef struct mpx_listener_opts {
    int family;          /* enum mpx_family; 0: inferred */
    int backlog;         /* listen() backlog; 0: 16 (Python: 1) */
    const void *authkey; /* NULL: see authenticate (Python authkey=None) */
    size_t authkey_len;
    int authenticate;    /* nonzero with authkey NULL: the current process's key */
    int strict;          /* refuse the legacy HMAC-MD5 form */
    int empty_key_skips_auth; /* nonzero: an empty authkey means no
                               * authentication (CPython <= 3.12 Listener) */
    /* Time one client has to complete its handshake, counted from the
     * moment accept takes its connection; a client still unauthenticated
     * then is disconnected (not reported). 0: not set, the default
     * MPX_HANDSHAKE_TIMEOUT_DEFAULT (10 s); MPX_FOREVER: no limit (CPython
     * has none); a negative value: zero time. */
    mpx_duration handshake_timeout;
    /* Handshakes in progress at most; when a new connection arrives with
     * the set full, the oldest handshake is dropped (its connection
     * closed) to make room. 0: not set, MPX_MAX_PENDING_DEFAULT (256);
     * negative: MPX_EINVAL. */
    int max_pending;
} mpx_listener_opts;

typedef struct mpx_client_opts {
    int family;          /* enum mpx_family; 0: inferred */
    const void *authkey; /* NULL: see authenticate (Python authkey=None) */
    size_t authkey_len;
    int authenticate;    /* nonzero with authkey NULL: the current process's key */
    int strict;          /* refuse the legacy HMAC-MD5 form */
    int empty_key_skips_auth; /* nonzero: with an empty authkey, connect
                               * without a handshake (what a CPython <= 3.12
                               * Listener(authkey=b'') expects) */
    /* connect + handshake. 0: not set, no limit (Python's None);
     * MPX_FOREVER: no limit; a negative value: zero time. */
    mpx_duration timeout;
} mpx_client_opts;

/*
 * mpx_listener_create - bind and listen (LIS-06, LIS-08, LIS-09). address
 * as above (NULL: fresh private path). opts may be NULL. An AF_UNIX path
 * that exists is not replaced (-EADDRINUSE), as in Python. With
 * authenticate and no authkey, the current process's key is read now.
 * Returns 0, MPX_EINVAL (bad or ambiguous address, bad options, a host
 * that does not resolve), MPX_ENOTSUP (a Windows pipe name), -EADDRINUSE,
 * -EACCES, -ENOMEM, -errno.
 *
 * Threads: safe.
 * Fork:    a fork child inherits the listening socket (it may accept on
 *          it too); handshakes the parent had in progress are closed in
 *          the child. Only the creating process unlinks the path.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_listener_create(mpx_listener **out, const char *address,
                                const mpx_listener_opts *opts);

/*
 * mpx_listener_accept - accept one connection (LIS-11). With an authkey
 * the listener authenticates each client (it challenges first, then
 * answers the client's challenge: LIS-02, LIS-03), and handshakes do not
 * wait for each other: accept takes every connection waiting in the
 * kernel queue, runs their handshakes side by side and returns the first
 * that completes, so silent or slow clients never delay a real one.
 * Handshakes still in progress when accept returns carry on in the next
 * accept. A client that stays silent is disconnected after
 * handshake_timeout; beyond max_pending the oldest handshake is dropped.
 * timeout bounds only this call's wait.
 * Returns 0, MPX_ETIMEDOUT, MPX_EAUTH (one client's handshake failed:
 * wrong key, malformed or oversized handshake message, or it closed part
 * way; Python's accept raises AuthenticationError. That client is
 * disconnected and the listener keeps working: call accept again),
 * MPX_ECLOSED, -EMFILE, -ENOMEM, -errno.
 *
 * Threads: safe: several threads may accept at once; each connection is
 *          returned to one of them.
 * Fork:    safe.
 * Signals: EINTR is retried against the deadline.
 */
MPX_API int mpx_listener_accept(mpx_listener *l, mpx_connection **out, mpx_duration timeout);

/*
 * mpx_listener_address - the bound address as a string in the forms above
 * (LIS-13); with port 0 it has the chosen port. Owned by the listener.
 * mpx_listener_last_accepted - Python's last_accepted: the peer address of
 * the connection the last accept (in any thread) returned, "" for an
 * unnamed AF_UNIX peer, NULL before any (Python: None). The string is a
 * copy in the calling thread's own storage: valid until this thread calls
 * mpx_listener_last_accepted again, whatever other threads do. With
 * several accepting threads, mpx_connection_peer_address(c) gives each
 * connection's own peer.
 * mpx_listener_port - the TCP port, or MPX_EINVAL for AF_UNIX.
 * mpx_listener_fileno - the listening socket: readable when a client
 * waits in the kernel queue. (To wait for what accept can return, which
 * with an authkey includes the handshakes in progress, use mpx_wait on
 * the listener itself.)
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: address, port, fileno: async-signal-safe; last_accepted: not
 *          (it takes a lock).
 */
MPX_API const char *mpx_listener_address(const mpx_listener *l);
MPX_API const char *mpx_listener_last_accepted(const mpx_listener *l);
MPX_API int mpx_listener_port(const mpx_listener *l);
MPX_API int mpx_listener_fileno(const mpx_listener *l);

/*
 * mpx_connection_peer_address - the address of the other end of a socket
 * connection, in the listener address forms: for a connection from
 * mpx_listener_accept the client's address (what last_accepted said for
 * it), for one from mpx_client_connect the listener's ("127.0.0.1:6000",
 * "/tmp/sock"); "" for an unnamed AF_UNIX peer (a socketpair end, most
 * AF_UNIX clients). NULL for a pipe end, a closed connection whose
 * address was never asked for, or when memory runs out. Owned by the
 * connection, valid until mpx_connection_destroy.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API const char *mpx_connection_peer_address(const mpx_connection *c);

/*
 * mpx_listener_close - close the socket and, for an AF_UNIX path created
 * by this process, unlink it (and remove the private temporary directory)
 * (LIS-12). Handshakes in progress and authenticated connections accept
 * has not returned yet are closed. Closing twice is 0.
 * mpx_listener_destroy - close and free; NULL does nothing.
 *
 * Threads: no other thread may be using l.
 * Fork:    a fork child's close does not unlink the parent's path.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_listener_close(mpx_listener *l);
MPX_API void mpx_listener_destroy(mpx_listener *l);

/*
 * mpx_client_connect - connect to a listener (LIS-04); when it
 * authenticates (see above), answer the listener's challenge then
 * challenge it. opts may be NULL.
 * Returns 0, -ECONNREFUSED, -ENOENT (no such AF_UNIX path), MPX_EAUTH,
 * MPX_ETIMEDOUT, MPX_EINVAL (bad or ambiguous address), MPX_ENOTSUP (a
 * Windows pipe name), -errno.
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
