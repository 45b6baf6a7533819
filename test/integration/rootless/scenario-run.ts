// The test side of the rootless scenarios (scenario-report.ts is the user's side): run one as
// the unprivileged user and read its report, and wait for what the user's processes leave.
import { basename } from "node:path";
import type { RootlessUser, RunOptions } from "../../helpers/rootless-user.js";

/**
 * Runs `script` as `account` and parses the report it prints as its last JSON line. A
 * scenario that printed none fails with its exit code and the tail of its stderr.
 */
export async function runScenario(account: RootlessUser, script: string, args: readonly string[], options: RunOptions): Promise<Record<string, any>> {
  const r = await account.run(script, args, options);
  const line = r.stdout.split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) throw new Error(`${[basename(script), ...args].join(" ")} reported nothing (exit ${r.exitCode}):\n${r.stderr.slice(-3000)}`);
  return JSON.parse(line) as Record<string, any>;
}

/** Waits (at most `ms`) until `check` holds; returns its last value. */
export async function settle<T>(check: () => T, done: (value: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let value = check();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    value = check();
  }
  return value;
}
