// A socket group: one SO_REUSEPORT group of sockets on one address and port,
// each owned by a worker thread that runs the caller's module. The kernel
// hands each datagram to one member (steering), so the caller's per-datagram
// work spreads over as many cores as there are workers.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { BatchgramError, CODES, invalidArgType, invalidArgValue, outOfRange } from '../errors';
import { binding } from '../kernel/native';
import type { AddressInfo } from '../socket/batch-socket';
import { resolveOptions, steeringProgram, type BatchSocketOptions, type Steering } from '../socket/options';
import { GROUP_ENV } from './member';
import { revived, type FromWorker, type MemberConfig, type ToWorker } from './messages';

/** Stats that are the process's, not a socket's (SocketStats). */
const PROCESS_WIDE = new Set(['copyBlocksHeld', 'copyBlocksFree']);

/** The most workers a group takes: far past any machine's cores. */
const WORKERS_MAX = 1024;

export interface GroupOptions extends Omit<BatchSocketOptions, 'reusePort'> {
  /** The module each worker runs (a path or a file URL); in it, groupSocket() gives the worker's socket. */
  module: string | URL;
  /** Workers, one socket each; default os.availableParallelism(). */
  workers?: number;
  /** Each worker's workerData (cloned for each). */
  workerData?: unknown;
  /** How the kernel picks a datagram's worker (BatchSocket.steer); default 'flow'. */
  steering?: Steering;
}

export interface GroupStats {
  /** The workers' counters added up (gsoDisabled: any; the process-wide copyBlocks figures once). */
  total: Record<string, number | boolean>;
  /** Each live worker's socket's stats, by index (null for a worker that exited). */
  workers: Array<Record<string, number | boolean> | null>;
}

/**
 * A worker of the group. From its start, what ends it is recorded here: an
 * exception is its Worker's 'error' event, which would be thrown in this
 * thread if nothing listened, and a worker may end before its group exists.
 */
interface Member { worker: Worker; port: MessagePort; live: boolean; error: unknown; exitCode: number | null }

export interface SocketGroupEvents {
  /**
   * A worker ended other than by close(): its socket left the group, the
   * others go on. `error`: what it threw, if an exception ended it.
   */
  workerExit: [index: number, exitCode: number, error: unknown];
}

export class SocketGroup extends EventEmitter<SocketGroupEvents> {
  readonly #members: Member[];
  readonly #address: AddressInfo;
  readonly #steering: Steering;
  #closing: Promise<void> | null = null;
  #statsId = 0;

