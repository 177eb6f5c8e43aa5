// The figures of a bench run and how they are shown: rates, loss, CPU per
// million datagrams and the ratios against the baselines measured in the
// same run (node:dgram, the matching C program), as a text table, JSON
// fields and an SVG chart; the cost rows' figures in a table of their own.
import { cpus, release } from 'node:os';
import type { Peer } from './harness';
import {
  C_MATCH, costKind, dgramMatch, isCost, isRelay, serverKind, SOCKETS_HELD, type ChildCounts, type CostImpl, type CostKind,
  type Impl,
} from './protocol';
import { BUSY_CORES, NOISY_SPREAD, ROUND_MS } from './noise';

/**
 * What the processes of one run reported; `relay` only in a relay run. With
 * peer 'c', rx and tx come from two runs, and `fed` is what the C sender
 * offered the receiver under test (the base of its loss).
 */
export interface Measured { rx: ChildCounts; tx: ChildCounts; relay?: ChildCounts; fed?: ChildCounts }

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
  /** Received rate over dgram's at the same size (rr-dgram's for request/response; null for relays: node:dgram has no relay here). */
  vsDgram: number | null;
  /** A Node receiver's largest resident memory (rx.rssMax) over that of the same dgram row (dgramMatch). */
  rssVsDgram: number | null;
  /**
   * Received rate, and offered rate, over the matching C program's (C_MATCH).
   * A relay's offered ratio is null: both relays are fed by the same C sender.
   */
  vsC: number | null;
  vsCOffered: number | null;
  /** Cost rows (costKind): their figures; null for the others. */
  costs: Cost[] | null;
  /** The rate of the run's progress reports between its rounds: (max - min) / median (noise.ts); null if too short. */
  spread: number | null;
  /** Average cores that other work on the machine kept busy during the run; null where unknown. */
  otherCores: number | null;
  error: string | null;
}

/** The signs of noise measured around one run. */
export type Noise = Pick<BenchRow, 'spread' | 'otherCores'>;

/** One figure of a cost row, in seconds or bytes, and its ratio to the same figure of the row's node:dgram twin. */
export interface Cost {
  figure: CostFigure;
  value: number | null;
  vsDgram: number | null;
  /** For a drop-in row, the most ×dgram that issue 20 allows, if it sets one; met says whether vsDgram is within it. */
  target: number | null;
  met: boolean | null;
}

type CostFigure = 'cpuPerSocket' | 'rssAdded' | 'externalAdded' | 'roundTrip' | 'cpuPerRoundTrip';

/** Each cost row's figures, and the targets issue 20 sets for the drop-in (×dgram at most). */
const COST_FIGURES: Record<CostKind, Array<{ figure: CostFigure; target: number | null }>> = {
  create: [{ figure: 'cpuPerSocket', target: 2 }],
  sockets: [{ figure: 'rssAdded', target: 2 }, { figure: 'externalAdded', target: 2 }],
  pingpong: [{ figure: 'roundTrip', target: 1.2 }, { figure: 'cpuPerRoundTrip', target: null }],
};

/** How each figure is shown: its label, unit and scale. */
const FIGURE_TEXT: Record<CostFigure, { label: string; scale: number; digits: number }> = {
  cpuPerSocket: { label: 'CPU per socket, create → bind → send one → close (µs)', scale: 1e-6, digits: 1 },
  rssAdded: { label: `resident memory added by ${SOCKETS_HELD} sockets (MB)`, scale: 1e6, digits: 2 },
  externalAdded: { label: `V8 external memory added by ${SOCKETS_HELD} sockets (MB)`, scale: 1e6, digits: 2 },
  roundTrip: { label: 'round trip, one request in flight (µs)', scale: 1e-6, digits: 1 },
  cpuPerRoundTrip: { label: 'CPU per round trip, client and server (µs)', scale: 1e-6, digits: 1 },
};

const cpuOf = (c: ChildCounts): number => c.cpuUser + c.cpuSystem;

