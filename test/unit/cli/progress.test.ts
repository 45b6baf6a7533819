import { describe, expect, it } from "vitest";
import { BuildProgressView, ProgressDisplay, progressText } from "../../../src/cli/progress.js";

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

describe("BuildProgressView (BuildKit's tty display)", () => {
  it("redraws the whole block in place: header, one line per step, a running step's last output", () => {
    const chunks: string[] = [];
    let now = 1000;
    const view = new BuildProgressView({ write: (t: string) => chunks.push(t), isTTY: true, columns: 40 }, () => now);
    view.step("0:1", "[stage-0] FROM busybox", "cached");
    now = 1500;
    view.step("0:2", "[stage-0] RUN make", "running");
    view.output("0:2", "compiling\n");
    now = 3000;
    view.step("0:2", "[stage-0] RUN make", "done", 1400);
    view.finish(["naming to app:1"]);
    const frames = chunks.map((c) => c.replace(/\x1b\[\d*[AJ]/g, "").split("\x1b[2K").join("").trimEnd().split("\n"));
    // 40 columns: the title padded to 35, a space, the time.
    const line = (left: string, time: string) => `${left.padEnd(35)} ${time}`;
    expect(frames[2]).toEqual(["[+] Building 0.5s (1/2)", line(" => CACHED [stage-0] FROM busybox", "0.0s"), line(" => [stage-0] RUN make", "0.0s"), " => => # compiling"]);
    expect(frames[4]).toEqual(["[+] Building 2.0s (2/2) FINISHED", line(" => CACHED [stage-0] FROM busybox", "0.0s"), line(" => [stage-0] RUN make", "1.4s"), " => => naming to app:1"]);
    // Each frame after the first moves up over the previous one.
    expect(chunks[1]!.startsWith("\x1b[2A")).toBe(true);
    expect(chunks[3]!.startsWith("\x1b[4A")).toBe(true);
  });
});
