import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { hostLinks, inNetns, mountsUnder, net, netHelper, sendFromNetns, startPeer, uniqueNetwork } from "./net-native.js";

/** The host ends on our bridge; other tests add and remove links on theirs at the same time. */
function bridgePorts(bridge: string): string[] {
  return readdirSync(`/sys/class/net/${bridge}/brif`);
}

/** Every process that has `inode` as its network namespace, or an open file of it. */
function holdersOf(inode: number): string[] {
  const target = `net:[${inode}]`;
  const holders: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) === target) holders.push(`${pid} ns`);
      for (const fd of readdirSync(`/proc/${pid}/fd`)) if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) holders.push(`${pid} fd ${fd}`);
    } catch {
      // Exited while scanning.
    }
  }
  return holders;
}

/**
 * Watches the host's namespace ids (`ip monitor nsid`): the kernel deletes a namespace's id
 * in every other namespace when it destroys it, so a deleted id is the proof that it is gone.
 * An id cannot be given to another namespace before it is deleted, so the first deletion of
 * it seen after the watch started is the one asked for.
 */
async function watchNsids(): Promise<{ deleted(nsid: number, timeoutMs?: number): Promise<void>; stop(): Promise<void> }> {
  const child: ResultPromise = execa("ip", ["monitor", "nsid"], { reject: false, buffer: false });
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  // Subscribed once its socket is bound to the nsid group (RTNLGRP_NSID, bit 27 in the mask).
  const started = Date.now();
  for (;;) {
    const bound = readFileSync("/proc/net/netlink", "utf8")
      .split("\n")
      .some((line) => {
        const f = line.trim().split(/\s+/);
        return f[1] === "0" && f[2] === String(child.pid) && (parseInt(f[3] ?? "0", 16) & (1 << 27)) !== 0;
      });
    if (bound) break;
    if (Date.now() - started > 10_000) throw new Error("ip monitor nsid did not subscribe within 10 s");
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    async deleted(nsid, timeoutMs = 10_000) {
      await expect.poll(() => out.split("\n").some((l) => l.trim() === `Deleted nsid ${nsid}`), { timeout: timeoutMs, interval: 20 }).toBe(true);
    },
    async stop() {
      child.kill("SIGKILL");
      await child;
    },
  };
}

/** Live detached link deleters (a zombie waiting for its reaper is not one). */
function deleters(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.includes("(berth-linkdel)") && !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) found.push(pid);
    } catch {
      // Exited while scanning.
    }
  }
  return found;
}

async function linkNetnsid(hostIfname: string): Promise<number> {
  const [link] = JSON.parse((await execa("ip", ["-j", "-d", "link", "show", hostIfname])).stdout) as { link_netnsid?: number }[];
  expect(link?.link_netnsid).toBeTypeOf("number");
  return link!.link_netnsid!;
}

