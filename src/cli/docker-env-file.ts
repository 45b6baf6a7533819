import { readFile } from "node:fs/promises";
import { BerthError } from "../common/index.js";

/**
 * Parses a `docker run --env-file` file, which is not Compose's `.env`: Docker takes each
 * `KEY=VALUE` line literally (quotes stay part of the value, nothing is interpolated), skips
 * blank lines and lines starting with `#`, and a bare `KEY` takes the caller's environment
 * value or is left out.
 */
export function parseDockerEnvFile(text: string, file: string, env: Record<string, string | undefined> = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, n) => {
    // Docker trims and checks only spaces and tabs (its `whiteSpaces`).
    const line = raw.replace(/^[ \t]+/, "");
    if (line === "" || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const name = eq === -1 ? line : line.slice(0, eq);
    if (name === "") throw new BerthError("BERTH_INVALID_ARGUMENT", `${file}:${n + 1}: no variable name on line '${raw}'`, { path: file, line: n + 1 });
    if (/[ \t]/.test(name)) throw new BerthError("BERTH_INVALID_ARGUMENT", `${file}:${n + 1}: variable '${name}' contains whitespaces`, { path: file, line: n + 1 });
    if (eq !== -1) out[name] = line.slice(eq + 1);
    else if (env[name] !== undefined) out[name] = env[name]!;
  });
  return out;
}

/** Reads and parses a `--env-file`; a missing file is `BERTH_INVALID_ARGUMENT` naming it. */
export async function readDockerEnvFile(file: string, env: Record<string, string | undefined> = process.env): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `open ${file}: ${(cause as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : "cannot be read"}`, {
      path: file,
      cause,
    });
  }
  return parseDockerEnvFile(text, file, env);
}
