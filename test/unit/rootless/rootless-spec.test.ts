import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import type { OciSpec } from "../../../src/runtime/oci-spec.js";
import { findCgroupDelegation } from "../../../src/runtime/rootless/cgroup-delegation.js";
import { applyRootless } from "../../../src/runtime/rootless/rootless-spec.js";
import { findSubordinateRange, rootlessIdMappings } from "../../../src/runtime/rootless/subordinate-ids.js";

const dir = mkdtempSync(join(tmpdir(), "berth-rootless-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("subordinate ids", () => {
  it("finds the user's first range by name or by uid, skipping comments and bad lines", () => {
    const text = "# comment\nalice:100000:65536\nbob:x:1\n1002:300000:1000\nalice:500000:10\n";
    expect(findSubordinateRange(text, "alice", 1001)).toEqual({ start: 100000, count: 65536 });
    expect(findSubordinateRange(text, "carol", 1002)).toEqual({ start: 300000, count: 1000 });
    expect(findSubordinateRange(text, "bob", 1003)).toBeUndefined();
  });

  it("maps the user to root and its range to 1..count, as Podman does", () => {
    const subuid = file("subuid", "alice:100000:65536\n");
    const subgid = file("subgid", "alice:200000:1000\n");
    const m = rootlessIdMappings({ uid: 1001, gid: 1001, user: "alice", subuidFile: subuid, subgidFile: subgid });
    expect(m.uidMappings).toEqual([
      { containerID: 0, hostID: 1001, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
    ]);
    expect(m.gidMappings[1]).toEqual({ containerID: 1, hostID: 200000, size: 1000 });
  });

  it("fails with BERTH_ROOTLESS_NO_SUBIDS, naming the file and how to fix it, when the user has no range", () => {
    const none = file("empty", "");
    const error = (() => {
      try {
        rootlessIdMappings({ uid: 1001, user: "alice", subuidFile: none, subgidFile: none });
      } catch (e) {
        return e;
      }
    })();
    expect(hasErrorCode(error, "BERTH_ROOTLESS_NO_SUBIDS")).toBe(true);
    expect((error as Error).message).toMatch(/usermod --add-subuids/);
  });
});

describe("applyRootless", () => {
  const mappings = rootlessIdMappings({ uid: 1001, gid: 1001, user: "a", subuidFile: file("su", "a:100000:65536\n"), subgidFile: file("sg", "a:100000:65536\n") });
  const overlay = { lowerDirs: ["/s/l2", "/s/l1"], upper: "/c/upper", work: "/c/work" };
  const base = (): OciSpec =>
    ({
      ociVersion: "1.0.2",
      root: { path: "/c/merged" },
      linux: {
        namespaces: [{ type: "pid" }, { type: "mount" }, { type: "network" }],
        resources: { memory: { limit: 64 << 20 }, devices: [{ allow: false, access: "rwm" }] },
        sysctl: { "net.ipv4.ping_group_range": "0 2147483647" },
      },
    }) as OciSpec;

  it("adds a user namespace with the mappings and hands the overlay to the runtime", () => {
    const spec = base();
    applyRootless(spec, { overlay, container: "c", mappings, delegation: { path: "/x", controllers: ["memory"] } });
    expect(spec.linux!.namespaces![0]).toEqual({ type: "user" });
    expect(spec.linux!.uidMappings).toEqual(mappings.uidMappings);
    expect(spec.annotations!["org.berth.overlay"]).toBe("lowerdir=/s/l2:/s/l1,upperdir=/c/upper,workdir=/c/work,index=off,userxattr");
    expect(spec.annotations!["org.berth.overlay.driver"]).toBe("auto");
    // Delegated: the limit stays; the device cgroup (root's) goes.
    expect(spec.linux!.resources).toEqual({ memory: { limit: 64 << 20 } });
    expect(spec.linux!.sysctl!["net.ipv4.ping_group_range"]).toBe("0 65536");
  });

  it("joins the rootless network's user namespace instead of making one", () => {
    const spec = base();
    applyRootless(spec, { overlay, container: "c", mappings, usernsPath: "/proc/42/ns/user", delegation: { path: "/x", controllers: [] } });
    expect(spec.linux!.namespaces![0]).toEqual({ type: "user", path: "/proc/42/ns/user" });
    expect(spec.linux!.uidMappings).toBeUndefined();
  });

  it("keeps the limits a delegated subtree serves, in a cgroup made there, and drops the others with a warning (a hybrid host's v2 offers hugetlb only)", () => {
    const spec = base();
    spec.linux!.cgroupsPath = "/berth/abc";
    spec.linux!.resources!.hugepageLimits = [{ pageSize: "2MB", limit: 4 << 20 }];
    spec.linux!.resources!.cpu = { shares: 512, cpus: "0" };
    const { warnings } = applyRootless(spec, { overlay, container: "web", mappings, delegation: { path: "/sys/fs/cgroup/unified/d", relative: "/d", controllers: ["hugetlb", "cpuset"] } });
    expect(spec.linux!.cgroupsPath).toBe("/d/berth/abc");
    expect(spec.linux!.resources).toEqual({ hugepageLimits: [{ pageSize: "2MB", limit: 4 << 20 }], cpu: { cpus: "0" } });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^rootless: the limits of container web \(memory, cpu\) are not applied: the delegated cgroup v2 subtree \/d offers only hugetlb, cpuset, not memory, cpu/);
  });

  it("drops limits with a warning when no cgroup v2 subtree is delegated", () => {
    const spec = base();
    const { warnings } = applyRootless(spec, { overlay, container: "web", mappings, delegation: { controllers: [], reason: "not delegated" } });
    expect(warnings).toEqual(["rootless: the limits of container web (memory) are not applied: not delegated"]);
    expect(spec.linux!.resources).toEqual({});
  });
});

describe("findCgroupDelegation", () => {
  it("finds nothing for a process in the hierarchy's root, which is never delegated", () => {
    const root = mkdtempSync(join(dir, "cg-"));
    writeFileSync(join(root, "cgroup.controllers"), "hugetlb\n");
    const mountinfo = file("mi", `30 25 0:26 / ${root} rw - cgroup2 cgroup2 rw\n`);
    const self = file("self", "12:memory:/user.slice\n0::/\n");
    const found = findCgroupDelegation({ mountinfo, selfCgroup: self });
    expect(found.path).toBeUndefined();
    expect(found.reason).toMatch(/is not delegated to uid/);
  });

  it("finds the writable parent of the process's cgroup, with the controllers it offers (a delegated user session)", () => {
    const root = mkdtempSync(join(dir, "cg-"));
    const delegated = join(root, "user.slice");
    mkdirSync(join(delegated, "session.scope"), { recursive: true });
    for (const f of ["cgroup.subtree_control", "cgroup.procs"]) writeFileSync(join(delegated, f), "");
    writeFileSync(join(delegated, "cgroup.controllers"), "hugetlb pids\n");
    const mountinfo = file("mi2", `30 25 0:26 / ${root} rw - cgroup2 cgroup2 rw\n`);
    const self = file("self2", "0::/user.slice/session.scope\n");
    expect(findCgroupDelegation({ mountinfo, selfCgroup: self })).toEqual({ path: delegated, relative: "/user.slice", controllers: ["hugetlb", "pids"] });
  });
});
