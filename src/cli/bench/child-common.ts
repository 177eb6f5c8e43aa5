// What the bench child's sides share (child.ts runs them): its arguments,
// the line protocol's output, the stop request, and the dgram code that runs
// on either node:dgram or the drop-in.
import * as nodeDgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { stopSignal } from '../common';
import { costKind, NODE_RELAY, serverKind, type ChildEvent, type NodeImpl } from './protocol';
import { compatStats, createSocket } from '../../index';

/** Same as udpref's SOCKBUF: so that no implementation is buffer-starved. */
export const SOCKET_BUFFER = 64 << 20;

export interface Args {
  impl: NodeImpl | typeof NODE_RELAY;
  /** recv, relay: the address to bind; send: the destination. */
  address: string;
  port: number;
  size: number;
  duration: number;
  /** relay: where to forward. */
  to: string;
  toPort: number;
}

export function emit(e: ChildEvent): void {
  process.stdout.write(JSON.stringify(e) + '\n');
}

/** CPU seconds since `since` (a process.cpuUsage() snapshot). */
export function cpuSince(since: NodeJS.CpuUsage): { cpuUser: number; cpuSystem: number } {
  const d = process.cpuUsage(since);
  return { cpuUser: d.user / 1e6, cpuSystem: d.system / 1e6 };
}

/** Resolves on a "stop" line, EOF on stdin, or SIGTERM/SIGINT. */
export function stopRequested(): Promise<void> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (l) => { if (l.trim() === 'stop') resolve(); });
    lines.on('close', () => resolve());
    void stopSignal().then(resolve);
  });
}

/**
 * The dgram code of dgramReceiver, echoServer, dgramSend and the cost rows
 * runs unchanged on either module: node:dgram for 'dgram' and the '-dgram'
 * rows, batchgram's drop-in for the '-compat' rows.
 */
export type DgramModule = { createSocket(options: nodeDgram.SocketOptions): nodeDgram.Socket };
export const dgramModule = (impl: string): DgramModule => (impl.endsWith('-compat') ? { createSocket } : nodeDgram);
export const isDgram = (impl: string) => impl === 'dgram' || impl === 'dgram-compat';
export const isEcho = (impl: string) => serverKind(impl as NodeImpl) !== null || costKind(impl as NodeImpl) === 'pingpong';

/** System calls and messages: the drop-in counts them; node:dgram makes one per datagram. */
export function dgramCalls(sock: nodeDgram.Socket, datagrams: number, recv: boolean): { calls: number; messages: number } {
  const s = compatStats(sock);
  if (s === null) return { calls: datagrams, messages: datagrams };
  return recv ? { calls: s.recvCalls, messages: s.messagesIn } : { calls: s.sendCalls, messages: s.messagesOut };
}
