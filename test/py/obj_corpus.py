#!/usr/bin/env python3
"""The value corpus of mpx's object tests (test/test_obj_pickle.c, #15).

    obj_corpus.py gen            write the corpus to stdout (binary, below)
    obj_corpus.py seeds DIR      write the small streams as fuzz seeds
                                 (fuzz/seeds/fuzz_pickle)
    obj_corpus.py verify FILE    check the pickles mpx wrote to FILE: each
                                 must load into a value the same as the case's
                                 (types exact, NaN == NaN, -0.0 != 0.0,
                                 sharing and cycles kept); prints one line per
                                 failure and "verified N" at the end

Corpus record (all integers little endian):
    u32 len, name | u32 flags | u32 len, repr(value)
    6 x (u32 len, pickle.dumps(value, protocol)) for protocols 0..5
    (len 0xffffffff: this Python cannot pickle it at that protocol)
flags: 1 = only built-in types: mpx's re-encoding of the decoded value must
give the same bytes; 2 = repr must match exactly; 4 = C builds the same
value from its name (test_obj_pickle.c, "cbuilt" cases).
verify FILE record: u32 len, name | u32 protocol | u32 len, pickle
"""
import datetime
import decimal
import collections
import fractions
import math
import pickle
import struct
import sys

EXACT, REPR, CBUILT = 1, 2, 4


class Point:
    """A plain class: pickled with copyreg.__reduce_ex__ (NEWOBJ + BUILD)."""
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


class Slotted:
    __slots__ = ('a', 'b')

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __eq__(self, other):
        return type(other) is Slotted and (self.a, self.b) == (other.a, other.b)


class Outer:
    class Inner:
        def __init__(self, v):
            self.v = v

        def __eq__(self, other):
            return type(other) is Outer.Inner and self.v == other.v


class KwNew:
    """__getnewargs_ex__: NEWOBJ_EX at protocol 4+."""
    def __new__(cls, a, *, b):
        o = object.__new__(cls)
        o.a, o.b = a, b
        return o

    def __getnewargs_ex__(self):
        return (self.a,), {'b': self.b}

    def __eq__(self, other):
        return type(other) is KwNew and (self.a, self.b) == (other.a, other.b)


def self_list():
    l = [1]
    l.append(l)
    return l


def self_dict():
    d = {'k': 1}
    d['self'] = d
    return d


def tuple_cycle():
    l = []
    t = (l, 2)
    l.append(t)
    return t


def shared():
    inner = [1, 2, 'x']
    s = 'shared string'
    return [inner, inner, {'a': inner, 'b': s}, s, (inner, s)]


def deep(n):
    v = []
    for i in range(n):
        v = [v, i]
    return v


def big_dict(n):
    return {i: -i for i in range(n)}


