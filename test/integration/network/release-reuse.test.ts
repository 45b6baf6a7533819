import { existsSync, readdirSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { Network } from "../../../src/network/network.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { hostLinks } from "../network-native/net-native.js";
import { makeNetEnv, startFake, testSubnet, type NetEnv } from "./net-fixture.js";

describeAsRoot("network: a release, then the same address again", () => {
  let env: NetEnv;
  beforeAll(async () => {
    env = await makeNetEnv();
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  it("a container given a released container's fixed address a moment later is reachable from a peer by address and by name", async () => {
    const { manager } = env;
    const { subnet, base } = testSubnet();
    const net = await Network.create({ name: "reuse", subnet, manager });
    const fixed = `${base}.50`;
    const peer = await startFake(env, "peer", new BridgeAttachment({ networks: [net], manager }));
    try {
      for (let i = 0; i < 5; i++) {
        const attachment = new BridgeAttachment({ networks: [{ network: net, ipv4Address: fixed, aliases: ["target"] }], manager });
        const target = await startFake(env, `target${i}`, attachment);
        const hostIfname = (await manager.store.list()).find((r) => r.name === "reuse")!.endpoints[target.id]!.hostIfname;
        // The peer reaches it by address (its ARP entry for the address, if any, from the
        // previous holder) and by the alias (its hosts file, rewritten by the attach).
        const byAddress = await peer.run(["busybox", "ping", "-c", "1", "-W", "3", fixed]);
        expect(byAddress.exitCode, byAddress.stdout + byAddress.stderr).toBe(0);
        const byName = await peer.run(["busybox", "ping", "-c", "1", "-W", "3", "target"]);
        expect(byName.exitCode, byName.stdout + byName.stderr).toBe(0);
        await target.remove();
        // Gone at once, its bridge port with it: the next holder starts on a clean bridge.
        expect(existsSync(`/sys/class/net/${hostIfname}`)).toBe(false);
        expect(readdirSync(`/sys/class/net/${net.bridge}/brif`)).not.toContain(hostIfname);
        expect(await hostLinks()).not.toContain(hostIfname);
      }
    } finally {
      await peer.remove();
      await net.remove();
    }
  });
});
