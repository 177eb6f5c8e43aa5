// The contract between the sockets (BatchSocket, the dgram drop-in) and the
// code that talks to the kernel: the batch path on Linux (linux/) and the
// portable single-datagram path (portable.ts). Arguments reach an engine
// already validated; options.ts fills in their defaults, open.ts picks the
// engine.
import type { BatchView } from '../batch';
import { outOfRange } from '../errors';
import type { CapabilityState } from './capabilities';
import type { ParsedAddress, SocketAddress } from '../wire/sockaddr';

/** What an engine counts as it goes. */
export interface TrafficCounts {
  datagramsIn: number;
  bytesIn: number;
  /** Messages the kernel returned: fewer than datagrams when GRO coalesced them. */
  messagesIn: number;
  recvCalls: number;
  datagramsOut: number;
  bytesOut: number;
  /** Messages handed to the kernel: fewer than datagrams when GSO coalesced them. */
  messagesOut: number;
  sendCalls: number;
  /** Datagrams the kernel delivered cut short (see Datagram.truncated). */
  truncated: number;
  /** Datagrams the kernel dropped because the receive queue was full (SO_RXQ_OVFL). */
  rxqOverflows: number;
  /** Messages whose control data the kernel cut to fit (MSG_CTRUNC): some of their metadata is missing. */
  controlTruncated: number;
  /** Entries read from the error queue (receiveErrors), each an 'icmpError' event. */
  icmpErrors: number;
  /**
   * ICMP errors the kernel had no room to queue (the receive buffer was full),
   * where one left a trace: a pending ICMP error taken with no entry queued
   * for it. A lower bound: the kernel counts none of these drops and keeps
   * only the latest as the socket's pending error (README, "ICMP errors").
   */
  icmpErrorsDropped: number;
  /**
   * Datagrams a local rule refused (sendmmsg's EPERM: a netfilter or cgroup
   * BPF drop), counted as lost while the rest of the write went on.
   */
  sendRefused: number;
}

export interface SocketStats extends TrafficCounts {
  /**
   * The process's pool of 64 KiB blocks that the safe Buffers of small
   * datagrams are copied into (Batch, for await): blocks Buffers still hold
   * (until the garbage collector finds them unreachable) and blocks kept for
   * the next reads. Process-wide, the same on every socket; at most 512 held,
   * past which copies come from the allocator. 0 on the portable path.
   */
  copyBlocksHeld: number;
  copyBlocksFree: number;
  /**
   * TX offload was turned off after the kernel refused a GSO send (EIO), and
   * no setOffload turned it on since; not when the caller turned it off.
   */
  gsoDisabled: boolean;
}

export function emptyCounts(): TrafficCounts {
  return {
    datagramsIn: 0, bytesIn: 0, messagesIn: 0, recvCalls: 0,
    datagramsOut: 0, bytesOut: 0, messagesOut: 0, sendCalls: 0,
    truncated: 0, rxqOverflows: 0, controlTruncated: 0, icmpErrors: 0, icmpErrorsDropped: 0, sendRefused: 0,
  };
}

/** The stats of a socket that has no engine yet. */
export function emptyStats(): SocketStats {
  return { ...emptyCounts(), gsoDisabled: false, copyBlocksHeld: 0, copyBlocksFree: 0 };
}

/**
 * The write of `count` datagrams could never fit in a queue of `limit`, not
 * even an empty one: a wrong argument (ERR_OUT_OF_RANGE), not a full queue.
 * Every engine takes up to `limit` datagrams in one write, whatever its batch size.
 */
export function writeTooLarge(count: number, limit: number): RangeError | null {
  return count > limit ? outOfRange('datagrams of the write', `<= sendQueueLimit (${limit})`, count) : null;
}

/**
 * A write that failed part-way says how many of its datagrams the kernel took
 * before the failure (they were sent; the rest were not).
 */
export interface WriteError extends Error { datagramsSent?: number }

/**
 * A validated batch to send: datagram i is buffers[i][at, at + lengths[i]),
 * where `at` is offsets[i], or `start` when there are no offsets. An engine
 * reads `buffers` during write() and keeps its own copy if it must.
 */
