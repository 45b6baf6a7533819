import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { BerthError } from "../common/index.js";

/** The names Compose looks for, in its order of preference. */
export const defaultFileNames = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];
/** The override files Compose adds beside the main file when none is given with `-f`. */
export const defaultOverrideFileNames = ["compose.override.yml", "compose.override.yaml", "docker-compose.override.yml", "docker-compose.override.yaml"];

/**
 * Finds the compose files when none is named: the first default name in `cwd` or the
 * nearest parent directory that has one, plus the first override file beside it.
 */
export function findDefaultConfigFiles(cwd: string, exists: (p: string) => boolean = existsSync): string[] {
  let dir = resolve(cwd);
  for (;;) {
    const main = defaultFileNames.map((n) => join(dir, n)).find(exists);
    if (main) {
      const override = defaultOverrideFileNames.map((n) => join(dir, n)).find(exists);
      return override ? [main, override] : [main];
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new BerthError(
    "BERTH_COMPOSE_FILE_NOT_FOUND",
    `no configuration file provided: not found (looked for ${defaultFileNames.join(", ")} in ${resolve(cwd)} and its parents)`,
    { path: resolve(cwd) },
  );
}

/** Splits `COMPOSE_FILE` on the path separator (`COMPOSE_PATH_SEPARATOR`, else `:`). */
export function splitComposeFileVariable(value: string, separator = ":"): string[] {
  return value.split(separator).filter((p) => p !== "");
}
