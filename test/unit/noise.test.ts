// The bench's signs of noise (src/cli/bench/noise.ts) from tables: the CPU
// counters as /proc prints them, the other work between two readings, and
// the spread of a receiver's rate over the rounds of a run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cpuTicks, otherCores, spread, type Sample } from '../../src/cli/bench/noise';

// /proc/self/stat of a process named "a b) (c" (a command name may hold both), utime 11, stime 7, cutime 300, cstime 90.
const SELF = '4242 (a b) (c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 11 7 300 90 20 0 1 0 123 456 78 18446744073709551615';

describe('cpuTicks', () => {
  test('busy is user, nice, system, irq, softirq and steal; total adds idle and iowait; ours is the four times', () => {
    const stat = 'cpu  100 5 40 1000 20 3 2 7 50 0\ncpu0 50 2 20 500 10 1 1 3 25 0\nintr 1\n';
    assert.deepEqual(cpuTicks(stat, SELF), { busy: 157, total: 1177, ours: 408 });
  });
});

describe('otherCores', () => {
  const at = (busy: number, total: number, ours: number) => ({ busy, total, ours });
  const cases: [string, ReturnType<typeof at>, ReturnType<typeof at>, number, number | null][] = [
    ['all the busy time was ours', at(0, 0, 0), at(300, 400, 300), 2, 0],
    ['a quarter of the machine was someone else\'s', at(0, 0, 0), at(300, 400, 200), 2, 0.5],
    ['our reaped children counted more than the machine did (tick rounding): none', at(0, 0, 0), at(300, 400, 310), 2, 0],
    ['no ticks between the readings', at(5, 9, 1), at(5, 9, 1), 2, null],
  ];
  for (const [name, before, after, cpus, expected] of cases) {
    test(name, () => assert.equal(otherCores(before, after, cpus), expected));
  }
});

describe('spread', () => {
  /** Samples every 250 ms at the rates given per sample (datagrams per ms), from a first datagram at 250 ms. */
  const run = (...rates: number[]): Sample[] => {
    const out: Sample[] = [{ at: 0, datagrams: 0 }];
    for (const r of rates) out.push({ at: out.length * 250, datagrams: out[out.length - 1].datagrams + r * 250 });
    return out;
  };
  const cases: [string, Sample[], number | null][] = [
    ['a steady rate: none', run(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0), 0],
    ['the warm-up before the first round is left out', run(0.1, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0), 0],
    // After the first round's start at 750 ms: rounds 750-1250 (2/ms), 1250-1750 (1/ms), 1750-2250 (1.5/ms).
    ['rounds of 2, 1 and 1.5 a ms: (2 - 1) / 1.5', run(1, 1, 1, 2, 2, 1, 1, 1.5, 1.5, 1, 0, 0), 1 / 1.5],
    ['the sender stopping within the last sample that counted is left out', run(1, 1, 1, 1, 1, 1, 1, 1, 0.1, 0, 0), 0],
    ['too short for two rounds', run(1, 1, 1, 1, 0), null],
    ['nothing arrived', [{ at: 0, datagrams: 0 }, { at: 250, datagrams: 0 }], null],
    ['no samples', [], null],
  ];
  for (const [name, samples, expected] of cases) {
    test(name, () => {
      const got = spread(samples);
      if (expected === null || got === null) assert.equal(got, expected);
      else assert.ok(Math.abs(got - expected) < 1e-12, `${got} vs ${expected}`);
    });
  }
});
