import { BerthError } from "../common/index.js";
import type { FlagValue } from "./parse-args.js";

/** `--tail` of `logs` and `compose logs`: a line count, or "all" (the default, and any negative count, as Docker takes it). */
export function parseTailFlag(value: FlagValue | undefined): number | "all" {
  const text = typeof value === "string" && value !== "" ? value : "all";
  if (text === "all") return "all";
  const tail = Number(text);
  if (!Number.isInteger(tail)) throw new BerthError("BERTH_CLI_USAGE", `invalid --tail value "${text}": expected a number or "all"`, { flag: "tail" });
  return tail < 0 ? "all" : tail;
}
