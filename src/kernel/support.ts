// What this system offers a socket: batching where Linux has recvmmsg and
// sendmmsg, and per socket the offloads its kernel accepts. The answers are
// read from the kernel, never assumed from a version number, except for the
// one case below where asking would be unsafe.
import { constants, release } from 'node:os';
import { CONTROL_BUFFER_SIZE, writeUdpSegment } from '../wire/cmsg';
import { IDEAL_BATCH_SIZE_WITH_MMSG, UDP_MAX_SEGMENTS, UDP_MAX_SEGMENTS_RAISED } from '../limits';
import { describeIovec, describeMessage } from './descriptors';
import { binding, type NativeBinding, type SocketHandle } from './native';
import { abi } from '../wire/abi';
import { encodeSockaddr, parseAddress } from '../wire/sockaddr';
import { throwSystemError } from '../errors';

/**
 * Whether this kernel has recvmmsg/sendmmsg. They arrived in 2.6.33, but
 * Tailscale supports 2.6.32 for old NAS devices; as a cheap rule every 2.x
 * kernel is taken as too old (UDP offload came much later anyway).
 */
export function kernelHasMmsg(platform: string = process.platform, kernelRelease: string = release()): boolean {
  return platform === 'linux' && !kernelRelease.startsWith('2.');
}

/** The batch path is available: the addon loaded on a kernel with mmsg. */
const batchingAvailable = binding !== null && kernelHasMmsg();

/**
 * The one decision whether a socket takes the batch path: `b` is the addon
 * (the real one or a test's wrapper; null where there is none), `batching`
 * the caller's option (false opts out).
 */
export function useBatchPath(b: NativeBinding | null, batching: boolean | undefined): b is NativeBinding {
  return b !== null && batchingAvailable && batching !== false;
}

/** Datagrams per batch for the best throughput on a path: IDEAL_BATCH_SIZE_WITH_MMSG with batching, 1 without. */
export function idealBatchSize(batching: boolean): number {
  return batching ? IDEAL_BATCH_SIZE_WITH_MMSG : 1;
}

/** The ideal batch size here, where the batch path is taken whenever available. */
export const IDEAL_BATCH_SIZE = idealBatchSize(batchingAvailable);

const scratch = new Int32Array(1);

const { ENOPROTOOPT, EOPNOTSUPP } = constants.errno;

/**
 * A probe's answer from the result `r` of a socket option call: the kernel
 * took it, or does not know the option (ENOPROTOOPT, EOPNOTSUPP: an older
 * kernel, another protocol), which is a capability the socket lacks. Any
 * other failure (ENOMEM, say) says nothing about the capability: it is a
 * system error naming `what`, as quinn-udp reads them too.
 */
export function supported(r: number, what: string): boolean {
  if (r >= 0) return true;
  if (r === -ENOPROTOOPT || r === -EOPNOTSUPP) return false;
  throwSystemError(r, what);
}

/**
 * TX offload is there if the kernel knows the UDP_SEGMENT option (reading it
 * succeeds); we never set it on the socket, because a socket-wide segment
 * size would apply to every send, and the segment size travels per message
 * instead. RX offload is there if enabling UDP_GRO succeeds, which also
 * enables it; a caller whose receive slots cannot hold a 64 KiB GRO message
 * does not ask for it.
 */
export function probeOffload(b: NativeBinding, s: SocketHandle, wantTx: boolean, wantRx: boolean): { tx: boolean; rx: boolean } {
  const tx = wantTx && supported(b.getsockopt(s, abi.SOL_UDP, abi.UDP_SEGMENT, scratch), 'getsockopt UDP_SEGMENT');
  const rx = wantRx && enableGro(b, s);
  return { tx, rx };
}

/**
 * The socket that holds UDP_GRO for the process's life (see enableGro),
 * opened with the first socket that turns GRO on; null until then, or where
 * none could be made.
 */
let groKeeper: SocketHandle | null = null;

