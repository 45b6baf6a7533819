// What a container sees of its cgroups on a hybrid v1/v2 host (the CI host), where
// berth-runtime joins only the v1 hierarchies whose controllers the container limits (a
// v1 join waits for an RCU grace period: native/src/cgroup.c, v1_wanted) and gives every
// other hierarchy a bare directory of the container's own, bound read-only at
// /sys/fs/cgroup/<ctrl>. Regression tests for that: the container never sees the host's or
// a sibling's cgroups, limit files show its limits, and remove leaves no directory behind.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { findLeaks } from "../../helpers/leaks.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useEngineContext } from "./engine-context.js";
import { joinAllEngine, joinAllRuntimeRoot } from "./join-all-engine.js";

const hybrid = existsSync("/sys/fs/cgroup/unified/cgroup.controllers") && existsSync("/sys/fs/cgroup/memory/cgroup.procs");

/** The v1 hierarchies mounted under /sys/fs/cgroup on the host, by mount point name ("memory", "systemd"). */
function v1Hierarchies(): string[] {
  const names: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right || !right.startsWith("cgroup ")) continue;
    const point = left.split(" ")[4]!;
    if (point.startsWith("/sys/fs/cgroup/")) names.push(point.slice("/sys/fs/cgroup/".length));
  }
  return names;
}

function procs(dir: string): number[] {
  return readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
}

/**
 * Prints, per hierarchy inside the container: `name|mount root|mount options|pids in
 * cgroup.procs`, each pid followed by `!` when the container's /proc (its own pid namespace)
 * does not have it. cgroup.procs is read with shell builtins, so no short-lived process of
 * the probe itself shows up.
 */
const probe = [
  "for d in /sys/fs/cgroup/*; do",
  "  n=${d##*/}",
  '  m=$(grep " $d " /proc/self/mountinfo | head -1)',
  "  set -- $m",
  '  list=""',
  '  while read p; do list="$list $p"; [ -d /proc/$p ] || list="$list!"; done < $d/cgroup.procs',
  '  echo "$n|$4|$6|$list"',
  "done",
  'echo "limit|$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"',
  'touch /sys/fs/cgroup/memory/x 2>/dev/null && echo "writable|yes" || echo "writable|no"',
].join("\n");

interface View {
  mounts: Map<string, { root: string; options: string; procs: string[] }>;
  limit: string;
  writable: string;
}

function parseView(stdout: string): View {
  const view: View = { mounts: new Map(), limit: "", writable: "" };
  for (const line of stdout.split("\n").filter(Boolean)) {
    const fields = line.split("|");
    if (fields[0] === "limit") view.limit = fields[1]!.trim();
    else if (fields[0] === "writable") view.writable = fields[1]!.trim();
    else view.mounts.set(fields[0]!, { root: fields[1]!, options: fields[2]!, procs: fields[3]!.trim().split(" ").filter(Boolean) });
  }
  return view;
}

