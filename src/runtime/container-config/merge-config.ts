import { BerthError } from "../../common/berth-error.js";
import { defaultShell, resolveCommand } from "./command.js";
import { dockerDefaults } from "./docker-defaults.js";
import { parseDuration } from "../../common/duration.js";
import type { ImageHealthcheck, ImageRuntimeConfig } from "./image-config.js";

/** A health check as the options give it. Durations are Go duration strings or nanoseconds. */
export interface HealthcheckOptions {
  /**
   * The probe: a string runs in the image's shell (`CMD-SHELL`), an array is `["CMD", ...argv]`
   * form unless it already starts with `CMD`, `CMD-SHELL` or `NONE`.
   * @default the image's test
   */
  test?: string | readonly string[];
  /** Time between probes. @default the image's, else 30s */
  interval?: string | number;
  /** Time one probe may take. @default the image's, else 30s */
  timeout?: string | number;
  /** Grace period during which failures do not count. @default the image's, else 0s */
  startPeriod?: string | number;
  /** Time between probes during the start period. @default the image's, else 5s */
  startInterval?: string | number;
  /** Consecutive failures that make the container unhealthy. @default the image's, else 3 */
  retries?: number;
}

/** The container options that take part in the merge with the image config. */
export interface ContainerConfigOptions {
  /** Replaces the image's entrypoint (and drops its Cmd); `""` clears it. @default the image's */
  entrypoint?: string | readonly string[];
  /** Replaces the image's Cmd. @default the image's Cmd */
  cmd?: readonly string[];
  /**
   * Environment. In the array form a bare `NAME` takes the value from `hostEnv`, and is
   * dropped when unset there, as the Docker CLI does with `-e NAME`. Entries override the
   * image's entry of the same name.
   * @default {}
   */
  env?: Readonly<Record<string, string>> | readonly string[];
  /** Where bare `NAME` entries of `env` are looked up. @default process.env */
  hostEnv?: Readonly<Record<string, string | undefined>>;
  /** Labels added to (and overriding) the image's. @default {} */
  labels?: Readonly<Record<string, string>>;
  /** Absolute working directory. @default the image's, else `/` */
  workingDir?: string;
  /** `user`, `uid`, `user:group`, `uid:gid`... @default the image's, else root */
  user?: string;
  /** Ports to expose, added to the image's (`8080`, `"53/udp"`). @default [] */
  exposedPorts?: readonly (number | string)[];
  /** Anonymous volumes to create, added to the image's `Volumes`. @default [] */
  volumes?: readonly string[];
  /** The signal `stop` sends first (`SIGINT`, `INT`, `2`). @default the image's, else SIGTERM */
  stopSignal?: string | number;
  /** Seconds between the stop signal and SIGKILL. @default 10 */
  stopTimeout?: number;
  /** A health check, merged field by field with the image's; `false` disables it. @default the image's */
  healthcheck?: HealthcheckOptions | false;
  /** The container's hostname. @default the first 12 characters of the container id */
  hostname?: string;
  /** The container's NIS domain name. @default "" */
  domainname?: string;
  /** Whether the process gets a terminal. @default false */
  tty?: boolean;
  /** Whether stdin is kept open. @default false */
  openStdin?: boolean;
}

