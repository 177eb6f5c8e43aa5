// The native boundary holds against any JavaScript input (a short fuzz run;
// `npm run fuzz` makes the long one), and its validation is specific. The
// addon is used only where its constants are the kernel ABI table's.
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { addonFile, binding, type NativeBinding, type SocketHandle } from '../../src/kernel/native';
import { abi } from '../../src/wire/abi';
import { RecvMeta, SendIov, SendMsg } from '../../src/kernel/descriptors';
import { OPTION_BYTES_MAX } from '../../src/limits';
import { fuzzNative } from '../fuzz';
import { node } from '../helpers';

const b = binding as NativeBinding;

/** This process's descriptor of the UDP socket bound to a local port, found through /proc. */
function fdOfUdpPort(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const line = readFileSync('/proc/net/udp', 'utf8').split('\n').find((l) => l.trim().split(/\s+/)[1]?.endsWith(hex));
  const inode = line!.trim().split(/\s+/)[9];
  const fd = readdirSync('/proc/self/fd').find((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`) === `socket:[${inode}]`;
    } catch {
      return false;
    }
  });
  return Number(fd);
}

describe('native boundary', { skip: binding === null }, () => {
  it('survives 20 000 random calls with only TypeError/RangeError', () => {
    for (const seed of [1, 2, 3, 4]) {
      const res = fuzzNative(5_000, seed);
      assert.equal(res.calls, 5_000);
      assert.ok(res.threw > 0 && res.returned > 0, 'both outcomes exercised');
    }
  });

  it('rejects handles that are not its own', () => {
    assert.throws(() => b.close({} as SocketHandle), TypeError);
    const ring = b.recvRing(new Uint8Array(100), 1, 100, new Uint8Array(28), new Uint8Array(64), 64, new Int32Array(4));
    assert.equal(typeof ring, 'object');
    assert.throws(() => b.close(ring as unknown as SocketHandle), TypeError);
  });

  it('maps pages of their own, and once they are released no view or ring reaches them', () => {
    assert.throws(() => b.mapPages(0), RangeError);
    assert.throws(() => b.mapPages(2 ** 31), RangeError);
    assert.throws(() => b.releasePages(new ArrayBuffer(8)), TypeError, 'only buffers of mapPages');
    assert.throws(() => b.releasePages(new Uint8Array(b.mapPages(8) as ArrayBuffer) as unknown as ArrayBuffer), TypeError);
    const pages = b.mapPages(4 * 100) as ArrayBuffer;
    const arena = new Uint8Array(pages);
    assert.equal(arena.length, 400);
    assert.ok(arena.every((x) => x === 0), 'zeroed');
    const s = b.socket(4) as SocketHandle;
    const ring = b.recvRing(arena, 4, 100, new Uint8Array(4 * 28), new Uint8Array(256), 64, new Int32Array(16));
    if (typeof ring === 'number') assert.fail(`recvRing: ${ring}`);
    assert.equal(b.recvmmsg(s, ring, 4), -11); // EAGAIN: nothing queued
    assert.equal(b.releasePages(pages), 0);
    assert.equal(arena.length, 0, 'detached');
    assert.throws(() => b.recvmmsg(s, ring, 1), RangeError);
    assert.equal(b.releasePages(pages), 0, 'twice is harmless');
    b.close(s);
  });

  it('checks registered memory again on every call', () => {
    const s = b.socket(4) as SocketHandle;
    const ab = new ArrayBuffer(400, { maxByteLength: 400 });
    const arena = new Uint8Array(ab);
    const ring = b.recvRing(arena, 4, 100, new Uint8Array(4 * 28), new Uint8Array(256), 64, new Int32Array(16));
    assert.equal(typeof ring, 'object');
    if (typeof ring === 'number') return;
    assert.equal(b.recvmmsg(s, ring, 4), -11); // EAGAIN: nothing queued
    ab.resize(399); // now shorter than 4 slots of 100
    assert.throws(() => b.recvmmsg(s, ring, 1), RangeError);
    ab.resize(400);
    assert.equal(b.recvmmsg(s, ring, 4), -11, 'whole again');
    structuredClone(ab, { transfer: [ab] });
    assert.throws(() => b.recvmmsg(s, ring, 1), RangeError);
    b.close(s);
  });

  it('checks every iovec against its buffer', () => {
    const s = b.socket(4) as SocketHandle;
    const names = new Uint8Array(28);
    const md = new Int32Array(abi.SEND_MSG_FIELDS);
    const iv = new Int32Array(abi.SEND_IOV_FIELDS);
    const ring = b.sendRing(1, 1, names, new Uint8Array(64), 64, md, iv);
    if (typeof ring === 'number') assert.fail('sendRing failed');
    md.set([0, 1, 0, 0, 0]);
    iv.set([0, 10, 11]); // 10 + 11 > 20
    assert.throws(() => b.sendmmsg(s, ring, [new Uint8Array(20)], 0, 1), RangeError);
    iv.set([1, 0, 1]); // no buffer 1
    assert.throws(() => b.sendmmsg(s, ring, [new Uint8Array(20)], 0, 1), RangeError);
    iv.set([0, 0, 1]);
    assert.throws(() => b.sendmmsg(s, ring, ['x' as unknown as Uint8Array], 0, 1), TypeError);
    md.set([0, 2, 0, 0, 0]); // two iovecs in a one-iovec ring
    assert.throws(() => b.sendmmsg(s, ring, [new Uint8Array(20)], 0, 1), RangeError);
    md.set([0, 1, 0, 29, 0]); // address longer than its slot
    assert.throws(() => b.sendmmsg(s, ring, [new Uint8Array(20)], 0, 1), RangeError);
    md.set([0, 1, 0, 0, 65]); // control longer than its buffer
    assert.throws(() => b.sendmmsg(s, ring, [new Uint8Array(20)], 0, 1), RangeError);
    assert.throws(() => b.sendmmsg(s, ring, [new Uint8Array(20)], 1, 1), RangeError); // past the ring
    b.close(s);
  });

  it('resolves no pointer until JavaScript run by the buffer array (a getter) is done', () => {
    const s = b.socket(4) as SocketHandle;
    const names = new Uint8Array(28);
    const md = new Int32Array(abi.SEND_MSG_FIELDS);
    const iv = new Int32Array(2 * abi.SEND_IOV_FIELDS);
    const ring = b.sendRing(1, 2, names, new Uint8Array(64), 64, md, iv);
    if (typeof ring === 'number') assert.fail('sendRing failed');
    md.set([0, 2, 0, 0, 0]);
    iv.set([0, 0, 10, 1, 0, 10]);
    // Reading element 1 detaches the buffer of element 0, already fetched.
    const a = new Uint8Array(10);
    const buffers = [a] as Uint8Array[];
    Object.defineProperty(buffers, 1, { get: () => { structuredClone(a.buffer, { transfer: [a.buffer] }); return new Uint8Array(10); } });
    assert.throws(() => b.sendmmsg(s, ring, buffers, 0, 1), RangeError);
    // Reading element 1 detaches the ring's own descriptors.
    const c = [new Uint8Array(10)] as Uint8Array[];
    Object.defineProperty(c, 1, { get: () => { structuredClone(iv.buffer, { transfer: [iv.buffer] }); return new Uint8Array(10); } });
    assert.throws(() => b.sendmmsg(s, ring, c, 0, 1), RangeError);
    b.close(s);
  });

  it('a ring in use by sendmmsg cannot be released or sent with by a getter; a released ring throws', () => {
    const s = b.socket(4) as SocketHandle;
    const md = new Int32Array(abi.SEND_MSG_FIELDS);
    const iv = new Int32Array(2 * abi.SEND_IOV_FIELDS);
    const ring = b.sendRing(1, 2, new Uint8Array(28), new Uint8Array(64), 64, md, iv);
    if (typeof ring === 'number') assert.fail('sendRing failed');
    md.set([0, 2, 0, 0, 0]);
    iv.set([0, 0, 10, 1, 0, 10]);
    // The getter runs while the ring's scratch holds this call's plan: a
    // release would free it, a nested send would overwrite it.
    const releasing = [new Uint8Array(10)] as Uint8Array[];
    Object.defineProperty(releasing, 1, { get: () => { b.ringRelease(ring); return new Uint8Array(10); } });
    assert.throws(() => b.sendmmsg(s, ring, releasing, 0, 1), /the ring is in use/);
    const nesting = [new Uint8Array(10)] as Uint8Array[];
    Object.defineProperty(nesting, 1, { get: () => { b.sendmmsg(s, ring, [new Uint8Array(20)], 0, 1); return new Uint8Array(10); } });
    assert.throws(() => b.sendmmsg(s, ring, nesting, 0, 1), /the ring is in use/);
    // Neither did harm: the ring works, then released it refuses.
    assert.equal(typeof b.sendmmsg(s, ring, [new Uint8Array(10), new Uint8Array(10)], 0, 1), 'number');
    assert.equal(b.ringRelease(ring), 0);
    assert.throws(() => b.sendmmsg(s, ring, [new Uint8Array(10), new Uint8Array(10)], 0, 1), /the ring was released/);
    assert.equal(b.ringRelease(ring), 0); // twice is harmless
    const arena = new Uint8Array(64);
    const rring = b.recvRing(arena, 1, 64, new Uint8Array(28), new Uint8Array(64), 64, new Int32Array(4));
    if (typeof rring === 'number') assert.fail('recvRing failed');
    assert.equal(b.ringRelease(rring), 0);
    assert.throws(() => b.recvmmsg(s, rring, 1), /the ring was released/);
    assert.throws(() => b.ringRelease(s as never), TypeError);
    assert.throws(() => b.ringRelease(undefined as never), TypeError);
    b.close(s);
  });

  it('attaches a steering program only of whole instructions, 1 to 4096, and the kernel checks it', () => {
    const s = b.socket(4);
    if (typeof s === 'number') return assert.fail('socket failed');
    const ret0 = new Uint8Array(8);
    ret0[0] = 0x06; // ret #0 on a little-endian host; here only to meet a closed socket
    assert.throws(() => b.attachSteering(s, new Uint8Array(0)), RangeError);
    assert.throws(() => b.attachSteering(s, new Uint8Array(7)), RangeError);
    assert.throws(() => b.attachSteering(s, new Uint8Array(4097 * 8)), RangeError);
    assert.throws(() => b.attachSteering(s, new Uint16Array(4) as never), TypeError);
    assert.throws(() => b.attachSteering({} as never, ret0), TypeError);
    // An opcode that does not exist: the kernel's own check refuses it.
    assert.equal(b.attachSteering(s, new Uint8Array(8).fill(0xff)), -constants.errno.EINVAL);
    b.close(s);
    assert.equal(b.attachSteering(s, ret0), -constants.errno.EBADF);
  });

  it('adopts only a UDP socket, and says what any descriptor is', () => {
    const file = openSync('/dev/null', 'r');
    assert.equal(b.adopt(file, true), -constants.errno.ENOTSOCK);
    assert.equal(b.adopt(100_000, true), -constants.errno.EBADF);
    assert.throws(() => b.adopt(-1, true), RangeError);
    assert.throws(() => b.adopt('3' as unknown as number, true), TypeError);
    assert.throws(() => b.adopt(file, undefined as unknown as boolean), TypeError);
    const kind = new Int32Array(3);
    assert.equal(b.socketKind(file, kind), -constants.errno.ENOTSOCK);
    assert.throws(() => b.socketKind(file, new Int32Array(2)), RangeError);
    closeSync(file);
  });

  it('refuses to adopt a socket this process already uses: its own, or one libuv watches', async () => {
    const own = b.socket(4) as SocketHandle;
    const name = new Uint8Array(abi.SOCKADDR_SLOT);
    assert.equal(b.bind(own, name.fill(0).fill(2, 0, 1), 16), 0); // AF_INET, port 0, 0.0.0.0
    assert.ok(b.getsockname(own, name) > 0);
    const ownPort = (name[2] << 8) | name[3];
    const node = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => node.bind(0, '127.0.0.1', resolve));
    for (const [what, port] of [['this addon\'s', ownPort], ['node:dgram\'s', node.address().port]] as const) {
      assert.equal(b.adopt(fdOfUdpPort(port), true), -constants.errno.EEXIST, what);
    }
    node.close();
    b.close(own);
  });

  it('reads an option\'s bytes only into the room it was given', () => {
    const s = b.socket(4) as SocketHandle;
    assert.throws(() => b.getsockoptBytes(s, abi.SOL_SOCKET, abi.SO_BINDTODEVICE, new Uint8Array(1025)), RangeError);
    assert.throws(() => b.getsockoptBytes(s, abi.SOL_SOCKET, abi.SO_BINDTODEVICE, new Int32Array(4) as never), TypeError);
    const out = new Uint8Array(4).fill(0xee);
    assert.equal(b.getsockoptBytes(s, abi.SOL_SOCKET, abi.SO_MARK, out.subarray(0, 2)) <= 2, true);
    assert.deepEqual([...out.subarray(2)], [0xee, 0xee], 'nothing past the view it was given');
    b.close(s);
  });

  it('passes option values of up to OPTION_BYTES_MAX bytes, either way', () => {
    const s = b.socket(4) as SocketHandle;
    const value = new Uint8Array(OPTION_BYTES_MAX + 1);
    assert.equal(typeof b.setsockoptBytes(s, abi.SOL_SOCKET, abi.SO_MARK, value, OPTION_BYTES_MAX), 'number');
    assert.throws(() => b.setsockoptBytes(s, abi.SOL_SOCKET, abi.SO_MARK, value, OPTION_BYTES_MAX + 1), RangeError);
    assert.equal(typeof b.getsockoptBytes(s, abi.SOL_SOCKET, abi.SO_MARK, value.subarray(0, OPTION_BYTES_MAX)), 'number');
    assert.throws(() => b.getsockoptBytes(s, abi.SOL_SOCKET, abi.SO_MARK, value), RangeError);
    b.close(s);
  });

  it('returns -EBADF after close instead of touching a reused descriptor', () => {
    const s = b.socket(4) as SocketHandle;
    assert.equal(b.close(s), 0);
    assert.equal(b.close(s), -9);
    assert.equal(b.setsockopt(s, abi.SOL_SOCKET, abi.SO_RCVBUF, 4096), -9);
  });
});

describe('descriptor layout', () => {
  it('names fields within the strides the addon exports', () => {
    assert.equal(RecvMeta.ControlLength + 1, abi.RECV_META_FIELDS);
    assert.equal(SendMsg.ControlLength + 1, abi.SEND_MSG_FIELDS);
    assert.equal(SendIov.Length + 1, abi.SEND_IOV_FIELDS);
  });
});

/** The addon the loader picks, loaded here whatever the loader made of its constants; null where none is built. */
function addonPicked(): string | null {
  try {
    return addonFile();
  } catch {
    return null;
  }
}

describe('kernel ABI table', { skip: addonPicked() === null ? 'no addon built' : false }, () => {
  const file = addonPicked()!;

  it('holds the constants of the addon, key by key, and no other', () => {
    const addon = (require(file) as NativeBinding).constants;
    const table: Readonly<Record<string, number>> = abi;
    assert.deepEqual(Object.keys(table).filter((k) => !Object.hasOwn(addon, k)), [], 'names the addon lacks');
    assert.deepEqual(Object.keys(addon).filter((k) => !Object.hasOwn(table, k)), [], 'names the table lacks');
    for (const k of Object.keys(table)) assert.equal(addon[k], table[k], k);
  });

  // An addon whose constants are changed stands for one built elsewhere: it is loaded in a child process, whose
  // loader reads BATCHGRAM_ADDON, the way the sanitizer run loads its own build.
  const cases: Array<[string, string, RegExp]> = [
    ['a value differs (an architecture of its own)', 'c.SOL_SOCKET = 0xffff',
      /its SOL_SOCKET is 65535 where the common Linux ABI of x86_64 and arm64, which batchgram is written for, has 1 /],
    ['the addon lacks a name', 'delete c.UDP_GRO', /it lacks UDP_GRO: it was built from another version of batchgram; to fix, /],
    ['the addon has a name batchgram does not know', 'c.SO_FUTURE = 99', /it has SO_FUTURE, which batchgram does not know: /],
  ];
  for (const [name, change, reason] of cases) {
    it(`is not used where ${name}, and the loader says which constant, as for a missing addon`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'batchgram-abi-'));
      try {
        const wrapper = join(dir, 'addon.js');
        writeFileSync(wrapper, `const real = require(${JSON.stringify(file)});
          const c = { ...real.constants }; ${change};
          module.exports = { ...real, constants: c };`);
        const r = node(`
          process.env.BATCHGRAM_ADDON = ${JSON.stringify(wrapper)};
          delete process.env.BATCHGRAM_REQUIRE_NATIVE;
          const { binding, addonStatus } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'kernel', 'native.js'))});
          console.log(JSON.stringify({ binding: binding === null ? null : 'loaded', ...addonStatus }));
        `);
        assert.equal(r.status, 0, r.out);
        const [json, warning] = r.out.trim().split('\n');
        const got = JSON.parse(json) as { binding: null; path: null; reason: string };
        assert.deepEqual([got.binding, got.path], [null, null], 'no binding, as without an addon');
        assert.ok(got.reason.startsWith(`the addon ${wrapper} does not match batchgram's kernel ABI table (wire/abi.ts): `), got.reason);
        assert.match(got.reason, reason);
        assert.equal(warning, `batchgram: using node:dgram, one datagram per system call: ${got.reason}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
