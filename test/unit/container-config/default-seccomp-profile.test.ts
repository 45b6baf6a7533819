import { describe, expect, it } from "vitest";
import { baselineSyscalls, defaultSeccompProfile } from "../../../src/runtime/container-config/default-seccomp-profile.js";
import { dockerDefaults } from "../../../src/runtime/container-config/docker-defaults.js";
import type { OciSeccomp } from "../../../src/runtime/oci-spec.js";

function allowed(profile: OciSeccomp, name: string): boolean {
  return profile.syscalls!.some((s) => s.names.includes(name) && s.action === "SCMP_ACT_ALLOW" && !s.args);
}
function rules(profile: OciSeccomp, name: string) {
  return profile.syscalls!.filter((s) => s.names.includes(name));
}

// Docker docs, "Seccomp security profiles for Docker": the default profile is an allowlist
// denying with EPERM; "Significant syscalls blocked by the default profile".
describe("defaultSeccompProfile", () => {
  const profile = defaultSeccompProfile({ arch: "x64", capabilities: dockerDefaults.capabilities });

  it("denies by default with EPERM and covers amd64's compat ABIs", () => {
    expect(profile.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(profile.defaultErrnoRet).toBe(1);
    expect(profile.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  });
  it("allows the 349 baseline syscalls once each", () => {
    const names = baselineSyscalls();
    expect(new Set(names).size).toBe(names.length);
    expect(names).toHaveLength(349);
    for (const name of ["read", "write", "openat", "execve", "futex", "epoll_wait", "io_uring_setup", "clock_gettime"]) {
      expect(allowed(profile, name)).toBe(true);
    }
  });
  it.each(["mount", "umount2", "unshare", "setns", "reboot", "kexec_load", "init_module", "bpf", "swapon", "pivot_root", "open_by_handle_at", "keyctl", "add_key", "userfaultfd"])(
    "blocks %s without extra capabilities (docs: significant syscalls blocked)",
    (name) => {
      expect(allowed(profile, name)).toBe(false);
    },
  );
  it("allows ptrace on kernels from 4.8 and not before", () => {
    expect(allowed(profile, "ptrace")).toBe(true);
    expect(allowed(defaultSeccompProfile({ arch: "x64", kernelVersion: "4.4.0" }), "ptrace")).toBe(false);
  });
  it("CAP_SYS_ADMIN unlocks mount, unshare, setns and unfiltered clone/clone3", () => {
    const admin = defaultSeccompProfile({ arch: "x64", capabilities: [...dockerDefaults.capabilities, "CAP_SYS_ADMIN"] });
    for (const name of ["mount", "umount2", "unshare", "setns", "clone", "clone3", "sethostname"]) expect(allowed(admin, name)).toBe(true);
    expect(rules(admin, "clone3").every((r) => r.action === "SCMP_ACT_ALLOW")).toBe(true);
  });
  it("without CAP_SYS_ADMIN clone may not create namespaces and clone3 fails with ENOSYS", () => {
    const clone = rules(profile, "clone");
    expect(clone).toHaveLength(1);
    expect(clone[0]!.args).toEqual([{ index: 0, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }]);
    expect(rules(profile, "clone3")).toEqual([{ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }]);
  });
  it("on s390x the clone flags are argument 1", () => {
    const s390 = defaultSeccompProfile({ arch: "s390x" });
    expect(rules(s390, "clone")[0]!.args![0]!.index).toBe(1);
  });
  it("CAP_SYS_PTRACE, CAP_SYS_TIME, CAP_SYS_MODULE, CAP_SYS_BOOT unlock their syscalls", () => {
    const more = defaultSeccompProfile({ arch: "x64", capabilities: ["CAP_SYS_PTRACE", "CAP_SYS_TIME", "CAP_SYS_MODULE", "CAP_SYS_BOOT"] });
    for (const name of ["kcmp", "process_vm_writev", "settimeofday", "clock_settime", "init_module", "reboot"]) expect(allowed(more, name)).toBe(true);
    // chroot needs CAP_SYS_CHROOT, which this set lacks.
    expect(allowed(more, "chroot")).toBe(false);
    expect(allowed(profile, "chroot")).toBe(true);
  });
  it("personality is allowed only for the harmless domains", () => {
    expect(rules(profile, "personality").map((r) => r.args![0]!.value)).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
  });
  it("socket is allowed for every family but AF_VSOCK", () => {
    expect(rules(profile, "socket")).toEqual([{ names: ["socket"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 40, op: "SCMP_CMP_NE" }] }]);
  });
  it("architecture-specific syscalls follow the architecture", () => {
    expect(allowed(profile, "arch_prctl")).toBe(true);
    expect(allowed(profile, "modify_ldt")).toBe(true);
    const arm = defaultSeccompProfile({ arch: "arm64" });
    expect(allowed(arm, "arch_prctl")).toBe(false);
    expect(allowed(arm, "set_tls")).toBe(true);
    expect(arm.architectures).toEqual(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
  });
});
