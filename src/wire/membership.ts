// The structs the kernel's multicast membership options take as their value:
// ip_mreq and ip_mreq_source for IPv4 (<linux/in.h>), ipv6_mreq for IPv6
// (<linux/in6.h>), and group_source_req for IPv6 source-specific groups
// (<linux/in.h>). Each function takes the fields in the struct's order.
import { abi } from './abi';
import { HOST_LITTLE_ENDIAN } from './byteorder';
import { encodeSockaddr, type ParsedAddress } from './sockaddr';

/** sizeof(struct sockaddr_storage): group_source_req's group and source each fill one. */
const SOCKADDR_STORAGE = 128;

/**
 * struct ip_mreq (IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP): the group, then the
 * address of the interface; null leaves INADDR_ANY, where the kernel picks one.
 */
export function ipMreq(group: ParsedAddress, iface: ParsedAddress | null): Uint8Array {
  const mreq = new Uint8Array(8);
  mreq.set(group.bytes, 0);
  if (iface !== null) mreq.set(iface.bytes, 4);
  return mreq;
}

/**
 * struct ip_mreq_source (IP_ADD_SOURCE_MEMBERSHIP, IP_DROP_SOURCE_MEMBERSHIP):
 * ip_mreq's two addresses, then the source's.
 */
export function ipMreqSource(group: ParsedAddress, iface: ParsedAddress | null, source: ParsedAddress): Uint8Array {
  const mreq = new Uint8Array(12);
  mreq.set(group.bytes, 0);
  if (iface !== null) mreq.set(iface.bytes, 4);
  mreq.set(source.bytes, 8);
  return mreq;
}

/**
 * struct ipv6_mreq (IPV6_JOIN_GROUP, IPV6_LEAVE_GROUP): the group, then the
 * interface's index in host order; 0 lets the kernel pick one.
 */
export function ipv6Mreq(group: ParsedAddress, ifindex: number): Uint8Array {
  const mreq = new Uint8Array(20);
  mreq.set(group.bytes, 0);
  new DataView(mreq.buffer).setUint32(16, ifindex, HOST_LITTLE_ENDIAN);
  return mreq;
}

/**
 * struct group_source_req (MCAST_JOIN_SOURCE_GROUP, MCAST_LEAVE_SOURCE_GROUP):
 * the interface's index in host order (0: the kernel picks), then group and
 * source as sockaddr_storage, which end the struct (padding before them
 * aligns them, so they are placed from the struct's end).
 */
export function groupSourceReq(ifindex: number, group: ParsedAddress, source: ParsedAddress): Uint8Array {
  const req = new Uint8Array(abi.SIZEOF_GROUP_SOURCE_REQ);
  new DataView(req.buffer).setUint32(0, ifindex, HOST_LITTLE_ENDIAN);
  encodeSockaddr(req, req.length - 2 * SOCKADDR_STORAGE, group, 0);
  encodeSockaddr(req, req.length - SOCKADDR_STORAGE, source, 0);
  return req;
}
