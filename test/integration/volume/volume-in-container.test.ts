import { cpSync, existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isRoot } from "../../../src/common/index.js";
import { resolveInRoot } from "../../../src/runtime/container-config/in-root-path.js";
import { mergeConfig } from "../../../src/runtime/container-config/merge-config.js";
import { buildOciSpec, type ContainerMount } from "../../../src/runtime/container-config/oci-spec-builder.js";
import { resolveUser } from "../../../src/runtime/container-config/resolve-user.js";
import { prepareBindSource } from "../../../src/volume/bind-source.js";
import { parseMountFlag, parseVolumeFlag } from "../../../src/volume/mount-spec.js";
import { VolumeStore } from "../../../src/volume/volume-store.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";

const runtime = process.env.BERTH_RUNTIME ?? fileURLToPath(new URL("../../../native/build/berth-runtime", import.meta.url));
// berth-runtime cannot yet run a Docker-style spec as a non-root user (it drops the bounding
// set after setuid and gets EPERM); until it can, that test runs on runc, the peer runtime.
const nonRootRuntime = process.env.BERTH_RUNTIME ?? "/usr/sbin/runc";

let root: string;
let store: VolumeStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "berth-volume-ctr-"));
  store = new VolumeStore(join(root, "volumes"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs `script` in a busybox container with these mounts, as the engine will: spec builder + runtime. */
async function run(script: string, mounts: ContainerMount[], user = "", using = runtime): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  // A copy: the runtime makes missing mount points in the root, which must not land in the
  // shared fixture every other suite runs from.
  const rootfs = join(root, "rootfs");
  if (!existsSync(rootfs)) cpSync(await busyboxRootfs(), rootfs, { recursive: true, verbatimSymlinks: true });
  const id = `berth-vol-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
  const config = mergeConfig({ Cmd: ["sh", "-c", script] }, { user }, id);
  const spec = buildOciSpec({ id, config, user: await resolveUser(config.user, { rootfs }), rootfs, mounts, readonlyRootfs: true });
  const bundle = await mkdtemp(join(root, "bundle-"));
  await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
  try {
    const result = await execa(using, ["run", "--bundle", bundle, id], { reject: false, timeout: 30_000, stdin: "ignore" });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  } finally {
    await execa(using, ["delete", "--force", id], { reject: false, timeout: 30_000 });
  }
}

// Docker docs, "Volumes": a named volume outlives its container and is populated from the
// image; "Bind mounts": read-only binds; "tmpfs mounts".
describe.skipIf(!isRoot() || !existsSync(runtime))("volumes in a real container (root and the native runtime)", () => {
  it.skipIf(!existsSync(nonRootRuntime))("a named volume is populated from the image, written by a non-root user (on runc until berth-runtime runs non-root specs), and outlives the container", async () => {
    const rootfs = await busyboxRootfs();
    const spec = parseVolumeFlag("appdata:/data");
    expect(spec.type).toBe("volume");
    await store.create({ name: "appdata" });
    // The image's /etc (through its symlinks, inside the rootfs) seeds the empty volume.
    expect(await store.copyUpIfEmpty("appdata", await resolveInRoot(rootfs, "/etc"))).toBe(true);
    const data = await store.addUser("appdata", "c1");
    await execa("chown", ["1000:1000", data]);
    const first = await run("cat /data/hostname && echo written > /data/by-user && id -u", [{ type: "bind", source: data, destination: "/data" }], "user", nonRootRuntime);
    await store.removeUser("appdata", "c1");
    expect(first, first.stderr).toMatchObject({ exitCode: 0 });
    expect(first.stdout.split("\n")).toEqual(["busybox", "1000"]);
    expect((await stat(join(data, "by-user"))).uid).toBe(1000);

    const again = await store.addUser("appdata", "c2");
    const second = await run("cat /data/by-user", [{ type: "bind", source: again, destination: "/data" }]);
    await store.removeUser("appdata", "c2");
    expect(second.stdout).toBe("written");
    await store.remove("appdata");
  });

  it("a read-only --mount bind cannot be written; a -v bind source is created when missing", async () => {
    const host = join(root, "site");
    const ro = parseMountFlag(`type=bind,src=${join(root, "missing")},dst=/site,readonly`);
    expect(ro.type === "bind" && !ro.createSource).toBe(true);
    await expect(prepareBindSource(ro as { source: string; createSource: boolean })).rejects.toMatchObject({ code: "BERTH_BIND_SOURCE_NOT_FOUND" });
    const rw = parseVolumeFlag(`${host}:/site`);
    await prepareBindSource(rw as { source: string; createSource: boolean });
    await writeFile(join(host, "index.html"), "hi\n");
    const result = await run("cat /site/index.html; echo x > /site/new || echo refused", [
      { type: "bind", source: host, destination: "/site", readonly: true },
    ]);
    expect(result.stdout.split("\n")).toEqual(["hi", "refused"]);
    expect(existsSync(join(host, "new"))).toBe(false);
  });

  it("a tmpfs mount is writable on a read-only rootfs with the asked size and mode", async () => {
    const tmpfs = parseMountFlag("type=tmpfs,dst=/scratch,tmpfs-size=1m,tmpfs-mode=1770");
    expect(tmpfs.type).toBe("tmpfs");
    const result = await run("echo ok > /scratch/f && cat /scratch/f && stat -c %a /scratch && df -k /scratch | tail -1 | awk '{print $2}'", [
      { type: "tmpfs", destination: "/scratch", options: ["size=1048576", "mode=1770"] },
    ]);
    expect(result.stdout.split("\n")).toEqual(["ok", "1770", "1024"]);
    // Nothing of the container's tmpfs is left on the host.
    expect((await readFile("/proc/self/mountinfo", "utf8")).includes("/scratch")).toBe(false);
  });
});
