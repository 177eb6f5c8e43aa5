// `batchgram bench`: loopback throughput of each implementation, receiver and
// sender in separate processes. Node children (bench-child.ts) and the C
// reference (bench/udpref.c) speak one line protocol, so a run is the same
// for all: start the receiver, wait for "ready", run the sender for the
// duration, let the receiver drain, stop it, and read both "done" lines.
//
// A relay run puts a third process in the middle: the C sender (gso) sends to
// the relay under test, which forwards every datagram to the C receiver (gso).
// Started from the far end, stopped from the near end, each stage draining
// into one that still reads; the figure is what reaches the final receiver.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { interrupted } from './tester';

/** Implementations run by bench-child.ts. */
export const NODE_IMPLS = ['dgram', 'dgram-compat', 'mmsg', 'gso', 'gso-zero'] as const;
/** Modes of bench/udpref.c. */
const C_IMPLS = ['c-plain', 'c-gso'] as const;
/** The batchgram relay of bench-child.ts (forwardTo in the 'view' listener). */
export const NODE_RELAY = 'relay';
/** Relays, each between the C sender and the C receiver in gso mode: batchgram's, and `udpref relay`. */
const RELAY_IMPLS = [NODE_RELAY, 'c-relay'] as const;
export const IMPLS = [...NODE_IMPLS, ...C_IMPLS, ...RELAY_IMPLS] as const;
export type NodeImpl = (typeof NODE_IMPLS)[number];
type CImpl = (typeof C_IMPLS)[number];
type RelayImpl = (typeof RELAY_IMPLS)[number];
export type Impl = NodeImpl | CImpl | RelayImpl;

/** The C program making the same system calls with the same offloads: the ceiling for each implementation. */
const C_MATCH: Record<Impl, CImpl | 'c-relay'> = {
  dgram: 'c-plain', 'dgram-compat': 'c-gso', mmsg: 'c-plain', gso: 'c-gso', 'gso-zero': 'c-gso', 'c-plain': 'c-plain', 'c-gso': 'c-gso',
  relay: 'c-relay', 'c-relay': 'c-relay',
};

/** What a child reports when it is done. seconds: receiver first→last datagram, sender start→end. */
export interface ChildCounts {
  datagrams: number;
  bytes: number;
  seconds: number;
  cpuUser: number;
  cpuSystem: number;
  /** System calls (recvmmsg/sendmmsg; node:dgram one per datagram). */
  calls: number;
  /** Messages: fewer than datagrams when GSO/GRO coalesced them. */
  messages: number;
  /** udpref send and relay: sendmmsg calls retried after EAGAIN/ENOBUFS. */
  retries?: number;
  /** The Node relay: datagrams it dropped because its send queue was full. */
  dropped?: number;
  /** Node receivers: resident bytes after one second of traffic, their range from then on (sampled every 250 ms), and at the end. */
  rssWarm?: number;
  rssMin?: number;
  rssMax?: number;
  rssEnd?: number;
}

/** One line of a child's stdout (bench/udpref.c defines the protocol). */
export type ChildEvent =
  | { event: 'ready'; port: number }
  | { event: 'progress'; datagrams: number; bytes: number }
  | ({ event: 'done' } & ChildCounts);

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

/**
 * One (implementation, size) result. For a relay, rx is the final receiver
 * (udpref recv, gso) and tx the sender (udpref send, gso), so the rx figures
 * are datagrams forwarded end to end; the relay's own report is `relay`.
 */
