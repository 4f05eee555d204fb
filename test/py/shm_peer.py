#!/usr/bin/env python3
"""CPython peer for mpx's shared memory interoperability tests
(test/test_shm_python.c). Works on CPython 3.8 to 3.13.

    shm_peer.py attach NAME SIZE    attach; check mpx's pattern; write ours
                                    into the second half; print "ok"
    shm_peer.py serve SIZE          create a block with our pattern; print
                                    its name; wait for a line on stdin; check
                                    mpx's pattern in the second half; print
                                    "ok"; unlink
    shm_peer.py sl_serve            create ShareableList(ITEMS); print its
                                    name and its bytes (hex); wait for a
                                    line; print the list and the bytes again;
                                    unlink
    shm_peer.py sl_attach NAME      attach to a ShareableList; print the list
                                    and its bytes; wait for a line; apply
                                    SETS; print the bytes again

Only mpx is under test: a block this script merely attaches to is not
left registered with CPython's resource tracker (3.11 and 3.12 register
every attach and unlink it at exit, a known bug; 3.13 has track=False).
"""
import sys
from multiprocessing import resource_tracker, shared_memory

ITEMS = [1, 2.5, True, 'ab', b'xyz', None, -7, 'h\u00e9llo w\u00f6rld!', b'',
         'x' * 8, -2 ** 63, 1e-300]
SETS = [(1, 'abc'), (3, 3), (7, None), (-1, b'\x01\x02'), (9, False)]


def mpx_pattern(i):
    return (i * 7 + 3) & 0xff


def py_pattern(i):
    return (i * 11 + 5) & 0xff


def attach(name):
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name, track=False)
    s = shared_memory.SharedMemory(name)
    resource_tracker.unregister(s._name, "shared_memory")
    return s


def attach_list(name):
    sl = shared_memory.ShareableList(name=name)
    resource_tracker.unregister(sl.shm._name, "shared_memory")
    return sl


def out(*a):
    print(*a, flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "attach":
        name, size = sys.argv[2], int(sys.argv[3])
        s = attach(name)
        assert s.size == size, (s.size, size)
        half = size // 2
        buf = s.buf
        assert bytes(buf[:half]) == bytes(mpx_pattern(i) for i in range(half)), "mpx pattern"
        buf[half:size] = bytes(py_pattern(i) for i in range(half, size))
        del buf
        s.close()
        out("ok")
    elif cmd == "serve":
        size = int(sys.argv[2])
        s = shared_memory.SharedMemory(create=True, size=size)
        s.buf[:size] = bytes(py_pattern(i) for i in range(size))
        out(s.name)
        sys.stdin.readline()
        half = size // 2
        ok = bytes(s.buf[half:size]) == bytes(mpx_pattern(i) for i in range(half, size))
        s.close()
        s.unlink()
        out("ok" if ok else "bad")
    elif cmd == "sl_serve":
        sl = shared_memory.ShareableList(ITEMS)
        out(sl.shm.name)
        out(bytes(sl.shm.buf).hex())
        sys.stdin.readline()
        out(repr(list(sl)))
        out(bytes(sl.shm.buf).hex())
        sl.shm.close()
        sl.shm.unlink()
    elif cmd == "sl_attach":
        sl = attach_list(sys.argv[2])
        out(repr(list(sl)))
        out(sl.format)
        out(bytes(sl.shm.buf).hex())
        sys.stdin.readline()
        for i, v in SETS:
            sl[i] = v
        out(bytes(sl.shm.buf).hex())
        sl.shm.close()
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
    # End CPython's own tracker before we exit (it would otherwise outlive
    # us for a moment, a stray in the test's process group).
    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop:
        stop()
