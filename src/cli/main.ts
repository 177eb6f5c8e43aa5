#!/usr/bin/env node
// The batchgram command line: `bench`, `probe`, `recv` and `send`. This file
// parses and checks arguments (node:util parseArgs), prints help, and hands
// over to probe.ts, sendrecv.ts and bench/harness.ts. A bad
// argument costs one line on stderr and exit status 2, never a stack trace.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { IMPLS, runBench, runGroupBench, type Impl, type Peer } from './bench/harness';
import { MAX_IPV4_PAYLOAD, MAX_IPV6_PAYLOAD } from '../index';
import { maxPayloadTo, parseAddress } from '../wire/sockaddr';
import { probe } from './probe';
import { DEFAULT_SEND_SECONDS, HEADER_SIZE, runRecv, runSend, type Endpoint } from './sendrecv';

/** Datagrams per second `send` paces to without --rate or --max. */
const DEFAULT_RATE = 10_000;

/** A mistake in the command line: reported in one line with a pointer to --help. */
class UsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;
type OptionSpec = Record<string, { type: 'string' | 'boolean'; default?: string }>;

interface Command {
  summary: string;
  /** The help text after the first line. */
  help: string;
  options: OptionSpec;
  positionals: number;
  run(values: Values, positionals: string[]): Promise<number>;
}

// --- Argument checks --------------------------------------------------------

function number(name: string, text: string, min: number, max: number, integer: boolean): number {
  const v = Number(text);
  const kind = integer ? 'an integer' : 'a number';
  if (text.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`${name} must be ${kind} ${range}, not '${text}'`);
  }
  return v;
}

/** A positive, finite number of seconds. */
function secondsOpt(name: string, text: string): number {
  const v = Number(text);
  if (!(v > 0 && v < Infinity)) throw new UsageError(`${name} must be a number of seconds > 0, not '${text}'`);
  return v;
}

const optional = <T>(text: string | boolean | undefined, parse: (s: string) => T): T | undefined =>
  (typeof text === 'string' ? parse(text) : undefined);

/** ADDR:PORT with an IP literal; IPv6 in brackets, as in a URL: [fd00::1]:5201. */
function endpoint(text: string, minPort: number): Endpoint {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (m === null) throw new UsageError(`'${text}' is not ADDR:PORT (IPv6 as [ADDR]:PORT)`);
  const [, address, port] = m;
  if (isIP(address) === 0) throw new UsageError(`'${address}' is not an IPv4 or IPv6 address`);
  return { address, port: number('port', port, minPort, 65535, true) };
}

/** The largest UDP payload towards this address: IPv4's for an IPv4-mapped one, whose datagrams travel as IPv4. */
const maxPayload = (address: string) => maxPayloadTo(parseAddress(address)!);

function list<T>(name: string, text: string, parse: (s: string) => T): T[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`${name} must be a comma-separated list, not '${text}'`);
  return items.map(parse);
}

/**
 * A file the command will write, checked before any work so that a typo costs
 * nothing: its directory exists and takes files, and it is not a directory.
 */
