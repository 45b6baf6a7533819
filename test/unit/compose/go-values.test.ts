import { describe, expect, it } from "vitest";
import { formatGoDuration, parseGoDuration, parseRamSize } from "../../../src/compose/go-values.js";
import { shellSplit } from "../../../src/compose/shell-split.js";

describe("Go durations", () => {
  it.each([
    ["10s", 10e9],
    ["1m30s", 90e9],
    ["1.5h", 5400e9],
    ["500ms", 5e8],
    ["2us", 2000],
    ["0", 0],
    ["1h2m3s4ms", 3723004e6],
  ])("parses %s", (text, ns) => {
    expect(parseGoDuration(text)).toBe(ns);
  });

  it.each([["10"], ["ten seconds"], [""], ["1x"]])("rejects %s", (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });

  it.each([
    [0, "0s"],
    [10e9, "10s"],
    [90e9, "1m30s"],
    [3600e9, "1h0m0s"],
    [5e8, "500ms"],
    [1500e6, "1.5s"],
    [2000, "2µs"],
    [3723e9, "1h2m3s"],
  ])("formats %d ns as %s", (ns, text) => {
    expect(formatGoDuration(ns)).toBe(text);
  });
});

describe("RAM sizes (go-units RAMInBytes)", () => {
  it.each([
    ["512m", 512 * 1024 ** 2],
    ["1g", 1024 ** 3],
    ["1GB", 1024 ** 3],
    ["1.5GiB", 1.5 * 1024 ** 3],
    ["1024", 1024],
    ["64k", 65536],
    [2048, 2048],
  ])("%s is %d bytes", (text, n) => {
    expect(parseRamSize(text)).toBe(n);
  });

  it("rejects words", () => {
    expect(parseRamSize("lots")).toBeUndefined();
  });
});

describe("shellSplit (command: strings)", () => {
  it.each([
    ["redis-server --save 60 1", ["redis-server", "--save", "60", "1"]],
    [`sh -c "echo hello world"`, ["sh", "-c", "echo hello world"]],
    [`echo 'single $x' "dq \\"in\\""`, ["echo", "single $x", 'dq "in"']],
    [`a\\ b c`, ["a b", "c"]],
    [`redis-server --save ""`, ["redis-server", "--save", ""]],
    [`  spaced   out  `, ["spaced", "out"]],
    [`x"y"'z'`, ["xyz"]],
  ])("%s", (input, words) => {
    expect(shellSplit(input)).toEqual(words);
  });

  it("an unterminated quote is an error", () => {
    expect(() => shellSplit(`echo "open`)).toThrow(/unterminated quote/);
  });
});
