// Automatic batching for the dgram-compatible socket: single-datagram sends
// issued in one turn of the event loop are collected per destination and
// handed to the engine in one write, so a thousand `send` calls to any
// number of peers become a few sendmmsg calls (and, where sizes allow, GSO
// messages). Each send still gets
// its own result, and the results of one flush are handed out together in
// the order the sends were issued, as dgram's arrive.
//
// A datagram's bytes are copied when it is collected, which is when dgram
// would have handed them to the kernel: the caller may reuse its buffer at
// once, as with dgram. The copies lie back to back in arena blocks, so a
// run of them travels as one iovec.
import type { Engine, WriteError, WriteJob } from '../engine/contract';
import { GSODisabledError, isNotRunning } from '../errors';
import { formatAddress, type ParsedAddress } from '../wire/sockaddr';

/** A send's result: (null, bytes) when the kernel took the datagram, (err) when not. */
export type SendDone = (err: Error | null, bytes?: number) => void;

/** Where one send's result goes, and the result once it is known. */
interface Outcome {
  done: SendDone | null;
  err: Error | null;
  bytes: number;
  /** The socket closed before the kernel took it: reported after 'close', as libuv does. */
  cancelled: boolean;
}

/** The sends of one flush; their results go out once the last chunk settles. */
interface Round {
  outcomes: Outcome[];
  /** Chunks of this round not yet settled. */
  pending: number;
}

/** The sends collected for one destination, in the order they were issued. */
interface Group {
  dest: ParsedAddress | null;
  port: number;
  maxPayload: number;
  datagrams: Uint8Array[];
  outcomes: Outcome[];
}

/**
 * Bytes of one arena block. A block is only ever appended to, never reused:
 * the datagrams in it are views the engine reads until their write settles,
 * and the block is freed with the last of them. A datagram larger than this
 * (only an oversized one, which the kernel refuses) gets a block of its own.
 */
const ARENA_BLOCK = 65536;

/** One engine write: a round's datagrams to every destination, each destination's a group of its own. */
interface Chunk {
  job: WriteJob;
  outcomes: Outcome[];
  bytes: number;
  round: Round;
}

/**
 * Collects sends and hands them to the engine as chunks, all at once when a
 * tick's work is done (or sooner, see flush). Each chunk's datagrams stand
 * alone (WriteJob.refused): one the kernel refuses fails by itself and the
 * engine goes on with the next, in the same turn, so order per destination
 * holds and nothing waits for a later tick.
 */
export class SendBatcher {
  readonly #engine: Pick<Engine, 'write' | 'queuedDatagrams'>;
  #groups = new Map<string, Group>();
  #round: Round | null = null;
  #collected = 0;
  #collectedBytes = 0;
  readonly #inFlight = new Set<Chunk>();
  #closing = false;
  /** Rounds flushed whose results are not all out yet. */
  #unsettled = 0;
  #onClosed: (() => void) | null = null;
  readonly #cancelled: Outcome[] = [];
  #block: Buffer | null = null;
  #used = 0;

  constructor(engine: Pick<Engine, 'write' | 'queuedDatagrams'>) {
    this.#engine = engine;
  }

  /**
   * Collects one datagram, the concatenation of `parts`, for `dest`:`port`
   * (null: the connected peer); it is written when the current tick's work
   * is done. `maxPayload` is the destination family's payload limit, the
   * bound of one GSO message.
   */
  add(dest: ParsedAddress | null, port: number, maxPayload: number, parts: readonly Uint8Array[], done: SendDone | null): void {
    const datagram = this.#copy(parts);
    const outcome: Outcome = { done, err: null, bytes: datagram.length, cancelled: false };
    this.#current().outcomes.push(outcome);
    const key = dest === null ? '' : `${formatAddress(dest)}|${port}`;
    let g = this.#groups.get(key);
    if (g === undefined) {
      g = { dest, port, maxPayload, datagrams: [], outcomes: [] };
      this.#groups.set(key, g);
    }
    g.datagrams.push(datagram);
    g.outcomes.push(outcome);
    this.#collected++;
    this.#collectedBytes += datagram.length;
  }

  /** A send that failed before reaching the kernel: its result takes its turn among the others. */
  addFailed(done: SendDone, err: Error): void {
    this.#current().outcomes.push({ done, err, bytes: 0, cancelled: false });
  }

