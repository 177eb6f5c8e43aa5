// What a read hands to the user: a BatchView over the receive memory (no
// allocation, valid until the next read) and, built from it on demand, a
// Batch of Datagrams the user may keep.
import { splitCoalesced } from './offload/segments';
import type { ReceiveMetadata } from './wire/cmsg';
import type { Family, SocketAddress } from './wire/sockaddr';

/** One received datagram, safe to keep. */
export interface Datagram {
  data: Buffer;
  address: string;
  port: number;
  family: Family;
  /** The kernel cut the datagram to fit the receive slot: `data` is not all of it. */
  truncated: boolean;
  // Present on every received datagram, undefined unless the socket asked.
  /** The ECN field (0..3) of its IP header; only with receiveEcn. */
  ecn?: number;
  /** The local address it was sent to, e.g. '127.0.0.3'; only with receiveLocalAddress. */
  localAddress?: string;
  /** The interface it arrived on; only with receiveLocalAddress. */
  interfaceIndex?: number;
  /** The kernel's receive time, nanoseconds since the epoch; only with receiveTimestamps. */
  timestamp?: bigint;
  /**
   * Where it was going before a TPROXY rule diverted it to this socket (its
   * IP header's destination and port: after DNAT, the rewritten ones), shared
   * by the datagrams that went there and frozen; only with receiveOriginalDestination.
   */
  originalDestination?: Readonly<SocketAddress>;
}

/**
 * The largest allocation the copy of one read is made of (a larger message
 * gets one of its own). A read with GRO holds up to batchSize × 64 KiB: one
 * allocation of that size is fresh memory from the system on every read,
 * megabytes of page faults; allocations of this size are reused by the
 * allocator once garbage-collected.
 */
const COPY_CHUNK = 64 * 1024;

/**
 * The largest average datagram of a read whose copies go into the addon's
 * pooled blocks (BatchView.copyBlock) rather than the allocator's. A read of
 * small datagrams (thousands with GRO, half a megabyte) copied into the
 * allocator's memory faulted fresh pages in on most reads when the batch
 * was handed to a for-await loop (86 faults a read against 14 for a
 * listener, this machine): the pool's blocks stay resident. Each pooled
 * block costs a finalizer and a turn of the event loop to come back, which
 * a block of 1 000 datagrams of 64 B pays for and one of 54 of 1200 B does
 * not (the 1200 B receiver fell to half its rate): those stay with the
 * allocator, which reuses their memory well at that size.
 */
const POOLED_DATAGRAM_MAX = 512;

/**
 * Node's own Buffer class (FastBuffer, which Buffer[Symbol.species] names):
 * `new` of it over a range of an ArrayBuffer makes a genuine Buffer three
 * times faster than Buffer.from(arrayBuffer, offset, length), which checks
 * its arguments first (14 against 43 ns here, Node 20 to 24), and a read
 * makes one per datagram. A runtime whose species is Buffer itself, whose
 * `new` is deprecated, gets Buffer.from.
 */
const SpeciesBuffer = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species] as
  new (buffer: ArrayBuffer, byteOffset: number, length: number) => Buffer;
const bufferOver: (buffer: ArrayBuffer, byteOffset: number, length: number) => Buffer = (SpeciesBuffer as unknown) === Buffer
  ? (b, o, l) => Buffer.from(b, o, l)
  : (b, o, l) => new SpeciesBuffer(b, o, l);

/** A read's datagrams (splitCoalesced's output), made on first use and reused across reads. */
interface DatagramTable { offsets: Uint32Array; lengths: Uint32Array; message: Uint16Array }

/** Datagrams of one read (or of part of a large one, see BATCH_MAX), in arrival order. */
export type Batch = Datagram[];

/**
 * The most datagrams in one Batch: a read of more (16 384 datagrams of 64 B
 * with GRO) is handed over as several. V8 puts an array of 128 KiB or more
 * (16 384 elements) in its large-object space, and one a scavenge finds
 * alive is promoted whole, with every young Datagram it holds: building such
 * a Batch cost 340 ns a datagram against 35 for one of 8 192 (Node 20).
 */
const BATCH_MAX = 8192;

/** Where a read's copies go: the current chunk, its next free byte, and whether chunks come from the pool. */
interface CopyPlace { chunk: ArrayBuffer | null; at: number; pooled: boolean }

/**
 * The zero-allocation read: datagram i is `data[offsets[i], offsets[i] +
 * lengths[i])`. Everything here, `data` included, is overwritten by the next
 * read, so use it inside the 'view' listener and copy what must outlive it.
 *
 * Messages are what the kernel returned: with GRO one message holds several
 * datagrams of one sender, cut at `segmentSizes[m]`. The per-datagram table
 * (`offsets`, `lengths`, `message`) is made from the messages on its first
 * use in a read: a consumer that works per message (counting, forwardTo)
 * never pays for it, as at 64 B a read holds thousands of datagrams.
 */
