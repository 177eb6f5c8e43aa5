// Socket options batchgram sets and keeps track of itself. Set by hand
// through the escape hatch (setSocketOption), each would change what the
// kernel does behind the library's back: UDP_GRO on a socket read as without
// it merges datagrams (8 of 100 bytes arrive as one of 800), UDP_SEGMENT cuts
// every send, IP_RECVERR queues errors nobody reads (the poll then reports
// them forever: 32 000 'error' events in 500 ms), and the receive-metadata
// options add control data the receive slots were not sized for. So they
// are refused, naming what to use instead.
import { abi } from '../wire/abi';

const { SOL_SOCKET, SOL_UDP, IPPROTO_IP, IPPROTO_IPV6 } = abi;

const MANAGED: ReadonlyArray<[level: number, name: number, option: string, instead: string]> = [
  [SOL_UDP, abi.UDP_SEGMENT, 'UDP_SEGMENT', "the option 'gso' or setOffload({ gso })"],
  [SOL_UDP, abi.UDP_GRO, 'UDP_GRO', "the option 'gro' or setOffload({ gro })"],
  [IPPROTO_IP, abi.IP_RECVERR, 'IP_RECVERR', "the option 'receiveErrors'"],
  [IPPROTO_IPV6, abi.IPV6_RECVERR, 'IPV6_RECVERR', "the option 'receiveErrors'"],
  [SOL_SOCKET, abi.SO_SELECT_ERR_QUEUE, 'SO_SELECT_ERR_QUEUE', "the option 'receiveErrors'"],
  [IPPROTO_IP, abi.IP_RECVTOS, 'IP_RECVTOS', "the option 'receiveEcn'"],
  [IPPROTO_IPV6, abi.IPV6_RECVTCLASS, 'IPV6_RECVTCLASS', "the option 'receiveEcn'"],
  [IPPROTO_IP, abi.IP_PKTINFO, 'IP_PKTINFO', "the option 'receiveLocalAddress'"],
  [IPPROTO_IPV6, abi.IPV6_RECVPKTINFO, 'IPV6_RECVPKTINFO', "the option 'receiveLocalAddress'"],
  [SOL_SOCKET, abi.SO_TIMESTAMPNS, 'SO_TIMESTAMPNS', "the option 'receiveTimestamps'"],
  [IPPROTO_IP, abi.IP_RECVORIGDSTADDR, 'IP_RECVORIGDSTADDR', "the option 'receiveOriginalDestination'"],
  [IPPROTO_IPV6, abi.IPV6_RECVORIGDSTADDR, 'IPV6_RECVORIGDSTADDR', "the option 'receiveOriginalDestination'"],
  [SOL_SOCKET, abi.SO_RXQ_OVFL, 'SO_RXQ_OVFL', "the option 'rxqOverflowMetric'"],
  [IPPROTO_IP, abi.IP_MTU_DISCOVER, 'IP_MTU_DISCOVER', "the option 'dontFragment'"],
  [IPPROTO_IPV6, abi.IPV6_MTU_DISCOVER, 'IPV6_MTU_DISCOVER', "the option 'dontFragment'"],
  [IPPROTO_IPV6, abi.IPV6_DONTFRAG, 'IPV6_DONTFRAG', "the option 'dontFragment'"],
  // Another clock or none would make every txTime wrong, or every paced write fail with EINVAL.
  [SOL_SOCKET, abi.SO_TXTIME, 'SO_TXTIME', "the option 'pacing'"],
];

/** For an option batchgram manages, its name and what to use instead; else null. */
export function managedOption(level: number, name: number): { option: string; instead: string } | null {
  for (const [l, n, option, instead] of MANAGED) if (l === level && n === name) return { option, instead };
  return null;
}
