"""asyncio echo servers for the TCP echo benchmark (bench/echo_bench.ts).

    python3 bench/echo_servers/asyncio_echo.py [MODE] [--uvloop]

MODE picks the API, as in bench/echo_servers/aioloop.ts:

- ``protocol`` (the default): an ``asyncio.Protocol`` whose ``data_received``
  writes the bytes back, served by ``loop.create_server()``.
- ``streams``: ``asyncio.start_server()``; each connection loops
  ``reader.read(65536)``, ``writer.write()``, ``await writer.drain()``.
- ``line``: ``asyncio.start_server()``; each connection loops
  ``reader.readline()``, ``writer.write()``, ``await writer.drain()``.
- ``buffered``: an ``asyncio.BufferedProtocol`` that reads into one
  preallocated 64 KiB buffer and writes each read back as a view of it.

Listens on 127.0.0.1, port 0; prints ``PORT <n>`` as the first line of stdout,
then serves until killed (SIGTERM) or until stdin closes. ``--uvloop`` runs the
same server on uvloop instead of the default asyncio loop.
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


class BufferedEcho(asyncio.BufferedProtocol):
    def __init__(self):
        self.buf = memoryview(bytearray(64 * 1024))

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.transport.write(self.buf[:nbytes])


async def close(writer):
    writer.close()
    try:
        await writer.wait_closed()  # retrieves a reset, which is expected
    except ConnectionError:
        pass


async def streams_echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # the peer reset the connection: nothing to do but close
    finally:
        await close(writer)


async def line_echo(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except ConnectionError:
        pass  # the peer reset the connection: nothing to do but close
    finally:
        await close(writer)


async def main(mode):
    loop = asyncio.get_running_loop()
    if mode == "streams":
        server = await asyncio.start_server(streams_echo, "127.0.0.1", 0)
    elif mode == "line":
        server = await asyncio.start_server(line_echo, "127.0.0.1", 0)
    elif mode == "buffered":
        server = await loop.create_server(BufferedEcho, "127.0.0.1", 0)
    else:
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


MODES = ("protocol", "streams", "line", "buffered")

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--uvloop"]
    mode = args[0] if args else "protocol"
    if mode not in MODES or len(args) > 1:
        sys.exit(f"usage: asyncio_echo.py [{'|'.join(MODES)}] [--uvloop]")
    if "--uvloop" in sys.argv[1:]:
        import uvloop

        uvloop.install()
    asyncio.run(main(mode))
