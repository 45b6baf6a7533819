import { isIP } from "node:net";
import { BerthError } from "../../common/berth-error.js";

/** One `--add-host`: a name and an address, or `host-gateway`. */
export interface ExtraHost {
  name: string;
  /** An IPv4/IPv6 address or the literal `host-gateway`. */
  ip: string;
}

/** Options of {@link buildHosts}. */
export interface HostsOptions {
  /** The container's hostname. */
  hostname: string;
  /** The container's domain name; adds the `hostname.domain` form. @default "" */
  domainname?: string;
  /** The container's own addresses on its network; none on `--network none`. @default [] */
  addresses?: readonly string[];
  /** Aliases listed after the hostname on the container's own line. @default [] */
  aliases?: readonly string[];
  /** `--add-host` entries (`name:ip`, `name=ip`, or parsed). @default [] */
  extraHosts?: readonly (string | ExtraHost)[];
  /** What `host-gateway` stands for (Docker's `--host-gateway-ip`). @default none: using it fails */
  hostGatewayIp?: string;
  /** Whether the container has IPv6; without it the IPv6 localhost lines are left out (Docker 26+). @default true */
  ipv6?: boolean;
  /** The host's /etc/hosts, used instead of the defaults for `--network host`, as Docker does. @default none */
  hostFile?: string;
}

/** Parses `--add-host name:ip` (or `name=ip`, IPv6 with or without brackets) as Docker does. */
export function parseExtraHost(spec: string | ExtraHost): ExtraHost {
  if (typeof spec !== "string") return validateExtraHost(spec, `${spec.name}:${spec.ip}`);
  const separator = spec.includes("=") ? spec.indexOf("=") : spec.indexOf(":");
  if (separator <= 0) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `bad format for add-host: "${spec}"`, { field: "extraHosts", value: spec });
  }
  let ip = spec.slice(separator + 1);
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  return validateExtraHost({ name: spec.slice(0, separator), ip }, spec);
}

function validateExtraHost(host: ExtraHost, spec: string): ExtraHost {
  if (!/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(host.name)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid hostname in add-host: "${spec}"`, { field: "extraHosts", value: spec });
  }
  if (host.ip !== "host-gateway" && isIP(host.ip) === 0) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid IP address in add-host: "${host.ip}"`, { field: "extraHosts", value: spec });
  }
  return { name: host.name, ip: host.ip };
}

/**
 * The container's /etc/hosts as Docker writes it: the localhost lines, the `--add-host`
 * entries, then the container's own addresses with its hostname. On the host network the
 * host's file replaces the localhost lines.
 */
export function buildHosts(options: HostsOptions): string {
  const lines: string[] = [];
  if (options.hostFile !== undefined) {
    lines.push(...options.hostFile.replace(/\n+$/, "").split("\n"));
  } else {
    lines.push("127.0.0.1\tlocalhost");
    if (options.ipv6 ?? true) {
      lines.push("::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters");
    }
  }
  for (const entry of options.extraHosts ?? []) {
    const host = parseExtraHost(entry);
    let ip = host.ip;
    if (ip === "host-gateway") {
      if (!options.hostGatewayIp) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", "unable to derive the IP value for host-gateway", { field: "extraHosts", value: host.name });
      }
      ip = options.hostGatewayIp;
    }
    lines.push(`${ip}\t${host.name}`);
  }
  const names = [
    ...(options.domainname ? [`${options.hostname}.${options.domainname}`] : []),
    options.hostname,
    ...(options.aliases ?? []),
  ];
  for (const address of options.addresses ?? []) lines.push(`${address}\t${names.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

/** The container's /etc/hostname. */
export function buildHostname(hostname: string): string {
  return `${hostname}\n`;
}

/** Google's public resolvers: Docker's fallback when the host has only local nameservers. */
export const dockerFallbackNameservers: readonly string[] = ["8.8.8.8", "8.8.4.4"];
/** Docker's IPv6 fallback resolvers. */
export const dockerFallbackNameservers6: readonly string[] = ["2001:4860:4860::8888", "2001:4860:4860::8844"];

/** Options of {@link buildResolvConf}. */
export interface ResolvConfOptions {
  /** The host's resolv.conf content. */
  hostFile: string;
  /** Whether the container shares the host's network, and so its local resolvers. @default false */
  hostNetwork?: boolean;
  /** Whether the container has IPv6; without it IPv6 nameservers are dropped. @default false */
  ipv6?: boolean;
  /** `--dns`: replaces the nameservers. @default the host's */
  nameservers?: readonly string[];
  /** `--dns-search`: replaces the search domains. @default the host's */
  search?: readonly string[];
  /** `--dns-option`: replaces the options. @default the host's */
  options?: readonly string[];
  /**
   * Nameservers used when none is left after dropping the host's loopback ones. Docker uses
   * Google's ({@link dockerFallbackNameservers}); berth's default is none, because a machine
   * without outside DNS must not send queries anywhere it did not choose.
   * @default []
   */
  fallbackNameservers?: readonly string[];
}

function isLoopback(address: string): boolean {
  const bare = address.split("%")[0]!;
  return bare.startsWith("127.") || bare === "::1" || bare === "0:0:0:0:0:0:0:1";
}

/**
 * The container's /etc/resolv.conf from the host's, with Docker's rules: on a private
 * network the host's loopback nameservers (systemd-resolved's 127.0.0.53, dnsmasq) cannot
 * be reached, so they are dropped, IPv6 ones too without IPv6; when nothing is left the
 * fallback applies. Other lines are kept. `--dns*` options replace their kind.
 */
export function buildResolvConf(options: ResolvConfOptions): string {
  const lines = options.hostFile.split("\n");
  const kept: string[] = [];
  let nameservers: string[] = [];
  let search: string[] | undefined;
  let resolverOptions: string[] | undefined;
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    const keyword = fields[0];
    if (keyword === "nameserver" && fields[1]) {
      nameservers.push(fields[1]);
    } else if ((keyword === "search" || keyword === "domain") && fields.length > 1) {
      // The last search/domain line wins, as in the resolver.
      search = fields.slice(1);
    } else if (keyword === "options" && fields.length > 1) {
      resolverOptions = [...(resolverOptions ?? []), ...fields.slice(1)];
    } else if (line.trim() !== "") {
      kept.push(line);
    }
  }
  if (!options.hostNetwork) {
    nameservers = nameservers.filter((ns) => !isLoopback(ns) && (options.ipv6 || isIP(ns.split("%")[0]!) !== 6));
  }
  if (options.nameservers) nameservers = [...options.nameservers];
  if (nameservers.length === 0 && !options.hostNetwork) nameservers = [...(options.fallbackNameservers ?? [])];
  if (options.search) search = [...options.search];
  if (options.options) resolverOptions = [...options.options];
  const out = [...kept];
  if (search && search.length > 0 && !(search.length === 1 && search[0] === ".")) out.push(`search ${search.join(" ")}`);
  for (const ns of nameservers) out.push(`nameserver ${ns}`);
  if (resolverOptions && resolverOptions.length > 0) out.push(`options ${resolverOptions.join(" ")}`);
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}
