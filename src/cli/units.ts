/**
 * docker/go-units' human renderings, which `docker ps` and `docker images` print: durations
 * ("2 minutes", "About an hour") and sizes ("7.8MB", SI units, three significant digits).
 */

/** go-units `HumanDuration`, from milliseconds. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

const decimalUnits = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const binaryUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/** go-units `HumanSizeWithPrecision`: SI units, `precision` significant digits (`%.*g`). */
export function humanSize(bytes: number, precision = 4): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < decimalUnits.length - 1) {
    size /= 1000;
    i++;
  }
  return `${goFormatG(size, precision)}${decimalUnits[i]}`;
}

/** go-units `BytesSize`: binary units (`1.5GiB`), as `docker system df -v` shows some sizes. */
export function bytesSize(bytes: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1024 && i < binaryUnits.length - 1) {
    size /= 1024;
    i++;
  }
  return `${goFormatG(size, 4)}${binaryUnits[i]}`;
}

/** Go's `%.*g`: shortest of fixed and exponent forms, trailing zeros dropped, `e+03` exponents. */
export function goFormatG(value: number, precision: number): string {
  if (value === 0) return "0";
  const p = precision === 0 ? 1 : precision;
  const exp = Math.floor(Math.log10(Math.abs(Number(value.toPrecision(p)))));
  if (exp < -4 || exp >= p) {
    const [mant, e] = value.toExponential(p - 1).split("e");
    const m = mant!.includes(".") ? mant!.replace(/\.?0+$/, "") : mant!;
    const n = Number(e);
    return `${m}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
  }
  const fixed = value.toFixed(Math.max(0, p - 1 - exp));
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}
