#!/usr/bin/env python3
"""bench/bench_mp.py - the cpython column of mpxbench: each figure done with
Python's multiprocessing, the same job as the mpx and raw sides in C.

    python3 bench/bench_mp.py FIGURE [--quick]

prints one number in the figure's unit (or "nan REASON"). The driver
(bench/driver.c) runs it once per repetition, interleaved with the C sides.
Every figure but process_spawn* and process_forkserver uses the fork start
method, as the C sides do.
"""
import mmap
import multiprocessing as mp
import os
import sys
import time

now = time.perf_counter  # CLOCK_MONOTONIC: comparable across processes

POOL_TASKS_FULL = 1000000
POOL_TASKS_QUICK = 200000
# CPython runs map(chunksize=1) at ~60k tasks/s here: 1,000,000 tasks would
# take 16 s per repetition, so it maps fewer (the figure is a rate).
POOL_CHUNK1_TASKS_FULL = 100000
POOL_CHUNK1_TASKS_QUICK = 20000
POOL_ARRAY_ITEMS_FULL = 40000
POOL_ARRAY_ITEMS_QUICK = 8000
POOL_TASK_US = 10
WORKERS = 2
ONE_GIB = 1 << 30
POOL_LATENCY_MAP_ITEMS = 10
MEM_POOL_BIG = 32
MEM_QUEUE_MSG = 1 << 20
MEM_QUEUE_MSGS = 1024

QUICK = False


def target():
    return 0.1 if QUICK else 0.5


def calibrate(run, n0, nmax=10**10):
    """run(n) does n operations and returns seconds; returns s/op of a run
    lasting at least half the target (as bench_calibrate in bench.h)."""
    n = max(1, n0)
    while True:
        t = run(n)
        if t >= target() * 0.5 or n >= nmax:
            return t / n
        f = target() / t * 1.1 if t > 0 else 100
        n = min(nmax, int(n * min(100, max(2, f))))


def touch_1g():
    # private, like the heap of a big program (a MAP_SHARED mapping would
    # not be copied by fork); 4 KiB pages; every page written
    m = mmap.mmap(-1, ONE_GIB, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    m.madvise(getattr(mmap, "MADV_NOHUGEPAGE", 15))
    try:
        m.madvise(getattr(mmap, "MADV_POPULATE_WRITE", 23))
    except OSError:
        for i in range(0, ONE_GIB, 4096):
            m[i] = 1
    return m


# ---------------------------------------------------------------- process

def noop():
    pass


def start_join(method, resident=False):
    ctx = mp.get_context(method)
    mem = touch_1g() if resident else None
    if method == "forkserver":
        # the first start launches the fork server: not timed
        p = ctx.Process(target=noop)
        p.start()
        p.join()

    def run(n):
        t = now()
        for _ in range(n):
            p = ctx.Process(target=noop)
            p.start()
            p.join()
            if p.exitcode != 0:
                raise RuntimeError("child failed")
        return now() - t

    s = calibrate(run, 1 if (QUICK and method == "spawn") else 2 if (resident or QUICK) else 5)
    del mem
    return s * 1e6


# ------------------------------------------------------------------- pipe

def pipe_sender(w, size, n):
    a = b"0" * size
    w.send_bytes(b"")
    for _ in range(n):
        w.send_bytes(a)
    w.close()


def pipe_stream(size, n0):
    ctx = mp.get_context("fork")
    buf = bytearray(size)

    def run(n):
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=pipe_sender, args=(w, size, n))
        p.start()
        w.close()
        r.recv_bytes()
        t = now()
        if size > 65536:
            for _ in range(n):
                r.recv_bytes_into(buf)
        else:
            for _ in range(n):
                r.recv_bytes()
        t = now() - t
        p.join()
        r.close()
        return t

    return calibrate(run, n0)


def pipe_echo(c, other):
    other.close()  # else the parent's close never reaches us as EOF
    while True:
        try:
            m = c.recv_bytes()
        except EOFError:
            break
        c.send_bytes(m)


def pipe_pingpong():
    ctx = mp.get_context("fork")
    msg = b"p" * 64

    def run(n):
        a, b = ctx.Pipe()
        p = ctx.Process(target=pipe_echo, args=(b, a))
        p.start()
        b.close()
        a.send_bytes(msg)
        a.recv_bytes()
        t = now()
        for _ in range(n):
            a.send_bytes(msg)
            a.recv_bytes()
        t = now() - t
        a.close()
        p.join()
        return t

    return calibrate(run, 200) * 1e6


