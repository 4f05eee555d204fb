"""Value exchange with mpx over a real multiprocessing.connection
(test/test_conn_obj.c; CONN-03..05).

    obj_echo_peer.py serve KEYHEX    Listener on 127.0.0.1:0; prints
                                     "ADDR host:port", accepts one client
    obj_echo_peer.py client ADDR KEYHEX

Then, in both roles: send every value of CORPUS with conn.send(); then echo:
recv() each value and send() it back, until the string '__END__' (echoed
too). Prints "OK" and exits 0; exits 2 on an error.
"""
import sys
from multiprocessing.connection import Listener, Client

CORPUS = [
    None, True, False, 0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, -2**31,
    2**40, -2**63, 2**64, 2**200, -(2**100), 1.5, -0.0, float('inf'), 1e300,
    '', 'hello', 'h\u00e9llo w\u00f6rld \u2603 \U0001f600', 'x' * 1000,
    b'', b'hi\x00\xff', b'y' * 70000, bytearray(b'ba'),
    (), (1,), (1, 2), (1, 'a', None), [], [1, 2.25, None], list(range(2000)),
    {}, {'a': 1}, {1: 'x', 'b': [1, 2], (1, 2): {'n': None}},
    set(), {1, 2, 3}, frozenset({'a'}), [[[]]],
    {'k': ('v', [b'z', {'q': 1.0}])},
]


def run(conn):
    for v in CORPUS:
        conn.send(v)
    while True:
        v = conn.recv()
        conn.send(v)
        if v == '__END__':
            break
    conn.close()
    print("OK", flush=True)


def main():
    role = sys.argv[1]
    if role == 'serve':
        key = bytes.fromhex(sys.argv[2])
        with Listener(('127.0.0.1', 0), authkey=key) as l:
            print("ADDR %s:%d" % l.address, flush=True)
            run(l.accept())
    else:
        host, port = sys.argv[2].rsplit(':', 1)
        key = bytes.fromhex(sys.argv[3])
        run(Client((host, int(port)), authkey=key))


if __name__ == '__main__':
    try:
        main()
    except Exception as e:
        print("ERR %r" % (e,), flush=True)
        sys.exit(2)
