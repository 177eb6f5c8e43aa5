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
// run of them travels as one iovec, and a block is used again once the
// kernel has taken every datagram in it.
import { constants } from 'node:os';
import type { Engine, WriteError, WriteJob } from '../engine/contract';
import { errorWithHostPort, GSODisabledError, isNotRunning } from '../errors';
import type { Destination } from './destinations';

/** A send's callback, as dgram's: (null, bytes) when the kernel took the datagram, (err) when not. */
export type SendCallback = (err: Error | null, bytes?: number) => void;

/**
 * What the socket makes of an error the engine reported for one send, given
 * the address and port the send named (dgram's errors carry them).
 */
export type SendError = (err: Error, address: string | undefined, port: unknown) => Error;

const { ECANCELED } = constants.errno;

/**
 * A send's error as libuv's: a send the socket's close cut short is
 * ECANCELED. One that is not the kernel's (no errno) goes to the callback as
 * it is: errors are built for a whole write at once, and a throw here would
 * cost every send of the write its callback.
 */
export const dgramSendError: SendError = (err, address, port) => {
  if (isNotRunning(err)) return errorWithHostPort(-ECANCELED, 'send', address, port);
  const errno = (err as { errno?: unknown }).errno;
  return typeof errno === 'number' ? errorWithHostPort(errno, 'send', address, port) : err;
};

/** Where one send's result goes, and the result once it is known. Only sends with a callback have one. */
interface Outcome {
  callback: SendCallback;
  /** The send's own address and port arguments, for its error. */
  address: string | undefined;
  port: unknown;
  err: Error | null;
  bytes: number;
  /** The socket closed before the kernel took it: reported after 'close', as libuv does. */
  cancelled: boolean;
}

/**
 * Bytes of one arena block. A block is appended to until it is full; it is
 * used again from its start once no write in flight has a datagram in it.
 * A datagram larger than this (only an oversized one, which the kernel
 * refuses) gets an allocation of its own.
 */
const ARENA_BLOCK = 65536;

/**
 * Free blocks a socket keeps for reuse (1 MiB): more than a round of a
 * request/response server's 512 replies in flight at 1200 B needs. Blocks
 * freed beyond it are left to the garbage collector, so a burst does not
 * stay reserved.
 */
const MAX_FREE_BLOCKS = 16;

interface Block {
  bytes: Buffer;
  /** Rounds with datagrams in this block whose write has not settled. */
  users: number;
}

/** The sends of one flush; their results go out once its write settles. */
interface Round {
  /** The results to hand out, in the order the sends were issued. */
  outcomes: Outcome[];
  /** The blocks its datagrams lie in. */
  blocks: Block[];
  /** Writes of this round not yet settled (0 or 1). */
  pending: number;
}

/** A destination of one round's sends. */
interface Group {
  dest: Destination | null;
  port: number;
  maxPayload: number;
  /** Its datagrams this round. */
  count: number;
}

/** One engine write: a round's datagrams to every destination, each destination's a group of its own. */
interface Chunk {
  job: WriteJob;
  /** Per datagram of the job, null for a send without a callback. */
  outcomes: Array<Outcome | null>;
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
  readonly #sendError: SendError;
  /** This round's destinations, in the order they were first sent to, and their index by destination id and port. */
  #groups: Group[] = [];
  readonly #groupIndex = new Map<number, number>();
  // The datagrams collected this round, in the order they were issued:
  // datagram i is #buffers[i][#offsets[i], + #lengths[i]) for #groups[#of[i]].
  // The arrays are kept from round to round (the first #collected entries
  // are this round's), so collecting a send allocates nothing; each write
  // gets arrays of its own, of its exact size, made at once.
  readonly #buffers: Array<Uint8Array | null> = [];
  readonly #offsets: number[] = [];
  readonly #lengths: number[] = [];
  readonly #of: number[] = [];
  readonly #outcomes: Array<Outcome | null> = [];
  #round: Round | null = null;
  #collected = 0;
  #collectedBytes = 0;
  readonly #inFlight = new Set<Chunk>();
  #closing = false;
  /** Rounds flushed whose results are not out yet, in flush order. */
  readonly #flushed: Round[] = [];
  #onClosed: (() => void) | null = null;
  readonly #cancelled: Outcome[] = [];
  #block: Block | null = null;
  #used = 0;
  readonly #free: Block[] = [];

  /** Whether the socket is handing out a read's datagrams, one callback scope each (Inbox). */
  readonly #handingOut: () => boolean;
  /** A tick's flush waits for the read's last datagram to be handed out (see #tickFlush). */
  #held = false;

