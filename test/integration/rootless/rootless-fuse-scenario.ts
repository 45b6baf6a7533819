// Run by rootless-fuse.test.ts as an unprivileged user (runuser + tsx): every engine operation
// on a fuse-overlayfs root, the root the engine itself cannot read (docs/rootless.md).
//   engine <rootfs> [with-deletion]
//                    — check that the kernel refuses overlayfs here (or not), import an image (WORKDIR, VOLUME with content, USER name) from <rootfs>,
//                      then create, start, exec, logs, copy in and out running and stopped,
//                      commit, run the committed image, remove
//   refused          — create with BERTH_ROOTLESS_OVERLAY=overlay where the kernel refuses it
//   kill-mid-copy <marker> <rootfs>
//                    — a copy into a stopped container that never ends (the test kills this
//                      process once <marker> has its pid; <marker>.id names the container)
//   kill-clean <marker>
//                    — removes that container
//   unpack           — unpacks a layer with deletions and an opaque directory into the state
//                      root with each extractor, unprivileged, and lists what it made
// BERTH_ROOT and BERTH_ROOTLESS_OVERLAY come from the test. Prints one JSON report on stdout.
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { isBerthError } from "../../../src/common/berth-error.js";
import { runInUserNamespace } from "../../../src/common/user-namespace.js";
import { Image } from "../../../src/harness/image.js";
import { decompressor, readHead, sniffCompression } from "../../../src/image/compression.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { RootlessSupport } from "../../../src/runtime/rootless/rootless-engine.js";
import { ScenarioReport, strayProcesses } from "./scenario-report.js";

const [mode, arg] = [process.argv[2]!, process.argv[3]!];
// Whether the container deletes image files (a whiteout, and /opaque-me replaced: an opaque
// directory, in the committed layer): an unprivileged unpack cannot make a whiteout on a
// state root that is itself an overlay.
const withDeletion = process.argv[4] === "with-deletion";
const scenario = new ScenarioReport();
const { step } = scenario;
// BERTH_TEST_NO_PROBE: the create's and the checks' questions go to the Node worker too.
const engine = new ContainerEngine({
  pull: async () => {},
  ...(process.env.BERTH_TEST_NO_PROBE ? { rootless: new RootlessSupport({ rootfsProbe: null }) } : {}),
});

const bytes = async (chunks: AsyncIterable<unknown>) => {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
};

/** The mounts under the engine's state or run root: none may outlive a remove or a refused create. */
function berthMounts(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(engine.stateRoot) || l.includes(engine.runRoot));
}

/** A tar of `files` (name → content; a trailing `!` makes it executable). */
async function archive(files: Record<string, string>): Promise<Readable> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) {
    const exec = name.endsWith("!");
    pack.entry({ name: exec ? name.slice(0, -1) : name, mode: exec ? 0o755 : 0o644 }, content);
  }
  pack.finalize();
  return pack as unknown as Readable;
}

/** The entries of a tar: name → content for files, `-> target` for symlinks. */
async function entries(stream: AsyncIterable<unknown> | Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const extract = tar.extract();
  extract.on("entry", (header, body, next) => {
    const parts: Buffer[] = [];
    body.on("data", (c: unknown) => parts.push(c as Buffer));
    body.on("end", () => {
      out[header.name] = header.type === "symlink" ? `-> ${header.linkname}` : header.type === "directory" ? "<dir>" : Buffer.concat(parts).toString("utf8");
      next();
    });
  });
  await pipeline(Buffer.isBuffer(stream) ? Readable.from([stream]) : Readable.from(stream as AsyncIterable<Buffer>), extract);
  return out;
}

const messageOf = (e: unknown) => (isBerthError(e) ? { code: e.code, message: e.message, container: e.context.container, exitCode: e.exitCode } : { message: String(e) });

