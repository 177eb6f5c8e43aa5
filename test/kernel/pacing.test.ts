// Pacing (SO_TXTIME): the socket option as the kernel reads it back, each
// message's txTime as the kernel receives it (SCM_TXTIME, seen by a shim in
// front of sendmmsg that the test builds), and bad input. Whether a qdisc
// spaces the messages is the two-host tests' (fq is not on every kernel).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { abi } from '../../src/wire/abi';
import { binding } from '../../src/kernel/native';
import { bindClosedAfter, collect, index, missingCommand } from '../helpers';

const bind = bindClosedAfter();

// Logs the payload's first byte and the SCM_TXTIME of every message sendmmsg
// is given, one line each ("-" for none), then makes the call.
const SHIM = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int sendmmsg(int fd, struct mmsghdr* v, unsigned n, int flags) {
  static int (*real)(int, struct mmsghdr*, unsigned, int);
  if (!real) real = (int (*)(int, struct mmsghdr*, unsigned, int))dlsym(RTLD_NEXT, "sendmmsg");
  FILE* log = fopen(getenv("TXTIME_LOG"), "a");
  for (unsigned i = 0; log && i < n; i++) {
    struct msghdr* h = &v[i].msg_hdr;
    char when[32] = "-";
    for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != ${abi.SCM_TXTIME}) continue;
      uint64_t t;
      memcpy(&t, CMSG_DATA(c), sizeof t);
      snprintf(when, sizeof when, "%llu", (unsigned long long)t);
    }
    fprintf(log, "%c %s\\n", ((char*)h->msg_iov[0].iov_base)[0], when);
  }
  if (log) fclose(log);
  return real(fd, v, n, flags);
}
`;


describe('pacing (SO_TXTIME)', { skip: binding === null ? 'needs the batch path' : false }, () => {
  it('sets SO_TXTIME on CLOCK_MONOTONIC, as the kernel reads it back; deadline reports with receiveErrors', async () => {
    const txtime = (b: Uint8Array) => { const v = new DataView(b.buffer, b.byteOffset); return [v.getInt32(0, true), v.getUint32(4, true)]; };
    const paced = await bind({ address: '127.0.0.1', pacing: true });
    assert.equal(paced.capabilities.pacing, true);
    assert.deepEqual(txtime(paced.getSocketOption(abi.SOL_SOCKET, abi.SO_TXTIME, 8)), [abi.CLOCK_MONOTONIC, 0]);
    const reporting = await bind({ type: 'udp6', address: '::1', pacing: true, receiveErrors: true });
    assert.deepEqual(txtime(reporting.getSocketOption(abi.SOL_SOCKET, abi.SO_TXTIME, 8)), [abi.CLOCK_MONOTONIC, abi.SOF_TXTIME_REPORT_ERRORS]);
    const plain = await bind({ address: '127.0.0.1' });
    assert.equal(plain.capabilities.pacing, false);
  });

  it('delivers paced messages (loopback sends at once: it has no qdisc that waits)', async () => {
    const rx = await bind({ address: '127.0.0.1' });
    const tx = await bind({ address: '127.0.0.1', pacing: true });
    const port = rx.address().port;
    const arriving = collect(rx, 4);
    const now = process.hrtime.bigint();
    await tx.writeMessages([
      { data: Buffer.from('a'), address: '127.0.0.1', port, txTime: now },
      { data: Buffer.from('bbcc'), address: '127.0.0.1', port, segmentSize: 2, txTime: now + 1_000_000n },
      { data: Buffer.from('d'), address: '127.0.0.1', port },
    ]);
    assert.deepEqual((await arriving).map((d) => d.data.toString()), ['a', 'bb', 'cc', 'd']);
  });

  it('rejects bad values and a socket without pacing; the socket stays usable', async () => {
    const rx = await bind({ address: '127.0.0.1' });
    const tx = await bind({ address: '127.0.0.1', pacing: true });
    const plain = await bind({ address: '127.0.0.1' });
    const port = rx.address().port;
    const message = (txTime: unknown) => [{ data: Buffer.from('x'), address: '127.0.0.1', port, txTime: txTime as bigint }];
    for (const [value, code] of [[1000, 'ERR_INVALID_ARG_TYPE'], ['1', 'ERR_INVALID_ARG_TYPE'], [-1n, 'ERR_OUT_OF_RANGE'],
      [2n ** 64n, 'ERR_OUT_OF_RANGE']] as const) {
      await assert.rejects(tx.writeMessages(message(value)), { code, message: /messages\[0\]\.txTime/ }, String(value));
    }
    await assert.rejects(plain.writeMessages(message(1n)), { code: 'ERR_BATCHGRAM_UNSUPPORTED', message: /pacing/ });
    await assert.rejects(bind({ pacing: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(bind({ address: '127.0.0.1', pacing: true, batching: false }), { code: 'ERR_BATCHGRAM_UNSUPPORTED', message: /pacing/ });
    const arriving = collect(rx, 1);
    await tx.writeMessages(message(2n ** 64n - 1n));
    assert.equal((await arriving).length, 1, 'still usable, the largest time taken');
  });

  describe('each message\'s txTime reaches the kernel as its SCM_TXTIME', { skip: missingCommand('cc', ['--version'], 'needs a C compiler (cc) to build the sendmmsg shim (.ci/run installs one)') ?? false }, () => {
    let dir = '';
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'batchgram-txtime-'));
      writeFileSync(join(dir, 'shim.c'), SHIM);
      execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, 'shim.so'), join(dir, 'shim.c'), '-ldl']);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('as asked, message by message, and none for a message without one', () => {
      const script = `
        const { BatchSocket } = require(${JSON.stringify(index)});
        (async () => {
          const rx = await BatchSocket.bind({ address: '127.0.0.1' });
          const tx = await BatchSocket.bind({ address: '127.0.0.1', pacing: true, gso: false });
          const port = rx.address().port;
          await tx.writeMessages([
            { data: Buffer.from('a'), address: '127.0.0.1', port, txTime: 1234567890123n },
            { data: Buffer.from('b'), address: '127.0.0.1', port },
            { data: Buffer.from('c'), address: '127.0.0.1', port, txTime: 0xfedcba9876543210n, ecn: 1 },
          ]);
          rx.close(); tx.close();
        })();
      `;
      const log = join(dir, 'log');
      const r = spawnSync(process.execPath, ['-e', script], {
        // After what is preloaded already: the sanitizer run's runtime must come first.
        encoding: 'utf8', env: { ...process.env, LD_PRELOAD: [process.env.LD_PRELOAD, join(dir, 'shim.so')].filter(Boolean).join(' '), TXTIME_LOG: log },
      });
      assert.equal(r.status, 0, r.stderr);
      // The process's other sendmmsg calls (the GSO probe's) are not the test's.
      const lines = readFileSync(log, 'utf8').trim().split('\n').filter((l) => /^[abc] /.test(l));
      assert.deepEqual(lines, ['a 1234567890123', 'b -', `c ${0xfedcba9876543210n}`]);
    });
  });
});
