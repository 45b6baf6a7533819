import { BerthError } from "../../common/berth-error.js";
import type { OciRlimit } from "../oci-spec.js";

/** The names `--ulimit` accepts (Docker's go-units `ulimitNameMapping`). */
const names = [
  "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio",
  "rttime", "sigpending", "stack",
] as const;

/** One `--ulimit`: a resource name and its soft and hard limits (-1 is unlimited). */
export interface Ulimit {
  /** `nofile`, `nproc`, `core`... */
  name: string;
  soft: number;
  /** @default soft */
  hard?: number;
}

/**
 * Parses Docker's `--ulimit name=soft[:hard]` into an OCI rlimit, with Docker's checks:
 * a known name, integers, soft ≤ hard. -1 means unlimited. Fails with `BERTH_INVALID_ARGUMENT`.
 */
export function parseUlimit(input: string | Ulimit): OciRlimit {
  let name: string;
  let soft: number;
  let hard: number;
  if (typeof input === "string") {
    const match = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(input.trim());
    if (!match) throw bad(`invalid ulimit argument: ${input}`, input);
    name = match[1]!;
    soft = Number(match[2]);
    hard = match[3] === undefined ? soft : Number(match[3]);
  } else {
    name = input.name;
    soft = input.soft;
    hard = input.hard ?? input.soft;
  }
  if (!(names as readonly string[]).includes(name)) throw bad(`invalid ulimit type: ${name}`, String(name));
  if (!Number.isInteger(soft) || !Number.isInteger(hard)) throw bad(`invalid ulimit value for ${name}`, name);
  // -1 stands for RLIM_INFINITY, which is larger than any limit.
  const rank = (n: number) => (n === -1 ? Infinity : n);
  if (rank(soft) > rank(hard)) {
    throw bad(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`, name);
  }
  // -1 is kept: JSON numbers cannot carry RLIM_INFINITY (2^64-1) exactly through JavaScript,
  // so the runtime reads a negative limit as infinity.
  return { type: `RLIMIT_${name.toUpperCase()}`, soft, hard };
}

function bad(message: string, value: string): BerthError {
  return new BerthError("BERTH_INVALID_ARGUMENT", message, { field: "ulimits", value });
}