/** A resolved health check; durations in nanoseconds with Docker's defaults applied. */
export interface ResolvedHealthcheck {
  /** `["CMD", ...argv]` or `["CMD-SHELL", command]`. */
  test: string[];
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

/**
 * Everything the engine needs about what runs in a container, after the image config and
 * the options are merged as Docker merges them. The OCI spec builder turns it into a spec.
 */
export interface ResolvedContainerConfig {
  /** The effective entrypoint (may be empty). */
  entrypoint: string[];
  /** The effective cmd (may be empty). */
  cmd: string[];
  /** The process argv: entrypoint then cmd. */
  args: string[];
  /** `NAME=value` entries: the options' first, then the image's not overridden. */
  env: string[];
  /** The image's labels with the options' on top. */
  labels: Record<string, string>;
  /** Absolute working directory. */
  workingDir: string;
  /** The user spec to resolve against the rootfs (`""` is root). */
  user: string;
  /** `port/proto` keys, sorted by port number. */
  exposedPorts: string[];
  /** Container paths that get an anonymous volume unless something else is mounted there. */
  volumes: string[];
  /** The stop signal, as `SIGNAME` or a number in a string. */
  stopSignal: string;
  /** Seconds before SIGKILL on stop. */
  stopTimeout: number;
  /** The health check, absent when there is none or it is disabled. */
  healthcheck?: ResolvedHealthcheck;
  /** The shell for `CMD-SHELL` health checks (the image's `SHELL`). */
  shell: string[];
  hostname: string;
  domainname: string;
  tty: boolean;
  openStdin: boolean;
}

const healthDefaults = { interval: 30e9, timeout: 30e9, startPeriod: 0, startInterval: 5e9, retries: 3 };

/**
 * Merges an image's runtime config with the container options as Docker does (moby
 * `daemon/commit.go` `merge` plus the defaults of `daemon/create.go`). `containerId` gives
 * the default hostname.
 */
export function mergeConfig(
  image: ImageRuntimeConfig | undefined,
  options: ContainerConfigOptions = {},
  containerId = "",
): ResolvedContainerConfig {
  const img = image ?? {};
  const command = resolveCommand({
    imageEntrypoint: img.Entrypoint,
    imageCmd: img.Cmd,
    entrypoint: options.entrypoint,
    cmd: options.cmd,
  });
  const workingDir = options.workingDir || img.WorkingDir || "/";
  if (!workingDir.startsWith("/")) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `the working directory '${workingDir}' is invalid, it needs to be an absolute path`, {
      field: "workingDir",
    });
  }
  const result: ResolvedContainerConfig = {
    ...command,
    env: mergeEnv(img.Env ?? [], userEnv(options.env, options.hostEnv ?? process.env)),
    labels: { ...(img.Labels ?? {}), ...(options.labels ?? {}) },
    workingDir,
    user: options.user ?? img.User ?? "",
    exposedPorts: [...new Set([...Object.keys(img.ExposedPorts ?? {}), ...(options.exposedPorts ?? [])].map(normalizePort))].sort(byPort),
    volumes: [...new Set([...Object.keys(img.Volumes ?? {}), ...(options.volumes ?? [])])],
    stopSignal: normalizeSignal(options.stopSignal ?? (img.StopSignal || dockerDefaults.stopSignal)),
    stopTimeout: options.stopTimeout ?? dockerDefaults.stopTimeout,
    shell: img.Shell && img.Shell.length > 0 ? [...img.Shell] : [...defaultShell],
    hostname: options.hostname || containerId.slice(0, 12),
    domainname: options.domainname ?? "",
    tty: options.tty ?? false,
    openStdin: options.openStdin ?? false,
  };
  for (const volume of result.volumes) {
    if (!volume.startsWith("/")) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid volume path ${volume}: it must be absolute`, { field: "volumes", path: volume });
    }
  }
  const healthcheck = mergeHealthcheck(img.Healthcheck ?? undefined, options.healthcheck);
  if (healthcheck) result.healthcheck = healthcheck;
  return result;
}

function userEnv(
  env: ContainerConfigOptions["env"],
  hostEnv: Readonly<Record<string, string | undefined>>,
): string[] {
  if (!env) return [];
  if (!Array.isArray(env)) return Object.entries(env as Record<string, string>).map(([k, v]) => `${k}=${v}`);
  const out: string[] = [];
  for (const entry of env as readonly string[]) {
    if (entry.startsWith("=")) throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid environment variable: ${entry}`, { field: "env" });
    if (entry.includes("=")) out.push(entry);
    else if (hostEnv[entry] !== undefined) out.push(`${entry}=${hostEnv[entry]}`);
  }
  return out;
}

function envKey(entry: string): string {
  const i = entry.indexOf("=");
  return i < 0 ? entry : entry.slice(0, i);
}

/** The options' entries (later ones replacing earlier of the same name), then the image's not overridden. */
function mergeEnv(imageEnv: readonly string[], user: readonly string[]): string[] {
  const out = replaceOrAppendEnv([], user);
  const keys = new Set(out.map(envKey));
  for (const entry of imageEnv) if (!keys.has(envKey(entry))) out.push(entry);
  return out;
}

/**
 * Replaces entries of `base` whose name one of `overrides` has, in place, and appends the
 * rest (moby `ReplaceOrAppendEnvValues`, used for the daemon environment too).
 */
