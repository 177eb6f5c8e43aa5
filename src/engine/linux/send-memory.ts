// The memory a socket's sendmmsg reads, registered once with the addon: the
// ring's message and iovec descriptors, an address slot and a control buffer
// per message. Only this file writes them (through kernel/descriptors.ts's
// field names); the sender (send.ts) plans the messages and hands them here.
import { describeIovec, describeMessage } from '../../kernel/descriptors';
import type { NativeBinding, SendRing } from '../../kernel/native';
import { abi } from '../../wire/abi';
import { allocBlock, releaseBlock } from '../../kernel/pages';
import { throwSystemError } from '../../errors';
import { SENTINEL, type MessagePlan } from '../../offload/gso';
import { sendControlSize, writePacketInfo, writeTrafficClass, writeTxTime, writeUdpSegment } from '../../wire/cmsg';
import { encodeSockaddr, type ParsedAddress } from '../../wire/sockaddr';
import type { SendHeader, WriteJob } from '../contract';

/** Iovecs per batch slot a send ring starts with (see #makeRing). */
const INITIAL_IOVECS_PER_SLOT = 2;

/** What a write's descriptors are made from. */
export interface DescribedWrite {
  job: WriteJob;
  /**
   * What the iovecs index: the job's buffers, then the sentinel (at the
   * datagram count), then the ArrayBuffers of merged runs (rebuilt by every describe).
   */
  sources: Array<Uint8Array | ArrayBuffer>;
  /** sources.length before merged runs are added. */
  fixedSources: number;
  /** Where each datagram starts in its source; null: the job's `start` for all. */
  offsets: ArrayLike<number> | null;
  lengths: ArrayLike<number>;
}

export class SendMemory {
  readonly #addon: NativeBinding;
  readonly #batchSize: number;
  /** The ring the addon's sendmmsg takes; replaced when its iovecs grow. */
  ring: SendRing;
  readonly #names: Uint8Array;
  /** What each name slot holds (see name). */
  readonly #named: Array<ParsedAddress | null>;
  readonly #namedPorts: Int32Array;
  readonly #namedLengths: Int32Array;
  readonly #controls: Uint8Array;
  readonly #controlView: DataView;
  /** Control bytes per message (sendControlSize). */
  readonly #controlSize: number;
  readonly #msgDesc: Int32Array;
  #iovDesc: Int32Array;
  /**
   * The socket's own TOS byte (IP_TOS) and traffic class (IPV6_TCLASS),
   * kept current by the engine: a write's ECN replaces only their low two
   * bits, so the DSCP the socket was given (`tos`) still marks every datagram.
   */
  socketTos = 0;
  socketTrafficClass = 0;
  /** A write's ECN is written; false once the kernel refused it (the sender's #failed). */
  writesEcn = true;

  /** `pacing`: the socket's messages may carry a send time, which needs control room of its own. */
  constructor(b: NativeBinding, batchSize: number, pacing: boolean) {
    this.#addon = b;
    this.#batchSize = batchSize;
    this.#controlSize = sendControlSize(pacing);
    const slots = batchSize;
    this.#names = new Uint8Array(slots * abi.SOCKADDR_SLOT);
    this.#named = new Array<ParsedAddress | null>(slots).fill(null);
    this.#namedPorts = new Int32Array(slots);
    this.#namedLengths = new Int32Array(slots);
    this.#controls = new Uint8Array(slots * this.#controlSize);
    this.#controlView = new DataView(this.#controls.buffer);
    this.#msgDesc = new Int32Array(slots * abi.SEND_MSG_FIELDS);
    this.#iovDesc = new Int32Array(0);
    this.ring = this.#makeRing(slots * INITIAL_IOVECS_PER_SLOT);
  }

