// The DNS-like bench rows' wire format: queries padded to a size, and the
// answers the server makes, checked byte by byte.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerQuery, QUERY_MIN, queryOfSize } from '../../src/cli/bench/dns';

describe('DNS-like bench rows', () => {
  it('pads a query to the size asked for, down to the smallest', () => {
    for (const size of [QUERY_MIN, 64, 1200]) {
      const q = queryOfSize(size, 0x1234);
      assert.equal(q.length, size);
      assert.equal(q.readUInt16BE(0), 0x1234);
      assert.equal(q.readUInt16BE(4), 1, 'one question');
      assert.equal(q.readUInt16BE(10), 1, 'one additional record, the OPT');
      assert.equal(q.subarray(12, 30).toString('latin1'), '\x03www\x07example\x04test\x00');
      // The OPT record's option: Padding (12), as long as the rest of the datagram.
      assert.equal(q.readUInt16BE(49 - 4), 12);
      assert.equal(q.readUInt16BE(49 - 2), size - QUERY_MIN);
    }
    assert.throws(() => queryOfSize(QUERY_MIN - 1, 1), RangeError);
  });

  it('answers a query with its id and question, one A record and an OPT record', () => {
    const q = queryOfSize(64, 7);
    const a = answerQuery(q)!;
    assert.equal(a.readUInt16BE(0), 7);
    assert.equal(a.readUInt16BE(2), 0x8500, 'a response, authoritative, recursion desired copied');
    assert.deepEqual([a.readUInt16BE(4), a.readUInt16BE(6), a.readUInt16BE(8), a.readUInt16BE(10)], [1, 1, 0, 1]);
    assert.deepEqual(a.subarray(12, 34), q.subarray(12, 34), 'the question');
    assert.deepEqual([...a.subarray(34, 50)], [0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 1]);
    assert.deepEqual([...a.subarray(50)], [0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
  });

  it('drops what is not one well-formed question', () => {
    const q = queryOfSize(64, 7);
    const response = Buffer.from(q);
    response[2] |= 0x80;
    const twoQuestions = Buffer.from(q);
    twoQuestions[5] = 2;
    const compressed = Buffer.from(q);
    compressed[12] = 0xc0;
    for (const bad of [Buffer.alloc(0), q.subarray(0, 16), response, twoQuestions, compressed, q.subarray(0, 32)]) {
      assert.equal(answerQuery(bad), null);
    }
  });
});