export function replaceOrAppendEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = [...base];
  const index = new Map(out.map((e, i) => [envKey(e), i]));
  for (const entry of overrides) {
    const key = envKey(entry);
    const at = index.get(key);
    if (at === undefined) {
      index.set(key, out.length);
      out.push(entry);
    } else {
      out[at] = entry;
    }
  }
  return out;
}

function byPort(a: string, b: string): number {
  return Number.parseInt(a, 10) - Number.parseInt(b, 10) || a.localeCompare(b);
}

function normalizePort(port: number | string): string {
  const text = String(port);
  const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(text);
  if (!match) throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid port: ${text}`, { field: "exposedPorts" });
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  if (low < 1 || high > 65535 || high < low) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid port: ${text}`, { field: "exposedPorts" });
  }
  const proto = (match[3] ?? "tcp").toLowerCase();
  return match[2] === undefined ? `${low}/${proto}` : `${low}-${high}/${proto}`;
}

const signalNumbers: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16,
  SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24,
  SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPOLL: 29, SIGPWR: 30, SIGSYS: 31,
};

/**
 * Normalises a signal as Docker's `signal.ParseSignal`: `TERM`, `SIGTERM`, `sigterm`, a
 * number, or `SIGRTMIN+n`. Returns `SIGNAME` (or the number as a string).
 */
export function normalizeSignal(signal: string | number): string {
  const text = String(signal).trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < 1 || n > 64) throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid signal: ${text}`, { field: "stopSignal" });
    return text;
  }
  const upper = text.toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  if (name in signalNumbers || /^SIGRTM(IN|AX)([+-]\d+)?$/.test(name)) return name;
  throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid signal: ${text}`, { field: "stopSignal" });
}

/** The number of a signal name or numeric string, for kill(2). */
export function signalNumber(signal: string): number {
  if (/^\d+$/.test(signal)) return Number(signal);
  const rt = /^SIGRTM(IN|AX)(?:([+-])(\d+))?$/.exec(signal);
  if (rt) {
    const base = rt[1] === "IN" ? 34 : 64;
    const delta = rt[3] ? Number(rt[3]) * (rt[2] === "-" ? -1 : 1) : 0;
    return base + delta;
  }
  const n = signalNumbers[signal];
  if (n === undefined) throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid signal: ${signal}`, { field: "signal" });
  return n;
}

function testForm(test: string | readonly string[]): string[] {
  if (typeof test === "string") return ["CMD-SHELL", test];
  const first = test[0];
  if (first === "CMD" || first === "CMD-SHELL" || first === "NONE") return [...test];
  return ["CMD", ...test];
}

function durationOf(value: string | number | undefined, field: string): number {
  if (value === undefined) return 0;
  const ns = parseDuration(value);
  // Docker refuses sub-millisecond and negative health durations (`--health-interval`).
  if (ns !== 0 && ns < 1e6) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `${field} in the healthcheck cannot be less than 1ms`, { field: `healthcheck.${field}` });
  }
  return ns;
}

function mergeHealthcheck(image: ImageHealthcheck | undefined, options: HealthcheckOptions | false | undefined): ResolvedHealthcheck | undefined {
  if (options === false) return undefined;
  const user = options ?? {};
  if (user.retries !== undefined && (!Number.isInteger(user.retries) || user.retries < 0)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", "retries in the healthcheck cannot be negative", { field: "healthcheck.retries" });
  }
  const test = user.test !== undefined ? testForm(user.test) : image?.Test ? [...image.Test] : [];
  if (test.length === 0 || test[0] === "NONE") return undefined;
  const pick = (own: number, inherited: number | undefined, fallback: number) => own || inherited || fallback;
  return {
    test,
    interval: pick(durationOf(user.interval, "interval"), image?.Interval, healthDefaults.interval),
    timeout: pick(durationOf(user.timeout, "timeout"), image?.Timeout, healthDefaults.timeout),
    startPeriod: pick(durationOf(user.startPeriod, "startPeriod"), image?.StartPeriod, healthDefaults.startPeriod),
    startInterval: pick(durationOf(user.startInterval, "startInterval"), image?.StartInterval, healthDefaults.startInterval),
    retries: pick(user.retries ?? 0, image?.Retries, healthDefaults.retries),
  };
}
