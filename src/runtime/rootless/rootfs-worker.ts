// The rootfs worker: a process started in the user namespace of the process that holds a
// rootless container's root (the container's init, or the engine's rootfs helper), which does
// there the file work the engine cannot do from its own process (see rootfs-view.ts for why):
// copy in and out, and check and prepare where native/build/berth-rootfs is not built. It runs
// the engine's own functions, so the path rules are the same on every root:
//   rootfs-worker <op> <json>
//   prepare  {root, workingDir, user, groupAdd, volumes}  -> JSON {workdirCreated, user, sources}
//   check    {root, command?, env, user?, groupAdd?}      -> JSON {problem?, user?}
//   pack     {root, path, container}                      -> a tar on stdout
//   extract  {root, path, container}, a tar on stdin      -> JSON {}
//   diff     {root: upper directory}                     -> the layer tar on stdout (commit)
// A failure is one JSON line on stderr ({"error": {code, message, context}}) and exit 1.
// Each operation imports only what it uses: a worker is started for every operation, and
// its start (most of it module loading) is what the operation costs.
import { lstatSync } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { isBerthError } from "../../common/berth-error.js";

interface Args {
  root: string;
  workingDir?: string;
  user?: string;
  groupAdd?: (string | number)[];
  volumes?: string[];
  command?: string;
  env?: string[];
  path?: string;
  container?: string;
}

// The engine that started this worker is its parent: a worker whose engine died (SIGKILL) has
// nobody to answer and must not keep the container's namespace busy.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 200).unref();

async function run(op: string, args: Args): Promise<unknown> {
  switch (op) {
    case "prepare": {
      const [{ createWorkdir }, { resolveUser }, { resolveInRoot }] = await Promise.all([
        import("../engine/container-setup.js"),
        import("../container-config/resolve-user.js"),
        import("../../common/safe-path.js"),
      ]);
      const workdirCreated = await createWorkdir(args.root, args.workingDir ?? "/");
      const user = await resolveUser(args.user ?? "", { rootfs: args.root }, { groupAdd: args.groupAdd ?? [] });
      // A volume is filled only from a directory of the image (VolumeStore's rule): the others
      // get no source, so the copy, made in this namespace too, never meets a non-directory.
      const sources = (args.volumes ?? []).map((target) => {
        const source = resolveInRoot(args.root, target, { followLast: true });
        try {
          return lstatSync(source).isDirectory() ? source : null;
        } catch {
          return null;
        }
      });
      return { workdirCreated, user, sources };
    }
    case "check": {
      const [{ findCommandProblem }, { resolveUser }] = await Promise.all([import("../engine/executable.js"), import("../container-config/resolve-user.js")]);
      const problem = args.command === undefined ? undefined : await findCommandProblem(args.root, args.command, args.env ?? []);
      const user = !problem && args.user !== undefined ? await resolveUser(args.user, { rootfs: args.root }, { groupAdd: args.groupAdd ?? [] }) : undefined;
      return { ...(problem ? { problem } : {}), ...(user ? { user } : {}) };
    }
    case "pack": {
      const { packFromRoot } = await import("../engine/container-copy.js");
      await pipeline(await packFromRoot(args.root, args.path!, args.container!), process.stdout);
      return undefined;
    }
    case "diff": {
      const { diffUpperDir } = await import("../engine/container-commit.js");
      process.stdout.write(await diffUpperDir(args.root));
      return undefined;
    }
    case "extract": {
      const { extractIntoRoot } = await import("../engine/container-copy.js");
      await extractIntoRoot(args.root, args.path!, process.stdin as Readable, args.container!);
      return {};
    }
    default:
      throw new Error(`unknown rootfs worker operation ${op}`);
  }
}

try {
  const result = await run(process.argv[2] ?? "", JSON.parse(process.argv[3] ?? "{}") as Args);
  if (result !== undefined) process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = 0;
} catch (error) {
  const described = isBerthError(error)
    ? { code: error.code, message: error.message, context: error.context }
    : { message: String((error as Error)?.message ?? error), errno: (error as NodeJS.ErrnoException)?.code };
  process.stderr.write(`${JSON.stringify({ error: described })}\n`);
  process.exitCode = 1;
}
