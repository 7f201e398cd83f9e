/**
 * Name and address resolution with Python's `socket.getaddrinfo` /
 * `socket.getnameinfo` semantics, for the loop's `getaddrinfo` and
 * `getnameinfo` methods and the socket layer. Standalone: nothing here needs
 * an event loop.
 *
 * Resolution follows glibc's order (`hosts: files dns`): numeric literals are
 * parsed without any lookup, then `/etc/hosts` is consulted, then DNS through
 * `Deno.resolveDns` (A and AAAA records). `localhost` falls back to the
 * loopback addresses when `/etc/hosts` does not name it (or cannot be read),
 * and never goes to DNS. Names under the reserved `.invalid` top-level domain
 * (RFC 6761) fail at once without a query.
 *
 * Failures that Python reports as `socket.gaierror` are `Deno.errors.NotFound`
 * here, with the host in the message; arguments of the wrong type are a
 * `TypeError` and out-of-range values (a port above 65535, an unknown family)
 * a `RangeError`.
 *
 * **Room `loop/net`**: the socket library the loop drives, as Python's
 * `socket` and `ssl` are under asyncio: address resolution, the non-blocking
 * `Socket`, its Node-backed connections and datagram sockets, TLS contexts.
 * It may import `loop/base` only.
 *
 * @module
 */
import { describe } from "../base/format.ts";
import { netBackend } from "./backend.ts";

// ---------------------------------------------------------------------------
// Constants (Linux values)
// ---------------------------------------------------------------------------

/**
 * Any address family (`socket.AF_UNSPEC`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const infos = await getaddrinfo("127.0.0.1", 80, { family: AF_UNSPEC });
 * assert.equal(infos[0][0], AF_INET);
 * ```
 */
export const AF_UNSPEC = 0;

/**
 * Unix domain sockets (`socket.AF_UNIX`); their address is a path string.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(normalizeAddress("/tmp/app.sock", AF_UNIX), "/tmp/app.sock");
 * ```
 */
export const AF_UNIX = 1;

/**
 * IPv4 (`socket.AF_INET`); addresses are `[host, port]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [[family]] = await getaddrinfo("127.0.0.1", 80, { type: SOCK_STREAM });
 * assert.equal(family, AF_INET);
 * ```
 */
export const AF_INET = 2;

/**
 * IPv6 (`socket.AF_INET6`); addresses are `[host, port, flowinfo, scopeid]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [[family, , , , addr]] = await getaddrinfo("::1", 80, {
 *   type: SOCK_STREAM,
 * });
 * assert.equal(family, AF_INET6);
 * assert.deepEqual(addr, ["::1", 80, 0, 0]);
 * ```
 */
export const AF_INET6 = 10;

/**
 * Stream sockets (TCP) (`socket.SOCK_STREAM`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const infos = await getaddrinfo("127.0.0.1", 80, { type: SOCK_STREAM });
 * assert.deepEqual(infos.map((i) => i[1]), [SOCK_STREAM]);
 * ```
 */
export const SOCK_STREAM = 1;

/**
 * Datagram sockets (UDP) (`socket.SOCK_DGRAM`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const infos = await getaddrinfo("127.0.0.1", 53, { type: SOCK_DGRAM });
 * assert.deepEqual(infos[0].slice(0, 3), [AF_INET, SOCK_DGRAM, IPPROTO_UDP]);
 * ```
 */
export const SOCK_DGRAM = 2;

/**
 * The TCP protocol number (`socket.IPPROTO_TCP`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const infos = await getaddrinfo("127.0.0.1", 80, { proto: IPPROTO_TCP });
 * assert.deepEqual(infos.map((i) => i[1]), [SOCK_STREAM]);
 * ```
 */
export const IPPROTO_TCP = 6;

/**
 * The UDP protocol number (`socket.IPPROTO_UDP`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const infos = await getaddrinfo("127.0.0.1", 80, { proto: IPPROTO_UDP });
 * assert.deepEqual(infos.map((i) => i[1]), [SOCK_DGRAM]);
 * ```
 */
export const IPPROTO_UDP = 17;

/**
 * `getaddrinfo` flag: a missing host means the wildcard addresses (for
 * binding a server) instead of loopback (`socket.AI_PASSIVE`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const infos = await getaddrinfo(null, 8080, {
 *   type: SOCK_STREAM,
 *   flags: AI_PASSIVE,
 * });
 * assert.deepEqual(infos.map((i) => i[4][0]), ["0.0.0.0", "::"]);
 * ```
 */
export const AI_PASSIVE = 1;

/**
 * `getaddrinfo` flag: fill in the canonical name of the host in the first
 * entry (`socket.AI_CANONNAME`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [first] = await getaddrinfo("127.0.0.1", 80, {
 *   type: SOCK_STREAM,
 *   flags: AI_CANONNAME,
 * });
 * assert.equal(first[3], "127.0.0.1");
 * ```
 */
export const AI_CANONNAME = 2;

/**
 * `getaddrinfo` flag: the host must be a numeric address; no lookup is made
 * (`socket.AI_NUMERICHOST`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * await assert.rejects(
 *   getaddrinfo("localhost", 80, { flags: AI_NUMERICHOST }),
 *   Deno.errors.NotFound,
 * );
 * ```
 */
export const AI_NUMERICHOST = 4;

/**
 * `getaddrinfo` flag: the port must be numeric; service names are refused
 * (`socket.AI_NUMERICSERV`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * await assert.rejects(
 *   getaddrinfo("127.0.0.1", "http", { flags: AI_NUMERICSERV }),
 *   Deno.errors.NotFound,
 * );
 * ```
 */
export const AI_NUMERICSERV = 0x400;

/**
 * `getnameinfo` flag: return the numeric host instead of a name
 * (`socket.NI_NUMERICHOST`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [host] = await getnameinfo(["127.0.0.1", 80], NI_NUMERICHOST);
 * assert.equal(host, "127.0.0.1");
 * ```
 */
