// The native addon's interface (native/batchgram.c) and its loader. Keeping
// the interface as a type lets tests wrap the real binding to inject kernel
// faults, and lets the rest of src/ stay ignorant of where the addon lives.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { noAddon } from '../errors';

/** Opaque handles created by the addon; only the addon can read them. */
export interface SocketHandle { readonly __socket: unique symbol }
export interface RecvRing { readonly __recvRing: unique symbol }
export interface SendRing { readonly __sendRing: unique symbol }

export interface NativeConstants {
  AF_INET: number; AF_INET6: number; AF_UNIX: number; SOCK_STREAM: number; SOCK_DGRAM: number;
  SOL_SOCKET: number; SOL_UDP: number; IPPROTO_IP: number; IPPROTO_IPV6: number;
  UDP_SEGMENT: number; UDP_GRO: number; SO_RXQ_OVFL: number;
  SO_RCVBUF: number; SO_SNDBUF: number; SO_RCVBUFFORCE: number; SO_SNDBUFFORCE: number;
  SO_REUSEADDR: number; SO_REUSEPORT: number; SO_BROADCAST: number; SO_ERROR: number; IPV6_V6ONLY: number;
  SO_SELECT_ERR_QUEUE: number; SO_MEMINFO: number; IP_RECVERR: number; IPV6_RECVERR: number; UV_PRIORITIZED: number;
  /** The poll callback's status for a call that hands out the next datagram kept back (EngineHost.deliverNext). */
  POLL_HAND_OUT: number;
  /** Errnos ICMP errors convert to that Node's os.constants.errno does not name. */
  EHOSTDOWN: number; ENONET: number;
  MSG_TRUNC: number; MSG_CTRUNC: number;
  IP_TOS: number; IP_RECVTOS: number; IP_PKTINFO: number; SO_MARK: number; SO_BINDTODEVICE: number;
  IP_MTU_DISCOVER: number; IP_PMTUDISC_PROBE: number; IPV6_MTU_DISCOVER: number; IPV6_PMTUDISC_PROBE: number; IPV6_DONTFRAG: number;
  IPV6_TCLASS: number; IPV6_RECVTCLASS: number; IPV6_PKTINFO: number; IPV6_RECVPKTINFO: number;
  SO_TIMESTAMPNS: number; SCM_TIMESTAMPNS: number; SIZEOF_TIMESPEC: number;
  IP_TTL: number; IP_MULTICAST_TTL: number; IP_MULTICAST_LOOP: number; IP_MULTICAST_IF: number;
  IP_ADD_MEMBERSHIP: number; IP_DROP_MEMBERSHIP: number; IP_ADD_SOURCE_MEMBERSHIP: number; IP_DROP_SOURCE_MEMBERSHIP: number;
  IPV6_UNICAST_HOPS: number; IPV6_MULTICAST_HOPS: number; IPV6_MULTICAST_LOOP: number; IPV6_MULTICAST_IF: number;
  IPV6_JOIN_GROUP: number; IPV6_LEAVE_GROUP: number; MCAST_JOIN_SOURCE_GROUP: number; MCAST_LEAVE_SOURCE_GROUP: number;
  SIZEOF_GROUP_SOURCE_REQ: number;
  CMSG_HEADER_SIZE: number; CMSG_ALIGN: number; SOCKADDR_SLOT: number;
  RECV_META_FIELDS: number; SEND_MSG_FIELDS: number; SEND_IOV_FIELDS: number;
  MAX_RING_ENTRIES: number; MAX_RING_IOVECS: number; MAX_IOV_PER_MSG: number;
}

