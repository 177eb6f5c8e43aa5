// The cooperative budget of write results. A UDP socket is nearly always
// writable, so the kernel usually takes a write inside the call that made
// it, and its promise could settle at once. A loop that awaits each write
// (`while (open) await sock.writeBatchTo(...)`, as QUIC and relay send loops
// are written) would then run on promise jobs alone and never hand the
// thread back to the event loop: no timer, no read, no signal. node:dgram
// cannot starve that way, since its callbacks come from the event loop.
// Tokio solves the same problem with a per-task budget (tokio/src/task/coop):
// an operation that could complete at once still yields once the budget is
// spent. Here the budget is the thread's: up to WRITE_BUDGET results settle
// at once per turn of the event loop, the rest on the next turn, in order.

/**
 * Write results settled at once per turn of the event loop. A send loop
 * pays one setImmediate per this many writes; timers, reads and other
 * sockets wait at most this many writes for their turn.
 */
export const WRITE_BUDGET = 128;

let spent = 0;
/** Results waiting for the next turn, in the order their writes finished; null when none waits. */
let waiting: Array<() => void> | null = null;
let turnPending = false;

function nextTurn(): void {
  turnPending = false;
  spent = 0;
  const settle = waiting;
  waiting = null;
  // Each resolves or rejects a promise, which never throws.
  if (settle !== null) for (const f of settle) f();
}

/**
 * Settles a write's promise through `f`: at once while this turn's budget
 * lasts, else on the next turn of the event loop. Results never overtake one
 * another: once one waits, every later one waits behind it.
 */
export function settleWithinBudget(f: () => void): void {
  if (!turnPending) {
    turnPending = true;
    setImmediate(nextTurn);
  }
  if (waiting === null && spent < WRITE_BUDGET) {
    spent++;
    f();
    return;
  }
  (waiting ??= []).push(f);
}
