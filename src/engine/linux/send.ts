// The send side of the Linux engine: the write queue, GSO planning applied
// per write (offload/gso.ts decides, this file does), sendmmsg until the
// kernel took every datagram (send-memory.ts writes the descriptors that
// point it at the caller's buffers), what a refused send means, and waiting
// on writability (EAGAIN) or a timer (ENOBUFS).
import { constants } from 'node:os';
import { channels, publish, type Subject } from '../../diagnostics';
import { GSODisabledError, notRunning, queueFull, systemError } from '../../errors';
import type { NativeBinding, SocketHandle } from '../../kernel/native';
import { gsoAllowed, GsoRefusal, gsoRefusal, MessagePlan, planNext, wholeRun, type CoalesceOptions } from '../../offload/gso';
import { cutMessages, segmentCount } from '../../offload/segments';
import { pathKey, RefusedSegments } from '../../offload/refused-segments';
import { formatAddress } from '../../wire/sockaddr';
import { settleWithinBudget } from '../budget';
import type { CapabilityState } from '../capabilities';
import { writeTooLarge, type EqualTail, type TrafficCounts, type WriteError, type WriteJob } from '../contract';
import { SendMemory, type DescribedWrite } from './send-memory';

const { EAGAIN, EINVAL, EIO, ENOBUFS, EPERM } = constants.errno;

/** ENOBUFS is not a readiness condition epoll reports; retry after this many ms. */
const NOBUFS_RETRY_MS = 1;

/** Datagrams of a write of whole messages (WriteJob.segments). */
function datagramsOf(lengths: ArrayLike<number>, segments: ArrayLike<number>): number {
  let n = 0;
  for (let u = 0; u < lengths.length; u++) n += segmentCount(lengths[u], segments[u]);
  return n;
}

interface PendingWrite extends DescribedWrite {
  /** The write; replaced by its datagrams (#cut) when its whole messages (WriteJob.segments) cannot leave whole. */
  job: WriteJob;
  /** Datagrams of the write, whatever its units. */
  total: number;
  /** Datagrams before the job's unit 0: those of units before the cut. */
  base: number;
  /** The units' lengths (the job's, or a copy once a borrowed write is owned). */
  lengths: ArrayLike<number>;
  /** The units' segment sizes while they are whole messages (WriteJob.segments; copied with lengths). */
  segments: ArrayLike<number> | undefined;
  /** First unit (a datagram, or a whole message) not yet accepted by the kernel. */
  next: number;
  /** Datagrams before this index go without GSO (the kernel refused their GSO message). */
  singlesUntil: number;
  /** Per caller's message (see CoalesceOptions.refusedSegment), looked up once the socket remembers a refusal. */
  refusedSegment: number[] | undefined;
  gsoDisabled: boolean;
  error: Error | null;
  resolve: () => void;
  reject: (err: Error) => void;
}

const enum SendResult { Done, Again, NoBufs }

/**
 * After a failed call: plan anew (GSO went off, or datagrams go singly);
 * skip the message, lost (EPERM) or failed alone (the drop-in's datagrams); or fail the write.
 */
const enum Failure { Replan, Skip, Fail }

