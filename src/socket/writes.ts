// The write methods' arguments, each read once and checked, turned into the
// engine's WriteJob: where the datagrams lie, to whom, with which header
// fields. The GSO plan of a packed write comes from offload/gso.ts; the
// engine plans the rest. BatchSocket (batch-socket.ts) calls these inside
// its write methods, which turn what they throw into a rejected promise.
import { isUint8Array } from 'node:util/types';
import { BatchView } from '../batch';
import type { CapabilityState } from '../engine/capabilities';
import type { Recipient, SendHeader, WriteJob } from '../engine/contract';
import { badPort, invalidAddress, invalidArgType, outOfRange, unsupported, viewExpired } from '../errors';
import { forwardsWhole, MessagePlan, packedRuns } from '../offload/gso';
import { datagramSpans } from '../offload/spans';
import { GeneveHeader } from '../wire/geneve';
import { INT32_MAX } from '../limits';
import { maxPayloadTo, parseAddress, toV4Mapped, type ParsedAddress } from '../wire/sockaddr';

/** Header fields every datagram of a write goes out with. */
export interface SendOptions {
  /** The ECN codepoint (0..3) of every datagram's IP header, as IP_TOS / IPV6_TCLASS per message. */
  ecn?: number;
  /**
   * The local address the datagrams leave from (IP_PKTINFO / IPV6_PKTINFO): an IP literal of the socket's
   * family, or IPv4 on a dual-stack socket; a wildcard socket answers from the address a datagram came to.
   */
  sourceAddress?: string;
  /**
   * The interface the datagrams leave through (IP_PKTINFO / IPV6_PKTINFO's index), as a received datagram's
   * `interfaceIndex` names it: a wildcard server answers on the interface a request came in on. 0: the route's.
   */
  interfaceIndex?: number;
}

/** One message of writeMessages: one datagram, or with `segmentSize` datagrams of that size back to back. */
export interface OutgoingMessage extends SendOptions {
  /** The datagram, or the datagrams of `segmentSize` bytes each back to back (the last may be shorter). */
  data: Uint8Array;
  address: string;
  port: number;
  /** The size `data` is cut into (a GSO message where the socket has TX offload); without it `data` is one datagram. */
  segmentSize?: number;
  /**
   * When to send it, in nanoseconds of process.hrtime.bigint()'s clock (CLOCK_MONOTONIC): the outgoing interface's
   * fq qdisc holds it until then (SCM_TXTIME). Needs the bind option `pacing`.
   */
  txTime?: bigint;
}

export interface WriteOptions extends SendOptions {
  /** With its VNI set, written into the 8 bytes before `offset` of every buffer and sent with it. */
  geneve?: GeneveHeader;
  /** Where each datagram's payload starts in its buffer; the bytes before it are not sent. */
  offset?: number;
}

/** The packet info's address when a write names an interface and no source: the route chooses it. */
const ANY4 = new Uint8Array(4), ANY6 = new Uint8Array(16), ANY4_MAPPED = toV4Mapped({ family: 4, bytes: ANY4, scopeId: 0, v4mapped: false }).bytes;

/** The largest u64, SCM_TXTIME's type. */
const U64_MAX = 2n ** 64n - 1n;

/** One socket's write arguments made into jobs. */
export class WriteJobs {
  readonly #type: 'udp4' | 'udp6';
  readonly #batchSize: number;
  readonly #caps: CapabilityState;
  /** The plan of packed writes' runs (packed), made on its first use. */
  #packPlan: MessagePlan | undefined;
  // Writes mostly go to the address of the write before: parse it once.
  #lastDestination: { text: string; parsed: ParsedAddress } | null = null;

  constructor(type: 'udp4' | 'udp6', batchSize: number, caps: CapabilityState) {
    this.#type = type;
    this.#batchSize = batchSize;
    this.#caps = caps;
  }

