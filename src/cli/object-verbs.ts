import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { BerthError, hasErrorCode } from "../common/index.js";
import { Container } from "../harness/container.js";
import { Image } from "../harness/image.js";
import { Network } from "../network/network.js";
import { Volume } from "../volume/volume.js";
import { renderListing, renderTemplate, type ListingFormat } from "./format.js";
import type { CliIo } from "./main.js";
import type { FlagValue, ParsedCommand } from "./parse-args.js";
import { refuse } from "./container-verbs.js";
import { BuildProgressView, ProgressDisplay } from "./progress.js";
import { stats } from "./stats-verb.js";
import { Filters, globMatch } from "./filters.js";
import { applyCommitChanges } from "./commit-changes.js";
import type { ContainerInspect } from "../runtime/engine/container-inspect.js";
import { renderImages, renderNetworks, renderVolumes, truncateId, type ImageSummary } from "./tables.js";
import { humanDuration, humanSize } from "./units.js";

type Verb = (cmd: ParsedCommand, io: CliIo) => Promise<number>;

const str = (v: FlagValue | undefined): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const list = (v: FlagValue | undefined): string[] => (Array.isArray(v) ? v : []);
const map = (v: FlagValue | undefined): Record<string, string | null> => (v && typeof v === "object" && !Array.isArray(v) ? v : {});

/** `--label k=v` given as a list (network/volume create) as a record. */
function labelList(v: FlagValue | undefined): Record<string, string> {
  return Object.fromEntries(
    list(v).map((l) => {
      const eq = l.indexOf("=");
      return eq < 0 ? [l, ""] : [l.slice(0, eq), l.slice(eq + 1)];
    }),
  );
}

function errorLine(io: CliIo, error: unknown): void {
  io.stderr(`berth: ${error instanceof Error ? error.message : String(error)}\n`);
}

/** Runs `action` for each argument, as Docker does: one failure does not stop the rest; exit 1 if any failed. */
async function each(args: readonly string[], io: CliIo, action: (ref: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const ref of args) {
    try {
      await action(ref);
    } catch (error) {
      failed = true;
      errorLine(io, error);
    }
  }
  return failed ? 1 : 0;
}

function printInspect(io: CliIo, items: unknown[], format: string | undefined): void {
  if (format) for (const i of items) io.stdout(renderTemplate(format, i));
  else io.stdout(`${JSON.stringify(items, null, 4)}\n`);
}

/** The filters `images` knows, as Docker's. */
const imageFilterKeys = ["dangling", "label", "reference", "before", "since", "until"] as const;

async function createdOf(ref: string): Promise<Date> {
  const info = await (await Image.get(ref)).inspect();
  return info.created ? new Date(info.created) : new Date(0);
}

/**
 * The rows of `images`: one per tag (untagged images as `<none>`), with Docker's filters:
 * `dangling`, `label`, `reference` (a glob over `repo` and `repo:tag`, as Go's path.Match),
 * `before` / `since` (images created before / after a given one) and `until`.
 */
async function imageSummaries(filterRef?: string, filters: Filters = Filters.parse([], imageFilterKeys, "images")): Promise<ImageSummary[]> {
  const rows: ImageSummary[] = [];
  const before = await Promise.all(filters.get("before").map(createdOf));
  const since = await Promise.all(filters.get("since").map(createdOf));
  const dangling = filters.bool("dangling");
  const references = filters.get("reference");
  for (const image of await Image.list()) {
    const info = await image.inspect();
    const created = info.created ? new Date(info.created) : new Date(0);
    const untagged = info.repoTags.length === 0;
    if (dangling !== undefined && dangling !== untagged) continue;
    if (!filters.matchesLabels(info.config.config?.Labels ?? {})) continue;
    if (before.some((b) => created >= b) || since.some((s) => created <= s)) continue;
    if (!filters.createdBeforeUntil(created)) continue;
    const tags = untagged ? ["<none>:<none>"] : info.repoTags;
    for (const t of tags) {
      const colon = t.lastIndexOf(":");
      const repository = colon > t.lastIndexOf("/") ? t.slice(0, colon) : t;
      const tag = colon > t.lastIndexOf("/") ? t.slice(colon + 1) : "latest";
      if (filterRef && repository !== filterRef && `${repository}:${tag}` !== filterRef) continue;
      if (references.length > 0 && !references.some((r) => globMatch(r, repository) || globMatch(r, `${repository}:${tag}`))) continue;
      const digest = info.repoDigests.find((d) => d.slice(0, d.indexOf("@")) === repository)?.split("@")[1];
      rows.push({ id: info.id, repository, tag, created, size: info.size, ...(digest ? { digest } : {}) });
    }
  }
  return rows.sort((a, b) => b.created.getTime() - a.created.getTime() || a.repository.localeCompare(b.repository));
}

