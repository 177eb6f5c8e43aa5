// The socket's error queue (IP_RECVERR / IPV6_RECVERR): what the network
// said about datagrams this socket sent, an ICMP "port unreachable" or
// "packet too big" above all, which an unconnected socket never hears of
// otherwise. Read with MSG_ERRQUEUE into memory of its own, so a socket that
// only sends pays for no receive arena.
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { throwSystemError } from '../../errors';
import { RecvMeta, recvMeta } from '../../kernel/descriptors';
import type { NativeBinding, RecvRing, SocketHandle } from '../../kernel/native';
import { abi } from '../../wire/abi';
import { ErrorOrigin, readExtendedError, type ExtendedError } from '../../wire/cmsg';
import { decodeSockaddr, formatAddress, type SocketAddress } from '../../wire/sockaddr';
import type { IcmpError } from '../contract';

const { ECONNREFUSED, EMSGSIZE, ENOPROTOOPT, EPROTO } = constants.errno;

/** Errors per recvmmsg: the kernel rate-limits ICMP, so a few slots drain the queue in one call. */
const SLOTS = 8;
/** Bytes kept of each failed datagram: none are needed, but a slot cannot be empty. */
const SLOT_SIZE = 1;
/** recvmmsg calls per drain: a queue that refills faster than this is read on the next wake-up. */
const DRAIN_BUDGET = 16;

const ORIGINS: Record<number, IcmpError['origin']> = {
  [ErrorOrigin.Local]: 'local', [ErrorOrigin.Icmp]: 'icmp', [ErrorOrigin.Icmp6]: 'icmp6', [ErrorOrigin.Txtime]: 'txtime',
};

/**
 * The event an error-queue entry makes, or null for one that is no error
 * of a datagram sent (timestamping and zero-copy reports are never asked
 * for). `to`: the failed datagram's destination, where the kernel names one.
 */
export function icmpErrorOf(e: ExtendedError, to: SocketAddress | null): IcmpError | null {
  const origin = ORIGINS[e.origin];
  if (origin === undefined || e.errno === 0) return null;
  return {
    code: getSystemErrorName(-e.errno),
    errno: -e.errno,
    address: to?.address ?? '',
    port: to?.port ?? 0,
    origin,
    from: e.offender === null ? undefined : formatAddress({ ...e.offender, scopeId: 0, v4mapped: false }),
    mtu: e.errno === EMSGSIZE && e.info > 0 && origin !== 'txtime' ? e.info : undefined,
    txTime: origin === 'txtime' ? (BigInt(e.data) << 32n) | BigInt(e.info) : undefined,
  };
}

/**
 * What an errno from sendmmsg or recvmmsg may be, when it is an earlier
 * datagram's ICMP error that the kernel also hands to the next call on the
 * socket (sock_error): the kernel's icmp_err_convert and icmpv6_err_convert.
 */
export const ICMP_ERRNOS: ReadonlySet<number> = new Set([...['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EPROTO',
  'ENOPROTOOPT', 'EACCES', 'EMSGSIZE', 'EOPNOTSUPP'].map((c) => -constants.errno[c as keyof typeof constants.errno]),
  // Node's os.constants.errno names neither (they were NaN here before): the addon's, from the C headers.
  -abi.EHOSTDOWN, -abi.ENONET]);

/**
 * Of those, the ones a UDP send never fails with by itself: a send that fails
 * with one took an ICMP error's pending copy. The others are also a send's own
 * refusal (its route's ENETUNREACH, EHOSTUNREACH or EACCES; EMSGSIZE;
 * EOPNOTSUPP for a flag), and Node names no EHOSTDOWN or ENONET.
 */
export const ICMP_ONLY_ERRNOS: ReadonlySet<number> = new Set([-ECONNREFUSED, -EPROTO, -ENOPROTOOPT]);

export class ErrorQueue {
  readonly #addon: NativeBinding;
  readonly #handle: SocketHandle;
  readonly #ring: RecvRing;
  readonly #names = new Uint8Array(SLOTS * abi.SOCKADDR_SLOT);
  readonly #controls: DataView;
  readonly #controlSize: number;
  readonly #meta = new Int32Array(SLOTS * abi.RECV_META_FIELDS);

  /** `controlSize`: bytes per entry for the error and whatever else the socket asked the kernel to report. */
  constructor(b: NativeBinding, s: SocketHandle, controlSize: number) {
    this.#addon = b;
    this.#handle = s;
    this.#controlSize = controlSize;
    const controls = new Uint8Array(SLOTS * controlSize);
    this.#controls = new DataView(controls.buffer);
    const ring = b.recvRing(new Uint8Array(SLOTS * SLOT_SIZE), SLOTS, SLOT_SIZE, this.#names, controls, controlSize, this.#meta);
    if (typeof ring === 'number') throwSystemError(ring, 'recvRing');
    this.#ring = ring;
  }

  /** Takes every queued error off the queue, in order (reading them also clears the socket's pending error). */
  drain(): IcmpError[] {
    const out: IcmpError[] = [];
    for (let k = 0; k < DRAIN_BUDGET; k++) {
      const n = this.#addon.recvErrors(this.#handle, this.#ring, SLOTS);
      if (n <= 0) break;
      for (let m = 0; m < n; m++) {
        const e = this.#entry(m);
        if (e !== null) out.push(e);
      }
      if (n < SLOTS) break;
    }
    return out;
  }

  #entry(m: number): IcmpError | null {
    const start = m * this.#controlSize;
    const end = start + Math.min(recvMeta(this.#meta, m, RecvMeta.ControlLength), this.#controlSize);
    const e = readExtendedError(this.#controls, start, end);
    if (e === null) return null;
    return icmpErrorOf(e, recvMeta(this.#meta, m, RecvMeta.NameLength) > 0 ? decodeSockaddr(this.#names, m * abi.SOCKADDR_SLOT) : null);
  }

  close(): void {
    this.#addon.ringRelease(this.#ring);
  }
}
