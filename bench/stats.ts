// Small statistics for benchmarks: samples in milliseconds.

/** The q-quantile (0..1) of `samples`, by nearest rank. */
export function quantile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** `median 12.3 ms  p90 14.0 ms  (n=30)` */
export function summary(samples: number[]): string {
  return `median ${quantile(samples, 0.5).toFixed(1)} ms  p90 ${quantile(samples, 0.9).toFixed(1)} ms  (n=${samples.length})`;
}

/** Milliseconds taken by `fn`. */
export async function time(fn: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}
