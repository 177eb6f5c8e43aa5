// Drives every native function with random and adversarial arguments. The
// contract under test: the addon throws TypeError/RangeError or returns a
// number/handle, and the process never crashes. Run under the sanitizers
// (npm run test:asan) it also proves no call touches memory outside what it
// was given. Every address the fuzzer can make the kernel send to is
// loopback: names it writes are 127.0.0.1 or ::1, and junk addresses carry a
// family the kernel rejects.
import assert from 'node:assert/strict';
import { binding, type NativeBinding, type RecvRing, type SendRing, type SocketHandle } from '../src/kernel/native';
import { abi } from '../src/wire/abi';
import { HOST_LITTLE_ENDIAN as le } from '../src/wire/byteorder';

/** mulberry32: a small seeded generator, so a failing seed can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}


function detached(): Uint8Array {
  const u = new Uint8Array(64);
  structuredClone(u.buffer, { transfer: [u.buffer] });
  return u; // length 0, buffer detached
}

function shrunk(): Uint8Array {
  const ab = new ArrayBuffer(256, { maxByteLength: 512 });
  const u = new Uint8Array(ab); // length-tracking
  ab.resize(3);
  return u;
}

/** A sockaddr for loopback, or junk with a family the kernel refuses. */
function address(r: () => number): Uint8Array {
  const b = new Uint8Array(abi.SOCKADDR_SLOT);
  const v = new DataView(b.buffer);
  const kind = Math.floor(r() * 3);
  if (kind === 0) {
    v.setUint16(0, abi.AF_INET, le);
    v.setUint16(2, 9, false); // discard port on loopback: nothing listens, nothing leaves the host
    b.set([127, 0, 0, 1], 4);
  } else if (kind === 1) {
    v.setUint16(0, abi.AF_INET6, le);
    v.setUint16(2, 9, false);
    b[23] = 1; // ::1
  } else {
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
    v.setUint16(0, 0x7f00 | Math.floor(r() * 255), le); // no such family
  }
  return b;
}

export interface FuzzResult { calls: number; threw: number; returned: number }

