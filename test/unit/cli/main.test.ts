import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { exitCodeFor, formatError } from "../../../src/cli/exit-codes.js";
import { main } from "../../../src/cli/main.js";
import { BerthError } from "../../../src/common/index.js";

const fixture = fileURLToPath(new URL("../../fixtures/compose/webapp", import.meta.url));

async function berth(argv: string[], env: Record<string, string> = {}, cwd = fixture) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, cwd });
  return { code, stdout, stderr };
}

describe("berth (in-process)", () => {
  it("version and --version", async () => {
    expect((await berth(["--version"])).stdout).toMatch(/^berth version \d+\.\d+\.\d+\n$/);
    const v = await berth(["version", "--format", "{{.Client.Version}}"]);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it("--help lists the verbs and the management commands", async () => {
    const r = await berth(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage:  berth [OPTIONS] COMMAND");
    expect(r.stdout).toMatch(/\n  run {2,}Create and run a new container from an image\n/);
    expect(r.stdout).toMatch(/Management Commands:\n[\s\S]*  compose /);
  });

  it("a verb's --help prints its usage", async () => {
    const r = await berth(["ps", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage:  berth ps [OPTIONS]");
    expect(r.stdout).toContain("  -a, --all ");
  });

  it("an unknown flag is a usage error, exit 125, one pointer to help", async () => {
    const r = await berth(["run", "--foo", "busybox"]);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("berth: unknown flag: --foo\nSee 'berth run --help'.\n");
  });

  it("a compose verb's unknown flag is a usage error, exit 125", async () => {
    const r = await berth(["compose", "up", "--bogus"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("berth: unknown flag: --bogus\nSee 'berth compose up --help'.\n");
  });

  it("compose config prints the normalised YAML", async () => {
    const r = await berth(["compose", "config"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^name: webapp\nservices:\n {2}cache:\n/);
    expect(r.stdout).toContain("        published: \"8080\"\n");
  });

  it("compose -f, -p, --services, --format json, --hash", async () => {
    const services = await berth(["compose", "-f", "compose.yaml", "-p", "other", "config", "--services"]);
    expect(services.stdout).toBe("web\ndb\ncache\n");
    const json = JSON.parse((await berth(["compose", "-p", "other", "config", "--format", "json"])).stdout);
    expect(json.name).toBe("other");
    expect(json.networks.default.name).toBe("other_default");
    const hash = await berth(["compose", "config", "--hash", "db"]);
    expect(hash.stdout).toMatch(/^db [0-9a-f]{64}\n$/);
  });

  it("compose config SERVICE keeps it and its dependencies", async () => {
    const r = await berth(["compose", "config", "--services", "db"]);
    expect(r.stdout).toBe("db\n");
  });

  it("a missing required variable is one line naming it, exit 1 as docker compose", async () => {
    const r = await berth(["compose", "--env-file", "/dev/null", "config"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^berth: required variable POSTGRES_PASSWORD is missing a value: set POSTGRES_PASSWORD in \.env \(.*compose\.yaml: services\.web\.environment\.DATABASE_URL\)\n$/);
  });

  it("a compose file that is not there, exit 1 as docker compose", async () => {
    const r = await berth(["compose", "-f", "nope.yml", "config"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^berth: .*nope\.yml: no such file\n$/);
  });
});

describe("exit codes and error lines", () => {
  it("125 for berth's own failures, 126/127 when the command cannot run", () => {
    expect(exitCodeFor(new BerthError("BERTH_CLI_USAGE", "x"))).toBe(125);
    expect(exitCodeFor(new BerthError("BERTH_IMAGE_NOT_FOUND", "x"))).toBe(125);
    expect(exitCodeFor(new Error("plain"))).toBe(125);
    expect(exitCodeFor(new BerthError("BERTH_CONTAINER_START_FAILED", 'exec: "nope": executable file not found in $PATH'))).toBe(127);
    expect(exitCodeFor(new BerthError("BERTH_EXEC_FAILED", "start failed", { reason: "permission denied" }))).toBe(126);
  });

  it("an error is one line with the cause when it adds something", () => {
    const e = new BerthError("BERTH_IO", "cannot read compose.yaml", { cause: new Error("EACCES: permission denied") });
    expect(formatError(e)).toBe("berth: cannot read compose.yaml: EACCES: permission denied\n");
    expect(formatError(new Error("boom"))).toBe("berth: boom\n");
  });
});

describe("berth (as a process)", () => {
  const run = promisify(execFile);
  const mainTs = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));

  it("prints the version, and exits 125 on a usage error", async () => {
    const ok = await run(process.execPath, ["--import", "tsx", mainTs, "--version"], { cwd: fixture, timeout: 30_000 });
    expect(ok.stdout).toMatch(/^berth version /);
    const bad = await run(process.execPath, ["--import", "tsx", mainTs, "run", "-Z", "x"], { cwd: fixture, timeout: 30_000 }).catch((e) => e as { code: number; stderr: string });
    expect((bad as { code: number }).code).toBe(125);
    expect((bad as { stderr: string }).stderr).toBe("berth: unknown shorthand flag: 'Z' in -Z\nSee 'berth run --help'.\n");
  });
});
