import { Readable } from "node:stream";
import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { createBufferedTarPack } from "../../src/common/buffered-tar-pack.js";

/** The entries of a tar archive as `name type body`. */
async function entriesOf(archive: Buffer): Promise<string[]> {
  const out: string[] = [];
  const extract = tar.extract();
  Readable.from([archive]).pipe(extract);
  for await (const entry of extract) {
    let body = "";
    for await (const chunk of entry) body += String(chunk);
    out.push(`${entry.header.name} ${entry.header.type} ${body}`);
  }
  return out;
}

describe("createBufferedTarPack", () => {
  it("writes buffer, string, stream and empty bodies in order; entry works detached from the pack", async () => {
    const pack = createBufferedTarPack();
    const { entry } = pack;
    await entry({ name: "dir/", type: "directory" });
    await entry({ name: "dir/a", size: 2 }, Buffer.from("aa"));
    await entry({ name: "dir/b", size: 1 }, "b");
    await entry({ name: "dir/c", size: 6 }, Readable.from([Buffer.from("str"), Buffer.from("eam")]));
    await entry({ name: "dir/.wh.gone", size: 0 });
    expect(await entriesOf(await pack.finish())).toEqual(["dir/ directory ", "dir/a file aa", "dir/b file b", "dir/c file stream", "dir/.wh.gone file "]);
  });

  it("rejects the entry whose stream body fails", async () => {
    const pack = createBufferedTarPack();
    const failing = new Readable({
      read() {
        this.destroy(new Error("disk gone"));
      },
    });
    await expect(pack.entry({ name: "f", size: 4 }, failing)).rejects.toThrow("disk gone");
  });
});
