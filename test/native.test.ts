// The native boundary holds against any JavaScript input (a short fuzz run;
// `npm run fuzz` makes the long one), and its validation is specific.
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { abi, binding, type NativeBinding, type SocketHandle } from '../src/native';
import { fuzzNative } from './fuzz';

const b = binding as NativeBinding;

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

  it('throws for a released ring, even when a getter releases it during sendmmsg', () => {
    const s = b.socket(4) as SocketHandle;
    const md = new Int32Array(abi.SEND_MSG_FIELDS);
    const iv = new Int32Array(2 * abi.SEND_IOV_FIELDS);
    const ring = b.sendRing(1, 2, new Uint8Array(28), new Uint8Array(64), 64, md, iv);
    if (typeof ring === 'number') assert.fail('sendRing failed');
    md.set([0, 2, 0, 0, 0]);
    iv.set([0, 0, 10, 1, 0, 10]);
    const buffers = [new Uint8Array(10)] as Uint8Array[];
    Object.defineProperty(buffers, 1, { get: () => { b.ringRelease(ring); return new Uint8Array(10); } });
    assert.throws(() => b.sendmmsg(s, ring, buffers, 0, 1), /the ring was released/);
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

  it('adopts only a UDP socket, and says what any descriptor is', () => {
    const file = openSync('/dev/null', 'r');
    assert.equal(b.adopt(file), -constants.errno.ENOTSOCK);
    assert.equal(b.adopt(100_000), -constants.errno.EBADF);
    assert.throws(() => b.adopt(-1), RangeError);
    assert.throws(() => b.adopt('3' as unknown as number), TypeError);
    const kind = new Int32Array(3);
    assert.equal(b.socketKind(file, kind), -constants.errno.ENOTSOCK);
    assert.throws(() => b.socketKind(file, new Int32Array(2)), RangeError);
    closeSync(file);
  });

  it('returns -EBADF after close instead of touching a reused descriptor', () => {
    const s = b.socket(4) as SocketHandle;
    assert.equal(b.close(s), 0);
    assert.equal(b.close(s), -9);
    assert.equal(b.setsockopt(s, abi.SOL_SOCKET, abi.SO_RCVBUF, 4096), -9);
  });
});
