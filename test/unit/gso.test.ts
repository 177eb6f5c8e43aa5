// GSO planning, with the reference design's coalescing table: each case lists
// the datagram lengths of every planned message and its segment size.
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { GeneveHeader, GENEVE_FIXED_HEADER_LENGTH as G, GENEVE_PROTOCOL_WIREGUARD } from '../../src/wire/geneve';
import { coalesce, type CoalesceOptions, forwardsWhole, gsoAllowed, GsoRefusal, packedRuns, wholeRun, gsoRefusal, MessagePlan, planNext, SENTINEL, SENTINEL_BATCH_THRESHOLD } from '../../src/offload/gso';
import { MAX_IPV4_PAYLOAD, MAX_IPV6_PAYLOAD, UDP_MAX_SEGMENTS } from '../../src/limits';
import { datagramSpans } from '../../src/offload/spans';
import { cutMessages, segmentCount } from '../../src/offload/segments';
import { RefusedSegments } from '../../src/offload/refused-segments';

const S = SENTINEL.length;
const geneve = new GeneveHeader({ protocol: GENEVE_PROTOCOL_WIREGUARD, vni: 1 });

/** Plans `lengths` and returns, per message, the lengths it carries (sentinel last) and its segment size. */
function plan(lengths: number[], opts: { maxPayload?: number; never?: boolean } = {}) {
  const p = new MessagePlan(lengths.length);
  const n = coalesce(lengths, 0, lengths.length, { maxPayload: opts.maxPayload ?? MAX_IPV4_PAYLOAD, neverGsoEqualTail: opts.never }, p);
  const msgs: number[][] = [];
  const gso: number[] = [];
  for (let m = 0; m < n; m++) {
    const lens = lengths.slice(p.first[m], p.first[m] + p.count[m]);
    if (p.sentinel[m]) lens.push(S);
    msgs.push(lens);
    gso.push(p.segment[m]);
  }
  return { msgs, gso };
}

// Payload lengths as written by the caller, each behind 8 bytes of room for
// a Geneve header (offset 8), as in the reference's table.
const cases: Array<{ name: string; payloads: number[]; vni?: boolean; never?: boolean; msgs: number[][]; gso: number[] }> = [
  { name: 'one message, no coalescing', payloads: [1], msgs: [[1]], gso: [0] },
  { name: 'one message, no coalescing, Geneve', payloads: [1], vni: true, msgs: [[1 + G]], gso: [0] },
  { name: 'two equal lengths coalesce', payloads: [1, 1], msgs: [[1, 1]], gso: [1] },
  { name: 'two equal lengths coalesce, Geneve', payloads: [1, 1], vni: true, msgs: [[1 + G, 1 + G]], gso: [1 + G] },
  { name: 'shorter second coalesces', payloads: [2, 1], msgs: [[2, 1]], gso: [2] },
  { name: 'shorter second coalesces, Geneve', payloads: [2, 1], vni: true, msgs: [[2 + G, 1 + G]], gso: [2 + G] },
  { name: 'a short datagram ends the message', payloads: [2, 1, 2], msgs: [[2, 1], [2]], gso: [2, 0] },
  { name: 'a short datagram ends the message, Geneve', payloads: [2, 1, 2], vni: true, msgs: [[2 + G, 1 + G], [2 + G]], gso: [2 + G, 0] },
  { name: 'three equal lengths coalesce', payloads: [2, 2, 2], msgs: [[2, 2, 2]], gso: [2] },
  { name: 'three equal lengths coalesce, Geneve', payloads: [2, 2, 2], vni: true, msgs: [[2 + G, 2 + G, 2 + G]], gso: [2 + G] },
  { name: 'sentinel after equal lengths', payloads: [3, 3], never: true, msgs: [[3, 3, S]], gso: [3] },
  { name: 'sentinel after equal lengths, Geneve', payloads: [3, 3], vni: true, never: true, msgs: [[3 + G, 3 + G, S]], gso: [3 + G] },
  { name: 'no sentinel after a naturally short tail', payloads: [3, 2], never: true, msgs: [[3, 2]], gso: [3] },
  { name: 'a one-byte datagram is not coalesced with the sentinel option', payloads: [2, 1], never: true, msgs: [[2], [1]], gso: [0, 0] },
  { name: 'with Geneve a one-byte payload is 9 bytes and coalesces', payloads: [2, 1], vni: true, never: true, msgs: [[2 + G, 1 + G]], gso: [2 + G] },
  { name: 'sentinel on the message a longer datagram closes', payloads: [3, 3, 3, 5], never: true, msgs: [[3, 3, 3, S], [5]], gso: [3, 0] },
  { name: 'a single datagram gets no sentinel', payloads: [3], never: true, msgs: [[3]], gso: [0] },
  { name: 'short tail, then a new single message', payloads: [3, 3, 2, 3], never: true, msgs: [[3, 3, 2], [3]], gso: [3, 0] },
];

