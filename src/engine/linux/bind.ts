// Opening a socket on the batch path: create, set the bind options, bind (or
// take over an inherited socket), then ask the kernel which offloads and
// counters this socket gets.
import { counterFor } from '../../counters';
import { throwSystemError } from '../../errors';
import type { NativeBinding, SocketHandle } from '../../kernel/native';
import { abi } from '../../wire/abi';
import { enableRxqOverflowCounter, gsoSegmentLimit, probeOffload, supported } from '../../kernel/support';
import { uvLoop } from '../../kernel/runtime';
import { GRO_SLOT_SIZE } from '../../limits';
import type { ReceiveMetadata } from '../../wire/cmsg';
import { HOST_LITTLE_ENDIAN } from '../../wire/byteorder';
import { encodeSockaddr, formatAddress } from '../../wire/sockaddr';
import { CapabilityState } from '../capabilities';
import type { BindOptions, EngineHost } from '../contract';
import { LinuxEngine } from './engine';

/** Sets a buffer size, beyond net.core.*mem_max where the process may (CAP_NET_ADMIN). */
function setBufferSize(b: NativeBinding, s: SocketHandle, force: number, plain: number, size: number, name: string): void {
  if (b.setsockopt(s, abi.SOL_SOCKET, force, size) === 0) return;
  const r = b.setsockopt(s, abi.SOL_SOCKET, plain, size);
  if (r < 0) throwSystemError(r, `setsockopt ${name}`);
}

/** Opens, configures and binds a socket on the batch path (or takes over o.fd). Throws a system error on failure. */
export function openLinux(b: NativeBinding, o: BindOptions, host: EngineHost): LinuxEngine {
  if (o.fd !== undefined) return adoptLinux(b, o.fd, o, host);
  const s = b.socket(o.type === 'udp4' ? 4 : 6);
  if (typeof s === 'number') throwSystemError(s, 'socket');
  try {
    if (o.reuseAddr) setInt(b, s, abi.SOL_SOCKET, abi.SO_REUSEADDR, 1, 'SO_REUSEADDR');
    if (o.reusePort) setInt(b, s, abi.SOL_SOCKET, abi.SO_REUSEPORT, 1, 'SO_REUSEPORT');
    if (o.type === 'udp6') setInt(b, s, abi.IPPROTO_IPV6, abi.IPV6_V6ONLY, o.ipv6Only ? 1 : 0, 'IPV6_V6ONLY');
    setSocketOptions(b, s, o, o.type === 'udp6' && o.ipv6Only);
    const name = new Uint8Array(abi.SOCKADDR_SLOT);
    const len = encodeSockaddr(name, 0, o.address, o.port);
    const r = b.bind(s, name, len);
    if (r < 0) throwSystemError(r, 'bind', formatAddress(o.address), o.port);
    return configure(b, s, o, host);
  } catch (err) {
    b.close(s);
    throw err;
  }
}

function setInt(b: NativeBinding, s: SocketHandle, level: number, opt: number, value: number, name: string): void {
  const r = b.setsockopt(s, level, opt, value);
  if (r < 0) throwSystemError(r, `setsockopt ${name}`);
}

/**
 * The options a socket takes before bind or after: routing mark and device
 * (set before bind, so that bind and every send already obey them), free and
 * transparent binding (before bind, which they change), TTL, TOS,
 * don't-fragment and buffer sizes. `v6Only`: a udp6 socket that takes no
 * IPv4 traffic, which needs no IPv4 option.
 */
