/**
 * Go's `text/tabwriter` with the settings Docker's tables use: cells end at tabs, each
 * column block (consecutive lines that have that column) is as wide as its widest cell plus
 * `padding`, at least `minWidth`, padded with spaces; the text after a line's last tab is
 * not aligned. Widths are display widths, as docker/cli's copy of the tabwriter counts them.
 */
export interface TabWriterOptions {
  /** @default 10 (docker/cli's formatter) */
  minWidth?: number;
  /** @default 3 (docker/cli's formatter) */
  padding?: number;
}

export function tabwrite(text: string, options: TabWriterOptions = {}): string {
  const minWidth = options.minWidth ?? 10;
  const padding = options.padding ?? 3;
  const endsWithNewline = text.endsWith("\n");
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split("\n").map((l) => l.split("\t"));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let n = from; n < to; n++) {
      const cells = lines[n]!;
      let line = "";
      cells.forEach((cell, j) => {
        if (j < widths.length && j < cells.length - 1) line += cell + " ".repeat(Math.max(0, widths[j]! - width(cell)));
        else line += cell;
      });
      out.push(line);
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let n = line0; n < line1; n++) {
      if (column >= lines[n]!.length - 1) continue;
      writeLines(start, n);
      start = n;
      let w = minWidth;
      for (; n < line1; n++) {
        const cells = lines[n]!;
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column]!) + padding);
      }
      widths.push(w);
      format(start, n);
      widths.pop();
      start = n;
      n--;
    }
    writeLines(start, line1);
  };

  format(0, lines.length);
  return out.join("\n") + (endsWithNewline ? "\n" : "");
}

function width(s: string): number {
  return displayWidth(s);
}

/**
 * How many terminal columns `s` takes, as go-runewidth counts them (docker/cli's tabwriter
 * uses it): East Asian wide and fullwidth characters and most emoji take two, combining
 * marks and zero-width characters none, everything else one.
 */
export function displayWidth(s: string): number {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (/\p{Mn}|\p{Me}|\p{Cf}/u.test(ch)) continue;
    n += isWide(cp) ? 2 : 1;
  }
  return n;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}
