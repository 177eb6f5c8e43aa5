// The figures of a bench run and how they are shown: rates, loss, CPU per
// million datagrams and the ratios against the baselines measured in the
// same run (node:dgram, the matching C program), as a text table, JSON
// fields and an SVG chart.
import { cpus, release } from 'node:os';
import type { Peer } from './harness';
import { C_MATCH, dgramMatch, isRelay, isRequestResponse, type ChildCounts, type Impl } from './protocol';

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
  error: string | null;
}

const per = (n: number, seconds: number): number | null => (seconds > 0 ? n / seconds : null);
const cpuPerMillion = (c: ChildCounts): number | null =>
  (c.datagrams > 0 ? ((c.cpuUser + c.cpuSystem) / c.datagrams) * 1e6 : null);
const ratio = (a: number | null, b: number | null | undefined): number | null =>
  (a !== null && b !== null && b !== undefined && b > 0 ? a / b : null);

/** The row of one (implementation, size) run, or of its failure. */
export function row(impl: Impl, size: number, r: Measured | Error): BenchRow {
  if (r instanceof Error) {
    return {
      impl, size, rx: null, tx: null, relay: null, rxDatagramsPerSecond: null, rxGbitPerSecond: null,
      offeredDatagramsPerSecond: null, offeredGbitPerSecond: null, loss: null, cpuRxPerMillion: null,
      cpuTxPerMillion: null, cpuRelayPerMillion: null, vsDgram: null, rssVsDgram: null, vsC: null, vsCOffered: null,
      error: r.message,
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
    vsDgram: null, rssVsDgram: null, vsC: null, vsCOffered: null, error: null,
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
  lines.push('rx rss MB: the Node receiver\'s largest resident memory, sampled every 250 ms once traffic flowed for a second',
    'and at the end of the run (JSON rx.rssMax).');
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
  lines.push('—: not measured, or no baseline in this run.');
  if ([...ran].some(isRelay)) {
    lines.push('relay, c-relay: C sender (gso) → relay → C receiver (gso); rx is what reached the receiver, i.e. forwarded;',
      'their cpu rx column is the relay process\'s CPU per million datagrams it forwarded (JSON cpuRelayPerMillion).');
  }
  if ([...ran].some(isRequestResponse)) {
    lines.push('rr-dgram, rr-compat: request/response, an echo server written for node:dgram (on node:dgram, and on the',
      'drop-in) answering clients that keep requests in flight (one batchgram process); rx is requests answered per',
      'second, i.e. transactions, offered the requests the clients sent; their ×dgram columns compare with rr-dgram.');
  }
  if (peer === 'c') {
    lines.push('--peer c: a Node row\'s rx is its receiver fed by the matching C sender (loss against what that sender',
      'offered), its offered is its sender into the matching C receiver: each side measured alone.');
  }
  return lines;
}

/** The machine a run was made on. */
export function machine() {
  const c = cpus();
  return { node: process.version, kernel: release(), platform: process.platform, arch: process.arch, cpus: c.length, cpuModel: c[0]?.model ?? null };
}

const COLORS: Record<Impl, string> = {
  dgram: '#8c8c8c', 'dgram-compat': '#bab0ac', mmsg: '#4c78a8', gso: '#f58518', 'gso-zero': '#e45756', 'gso-msgs': '#ff9da6',
  'c-plain': '#54a24b', 'c-gso': '#2f6b2a', relay: '#b279a2', 'c-relay': '#72b7b2', 'rr-dgram': '#9d755d', 'rr-compat': '#eeca3b',
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
