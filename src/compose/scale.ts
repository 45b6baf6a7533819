import { BerthError } from "../common/index.js";

/** Reads `--scale web=3 --scale worker=0` into `{ web: 3, worker: 0 }`. */
export function parseScaleFlags(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([a-zA-Z0-9._-]+)=(\d+)$/.exec(v);
    if (!m) {
      throw new BerthError("BERTH_CLI_USAGE", `invalid --scale value ${JSON.stringify(v)}: expected SERVICE=NUM`, { flag: "scale", value: v });
    }
    out[m[1]!] = Number(m[2]);
  }
  return out;
}
