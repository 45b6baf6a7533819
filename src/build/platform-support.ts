import { readFile } from "node:fs/promises";
import { hostPlatform } from "../image/oci.js";

/**
 * Whether this host can execute a platform's binaries, so RUN can build for it: the host's
 * own architecture (and 386 on amd64, which x86-64 kernels run natively), or one a binfmt_misc
 * emulator is registered and enabled for (`qemu-user-static` registers `qemu-aarch64`...).
 */

/** binfmt_misc names of the emulators that run each OCI architecture. */
const emulatorNames: Record<string, string[]> = {
  amd64: ["qemu-x86_64"],
  386: ["qemu-i386"],
  arm64: ["qemu-aarch64"],
  arm: ["qemu-arm"],
  ppc64le: ["qemu-ppc64le"],
  s390x: ["qemu-s390x"],
  riscv64: ["qemu-riscv64"],
  mips64le: ["qemu-mips64el"],
  loong64: ["qemu-loongarch64"],
};

/** Whether binaries of `platform` run here. */
export async function canExecute(platform: { os: string; architecture: string }, binfmtDir = "/proc/sys/fs/binfmt_misc"): Promise<boolean> {
  if (platform.os !== "linux") return false;
  const host = hostPlatform().architecture;
  if (platform.architecture === host || (host === "amd64" && platform.architecture === "386")) return true;
  for (const name of emulatorNames[platform.architecture] ?? []) {
    const state = await readFile(`${binfmtDir}/${name}`, "utf8").catch(() => "");
    if (state.startsWith("enabled")) return true;
  }
  return false;
}
