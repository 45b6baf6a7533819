import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useCliWorld, type CliWorld } from "./cli-helper.js";

let world: CliWorld;
const berth = (...args: Parameters<CliWorld["berth"]>) => world.berth(...args);

/** Polls a command until its output matches; bounded so that a policy that never acts fails. */
async function untilOutput(args: string[], pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await berth(args);
    if (pattern.test(r.stdout)) return r.stdout;
    if (Date.now() > deadline) throw new Error(`berth ${args.join(" ")}: ${JSON.stringify(r.stdout)} never matched ${pattern}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeAsRoot("berth run --restart (the CLI as a user runs it)", () => {
  world = useCliWorld("berth-cli-restart-");

  it("run -d --restart always: ps shows Restarting (1) between runs, inspect the policy and count; stop ends it", async () => {
    const run = await berth(["run", "-d", "--restart", "always", "--name", "again", "busybox:test", "sh", "-c", "echo x; exit 1"]);
    expect(run.code).toBe(0);
    await untilOutput(["ps", "-a", "--filter", "name=again", "--format", "{{.Status}}"], /^Restarting \(1\) .* ago\n$/);
    const info = await berth(["inspect", "--format", "{{.HostConfig.RestartPolicy.Name}} {{.State.Restarting}}", "again"]);
    expect(info).toMatchObject({ code: 0, stderr: "" });
    expect(info.stdout).toMatch(/^always (true|false)\n$/);
    expect(Number((await berth(["inspect", "--format", "{{.RestartCount}}", "again"])).stdout)).toBeGreaterThan(0);
    expect((await berth(["stop", "again"])).code).toBe(0);
    expect((await berth(["ps", "-a", "--filter", "name=again", "--format", "{{.Status}}"])).stdout).toMatch(/^Exited \(1\) .* ago\n$/);
    expect((await berth(["rm", "again"])).code).toBe(0);
  }, 90_000);

  it("refuses --restart with --rm, and a malformed policy, as Docker does", async () => {
    const both = await berth(["run", "--rm", "--restart", "always", "busybox:test", "true"]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/--restart and --rm/);
    const bad = await berth(["create", "--restart", "always:3", "busybox:test", "true"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/maximum retry count can only be used with 'on-failure'/);
    expect((await berth(["ps", "-aq"])).stdout).not.toMatch(/\S/);
  }, 60_000);
});
