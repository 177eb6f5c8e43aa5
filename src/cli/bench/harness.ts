// `batchgram bench`: loopback throughput of each implementation, receiver and
// sender in separate processes. Node children (child.ts) and the C
// reference (bench/udpref.c) speak one line protocol, so a run is the same
// for all: start the receiver, wait for "ready", run the sender for the
// duration, let the receiver drain, stop it, and read both "done" lines.
//
// A relay run puts a third process in the middle: the C sender (gso) sends to
// the relay under test, which forwards every datagram to the C receiver (gso).
// Started from the far end, stopped from the near end, each stage draining
// into one that still reads; the figure is what reaches the final receiver.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { C_IMPLS, C_MATCH, isCImpl, isCost, isRelay, type CImpl, type CostImpl, type ChildCounts, type ChildEvent, type Impl, type NodeImpl, type RelayImpl, RELAY_IMPLS } from './protocol';
import { compare, costSummary, fixed, groupTable, legend, machine, noisy, row, svgChart, table, type BenchRow, type GroupRow, type Measured } from './report';
import { stopSignal } from '../common';
import { cpuTicks, otherCores, spread, type CpuTicks, type Sample } from './noise';

export { IMPLS, type Impl } from './protocol';

/**
 * Who is on the other side of a Node implementation: itself ('same': its own
 * sender feeds its own receiver), or the C program making the same calls
 * ('c': two runs, the Node receiver fed by the C sender, and the Node sender
 * into the C receiver), which measures each side alone.
 */
export type Peer = 'same' | 'c';

export interface BenchOptions {
  sizes: number[];
  /** Seconds each sender runs. */
  duration: number;
  impls: Impl[];
  peer: Peer;
  json: boolean;
  svg?: string;
}

const ADDRESS = '127.0.0.1';
/** A child that has not bound its socket by then is stuck. */
const READY_TIMEOUT_MS = 10_000;
/** Beyond --duration, for start-up and a slow exit; past it the sender is killed. */
const SEND_GRACE_MS = 15_000;
/** Lets the receiver take in what is still in flight before it is told to stop. */
const SETTLE_MS = 300;
/** udpref drains for up to 2 s after a stop; the rest is margin. */
const STOP_TIMEOUT_MS = 8_000;

// --- The C reference -------------------------------------------------------

const REPO = join(__dirname, '..', '..', '..', '..'); // dist/src/cli/bench → the package root
const UDPREF_SOURCE = join(REPO, 'bench', 'udpref.c');

function writableDir(dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, fsConstants.W_OK);
    return dir;
  } catch {
    return null;
  }
}

/**
 * Compiles bench/udpref.c with the system C compiler unless an up-to-date
 * binary exists. The cache sits beside the source (git-ignored), or in the
 * temp directory where the package is read-only, as in a global install.
 */
function buildUdpref(): string {
  if (!existsSync(UDPREF_SOURCE)) throw new Error(`${UDPREF_SOURCE} is missing`);
  const dir = writableDir(join(REPO, 'bench', '.build')) ?? writableDir(join(tmpdir(), 'batchgram-bench'));
  if (dir === null) throw new Error('no writable directory to build bench/udpref.c in');
  const bin = join(dir, 'udpref');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(UDPREF_SOURCE).mtimeMs) return bin;
  // Built under a private name and renamed, so concurrent runs never execute a half-written file.
  const partial = `${bin}.${process.pid}`;
  const r = spawnSync('cc', ['-O2', '-Wall', '-std=gnu11', '-o', partial, UDPREF_SOURCE], { encoding: 'utf8' });
  if (r.error) {
    throw new Error(`cannot run the C compiler 'cc' (${(r.error as NodeJS.ErrnoException).code}) to build bench/udpref.c, which ` +
      `${C_USERS.join(', ')} need: install one, or leave those out with --impl`);
  }
  if (r.status !== 0) throw new Error(`cc could not build bench/udpref.c: ${r.stderr.trim().split('\n')[0]}`);
  renameSync(partial, bin);
  return bin;
}

