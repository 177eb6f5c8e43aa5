// Segmentation offload on send, every decision of it: which consecutive
// datagrams of a batch travel to the kernel as one message that it cuts into
// datagrams (UDP_SEGMENT), which messages a caller built may leave whole,
// how a packed write and a forwarded read are handed over, and what a
// refused GSO send means. Plans are made over lengths alone, so they are
// tested without a socket and cost no allocation per write.
import { constants } from 'node:os';
import { UDP_MAX_SEGMENTS } from '../limits';
import { segmentCount } from './segments';

const { EIO, EINVAL, EMSGSIZE } = constants.errno;

/**
 * Some kernels mishandle a GSO message whose segments all have the same
 * length (Tailscale's "neverGSOEqualTail" knob works around it). With the
 * workaround on, such a message gets this one-byte datagram appended as a
 * shorter tail; receivers must ignore one-byte datagrams.
 */
export const SENTINEL = new Uint8Array([0]);

/**
 * With the workaround on, batches smaller than this skip GSO: the sentinel
 * costs a datagram on the wire and at the receiver, which a small batch does
 * not earn back. Eight minimal WireGuard messages (20 + 8 + 32 bytes each)
 * against one 29-byte sentinel is about 6% overhead at worst.
 */
export const SENTINEL_BATCH_THRESHOLD = 8;

export interface CoalesceOptions {
  /** The family's largest UDP payload (MAX_IPV4_PAYLOAD or MAX_IPV6_PAYLOAD). */
  maxPayload: number;
  /** Most segments per message, the kernel's (default UDP_MAX_SEGMENTS). */
  maxSegments?: number;
  neverGsoEqualTail?: boolean;
  /**
   * The message of the caller's each datagram belongs to (writeMessages):
   * datagrams of different ones, which may differ in destination and header
   * fields, never share a GSO message.
   */
  messageOf?: ArrayLike<number>;
  /**
   * Per message (message 0 without messageOf): a segment size its path refused
   * (offload/refused-segments.ts), or 0. Datagrams at least this long go singly.
   */
  refusedSegment?: ArrayLike<number>;
}

/** Where each message starts in the batch and how it is sent; reused across writes. */
export class MessagePlan {
  readonly first: Int32Array;
  readonly count: Int32Array;
  /** UDP_SEGMENT size, or 0 for a message sent as a single datagram. */
  readonly segment: Int32Array;
  /** 1 when the message ends with the SENTINEL datagram. */
  readonly sentinel: Uint8Array;
  /** Payload bytes of the message's datagrams (the sentinel not counted). */
  readonly bytes: Int32Array;
  /** Datagrams the message carries (the sentinel not counted). */
  readonly datagrams: Int32Array;
  length = 0;

  constructor(capacity: number) {
    this.first = new Int32Array(capacity);
    this.count = new Int32Array(capacity);
    this.segment = new Int32Array(capacity);
    this.sentinel = new Uint8Array(capacity);
    this.bytes = new Int32Array(capacity);
    this.datagrams = new Int32Array(capacity);
  }

  /** One message per datagram of lengths[first, first + n): the plan when GSO is off. */
  single(lengths: ArrayLike<number>, first: number, n: number): number {
    for (let m = 0; m < n; m++) {
      this.first[m] = first + m;
      this.count[m] = 1;
      this.segment[m] = 0;
      this.sentinel[m] = 0;
      this.bytes[m] = lengths[first + m];
      this.datagrams[m] = 1;
    }
    return (this.length = n);
  }

  /**
   * One message per unit of lengths[first, first + n), each a message the
   * caller built (writeMessages' segmentSize): `segments[u]` bytes per
   * datagram, one GSO message as it stands. O(1) per message, whatever it
   * carries; the caller has checked that each fits one GSO message.
   */
  whole(lengths: ArrayLike<number>, segments: ArrayLike<number>, first: number, n: number): number {
    for (let m = 0; m < n; m++) {
      const u = first + m;
      const d = segmentCount(lengths[u], segments[u]);
      this.first[m] = u;
      this.count[m] = 1;
      this.segment[m] = d > 1 ? segments[u] : 0;
      this.sentinel[m] = 0;
      this.bytes[m] = lengths[u];
      this.datagrams[m] = d;
    }
    return (this.length = n);
  }
}

