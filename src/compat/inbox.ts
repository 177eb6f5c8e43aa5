// A drop-in socket's reads, as the engine hands them over (its EngineHost):
// the datagrams of a read kept back and emitted one 'message' each, and a
// read's errors emitted as dgram names them.
//
// dgram hands out each datagram in a callback of the event loop of its own
// (UDPWrap::OnRecv, one MakeCallback each), in memory of its own: its
// listeners' nextTicks and promise jobs run before the next datagram, and a
// message's buffer holds that datagram alone, at offset 0 (libraries read
// msg.buffer, as osc does for blobs). So a read is copied out here, one
// ArrayBuffer per datagram, while the view is live, and the datagrams wait;
// the engine ends the wake-up and hands them out one per callback scope
// (deliverNext), before it reads again.
import type * as dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';
import type { BlockList } from 'node:net';
import type { BatchView } from '../batch';
import type { EngineHost } from '../engine/contract';
import { systemError, type SystemError } from '../errors';
import { nodeAddress } from './address';
import { receiveBlocked } from './block-lists';

export class Inbox implements EngineHost {
  readonly #socket: EventEmitter;
  readonly #receiveBlockList: BlockList | undefined;
  /** Whether the socket is closed. */
  readonly #closed: () => boolean;
  /**
   * The datagrams of the read being handed out and their rinfos, in slots
   * [#at, #count); those handed out are nulled. Kept from read to read, as
   * large as the largest read: made anew for each read, they grew element by
   * element to 16 384 (a read of 64 B datagrams with GRO), in V8's
   * large-object space, which cost a fifth of the receiver's CPU in growing
   * them and faulting their pages in.
   */
  readonly #messages: Array<Buffer | null> = [];
  readonly #infos: Array<dgram.RemoteInfo | null> = [];
  #count = 0;
  /** Where the next datagram to hand out lies. */
  #at = 0;
  /** Told when a read's last datagram was handed out (the send batcher's held flush). */
  #handedOut: () => void = () => {};

  constructor(socket: EventEmitter, receiveBlockList: BlockList | undefined, closed: () => boolean) {
    this.#socket = socket;
    this.#receiveBlockList = receiveBlockList;
    this.#closed = closed;
  }

  /** Copies out the view's datagrams, unless nothing listens; returns whether the inbox is empty. */
  deliver(view: BatchView): boolean {
    if (this.#closed() || this.#socket.listenerCount('message') === 0) return true;
    const { data, offsets, lengths, message, peers } = view; // getters: read once, not per datagram
    const messages = this.#messages, infos = this.#infos;
    let n = this.#count;
    for (let i = 0; i < view.count; i++, n++) {
      const at = offsets[i], len = lengths[i];
      const msg = Buffer.allocUnsafeSlow(len);
      msg.set(data.subarray(at, at + len));
      const peer = peers[message[i]];
      messages[n] = msg;
      infos[n] = { address: nodeAddress(peer.address), family: peer.family, port: peer.port, size: len };
    }
    this.#count = n;
    return this.waiting() === 0;
  }

  /**
   * Emits the next datagram deliver() kept; returns how many still wait.
   * What a listener throws goes to the engine's caller, and on to the
   * process.
   */
  deliverNext(): number {
    const at = this.#at;
    if (this.#closed() || at >= this.#count) {
      this.clear();
      return 0;
    }
    const msg = this.#messages[at]!, rinfo = this.#infos[at]!;
    this.#messages[at] = this.#infos[at] = null; // nothing is kept once handed out
    this.#at = at + 1;
    // The last one: the slots are free for the next read. The engine calls
    // no more once none waits, so waiting for a call that finds none would
    // put every later read after this one's slots, for the socket's life.
    if (this.#at === this.#count) this.clear();
    try {
      // Asked per datagram as it is handed out, as dgram asks it: the list may change meanwhile.
      if (!receiveBlocked(this.#receiveBlockList, rinfo)) this.#socket.emit('message', msg, rinfo);
    } finally {
      if (this.waiting() === 0) this.#handedOut();
    }
    return this.waiting();
  }

  /** `then` runs after each read's last datagram was handed out. */
  onHandedOut(then: () => void): void {
    this.#handedOut = then;
  }

  /** Datagrams kept and not handed out (after a clear() inside a listener, none). */
  waiting(): number {
    return this.#count - this.#at;
  }

  /** Drops what waits (the socket closed), and starts the slots again from the first. */
  clear(): void {
    this.#messages.fill(null, this.#at, this.#count);
    this.#infos.fill(null, this.#at, this.#count);
    this.#count = this.#at = 0;
  }

  reportError(err: Error): void {
    const e = err as SystemError;
    // dgram reads with recvmsg; an ICMP error on a connected socket carries that name there.
    this.#socket.emit('error', e.syscall === 'recvmmsg' ? systemError(e.errno, 'recvmsg') : err);
  }

  // The drop-in never asks for the error queue: dgram reports ICMP errors on connected sockets only.
  reportIcmpError(): void {}
}