  // The ring's iovecs: one per datagram at worst, sentinels included. A
  // send becomes at most batchSize messages of at most maxSegments
  // datagrams, but most never need that many (a socket of single datagrams
  // needs one per message), so the ring starts small and grows with the
  // plans that need more (reserveIovecs).
  #makeRing(iovs: number): SendRing {
    const iovDesc = new Int32Array(allocBlock(this.#addon, iovs * abi.SEND_IOV_FIELDS * Int32Array.BYTES_PER_ELEMENT));
    const ring = this.#addon.sendRing(this.#batchSize, iovs, this.#names, this.#controls, this.#controlSize,
      this.#msgDesc, iovDesc);
    if (typeof ring === 'number') throwSystemError(ring, 'sendRing');
    this.#iovDesc = iovDesc;
    return ring;
  }

  /** Makes room for the iovecs of plan messages [0, messages) before they are described. */
  reserveIovecs(plan: MessagePlan, messages: number): void {
    let need = 0;
    for (let m = 0; m < messages; m++) need += plan.count[m] + plan.sentinel[m];
    const have = this.#iovDesc.length / abi.SEND_IOV_FIELDS;
    if (need <= have) return;
    const old = this.#iovDesc;
    const ring = this.#makeRing(Math.max(need, 2 * have));
    this.#addon.ringRelease(this.ring);
    releaseBlock(this.#addon, old.buffer as ArrayBuffer);
    this.ring = ring;
  }

  /**
   * Writes the descriptors of plan messages [0, messages): iovecs pointing
   * into the caller's buffers, and a UDP_SEGMENT control message for every
   * coalesced message. `nameLen`: the write's one address, in slot 0
   * (name), for a write without messages of its own recipients.
   */
  describe(w: DescribedWrite, plan: MessagePlan, messages: number, nameLen: number): void {
    w.sources.length = w.fixedSources;
    let iov = 0;
    for (let m = 0; m < messages; m++) {
      const first = plan.first[m];
      const g = w.job.messages;
      const to = g === undefined ? undefined : g.to[g.of[first]];
      const controlLen = this.#control(to === undefined ? w.job.header : to.header, m * this.#controlSize, plan.segment[m]);
      let end = this.#iovecs(w, first, first + plan.count[m], iov);
      // The sentinel's index in sources is the datagram count.
      if (plan.sentinel[m]) describeIovec(this.#iovDesc, end++, w.lengths.length, 0, SENTINEL.length);
      if (to === undefined) describeMessage(this.#msgDesc, m, iov, end - iov, 0, nameLen, controlLen);
      else {
        const len = to.dest ? this.name(m, to.dest, to.port) : 0;
        describeMessage(this.#msgDesc, m, iov, end - iov, m, len, controlLen);
      }
      iov = end;
    }
  }

  // The sockaddr of dest:port in name slot `slot`, returning its length.
  // Writes mostly go where the last one went, and the socket hands over the
  // same parsed address while the address text repeats: a slot that already
  // holds it is not encoded again. Only this method writes the names.
  name(slot: number, dest: ParsedAddress, port: number): number {
    if (this.#named[slot] !== dest || this.#namedPorts[slot] !== port) {
      this.#namedLengths[slot] = encodeSockaddr(this.#names, slot * abi.SOCKADDR_SLOT, dest, port);
      this.#named[slot] = dest;
      this.#namedPorts[slot] = port;
    }
    return this.#namedLengths[slot];
  }

  // A message's control data at `at`: UDP_SEGMENT for a coalesced message,
  // and the header fields the write asked for. Returns its length.
  #control(h: SendHeader | undefined, at: number, segment: number): number {
    const v = this.#controlView;
    let len = segment > 0 ? writeUdpSegment(v, at, segment) : 0;
    if (h === undefined) return len;
    if (h.ecn !== undefined && this.writesEcn) {
      const own = h.ipv4 ? this.socketTos : this.socketTrafficClass;
      len += writeTrafficClass(v, at + len, h.ipv4, (own & ~3) | h.ecn);
    }
    if (h.source !== undefined) len += writePacketInfo(v, at + len, h.source.length === 4 ? 4 : 6, h.source, h.interfaceIndex);
    if (h.txTime !== undefined) len += writeTxTime(v, at + len, h.txTime);
    return len;
  }

  // The iovecs of datagrams [from, to) starting at iovec `iov`; returns the
  // next free iovec. One per datagram, except that datagrams lying back to
  // back share one: the kernel cuts GSO segments from the message's bytes
  // wherever its iovecs end, and fewer iovecs are less work for the addon and
  // the kernel alike. Back to back means consecutive ranges of one Uint8Array
  // (a packed write, a forwarded view), or of one ArrayBuffer seen through
  // different Uint8Arrays (slices of one slab).
  #iovecs(w: DescribedWrite, from: number, to: number, iov: number): number {
    const { start } = w.job;
    const { offsets, lengths } = w;
    const buffers = w.sources as Uint8Array[]; // [0, count) are the datagrams' own Uint8Arrays
    let run = from; // first datagram of the current run
    let runStart = offsets ? offsets[from] : start; // in buffers[run]
    let runEnd = runStart + lengths[from];
    // Once the run spans Uint8Arrays: their ArrayBuffer, and where buffers[run] starts in it.
    let runBuffer: ArrayBuffer | null = null;
    let runBase = 0;
    for (let d = from + 1; d <= to; d++) {
      if (d < to) {
        const b = buffers[d];
        const at = offsets ? offsets[d] : start;
        if (runBuffer === null && b === buffers[run]) {
          if (at === runEnd) {
            runEnd += lengths[d];
            continue;
          }
        } else if (runBuffer !== null) {
          // Slices of one slab: each datagram's Uint8Array is asked once for
          // where it starts, and (the getter is not free) for its buffer only
          // when that lines up.
          if (b.byteOffset + at === runBase + runEnd && b.buffer === runBuffer) {
            runEnd += lengths[d];
            continue;
          }
        } else {
          const first = buffers[run];
          const base = first.byteOffset;
          if (b.byteOffset + at === base + runEnd) {
            // Only an ArrayBuffer can serve as an iovec source (not a SharedArrayBuffer).
            const ab = first.buffer;
            if (ab instanceof ArrayBuffer && b.buffer === ab) {
              runBuffer = ab;
              runBase = base;
              runEnd += lengths[d];
              continue;
            }
          }
        }
      }
      // The run ends before d: one iovec for it. Over an ArrayBuffer, offsets
      // are relative to it, which the addon checks them against.
      if (runBuffer === null) describeIovec(this.#iovDesc, iov++, run, runStart, runEnd - runStart);
      else describeIovec(this.#iovDesc, iov++, w.sources.push(runBuffer) - 1, runBase + runStart, runEnd - runStart);
      if (d < to) {
        run = d;
        runStart = offsets ? offsets[d] : start;
        runEnd = runStart + lengths[d];
        runBuffer = null;
      }
    }
    return iov;
  }

  /** Gives the ring and its iovec memory back (a closing socket's). */
  release(): void {
    this.#addon.ringRelease(this.ring);
    releaseBlock(this.#addon, this.#iovDesc.buffer as ArrayBuffer);
  }
}
