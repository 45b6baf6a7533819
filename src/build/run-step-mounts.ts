import { createHash } from "node:crypto";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, rmdir, unlink, writeFile, lstat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { execa } from "execa";
import { join, posix } from "node:path";
import { BerthError, resolveInRoot } from "../common/index.js";
import type { MountSpec } from "../volume/mount-spec.js";
import type { RunMount } from "./run-mounts.js";
import type { RootfsView } from "./rootfs-view.js";
import type { RunStep } from "./stage-evaluator.js";

/**
 * `RUN --mount` for the engine: cache mounts are directories kept under
 * `<state root>/build-cache/mounts/` across builds; tmpfs mounts are tmpfs; bind mounts show
 * a path of the context or of a stage/image read-only; secrets are files in a private
 * temporary directory (and/or an environment variable) that never reach a layer or a key.
 * Heredoc scripts with their own interpreter are bound the same way at `/dev/pipes/NAME`.
 */

/** A build secret: a file to read it from, or its value. */
export type BuildSecret = { file: string } | { value: string };

/** What a RUN's mounts need from the build. */
export interface RunMountContext {
  /** The state root (for cache mounts). */
  root: string;
  step: RunStep;
  secrets: Readonly<Record<string, BuildSecret>>;
  /** The stage's filesystem before the step, to know which mount points are new. */
  target: RootfsView;
  /** A host directory showing `from` (a stage, an image, or the context when undefined), read-only, for the step's duration. */
  openSource: (from: string | undefined) => Promise<string>;
}

/** The prepared mounts of one RUN. */
export interface PreparedRunMounts {
  mounts: MountSpec[];
  tmpfs: string[];
  env: string[];
  /** Mount points absent from the image: removed from the upper directory before the diff. */
  newTargets: string[];
  release(): Promise<void>;
}

function mountError(step: RunStep, message: string): BerthError {
  return new BerthError("BERTH_BUILD_INVALID_FLAG", `RUN on line ${step.instruction.startLine}: ${message}`, {
    line: step.instruction.startLine,
    instruction: step.instruction.original,
  });
}

function absoluteTarget(step: RunStep, target: string): string {
  return posix.normalize(target.startsWith("/") ? target : posix.join(step.environment.workdir, target));
}

async function secretBytes(step: RunStep, id: string, secret: BuildSecret): Promise<Buffer> {
  if ("value" in secret) return Buffer.from(secret.value);
  try {
    return await readFile(secret.file);
  } catch (error) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `cannot read build secret ${id} from ${secret.file}`, { path: secret.file, cause: error, line: step.instruction.startLine });
  }
}