function setSocketOptions(b: NativeBinding, s: SocketHandle, o: BindOptions, v6Only: boolean): void {
  if (o.mark !== undefined) setInt(b, s, abi.SOL_SOCKET, abi.SO_MARK, o.mark | 0, 'SO_MARK');
  if (o.bindToDevice !== undefined) {
    const name = Buffer.from(`${o.bindToDevice}\0`);
    const r = b.setsockoptBytes(s, abi.SOL_SOCKET, abi.SO_BINDTODEVICE, name, name.length);
    if (r < 0) throwSystemError(r, 'setsockopt SO_BINDTODEVICE');
  }
  // On a dual-stack socket the IPv4 option too, for its IPv4 traffic.
  const both = (v4: number, v4Name: string, v6: number, v6Name: string, value: number) => {
    if (!v6Only) setInt(b, s, abi.IPPROTO_IP, v4, value, v4Name);
    if (o.type === 'udp6') setInt(b, s, abi.IPPROTO_IPV6, v6, value, v6Name);
  };
  // Either lets bind take an address the host does not have (the kernel keeps
  // one flag of each for both families). After bind they still count:
  // TRANSPARENT is what TPROXY looks for in the socket a datagram is diverted
  // to, and what lets an IPv4 send leave from a foreign source address; an
  // IPv6 one may with either.
  if (o.freebind) both(abi.IP_FREEBIND, 'IP_FREEBIND', abi.IPV6_FREEBIND, 'IPV6_FREEBIND', 1);
  if (o.transparent) both(abi.IP_TRANSPARENT, 'IP_TRANSPARENT', abi.IPV6_TRANSPARENT, 'IPV6_TRANSPARENT', 1);
  if (o.ttl !== undefined) both(abi.IP_TTL, 'IP_TTL', abi.IPV6_UNICAST_HOPS, 'IPV6_UNICAST_HOPS', o.ttl);
  if (o.tos !== undefined) both(abi.IP_TOS, 'IP_TOS', abi.IPV6_TCLASS, 'IPV6_TCLASS', o.tos);
  // Don't fragment, as QUIC's path MTU discovery needs (quinn-udp and quic-go set the same): PROBE
  // sets DF and ignores the route's cached MTU, so a probe larger than the path fails with EMSGSIZE.
  if (o.dontFragment) {
    both(abi.IP_MTU_DISCOVER, 'IP_MTU_DISCOVER', abi.IPV6_MTU_DISCOVER, 'IPV6_MTU_DISCOVER', abi.IP_PMTUDISC_PROBE);
    if (o.type === 'udp6') setInt(b, s, abi.IPPROTO_IPV6, abi.IPV6_DONTFRAG, 1, 'IPV6_DONTFRAG');
  }
  if (o.recvBufferSize !== undefined) setBufferSize(b, s, abi.SO_RCVBUFFORCE, abi.SO_RCVBUF, o.recvBufferSize, 'SO_RCVBUF');
  if (o.sendBufferSize !== undefined) setBufferSize(b, s, abi.SO_SNDBUFFORCE, abi.SO_SNDBUF, o.sendBufferSize, 'SO_SNDBUF');
}

/**
 * Takes over a UDP socket made elsewhere (BatchSocket.adopt, the drop-in's
 * bind({ fd })) on a duplicate of its descriptor; closing the engine closes
 * the original too. Its address, port, reuse flags and IPV6_V6ONLY are its
 * own; the options settable after bind are set.
 */
export function adoptLinux(b: NativeBinding, fd: number, o: BindOptions, host: EngineHost): LinuxEngine {
  const s = b.adopt(fd, uvLoop);
  if (typeof s === 'number') throwSystemError(s, 'open');
  try {
    const only = new Int32Array(1);
    if (o.type === 'udp6') {
      const r = b.getsockopt(s, abi.IPPROTO_IPV6, abi.IPV6_V6ONLY, only);
      if (r < 0) throwSystemError(r, 'getsockopt IPV6_V6ONLY');
    }
    const v6Only = only[0] === 1;
    setSocketOptions(b, s, o, v6Only);
    return configure(b, s, o, host);
  } catch (err) {
    b.close(s);
    throw err;
  }
}

/**
 * Asks the kernel for the per-datagram metadata the options want; each is on
 * where the kernel accepted every option it takes. A dual-stack socket needs
 * the IPv4 option too for the TOS of its IPv4 datagrams (as quinn-udp sets
 * both) and for their original destination; IPV6_RECVPKTINFO covers them
 * already, with IPv4-mapped addresses.
 */
function enableReceiveMetadata(b: NativeBinding, s: SocketHandle, o: BindOptions): ReceiveMetadata {
  const on = (level: number, name: number, what: string) => supported(b.setsockopt(s, level, name, 1), `setsockopt ${what}`);
  const v6 = o.type === 'udp6';
  const tos = () => on(abi.IPPROTO_IP, abi.IP_RECVTOS, 'IP_RECVTOS');
  const origDst4 = () => on(abi.IPPROTO_IP, abi.IP_RECVORIGDSTADDR, 'IP_RECVORIGDSTADDR');
  return {
    ecn: o.receiveEcn && (v6 ? on(abi.IPPROTO_IPV6, abi.IPV6_RECVTCLASS, 'IPV6_RECVTCLASS') && (o.ipv6Only || tos()) : tos()),
    localAddress: o.receiveLocalAddress && (v6
      ? on(abi.IPPROTO_IPV6, abi.IPV6_RECVPKTINFO, 'IPV6_RECVPKTINFO')
      : on(abi.IPPROTO_IP, abi.IP_PKTINFO, 'IP_PKTINFO')),
    timestamps: o.receiveTimestamps && on(abi.SOL_SOCKET, abi.SO_TIMESTAMPNS, 'SO_TIMESTAMPNS'),
    originalDestination: o.receiveOriginalDestination && (v6
      ? on(abi.IPPROTO_IPV6, abi.IPV6_RECVORIGDSTADDR, 'IPV6_RECVORIGDSTADDR') && (o.ipv6Only || origDst4())
      : origDst4()),
  };
}

