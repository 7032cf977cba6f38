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

/** Builds an IpList from IPs and CIDRs; throws PluginConfigError naming the bad entry. */
export function compileIpList(list: readonly string[], field: string): IpList {
  const ips = newIpList();
  list.forEach((entry, i) => {
    const slash = entry.indexOf('/');
    const addr = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw new PluginConfigError(`${field}.${i}`, `invalid ip or cidr range: '${entry}'`);
    if (slash < 0) return addIpEntry(ips, addr, undefined, family);
    const bitsText = entry.slice(slash + 1);
    const bits = Number(bitsText);
    if (!/^\d{1,3}$/.test(bitsText) || bits > (family === 6 ? 128 : 32)) {
      throw new PluginConfigError(`${field}.${i}`, `invalid ip or cidr range: '${entry}'`);
    }
    addIpEntry(ips, addr, bits, family);
  });
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
