/**
 * Node's `net` module echo server for the TCP echo benchmark
 * (bench/echo_bench.ts).
 *
 *   node bench/echo_servers/node_net.mjs
 *
 * Listens on 127.0.0.1, port 0; prints `PORT <n>` as the first line of
 * stdout, then serves until killed or until stdin closes.
 */
import net from "node:net";
import process from "node:process";

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on("data", (data) => socket.write(data));
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => {});
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