export interface BenchRow {
  impl: Impl;
  size: number;
  rx: ChildCounts | null;
  tx: ChildCounts | null;
  relay: ChildCounts | null;
  rxDatagramsPerSecond: number | null;
  rxGbitPerSecond: number | null;
  offeredDatagramsPerSecond: number | null;
  offeredGbitPerSecond: number | null;
  /** 1 - received/sent. */
  loss: number | null;
  /** CPU seconds (user + system) per million datagrams, receiver and sender. */
  cpuRxPerMillion: number | null;
  cpuTxPerMillion: number | null;
  /** Relays: the relay process's CPU seconds per million datagrams it forwarded; null otherwise. */
  cpuRelayPerMillion: number | null;
  /** Received rate over dgram's at the same size (null for relays: node:dgram has no relay here). */
  vsDgram: number | null;
  /**
   * Received rate, and offered rate, over the matching C program's (C_MATCH).
   * A relay's offered ratio is null: both relays are fed by the same C sender.
   */
  vsC: number | null;
  vsCOffered: number | null;
  error: string | null;
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

const REPO = join(__dirname, '..', '..');
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

function isCImpl(impl: Impl): impl is CImpl {
  return (C_IMPLS as readonly Impl[]).includes(impl);
}

export function isRelay(impl: Impl): impl is RelayImpl {
  return (RELAY_IMPLS as readonly Impl[]).includes(impl);
}

/** The program and arguments of one side of a run. */
function command(impl: NodeImpl | CImpl, side: 'recv' | 'send', rest: string[]): [string, string[]] {
  if (isCImpl(impl)) return [udprefPath(), [side, '--mode', impl === 'c-gso' ? 'gso' : 'plain', ...rest]];
  return [process.execPath, [join(__dirname, 'bench-child.js'), side, '--impl', impl, ...rest]];
}

/** The program and arguments of a relay; both take udpref relay's arguments. */
function relayCommand(impl: RelayImpl, rest: string[]): [string, string[]] {
  if (impl === 'c-relay') return [udprefPath(), ['relay', ...rest]];
  return [process.execPath, [join(__dirname, 'bench-child.js'), 'relay', '--impl', impl, ...rest]];
}

/** Children still running, so that Ctrl-C can end them at once. */
const live = new Set<Child>();

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

/**
 * What the processes of one run reported; `relay` only in a relay run. With
 * peer 'c', rx and tx come from two runs, and `fed` is what the C sender
 * offered the receiver under test (the base of its loss).
 */
interface Measured { rx: ChildCounts; tx: ChildCounts; relay?: ChildCounts; fed?: ChildCounts }

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
  if (peer === 'same' || isCImpl(impl)) return pair(impl, impl, size, duration, onProgress);
  const c = C_MATCH[impl] as CImpl;
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

// --- Figures ----------------------------------------------------------------

const per = (n: number, seconds: number): number | null => (seconds > 0 ? n / seconds : null);
const cpuPerMillion = (c: ChildCounts): number | null =>
  (c.datagrams > 0 ? ((c.cpuUser + c.cpuSystem) / c.datagrams) * 1e6 : null);
const ratio = (a: number | null, b: number | null | undefined): number | null =>
  (a !== null && b !== null && b !== undefined && b > 0 ? a / b : null);

function row(impl: Impl, size: number, r: Measured | Error): BenchRow {
  if (r instanceof Error) {
    return {
      impl, size, rx: null, tx: null, relay: null, rxDatagramsPerSecond: null, rxGbitPerSecond: null,
      offeredDatagramsPerSecond: null, offeredGbitPerSecond: null, loss: null, cpuRxPerMillion: null,
      cpuTxPerMillion: null, cpuRelayPerMillion: null, vsDgram: null, vsC: null, vsCOffered: null, error: r.message,
    };
  }
  const { rx, tx, relay = null, fed = tx } = r;
  return {
    impl, size, rx, tx, relay,
    rxDatagramsPerSecond: per(rx.datagrams, rx.seconds),
    rxGbitPerSecond: per((rx.bytes * 8) / 1e9, rx.seconds),
    offeredDatagramsPerSecond: per(tx.datagrams, tx.seconds),
    offeredGbitPerSecond: per((tx.bytes * 8) / 1e9, tx.seconds),
    loss: fed.datagrams > 0 ? Math.max(0, 1 - rx.datagrams / fed.datagrams) : null,
    cpuRxPerMillion: cpuPerMillion(rx),
    cpuTxPerMillion: cpuPerMillion(tx),
    cpuRelayPerMillion: relay === null ? null : cpuPerMillion(relay),
    vsDgram: null, vsC: null, vsCOffered: null, error: null,
  };
}

/** Fills in the ratios against the baselines measured in the same run (absent baselines stay null). */
function compare(rows: BenchRow[]): void {
  const find = (impl: Impl, size: number) => rows.find((r) => r.impl === impl && r.size === size && r.error === null);
  for (const r of rows) {
    const relay = isRelay(r.impl);
    const dgram = relay ? undefined : find('dgram', r.size), c = find(C_MATCH[r.impl], r.size);
    r.vsDgram = ratio(r.rxDatagramsPerSecond, dgram?.rxDatagramsPerSecond);
    r.vsC = ratio(r.rxDatagramsPerSecond, c?.rxDatagramsPerSecond);
    r.vsCOffered = relay ? null : ratio(r.offeredDatagramsPerSecond, c?.offeredDatagramsPerSecond);
  }
}

// --- Output -----------------------------------------------------------------

const DASH = '—';
const fixed = (v: number | null, digits: number, scale = 1): string => (v === null ? DASH : (v / scale).toFixed(digits));
const times = (v: number | null): string => (v === null ? DASH : `${v.toFixed(2)}×`);

const COLUMNS: { title: string; cell: (r: BenchRow) => string }[] = [
  { title: 'impl', cell: (r) => r.impl },
  { title: 'size', cell: (r) => String(r.size) },
  { title: 'rx Mdgram/s', cell: (r) => fixed(r.rxDatagramsPerSecond, 3, 1e6) },
  { title: 'rx Gbit/s', cell: (r) => fixed(r.rxGbitPerSecond, 2) },
  { title: 'offered Mdgram/s', cell: (r) => fixed(r.offeredDatagramsPerSecond, 3, 1e6) },
  { title: 'loss %', cell: (r) => fixed(r.loss, 1, 0.01) },
  // A relay's receiver is the C reference, the same in every relay row: the relay's own CPU is the news.
  { title: 'cpu rx s/M', cell: (r) => fixed(isRelay(r.impl) ? r.cpuRelayPerMillion : r.cpuRxPerMillion, 3) },
  { title: 'cpu tx s/M', cell: (r) => fixed(r.cpuTxPerMillion, 3) },
  { title: '×dgram', cell: (r) => times(r.vsDgram) },
  { title: '×C rx', cell: (r) => times(r.vsC) },
  { title: '×C tx', cell: (r) => times(r.vsCOffered) },
];

/** The results as a text table: names left-aligned, figures right-aligned, failures on their own line. */
export function table(rows: BenchRow[]): string {
  const cells = rows.map((r) => COLUMNS.map((c) => c.cell(r)));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...cells.map((line) => line[i].length)));
  const line = (values: string[]) => values.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  const out = [line(COLUMNS.map((c) => c.title))];
  rows.forEach((r, i) => out.push(r.error === null ? line(cells[i]) : `${line(cells[i].slice(0, 2))}  failed: ${r.error}`));
  return out.join('\n');
}

