// What waits for a drop-in socket's 'listening', as in dgram: bind()'s
// callback, which a bind error removes, and the work issued before it (an
// implicit bind's sends and connect, a close), which a bind error discards.
import { EventEmitter } from 'node:events';

/** bind()'s callback: a 'listening' listener that a bind error removes. */
export function callOnListening(socket: EventEmitter, callback: () => void): void {
  const removeListeners = () => {
    socket.removeListener('error', removeListeners);
    socket.removeListener('listening', onListening);
  };
  const onListening = () => {
    removeListeners();
    callback.call(socket);
  };
  socket.on('error', removeListeners);
  socket.on('listening', onListening);
}

/** Work issued before 'listening', run when it comes; a bind error discards it. */
export class ListeningQueue {
  readonly #socket: EventEmitter;
  #queue: Array<() => void> | undefined;

  constructor(socket: EventEmitter) {
    this.#socket = socket;
  }

  /** Whether work waits for 'listening'. */
  get waiting(): boolean {
    return this.#queue !== undefined;
  }

  add(work: () => void): void {
    if (this.#queue === undefined) {
      this.#queue = [];
      const socket = this.#socket;
      const onError = () => {
        socket.removeListener('listening', onListening);
        this.#queue = undefined;
      };
      const onListening = () => {
        socket.removeListener(EventEmitter.errorMonitor, onError);
        const queue = this.#queue!;
        this.#queue = undefined;
        for (const w of queue) w();
      };
      socket.once(EventEmitter.errorMonitor, onError);
      socket.once('listening', onListening);
    }
    this.#queue.push(work);
  }
}
