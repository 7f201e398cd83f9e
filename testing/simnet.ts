/**
 * A simulated network for tests: named hosts with addresses and ports, TCP
 * with latency, bandwidth, flow control, EOF, resets and refusals, all on
 * the virtual clock, with faults (partitions, held bytes, crashed hosts)
 * placed where a test wants them. The program under test does not change:
 * its loop's sockets open their listeners and connections on the simulated
 * network instead of Deno's, through the same seam (`NetBackend`), so
 * `createServer`, `createConnection`, `startServer`, `openConnection`, the
 * `sock*` methods and `getaddrinfo` all work as they do on a real network.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { AbstractEventLoop } from "../loop/core/abstract_loop.ts";
import type { TimerHandle } from "../loop/core/handles.ts";
import { allTasks, createTask, type Task } from "../loop/core/tasks.ts";
import { AF_INET, AF_INET6 } from "../loop/net/addrinfo.ts";
import type {
  DatagramSink,
  DgramBackend,
  NetBackend,
  SocketAddress,
  StreamConn,
  StreamListener,
  TcpListenOptions,
} from "../loop/net/types.ts";
import type { AbstractEventLoopPolicy } from "../policy/abstract_policy.ts";
import { DefaultEventLoopPolicy } from "../policy/default_policy.ts";
import { run } from "../policy/runners.ts";
import { useEventLoopPolicy, VirtualTimeEventLoop } from "./virtual_time.ts";

/** Bytes a receiver buffers before the sender must wait (the TCP window). */
const WINDOW = 64 * 1024;
/** How long a connect waits for an answer before `TimedOut` (Linux: ~127 s). */
const CONNECT_TIMEOUT = 127;
/** The first ephemeral port (IANA's dynamic range). */
const FIRST_EPHEMERAL_PORT = 49152;

/** One event of the simulated network, for assertions and failure reports. */
export interface SimEvent {
  /** Virtual time, in seconds. */
  time: number;
  /** What happened: `connect`, `accept`, `refused`, `data`, `eof`, `reset`, a fault, ... */
  kind: string;
  /** The sending side, as `host:port` (or a host name for faults). */
  from: string;
  /** The receiving side. */
  to: string;
  /** Bytes carried, for `data`. */
  bytes?: number;
}

/** The properties of the link from one host to another. */
export interface LinkOptions {
  /** One-way delay in seconds (default: the network's, 0.001). */
  latency?: number;
  /** Extra random delay, uniform in [0, jitter) seconds; bytes stay in order. */
  jitter?: number;
  /** Bytes per second (default: unlimited). */
  bandwidth?: number;
  /** Datagrams only: the probability (0 to 1) that one is lost. */
  loss?: number;
  /** Datagrams only: the probability that one arrives twice. */
  duplicate?: number;
  /**
   * Datagrams only: the probability that one is delayed by up to twice the
   * latency more, so that later ones overtake it.
   */
  reorder?: number;
}

/** Options of a `SimNetwork`. */
export interface SimNetworkOptions {
  /**
   * Where the random choices (jitter, loss, duplication, reordering) start:
   * the same number, the same run.
   */
  random?: number;
  /** The default one-way latency of every link, in seconds (0.001). */
  latency?: number;
}

const hostContext = new AsyncLocalStorage<SimHost>();

/** A small deterministic generator (mulberry32). */
function generator(start: number): () => number {
  let a = start >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkSeconds(value: unknown, what: string): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `${what} must be a number of seconds, got ${typeof value}`,
    );
  }
  if (Number.isNaN(value) || value < 0 || value === Infinity) {
    throw new RangeError(`${what} must be a finite number >= 0, got ${value}`);
  }
  return value;
}

/**
 * A host of a `SimNetwork`: a name, its addresses (and loopback), its own
 * ports. Code run with `host.run()` (and every task it creates) opens its
 * sockets on this host.
 */
export class SimHost {
  /** The host's name, which `getaddrinfo` resolves. */
  readonly name: string;
  /** The host's addresses (loopback not included). */
  readonly addresses: readonly string[];
  /** @ignore */ readonly _network: SimNetwork;
  /** @ignore Listeners by `address:port` (address `*` for a wildcard). */
  readonly _listeners: Map<string, SimListener> = new Map();
  /** @ignore Open connections of this host. */
  readonly _conns: Set<SimConn> = new Set();
  /** @ignore Ports in use by connections and listeners. */
  readonly _ports: Set<number> = new Set();
  /** @ignore Bound datagram sockets by port. */
  readonly _udp: Map<number, SimDgram[]> = new Map();
  /** @ignore */ _nextPort = FIRST_EPHEMERAL_PORT;
  /** @ignore */ _crashed = false;

  /** @ignore Hosts come from `SimNetwork.addHost()`. */
  constructor(network: SimNetwork, name: string, addresses: string[]) {
    this._network = network;
    this.name = name;
    this.addresses = addresses;
  }

  /** Whether the host is down (crashed and not restarted). */
  get crashed(): boolean {
    return this._crashed;
  }

  /**
   * Runs `fn` as a task on this host, on the running loop: its sockets,
   * and those of every task it creates, belong to this host.
   *
   * @param fn The coroutine function.
   * @returns The task.
   * @throws {RuntimeError} when no loop is running.
   * @throws {Deno.errors.NotConnected} when the host is down.
   * @example
   * ```ts
   * import { run, startServer } from "@aio/loop";
   * import { SimNetwork } from "@aio/loop/testing";
   * import assert from "node:assert/strict";
   *
   * const net = new SimNetwork();
   * const server = net.addHost("server");
   * using _policy = net.use();
   * await run(async () => {
   *   const port = await server.run(async () => {
   *     const srv = await startServer(() => {}, "0.0.0.0", 0);
   *     const [, port] = srv.sockets[0].getsockname();
   *     srv.close();
   *     return port;
   *   });
   *   assert(port >= 49152);
   * });
   * ```
   */
  run<T>(fn: () => Promise<T>): Task<T> {
    if (this._crashed) {
      throw new Deno.errors.NotConnected(`host ${this.name} is down`);
    }
    return hostContext.run(this, () => createTask(fn));
  }

