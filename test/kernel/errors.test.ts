// Bad input gets a clear error, and the socket keeps working afterwards.
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import { BatchgramError, BatchSocket, ControlMessageError, GeneveError, GeneveHeader, GSODisabledError } from '../../src/index';
import { noAddon, queueFull, receiveMemoryError, viewExpired } from '../../src/errors';
import { collect, payload } from '../helpers';

const open: BatchSocket[] = [];
after(() => Promise.all(open.map((s) => s.close())));

/** Node's ERR_* errors name their code wherever they print: `RangeError [ERR_X]: message`. */
function printsLikeNode(err: Error & { code?: string }, what: string): void {
  const header = `${err.name} [${err.code}]: ${err.message}`;
  assert.equal(String(err), header, what);
  assert.equal(err.stack!.split('\n')[0], header, what);
  assert.ok(inspect(err).startsWith(`${header}\n`), what);
  assert.ok(!Object.prototype.hasOwnProperty.call(err, 'name'), `${what}: name is inherited`);
}

describe('bad input', () => {
  it('rejects each mistake with its code and stays usable', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1', batchSize: 4, sendQueueLimit: 4 });
    open.push(rx, tx);
    const port = rx.address().port;
    const one = [payload(0, 10)];
    const cases: Array<[string, () => Promise<void>, string]> = [
      ['host name', () => tx.writeBatchTo(one, 'localhost', port), 'ERR_INVALID_IP_ADDRESS'],
      ['garbage address', () => tx.writeBatchTo(one, '1.2.3.4.5', port), 'ERR_INVALID_IP_ADDRESS'],
      ['IPv6 on udp4', () => tx.writeBatchTo(one, '::1', port), 'ERR_INVALID_IP_ADDRESS'],
      ['address not a string', () => tx.writeBatchTo(one, 7 as unknown as string, port), 'ERR_INVALID_ARG_TYPE'],
      ['port 0', () => tx.writeBatchTo(one, '127.0.0.1', 0), 'ERR_SOCKET_BAD_PORT'],
      ['port 65536', () => tx.writeBatchTo(one, '127.0.0.1', 65536), 'ERR_SOCKET_BAD_PORT'],
      ['fractional port', () => tx.writeBatchTo(one, '127.0.0.1', 80.5), 'ERR_SOCKET_BAD_PORT'],
      ['empty batch', () => tx.writeBatchTo([], '127.0.0.1', port), 'ERR_OUT_OF_RANGE'],
      ['more buffers than the send queue takes', () => tx.writeBatchTo([...one, ...one, ...one, ...one, ...one], '127.0.0.1', port), 'ERR_OUT_OF_RANGE'],
      ['not an array', () => tx.writeBatchTo(payload(0, 10) as unknown as Uint8Array[], '127.0.0.1', port), 'ERR_INVALID_ARG_TYPE'],
      ['a string among buffers', () => tx.writeBatchTo(['hi' as unknown as Uint8Array], '127.0.0.1', port), 'ERR_INVALID_ARG_TYPE'],
      ['datagram over 65507 bytes', () => tx.writeBatchTo([Buffer.alloc(65508)], '127.0.0.1', port), 'ERR_OUT_OF_RANGE'],
      ['offset past a buffer', () => tx.writeBatchTo(one, '127.0.0.1', port, { offset: 11 }), 'ERR_OUT_OF_RANGE'],
      ['Geneve without room before the offset', () => tx.writeBatchTo(one, '127.0.0.1', port, { geneve: new GeneveHeader({ vni: 1 }), offset: 4 }), 'ERR_OUT_OF_RANGE'],
      ['geneve not a GeneveHeader', () => tx.writeBatchTo(one, '127.0.0.1', port, { geneve: {} as GeneveHeader }), 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [name, call, code] of cases) {
      await assert.rejects(call(), (err: Error & { code?: string }) => {
        assert.equal(err.code, code, name);
        assert.ok(err instanceof TypeError || err instanceof RangeError, `${name}: ${err.name}`);
        printsLikeNode(err, name);
        return true;
      });
    }
    // Still usable.
    const arriving = collect(rx, 1);
    await tx.writeBatchTo(one, '127.0.0.1', port);
    assert.ok((await arriving)[0].data.equals(one[0]));
    assert.equal(tx.stats().datagramsOut, 1);
  });

  it('rejects bad options at bind', async () => {
    const cases: Array<[object, string]> = [
      [{ type: 'udp5' }, 'ERR_INVALID_ARG_TYPE'],
      [{ address: 'example.com' }, 'ERR_INVALID_IP_ADDRESS'],
      [{ type: 'udp4', address: '::1' }, 'ERR_INVALID_IP_ADDRESS'],
      [{ port: -1 }, 'ERR_SOCKET_BAD_PORT'],
      [{ port: 70000 }, 'ERR_SOCKET_BAD_PORT'],
      [{ batchSize: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ batchSize: '8' }, 'ERR_INVALID_ARG_TYPE'],
      [{ offload: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
      [{ gso: 1 }, 'ERR_INVALID_ARG_TYPE'],
      [{ gro: 'no' }, 'ERR_INVALID_ARG_TYPE'],
      [{ recvSlotSize: 70000 }, 'ERR_OUT_OF_RANGE'],
    ];
    for (const [options, code] of cases) {
      await assert.rejects(BatchSocket.bind(options as never), (err: Error & { code?: string }) => {
        assert.equal(err.code, code, JSON.stringify(options));
        printsLikeNode(err, JSON.stringify(options));
        return true;
      });
    }
  });

  it('reports a taken port as a Node-style system error', async () => {
    const a = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(a);
    const { port } = a.address();
    await assert.rejects(BatchSocket.bind({ address: '127.0.0.1', port }),
      { code: 'EADDRINUSE', syscall: 'bind', address: '127.0.0.1', port, errno: -constants.errno.EADDRINUSE });
  });
});

describe('batchgram\'s own errors', () => {
  it('are BatchgramErrors that print with their code, as Node\'s errors do', async () => {
    const portable = await BatchSocket.bind({ address: '127.0.0.1', batching: false });
    open.push(portable);
    /** What a call throws or rejects with. */
    const caught = async (call: () => unknown): Promise<Error> => {
      try {
        await call();
      } catch (err) {
        return err as Error;
      }
      throw new Error('nothing thrown');
    };
    const cases: Array<[string, () => unknown, string, string, Function]> = [
      ['a Geneve header without a VNI', () => new GeneveHeader().encode(new Uint8Array(8)), 'ERR_GENEVE_VNI_UNSET', 'GeneveError', GeneveError],
      ['ECN on the portable path', () => portable.writeBatchTo([payload(0, 10)], '127.0.0.1', 9, { ecn: 1 }),
        'ERR_BATCHGRAM_UNSUPPORTED', 'Error', BatchgramError],
      ['GSO refused', () => { throw new GSODisabledError('127.0.0.1:9', null); }, 'ERR_BATCHGRAM_GSO_DISABLED', 'GSODisabledError', GSODisabledError],
      ['a malformed control message', () => { throw new ControlMessageError('malformed'); }, 'ERR_BATCHGRAM_BAD_CONTROL_MESSAGE',
        'ControlMessageError', ControlMessageError],
      ['a full send queue', () => { throw queueFull(4); }, 'ERR_BATCHGRAM_QUEUE_FULL', 'Error', BatchgramError],
      ['an expired view', () => { throw viewExpired(); }, 'ERR_BATCHGRAM_VIEW_EXPIRED', 'Error', BatchgramError],
      ['detached receive memory', () => { throw receiveMemoryError(new TypeError('detached')); }, 'ERR_BATCHGRAM_RECEIVE_MEMORY', 'Error',
        BatchgramError],
      ['no addon', () => { throw noAddon('none was built'); }, 'ERR_BATCHGRAM_NO_ADDON', 'Error', BatchgramError],
    ];
    for (const [what, call, code, name, cls] of cases) {
      const err = await caught(call) as Error & { code?: string };
      assert.ok(err instanceof BatchgramError && err instanceof Error, `${what}: ${String(err)}`);
      assert.equal(err.constructor, cls, what);
      assert.equal(err.code, code, what);
      assert.equal(err.name, name, what);
      printsLikeNode(err, what);
    }
  });
});
