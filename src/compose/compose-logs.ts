import type { ComposeContext } from "./compose-context.js";
import { projectContainers } from "./project-containers.js";
import type { ComposeProject } from "./types.js";

/** Options of {@link composeLogs}; each mirrors a `docker compose logs` flag. */
export interface ComposeLogsOptions {
  /** Services whose logs to show. @default every service */
  services?: readonly string[];
  /** `-f`: keep printing until every container has exited or `signal` aborts. @default false */
  follow?: boolean;
  /** `--tail`: lines from the end of each container's log. @default "all" */
  tail?: number | "all";
  /** `--since`. @default the beginning */
  since?: string | Date;
  /** `-t`: each line starts with its RFC 3339 time. @default false */
  timestamps?: boolean;
  /** `--no-log-prefix`. @default false (lines start with `web-1  | `) */
  noPrefix?: boolean;
  /** Ends a follow. @default none */
  signal?: AbortSignal;
}

/** One line of {@link composeLogs}. */
export interface ComposeLogLine {
  /** The container's name. */
  container: string;
  /** `service-n`, the prefix Compose prints. */
  label: string;
  stream: "stdout" | "stderr";
  /** The text, without its newline. */
  line: string;
  time: string;
  /** The line as `docker compose logs` prints it, newline included: `web-1  | text`. */
  formatted: string;
}

/**
 * The logs of the project's containers, each line prefixed with its container's service and
 * number padded to the longest (`web-1    | `, `cache-1  | `), as `docker compose logs` prints
 * them. Without `follow`, container after container; with it, lines as they come.
 */
export async function* composeLogs(context: ComposeContext, project: ComposeProject, options: ComposeLogsOptions = {}): AsyncGenerator<ComposeLogLine, void, undefined> {
  const containers = await projectContainers(context, project.name, { ...(options.services ? { services: options.services } : {}), oneoff: false });
  const labelOf = (c: { service: string; number: number }) => `${c.service}-${c.number}`;
  const width = Math.max(0, ...containers.map((c) => labelOf(c).length));
  const format = (label: string, line: string, time: string) =>
    `${options.noPrefix ? "" : `${label.padEnd(width)}  | `}${options.timestamps ? `${time} ` : ""}${line}\n`;
  const readOptions = {
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
    ...(options.since !== undefined ? { since: options.since } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  if (!options.follow) {
    for (const c of containers) {
      for await (const entry of context.engine.logs(c.id, readOptions)) {
        const line = entry.log.replace(/\r?\n$/, "");
        yield { container: c.name, label: labelOf(c), stream: entry.stream, line, time: entry.time, formatted: format(labelOf(c), line, entry.time) };
      }
    }
    return;
  }
  // Merge the followers: a queue fed by one reader per container.
  const queue: ComposeLogLine[] = [];
  let wake: (() => void) | undefined;
  let running = containers.length;
  let failure: unknown;
  for (const c of containers) {
    void (async () => {
      try {
        for await (const entry of context.engine.logs(c.id, { ...readOptions, follow: true })) {
          const line = entry.log.replace(/\r?\n$/, "");
          queue.push({ container: c.name, label: labelOf(c), stream: entry.stream, line, time: entry.time, formatted: format(labelOf(c), line, entry.time) });
          wake?.();
        }
      } catch (error) {
        if (!options.signal?.aborted) failure ??= error;
      } finally {
        running--;
        wake?.();
      }
    })();
  }
  for (;;) {
    while (queue.length > 0) yield queue.shift()!;
    if (failure) throw failure;
    if (running === 0 || options.signal?.aborted) return;
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
    wake = undefined;
  }
}
