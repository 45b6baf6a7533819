import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { isRootless, removeTree, runInUserNamespace, unshareArgs } from "../../../src/common/user-namespace.js";

const dir = mkdtempSync(join(tmpdir(), "berth-userns-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mappings = {
  uidMappings: [],
  gidMappings: [],
  subuid: { start: 200000, count: 65536 },
  subgid: { start: 300000, count: 1000 },
};

describe("the shared user-namespace helpers (src/common/user-namespace.ts)", () => {
  it("is rootless when not root, and as BERTH_ROOTLESS forces it", () => {
    expect(isRootless({ BERTH_ROOTLESS: "1" })).toBe(true);
    expect(isRootless({ BERTH_ROOTLESS: "0" })).toBe(false);
    expect(isRootless({})).toBe(process.getuid!() !== 0);
  });

  it("maps the user to root and its subordinate ranges to 1..count", () => {
    expect(unshareArgs(mappings)).toEqual(["--user", "--map-root-user", "--map-users=200000,1,65536", "--map-groups=300000,1,1000"]);
    expect(unshareArgs(mappings, true).slice(-3)).toEqual(["--mount", "--propagation", "private"]);
  });

  it("removes a tree as this process when it may, and a missing path is not an error", async () => {
    const tree = join(dir, "tree");
    mkdirSync(join(tree, "a", "b"), { recursive: true });
    writeFileSync(join(tree, "a", "b", "f"), "x");
    // Not rootless: no namespace is needed (nor made: the mappings above are not the user's).
    await removeTree(tree, { rootless: false });
    expect(existsSync(tree)).toBe(false);
    await removeTree(join(dir, "missing"), { rootless: true, mappings });
  });

  it("a command that fails in the namespace is BERTH_ROOTLESS_FAILED with the command and its last lines", async () => {
    // Joining a process that does not exist fails in nsenter itself, on any host.
    const error = await runInUserNamespace(["true"], { joinPid: 2 ** 22 + 1 }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_ROOTLESS_FAILED")).toBe(true);
    expect((error as { context: { command: string; lastLines: string[] } }).context.command).toBe("true");
    expect((error as { context: { lastLines: string[] } }).context.lastLines.length).toBeGreaterThan(0);
  });
});
