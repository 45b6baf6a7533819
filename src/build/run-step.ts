import { writeFile } from "node:fs/promises";
import { BerthError, hasErrorCode } from "../common/index.js";
import { readLogs } from "../runtime/container-config/log-reader.js";
import { diffUpperDir } from "../runtime/engine/container-commit.js";
import type { ContainerEngine } from "../runtime/engine/container-engine.js";
import type { NetworkAttachment } from "../runtime/engine/network-attachment.js";
import type { RootfsView } from "./rootfs-view.js";
import { removeMountPoints, type PreparedRunMounts } from "./run-step-mounts.js";
import type { RunStep } from "./stage-evaluator.js";

/**
 * RUN: one container per step through the engine, on the stage's current image, with the
 * step's argv, environment, user, working directory and network; its output is streamed line
 * by line; its overlay upper directory, read after the exit with deletions turned into
 * whiteouts by the engine's own diff, becomes the layer. The container is removed whatever
 * happens.
 */

/** Input of {@link runStep}. */
export interface RunStepInput {
  engine: ContainerEngine;
  /** The image holding the stage's filesystem before the step. */
  imageId: string;
  step: RunStep;
  /** Called with each line the step writes (stdout and stderr). */
  onOutput: (line: string, stream: "stdout" | "stderr") => void;
  /** Longest time the step may run, in ms. */
  timeout: number;
  /** The step's prepared `--mount`s and heredoc scripts. */
  mounts: PreparedRunMounts;
  /** The stage's filesystem before the step (to leave new mount points out of the layer). */
  target: RootfsView;
  /** The network of a RUN without `--network` (or with `--network=default`). */
  defaultNetwork: "none" | "host" | (() => NetworkAttachment);
}

const lastLineCount = 20;

/** Runs the step and returns its layer tar; a non-zero exit is `BERTH_BUILD_STEP_FAILED`. */
export async function runStep(input: RunStepInput): Promise<Buffer> {
  const { engine, step } = input;
  const env = step.environment;
  const network = step.network === "default" ? (typeof input.defaultNetwork === "function" ? input.defaultNetwork() : input.defaultNetwork) : step.network;
  const id = await engine.create({
    image: { id: input.imageId },
    cmd: step.command,
    entrypoint: "",
    env: [...env.env, ...step.proxyEnv, ...input.mounts.env],
    mounts: input.mounts.mounts,
    tmpfs: input.mounts.tmpfs,
    ...(env.user ? { user: env.user } : {}),
    workingDir: env.workdir,
    network,
    labels: { "berth.build.step": String(step.instruction.startLine) },
  });
  const tail: string[] = [];
  try {
    // The monitor creates the log on its first write; a reader that opens it before then must
    // find a file (as the engine's own `logs` makes sure).
    const logPath = engine.store.logPath(id);
    await writeFile(logPath, "", { flag: "a" });
    await engine.start(id);
    // The log is followed until our own wait returns (the monitor records the exit only once
    // it has drained the output), not until the engine's reader notices the monitor is gone:
    // that is polled, and would add up to 100 ms to every RUN.
    let exited!: () => void;
    const exitedPromise = new Promise<void>((resolve) => (exited = resolve));
    const reading = (async () => {
      for await (const entry of readLogs(logPath, { follow: true, exited: exitedPromise })) {
        const line = entry.log.replace(/\n$/, "");
        tail.push(line);
        if (tail.length > lastLineCount) tail.shift();
        input.onOutput(line, entry.stream);
      }
    })();
    // Awaited below; a failed read must not surface as an unhandled rejection meanwhile.
    reading.catch(() => {});
    let exitCode: number;
    try {
      exitCode = await engine.wait(id, { timeout: input.timeout });
      exited();
    } catch (error) {
      exited();
      await engine.kill(id).catch(() => {});
      await reading.catch(() => {});
      throw new BerthError("BERTH_BUILD_STEP_FAILED", `RUN on line ${step.instruction.startLine} did not finish: ${(error as Error).message}`, {
        line: step.instruction.startLine,
        instruction: step.instruction.original,
        lastLines: tail,
        cause: error,
      });
    }
    await reading;
    if (exitCode !== 0) {
      throw new BerthError(
        "BERTH_BUILD_STEP_FAILED",
        `RUN on line ${step.instruction.startLine} (${step.instruction.original.trim()}) exited with code ${exitCode}`,
        { line: step.instruction.startLine, instruction: step.instruction.original, exitCode, lastLines: [...tail] },
      );
    }
    await removeMountPoints(engine.upperDir(id), input.mounts.newTargets, input.target);
    return await diffUpperDir(engine.upperDir(id));
  } catch (error) {
    if (hasErrorCode(error, "BERTH_CONTAINER_START_FAILED")) {
      const e = error as BerthError;
      throw new BerthError("BERTH_BUILD_STEP_FAILED", `RUN on line ${step.instruction.startLine} could not start: ${e.message}`, {
        line: step.instruction.startLine,
        instruction: step.instruction.original,
        exitCode: e.context.exitCode,
        lastLines: e.context.lastLines ?? tail,
        cause: error,
      });
    }
    throw error;
  } finally {
    await engine.remove(id, { force: true, volumes: true }).catch(() => {});
  }
}