def cases():
    """(name, factory, flags)"""
    c = []
    add = lambda name, f, flags=EXACT | REPR: c.append((name, f, flags))
    add('none', lambda: None, EXACT | REPR | CBUILT)
    add('true', lambda: True, EXACT | REPR | CBUILT)
    add('false', lambda: False, EXACT | REPR | CBUILT)
    for v in [0, 1, -1, 255, 256, 65535, 65536, -65536, 2**31 - 1, -2**31, 2**31, -2**31 - 1,
              2**63 - 1, -2**63, 2**63, 2**64, -2**64, 2**200, -2**200, 2**200 - 1, -(2**200) + 1,
              -128, -129, -(2**15), -(2**15) - 1, 2**2040, -(2**2047), 10**300, -(2**63) - 1]:
        name = 'int %d' % v if abs(v) < 10**30 else 'int big %s%d %d' % ('-' if v < 0 else '', v.bit_length(), v % 1000)
        add(name, (lambda v=v: v), EXACT | REPR | CBUILT)
    for v in [0.0, -0.0, 1.0, 0.1, -2.5, 1e-310, 5e-324, 1e16, 1e15, 1e-5, 1e-4, 1e300, 1.7976931348623157e308,
              123456789.123, 3.141592653589793, float('inf'), float('-inf'), float('nan'), 2.0**53 + 1,
              1e22, 1e23, 0.3, 2.675]:
        add('float %r' % v, (lambda v=v: v), EXACT | REPR | CBUILT)
    strs = ['', 'a', 'hello', "it's", 'say "hi"', 'both \' and "', 'tab\tnl\ncr\r', 'back\\slash',
            'nul\x00x', '\x7f\x80\x9f\xa0\xad', 'é à ü', '€', '\u200b\u2028\u2029', '\ud7ff\ue000',
            '\U0001F600 astral', '\U0010FFFF', '\U000E0001', 'x' * 255, 'y' * 256, 'z' * 70000,
            '中文字符', '\u0378', '\U00030000']
    for s in strs:
        add('str %r' % s[:20], (lambda s=s: s), EXACT | REPR | CBUILT)
    for b in [b'', b'a', b'\x00\x01\xff', b"'", b'"', b'\'"', b'\\\t\n\r', bytes(range(256)),
              b'x' * 255, b'y' * 256, b'z' * 70000]:
        add('bytes %r' % b[:12], (lambda b=b: b), EXACT | REPR | CBUILT)
    add('bytearray empty', lambda: bytearray(), EXACT | REPR | CBUILT)
    add('bytearray', lambda: bytearray(b'ab\x00\xff'), EXACT | REPR | CBUILT)
    add('bytearray big', lambda: bytearray(b'q' * 70000), EXACT | REPR)
    add('tuple0', lambda: (), EXACT | REPR | CBUILT)
    add('tuple1', lambda: (1,), EXACT | REPR | CBUILT)
    add('tuple2', lambda: (1, 'a'), EXACT | REPR | CBUILT)
    add('tuple3', lambda: (1, 2.5, None), EXACT | REPR | CBUILT)
    add('tuple4', lambda: (1, 2, 3, 4), EXACT | REPR | CBUILT)
    add('list0', lambda: [], EXACT | REPR | CBUILT)
    add('list1', lambda: [7], EXACT | REPR | CBUILT)
    for n in [2, 999, 1000, 1001, 2000, 2001, 2500]:
        add('list ints %d' % n, (lambda n=n: list(range(n))), EXACT | REPR | CBUILT)
    add('dict0', lambda: {}, EXACT | REPR | CBUILT)
    add('dict1', lambda: {'a': 1}, EXACT | REPR | CBUILT)
    for n in [2, 999, 1000, 1001, 2000, 2001]:
        add('dict ints %d' % n, (lambda n=n: big_dict(n)), EXACT | REPR | CBUILT)
    add('dict mixed keys', lambda: {1: 'int', 2.5: 'float', 'k': 'str', b'b': 'bytes', (1, 2): 'tuple',
                                    None: 'none', True: 'bool', frozenset({1}): 'fs'}, EXACT | REPR)
    add('dict nested', lambda: {'a': [1, 2.5, None], 'b': b'\x00', 'c': {'d': (1, (2, [3]))}},
        EXACT | REPR | CBUILT)
    add('set0', lambda: set(), EXACT | REPR | CBUILT)
    add('set ints', lambda: {1, 2, 3, 100, -5}, EXACT | REPR)
    add('set strs', lambda: {'a', 'bb', 'ccc'}, EXACT | REPR)
    add('set 1000', lambda: set(range(1000)), EXACT | REPR)
    add('set 2001', lambda: set(range(2001)), EXACT | REPR)
    add('frozenset0', lambda: frozenset(), EXACT | REPR | CBUILT)
    add('frozenset', lambda: frozenset({1, 'x', (2, 3)}), EXACT | REPR)
    add('set of tuples', lambda: {(1, 2), (3, 'a')}, EXACT | REPR)
    add('shared', shared, EXACT | REPR)
    add('shared bytes', lambda: (lambda b: [b, b, (b,)])(b'shared'), EXACT | REPR)
    add('shared empty tuple', lambda: [(), (), [()]], EXACT | REPR)
    add('self list', self_list, EXACT | REPR)
    add('self dict', self_dict, EXACT | REPR)
    add('tuple cycle', tuple_cycle, EXACT | REPR)
    add('deep 400', lambda: deep(400), EXACT)
    add('mixed', lambda: [None, True, False, 0, -1, 2**70, 1.5, float('nan'), 'é', b'\xff', bytearray(b'x'),
                          (), (1,), [], {}, set(), frozenset(), {1: {2: {3: [4, (5,)]}}}], EXACT | REPR)
    # carried values: classes and instances
    add('datetime', lambda: datetime.datetime(2024, 2, 29, 13, 45, 7, 123456), 0)
    add('datetime tz', lambda: datetime.datetime(2024, 2, 29, 13, 45, tzinfo=datetime.timezone.utc), 0)
    add('date', lambda: datetime.date(1999, 12, 31), 0)
    add('timedelta', lambda: datetime.timedelta(days=3, seconds=7, microseconds=5), 0)
    add('decimal', lambda: decimal.Decimal('1.50'), 0)
    add('decimal neg', lambda: decimal.Decimal('-12345678901234567890.000001'), 0)
    add('fraction', lambda: fractions.Fraction(3, 7), 0)
    add('complex', lambda: complex(1.5, -2), 0)
    add('ordereddict', lambda: collections.OrderedDict([('a', 1), ('b', 2)]), 0)
    add('counter', lambda: collections.Counter('abracadabra'), 0)
    add('defaultdict', lambda: collections.defaultdict(list, {'x': [1]}), 0)
    add('deque', lambda: collections.deque([1, 2, 3], maxlen=5), 0)
    add('class ref', lambda: datetime.datetime, REPR)
    add('builtin class ref', lambda: int, REPR)
    add('exception', lambda: ValueError('bad value', 42), 0)
    add('point', lambda: Point(1, [2, 3]), 0)
    add('slotted', lambda: Slotted('a', {'b': 1}), 0)
    add('nested class', lambda: Outer.Inner(5), 0)
    add('kw new', lambda: KwNew(1, b='two'), 0)
    add('range', lambda: range(1, 10, 2), 0)
    add('slice', lambda: slice(1, None, 3), 0)
    add('list of points', lambda: (lambda p: [p, p, Point(3, 4)])(Point(1, 2)), 0)
    add('dict with datetime key', lambda: {datetime.date(2020, 1, 1): 'new year'}, 0)
    assert len({name for name, _, _ in c}) == len(c), 'case names must be unique'
    return c


