import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../../src/common/berth-error.js";
import { findStage, planBuild, platformArgs, parsePlatform, formatPlatform, stageReferences } from "../../../src/build/build-plan.js";
import { parseDockerfile } from "../../../src/build/dockerfile-parser.js";

const fixtures = fileURLToPath(new URL("../../fixtures/dockerfiles/", import.meta.url));
const amd64 = { os: "linux", architecture: "amd64" };
const arm64 = { os: "linux", architecture: "arm64", variant: "v8" };

function errorOf(fn: () => unknown): { code: string; message: string; context: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    if (!isBerthError(error)) throw error;
    return { code: error.code, message: error.message, context: error.context };
  }
  throw new Error("expected an error");
}

describe("global ARGs and FROM", () => {
  it("expands FROM with global ARGs, build args overriding defaults", () => {
    const df = "ARG TAG=1.0\nARG IMG=app:${TAG}\nFROM ${IMG} AS one\nFROM base:$TAG\n";
    const plan = planBuild(df, { platform: amd64, buildPlatform: amd64 });
    expect(plan.metaArgs).toEqual([
      { name: "TAG", value: "1.0" },
      { name: "IMG", value: "app:1.0" },
    ]);
    expect(plan.stages.map((s) => s.base)).toEqual([
      { kind: "image", reference: "app:1.0" },
      { kind: "image", reference: "base:1.0" },
    ]);
    const over = planBuild(df, { buildArgs: { TAG: "2.0" }, platform: amd64, buildPlatform: amd64 });
    expect(over.stages[1]!.base).toEqual({ kind: "image", reference: "base:2.0" });
  });

  it("makes the platform args available to FROM and --platform without declaring them", () => {
    const plan = planBuild("FROM --platform=$BUILDPLATFORM img-$TARGETARCH\n", { platform: arm64, buildPlatform: amd64 });
    expect(plan.stages[0]!.platform).toBe("linux/amd64");
    expect(plan.stages[0]!.base).toEqual({ kind: "image", reference: "img-arm64" });
    expect(plan.platformArgs).toEqual({
      TARGETPLATFORM: "linux/arm64/v8",
      TARGETOS: "linux",
      TARGETARCH: "arm64",
      TARGETVARIANT: "v8",
      BUILDPLATFORM: "linux/amd64",
      BUILDOS: "linux",
      BUILDARCH: "amd64",
      BUILDVARIANT: "",
    });
  });

  it("treats scratch (any case) specially and refuses an empty base", () => {
    expect(planBuild("FROM Scratch\n").stages[0]!.base).toEqual({ kind: "scratch" });
    expect(errorOf(() => planBuild("ARG X\nFROM $X\n")).message).toMatch(/should not be blank/);
  });

  it("refuses an instruction other than ARG before the first FROM, and a file without FROM", () => {
    expect(errorOf(() => planBuild("RUN x\nFROM a\n")).code).toBe("BERTH_DOCKERFILE_SYNTAX");
    expect(errorOf(() => planBuild("ARG x\n")).message).toMatch(/no FROM/);
  });

  it("lists build args no ARG consumed, but never the proxy or platform ones", () => {
    const plan = planBuild("ARG A\nFROM x\nARG B\n", { buildArgs: { A: "1", B: "2", C: "3", HTTP_PROXY: "p", no_proxy: "n", TARGETARCH: "x" } });
    expect(plan.unusedBuildArgs).toEqual(["C"]);
  });
});

