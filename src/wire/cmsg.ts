// Socket control messages (cmsg(3)): the ancillary data that carries the GSO
// segment size to the kernel (UDP_SEGMENT), the GRO segment size back from it
// (UDP_GRO), the receive-queue drop counter (SO_RXQ_OVFL), and, where a socket
// asks for them, each datagram's ECN bits (IP_TOS, IPV6_TCLASS), the local
// address and interface it arrived on (IP_PKTINFO, IPV6_PKTINFO), its
// receive time (SCM_TIMESTAMPNS) and its original destination
// (IP_ORIGDSTADDR, IPV6_ORIGDSTADDR); and the errors of the error queue
// (IP_RECVERR, IPV6_RECVERR). Functions read and write in place over a
// DataView so the receive path allocates nothing.
import { ControlMessageError } from '../errors';
import { abi } from './abi';
import { HOST_LITTLE_ENDIAN } from './byteorder';
import { readSockaddr, SOCKADDR_IN6_SIZE, SOCKADDR_IN_SIZE, sockaddrFields, type SockaddrFields } from './sockaddr';

/** struct cmsghdr's size and the alignment of CMSG_ALIGN on this machine. */
export interface CmsgLayout { headerSize: number; align: number }
export const NATIVE_LAYOUT: CmsgLayout = { headerSize: abi.CMSG_HEADER_SIZE, align: abi.CMSG_ALIGN };

const alignUp = (n: number, a: number) => (n + a - 1) & ~(a - 1);
/** CMSG_SPACE: bytes a control message with `dataLen` bytes of data occupies. */
export const cmsgSpace = (dataLen: number, l: CmsgLayout = NATIVE_LAYOUT) => alignUp(l.headerSize, l.align) + alignUp(dataLen, l.align);
/** CMSG_LEN: the value of cmsg_len for `dataLen` bytes of data. */
export const cmsgLen = (dataLen: number, l: CmsgLayout = NATIVE_LAYOUT) => alignUp(l.headerSize, l.align) + dataLen;

/**
 * Control buffer bytes a received message needs: the GRO segment size (an
 * int) and the drop counter (a uint32). A smaller buffer makes the kernel
 * drop one of them and set MSG_CTRUNC.
 */
export const MIN_CONTROL_MESSAGE_SIZE = cmsgSpace(4) + cmsgSpace(4);

/** Control bytes the engine reserves per message, either way: MIN_CONTROL_MESSAGE_SIZE, 8-byte aligned with spare. */
export const CONTROL_BUFFER_SIZE = Math.max(64, MIN_CONTROL_MESSAGE_SIZE);

/** struct in_pktinfo (ifindex, spec_dst, addr) and struct in6_pktinfo (addr, ifindex). */
const IN_PKTINFO_SIZE = 12, IN6_PKTINFO_SIZE = 20;

/** What a socket asks the kernel to report with each received message, beyond GRO and the drop counter. */
export interface ReceiveMetadata { ecn: boolean; localAddress: boolean; timestamps: boolean; originalDestination: boolean }

/**
 * Control bytes a received message needs for what the socket asked for: one
 * traffic-class message (IP_TOS is one byte, IPV6_TCLASS an int), the larger
 * packet-info form, a struct timespec and the larger sockaddr, beside GRO
 * and the drop counter.
 */
export function receiveControlSize(m: ReceiveMetadata, l: CmsgLayout = NATIVE_LAYOUT): number {
  const size = cmsgSpace(4, l) + cmsgSpace(4, l) + (m.ecn ? cmsgSpace(4, l) : 0) +
    (m.localAddress ? cmsgSpace(IN6_PKTINFO_SIZE, l) : 0) + (m.timestamps ? cmsgSpace(abi.SIZEOF_TIMESPEC, l) : 0) +
    (m.originalDestination ? cmsgSpace(SOCKADDR_IN6_SIZE, l) : 0);
  // Spare room for one more message: a buffer cut short (MSG_CTRUNC) would
  // drop the last one silently, and the worst case above fits it exactly.
  return Math.max(CONTROL_BUFFER_SIZE, size + (size > MIN_CONTROL_MESSAGE_SIZE ? cmsgSpace(IN6_PKTINFO_SIZE, l) : 0));
}