/** Makes `calls` native calls from `seed`; throws if any call breaks the contract. */
export function fuzzNative(calls: number, seed: number, b: NativeBinding = binding!): FuzzResult {
  const r = rng(seed);
  const int = (max: number) => Math.floor(r() * max);
  const sockets: SocketHandle[] = [];
  const recvRings: RecvRing[] = [];
  const sendRings: SendRing[] = [];
  const pages: ArrayBuffer[] = [];
  const pick = <T>(xs: readonly T[]): T | undefined => xs[int(xs.length)];

  const numbers = [0, 1, -1, 2, 3, 4, 5, 6, 7, 8, 16, 28, 64, 127, 128, 4096, 4097, 65535, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31),
    2 ** 32, 2 ** 53, -0, 0.5, 1.5, NaN, Infinity, -Infinity, Number.MAX_VALUE];
  const number = () => (r() < 0.7 ? pick(numbers)! : Math.floor((r() - 0.3) * 2 ** int(34)));
  const typed = (): unknown => {
    switch (int(10)) {
      case 0: return detached();
      case 1: return shrunk();
      case 2: return new Int32Array(int(600));
      case 3: return new Float64Array(int(16));
      case 4: return new DataView(new ArrayBuffer(int(64)));
      case 5: return new Uint8Array(new ArrayBuffer(int(4096) + 64), int(64));
      case 6: return address(r);
      case 7: return Buffer.alloc(int(70000));
      default: return new Uint8Array(int(2048));
    }
  };
  const junk = (): unknown => {
    switch (int(14)) {
      case 0: return undefined;
      case 1: return null;
      case 2: return true;
      case 3: return 'string';
      case 4: return {};
      case 5: return [];
      case 6: return () => {};
      case 7: return 1n;
      case 8: return Symbol('s');
      case 9: return pick(sockets) ?? {};
      case 10: return pick(recvRings) ?? [];
      case 11: return pick(sendRings) ?? null;
      case 12: return [typed(), typed(), junk()];
      default: return number();
    }
  };
  const any = (): unknown => (r() < 0.45 ? number() : r() < 0.6 ? typed() : junk());
  const sock = () => (r() < 0.85 ? pick(sockets) ?? any() : any());

  const ops: Array<() => unknown> = [
    () => {
      if (sockets.length > 32) {
        b.close(sockets.shift()!); // keep descriptors bounded
      }
      const s = b.socket((r() < 0.9 ? (r() < 0.5 ? 4 : 6) : any()) as 4);
      if (typeof s === 'object') sockets.push(s);
      return s;
    },
    () => b.bind(sock() as SocketHandle, (r() < 0.7 ? address(r) : any()) as Uint8Array, (r() < 0.6 ? pick([0, 16, 28, 29, 1000]) : any()) as number),
    () => b.connect(sock() as SocketHandle, (r() < 0.7 ? address(r) : any()) as Uint8Array, (r() < 0.6 ? pick([0, 16, 28, 29]) : any()) as number),
    () => b.getsockname(sock() as SocketHandle, (r() < 0.5 ? new Uint8Array(int(40)) : any()) as Uint8Array),
    () => b.getpeername(sock() as SocketHandle, (r() < 0.5 ? new Uint8Array(int(40)) : any()) as Uint8Array),
    () => b.setsockopt(sock() as SocketHandle, (r() < 0.6 ? pick([abi.SOL_SOCKET, abi.SOL_UDP, abi.IPPROTO_IPV6]) : any()) as number, (r() < 0.5 ? int(110) : any()) as number, any() as number),
    () => b.getsockopt(sock() as SocketHandle, (r() < 0.6 ? pick([abi.SOL_SOCKET, abi.SOL_UDP]) : any()) as number, (r() < 0.5 ? int(110) : any()) as number, (r() < 0.6 ? new Int32Array(int(3)) : any()) as Int32Array),
    () => b.getsockoptBytes(sock() as SocketHandle, (r() < 0.6 ? pick([abi.SOL_SOCKET, abi.IPPROTO_IP]) : any()) as number,
      (r() < 0.5 ? int(60) : any()) as number, (r() < 0.7 ? new Uint8Array(int(1100)) : any()) as Uint8Array),
    () => (r() < 0.3 ? b.close(sock() as SocketHandle) : 0),
    () => {
      const s = sock() as SocketHandle;
      const ret = b.pollStart(s, (r() < 0.8 ? () => {} : any()) as () => void, (r() < 0.8 ? r() < 0.5 : any()) as boolean);
      if (ret === 0) b.pollUpdate(s, int(4));
      return ret;
    },
    () => b.pollUpdate(sock() as SocketHandle, (r() < 0.7 ? int(5) : any()) as number),
    () => b.pollRef(sock() as SocketHandle, (r() < 0.7 ? r() < 0.5 : any()) as boolean),
    () => {
      const slots = r() < 0.7 ? 1 + int(8) : (any() as number);
      const size = r() < 0.7 ? 1 + int(2048) : (any() as number);
      // Pages may be released (detached) before or after the ring is made.
      const mapped = r() < 0.2 ? pick(pages) : undefined;
      const arena = mapped !== undefined ? new Uint8Array(mapped) : r() < 0.7 ? new Uint8Array(int(slots * size * 1.2 + 10)) : any();
      const names = r() < 0.8 ? new Uint8Array(int(300)) : any();
      const controlSize = r() < 0.7 ? int(128) : (any() as number);
      const controls = r() < 0.8 ? new Uint8Array(int(1100)) : any();
      const meta = r() < 0.8 ? new Int32Array(int(40)) : any();
      const ring = b.recvRing(arena as Uint8Array, slots, size, names as Uint8Array, controls as Uint8Array, controlSize, meta as Int32Array);
      if (typeof ring === 'object') recvRings.push(ring);
      return ring;
    },
    () => b.recvmmsg(sock() as SocketHandle, (pick(recvRings) ?? any()) as RecvRing, (r() < 0.7 ? 1 + int(10) : any()) as number),
    () => {
      const msgs = r() < 0.8 ? 1 + int(8) : (any() as number);
      const iovs = r() < 0.8 ? 1 + int(16) : (any() as number);
      const controlSize = r() < 0.7 ? int(64) : (any() as number);
      // Address slots only ever hold loopback addresses or refused families.
      const names = new Uint8Array(abi.SOCKADDR_SLOT * (1 + int(10)));
      for (let at = 0; at + abi.SOCKADDR_SLOT <= names.length; at += abi.SOCKADDR_SLOT) names.set(address(r), at);
      const controls = r() < 0.8 ? new Uint8Array(int(600)) : any();
      const md = new Int32Array(int(60));
      const iv = new Int32Array(int(60));
      const fill = (a: Int32Array) => { for (let i = 0; i < a.length; i++) a[i] = r() < 0.6 ? int(40) - 4 : (number() | 0); };
      fill(md);
      fill(iv);
      const ring = b.sendRing(msgs, iovs, names, controls as Uint8Array, controlSize, (r() < 0.9 ? md : any()) as Int32Array, (r() < 0.9 ? iv : any()) as Int32Array);
      if (typeof ring === 'object') sendRings.push(ring);
      return ring;
    },
    () => {
      const buffers = r() < 0.8 ? Array.from({ length: int(6) }, () => (r() < 0.8 ? new Uint8Array(int(3000)) : any())) : any();
      return b.sendmmsg(sock() as SocketHandle, (pick(sendRings) ?? any()) as SendRing, buffers as Uint8Array[], (r() < 0.7 ? int(8) : any()) as number, (r() < 0.7 ? 1 + int(8) : any()) as number);
    },
    () => b.socketKind((r() < 0.7 ? int(1100) : any()) as number, (r() < 0.7 ? new Int32Array(int(5)) : any()) as Int32Array),
    // Only descriptors that are not this process's sockets: closing an
    // adopted socket closes the original, which would pull a descriptor out
    // from under another handle (a caller's mistake, not a memory one).
    () => { const h = b.adopt((r() < 0.8 ? 100_000 + int(1000) : junk()) as number, (r() < 0.8 ? r() < 0.5 : any()) as boolean); return typeof h === 'object' ? b.close(h) : h; },
    () => {
      const p = b.mapPages((r() < 0.8 ? 1 + int(20_000) : any()) as number);
      if (typeof p === 'object') pages.push(p);
      return p;
    },
    () => (r() < 0.3 ? b.releasePages((r() < 0.8 ? pick(pages) ?? any() : any()) as ArrayBuffer) : 0),
    // Programs of random instructions, which the kernel checks; whole ones mostly.
    () => {
      const program = r() < 0.8 ? new Uint8Array(8 * int(10)) : any();
      if (program instanceof Uint8Array) for (let i = 0; i < program.length; i++) program[i] = int(256);
      return b.attachSteering(sock() as SocketHandle, program as Uint8Array);
    },
    () => (r() < 0.5 ? b.copyBlock() : b.copyBlocks()),
    // Rarely, so that most calls still meet rings in use.
    () => (r() < 0.15 ? b.ringRelease((r() < 0.8 ? pick<RecvRing | SendRing>([...recvRings, ...sendRings]) ?? any() : any()) as SendRing) : 0),
  ];

  const result: FuzzResult = { calls: 0, threw: 0, returned: 0 };
  try {
    for (let i = 0; i < calls; i++) {
      const which = int(ops.length);
      const op = ops[which];
      result.calls++;
      try {
        const ret = op();
        assert.ok(typeof ret === 'number' || (typeof ret === 'object' && ret !== null), `call ${i} (seed ${seed}, op ${which}) returned ${String(ret)}`);
        result.returned++;
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        assert.ok(err instanceof TypeError || err instanceof RangeError, `call ${i} (seed ${seed}, op ${which}) threw ${String(err)}`);
        result.threw++;
      }
    }
  } finally {
    for (const s of sockets) b.close(s);
  }
  return result;
}

// `npm run fuzz [calls] [seed]`: the long run.
if (require.main === module && process.argv[2] !== undefined) {
  const calls = Number(process.argv[2]);
  const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
  const t0 = process.hrtime.bigint();
  const res = fuzzNative(calls, seed);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`fuzz: ${res.calls} native calls from seed ${seed} in ${ms.toFixed(0)} ms: ` +
    `${res.returned} returned, ${res.threw} threw TypeError/RangeError, no crash`);
}
