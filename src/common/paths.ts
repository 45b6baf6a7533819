import { homedir } from "node:os";
import { join } from "node:path";

/** Whether this process runs as root (uid 0). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * The state root that holds images, containers and volumes: `BERTH_ROOT`, else
 * `/var/lib/berth` as root and `$XDG_DATA_HOME/berth` rootless.
 */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_ROOT) return env.BERTH_ROOT;
  if (isRoot()) return "/var/lib/berth";
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "berth");
}

/**
 * The runtime root for state that must not survive a reboot (container processes, locks of
 * running things): `BERTH_RUN_ROOT`; else `run/` inside an explicit `BERTH_ROOT`, so that a
 * test's private root is private entirely; else `/run/berth` as root and
 * `$XDG_RUNTIME_DIR/berth` rootless, or `/tmp/berth-<uid>` without `XDG_RUNTIME_DIR`.
 */
export function runRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_RUN_ROOT) return env.BERTH_RUN_ROOT;
  if (env.BERTH_ROOT) return join(env.BERTH_ROOT, "run");
  if (isRoot()) return "/run/berth";
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "berth");
  // No session (su, runuser, cron): a per-user directory in /tmp, as Podman falls back to.
  return join("/tmp", `berth-${process.getuid?.() ?? "user"}`);
}
