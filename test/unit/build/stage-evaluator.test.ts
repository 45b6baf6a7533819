import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../../src/common/berth-error.js";
import { planBuild } from "../../../src/build/build-plan.js";
import { parseDockerfile } from "../../../src/build/dockerfile-parser.js";
import { goDuration, goQuote, goQuoteRune } from "../../../src/build/go-format.js";
import {
  absoluteDestination,
  defaultPathEnv,
  evaluateStage,
  normalizeWorkdir,
  parseExposedPorts,
  type CopyStep,
  type EvaluateStageOptions,
  type ImageRunConfig,
  type RunStep,
} from "../../../src/build/stage-evaluator.js";

const fixtures = fileURLToPath(new URL("../../fixtures/dockerfiles/", import.meta.url));
const debianConfig: ImageRunConfig = { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["bash"] };

/** Evaluates the instructions after the first FROM of `text`. */
function evaluate(text: string, options: EvaluateStageOptions = { baseConfig: debianConfig }) {
  const parsed = parseDockerfile(`FROM base\n${text}`);
  return evaluateStage(parsed.instructions.slice(1), options);
}

function run(text: string, options?: EvaluateStageOptions): RunStep {
  return evaluate(text, options).steps.find((s) => s.kind === "run") as RunStep;
}

describe("the image config", () => {
  it("starts a scratch stage with BuildKit's PATH and WorkingDir /", () => {
    expect(evaluate("", {}).config).toEqual({ Env: [defaultPathEnv], WorkingDir: "/" });
  });

  it("adds the default PATH to a base image without one", () => {
    expect(evaluate("", { baseConfig: { Env: ["A=1"] } }).config.Env).toEqual(["A=1", defaultPathEnv]);
  });

  it("keeps BuildKit's SBOM switches out of the environment", () => {
    expect(run("ARG BUILDKIT_SBOM_SCAN_STAGE=true\nRUN x").environment.env).toEqual(debianConfig.Env);
  });

  it("applies ENV with one value per instruction and replaces keys in place", () => {
    const r = evaluate("ENV A=1 B=$A\nENV A=2 C=${A}x PATH=/opt:$PATH");
    expect(r.config.Env).toEqual(["PATH=/opt:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=2", "B=", "C=1x"]);
    expect(r.history.map((h) => h.created_by)).toEqual(["ENV A=1 B=", "ENV A=2 C=1x PATH=/opt:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
  });

  it("unquotes ENV and LABEL values, legacy form included", () => {
    const r = evaluate(`ENV X="a b" Y='$NOPE' Z=c\\ d\nENV OLD some "quoted" text\nLABEL "k 1"="v 1" k2=$X`);
    expect(r.config.Env!.slice(1)).toEqual(["X=a b", "Y=$NOPE", "Z=c d", "OLD=some quoted text"]);
    expect(r.config.Labels).toEqual({ "k 1": "v 1", k2: "a b" });
    expect(r.history[2]!.created_by).toBe("LABEL k 1=v 1 k2=a b");
  });

  it("resolves WORKDIR against the previous one and makes it a layer unless it is /", () => {
    const r = evaluate("WORKDIR /a\nWORKDIR b/../c\nENV D=d\nWORKDIR $D\nWORKDIR /");
    expect(r.config.WorkingDir).toBe("/");
    expect(r.steps.map((s) => (s.kind === "workdir" ? s.path : s.kind))).toEqual(["/a", "/a/c", "metadata", "/a/c/d", "metadata"]);
    expect(r.history.filter((h) => h.created_by.startsWith("WORKDIR")).map((h) => [h.created_by, h.empty_layer ?? false])).toEqual([
      ["WORKDIR /a", false],
      ["WORKDIR /a/c", false],
      ["WORKDIR /a/c/d", false],
      ["WORKDIR /", true],
    ]);
    expect(normalizeWorkdir(undefined, "rel")).toBe("/rel");
  });

  it("records USER, EXPOSE, VOLUME, STOPSIGNAL and SHELL as BuildKit writes them", () => {
    const r = evaluate(
      `ARG P=8080\nUSER app:app\nEXPOSE 80 $P/udp 443/TCP 7000-7001\nVOLUME ["/data", "/logs"]\nVOLUME /x\nSTOPSIGNAL SIGQUIT\nSHELL ["/bin/bash", "-c"]`,
    );
    expect(r.config).toMatchObject({
      User: "app:app",
      ExposedPorts: { "80/tcp": {}, "8080/udp": {}, "443/tcp": {}, "7000/tcp": {}, "7001/tcp": {} },
      Volumes: { "/data": {}, "/logs": {}, "/x": {} },
      StopSignal: "SIGQUIT",
      Shell: ["/bin/bash", "-c"],
    });
    expect(r.history.map((h) => h.created_by)).toEqual([
      "ARG P=8080",
      "USER app:app",
      "EXPOSE map[443/tcp:{} 7000/tcp:{} 7001/tcp:{} 80/tcp:{} 8080/udp:{}]",
      "VOLUME [/data /logs]",
      "VOLUME [/x]",
      "STOPSIGNAL SIGQUIT",
      "SHELL [/bin/bash -c]",
    ]);
    expect(r.history.every((h) => h.empty_layer === true && h.comment === "buildkit.dockerfile.v0")).toBe(true);
  });

  it("refuses a bad port and a bad stop signal with the line", () => {
    for (const bad of ["EXPOSE 80/foo", "EXPOSE abc", "EXPOSE 70000", "STOPSIGNAL SIGNOPE"]) {
      try {
        evaluate(bad);
        throw new Error(`accepted ${bad}`);
      } catch (error) {
        expect(isBerthError(error) && error.code === "BERTH_DOCKERFILE_SYNTAX" && error.context.line === 2, bad).toBe(true);
      }
    }
    expect(parseExposedPorts(["127.0.0.1:8080:80/udp"])).toEqual(["80/udp"]);
  });

  it("refuses flags on CMD, as BuildKit does", () => {
    expect(() => evaluate("CMD --port 80")).toThrow(/unknown flag: --port/);
  });

  it("combines CMD and ENTRYPOINT as Docker does", () => {
    // An ENTRYPOINT resets the inherited CMD...
    expect(evaluate(`ENTRYPOINT ["/e"]`).config).toMatchObject({ Entrypoint: ["/e"] });
    expect(evaluate(`ENTRYPOINT ["/e"]`).config.Cmd).toBeUndefined();
    // ...but not one set in this stage before it.
    expect(evaluate(`CMD ["c"]\nENTRYPOINT ["/e"]`).config).toMatchObject({ Entrypoint: ["/e"], Cmd: ["c"], ArgsEscaped: true });
    // Shell forms are wrapped in the current SHELL.
    const shell = evaluate(`SHELL ["/bin/bash", "-lc"]\nENTRYPOINT exec app\nCMD echo x`);
    expect(shell.config).toMatchObject({ Entrypoint: ["/bin/bash", "-lc", "exec app"], Cmd: ["/bin/bash", "-lc", "echo x"] });
    expect(shell.history.slice(1).map((h) => h.created_by)).toEqual([`ENTRYPOINT ["/bin/bash" "-lc" "exec app"]`, `CMD ["/bin/bash" "-lc" "echo x"]`]);
    // ENTRYPOINT [] clears the inherited one.
    expect(evaluate("ENTRYPOINT []", { baseConfig: { Env: [defaultPathEnv], Entrypoint: ["/x"], Cmd: ["y"] } }).config).toEqual({ Env: [defaultPathEnv] });
  });

  it("writes HEALTHCHECK with nanosecond durations and Go's %q history", () => {
    const r = evaluate(`HEALTHCHECK --interval=1m30s --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1\nHEALTHCHECK NONE`);
    expect(r.history[0]!.created_by).toBe(`HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] "1m30s" "3s" "0s" "0s" '\\x03'}`);
    expect(r.history[1]!.created_by).toBe(`HEALTHCHECK &{["NONE"] "0s" "0s" "0s" "0s" '\\x00'}`);
    expect(r.config.Healthcheck).toEqual({ Test: ["NONE"] });
    expect(evaluate("HEALTHCHECK --interval=5s --start-interval=500ms CMD [\"true\"]").config.Healthcheck).toEqual({
      Test: ["CMD", "true"],
      Interval: 5e9,
      StartInterval: 5e8,
    });
  });

  it("sets Author from MAINTAINER", () => {
    const r = evaluate("MAINTAINER Jane <j@x>");
    expect(r.author).toBe("Jane <j@x>");
    expect(r.history[0]!.created_by).toBe("MAINTAINER Jane <j@x>");
  });
});

describe("ONBUILD", () => {
  it("stores triggers without history, and runs a base image's triggers first, once", () => {
    const base: ImageRunConfig = { Env: ["PATH=/bin"], OnBuild: ["ENV FROM_TRIGGER=1", "RUN echo triggered"] };
    // (BuildKit runs the triggers of a base stage too: the option exists for callers that must not.)
    const r = evaluate("ONBUILD RUN make\nRUN own", { baseConfig: base });
    expect(r.config.OnBuild).toEqual(["RUN make"]);
    expect(r.config.Env).toEqual(["PATH=/bin", "FROM_TRIGGER=1"]);
    expect(r.steps.map((s) => s.instruction.original)).toEqual(["ENV FROM_TRIGGER=1", "RUN echo triggered", "ONBUILD RUN make", "RUN own"]);
    expect(r.history.map((h) => h.created_by)).toEqual(["ENV FROM_TRIGGER=1", "RUN /bin/sh -c echo triggered # buildkit", "RUN /bin/sh -c own # buildkit"]);
    const noTriggers = evaluate("RUN own", { baseConfig: base, runOnBuildTriggers: false });
    expect(noTriggers.steps).toHaveLength(1);
    expect(noTriggers.config.OnBuild).toBeUndefined();
  });

  it("refuses an invalid trigger in the base image", () => {
    expect(() => evaluate("RUN x", { baseConfig: { OnBuild: ["FROM x"] } })).toThrow(/ONBUILD|trigger|FROM/);
  });
});

describe("ARG scoping", () => {
  const opts = (buildArgs: Record<string, string> = {}): EvaluateStageOptions => ({
    baseConfig: debianConfig,
    buildArgs,
    metaArgs: [
      { name: "GLOBAL", value: "g" },
      { name: "UNSET", value: undefined },
    ],
    platformArgs: { TARGETARCH: "amd64" },
  });

  it("needs a global ARG redeclared in the stage, then takes its value", () => {
    expect(run("RUN echo $GLOBAL", opts()).environment.env).not.toContain("GLOBAL=g");
    const r = run("ARG GLOBAL\nARG TARGETARCH\nRUN echo", opts());
    expect(r.environment.env).toEqual([...debianConfig.Env!, "GLOBAL=g", "TARGETARCH=amd64"]);
    expect(r.history.created_by).toBe("RUN |2 GLOBAL=g TARGETARCH=amd64 /bin/sh -c echo # buildkit");
  });

  it("lets build args override defaults and ENV override ARGs in expansion", () => {
    const r = evaluate("ARG A=default B\nENV A=env\nUSER $A-$B\nRUN x", opts({ B: "given" }));
    expect(r.config.User).toBe("env-given");
    expect((r.steps[3] as RunStep).history.created_by).toBe("RUN |2 A=env B=given /bin/sh -c x # buildkit");
    // ARG never reaches the image's Env.
    expect(r.config.Env).toEqual([...debianConfig.Env!, "A=env"]);
  });

  it("writes an ARG without value in history, and keeps it out of the env", () => {
    const r = evaluate("ARG NOVALUE\nRUN x", opts());
    expect(r.history[0]!.created_by).toBe("ARG NOVALUE");
    expect((r.steps[1] as RunStep).environment.env).toEqual(debianConfig.Env);
    expect((r.steps[1] as RunStep).history.created_by).toBe("RUN |1 NOVALUE= /bin/sh -c x # buildkit");
  });

  it("gives proxy build args to RUN without declaring them, and keeps them out of history", () => {
    const r = run("RUN apt-get update", opts({ HTTP_PROXY: "http://127.0.0.1:3128", FOO: "x" }));
    expect(r.proxyEnv).toEqual(["HTTP_PROXY=http://127.0.0.1:3128"]);
    expect(r.environment.env).not.toContain("HTTP_PROXY=http://127.0.0.1:3128");
    expect(r.history.created_by).toBe("RUN /bin/sh -c apt-get update # buildkit");
  });

  it("names an unset variable required with ${v:?}", () => {
    expect(() => evaluate("WORKDIR ${NOPE:?must be set}")).toThrow(/NOPE: must be set/);
  });
});

describe("RUN", () => {
  it("prepends the shell for the shell form only, and parses mounts, network and security", () => {
    const r = run("ARG CACHE=/c\nRUN --mount=type=cache,target=$CACHE --network=none --security=insecure make");
    expect(r.command).toEqual(["/bin/sh", "-c", "make"]);
    expect(r.mounts[0]).toMatchObject({ type: "cache", target: "/c", id: "/c", sharing: "shared" });
    expect([r.network, r.security]).toEqual(["none", "insecure"]);
    expect(run(`RUN ["/bin/true", "a b"]`).command).toEqual(["/bin/true", "a b"]);
    expect(run(`RUN ["/bin/true", "a b"]`).history.created_by).toBe("RUN /bin/true a b # buildkit");
  });

  it("runs a lone heredoc's body in the shell, a #! one as a file, and hands a complex one to the shell", () => {
    expect(run("RUN <<EOF\necho a\necho b\nEOF").command).toEqual(["/bin/sh", "-c", "echo a\necho b\n"]);
    const shebang = run("RUN <<-EOF\n\t#!/usr/bin/env python3\n\tprint(1)\n\tEOF");
    expect(shebang.files).toEqual([{ path: "/dev/pipes/EOF", content: "#!/usr/bin/env python3\nprint(1)\n", mode: 0o755 }]);
    expect(shebang.command).toEqual(["/bin/sh", "-c", "/dev/pipes/EOF"]);
    const complex = run("RUN cat <<A > /a && cat <<B > /b\n1\nA\n2\nB");
    expect(complex.command).toEqual(["/bin/sh", "-c", "cat <<A > /a && cat <<B > /b\n1\nA\n2\nB"]);
  });

  it("reports a bad mount with its line", () => {
    expect(() => run("RUN --mount=type=nope,target=/x x")).toThrow(/line 2: RUN .*unsupported mount type/);
  });
});

describe("COPY and ADD", () => {
  it("expands sources, destination and flags, resolves --from, and writes BuildKit's history", () => {
    const r = evaluate("ARG SRC=app\nARG OWNER=1000\nWORKDIR /srv\nCOPY --chown=$OWNER:$OWNER --chmod=644 --from=builder $SRC/ ./dest/", {
      baseConfig: debianConfig,
      stageNames: ["builder"],
    });
    const step = r.steps[3] as CopyStep;
    expect(step).toMatchObject({ kind: "copy", keyword: "COPY", sources: ["app/"], destination: "./dest/", absoluteDestination: "/srv/dest/", fromStage: 0 });
    expect(step.flags.chown).toEqual({ user: "1000", group: "1000" });
    expect(step.history.created_by).toBe("COPY --chown=1000:1000 --chmod=644 app/ ./dest/ # buildkit");
    const image = evaluate("COPY --from=nginx:1 /etc/nginx /etc/nginx", { baseConfig: debianConfig, stageNames: ["a"] }).steps[0] as CopyStep;
    expect([image.fromStage, image.fromImage]).toEqual([undefined, "nginx:1"]);
  });

  it("expands an unquoted heredoc body with the build environment, keeping quotes", () => {
    const r = evaluate(`ENV NAME=world\nCOPY <<EOF <<'RAW' /etc/\nhello "$NAME"\nEOF\n$NAME\nRAW`);
    const step = r.steps[1] as CopyStep;
    expect(step.inline).toEqual([
      { name: "EOF", content: 'hello "world"\n' },
      { name: "RAW", content: "$NAME\n" },
    ]);
    expect(step.history.created_by).toBe("COPY <<EOF <<RAW /etc/ # buildkit");
  });

  it("makes destinations absolute keeping a trailing slash", () => {
    expect(absoluteDestination("/w", ".")).toBe("/w/");
    expect(absoluteDestination("/w", "x")).toBe("/w/x");
    expect(absoluteDestination("/w", "/abs/dir/")).toBe("/abs/dir/");
    expect(absoluteDestination("/", "./")).toBe("/");
  });

  it("refuses ADD --checksum for a local source", () => {
    expect(() => evaluate("ADD --checksum=sha256:abc local.tar /")).toThrow(/checksum can't be specified for non-HTTP/);
  });
});

describe("real-world fixtures", () => {
  it("evaluates the postgres-like Dockerfile into the config docker build writes", () => {
    const plan = planBuild(readFileSync(`${fixtures}postgres.Dockerfile`, "utf8"));
    const r = evaluateStage(plan.stages[0]!.instructions, { baseConfig: { Env: [defaultPathEnv], Cmd: ["bash"] } });
    expect(r.config).toEqual({
      Env: [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/16/bin",
        "GOSU_VERSION=1.17",
        "LANG=en_US.utf8",
        "PG_MAJOR=16",
        "PG_VERSION=16.4-1.pgdg120+1",
        "PGDATA=/var/lib/postgresql/data",
      ],
      Volumes: { "/var/lib/postgresql/data": {} },
      Entrypoint: ["docker-entrypoint.sh"],
      StopSignal: "SIGINT",
      ExposedPorts: { "5432/tcp": {} },
      Cmd: ["postgres"],
      ArgsEscaped: true,
    });
    expect(r.history.map((h) => `${h.empty_layer ? "-" : "L"} ${h.created_by.slice(0, 60)}`)).toMatchSnapshot();
  });

  it("evaluates every stage of the node multi-stage build", () => {
    const plan = planBuild(readFileSync(`${fixtures}node-multistage.Dockerfile`, "utf8"));
    const names = plan.stages.map((s) => s.name);
    const base = evaluateStage(plan.stages[0]!.instructions, { baseConfig: { Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_VERSION=20"], Cmd: ["node"], Entrypoint: ["docker-entrypoint.sh"] } });
    // One value per instruction: PNPM_HOME is not yet set when PATH is expanded on the same line.
    expect(base.config.Env).toEqual(["PATH=:/usr/local/bin:/usr/bin:/bin", "NODE_VERSION=20", "PNPM_HOME=/pnpm"]);
    const final = evaluateStage(plan.stages[3]!.instructions, { baseConfig: base.config, stageNames: names, runOnBuildTriggers: false });
    expect(final.config).toMatchObject({
      User: "node",
      ExposedPorts: { "3000/tcp": {} },
      Labels: { "org.opencontainers.image.title": "app", "org.opencontainers.image.description": 'A "quoted" description' },
      Healthcheck: { Test: ["CMD-SHELL", expect.stringContaining("fetch(")], Interval: 30e9, Timeout: 3e9, StartPeriod: 5e9, Retries: 3 },
      Cmd: ["node", "dist/index.js"],
      Entrypoint: ["docker-entrypoint.sh"],
      WorkingDir: "/app",
    });
    const copies = final.steps.filter((s): s is CopyStep => s.kind === "copy");
    expect(copies.map((c) => [c.fromStage, c.absoluteDestination, c.flags.chown?.user ?? null])).toEqual([
      [1, "/app/node_modules", null],
      [2, "/app/dist", "node"],
    ]);
  });
});

describe("more fixtures", () => {
  it("gives the go build stage its platform args, cache and bind mounts", () => {
    const arm64 = { os: "linux", architecture: "arm64" };
    const amd64 = { os: "linux", architecture: "amd64" };
    const plan = planBuild(readFileSync(`${fixtures}go-multistage.Dockerfile`, "utf8"), { platform: arm64, buildPlatform: amd64 });
    const build = evaluateStage(plan.stages[0]!.instructions, {
      baseConfig: { Env: ["PATH=/usr/local/go/bin:/usr/bin:/bin", "GOLANG_VERSION=1.22"], WorkingDir: "/go" },
      metaArgs: plan.metaArgs,
      platformArgs: plan.platformArgs,
      stageNames: plan.stages.map((st) => st.name),
    });
    const runs = build.steps.filter((st): st is RunStep => st.kind === "run");
    expect(runs[1]!.environment.env).toContain("TARGETARCH=arm64");
    expect(runs[1]!.mounts.map((m) => [m.type, m.target, m.readonly])).toEqual([
      ["cache", "/go/pkg/mod", false],
      ["cache", "/root/.cache/go-build", false],
      ["bind", ".", true],
    ]);
    expect(runs[1]!.history.created_by).toMatch(/^RUN \|2 TARGETOS=linux TARGETARCH=arm64 \/bin\/sh -c CGO_ENABLED=0 /);
    const final = evaluateStage(plan.stages[2]!.instructions, { baseConfig: {}, metaArgs: plan.metaArgs, stageNames: plan.stages.map((st) => st.name) });
    expect(final.config).toMatchObject({ User: "10001", Entrypoint: ["/bin/server"], ExposedPorts: { "8000/tcp": {} } });
    const copy = final.steps.find((st): st is CopyStep => st.kind === "copy")!;
    expect([copy.fromStage, copy.flags.chmod?.text, copy.absoluteDestination]).toEqual([0, "0755", "/bin/"]);
  });

  it("evaluates the heredoc fixture: scripts, shebangs and expanded COPY bodies", () => {
    const plan = planBuild(readFileSync(`${fixtures}heredocs.Dockerfile`, "utf8"));
    const r = evaluateStage(plan.stages[0]!.instructions, { baseConfig: debianConfig, buildArgs: { GREETING: "hi" } });
    const runs = r.steps.filter((st): st is RunStep => st.kind === "run");
    expect(runs[0]!.command).toEqual(["/bin/sh", "-c", "apt-get update\napt-get install -y curl\n"]);
    expect(runs[1]!.command[2]).toBe('<<EOT bash\n  set -ex\n  echo "$GREETING"\nEOT');
    expect(runs[3]!.command[2]).toContain("<<FILE2 > /file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2");
    expect(runs[4]!.files[0]!.path).toBe("/dev/pipes/EOF");
    const copies = r.steps.filter((st): st is CopyStep => st.kind === "copy");
    expect(copies[0]!.inline).toEqual([{ name: "EOF", content: "Welcome, hi\n" }]);
    expect(copies[1]!.inline[0]!.content).toContain("$GREETING");
    expect(copies[1]!.history.created_by).toBe("COPY --chmod=0755 <<EOF <<EOT2 /usr/local/bin/ # buildkit");
  });

  it("evaluates the escape=` Windows-style fixture with its SHELL", () => {
    const plan = planBuild(readFileSync(`${fixtures}windows-escape.Dockerfile`, "utf8"));
    const r = evaluateStage(plan.stages[0]!.instructions, { baseConfig: { Env: ["PATH=C:\\Windows"] }, escape: plan.parsed.directives.escape });
    expect(r.config.Shell).toEqual(["powershell", "-Command", "$ErrorActionPreference = Stop;"]);
    expect(r.config.Env).toEqual(["PATH=C:\\tools;C:\\Windows", "TOOLS=C:\\tools"]);
    expect((r.steps.find((st) => st.kind === "run") as RunStep).command[0]).toBe("powershell");
  });
});

describe("Go formatting", () => {
  it("renders durations, quoted strings and runes as Go's fmt does", () => {
    expect([goDuration(0), goDuration(90e9), goDuration(3600e9), goDuration(1.5e9), goDuration(5e8), goDuration(1500), goDuration(12)]).toEqual([
      "0s",
      "1m30s",
      "1h0m0s",
      "1.5s",
      "500ms",
      "1.5µs",
      "12ns",
    ]);
    expect(goQuote('a"b\\c\n\u0001é')).toBe('"a\\"b\\\\c\\n\\x01é"');
    expect([goQuoteRune(0), goQuoteRune(3), goQuoteRune(65), goQuoteRune(10)]).toEqual(["'\\x00'", "'\\x03'", "'A'", "'\\n'"]);
  });
});
