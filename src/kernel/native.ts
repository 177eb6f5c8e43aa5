// The native addon's interface (native/src/) and its loader. Keeping
// the interface as a type lets tests wrap the real binding to inject kernel
// faults, and lets the rest of src/ stay ignorant of where the addon lives.
// The loader uses an addon only where the constants it exports, from the C
// headers it was built with, are those of wire/abi.ts, which every layer
// reads: elsewhere sockets run on node:dgram, as without an addon.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { noAddon } from '../errors';
import { abi } from '../wire/abi';

/** Opaque handles created by the addon; only the addon can read them. */
export interface SocketHandle { readonly __socket: unique symbol }
export interface RecvRing { readonly __recvRing: unique symbol }
export interface SendRing { readonly __sendRing: unique symbol }

/** Every function returns a non-negative result or -errno. */
export interface NativeBinding {
  /** The kernel ABI values of the C headers it was built with, and its own contract's (see wire/abi.ts). */
  constants: Readonly<Record<string, number>>;
  socket(family: 4 | 6): SocketHandle | number;
  /**
   * A handle on a duplicate of an inherited UDP socket; -EPROTOTYPE for a socket of another kind, -EEXIST for one
   * this process uses (the addon's, or one libuv watches where `uvLoop`: see runtime.ts).
   */
  adopt(fd: number, uvLoop: boolean): SocketHandle | number;
  /** Fills out[0..2] with the domain, type and protocol of any descriptor's socket. */
  socketKind(fd: number, out: Int32Array): number;
  bind(s: SocketHandle, addr: Uint8Array, len: number): number;
  /** A zero length disconnects. */
  connect(s: SocketHandle, addr: Uint8Array, len: number): number;
  getsockname(s: SocketHandle, out: Uint8Array): number;
  getpeername(s: SocketHandle, out: Uint8Array): number;
  setsockopt(s: SocketHandle, level: number, name: number, value: number): number;
  getsockopt(s: SocketHandle, level: number, name: number, out: Int32Array): number;
  /** For struct-valued options: passes value[0, len). */
  setsockoptBytes(s: SocketHandle, level: number, name: number, value: Uint8Array, len: number): number;
  /** For options whose value is not an int: fills out[0, result) and returns the length, or -errno. */
  getsockoptBytes(s: SocketHandle, level: number, name: number, out: Uint8Array): number;
  close(s: SocketHandle): number;
  /**
   * Events: 1 readable, 2 writable, UV_PRIORITIZED (an error queued, with SO_SELECT_ERR_QUEUE); the callback gets
   * (status, events). While it returns a positive count it is called again with (POLL_HAND_OUT, 0), each call in
   * a callback scope of its own (a call that throws counts as one of the count). Readiness comes from libuv's
   * uv_poll where `uvLoop`, else from a thread of the addon's (runtime.ts says which).
   */
  pollStart(s: SocketHandle, cb: (status: number, events: number) => number | void, uvLoop: boolean): number;
  pollUpdate(s: SocketHandle, events: number): number;
  pollRef(s: SocketHandle, ref: boolean): number;
  /** Per slot, meta receives [length, flags, address length, control length]. */
  recvRing(arena: Uint8Array, slots: number, slotSize: number, names: Uint8Array,
    controls: Uint8Array, controlSize: number, meta: Int32Array): RecvRing | number;
  recvmmsg(s: SocketHandle, ring: RecvRing, count: number): number;
  /** recvmmsg from the error queue (MSG_ERRQUEUE): per slot the failed datagram's start, its destination, the error. */
  recvErrors(s: SocketHandle, ring: RecvRing, count: number): number;
  /** Message descriptors: [first iovec, iovec count, address slot, address length, control length];
   *  iovec descriptors: [buffer index, byte offset, byte length]. */
  sendRing(maxMessages: number, maxIovecs: number, names: Uint8Array, controls: Uint8Array,
    controlSize: number, messages: Int32Array, iovecs: Int32Array): SendRing | number;
  /** An ArrayBuffer in `buffers` serves iovecs that span datagrams lying back to back in it. */
  sendmmsg(s: SocketHandle, ring: SendRing, buffers: ReadonlyArray<Uint8Array | ArrayBuffer>, first: number, count: number): number;
  /** Gives back what a ring holds now (a closing socket's); later calls with it throw. */
  ringRelease(ring: RecvRing | SendRing): number;
  /** Zeroed memory of its own mapping, unmapped once collected: no heap block of malloc's stays behind. */
  mapPages(byteLength: number): ArrayBuffer | number;
  /** Detaches a buffer of mapPages and gives its pages back now; one detached already is left alone. */
  releasePages(buffer: ArrayBuffer): number;
  /** A 64 KiB block of the process's copy pool, its bytes not zeroed; -ENOBUFS past the pool's bound. */
  copyBlock(): ArrayBuffer | number;
  /** SO_ATTACH_REUSEPORT_CBPF with a classic BPF program (wire/steering.ts); 0 or -errno. */
  attachSteering(s: SocketHandle, program: Uint8Array): number;
  /** [blocks held by live ArrayBuffers, blocks pooled], process-wide. */
  copyBlocks(): [number, number];
}

