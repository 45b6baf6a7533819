import { statSync } from "node:fs";
import { posix } from "node:path";
import { resolveInRoot } from "../../common/safe-path.js";
import { dockerDefaults } from "../container-config/docker-defaults.js";

/** Why a command cannot run, with Docker's exit code (127 missing, 126 not executable) and message. */
export interface CommandProblem {
  exitCode: 126 | 127;
  message: string;
}

/**
 * Looks `command` up as runc does before exec (Go's `exec.LookPath` in the container's PATH),
 * reading the container's root from the host with symlinks resolved inside it. Returns the
 * problem Docker reports when the command cannot run, or undefined when it can. Checked by
 * the engine itself so every runtime gives the same answer, with Docker's 126/127.
 */
export async function findCommandProblem(root: string, command: string, env: readonly string[]): Promise<CommandProblem | undefined> {
  return commandProblem(command, env, (path) => statInRoot(root, path));
}

/** What {@link commandProblem} needs of a path's (followed) stat. */
export interface CommandStat {
  isFile(): boolean;
  isDirectory(): boolean;
  mode: number;
}

/**
 * The paths {@link commandProblem} may ask about, in its order: for a root read by another
 * process (rootless, see src/runtime/rootless/rootfs-view.ts), which stats them all at once.
 */
export function commandCandidates(command: string, env: readonly string[]): string[] {
  if (command.includes("/")) return [posix.isAbsolute(command) ? command : posix.join("/", command)];
  return searchPath(env).map((dir) => posix.join(dir || ".", command));
}

/** {@link findCommandProblem} with each candidate's stat from `statOf` (undefined: missing). */
export function commandProblem(command: string, env: readonly string[], statOf: (path: string) => CommandStat | undefined): CommandProblem | undefined {
  if (command.includes("/")) {
    const st = statOf(commandCandidates(command, env)[0]!);
    if (!st) return { exitCode: 127, message: `exec: "${command}": stat ${command}: no such file or directory` };
    if (st.isDirectory() || (st.mode & 0o111) === 0) return { exitCode: 126, message: `exec: "${command}": permission denied` };
    return undefined;
  }
  let denied = false;
  for (const path of commandCandidates(command, env)) {
    const st = statOf(path);
    if (!st) continue;
    if (st.isFile() && (st.mode & 0o111) !== 0) return undefined;
    denied = true;
  }
  if (denied) return { exitCode: 126, message: `exec: "${command}": permission denied` };
  return { exitCode: 127, message: `exec: "${command}": executable file not found in $PATH` };
}

function searchPath(env: readonly string[]): string[] {
  const pathEnv = [...env].reverse().find((e) => e.startsWith("PATH="))?.slice(5) ?? defaultPath();
  return pathEnv.split(":");
}

function defaultPath(): string {
  return dockerDefaults.path;
}

// Synchronous: a lookup is a few stats of a few µs each, where each async one is a
// thread-pool round trip (~0.1 ms) on the start's hot path.
function statInRoot(root: string, path: string) {
  try {
    return statSync(resolveInRoot(root, path, { followLast: true }));
  } catch {
    return undefined;
  }
}