/** What the table's columns mean, for the rows that ran: baselines that were not measured are not explained. */
export function legend(rows: readonly BenchRow[], peer: Peer): string[] {
  const ran = new Set(rows.map((r) => r.impl));
  const lines = [
    'rx: datagrams the receiver process got, over its first-to-last datagram time; offered: what the sender sent.',
    'loss %: offered datagrams that never reached the receiver. Loopback itself loses none: loss means the receiver',
    'did not keep up and the kernel dropped what overflowed its socket buffer.',
    'cpu: CPU seconds (user + system) per million datagrams, from each process\'s resource usage.',
  ];
  if (ran.has('dgram')) lines.push('×dgram: rx over node:dgram\'s in this run.');
  // The C reference each implementation is compared with, where both ran.
  const byC = new Map<Impl, Impl[]>();
  for (const impl of ran) {
    const c = C_MATCH[impl];
    if (c !== impl && ran.has(c)) byC.set(c, [...(byC.get(c) ?? []), impl]);
  }
  if (byC.size > 0) {
    const pairs = [...byC].map(([c, impls]) => `${impls.join(', ')} vs ${c}`).join('; ');
    lines.push(`×C rx/tx: rx and offered over the C reference making the same calls (${pairs}).`);
  }
  lines.push('—: not measured, or no baseline in this run.');
  if ([...ran].some(isRelay)) {
    lines.push('relay, c-relay: C sender (gso) → relay → C receiver (gso); rx is what reached the receiver, i.e. forwarded;',
      'their cpu rx column is the relay process\'s CPU per million datagrams it forwarded (JSON cpuRelayPerMillion).');
  }
  if (peer === 'c') {
    lines.push('--peer c: a Node row\'s rx is its receiver fed by the matching C sender (loss against what that sender',
      'offered), its offered is its sender into the matching C receiver: each side measured alone.');
  }
  return lines;
}

function machine() {
  const c = cpus();
  return { node: process.version, kernel: release(), platform: process.platform, arch: process.arch, cpus: c.length, cpuModel: c[0]?.model ?? null };
}

