import { BerthError } from "../common/index.js";

/**
 * `RUN --mount=…`, `--network=` and `--security=` as the Dockerfile frontend accepts them:
 * the comma-separated `key=value` list (CSV quoting allowed), the aliases (`dst`,
 * `destination`, `src`, `ro`, `rw`), each type's defaults and Docker's validation errors.
 */

/** The kinds of RUN mount. */
export type RunMountType = "bind" | "cache" | "tmpfs" | "secret" | "ssh";

/** How concurrent builds share a cache mount. */
export type CacheSharing = "shared" | "private" | "locked";

/** One parsed `--mount`. Fields that a type does not use are absent. */
export interface RunMount {
  type: RunMountType;
  /** Where it appears in the container; absent only for a secret exposed through `env` alone. */
  target: string | undefined;
  /** A path in `from` (or the context) for bind and cache; the secret id fallback for secret. */
  source: string | undefined;
  /** A stage name or index, or an image, to take `source` from (bind, cache). */
  from: string | undefined;
  /** Whether the mount is read-only: bind defaults to read-only, cache and tmpfs to writable. */
  readonly: boolean;
  /** The cache, secret or ssh id. Cache ids default to the target; secret ids to the target's basename. */
  id: string | undefined;
  /** Cache sharing mode. @default "shared" for cache mounts */
  sharing: CacheSharing | undefined;
  /** File mode for cache (default 0o755), secret and ssh (default 0o400) mounts. */
  mode: number | undefined;
  /** Owner uid for cache, secret and ssh mounts. @default 0 */
  uid: number | undefined;
  /** Owner gid for cache, secret and ssh mounts. @default 0 */
  gid: number | undefined;
  /** Whether the build fails when the secret or ssh socket is not provided. @default false */
  required: boolean;
  /** For secret: the environment variable to expose the secret in. */
  env: string | undefined;
  /** For tmpfs: the size limit in bytes. */
  size: number | undefined;
}

/** The RUN network modes. */
export type RunNetwork = "default" | "none" | "host";

/** The RUN security modes. */
export type RunSecurity = "sandbox" | "insecure";

function mountError(message: string, value: string): BerthError {
  return new BerthError("BERTH_BUILD_INVALID_FLAG", `--mount=${value}: ${message}`, { field: "--mount", value });
}

