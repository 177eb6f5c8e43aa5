// The batch path on Linux: a socket of the addon, readiness from uv_poll (or
// the addon's thread where the runtime has no libuv loop: kernel/runtime.ts),
// and the two sides that do the work, Receiver (recv.ts) and Sender
// (send.ts), over memory registered once with the addon. bind.ts makes it.
import { constants } from 'node:os';
import { systemError, throwSystemError } from '../../errors';
import type { NativeBinding, SocketHandle } from '../../kernel/native';
import { abi } from '../../wire/abi';
import { gsoSegmentLimit, probeOffload } from '../../kernel/support';
import { uvLoop } from '../../kernel/runtime';
import type { CapabilityState } from '../capabilities';
import { decodeSockaddr, encodeSockaddr, endpointText, formatAddress, type ParsedAddress, type SocketAddress } from '../../wire/sockaddr';
import { emptyCounts, type Engine, type EngineHost, type IcmpError, type OffloadSettings, type SocketStats, type TrafficCounts, type WriteJob } from '../contract';
import { MulticastOptions } from '../multicast';
import { channels, publish } from '../../diagnostics';
import { rethrow } from '../../listeners';
import { receiveControlSize, ERROR_CONTROL_SIZE } from '../../wire/cmsg';
import { ErrorQueue, ICMP_ERRNOS, ICMP_ONLY_ERRNOS } from './errqueue';
import { Receiver, type ReceiverConfig } from './recv';
import { Sender, type SenderConfig } from './send';

const { EMSGSIZE, ENOTCONN } = constants.errno;

const POLL_READABLE = 1;
const POLL_WRITABLE = 2;
const POLL_PRIORITIZED = abi.UV_PRIORITIZED;

export class LinuxEngine implements Engine {
  /** The sender takes TX offload back when the kernel refuses GSO (EIO); setOffload switches both offloads. */
  readonly capabilities: CapabilityState;
  readonly #counts: TrafficCounts = emptyCounts();
  readonly multicast = new MulticastOptions(this);
  readonly #addon: NativeBinding;
  readonly #handle: SocketHandle;
  readonly #host: EngineHost;
  readonly #scratch = new Int32Array(1);
  readonly #addrScratch = new Uint8Array(abi.SOCKADDR_SLOT);
  readonly #receiver: Receiver;
  readonly #sender: Sender;
  /** The error queue's reader, with receiveErrors. */
  readonly #errors: ErrorQueue | null;
  #events = 0;
  /** The caller's setRef, and whether the poll handle holds the event loop now (libuv's default at start). */
  #ref = true;
  #holding = true;
  #reading = false;
  #closed = false;

