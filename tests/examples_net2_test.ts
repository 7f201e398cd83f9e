/**
 * Runs the datagram and sendfile examples the way a user would and checks
 * what they print.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

/** Starts a long-running example and reads its output line by line. */
function spawn(...args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  return {
    /** Reads until `pattern` matches the output so far. */
    async until(pattern: RegExp): Promise<RegExpMatchArray> {
      for (;;) {
        const match = out.match(pattern);
        if (match) return match;
        const { value, done } = await reader.read();
        if (done) throw new Error(`output ended before ${pattern}: ${out}`);
        out += value;
      }
    },
    async stop(): Promise<void> {
      child.kill("SIGTERM");
      await reader.cancel();
      await child.stderr.cancel();
      await child.status;
    },
  };
}

async function deno(...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

Deno.test("examples/udp_echo_server.ts answers examples/udp_echo_client.ts", async () => {
  const server = spawn(
    "run",
    "--allow-net",
    "examples/udp_echo_server.ts",
    "0",
  );
  try {
    const [, port] = await server.until(/Listening on 127\.0\.0\.1:(\d+)\n/);
    const client = await deno(
      "run",
      "--allow-net",
      "examples/udp_echo_client.ts",
      port,
      "Hello World!",
    );
    assert.equal(client.code, 0, client.stderr);
    assert.equal(
      client.stdout,
      'Send: "Hello World!"\n' +
        'Received: "Hello World!"\n' +
        "Close the socket\n" +
        "Connection closed\n",
    );
    await server.until(
      /Received "Hello World!" from \["127\.0\.0\.1",\d+\]\nSend "Hello World!" to \["127\.0\.0\.1",\d+\]\n/,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("examples/sendfile_server.ts serves a file with sendfile", async () => {
  const dir = await Deno.makeTempDir();
  const data = new Uint8Array(3 * 1024 * 1024 + 7);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
  await Deno.writeFile(`${dir}/file.bin`, data);
  const server = spawn(
    "run",
    "--allow-net",
    "--allow-read",
    "examples/sendfile_server.ts",
    `${dir}/file.bin`,
    "0",
  );
  try {
    const [, port] = await server.until(/Serving .* on 127\.0\.0\.1:(\d+)\n/);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: Number(port),
    });
    const got = new Uint8Array(await new Response(conn.readable).arrayBuffer());
    assert.equal(got.length, data.length);
    assert.deepEqual(got, data);
    await server.until(
      new RegExp(
        `Sent ${data.length} bytes to \\["127\\.0\\.0\\.1",\\d+\\]\\n`,
      ),
    );
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
