import { isBerthError, type BerthError } from "../common/index.js";

/** Docker's exit codes for `run`/`exec`: berth failed, the command could not run, or was not found. */
export const exitCodes = {
  /** berth itself failed (bad flags, engine errors). */
  berthFailed: 125,
  /** The container command exists but could not be invoked (permission denied, not executable). */
  cannotInvoke: 126,
  /** The container command was not found. */
  notFound: 127,
} as const;

/**
 * The exit code for an error: a usage or engine error is 125; a command that could not be
 * started inside the container is 126 or 127 as Docker reports them; any other error that
 * carries a process exit code passes it through.
 */
export function exitCodeFor(error: unknown): number {
  if (!isBerthError(error)) return exitCodes.berthFailed;
  if (error.code === "BERTH_EXEC_FAILED" || error.code === "BERTH_CONTAINER_START_FAILED") {
    const reason = String(error.context.reason ?? error.message);
    if (/not found|no such file|ENOENT/i.test(reason)) return exitCodes.notFound;
    if (/permission denied|EACCES|not executable|exec format error/i.test(reason)) return exitCodes.cannotInvoke;
  }
  return exitCodes.berthFailed;
}

/**
 * The one line (or, for usage errors, Docker's short block) a person reads on stderr:
 * `berth: <message>`, with the cause's message when it adds something the message lacks.
 */
export function formatError(error: unknown, program = "berth"): string {
  if (isBerthError(error)) {
    if (error.code === "BERTH_CLI_USAGE") return `${program}: ${error.message}\n`;
    return `${program}: ${error.message}${causeSuffix(error)}\n`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `${program}: ${message}\n`;
}

function causeSuffix(error: BerthError): string {
  const cause = error.cause;
  if (!(cause instanceof Error) || isBerthError(cause)) return "";
  if (error.message.includes(cause.message)) return "";
  // "not found" already says what ENOENT would; repeating the syscall text adds noise.
  if (error.code.endsWith("_NOT_FOUND")) return "";
  return `: ${cause.message.split("\n")[0]}`;
}