// cmsg_len is a size_t: on 64-bit machines its high half must be zero for any
// length that fits in a buffer we own.
function readLen(v: DataView, at: number, l: CmsgLayout): number {
  if (l.headerSize === 16) {
    const lo = v.getUint32(at + (HOST_LITTLE_ENDIAN ? 0 : 4), HOST_LITTLE_ENDIAN);
    const hi = v.getUint32(at + (HOST_LITTLE_ENDIAN ? 4 : 0), HOST_LITTLE_ENDIAN);
    return hi === 0 ? lo : Number.MAX_SAFE_INTEGER;
  }
  return v.getUint32(at, HOST_LITTLE_ENDIAN);
}

function lenBytes(l: CmsgLayout) { return l.headerSize === 16 ? 8 : 4; }

// The cmsg_len of the message at `at` in `v[start, end)`; one that claims
// less than a header or more than the buffer holds is a ControlMessageError.
function checkedLen(v: DataView, start: number, at: number, end: number, l: CmsgLayout): number {
  const len = readLen(v, at, l);
  if (len < l.headerSize || len > end - at) {
    throw new ControlMessageError(`malformed control message at byte ${at - start}: length ${len} of ${end - at}`);
  }
  return len;
}

/**
 * Finds the data of the first control message in `v[start, end)` with this
 * level and type and at least `minDataLen` bytes of data, and returns its
 * offset in `v`, or -1 when there is none. A buffer no longer than one header
 * holds no message. Throws ControlMessageError when a header claims less than
 * a header or more than the buffer holds.
 */
export function findControlData(v: DataView, start: number, end: number, level: number, type: number,
  minDataLen: number, l: CmsgLayout = NATIVE_LAYOUT): number {
  const dataAt = alignUp(l.headerSize, l.align);
  let at = start;
  while (end - at > l.headerSize) {
    const len = checkedLen(v, start, at, end, l);
    const off = lenBytes(l);
    const lvl = v.getInt32(at + off, HOST_LITTLE_ENDIAN);
    const typ = v.getInt32(at + off + 4, HOST_LITTLE_ENDIAN);
    if (lvl === level && typ === type && len - dataAt >= minDataLen) return at + dataAt;
    at += alignUp(len, l.align);
  }
  return -1;
}

/** Where a datagram arrived: its destination address (4 or 16 bytes) and the interface. */
export interface PacketInfo { family: 4 | 6; address: Uint8Array; interfaceIndex: number }

/** Everything a received message's control data reports, filled in place by readReceiveControl. */
export interface ReceivedControl {
  /** UDP_GRO's segment size (an int), 0 when the message was not coalesced. */
  groSegmentSize: number;
  /** The cumulative SO_RXQ_OVFL counter, -1 when the message carries none. */
  rxqOverflows: number;
  /** The ECN field (0..3): IP_TOS (one byte) if present, else IPV6_TCLASS (an int); -1 when neither. */
  ecn: number;
  /** IPV6_PKTINFO if present, else IP_PKTINFO, was found and written to packetInfo. */
  hasPacketInfo: boolean;
  packetInfo: PacketInfo;
  /** SCM_TIMESTAMPNS in nanoseconds since the epoch, -1n when there is none. */
  timestamp: bigint;
  /**
   * IP_ORIGDSTADDR or IPV6_ORIGDSTADDR (whichever comes first: the kernel
   * sends the one of the datagram's family) was found and written to originalDestination.
   */
  hasOriginalDestination: boolean;
  /** Where the datagram was going before a TPROXY rule diverted it here: its IP header's destination and port. */
  originalDestination: SockaddrFields;
}

export function receivedControl(): ReceivedControl {
  return {
    groSegmentSize: 0, rxqOverflows: -1, ecn: -1, hasPacketInfo: false,
    packetInfo: { family: 4, address: new Uint8Array(16), interfaceIndex: 0 }, timestamp: -1n,
    hasOriginalDestination: false, originalDestination: sockaddrFields(),
  };
}

/**
 * Reads every control message of `v[start, end)` in one walk into `into`.
 * Of each kind the first message with enough data counts; a message too
 * short for its kind is skipped, as findControlData would. Throws
 * ControlMessageError where findControlData would (a header that claims
 * less than a header or more than the buffer holds), wherever it lies.
 */