/** Prepares the step's mounts; `release` undoes what it made (never the cache directories). */
export async function prepareRunMounts(ctx: RunMountContext): Promise<PreparedRunMounts> {
  const { step } = ctx;
  const mounts: MountSpec[] = [];
  const tmpfs: string[] = [];
  const env: string[] = [];
  const newTargets: string[] = [];
  let privateDir: string | undefined;
  const privateFile = async (name: string, bytes: Buffer | string, mode: number, uid = 0, gid = 0): Promise<string> => {
    privateDir ??= await mkdtemp(join(tmpdir(), "berth-build-run-"));
    await chmod(privateDir, 0o700);
    const path = join(privateDir, createHash("sha256").update(name).digest("hex").slice(0, 16));
    await writeFile(path, bytes, { mode });
    await chown(path, uid, gid);
    await chmod(path, mode);
    return path;
  };
  // Writable bind mounts: overlays to unmount and their directories to remove, newest last.
  const overlays: string[] = [];
  const releaseOverlays = async (): Promise<void> => {
    for (const dir of overlays.reverse()) await removeOverlay(dir);
    overlays.length = 0;
  };
  const noteTarget = async (target: string) => {
    if ((await ctx.target.stat(target)) === undefined) newTargets.push(target);
  };
  try {
    for (const m of step.mounts) await addMount(m);
    for (const f of step.files) {
      mounts.push({ type: "bind", source: await privateFile(f.path, f.content, f.mode), target: f.path, readonly: true, createSource: false, recursive: false });
    }
  } catch (error) {
    if (privateDir) await rm(privateDir, { recursive: true, force: true });
    await releaseOverlays();
    throw error;
  }

  async function addMount(m: RunMount): Promise<void> {
    switch (m.type) {
      case "tmpfs": {
        const target = absoluteTarget(step, m.target ?? "");
        tmpfs.push(m.size ? `${target}:size=${m.size}` : target);
        await noteTarget(target);
        return;
      }
      case "cache": {
        const target = absoluteTarget(step, m.target ?? "");
        const id = m.id ?? target;
        const dir = join(ctx.root, "build-cache", "mounts", createHash("sha256").update(id).digest("hex"));
        try {
          await lstat(dir);
        } catch {
          await mkdir(dir, { recursive: true, mode: m.mode ?? 0o755 });
          await chown(dir, m.uid ?? 0, m.gid ?? 0);
          await chmod(dir, m.mode ?? 0o755);
        }
        mounts.push({ type: "bind", source: dir, target, readonly: m.readonly, createSource: false, recursive: false });
        await noteTarget(target);
        return;
      }
      case "bind": {
        const target = absoluteTarget(step, m.target ?? "");
        const root = await ctx.openSource(m.from);
        // Resolved inside the source's root: a symlink there must not lead the bind out of it.
        let source = resolveInRoot(root, posix.normalize(m.source ?? ".").replace(/^\/+/, "") || ".", { followLast: true });
        if (!m.readonly) {
          // `rw`: the step may write, but what it writes is thrown away with the step (as in
          // BuildKit), so the source is the lower layer of a private overlay.
          const st = await lstat(source).catch(() => undefined);
          if (!st?.isDirectory()) throw mountError(step, `a writable bind mount needs a directory source, and ${m.source ?? "."} is not one`);
          const dir = await mkdtemp(join(tmpdir(), "berth-build-rw-"));
          overlays.push(dir);
          source = await mountOverlay(step, source, dir);
        }
        mounts.push({ type: "bind", source, target, readonly: m.readonly, createSource: false, recursive: true });
        await noteTarget(target);
        return;
      }
      case "secret": {
        const id = m.id ?? posix.basename(m.target ?? "");
        const secret = ctx.secrets[id];
        if (!secret) {
          if (m.required) throw mountError(step, `secret ${id} is required but was not given`);
          return;
        }
        const bytes = await secretBytes(step, id, secret);
        if (m.env) env.push(`${m.env}=${bytes.toString("utf8")}`);
        if (m.target !== undefined || !m.env) {
          const target = absoluteTarget(step, m.target ?? `/run/secrets/${id}`);
          const file = await privateFile(`secret ${id}`, bytes, m.mode ?? 0o400, m.uid ?? 0, m.gid ?? 0);
          mounts.push({ type: "bind", source: file, target, readonly: true, createSource: false, recursive: false });
          await noteTarget(target);
        }
        return;
      }
      default:
        throw mountError(step, `--mount=type=${m.type} is not supported yet`);
    }
  }

  return {
    mounts,
    tmpfs,
    env,
    newTargets,
    release: async () => {
      if (privateDir) await rm(privateDir, { recursive: true, force: true });
      await releaseOverlays();
    },
  };
}

/** Escapes a path for an overlay mount option (`,`, `:` and `\` are separators there). */
function overlayPath(path: string): string {
  return path.replace(/[\\,:]/g, (c) => `\\${c}`);
}

/** Mounts an overlay of `lower` with its upper and work directories in `dir`; returns the merged directory. */
async function mountOverlay(step: RunStep, lower: string, dir: string): Promise<string> {
  const merged = join(dir, "merged");
  for (const d of ["upper", "work", "merged"]) await mkdir(join(dir, d));
  const options = `lowerdir=${overlayPath(lower)},upperdir=${overlayPath(join(dir, "upper"))},workdir=${overlayPath(join(dir, "work"))}`;
  const result = await execa("mount", ["-t", "overlay", "overlay", "-o", options, merged], { reject: false, timeout: 30_000 });
  if (result.exitCode !== 0) {
    throw new BerthError("BERTH_IO", `RUN on line ${step.instruction.startLine}: cannot mount the writable bind source ${lower}: ${String(result.stderr).trim()}`, {
      line: step.instruction.startLine,
      path: lower,
      cause: result,
    });
  }
  return merged;
}

/** Unmounts a writable bind's overlay and removes its directory (never while it is still mounted). */
async function removeOverlay(dir: string): Promise<void> {
  const merged = join(dir, "merged");
  const mounted = (await readFile("/proc/self/mountinfo", "utf8")).split("\n").some((l) => l.split(" ")[4] === merged);
  if (mounted) {
    const result = await execa("umount", [merged], { reject: false, timeout: 30_000 });
    if (result.exitCode !== 0) {
      const lazy = await execa("umount", ["-l", merged], { reject: false, timeout: 30_000 });
      if (lazy.exitCode !== 0) return;
    }
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * Removes from an upper directory the mount points the runtime had to create (and their
 * parents it created), so they do not become part of the layer, as BuildKit leaves them out.
 * Only empty directories and empty files are removed: anything the step wrote stays.
 */
export async function removeMountPoints(upper: string, targets: readonly string[], target: RootfsView): Promise<void> {
  for (const t of targets) {
    let current = posix.normalize(t);
    while (current !== "/" && current !== ".") {
      if ((await target.stat(current)) !== undefined) break;
      const host = join(upper, current);
      const st = await lstat(host).catch(() => undefined);
      if (!st) break;
      try {
        if (st.isDirectory()) await rmdir(host);
        else if (st.isFile() && st.size === 0) await unlink(host);
        else break;
      } catch {
        break;
      }
      current = posix.dirname(current);
    }
  }
}
