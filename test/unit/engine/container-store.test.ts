import { chmod, mkdir, readdir, readFile, readlink, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { ContainerStore } from "../../../src/runtime/engine/container-store.js";
import { findCommandProblem } from "../../../src/runtime/engine/executable.js";
import { makeTempDir } from "../../helpers/temp-dir.js";

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir("berth-engine-unit-");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("ContainerStore", () => {
  it("allocates 64-hex ids and resolves full ids, unique prefixes and names", async () => {
    const store = new ContainerStore(dir);
    const a = await store.allocate();
    const b = await store.allocate();
    expect(a).toMatch(/^[a-f0-9]{64}$/);
    await store.reserveName(a, "alpha");
    expect(await store.resolve(a)).toBe(a);
    expect(await store.resolve(a.slice(0, 12))).toBe(a);
    expect(await store.resolve("alpha")).toBe(a);
    expect(await store.resolve("/alpha")).toBe(a);
    expect(hasErrorCode(await rejection(store.resolve("nothing")), "BERTH_CONTAINER_NOT_FOUND")).toBe(true);
    // A prefix shared by both ids ("" is shared by all) is ambiguous, not a guess.
    const common = [...a].findIndex((c, i) => c !== b[i]);
    if (common > 0) expect(hasErrorCode(await rejection(store.resolve(a.slice(0, common))), "BERTH_INVALID_ARGUMENT")).toBe(true);
  });

  it("refuses a taken name with BERTH_CONTAINER_NAME_IN_USE and frees it on release", async () => {
    const store = new ContainerStore(dir);
    const a = await store.allocate();
    const b = await store.allocate();
    await store.reserveName(a, "web");
    const error = await rejection(store.reserveName(b, "web"));
    expect(hasErrorCode(error, "BERTH_CONTAINER_NAME_IN_USE")).toBe(true);
    expect((error as Error).message).toContain('The container name "/web" is already in use');
    await store.releaseName(a, "web");
    expect(await store.reserveName(b, "web")).toBe("web");
  });

  it("takes over a name whose container directory is gone (a crash between the two)", async () => {
    const store = new ContainerStore(dir);
    const a = await store.allocate();
    await store.reserveName(a, "ghost");
    await store.removeDir(a);
    const b = await store.allocate();
    expect(await store.reserveName(b, "ghost")).toBe("ghost");
  });

  it("generates Docker-style names and validates given ones", async () => {
    const store = new ContainerStore(dir);
    const names = new Set<string>();
    for (let i = 0; i < 20; i++) names.add(await store.reserveName(await store.allocate(), undefined));
    expect(names.size).toBe(20);
    for (const n of names) expect(n).toMatch(/^[a-z]+_[a-z_]+\d?$/);
    expect(hasErrorCode(await rejection(store.reserveName(await store.allocate(), "bad name")), "BERTH_INVALID_ARGUMENT")).toBe(true);
  });

  it("honours and frees the names an earlier version kept in names.json", async () => {
    const store = new ContainerStore(dir);
    const a = await store.allocate();
    const gone = "f".repeat(64);
    await writeFile(join(dir, "names.json"), JSON.stringify({ old: a, stale: gone }));
    expect(await store.resolve("old")).toBe(a);
    const b = await store.allocate();
    expect(hasErrorCode(await rejection(store.reserveName(b, "old")), "BERTH_CONTAINER_NAME_IN_USE")).toBe(true);
    // Its container is gone: the name is free.
    expect(await store.reserveName(b, "stale")).toBe("stale");
    await store.releaseName(a, "old");
    expect(JSON.parse(await readFile(join(dir, "names.json"), "utf8"))).toEqual({ stale: gone });
    expect(await store.reserveName(b, "old")).toBe("old");
    expect(await store.resolve("old")).toBe(b);
  });

  it("a name is one link to its id, gone once released; a name too long for a file is invalid", async () => {
    const store = new ContainerStore(dir);
    const a = await store.allocate();
    await store.reserveName(a, "linked");
    expect(await readlink(join(dir, "names", "linked"))).toBe(a);
    await store.releaseName(a, "linked");
    expect(await readdir(join(dir, "names"))).toEqual([]);
    expect(hasErrorCode(await rejection(store.reserveName(a, `n${"x".repeat(300)}`)), "BERTH_INVALID_ARGUMENT")).toBe(true);
    // A reference that is no name is never looked up as a path.
    expect(hasErrorCode(await rejection(store.resolve("../names")), "BERTH_CONTAINER_NOT_FOUND")).toBe(true);
  });

  it("a record being written for the first time reads as none; an old unreadable one is BERTH_IO", async () => {
    const store = new ContainerStore(dir);
    const id = await store.allocate();
    const path = join(dir, id, "config.json");
    await writeFile(path, '{"id": "half');
    expect(await store.read(id)).toBeUndefined();
    expect(await store.exists(id)).toBe(true);
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    expect(hasErrorCode(await rejection(store.read(id)), "BERTH_IO")).toBe(true);
    await rm(path);
    const record = { id, name: "first", status: "created" } as unknown as Parameters<ContainerStore["writeFirst"]>[0];
    await store.writeFirst(record);
    expect(await store.read(id)).toMatchObject({ name: "first" });
    // Only the first: a record that exists is replaced atomically (write), never in place.
    expect(hasErrorCode(await rejection(store.writeFirst(record)), "BERTH_IO")).toBe(true);
  });

  it("two reservations of one name at once: exactly one wins", async () => {
    const store = new ContainerStore(dir);
    const ids = await Promise.all([store.allocate(), store.allocate(), store.allocate()]);
    const results = await Promise.allSettled(ids.map((id) => store.reserveName(id, "race")));
    expect(results.filter((r) => r.status === "fulfilled").length).toBe(1);
  });
});

describe("findCommandProblem", () => {
  it("gives Docker's 127 for a missing command and 126 for one that cannot run, resolving links in the root", async () => {
    await mkdir(join(dir, "bin"), { recursive: true });
    await writeFile(join(dir, "bin", "tool"), "#!/bin/sh\n");
    await chmod(join(dir, "bin", "tool"), 0o755);
    await writeFile(join(dir, "bin", "data"), "x");
    // An absolute link resolves inside the root, not to the host's /bin/sh.
    await symlink("/bin/tool", join(dir, "bin", "linked"));
    await symlink("/bin/sh", join(dir, "bin", "hostsh"));
    const env = ["PATH=/usr/bin:/bin"];
    expect(await findCommandProblem(dir, "tool", env)).toBeUndefined();
    expect(await findCommandProblem(dir, "linked", env)).toBeUndefined();
    expect(await findCommandProblem(dir, "/bin/tool", env)).toBeUndefined();
    expect(await findCommandProblem(dir, "nope", env)).toEqual({ exitCode: 127, message: 'exec: "nope": executable file not found in $PATH' });
    expect((await findCommandProblem(dir, "hostsh", env))?.exitCode).toBe(127);
    expect((await findCommandProblem(dir, "data", env))?.exitCode).toBe(126);
    expect((await findCommandProblem(dir, "/bin", env))?.exitCode).toBe(126);
    expect((await findCommandProblem(dir, "/missing", env))?.exitCode).toBe(127);
  });
});
