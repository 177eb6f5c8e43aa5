// A listener that throws must not cost the other consumers of a read their
// data. EventEmitter.emit stops at the first exception, so reads are handed
// to each listener on its own, and what the listeners threw is thrown after
// every consumer was served: it still reaches process 'uncaughtException'.
import type { EventEmitter } from 'node:events';

/** Calls each listener of `event` with `arg` on its own; returns `thrown` with what they threw added. */
export function emitEach(emitter: EventEmitter, event: string, arg: unknown, thrown: unknown[] | null): unknown[] | null {
  // rawListeners: a copy, so listeners added or removed meanwhile change
  // nothing now; once() wrappers remove themselves when called, as in emit.
  for (const listener of emitter.rawListeners(event) as Array<(arg: unknown) => void>) {
    try {
      listener.call(emitter, arg);
    } catch (err) {
      (thrown ??= []).push(err);
    }
  }
  return thrown;
}

/** Throws the first of `thrown` now and each other one on a later tick, so every one is reported. */
export function rethrow(thrown: unknown[] | null): void {
  if (thrown === null) return;
  for (const err of thrown.slice(1)) process.nextTick(() => { throw err; });
  throw thrown[0];
}