const historyFormat: ListingFormat = {
  defaultTable: "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
  headers: { ID: "IMAGE", CreatedSince: "CREATED", CreatedBy: "CREATED BY", Size: "SIZE", Comment: "COMMENT" },
  quietField: "ID",
};

/** The stdin of the CLI as a stream, or a usage error naming the flag that avoids it. */
function stdinOf(io: CliIo, what: string): Readable {
  if (!io.stdin) throw new BerthError("BERTH_CLI_USAGE", `${what} reads stdin, which is not available here`, { what });
  return io.stdin;
}

/** The config an imported rootfs starts from: nothing set. */
const emptyConfig: ContainerInspect["Config"] = {
  Hostname: "",
  Domainname: "",
  User: "",
  Tty: false,
  OpenStdin: false,
  Env: [],
  Cmd: [],
  Entrypoint: [],
  Image: "",
  WorkingDir: "",
  Labels: {},
  StopSignal: "",
  StopTimeout: 0,
  ExposedPorts: {},
  Volumes: {},
};

/** The filters the prune verbs take, as Docker's: `until`, `label`, `label!`. */
const pruneFilterKeys = ["until", "label", "label!"];

/** Whether an object created at `created` with `labels` passes the prune filters. */
function prunable(filters: Filters, created: Date, labels: Readonly<Record<string, string>>): boolean {
  return filters.createdBeforeUntil(created) && filters.matchesLabels(labels) && filters.matchesNotLabels(labels);
}

