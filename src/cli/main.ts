import { createRequire } from "node:module";

// The `berth` command. Its verbs arrive with the CLI issue; until then it tells its version
// so that the bin entry resolves and can be smoke-tested.
const require = createRequire(import.meta.url);
const { version } = require("../package.json") as { version: string };

const [verb] = process.argv.slice(2);
if (verb === "version" || verb === "--version" || verb === "-v") {
  process.stdout.write(`berth version ${version}\n`);
} else {
  process.stderr.write(`berth: '${verb ?? ""}' is not a berth command yet. See 'berth --version'.\n`);
  process.exitCode = 125;
}
