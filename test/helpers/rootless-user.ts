import { execFileSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { findSubordinateRange } from "../../src/common/user-namespace.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));

/** An unprivileged user made for rootless tests and benches, and undone by {@link RootlessUser.remove}. */
export interface RootlessUser {
  name: string;
  uid: number;
  /** Its /etc/subuid range (the /etc/subgid one is the same). */
  subuid: { start: number; count: number };
  /** The pids of its live processes (zombies left out: they hold nothing). */
  processes(): number[];
  /** Runs a TypeScript file with tsx as the user, with a clean environment and `env` added; never rejects. */
  run(script: string, args: readonly string[], options: RunOptions): Promise<UserRun>;
  /**
   * Kills its processes (by pid), deletes it with its home and subordinate ranges and its
   * rootless run root, and puts /dev/net/tun's mode back. Safe to call twice.
   */
  remove(): Promise<void>;
}

/** Options of {@link RootlessUser.run}. */
export interface RunOptions {
  timeout: number;
  /** @default {} */
  env?: Record<string, string>;
  /** A cgroup v2 directory to start the process in (as root, before it becomes the user). @default the caller's */
  cgroup?: string;
}

/** What a {@link RootlessUser.run} gave back. */
export interface UserRun {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/** The first id past every range of an /etc/subuid-format file (at least 100000). */
function nextFreeId(file: string): number {
  let next = 100_000;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [, start, count] = line.split(":");
    if (start && count) next = Math.max(next, Number(start) + Number(count));
  }
  return next;
}

/** A process's command line, words joined by spaces; "" for one that has exited meanwhile. */
export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
  } catch {
    return "";
  }
}

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

/**
 * Makes user `name` with a home, a 65536-id subordinate range of its own, and /dev/net/tun
 * open to users (slirp4netns opens it in the user's namespace; Debian's udev makes it 0666,
 * a minimal host may have 0600). Needs root. What it made is undone if it fails half way.
 */
export async function createRootlessUser(name: string): Promise<RootlessUser> {
  let uid: number | undefined;
  const remove = async (): Promise<void> => {
    if (uid !== undefined) {
      for (const pid of processesOf(uid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await execa("userdel", ["--remove", name], { reject: false });
    // userdel removes the user's ranges in shadow >= 4.6; older ones leave them.
    for (const file of ["/etc/subuid", "/etc/subgid"]) {
      const text = readFileSync(file, "utf8");
      const kept = text.split("\n").filter((l) => !l.startsWith(`${name}:`) && !(uid !== undefined && l.startsWith(`${uid}:`)));
      if (kept.join("\n") !== text) await execa("sh", ["-c", `printf '%s' "$1" > "$2"`, "sh", kept.join("\n"), file]);
    }
    if (uid !== undefined) await execa("rm", ["-rf", `/tmp/berth-${uid}`], { reject: false });
  };
  try {
    await execa("useradd", ["--create-home", "--shell", "/bin/sh", name]);
    uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
    // useradd gives a range itself when login.defs asks it to; otherwise one is added here.
    if (!findSubordinateRange(readFileSync("/etc/subuid", "utf8"), name, uid)) {
      const start = Math.max(nextFreeId("/etc/subuid"), nextFreeId("/etc/subgid"));
      await execa("usermod", ["--add-subuids", `${start}-${start + 65535}`, "--add-subgids", `${start}-${start + 65535}`, name]);
    }
    const subuid = findSubordinateRange(readFileSync("/etc/subuid", "utf8"), name, uid)!;
    // slirp4netns opens /dev/net/tun as the user.
    shareDevice("/dev/net/tun");
    const userId = uid;
    return {
      name,
      uid: userId,
      subuid,
      processes: () => processesOf(userId),
      run: async (script, args, options) => {
        // Moved by a root shell that then becomes the user: the user may not write the target's
        // common ancestor with the caller's cgroup.
        const inCgroup = options.cgroup ? ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', options.cgroup] : [];
        const r = await execa(
          inCgroup[0] ?? "runuser",
          [
            ...(inCgroup.length > 0 ? [...inCgroup.slice(1), "runuser"] : []),
            "-u",
            name,
            "--",
            "env",
            "-i",
            `HOME=/home/${name}`,
            `PATH=${process.env.PATH}`,
            ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
            process.execPath,
            join(repo, "node_modules/tsx/dist/cli.mjs"),
            script,
            ...args,
          ],
          { cwd: "/tmp", timeout: options.timeout, reject: false },
        );
        return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
      },
      remove,
    };
  } catch (error) {
    await remove();
    throw error;
  }
}

/**
 * Makes a device node usable by every user (0666), as Debian's udev rules make /dev/net/tun
 * and /dev/fuse; some hosts (this VM) have them 0600. Never put back: test files run
 * concurrently and share the node, so one file restoring the mode would pull it from under
 * another's unprivileged user mid-test (it did, in CI).
 */
export function shareDevice(path: string): void {
  if ((statSync(path).mode & 0o777) !== 0o666) chmodSync(path, 0o666);
}
