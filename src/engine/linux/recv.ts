// The receive side of the Linux engine: the memory registered for recvmmsg
// (made on the first read), the read loop on readiness, and per read the GRO
// segment sizes, the senders (decoded once while a sender repeats) and the
// drop counter, handed over as the view's messages (the view cuts them into
// datagrams when asked, with offload/gro.ts).
import { constants } from 'node:os';
import { BatchView } from '../../batch';
import { counterDelta, type Counter } from '../../counters';
import { channels, publish, type Subject } from '../../diagnostics';
import { receiveMemoryError, systemError, throwSystemError } from '../../errors';
import { RecvMeta, recvMeta } from '../../kernel/descriptors';
import type { NativeBinding, RecvRing, SocketHandle } from '../../kernel/native';
import { abi } from '../../wire/abi';
import { mapPages } from '../../kernel/pages';
import { enableGro } from '../../kernel/support';
import { segmentCount } from '../../offload/segments';
import { readReceiveControl, receiveControlSize, receivedControl, type ReceiveMetadata } from '../../wire/cmsg';
import { decodeSockaddr, formatAddress, sockaddrFields, toV4Mapped, type ParsedAddress, type SocketAddress } from '../../wire/sockaddr';
import { GRO_SLOT_SIZE } from '../../limits';
import { HOST_LITTLE_ENDIAN } from '../../wire/byteorder';
import type { CapabilityState } from '../capabilities';
import type { EngineHost, TrafficCounts } from '../contract';

const { EAGAIN } = constants.errno;

/** SO_MEMINFO's answer: SK_MEMINFO_VARS (9) u32 counters, rmem_alloc first. */
const SK_MEMINFO_SIZE = 9 * 4;

/**
 * recvmmsg calls per readiness wake-up. Draining more per wake-up saves
 * epoll round trips; the budget keeps one busy socket from starving timers
 * and other sockets on the same event loop.
 */
const READ_BUDGET = 16;

/**
 * Receive slots a socket starts with; each read that fills them all doubles
 * them, up to the batch size. The memory of a slot (64 KiB with GRO) counts
 * in V8's external memory, which drives its garbage collection, whether
 * touched or not: a socket that answers a datagram now and then (a DNS or
 * CoAP client, most of the drop-in's) holds 256 KiB, not 8 MiB; a flood
 * grows it to a full batch within five reads.
 */
const INITIAL_SLOTS = 4;

/** The memory registered for recvmmsg, and the view over it. */
interface RecvMemory {
  ring: RecvRing;
  arena: Buffer;
  names: Uint8Array;
  controlView: DataView;
  meta: Int32Array;
  view: BatchView;
}

export interface ReceiverConfig {
  /** Messages per recvmmsg. */
  batchSize: number;
  /** Bytes per message slot at the start: GRO_SLOT_SIZE where the kernel coalesces from the start. */
  slotSize: number;
  /** Where the kernel's drop count goes (SO_RXQ_OVFL is on), if anywhere. */
  counter: Counter | undefined;
  /** What the kernel reports with each message, as the socket asked and the kernel accepted. */
  metadata: ReceiveMetadata;
  /** The socket's family: a udp6 socket reports an IPv4 original destination IPv4-mapped, as it does its senders. */
  family: 4 | 6;
}

export class Receiver {
  readonly #addon: NativeBinding;
  readonly #handle: SocketHandle;
  readonly #host: EngineHost;
  readonly #counts: TrafficCounts;
  readonly #config: ReceiverConfig;
  /** The socket's capability state: rxOffload says whether later reads get coalesced messages. */
  readonly #caps: CapabilityState;
  /**
   * UDP_GRO is on in the kernel, so messages carry their segment size. Not
   * the capability: it stays on after rxOffload went off, until the queue
   * that may hold coalesced messages is empty (#finishGroOff).
   */
  #gro: boolean;
  /** Bytes per message slot (raised to GRO_SLOT_SIZE when GRO is turned on later). */
  #slotSize: number;
  /**
   * GRO was turned off, but the kernel may still hold messages it coalesced
   * before, whose segment sizes it reports only while GRO is on: the switch
   * is made once a read has emptied the queue (see #finishGroOff).
   */
  #groOffPending = false;
  /** The slot size changed: the receive memory is made anew before the next read. */
  #relayout = false;
  /** Slots of the receive memory: from INITIAL_SLOTS (or the batch size, if smaller) up to the batch size. */
  #slots: number;
  readonly #meminfo = new Uint8Array(SK_MEMINFO_SIZE);
  // Made on the first read: a socket that only sends never pays for a receive arena.
  #recv: RecvMemory | null = null;
  readonly #peerKey = new Uint8Array(abi.SOCKADDR_SLOT); // the last sender's sockaddr bytes
  #peerKeyLen = 0;
  #peer: SocketAddress | null = null;
  #lastOverflows = 0;
  readonly #controlSize: number;
  readonly #control = receivedControl();
  // The last local address's bytes and text: a server's datagrams mostly arrive on one.
  readonly #localKey = new Uint8Array(17);
  #localText = '';
  // The last original destination's fields and what they make: a proxy's datagrams mostly went to a few.
  readonly #destinationKey = sockaddrFields();
  #destination: Readonly<SocketAddress> | null = null;

