"""CPython's side of the manager interoperability tests (test/test_manager_python.c, #16).

    mgr_peer.py client HOST:PORT KEYHEX    a CPython client of an mpx manager
    mgr_peer.py authfail HOST:PORT KEYHEX  connect() with this (wrong) key
    mgr_peer.py serve KEYHEX               a CPython manager server (the seed's
                                           remote-queue example plus SyncManager's
                                           types); prints "ADDR host:port"

The client prints "STEP ..." lines as it goes and "OK" at the end (exit 0);
any failure prints "FAIL ..." and exits 2. authfail prints "AUTHFAIL" and
exits 0 when connect() raises AuthenticationError.
"""
import queue
import sys
import traceback
from multiprocessing import AuthenticationError, current_process
from multiprocessing.managers import (BaseManager, DictProxy, NamespaceProxy,
                                      SyncManager)


class QueueManager(SyncManager):
    pass


def mgr_py_square(x):
    """Sent by reference (__main__.mgr_py_square): an mpx manager's Pool
    runs the C function its program registered under this name; the
    CPython server's Pool runs this one, which does the same (x * x,
    ValueError('thirteen') for 13)."""
    if x == 13:
        raise ValueError('thirteen')
    return x * x


def mgr_py_add(*args, **kwds):
    """The same for f(*args, **kwds): sum(args) + kwds.get('extra', 0)."""
    return sum(args) + kwds.get('extra', 0)


def addr_of(text):
    host, port = text.rsplit(':', 1)
    return (host, int(port))


