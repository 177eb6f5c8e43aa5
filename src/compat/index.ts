// The dgram drop-in's public face: `createSocket` and the `Socket` class in
// place of node:dgram's, and `compatStats`. Where there is no batch path (no
// addon, not Linux) and with `batching: false`, the socket is a genuine
// node:dgram socket.
import * as dgram from 'node:dgram';
import { dropInUnsupported } from '../errors';
import { binding } from '../kernel/native';
import { useBatchPath } from '../kernel/support';
import { nodeCreateSocket } from './node-dgram';
import { CompatSocket, type CompatStats, type MessageListener, type SocketOptions } from './socket';
import { socketClass } from './socket-class';

export type { CompatStats, MessageListener, SocketOptions };

/**
 * dgram.createSocket with batching underneath: the same arguments, events
 * and errors. Where batching is unavailable (no addon, not Linux) and with
 * `batching: false`, it returns a node:dgram socket. In a cluster worker it
 * binds as dgram does there (cluster.ts): a socket of its own when exclusive
 * or reusePort, else the primary's, batched either way.
 */
export function createSocket(type: dgram.SocketType | SocketOptions, listener?: MessageListener): dgram.Socket {
  return batches(type) ? new CompatSocket(type, listener) : nodeCreateSocket(type as dgram.SocketOptions, listener);
}

/**
 * node:dgram's Socket class, for `new Socket(type | options, listener?)` and
 * `class Server extends Socket`: its sockets batch where createSocket's would.
 */
export const Socket = socketClass(batches);
export type Socket = dgram.Socket;

/** Set by batchgram/register where sockets of some callers stay on node:dgram (BATCHGRAM_EXCLUDE). */
let leftOut: (() => boolean) | null = null;

/** @internal for batchgram/register: makes `test` decide, for each socket about to be made, whether it stays on node:dgram. */
export function leaveOut(test: () => boolean): void {
  leftOut = test;
}

/** Whether a socket of these arguments batches; throws where node:dgram's cannot honour them. */
function batches(type: unknown): boolean {
  const options = type !== null && typeof type === 'object' ? type as SocketOptions : undefined;
  if (useBatchPath(binding, options?.batching) && !(leftOut?.() ?? false)) return true;
  // dgram before Node 22.12 would ignore reusePort without a word.
  if (options?.reusePort && !dgramHasReusePort()) throw dropInUnsupported('reusePort without batching (or before Node 22.12)');
  return false;
}

function dgramHasReusePort(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The batching counters of a socket from createSocket or Socket, or null for a node:dgram socket. */
export function compatStats(socket: dgram.Socket): CompatStats | null {
  return CompatSocket.made(socket) ? CompatSocket.stats(socket) : null;
}
