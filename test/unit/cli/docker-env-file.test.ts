import { describe, expect, it } from "vitest";
import { parseDockerEnvFile, readDockerEnvFile } from "../../../src/cli/docker-env-file.js";

describe("docker run --env-file", () => {
  it("takes lines literally: quotes stay, nothing is interpolated, comments only at line start", () => {
    const text = ["# comment", "", "A=1", `B="quoted"`, "C=$HOME", "D=x # not a comment", "   E=indented", "F="].join("\n");
    expect(parseDockerEnvFile(text, "e.env", {})).toEqual({ A: "1", B: '"quoted"', C: "$HOME", D: "x # not a comment", E: "indented", F: "" });
  });

  it("a BOM on the first line is dropped", () => {
    expect(parseDockerEnvFile("\uFEFFA=1\n", "e.env", {})).toEqual({ A: "1" });
  });

  it("a bare name takes the environment's value or is left out", () => {
    expect(parseDockerEnvFile("USER\nNOPE\n", "e.env", { USER: "root" })).toEqual({ USER: "root" });
  });

  it("refuses a line with no name or a name with spaces, naming the line", () => {
    expect(() => parseDockerEnvFile("=x", "e.env", {})).toThrow("e.env:1: no variable name on line '=x'");
    expect(() => parseDockerEnvFile("A=1\nMY VAR=1", "e.env", {})).toThrow("e.env:2: variable 'MY VAR' contains whitespaces");
  });

  it("a missing file says so", async () => {
    await expect(readDockerEnvFile("/nonexistent/e.env", {})).rejects.toThrow("open /nonexistent/e.env: no such file or directory");
  });
});
