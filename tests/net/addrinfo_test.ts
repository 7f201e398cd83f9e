/**
 * `getaddrinfo` / `getnameinfo` and the address helpers of
 * `loop/addrinfo.ts`, checked against what CPython's `socket` module returns
 * on Linux (glibc). No test touches the network: hosts are literals,
 * `localhost`, `/etc/hosts` names and the reserved `.invalid` domain.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  AF_UNSPEC,
  AI_CANONNAME,
  AI_NUMERICHOST,
  AI_NUMERICSERV,
  AI_PASSIVE,
  getaddrinfo,
  getnameinfo,
  IPPROTO_TCP,
  IPPROTO_UDP,
  isIPv4,
  isIPv6,
  NI_DGRAM,
  NI_NAMEREQD,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  normalizeAddress,
  SOCK_DGRAM,
  SOCK_STREAM,
  type SockAddr,
} from "../../loop/net/addrinfo.ts";

const STREAM = { type: SOCK_STREAM };

/** Sockaddrs of the results. */
async function addrs(
  host: string | null | undefined,
  port: number | string | null | undefined,
  options: Parameters<typeof getaddrinfo>[2] = STREAM,
): Promise<SockAddr[]> {
  return (await getaddrinfo(host, port, options)).map((info) => info[4]);
}

/** /etc/hosts as [address, names] lines; [] when unreadable. */
async function hostsLines(): Promise<[string, string[]][]> {
  let text: string;
  try {
    text = await Deno.readTextFile("/etc/hosts");
  } catch {
    return [];
  }
  return text.split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter((line) => line !== "")
    .map((line) => line.split(/\s+/))
    .filter((parts) => parts.length >= 2)
    .map(([address, ...names]) => [address, names]);
}

Deno.test("constants have their Linux values", () => {
  assert.deepEqual(
    [AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM],
    [0, 1, 2, 10, 1, 2],
  );
  assert.deepEqual([IPPROTO_TCP, IPPROTO_UDP], [6, 17]);
  assert.deepEqual(
    [AI_PASSIVE, AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV],
    [1, 2, 4, 0x400],
  );
  assert.deepEqual(
    [NI_NUMERICHOST, NI_NUMERICSERV, NI_NAMEREQD, NI_DGRAM],
    [1, 2, 8, 16],
  );
});

// --- isIPv4 / isIPv6 -------------------------------------------------------

Deno.test("isIPv4 accepts strict dotted decimal only", () => {
  for (const s of ["0.0.0.0", "127.0.0.1", "255.255.255.255", "10.0.0.10"]) {
    assert.equal(isIPv4(s), true, s);
  }
  for (
    const s of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3.4 ",
      " 1.2.3.4",
      "1..3.4",
      "0x7f.0.0.1",
      "127.1",
      "a.b.c.d",
      "::1",
      "localhost",
    ]
  ) {
    assert.equal(isIPv4(s), false, JSON.stringify(s));
  }
  assert.equal(isIPv4(123), false);
  assert.equal(isIPv4(null), false);
});

Deno.test("isIPv6 accepts inet_pton forms and a zone", () => {
  for (
    const s of [
      "::",
      "::1",
      "1::",
      "fe80::1",
      "2001:db8::8a2e:370:7334",
      "2001:0db8:0000:0000:0000:ff00:0042:8329",
      "1:2:3:4:5:6:7:8",
      "::ffff:127.0.0.1",
      "::1.2.3.4",
      "1:2:3:4:5:6:1.2.3.4",
      "FE80::ABCD",
      "fe80::1%eth0",
      "fe80::1%2",
    ]
  ) {
    assert.equal(isIPv6(s), true, s);
  }
  for (
    const s of [
      "",
      ":",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "12345::",
      "g::1",
      "::1.2.3",
      "::256.1.1.1",
      "1.2.3.4::",
      "1:2:3:4:5:6:7:1.2.3.4",
      "fe80::1%",
      "fe80::1%a b",
      "127.0.0.1",
      "localhost",
    ]
  ) {
    assert.equal(isIPv6(s), false, JSON.stringify(s));
  }
  assert.equal(isIPv6(undefined), false);
});

// --- getaddrinfo: literals ---------------------------------------------------