describe('coalesce (reference table)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const buffers = c.payloads.map((n) => new Uint8Array(n + G));
      const { lengths } = datagramSpans(buffers, G, c.vni ? geneve : undefined, MAX_IPV4_PAYLOAD);
      const got = plan([...lengths], { never: c.never });
      assert.deepEqual(got.msgs, c.msgs);
      assert.deepEqual(got.gso, c.gso);
    });
  }
});

describe('coalesce limits', () => {
  it('carries at most UDP_MAX_SEGMENTS datagrams per message', () => {
    const got = plan(new Array(UDP_MAX_SEGMENTS + 1).fill(100));
    assert.deepEqual(got.msgs.map((m) => m.length), [UDP_MAX_SEGMENTS, 1]);
    assert.deepEqual(got.gso, [100, 0]);
  });

  it('keeps one datagram of room for the sentinel', () => {
    const got = plan(new Array(UDP_MAX_SEGMENTS).fill(100), { never: true });
    assert.deepEqual(got.msgs.map((m) => m.length), [UDP_MAX_SEGMENTS, 1]); // 63 + sentinel, then 1
    assert.equal(got.msgs[0].at(-1), S);
  });

  it('keeps each message within the family payload limit', () => {
    const ipv4 = plan([30000, 30000, 30000]);
    assert.deepEqual(ipv4.msgs, [[30000, 30000], [30000]]);
    const fits = plan([21835, 21835, 21835]); // 65505 <= 65507
    assert.deepEqual(fits.msgs, [[21835, 21835, 21835]]);
    const ipv6 = plan([21842, 21842, 21842], { maxPayload: MAX_IPV6_PAYLOAD }); // 65526 <= 65527
    assert.equal(ipv6.msgs.length, 1);
    assert.equal(plan([21842, 21842, 21842]).msgs.length, 2); // 65526 > 65507 on IPv4
  });

  it('keeps a byte of room for the sentinel in the payload limit', () => {
    assert.deepEqual(plan([32753, 32753], { maxPayload: 65506 }).msgs, [[32753, 32753]]);
    assert.deepEqual(plan([32753, 32753], { maxPayload: 65506, never: true }).msgs, [[32753], [32753]]);
  });

  it('sends an empty datagram alone', () => {
    assert.deepEqual(plan([0, 0, 5]).msgs, [[0], [0], [5]]);
    assert.deepEqual(plan([5, 0]).msgs, [[5], [0]]);
    assert.deepEqual(plan([5, 5, 0, 5]).msgs, [[5, 5], [0], [5]]);
  });

  it('sends datagrams at least as long as a refused segment size singly, per group', () => {
    const lengths = [1400, 1400, 1400, 1000, 1000, 1399, 1399];
    const run = (opts: Partial<CoalesceOptions>) => {
      const p = new MessagePlan(lengths.length);
      const n = coalesce(lengths, 0, lengths.length, { maxPayload: MAX_IPV4_PAYLOAD, ...opts }, p);
      return Array.from({ length: n }, (_, m) => [p.count[m], p.segment[m]]);
    };
    assert.deepEqual(run({}), [[4, 1400], [1, 0], [2, 1399]]);
    assert.deepEqual(run({ refusedSegment: [1400] }), [[1, 0], [1, 0], [1, 0], [2, 1000], [2, 1399]]);
    assert.deepEqual(run({ refusedSegment: [1200] }), [[1, 0], [1, 0], [1, 0], [2, 1000], [1, 0], [1, 0]]);
    assert.deepEqual(run({ refusedSegment: [0] }), run({}), '0: nothing refused');
    // Groups 0 and 1: only group 1's path refused.
    assert.deepEqual(run({ messageOf: [0, 0, 1, 1, 1, 0, 0], refusedSegment: [0, 1200] }),
      [[2, 1400], [1, 0], [2, 1000], [2, 1399]]);
  });

  it('plans a sub-range of the batch', () => {
    const p = new MessagePlan(4);
    const n = coalesce([9, 4, 4, 4], 1, 4, { maxPayload: MAX_IPV4_PAYLOAD }, p);
    assert.equal(n, 1);
    assert.deepEqual([p.first[0], p.count[0], p.segment[0]], [1, 3, 4]);
  });
});

