/**
 * Time marks of the engine's hot paths (create, start, wait, stop, remove), printed to stderr
 * when `BERTH_TRACE_TIMINGS=1`: one line per operation with the milliseconds between its
 * marks, so a slow step shows without a profiler. Off by default, when a mark costs one
 * property read.
 */
export interface Trace {
  /** Records the time since the previous mark under `label`. */
  mark(label: string): void;
  /** Prints the operation's marks (once). */
  end(): void;
}

const enabled = process.env.BERTH_TRACE_TIMINGS === "1";

const off: Trace = { mark() {}, end() {} };

/** A trace of one operation on one container (a no-op unless `BERTH_TRACE_TIMINGS=1`). */
export function trace(operation: string, container: string): Trace {
  if (!enabled) return off;
  const start = performance.now();
  let last = start;
  const marks: string[] = [];
  let ended = false;
  return {
    mark(label) {
      const now = performance.now();
      marks.push(`${label}=${(now - last).toFixed(2)}`);
      last = now;
    },
    end() {
      if (ended) return;
      ended = true;
      process.stderr.write(`berth-trace ${operation} ${container.slice(0, 12)} total=${(performance.now() - start).toFixed(2)} ${marks.join(" ")}\n`);
    },
  };
}
