import { readFile } from "node:fs/promises";
import { BerthError } from "../../common/berth-error.js";
import { resolveInRoot } from "./in-root-path.js";

/** The files user names are resolved against. */
export type UserDatabase =
  | {
      /** Contents of the container's /etc/passwd; absent when the image has none. */
      passwd?: string;
      /** Contents of the container's /etc/group; absent when the image has none. */
      group?: string;
    }
  | {
      /** The container's root filesystem on the host; its /etc/passwd and /etc/group are read without leaving it. */
      rootfs: string;
    };

/** Options of {@link resolveUser}. */
export interface ResolveUserOptions {
  /** Extra groups (`--group-add`): names from /etc/group or numeric gids. @default [] */
  groupAdd?: readonly (string | number)[];
}

/** A user resolved to ids, as the OCI spec's `process.user` wants them, plus its home. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups: /etc/group memberships of a named user, then `groupAdd`. */
  additionalGids: number[];
  /** The home directory from /etc/passwd, `/` when unknown (Docker sets HOME from it). */
  home: string;
  /** The user name when /etc/passwd has the user. */
  name?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const maxId = 2 ** 31 - 1;

/**
 * Resolves a Docker user spec — `""`, `name`, `uid`, `name:group`, `uid:gid`, `name:gid`,
 * `uid:group` — against the container's /etc/passwd and /etc/group as Docker (runc's
 * `GetExecUser`) does: names must exist; numbers need no entry; a named or found user gets
 * the primary group and home of its entry and, unless a group is given, its supplementary
 * groups. Fails with `BERTH_INVALID_ARGUMENT` and Docker's messages
 * (`unable to find user x: no matching entries in passwd file`).
 */
export async function resolveUser(spec: string, db: UserDatabase, options: ResolveUserOptions = {}): Promise<ResolvedUser> {
  const files = "rootfs" in db ? await readUserFiles(db.rootfs) : db;
  const passwd = parsePasswd(files.passwd ?? "");
  const groups = parseGroup(files.group ?? "");
  const [userPart = "", groupPart, ...extra] = spec.split(":");
  if (extra.length > 0) throw invalid(`invalid user: ${spec}`, spec);

  const result: ResolvedUser = { uid: 0, gid: 0, additionalGids: [], home: "/" };
  let entry: PasswdEntry | undefined;
  if (userPart === "") {
    entry = passwd.find((p) => p.uid === 0);
  } else {
    const numeric = parseId(userPart, spec);
    entry = passwd.find((p) => p.name === userPart) ?? (numeric === undefined ? undefined : passwd.find((p) => p.uid === numeric));
    if (!entry && numeric === undefined) {
      throw invalid(`unable to find user ${userPart}: no matching entries in passwd file`, spec);
    }
    if (!entry) result.uid = numeric!;
  }
  if (entry) {
    result.uid = entry.uid;
    result.gid = entry.gid;
    result.home = entry.home || "/";
    result.name = entry.name;
  }

  if (groupPart !== undefined && groupPart !== "") {
    const numeric = parseId(groupPart, spec);
    const group = groups.find((g) => g.name === groupPart) ?? (numeric === undefined ? undefined : groups.find((g) => g.gid === numeric));
    if (!group && numeric === undefined) {
      throw invalid(`unable to find group ${groupPart}: no matching entries in group file`, spec);
    }
    result.gid = group ? group.gid : numeric!;
  } else if (entry) {
    result.additionalGids = groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid);
  }

  for (const added of options.groupAdd ?? []) {
    const text = String(added);
    const numeric = /^\d+$/.test(text) ? Number(text) : undefined;
    const group = groups.find((g) => g.name === text) ?? (numeric === undefined ? undefined : groups.find((g) => g.gid === numeric));
    if (!group && numeric === undefined) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `unable to find group ${text}: no matching entries in group file`, {
        field: "groupAdd",
        user: spec,
      });
    }
    if (numeric !== undefined && numeric > maxId) throw invalid("uids and gids must be in range 0-2147483647", spec);
    result.additionalGids.push(group ? group.gid : numeric!);
  }
  result.additionalGids = [...new Set(result.additionalGids)];
  return result;
}

/**
 * Adds `HOME` from the resolved user when the environment has none, as Docker does, so
 * `~` means the user's home whatever runtime runs the container.
 */
export function withHome(env: readonly string[], user: ResolvedUser): string[] {
  return env.some((e) => e.startsWith("HOME=")) ? [...env] : [...env, `HOME=${user.home}`];
}

function invalid(message: string, spec: string): BerthError {
  return new BerthError("BERTH_INVALID_ARGUMENT", message, { field: "user", user: spec });
}

function parseId(text: string, spec: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  if (n > maxId) throw invalid("uids and gids must be in range 0-2147483647", spec);
  return n;
}

async function readUserFiles(rootfs: string): Promise<{ passwd?: string; group?: string }> {
  const read = async (path: string) => {
    const host = await resolveInRoot(rootfs, path);
    try {
      return await readFile(host, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A missing file is "no entries", as in Docker; anything else is an I/O failure.
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw new BerthError("BERTH_IO", `cannot read ${path} of the container`, { path: host, cause: error });
    }
  };
  const [passwd, group] = await Promise.all([read("/etc/passwd"), read("/etc/group")]);
  return { ...(passwd === undefined ? {} : { passwd }), ...(group === undefined ? {} : { group }) };
}

function lines(text: string): string[][] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

function parsePasswd(text: string): PasswdEntry[] {
  return lines(text)
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "" }));
}

function parseGroup(text: string): GroupEntry[] {
  return lines(text)
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? "").split(",").filter(Boolean) }));
}
