// dgram's multicast calls that name addresses (setMulticastInterface,
// add/dropMembership, add/dropSourceSpecificMembership) as libuv makes
// them: the addresses read as literals (an IPv6 interface as a %zone), the
// errors in libuv's order, a socket bound first where unbound, and the
// option each sets, with the struct of wire/membership.ts as its value.
import { constants } from 'node:os';
import { missingArgs, systemError } from '../errors';
import { abi } from '../wire/abi';
import { groupSourceReq, ipMreq, ipMreqSource, ipv6Mreq } from '../wire/membership';
import { ip4, ip6, type ParsedAddress } from '../wire/sockaddr';
import { validateString } from './arguments';
import type { KernelSocket } from './kernel-socket';

const { EINVAL } = constants.errno;

/** IP_MULTICAST_IF with an IPv4 address, or IPV6_MULTICAST_IF with the interface a %zone names; EINVAL for neither. */
export function setMulticastInterface(kernel: KernelSocket, interfaceAddress: unknown): void {
  validateString(interfaceAddress, 'interfaceAddress');
  const v4 = ip4(interfaceAddress);
  const v6 = v4 === null ? ip6(interfaceAddress) : null;
  kernel.option('setMulticastInterface', v4 === null && v6 === null ? -EINVAL : 0, (e) => {
    if (v4 !== null) e.setBytesOption(abi.IPPROTO_IP, abi.IP_MULTICAST_IF, v4.bytes, 'IP_MULTICAST_IF');
    else e.setIntOption(abi.IPPROTO_IPV6, abi.IPV6_MULTICAST_IF, v6!.scopeId, 'IPV6_MULTICAST_IF');
  });
}

/** A membership call's interface argument as text (null for none), made with the group's, before either is parsed. */
const interfaceText = (iface: unknown): string | null => (iface == null ? null : String(iface));

/** The interface of a membership call in the group's family, null for none given; EINVAL for one not of that family. */
function membershipInterface(method: string, family: 4 | 6, text: string | null): ParsedAddress | null {
  if (text === null) return null;
  const i = family === 4 ? ip4(text) : ip6(text);
  if (i === null) throw systemError(-EINVAL, method);
  return i;
}

/** IP_ADD_MEMBERSHIP with struct ip_mreq, or IPV6_JOIN_GROUP with struct ipv6_mreq (and their drops), as libuv sets them. */
export function setMembership(kernel: KernelSocket, method: string, join: boolean, group: unknown, iface: unknown): void {
  if (!group) throw missingArgs('multicastAddress');
  const groupText = String(group), ifaceText = interfaceText(iface);
  const g = ip4(groupText) ?? ip6(groupText);
  if (g === null) throw systemError(-EINVAL, method);
  kernel.bindForMulticast(method, g.family);
  const i = membershipInterface(method, g.family, ifaceText);
  if (g.family === 4) {
    kernel.option(method, 0, (e) =>
      e.setBytesOption(abi.IPPROTO_IP, join ? abi.IP_ADD_MEMBERSHIP : abi.IP_DROP_MEMBERSHIP, ipMreq(g, i), 'ip_mreq'));
  } else {
    kernel.option(method, 0, (e) => e.setBytesOption(abi.IPPROTO_IPV6, join ? abi.IPV6_JOIN_GROUP : abi.IPV6_LEAVE_GROUP,
      ipv6Mreq(g, i?.scopeId ?? 0), 'ipv6_mreq'));
  }
}

/**
 * IPv4: IP_ADD_SOURCE_MEMBERSHIP with struct ip_mreq_source. IPv6:
 * MCAST_JOIN_SOURCE_GROUP with struct group_source_req. Group and source
 * must be of one family (EINVAL).
 */
export function setSourceMembership(kernel: KernelSocket, method: string, join: boolean, source: unknown, group: unknown,
  iface: unknown): void {
  validateString(source, 'sourceAddress');
  validateString(group, 'groupAddress');
  const ifaceText = interfaceText(iface);
  const g4 = ip4(group);
  const g = g4 ?? ip6(group);
  const s = g4 !== null ? ip4(source) : ip6(source);
  if (g === null || s === null) throw systemError(-EINVAL, method);
  kernel.bindForMulticast(method, g.family);
  const i = membershipInterface(method, g.family, ifaceText);
  if (g.family === 4) {
    kernel.option(method, 0, (e) => e.setBytesOption(abi.IPPROTO_IP,
      join ? abi.IP_ADD_SOURCE_MEMBERSHIP : abi.IP_DROP_SOURCE_MEMBERSHIP, ipMreqSource(g, i, s), 'ip_mreq_source'));
  } else {
    kernel.option(method, 0, (e) => e.setBytesOption(abi.IPPROTO_IPV6,
      join ? abi.MCAST_JOIN_SOURCE_GROUP : abi.MCAST_LEAVE_SOURCE_GROUP, groupSourceReq(i?.scopeId ?? 0, g, s),
      'group_source_req'));
  }
}