/** A cost figure from what the processes reported (the sender's, but for CPU per round trip both). */
function costValue(figure: CostFigure, rx: ChildCounts, tx: ChildCounts): number | null {
  switch (figure) {
    case 'cpuPerSocket': return tx.datagrams > 0 ? cpuOf(tx) / tx.datagrams : null;
    case 'rssAdded': return tx.rssAdded ?? null;
    case 'externalAdded': return tx.externalAdded ?? null;
    case 'roundTrip': return tx.transactions ? tx.seconds / tx.transactions : null;
    case 'cpuPerRoundTrip': return tx.transactions ? (cpuOf(rx) + cpuOf(tx)) / tx.transactions : null;
  }
}

const per = (n: number, seconds: number): number | null => (seconds > 0 ? n / seconds : null);
const cpuPerMillion = (c: ChildCounts): number | null =>
  (c.datagrams > 0 ? ((c.cpuUser + c.cpuSystem) / c.datagrams) * 1e6 : null);
const ratio = (a: number | null, b: number | null | undefined): number | null =>
  (a !== null && b !== null && b !== undefined && b > 0 ? a / b : null);

/** The row of one (implementation, size) run, or of its failure. */
export function row(impl: Impl, size: number, r: Measured | Error, noise: Noise): BenchRow {
  if (r instanceof Error) {
    return {
      impl, size, rx: null, tx: null, relay: null, rxDatagramsPerSecond: null, rxGbitPerSecond: null,
      offeredDatagramsPerSecond: null, offeredGbitPerSecond: null, loss: null, cpuRxPerMillion: null,
      cpuTxPerMillion: null, cpuRelayPerMillion: null, vsDgram: null, rssVsDgram: null, vsC: null, vsCOffered: null,
      costs: null, ...noise, error: r.message,
    };
  }
  const { rx, tx, relay = null, fed = tx } = r;
  const kind = costKind(impl);
  const compat = impl.endsWith('-compat');
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
    vsDgram: null, rssVsDgram: null, vsC: null, vsCOffered: null,
    costs: kind === null ? null : COST_FIGURES[kind].map(({ figure, target }) => ({
      figure, value: costValue(figure, rx, tx), vsDgram: null, target: compat ? target : null, met: null,
    })),
    ...noise,
    error: null,
  };
}

/** Fills in the ratios against the baselines measured in the same run (absent baselines stay null). */
export function compare(rows: BenchRow[]): void {
  const find = (impl: Impl | null, size: number) =>
    (impl === null ? undefined : rows.find((r) => r.impl === impl && r.size === size && r.error === null));
  for (const r of rows) {
    const relay = isRelay(r.impl);
    const dgram = find(dgramMatch(r.impl), r.size), c = find(C_MATCH[r.impl], r.size);
    r.vsDgram = ratio(r.rxDatagramsPerSecond, dgram?.rxDatagramsPerSecond);
    r.rssVsDgram = ratio(r.rx?.rssMax ?? null, dgram?.rx?.rssMax);
    r.vsC = ratio(r.rxDatagramsPerSecond, c?.rxDatagramsPerSecond);
    r.vsCOffered = relay ? null : ratio(r.offeredDatagramsPerSecond, c?.offeredDatagramsPerSecond);
    for (const cost of r.costs ?? []) {
      cost.vsDgram = ratio(cost.value, dgram?.costs?.find((d) => d.figure === cost.figure)?.value);
      cost.met = cost.target === null || cost.vsDgram === null ? null : cost.vsDgram <= cost.target;
    }
  }
}

const DASH = '—';
export const fixed = (v: number | null, digits: number, scale = 1): string => (v === null ? DASH : (v / scale).toFixed(digits));
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
  { title: 'rx rss MB', cell: (r) => fixed(r.rx?.rssMax ?? null, 1, 1e6) },
  { title: '×dgram', cell: (r) => times(r.vsDgram) },
  { title: 'rss ×dgram', cell: (r) => times(r.rssVsDgram) },
  { title: '×C rx', cell: (r) => times(r.vsC) },
  { title: '×C tx', cell: (r) => times(r.vsCOffered) },
  { title: 'spread %', cell: (r) => fixed(r.spread, 0, 0.01) },
];

