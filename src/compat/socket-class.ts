// batchgram's Socket: node:dgram's Socket class, for `new Socket(type)` and
// `class Server extends Socket`, batching where createSocket would.
//
// An instance is made by CompatSocket's constructor or, where the socket
// cannot batch, by dgram.Socket's own, each given the `new.target`: the
// instance's prototype is then Socket.prototype or the subclass's, whose
// methods stay its own, and a node:dgram instance has all of dgram's
// internals, cluster workers' shared sockets included. Socket.prototype
// therefore serves both kinds of instance: each member of dgram.Socket's
// prototype there runs CompatSocket's implementation on a batching socket
// and dgram's on dgram's. Where CompatSocket has no implementation (dgram's
// private state, DEP0112; what a newer Node added), the member refuses on a
// batching socket with ERR_BATCHGRAM_UNSUPPORTED: dgram's code would read
// internals (its state symbol, a libuv handle) that are not there.
//
// Node reads a dgram.Socket's state under a symbol of dgram's own in other
// places too: child_process, sending a socket to another process, reads it
// of anything instanceof dgram.Socket. On a batching socket that read
// refuses as well.
//
// The prototypes chain as CompatSocket.prototype → Socket.prototype →
// NodeSocket.prototype → EventEmitter.prototype, so every socket of the
// drop-in, from createSocket too, is `instanceof dgram.Socket`, as libraries
// test it.
import * as dgram from 'node:dgram';
import { dropInUnsupported } from '../errors';
import { NodeSocket } from './node-dgram';
import { CompatSocket, type MessageListener, type SocketOptions } from './socket';

/** dgram's constructor: `new Socket(type | options, listener?)`. */
export interface SocketConstructor {
  new (type: dgram.SocketType | SocketOptions, listener?: MessageListener): dgram.Socket;
  readonly prototype: dgram.Socket;
}

/** @internal for index.ts: the Socket class whose constructor batches where `batches(type | options)` says so. */
export function socketClass(batches: (type: unknown) => boolean): SocketConstructor {
  class Socket {
    constructor(type: unknown, listener?: unknown) {
      return Reflect.construct(batches(type) ? CompatSocket : NodeSocket, [type, listener], new.target);
    }

    // batchgram/register puts this class in dgram's place, where libraries
    // test `socket instanceof dgram.Socket`: node:dgram's own sockets (one
    // left out, or asking for batching: false) are instances of it too.
    // A subclass's instances are only its own.
    static [Symbol.hasInstance](value: unknown): boolean {
      return Function.prototype[Symbol.hasInstance].call(this, value) || (this === Socket && value instanceof NodeSocket);
    }
  }
  // Statics as dgram.Socket has them (EventEmitter's).
  Object.setPrototypeOf(Socket, NodeSocket);
  Object.setPrototypeOf(Socket.prototype, NodeSocket.prototype);
  for (const key of Reflect.ownKeys(NodeSocket.prototype)) {
    if (key === 'constructor') continue;
    const node = Object.getOwnPropertyDescriptor(NodeSocket.prototype, key)!;
    const ours = Object.getOwnPropertyDescriptor(CompatSocket.prototype, key) ?? refusal(key, node);
    Object.defineProperty(Socket.prototype, key, dispatcher(node, ours));
  }
  const state = dgramStateSymbol();
  if (state !== undefined) {
    Object.defineProperty(Socket.prototype, state, {
      get(this: unknown) {
        if (CompatSocket.made(this)) throw dropInUnsupported('node:dgram\'s internal state');
        return undefined;
      },
      // dgram's constructor sets the state on its own sockets.
      set(this: object, value: unknown) {
        if (CompatSocket.made(this)) throw dropInUnsupported('node:dgram\'s internal state');
        Object.defineProperty(this, state, { value, writable: true, enumerable: true, configurable: true });
      },
    });
  }
  Object.setPrototypeOf(CompatSocket.prototype, Socket.prototype);
  return Socket as unknown as SocketConstructor;
}

/**
 * The symbol dgram keeps a socket's state under (kStateSymbol, not exported):
 * the first symbol dgram's ref() reads (Node 20 to 24), asked of a stand-in
 * whose state has no handle. Undefined if a Node's ref() reads none.
 */
function dgramStateSymbol(): symbol | undefined {
  let read: symbol | undefined;
  const standIn = new Proxy({}, {
    get(_, key) {
      if (typeof key === 'symbol') read ??= key;
      return { handle: null };
    },
  });
  try {
    NodeSocket.prototype.ref.call(standIn);
  } catch {
    return undefined;
  }
  return read;
}

/** A member with `node`'s attributes that runs `ours` on a batching socket and `node` on any other. */
function dispatcher(node: PropertyDescriptor, ours: PropertyDescriptor): PropertyDescriptor {
  const { enumerable, configurable, writable } = node;
  if (typeof node.value === 'function') {
    const batching = ours.value as (...args: unknown[]) => unknown, plain = node.value as typeof batching;
    const method = function (this: unknown, ...args: unknown[]): unknown {
      return Reflect.apply(CompatSocket.made(this) ? batching : plain, this, args);
    };
    Object.defineProperty(method, 'name', { value: plain.name }); // as stack traces name it
    return { enumerable, configurable, writable, value: method };
  }
  const { get, set } = node;
  return {
    enumerable, configurable,
    get: get && function (this: unknown) { return Reflect.apply(CompatSocket.made(this) ? ours.get! : get, this, []); },
    set: set && function (this: unknown, v: unknown) { Reflect.apply(CompatSocket.made(this) ? ours.set! : set, this, [v]); },
  };
}

/** A member of `node`'s shape that throws ERR_BATCHGRAM_UNSUPPORTED. */
function refusal(key: string | symbol, node: PropertyDescriptor): PropertyDescriptor {
  const name = `socket.${String(key)}`;
  if (typeof node.value === 'function') return { value: () => { throw dropInUnsupported(`${name}()`); } };
  const refuse = () => { throw dropInUnsupported(name); };
  return { get: refuse, set: refuse };
}
