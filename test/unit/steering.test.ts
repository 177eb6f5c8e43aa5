// The steering programs' bytes: instruction by instruction for 'cpu', and
// how many rounds of which loads a payload hash makes (the kernel test runs them).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOST_LITTLE_ENDIAN } from '../../src/wire/byteorder';
import { cpuSteering, FILTER_SIZE, payloadSteering, STEERING_BYTES_MAX } from '../../src/wire/steering';

/** [code, jt, jf, k] of each instruction. */
function decode(p: Uint8Array): Array<[number, number, number, number]> {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return Array.from({ length: p.length / FILTER_SIZE }, (_, i) => [
    v.getUint16(i * 8, HOST_LITTLE_ENDIAN), p[i * 8 + 2], p[i * 8 + 3], v.getUint32(i * 8 + 4, HOST_LITTLE_ENDIAN),
  ]);
}

describe('steering programs', () => {
  it("'cpu': load the CPU, modulo the members, return it", () => {
    assert.deepEqual(decode(cpuSteering(3)), [[0x20, 0, 0, 0xfffff024], [0x94, 0, 0, 3], [0x16, 0, 0, 0]]);
  });

  for (const [offset, length, loads] of [
    [0, 1, [[0x30, 0]]],
    [1, 2, [[0x28, 1]]],
    [1, 3, [[0x28, 1], [0x30, 3]]],
    [4, 4, [[0x20, 4]]],
    [1, 9, [[0x20, 1], [0x20, 5], [0x30, 9]]],
    [0, 11, [[0x20, 0], [0x20, 4], [0x28, 8], [0x30, 10]]],
  ] as Array<[number, number, Array<[number, number]>]>) {
    it(`a hash of ${length} bytes from ${offset}: ${loads.length} rounds, words first`, () => {
      const insns = decode(payloadSteering(offset, length, 5));
      assert.deepEqual(insns[0], [0x01, 0, 0, 0], 'X = 0');
      assert.equal(insns.length, 1 + 7 * loads.length + 5);
      loads.forEach(([code, at], r) => assert.deepEqual(insns.slice(1 + 7 * r, 8 + 7 * r).map(([c, , , k]) => [c, k]), [
        [0x87, 0], [0x24, 0x9e3779b1], [0x02, 0], [code, at], [0x61, 0], [0x0c, 0], [0x07, 0],
      ]));
      assert.deepEqual(insns.slice(-5).map(([c, , , k]) => [c, k]), [[0x87, 0], [0x24, 0x9e3779b1], [0x74, 16], [0x94, 5], [0x16, 0]]);
    });
  }

  it('stays within the kernel\'s 4096 instructions at the longest hash', () => {
    assert.ok(payloadSteering(0, STEERING_BYTES_MAX, 2).length / FILTER_SIZE <= 4096);
  });
});
