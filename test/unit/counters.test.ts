import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { counterDelta, counterFor, counters, getCounter } from '../../src/counters';

describe('drop counters', () => {
  it('shares one counter per name and none for an empty name', () => {
    assert.equal(counterFor(''), undefined);
    const a = counterFor('test_rxq');
    assert.ok(a);
    assert.equal(counterFor('test_rxq'), a);
    assert.notEqual(counterFor('test_rxq_other'), a);
    assert.equal(getCounter('test_rxq'), a);
    assert.equal(getCounter('never_registered'), undefined);
  });

  it('turns the cumulative uint32 into deltas, across a wrap (reference sequence)', () => {
    const c = counterFor('test_rxq_sequence')!;
    let last = 0;
    const seen = (current: number) => {
      if (current === last) return;
      c.add(counterDelta(last, current));
      last = current;
    };
    seen(1);
    assert.equal(c.value, 1);
    seen(1);
    assert.equal(c.value, 1, 'unchanged counter adds nothing');
    seen(0); // wrapped all the way round
    assert.equal(c.value, 1 + 0xffffffff);
    assert.equal(counters().test_rxq_sequence, 1 + 0xffffffff);
  });

  it('computes deltas modulo 2^32', () => {
    assert.equal(counterDelta(0, 5), 5);
    assert.equal(counterDelta(0xfffffffe, 3), 5);
    assert.equal(counterDelta(7, 7), 0);
  });
});
