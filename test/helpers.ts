// Shared helpers for tests that use real sockets.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after } from 'node:test';
import { BatchSocket, type BatchSocketOptions, type Datagram } from '../src/index';

/** The compiled package entry, for scripts run in a child process. */
export const index = join(__dirname, '..', 'src', 'index.js');

/** Runs a script in a fresh node process and returns its exit status, output and time. */
export function node(script: string, timeoutMs = 20_000, args: string[] = []) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [...args, '-e', script], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, signal: r.signal, out: r.stdout + r.stderr, ms: Date.now() - t0 };
}

/** Deterministic bytes for datagram `seq`: a 4-byte sequence number, then a pattern. */
export function payload(seq: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (seq * 31 + i * 7) & 0xff;
  if (size >= 4) b.writeUInt32BE(seq, 0);
  return b;
}

/** A bind for a test file's sockets, which are all closed after its tests. */
export function bindClosedAfter(): (options?: BatchSocketOptions) => Promise<BatchSocket> {
  const open: BatchSocket[] = [];
  after(() => Promise.all(open.map((s) => s.close())));
  return async (options = {}) => {
    const s = await BatchSocket.bind(options);
    open.push(s);
    return s;
  };
}

/** Resolves with the first `n` datagrams the socket reads; rejects after `ms` with how many came. */
export function collect(sock: BatchSocket, n: number, ms = 5000): Promise<Datagram[]> {
  return new Promise((resolve, reject) => {
    const got: Datagram[] = [];
    const onBatch = (batch: Datagram[]) => {
      got.push(...batch);
      if (got.length >= n) {
        finish();
        resolve(got);
      }
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`timed out with ${got.length} of ${n} datagrams`));
    }, ms);
    const finish = () => {
      clearTimeout(timer);
      sock.off('batch', onBatch);
    };
    sock.on('batch', onBatch);
  });
}

/** Waits until `f()` holds, polling; fails after `ms`. */
export async function until(f: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Why a test needs `command`, when running it with `args` fails here; null when it runs. */
export function missingCommand(command: string, args: string[], why: string): string | null {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return null;
  } catch {
    return why;
  }
}