Deno.test("getaddrinfo: IPv4 literal, type 0 gives stream and datagram", async () => {
  assert.deepEqual(await getaddrinfo("127.0.0.1", 80), [
    [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["127.0.0.1", 80]],
    [AF_INET, SOCK_DGRAM, IPPROTO_UDP, "", ["127.0.0.1", 80]],
  ]);
});

Deno.test("getaddrinfo: IPv6 literal gives a 4-item sockaddr", async () => {
  assert.deepEqual(await getaddrinfo("::1", 443, STREAM), [
    [AF_INET6, SOCK_STREAM, IPPROTO_TCP, "", ["::1", 443, 0, 0]],
  ]);
  assert.deepEqual(await getaddrinfo("2001:db8::1", 53, { type: SOCK_DGRAM }), [
    [AF_INET6, SOCK_DGRAM, IPPROTO_UDP, "", ["2001:db8::1", 53, 0, 0]],
  ]);
});

Deno.test("getaddrinfo: literals are normalized like glibc", async () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:1", "::1"],
    ["0:0::1", "::1"],
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"],
    ["::ffff:127.0.0.1", "::ffff:127.0.0.1"],
    ["::ffff:7f00:1", "::ffff:127.0.0.1"],
    ["::1.2.3.4", "::1.2.3.4"],
    ["::", "::"],
  ];
  for (const [input, expected] of cases) {
    assert.deepEqual(await addrs(input, 1), [[expected, 1, 0, 0]], input);
  }
  // inet_aton's looser IPv4 forms, which glibc's getaddrinfo accepts.
  const v4: [string, string][] = [
    ["127.1", "127.0.0.1"],
    ["0x7f.1", "127.0.0.1"],
    ["01.2.3.4", "1.2.3.4"],
    ["80", "0.0.0.80"],
    ["10.1.258", "10.1.1.2"],
    ["2130706433", "127.0.0.1"],
  ];
  for (const [input, expected] of v4) {
    assert.deepEqual(await addrs(input, 1), [[expected, 1]], input);
  }
});

Deno.test("getaddrinfo: an IPv6 zone becomes the scope id", async () => {
  assert.deepEqual(await addrs("fe80::1%3", 80), [["fe80::1", 80, 0, 3]]);
  assert.deepEqual(await addrs("::1%1", 80), [["::1", 80, 0, 1]]);
  // "lo" is interface 1 wherever /sys/class/net/lo exists.
  let loIndex: number | null = null;
  try {
    loIndex = Number(
      (await Deno.readTextFile("/sys/class/net/lo/ifindex")).trim(),
    );
  } catch {
    // No /sys here; the named zone is then unknown.
  }
  if (loIndex !== null) {
    assert.deepEqual(await addrs("fe80::1%lo", 80), [
      ["fe80::1", 80, 0, loIndex],
    ]);
  }
  await assert.rejects(
    getaddrinfo("fe80::1%no-such-if0", 80),
    Deno.errors.NotFound,
  );
});

Deno.test("getaddrinfo: AI_CANONNAME names the first entry only", async () => {
  const infos = await getaddrinfo("127.0.0.1", 80, { flags: AI_CANONNAME });
  assert.deepEqual(infos.map((i) => i[3]), ["127.0.0.1", ""]);
  const plain = await getaddrinfo("127.0.0.1", 80);
  assert.deepEqual(plain.map((i) => i[3]), ["", ""]);
});

// --- getaddrinfo: names ------------------------------------------------------

Deno.test("getaddrinfo: localhost follows /etc/hosts, else both loopbacks", async () => {
  const lines = await hostsLines();
  const listed = lines.filter(([, names]) =>
    names.some((n) => n.toLowerCase() === "localhost")
  );
  const got = await addrs("localhost", 80);
  if (listed.length === 0) {
    assert.deepEqual(got, [["::1", 80, 0, 0], ["127.0.0.1", 80]]);
  } else {
    const expected = new Set(listed.map(([a]) => a === "::1" ? "::1" : a));
    assert.deepEqual(new Set(got.map((a) => a[0])), expected);
    // ::1 (precedence 50) before 127.0.0.1 (35), as glibc sorts.
    const hosts = got.map((a) => a[0]);
    if (hosts.includes("::1") && hosts.includes("127.0.0.1")) {
      assert.ok(hosts.indexOf("::1") < hosts.indexOf("127.0.0.1"));
    }
  }
  // An IPv4 loopback is there on every Linux, and names are case-insensitive.
  const v4 = await addrs("LocalHost", 80, { family: AF_INET, type: 0 });
  assert.ok(v4.some((a) => a[0] === "127.0.0.1"));
  for (const a of v4) assert.equal(a.length, 2);
});

