/**
 * probes_test.ts: an aioloop server on 127.0.0.1 port 0 (or a Unix socket
 * at argv[1]) for a client in another process. It prints `port N` (or
 * `listening`), then one line per event, and serves until its stdin closes;
 * then it closes the server and prints `bye`. argv[0] is what each
 * connection gets:
 * - `stream-close`: a `startServer()` handler writes 1 MiB of `pattern()`,
 *   then `writer.close()`;
 * - `close-buffered`: a protocol writes 8 MiB of `pattern()` and calls
 *   `transport.close()` at once (prints `closing N`, N bytes still
 *   buffered);
 * - `abort`: the same, then `transport.abort()` (prints `aborting N`);
 * - `write-eof`: a protocol writes `hello` and `writeEof()`, then reads
 *   until the client's EOF (prints `got TEXT`);
 * - `stream-or-echo`: a protocol echoes, or after the line `stream` writes
 *   without end, as fast as the client reads;
 * - `http`: a `startServer()` HTTP/1.1 keep-alive responder (a fixed 200
 *   response to each request);
 * - `tls`: a `startServer()` TLS server (tests/fixtures/tls) that answers
 *   one line with `echo: LINE`, then `writer.close()`.
 * A protocol mode ending in `+tls` (`close-buffered+tls`) serves over TLS.
 * Every connection prints `lost ID null|ErrorName` from `connectionLost()`
 * (or `done ID` when a handler ends); the exception handler prints
 * `exception MESSAGE`.
 */
import {
  createDefaultContext,
  getRunningLoop,
  IncompleteReadError,
  Protocol,
  run,
  startServer,
  startUnixServer,
  type StreamReader,
  type StreamWriter,
  type Transport,
} from "../../../mod.ts";

const [modeArg, unixPath] = Deno.args;
const [mode, overTls] = modeArg.split("+");
const encoder = new TextEncoder();

function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = i % 251;
  return out;
}

let connections = 0;

/** Prints the protocol's connectionLost(), with the connection's number. */
class Numbered extends Protocol {
  readonly id = ++connections;
  transport!: Transport;
  override connectionMade(transport: Transport): void {
    this.transport = transport;
    console.log(`made ${this.id}`);
  }
  override connectionLost(exc: Error | null): void {
    console.log(`lost ${this.id} ${exc === null ? "null" : exc.name}`);
  }
}

class CloseBuffered extends Numbered {
  override connectionMade(transport: Transport): void {
    super.connectionMade(transport);
    transport.write(pattern(8 << 20));
    if (mode === "abort") {
      console.log(`aborting ${transport.getWriteBufferSize()}`);
      transport.abort();
    } else {
      console.log(`closing ${transport.getWriteBufferSize()}`);
      transport.close();
    }
  }
}

class WriteEof extends Numbered {
  #got = "";
  override connectionMade(transport: Transport): void {
    super.connectionMade(transport);
    transport.write(encoder.encode("hello"));
    transport.writeEof();
    console.log("eof sent");
  }
  override dataReceived(data: Uint8Array): void {
    this.#got += new TextDecoder().decode(data);
  }
  override eofReceived(): boolean {
    console.log(`got ${this.#got}`);
    return false;
  }
}

class StreamOrEcho extends Numbered {
  #paused = false;
  #streaming = false;
  #chunk = new Uint8Array(1 << 16);
  override dataReceived(data: Uint8Array): void {
    if (new TextDecoder().decode(data) === "stream\n") {
      this.#streaming = true;
      this.#pump();
    } else {
      this.transport.write(data);
    }
  }
  override pauseWriting(): void {
    this.#paused = true;
  }
  override resumeWriting(): void {
    this.#paused = false;
    this.#pump();
  }
  #pump(): void {
    // write() calls pauseWriting() past the high-water mark.
    for (let i = 0; i < 64 && !this.#paused; i++) {
      if (this.transport.isClosing()) return;
      this.transport.write(this.#chunk);
    }
    if (!this.#paused && this.#streaming) {
      console.log("exception pauseWriting() never came");
    }
  }
}

const RESPONSE = encoder.encode(
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
);

async function http(reader: StreamReader, writer: StreamWriter) {
  const id = ++connections;
  try {
    for (;;) {
      await reader.readuntil(encoder.encode("\r\n\r\n"));
      writer.write(RESPONSE);
      await writer.drain();
    }
  } catch (error) {
    // The client closing between requests is the normal end; so is a
    // reset: wrk stops with requests in flight and unread responses.
    const gone = error instanceof IncompleteReadError
      ? error.partial.length === 0
      : error instanceof Deno.errors.ConnectionReset ||
        error instanceof Deno.errors.BrokenPipe;
    if (!gone) {
      console.log(`error ${id} ${(error as Error).name}`);
    }
  } finally {
    writer.close();
  }
}

async function streamClose(_reader: StreamReader, writer: StreamWriter) {
  const id = ++connections;
  writer.write(pattern(1 << 20));
  writer.close();
  await writer.waitClosed();
  console.log(`done ${id}`);
}

async function tlsEcho(reader: StreamReader, writer: StreamWriter) {
  const id = ++connections;
  const line = await reader.readline();
  writer.write(encoder.encode("echo: "));
  writer.write(line);
  await writer.drain();
  writer.close();
  await writer.waitClosed();
  console.log(`done ${id}`);
}

/** The server context of tests/fixtures/tls. */
function tls() {
  const folder = new URL("../../fixtures/tls/", import.meta.url);
  const read = (name: string) => Deno.readTextFileSync(new URL(name, folder));
  return createDefaultContext({
    purpose: "clientAuth",
    cert: read("server.pem"),
    key: read("server.key"),
  });
}

const stdinClosed = (async () => {
  for await (const _ of Deno.stdin.readable) {
    // Only its end matters.
  }
})();

await run(async () => {
  const loop = getRunningLoop();
  loop.setExceptionHandler((_loop, context) =>
    console.log(`exception ${context.message}`)
  );
  let server;
  switch (mode) {
    case "stream-close":
      server = unixPath === undefined
        ? await startServer(streamClose, "127.0.0.1", 0)
        : await startUnixServer(streamClose, unixPath);
      break;
    case "http":
      server = await startServer(http, "127.0.0.1", 0);
      break;
    case "tls":
      server = await startServer(tlsEcho, "127.0.0.1", 0, { ssl: tls() });
      break;
    default: {
      const factory = {
        "close-buffered": () => new CloseBuffered(),
        "abort": () => new CloseBuffered(),
        "write-eof": () => new WriteEof(),
        "stream-or-echo": () => new StreamOrEcho(),
      }[mode];
      if (factory === undefined) throw new Error(`unknown mode ${mode}`);
      server = await loop.createServer(factory, "127.0.0.1", 0, {
        ssl: overTls === "tls" ? tls() : undefined,
      });
    }
  }
  if (unixPath === undefined) {
    console.log(
      `port ${(server.sockets[0].getsockname() as [string, number])[1]}`,
    );
  } else {
    console.log("listening");
  }
  await stdinClosed;
  server.close();
  await server.waitClosed();
});
console.log("bye");
