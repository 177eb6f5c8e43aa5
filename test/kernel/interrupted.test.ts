// A system call a signal interrupts before it did anything fails with EINTR
// and is to be made again, not reported. Our sockets are non-blocking, so no
// call sleeps where a signal could interrupt it: strace injects the EINTR
// instead, into every other call of the addon's recvmmsg, sendmmsg and connect.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { binding } from '../../src/kernel/native';
import { index } from '../helpers';

const HELPERS = JSON.stringify(join(__dirname, '..', 'helpers.js'));
const CALLS = ['recvmmsg', 'sendmmsg', 'connect'];

describe('interrupted system calls', { skip: binding === null }, () => {
  it('are made again: a connected socket sends and receives every datagram, with no error', () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'batchgram-eintr-')), 'strace');
    try {
      const script = `
        const { BatchSocket } = require(${JSON.stringify(index)});
        const { collect, payload } = require(${HELPERS});
        (async () => {
          const rx = await BatchSocket.bind({ address: '127.0.0.1' });
          const tx = await BatchSocket.bind({ address: '127.0.0.1' });
          const errors = [];
          for (const s of [rx, tx]) s.on('error', (err) => errors.push(err.code));
          await tx.connect('127.0.0.1', rx.address().port);
          const arrived = collect(rx, 64);
          for (let w = 0; w < 4; w++) await tx.writeBatch(Array.from({ length: 16 }, (_, i) => payload(w * 16 + i, 200)));
          const got = await arrived;
          const intact = got.every((d, i) => Buffer.from(d.data).equals(payload(i, 200)));
          console.log(JSON.stringify({ received: got.length, intact, errors }));
          await Promise.all([rx.close(), tx.close()]);
        })().catch((err) => console.log(JSON.stringify({ failed: err.code ?? String(err) })));
      `;
      // Calls 1, 3, 5... of each, per thread: every call is interrupted once, then let through.
      const r = spawnSync('strace', ['-f', '--seccomp-bpf', '-qq', '-o', trace, '-e', `trace=${CALLS.join(',')}`,
        '-e', `inject=${CALLS.join(',')}:error=EINTR:when=1+2`, process.execPath, '-e', script], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const injected = readFileSync(trace, 'utf8').split('\n').filter((l) => /= -1 EINTR .*\(INJECTED\)/.test(l));
      for (const call of CALLS) assert.ok(injected.some((l) => l.includes(`${call}(`)), `an EINTR injected into ${call}`);
      assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { received: 64, intact: true, errors: [] });
    } finally {
      rmSync(dirname(trace), { recursive: true, force: true });
    }
  });
});
