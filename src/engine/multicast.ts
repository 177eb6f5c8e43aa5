// node:dgram's multicast calls as socket options, the way libuv makes them
// (uv_udp_set_membership, uv_udp_set_source_membership,
// uv_udp_set_multicast_interface, _ttl, _loop): which option each call
// sets, with the struct of wire/membership.ts as its value, and how it
// reads its addresses (an IPv4 literal, else an IPv6 one whose %zone names
// the interface). The Linux engine makes the calls with it, for BatchSocket
// and for the dgram drop-in, which reads its addresses here first to fail
// in libuv's order (compat/multicast.ts).
import { constants } from 'node:os';
import { errnoOf, systemError } from '../errors';
import { abi } from '../wire/abi';
import { groupSourceReq, ipMreq, ipMreqSource, ipv6Mreq } from '../wire/membership';
import { inFamily, ip4, ip6, type ParsedAddress } from '../wire/sockaddr';
import type { Engine, MembershipCall, Multicast, SourceMembershipCall } from './contract';

const { EINVAL } = constants.errno;

/** A group, or setMulticastInterface's interface: IPv4, else IPv6; null for neither (EINVAL). */
export const multicastAddress = (text: string): ParsedAddress | null => ip4(text) ?? ip6(text);

/** A source-specific call's group and source, which must be of one family; null where they are not (EINVAL). */
export function sourceAndGroup(source: string, group: string): { source: ParsedAddress; group: ParsedAddress } | null {
  const g = multicastAddress(group);
  const s = g === null ? null : inFamily(source, g.family);
  return g === null || s === null ? null : { source: s, group: g };
}

/** A membership's interface in the group's family, null for none given; EINVAL for one not of that family. */
function membershipInterface(method: string, group: ParsedAddress, text: string | null): ParsedAddress | null {
  if (text === null) return null;
  const i = inFamily(text, group.family);
  if (i === null) throw systemError(-EINVAL, method);
  return i;
}

/** The option setter's refusal as dgram reports it: named after the call, not the option. */
function asCall(method: string, set: () => void): void {
  try {
    set();
  } catch (e) {
    throw systemError(errnoOf(e), method);
  }
}

/** What the calls need of an engine: its socket option setters. */
type OptionSetters = Pick<Engine, 'setIntOption' | 'setBytesOption' | 'setFamilyOption'>;

/** The multicast calls of an engine that sets socket options. */
export class MulticastOptions implements Multicast {
  readonly #engine: OptionSetters;

  constructor(engine: OptionSetters) {
    this.#engine = engine;
  }

  /** IP_ADD_MEMBERSHIP with struct ip_mreq, or IPV6_JOIN_GROUP with struct ipv6_mreq, and their drops. */
  membership(method: MembershipCall, group: string, iface: string | null): void {
    const join = method === 'addMembership';
    const g = multicastAddress(group);
    if (g === null) throw systemError(-EINVAL, method);
    const i = membershipInterface(method, g, iface);
    asCall(method, () => {
      if (g.family === 4) {
        this.#engine.setBytesOption(abi.IPPROTO_IP, join ? abi.IP_ADD_MEMBERSHIP : abi.IP_DROP_MEMBERSHIP, ipMreq(g, i), 'ip_mreq');
      } else {
        this.#engine.setBytesOption(abi.IPPROTO_IPV6, join ? abi.IPV6_JOIN_GROUP : abi.IPV6_LEAVE_GROUP,
          ipv6Mreq(g, i?.scopeId ?? 0), 'ipv6_mreq');
      }
    });
  }

  /**
   * IPv4: IP_ADD_SOURCE_MEMBERSHIP with struct ip_mreq_source. IPv6:
   * MCAST_JOIN_SOURCE_GROUP with struct group_source_req. And their drops.
   */
  sourceMembership(method: SourceMembershipCall, source: string, group: string, iface: string | null): void {
    const join = method === 'addSourceSpecificMembership';
    const both = sourceAndGroup(source, group);
    if (both === null) throw systemError(-EINVAL, method);
    const { source: s, group: g } = both;
    const i = membershipInterface(method, g, iface);
    asCall(method, () => {
      if (g.family === 4) {
        this.#engine.setBytesOption(abi.IPPROTO_IP, join ? abi.IP_ADD_SOURCE_MEMBERSHIP : abi.IP_DROP_SOURCE_MEMBERSHIP,
          ipMreqSource(g, i, s), 'ip_mreq_source');
      } else {
        this.#engine.setBytesOption(abi.IPPROTO_IPV6, join ? abi.MCAST_JOIN_SOURCE_GROUP : abi.MCAST_LEAVE_SOURCE_GROUP,
          groupSourceReq(i?.scopeId ?? 0, g, s), 'group_source_req');
      }
    });
  }

  /**
   * IP_MULTICAST_IF with an IPv4 address (on an IPv6 socket too, where it
   * picks the interface of datagrams to IPv4 groups), or IPV6_MULTICAST_IF
   * with the interface a %zone names.
   */
  setInterface(iface: string): void {
    const method = 'setMulticastInterface';
    const i = multicastAddress(iface);
    if (i === null) throw systemError(-EINVAL, method);
    asCall(method, () => {
      if (i.family === 4) this.#engine.setBytesOption(abi.IPPROTO_IP, abi.IP_MULTICAST_IF, i.bytes, 'IP_MULTICAST_IF');
      else this.#engine.setIntOption(abi.IPPROTO_IPV6, abi.IPV6_MULTICAST_IF, i.scopeId, 'IPV6_MULTICAST_IF');
    });
  }

  setTTL(ttl: number): void {
    asCall('setMulticastTTL', () => this.#engine.setFamilyOption(abi.IP_MULTICAST_TTL, abi.IPV6_MULTICAST_HOPS, ttl, 'multicast TTL'));
  }

  setLoopback(on: boolean): void {
    asCall('setMulticastLoopback',
      () => this.#engine.setFamilyOption(abi.IP_MULTICAST_LOOP, abi.IPV6_MULTICAST_LOOP, on ? 1 : 0, 'multicast loop'));
  }
}
