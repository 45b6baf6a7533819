import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { parseTailFlag } from "../../../src/cli/tail-flag.js";

describe("--tail of logs and compose logs", () => {
  it("is all when absent, empty or 'all', and for a negative count, as Docker takes it", () => {
    expect(parseTailFlag(undefined)).toBe("all");
    expect(parseTailFlag("")).toBe("all");
    expect(parseTailFlag("all")).toBe("all");
    expect(parseTailFlag("-1")).toBe("all");
  });

  it("is the count given, 0 included", () => {
    expect(parseTailFlag("0")).toBe(0);
    expect(parseTailFlag("25")).toBe(25);
  });

  it("refuses what is not a whole number with BERTH_CLI_USAGE naming the flag", () => {
    let error: unknown;
    try {
      parseTailFlag("ten");
    } catch (e) {
      error = e;
    }
    expect(hasErrorCode(error, "BERTH_CLI_USAGE")).toBe(true);
    expect((error as { context?: unknown }).context).toEqual({ flag: "tail" });
  });
});
