// A socket group's worker side: the socket the group's bootstrap (worker.ts)
// bound for this worker, handed to the caller's module by groupSocket().
import { isMainThread } from 'node:worker_threads';
import { BatchgramError, CODES } from '../errors';
import type { BatchSocket } from '../socket/batch-socket';

let settle: ((s: BatchSocket) => void) | null = null;
const mine = new Promise<BatchSocket>((resolve) => { settle = resolve; });

/** The environment variable the group passes its worker's configuration in. */
export const GROUP_ENV = 'BATCHGRAM_GROUP_MEMBER';

/**
 * In a module bindGroup runs: the worker's BatchSocket, a member of the
 * group. Anywhere else it rejects (ERR_BATCHGRAM_NOT_IN_GROUP).
 */
export function groupSocket(): Promise<BatchSocket> {
  if (isMainThread || process.env[GROUP_ENV] === undefined) {
    return Promise.reject(new BatchgramError(CODES.notInGroup, 'groupSocket() is for the module that bindGroup runs in each worker'));
  }
  return mine;
}

/** @internal The bootstrap's socket, once bound. */
export function setGroupSocket(s: BatchSocket): void {
  settle?.(s);
  settle = null;
}
