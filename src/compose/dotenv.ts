import { readFile } from "node:fs/promises";
import { BerthError } from "../common/index.js";
import { interpolateString } from "./interpolate.js";

/**
 * Parses a `.env` / `env_file` document as Compose does: `KEY=VALUE` lines, an optional
 * `export ` prefix, `#` comments (inline only after whitespace in unquoted values), single
 * quotes literal, double quotes with `\n`-style escapes and `${VAR}` substitution from the
 * variables seen so far and `lookup`, and a bare `KEY` taking its value from `lookup`.
 */
export function parseEnvFile(text: string, file: string, lookup: (name: string) => string | undefined = () => undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const resolve = (name: string) => (name in out ? out[name] : lookup(name));
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n]!.trimStart();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("export ")) line = line.slice(7).trimStart();
    const eq = line.search(/[=:]/);
    const key = (eq === -1 ? line : line.slice(0, eq)).trim();
    if (!/^[^\s=#]+$/.test(key)) {
      throw new BerthError("BERTH_COMPOSE_INVALID", `${file}:${n + 1}: unexpected character in variable name ${JSON.stringify(key)}`, {
        path: file,
        line: n + 1,
      });
    }
    if (eq === -1) {
      const v = lookup(key);
      if (v !== undefined) out[key] = v;
      continue;
    }
    let rest = line.slice(eq + 1).trimStart();
    const quote = rest[0];
    let value: string;
    if (quote === "'" || quote === '"') {
      // Quoted values may span lines until the closing quote.
      let body = rest.slice(1);
      let close = findClose(body, quote);
      while (close === -1 && n + 1 < lines.length) {
        n++;
        body += `\n${lines[n]}`;
        close = findClose(body, quote);
      }
      if (close === -1) {
        throw new BerthError("BERTH_COMPOSE_INVALID", `${file}:${n + 1}: unterminated quoted value for ${key}`, { path: file, line: n + 1 });
      }
      value = body.slice(0, close);
      if (quote === '"') {
        value = value.replace(/\\([\\nrt"$])/g, (_, c: string) => ({ n: "\n", r: "\r", t: "\t" })[c as "n"] ?? (c === "$" ? "$$" : c));
        value = interpolateString(value, resolve, { file, field: key });
      }
    } else {
      const hash = rest.search(/\s#/);
      if (hash !== -1) rest = rest.slice(0, hash);
      value = interpolateString(rest.trimEnd(), resolve, { file, field: key });
    }
    out[key] = value;
  }
  return out;
}

function findClose(body: string, quote: string): number {
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "\\" && quote === '"') {
      i++;
      continue;
    }
    if (body[i] === quote) return i;
  }
  return -1;
}

/** Reads and parses an env file; a missing file is a `BERTH_COMPOSE_FILE_NOT_FOUND`. */
export async function readEnvFile(file: string, lookup?: (name: string) => string | undefined): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new BerthError(
      code === "ENOENT" ? "BERTH_COMPOSE_FILE_NOT_FOUND" : "BERTH_IO",
      `env file ${file} ${code === "ENOENT" ? "not found" : "cannot be read"}`,
      { path: file, cause },
    );
  }
  return parseEnvFile(text, file, lookup);
}
