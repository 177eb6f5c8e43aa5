// An echo client on BatchSocket: sends numbered datagrams in writes of 64 (one
// system call each, GSO where the kernel has it), reads the echoes with
// for await, and checks each one byte for byte. Each write waits for the
// echoes of the one before, so a slow server loses nothing.
//
// Run: node examples/echo-client.mjs <port> [count]    (against examples/echo-server.mjs)
// Prints how many of the datagrams came back intact; exits 1 unless all did.
import { BatchSocket } from 'batchgram';

const port = Number(process.argv[2]);
const count = Number(process.argv[3] ?? 1000);
const ROUND = 64;

/** Datagram `n`: its number, then 60 bytes that follow from it. */
function datagram(n) {
  const b = Buffer.alloc(64);
  for (let i = 4; i < b.length; i++) b[i] = (n + i) & 0xff;
  b.writeUInt32BE(n, 0);
  return b;
}

const sock = await BatchSocket.bind({ address: '127.0.0.1' });
const giveUp = setTimeout(() => sock.close(), 10_000); // an echo that never comes ends the loop below

let sent = 0;
async function sendRound() {
  const round = [];
  while (round.length < ROUND && sent < count) round.push(datagram(sent++));
  await sock.writeBatchTo(round, '127.0.0.1', port);
}

let received = 0, intact = 0;
await sendRound();
for await (const batch of sock) {
  for (const d of batch) {
    received++;
    if (d.data.length === 64 && d.data.equals(datagram(d.data.readUInt32BE(0)))) intact++;
  }
  if (received < sent) continue;
  if (sent === count) break;
  await sendRound();
}
clearTimeout(giveUp);
await sock.close();

console.log(`${intact} of ${count} echoed intact`);
process.exitCode = intact === count ? 0 : 1;
