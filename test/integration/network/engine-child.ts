// Run by engine.test.ts in a child process: a fresh engine over the given roots starts or
// removes a container another process created, knowing nothing of it but its id. Importing
// the network layer registers its drivers, which rebuild the container's attachment from its
// record. Prints the container's network state as one JSON line.
import { join } from "node:path";
import "../../../src/network/index.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";

const [stateRoot, runRoot, action, id] = process.argv.slice(2) as [string, string, "start" | "remove", string];
const engine = new ContainerEngine({ stateRoot, runRoot, runtime: new OciRuntime({ root: join(runRoot, "runtime"), timeout: 20_000 }), pull: async () => {} });
if (action === "start") await engine.start(id);
else await engine.remove(id, { force: true });
const manager = new NetworkManager({ store: new NetworkStore({ stateRoot, runRoot }) });
console.log(JSON.stringify({ state: (await manager.container(id)) ?? null }));
engine.dispose();
