// BatchSocket.adopt: a UDP socket made elsewhere joins batchgram as it is.
// python3 plays the supervisor (systemd, or a socket group's parent): it
// opens the descriptors, then runs node with them inherited at 10 and on: a
// bound UDP socket, a bound UDP6 socket, a listening TCP socket, a file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { abi } from '../../src/wire/abi';
import { index } from '../helpers';

const linux = process.platform === 'linux';

const python = `
import os, socket, sys
udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp4.bind(('127.0.0.1', 0))
udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); udp6.bind(('::1', 0))
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM); tcp.bind(('127.0.0.1', 0)); tcp.listen()
f = open('/dev/null')
for fd, s in ((10, udp4), (11, udp6), (12, tcp), (13, f)):
    os.dup2(s.fileno(), fd)  # the copy is inheritable
os.environ['PORTS'] = '[%d, %d]' % (udp4.getsockname()[1], udp6.getsockname()[1])
os.execv(sys.argv[1], [sys.argv[1], '-e', sys.argv[2]])
`;

function inherited(script: string): Record<string, unknown> {
  const r = spawnSync('python3', ['-c', python, process.execPath, `
    const fs = require('node:fs');
    const { BatchSocket } = require(${JSON.stringify(index)});
    const [port4, port6] = JSON.parse(process.env.PORTS);
    const out = {};
    const shape = (e) => e.code + (e.syscall ? ' ' + e.syscall : '') + ' ' + e.constructor.name;
    const fails = (p) => p.then(() => 'adopted', shape);
    const isOpen = (fd) => { try { fs.fstatSync(fd); return true; } catch { return false; } };
    (async () => {
      ${script}
      console.log(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });
  `], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('BatchSocket.adopt', { skip: !linux }, () => {
  it('takes over a bound UDP socket as it is: its address, its family, batching, options set after bind; closing it closes the descriptor', () => {
    const out = inherited(`
      const s = await BatchSocket.adopt(10, { recvBufferSize: 1 << 20, receiveLocalAddress: true, receiveOriginalDestination: true, freebind: true });
      out.freebind = s.getSocketOption(0, ${abi.IP_FREEBIND});
      out.address = s.address().address;
      out.samePort = s.address().port === port4;
      out.type = s.type;
      out.batching = s.capabilities.batching;
      out.bufferAtLeast = s.getRecvBufferSize() >= 1 << 20;
      const got = new Promise((r) => s.once('batch', r));
      await s.writeBatchTo([Buffer.from('one'), Buffer.from('two')], '127.0.0.1', port4);
      const batch = await got;
      out.received = batch.map((d) => d.data.toString() + '@' + d.localAddress);
      out.destinations = batch.map((d) => d.originalDestination.port === port4 && d.originalDestination.address);
      out.again = await fails(BatchSocket.adopt(10));
      await s.close();
      out.openAfterClose = isOpen(10);
      const s6 = await BatchSocket.adopt(11);
      out.type6 = s6.type;
      out.samePort6 = s6.address().port === port6;
      await s6.close();
    `);
    assert.deepEqual(out, {
      address: '127.0.0.1', samePort: true, type: 'udp4', batching: true, bufferAtLeast: true,
      received: ['one@127.0.0.1', 'two@127.0.0.1'], destinations: ['127.0.0.1', '127.0.0.1'], freebind: 1,
      again: 'EEXIST open Error',
      openAfterClose: false, type6: 'udp6', samePort6: true,
    });
  });

  it('refuses what is not a UDP socket of its own, and bind-only options, with Node-style errors', () => {
    const out = inherited(`
      out.tcp = await fails(BatchSocket.adopt(12));
      out.file = await fails(BatchSocket.adopt(13));
      out.closed = await fails(BatchSocket.adopt(999));
      out.text = await fails(BatchSocket.adopt('10'));
      out.negative = await fails(BatchSocket.adopt(-1));
      out.fraction = await fails(BatchSocket.adopt(10.5));
      out.port = await fails(BatchSocket.adopt(10, { port: 1234 }));
      out.reusePort = await fails(BatchSocket.adopt(10, { reusePort: true }));
      out.wrongType = await fails(BatchSocket.adopt(10, { type: 'udp6' }));
      out.badOption = await fails(BatchSocket.adopt(10, { batchSize: 0 }));
      // None of it took the descriptor: it is still there to adopt.
      out.stillOpen = isOpen(10);
      const s = await BatchSocket.adopt(10);
      out.thenAdopted = s.address().port === port4;
      await s.close();
    `);
    assert.deepEqual(out, {
      tcp: 'ERR_INVALID_FD_TYPE TypeError',
      file: 'ERR_INVALID_FD_TYPE TypeError',
      closed: 'EBADF adopt Error',
      text: 'ERR_INVALID_ARG_TYPE TypeError',
      negative: 'ERR_OUT_OF_RANGE RangeError',
      fraction: 'ERR_OUT_OF_RANGE RangeError',
      port: 'ERR_INVALID_ARG_VALUE TypeError',
      reusePort: 'ERR_INVALID_ARG_VALUE TypeError',
      wrongType: 'ERR_INVALID_ARG_VALUE TypeError',
      badOption: 'ERR_OUT_OF_RANGE RangeError',
      stillOpen: true,
      thenAdopted: true,
    });
  });

  it('on the portable path (batching: false) too, through node:dgram', () => {
    const out = inherited(`
      const s = await BatchSocket.adopt(10, { batching: false });
      out.batching = s.capabilities.batching;
      out.samePort = s.address().port === port4;
      const got = new Promise((r) => s.once('batch', r));
      await s.writeBatchTo([Buffer.from('portable')], '127.0.0.1', port4);
      out.received = (await got).map((d) => d.data.toString());
      await s.close();
    `);
    assert.deepEqual(out, { batching: false, samePort: true, received: ['portable'] });
  });
});