/** The implementations that run the C reference: their own, and the relays' sender and receiver. */
const C_USERS: readonly Impl[] = [...C_IMPLS, ...RELAY_IMPLS];

let udpref: { path: string } | { error: Error } | undefined;

/** The C reference's path, built once per process; a failed build fails each C run alike. */
function udprefPath(): string {
  if (udpref === undefined) {
    try {
      udpref = { path: buildUdpref() };
    } catch (err) {
      udpref = { error: err as Error };
    }
  }
  if ('error' in udpref) throw udpref.error;
  return udpref.path;
}

// --- Children ---------------------------------------------------------------

/** The program and arguments of one side of a run. */
function command(impl: NodeImpl | CImpl, side: 'recv' | 'send', rest: string[]): [string, string[]] {
  if (isCImpl(impl)) return [udprefPath(), [side, '--mode', impl === 'c-gso' ? 'gso' : 'plain', ...rest]];
  return [process.execPath, [join(__dirname, 'child.js'), side, '--impl', impl, ...rest]];
}

/** The program and arguments of a relay; both take udpref relay's arguments. */
function relayCommand(impl: RelayImpl, rest: string[]): [string, string[]] {
  if (impl === 'c-relay') return [udprefPath(), ['relay', ...rest]];
  return [process.execPath, [join(__dirname, 'child.js'), 'relay', '--impl', impl, ...rest]];
}

/** Children still running, so that Ctrl-C can end them at once. */
const live = new Set<Child>();
/** Called once no child runs any more. */
const whenNoneLive: (() => void)[] = [];

/** Resolves once every child has exited and been reaped, when its CPU time counts in this process's children's. */
function noneLive(): Promise<void> {
  return live.size === 0 ? Promise.resolve() : new Promise((resolve) => whenNoneLive.push(resolve));
}

/** A child process read line by line; it never outlives a timeout or the harness. */
class Child {
  readonly #name: string;
  readonly #proc: ChildProcess;
  readonly #got = new Map<string, ChildEvent>();
  readonly #watchers = new Set<() => void>();
  #stderr = '';
  #closed: string | null = null;

  constructor(name: string, [file, args]: [string, string[]], onProgress?: (datagrams: number) => void) {
    this.#name = name;
    this.#proc = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    this.#proc.on('error', (err) => this.#close(err.message));
    this.#proc.stderr!.on('data', (d: Buffer) => { this.#stderr = (this.#stderr + d.toString()).slice(-2000); });
    // A child that dies first leaves a broken pipe; its exit says why.
    this.#proc.stdin!.on('error', () => {});
    createInterface({ input: this.#proc.stdout! }).on('line', (line) => {
      const e = parseEvent(line);
      if (e === null) return;
      if (e.event === 'progress') onProgress?.(e.datagrams);
      else this.#got.set(e.event, e);
      this.#notify();
    });
    // 'close', not 'exit': by then every line of stdout has been read.
    this.#proc.on('close', (code, signal) => this.#close(signal ?? `status ${code}`));
  }

  #close(how: string): void {
    live.delete(this);
    if (live.size === 0) for (const resolve of whenNoneLive.splice(0)) resolve();
    this.#closed ??= how;
    this.#notify();
  }

  #notify(): void {
    for (const w of this.#watchers) w();
  }

  waitFor<K extends 'ready' | 'done'>(kind: K, timeoutMs: number): Promise<Extract<ChildEvent, { event: K }>> {
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.#watchers.delete(check);
      };
      const check = () => {
        const e = this.#got.get(kind);
        if (e !== undefined) {
          finish();
          resolve(e as Extract<ChildEvent, { event: K }>);
        } else if (this.#closed !== null) {
          finish();
          reject(new Error(`${this.#name} ended (${this.#closed}) without '${kind}'${this.#why()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        this.kill();
        reject(new Error(`${this.#name} sent no '${kind}' within ${timeoutMs / 1000} s${this.#why()}`));
      }, timeoutMs);
      this.#watchers.add(check);
      check();
    });
  }

  #why(): string {
    const last = this.#stderr.trim().split('\n').pop();
    return last ? `: ${last}` : '';
  }

  /** Asks a receiver or relay to finish: a "stop" line, then EOF for good measure. */
  stop(): void {
    this.#proc.stdin!.end('stop\n');
  }

  kill(): void {
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) this.#proc.kill('SIGKILL');
  }
}