CASES = {name: (f, flags) for name, f, flags in cases()}


def u32(n):
    return struct.pack('<I', n)


def gen(out):
    for name, f, flags in cases():
        v = f()
        r = repr(v).encode('utf-8', 'surrogatepass')
        rec = [u32(len(name.encode())), name.encode(), u32(flags), u32(len(r)), r]
        for p in range(6):
            try:
                data = pickle.dumps(v, p)
            except Exception:
                rec.append(u32(0xffffffff))
                continue
            rec.append(u32(len(data)))
            rec.append(data)
        out.write(b''.join(rec))


def same(a, b, seen=None):
    """Structural identity: exact types, floats bitwise (NaN == NaN),
    sharing and cycles kept."""
    if seen is None:
        seen = {}
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or struct.pack('<d', a) == struct.pack('<d', b)
    if isinstance(a, (int, str, bytes, bytearray, type(None), bool, range, slice, complex)):
        return a == b
    if isinstance(a, type):
        return a is b
    key = id(a)
    if key in seen:
        return seen[key] is b
    seen[key] = b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, seen) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b) or list(map(type, a)) != list(map(type, b)):
            return False
        if type(a) is collections.defaultdict and a.default_factory is not b.default_factory:
            return False
        return all(k in b and same(v, b[k], seen) for k, v in a.items())
    if isinstance(a, (set, frozenset)):
        return a == b
    if isinstance(a, collections.deque):
        return a.maxlen == b.maxlen and same(list(a), list(b), seen)
    if isinstance(a, BaseException):
        return a.args == b.args
    return a == b


def verify(path):
    sys.setrecursionlimit(20000)
    data = open(path, 'rb').read()
    pos, n, bad = 0, 0, 0
    while pos < len(data):
        ln = struct.unpack_from('<I', data, pos)[0]
        name = data[pos + 4:pos + 4 + ln].decode()
        pos += 4 + ln
        proto = struct.unpack_from('<I', data, pos)[0]
        ln = struct.unpack_from('<I', data, pos + 4)[0]
        blob = data[pos + 8:pos + 8 + ln]
        pos += 8 + ln
        n += 1
        try:
            got = pickle.loads(blob)
        except Exception as e:
            print('FAIL %s protocol %d: loads raised %r' % (name, proto, e))
            bad += 1
            continue
        want = CASES[name][0]()
        if not same(want, got):
            print('FAIL %s protocol %d: got %r, want %r' % (name, proto, got, want))
            bad += 1
    print('verified %d' % n)
    return 1 if bad else 0


def seeds(directory):
    import hashlib, os
    os.makedirs(directory, exist_ok=True)
    n = 0
    for name, f, flags in cases():
        v = f()
        for p in (0, 2, 5):
            try:
                data = pickle.dumps(v, p)
            except Exception:
                continue
            if len(data) > 300:
                continue
            with open(os.path.join(directory, hashlib.sha1(data).hexdigest()[:16]), 'wb') as out:
                out.write(data)
            n += 1
    print('%d seeds' % n)


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] == 'gen':
        gen(sys.stdout.buffer)
    elif len(sys.argv) >= 3 and sys.argv[1] == 'seeds':
        seeds(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == 'verify':
        sys.exit(verify(sys.argv[2]))
    else:
        print(__doc__)
        sys.exit(2)