describeAsRoot("a container's view of its cgroups", () => {
  const ctx = useEngineContext();

  it.skipIf(!hybrid)(
    "with a memory limit, sees its own cgroup read-only in every hierarchy, the limit in memory.limit_in_bytes, and no host process in cgroup.procs (skipped: needs a hybrid cgroup v1/v2 host)",
    async () => {
      const { engine } = ctx;
      const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], resources: { memory: "48m" } });
      await engine.start(id);
      const pid = (await engine.inspect(id)).State.Pid;
      const hierarchies = v1Hierarchies();
      expect(hierarchies).toContain("memory");
      // On the host: a directory in every hierarchy; the process only in the limited one.
      for (const h of hierarchies) expect(existsSync(`/sys/fs/cgroup/${h}/berth/${id}`), h).toBe(true);
      expect(procs(`/sys/fs/cgroup/memory/berth/${id}`)).toContain(pid);
      expect(procs(`/sys/fs/cgroup/freezer/berth/${id}`)).toEqual([]);
      expect(procs(`/sys/fs/cgroup/unified/berth/${id}`)).toContain(pid);

      const result = await engine.exec(id, ["sh", "-c", probe]);
      expect(result.exitCode, result.stderr).toBe(0);
      const view = parseView(result.stdout);
      for (const h of [...hierarchies, "unified"]) {
        const mount = view.mounts.get(h);
        expect(mount, `${h} is mounted`).toBeDefined();
        expect(mount!.root, h).toBe(`/berth/${id}`);
        expect(mount!.options.split(",")[0], h).toBe("ro");
        for (const p of mount!.procs) expect(p.endsWith("!"), `${h}: pid ${p} is not the container's`).toBe(false);
      }
      expect(view.mounts.get("memory")!.procs.length).toBeGreaterThan(0);
      // Bare (not joined): the container's own directory, empty.
      expect(view.mounts.get("freezer")!.procs).toEqual([]);
      expect(view.limit).toBe(String(48 * 1024 * 1024));
      expect(view.writable).toBe("no");

      await engine.remove(id, { force: true });
      for (const h of [...hierarchies, "unified"]) expect(existsSync(`/sys/fs/cgroup/${h}/berth/${id}`), h).toBe(false);
      expect(await ctx.leaksOf(id)).toEqual([]);
    },
  );

  it.skipIf(!hybrid)(
    "without limits, joins no v1 hierarchy yet sees an empty cgroup of its own in each, and remove leaves none of them (skipped: needs a hybrid cgroup v1/v2 host)",
    async () => {
      const { engine } = ctx;
      const hierarchies = v1Hierarchies();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", probe] });
        ids.push(id);
        await engine.start(id);
        expect(await engine.wait(id)).toBe(0);
      }
      for (const id of ids) {
        const lines: string[] = [];
        for await (const entry of engine.logs(id, {})) if (entry.stream === "stdout") lines.push(entry.log.replace(/\n$/, ""));
        const view = parseView(lines.join("\n"));
        expect(view.mounts.size, lines.join("\n")).toBeGreaterThan(hierarchies.length);
        for (const h of hierarchies) {
          const mount = view.mounts.get(h);
          expect(mount, `${h} is mounted`).toBeDefined();
          expect(mount!.root, h).toBe(`/berth/${id}`);
          expect(mount!.options.split(",")[0], h).toBe("ro");
          expect(mount!.procs, h).toEqual([]);
        }
        // The unified hierarchy is where the container lives.
        expect(view.mounts.get("unified")!.procs.length).toBeGreaterThan(0);
        // No limit asked, none shown (the kernel's "unlimited").
        expect(BigInt(view.limit) > BigInt(2) ** BigInt(60)).toBe(true);
        await engine.remove(id);
      }
      for (const id of ids) {
        for (const h of [...hierarchies, "unified"]) expect(existsSync(`/sys/fs/cgroup/${h}/berth/${id}`), `${h}/berth/${id}`).toBe(false);
        expect(findLeaks({ match: id })).toEqual([]);
      }
    },
  );

  it.skipIf(!hybrid)(
    "BERTH_CGROUP_JOIN_ALL=1 joins every v1 hierarchy, as runc does (skipped: needs a hybrid cgroup v1/v2 host)",
    async () => {
      const engine = joinAllEngine(ctx.root);
      try {
        const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
        await engine.start(id);
        const pid = (await engine.inspect(id)).State.Pid;
        for (const h of v1Hierarchies()) expect(procs(`/sys/fs/cgroup/${h}/berth/${id}`), h).toContain(pid);
        await engine.remove(id, { force: true });
        expect(findLeaks({ match: id })).toEqual([]);
        expect(readdirSync(joinAllRuntimeRoot(ctx.root)).filter((e) => e.includes(id))).toEqual([]);
      } finally {
        engine.dispose();
      }
    },
  );
});
