import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import {
  allCapabilities,
  defaultMounts,
  dockerDefaults,
  normalizeCapability,
  tweakCapabilities,
} from "../../../src/runtime/container-config/docker-defaults.js";

describe("Docker's defaults (moby oci/defaults.go, oci/caps/defaults.go)", () => {
  it("has the 14 default capabilities", () => {
    expect(dockerDefaults.capabilities).toHaveLength(14);
    expect(dockerDefaults.capabilities).not.toContain("CAP_SYS_ADMIN");
    expect(dockerDefaults.capabilities).toContain("CAP_NET_BIND_SERVICE");
  });
  it("knows every capability up to CAP_CHECKPOINT_RESTORE (40) in kernel order", () => {
    expect(dockerDefaults.knownCapabilities).toHaveLength(41);
    expect(dockerDefaults.knownCapabilities[21]).toBe("CAP_SYS_ADMIN");
    expect(dockerDefaults.knownCapabilities[40]).toBe("CAP_CHECKPOINT_RESTORE");
    expect(allCapabilities(37)).toHaveLength(38);
  });
  it("mounts /proc, /dev, /dev/pts, /sys, /sys/fs/cgroup, /dev/mqueue, /dev/shm in Docker's order with a 64 MiB shm", () => {
    const mounts = defaultMounts();
    expect(mounts.map((m) => m.destination)).toEqual(["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]);
    expect(mounts.at(-1)!.options).toContain("size=67108864");
    expect(mounts.find((m) => m.destination === "/sys")!.options).toContain("ro");
    expect(defaultMounts(1024).at(-1)!.options).toContain("size=1024");
  });
  it("masks /proc/kcore and /sys/firmware, makes /proc/sys read-only", () => {
    expect(dockerDefaults.maskedPaths).toContain("/proc/kcore");
    expect(dockerDefaults.maskedPaths).toContain("/sys/firmware");
    expect(dockerDefaults.readonlyPaths).toContain("/proc/sys");
  });
});

// Docker docs, `docker run` "Runtime privilege and Linux capabilities": names with or
// without CAP_, any case; ALL.
describe("capability names and --cap-add/--cap-drop", () => {
  it.each([
    ["NET_ADMIN", "CAP_NET_ADMIN"],
    ["cap_net_admin", "CAP_NET_ADMIN"],
    ["Net_Admin", "CAP_NET_ADMIN"],
    ["all", "ALL"],
  ])("normalises %s to %s", (input, expected) => {
    expect(normalizeCapability(input)).toBe(expected);
  });
  it("refuses an unknown capability with Docker's message", () => {
    try {
      normalizeCapability("FOO");
      expect.unreachable();
    } catch (error) {
      expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
      expect((error as Error).message).toBe('unknown capability: "CAP_FOO"');
    }
  });
  it("drops then adds", () => {
    const caps = tweakCapabilities(dockerDefaults.capabilities, ["sys_admin"], ["NET_RAW", "CAP_MKNOD"]);
    expect(caps).toContain("CAP_SYS_ADMIN");
    expect(caps).not.toContain("CAP_NET_RAW");
    expect(caps).not.toContain("CAP_MKNOD");
    expect(caps).toHaveLength(13);
  });
  it("--cap-drop ALL keeps only the added ones", () => {
    expect(tweakCapabilities(dockerDefaults.capabilities, ["chown"], ["ALL"])).toEqual(["CAP_CHOWN"]);
  });
  it("--cap-add ALL gives everything but the dropped ones", () => {
    const caps = tweakCapabilities(dockerDefaults.capabilities, ["ALL"], ["SYS_ADMIN"]);
    expect(caps).toHaveLength(40);
    expect(caps).not.toContain("CAP_SYS_ADMIN");
  });
  it("adding a capability already present does not duplicate it", () => {
    expect(tweakCapabilities(dockerDefaults.capabilities, ["CHOWN"])).toHaveLength(14);
  });
});
