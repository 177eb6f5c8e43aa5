// node:dgram's own createSocket and Socket, as they were when batchgram
// loaded. batchgram/register puts batchgram's in their place on the module
// itself; whatever batchgram hands to node:dgram (the portable path, a socket
// left out) must reach node's, not its own replacement.
import dgram = require('node:dgram');

export const nodeCreateSocket: typeof dgram.createSocket = dgram.createSocket;
export const NodeSocket: typeof dgram.Socket = dgram.Socket;
