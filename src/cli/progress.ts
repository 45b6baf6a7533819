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

/** One step of a build as {@link BuildProgressView} shows it. */
interface BuildStep {
  title: string;
  status: "running" | "cached" | "done";
  started: number;
  durationMs?: number;
  output: string[];
}

/** How many of a running step's last output lines the terminal view keeps under it. */
const buildOutputLines = 6;

/**
 * `build`'s progress on a terminal, as BuildKit's tty display draws it: a `[+] Building 1.2s
 * (3/5)` header and one line per step (`=> [stage] RUN ...  0.4s`, `=> CACHED ...`), the
 * running steps' last output lines under them (`=> => # ...`), the whole block redrawn in
 * place at each event. Off a terminal `build` prints BuildKit's plain numbered lines instead.
 */
export class BuildProgressView {
  private steps = new Map<string, BuildStep>();
  private extra: string[] = [];
  private drawn = 0;
  private readonly started: number;

  constructor(
    private readonly out: ProgressOutput,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  /** A step started, was found in the cache, or finished. */
  step(key: string, title: string, status: BuildStep["status"], durationMs?: number): void {
    const step = this.steps.get(key) ?? { title, status, started: this.now(), output: [] };
    step.status = status;
    if (durationMs !== undefined) step.durationMs = durationMs;
    if (status !== "running") step.output = [];
    this.steps.set(key, step);
    this.draw(false);
  }

  /** Output of a running step. */
  output(key: string, text: string): void {
    const step = this.steps.get(key);
    if (!step) return;
    step.output.push(...text.replace(/\n$/, "").split("\n"));
    step.output = step.output.slice(-buildOutputLines);
    this.draw(false);
  }

  /** The closing lines (`writing image`, `naming to`), and the final frame. */
  finish(lines: readonly string[]): void {
    this.extra = [...lines];
    this.draw(true);
  }

  private draw(final: boolean): void {
    const width = this.out.columns ?? 80;
    const steps = [...this.steps.values()];
    const done = steps.filter((s) => s.status !== "running").length;
    const elapsed = ((this.now() - this.started) / 1000).toFixed(1);
    const lines = [`[+] Building ${elapsed}s (${done}/${steps.length})${final ? " FINISHED" : ""}`];
    for (const s of steps) {
      const secs = s.status === "cached" ? "0.0s" : `${((s.durationMs ?? this.now() - s.started) / 1000).toFixed(1)}s`;
      const left = ` => ${s.status === "cached" ? "CACHED " : ""}${s.title}`;
      lines.push(fit(left, secs, width));
      for (const o of s.status === "running" ? s.output : []) lines.push(fit(` => => # ${o}`, "", width));
    }
    for (const e of this.extra) lines.push(fit(` => => ${e}`, "", width));
    // Up over the previous frame, then each line cleared and rewritten; leftovers cleared.
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : "";
    this.out.write(`${up}${lines.map((l) => `\x1b[2K${l}\n`).join("")}\x1b[J`);
    this.drawn = lines.length;
  }
}

/** `left` and `right` on one line of `width` columns, `left` cut to fit. */
function fit(left: string, right: string, width: number): string {
  const room = Math.max(10, width - right.length - 1);
  const text = left.length > room ? left.slice(0, room) : left;
  return right ? `${text.padEnd(room)} ${right}` : text;
}
