import { describe, expect, it } from "vitest";
import { main } from "../../../src/cli/main.js";
import { berthCli } from "../../../src/cli/verbs.js";

describe("the verb table", () => {
  it("has every verb issue 8 asks for", () => {
    const names = new Set(berthCli.verbs.map((v) => v.path.join(" ")));
    const wanted = [
      "run", "create", "start", "stop", "restart", "kill", "rm", "ps", "logs", "exec", "cp", "inspect", "wait", "pause", "unpause",
      "port", "top", "stats", "commit", "build", "images", "pull", "push", "tag", "rmi", "save", "load", "import", "history", "login",
      "logout", "network create", "network ls", "network inspect", "network rm", "network connect", "network disconnect",
      "network prune", "volume create", "volume ls", "volume inspect", "volume rm", "volume prune", "system df", "system prune",
      "version", "info", "compose up", "compose down", "compose ps", "compose logs", "compose build", "compose pull", "compose exec",
      "compose run", "compose config", "compose restart", "compose stop", "compose start",
    ];
    expect(wanted.filter((w) => !names.has(w))).toEqual([]);
  });

  it("no verb repeats a flag name or a shorthand", () => {
    for (const v of berthCli.verbs) {
      for (const flags of [v.flags, v.groupFlags ?? []]) {
        const longs = flags.map((f) => f.name);
        const shorts = flags.flatMap((f) => (f.short ? [f.short] : []));
        expect(new Set(longs).size, `${v.path.join(" ")} long flags`).toBe(longs.length);
        expect(new Set(shorts).size, `${v.path.join(" ")} shorthands`).toBe(shorts.length);
      }
    }
  });

  it("the run flags issue 8 lists are all there", () => {
    const run = berthCli.verbs.find((v) => v.path.join(" ") === "run")!;
    const flags = new Set(run.flags.map((f) => f.name));
    for (const f of ["detach", "interactive", "tty", "rm", "publish", "publish-all", "volume", "mount", "tmpfs", "network", "network-alias", "name", "env", "env-file", "workdir", "user", "entrypoint", "memory", "cpus", "pids-limit", "init", "read-only", "privileged", "cap-add", "cap-drop", "add-host", "hostname", "label", "health-cmd", "health-interval", "health-retries", "health-timeout", "health-start-period", "pull", "platform"]) {
      expect(flags.has(f), f).toBe(true);
    }
  });

  it("berth help VERB is berth VERB --help", async () => {
    let a = "";
    let b = "";
    const io = (sink: (t: string) => void) => ({ stdout: sink, stderr: sink, env: {}, cwd: process.cwd() });
    expect(await main(["help", "logs"], io((t) => (a += t)))).toBe(0);
    expect(await main(["logs", "--help"], io((t) => (b += t)))).toBe(0);
    expect(a).toBe(b);
    expect(a).toContain("Usage:  berth logs [OPTIONS] CONTAINER");
  });
});