function outputFile(name: string, text: string): string {
  const path = resolve(text);
  const existing = statSync(path, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new UsageError(`${name} '${text}' is a directory`);
  try {
    accessSync(existing === undefined ? dirname(path) : path, constants.W_OK);
  } catch (err) {
    throw new UsageError(`${name} '${text}' cannot be written (${(err as NodeJS.ErrnoException).code})`);
  }
  return text;
}

function impl(text: string): Impl {
  const found = IMPLS.find((i) => i === text);
  if (found === undefined) throw new UsageError(`unknown implementation '${text}' (want ${IMPLS.join(', ')})`);
  return found;
}

function peerOpt(text: string): Peer {
  if (text !== 'same' && text !== 'c') throw new UsageError(`--peer must be 'same' or 'c', not '${text}'`);
  return text;
}

/** bench --workers: the group rows, which take one size and no implementation list. */
function groupBench(v: Values): Promise<number> {
  if (v.svg !== undefined || v.impl !== IMPLS.join(',') || v.peer !== 'same') {
    throw new UsageError('--impl, --peer and --svg do not go with --workers');
  }
  const sizes = list('--size', v.size as string, (s) => number('--size', s, 1, MAX_IPV4_PAYLOAD, true));
  if (sizes.length !== 1) throw new UsageError('--workers takes one --size');
  return runGroupBench({
    workers: number('--workers', v.workers as string, 1, 64, true),
    workUs: number('--work-us', (v['work-us'] as string | undefined) ?? '10', 0, 1e6, false),
    size: sizes[0], duration: secondsOpt('--duration', v.duration as string), json: v.json === true,
  });
}

// --- Commands ---------------------------------------------------------------

const COMMANDS: Record<string, Command> = {
  bench: {
    summary: 'loopback throughput and the drop-in\'s costs: node:dgram, batchgram and a C reference side by side',
    help: `Usage: batchgram bench [--size N[,N...]] [--duration SECONDS] [--impl LIST] [--peer same|c] [--json] [--svg FILE]
       batchgram bench --workers N [--work-us U] [--size N] [--duration SECONDS] [--json]

Runs a receiver and a sender process on 127.0.0.1 for each implementation
and datagram size, and prints datagrams/s and Gbit/s received and offered,
loss, CPU seconds per million datagrams on each side, and ratios against
node:dgram and against the C reference making the same system calls; and
how noisy each row is: its rate's spread over the rounds of its run, and
other work that kept the machine busy (a 'noisy:' line names such rows).

Implementations: dgram (node:dgram), dgram-compat (the same dgram code on
batchgram's createSocket), mmsg (batchgram, offload off),
gso (batchgram GSO+GRO, writeBatchTo and 'batch' events), gso-iter (the same
sender, read with for await), gso-zero (GSO+GRO,
the zero-allocation writePackedTo and 'view' events), gso-msgs (writeMessages,
one segmentSize message a write, and 'view' events), c-plain and c-gso (bench/udpref.c, built with cc at first use).
relay and c-relay forward from the C GSO sender to the C GRO receiver
(batchgram's forwardTo, and udpref relay): their rows measure the relay.
rr-dgram and rr-compat are request/response: an echo server written for
node:dgram (on node:dgram, and on batchgram's createSocket) answering clients
that keep requests in flight; rx is transactions, ×dgram against rr-dgram.
dns-dgram and dns-compat are the same with a DNS-like server: each request an
A query padded to the size, parsed and answered in JavaScript.
The cost rows run the same dgram code on node:dgram (-dgram) and on the
drop-in (-compat) and print its figures over node:dgram's: create-* (CPU per
socket created, bound, sending one datagram and closed), sockets-* (memory
that 200 bound sockets add) and pingpong-* (round trip and CPU with one
request in flight).

With --workers N, it measures socket groups instead (bindGroup): 1 to N
workers, each datagram costing --work-us microseconds of CPU in its handler,
fed by the C GSO sender at one fixed rate above what N workers handle; it
prints datagrams handled per second and the CPU of the sender and the group.

Options:
  --size N[,N...]     datagram payload bytes, 1-${MAX_IPV4_PAYLOAD} (default 1200)
  --duration SECONDS  how long each sender runs (default 3)
  --impl LIST         implementations to run (default all: ${IMPLS.join(',')})
  --peer same|c       what a Node implementation runs against: itself (default), or
                      the matching C program, to measure its receiver and sender alone
  --json              print the results as JSON
  --svg FILE          also write a bar chart of datagrams/s received and offered
  --workers N         measure socket groups of 1 to N workers (1-64) instead
  --work-us U         with --workers: CPU microseconds per datagram (default 10)
  -h, --help          show this help`,
    options: {
      size: { type: 'string', default: '1200' }, duration: { type: 'string', default: '3' },
      impl: { type: 'string', default: IMPLS.join(',') }, peer: { type: 'string', default: 'same' },
      json: { type: 'boolean' }, svg: { type: 'string' }, workers: { type: 'string' }, 'work-us': { type: 'string' },
    },
    positionals: 0,
    run: (v) => {
      if (v.workers !== undefined) return groupBench(v);
      if (v['work-us'] !== undefined) throw new UsageError('--work-us goes with --workers');
      return runBench({
      sizes: [...new Set(list('--size', v.size as string, (s) => number('--size', s, 1, MAX_IPV4_PAYLOAD, true)))],
      duration: secondsOpt('--duration', v.duration as string),
      impls: [...new Set(list('--impl', v.impl as string, impl))],
      peer: peerOpt(v.peer as string),
      json: v.json === true,
      svg: optional(v.svg, (s) => outputFile('--svg', s)),
      });
    },
  },
  probe: {
    summary: 'what this kernel and a fresh socket support',
    help: `Usage: batchgram probe [--json]

Reports the kernel version, the native addon in use (or why there is none
and how to get it), whether a fresh socket gets recvmmsg/sendmmsg,
UDP_SEGMENT (GSO), UDP_GRO and SO_RXQ_OVFL, whether the kernel accepts 128
GSO segments in one send, whether IPv6 is available, and the socket buffer
limits in /proc/sys/net/core.

Options:
  --json      print the report as JSON
  -h, --help  show this help`,
    options: { json: { type: 'boolean' } },
    positionals: 0,
    run: (v) => probe(v),
  },
  recv: {
    summary: 'receive test traffic from `batchgram send` and report loss, reordering, duplicates',
    help: `Usage: batchgram recv --bind ADDR:PORT [--count N] [--duration SECONDS] [--idle SECONDS] [--interval SECONDS] [--json]

Receives the datagrams of 'batchgram send' and reports, per interval and at
the end, throughput, loss, reordering, duplicates and jitter (RFC 3550).
IPv6 addresses go in brackets: --bind [::]:5201. Port 0 picks a free port.
Stops after --duration, after --count datagrams, when idle, or on Ctrl-C.

Options:
  --bind ADDR:PORT    where to listen (required)
  --interval SECONDS  time between reports (default 1)
  --duration SECONDS  stop after this long
  --count N           stop after N distinct datagrams; loss counts against N
  --idle SECONDS      stop this long after the last datagram; 0: never (default 2)
  --json              print one JSON object per line
  -h, --help          show this help`,
    options: {
      bind: { type: 'string' }, interval: { type: 'string', default: '1' }, duration: { type: 'string' },
      count: { type: 'string' }, idle: { type: 'string', default: '2' }, json: { type: 'boolean' },
    },
    positionals: 0,
    run: (v) => {
      if (typeof v.bind !== 'string') throw new UsageError('recv needs --bind ADDR:PORT');
      return runRecv({
        bind: endpoint(v.bind, 0),
        interval: secondsOpt('--interval', v.interval as string),
        duration: optional(v.duration, (s) => secondsOpt('--duration', s)),
        count: optional(v.count, (s) => number('--count', s, 1, Number.MAX_SAFE_INTEGER, true)),
        idle: number('--idle', v.idle as string, 0, Infinity, false),
        json: v.json === true,
      });
    },
  },
  send: {
    summary: 'send numbered, timestamped test traffic to `batchgram recv`',
    help: `Usage: batchgram send ADDR:PORT [--size N] [--rate PPS | --max] [--duration SECONDS] [--count N] [--interval SECONDS] [--json]

Sends datagrams carrying a sequence number and a send timestamp to a
'batchgram recv', at a steady rate or as fast as the socket takes them, and
reports what it sent. IPv6 addresses go in brackets: [fd00::1]:5201.

Options:
  --size N            datagram payload bytes, ${HEADER_SIZE}-${MAX_IPV4_PAYLOAD} (IPv6: ${MAX_IPV6_PAYLOAD}) (default 1200)
  --rate PPS          datagrams per second (default ${DEFAULT_RATE})
  --max               send as fast as possible instead of at --rate
  --duration SECONDS  how long to send (default ${DEFAULT_SEND_SECONDS}, or until --count)
  --count N           send exactly N datagrams
  --interval SECONDS  time between reports (default 1)
  --json              print one JSON object per line
  -h, --help          show this help`,
    options: {
      size: { type: 'string', default: '1200' }, rate: { type: 'string' }, max: { type: 'boolean' },
      duration: { type: 'string' }, count: { type: 'string' }, interval: { type: 'string', default: '1' },
      json: { type: 'boolean' },
    },
    positionals: 1,
    run: (v, [target]) => {
      if (target === undefined) throw new UsageError('send needs a destination ADDR:PORT');
      const to = endpoint(target, 1);
      if (v.max === true && v.rate !== undefined) throw new UsageError('--rate and --max exclude each other');
      return runSend({
        to,
        size: number('--size', v.size as string, HEADER_SIZE, maxPayload(to.address), true),
        rate: v.max === true ? null : optional(v.rate, (s) => number('--rate', s, 1, Infinity, false)) ?? DEFAULT_RATE,
        duration: optional(v.duration, (s) => secondsOpt('--duration', s)),
        count: optional(v.count, (s) => number('--count', s, 1, Number.MAX_SAFE_INTEGER, true)),
        interval: secondsOpt('--interval', v.interval as string),
        json: v.json === true,
      });
    },
  },
};

const MAIN_HELP = `Usage: batchgram <command> [options]
       batchgram --version

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(6)}  ${c.summary}`).join('\n')}

