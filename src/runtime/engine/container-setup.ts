import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BerthError } from "../../common/berth-error.js";
import { resolveInRoot } from "../../common/safe-path.js";
import { prepareBindSource } from "../../volume/bind-source.js";
import { parseTmpfsFlag, parseVolumeFlag, type MountSpec } from "../../volume/mount-spec.js";
import type { VolumeStore } from "../../volume/volume-store.js";
import { buildHostname, buildHosts, buildResolvConf } from "../container-config/etc-files.js";
import { buildOciSpec, type ContainerMount, type NetworkMode } from "../container-config/oci-spec-builder.js";
import { resolveUser, type ResolvedUser } from "../container-config/resolve-user.js";
import type { OciSpec } from "../oci-spec.js";
import type { CreateContainerOptions } from "./container-options.js";
import type { ContainerRecord, MountRecord } from "./container-record.js";
import type { ContainerStore } from "./container-store.js";
import { hostHostsFile, type NetworkPreparation } from "./network-attachment.js";

/** Host settings kept in the record (before, beside it in `host-options.json`), needed again at each start. */
export interface HostOptions {
  capAdd: readonly string[];
  capDrop: readonly string[];
  ulimits: readonly string[];
  shmSize: number | string | undefined;
  groupAdd: readonly (string | number)[];
  sysctls: Readonly<Record<string, string>>;
  noNewPrivileges: boolean;
  extraHosts: readonly string[];
  dns: readonly string[] | undefined;
  dnsSearch: readonly string[] | undefined;
  dnsOptions: readonly string[] | undefined;
}