  // The published declarations keep only the first signature, which no call
  // matches (stripInternal): groups come from bindGroup.
  /** Groups are made by bindGroup, never by hand. */
  constructor(...bindGroupOnly: never);
  /** @internal by bindGroup */
  constructor(members: Member[], address: AddressInfo, steering: Steering);
  constructor(members: Member[], address: AddressInfo, steering: Steering) {
    super();
    this.#members = members;
    this.#address = address;
    this.#steering = steering;
    members.forEach((m, i) => {
      // One that ended while the group started is reported once the caller can listen.
      if (m.exitCode !== null) setImmediate(() => this.#exited(i));
      else m.worker.on('exit', () => this.#exited(i));
    });
  }

  address(): AddressInfo { return { ...this.#address }; }
  /** Live members. */
  get size(): number { return this.#members.filter((m) => m.live).length; }
  /** The Worker of each member, by index. */
  get workers(): Worker[] { return this.#members.map((m) => m.worker); }

  // A worker died: its socket left the kernel's group; the program is set
  // again for the members left, through one of them.
  #exited(index: number): void {
    const m = this.#members[index];
    if (!m.live) return;
    m.live = false;
    m.port.close();
    if (this.#closing !== null) return;
    const left = this.#members.filter((x) => x.live);
    if (this.#steering !== 'flow' && left.length > 0) {
      left[0].port.postMessage({ type: 'steer', steering: this.#steering, members: left.length } satisfies ToWorker);
    }
    this.emit('workerExit', index, m.exitCode ?? 1, m.error);
  }

  /** Each live worker's socket's stats, and their sum. */
  async stats(): Promise<GroupStats> {
    const id = ++this.#statsId;
    const workers = await Promise.all(this.#members.map((m) => (m.live
      ? ask<Extract<FromWorker, { type: 'stats' }>>(m, { type: 'stats', id }, (r) => r.type === 'stats' && r.id === id).then((r) => r?.stats ?? null)
      : null)));
    const total: Record<string, number | boolean> = {};
    for (const w of workers) {
      for (const [k, v] of Object.entries(w ?? {})) {
        // The copy pool is the process's, the same figure in every worker: taken once, not added up.
        if (PROCESS_WIDE.has(k)) total[k] = v;
        else total[k] = typeof v === 'number' ? ((total[k] as number | undefined) ?? 0) + v : Boolean(total[k]) || v;
      }
    }
    return { total, workers };
  }

  /** Closes every socket and ends every worker. */
  close(): Promise<void> {
    return (this.#closing ??= Promise.all(this.#members.map(async (m) => {
      if (m.live) await ask(m, { type: 'close' }, (r) => r.type === 'closed');
      await m.worker.terminate();
    })).then(() => undefined));
  }
}

/**
 * Sends `message` (if any) to a member and resolves with its first answer
 * that `is`, or null if the worker has ended or ends first.
 */
function ask<T extends FromWorker>(m: Member, message: ToWorker | null, is: (r: FromWorker) => boolean): Promise<T | null> {
  if (m.exitCode !== null) return Promise.resolve(null);
  return new Promise((resolve) => {
    const onMessage = (r: FromWorker) => {
      if (!is(r)) return;
      done();
      resolve(r as T);
    };
    const onExit = () => {
      done();
      resolve(null);
    };
    const done = () => {
      m.port.off('message', onMessage);
      m.worker.off('exit', onExit);
    };
    m.port.on('message', onMessage);
    m.worker.once('exit', onExit);
    if (message !== null) m.port.postMessage(message);
  });
}

/** The module's path: a path, or a file URL. */
function modulePath(module: unknown): string {
  if (module instanceof URL) {
    if (module.protocol !== 'file:') throw invalidArgValue('options.module', module.href, 'must be a file URL');
    return fileURLToPath(module);
  }
  if (typeof module !== 'string') throw invalidArgType('options.module', 'of type string or an instance of URL', module);
  const path = module.startsWith('file:') ? fileURLToPath(module) : module;
  if (!existsSync(path)) throw invalidArgValue('options.module', module, 'must name a file that exists');
  return path;
}

/**
 * Starts `workers` worker threads, each with a socket of its own in one
 * SO_REUSEPORT group on `address` and `port` (the first worker's, when port
 * is 0), joined in worker order, then runs `module` in each. Resolves once
 * every worker's module has run its first turn; rejects (every worker ended,
 * every socket closed) if a socket cannot be bound, or a module throws or a
 * worker ends before all have started.
 */
export async function bindGroup(options: GroupOptions): Promise<SocketGroup> {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const { module, workers: count = availableParallelism(), workerData, steering = 'flow', ...socketOptions } = options;
  const path = modulePath(module);
  if (typeof count !== 'number') throw invalidArgType('options.workers', 'of type number', count);
  if (!Number.isInteger(count) || count < 1 || count > WORKERS_MAX) {
    throw outOfRange('options.workers', `an integer >= 1 and <= ${WORKERS_MAX}`, count);
  }
  if ((socketOptions as BatchSocketOptions).reusePort !== undefined) {
    throw invalidArgValue('options.reusePort', (socketOptions as BatchSocketOptions).reusePort, 'is always true in a group');
  }
  steeringProgram(steering, count); // checked here, attached in a worker
  resolveOptions({ ...socketOptions, reusePort: true }, binding); // the same checks the workers' binds make
  const members: Member[] = [];
  let port = socketOptions.port ?? 0;
  try {
    // One after another: the kernel numbers a group's members in the order they join.
    for (let i = 0; i < count; i++) {
      const m = start({ module: path, options: { ...socketOptions, port } }, workerData);
      members.push(m);
      const bound = await answer(m, 'bound');
      port = bound.port;
    }
    await Promise.all(members.map((m) => answer(m, 'started')));
    if (steering !== 'flow') {
      const r = await ask<Extract<FromWorker, { type: 'steered' }>>(members[0], { type: 'steer', steering, members: count },
        (x) => x.type === 'steered');
      if (r?.error) throw revived(r.error);
    }
  } catch (err) {
    await Promise.all(members.map((m) => m.worker.terminate()));
    throw err;
  }
  const family = (socketOptions.type ?? 'udp4') === 'udp4' ? 'IPv4' : 'IPv6';
  const address = socketOptions.address ?? (family === 'IPv4' ? '0.0.0.0' : '::');
  return new SocketGroup(members, { address, family, port }, steering);
}

function start(config: MemberConfig, workerData: unknown): Member {
  const worker = new Worker(join(__dirname, 'worker.js'), {
    workerData, env: { ...process.env, [GROUP_ENV]: JSON.stringify(config) },
  });
  const { port1, port2 } = new MessageChannel();
  worker.postMessage(port2, [port2]);
  // The group's own ports never keep the process alive; the workers do, as any Worker does.
  port1.unref();
  const m: Member = { worker, port: port1, live: true, error: undefined, exitCode: null };
  worker.on('error', (err) => { m.error = err; });
  worker.on('exit', (code) => { m.exitCode = code; });
  return m;
}

/** The worker's next message of `type`; its failure, or its end before it, rejects. */
async function answer<K extends 'bound' | 'started'>(m: Member, type: K): Promise<Extract<FromWorker, { type: K }>> {
  const r = await ask<FromWorker>(m, null, (x) => x.type === type || x.type === 'failed');
  if (r === null) throw m.error ?? new BatchgramError(CODES.groupWorker, `a group worker exited with code ${m.exitCode} before it started`);
  if (r.type === 'failed') throw revived(r.error);
  return r as Extract<FromWorker, { type: K }>;
}
