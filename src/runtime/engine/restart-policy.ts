import { BerthError } from "../../common/berth-error.js";

/** The restart policy names of `docker run --restart`. */
export type RestartPolicyName = "no" | "always" | "on-failure" | "unless-stopped";

/**
 * A container's restart policy (`docker run --restart`, `HostConfig.RestartPolicy`). The
 * container's monitor applies it, so it holds after the process that started the container
 * has exited; but nothing starts containers again after a reboot (berth has no daemon).
 */
export interface RestartPolicy {
  /**
   * `no`: never restart. `always` and `unless-stopped`: restart whatever the exit code.
   * `on-failure`: restart only after a non-zero exit. None restarts a container stopped or
   * killed through berth (`stop`, `kill`, `remove` with `force`). Without a daemon to
   * restart at boot, `unless-stopped` behaves as `always`.
   * @default "no"
   */
  name: RestartPolicyName;
  /**
   * `on-failure` only: how many restarts at most (0: no limit).
   * @default 0
   */
  maximumRetryCount?: number;
}

const names: readonly string[] = ["no", "always", "on-failure", "unless-stopped"];

/** Parses the `--restart` flag's value: `no`, `always`, `unless-stopped`, `on-failure[:N]`. */
export function parseRestartPolicy(value: string): RestartPolicy {
  const [name = "", count, ...rest] = value.split(":");
  if (!names.includes(name) || rest.length > 0) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid restart policy format: ${value}`, { field: "restart" });
  }
  if (count === undefined) return { name: name as RestartPolicyName };
  if (!/^\d+$/.test(count)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid restart policy format: maximum retry count must be an integer: ${value}`, { field: "restart" });
  }
  return validateRestartPolicy({ name: name as RestartPolicyName, maximumRetryCount: Number(count) });
}

/** Docker's checks (moby `validateRestartPolicy`); returns the policy with its defaults. */
export function validateRestartPolicy(policy: RestartPolicy, autoRemove = false): Required<RestartPolicy> {
  if (!names.includes(policy.name)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid restart policy: unknown policy '${String(policy.name)}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`, { field: "restartPolicy" });
  }
  const max = policy.maximumRetryCount ?? 0;
  if (!Number.isInteger(max) || max < 0) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", "invalid restart policy: maximum retry count must be a non-negative integer", { field: "restartPolicy" });
  }
  if (max > 0 && policy.name !== "on-failure") {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid restart policy: maximum retry count can only be used with 'on-failure'`, { field: "restartPolicy" });
  }
  if (autoRemove && policy.name !== "no") {
    throw new BerthError("BERTH_INVALID_ARGUMENT", "conflicting options: cannot specify both --restart and --rm", { field: "restartPolicy" });
  }
  return { name: policy.name, maximumRetryCount: max };
}

/** The bundle annotation the monitor reads (native/src/restart.h); none for `no`. */
export function restartAnnotations(policy: RestartPolicy | undefined): Record<string, string> {
  if (!policy || policy.name === "no") return {};
  const value = policy.name === "on-failure" && policy.maximumRetryCount ? `on-failure:${policy.maximumRetryCount}` : policy.name;
  return { "org.berth.restart-policy": value };
}
