import { formatGoDuration } from "../compose/go-values.js";
import { humanSize } from "./units.js";

/** How far one transfer (a layer, a build step) has got. */
export interface Progress {
  /** Bytes (or `units`) done. */
  current: number;
  /** Bytes (or `units`) in all; 0 or less when unknown. */
  total: number;
  /** When the transfer started, in seconds since the epoch; enables the time-left estimate. */
  start?: number;
  /** A unit other than bytes (`"files"`); counts are then printed as plain numbers. */
  units?: string;
  /** Print the bar without the `12.3MB/45.6MB` counts. */
  hideCounts?: boolean;
}

/**
 * One progress line as Docker draws it: `[=====>      ]  12.3MB/45.6MB 3s`. The bar shows
 * only on terminals wider than 110 columns and the time left on ones wider than 50, as in
 * Docker; go-units sizes; a `current` past `total` drops the total.
 */
export function progressText(p: Progress, width = 200, nowMs: number = Date.now()): string {
  if (p.current <= 0 && p.total <= 0) return "";
  if (p.total <= 0) return p.units ? `${p.current} ${p.units}` : humanSize(p.current).padStart(8);
  let percentage = Math.trunc(Math.trunc((p.current / p.total) * 100) / 2);
  if (percentage > 50) percentage = 50;
  const bar = width > 110 ? `[${"=".repeat(percentage)}>${" ".repeat(Math.max(0, 50 - percentage))}] ` : "";
  let numbers = "";
  if (!p.hideCounts) {
    if (!p.units) {
      const current = humanSize(p.current).padStart(8);
      numbers = p.current > p.total ? current : `${current}/${humanSize(p.total)}`;
    } else {
      numbers = p.current > p.total ? `${p.current} ${p.units}` : `${p.current}/${p.total} ${p.units}`;
    }
  }
  let timeLeft = "";
  if (p.current > 0 && p.start && p.start > 0 && percentage < 50 && width > 50) {
    const elapsedNs = (nowMs - p.start * 1000) * 1e6;
    const perEntry = Math.trunc(elapsedNs / p.current);
    const leftNs = Math.trunc(((p.total - p.current) * perEntry) / 1e9) * 1e9;
    timeLeft = ` ${formatGoDuration(leftNs)}`;
  }
  return bar + numbers + timeLeft;
}

/** Where progress goes: a stream with `write`, and whether it is a terminal and how wide. */
export interface ProgressOutput {
  write(text: string): unknown;
  /** @default false */
  isTTY?: boolean;
  /** @default 200 (Docker's width when it cannot ask the terminal) */
  columns?: number;
}

/**
 * The per-layer display of `pull`, `push` and `build`, as Docker's
 * `DisplayJSONMessagesStream` draws it. On a terminal each id keeps its own line, redrawn in
 * place (cursor up, clear line, carriage return) as its progress changes; elsewhere progress
 * updates are dropped and only status changes print, one plain line each, so logs stay
 * readable.
 */
export class ProgressDisplay {
  private ids = new Map<string, number>();

  constructor(
    private readonly out: ProgressOutput,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A status for one id (`a1b2c3d4e5f6: Downloading`), with progress when it has some. Every
   * status of an id redraws that id's line on a terminal, as the daemon's layer messages
   * all carry a (possibly empty) progress detail.
   */
  update(id: string, status: string, progress?: Progress): void {
    const tty = this.out.isTTY === true;
    const text = progress ? progressText(progress, this.out.columns ?? 200, this.now()) : "";
    if (!tty) {
      // Off a terminal the bars are dropped and only the statuses remain.
      if (text === "") this.out.write(`${id}: ${status}\n`);
      return;
    }
    let line = this.ids.get(id);
    if (line === undefined) {
      line = this.ids.size;
      this.ids.set(id, line);
      this.out.write("\n");
    }
    const diff = this.ids.size - line;
    this.out.write(`\x1b[${diff}A\x1b[1K\x1b[K\r${id}: ${status}${text ? ` ${text}` : ""}\r\x1b[${diff}B`);
  }

  /** A line that belongs to no id (`"Digest: sha256:..."`); it ends the current block of ids. */
  message(text: string): void {
    this.ids.clear();
    this.out.write(`${text}\n`);
  }
}
