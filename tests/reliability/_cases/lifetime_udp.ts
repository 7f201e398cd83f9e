/**
 * lifecycle_test.ts: `run()` whose main leaves a UDP endpoint open. The
 * process must exit once `run()` returns.
 */
import { DatagramProtocol, getRunningLoop, run } from "../../../mod.ts";

await run(async () => {
  const [transport] = await getRunningLoop().createDatagramEndpoint(
    () => new DatagramProtocol(),
    ["127.0.0.1", 0],
  );
  const [host, port] = transport.getExtraInfo("sockname") as [string, number];
  console.log(`bound ${host}:${port}`);
});
console.log("run returned");
