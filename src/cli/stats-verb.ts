import { setTimeout as sleep } from "node:timers/promises";
import { Container } from "../harness/container.js";
import type { ContainerInspect } from "../runtime/engine/container-inspect.js";
import { cpuPercent, readContainerStats, type ContainerStatsReading as Reading } from "../runtime/engine/container-stats.js";
import { renderListing, type ListingFormat } from "./format.js";
import type { CliIo } from "./main.js";
import type { ParsedCommand } from "./parse-args.js";
import { bytesSize, humanSize } from "./units.js";

/**
 * `berth stats`: each running container's CPU, memory, network, block I/O and pids
 * (runtime/engine/container-stats.ts reads them), as Docker's table or `--format`.
 */

/** A row of `docker stats`: the fields its `--format` templates use. */
export interface StatsRow {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

const statsFormat: ListingFormat = {
  defaultTable: "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
  headers: { Container: "CONTAINER", ID: "CONTAINER ID", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT", MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS" },
  quietField: "ID",
};

/** Docker's interval between the two CPU readings (the daemon collects once a second). */
const sampleMs = 1000;

function row(ref: string, info: ContainerInspect, before: Reading | undefined, after: Reading | undefined, noTrunc: boolean): StatsRow {
  const id = noTrunc ? info.Id : info.Id.slice(0, 12);
  const name = info.Name.replace(/^\//, "");
  // A container that is not running shows dashes and zeros, as Docker's.
  if (!after) {
    return { Container: ref, ID: id, Name: name, CPUPerc: "--", MemUsage: "-- / --", MemPerc: "--", NetIO: "--", BlockIO: "--", PIDs: "--" };
  }
  const memPerc = after.memLimit > 0 ? (after.memUsage / after.memLimit) * 100 : 0;
  return {
    Container: ref,
    ID: id,
    Name: name,
    CPUPerc: `${(before ? cpuPercent(before, after) : 0).toFixed(2)}%`,
    MemUsage: `${bytesSize(after.memUsage)} / ${bytesSize(after.memLimit)}`,
    MemPerc: `${memPerc.toFixed(2)}%`,
    NetIO: `${humanSize(after.netRx, 3)} / ${humanSize(after.netTx, 3)}`,
    BlockIO: `${humanSize(after.blockRead, 3)} / ${humanSize(after.blockWrite, 3)}`,
    PIDs: String(after.pids),
  };
}

/** The containers to show: the named ones, else the running ones (all with `-a`). */
async function targets(cmd: ParsedCommand): Promise<{ ref: string; container: Container }[]> {
  if (cmd.args.length > 0) {
    return Promise.all(cmd.args.map(async (ref) => ({ ref, container: await Container.get(ref) })));
  }
  const listed = await Container.list({ all: cmd.flags.all === true });
  return Promise.all(listed.map(async (c) => ({ ref: c.Id.slice(0, 12), container: await Container.get(c.Id) })));
}

/** One table of every target, from two readings `sampleMs` apart. */
async function collect(cmd: ParsedCommand, previous?: Map<string, Reading>): Promise<{ rows: StatsRow[]; readings: Map<string, Reading> }> {
  const list = await targets(cmd);
  const infos = await Promise.all(list.map((t) => t.container.inspect()));
  const sample = async (info: ContainerInspect) => (info.State.Running ? readContainerStats(info.State.Pid, { id: info.Id }).catch(() => undefined) : undefined);
  let before = previous;
  if (!before) {
    before = new Map();
    const first = await Promise.all(infos.map(sample));
    first.forEach((r, i) => r && before!.set(infos[i]!.Id, r));
    if (first.some(Boolean)) await sleep(sampleMs);
  }
  const after = await Promise.all(infos.map(sample));
  const readings = new Map<string, Reading>();
  after.forEach((r, i) => r && readings.set(infos[i]!.Id, r));
  const rows = list.map((t, i) => row(t.ref, infos[i]!, before!.get(infos[i]!.Id), after[i], cmd.flags["no-trunc"] === true));
  return { rows, readings };
}

/** `berth stats [--no-stream] [-a] [--format] [--no-trunc] [CONTAINER...]`. */
export async function stats(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const format = typeof cmd.flags.format === "string" && cmd.flags.format !== "" ? cmd.flags.format : undefined;
  const render = (rows: StatsRow[]) => renderListing(rows, statsFormat, format ? { format } : {});
  if (cmd.flags["no-stream"] === true) {
    io.stdout(render((await collect(cmd)).rows));
    return 0;
  }
  // Streaming: a fresh table each interval until interrupted; on a terminal it redraws in place.
  let readings: Map<string, Reading> | undefined;
  for (;;) {
    const result = await collect(cmd, readings);
    readings = result.readings;
    io.stdout(`${io.isTTY ? "\x1b[2J\x1b[H" : ""}${render(result.rows)}`);
    await sleep(sampleMs);
  }
}
