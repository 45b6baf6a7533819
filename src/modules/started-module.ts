import { BerthError } from "../common/berth-error.js";
import type { StartedTestContainer } from "../harness/started-container.js";

/** Runs `command` in `container`; its stdout, or `BERTH_MODULE_COMMAND_FAILED` with the output. */
export async function execOrThrow(container: StartedTestContainer, command: readonly string[], what: string, env?: Record<string, string>): Promise<string> {
  const result = await container.exec(command, { ...(env ? { env } : {}), timeout: 60_000 }).catch((error: unknown) => {
    throw new BerthError("BERTH_MODULE_COMMAND_FAILED", `${what}: could not run ${command[0]} in the container`, { container: container.getId(), command: command[0], cause: error });
  });
  if (result.exitCode !== 0) {
    throw new BerthError("BERTH_MODULE_COMMAND_FAILED", `${what}: ${command[0]} exited with ${result.exitCode}: ${result.output.trim().slice(0, 2000)}`, {
      container: container.getId(),
      command: command[0],
      exitCode: result.exitCode,
    });
  }
  return result.stdout;
}
