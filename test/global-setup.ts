import { access } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { busyboxRootfs } from "./fixtures/busybox.js";

// Runs once before every test file. Integration tests need the native helper built by
// `npm install`; say so plainly instead of letting each test fail on its own.
export default async function setup(): Promise<void> {
  const helper = fileURLToPath(new URL("../native/build/berth-runtime", import.meta.url));
  await access(helper).catch(() => {
    throw new Error(`${helper} is missing: run \`npm install\` (it builds native/ with make)`);
  });
  // Built here once, so that parallel test files find it cached instead of racing to build it.
  await busyboxRootfs();
}
