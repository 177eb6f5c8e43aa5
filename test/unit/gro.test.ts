// GRO splitting. The reference reads two messages and splits them into a
// four-slot array; its six cases hold here with the received message count
// standing for "empty" and the output capacity for the slots.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroOverflowError } from '../../src/errors';
import { segmentCount, splitCoalesced } from '../../src/offload/gro';

const SLOT = 1024;

function split(messages: Array<[length: number, segment: number]>, capacity = 4) {
  const out = { offsets: new Uint32Array(capacity), lengths: new Uint32Array(capacity), message: new Uint16Array(capacity) };
  const n = splitCoalesced(messages.map((m) => m[0]), messages.map((m) => m[1]), messages.length, SLOT, out);
  return Array.from({ length: n }, (_, i) => [out.offsets[i], out.lengths[i], out.message[i]]);
}

describe('splitCoalesced (reference cases)', () => {
  const cases: Array<{ name: string; messages: Array<[number, number]>; want: number[][] }> = [
    { name: 'second-last split, last empty', messages: [[3, 1]], want: [[0, 1, 0], [1, 1, 0], [2, 1, 0]] },
    { name: 'second-last not split, last empty', messages: [[1, 0]], want: [[0, 1, 0]] },
    { name: 'second-last not split, last not split', messages: [[1, 0], [1, 0]], want: [[0, 1, 0], [SLOT, 1, 1]] },
    { name: 'second-last not split, last split', messages: [[1, 0], [3, 1]], want: [[0, 1, 0], [SLOT, 1, 1], [SLOT + 1, 1, 1], [SLOT + 2, 1, 1]] },
    { name: 'second-last split, last split', messages: [[2, 1], [2, 1]], want: [[0, 1, 0], [1, 1, 0], [SLOT, 1, 1], [SLOT + 1, 1, 1]] },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(split(c.messages), c.want));

  it('second-last not split, last split beyond the slots: overflow error', () => {
    assert.throws(() => split([[1, 0], [4, 1]]), GroOverflowError);
  });
});

describe('splitCoalesced', () => {
  it('keeps a short tail as the last datagram', () => {
    assert.deepEqual(split([[5, 2]]), [[0, 2, 0], [2, 2, 0], [4, 1, 0]]);
  });

  it('delivers an empty datagram', () => {
    assert.deepEqual(split([[0, 0]]), [[0, 0, 0]]);
  });

  it('counts segments', () => {
    assert.equal(segmentCount(65000, 1000), 65);
    assert.equal(segmentCount(1200, 0), 1);
    assert.equal(segmentCount(0, 1200), 1);
  });
});
