// The options an engine opens with, resolved in one place: whichever socket
// asks (BatchSocket after checking its arguments, the dgram drop-in from
// dgram's), the defaults below fill what it leaves out.
import { idealBatchSize } from '../kernel/support';
import { GRO_SLOT_SIZE, INT32_MAX, resolveBatchSize } from '../limits';
import type { BindOptions } from './contract';

/** Default sendQueueLimit in batches: this many full batches may wait for the kernel. */
const SEND_QUEUE_BATCHES = 64;
/** ...and never fewer datagrams than this. */
const MIN_SEND_QUEUE = 1024;
/** A send queue without limit (node:dgram's): the largest sendQueueLimit, as the option is an int. */
export const UNLIMITED_SEND_QUEUE = INT32_MAX;

/** What a socket must say; the rest has defaults. `offload` is the default of both `gso` and `gro`. */
export type EngineRequest = Pick<BindOptions, 'type' | 'address' | 'port'> & Partial<BindOptions> & { offload?: boolean };

/**
 * Operators' kill switches, for a kernel or driver that mishandles one
 * direction of UDP offload (as quic-go's QUIC_GO_DISABLE_GSO): `1` turns it
 * off for every socket the process opens, whatever the code asks.
 */
export const GSO_DISABLE_ENV = 'BATCHGRAM_DISABLE_GSO';
export const GRO_DISABLE_ENV = 'BATCHGRAM_DISABLE_GRO';

/**
 * The operator's switch for the equal-tail workaround (Tailscale's
 * NeverGSOEqualTail knob): `1` turns it on for every socket the
 * process opens, for a kernel or driver known to mishandle such messages.
 */
export const NEVER_GSO_EQUAL_TAIL_ENV = 'BATCHGRAM_NEVER_GSO_EQUAL_TAIL';

/** The equal-tail workaround as asked (`asked`), unless the operator's environment forces it on. */
export function equalTailWorkaround(asked: boolean): boolean {
  return asked || process.env[NEVER_GSO_EQUAL_TAIL_ENV] === '1';
}

/** The operator has not turned this offload off (`name`: GSO_DISABLE_ENV or GRO_DISABLE_ENV). */
export function offloadAllowed(name: string): boolean {
  return process.env[name] !== '1';
}

/**
 * The engine's options for a socket on the batch path (`batching`) or the
 * portable one: the batch size from the request, the environment or the
 * path's ideal; offload on the batch path only, each direction as asked and as the environment allows; the drop counter only where
 * the kernel can count; receive slots of GRO_SLOT_SIZE; a send queue of
 * SEND_QUEUE_BATCHES batches.
 */
export function engineOptions(r: EngineRequest, batching: boolean): BindOptions {
  const batchSize = resolveBatchSize(idealBatchSize(batching), r.batchSize);
  return {
    type: r.type, address: r.address, port: r.port, batchSize,
    gso: batching && (r.gso ?? r.offload ?? true) && offloadAllowed(GSO_DISABLE_ENV),
    gro: batching && (r.gro ?? r.offload ?? true) && offloadAllowed(GRO_DISABLE_ENV),
    neverGsoEqualTail: equalTailWorkaround(r.neverGsoEqualTail ?? false),
    gsoSentinel: r.gsoSentinel ?? 0,
    rxqOverflowMetric: batching ? r.rxqOverflowMetric ?? '' : '',
    recvBufferSize: r.recvBufferSize,
    sendBufferSize: r.sendBufferSize,
    reuseAddr: r.reuseAddr ?? false,
    reusePort: r.reusePort ?? false,
    ipv6Only: r.ipv6Only ?? false,
    recvSlotSize: r.recvSlotSize ?? GRO_SLOT_SIZE,
    sendQueueLimit: r.sendQueueLimit ?? Math.max(SEND_QUEUE_BATCHES * batchSize, MIN_SEND_QUEUE),
    receiveEcn: r.receiveEcn ?? false,
    receiveLocalAddress: r.receiveLocalAddress ?? false,
    receiveTimestamps: r.receiveTimestamps ?? false,
    receiveErrors: r.receiveErrors ?? false,
    mark: r.mark, bindToDevice: r.bindToDevice, ttl: r.ttl, tos: r.tos,
    dontFragment: r.dontFragment ?? false,
    pacing: r.pacing ?? false,
    freebind: r.freebind ?? false,
    transparent: r.transparent ?? false,
    receiveOriginalDestination: r.receiveOriginalDestination ?? false,
  };
}
