// The fast attach (issue 5): no reconcile at every attach, yet a gone container never keeps
// an address, a name or the last free address from one that asks for it; records replaced
// through links leave no data file behind; a failed namespace leaves no record; a namespace
// made before its records (a crash in between) is found by reconcile.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { isBerthError } from "../../../src/common/berth-error.js";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { Network } from "../../../src/network/network.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { takeSetupProfiles } from "../../../src/network/setup-profile.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeNetEnv, startFake, testSubnet, type NetEnv } from "./net-fixture.js";

describeAsRoot("network: attach without a reconcile each time", () => {
  let env: NetEnv;
  // Never due on its own during this file: what is released is released because it was in the way.
  let manager: NetworkManager;

  beforeAll(async () => {
    env = await makeNetEnv();
    manager = new NetworkManager({ store: env.manager.store, reconcileInterval: 3_600_000 });
    await manager.reconcile();
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  /** A container whose engine record vanished without a release, as after a crash. */
  async function ghost(net: Network, name: string, options: { ipv4Address?: string; aliases?: string[] } = {}) {
    const made = await startFake(env, name, new BridgeAttachment({ networks: [{ network: net, ...options }], manager }));
    await rm(join(manager.store.stateRoot, "containers", made.id), { recursive: true, force: true });
    return made;
  }

  it("releases a gone container that holds the address asked for, and only that one", async () => {
    const { subnet, base } = testSubnet();
    const net = await Network.create({ name: "addr-held", subnet, manager });
    const held = await ghost(net, "old", { ipv4Address: `${base}.9` });
    const bystander = await ghost(net, "bystander");
    const fresh = await startFake(env, "new", new BridgeAttachment({ networks: [{ network: net, ipv4Address: `${base}.9` }], manager }));
    try {
      expect(fresh.prep.hostsEntries).toEqual([`${base}.9`]);
      expect(existsSync(held.prep.netnsPath!)).toBe(false);
      expect(await manager.container(held.id)).toBeUndefined();
      // Not in the way: left for the periodic reconcile.
      expect(await manager.container(bystander.id)).toBeDefined();
    } finally {
      await fresh.remove();
      await manager.reconcile();
      await net.remove();
    }
  });

  it("releases a gone container that holds the name or an alias asked for, so the name resolves once", async () => {
    const { subnet } = testSubnet();
    const net = await Network.create({ name: "name-held", subnet, manager });
    const old = await ghost(net, "db", { aliases: ["database"] });
    const peer = await startFake(env, "app", new BridgeAttachment({ networks: [net], manager }));
    const fresh = await startFake(env, "db2", new BridgeAttachment({ networks: [{ network: net, aliases: ["database"] }], manager }));
    try {
      expect(existsSync(old.prep.netnsPath!)).toBe(false);
      const hosts = readFileSync(peer.hostsPath, "utf8");
      expect(hosts.match(/\tdatabase(\t# berth)?\n/g)).toHaveLength(1);
      expect(hosts).toContain(`${fresh.prep.hostsEntries![0]}\tdatabase`);
      expect(hosts).not.toMatch(/\tdb(\t# berth)?\n/);
    } finally {
      await fresh.remove();
      await peer.remove();
      await net.remove();
    }
  });

  it("reconciles a full subnet before it refuses an attach", async () => {
    const { base } = testSubnet();
    // A /30: the gateway and one address for a container.
    const net = await Network.create({ name: "tiny", subnet: `${base}.0/30`, manager });
    const old = await ghost(net, "first");
    const live = await startFake(env, "second", new BridgeAttachment({ networks: [net], manager }));
    try {
      expect(live.prep.hostsEntries).toEqual([`${base}.2`]);
      expect(existsSync(old.prep.netnsPath!)).toBe(false);
      let code: string | undefined;
      await startFake(env, "third", new BridgeAttachment({ networks: [net], manager })).catch((error: unknown) => {
        code = isBerthError(error) ? error.code : String(error);
      });
      expect(code).toBe("BERTH_SUBNET_EXHAUSTED");
    } finally {
      await live.remove();
      await net.remove();
    }
  });

  it("replaces records through links and leaves no data file after connect, disconnect, a crash's leftovers and release", async () => {
    const { subnet } = testSubnet();
    const a = await Network.create({ name: "files-a", subnet, manager });
    const b = await Network.create({ name: "files-b", subnet: testSubnet().subnet, manager });
    const one = await startFake(env, "one", new BridgeAttachment({ networks: [a], manager }));
    const two = await startFake(env, "two", new BridgeAttachment({ networks: [a], manager }));
    await manager.connect(one.id, { network: "files-b" });
    await manager.disconnect(one.id, "files-b");
    await manager.connect(one.id, { network: "files-b" });
    const containers = join(manager.store.root, ".containers");
    // One link and its data file a container; one record and its data a network.
    expect(readdirSync(containers).filter((f) => f.startsWith(one.id))).toHaveLength(2);
    expect(readdirSync(join(manager.store.root, a.id)).filter((f) => !f.endsWith(".lock"))).toHaveLength(2);
    expect((await manager.store.read(b.id))!.endpoints[one.id]).toBeDefined();
    // What a crash between the steps of a replace leaves: reconcile sweeps it, and only it.
    writeFileSync(join(containers, `${one.id}.json.0badc0de`), "{}");
    writeFileSync(join(manager.store.root, a.id, `network.json.${process.pid}.tmp`), "{}");
    await manager.reconcile();
    expect(readdirSync(containers).filter((f) => f.startsWith(one.id))).toHaveLength(2);
    expect(readdirSync(join(manager.store.root, a.id))).toHaveLength(2);
    expect((await manager.container(one.id))?.networks).toHaveLength(2);
    await one.remove();
    await two.remove();
    expect(readdirSync(containers).filter((f) => f.startsWith(one.id) || f.startsWith(two.id))).toEqual([]);
    await a.remove();
    await b.remove();
  });

  it("leaves no record, namespace or hosts line when the namespace cannot be made", async () => {
    const { subnet } = testSubnet();
    const net = await Network.create({ name: "doomed", subnet, manager });
    const peer = await startFake(env, "peer", new BridgeAttachment({ networks: [net], manager }));
    const before = readFileSync(peer.hostsPath, "utf8");
    // A record naming a link that exists but is no bridge: the attach gets as far as
    // berth-runtime, whose veth cannot be enslaved to it, after every record was written.
    const record = (await manager.store.read(net.id))!;
    await manager.store.write({ ...record, bridge: "lo" });
    let code: string | undefined;
    await startFake(env, "victim", new BridgeAttachment({ networks: [net], manager })).catch((error: unknown) => {
      code = isBerthError(error) ? error.code : String(error);
    });
    try {
      expect(code).toBe("BERTH_NETWORK_FAILED");
      expect((await manager.store.listContainers()).filter((id) => id !== peer.id)).toEqual([]);
      expect(Object.keys((await manager.store.read(net.id))!.endpoints)).toEqual([peer.id]);
      expect(readdirSync(manager.store.netnsDir).filter((f) => f !== peer.id)).toEqual([]);
      // The same entries (a rewrite marks berth's lines and may order them otherwise).
      const entries = (text: string) => text.split("\n").filter(Boolean).map((l) => l.replace(/\t# berth$/, "")).sort();
      expect(entries(readFileSync(peer.hostsPath, "utf8"))).toEqual(entries(before));
    } finally {
      await peer.remove();
      await manager.store.write({ ...(await manager.store.read(net.id))!, bridge: record.bridge });
      await net.remove();
    }
  });

  it("reconcile deletes a namespace no record names (a crash between the namespace request and the records)", async () => {
    const { subnet, base } = testSubnet();
    const net = await Network.create({ name: "pinned", subnet, manager });
    const live = await startFake(env, "live", new BridgeAttachment({ networks: [net], manager }));
    const orphan = "f".repeat(64);
    const record = (await manager.store.read(net.id))!;
    await manager.native.netnsCreate(orphan, manager.store.netnsDir, { bridge: record.bridge, addrs: [`${base}.200/24`] });
    try {
      expect(await manager.reconcile()).toEqual([orphan]);
      expect(existsSync(join(manager.store.netnsDir, orphan))).toBe(false);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(orphan);
      expect(existsSync(live.prep.netnsPath!)).toBe(true);
    } finally {
      await manager.native.netnsDelete(join(manager.store.netnsDir, orphan));
      await live.remove();
      await net.remove();
    }
  });

  it("profiles an attach phase by phase when BERTH_NET_PROFILE is set", async () => {
    const { subnet } = testSubnet();
    const net = await Network.create({ name: "profiled", subnet, manager });
    process.env.BERTH_NET_PROFILE = "1";
    takeSetupProfiles();
    try {
      const one = await startFake(env, "one", new BridgeAttachment({ networks: [net], manager }));
      await one.remove();
    } finally {
      delete process.env.BERTH_NET_PROFILE;
      await net.remove();
    }
    const [profile] = takeSetupProfiles().filter((p) => p.operation === "attach");
    expect(profile!.phases.map(([phase]) => phase)).toContain("namespace + records + hosts files");
    expect(profile!.total).toBeGreaterThan(0);
  });
});