  /** @ignore Whether `address` names this host. */
  _owns(address: string): boolean {
    return this.addresses.includes(address) || isLoopback(address);
  }

  /** @ignore The datagram socket that gets what is sent to `address`:`port`. */
  _udpReceiver(address: string, port: number): SimDgram | null {
    const bound = this._udp.get(port);
    if (bound === undefined) return null;
    for (const sock of bound) {
      if (sock.address === address) return sock;
    }
    for (const sock of bound) {
      if (isWildcard(sock.address)) return sock;
    }
    return null;
  }

  /** @ignore A free ephemeral port (TCP's, or with `udp` UDP's). */
  _ephemeralPort(udp = false): number {
    for (let i = 0; i < 16384; i++) {
      const port = this._nextPort;
      this._nextPort = port === 65535 ? FIRST_EPHEMERAL_PORT : port + 1;
      if (udp ? !this._udp.has(port) : !this._ports.has(port)) return port;
    }
    throw new Deno.errors.AddrInUse(`host ${this.name}: no free port`);
  }

  /** A description like `<SimHost server 10.0.0.1>`. */
  toString(): string {
    return `<SimHost ${this.name} ${this.addresses.join(",")}${
      this._crashed ? " down" : ""
    }>`;
  }
}

function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.");
}

function isWildcard(address: string): boolean {
  return address === "0.0.0.0" || address === "::" || address === "";
}

function netAddr(hostname: string, port: number): Deno.NetAddr {
  return { transport: "tcp", hostname, port };
}

/** A port, or for a Unix socket its path ("" for an unbound client). */
function addrLabel(addr: Deno.Addr): string {
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return addr.path || "(unix)";
  }
  return String((addr as Deno.NetAddr).port);
}

/** Frees the TCP port `addr` holds on `host` (Unix sockets hold none). */
function releasePort(host: SimHost, addr: Deno.Addr): void {
  if (addr.transport === "tcp") host._ports.delete(addr.port);
}

interface Segment {
  when: number;
  kind: "data" | "eof" | "reset";
  data?: Uint8Array;
}

/** One direction of a connection: bytes on the wire, in order. */
class Wire {
  readonly queue: Segment[] = [];
  timer: TimerHandle | null = null;
  last = 0;
  /** Segments held by a partition or `hold()`, sent on repair/release. */
  held: Segment[] = [];
}