/** Lines of cells: the first (and, with `leftTwo`, the second) left-aligned, the others right-aligned. */
function aligned(lines: string[][], leftTwo = false): string[] {
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i]?.length ?? 0)));
  return lines.map((l) => l.map((v, i) => (i === 0 || (leftTwo && i === 2) ? v.padEnd(widths[i]) : v.padStart(widths[i])))
    .join('  ').trimEnd());
}

/**
 * The results as text: a table of the throughput rows (names left-aligned,
 * figures right-aligned, failures on their own line), then one of the cost
 * rows' figures, a line each.
 */
export function table(rows: BenchRow[]): string {
  const out: string[] = [];
  const throughput = rows.filter((r) => !isCost(r.impl));
  if (throughput.length > 0) {
    const cells = throughput.map((r) => COLUMNS.map((c) => c.cell(r)));
    const lines = aligned([COLUMNS.map((c) => c.title), ...cells]);
    out.push(lines[0]);
    throughput.forEach((r, i) => out.push(r.error === null ? lines[i + 1] : `${aligned([cells[i].slice(0, 2)])[0]}  failed: ${r.error}`));
  }
  const costs = rows.filter((r) => isCost(r.impl));
  if (costs.length > 0) {
    if (out.length > 0) out.push('');
    const lines = [['cost row', 'size', 'figure', 'value', '×dgram', 'target']];
    for (const r of costs) {
      if (r.error !== null) {
        lines.push([r.impl, String(r.size), `failed: ${r.error}`, '', '', '']);
        continue;
      }
      for (const c of r.costs!) {
        const t = FIGURE_TEXT[c.figure];
        const target = c.target === null ? '' : `≤ ${c.target}× ${c.met === null ? '' : c.met ? 'met' : 'missed'}`.trimEnd();
        lines.push([r.impl, String(r.size), t.label, fixed(c.value, t.digits, t.scale), times(c.vsDgram), target]);
      }
    }
    out.push(...aligned(lines, true));
  }
  return out.join('\n');
}

/** A cost row's figures in one line, for the progress output. */
export function costSummary(r: BenchRow): string {
  return (r.costs ?? []).map((c) => `${FIGURE_TEXT[c.figure].label} ${fixed(c.value, FIGURE_TEXT[c.figure].digits, FIGURE_TEXT[c.figure].scale)}`)
    .join(', ');
}