export function readReceiveControl(v: DataView, start: number, end: number, into: ReceivedControl,
  l: CmsgLayout = NATIVE_LAYOUT, timespecSize: number = abi.SIZEOF_TIMESPEC): void {
  const dataAt = alignUp(l.headerSize, l.align);
  const off = lenBytes(l);
  let gro = -1, rxq = -1, tos = -1, tclass = -1, pkt4 = -1, pkt6 = -1, ts = -1, dst = -1, dstLen = 0;
  for (let at = start; end - at > l.headerSize;) {
    const len = checkedLen(v, start, at, end, l);
    const level = v.getInt32(at + off, HOST_LITTLE_ENDIAN);
    const type = v.getInt32(at + off + 4, HOST_LITTLE_ENDIAN);
    const data = at + dataAt, dataLen = len - dataAt;
    if (level === abi.SOL_UDP) {
      if (type === abi.UDP_GRO && gro < 0 && dataLen >= 4) gro = data;
    } else if (level === abi.SOL_SOCKET) {
      if (type === abi.SO_RXQ_OVFL && rxq < 0 && dataLen >= 4) rxq = data;
      else if (type === abi.SCM_TIMESTAMPNS && ts < 0 && dataLen >= timespecSize) ts = data;
    } else if (level === abi.IPPROTO_IP) {
      if (type === abi.IP_TOS && tos < 0 && dataLen >= 1) tos = data;
      else if (type === abi.IP_PKTINFO && pkt4 < 0 && dataLen >= IN_PKTINFO_SIZE) pkt4 = data;
      else if (type === abi.IP_ORIGDSTADDR && dst < 0 && dataLen >= SOCKADDR_IN_SIZE) { dst = data; dstLen = dataLen; }
    } else if (level === abi.IPPROTO_IPV6) {
      if (type === abi.IPV6_TCLASS && tclass < 0 && dataLen >= 4) tclass = data;
      else if (type === abi.IPV6_PKTINFO && pkt6 < 0 && dataLen >= IN6_PKTINFO_SIZE) pkt6 = data;
      else if (type === abi.IPV6_ORIGDSTADDR && dst < 0 && dataLen >= SOCKADDR_IN6_SIZE) { dst = data; dstLen = dataLen; }
    }
    at += alignUp(len, l.align);
  }
  into.groSegmentSize = gro < 0 ? 0 : v.getInt32(gro, HOST_LITTLE_ENDIAN);
  into.rxqOverflows = rxq < 0 ? -1 : v.getUint32(rxq, HOST_LITTLE_ENDIAN);
  into.ecn = tos >= 0 ? v.getUint8(tos) & 3 : tclass >= 0 ? v.getInt32(tclass, HOST_LITTLE_ENDIAN) & 3 : -1;
  into.hasPacketInfo = pkt6 >= 0 || pkt4 >= 0;
  const info = into.packetInfo;
  if (pkt6 >= 0) {
    info.family = 6;
    for (let i = 0; i < 16; i++) info.address[i] = v.getUint8(pkt6 + i);
    info.interfaceIndex = v.getUint32(pkt6 + 16, HOST_LITTLE_ENDIAN);
  } else if (pkt4 >= 0) {
    // in_pktinfo: ipi_ifindex, ipi_spec_dst, then ipi_addr, the address the datagram was sent to.
    info.family = 4;
    for (let i = 0; i < 4; i++) info.address[i] = v.getUint8(pkt4 + 8 + i);
    info.interfaceIndex = v.getInt32(pkt4, HOST_LITTLE_ENDIAN);
  }
  // The sockaddr's own family says which it is.
  into.hasOriginalDestination = dst >= 0 && readSockaddr(v, dst, dst + dstLen, into.originalDestination);
  if (ts < 0) into.timestamp = -1n;
  else if (timespecSize === 16) {
    into.timestamp = v.getBigInt64(ts, HOST_LITTLE_ENDIAN) * 1_000_000_000n + v.getBigInt64(ts + 8, HOST_LITTLE_ENDIAN);
  } else {
    into.timestamp = BigInt(v.getInt32(ts, HOST_LITTLE_ENDIAN)) * 1_000_000_000n + BigInt(v.getInt32(ts + 4, HOST_LITTLE_ENDIAN));
  }
}

