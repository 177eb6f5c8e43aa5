// An echo server on BatchSocket. Each read of the kernel (recvmmsg, GRO) comes
// as one batch of datagrams, and the batch's answers leave in one write:
// writeMessages sends to every sender of the batch in one sendmmsg.
//
// Run: node examples/echo-server.mjs [port]    (no port: any free one; it prints which)
// Try: node examples/echo-client.mjs <port>    Stop: Ctrl-C
import { BatchSocket } from 'batchgram';

const sock = await BatchSocket.bind({ address: '127.0.0.1', port: Number(process.argv[2] ?? 0) });
console.log(`listening on 127.0.0.1:${sock.address().port}`);

sock.on('batch', (batch) => {
  // A batch's datagrams are copies, safe to keep until the write settles.
  sock.writeMessages(batch.map((d) => ({ data: d.data, address: d.address, port: d.port })))
    .catch((err) => console.error('echo failed:', err.message));
});

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => sock.close());
