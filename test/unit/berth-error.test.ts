import { describe, expect, it } from "vitest";
import { BerthError, hasErrorCode, isBerthError } from "../../src/index.js";

describe("BerthError", () => {
  it("keeps code, context and cause", () => {
    const cause = new Error("EACCES");
    const error = new BerthError("BERTH_RUNTIME_FAILED", "start failed", {
      container: "c1",
      exitCode: 127,
      lastLines: ["sh: nope: not found"],
      cause,
    });
    expect(error.code).toBe("BERTH_RUNTIME_FAILED");
    expect(error.context.container).toBe("c1");
    expect(error.exitCode).toBe(127);
    expect(error.cause).toBe(cause);
    expect(error.message).toContain("sh: nope: not found");
  });

  it("is recognised by its brand, not instanceof, so two copies of berth agree", () => {
    const foreign = Object.assign(new Error("x"), { code: "BERTH_TIMEOUT" });
    Object.defineProperty(foreign, Symbol.for("berth.error"), { value: true });
    expect(isBerthError(foreign)).toBe(true);
    expect(isBerthError(new Error("plain"))).toBe(false);
    expect(hasErrorCode(new BerthError("BERTH_TIMEOUT", "t"), "BERTH_TIMEOUT")).toBe(true);
  });
});
