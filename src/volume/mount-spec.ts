import { isAbsolute, posix, resolve } from "node:path";
import { BerthError } from "../common/berth-error.js";
import { ramInBytes } from "../common/units.js";

/** Mount propagation of a bind mount. */
export type BindPropagation = "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave";

/** A volume mount: named, or anonymous when `source` is absent. */
export interface VolumeMountSpec {
  type: "volume";
  /** The volume name; absent for an anonymous volume. */
  source?: string;
  /** Absolute container path. */
  target: string;
  readonly: boolean;
  /** Skip copying the image's content into an empty volume (`nocopy`, `volume-nocopy`). */
  noCopy: boolean;
  /** Labels for a volume created by this mount (`volume-label`). */
  labels?: Record<string, string>;
  /** Driver options for a volume created by this mount (`volume-opt`: `type`, `device`, `o`). */
  driverOptions?: Record<string, string>;
  /** Mount only this subdirectory of the volume (`volume-subpath`). */
  subpath?: string;
}

/** A bind mount of a host path. */
export interface BindMountSpec {
  type: "bind";
  /** Absolute host path. */
  source: string;
  target: string;
  readonly: boolean;
  /** @default "rprivate" when absent */
  propagation?: BindPropagation;
  /**
   * Whether a missing source is created as a directory: true for `-v` (Docker's legacy
   * rule), false for `--mount`, where a missing source is `BERTH_BIND_SOURCE_NOT_FOUND`.
   */
  createSource: boolean;
  /** Whether submounts of the source come along (rbind). @default true */
  recursive: boolean;
  /** SELinux relabelling asked for (`z` shared, `Z` private); recorded, not applied by berth. */
  selinux?: "z" | "Z";
}

/** A tmpfs mount. */
export interface TmpfsMountSpec {
  type: "tmpfs";
  target: string;
  readonly: boolean;
  /** Size in bytes. @default the kernel's (half of RAM) */
  size?: number;
  /** Mode of the tmpfs root. @default 0o1777 (the kernel's) */
  mode?: number;
  /** Other tmpfs options of `--tmpfs` (`noexec`, `uid=1000`), passed through. @default [] */
  options?: string[];
}

/** One mount of a container, from `-v`, `--mount` or `--tmpfs`, in one shape. */
export type MountSpec = VolumeMountSpec | BindMountSpec | TmpfsMountSpec;

const propagations = new Set<string>(["private", "rprivate", "shared", "rshared", "slave", "rslave"]);
const volumeNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function invalid(message: string, spec: string, field = "mounts"): BerthError {
  return new BerthError("BERTH_MOUNT_INVALID", message, { field, value: spec });
}

