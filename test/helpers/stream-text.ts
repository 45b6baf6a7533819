import type { Readable } from "node:stream";

/** Everything a stream gives until it ends, as UTF-8. */
export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Resolves once `stream` has given text matching `pattern` (the text so far is returned);
 * rejects if it ends first, so a test fails rather than waits on output that cannot come.
 */
export function until(stream: Readable, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (pattern.test(seen)) {
        stream.off("data", onData);
        stream.off("end", onEnd);
        resolve(seen);
      }
    };
    const onEnd = () => reject(new Error(`stream ended before ${pattern}: ${JSON.stringify(seen)}`));
    stream.on("data", onData);
    stream.once("end", onEnd);
  });
}
