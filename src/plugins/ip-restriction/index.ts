/**
 * The `ip-restriction` plugin: Kong 3's ip-restriction. Denies or allows the client address (the
 * socket peer, or the X-Forwarded-For client when the peer is in `_tollgate.trusted_ips`) against
 * IPs and CIDR ranges, IPv4 and IPv6. See docs/plugins/ip-restriction.md.
 */
import { isIP } from 'node:net';
import schema from '../../../schemas/plugins/ip-restriction.schema.json' with { type: 'json' };
import type { GatewayRequest, IpList, PluginConfigIssue, PluginHandlers, PluginLogger } from '../../index.ts';
import { addIpEntry, definePlugin, ipListHas as listHas, newIpList, PluginConfigError } from '../../index.ts';
import { KONG3_RENAMED_FIELDS, renamedFieldIssues } from '../../lib/kong-config.ts';

/** The ip-restriction plugin's config, defaults applied. */
export interface IpRestrictionConfig {
  allow?: string[] | null;
  deny?: string[] | null;
  status?: number | null;
  message?: string | null;
}

/** Kong's priority for ip-restriction. */
export const IP_RESTRICTION_PRIORITY = 990;

/**
 * An entry's address and prefix, or null where Kong refuses the spelling (kong/tools/ip.lua, the
 * `ip_or_cidr` typedef): the address as the C library's inet_pton reads it, so no IPv6 zone id
 * (`fe80::1%eth0`: an address, not a range any client comes from); an IPv6 one may be bracketed
 * (`[::1]`, lua-resty-ipmatcher strips the brackets); the prefix written as Kong's table of
 * `tostring(0..32)` or `tostring(0..128)` spells it, so no leading zero or sign (`/08`, `/+8`).
 */
function parseEntry(entry: string): { addr: string; bits: number | undefined; family: number } | null {
  const slash = entry.indexOf('/');
  let addr = slash < 0 ? entry : entry.slice(0, slash);
  if (addr.length > 2 && addr.charCodeAt(0) === 0x5b /* [ */ && addr.charCodeAt(addr.length - 1) === 0x5d /* ] */) {
    addr = addr.slice(1, -1);
    if (isIP(addr) !== 6) return null;
  }
  const family = addr.includes('%') ? 0 : isIP(addr);
  if (family === 0) return null;
  if (slash < 0) return { addr, bits: undefined, family };
  const bitsText = entry.slice(slash + 1);
  const bits = Number(bitsText);
  if (!/^(?:0|[1-9]\d{0,2})$/.test(bitsText) || bits > (family === 6 ? 128 : 32)) return null;
  return { addr, bits, family };
}

/** Builds an IpList from IPs and CIDRs; each bad entry is added to `errors`, in Kong's words. */
function compileInto(list: readonly string[], field: string, errors: PluginConfigError[]): IpList {
  const ips = newIpList();
  list.forEach((entry, i) => {
    const parsed = parseEntry(entry);
    if (parsed === null) errors.push(new PluginConfigError(`${field}.${i}`, `invalid ip or cidr range: '${entry}'`));
    else addIpEntry(ips, parsed.addr, parsed.bits, parsed.family);
  });
  return ips;
}

/** Builds an IpList from IPs and CIDRs; throws PluginConfigError naming the first bad entry in Kong's words. */
export function compileIpList(list: readonly string[], field: string): IpList {
  const errors: PluginConfigError[] = [];
  const ips = compileInto(list, field, errors);
  if (errors.length > 0) throw errors[0];
  return ips;
}

/**
 * Checks an address against a list, as Kong does: IPv6 entries (`::/0` included) match IPv6
 * clients only, IPv4 entries IPv4 clients, an IPv4-mapped peer (`::ffff:10.1.2.3`) as IPv4.
 */
export function ipListHas(list: IpList, ip: string): boolean {
  return listHas(list, ip, isIP(ip));
}

class IpRestriction implements PluginHandlers {
  private readonly allow: IpList | null;
  private readonly deny: IpList | null;
  private readonly status: number;
  private readonly message: string | null;
  private readonly logger: PluginLogger;

  constructor(config: IpRestrictionConfig, log: PluginLogger) {
    const allow = config.allow ?? [];
    const deny = config.deny ?? [];
    if (allow.length === 0 && deny.length === 0) {
      throw new PluginConfigError('', "at least one of these fields must be non-empty: 'config.allow', 'config.deny'");
    }
    // Every bad entry of both lists is reported, each at its place, as Kong's schema lists them.
    const errors: PluginConfigError[] = [];
    this.allow = allow.length > 0 ? compileInto(allow, 'allow', errors) : null;
    this.deny = deny.length > 0 ? compileInto(deny, 'deny', errors) : null;
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} invalid ip or cidr ranges`);
    this.status = config.status ?? 403;
    this.message = config.message ?? null;
    this.logger = log;
  }

  access(req: GatewayRequest): void {
    const ip = req.clientIp;
    if ((this.deny !== null && ipListHas(this.deny, ip)) || (this.allow !== null && !ipListHas(this.allow, ip))) {
      const message = this.message ?? `IP address not allowed: ${ip}`;
      this.logger.warn(message, { client_ip: ip });
      req.exitError(this.status, message, null, 'IP_DENIED');
    }
  }
}

/** The fields Kong 3.0 renamed (`whitelist`, `blacklist`), refused with the new name. */
const configIssues = (config: Readonly<Record<string, unknown>>): PluginConfigIssue[] =>
  renamedFieldIssues(config, KONG3_RENAMED_FIELDS);

export default definePlugin<IpRestrictionConfig>({
  name: 'ip-restriction',
  version: '1.0.0',
  priority: IP_RESTRICTION_PRIORITY,
  schema,
  configIssues,
  create(config, context) {
    return new IpRestriction(config, context.log);
  },
});
