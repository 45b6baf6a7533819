import { existsSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { Container } from "../../../src/harness/container.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { Network } from "../../../src/network/network.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { testSubnet } from "../network/net-fixture.js";
import { useEngineContext } from "./engine-context.js";

describeAsRoot("Container (the public facade of the engine)", () => {
  const ctx = useEngineContext();

  it("runs, execs, is found by name, and is removed on dispose", async () => {
    const c = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["sleep", "300"], name: "facade" });
    expect((await c.exec(["echo", "hi"])).stdout).toBe("hi\n");
    expect((await Container.get("facade", { engine: ctx.engine })).id).toBe(c.id);
    expect((await Container.list({ engine: ctx.engine, name: ["facade"] })).length).toBe(1);
    await c[Symbol.asyncDispose]();
    const gone = await Container.get("facade", { engine: ctx.engine }).catch((e: unknown) => e);
    expect(hasErrorCode(gone, "BERTH_CONTAINER_NOT_FOUND")).toBe(true);
  });

  it("run removes what it created when the start fails", async () => {
    const before = (await Container.list({ engine: ctx.engine, all: true })).length;
    const error = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["no-such"] }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_CONTAINER_START_FAILED")).toBe(true);
    expect((await Container.list({ engine: ctx.engine, all: true })).length).toBe(before);
  });

  const manager = () => new NetworkManager({ store: new NetworkStore({ stateRoot: ctx.root, runRoot: join(ctx.root, "run") }) });

  it("is on the default bridge unless told otherwise, as with Docker", async () => {
    await using c = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["sleep", "300"] });
    expect((await c.inspect()).HostConfig.NetworkMode).toBe("bridge");
    const state = await manager().container(c.id);
    expect(state?.netnsPath).toBeTruthy();
    const addr = await c.exec(["ip", "-4", "-o", "addr", "show", "eth0"]);
    expect(addr.stdout).toMatch(/inet 10\.88\./);
    await c.remove({ force: true });
    expect(await manager().container(c.id)).toBeUndefined();
    expect(existsSync(state!.netnsPath)).toBe(false);
  });

  it("networkMode none has only loopback, up (as Docker brings it up)", async () => {
    await using c = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["sleep", "300"], networkMode: "none" });
    expect((await c.inspect()).HostConfig.NetworkMode).toBe("none");
    const links = await c.exec(["ls", "/sys/class/net"]);
    expect(links.stdout.trim().split(/\s+/)).toEqual(["lo"]);
    // `unknown` is what an up loopback reports; a down one says `down`.
    expect((await c.exec(["cat", "/sys/class/net/lo/operstate"])).stdout.trim()).toBe("unknown");
    expect((await c.exec(["ping", "-c", "1", "-W", "2", "127.0.0.1"])).exitCode).toBe(0);
  });

  it("networkMode names a user network, with aliases and published ports", async () => {
    // A random subnet: a fixed one collides with this test running in another checkout or process.
    const net = await Network.create({ name: "facade-net", subnet: testSubnet().subnet, manager: manager() });
    try {
      await using db = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["sleep", "300"], networkMode: "facade-net", networkAliases: ["db"] });
      await using app = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["sleep", "300"], networkMode: "facade-net", ports: ["0:80"] });
      expect((await app.inspect()).HostConfig.NetworkMode).toBe("facade-net");
      expect((await app.exec(["ping", "-c", "1", "-W", "2", "db"])).exitCode).toBe(0);
      expect((await manager().container(app.id))?.proxy?.ports.length).toBeGreaterThan(0);
      await using side = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["sleep", "300"], networkMode: `container:${db.id}` });
      expect((await side.exec(["ping", "-c", "1", "-W", "2", "db"])).exitCode).toBe(0);
    } finally {
      await net.remove();
    }
  });

  it("refuses published ports without a network that has addresses, and a network that does not exist", async () => {
    const error = await Container.create({ engine: ctx.engine, image: "busybox:test", cmd: ["true"], networkMode: "none", ports: [80] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BERTH_INVALID_ARGUMENT", context: { field: "ports" } });
    const missing = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["true"], networkMode: "no-such-network" }).catch((e: unknown) => e);
    expect(hasErrorCode(missing, "BERTH_NETWORK_NOT_FOUND")).toBe(true);
  });
});
