import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { hostLinks, mountsUnder, net, netHelper, taggedRules, uniqueNetwork } from "./net-native.js";

const CYCLES = 200;

describeAsRoot("network-native: leaks", () => {
  let dir: string;
  const forwarding = "/proc/sys/net/ipv4/ip_forward";
  let forwardingBefore: string;

  beforeAll(async () => {
    forwardingBefore = readFileSync(forwarding, "utf8");
    await netHelper();
    dir = await makeTempDir("berth-netleak-");
  });

  afterAll(async () => {
    // nat-ensure turns forwarding on, as it must; the machine gets it back as it was.
    if (forwardingBefore) writeFileSync(forwarding, forwardingBefore);
    if (dir) {
      await execa("umount", [dir], { reject: false });
      await removeTempDir(dir);
    }
  });

  it(`${CYCLES} create/attach/detach/delete cycles leave no veth, bridge, netns mount or tagged rule`, async () => {
    const hostIfnames: string[] = [];
    const bridges: string[] = [];
    let n = uniqueNetwork();
    try {
      for (let i = 0; i < CYCLES; i++) {
        // A fresh network (bridge + NAT) every 20 cycles, removed at the end of its run.
        if (i % 20 === 0) {
          n = uniqueNetwork();
          bridges.push(n.bridge);
          await net("bridge-ensure", "--name", n.bridge, "--addr", `${n.gateway}/24`);
          await net("nat-ensure", "--subnet", n.subnet, "--bridge", n.bridge);
        }
        const veth = ["--bridge", n.bridge, "--addr", `${n.base}.${2 + (i % 20)}/24`, "--gateway", n.gateway];
        let ns: string;
        // Both ways of setting a container up: one netns-create with the veth options, or
        // netns-create then veth-attach. Half the cycles detach first; the others rely on the
        // namespace taking its veth along.
        if (i % 4 < 2) {
          const made = await net("netns-create", "--name", `c${i}`, "--dir", dir, ...veth);
          ns = made.path;
          hostIfnames.push(made.hostIfname);
        } else {
          ns = (await net("netns-create", "--name", `c${i}`, "--dir", dir)).path;
          hostIfnames.push((await net("veth-attach", "--netns", ns, ...veth)).hostIfname);
        }
        if (i % 2 === 0) await net("veth-detach", "--netns", ns, "--ifname", "eth0");
        await net("netns-delete", "--path", ns);
        if (i % 20 === 19) {
          await net("nat-remove", "--subnet", n.subnet, "--bridge", n.bridge);
          await net("bridge-delete", "--name", n.bridge);
        }
      }
    } finally {
      // A failed cycle must not leave its network behind for the next run to trip on.
      for (const name of readdirSync(dir)) await net("netns-delete", "--path", join(dir, name)).catch(() => {});
      for (const bridge of bridges) {
        await net("nat-remove", "--bridge", bridge).catch(() => {});
        await net("bridge-delete", "--name", bridge).catch(() => {});
      }
    }

    // A deleted namespace frees its veth asynchronously (the kernel's cleanup_net worker).
    let leftover: string[] = [];
    for (let wait = 0; wait < 100; wait++) {
      const links = new Set(await hostLinks());
      leftover = [...hostIfnames, ...bridges].filter((name) => links.has(name));
      if (leftover.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(leftover).toEqual([]);
    expect(mountsUnder(dir).filter((point) => point !== dir)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    for (const bridge of bridges) {
      expect(await taggedRules(`berth:${bridge}`)).toEqual([]);
      expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false);
    }
  });
});
