import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { resolveCommand, shellForm } from "../../../src/runtime/container-config/command.js";

// Docker docs, Dockerfile reference, "Understand how CMD and ENTRYPOINT interact": the table
// of image ENTRYPOINT (none / shell form / exec form) × CMD (none / exec form / shell form).
// The builder stores shell forms as ["/bin/sh","-c",...], so the table is checked on the
// stored forms. Where the table prints "/bin/sh -c exec_entry p1_entry" for a shell-form
// ENTRYPOINT with a CMD, the CMD is still passed as extra arguments to sh, which ignores them.
const execEntry = ["exec_entry", "p1_entry"];
const shellEntry = shellForm("exec_entry p1_entry");
const execCmd = ["exec_cmd", "p1_cmd"];
const shellCmd = shellForm("exec_cmd p1_cmd");

describe("resolveCommand — the CMD/ENTRYPOINT table of Docker's docs", () => {
  it("no ENTRYPOINT, no CMD: error, not allowed", () => {
    const error = (() => {
      try {
        resolveCommand({});
      } catch (e) {
        return e;
      }
    })();
    expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });
  it("no ENTRYPOINT, CMD exec form: exec_cmd p1_cmd", () => {
    expect(resolveCommand({ imageCmd: execCmd }).args).toEqual(["exec_cmd", "p1_cmd"]);
  });
  it("no ENTRYPOINT, CMD shell form: /bin/sh -c exec_cmd p1_cmd", () => {
    expect(resolveCommand({ imageCmd: shellCmd }).args).toEqual(["/bin/sh", "-c", "exec_cmd p1_cmd"]);
  });
  it("ENTRYPOINT shell form, no CMD: /bin/sh -c exec_entry p1_entry", () => {
    expect(resolveCommand({ imageEntrypoint: shellEntry }).args).toEqual(["/bin/sh", "-c", "exec_entry p1_entry"]);
  });
  it("ENTRYPOINT shell form, CMD exec form: /bin/sh -c exec_entry p1_entry (CMD ignored by sh)", () => {
    const args = resolveCommand({ imageEntrypoint: shellEntry, imageCmd: execCmd }).args;
    expect(args.slice(0, 3)).toEqual(["/bin/sh", "-c", "exec_entry p1_entry"]);
    expect(args).toEqual(["/bin/sh", "-c", "exec_entry p1_entry", "exec_cmd", "p1_cmd"]);
  });
  it("ENTRYPOINT shell form, CMD shell form: /bin/sh -c exec_entry p1_entry (CMD ignored by sh)", () => {
    const args = resolveCommand({ imageEntrypoint: shellEntry, imageCmd: shellCmd }).args;
    expect(args.slice(0, 3)).toEqual(["/bin/sh", "-c", "exec_entry p1_entry"]);
  });
  it("ENTRYPOINT exec form, no CMD: exec_entry p1_entry", () => {
    expect(resolveCommand({ imageEntrypoint: execEntry }).args).toEqual(["exec_entry", "p1_entry"]);
  });
  it("ENTRYPOINT exec form, CMD exec form: exec_entry p1_entry exec_cmd p1_cmd", () => {
    expect(resolveCommand({ imageEntrypoint: execEntry, imageCmd: execCmd }).args).toEqual(["exec_entry", "p1_entry", "exec_cmd", "p1_cmd"]);
  });
  it("ENTRYPOINT exec form, CMD shell form: exec_entry p1_entry /bin/sh -c exec_cmd p1_cmd", () => {
    expect(resolveCommand({ imageEntrypoint: execEntry, imageCmd: shellCmd }).args).toEqual([
      "exec_entry",
      "p1_entry",
      "/bin/sh",
      "-c",
      "exec_cmd p1_cmd",
    ]);
  });
});

// Docker docs, `docker run` reference, "--entrypoint": it overrides the image's ENTRYPOINT and
// clears its CMD; "--entrypoint=''" resets the entrypoint.
describe("resolveCommand — options over the image", () => {
  it("a cmd in the options replaces the image's CMD and keeps its ENTRYPOINT", () => {
    expect(resolveCommand({ imageEntrypoint: execEntry, imageCmd: execCmd, cmd: ["x"] }).args).toEqual(["exec_entry", "p1_entry", "x"]);
  });
  it("an entrypoint in the options drops the image's CMD", () => {
    const r = resolveCommand({ imageEntrypoint: execEntry, imageCmd: execCmd, entrypoint: "/bin/true" });
    expect(r.args).toEqual(["/bin/true"]);
    expect(r.cmd).toEqual([]);
  });
  it("an entrypoint and a cmd in the options are both used", () => {
    expect(resolveCommand({ imageCmd: execCmd, entrypoint: ["/bin/echo", "-n"], cmd: ["hi"] }).args).toEqual(["/bin/echo", "-n", "hi"]);
  });
  it('--entrypoint "" clears the entrypoint and runs the given cmd', () => {
    const r = resolveCommand({ imageEntrypoint: execEntry, imageCmd: execCmd, entrypoint: "", cmd: ["sh"] });
    expect(r.entrypoint).toEqual([]);
    expect(r.args).toEqual(["sh"]);
  });
  it('--entrypoint "" with no cmd leaves nothing to run: error, as in Docker', () => {
    expect(() => resolveCommand({ imageEntrypoint: execEntry, imageCmd: execCmd, entrypoint: "" })).toThrowError(/no command specified/);
  });
  it("an empty cmd in the options keeps the image's CMD (Docker treats it as unset)", () => {
    expect(resolveCommand({ imageCmd: execCmd, cmd: [] }).args).toEqual(execCmd);
  });
  it("shellForm uses the image's SHELL", () => {
    expect(shellForm("dir", ["cmd", "/S", "/C"])).toEqual(["cmd", "/S", "/C", "dir"]);
  });
});