# ------------------------------------------------------------------- lock

def lock_uncontended(lock):
    def run(n):
        acq, rel = lock.acquire, lock.release
        t = now()
        for _ in range(n):
            acq()
            rel()
        return now() - t

    return calibrate(run, 10000) * 1e9


def incr_worker(lock, v, barrier, ends, k, n):
    barrier.wait()
    for _ in range(n):
        with lock:
            v.value += 1
    ends[k] = now()


def lock_contended():
    ctx = mp.get_context("fork")

    def run(n):
        lock = ctx.Lock()
        v = ctx.RawValue("q", 0)
        ends = ctx.RawArray("d", 2)
        barrier = ctx.Barrier(3)
        ps = [ctx.Process(target=incr_worker, args=(lock, v, barrier, ends, k, n)) for k in range(2)]
        for p in ps:
            p.start()
        barrier.wait()
        t = now()
        for p in ps:
            p.join()
        if v.value != 2 * n:
            raise RuntimeError("lost increments")
        return (max(ends) - t) / 2

    return calibrate(run, 2000) * 1e9


# -------------------------------------------------------------- condition

def cond_child(cond, turn, n):
    for _ in range(n + 1):
        with cond:
            while turn.value != 1:
                cond.wait()
            turn.value = 0
            cond.notify()


def condition_pingpong():
    ctx = mp.get_context("fork")

    def run(n):
        cond = ctx.Condition()
        turn = ctx.RawValue("i", 0)
        p = ctx.Process(target=cond_child, args=(cond, turn, n))
        p.start()
        t = 0
        for i in range(n + 1):
            if i == 1:
                t = now()  # the first round trip waits for the child to start
            with cond:
                turn.value = 1
                cond.notify()
                while turn.value != 0:
                    cond.wait()
        t = now() - t
        p.join()
        return t

    return calibrate(run, 200) * 1e6


# ------------------------------------------------------------------ array

def array_read(lock):
    a = mp.get_context("fork").Array("i", range(10), lock=lock)

    def run(n):
        t = now()
        for _ in range(n):
            x = a[5]
        return now() - t

    return calibrate(run, 100000) * 1e9


# ------------------------------------------------------------------ queue

def queue_producer(q, size, n):
    a = b"0" * size
    q.put(b"")
    for _ in range(n):
        q.put(a)


def queue_stream(size, n0):
    ctx = mp.get_context("fork")

    def run(n):
        q = ctx.Queue()
        p = ctx.Process(target=queue_producer, args=(q, size, n))
        p.start()
        q.get()
        t = now()
        for _ in range(n):
            q.get()
        t = now() - t
        p.join()
        q.close()
        return t

    return calibrate(run, n0)


def q2_producer(q, barrier, n):
    a = b"0" * 256
    barrier.wait()
    for _ in range(n):
        q.put(a)


def q2_consumer(q, barrier, ends, k, n):
    barrier.wait()
    for _ in range(n):
        q.get()
    ends[k] = now()


def queue_2p2c():
    ctx = mp.get_context("fork")

    def run(n):
        q = ctx.Queue()
        barrier = ctx.Barrier(5)
        ends = ctx.RawArray("d", 2)
        ps = [ctx.Process(target=q2_producer, args=(q, barrier, n)) for _ in range(2)]
        ps += [ctx.Process(target=q2_consumer, args=(q, barrier, ends, k, n)) for k in range(2)]
        for p in ps:
            p.start()
        barrier.wait()
        t = now()
        for p in ps:
            p.join()
        return (max(ends) - t) / 2

    return 1 / calibrate(run, 5000)


# ------------------------------------------------------------------- pool

def square(x):
    return x * x


def spin_task(x):
    end = now() + POOL_TASK_US * 1e-6
    acc = x
    while now() < end:
        acc = (acc * 31 + 7) & 0xFFFFFFFF
    return acc


def pool_map(n, chunksize):
    with mp.get_context("fork").Pool(WORKERS) as pool:
        pool.map(square, range(1000), chunksize=1)  # warm-up
        t = now()
        r = pool.map(square, range(n), chunksize=chunksize)
        t = now() - t
        if r[-1] != (n - 1) * (n - 1):
            raise RuntimeError("wrong result")
    return n / t


def pool_apply_async():
    with mp.get_context("fork").Pool(WORKERS) as pool:
        pool.apply(square, (1,))

        def run(n):
            t = now()
            rs = [pool.apply_async(square, (i,)) for i in range(n)]
            for r in rs:
                r.get()
            return now() - t

        return 1 / calibrate(run, 1000)


