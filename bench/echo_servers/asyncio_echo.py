"""asyncio Protocol echo server for the TCP echo benchmark (bench/echo_bench.ts).

    python3 bench/echo_servers/asyncio_echo.py [--uvloop]

Listens on 127.0.0.1, port 0; prints ``PORT <n>`` as the first line of stdout,
then serves until killed (SIGTERM) or until stdin closes. ``--uvloop`` runs the
same protocol on uvloop instead of the default asyncio loop.
"""

import asyncio
import os
import signal
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    done = loop.create_future()

    def finish():
        if not done.done():
            done.set_result(None)

    def on_stdin():
        try:
            data = os.read(sys.stdin.fileno(), 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(sys.stdin.fileno())
            finish()

    try:
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    except (OSError, ValueError, PermissionError):
        pass  # stdin cannot be watched (e.g. /dev/null): serve until killed
    loop.add_signal_handler(signal.SIGTERM, finish)
    async with server:
        await done


if __name__ == "__main__":
    if "--uvloop" in sys.argv[1:]:
        import uvloop

        uvloop.install()
    asyncio.run(main())
