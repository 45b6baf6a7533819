import { execFile } from "node:child_process";
import { BerthError } from "../../common/berth-error.js";
import { rootlessIdMappings, type RootlessIdMappings } from "./subordinate-ids.js";

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

/**
 * Runs `argv` as root of a fresh user namespace with the rootless mappings: what the user
 * cannot do on the host to files owned by its subordinate ids (chown them while unpacking,
 * remove a container's upper directory) it can do there. Resolves with stdout.
 */
export async function runInUserNamespace(argv: readonly string[], options: RunInUserNamespaceOptions = {}): Promise<string> {
  const mappings = options.mappings ?? rootlessIdMappings();
  const args = [...unshareArgs(mappings, options.mount), "--", ...argv];
  return new Promise((resolve, reject) => {
    const child = execFile("unshare", args, { timeout: options.timeout ?? 60_000, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      reject(
        new BerthError("BERTH_ROOTLESS_FAILED", `${argv[0]} failed in the rootless user namespace: ${String(stderr).trim().split("\n").pop() ?? error.message}`, {
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

/** The directories of a container's overlay root. */
export interface RootlessOverlay {
  lowerDirs: readonly string[];
  upper: string;
  work: string;
  merged: string;
}

/**
 * The overlayfs options of a container's root. `index=off`: the lower snapshots are shared
 * by many containers and never change, and the index would tie them to one upper.
 */
export function overlayOptions(dirs: Omit<RootlessOverlay, "merged">): string {
  return `lowerdir=${dirs.lowerDirs.join(":")},upperdir=${dirs.upper},workdir=${dirs.work},index=off`;
}
