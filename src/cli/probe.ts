// `batchgram probe`: what this kernel and a fresh socket support, read from
// the kernel (kernel/support.ts) and /proc, as text or JSON.
import { readFileSync } from 'node:fs';
import { platform, release } from 'node:os';
import { BatchSocket, type SocketCapabilities } from '../index';
import { addonStatus, type AddonStatus } from '../kernel/native';
import { probeGsoSegments } from '../kernel/support';
import { runtime, uvLoop } from '../kernel/runtime';

/** /proc/sys/net/core/NAME as a number, or null where it cannot be read (not Linux, a sandbox). */
function netCore(name: string): number | null {
  try {
    return Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim());
  } catch {
    return null;
  }
}

async function ipv6Available(): Promise<boolean> {
  try {
    await (await BatchSocket.bind({ type: 'udp6', address: '::1' })).close();
    return true;
  } catch {
    return false;
  }
}

interface ProbeReport {
  kernel: string;
  platform: string;
  /** The addon file in use, or why there is none (then sockets use node:dgram). */
  addon: AddonStatus;
  /** The JavaScript runtime ('Node.js 22.23.0', 'Bun 1.4.5') and how the addon learns that a socket is ready there. */
  runtime: string;
  readiness: 'uv_poll' | 'thread';
  /** A fresh udp4 socket's capabilities, exactly as BatchSocket reports them. */
  socket: SocketCapabilities;
  gso128Segments: boolean | null;
  ipv6: boolean;
  buffers: { rmemMax: number | null; wmemMax: number | null; rmemDefault: number | null; wmemDefault: number | null };
}

/** Runs the probe and prints its report; returns the exit status. */
export async function probe(values: { json?: string | boolean }): Promise<number> {
  const sock = await BatchSocket.bind({ address: '127.0.0.1', rxqOverflowMetric: 'batchgram.probe' });
  const socket = sock.capabilities;
  await sock.close();
  const r: ProbeReport = {
    kernel: release(), platform: platform(), addon: addonStatus, runtime, readiness: uvLoop ? 'uv_poll' : 'thread', socket,
    gso128Segments: socket.txOffload ? probeGsoSegments(128) : null,
    ipv6: await ipv6Available(),
    buffers: {
      rmemMax: netCore('rmem_max'), wmemMax: netCore('wmem_max'),
      rmemDefault: netCore('rmem_default'), wmemDefault: netCore('wmem_default'),
    },
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  const yes = (v: boolean | null) => (v === null ? 'unknown' : v ? 'yes' : 'no');
  const bytes = (v: number | null) => (v === null ? 'unknown' : `${v} (${(v / 2 ** 20).toFixed(1)} MiB)`);
  const lines: [string, string][] = [
    ['kernel', `${r.platform} ${r.kernel}`],
    ['addon', r.addon.path ?? `none, so node:dgram: ${r.addon.reason}`],
    ['runtime', `${r.runtime}, readiness from ${r.readiness === 'uv_poll' ? "libuv's uv_poll" : "the addon's own thread (no libuv loop)"}`],
    ['recvmmsg/sendmmsg', yes(socket.batching)],
    ['UDP_SEGMENT (GSO)', yes(socket.txOffload)],
    ['UDP_GRO', yes(socket.rxOffload)],
    ['SO_RXQ_OVFL', yes(socket.rxqOverflowCounter)],
    ['128 GSO segments', `${yes(r.gso128Segments)} (batchgram plans up to ${socket.maxGsoSegments})`],
    ['IPv6', yes(r.ipv6)],
    ['net.core.rmem_max', bytes(r.buffers.rmemMax)],
    ['net.core.wmem_max', bytes(r.buffers.wmemMax)],
    ['net.core.rmem_default', bytes(r.buffers.rmemDefault)],
    ['net.core.wmem_default', bytes(r.buffers.wmemDefault)],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  process.stdout.write(lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n');
  return 0;
}
