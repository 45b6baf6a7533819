// The builder's front half: everything that needs no container.
export { parseDockerfile, parseGoDuration, parseHeredocWord, splitWordsKeepingQuotes, flagValue, flagValues } from "./dockerfile-parser.js";
export type {
  ArgDefinition,
  HealthcheckSpec,
  Heredoc,
  Instruction,
  InstructionFlag,
  KeyValue,
  ParsedDockerfile,
  ParserDirectives,
  ParseWarning,
} from "./dockerfile-parser.js";
export { ShellLex, expandingInstructions, lookupVariable } from "./shell-lex.js";
export type { LexResult, ShellLexOptions, VariableSource } from "./shell-lex.js";
export { PatternMatcher, compilePattern, parseDockerignore, readDockerignore, walkContext, cleanPath } from "./dockerignore.js";
export type { ContextEntry, IgnorePattern, ReadDockerignoreOptions, WalkContextOptions } from "./dockerignore.js";
export { FileHashCache, cleanSource, defaultFileHashCachePath, hashCopySources, hashFileContent, hasWildcards, resolveCopySources } from "./context-hash.js";
export type { CopyEntry, HashCopySourcesOptions, ResolveCopySourcesOptions, ResolvedSource } from "./context-hash.js";
export { findStage, formatPlatform, hostPlatform, parsePlatform, planBuild, platformArgs, proxyArgs, stageReferences } from "./build-plan.js";
export type { BuildPlan, BuildStage, MetaArg, Platform, PlanBuildOptions, StageBase } from "./build-plan.js";
export {
  absoluteDestination,
  defaultPathEnv,
  evaluateStage,
  historyComment,
  isValidStopSignal,
  normalizeWorkdir,
  parseExposedPorts,
} from "./stage-evaluator.js";
export type {
  BuildStep,
  CopyStep,
  DockerHealthcheck,
  EvaluateStageOptions,
  EvaluatedStage,
  HistoryEntry,
  ImageRunConfig,
  MetadataStep,
  RunStep,
  StepEnvironment,
  WorkdirStep,
} from "./stage-evaluator.js";
export { cacheKeyVersion, stepCacheKey } from "./cache-key.js";
export type { StepCacheKeyInput } from "./cache-key.js";
export { parseRunMount, parseRunNetwork, parseRunSecurity, parseByteSize, splitCsv } from "./run-mounts.js";
export type { CacheSharing, RunMount, RunMountType, RunNetwork, RunSecurity } from "./run-mounts.js";
export { applyChmod, isGitSource, isRemoteSource, parseChmod, parseChown, parseCopyFlags } from "./copy-flags.js";
export type { ChmodSpec, CopyFlags } from "./copy-flags.js";
export { parseGitSource, urlFileName } from "./remote-source.js";
export { canExecute } from "./platform-support.js";
