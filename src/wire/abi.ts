// The kernel ABI values batchgram is written for: those of the common Linux
// ABI of 64-bit machines, which x86_64 and arm64 share. The socket numbers
// come from the kernel's UAPI headers (asm-generic/socket.h, linux/in.h,
// linux/in6.h, linux/udp.h, asm-generic/errno.h), the sizes from its LP64
// structs. A few architectures number socket types, options and errnos their
// own way (mips, sparc, alpha and parisc: SOL_SOCKET is 0xffff there), and
// 32-bit ones have smaller structs. The addon exports the same names with the
// values of the headers it was built with, and kernel/native.ts compares the
// two at load: where any value differs the addon is not used, and sockets run
// on node:dgram.
//
// Beside the kernel's values, the table holds the contract of the addon
// itself (native/src/batchgram.h): its descriptor strides, ring maxima and
// poll statuses, checked the same way.

export const abi = Object.freeze({
  // Families, types, levels (linux/socket.h, linux/in.h)
  AF_INET: 2, AF_INET6: 10, AF_UNIX: 1, SOCK_STREAM: 1, SOCK_DGRAM: 2,
  SOL_SOCKET: 1, SOL_UDP: 17, IPPROTO_IP: 0, IPPROTO_IPV6: 41,

  // UDP offload (linux/udp.h)
  UDP_SEGMENT: 103, UDP_GRO: 104,

  // SOL_SOCKET options (asm-generic/socket.h)
  SO_RXQ_OVFL: 40, SO_RCVBUF: 8, SO_SNDBUF: 7, SO_RCVBUFFORCE: 33, SO_SNDBUFFORCE: 32,
  SO_REUSEADDR: 2, SO_REUSEPORT: 15, SO_BROADCAST: 6, SO_ERROR: 4,
  SO_SELECT_ERR_QUEUE: 45, SO_MEMINFO: 55, SO_DETACH_REUSEPORT_BPF: 68, SO_MARK: 36, SO_BINDTODEVICE: 25,
  SO_TIMESTAMPNS: 35, SCM_TIMESTAMPNS: 35,
  // Pacing (asm-generic/socket.h, linux/net_tstamp.h, linux/time.h): SO_TXTIME takes a struct sock_txtime.
  SO_TXTIME: 61, SCM_TXTIME: 61, SOF_TXTIME_REPORT_ERRORS: 2, CLOCK_MONOTONIC: 1,

  // IPPROTO_IP options (linux/in.h)
  IP_TOS: 1, IP_TTL: 2, IP_PKTINFO: 8, IP_MTU_DISCOVER: 10, IP_PMTUDISC_PROBE: 3, IP_RECVERR: 11, IP_RECVTOS: 13,
  IP_FREEBIND: 15, IP_TRANSPARENT: 19, IP_RECVORIGDSTADDR: 20, IP_ORIGDSTADDR: 20,
  IP_MULTICAST_IF: 32, IP_MULTICAST_TTL: 33, IP_MULTICAST_LOOP: 34,
  IP_ADD_MEMBERSHIP: 35, IP_DROP_MEMBERSHIP: 36, IP_ADD_SOURCE_MEMBERSHIP: 39, IP_DROP_SOURCE_MEMBERSHIP: 40,
  MCAST_JOIN_SOURCE_GROUP: 46, MCAST_LEAVE_SOURCE_GROUP: 47,

  // IPPROTO_IPV6 options (linux/in6.h, linux/ipv6.h)
  IPV6_UNICAST_HOPS: 16, IPV6_MULTICAST_IF: 17, IPV6_MULTICAST_HOPS: 18, IPV6_MULTICAST_LOOP: 19,
  IPV6_JOIN_GROUP: 20, IPV6_LEAVE_GROUP: 21, IPV6_MTU_DISCOVER: 23, IPV6_PMTUDISC_PROBE: 3, IPV6_RECVERR: 25,
  IPV6_V6ONLY: 26, IPV6_RECVPKTINFO: 49, IPV6_PKTINFO: 50, IPV6_RECVTCLASS: 66, IPV6_TCLASS: 67, IPV6_DONTFRAG: 62,
  IPV6_RECVORIGDSTADDR: 74, IPV6_ORIGDSTADDR: 74, IPV6_TRANSPARENT: 75, IPV6_FREEBIND: 78,

  // recvmsg flags (linux/socket.h)
  MSG_TRUNC: 0x20, MSG_CTRUNC: 0x08,

  /** Errnos ICMP errors convert to that Node's os.constants.errno does not name (asm-generic/errno.h). */
  EHOSTDOWN: 112, ENONET: 64,

  // Struct sizes and alignment on LP64: struct timespec, struct group_source_req, struct cmsghdr and
  // CMSG_ALIGN's unit (a size_t), and the address slot (struct sockaddr_in6, the largest family spoken).
  SIZEOF_TIMESPEC: 16, SIZEOF_GROUP_SOURCE_REQ: 264, CMSG_HEADER_SIZE: 16, CMSG_ALIGN: 8, SOCKADDR_SLOT: 28,

  /** libuv's poll event for an error queued (with SO_SELECT_ERR_QUEUE), the socket's POLLPRI. */
  UV_PRIORITIZED: 8,

  // The addon's own contract: descriptor strides (int32 fields; kernel/descriptors.ts names them), the
  // most messages and iovecs a ring holds, the most iovecs a message takes (UIO_MAXIOV)...
  RECV_META_FIELDS: 4, SEND_MSG_FIELDS: 5, SEND_IOV_FIELDS: 3,
  MAX_RING_ENTRIES: 4096, MAX_RING_IOVECS: 65536, MAX_IOV_PER_MSG: 1024,
  /** ...and the poll callback's status for a call that hands out the next datagram kept back (EngineHost.deliverNext). */
  POLL_HAND_OUT: 1,
});