if (mode === "engine") {
  await step("kernelOverlay", async () => {
    // What the kernel says to an overlay in a user namespace with its upper on the state root.
    const dir = join(engine.stateRoot, "probe");
    const script = 'mkdir -p "$0/l" "$0/u" "$0/w" "$0/m" && mount -t overlay overlay -o "lowerdir=$0/l,upperdir=$0/u,workdir=$0/w" "$0/m"';
    const said = await runInUserNamespace(["sh", "-c", script, dir], { mount: true }).then(() => "mounted", (e: unknown) => (isBerthError(e) ? (e.lastLines ?? []).join(" ") : String(e)));
    await runInUserNamespace(["rm", "-rf", dir]);
    return said;
  });
  await step("import", async () => {
    const image = await Image.fromRootfs(arg, {
      tag: "fusetest:1",
      config: { User: "user", WorkingDir: "/app/work", Volumes: { "/seed": {} }, Cmd: ["sh"] },
    });
    return image.id;
  });
  const ids: string[] = [];
  await step("run", async () => {
    const id = await engine.create({
      image: "fusetest:1",
      network: "none",
      cmd: ["sh", "-c", "echo started; id -un; pwd; cat /seed/hello.txt; exec sleep 300"],
    });
    ids.push(id);
    await engine.start(id);
    // As root: the image's user may not write /etc. A deletion (a whiteout for commit), a
    // symlink that copy must resolve inside the root, and a directory only its user may read.
    const setup = await engine.exec(id, ["sh", "-c", `${withDeletion ? "rm /etc/remove-me && rm -rf /opaque-me && mkdir /opaque-me && echo h > /opaque-me/x && " : ""}mkdir -p /etc/made && ln -s /app/work /etc/made/link && mkdir /private && echo hidden > /private/f && chown -R user /private && chmod 700 /private`], { user: "root" });
    if (setup.exitCode !== 0) throw new Error(`the setup in the container failed (exit ${setup.exitCode}): ${setup.stderr}`);
    const logs = async () => {
      const lines: string[] = [];
      for await (const entry of engine.logs(id)) lines.push(`${entry.stream}: ${entry.log.trim()}`);
      return lines;
    };
    // The command's output, waited for.
    for (let i = 0; i < 100 && !(await logs()).some((l) => l.includes("seed-content")); i++) await new Promise((r) => setTimeout(r, 100));
    const lines = await logs();
    const sh = (script: string, user?: string) => engine.exec(id, ["sh", "-c", script], user ? { user } : {});
    const missing = await engine.exec(id, ["no-such-command"]);
    const notExecutable = await engine.exec(id, ["/seed/hello.txt"]);
    // Copy into the running container: its root, and its volume.
    await engine.copyToContainer(id, "/app/work", await archive({ "in-running.txt": "running-in\n" }));
    await engine.copyToContainer(id, "/seed", await archive({ "tool.sh!": "#!/bin/sh\necho tool-ran\n" }));
    const running = {
      rootfsType: (await sh("awk '$2 == \"/\" {print $3}' /proc/mounts")).stdout.trim(),
      logs: lines,
      execUser: (await engine.exec(id, ["id", "-un"])).stdout.trim(),
      execAsRoot: (await engine.exec(id, ["id", "-u"], { user: "root" })).stdout.trim(),
      missing: { exitCode: missing.exitCode, stderr: missing.stderr.trim() },
      notExecutable: { exitCode: notExecutable.exitCode, stderr: notExecutable.stderr.trim() },
      copiedIn: (await engine.exec(id, ["cat", "/app/work/in-running.txt"])).stdout.trim(),
      copiedInOwner: (await engine.exec(id, ["stat", "-c", "%u", "/app/work/in-running.txt"])).stdout.trim(),
      // A command in a volume: the check sees the container's mounts.
      toolInVolume: (await engine.exec(id, ["/seed/tool.sh"])).stdout.trim(),
      // Through a symlink of the container, resolved inside its root.
      copiedOut: await entries(await engine.copyFromContainer(id, "/etc/made/link/in-running.txt")),
      copiedOutVolume: await entries(await engine.copyFromContainer(id, "/seed/hello.txt")),
      copiedOutLink: await entries(await engine.copyFromContainer(id, "/etc/made/link")),
      copiedOutPrivate: await entries(await engine.copyFromContainer(id, "/private")),
      missingCopy: await engine.copyFromContainer(id, "/nope").then(() => "copied", messageOf),
    };
    await engine.stop(id, { timeout: 1 });
    // Copy into and out of the stopped container (its root mounted by the engine's helper).
    await engine.copyToContainer(id, "/app/work", await archive({ "in-stopped.txt": "stopped-in\n" }));
    const stopped = {
      exitCode: (await engine.inspect(id)).State.ExitCode,
      copiedOut: await entries(await engine.copyFromContainer(id, "/app/work/.")),
      copiedOutLink: await entries(await engine.copyFromContainer(id, "/etc/made/link/")),
      missingCopy: await engine.copyFromContainer(id, "/nope").then(() => "copied", messageOf),
    };
    return { running, stopped };
  });

  await step("commit", async () => {
    const id = ids[0]!;
    const image = await engine.commit(id, { tag: "fusetest:committed" });
    const record = await engine.images.get(image);
    const layer = record.layers.at(-1)!;
    const blob = engine.images.blobPath(layer.digest);
    const { createReadStream } = await import("node:fs");
    const names: string[] = [];
    const owners: Record<string, number> = {};
    const extract = tar.extract();
    extract.on("entry", (header, body, next) => {
      names.push(header.name);
      if (["private/", "private/f", "app/work/in-stopped.txt"].includes(header.name)) owners[header.name] = header.uid ?? -1;
      body.on("end", () => next());
      body.resume();
    });
    await pipeline(createReadStream(blob), decompressor(sniffCompression(await readHead(blob))), extract);
    // How the new layer's snapshot keeps the deletions: a 0/0 device where the user may make
    // one, else (a state root on overlayfs) the `.wh.` files fuse-overlayfs reads.
    const snapshot = engine.images.snapshotFs(layer.chainId);
    const kind = (path: string) => {
      const st = lstatSync(path);
      return st.isCharacterDevice() ? `c ${st.rdev}` : st.isFile() ? `f ${st.size}` : st.isDirectory() ? "d" : "?";
    };
    const snapshotForm = withDeletion
      ? {
          etc: readdirSync(join(snapshot, "etc"))
            .filter((n) => n.includes("remove-me"))
            .map((n) => `${n} ${kind(join(snapshot, "etc", n))}`),
          "opaque-me": readdirSync(join(snapshot, "opaque-me")).sort(),
        }
      : undefined;
    // The committed image runs: the change is there, the deleted file is not, nor a `.wh.` name.
    const script = `cat /app/work/in-stopped.txt; test -e /etc/remove-me && echo still-there; ${withDeletion ? "ls /opaque-me; ls -a /etc /opaque-me | grep -e '^\\.wh\\.' -e remove-me; " : ""}exit 0`;
    const child = await engine.create({ image, network: "none", cmd: ["sh", "-c", script] });
    ids.push(child);
    await engine.start(child);
    const exit = await engine.wait(child);
    const out: string[] = [];
    for await (const entry of engine.logs(child)) out.push(entry.log.trim());
    // Copied out of the stopped container of the committed image: no deleted file, no `.wh.` entry.
    const copiedOut = withDeletion
      ? {
          etc: Object.keys(await entries(await engine.copyFromContainer(child, "/etc"))).filter((n) => n.includes("remove-me") || n.includes(".wh.")),
          "opaque-me": Object.keys(await entries(await engine.copyFromContainer(child, "/opaque-me"))).sort(),
        }
      : undefined;
    return { layers: record.layers.length, names: names.sort(), owners, exit, out, snapshotForm, copiedOut };
  });

  await step("badUser", async () => {
    // Fails in the worker, at create: nothing of the container is left.
    const before = (await engine.list({ all: true })).length;
    const failed = await engine.create({ image: "fusetest:1", network: "none", user: "no-such-user", cmd: ["true"] }).then(() => "created", messageOf);
    return { failed, left: (await engine.list({ all: true })).length - before };
  });

  await step("workdirUnderPrivate", async () => {
    // A missing working directory under a 0700 directory of the image's USER (the committed
    // image's /private): Docker makes it (root's, 0755) as root; here the engine is that root
    // only in the container's user namespace.
    const id = await engine.create({ image: "fusetest:committed", network: "none", workingDir: "/private/new", cmd: ["sh", "-c", "pwd; stat -c '%u %a' ."] });
    ids.push(id);
    await engine.start(id);
    const exit = await engine.wait(id);
    const out: string[] = [];
    for await (const entry of engine.logs(id)) out.push(entry.log.trim());
    return { exit, out };
  });

  await step("startMissing", async () => {
    const id = await engine.create({ image: "fusetest:1", network: "none", cmd: ["no-such-command"] });
    ids.push(id);
    return engine.start(id).then(() => "started", messageOf);
  });

  await step("remove", async () => {
    for (const id of ids) await engine.remove(id, { force: true, volumes: true });
    const containers = join(engine.stateRoot, "containers");
    return {
      containers: existsSync(containers) ? readdirSync(containers).filter((n) => /^[0-9a-f]{64}$/.test(n)) : [],
      volumes: (await engine.volumes.list()).map((v) => v.Name),
      processes: strayProcesses("rootless-fuse-scenario"),
      mounts: berthMounts(),
    };
  });
}