describe('datagramSpans', () => {
  it('writes the Geneve header into the 8 bytes before the offset', () => {
    const b = new Uint8Array(20).fill(0xee);
    const { start, lengths } = datagramSpans([b], 10, geneve, MAX_IPV4_PAYLOAD);
    assert.equal(start, 2);
    assert.equal(lengths[0], 18);
    assert.deepEqual(GeneveHeader.decode(b, 2).vni, 1);
    assert.equal(b[0], 0xee);
  });

  it('skips the bytes before the offset without a VNI', () => {
    const b = new Uint8Array(20).fill(0xee);
    const { start, lengths } = datagramSpans([b], 10, new GeneveHeader(), MAX_IPV4_PAYLOAD);
    assert.equal(start, 10);
    assert.equal(lengths[0], 10);
    assert.ok(b.every((x) => x === 0xee));
  });

  it('rejects without writing anything', () => {
    const ok = new Uint8Array(20);
    const cases: Array<[Uint8Array[], number, GeneveHeader | undefined, string]> = [
      [[ok], 4, geneve, 'ERR_OUT_OF_RANGE'], // no room for the header
      [[ok, new Uint8Array(3)], 8, geneve, 'ERR_OUT_OF_RANGE'], // second buffer shorter than the offset
      [[ok], -1, undefined, 'ERR_OUT_OF_RANGE'],
      [[ok], 1.5, undefined, 'ERR_OUT_OF_RANGE'],
      [[ok, 'x' as unknown as Uint8Array], 0, undefined, 'ERR_INVALID_ARG_TYPE'],
      [[new Uint8Array(MAX_IPV4_PAYLOAD + 1)], 0, undefined, 'ERR_OUT_OF_RANGE'],
    ];
    for (const [buffers, offset, g, code] of cases) {
      assert.throws(() => datagramSpans(buffers, offset, g, MAX_IPV4_PAYLOAD), { code });
      assert.ok(ok.every((x) => x === 0), 'nothing written on failure');
    }
  });
});

