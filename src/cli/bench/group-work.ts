// The handler of the bench's group rows, run by bindGroup in each worker:
// workerData.workUs microseconds of CPU per datagram, spent spinning on the
// clock, as parsing or crypto would spend them.
import { workerData } from 'node:worker_threads';
import { groupSocket } from '../../group/member';

const spin = BigInt(Math.round((workerData as { workUs: number }).workUs * 1000));

void groupSocket().then((sock) => sock.on('batch', (batch) => {
  for (let i = 0; i < batch.length; i++) {
    const until = process.hrtime.bigint() + spin;
    while (process.hrtime.bigint() < until);
  }
}));