/** Removes the stopped containers the filters select; their ids. */
async function pruneContainers(filters: Filters): Promise<string[]> {
  const removed: string[] = [];
  for (const c of await Container.list({ all: true, status: ["exited", "created"] })) {
    if (!prunable(filters, new Date(c.Created * 1000), c.Labels)) continue;
    try {
      await (await Container.get(c.Id)).remove({ volumes: false });
      removed.push(c.Id);
    } catch (error) {
      // Started or removed by someone else meanwhile: not ours to prune any more.
      if (!hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND") && !hasErrorCode(error, "BERTH_CONTAINER_STATE")) throw error;
    }
  }
  return removed;
}

/**
 * `image prune`: dangling images (untagged, not pulled by digest), or with `all` every image
 * no container uses, that the filters select; then the blobs and snapshots nothing needs.
 * Lines as Docker prints them (`untagged: x`, `deleted: sha256:...`).
 */
async function pruneImages(filters: Filters, all: boolean): Promise<{ deleted: string[]; bytes: number }> {
  const lines: string[] = [];
  for (const image of await Image.list()) {
    const info = await image.inspect();
    const dangling = info.repoTags.length === 0 && info.repoDigests.length === 0;
    if (!dangling && !all) continue;
    if (!prunable(filters, info.created ? new Date(info.created) : new Date(0), info.config.config?.Labels ?? {})) continue;
    try {
      for (const tag of info.repoTags) {
        const result = await (await Image.get(tag)).remove();
        lines.push(...result.untagged.map((u) => `untagged: ${u}`));
        if (result.deleted) lines.push(`deleted: ${info.id}`);
      }
      if (info.repoTags.length === 0 && (await (await Image.get(info.id)).remove()).deleted) lines.push(`deleted: ${info.id}`);
    } catch (error) {
      // An image a container uses is not unused: kept, as Docker keeps it.
      if (!hasErrorCode(error, "BERTH_IMAGE_IN_USE") && !hasErrorCode(error, "BERTH_IMAGE_NOT_FOUND")) throw error;
    }
  }
  const swept = await Image.prune({ dangling: false });
  return { deleted: lines, bytes: swept.bytes };
}

export const objectVerbs: Record<string, Verb> = {
  stats,
  async images(cmd, io) {
    const f = cmd.flags;
    // -a shows intermediate images, which berth's builder does not keep: every image is listed anyway.
    const rows = await imageSummaries(cmd.args[0], Filters.parse(list(f.filter), imageFilterKeys, "images"));
    io.stdout(renderImages(rows, { quiet: f.quiet === true, noTrunc: f["no-trunc"] === true, digests: f.digests === true, ...(str(f.format) ? { format: str(f.format)! } : {}) }));
    return 0;
  },
  async tag(cmd) {
    const [source, target] = cmd.args as [string, string];
    await (await Image.get(source)).tag(target);
    return 0;
  },
  async rmi(cmd, io) {
    return each(cmd.args, io, async (ref) => {
      const image = await Image.get(ref);
      const result = await image.remove({ force: cmd.flags.force === true });
      for (const u of result.untagged) io.stdout(`Untagged: ${u}\n`);
      if (result.deleted) io.stdout(`Deleted: ${image.id}\n`);
    });
  },
  async pull(cmd, io) {
    const quiet = cmd.flags.quiet === true;
    const ref = cmd.args[0]!;
    const display = new ProgressDisplay({ write: (t) => io.stdout(t), isTTY: io.isTTY === true, ...(io.columns ? { columns: io.columns } : {}) });
    let fetched = false;
    const statuses = { waiting: "Waiting", downloading: "Downloading", done: "Pull complete", exists: "Already exists" } as const;
    const { parseReference } = await import("../image/reference.js");
    const parsed = parseReference(ref);
    if (!quiet) display.message(`${parsed.digest ?? parsed.tag ?? "latest"}: Pulling from ${parsed.repository}`);
    const image = await Image.pull(ref, {
      policy: "always",
      ...(str(cmd.flags.platform) ? { platform: str(cmd.flags.platform)! } : {}),
      ...(quiet ? {} : { onProgress: (e) => (fetched ||= e.status === "downloading" || e.status === "done", display.update(truncateId(e.digest), statuses[e.status], e.status === "downloading" ? { current: e.current, total: e.total } : undefined)) }),
    });
    if (!quiet) {
      display.message(`Digest: ${(await image.inspect()).digest}`);
      display.message(fetched ? `Status: Downloaded newer image for ${ref}` : `Status: Image is up to date for ${ref}`);
    }
    io.stdout(`${ref}\n`);
    return 0;
  },
  async push(cmd, io) {
    const ref = cmd.args[0]!;
    const quiet = cmd.flags.quiet === true;
    const display = new ProgressDisplay({ write: (t) => io.stdout(t), isTTY: io.isTTY === true, ...(io.columns ? { columns: io.columns } : {}) });
    if (!quiet) display.message(`The push refers to repository [${ref.replace(/:[^/:]*$/, "")}]`);
    const result = await (await Image.get(ref)).push(ref, {
      ...(quiet
        ? {}
        : { onProgress: (p) => display.update(truncateId(p.digest), p.total !== undefined && p.current >= p.total ? "Pushed" : "Pushing", { current: p.current, total: p.total ?? 0 }) }),
    });
    io.stdout(quiet ? `${result.reference}\n` : `${result.reference}: digest: ${result.digest}\n`);
    return 0;
  },
  async save(cmd, io) {
    const output = str(cmd.flags.output);
    if (cmd.args.length > 1) throw new BerthError("BERTH_UNSUPPORTED", "berth save takes one image per archive: run it once per image", { images: cmd.args });
    const image = await Image.get(cmd.args[0]!);
    if (output) {
      await image.export(output);
      return 0;
    }
    // The archive is written whole before it is streamed, as the exporter works on a path.
    const dir = await mkdtemp(join(tmpdir(), "berth-save-"));
    try {
      const file = join(dir, "image.tar");
      await image.export(file);
      if (io.stdoutBytes) io.stdoutBytes(await readFile(file));
      else io.stdout((await readFile(file)).toString("latin1"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return 0;
  },
  async load(cmd, io) {
    const input = str(cmd.flags.input);
    const images = await Image.importAll(input ?? stdinOf(io, "load without -i"));
    const seen = new Set<string>();
    for (const image of images) {
      if (seen.has(image.id)) continue;
      seen.add(image.id);
      const info = await image.inspect();
      if (info.repoTags.length > 0) for (const t of info.repoTags) io.stdout(`Loaded image: ${t}\n`);
      else io.stdout(`Loaded image ID: ${info.id}\n`);
    }
    return 0;
  },
  async import(cmd, io) {
    refuse(cmd, ["message", "platform"]);
    const [file, reference] = cmd.args as [string, string | undefined];
    const changes = list(cmd.flags.change);
    // `--change` on an import starts from an empty config, as Docker's does.
    const config = changes.length > 0 ? applyCommitChanges(emptyConfig, changes) : undefined;
    const image = await Image.fromRootfs(file === "-" ? stdinOf(io, "import -") : file, { ...(reference ? { tag: reference } : {}), ...(config ? { config } : {}) });
    io.stdout(`${image.id}\n`);
    return 0;
  },
  async history(cmd, io) {
    const info = await (await Image.get(cmd.args[0]!)).inspect();
    const now = Date.now();
    const rows = [...info.history].reverse().map((h, n) => ({
      ID: n === 0 ? (cmd.flags["no-trunc"] === true ? info.id : truncateId(info.id)) : "<missing>",
      CreatedSince: h.created ? `${humanDuration(now - new Date(h.created).getTime())} ago` : "N/A",
      CreatedAt: h.created ?? "",
      CreatedBy: h.created_by ?? "",
      Size: humanSize(0),
      Comment: h.comment ?? "",
    }));
    io.stdout(renderListing(rows, historyFormat, { quiet: cmd.flags.quiet === true, ...(str(cmd.flags.format) ? { format: str(cmd.flags.format)! } : {}) }));
    return 0;
  },

  async build(cmd, io) {
    const f = cmd.flags;
    const { isAbsolute, resolve } = await import("node:path");
    const context = resolve(io.cwd, cmd.args[0]!);
    if (cmd.args[0] === "-" || /^[a-z]+:\/\//.test(cmd.args[0]!)) {
      throw new BerthError("BERTH_UNSUPPORTED", "berth build needs a local context directory (not - or a URL)", { context: cmd.args[0] });
    }
    const buildArgs: Record<string, string> = {};
    for (const a of list(f["build-arg"])) {
      const eq = a.indexOf("=");
      // `--build-arg NAME` takes NAME's value from the caller's environment, as Docker does.
      if (eq < 0) {
        if (io.env[a] !== undefined) buildArgs[a] = io.env[a]!;
      } else buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
    }
    const secrets: Record<string, { file: string } | { value: string }> = {};
    for (const spec of list(f.secret)) {
      const fields = Object.fromEntries(spec.split(",").map((kv) => [kv.slice(0, kv.indexOf("=") < 0 ? kv.length : kv.indexOf("=")), kv.includes("=") ? kv.slice(kv.indexOf("=") + 1) : ""]));
      const id = fields.id;
      if (!id) throw new BerthError("BERTH_CLI_USAGE", `invalid --secret "${spec}": expected id=NAME[,src=FILE|,env=VAR]`, { flag: "secret" });
      const src = fields.src ?? fields.source;
      if (src) secrets[id] = { file: resolve(io.cwd, src) };
      else if (fields.env !== undefined || io.env[id] !== undefined) secrets[id] = { value: io.env[fields.env ?? id] ?? "" };
      else throw new BerthError("BERTH_CLI_USAGE", `--secret id=${id} has no src= file and no environment variable ${id}`, { flag: "secret", id });
    }
    const progress = str(f.progress) ?? "auto";
    const quiet = f.quiet === true || progress === "quiet";
    // BuildKit's tty display on a terminal (or when asked for); its plain lines otherwise.
    const view = !quiet && (progress === "tty" || (progress === "auto" && io.isTTY === true)) ? new BuildProgressView({ write: (t) => io.stderr(t), isTTY: true, ...(io.columns ? { columns: io.columns } : {}) }) : undefined;
    const steps = new Map<string, number>();
    const started = Date.now();
    const file = str(f.file);
    const tags = list(f.tag);
    // Docker's `default` is the bridge; RUN steps reach the Debian archive through its NAT.
    const networkFlag = str(f.network);
    const network = networkFlag === undefined || networkFlag === "default" ? undefined : networkFlag;
    if (network !== undefined && network !== "none" && network !== "host" && network !== "bridge") {
      throw new BerthError("BERTH_CLI_USAGE", `invalid --network "${network}" for build: expected default, bridge, none or host`, { flag: "network" });
    }
    const image = await Image.fromDockerfile(context, {
      ...(file ? { dockerfile: isAbsolute(file) ? file : resolve(io.cwd, file) } : {}),
      buildArgs,
      ...(str(f.target) ? { target: str(f.target)! } : {}),
      noCache: f["no-cache"] === true,
      labels: labelList(f.label),
      secrets,
      ...(str(f.platform) ? { platform: str(f.platform)! } : {}),
      ...(list(f["cache-from"]).length > 0 ? { cacheFrom: list(f["cache-from"]) } : {}),
      ...(network ? { network } : {}),
      onProgress: (event) => {
        if (quiet) return;
        // Plain progress, as BuildKit's: one numbered vertex per step, its output prefixed.
        const key = `${event.stage}:${event.line}`;
        let n = steps.get(key);
        if (n === undefined) {
          n = steps.size + 1;
          steps.set(key, n);
        }
        if (view) {
          if (event.type === "output") view.output(key, event.text);
          else view.step(key, `[${event.stageName ?? `stage-${event.stage}`}] ${event.instruction}`, event.status, event.durationMs);
        } else if (event.type === "output") io.stderr(`#${n} ${event.text.endsWith("\n") ? event.text : `${event.text}\n`}`);
        else if (event.status === "running") io.stderr(`#${n} [${event.stageName ?? `stage-${event.stage}`}] ${event.instruction}\n`);
        else if (event.status === "cached") io.stderr(`#${n} [${event.stageName ?? `stage-${event.stage}`}] ${event.instruction}\n#${n} CACHED\n\n`);
        else io.stderr(`#${n} DONE ${((event.durationMs ?? 0) / 1000).toFixed(1)}s\n\n`);
      },
    }).build(tags[0]);
    for (const t of tags.slice(1)) await image.tag(t);
    if (quiet) io.stdout(`${image.id}\n`);
    else if (view) view.finish([`writing image ${image.id}`, ...tags.map((t) => `naming to ${t}`)]);
    else {
      io.stderr(`#${steps.size + 1} writing image ${image.id} done\n`);
      for (const t of tags) io.stderr(`#${steps.size + 1} naming to ${t} done\n`);
      io.stderr(`#${steps.size + 1} DONE ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    }
    return 0;
  },
  async login(cmd, io) {
    const f = cmd.flags;
    const server = cmd.args[0] ?? "docker.io";
    const username = str(f.username);
    let password = str(f.password);
    if (f["password-stdin"] === true) {
      if (password) throw new BerthError("BERTH_CLI_USAGE", "--password and --password-stdin are mutually exclusive", { flag: "password-stdin" });
      const chunks: Buffer[] = [];
      for await (const chunk of stdinOf(io, "--password-stdin")) chunks.push(Buffer.from(chunk as Buffer));
      password = Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
    }
    if (!username || !password) {
      throw new BerthError("BERTH_CLI_USAGE", "berth login needs -u USERNAME and a password (-p or --password-stdin): it does not prompt", { registry: server });
    }
    const { RegistryClient } = await import("../registry/registry-client.js");
    await new RegistryClient().login(server, { username, password });
    io.stdout("Login Succeeded\n");
    return 0;
  },
  async logout(cmd, io) {
    const server = cmd.args[0] ?? "docker.io";
    const { RegistryClient } = await import("../registry/registry-client.js");
    const removed = await new RegistryClient().logout(server);
    io.stdout(removed ? `Removing login credentials for ${server}\n` : `Not logged in to ${server}\n`);
    return 0;
  },

  async "volume create"(cmd, io) {
    const opts = Object.fromEntries(Object.entries(map(cmd.flags.opt)).map(([k, v]) => [k, v ?? ""]));
    const driver = str(cmd.flags.driver) ?? "local";
    const volume = await Volume.create({
      ...(cmd.args[0] ? { name: cmd.args[0] } : {}),
      driver,
      labels: labelList(cmd.flags.label),
      ...(Object.keys(opts).length > 0 ? { driverOptions: opts } : {}),
    });
    io.stdout(`${volume.name}\n`);
    return 0;
  },
  async "volume ls"(cmd, io) {
    const filters: { name?: string[]; label?: string[]; dangling?: boolean; driver?: string } = {};
    for (const spec of list(cmd.flags.filter)) {
      const eq = spec.indexOf("=");
      const [key, value] = eq < 0 ? [spec, ""] : [spec.slice(0, eq), spec.slice(eq + 1)];
      if (key === "name" || key === "label") (filters[key] ??= []).push(value);
      else if (key === "dangling" && (value === "true" || value === "false" || value === "1" || value === "0")) filters.dangling = value === "true" || value === "1";
      else if (key === "driver") filters.driver = value;
      else throw new BerthError("BERTH_CLI_USAGE", `invalid filter '${spec}': volume ls filters by name, label, dangling=true|false or driver`, { filter: spec });
    }
    const volumes = await Promise.all((await Volume.list(filters)).map((v) => v.inspect()));
    io.stdout(
      renderVolumes(
        volumes.map((v) => ({ name: v.Name, driver: v.Driver, mountpoint: v.Mountpoint, labels: v.Labels })),
        { quiet: cmd.flags.quiet === true, ...(str(cmd.flags.format) ? { format: str(cmd.flags.format)! } : {}) },
      ),
    );
    return 0;
  },
  async "volume inspect"(cmd, io) {
    const out: unknown[] = [];
    const code = await each(cmd.args, io, async (name) => void out.push(await (await Volume.get(name)).inspect()));
    printInspect(io, out, str(cmd.flags.format));
    return code;
  },
  async "volume rm"(cmd, io) {
    return each(cmd.args, io, async (name) => {
      await (await Volume.get(name)).remove({ force: cmd.flags.force === true });
      io.stdout(`${name}\n`);
    });
  },
  async "volume prune"(cmd, io) {
    // Docker's volume prune filters by label only (and `all=true`, the same as -a).
    const filters = Filters.parse(list(cmd.flags.filter), ["label", "label!", "all"], "volume prune");
    const result = await Volume.prune({
      all: cmd.flags.all === true || filters.bool("all") === true,
      ...(filters.has("label") ? { label: filters.get("label") } : {}),
      ...(filters.has("label!") ? { labelNot: filters.get("label!") } : {}),
    });
    const removed = result.volumesDeleted;
    if (removed.length > 0) io.stdout(`Deleted Volumes:\n${removed.map((v) => `${v}\n`).join("")}\n`);
    const bytes = result.spaceReclaimed;
    io.stdout(`Total reclaimed space: ${humanSize(bytes)}\n`);
    return 0;
  },

  async "network create"(cmd, io) {
    refuse(cmd, ["ipv6", "ip-range", "opt"]);
    const driver = str(cmd.flags.driver) ?? "bridge";
    if (driver !== "bridge") throw new BerthError("BERTH_UNSUPPORTED", `network driver "${driver}" is not supported: berth has bridge networks only`, { driver });
    const subnets = list(cmd.flags.subnet);
    const gateways = list(cmd.flags.gateway);
    const network = await Network.create({
      name: cmd.args[0]!,
      ...(subnets[0] ? { subnet: subnets[0] } : {}),
      ...(gateways[0] ? { gateway: gateways[0] } : {}),
      internal: cmd.flags.internal === true,
      labels: labelList(cmd.flags.label),
    });
    io.stdout(`${network.id}\n`);
    return 0;
  },
  async "network ls"(cmd, io) {
    const filters = Filters.parse(list(cmd.flags.filter), ["driver", "id", "label", "name", "scope", "type", "dangling"], "network ls");
    const dangling = filters.bool("dangling");
    const builtin = new Set(["bridge", "host", "none"]);
    const networks = (await Promise.all((await Network.list()).map((n) => n.inspect()))).filter(
      (n) =>
        (!filters.has("driver") || filters.get("driver").includes(n.Driver)) &&
        (!filters.has("id") || filters.get("id").some((id) => n.Id.startsWith(id))) &&
        // Docker's name filter matches a part of the name.
        (!filters.has("name") || filters.get("name").some((name) => n.Name.includes(name))) &&
        (!filters.has("scope") || filters.get("scope").includes(n.Scope)) &&
        (!filters.has("type") || filters.get("type").some((t) => (t === "builtin") === builtin.has(n.Name))) &&
        (dangling === undefined || dangling === (Object.keys(n.Containers).length === 0 && !builtin.has(n.Name))) &&
        filters.matchesLabels(n.Labels),
    );
    io.stdout(
      renderNetworks(
        networks.map((n) => ({ id: n.Id, name: n.Name, driver: n.Driver, scope: n.Scope, internal: n.Internal, ipv6: false, labels: n.Labels, created: new Date(n.Created) })),
        { quiet: cmd.flags.quiet === true, noTrunc: cmd.flags["no-trunc"] === true, ...(str(cmd.flags.format) ? { format: str(cmd.flags.format)! } : {}) },
      ),
    );
    return 0;
  },
  async "network inspect"(cmd, io) {
    const out: unknown[] = [];
    const code = await each(cmd.args, io, async (name) => void out.push(await (await Network.get(name)).inspect()));
    printInspect(io, out, str(cmd.flags.format));
    return code;
  },
  async "network rm"(cmd, io) {
    return each(cmd.args, io, async (name) => {
      try {
        await (await Network.get(name)).remove();
      } catch (error) {
        if (cmd.flags.force === true && hasErrorCode(error, "BERTH_NETWORK_NOT_FOUND")) return;
        throw error;
      }
      io.stdout(`${name}\n`);
    });
  },
  async "network connect"(cmd) {
    const [net, ref] = cmd.args as [string, string];
    const container = await Container.get(ref);
    await (await Network.get(net)).connect(container.id, {
      ...(list(cmd.flags.alias).length > 0 ? { aliases: list(cmd.flags.alias) } : {}),
      ...(str(cmd.flags.ip) ? { ipv4Address: str(cmd.flags.ip)! } : {}),
    });
    return 0;
  },
  async "network disconnect"(cmd) {
    const [net, ref] = cmd.args as [string, string];
    const container = await Container.get(ref);
    await (await Network.get(net)).disconnect(container.id);
    return 0;
  },
  async "network prune"(cmd, io) {
    const filters = Filters.parse(list(cmd.flags.filter), pruneFilterKeys, "network prune");
    const removed: string[] = [];
    for (const n of await Network.list()) {
      if (n.name === "bridge") continue;
      const info = await n.inspect();
      if (Object.keys(info.Containers).length > 0) continue;
      if (!prunable(filters, new Date(info.Created), info.Labels)) continue;
      await n.remove();
      removed.push(n.name);
    }
    if (removed.length > 0) io.stdout(`Deleted Networks:\n${removed.map((n) => `${n}\n`).join("")}`);
    return 0;
  },

  async info(cmd, io) {
    const containers = await Container.list({ all: true });
    const info = {
      Containers: containers.length,
      ContainersRunning: containers.filter((c) => c.State === "running").length,
      ContainersPaused: containers.filter((c) => c.State === "paused").length,
      ContainersStopped: containers.filter((c) => c.State === "exited" || c.State === "created").length,
      Images: (await Image.list()).length,
      Driver: "overlay",
      OperatingSystem: process.platform,
      Architecture: process.arch,
      NCPU: (await import("node:os")).cpus().length,
      MemTotal: (await import("node:os")).totalmem(),
      DockerRootDir: (await import("../common/index.js")).stateRoot(io.env as NodeJS.ProcessEnv),
    };
    const format = str(cmd.flags.format);
    if (format) io.stdout(renderTemplate(format, info));
    else {
      io.stdout(
        `Server:\n Containers: ${info.Containers}\n  Running: ${info.ContainersRunning}\n  Paused: ${info.ContainersPaused}\n  Stopped: ${info.ContainersStopped}\n Images: ${info.Images}\n Storage Driver: ${info.Driver}\n Operating System: ${info.OperatingSystem}\n Architecture: ${info.Architecture}\n CPUs: ${info.NCPU}\n Total Memory: ${humanSize(info.MemTotal)}\n Berth Root Dir: ${info.DockerRootDir}\n`,
      );
    }
    return 0;
  },
  async "system df"(cmd, io) {
    const images = await Promise.all((await Image.list()).map((i) => i.inspect()));
    const containers = await Container.list({ all: true });
    const volumes = await Volume.list();
    const rows = [
      { Type: "Images", TotalCount: String(images.length), Active: String(new Set(containers.map((c) => c.ImageID)).size), Size: humanSize(images.reduce((a, i) => a + i.size, 0)), Reclaimable: "N/A" },
      { Type: "Containers", TotalCount: String(containers.length), Active: String(containers.filter((c) => c.State === "running").length), Size: "N/A", Reclaimable: "N/A" },
      { Type: "Local Volumes", TotalCount: String(volumes.length), Active: "N/A", Size: "N/A", Reclaimable: "N/A" },
    ];
    const kind: ListingFormat = { defaultTable: "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", headers: { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" }, quietField: "Type" };
    io.stdout(renderListing(rows, kind, str(cmd.flags.format) ? { format: str(cmd.flags.format)! } : {}));
    return 0;
  },
  async "system prune"(cmd, io) {
    const filters = Filters.parse(list(cmd.flags.filter), pruneFilterKeys, "system prune");
    const containers = await pruneContainers(filters);
    if (containers.length > 0) io.stdout(`Deleted Containers:\n${containers.map((id) => `${id}\n`).join("")}\n`);
    await objectVerbs["network prune"]!(cmd, io);
    if (cmd.flags.volumes === true) {
      // Docker's volume prune takes label filters, not until.
      if (filters.has("until")) throw new BerthError("BERTH_CLI_USAGE", "system prune --volumes: the until filter does not apply to volumes", { filter: "until" });
      // `system prune -a` removes every unused image, but only anonymous volumes, as Docker's.
      await objectVerbs["volume prune"]!({ ...cmd, flags: { ...cmd.flags, all: false } }, io);
    }
    const images = await pruneImages(filters, cmd.flags.all === true);
    if (images.deleted.length > 0) io.stdout(`Deleted Images:\n${images.deleted.map((i) => `${i}\n`).join("")}\n`);
    io.stdout(`Total reclaimed space: ${humanSize(images.bytes)}\n`);
    return 0;
  },
  async "container prune"(cmd, io) {
    const filters = Filters.parse(list(cmd.flags.filter), pruneFilterKeys, "container prune");
    const removed = await pruneContainers(filters);
    if (removed.length > 0) io.stdout(`Deleted Containers:\n${removed.map((id) => `${id}\n`).join("")}\n`);
    io.stdout(`Total reclaimed space: ${humanSize(0)}\n`);
    return 0;
  },
  async "image prune"(cmd, io) {
    const filters = Filters.parse(list(cmd.flags.filter), pruneFilterKeys, "image prune");
    const result = await pruneImages(filters, cmd.flags.all === true);
    if (result.deleted.length > 0) io.stdout(`Deleted Images:\n${result.deleted.map((i) => `${i}\n`).join("")}\n`);
    io.stdout(`Total reclaimed space: ${humanSize(result.bytes)}\n`);
    return 0;
  },
};
