// Runs the benchmarks: every bench/*.bench.ts, or those named on the command line
// (`npm run bench -- runtime`). Each file's default export is an async function that prints
// its results. A benchmark that throws is reported and the others still run; benchmarks
// never fail a build.
import { readdirSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

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
