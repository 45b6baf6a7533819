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
        value = expandLenient(value, resolve, file, key, true);
      }
    } else {
      const hash = rest.search(/\s#/);
      if (hash !== -1) rest = rest.slice(0, hash);
      value = expandLenient(rest.trimEnd(), resolve, file, key, false);
    }
    out[key] = value;
  }
  return out;
}

/**
 * Expands `$VAR`, `${VAR}` and `${VAR:-default}`-style references in an env-file value, but
 * leaves any other `$` (and `$$`) as it is: unlike the compose file, an env file often holds passwords
 * with a `$` in them, and Compose's dotenv reader keeps those. `\$` is a literal `$`; in
 * double quotes `\n`, `\r`, `\t`, `\"` and `\\` are escapes too.
 */
function expandLenient(value: string, lookup: (name: string) => string | undefined, file: string, key: string, doubleQuoted: boolean): string {
  return value.replace(/\$\$|\\([\\nrt"$])|\$\{([^{}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, escaped: string | undefined, braced: string | undefined, named: string | undefined) => {
    // `$$` is kept as written: env files hold passwords, not Compose's escapes.
    if (match === "$$") return match;
    if (escaped !== undefined) {
      if (escaped === "$") return "$";
      if (!doubleQuoted) return match;
      return ({ n: "\n", r: "\r", t: "\t" } as Record<string, string>)[escaped] ?? escaped;
    }
    if (named !== undefined) return lookup(named) ?? "";
    return interpolateString(`\${${braced}}`, lookup, { file, field: key });
  });
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