def call_median(call, warm=100):
    """The median duration (s) of single calls, made one after another for
    the target time (at least 20): as bench_call_median in bench/util.c."""
    for _ in range(warm):
        call()
    v = []
    end = now() + target()
    while len(v) < 20 or (now() < end and len(v) < 1000000):
        t = now()
        call()
        v.append(now() - t)
    v.sort()
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def pool_latency(map10):
    """One apply (or one map of 10 items) at a time on a started pool of 2:
    the interactive case. The median call, in us."""
    with mp.get_context("fork").Pool(WORKERS) as pool:
        items = range(POOL_LATENCY_MAP_ITEMS)

        def one():
            if map10:
                if pool.map(square, items)[-1] != 81:
                    raise RuntimeError("wrong result")
            elif pool.apply(square, (7,)) != 49:
                raise RuntimeError("wrong result")

        return call_median(one) * 1e6


def pool_array_10us():
    n = POOL_ARRAY_ITEMS_QUICK if QUICK else POOL_ARRAY_ITEMS_FULL
    with mp.get_context("fork").Pool(WORKERS) as pool:
        pool.map(square, range(100))
        t = now()
        pool.map(spin_task, range(n))
        t = now() - t
    return n / t


# ---------------------------------------------------------------- obj

def obj_value(which):
    """The values of the obj group, built as bench/mpx_obj.c builds them."""
    if which == "ints1k":
        return list(range(1000))
    if which == "bytes1m":
        return bytes(i & 0xff for i in range(1 << 20))
    return {
        'id': 12345, 'name': 'worker-7', 'active': True, 'score': 98.625,
        'tags': ['alpha', 'beta', 'gamma', 'delta'],
        'owner': {'user': 'alice', 'uid': 1001, 'groups': ['staff', 'dev'], 'quota': None},
        'position': (12.5, -3.25, 7.0),
        'history': [{'t': 1700000000 + i, 'value': i * 1.5, 'ok': i % 2 == 0} for i in range(26)],
        'blob': bytes(range(64)),
        'note': 'a short note about the job and where it runs',
    }


def obj_codec(which, decode):
    import pickle
    v = obj_value(which)
    data = pickle.dumps(v, 4)
    if decode:
        def run(n):
            loads = pickle.loads
            t = now()
            for _ in range(n):
                loads(data)
            return now() - t
    else:
        def run(n):
            dumps = pickle.dumps
            t = now()
            for _ in range(n):
                dumps(v, 4)
            return now() - t
    s = calibrate(run, 16 if which == "bytes1m" else 1000)
    return len(data) / s / 1e6 if which == "bytes1m" else 1 / s


# ---------------------------------------------------------------- manager
# A SyncManager started under fork (its default transport on Linux: an
# AF_UNIX socket), the same calls as bench/mpx_manager.c.

MGR_CLIENTS = 4


def mgr_call(p, kind, k):
    """Call k of a loop: dict set/get alternately, list append, queue
    put/get alternately."""
    if kind == "dict":
        if k % 2 == 0:
            p["k"] = k
        else:
            p["k"]
    elif kind == "list":
        p.append(k)
    elif k % 2 == 0:
        p.put(k)
    else:
        p.get()


def mgr_object(m, kind):
    return m.dict() if kind == "dict" else m.list() if kind == "list" else m.Queue()


def mgr_latency(kind):
    with mp.get_context("fork").Manager() as m:
        p = mgr_object(m, kind)
        for k in range(200):
            mgr_call(p, kind, k)

        def run(n):
            n += n % 2
            t = now()
            for k in range(n):
                mgr_call(p, kind, k)
            return now() - t

        return calibrate(run, 1000) * 1e6


def mgr_race_client(p, kind, i, flags, counts):
    mgr_call(p, kind, 0)  # connect: not counted
    with flags.get_lock():
        flags[0] += 1
    while not flags[1]:
        time.sleep(0.0001)
    k = 0
    while not flags[2]:
        k += 1
        mgr_call(p, kind, k)
    counts[i] = k


def mgr_throughput(kind):
    ctx = mp.get_context("fork")
    with ctx.Manager() as m:
        p = mgr_object(m, kind)
        flags = ctx.Array("i", 3)  # ready, go, stop
        counts = ctx.Array("q", MGR_CLIENTS, lock=False)
        procs = [ctx.Process(target=mgr_race_client, args=(p, kind, i, flags, counts))
                 for i in range(MGR_CLIENTS)]
        for q in procs:
            q.start()
        while flags[0] < MGR_CLIENTS:
            time.sleep(0.001)
        t = now()
        flags[1] = 1
        time.sleep(target() * 2)
        flags[2] = 1
        t = now() - t
        for q in procs:
            q.join()
        if any(q.exitcode != 0 for q in procs):
            raise RuntimeError("a client failed")
        return sum(counts) / t


