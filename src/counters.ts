// Named counters shared by sockets, for the kernel's receive-queue drop count
// (SO_RXQ_OVFL). A socket reports into the counter named by its
// rxqOverflowMetric option; sockets given the same name (a rebind, several
// sockets of one service) add into one counter.

/** A named count that sockets add to; callers read it (getCounter, counters). */
export class Counter {
  #value = 0;
  /** Counters are made by the sockets that report into them (counterFor). */
  constructor(...made: never);
  /** @internal by counterFor */
  constructor(name: string);
  constructor(readonly name: string) {}
  get value(): number { return this.#value; }
  /** @internal the socket's own report */
  add(delta: number): void { this.#value += delta; }
}

const registry = new Map<string, Counter>();

/** The counter called `name`, created on first use; none for an empty name. */
export function counterFor(name: string): Counter | undefined {
  if (name.length === 0) return undefined;
  let c = registry.get(name);
  if (c === undefined) {
    c = new Counter(name);
    registry.set(name, c);
  }
  return c;
}

/** An existing counter, or undefined when no socket ever registered it. */
export function getCounter(name: string): Counter | undefined {
  return registry.get(name);
}

/** A snapshot of every registered counter. */
export function counters(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, c] of registry) out[name] = c.value;
  return out;
}

/**
 * The kernel reports a cumulative uint32 that wraps; the increase since the
 * last value we saw is their difference modulo 2^32.
 */
export function counterDelta(previous: number, current: number): number {
  return (current - previous) >>> 0;
}