/** One end of a simulated TCP connection (`Deno.Conn`'s shape). */
class SimConn implements StreamConn {
  readonly localAddr: Deno.Addr;
  readonly remoteAddr: Deno.Addr;
  readonly host: SimHost;
  readonly peerHost: SimHost;
  peer: SimConn | null = null;
  /** Whether the connection holds its local port (a client's own port). */
  ownsPort = false;
  /** Toward the peer. */
  readonly out = new Wire();
  #recv: Uint8Array[] = [];
  #recvBytes = 0;
  /** Bytes sent and not yet read by the peer (the window in use). */
  unacked = 0;
  #eof = false;
  #error: Error | null = null;
  #closed = false;
  #wroteEof = false;
  #reader:
    | {
      p: Uint8Array;
      resolve: (n: number | null) => void;
      reject: (e: Error) => void;
    }
    | null = null;
  #writers: {
    data: Uint8Array;
    resolve: (n: number) => void;
    reject: (e: Error) => void;
  }[] = [];

  constructor(
    host: SimHost,
    peerHost: SimHost,
    local: Deno.Addr,
    remote: Deno.Addr,
  ) {
    this.host = host;
    this.peerHost = peerHost;
    this.localAddr = local;
    this.remoteAddr = remote;
    host._conns.add(this);
  }

  get label(): string {
    return `${this.host.name}:${addrLabel(this.localAddr)}`;
  }

  get peerLabel(): string {
    return `${this.peerHost.name}:${addrLabel(this.remoteAddr)}`;
  }

  read(p: Uint8Array): Promise<number | null> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("Bad resource ID"));
    }
    if (this.#reader !== null) {
      return Promise.reject(new Deno.errors.Busy("a read is in progress"));
    }
    if (this.#recvBytes > 0) return Promise.resolve(this.#take(p));
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#eof) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#reader = { p, resolve, reject };
      this.host._network._pendingReads++;
    });
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("Bad resource ID"));
    }
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#wroteEof) {
      return Promise.reject(
        new Deno.errors.BrokenPipe("Broken pipe (os error 32)"),
      );
    }
    if (p.length === 0) return Promise.resolve(0);
    if (this.#writers.length === 0 && this.unacked < WINDOW) {
      return Promise.resolve(this.#send(p));
    }
    return new Promise((resolve, reject) => {
      this.#writers.push({ data: p, resolve, reject });
      this.host._network._pendingWrites++;
    });
  }

  closeWrite(): void {
    if (this.#closed || this.#wroteEof) return;
    this.#wroteEof = true;
    this.host._network._transmit(this, "eof");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.host._conns.delete(this);
    if (this.ownsPort) releasePort(this.host, this.localAddr);
    // A read or write still waiting is cancelled, as Deno's own are.
    this.#failWaiters(new Deno.errors.Interrupted("operation canceled"));
    if (this.#error === null) {
      if (this.#recvBytes > 0) {
        // Closed with unread data: the kernel resets the connection.
        this.#recv = [];
        this.#recvBytes = 0;
        this.host._network._transmit(this, "reset");
      } else if (!this.#wroteEof) {
        this.#wroteEof = true;
        this.host._network._transmit(this, "eof");
      }
    }
  }

  setNoDelay(): void {}
  setKeepAlive(): void {}

  /** Copies what is buffered into `p`. */
  #take(p: Uint8Array): number {
    let n = 0;
    while (n < p.length && this.#recv.length > 0) {
      const chunk = this.#recv[0];
      const count = Math.min(chunk.length, p.length - n);
      p.set(chunk.subarray(0, count), n);
      n += count;
      if (count === chunk.length) this.#recv.shift();
      else this.#recv[0] = chunk.subarray(count);
    }
    this.#recvBytes -= n;
    // The window opens: the sender may go on (acknowledgements are not
    // delayed in this model).
    const peer = this.peer;
    if (peer !== null) {
      peer.unacked -= n;
      peer._pump();
    }
    return n;
  }

  /** Accepts `p` into the window and puts it on the wire. */
  #send(p: Uint8Array): number {
    const n = Math.min(p.length, WINDOW - this.unacked);
    this.unacked += n;
    this.host._network._transmit(this, "data", p.slice(0, n));
    return n;
  }

  /** Writers waiting for room go on while there is some. */
  _pump(): void {
    while (this.#writers.length > 0 && this.unacked < WINDOW) {
      const writer = this.#writers.shift()!;
      this.host._network._pendingWrites--;
      writer.resolve(this.#send(writer.data));
    }
  }

  /** A segment arrived from the peer. */
  _arrive(segment: Segment): void {
    if (this.#closed) {
      // Data for a closed socket: the kernel answers with a reset.
      if (segment.kind === "data" && this.peer !== null) {
        this.host._network._transmit(this, "reset");
      }
      return;
    }
    if (segment.kind === "data") {
      this.#recv.push(segment.data!);
      this.#recvBytes += segment.data!.length;
    } else if (segment.kind === "eof") {
      this.#eof = true;
    } else {
      this._reset();
      return;
    }
    const reader = this.#reader;
    if (reader !== null) {
      this.#reader = null;
      this.host._network._pendingReads--;
      if (this.#recvBytes > 0) reader.resolve(this.#take(reader.p));
      else reader.resolve(null);
    }
  }

  /** The connection was reset: every operation fails from now on. */
  _reset(): void {
    if (this.#error !== null) return;
    this.#error = new Deno.errors.ConnectionReset(
      "Connection reset by peer (os error 104)",
    );
    this.#recv = [];
    this.#recvBytes = 0;
    this.#failWaiters(this.#error);
  }

  #failWaiters(error: Error): void {
    const reader = this.#reader;
    if (reader !== null) {
      this.#reader = null;
      this.host._network._pendingReads--;
      reader.reject(error);
    }
    const writers = this.#writers;
    this.#writers = [];
    for (const writer of writers) {
      this.host._network._pendingWrites--;
      writer.reject(error);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** A simulated datagram socket (the `DgramBackend` the sockets use). */
class SimDgram implements DgramBackend {
  readonly family: number;
  reuse: boolean;
  readonly host: SimHost;
  readonly #network: SimNetwork;
  address = "";
  #port = 0;
  #bound = false;
  #peer: [string, number] | null = null;
  #sink: DatagramSink | null = null;
  #closed = false;
  /** Its host crashed: it sends and receives nothing any more. */
  _dead = false;

  constructor(
    network: SimNetwork,
    host: SimHost,
    family: number,
    reuse: boolean,
  ) {
    this.#network = network;
    this.host = host;
    this.family = family;
    this.reuse = reuse;
    network._openDatagrams++;
  }

  get bound(): boolean {
    return this.#bound;
  }

  get peer(): SocketAddress | null {
    return this.#peer === null ? null : [this.#peer[0], this.#peer[1]];
  }

  bind(address: SocketAddress): void {
    const [hostname, port] = address as [string, number];
    const host = this.host;
    if (!isWildcard(hostname) && !host._owns(hostname)) {
      throw new Deno.errors.AddrNotAvailable(
        `Cannot assign requested address (os error 99): ${hostname} is not an address of host ${host.name}`,
      );
    }
    const chosen = port === 0 ? host._ephemeralPort(true) : port;
    const bound = host._udp.get(chosen) ?? [];
    if (
      bound.some((s) =>
        !(s.reuse && this.reuse) &&
        (s.address === hostname || isWildcard(s.address) ||
          isWildcard(hostname))
      )
    ) {
      throw new Deno.errors.AddrInUse(
        `Address already in use (os error 98): ${host.name} UDP port ${chosen}`,
      );
    }
    bound.push(this);
    host._udp.set(chosen, bound);
    this.address = isWildcard(hostname)
      ? (this.family === AF_INET6 ? "::" : "0.0.0.0")
      : hostname;
    this.#port = chosen;
    this.#bound = true;
  }

  connect(address: SocketAddress): void {
    const [hostname, port] = address as [string, number];
    if (!this.#bound) {
      this.bind([isLoopback(hostname) ? hostname : "", 0]);
    }
    this.#peer = [hostname, port];
  }

  send(
    data: Uint8Array,
    address: SocketAddress | null,
    done: (error: Error | null) => void,
  ): void {
    if (this.#closed) {
      done(new Deno.errors.BadResource("the datagram socket is closed"));
      return;
    }
    if (!this.#bound) this.bind(["", 0]);
    const [hostname, port] = (address ?? this.#peer) as [string, number];
    if (!this._dead && !this.host._crashed) {
      this.#network._sendDatagram(this, data, hostname, port);
    }
    done(null);
  }

  setSink(sink: DatagramSink | null): void {
    this.#sink = sink;
  }

  setBroadcast(): void {}

  sockname(): SocketAddress {
    if (!this.#bound) {
      return [this.family === AF_INET6 ? "::" : "0.0.0.0", 0];
    }
    const address = isWildcard(this.address)
      ? (this.host.addresses[0] ?? "127.0.0.1")
      : this.address;
    return [address, this.#port];
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#network._openDatagrams--;
      this.#sink = null;
      if (this.#bound) {
        const bound = this.host._udp.get(this.#port) ?? [];
        const rest = bound.filter((s) => s !== this);
        // Only while it is still this socket's binding (not after a crash
        // that cleared the host's ports).
        if (bound.includes(this)) {
          if (rest.length === 0) this.host._udp.delete(this.#port);
          else this.host._udp.set(this.#port, rest);
        }
      }
    }
    return Promise.resolve();
  }

  /** A datagram arrived. */
  _receive(data: Uint8Array, fromAddress: string, fromPort: number): void {
    const peer = this.#peer;
    if (peer !== null && (peer[1] !== fromPort || peer[0] !== fromAddress)) {
      return;
    }
    this.#sink?.(data, [fromAddress, fromPort]);
  }
}

/** A simulated TCP listener (`Deno.Listener`'s shape). */
class SimListener implements StreamListener {
  readonly addr: Deno.Addr;
  readonly host: SimHost;
  readonly key: string;
  #backlog: SimConn[] = [];
  #acceptor:
    | { resolve: (c: StreamConn) => void; reject: (e: Error) => void }
    | null = null;
  #closed = false;
  /** Its host crashed: nothing reaches it any more. */
  #dead = false;

  constructor(host: SimHost, key: string, addr: Deno.Addr) {
    this.host = host;
    this.key = key;
    this.addr = addr;
  }

  accept(): Promise<StreamConn> {
    if (this.#closed) {
      return Promise.reject(
        new Deno.errors.BadResource("Listener has been closed"),
      );
    }
    const conn = this.#backlog.shift();
    if (conn !== undefined) return Promise.resolve(conn);
    return new Promise((resolve, reject) => {
      this.#acceptor = { resolve, reject };
      this.host._network._pendingReads++;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#release();
    const acceptor = this.#acceptor;
    if (acceptor !== null) {
      this.#acceptor = null;
      this.host._network._pendingReads--;
      acceptor.reject(new Deno.errors.BadResource("Listener has been closed"));
    }
    // Connections not yet accepted are reset, as the kernel does.
    for (const conn of this.#backlog) {
      if (conn.peer !== null) this.host._network._transmit(conn, "reset");
      conn._reset();
      conn.close();
    }
    this.#backlog = [];
  }

  /** Gives up its name and port, unless they went to another listener. */
  #release(): void {
    if (this.host._listeners.get(this.key) === this) {
      this.host._listeners.delete(this.key);
      releasePort(this.host, this.addr);
    }
  }

  unref(): void {}

  /** Its host crashed: it stops existing on the network, silently. */
  _kill(): void {
    this.#release();
    this.#dead = true;
    for (const conn of this.#backlog) conn._reset();
    this.#backlog = [];
  }

  /** A connection arrived. */
  _incoming(conn: SimConn): void {
    if (this.#dead || this.#closed) return;
    const acceptor = this.#acceptor;
    if (acceptor !== null) {
      this.#acceptor = null;
      this.host._network._pendingReads--;
      acceptor.resolve(conn);
    } else {
      this.#backlog.push(conn);
    }
  }
}

/**
 * A simulated network. Declare hosts with `addHost()`, make it the policy
 * with `use()` (or pass `policy()` to `useEventLoopPolicy`), and run code on
 * a host with `host.run()`. Its loops run on the virtual clock.
 *
 * @example A client and a server on two hosts
 * ```ts
 * import { openConnection, run, startServer } from "@aio/loop";
 * import { SimNetwork } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 *
 * const net = new SimNetwork({ random: 1 });
 * const server = net.addHost("server");
 * const client = net.addHost("client");
 * using _policy = net.use();
 * await run(async () => {
 *   const srv = await server.run(() =>
 *     startServer(async (reader, writer) => {
 *       writer.write(await reader.readline());
 *       await writer.drain();
 *       writer.close();
 *     }, "0.0.0.0", 7000)
 *   );
 *   const reply = await client.run(async () => {
 *     const [reader, writer] = await openConnection("server", 7000);
 *     writer.write(new TextEncoder().encode("ping\n"));
 *     const line = await reader.readline();
 *     writer.close();
 *     return new TextDecoder().decode(line);
 *   });
 *   assert.equal(reply, "ping\n");
 *   srv.close();
 *   await srv.waitClosed();
 * });
 * assert(net.trace.some((e) => e.kind === "connect"));
 * ```
 */
export class SimNetwork {
  /** Every network event so far, in order. */
  readonly trace: SimEvent[] = [];
  readonly #hosts = new Map<string, SimHost>();
  readonly #byAddress = new Map<string, SimHost>();
  readonly #links = new Map<string, LinkOptions>();
  /** Directions cut: `from>to`. */
  readonly #cut = new Set<string>();
  /** Directions whose bytes are held: `from>to`. */
  readonly #holding = new Set<string>();
  readonly #random: () => number;
  readonly #latency: number;
  #nextAddress = 1;
  #loop: SimEventLoop | null = null;
  #defaultHost: SimHost | null = null;
  /** @ignore Reads and accepts waiting on the simulation. */
  _pendingReads = 0;
  /** @ignore Open datagram sockets (each may hold a wait on peers). */
  _openDatagrams = 0;
  /** @ignore Writes and connects waiting on the simulation. */
  _pendingWrites = 0;
  /** @ignore The backend the loops' sockets use. */
  readonly _backend: NetBackend;

  /**
   * Creates an empty network.
   *
   * @param options `random` (default 1), `latency` (default 0.001 s).
   * @throws {RangeError} for a negative or NaN latency.
   */
  constructor(options: SimNetworkOptions = {}) {
    this.#random = generator(options.random ?? 1);
    this.#latency = checkSeconds(options.latency ?? 0.001, "latency");
    this._backend = this.#makeBackend();
  }

  /**
   * Adds a host. Its addresses default to the next free `10.0.0.N`.
   *
   * @throws {Deno.errors.AlreadyExists} for a name or address in use.
   * @throws {TypeError} for a name that is not a non-empty string.
   */
  addHost(name: string, options: { addresses?: string[] } = {}): SimHost {
    if (typeof name !== "string" || name === "") {
      throw new TypeError("a host name must be a non-empty string");
    }
    if (this.#hosts.has(name)) {
      throw new Deno.errors.AlreadyExists(`host ${name} exists`);
    }
    const addresses = options.addresses ?? [`10.0.0.${this.#nextAddress++}`];
    for (const address of addresses) {
      if (this.#byAddress.has(address)) {
        throw new Deno.errors.AlreadyExists(`address ${address} is in use`);
      }
    }
    const host = new SimHost(this, name, [...addresses]);
    this.#hosts.set(name, host);
    for (const address of addresses) this.#byAddress.set(address, host);
    return host;
  }

  /**
   * The host named `name`.
   *
   * @throws {RangeError} for an unknown host (so does every fault).
   */
  host(name: string): SimHost {
    const host = this.#hosts.get(name);
    if (host === undefined) {
      throw new RangeError(
        `no host named ${JSON.stringify(name)} in this network (hosts: ${
          [...this.#hosts.keys()].join(", ") || "none"
        })`,
      );
    }
    return host;
  }

  /** A new loop on this network (virtual clock, simulated sockets). */
  newEventLoop(): SimEventLoop {
    const loop = new SimEventLoop(this);
    this.#loop = loop;
    return loop;
  }

  /** A policy whose loops are this network's. */
  policy(): AbstractEventLoopPolicy {
    return new SimNetworkPolicy(this);
  }

  /**
   * Makes this network's policy current; the returned `Disposable` puts the
   * previous policy back (`using _ = net.use()`).
   */
  use(): Disposable {
    return useEventLoopPolicy(this.policy());
  }

  /**
   * Sets the link from `a` to `b` (and from `b` to `a` unless `oneWay`).
   *
   * @throws {RangeError} for an unknown host.
   * @throws {RangeError} for a negative or NaN latency, jitter or bandwidth.
   */
  setLink(
    a: string,
    b: string,
    options: LinkOptions,
    { oneWay = false }: { oneWay?: boolean } = {},
  ): void {
    this.host(a);
    this.host(b);
    const link: LinkOptions = {};
    if (options.latency !== undefined) {
      link.latency = checkSeconds(options.latency, "latency");
    }
    if (options.jitter !== undefined) {
      link.jitter = checkSeconds(options.jitter, "jitter");
    }
    if (options.bandwidth !== undefined) {
      const bw = options.bandwidth;
      if (typeof bw !== "number") {
        throw new TypeError(`bandwidth must be a number, got ${typeof bw}`);
      }
      if (!(bw > 0)) {
        throw new RangeError(`bandwidth must be > 0 bytes/s, got ${bw}`);
      }
      link.bandwidth = bw;
    }
    for (const key of ["loss", "duplicate", "reorder"] as const) {
      const p = options[key];
      if (p === undefined) continue;
      if (typeof p !== "number") {
        throw new TypeError(`${key} must be a probability, got ${typeof p}`);
      }
      if (!(p >= 0 && p <= 1)) {
        throw new RangeError(`${key} must be between 0 and 1, got ${p}`);
      }
      link[key] = p;
    }
    this.#links.set(`${a}>${b}`, link);
    if (!oneWay) this.#links.set(`${b}>${a}`, link);
  }

  /**
   * Cuts the network between `a` and `b` (only `a` → `b` with `oneWay`).
   * Bytes sent meanwhile wait, as TCP retransmits them, and go through on
   * `repair()`; a connect waits (and times out after 127 s).
   *
   * @throws {RangeError} for an unknown host.
   */
  partition(a: string, b: string, { oneWay = false } = {}): void {
    this.host(a);
    this.host(b);
    this.#cut.add(`${a}>${b}`);
    this.#holdInFlight(a, b);
    if (!oneWay) {
      this.#cut.add(`${b}>${a}`);
      this.#holdInFlight(b, a);
    }
    this.#record("partition", a, b);
  }

  /**
   * Repairs a partition (every one when called without hosts); held bytes
   * go on their way.
   */
  repair(a?: string, b?: string): void {
    if (a === undefined || b === undefined) {
      this.#cut.clear();
      this.#record("repair", "*", "*");
    } else {
      this.host(a);
      this.host(b);
      this.#cut.delete(`${a}>${b}`);
      this.#cut.delete(`${b}>${a}`);
      this.#record("repair", a, b);
    }
    this.#flushHeld();
  }

  /** Holds the bytes sent from `a` to `b` until `release()`. */
  hold(a: string, b: string): void {
    this.host(a);
    this.host(b);
    this.#holding.add(`${a}>${b}`);
    this.#holdInFlight(a, b);
    this.#record("hold", a, b);
  }

  /** Releases what `hold()` held. */
  release(a: string, b: string): void {
    this.#holding.delete(`${a}>${b}`);
    this.#record("release", a, b);
    this.#flushHeld();
  }

  /**
   * Crashes a host: its connections are reset (their peers see
   * `ConnectionReset`), its listeners close, its tasks are cancelled, and
   * nothing reaches it until `restart()`.
   */
  crash(name: string): void {
    const host = this.host(name);
    if (host._crashed) return;
    host._crashed = true;
    this.#record("crash", name, name);
    for (const conn of [...host._conns]) {
      if (conn.peer !== null && !conn.peer.closed) {
        this._transmit(conn, "reset");
      }
      conn._reset();
      conn.close();
    }
    // Its listeners are gone with it (their port free after a restart);
    // an accept pending on one never completes, as in a dead process.
    for (const listener of [...host._listeners.values()]) listener._kill();
    for (const bound of host._udp.values()) {
      for (const sock of bound) sock._dead = true;
    }
    host._udp.clear();
    const loop = this.#loop;
    if (loop !== null && loop.isRunning()) {
      for (const task of allTasks(loop)) {
        if (task.getContext().run(() => hostContext.getStore()) === host) {
          task.cancel(`host ${name} crashed`);
        }
      }
    }
  }

  /** Brings a crashed host back (with no listeners and no connections). */
  restart(name: string): void {
    const host = this.host(name);
    host._crashed = false;
    this.#record("restart", name, name);
  }

  /**
   * Runs `main` on a loop of this network (as `run()` does, with this
   * network's policy set meanwhile) and resolves with its result. Should it
   * fail, the trace is printed to stderr first, so a failing test shows
   * what the network did.
   *
   * @example
   * ```ts
   * import { openConnection } from "@aio/loop";
   * import { SimNetwork } from "@aio/loop/testing";
   * import assert from "node:assert/strict";
   *
   * const net = new SimNetwork();
   * net.addHost("server");
   * const error = await net.run(async () => {
   *   try {
   *     await openConnection("server", 80);
   *   } catch (error) {
   *     return error;
   *   }
   * });
   * assert(error instanceof Deno.errors.ConnectionRefused);
   * assert.equal(net.trace.at(-1)?.kind, "refused");
   * ```
   */
  async run<T>(main: () => Promise<T>): Promise<T> {
    using _policy = this.use();
    try {
      return await run(main);
    } catch (error) {
      console.error(`simulated network trace:\n${this.formatTrace()}`);
      throw error;
    }
  }

  /**
   * The trace as text, one event a line, for a failing test's report.
   */
  formatTrace(): string {
    return this.trace.map((e) =>
      `${e.time.toFixed(6)} ${e.kind} ${e.from} -> ${e.to}${
        e.bytes === undefined ? "" : ` ${e.bytes} B`
      }`
    ).join("\n");
  }

  // ---- internals -----------------------------------------------------------

  /** @ignore `loop` is about to run: deliveries go on it. */
  _activate(loop: SimEventLoop): void {
    this.#loop = loop;
  }

  /** @ignore The host code runs on now. */
  _currentHost(): SimHost {
    const host = hostContext.getStore();
    if (host !== undefined && host._network === this) return host;
    this.#defaultHost ??= this.#hosts.get("main") ?? this.addHost("main");
    return this.#defaultHost;
  }

  #now(): number {
    return this.#loop?.time() ?? 0;
  }

  #record(kind: string, from: string, to: string, bytes?: number): void {
    const event: SimEvent = { time: this.#now(), kind, from, to };
    if (bytes !== undefined) event.bytes = bytes;
    this.trace.push(event);
  }

  #link(from: SimHost, to: SimHost): LinkOptions {
    return this.#links.get(`${from.name}>${to.name}`) ?? {};
  }

  /** When a segment of `size` bytes sent now on `wire` arrives. */
  #arrival(wire: Wire, from: SimHost, to: SimHost, size: number): number {
    const now = this.#now();
    if (from === to) return Math.max(wire.last, now);
    const link = this.#link(from, to);
    let start = now;
    const bandwidth = link.bandwidth;
    if (bandwidth !== undefined && size > 0) {
      // The link is shared: every connection's bytes (and datagrams) on it
      // queue for its bandwidth.
      const key = `${from.name}>${to.name}`;
      start = Math.max(now, this.#linkBusy.get(key) ?? 0) + size / bandwidth;
      this.#linkBusy.set(key, start);
    }
    const jitter = link.jitter ?? 0;
    const delay = (link.latency ?? this.#latency) +
      (jitter > 0 ? this.#random() * jitter : 0);
    return Math.max(wire.last, start + delay);
  }

  #blocked(from: SimHost, to: SimHost): boolean {
    const key = `${from.name}>${to.name}`;
    return this.#cut.has(key) || this.#holding.has(key) || to._crashed;
  }

  /** @ignore Sends a segment from `conn` to its peer. */
  _transmit(conn: SimConn, kind: Segment["kind"], data?: Uint8Array): void {
    const peer = conn.peer;
    if (peer === null) return;
    const segment: Segment = { when: 0, kind, data };
    this.#record(kind, conn.label, conn.peerLabel, data?.length);
    if (this.#blocked(conn.host, peer.host)) {
      conn.out.held.push(segment);
      this.#heldWires.add(conn);
      return;
    }
    this.#put(conn, segment);
  }

  readonly #heldWires = new Set<SimConn>();

  #put(conn: SimConn, segment: Segment): void {
    const wire = conn.out;
    segment.when = this.#arrival(
      wire,
      conn.host,
      conn.peerHost,
      segment.data?.length ?? 0,
    );
    wire.last = segment.when;
    wire.queue.push(segment);
    this.#onWire.add(conn);
    this.#arm(conn);
  }

  #arm(conn: SimConn): void {
    const wire = conn.out;
    if (wire.timer !== null || wire.queue.length === 0) return;
    const loop = this.#loop!;
    const delay = Math.max(0, wire.queue[0].when - loop.time());
    wire.timer = loop.callLater(delay, () => {
      wire.timer = null;
      const now = loop.time();
      while (wire.queue.length > 0 && wire.queue[0].when <= now) {
        const segment = wire.queue.shift()!;
        conn.peer?._arrive(segment);
      }
      if (wire.queue.length === 0) this.#onWire.delete(conn);
      this.#arm(conn);
    });
  }

  /** Connections with segments on the wire. */
  readonly #onWire = new Set<SimConn>();

  /** Takes the bytes on the wire from `a` to `b` back: they wait too. */
  #holdInFlight(a: string, b: string): void {
    // Closed connections too: their last bytes and EOF may be on the wire.
    for (const conn of [...this.#onWire]) {
      if (conn.host.name !== a || conn.peerHost.name !== b) continue;
      this.#onWire.delete(conn);
      const wire = conn.out;
      wire.timer?.cancel();
      wire.timer = null;
      wire.held = [...wire.queue, ...wire.held];
      wire.queue.length = 0;
      wire.last = 0;
      this.#heldWires.add(conn);
    }
  }

  #flushHeld(): void {
    const datagrams = this.#heldDatagrams.splice(0);
    for (const held of datagrams) {
      if (this.#holding.has(held.key)) this.#heldDatagrams.push(held);
      else if (!this.#cut.has(held.key)) held.send();
    }
    for (const conn of [...this.#heldWires]) {
      const peer = conn.peer;
      if (peer === null) {
        this.#heldWires.delete(conn);
        continue;
      }
      if (this.#blocked(conn.host, peer.host)) continue;
      this.#heldWires.delete(conn);
      const held = conn.out.held;
      conn.out.held = [];
      for (const segment of held) this.#put(conn, segment);
    }
  }

  /** When each link (`from>to`) is free again, with a bandwidth set. */
  readonly #linkBusy = new Map<string, number>();
  readonly #heldDatagrams: { key: string; send: () => void }[] = [];

  /** @ignore Sends a datagram from `sock` to `address`:`port`. */
  _sendDatagram(
    sock: SimDgram,
    data: Uint8Array,
    address: string,
    port: number,
  ): void {
    const from = sock.host;
    const [boundAddress, fromPort] = sock.sockname() as [string, number];
    // A wildcard-bound socket sends to loopback from loopback.
    const fromAddress = isLoopback(address) && isWildcard(sock.address)
      ? address
      : boundAddress;
    const label = `${from.name}:${fromPort}`;
    const target = this.#resolveTarget(address, from);
    if (target === null) {
      this.#record("unreachable", label, `${address}:${port}`, data.length);
      return;
    }
    const to = `${target.name}:${port}`;
    const copy = data.slice();
    const key = `${from.name}>${target.name}`;
    if (from !== target && (this.#cut.has(key) || target._crashed)) {
      this.#record("drop", label, to, data.length);
      return;
    }
    const link = from === target ? {} : this.#link(from, target);
    if ((link.loss ?? 0) > 0 && this.#random() < link.loss!) {
      this.#record("drop", label, to, data.length);
      return;
    }
    const copies = (link.duplicate ?? 0) > 0 &&
        this.#random() < link.duplicate!
      ? 2
      : 1;
    const send = () => {
      this.#record("datagram", label, to, copy.length);
      const loop = this.#loop!;
      for (let i = 0; i < copies; i++) {
        let delay = 0;
        if (from !== target) {
          const latency = link.latency ?? this.#latency;
          delay = latency +
            ((link.jitter ?? 0) > 0 ? this.#random() * link.jitter! : 0);
          if (link.bandwidth !== undefined) {
            const now = loop.time();
            const start = Math.max(now, this.#linkBusy.get(key) ?? 0) +
              copy.length / link.bandwidth;
            this.#linkBusy.set(key, start);
            delay += start - now;
          }
          if ((link.reorder ?? 0) > 0 && this.#random() < link.reorder!) {
            delay += this.#random() * 2 * latency;
          }
        }
        loop.callLater(delay, () => {
          if (target._crashed) return;
          const receiver = target._udpReceiver(address, port);
          if (receiver === null) {
            this.#record("unreachable", label, to, copy.length);
            return;
          }
          receiver._receive(copy, fromAddress, fromPort);
        });
      }
    };
    if (from !== target && this.#holding.has(key)) {
      this.#record("held", label, to, data.length);
      this.#heldDatagrams.push({ key, send });
      return;
    }
    send();
  }

  #resolveTarget(address: string, from: SimHost): SimHost | null {
    if (isLoopback(address)) return from;
    return this.#byAddress.get(address) ?? null;
  }

  #listen(options: TcpListenOptions): StreamListener {
    const host = this._currentHost();
    if (host._crashed) {
      throw new Deno.errors.NotConnected(`host ${host.name} is down`);
    }
    const hostname = options.hostname ?? "0.0.0.0";
    if (!isWildcard(hostname) && !host._owns(hostname)) {
      throw new Deno.errors.AddrNotAvailable(
        `Cannot assign requested address (os error 99): ${hostname} is not an address of host ${host.name}`,
      );
    }
    const port = options.port === 0 || options.port === undefined
      ? host._ephemeralPort()
      : options.port;
    const address = isWildcard(hostname) ? "*" : hostname;
    const taken = host._ports.has(port) &&
      (address === "*" ||
        host._listeners.has(`*:${port}`) ||
        host._listeners.has(`${address}:${port}`));
    if (taken) {
      throw new Deno.errors.AddrInUse(
        `Address already in use (os error 98): ${host.name} port ${port}`,
      );
    }
    const key = `${address}:${port}`;
    const listener = new SimListener(
      host,
      key,
      netAddr(isWildcard(hostname) ? "0.0.0.0" : hostname, port),
    );
    host._listeners.set(key, listener);
    host._ports.add(port);
    this.#record("listen", `${host.name}:${port}`, "*");
    return listener;
  }

  #connect(
    hostname: string,
    port: number,
    signal: AbortSignal | null,
    localPort?: number,
  ): Promise<StreamConn> {
    const from = this._currentHost();
    if (from._crashed) {
      return Promise.reject(
        new Deno.errors.NotConnected(`host ${from.name} is down`),
      );
    }
    const target = this.#resolveTarget(hostname, from);
    if (target === null) {
      this.#record("unreachable", from.name, hostname);
      return Promise.reject(
        new Deno.errors.NetworkUnreachable(
          `Network is unreachable (os error 101): no host has address ${hostname}`,
        ),
      );
    }
    if (
      localPort !== undefined && localPort !== 0 && from._ports.has(localPort)
    ) {
      return Promise.reject(
        new Deno.errors.AddrInUse(
          `Address already in use (os error 98): ${from.name} port ${localPort}`,
        ),
      );
    }
    const port0 = localPort === undefined || localPort === 0
      ? from._ephemeralPort()
      : localPort;
    from._ports.add(port0);
    const fromAddress = isLoopback(hostname)
      ? hostname
      : (from.addresses[0] ?? "127.0.0.1");
    const loop = this.#loop!;
    const label = `${from.name}:${port0}`;
    this.#record("connect", label, `${target.name}:${port}`);
    this._pendingWrites++;
    return new Promise<StreamConn>((resolve, reject) => {
      let settled = false;
      let timeout: TimerHandle | null = null;
      const finish = (error: Error | null, conn?: SimConn) => {
        if (settled) return;
        settled = true;
        this._pendingWrites--;
        timeout?.cancel();
        signal?.removeEventListener("abort", onAbort);
        if (error !== null) {
          from._ports.delete(port0);
          reject(error);
        } else resolve(conn!);
      };
      const onAbort = () =>
        finish(new Deno.errors.Interrupted("connect aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
      timeout = loop.callLater(CONNECT_TIMEOUT, () => {
        this.#record("timeout", label, `${target.name}:${port}`);
        finish(new Deno.errors.TimedOut("Connection timed out (os error 110)"));
      });
      // The SYN: retried while the way is blocked.
      const syn = () => {
        if (settled) return;
        if (this.#blocked(from, target)) {
          loop.callLater(1, syn);
          return;
        }
        const there = this.#arrival(new Wire(), from, target, 0);
        loop.callLater(Math.max(0, there - loop.time()), () => {
          if (settled) return;
          const listener = target._listeners.get(`${hostname}:${port}`) ??
            target._listeners.get(`*:${port}`);
          const back = this.#arrival(new Wire(), target, from, 0);
          if (target._crashed) {
            // A dead host answers nothing: the SYN is retried.
            loop.callLater(1, syn);
            return;
          }
          if (listener === undefined) {
            this.#record("refused", `${target.name}:${port}`, label);
            loop.callLater(Math.max(0, back - loop.time()), () =>
              finish(
                new Deno.errors.ConnectionRefused(
                  `Connection refused (os error 111): nothing listens on ${target.name} port ${port}`,
                ),
              ));
            return;
          }
          const serverAddress = hostname;
          const client = new SimConn(
            from,
            target,
            netAddr(fromAddress, port0),
            netAddr(serverAddress, port),
          );
          const server = new SimConn(
            target,
            from,
            netAddr(serverAddress, port),
            netAddr(fromAddress, port0),
          );
          client.peer = server;
          server.peer = client;
          client.ownsPort = true;
          this.#record("accept", `${target.name}:${port}`, label);
          listener._incoming(server);
          loop.callLater(Math.max(0, back - loop.time()), () => {
            if (settled) {
              client.close();
              return;
            }
            finish(null, client);
          });
        });
      };
      syn();
    });
  }

  #listenUnix(path: string): StreamListener {
    const host = this._currentHost();
    if (host._crashed) {
      throw new Deno.errors.NotConnected(`host ${host.name} is down`);
    }
    const key = `unix:${path}`;
    if (host._listeners.has(key)) {
      throw new Deno.errors.AddrInUse(
        `Address already in use (os error 98): ${path} on host ${host.name}`,
      );
    }
    const listener = new SimListener(host, key, { transport: "unix", path });
    host._listeners.set(key, listener);
    this.#record("listen", `${host.name}:${path}`, "*");
    return listener;
  }

  /** A Unix socket connects within its host: each host has its own paths. */
  #connectUnix(path: string): Promise<StreamConn> {
    const host = this._currentHost();
    if (host._crashed) {
      return Promise.reject(
        new Deno.errors.NotConnected(`host ${host.name} is down`),
      );
    }
    const listener = host._listeners.get(`unix:${path}`);
    if (listener === undefined) {
      this.#record("refused", `${host.name}:${path}`, host.name);
      return Promise.reject(
        new Deno.errors.NotFound(
          `No such file or directory (os error 2): no Unix socket ${path} on host ${host.name}`,
        ),
      );
    }
    const client = new SimConn(host, host, { transport: "unix", path: "" }, {
      transport: "unix",
      path,
    });
    const server = new SimConn(host, host, { transport: "unix", path }, {
      transport: "unix",
      path: "",
    });
    client.peer = server;
    server.peer = client;
    this.#record("connect", `${host.name}:(unix)`, `${host.name}:${path}`);
    this.#record("accept", `${host.name}:${path}`, `${host.name}:(unix)`);
    listener._incoming(server);
    return Promise.resolve(client);
  }

  #makeBackend(): NetBackend {
    return {
      name: "simulated",
      listen: (options) => this.#listen(options),
      listenUnix: (path) => this.#listenUnix(path),
      connect: (hostname, port, signal) =>
        this.#connect(hostname, port, signal),
      connectFrom: (hostname, port, _localHost, localPort, signal) =>
        this.#connect(hostname, port, signal, localPort),
      connectUnix: (path) => this.#connectUnix(path),
      createDgram: (family, reuse): DgramBackend => {
        if (family !== AF_INET && family !== AF_INET6) {
          throw new Deno.errors.NotSupported(
            "Unix datagram sockets are not simulated: use UDP between the network's hosts",
          );
        }
        return new SimDgram(this, this._currentHost(), family, reuse ?? false);
      },
      lookup: (name) => {
        const lower = name.toLowerCase();
        if (lower === "localhost") return ["127.0.0.1"];
        const host = this.#hosts.get(name);
        return host === undefined ? [] : [...host.addresses];
      },
    };
  }
}

/**
 * A loop of a `SimNetwork`: the virtual clock, and sockets on the simulated
 * network. It jumps the clock as soon as everything in flight is the
 * simulation's (which only timers move).
 */
export class SimEventLoop extends VirtualTimeEventLoop {
  /** The network the loop's sockets use. */
  readonly network: SimNetwork;

  /** @ignore Loops come from `SimNetwork.newEventLoop()`. */
  constructor(network: SimNetwork) {
    super();
    this.network = network;
    this._netBackend = network._backend;
  }

  /** Runs the loop; the network schedules its deliveries on it meanwhile. */
  override runForever(): Promise<void> {
    this.network._activate(this);
    return super.runForever();
  }

  /** @ignore */
  override _realInFlight(): number {
    return Math.max(0, this._dispatcher.inFlight - this.network._pendingWrites);
  }

  /** @ignore */
  override _realWaiting(): number {
    const network = this.network;
    return Math.max(
      0,
      this._dispatcher.waiting - network._pendingReads -
        network._openDatagrams,
    );
  }
}

/** The policy of a `SimNetwork`: every new loop is one of its loops. */
class SimNetworkPolicy extends DefaultEventLoopPolicy {
  readonly #network: SimNetwork;
  constructor(network: SimNetwork) {
    super();
    this.#network = network;
  }
  override newEventLoop(): AbstractEventLoop {
    return this.#network.newEventLoop();
  }
}