  readonly #subject: () => Subject;
  /** Takes an ICMP error a read returned; true when the error queue reports it (receiveErrors). */
  readonly #metIcmpError: (negErrno: number) => boolean;

  constructor(b: NativeBinding, s: SocketHandle, o: ReceiverConfig, caps: CapabilityState, counts: TrafficCounts, host: EngineHost,
    subject: () => Subject, metIcmpError: (negErrno: number) => boolean) {
    this.#subject = subject;
    this.#metIcmpError = metIcmpError;
    this.#addon = b;
    this.#handle = s;
    this.#host = host;
    this.#counts = counts;
    this.#config = o;
    this.#caps = caps;
    this.#gro = caps.rxOffload;
    this.#slotSize = o.slotSize;
    this.#controlSize = receiveControlSize(o.metadata);
    this.#slots = Math.min(INITIAL_SLOTS, o.batchSize);
  }

  #localAddressText(): string {
    const { family, address } = this.#control.packetInfo;
    const n = family === 4 ? 4 : 16;
    let same = this.#localText !== '' && this.#localKey[16] === family;
    for (let i = 0; same && i < n; i++) same = this.#localKey[i] === address[i];
    if (!same) {
      this.#localKey.set(address.subarray(0, n));
      this.#localKey[16] = family;
      this.#localText = formatAddress({ family, bytes: address.subarray(0, n), scopeId: 0, v4mapped: false });
    }
    return this.#localText;
  }

  // Frozen, as the datagrams that went there share it.
  #originalDestination(): Readonly<SocketAddress> {
    const f = this.#control.originalDestination, key = this.#destinationKey;
    const n = f.family === 4 ? 4 : 16;
    let same = this.#destination !== null && key.family === f.family && key.port === f.port && key.scopeId === f.scopeId;
    for (let i = 0; same && i < n; i++) same = key.address[i] === f.address[i];
    if (same) return this.#destination!;
    key.family = f.family;
    key.port = f.port;
    key.scopeId = f.scopeId;
    key.address.set(f.address);
    const read: ParsedAddress = { family: f.family, bytes: f.address.slice(0, n), scopeId: f.scopeId, v4mapped: false };
    const a = this.#config.family === 6 ? toV4Mapped(read) : read;
    return (this.#destination = Object.freeze({ address: formatAddress(a), family: a.family === 4 ? 'IPv4' : 'IPv6', port: f.port }));
  }

  /** Registers the receive memory, once (again after a change of slot size). */
  prepare(): void {
    this.#memory();
  }

  // The new memory is made before the old goes back: if the kernel refuses
  // it (ENOMEM, vm.max_map_count), the old stays registered.
  #memory(): RecvMemory {
    if (this.#relayout && this.#recv !== null) {
      const next = this.#registerReceiveMemory();
      this.#release(this.#recv);
      this.#recv = next;
    }
    this.#relayout = false;
    return (this.#recv ??= this.#registerReceiveMemory());
  }

  /**
   * Turns GRO on or off for later reads, and says in the capability state
   * whether they get coalesced messages (not while an off switch waits for
   * the queue, see #finishGroOff).
   */
  setGro(on: boolean): void {
    this.#caps.setRxOffload(on && this.#enableGro());
    if (!on && this.#gro) {
      this.#groOffPending = true;
      this.#finishGroOff();
    }
  }

  #enableGro(): boolean {
    if (this.#groOffPending) {
      this.#groOffPending = false;
      return true;
    }
    if (this.#gro) return true;
    if (!enableGro(this.#addon, this.#handle)) return false;
    this.#gro = true;
    if (this.#slotSize < GRO_SLOT_SIZE) {
      // A slot must hold a whole GRO message, or the kernel cuts it short.
      this.#slotSize = GRO_SLOT_SIZE;
      this.#relayout = true;
    }
    return true;
  }

  // The kernel decides at enqueue whether a message stays coalesced, and
  // reports its segment size at read only while GRO is on: turned off with
  // coalesced messages queued, it would hand them over as one datagram of
  // all their bytes. So GRO goes off only when the queue is empty right
  // after the switch; otherwise it goes back on and this is tried again
  // after a read that emptied the queue. (A message another CPU was queueing
  // at that very moment, past its GRO check, can still slip through.)
  #finishGroOff(): void {
    if (!this.#groOffPending) return;
    if (this.#addon.setsockopt(this.#handle, abi.SOL_UDP, abi.UDP_GRO, 0) < 0) return;
    if (this.#queuedBytes() === 0) {
      this.#gro = false;
      this.#groOffPending = false;
      return;
    }
    this.#addon.setsockopt(this.#handle, abi.SOL_UDP, abi.UDP_GRO, 1);
  }

  /** The bytes the socket's receive queue holds (SO_MEMINFO's rmem_alloc, Linux 4.6), or -1 when unknown. */
  #queuedBytes(): number {
    const r = this.#addon.getsockoptBytes(this.#handle, abi.SOL_SOCKET, abi.SO_MEMINFO, this.#meminfo);
    return r >= 4 ? new DataView(this.#meminfo.buffer).getUint32(0, HOST_LITTLE_ENDIAN) : -1;
  }

  #registerReceiveMemory(): RecvMemory {
    const slots = this.#slots;
    // Mapped for this socket alone (see mapPages, and #release for when it
    // goes back): pages become resident only as the kernel writes them.
    const arena = Buffer.from(mapPages(this.#addon, slots * this.#slotSize));
    const names = new Uint8Array(slots * abi.SOCKADDR_SLOT);
    const controls = new Uint8Array(slots * this.#controlSize);
    const meta = new Int32Array(slots * abi.RECV_META_FIELDS);
    const ring = this.#addon.recvRing(arena, slots, this.#slotSize, names, controls, this.#controlSize, meta);
    if (typeof ring === 'number') throwSystemError(ring, 'recvRing');
    const view = new BatchView(arena, slots, this.#gro ? slots * 4 : slots, this.#config.metadata);
    view.copyBlock = this.#addon.copyBlock; // copyDatagrams's pooled blocks
    return { ring, arena, names, controlView: new DataView(controls.buffer), meta, view };
  }

  /**
   * Reads while `active()` holds, up to READ_BUDGET recvmmsg calls, handing
   * each read to the host; `stop()` when reading cannot go on. Returns
   * whether the host held the last read back (its deliver() returned false).
   */
  read(active: () => boolean, stop: () => void): boolean {
    for (let k = 0; k < READ_BUDGET && active(); k++) {
      if (this.#recv === null) return false;
      // A listener may have changed the slot size (setOffload) during the last delivery, or the last read grown the slots.
      let recv: RecvMemory;
      try {
        recv = this.#memory();
      } catch (err) {
        // No memory for the new layout (the old is kept, and asked for again
        // when reading restarts): reading stops, as a readable poll with no
        // read would wake the loop for ever.
        stop();
        this.#host.reportError(err as Error);
        return false;
      }
      const slots = this.#slots;
      let n: number;
      try {
        n = this.#addon.recvmmsg(this.#handle, recv.ring, slots);
      } catch (err) {
        // The addon checks the registered memory before it asks the kernel.
        // A listener that transferred or detached view.data.buffer makes it
        // unusable; nothing was read. Fresh memory, registered first, lets
        // the socket read on whatever the error's listeners do. Anything
        // else would recur on every wake-up: reading stops instead.
        if (recv.arena.byteLength > 0) {
          stop();
          this.#host.reportError(err as Error);
          return false;
        }
        this.#addon.ringRelease(recv.ring);
        this.#recv = this.#registerReceiveMemory();
        this.#host.reportError(receiveMemoryError(err as Error));
        return false;
      }
      if (n < 0) {
        if (n !== -EAGAIN && !this.#metIcmpError(n)) this.#host.reportError(systemError(n, 'recvmmsg'));
        else this.#finishGroOff();
        return false;
      }
      this.#counts.recvCalls++;
      try {
        this.#fill(recv, n);
      } catch (err) {
        // A control message the kernel should never write (ControlMessageError):
        // an error of this read, as a failed recvmmsg would be, not a crash.
        this.#host.reportError(err as Error);
        return false;
      }
      recv.view.live = true;
      let more: boolean;
      try {
        more = this.#host.deliver(recv.view);
      } finally {
        recv.view.live = false;
        // A listener closed the socket: the arena kept for the listeners after it goes back now.
        if (this.#recv !== recv) this.#addon.releasePages(recv.arena.buffer as ArrayBuffer);
      }
      // Fewer messages than asked for: the queue is empty, skip the EAGAIN call.
      if (n < slots) {
        this.#finishGroOff();
        return !more;
      }
      // A full read: more may be queued than the slots take.
      if (slots < this.#config.batchSize) {
        this.#slots = Math.min(2 * slots, this.#config.batchSize);
        this.#relayout = true;
      }
      // A consumer that runs on promise jobs (for await), or the drop-in's
      // listeners, one callback scope per datagram, see this read only once
      // the wake-up ends: reading on would pile reads up ahead of them, and
      // keep timers waiting while it does. The poll is level-triggered, so
      // the next loop turn reads on.
      if (!more) return true;
    }
    return false;
  }

  // Turns the kernel's per-message results into the view's messages.
  #fill(recv: RecvMemory, n: number): void {
    const { view, meta, controlView } = recv;
    const rx = this.#gro;
    const size = this.#controlSize;
    const { ecn, localAddress, timestamps, originalDestination } = this.#config.metadata;
    const control = this.#control;
    let datagrams = 0, bytes = 0;
    let overflows = -1; // the newest SO_RXQ_OVFL value of this read
    for (let m = 0; m < n; m++) {
      const len = Math.min(recvMeta(meta, m, RecvMeta.Length), this.#slotSize);
      const flags = recvMeta(meta, m, RecvMeta.Flags);
      const start = m * size, end = start + Math.min(recvMeta(meta, m, RecvMeta.ControlLength), size);
      // One walk over the message's control data reads all it carries.
      readReceiveControl(controlView, start, end, control);
      const seg = rx ? control.groSegmentSize : 0;
      if (control.rxqOverflows >= 0) overflows = control.rxqOverflows;
      if ((flags & abi.MSG_CTRUNC) !== 0) this.#counts.controlTruncated++;
      // A message without the data asked for reads as unmarked (ECN 0), an
      // empty local address, interface 0, time 0 and no original destination:
      // the kernel always sends them.
      if (ecn) view.messageEcn![m] = Math.max(0, control.ecn);
      if (localAddress) {
        const found = control.hasPacketInfo;
        view.messageLocalAddress![m] = found ? this.#localAddressText() : '';
        view.messageInterfaceIndex![m] = found ? control.packetInfo.interfaceIndex : 0;
      }
      if (timestamps) view.messageTimestamp![m] = control.timestamp < 0n ? 0n : control.timestamp;
      if (originalDestination) view.messageOriginalDestination![m] = control.hasOriginalDestination ? this.#originalDestination() : undefined;
      view.messageOffsets[m] = m * this.#slotSize;
      view.messageLengths[m] = len;
      view.segmentSizes[m] = seg > 0 && seg < len ? seg : 0;
      const truncated = (flags & abi.MSG_TRUNC) !== 0 ? 1 : 0;
      view.messageTruncated[m] = truncated;
      this.#counts.truncated += truncated;
      view.peers[m] = this.#peerOf(recv.names, m, recvMeta(meta, m, RecvMeta.NameLength));
      datagrams += segmentCount(len, view.segmentSizes[m]);
      bytes += len;
    }
    this.#countOverflows(overflows);
    view.setMessages(n, datagrams);
    this.#counts.datagramsIn += datagrams;
    this.#counts.bytesIn += bytes;
    this.#counts.messagesIn += n;
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

  // SO_RXQ_OVFL is cumulative, so only the newest value a read carries matters.
  #countOverflows(current: number): void {
    if (this.#config.counter === undefined) return;
    if (current < 0 || current === this.#lastOverflows) return;
    const delta = counterDelta(this.#lastOverflows, current);
    this.#config.counter.add(delta);
    this.#counts.rxqOverflows += delta;
    this.#lastOverflows = current;
    publish(channels.drops, () => ({ ...this.#subject(), dropped: delta, total: this.#counts.rxqOverflows }));
  }

  // The ring, and the arena's pages unless a listener is being handed the
  // view: those who come after it still read it (read() gives it back then).
  #release(recv: RecvMemory): void {
    this.#addon.ringRelease(recv.ring);
    if (!recv.view.live) this.#addon.releasePages(recv.arena.buffer as ArrayBuffer);
  }

  /** Gives back the receive memory, native and JavaScript, even while the socket object lives on. */
  close(): void {
    if (this.#recv !== null) this.#release(this.#recv);
    this.#recv = null;
  }
}
