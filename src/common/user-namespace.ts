import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { userInfo } from "node:os";
import { BerthError } from "./berth-error.js";
import { isRoot } from "./paths.js";

// The rootless user namespace, shared by every layer that touches files a rootless container
// made: the engine (src/runtime/rootless), the image store (snapshot removal) and the volume
// store (first copy, removal). It lives here because the image and volume layers may not
// import the runtime.

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

/** Whether berth runs rootless: not root, or `BERTH_ROOTLESS=1` (tests, as root); `BERTH_ROOTLESS=0` forces root mode. */
export function isRootless(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.BERTH_ROOTLESS === "1") return true;
  if (env.BERTH_ROOTLESS === "0") return false;
  return !isRoot();
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
  // shadow looks both files up by the user's name or uid (not its gid).
  const subuid = findSubordinateRange(readOrEmpty(subuidFile), user, uid);
  const subgid = findSubordinateRange(readOrEmpty(subgidFile), user, uid);
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

/**
 * The arguments of util-linux's `unshare` (>= 2.38) for a user namespace mapped as rootless
 * containers are: the user is root, 1..count its subordinate range (written by the setuid
 * `newuidmap`/`newgidmap` from Debian's uidmap).
 */
export function unshareArgs(mappings: RootlessIdMappings, mount = false): string[] {
  return [
    "--user",
    "--map-root-user",
    `--map-users=${mappings.subuid.start},1,${mappings.subuid.count}`,
    `--map-groups=${mappings.subgid.start},1,${mappings.subgid.count}`,
    ...(mount ? ["--mount", "--propagation", "private"] : []),
  ];
}

/** Options of {@link runInUserNamespace}. */
export interface RunInUserNamespaceOptions {
  /** Written to the command's stdin. @default none */
  input?: string;
  /** Kills the command after this many ms. @default 60_000 */
  timeout?: number;
  /** Also a private mount namespace. @default false */
  mount?: boolean;
  /** The mappings. @default rootlessIdMappings() */
  mappings?: RootlessIdMappings;
  /**
   * Joins the user and mount namespaces of this process (one of the user's, such as the
   * engine's rootfs helper) instead of making a new user namespace: what that process has
   * mounted is then reachable by its path. @default a new namespace
   */
  joinPid?: number;
}

/**
 * Runs `argv` as root of a fresh user namespace with the rootless mappings: what the user
 * cannot do on the host to files owned by its subordinate ids (chown them while unpacking,
 * remove them, copy them keeping their owners) it can do there. Resolves with stdout.
 */
export async function runInUserNamespace(argv: readonly string[], options: RunInUserNamespaceOptions = {}): Promise<string> {
  const [command, args] =
    options.joinPid !== undefined
      ? ["nsenter", [`--target=${options.joinPid}`, "--user", "--mount", "--", ...argv]]
      : ["unshare", [...unshareArgs(options.mappings ?? rootlessIdMappings(), options.mount), "--", ...argv]];
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: options.timeout ?? 60_000, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      reject(
        new BerthError("BERTH_ROOTLESS_FAILED", `${argv[0]} failed in the rootless user namespace: ${String(stderr).trim().split("\n").pop() || error.message}`, {
          cause: error,
          exitCode: typeof error.code === "number" ? error.code : undefined,
          lastLines: String(stderr).split("\n").filter(Boolean).slice(-5),
          command: argv.join(" "),
        }),
      );
    });
    child.stdin?.on("error", () => {});
    child.stdin?.end(options.input ?? "");
  });
}

/**
 * Removes paths that may hold files owned by subordinate ids (a container's upper and work
 * directories): from inside the user namespace, where those ids are mapped and root may
 * remove them. A missing path is not an error.
 */
export async function removeInUserNamespace(paths: readonly string[], options: Omit<RunInUserNamespaceOptions, "input"> = {}): Promise<void> {
  if (paths.length === 0) return;
  await runInUserNamespace(["rm", "-rf", "--", ...paths], options);
}

/** Options of {@link removeTree}. */
export interface RemoveTreeOptions {
  /** The mappings of the namespace the removal falls back to. @default rootlessIdMappings() */
  mappings?: RootlessIdMappings;
  /** Whether to fall back to the user namespace at all. @default isRootless() */
  rootless?: boolean;
}

/**
 * `rm -rf` for a tree a rootless container's files may be in (an image snapshot whose layer
 * gives directories to other uids, a volume a container wrote into): removed as this
 * process first, which is all root or an image without such owners needs, and, when the
 * user is refused, finished from inside the user namespace, where the subordinate ids are
 * mapped. Only the refusal pays for a namespace.
 */
export async function removeTree(path: string, options: RemoveTreeOptions = {}): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code !== "EACCES" && code !== "EPERM") || !(options.rootless ?? isRootless()) || isRoot()) throw error;
    await removeInUserNamespace([path], options.mappings ? { mappings: options.mappings } : {});
  }
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
