// The batch path on Linux: one recvmmsg or sendmmsg per call over memory
// registered once with the addon, GSO planning on send, GRO splitting and the
// drop counter on receive, and write queueing on readiness.
import { constants } from 'node:os';
import { BatchView } from './batch';
import { MIN_CONTROL_MESSAGE_SIZE, readGroSegmentSize, readRxqOverflows, writeUdpSegment } from './cmsg';
import { counterDelta, counterFor, type Counter } from './counters';
import type { BindOptions, Engine, EngineHost, SocketStats, WriteError, WriteJob } from './engine';
import { emptyStats } from './engine';
import { GSODisabledError, notRunning, queueFull, receiveMemoryError, systemError } from './errors';
import { segmentCount, splitCoalesced } from './gro';
import { coalesce, MessagePlan, SENTINEL, SENTINEL_BATCH_THRESHOLD } from './gso';
import { UDP_MAX_SEGMENTS } from './limits';
import { abi, type NativeBinding, type RecvRing, type SendRing, type SocketHandle } from './native';
import { enableRxqOverflowCounter, probeOffload, type Capabilities } from './probe';
import { decodeSockaddr, encodeSockaddr, formatAddress, type ParsedAddress, type SocketAddress } from './sockaddr';

const { EAGAIN, ENOBUFS, EIO, EINVAL, EMSGSIZE, ENOTCONN } = constants.errno;

/**
 * recvmmsg calls per readiness wake-up. Draining more per wake-up saves
 * epoll round trips; the budget keeps one busy socket from starving timers
 * and other sockets on the same event loop.
 */
const READ_BUDGET = 16;

/** A GRO message can be up to 64 KiB; smaller receive slots would cut it. */
export const GRO_SLOT_SIZE = 65536;

/** Control bytes per message: room for UDP_GRO and SO_RXQ_OVFL, 8-byte aligned with spare. */
const CONTROL_SIZE = Math.max(64, MIN_CONTROL_MESSAGE_SIZE);

const POLL_READABLE = 1;
const POLL_WRITABLE = 2;

/** ENOBUFS is not a readiness condition epoll reports; retry after this many ms. */
const NOBUFS_RETRY_MS = 1;

interface PendingWrite {
  job: WriteJob;
  /**
   * What the iovecs index: the job's buffers, then the sentinel, then the
   * ArrayBuffers of merged runs (rebuilt by every #describe).
   */
  sources: Array<Uint8Array | ArrayBuffer>;
  /** sources.length before merged runs are added. */
  fixedSources: number;
  /** Where each datagram starts in its source; null: the job's `start` for all. */
  offsets: ArrayLike<number> | null;
  /** The datagrams' lengths (the job's, or a copy once a borrowed write is owned). */
  lengths: ArrayLike<number>;
  /** First datagram not yet accepted by the kernel. */
  next: number;
  /** Datagrams before this index go without GSO (the kernel refused their GSO message). */
  singlesUntil: number;
  gsoDisabled: boolean;
  error: Error | null;
  resolve: () => void;
  reject: (err: Error) => void;
}

const enum SendResult { Done, Again, NoBufs }

/** The memory registered for recvmmsg, and the view over it. */
interface RecvMemory {
  ring: RecvRing;
  names: Uint8Array;
  controlView: DataView;
  meta: Int32Array;
  view: BatchView;
}

function fail(r: unknown, syscall: string, address?: string, port?: number): never {
  throw systemError(r as number, syscall, address, port);
}

/** Sets a buffer size, beyond net.core.*mem_max where the process may (CAP_NET_ADMIN). */
function setBufferSize(b: NativeBinding, s: SocketHandle, force: number, plain: number, size: number, name: string): void {
  if (b.setsockopt(s, abi.SOL_SOCKET, force, size) === 0) return;
  const r = b.setsockopt(s, abi.SOL_SOCKET, plain, size);
  if (r < 0) fail(r, `setsockopt ${name}`);
}

export class MmsgEngine implements Engine {
  readonly capabilities: Capabilities;
  readonly stats: SocketStats = emptyStats();
  readonly #b: NativeBinding;
  readonly #s: SocketHandle;
  readonly #host: EngineHost;
  readonly #batchSize: number;
  readonly #neverGsoEqualTail: boolean;
  readonly #sendQueueLimit: number;
  readonly #scratch = new Int32Array(1);
  readonly #addrScratch: Uint8Array;