function parseEvent(line: string): ChildEvent | null {
  try {
    const e = JSON.parse(line) as ChildEvent;
    return typeof e === 'object' && e !== null && typeof e.event === 'string' ? e : null;
  } catch {
    return null;
  }
}

/** A "done" line without its tag. */
const countsOf = ({ event: _, ...counts }: Extract<ChildEvent, { event: 'done' }>): ChildCounts => counts;

/** Runs `impl`'s sender to `port` for `duration` seconds and returns its report. */
async function sendFor(name: string, impl: NodeImpl | CImpl, port: number, size: number, duration: number):
  Promise<ChildCounts> {
  const tx = new Child(name, command(impl, 'send',
    ['--to', ADDRESS, '--port', String(port), '--size', String(size), '--duration', String(duration)]));
  try {
    return countsOf(await tx.waitFor('done', duration * 1e3 + SEND_GRACE_MS));
  } finally {
    tx.kill();
  }
}

/** Lets what is in flight arrive, stops a receiving child and returns its report. */
async function stopAfterSettling(child: Child): Promise<ChildCounts> {
  await sleep(SETTLE_MS);
  child.stop();
  return countsOf(await child.waitFor('done', STOP_TIMEOUT_MS));
}

/** One run of `impl` at `size` bytes for `duration` seconds, against `peer`. */
async function measure(impl: Impl, size: number, duration: number, peer: Peer, onProgress: (datagrams: number) => void):
  Promise<Measured> {
  if (isRelay(impl)) return measureRelay(impl, size, duration, onProgress);
  const c = C_MATCH[impl] as CImpl | null;
  if (peer === 'same' || isCImpl(impl) || c === null) return pair(impl, impl, size, duration, onProgress);
  const asReceiver = await pair(impl, c, size, duration, onProgress);
  const asSender = await pair(c, impl, size, duration, () => {});
  return { rx: asReceiver.rx, tx: asSender.tx, fed: asReceiver.tx };
}

/** `receiver` receiving what `sender` sends. */
async function pair(receiver: NodeImpl | CImpl, sender: NodeImpl | CImpl, size: number, duration: number,
  onProgress: (datagrams: number) => void): Promise<Measured> {
  const rx = new Child(`${receiver} receiver`, command(receiver, 'recv', ['--bind', ADDRESS, '--port', '0']), onProgress);
  try {
    const { port } = await rx.waitFor('ready', READY_TIMEOUT_MS);
    const tx = await sendFor(`${sender} sender`, sender, port, size, duration);
    return { rx: await stopAfterSettling(rx), tx };
  } finally {
    rx.kill();
  }
}

/**
 * One relay run: udpref send (gso) → the relay → udpref recv (gso). Started
 * receiver first, each next stage told the port of the one before; stopped
 * sender first, so the relay drains into a receiver that still reads.
 */
async function measureRelay(impl: RelayImpl, size: number, duration: number,
  onProgress: (datagrams: number) => void): Promise<Measured> {
  const rx = new Child(`${impl}: final receiver`, command('c-gso', 'recv', ['--bind', ADDRESS, '--port', '0']));
  try {
    const { port: rxPort } = await rx.waitFor('ready', READY_TIMEOUT_MS);
    const relay = new Child(impl, relayCommand(impl,
      ['--bind', ADDRESS, '--port', '0', '--to', ADDRESS, '--to-port', String(rxPort)]), onProgress);
    try {
      const { port } = await relay.waitFor('ready', READY_TIMEOUT_MS);
      const tx = await sendFor(`${impl}: sender`, 'c-gso', port, size, duration);
      const relayed = await stopAfterSettling(relay);
      return { rx: await stopAfterSettling(rx), tx, relay: relayed };
    } finally {
      relay.kill();
    }
  } finally {
    rx.kill();
  }
}