describeAsRoot("network-native: release (netns-delete with the container's links)", () => {
  const n = uniqueNetwork();
  let dir: string;

  beforeAll(async () => {
    await netHelper();
    dir = await makeTempDir("berth-netrel-");
    await net("bridge-ensure", "--name", n.bridge, "--addr", `${n.gateway}/24`);
  });

  afterAll(async () => {
    if (dir) for (const name of readdirSync(dir)) await net("netns-delete", "--path", `${dir}/${name}`).catch(() => {});
    await net("bridge-delete", "--name", n.bridge);
    if (dir) {
      await execa("umount", [dir], { reject: false });
      await removeTempDir(dir);
    }
  });

  it("when netns-delete returns, the host ends are off every list: no link, no bridge port, no sysfs entry (40 releases, no wait)", async () => {
    for (let i = 0; i < 40; i++) {
      const made = await net("netns-create", "--name", `r${i}`, "--dir", dir, "--bridge", n.bridge, "--addr", `${n.base}.${10 + i}/24`, "--gateway", n.gateway);
      const hostIfnames = [made.hostIfname as string];
      // Every other one has a second network, whose link is deleted at the same time.
      if (i % 2 === 0) hostIfnames.push((await net("veth-attach", "--netns", made.path, "--bridge", n.bridge, "--ifname", "eth1", "--addr", `${n.base}.${100 + i}/24`)).hostIfname);
      expect(bridgePorts(n.bridge).sort()).toEqual([...hostIfnames].sort());
      await net("netns-delete", "--path", made.path, "--ifname", "eth0", "--ifname", "eth1");
      const links = await hostLinks();
      expect(hostIfnames.filter((h) => links.includes(h))).toEqual([]);
      expect(hostIfnames.filter((h) => existsSync(`/sys/class/net/${h}`))).toEqual([]);
      expect(bridgePorts(n.bridge)).toEqual([]);
      expect(existsSync(made.path)).toBe(false);
    }
    expect(mountsUnder(dir).filter((point) => point !== dir)).toEqual([]);
  });

  it("the namespace goes too: nothing holds it once netns-delete returns, and the kernel destroys it", async () => {
    const made = await net("netns-create", "--name", "gone", "--dir", dir, "--bridge", n.bridge, "--addr", `${n.base}.5/24`);
    const inode = statSync(made.path).ino;
    // Watched once the namespace holds its id: no other namespace can have it then.
    const nsid = await linkNetnsid(made.hostIfname);
    const watch = await watchNsids();
    try {
      await net("netns-delete", "--path", made.path, "--ifname", "eth0");
      expect(holdersOf(inode)).toEqual([]);
      await watch.deleted(nsid);
    } finally {
      await watch.stop();
    }
  });

  it("a namespace a process still uses (a forced remove): its host end goes at once, the namespace when the process dies", async () => {
    const made = await net("netns-create", "--name", "busy", "--dir", dir, "--bridge", n.bridge, "--addr", `${n.base}.6/24`);
    const inode = statSync(made.path).ino;
    const nsid = await linkNetnsid(made.hostIfname);
    const sleeper = execa("nsenter", [`--net=${made.path}`, "sleep", "300"], { reject: false });
    const watch = await watchNsids();
    try {
      await expect.poll(() => holdersOf(inode).some((h) => h === `${sleeper.pid} ns`), { timeout: 10_000, interval: 10 }).toBe(true);
      await net("netns-delete", "--path", made.path, "--ifname", "eth0");
      expect(await hostLinks()).not.toContain(made.hostIfname);
      expect(bridgePorts(n.bridge)).toEqual([]);
      // Still alive for its process, with no link left but lo.
      const inside = await inNetns(`/proc/${sleeper.pid}/ns/net`, "ip", ["-o", "link"]);
      expect(inside.stdout.split("\n").map((l) => l.split(":")[1]?.trim())).toEqual(["lo"]);
      sleeper.kill("SIGKILL");
      await sleeper;
      expect(holdersOf(inode)).toEqual([]);
      await watch.deleted(nsid);
    } finally {
      sleeper.kill("SIGKILL");
      await watch.stop();
    }
  });

  it("a container given the same address right after a release is reachable at once (no stale bridge FDB or ARP entry in the way)", async () => {
    const peer = await net("netns-create", "--name", "peer", "--dir", dir, "--bridge", n.bridge, "--addr", `${n.base}.20/24`, "--gateway", n.gateway);
    const target = `${n.base}.21`;
    let ns = (await net("netns-create", "--name", "same0", "--dir", dir, "--bridge", n.bridge, "--addr", `${target}/24`, "--gateway", n.gateway)).path as string;
    try {
      // The peer and the host learn the address's MAC, and the bridge its port.
      expect((await inNetns(peer.path, "busybox", ["ping", "-c", "1", "-W", "3", target])).exitCode).toBe(0);
      expect((await execa("busybox", ["ping", "-c", "1", "-W", "3", target], { reject: false })).exitCode).toBe(0);
      for (let i = 1; i <= 3; i++) {
        await net("netns-delete", "--path", ns, "--ifname", "eth0");
        ns = (await net("netns-create", "--name", `same${i}`, "--dir", dir, "--bridge", n.bridge, "--addr", `${target}/24`, "--gateway", n.gateway)).path;
        const ping = await inNetns(peer.path, "busybox", ["ping", "-c", "1", "-W", "3", target]);
        expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
        expect((await execa("busybox", ["ping", "-c", "1", "-W", "3", target], { reject: false })).exitCode).toBe(0);
        const server = await startPeer(ns, 7100 + i);
        try {
          expect(await sendFromNetns(peer.path, target, 7100 + i, `hello ${i}`)).toContain(`hello ${i}`);
        } finally {
          await server.stop();
        }
      }
    } finally {
      await net("netns-delete", "--path", ns, "--ifname", "eth0");
      await net("netns-delete", "--path", peer.path, "--ifname", "eth0");
    }
  });

  it("a link that cannot be deleted (lo) is a warning: the other links and the pin still go, and no deleter is left", async () => {
    const made = await net("netns-create", "--name", "warn", "--dir", dir, "--bridge", n.bridge, "--addr", `${n.base}.8/24`);
    const result = await execa(await netHelper(), ["netns-delete", "--path", made.path, "--ifname", "lo", "--ifname", "eth0"], { reject: false, timeout: 20_000 });
    // Other suites release containers at the same time: only those alive now are waited for.
    const started = deleters();
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/warning: delete network namespace .*: delete `lo`/);
    expect(await hostLinks()).not.toContain(made.hostIfname);
    expect(existsSync(`/sys/class/net/${made.hostIfname}`)).toBe(false);
    expect(bridgePorts(n.bridge)).toEqual([]);
    expect(existsSync(made.path)).toBe(false);
    expect(mountsUnder(made.path)).toEqual([]);
    // The deleters exit by themselves once the kernel has freed the links (or refused).
    await expect.poll(() => deleters().filter((pid) => started.includes(pid)), { timeout: 10_000, interval: 20 }).toEqual([]);
  });

  it("--wait-freed (the delete that waits for the kernel to free the links, the benchmarks' baseline) leaves the same nothing behind", async () => {
    const made = await net("netns-create", "--name", "sync", "--dir", dir, "--bridge", n.bridge, "--addr", `${n.base}.7/24`);
    await net("netns-delete", "--path", made.path, "--ifname", "eth0", "--wait-freed");
    expect(await hostLinks()).not.toContain(made.hostIfname);
    expect(bridgePorts(n.bridge)).toEqual([]);
    expect(existsSync(made.path)).toBe(false);
  });
});
