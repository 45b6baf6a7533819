import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { dockerDefaults } from "../../../src/runtime/container-config/docker-defaults.js";

// The capabilities are named in two languages: the spec builder's list (TypeScript) and the
// native runtime's table (native/src/process.c, numbers from the kernel's header). This keeps
// them one list: a capability added to one and not the other fails here.
describe("capability tables", () => {
  it("process.c's table names the same capabilities as knownCapabilities, in kernel order", () => {
    const source = readFileSync(fileURLToPath(new URL("../../../native/src/process.c", import.meta.url)), "utf8");
    const table = [...source.matchAll(/^\s*CAP\((\w+)\),$/gm)].map((m) => `CAP_${m[1]}`);
    expect(table.length).toBeGreaterThan(30);
    expect(table).toEqual([...dockerDefaults.knownCapabilities]);
  });

  it("Docker's default set is a subset of the known ones", () => {
    for (const cap of dockerDefaults.capabilities) expect(dockerDefaults.knownCapabilities).toContain(cap);
  });
});
