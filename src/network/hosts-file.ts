import { open } from "node:fs/promises";
import { BerthError } from "../common/berth-error.js";
import type { ContainerNetworkState, NetworkRecord } from "./network-store.js";

/** The name that resolves, inside containers, to the host (the first network's gateway). */
export const hostGatewayName = "host.berth.internal";

/** One /etc/hosts entry, as the engine's `extraHosts` takes it. */
export interface HostsEntry {
  name: string;
  ip: string;
}

/**
 * The entries berth puts in a container's /etc/hosts: every other container on its
 * name-resolving networks by name and alias, its own aliases, and `host.berth.internal`.
 * Docker's embedded DNS answers the same names; berth writes them instead (no daemon).
 */
export function hostsEntriesFor(container: ContainerNetworkState, networks: Map<string, NetworkRecord>): HostsEntry[] {
  const entries: HostsEntry[] = [];
  const seen = new Set<string>();
  const add = (ip: string, name: string) => {
    const key = `${ip} ${name}`;
    if (seen.has(key)) return;
    seen.add(key);
    entries.push({ ip, name });
  };
  const first = networks.get(container.networks[0] ?? "");
  if (first) add(first.gateway, hostGatewayName);
  for (const id of container.networks) {
    const network = networks.get(id);
    if (!network) continue;
    const own = network.endpoints[container.id];
    if (own) for (const alias of own.aliases) add(own.ipv4, alias);
    if (!network.dns) continue;
    for (const endpoint of Object.values(network.endpoints)) {
      if (endpoint.containerId === container.id) continue;
      add(endpoint.ipv4, endpoint.name);
      for (const alias of endpoint.aliases) add(endpoint.ipv4, alias);
    }
  }
  return entries;
}

/** The line the engine's hosts builder writes for an entry; berth matches its own lines by it. */
export function hostsLine(entry: HostsEntry): string {
  return `${entry.ip}\t${entry.name}`;
}

/**
 * Replaces berth's lines of a hosts file (`previous`) by `next`, keeping every other line.
 * The file is rewritten IN PLACE: it is bind-mounted into the container, and a rename would
 * leave the container with the old inode. The new text is written over the old then the file
 * is truncated to it, so a reader never sees it empty. Returns false when the file does not
 * exist (the container's engine has not written it yet; it will, with `next`).
 */
export async function rewriteHostsFile(path: string, previous: readonly string[], next: readonly string[]): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, "r+");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new BerthError("BERTH_IO", `cannot open hosts file ${path}`, { path, cause: error });
  }
  try {
    const text = await handle.readFile("utf8");
    const drop = new Set(previous);
    const kept = text.split("\n").filter((line, i, all) => !(i === all.length - 1 && line === "") && !drop.has(line));
    const content = Buffer.from(`${[...kept, ...next].join("\n")}\n`);
    await handle.write(content, 0, content.length, 0);
    await handle.truncate(content.length);
    return true;
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot rewrite hosts file ${path}`, { path, cause: error });
  } finally {
    await handle.close();
  }
}

/** Docker's check of a network alias: a hostname (RFC 1123 labels, at most 253 characters). */
export function validateAlias(alias: string): string {
  const label = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  if (alias.length === 0 || alias.length > 253 || !alias.split(".").every((part) => label.test(part))) {
    throw new BerthError("BERTH_ALIAS_INVALID", `invalid network alias ${JSON.stringify(alias)}: it must be a valid hostname`, {
      alias,
      field: "aliases",
    });
  }
  return alias;
}
