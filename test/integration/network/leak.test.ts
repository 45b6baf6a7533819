import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { Network } from "../../../src/network/network.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { hostLinks, taggedRules } from "../network-native/net-native.js";
import { isProxyAlive, makeNetEnv, startFake, testSubnet, type NetEnv } from "./net-fixture.js";

const CYCLES = 200;

describeAsRoot("network: leaks", () => {
  let env: NetEnv;
  beforeAll(async () => {
    env = await makeNetEnv();
  });

  afterAll(async () => {
    // net.ipv4.ip_forward stays on (nat-ensure sets it, as Docker does): turning it off here
    // would cut the outbound access of every other network in use, the default bridge's too.
    await env?.cleanup();
  });

  it(`${CYCLES} network create / container attach / connect / release / network remove cycles leave nothing behind`, async () => {
    const manager = env.manager;
    const bridges = new Set<string>();
    const veths = new Set<string>();
    const pids: number[] = [];
    const stay = await Network.create({ name: "leak-stay", subnet: testSubnet().subnet, manager });
    bridges.add(stay.bridge);
    let net: Network | undefined;
    for (let i = 0; i < CYCLES; i++) {
      // A fresh network (bridge + NAT rules) every 20 cycles, removed at the end of its run.
      if (i % 20 === 0) {
        net = await Network.create({ name: `leak-${i}`, subnet: testSubnet().subnet, manager });
        bridges.add(net.bridge);
      }
      const ports = i % 10 === 0 ? ["0:80", "0:53/udp"] : [];
      const fake = await startFake(env, `c${i}`, new BridgeAttachment({ networks: [{ network: net!, aliases: [`a${i}`] }], ports, manager }));
      // Half the cycles connect a second network while "running".
      if (i % 2 === 0) await stay.connect(fake.id, { aliases: [`s${i}`] });
      const state = await manager.container(fake.id);
      if (state?.proxy) pids.push(state.proxy.pid);
      const mine: string[] = [];
      for (const record of await manager.store.list()) {
        const endpoint = record.endpoints[fake.id];
        if (endpoint) mine.push(endpoint.hostIfname);
      }
      await fake.remove();
      // Gone when the release returns, not later: no link, so no sysfs entry and no bridge port.
      expect(mine.filter((h) => existsSync(`/sys/class/net/${h}`))).toEqual([]);
      for (const h of mine) veths.add(h);
      if (i % 20 === 19) await net!.remove();
    }
    await stay.remove();

    expect(veths.size).toBe(CYCLES + CYCLES / 2);
    // No polling: a release deletes the veths, and a network removal its bridge, before returning.
    const links = await hostLinks();
    expect(links.filter((l) => veths.has(l) || bridges.has(l))).toEqual([]);
    for (const bridge of bridges) expect(await taggedRules(`berth:${bridge}`)).toEqual([]);
    expect(existsSync(manager.store.netnsDir) ? readdirSync(manager.store.netnsDir) : []).toEqual([]);
    expect(readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(`${manager.store.netnsDir}/`))).toEqual([]);
    expect(await manager.store.list()).toEqual([]);
    expect(await manager.store.listContainers()).toEqual([]);
    // No record's data file (records are replaced through links), temporary file or lock. This
    // process's lock owner file stays while it runs (locks are links to it; removed at exit).
    expect(readdirSync(join(manager.store.root, ".containers"))).toEqual([]);
    const ownFile = new RegExp(`^\\.owner-${process.pid}-\\d+$`);
    expect(readdirSync(manager.store.root).filter((f) => f !== ".containers" && f !== ".reconciled" && !ownFile.test(f))).toEqual([]);
    expect(pids.filter(isProxyAlive)).toEqual([]);
  });
});
