// A QUIC-style server. Bound to every address, it answers each datagram from
// the address the datagram was sent to (a client checks that its peer's
// address did not change, RFC 9000 §9), and marks the answer with the ECN
// codepoint the datagram carried: what a QUIC stack reads (receiveEcn,
// receiveLocalAddress) and writes (ecn, sourceAddress) per datagram. All
// answers to a read leave in one writeMessages call.
//
// Run: node examples/quic-server.mjs [port]    (no port: any free one; it prints which)
// Then send to it at 127.0.0.1, 127.0.0.2, ...: each answer comes from the address you wrote to.
import { BatchSocket } from 'batchgram';

const server = await BatchSocket.bind({
  address: '0.0.0.0', port: Number(process.argv[2] ?? 0), receiveEcn: true, receiveLocalAddress: true,
});
console.log(`listening on 0.0.0.0:${server.address().port}`);

server.on('batch', (batch) => {
  server.writeMessages(batch.map((d) => ({
    data: d.data, address: d.address, port: d.port, sourceAddress: d.localAddress, ecn: d.ecn,
  }))).catch((err) => console.error('answer failed:', err.message));
});

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close());