export interface WriteJob {
  buffers: readonly Uint8Array[];
  start: number;
  // Plain arrays where a write makes them: a typed array of a batch's size
  // lives outside V8's heap, and allocating one per write showed in
  // profiles. A forwarded view lends its own typed arrays.
  offsets: ArrayLike<number> | null;
  lengths: ArrayLike<number>;
  /**
   * The bytes are only lent for the duration of write() (a received view
   * being forwarded): what the kernel does not take at once, the engine
   * copies before it returns.
   */
  borrowed: boolean;
  /** null: the connected peer. */
  dest: ParsedAddress | null;
  port: number;
  /** The destination family's largest payload, the limit of one GSO message. */
  maxPayload: number;
  /**
   * Present when each datagram stands alone, as each of dgram's sends does:
   * a datagram the kernel refuses gets its error here (at its index) and the
   * write goes on with the next one, in the same turn, instead of failing.
   */
  datagramErrors?: Array<Error | undefined>;
  /** IP header fields every datagram of the write goes out with (WriteOptions ecn and sourceAddress). */
  header?: SendHeader;
  /**
   * writeMessages: unit i belongs to the caller's message `of[i]`, which has
   * its own recipient `to[of[i]]` (`dest`, `port` and `header` above then do
   * not apply). Datagrams of two messages never share a GSO message.
   */
  messages?: { of: ArrayLike<number>; to: readonly Recipient[] };
  /**
   * writeMessages with a segmentSize (with messages): unit i above is not one
   * datagram but a whole message of datagrams of segments[i] bytes back to
   * back (the last may be shorter; 0: one datagram). The engine sends each as
   * one GSO message where it can, doing O(1) work per message, and cuts the
   * rest into datagrams (offload/segments.ts cutMessages). Never with `datagramErrors`.
   */
  segments?: ArrayLike<number>;
}

/** Where one of writeMessages' messages goes, and how. */
export interface Recipient {
  /** null: the connected peer. */
  dest: ParsedAddress | null;
  port: number;
  header: SendHeader | undefined;
}

export interface SendHeader {
  /** The ECN codepoint (0..3) that replaces the low two bits of the socket's TOS / traffic class; undefined: the socket's own. */
  ecn: number | undefined;
  /**
   * The packet info's source address, 4 bytes on an IPv4 socket and 16 (IPv4-mapped for IPv4) on an IPv6 one,
   * all zeros for none with an interfaceIndex; undefined: no packet info.
   */
  source: Uint8Array | undefined;
  /** The interface to leave through, with the packet info; 0: the route's. */
  interfaceIndex: number;
  /** When the kernel's queueing discipline sends the message (SCM_TXTIME), CLOCK_MONOTONIC nanoseconds; or undefined. */
  txTime?: bigint;
  /** The datagrams travel as IPv4 (an IPv4 or IPv4-mapped destination): the TOS is IP_TOS, else IPV6_TCLASS. */
  ipv4: boolean;
}

/** What the network (or this host) said about a datagram the socket sent: an entry of its error queue. */
export interface IcmpError {
  /** The error's Node-style code: ECONNREFUSED (port unreachable), EHOSTUNREACH, ENETUNREACH, EMSGSIZE, ... */
  code: string;
  /** Its negative errno, as a SystemError's. */
  errno: number;
  /** Where the failed datagram was going. */
  address: string;
  port: number;
  /**
   * 'icmp' or 'icmp6': an ICMP message from the path; 'local': this host refused it (EMSGSIZE above the route's MTU);
   * 'txtime': a queueing discipline that checks send times (etf) dropped a paced message (ECANCELED: its time
   * passed; EINVAL: a time it cannot keep), with `pacing`. The kernel names no destination for those.
   */
  origin: 'local' | 'icmp' | 'icmp6' | 'txtime';
  /** The address of the node that sent the ICMP message; undefined for local errors. */
  from: string | undefined;
  /** The MTU the error announced (EMSGSIZE: "fragmentation needed", "packet too big", or the local route's). */
  mtu: number | undefined;
  /** The dropped message's txTime, for origin 'txtime'. */
  txTime: bigint | undefined;
}

export interface EngineHost {
  // Mutable: BatchSocket installs its handlers after the engine is open.
  /**
   * A read arrived; the view is valid until this returns. Returns false when
   * a consumer now waits for promise jobs to run (an async iterator's loop),
   * which they do only once the read loop hands back to the event loop.
   */
  deliver(view: BatchView): boolean;
  /**
   * Hands out the next datagram that deliver() kept back, in a callback of
   * the event loop of its own (nextTicks and promise jobs run before the next
   * one, as with node:dgram); returns how many still wait. A host that keeps
   * datagrams back returns false from deliver(), and has this.
   */
  deliverNext?(): number;
  /** How many datagrams deliver() kept back, with deliverNext. */
  waiting?(): number;
  /** Reports an error not tied to a write (a failed read, an ICMP error on a connected socket). */
  reportError(err: Error): void;
  /** Reports an entry of the error queue (receiveErrors). */
  reportIcmpError(e: IcmpError): void;
  /** The public socket the engine's diagnostics_channel messages are about. */
  socket?: object;
}

/** What setOffload changes on an open socket; each left out stays as it is. */
export interface OffloadSettings extends Partial<EqualTail> {
  gso?: boolean;
  gro?: boolean;
}

/**
 * The equal-tail workaround (offload/gso.ts SENTINEL): GSO messages whose
 * segments are all one length get a one-byte datagram of `gsoSentinel`
 * appended. At bind and at run time (setOffload).
 */
export interface EqualTail {
  neverGsoEqualTail: boolean;
  gsoSentinel: number;
}

