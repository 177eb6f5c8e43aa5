// BatchSocket's options: what a caller may ask for at bind, each checked
// (in the order of BatchSocketOptions, as Node checks its own) and resolved
// into the engine's bind options; and the checks of the option arguments of
// setOffload and the socket option escape hatch.
import type { BindOptions, OffloadSettings } from '../engine/contract';
import { engineOptions, equalTailWorkaround, GRO_DISABLE_ENV, GSO_DISABLE_ENV, offloadAllowed } from '../engine/options';
import { badPort, invalidAddress, invalidArgType, invalidArgValue, outOfRange } from '../errors';
import type { NativeBinding } from '../kernel/native';
import { udpTypeOf } from '../kernel/handle-type';
import { useBatchPath } from '../kernel/support';
import { GRO_SLOT_SIZE, INT32_MAX } from '../limits';
import { parseAddress, toV4Mapped } from '../wire/sockaddr';
import { cpuSteering, payloadSteering, STEERING_BYTES_MAX } from '../wire/steering';

export interface BatchSocketOptions {
  type?: 'udp4' | 'udp6';
  /** Local IP literal; default all addresses of the family. */
  address?: string;
  /** Local port; default 0, any free port. */
  port?: number;
  /** Most datagrams per write and messages per read; default IDEAL_BATCH_SIZE or BATCHGRAM_BATCH_SIZE. */
  batchSize?: number;
  /** Use UDP GSO and GRO where the kernel has them; default true, and the default of `gso` and `gro`. */
  offload?: boolean;
  /** Use UDP GSO on send; default `offload`. BATCHGRAM_DISABLE_GSO=1 turns it off for the whole process. */
  gso?: boolean;
  /** Use UDP GRO on receive; default `offload`. BATCHGRAM_DISABLE_GRO=1 turns it off for the whole process. */
  gro?: boolean;
  /**
   * Never send a GSO message whose segments are all one length (see README); default false, or true for the
   * whole process with BATCHGRAM_NEVER_GSO_EQUAL_TAIL=1. setOffload changes it on an open socket.
   */
  neverGsoEqualTail?: boolean;
  /** The byte of the one-byte datagram neverGsoEqualTail appends (0..255); default 0. */
  gsoSentinel?: number;
  /** Name of the shared counter that receives this socket's kernel drop count (SO_RXQ_OVFL). */
  rxqOverflowMetric?: string;
  recvBufferSize?: number;
  sendBufferSize?: number;
  reuseAddr?: boolean;
  reusePort?: boolean;
  ipv6Only?: boolean;
  /**
   * Bytes reserved per received message; a longer datagram arrives with
   * `truncated: true`. Default 65536, which no UDP datagram exceeds. GRO needs
   * 65536, so a smaller value also turns receive offload off.
   */
  recvSlotSize?: number;
  /** Most datagrams accepted by writes and still waiting for the kernel; default 64 batches, at least 1024. */
  sendQueueLimit?: number;
  /** false: use the portable single-datagram path even where batching is available. */
  batching?: boolean;
  /** Report each datagram's ECN bits (`ecn`, 0..3); `capabilities.ecn` says whether the kernel does. */
  receiveEcn?: boolean;
  /** Report the local address each datagram was sent to and the interface it came in on. */
  receiveLocalAddress?: boolean;
  /** Report the kernel's receive time of each datagram (`timestamp`, nanoseconds since the epoch). */
  receiveTimestamps?: boolean;
  /** SO_MARK (0..2^32-1): the firewall and routing mark of every packet, as VPNs use to avoid routing loops. */
  mark?: number;
  /** SO_BINDTODEVICE: send and receive only through this interface, e.g. 'eth0'. */
  bindToDevice?: string;
  /** The unicast TTL / hop limit of every datagram (1..255). */
  ttl?: number;
  /** The TOS byte / traffic class of every datagram (0..255); a write's `ecn` replaces its two ECN bits only. */
  tos?: number;
  /** Never fragment: a datagram above the path MTU fails its write with EMSGSIZE (path MTU probing). */
  dontFragment?: boolean;
  /**
   * SO_TXTIME on CLOCK_MONOTONIC (process.hrtime.bigint()'s clock): writeMessages' messages may carry a `txTime`,
   * when the outgoing interface's fq (or etf) queueing discipline sends them. `capabilities.pacing` says whether
   * the kernel took it.
   */
  pacing?: boolean;
  /**
   * Read the error queue (IP_RECVERR / IPV6_RECVERR): what ICMP says about sent datagrams arrives as 'icmpError'
   * events, on unconnected sockets too, and never as 'error'; `capabilities.icmpErrors` says whether the kernel does.
   */
  receiveErrors?: boolean;
  /** IP_FREEBIND / IPV6_FREEBIND: bind an address this host does not have (yet), as one a failover moves here later. */
  freebind?: boolean;
  /**
   * IP_TRANSPARENT / IPV6_TRANSPARENT, for transparent proxies (TPROXY): take the datagrams the firewall diverts
   * to this socket whatever their destination, bind any address and send from any address. Needs CAP_NET_ADMIN.
   */
  transparent?: boolean;
  /**
   * Report where each datagram was going before a TPROXY rule diverted it here (`originalDestination`);
   * `capabilities.originalDestination` says whether the kernel does.
   */
  receiveOriginalDestination?: boolean;
}