/** Checks a local volume name as Docker's local driver does; fails with `BERTH_MOUNT_INVALID`. */
export function validateVolumeName(name: string, spec = name): void {
  if (name.length < 2 && /^[a-zA-Z0-9]$/.test(name)) {
    throw invalid(`volume name is too short, names should be at least two alphanumeric characters`, spec);
  }
  if (!volumeNamePattern.test(name)) {
    throw invalid(
      `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      spec,
    );
  }
}

function checkTarget(target: string, spec: string, type: string): string {
  if (!target.startsWith("/")) {
    throw invalid(`invalid mount config for type "${type}": invalid mount path: '${target}' mount path must be absolute`, spec);
  }
  const clean = posix.normalize(target);
  if (clean === "/") throw invalid(`invalid specification: destination can't be '/' in '${spec}'`, spec);
  return clean.length > 1 && clean.endsWith("/") ? clean.slice(0, -1) : clean;
}

/** Options of {@link parseVolumeFlag}. */
export interface ParseVolumeOptions {
  /** The directory relative bind sources (`./data`) are resolved against. @default process.cwd() */
  cwd?: string;
}

/**
 * Parses Docker's `-v`/`--volume` short syntax: `/ctr` (anonymous volume), `name:/ctr`,
 * `/host:/ctr`, with an optional third field of comma-separated modes (`ro`, `rw`, `z`, `Z`,
 * a propagation, `nocopy`, and the ignored `consistent`/`cached`/`delegated`). Fails with
 * `BERTH_MOUNT_INVALID` and Docker's messages.
 */
export function parseVolumeFlag(spec: string, options: ParseVolumeOptions = {}): MountSpec {
  const parts = spec.split(":");
  let source: string | undefined;
  let target: string;
  let mode = "";
  if (parts.length === 1) {
    target = parts[0]!;
  } else if (parts.length === 2) {
    // `/ctr:ro` is a mode with no source, which Docker refuses (a volume path cannot carry a mode).
    if (isMode(parts[1]!)) throw invalid(`invalid volume specification: '${spec}'`, spec);
    [source, target] = parts as [string, string];
  } else if (parts.length === 3) {
    [source, target, mode] = parts as [string, string, string];
  } else {
    throw invalid(`invalid volume specification: '${spec}'`, spec);
  }
  if (source === "" || target === "") throw invalid(`invalid volume specification: '${spec}'`, spec);
  const modes = mode === "" ? [] : mode.split(",");
  let readonly = false;
  let rw = false;
  let propagation: BindPropagation | undefined;
  let noCopy = false;
  let selinux: "z" | "Z" | undefined;
  for (const m of modes) {
    if (m === "ro") readonly = true;
    else if (m === "rw") rw = true;
    else if (m === "z" || m === "Z") {
      if (selinux) throw invalid(`invalid mode: ${mode}`, spec);
      selinux = m;
    } else if (propagations.has(m)) {
      if (propagation) throw invalid(`invalid mode: ${mode}`, spec);
      propagation = m as BindPropagation;
    } else if (m === "nocopy") noCopy = true;
    else if (m === "consistent" || m === "cached" || m === "delegated") continue;
    else throw invalid(`invalid mode: ${mode}`, spec);
  }
  if (readonly && rw) throw invalid(`invalid mode: ${mode}`, spec);

  const isPath = source !== undefined && (source.startsWith("/") || source.startsWith("./") || source.startsWith("../") || source === "." || source === "..");
  if (source === undefined || !isPath) {
    const type = "volume";
    const cleanTarget = checkTarget(target, spec, type);
    if (propagation) throw invalid(`invalid mode: ${mode}: propagation is only valid for bind mounts`, spec);
    if (source !== undefined) validateVolumeName(source, spec);
    return { type, ...(source === undefined ? {} : { source }), target: cleanTarget, readonly, noCopy };
  }
  const cleanTarget = checkTarget(target, spec, "bind");
  if (noCopy) throw invalid(`invalid mode: ${mode}: nocopy is only valid for volumes`, spec);
  const hostPath = isAbsolute(source) ? posix.normalize(source) : resolve(options.cwd ?? process.cwd(), source);
  return {
    type: "bind",
    source: hostPath.length > 1 && hostPath.endsWith("/") ? hostPath.slice(0, -1) : hostPath,
    target: cleanTarget,
    readonly,
    ...(propagation ? { propagation } : {}),
    createSource: true,
    recursive: true,
    ...(selinux ? { selinux } : {}),
  };
}

function isMode(text: string): boolean {
  return text.split(",").every((m) => m === "ro" || m === "rw" || m === "z" || m === "Z" || m === "nocopy" || propagations.has(m));
}

/** Splits one CSV record as Go's encoding/csv (Docker's `--mount` parser) does: commas, with double quotes. */
function splitCsv(text: string, spec: string): string[] {
  const out: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") {
      quoted = true;
    } else if (c === ",") {
      out.push(field);
      field = "";
    } else {
      field += c;
    }
    i++;
  }
  if (quoted) throw invalid(`invalid mount specification: unterminated quote in '${spec}'`, spec);
  out.push(field);
  return out;
}

function parseBool(value: string | undefined, key: string, spec: string): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw invalid(`invalid value for ${key}: ${value}`, spec);
}

function keyValue(value: string, key: string, spec: string): [string, string] {
  const at = value.indexOf("=");
  if (at <= 0) throw invalid(`invalid value for ${key}: ${value}`, spec);
  return [value.slice(0, at), value.slice(at + 1)];
}

/**
 * Parses Docker's `--mount` long syntax: `type=volume|bind|tmpfs` (default volume),
 * `source|src`, `destination|dst|target`, `readonly|ro[=bool]`, `bind-propagation`,
 * `bind-recursive`, `bind-nonrecursive`, `volume-nocopy`, `volume-label`, `volume-opt`,
 * `volume-subpath`, `volume-driver` (only `local`), `tmpfs-size`, `tmpfs-mode`,
 * `consistency`. Fails with `BERTH_MOUNT_INVALID` and Docker's messages.
 */
