import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useCliWorld, type CliWorld } from "./cli-helper.js";

let world: CliWorld;
const berth = (...args: Parameters<CliWorld["berth"]>) => world.berth(...args);
const lines = (text: string) => text.split("\n").filter(Boolean);

/** Builds a metadata-only image `FROM busybox:test` with `instructions`, tagged `tag`. */
async function build(tag: string, instructions: string): Promise<string> {
  const dir = join(world.root, "ctx", tag.replace(/[/:]/g, "_"));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), `FROM busybox:test\n${instructions}\n`);
  const r = await berth(["build", "-q", "-t", tag, dir]);
  expect(r.stderr).toBe("");
  return r.stdout.trim();
}

describeAsRoot("berth listings and prune verbs: Docker's filters and columns", () => {
  world = useCliWorld("berth-cli-lists-");

  it("images --filter dangling/label/reference/before/since, and --digests", async () => {
    // A RUN makes a layer, which dates the image (a metadata-only build keeps its base's date).
    const first = await build("filt/one:1", "LABEL tier=db\nRUN echo one > /one");
    const second = await build("filt/two:1", "LABEL tier=web other=x\nRUN echo two > /two");
    // Rebuilding a tag with other content leaves the old image dangling.
    await build("filt/old:1", "LABEL gen=1");
    await build("filt/old:1", "LABEL gen=2");
    expect(lines((await berth(["images", "-q", "--no-trunc", "--filter", "dangling=true"])).stdout)).toHaveLength(1);
    expect((await berth(["images", "--filter", "dangling=true", "--format", "{{.Repository}}:{{.Tag}}"])).stdout).toBe("<none>:<none>\n");
    expect((await berth(["images", "--filter", "label=tier=db", "--format", "{{.Repository}}"])).stdout).toBe("filt/one\n");
    expect(lines((await berth(["images", "--filter", "label=tier", "--format", "{{.Repository}}"])).stdout).sort()).toEqual(["filt/one", "filt/two"]);
    expect((await berth(["images", "--filter", "label=tier", "--filter", "label=other=x", "--format", "{{.Repository}}"])).stdout).toBe("filt/two\n");
    expect(lines((await berth(["images", "--filter", "reference=filt/*", "--format", "{{.Repository}}:{{.Tag}}"])).stdout).sort()).toEqual(["filt/old:1", "filt/one:1", "filt/two:1"]);
    expect((await berth(["images", "--filter", "reference=*:test", "--format", "{{.Repository}}"])).stdout).toBe("busybox\n");
    expect((await berth(["images", "-q", "--no-trunc", "--filter", "since=filt/one:1", "--filter", "reference=filt/two*"])).stdout.trim()).toBe(second);
    // filt/old, metadata only, is dated as its base: before filt/two too.
    expect(lines((await berth(["images", "--filter", "before=filt/two:1", "--filter", "reference=filt/*", "--format", "{{.Repository}}"])).stdout).sort()).toEqual(["filt/old", "filt/one"]);
    expect(first).not.toBe(second);
    const digests = await berth(["images", "--digests", "filt/one"]);
    expect(lines(digests.stdout)[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(lines(digests.stdout)[1]).toMatch(/^filt\/one\s+1\s+<none>\s+[0-9a-f]{12}\s/);
    const bad = await berth(["images", "--filter", "colour=red"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("invalid filter 'colour'");
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("image prune: dangling only by default, -a with until/label filters, images in use kept", async () => {
    const keep = await build("prune/keep:1", "LABEL keep=yes");
    await build("prune/drop:1", "LABEL keep=no");
    const used = await build("prune/used:1", "LABEL keep=no");
    const ctr = (await berth(["create", "prune/used:1", "true"])).stdout.trim();
    const danglingBefore = lines((await berth(["images", "-q", "--filter", "dangling=true"])).stdout).length;
    const pruned = await berth(["image", "prune", "-f"]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/Total reclaimed space: /);
    expect(lines((await berth(["images", "-q", "--filter", "dangling=true"])).stdout)).toHaveLength(0);
    expect(danglingBefore === 0 || pruned.stdout.includes("deleted: sha256:")).toBe(true);
    // until=0s... nothing is older than "now minus 100 hours".
    expect((await berth(["image", "prune", "-a", "-f", "--filter", "until=100h"])).stdout).not.toContain("deleted:");
    const all = await berth(["image", "prune", "-a", "-f", "--filter", "label=keep=no"]);
    expect(all.stdout).toContain("untagged: prune/drop:1");
    expect(all.stdout).not.toContain("prune/used");
    const left = (await berth(["images", "--format", "{{.Repository}}", "--filter", "reference=prune/*"])).stdout;
    expect(lines(left).sort()).toEqual(["prune/keep", "prune/used"]);
    expect((await berth(["images", "-q", "--no-trunc", "prune/keep"])).stdout.trim()).toBe(keep);
    expect((await berth(["images", "-q", "--no-trunc", "prune/used"])).stdout.trim()).toBe(used);
    await berth(["rm", ctr]);
  });

  it("container prune and system prune honour label, label! and until", async () => {
    const a = (await berth(["create", "--label", "team=a", "busybox:test", "true"])).stdout.trim();
    const b = (await berth(["create", "--label", "team=b", "busybox:test", "true"])).stdout.trim();
    const running = (await berth(["run", "-d", "--label", "team=a", "busybox:test", "sleep", "60"])).stdout.trim();
    expect((await berth(["container", "prune", "-f", "--filter", "until=1h"])).stdout).not.toContain("Deleted Containers");
    const pa = await berth(["container", "prune", "-f", "--filter", "label=team=a"]);
    expect(pa.stdout).toBe(`Deleted Containers:\n${a}\n\nTotal reclaimed space: 0B\n`);
    const pb = await berth(["system", "prune", "-f", "--filter", "label!=team=a"]);
    expect(pb.stdout).toContain(`Deleted Containers:\n${b}\n`);
    expect((await berth(["ps", "-q", "--no-trunc"])).stdout.trim()).toBe(running);
    await berth(["rm", "-f", running]);
    const bad = await berth(["container", "prune", "-f", "--filter", "until=yesterday-ish"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("invalid time 'yesterday-ish'");
  });

  it("volume prune --filter label, label! and all=true", async () => {
    for (const [name, label] of [["v-keep", "keep=1"], ["v-drop", "keep=0"], ["v-other", "team=x"]] as const) {
      expect((await berth(["volume", "create", "--label", label, name])).code).toBe(0);
    }
    // Named volumes go only with -a (or all=true), as in Docker 23+.
    expect((await berth(["volume", "prune", "-f", "--filter", "label=keep=0"])).stdout).not.toContain("v-drop");
    expect((await berth(["volume", "prune", "-f", "-a", "--filter", "label=keep=0"])).stdout).toContain("Deleted Volumes:\nv-drop\n");
    const notKeep = await berth(["volume", "prune", "-f", "--filter", "all=true", "--filter", "label!=keep"]);
    expect(notKeep.stdout).toContain("v-other");
    expect(notKeep.stdout).not.toContain("v-keep");
    expect((await berth(["volume", "ls", "-q"])).stdout.split("\n")).toContain("v-keep");
    await berth(["volume", "rm", "v-keep"]);
  });

  it("network ls --filter and network prune --filter", async () => {
    for (const [name, label] of [["ls-a", "env=test"], ["ls-b", "env=prod"]] as const) {
      expect((await berth(["network", "create", "--label", label, name])).code).toBe(0);
    }
    expect((await berth(["network", "ls", "--filter", "label=env=test", "--format", "{{.Name}}"])).stdout).toBe("ls-a\n");
    expect(lines((await berth(["network", "ls", "--filter", "name=ls-", "--format", "{{.Name}}"])).stdout).sort()).toEqual(["ls-a", "ls-b"]);
    expect((await berth(["network", "ls", "--filter", "type=builtin", "--format", "{{.Name}}"])).stdout).toContain("bridge");
    expect((await berth(["network", "ls", "--filter", "type=custom", "--format", "{{.Name}}"])).stdout).not.toContain("bridge");
    expect((await berth(["network", "ls", "--filter", "driver=bridge", "-q"])).code).toBe(0);
    const id = (await berth(["network", "inspect", "--format", "{{.Id}}", "ls-b"])).stdout.trim();
    expect((await berth(["network", "ls", "--filter", `id=${id.slice(0, 8)}`, "--format", "{{.Name}}"])).stdout).toBe("ls-b\n");
    expect((await berth(["network", "prune", "-f", "--filter", "until=10h"])).stdout).toBe("");
    expect((await berth(["network", "prune", "-f", "--filter", "label=env=prod"])).stdout).toBe("Deleted Networks:\nls-b\n");
    expect((await berth(["network", "ls", "--filter", "name=ls-", "--format", "{{.Name}}"])).stdout).toBe("ls-a\n");
    await berth(["network", "rm", "ls-a"]);
  });

  it("stats --no-stream: CPU %, memory usage / limit, MEM %, NET I/O, BLOCK I/O, PIDS from the container's cgroups", async () => {
    expect((await berth(["run", "-d", "--name", "st-busy", "--memory", "64m", "busybox:test", "sh", "-c", "while :; do :; done"])).code).toBe(0);
    expect((await berth(["run", "-d", "--name", "st-idle", "busybox:test", "sh", "-c", "sleep 60 & sleep 60 & wait"])).code).toBe(0);
    const table = await berth(["stats", "--no-stream"]);
    expect(table.code).toBe(0);
    expect(lines(table.stdout)[0]).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    expect(lines(table.stdout)).toHaveLength(3);
    const row = async (name: string) => JSON.parse((await berth(["stats", "--no-stream", "--format", "{{json .}}", name])).stdout) as Record<string, string>;
    const busy = await row("st-busy");
    expect(busy.Name).toBe("st-busy");
    expect(busy.MemUsage).toMatch(/^[\d.]+[KMG]?i?B \/ 64MiB$/);
    expect(Number.parseFloat(busy.CPUPerc!)).toBeGreaterThan(1);
    expect(busy.PIDs).toBe("1");
    expect(busy.NetIO).toMatch(/^[\d.]+[kMG]?B \/ [\d.]+[kMG]?B$/);
    expect(busy.BlockIO).toMatch(/^[\d.]+[kMG]?B \/ [\d.]+[kMG]?B$/);
    const idle = await row("st-idle");
    expect(idle.PIDs).toBe("3");
    expect(Number.parseFloat(idle.CPUPerc!)).toBeLessThan(5);
    // No limit: the host's memory is the limit, as Docker shows it.
    expect(idle.MemUsage).toMatch(/ \/ [\d.]+GiB$/);
    expect(Number.parseFloat(idle.MemPerc!)).toBeLessThan(5);
    await berth(["stop", "-t", "0", "st-idle"]);
    const stopped = await berth(["stats", "--no-stream", "-a", "--format", "{{.Name}} {{.CPUPerc}} {{.PIDs}}"]);
    expect(lines(stopped.stdout)).toContain("st-idle -- --");
    await berth(["rm", "-f", "st-busy", "st-idle"]);
  });
});
