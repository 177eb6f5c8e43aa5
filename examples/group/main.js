// A socket group: one worker thread per core, each with a socket of its own,
// all bound to one port in one SO_REUSEPORT group. The kernel hands each
// datagram to one member, here picked by a hash of its first two bytes (a DNS
// query's id), so each worker's JavaScript runs on a core of its own.
//
// Run: node examples/group/main.js [port] [workers]
//      (no port: any free one; it prints which. Stop: Ctrl-C)
const { bindGroup } = require('batchgram');

const port = Number(process.argv[2] ?? 0);
const workers = Number(process.argv[3]) || undefined; // none given: one per core

bindGroup({ module: require.resolve('./worker.js'), address: '127.0.0.1', port, workers, steering: { offset: 0, length: 2 } })
  .then((group) => {
    console.log('serving on', group.address().port, 'with', group.size, 'workers');
    for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => group.close());
  });
