import { describe, expect, it } from "vitest";
import { generateContainerName, generatedNameCount, validateContainerName } from "../../../src/runtime/container-config/container-name.js";

// Docker: names match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (daemon/names.go validContainerNamePattern).
describe("container names", () => {
  it.each(["db", "my-app_1.2", "/leading-slash", "A9"])("accepts %s", (name) => {
    expect(validateContainerName(name)).toBe(name.replace(/^\//, ""));
  });
  it.each(["a", "-x", "_x", ".x", "has space", "x/y", "émile", ""])("refuses %j with Docker's message", (name) => {
    expect(() => validateContainerName(name)).toThrowError(/Invalid container name/);
  });
  it("generates adjective_surname names that are valid", () => {
    for (let i = 0; i < 100; i++) {
      const name = generateContainerName();
      expect(name).toMatch(/^[a-z]+_[a-z_]+$/);
      expect(validateContainerName(name)).toBe(name);
    }
    expect(generatedNameCount).toBe(2500);
  });
  it("appends a digit on a retry, as Docker does after a collision", () => {
    expect(generateContainerName(1, () => 0)).toBe("agile_allen0");
  });
});
