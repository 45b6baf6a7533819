import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { parseByteSize, parseRunMount, parseRunNetwork, parseRunSecurity, splitCsv } from "../../../src/build/run-mounts.js";

describe("parseRunMount", () => {
  it("defaults to a read-only bind mount of the context", () => {
    expect(parseRunMount("target=/src")).toMatchObject({ type: "bind", target: "/src", readonly: true, from: undefined, source: undefined });
    expect(parseRunMount("type=bind,src=go.sum,dst=go.sum,rw")).toMatchObject({ source: "go.sum", target: "go.sum", readonly: false });
    expect(parseRunMount("type=bind,from=builder,source=/out,destination=/in,readwrite=true")).toMatchObject({ from: "builder", readonly: false });
  });

  it("gives cache mounts their defaults: id from target, shared, 0755, root", () => {
    expect(parseRunMount("type=cache,target=/root/.cache")).toEqual({
      type: "cache",
      target: "/root/.cache",
      source: undefined,
      from: undefined,
      readonly: false,
      id: "/root/.cache",
      sharing: "shared",
      mode: 0o755,
      uid: 0,
      gid: 0,
      required: false,
      env: undefined,
      size: undefined,
    });
    expect(parseRunMount("type=cache,id=npm,target=/n,sharing=locked,mode=0700,uid=1000,gid=1000,ro")).toMatchObject({
      id: "npm",
      sharing: "locked",
      mode: 0o700,
      uid: 1000,
      gid: 1000,
      readonly: true,
    });
  });

  it("gives secret mounts an id from the target, a default target from the id, and env", () => {
    expect(parseRunMount("type=secret,id=aws")).toMatchObject({ type: "secret", id: "aws", target: "/run/secrets/aws", mode: 0o400, required: false });
    expect(parseRunMount("type=secret,target=/root/.npmrc")).toMatchObject({ id: ".npmrc", target: "/root/.npmrc" });
    expect(parseRunMount("type=secret,id=token,env=TOKEN,required")).toMatchObject({ target: undefined, env: "TOKEN", required: true });
    expect(parseRunMount("type=secret,id=t,required=false")).toMatchObject({ required: false });
  });

  it("gives ssh mounts the default id", () => {
    expect(parseRunMount("type=ssh")).toMatchObject({ type: "ssh", id: "default", target: undefined, mode: 0o600 });
  });

  it("parses tmpfs size as Docker's RAMInBytes", () => {
    expect(parseRunMount("type=tmpfs,target=/t,size=64m").size).toBe(64 * 1024 * 1024);
    expect(parseByteSize("1g")).toBe(1024 ** 3);
    expect(parseByteSize("512")).toBe(512);
    expect(parseByteSize("1.5KiB")).toBe(1536);
  });

  it("expands each field's value after the CSV split", () => {
    const env: Record<string, string> = { DIR: "/cache dir", ID: "x" };
    const m = parseRunMount('type=cache,"target=$DIR",id=${ID}', (t) => t.replace(/\$\{?(\w+)\}?/g, (_, n: string) => env[n] ?? ""));
    expect([m.target, m.id]).toEqual(["/cache dir", "x"]);
  });

  it("accepts CSV quoting", () => {
    expect(splitCsv('type=bind,"target=/a,b",source=x')).toEqual(["type=bind", "target=/a,b", "source=x"]);
    expect(parseRunMount('type=bind,"target=/with,comma"').target).toBe("/with,comma");
  });

  it("refuses what Docker refuses", () => {
    const bad: [string, RegExp][] = [
      ["type=volume,target=/x", /unsupported mount type "volume"/],
      ["type=cache", /requires a target/],
      ["target=/x,bogus=1", /unexpected key 'bogus'/],
      ["target=/x,novalue", /must be a key=value pair/],
      ["type=cache,target=/x,sharing=sometimes", /unsupported sharing value/],
      ["type=bind,target=/x,sharing=shared", /only supported for cache/],
      ["type=cache,target=/x,mode=999", /invalid value for mode/],
      ["type=cache,target=/x,uid=-1", /invalid value for uid/],
      ["type=tmpfs,target=/x,from=stage", /'from' is not supported for tmpfs/],
      ["type=bind,target=/x,size=1m", /size is only supported for tmpfs/],
      ["type=bind,target=/x,env=X", /env is only supported for secret/],
      ["type=bind,target=/x,required", /required is only supported/],
      ["type=bind,target=/x,mode=0644", /not supported for bind/],
      ["type=secret", /requires an id or a target/],
      ["type=bind,target=/x,ro=maybe", /invalid value for ro/],
      ['type=bind,"target=/x', /extraneous or missing "/],
    ];
    for (const [value, re] of bad) {
      let caught: unknown;
      try {
        parseRunMount(value);
      } catch (error) {
        caught = error;
      }
      expect(hasErrorCode(caught, "BERTH_BUILD_INVALID_FLAG"), value).toBe(true);
      expect((caught as Error).message, value).toMatch(re);
    }
  });
});

describe("RUN --network and --security", () => {
  it("accepts Docker's values only", () => {
    expect(["default", "none", "host"].map(parseRunNetwork)).toEqual(["default", "none", "host"]);
    expect(() => parseRunNetwork("bridge")).toThrow(/unsupported network mode "bridge"/);
    expect(parseRunSecurity("insecure")).toBe("insecure");
    expect(() => parseRunSecurity("privileged")).toThrow(/unsupported security mode/);
  });
});