export function parseMountFlag(spec: string): MountSpec {
  let type = "volume";
  let source: string | undefined;
  let target: string | undefined;
  let readonly = false;
  let propagation: BindPropagation | undefined;
  let recursive = true;
  let noCopy = false;
  let subpath: string | undefined;
  let size: number | undefined;
  let mode: number | undefined;
  const labels: Record<string, string> = {};
  const driverOptions: Record<string, string> = {};
  const families = new Set<string>();
  for (const field of splitCsv(spec, spec)) {
    const at = field.indexOf("=");
    const key = (at < 0 ? field : field.slice(0, at)).trim().toLowerCase();
    const value = at < 0 ? undefined : field.slice(at + 1);
    const needValue = () => {
      if (value === undefined) throw invalid(`invalid field '${field}' must be a key=value pair`, spec);
      return value;
    };
    if (key.startsWith("bind-")) families.add("bind");
    if (key.startsWith("volume-")) families.add("volume");
    if (key.startsWith("tmpfs-")) families.add("tmpfs");
    switch (key) {
      case "type":
        type = needValue().toLowerCase();
        if (type !== "volume" && type !== "bind" && type !== "tmpfs") {
          throw invalid(`invalid mount config for type "${type}": mount type unknown`, spec);
        }
        break;
      case "source":
      case "src":
        source = needValue();
        break;
      case "target":
      case "dst":
      case "destination":
        target = needValue();
        break;
      case "readonly":
      case "ro":
        readonly = parseBool(value, key, spec);
        break;
      case "consistency":
        needValue();
        break;
      case "bind-propagation":
        if (!propagations.has(needValue())) throw invalid(`invalid value for bind-propagation: ${value}`, spec);
        propagation = value as BindPropagation;
        break;
      case "bind-nonrecursive":
        recursive = !parseBool(value, key, spec);
        break;
      case "bind-recursive": {
        const v = needValue();
        if (v === "disabled") recursive = false;
        else if (v === "enabled" || v === "writable" || v === "readonly") recursive = true;
        else throw invalid(`invalid value for bind-recursive: ${v}`, spec);
        break;
      }
      case "volume-nocopy":
        noCopy = parseBool(value, key, spec);
        break;
      case "volume-label": {
        const [k, v] = keyValue(needValue(), key, spec);
        labels[k] = v;
        break;
      }
      case "volume-opt": {
        const [k, v] = keyValue(needValue(), key, spec);
        driverOptions[k] = v;
        break;
      }
      case "volume-driver":
        if (needValue() !== "local") {
          throw new BerthError("BERTH_UNSUPPORTED", `volume driver ${value} is not supported: berth has only the local driver`, {
            field: "mounts",
            value: spec,
          });
        }
        break;
      case "volume-subpath":
        subpath = needValue();
        break;
      case "tmpfs-size":
        try {
          size = ramInBytes(needValue());
        } catch (error) {
          throw new BerthError("BERTH_MOUNT_INVALID", `invalid value for ${key}: ${value}`, { field: "mounts", value: spec, cause: error });
        }
        break;
      case "tmpfs-mode": {
        const v = needValue();
        if (!/^[0-7]{1,4}$/.test(v)) throw invalid(`invalid value for ${key}: ${v}`, spec);
        mode = Number.parseInt(v, 8);
        break;
      }
      default:
        throw invalid(`unexpected key '${key}' in '${field}'`, spec);
    }
  }
  for (const family of families) {
    if (family !== type) throw invalid(`cannot mix '${family}-*' options with mount type '${type}'`, spec);
  }
  if (target === undefined || target === "") throw invalid("target is required", spec);
  const cleanTarget = checkTarget(target, spec, type);
  if (type === "tmpfs") {
    if (source) throw invalid(`invalid mount config for type "tmpfs": field Source must not be specified`, spec);
    return { type, target: cleanTarget, readonly, ...(size === undefined ? {} : { size }), ...(mode === undefined ? {} : { mode }) };
  }
  if (type === "bind") {
    if (!source) throw invalid(`invalid mount config for type "bind": field Source must not be empty`, spec);
    if (!source.startsWith("/")) {
      throw invalid(`invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`, spec);
    }
    return {
      type,
      source: posix.normalize(source),
      target: cleanTarget,
      readonly,
      ...(propagation ? { propagation } : {}),
      createSource: false,
      recursive,
    };
  }
  if (source !== undefined && source !== "") validateVolumeName(source, spec);
  if (subpath !== undefined && (subpath.startsWith("/") || posix.normalize(subpath).startsWith(".."))) {
    throw invalid(`invalid mount config for type "volume": subpath must be a relative path within the volume`, spec);
  }
  return {
    type: "volume",
    ...(source ? { source } : {}),
    target: cleanTarget,
    readonly,
    noCopy,
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(Object.keys(driverOptions).length > 0 ? { driverOptions } : {}),
    ...(subpath !== undefined ? { subpath } : {}),
  };
}

/** Parses Docker's `--tmpfs /path[:options]` (`size=64m,mode=1770`). */
export function parseTmpfsFlag(spec: string): TmpfsMountSpec {
  const at = spec.indexOf(":");
  const target = checkTarget(at < 0 ? spec : spec.slice(0, at), spec, "tmpfs");
  const result: TmpfsMountSpec = { type: "tmpfs", target, readonly: false };
  if (at < 0) return result;
  for (const option of spec.slice(at + 1).split(",").filter(Boolean)) {
    const [key, value] = option.includes("=") ? [option.slice(0, option.indexOf("=")), option.slice(option.indexOf("=") + 1)] : [option, undefined];
    if (key === "size" && value !== undefined) result.size = ramInBytes(value);
    else if (key === "mode" && value !== undefined && /^[0-7]{1,4}$/.test(value)) result.mode = Number.parseInt(value, 8);
    else if (key === "ro") result.readonly = true;
    else if (key === "rw") result.readonly = false;
    else if (["exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime", "noatime", "nr_inodes", "uid", "gid"].includes(key!)) {
      (result.options ??= []).push(option);
    } else {
      throw invalid(`invalid tmpfs option ${option}`, spec);
    }
  }
  return result;
}
