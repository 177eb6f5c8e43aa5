// One side of one `batchgram bench` run for the Node implementations, in its
// own process so that sender and receiver each have a core and an event loop
// of their own. It speaks the line protocol of bench/udpref.c (see
// ChildEvent in protocol.ts), so the harness drives Node and C alike:
//
//   bench-child recv --impl IMPL --bind ADDR --port N
//   bench-child send --impl IMPL --to ADDR --port N --size BYTES --duration SECONDS
//   bench-child relay --impl relay --bind ADDR --port N --to ADDR --to-port M
//   bench-child group --workers W --work-us U --bind ADDR --port N
//
// The relay takes udpref relay's arguments: it receives on ADDR:N (0: any
// port) and forwards every datagram to ADDR:M.
//
// The receiver and the relay stop on a "stop" line, EOF on stdin or SIGTERM;
// a sender stops after --duration or on EOF, so an orphan never outlives its
// harness.
import { parseArgs } from 'node:util';
import { NODE_IMPLS, NODE_RELAY } from './protocol';
import { group } from './child-group';
import { receive, relay } from './child-recv';
import { send } from './child-send';
import type { Args } from './child-common';

// --- Arguments --------------------------------------------------------------

type Command = 'recv' | 'send' | 'relay';
type GroupArgs = Parameters<typeof group>[0];

/** The harness builds these arguments; a mistake is a bug there, reported in one line. */
function parse(argv: string[]): { command: Command; args: Args } | { command: 'group'; args: GroupArgs } {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      impl: { type: 'string' }, bind: { type: 'string' }, to: { type: 'string' },
      port: { type: 'string' }, 'to-port': { type: 'string', default: '0' },
      size: { type: 'string', default: '0' }, duration: { type: 'string', default: '0' },
      workers: { type: 'string', default: '0' }, 'work-us': { type: 'string', default: '0' },
    },
  });
  const command = positionals[0];
  if (command === 'group') {
    const g = { address: values.bind ?? '', port: Number(values.port), workers: Number(values.workers), workUs: Number(values['work-us']) };
    if (g.address === '' || !Number.isInteger(g.port) || !(g.workers >= 1) || !(g.workUs >= 0)) {
      throw new Error('group needs --bind, --port, --workers >= 1 and --work-us >= 0');
    }
    return { command, args: g };
  }
  if (positionals.length !== 1 || (command !== 'recv' && command !== 'send' && command !== 'relay')) {
    throw new Error('want recv, send or relay');
  }
  const impls: readonly Args['impl'][] = command === 'relay' ? [NODE_RELAY] : NODE_IMPLS;
  const impl = impls.find((i) => i === values.impl);
  if (impl === undefined) throw new Error(`--impl must be one of ${impls.join(', ')} for ${command}`);
  const address = command === 'send' ? values.to : values.bind;
  if (address === undefined) throw new Error(command === 'send' ? 'send needs --to' : `${command} needs --bind`);
  const args: Args = {
    impl, address, port: Number(values.port), size: Number(values.size), duration: Number(values.duration),
    to: values.to ?? '', toPort: Number(values['to-port']),
  };
  if (!Number.isInteger(args.port)) throw new Error('--port must be an integer');
  if (command === 'send' && !(args.port > 0 && args.size > 0 && args.duration > 0)) {
    throw new Error('send needs --port, --size and --duration > 0');
  }
  if (command === 'relay' && !(args.to !== '' && Number.isInteger(args.toPort) && args.toPort > 0)) {
    throw new Error('relay needs --to and --to-port > 0');
  }
  return { command, args };
}

function main(): void {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench-child: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const run = parsed.command === 'group' ? group(parsed.args) : { recv: receive, send, relay }[parsed.command](parsed.args);
  // Exit explicitly: stdin stays open (it is how the harness reaches us).
  run.then(() => process.exit(0), (err: Error) => {
    process.stderr.write(`bench-child: ${err.message}\n`);
    process.exit(1);
  });
}

main();
