// Runs the benchmarks: every bench/*.bench.ts, or those named on the command line
// (`npm run bench -- runtime`). Each file's default export is an async function that prints
// its results. A benchmark that throws is reported and the others still run; benchmarks
// never fail a build.
//
// Their stores go under /var/tmp/berth-bench-<uid> (BENCH_TMPDIR to choose), as TMPDIR: on
// disk, as a user's state root is, and apart from /tmp, which is a tmpfs on many systems and
// which test suites fill and empty on others. On an ext4 without a journal each new inode
// skips every one freed in its block group in the last minutes: after a test run a file
// create in /tmp cost 84-205 µs on the development machine against 18 µs elsewhere, and a
// Redis container's start and stop make some forty (ext4_allocate_inode events: ~25 by Node,
// ~19 by berth-runtime). A bench deletes its whole store at the end, so the next
// one would pay for it: the directory is marked as a top of a hierarchy (`chattr +T`, ext4's
// Orlov allocator), so that each store starts in a block group of its own. The cost of a
// create in a new store and in the system's temp dir is printed first.
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** Microseconds per file create (and close) in a new directory under `parent`, over 200 files. */
function createCost(parent: string): string {
  const probe = join(parent, `.berth-bench-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    const start = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) closeSync(openSync(join(probe, String(i)), "wx"));
    return (Number(process.hrtime.bigint() - start) / 1e3 / 200).toFixed(1);
  } catch (error) {
    return `n/a (${(error as Error).message})`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const systemTmp = tmpdir();
const benchTmp = process.env.BENCH_TMPDIR ?? `/var/tmp/berth-bench-${process.getuid?.() ?? "user"}`;
mkdirSync(benchTmp, { recursive: true, mode: 0o755 });
// Only ext2/3/4 know the flag; elsewhere it fails and nothing changes.
spawnSync("chattr", ["+T", benchTmp], { stdio: "ignore" });
process.env.TMPDIR = benchTmp;
console.log(`stores under ${benchTmp} (TMPDIR); a file create costs ${createCost(benchTmp)} µs there, ${createCost(systemTmp)} µs in ${systemTmp}`);

const dir = fileURLToPath(new URL(".", import.meta.url));
const wanted = process.argv.slice(2).map((name) => basename(name).replace(/\.bench\.ts$/, ""));
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.bench\.ts$/, "")))
  .sort();

if (files.length === 0) {
  console.log(`no benchmark matches ${wanted.join(", ") || "bench/*.bench.ts"}`);
}
for (const file of files) {
  console.log(`\n## ${file}`);
  try {
    const module = (await import(pathToFileURL(`${dir}/${file}`).href)) as { default: () => Promise<void> };
    await module.default();
  } catch (error) {
    console.log(`  failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
