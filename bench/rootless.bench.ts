// Rootless mode (docs/rootless.md), from a warm store: as an unprivileged user made here (with
// its own /etc/subuid and /etc/subgid ranges, removed after), the engine's create + start +
// exit + remove of a busybox `true` on network `none`, and GenericContainer's start (busybox
// httpd, one published port, ready by listening ports) + stop on slirp4netns. Beside them,
// the same two as root (the second on the default bridge). No target: the figures show what
// the rootless path (rootfs helper, user namespaces, slirp4netns) costs. Needs root,
// util-linux, uidmap and slirp4netns; prints why when it cannot run.
import { execFileSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { findSubordinateRange } from "../src/common/user-namespace.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { makeTempDir, removeTempDir } from "../test/helpers/temp-dir.js";
import { measure } from "./rootless/rootless-worker.js";

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

/** The pids of the processes running as `uid`. */
function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, "utf8");
      if (Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) === uid && !/^State:\s+Z/m.test(status)) pids.push(Number(name));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

function nextFreeId(file: string): number {
  let next = 100_000;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [, start, count] = line.split(":");
    if (start && count) next = Math.max(next, Number(start) + Number(count));
  }
  return next;
}

export default async function rootlessBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root (it makes an unprivileged user)");
    return;
  }
  const repo = fileURLToPath(new URL("..", import.meta.url));
  const user = `berthbench${process.pid % 100000}`;
  const dir = await makeTempDir("berth-rootless-bench-");
  chmodSync(dir, 0o755);
  const tunMode = statSync("/dev/net/tun").mode & 0o777;
  let uid: number | undefined;
  try {
    await execa("useradd", ["--create-home", "--shell", "/bin/sh", user]);
    uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
    if (!findSubordinateRange(readFileSync("/etc/subuid", "utf8"), user, uid)) {
      const start = Math.max(nextFreeId("/etc/subuid"), nextFreeId("/etc/subgid"));
      await execa("usermod", ["--add-subuids", `${start}-${start + 65535}`, "--add-subgids", `${start}-${start + 65535}`, user]);
    }
    if (tunMode !== 0o666) chmodSync("/dev/net/tun", 0o666);
    const rootfs = await busyboxRootfs({ cacheDir: join(dir, "fixtures") });
    await execa("chmod", ["-R", "a+rX", join(dir, "fixtures")]);
    console.log(`  load average before: ${load()}`);
    const run = await execa(
      "runuser",
      ["-u", user, "--", "env", "-i", `HOME=/home/${user}`, `PATH=${process.env.PATH}`, `BENCH_RUNS=${process.env.BENCH_RUNS ?? 10}`, process.execPath, join(repo, "node_modules/tsx/dist/cli.mjs"), join(repo, "bench/rootless/rootless-worker.ts"), rootfs],
      { cwd: "/tmp", timeout: 600_000, reject: false },
    );
    const rootless = run.stdout.split("\n").find((l) => l.startsWith("{"));
    if (!rootless) throw new Error(`the rootless worker failed (exit ${run.exitCode}): ${run.stderr.slice(-2000)}`);
    const asUser = JSON.parse(rootless) as Record<string, string>;
    const asRoot = await measure(rootfs, join(dir, "root-state"));
    for (const key of Object.keys(asUser)) {
      console.log(`  ${key}:\n    rootless ${asUser[key]}\n    root     ${asRoot[key]}`);
    }
    console.log(`  load average after: ${load()}`);
  } finally {
    // The worker removes its containers; anything of the user's still running is killed, by pid.
    if (uid !== undefined) for (const pid of processesOf(uid)) process.kill(pid, "SIGKILL");
    await execa("userdel", ["--remove", user], { reject: false });
    for (const file of ["/etc/subuid", "/etc/subgid"]) {
      const text = readFileSync(file, "utf8");
      const kept = text.split("\n").filter((l) => !l.startsWith(`${user}:`));
      if (kept.join("\n") !== text) await execa("sh", ["-c", `printf '%s' "$1" > "$2"`, "sh", kept.join("\n"), file]);
    }
    if (uid !== undefined) await execa("rm", ["-rf", `/tmp/berth-${uid}`], { reject: false });
    if (tunMode !== 0o666) chmodSync("/dev/net/tun", tunMode);
    await removeTempDir(dir);
  }
}