  constructor(engine: Pick<Engine, 'write' | 'queuedDatagrams'>, sendError: SendError, handingOut: () => boolean = () => false) {
    this.#engine = engine;
    this.#sendError = sendError;
    this.#handingOut = handingOut;
  }

  /**
   * Collects one datagram, `bytes` or the concatenation of its parts, for
   * `dest`:`port` (null: the connected peer); it is written when the
   * current tick's work is done. `maxPayload` is the destination family's
   * payload limit, the bound of one GSO message. `address` and `sendPort`,
   * as the send named them, go into its error.
   */
  add(dest: Destination | null, port: number, maxPayload: number, bytes: Uint8Array | readonly Uint8Array[],
    callback: SendCallback | null, address: string | undefined, sendPort: unknown): void {
    const round = this.#current();
    const i = this.#collected++;
    // The key of a destination and port: ids count from 0, ports are 16 bits.
    const key = dest === null ? -1 : dest.id * 65536 + port;
    let k = this.#groupIndex.get(key);
    if (k === undefined) {
      k = this.#groups.push({ dest, port, maxPayload, count: 0 }) - 1;
      this.#groupIndex.set(key, k);
    }
    this.#groups[k].count++;
    this.#of[i] = k;
    const length = this.#copy(bytes, round, i);
    this.#collectedBytes += length;
    if (callback === null) {
      this.#outcomes[i] = null;
      return;
    }
    const outcome: Outcome = { callback, address, port: sendPort, err: null, bytes: length, cancelled: false };
    round.outcomes.push(outcome);
    this.#outcomes[i] = outcome;
  }

  /** A send that failed before reaching the kernel: its result takes its turn among the others. */
  addFailed(callback: SendCallback, err: Error): void {
    this.#current().outcomes.push({ callback, address: undefined, port: undefined, err, bytes: 0, cancelled: false });
  }

  #current(): Round {
    if (this.#round === null) {
      this.#round = { outcomes: [], blocks: [], pending: 0 };
      // Address lookups of this tick's sends complete as ticks queued
      // before this one, so the flush sees all of them.
      process.nextTick(this.#tickFlush);
    }
    return this.#round;
  }