Deno.test("getaddrinfo: a name from /etc/hosts resolves to its address", async () => {
  const lines = await hostsLines();
  const usable = lines.filter(([address]) =>
    isIPv4(address) || isIPv6(address)
  );
  if (usable.length === 0) return; // no readable /etc/hosts: nothing to check
  // Prefer a name other than localhost, to exercise the file itself.
  const [address, names] =
    usable.find(([, n]) => n.some((x) => x !== "localhost")) ?? usable[0];
  const name = names.find((x) => x !== "localhost") ?? names[0];
  const family = isIPv4(address) ? AF_INET : AF_INET6;
  const infos = await getaddrinfo(name, 8080, {
    family,
    type: SOCK_STREAM,
    flags: AI_CANONNAME,
  });
  const normalized = (await addrs(address, 8080, { family, type: 0 }))[0][0];
  assert.ok(
    infos.some((i) => i[4][0] === normalized),
    `${name} should resolve to ${address}: ${JSON.stringify(infos)}`,
  );
  for (const info of infos) {
    assert.equal(info[0], family);
    assert.equal(info[1], SOCK_STREAM);
    assert.equal(info[4][1], 8080);
  }
  // The canonical name is the first name of the first matching line.
  const firstLine = usable.find(([a, n]) =>
    (isIPv4(a) ? AF_INET : AF_INET6) === family &&
    n.some((x) => x.toLowerCase() === name.toLowerCase())
  )!;
  assert.equal(infos[0][3], firstLine[1][0]);
});

Deno.test("getaddrinfo: a name in the wrong family is not found", async () => {
  // glibc answers from /etc/hosts only for the families it lists; localhost
  // is the one name guaranteed never to reach DNS, so it is the one checked.
  const lines = await hostsLines();
  const localhostFamilies = new Set(
    lines.filter(([, n]) => n.includes("localhost")).map(([a]) =>
      isIPv4(a) ? AF_INET : AF_INET6
    ),
  );
  if (localhostFamilies.size === 1 && localhostFamilies.has(AF_INET)) {
    await assert.rejects(
      getaddrinfo("localhost", 80, { family: AF_INET6 }),
      Deno.errors.NotFound,
    );
  }
});

Deno.test("getaddrinfo: .invalid names fail at once with the host in the message", async () => {
  await assert.rejects(
    getaddrinfo("no-such-host.invalid", 80),
    (err: unknown) => {
      assert.ok(err instanceof Deno.errors.NotFound);
      assert.equal(
        err.message,
        "getaddrinfo: no-such-host.invalid: Name or service not known",
      );
      return true;
    },
  );
});

Deno.test("getaddrinfo: AI_NUMERICHOST refuses names without a lookup", async () => {
  await assert.rejects(
    getaddrinfo("localhost", 80, { flags: AI_NUMERICHOST }),
    Deno.errors.NotFound,
  );
  await assert.rejects(
    getaddrinfo("example.com", 80, { flags: AI_NUMERICHOST }),
    /example\.com/,
  );
  assert.deepEqual(
    await addrs("10.0.0.1", 80, { flags: AI_NUMERICHOST, type: SOCK_STREAM }),
    [["10.0.0.1", 80]],
  );
});

// --- getaddrinfo: no host ------------------------------------------------------

Deno.test("getaddrinfo: no host and AI_PASSIVE gives the wildcards", async () => {
  const passive = { type: SOCK_STREAM, flags: AI_PASSIVE };
  for (const host of [null, undefined, ""]) {
    assert.deepEqual(await getaddrinfo(host, 8080, passive), [
      [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["0.0.0.0", 8080]],
      [AF_INET6, SOCK_STREAM, IPPROTO_TCP, "", ["::", 8080, 0, 0]],
    ]);
  }
  assert.deepEqual(
    await addrs(null, 0, { ...passive, family: AF_INET6 }),
    [["::", 0, 0, 0]],
  );
});

