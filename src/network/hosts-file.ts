import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
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

/** Ends every line berth rewrites, so the next rewrite finds its own lines (a comment to resolvers). */
export const managedMarker = "\t# berth";

/**
 * Replaces berth's lines of a hosts file by `next`, keeping every other line: the lines that
 * end with {@link managedMarker}, and those of `prepared` (what `prepare` gave the engine,
 * which writes them unmarked). Recognising its lines in the file itself means a rewrite
 * needs no record of what it wrote, so updating a peer costs no write but the file's own.
 * The file is rewritten IN PLACE: it is bind-mounted into the container, and a rename would
 * leave the container with the old inode. The new text is written over the old then the file
 * is truncated to it, so a reader never sees it empty; an unchanged file is not written.
 * Returns false when the file does not exist.
 */
export async function rewriteHostsFile(path: string, prepared: readonly string[], next: readonly string[]): Promise<boolean> {
  // Synchronous: a few microseconds a file, where each asynchronous call costs ≈ 0.1 ms.
  let fd: number;
  try {
    fd = openSync(path, "r+");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new BerthError("BERTH_IO", `cannot open hosts file ${path}`, { path, cause: error });
  }
  try {
    const text = readFileSync(fd, "utf8");
    const drop = new Set(prepared);
    const kept = text
      .split("\n")
      .filter((line, i, all) => !(i === all.length - 1 && line === "") && !drop.has(line) && !line.endsWith(managedMarker));
    const updated = `${[...kept, ...next.map((line) => `${line}${managedMarker}`)].join("\n")}\n`;
    if (updated === text) return true;
    const content = Buffer.from(updated);
    writeSync(fd, content, 0, content.length, 0);
    ftruncateSync(fd, content.length);
    return true;
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot rewrite hosts file ${path}`, { path, cause: error });
  } finally {
    closeSync(fd);
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

/**
 * Whether the container's hosts file is there to rewrite. The engine writes it under the
 * store's lock (AttachTarget.writeHosts), so it is there at once; a caller that attaches
 * without that hook writes it after `attach` returned, and a peer attaching in between must
 * wait for that write, or its entry would be written over and lost. A
 * container prepared more than 10 s ago whose file is missing never got it (its start
 * failed), and one whose directory is gone never will: neither is waited for.
 */
export async function waitForHostsFile(state: ContainerNetworkState): Promise<boolean> {
  const written = () => {
    try {
      // The engine's write is one write(2) after the create: non-empty means complete.
      return statSync(state.hostsPath).size > 0;
    } catch {
      return false;
    }
  };
  if (written()) return true;
  if (Date.now() - (state.preparedAt ?? 0) > 10_000) return false;
  // The engine's container directory holds the file: without it the container is gone (its
  // allocation waits for a reconcile) and nothing will write the file.
  if (!existsSync(dirname(state.hostsPath))) return false;
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
    if (written()) return true;
  }
  return false;
}