export class BatchView {
  /** @internal True while the view is being delivered: only then is its memory this read's. */
  live = false;
  /**
   * @internal A block for copies (the addon's pool, copyBlocks), or a
   * negative errno when the pool's bound is reached; null where there is no addon.
   */
  copyBlock: (() => ArrayBuffer | number) | null = null;
  /** Datagrams in this read. */
  count = 0;
  data: Buffer;
  readonly #table: DatagramTable;
  /** #table is made for this read's messages. */
  #split = true;

  /** Messages in this read. */
  messageCount = 0;
  messageOffsets: Uint32Array;
  messageLengths: Int32Array;
  /** GRO segment size of each message, 0 when it holds one datagram. */
  segmentSizes: Int32Array;
  messageTruncated: Uint8Array;
  /** Sender of each message; the same object is reused while the sender repeats. */
  peers: SocketAddress[];
  /**
   * Per message, what the socket asked the kernel to report (null when it
   * did not): with GRO, every datagram of a message shares its message's,
   * as the kernel coalesces only datagrams whose IP headers agree.
   */
  messageEcn: Uint8Array | null;
  messageLocalAddress: string[] | null;
  messageInterfaceIndex: Int32Array | null;
  messageTimestamp: BigInt64Array | null;
  messageOriginalDestination: Array<Readonly<SocketAddress> | undefined> | null;

  // The published declarations keep only the first signature, which no call
  // matches (stripInternal): views come from a socket's reads.
  /** Views are made by a socket's reads, never by hand. */
  constructor(...readsOnly: never);
  /** @internal by the engines, one view per socket's receive memory */
  constructor(data: Buffer, messages: number, datagrams: number, metadata?: ReceiveMetadata);
  constructor(data: Buffer, messages: number, datagrams: number,
    metadata: ReceiveMetadata = { ecn: false, localAddress: false, timestamps: false, originalDestination: false }) {
    this.data = data;
    this.#table = { offsets: new Uint32Array(datagrams), lengths: new Uint32Array(datagrams), message: new Uint16Array(datagrams) };
    this.messageOffsets = new Uint32Array(messages);
    this.messageLengths = new Int32Array(messages);
    this.segmentSizes = new Int32Array(messages);
    this.messageTruncated = new Uint8Array(messages);
    this.peers = new Array<SocketAddress>(messages);
    this.messageEcn = metadata.ecn ? new Uint8Array(messages) : null;
    this.messageLocalAddress = metadata.localAddress ? new Array<string>(messages) : null;
    this.messageInterfaceIndex = metadata.localAddress ? new Int32Array(messages) : null;
    this.messageTimestamp = metadata.timestamps ? new BigInt64Array(messages) : null;
    this.messageOriginalDestination = metadata.originalDestination ? new Array<Readonly<SocketAddress> | undefined>(messages) : null;
  }

  /** Where each datagram starts in `data`. */
  get offsets(): Uint32Array { return this.#made().offsets; }
  /** Each datagram's length. */
  get lengths(): Uint32Array { return this.#made().lengths; }
  /** The message each datagram belongs to. */
  get message(): Uint16Array { return this.#made().message; }

  /**
   * @internal For the engine: a read filled messages [0, messageCount)
   * holding `count` datagrams; the per-datagram table waits for its first use.
   */
  setMessages(messageCount: number, count: number): void {
    this.messageCount = messageCount;
    this.count = count;
    this.#split = false;
  }

  #made(): DatagramTable {
    const t = this.#table;
    if (this.#split) return t;
    if (this.count > t.offsets.length) {
      // Grows rarely: only when a read holds more datagrams than any before.
      const size = Math.max(this.count, t.offsets.length * 2);
      t.offsets = new Uint32Array(size);
      t.lengths = new Uint32Array(size);
      t.message = new Uint16Array(size);
    }
    splitCoalesced(this.messageOffsets, this.messageLengths, this.segmentSizes, this.messageCount, t);
    this.#split = true;
    return t;
  }

  address(i: number): string { return this.peers[this.message[i]].address; }
  port(i: number): number { return this.peers[this.message[i]].port; }
  family(i: number): Family { return this.peers[this.message[i]].family; }

  ecn(i: number): number | undefined { return this.messageEcn?.[this.message[i]]; }
  localAddress(i: number): string | undefined { return this.messageLocalAddress?.[this.message[i]]; }
  interfaceIndex(i: number): number | undefined { return this.messageInterfaceIndex?.[this.message[i]]; }
  timestamp(i: number): bigint | undefined { return this.messageTimestamp?.[this.message[i]]; }
  originalDestination(i: number): Readonly<SocketAddress> | undefined { return this.messageOriginalDestination?.[this.message[i]]; }

  /** Only the last datagram of a truncated message is cut; those before it are whole. */
  truncated(i: number): boolean {
    const m = this.message[i];
    return this.messageTruncated[m] === 1 && (i + 1 === this.count || this.message[i + 1] !== m);
  }

  /** The bytes of datagram i, as a view into `data` (valid until the next read). */
  datagram(i: number): Buffer {
    return this.data.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]);
  }

  /**
   * The bytes of every datagram copied out of the receive memory, one Buffer
   * each, safe to keep. Messages are copied whole into allocations of at
   * most COPY_CHUNK bytes (one message alone may be larger), each datagram a
   * view of its message's copy; small datagrams into pooled blocks
   * (POOLED_DATAGRAM_MAX). As with Buffer.allocUnsafe, the rest of a
   * Buffer's `.buffer` is not zeroed: it may hold earlier copies.
   */
  copyDatagrams(): Buffer[] {
    const { offsets, lengths, message } = this.#made();
    const out: Buffer[] = new Array(this.count);
    const place = this.#copyPlace();
    let i = 0;
    for (let m = 0; m < this.messageCount; m++) {
      const base = this.#copyMessage(place, m);
      // Datagrams of message m are consecutive, from i on.
      for (; i < this.count && message[i] === m; i++) out[i] = bufferOver(place.chunk!, base + offsets[i], lengths[i]);
    }
    return out;
  }

  // Where a read's copies start: no chunk yet, and whether they go into the
  // addon's pooled blocks (POOLED_DATAGRAM_MAX).
  #copyPlace(): CopyPlace {
    let bytes = 0;
    for (let m = 0; m < this.messageCount; m++) bytes += this.messageLengths[m];
    return { chunk: null, at: 0, pooled: this.copyBlock !== null && bytes <= this.count * POOLED_DATAGRAM_MAX };
  }

