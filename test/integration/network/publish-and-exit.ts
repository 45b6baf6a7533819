// Run by network.test.ts in a child process: publishes a port for a container on a network
// under the given state and run roots, prints what it made as one JSON line, and exits —
// so the test can check that the port is still served without this process.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";

const [stateRoot, runRoot, network] = process.argv.slice(2) as [string, string, string];
const manager = new NetworkManager({ store: new NetworkStore({ stateRoot, runRoot }) });
const id = randomBytes(32).toString("hex");
mkdirSync(join(stateRoot, "containers", id), { recursive: true });
const attachment = new BridgeAttachment({ networks: [network], ports: ["0:7000", "0:7000/udp"], manager });
const prep = await attachment.prepare({ id, name: "detached", hostname: id.slice(0, 12) });
writeFileSync(join(stateRoot, "containers", id, "hosts"), "127.0.0.1\tlocalhost\n");
console.log(JSON.stringify({ id, netnsPath: prep.netnsPath, ports: attachment.publishedPorts }));