/** Splits one CSV record (RFC 4180 quoting, as Go's encoding/csv does for the mount value). */
export function splitCsv(value: string): string[] {
  const fields: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  let atStart = true;
  while (i < value.length) {
    const ch = value[i]!;
    if (quoted) {
      if (ch === '"') {
        if (value[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += ch;
      i++;
      continue;
    }
    if (ch === '"' && atStart) {
      quoted = true;
      atStart = false;
      i++;
      continue;
    }
    if (ch === ",") {
      fields.push(field);
      field = "";
      atStart = true;
      i++;
      continue;
    }
    field += ch;
    atStart = false;
    i++;
  }
  if (quoted) throw new BerthError("BERTH_BUILD_INVALID_FLAG", `extraneous or missing " in quoted-field: ${value}`, { value });
  fields.push(field);
  return fields;
}

function parseBool(key: string, value: string, whole: string): boolean {
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  throw mountError(`invalid value for ${key}: ${value}`, whole);
}

function parseUint(key: string, value: string, radix: number, whole: string): number {
  const re = radix === 8 ? /^0?[0-7]+$/ : /^\d+$/;
  if (!re.test(value)) throw mountError(`invalid value for ${key}: ${value}`, whole);
  return Number.parseInt(value, radix);
}

/** Parses a size as Docker's `RAMInBytes` does: `64m`, `1g`, `512k`, `1048576`, binary units. */
export function parseByteSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new BerthError("BERTH_BUILD_INVALID_FLAG", `invalid size: '${text}'`, { value: text });
  const power = m[2] === "" ? 0 : "kmgtp".indexOf(m[2]!.toLowerCase()) + 1;
  return Math.floor(Number.parseFloat(m[1]!) * 1024 ** power);
}

/**
 * Parses the value of one `RUN --mount=` flag. `expand` expands variables in each field's
 * value after the CSV split, as BuildKit expands mount options.
 */
export function parseRunMount(value: string, expand: (text: string) => string = (t) => t): RunMount {
  const mount: RunMount = {
    type: "bind",
    target: undefined,
    source: undefined,
    from: undefined,
    readonly: true,
    id: undefined,
    sharing: undefined,
    mode: undefined,
    uid: undefined,
    gid: undefined,
    required: false,
    env: undefined,
    size: undefined,
  };
  let readonlySet: boolean | undefined;
  const fields = splitCsv(value).map((field) => {
    const eq = field.indexOf("=");
    return eq < 0 ? field : `${field.slice(0, eq + 1)}${expand(field.slice(eq + 1))}`;
  });
  // The type decides defaults, so read it first wherever it is written.
  for (const field of fields) {
    const [key, val] = splitKeyValue(field);
    if (key.toLowerCase() === "type") {
      if (!["bind", "cache", "tmpfs", "secret", "ssh"].includes(val ?? "")) {
        throw mountError(`unsupported mount type "${val ?? ""}"`, value);
      }
      mount.type = val as RunMountType;
    }
  }
  for (const field of fields) {
    const [rawKey, val] = splitKeyValue(field);
    const key = rawKey.toLowerCase();
    if (key === "" && val === undefined) continue;
    if (val === undefined) {
      if (["readonly", "ro"].includes(key)) readonlySet = true;
      else if (["readwrite", "rw"].includes(key)) readonlySet = false;
      else if (key === "required") mount.required = true;
      else throw mountError(`invalid field '${field}' must be a key=value pair`, value);
      continue;
    }
    switch (key) {
      case "type":
        break;
      case "target":
      case "dst":
      case "destination":
        mount.target = val;
        break;
      case "source":
      case "src":
        mount.source = val;
        break;
      case "from":
        mount.from = val;
        break;
      case "readonly":
      case "ro":
        readonlySet = parseBool(key, val, value);
        break;
      case "readwrite":
      case "rw":
        readonlySet = !parseBool(key, val, value);
        break;
      case "required":
        mount.required = parseBool(key, val, value);
        break;
      case "id":
        mount.id = val;
        break;
      case "sharing":
        if (val !== "shared" && val !== "private" && val !== "locked") {
          throw mountError(`unsupported sharing value "${val}"`, value);
        }
        mount.sharing = val;
        break;
      case "mode":
        mount.mode = parseUint(key, val, 8, value);
        break;
      case "uid":
        mount.uid = parseUint(key, val, 10, value);
        break;
      case "gid":
        mount.gid = parseUint(key, val, 10, value);
        break;
      case "env":
        mount.env = val;
        break;
      case "size":
        mount.size = parseByteSize(val);
        break;
      default:
        throw mountError(`unexpected key '${rawKey}' in '${field}'`, value);
    }
  }

  const t = mount.type;
  if (mount.sharing !== undefined && t !== "cache") throw mountError(`sharing is only supported for cache mounts`, value);
  if (mount.size !== undefined && t !== "tmpfs") throw mountError(`size is only supported for tmpfs mounts`, value);
  if (mount.env !== undefined && t !== "secret") throw mountError(`env is only supported for secret mounts`, value);
  if ((mount.mode !== undefined || mount.uid !== undefined || mount.gid !== undefined) && (t === "bind" || t === "tmpfs")) {
    throw mountError(`mode, uid and gid are not supported for ${t} mounts`, value);
  }
  if (mount.from !== undefined && (t === "tmpfs" || t === "secret" || t === "ssh")) {
    throw mountError(`'from' is not supported for ${t} mounts`, value);
  }
  if (mount.required && t !== "secret" && t !== "ssh") throw mountError(`required is only supported for secret and ssh mounts`, value);

  switch (t) {
    case "bind":
      mount.readonly = readonlySet ?? true;
      break;
    case "cache":
      mount.readonly = readonlySet ?? false;
      mount.sharing ??= "shared";
      mount.mode ??= 0o755;
      mount.uid ??= 0;
      mount.gid ??= 0;
      break;
    case "tmpfs":
      mount.readonly = readonlySet ?? false;
      break;
    case "secret":
      mount.readonly = true;
      if (mount.id === undefined && mount.target !== undefined) mount.id = mount.target.split("/").filter(Boolean).pop();
      if (mount.id === undefined && mount.source !== undefined) mount.id = mount.source;
      if (mount.id === undefined) throw mountError("secret mount requires an id or a target", value);
      if (mount.target === undefined && mount.env === undefined) mount.target = `/run/secrets/${mount.id}`;
      mount.mode ??= 0o400;
      mount.uid ??= 0;
      mount.gid ??= 0;
      break;
    case "ssh":
      mount.readonly = true;
      mount.id ??= "default";
      mount.mode ??= 0o600;
      mount.uid ??= 0;
      mount.gid ??= 0;
      break;
  }
  if (mount.target === undefined && t !== "ssh" && t !== "secret") throw mountError(`mount type ${t} requires a target`, value);
  if (t === "cache" && mount.id === undefined) mount.id = mount.target;
  if (mount.target !== undefined && mount.target.trim() === "") throw mountError("target must not be empty", value);
  return mount;
}

function splitKeyValue(field: string): [string, string | undefined] {
  const eq = field.indexOf("=");
  if (eq < 0) return [field.trim(), undefined];
  return [field.slice(0, eq).trim(), field.slice(eq + 1)];
}

/** Validates `RUN --network=`. */
export function parseRunNetwork(value: string): RunNetwork {
  if (value === "default" || value === "none" || value === "host") return value;
  throw new BerthError("BERTH_BUILD_INVALID_FLAG", `unsupported network mode "${value}" (use default, none or host)`, {
    field: "--network",
    value,
  });
}

/** Validates `RUN --security=`. */
export function parseRunSecurity(value: string): RunSecurity {
  if (value === "sandbox" || value === "insecure") return value;
  throw new BerthError("BERTH_BUILD_INVALID_FLAG", `unsupported security mode "${value}" (use sandbox or insecure)`, {
    field: "--security",
    value,
  });
}
