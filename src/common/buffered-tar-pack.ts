import { Readable } from "node:stream";
import tar from "tar-stream";

/** A tar header as {@link BufferedTarPack.entry} takes it: a name, the rest as tar-stream defaults them. */
export type TarEntryHeader = Partial<tar.Header> & { name: string };

/** A tar archive written entry by entry and collected in memory (a layer a build step or a commit makes). */
export interface BufferedTarPack {
  /**
   * Adds one entry and resolves once it is written. A stream body is piped in (its header
   * must carry the `size`); a missing body is an empty one (directories, links, whiteouts).
   */
  entry(header: TarEntryHeader, body?: Buffer | string | Readable): Promise<void>;
  /** Ends the archive and resolves with all of it. */
  finish(): Promise<Buffer>;
}

/** Starts a {@link BufferedTarPack}. Its functions need no `this`: `const { entry } = pack` works. */
export function createBufferedTarPack(): BufferedTarPack {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    pack.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  // An error before finish() also fails the entry() in flight; finish() reports it again.
  ended.catch(() => {});
  return {
    entry: (header, body) =>
      new Promise<void>((resolve, reject) => {
        const written = (error?: Error | null) => (error ? reject(error) : resolve());
        if (body instanceof Readable) {
          body.on("error", reject);
          body.pipe(pack.entry(header as tar.Header, written));
        } else pack.entry(header as tar.Header, body ?? "", written);
      }),
    finish: async () => {
      pack.finalize();
      await ended;
      return Buffer.concat(chunks);
    },
  };
}
