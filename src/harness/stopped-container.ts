import { Readable } from "node:stream";
import type { ContainerEngine } from "../runtime/engine/container-engine.js";

/** Options of `logs()` on a started or stopped test container. */
export interface ContainerLogsOptions {
  /** Only lines written at or after this time (a Date, or Unix seconds as Docker takes it). @default all */
  since?: Date | number;
  /** Only the last N lines. @default all */
  tail?: number;
}

/** The container's output as a stream of text (each chunk one line, with its newline). */
export function logStream(engine: ContainerEngine, id: string, options: ContainerLogsOptions & { follow?: boolean; signal?: AbortSignal } = {}): Readable {
  const entries = engine.logs(id, {
    ...(options.since !== undefined ? { since: options.since } : {}),
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
    ...(options.follow ? { follow: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return Readable.from(
    (async function* () {
      for await (const entry of entries) yield entry.log;
    })(),
    { objectMode: false },
  );
}

/**
 * A test container after `stop()`: what it wrote and what it left in its filesystem can still
 * be read, as long as it was stopped with `remove: false`.
 */
export class StoppedTestContainer {
  /** @internal */
  constructor(
    private readonly engine: ContainerEngine,
    private readonly id: string,
    private readonly name: string,
  ) {}

  /** The container id (64 hex digits). */
  getId(): string {
    return this.id;
  }

  /** The container's name, without Docker's leading `/`. */
  getName(): string {
    return this.name;
  }

  /** Everything the container wrote (or the part `since`/`tail` select), as a text stream. */
  logs(options: ContainerLogsOptions = {}): Promise<Readable> {
    return Promise.resolve(logStream(this.engine, this.id, options));
  }

  /** A tar of `path` in the container (a file or directory as one entry named after it; `dir/.` for its content). */
  copyArchiveFromContainer(path: string): Promise<Readable> {
    return this.engine.copyFromContainer(this.id, path);
  }
}