def obj_small_sender(w, n):
    v = [42, None, 'hello']
    w.send_bytes(b"")
    for _ in range(n):
        w.send(v)
    w.close()


def obj_conn_small():
    """conn.send / conn.recv of [42, None, 'hello'] through a simplex pipe
    (bench/mpx_obj_carry.c: obj_conn_small)."""
    ctx = mp.get_context("fork")

    def run(n):
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=obj_small_sender, args=(w, n))
        p.start()
        w.close()
        r.recv_bytes()
        t = now()
        for _ in range(n):
            r.recv()
        t = now() - t
        p.join()
        r.close()
        return t

    return 1 / calibrate(run, 1000)


# -------------------------------------------------------------------- shm

SHM_BLOCK = 4096
SHM_SUM_N = 10000000


def shm_create_close_unlink():
    from multiprocessing import shared_memory

    def run(n):
        t = now()
        for _ in range(n):
            s = shared_memory.SharedMemory(create=True, size=SHM_BLOCK)
            s.close()
            s.unlink()
        return now() - t

    return calibrate(run, 200) * 1e6


def shm_attach_close():
    from multiprocessing import shared_memory
    blk = shared_memory.SharedMemory(create=True, size=SHM_BLOCK)

    def run(n):
        t = now()
        for _ in range(n):
            s = shared_memory.SharedMemory(blk.name)
            s.close()
        return now() - t

    try:
        return calibrate(run, 200) * 1e6
    finally:
        blk.close()
        blk.unlink()


def shm_sum_10m():
    # without numpy: sum() over the block cast to doubles (Python's way)
    from array import array
    from multiprocessing import shared_memory
    blk = shared_memory.SharedMemory(create=True, size=SHM_SUM_N * 8)
    try:
        blk.buf[:] = array("d", (i * 0.5 for i in range(SHM_SUM_N))).tobytes()
        view = blk.buf.cast("d")

        def run(n):
            t = now()
            for _ in range(n):
                acc = sum(view)
            return now() - t

        try:
            return calibrate(run, 1) * 1e3
        finally:
            view.release()
    finally:
        blk.close()
        blk.unlink()


# ----------------------------------------------------------------- memory
# PSS (proportional set size, /proc/PID/smaps_rollup): a page shared by k
# processes counts 1/k in each, so a parent's and its workers' PSS add up to
# the memory they use together. The C sides read the same field (util.c).

def smaps_kib(pid="self", field="Pss"):
    with open("/proc/%s/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s in smaps_rollup" % field)


def shm_kib(pid="self"):
    """KiB allocated to the memfds and /dev/shm files the process holds open."""
    d = "/proc/%s/fd" % pid
    seen, kib = set(), 0
    for fd in os.listdir(d):
        try:
            link = os.readlink(os.path.join(d, fd))
            if not (link.startswith("/memfd:") or link.startswith("/dev/shm/")):
                continue
            st = os.stat(os.path.join(d, fd))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            kib += st.st_blocks // 2
    return kib


def mem_pool(n, worker):
    """PSS (KiB) of the parent, or the workers' mean, of an idle Pool(n)
    that has run one map of 4n tasks, chunksize 1."""
    pool = mp.get_context("fork").Pool(n)
    try:
        pool.map(square, range(4 * n), chunksize=1)
        if not worker:
            return smaps_kib()
        pids = [w.pid for w in pool._pool]
        if len(pids) != n:
            raise RuntimeError("%d of %d workers" % (len(pids), n))
        return sum(smaps_kib(p) for p in pids) / n
    finally:
        pool.terminate()
        pool.join()


def mem_queue_1g(shm):
    """1024 messages of 1 MiB put into a Queue() nobody gets from. The feeder
    thread sends the first pickle into the pipe and blocks there (64 KiB
    pipe); the rest stay in the queue's buffer (a deque in this process).
    MiB of PSS (or of shared memory held)."""
    q = mp.get_context("fork").Queue()
    for i in range(MEM_QUEUE_MSGS):
        q.put(bytes([i & 255]) * MEM_QUEUE_MSG)
    time.sleep(0.2)  # the feeder has taken the first message and blocks on the pipe
    v = shm_kib() if shm else smaps_kib()
    q.cancel_join_thread()  # exit without waiting for a reader
    q.close()
    return v / 1024


