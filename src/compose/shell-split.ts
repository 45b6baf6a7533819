import { BerthError } from "../common/index.js";

/**
 * Splits a command string into words the way Compose does for `command:` and
 * `entrypoint:` strings: whitespace separates, single quotes are literal, double quotes
 * allow `\"` and `\\`, a backslash outside quotes escapes the next character. No variable
 * expansion or globbing happens (that is the container shell's job).
 */
export function shellSplit(input: string, field = "command"): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (ch === "'") {
      const end = input.indexOf("'", i + 1);
      if (end === -1) throw unterminated(input, field);
      word += input.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      i++;
      let closed = false;
      while (i < input.length) {
        const c = input[i]!;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === "\\" && i + 1 < input.length && '"\\$`'.includes(input[i + 1]!)) {
          word += input[i + 1];
          i += 2;
          continue;
        }
        word += c;
        i++;
      }
      if (!closed) throw unterminated(input, field);
      inWord = true;
    } else if (ch === "\\") {
      if (i + 1 < input.length) {
        if (input[i + 1] !== "\n") word += input[i + 1];
        inWord = true;
      }
      i += 2;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function unterminated(input: string, field: string): BerthError {
  return new BerthError("BERTH_COMPOSE_INVALID", `${field}: unterminated quote in ${JSON.stringify(input)}`, { field });
}
