import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { mergeConfig, normalizeSignal, signalNumber } from "../../../src/runtime/container-config/merge-config.js";
import type { ImageRuntimeConfig } from "../../../src/runtime/container-config/image-config.js";

const image: ImageRuntimeConfig = {
  Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PGDATA=/var/lib/postgresql/data"],
  Entrypoint: ["docker-entrypoint.sh"],
  Cmd: ["postgres"],
  WorkingDir: "/srv",
  User: "postgres",
  ExposedPorts: { "5432/tcp": {} },
  Volumes: { "/var/lib/postgresql/data": {} },
  StopSignal: "SIGINT",
  Labels: { maintainer: "x", tier: "db" },
  Healthcheck: { Test: ["CMD-SHELL", "pg_isready"], Interval: 10e9, Retries: 5 },
};

describe("mergeConfig (moby daemon/commit.go merge)", () => {
  it("takes everything from the image when the options say nothing", () => {
    const c = mergeConfig(image, {}, "0123456789abcdef0123");
    expect(c.args).toEqual(["docker-entrypoint.sh", "postgres"]);
    expect(c.env).toEqual(image.Env);
    expect(c.workingDir).toBe("/srv");
    expect(c.user).toBe("postgres");
    expect(c.exposedPorts).toEqual(["5432/tcp"]);
    expect(c.volumes).toEqual(["/var/lib/postgresql/data"]);
    expect(c.stopSignal).toBe("SIGINT");
    expect(c.stopTimeout).toBe(10);
    // docker run reference: the hostname defaults to the first 12 characters of the id.
    expect(c.hostname).toBe("0123456789ab");
    expect(c.shell).toEqual(["/bin/sh", "-c"]);
  });

  it("env: the options override by name and come first, the image's others follow", () => {
    const c = mergeConfig(image, { env: { LANG: "de_DE.UTF-8", EXTRA: "1" } });
    expect(c.env).toEqual(["LANG=de_DE.UTF-8", "EXTRA=1", "PATH=/usr/local/bin:/usr/bin:/bin", "PGDATA=/var/lib/postgresql/data"]);
  });

  it("env array form: a bare NAME comes from the host environment, or is dropped (docker run -e NAME)", () => {
    const c = mergeConfig({}, { env: ["A=1", "FROM_HOST", "MISSING", "A=2"], hostEnv: { FROM_HOST: "h" }, cmd: ["x"] });
    expect(c.env).toEqual(["A=2", "FROM_HOST=h"]);
  });

  it("labels: the image's, with the options' on top", () => {
    expect(mergeConfig(image, { labels: { tier: "cache", team: "a" } }).labels).toEqual({ maintainer: "x", tier: "cache", team: "a" });
  });

  it("workdir defaults to / and must be absolute", () => {
    expect(mergeConfig({ Cmd: ["x"] }).workingDir).toBe("/");
    const error = (() => {
      try {
        mergeConfig({ Cmd: ["x"] }, { workingDir: "rel" });
      } catch (e) {
        return e;
      }
    })();
    expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });

  it("user defaults to root (empty) and the options win over the image", () => {
    expect(mergeConfig({ Cmd: ["x"] }).user).toBe("");
    expect(mergeConfig(image, { user: "1000:1000" }).user).toBe("1000:1000");
  });

  it("exposed ports: the union, normalised to port/proto", () => {
    expect(mergeConfig(image, { exposedPorts: [8080, "53/udp", "5432"] }).exposedPorts).toEqual(["53/udp", "5432/tcp", "8080/tcp"]);
    expect(() => mergeConfig(image, { exposedPorts: ["70000"] })).toThrowError(/invalid port/);
  });

  it("volumes: the image's and the options' anonymous volumes", () => {
    expect(mergeConfig(image, { volumes: ["/cache"] }).volumes).toEqual(["/var/lib/postgresql/data", "/cache"]);
  });

  it("stop signal defaults to SIGTERM and accepts Docker's spellings", () => {
    expect(mergeConfig({ Cmd: ["x"] }).stopSignal).toBe("SIGTERM");
    expect(mergeConfig(image, { stopSignal: "quit" }).stopSignal).toBe("SIGQUIT");
    expect(normalizeSignal(9)).toBe("9");
    expect(normalizeSignal("SIGRTMIN+3")).toBe("SIGRTMIN+3");
    expect(signalNumber("SIGRTMIN+3")).toBe(37);
    expect(signalNumber("SIGKILL")).toBe(9);
    expect(() => normalizeSignal("SIGNOPE")).toThrowError(/invalid signal/);
  });

  it("healthcheck: the options' fields override the image's one by one, Docker's defaults fill the rest", () => {
    const c = mergeConfig(image, { healthcheck: { timeout: "3s" } });
    expect(c.healthcheck).toEqual({ test: ["CMD-SHELL", "pg_isready"], interval: 10e9, timeout: 3e9, startPeriod: 0, startInterval: 5e9, retries: 5 });
    expect(mergeConfig(image, { healthcheck: { test: ["curl", "-f", "http://x"] } }).healthcheck?.test).toEqual(["CMD", "curl", "-f", "http://x"]);
    expect(mergeConfig(image, { healthcheck: { test: "exit 0" } }).healthcheck?.test).toEqual(["CMD-SHELL", "exit 0"]);
  });

  it("healthcheck: NONE or false disables the image's", () => {
    expect(mergeConfig(image, { healthcheck: { test: ["NONE"] } }).healthcheck).toBeUndefined();
    expect(mergeConfig(image, { healthcheck: false }).healthcheck).toBeUndefined();
    expect(() => mergeConfig(image, { healthcheck: { interval: "10us" } })).toThrowError(/less than 1ms/);
  });

  it("the image's SHELL is kept for CMD-SHELL health checks", () => {
    expect(mergeConfig({ Cmd: ["x"], Shell: ["/bin/bash", "-c"] }).shell).toEqual(["/bin/bash", "-c"]);
  });
});