if (mode === "refused") {
  // BERTH_ROOTLESS_OVERLAY=overlay where the kernel refuses it: create fails, leaving nothing.
  await step("refused", async () => {
    const before = (await engine.list({ all: true })).length;
    const failed = await engine.create({ image: "fusetest:1", network: "none", cmd: ["true"] }).then(() => "created", messageOf);
    return {
      failed,
      left: (await engine.list({ all: true })).length - before,
      processes: strayProcesses("rootless-fuse-scenario"),
      mounts: berthMounts(),
    };
  });
}

if (mode === "kill-mid-copy") {
  // A copy into a stopped container that never ends: the test kills this process meanwhile.
  await step("copy", async () => {
    await Image.fromRootfs(process.argv[4]!, { tag: "fusetest:1", config: { User: "user", WorkingDir: "/app/work", Volumes: { "/seed": {} }, Cmd: ["sh"] } });
    const id = await engine.create({ image: "fusetest:1", network: "none", cmd: ["true"] });
    writeFileSync(`${arg}.id`, id);
    const stalled = new Readable({ read() {} });
    // Half a tar header: the worker waits for the rest.
    stalled.push(Buffer.alloc(256));
    const copying = engine.copyToContainer(id, "/app/work", stalled);
    writeFileSync(arg, String(process.pid));
    await copying;
    return "not killed";
  });
}

