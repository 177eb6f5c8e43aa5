// BatchSocket.steer: the kernel picks an SO_REUSEPORT group's member for
// each datagram by the program steer() attaches. Two members on loopback;
// the payload hash is checked against a model of the program, datagram by
// datagram, and equal connection IDs from many source ports against one member.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { BatchSocket, type Datagram } from '../../src/index';
import { until } from '../helpers';

const linux = process.platform === 'linux';
const MIX = 0x9e3779b1;

/** The member payloadSteering's program picks, computed as its comments say (wire/steering.ts). */
function modelMember(payload: Uint8Array, offset: number, length: number, members: number): number {
  const end = offset + length;
  if (end > payload.length) return 0;
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let h = 0, at = offset;
  const round = (chunk: number) => { h = (Math.imul(h, MIX) + chunk) >>> 0; };
  for (; at + 4 <= end; at += 4) round(v.getUint32(at));
  if (at + 2 <= end) {
    round(v.getUint16(at));
    at += 2;
  }
  if (at < end) round(payload[at]);
  return ((Math.imul(h, MIX) >>> 0) >>> 16) % members;
}

const open: BatchSocket[] = [];
after(() => Promise.all(open.map((s) => s.close())));

async function group(): Promise<{ members: BatchSocket[]; got: Datagram[][]; port: number }> {
  const first = await BatchSocket.bind({ address: '127.0.0.1', reusePort: true, recvBufferSize: 4 << 20 });
  const port = first.address().port;
  const second = await BatchSocket.bind({ address: '127.0.0.1', port, reusePort: true, recvBufferSize: 4 << 20 });
  const members = [first, second];
  open.push(...members);
  const got: Datagram[][] = [[], []];
  members.forEach((m, i) => m.on('batch', (b) => got[i].push(...b)));
  return { members, got, port };
}

/** Sends each payload from a sender socket of its own (its own source port), in turn. */
async function fromManyPorts(payloads: Buffer[], port: number): Promise<void> {
  for (const p of payloads) {
    const s = await BatchSocket.bind({ address: '127.0.0.1' });
    await s.writeBatchTo([p], '127.0.0.1', port);
    await s.close();
  }
}

describe('BatchSocket.steer', { skip: !linux }, () => {
  it('a payload hash: every datagram on the member the program says, equal connection IDs on one member', async () => {
    const { members, got, port } = await group();
    // Bytes 1..9 as a QUIC short header's connection ID (offset 1, length 9: two words and a byte).
    members[1].steer({ offset: 1, length: 9 }, 2);
    const payloads = Array.from({ length: 64 }, (_, i) => {
      const p = Buffer.alloc(20, i);
      p.writeUInt32BE((i * 2654435761) >>> 0, 1);
      p[0] = i; // the sequence number, outside the hashed bytes
      return p;
    });
    const sameId = Array.from({ length: 16 }, (_, i) => {
      const p = Buffer.from(payloads[0]);
      p[0] = 100 + i;
      return p;
    });
    await fromManyPorts([...payloads, ...sameId], port);
    await until(() => got[0].length + got[1].length === 80, 5000, 'all 80 datagrams');
    const where = new Map<number, number>();
    got.forEach((g, member) => g.forEach((d) => where.set(d.data[0], member)));
    for (const p of payloads) assert.equal(where.get(p[0]), modelMember(p, 1, 9, 2), `datagram ${p[0]}`);
    const sameMember = new Set(sameId.map((p) => where.get(p[0])));
    assert.deepEqual([...sameMember], [modelMember(payloads[0], 1, 9, 2)], 'one connection ID, one member, from 16 source ports');
    assert.ok(got[0].length > 0 && got[1].length > 0, 'both members get their share');
    // A datagram too short for the hashed bytes: the first member.
    got[0].length = got[1].length = 0;
    await fromManyPorts([Buffer.from([200, 1, 2])], port);
    await until(() => got[0].length + got[1].length === 1, 5000, 'the short datagram');
    assert.equal(got[0].length, 1);
  });

  it("'cpu' and 'flow': each datagram exactly once across the group; 'flow' keeps a flow on one member", async () => {
    const { members, got, port } = await group();
    members[0].steer('cpu', 2);
    await fromManyPorts(Array.from({ length: 20 }, (_, i) => Buffer.from([i])), port);
    await until(() => got[0].length + got[1].length === 20, 5000, '20 datagrams');
    assert.deepEqual([...got[0], ...got[1]].map((d) => d.data[0]).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    members[0].steer('flow');
    members[0].steer('flow'); // again: nothing attached is what was asked for
    got[0].length = got[1].length = 0;
    const flow = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(flow);
    for (let i = 0; i < 10; i++) await flow.writeBatchTo([Buffer.from([i])], '127.0.0.1', port);
    await until(() => got[0].length + got[1].length === 10, 5000, 'the flow');
    assert.ok(got[0].length === 10 || got[1].length === 10, 'one flow, one member');
  });

  it('refuses bad steering with Node-style errors, and the socket goes on', async () => {
    const { members } = await group();
    const s = members[0];
    assert.throws(() => s.steer('hash' as never, 2), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => s.steer('cpu'), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => s.steer('cpu', 0), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => s.steer({ offset: -1, length: 8 }, 2), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => s.steer({ offset: 0, length: 0 }, 2), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => s.steer({ offset: 0, length: 1025 }, 2), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => s.steer({ offset: 65000, length: 600 }, 2), { code: 'ERR_OUT_OF_RANGE', message: /65535/ });
    assert.throws(() => s.steer({ offset: '1', length: 8 } as never, 2), { code: 'ERR_INVALID_ARG_TYPE' });
    s.steer({ offset: 0, length: 1024 }, 2); // the longest program
    const portable = await BatchSocket.bind({ address: '127.0.0.1', batching: false });
    open.push(portable);
    assert.throws(() => portable.steer('cpu', 2), { code: 'ERR_BATCHGRAM_UNSUPPORTED' });
    // The socket goes on, under the longest program: too short for it, the datagram goes to the first member.
    const got = new Promise<Datagram[]>((r) => s.once('batch', r));
    await portable.writeBatchTo([Buffer.from('still')], '127.0.0.1', s.address().port);
    assert.equal((await got)[0].data.toString(), 'still');
  });
});