  constructor(b: NativeBinding, s: SocketHandle, capabilities: CapabilityState, recv: ReceiverConfig, send: SenderConfig,
    host: EngineHost) {
    this.capabilities = capabilities;
    this.#addon = b;
    this.#handle = s;
    this.#host = host;
    const subject = () => ({ socket: host.socket, address: this.#localName() });
    this.#errors = capabilities.icmpErrors ? new ErrorQueue(b, s, receiveControlSize(recv.metadata) + ERROR_CONTROL_SIZE) : null;
    this.#receiver = new Receiver(b, s, recv, capabilities, this.#counts, host, subject, (n) => this.#readMetIcmpError(n));
    this.#sender = new Sender(b, s, send, capabilities, this.#counts, {
      localName: () => this.#localName(),
      subject,
      queueChanged: () => this.#updatePoll(),
      // Inside a write: the events wait for the write's own call to return.
      retryAfter: (negErrno) => this.#retryAfter(negErrno),
      // On loopback a refused datagram's ICMP error comes back inside the
      // call that sent it, and stops that sendmmsg at the next message: each
      // call then sends one datagram and queues one error. Reading the queue
      // between the calls keeps room in the receive buffer, which the queue
      // is charged to, so every error is queued rather than dropped.
      shortSend: () => { if (this.#errors !== null) this.#takeErrors(this.#announceLater); },
    });
    this.#readTrafficClass();
    const r = b.pollStart(s, (status, events) => this.#onPoll(status, events), uvLoop);
    if (r < 0) throwSystemError(r, 'uv_poll_start');
    this.#updatePoll();
  }

  /**
   * Reads the error queue, hands each entry to `report`, and says whether one
   * came from the network. The kernel queues an ICMP error's entry, when the
   * receive buffer has room, before it sets the socket's pending error to the
   * same errno (__udp4_lib_err, __udp6_lib_err), and taking the queue's last
   * entry clears the pending error (sock_dequeue_err_skb): so a pending ICMP
   * error that was taken, followed by a read that finds no entry from the
   * network, is one the kernel had no room to queue. No other trace of one is
   * left: sock_queue_err_skb counts no drop (not in sk_drops, nor in any SNMP
   * counter), and the pending error is one slot that each error overwrites.
   */
  #takeErrors(report: (e: IcmpError) => void): boolean {
    let fromNetwork = false;
    for (const e of this.#errors?.drain() ?? []) {
      this.#counts.icmpErrors++;
      if (e.origin !== 'local') fromNetwork = true;
      report(e);
    }
    return fromNetwork;
  }

  #announce(e: IcmpError): void {
    publish(channels.icmpError, () => ({ socket: this.#host.socket, address: this.#localName(), error: e }));
    this.#host.reportIcmpError(e);
  }

  /**
   * With the error queue on, the kernel also hands an ICMP error to the
   * socket's next call (sock_error), which then fails having done nothing:
   * whether a call that failed with `negErrno` should be made again. The
   * queue is read first; its entries are announced on the next tick, as the
   * call is inside a write. EMSGSIZE is also this very call's own refusal
   * (don't-fragment, queued as a local entry): only an entry from the network
   * says it was an earlier datagram's. Anything else ICMP-like is retried
   * even when the queue was empty: the kernel keeps the error as pending
   * alone when it has no room to queue it. Only an errno no send fails with by
   * itself proves that it took such an error, which is then counted.
   */
  #retryAfter(negErrno: number): boolean {
    if (this.#errors === null || !ICMP_ERRNOS.has(negErrno)) return false;
    const queued = this.#takeErrors(this.#announceLater);
    if (!queued && ICMP_ONLY_ERRNOS.has(negErrno)) this.#counts.icmpErrorsDropped++;
    return queued || negErrno !== -EMSGSIZE;
  }

  readonly #announceLater = (e: IcmpError) => process.nextTick(() => {
    if (!this.#closed) this.#announce(e);
  });

  /** A read failed with an ICMP error (recvmmsg takes the pending one too); false when the queue is off. */
  #readMetIcmpError(negErrno: number): boolean {
    if (this.#errors === null || !ICMP_ERRNOS.has(negErrno)) return false;
    // Its entry is read with the queue's next priority event, unless the kernel had no room to queue it.
    if (!this.#takeErrors(this.#announceLater)) this.#counts.icmpErrorsDropped++;
    return true;
  }

  get stats(): SocketStats {
    const [copyBlocksHeld, copyBlocksFree] = this.#addon.copyBlocks();
    return { ...this.#counts, gsoDisabled: this.capabilities.gsoDisabled, copyBlocksHeld, copyBlocksFree };
  }

  setSteering(program: Uint8Array | null): void {
    if (program !== null) {
      const r = this.#addon.attachSteering(this.#handle, program);
      if (r < 0) throwSystemError(r, 'setsockopt SO_ATTACH_REUSEPORT_CBPF');
      return;
    }
    // ENOENT: no program was attached, which is what was asked for.
    const r = this.#addon.setsockopt(this.#handle, abi.SOL_SOCKET, abi.SO_DETACH_REUSEPORT_BPF, 0);
    if (r < 0 && r !== -constants.errno.ENOENT) throwSystemError(r, 'setsockopt SO_DETACH_REUSEPORT_BPF');
  }

  setOffload(o: OffloadSettings): void {
    if (this.#closed) return;
    this.#sender.setEqualTail(o);
    if (o.gso !== undefined) {
      // Asked of the kernel again, as at open: UDP_SEGMENT is known, or GSO stays off.
      const tx = o.gso && probeOffload(this.#addon, this.#handle, true, false).tx;
      this.capabilities.setTxOffload(tx, tx ? gsoSegmentLimit() : 1);
    }
    if (o.gro !== undefined) this.#receiver.setGro(o.gro);
  }

  get queuedDatagrams(): number { return this.#sender.queuedDatagrams; }

  address(): SocketAddress {
    const r = this.#addon.getsockname(this.#handle, this.#addrScratch);
    if (r < 0) throwSystemError(r, 'getsockname');
    return decodeSockaddr(this.#addrScratch, 0);
  }

  remoteAddress(): SocketAddress | null {
    const r = this.#addon.getpeername(this.#handle, this.#addrScratch);
    if (r === -ENOTCONN) return null;
    if (r < 0) throwSystemError(r, 'getpeername');
    return decodeSockaddr(this.#addrScratch, 0);
  }

  connect(dest: ParsedAddress, port: number): void {
    const len = encodeSockaddr(this.#addrScratch, 0, dest, port);
    const r = this.#addon.connect(this.#handle, this.#addrScratch, len);
    if (r < 0) throwSystemError(r, 'connect', formatAddress(dest), port);
    this.#sender.peerChanged();
  }

  disconnect(): void {
    const r = this.#addon.connect(this.#handle, this.#addrScratch, 0);
    if (r < 0) throwSystemError(r, 'connect');
    this.#sender.peerChanged();
  }

  getRecvBufferSize(): number { return this.getIntOption(abi.SOL_SOCKET, abi.SO_RCVBUF, 'SO_RCVBUF'); }
  getSendBufferSize(): number { return this.getIntOption(abi.SOL_SOCKET, abi.SO_SNDBUF, 'SO_SNDBUF'); }

  getIntOption(level: number, name: number, what: string): number {
    const r = this.#addon.getsockopt(this.#handle, level, name, this.#scratch);
    if (r < 0) throwSystemError(r, `getsockopt ${what}`);
    return this.#scratch[0];
  }

  setIntOption(level: number, name: number, value: number, what: string): void {
    const r = this.#addon.setsockopt(this.#handle, level, name, value);
    if (r < 0) throwSystemError(r, `setsockopt ${what}`);
    this.#optionSet(level, name);
  }

  setBytesOption(level: number, name: number, value: Uint8Array, what: string): void {
    const r = this.#addon.setsockoptBytes(this.#handle, level, name, value, value.length);
    if (r < 0) throwSystemError(r, `setsockopt ${what}`);
    this.#optionSet(level, name);
  }

  // A caller's setSocketOption may change the TOS byte or traffic class
  // behind the bind option: the sender's copy follows.
  #optionSet(level: number, name: number): void {
    if ((level === abi.IPPROTO_IP && name === abi.IP_TOS) || (level === abi.IPPROTO_IPV6 && name === abi.IPV6_TCLASS)) {
      this.#readTrafficClass();
    }
  }

  // The socket's own TOS byte and traffic class, whose DSCP bits a write's
  // ECN keeps (send-memory.ts). Each is the kernel's, whoever set it: the
  // bind option, an adopted socket's owner, setSocketOption. An option the
  // socket's family lacks reads as 0.
  #readTrafficClass(): void {
    const read = (level: number, name: number) => (this.#addon.getsockopt(this.#handle, level, name, this.#scratch) < 0 ? 0 : this.#scratch[0]);
    this.#sender.setSocketTrafficClass(read(abi.IPPROTO_IP, abi.IP_TOS), read(abi.IPPROTO_IPV6, abi.IPV6_TCLASS));
  }

  getBytesOption(level: number, name: number, byteLength: number, what: string): Uint8Array {
    const out = new Uint8Array(byteLength);
    const r = this.#addon.getsockoptBytes(this.#handle, level, name, out);
    if (r < 0) throwSystemError(r, `getsockopt ${what}`);
    return out.subarray(0, r);
  }

  // The family is the kernel socket's own, which getsockname tells: an
  // adopted descriptor's may differ from the type its socket was asked for.
  setFamilyOption(v4: number, v6: number, value: number, what: string): void {
    if (this.address().family === 'IPv6') this.setIntOption(abi.IPPROTO_IPV6, v6, value, what);
    else this.setIntOption(abi.IPPROTO_IP, v4, value, what);
  }

  setRef(ref: boolean): void {
    this.#ref = ref;
    this.#updatePoll();
  }

  setReading(on: boolean): void {
    if (on) this.#receiver.prepare();
    this.#reading = on;
    this.#updatePoll();
  }

  write(job: WriteJob): Promise<void> {
    return this.#sender.write(job);
  }

  // Writability is asked for only while writes wait: a UDP socket is nearly
  // always writable, and a standing interest would wake the loop for nothing.
  // Queued errors are always of interest, read or not.
  #updatePoll(): void {
    if (this.#closed) return;
    const events = (this.#reading ? POLL_READABLE : 0) | (this.#sender.waitsForWritable ? POLL_WRITABLE : 0) |
      (this.#errors !== null ? POLL_PRIORITIZED : 0);
    if (events !== this.#events) {
      this.#events = events;
      this.#addon.pollUpdate(this.#handle, events);
    }
    // A poll kept for queued errors alone must not keep the process alive:
    // a socket that neither reads nor waits to write does not otherwise.
    const hold = this.#ref && (events & (POLL_READABLE | POLL_WRITABLE)) !== 0;
    if (hold !== this.#holding) {
      this.#holding = hold;
      this.#addon.pollRef(this.#handle, hold);
    }
  }

  /**
   * The poll's callback. It returns how many datagrams the host kept back to
   * hand out one per callback scope (EngineHost.deliverNext): the addon then
   * calls again with POLL_HAND_OUT, in a fresh scope, while the count it gets
   * back is positive.
   */
  #onPoll(status: number, events: number): number {
    if (status === abi.POLL_HAND_OUT) return this.#closed ? 0 : this.#host.deliverNext?.() ?? 0;
    if (this.#closed) return 0;
    // Every report is made, whatever one before it threw ('error' without a
    // listener, or an 'icmpError' listener); what they threw is rethrown last.
    let thrown: unknown[] | null = null;
    const report = (f: () => void) => {
      try {
        f();
      } catch (err) {
        (thrown ??= []).push(err);
      }
    };
    // Errors first: reading them clears the socket's pending error, which
    // would otherwise fail the next read or write in their place.
    if (this.#errors !== null && (events & POLL_PRIORITIZED || status < 0)) {
      // The pending error is taken before the queue is read, which would
      // clear it (see #takeErrors): one the kernel had no room to queue is
      // left as pending alone, and the poll would report it again at once.
      const pending = this.#pendingError();
      const queued = this.#takeErrors((e) => report(() => this.#announce(e)));
      if (pending !== 0 && ICMP_ERRNOS.has(pending)) {
        if (!queued) this.#counts.icmpErrorsDropped++;
      } else if (pending !== 0) {
        report(() => this.#host.reportError(systemError(pending, 'recvmmsg')));
      }
    }
    if (status < 0) {
      // On POLLERR libuv stops the poll and reports EBADF. Without the error
      // queue, the socket's own pending error (an ICMP error on a connected
      // socket, say) is the real news: take it (reading SO_ERROR clears it)
      // and poll again.
      const pending = this.#errors === null ? this.#pendingError() : 0;
      this.#events = 0;
      this.#updatePoll();
      if (this.#errors === null) {
        report(() => this.#host.reportError(pending !== 0 ? systemError(pending, 'recvmmsg') : systemError(status, 'uv_poll')));
      }
      rethrow(thrown);
      return 0;
    }
    if (events & POLL_WRITABLE) this.#sender.pump();
    const heldBack = (events & POLL_READABLE) !== 0 &&
      this.#receiver.read(() => this.#reading && !this.#closed, () => this.setReading(false));
    rethrow(thrown);
    return heldBack ? this.#host.waiting?.() ?? 0 : 0;
  }

  /** The socket's pending error (SO_ERROR, which reading clears) as a negative errno, or 0. */
  #pendingError(): number {
    const r = this.#addon.getsockopt(this.#handle, abi.SOL_SOCKET, abi.SO_ERROR, this.#scratch);
    return r === 0 && this.#scratch[0] > 0 ? -this.#scratch[0] : 0;
  }

  #localName(): string {
    return endpointText(this.address());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#addon.close(this.#handle);
    this.#sender.close();
    this.#receiver.close();
    this.#errors?.close();
  }
}