/** struct sock_extended_err (linux/errqueue.h): errno (u32), origin, type, code, pad (u8), info, data (u32). */
const EXTENDED_ERROR_SIZE = 16;
/**
 * Control bytes an error-queue message needs beyond what the socket's other
 * options add: the error and the larger offender address, a sockaddr that
 * follows it (SO_EE_OFFENDER).
 */
export const ERROR_CONTROL_SIZE = cmsgSpace(EXTENDED_ERROR_SIZE + SOCKADDR_IN6_SIZE);

/** Who queued an error (SO_EE_ORIGIN_*): this host, an ICMP / ICMPv6 message from the path, or a qdisc that checks send times. */
export const ErrorOrigin = { Local: 1, Icmp: 2, Icmp6: 3, Txtime: 6 } as const;

/** An entry of the socket's error queue. */
export interface ExtendedError {
  /** Positive errno. */
  errno: number;
  origin: number;
  /** The ICMP type and code, for the ICMP origins. */
  type: number;
  code: number;
  /** The MTU for EMSGSIZE (ICMP "fragmentation needed" / "packet too big", or the local route's); a txtime's low half. */
  info: number;
  /** A txtime's high half (ErrorOrigin.Txtime); else unused. */
  data: number;
  /** The address of the node that reported it (an ICMP message's source); null when there is none. */
  offender: { family: 4 | 6; bytes: Uint8Array } | null;
}

/**
 * The error of an error-queue message (IP_RECVERR on IPv4 sockets,
 * IPV6_RECVERR on IPv6 ones, IPv4 errors included), or null when it carries none.
 */
export function readExtendedError(v: DataView, start: number, end: number, l: CmsgLayout = NATIVE_LAYOUT): ExtendedError | null {
  let at = findControlData(v, start, end, abi.IPPROTO_IP, abi.IP_RECVERR, EXTENDED_ERROR_SIZE, l);
  if (at < 0) at = findControlData(v, start, end, abi.IPPROTO_IPV6, abi.IPV6_RECVERR, EXTENDED_ERROR_SIZE, l);
  if (at < 0) return null;
  // The message's own length bounds the offender: the kernel writes one only where it has one.
  const dataEnd = Math.min(end, at - alignUp(l.headerSize, l.align) + readLen(v, at - alignUp(l.headerSize, l.align), l));
  const o = at + EXTENDED_ERROR_SIZE;
  const family = dataEnd - o >= 2 ? v.getUint16(o, HOST_LITTLE_ENDIAN) : 0;
  let offender: ExtendedError['offender'] = null;
  if (family === abi.AF_INET && dataEnd - o >= SOCKADDR_IN_SIZE) {
    offender = { family: 4, bytes: new Uint8Array(v.buffer.slice(v.byteOffset + o + 4, v.byteOffset + o + 8)) };
  } else if (family === abi.AF_INET6 && dataEnd - o >= SOCKADDR_IN6_SIZE) {
    offender = { family: 6, bytes: new Uint8Array(v.buffer.slice(v.byteOffset + o + 8, v.byteOffset + o + 24)) };
  }
  return {
    errno: v.getUint32(at, HOST_LITTLE_ENDIAN), origin: v.getUint8(at + 4), type: v.getUint8(at + 5), code: v.getUint8(at + 6),
    info: v.getUint32(at + 8, HOST_LITTLE_ENDIAN), data: v.getUint32(at + 12, HOST_LITTLE_ENDIAN), offender,
  };
}

/**
 * Control bytes one message to send may need: its UDP_SEGMENT (a u16), a
 * traffic class (an int), a source address (the larger pktinfo), and on a
 * socket with pacing a send time (a u64). Every socket holds this much per
 * batch slot, so only a paced one pays for the time.
 */
export function sendControlSize(pacing: boolean, l: CmsgLayout = NATIVE_LAYOUT): number {
  return cmsgSpace(2, l) + cmsgSpace(4, l) + cmsgSpace(IN6_PKTINFO_SIZE, l) + (pacing ? cmsgSpace(8, l) : 0);
}

const intData = new Uint8Array(4);
const intView = new DataView(intData.buffer);
const pktinfoData = new Uint8Array(IN6_PKTINFO_SIZE);
const pktinfoView = new DataView(pktinfoData.buffer);