  /** writeMessages' job: one unit per message, a segmentSize message whole (WriteJob.segments). */
  messages(messages: readonly OutgoingMessage[]): WriteJob {
    if (!Array.isArray(messages)) throw invalidArgType('messages', 'an array of messages', messages);
    // Every caller value is read once, here, into the write's own arrays: a
    // getter that changes its answer (or the array) cannot make what is
    // sent differ from what was checked.
    const n = messages.length;
    if (n < 1) throw outOfRange('messages.length', '>= 1', n);
    const to: Recipient[] = new Array(n);
    // One unit per message: a segmentSize message stays whole (WriteJob.segments), so the work here is per message.
    const buffers: Uint8Array[] = new Array(n), offsets: number[] = new Array(n).fill(0), lengths: number[] = new Array(n);
    const segments: number[] = new Array(n), of: number[] = new Array(n);
    let maxPayload = Infinity;
    for (let k = 0; k < n; k++) {
      const m = messages[k];
      if (m === null || typeof m !== 'object') throw invalidArgType(`messages[${k}]`, 'of type object', m);
      const data = m.data;
      if (!isUint8Array(data)) throw invalidArgType(`messages[${k}].data`, 'a Uint8Array', data);
      const size = data.length;
      const dest = this.destination(m.address);
      const limit = maxPayloadTo(dest);
      maxPayload = Math.min(maxPayload, limit);
      to[k] = { dest, port: this.port(m.port), header: this.#header(m, dest, this.#txTime(m.txTime, k)) };
      const seg = m.segmentSize;
      buffers[k] = data;
      lengths[k] = size;
      of[k] = k;
      segments[k] = 0;
      if (seg === undefined) {
        if (size > limit) throw outOfRange(`messages[${k}].data.length`, `<= ${limit} for this destination`, size);
        continue;
      }
      if (typeof seg !== 'number') throw invalidArgType(`messages[${k}].segmentSize`, 'of type number', seg);
      if (!Number.isInteger(seg) || seg < 1 || seg > limit) {
        throw outOfRange(`messages[${k}].segmentSize`, `an integer >= 1 and <= ${limit} for this destination`, seg);
      }
      if (size < 1) throw outOfRange(`messages[${k}].data.length`, '>= 1 with a segmentSize', size);
      segments[k] = seg;
    }
    return ({
      buffers, start: 0, offsets, lengths, borrowed: false, dest: null, port: 0, maxPayload, messages: { of, to }, segments,
    });
  }

  /** writePackedTo's job: the runs one GSO message carries, each a whole message over `packed`. */
  packed(packed: Uint8Array, lengths: ArrayLike<number>, address: string, port: number, options?: SendOptions): WriteJob {
    if (!isUint8Array(packed)) throw invalidArgType('packed', 'a Uint8Array', packed);
    if (lengths === null || typeof lengths !== 'object') throw invalidArgType('lengths', 'an array of numbers', lengths);
    const n = lengths.length;
    if (typeof n !== 'number') throw invalidArgType('lengths', 'an array of numbers', lengths);
    if (n < 1) throw outOfRange('lengths.length', '>= 1', n);
    const dest = this.destination(address);
    const maxPayload = maxPayloadTo(dest);
    // Each length is read once, into the write's own array, which is what is checked and planned over.
    const checked: number[] = new Array(n);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const len = lengths[i];
      if (!Number.isInteger(len) || len < 0 || len > maxPayload) {
        throw outOfRange(`lengths[${i}]`, `an integer >= 0 and <= ${maxPayload} for this destination`, len);
      }
      checked[i] = len;
      at += len;
    }
    if (at > packed.length) throw outOfRange('lengths', `to add up to at most packed.length (${packed.length})`, at);
    const runs = packedRuns(checked, { maxPayload, maxSegments: this.#caps.maxGsoSegments },
      (this.#packPlan ??= new MessagePlan(this.#batchSize)));
    return ({
      buffers: new Array<Uint8Array>(runs.lengths.length).fill(packed), start: 0, offsets: runs.offsets, lengths: runs.lengths,
      segments: runs.segments, borrowed: false, dest, port: this.port(port), maxPayload, header: this.#header(options, dest),
    });
  }

  /** forwardTo's job: the view's messages whole, or its datagrams, over the receive memory it lends. */
  forward(view: BatchView, address: string, port: number): WriteJob {
    if (!(view instanceof BatchView)) throw invalidArgType('view', 'a BatchView', view);
    if (!view.live) {
      throw viewExpired();
    }
    const dest = this.destination(address);
    const maxPayload = maxPayloadTo(dest);
    // A datagram is no longer than its segment size, or than its message
    // when that holds one datagram: checking the messages checks them all.
    for (let m = 0; m < view.messageCount; m++) {
      const longest = view.segmentSizes[m] || view.messageLengths[m];
      if (longest > maxPayload) throw outOfRange('datagram length', `<= ${maxPayload} for this destination`, longest);
    }
    // The view lends its own arrays with its memory: the engine copies them too if the write has to wait.
    const whole = forwardsWhole(view.count, view.messageCount);
    const n = whole ? view.messageCount : view.count;
    const job: WriteJob = {
      buffers: new Array<Uint8Array>(n).fill(view.data), start: 0,
      offsets: (whole ? view.messageOffsets : view.offsets).subarray(0, n),
      lengths: (whole ? view.messageLengths : view.lengths).subarray(0, n),
      segments: whole ? view.segmentSizes.subarray(0, n) : undefined, borrowed: true, dest, port: this.port(port), maxPayload,
    };
    return (job);
  }

  /** The parsed address of a write, checked against the socket's type. */
  destination(address: string): ParsedAddress {
    if (this.#lastDestination?.text === address) return this.#lastDestination.parsed;
    if (typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
    const a = parseAddress(address);
    if (a === null) throw invalidAddress(address);
    if (this.#type === 'udp4' && a.family === 6) throw invalidAddress(address, 'an IPv6 address on a udp4 socket');
    const parsed = this.#type === 'udp6' ? toV4Mapped(a) : a;
    this.#lastDestination = { text: address, parsed };
    return parsed;
  }

  /** A destination port, 1..65535. */
  port(port: number): number {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw badPort(port);
    return port;
  }

  /** writeBatchTo's and writeBatch's job: each buffer one datagram, from `offset`, maybe after a Geneve header. */
  buffers(buffers: readonly Uint8Array[], dest: ParsedAddress, port: number, options: WriteOptions | undefined,
    connected = false): WriteJob {
    if (!Array.isArray(buffers)) throw invalidArgType('buffers', 'an array of Uint8Array', buffers);
    if (buffers.length < 1) throw outOfRange('buffers.length', '>= 1', buffers.length);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    const geneve = options?.geneve;
    if (geneve !== undefined && !(geneve instanceof GeneveHeader)) {
      throw invalidArgType('options.geneve', 'a GeneveHeader', geneve);
    }
    const maxPayload = maxPayloadTo(dest);
    const header = this.#header(options, dest);
    const spans = datagramSpans(buffers, options?.offset ?? 0, geneve, maxPayload);
    return {
      buffers: spans.buffers, start: spans.start, offsets: null, lengths: spans.lengths, borrowed: false,
      dest: connected ? null : dest, port, maxPayload, header,
    };
  }

  // A message's checked txTime (messages[k].txTime).
  #txTime(txTime: unknown, k: number): bigint | undefined {
    if (txTime === undefined) return undefined;
    if (typeof txTime !== 'bigint') throw invalidArgType(`messages[${k}].txTime`, 'of type bigint', txTime);
    if (txTime < 0n || txTime > U64_MAX) throw outOfRange(`messages[${k}].txTime`, `>= 0n and <= ${U64_MAX}n`, txTime);
    if (!this.#caps.pacing) throw unsupported(`messages[${k}].txTime needs a socket bound with pacing whose kernel took it (capabilities.pacing)`);
    return txTime;
  }

  // The checked ecn, sourceAddress and interfaceIndex of a write to `dest`,
  // with a message's txTime, for the engine to write into every message;
  // undefined when the write sets none.
  #header(options: SendOptions | undefined, dest: ParsedAddress, txTime?: bigint): SendHeader | undefined {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    const ecn = options?.ecn, sourceText = options?.sourceAddress, ifindex = options?.interfaceIndex;
    if (ecn === undefined && sourceText === undefined && ifindex === undefined && txTime === undefined) return undefined;
    if (ecn !== undefined) {
      if (typeof ecn !== 'number') throw invalidArgType('options.ecn', 'of type number', ecn);
      if (!Number.isInteger(ecn) || ecn < 0 || ecn > 3) throw outOfRange('options.ecn', 'an integer >= 0 and <= 3', ecn);
    }
    if (ifindex !== undefined) {
      if (typeof ifindex !== 'number') throw invalidArgType('options.interfaceIndex', 'of type number', ifindex);
      // An int in in_pktinfo: an index past it is no interface the kernel could have.
      if (!Number.isInteger(ifindex) || ifindex < 0 || ifindex > INT32_MAX) {
        throw outOfRange('options.interfaceIndex', `an integer >= 0 and <= ${INT32_MAX}`, ifindex);
      }
    }
    const ipv4 = dest.family === 4 || dest.v4mapped;
    // An interface alone goes in the packet info with no source address:
    // zeros, IPv4-mapped on an IPv6 socket for an IPv4 destination (the
    // kernel refuses an IPv6 one there).
    let source: Uint8Array | undefined = ifindex ? (this.#type === 'udp4' ? ANY4 : ipv4 ? ANY4_MAPPED : ANY6) : undefined;
    if (sourceText !== undefined) {
      if (typeof sourceText !== 'string') throw invalidArgType('options.sourceAddress', 'of type string', sourceText);
      const a = parseAddress(sourceText);
      if (a === null) throw invalidAddress(sourceText);
      if (this.#type === 'udp4' && a.family === 6) throw invalidAddress(sourceText, 'an IPv6 address on a udp4 socket');
      const s = this.#type === 'udp6' ? toV4Mapped(a) : a;
      if ((s.family === 4 || s.v4mapped) !== ipv4) throw invalidAddress(sourceText, 'not of the destination\'s family');
      source = s.bytes;
    }
    // node:dgram has no per-message control data to carry them.
    if (!this.#caps.batching) throw unsupported('options.ecn, options.sourceAddress and options.interfaceIndex need the batch path');
    return { ecn, source, interfaceIndex: ifindex ?? 0, ipv4, txTime };
  }
}
