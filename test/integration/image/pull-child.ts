// A separate process that pulls one image from an OCI layout into a store, for the tests of
// concurrent and interrupted pulls. argv: stateRoot layoutDir reference [throttleMs]
// Prints `progress` once bytes flow, then a JSON line with the blob reads it made.
import { Transform } from "node:stream";
import { ImageStore } from "../../../src/image/image-store.js";
import { OciLayoutTransport } from "../../../src/image/oci-layout.js";
import { pullImage } from "../../../src/registry/pull.js";
import type { RegistryTransport } from "../../../src/registry/types.js";

const [stateRoot, layoutDir, reference, throttle] = process.argv.slice(2);
const layout = new OciLayoutTransport(layoutDir!);
const delay = Number(throttle ?? 0);
// Slows blob bytes (a slow network) so a test can kill the pull midway.
const transport: RegistryTransport = {
  getManifest: (r, t) => layout.getManifest(r, t),
  getBlob: async (r, d, o) => {
    const stream = await layout.getBlob(r, d, o);
    if (!delay) return stream;
    return stream.pipe(
      new Transform({
        transform(chunk, _e, cb) {
          setTimeout(() => cb(null, chunk), delay);
        },
      }),
    );
  },
  hasBlob: (r, d) => layout.hasBlob(r, d),
  pushBlob: (r, d, s, o, opt) => layout.pushBlob(r, d, s, o, opt),
  putManifest: (r, t, m, b) => layout.putManifest(r, t, m, b),
};
let announced = false;
const record = await pullImage(new ImageStore(stateRoot), transport, reference!, {
  onProgress: (e) => {
    if (!announced && e.status === "downloading" && e.current > 0) {
      announced = true;
      process.stdout.write("progress\n");
    }
  },
});
process.stdout.write(`${JSON.stringify({ id: record.id, blobReads: Object.fromEntries(layout.blobReads) })}\n`);
