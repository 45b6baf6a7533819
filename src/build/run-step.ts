import { BerthError, hasErrorCode } from "../common/index.js";
import { diffUpperDir } from "../runtime/engine/container-commit.js";
import type { ContainerEngine } from "../runtime/engine/container-engine.js";
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
}

const lastLineCount = 20;

/** Runs the step and returns its layer tar; a non-zero exit is `BERTH_BUILD_STEP_FAILED`. */
export async function runStep(input: RunStepInput): Promise<Buffer> {
  const { engine, step } = input;
  if (step.mounts.length > 0) {
    throw new BerthError("BERTH_UNSUPPORTED", `RUN --mount on line ${step.instruction.startLine} is not supported yet`, {
      line: step.instruction.startLine,
      instruction: step.instruction.original,
    });
  }
  if (step.files.length > 0) {
    throw new BerthError("BERTH_UNSUPPORTED", `a RUN heredoc with its own interpreter (#!) on line ${step.instruction.startLine} is not supported yet`, {
      line: step.instruction.startLine,
      instruction: step.instruction.original,
    });
  }
  const env = step.environment;
  // There is no bridge attachment the builder can use yet, so `default` runs without a
  // network, as `none`; `host` shares the host's.
  const network = step.network === "host" ? "host" : "none";
  const id = await engine.create({
    image: { id: input.imageId },
    cmd: step.command,
    entrypoint: "",
    env: [...env.env, ...step.proxyEnv],
    ...(env.user ? { user: env.user } : {}),
    workingDir: env.workdir,
    network,
    labels: { "berth.build.step": String(step.instruction.startLine) },
  });
  const tail: string[] = [];
  try {
    await engine.start(id);
    const reading = (async () => {
      for await (const entry of engine.logs(id, { follow: true })) {
        const line = entry.log.replace(/\n$/, "");
        tail.push(line);
        if (tail.length > lastLineCount) tail.shift();
        input.onOutput(line, entry.stream);
      }
    })();
    let exitCode: number;
    try {
      exitCode = await engine.wait(id, { timeout: input.timeout });
    } catch (error) {
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
