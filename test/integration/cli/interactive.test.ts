import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterEach, expect, it } from "vitest";
import { findLeaks } from "../../helpers/leaks.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useCliWorld, type CliWorld } from "./cli-helper.js";

let world: CliWorld;
const berth = (...args: Parameters<CliWorld["berth"]>) => world.berth(...args);
const driver = fileURLToPath(new URL("./interactive-pty.py", import.meta.url));

type Step = { expect: string; timeout?: number } | { send: string } | { resize: [number, number] } | { sleep: number } | { signal: number };
type PtyResult = { exitCode: number; output: string; failed: string | null; cooked: boolean };

/** Runs `berth ARGS` under a real pseudo-terminal of ROWSxCOLS and plays `steps` against it. */
async function atTerminal(args: string[], steps: Step[], size: [number, number] = [24, 80]): Promise<PtyResult> {
  const r = await execa("python3", [driver, String(size[0]), String(size[1]), JSON.stringify(steps), "--", process.execPath, world.cli, ...args], {
    env: { ...process.env, ...world.env },
    cwd: world.root,
    reject: false,
    timeout: 120_000,
  });
  if (r.exitCode !== 0) throw new Error(`pty driver failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as PtyResult;
}

/** Every container of the world, and whatever of them the kernel still holds. */
async function containerIds(): Promise<string[]> {
  return (await berth(["ps", "-aq", "--no-trunc"])).stdout.split("\n").filter(Boolean);
}

describeAsRoot("berth run -i / -it, start -a -i, exec -i / -it (the built binary, under a real pty)", () => {
  let before: string[] = [];
  world = useCliWorld("berth-cli-it-");
  afterEach(async () => {
    // What a test made and removed (--rm) must have left nothing in the kernel either.
    const ids = await containerIds();
    for (const id of ids.filter((i) => !before.includes(i))) await berth(["rm", "-f", id]);
    for (const id of ids) expect(findLeaks({ match: id })).toEqual([]);
    before = [];
  });

  it("run -i pipes stdin through to the container and exits with its code", async () => {
    const r = await berth(["run", "-i", "--rm", "busybox:test", "sh", "-c", "cat; exit 3"], { input: "one\ntwo\n" });
    expect(r).toEqual({ code: 3, stdout: "one\ntwo\n", stderr: "" });
    const r2 = await berth(["run", "-i", "--rm", "busybox:test", "sh", "-c", "read x; echo got $x; echo e >&2"], { input: "piped\n" });
    expect(r2).toEqual({ code: 0, stdout: "got piped\n", stderr: "e\n" });
    expect(await containerIds()).toEqual([]);
  });

  it("run -it: a terminal in raw mode that echoes, `tty` is /dev/pts/0, and `stty size` follows a resize", async () => {
    const r = await atTerminal(
      ["run", "-it", "--rm", "busybox:test", "sh"],
      [
        { expect: "/ # " },
        { send: "tty; stty size\r" },
        { expect: "/dev/pts/0\\r\\n30 100\\r\\n" },
        { resize: [40, 120] },
        { sleep: 0.3 },
        { send: "stty size\r" },
        { expect: "40 120\\r\\n" },
        { send: "exit 4\r" },
      ],
      [30, 100],
    );
    expect(r.failed).toBeNull();
    // What was typed came back through the container's terminal (raw mode here: no local echo).
    expect(r.output).toContain("tty; stty size\r\n");
    expect(r.exitCode).toBe(4);
    expect(r.cooked).toBe(true);
    expect(await containerIds()).toEqual([]);
  });

  it("run -it: Ctrl-C reaches the container as a byte and its terminal interrupts `sleep`", async () => {
    const r = await atTerminal(
      ["run", "-it", "--rm", "busybox:test", "sh"],
      [{ expect: "/ # " }, { send: "sleep 60\r" }, { sleep: 0.5 }, { send: "\u0003" }, { expect: "/ # " }, { send: "echo status $?\r" }, { expect: "status 130" }, { send: "exit\r" }],
    );
    expect(r.failed).toBeNull();
    expect(r.output).toContain("^C");
    expect(r.exitCode).toBe(0);
  });

  it("run -it: ctrl-p ctrl-q detaches and leaves the container running; start -a -i attaches again", async () => {
    const r = await atTerminal(["run", "-it", "--name", "detachable", "busybox:test", "sh"], [{ expect: "/ # " }, { send: "echo before\r" }, { expect: "before\\r\\n" }, { send: "\u0010\u0011" }]);
    expect(r.failed).toBeNull();
    expect(r.exitCode).toBe(0);
    const ps = await berth(["ps", "--filter", "name=detachable", "--format", "{{.Names}} {{.Status}}"]);
    expect(ps.stdout).toMatch(/^detachable Up /);
    // The shell's stdin stayed open across the detach: a new attach types on.
    const again = await atTerminal(["start", "-a", "-i", "detachable"], [{ send: "\r" }, { expect: "/ # " }, { send: "echo again; exit 6\r" }, { expect: "again\\r\\n" }]);
    expect(again.failed).toBeNull();
    expect(again.exitCode).toBe(6);
    expect((await berth(["inspect", "--format", "{{.State.Status}}", "detachable"])).stdout).toBe("exited\n");
  });

  it("--detach-keys picks another sequence, the default one then passes through; attach reattaches", async () => {
    const r = await atTerminal(["run", "-it", "--name", "keys", "--detach-keys", "ctrl-x,x", "busybox:test", "sh"], [{ expect: "/ # " }, { send: "\u0010echo still\r" }, { expect: "still\\r\\n" }, { send: "\u0018x" }]);
    expect(r.failed).toBeNull();
    expect(r.exitCode).toBe(0);
    expect((await berth(["inspect", "--format", "{{.State.Running}}", "keys"])).stdout).toBe("true\n");
    // `attach` reaches it again, with the default keys back.
    const again = await atTerminal(["attach", "keys"], [{ send: "\r" }, { expect: "/ # " }, { send: "echo back; exit 3\r" }, { expect: "back\\r\\n" }]);
    expect(again.failed).toBeNull();
    expect(again.exitCode).toBe(3);
    const stopped = await berth(["attach", "keys"]);
    expect(stopped.code).toBe(125);
    expect(stopped.stderr).toMatch(/start it first/);
    const bad = await berth(["run", "-it", "--detach-keys", "ctrl-1", "busybox:test", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/invalid detach keys/);
  });

  it("berth killed by SIGTERM during run -it gives the user's terminal back (and leaves the container running)", async () => {
    const r = await atTerminal(["run", "-it", "--name", "killed", "busybox:test", "sh"], [{ expect: "/ # " }, { send: "echo ready\r" }, { expect: "ready\\r\\n" }, { signal: 15 }]);
    expect(r.failed).toBeNull();
    expect(r.exitCode).toBe(-15);
    expect(r.cooked).toBe(true);
    // Killed this early, berth may not have recorded the start: `start` adopts the running container.
    expect((await berth(["start", "killed"])).code).toBe(0);
    expect((await berth(["inspect", "--format", "{{.State.Running}}", "killed"])).stdout).toBe("true\n");
  });

  it("start -a -i pipes stdin to a created container, attach to a detached one; both exit with its code", async () => {
    const id = (await berth(["create", "-i", "busybox:test", "sh", "-c", "read x; echo got $x; exit 2"])).stdout.trim();
    const r = await berth(["start", "-a", "-i", id], { input: "hello\n" });
    expect(r).toEqual({ code: 2, stdout: "got hello\n", stderr: "" });
    // A detached -i container's stdin waits open for `attach`.
    const bg = (await berth(["run", "-d", "-i", "busybox:test", "sh", "-c", "read x; echo got $x; exit 4"])).stdout.trim();
    expect(await berth(["attach", bg], { input: "late\n" })).toEqual({ code: 4, stdout: "got late\n", stderr: "" });
  });

  it("exec -it: a terminal with the user's size, typing and Ctrl-C; exec -i pipes stdin", async () => {
    const id = (await berth(["run", "-d", "busybox:test", "sleep", "300"])).stdout.trim();
    const r = await atTerminal(
      ["exec", "-it", id, "sh"],
      [{ expect: "/ # " }, { send: "tty; stty size\r" }, { expect: "/dev/pts/\\d+\\r\\n33 99\\r\\n" }, { resize: [20, 70] }, { sleep: 0.3 }, { send: "stty size\r" }, { expect: "20 70\\r\\n" }, { send: "sleep 60\r" }, { sleep: 0.5 }, { send: "\u0003" }, { expect: "/ # " }, { send: "exit 9\r" }],
      [33, 99],
    );
    expect(r.failed).toBeNull();
    expect(r.exitCode).toBe(9);
    const piped = await berth(["exec", "-i", id, "sh", "-c", "cat; echo err >&2; exit 5"], { input: "in\n" });
    expect(piped).toEqual({ code: 5, stdout: "in\n", stderr: "err\n" });
    expect((await berth(["inspect", "--format", "{{.State.Running}}", id])).stdout).toBe("true\n");
  });
});