# ---------------------------------------------------------------- figures

FIGURES = {
    "process_fork": lambda: start_join("fork"),
    "process_spawn": lambda: start_join("spawn"),
    "process_forkserver": lambda: start_join("forkserver"),
    "process_spawn_1g": lambda: start_join("spawn", resident=True),
    "process_fork_1g": lambda: start_join("fork", resident=True),
    "pipe_throughput_256": lambda: 1 / pipe_stream(256, 1000),
    "pipe_pingpong_64": pipe_pingpong,
    "pipe_bandwidth_1m": lambda: (1 << 20) / pipe_stream(1 << 20, 8) / 1e6,
    "lock_uncontended": lambda: lock_uncontended(mp.get_context("fork").Lock()),
    "rlock_uncontended": lambda: lock_uncontended(mp.get_context("fork").RLock()),
    "lock_contended_increment": lock_contended,
    "condition_pingpong": condition_pingpong,
    "array_read_nolock": lambda: array_read(False),
    "array_read_lock": lambda: array_read(True),
    "queue_throughput_256": lambda: 1 / queue_stream(256, 1000),
    "queue_bandwidth_1m": lambda: (1 << 20) / queue_stream(1 << 20, 8) / 1e6,
    "queue_2p2c_256": queue_2p2c,
    "pool_map_chunk1": lambda: pool_map(POOL_CHUNK1_TASKS_QUICK if QUICK else POOL_CHUNK1_TASKS_FULL, 1),
    "pool_map_default": lambda: pool_map(POOL_TASKS_QUICK if QUICK else POOL_TASKS_FULL, None),
    "pool_apply_async": pool_apply_async,
    "pool_array_10us": pool_array_10us,
    "pool_apply_latency": lambda: pool_latency(False),
    "pool_map10_latency": lambda: pool_latency(True),
    "mem_pool2_parent": lambda: mem_pool(WORKERS, False),
    "mem_pool2_worker": lambda: mem_pool(WORKERS, True),
    "mem_pool32_parent": lambda: mem_pool(MEM_POOL_BIG, False),
    "mem_pool32_worker": lambda: mem_pool(MEM_POOL_BIG, True),
    "mem_queue_1g_parent": lambda: mem_queue_1g(False),
    "mem_queue_1g_shm": lambda: mem_queue_1g(True),
    "obj_encode_dict1k": lambda: obj_codec("dict1k", False),
    "obj_decode_dict1k": lambda: obj_codec("dict1k", True),
    "obj_encode_ints1k": lambda: obj_codec("ints1k", False),
    "obj_decode_ints1k": lambda: obj_codec("ints1k", True),
    "obj_encode_bytes1m": lambda: obj_codec("bytes1m", False),
    "obj_decode_bytes1m": lambda: obj_codec("bytes1m", True),
    # CPython has one transport: the socket rows and the local rows compare
    # against the same thing
    "mgr_dict_socket": lambda: mgr_latency("dict"),
    "mgr_dict_local": lambda: mgr_latency("dict"),
    "mgr_list_append_local": lambda: mgr_latency("list"),
    "mgr_queue_putget_local": lambda: mgr_latency("queue"),
    "mgr_dict_socket_4clients": lambda: mgr_throughput("dict"),
    "mgr_dict_local_4clients": lambda: mgr_throughput("dict"),
    "obj_conn_small": obj_conn_small,
    # the same as pool_map_chunk1: map of small ints, chunksize=1
    "obj_pool_map_small": lambda: pool_map(POOL_CHUNK1_TASKS_QUICK if QUICK else POOL_CHUNK1_TASKS_FULL, 1),
    "shm_create_close_unlink": shm_create_close_unlink,
    "shm_attach_close": shm_attach_close,
    "shm_sum_10m": shm_sum_10m,
}


def main():
    global QUICK
    args = [a for a in sys.argv[1:] if a != "--quick"]
    QUICK = "--quick" in sys.argv[1:]
    if len(args) != 1 or args[0] not in FIGURES:
        print("usage: bench_mp.py FIGURE [--quick]; figures: " + " ".join(FIGURES), file=sys.stderr)
        print("nan unknown figure")
        return 2
    try:
        v = FIGURES[args[0]]()
    except Exception as e:  # the driver prints nan with the reason
        print("nan cpython: %s: %s" % (type(e).__name__, e))
        return 0
    print("%.9g" % v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