/**
 * Turns UDP_GRO on; false where the kernel refuses. While any socket has it,
 * Linux keeps a static branch of its UDP receive path on (udp_encap_needed_key,
 * and udpv6_encap_needed_key for an IPv6 socket, which also takes the IPv4
 * one: udp_tunnel_encap_enable), and turns it off with the last such socket;
 * each switch rewrites kernel code on every CPU (a jump label update). Opened
 * and closed one at a time, sockets with GRO took 1.1 ms of CPU each here,
 * 0.27 ms without. So one socket, IPv6 where the host has it, never bound nor
 * read, holds UDP_GRO while the process lives (its descriptor closes with the
 * addon's environment), and the branch never switches back and forth.
 */
export function enableGro(b: NativeBinding, s: SocketHandle): boolean {
  if (!supported(b.setsockopt(s, abi.SOL_UDP, abi.UDP_GRO, 1), 'setsockopt UDP_GRO')) return false;
  if (groKeeper === null) {
    for (const family of [6, 4] as const) {
      const k = b.socket(family);
      if (typeof k === 'number') continue;
      if (b.setsockopt(k, abi.SOL_UDP, abi.UDP_GRO, 1) === 0) {
        groKeeper = k;
        break;
      }
      b.close(k);
    }
  }
  return true;
}

/** Enables SO_RXQ_OVFL (Linux 2.6.33) and says whether it took. */
export function enableRxqOverflowCounter(b: NativeBinding, s: SocketHandle): boolean {
  return supported(b.setsockopt(s, abi.SOL_SOCKET, abi.SO_RXQ_OVFL, 1), 'setsockopt SO_RXQ_OVFL');
}

/** Bytes per segment of the probe's GSO send: 128 of them are 2 KiB, far within any MTU and message limit. */
const PROBE_SEGMENT = 16;

/**
 * Whether the kernel takes one GSO send of `segments` segments. Its cap,
 * UDP_MAX_SEGMENTS, was 64 for years and 128 on newer kernels; past it a
 * send fails with EINVAL, and the kernel says its cap nowhere else, so the
 * question is asked with one raw sendmmsg to a socket's own address
 * (gsoSegmentLimit plans up to 128 where the kernel takes them).
 * null: no answer (no batch path, or another error).
 */
export function probeGsoSegments(segments: number): boolean | null {
  if (binding === null) return null;
  const b = binding;
  const s = b.socket(4);
  if (typeof s === 'number') return null;
  try {
    const name = new Uint8Array(abi.SOCKADDR_SLOT);
    const nameLen = encodeSockaddr(name, 0, parseAddress('127.0.0.1')!, 0);
    if (b.bind(s, name, nameLen) < 0 || b.getsockname(s, name) < 0) return null;
    const controls = new Uint8Array(CONTROL_BUFFER_SIZE);
    const controlLen = writeUdpSegment(new DataView(controls.buffer), 0, PROBE_SEGMENT);
    // One message of one iovec: buffer 0 from its start, to the address in slot 0.
    const messages = new Int32Array(abi.SEND_MSG_FIELDS);
    const iovecs = new Int32Array(abi.SEND_IOV_FIELDS);
    describeMessage(messages, 0, 0, 1, 0, nameLen, controlLen);
    describeIovec(iovecs, 0, 0, 0, segments * PROBE_SEGMENT);
    const ring = b.sendRing(1, 1, name, controls, controls.length, messages, iovecs);
    if (typeof ring === 'number') return null;
    const r = b.sendmmsg(s, ring, [new Uint8Array(segments * PROBE_SEGMENT)], 0, 1);
    b.ringRelease(ring);
    return r === 1 ? true : r === -constants.errno.EINVAL ? false : null;
  } finally {
    b.close(s);
  }
}

let segmentLimit: number | undefined;

/**
 * The most segments one GSO send may carry on this kernel, asked once per
 * process: UDP_MAX_SEGMENTS_RAISED where the kernel takes that many, else
 * UDP_MAX_SEGMENTS. Sockets plan their GSO messages up to it.
 */
export function gsoSegmentLimit(): number {
  return (segmentLimit ??= probeGsoSegments(UDP_MAX_SEGMENTS_RAISED) === true ? UDP_MAX_SEGMENTS_RAISED : UDP_MAX_SEGMENTS);
}
