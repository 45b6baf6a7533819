// engine.commit stores the new layer uncompressed by default (as Docker's local store does; a
// push compresses it), or gzip-compressed when asked; either image runs with the layer's files.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mediaTypes } from "../../../src/image/oci.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { createEngineContext, logLines, type EngineContext } from "./engine-context.js";

describeAsRoot("engine.commit's layer compression", () => {
  let ctx: EngineContext;
  beforeAll(async () => {
    ctx = await createEngineContext();
  }, 120_000);
  afterAll(async () => {
    await ctx?.dispose();
  });

  for (const compression of [undefined, "none", "gzip"] as const) {
    it(`compression ${compression ?? "(default)"}: the layer's media type and bytes, and the image runs`, async () => {
      const { engine } = ctx;
      const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo kept > /kept"] });
      await engine.start(id);
      expect(await engine.wait(id)).toBe(0);
      const tag = `committed-${compression ?? "default"}:1`;
      await engine.commit(id, { tag, changes: { Cmd: ["cat", "/kept"] }, ...(compression ? { compression } : {}) });
      const layer = (await engine.images.get(tag)).layers.at(-1)!;
      const blob = await engine.images.readBlob(layer.digest);
      if (compression === "gzip") {
        expect(layer.mediaType).toBe(mediaTypes.ociLayerGzip);
        expect([blob[0], blob[1]]).toEqual([0x1f, 0x8b]);
        expect(layer.digest).not.toBe(layer.diffId);
      } else {
        expect(layer.mediaType).toBe(mediaTypes.ociLayer);
        // An uncompressed layer's blob is its tar: one digest for both.
        expect(layer.digest).toBe(layer.diffId);
        expect(blob.length).toBe(layer.size);
        // What a push sends instead (src/registry/push.ts): a gzip of it.
        const gz = await engine.images.gzipBlob(layer.digest);
        expect(gz.digest).not.toBe(layer.digest);
      }
      const child = await engine.create({ image: tag });
      await engine.start(child);
      expect(await engine.wait(child)).toBe(0);
      expect(await logLines(engine, child)).toEqual(["stdout: kept"]);
      for (const c of [id, child]) await engine.remove(c);
    });
  }
});
