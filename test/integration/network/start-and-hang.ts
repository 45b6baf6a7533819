// Run by start-killed.test.ts in a child process: creates a container on a user network with a
// published port and starts it through a runtime wrapper that hangs at `run` (before or after
// running it, as the wrapper was written): the test SIGKILLs this process while its engine is
// inside `start`, after the network was prepared. Prints the container's id first.
// usage: node --import tsx start-and-hang.ts STATE_ROOT RUN_ROOT WRAPPER NETWORK
import { join } from "node:path";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";

const [stateRoot, runRoot, wrapper, network] = process.argv.slice(2);
if (!stateRoot || !runRoot || !wrapper || !network) {
  process.stderr.write("usage: start-and-hang.ts STATE_ROOT RUN_ROOT WRAPPER NETWORK\n");
  process.exit(2);
}
const manager = new NetworkManager({ store: new NetworkStore({ stateRoot, runRoot }) });
const engine = new ContainerEngine({ stateRoot, runRoot, runtime: new OciRuntime({ runtime: wrapper, root: join(runRoot, "runtime") }), pull: async () => {} });
const id = await engine.create({
  image: "busybox:test",
  cmd: ["sleep", "300"],
  network: new BridgeAttachment({ networks: [{ network, aliases: ["hung"] }], ports: ["0:80"], manager }),
});
process.stdout.write(`${id}\n`);
await engine.start(id);