export const boolOpt = (o: BatchSocketOptions, k: keyof BatchSocketOptions, dflt: boolean): boolean => {
  const v = o[k];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalidArgType(`options.${k}`, 'of type boolean', v);
  return v;
};

const intOpt = (o: BatchSocketOptions, k: keyof BatchSocketOptions, min: number, max: number): number | undefined => {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number') throw invalidArgType(`options.${k}`, 'of type number', v);
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRange(`options.${k}`, `an integer >= ${min} and <= ${max}`, v);
  return v;
};

/** What setOffload may change on an open socket; each left out stays as it is. */
export type OffloadOptions = Pick<BatchSocketOptions, 'gso' | 'gro' | 'neverGsoEqualTail' | 'gsoSentinel'>;

/**
 * Checks setOffload's options and resolves them against the operator's
 * environment: BATCHGRAM_DISABLE_GSO / _GRO=1 keep a direction off,
 * BATCHGRAM_NEVER_GSO_EQUAL_TAIL=1 keeps the workaround on, whatever is asked.
 */
export function resolveOffload(o: OffloadOptions): OffloadSettings {
  if (o === null || typeof o !== 'object') throw invalidArgType('options', 'of type object', o);
  const gso = o.gso === undefined ? undefined : boolOpt(o, 'gso', true);
  const gro = o.gro === undefined ? undefined : boolOpt(o, 'gro', true);
  const never = o.neverGsoEqualTail === undefined ? undefined : boolOpt(o, 'neverGsoEqualTail', false);
  return {
    gso: gso === undefined ? undefined : gso && offloadAllowed(GSO_DISABLE_ENV),
    gro: gro === undefined ? undefined : gro && offloadAllowed(GRO_DISABLE_ENV),
    neverGsoEqualTail: never === undefined ? undefined : equalTailWorkaround(never),
    gsoSentinel: intOpt(o, 'gsoSentinel', 0, 255),
  };
}

/** An interface name: 1 to 15 bytes (IFNAMSIZ less its terminating zero), no zero byte. */
function deviceOpt(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidArgType('options.bindToDevice', 'of type string', v);
  const bytes = Buffer.byteLength(v);
  if (bytes < 1 || bytes > 15 || v.includes('\0')) throw invalidArgValue('options.bindToDevice', v, 'must be an interface name');
  return v;
}

/**
 * How the kernel picks an SO_REUSEPORT group's member for each datagram:
 * 'flow', its own hash of the 4-tuple (a flow stays on one member); 'cpu',
 * the CPU that took the packet; or a hash of `length` payload bytes from
 * `offset` (a QUIC connection ID: a connection stays on one member when
 * its client's address changes).
 */
export type Steering = 'flow' | 'cpu' | { offset: number; length: number };

/** Checks steer()'s arguments; the program to attach, or null for 'flow'. */
export function steeringProgram(steering: unknown, members: unknown): Uint8Array | null {
  if (steering === 'flow') return null;
  if (typeof members !== 'number') throw invalidArgType('members', 'of type number', members);
  if (!Number.isInteger(members) || members < 1 || members > 65535) throw outOfRange('members', 'an integer >= 1 and <= 65535', members);
  if (steering === 'cpu') return cpuSteering(members);
  if (steering === null || typeof steering !== 'object') {
    throw invalidArgType('steering', "'flow', 'cpu' or an object with offset and length", steering);
  }
  // Each read once: what is checked is what the program hashes.
  const { offset, length } = steering as { offset: unknown; length: unknown };
  if (typeof offset !== 'number') throw invalidArgType('steering.offset', 'of type number', offset);
  if (!Number.isInteger(offset) || offset < 0 || offset > 65534) throw outOfRange('steering.offset', 'an integer >= 0 and <= 65534', offset);
  if (typeof length !== 'number') throw invalidArgType('steering.length', 'of type number', length);
  if (!Number.isInteger(length) || length < 1 || length > STEERING_BYTES_MAX) {
    throw outOfRange('steering.length', `an integer >= 1 and <= ${STEERING_BYTES_MAX}`, length);
  }
  // A UDP payload ends before 64 KiB.
  if (offset + length > 65535) throw outOfRange('steering.offset + steering.length', '<= 65535', offset + length);
  return payloadSteering(offset, length, members);
}

/** A socket option level or name: a non-negative int. */
export function sockoptName(name: string, v: unknown): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < 0 || v > INT32_MAX) throw outOfRange(name, `an integer >= 0 and <= ${INT32_MAX}`, v);
  return v;
}

/** BatchSocket.adopt's options: bind's, less what only binding a socket sets (the adopted socket's own). */
export type AdoptOptions = Omit<BatchSocketOptions, 'address' | 'port' | 'reuseAddr' | 'reusePort' | 'ipv6Only'>;

