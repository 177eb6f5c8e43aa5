// The dgram drop-in's public face: `createSocket` in place of node:dgram's,
// and `compatStats`. Where there is no batch path (no addon, not Linux) and
// with `batching: false`, createSocket returns a genuine node:dgram socket.
import * as dgram from 'node:dgram';
import { dropInUnsupported } from '../errors';
import { binding } from '../kernel/native';
import { useBatchPath } from '../kernel/probe';
import { nodeCreateSocket } from './node-dgram';
import { CompatSocket, type CompatStats, type MessageListener, type SocketOptions } from './socket';

export type { CompatStats, MessageListener, SocketOptions };

/**
 * dgram.createSocket with batching underneath: the same arguments, events
 * and errors. Where batching is unavailable (no addon, not Linux) and with
 * `batching: false`, it returns a node:dgram socket. In a cluster worker it
 * binds as dgram does there (cluster.ts): a socket of its own when exclusive
 * or reusePort, else the primary's, batched either way.
 */
export function createSocket(type: dgram.SocketType | SocketOptions, listener?: MessageListener): dgram.Socket {
  const options = type !== null && typeof type === 'object' ? type : undefined;
  const batching = useBatchPath(binding, options?.batching);
  if (batching) return new CompatSocket(type, listener);
  // dgram before Node 22.12 would ignore reusePort without a word.
  if (options?.reusePort && !dgramHasReusePort()) throw dropInUnsupported('reusePort without batching (or before Node 22.12)');
  return nodeCreateSocket(type as dgram.SocketOptions, listener);
}

function dgramHasReusePort(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The batching counters of a socket from createSocket, or null for a node:dgram socket. */
export function compatStats(socket: dgram.Socket): CompatStats | null {
  return socket instanceof CompatSocket ? socket.stats() : null;
}
