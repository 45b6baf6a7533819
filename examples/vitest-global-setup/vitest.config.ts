// A vitest project whose global setup starts Redis once for the whole run (berth/vitest's
// defineBerthSetup) and hands its URL to every test file through provide/inject.
//   npx vitest run --root examples/vitest-global-setup
// REDIS_IMAGE picks the image (berth's tests use their fixture, berth-fixtures/redis:7).
import { defineConfig } from "vitest/config";

export default defineConfig({
  // Caches outside the source tree when a test runs this project.
  cacheDir: process.env.VITE_CACHE_DIR ?? "node_modules/.vite",
  test: {
    include: ["*.spec.ts"],
    globalSetup: ["./global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 180_000,
  },
});
