#!/usr/bin/env python3
#
# Simple benchmarks for the multiprocessing package
#
# Copyright (c) 2006-2008, R Oudkerk
# All rights reserved.
#
# The seed's program (shared/seeds/000_e55a7ec4056c8ac0.txt, "Some simple
# benchmarks comparing multiprocessing with threading"), ported from
# Python 2 to Python 3 for the cpython column of bench/run: xrange -> range,
# Queue -> queue, print statements -> print(), time.time ->
# time.perf_counter, and the fork start method fixed (the seed ran under
# fork, the Linux default of its time; Python 3.14 changed the default).
# The tests themselves are unchanged. Two additions:
#
#   seed_benchmarks.py [--delta S]        the seed's full output (delta 1 s)
#   seed_benchmarks.py --figure NAME [--delta S]
#                                         one test, one number (for mpxbench):
#   seed_queue seed_pipe seed_array_nolock seed_array_lock seed_lock
#   seed_rlock seed_condition (the multiprocessing variants)
#   seed_mgr_queue seed_mgr_list seed_mgr_lock seed_mgr_rlock
#   seed_mgr_condition (the variants "managed by server process")
#

import time, sys, multiprocessing, threading, queue, gc

_timer = time.perf_counter

delta = 1

QUIET = False


def report(*args):
    if not QUIET:
        print(*args)


#### TEST_QUEUESPEED

def queuespeed_func(q, c, iterations):
    a = '0' * 256
    c.acquire()
    c.notify()
    c.release()

    for i in range(iterations):
        q.put(a)

    q.put('STOP')

def test_queuespeed(Process, q, c):
    elapsed = 0
    iterations = 1

    while elapsed < delta:
        iterations *= 2

        p = Process(target=queuespeed_func, args=(q, c, iterations))
        c.acquire()
        p.start()
        c.wait()
        c.release()

        result = None
        t = _timer()

        while result != 'STOP':
            result = q.get()

        elapsed = _timer() - t

        p.join()

    report(iterations, 'objects passed through the queue in', elapsed, 'seconds')
    report('average number/sec:', iterations/elapsed)
    return iterations/elapsed


#### TEST_PIPESPEED

def pipe_func(c, cond, iterations):
    a = '0' * 256
    cond.acquire()
    cond.notify()
    cond.release()

    for i in range(iterations):
        c.send(a)

    c.send('STOP')

def test_pipespeed():
    c, d = multiprocessing.Pipe()
    cond = multiprocessing.Condition()
    elapsed = 0
    iterations = 1

    while elapsed < delta:
        iterations *= 2

        p = multiprocessing.Process(target=pipe_func,
                                    args=(d, cond, iterations))
        cond.acquire()
        p.start()
        cond.wait()
        cond.release()

        result = None
        t = _timer()

        while result != 'STOP':
            result = c.recv()

        elapsed = _timer() - t
        p.join()

    report(iterations, 'objects passed through connection in', elapsed, 'seconds')
    report('average number/sec:', iterations/elapsed)
    return iterations/elapsed


#### TEST_SEQSPEED

def test_seqspeed(seq):
    elapsed = 0
    iterations = 1

    while elapsed < delta:
        iterations *= 2

        t = _timer()

        for i in range(iterations):
            a = seq[5]

        elapsed = _timer()-t

    report(iterations, 'iterations in', elapsed, 'seconds')
    report('average number/sec:', iterations/elapsed)
    return iterations/elapsed


#### TEST_LOCK

def test_lockspeed(l):
    elapsed = 0
    iterations = 1

    while elapsed < delta:
        iterations *= 2

        t = _timer()

        for i in range(iterations):
            l.acquire()
            l.release()

        elapsed = _timer()-t

    report(iterations, 'iterations in', elapsed, 'seconds')
    report('average number/sec:', iterations/elapsed)
    return iterations/elapsed


#### TEST_CONDITION

def conditionspeed_func(c, N):
    c.acquire()
    c.notify()

    for i in range(N):
        c.wait()
        c.notify()

    c.release()

def test_conditionspeed(Process, c):
    elapsed = 0
    iterations = 1

    while elapsed < delta:
        iterations *= 2

        c.acquire()
        p = Process(target=conditionspeed_func, args=(c, iterations))
        p.start()

        c.wait()

        t = _timer()

        for i in range(iterations):
            c.notify()
            c.wait()

        elapsed = _timer()-t

        c.release()
        p.join()

    report(iterations * 2, 'waits in', elapsed, 'seconds')
    report('average number/sec:', iterations * 2 / elapsed)
    return iterations * 2 / elapsed