export interface BindOptions extends EqualTail {
  type: 'udp4' | 'udp6';
  /**
   * A socket made elsewhere to take over instead of binding one (its
   * address, port, reuse flags and IPV6_V6ONLY are its own; the options
   * settable after bind are set on it).
   */
  fd?: number;
  address: ParsedAddress;
  port: number;
  batchSize: number;
  /** SO_MARK, SO_BINDTODEVICE, the unicast TTL / hop limit and the TOS / traffic class to set at bind. */
  mark?: number;
  bindToDevice?: string;
  /** Never fragment: datagrams above the path MTU fail with EMSGSIZE (IP_PMTUDISC_PROBE, IPV6_DONTFRAG). */
  dontFragment: boolean;
  /** SO_TXTIME on CLOCK_MONOTONIC: messages may carry their send time (txTime). */
  pacing: boolean;
  ttl?: number;
  tos?: number;
  /** IP_FREEBIND and IP_TRANSPARENT (IPV6_ ones on udp6, both on a dual-stack socket), set before bind. */
  freebind: boolean;
  transparent: boolean;
  /** Ask for UDP_SEGMENT (send offload) and UDP_GRO (receive offload) where the kernel has them. */
  gso: boolean;
  gro: boolean;
  rxqOverflowMetric: string;
  recvBufferSize?: number;
  sendBufferSize?: number;
  reuseAddr: boolean;
  reusePort: boolean;
  ipv6Only: boolean;
  recvSlotSize: number;
  sendQueueLimit: number;
  /** Ask the kernel for each datagram's ECN bits, local address and interface, receive time, original destination. */
  receiveEcn: boolean;
  receiveLocalAddress: boolean;
  receiveTimestamps: boolean;
  receiveOriginalDestination: boolean;
  /** Read the error queue (IP_RECVERR / IPV6_RECVERR): ICMP errors reach unconnected sockets too. */
  receiveErrors: boolean;
}

/** The membership calls of node:dgram, by name: which one says join or leave. */
export type MembershipCall = 'addMembership' | 'dropMembership';
export type SourceMembershipCall = 'addSourceSpecificMembership' | 'dropSourceSpecificMembership';

/**
 * node:dgram's multicast calls, which each engine makes its own way: the
 * Linux engine sets the socket options libuv sets (multicast.ts), the
 * portable one calls its node:dgram socket, so that a program gets the same
 * result on either. Addresses are text, as dgram takes them (an interface
 * of null: the kernel picks one), read by the engine; a refusal is a system
 * error whose syscall is the call's name: EINVAL for text that is no address
 * (of the group's family, for a source or a membership's interface), else
 * the kernel's errno.
 */
export interface Multicast {
  membership(method: MembershipCall, group: string, iface: string | null): void;
  sourceMembership(method: SourceMembershipCall, source: string, group: string, iface: string | null): void;
  setInterface(iface: string): void;
  /** The multicast TTL / hop limit, 0..255. */
  setTTL(ttl: number): void;
  setLoopback(on: boolean): void;
}

export interface Engine {
  /** The socket's capability state, which only the engine changes. */
  readonly capabilities: CapabilityState;
  readonly stats: SocketStats;
  /** Datagrams accepted by writes and not yet handed to the kernel. */
  readonly queuedDatagrams: number;
  address(): SocketAddress;
  remoteAddress(): SocketAddress | null;
  connect(dest: ParsedAddress, port: number): void | Promise<void>;
  disconnect(): void;
  setReading(on: boolean): void;
  /** Turns GSO / GRO on or off for later writes and reads, as far as the kernel has them; capabilities tell. */
  setOffload(o: OffloadSettings): void;
  /** The SO_REUSEPORT group's steering program (wire/steering.ts), or null for the kernel's own 4-tuple hash. */
  setSteering(program: Uint8Array | null): void;
  write(job: WriteJob): Promise<void>;
  setRef(ref: boolean): void;
  getRecvBufferSize(): number;
  getSendBufferSize(): number;
  // Socket options beyond the bind options, for BatchSocket's escape hatch
  // and the dgram drop-in (TTL, broadcast, buffer sizes); they throw
  // Node-style system errors naming `what`.
  getIntOption(level: number, name: number, what: string): number;
  setIntOption(level: number, name: number, value: number, what: string): void;
  setBytesOption(level: number, name: number, value: Uint8Array, what: string): void;
  /** The option's bytes, at most `byteLength` of them. */
  getBytesOption(level: number, name: number, byteLength: number, what: string): Uint8Array;
  /**
   * An int option of the socket's own family, as libuv sets TTLs and the
   * multicast loop flag: `v6` at IPPROTO_IPV6 on an IPv6 socket, a
   * dual-stack one included, else `v4` at IPPROTO_IP.
   */
  setFamilyOption(v4: number, v6: number, value: number, what: string): void;
  /** node:dgram's multicast calls, for BatchSocket's and the drop-in's. */
  readonly multicast: Multicast;
  /** Stops reading, rejects every pending write, releases the socket. */
  close(): void;
}