export const NI_NUMERICHOST = 1;

/**
 * `getnameinfo` flag: return the numeric port instead of a service name
 * (`socket.NI_NUMERICSERV`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [, port] = await getnameinfo(["127.0.0.1", 80], NI_NUMERICSERV);
 * assert.equal(port, "80");
 * ```
 */
export const NI_NUMERICSERV = 2;

/**
 * `getnameinfo` flag: fail with `Deno.errors.NotFound` when the host has no
 * name (`socket.NI_NAMEREQD`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * await assert.rejects(
 *   getnameinfo(["192.0.2.1", 80], NI_NAMEREQD),
 *   Deno.errors.NotFound,
 * );
 * ```
 */
export const NI_NAMEREQD = 8;

/**
 * `getnameinfo` flag: name the port after its UDP service rather than its TCP
 * one (`socket.NI_DGRAM`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [, service] = await getnameinfo(["127.0.0.1", 53], NI_DGRAM);
 * assert.equal(service, "domain");
 * ```
 */
export const NI_DGRAM = 16;

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/**
 * A socket address, as Python's tuples: `[host, port]` for IPv4 and
 * `[host, port, flowinfo, scopeid]` for IPv6.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const v4: SockAddr = ["127.0.0.1", 8080];
 * const v6: SockAddr = ["::1", 8080, 0, 0];
 * assert.deepEqual(normalizeAddress(v4, AF_INET), v4);
 * assert.deepEqual(normalizeAddress(v6, AF_INET6), v6);
 * ```
 */
export type SockAddr = [string, number] | [string, number, number, number];

/**
 * One `getaddrinfo` result: `[family, type, proto, canonname, sockaddr]`, as
 * the 5-tuples of Python's `socket.getaddrinfo`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [info]: AddrInfo[] = await getaddrinfo("127.0.0.1", 80, {
 *   type: SOCK_STREAM,
 * });
 * assert.deepEqual(info, [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", [
 *   "127.0.0.1",
 *   80,
 * ]]);
 * ```
 */
export type AddrInfo = [
  family: number,
  type: number,
  proto: number,
  canonname: string,
  sockaddr: SockAddr,
];

/**
 * The options of {@linkcode getaddrinfo}; Python's keyword arguments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const options: GetAddrInfoOptions = { family: AF_INET, type: SOCK_STREAM };
 * assert.equal((await getaddrinfo("127.0.0.1", 80, options)).length, 1);
 * ```
 */
export interface GetAddrInfoOptions {
  /** `AF_UNSPEC` (default), `AF_INET` or `AF_INET6`. */
  family?: number;
  /** `0` (default: both stream and datagram), `SOCK_STREAM` or `SOCK_DGRAM`. */
  type?: number;
  /** `0` (default: implied by the type), `IPPROTO_TCP` or `IPPROTO_UDP`. */
  proto?: number;
  /** `AI_PASSIVE`, `AI_CANONNAME`, `AI_NUMERICHOST`, `AI_NUMERICSERV`; other bits are ignored. */
  flags?: number;
}

// ---------------------------------------------------------------------------
// Address literals
// ---------------------------------------------------------------------------

const DEC_OCTET = /^(?:0|[1-9]\d{0,2})$/;

/**
 * Whether `s` is an IPv4 address in strict dotted-decimal form
 * (`inet_pton`'s: four decimal numbers 0–255 without leading zeros).
 *
 * @param s The value to test; anything but a string is `false`.
 * @returns `true` for an IPv4 literal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(isIPv4("192.168.0.1"), true);
 * assert.equal(isIPv4("256.0.0.1"), false);
 * assert.equal(isIPv4("localhost"), false);
 * assert.equal(isIPv4("::1"), false);
 * ```
 */
export function isIPv4(s: unknown): s is string {
  return typeof s === "string" && parseIPv4(s) !== null;
}

/**
 * Whether `s` is an IPv6 address (`inet_pton`'s syntax, with an embedded
 * dotted IPv4 tail allowed), optionally followed by a `%scope` zone
 * (`fe80::1%eth0`, `fe80::1%2`).
 *
 * @param s The value to test; anything but a string is `false`.
 * @returns `true` for an IPv6 literal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(isIPv6("::1"), true);
 * assert.equal(isIPv6("fe80::1%eth0"), true);
 * assert.equal(isIPv6("::ffff:127.0.0.1"), true);
 * assert.equal(isIPv6("127.0.0.1"), false);
 * assert.equal(isIPv6("1::2::3"), false);
 * ```
 */
export function isIPv6(s: unknown): s is string {
  if (typeof s !== "string") return false;
  const { addr, scope } = splitScope(s);
  if (scope !== null && !/^[^\s%]+$/.test(scope)) return false;
  return parseIPv6(addr) !== null;
}

/** Strict dotted-decimal IPv4 → 4 bytes, or null. */
function parseIPv4(s: string): number[] | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!DEC_OCTET.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    bytes.push(n);
  }
  return bytes;
}

/**
 * IPv4 in `inet_aton`'s looser syntax, which glibc's `getaddrinfo` accepts:
 * one to four parts, each decimal, octal (leading 0) or hex (0x); the last
 * part fills the remaining bytes. `127.1` is `127.0.0.1`.
 */
function parseInetAton(s: string): number[] | null {
  const parts = s.split(".");
  if (parts.length < 1 || parts.length > 4) return null;
  const values: number[] = [];
  for (const part of parts) {
    let n: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(part)) {
      n = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    } else if (/^0[0-7]*$/.test(part)) {
      n = part.length === 1 ? 0 : parseInt(part.slice(1), 8);
    } else if (/^[1-9]\d*$/.test(part)) {
      n = Number(part);
    } else {
      return null;
    }
    if (!Number.isSafeInteger(n)) return null;
    values.push(n);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255)) return null;
  const lastBytes = 4 - values.length;
  if (last >= 2 ** (8 * lastBytes)) return null;
  const tail: number[] = [];
  for (let i = lastBytes - 1; i >= 0; i--) {
    tail.push(Math.floor(last / 2 ** (8 * i)) % 256);
  }
  return [...values, ...tail];
}

