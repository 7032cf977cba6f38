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

/**
 * A compiled allow or deny list, one BlockList per address family. They are kept apart because
 * node's BlockList matches an IPv6 rule covering `::ffff:0:0/96` (`::/0`, `::/64`) against every
 * IPv4 address, where Kong (lua-resty-ipmatcher) matches IPv6 ranges against IPv6 clients only:
 * `allow: [10.0.0.0/8, "::/0"]` must not let in every IPv4 client.
 */
export interface IpList {
  readonly v4: BlockList;
  readonly v6: BlockList;
}

/** Every IPv4 address: checked as IPv6, it tells an IPv4-mapped address in any spelling. */
const ANY_IPV4 = new BlockList();
ANY_IPV4.addSubnet('0.0.0.0', 0, 'ipv4');

/** Builds an IpList from IPs and CIDRs; throws PluginConfigError naming the bad entry. */
export function compileIpList(list: readonly string[], field: string): IpList {
  const v4 = new BlockList();
  const v6 = new BlockList();
  list.forEach((entry, i) => {
    const slash = entry.indexOf('/');
    const addr = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw new PluginConfigError(`${field}.${i}`, `invalid ip or cidr range: '${entry}'`);
    const [bl, type] = family === 6 ? [v6, 'ipv6' as const] : [v4, 'ipv4' as const];
    if (slash < 0) return bl.addAddress(addr, type);
    const bitsText = entry.slice(slash + 1);
    const bits = Number(bitsText);
    if (!/^\d{1,3}$/.test(bitsText) || bits > (family === 6 ? 128 : 32)) {
      throw new PluginConfigError(`${field}.${i}`, `invalid ip or cidr range: '${entry}'`);
    }
    bl.addSubnet(addr, bits, type);
  });
  return { v4, v6 };
}

/**
 * Checks an address against a list: an IPv4 address against the IPv4 entries only, an IPv6 one
 * against the IPv6 entries only, and an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, how a
 * dual-stack socket shows an IPv4 peer) as the IPv4 address it is.
 */
export function ipListHas(list: IpList, ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return list.v4.check(ip, 'ipv4');
  if (family !== 6) return false;
  return ANY_IPV4.check(ip, 'ipv6') ? list.v4.check(ip, 'ipv6') : list.v6.check(ip, 'ipv6');
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
