import { join } from "node:path";
import { expect } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";

/** A `busybox:test` image (Cmd `sh`) in state root `root` and an engine over it; no registry, so a missing image stays missing. */
export async function busyboxBuildEngine(root: string): Promise<ContainerEngine> {
  await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
  return new ContainerEngine({ stateRoot: root, runtime: new OciRuntime({ root: join(root, "run", "runtime"), timeout: 20_000 }), pull: async () => {} });
}

/** Runs `script` with `sh -c` in a container of `image`, expects exit 0, returns its output. */
export async function runIn(engine: ContainerEngine, image: string, script: string, options: { user?: string } = {}): Promise<string> {
  const id = await engine.create({ image, entrypoint: "", cmd: ["sh", "-c", script], ...(options.user ? { user: options.user } : {}) });
  try {
    await engine.start(id);
    const code = await engine.wait(id, { timeout: 30_000 });
    let out = "";
    for await (const e of engine.logs(id)) out += e.log;
    expect(code, out).toBe(0);
    return out;
  } finally {
    await engine.remove(id, { force: true });
  }
}

/** Disposes `engine` and force-removes every container it still knows. */
export async function removeAllContainers(engine: ContainerEngine | undefined): Promise<void> {
  if (!engine) return;
  engine.dispose();
  for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true });
}