Deno.test("getaddrinfo: no host without AI_PASSIVE gives the loopbacks", async () => {
  assert.deepEqual(await addrs(null, 0), [["::1", 0, 0, 0], ["127.0.0.1", 0]]);
  assert.deepEqual(
    await addrs("", 80, { family: AF_INET, type: SOCK_STREAM }),
    [
      ["127.0.0.1", 80],
    ],
  );
  // Type 0: each address once per socket type.
  const all = await getaddrinfo(undefined, 1);
  assert.deepEqual(all.map((i) => [i[0], i[1], i[2]]), [
    [AF_INET6, SOCK_STREAM, IPPROTO_TCP],
    [AF_INET6, SOCK_DGRAM, IPPROTO_UDP],
    [AF_INET, SOCK_STREAM, IPPROTO_TCP],
    [AF_INET, SOCK_DGRAM, IPPROTO_UDP],
  ]);
});

Deno.test("getaddrinfo: host and port both null is not found", async () => {
  await assert.rejects(getaddrinfo(null, null), Deno.errors.NotFound);
  await assert.rejects(getaddrinfo(undefined, undefined), Deno.errors.NotFound);
});

// --- getaddrinfo: filters -----------------------------------------------------

Deno.test("getaddrinfo: family filter", async () => {
  assert.deepEqual(await addrs(null, 1, { family: AF_INET, type: 1 }), [
    ["127.0.0.1", 1],
  ]);
  assert.deepEqual(await addrs(null, 1, { family: AF_INET6, type: 1 }), [
    ["::1", 1, 0, 0],
  ]);
  assert.deepEqual(await addrs("::1", 1, { family: AF_UNSPEC, type: 1 }), [
    ["::1", 1, 0, 0],
  ]);
  await assert.rejects(
    getaddrinfo("127.0.0.1", 80, { family: AF_INET6 }),
    (err: unknown) =>
      err instanceof Deno.errors.NotFound &&
      /Address family for hostname not supported/.test(err.message),
  );
  await assert.rejects(
    getaddrinfo("::1", 80, { family: AF_INET }),
    Deno.errors.NotFound,
  );
});

Deno.test("getaddrinfo: type and proto filters", async () => {
  const kinds = async (options: Parameters<typeof getaddrinfo>[2]) =>
    (await getaddrinfo("127.0.0.1", 80, options)).map((i) => [i[1], i[2]]);
  assert.deepEqual(await kinds({}), [[1, 6], [2, 17]]);
  assert.deepEqual(await kinds({ type: SOCK_STREAM }), [[1, 6]]);
  assert.deepEqual(await kinds({ type: SOCK_DGRAM }), [[2, 17]]);
  assert.deepEqual(await kinds({ proto: IPPROTO_TCP }), [[1, 6]]);
  assert.deepEqual(await kinds({ proto: IPPROTO_UDP }), [[2, 17]]);
  assert.deepEqual(
    await kinds({ type: SOCK_STREAM, proto: IPPROTO_TCP }),
    [[1, 6]],
  );
  await assert.rejects(
    getaddrinfo("127.0.0.1", 80, { type: SOCK_STREAM, proto: IPPROTO_UDP }),
    RangeError,
  );
  await assert.rejects(
    getaddrinfo("127.0.0.1", 80, { type: SOCK_DGRAM, proto: IPPROTO_TCP }),
    RangeError,
  );
});

// --- getaddrinfo: ports -------------------------------------------------------

Deno.test("getaddrinfo: port forms", async () => {
  const port = async (p: number | string | null | undefined) =>
    (await addrs("127.0.0.1", p))[0][1];
  assert.equal(await port(0), 0);
  assert.equal(await port(65535), 65535);
  assert.equal(await port(null), 0);
  assert.equal(await port(undefined), 0);
  assert.equal(await port("8080"), 8080);
  assert.equal(await port("080"), 80);
  assert.equal(await port(" 80"), 80);
  assert.equal(await port(""), 0);
  assert.equal(await port("http"), 80);
  assert.equal(await port("www"), 80);
  assert.equal(await port("https"), 443);
  assert.equal(await port("ssh"), 22);
  assert.equal(
    (await addrs("127.0.0.1", "domain", { type: SOCK_DGRAM }))[0][1],
    53,
  );
});

