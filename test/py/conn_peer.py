#!/usr/bin/env python3
"""CPython peer for mpx's interoperability tests (test/test_conn_python.c).

    conn_peer.py server tcp|unix KEYHEX MODE [small]   print the address, accept one client
    conn_peer.py client ADDRESS  KEYHEX MODE [small]   connect to ADDRESS ("host:port" or a path)
    conn_peer.py info                                  print "3.11.7 skips" or "3.13.0 authenticates"

KEYHEX "-" means no authkey ("" is the empty key b''). MODE is "native"
(this CPython's own handshake: HMAC-MD5 on 3.11), or "modern" (the CPython
3.12+ handshake, written out below and patched into
multiprocessing.connection). "small" exchanges small messages only.

info: what this CPython's Listener does with an empty authkey, read from
its own source: CPython <= 3.12 test `if self._authkey:` (b'' = no
authentication), 3.13 `if self._authkey is not None:` (bpo-43952).

After authentication, for each size in SIZES: receive a message, check it
holds pattern(size), send pattern(size) back. Prints "OK" and exits 0;
prints "AUTHFAIL" and exits 2 on AuthenticationError; other errors exit 1.
"""
import hmac
import os
import sys
from multiprocessing import AuthenticationError
import multiprocessing.connection as mc

SIZES = [0, 1, 65536, 16 << 20]


def pattern(size):
    base = bytes(range(256)) * (size // 256 + 2)
    off = size % 256
    return base[off:off + size]


# ---- the CPython 3.12+ handshake (gh-61460), for testing on 3.11 ----------
_CHALLENGE = b'#CHALLENGE#'
_WELCOME = b'#WELCOME#'
_FAILURE = b'#FAILURE#'
_ALLOWED = {b'md5', b'sha256', b'sha384', b'sha3_256', b'sha3_384'}


def _split(message):
    if len(message) in (20, 16):
        return '', message
    if message.startswith(b'{'):
        curly = message.find(b'}', 1, max(len(d) for d in _ALLOWED) + 2)
        if curly > 0 and message[1:curly] in _ALLOWED:
            return message[1:curly].decode('ascii'), message[curly + 1:]
    raise AuthenticationError('unsupported message: %r' % (message,))


def _create_response(authkey, message):
    name = _split(message)[0]
    if not name:
        return hmac.new(authkey, message, 'md5').digest()
    return b'{%s}%s' % (name.encode(), hmac.new(authkey, message, name).digest())


def _verify(authkey, message, response):
    name, mac = _split(response)
    expected = hmac.new(authkey, message, name or 'md5').digest()
    if len(expected) != len(mac) or not hmac.compare_digest(expected, mac):
        raise AuthenticationError('digest received was wrong')


def deliver_challenge(connection, authkey, digest_name='sha256'):
    message = b'{%s}%s' % (digest_name.encode(), os.urandom(40))
    connection.send_bytes(_CHALLENGE + message)
    response = connection.recv_bytes(256)
    try:
        _verify(authkey, message, response)
    except AuthenticationError:
        connection.send_bytes(_FAILURE)
        raise
    connection.send_bytes(_WELCOME)


def answer_challenge(connection, authkey):
    message = connection.recv_bytes(256)
    if not message.startswith(_CHALLENGE):
        raise AuthenticationError('expected challenge')
    message = message[len(_CHALLENGE):]
    if len(message) < 20:
        raise AuthenticationError('challenge too short')
    connection.send_bytes(_create_response(authkey, message))
    if connection.recv_bytes(256) != _WELCOME:
        raise AuthenticationError('digest sent was rejected')


def exchange(conn):
    for size in SIZES:
        m = conn.recv_bytes()
        if m != pattern(size):
            print('BAD MESSAGE size %d got %d' % (size, len(m)), flush=True)
            sys.exit(1)
        conn.send_bytes(pattern(size))
    # the peer closes: we must see EOF
    try:
        conn.recv_bytes()
        print('NO EOF', flush=True)
        sys.exit(1)
    except EOFError:
        pass


def info():
    import inspect
    src = inspect.getsource(mc.Listener.accept)
    if 'self._authkey is not None' in src:
        how = 'authenticates'
    elif 'if self._authkey:' in src:
        how = 'skips'
    else:
        print('UNKNOWN accept source', flush=True)
        sys.exit(3)
    print('%d.%d.%d %s' % (sys.version_info[:3] + (how,)), flush=True)


def main():
    global SIZES
    if sys.argv[1] == 'info':
        info()
        return
    role, where, keyhex, mode = sys.argv[1:5]
    if len(sys.argv) > 5 and sys.argv[5] == 'small':
        SIZES = [0, 1, 1000]
    key = None if keyhex == '-' else bytes.fromhex(keyhex)
    if mode == 'modern':
        mc.deliver_challenge = deliver_challenge
        mc.answer_challenge = answer_challenge
    try:
        if role == 'server':
            if where == 'tcp':
                listener = mc.Listener(('127.0.0.1', 0), authkey=key)
                host, port = listener.address
                print('%s:%d' % (host, port), flush=True)
            else:
                listener = mc.Listener(family='AF_UNIX', authkey=key)
                print(listener.address, flush=True)
            with listener:
                conn = listener.accept()
        else:
            if where.startswith('@'):
                address = '\0' + where[1:]  # Linux abstract name
            elif ':' in where and '/' not in where:
                host, port = where.rsplit(':', 1)
                address = (host, int(port))
            else:
                address = where
            conn = mc.Client(address, authkey=key)
        with conn:
            exchange(conn)
    except AuthenticationError as e:
        print('AUTHFAIL %s' % e, flush=True)
        sys.exit(2)
    print('OK', flush=True)


if __name__ == '__main__':
    main()