  #current(): Round {
    if (this.#round === null) {
      this.#round = { outcomes: [], pending: 0 };
      // Address lookups of this tick's sends complete as ticks queued
      // before this one, so the flush sees all of them.
      process.nextTick(() => this.flush());
    }
    return this.#round;
  }

  #copy(parts: readonly Uint8Array[]): Uint8Array {
    let total = 0;
    for (const p of parts) total += p.length;
    let block = this.#block;
    if (block === null || total > block.length - this.#used) {
      block = Buffer.allocUnsafeSlow(Math.max(total, ARENA_BLOCK));
      // An oversized datagram's block holds only it; the current block stays.
      if (total <= ARENA_BLOCK) {
        this.#block = block;
        this.#used = 0;
      }
    }
    let at = block === this.#block ? this.#used : 0;
    const start = at;
    for (const p of parts) {
      block.set(p, at);
      at += p.length;
    }
    if (block === this.#block) this.#used = at;
    return block.subarray(start, at);
  }

  /** Datagrams accepted by sends and not yet taken by the kernel. */
  get queuedDatagrams(): number {
    return this.#collected + this.#engine.queuedDatagrams;
  }

  /** Their bytes. */
  get queuedBytes(): number {
    let bytes = 0;
    for (const [c, unsent] of this.#unsent()) {
      const lengths = c.job.lengths;
      for (let i = lengths.length - unsent; i < lengths.length; i++) bytes += lengths[i];
    }
    return this.#collectedBytes + bytes;
  }

  /**
   * How many datagrams of each chunk in flight the engine still holds. The
   * engine sends its writes in order, so what it holds are the tails: of the
   * last chunks, counted back from the end.
   */
  #unsent(): Map<Chunk, number> {
    const unsent = new Map<Chunk, number>();
    let inEngine = this.#engine.queuedDatagrams;
    const inFlight = [...this.#inFlight];
    for (let c = inFlight.length - 1; c >= 0; c--) {
      const n = Math.min(inEngine, inFlight[c].outcomes.length);
      unsent.set(inFlight[c], n);
      inEngine -= n;
    }
    return unsent;
  }

  /**
   * Hands what was collected to the engine now, which gives the kernel what
   * it can take at once. Runs when the tick's work is done, and before any
   * call that changes what a send does (connect, disconnect, close, a socket
   * option): dgram would already have sent those datagrams, under the state
   * in force when send() ran.
   */
  flush(): void {
    const round = this.#round;
    if (round === null) return;
    this.#round = null;
    if (this.#groups.size > 0) this.#write(chunkOf([...this.#groups.values()], round));
    this.#groups.clear();
    this.#collected = 0;
    this.#collectedBytes = 0;
    this.#unsettled++;
    if (round.pending === 0) this.#dispatch(round);
  }

  /**
   * The socket is closing, and the engine closes next: hands everything to
   * the engine now, as dgram would have sent each datagram when its send
   * ran, and notes what the kernel has taken. The engine then rejects its
   * writes; the datagrams it still held are cancelled (ECANCELED in dgram).
   * `then` runs once the other results are out, so 'close' follows the
   * callbacks of sends that went, and precedes those of cancelled ones.
   */
  close(then: () => void): void {
    this.#closing = true;
    this.flush();
    if (this.#unsettled === 0) then();
    else this.#onClosed = then;
  }

  /**
   * Hands out a round's results in the order its sends were issued, each on
   * a tick of its own as dgram's callbacks are: one that throws reaches
   * uncaughtException without holding back the others.
   */
  #dispatch(round: Round): void {
    for (const o of round.outcomes) {
      if (o.done === null) continue;
      if (o.cancelled) this.#cancelled.push(o);
      else if (o.err === null) process.nextTick(o.done, null, o.bytes);
      else process.nextTick(o.done, o.err);
    }
    if (--this.#unsettled === 0 && this.#onClosed !== null) {
      const then = this.#onClosed;
      this.#onClosed = null;
      then();
      for (const o of this.#cancelled.splice(0)) process.nextTick(o.done!, o.err);
    }
  }

  #write(c: Chunk): void {
    c.round.pending++;
    this.#inFlight.add(c);
    this.#engine.write(c.job).then(() => this.#settle(c, null), (err: Error) => this.#settle(c, err));
  }

  // Records the result of every send of the chunk.
  #settle(c: Chunk, err: Error | null): void {
    this.#inFlight.delete(c);
    const n = c.outcomes.length;
    const refused = c.job.refused!;
    for (let i = 0; i < n; i++) if (refused[i] !== undefined) c.outcomes[i].err = refused[i]!;
    const failure = err instanceof GSODisabledError ? err.cause : err; // cause null: all were tried
    if (failure !== null) {
      // A write that failed whole (the socket closed under it) took what the
      // kernel had accepted by then; dgram cancels the rest (ECANCELED).
      const sent = Math.min((failure as WriteError).datagramsSent ?? 0, n);
      const closed = this.#closing && isNotRunning(failure);
      for (let i = sent; i < n; i++) {
        c.outcomes[i].err = failure;
        c.outcomes[i].cancelled = closed;
      }
    }
    if (--c.round.pending === 0) this.#dispatch(c.round);
  }
}

/**
 * One write for every destination's sends of a round, each destination's in
 * the order they were issued: the engine sends it in as few sendmmsg calls as
 * it can (one per batchSize messages), each message to its own address.
 */
function chunkOf(groups: readonly Group[], round: Round): Chunk {
  const buffers: Uint8Array[] = [], lengths: number[] = [], of: number[] = [], outcomes: Outcome[] = [];
  let bytes = 0, maxPayload = Infinity;
  for (let k = 0; k < groups.length; k++) {
    const g = groups[k];
    maxPayload = Math.min(maxPayload, g.maxPayload);
    for (let i = 0; i < g.datagrams.length; i++) {
      buffers.push(g.datagrams[i]);
      bytes += lengths[lengths.push(g.datagrams[i].length) - 1];
      of.push(k);
      outcomes.push(g.outcomes[i]);
    }
  }
  return {
    // The copies are ours until the write settles: nothing is borrowed.
    job: {
      buffers, start: 0, offsets: null, lengths, borrowed: false, dest: null, port: 0, maxPayload,
      refused: new Array<Error | undefined>(lengths.length),
      groups: { of, to: groups.map((g) => ({ dest: g.dest, port: g.port, header: undefined })) },
    },
    outcomes,
    bytes,
    round,
  };
}
