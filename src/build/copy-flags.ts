import { BerthError } from "../common/index.js";
import { flagValue, flagValues, type Instruction } from "./dockerfile-parser.js";

/**
 * COPY and ADD flags with Docker's validation: `--from`, `--chown`, `--chmod` (octal or
 * symbolic), `--link`, `--exclude`, `--parents`, and ADD's `--checksum`, `--keep-git-dir`,
 * `--unpack`. Values arrive already variable-expanded (the planner expands them).
 */

/** A `--chmod` value: an octal mode, or a symbolic one applied to each file's own mode. */
export type ChmodSpec = { kind: "octal"; mode: number; text: string } | { kind: "symbolic"; text: string };

/** The parsed flags of one COPY or ADD. */
export interface CopyFlags {
  /** `--from`: a stage name or index, or an image reference. */
  from: string | undefined;
  /** `--chown` as written (`user[:group]`); names are resolved by the executor in the target rootfs. */
  chown: { user: string; group: string | undefined } | undefined;
  chmod: ChmodSpec | undefined;
  /** @default false */
  link: boolean;
  /** `--exclude` patterns, in order. */
  exclude: string[];
  /** @default false */
  parents: boolean;
  /** ADD `--checksum` (`sha256:<hex>`), only for URL and git sources. */
  checksum: string | undefined;
  /** @default false */
  keepGitDir: boolean;
  /** ADD `--unpack`: undefined means Docker's default (local archives unpack, URLs do not). */
  unpack: boolean | undefined;
}

function flagError(instruction: Instruction, message: string, value?: string): BerthError {
  return new BerthError("BERTH_BUILD_INVALID_FLAG", `${instruction.keyword} on line ${instruction.startLine}: ${message}`, {
    line: instruction.startLine,
    value,
  });
}

const symbolicClause = /^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+$/;

/** Parses a `--chmod` value as BuildKit accepts it: octal up to 07777, or symbolic (`u+x,go=r`). */
export function parseChmod(text: string): ChmodSpec {
  if (/^[0-7]+$/.test(text)) {
    const mode = Number.parseInt(text, 8);
    if (mode > 0o7777) {
      throw new BerthError("BERTH_BUILD_INVALID_FLAG", `invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`, {
        value: text,
      });
    }
    return { kind: "octal", mode, text };
  }
  if (text !== "" && text.split(",").every((c) => symbolicClause.test(c))) return { kind: "symbolic", text };
  throw new BerthError("BERTH_BUILD_INVALID_FLAG", `invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777, or a symbolic mode`, {
    value: text,
  });
}

/** Applies a {@link ChmodSpec} to a file's current permission bits (as `chmod(1)` does). */
export function applyChmod(spec: ChmodSpec, mode: number, isDirectory: boolean): number {
  if (spec.kind === "octal") return spec.mode;
  let result = mode & 0o7777;
  for (const clause of spec.text.split(",")) {
    const m = /^([ugoa]*)(.*)$/.exec(clause)!;
    const who = m[1] === "" || m[1]!.includes("a") ? "ugo" : m[1]!;
    const ops = m[2]!.match(/[-+=][^-+=]*/g) ?? [];
    for (const op of ops) {
      const sign = op[0]!;
      const perms = op.slice(1);
      let bits = 0;
      for (const w of who) {
        const shift = w === "u" ? 6 : w === "g" ? 3 : 0;
        let rwx = 0;
        if (/^[ugo]$/.test(perms)) {
          const fromShift = perms === "u" ? 6 : perms === "g" ? 3 : 0;
          rwx = (result >> fromShift) & 7;
        } else {
          if (perms.includes("r")) rwx |= 4;
          if (perms.includes("w")) rwx |= 2;
          if (perms.includes("x")) rwx |= 1;
          // X: execute only for directories or files that already have some execute bit.
          if (perms.includes("X") && (isDirectory || (mode & 0o111) !== 0)) rwx |= 1;
          if (perms.includes("s")) bits |= w === "u" ? 0o4000 : w === "g" ? 0o2000 : 0;
          if (perms.includes("t") && w === "o") bits |= 0o1000;
        }
        bits |= rwx << shift;
      }
      if (sign === "+") result |= bits;
      else if (sign === "-") result &= ~bits;
      else {
        let clear = 0;
        for (const w of who) clear |= w === "u" ? 0o4700 : w === "g" ? 0o2070 : 0o1007;
        result = (result & ~clear) | bits;
      }
    }
  }
  return result;
}

