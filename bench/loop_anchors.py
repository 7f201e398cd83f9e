"""The loop-core workloads on CPython's asyncio or uvloop (the anchors).

Usage: python3 bench/loop_anchors.py asyncio|uvloop [--quick] [--repeat N]
Prints one JSON object: workload name -> best nanoseconds per operation of
N runs (default 3), each on a new loop, timed with perf_counter_ns around
scheduling and the loop run. --quick divides the sizes by 10. Exit code 3 when
uvloop is asked for but not importable, 2 on a bad argument.
"""
import asyncio
import json
import random
import sys
import time


def new_loop(kind):
    if kind == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def call_soon_chain(loop, n):
    count = 0

    def step():
        nonlocal count
        count += 1
        if count < n:
            loop.call_soon(step)
        else:
            loop.stop()

    loop.call_soon(step)
    loop.run_forever()


def call_soon_fanout(loop, n):
    count = 0

    def cb():
        nonlocal count
        count += 1
        if count == n:
            loop.stop()

    for _ in range(n):
        loop.call_soon(cb)
    loop.run_forever()


def call_later(loop, n):
    rng = random.Random(42)
    fired = 0
    live = n // 2

    def cb():
        nonlocal fired
        fired += 1
        if fired == live:
            loop.stop()

    for i in range(n):
        handle = loop.call_later(rng.random() * 0.01, cb)
        if i % 2:
            handle.cancel()
    loop.run_forever()


def tasks_sleep0(loop, n):
    async def worker():
        for _ in range(10):
            await asyncio.sleep(0)

    async def main():
        tasks = [loop.create_task(worker()) for _ in range(n)]
        for task in tasks:
            await task

    loop.run_until_complete(main())


def futures(loop, n):
    async def main():
        for i in range(n):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, i)
            await fut

    loop.run_until_complete(main())


WORKLOADS = [
    ("callSoonChain", call_soon_chain, 1_000_000),
    ("callSoonFanout", call_soon_fanout, 1_000_000),
    ("callLater", call_later, 200_000),
    ("tasksSleep0", tasks_sleep0, 20_000),
    ("futures", futures, 200_000),
]


def main():
    args = sys.argv[1:]
    kind = args[0] if args else "asyncio"
    quick = "--quick" in args
    repeat = 3
    if "--repeat" in args:
        try:
            repeat = int(args[args.index("--repeat") + 1])
        except (IndexError, ValueError):
            repeat = 0
        if repeat < 1:
            print("--repeat needs a positive integer", file=sys.stderr)
            sys.exit(2)
    if kind not in ("asyncio", "uvloop"):
        print(f"unknown loop {kind!r}: use asyncio or uvloop", file=sys.stderr)
        sys.exit(2)
    if kind == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print("uvloop is not importable", file=sys.stderr)
            sys.exit(3)
    results = {}
    for name, fn, n in WORKLOADS:
        if quick:
            n //= 10
        best = None
        for _ in range(repeat):
            loop = new_loop(kind)
            t0 = time.perf_counter_ns()
            fn(loop, n)
            elapsed = time.perf_counter_ns() - t0
            loop.close()
            per_op = elapsed / n
            best = per_op if best is None else min(best, per_op)
        results[name] = round(best, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