const COLORS: Record<Impl, string> = {
  dgram: '#8c8c8c', 'dgram-compat': '#bab0ac', mmsg: '#4c78a8', gso: '#f58518', 'gso-zero': '#e45756', 'c-plain': '#54a24b', 'c-gso': '#2f6b2a',
  relay: '#b279a2', 'c-relay': '#72b7b2',
};

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above v: the top of the axis. */
function niceCeiling(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * p).find((n) => n >= v) ?? 10 * p;
}

/**
 * A self-contained SVG bar chart of received datagrams/s (for relays:
 * forwarded end to end): a group per size, a bar per implementation.
 */
export function svgChart(rows: BenchRow[], impls: readonly Impl[], sizes: readonly number[]): string {
  const bar = 26, gap = 36, left = 64, top = 48, plotH = 240, legendW = 120;
  const groupW = impls.length * bar + gap;
  // Wide enough for the title and subtitle however few bars there are.
  const width = Math.max(600, left + sizes.length * groupW + legendW), height = top + plotH + 56;
  const max = niceCeiling(Math.max(1e5, ...rows.map((r) => r.rxDatagramsPerSecond ?? 0)) / 1e6);
  const y = (mdps: number) => top + plotH - (mdps / max) * plotH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">batchgram bench: datagrams/s received over loopback${impls.some(isRelay) ? ' (relays: forwarded)' : ''}</text>`,
    `<text x="${left}" y="36" fill="#555">${escapeXml(`${machine().cpuModel ?? ''} · Linux ${release()} · Node ${process.version}`)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    out.push(`<line x1="${left}" x2="${left + sizes.length * groupW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${+v.toFixed(3)}</text>`);
  }
  out.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">Mdatagrams/s</text>`);
  sizes.forEach((size, g) => {
    const x0 = left + g * groupW + gap / 2;
    impls.forEach((impl, i) => {
      const r = rows.find((q) => q.impl === impl && q.size === size);
      const v = (r?.rxDatagramsPerSecond ?? 0) / 1e6;
      const x = x0 + i * bar;
      out.push(`<rect x="${x + 2}" y="${y(v)}" width="${bar - 4}" height="${top + plotH - y(v)}" fill="${COLORS[impl]}"/>`,
        `<text x="${x + bar / 2}" y="${y(v) - 4}" text-anchor="middle" font-size="9">${r?.rxDatagramsPerSecond == null ? DASH : v.toFixed(2)}</text>`);
    });
    out.push(`<text x="${x0 + (impls.length * bar) / 2}" y="${top + plotH + 18}" text-anchor="middle">${size} B</text>`);
  });
  impls.forEach((impl, i) => {
    const x = left + sizes.length * groupW + 16, yy = top + i * 18;
    out.push(`<rect x="${x}" y="${yy}" width="12" height="12" fill="${COLORS[impl]}"/>`, `<text x="${x + 18}" y="${yy + 10}">${impl}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
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
    const what = r === null ? 'interrupted' : r.error !== null ? `failed: ${r.error}`
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
  void interrupted().then(() => {
    stopped = true;
    for (const child of live) child.kill();
  });
  for (const size of o.sizes) {
    for (const impl of o.impls) {
      if (stopped) break;
      progress.start(`[${rows.length + 1}/${total}] ${impl} ${size} B`, isRelay(impl) ? 'forwarded' : 'received');
      const result = await measure(impl, size, o.duration, o.peer, (d) => progress.update(d, o.duration)).catch((err: Error) => err);
      if (stopped) {
        progress.finish(null);
        break;
      }
      rows.push(row(impl, size, result));
      progress.finish(rows[rows.length - 1]);
    }
  }
  compare(rows);
  const note = stopped ? `interrupted: ${rows.length} of ${total} runs measured` : null;
  if (o.json) {
    process.stdout.write(JSON.stringify({
      machine: machine(), options: { sizes: o.sizes, duration: o.duration, impls: o.impls, peer: o.peer }, interrupted: stopped, rows,
    }, null, 2) + '\n');
  } else {
    process.stdout.write(`${table(rows)}\n\n${[...legend(rows, o.peer), ...(note === null ? [] : [note])].join('\n')}\n`);
  }
  if (o.svg !== undefined) {
    writeFileSync(o.svg, svgChart(rows, o.impls.filter((i) => rows.some((r) => r.impl === i)), [...new Set(rows.map((r) => r.size))]));
    process.stderr.write(`wrote ${o.svg}\n`);
  }
  if (stopped) return 130; // as a shell reports a command ended by SIGINT
  return rows.some((r) => r.error !== null) ? 1 : 0;
}
