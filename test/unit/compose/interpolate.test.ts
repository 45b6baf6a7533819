import { describe, expect, it } from "vitest";
import { interpolateString, interpolateTree } from "../../../src/compose/interpolate.js";
import { hasErrorCode } from "../../../src/common/index.js";

const env: Record<string, string> = { SET: "value", EMPTY: "", NUM: "5432", NESTED: "inner" };
const lookup = (k: string) => env[k];
const run = (s: string) => interpolateString(s, lookup, { file: "compose.yaml", field: "services.web.image" });

describe("interpolateString (compose-spec interpolation.md)", () => {
  it.each([
    ["plain text", "plain text"],
    ["$SET", "value"],
    ["${SET}", "value"],
    ["pre-${SET}-post", "pre-value-post"],
    ["$SET/x", "value/x"],
    ["${UNSET}", ""],
    ["$UNSET", ""],
    ["${UNSET:-default}", "default"],
    ["${EMPTY:-default}", "default"],
    ["${SET:-default}", "value"],
    ["${UNSET-default}", "default"],
    ["${EMPTY-default}", ""],
    ["${SET-default}", "value"],
    ["${SET:+alt}", "alt"],
    ["${EMPTY:+alt}", ""],
    ["${UNSET:+alt}", ""],
    ["${SET+alt}", "alt"],
    ["${EMPTY+alt}", "alt"],
    ["${UNSET+alt}", ""],
    ["${UNSET:-${NESTED}}", "inner"],
    ["${UNSET:-${ALSO_UNSET:-deep}}", "deep"],
    ["${UNSET:-a ${NESTED} b}", "a inner b"],
    ["${UNSET:-}", ""],
    ["$$", "$"],
    ["$${SET}", "${SET}"],
    ["$$SET", "$SET"],
    ["cost: $$5", "cost: $5"],
    ["${NUM}:5432", "5432:5432"],
    ["${UNSET:-with:colon}", "with:colon"],
    ["${UNSET:-http://x/y}", "http://x/y"],
    ["${SET:?must be set}", "value"],
    ["${EMPTY?must be set}", ""],
    ["${_UNDERSCORE:-u}", "u"],
  ])("%s → %s", (input, expected) => {
    expect(run(input)).toBe(expected);
  });

  it.each([["${UNSET:?please set UNSET}"], ["${EMPTY:?please set it}"], ["${UNSET?please}"]])(
    "%s stops with BERTH_COMPOSE_VARIABLE_REQUIRED naming the variable and the path",
    (input) => {
      let caught: unknown;
      try {
        run(input);
      } catch (e) {
        caught = e;
      }
      expect(hasErrorCode(caught, "BERTH_COMPOSE_VARIABLE_REQUIRED")).toBe(true);
      const message = (caught as Error).message;
      expect(message).toMatch(/required variable (UNSET|EMPTY) is missing a value: please/);
      expect(message).toContain("services.web.image");
      expect(message).toContain("compose.yaml");
    },
  );

  it("a required variable without a message still names the variable", () => {
    expect(() => run("${UNSET:?}")).toThrow(/^required variable UNSET is missing a value \(/);
  });

  it.each([["$"], ["${"], ["${SET"], ["${ SET}"], ["${SET:x}"], ["$-"], ["a $ b"], ["${SET:-unterminated"]])(
    "%s is an invalid interpolation format",
    (input) => {
      expect(() => run(input)).toThrow(/invalid interpolation format for services.web.image/);
    },
  );
});

describe("interpolateTree", () => {
  it("interpolates values at every depth, never keys, and keeps non-strings", () => {
    const tree = { services: { "${SET}": { image: "img:${NUM}", ports: ["${NUM}:80", 80], init: true } } };
    expect(interpolateTree(tree, lookup, "f.yml")).toEqual({ services: { "${SET}": { image: "img:5432", ports: ["5432:80", 80], init: true } } });
  });

  it("names the list index in the path of an error", () => {
    expect(() => interpolateTree({ services: { web: { ports: ["ok", "${X:?no}"] } } }, lookup, "f.yml")).toThrow(/services\.web\.ports\[1\]/);
  });
});
