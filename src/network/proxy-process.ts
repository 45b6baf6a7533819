import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { BerthError } from "../common/berth-error.js";

/**
 * Whether `pid` is a live port-proxy (a reused pid, or a zombie with its empty cmdline, is
 * not); with `pidFile`, the one started with that pid file (not another container's proxy
 * that reused the pid of one that died).
 */
export function isProxyRunning(pid: number, pidFile?: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("port-proxy") && (pidFile === undefined || cmdline.includes(`\0${pidFile}\0`));
  } catch {
    return false;
  }
}

/**
 * Stops a port-proxy daemon: SIGTERM, then SIGKILL after 2 s. The pid is checked to still
 * be the port-proxy of `pidFile` first, as it may have been reused since it was recorded.
 */
export async function stopProxy(pid: number, pidFile: string): Promise<void> {
  const isProxy = () => isProxyRunning(pid, pidFile);
  if (isProxy()) {
    try {
      process.kill(pid, "SIGTERM");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") {
        throw new BerthError("BERTH_NETWORK_FAILED", `cannot stop port-proxy ${pid}`, { pid, cause: error });
      }
    }
    const deadline = Date.now() + 2_000;
    while (isProxy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    if (isProxy()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // It exited between the check and the kill.
      }
    }
  }
  await rm(pidFile, { force: true });
}