  // Receive side, made on the first read: a socket that only sends never
  // pays for a receive arena.
  #recv: RecvMemory | null = null;
  readonly #slotSize: number;
  readonly #peerKey: Uint8Array; // the last sender's sockaddr bytes
  #peerKeyLen = 0;
  #peer: SocketAddress | null = null;
  readonly #counter: Counter | undefined;
  #lastOverflows = 0;

  // Send side.
  readonly #sendRing: SendRing;
  readonly #sendNames: Uint8Array;
  readonly #sendControlView: DataView;
  readonly #msgDesc: Int32Array;
  readonly #iovDesc: Int32Array;
  readonly #plan: MessagePlan;
  #queue: PendingWrite[] = [];
  #queuedDatagrams = 0;
  #retryTimer: NodeJS.Timeout | null = null;

  #events = 0;
  #reading = false;
  #closed = false;

  constructor(b: NativeBinding, s: SocketHandle, o: BindOptions, host: EngineHost) {
    this.#b = b;
    this.#s = s;
    this.#host = host;
    this.#batchSize = o.batchSize;
    this.#neverGsoEqualTail = o.neverGsoEqualTail;
    this.#sendQueueLimit = o.sendQueueLimit;
    this.#addrScratch = new Uint8Array(abi.SOCKADDR_SLOT);

    let tx = false, rx = false;
    if (o.offload) ({ tx, rx } = probeOffload(b, s, o.recvSlotSize >= GRO_SLOT_SIZE));
    this.#counter = o.rxqOverflowMetric && enableRxqOverflowCounter(b, s) ? counterFor(o.rxqOverflowMetric) : undefined;
    this.capabilities = { batching: true, txOffload: tx, rxOffload: rx, rxqOverflowCounter: this.#counter !== undefined };

    const slots = o.batchSize;
    this.#slotSize = rx ? Math.max(GRO_SLOT_SIZE, o.recvSlotSize) : o.recvSlotSize;
    this.#peerKey = new Uint8Array(abi.SOCKADDR_SLOT);

    // A send becomes at most batchSize messages of at most UDP_MAX_SEGMENTS
    // datagrams (a forwarded view can hold that many), sentinel included.
    const iovs = slots * UDP_MAX_SEGMENTS;
    this.#sendNames = new Uint8Array(slots * abi.SOCKADDR_SLOT);
    const sendControls = new Uint8Array(slots * CONTROL_SIZE);
    this.#sendControlView = new DataView(sendControls.buffer);
    this.#msgDesc = new Int32Array(slots * abi.SEND_MSG_FIELDS);
    this.#iovDesc = new Int32Array(iovs * abi.SEND_IOV_FIELDS);
    const sring = b.sendRing(slots, iovs, this.#sendNames, sendControls, CONTROL_SIZE, this.#msgDesc, this.#iovDesc);
    if (typeof sring === 'number') fail(sring, 'sendRing');
    this.#sendRing = sring;
    this.#plan = new MessagePlan(slots);

    const r = b.pollStart(s, (status, events) => this.#onPoll(status, events));
    if (r < 0) fail(r, 'uv_poll_start');
  }

  get queuedDatagrams(): number { return this.#queuedDatagrams; }

  address(): SocketAddress {
    const r = this.#b.getsockname(this.#s, this.#addrScratch);
    if (r < 0) fail(r, 'getsockname');
    return decodeSockaddr(this.#addrScratch, 0);
  }

  remoteAddress(): SocketAddress | null {
    const r = this.#b.getpeername(this.#s, this.#addrScratch);
    if (r === -ENOTCONN) return null;
    if (r < 0) fail(r, 'getpeername');
    return decodeSockaddr(this.#addrScratch, 0);
  }

  connect(dest: ParsedAddress, port: number): void {
    const len = encodeSockaddr(this.#addrScratch, 0, dest, port);
    const r = this.#b.connect(this.#s, this.#addrScratch, len);
    if (r < 0) fail(r, 'connect', formatAddress(dest), port);
  }

  disconnect(): void {
    const r = this.#b.connect(this.#s, this.#addrScratch, 0);
    if (r < 0) fail(r, 'connect');
  }

  getRecvBufferSize(): number { return this.getIntOption(abi.SOL_SOCKET, abi.SO_RCVBUF, 'SO_RCVBUF'); }
  getSendBufferSize(): number { return this.getIntOption(abi.SOL_SOCKET, abi.SO_SNDBUF, 'SO_SNDBUF'); }

  // Socket options beyond the bind options, for layers built on this engine
  // (the dgram-compatible socket); they throw Node-style system errors.
  getIntOption(level: number, name: number, what: string): number {
    const r = this.#b.getsockopt(this.#s, level, name, this.#scratch);
    if (r < 0) fail(r, `getsockopt ${what}`);
    return this.#scratch[0];
  }

  setIntOption(level: number, name: number, value: number, what: string): void {
    const r = this.#b.setsockopt(this.#s, level, name, value);
    if (r < 0) fail(r, `setsockopt ${what}`);
  }

  setBytesOption(level: number, name: number, value: Uint8Array, what: string): void {
    const r = this.#b.setsockoptBytes(this.#s, level, name, value, value.length);
    if (r < 0) fail(r, `setsockopt ${what}`);
  }

  setRef(ref: boolean): void {
    if (!this.#closed) this.#b.pollRef(this.#s, ref);
  }

  setReading(on: boolean): void {
    if (on) this.#recv ??= this.#registerReceiveMemory();
    this.#reading = on;
    this.#updatePoll();
  }

  #registerReceiveMemory(): RecvMemory {
    const slots = this.#batchSize;
    // Uninitialised memory: pages become resident only as the kernel writes them.
    const arena = Buffer.allocUnsafeSlow(slots * this.#slotSize);
    const names = new Uint8Array(slots * abi.SOCKADDR_SLOT);
    const controls = new Uint8Array(slots * CONTROL_SIZE);
    const meta = new Int32Array(slots * abi.RECV_META_FIELDS);
    const ring = this.#b.recvRing(arena, slots, this.#slotSize, names, controls, CONTROL_SIZE, meta);
    if (typeof ring === 'number') fail(ring, 'recvRing');
    const view = new BatchView(arena, slots, this.capabilities.rxOffload ? slots * 4 : slots);
    return { ring, names, controlView: new DataView(controls.buffer), meta, view };
  }

  // Writability is asked for only while writes wait: a UDP socket is nearly
  // always writable, and a standing interest would wake the loop for nothing.
  #updatePoll(): void {
    if (this.#closed) return;
    const events = (this.#reading ? POLL_READABLE : 0) |
      (this.#queue.length > 0 && this.#retryTimer === null ? POLL_WRITABLE : 0);
    if (events === this.#events) return;
    this.#events = events;
    this.#b.pollUpdate(this.#s, events);
  }

  #onPoll(status: number, events: number): void {
    if (this.#closed) return;
    if (status < 0) {
      // On POLLERR libuv stops the poll and reports EBADF. The socket's own
      // pending error (an ICMP error on a connected socket, say) is the real
      // news: take it (reading SO_ERROR clears it) and poll again.
      const r = this.#b.getsockopt(this.#s, abi.SOL_SOCKET, abi.SO_ERROR, this.#scratch);
      const pending = r === 0 ? this.#scratch[0] : 0;
      this.#events = 0;
      this.#updatePoll();
      this.#host.fail(pending > 0 ? systemError(-pending, 'recvmmsg') : systemError(status, 'uv_poll'));
      return;
    }
    if (events & POLL_WRITABLE) this.#pump();
    if (events & POLL_READABLE) this.#readReady();
  }

  #readReady(): void {
    const slots = this.#batchSize;
    const recv = this.#recv;
    if (recv === null) return;
    for (let k = 0; k < READ_BUDGET && this.#reading && !this.#closed; k++) {
      let n: number;
      try {
        n = this.#b.recvmmsg(this.#s, recv.ring, slots);
      } catch (err) {
        // The addon checks the registered memory before it asks the kernel,
        // and found it unusable: a listener transferred or detached
        // view.data.buffer. Nothing was read. Register fresh memory first,
        // so the socket reads on whatever the error's listeners do.
        this.#b.ringRelease(recv.ring);
        this.#recv = this.#registerReceiveMemory();
        this.#host.fail(receiveMemoryError(err as Error));
        return;
      }
      if (n < 0) {
        if (n !== -EAGAIN) this.#host.fail(systemError(n, 'recvmmsg'));
        return;
      }
      this.stats.recvCalls++;
      try {
        this.#fill(recv, n);
      } catch (err) {
        // A control message the kernel should never write (ControlMessageError):
        // an error of this read, as a failed recvmmsg would be, not a crash.
        this.#host.fail(err as Error);
        return;
      }
      recv.view.live = true;
      try {
        this.#host.deliver(recv.view);
      } finally {
        recv.view.live = false;
      }
      // Fewer messages than asked for: the queue is empty, skip the EAGAIN call.
      if (n < slots) return;
    }
  }

  // Turns the kernel's per-message results into the view's datagrams.
  #fill(recv: RecvMemory, n: number): void {
    const { view, meta, controlView } = recv;
    const fields = abi.RECV_META_FIELDS;
    const rx = this.capabilities.rxOffload;
    let datagrams = 0, bytes = 0;
    for (let m = 0; m < n; m++) {
      const len = Math.min(meta[m * fields], this.#slotSize);
      const flags = meta[m * fields + 1];
      const controlLen = Math.min(meta[m * fields + 3], CONTROL_SIZE);
      const seg = rx && controlLen > 0 ? readGroSegmentSize(controlView, m * CONTROL_SIZE, m * CONTROL_SIZE + controlLen) : 0;
      view.messageOffsets[m] = m * this.#slotSize;
      view.messageLengths[m] = len;
      view.segmentSizes[m] = seg > 0 && seg < len ? seg : 0;
      const truncated = (flags & abi.MSG_TRUNC) !== 0 ? 1 : 0;
      view.messageTruncated[m] = truncated;
      this.stats.truncated += truncated;
      view.peers[m] = this.#peerOf(recv.names, m, meta[m * fields + 2]);
      datagrams += segmentCount(len, view.segmentSizes[m]);
      bytes += len;
    }
    this.#countOverflows(recv, n);
    view.reserve(datagrams);
    view.count = splitCoalesced(view.messageLengths, view.segmentSizes, n, this.#slotSize, view);
    view.messageCount = n;
    this.stats.datagramsIn += view.count;
    this.stats.bytesIn += bytes;
    this.stats.messagesIn += n;
  }

  // Consecutive messages mostly come from one peer: reuse its decoded address
  // while the sockaddr bytes repeat.
  #peerOf(names: Uint8Array, m: number, nameLen: number): SocketAddress {
    const at = m * abi.SOCKADDR_SLOT;
    const len = Math.min(nameLen, abi.SOCKADDR_SLOT);
    const key = this.#peerKey;
    if (this.#peer !== null && len === this.#peerKeyLen) {
      let same = true;
      for (let i = 0; i < len; i++) if (names[at + i] !== key[i]) { same = false; break; }
      if (same) return this.#peer;
    }
    key.set(names.subarray(at, at + len));
    this.#peerKeyLen = len;
    return (this.#peer = decodeSockaddr(names, at));
  }

  // SO_RXQ_OVFL is cumulative, so only the newest message's value matters.
  #countOverflows(recv: RecvMemory, n: number): void {
    if (this.#counter === undefined || n === 0) return;
    const m = n - 1;
    const controlLen = Math.min(recv.meta[m * abi.RECV_META_FIELDS + 3], CONTROL_SIZE);
    if (controlLen === 0) return;
    const current = readRxqOverflows(recv.controlView, m * CONTROL_SIZE, m * CONTROL_SIZE + controlLen);
    if (current < 0 || current === this.#lastOverflows) return;
    const delta = counterDelta(this.#lastOverflows, current);
    this.#counter.add(delta);
    this.stats.rxqOverflows += delta;
    this.#lastOverflows = current;
  }

  write(job: WriteJob): Promise<void> {
    if (this.#closed) return Promise.reject(notRunning());
    const count = job.lengths.length;
    if (this.#queuedDatagrams + count > this.#sendQueueLimit) return Promise.reject(queueFull(this.#sendQueueLimit));
    const sources: Array<Uint8Array | ArrayBuffer> = job.buffers.slice();
    if (this.#neverGsoEqualTail) sources.push(SENTINEL); // index `count`
    return new Promise<void>((resolve, reject) => {
      const w: PendingWrite = {
        job, sources, fixedSources: sources.length, offsets: job.offsets, lengths: job.lengths, next: 0, singlesUntil: 0,
        gsoDisabled: false, error: null, resolve, reject,
      };
      this.#queue.push(w);
      this.#queuedDatagrams += count;
      if (this.#queue.length === 1) this.#pump();
      if (job.borrowed && this.#queue.includes(w)) this.#own(w);
    });
  }

  // Copies what is left of a borrowed write into memory of its own, so it
  // can wait for the kernel after the lender reuses its buffer.
  #own(w: PendingWrite): void {
    const lengths = (w.lengths = Array.from(w.lengths)); // the lender's arrays are reused too
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
  }

  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const w = this.#queue[0];
      const r = this.#send(w);
      if (r === SendResult.NoBufs) {
        this.#retryTimer ??= setTimeout(() => {
          this.#retryTimer = null;
          this.#pump();
        }, NOBUFS_RETRY_MS);
        break;
      }
      if (r === SendResult.Again) break;
      this.#queue.shift();
      this.#queuedDatagrams -= w.lengths.length - w.next;
      if (w.gsoDisabled) w.reject(new GSODisabledError(this.#localName(), w.error));
      else if (w.error) w.reject(w.error);
      else w.resolve();
    }
    this.#updatePoll();
  }

  #send(w: PendingWrite): SendResult {
    const job = w.job;
    const total = w.lengths.length;
    const plan = this.#plan;
    const nameLen = job.dest ? encodeSockaddr(this.#sendNames, 0, job.dest, job.port) : 0;
    // Tailscale's rule: with the sentinel workaround, small batches skip GSO.
    const gsoAllowed = !this.#neverGsoEqualTail || total >= SENTINEL_BATCH_THRESHOLD;
    while (w.next < total) {
      let messages: number;
      if (this.capabilities.txOffload && gsoAllowed && w.next >= w.singlesUntil) {
        messages = coalesce(w.lengths, w.next, total,
          { maxPayload: job.maxPayload, neverGsoEqualTail: this.#neverGsoEqualTail }, plan);
      } else {
        const end = w.next < w.singlesUntil ? w.singlesUntil : total;
        messages = plan.single(w.lengths, w.next, Math.min(end - w.next, this.#batchSize));
      }
      let sent = 0;
      while (sent < messages) {
        let r: number;
        try {
          if (sent === 0) this.#describe(w, messages, nameLen);
          r = this.#b.sendmmsg(this.#s, this.#sendRing, w.sources, sent, messages - sent);
        } catch (err) {
          // The addon refused the buffers (one was detached or shrunk since
          // the write was accepted): this write fails, the queue moves on.
          (err as WriteError).datagramsSent = w.next;
          w.error = err as Error;
          return SendResult.Done;
        }
        this.stats.sendCalls++;
        if (r > 0) {
          this.#account(sent, sent + r);
          sent += r;
          w.next = plan.first[sent - 1] + plan.count[sent - 1];
          continue;
        }
        if (r === -EAGAIN) return SendResult.Again;
        if (r === -ENOBUFS) return SendResult.NoBufs;
        const usedGso = plan.segment[sent] > 0;
        if (r === -EIO && usedGso && this.capabilities.txOffload) {
          // The device cannot offload UDP segmentation: turn GSO off for good
          // and send the rest as plain datagrams (see GSODisabledError).
          this.capabilities.txOffload = false;
          this.stats.gsoDisabled = true;
          w.gsoDisabled = true;
          break;
        }
        if ((r === -EINVAL || r === -EMSGSIZE) && usedGso) {
          // A segment larger than the path MTU is refused with GSO but is
          // fine as one (IP-fragmented) datagram: send this message's
          // datagrams one by one and keep GSO for the rest.
          w.singlesUntil = plan.first[sent] + plan.count[sent];
          break;
        }
        const err: WriteError = systemError(r, 'sendmmsg', job.dest ? formatAddress(job.dest) : undefined, job.dest ? job.port : undefined);
        err.datagramsSent = w.next;
        w.error = err;
        return SendResult.Done;
      }
    }
    return SendResult.Done;
  }

  // Writes the descriptors of plan messages [0, messages): iovecs pointing
  // into the caller's buffers, and a UDP_SEGMENT control message for every
  // coalesced message.
  #describe(w: PendingWrite, messages: number, nameLen: number): void {
    const plan = this.#plan;
    const md = this.#msgDesc;
    const mf = abi.SEND_MSG_FIELDS, vf = abi.SEND_IOV_FIELDS;
    w.sources.length = w.fixedSources;
    let iov = 0;
    for (let m = 0; m < messages; m++) {
      const first = plan.first[m];
      md[m * mf] = iov;
      md[m * mf + 2] = 0;
      md[m * mf + 3] = nameLen;
      md[m * mf + 4] = plan.segment[m] > 0 ? writeUdpSegment(this.#sendControlView, m * CONTROL_SIZE, plan.segment[m]) : 0;
      const end = this.#iovecs(w, first, first + plan.count[m], iov);
      if (plan.sentinel[m]) {
        this.#iovDesc[end * vf] = w.lengths.length; // the sentinel's index in sources
        this.#iovDesc[end * vf + 1] = 0;
        this.#iovDesc[end * vf + 2] = SENTINEL.length;
      }
      md[m * mf + 1] = end + plan.sentinel[m] - iov;
      iov = end + plan.sentinel[m];
    }
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
    const iv = this.#iovDesc, vf = abi.SEND_IOV_FIELDS;
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
      // The run ends before d: one iovec for it.
      if (runBuffer === null) {
        iv[iov * vf] = run;
        iv[iov * vf + 1] = runStart;
      } else {
        // Offsets become relative to the ArrayBuffer, which the addon checks them against.
        iv[iov * vf] = w.sources.push(runBuffer as ArrayBuffer) - 1;
        iv[iov * vf + 1] = buffers[run].byteOffset + runStart;
      }
      iv[iov * vf + 2] = runEnd - runStart;
      iov++;
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
      this.stats.bytesOut += plan.bytes[m];
      this.stats.datagramsOut += plan.count[m];
      this.#queuedDatagrams -= plan.count[m];
    }
    this.stats.messagesOut += to - from;
  }

  #localName(): string {
    const a = this.address();
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#b.close(this.#s);
    this.#b.ringRelease(this.#sendRing);
    if (this.#recv !== null) this.#b.ringRelease(this.#recv.ring);
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    const pending = this.#queue;
    this.#queue = [];
    this.#queuedDatagrams = 0;
    for (const w of pending) {
      const err: WriteError = notRunning();
      err.datagramsSent = w.next;
      w.reject(err);
    }
  }
}

/** Opens, configures and binds a socket on the batch path. Throws a system error on failure. */
export function openMmsg(b: NativeBinding, o: BindOptions, host: EngineHost): MmsgEngine {
  const s = b.socket(o.type === 'udp4' ? 4 : 6);
  if (typeof s === 'number') fail(s, 'socket');
  try {
    const set = (level: number, opt: number, value: number, name: string) => {
      const r = b.setsockopt(s, level, opt, value);
      if (r < 0) fail(r, `setsockopt ${name}`);
    };
    if (o.reuseAddr) set(abi.SOL_SOCKET, abi.SO_REUSEADDR, 1, 'SO_REUSEADDR');
    if (o.reusePort) set(abi.SOL_SOCKET, abi.SO_REUSEPORT, 1, 'SO_REUSEPORT');
    if (o.type === 'udp6') set(abi.IPPROTO_IPV6, abi.IPV6_V6ONLY, o.ipv6Only ? 1 : 0, 'IPV6_V6ONLY');
    if (o.recvBufferSize !== undefined) setBufferSize(b, s, abi.SO_RCVBUFFORCE, abi.SO_RCVBUF, o.recvBufferSize, 'SO_RCVBUF');
    if (o.sendBufferSize !== undefined) setBufferSize(b, s, abi.SO_SNDBUFFORCE, abi.SO_SNDBUF, o.sendBufferSize, 'SO_SNDBUF');
    const name = new Uint8Array(abi.SOCKADDR_SLOT);
    const len = encodeSockaddr(name, 0, o.address, o.port);
    const r = b.bind(s, name, len);
    if (r < 0) fail(r, 'bind', formatAddress(o.address), o.port);
    return new MmsgEngine(b, s, o, host);
  } catch (err) {
    b.close(s);
    throw err;
  }
}

/**
 * Takes over an inherited UDP socket (bind({ fd })) on a duplicate of its
 * descriptor; closing the engine closes the original too. The socket is
 * used as it is: `o`'s address, port and bind-time options do not apply.
 */
export function adoptMmsg(b: NativeBinding, fd: number, o: BindOptions, host: EngineHost): MmsgEngine {
  const s = b.adopt(fd);
  if (typeof s === 'number') fail(s, 'open');
  try {
    return new MmsgEngine(b, s, o, host);
  } catch (err) {
    b.close(s);
    throw err;
  }
}
