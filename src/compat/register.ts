// One switch for a whole process: batchgram/register (`node --import
// batchgram/register app.js`, `--require`, or NODE_OPTIONS) puts the drop-in
// in place of node:dgram's createSocket and Socket, on the module object
// that every require('node:dgram') returns and, through
// syncBuiltinESMExports, on the named exports ESM imports see: sockets of
// the application and of its dependencies, CommonJS and ESM alike, made
// after the switch. Where batching is unavailable nothing is changed.
import dgram = require('node:dgram');
import { syncBuiltinESMExports } from 'node:module';
import { binding } from '../kernel/native';
import { useBatchPath } from '../kernel/support';
import { createSocket, leaveOut, Socket } from './index';

/** Comma-separated package names (or path fragments) whose sockets stay on node:dgram. */
export const EXCLUDE_ENV = 'BATCHGRAM_EXCLUDE';
/** `1` hides the line register prints on stderr. */
export const QUIET_ENV = 'BATCHGRAM_QUIET';

/**
 * The file that called createSocket, from a stack trace: the first frame
 * outside batchgram and Node's own modules. Read only when something is
 * excluded, as a stack trace costs microseconds.
 */
function callerFile(): string {
  const stack = new Error().stack?.split('\n').slice(1) ?? [];
  for (const line of stack) {
    const m = /\(?([^\s()]+):\d+:\d+\)?$/.exec(line.trim());
    if (m === null) continue;
    const file = m[1].replace(/^file:\/\//, '');
    if (file.startsWith('node:') || file.startsWith(__dirname.slice(0, __dirname.lastIndexOf('/')))) continue;
    return file;
  }
  return '';
}

/** Whether a socket made by `file` is left on node:dgram by BATCHGRAM_EXCLUDE's `entries`. */
export function excluded(file: string, entries: readonly string[]): boolean {
  return entries.some((e) => file.includes(e.includes('/') ? e : `/node_modules/${e}/`));
}

/** Installs the drop-in in node:dgram's place; returns false (and changes nothing) where batching is unavailable. */
export function register(): boolean {
  if (!useBatchPath(binding, undefined)) return false;
  const exclude = (process.env[EXCLUDE_ENV] ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (exclude.length > 0) leaveOut(() => excluded(callerFile(), exclude));
  dgram.createSocket = createSocket as typeof dgram.createSocket;
  // `new dgram.Socket()`, and `class Server extends dgram.Socket` in modules loaded after the switch.
  (dgram as { Socket: unknown }).Socket = Socket;
  syncBuiltinESMExports();
  if (process.env[QUIET_ENV] !== '1') {
    process.stderr.write(`batchgram: node:dgram sockets of this process are batched (batchgram/register${
      exclude.length > 0 ? `, except ${exclude.join(', ')}` : ''}); ${QUIET_ENV}=1 hides this line\n`);
  }
  return true;
}