/** What the table's columns mean, for the rows that ran: baselines that were not measured are not explained. */
export function legend(rows: readonly BenchRow[], peer: Peer): string[] {
  const ran = new Set(rows.map((r) => r.impl));
  const lines: string[] = [];
  if ([...ran].some((i) => !isCost(i))) {
    lines.push('rx: datagrams the receiver process got, over its first-to-last datagram time; offered: what the sender sent.',
      'loss %: offered datagrams that never reached the receiver. Loopback itself loses none: loss means the receiver',
      'did not keep up and the kernel dropped what overflowed its socket buffer.',
      'cpu: CPU seconds (user + system) per million datagrams, from each process\'s resource usage.',
      'rx rss MB: the Node receiver\'s largest resident memory, sampled every 250 ms once traffic flowed for a second',
      'and at the end of the run (JSON rx.rssMax).');
  }
  if (ran.has('dgram')) lines.push('×dgram: rx over node:dgram\'s in this run; rss ×dgram: rx rss over node:dgram\'s.');
  // The C reference each implementation is compared with, where both ran.
  const byC = new Map<Impl, Impl[]>();
  for (const impl of ran) {
    const c = C_MATCH[impl];
    if (c !== null && c !== impl && ran.has(c)) byC.set(c, [...(byC.get(c) ?? []), impl]);
  }
  if (byC.size > 0) {
    const pairs = [...byC].map(([c, impls]) => `${impls.join(', ')} vs ${c}`).join('; ');
    lines.push(`×C rx/tx: rx and offered over the C reference making the same calls (${pairs}).`);
  }
  if ([...ran].some((i) => !isCost(i))) {
    lines.push(`spread %: how far the receiver's rate moved between the ${ROUND_MS} ms rounds of its run, (max - min) / median;`,
      `from ${NOISY_SPREAD * 100}% on, the row's figures are noisy.`);
  }
  lines.push('—: not measured, or no baseline in this run.');
  if ([...ran].some(isRelay)) {
    lines.push('relay, c-relay: C sender (gso) → relay → C receiver (gso); rx is what reached the receiver, i.e. forwarded;',
      'their cpu rx column is the relay process\'s CPU per million datagrams it forwarded (JSON cpuRelayPerMillion).');
  }
  if ([...ran].some((i) => serverKind(i) === 'rr')) {
    lines.push('rr-dgram, rr-compat: request/response, an echo server written for node:dgram (on node:dgram, and on the',
      'drop-in) answering clients that keep requests in flight (one batchgram process); rx is requests answered per',
      'second, i.e. transactions, offered the requests the clients sent; their ×dgram columns compare with rr-dgram.');
  }
  if ([...ran].some((i) => serverKind(i) === 'dns')) {
    lines.push('dns-dgram, dns-compat: request/response with a DNS-like server written for node:dgram: each request an A',
      'query padded to the row\'s size (EDNS padding), parsed and answered with a new Buffer in JavaScript; ×dgram',
      'against dns-dgram.');
  }
  if ([...ran].some(isCost)) {
    lines.push('cost rows: the same dgram code on node:dgram (-dgram) and on the drop-in (-compat); ×dgram is each figure',
      'over its -dgram twin\'s in this run, target the most issue 20 allows. create: sockets created, bound, sending one',
      `datagram and closed, one after another; sockets: ${SOCKETS_HELD} sockets bound, each having sent one datagram and`,
      'received its echo, memory added after a full GC; pingpong: one request in flight, client and echo server both on',
      'the module under test.');
  }
  if (peer === 'c') {
    lines.push('--peer c: a Node row\'s rx is its receiver fed by the matching C sender (loss against what that sender',
      'offered), its offered is its sender into the matching C receiver: each side measured alone.');
  }
  return lines;
}

/**
 * The rows whose figures are noisy, and why: their rate spread over the run's
 * rounds, or other work kept the machine busy while they ran. No lines when
 * none is.
 */
export function noisy(rows: readonly BenchRow[]): string[] {
  const name = (r: BenchRow) => `${r.impl} ${r.size} B`;
  const spread = rows.filter((r) => r.spread !== null && r.spread >= NOISY_SPREAD);
  const busy = rows.filter((r) => r.otherCores !== null && r.otherCores >= BUSY_CORES);
  const lines: string[] = [];
  if (spread.length > 0) {
    lines.push(`noisy: the rate spread ${NOISY_SPREAD * 100}% or more over the rounds of ${spread.map((r) => `${name(r)} (${fixed(r.spread, 0, 0.01)}%)`).join(', ')}.`);
  }
  if (busy.length > 0) {
    lines.push(`noisy: other work kept some of the ${cpus().length} cores busy during ${busy.map((r) => `${name(r)} (${fixed(r.otherCores, 1)})`).join(', ')}.`);
  }
  if (lines.length > 0) lines.push('Compare such figures with care, or run again on an idle machine (a longer --duration evens out a spread).');
  return lines;
}

/** The machine a run was made on. */
export function machine() {
  const c = cpus();
  return { node: process.version, kernel: release(), platform: process.platform, arch: process.arch, cpus: c.length, cpuModel: c[0]?.model ?? null };
}

const COLORS: Record<Exclude<Impl, CostImpl>, string> = {
  dgram: '#8c8c8c', 'dgram-compat': '#bab0ac', mmsg: '#4c78a8', gso: '#f58518', 'gso-iter': '#d67a10', 'gso-zero': '#e45756', 'gso-msgs': '#ff9da6',
  'c-plain': '#54a24b', 'c-gso': '#2f6b2a', relay: '#b279a2', 'c-relay': '#72b7b2', 'rr-dgram': '#9d755d', 'rr-compat': '#eeca3b',
  'dns-dgram': '#6b4c3b', 'dns-compat': '#c9a227',
};

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above v: the top of the axis. */
function niceCeiling(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * p).find((n) => n >= v) ?? 10 * p;
}

