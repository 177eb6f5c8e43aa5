// The send side of the Linux engine: the write queue, GSO planning applied
// per write (offload/gso.ts decides, this file does), the descriptors that
// point the kernel at the caller's buffers, sendmmsg until the kernel took
// every datagram, and waiting on writability (EAGAIN) or a timer (ENOBUFS).
import { constants } from 'node:os';
import { channels, publish, type Subject } from '../../diagnostics';
import { GSODisabledError, notRunning, queueFull, systemError, throwSystemError } from '../../errors';
import { describeIovec, describeMessage } from '../../kernel/descriptors';
import type { NativeBinding, SendRing, SocketHandle } from '../../kernel/native';
import { abi } from '../../wire/abi';
import type { Capabilities } from '../../kernel/probe';
import { allocBlock, releaseBlock } from '../../kernel/pages';
import { gsoAllowed, GsoRefusal, gsoRefusal, MessagePlan, planNext, SENTINEL, unitDatagrams } from '../../offload/gso';
import { cutMessages } from '../../offload/spans';
import { GsoRefusals } from '../../offload/refusals';
import { SEND_CONTROL_SIZE, writeSourceAddress, writeTrafficClass, writeUdpSegment } from '../../wire/cmsg';
import { encodeSockaddr, formatAddress } from '../../wire/sockaddr';
import type { ParsedAddress } from '../../wire/sockaddr';
import { settleWithinBudget } from '../budget';
import { writeTooLarge, type SendHeader, type TrafficCounts, type WriteError, type WriteJob } from '../contract';

const { EAGAIN, ENOBUFS } = constants.errno;
const CONTROL_SIZE = SEND_CONTROL_SIZE;

/** ENOBUFS is not a readiness condition epoll reports; retry after this many ms. */
const NOBUFS_RETRY_MS = 1;

/** Iovecs per batch slot a send ring starts with (see #makeRing). */
const INITIAL_IOVECS_PER_SLOT = 2;

/** Datagrams of a write of whole messages (WriteJob.segments). */
function datagramsOf(lengths: ArrayLike<number>, segments: ArrayLike<number>): number {
  let n = 0;
  for (let u = 0; u < lengths.length; u++) n += unitDatagrams(lengths[u], segments[u]);
  return n;
}

/**
 * Names a destination's path for the refusal cache: its address (the path
 * MTU is the address's, whatever the port), IPv4-mapped ones as IPv4; '' is
 * the connected peer.
 */
function destinationKey(dest: ParsedAddress | null): string {
  if (dest === null) return '';
  return dest.v4mapped ? formatAddress({ family: 4, bytes: dest.bytes.subarray(12), scopeId: 0, v4mapped: false }) : formatAddress(dest);
}

interface PendingWrite {
  /** The write; replaced by its datagrams (#cut) when its whole messages (WriteJob.segments) cannot leave whole. */
  job: WriteJob;
  /** Datagrams of the write, whatever its units. */
  total: number;
  /** Datagrams before the job's unit 0: those of units before the cut. */
  base: number;
  /**
   * What the iovecs index: the job's buffers, then the sentinel, then the
   * ArrayBuffers of merged runs (rebuilt by every #describe).
   */
  sources: Array<Uint8Array | ArrayBuffer>;
  /** sources.length before merged runs are added. */
  fixedSources: number;
  /** Where each datagram starts in its source; null: the job's `start` for all. */
  offsets: ArrayLike<number> | null;
  /** The units' lengths (the job's, or a copy once a borrowed write is owned). */
  lengths: ArrayLike<number>;
  /** The units' segment sizes while they are whole messages (WriteJob.segments; copied with lengths). */
  segments: ArrayLike<number> | undefined;
  /** First unit (a datagram, or a whole message) not yet accepted by the kernel. */
  next: number;
  /** Datagrams before this index go without GSO (the kernel refused their GSO message). */
  singlesUntil: number;
  /** Per group (see CoalesceOptions.refusedSegment), looked up once the socket remembers a refusal. */
  refusedSegment: number[] | undefined;
  gsoDisabled: boolean;
  error: Error | null;
  resolve: () => void;
  reject: (err: Error) => void;
}

const enum SendResult { Done, Again, NoBufs }

export interface SenderConfig {
  batchSize: number;
  /** Most segments per GSO message (kernel/probe.ts gsoSegmentLimit). */
  maxSegments: number;
  neverGsoEqualTail: boolean;
  sendQueueLimit: number;
}