/** Splits `addr%scope`; `scope` is null when there is no `%`. */
function splitScope(s: string): { addr: string; scope: string | null } {
  const i = s.indexOf("%");
  return i < 0
    ? { addr: s, scope: null }
    : { addr: s.slice(0, i), scope: s.slice(i + 1) };
}

/** IPv6 text (no zone) → 8 16-bit words, or null. */
function parseIPv6(s: string): number[] | null {
  if (s.length === 0 || s.length > 45) return null;
  let text = s;
  let v4: number[] | null = null;
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.indexOf(".", lastColon) > lastColon) {
    v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    // Keep a placeholder group so "::1.2.3.4" and "a:b:c:d:e:f:1.2.3.4" parse.
    text = text.slice(0, lastColon + 1) + "v4";
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const words: number[] = [];
    const groups = part.split(":");
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (g === "v4" && v4 !== null && i === groups.length - 1) {
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
        words.push(parseInt(g, 16));
      } else {
        return null;
      }
    }
    return words;
  };
  if (halves.length === 1) {
    const words = parseGroups(halves[0]);
    return words !== null && words.length === 8 ? words : null;
  }
  const head = parseGroups(halves[0]);
  const tail = parseGroups(halves[1]);
  if (head === null || tail === null) return null;
  // An embedded IPv4 tail may only end the address.
  if (v4 !== null && !halves[1].endsWith("v4")) return null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** 8 words → canonical text, as glibc's `inet_ntop` writes it. */
function formatIPv6(words: readonly number[]): string {
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  if (
    bestBase === 0 &&
    (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))
  ) {
    const v4 = [words[6] >> 8, words[6] & 255, words[7] >> 8, words[7] & 255];
    return (bestLen === 6 ? "::" : "::ffff:") + v4.join(".");
  }
  const hex = (w: number) => w.toString(16);
  if (bestBase < 0) return words.map(hex).join(":");
  const head = words.slice(0, bestBase).map(hex).join(":");
  const tail = words.slice(bestBase + bestLen).map(hex).join(":");
  return `${head}::${tail}`;
}

/** Link-local unicast (fe80::/10) or link/interface-local multicast. */
function isScopedIPv6(words: readonly number[]): boolean {
  return (words[0] & 0xffc0) === 0xfe80 ||
    (words[0] & 0xff0f) === 0xff01 || (words[0] & 0xff0f) === 0xff02;
}

interface Numeric {
  family: number;
  host: string;
  scopeid: number;
}

/**
 * A numeric host as getaddrinfo parses it, normalized; null when `host` is not
 * numeric. Throws NotFound for an IPv6 zone naming no interface.
 */
async function parseNumericHost(host: string): Promise<Numeric | null> {
  const v4 = parseInetAton(host);
  if (v4 !== null) return { family: AF_INET, host: v4.join("."), scopeid: 0 };
  const { addr, scope } = splitScope(host);
  const words = parseIPv6(addr);
  if (words === null) return null;
  let scopeid = 0;
  if (scope !== null) {
    const id = await interfaceIndex(scope);
    if (id === null) throw nameNotKnown(host);
    scopeid = id;
  }
  return { family: AF_INET6, host: formatIPv6(words), scopeid };
}

/** An IPv6 zone (`eth0` or `2`) → interface index, via /sys/class/net. */
async function interfaceIndex(scope: string): Promise<number | null> {
  if (/^\d+$/.test(scope)) {
    const n = Number(scope);
    return n <= 0xffffffff ? n : null;
  }
  if (!/^[^\s/%]+$/.test(scope) || scope === "." || scope === "..") return null;
  try {
    const text = await Deno.readTextFile(`/sys/class/net/${scope}/ifindex`);
    const n = Number(text.trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Interface index → name, via /sys/class/net; null when unknown. */
async function interfaceName(index: number): Promise<string | null> {
  try {
    for await (const entry of Deno.readDir("/sys/class/net")) {
      try {
        const text = await Deno.readTextFile(
          `/sys/class/net/${entry.name}/ifindex`,
        );
        if (Number(text.trim()) === index) return entry.name;
      } catch {
        // Not an interface directory; keep looking.
      }
    }
  } catch {
    // No /sys or no permission: the caller falls back to the number.
  }
  return null;
}

// ---------------------------------------------------------------------------
// /etc/hosts and /etc/services
// ---------------------------------------------------------------------------

interface HostsEntry {
  family: number;
  address: string;
  names: string[];
}

/** Parses /etc/hosts; an unreadable file is an empty list (glibc's too). */
async function readHosts(): Promise<HostsEntry[]> {
  let text: string;
  try {
    text = await Deno.readTextFile("/etc/hosts");
  } catch {
    return [];
  }
  const entries: HostsEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [address, ...names] = line.split(/\s+/);
    if (names.length === 0) continue;
    const v4 = parseIPv4(address);
    if (v4 !== null) {
      entries.push({ family: AF_INET, address: v4.join("."), names });
      continue;
    }
    const words = parseIPv6(address);
    if (words !== null) {
      entries.push({ family: AF_INET6, address: formatIPv6(words), names });
    }
  }
  return entries;
}

interface Service {
  tcp?: number;
  udp?: number;
}

interface Services {
  byName: Map<string, Service>;
  byPort: Map<string, string>;
}

/** Used when /etc/services cannot be read. */
const FALLBACK_SERVICES = `
echo 7/tcp
echo 7/udp
ftp-data 20/tcp
ftp 21/tcp
ssh 22/tcp
telnet 23/tcp
smtp 25/tcp mail
domain 53/tcp
domain 53/udp
http 80/tcp www
pop3 110/tcp pop-3
ntp 123/udp
imap2 143/tcp imap
snmp 161/udp
ldap 389/tcp
ldap 389/udp
https 443/tcp
https 443/udp
submission 587/tcp
ldaps 636/tcp
imaps 993/tcp
pop3s 995/tcp
mysql 3306/tcp
postgresql 5432/tcp postgres
`;

let servicesPromise: Promise<Services> | null = null;

function parseServices(text: string): Services {
  const byName = new Map<string, Service>();
  const byPort = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/(tcp|udp)$/.exec(portProto ?? "");
    if (m === null) continue;
    const port = Number(m[1]);
    const proto = m[2] as "tcp" | "udp";
    if (port > 65535) continue;
    for (const n of [name, ...aliases]) {
      const service = byName.get(n) ?? {};
      service[proto] ??= port;
      byName.set(n, service);
    }
    const key = `${port}/${proto}`;
    if (!byPort.has(key)) byPort.set(key, name);
  }
  return { byName, byPort };
}

/** /etc/services, read once; a small built-in table when unreadable. */
function services(): Promise<Services> {
  servicesPromise ??= Deno.readTextFile("/etc/services").then(
    (text) => parseServices(text),
    () => parseServices(FALLBACK_SERVICES),
  );
  return servicesPromise;
}

// ---------------------------------------------------------------------------
// Errors and argument checks
// ---------------------------------------------------------------------------

function nameNotKnown(host: string, cause?: unknown): Deno.errors.NotFound {
  return new Deno.errors.NotFound(
    `getaddrinfo: ${host}: Name or service not known`,
    cause === undefined ? undefined : { cause },
  );
}

function checkInt(value: unknown, what: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(
      `getaddrinfo: ${what} must be an integer, not ${describe(value)}`,
    );
  }
  return value;
}

