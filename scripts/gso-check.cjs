// One GSO batch through a loaded batchgram: bind on loopback, send the socket
// 32 datagrams of 1200 bytes in one write, read them back, and print as one
// JSON line what happened and which addon file did it. Run directly it checks
// the module given (`node gso-check.cjs PATH`); required, it exports the check
// for callers that imported batchgram themselves (the package tests' ESM and
// TypeScript projects). CommonJS and Node 18 syntax, because it also runs on
// Debian's arm64 node under qemu to test the linux-arm64 prebuilt binary.
'use strict';

const COUNT = 32;
const SIZE = 1200;
/** Loopback delivers in microseconds; this only bounds a broken run. */
const TIMEOUT_MS = 10_000;

async function check(batchgram) {
  const sock = await batchgram.BatchSocket.bind({ address: '127.0.0.1', rxqOverflowMetric: 'gso-check' });
  const sent = Array.from({ length: COUNT }, (_, i) => Buffer.alloc(SIZE, i));
  const got = [];
  const arrived = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${got.length} of ${COUNT} datagrams arrived`)), TIMEOUT_MS);
    sock.on('batch', (batch) => {
      got.push(...batch);
      if (got.length >= COUNT) resolve(clearTimeout(timer));
    });
  });
  await sock.writeBatchTo(sent, '127.0.0.1', sock.address().port);
  await arrived;
  const stats = sock.stats();
  await sock.close();
  // The loaded shared objects name the addon file, whoever picked it.
  const addon = process.report.getReport().sharedObjects.filter((f) => /batchgram[^/]*\.node$/.test(f));
  const result = {
    node: process.version, arch: process.arch, addon, capabilities: sock.capabilities,
    received: got.length, intact: got.every((d, i) => d.data.equals(sent[i])),
    datagramsOut: stats.datagramsOut, messagesOut: stats.messagesOut, messagesIn: stats.messagesIn,
  };
  console.log(JSON.stringify(result));
  return result;
}

module.exports = check;

if (require.main === module) {
  check(require(process.argv[2] || 'batchgram')).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
