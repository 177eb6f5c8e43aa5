// One field of a received message's control data at a time, for the tables
// of cmsg.test.ts and parsers.test.ts: each reads through the library's one
// parser, readReceiveControl, so the tables test what the receive path runs.
import {
  NATIVE_LAYOUT, readReceiveControl, receivedControl, type CmsgLayout, type PacketInfo,
} from '../../src/wire/cmsg';
import { abi } from '../../src/wire/abi';
import type { Family } from '../../src/wire/sockaddr';

const scratch = receivedControl();

/** The GRO segment size the kernel reported (an int), or 0 when the message was not coalesced. */
export function readGroSegmentSize(v: DataView, start: number, end: number, l: CmsgLayout = NATIVE_LAYOUT): number {
  readReceiveControl(v, start, end, scratch, l);
  return scratch.groSegmentSize;
}

/** The cumulative SO_RXQ_OVFL counter, or -1 when the message carries none. */
export function readRxqOverflows(v: DataView, start: number, end: number, l: CmsgLayout = NATIVE_LAYOUT): number {
  readReceiveControl(v, start, end, scratch, l);
  return scratch.rxqOverflows;
}

/**
 * The ECN field (0..3) of the datagram's IP header: the low two bits of the
 * IPv4 TOS byte (IP_TOS, one byte) or of the IPv6 traffic class
 * (IPV6_TCLASS, an int); -1 when the message carries neither.
 */
export function readEcn(v: DataView, start: number, end: number, l: CmsgLayout = NATIVE_LAYOUT): number {
  readReceiveControl(v, start, end, scratch, l);
  return scratch.ecn;
}

/**
 * Fills `into` from the message's IPV6_PKTINFO or IP_PKTINFO (the address the
 * datagram was sent to, ipi_addr, not the routing one) and returns true, or
 * returns false when the message carries neither.
 */
export function readPacketInfo(v: DataView, start: number, end: number, into: PacketInfo,
  l: CmsgLayout = NATIVE_LAYOUT): boolean {
  readReceiveControl(v, start, end, scratch, l);
  if (!scratch.hasPacketInfo) return false;
  into.family = scratch.packetInfo.family;
  into.address.set(scratch.packetInfo.address.subarray(0, into.family === 4 ? 4 : 16));
  into.interfaceIndex = scratch.packetInfo.interfaceIndex;
  return true;
}

/**
 * The kernel's receive time of the datagram in nanoseconds since the epoch
 * (SCM_TIMESTAMPNS, a struct timespec of two longs), or -1n when there is none.
 */
export function readTimestamp(v: DataView, start: number, end: number, l: CmsgLayout = NATIVE_LAYOUT,
  timespecSize: number = abi.SIZEOF_TIMESPEC): bigint {
  readReceiveControl(v, start, end, scratch, l, timespecSize);
  return scratch.timestamp;
}

/**
 * The message's original destination (IPV6_ORIGDSTADDR or IP_ORIGDSTADDR, a
 * sockaddr) as [family, address bytes, port, scope], or null when it carries none.
 */
export function readOriginalDestination(v: DataView, start: number, end: number,
  l: CmsgLayout = NATIVE_LAYOUT): [Family, number[], number, number] | null {
  readReceiveControl(v, start, end, scratch, l);
  if (!scratch.hasOriginalDestination) return null;
  const { family, address, port, scopeId } = scratch.originalDestination;
  return [family === 4 ? 'IPv4' : 'IPv6', [...address.subarray(0, family === 4 ? 4 : 16)], port, scopeId];
}
