// A relay: every datagram that reaches this socket goes on to the target,
// unchanged and in order. forwardTo sends a read's datagrams from the receive
// memory where they lie: a GRO message leaves again as one GSO message, neither
// split into objects nor copied.
//
// Run: node examples/relay.mjs <target port> [target address] [port]
//      (target address: 127.0.0.1; no port: any free one; it prints which)
import { BatchSocket } from 'batchgram';

const [targetPort, targetAddress = '127.0.0.1', port = '0'] = process.argv.slice(2);
const relay = await BatchSocket.bind({ address: '127.0.0.1', port: Number(port) });
console.log(`listening on 127.0.0.1:${relay.address().port}, forwarding to ${targetAddress}:${targetPort}`);

relay.on('view', (view) => {
  // A view is valid only inside its listener: forwardTo takes what it needs before returning.
  relay.forwardTo(view, targetAddress, Number(targetPort)).catch((err) => console.error('forward failed:', err.message));
});

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => relay.close());
