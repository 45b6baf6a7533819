import { describe, expect, it } from "vitest";
import { ProgressDisplay, progressText } from "../../../src/cli/progress.js";

describe("progressText (Docker's JSONProgress)", () => {
  it("draws the bar and the counts on a wide terminal", () => {
    expect(progressText({ current: 12_300_000, total: 45_600_000 })).toBe(`[=============>${" ".repeat(37)}]   12.3MB/45.6MB`);
  });

  it("a narrow terminal gets the counts only", () => {
    expect(progressText({ current: 1_000_000, total: 4_000_000 }, 80)).toBe("     1MB/4MB");
  });

  it("a full transfer draws 50 '=' and no time left", () => {
    expect(progressText({ current: 10, total: 10, start: 1 }, 200, 5000)).toBe(`[${"=".repeat(50)}>] ${"10B".padStart(8)}/10B`);
  });

  it("an unknown total prints what arrived so far", () => {
    expect(progressText({ current: 2_500_000, total: 0 })).toBe("   2.5MB");
    expect(progressText({ current: 0, total: 0 })).toBe("");
  });

  it("a current past the total drops the total", () => {
    expect(progressText({ current: 20, total: 10 }, 80)).toBe("     20B");
  });

  it("estimates the time left from the start time", () => {
    // 25 of 100 bytes in 10 s: 30 s to go.
    expect(progressText({ current: 25, total: 100, start: 1000 }, 80, 1_010_000)).toBe("     25B/100B 30s");
  });

  it("other units print as numbers", () => {
    expect(progressText({ current: 3, total: 10, units: "files" }, 80)).toBe("3/10 files");
  });
});

describe("ProgressDisplay", () => {
  function sink(isTTY: boolean) {
    const chunks: string[] = [];
    return { out: { write: (t: string) => chunks.push(t), isTTY, columns: 80 }, text: () => chunks.join("") };
  }

  it("off a terminal prints status changes only, one line each", () => {
    const s = sink(false);
    const d = new ProgressDisplay(s.out);
    d.message("16: Pulling from library/postgres");
    d.update("a1b2c3d4e5f6", "Pulling fs layer");
    d.update("a1b2c3d4e5f6", "Downloading", { current: 10, total: 100 });
    d.update("a1b2c3d4e5f6", "Download complete");
    d.update("a1b2c3d4e5f6", "Pull complete");
    expect(s.text()).toBe("16: Pulling from library/postgres\na1b2c3d4e5f6: Pulling fs layer\na1b2c3d4e5f6: Download complete\na1b2c3d4e5f6: Pull complete\n");
  });

  it("on a terminal redraws each layer's line in place", () => {
    const s = sink(true);
    const d = new ProgressDisplay(s.out);
    d.update("aaa", "Downloading", { current: 1, total: 4 });
    d.update("bbb", "Downloading", { current: 2, total: 4 });
    d.update("aaa", "Downloading", { current: 3, total: 4 });
    d.update("bbb", "Pull complete");
    d.message("Digest: sha256:abc");
    expect(s.text()).toBe(
      [
        "\n\x1b[1A\x1b[1K\x1b[K\raaa: Downloading       1B/4B\r\x1b[1B",
        "\n\x1b[1A\x1b[1K\x1b[K\rbbb: Downloading       2B/4B\r\x1b[1B",
        "\x1b[2A\x1b[1K\x1b[K\raaa: Downloading       3B/4B\r\x1b[2B",
        "\x1b[1A\x1b[1K\x1b[K\rbbb: Pull complete\r\x1b[1B",
        "Digest: sha256:abc\n",
      ].join(""),
    );
  });
});
