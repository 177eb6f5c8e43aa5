// What a socket group (group.ts) and its workers (worker.ts) tell each other
// over a worker's private port, and how an error crosses between them.
import type { BatchSocketOptions, Steering } from '../socket/options';

/** What the group tells a worker (group.ts). */
export type ToWorker =
  | { type: 'steer'; steering: Steering; members: number }
  | { type: 'stats'; id: number }
  | { type: 'close' };

/** What a worker tells the group. */
export type FromWorker =
  | { type: 'bound'; port: number }
  | { type: 'started' }
  | { type: 'failed'; error: unknown }
  | { type: 'stats'; id: number; stats: Record<string, number | boolean> }
  | { type: 'steered'; error: unknown }
  | { type: 'closed' };

/**
 * An error as it crosses to the group's thread: structured cloning keeps an
 * Error's message and stack but drops its own properties, the Node-style
 * `code`, `errno`, `syscall`, `address` and `port` among them.
 */
export interface SentError { name: string; message: string; stack?: string; fields: Record<string, string | number> }

const FIELDS = ['code', 'errno', 'syscall', 'address', 'port'];

export function sendable(err: unknown): SentError | unknown {
  if (!(err instanceof Error)) return err;
  const fields: Record<string, string | number> = {};
  for (const k of FIELDS) {
    const v = (err as unknown as Record<string, unknown>)[k];
    if (typeof v === 'string' || typeof v === 'number') fields[k] = v;
  }
  return { name: err.name, message: err.message, stack: err.stack, fields } satisfies SentError;
}

/** The error a worker sent (sendable), as the caller would have met it in the worker. */
export function revived(sent: unknown): unknown {
  const e = sent as Partial<SentError> | null;
  if (e === null || typeof e !== 'object' || typeof e.message !== 'string' || typeof e.fields !== 'object') return sent;
  const Class = e.name === 'TypeError' ? TypeError : e.name === 'RangeError' ? RangeError : Error;
  const err = Object.assign(new Class(e.message), e.fields);
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/** The worker's configuration, in GROUP_ENV. */
export interface MemberConfig { module: string; options: BatchSocketOptions }

