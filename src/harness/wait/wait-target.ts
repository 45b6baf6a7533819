/** A container's health as its health check reports it; `none` when it has no check. */
export type HealthStatus = "none" | "starting" | "healthy" | "unhealthy";

/** One line of a container's output. */
export interface LogLine {
  stream: "stdout" | "stderr";
  line: string;
}

/** A port the container exposes. */
export interface ExposedPort {
  port: number;
  /** @default "tcp" */
  protocol?: "tcp" | "udp";
}

/** The outcome of a command run inside the container. */
export interface WaitExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * What a wait strategy needs from a container. The harness adapts a started container to
 * it; anything that is a real process with a network namespace can be one, which is how the
 * strategies are tested without the engine.
 */
export interface WaitTarget {
  /** The container id. */
  readonly id: string;
  /** The container name. */
  readonly name: string;
  /** The host where mapped ports listen (`127.0.0.1`). */
  readonly host: string;
  /** The ports the container exposes. */
  readonly exposedPorts: readonly ExposedPort[];
  /**
   * The container's output from the start (or from `since`, ms since the epoch). With
   * `follow` the iterable ends only when the container exits or `signal` aborts; without, at
   * the current end. `tail` asks for only the last lines, a hint a target may ignore.
   */
  logs(options: { since?: number; tail?: number; follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine>;
  /** Runs `argv` inside the container; rejects only when it cannot be run at all. */
  exec(argv: readonly string[], options?: { signal?: AbortSignal }): Promise<WaitExecResult>;
  /** The health check's current status. */
  health(): Promise<HealthStatus>;
  /** Whether the container's main process still runs. */
  isRunning(): Promise<boolean>;
  /** The main process's exit code once it exited, else undefined. */
  exitCode(): Promise<number | undefined>;
  /** The host port a container port is published on; undefined when it is not published. */
  mappedPort(port: number, protocol?: "tcp" | "udp"): number | undefined;
  /** A pid inside the container's network namespace (its init), while it runs. */
  netnsPid(): number | undefined;
  /** A path to the container's network namespace (`/run/netns/x`, `/proc/pid/ns/net`), when there is one. */
  netnsPath(): string | undefined;
}
