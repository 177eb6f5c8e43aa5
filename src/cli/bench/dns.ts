// The DNS-like request/response rows (dns-dgram, dns-compat): the clients
// send A queries padded to the row's size with an EDNS(0) Padding option
// (RFC 6891, RFC 7830), as DNS over UDP privacy profiles do; the server
// parses each one in JavaScript and answers it with a fresh Buffer, as a small
// authoritative server written for node:dgram would.

const HEADER = 12;
const TYPE_A = 1, TYPE_OPT = 41, CLASS_IN = 1;
const OPTION_PADDING = 12;
/** An OPT record with one option: root name, type, UDP size, extended flags, rdlength, option code and length. */
const OPT_FIXED = 1 + 2 + 2 + 4 + 2 + 4;
const QUERY_NAME = 'www.example.test';
/** The address every query gets. */
const ANSWER = [192, 0, 2, 1];

function writeName(out: Buffer, at: number, name: string): number {
  for (const label of name.split('.')) {
    out[at++] = label.length;
    at += out.write(label, at, 'ascii');
  }
  out[at++] = 0;
  return at;
}

/** The smallest datagram queryOfSize makes. */
export const QUERY_MIN = HEADER + QUERY_NAME.length + 2 + 4 + OPT_FIXED;

/** An A query for QUERY_NAME, id `id`, padded to `size` bytes (at least QUERY_MIN). */
export function queryOfSize(size: number, id: number): Buffer {
  if (size < QUERY_MIN) throw new RangeError(`a DNS query takes at least ${QUERY_MIN} bytes`);
  const q = Buffer.alloc(size);
  q.writeUInt16BE(id & 0xffff, 0);
  q.writeUInt16BE(0x0100, 2); // RD
  q.writeUInt16BE(1, 4); // QDCOUNT
  q.writeUInt16BE(1, 10); // ARCOUNT: the OPT record
  let at = writeName(q, HEADER, QUERY_NAME);
  at = q.writeUInt16BE(TYPE_A, at);
  at = q.writeUInt16BE(CLASS_IN, at);
  const pad = size - at - OPT_FIXED;
  q[at++] = 0; // root
  at = q.writeUInt16BE(TYPE_OPT, at);
  at = q.writeUInt16BE(1232, at); // UDP payload size
  at = q.writeUInt32BE(0, at);
  at = q.writeUInt16BE(4 + pad, at);
  at = q.writeUInt16BE(OPTION_PADDING, at);
  q.writeUInt16BE(pad, at); // then `pad` zero bytes
  return q;
}

/**
 * The answer to a query: its id and question, one A record, and an OPT
 * record without padding; null for anything that is not one well-formed
 * question (a server drops those).
 */
export function answerQuery(q: Uint8Array): Buffer | null {
  if (q.length < HEADER + 5 || (q[2] & 0x80) !== 0 || q[4] !== 0 || q[5] !== 1) return null;
  let at = HEADER;
  while (at < q.length && q[at] !== 0) {
    if ((q[at] & 0xc0) !== 0) return null; // no compression in a question
    at += q[at] + 1;
  }
  const questionEnd = at + 1 + 4;
  if (questionEnd > q.length) return null;
  const a = Buffer.allocUnsafe(questionEnd + 16 + 11);
  a.set(q.subarray(0, questionEnd));
  a.writeUInt16BE(0x8400 | (q[2] & 0x01) << 8, 2); // QR and AA, RD copied
  a.writeUInt16BE(1, 6); // ANCOUNT
  a.writeUInt16BE(0, 8);
  a.writeUInt16BE(1, 10); // ARCOUNT: the OPT record
  let w = questionEnd;
  w = a.writeUInt16BE(0xc000 | HEADER, w); // the question's name
  w = a.writeUInt16BE(TYPE_A, w);
  w = a.writeUInt16BE(CLASS_IN, w);
  w = a.writeUInt32BE(300, w);
  w = a.writeUInt16BE(4, w);
  a.set(ANSWER, w);
  w += 4;
  a[w++] = 0;
  w = a.writeUInt16BE(TYPE_OPT, w);
  w = a.writeUInt16BE(1232, w);
  w = a.writeUInt32BE(0, w);
  a.writeUInt16BE(0, w);
  return a;
}
