// The network layer: bridge networks, IPAM, names between containers, published ports.
export { Network } from "./network.js";
export type { NetworkInspect, NetworkApiOptions, ConnectOptions } from "./network.js";
export { NetworkManager, defaultNetworkName, defaultBridgeName } from "./network-manager.js";
export { stopProxy, isProxyRunning } from "./proxy-process.js";
export type { CreateNetworkOptions, EndpointRequest, AttachTarget, AttachResult, NetworkManagerOptions } from "./network-manager.js";
export { NetworkStore } from "./network-store.js";
export type { NetworkRecord, EndpointRecord, ContainerNetworkState, NetworkStoreOptions } from "./network-store.js";
export { BridgeAttachment, bridgeDriverName } from "./bridge-attachment.js";
export type { BridgeAttachmentOptions, BridgeEndpoint } from "./bridge-attachment.js";
export { ContainerAttachment, containerDriverName } from "./container-attachment.js";
export type { ContainerAttachmentOptions } from "./container-attachment.js";
export { NativeNet } from "./native-net.js";
export type { NativeNetOptions, ProxiedPort, VethOptions, VethResult } from "./native-net.js";
export { parsePortSpec } from "./port-spec.js";
export type { PortSpec } from "./port-spec.js";
export { validateAlias, hostGatewayName } from "./hosts-file.js";
export { noneNetwork, hostNetwork } from "../runtime/engine/network-attachment.js";
