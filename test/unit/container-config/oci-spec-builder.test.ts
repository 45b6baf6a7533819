import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { dockerDefaults } from "../../../src/runtime/container-config/docker-defaults.js";
import { mergeConfig } from "../../../src/runtime/container-config/merge-config.js";
import { buildOciSpec, mergeTmpfsOptions, parseDeviceCgroupRule, type OciSpecInput } from "../../../src/runtime/container-config/oci-spec-builder.js";

const id = "4f0c5e2a9b7d4f0c5e2a9b7d4f0c5e2a9b7d4f0c5e2a9b7d4f0c5e2a9b7d1234";
const config = mergeConfig({ Env: ["PATH=/usr/bin:/bin", "LANG=C"], Cmd: ["sh"], WorkingDir: "/app" }, {}, id);
const user = { uid: 0, gid: 0, additionalGids: [], home: "/root" };
const host = { lastCap: 40, arch: "x64", kernelVersion: "6.1.0", cpuCount: 2, sysctlExists: () => true, hardLimits: {}, boundingSet: [...dockerDefaults.knownCapabilities] };

function build(extra: Partial<OciSpecInput> = {}) {
  return buildOciSpec({ id, config, user, rootfs: "/var/lib/berth/rootfs", host, ...extra });
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("buildOciSpec — a default container (moby daemon/oci_linux.go createSpec)", () => {
  const spec = build();
  it("runs the merged command as root in the workdir", () => {
    expect(spec.process!.args).toEqual(["sh"]);
    expect(spec.process!.cwd).toBe("/app");
    expect(spec.process!.user).toEqual({ uid: 0, gid: 0 });
    expect(spec.process!.terminal).toBe(false);
  });
  it("builds the environment as Docker: PATH, HOSTNAME, then the config's env replacing by name, then HOME", () => {
    expect(spec.process!.env).toEqual(["PATH=/usr/bin:/bin", `HOSTNAME=${id.slice(0, 12)}`, "LANG=C", "HOME=/root"]);
    const tty = build({ config: mergeConfig({ Cmd: ["sh"] }, { tty: true }, id) });
    expect(tty.process!.env).toEqual([
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      `HOSTNAME=${id.slice(0, 12)}`,
      "TERM=xterm",
      "HOME=/root",
    ]);
  });
  it("gives the 14 default capabilities in bounding, effective and permitted, none inheritable (Docker ≥ 20.10.14)", () => {
    const caps = spec.process!.capabilities!;
    expect(caps.bounding).toHaveLength(14);
    expect(caps.effective).toEqual(caps.bounding);
    expect(caps.permitted).toEqual(caps.bounding);
    expect(caps.inheritable).toBeUndefined();
    expect(caps.ambient).toBeUndefined();
  });
  it("sets noNewPrivileges false, oomScoreAdj 0 and the default open-files rlimit", () => {
    expect(spec.process!.noNewPrivileges).toBe(false);
    expect(spec.process!.oomScoreAdj).toBe(0);
    expect(spec.process!.rlimits).toEqual([{ type: "RLIMIT_NOFILE", soft: 1024, hard: 524288 }]);
  });
  it("creates mount, network, uts, pid and ipc namespaces, no cgroup namespace on a v1/hybrid host", () => {
    expect(spec.linux!.namespaces).toEqual([{ type: "mount" }, { type: "network" }, { type: "uts" }, { type: "pid" }, { type: "ipc" }]);
  });
  it("mounts Docker's defaults, masks and read-only paths, and the default seccomp profile", () => {
    expect(spec.mounts!.map((m) => m.destination)).toEqual(["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]);
    expect(spec.linux!.maskedPaths).toContain("/proc/kcore");
    expect(spec.linux!.readonlyPaths).toContain("/proc/sysrq-trigger");
    expect(spec.linux!.seccomp!.defaultAction).toBe("SCMP_ACT_ERRNO");
  });
  it("puts the container in <parent>/<id> with Docker's device rules and the private-network sysctls", () => {
    expect(spec.linux!.cgroupsPath).toBe(`/berth/${id}`);
    expect(spec.linux!.resources!.devices![0]).toEqual({ allow: false, access: "rwm" });
    expect(spec.linux!.resources!.devices).toHaveLength(8);
    expect(spec.linux!.sysctl).toEqual({ "net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0" });
    expect(spec.hostname).toBe(id.slice(0, 12));
    expect(spec.root).toEqual({ path: "/var/lib/berth/rootfs", readonly: false });
  });
});

describe("buildOciSpec — options", () => {
  it("network: host drops the namespace and the network sysctls; path joins it", () => {
    const onHost = build({ network: { mode: "host" } });
    expect(onHost.linux!.namespaces!.map((n) => n.type)).not.toContain("network");
    expect(onHost.linux!.sysctl).toEqual({});
    const joined = build({ network: { mode: "path", netnsPath: "/run/netns/berth-1" } });
    expect(joined.linux!.namespaces![1]).toEqual({ type: "network", path: "/run/netns/berth-1" });
  });
  it("cgroupns private adds a cgroup namespace (Docker's default on cgroup v2)", () => {
    expect(build({ cgroupns: "private" }).linux!.namespaces!.at(-1)).toEqual({ type: "cgroup" });
  });
  it("binds the etc files writable with rprivate, before deeper user mounts, user mounts sorted by depth", () => {
    const spec = build({
      etcFiles: { resolvConf: "/h/resolv.conf", hostname: "/h/hostname", hosts: "/h/hosts" },
      mounts: [
        { type: "bind", source: "/h/deep", destination: "/data/a/b" },
        { type: "bind", source: "/h/data", destination: "/data", readonly: true },
        { type: "tmpfs", destination: "/run", options: ["size=1048576", "mode=755"] },
      ],
    });
    const user = spec.mounts!.slice(7);
    expect(user.map((m) => m.destination)).toEqual(["/data", "/run", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts", "/data/a/b"]);
    expect(user[0]!.options).toEqual(["rbind", "ro", "rprivate"]);
    expect(user[1]).toEqual({ destination: "/run", type: "tmpfs", source: "tmpfs", options: ["noexec", "nosuid", "nodev", "rprivate", "size=1048576", "mode=755"] });
    expect(user[2]).toEqual({ destination: "/etc/resolv.conf", type: "bind", source: "/h/resolv.conf", options: ["rbind", "rprivate"] });
  });
  it("a user mount replaces the default at the same place; one on /dev replaces every /dev default", () => {
    const shm = build({ mounts: [{ type: "tmpfs", destination: "/dev/shm" }] });
    expect(shm.mounts!.filter((m) => m.destination === "/dev/shm")).toHaveLength(1);
    expect(shm.mounts!.find((m) => m.destination === "/dev/shm")!.source).toBe("tmpfs");
    const dev = build({ mounts: [{ type: "bind", source: "/dev", destination: "/dev" }] });
    expect(dev.mounts!.map((m) => m.destination)).toEqual(["/proc", "/sys", "/sys/fs/cgroup", "/dev"]);
  });
  it("shm size and --ipc none", () => {
    expect(build({ shmSize: "128m" }).mounts!.find((m) => m.destination === "/dev/shm")!.options).toContain("size=134217728");
    expect(build({ ipcMode: "none" }).mounts!.map((m) => m.destination)).not.toContain("/dev/shm");
  });
  it("read-only rootfs: root ro, ro added to mounts other than /proc and /dev*, etc files read-only", () => {
    const spec = build({ readonlyRootfs: true, etcFiles: { hosts: "/h/hosts" } });
    expect(spec.root!.readonly).toBe(true);
    expect(spec.mounts!.find((m) => m.destination === "/dev/mqueue")!.options).not.toContain("ro");
    expect(spec.mounts!.find((m) => m.destination === "/etc/hosts")!.options).toEqual(["rbind", "ro", "rprivate"]);
  });
  it("privileged: all caps, no masks, rw /sys and cgroup, all devices, unconfined seccomp", () => {
    const hostDevices = [{ type: "c", path: "/dev/kmsg", major: 1, minor: 11 }];
    const spec = build({ privileged: true, hostDevices, capDrop: ["ALL"] });
    expect(spec.process!.capabilities!.bounding).toHaveLength(41);
    expect(spec.linux!.maskedPaths).toEqual([]);
    expect(spec.linux!.readonlyPaths).toEqual([]);
    expect(spec.linux!.seccomp).toBeUndefined();
    expect(spec.linux!.resources!.devices).toEqual([{ allow: true, access: "rwm" }]);
    expect(spec.linux!.devices).toEqual(hostDevices);
    expect(spec.mounts!.find((m) => m.destination === "/sys")!.options).not.toContain("ro");
    expect(spec.mounts!.find((m) => m.destination === "/sys/fs/cgroup")!.options).not.toContain("ro");
  });
  it("privileged and --cap-add ALL get every capability the engine holds, no more", () => {
    const limited = { ...host, boundingSet: ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_KILL"] };
    expect(build({ privileged: true, host: limited }).process!.capabilities!.bounding).toEqual(["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"]);
    expect(build({ capAdd: ["all"], capDrop: ["KILL"], host: limited }).process!.capabilities!.bounding).toEqual(["CAP_CHOWN", "CAP_SYS_ADMIN"]);
    // Without ALL, what the user asks for is passed on (and the runtime reports what it cannot grant).
    expect(build({ capAdd: ["SYS_TIME"], host: limited }).process!.capabilities!.bounding).toContain("CAP_SYS_TIME");
  });
  it("cap add/drop and seccomp follow the effective set", () => {
    const spec = build({ capAdd: ["SYS_ADMIN"], capDrop: ["NET_RAW"] });
    expect(spec.process!.capabilities!.effective).toContain("CAP_SYS_ADMIN");
    expect(spec.process!.capabilities!.effective).not.toContain("CAP_NET_RAW");
    expect(spec.linux!.seccomp!.syscalls!.some((s) => s.names.includes("mount") && s.action === "SCMP_ACT_ALLOW")).toBe(true);
    expect(build({ seccomp: "unconfined" }).linux!.seccomp).toBeUndefined();
  });
  it("--init runs Docker's init path first and binds it read-only after the default mounts", () => {
    const spec = build({ initPath: "/usr/lib/berth/init", mounts: [{ type: "bind", source: "/x", destination: "/x" }] });
    expect(spec.process!.args).toEqual(["/sbin/docker-init", "--", "sh"]);
    expect(spec.mounts![7]).toEqual({ destination: "/sbin/docker-init", type: "bind", source: "/usr/lib/berth/init", options: ["bind", "ro"] });
    expect(spec.mounts![8]!.destination).toBe("/x");
  });
  it("memory: limit, reservation, swap twice the limit by default, -1 unlimited", () => {
    const spec = build({ resources: { memory: "512m", memoryReservation: "256m" } });
    expect(spec.linux!.resources!.memory).toEqual({ limit: 536870912, reservation: 268435456, swap: 1073741824 });
    expect(build({ resources: { memory: "512m", memorySwap: -1 } }).linux!.resources!.memory!.swap).toBe(-1);
    expect(build().linux!.resources!.memory).toEqual({});
  });
  it("memory: Docker's validation messages", () => {
    const cases: [OciSpecInput["resources"], RegExp][] = [
      [{ memory: "4m" }, /Minimum memory limit allowed is 6MB/],
      [{ memory: "512m", memorySwap: "256m" }, /memoryswap limit should be larger than memory limit/],
      [{ memorySwap: "1g" }, /always set the Memory limit when using Memoryswap/],
      [{ memory: "64m", memoryReservation: "128m" }, /can not be less than memory reservation/],
      [{ memorySwappiness: 101 }, /swappiness range is 0-100/],
    ];
    for (const [resources, message] of cases) {
      const error = catchError(() => build({ resources }));
      expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
  it("cpus becomes a quota over a 100 ms period; shares, cpuset, pids", () => {
    const spec = build({ resources: { cpus: 1.5, cpuShares: 512, cpusetCpus: "0-1", pidsLimit: 100 } });
    expect(spec.linux!.resources!.cpu).toEqual({ shares: 512, period: 100000, quota: 150000, cpus: "0-1" });
    expect(spec.linux!.resources!.pids).toEqual({ limit: 100 });
    expect(build({ resources: { pidsLimit: 0 } }).linux!.resources!.pids).toEqual({ limit: -1 });
    expect((catchError(() => build({ resources: { cpus: 3 } })) as Error).message).toMatch(/Range of CPUs is from 0.01 to 2.00/);
    expect((catchError(() => build({ resources: { cpus: 1, cpuQuota: 50000 } })) as Error).message).toMatch(/Conflicting options/);
  });
  it("the default open-files limit is capped to the engine's own hard limit (raising it needs CAP_SYS_RESOURCE)", () => {
    expect(build({ host: { ...host, hardLimits: { RLIMIT_NOFILE: 20000 } } }).process!.rlimits).toEqual([{ type: "RLIMIT_NOFILE", soft: 1024, hard: 20000 }]);
  });
  it("ulimits override the default by name", () => {
    const spec = build({ ulimits: ["nofile=65536:65536", { name: "nproc", soft: 512, hard: 1024 }] });
    expect(spec.process!.rlimits).toEqual([
      { type: "RLIMIT_NOFILE", soft: 65536, hard: 65536 },
      { type: "RLIMIT_NPROC", soft: 512, hard: 1024 },
    ]);
    expect((catchError(() => build({ ulimits: ["nofile=10:5"] })) as Error).message).toMatch(/soft limit must be less than or equal/);
    expect((catchError(() => build({ ulimits: ["bogus=1"] })) as Error).message).toMatch(/invalid ulimit type/);
  });
  it("sysctls: namespaced ones pass, others and net.* on the host network are refused", () => {
    expect(build({ sysctls: { "net.core.somaxconn": "1024", "kernel.shmmax": "1" } }).linux!.sysctl).toMatchObject({ "net.core.somaxconn": "1024" });
    expect((catchError(() => build({ sysctls: { "kernel.panic": "1" } })) as Error).message).toMatch(/not allowed/);
    expect((catchError(() => build({ network: { mode: "host" }, sysctls: { "net.core.somaxconn": "1" } })) as Error).message).toMatch(/host network/);
  });
  it("devices and device cgroup rules are appended to Docker's rules", () => {
    const spec = build({
      devices: [{ type: "c", path: "/dev/fuse", major: 10, minor: 229, permissions: "rw" }],
      deviceCgroupRules: ["c 42:* rmw"],
    });
    expect(spec.linux!.devices).toEqual([{ type: "c", path: "/dev/fuse", major: 10, minor: 229 }]);
    expect(spec.linux!.resources!.devices!.slice(-2)).toEqual([
      { allow: true, type: "c", major: 10, minor: 229, access: "rw" },
      { allow: true, type: "c", major: 42, access: "rmw" },
    ]);
    expect(parseDeviceCgroupRule("a *:* rwm")).toEqual({ allow: true, type: "a", access: "rwm" });
    expect(() => parseDeviceCgroupRule("x 1:1 r")).toThrowError(/invalid device cgroup format/);
  });
  it("shared bind propagation makes the root shared; slave makes it rslave", () => {
    expect(build({ mounts: [{ type: "bind", source: "/a", destination: "/a", propagation: "rshared" }] }).linux!.rootfsPropagation).toBe("shared");
    expect(build({ mounts: [{ type: "bind", source: "/a", destination: "/a", propagation: "slave" }] }).linux!.rootfsPropagation).toBe("rslave");
    expect(build().linux!.rootfsPropagation).toBeUndefined();
  });
  it("refuses relative and duplicate mount targets", () => {
    expect(hasErrorCode(catchError(() => build({ mounts: [{ type: "tmpfs", destination: "rel" }] })), "BERTH_INVALID_ARGUMENT")).toBe(true);
    expect((catchError(() => build({ mounts: [{ type: "tmpfs", destination: "/a" }, { type: "tmpfs", destination: "/a/" }] })) as Error).message).toMatch(/Duplicate mount point/);
  });
  it("merges tmpfs options so the last of each kind wins", () => {
    expect(mergeTmpfsOptions(["noexec", "nosuid", "size=1", "exec", "size=2", "mode=700"])).toEqual(["exec", "nosuid", "size=2", "mode=700"]);
  });
  it("serialises to JSON unchanged (no undefined holes)", () => {
    const spec = build({ resources: { memory: "64m" } });
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });
});