/**
 * Turns the error queue on (receiveErrors): both families' option on a
 * dual-stack socket, as with the other options; SO_SELECT_ERR_QUEUE makes a
 * queued error wake the poll as a priority event (libuv then keeps polling,
 * where a bare POLLERR would stop it). True where the kernel took all of them.
 */
function enableErrorQueue(b: NativeBinding, s: SocketHandle, o: BindOptions): boolean {
  if (!o.receiveErrors) return false;
  const options: Array<[number, number, string]> = [[abi.SOL_SOCKET, abi.SO_SELECT_ERR_QUEUE, 'SO_SELECT_ERR_QUEUE']];
  if (o.type === 'udp6') options.push([abi.IPPROTO_IPV6, abi.IPV6_RECVERR, 'IPV6_RECVERR']);
  if (o.type === 'udp4' || !o.ipv6Only) options.push([abi.IPPROTO_IP, abi.IP_RECVERR, 'IP_RECVERR']);
  if (options.every(([level, name, what]) => supported(b.setsockopt(s, level, name, 1), `setsockopt ${what}`))) return true;
  // Half on is worse than off: a queue nobody reads fills the receive
  // buffer, and its errors would fail reads and writes instead.
  for (const [level, name] of options) b.setsockopt(s, level, name, 0);
  return false;
}

/**
 * Turns SO_TXTIME on (pacing), on CLOCK_MONOTONIC: the fq qdisc paces by
 * that clock only, and it is process.hrtime.bigint()'s. With the error
 * queue on, the kernel also reports the messages a qdisc that checks
 * deadlines (etf) dropped as late. True where the kernel took it.
 */
function enablePacing(b: NativeBinding, s: SocketHandle, o: BindOptions, errorQueue: boolean): boolean {
  if (!o.pacing) return false;
  // struct sock_txtime: clockid_t clockid, __u32 flags.
  const txtime = new Uint8Array(8);
  const v = new DataView(txtime.buffer);
  v.setInt32(0, abi.CLOCK_MONOTONIC, HOST_LITTLE_ENDIAN);
  v.setUint32(4, errorQueue ? abi.SOF_TXTIME_REPORT_ERRORS : 0, HOST_LITTLE_ENDIAN);
  return supported(b.setsockoptBytes(s, abi.SOL_SOCKET, abi.SO_TXTIME, txtime, txtime.length), 'setsockopt SO_TXTIME');
}

/** Asks the kernel which offloads and counters a bound socket gets, and makes its engine. */
function configure(b: NativeBinding, s: SocketHandle, o: BindOptions, host: EngineHost): LinuxEngine {
  // A receive slot too small for a GRO message does not ask for GRO.
  const { tx, rx } = probeOffload(b, s, o.gso, o.gro && o.recvSlotSize >= GRO_SLOT_SIZE);
  const counter = o.rxqOverflowMetric && enableRxqOverflowCounter(b, s) ? counterFor(o.rxqOverflowMetric) : undefined;
  const metadata = enableReceiveMetadata(b, s, o);
  const icmpErrors = enableErrorQueue(b, s, o);
  const capabilities = new CapabilityState({
    batching: true, txOffload: tx, rxOffload: rx, rxqOverflowCounter: counter !== undefined, ...metadata, mayFragment: !o.dontFragment,
    icmpErrors, pacing: enablePacing(b, s, o, icmpErrors),
  }, tx ? gsoSegmentLimit() : 1);
  return new LinuxEngine(b, s, capabilities,
    { batchSize: o.batchSize, slotSize: rx ? Math.max(GRO_SLOT_SIZE, o.recvSlotSize) : o.recvSlotSize, counter, metadata,
      family: o.type === 'udp4' ? 4 : 6 },
    { batchSize: o.batchSize, neverGsoEqualTail: o.neverGsoEqualTail, gsoSentinel: o.gsoSentinel, sendQueueLimit: o.sendQueueLimit },
    host);
}