/** Every function returns a non-negative result or -errno. */
export interface NativeBinding {
  constants: NativeConstants;
  socket(family: 4 | 6): SocketHandle | number;
  /** A handle on a duplicate of an inherited UDP socket; -EPROTOTYPE for a socket of another kind. */
  adopt(fd: number): SocketHandle | number;
  /** Fills out[0..2] with the domain, type and protocol of any descriptor's socket. */
  socketKind(fd: number, out: Int32Array): number;
  bind(s: SocketHandle, addr: Uint8Array, len: number): number;
  /** A zero length disconnects. */
  connect(s: SocketHandle, addr: Uint8Array, len: number): number;
  getsockname(s: SocketHandle, out: Uint8Array): number;
  getpeername(s: SocketHandle, out: Uint8Array): number;
  setsockopt(s: SocketHandle, level: number, name: number, value: number): number;
  getsockopt(s: SocketHandle, level: number, name: number, out: Int32Array): number;
  /** For struct-valued options: passes value[0, len). */
  setsockoptBytes(s: SocketHandle, level: number, name: number, value: Uint8Array, len: number): number;
  /** For options whose value is not an int: fills out[0, result) and returns the length, or -errno. */
  getsockoptBytes(s: SocketHandle, level: number, name: number, out: Uint8Array): number;
  close(s: SocketHandle): number;
  /**
   * Events: 1 readable, 2 writable, UV_PRIORITIZED (an error queued, with SO_SELECT_ERR_QUEUE); the callback gets
   * (status, events). While it returns a positive count it is called again with (POLL_HAND_OUT, 0), each call in
   * a callback scope of its own (a call that throws counts as one of the count).
   */
  pollStart(s: SocketHandle, cb: (status: number, events: number) => number | void): number;
  pollUpdate(s: SocketHandle, events: number): number;
  pollRef(s: SocketHandle, ref: boolean): number;
  /** Per slot, meta receives [length, flags, address length, control length]. */
  recvRing(arena: Uint8Array, slots: number, slotSize: number, names: Uint8Array,
    controls: Uint8Array, controlSize: number, meta: Int32Array): RecvRing | number;
  recvmmsg(s: SocketHandle, ring: RecvRing, count: number): number;
  /** recvmmsg from the error queue (MSG_ERRQUEUE): per slot the failed datagram's start, its destination, the error. */
  recvErrors(s: SocketHandle, ring: RecvRing, count: number): number;
  /** Message descriptors: [first iovec, iovec count, address slot, address length, control length];
   *  iovec descriptors: [buffer index, byte offset, byte length]. */
  sendRing(maxMessages: number, maxIovecs: number, names: Uint8Array, controls: Uint8Array,
    controlSize: number, messages: Int32Array, iovecs: Int32Array): SendRing | number;
  /** An ArrayBuffer in `buffers` serves iovecs that span datagrams lying back to back in it. */
  sendmmsg(s: SocketHandle, ring: SendRing, buffers: ReadonlyArray<Uint8Array | ArrayBuffer>, first: number, count: number): number;
  /** Gives back what a ring holds now (a closing socket's); later calls with it throw. */
  ringRelease(ring: RecvRing | SendRing): number;
  /** Zeroed memory of its own mapping, unmapped once collected: no heap block of malloc's stays behind. */
  mapPages(byteLength: number): ArrayBuffer | number;
  /** Detaches a buffer of mapPages and gives its pages back now; one detached already is left alone. */
  releasePages(buffer: ArrayBuffer): number;
}

/** Set by `npm run test:asan` to load the sanitizer build instead of the release one. */
const ADDON_ENV = 'BATCHGRAM_ADDON';
/** Set to 1 by those who would rather fail than run on node:dgram without saying so. */
const REQUIRE_NATIVE_ENV = 'BATCHGRAM_REQUIRE_NATIVE';

// dist/src/kernel/native.js → native/: build/Release (a local build) or prebuilds/<platform>-<arch>/.
const ADDON_DIR = join(__dirname, '..', '..', '..', 'native');
/** What the install step (native/build.mjs) left when it could not build the addon. */
const INSTALL_FAILURE = join(ADDON_DIR, 'build', 'install-failure.txt');
const REBUILD = 'install a C toolchain (cc, make, python3) and run `npm rebuild batchgram`';

/** Where the addon came from, or why there is none: what `batchgram probe` reports. */
export interface AddonStatus {
  /** The file loaded, or null. */
  path: string | null;
  /** Why there is no addon, and what to do about it; null when it loaded. */
  reason: string | null;
}

/** node-gyp-build: the local build or the prebuilt binary matching this system. */
const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };

/** The platform tuple prebuilt binaries are named by, as node-gyp-build matches them. */
function tuple(): string {
  const libc = existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
  return `${process.platform}-${process.arch} (${libc})`;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim().split('\n')[0];
}

function load(): { binding: NativeBinding | null; status: AddonStatus } {
  const forced = process.env[ADDON_ENV];
  if (forced) return { binding: require(forced) as NativeBinding, status: { path: forced, reason: null } };
  if (process.platform !== 'linux') {
    return { binding: null, status: { path: null, reason: `the addon is for Linux only, not ${process.platform}` } };
  }
  let path: string;
  try {
    path = nodeGypBuild.path(ADDON_DIR);
  } catch {
    let why = 'no build (install scripts were skipped, as --ignore-scripts and pnpm by default do)';
    try {
      why = `the install step could not build one: ${readFileSync(INSTALL_FAILURE, 'utf8').trim()}`;
    } catch { /* no record: the install step never ran */ }
    return { binding: null, status: { path: null, reason: `no prebuilt addon for ${tuple()} and ${why}; to fix, ${REBUILD}` } };
  }
  try {
    return { binding: require(path) as NativeBinding, status: { path, reason: null } };
  } catch (err) {
    // dlopen's message starts with the path, which the reason names already.
    const why = firstLine(err).replace(`${path}: `, '');
    return { binding: null, status: { path: null, reason: `the addon ${path} does not load (${why}); to fix, ${REBUILD}` } };
  }
}

