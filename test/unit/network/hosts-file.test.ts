import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostsEntriesFor, rewriteHostsFile, validateAlias } from "../../../src/network/hosts-file.js";
import type { ContainerNetworkState, NetworkRecord } from "../../../src/network/network-store.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

function network(id: string, dns: boolean, endpoints: [string, string, string, string[]][]): NetworkRecord {
  return {
    id,
    name: id,
    created: "",
    bridge: `br-${id}`,
    subnet: "10.89.0.0/24",
    gateway: `10.${id === "a" ? 1 : 2}.0.1`,
    internal: false,
    labels: {},
    dns,
    endpoints: Object.fromEntries(
      endpoints.map(([cid, name, ip, aliases]) => [cid, { containerId: cid, name, ipv4: ip, aliases, mac: "", ifname: "eth0", hostIfname: "" }]),
    ),
  };
}

function container(id: string, networks: string[]): ContainerNetworkState {
  return { id, name: id, hostname: id, netnsPath: "", ownsNetns: true, networks, hostsPath: "", managedHosts: [] };
}

describe("hosts files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir("berth-hosts-");
  });
  afterAll(async () => {
    await removeTempDir(dir);
  });

  it("lists peers by name and alias on name-resolving networks, its own aliases, and the gateway", () => {
    const nets = new Map([
      ["a", network("a", true, [["c1", "web", "10.1.0.2", ["www"]], ["c2", "db", "10.1.0.3", ["pg"]]])],
      ["b", network("b", false, [["c1", "web", "10.2.0.2", []], ["c3", "other", "10.2.0.3", []]])],
    ]);
    expect(hostsEntriesFor(container("c1", ["a", "b"]), nets)).toEqual([
      { ip: "10.1.0.1", name: "host.berth.internal" },
      { ip: "10.1.0.2", name: "www" },
      { ip: "10.1.0.3", name: "db" },
      { ip: "10.1.0.3", name: "pg" },
    ]);
  });

  it("rewrites only its own lines, in place (same inode)", async () => {
    const file = join(dir, "hosts");
    await writeFile(file, "127.0.0.1\tlocalhost\n10.1.0.9\told\n192.0.2.7\tmine\n10.1.0.2\tself\n");
    const inode = (await stat(file)).ino;
    expect(await rewriteHostsFile(file, ["10.1.0.9\told"], ["10.1.0.3\tdb"])).toBe(true);
    expect(await readFile(file, "utf8")).toBe("127.0.0.1\tlocalhost\n192.0.2.7\tmine\n10.1.0.2\tself\n10.1.0.3\tdb\t# berth\n");
    // Its own (marked) lines are found again without being told.
    expect(await rewriteHostsFile(file, [], ["10.1.0.4\tcache"])).toBe(true);
    expect(await readFile(file, "utf8")).toBe("127.0.0.1\tlocalhost\n192.0.2.7\tmine\n10.1.0.2\tself\n10.1.0.4\tcache\t# berth\n");
    expect((await stat(file)).ino).toBe(inode);
    expect(await rewriteHostsFile(join(dir, "missing"), [], ["x"])).toBe(false);
  });

  it("validates aliases as hostnames", () => {
    for (const good of ["db", "db-1", "primary.db.internal", "A1"]) expect(validateAlias(good)).toBe(good);
    for (const bad of ["", "-db", "db-", "d b", "db_1", "a..b", `${"a".repeat(64)}`, "ünï"]) {
      expect(() => validateAlias(bad), bad).toThrow(expect.objectContaining({ code: "BERTH_ALIAS_INVALID" }));
    }
  });
});
