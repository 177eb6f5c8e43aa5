// The bootstrap of a socket group's worker (group.ts): binds the worker's
// member of the group, then runs the caller's module, which takes the socket
// with groupSocket(). It talks to the group over a port of its own, the first
// message it gets, before the caller's module runs: the caller's code has
// parentPort and workerData to itself.
import { parentPort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { BatchSocket } from '../socket/batch-socket';
import { GROUP_ENV, setGroupSocket } from './member';
import { sendable, type FromWorker, type MemberConfig, type ToWorker } from './messages';

function run(port: MessagePort): void {
  const config = JSON.parse(process.env[GROUP_ENV]!) as MemberConfig;
  const tell = (m: FromWorker) => port.postMessage(m);
  let socket: BatchSocket | null = null;
  port.on('message', (m: ToWorker) => {
    if (m.type === 'stats') tell({ type: 'stats', id: m.id, stats: socket === null ? {} : { ...socket.stats() } });
    else if (m.type === 'steer') {
      try {
        socket?.steer(m.steering, m.members);
        tell({ type: 'steered', error: null });
      } catch (error) {
        tell({ type: 'steered', error: sendable(error) });
      }
    } else if (m.type === 'close') {
      void (socket?.close() ?? Promise.resolve()).then(() => tell({ type: 'closed' }));
    }
  });
  void (async () => {
    try {
      socket = await BatchSocket.bind({ ...config.options, reusePort: true });
      setGroupSocket(socket);
      tell({ type: 'bound', port: socket.address().port });
      await import(pathToFileURL(config.module).href);
      tell({ type: 'started' });
    } catch (error) {
      tell({ type: 'failed', error: sendable(error) });
    }
  })();
}

parentPort!.once('message', (port: MessagePort) => run(port));
