import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * `native/build/berth-runtime` of this package, found by walking up from this module: from
 * src/common/ (sources) or dist/ (the build). The runtime driver and the layer unpacker both
 * run it, and image must not import runtime, so the lookup lives here.
 */
export function bundledRuntime(): string | undefined {
  let dir = moduleDir();
  for (let i = 0; i < 5 && dir; i++) {
    const candidate = join(dir, "native", "build", "berth-runtime");
    if (isExecutableFile(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** Whether `path` is a regular file with an execute bit. */
export function isExecutableFile(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function moduleDir(): string | undefined {
  // The CJS build has __dirname and no import.meta.url; the ESM build and sources the reverse.
  if (typeof __dirname === "string") return __dirname;
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    return undefined;
  }
}
