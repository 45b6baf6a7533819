import { BerthError } from "../../common/berth-error.js";

/** The shell Docker uses for shell-form instructions when the image sets no `Shell`. */
export const defaultShell: readonly string[] = ["/bin/sh", "-c"];

/**
 * The argv of a shell-form `CMD`/`ENTRYPOINT` (`CMD echo hi` → `["/bin/sh","-c","echo hi"]`),
 * as the builder stores it in the image config. `shell` is the image's `SHELL`.
 */
export function shellForm(command: string, shell: readonly string[] = defaultShell): string[] {
  return [...shell, command];
}

/** Where the two halves of a container's command come from. */
export interface CommandSources {
  /** The image config's `Entrypoint`. */
  imageEntrypoint?: readonly string[] | null;
  /** The image config's `Cmd`. */
  imageCmd?: readonly string[] | null;
  /**
   * The entrypoint given in the options (`--entrypoint`). A string is one argv element, as
   * the Docker CLI takes it; `""` (or `[""]`) clears the image's entrypoint. Any entrypoint
   * given here also drops the image's `Cmd`.
   * @default the image's entrypoint
   */
  entrypoint?: string | readonly string[] | null;
  /** The command given in the options (the arguments after the image). @default the image's Cmd when no entrypoint is given */
  cmd?: readonly string[] | null;
}

/** The resolved command: what Docker stores as `Config.Entrypoint`/`Config.Cmd` and runs. */
export interface ResolvedCommand {
  /** The effective entrypoint (empty when none). */
  entrypoint: string[];
  /** The effective cmd (empty when none). */
  cmd: string[];
  /** The process argv: entrypoint followed by cmd. Never empty. */
  args: string[];
}

/**
 * Combines Entrypoint and Cmd as Docker does (moby `daemon/commit.go` merge, then
 * `daemon/create.go`): an entrypoint in the options replaces the image's and discards the
 * image's Cmd; a cmd in the options replaces the image's Cmd; `[""]` means "no entrypoint";
 * the process runs `entrypoint ++ cmd`. With nothing to run it fails like Docker
 * (`no command specified`) with `BERTH_INVALID_ARGUMENT`.
 */
export function resolveCommand(sources: CommandSources): ResolvedCommand {
  const userEntrypoint =
    sources.entrypoint === undefined || sources.entrypoint === null
      ? undefined
      : typeof sources.entrypoint === "string"
        ? [sources.entrypoint]
        : [...sources.entrypoint];
  let entrypoint = userEntrypoint ?? [];
  let cmd = sources.cmd ? [...sources.cmd] : [];
  // `[""]` counts as "given" here, so it drops the image's Cmd like any other entrypoint.
  if (entrypoint.length === 0) {
    if (cmd.length === 0) cmd = [...(sources.imageCmd ?? [])];
    if (userEntrypoint === undefined) entrypoint = [...(sources.imageEntrypoint ?? [])];
  }
  if (entrypoint.length === 1 && entrypoint[0] === "") entrypoint = [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", "no command specified: the image has no Entrypoint or Cmd and none was given", {
      field: "cmd",
    });
  }
  return { entrypoint, cmd, args };
}
