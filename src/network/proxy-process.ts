import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { BerthError } from "../common/berth-error.js";

/** Whether `pid` is a live port-proxy (a reused pid, or a zombie with its empty cmdline, is not). */
export function isProxyRunning(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("port-proxy");
  } catch {
    return false;
  }
}

/**
 * Stops a port-proxy daemon: SIGTERM, then SIGKILL after 2 s. The pid is checked to still
 * be a port-proxy first, as it may have been reused since it was recorded.
 */
export async function stopProxy(pid: number, pidFile: string): Promise<void> {
  const isProxy = () => isProxyRunning(pid);
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