####

def test():
    manager = multiprocessing.Manager()

    gc.disable()

    print('\n\t######## testing Queue.Queue\n')
    test_queuespeed(threading.Thread, queue.Queue(),
                    threading.Condition())
    print('\n\t######## testing multiprocessing.Queue\n')
    test_queuespeed(multiprocessing.Process, multiprocessing.Queue(),
                    multiprocessing.Condition())
    print('\n\t######## testing Queue managed by server process\n')
    test_queuespeed(multiprocessing.Process, manager.Queue(),
                    manager.Condition())
    print('\n\t######## testing multiprocessing.Pipe\n')
    test_pipespeed()

    print()

    print('\n\t######## testing list\n')
    test_seqspeed(list(range(10)))
    print('\n\t######## testing list managed by server process\n')
    test_seqspeed(manager.list(list(range(10))))
    print('\n\t######## testing Array("i", ..., lock=False)\n')
    test_seqspeed(multiprocessing.Array('i', list(range(10)), lock=False))
    print('\n\t######## testing Array("i", ..., lock=True)\n')
    test_seqspeed(multiprocessing.Array('i', list(range(10)), lock=True))

    print()

    print('\n\t######## testing threading.Lock\n')
    test_lockspeed(threading.Lock())
    print('\n\t######## testing threading.RLock\n')
    test_lockspeed(threading.RLock())
    print('\n\t######## testing multiprocessing.Lock\n')
    test_lockspeed(multiprocessing.Lock())
    print('\n\t######## testing multiprocessing.RLock\n')
    test_lockspeed(multiprocessing.RLock())
    print('\n\t######## testing lock managed by server process\n')
    test_lockspeed(manager.Lock())
    print('\n\t######## testing rlock managed by server process\n')
    test_lockspeed(manager.RLock())

    print()

    print('\n\t######## testing threading.Condition\n')
    test_conditionspeed(threading.Thread, threading.Condition())
    print('\n\t######## testing multiprocessing.Condition\n')
    test_conditionspeed(multiprocessing.Process, multiprocessing.Condition())
    print('\n\t######## testing condition managed by a server process\n')
    test_conditionspeed(multiprocessing.Process, manager.Condition())

    gc.enable()


FIGURES = {
    'seed_queue': lambda: test_queuespeed(multiprocessing.Process, multiprocessing.Queue(),
                                          multiprocessing.Condition()),
    'seed_pipe': test_pipespeed,
    'seed_array_nolock': lambda: test_seqspeed(multiprocessing.Array('i', list(range(10)), lock=False)),
    'seed_array_lock': lambda: test_seqspeed(multiprocessing.Array('i', list(range(10)), lock=True)),
    'seed_lock': lambda: test_lockspeed(multiprocessing.Lock()),
    'seed_rlock': lambda: test_lockspeed(multiprocessing.RLock()),
    'seed_condition': lambda: test_conditionspeed(multiprocessing.Process, multiprocessing.Condition()),
    'seed_mgr_queue': lambda: with_manager(lambda m: test_queuespeed(multiprocessing.Process, m.Queue(),
                                                                     m.Condition())),
    'seed_mgr_list': lambda: with_manager(lambda m: test_seqspeed(m.list(list(range(10))))),
    'seed_mgr_lock': lambda: with_manager(lambda m: test_lockspeed(m.Lock())),
    'seed_mgr_rlock': lambda: with_manager(lambda m: test_lockspeed(m.RLock())),
    'seed_mgr_condition': lambda: with_manager(lambda m: test_conditionspeed(multiprocessing.Process,
                                                                             m.Condition())),
}


def with_manager(fn):
    with multiprocessing.Manager() as manager:
        return fn(manager)


def main():
    global delta, QUIET
    args = sys.argv[1:]
    figure = None
    while args:
        a = args.pop(0)
        if a == '--delta' and args:
            delta = float(args.pop(0))
        elif a == '--figure' and args:
            figure = args.pop(0)
        else:
            print('usage: seed_benchmarks.py [--figure NAME] [--delta S]', file=sys.stderr)
            return 2
    multiprocessing.set_start_method('fork', force=True)
    if figure is None:
        test()
        return 0
    if figure not in FIGURES:
        print('nan unknown figure %s' % figure)
        return 0
    QUIET = True
    gc.disable()
    try:
        v = FIGURES[figure]()
    except Exception as e:
        print('nan cpython: %s: %s' % (type(e).__name__, e))
        return 0
    print('%.9g' % v)
    return 0


if __name__ == '__main__':
    multiprocessing.freeze_support()
    sys.exit(main())
