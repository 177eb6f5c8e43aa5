// What a read hands to the user: a BatchView over the receive memory (no
// allocation, valid until the next read) and, built from it on demand, a
// Batch of Datagrams the user may keep.
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
}

/** Datagrams of one read, in arrival order. */
export type Batch = Datagram[];

/**
 * The zero-allocation read: datagram i is `data[offsets[i], offsets[i] +
 * lengths[i])`. Everything here, `data` included, is overwritten by the next
 * read, so use it inside the 'view' listener and copy what must outlive it.
 *
 * Messages are what the kernel returned: with GRO one message holds several
 * datagrams of one sender, cut at `segmentSizes[m]`.
 */
export class BatchView {
  /** True while the view is being delivered: only then is its memory this read's. */
  live = false;
  /** Datagrams in this read. */
  count = 0;
  data: Buffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
  /** The message each datagram belongs to. */
  message: Uint16Array;

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

  constructor(data: Buffer, messages: number, datagrams: number,
    metadata: ReceiveMetadata = { ecn: false, localAddress: false, timestamps: false }) {
    this.data = data;
    this.offsets = new Uint32Array(datagrams);
    this.lengths = new Uint32Array(datagrams);
    this.message = new Uint16Array(datagrams);
    this.messageOffsets = new Uint32Array(messages);
    this.messageLengths = new Int32Array(messages);
    this.segmentSizes = new Int32Array(messages);
    this.messageTruncated = new Uint8Array(messages);
    this.peers = new Array<SocketAddress>(messages);
    this.messageEcn = metadata.ecn ? new Uint8Array(messages) : null;
    this.messageLocalAddress = metadata.localAddress ? new Array<string>(messages) : null;
    this.messageInterfaceIndex = metadata.localAddress ? new Int32Array(messages) : null;
    this.messageTimestamp = metadata.timestamps ? new BigInt64Array(messages) : null;
  }

  /** Makes room for `datagrams` datagram entries (only grows, rarely). */
  reserve(datagrams: number): void {
    if (datagrams <= this.offsets.length) return;
    const size = Math.max(datagrams, this.offsets.length * 2);
    this.offsets = new Uint32Array(size);
    this.lengths = new Uint32Array(size);
    this.message = new Uint16Array(size);
  }

  address(i: number): string { return this.peers[this.message[i]].address; }
  port(i: number): number { return this.peers[this.message[i]].port; }
  family(i: number): Family { return this.peers[this.message[i]].family; }

  ecn(i: number): number | undefined { return this.messageEcn?.[this.message[i]]; }
  localAddress(i: number): string | undefined { return this.messageLocalAddress?.[this.message[i]]; }
  interfaceIndex(i: number): number | undefined { return this.messageInterfaceIndex?.[this.message[i]]; }
  timestamp(i: number): bigint | undefined { return this.messageTimestamp?.[this.message[i]]; }

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
   * Copies the datagrams out into a Batch. One allocation holds all their
   * bytes, copied message by message; each datagram is a view of it.
   */
  toBatch(): Batch {
    let total = 0;
    for (let m = 0; m < this.messageCount; m++) total += this.messageLengths[m];
    const copy = Buffer.allocUnsafe(total);
    const base: number[] = new Array(this.messageCount); // where message m starts in `copy` (on V8's heap)
    let at = 0;
    for (let m = 0; m < this.messageCount; m++) {
      base[m] = at - this.messageOffsets[m];
      const start = this.messageOffsets[m];
      at += this.data.copy(copy, at, start, start + this.messageLengths[m]);
    }
    const out: Batch = new Array(this.count);
    for (let i = 0; i < this.count; i++) {
      const m = this.message[i];
      const peer = this.peers[m];
      const from = this.offsets[i] + base[m];
      out[i] = {
        data: Buffer.from(copy.buffer, copy.byteOffset + from, this.lengths[i]), // cheaper than subarray()
        address: peer.address,
        port: peer.port,
        family: peer.family,
        truncated: this.truncated(i),
        ecn: this.messageEcn?.[m],
        localAddress: this.messageLocalAddress?.[m],
        interfaceIndex: this.messageInterfaceIndex?.[m],
        timestamp: this.messageTimestamp?.[m],
      };
    }
    return out;
  }
}