Deno.test("getaddrinfo: a service only yields the types it is defined for", async () => {
  // ssh is TCP only in /etc/services (and in the built-in table).
  const infos = await getaddrinfo("127.0.0.1", "ssh");
  assert.deepEqual(infos.map((i) => i[1]), [SOCK_STREAM]);
  await assert.rejects(
    getaddrinfo("127.0.0.1", "ssh", { type: SOCK_DGRAM }),
    (err: unknown) =>
      err instanceof Deno.errors.NotFound &&
      /Servname not supported/.test(err.message),
  );
  // A numeric port is good for every type.
  assert.equal((await getaddrinfo("127.0.0.1", "22")).length, 2);
});

Deno.test("getaddrinfo: bad ports", async () => {
  for (const p of [-1, 65536, 70000, "65536", "-1", "99999999999"]) {
    await assert.rejects(getaddrinfo("127.0.0.1", p), RangeError, String(p));
  }
  for (const p of [1.5, NaN, Infinity, true, {}, [80], 80n]) {
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      getaddrinfo("127.0.0.1", p as any),
      TypeError,
      String(p),
    );
  }
  await assert.rejects(
    getaddrinfo("127.0.0.1", "no-such-service"),
    Deno.errors.NotFound,
  );
  await assert.rejects(
    getaddrinfo("127.0.0.1", "http", { flags: AI_NUMERICSERV }),
    Deno.errors.NotFound,
  );
  assert.deepEqual(
    await addrs("127.0.0.1", "80", { flags: AI_NUMERICSERV, type: 1 }),
    [["127.0.0.1", 80]],
  );
});

// --- getaddrinfo: bad arguments ----------------------------------------------

Deno.test("getaddrinfo: bad host and options", async () => {
  for (const host of [123, {}, ["127.0.0.1"], true, new Uint8Array(4)]) {
    // deno-lint-ignore no-explicit-any
    await assert.rejects(getaddrinfo(host as any, 80), TypeError);
  }
  for (const family of [AF_UNIX, 99, -1]) {
    await assert.rejects(
      getaddrinfo("127.0.0.1", 80, { family }),
      RangeError,
    );
  }
  await assert.rejects(getaddrinfo("127.0.0.1", 80, { type: 3 }), RangeError);
  await assert.rejects(
    getaddrinfo("127.0.0.1", 80, { proto: 132 }),
    RangeError,
  );
  await assert.rejects(getaddrinfo("127.0.0.1", 80, { flags: -1 }), RangeError);
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    getaddrinfo("127.0.0.1", 80, { family: "2" as any }),
    TypeError,
  );
  await assert.rejects(
    getaddrinfo("127.0.0.1", 80, { type: 1.5 }),
    TypeError,
  );
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    getaddrinfo("127.0.0.1", 80, 5 as any),
    TypeError,
  );
});

// --- getnameinfo -------------------------------------------------------------

Deno.test("getnameinfo: numeric forms", async () => {
  const numeric = NI_NUMERICHOST | NI_NUMERICSERV;
  assert.deepEqual(await getnameinfo(["127.0.0.1", 80], numeric), [
    "127.0.0.1",
    "80",
  ]);
  assert.deepEqual(await getnameinfo(["::1", 8080, 0, 0], numeric), [
    "::1",
    "8080",
  ]);
  assert.deepEqual(await getnameinfo(["0:0::1", 1], numeric), ["::1", "1"]);
  assert.deepEqual(await getnameinfo(["10.1.2.3", 0], numeric), [
    "10.1.2.3",
    "0",
  ]);
});

Deno.test("getnameinfo: services", async () => {
  const n = NI_NUMERICHOST;
  assert.deepEqual(await getnameinfo(["127.0.0.1", 80], n), [
    "127.0.0.1",
    "http",
  ]);
  assert.deepEqual(await getnameinfo(["127.0.0.1", 443], n), [
    "127.0.0.1",
    "https",
  ]);
  assert.deepEqual(await getnameinfo(["127.0.0.1", 12345], n), [
    "127.0.0.1",
    "12345",
  ]);
  assert.deepEqual(await getnameinfo(["127.0.0.1", 53], n | NI_DGRAM), [
    "127.0.0.1",
    "domain",
  ]);
  // ssh has no UDP entry.
  assert.deepEqual(await getnameinfo(["127.0.0.1", 22], n | NI_DGRAM), [
    "127.0.0.1",
    "22",
  ]);
});