/**
 * Groups datagrams `lengths[from, to)` into messages, in order. A datagram
 * joins the current message while it is no longer than the message's first
 * datagram (the segment size), the message stays within the family's payload
 * limit and UDP_MAX_SEGMENTS, and no shorter datagram has ended it yet: the
 * kernel allows one short datagram only as the last segment. Messages of one
 * datagram carry no segment size. Stops when the plan is full. Returns the
 * number of messages; they end at plan.first[n-1] + plan.count[n-1].
 */
export function coalesce(lengths: ArrayLike<number>, from: number, to: number, opts: CoalesceOptions,
  plan: MessagePlan): number {
  const never = opts.neverGsoEqualTail === true;
  const messageOf = opts.messageOf;
  // Leave room for the sentinel in both limits.
  const maxPayload = opts.maxPayload - (never ? SENTINEL.length : 0);
  const maxSegments = (opts.maxSegments ?? UDP_MAX_SEGMENTS) - (never ? 1 : 0);
  let m = -1;
  let segment = 0; // length of the message's first datagram
  let bytes = 0;
  let endedShort = false;
  let limit = Infinity; // the refused segment size of the caller's message the current GSO message is of

  for (let i = from; i < to; i++) {
    const len = lengths[i];
    if (m >= 0 &&
      // An empty datagram can neither be a segment size nor a segment: the
      // kernel would send a message that ends in it as if it were not there.
      segment > 0 && len > 0 &&
      len <= segment && segment < limit &&
      bytes + len <= maxPayload &&
      plan.count[m] < maxSegments &&
      !endedShort &&
      (messageOf === undefined || messageOf[i] === messageOf[plan.first[m]]) &&
      // A one-byte datagram could not be followed by a shorter sentinel.
      (!never || len > SENTINEL.length)) {
      plan.count[m]++;
      bytes += len;
      if (len < segment) endedShort = true;
      continue;
    }
    if (m >= 0) closeMessage(plan, m, bytes, segment, never && !endedShort);
    if (m + 1 === plan.first.length) return (plan.length = m + 1); // full: the caller sends these, then plans on
    m++;
    plan.first[m] = i;
    plan.count[m] = 1;
    segment = len;
    bytes = len;
    endedShort = false;
    if (opts.refusedSegment !== undefined) limit = opts.refusedSegment[messageOf === undefined ? 0 : messageOf[i]] || Infinity;
  }
  if (m >= 0) closeMessage(plan, m, bytes, segment, never && !endedShort);
  return (plan.length = m + 1);
}

// Completes message m of a plan. Not a closure inside coalesce: the loop's
// variables would then live in a context object instead of registers, and
// the loop runs per datagram.
function closeMessage(plan: MessagePlan, m: number, bytes: number, segment: number, sentinel: boolean): void {
  const coalesced = plan.count[m] > 1;
  plan.bytes[m] = bytes;
  plan.datagrams[m] = plan.count[m];
  plan.segment[m] = coalesced ? segment : 0;
  plan.sentinel[m] = coalesced && sentinel ? 1 : 0;
}

/**
 * How many of the whole messages (writeMessages' segmentSize, a packed
 * write's runs, a forwarded GRO read) `lengths[from, to)` cut at
 * `segments[]` can leave as they stand: with GSO on, without the sentinel
 * workaround (which needs the datagrams), each within the kernel's segment
 * and byte limits (`opts`) and below a segment size its path refused. A unit
 * of one datagram always can. What cannot is cut into datagrams
 * (segments.ts cutMessages) and planned with coalesce.
 */
export function wholeRun(lengths: ArrayLike<number>, segments: ArrayLike<number>, from: number, to: number, gso: boolean,
  opts: CoalesceOptions): number {
  if (!gso || opts.neverGsoEqualTail === true) return 0;
  const { messageOf, refusedSegment } = opts;
  const maxSegments = opts.maxSegments ?? UDP_MAX_SEGMENTS;
  let u = from;
  for (; u < to; u++) {
    const seg = segments[u];
    if (seg === 0 || lengths[u] <= seg) continue; // one datagram
    if (lengths[u] > opts.maxPayload || segmentCount(lengths[u], seg) > maxSegments) break;
    const limit = refusedSegment === undefined ? 0 : refusedSegment[messageOf === undefined ? 0 : messageOf[u]];
    if (limit > 0 && seg >= limit) break;
  }
  return u - from;
}

