import { defineConfig } from "tsup";

export default defineConfig([
  {
    // berth/vitest is its own entry so that importing it never loads the engine.
    entry: { index: "src/index.ts", vitest: "src/vitest/index.ts" },
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "node20",
  },
  {
    // The session watchdog and the rootless rootfs worker run as their own processes, found
    // beside the library by name.
    entry: { "reaper-watchdog": "src/harness/reaper/watchdog.ts", "rootfs-worker": "src/runtime/rootless/rootfs-worker.ts" },
    format: ["esm"],
    sourcemap: true,
    target: "node20",
  },
  {
    // The CLI is ESM only: it is run, never required.
    entry: { cli: "src/cli/main.ts" },
    format: ["esm"],
    sourcemap: true,
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
  },
]);
