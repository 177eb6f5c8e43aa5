// Parsers of untrusted bytes, fed random and adversarial input: control
// messages (what the kernel hands back with each datagram) and Geneve
// headers (what a peer puts in front of its payload). They return or throw
// their documented errors; a read outside the buffer would surface as a
// RangeError from DataView and fail the test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ControlMessageError, GeneveError } from '../../src/errors';
import { cmsgLen, cmsgSpace, findControlData, NATIVE_LAYOUT, writeControl } from '../../src/wire/cmsg';
import { readGroSegmentSize, readOriginalDestination, readRxqOverflows } from './cmsg-fields';
import { GeneveHeader } from '../../src/wire/geneve';
import { abi } from '../../src/wire/abi';
import { rng } from '../fuzz';
import { HOST_LITTLE_ENDIAN as le } from '../../src/wire/byteorder';


/** The level and type of each kind of control message readReceiveControl reads. */
const KINDS: Array<[number, number]> = [
  [abi.SOL_UDP, abi.UDP_GRO], [abi.SOL_SOCKET, abi.SO_RXQ_OVFL], [abi.SOL_SOCKET, abi.SCM_TIMESTAMPNS],
  [abi.IPPROTO_IP, abi.IP_TOS], [abi.IPPROTO_IP, abi.IP_PKTINFO], [abi.IPPROTO_IP, abi.IP_ORIGDSTADDR],
  [abi.IPPROTO_IPV6, abi.IPV6_TCLASS], [abi.IPPROTO_IPV6, abi.IPV6_PKTINFO], [abi.IPPROTO_IPV6, abi.IPV6_ORIGDSTADDR],
];

/** Random bytes, often shaped like control messages with lying lengths. */
function controlBytes(r: () => number): Uint8Array {
  const b = new Uint8Array(Math.floor(r() * 160));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  const v = new DataView(b.buffer);
  // Plausible headers at aligned places, with lengths from tiny to huge
  // (44: a 64-bit header and a sockaddr_in6).
  const lengths = [0, 1, 15, 16, 20, 24, 32, 44, 4096, 0xffffffff];
  for (let at = 0; at + NATIVE_LAYOUT.headerSize <= b.length && r() < 0.8; at += cmsgSpace(4)) {
    v.setUint32(at + (le ? 0 : 4), lengths[Math.floor(r() * lengths.length)], le);
    if (NATIVE_LAYOUT.headerSize === 16) v.setUint32(at + (le ? 4 : 0), r() < 0.9 ? 0 : 1, le);
    if (r() < 0.5) {
      const [level, type] = KINDS[Math.floor(r() * KINDS.length)];
      v.setInt32(at + 8, level, le);
      v.setInt32(at + 12, type, le);
      // A sockaddr's family where an original destination's data starts, else it is never read.
      const data = at + cmsgLen(0);
      if ((type === abi.IP_ORIGDSTADDR || type === abi.IPV6_ORIGDSTADDR) && data + 2 <= b.length) {
        v.setUint16(data, r() < 0.5 ? abi.AF_INET : abi.AF_INET6, le);
      }
    }
  }
  return b;
}

describe('parsers under random input', () => {
  it('control messages: a value, nothing, or ControlMessageError (100 000 inputs)', () => {
    const r = rng(42);
    let parsed = 0, malformed = 0;
    for (let i = 0; i < 100_000; i++) {
      const b = controlBytes(r);
      const v = new DataView(b.buffer);
      const start = Math.floor(r() * (b.length + 1));
      const end = start + Math.floor(r() * (b.length - start + 1));
      try {
        const gro = readGroSegmentSize(v, start, end);
        const rxq = readRxqOverflows(v, start, end);
        const dst = readOriginalDestination(v, start, end);
        assert.ok(dst === null || (Number.isInteger(dst[2]) && dst[1].length === (dst[0] === 'IPv4' ? 4 : 16)));
        const at = findControlData(v, start, end, abi.SOL_UDP, abi.UDP_GRO, 4);
        assert.ok(Number.isInteger(gro) && Number.isInteger(rxq));
        assert.ok(at === -1 || (at >= start && at + 4 <= end), `data at ${at} outside [${start}, ${end})`);
        parsed++;
      } catch (err) {
        assert.ok(err instanceof ControlMessageError, `input ${i}: ${String(err)}`);
        malformed++;
      }
    }
    assert.ok(parsed > 1000 && malformed > 1000, `${parsed} parsed, ${malformed} malformed`);
  });

  it('control messages the kernel could write are always found', () => {
    const b = new Uint8Array(64);
    const v = new DataView(b.buffer);
    const data = new Uint8Array(4);
    new DataView(data.buffer).setInt32(0, 1200, le);
    const n = writeControl(v, 0, abi.SOL_UDP, abi.UDP_GRO, data);
    assert.equal(readGroSegmentSize(v, 0, n), 1200);
  });

  it('Geneve headers: a header, ERR_GENEVE_SHORT_BUFFER, or ERR_OUT_OF_RANGE for a negative offset (100 000 inputs)', () => {
    const r = rng(7);
    let decoded = 0, short = 0, negative = 0;
    for (let i = 0; i < 100_000; i++) {
      const b = new Uint8Array(Math.floor(r() * 20));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(r() * 256);
      const at = Math.floor(r() * 24) - 2;
      // Half the time an options length (0..2 words) that may fit, else a random one that mostly lies.
      if (at >= 0 && at < b.length && r() < 0.5) b[at] = (b[at] & 0xc0) | Math.floor(r() * 3);
      if (at < 0) {
        assert.throws(() => GeneveHeader.decode(b, at), (e: unknown) => e instanceof RangeError && (e as { code?: unknown }).code === 'ERR_OUT_OF_RANGE');
        negative++;
        continue;
      }
      try {
        const h = GeneveHeader.decode(b, at);
        assert.ok(h.version <= 3 && h.vni! <= 0xffffff && h.protocol <= 0xffff && h.optionsLength <= 252);
        assert.ok(at + 8 + h.optionsLength <= b.length, `input ${i}: options past the buffer's end`);
        // What decodes re-encodes to the same fixed header, but for the options length it does not write.
        const out = new Uint8Array(8);
        h.encode(out);
        assert.deepEqual([...out.subarray(1, 7)], [b[at + 1] & 0x80, ...b.subarray(at + 2, at + 7)]);
        decoded++;
      } catch (err) {
        assert.ok(err instanceof GeneveError && err.code === 'ERR_GENEVE_SHORT_BUFFER', `input ${i}: ${String(err)}`);
        short++;
      }
    }
    assert.ok(decoded > 1000 && short > 1000 && negative > 1000, `${decoded} decoded, ${short} short, ${negative} negative`);
  });
});
