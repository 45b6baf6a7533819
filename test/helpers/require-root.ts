import { describe } from "vitest";

/** Whether the tests run as root; the runtime tests need it for namespaces, mounts and cgroups. */
export const isRoot = process.getuid?.() === 0;

/**
 * `describe` for a suite that needs root: when not root the suite is skipped, and its name
 * says so, so a skip is never silent.
 */
export function describeAsRoot(name: string, fn: () => void): void {
  if (isRoot) describe(name, fn);
  else describe.skip(`${name} (skipped: needs root)`, fn);
}
