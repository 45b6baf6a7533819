import type { ContainerEngine } from "../runtime/engine/index.js";
import type { ExposedPort, HealthStatus, LogLine, WaitExecResult, WaitTarget } from "./wait/wait-target.js";

/** Options of {@link containerWaitTarget}. */
export interface ContainerWaitTargetOptions {
  /** The host where published ports listen. @default "127.0.0.1" */
  host?: string;
  /** The ports the container exposes. @default [] */
  exposedPorts?: readonly ExposedPort[];
  /** The host port a container port is published on (from the network layer's port proxy). @default none published */
  mappedPort?: (port: number, protocol: "tcp" | "udp") => number | undefined;
  /** The container's inspect taken just after its start, which saves the first call. @default one `inspect` */
  inspect?: Awaited<ReturnType<ContainerEngine["inspect"]>>;
  /**
   * Where a strategy that names no `since` starts reading the logs (ms since the epoch): after
   * a restart, the restart's time, so lines of the previous run do not count. @default the whole log
   */
  logsSince?: number;
}

/** The engine calls a wait needs; a seam for tests. */
export type WaitEngine = Pick<ContainerEngine, "logs" | "exec" | "inspect">;

/**
 * A started container as wait strategies see it, over the engine: logs from its log file,
 * exec through the runtime, health and exit state from inspect, and its init's pid for
 * reading the socket tables of its network namespace.
 */
export async function containerWaitTarget(engine: WaitEngine, ref: string, options: ContainerWaitTargetOptions = {}): Promise<WaitTarget> {
  const first = options.inspect ?? (await engine.inspect(ref));
  const id = first.Id;
  const name = ((first as { Name?: string }).Name ?? id).replace(/^\//, "");
  const pid = first.State.Running && first.State.Pid > 0 ? first.State.Pid : undefined;
  const netnsPath = first.NetworkSettings.SandboxKey || undefined;
  let exited = !first.State.Running;
  const state = async () => {
    const s = (await engine.inspect(id)).State;
    if (!s.Running) exited = true;
    return s;
  };
  return {
    id,
    name,
    host: options.host ?? "127.0.0.1",
    exposedPorts: options.exposedPorts ?? [],
    async *logs({ since = options.logsSince, tail, follow, signal }): AsyncIterable<LogLine> {
      const options = { follow, signal, ...(since !== undefined ? { since: new Date(since) } : {}), ...(tail !== undefined ? { tail } : {}) };
      for await (const entry of engine.logs(id, options)) {
        yield { stream: entry.stream, line: entry.log.replace(/\r?\n$/, "") };
      }
    },
    async exec(argv, execOptions = {}): Promise<WaitExecResult> {
      execOptions.signal?.throwIfAborted();
      const result = await engine.exec(id, argv);
      return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    },
    async health(): Promise<HealthStatus> {
      return (await state()).Health?.Status ?? "none";
    },
    async isRunning() {
      return (await state()).Running;
    },
    async exitCode() {
      const s = await state();
      return s.Running ? undefined : s.ExitCode;
    },
    mappedPort(port, protocol = "tcp") {
      return options.mappedPort?.(port, protocol);
    },
    // The pid is the one seen at start: after an exit /proc/<pid> is gone or another
    // process's, and the exit watcher reports the exit first.
    netnsPid: () => (exited ? undefined : pid),
    netnsPath: () => (exited ? undefined : netnsPath),
  };
}