/** Parses `user[:group]`. */
export function parseChown(text: string): { user: string; group: string | undefined } {
  const colon = text.indexOf(":");
  const user = colon < 0 ? text : text.slice(0, colon);
  const group = colon < 0 ? undefined : text.slice(colon + 1);
  if (user === "" || group === "") {
    throw new BerthError("BERTH_BUILD_INVALID_FLAG", `invalid --chown value '${text}': expected user[:group]`, { value: text });
  }
  return { user, group };
}

/** Whether an ADD source is fetched rather than read from the context: a URL or a git address. */
export function isRemoteSource(source: string): boolean {
  return /^https?:\/\//i.test(source) || isGitSource(source);
}

/**
 * Whether an ADD source is a git repository address, as BuildKit tells them from local paths:
 * `git@host:path`, `git://` and `ssh://` addresses, and HTTP(S) URLs whose path ends in `.git`
 * (a fragment `#ref:subdir` may follow). A local `repo.git` is a file of the context.
 */
export function isGitSource(source: string): boolean {
  return /^git@[^:/]+:/.test(source) || /^(git|ssh):\/\//i.test(source) || /^https?:\/\/[^#?]*\.git\/?(#|$)/i.test(source);
}

/**
 * The flags of a COPY or ADD instruction. `expand` expands variables in a flag value (the
 * planner passes the stage's environment); by default values are taken as written.
 */
export function parseCopyFlags(instruction: Instruction, expand: (value: string) => string = (v) => v): CopyFlags {
  if (instruction.keyword !== "COPY" && instruction.keyword !== "ADD") {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `parseCopyFlags expects COPY or ADD, got ${instruction.keyword}`);
  }
  const get = (name: string): string | undefined => {
    const v = flagValue(instruction, name);
    return v === undefined ? undefined : expand(v);
  };
  const bool = (name: string): boolean | undefined => {
    const v = flagValue(instruction, name);
    return v === undefined ? undefined : v === "true";
  };
  // BuildKit resolves --from as written: it is the one COPY flag that is never expanded.
  const from = flagValue(instruction, "from");
  if (from !== undefined && from === "") throw flagError(instruction, "--from requires a value");
  const chownText = get("chown");
  const chmodText = get("chmod");
  const checksum = get("checksum");
  const flags: CopyFlags = {
    from,
    chown: undefined,
    chmod: undefined,
    link: bool("link") ?? false,
    exclude: flagValues(instruction, "exclude").map(expand),
    parents: bool("parents") ?? false,
    checksum,
    keepGitDir: bool("keep-git-dir") ?? false,
    unpack: bool("unpack"),
  };
  try {
    if (chownText !== undefined && chownText !== "") flags.chown = parseChown(chownText);
    if (chmodText !== undefined && chmodText !== "") flags.chmod = parseChmod(chmodText);
  } catch (error) {
    throw flagError(instruction, (error as Error).message, chownText ?? chmodText);
  }
  if (flags.exclude.some((p) => p === "")) throw flagError(instruction, "--exclude requires a non-empty pattern");
  const sources = instruction.sources ?? [];
  if (checksum !== undefined) {
    if (!/^sha(256|384|512):[0-9a-f]+$/.test(checksum)) {
      throw flagError(instruction, `invalid checksum digest format '${checksum}'`, checksum);
    }
    if (sources.some((s) => !isRemoteSource(s))) {
      throw flagError(instruction, "checksum can't be specified for non-HTTP(S) sources", checksum);
    }
  }
  if (flags.keepGitDir && sources.some((s) => !isGitSource(s))) {
    throw flagError(instruction, "--keep-git-dir is only valid for git sources");
  }
  return flags;
}