/**
 * The whole messages of a packed write (writePackedTo: datagram i is the
 * next `lengths[i]` bytes, back to back from offset 0): each run that one GSO
 * message can carry becomes one unit, its bytes and segment size, so the
 * engine's work is per message and nothing per datagram is kept. `plan`
 * holds a batch of messages; a longer write is planned batch by batch.
 */
export function packedRuns(lengths: ArrayLike<number>, opts: CoalesceOptions, plan: MessagePlan):
  { offsets: number[]; lengths: number[]; segments: number[] } {
  const runs = { offsets: [] as number[], lengths: [] as number[], segments: [] as number[] };
  for (let from = 0, start = 0; from < lengths.length;) {
    const units = coalesce(lengths, from, lengths.length, opts, plan);
    for (let u = 0; u < units; u++) {
      runs.offsets.push(start);
      runs.lengths.push(plan.bytes[u]);
      runs.segments.push(plan.segment[u]);
      start += plan.bytes[u];
    }
    from = plan.first[units - 1] + plan.count[units - 1];
  }
  return runs;
}

/**
 * Whether a received read of `datagrams` in `messages` is forwarded as its
 * messages, whole (forwardTo): GRO messages go on as they came, one GSO
 * message each, and the work is per message. A read of mostly single
 * datagrams (no GRO) is better planned anew, datagram by datagram, so that
 * runs of one size leave together.
 */
export function forwardsWhole(datagrams: number, messages: number): boolean {
  return datagrams >= 2 * messages;
}

// --- Whether a write uses GSO -----------------------------------------------
// The engine asks these before it plans and after the kernel refuses a GSO
// message; they hold the policy, the engine only applies it.

/** Tailscale's rule: with the sentinel workaround on, batches smaller than SENTINEL_BATCH_THRESHOLD skip GSO. */
export function gsoAllowed(datagrams: number, neverGsoEqualTail: boolean): boolean {
  return !neverGsoEqualTail || datagrams >= SENTINEL_BATCH_THRESHOLD;
}

/**
 * Plans the next messages of a write from datagram `next`: GSO messages when
 * `gso` is on, else one message per datagram, at most `batchSize` of them.
 * Datagrams before `singlesUntil` go one by one whatever `gso` says (the
 * kernel refused their GSO message, see gsoRefusal). Returns the number of
 * messages.
 */
export function planNext(lengths: ArrayLike<number>, next: number, total: number, singlesUntil: number, gso: boolean,
  opts: CoalesceOptions, batchSize: number, plan: MessagePlan): number {
  if (gso && next >= singlesUntil) return coalesce(lengths, next, total, opts, plan);
  const end = next < singlesUntil ? singlesUntil : total;
  return plan.single(lengths, next, Math.min(end - next, batchSize));
}

/** What a send that failed with `errno` means for GSO. */
export const enum GsoRefusal {
  /** Not a GSO matter: the write fails with the error. */
  None,
  /**
   * EIO on a GSO message: the route's device cannot checksum-offload
   * segmented UDP. GSO goes off for good on this socket, and the rest is
   * sent as plain datagrams (see GSODisabledError).
   */
  DisableGso,
  /**
   * EINVAL or EMSGSIZE on a GSO message: a segment larger than the path MTU
   * is refused with GSO but fine as one (IP-fragmented) datagram. The
   * message's datagrams go one by one; GSO stays on for the rest, and the
   * socket remembers the refused size for the destination (refused-segments.ts).
   */
  SendSingly,
}

/** `negErrno` from sendmmsg for a message that did (`usedGso`) or did not carry UDP_SEGMENT. */
export function gsoRefusal(negErrno: number, usedGso: boolean, txOffload: boolean): GsoRefusal {
  if (!usedGso) return GsoRefusal.None;
  if (negErrno === -EIO && txOffload) return GsoRefusal.DisableGso;
  if (negErrno === -EINVAL || negErrno === -EMSGSIZE) return GsoRefusal.SendSingly;
  return GsoRefusal.None;
}
