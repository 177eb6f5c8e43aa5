// The receiving side of the bench's group rows (bench --workers): a socket
// group of --workers worker threads, each spending --work-us of CPU per
// datagram (group-work.ts). Its figure is the datagrams the group handled,
// from its members' counters, and the CPU of the whole process.
import { join } from 'node:path';
import { bindGroup } from '../../group/group';
import { cpuSince, emit, stopRequested } from './child-common';

export async function group(a: { address: string; port: number; workers: number; workUs: number }): Promise<void> {
  const stop = stopRequested();
  const g = await bindGroup({
    module: join(__dirname, 'group-work.js'), workers: a.workers, workerData: { workUs: a.workUs },
    address: a.address, port: a.port,
  });
  const cpu0 = process.cpuUsage(); // every thread of the process: the workers' too
  const t0 = performance.now();
  emit({ event: 'ready', port: g.address().port });
  await stop;
  const { total } = await g.stats();
  const seconds = (performance.now() - t0) / 1e3;
  await g.close();
  const n = (k: string) => Number(total[k] ?? 0);
  emit({
    event: 'done', datagrams: n('datagramsIn'), bytes: n('bytesIn'), seconds, ...cpuSince(cpu0),
    calls: n('recvCalls'), messages: n('messagesIn'),
  });
}
