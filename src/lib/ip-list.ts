/**
 * Lists of IP addresses and CIDR ranges, matched the way Kong matches them (lua-resty-ipmatcher for
 * ip-restriction, nginx's set_real_ip_from for trusted_ips): an IPv4 entry matches IPv4 clients, an
 * IPv6 entry IPv6 clients. One BlockList per family, because node's BlockList alone matches an IPv6
 * range covering `::ffff:0:0/96` (`::/0`, `::/64`) against every IPv4 address: `::/0` would stand
 * for every client there is.
 */
import { BlockList } from 'node:net';

export interface IpList {
  readonly v4: BlockList;
  readonly v6: BlockList;
}

/** Every IPv4 address: checked as IPv6, it tells an IPv4-mapped address in any spelling. */
const ANY_IPV4 = new BlockList();
ANY_IPV4.addSubnet('0.0.0.0', 0, 'ipv4');

export function newIpList(): IpList {
  return { v4: new BlockList(), v6: new BlockList() };
}

/**
 * Adds an address (`bits` undefined) or a range; `family` is node's isIP() of `addr`, 4 or 6. An
 * IPv6 entry spelled IPv4-mapped and no wider than `::ffff:0:0/96` (`::ffff:10.0.0.0/104`) names
 * IPv4 addresses, and goes with the IPv4 entries.
 */
export function addIpEntry(list: IpList, addr: string, bits: number | undefined, family: number): void {
  const mapped = family === 6 && (bits === undefined || bits >= 96) && ANY_IPV4.check(addr, 'ipv6');
  const bl = family === 6 && !mapped ? list.v6 : list.v4;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (bits === undefined) bl.addAddress(addr, type);
  else bl.addSubnet(addr, bits, type);
}

/**
 * Whether an address is in the list: an IPv4 address against the IPv4 entries, an IPv6 one against
 * the IPv6 entries, and an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, how a dual-stack socket
 * shows an IPv4 peer) as the IPv4 address it is.
 */
export function ipListHas(list: IpList, ip: string, family: number): boolean {
  if (family === 4) return list.v4.check(ip, 'ipv4');
  if (family !== 6) return false;
  return ANY_IPV4.check(ip, 'ipv6') ? list.v4.check(ip, 'ipv6') : list.v6.check(ip, 'ipv6');
}
