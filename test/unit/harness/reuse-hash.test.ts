import { describe, expect, it } from "vitest";
import { reuseHash, reuseHashLabel } from "../../../src/harness/reuse.js";

describe("reuseHash", () => {
  const base = { image: "redis:7", command: ["redis-server", "--appendonly", "yes"], env: { A: "1", B: "2" }, exposedPorts: [6379] };

  it("does not depend on key order, at any depth", () => {
    expect(reuseHash({ exposedPorts: [6379], env: { B: "2", A: "1" }, command: base.command, image: "redis:7" })).toBe(reuseHash(base));
  });

  it("depends on array order, values and every semantic option", () => {
    const hash = reuseHash(base);
    expect(reuseHash({ ...base, command: ["redis-server", "yes", "--appendonly"] })).not.toBe(hash);
    expect(reuseHash({ ...base, env: { A: "1", B: "3" } })).not.toBe(hash);
    expect(reuseHash({ ...base, image: "redis:8" })).not.toBe(hash);
    expect(reuseHash({ ...base, exposedPorts: [6379, 6380] })).not.toBe(hash);
  });

  it("ignores how we wait, log, clean up and pull", () => {
    const hash = reuseHash(base);
    expect(reuseHash({ ...base, waitStrategy: { describe: () => "x" }, startupTimeout: 5, logConsumer: () => {}, autoCleanup: false, reuse: true, pullPolicy: "always" })).toBe(hash);
  });

  it("treats undefined and empty collections as absent", () => {
    expect(reuseHash({ ...base, labels: {}, volumes: [], user: undefined })).toBe(reuseHash(base));
  });

  it("ignores its own label and the session label", () => {
    expect(reuseHash({ ...base, labels: { [reuseHashLabel]: "old", "org.berth.session-id": "s1" } })).toBe(reuseHash(base));
    expect(reuseHash({ ...base, labels: { app: "x" } })).not.toBe(reuseHash(base));
  });

  it("honours an explicit exclusion list", () => {
    expect(reuseHash({ ...base, name: "a" }, { exclude: ["name"] })).toBe(reuseHash({ ...base, name: "b" }, { exclude: ["name"] }));
    expect(reuseHash({ ...base, name: "a" })).not.toBe(reuseHash({ ...base, name: "b" }));
  });
});
