import { basename } from "node:path";
import { BerthError } from "../common/index.js";

/**
 * Turns a directory name into a project name as Compose does: lowercased, every character
 * outside `[a-z0-9_-]` dropped, leading `_` and `-` trimmed (`My App.v2` → `myappv2`).
 */
export function normaliseProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "")
    .replace(/^[_-]+/, "");
}

/**
 * Checks a name the user gave (`-p`, `COMPOSE_PROJECT_NAME`, top-level `name:`): Compose
 * refuses rather than rewrites those, so a typo is not silently a different project.
 */
export function validateProjectName(name: string, source: string): string {
  if (name === "") throw new BerthError("BERTH_COMPOSE_INVALID", `project name from ${source} must not be empty`, { field: source });
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) {
    throw new BerthError(
      "BERTH_COMPOSE_INVALID",
      `invalid project name ${JSON.stringify(name)} from ${source}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`,
      { field: source },
    );
  }
  return name;
}

/** Where the project name comes from, first match wins. */
export interface ProjectNameSources {
  /** `-p` / `--project-name`. */
  flag?: string;
  /** `COMPOSE_PROJECT_NAME` from the environment or `.env`. */
  env?: string;
  /** The top-level `name:` of the merged files. */
  topLevel?: string;
  /** The project directory. */
  workingDir: string;
}

/** Picks the project name as Compose does: `-p`, `COMPOSE_PROJECT_NAME`, `name:`, directory. */
export function resolveProjectName(s: ProjectNameSources): string {
  if (s.flag !== undefined) return validateProjectName(s.flag, "--project-name");
  if (s.env) return validateProjectName(s.env, "COMPOSE_PROJECT_NAME");
  if (s.topLevel !== undefined) return validateProjectName(s.topLevel, "the top-level name");
  const fromDir = normaliseProjectName(basename(s.workingDir));
  if (fromDir === "") {
    throw new BerthError("BERTH_COMPOSE_INVALID", `the directory name ${JSON.stringify(basename(s.workingDir))} gives no valid project name; set one with -p or name:`, {
      path: s.workingDir,
    });
  }
  return fromDir;
}
