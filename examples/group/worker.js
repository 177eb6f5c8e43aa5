// A member of examples/group/main.js's group, in a worker thread: a DNS-like
// server, steered by the query id. It answers each datagram with its first two
// bytes, the id, then which worker answered.
const { groupSocket } = require('batchgram');
const { threadId } = require('node:worker_threads');

groupSocket().then((sock) => sock.on('batch', (batch) => {
  sock.writeMessages(batch.map((d) => ({
    data: Buffer.concat([d.data.subarray(0, 2), Buffer.from(` answered by worker ${threadId}`)]), address: d.address, port: d.port,
  }))).catch((err) => console.error('answer failed:', err.message));
}));
