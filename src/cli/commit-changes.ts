import { parseDockerfile } from "../build/dockerfile-parser.js";
import { ShellLex } from "../build/shell-lex.js";
import { BerthError } from "../common/index.js";
import type { ContainerConfig } from "../image/oci.js";
import type { ContainerInspect } from "../runtime/engine/container-inspect.js";

/** The instructions `commit --change` and `import --change` accept, as Docker's. */
const allowed = new Set(["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"]);

/** Docker's commit runs shell forms through `/bin/sh -c`, as a Dockerfile does by default. */
const defaultShell = ["/bin/sh", "-c"];

/**
 * Applies `--change` Dockerfile instructions to a container's config, as `docker commit
 * --change` does: each is parsed by berth's Dockerfile parser and applied in order to a copy
 * of the config; the result is the config fields that the new image gets. Fails with
 * `BERTH_CLI_USAGE` for an instruction `commit` does not take, and with the parser's
 * `BERTH_DOCKERFILE_SYNTAX` for a malformed one.
 */
export function applyCommitChanges(base: ContainerInspect["Config"], changes: readonly string[]): Partial<ContainerConfig> {
  const config: ContainerConfig = {
    User: base.User,
    ExposedPorts: { ...base.ExposedPorts },
    Env: [...base.Env],
    Entrypoint: base.Entrypoint.length > 0 ? [...base.Entrypoint] : null,
    Cmd: base.Cmd.length > 0 ? [...base.Cmd] : null,
    Volumes: { ...base.Volumes },
    WorkingDir: base.WorkingDir,
    Labels: { ...base.Labels },
    StopSignal: base.StopSignal,
    ...(base.Healthcheck ? { Healthcheck: { ...base.Healthcheck } } : {}),
  };
  const touched = new Set<keyof ContainerConfig>();
  let cmdSet = false;
  const lex = new ShellLex();
  // Words are expanded and unquoted as a Dockerfile's, against the config's environment so far.
  const env = () => new Map((config.Env ?? []).map((e) => [e.slice(0, e.indexOf("=") < 0 ? e.length : e.indexOf("=")), e.slice(e.indexOf("=") + 1)] as [string, string]));
  const word = (text: string) => lex.processWord(text, env());
  const words = (text: string) => lex.processWords(text, env());
  for (const change of changes) {
    const parsed = parseDockerfile(change).instructions;
    if (parsed.length !== 1) throw new BerthError("BERTH_CLI_USAGE", `--change "${change}": expected one Dockerfile instruction`, { change });
    const ins = parsed[0]!;
    if (!allowed.has(ins.keyword)) {
      throw new BerthError("BERTH_CLI_USAGE", `${ins.keyword.toLowerCase()} is not a valid change command`, { change });
    }
    switch (ins.keyword) {
      case "CMD":
        config.Cmd = ins.json ? [...ins.args] : [...defaultShell, ...ins.args];
        cmdSet = true;
        touched.add("Cmd");
        break;
      case "ENTRYPOINT":
        config.Entrypoint = ins.json ? [...ins.args] : [...defaultShell, ...ins.args];
        touched.add("Entrypoint");
        // As in a Dockerfile, a new ENTRYPOINT drops the CMD unless a change set one.
        if (!cmdSet) {
          config.Cmd = null;
          touched.add("Cmd");
        }
        break;
      case "ENV":
        for (const kv of ins.keyValues ?? []) {
          const key = word(kv.key);
          const value = word(kv.value);
          config.Env = [...(config.Env ?? []).filter((e) => e.slice(0, e.indexOf("=") < 0 ? e.length : e.indexOf("=")) !== key), `${key}=${value}`];
        }
        touched.add("Env");
        break;
      case "LABEL":
        for (const kv of ins.keyValues ?? []) config.Labels = { ...config.Labels, [word(kv.key)]: word(kv.value) };
        touched.add("Labels");
        break;
      case "EXPOSE":
        for (const p of ins.args.flatMap(words)) config.ExposedPorts = { ...config.ExposedPorts, [p.includes("/") ? p.toLowerCase() : `${p}/tcp`]: {} };
        touched.add("ExposedPorts");
        break;
      case "VOLUME":
        for (const v of ins.args.map(word)) config.Volumes = { ...config.Volumes, [v]: {} };
        touched.add("Volumes");
        break;
      case "USER":
        config.User = word(ins.args[0]!);
        touched.add("User");
        break;
      case "WORKDIR": {
        const dir = word(ins.args[0]!);
        // A relative WORKDIR continues from the current one, as in a Dockerfile.
        config.WorkingDir = dir.startsWith("/") ? dir : `${(config.WorkingDir || "/").replace(/\/$/, "")}/${dir}`;
        touched.add("WorkingDir");
        break;
      }
      case "STOPSIGNAL":
        config.StopSignal = word(ins.args[0]!);
        touched.add("StopSignal");
        break;
      case "ONBUILD":
        config.OnBuild = [...((config.OnBuild as string[] | undefined) ?? []), ins.triggerText ?? ins.args.join(" ")];
        touched.add("OnBuild");
        break;
      case "HEALTHCHECK": {
        const spec = ins.healthcheck!;
        config.Healthcheck = {
          Test: [...spec.test],
          ...(spec.interval ? { Interval: spec.interval } : {}),
          ...(spec.timeout ? { Timeout: spec.timeout } : {}),
          ...(spec.startPeriod ? { StartPeriod: spec.startPeriod } : {}),
          ...(spec.startInterval ? { StartInterval: spec.startInterval } : {}),
          ...(spec.retries ? { Retries: spec.retries } : {}),
        };
        touched.add("Healthcheck");
        break;
      }
    }
  }
  return Object.fromEntries([...touched].map((k) => [k, config[k]])) as Partial<ContainerConfig>;
}
