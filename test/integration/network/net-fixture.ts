import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { buildHosts } from "../../../src/runtime/container-config/etc-files.js";
import type { NetworkAttachment, NetworkPreparation } from "../../../src/runtime/engine/network-attachment.js";
import { NativeNet } from "../../../src/network/native-net.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

/** A private state root and run root for one test file, with a manager on them. */
export interface NetEnv {
  root: string;
  manager: NetworkManager;
  cleanup(): Promise<void>;
}

export async function makeNetEnv(): Promise<NetEnv> {
  const root = await makeTempDir("berth-net-");
  const store = new NetworkStore({ stateRoot: join(root, "state"), runRoot: join(root, "run") });
  const manager = new NetworkManager({ store });
  return {
    root,
    manager,
    async cleanup() {
      for (const id of await store.listContainers()) await manager.release(id).catch(() => {});
      for (const network of await store.list()) {
        // The default bridge stays, as docker0 does: another state root may be using it.
        if (network.name === "bridge") await store.delete(network.id);
        else await manager.removeNetwork(network.id).catch(() => {});
      }
      // netns-create makes its directory a mount point (shared, like /run/netns).
      await execa("umount", [store.netnsDir], { reject: false });
      await removeTempDir(root);
    },
  };
}

/**
 * A stand-in for a container while the engine is elsewhere: an engine record directory, a
 * namespace and hosts file from the attachment, written the way the engine writes them.
 * Commands run in its namespace with its /etc/hosts bind-mounted (in a private mount namespace).
 */
export interface FakeContainer {
  id: string;
  name: string;
  hostsPath: string;
  prep: NetworkPreparation;
  run(args: string[], timeout?: number): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  remove(): Promise<void>;
}

export async function startFake(env: NetEnv, name: string, attachment: NetworkAttachment): Promise<FakeContainer> {
  const id = randomBytes(32).toString("hex");
  const dir = join(env.manager.store.stateRoot, "containers", id);
  await mkdir(dir, { recursive: true });
  const hostname = id.slice(0, 12);
  let prep: NetworkPreparation;
  try {
    prep = await attachment.prepare({ id, name, hostname });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const hostsPath = join(dir, "hosts");
  await writeFile(hostsPath, buildHosts({ hostname, ipv6: false, extraHosts: prep.extraHosts ?? [], addresses: prep.hostsEntries ?? [] }));
  const netns = prep.netnsPath!;
  return {
    id,
    name,
    hostsPath,
    prep,
    async run(args, timeout = 10_000) {
      const script = `mount --bind "$0" /etc/hosts && exec "$@"`;
      const result = await execa("nsenter", [`--net=${netns}`, "unshare", "-m", "sh", "-c", script, hostsPath, ...args], {
        reject: false,
        timeout,
      });
      return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
    async remove() {
      await attachment.release({ id, name, hostname });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A /24 for one test, away from the pools of berth (10.88, 10.89) and of the native tests (10.200-249). */
export function testSubnet(): { subnet: string; base: string } {
  const [a, b] = randomBytes(2);
  const base = `10.${150 + (a! % 50)}.${b}`;
  return { subnet: `${base}.0/24`, base };
}

/** Whether a port-proxy daemon runs as `pid` (a zombie has an empty cmdline: it does not). */
export function isProxyAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("port-proxy");
  } catch {
    return false;
  }
}

/** berth-runtime's commands, with the order in which they were sent and settled. */
export class ObservedNet extends NativeNet {
  readonly events: string[] = [];

  override async netnsCreate(...args: Parameters<NativeNet["netnsCreate"]>): ReturnType<NativeNet["netnsCreate"]> {
    return this.#observe("netns-create", () => super.netnsCreate(...args));
  }

  override async portProxy(...args: Parameters<NativeNet["portProxy"]>): ReturnType<NativeNet["portProxy"]> {
    return this.#observe("port-proxy", () => super.portProxy(...args));
  }

  async #observe<T>(command: string, run: () => Promise<T>): Promise<T> {
    this.events.push(`${command} sent`);
    try {
      const result = await run();
      this.events.push(`${command} done`);
      return result;
    } catch (error) {
      this.events.push(`${command} failed`);
      throw error;
    }
  }
}