const BIND_ONLY = ['address', 'port', 'reuseAddr', 'reusePort', 'ipv6Only'] as const;

/**
 * Checks adopt's descriptor and options, and resolves them for the engine.
 * On the batch path the socket's type is the descriptor's own (a TCP socket
 * or a file is ERR_INVALID_FD_TYPE, a closed descriptor EBADF); on the
 * portable path node:dgram takes it as options.type says, and checks it.
 */
export function resolveAdoptOptions(fd: unknown, o: AdoptOptions, b: NativeBinding | null): { batching: boolean; options: BindOptions } {
  if (typeof fd !== 'number') throw invalidArgType('fd', 'of type number', fd);
  if (!Number.isInteger(fd) || fd < 0 || fd > INT32_MAX) throw outOfRange('fd', `an integer >= 0 and <= ${INT32_MAX}`, fd);
  if (o === null || typeof o !== 'object') throw invalidArgType('options', 'of type object', o);
  for (const k of BIND_ONLY) {
    const v = (o as BatchSocketOptions)[k];
    if (v !== undefined) throw invalidArgValue(`options.${k}`, v, "is the adopted socket's own: set it before the socket is adopted");
  }
  let type = o.type;
  if (b !== null && useBatchPath(b, boolOpt(o, 'batching', true))) {
    const own = udpTypeOf(b, fd);
    if (type !== undefined && type !== own) throw invalidArgValue('options.type', type, `does not match the descriptor, a ${own} socket`);
    type = own;
  }
  const resolved = resolveOptions({ ...o, type }, b);
  resolved.options.fd = fd;
  return resolved;
}

/** Checks the options (in the order of BatchSocketOptions) and resolves them for the engine. */
export function resolveOptions(o: BatchSocketOptions, b: NativeBinding | null): { batching: boolean; options: BindOptions } {
  if (o === null || typeof o !== 'object') throw invalidArgType('options', 'of type object', o);
  const type = o.type ?? 'udp4';
  if (type !== 'udp4' && type !== 'udp6') throw invalidArgType('options.type', "'udp4' or 'udp6'", type);
  const addrText = o.address ?? (type === 'udp4' ? '0.0.0.0' : '::');
  if (typeof addrText !== 'string') throw invalidArgType('options.address', 'of type string', addrText);
  let address = parseAddress(addrText);
  if (address === null) throw invalidAddress(addrText);
  if (type === 'udp4' && address.family === 6) throw invalidAddress(addrText, 'an IPv6 address on a udp4 socket');
  if (type === 'udp6') address = toV4Mapped(address);
  const port = o.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw badPort(port);
  if (o.rxqOverflowMetric !== undefined && typeof o.rxqOverflowMetric !== 'string') {
    throw invalidArgType('options.rxqOverflowMetric', 'of type string', o.rxqOverflowMetric);
  }
  const batching = useBatchPath(b, boolOpt(o, 'batching', true));
  const options = engineOptions({
    type, address, port,
    batchSize: intOpt(o, 'batchSize', 1, INT32_MAX),
    offload: boolOpt(o, 'offload', true),
    gso: o.gso === undefined ? undefined : boolOpt(o, 'gso', true),
    gro: o.gro === undefined ? undefined : boolOpt(o, 'gro', true),
    neverGsoEqualTail: boolOpt(o, 'neverGsoEqualTail', false),
    gsoSentinel: intOpt(o, 'gsoSentinel', 0, 255),
    rxqOverflowMetric: o.rxqOverflowMetric,
    recvBufferSize: intOpt(o, 'recvBufferSize', 1, INT32_MAX),
    sendBufferSize: intOpt(o, 'sendBufferSize', 1, INT32_MAX),
    reuseAddr: boolOpt(o, 'reuseAddr', false),
    reusePort: boolOpt(o, 'reusePort', false),
    ipv6Only: boolOpt(o, 'ipv6Only', false),
    recvSlotSize: intOpt(o, 'recvSlotSize', 1, GRO_SLOT_SIZE),
    sendQueueLimit: intOpt(o, 'sendQueueLimit', 1, INT32_MAX),
    receiveEcn: boolOpt(o, 'receiveEcn', false),
    receiveLocalAddress: boolOpt(o, 'receiveLocalAddress', false),
    receiveTimestamps: boolOpt(o, 'receiveTimestamps', false),
    mark: intOpt(o, 'mark', 0, 2 ** 32 - 1),
    bindToDevice: deviceOpt(o.bindToDevice),
    ttl: intOpt(o, 'ttl', 1, 255),
    tos: intOpt(o, 'tos', 0, 255),
    dontFragment: boolOpt(o, 'dontFragment', false),
    pacing: boolOpt(o, 'pacing', false),
    receiveErrors: boolOpt(o, 'receiveErrors', false),
    freebind: boolOpt(o, 'freebind', false),
    transparent: boolOpt(o, 'transparent', false),
    receiveOriginalDestination: boolOpt(o, 'receiveOriginalDestination', false),
  }, batching);
  return { batching, options };
}