Deno.test("getnameinfo: names from /etc/hosts, else the number", async () => {
  const lines = await hostsLines();
  const first = lines.find(([a]) => a === "127.0.0.1");
  const [host, service] = await getnameinfo(["127.0.0.1", 80]);
  assert.equal(host, first ? first[1][0] : "127.0.0.1");
  assert.equal(service, "http");
  // 192.0.2.0/24 is TEST-NET-1: never in /etc/hosts in practice.
  assert.deepEqual(await getnameinfo(["192.0.2.1", 80]), ["192.0.2.1", "http"]);
  await assert.rejects(
    getnameinfo(["192.0.2.1", 80], NI_NAMEREQD),
    Deno.errors.NotFound,
  );
  // NI_NUMERICHOST wins over NI_NAMEREQD.
  assert.deepEqual(
    await getnameinfo(["192.0.2.1", 80], NI_NAMEREQD | NI_NUMERICHOST),
    ["192.0.2.1", "http"],
  );
});

Deno.test("getnameinfo: a link-local scope id is shown as a zone", async () => {
  let loIndex: number | null = null;
  try {
    loIndex = Number(
      (await Deno.readTextFile("/sys/class/net/lo/ifindex")).trim(),
    );
  } catch {
    // No /sys here.
  }
  const [host] = await getnameinfo(
    ["fe80::1", 80, 0, loIndex ?? 1],
    NI_NUMERICHOST,
  );
  assert.equal(host, loIndex === null ? "fe80::1%1" : "fe80::1%lo");
  // Not link-local: no zone.
  assert.deepEqual(
    await getnameinfo(["2001:db8::1", 80, 0, 1], NI_NUMERICHOST),
    ["2001:db8::1", "http"],
  );
  // Scope id 0: the zone written in the host is dropped, as CPython does.
  assert.deepEqual(
    await getnameinfo(["fe80::1%1", 80, 0, 0], NI_NUMERICHOST),
    ["fe80::1", "http"],
  );
});

Deno.test("getnameinfo: bad sockaddrs", async () => {
  // deno-lint-ignore no-explicit-any
  const call = (s: unknown, flags?: number) => getnameinfo(s as any, flags);
  await assert.rejects(call("127.0.0.1:80"), TypeError);
  await assert.rejects(call(["127.0.0.1"]), TypeError);
  await assert.rejects(call(["::1", 1, 0, 0, 0]), TypeError);
  await assert.rejects(call([127001, 80]), TypeError);
  await assert.rejects(call(["127.0.0.1", "80"]), TypeError);
  await assert.rejects(call(["127.0.0.1", 80, 0, 0]), TypeError);
  await assert.rejects(call(["127.0.0.1", 70000]), RangeError);
  await assert.rejects(call(["127.0.0.1", -1]), RangeError);
  await assert.rejects(call(["::1", 80, 1 << 20, 0]), RangeError);
  await assert.rejects(call(["::1", 80, 0, -1]), RangeError);
  await assert.rejects(call(["127.0.0.1", 80], 1.5), TypeError);
  await assert.rejects(call(["localhost", 80]), Deno.errors.NotFound);
  await assert.rejects(call(["x.invalid", 80]), Deno.errors.NotFound);
});

// --- normalizeAddress --------------------------------------------------------

