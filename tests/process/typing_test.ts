/**
 * The types say what the call already knows: a TCP socket's or server's
 * address is `[host, port]` with no cast, a Unix one is a path, and a
 * process made with `stdout: PIPE` has a non-null `stdout` and
 * `communicate()` output. These are checked by the type checker (a wrong
 * type fails `deno test` before anything runs) and at run time.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  createSubprocessExec,
  createSubprocessShell,
  DEVNULL,
  getRunningLoop,
  PIPE,
  Protocol,
  run,
  type Server,
  socket,
  socketpair,
  STDOUT,
  type StreamReader,
} from "../../mod.ts";

Deno.test("typing: IP sockets and TCP servers give [host, port] without a cast", async () => {
  using s = socket(AF_INET);
  s.bind(["127.0.0.1", 0]);
  const [host, port] = s.getsockname();
  const h: string = host;
  const p: number = port;
  assert.equal(h, "127.0.0.1");
  assert.ok(p > 0);
  using u = socket(AF_UNIX);
  const path: string = u.getsockname();
  assert.equal(path, "");
  const [a, b] = socketpair();
  const peer: string = a.getpeername();
  assert.equal(peer, "");
  a.close();
  b.close();
  await run(async () => {
    const server: Server<[string, number] | [string, number, number, number]> =
      await getRunningLoop().createServer(() => new Protocol(), "127.0.0.1", 0);
    const [serverHost, serverPort] = server.sockets[0].getsockname();
    const sp: number = serverPort;
    assert.equal(serverHost, "127.0.0.1");
    assert.ok(sp > 0);
    server.close();
    await server.waitClosed();
  });
});

Deno.test("typing: PIPE streams are non-null, other streams are null", async () => {
  await run(async () => {
    const both = await createSubprocessExec(
      "sh",
      "-c",
      "echo out; echo err >&2",
      {
        stdout: PIPE,
        stderr: PIPE,
      },
    );
    const [out, err] = await both.communicate();
    const outBytes: Uint8Array = out;
    const errBytes: Uint8Array = err;
    assert.equal(new TextDecoder().decode(outBytes), "out\n");
    assert.equal(new TextDecoder().decode(errBytes), "err\n");

    const merged = await createSubprocessShell("echo one; echo two >&2", {
      stdout: PIPE,
      stderr: STDOUT,
    });
    const reader: StreamReader = merged.stdout;
    const nothing: null = merged.stderr;
    assert.equal(nothing, null);
    assert.equal(new TextDecoder().decode(await reader.readline()), "one\n");
    await merged.communicate();

    const quiet = await createSubprocessExec("true", { stdout: DEVNULL });
    const none: null = quiet.stdout;
    assert.equal(none, null);
    const [noOut, noErr]: [null, null] = await quiet.communicate();
    assert.equal(noOut, null);
    assert.equal(noErr, null);

    // Options whose type alone cannot tell give the nullable type.
    const options: { stdout?: typeof PIPE | typeof DEVNULL } = { stdout: PIPE };
    const maybe = await createSubprocessShell("echo maybe", options);
    // @ts-expect-error: might be null, as the options' type allows DEVNULL
    const notKnown: StreamReader = maybe.stdout;
    assert.ok(notKnown !== null);
    const [maybeOut] = await maybe.communicate();
    assert.equal(new TextDecoder().decode(maybeOut!), "maybe\n");
  });
});