  // Copies datagram i to the end of the arena, and notes where it lies.
  // Returns its length.
  #copy(bytes: Uint8Array | readonly Uint8Array[], round: Round, i: number): number {
    let total = 0;
    if (bytes instanceof Uint8Array) total = bytes.length;
    else for (const p of bytes) total += p.length;
    let target: Buffer, at: number;
    if (total > ARENA_BLOCK) {
      // An oversized datagram has an allocation of its own; the current block stays.
      target = Buffer.allocUnsafeSlow(total);
      at = 0;
    } else {
      let block = this.#block;
      if (block === null || total > ARENA_BLOCK - this.#used) {
        block = this.#block = this.#free.pop() ?? { bytes: Buffer.allocUnsafeSlow(ARENA_BLOCK), users: 0 };
        this.#used = 0;
      }
      if (round.blocks[round.blocks.length - 1] !== block) {
        round.blocks.push(block);
        block.users++;
      }
      target = block.bytes;
      at = this.#used;
      this.#used += total;
    }
    this.#buffers[i] = target;
    this.#offsets[i] = at;
    this.#lengths[i] = total;
    if (bytes instanceof Uint8Array) target.set(bytes, at);
    else for (const p of bytes) { target.set(p, at); at += p.length; }
    return total;
  }

  // The round's write settled: the kernel is done with its blocks.
  #release(round: Round): void {
    for (const b of round.blocks) {
      if (--b.users > 0) continue;
      if (b === this.#block) this.#used = 0;
      else if (this.#free.length < MAX_FREE_BLOCKS) this.#free.push(b);
    }
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
    this.#held = false;
    if (round === null) return;
    this.#round = null;
    if (this.#collected > 0) this.#write(this.#chunk(round));
    this.#groups = [];
    this.#groupIndex.clear();
    this.#collected = 0;
    this.#collectedBytes = 0;
    this.#flushed.push(round);
    this.#dispatchSettled();
  }

  // The tick's flush. A read's datagrams are handed out one callback scope
  // each, as dgram does, and each scope ends with its ticks: a server that
  // answers every request would flush one datagram per write. While datagrams
  // of the read wait, the flush waits for the last (handedOut): the answers
  // to one read go in one write, each still after the send that made it and
  // before any call that changes what a send does (those flush first).
  readonly #tickFlush = (): void => {
    if (this.#round !== null && this.#handingOut()) this.#held = true;
    else this.flush();
  };

  /** The read's last datagram was handed out: a flush held for it goes once the ticks its listeners queued have run. */
  handedOut(): void {
    if (!this.#held) return;
    this.#held = false;
    process.nextTick(this.#tickFlush);
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
    if (this.#flushed.length === 0) then();
    else this.#onClosed = then;
  }

  /**
   * Hands out the results of the oldest rounds whose writes have settled. A
   * round without a write (its sends all failed before the kernel) settles
   * at once, but its results wait for those of the rounds before it, so
   * results keep the order of the sends.
   */
  #dispatchSettled(): void {
    const flushed = this.#flushed;
    while (flushed.length > 0 && flushed[0].pending === 0) this.#dispatch(flushed.shift()!);
  }

  /**
   * Hands out a round's results in the order its sends were issued, each on
   * a tick of its own as dgram's callbacks are: one that throws reaches
   * uncaughtException without holding back the others.
   */
  #dispatch(round: Round): void {
    for (const o of round.outcomes) {
      if (o.cancelled) this.#cancelled.push(o);
      else if (o.err === null) process.nextTick(o.callback, null, o.bytes);
      else process.nextTick(o.callback, o.err);
    }
    if (this.#flushed.length === 0 && this.#onClosed !== null) {
      const then = this.#onClosed;
      this.#onClosed = null;
      then();
      for (const o of this.#cancelled.splice(0)) process.nextTick(o.callback, o.err);
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
    this.#release(c.round);
    const { outcomes } = c;
    const n = outcomes.length;
    const refused = c.job.datagramErrors!;
    for (let i = 0; i < n; i++) {
      const o = outcomes[i];
      if (o !== null && refused[i] !== undefined) o.err = this.#sendError(refused[i]!, o.address, o.port);
    }
    const failure = err instanceof GSODisabledError ? err.cause : err; // cause null: all were tried
    if (failure !== null) {
      // A write that failed whole (the socket closed under it) took what the
      // kernel had accepted by then; dgram cancels the rest (ECANCELED).
      const sent = Math.min((failure as WriteError).datagramsSent ?? 0, n);
      const closed = this.#closing && isNotRunning(failure);
      for (let i = sent; i < n; i++) {
        const o = outcomes[i];
        if (o === null) continue;
        o.err = this.#sendError(failure, o.address, o.port);
        o.cancelled = closed;
      }
    }
    if (--c.round.pending === 0) this.#dispatchSettled();
  }

  /**
   * The round's write: every destination's sends, each destination's in the
   * order they were issued, destinations in the order they were first sent
   * to. The engine sends it in as few sendmmsg calls as it can (one per
   * batchSize messages), each message to its own address.
   */
  #chunk(round: Round): Chunk {
    const n = this.#collected, groups = this.#groups;
    const buffers = new Array<Uint8Array>(n), offsets = new Array<number>(n), lengths = new Array<number>(n);
    const outcomes = new Array<Outcome | null>(n);
    // Where each group's datagrams start in the write.
    let next = 0;
    const starts = groups.map((g) => (next += g.count) - g.count);
    const of = groups.length > 1 ? new Array<number>(n) : null;
    for (let i = 0; i < n; i++) {
      const k = this.#of[i];
      const j = starts[k]++;
      buffers[j] = this.#buffers[i]!;
      offsets[j] = this.#offsets[i];
      lengths[j] = this.#lengths[i];
      outcomes[j] = this.#outcomes[i];
      // What is the write's now is not kept here past it: its results and
      // its memory, or a burst's blocks would stay reachable from here after
      // the free list let them go.
      this.#outcomes[i] = null;
      this.#buffers[i] = null;
      if (of !== null) of[j] = k;
    }
    // The copies are ours until the write settles: nothing is borrowed.
    const job: WriteJob = {
      buffers, start: 0, offsets, lengths, borrowed: false, dest: null, port: 0, maxPayload: Infinity,
      datagramErrors: new Array<Error | undefined>(n),
    };
    if (of === null) {
      job.dest = groups[0].dest?.address ?? null;
      job.port = groups[0].port;
      job.maxPayload = groups[0].maxPayload;
    } else {
      for (const g of groups) job.maxPayload = Math.min(job.maxPayload, g.maxPayload);
      job.messages = { of, to: groups.map((g) => ({ dest: g.dest?.address ?? null, port: g.port, header: undefined })) };
    }
    return { job, outcomes, round };
  }
}
