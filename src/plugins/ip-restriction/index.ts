/**
 * The `ip-restriction` plugin: Kong 3's ip-restriction. Denies or allows the client address (the
 * socket peer, or the X-Forwarded-For client when the peer is in `_tollgate.trusted_ips`) against
 * IPs and CIDR ranges, IPv4 and IPv6. See docs/plugins/ip-restriction.md.
 */
import { BlockList, isIP } from 'node:net';
import schema from '../../../schemas/plugins/ip-restriction.schema.json' with { type: 'json' };
import type { GatewayRequest, PluginHandlers, PluginLogger } from '../../index.ts';
import { definePlugin, PluginConfigError } from '../../index.ts';

/** The ip-restriction plugin's config, defaults applied. */
export interface IpRestrictionConfig {
  allow?: string[] | null;
  deny?: string[] | null;
  status?: number | null;
  message?: string | null;
}

/** Kong's priority for ip-restriction. */
export const IP_RESTRICTION_PRIORITY = 990;

/** Builds a BlockList from IPs and CIDRs; throws PluginConfigError naming the bad entry. */
export function compileIpList(list: readonly string[], field: string): BlockList {
  const bl = new BlockList();
  list.forEach((entry, i) => {
    const slash = entry.indexOf('/');
    const addr = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw new PluginConfigError(`${field}.${i}`, `invalid ip or cidr range: '${entry}'`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (slash < 0) return bl.addAddress(addr, type);
    const bitsText = entry.slice(slash + 1);
    const bits = Number(bitsText);
    if (!/^\d{1,3}$/.test(bitsText) || bits > (family === 6 ? 128 : 32)) {
      throw new PluginConfigError(`${field}.${i}`, `invalid ip or cidr range: '${entry}'`);
    }
    bl.addSubnet(addr, bits, type);
  });
  return bl;
}

/** Checks an address against a list, treating an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as IPv4. */
export function ipListHas(list: BlockList, ip: string): boolean {
  if (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4) ip = ip.slice(7);
  const family = isIP(ip);
  if (family === 0) return false;
  return list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

class IpRestriction implements PluginHandlers {
  private readonly allow: BlockList | null;
  private readonly deny: BlockList | null;
  private readonly status: number;
  private readonly message: string | null;
  private readonly logger: PluginLogger;

  constructor(config: IpRestrictionConfig, log: PluginLogger) {
    const allow = config.allow ?? [];
    const deny = config.deny ?? [];
    if (allow.length === 0 && deny.length === 0) {
      throw new PluginConfigError('', "at least one of these fields must be non-empty: 'config.allow', 'config.deny'");
    }
    this.allow = allow.length > 0 ? compileIpList(allow, 'allow') : null;
    this.deny = deny.length > 0 ? compileIpList(deny, 'deny') : null;
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

export default definePlugin<IpRestrictionConfig>({
  name: 'ip-restriction',
  version: '1.0.0',
  priority: IP_RESTRICTION_PRIORITY,
  schema,
  create(config, context) {
    return new IpRestriction(config, context.log);
  },
});
