"""The synchronization workloads on CPython's asyncio or uvloop (the anchors
of bench/sync_bench.ts).

Usage: python3 bench/sync_anchors.py asyncio|uvloop [--quick]
Prints one JSON object: workload name -> best nanoseconds per operation of
three runs, each on a new loop, timed with perf_counter_ns around the loop
run. --quick divides the sizes by 10. Exit code 3 when uvloop is asked for
but not importable, 2 on a bad argument.
"""
import asyncio
import json
import sys
import time


def new_loop(kind):
    if kind == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def queue_put_get(n):
    queue = asyncio.Queue(maxsize=100)

    async def producer():
        for i in range(n):
            await queue.put(i)

    async def consumer():
        for _ in range(n):
            await queue.get()

    await asyncio.gather(producer(), consumer())


async def lock_uncontended(n):
    lock = asyncio.Lock()
    for _ in range(n):
        async with lock:
            pass


async def lock_contended(n):
    lock = asyncio.Lock()
    per_task = n // 10

    async def worker():
        for _ in range(per_task):
            async with lock:
                await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(10)))


async def event_ping_pong(n):
    ping = asyncio.Event()
    pong = asyncio.Event()

    async def pinger():
        for _ in range(n):
            ping.set()
            await pong.wait()
            pong.clear()

    async def ponger():
        for _ in range(n):
            await ping.wait()
            ping.clear()
            pong.set()

    await asyncio.gather(pinger(), ponger())


WORKLOADS = [
    ("queuePutGet", queue_put_get, 200_000),
    ("lockUncontended", lock_uncontended, 1_000_000),
    ("lockContended", lock_contended, 200_000),
    ("eventPingPong", event_ping_pong, 100_000),
]


def main():
    args = sys.argv[1:]
    kind = args[0] if args else "asyncio"
    quick = "--quick" in args
    if kind not in ("asyncio", "uvloop"):
        print(f"unknown loop {kind!r}: use asyncio or uvloop", file=sys.stderr)
        sys.exit(2)
    if kind == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            sys.exit(3)
    results = {}
    for name, workload, size in WORKLOADS:
        n = size // 10 if quick else size
        best = None
        for _ in range(3):
            loop = new_loop(kind)
            t0 = time.perf_counter_ns()
            loop.run_until_complete(workload(n))
            elapsed = time.perf_counter_ns() - t0
            loop.close()
            per_op = elapsed / n
            best = per_op if best is None else min(best, per_op)
        results[name] = round(best, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