/** Creates a missing working directory in the container's root; true when it was missing. */
export async function createWorkdir(rootfs: string, workingDir: string): Promise<boolean> {
  // Docker creates a missing working directory (root-owned, 0755) rather than failing.
  const path = resolveInRoot(rootfs, workingDir, { followLast: true });
  try {
    // Synchronous, as the other small files of a container's setup: a thread-pool round trip
    // costs more than the syscall.
    return mkdirSync(path, { recursive: true, mode: 0o755 }) !== undefined;
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot create the working directory ${workingDir}`, { path: workingDir, cause: error });
  }
}

/**
 * Turns the options' mounts into the container's: `-v` strings and parsed specs, `--tmpfs`,
 * and an anonymous volume for each config volume nothing else is mounted on. Nothing is made
 * here: the volumes are named (anonymous ones get their generated names now) and their paths
 * are known, so the container's first record lists every mount and volume before any exists,
 * and a create that dies half-way leaves a record from which remove releases them all.
 * {@link prepareMounts} then makes them.
 */
export function planMounts(volumes: VolumeStore, record: ContainerRecord, options: CreateContainerOptions): PlannedMount[] {
  const specs: MountSpec[] = [];
  for (const m of options.mounts ?? []) specs.push(typeof m === "string" ? parseVolumeFlag(m) : m);
  for (const t of options.tmpfs ?? []) specs.push(parseTmpfsFlag(t));
  const targets = new Set<string>();
  for (const spec of specs) {
    if (!spec.target.startsWith("/") || spec.target === "/") {
      throw new BerthError("BERTH_MOUNT_INVALID", `invalid mount target ${JSON.stringify(spec.target)}: it must be an absolute path other than /`, {
        container: record.name,
        path: spec.target,
      });
    }
    const target = spec.target.replace(/\/+$/, "");
    if (targets.has(target)) {
      throw new BerthError("BERTH_MOUNT_INVALID", `Duplicate mount point: ${target}`, { container: record.name, path: target });
    }
    targets.add(target);
  }
  // The image's (and the options') VOLUMEs get anonymous volumes unless something is mounted there.
  for (const path of record.config.volumes) {
    if (!targets.has(path.replace(/\/+$/, ""))) specs.push({ type: "volume", target: path, readonly: false, noCopy: false });
  }
  return specs.map((spec): PlannedMount => {
    if (spec.type === "tmpfs") {
      const opts = [...(spec.options ?? [])];
      if (spec.size !== undefined) opts.push(`size=${spec.size}`);
      if (spec.mode !== undefined) opts.push(`mode=${spec.mode.toString(8)}`);
      if (spec.readonly) opts.push("ro");
      return { spec, record: { type: "tmpfs", destination: spec.target, readonly: spec.readonly, mount: { type: "tmpfs", destination: spec.target, options: opts } } };
    }
    if (spec.type === "bind") {
      return {
        spec,
        record: {
          type: "bind",
          source: spec.source,
          destination: spec.target,
          readonly: spec.readonly,
          mount: { type: "bind", source: spec.source, destination: spec.target, readonly: spec.readonly, recursive: spec.recursive, ...(spec.propagation ? { propagation: spec.propagation } : {}) },
        },
      };
    }
    const anonymous = spec.source === undefined;
    const name = spec.source ?? randomBytes(32).toString("hex");
    const data = volumes.mountpoint(name);
    const source = spec.subpath ? join(data, spec.subpath) : data;
    return {
      spec,
      record: { type: "volume", name, anonymous, source, destination: spec.target, readonly: spec.readonly, mount: { type: "bind", source, destination: spec.target, readonly: spec.readonly } },
    };
  });
}

/** One mount of a container as {@link planMounts} planned it: what was asked, and what the record says. */
export interface PlannedMount {
  spec: MountSpec;
  record: MountRecord;
}

/**
 * Makes the planned mounts: bind sources made where `-v` asks for it, volumes created (named
 * ones reused) with the container recorded as their user and, unless `nocopy`, an empty one
 * filled from the image's content at the target, each in one step of the volume store.
 */
export async function prepareMounts(
  volumes: VolumeStore,
  record: ContainerRecord,
  planned: readonly PlannedMount[],
  rootfs: string,
  // Each volume's source found beforehand, by target (undefined: nothing to copy), for a root
  // this process cannot read (rootless on fuse-overlayfs: see RootlessSupport.openRootfs).
  sources?: ReadonlyMap<string, string | undefined>,
): Promise<void> {
  for (const { spec, record: entry } of planned) {
    if (spec.type === "bind") await prepareBindSource(spec);
    if (spec.type !== "volume") continue;
    const anonymous = entry.anonymous ?? false;
    await volumes.create({
      name: entry.name!,
      anonymous,
      user: record.id,
      ...(spec.noCopy ? {} : sources ? (sources.get(spec.target) ? { copyFrom: sources.get(spec.target)! } : {}) : { copyFrom: { rootfs, path: spec.target } }),
      // Named volumes outlive the container; an anonymous one is as durable as its record.
      durable: !anonymous,
      ...(spec.labels ? { labels: spec.labels } : {}),
      ...(spec.driverOptions ? { driverOptions: spec.driverOptions } : {}),
    });
  }
}

/** The text of a container's /etc/hosts, as Docker writes it. */
export async function containerHostsText(record: ContainerRecord, host: HostOptions, hostNet: boolean, prep?: NetworkPreparation): Promise<string> {
  return buildHosts({
    hostname: record.config.hostname,
    ...(record.config.domainname ? { domainname: record.config.domainname } : {}),
    ...(hostNet ? { hostFile: await hostHostsFile() } : {}),
    ipv6: prep?.ipv6 ?? false,
    extraHosts: [...host.extraHosts, ...(prep?.extraHosts ?? [])],
    addresses: prep?.hostsEntries ?? [],
  });
}

/** The host's /etc/resolv.conf, "" when it has none. */
function hostResolvConf(): string {
  try {
    return readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    return "";
  }
}

/** Where the engine keeps a container's /etc/hosts. */
export function containerHostsPath(store: ContainerStore, id: string): string {
  return join(store.dir(id), "hosts");
}

/**
 * Writes the container's /etc/hosts (unless `hostsWritten`), /etc/hostname and /etc/resolv.conf beside its record and
 * builds its OCI spec, with `user` when the caller resolved it, else the user resolved in its root.
 */
export async function buildContainerSpec(
store: ContainerStore,
cgroupParent: string,
record: ContainerRecord,
host: HostOptions,
network: NetworkMode,
rootfs: string,
prep?: NetworkPreparation,
hostsWritten = false,
resolved?: ResolvedUser,
): Promise<OciSpec> {
  const dir = store.dir(record.id);
  const user = resolved ?? (await resolveUser(record.config.user, { rootfs }, { groupAdd: host.groupAdd }));
  const hostNet = network.mode === "host";
  const etc = { hosts: containerHostsPath(store, record.id), hostname: join(dir, "hostname"), resolvConf: join(dir, "resolv.conf") };
  const hostsText = await containerHostsText(record, host, hostNet, prep);
  // A network layer that wrote the file under its lock (see NetworkContainer.writeHosts) may
  // since have added peers to it: written again, they would be lost.
  if (!hostsWritten) writeFileSync(etc.hosts, hostsText);
  writeFileSync(etc.hostname, buildHostname(record.config.hostname));
  writeFileSync(etc.resolvConf, resolvConfText(host, hostNet, prep));
  return buildOciSpec({
    id: record.id,
    config: record.config,
    user,
    rootfs,
    network,
    etcFiles: etc,
    mounts: record.mounts.map((m) => m.mount as ContainerMount),
    cgroupParent: cgroupParent,
    resources: record.resources,
    ulimits: host.ulimits,
    ...(host.shmSize !== undefined ? { shmSize: host.shmSize } : {}),
    readonlyRootfs: record.readonlyRootfs,
    privileged: record.privileged,
    capAdd: host.capAdd,
    capDrop: host.capDrop,
    sysctls: host.sysctls,
    noNewPrivileges: host.noNewPrivileges,
    // Docker brings `lo` up in a `none` container; an OCI runtime leaves a new namespace's `lo`
    // down. berth-runtime brings it up itself on this annotation (docs/runtime.md), which costs
    // one ioctl instead of a namespace made (and unmounted) by a helper spawn.
    ...(network.mode === "none" ? { annotations: { "org.berth.loopback": "up" } } : {}),
  });
}

function resolvConfText(host: HostOptions, hostNet: boolean, prep?: NetworkPreparation): string {
  return buildResolvConf({
    hostFile: hostResolvConf(),
    hostNetwork: hostNet,
    ipv6: prep?.ipv6 ?? false,
    ...(host.dns ?? prep?.dnsConfig?.nameservers ? { nameservers: host.dns ?? prep?.dnsConfig?.nameservers } : {}),
    ...(host.dnsSearch ?? prep?.dnsConfig?.search ? { search: host.dnsSearch ?? prep?.dnsConfig?.search } : {}),
    ...(host.dnsOptions ?? prep?.dnsConfig?.options ? { options: host.dnsOptions ?? prep?.dnsConfig?.options } : {}),
  });
}

/**
 * The spec of the bundle written at create, pointed at the namespace a network layer has just
 * prepared (`path` mode), instead of a spec built again at each start (user lookup, seccomp
 * profile, mounts: most of a start's TypeScript). Of the spec only the network namespace
 * entry and the `lo` annotation depend on the network (a joined namespace is its maker's to
 * set up), the same for every private network; the /etc files are written as
 * {@link buildContainerSpec} writes them. Undefined when there is no such bundle to start
 * from: the caller builds the spec.
 */
export async function specForPreparedNetwork(
  store: ContainerStore,
  record: ContainerRecord,
  host: HostOptions,
  bundle: string,
  prep: NetworkPreparation,
  hostsWritten: boolean,
): Promise<OciSpec | undefined> {
  if (prep.mode !== "path" || !prep.netnsPath) return undefined;
  let spec: OciSpec;
  try {
    spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as OciSpec;
  } catch {
    return undefined;
  }
  const namespace = spec.linux?.namespaces?.find((n) => n.type === "network");
  if (!namespace || spec.root?.path !== join(store.dir(record.id), "merged")) return undefined;
  namespace.path = prep.netnsPath;
  if (spec.annotations) {
    delete spec.annotations["org.berth.loopback"];
    // The restart policy's annotations are the caller's to set, from the record as it is now.
    delete spec.annotations["org.berth.restart-policy"];
  }
  if (!hostsWritten) writeFileSync(containerHostsPath(store, record.id), await containerHostsText(record, host, false, prep));
  writeFileSync(join(store.dir(record.id), "resolv.conf"), resolvConfText(host, false, prep));
  return spec;
}