describe('whether a write uses GSO', () => {
  it('with the sentinel workaround, batches under SENTINEL_BATCH_THRESHOLD skip GSO', () => {
    const cases: Array<[number, boolean, boolean]> = [
      [1, false, true], [7, false, true], [7, true, false], [SENTINEL_BATCH_THRESHOLD, true, true], [128, true, true],
    ];
    for (const [datagrams, never, want] of cases) assert.equal(gsoAllowed(datagrams, never), want, `${datagrams} ${never}`);
  });

  it('reads a refused GSO message by its errno', () => {
    const { EIO, EINVAL, EMSGSIZE, EPERM } = constants.errno;
    const cases: Array<[string, number, boolean, boolean, GsoRefusal]> = [
      ['EIO on GSO: off for good', -EIO, true, true, GsoRefusal.DisableGso],
      ['EIO once GSO is already off: an error', -EIO, true, false, GsoRefusal.None],
      ['EIO without GSO: an error', -EIO, false, true, GsoRefusal.None],
      ['EINVAL on GSO: this message singly', -EINVAL, true, true, GsoRefusal.SendSingly],
      ['EMSGSIZE on GSO: this message singly', -EMSGSIZE, true, false, GsoRefusal.SendSingly],
      ['EMSGSIZE without GSO: an error', -EMSGSIZE, false, true, GsoRefusal.None],
      ['anything else: an error', -EPERM, true, true, GsoRefusal.None],
    ];
    for (const [name, errno, usedGso, txOffload, want] of cases) assert.equal(gsoRefusal(errno, usedGso, txOffload), want, name);
  });

  it('plans datagrams before singlesUntil one by one, then GSO again', () => {
    const plan = new MessagePlan(8);
    const lengths = [100, 100, 100, 100, 100];
    const opts = { maxPayload: MAX_IPV4_PAYLOAD };
    assert.equal(planNext(lengths, 0, 5, 2, true, opts, 8, plan), 2);
    assert.deepEqual([...plan.count.subarray(0, 2)], [1, 1]);
    assert.equal(planNext(lengths, 2, 5, 2, true, opts, 8, plan), 1);
    assert.deepEqual([plan.first[0], plan.count[0], plan.segment[0]], [2, 3, 100]);
    assert.equal(planNext(lengths, 0, 5, 0, false, opts, 3, plan), 3, 'without GSO, at most batchSize messages');
  });
});

describe('remembered GSO refusals', () => {
  it('keeps the smallest refused size per destination until it expires', () => {
    const r = new RefusedSegments(1000, 4);
    assert.equal(r.empty, true);
    assert.equal(r.limit('a', 0), 0);
    r.remember('a', 1400, 0);
    r.remember('a', 1500, 10);
    assert.equal(r.limit('a', 20), 1400, 'the smaller size stands');
    r.remember('a', 1300, 20);
    assert.equal(r.limit('a', 30), 1300);
    assert.equal(r.limit('b', 30), 0, 'per destination');
    assert.equal(r.limit('a', 1019), 1300, 'each refusal renews the time');
    assert.equal(r.limit('a', 1020), 0, 'forgotten after the time');
    assert.equal(r.empty, true);
  });

  it('forgets expired refusals when it remembers another, so that it can be empty again', () => {
    const r = new RefusedSegments(1000, 8);
    r.remember('a', 1, 0);
    r.remember('b', 2, 500);
    r.remember('c', 3, 1600);
    r.forget('c');
    assert.equal(r.empty, true);
  });

  it('forgets the oldest destination past its capacity, and on request', () => {
    const r = new RefusedSegments(1000, 2);
    r.remember('a', 1, 0);
    r.remember('b', 2, 0);
    r.remember('a', 1, 1); // a is now the newest
    r.remember('c', 3, 2);
    assert.deepEqual(['a', 'b', 'c'].map((k) => r.limit(k, 3)), [1, 0, 3]);
    r.forget('a');
    assert.equal(r.limit('a', 3), 0);
  });
});

describe('whole messages (writeMessages with segmentSize)', () => {
  it('counts a message\'s datagrams', () => {
    const cases: Array<[number, number, number]> = [[1000, 100, 10], [1001, 100, 11], [99, 100, 1], [100, 100, 1], [0, 0, 1], [50, 0, 1]];
    for (const [length, segment, want] of cases) assert.equal(segmentCount(length, segment), want, `${length}/${segment}`);
  });

  it('plans one message per unit, its segment size only where it carries more than one datagram', () => {
    const plan = new MessagePlan(4);
    assert.equal(plan.whole([9, 1000, 50, 1001], [3, 100, 0, 1001], 1, 3), 3);
    assert.deepEqual([...plan.first.subarray(0, 3)], [1, 2, 3]);
    assert.deepEqual([...plan.segment.subarray(0, 3)], [100, 0, 0]);
    assert.deepEqual([...plan.datagrams.subarray(0, 3)], [10, 1, 1]);
    assert.deepEqual([...plan.bytes.subarray(0, 3)], [1000, 50, 1001]);
  });

  it('cuts what is left of a write into one unit per datagram, in order, each with its message', () => {
    const a = new Uint8Array(250), b = new Uint8Array(40), c = new Uint8Array(0);
    const cut = cutMessages([a, b, a, c], [0, 0, 50, 0], 0, [250, 40, 100, 0], [100, 0, 60, 0], [0, 1, 2, 3], 0);
    assert.deepEqual(cut.lengths, [100, 100, 50, 40, 60, 40, 0]);
    assert.deepEqual(cut.offsets, [0, 100, 200, 0, 50, 110, 0]);
    assert.deepEqual(cut.of, [0, 0, 0, 1, 2, 2, 3]);
    assert.deepEqual(cut.buffers, [a, a, a, b, a, a, c]);
    assert.deepEqual(cutMessages([a, b], [0, 0], 0, [250, 40], [100, 0], [0, 1], 1).lengths, [40], 'from a unit on');
  });
});