/** Set by `npm run test:asan` to load the sanitizer build instead of the release one. */
const ADDON_ENV = 'BATCHGRAM_ADDON';
/** Set to 1 by those who would rather fail than run on node:dgram without saying so. */
const REQUIRE_NATIVE_ENV = 'BATCHGRAM_REQUIRE_NATIVE';

// dist/src/kernel/native.js → native/: build/Release (a local build) or prebuilds/<platform>-<arch>/.
const ADDON_DIR = join(__dirname, '..', '..', '..', 'native');
/** What the install step (native/build.mjs) left when it could not build the addon. */
const INSTALL_FAILURE = join(ADDON_DIR, 'build', 'install-failure.txt');
const REBUILD = 'install a C toolchain (cc, make, python3) and run `npm rebuild batchgram`';

/** Where the addon came from, or why there is none: what `batchgram probe` reports. */
export interface AddonStatus {
  /** The file loaded, or null. */
  path: string | null;
  /** Why there is no addon, and what to do about it; null when it loaded. */
  reason: string | null;
}

/** node-gyp-build: the local build or the prebuilt binary matching this system. */
const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };

/** The platform tuple prebuilt binaries are named by, as node-gyp-build matches them. */
function tuple(): string {
  const libc = existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
  return `${process.platform}-${process.arch} (${libc})`;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim().split('\n')[0];
}

/**
 * How the addon's constants differ from the table every layer uses (wire/abi.ts), or null where they are the
 * same, key by key. A value that differs is an architecture that numbers its sockets its own way; a name on
 * one side only, an addon built from another version of batchgram.
 */
function abiMismatch(constants: Readonly<Record<string, number>>): string | null {
  const table: Readonly<Record<string, number>> = abi;
  const stale = `it was built from another version of batchgram; to fix, ${REBUILD}`;
  for (const name of Object.keys(table)) {
    if (!Object.hasOwn(constants, name)) return `it lacks ${name}: ${stale}`;
    if (constants[name] !== table[name]) {
      return `its ${name} is ${constants[name]} where the common Linux ABI of x86_64 and arm64, which batchgram is ` +
        `written for, has ${table[name]} (this architecture numbers its sockets its own way)`;
    }
  }
  const unknown = Object.keys(constants).find((name) => !Object.hasOwn(table, name));
  return unknown === undefined ? null : `it has ${unknown}, which batchgram does not know: ${stale}`;
}

/** The addon loaded from `path`, used only where its constants are batchgram's. */
function accept(addon: NativeBinding, path: string): { binding: NativeBinding | null; status: AddonStatus } {
  const why = abiMismatch(addon.constants);
  if (why === null) return { binding: addon, status: { path, reason: null } };
  return { binding: null, status: { path: null, reason: `the addon ${path} does not match batchgram's kernel ABI table (wire/abi.ts): ${why}` } };
}

/** The addon's file as the loader picks it: BATCHGRAM_ADDON's, else node-gyp-build's, which throws where there is none. */
export function addonFile(): string {
  return process.env[ADDON_ENV] || nodeGypBuild.path(ADDON_DIR);
}

function load(): { binding: NativeBinding | null; status: AddonStatus } {
  const forced = process.env[ADDON_ENV];
  if (forced) return accept(require(forced) as NativeBinding, forced);
  if (process.platform !== 'linux') {
    return { binding: null, status: { path: null, reason: `the addon is for Linux only, not ${process.platform}` } };
  }
  let path: string;
  try {
    path = addonFile();
  } catch {
    let why = 'no build (install scripts were skipped, as --ignore-scripts and pnpm by default do)';
    try {
      why = `the install step could not build one: ${readFileSync(INSTALL_FAILURE, 'utf8').trim()}`;
    } catch { /* no record: the install step never ran */ }
    return { binding: null, status: { path: null, reason: `no prebuilt addon for ${tuple()} and ${why}; to fix, ${REBUILD}` } };
  }
  let addon: NativeBinding;
  try {
    addon = require(path) as NativeBinding;
  } catch (err) {
    // dlopen's message starts with the path, which the reason names already.
    const why = firstLine(err).replace(`${path}: `, '');
    return { binding: null, status: { path: null, reason: `the addon ${path} does not load (${why}); to fix, ${REBUILD}` } };
  }
  return accept(addon, path);
}

const loaded = load();

/** The addon, or null where there is none: sockets then use node:dgram. */
export const binding: NativeBinding | null = loaded.binding;
export const addonStatus: AddonStatus = loaded.status;

if (loaded.status.reason !== null) {
  if (process.env[REQUIRE_NATIVE_ENV] === '1') {
    throw noAddon(loaded.status.reason);
  }
  // Off Linux node:dgram is the design, not a fault: nothing to say there.
  if (process.platform === 'linux') {
    process.stderr.write(`batchgram: using node:dgram, one datagram per system call: ${loaded.status.reason}\n`);
  }
}