def step(msg):
    print("STEP " + msg, flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def client(address, key):
    # Proxies rebuilt from values (the nested proxy below) authenticate with
    # the process's key, in CPython as with mpx.
    current_process().authkey = key
    QueueManager.register('get_queue')
    QueueManager.register('get_dict', proxytype=DictProxy)
    QueueManager.register('get_ns', proxytype=NamespaceProxy)
    m = QueueManager(address=address, authkey=key)
    m.connect()
    step("connect() ok")

    # the remote queue (MGR-21): round trip, then leave one item for mpx
    q = m.get_queue()
    q.put('hello')
    q.put(('tuple', 42, None, 2.5, b'\x00bytes'))
    check(q.get() == 'hello', "queue get 1")
    check(q.get() == ('tuple', 42, None, 2.5, b'\x00bytes'), "queue get 2")
    check(q.empty(), "queue empty")
    try:
        q.get(timeout=0.05)
        raise AssertionError("get from an empty queue returned")
    except queue.Empty:
        pass
    q.put('from python')
    check(q.qsize() == 1, "qsize")
    step("queue ok")

    # a dict hosted by mpx
    d = m.get_dict()
    d['a'] = 1
    d['b'] = [1, 2]
    check(d['a'] == 1 and d['b'] == [1, 2], "dict get")
    check(len(d) >= 2, "dict len")
    check('a' in d and 'zz' not in d, "dict contains")
    try:
        d['zz']
        raise AssertionError("missing key returned")
    except KeyError as e:
        check(e.args == ('zz',), "KeyError args")
    check(d.get('zz', 5) == 5, "dict get default")
    it = iter(d)                      # '#PROXY': an IteratorProxy
    keys = list(it)
    check('a' in keys and 'b' in keys, "iterator %r" % (keys,))
    check(sorted(d.keys()) == sorted(keys), "keys")
    step("dict ok")

    # a Namespace (MGR-19)
    ns = m.get_ns()
    ns.x = 10
    ns.y = 'hello'
    ns._z = 12.3                      # the proxy's own attribute
    check(ns.x == 10 and ns.y == 'hello', "ns get")
    check(str(ns) == "Namespace(x=10, y='hello')", "ns str %r" % str(ns))
    try:
        ns.nothere
        raise AssertionError("missing attribute returned")
    except AttributeError:
        pass
    step("namespace ok")

    # SyncManager's types created in the mpx manager
    l = m.list([1, 2])
    l.append(3)
    check(l[0] == 1 and len(l) == 3, "list")
    check(l[1:3] == [2, 3], "slice")
    try:
        l[10]
        raise AssertionError("IndexError expected")
    except IndexError as e:
        check(str(e) == 'list index out of range', "IndexError text")
    check(str(l) == '[1, 2, 3]', "list str")
    check(l._getvalue() == [1, 2, 3], "getvalue")
    l.sort(reverse=True)
    check(l._getvalue() == [3, 2, 1], "sort")
    outer = m.list()
    inner = m.dict()
    outer.append(inner)                # a nested proxy (MGR-17)
    outer[0]['k'] = 'v'
    check(inner['k'] == 'v', "nested")
    v = m.Value('i', 7)
    v.value = 8
    check(v.value == 8, "Value")
    lk = m.Lock()
    check(lk.acquire(), "lock acquire")
    check(not lk.acquire(False), "lock busy")
    lk.release()
    ev = m.Event()
    ev.set()
    check(ev.is_set() and ev.wait(0.1), "event")
    jq = m.JoinableQueue()
    jq.put(1)
    jq.get()
    jq.task_done()
    jq.join()
    n = m._number_of_objects()
    check(n >= 8, "number_of_objects %r" % n)
    del l, outer, inner, v, lk, ev, jq, it
    step("syncmanager ok")

    # a Pool in the mpx manager running functions the C program registered
    # (MGR-16): PoolProxy, AsyncResult (an AutoProxy) and IteratorProxy
    pool = m.Pool(2)
    check(pool.map(mgr_py_square, [0, 1, 2, 3, 4]) == [0, 1, 4, 9, 16], "pool map")
    check(pool.map(mgr_py_square, [5, 6], 1) == [25, 36], "pool map chunksize")
    check(pool.starmap(mgr_py_add, [(1, 2), (3, 4, 5)]) == [3, 12], "pool starmap")
    check(pool.apply(mgr_py_add, (2, 3), {'extra': 10}) == 15, "pool apply")
    r = pool.map_async(mgr_py_square, [7])
    check(r.get(60) == [49] and r.ready() and r.successful(), "pool map_async")
    r.wait(0)
    r2 = pool.apply_async(mgr_py_add, (1, 1))
    check(r2.get() == 2, "pool apply_async")
    r3 = pool.starmap_async(mgr_py_add, [(1, 1)], 1)
    check(r3.get(60) == [2], "pool starmap_async")
    check(list(pool.imap(mgr_py_square, [1, 2, 3])) == [1, 4, 9], "pool imap")
    check(sorted(pool.imap_unordered(mgr_py_square, [1, 2, 3])) == [1, 4, 9],
          "pool imap_unordered")
    try:
        pool.map(mgr_py_square, [1, 13])
        raise AssertionError("the task's ValueError was not raised")
    except ValueError as e:
        check(str(e) == 'thirteen', "ValueError text %r" % str(e))
    r4 = pool.map_async(mgr_py_square, [13])
    r4.wait()
    check(r4.ready() and not r4.successful(), "failed map_async")
    try:
        r4.get()
        raise AssertionError("get of a failed result returned")
    except ValueError as e:
        check(str(e) == 'thirteen', "get ValueError text %r" % str(e))
    pool.close()
    pool.join()
    try:
        pool.map(mgr_py_square, [1])
        raise AssertionError("map after close returned")
    except ValueError as e:
        check(str(e) == 'Pool not running', "closed pool %r" % str(e))
    del pool, r, r2, r3, r4
    step("pool ok")
    print("OK", flush=True)


def authfail(address, key):
    QueueManager.register('get_queue')
    m = QueueManager(address=address, authkey=key)
    try:
        m.connect()
    except AuthenticationError:
        print("AUTHFAIL", flush=True)
        return
    print("FAIL connected with a wrong key", flush=True)
    sys.exit(2)


def serve(key):
    q = queue.Queue()
    QueueManager.register('get_queue', callable=lambda: q)
    m = QueueManager(address=('127.0.0.1', 0), authkey=key)
    s = m.get_server()
    print("ADDR %s:%d" % s.address, flush=True)
    s.serve_forever()


def main():
    role = sys.argv[1]
    if role == 'serve':
        serve(bytes.fromhex(sys.argv[2]))
    elif role == 'client':
        client(addr_of(sys.argv[2]), bytes.fromhex(sys.argv[3]))
    elif role == 'authfail':
        authfail(addr_of(sys.argv[2]), bytes.fromhex(sys.argv[3]))


if __name__ == '__main__':
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:
        print("FAIL %r" % (e,), flush=True)
        traceback.print_exc()
        sys.exit(2)