// --- Noise ------------------------------------------------------------------

/** The CPU counters now, or null where /proc cannot be read (not Linux). */
function readTicks(): CpuTicks | null {
  try {
    return cpuTicks(readFileSync('/proc/stat', 'utf8'), readFileSync('/proc/self/stat', 'utf8'));
  } catch {
    return null;
  }
}

// --- Progress ---------------------------------------------------------------

/** A live line on a terminal, one plain line per finished run otherwise; on stderr, so stdout stays the result. */
class Progress {
  readonly #tty = process.stderr.isTTY === true;
  #label = '';
  /** What the live rate counts: datagrams received, or for a relay forwarded. */
  #verb = 'received';
  #started = 0;
  #last = { t: 0, datagrams: 0 };

  start(label: string, verb: string): void {
    this.#label = label;
    this.#verb = verb;
    this.#started = this.#last.t = performance.now();
    this.#last.datagrams = 0;
    if (this.#tty) process.stderr.write(`\r\x1b[K${label}: starting`);
  }

  update(datagrams: number, duration: number): void {
    if (!this.#tty) return;
    const now = performance.now();
    const rate = ((datagrams - this.#last.datagrams) / (now - this.#last.t)) * 1e3;
    this.#last = { t: now, datagrams };
    const elapsed = Math.min((now - this.#started) / 1e3, duration);
    process.stderr.write(`\r\x1b[K${this.#label}: ${(rate / 1e6).toFixed(3)} Mdgram/s ${this.#verb}, ${elapsed.toFixed(1)}/${duration} s`);
  }

  /** A finished run, or null for one cut short by Ctrl-C. */
  finish(r: BenchRow | null): void {
    const what = r === null ? 'interrupted' : r.error !== null ? `failed: ${r.error}` : isCost(r.impl) ? costSummary(r)
      : `${isRelay(r.impl) ? 'forwarded' : 'rx'} ${fixed(r.rxDatagramsPerSecond, 3, 1e6)} Mdgram/s (${fixed(r.rxGbitPerSecond, 2)} Gbit/s), ` +
        `offered ${fixed(r.offeredDatagramsPerSecond, 3, 1e6)} Mdgram/s, loss ${fixed(r.loss, 1, 0.01)}%`;
    process.stderr.write(`${this.#tty ? '\r\x1b[K' : ''}${this.#label}: ${what}\n`);
  }
}

/** Runs every (size, implementation) pair and prints the results; returns the exit status. */
export async function runBench(o: BenchOptions): Promise<number> {
  const progress = new Progress();
  const rows: BenchRow[] = [];
  const total = o.sizes.length * o.impls.length;
  // Ctrl-C ends the run in progress and reports the runs that finished.
  let stopped = false;
  void stopSignal().then(() => {
    stopped = true;
    for (const child of live) child.kill();
  });
  const started = performance.now();
  for (const size of o.sizes) {
    for (const impl of o.impls) {
      if (stopped) break;
      progress.start(`[${rows.length + 1}/${total}] ${impl} ${size} B`, isRelay(impl) ? 'forwarded' : 'received');
      const samples: Sample[] = [];
      const before = readTicks();
      const result = await measure(impl, size, o.duration, o.peer, (d) => {
        samples.push({ at: performance.now(), datagrams: d });
        progress.update(d, o.duration);
      }).catch((err: Error) => err);
      await noneLive();
      const after = readTicks();
      if (stopped) {
        progress.finish(null);
        break;
      }
      rows.push(row(impl, size, result, {
        spread: spread(samples), otherCores: before === null || after === null ? null : otherCores(before, after, cpus().length),
      }));
      progress.finish(rows[rows.length - 1]);
    }
  }
  compare(rows);
  const seconds = Math.round((performance.now() - started) / 1e3);
  const note = stopped ? `interrupted: ${rows.length} of ${total} runs measured` : null;
  if (o.json) {
    process.stdout.write(JSON.stringify({
      machine: machine(), options: { sizes: o.sizes, duration: o.duration, impls: o.impls, peer: o.peer }, interrupted: stopped, seconds, rows,
    }, null, 2) + '\n');
  } else {
    const lines = [...legend(rows, o.peer), ...noisy(rows), `${rows.length} run${rows.length === 1 ? '' : 's'} in ${seconds} s.`, ...(note === null ? [] : [note])];
    process.stdout.write(`${table(rows)}\n\n${lines.join('\n')}\n`);
  }
  if (o.svg !== undefined) {
    // The chart is of datagrams/s: the cost rows are not in it.
    const charted = o.impls.filter((i): i is Exclude<Impl, CostImpl> => !isCost(i) && rows.some((r) => r.impl === i));
    writeFileSync(o.svg, svgChart(rows.filter((r) => !isCost(r.impl)), charted, [...new Set(rows.map((r) => r.size))]));
    process.stderr.write(`wrote ${o.svg}\n`);
  }
  if (stopped) return 130; // as a shell reports a command ended by SIGINT
  return rows.some((r) => r.error !== null) ? 1 : 0;
}

/** Source ports the C sender of the group rows takes turns on: enough for an even spread over the workers. */
const GROUP_FLOWS = 64;

export interface GroupBenchOptions {
  /** Group sizes 1 to this. */
  workers: number;
  /** CPU microseconds the handler spends per datagram. */
  workUs: number;
  size: number;
  duration: number;
  json: boolean;
}

/**
 * `bench --workers N --work-us U`: a socket group of 1..N workers, each
 * datagram costing U µs of CPU, fed by the C GSO sender at one fixed rate
 * above what N workers can handle (1.5 × N × 10^6 / U datagrams a second),
 * so that every row is limited by its workers, not by the sender. The
 * sender takes turns on GROUP_FLOWS sockets: one flow would reach one worker
 * under the kernel's flow steering.
 */
export async function runGroupBench(o: GroupBenchOptions): Promise<number> {
  const rate = Math.ceil(1.5 * o.workers * 1e6 / Math.max(o.workUs, 0.1));
  const rows: GroupRow[] = [];
  for (let w = 1; w <= o.workers; w++) {
    const rx = new Child(`the group of ${w}`, [process.execPath, [join(__dirname, 'child.js'), 'group', '--workers', String(w),
      '--work-us', String(o.workUs), '--bind', ADDRESS, '--port', '0']]);
    try {
      const { port } = await rx.waitFor('ready', READY_TIMEOUT_MS + w * 2_000);
      const tx = new Child('the C sender', [udprefPath(), ['send', '--mode', 'gso', '--to', ADDRESS, '--port', String(port),
        '--size', String(o.size), '--duration', String(o.duration), '--rate', String(rate), '--flows', String(GROUP_FLOWS)]]);
      let sent: ChildCounts;
      try {
        sent = countsOf(await tx.waitFor('done', o.duration * 1e3 + SEND_GRACE_MS));
      } finally {
        tx.kill();
      }
      const got = await stopAfterSettling(rx);
      rows.push({
        workers: w, handled: got.datagrams / sent.seconds, offered: sent.datagrams / sent.seconds, vsOne: 0,
        senderCores: (sent.cpuUser + sent.cpuSystem) / sent.seconds, groupCores: (got.cpuUser + got.cpuSystem) / got.seconds,
      });
      if (!o.json) process.stderr.write(`[${w}/${o.workers}] ${w} worker${w > 1 ? 's' : ''}: ${fixed(rows[w - 1].handled / 1e6, 3)} Mdatagram/s handled\n`);
    } finally {
      rx.kill();
    }
  }
  for (const r of rows) r.vsOne = r.handled / rows[0].handled;
  if (o.json) {
    process.stdout.write(JSON.stringify({ machine: machine(), options: { ...o, rate }, rows }, null, 2) + '\n');
  } else {
    process.stdout.write(`${groupTable(rows, o.workUs)}\n`);
  }
  return 0;
}
