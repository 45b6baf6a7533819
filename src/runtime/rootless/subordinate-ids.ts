import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { BerthError } from "../../common/berth-error.js";

/** One line of the OCI spec's `linux.uidMappings` / `gidMappings`. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** The id mappings of a rootless container's user namespace. */
export interface RootlessIdMappings {
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
  /** The first subordinate range of each kind: what `newuidmap`/`newgidmap` are given. */
  subuid: { start: number; count: number };
  subgid: { start: number; count: number };
}

/** Options of {@link rootlessIdMappings}. Seams for tests. */
export interface RootlessIdMappingsOptions {
  /** @default process.getuid() */
  uid?: number;
  /** @default process.getgid() */
  gid?: number;
  /** @default os.userInfo().username */
  user?: string;
  /** @default "/etc/subuid" */
  subuidFile?: string;
  /** @default "/etc/subgid" */
  subgidFile?: string;
}

/**
 * The first range of `/etc/subuid`-format text owned by `user` (by name or numeric id), as
 * shadow's `newuidmap` reads it. Lines are `owner:start:count`; comments and bad lines are
 * skipped, as shadow skips them.
 */
export function findSubordinateRange(text: string, user: string, id: number): { start: number; count: number } | undefined {
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const [owner, start, count] = line.split(":");
    if (owner !== user && owner !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s > 0 && c > 0) return { start: s, count: c };
  }
  return undefined;
}

/**
 * The mappings every rootless container gets, as Podman gives them: the user is root (0) in
 * the container, and ids 1..count are the user's first subordinate range. A container's
 * files owned by uid N (N > 0) are owned on the host by `subuid.start + N - 1`.
 */
export function rootlessIdMappings(options: RootlessIdMappingsOptions = {}): RootlessIdMappings {
  const uid = options.uid ?? process.getuid?.() ?? 0;
  const gid = options.gid ?? process.getgid?.() ?? 0;
  const user = options.user ?? safeUserName();
  const subuidFile = options.subuidFile ?? "/etc/subuid";
  const subgidFile = options.subgidFile ?? "/etc/subgid";
  const subuid = findSubordinateRange(readOrEmpty(subuidFile), user, uid);
  const subgid = findSubordinateRange(readOrEmpty(subgidFile), user, gid === uid ? uid : uid);
  if (!subuid || !subgid) {
    throw new BerthError(
      "BERTH_ROOTLESS_NO_SUBIDS",
      `rootless containers need subordinate ids: user ${user} (uid ${uid}) has no range in ${subuid ? subgidFile : subuidFile} ` +
        `(add one, e.g. \`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}\`)`,
      { path: subuid ? subgidFile : subuidFile, uid, user },
    );
  }
  return {
    uidMappings: [
      { containerID: 0, hostID: uid, size: 1 },
      { containerID: 1, hostID: subuid.start, size: subuid.count },
    ],
    gidMappings: [
      { containerID: 0, hostID: gid, size: 1 },
      { containerID: 1, hostID: subgid.start, size: subgid.count },
    ],
    subuid,
    subgid,
  };
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "");
  }
}
