// dgram's multicast calls that name addresses (setMulticastInterface,
// add/dropMembership, add/dropSourceSpecificMembership) as libuv makes
// them: dgram's argument checks, the errors in libuv's order (an address
// that is none fails before anything else, and a socket is bound first
// where unbound), then the engine's call, which reads the addresses the
// same way and sets the option (engine/multicast.ts).
import { constants } from 'node:os';
import type { MembershipCall, SourceMembershipCall } from '../engine/contract';
import { multicastAddress, sourceAndGroup } from '../engine/multicast';
import { missingArgs, systemError } from '../errors';
import { validateString } from './arguments';
import type { KernelSocket } from './kernel-socket';

const { EINVAL } = constants.errno;

/** IP_MULTICAST_IF with an IPv4 address, or IPV6_MULTICAST_IF with the interface a %zone names; EINVAL for neither. */
export function setMulticastInterface(kernel: KernelSocket, interfaceAddress: unknown): void {
  validateString(interfaceAddress, 'interfaceAddress');
  kernel.option('setMulticastInterface', multicastAddress(interfaceAddress) === null ? -EINVAL : 0,
    (e) => e.multicast.setInterface(interfaceAddress));
}

/** A membership call's interface argument as text (null for none), made with the group's, before either is parsed. */
const interfaceText = (iface: unknown): string | null => (iface == null ? null : String(iface));

/** IP_ADD_MEMBERSHIP or IPV6_JOIN_GROUP (and their drops), as libuv sets them; an interface of the wrong family fails after the bind. */
export function setMembership(kernel: KernelSocket, method: MembershipCall, group: unknown, iface: unknown): void {
  if (!group) throw missingArgs('multicastAddress');
  const groupText = String(group), ifaceText = interfaceText(iface);
  const g = multicastAddress(groupText);
  if (g === null) throw systemError(-EINVAL, method);
  kernel.bindForMulticast(method, g.family);
  kernel.option(method, 0, (e) => e.multicast.membership(method, groupText, ifaceText));
}

/**
 * IPv4: IP_ADD_SOURCE_MEMBERSHIP. IPv6: MCAST_JOIN_SOURCE_GROUP. Group and
 * source must be of one family (EINVAL, before the bind).
 */
export function setSourceMembership(kernel: KernelSocket, method: SourceMembershipCall, source: unknown, group: unknown,
  iface: unknown): void {
  validateString(source, 'sourceAddress');
  validateString(group, 'groupAddress');
  const ifaceText = interfaceText(iface);
  const both = sourceAndGroup(source, group);
  if (both === null) throw systemError(-EINVAL, method);
  kernel.bindForMulticast(method, both.group.family);
  kernel.option(method, 0, (e) => e.multicast.sourceMembership(method, source, group, ifaceText));
}
