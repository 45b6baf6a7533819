import type { BerthErrorCode } from "./error-codes.js";

/**
 * A brand shared by every copy of berth loaded in one process (`Symbol.for`), so an
 * error thrown by one copy is recognised by another where `instanceof` would fail.
 */
const brand = Symbol.for("berth.error");

/** What a user needs to act on a failure. Every field is optional; set what is known. */
export interface BerthErrorContext {
  /** The image reference involved, as the user wrote it or normalised. */
  image?: string;
  /** The container id or name involved. */
  container?: string;
  /** The exit code of the process that failed, when one ran. */
  exitCode?: number;
  /** The last lines of the output of the process that failed, oldest first. */
  lastLines?: string[];
  /** A file or directory involved. */
  path?: string;
  /** The field of a configuration document involved (`process.args`, `services.web.ports[0]`). */
  field?: string;
  /** Anything else specific to the failure. */
  [key: string]: unknown;
}

/** Options of {@link BerthError}. */
export interface BerthErrorOptions extends BerthErrorContext {
  /** The error that caused this one; kept as the standard `cause`. */
  cause?: unknown;
}

/**
 * The one error class berth throws on every path a user can reach. Match on `code`, which is
 * stable across versions; the message is for people and may change.
 *
 * @example
 * ```ts
 * try { await Image.get("nope") } catch (e) {
 *   if (isBerthError(e) && e.code === "BERTH_IMAGE_NOT_FOUND") { ... }
 * }
 * ```
 */
export class BerthError extends Error {
  /** A stable identifier of the kind of failure, such as `BERTH_IMAGE_NOT_FOUND`. */
  readonly code: BerthErrorCode;
  /** The context given when the error was made (image, container, exit code, last lines...). */
  readonly context: BerthErrorContext;
  /** The exit code of the process that failed, when one ran. */
  readonly exitCode: number | undefined;
  /** The last lines of output of the process that failed, when known. */
  readonly lastLines: string[] | undefined;

  constructor(code: BerthErrorCode, message: string, options: BerthErrorOptions = {}) {
    const { cause, ...context } = options;
    super(withLastLines(message, context.lastLines), cause === undefined ? undefined : { cause });
    this.name = "BerthError";
    this.code = code;
    this.context = context;
    this.exitCode = context.exitCode;
    this.lastLines = context.lastLines;
    Object.defineProperty(this, brand, { value: true });
  }
}

function withLastLines(message: string, lines: string[] | undefined): string {
  if (!lines || lines.length === 0) return message;
  return `${message}\nLast output:\n${lines.map((l) => `  ${l}`).join("\n")}`;
}

/** Whether `value` is a {@link BerthError}, from this copy of berth or any other. */
export function isBerthError(value: unknown): value is BerthError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** Whether `value` is a {@link BerthError} with the given code. */
export function hasErrorCode(value: unknown, code: BerthErrorCode): value is BerthError {
  return isBerthError(value) && value.code === code;
}
