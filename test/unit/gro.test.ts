// GRO splitting. The reference reads two messages and splits them into a
// four-slot array; its six cases hold here with the received message count
// standing for "empty" and the output capacity for the slots.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchView } from '../../src/batch';
import { GroOverflowError } from '../../src/errors';
import { segmentCount, splitCoalesced } from '../../src/offload/segments';

const SLOT = 1024;

function split(messages: Array<[length: number, segment: number]>, capacity = 4) {
  const out = { offsets: new Uint32Array(capacity), lengths: new Uint32Array(capacity), message: new Uint16Array(capacity) };
  const starts = messages.map((_, m) => m * SLOT);
  const n = splitCoalesced(starts, messages.map((m) => m[0]), messages.map((m) => m[1]), messages.length, out);
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

describe('BatchView', () => {
  // The engine fills messages; the per-datagram table is cut from them on first use in each read.
  function read(view: BatchView, messages: Array<[start: number, length: number, segment: number]>): void {
    messages.forEach(([start, length, segment], m) => {
      view.messageOffsets[m] = start;
      view.messageLengths[m] = length;
      view.segmentSizes[m] = segment;
    });
    view.setMessages(messages.length, messages.reduce((n, [, l, s]) => n + segmentCount(l, s), 0));
  }
  const table = (v: BatchView) => Array.from({ length: v.count }, (_, i) => [v.offsets[i], v.lengths[i], v.message[i]]);

  it('cuts each read anew, growing past the datagrams it was made for', () => {
    const view = new BatchView(Buffer.alloc(4096), 2, 2);
    read(view, [[0, 3, 0], [1024, 5, 2]]);
    assert.equal(view.count, 4);
    assert.deepEqual(table(view), [[0, 3, 0], [1024, 2, 1], [1026, 2, 1], [1028, 1, 1]]);
    read(view, [[2048, 6, 1]]);
    assert.deepEqual(table(view), [[2048, 1, 0], [2049, 1, 0], [2050, 1, 0], [2051, 1, 0], [2052, 1, 0], [2053, 1, 0]]);
    assert.equal(view.datagram(5).byteOffset - view.data.byteOffset, 2053);
  });

  it('copies each datagram into a genuine Buffer of its own read, whatever the next read writes', () => {
    const view = new BatchView(Buffer.alloc(4096), 2, 2);
    view.peers[0] = view.peers[1] = { address: '127.0.0.1', family: 'IPv4', port: 9 };
    view.data.write('abcdefgh', 0);
    read(view, [[0, 6, 2], [1024, 0, 0]]);
    const batch = view.toBatch();
    view.data.fill(0x7a);
    assert.deepEqual(batch.map((d) => d.data.toString()), ['ab', 'cd', 'ef', '']);
    for (const d of batch) {
      assert.equal(Object.getPrototypeOf(d.data), Buffer.prototype, 'a Buffer, as Buffer.from makes it');
      assert.equal(d.data.buffer === view.data.buffer, false);
    }
  });

  it('hands a read of more than 8 192 datagrams over as several Batches, in order, truncation on the right one', () => {
    // 130 messages of 64 datagrams of 1 byte: 8 320 datagrams, the last message cut.
    const view = new BatchView(Buffer.alloc(130 * 64), 130, 130);
    for (let m = 0; m < 130; m++) view.peers[m] = { address: '127.0.0.1', family: 'IPv4', port: m };
    for (let b = 0; b < view.data.length; b++) view.data[b] = b & 0xff;
    read(view, Array.from({ length: 130 }, (_, m) => [m * 64, 64, 1] as [number, number, number]));
    view.messageTruncated[129] = 1;
    const batches = view.toBatches();
    assert.deepEqual(batches.map((b) => b.length), [8192, 128]);
    const all = batches.flat();
    assert.deepEqual(all.map((d) => d.data[0]), Array.from({ length: 8320 }, (_, i) => i & 0xff));
    assert.deepEqual(all.map((d) => d.port), Array.from({ length: 8320 }, (_, i) => Math.floor(i / 64)));
    assert.deepEqual(all.flatMap((d, i) => (d.truncated ? [i] : [])), [8319]);
    assert.deepEqual(view.toBatch().map((d) => d.data[0]), all.map((d) => d.data[0]), 'toBatch: the same datagrams in one');
  });
});