describe("stages and the dependency graph", () => {
  const multi = `FROM golang AS build
RUN make
FROM build AS test
RUN make test
FROM alpine AS tools
FROM debian AS assets
RUN --mount=type=bind,from=tools,source=/bin,target=/t cp /t/x /x
FROM scratch
COPY --from=build /out /out
COPY --from=assets /x /x
COPY --from=nginx:latest /etc/nginx/nginx.conf /etc/
COPY --from=0 /other /other
`;

  it("resolves stage bases by name, case-insensitively", () => {
    const plan = planBuild(multi);
    expect(plan.stages.map((s) => [s.index, s.name, s.base.kind])).toEqual([
      [0, "build", "image"],
      [1, "test", "stage"],
      [2, "tools", "image"],
      [3, "assets", "image"],
      [4, undefined, "scratch"],
    ]);
    expect(plan.stages[1]!.base).toEqual({ kind: "stage", index: 0, name: "build" });
    expect(planBuild("FROM a AS One\nFROM ONE\n").stages[1]!.base).toEqual({ kind: "stage", index: 0, name: "one" });
  });

  it("collects FROM, COPY --from (name, index, image) and RUN --mount from= dependencies", () => {
    const plan = planBuild(multi);
    expect(plan.stages[3]!.dependencies).toEqual([2]);
    expect(plan.stages[4]!.dependencies).toEqual([0, 3]);
    expect(plan.stages[4]!.imageDependencies).toEqual(["nginx:latest"]);
  });

  it("prunes stages the target does not need and orders the rest in concurrent groups", () => {
    const plan = planBuild(multi);
    expect(plan.target).toBe(4);
    expect(plan.needed).toEqual([0, 2, 3, 4]);
    expect(plan.groups).toEqual([[0, 2], [3], [4]]);
    expect(plan.order).toEqual([0, 2, 3, 4]);
    const test = planBuild(multi, { target: "TEST" });
    expect(test.needed).toEqual([0, 1]);
    expect(test.groups).toEqual([[0], [1]]);
    expect(planBuild(multi, { target: "tools" }).needed).toEqual([2]);
    // As in BuildKit, a target is a name, never an index.
    expect(() => planBuild(multi, { target: "2" })).toThrow(/target stage "2" could not be found/);
  });

  it("names an unknown target and lists the stages", () => {
    const e = errorOf(() => planBuild(multi, { target: "prod" }));
    expect(e.code).toBe("BERTH_BUILD_STAGE_NOT_FOUND");
    expect(e.message).toMatch(/target stage "prod" could not be found \(stages: build, test, tools, assets\)/);
  });

  it("refuses a stage index that does not exist", () => {
    const e = errorOf(() => planBuild("FROM a\nCOPY --from=3 /x /x\n"));
    expect(e.code).toBe("BERTH_BUILD_STAGE_NOT_FOUND");
    expect(e.context.line).toBe(2);
  });

  it("names the stages of a cycle, even among stages the target does not need", () => {
    const df = "FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nCOPY --from=one /y /y\nFROM c\n";
    const e = errorOf(() => planBuild(df));
    expect(e.code).toBe("BERTH_BUILD_STAGE_CYCLE");
    expect(e.message).toMatch(/circular dependency detected on stage: one -> two -> one/);
    expect(errorOf(() => planBuild("FROM x AS self\nCOPY --from=self /a /a\n")).code).toBe("BERTH_BUILD_STAGE_CYCLE");
  });

  it("warns about a duplicate stage name and resolves references to the last one", () => {
    const plan = planBuild("FROM a AS x\nFROM b AS x\nFROM x\n");
    expect(plan.warnings.map((w) => w.line)).toEqual([2]);
    expect(plan.stages[2]!.base).toEqual({ kind: "stage", index: 1, name: "x" });
  });

  it("refuses COPY --from a later stage once needed, as BuildKit does, but lets RUN --mount use one", () => {
    const df = "FROM a AS first\nCOPY --from=later /x /x\nFROM b AS later\n";
    const e = errorOf(() => planBuild(df, { target: "first" }));
    expect(e.code).toBe("BERTH_BUILD_STAGE_NOT_FOUND");
    expect(e.message).toMatch(/cannot copy from stage "later", it needs to be defined before current stage "first"/);
    expect(planBuild(df, { target: "later" }).needed).toEqual([1]);
    const mount = planBuild("FROM a AS first\nRUN --mount=from=later,target=/l x\nFROM b AS later\n", { target: "first" });
    expect(mount.groups).toEqual([[1], [0]]);
  });

  it("resolves FROM against earlier stages only", () => {
    const plan = planBuild("FROM later AS first\nFROM x AS later\n");
    expect(plan.stages[0]!.base).toEqual({ kind: "image", reference: "later" });
  });

  it("does not expand --from", () => {
    const plan = planBuild("ARG S=one\nFROM a AS one\nFROM b\nCOPY --from=$S /x /x\n");
    expect(plan.stages[1]!.imageDependencies).toEqual(["$S"]);
  });

  it("plans the real-world multi-stage fixtures", () => {
    const go = planBuild(readFileSync(`${fixtures}go-multistage.Dockerfile`, "utf8"), { platform: arm64, buildPlatform: amd64 });
    expect(go.stages.map((s) => s.name)).toEqual(["build", "test", "final"]);
    expect(go.stages[0]!.base).toEqual({ kind: "image", reference: "golang:1.22" });
    expect(go.stages[0]!.platform).toBe("linux/amd64");
    expect(go.stages[2]!.base).toEqual({ kind: "image", reference: "gcr.io/distroless/static-debian12" });
    expect(go.needed).toEqual([0, 2]);
    const node = planBuild(readFileSync(`${fixtures}node-multistage.Dockerfile`, "utf8"));
    expect(node.groups).toEqual([[0], [1, 2], [3]]);
  });
});

describe("helpers", () => {
  it("finds stages by name first, then index, else an image", () => {
    const stages = [{ name: "a" }, { name: undefined }, { name: "2" }];
    expect(findStage(stages, "A")).toBe(0);
    expect(findStage(stages, "1")).toBe(1);
    expect(findStage(stages, "2")).toBe(2);
    expect(findStage(stages, "busybox")).toBeUndefined();
  });
  it("parses and formats platforms", () => {
    expect(parsePlatform("linux/arm/v7")).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(formatPlatform(parsePlatform("Linux/AMD64"))).toBe("linux/amd64");
    expect(() => parsePlatform("linux")).toThrow(/invalid platform/);
    expect(platformArgs(amd64, amd64).TARGETVARIANT).toBe("");
  });
  it("reads stage references from flags", () => {
    const p = parseDockerfile('FROM x\nRUN --mount=type=cache,from="st",target=/c x\nCOPY --from=b a b\n');
    expect(stageReferences(p.instructions[1]!)).toEqual(["st"]);
    expect(stageReferences(p.instructions[2]!)).toEqual(["b"]);
  });
});
