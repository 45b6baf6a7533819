import { describe, expect, it } from "vitest";
import { stepCacheKey } from "../../../src/build/cache-key.js";
import { parseDockerfile } from "../../../src/build/dockerfile-parser.js";
import { evaluateStage, type CopyStep, type ImageRunConfig, type RunStep, type WorkdirStep } from "../../../src/build/stage-evaluator.js";

const base: ImageRunConfig = { Env: ["PATH=/usr/bin:/bin"] };

function steps(text: string, buildArgs: Record<string, string> = {}) {
  return evaluateStage(parseDockerfile(`FROM x\n${text}`).instructions.slice(1), { baseConfig: base, buildArgs, stageNames: ["x"] }).steps;
}
function lastRun(text: string, buildArgs: Record<string, string> = {}): RunStep {
  return steps(text, buildArgs).filter((s): s is RunStep => s.kind === "run").at(-1)!;
}
function lastCopy(text: string): CopyStep {
  return steps(text).filter((s): s is CopyStep => s.kind === "copy").at(-1)!;
}
const runKey = (text: string, buildArgs: Record<string, string> = {}, parent = "sha256:base"): string =>
  stepCacheKey({ parent, step: lastRun(text, buildArgs), mountDigests: { context: "sha256:ctx" } });
const copyKey = (text: string, sourceDigest = "sha256:content"): string => stepCacheKey({ parent: "sha256:base", step: lastCopy(text), sourceDigest });

describe("RUN keys", () => {
  it("are stable and shaped as digests", () => {
    expect(runKey("RUN make")).toBe(runKey("RUN make"));
    expect(runKey("RUN make")).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("change with the parent, command, env, user, workdir, args, mounts, network and security", () => {
    const variants = [
      runKey("RUN make"),
      runKey("RUN make", {}, "sha256:other"),
      runKey("RUN make install"),
      runKey(`RUN ["make"]`),
      runKey("ENV A=1\nRUN make"),
      runKey("USER nobody\nRUN make"),
      runKey("WORKDIR /src\nRUN make"),
      runKey("ARG V\nRUN make"),
      runKey("ARG V\nRUN make", { V: "1" }),
      runKey("ARG V\nRUN make", { V: "2" }),
      runKey("RUN --mount=type=cache,target=/c make"),
      runKey("RUN --mount=type=cache,target=/c,id=other make"),
      runKey("RUN --mount=type=secret,id=s make"),
      runKey("RUN --mount=type=bind,target=/src make"),
      runKey("RUN --network=none make"),
      runKey("RUN --security=insecure make"),
      runKey('SHELL ["/bin/bash", "-c"]\nRUN make'),
      runKey("RUN <<EOF\nmake\nEOF"),
    ];
    expect(new Set(variants).size).toBe(variants.length);
  });

  it("ignore metadata instructions that do not change what RUN runs with, and undeclared build args", () => {
    const plain = runKey("RUN make");
    expect(runKey("LABEL a=b\nEXPOSE 80\nCMD x\nRUN make")).toBe(plain);
    expect(runKey("RUN make", { UNDECLARED: "x", HTTP_PROXY: "http://127.0.0.1:3128" })).toBe(plain);
    expect(runKey("ARG HTTP_PROXY\nRUN make", { HTTP_PROXY: "http://127.0.0.1:3128" })).not.toBe(plain);
  });

  it("do not depend on the order of ENV keys", () => {
    expect(runKey("ENV A=1 B=2\nRUN make")).toBe(runKey("ENV B=2 A=1\nRUN make"));
  });

  it("need the digest of a bind mount's source", () => {
    expect(() => stepCacheKey({ parent: "p", step: lastRun("RUN --mount=type=bind,from=x,target=/x make") })).toThrow(/no digest given/);
  });
});

describe("COPY keys", () => {
  it("change with content, destination, and every flag that changes the result", () => {
    const variants = [
      copyKey("COPY a /dst/"),
      copyKey("COPY a /dst/", "sha256:changed"),
      copyKey("COPY a /other/"),
      copyKey("WORKDIR /w\nCOPY a dst/"),
      copyKey("COPY --chown=1 a /dst/"),
      copyKey("COPY --chmod=600 a /dst/"),
      copyKey("COPY --link a /dst/"),
      copyKey("COPY --exclude=*.md a /dst/"),
      copyKey("COPY --parents a /dst/"),
      copyKey("COPY --from=x a /dst/"),
      copyKey("ADD a /dst/"),
      copyKey("ADD --unpack=false a /dst/"),
    ];
    expect(new Set(variants).size).toBe(variants.length);
  });

  it("ignore USER and ENV, which COPY does not use", () => {
    expect(copyKey("USER nobody\nENV A=1\nCOPY a /dst/")).toBe(copyKey("COPY a /dst/"));
  });

  it("cover inline heredoc content and need the sources' digest for file sources", () => {
    const a = stepCacheKey({ parent: "p", step: lastCopy("COPY <<EOF /f\none\nEOF") });
    const b = stepCacheKey({ parent: "p", step: lastCopy("COPY <<EOF /f\ntwo\nEOF") });
    expect(a).not.toBe(b);
    expect(() => stepCacheKey({ parent: "p", step: lastCopy("COPY a /b") })).toThrow(/needs the sources' digest/);
  });
});

describe("WORKDIR keys", () => {
  it("cover the path and the user", () => {
    const wd = (text: string): string => stepCacheKey({ parent: "p", step: steps(text).filter((s): s is WorkdirStep => s.kind === "workdir").at(-1)! });
    expect(wd("WORKDIR /a")).toBe(wd("WORKDIR /a"));
    expect(wd("WORKDIR /a")).not.toBe(wd("WORKDIR /b"));
    expect(wd("WORKDIR /a")).not.toBe(wd("USER u\nWORKDIR /a"));
  });
});
