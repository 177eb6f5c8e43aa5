// A DNS server for A queries, written for node:dgram and run on batchgram's
// drop-in: only the import differs from a node:dgram program. Reads use
// recvmmsg, each datagram is still one 'message', and the answers sent while a
// read's messages are handed out leave together, in one sendmmsg.
//
// Run: node examples/dns-server.mjs [port]    (no port: any free one; it prints which)
// Ask: dig @127.0.0.1 -p <port> www.example.test
import { createSocket } from 'batchgram'; // was: from 'node:dgram'

const RECORDS = new Map([
  ['www.example.test', [192, 0, 2, 1]],
  ['example.test', [192, 0, 2, 2]],
]);
const TYPE_A = 1, CLASS_IN = 1, TTL = 300;
const NXDOMAIN = 3;

/** The answer to a standard query with one question (RFC 1035 §4.1), or null for anything else. */
function answer(query) {
  // The header's QR bit and opcode (query[2] & 0xf8) are 0 in a standard query.
  if (query.length < 12 || (query[2] & 0xf8) !== 0 || query.readUInt16BE(4) !== 1) return null;
  const labels = [];
  let at = 12;
  while (at < query.length && query[at] !== 0) {
    if (query[at] > 63 || at + 1 + query[at] > query.length) return null; // no compression in a question
    labels.push(query.toString('latin1', at + 1, at + 1 + query[at]).toLowerCase());
    at += 1 + query[at];
  }
  const questionEnd = at + 5; // the root label, then type and class
  if (questionEnd > query.length) return null;
  const type = query.readUInt16BE(at + 1), cls = query.readUInt16BE(at + 3);

  const address = RECORDS.get(labels.join('.'));
  const found = address !== undefined && type === TYPE_A && cls === CLASS_IN;
  const reply = Buffer.alloc(questionEnd + (found ? 16 : 0));
  query.copy(reply, 0, 0, questionEnd); // the id and the question
  reply.writeUInt16BE(0x8400 | (query[2] & 0x01) << 8 | (address === undefined ? NXDOMAIN : 0), 2); // response, authoritative, RD copied
  reply.writeUInt16BE(found ? 1 : 0, 6); // answers
  reply.writeUInt32BE(0, 8); // no authority or additional records
  if (found) {
    let w = reply.writeUInt16BE(0xc000 | 12, questionEnd); // the name: a pointer to the question's
    w = reply.writeUInt16BE(TYPE_A, w);
    w = reply.writeUInt16BE(CLASS_IN, w);
    w = reply.writeUInt32BE(TTL, w);
    w = reply.writeUInt16BE(4, w);
    reply.set(address, w);
  }
  return reply;
}

const socket = createSocket('udp4', (query, peer) => {
  const reply = answer(query);
  if (reply) socket.send(reply, peer.port, peer.address);
});
socket.bind(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${socket.address().port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => socket.close());