describe('wholeRun: which whole messages leave as they stand', () => {
  // [lengths, segments, gso, options, want]
  const cases: Array<[string, number[], number[], boolean, Partial<CoalesceOptions>, number]> = [
    ['all within the limits', [1000, 50, 1001], [100, 0, 1001], true, {}, 3],
    ['none without GSO', [1000, 50], [100, 0], false, {}, 0],
    ['none with the sentinel workaround', [1000, 50], [100, 0], true, { neverGsoEqualTail: true }, 0],
    ['stops at a message of more segments than the kernel takes', [1000, 6500, 100], [100, 100, 0], true, { maxSegments: 64 }, 1],
    ['stops at a message over the payload limit', [1000, 70000], [100, 1000], true, {}, 1],
    ['a single datagram leaves whatever the limits', [70000], [0], true, { maxPayload: 1000 }, 1],
    ['stops at a segment size the path refused', [1000, 2400], [100, 1200], true, { refusedSegment: [1200] }, 1],
    ['a smaller segment than the refused one leaves', [1000, 2400], [100, 1199], true, { refusedSegment: [1200] }, 2],
    ['the refused size of the message\'s own destination', [2400, 2400], [1200, 1200], true,
      { messageOf: [0, 1], refusedSegment: [0, 1200] }, 1],
  ];
  for (const [name, lengths, segments, gso, o, want] of cases) {
    it(name, () => assert.equal(wholeRun(lengths, segments, 0, lengths.length, gso, { maxPayload: 65507, ...o }), want));
  }

  it('counts from `from` up to `to` only', () => {
    assert.equal(wholeRun([70000, 1000, 1000, 70000], [1000, 100, 100, 1000], 1, 3, true, { maxPayload: 65507 }), 2);
  });
});

describe('packedRuns: a packed write as whole messages', () => {
  it('makes each run one GSO message carries one unit, back to back', () => {
    const runs = packedRuns([100, 100, 100, 40, 100, 100], { maxPayload: 65507 }, new MessagePlan(8));
    assert.deepEqual(runs, { offsets: [0, 340], lengths: [340, 200], segments: [100, 100] });
  });

  it('plans a write longer than the plan batch by batch', () => {
    const runs = packedRuns([10, 20, 30, 40, 50], { maxPayload: 65507 }, new MessagePlan(2));
    assert.deepEqual(runs, { offsets: [0, 10, 30, 60, 100], lengths: [10, 20, 30, 40, 50], segments: [0, 0, 0, 0, 0] });
  });

  it('keeps to the segment limit', () => {
    const runs = packedRuns(new Array(5).fill(8), { maxPayload: 65507, maxSegments: 2 }, new MessagePlan(8));
    assert.deepEqual(runs, { offsets: [0, 16, 32], lengths: [16, 16, 8], segments: [8, 8, 0] });
  });
});

describe('forwardsWhole: a read forwarded as its messages or planned anew', () => {
  const cases: Array<[number, number, boolean]> = [[128, 2, true], [4, 2, true], [3, 2, false], [64, 64, false]];
  for (const [datagrams, messages, want] of cases) {
    it(`${datagrams} datagrams in ${messages} messages: ${want ? 'whole' : 'anew'}`, () => {
      assert.equal(forwardsWhole(datagrams, messages), want);
    });
  }
});