function checkPort(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(
      `${where}: port must be an integer, not ${describe(value)}`,
    );
  }
  if (value < 0 || value > 65535) {
    throw new RangeError(`${where}: port must be 0-65535, got ${value}`);
  }
  return value;
}

interface PortSpec {
  /** A numeric port valid for every socket type. */
  port?: number;
  /** A named service: its port per protocol. */
  service?: Service;
}

async function resolvePort(
  port: number | string | null | undefined,
  flags: number,
): Promise<PortSpec | null> {
  if (port === null || port === undefined) return null;
  if (typeof port === "number") return { port: checkPort(port, "getaddrinfo") };
  if (typeof port !== "string") {
    throw new TypeError(
      `getaddrinfo: port must be a number, a string or null, not ${
        describe(port)
      }`,
    );
  }
  // strtoul's syntax, as glibc parses a numeric service.
  const numeric = /^\s*([+-]?)(\d*)$/.exec(port);
  if (numeric !== null) {
    const n = Number(numeric[2] || "0");
    if (numeric[1] === "-" && n !== 0 || n > 65535) {
      throw new RangeError(`getaddrinfo: port must be 0-65535, got "${port}"`);
    }
    return { port: n };
  }
  if ((flags & AI_NUMERICSERV) !== 0) {
    throw new Deno.errors.NotFound(
      `getaddrinfo: ${JSON.stringify(port)}: Name or service not known ` +
        "(AI_NUMERICSERV wants a numeric port)",
    );
  }
  const service = (await services()).byName.get(port);
  if (service === undefined) {
    throw servNotSupported(port);
  }
  return { service };
}

function servNotSupported(port: string): Deno.errors.NotFound {
  return new Deno.errors.NotFound(
    `getaddrinfo: ${
      JSON.stringify(port)
    }: Servname not supported for ai_socktype`,
  );
}

// ---------------------------------------------------------------------------
// Ordering (a small RFC 6724)
// ---------------------------------------------------------------------------

let hasGlobalIPv6Cache: boolean | null = null;

/** Whether this host has a global IPv6 address (false when unknowable). */
function hasGlobalIPv6(): boolean {
  if (hasGlobalIPv6Cache === null) {
    try {
      hasGlobalIPv6Cache = Deno.networkInterfaces().some((i) => {
        if (i.family !== "IPv6") return false;
        const words = parseIPv6(splitScope(i.address).addr);
        return words !== null && !isScopedIPv6(words) &&
          !(words.slice(0, 7).every((w) => w === 0)) &&
          (words[0] & 0xfe00) !== 0xfc00;
      });
    } catch {
      hasGlobalIPv6Cache = false;
    }
  }
  return hasGlobalIPv6Cache;
}

/**
 * Sorts resolved addresses as glibc's default policy roughly does: usable
 * destinations first (an IPv6 address other than ::1 is unusable without a
 * global IPv6 address here), then by precedence (::1 50, IPv6 40, IPv4 35).
 */
function sortAddresses(addrs: Numeric[]): Numeric[] {
  const v6ok = addrs.some((a) => a.family === AF_INET6 && a.host !== "::1")
    ? hasGlobalIPv6()
    : true;
  const key = (a: Numeric): number => {
    if (a.family === AF_INET) return 35;
    if (a.host === "::1") return 50;
    return v6ok ? 40 : 0;
  };
  return addrs
    .map((a, i) => ({ a, i }))
    .sort((x, y) => key(y.a) - key(x.a) || x.i - y.i)
    .map((x) => x.a);
}

// ---------------------------------------------------------------------------
// getaddrinfo
// ---------------------------------------------------------------------------

interface Resolved {
  addrs: Numeric[];
  canonname: string;
}

