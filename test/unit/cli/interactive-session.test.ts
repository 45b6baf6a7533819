import { describe, expect, it } from "vitest";
import { parseDetachKeys } from "../../../src/cli/interactive-session.js";

describe("--detach-keys, as Docker reads them", () => {
  it("reads ctrl- keys and single characters", () => {
    expect([...parseDetachKeys("ctrl-p,ctrl-q")]).toEqual([16, 17]);
    expect([...parseDetachKeys("ctrl-x,x")]).toEqual([24, 120]);
    expect([...parseDetachKeys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_")]).toEqual([0, 27, 28, 29, 30, 31]);
    expect([...parseDetachKeys("a")]).toEqual([97]);
  });

  it("refuses what Docker refuses, as a usage error", () => {
    for (const bad of ["ctrl-1", "ctrl-", "abc", ""]) {
      expect(() => parseDetachKeys(bad)).toThrow(expect.objectContaining({ code: "BERTH_CLI_USAGE" }) as Error);
    }
  });
});
