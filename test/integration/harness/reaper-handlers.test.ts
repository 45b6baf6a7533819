import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { reapResources } from "../../../src/harness/reaper/reap.js";
import { processStartTime } from "../../../src/harness/reaper/reaper-handlers.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { isAlive } from "./process-liveness.js";

let root: string;

describeAsRoot("reaper handlers remove each kind for real", () => {
  beforeAll(async () => {
    root = await makeTempDir("berth-reaper-kinds-");
  });
  afterAll(async () => {
    await removeTempDir(root);
  });

  it("removes an image from its store, a network namespace and a whole process group", async () => {
    const image = await Image.fromRootfs(await busyboxRootfs(), { root, tag: "reaped:latest" });
    const netns = `berth-reaper-${process.pid}`;
    await execa("ip", ["netns", "add", netns]);
    // A group leader with a child: the group kill must take both.
    const leader = spawn("sh", ["-c", "sleep 600 & wait"], { detached: true, stdio: "ignore" });
    const failures = await reapResources([
      { kind: "image", id: "reaped:latest", data: { stateRoot: root } },
      { kind: "netns", id: netns },
      { kind: "process", id: String(leader.pid), data: { startTime: processStartTime(leader.pid!)!, group: true } },
    ]);
    expect(failures).toEqual([]);
    await expect(Image.get(image.id, { root })).rejects.toMatchObject({ code: "BERTH_IMAGE_NOT_FOUND" });
    expect(existsSync(`/run/netns/${netns}`)).toBe(false);
    await expect.poll(() => isAlive(leader.pid!), { timeout: 5_000 }).toBe(false);
  });

  it("treats what is already gone as removed, and never kills a reused pid", async () => {
    const bystander = spawn("sleep", ["600"], { stdio: "ignore" });
    try {
      const failures = await reapResources([
        { kind: "image", id: "never:made", data: { stateRoot: root } },
        { kind: "netns", id: `berth-never-${process.pid}` },
        { kind: "volume", id: "never-made", data: { root: `${root}/volumes` } },
        // The registered process had another start time: this pid now belongs to someone else.
        { kind: "process", id: String(bystander.pid), data: { startTime: 1 } },
      ]);
      expect(failures).toEqual([]);
      expect(isAlive(bystander.pid!)).toBe(true);
    } finally {
      bystander.kill("SIGKILL");
    }
  });
});
