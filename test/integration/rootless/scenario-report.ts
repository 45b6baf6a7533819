// What every rootless scenario (run as the unprivileged user by runuser + tsx) shares: a report
// that each step fills with its result or its error, so one failing step does not hide the
// others, and the process warnings berth emitted meanwhile.
import { readdirSync, readFileSync } from "node:fs";
import { isBerthError } from "../../../src/common/berth-error.js";

/** A scenario's report: `step` records, `print` hands it to the test as one JSON line. */
export class ScenarioReport {
  readonly results: Record<string, unknown> = {};
  /** Every process warning since this report was made (berth's BERTH_ROOTLESS_* among them). */
  readonly warnings: { code?: string; message: string }[] = [];

  constructor() {
    process.on("warning", (w) => this.warnings.push({ code: (w as { code?: string }).code, message: w.message }));
  }

  /** Runs `fn`, recording its result under `name`, or `{ error }`: the code, message and causes. */
  readonly step = async (name: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      this.results[name] = await fn();
    } catch (error) {
      let text = isBerthError(error) ? `${error.code}: ${error.message}` : String((error as Error)?.stack ?? error);
      for (let cause = (error as Error)?.cause as Error | undefined; cause; cause = cause.cause as Error | undefined) text += ` <- ${cause.message}`;
      this.results[name] = { error: text };
    }
  };

  /** Writes the report as the last line of stdout, the line the test parses. */
  print(): void {
    process.stdout.write(`${JSON.stringify(this.results)}\n`);
  }
}

/**
 * The user's processes other than this one and its children that are still running, minus the
 * runuser/shell/tsx chain that started the scenario (its command line matches `script`).
 */
export function strayProcesses(script: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, "utf8");
      const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      if (Number(uid) !== process.getuid!() || ppid === process.pid || /^State:\s+Z/m.test(status)) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      if (cmd.includes(script) || /tsx|^-?bash|^sh -c/.test(cmd)) continue;
      out.push(`${name} ${cmd}`);
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}
