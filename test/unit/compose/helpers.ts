import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";
import { loadComposeProject, type LoadComposeOptions } from "../../../src/compose/index.js";

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Writes `files` into a fresh directory named `dirName` (inside a temp dir) and returns its path. */
export function writeProject(files: Record<string, string>, dirName = "myapp"): string {
  const root = mkdtempSync(join(tmpdir(), "berth-compose-"));
  made.push(root);
  const dir = join(root, dirName);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Loads a project written with {@link writeProject}, with an empty process environment unless given. */
export function load(dir: string, options: LoadComposeOptions = {}) {
  return loadComposeProject({ cwd: dir, environment: {}, ...options });
}

/** The error a promise rejects with. */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; context?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}