/**
 * A self-contained SVG bar chart of datagrams/s, a group per size and a bar
 * per implementation: received (for relays: forwarded end to end) solid, in
 * front of a pale bar of what was offered, with the rate received and the
 * loss written above. A rate without its loss would praise a receiver that
 * kept up with a slow sender and hide one that dropped half a fast one's.
 */
export function svgChart(rows: BenchRow[], impls: readonly Exclude<Impl, CostImpl>[], sizes: readonly number[]): string {
  const bar = 26, gap = 36, left = 64, top = 76, plotH = 240, legendW = 120;
  const groupW = impls.length * bar + gap;
  // Wide enough for the title and subtitle however few bars there are.
  const width = Math.max(600, left + sizes.length * groupW + legendW), height = top + plotH + 56;
  const max = niceCeiling(Math.max(1e5, ...rows.flatMap((r) => [r.rxDatagramsPerSecond ?? 0, r.offeredDatagramsPerSecond ?? 0])) / 1e6);
  const y = (mdps: number) => top + plotH - (mdps / max) * plotH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">batchgram bench: datagrams/s over loopback</text>`,
    `<text x="${left}" y="36" fill="#555">${escapeXml(`${machine().cpuModel ?? ''} · Linux ${release()} · Node ${process.version}`)}</text>`,
    `<text x="${left}" y="52">solid: received${impls.some(isRelay) ? ' (relays: forwarded)' : ''} · pale: offered · above: Mdatagrams/s received, −N%: the loss</text>`,
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
      const v = (r?.rxDatagramsPerSecond ?? 0) / 1e6, offered = (r?.offeredDatagramsPerSecond ?? 0) / 1e6;
      const x = x0 + i * bar, above = y(Math.max(v, offered)) - 4;
      // Loss under 0.1% (none, on loopback, unless the receiver fell behind) is left out.
      const loss = r?.loss == null || r.loss < 0.001 ? '' : `<tspan x="${x + bar / 2}" dy="-10">−${fixed(r.loss, r.loss < 0.1 ? 1 : 0, 0.01)}%</tspan>`;
      out.push(`<rect x="${x + 2}" y="${y(offered)}" width="${bar - 4}" height="${top + plotH - y(offered)}" fill="${COLORS[impl]}" fill-opacity="0.3"/>`,
        `<rect x="${x + 2}" y="${y(v)}" width="${bar - 4}" height="${top + plotH - y(v)}" fill="${COLORS[impl]}"/>`,
        `<text x="${x + bar / 2}" y="${above}" text-anchor="middle" font-size="9">${r?.rxDatagramsPerSecond == null ? DASH : v.toFixed(2)}${loss}</text>`);
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

/** One row of `bench --workers`: a socket group of `workers` handling the C sender's datagrams. */
export interface GroupRow {
  workers: number;
  /** Datagrams the group handled, and the C sender offered, per second of the sender's run. */
  handled: number;
  offered: number;
  /** handled over the one-worker row's. */
  vsOne: number;
  /** CPU cores busy on average: the C sender's process, and the group's (all its threads). */
  senderCores: number;
  groupCores: number;
}

/** The group rows as text, and what their columns mean. */
export function groupTable(rows: GroupRow[], workUs: number): string {
  const cells = rows.map((r) => [String(r.workers), fixed(r.handled / 1e6, 3), `${fixed(r.vsOne, 2)}×`, fixed(r.offered / 1e6, 3),
    fixed(r.senderCores, 2), fixed(r.groupCores, 2)]);
  return [...aligned([['workers', 'handled Mdgram/s', '×1 worker', 'offered Mdgram/s', 'sender cores', 'group cores'], ...cells]),
    '',
    `Each row: bindGroup with that many workers on 127.0.0.1, each spending ${workUs} µs of CPU per datagram, fed by the C`,
    'GSO sender at one fixed offered rate for all rows, from 64 source ports (flows, which the kernel spreads over the',
    'workers); handled: datagrams the group read and handled per second;',
    'cores: CPU seconds per second of the run, the sender\'s process and the group\'s (every thread of it).'].join('\n');
}