  // Copies message m whole to the next free bytes of place.chunk (a new
  // chunk when it does not fit). Returns where its bytes went, relative to
  // the view: the copy of data[o] is chunk[base + o].
  #copyMessage(place: CopyPlace, m: number): number {
    const start = this.messageOffsets[m], len = this.messageLengths[m];
    if (place.chunk === null || place.at + len > place.chunk.byteLength) {
      // Unzeroed: every byte a datagram's view shows is copied in first.
      const size = Math.max(len, this.#chunkSize(m));
      const block = place.pooled && size === COPY_CHUNK ? this.copyBlock!() : -1;
      place.chunk = typeof block !== 'number' && block.byteLength >= size ? block : Buffer.allocUnsafeSlow(size).buffer;
      place.at = 0;
    }
    new Uint8Array(place.chunk, place.at, len).set(this.data.subarray(start, start + len));
    const base = place.at - start;
    place.at += len;
    return base;
  }

  // What the messages from m on need, up to COPY_CHUNK: a read of a few
  // small datagrams takes a small allocation.
  #chunkSize(m: number): number {
    let total = 0;
    for (; m < this.messageCount && total < COPY_CHUNK; m++) total += this.messageLengths[m];
    return Math.min(total, COPY_CHUNK);
  }

  /** The whole read copied out as one Batch, each datagram with its sender and metadata (see toBatches). */
  toBatch(): Batch {
    const batches = this.toBatches();
    return batches.length === 1 ? batches[0] : batches.flat();
  }

  /**
   * @internal The read copied out as Batches of at most BATCH_MAX datagrams,
   * in order, each datagram with its sender and metadata. Walked by message:
   * a message's datagrams share its sender and metadata, so per datagram
   * only its Buffer and its object are made.
   */
  toBatches(): Batch[] {
    const { offsets, lengths, message } = this.#made();
    const place = this.#copyPlace();
    const batches: Batch[] = [];
    let out: Batch = new Array(Math.min(this.count, BATCH_MAX));
    let k = 0; // the next free index of out
    let i = 0;
    for (let m = 0; m < this.messageCount; m++) {
      const base = this.#copyMessage(place, m);
      const chunk = place.chunk!;
      const { address, port, family } = this.peers[m];
      const ecn = this.messageEcn?.[m], localAddress = this.messageLocalAddress?.[m];
      const interfaceIndex = this.messageInterfaceIndex?.[m], timestamp = this.messageTimestamp?.[m];
      const originalDestination = this.messageOriginalDestination?.[m];
      for (; i < this.count && message[i] === m; i++) {
        if (k === out.length) {
          batches.push(out);
          out = new Array(Math.min(this.count - i, BATCH_MAX));
          k = 0;
        }
        const data = bufferOver(chunk, base + offsets[i], lengths[i]);
        out[k++] = { data, address, port, family, truncated: false, ecn, localAddress, interfaceIndex, timestamp, originalDestination };
      }
      // Only the last datagram of a truncated message was cut (truncated()).
      if (this.messageTruncated[m] === 1 && i > 0 && message[i - 1] === m) out[k - 1].truncated = true;
    }
    batches.push(out);
    return batches;
  }
}