async function resolveHost(
  host: string,
  family: number,
  flags: number,
): Promise<Resolved> {
  // The network active now (a simulated one may own the host names).
  const net = netBackend();
  const numeric = await parseNumericHost(host);
  if (numeric !== null) {
    if (family !== AF_UNSPEC && family !== numeric.family) {
      throw new Deno.errors.NotFound(
        `getaddrinfo: ${host}: Address family for hostname not supported`,
      );
    }
    return { addrs: [numeric], canonname: host };
  }
  if ((flags & AI_NUMERICHOST) !== 0) {
    throw new Deno.errors.NotFound(
      `getaddrinfo: ${host}: Name or service not known ` +
        "(AI_NUMERICHOST wants a numeric address)",
    );
  }
  const wanted = (f: number) => family === AF_UNSPEC || family === f;
  const lower = host.toLowerCase();

  const owned = net === null ? null : net.lookup(host);
  if (owned !== null) {
    const addrs: Numeric[] = [];
    for (const address of owned) {
      const parsed = await parseNumericHost(address);
      if (parsed !== null && wanted(parsed.family)) addrs.push(parsed);
    }
    if (addrs.length === 0) throw nameNotKnown(host);
    return { addrs: sortAddresses(addrs), canonname: host };
  }

  // /etc/hosts (glibc compares names case-insensitively).
  const entries = (await readHosts()).filter((e) =>
    e.names.some((n) => n.toLowerCase() === lower)
  );
  const fromHosts: Numeric[] = [];
  for (const e of entries) {
    if (!wanted(e.family)) continue;
    if (fromHosts.some((a) => a.host === e.address)) continue;
    fromHosts.push({ family: e.family, host: e.address, scopeid: 0 });
  }
  if (fromHosts.length > 0) {
    const canon = entries.find((e) => wanted(e.family))!.names[0];
    return { addrs: sortAddresses(fromHosts), canonname: canon };
  }

  if (lower === "localhost") {
    // Never sent to DNS. Named in /etc/hosts for another family only: that is
    // all there is (as glibc answers); not named at all: the loopbacks.
    if (entries.length > 0) throw nameNotKnown(host);
    const loop: Numeric[] = [
      { family: AF_INET6, host: "::1", scopeid: 0 },
      { family: AF_INET, host: "127.0.0.1", scopeid: 0 },
    ];
    return { addrs: loop.filter((a) => wanted(a.family)), canonname: host };
  }
  if (lower === "invalid" || lower.endsWith(".invalid")) {
    throw nameNotKnown(host);
  }
  return {
    addrs: sortAddresses(await resolveDns(host, family)),
    canonname: host,
  };
}

async function resolveDns(host: string, family: number): Promise<Numeric[]> {
  const kinds: ("A" | "AAAA")[] = family === AF_INET
    ? ["A"]
    : family === AF_INET6
    ? ["AAAA"]
    : ["AAAA", "A"];
  const results = await Promise.allSettled(
    kinds.map((kind) => Deno.resolveDns(host, kind)),
  );
  const addrs: Numeric[] = [];
  let failure: unknown;
  for (let i = 0; i < kinds.length; i++) {
    const result = results[i];
    if (result.status === "rejected") {
      const err = result.reason;
      if (
        err instanceof Deno.errors.PermissionDenied ||
        err instanceof Deno.errors.NotCapable
      ) {
        throw err;
      }
      failure ??= err;
      continue;
    }
    for (const text of result.value) {
      const parsed = kinds[i] === "A" ? parseIPv4(text)?.join(".") : (() => {
        const words = parseIPv6(text);
        return words === null ? undefined : formatIPv6(words);
      })();
      if (parsed === undefined) continue;
      if (addrs.some((a) => a.host === parsed)) continue;
      addrs.push({
        family: kinds[i] === "A" ? AF_INET : AF_INET6,
        host: parsed,
        scopeid: 0,
      });
    }
  }
  if (addrs.length === 0) throw nameNotKnown(host, failure);
  return addrs;
}

/**
 * The address an IP literal `host` of `family` (0: either) has for a socket
 * of `type`, as `getaddrinfo` would give it, without asking it; null when
 * `host` is a name or null, a scoped IPv6 address, of the other family,
 * `port` is a service name, or `proto` is neither 0, TCP nor UDP. The loop
 * uses a literal as it is and asks its own (overridable) `getaddrinfo` only
 * for names. Mirrors asyncio's `_ipaddr_info`. @internal
 */
export function numericAddrinfo(
  host: string | null,
  port: number | string,
  family: number,
  type: number,
  proto = 0,
): AddrInfo[] | null {
  if (host === null) return null;
  if (proto !== 0 && proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) {
    return null;
  }
  if (type === SOCK_STREAM) proto = IPPROTO_TCP;
  else if (type === SOCK_DGRAM) proto = IPPROTO_UDP;
  else return null;
  let portNumber: number;
  if (typeof port === "number") portNumber = port;
  else if (port === "") portNumber = 0;
  else if (/^[0-9]+$/.test(port)) portNumber = Number(port);
  else return null;
  // Anything but a port number is getaddrinfo's to refuse.
  if (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) {
    return null;
  }
  if ((family === 0 || family === AF_INET) && isIPv4(host)) {
    return [[AF_INET, type, proto, "", [host, portNumber]]];
  }
  if (
    (family === 0 || family === AF_INET6) && !host.includes("%") &&
    isIPv6(host)
  ) {
    return [[AF_INET6, type, proto, "", [host, portNumber, 0, 0]]];
  }
  return null;
}

