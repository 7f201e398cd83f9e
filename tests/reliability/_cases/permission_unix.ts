/**
 * permissions_test.ts: run without permissions, a Unix server and a Unix
 * client each fail with `NotCapable` naming every flag a Unix socket needs.
 */
import { getRunningLoop, Protocol, run } from "../../../mod.ts";

const path = `/tmp/aioloop-permission-${Deno.pid}.sock`;
await run(async () => {
  const loop = getRunningLoop();
  for (
    const attempt of [
      () => loop.createUnixServer(() => new Protocol(), path),
      () => loop.createUnixConnection(() => new Protocol(), path),
    ]
  ) {
    try {
      await attempt();
      console.log("opened");
    } catch (error) {
      console.log(`${(error as Error).name}: ${(error as Error).message}`);
    }
  }
});
