// A socket's async iterators: each gets every batch, in order, with its own
// queue; one that falls ITERATOR_HIGH_WATER batches behind holds the
// socket's reading back until its loop catches up (the kernel queues, then
// drops and counts). BatchSocket hands reads and errors out through here.
import type { Batch } from '../batch';

/** Batches an iterator may hold unread before the socket stops reading. */
const ITERATOR_HIGH_WATER = 64;

interface IteratorState {
  queue: Batch[];
  wake: ((r: IteratorResult<Batch>) => void) | null;
  reject: ((err: Error) => void) | null;
  error: Error | null;
}

/** Resolves the iterator's waiting next() with `r`; false when none waits. */
function settle(it: IteratorState, r: IteratorResult<Batch>): boolean {
  const wake = it.wake;
  if (wake === null) return false;
  it.wake = it.reject = null;
  wake(r);
  return true;
}

export class Iterators {
  readonly #all = new Set<IteratorState>();
  /** Called when whether the iterators want reads may have changed (see wantReads). */
  readonly #demandChanged: () => void;

  constructor(demandChanged: () => void) {
    this.#demandChanged = demandChanged;
  }

  get size(): number { return this.#all.size; }

  /** Whether reading may go on for them: none holds ITERATOR_HIGH_WATER batches unread. */
  get keepUp(): boolean {
    for (const it of this.#all) if (it.queue.length >= ITERATOR_HIGH_WATER) return false;
    return true;
  }

  /** A new iterator; on a closed socket (`ended`) it ends at once. */
  create(ended: boolean): AsyncIterableIterator<Batch> {
    const state: IteratorState = { queue: [], wake: null, reject: null, error: null };
    if (!ended) this.#all.add(state);
    this.#demandChanged();
    const finish = (): IteratorResult<Batch> => {
      this.#drop(state);
      const done = { value: undefined, done: true } as const;
      // return() while a next() waits: that next() ends too.
      settle(state, done);
      return done;
    };
    const it: AsyncIterableIterator<Batch> = {
      next: () => {
        const batch = state.queue.shift();
        if (batch !== undefined) {
          if (state.queue.length === ITERATOR_HIGH_WATER - 1) this.#demandChanged();
          return Promise.resolve({ value: batch, done: false });
        }
        if (state.error) {
          const err = state.error;
          state.error = null;
          // A rejected next() ends a for-await loop without return().
          this.#drop(state);
          return Promise.reject(err);
        }
        if (!this.#all.has(state)) return Promise.resolve(finish());
        return new Promise((resolve, reject) => {
          state.wake = resolve;
          state.reject = reject;
        });
      },
      return: () => Promise.resolve(finish()),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** Hands `batch` to each iterator: a waiting next() at once, else its queue. */
  push(batch: Batch): void {
    let full = false;
    for (const it of this.#all) {
      if (!settle(it, { value: batch, done: false })) {
        it.queue.push(batch);
        if (it.queue.length >= ITERATOR_HIGH_WATER) full = true;
      }
    }
    if (full) this.#demandChanged();
  }

  /** Hands a read error to each iterator; false when there is none to tell. */
  reject(err: Error): boolean {
    let told = false;
    for (const it of this.#all) {
      told = true;
      if (it.reject) {
        const reject = it.reject;
        it.wake = it.reject = null;
        // That ends the loop awaiting it, which will not call return():
        // an iterator nobody reads must not hold the socket's reading back.
        this.#drop(it);
        reject(err);
      } else {
        it.error = err;
      }
    }
    return told;
  }

  /** Ends them all: waiting next() calls now, the others once their queue is read. */
  end(): void {
    for (const it of this.#all) settle(it, { value: undefined, done: true });
    this.#all.clear();
  }

  #drop(it: IteratorState): void {
    this.#all.delete(it);
    this.#demandChanged();
  }
}