if (mode === "unpack") {
  await step("unpack", async () => {
    const { unpackLayer } = await import("../../../src/image/layer-unpack.js");
    const { execa } = await import("execa");
    const pack = tar.pack();
    pack.entry({ name: "etc/", type: "directory", mode: 0o755 });
    pack.entry({ name: "etc/keep", mode: 0o644 }, "k");
    pack.entry({ name: "etc/.wh.gone", mode: 0o644 }, "");
    pack.entry({ name: "opq/", type: "directory", mode: 0o755 });
    pack.entry({ name: "opq/.wh..wh..opq", mode: 0o644 }, "");
    pack.entry({ name: "opq/new", mode: 0o644 }, "n");
    pack.finalize();
    const layer = await bytes(pack as unknown as AsyncIterable<unknown>);
    const out: Record<string, unknown> = {};
    for (const extractor of ["native", "js"] as const) {
      const dest = join(engine.stateRoot, `unpack-${extractor}`);
      try {
        await unpackLayer(Readable.from([layer]), { dest, compression: "none", extractor });
        const kind = (path: string) => {
          const st = lstatSync(path);
          return st.isCharacterDevice() ? `c ${st.rdev}` : st.isFile() ? `f ${st.size}` : "d";
        };
        const opaque = await execa("getfattr", ["--only-values", "-n", "user.overlay.opaque", join(dest, "opq")], { reject: false });
        out[extractor] = {
          etc: readdirSync(join(dest, "etc")).sort().map((n) => `${n} ${kind(join(dest, "etc", n))}`),
          opq: readdirSync(join(dest, "opq")).sort(),
          opaque: opaque.stdout,
        };
      } finally {
        await runInUserNamespace(["rm", "-rf", dest]);
      }
    }
    return out;
  });
}

if (mode === "kill-clean") {
  await step("clean", async () => {
    const id = readFileSync(`${arg}.id`, "utf8").trim();
    // The container was not locked for ever by the killed copy.
    await engine.remove(id, { force: true, volumes: true });
    const containers = join(engine.stateRoot, "containers");
    return {
      containers: existsSync(containers) ? readdirSync(containers).filter((n) => /^[0-9a-f]{64}$/.test(n)) : [],
      processes: strayProcesses("rootless-fuse-scenario"),
    };
  });
}

engine.dispose();
scenario.print();
process.exit(0);