/**
 * Writes the TOS (IP_TOS, for datagrams that travel as IPv4) or traffic
 * class (IPV6_TCLASS) a message goes out with, an int whose low two bits are
 * the ECN field, and returns the bytes it occupies.
 */
export function writeTrafficClass(v: DataView, at: number, ipv4: boolean, trafficClass: number,
  l: CmsgLayout = NATIVE_LAYOUT): number {
  intView.setInt32(0, trafficClass, HOST_LITTLE_ENDIAN);
  return ipv4 ? writeControl(v, at, abi.IPPROTO_IP, abi.IP_TOS, intData, l)
    : writeControl(v, at, abi.IPPROTO_IPV6, abi.IPV6_TCLASS, intData, l);
}

/**
 * Writes where a message leaves from: the source address (IP_PKTINFO's
 * ipi_spec_dst on an IPv4 socket, IPV6_PKTINFO's address, IPv4-mapped for
 * IPv4, on an IPv6 one; zeros let the route choose) and the interface
 * (ipi_ifindex, ipi6_ifindex; 0 lets the route choose). Returns the bytes
 * it occupies.
 */
export function writePacketInfo(v: DataView, at: number, socketFamily: 4 | 6, source: Uint8Array, interfaceIndex: number,
  l: CmsgLayout = NATIVE_LAYOUT): number {
  pktinfoData.fill(0);
  if (socketFamily === 4) {
    pktinfoView.setInt32(0, interfaceIndex, HOST_LITTLE_ENDIAN);
    pktinfoData.set(source, 4);
    return writeControl(v, at, abi.IPPROTO_IP, abi.IP_PKTINFO, pktinfoData.subarray(0, IN_PKTINFO_SIZE), l);
  }
  pktinfoData.set(source, 0);
  pktinfoView.setUint32(16, interfaceIndex, HOST_LITTLE_ENDIAN);
  return writeControl(v, at, abi.IPPROTO_IPV6, abi.IPV6_PKTINFO, pktinfoData, l);
}

/** Writes one control message at `at` and returns the bytes it occupies (CMSG_SPACE). */
export function writeControl(v: DataView, at: number, level: number, type: number, data: Uint8Array,
  l: CmsgLayout = NATIVE_LAYOUT): number {
  const space = cmsgSpace(data.length, l);
  for (let i = 0; i < space; i++) v.setUint8(at + i, 0); // padding and the size_t's high half stay zero
  v.setUint32(at + (l.headerSize === 16 && !HOST_LITTLE_ENDIAN ? 4 : 0), cmsgLen(data.length, l), HOST_LITTLE_ENDIAN);
  v.setInt32(at + lenBytes(l), level, HOST_LITTLE_ENDIAN);
  v.setInt32(at + lenBytes(l) + 4, type, HOST_LITTLE_ENDIAN);
  const dataAt = at + alignUp(l.headerSize, l.align);
  for (let i = 0; i < data.length; i++) v.setUint8(dataAt + i, data[i]);
  return space;
}

const txTimeData = new Uint8Array(8);
const txTimeView = new DataView(txTimeData.buffer);

/**
 * Writes the SCM_TXTIME message: when the queueing discipline sends the
 * message, nanoseconds of the socket's SO_TXTIME clock (a u64). Returns the
 * bytes it occupies.
 */
export function writeTxTime(v: DataView, at: number, txTime: bigint, l: CmsgLayout = NATIVE_LAYOUT): number {
  txTimeView.setBigUint64(0, txTime, HOST_LITTLE_ENDIAN);
  return writeControl(v, at, abi.SOL_SOCKET, abi.SCM_TXTIME, txTimeData, l);
}

const segmentData = new Uint8Array(2);
const segmentView = new DataView(segmentData.buffer);

/**
 * Writes the UDP_SEGMENT message that asks the kernel to cut one send into
 * datagrams of `segmentSize` bytes (a u16), and returns its length.
 */
export function writeUdpSegment(v: DataView, at: number, segmentSize: number, l: CmsgLayout = NATIVE_LAYOUT): number {
  segmentView.setUint16(0, segmentSize, HOST_LITTLE_ENDIAN);
  return writeControl(v, at, abi.SOL_UDP, abi.UDP_SEGMENT, segmentData, l);
}