Deno.test("normalizeAddress: AF_INET", () => {
  assert.deepEqual(normalizeAddress(["127.0.0.1", 80], AF_INET), [
    "127.0.0.1",
    80,
  ]);
  assert.deepEqual(normalizeAddress(["example.com", 443], AF_INET), [
    "example.com",
    443,
  ]);
  assert.deepEqual(normalizeAddress(["", 0], AF_INET), ["0.0.0.0", 0]);
  assert.deepEqual(normalizeAddress(["<broadcast>", 9], AF_INET), [
    "255.255.255.255",
    9,
  ]);
  assert.throws(() => normalizeAddress("127.0.0.1", AF_INET), TypeError);
  assert.throws(() => normalizeAddress(null, AF_INET), TypeError);
  assert.throws(() => normalizeAddress(["127.0.0.1"], AF_INET), TypeError);
  assert.throws(
    () => normalizeAddress(["127.0.0.1", 1, 0, 0], AF_INET),
    TypeError,
  );
  assert.throws(() => normalizeAddress([1, 80], AF_INET), TypeError);
  assert.throws(
    () => normalizeAddress(["127.0.0.1", "80"], AF_INET),
    TypeError,
  );
  assert.throws(() => normalizeAddress(["127.0.0.1", 1.5], AF_INET), TypeError);
  assert.throws(() => normalizeAddress(["127.0.0.1", -1], AF_INET), RangeError);
  assert.throws(
    () => normalizeAddress(["127.0.0.1", 65536], AF_INET),
    RangeError,
  );
  assert.throws(() => normalizeAddress(["::1", 80], AF_INET), RangeError);
});

Deno.test("normalizeAddress: AF_INET6", () => {
  assert.deepEqual(normalizeAddress(["::1", 80], AF_INET6), ["::1", 80, 0, 0]);
  assert.deepEqual(normalizeAddress(["::1", 80, 5], AF_INET6), [
    "::1",
    80,
    5,
    0,
  ]);
  assert.deepEqual(normalizeAddress(["fe80::1", 80, 0, 2], AF_INET6), [
    "fe80::1",
    80,
    0,
    2,
  ]);
  assert.deepEqual(normalizeAddress(["", 0], AF_INET6), ["::", 0, 0, 0]);
  assert.deepEqual(normalizeAddress(["localhost", 1], AF_INET6), [
    "localhost",
    1,
    0,
    0,
  ]);
  assert.throws(() => normalizeAddress(["::1"], AF_INET6), TypeError);
  assert.throws(
    () => normalizeAddress(["::1", 1, 0, 0, 0], AF_INET6),
    TypeError,
  );
  assert.throws(() => normalizeAddress(["::1", 1, "0"], AF_INET6), TypeError);
  assert.throws(
    () => normalizeAddress(["::1", 1, 1 << 20], AF_INET6),
    RangeError,
  );
  assert.throws(
    () => normalizeAddress(["::1", 1, 0, 2 ** 32], AF_INET6),
    RangeError,
  );
  assert.throws(() => normalizeAddress(["::1", 65536], AF_INET6), RangeError);
  assert.throws(
    () => normalizeAddress(["127.0.0.1", 80], AF_INET6),
    RangeError,
  );
});

Deno.test("normalizeAddress: AF_UNIX, AF_UNSPEC and bad families", () => {
  assert.equal(normalizeAddress("/tmp/x.sock", AF_UNIX), "/tmp/x.sock");
  assert.throws(() => normalizeAddress(["/tmp/x.sock", 0], AF_UNIX), TypeError);
  assert.throws(() => normalizeAddress(new Uint8Array(3), AF_UNIX), TypeError);
  assert.equal(normalizeAddress("/tmp/x.sock", AF_UNSPEC), "/tmp/x.sock");
  assert.deepEqual(normalizeAddress(["127.0.0.1", 1], AF_UNSPEC), [
    "127.0.0.1",
    1,
  ]);
  assert.deepEqual(normalizeAddress(["::1", 1], AF_UNSPEC), ["::1", 1, 0, 0]);
  assert.deepEqual(normalizeAddress(["h", 1, 0, 0], AF_UNSPEC), [
    "h",
    1,
    0,
    0,
  ]);
  assert.throws(() => normalizeAddress(42, AF_UNSPEC), TypeError);
  assert.throws(() => normalizeAddress(["127.0.0.1", 80], 99), RangeError);
});

Deno.test("getaddrinfo results feed normalizeAddress and getnameinfo", async () => {
  for (const [family, , , , addr] of await getaddrinfo(null, 8080, STREAM)) {
    assert.deepEqual(normalizeAddress(addr, family), addr);
    const [host, port] = await getnameinfo(
      addr,
      NI_NUMERICHOST | NI_NUMERICSERV,
    );
    assert.deepEqual([host, port], [addr[0], "8080"]);
  }
});