export interface SenderConfig extends EqualTail {
  batchSize: number;
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
  /** The socket's capabilities: GSO is used while txOffload holds, and refused here on EIO. */
  readonly #caps: CapabilityState;
  readonly #counts: TrafficCounts;
  readonly #host: SenderHost;
  readonly #config: SenderConfig;
  readonly #memory: SendMemory;
  readonly #plan: MessagePlan;
  /** Destinations whose path refused GSO segments of some size (sent singly without asking again). */
  readonly #refusedSegments = new RefusedSegments();
  /** The equal-tail workaround as it stands (setEqualTail), read by every plan; its sentinel datagram. */
  #neverGsoEqualTail: boolean;
  #sentinel: Uint8Array;
  /** The errno of a send refused with ECN, while the same message is tried without it; 0 otherwise. */
  #ecnTrial = 0;
  #queue: PendingWrite[] = [];
  #queuedDatagrams = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(b: NativeBinding, s: SocketHandle, o: SenderConfig, caps: CapabilityState, counts: TrafficCounts,
    host: SenderHost) {
    this.#addon = b;
    this.#handle = s;
    this.#caps = caps;
    this.#counts = counts;
    this.#host = host;
    this.#config = o;
    this.#memory = new SendMemory(b, o.batchSize, caps.pacing);
    this.#plan = new MessagePlan(o.batchSize);
    this.#neverGsoEqualTail = o.neverGsoEqualTail;
    this.#sentinel = new Uint8Array([o.gsoSentinel]);
  }

  /**
   * Turns the equal-tail workaround on or off for the messages planned from
   * now on (Tailscale reads its knob on every write): a kernel or driver
   * found to mishandle them is worked around without reopening the socket.
   */
  setEqualTail(o: Partial<EqualTail>): void {
    if (o.neverGsoEqualTail !== undefined) this.#neverGsoEqualTail = o.neverGsoEqualTail;
    if (o.gsoSentinel !== undefined) this.#sentinel = new Uint8Array([o.gsoSentinel]);
  }

  get queuedDatagrams(): number { return this.#queuedDatagrams; }

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
    // At index `count`, whether or not the workaround is on: it may turn on while the write waits.
    sources.push(this.#sentinel);
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
      const { messages, nameLen } = this.#planNext(w);
      let sent = 0;
      while (sent < messages) {
        let r: number;
        try {
          if (sent === 0) {
            this.#memory.reserveIovecs(plan, messages);
            this.#memory.describe(w, plan, messages, nameLen);
          }
          r = this.#addon.sendmmsg(this.#handle, this.#memory.ring, w.sources, sent, messages - sent);
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
          if (this.#ecnTrial !== 0) this.#ecnRefused();
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
        const next = this.#failed(w, r, sent);
        if (next === Failure.Replan) break;
        if (next === Failure.Fail) return SendResult.Done;
        sent++; // Failure.Skip
      }
    }
    return SendResult.Done;
  }

  // Plans the write's next messages into #plan: whole messages leave as they
  // are while each can (at most a batch of them); from the first that cannot,
  // what is left is cut into datagrams, once. Returns how many messages, and
  // the length of the write's one address (slot 0), if it has one.
  #planNext(w: PendingWrite): { messages: number; nameLen: number } {
    const whole = w.segments === undefined ? 0 : wholeRun(w.lengths, w.segments, w.next,
      Math.min(w.lengths.length, w.next + this.#config.batchSize), this.#caps.txOffload, this.#coalesceOptions(w));
    if (w.segments !== undefined && whole === 0) this.#cut(w);
    const { job, segments } = w;
    const total = w.lengths.length;
    // One address for the whole write in slot 0; writeMessages' in each message's own slot.
    const nameLen = job.messages === undefined && job.dest ? this.#memory.name(0, job.dest, job.port) : 0;
    const messages = segments !== undefined
      ? this.#plan.whole(w.lengths, segments, w.next, whole)
      : planNext(w.lengths, w.next, total, w.singlesUntil,
        this.#caps.txOffload && gsoAllowed(total, this.#neverGsoEqualTail), this.#coalesceOptions(w),
        this.#config.batchSize, this.#plan);
    return { messages, nameLen };
  }

  // What a call that failed with `r` at plan message `sent` means for the
  // write, once it is neither EAGAIN, ENOBUFS nor an earlier datagram's error.
  #failed(w: PendingWrite, r: number, sent: number): Failure {
    const plan = this.#plan;
    const { job, segments } = w;
    // The message's recipient: its own (writeMessages) or the write's, with its destination and header fields.
    const to = job.messages ? job.messages.to[job.messages.of[plan.first[sent]]] : job;
    if (this.#ecnTrial !== 0) {
      // Refused without ECN too: ECN was not the cause, and stays on.
      this.#ecnTrial = 0;
      this.#memory.writesEcn = true;
    } else if ((r === -EINVAL || r === -EIO) && plan.segment[sent] === 0 && this.#memory.writesEcn &&
      to.header?.ecn !== undefined) {
      // Some kernels and sandboxes refuse the IP_TOS / IPV6_TCLASS control
      // message; quinn-udp sends without it from then on, and so do we once
      // the same message leaves without it (#ecnTrial). A GSO message's
      // EINVAL or EIO is taken for GSO's first (below): its datagrams then go
      // singly, and come back here if ECN was the cause.
      this.#memory.writesEcn = false;
      this.#ecnTrial = r;
      return Failure.Replan;
    }
    const refusal = gsoRefusal(r, plan.segment[sent] > 0, this.#caps.txOffload);
    if (refusal === GsoRefusal.DisableGso) {
      this.#caps.refuseGso();
      w.gsoDisabled = true;
      publish(channels.gsoDisabled, () => ({ ...this.#host.subject(), cause: systemError(r, 'sendmmsg') }));
      return Failure.Replan;
    }
    if (refusal === GsoRefusal.SendSingly) {
      // Fragments are what make the datagrams go singly: with don't-fragment they fail alike, and there is nothing to learn.
      if (this.#caps.mayFragment) this.#rememberRefusal(w, plan.first[sent], plan.segment[sent]);
      // A whole message is cut first: its datagrams are then the first units.
      if (segments !== undefined) this.#cut(w);
      w.singlesUntil = segments !== undefined ? plan.datagrams[sent] : plan.first[sent] + plan.count[sent];
      return Failure.Replan;
    }
    const err: WriteError = systemError(r, 'sendmmsg', to.dest ? formatAddress(to.dest) : undefined, to.dest ? to.port : undefined);
    if (r === -EPERM && job.datagramErrors === undefined) {
      // A local rule dropped the message (a netfilter DROP or REJECT in
      // OUTPUT, a cgroup BPF program): its datagrams are lost, as a network
      // would lose them, and the rest of the write goes on. Tailscale and
      // quinn-udp treat it so; failing the write would stop every later
      // destination for one refused peer. (The drop-in reports it per
      // datagram below, as node:dgram does.)
      const lost = plan.datagrams[sent];
      this.#counts.sendRefused += lost;
      this.#queuedDatagrams -= lost;
      w.next = plan.first[sent] + plan.count[sent];
      publish(channels.sendRefused, () => ({ ...this.#host.subject(), to: to.dest ? formatAddress(to.dest) : undefined,
        port: to.dest ? to.port : undefined, datagrams: lost, cause: err }));
      return Failure.Skip;
    }
    if (job.datagramErrors !== undefined) {
      // Each datagram stands alone: a refused GSO message is tried again
      // datagram by datagram, and a refused datagram fails by itself.
      // (The drop-in's writes are of datagrams, never of whole messages.)
      if (plan.count[sent] > 1) {
        w.singlesUntil = plan.first[sent] + plan.count[sent];
        return Failure.Replan;
      }
      job.datagramErrors[plan.first[sent]] = err;
      this.#queuedDatagrams--;
      w.next = plan.first[sent] + 1;
      return Failure.Skip;
    }
    err.datagramsSent = this.#datagramsBefore(w);
    w.error = err;
    return Failure.Fail;
  }

  // The message that failed with ECN left without it: the kernel refused ECN, for good.
  #ecnRefused(): void {
    const r = this.#ecnTrial;
    this.#ecnTrial = 0;
    this.#caps.refuseEcn();
    publish(channels.ecnDisabled, () => ({ ...this.#host.subject(), cause: systemError(r, 'sendmmsg') }));
  }

  // The plan's limits for the write's datagrams: the destination's payload
  // limit, the kernel's segment limit, the workaround, the refused sizes.
  #coalesceOptions(w: PendingWrite): CoalesceOptions {
    if (w.refusedSegment === undefined && !this.#refusedSegments.empty) w.refusedSegment = this.#refusedFor(w.job);
    return { maxPayload: w.job.maxPayload, maxSegments: this.#caps.maxGsoSegments, neverGsoEqualTail: this.#neverGsoEqualTail,
      messageOf: w.job.messages?.of, refusedSegment: w.refusedSegment };
  }

  // Replaces what is left of a write of whole messages by its datagrams.
  #cut(w: PendingWrite): void {
    const job = w.job;
    const base = this.#datagramsBefore(w);
    const c = cutMessages(w.sources as Uint8Array[], w.offsets, job.start, w.lengths, w.segments!, job.messages?.of, w.next);
    w.job = { ...job, buffers: c.buffers, start: 0, offsets: c.offsets, lengths: c.lengths, segments: undefined,
      messages: job.messages === undefined ? undefined : { of: c.of, to: job.messages.to } };
    w.base = base;
    w.next = 0;
    w.singlesUntil = 0;
    w.refusedSegment = undefined;
    w.sources = c.buffers.slice();
    w.sources.push(this.#sentinel);
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
    for (let u = 0; u < w.next; u++) n += segmentCount(w.lengths[u], segments[u]);
    return n;
  }

  // The refused segment size of each of the job's destinations (one without messageOf).
  #refusedFor(job: WriteJob): number[] {
    const now = Date.now();
    if (job.messages === undefined) return [this.#refusedSegments.limit(pathKey(job.dest), now)];
    return job.messages.to.map((to) => this.#refusedSegments.limit(pathKey(to.dest), now));
  }

  #rememberRefusal(w: PendingWrite, first: number, segment: number): void {
    const g = w.job.messages;
    const to = g === undefined ? w.job : g.to[g.of[first]];
    this.#refusedSegments.remember(pathKey(to.dest), segment, Date.now());
    w.refusedSegment = this.#refusedFor(w.job);
  }

  /** The socket's TOS byte and traffic class now, whose DSCP bits a write's ECN keeps. */
  setSocketTrafficClass(tos: number, trafficClass: number): void {
    this.#memory.socketTos = tos;
    this.#memory.socketTrafficClass = trafficClass;
  }

  /** The connected peer changed: what its path refused says nothing about the next one. */
  peerChanged(): void {
    this.#refusedSegments.forget('');
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
    this.#memory.release();
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