const loaded = load();

/** The addon, or null where there is none: sockets then use node:dgram. */
export const binding: NativeBinding | null = loaded.binding;
export const addonStatus: AddonStatus = loaded.status;

if (loaded.status.reason !== null) {
  if (process.env[REQUIRE_NATIVE_ENV] === '1') {
    throw noAddon(loaded.status.reason);
  }
  // Off Linux node:dgram is the design, not a fault: nothing to say there.
  if (process.platform === 'linux') {
    process.stderr.write(`batchgram: using node:dgram, one datagram per system call: ${loaded.status.reason}\n`);
  }
}

/**
 * The kernel ABI values the policy code needs. Where the addon is loaded they
 * come from the C headers of this very machine (SOL_SOCKET and SO_RXQ_OVFL
 * differ on a few architectures); elsewhere the common Linux values serve the
 * pure functions and their tests.
 */
export const abi: NativeConstants = binding?.constants ?? {
  AF_INET: 2, AF_INET6: 10, AF_UNIX: 1, SOCK_STREAM: 1, SOCK_DGRAM: 2,
  SOL_SOCKET: 1, SOL_UDP: 17, IPPROTO_IP: 0, IPPROTO_IPV6: 41,
  UDP_SEGMENT: 103, UDP_GRO: 104, SO_RXQ_OVFL: 40,
  SO_RCVBUF: 8, SO_SNDBUF: 7, SO_RCVBUFFORCE: 33, SO_SNDBUFFORCE: 32,
  SO_REUSEADDR: 2, SO_REUSEPORT: 15, SO_BROADCAST: 6, SO_ERROR: 4, IPV6_V6ONLY: 26,
  SO_SELECT_ERR_QUEUE: 45, SO_MEMINFO: 55, IP_RECVERR: 11, IPV6_RECVERR: 25, UV_PRIORITIZED: 8, POLL_HAND_OUT: 1, EHOSTDOWN: 112, ENONET: 64,
  MSG_TRUNC: 0x20, MSG_CTRUNC: 0x08,
  IP_TOS: 1, IP_RECVTOS: 13, IP_PKTINFO: 8, SO_MARK: 36, SO_BINDTODEVICE: 25,
  IP_MTU_DISCOVER: 10, IP_PMTUDISC_PROBE: 3, IPV6_MTU_DISCOVER: 23, IPV6_PMTUDISC_PROBE: 3, IPV6_DONTFRAG: 62,
  IPV6_TCLASS: 67, IPV6_RECVTCLASS: 66, IPV6_PKTINFO: 50, IPV6_RECVPKTINFO: 49,
  SO_TIMESTAMPNS: 35, SCM_TIMESTAMPNS: 35, SIZEOF_TIMESPEC: 16,
  IP_TTL: 2, IP_MULTICAST_TTL: 33, IP_MULTICAST_LOOP: 34, IP_MULTICAST_IF: 32,
  IP_ADD_MEMBERSHIP: 35, IP_DROP_MEMBERSHIP: 36, IP_ADD_SOURCE_MEMBERSHIP: 39, IP_DROP_SOURCE_MEMBERSHIP: 40,
  IPV6_UNICAST_HOPS: 16, IPV6_MULTICAST_HOPS: 18, IPV6_MULTICAST_LOOP: 19, IPV6_MULTICAST_IF: 17,
  IPV6_JOIN_GROUP: 20, IPV6_LEAVE_GROUP: 21, MCAST_JOIN_SOURCE_GROUP: 46, MCAST_LEAVE_SOURCE_GROUP: 47,
  SIZEOF_GROUP_SOURCE_REQ: 264,
  CMSG_HEADER_SIZE: 16, CMSG_ALIGN: 8, SOCKADDR_SLOT: 28,
  RECV_META_FIELDS: 4, SEND_MSG_FIELDS: 5, SEND_IOV_FIELDS: 3,
  MAX_RING_ENTRIES: 4096, MAX_RING_IOVECS: 65536, MAX_IOV_PER_MSG: 1024,
};
