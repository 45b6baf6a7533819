// The registry layer's exports. pull.ts and push.ts (the store side) add theirs here.
export { RegistryClient } from "./registry-client.js";
export { manifestMediaTypes } from "./manifest-checks.js";
export type { RegistryClientOptions, RegistryLoginOptions, RegistryLoginResult } from "./registry-client-options.js";
export { resolveCredentials, storeCredentials, eraseCredentials, dockerConfigPath, credentialKey } from "./credentials.js";
export type { CredentialOptions, ResolvedCredentials } from "./credentials.js";
export { registryEndpoints, hostOptionsFromEnv, isInsecureRegistry, dockerHubRegistry } from "./registry-hosts.js";
export type { RegistryEndpoint, RegistryHostOptions } from "./registry-hosts.js";
export { parseWwwAuthenticate } from "./www-authenticate.js";
export type { AuthChallenge } from "./www-authenticate.js";
export type {
  RegistryTransport,
  RepositoryRef,
  RegistryAuth,
  TransferProgress,
  FetchedManifest,
} from "./types.js";
