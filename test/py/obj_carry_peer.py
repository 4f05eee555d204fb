"""Values carried everywhere (test/test_obj_carry.c; #15): a CPython peer
sends values over a real multiprocessing.connection to an mpx child, which
forwards them through a queue to its parent; the parent runs them through a
pool (a task that returns its argument) and a second queue back to the
child, which sends them back here. Each value must come back equal, with
its type.

    obj_carry_peer.py serve KEYHEX   Listener on 127.0.0.1:0; prints
                                     "ADDR host:port" and "COUNT n", accepts
                                     one client, sends the n values, then
                                     receives n values and compares them.
Prints "OK" and exits 0; "ERR ..." and exits 2 on a difference or error.
"""
import datetime
import decimal
import os
import sys
from multiprocessing.connection import Listener

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from obj_echo_peer import CORPUS  # noqa: E402

shared = [1, 2]
EXTRA = [
    datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),
    decimal.Decimal('3.14159265358979323846264338327950288'),
    ValueError('carried'),
    (shared, shared),              # a shared sub-object
    b'\x00' * (1 << 20),           # 1 MiB of bytes
    float('nan'),
]


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, BaseException):
        return type(a) is type(b) and a.args == b.args
    if isinstance(a, tuple) and len(a) == 2 and a and a[0] is shared:
        return a == b and b[0] is b[1]
    return a == b


def main():
    key = bytes.fromhex(sys.argv[2])
    values = CORPUS + EXTRA
    with Listener(('127.0.0.1', 0), authkey=key) as l:
        print("ADDR %s:%d" % l.address, flush=True)
        print("COUNT %d" % len(values), flush=True)
        conn = l.accept()
        for v in values:
            conn.send(v)
        for i, v in enumerate(values):
            w = conn.recv()
            if not same(v, w):
                raise AssertionError("value %d: sent %.200r, got back %.200r" % (i, v, w))
        conn.close()
    print("OK", flush=True)


if __name__ == '__main__':
    try:
        main()
    except Exception as e:
        print("ERR %r" % (e,), flush=True)
        sys.exit(2)