/**
 * Resolves `host` and `port` into socket addresses, as Python's
 * `socket.getaddrinfo(host, port, family, type, proto, flags)`.
 *
 * - IPv4 and IPv6 literals are parsed without any lookup (IPv4 in
 *   `inet_aton`'s looser forms too, `127.1`; IPv6 with an optional `%zone`,
 *   whose interface index becomes the scope id). Results are normalized
 *   (`0:0::1` → `::1`).
 * - Names are looked up in `/etc/hosts` (when readable), then with DNS
 *   (`Deno.resolveDns`, A and AAAA; needs `--allow-net`). `localhost` never
 *   goes to DNS: without an `/etc/hosts` entry it is `::1` and `127.0.0.1`.
 *   Names under `.invalid` fail without a query.
 * - `host` null, undefined or `""`: the wildcard addresses (`0.0.0.0`, `::`)
 *   with `AI_PASSIVE`, else the loopback ones (`::1`, `127.0.0.1`), in
 *   glibc's order. (Python refuses `""` here; asyncio maps it to `None`
 *   before resolving, which is what is done here.)
 * - `port`: an integer 0–65535, a numeric string, a service name from
 *   `/etc/services` (`"http"`) or null (0). Unlike C, a port out of range is a
 *   `RangeError` rather than being truncated to 16 bits.
 * - `type` 0 gives one entry per socket type (`SOCK_STREAM` with
 *   `IPPROTO_TCP`, then `SOCK_DGRAM` with `IPPROTO_UDP`) for each address, as
 *   Linux does (without its `SOCK_RAW` entries); a `proto` alone picks its
 *   type. A named service only yields the types it is defined for.
 * - With `AI_CANONNAME` the first entry carries the canonical name (the
 *   first name of the `/etc/hosts` line, else the host as given).
 *
 * IPv6 addresses are `[host, port, flowinfo (0), scopeid]`.
 *
 * @param host A host name or numeric address; null for "no host".
 * @param port A port number, numeric string or service name; null for 0.
 * @param options `family`, `type`, `proto` and `flags` (all default 0).
 * @returns The addresses, in the order to try them.
 * @throws {TypeError} `host` not a string (or null), `port` not a number or
 *   string, an option not an integer.
 * @throws {RangeError} A port out of 0–65535, an unsupported family, type or
 *   protocol (or a protocol that does not match the type).
 * @throws {Deno.errors.NotFound} The name does not resolve, does not resolve
 *   in the requested family, is not numeric under `AI_NUMERICHOST`, or the
 *   service name is unknown (Python's `socket.gaierror`). Both host and port
 *   null is this error too, as in C.
 *
 * @example Numeric addresses need no lookup
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   await getaddrinfo("127.0.0.1", 8080),
 *   [
 *     [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["127.0.0.1", 8080]],
 *     [AF_INET, SOCK_DGRAM, IPPROTO_UDP, "", ["127.0.0.1", 8080]],
 *   ],
 * );
 * assert.deepEqual(
 *   await getaddrinfo("::1", "https", { type: SOCK_STREAM }),
 *   [[AF_INET6, SOCK_STREAM, IPPROTO_TCP, "", ["::1", 443, 0, 0]]],
 * );
 * ```
 *
 * @example Addresses to bind a server to
 * ```ts
 * import assert from "node:assert/strict";
 * const infos = await getaddrinfo(null, 0, {
 *   type: SOCK_STREAM,
 *   flags: AI_PASSIVE,
 * });
 * assert.deepEqual(infos.map(([family, , , , addr]) => [family, addr]), [
 *   [AF_INET, ["0.0.0.0", 0]],
 *   [AF_INET6, ["::", 0, 0, 0]],
 * ]);
 * ```
 *
 * @example localhost
 * ```ts
 * import assert from "node:assert/strict";
 * const infos = await getaddrinfo("localhost", 80, {
 *   family: AF_INET,
 *   type: SOCK_STREAM,
 * });
 * assert.ok(infos.some(([, , , , addr]) => addr[0] === "127.0.0.1"));
 * ```
 */