/** What the sender needs from its engine. */
export interface SenderHost {
  /** The socket's local address as text, for GSODisabledError. */
  localName(): string;
  /** The queue changed: whether writes wait for writability (see waitsForWritable) may have too. */
  queueChanged(): void;
  /** Who the diagnostics messages are about. */
  subject(): Subject;
  /** Whether a call that failed with `negErrno` and did nothing is made again (an earlier datagram's ICMP error). */
  retryAfter(negErrno: number): boolean;
  /** sendmmsg stopped short of the messages it was given: the socket's buffer filled, or an earlier datagram's error stopped it. */
  shortSend(): void;
}

export class Sender {
  readonly #addon: NativeBinding;
  readonly #handle: SocketHandle;
  /** The socket's capabilities: GSO is used while txOffload holds, and turned off here on EIO. */
  readonly #caps: Capabilities;
  readonly #counts: TrafficCounts;
  readonly #host: SenderHost;
  readonly #config: SenderConfig;
  #sendRing: SendRing;
  readonly #sendNames: Uint8Array;
  /** What each name slot holds (see #name). */
  readonly #named: Array<ParsedAddress | null>;
  readonly #namedPorts: Int32Array;
  readonly #namedLengths: Int32Array;
  readonly #sendControls: Uint8Array;
  readonly #sendControlView: DataView;
  readonly #msgDesc: Int32Array;
  #iovDesc: Int32Array;
  readonly #plan: MessagePlan;
  /** Destinations whose path refused GSO segments of some size (sent singly without asking again). */
  readonly #refusals = new GsoRefusals();
  #queue: PendingWrite[] = [];
  #queuedDatagrams = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #closed = false;
  /** The kernel refused GSO with EIO and txOffload was turned off here (stats().gsoDisabled). */
  #refusedGso = false;

  constructor(b: NativeBinding, s: SocketHandle, o: SenderConfig, caps: Capabilities, counts: TrafficCounts,
    host: SenderHost) {
    this.#addon = b;
    this.#handle = s;
    this.#caps = caps;
    this.#counts = counts;
    this.#host = host;
    this.#config = o;
    const slots = o.batchSize;
    this.#sendNames = new Uint8Array(slots * abi.SOCKADDR_SLOT);
    this.#named = new Array<ParsedAddress | null>(slots).fill(null);
    this.#namedPorts = new Int32Array(slots);
    this.#namedLengths = new Int32Array(slots);
    this.#sendControls = new Uint8Array(slots * CONTROL_SIZE);
    this.#sendControlView = new DataView(this.#sendControls.buffer);
    this.#msgDesc = new Int32Array(slots * abi.SEND_MSG_FIELDS);
    this.#iovDesc = new Int32Array(0);
    this.#sendRing = this.#makeRing(slots * INITIAL_IOVECS_PER_SLOT);
    this.#plan = new MessagePlan(slots);
  }