Run 'batchgram <command> --help' for a command's options.`;

/** The package's version, from its package.json (three levels above dist/src/cli, in a clone and installed alike). */
function version(): string {
  return (JSON.parse(readFileSync(resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

// --- Entry ------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(MAIN_HELP + '\n');
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command '${name}'`);
  const cmd = COMMANDS[name];
  const { values, positionals } = parseOptions(rest, cmd.options);
  if (values.help === true) {
    process.stdout.write(cmd.help + '\n');
    return 0;
  }
  if (positionals.length > cmd.positionals) throw new UsageError(`unexpected argument '${positionals[cmd.positionals]}'`);
  return cmd.run(values, positionals);
}

/**
 * A command's options and positionals. An unknown option is our one line:
 * parseArgs' own text goes on about positionals starting with '-', with a
 * quote it never closes.
 */
function parseOptions(args: string[], options: OptionSpec) {
  try {
    return parseArgs({ args, strict: true, allowPositionals: true, options: { ...options, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    const unknown = (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']*)'/.exec((err as Error).message) : null;
    if (unknown !== null) throw new UsageError(`unknown option '${unknown[1]}'`);
    throw err;
  }
}

/** parseArgs reports mistakes as TypeErrors with an ERR_PARSE_ARGS_* code. */
function isUsageError(err: unknown): err is Error {
  return err instanceof UsageError || (err instanceof Error && String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS_'));
}

const argv = process.argv.slice(2);
main(argv).then((status) => { process.exitCode = status; }, (err: unknown) => {
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`batchgram: ${message}\n`);
  if (isUsageError(err)) {
    const name = argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]) ? `${argv[0]} ` : '';
    process.stderr.write(`Run 'batchgram ${name}--help' for usage.\n`);
  }
  process.exitCode = isUsageError(err) ? 2 : 1;
});