export async function getaddrinfo(
  host: string | null | undefined,
  port: number | string | null | undefined,
  options: GetAddrInfoOptions = {},
): Promise<AddrInfo[]> {
  if (host !== null && host !== undefined && typeof host !== "string") {
    throw new TypeError(
      `getaddrinfo: host must be a string or null, not ${describe(host)}`,
    );
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `getaddrinfo: options must be an object, not ${describe(options)}`,
    );
  }
  const family = checkInt(options.family, "family");
  const type = checkInt(options.type, "type");
  const proto = checkInt(options.proto, "proto");
  const flags = checkInt(options.flags, "flags");
  if (family !== AF_UNSPEC && family !== AF_INET && family !== AF_INET6) {
    throw new RangeError(
      `getaddrinfo: ai_family not supported: ${family} ` +
        "(use AF_UNSPEC, AF_INET or AF_INET6)",
    );
  }
  if (type !== 0 && type !== SOCK_STREAM && type !== SOCK_DGRAM) {
    throw new RangeError(
      `getaddrinfo: ai_socktype not supported: ${type} ` +
        "(use 0, SOCK_STREAM or SOCK_DGRAM)",
    );
  }
  if (proto !== 0 && proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) {
    throw new RangeError(
      `getaddrinfo: protocol not supported: ${proto} ` +
        "(use 0, IPPROTO_TCP or IPPROTO_UDP)",
    );
  }
  if (
    (type === SOCK_STREAM && proto === IPPROTO_UDP) ||
    (type === SOCK_DGRAM && proto === IPPROTO_TCP)
  ) {
    throw new RangeError(
      `getaddrinfo: ai_socktype not supported: type ${type} with protocol ${proto}`,
    );
  }
  if (flags < 0) {
    throw new RangeError(`getaddrinfo: bad value for ai_flags: ${flags}`);
  }

  const noHost = host === null || host === undefined || host === "";
  const portSpec = await resolvePort(port, flags);
  if (noHost && portSpec === null) {
    throw new Deno.errors.NotFound(
      "getaddrinfo: Name or service not known (host and port are both null)",
    );
  }

  // The socket types to report, with their protocol and port.
  const socktypes: [number, number, "tcp" | "udp"][] = [
    [SOCK_STREAM, IPPROTO_TCP, "tcp"],
    [SOCK_DGRAM, IPPROTO_UDP, "udp"],
  ];
  const kinds: [number, number, number][] = [];
  for (const [t, p, name] of socktypes) {
    if (type !== 0 && type !== t) continue;
    if (proto !== 0 && proto !== p) continue;
    const n = portSpec === null
      ? 0
      : portSpec.port !== undefined
      ? portSpec.port
      : portSpec.service![name];
    if (n === undefined) continue;
    kinds.push([t, p, n]);
  }
  if (kinds.length === 0) throw servNotSupported(String(port));

  let resolved: Resolved;
  if (noHost) {
    const addrs: Numeric[] = (flags & AI_PASSIVE) !== 0
      ? [
        { family: AF_INET, host: "0.0.0.0", scopeid: 0 },
        { family: AF_INET6, host: "::", scopeid: 0 },
      ]
      : [
        { family: AF_INET6, host: "::1", scopeid: 0 },
        { family: AF_INET, host: "127.0.0.1", scopeid: 0 },
      ];
    resolved = {
      addrs: addrs.filter((a) => family === AF_UNSPEC || a.family === family),
      canonname: "",
    };
  } else {
    resolved = await resolveHost(host!, family, flags);
  }

  const out: AddrInfo[] = [];
  for (const addr of resolved.addrs) {
    for (const [t, p, n] of kinds) {
      const sockaddr: SockAddr = addr.family === AF_INET6
        ? [addr.host, n, 0, addr.scopeid]
        : [addr.host, n];
      const canon = out.length === 0 && (flags & AI_CANONNAME) !== 0
        ? resolved.canonname
        : "";
      out.push([addr.family, t, p, canon, sockaddr]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// getnameinfo
// ---------------------------------------------------------------------------

/**
 * Turns a socket address back into `[host, service]`, as Python's
 * `socket.getnameinfo(sockaddr, flags)`.
 *
 * The host must be numeric. Without `NI_NUMERICHOST` it is looked up in
 * `/etc/hosts` (`127.0.0.1` → `localhost` on most systems); no reverse DNS
 * query is made, so an address without an `/etc/hosts` name comes back
 * numeric (or, with `NI_NAMEREQD`, fails). A link-local IPv6 address with a
 * scope id comes back as `fe80::1%eth0`. The port becomes its TCP service name
 * (UDP with `NI_DGRAM`) from `/etc/services`, or stays a numeric string when
 * it has none or `NI_NUMERICSERV` is given.
 *
 * @param sockaddr `[host, port]`, or `[host, port, flowinfo?, scopeid?]` for
 *   IPv6.
 * @param flags `NI_NUMERICHOST`, `NI_NUMERICSERV`, `NI_NAMEREQD`, `NI_DGRAM`
 *   (other bits are ignored).
 * @returns `[host, service]`, both strings.
 * @throws {TypeError} `sockaddr` not an array of the right shape (an IPv4
 *   address with four items), a host not a string, a port not an integer.
 * @throws {RangeError} A port out of 0–65535, a flowinfo out of 0–1048575, a
 *   scope id out of 0–2³²−1.
 * @throws {Deno.errors.NotFound} The host is not a numeric address, or has no
 *   name under `NI_NAMEREQD`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   await getnameinfo(["127.0.0.1", 443], NI_NUMERICHOST),
 *   ["127.0.0.1", "https"],
 * );
 * assert.deepEqual(
 *   await getnameinfo(["::1", 8080, 0, 0], NI_NUMERICHOST | NI_NUMERICSERV),
 *   ["::1", "8080"],
 * );
 * ```
 */
export async function getnameinfo(
  sockaddr: SockAddr,
  flags = 0,
): Promise<[string, string]> {
  if (!Array.isArray(sockaddr)) {
    throw new TypeError(
      `getnameinfo: sockaddr must be an array [host, port, ...], not ${
        describe(sockaddr)
      }`,
    );
  }
  if (sockaddr.length < 2 || sockaddr.length > 4) {
    throw new TypeError(
      `getnameinfo: sockaddr must have 2 to 4 items, got ${sockaddr.length}`,
    );
  }
  if (typeof flags !== "number" || !Number.isInteger(flags)) {
    throw new TypeError(
      `getnameinfo: flags must be an integer, not ${describe(flags)}`,
    );
  }
  const [host, port, flowinfo = 0, scopeid = 0] = sockaddr as unknown[];
  if (typeof host !== "string") {
    throw new TypeError(
      `getnameinfo: host must be a string, not ${describe(host)}`,
    );
  }
  checkPort(port, "getnameinfo");
  checkFlowScope(flowinfo, scopeid, "getnameinfo");
  const numeric = await parseNumericHost(host).catch(() => null);
  if (numeric === null) {
    throw new Deno.errors.NotFound(
      `getnameinfo: ${host}: Name or service not known (the host must be a numeric address)`,
    );
  }
  if (numeric.family === AF_INET && sockaddr.length !== 2) {
    throw new TypeError(
      `getnameinfo: an IPv4 sockaddr must be [host, port], got ${sockaddr.length} items`,
    );
  }

  let name: string | null = null;
  if ((flags & NI_NUMERICHOST) === 0) {
    const entry = (await readHosts()).find((e) =>
      e.family === numeric.family && e.address === numeric.host
    );
    if (entry !== undefined) name = entry.names[0];
  }
  if (name === null) {
    if ((flags & NI_NAMEREQD) !== 0 && (flags & NI_NUMERICHOST) === 0) {
      throw new Deno.errors.NotFound(
        `getnameinfo: ${host}: Name or service not known (NI_NAMEREQD)`,
      );
    }
    name = numeric.host;
    const words = numeric.family === AF_INET6 ? parseIPv6(numeric.host) : null;
    if (words !== null && (scopeid as number) !== 0 && isScopedIPv6(words)) {
      const ifname = await interfaceName(scopeid as number);
      name += `%${ifname ?? scopeid}`;
    }
  }

  let service = String(port);
  if ((flags & NI_NUMERICSERV) === 0) {
    const proto = (flags & NI_DGRAM) !== 0 ? "udp" : "tcp";
    service = (await services()).byPort.get(`${port}/${proto}`) ?? service;
  }
  return [name, service];
}

// ---------------------------------------------------------------------------
// Address arguments
// ---------------------------------------------------------------------------

function checkFlowScope(
  flowinfo: unknown,
  scopeid: unknown,
  where: string,
): void {
  for (
    const [value, what, max] of [
      [flowinfo, "flowinfo", 0xfffff],
      [scopeid, "scope id", 0xffffffff],
    ] as const
  ) {
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw new TypeError(
        `${where}: ${what} must be an integer, not ${describe(value)}`,
      );
    }
    if (value < 0 || value > max) {
      throw new RangeError(`${where}: ${what} must be 0-${max}, got ${value}`);
    }
  }
}

/**
 * Checks a socket address argument (for `bind`, `connect`, `sendto`...) as a
 * Python socket of `family` would, and returns it in canonical shape:
 *
 * - `AF_UNIX`: a path string, returned as is.
 * - `AF_INET`: `[host, port]`.
 * - `AF_INET6`: `[host, port]`, `[host, port, flowinfo]` or
 *   `[host, port, flowinfo, scopeid]`, returned as the 4-item form (missing
 *   items are 0).
 * - `AF_UNSPEC`: a string is a Unix path, an array is IPv6 when its host is an
 *   IPv6 literal or it has more than two items, else IPv4.
 *
 * The host `""` becomes the family's wildcard (`0.0.0.0` / `::`) and
 * `"<broadcast>"` becomes `255.255.255.255`, as in Python. Other hosts,
 * names included, are returned unchanged (names are resolved later); a
 * numeric host of the other IP family is refused.
 *
 * @param addr The address argument.
 * @param family `AF_INET`, `AF_INET6`, `AF_UNIX` or `AF_UNSPEC`.
 * @returns The address, `[host, port]`, `[host, port, flowinfo, scopeid]` or
 *   a path.
 * @throws {TypeError} Not an array (a string for `AF_UNIX`), the wrong
 *   number of items, a host that is not a string, a port, flowinfo or scope id
 *   that is not an integer.
 * @throws {RangeError} A port out of 0–65535, a flowinfo out of 0–1048575, a
 *   scope id out of 0–2³²−1, an IPv6 host for `AF_INET` (or the reverse), an
 *   unknown family.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(normalizeAddress(["127.0.0.1", 80], AF_INET), [
 *   "127.0.0.1",
 *   80,
 * ]);
 * assert.deepEqual(normalizeAddress(["::1", 80], AF_INET6), ["::1", 80, 0, 0]);
 * assert.deepEqual(normalizeAddress(["", 0], AF_INET), ["0.0.0.0", 0]);
 * assert.throws(() => normalizeAddress(["127.0.0.1", 70000], AF_INET), RangeError);
 * assert.throws(() => normalizeAddress("127.0.0.1:80", AF_INET), TypeError);
 * ```
 */
export function normalizeAddress(
  addr: unknown,
  family: number,
): SockAddr | string {
  const where = "address";
  if (
    family === AF_UNIX || (family === AF_UNSPEC && typeof addr === "string")
  ) {
    if (typeof addr !== "string") {
      throw new TypeError(
        `${where}: an AF_UNIX address must be a path string, not ${
          describe(addr)
        }`,
      );
    }
    return addr;
  }
  if (family !== AF_INET && family !== AF_INET6 && family !== AF_UNSPEC) {
    throw new RangeError(
      `${where}: unsupported address family ${family} ` +
        "(use AF_INET, AF_INET6 or AF_UNIX)",
    );
  }
  if (!Array.isArray(addr)) {
    throw new TypeError(
      `${where}: an ${
        family === AF_INET6 ? "AF_INET6" : "AF_INET"
      } address must be an array [host, port], not ${describe(addr)}`,
    );
  }
  const host = addr[0];
  if (typeof host !== "string") {
    throw new TypeError(
      `${where}: the host must be a string, not ${describe(host)}`,
    );
  }
  if (family === AF_UNSPEC) {
    family = isIPv6(host) || addr.length > 2 ? AF_INET6 : AF_INET;
  }
  if (family === AF_INET) {
    if (addr.length !== 2) {
      throw new TypeError(
        `${where}: an AF_INET address must be [host, port], got ${addr.length} items`,
      );
    }
    const port = checkPort(addr[1], where);
    if (isIPv6(host)) {
      throw new RangeError(
        `${where}: ${host} is an IPv6 address; an AF_INET socket needs IPv4`,
      );
    }
    const h = host === ""
      ? "0.0.0.0"
      : host === "<broadcast>"
      ? "255.255.255.255"
      : host;
    return [h, port];
  }
  if (addr.length < 2 || addr.length > 4) {
    throw new TypeError(
      `${where}: an AF_INET6 address must be [host, port, flowinfo?, scopeid?], got ${addr.length} items`,
    );
  }
  const port = checkPort(addr[1], where);
  const flowinfo = addr[2] ?? 0;
  const scopeid = addr[3] ?? 0;
  checkFlowScope(flowinfo, scopeid, where);
  if (isIPv4(host)) {
    throw new RangeError(
      `${where}: ${host} is an IPv4 address; an AF_INET6 socket needs IPv6`,
    );
  }
  const h = host === "" ? "::" : host;
  return [h, port, flowinfo as number, scopeid as number];
}