  // The ring's iovecs: one per datagram at worst, sentinels included. A
  // send becomes at most batchSize messages of at most maxSegments
  // datagrams, but most never need that many (a socket of single datagrams
  // needs one per message), so the ring starts small and grows with the
  // plans that need more (#reserveIovecs).
  #makeRing(iovs: number): SendRing {
    const iovDesc = new Int32Array(allocBlock(this.#addon, iovs * abi.SEND_IOV_FIELDS * Int32Array.BYTES_PER_ELEMENT));
    const ring = this.#addon.sendRing(this.#config.batchSize, iovs, this.#sendNames, this.#sendControls, CONTROL_SIZE,
      this.#msgDesc, iovDesc);
    if (typeof ring === 'number') throwSystemError(ring, 'sendRing');
    this.#iovDesc = iovDesc;
    return ring;
  }

  // Makes room for the iovecs of plan messages [0, messages) before they are described.
  #reserveIovecs(messages: number): void {
    const plan = this.#plan;
    let need = 0;
    for (let m = 0; m < messages; m++) need += plan.count[m] + plan.sentinel[m];
    const have = this.#iovDesc.length / abi.SEND_IOV_FIELDS;
    if (need <= have) return;
    const old = this.#iovDesc;
    const ring = this.#makeRing(Math.max(need, 2 * have));
    this.#addon.ringRelease(this.#sendRing);
    releaseBlock(this.#addon, old.buffer as ArrayBuffer);
    this.#sendRing = ring;
  }

  get queuedDatagrams(): number { return this.#queuedDatagrams; }

  get gsoDisabled(): boolean { return this.#refusedGso && !this.#caps.txOffload; }

  /**
   * GSO is turned on (again) with up to `maxSegments` segments per message
   * (the ring grows with the first plan that needs more iovecs).
   */
  allowGso(maxSegments: number): void {
    this.#refusedGso = false;
    this.#config.maxSegments = Math.max(this.#config.maxSegments, maxSegments);
  }

  /** Writes wait for the socket to become writable (not for the ENOBUFS timer). */
  get waitsForWritable(): boolean { return this.#queue.length > 0 && this.#retryTimer === null; }

  write(job: WriteJob): Promise<void> {
    if (this.#closed) return Promise.reject(notRunning());
    const count = job.segments === undefined ? job.lengths.length : datagramsOf(job.lengths, job.segments);
    const tooLarge = writeTooLarge(count, this.#config.sendQueueLimit);
    if (tooLarge !== null) return Promise.reject(tooLarge);
    if (this.#queuedDatagrams + count > this.#config.sendQueueLimit) {
      publish(channels.queueFull, () => ({ ...this.#host.subject(), limit: this.#config.sendQueueLimit, queued: this.#queuedDatagrams }));
      return Promise.reject(queueFull(this.#config.sendQueueLimit));
    }
    const sources: Array<Uint8Array | ArrayBuffer> = job.buffers.slice();
    if (this.#config.neverGsoEqualTail) sources.push(SENTINEL); // index `count`
    return new Promise<void>((resolve, reject) => {
      const w: PendingWrite = {
        job, total: count, base: 0, sources, fixedSources: sources.length, offsets: job.offsets, lengths: job.lengths,
        segments: job.segments, next: 0, singlesUntil: 0,
        refusedSegment: undefined, gsoDisabled: false, error: null, resolve, reject,
      };
      this.#queue.push(w);
      this.#queuedDatagrams += count;
      if (this.#queue.length === 1) this.pump();
      if (job.borrowed && this.#queue.includes(w)) this.#own(w);
    });
  }

  // Copies what is left of a borrowed write into memory of its own, so it
  // can wait for the kernel after the lender reuses its buffer.
  #own(w: PendingWrite): void {
    const lengths = (w.lengths = Array.from(w.lengths)); // the lender's arrays are reused too
    if (w.segments !== undefined) w.segments = Array.from(w.segments);
    let total = 0;
    for (let d = w.next; d < lengths.length; d++) total += lengths[d];
    const owned = Buffer.allocUnsafe(total);
    const offsets: number[] = new Array(lengths.length).fill(0);
    for (let d = w.next, at = 0; d < lengths.length; d++) {
      const src = w.sources[d] as Uint8Array;
      const from = w.offsets ? w.offsets[d] : w.job.start;
      owned.set(src.subarray(from, from + lengths[d]), at);
      w.sources[d] = owned;
      offsets[d] = at;
      at += lengths[d];
    }
    w.offsets = offsets;
    // Nothing may reach the lender's arrays from here on, not even through the job.
    w.job = { ...w.job, buffers: [], offsets, lengths, segments: w.segments };
  }

  /** Hands queued writes to the kernel until it takes no more; called again on writability. */
  pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const w = this.#queue[0];
      const r = this.#send(w);
      if (r === SendResult.NoBufs) {
        this.#retryTimer ??= setTimeout(() => {
          this.#retryTimer = null;
          this.pump();
        }, NOBUFS_RETRY_MS);
        break;
      }
      if (r === SendResult.Again) break;
      this.#queue.shift();
      this.#queuedDatagrams -= w.total - this.#datagramsBefore(w);
      const err = w.gsoDisabled ? new GSODisabledError(this.#host.localName(), w.error) : w.error;
      settleWithinBudget(err === null ? w.resolve : () => w.reject(err));
    }
    this.#host.queueChanged();
  }

  #send(w: PendingWrite): SendResult {
    const plan = this.#plan;
    // At most one retry per failure: an earlier datagram's ICMP error that failed this call instead (receiveErrors).
    let retried = false;
    while (w.next < w.lengths.length) {
      // Whole messages leave as they are while each can; from the first that
      // cannot, what is left is cut into datagrams, once.
      const whole = w.segments === undefined ? 0 : this.#wholeRun(w);
      if (w.segments !== undefined && whole === 0) this.#cut(w);
      const job = w.job;
      const segments = w.segments;
      const total = w.lengths.length;
      // One address for the whole write in slot 0; writeMessages' in each message's own slot.
      const nameLen = job.groups === undefined && job.dest ? this.#name(0, job.dest, job.port) : 0;
      if (w.refusedSegment === undefined && !this.#refusals.empty) w.refusedSegment = this.#refusedFor(job);
      const messages = segments !== undefined
        ? plan.whole(w.lengths, segments, w.next, whole)
        : planNext(w.lengths, w.next, total, w.singlesUntil,
          this.#caps.txOffload && gsoAllowed(total, this.#config.neverGsoEqualTail),
          { maxPayload: job.maxPayload, maxSegments: this.#config.maxSegments, neverGsoEqualTail: this.#config.neverGsoEqualTail,
            groups: job.groups?.of, refusedSegment: w.refusedSegment },
          this.#config.batchSize, plan);
      let sent = 0;
      while (sent < messages) {
        let r: number;
        try {
          if (sent === 0) {
            this.#reserveIovecs(messages);
            this.#describe(w, messages, nameLen);
          }
          r = this.#addon.sendmmsg(this.#handle, this.#sendRing, w.sources, sent, messages - sent);
        } catch (err) {
          // The addon refused the buffers (one was detached or shrunk since
          // the write was accepted): this write fails, the queue moves on.
          (err as WriteError).datagramsSent = this.#datagramsBefore(w);
          w.error = err as Error;
          return SendResult.Done;
        }
        this.#counts.sendCalls++;
        if (r > 0) {
          retried = false;
          this.#account(sent, sent + r);
          sent += r;
          w.next = plan.first[sent - 1] + plan.count[sent - 1];
          if (sent < messages) this.#host.shortSend();
          continue;
        }
        if (r === -EAGAIN) return SendResult.Again;
        if (r === -ENOBUFS) return SendResult.NoBufs;
        if (!retried && this.#host.retryAfter(r)) {
          retried = true;
          continue;
        }
        const refusal = gsoRefusal(r, plan.segment[sent] > 0, this.#caps.txOffload);
        if (refusal === GsoRefusal.DisableGso) {
          this.#caps.txOffload = false;
          this.#refusedGso = true;
          w.gsoDisabled = true;
          publish(channels.gsoDisabled, () => ({ ...this.#host.subject(), cause: systemError(r, 'sendmmsg') }));
          break;
        }
        if (refusal === GsoRefusal.SendSingly) {
          // Fragments are what make the datagrams go singly: with don't-fragment they fail alike, and there is nothing to learn.
          if (this.#caps.mayFragment) this.#rememberRefusal(w, plan.first[sent], plan.segment[sent]);
          // A whole message is cut first: its datagrams are then the first units.
          if (segments !== undefined) this.#cut(w);
          w.singlesUntil = segments !== undefined ? plan.datagrams[sent] : plan.first[sent] + plan.count[sent];
          break;
        }
        const to = job.groups ? job.groups.to[job.groups.of[plan.first[sent]]] : job;
        const err: WriteError = systemError(r, 'sendmmsg', to.dest ? formatAddress(to.dest) : undefined, to.dest ? to.port : undefined);
        if (job.refused !== undefined) {
          // Each datagram stands alone: a refused GSO message is tried again
          // datagram by datagram, and a refused datagram fails by itself.
          // (The drop-in's writes are of datagrams, never of whole messages.)
          if (plan.count[sent] > 1) {
            w.singlesUntil = plan.first[sent] + plan.count[sent];
            break;
          }
          job.refused[plan.first[sent]] = err;
          this.#queuedDatagrams--;
          w.next = plan.first[sent] + 1;
          sent++;
          continue;
        }
        err.datagramsSent = this.#datagramsBefore(w);
        w.error = err;
        return SendResult.Done;
      }
    }
    return SendResult.Done;
  }

  // How many of the next whole messages (at most a batch) can leave whole:
  // with TX offload, without the sentinel workaround (which needs the
  // datagrams), each within the kernel's segment and byte limits and below a
  // segment size its path refused.
  #wholeRun(w: PendingWrite): number {
    if (!this.#caps.txOffload || this.#config.neverGsoEqualTail) return 0;
    const { lengths, segments } = w;
    const { groups, maxPayload } = w.job;
    if (w.refusedSegment === undefined && !this.#refusals.empty) w.refusedSegment = this.#refusedFor(w.job);
    const refused = w.refusedSegment;
    const end = Math.min(lengths.length, w.next + this.#config.batchSize);
    let u = w.next;
    for (; u < end; u++) {
      const seg = segments![u];
      if (seg === 0 || lengths[u] <= seg) continue; // one datagram
      if (lengths[u] > maxPayload || unitDatagrams(lengths[u], seg) > this.#config.maxSegments) break;
      const limit = refused === undefined ? 0 : refused[groups === undefined ? 0 : groups.of[u]];
      if (limit > 0 && seg >= limit) break;
    }
    return u - w.next;
  }

  // Replaces what is left of a write of whole messages by its datagrams.
  #cut(w: PendingWrite): void {
    const job = w.job;
    const base = this.#datagramsBefore(w);
    const c = cutMessages(w.sources as Uint8Array[], w.offsets, job.start, w.lengths, w.segments!, job.groups?.of, w.next);
    w.job = { ...job, buffers: c.buffers, start: 0, offsets: c.offsets, lengths: c.lengths, segments: undefined,
      groups: job.groups === undefined ? undefined : { of: c.of, to: job.groups.to } };
    w.base = base;
    w.next = 0;
    w.singlesUntil = 0;
    w.refusedSegment = undefined;
    w.sources = c.buffers.slice();
    if (this.#config.neverGsoEqualTail) w.sources.push(SENTINEL);
    w.fixedSources = w.sources.length;
    w.offsets = c.offsets;
    w.lengths = c.lengths;
    w.segments = undefined;
  }

  /** Datagrams of the write before its first unsent unit: what the kernel took (or refused, for the drop-in). */
  #datagramsBefore(w: PendingWrite): number {
    const { segments } = w;
    if (segments === undefined) return w.base + w.next;
    let n = w.base;
    for (let u = 0; u < w.next; u++) n += unitDatagrams(w.lengths[u], segments[u]);
    return n;
  }

  // The refused segment size of each of the job's destinations (one without groups).
  #refusedFor(job: WriteJob): number[] {
    const now = Date.now();
    if (job.groups === undefined) return [this.#refusals.limit(destinationKey(job.dest), now)];
    return job.groups.to.map((to) => this.#refusals.limit(destinationKey(to.dest), now));
  }

  #rememberRefusal(w: PendingWrite, first: number, segment: number): void {
    const g = w.job.groups;
    const to = g === undefined ? w.job : g.to[g.of[first]];
    this.#refusals.remember(destinationKey(to.dest), segment, Date.now());
    w.refusedSegment = this.#refusedFor(w.job);
  }

  /** The connected peer changed: what its path refused says nothing about the next one. */
  peerChanged(): void {
    this.#refusals.forget('');
  }

  // Writes the descriptors of plan messages [0, messages): iovecs pointing
  // into the caller's buffers, and a UDP_SEGMENT control message for every
  // coalesced message.
  #describe(w: PendingWrite, messages: number, nameLen: number): void {
    const plan = this.#plan;
    w.sources.length = w.fixedSources;
    let iov = 0;
    for (let m = 0; m < messages; m++) {
      const first = plan.first[m];
      const g = w.job.groups;
      const to = g === undefined ? undefined : g.to[g.of[first]];
      const controlLen = this.#controls(to === undefined ? w.job.header : to.header, m * CONTROL_SIZE, plan.segment[m]);
      let end = this.#iovecs(w, first, first + plan.count[m], iov);
      // The sentinel's index in sources is the datagram count.
      if (plan.sentinel[m]) describeIovec(this.#iovDesc, end++, w.lengths.length, 0, SENTINEL.length);
      if (to === undefined) describeMessage(this.#msgDesc, m, iov, end - iov, 0, nameLen, controlLen);
      else {
        const len = to.dest ? this.#name(m, to.dest, to.port) : 0;
        describeMessage(this.#msgDesc, m, iov, end - iov, m, len, controlLen);
      }
      iov = end;
    }
  }

  // The sockaddr of dest:port in name slot `slot`, returning its length.
  // Writes mostly go where the last one went, and the socket hands over the
  // same parsed address while the address text repeats: a slot that already
  // holds it is not encoded again. Only this method writes the names.
  #name(slot: number, dest: ParsedAddress, port: number): number {
    if (this.#named[slot] !== dest || this.#namedPorts[slot] !== port) {
      this.#namedLengths[slot] = encodeSockaddr(this.#sendNames, slot * abi.SOCKADDR_SLOT, dest, port);
      this.#named[slot] = dest;
      this.#namedPorts[slot] = port;
    }
    return this.#namedLengths[slot];
  }

  // A message's control data at `at`: UDP_SEGMENT for a coalesced message,
  // and the header fields the write asked for. Returns its length.
  #controls(h: SendHeader | undefined, at: number, segment: number): number {
    const v = this.#sendControlView;
    let len = segment > 0 ? writeUdpSegment(v, at, segment) : 0;
    if (h === undefined) return len;
    if (h.trafficClass !== undefined) len += writeTrafficClass(v, at + len, h.ipv4, h.trafficClass);
    if (h.source !== undefined) len += writeSourceAddress(v, at + len, h.source.length === 4 ? 4 : 6, h.source);
    return len;
  }

  // The iovecs of datagrams [from, to) starting at iovec `iov`; returns the
  // next free iovec. One per datagram, except that datagrams lying back to
  // back share one: the kernel cuts GSO segments from the message's bytes
  // wherever its iovecs end, and fewer iovecs are less work for the addon and
  // the kernel alike. Back to back means consecutive ranges of one Uint8Array
  // (a packed write, a forwarded view), or of one ArrayBuffer seen through
  // different Uint8Arrays (slices of one slab).
  #iovecs(w: PendingWrite, from: number, to: number, iov: number): number {
    const { start } = w.job;
    const { offsets, lengths } = w;
    const buffers = w.sources as Uint8Array[]; // [0, count) are the datagrams' own Uint8Arrays
    let run = from; // first datagram of the current run
    let runStart = offsets ? offsets[from] : start; // in buffers[run]
    let runEnd = runStart + lengths[from];
    let runBuffer: ArrayBufferLike | null = null; // set once the run spans Uint8Arrays
    for (let d = from + 1; d <= to; d++) {
      if (d < to) {
        const b = buffers[d];
        const at = offsets ? offsets[d] : start;
        if (b === buffers[run] && runBuffer === null) {
          if (at === runEnd) {
            runEnd += lengths[d];
            continue;
          }
        } else if (b.byteOffset + at === buffers[run].byteOffset + runEnd) {
          // The .buffer getter is not free: asked only when offsets line up.
          // Only an ArrayBuffer can serve as an iovec source (not a SharedArrayBuffer).
          const ab: ArrayBufferLike = runBuffer ?? buffers[run].buffer;
          if (ab instanceof ArrayBuffer && b.buffer === ab) {
            runBuffer = ab;
            runEnd += lengths[d];
            continue;
          }
        }
      }
      // The run ends before d: one iovec for it. Over an ArrayBuffer, offsets
      // are relative to it, which the addon checks them against.
      if (runBuffer === null) describeIovec(this.#iovDesc, iov++, run, runStart, runEnd - runStart);
      else {
        describeIovec(this.#iovDesc, iov++, w.sources.push(runBuffer as ArrayBuffer) - 1,
          buffers[run].byteOffset + runStart, runEnd - runStart);
      }
      if (d < to) {
        run = d;
        runStart = offsets ? offsets[d] : start;
        runEnd = runStart + lengths[d];
        runBuffer = null;
      }
    }
    return iov;
  }

  #account(from: number, to: number): void {
    const plan = this.#plan;
    for (let m = from; m < to; m++) {
      this.#counts.bytesOut += plan.bytes[m];
      this.#counts.datagramsOut += plan.datagrams[m];
      this.#queuedDatagrams -= plan.datagrams[m];
    }
    this.#counts.messagesOut += to - from;
  }

  /** Gives back the ring and rejects every pending write with ERR_SOCKET_DGRAM_NOT_RUNNING. */
  close(): void {
    this.#closed = true;
    this.#addon.ringRelease(this.#sendRing);
    releaseBlock(this.#addon, this.#iovDesc.buffer as ArrayBuffer);
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    const pending = this.#queue;
    this.#queue = [];
    this.#queuedDatagrams = 0;
    for (const w of pending) {
      const err: WriteError = notRunning();
      err.datagramsSent = this.#datagramsBefore(w);
      // Behind any result of an earlier write still waiting for its turn.
      settleWithinBudget(() => w.reject(err));
    }
  }
}
